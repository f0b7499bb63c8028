/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Contract between bpf/sched.bpf.c and src/sched.c (and bpf/req.bpf.c,
 * which reads a thread's totals to split a request's time): CPU, run-queue
 * wait and blocked time from the scheduler's tracepoints.
 *
 * Only the processes the TCP family saw accept or connect (the services:
 * map `services`) are accounted, which bounds the cost on a busy host.
 *
 * The hooks run at every context switch, so per-service aggregates are
 * reached by a small number instead of the service key: the first time a
 * service (struct rl_svc_key) is met it gets an id (map sched_svcs), which
 * each thread caches in its state along with the raw identity it was
 * derived from. Per-service counters are then a per-CPU array indexed by
 * that id (no hashing, no atomics; user space sums the CPUs), and the
 * histograms of the first RL_SCHED_DENSE_SVCS services a dense array
 * (sched_dense, one slot per bucket), those of any further ones a hash
 * keyed by (id, hist, bucket) (sched_hists).
 */
#ifndef REQLENS_SCHED_H
#define REQLENS_SCHED_H

#include "reqlens/common.h"
#include "reqlens/hist.h"

/* Services (name, cgroup) with scheduler figures; more are counted as lost. */
#define RL_SCHED_MAX_SVCS 4096
/* rl_thread.svc_id before the thread's service is known or when it did not fit. */
#define RL_SCHED_NO_SVC 0xffffffffu
/* Services whose histograms are dense arrays (19 KiB each); the rest are hashed. */
#define RL_SCHED_DENSE_SVCS 64

/* Per thread (task storage). Totals are monotonic for the thread's life. */
struct rl_thread {
	__u64 ts_oncpu;		/* switched in at; 0 while off the CPU */
	__u64 ts_blocked;	/* switched out asleep at; 0 otherwise */
	__u64 ts_runnable;	/* preempted at (or, with the wakeup hooks, woken at) */
	__u64 cpu_ns;		/* on-CPU time, up to the last switch-out */
	__u64 runq_ns;		/* runnable but waiting for a CPU */
	__u64 blocked_ns;	/* asleep: I/O, locks, timers */
	__u64 exec_last;	/* se.sum_exec_runtime at the last switch-out */
	__u64 utime_last;
	__u64 stime_last;
	__u64 started;		/* the baselines above were taken */
	__u64 run_delay_last;	/* sched_info.run_delay at the last switch-out */
	/*
	 * The thread's service as bpf/sched.bpf.c last derived it: the group
	 * leader's comm as raw bytes and the cgroup v2 id. Compared at each
	 * switch-out (a few loads); a difference (exec, a rename, a cgroup
	 * move) looks the service up again.
	 */
	__u64 comm_raw[2];
	__u64 cgroup_id;
	__u32 svc_id;		/* index of sched_stats; RL_SCHED_NO_SVC: unknown */
	__u32 watched;		/* its process was found in `services` */
};

enum rl_sched_hist {
	RL_SCHED_HIST_RUNQ = 0,		/* woken or preempted -> running */
	RL_SCHED_HIST_OFFCPU,		/* one blocked stretch */
	RL_SCHED_HIST_N,
};

/* The slot of a bucket in sched_dense (svc_id < RL_SCHED_DENSE_SVCS). */
#define RL_SCHED_DENSE_SLOT(svc_id, hist, bucket) \
	(((svc_id) * RL_SCHED_HIST_N + (hist)) * RL_HIST_NBUCKETS + (bucket))
#define RL_SCHED_DENSE_SLOTS RL_SCHED_DENSE_SLOT(RL_SCHED_DENSE_SVCS, 0, 0)

/* sched_hists (hash, __u64 counts): one bucket of one histogram. */
struct rl_sched_hist_key {
	__u32 svc_id;		/* sched_svcs' value for the service */
	__u16 hist;		/* enum rl_sched_hist */
	__u16 bucket;		/* < RL_HIST_NBUCKETS (reqlens/hist.h) */
};

/* sched_stats (per-CPU array indexed by service id): sum the CPUs. */
struct rl_sched_stats {
	__u64 cpu_ns;		/* se.sum_exec_runtime deltas: exact on-CPU time */
	__u64 user_ns;		/* utime deltas: the kernel's own user/system split */
	__u64 system_ns;
	__u64 hist_sum_ns[RL_SCHED_HIST_N];	/* each histogram's sum of values */
};

#endif /* REQLENS_SCHED_H */
