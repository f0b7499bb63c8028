/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The statistics of `reqlens compare`, over binned latency distributions.
 *
 * A distribution is a list of bins (lo, hi] in nanoseconds with a count
 * each (a double: Prometheus's increase() gives fractional counts). The
 * bins are whatever resolution the data has: the kernel buckets of
 * reqlens/hist.h for a snapshot, the `le` intervals for data rebuilt from
 * Prometheus. Nothing here assumes more than the bins say: a value is only
 * known to lie somewhere inside its bin.
 *
 * The math:
 * - Quantile estimate: as rl_hist_quantile, linear inside the bin that holds
 *   the rank q*n; its error bound is that bin, [lo, hi].
 * - Quantile CI (distribution-free, from order statistics): the ranks
 *   l, u = n*q -/+ z*sqrt(n*q*(1-q)) (normal approximation of the binomial);
 *   the interval runs from the LOWER edge of the bin holding order
 *   statistic floor(l) to the UPPER edge of the bin holding ceil(u), so
 *   that not knowing where inside a bin a value lies can only widen it.
 *   floor(l) < 1 gives 0, ceil(u) > n gives +inf: the sample cannot bound
 *   the quantile there.
 * - Change CI: interval arithmetic on the ratio after/before,
 *   [lo_after / hi_before, hi_after / lo_before]. The caller passes both
 *   quantiles' intervals at z = RL_Z_975 (97.5% each): both hold together
 *   with probability >= 95% (Bonferroni), and when they do the ratio lies
 *   in the interval, so it is a (conservative) 95% interval.
 * - Mann-Whitney U over two binned samples: values in one bin are ties
 *   (mid-ranks); normal approximation with the tie correction and a 0.5
 *   continuity correction; two-sided p-value.
 */
#ifndef RL_STATS_H
#define RL_STATS_H

#include <stddef.h>
#include "hist.h"

#define RL_Z_95 1.959963984540054	/* two-sided 95% */
#define RL_Z_975 2.241402727604947	/* two-sided 97.5%: two of them make >= 95% together */

struct rl_bin {
	double lo, hi;		/* (lo, hi] in ns; hi may be +inf (the overflow bucket) */
	double count;
};

struct rl_bins {
	struct rl_bin *v;	/* ascending, not overlapping */
	size_t n, cap;
	double total;
};

void rl_bins_init(struct rl_bins *b);
void rl_bins_free(struct rl_bins *b);	/* NULL-safe; leaves b empty and reusable */
/* Appends a bin above the last one; 0, -EINVAL (out of order, bad count) or -ENOMEM. */
int rl_bins_push(struct rl_bins *b, double lo, double hi, double count);
/* Adds count to the bin (lo, hi], inserting it in order; -EINVAL if it overlaps another. */
int rl_bins_add(struct rl_bins *b, double lo, double hi, double count);
/*
 * dst += src, bin by bin (both ascending): equal bins add up, others
 * interleave; -EINVAL when two bins overlap without being equal (data of
 * different resolutions cannot be merged), -ENOMEM.
 */
int rl_bins_merge(struct rl_bins *dst, const struct rl_bins *src);
/* The non-empty kernel buckets of h as bins. */
int rl_bins_from_hist(struct rl_bins *b, const struct rl_hist *h);

/* A quantile read from bins. Every value in ns; NAN when there are no data. */
struct rl_qest {
	double q;
	double n;		/* samples */
	double value;		/* the estimate */
	double bin_lo, bin_hi;	/* the bin it lies in: its error bound */
	double ci_lo, ci_hi;	/* the confidence interval */
	double rank_lo, rank_hi;	/* the order statistics the CI came from (1-based) */
};

/* 0, or -EINVAL when q is outside [0, 1] or z < 0. An empty b gives NANs and 0. */
int rl_stats_quantile(const struct rl_bins *b, double q, double z, struct rl_qest *out);

/* after / before with its interval; change = ratio - 1. */
struct rl_ratio {
	double ratio, lo, hi;
};
void rl_stats_ratio(const struct rl_qest *before, const struct rl_qest *after, struct rl_ratio *out);

struct rl_mw {
	double n1, n2;
	double u;		/* U of the second sample: n1*n2/2 when they are alike */
	double z;		/* > 0: the second sample tends to be larger */
	double p;		/* two-sided */
};
/* 0, or -EINVAL when either sample is empty (out is then NANs). */
int rl_stats_mann_whitney(const struct rl_bins *a, const struct rl_bins *b, struct rl_mw *out);

/* P(Z > z) for a standard normal Z. */
double rl_stats_normal_sf(double z);

/* Fewest samples for an honest q-quantile: 10 / (1 - q) (200 for p95, 1000 for p99). */
double rl_stats_min_samples(double q);

#endif
