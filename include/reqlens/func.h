/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Contract between bpf/func.bpf.c and src/func.c: user functions timed with
 * uprobes (entry and return) or USDT probes. Each attachment carries the
 * function's id as its BPF cookie; src/func.c owns the id -> name table.
 */
#ifndef REQLENS_FUNC_H
#define REQLENS_FUNC_H

#include "reqlens/common.h"

#define RL_MAX_FUNCS 1024
/* Nested calls of one function kept per thread (or goroutine). */
#define RL_FUNC_DEPTH 8

struct rl_func_hist_key {
	struct rl_svc_key svc;	/* port 0, dir 0: the process */
	__u32 func;		/* id from the cookie */
	__u32 bucket;
};

/*
 * A bucket's count and the sum of its values: one map update per call, and
 * the histogram's sum is the sum of its buckets'.
 */
struct rl_func_bucket {
	__u64 count;
	__u64 sum_ns;
};

/*
 * The calls in progress on one thread (task storage), innermost last, and
 * the thread's service key, read once rather than on every call.
 */
struct rl_func_thread {
	struct rl_svc_key svc;
	__u64 ts[RL_FUNC_DEPTH];
	__u32 func[RL_FUNC_DEPTH];
	__u32 depth;		/* may exceed RL_FUNC_DEPTH: deeper calls are not timed */
	__u32 svc_known;
};

/* Entry times of the calls in progress of one function on one goroutine (Go). */
struct rl_func_call_key {
	__u64 owner;		/* the goroutine's g pointer */
	__u32 func;
	__u32 pad;
};

struct rl_func_calls {
	__u64 ts[RL_FUNC_DEPTH];
	__u32 depth;		/* may exceed RL_FUNC_DEPTH: deeper calls are not timed */
	__u32 pad;
};

#endif /* REQLENS_FUNC_H */
