// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * User functions timed from uprobes and USDT probes, without touching the
 * target. An entry pushes a timestamp on the thread's call stack (task
 * storage: no hash update per call); the matching return pops it and counts
 * the duration in a histogram row (reqlens/func.h) that the thread keeps at
 * hand, so that a call costs two task-storage lookups, two clock reads and
 * an array update. Go moves goroutine stacks, which uretprobes corrupt, so
 * Go functions get a plain uprobe on each return instruction instead and
 * are keyed by goroutine (the g pointer the Go ABI keeps in a register), in
 * a hash map.
 *
 * When the thread is serving a request that bpf/req.bpf.c tracks (it
 * names the connection in the thread's `serving`), the time is added to that
 * request's handler time.
 */
#include "common.bpf.h"
#include "conns.bpf.h"
#include <bpf/bpf_tracing.h>
#include "reqlens/func.h"
#include "reqlens/req.h"
#include "reqlens/tcp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* bpf/req.bpf.c runs, shares conns and fthreads, and keeps fthreads' serving. */
const volatile bool attribute = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rl_func_call_key);
	__type(value, struct rl_func_calls);
} calls SEC(".maps");

/* Histogram rows (reqlens/func.h): which row holds what, and the free ones. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_FUNC_ROWS);
	__type(key, struct rl_func_row_key);
	__type(value, __u32);
} func_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, RL_FUNC_ROWS);
	__type(value, __u32);
} row_free SEC(".maps");

/* Per CPU: a call's update needs no atomic; user space adds the CPUs up. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_FUNC_ROWS);
	__type(key, __u32);
	__type(value, struct rl_func_row);
} func_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct rl_func_thread);
} fthreads SEC(".maps");


#if defined(__TARGET_ARCH_x86)
#define GO_G_REG(ctx) ((ctx)->r14)
#elif defined(__TARGET_ARCH_arm64)
#define GO_G_REG(ctx) ((ctx)->regs[28])
#endif

/*
 * How far below the top of its goroutine's stack the function was entered:
 * g.stack.hi (the second word of the runtime's g, whose layout the stack
 * check in every Go prologue relies on too) minus SP. 0 when unreadable.
 */
static __always_inline __u64 go_stack_depth(__u64 g, __u64 sp)
{
	__u64 hi;

	if (bpf_probe_read_user(&hi, sizeof(hi), (const void *)(g + 8)) || hi < sp)
		return 0;
	return hi - sp;
}

/*
 * Goroutines: a (g, function) entry in a hash map. The probe is on the
 * function's first instruction (at ip, size bytes long), which runs twice for
 * a call whose stack check fails: the check calls runtime.morestack, which
 * saves the goroutine's context (g.sched.pc: the return address, in the
 * function), moves it to a larger stack or parks it for preemption, and
 * resumes it there, jumping back to the first instruction. The second pass
 * enters at the same distance below the stack's top as the first, which a
 * recursive call does not (it enters deeper), and with g.sched.pc inside the
 * function. So a call is timed from its first pass, growth included, as its
 * caller sees it. A new call at the innermost call's distance that is not a
 * second pass finds a call that never returned (a panic; the g may be reused
 * by a new goroutine): it takes that call's place.
 */
static __always_inline int go_enter(__u64 owner, __u64 sp, __u64 ip, __u64 cookie)
{
	__u32 func = (__u32)cookie, size = (__u32)(cookie >> 32), d;
	struct rl_func_call_key k = { .owner = owner, .func = func };
	struct rl_func_calls *c = bpf_map_lookup_elem(&calls, &k), fresh = {};
	__u64 depth = go_stack_depth(owner, sp), now = bpf_ktime_get_ns(), pc;

	if (!c) {
		fresh.ts[0] = now;
		fresh.top_depth = depth;
		fresh.depth = 1;
		if (bpf_map_update_elem(&calls, &k, &fresh, BPF_ANY))
			rl_lost(RL_LOST_STATS_MAP_FULL);
		return 0;
	}
	if (depth && c->depth && c->top_depth == depth) {
		/* g.sched.pc: the gobuf after stack, stackguard0/1, _panic, _defer and m. */
		if (!bpf_probe_read_user(&pc, sizeof(pc), (const void *)(owner + 64)) && pc > ip && pc - ip < size)
			return 0;
		d = c->depth - 1;
		if (d < RL_FUNC_DEPTH)
			c->ts[d] = now;
		return 0;
	}
	d = c->depth++;
	c->top_depth = depth;
	if (d < RL_FUNC_DEPTH)
		c->ts[d] = now;
	return 0;
}

static __always_inline int thread_enter(__u32 func)
{
	struct rl_func_thread *t = bpf_task_storage_get(&fthreads, bpf_get_current_task_btf(), 0,
							 BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u32 d;

	if (!t) {
		rl_lost(RL_LOST_STATS_MAP_FULL);
		return 0;
	}
	d = t->depth++;
	if (d < RL_FUNC_DEPTH) {
		t->func[d] = func;
		t->ts[d] = bpf_ktime_get_ns();
	}
	return 0;
}

/*
 * The request the current thread serves gets the part of this call that
 * lies within it: from its first read to its last write so far (a handler
 * often returns after the response went out: logging, keep-alive set-up).
 */
static __always_inline void attribute_to_request(__u64 sk, __u64 now, __u64 ns)
{
	__u64 from, to;
	struct rl_conn *c;

	if (!attribute || !sk)
		return;
	c = bpf_map_lookup_elem(&conns, &sk);
	if (!c || c->req.phase == RL_PHASE_IDLE)
		return;
	from = now - ns > c->req.ts_start ? now - ns : c->req.ts_start;
	to = c->req.phase == RL_PHASE_RESPONSE && c->req.ts_last < now ? c->req.ts_last : now;
	if (to > from)
		__sync_fetch_and_add(&c->req.handler_ns, to - from);
}

/* The row of (svc, func, octave), taken from row_free on first use; -1 when none is left. */
static __always_inline long row_find(const struct rl_svc_key *svc, __u32 func, __u32 octave)
{
	struct rl_func_row_key k = { .svc = *svc, .func = func, .octave = octave };
	__u32 *r = bpf_map_lookup_elem(&func_rows, &k), row;

	if (r)
		return *r;
	if (bpf_map_pop_elem(&row_free, &row)) {
		rl_lost(RL_LOST_HIST_MAP_FULL);
		return -1;
	}
	/* Another CPU may have made it meanwhile: then its row wins, and ours goes back. */
	if (bpf_map_update_elem(&func_rows, &k, &row, BPF_NOEXIST))
		bpf_map_push_elem(&row_free, &row, 0);
	r = bpf_map_lookup_elem(&func_rows, &k);
	if (!r) {
		rl_lost(RL_LOST_HIST_MAP_FULL);
		return -1;
	}
	return *r;
}

static __always_inline void row_add(long row, __u32 bucket, __u64 ns)
{
	__u32 i = (__u32)row;
	struct rl_func_row *r;

	if (row < 0)
		return;
	r = bpf_map_lookup_elem(&func_hists, &i);
	if (!r)
		return;
	r->count[bucket & (RL_HIST_SUB - 1)]++;
	r->sum_ns += ns;
}

/* A call deeper than RL_FUNC_DEPTH: counted, not timed. */
static __always_inline void record_untimed(const struct rl_svc_key *svc, __u32 func)
{
	row_add(row_find(svc, func, RL_FUNC_UNTIMED), 0, 0);
}

static __always_inline void record(const struct rl_svc_key *svc, __u32 func, __u64 ns)
{
	__u32 bucket = rl_hist_bucket(ns);

	row_add(row_find(svc, func, bucket / RL_HIST_SUB), bucket, ns);
}

/* The same through the thread's row cache: no hash lookup while it holds the row. */
static __always_inline void thread_record(struct rl_func_thread *t, __u32 func, __u64 ns)
{
	__u32 bucket = rl_hist_bucket(ns), octave = bucket / RL_HIST_SUB;
	__u32 tag = (func << 6 | octave) + 1;
	struct rl_func_row_ref *ref = &t->rows[(func + octave) & (RL_FUNC_ROW_CACHE - 1)];
	long row;

	if (ref->tag == tag) {
		row_add(ref->row, bucket, ns);
		return;
	}
	row = row_find(&t->svc, func, octave);
	if (row >= 0) {
		ref->tag = tag;
		ref->row = (__u32)row;
	}
	row_add(row, bucket, ns);
}

static __always_inline int thread_leave(__u32 func)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct rl_func_thread *t = bpf_task_storage_get(&fthreads, task, 0, 0);
	__u64 now = bpf_ktime_get_ns(), ns;
	__u32 d;

	/* A return without its entry: attached mid-call. Not timed. */
	if (!t || !t->depth)
		return 0;
	d = --t->depth;
	if (!t->svc_known) {
		rl_current_svc(&t->svc, 0, 0);
		t->svc_known = 1;
	}
	if (d >= RL_FUNC_DEPTH) {
		record_untimed(&t->svc, func);
		return 0;
	}
	/* A return of another function (longjmp skipped its frames): drop them. */
	if (t->func[d] != func) {
		t->depth = 0;
		return 0;
	}
	ns = now - t->ts[d];
	thread_record(t, func, ns);
	attribute_to_request(t->serving, now, ns);
	return 0;
}

static __always_inline int go_leave(__u64 owner, __u32 func)
{
	struct rl_func_call_key k = { .owner = owner, .func = func };
	struct rl_func_calls *c = bpf_map_lookup_elem(&calls, &k);
	__u64 now = bpf_ktime_get_ns(), ns;
	struct rl_svc_key svc;
	__u32 d;

	if (!c || !c->depth)
		return 0;
	d = --c->depth;
	c->top_depth = 0;
	rl_current_svc(&svc, 0, 0);
	if (d >= RL_FUNC_DEPTH) {
		record_untimed(&svc, func);
		return 0;
	}
	ns = now - c->ts[d & (RL_FUNC_DEPTH - 1)];
	if (!d)
		bpf_map_delete_elem(&calls, &k);
	record(&svc, func, ns);
	if (attribute) {
		struct rl_func_thread *t = bpf_task_storage_get(&fthreads, bpf_get_current_task_btf(), 0, 0);

		attribute_to_request(t ? t->serving : 0, now, ns);
	}
	return 0;
}

/*
 * Attached by src/func.c to many sites at once (one uprobe_multi link per
 * binary, program and direction, or one perf-event uprobe per site), each
 * with its function id as cookie. rl_func_entry also takes USDT start
 * probes, rl_func_exit USDT end probes (as plain uprobes).
 */
SEC("uprobe")
int BPF_KPROBE(rl_func_entry)
{
	return thread_enter((__u32)bpf_get_attach_cookie(ctx));
}

SEC("uretprobe")
int BPF_KRETPROBE(rl_func_exit)
{
	return thread_leave((__u32)bpf_get_attach_cookie(ctx));
}

SEC("uprobe")
int BPF_KPROBE(rl_go_entry)
{
	return go_enter(GO_G_REG(ctx), PT_REGS_SP(ctx), PT_REGS_IP(ctx), bpf_get_attach_cookie(ctx));
}

/* Attached to each return instruction of a Go function. */
SEC("uprobe")
int BPF_KPROBE(rl_go_return)
{
	return go_leave(GO_G_REG(ctx), (__u32)bpf_get_attach_cookie(ctx));
}

/* A lone USDT probe only counts. */
SEC("uprobe")
int BPF_KPROBE(rl_usdt_point)
{
	struct rl_svc_key svc;

	rl_current_svc(&svc, 0, 0);
	record(&svc, (__u32)bpf_get_attach_cookie(ctx), 0);
	return 0;
}
