// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `reqlens snapshot`: the difference of two agent documents (absent series,
 * restarts, layout changes, empty windows, the snapshot's own reads), the
 * file it writes read back, and the Prometheus and time parsing that
 * `compare --prometheus` uses.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "snapshot.h"

#define LAYOUT "{\"name\":\"log-linear\",\"version\":1,\"unit\":\"ns\",\"sub_bucket_bits\":5,\"buckets\":1217}"
#define LOST(n) "{\"name\":\"reqlens_events_lost_total\",\"labels\":{\"reason\":\"ringbuf_full\"},\"value\":" #n "}"

/* An agent document around the given histograms and counters. */
static struct json_object *agent_doc(uint64_t time_ms, uint64_t start_ms, const char *layout,
				     const char *hists, const char *ctrs)
{
	struct json_object *o;
	char *s, err[256];

	assert_true(asprintf(&s, "{\"format\":\"reqlens-histograms\",\"format_version\":1,"
			     "\"agent\":{\"version\":\"0.1.0\",\"hostname\":\"node-1\",\"start_time_ms\":%llu},"
			     "\"time_ms\":%llu,\"layout\":%s,\"histograms\":[%s],\"counters\":[%s]}",
			     (unsigned long long)start_ms, (unsigned long long)time_ms, layout, hists,
			     ctrs) > 0);
	assert_int_equal(rl_json_parse(s, strlen(s), &o, err, sizeof(err)), 0);
	free(s);
	return o;
}

#define HTTP(port, status, count, buckets)                                                     \
	"{\"name\":\"http_server_request_duration_seconds\",\"labels\":{\"service_name\":\"api\"," \
	"\"server_port\":\"" port "\",\"http_request_method\":\"GET\",\"http_route\":\"/x\","   \
	"\"http_response_status_code\":\"" status "\"},\"count\":" #count ",\"sum_ns\":1000,"    \
	"\"buckets\":" buckets "}"

#define OWN(count)                                                                             \
	"{\"name\":\"http_server_request_duration_seconds\",\"labels\":{\"service_name\":\"reqlens\"," \
	"\"server_port\":\"10470\",\"http_request_method\":\"GET\",\"http_route\":\"/api/v1/histograms\"," \
	"\"http_response_status_code\":\"200\"},\"count\":" #count ",\"sum_ns\":5,\"buckets\":[[500," #count "]]}"

static const struct rl_snapshot_opts opts = { .source = "http://h:10470/api/v1/histograms",
					      .own_port = 10470 };

static struct json_object *series0(struct json_object *snap)
{
	struct json_object *h;

	assert_true(json_object_object_get_ex(snap, "histograms", &h));
	return json_object_array_get_idx(h, 0);
}

static void test_diff_basic(void **state)
{
	struct json_object *d0, *d1, *out, *h, *b;
	char err[256];

	/* The 500 series appears only at the end: it counts from zero. */
	d0 = agent_doc(1000, 1, LAYOUT, HTTP("80", "200", 10, "[[400,4],[410,6]]") "," OWN(3), LOST(2));
	d1 = agent_doc(61000, 1, LAYOUT,
		       HTTP("80", "200", 25, "[[400,4],[405,5],[410,16]]") "," HTTP("80", "500", 2, "[[300,2]]")
		       "," OWN(5), LOST(2));
	assert_int_equal(rl_snapshot_diff(d0, d1, &opts, &out, err, sizeof(err)), 0);

	h = series0(out);
	assert_int_equal(json_object_get_int(json_object_object_get(h, "count")), 15);
	b = json_object_object_get(h, "buckets");
	/* Bucket 400 did not move: left out; 405 is new; 410 moved by 10. */
	assert_string_equal(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN), "[[405,5],[410,10]]");
	assert_int_equal(json_object_array_length(json_object_object_get(out, "histograms")), 2);
	/* The snapshot's own reads are not the workload. */
	assert_null(strstr(json_object_to_json_string(out), "/api/v1/histograms\""));
	/* A lost-events counter is kept even at 0: "nothing lost" is worth recording. */
	assert_non_null(strstr(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
			       "\"reason\":\"ringbuf_full\"},\"value\":0"));
	assert_int_equal(json_object_get_int(json_object_object_get(
		json_object_object_get(out, "window"), "end_ms")), 61000);
	assert_string_equal(json_object_get_string(json_object_object_get(out, "host")), "node-1");
	json_object_put(d0);
	json_object_put(d1);
	json_object_put(out);
}

static void expect_diff_error(struct json_object *d0, struct json_object *d1, int want, const char *needle)
{
	struct json_object *out = NULL;
	char err[512] = "";

	assert_int_equal(rl_snapshot_diff(d0, d1, &opts, &out, err, sizeof(err)), want);
	assert_null(out);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	assert_null(strchr(err, '\n'));
	json_object_put(d0);
	json_object_put(d1);
}

static void test_diff_errors(void **state)
{
	/* A bucket went down: the agent restarted. */
	expect_diff_error(agent_doc(1000, 1, LAYOUT, HTTP("80", "200", 10, "[[400,10]]"), ""),
			  agent_doc(2000, 1, LAYOUT, HTTP("80", "200", 12, "[[400,8],[401,4]]"), ""),
			  -ERANGE, "restarted");
	/* A bucket vanished. */
	expect_diff_error(agent_doc(1000, 1, LAYOUT, HTTP("80", "200", 10, "[[400,10]]"), ""),
			  agent_doc(2000, 1, LAYOUT, HTTP("80", "200", 12, "[[401,12]]"), ""),
			  -ERANGE, "restarted");
	/* A whole series vanished. */
	expect_diff_error(agent_doc(1000, 1, LAYOUT, HTTP("80", "200", 10, "[[400,10]]"), ""),
			  agent_doc(2000, 1, LAYOUT, HTTP("81", "200", 12, "[[401,12]]"), ""),
			  -ERANGE, "restarted");
	/* A counter went down. */
	expect_diff_error(agent_doc(1000, 1, LAYOUT, HTTP("80", "200", 1, "[[400,1]]"), LOST(5)),
			  agent_doc(2000, 1, LAYOUT, HTTP("80", "200", 2, "[[400,2]]"), LOST(1)),
			  -ERANGE, "went down");
	/* The agent's start time changed. */
	expect_diff_error(agent_doc(1000, 1, LAYOUT, HTTP("80", "200", 1, "[[400,1]]"), ""),
			  agent_doc(2000, 7, LAYOUT, HTTP("80", "200", 2, "[[400,2]]"), ""),
			  -ERANGE, "restarted");
	/* The layout changed. */
	expect_diff_error(agent_doc(1000, 1, LAYOUT, "", ""),
			  agent_doc(2000, 1, "{\"name\":\"log-linear\",\"version\":2,\"unit\":\"ns\","
				    "\"sub_bucket_bits\":6,\"buckets\":2433}", "", ""),
			  -EINVAL, "layout changed");
	/* Nothing but the snapshot's own reads happened. */
	expect_diff_error(agent_doc(1000, 1, LAYOUT, HTTP("80", "200", 10, "[[400,10]]") "," OWN(1), ""),
			  agent_doc(2000, 1, LAYOUT, HTTP("80", "200", 10, "[[400,10]]") "," OWN(2), ""),
			  -ENODATA, "no requests in the window");
}

static void test_check_agent(void **state)
{
	struct json_object *o;
	char err[256];
	static const char *const bad[] = {
		"[]",
		"{\"format\":\"something-else\",\"format_version\":1}",
		"{\"format\":\"reqlens-histograms\",\"format_version\":2}",
		"{\"format\":\"reqlens-histograms\",\"format_version\":1,\"agent\":{},\"time_ms\":1,"
		"\"layout\":" LAYOUT ",\"histograms\":[" HTTP("80", "200", 2, "[[401,1],[400,1]]") "],\"counters\":[]}",
		"{\"format\":\"reqlens-histograms\",\"format_version\":1,\"agent\":{},\"time_ms\":1,"
		"\"layout\":" LAYOUT ",\"histograms\":[" HTTP("80", "200", 1, "[[1217,1]]") "],\"counters\":[]}",
		"{\"format\":\"reqlens-histograms\",\"format_version\":1,\"agent\":{},\"time_ms\":1,"
		"\"layout\":" LAYOUT ",\"histograms\":[" HTTP("80", "200", 1, "[[5,-1]]") "],\"counters\":[]}",
	};

	o = agent_doc(1, 1, LAYOUT, HTTP("80", "200", 2, "[[400,1],[401,1]]"), LOST(0));
	assert_int_equal(rl_snapshot_check_agent(o, err, sizeof(err)), 0);
	json_object_put(o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(rl_json_parse(bad[i], strlen(bad[i]), &o, err, sizeof(err)), 0);
		assert_int_equal(rl_snapshot_check_agent(o, err, sizeof(err)), -EINVAL);
		json_object_put(o);
	}
}

static void test_json_parse(void **state)
{
	struct json_object *o;
	char err[256];

	assert_int_equal(rl_json_parse("{\"a\":1} \n", 9, &o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_int_equal(rl_json_parse("{\"a\":1} x", 9, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not JSON"));
	assert_int_equal(rl_json_parse("{\"a\":", 5, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ends early"));
	assert_int_equal(rl_json_parse("<html>", 6, &o, err, sizeof(err)), -EINVAL);
	assert_int_equal(rl_json_parse("", 0, &o, err, sizeof(err)), -EINVAL);
}

/* The file a snapshot writes, read back as compare reads it. */
static void test_round_trip(void **state)
{
	struct json_object *d0, *d1, *snap, *back;
	struct rl_labels labels = { 0 };
	struct rl_snapshot_opts o = opts;
	struct rl_window w;
	const char *text;
	char err[256];

	assert_int_equal(rl_labels_set(&labels, "build", "1234"), 0);
	o.labels = &labels;
	d0 = agent_doc(1000, 1, LAYOUT, "", "");
	d1 = agent_doc(11000, 1, LAYOUT, HTTP("80", "200", 3, "[[400,1],[410,2]]"), LOST(4));
	assert_int_equal(rl_snapshot_diff(d0, d1, &o, &snap, err, sizeof(err)), 0);
	text = json_object_to_json_string(snap);
	assert_int_equal(rl_json_parse(text, strlen(text), &back, err, sizeof(err)), 0);
	assert_int_equal(rl_window_from_json(back, "x.json", &w, err, sizeof(err)), 0);

	assert_true(rl_window_seconds(&w) == 10);
	assert_string_equal(w.host, "node-1");
	assert_string_equal(w.agent_version, "0.1.0");
	assert_string_equal(rl_labels_get(&w.labels, "build"), "1234");
	assert_true(w.events_lost == 4);
	assert_string_equal(w.events_lost_detail, "ringbuf_full=4");
	assert_int_equal((int)w.nseries, 1);
	assert_true(w.series[0].count == 3);
	assert_int_equal((int)w.series[0].bins.n, 2);
	assert_true(w.series[0].bins.v[0].lo == (double)rl_hist_lower(400));
	assert_true(w.series[0].bins.v[1].hi == (double)rl_hist_upper(410));
	assert_string_equal(rl_labels_get(&w.series[0].labels, "http_response_status_code"), "200");

	rl_window_free(&w);
	rl_labels_free(&labels);
	json_object_put(d0);
	json_object_put(d1);
	json_object_put(snap);
	json_object_put(back);
}

static void test_window_rejects(void **state)
{
	struct json_object *o;
	struct rl_window w;
	char err[256];
	const char *v2 = "{\"format\":\"reqlens-snapshot\",\"format_version\":2}";

	o = agent_doc(1, 1, LAYOUT, "", "");
	assert_int_equal(rl_window_from_json(o, "agent.json", &w, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "agent document, not a snapshot"));
	rl_window_free(&w);
	json_object_put(o);

	assert_int_equal(rl_json_parse(v2, strlen(v2), &o, err, sizeof(err)), 0);
	assert_int_equal(rl_window_from_json(o, "new.json", &w, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "format version 2"));
	rl_window_free(&w);
	json_object_put(o);

	assert_int_equal(rl_window_load("/nonexistent/x.json", &w, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot read /nonexistent/x.json"));
	rl_window_free(&w);
}

static void test_endpoint_and_labels(void **state)
{
	static const char *const cases[][2] = {
		{ "http://127.0.0.1:10470", "http://127.0.0.1:10470/api/v1/histograms" },
		{ "http://127.0.0.1:10470/", "http://127.0.0.1:10470/api/v1/histograms" },
		{ "http://h:1/api/v1/histograms", "http://h:1/api/v1/histograms" },
		{ "http://h:1/api/v1/histograms/", "http://h:1/api/v1/histograms" },
		{ "http://h/prefix", "http://h/prefix/api/v1/histograms" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = rl_snapshot_endpoint(cases[i][0]);

		assert_string_equal(s, cases[i][1]);
		free(s);
	}
	assert_true(rl_label_name_ok("build"));
	assert_true(rl_label_name_ok("_a1"));
	assert_false(rl_label_name_ok("1a"));
	assert_false(rl_label_name_ok("a-b"));
	assert_false(rl_label_name_ok(""));
}

static void test_parse_time(void **state)
{
	double t;

	assert_int_equal(rl_parse_time("1700000000", &t), 0);
	assert_true(t == 1700000000);
	assert_int_equal(rl_parse_time("1700000000.5", &t), 0);
	assert_true(t == 1700000000.5);
	assert_int_equal(rl_parse_time("2023-11-14T22:13:20Z", &t), 0);
	assert_true(t == 1700000000);
	assert_int_equal(rl_parse_time("2023-11-14T23:13:20.25+01:00", &t), 0);
	assert_true(t == 1700000000.25);
	assert_int_equal(rl_parse_time("2023-11-14", &t), -EINVAL);
	assert_int_equal(rl_parse_time("2023-11-14T22:13:20", &t), -EINVAL);
	assert_int_equal(rl_parse_time("yesterday", &t), -EINVAL);
	assert_int_equal(rl_parse_time("-5", &t), -EINVAL);
}

static void test_bins_from_le(void **state)
{
	/* Cumulative counts at 16.384us, 20.48us, 24.576us and +Inf: four edges per octave. */
	double le[] = { INFINITY, 0.000016384, 0.00002048, 0.000024576 };
	double cum[] = { 100, 10, 40, 39.5 };	/* increase() made the third dip a little */
	double bad[] = { 0.00002 };
	struct rl_bins b;
	char err[256];

	rl_bins_init(&b);
	assert_int_equal(rl_bins_from_le(&b, le, cum, 4, err, sizeof(err)), 0);
	assert_int_equal((int)b.n, 3);
	assert_true(b.v[0].lo == 0 && b.v[0].hi == 16384 && b.v[0].count == 10);
	assert_true(b.v[1].lo == 16384 && b.v[1].hi == 20480 && b.v[1].count == 30);
	/* The dip is clamped: nothing in (20.48us, 24.576us]; +Inf holds the rest. */
	assert_true(b.v[2].lo == 24576 && isinf(b.v[2].hi) && b.v[2].count == 60);
	assert_true(b.total == 100);
	rl_bins_free(&b);
	/* 20us is not a kernel bucket edge: not reqlens's histogram. */
	assert_int_equal(rl_bins_from_le(&b, bad, cum, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an edge"));
	rl_bins_free(&b);
}

static void test_write_atomic(void **state)
{
	char dir[] = "/tmp/rl-snap-XXXXXX", path[64], err[256], buf[16] = "";
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out.json", dir);
	assert_int_equal(rl_write_atomic(path, "{}\n", 3, err, sizeof(err)), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal((int)fread(buf, 1, sizeof(buf) - 1, f), 3);
	fclose(f);
	assert_string_equal(buf, "{}\n");
	unlink(path);
	assert_int_equal(rmdir(dir), 0);	/* no temporary left behind */
	snprintf(path, sizeof(path), "%s/no/such/dir", dir);
	assert_true(rl_write_atomic(path, "x", 1, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "cannot write"));
}

/* A loopback port nobody listens on: bind, read the port, close. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_http_unreachable(void **state)
{
	char url[64], err[512];
	struct rl_buf b;
	long status = 0;

	assert_int_equal(rl_http_init(), 0);
	rl_buf_init(&b);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/histograms", closed_port());
	assert_int_equal(rl_http_get(url, NULL, 2000, &b, &status, err, sizeof(err)), -EHOSTUNREACH);
	assert_non_null(strstr(err, "cannot reach"));
	assert_non_null(strstr(err, url));
	rl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_basic),
		cmocka_unit_test(test_diff_errors),
		cmocka_unit_test(test_check_agent),
		cmocka_unit_test(test_json_parse),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_window_rejects),
		cmocka_unit_test(test_endpoint_and_labels),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_bins_from_le),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_http_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
