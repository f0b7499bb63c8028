/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Windows of measurements: what `reqlens snapshot` records from an agent,
 * what `reqlens compare` reads back (from a snapshot file or rebuilt from
 * Prometheus), and the plumbing both need (HTTP GET, atomic writes).
 *
 * The snapshot file (format "reqlens-snapshot", format_version 1):
 *  {"format":"reqlens-snapshot","format_version":1,
 *   "source":URL,                       the agent's /api/v1/histograms
 *   "host":..,"agent":{"version":..,"start_time_ms":..},
 *   "window":{"start_ms":..,"end_ms":..,"seconds":..},   the agent's clock at each read
 *   "layout":{..},                      copied from the agent's document
 *   "labels":{"key":"value",..},        --label
 *   "histograms":[{"name":..,"labels":{..},"count":N,"sum_ns":S,
 *                  "buckets":[[index,count],..]}],   end minus start, non-empty only
 *   "counters":[{"name":..,"labels":{..},"value":V}]} end minus start: the
 *       reqlens_events_lost_total reasons always, other counters when they moved.
 * Series whose count did not move are left out. The snapshot's own reads
 * (service_name="reqlens" on the agent's port) are left out too: they are
 * the measurement, not the workload.
 */
#ifndef RL_SNAPSHOT_H
#define RL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "stats.h"

struct json_object;

#define RL_SNAPSHOT_FORMAT "reqlens-snapshot"
#define RL_SNAPSHOT_VERSION 1
#define RL_AGENT_FORMAT "reqlens-histograms"
#define RL_LOST_METRIC "reqlens_events_lost_total"

/* ------------------------------------------------------------------ plumbing */

/* Once per process, before any GET (libcurl's global init is not thread-safe). */
int rl_http_init(void);
/*
 * GET url into body (which the caller inits and frees). 0 with *status set
 * for any HTTP answer; -EHOSTUNREACH with a one-line reason in err when no
 * answer came (refused, timed out, bad URL), naming what (the URL if NULL).
 */
int rl_http_get(const char *url, const char *what, long timeout_ms, struct rl_buf *body,
		long *status, char *err, size_t errlen);
/* Writes path through path.tmp.PID + rename, so that no reader sees half a file. */
int rl_write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen);
/* A double as JSON in the fewest digits that read back the same; NULL (JSON null) for NaN/inf. */
struct json_object *rl_json_double(double v);
/* Parses one JSON document; trailing garbage and errors give -EINVAL with the reason. */
int rl_json_parse(const char *text, size_t len, struct json_object **out, char *err, size_t errlen);

/* ----------------------------------------------------------- window model */

struct rl_kv {
	char *name, *value;
};

/* A label set, sorted by name: equal sets compare equal element by element. */
struct rl_labels {
	struct rl_kv *kv;
	size_t n;
};

struct rl_series {
	char *metric;
	struct rl_labels labels;
	struct rl_bins bins;	/* the latency distribution of the window */
	double count;
	double sum_ns;		/* NAN when unknown (Prometheus mode) */
};

struct rl_window {
	char *source;		/* a file name, or a Prometheus URL and range */
	char *host;		/* NULL when unknown */
	char *agent_version;	/* idem; "a,b" when a cluster runs several */
	double start_ms, end_ms;	/* wall clock, Unix ms */
	char *layout;		/* a canonical description of the bucket layout */
	bool le_resolution;	/* bins are Prometheus `le` intervals, not kernel buckets */
	struct rl_labels labels;	/* the snapshot's --label pairs */
	struct rl_series *series;
	size_t nseries, cap;
	double events_lost;	/* sum of reqlens_events_lost_total over the window */
	char *events_lost_detail;	/* "reason=N, ..." of the non-zero ones, or NULL */
};

void rl_labels_free(struct rl_labels *l);
/* Adds (copies) a pair, keeping the set sorted; -EEXIST when the name is there. */
int rl_labels_set(struct rl_labels *l, const char *name, const char *value);
const char *rl_labels_get(const struct rl_labels *l, const char *name);
int rl_labels_cmp(const struct rl_labels *a, const struct rl_labels *b);
/* metric{a="x",b="y"}, label values escaped as in the text format. */
void rl_series_key(struct rl_buf *out, const char *metric, const struct rl_labels *l);

void rl_window_free(struct rl_window *w);	/* NULL-safe; leaves it zeroed */
double rl_window_seconds(const struct rl_window *w);

/* ----------------------------------------------------------- snapshot */

/* Whether s is a valid --label key: [a-zA-Z_][a-zA-Z0-9_]*. */
bool rl_label_name_ok(const char *s);
/* The agent's base URL or the full endpoint URL, as the endpoint URL (malloc'd). */
char *rl_snapshot_endpoint(const char *url);

/* Checks an agent document (/api/v1/histograms): 0 or -EINVAL with the reason. */
int rl_snapshot_check_agent(struct json_object *doc, char *err, size_t errlen);

struct rl_snapshot_opts {
	const char *source;		/* the endpoint URL, recorded in the file */
	int own_port;			/* the agent's port: its own series are left out (0: none) */
	const struct rl_labels *labels;
};
/*
 * The window between two agent documents as a snapshot document (*out,
 * owned by the caller). -EINVAL with the reason when the two cannot make a
 * window: the layout or the agent changed, a counter went down (the agent
 * restarted), or nothing was requested in between (-ENODATA).
 */
int rl_snapshot_diff(struct json_object *start, struct json_object *end,
		     const struct rl_snapshot_opts *o, struct json_object **out, char *err,
		     size_t errlen);

/* Reads a snapshot file into w: 0, or -errno with a one-line reason. */
int rl_window_load(const char *path, struct rl_window *w, char *err, size_t errlen);
/* Same, from a parsed snapshot document; source names it in messages. */
int rl_window_from_json(struct json_object *doc, const char *source, struct rl_window *w,
			char *err, size_t errlen);

/* `reqlens snapshot ...`: 0, 1 for a runtime error, 2 for a usage error. */
int rl_snapshot_main(int argc, char **argv);

/* ----------------------------------------------------------- Prometheus */

struct rl_prom_query {
	const char *url;		/* the Prometheus base URL */
	const char *metric;		/* a histogram family, without _bucket */
	const char *selector;		/* "{...}" or NULL */
	const char *const *by;		/* grouping labels, NULL-terminated */
	double start_s, end_s;		/* the window, Unix seconds */
};
/*
 * Rebuilds a window of one metric from Prometheus: sum by (le, BY...)
 * (increase(METRIC_bucket{SELECTOR}[END-START s])) at time END, the `le`
 * edges mapped back to kernel buckets (each must be one), the counts
 * between two edges forming one bin. Appends its series to w (call again
 * for another metric). 0 or -errno with a one-line reason.
 */
int rl_window_from_prometheus(const struct rl_prom_query *q, struct rl_window *w, char *err,
			      size_t errlen);
/* The events lost and agent versions over the window, into w (best effort: 0 or -errno). */
int rl_window_prometheus_meta(const struct rl_prom_query *q, struct rl_window *w, char *err,
			      size_t errlen);
/* Builds the bins of one series from cumulative (le_s, count) pairs; exposed for tests. */
int rl_bins_from_le(struct rl_bins *b, const double *le_s, const double *cum, size_t n, char *err,
		    size_t errlen);
/* "2024-05-01T12:00:00Z", "...+02:00", fractions, or Unix seconds: 0 or -EINVAL. */
int rl_parse_time(const char *s, double *unix_s);

#endif
