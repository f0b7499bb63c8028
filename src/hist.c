// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* User-space histograms over the kernel bucket layout. */
#include <errno.h>
#include <math.h>
#include <stddef.h>

#include "hist.h"

void rl_hist_add(struct rl_hist *h, uint32_t bucket, uint64_t n)
{
	/* A key from a map written by another layout version must not corrupt memory. */
	if (bucket >= RL_HIST_NBUCKETS)
		return;
	h->buckets[bucket] += n;
	h->count += n;
}

void rl_hist_observe(struct rl_hist *h, uint64_t ns)
{
	rl_hist_add(h, rl_hist_bucket(ns), 1);
	h->sum_ns += ns;
}

void rl_hist_merge(struct rl_hist *dst, const struct rl_hist *src)
{
	for (uint32_t b = 0; b < RL_HIST_NBUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
}

double rl_hist_quantile(const struct rl_hist *h, double q, double *err)
{
	double rank, lo, hi, est, frac;
	uint64_t total = 0, cum = 0;
	uint32_t b;

	if (err)
		*err = NAN;
	/* From the buckets, not h->count: a caller may have filled them directly. */
	for (b = 0; b < RL_HIST_NBUCKETS; b++)
		total += h->buckets[b];
	if (!total || isnan(q))
		return NAN;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = q * (double)total;
	/*
	 * The first non-empty bucket whose cumulative count reaches the rank;
	 * skipping empty ones makes q=0 land on the smallest observation's bucket.
	 * The last non-empty bucket reaches total >= rank, so the loop always stops.
	 */
	for (b = 0; b < RL_HIST_NBUCKETS; b++) {
		uint64_t c = h->buckets[b];

		if (c && (double)(cum + c) >= rank)
			break;
		cum += c;
	}
	lo = (double)rl_hist_lower(b);
	if (b == RL_HIST_OVERFLOW) {
		/* Unbounded above: the edge is all that is known, and the error has no bound. */
		if (err)
			*err = INFINITY;
		return lo;
	}
	hi = (double)rl_hist_upper(b);
	frac = (rank - (double)cum) / (double)h->buckets[b];
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	est = lo + frac * (hi - lo);
	if (err)
		*err = est > 0 ? (hi - lo) / 2 / est : INFINITY;
	return est;
}

/* Whether u is 2^k * (1 + j/per_octave) for some k and some j < per_octave. */
static int on_grid(uint64_t u, unsigned per_octave)
{
	uint64_t pow = (uint64_t)1 << rl_log2_u64(u);

	/* u - pow = pow * j / per_octave, i.e. (u - pow) * per_octave is a multiple of pow. */
	return ((u - pow) * per_octave) % pow == 0;
}

/* The bucket whose upper edge is the smallest edge >= ns, clamped to the finite ones. */
static uint32_t snap(uint64_t ns)
{
	uint32_t b = rl_hist_bucket(ns);

	return b >= RL_HIST_NFINITE ? RL_HIST_NFINITE - 1 : b;
}

int rl_le_set_init(struct rl_le_set *s, unsigned per_octave, uint64_t min_ns, uint64_t max_ns,
		   const char **why)
{
	const char *reason = NULL;
	uint32_t first, last, n = 0;

	s->n = 0;
	if (per_octave < 1 || per_octave > RL_HIST_SUB || (per_octave & (per_octave - 1))) {
		reason = "edges per octave must be 1, 2, 4, 8, 16 or 32";
		goto fail;
	}
	if (min_ns >= max_ns) {
		reason = "the smallest edge must lie below the largest";
		goto fail;
	}
	first = snap(min_ns);
	last = snap(max_ns);
	/*
	 * Above 32 ns the grid points are exactly the upper edges of the
	 * sub-buckets with index = 31 mod (32 / per_octave); below, every integer
	 * is an edge, so testing each bucket's edge covers both regions.
	 */
	for (uint32_t b = first; b <= last; b++) {
		uint64_t u = rl_hist_upper(b);

		if (!on_grid(u, per_octave))
			continue;
		if (n == RL_LE_MAX) {
			reason = "too many edges: raise the smallest edge, lower the largest, "
				 "or use fewer per octave";
			goto fail;
		}
		s->bucket[n] = b;
		s->le_ns[n] = u;
		n++;
	}
	if (!n) {
		reason = "no edge lies between the smallest and the largest";
		goto fail;
	}
	s->n = n;
	if (why)
		*why = NULL;
	return 0;
fail:
	s->n = 0;
	if (why)
		*why = reason;
	return -EINVAL;
}

void rl_le_set_default(struct rl_le_set *s)
{
	/* Cannot fail: the arguments are constant and valid. */
	rl_le_set_init(s, 4, (uint64_t)1 << 14, (uint64_t)1 << 35, NULL);
}

void rl_hist_cumulative(const struct rl_hist *h, const struct rl_le_set *s, uint64_t *out)
{
	uint64_t cum = 0;
	uint32_t next = 0;	/* the first bucket not yet in cum */

	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t b = s->bucket[i];

		/* Sets from rl_le_set_init ascend; a hand-made one may not. */
		if (b + 1 < next) {
			cum = 0;
			next = 0;
		}
		for (; next <= b && next < RL_HIST_NBUCKETS; next++)
			cum += h->buckets[next];
		out[i] = cum;
	}
}
