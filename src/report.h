/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The outputs of `reqlens compare`: an aligned table for a terminal, JSON
 * for CI, and one self-contained HTML file (inline CSS and SVG, no script).
 *
 * JSON (format "reqlens-compare", format_version 1); durations in seconds,
 * null where a number does not exist (an open interval's bound, a quantile
 * of nothing):
 *  {"format":"reqlens-compare","format_version":1,
 *   "verdict_rule":RULE,"method":TEXT,
 *   "quantiles":[0.5,0.9,0.95,0.99,0.999],"headline_quantile":0.95,
 *   "thresholds":{"p_max":0.01,"min_requests":200,"rate_tolerance_pct":20},
 *   "before":WINDOW,"after":WINDOW,
 *   "series":[{"metric":..,"labels":{..},"key":"metric{..}","verdict":V,
 *     "before":SIDE,"after":SIDE,"rate_change_pct":..,
 *     "mann_whitney":{"u":..,"z":..,"p":..,"n_before":..,"n_after":..},
 *     "quantiles":[{"q":0.95,"name":"p95",
 *        "before":{"value_s":..,"bucket_s":[lo,hi],"ci95_s":[lo,hi],
 *                  "min_samples":200,"enough_samples":true},
 *        "after":{..},
 *        "ratio":..,"ratio_ci95":[lo,hi],"change_pct":..,"change_pct_ci95":[lo,hi]}],
 *     "gate_failed":false,"warnings":[{"code":..,"message":..}]}],
 *   "only_before":[{"key":..,"count":..}],"only_after":[..],
 *   "warnings":[{"code":..,"message":..}],
 *   "gate":{"fail_if_slower_pct":P or null,"failed":false}}
 *  WINDOW: {"source","host","agent_version","start_ms","end_ms","seconds",
 *           "labels":{..},"resolution":"kernel"|"prometheus_le","events_lost"}
 *  SIDE:   {"count","rate_per_s","errors","error_rate","sum_s"}
 *  V: "faster", "slower", "no significant change", "not enough data".
 * Warning codes: few_samples, rate_mismatch (series); agent_version, host,
 * events_lost, le_resolution, unmatched_series (windows).
 *
 * HTML: every number the test suite reads carries an id and a data-value
 * holding the JSON's number: #sN-verdict[data-verdict], #sN-pXX-before,
 * #sN-pXX-after (data-value, data-ci-lo, data-ci-hi, data-bucket-lo,
 * data-bucket-hi: seconds), #sN-pXX-change (data-value, data-ci-lo,
 * data-ci-hi: percent), #sN-count-before/-after, #sN-mw-p; XX is 50, 90, 95, 99, 99.9
 * with the dot written as "_" (p99_9). #rule holds the verdict rule.
 */
#ifndef RL_REPORT_H
#define RL_REPORT_H

#include <stddef.h>
#include "buf.h"
#include "compare.h"

int rl_report_table(const struct rl_cmp *c, struct rl_buf *out);
int rl_report_json(const struct rl_cmp *c, struct rl_buf *out);
int rl_report_html(const struct rl_cmp *c, struct rl_buf *out);

/* A duration in ns, 3 significant digits in the unit that fits: 850ms, 59.1ms, 312us. */
const char *rl_fmt_duration(char *buf, size_t size, double ns);

/* Requests per second: "0.50/s", "34.2/s", "12345/s" (never an exponent). */
const char *rl_fmt_rate(char *buf, size_t size, double per_s);

#endif
