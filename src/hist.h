/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * User-space histograms over the kernel bucket layout (reqlens/hist.h):
 * merging what the BPF maps hold, quantiles, and the cumulative counts at
 * the `le` edges exposed to Prometheus.
 */
#ifndef RL_HIST_USER_H
#define RL_HIST_USER_H

#include <stdbool.h>
#include <stdint.h>
#include "reqlens/hist.h"

/* Dense: one counter per kernel bucket. Values are nanoseconds. */
struct rl_hist {
	uint64_t buckets[RL_HIST_NBUCKETS];
	uint64_t count;		/* == sum of buckets, kept by rl_hist_add */
	uint64_t sum_ns;
};

void rl_hist_add(struct rl_hist *h, uint32_t bucket, uint64_t n); /* ignores bucket >= NBUCKETS */
void rl_hist_observe(struct rl_hist *h, uint64_t ns);	/* one value */
void rl_hist_merge(struct rl_hist *dst, const struct rl_hist *src);

/*
 * The q-quantile (0 <= q <= 1) in ns, interpolating linearly inside the
 * bucket that holds the rank q*count. NAN when the histogram is empty.
 * With err (may be NULL), the half width of that bucket relative to the
 * estimate: the bound on the error that the bucketing allows.
 */
double rl_hist_quantile(const struct rl_hist *h, double q, double *err);

/*
 * The `le` edges exported on /metrics: kernel bucket upper edges, so that
 * cumulative counts are exact. per_octave (1, 2, 4, 8, 16 or 32) edges per
 * power of two between min_ns and max_ns (both rounded to kernel edges).
 */
#define RL_LE_MAX 1024
struct rl_le_set {
	uint32_t n;
	uint32_t bucket[RL_LE_MAX];	/* kernel bucket whose upper edge is the le */
	uint64_t le_ns[RL_LE_MAX];
};

/* 0, or -EINVAL with a reason in *why (a static string) when out of range. */
int rl_le_set_init(struct rl_le_set *s, unsigned per_octave, uint64_t min_ns, uint64_t max_ns,
		   const char **why);
/* The default: 4 edges per octave from 2^14 ns (16.4 us) to 2^35 ns (34.4 s). */
void rl_le_set_default(struct rl_le_set *s);
/* out[i] = number of observations <= s->le_ns[i]; out has s->n entries. */
void rl_hist_cumulative(const struct rl_hist *h, const struct rl_le_set *s, uint64_t *out);

#endif
