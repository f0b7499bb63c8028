// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The exposition: exact Prometheus text and JSON for small registries, and the escaping. */
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

#include "expo.h"

/* Fails with both texts shown, which beats a bare strcmp on a long document. */
#define assert_text(got, want)                                                          \
	do {                                                                              \
		if (strcmp((got), (want)))                                                \
			fail_msg("text differs\n--- got ---\n%s--- want ---\n%s", (got), (want)); \
	} while (0)

struct fixture {
	struct rl_registry *r;
	struct rl_buf out;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->r = rl_registry_new();
	rl_buf_init(&fx->out);
	*state = fx;
	return fx->r ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	rl_registry_free(fx->r);
	rl_buf_free(&fx->out);
	free(fx);
	return 0;
}

/* s escaped as a label value, in dst. */
static const char *label(char *dst, size_t size, const char *s)
{
	struct rl_buf b;

	rl_buf_init(&b);
	rl_expo_escape_label(&b, s);
	snprintf(dst, size, "%s", b.data ? b.data : "");
	rl_buf_free(&b);
	return dst;
}

static void test_text_exact(void **state)
{
	struct fixture *fx = *state;
	struct rl_le_set *le = malloc(sizeof(*le));
	const char *get[] = { "method", "GET", "v", "a\"b\\c\nd\xff" "e", NULL };
	const char *post[] = { "method", "POST", "v", "ok", NULL };
	const char *svc[] = { "service", "svc", NULL };
	struct rl_family *f;
	struct rl_sample *s;

	f = rl_family_get(fx->r, "reqlens_test_requests_total", "Requests, with \\ and\nnewline.",
			  RL_COUNTER);
	rl_sample_get(f, get)->value = 3;
	rl_sample_get(f, post)->value = 1.5;
	/* No samples: not exposed at all. */
	rl_family_get(fx->r, "reqlens_test_unused_total", "Unused.", RL_COUNTER);
	f = rl_family_get(fx->r, "reqlens_test_up", "Up.", RL_GAUGE);
	rl_sample_get(f, NULL)->value = 1;
	f = rl_family_get(fx->r, "reqlens_test_latency_seconds", "Latency.", RL_HISTOGRAM);
	s = rl_sample_get(f, svc);
	rl_hist_observe(s->hist, 1000);
	rl_hist_observe(s->hist, 16384);	/* on the first edge: counted in it */
	rl_hist_observe(s->hist, 16385);
	rl_hist_observe(s->hist, 50000);
	rl_hist_observe(s->hist, 1000000000);	/* beyond the last edge: +Inf only */
	f = rl_family_get(fx->r, "reqlens_test_bare_seconds", NULL, RL_HISTOGRAM);
	rl_sample_get(f, NULL);

	assert_int_equal(rl_le_set_init(le, 1, 16384, 65536, NULL), 0);
	assert_int_equal(le->n, 3);
	assert_int_equal(rl_expo_text(fx->r, le, &fx->out), 0);
	assert_text(fx->out.data,
		    "# HELP reqlens_test_requests_total Requests, with \\\\ and\\nnewline.\n"
		    "# TYPE reqlens_test_requests_total counter\n"
		    "reqlens_test_requests_total{method=\"GET\",v=\"a\\\"b\\\\c\\nd\xef\xbf\xbd" "e\"} 3\n"
		    "reqlens_test_requests_total{method=\"POST\",v=\"ok\"} 1.5\n"
		    "# HELP reqlens_test_up Up.\n"
		    "# TYPE reqlens_test_up gauge\n"
		    "reqlens_test_up 1\n"
		    "# HELP reqlens_test_latency_seconds Latency.\n"
		    "# TYPE reqlens_test_latency_seconds histogram\n"
		    "reqlens_test_latency_seconds_bucket{service=\"svc\",le=\"0.000016384\"} 2\n"
		    "reqlens_test_latency_seconds_bucket{service=\"svc\",le=\"0.000032768\"} 3\n"
		    "reqlens_test_latency_seconds_bucket{service=\"svc\",le=\"0.000065536\"} 4\n"
		    "reqlens_test_latency_seconds_bucket{service=\"svc\",le=\"+Inf\"} 5\n"
		    "reqlens_test_latency_seconds_sum{service=\"svc\"} 1.000083769\n"
		    "reqlens_test_latency_seconds_count{service=\"svc\"} 5\n"
		    "# TYPE reqlens_test_bare_seconds histogram\n"
		    "reqlens_test_bare_seconds_bucket{le=\"0.000016384\"} 0\n"
		    "reqlens_test_bare_seconds_bucket{le=\"0.000032768\"} 0\n"
		    "reqlens_test_bare_seconds_bucket{le=\"0.000065536\"} 0\n"
		    "reqlens_test_bare_seconds_bucket{le=\"+Inf\"} 0\n"
		    "reqlens_test_bare_seconds_sum 0\n"
		    "reqlens_test_bare_seconds_count 0\n");
	assert_int_equal(fx->out.len, strlen(fx->out.data));
	free(le);
}

static void test_text_numbers(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *name;
		double v;
	} cases[] = {
		{ "zero", 0 },
		{ "minus_zero", -0.0 },
		{ "int", 123456789 },
		{ "negative", -42 },
		{ "big_int", 4503599627370496.0 },	/* 2^52: still printed in full */
		{ "huge", 1e20 },
		{ "tenth", 0.1 },
		{ "third", 1.0 / 3 },
		{ "tiny", 1.5e-7 },
		{ "nan", NAN },
		{ "pinf", INFINITY },
		{ "minf", -INFINITY },
	};
	struct rl_family *f = rl_family_get(fx->r, "n", "N.", RL_GAUGE);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *kv[] = { "case", cases[i].name, NULL };

		rl_sample_get(f, kv)->value = cases[i].v;
	}
	assert_int_equal(rl_expo_text(fx->r, NULL, &fx->out), 0);
	assert_text(fx->out.data,
		    "# HELP n N.\n"
		    "# TYPE n gauge\n"
		    "n{case=\"zero\"} 0\n"
		    "n{case=\"minus_zero\"} 0\n"
		    "n{case=\"int\"} 123456789\n"
		    "n{case=\"negative\"} -42\n"
		    "n{case=\"big_int\"} 4503599627370496\n"
		    "n{case=\"huge\"} 1e+20\n"
		    "n{case=\"tenth\"} 0.1\n"
		    "n{case=\"third\"} 0.3333333333333333\n"
		    "n{case=\"tiny\"} 1.5e-07\n"
		    "n{case=\"nan\"} NaN\n"
		    "n{case=\"pinf\"} +Inf\n"
		    "n{case=\"minf\"} -Inf\n");
}

static void test_text_seconds(void **state)
{
	struct fixture *fx = *state;
	struct rl_family *f = rl_family_get(fx->r, "h_seconds", "H.", RL_HISTOGRAM);
	struct rl_le_set *le = malloc(sizeof(*le));
	struct rl_sample *s = rl_sample_get(f, NULL);

	/* Whole seconds print without a point; sums past 2^53 ns keep every digit. */
	assert_int_equal(rl_le_set_init(le, 1, (uint64_t)1 << 40, (uint64_t)1 << 42, NULL), 0);
	s->hist->sum_ns = UINT64_MAX;
	assert_int_equal(rl_expo_text(fx->r, le, &fx->out), 0);
	assert_text(fx->out.data,
		    "# HELP h_seconds H.\n"
		    "# TYPE h_seconds histogram\n"
		    "h_seconds_bucket{le=\"1099.511627776\"} 0\n"
		    "h_seconds_bucket{le=\"2199.023255552\"} 0\n"
		    "h_seconds_bucket{le=\"4398.046511104\"} 0\n"
		    "h_seconds_bucket{le=\"+Inf\"} 0\n"
		    "h_seconds_sum 18446744073.709551615\n"
		    "h_seconds_count 0\n");

	/* Without a set of edges, only +Inf. */
	rl_buf_free(&fx->out);
	s->hist->sum_ns = 3000000000u;
	rl_hist_add(s->hist, 3, 2);
	assert_int_equal(rl_expo_text(fx->r, NULL, &fx->out), 0);
	assert_text(fx->out.data,
		    "# HELP h_seconds H.\n"
		    "# TYPE h_seconds histogram\n"
		    "h_seconds_bucket{le=\"+Inf\"} 2\n"
		    "h_seconds_sum 3\n"
		    "h_seconds_count 2\n");
	free(le);
}

static void test_le_round_trips(void **state)
{
	struct fixture *fx = *state;
	struct rl_family *f = rl_family_get(fx->r, "h_seconds", "H.", RL_HISTOGRAM);
	struct rl_le_set *le = malloc(sizeof(*le));
	const char *p;
	uint32_t i = 0;

	rl_sample_get(f, NULL);
	assert_int_equal(rl_le_set_init(le, 32, 1 << 11, (uint64_t)1 << 42, NULL), 0);
	assert_int_equal(rl_expo_text(fx->r, le, &fx->out), 0);
	/* Every le parses back to exactly the edge in seconds. */
	for (p = fx->out.data; (p = strstr(p, "le=\"")) && i < le->n; i++) {
		char *end;
		double v = strtod(p + 4, &end);

		assert_true(v == (double)le->le_ns[i] / 1e9);
		assert_int_equal(*end, '"');
		p = end;
	}
	assert_int_equal(i, le->n);
	free(le);
}

static void test_escape_label(void **state)
{
	char tmp[64];

	assert_string_equal(label(tmp, sizeof(tmp), ""), "");
	assert_string_equal(label(tmp, sizeof(tmp), "plain"), "plain");
	assert_string_equal(label(tmp, sizeof(tmp), "q\"b\\n\n"), "q\\\"b\\\\n\\n");
	/* Tabs and other controls are legal in label values. */
	assert_string_equal(label(tmp, sizeof(tmp), "a\tb\rc"), "a\tb\rc");
}

static void test_escape_utf8(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		/* Well-formed: kept byte for byte, at each edge of table 3-7. */
		{ "\xc2\x80", "\xc2\x80" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "\xe0\xa0\x80", "\xe0\xa0\x80" },
		{ "\xe2\x82\xac", "\xe2\x82\xac" },
		{ "\xed\x9f\xbf", "\xed\x9f\xbf" },		/* U+D7FF */
		{ "\xee\x80\x80", "\xee\x80\x80" },		/* U+E000 */
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
		{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },	/* U+10FFFF */
		/* A lone continuation byte, bytes never allowed. */
		{ "a\x80" "b", "a\xef\xbf\xbd" "b" },
		{ "\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd" },
		/* Overlongs: C0/C1 leads, E0 80..9F, F0 80..8F. */
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xc1\xbf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf0\x80\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		/* Surrogates. */
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xbf\xbf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		/* Beyond U+10FFFF. */
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf5\x80\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		/* Truncated: one U+FFFD for the whole prefix, and the next character survives. */
		{ "\xe2\x82", "\xef\xbf\xbd" },
		{ "\xe2\x82" "A", "\xef\xbf\xbd" "A" },
		{ "\xf0\x9f\x98" "\"", "\xef\xbf\xbd\\\"" },
		{ "\xe2\x82\xe2\x82\xac", "\xef\xbf\xbd\xe2\x82\xac" },
		{ "x\xc3", "x\xef\xbf\xbd" },
	};

	char tmp[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(label(tmp, sizeof(tmp), cases[i].in), cases[i].out))
			fail_msg("case %zu: got \"%s\"", i, tmp);
}

static void test_escape_json(void **state)
{
	struct rl_buf b;

	rl_buf_init(&b);
	rl_expo_escape_json(&b, "a\"b\\c\nd\te\x01\x1f\x7f\xc3\xa9\xff/");
	assert_string_equal(b.data, "a\\\"b\\\\c\\u000ad\\u0009e\\u0001\\u001f\x7f\xc3\xa9\xef\xbf\xbd/");
	rl_buf_free(&b);
}

static void test_json_exact(void **state)
{
	struct fixture *fx = *state;
	const struct rl_expo_meta m = { .version = "1.2.3", .hostname = "h\"1",
					.time_ms = 1700000000123ULL, .start_time_ms = 1700000000000ULL };
	const char *svc[] = { "service", "svc", NULL };
	const char *ctl[] = { "v", "x\x01y\xc3", NULL };
	struct rl_family *f;
	struct rl_sample *s;

	f = rl_family_get(fx->r, "reqlens_test_latency_seconds", "Latency.", RL_HISTOGRAM);
	s = rl_sample_get(f, svc);
	rl_hist_observe(s->hist, 10);
	rl_hist_observe(s->hist, 10);
	rl_hist_observe(s->hist, (uint64_t)1 << 50);
	/* Gauges are not part of the document. */
	f = rl_family_get(fx->r, "reqlens_test_up", "Up.", RL_GAUGE);
	rl_sample_get(f, NULL)->value = 1;
	f = rl_family_get(fx->r, "reqlens_test_requests_total", "Requests.", RL_COUNTER);
	rl_sample_get(f, ctl)->value = 7;
	rl_sample_get(f, NULL)->value = 0.25;
	f = rl_family_get(fx->r, "reqlens_test_empty_seconds", "Empty.", RL_HISTOGRAM);
	rl_sample_get(f, NULL);

	assert_int_equal(rl_expo_json(fx->r, &m, &fx->out), 0);
	assert_text(fx->out.data,
		    "{\"format\":\"reqlens-histograms\",\"format_version\":1,"
		    "\"agent\":{\"version\":\"1.2.3\",\"hostname\":\"h\\\"1\","
		    "\"start_time_ms\":1700000000000},\"time_ms\":1700000000123,"
		    "\"layout\":{\"name\":\"log-linear\",\"version\":1,\"unit\":\"ns\","
		    "\"sub_bucket_bits\":5,\"buckets\":1217},"
		    "\"histograms\":["
		    "{\"name\":\"reqlens_test_latency_seconds\",\"labels\":{\"service\":\"svc\"},"
		    "\"count\":3,\"sum_ns\":1125899906842644,\"buckets\":[[9,2],[1216,1]]},"
		    "{\"name\":\"reqlens_test_empty_seconds\",\"labels\":{},"
		    "\"count\":0,\"sum_ns\":0,\"buckets\":[]}],"
		    "\"counters\":["
		    "{\"name\":\"reqlens_test_requests_total\",\"labels\":{\"v\":\"x\\u0001y\xef\xbf\xbd\"},"
		    "\"value\":7},"
		    "{\"name\":\"reqlens_test_requests_total\",\"labels\":{},\"value\":0.25}]}\n");
}

static void test_json_empty(void **state)
{
	struct fixture *fx = *state;
	const struct rl_expo_meta m = { 0 };

	assert_int_equal(rl_expo_json(fx->r, &m, &fx->out), 0);
	assert_text(fx->out.data,
		    "{\"format\":\"reqlens-histograms\",\"format_version\":1,"
		    "\"agent\":{\"version\":null,\"hostname\":null,\"start_time_ms\":0},\"time_ms\":0,"
		    "\"layout\":{\"name\":\"log-linear\",\"version\":1,\"unit\":\"ns\","
		    "\"sub_bucket_bits\":5,\"buckets\":1217},"
		    "\"histograms\":[],\"counters\":[]}\n");
	assert_int_equal(rl_expo_json(fx->r, NULL, &fx->out), -EINVAL);
}

static void test_text_empty_and_errors(void **state)
{
	struct fixture *fx = *state;
	struct rl_family *f = rl_family_get(fx->r, "c_total", "C.", RL_COUNTER);

	assert_int_equal(rl_expo_text(fx->r, NULL, &fx->out), 0);
	assert_int_equal(fx->out.len, 0);
	assert_int_equal(rl_expo_text(NULL, NULL, &fx->out), -EINVAL);

	rl_sample_get(f, NULL);
	/* A buffer that already failed makes the render fail. */
	fx->out.err = -ENOMEM;
	assert_int_equal(rl_expo_text(fx->r, NULL, &fx->out), -ENOMEM);
	assert_int_equal(rl_expo_json(fx->r, &(struct rl_expo_meta){ 0 }, &fx->out), -ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_seconds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_le_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_empty_and_errors, setup, teardown),
		cmocka_unit_test(test_escape_label),
		cmocka_unit_test(test_escape_utf8),
		cmocka_unit_test(test_escape_json),
		cmocka_unit_test_setup_teardown(test_json_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_empty, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
