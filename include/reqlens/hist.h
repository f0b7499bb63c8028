/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The histogram bucket layout, shared by the BPF programs (which count into
 * buckets) and the daemon (which turns buckets into Prometheus histograms and
 * quantiles). Changing anything here changes every exported `le` edge, so the
 * layout carries a version that snapshots record.
 *
 * Values are nanoseconds. Bucket b holds the values v with lo(b) < v <= hi(b),
 * so its upper edge is exactly a Prometheus `le` (inclusive). The mapping runs
 * on x = v - 1: below 2^RL_HIST_SUB_BITS every integer has its own bucket;
 * above, each power of two is split into 2^RL_HIST_SUB_BITS equal sub-buckets
 * (log-linear, as in HdrHistogram). A bucket is then at most 1/32 = 3.1% of
 * its lower edge wide, so a quantile read from the buckets is within about
 * +-1.6% of the truth.
 */
#ifndef REQLENS_HIST_H
#define REQLENS_HIST_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define RL_HIST_LAYOUT_VERSION 1
#define RL_HIST_SUB_BITS 5
#define RL_HIST_SUB (1u << RL_HIST_SUB_BITS)
/* The last octave: values up to 2^(RL_HIST_MAX_MSB + 1) ns (73 minutes). */
#define RL_HIST_MAX_MSB 41
/* Finite buckets; RL_HIST_OVERFLOW counts what lies beyond the last edge. */
#define RL_HIST_NFINITE ((RL_HIST_MAX_MSB - RL_HIST_SUB_BITS + 2) * RL_HIST_SUB)
#define RL_HIST_OVERFLOW RL_HIST_NFINITE
#define RL_HIST_NBUCKETS (RL_HIST_NFINITE + 1)
/* A pseudo-bucket holding the sum of the observed values (ns). */
#define RL_HIST_SUM_SLOT 0xffffu

/*
 * A bucket that carries its own share of the sum: one map update per
 * observation instead of two (the series' sum is the sum over its buckets).
 */
struct rl_hist_cell {
	__u64 count;
	__u64 sum_ns;
};

/* floor(log2(x)) for x > 0, by halving: BPF has no count-leading-zeros. */
static inline __u32 rl_log2_u64(__u64 x)
{
	__u32 r = 0, shift;

	shift = (x > 0xffffffffULL) << 5; x >>= shift; r |= shift;
	shift = (x > 0xffffULL) << 4;     x >>= shift; r |= shift;
	shift = (x > 0xffULL) << 3;       x >>= shift; r |= shift;
	shift = (x > 0xfULL) << 2;        x >>= shift; r |= shift;
	shift = (x > 0x3ULL) << 1;        x >>= shift; r |= shift;
	r |= (__u32)(x >> 1);
	return r;
}

static inline __u32 rl_hist_bucket(__u64 v)
{
	__u64 x = v ? v - 1 : 0;
	__u32 msb;

	if (x < RL_HIST_SUB)
		return (__u32)x;
	msb = rl_log2_u64(x);
	if (msb > RL_HIST_MAX_MSB)
		return RL_HIST_OVERFLOW;
	return (msb - RL_HIST_SUB_BITS + 1) * RL_HIST_SUB +
	       (__u32)((x >> (msb - RL_HIST_SUB_BITS)) & (RL_HIST_SUB - 1));
}

/* Inclusive upper edge of bucket b in ns (b < RL_HIST_NFINITE). */
static inline __u64 rl_hist_upper(__u32 b)
{
	__u32 octave = b / RL_HIST_SUB, sub = b % RL_HIST_SUB;

	if (octave == 0)
		return (__u64)b + 1;
	return (__u64)(RL_HIST_SUB + sub + 1) << (octave - 1);
}

/* Exclusive lower edge of bucket b in ns: the upper edge of b - 1. */
static inline __u64 rl_hist_lower(__u32 b)
{
	return b ? rl_hist_upper(b - 1) : 0;
}

#endif /* REQLENS_HIST_H */
