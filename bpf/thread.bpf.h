/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A thread's scheduler state (struct rl_thread), shared by sched.bpf.c and
 * req.bpf.c through the `threads` task storage: whichever sees the thread
 * first creates it and takes the CPU baselines from the task.
 */
#ifndef REQLENS_THREAD_BPF_H
#define REQLENS_THREAD_BPF_H

#include "reqlens/sched.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct rl_thread);
} threads SEC(".maps");

/* t's state, created on first use; running_since is when t, if running, got its CPU (0: not running). */
static __always_inline struct rl_thread *rl_thread_of(struct task_struct *t, __u64 running_since)
{
	struct rl_thread *th = bpf_task_storage_get(&threads, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (th && !th->started) {
		th->exec_last = BPF_CORE_READ(t, se.sum_exec_runtime);
		th->utime_last = BPF_CORE_READ(t, utime);
		th->stime_last = BPF_CORE_READ(t, stime);
		th->ts_oncpu = running_since;
		th->svc_id = RL_SCHED_NO_SVC;	/* bpf/sched.bpf.c derives it */
		th->started = 1;
	}
	return th;
}

#endif
