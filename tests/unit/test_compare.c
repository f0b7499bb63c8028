// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `reqlens compare` on synthetic windows with known answers: identical,
 * shifted 2x, too small; status codes folded into routes; the warnings; the
 * table's exact text; the JSON read back; the exit codes of the command.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "compare.h"
#include "report.h"

#define LAYOUT_OURS "log-linear/v1/ns/sub5/1217"
#define T0_MS 1700000000000.0

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

/* Log-normal latency: median 1 ms times scale, sigma 0.5. */
static uint64_t next_latency(uint64_t *state, double scale)
{
	double u1 = next_unit(state), u2 = next_unit(state);

	return (uint64_t)llround(scale * 1e6 * exp(0.5 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2)));
}

static void draw(struct rl_hist *h, uint64_t *seed, int n, double scale)
{
	memset(h, 0, sizeof(*h));
	for (int i = 0; i < n; i++)
		rl_hist_observe(h, next_latency(seed, scale));
}

static void win_init(struct rl_window *w, double secs, const char *version)
{
	memset(w, 0, sizeof(*w));
	w->source = strdup("synthetic");
	w->host = strdup("node-1");
	w->agent_version = strdup(version);
	w->layout = strdup(LAYOUT_OURS);
	w->start_ms = T0_MS;
	w->end_ms = T0_MS + secs * 1000;
}

/* A series of the HTTP metric for route /x with this status, from h. */
static struct rl_series *win_add(struct rl_window *w, const char *route, const char *status,
				 const struct rl_hist *h)
{
	struct rl_series *s;

	w->series = realloc(w->series, (w->nseries + 1) * sizeof(*s));
	assert_non_null(w->series);
	w->cap = w->nseries + 1;
	s = &w->series[w->nseries++];
	memset(s, 0, sizeof(*s));
	s->metric = strdup("http_server_request_duration_seconds");
	assert_int_equal(rl_labels_set(&s->labels, "service_name", "api"), 0);
	assert_int_equal(rl_labels_set(&s->labels, "server_port", "8080"), 0);
	assert_int_equal(rl_labels_set(&s->labels, "http_request_method", "GET"), 0);
	assert_int_equal(rl_labels_set(&s->labels, "http_route", route), 0);
	assert_int_equal(rl_labels_set(&s->labels, "http_response_status_code", status), 0);
	rl_bins_init(&s->bins);
	assert_int_equal(rl_bins_from_hist(&s->bins, h), 0);
	s->count = (double)h->count;
	s->sum_ns = (double)h->sum_ns;
	return s;
}

static const struct rl_cmp_opts no_gate = { .fail_if_slower_pct = NAN };

/* Two windows of one series each, drawn at these sizes and scales. */
static void run(struct rl_cmp *c, struct rl_window *b, struct rl_window *a, int nb, double sb, int na,
		double sa, uint64_t seed)
{
	static struct rl_hist h;
	char err[256];

	win_init(b, 60, "0.1.0");
	win_init(a, 60, "0.1.0");
	draw(&h, &seed, nb, sb);
	win_add(b, "/x", "200", &h);
	draw(&h, &seed, na, sa);
	win_add(a, "/x", "200", &h);
	assert_int_equal(rl_compare(b, a, &no_gate, c, err, sizeof(err)), 0);
	assert_int_equal((int)c->n, 1);
}

static void done(struct rl_cmp *c, struct rl_window *b, struct rl_window *a)
{
	rl_cmp_free(c);
	rl_window_free(b);
	rl_window_free(a);
}

static bool has_warning(const struct rl_warnings *w, const char *code)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->v[i].code, code))
			return true;
	return false;
}

static void test_identical(void **state)
{
	static struct rl_hist h;
	struct rl_window b, a;
	struct rl_cmp c;
	uint64_t seed = 3;
	char err[256];

	/* One histogram on both sides. */
	win_init(&b, 60, "0.1.0");
	win_init(&a, 60, "0.1.0");
	draw(&h, &seed, 5000, 1);
	win_add(&b, "/x", "200", &h);
	win_add(&a, "/x", "200", &h);
	assert_int_equal(rl_compare(&b, &a, &no_gate, &c, err, sizeof(err)), 0);
	assert_int_equal(c.series[0].verdict, RL_NO_CHANGE);
	assert_true(c.series[0].mw.p == 1);
	for (int i = 0; i < RL_CMP_NQ; i++)
		assert_true(c.series[0].q[i].change.ratio == 1);
	assert_int_equal((int)c.series[0].warnings.n, 1);	/* p99.9 wants 10000 */
	done(&c, &b, &a);
}

static void test_same_distribution(void **state)
{
	struct rl_window b, a;
	struct rl_cmp c;

	run(&c, &b, &a, 5000, 1, 5000, 1, 11);
	assert_int_equal(c.series[0].verdict, RL_NO_CHANGE);
	assert_true(fabs(c.series[0].q[RL_CMP_HEADLINE].change.ratio - 1) < 0.05);
	done(&c, &b, &a);
}

static void test_twice_slower(void **state)
{
	struct rl_window b, a;
	struct rl_cmp c;
	const struct rl_ratio *r;

	run(&c, &b, &a, 2000, 1, 2000, 2, 21);
	r = &c.series[0].q[RL_CMP_HEADLINE].change;
	assert_int_equal(c.series[0].verdict, RL_SLOWER);
	assert_true(r->ratio > 1.9 && r->ratio < 2.1);
	assert_true(r->lo > 1 && r->lo <= 2 && r->hi >= 2);	/* excludes 0, covers +100% */
	assert_true(c.series[0].mw.z > 0 && c.series[0].mw.p < 1e-10);
	done(&c, &b, &a);

	run(&c, &b, &a, 2000, 2, 2000, 1, 22);
	r = &c.series[0].q[RL_CMP_HEADLINE].change;
	assert_int_equal(c.series[0].verdict, RL_FASTER);
	assert_true(r->ratio > 0.45 && r->ratio < 0.55);
	done(&c, &b, &a);
}

static void test_not_enough_data(void **state)
{
	struct rl_window b, a;
	struct rl_cmp c;

	/* Even a 2x shift: 50 requests cannot support a p95. */
	run(&c, &b, &a, 50, 1, 50, 2, 31);
	assert_int_equal(c.series[0].verdict, RL_NOT_ENOUGH_DATA);
	assert_true(c.series[0].q[RL_CMP_HEADLINE].few_before);
	assert_true(has_warning(&c.series[0].warnings, "few_samples"));
	done(&c, &b, &a);
	/* 199 is one short. */
	run(&c, &b, &a, 199, 1, 5000, 2, 32);
	assert_int_equal(c.series[0].verdict, RL_NOT_ENOUGH_DATA);
	done(&c, &b, &a);
}

static void test_status_codes_fold(void **state)
{
	static struct rl_hist h200, h500;
	struct rl_window b, a;
	struct rl_cmp c;
	uint64_t seed = 41;
	char err[256];

	win_init(&b, 100, "0.1.0");
	win_init(&a, 100, "0.1.0");
	draw(&h200, &seed, 950, 1);
	draw(&h500, &seed, 50, 5);
	win_add(&b, "/x", "200", &h200);
	win_add(&b, "/x", "500", &h500);
	win_add(&a, "/x", "200", &h200);
	win_add(&a, "/x", "404", &h500);
	assert_int_equal(rl_compare(&b, &a, &no_gate, &c, err, sizeof(err)), 0);
	assert_int_equal((int)c.n, 1);
	assert_null(strstr(c.series[0].key, "status"));
	assert_true(c.series[0].before.count == 1000 && c.series[0].after.count == 1000);
	assert_true(c.series[0].before.errors == 50 && c.series[0].before.error_rate == 0.05);
	assert_true(c.series[0].after.errors == 0);	/* 404 is not a server error */
	assert_true(c.series[0].before.rate == 10);
	/* The same latencies, whatever the status: nothing changed. */
	assert_true(c.series[0].q[RL_CMP_HEADLINE].change.ratio == 1);
	done(&c, &b, &a);
}

static void test_warnings(void **state)
{
	static struct rl_hist h;
	struct rl_window b, a;
	struct rl_cmp c;
	uint64_t seed = 51;
	char err[256];

	win_init(&b, 60, "0.1.0");
	win_init(&a, 30, "0.2.0");	/* the same count in half the time: twice the rate */
	b.events_lost = 3;
	b.events_lost_detail = strdup("ringbuf_full=3");
	draw(&h, &seed, 500, 1);
	win_add(&b, "/x", "200", &h);
	win_add(&b, "/only-before", "200", &h);
	win_add(&a, "/x", "200", &h);
	win_add(&a, "/only-after", "200", &h);
	assert_int_equal(rl_compare(&b, &a, &no_gate, &c, err, sizeof(err)), 0);
	assert_true(has_warning(&c.series[0].warnings, "rate_mismatch"));
	assert_true(has_warning(&c.series[0].warnings, "few_samples"));	/* p99 wants 1000 */
	assert_true(has_warning(&c.warnings, "events_lost"));
	assert_true(has_warning(&c.warnings, "agent_version"));
	assert_true(has_warning(&c.warnings, "unmatched_series"));
	assert_false(has_warning(&c.warnings, "host"));
	assert_int_equal((int)c.n_only_before, 1);
	assert_int_equal((int)c.n_only_after, 1);
	assert_non_null(strstr(c.only_before[0].key, "/only-before"));
	assert_true(fabs(c.series[0].rate_change - 1) < 1e-12);
	done(&c, &b, &a);
}

static void test_refusals(void **state)
{
	static struct rl_hist h;
	struct rl_window b, a;
	struct rl_cmp c;
	uint64_t seed = 61;
	char err[256];

	win_init(&b, 60, "0.1.0");
	win_init(&a, 60, "0.1.0");
	draw(&h, &seed, 500, 1);
	win_add(&b, "/x", "200", &h);
	win_add(&a, "/x", "200", &h);
	free(a.layout);
	a.layout = strdup("log-linear/v2/ns/sub6/2433");
	assert_int_equal(rl_compare(&b, &a, &no_gate, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "different bucket layouts"));
	rl_cmp_free(&c);
	free(a.layout);
	a.layout = strdup(LAYOUT_OURS);
	for (size_t i = 0; i < a.series[0].labels.n; i++) {
		struct rl_kv *kv = &a.series[0].labels.kv[i];

		if (!strcmp(kv->name, "http_route")) {
			free(kv->value);
			kv->value = strdup("/y");
		}
	}
	assert_int_equal(rl_compare(&b, &a, &no_gate, &c, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "in both windows"));
	done(&c, &b, &a);
}

static void test_selector(void **state)
{
	struct rl_labels l = { 0 };
	char err[256];

	assert_int_equal(rl_parse_selector(" { service_name = \"a\\\"b\", server_port=\"80\" } ", &l, err,
					   sizeof(err)), 0);
	assert_int_equal((int)l.n, 2);
	assert_string_equal(rl_labels_get(&l, "service_name"), "a\"b");
	rl_labels_free(&l);
	assert_int_equal(rl_parse_selector("{}", &l, err, sizeof(err)), 0);
	assert_int_equal(rl_parse_selector("{a=~\"x\"}", &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "only name=\"value\""));
	rl_labels_free(&l);
	assert_int_equal(rl_parse_selector("service_name=\"a\"", &l, err, sizeof(err)), -EINVAL);
	assert_int_equal(rl_parse_selector("{a=\"x\"", &l, err, sizeof(err)), -EINVAL);
	rl_labels_free(&l);
}

static void test_fmt_duration(void **state)
{
	static const struct { double ns; const char *want; } cases[] = {
		{ 850e6, "850ms" }, { 59.14e6, "59.1ms" }, { 312e3, "312us" }, { 999.7e3, "1.00ms" },
		{ 1.234e9, "1.23s" }, { 42, "42.0ns" }, { 5e6, "5.00ms" }, { 99.96e6, "100ms" },
		{ NAN, "-" }, { INFINITY, "inf" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(rl_fmt_duration(buf, sizeof(buf), cases[i].ns), cases[i].want);
	assert_string_equal(rl_fmt_rate(buf, sizeof(buf), 0.5), "0.50/s");
	assert_string_equal(rl_fmt_rate(buf, sizeof(buf), 34.21), "34.2/s");
	assert_string_equal(rl_fmt_rate(buf, sizeof(buf), 12345.4), "12345/s");
}

/*
 * A small case by hand: 300 requests around 1 ms before, the same buckets
 * one octave up after (index + 32 is exactly twice the value), so every
 * ratio is exactly 2.
 */
static void fixed_case(struct rl_window *b, struct rl_window *a, struct rl_cmp *c)
{
	static struct rl_hist hb, ha;
	uint32_t k = rl_hist_bucket(1000000);
	static const uint64_t counts[] = { 100, 150, 40, 0, 0, 10 };
	char err[256];

	memset(&hb, 0, sizeof(hb));
	memset(&ha, 0, sizeof(ha));
	for (uint32_t i = 0; i < 6; i++) {
		rl_hist_add(&hb, k + i, counts[i]);
		rl_hist_add(&ha, k + i + RL_HIST_SUB, counts[i]);
	}
	win_init(b, 60, "0.1.0");
	win_init(a, 60, "0.1.0");
	rl_labels_set(&b->labels, "build", "41");
	rl_labels_set(&a->labels, "build", "42");
	win_add(b, "/x", "200", &hb);
	win_add(a, "/x", "200", &ha);
	assert_int_equal(rl_compare(b, a, &(struct rl_cmp_opts){ .fail_if_slower_pct = 5,
		.before_name = "before.json", .after_name = "after.json" }, c, err, sizeof(err)), 0);
}

static const char expected_table[] =
	"reqlens compare: before.json -> after.json\n"
	"  before  before.json: host node-1, agent 0.1.0, 2023-11-14T22:13:20Z + 60.0s, labels build=41\n"
	"  after   after.json: host node-1, agent 0.1.0, 2023-11-14T22:13:20Z + 60.0s, labels build=42\n"
	"\n"
	"http_server_request_duration_seconds{http_request_method=\"GET\",http_route=\"/x\",server_port=\"8080\",service_name=\"api\"}\n"
	"  slower: p95 +100.0%, 95% CI [+80.0%, +122.2%]; Mann-Whitney p = 6.8e-104\n"
	"            before                       after                        change\n"
	"  requests  300 (5.00/s)                 300 (5.00/s)                 +0.0%\n"
	"  errors    0.00% (0)                    0.00% (0)\n"
	"         before   95% CI              after    95% CI              change   95% CI              ratio\n"
	"  p50    1.02ms   [1.02ms, 1.03ms]    2.04ms   [2.03ms, 2.06ms]    +100.0%  [+96.8%, +103.2%]   x2.00\n"
	"  p90    1.04ms   [1.03ms, 1.05ms]    2.08ms   [2.06ms, 2.10ms]    +100.0%  [+96.9%, +103.2%]   x2.00\n"
	"  p95    1.05ms   [1.03ms, 1.15ms]    2.09ms   [2.06ms, 2.29ms]    +100.0%  [+80.0%, +122.2%]   x2.00\n"
	"  p99    1.14ms   [1.11ms, inf]       2.27ms   [2.23ms, inf]       +100.0%  [-100.0%, +inf%]    x2.00  (few samples)\n"
	"  p99.9  1.15ms   [1.11ms, inf]       2.29ms   [2.23ms, inf]       +100.0%  [-100.0%, +inf%]    x2.00  (few samples)\n"
	"  warning: p99 needs >= 1000 requests per window (before 300, after 300): shown, but not to be trusted\n"
	"  warning: p99.9 needs >= 10000 requests per window (before 300, after 300): shown, but not to be trusted\n"
	"\n"
	"Verdict rule: \"not enough data\" when either window has fewer than 200 requests (10/(1-q) for the headline quantile p95); \"faster\"/\"slower\" when the 95% confidence interval of the p95 change excludes 0 AND the Mann-Whitney U test gives p < 0.01; otherwise \"no significant change\".\n"
	"Gate (--fail-if-slower=5%): FAILED\n";

static void test_table_text(void **state)
{
	struct rl_window b, a;
	struct rl_cmp c;
	struct rl_buf out;

	fixed_case(&b, &a, &c);
	rl_buf_init(&out);
	assert_int_equal(rl_report_table(&c, &out), 0);
	if (strcmp(out.data, expected_table)) {
		/* Line by line: cmocka truncates long messages. */
		print_message("table differs; got:\n");
		for (char *line = strtok(out.data, "\n"); line; line = strtok(NULL, "\n"))
			print_message("%s\n", line);
		fail();
	}
	rl_buf_free(&out);
	done(&c, &b, &a);
}

static struct json_object *jpath(struct json_object *o, const char *k1, const char *k2)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, k1, &v));
	if (k2)
		assert_true(json_object_object_get_ex(v, k2, &v));
	return v;
}

static void test_json_round_trip(void **state)
{
	struct json_object *o, *s, *q95, *ci;
	struct rl_window b, a;
	struct rl_cmp c;
	struct rl_buf out;
	char err[256];

	fixed_case(&b, &a, &c);
	rl_buf_init(&out);
	assert_int_equal(rl_report_json(&c, &out), 0);
	assert_int_equal(rl_json_parse(out.data, out.len, &o, err, sizeof(err)), 0);
	assert_string_equal(json_object_get_string(jpath(o, "format", NULL)), "reqlens-compare");
	assert_string_equal(json_object_get_string(jpath(o, "verdict_rule", NULL)), RL_VERDICT_RULE);
	assert_true(json_object_get_boolean(jpath(o, "gate", "failed")));
	s = json_object_array_get_idx(jpath(o, "series", NULL), 0);
	assert_string_equal(json_object_get_string(jpath(s, "verdict", NULL)), "slower");
	assert_int_equal((int)json_object_array_length(jpath(s, "quantiles", NULL)), RL_CMP_NQ);
	q95 = json_object_array_get_idx(jpath(s, "quantiles", NULL), RL_CMP_HEADLINE);
	assert_string_equal(json_object_get_string(jpath(q95, "name", NULL)), "p95");
	/* Every number as computed, to the last bit (shortest round-trip form). */
	assert_true(json_object_get_double(jpath(q95, "before", "value_s")) ==
		    c.series[0].q[RL_CMP_HEADLINE].before.value / 1e9);
	assert_true(json_object_get_double(jpath(q95, "change_pct", NULL)) == 100);
	ci = jpath(q95, "change_pct_ci95", NULL);
	assert_true(json_object_get_double(json_object_array_get_idx(ci, 0)) ==
		    (c.series[0].q[RL_CMP_HEADLINE].change.lo - 1) * 100);
	/* An open interval's bound is null, not a made-up number. */
	ci = jpath(json_object_array_get_idx(jpath(s, "quantiles", NULL), 3), "after", "ci95_s");
	assert_true(json_object_is_type(json_object_array_get_idx(ci, 1), json_type_null));
	assert_false(json_object_get_boolean(jpath(json_object_array_get_idx(jpath(s, "quantiles", NULL), 3),
						   "after", "enough_samples")));
	assert_true(json_object_get_double(jpath(s, "before", "count")) == 300);
	assert_true(json_object_is_type(jpath(s, "before", "errors"), json_type_double) ||
		    json_object_is_type(jpath(s, "before", "errors"), json_type_int));
	assert_int_equal((int)json_object_array_length(jpath(s, "warnings", NULL)), 2);
	json_object_put(o);
	rl_buf_free(&out);
	done(&c, &b, &a);
}

/* ------------------------------------------------------------ the command */

/* A snapshot file with one series of n draws at this scale. */
static void write_snapshot(const char *path, int n, double scale, uint64_t seed, int lost)
{
	static struct rl_hist h;
	FILE *f = fopen(path, "w");
	bool first = true;

	assert_non_null(f);
	draw(&h, &seed, n, scale);
	fprintf(f, "{\"format\":\"reqlens-snapshot\",\"format_version\":1,\"source\":\"x\",\"host\":\"n\","
		"\"agent\":{\"version\":\"0.1.0\",\"start_time_ms\":1},"
		"\"window\":{\"start_ms\":1000,\"end_ms\":61000,\"seconds\":60},"
		"\"layout\":{\"name\":\"log-linear\",\"version\":1,\"unit\":\"ns\",\"sub_bucket_bits\":5,"
		"\"buckets\":1217},\"labels\":{},\"histograms\":[{\"name\":"
		"\"reqlens_request_duration_seconds\",\"labels\":{\"service_name\":\"db\",\"server_port\":"
		"\"5432\",\"protocol\":\"postgresql\"},\"count\":%llu,\"sum_ns\":%llu,\"buckets\":[",
		(unsigned long long)h.count, (unsigned long long)h.sum_ns);
	for (uint32_t k = 0; k < RL_HIST_NBUCKETS; k++) {
		if (!h.buckets[k])
			continue;
		fprintf(f, "%s[%u,%llu]", first ? "" : ",", k, (unsigned long long)h.buckets[k]);
		first = false;
	}
	fprintf(f, "]}],\"counters\":[{\"name\":\"reqlens_events_lost_total\",\"labels\":"
		"{\"reason\":\"ringbuf_full\"},\"value\":%d}]}\n", lost);
	fclose(f);
}

/* rl_compare_main with stdout and stderr silenced; its exit status. */
static int run_main(int argc, const char **argv)
{
	int out = dup(1), errfd = dup(2), null = open("/dev/null", O_WRONLY), rc;

	fflush(stdout);
	fflush(stderr);
	dup2(null, 1);
	dup2(null, 2);
	rc = rl_compare_main(argc, (char **)argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, 1);
	dup2(errfd, 2);
	close(out);
	close(errfd);
	close(null);
	return rc;
}

static void test_exit_codes(void **state)
{
	char dir[] = "/tmp/rl-cmp-XXXXXX", b[64], a[64], same[64], html[64];

	assert_non_null(mkdtemp(dir));
	snprintf(b, sizeof(b), "%s/b.json", dir);
	snprintf(a, sizeof(a), "%s/a.json", dir);
	snprintf(same, sizeof(same), "%s/same.json", dir);
	snprintf(html, sizeof(html), "%s/r.html", dir);
	write_snapshot(b, 3000, 1, 1, 0);
	write_snapshot(a, 3000, 1.5, 2, 2);	/* 50% slower */
	write_snapshot(same, 3000, 1, 1, 0);
	{
		const char *argv[] = { "compare", b, a, "--fail-if-slower=5%", "--html", html };

		assert_int_equal(run_main(6, argv), 3);
		assert_int_equal(access(html, R_OK), 0);
	}
	{
		const char *argv[] = { "compare", b, a, "--fail-if-slower", "80" };

		assert_int_equal(run_main(5, argv), 0);	/* slower, but by less than 80% */
	}
	{
		const char *argv[] = { "compare", b, same, "--fail-if-slower=0%", "--format", "json" };

		assert_int_equal(run_main(6, argv), 0);
	}
	{
		const char *argv[] = { "compare", b, a, "--metric", "http_server_request_duration_seconds" };

		assert_int_equal(run_main(5, argv), 1);	/* nothing of that metric in both */
	}
	{
		const char *argv[][4] = {
			{ "compare", b, NULL }, { "compare", b, a, "--format=xml" },
			{ "compare", b, a, "--fail-if-slower=-3%" }, { "compare", b, a, "--bogus" },
			{ "compare", b, a, "--selector={a=~\"x\"}" }, { "compare", b, a, "c.json" },
		};
		const int argc[] = { 2, 4, 4, 4, 4, 4 };

		for (size_t i = 0; i < sizeof(argc) / sizeof(argc[0]); i++)
			assert_int_equal(run_main(argc[i], argv[i]), 2);
	}
	{
		const char *argv[] = { "compare", b, "/nonexistent.json" };

		assert_int_equal(run_main(3, argv), 1);
	}
	unlink(b);
	unlink(a);
	unlink(same);
	unlink(html);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_same_distribution),
		cmocka_unit_test(test_twice_slower),
		cmocka_unit_test(test_not_enough_data),
		cmocka_unit_test(test_status_codes_fold),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_selector),
		cmocka_unit_test(test_fmt_duration),
		cmocka_unit_test(test_table_text),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_exit_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
