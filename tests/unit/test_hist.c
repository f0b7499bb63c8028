// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The bucket layout (shared with the BPF programs), quantiles read from it,
 * and the `le` edges exported to Prometheus.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hist.h"

#define NVALUES 100000

/* splitmix64: a fixed seed gives the same data on every machine. */
static uint64_t next_u64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double next_unit(uint64_t *state)
{
	return ((double)(next_u64(state) >> 11) + 0.5) / 9007199254740992.0;
}

/* Log-normal around 1 ms with a factor-of-e spread: what request latencies look like. */
static uint64_t next_latency(uint64_t *state)
{
	double u1 = next_unit(state), u2 = next_unit(state);
	double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

	return (uint64_t)llround(1e6 * exp(z));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_log2(void **state)
{
	uint64_t seed = 1;

	for (unsigned k = 0; k < 64; k++) {
		uint64_t p = (uint64_t)1 << k;

		assert_int_equal(rl_log2_u64(p), k);
		assert_int_equal(rl_log2_u64(p | (p - 1)), k);
		if (k)
			assert_int_equal(rl_log2_u64(p - 1), k - 1);
	}
	for (int i = 0; i < 100000; i++) {
		uint64_t x = next_u64(&seed) >> (i % 64);

		if (x)
			assert_int_equal(rl_log2_u64(x), 63 - __builtin_clzll(x));
	}
}

static void test_bucket_small_values(void **state)
{
	/* 0 and 1 share the first bucket: a zero latency is not worth a bucket. */
	assert_int_equal(rl_hist_bucket(0), 0);
	assert_int_equal(rl_hist_bucket(1), 0);
	assert_int_equal(rl_hist_bucket(2), 1);
	/* Below 32 ns every integer has its own bucket. */
	for (uint64_t v = 1; v <= RL_HIST_SUB; v++) {
		assert_int_equal(rl_hist_bucket(v), v - 1);
		assert_int_equal(rl_hist_upper((uint32_t)v - 1), v);
	}
	assert_int_equal(rl_hist_bucket(33), 32);
	assert_int_equal(rl_hist_bucket(64), 63);
	assert_int_equal(rl_hist_bucket(65), 64);
	assert_int_equal(rl_hist_bucket(66), 64);
	assert_int_equal(rl_hist_bucket(67), 65);
	assert_int_equal(rl_hist_lower(0), 0);
}

static void test_bucket_every_boundary(void **state)
{
	for (uint32_t b = 0; b < RL_HIST_NFINITE; b++) {
		uint64_t hi = rl_hist_upper(b), lo = rl_hist_lower(b);

		assert_true(lo < hi);
		assert_int_equal(rl_hist_bucket(hi), b);
		assert_int_equal(rl_hist_bucket(hi + 1), b + 1);
		assert_int_equal(rl_hist_bucket(lo + 1), b);
		if (hi - lo > 2)
			assert_int_equal(rl_hist_bucket(lo + (hi - lo) / 2), b);
		if (b)
			assert_int_equal(rl_hist_bucket(lo), b - 1);
	}
	/* The last finite edge is 2^42 ns, as the header promises. */
	assert_int_equal(rl_hist_upper(RL_HIST_NFINITE - 1), (uint64_t)1 << (RL_HIST_MAX_MSB + 1));
	assert_int_equal(rl_hist_lower(RL_HIST_OVERFLOW), (uint64_t)1 << (RL_HIST_MAX_MSB + 1));
}

static void test_bucket_overflow(void **state)
{
	uint64_t last = (uint64_t)1 << (RL_HIST_MAX_MSB + 1);

	assert_int_equal(rl_hist_bucket(last), RL_HIST_NFINITE - 1);
	assert_int_equal(rl_hist_bucket(last + 1), RL_HIST_OVERFLOW);
	assert_int_equal(rl_hist_bucket(last * 2), RL_HIST_OVERFLOW);
	assert_int_equal(rl_hist_bucket((uint64_t)1 << 63), RL_HIST_OVERFLOW);
	assert_int_equal(rl_hist_bucket(UINT64_MAX), RL_HIST_OVERFLOW);
	assert_int_equal(RL_HIST_NBUCKETS, RL_HIST_OVERFLOW + 1);
}

static void test_bucket_width(void **state)
{
	for (uint32_t b = 0; b < RL_HIST_NFINITE; b++) {
		uint64_t lo = rl_hist_lower(b), w = rl_hist_upper(b) - lo;

		if (lo < RL_HIST_SUB)
			continue;
		/* At most 1/32 of the lower edge: the +-1.6% quantile bound rests on it. */
		assert_true(w * RL_HIST_SUB <= lo);
		assert_true((double)w <= 0.032 * (double)lo);
	}
}

static void test_add_observe_merge(void **state)
{
	struct rl_hist *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	rl_hist_observe(a, 100);
	rl_hist_observe(a, 100);
	rl_hist_observe(a, 5000);
	assert_int_equal(a->count, 3);
	assert_int_equal(a->sum_ns, 5200);
	assert_int_equal(a->buckets[rl_hist_bucket(100)], 2);
	assert_int_equal(a->buckets[rl_hist_bucket(5000)], 1);

	rl_hist_add(b, 7, 10);
	rl_hist_add(b, RL_HIST_OVERFLOW, 2);
	/* Out of range: from a map of another layout; must be ignored, not written. */
	rl_hist_add(b, RL_HIST_NBUCKETS, 5);
	rl_hist_add(b, UINT32_MAX, 5);
	assert_int_equal(b->count, 12);
	b->sum_ns = 80;

	rl_hist_merge(a, b);
	assert_int_equal(a->count, 15);
	assert_int_equal(a->sum_ns, 5280);
	assert_int_equal(a->buckets[7], 10);
	assert_int_equal(a->buckets[RL_HIST_OVERFLOW], 2);
	assert_int_equal(a->buckets[rl_hist_bucket(100)], 2);
	free(a);
	free(b);
}

static void test_quantile_known_data(void **state)
{
	static const double qs[] = { 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999 };
	uint64_t *v = malloc(NVALUES * sizeof(*v)), seed = 42;
	struct rl_hist *h = calloc(1, sizeof(*h));
	double est, err;

	for (int i = 0; i < NVALUES; i++) {
		v[i] = next_latency(&seed);
		rl_hist_observe(h, v[i]);
	}
	qsort(v, NVALUES, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		/* Nearest rank: the value below which a fraction q of the data lies. */
		double exact = (double)v[(size_t)ceil(qs[i] * NVALUES) - 1];

		est = rl_hist_quantile(h, qs[i], &err);
		assert_true(err > 0 && err <= 1.0 / 64);
		if (fabs(est - exact) > err * est)
			fail_msg("q=%g: estimate %.1f, exact %.1f, bound %.4f", qs[i], est, exact, err);
	}
	/* The ends: the edges of the extreme buckets, not extrapolations. */
	est = rl_hist_quantile(h, 0, &err);
	assert_true(est == (double)rl_hist_lower(rl_hist_bucket(v[0])));
	est = rl_hist_quantile(h, 1, &err);
	assert_true(est == (double)rl_hist_upper(rl_hist_bucket(v[NVALUES - 1])));
	/* Out of range clamps. */
	assert_true(rl_hist_quantile(h, -1, NULL) == rl_hist_quantile(h, 0, NULL));
	assert_true(rl_hist_quantile(h, 2, NULL) == rl_hist_quantile(h, 1, NULL));
	assert_true(isnan(rl_hist_quantile(h, NAN, NULL)));
	free(h);
	free(v);
}

static void test_quantile_interpolation(void **state)
{
	struct rl_hist *h = calloc(1, sizeof(*h));
	uint32_t b = rl_hist_bucket(1000000);
	double lo = (double)rl_hist_lower(b), hi = (double)rl_hist_upper(b), err;

	/* Empty: no answer, and no bound. */
	assert_true(isnan(rl_hist_quantile(h, 0.5, &err)));
	assert_true(isnan(err));

	rl_hist_add(h, b, 100);
	assert_true(rl_hist_quantile(h, 0.5, &err) == lo + (hi - lo) / 2);
	assert_true(err == (hi - lo) / 2 / (lo + (hi - lo) / 2));
	assert_true(rl_hist_quantile(h, 0.25, NULL) == lo + (hi - lo) / 4);
	assert_true(rl_hist_quantile(h, 0, NULL) == lo);
	assert_true(rl_hist_quantile(h, 1, NULL) == hi);

	/* Empty buckets between two full ones: the median lands on the first's upper edge. */
	rl_hist_add(h, b + 10, 100);
	assert_true(rl_hist_quantile(h, 0.5, NULL) == hi);
	assert_true(rl_hist_quantile(h, 0.75, NULL) ==
		    (double)rl_hist_lower(b + 10) +
			    ((double)rl_hist_upper(b + 10) - (double)rl_hist_lower(b + 10)) / 2);
	free(h);
}

static void test_quantile_overflow(void **state)
{
	struct rl_hist *h = calloc(1, sizeof(*h));
	double err;

	rl_hist_observe(h, 10);
	rl_hist_observe(h, UINT64_MAX / 2);
	/* No upper edge to interpolate to: the lower one, with an unbounded error. */
	assert_true(rl_hist_quantile(h, 1, &err) == (double)rl_hist_lower(RL_HIST_OVERFLOW));
	assert_true(isinf(err));
	assert_true(rl_hist_quantile(h, 0.5, &err) == 10);
	assert_true(err == 0.5 / 10);
	/* Bucket 0 starts at 0: the relative bound is infinite there. */
	memset(h, 0, sizeof(*h));
	rl_hist_observe(h, 1);
	assert_true(rl_hist_quantile(h, 0, &err) == 0);
	assert_true(isinf(err));
	free(h);
}

static void test_cumulative(void **state)
{
	struct rl_hist *h = calloc(1, sizeof(*h));
	uint64_t *v = malloc(NVALUES * sizeof(*v)), seed = 7, out[RL_LE_MAX];
	struct rl_le_set *s = malloc(sizeof(*s));
	uint64_t n;

	for (int i = 0; i < NVALUES; i++) {
		/* Spread over every octave, including the overflow. */
		v[i] = next_u64(&seed) >> (next_u64(&seed) % 64);
		rl_hist_observe(h, v[i]);
	}
	/* Plenty of values right on an edge: the inclusive side matters. */
	rl_hist_observe(h, (uint64_t)1 << 20);
	rl_hist_observe(h, ((uint64_t)1 << 20) + 1);
	rl_le_set_default(s);
	rl_hist_cumulative(h, s, out);
	for (uint32_t i = 0; i < s->n; i++) {
		n = 0;
		for (int k = 0; k < NVALUES; k++)
			n += v[k] <= s->le_ns[i];
		n += ((uint64_t)1 << 20) <= s->le_ns[i];
		n += ((uint64_t)1 << 20) + 1 <= s->le_ns[i];
		assert_int_equal(out[i], n);
	}

	/* A hand-made set need not ascend. */
	s->n = 3;
	s->bucket[0] = RL_HIST_NFINITE - 1;
	s->bucket[1] = 0;
	s->bucket[2] = rl_hist_bucket(1 << 20);
	rl_hist_cumulative(h, s, out);
	assert_int_equal(out[0], h->count - h->buckets[RL_HIST_OVERFLOW]);
	assert_int_equal(out[1], h->buckets[0]);
	n = 0;
	for (uint32_t b = 0; b <= s->bucket[2]; b++)
		n += h->buckets[b];
	assert_int_equal(out[2], n);
	free(s);
	free(v);
	free(h);
}

/* Every le must be a kernel edge on the grid 2^k * (1 + j / per_octave), ascending. */
static void check_set(const struct rl_le_set *s, unsigned per_octave)
{
	for (uint32_t i = 0; i < s->n; i++) {
		uint64_t u = s->le_ns[i], pow;

		assert_true(s->bucket[i] < RL_HIST_NFINITE);
		assert_int_equal(u, rl_hist_upper(s->bucket[i]));
		assert_int_equal(rl_hist_bucket(u), s->bucket[i]);
		if (i)
			assert_true(s->le_ns[i - 1] < u);
		pow = (uint64_t)1 << (63 - __builtin_clzll(u));
		assert_int_equal((u - pow) * per_octave % pow, 0);
	}
}

static void test_le_set_grid(void **state)
{
	struct rl_le_set *s = malloc(sizeof(*s));
	const char *why = "unset";

	for (unsigned p = 1; p <= 32; p *= 2) {
		uint32_t i = 0;

		assert_int_equal(rl_le_set_init(s, p, (uint64_t)1 << 10, (uint64_t)1 << 30, &why), 0);
		assert_null(why);
		check_set(s, p);
		/* Exactly the grid, nothing missing: 20 octaves of p edges, then 2^30. */
		assert_int_equal(s->n, 20 * p + 1);
		for (unsigned k = 10; k < 30; k++)
			for (unsigned j = 0; j < p; j++)
				assert_int_equal(s->le_ns[i++],
						 ((uint64_t)1 << k) + j * (((uint64_t)1 << k) / p));
		assert_int_equal(s->le_ns[i], (uint64_t)1 << 30);
	}
	free(s);
}

static void test_le_set_snapping(void **state)
{
	struct rl_le_set *s = malloc(sizeof(*s));

	/* Neither end is an edge: each snaps up to the bucket edge that covers it. */
	assert_int_equal(rl_le_set_init(s, 1, 1000, 5000, NULL), 0);
	assert_int_equal(s->n, 3);
	assert_int_equal(s->le_ns[0], 1024);
	assert_int_equal(s->le_ns[1], 2048);
	assert_int_equal(s->le_ns[2], 4096);
	check_set(s, 1);

	/* Below 32 ns every integer is an edge, so the grid is dense there. */
	assert_int_equal(rl_le_set_init(s, 4, 1, 32, NULL), 0);
	{
		static const uint64_t want[] = { 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32 };

		assert_int_equal(s->n, sizeof(want) / sizeof(want[0]));
		for (uint32_t i = 0; i < s->n; i++)
			assert_int_equal(s->le_ns[i], want[i]);
	}
	check_set(s, 4);

	/* Beyond the last edge clamps to it. */
	assert_int_equal(rl_le_set_init(s, 1, (uint64_t)1 << 40, UINT64_MAX, NULL), 0);
	assert_int_equal(s->n, 3);
	assert_int_equal(s->le_ns[2], (uint64_t)1 << 42);
	check_set(s, 1);

	/* The most edges that fit: everything at 32 per octave from 2^11 ns. */
	assert_int_equal(rl_le_set_init(s, 32, (uint64_t)1 << 11, (uint64_t)1 << 42, NULL), 0);
	assert_int_equal(s->n, 31 * 32 + 1);
	check_set(s, 32);
	free(s);
}

static void test_le_set_default(void **state)
{
	struct rl_le_set *s = malloc(sizeof(*s));

	rl_le_set_default(s);
	/* 21 octaves of 4, then 2^35. */
	assert_int_equal(s->n, 21 * 4 + 1);
	assert_int_equal(s->le_ns[0], 16384);
	assert_int_equal(s->le_ns[1], 20480);
	assert_int_equal(s->le_ns[2], 24576);
	assert_int_equal(s->le_ns[3], 28672);
	assert_int_equal(s->le_ns[4], 32768);
	assert_int_equal(s->le_ns[s->n - 1], (uint64_t)1 << 35);
	check_set(s, 4);
	free(s);
}

static void test_le_set_errors(void **state)
{
	static const unsigned bad_p[] = { 0, 3, 6, 33, 64, 1024, 0x80000000u };
	struct rl_le_set *s = malloc(sizeof(*s));
	const char *why;

	for (size_t i = 0; i < sizeof(bad_p) / sizeof(bad_p[0]); i++) {
		why = NULL;
		s->n = 5;
		assert_int_equal(rl_le_set_init(s, bad_p[i], 1000, 100000, &why), -EINVAL);
		assert_non_null(why);
		assert_int_equal(s->n, 0);
	}
	why = NULL;
	assert_int_equal(rl_le_set_init(s, 4, 100000, 100000, &why), -EINVAL);
	assert_non_null(why);
	why = NULL;
	assert_int_equal(rl_le_set_init(s, 4, 100000, 1000, &why), -EINVAL);
	assert_non_null(why);
	/* 1216 edges do not fit in RL_LE_MAX. */
	why = NULL;
	assert_int_equal(rl_le_set_init(s, 32, 1, (uint64_t)1 << 42, &why), -EINVAL);
	assert_non_null(why);
	assert_non_null(strstr(why, "too many"));
	assert_int_equal(rl_le_set_init(s, 32, (uint64_t)1 << 10, (uint64_t)1 << 42, NULL), -EINVAL);
	/* No power of two between 33 and 34. */
	why = NULL;
	assert_int_equal(rl_le_set_init(s, 1, 33, 34, &why), -EINVAL);
	assert_non_null(why);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log2),
		cmocka_unit_test(test_bucket_small_values),
		cmocka_unit_test(test_bucket_every_boundary),
		cmocka_unit_test(test_bucket_overflow),
		cmocka_unit_test(test_bucket_width),
		cmocka_unit_test(test_add_observe_merge),
		cmocka_unit_test(test_quantile_known_data),
		cmocka_unit_test(test_quantile_interpolation),
		cmocka_unit_test(test_quantile_overflow),
		cmocka_unit_test(test_cumulative),
		cmocka_unit_test(test_le_set_grid),
		cmocka_unit_test(test_le_set_snapping),
		cmocka_unit_test(test_le_set_default),
		cmocka_unit_test(test_le_set_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
