// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * CPU, run-queue wait and blocked time of the services' threads, from
 * sched:sched_switch (a BTF tracepoint: it hands over both task_structs,
 * whose fields are read with plain loads instead of helper calls).
 * Per-thread state lives in task storage, which the kernel frees with the
 * task; everything else is aggregated per service here.
 *
 * This runs at every context switch on the host, so the work per switch is
 * kept small (the layout of the maps is in reqlens/sched.h):
 * - a task that is not a service's costs a storage miss and one lookup in
 *   `services`; the idle task costs one load;
 * - a service's thread is recognised by its task storage alone (the
 *   `watched` flag), and its service id is cached there, checked at every
 *   switch-out against the group leader's comm and the cgroup id;
 * - CPU time goes to the service at every switch-out, so the totals are
 *   exact at any read, into a per-CPU array slot: no hash, no atomic;
 * - a histogram observation is one atomic add into a dense array (a hash
 *   lookup for services beyond the first RL_SCHED_DENSE_SVCS), its sum
 *   going to the per-CPU slot;
 * - when a thread that slept comes back, the kernel's own run-queue
 *   accounting (sched_info.run_delay, what /proc/PID/schedstat reports)
 *   says how much of its time off the CPU it waited for one, so no hook
 *   runs at wakeups. Kernels that do not keep sched_info (no
 *   CONFIG_SCHED_INFO) get the wakeup hooks instead (use_sched_info).
 */
#include "common.bpf.h"
#include "services.bpf.h"
#include <bpf/bpf_tracing.h>
#include "reqlens/sched.h"
#include "thread.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_RUNNING 0

/*
 * Set before load: true when the kernel keeps sched_info and the switch can
 * reach its run queue's clock (the daemon checks both).
 */
const volatile bool use_sched_info = true;
/* Services (by id) whose histograms are dense: RL_SCHED_DENSE_SVCS but in tests. */
const volatile __u32 dense_svcs = RL_SCHED_DENSE_SVCS;

/* Service key -> id, the index of sched_stats; ids are never reused. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_SCHED_MAX_SVCS);
	__type(key, struct rl_svc_key);
	__type(value, __u32);
} sched_svcs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_SCHED_MAX_SVCS);
	__type(key, __u32);
	__type(value, struct rl_sched_stats);
} sched_stats SEC(".maps");

/* Histogram buckets of the first services; user space maps it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, RL_SCHED_DENSE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} sched_dense SEC(".maps");

/* Histogram buckets of the services beyond those. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rl_sched_hist_key);
	__type(value, __u64);
} sched_hists SEC(".maps");

/*
 * The next service id to hand out (64 bits: failed attempts never wrap it;
 * an atomic fetch-and-add, which BPF has had since Linux 5.12).
 */
__u64 next_svc_id = 0;

/*
 * The state of t if t is a thread of a service, else NULL. A thread once
 * found in `services` is marked in its state, so that it is not looked up
 * there again (its process leaves `services` only once it has exited).
 */
static __always_inline struct rl_thread *thread_of(struct task_struct *t)
{
	struct rl_thread *th;
	__u32 tgid = t->tgid;

	if (!tgid)		/* the idle task */
		return NULL;
	th = bpf_task_storage_get(&threads, t, 0, 0);
	if (th && th->watched)
		return th;
	if (!bpf_map_lookup_elem(&services, &tgid))
		return NULL;
	/* Met at a switch or a wakeup, it is not running: its CPU time starts at switch-in. */
	th = rl_thread_of(t, 0);
	if (th) {
		th->svc_id = RL_SCHED_NO_SVC;
		th->watched = 1;
	}
	return th;
}

/* The id of the service key svc, handing out a new one when it has none. */
static __noinline __u32 svc_id_new(struct rl_svc_key *svc)
{
	__u32 id;

	if (rl_id_of(&sched_svcs, svc, &next_svc_id, RL_SCHED_MAX_SVCS, &id))
		return id;
	rl_lost(RL_LOST_STATS_MAP_FULL);
	return RL_SCHED_NO_SVC;
}

/*
 * The service id of t (a thread whose state is th): the cached one while
 * its group leader's comm and its cgroup are what they were, else looked
 * up again (after an exec, a rename of the leader, a move to another
 * cgroup). The service is the group leader's name and the cgroup v2 id,
 * as rl_current_svc() in common.bpf.h makes it for the other families.
 * Checked where the thread has been running (at its switch-out): a thread
 * changes its own name or exec()s while running, so the events that
 * follow it (its next switch-in) already see the new service.
 */
static __always_inline __u32 svc_id(struct task_struct *t, struct rl_thread *th)
{
	const __u64 *comm = (const __u64 *)t->group_leader->comm;
	__u64 c0 = comm[0], c1 = comm[1];
	__u64 cg = t->cgroups->dfl_cgrp->kn->id;
	struct rl_svc_key svc;

	if (th->svc_id != RL_SCHED_NO_SVC && c0 == th->comm_raw[0] && c1 == th->comm_raw[1] &&
	    cg == th->cgroup_id)
		return th->svc_id;
	__builtin_memset(&svc, 0, sizeof(svc));
	BPF_CORE_READ_STR_INTO(&svc.comm, t, group_leader, comm);
	svc.cgroup_id = cg;
	th->svc_id = svc_id_new(&svc);
	th->comm_raw[0] = c0;
	th->comm_raw[1] = c1;
	th->cgroup_id = cg;
	return th->svc_id;
}

/* The cached service id of t, derived only the first time. */
static __always_inline __u32 svc_id_cached(struct task_struct *t, struct rl_thread *th)
{
	return th->svc_id != RL_SCHED_NO_SVC ? th->svc_id : svc_id(t, th);
}

static __always_inline struct rl_sched_stats *stats_of(__u32 id)
{
	return id < RL_SCHED_MAX_SVCS ? bpf_map_lookup_elem(&sched_stats, &id) : NULL;
}

/* One observation of ns in histogram `which` (a constant) of service id. */
static __always_inline void hist(__u32 id, __u16 which, __u64 ns)
{
	struct rl_sched_hist_key k = { .svc_id = id, .hist = which };
	struct rl_sched_stats *s = stats_of(id);

	if (!s)
		return;
	k.bucket = (__u16)rl_hist_bucket(ns);
	if (id < dense_svcs && id < RL_SCHED_DENSE_SVCS) {
		__u32 slot = RL_SCHED_DENSE_SLOT(id, which, k.bucket);
		__u64 *n = bpf_map_lookup_elem(&sched_dense, &slot);

		if (!n)
			return;
		__sync_fetch_and_add(n, 1);
	} else if (rl_count(&sched_hists, &k, 1, RL_LOST_HIST_MAP_FULL)) {
		return;
	}
	/* This CPU's slot: nothing else writes it while this runs. */
	s->hist_sum_ns[which] += ns;
}

/* The task's state word; it was renamed to __state in 5.14. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return ((struct task_struct___pre514 *)t)->state;
}

/*
 * The run-queue wait of t so far, as the kernel accounts it: what it has
 * summed up (run_delay), plus the stretch since t was last queued, which
 * the kernel adds when t arrives on the CPU, right after this tracepoint,
 * measured on the run-queue clock of this CPU (t's, already updated for
 * this switch; reached through t's cfs_rq, for the run queues are not
 * kernel symbols everywhere).
 */
static __always_inline __u64 run_delay(struct task_struct *t)
{
	__u64 rd = t->sched_info.run_delay, queued = t->sched_info.last_queued, clock;

	if (queued) {
		clock = t->se.cfs_rq->rq->clock;
		if (clock > queued)
			rd += clock - queued;
	}
	return rd;
}

/*
 * True when the run-queue waits come from sched_info: set by the daemon, and
 * (for the loader) only where the kernel has the fields at all.
 */
static __always_inline bool sched_info(struct task_struct *t)
{
	return use_sched_info && bpf_core_field_exists(t->sched_info.run_delay) &&
	       bpf_core_field_exists(t->se.cfs_rq->rq);
}

/* Adds what prev ran since its last switch-out to its service. */
static __always_inline void account(struct task_struct *prev, struct rl_thread *th)
{
	__u64 exec = prev->se.sum_exec_runtime, ut = prev->utime, st = prev->stime;
	struct rl_sched_stats *s = stats_of(svc_id(prev, th));

	if (s) {
		s->cpu_ns += exec - th->exec_last;
		s->user_ns += ut - th->utime_last;
		s->system_ns += st - th->stime_last;
	}
	th->exec_last = exec;
	th->utime_last = ut;
	th->stime_last = st;
}

static __always_inline void switch_out(struct task_struct *prev, struct rl_thread *th, bool preempt,
				       __u64 now)
{
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
	if (sched_info(prev))
		th->run_delay_last = prev->sched_info.run_delay;
}

static __always_inline void runq_wait(struct task_struct *t, struct rl_thread *th, __u64 ns)
{
	th->runq_ns += ns;
	hist(svc_id_cached(t, th), RL_SCHED_HIST_RUNQ, ns);
}

static __always_inline void blocked(struct task_struct *t, struct rl_thread *th, __u64 ns)
{
	th->blocked_ns += ns;
	hist(svc_id_cached(t, th), RL_SCHED_HIST_OFFCPU, ns);
}

static __always_inline void switch_in(struct task_struct *next, struct rl_thread *th, __u64 now)
{
	if (sched_info(next)) {
		if (th->ts_blocked) {
			/* It slept, was woken, then waited: the kernel timed the wait. */
			__u64 off = now - th->ts_blocked, rd = run_delay(next), wait = 0;

			if (rd > th->run_delay_last)
				wait = rd - th->run_delay_last;
			if (wait > off)
				wait = off;
			blocked(next, th, off - wait);
			runq_wait(next, th, wait);
		} else if (th->ts_runnable) {
			runq_wait(next, th, now - th->ts_runnable);
		} else if (!next->sched_info.pcount) {
			/* A new thread's first run: it has waited since it was created. */
			runq_wait(next, th, run_delay(next));
		}
	} else {
		/* Back on a CPU with no wakeup seen: it never slept, it waited. */
		if (!th->ts_runnable && th->ts_blocked)
			th->ts_runnable = th->ts_blocked;
		if (th->ts_runnable)
			runq_wait(next, th, now - th->ts_runnable);
	}
	th->ts_runnable = 0;
	th->ts_blocked = 0;
	th->ts_oncpu = now;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rl_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct rl_thread *tp = thread_of(prev), *tn = thread_of(next);
	__u64 now;

	if (!tp && !tn)
		return 0;
	now = bpf_ktime_get_ns();
	if (tp)
		switch_out(prev, tp, preempt, now);
	if (tn)
		switch_in(next, tn, now);
	return 0;
}

/*
 * Without sched_info only: a wakeup ends a blocked stretch and starts a
 * wait for a CPU. One that finds the thread still on its CPU (it was about
 * to sleep) or already waiting (preempted) changes nothing.
 */
static __always_inline int on_wakeup(struct task_struct *p)
{
	struct rl_thread *th = thread_of(p);
	__u64 now;

	if (!th || th->ts_oncpu)
		return 0;
	now = bpf_ktime_get_ns();
	if (th->ts_blocked) {
		blocked(p, th, now - th->ts_blocked);
		th->ts_blocked = 0;
		th->ts_runnable = now;
	} else if (!th->ts_runnable) {
		th->ts_runnable = now;	/* first seen: a new thread */
	}
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
