/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Contract between bpf/sched.bpf.c and src/sched.c (and bpf/req.bpf.c,
 * which reads a thread's totals to split a request's time): CPU, run-queue
 * wait and blocked time from the scheduler's tracepoints.
 *
 * Only the processes the TCP family saw accept or connect (the services:
 * map `services`) are accounted, which bounds the cost on a busy host.
 */
#ifndef REQLENS_SCHED_H
#define REQLENS_SCHED_H

#include "reqlens/common.h"

/* Per thread (task storage). Totals are monotonic for the thread's life. */
struct rl_thread {
	__u64 ts_oncpu;		/* switched in at; 0 while off the CPU */
	__u64 ts_blocked;	/* switched out asleep at; 0 otherwise */
	__u64 ts_runnable;	/* became runnable (woken or preempted) at */
	__u64 cpu_ns;		/* on-CPU time, up to the last switch-out */
	__u64 runq_ns;		/* runnable but waiting for a CPU */
	__u64 blocked_ns;	/* asleep: I/O, locks, timers */
	__u64 exec_last;	/* se.sum_exec_runtime at the last switch-out */
	__u64 utime_last;
	__u64 stime_last;
	__u64 started;		/* the baselines above were taken */
};

enum rl_sched_hist {
	RL_SCHED_HIST_RUNQ = 0,		/* woken or preempted -> running */
	RL_SCHED_HIST_OFFCPU,		/* one blocked stretch */
	RL_SCHED_HIST_N,
};

struct rl_sched_hist_key {
	struct rl_svc_key svc;	/* port 0, dir 0: a process, not an endpoint */
	__u32 hist;		/* enum rl_sched_hist */
	__u32 bucket;
};

struct rl_sched_stats {
	__u64 cpu_ns;		/* se.sum_exec_runtime deltas: exact on-CPU time */
	__u64 user_ns;		/* utime deltas: the kernel's own user/system split */
	__u64 system_ns;
};

#endif /* REQLENS_SCHED_H */
