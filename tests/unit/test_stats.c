// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The statistics of `reqlens compare`: quantile confidence intervals that
 * cover the truth as often as they claim, ratio intervals, and the
 * Mann-Whitney U test over binned samples (checked against the definition).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stats.h"

/* splitmix64: a fixed seed gives the same data on every machine. */
static uint64_t next_u64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double next_unit(uint64_t *state)
{
	return ((double)(next_u64(state) >> 11) + 0.5) / 9007199254740992.0;
}

static double next_normal(uint64_t *state)
{
	double u1 = next_unit(state), u2 = next_unit(state);

	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* Log-normal: median 1 ms, sigma 1 (a factor-of-e spread), times scale. */
#define MEDIAN_NS 1e6
static uint64_t next_latency(uint64_t *state, double scale)
{
	return (uint64_t)llround(scale * MEDIAN_NS * exp(next_normal(state)));
}

/* The true q-quantile of that log-normal: exp(sigma * z_q). */
static double true_quantile(double zq, double scale)
{
	return scale * MEDIAN_NS * exp(zq);
}

#define Z_P50 0.0
#define Z_P95 1.6448536269514722

static void fill(struct rl_hist *h, struct rl_bins *b, uint64_t *seed, int n, double scale)
{
	memset(h, 0, sizeof(*h));
	rl_bins_free(b);
	for (int i = 0; i < n; i++)
		rl_hist_observe(h, next_latency(seed, scale));
	assert_int_equal(rl_bins_from_hist(b, h), 0);
}

static void test_estimate_matches_hist_quantile(void **state)
{
	static struct rl_hist h;
	struct rl_bins b;
	uint64_t seed = 7;
	static const double qs[] = { 0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1 };

	rl_bins_init(&b);
	fill(&h, &b, &seed, 5000, 1);
	assert_true(b.total == 5000);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		struct rl_qest e;
		double err, want = rl_hist_quantile(&h, qs[i], &err);

		assert_int_equal(rl_stats_quantile(&b, qs[i], RL_Z_95, &e), 0);
		assert_true(fabs(e.value - want) <= 1e-9 * want);
		/* The bucket error bound is the bucket around the estimate. */
		assert_true(e.bin_lo <= e.value && e.value <= e.bin_hi);
		assert_true(fabs((e.bin_hi - e.bin_lo) / 2 / e.value - err) < 1e-9);
		assert_true(e.ci_lo <= e.bin_lo && e.ci_hi >= e.bin_hi);
	}
	rl_bins_free(&b);
}

static void test_quantile_edge_cases(void **state)
{
	struct rl_bins b;
	struct rl_qest e;

	rl_bins_init(&b);
	assert_int_equal(rl_stats_quantile(&b, 0.95, RL_Z_95, &e), 0);
	assert_true(isnan(e.value) && isnan(e.ci_lo) && isnan(e.ci_hi));
	assert_int_equal(rl_stats_quantile(&b, 1.5, RL_Z_95, &e), -EINVAL);
	assert_int_equal(rl_stats_quantile(&b, NAN, RL_Z_95, &e), -EINVAL);

	/* 100 values in (1000, 2000]: z = 0 gives exactly that bin. */
	assert_int_equal(rl_bins_push(&b, 1000, 2000, 100), 0);
	assert_int_equal(rl_stats_quantile(&b, 0.5, 0, &e), 0);
	assert_true(e.value == 1500 && e.ci_lo == 1000 && e.ci_hi == 2000);
	/* p99 of 100: the upper rank lies beyond the sample, so the CI is open above. */
	assert_int_equal(rl_stats_quantile(&b, 0.99, RL_Z_95, &e), 0);
	assert_true(isinf(e.ci_hi) && e.ci_lo == 1000);
	/* p1 of 100: the lower rank lies below the sample: 0. */
	assert_int_equal(rl_stats_quantile(&b, 0.01, RL_Z_95, &e), 0);
	assert_true(e.ci_lo == 0);

	/* Bins go in order and never overlap. */
	assert_int_equal(rl_bins_push(&b, 1500, 3000, 1), -EINVAL);
	assert_int_equal(rl_bins_push(&b, 2000, 1000, 1), -EINVAL);
	assert_int_equal(rl_bins_push(&b, 2000, 3000, -1), -EINVAL);
	assert_int_equal(rl_bins_add(&b, 0, 500, 3), 0);
	assert_int_equal(rl_bins_add(&b, 1000, 2000, 5), 0);
	assert_int_equal(rl_bins_add(&b, 400, 1000, 1), -EINVAL);
	assert_int_equal(rl_bins_add(&b, 500, 1000, 2), 0);
	assert_int_equal((int)b.n, 3);
	assert_true(b.v[0].count == 3 && b.v[1].count == 2 && b.v[2].count == 105);
	assert_true(b.total == 110);
	rl_bins_free(&b);
}

static void test_min_samples(void **state)
{
	assert_true(rl_stats_min_samples(0.95) == 200);
	assert_true(rl_stats_min_samples(0.99) == 1000);
	assert_true(rl_stats_min_samples(0.999) == 10000);
	assert_true(rl_stats_min_samples(0.5) == 20);
}

/*
 * The claim of a 95% interval, tested: 500 samples of 1000 requests from a
 * known log-normal; the interval must hold the true quantile in at least
 * 90% of them (being conservative, it holds it more often than 95%).
 */
#define TRIALS 500
static void test_quantile_ci_coverage(void **state)
{
	static struct rl_hist h;
	struct rl_bins b;
	uint64_t seed = 42;
	int cover95 = 0, cover50 = 0;
	double width = 0;

	rl_bins_init(&b);
	for (int t = 0; t < TRIALS; t++) {
		struct rl_qest e95, e50;
		double truth95 = true_quantile(Z_P95, 1), truth50 = true_quantile(Z_P50, 1);

		fill(&h, &b, &seed, 1000, 1);
		assert_int_equal(rl_stats_quantile(&b, 0.95, RL_Z_95, &e95), 0);
		assert_int_equal(rl_stats_quantile(&b, 0.5, RL_Z_95, &e50), 0);
		cover95 += e95.ci_lo <= truth95 && truth95 <= e95.ci_hi;
		cover50 += e50.ci_lo <= truth50 && truth50 <= e50.ci_hi;
		width += (e95.ci_hi - e95.ci_lo) / truth95;
	}
	print_message("p95 95%% CI covered the truth in %d/%d trials (p50: %d), mean width %.1f%%\n",
		      cover95, TRIALS, cover50, 100 * width / TRIALS);
	assert_true(cover95 >= TRIALS * 90 / 100);
	assert_true(cover50 >= TRIALS * 90 / 100);
	/* Honest but not useless: a 1000-sample p95 is known to about +-15%. */
	assert_true(width / TRIALS < 0.6);
	rl_bins_free(&b);
}

/* The change's interval, from two 97.5% intervals, holds the true ratio (here 1.5) >= 95%. */
static void test_ratio_ci_coverage(void **state)
{
	static struct rl_hist h1, h2;
	struct rl_bins b1, b2;
	uint64_t seed = 4242;
	int cover = 0;

	rl_bins_init(&b1);
	rl_bins_init(&b2);
	for (int t = 0; t < TRIALS; t++) {
		struct rl_qest e1, e2;
		struct rl_ratio r;

		fill(&h1, &b1, &seed, 1000, 1);
		fill(&h2, &b2, &seed, 1000, 1.5);
		rl_stats_quantile(&b1, 0.95, RL_Z_975, &e1);
		rl_stats_quantile(&b2, 0.95, RL_Z_975, &e2);
		rl_stats_ratio(&e1, &e2, &r);
		assert_true(r.lo <= r.ratio && r.ratio <= r.hi);
		cover += r.lo <= 1.5 && 1.5 <= r.hi;
	}
	print_message("ratio CI covered 1.5 in %d/%d trials\n", cover, TRIALS);
	assert_true(cover >= TRIALS * 95 / 100);
	rl_bins_free(&b1);
	rl_bins_free(&b2);
}

static void test_ratio_arithmetic(void **state)
{
	struct rl_qest before = { .value = 100, .ci_lo = 90, .ci_hi = 110 };
	struct rl_qest after = { .value = 200, .ci_lo = 180, .ci_hi = 220 };
	struct rl_ratio r;

	rl_stats_ratio(&before, &after, &r);
	assert_true(r.ratio == 2);
	assert_true(fabs(r.lo - 180.0 / 110) < 1e-12 && fabs(r.hi - 220.0 / 90) < 1e-12);
	/* A lower bound of 0 before, or an open upper bound after: unbounded above. */
	before.ci_lo = 0;
	rl_stats_ratio(&before, &after, &r);
	assert_true(isinf(r.hi));
	after.ci_hi = INFINITY;
	before.ci_hi = INFINITY;
	rl_stats_ratio(&before, &after, &r);
	assert_true(r.lo == 180.0 / INFINITY || r.lo == 0);
	assert_true(isinf(r.hi));
}

/* U by its definition: pairs where b > a, plus half the ties. */
static double brute_u(const uint32_t *a, int na, const uint32_t *b, int nb)
{
	double u = 0;

	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			u += b[j] > a[i] ? 1 : b[j] == a[i] ? 0.5 : 0;
	return u;
}

static void bins_of_indices(struct rl_bins *bins, const uint32_t *v, int n)
{
	static struct rl_hist h;

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < n; i++)
		rl_hist_add(&h, v[i], 1);
	rl_bins_free(bins);
	assert_int_equal(rl_bins_from_hist(bins, &h), 0);
}

static void test_mann_whitney_definition(void **state)
{
	uint32_t a[300], b[200];
	struct rl_bins ba, bb;
	uint64_t seed = 99;
	struct rl_mw mw;

	rl_bins_init(&ba);
	rl_bins_init(&bb);
	for (int round = 0; round < 20; round++) {
		/* Few distinct buckets: many ties, which is what histograms are. */
		for (int i = 0; i < 300; i++)
			a[i] = 400 + (uint32_t)(next_u64(&seed) % 12);
		for (int i = 0; i < 200; i++)
			b[i] = 400 + (uint32_t)(next_u64(&seed) % (12 + round % 3)) + round % 2;
		bins_of_indices(&ba, a, 300);
		bins_of_indices(&bb, b, 200);
		assert_int_equal(rl_stats_mann_whitney(&ba, &bb, &mw), 0);
		assert_true(fabs(mw.u - brute_u(a, 300, b, 200)) < 1e-6);
		assert_true(mw.p >= 0 && mw.p <= 1);
	}
	rl_bins_free(&ba);
	rl_bins_free(&bb);
}

static void test_mann_whitney_identical_and_shifted(void **state)
{
	static struct rl_hist h1, h2;
	struct rl_bins b1, b2;
	uint64_t seed = 5;
	struct rl_mw mw;

	rl_bins_init(&b1);
	rl_bins_init(&b2);
	fill(&h1, &b1, &seed, 2000, 1);
	/* The same histogram twice: U is exactly its mean. */
	assert_int_equal(rl_stats_mann_whitney(&b1, &b1, &mw), 0);
	assert_true(mw.u == 2000.0 * 2000 / 2 && mw.z == 0 && mw.p == 1);

	/* 20% slower: found, and in the right direction. */
	fill(&h2, &b2, &seed, 2000, 1.2);
	assert_int_equal(rl_stats_mann_whitney(&b1, &b2, &mw), 0);
	assert_true(mw.z > 0 && mw.p < 1e-6);
	assert_int_equal(rl_stats_mann_whitney(&b2, &b1, &mw), 0);
	assert_true(mw.z < 0 && mw.p < 1e-6);

	/* Everything in one bucket on both sides: nothing to tell them apart. */
	rl_bins_free(&b1);
	rl_bins_free(&b2);
	rl_bins_push(&b1, 1000, 1031, 50);
	rl_bins_push(&b2, 1000, 1031, 70);
	assert_int_equal(rl_stats_mann_whitney(&b1, &b2, &mw), 0);
	assert_true(mw.p == 1);

	/* Empty: no test. */
	rl_bins_free(&b2);
	assert_int_equal(rl_stats_mann_whitney(&b1, &b2, &mw), -EINVAL);
	rl_bins_free(&b1);
}

/* Two samples of one distribution: p < 0.01 about 1% of the time, not more. */
static void test_mann_whitney_null_calibration(void **state)
{
	static struct rl_hist h1, h2;
	struct rl_bins b1, b2;
	uint64_t seed = 77;
	int rejected = 0;

	rl_bins_init(&b1);
	rl_bins_init(&b2);
	for (int t = 0; t < TRIALS; t++) {
		struct rl_mw mw;

		fill(&h1, &b1, &seed, 500, 1);
		fill(&h2, &b2, &seed, 700, 1);
		rl_stats_mann_whitney(&b1, &b2, &mw);
		rejected += mw.p < 0.01;
	}
	print_message("Mann-Whitney p < 0.01 in %d/%d same-distribution trials\n", rejected, TRIALS);
	assert_true(rejected <= TRIALS * 3 / 100);
	rl_bins_free(&b1);
	rl_bins_free(&b2);
}

/* Coarser bins in one sample (Prometheus le intervals) fold the overlapping ones into ties. */
static void test_mann_whitney_mixed_resolution(void **state)
{
	struct rl_bins a, b;
	struct rl_mw mw;

	rl_bins_init(&a);
	rl_bins_init(&b);
	rl_bins_push(&a, 0, 10, 5);
	rl_bins_push(&a, 10, 20, 5);
	rl_bins_push(&b, 0, 20, 10);
	assert_int_equal(rl_stats_mann_whitney(&a, &b, &mw), 0);
	/* One tie group of 20: U = n1*n2/2. */
	assert_true(mw.u == 50 && mw.p == 1);
	rl_bins_free(&a);
	rl_bins_free(&b);
}

static void test_normal_sf(void **state)
{
	assert_true(fabs(rl_stats_normal_sf(0) - 0.5) < 1e-15);
	assert_true(fabs(rl_stats_normal_sf(RL_Z_95) - 0.025) < 1e-9);
	assert_true(fabs(rl_stats_normal_sf(RL_Z_975) - 0.0125) < 1e-9);
	assert_true(fabs(rl_stats_normal_sf(-RL_Z_95) - 0.975) < 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_estimate_matches_hist_quantile),
		cmocka_unit_test(test_quantile_edge_cases),
		cmocka_unit_test(test_min_samples),
		cmocka_unit_test(test_quantile_ci_coverage),
		cmocka_unit_test(test_ratio_ci_coverage),
		cmocka_unit_test(test_ratio_arithmetic),
		cmocka_unit_test(test_mann_whitney_definition),
		cmocka_unit_test(test_mann_whitney_identical_and_shifted),
		cmocka_unit_test(test_mann_whitney_null_calibration),
		cmocka_unit_test(test_mann_whitney_mixed_resolution),
		cmocka_unit_test(test_normal_sf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
