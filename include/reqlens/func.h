/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Contract between bpf/func.bpf.c and src/func.c: user functions timed with
 * uprobes (entry and return) or USDT probes. Each attachment carries the
 * function's id as its BPF cookie; src/func.c owns the id -> name table.
 */
#ifndef REQLENS_FUNC_H
#define REQLENS_FUNC_H

#include "reqlens/common.h"
#include "reqlens/hist.h"

#define RL_MAX_FUNCS 1024
/*
 * Nested calls timed per thread (or, in Go, per goroutine and function).
 * Deeper ones, a recursion's inner calls, are counted but not timed: in
 * the row of octave RL_FUNC_UNTIMED, whose count[0] says how many.
 */
#define RL_FUNC_DEPTH 8
#define RL_FUNC_UNTIMED ((RL_HIST_NBUCKETS + RL_HIST_SUB - 1) / RL_HIST_SUB)

/*
 * Histograms are kept in rows: one octave (RL_HIST_SUB buckets, bucket b in
 * row octave b / RL_HIST_SUB at b % RL_HIST_SUB) of one function in one
 * service, per CPU, in an array (func_hists), so that a call's update is an
 * array access, not a hash lookup. The func_rows hash says which row holds
 * which (service, function, octave); rows are taken, on first use, from the
 * row_free queue that src/func.c fills with 0..RL_FUNC_ROWS-1.
 */
#define RL_FUNC_ROWS 2048

struct rl_func_row_key {
	struct rl_svc_key svc;	/* port 0, dir 0: the process */
	__u32 func;		/* id from the cookie */
	__u32 octave;
};

/* A row's counts, and the sum of the values counted in it (ns). */
struct rl_func_row {
	__u64 count[RL_HIST_SUB];
	__u64 sum_ns;
};

/* A thread's recently used rows: tag (func << 6 | octave) + 1, 0 when empty. */
#define RL_FUNC_ROW_CACHE 4
struct rl_func_row_ref {
	__u32 tag;
	__u32 row;
};

/*
 * The calls in progress on one thread (task storage), innermost last, the
 * thread's service key, read once rather than on every call, and the rows it
 * counted into last. bpf/req.bpf.c shares the map and keeps `serving` up to
 * date, so that a return finds the thread's request without a second
 * storage lookup.
 */
struct rl_func_thread {
	__u64 serving;		/* the socket whose request the thread read last, or 0 */
	struct rl_svc_key svc;
	__u64 ts[RL_FUNC_DEPTH];
	__u32 func[RL_FUNC_DEPTH];
	__u32 depth;		/* may exceed RL_FUNC_DEPTH: deeper calls are not timed */
	__u32 svc_known;
	struct rl_func_row_ref rows[RL_FUNC_ROW_CACHE];
};

/* Entry times of the calls in progress of one function on one goroutine (Go). */
struct rl_func_call_key {
	__u64 owner;		/* the goroutine's g pointer */
	__u32 func;
	__u32 pad;
};

struct rl_func_calls {
	__u64 ts[RL_FUNC_DEPTH];
	/*
	 * How far below its stack's top the innermost call entered (stack.hi -
	 * SP), 0 once it returned. Go keeps that distance when it moves a
	 * stack, so an entry at the same distance is that call's second pass
	 * after runtime.morestack, or a new call where it never returned
	 * (bpf/func.bpf.c: go_enter tells which).
	 */
	__u64 top_depth;
	__u32 depth;		/* may exceed RL_FUNC_DEPTH: deeper calls are not timed */
	__u32 pad;
};

#endif /* REQLENS_FUNC_H */
