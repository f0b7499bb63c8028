// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * CPU, run-queue wait and blocked time of the services' threads, from
 * sched:sched_switch, sched:sched_wakeup and sched:sched_wakeup_new (BTF
 * tracepoints: they hand over the task_structs, so no lookup by pid is
 * needed). Per-thread state lives in task storage, which the kernel frees
 * with the task; everything else is aggregated per service here.
 */
#include "common.bpf.h"
#include "services.bpf.h"
#include <bpf/bpf_tracing.h>
#include "reqlens/sched.h"
#include "thread.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_RUNNING 0


struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rl_sched_hist_key);
	__type(value, __u64);
} sched_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct rl_svc_key);
	__type(value, struct rl_sched_stats);
} sched_stats SEC(".maps");

/* A service's thread: its state, created on first use (see thread.bpf.h). */
static __always_inline struct rl_thread *thread_of(struct task_struct *t)
{
	__u32 tgid = BPF_CORE_READ(t, tgid);

	if (!bpf_map_lookup_elem(&services, &tgid))
		return NULL;
	/* Met at a switch or a wakeup, it is not running: its CPU time starts at switch-in. */
	return rl_thread_of(t, 0);
}

static __always_inline void svc_of(struct task_struct *t, struct rl_svc_key *svc)
{
	__builtin_memset(svc, 0, sizeof(*svc));
	BPF_CORE_READ_STR_INTO(&svc->comm, t, group_leader, comm);
	svc->cgroup_id = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline void hist(struct task_struct *t, __u32 which, __u64 ns)
{
	struct rl_sched_hist_key k = { .hist = which };

	svc_of(t, &k.svc);
	rl_hist_record(&sched_hists, &k, &k.bucket, ns);
}

/* The task's state word; it was renamed to __state in 5.14. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/* Adds what prev ran since its last switch-out to its service. */
static __always_inline void account(struct task_struct *prev, struct rl_thread *th)
{
	__u64 exec = BPF_CORE_READ(prev, se.sum_exec_runtime);
	__u64 ut = BPF_CORE_READ(prev, utime), st = BPF_CORE_READ(prev, stime);
	struct rl_sched_stats *s, zero = {};
	struct rl_svc_key svc;

	{
		svc_of(prev, &svc);
		s = bpf_map_lookup_elem(&sched_stats, &svc);
		if (!s) {
			bpf_map_update_elem(&sched_stats, &svc, &zero, BPF_NOEXIST);
			s = bpf_map_lookup_elem(&sched_stats, &svc);
		}
		if (s) {
			__sync_fetch_and_add(&s->cpu_ns, exec - th->exec_last);
			__sync_fetch_and_add(&s->user_ns, ut - th->utime_last);
			__sync_fetch_and_add(&s->system_ns, st - th->stime_last);
		} else {
			rl_lost(RL_LOST_STATS_MAP_FULL);
		}
	}
	th->exec_last = exec;
	th->utime_last = ut;
	th->stime_last = st;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rl_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	struct rl_thread *th;

	th = thread_of(prev);
	if (th) {
		if (th->ts_oncpu)
			th->cpu_ns += now - th->ts_oncpu;
		th->ts_oncpu = 0;
		account(prev, th);
		/*
		 * Still runnable: preempted, so it waits for a CPU from now. A task
		 * preempted after setting a sleeping state stays on the run queue:
		 * preempt, not its state, says so.
		 */
		if (preempt || task_state(prev) == TASK_RUNNING) {
			th->ts_runnable = now;
			th->ts_blocked = 0;
		} else {
			th->ts_blocked = now;
			th->ts_runnable = 0;
		}
	}
	th = thread_of(next);
	if (th) {
		/* Back on a CPU with no wakeup seen: it never slept, it waited. */
		if (!th->ts_runnable && th->ts_blocked)
			th->ts_runnable = th->ts_blocked;
		if (th->ts_runnable) {
			__u64 wait = now - th->ts_runnable;

			th->runq_ns += wait;
			hist(next, RL_SCHED_HIST_RUNQ, wait);
			th->ts_runnable = 0;
		}
		th->ts_blocked = 0;
		th->ts_oncpu = now;
	}
	return 0;
}

static __always_inline int on_wakeup(struct task_struct *p)
{
	struct rl_thread *th = thread_of(p);
	__u64 now;

	if (!th)
		return 0;
	now = bpf_ktime_get_ns();
	if (th->ts_blocked) {
		__u64 blocked = now - th->ts_blocked;

		th->blocked_ns += blocked;
		hist(p, RL_SCHED_HIST_OFFCPU, blocked);
		th->ts_blocked = 0;
	}
	th->ts_runnable = now;
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(rl_sched_wakeup, struct task_struct *p)
{
	return on_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(rl_sched_wakeup_new, struct task_struct *p)
{
	return on_wakeup(p);
}
