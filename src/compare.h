/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `reqlens compare`: two windows (snapshot files, or Prometheus ranges)
 * side by side, series by series, with a verdict that the statistics
 * (stats.h) can defend.
 *
 * Series are matched by identical label sets. For a metric with an
 * http_response_status_code label the status codes of a route are
 * aggregated first: latency quantiles over all of them, the error rate from
 * their split (codes >= 500).
 */
#ifndef RL_COMPARE_H
#define RL_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include "snapshot.h"
#include "stats.h"

#define RL_CMP_NQ 5
extern const double rl_cmp_q[RL_CMP_NQ];		/* 0.5, 0.9, 0.95, 0.99, 0.999 */
extern const char *const rl_cmp_qname[RL_CMP_NQ];	/* "p50", ... "p99.9" */
#define RL_CMP_HEADLINE 2				/* p95 decides the verdict */
#define RL_CMP_P_MAX 0.01				/* Mann-Whitney threshold */
#define RL_CMP_RATE_TOLERANCE 0.20			/* request rates this far apart: a warning */
#define RL_STATUS_LABEL "http_response_status_code"

/* Stated verbatim in every output. */
#define RL_VERDICT_RULE                                                                    \
	"\"not enough data\" when either window has fewer than 200 requests (10/(1-q) for "  \
	"the headline quantile p95); \"faster\"/\"slower\" when the 95% confidence interval " \
	"of the p95 change excludes 0 AND the Mann-Whitney U test gives p < 0.01; otherwise " \
	"\"no significant change\"."

/* How the numbers are obtained, for the outputs' footers. */
#define RL_METHOD_NOTE                                                                       \
	"Quantiles are read from the histogram buckets, each with its bucket as error bound. " \
	"95% CIs come from order statistics (ranks n*q -/+ 1.96*sqrt(n*q*(1-q)), widened to "  \
	"bucket edges). The change's 95% CI is interval arithmetic on the ratio after/before " \
	"over two 97.5% CIs (Bonferroni). Mann-Whitney U: ties within a bucket take mid-ranks, " \
	"normal approximation with tie correction, two-sided."

enum rl_verdict { RL_NOT_ENOUGH_DATA, RL_NO_CHANGE, RL_FASTER, RL_SLOWER };
const char *rl_verdict_name(enum rl_verdict v);

struct rl_warning {
	char *code;	/* stable, for machines: "few_samples", "rate_mismatch", ... */
	char *text;	/* one line, for people */
};

struct rl_warnings {
	struct rl_warning *v;
	size_t n;
};

/* One series in one window, status codes aggregated. */
struct rl_side {
	double count;
	double rate;		/* requests per second of the window */
	double errors;		/* status >= 500; NAN when the metric has no status label */
	double error_rate;	/* errors / count, or NAN */
	double sum_ns;		/* NAN when unknown */
	struct rl_bins bins;
};

struct rl_qcmp {
	struct rl_qest before, after;	/* estimate, bucket bound and 95% CI */
	struct rl_ratio change;		/* after / before and its 95% CI */
	bool few_before, few_after;	/* fewer than rl_stats_min_samples(q) */
};

struct rl_scmp {
	char *metric;
	struct rl_labels labels;	/* without the status code */
	char *key;			/* metric{labels} */
	struct rl_side before, after;
	struct rl_qcmp q[RL_CMP_NQ];
	struct rl_mw mw;		/* before vs after: z > 0 means after is slower */
	enum rl_verdict verdict;
	double rate_change;		/* rate after / before - 1 */
	bool gate_failed;
	struct rl_warnings warnings;
};

struct rl_only {
	char *key;
	double count;
};

struct rl_cmp_opts {
	const char *const *metrics;	/* NULL-terminated; NULL: the two request metrics */
	const struct rl_labels *match;	/* only series with these label values; NULL: all */
	double fail_if_slower_pct;	/* NAN: no gate */
	const char *before_name, *after_name;	/* for messages: the file names */
};

struct rl_cmp {
	const struct rl_window *before, *after;
	const char *before_name, *after_name;
	const char *const *metrics;
	struct rl_scmp *series;
	size_t n;
	struct rl_only *only_before, *only_after;
	size_t n_only_before, n_only_after;
	struct rl_warnings warnings;	/* about the windows as a whole */
	double fail_if_slower_pct;
	bool gate_failed;
};

/*
 * Compares two windows into out (freed with rl_cmp_free; it points into
 * both windows, which must outlive it). -EINVAL with a one-line reason when
 * they cannot be compared: different bucket layouts, or no series in both.
 */
int rl_compare(const struct rl_window *before, const struct rl_window *after,
	       const struct rl_cmp_opts *o, struct rl_cmp *out, char *err, size_t errlen);
void rl_cmp_free(struct rl_cmp *c);

/*
 * Parses a selector {name="value",...} (equality matchers only) into l.
 * 0, or -EINVAL with the reason in err.
 */
int rl_parse_selector(const char *s, struct rl_labels *l, char *err, size_t errlen);

/* `reqlens compare ...`: 0 ok, 1 runtime error, 2 usage error, 3 --fail-if-slower tripped. */
int rl_compare_main(int argc, char **argv);

#endif
