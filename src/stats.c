// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Quantiles with confidence intervals, ratio intervals, Mann-Whitney U: see stats.h. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

void rl_bins_init(struct rl_bins *b)
{
	memset(b, 0, sizeof(*b));
}

void rl_bins_free(struct rl_bins *b)
{
	if (!b)
		return;
	free(b->v);
	rl_bins_init(b);
}

static int reserve(struct rl_bins *b, size_t n)
{
	struct rl_bin *v;
	size_t cap;

	if (n <= b->cap)
		return 0;
	cap = b->cap ? b->cap * 2 : 16;
	while (cap < n)
		cap *= 2;
	v = realloc(b->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	b->v = v;
	b->cap = cap;
	return 0;
}

static int bin_ok(double lo, double hi, double count)
{
	/* NaN fails every comparison, so it is refused here too. */
	return lo >= 0 && hi > lo && count >= 0 && isfinite(count);
}

int rl_bins_push(struct rl_bins *b, double lo, double hi, double count)
{
	int err;

	if (!bin_ok(lo, hi, count) || (b->n && lo < b->v[b->n - 1].hi))
		return -EINVAL;
	err = reserve(b, b->n + 1);
	if (err)
		return err;
	b->v[b->n++] = (struct rl_bin){ .lo = lo, .hi = hi, .count = count };
	b->total += count;
	return 0;
}

int rl_bins_add(struct rl_bins *b, double lo, double hi, double count)
{
	size_t i;
	int err;

	if (!bin_ok(lo, hi, count))
		return -EINVAL;
	/* Appending in order is the common case (merging same-layout series): O(1). */
	if (!b->n || lo >= b->v[b->n - 1].hi)
		return rl_bins_push(b, lo, hi, count);
	for (i = 0; i < b->n && b->v[i].hi <= lo; i++)
		;
	if (b->v[i].lo == lo && b->v[i].hi == hi) {
		b->v[i].count += count;
		b->total += count;
		return 0;
	}
	if (hi > b->v[i].lo)
		return -EINVAL;	/* overlaps a bin of another resolution */
	err = reserve(b, b->n + 1);
	if (err)
		return err;
	memmove(&b->v[i + 1], &b->v[i], (b->n - i) * sizeof(b->v[0]));
	b->v[i] = (struct rl_bin){ .lo = lo, .hi = hi, .count = count };
	b->n++;
	b->total += count;
	return 0;
}

int rl_bins_merge(struct rl_bins *dst, const struct rl_bins *src)
{
	struct rl_bins out;
	size_t i = 0, j = 0;
	int err = 0;

	rl_bins_init(&out);
	/* A linear merge: status-code series of one route share most bins. */
	while (!err && (i < dst->n || j < src->n)) {
		const struct rl_bin *x = i < dst->n ? &dst->v[i] : NULL;
		const struct rl_bin *y = j < src->n ? &src->v[j] : NULL;

		if (x && y && x->lo == y->lo && x->hi == y->hi) {
			err = rl_bins_push(&out, x->lo, x->hi, x->count + y->count);
			i++;
			j++;
		} else if (x && (!y || x->lo < y->lo)) {
			err = rl_bins_push(&out, x->lo, x->hi, x->count);
			i++;
		} else {
			err = rl_bins_push(&out, y->lo, y->hi, y->count);
			j++;
		}
	}
	if (err) {
		rl_bins_free(&out);
		return err;
	}
	rl_bins_free(dst);
	*dst = out;
	return 0;
}

int rl_bins_from_hist(struct rl_bins *b, const struct rl_hist *h)
{
	for (uint32_t k = 0; k < RL_HIST_NBUCKETS; k++) {
		double hi;
		int err;

		if (!h->buckets[k])
			continue;
		hi = k == RL_HIST_OVERFLOW ? INFINITY : (double)rl_hist_upper(k);
		err = rl_bins_push(b, (double)rl_hist_lower(k), hi, (double)h->buckets[k]);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The bin holding rank r (cumulative count reaches r), skipping empty bins
 * as rl_hist_quantile does; *cum_before gets the count below it. The last
 * non-empty bin when r exceeds the total (rounding).
 */
static size_t bin_at_rank(const struct rl_bins *b, double r, double *cum_before)
{
	double cum = 0;
	size_t i, last = 0;

	for (i = 0; i < b->n; i++) {
		double c = b->v[i].count;

		if (c <= 0)
			continue;
		last = i;
		if (cum + c >= r)
			break;
		cum += c;
	}
	if (i == b->n) {
		i = last;
		cum -= b->v[last].count;
	}
	if (cum_before)
		*cum_before = cum;
	return i;
}

/* The lower edge of the bin holding order statistic k (1-based); 0 below the first. */
static double ci_lower(const struct rl_bins *b, double k)
{
	if (k < 1)
		return 0;
	return b->v[bin_at_rank(b, k, NULL)].lo;
}

/* The upper edge of the bin holding order statistic k; +inf beyond the last. */
static double ci_upper(const struct rl_bins *b, double k)
{
	if (k > b->total)
		return INFINITY;
	return b->v[bin_at_rank(b, k, NULL)].hi;
}

int rl_stats_quantile(const struct rl_bins *b, double q, double z, struct rl_qest *out)
{
	double n = b->total, rank, cum, half, frac;
	const struct rl_bin *bin;

	if (!(q >= 0 && q <= 1) || !(z >= 0))
		return -EINVAL;
	*out = (struct rl_qest){ .q = q, .n = n, .value = NAN, .bin_lo = NAN, .bin_hi = NAN,
				 .ci_lo = NAN, .ci_hi = NAN, .rank_lo = NAN, .rank_hi = NAN };
	if (!(n > 0))
		return 0;
	rank = q * n;
	bin = &b->v[bin_at_rank(b, rank, &cum)];
	out->bin_lo = bin->lo;
	out->bin_hi = bin->hi;
	if (isinf(bin->hi)) {
		/* Unbounded above: the edge is all that is known. */
		out->value = bin->lo;
	} else {
		frac = (rank - cum) / bin->count;
		frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
		out->value = bin->lo + frac * (bin->hi - bin->lo);
	}
	/* Rounding the ranks outwards keeps the interval conservative. */
	half = z * sqrt(n * q * (1 - q));
	out->rank_lo = floor(rank - half);
	out->rank_hi = ceil(rank + half);
	out->ci_lo = ci_lower(b, out->rank_lo);
	out->ci_hi = ci_upper(b, out->rank_hi);
	/* The bin of the estimate always lies inside: with z = 0 the CI is that bin. */
	if (out->ci_lo > bin->lo)
		out->ci_lo = bin->lo;
	if (out->ci_hi < bin->hi)
		out->ci_hi = bin->hi;
	return 0;
}

/* a / b where 0 / 0 has no answer, x / 0 is +inf and x / inf is 0. */
static double div_or(double a, double b)
{
	if (isnan(a) || isnan(b) || (a == 0 && b == 0) || (isinf(a) && isinf(b)))
		return NAN;
	if (b == 0)
		return INFINITY;
	return a / b;
}

void rl_stats_ratio(const struct rl_qest *before, const struct rl_qest *after, struct rl_ratio *out)
{
	out->ratio = div_or(after->value, before->value);
	out->lo = div_or(after->ci_lo, before->ci_hi);
	out->hi = div_or(after->ci_hi, before->ci_lo);
	/* 0/inf or inf/0 mean "anything": the honest interval is all of it. */
	if (isnan(out->lo))
		out->lo = 0;
	if (isnan(out->hi))
		out->hi = INFINITY;
}

double rl_stats_normal_sf(double z)
{
	return 0.5 * erfc(z / M_SQRT2);
}

double rl_stats_min_samples(double q)
{
	/* 10 / (1 - 0.95) is 199.99999999999997 in doubles: round the noise away. */
	return q >= 1 ? INFINITY : ceil(10 / (1 - q) - 1e-6);
}

/* Walks the bins of both samples in order; overlapping bins form one tie group. */
struct mw_walk {
	const struct rl_bins *a, *b;
	size_t i, j;
};

/* The next tie group: its counts from each sample; 0 when both are exhausted. */
static int next_group(struct mw_walk *w, double *ca, double *cb)
{
	const struct rl_bin *x = w->i < w->a->n ? &w->a->v[w->i] : NULL;
	const struct rl_bin *y = w->j < w->b->n ? &w->b->v[w->j] : NULL;
	bool first = true;
	double hi;

	if (!x && !y)
		return 0;
	*ca = *cb = 0;
	hi = !y || (x && x->lo <= y->lo) ? x->lo : y->lo;
	/* Absorb every bin that starts below the group's upper edge. */
	for (;;) {
		x = w->i < w->a->n ? &w->a->v[w->i] : NULL;
		y = w->j < w->b->n ? &w->b->v[w->j] : NULL;
		if (x && (x->lo < hi || (first && x->lo == hi))) {
			*ca += x->count;
			hi = fmax(hi, x->hi);
			w->i++;
			first = false;
		} else if (y && (y->lo < hi || (first && y->lo == hi))) {
			*cb += y->count;
			hi = fmax(hi, y->hi);
			w->j++;
			first = false;
		} else {
			return 1;
		}
	}
}

int rl_stats_mann_whitney(const struct rl_bins *a, const struct rl_bins *b, struct rl_mw *out)
{
	struct mw_walk w = { .a = a, .b = b };
	long double n1 = a->total, n2 = b->total, n = n1 + n2, below = 0, rank_b = 0, ties = 0;
	long double mean, var, dev;
	double ca, cb;

	*out = (struct rl_mw){ .n1 = a->total, .n2 = b->total, .u = NAN, .z = NAN, .p = NAN };
	if (!(a->total > 0) || !(b->total > 0))
		return -EINVAL;
	while (next_group(&w, &ca, &cb)) {
		long double t = (long double)ca + cb;

		/* Every value of the group takes the group's mid-rank. */
		rank_b += cb * (below + (t + 1) / 2);
		ties += t * t * t - t;
		below += t;
	}
	out->u = (double)(rank_b - n2 * (n2 + 1) / 2);
	mean = n1 * n2 / 2;
	var = n1 * n2 / 12 * ((n + 1) - (n > 1 ? ties / (n * (n - 1)) : 0));
	if (var <= 0) {
		/* Everything tied: no evidence of any difference. */
		out->z = 0;
		out->p = 1;
		return 0;
	}
	dev = (long double)out->u - mean;
	/* Continuity correction towards the mean, never past it. */
	dev = dev > 0.5L ? dev - 0.5L : dev < -0.5L ? dev + 0.5L : 0;
	out->z = (double)(dev / sqrtl(var));
	out->p = fmin(1, 2 * rl_stats_normal_sf(fabs(out->z)));
	return 0;
}
