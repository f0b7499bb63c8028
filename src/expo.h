/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Renders a registry: Prometheus text format 0.0.4 for /metrics, and JSON
 * with the full-resolution buckets for /api/v1/histograms (what
 * `reqlens snapshot` and `compare` read).
 */
#ifndef RL_EXPO_H
#define RL_EXPO_H

#include <stdint.h>
#include "buf.h"
#include "hist.h"
#include "registry.h"

#define RL_EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Text format: # HELP and # TYPE per family (HELP escaped: \\ and \n), then
 * samples; label values escaped (\\, \", \n) and invalid UTF-8 replaced by
 * U+FFFD; families without samples are skipped. Histograms give one
 * _bucket per le of s (seconds, shortest round-trip form), le="+Inf" equal
 * to _count, then _sum (seconds) and _count. Numbers: integers without a
 * fraction, others in the shortest %.Ng (N <= 17) that round-trips,
 * NaN/+Inf/-Inf spelled as Prometheus does. Seconds (le, _sum) are the
 * exact decimal of the integer nanoseconds: "0.000016384", not "1.6384e-05".
 */
int rl_expo_text(const struct rl_registry *r, const struct rl_le_set *s, struct rl_buf *out);

/* What the JSON document says about its producer. */
struct rl_expo_meta {
	const char *version;	/* agent version */
	const char *hostname;
	uint64_t time_ms;	/* wall clock of the read, Unix ms */
	uint64_t start_time_ms;	/* agent start */
};

/*
 * {"format":"reqlens-histograms","format_version":1,
 *  "agent":{"version":..,"hostname":..,"start_time_ms":..},"time_ms":..,
 *  "layout":{"name":"log-linear","version":RL_HIST_LAYOUT_VERSION,"unit":"ns",
 *            "sub_bucket_bits":RL_HIST_SUB_BITS,"buckets":RL_HIST_NBUCKETS},
 *  "histograms":[{"name":..,"labels":{..},"count":N,"sum_ns":S,
 *                 "buckets":[[index,count],...]}],      (non-empty buckets only)
 *  "counters":[{"name":..,"labels":{..},"value":V}]}     (counter families)
 * Strings JSON-escaped, invalid UTF-8 replaced by U+FFFD.
 */
int rl_expo_json(const struct rl_registry *r, const struct rl_expo_meta *m, struct rl_buf *out);

/* Appends s escaped for a label value / JSON string (no quotes added). */
void rl_expo_escape_label(struct rl_buf *out, const char *s);
void rl_expo_escape_json(struct rl_buf *out, const char *s);

#endif
