// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prometheus text exposition and the full-resolution JSON document. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "expo.h"

enum esc_mode {
	ESC_HELP,	/* \\ and \n: the text format's HELP line */
	ESC_LABEL,	/* \\, \" and \n: a label value */
	ESC_JSON,	/* \\, \" and every control character */
};

/*
 * The length of the well-formed UTF-8 sequence at p (Unicode table 3-7), or
 * 0 with *bad set to the length of its maximal ill-formed prefix: replacing
 * each such prefix by one U+FFFD is what the Unicode standard recommends,
 * and it never swallows the byte that starts the next sequence.
 */
static size_t utf8_seq(const unsigned char *p, size_t *bad)
{
	unsigned char lo = 0x80, hi = 0xbf, c = p[0];
	size_t need;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* beyond U+10FFFF */
	} else {
		/* A continuation byte, an overlong lead (C0, C1) or beyond U+10FFFF (F5..FF). */
		*bad = 1;
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		/* The NUL terminator fails this test, so a truncated sequence stops here. */
		if (p[i] < lo || p[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

static void put_escaped(struct rl_buf *out, const char *str, enum esc_mode mode)
{
	const unsigned char *s = (const unsigned char *)str, *run = s;

	/* Copies unescaped runs in one append: most label values need no escaping at all. */
	while (*s) {
		const char *rep = NULL;
		char tmp[8];
		size_t len = 1, bad = 0;

		if (*s >= 0x80) {
			len = utf8_seq(s, &bad);
			if (len) {
				s += len;
				continue;
			}
			rep = "\xef\xbf\xbd";
			len = bad;
		} else if (*s == '\\') {
			rep = "\\\\";
		} else if (*s == '\n' && mode != ESC_JSON) {
			rep = "\\n";
		} else if (*s == '"' && mode != ESC_HELP) {
			rep = "\\\"";
		} else if (*s < 0x20 && mode == ESC_JSON) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", *s);
			rep = tmp;
		} else {
			s++;
			continue;
		}
		rl_buf_append(out, run, (size_t)(s - run));
		rl_buf_puts(out, rep);
		s += len;
		run = s;
	}
	rl_buf_append(out, run, (size_t)(s - run));
}

void rl_expo_escape_label(struct rl_buf *out, const char *s)
{
	put_escaped(out, s, ESC_LABEL);
}

void rl_expo_escape_json(struct rl_buf *out, const char *s)
{
	put_escaped(out, s, ESC_JSON);
}

/*
 * Whole numbers without a fraction (a counter reads "3", not "3.0"), and
 * others in the fewest digits that parse back to the same double.
 * json: JSON has no NaN or infinities.
 */
static void put_double(struct rl_buf *out, double v, int json)
{
	char tmp[32];

	if (isnan(v) || isinf(v)) {
		rl_buf_puts(out, json ? "null" : isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		/* Also -0, which "%.0f" would print with its sign. */
		rl_buf_puts(out, "0");
		return;
	}
	/* 2^53: beyond it a double holds only integers, and %g is shorter. */
	if (fabs(v) < 9007199254740992.0 && v == trunc(v)) {
		rl_buf_printf(out, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	rl_buf_puts(out, tmp);
}

/*
 * Nanoseconds as seconds, from the integer: the exact decimal, which strtod
 * reads back as the double nearest to ns / 1e9 and which, below 2^22 s (48
 * days, where doubles lie closer together than 1e-9), is the shortest
 * fixed-point form that does. Fixed point keeps `le` values readable
 * ("0.000016384", not "1.6384e-05"), and larger sums stay exact.
 */
static const char *fmt_seconds(char *buf, size_t size, uint64_t ns)
{
	uint64_t frac = ns % 1000000000u;
	int digits = 9;

	if (!frac) {
		snprintf(buf, size, "%" PRIu64, ns / 1000000000u);
		return buf;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, size, "%" PRIu64 ".%0*" PRIu64, ns / 1000000000u, digits, frac);
	return buf;
}

/* "18446744073.709551615" is the longest: 21 characters. */
#define SECONDS_LEN 32

/* {a="x",b="y"} with an optional trailing le; nothing at all when there are no labels. */
static void put_labels(struct rl_buf *out, const struct rl_sample *s, const char *le)
{
	if (!s->nlabels && !le)
		return;
	rl_buf_puts(out, "{");
	for (unsigned i = 0; i < s->nlabels; i++) {
		rl_buf_printf(out, "%s%s=\"", i ? "," : "", s->labels[i].name);
		rl_expo_escape_label(out, s->labels[i].value);
		rl_buf_puts(out, "\"");
	}
	if (le)
		rl_buf_printf(out, "%sle=\"%s\"", s->nlabels ? "," : "", le);
	rl_buf_puts(out, "}");
}

static void put_histogram(struct rl_buf *out, const char *name, const struct rl_sample *smp,
			  const struct rl_le_set *set, uint64_t *cum)
{
	static const struct rl_hist empty;
	const struct rl_hist *h = smp->hist ? smp->hist : &empty;
	uint32_t n = set ? set->n : 0;
	char sec[SECONDS_LEN];

	if (n)
		rl_hist_cumulative(h, set, cum);
	for (uint32_t i = 0; i < n; i++) {
		rl_buf_printf(out, "%s_bucket", name);
		put_labels(out, smp, fmt_seconds(sec, sizeof(sec), set->le_ns[i]));
		rl_buf_printf(out, " %" PRIu64 "\n", cum[i]);
	}
	rl_buf_printf(out, "%s_bucket", name);
	put_labels(out, smp, "+Inf");
	rl_buf_printf(out, " %" PRIu64 "\n%s_sum", h->count, name);
	put_labels(out, smp, NULL);
	rl_buf_printf(out, " %s\n%s_count", fmt_seconds(sec, sizeof(sec), h->sum_ns), name);
	put_labels(out, smp, NULL);
	rl_buf_printf(out, " %" PRIu64 "\n", h->count);
}

static const char *type_name(enum rl_metric_type t)
{
	switch (t) {
	case RL_COUNTER:
		return "counter";
	case RL_GAUGE:
		return "gauge";
	case RL_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

int rl_expo_text(const struct rl_registry *r, const struct rl_le_set *s, struct rl_buf *out)
{
	uint64_t *cum = NULL;

	if (!r || !out)
		return -EINVAL;
	if (s && s->n) {
		cum = calloc(s->n, sizeof(*cum));
		if (!cum)
			return out->err = -ENOMEM;
	}
	for (size_t i = 0; i < r->nfamilies && !out->err; i++) {
		const struct rl_family *f = r->families[i];

		if (!f->nsamples)
			continue;
		if (f->help) {
			rl_buf_printf(out, "# HELP %s ", f->name);
			put_escaped(out, f->help, ESC_HELP);
			rl_buf_puts(out, "\n");
		}
		rl_buf_printf(out, "# TYPE %s %s\n", f->name, type_name(f->type));
		for (size_t j = 0; j < f->nsamples; j++) {
			const struct rl_sample *smp = f->samples[j];

			if (f->type == RL_HISTOGRAM) {
				put_histogram(out, f->name, smp, s, cum);
				continue;
			}
			rl_buf_puts(out, f->name);
			put_labels(out, smp, NULL);
			rl_buf_puts(out, " ");
			put_double(out, smp->value, 0);
			rl_buf_puts(out, "\n");
		}
	}
	free(cum);
	return out->err;
}

static void put_json_string(struct rl_buf *out, const char *s)
{
	if (!s) {
		rl_buf_puts(out, "null");
		return;
	}
	rl_buf_puts(out, "\"");
	rl_expo_escape_json(out, s);
	rl_buf_puts(out, "\"");
}

static void put_json_labels(struct rl_buf *out, const struct rl_sample *s)
{
	rl_buf_puts(out, "{");
	for (unsigned i = 0; i < s->nlabels; i++) {
		if (i)
			rl_buf_puts(out, ",");
		put_json_string(out, s->labels[i].name);
		rl_buf_puts(out, ":");
		put_json_string(out, s->labels[i].value);
	}
	rl_buf_puts(out, "}");
}

static void put_json_histogram(struct rl_buf *out, const char *name, const struct rl_sample *s)
{
	static const struct rl_hist empty;
	const struct rl_hist *h = s->hist ? s->hist : &empty;
	int first = 1;

	rl_buf_puts(out, "{\"name\":");
	put_json_string(out, name);
	rl_buf_puts(out, ",\"labels\":");
	put_json_labels(out, s);
	rl_buf_printf(out, ",\"count\":%" PRIu64 ",\"sum_ns\":%" PRIu64 ",\"buckets\":[", h->count,
		      h->sum_ns);
	for (uint32_t b = 0; b < RL_HIST_NBUCKETS; b++) {
		if (!h->buckets[b])
			continue;
		rl_buf_printf(out, "%s[%" PRIu32 ",%" PRIu64 "]", first ? "" : ",", b, h->buckets[b]);
		first = 0;
	}
	rl_buf_puts(out, "]}");
}

int rl_expo_json(const struct rl_registry *r, const struct rl_expo_meta *m, struct rl_buf *out)
{
	int first;

	if (!r || !m || !out)
		return -EINVAL;
	rl_buf_puts(out, "{\"format\":\"reqlens-histograms\",\"format_version\":1,\"agent\":{\"version\":");
	put_json_string(out, m->version);
	rl_buf_puts(out, ",\"hostname\":");
	put_json_string(out, m->hostname);
	rl_buf_printf(out, ",\"start_time_ms\":%" PRIu64 "},\"time_ms\":%" PRIu64 ",", m->start_time_ms,
		      m->time_ms);
	rl_buf_printf(out,
		      "\"layout\":{\"name\":\"log-linear\",\"version\":%d,\"unit\":\"ns\","
		      "\"sub_bucket_bits\":%d,\"buckets\":%d},",
		      RL_HIST_LAYOUT_VERSION, RL_HIST_SUB_BITS, (int)RL_HIST_NBUCKETS);

	rl_buf_puts(out, "\"histograms\":[");
	first = 1;
	for (size_t i = 0; i < r->nfamilies; i++) {
		const struct rl_family *f = r->families[i];

		if (f->type != RL_HISTOGRAM)
			continue;
		for (size_t j = 0; j < f->nsamples; j++) {
			if (!first)
				rl_buf_puts(out, ",");
			first = 0;
			put_json_histogram(out, f->name, f->samples[j]);
		}
	}

	rl_buf_puts(out, "],\"counters\":[");
	first = 1;
	for (size_t i = 0; i < r->nfamilies; i++) {
		const struct rl_family *f = r->families[i];

		if (f->type != RL_COUNTER)
			continue;
		for (size_t j = 0; j < f->nsamples; j++) {
			if (!first)
				rl_buf_puts(out, ",");
			first = 0;
			rl_buf_puts(out, "{\"name\":");
			put_json_string(out, f->name);
			rl_buf_puts(out, ",\"labels\":");
			put_json_labels(out, f->samples[j]);
			rl_buf_puts(out, ",\"value\":");
			put_double(out, f->samples[j]->value, 1);
			rl_buf_puts(out, "}");
		}
	}
	rl_buf_puts(out, "]}\n");
	return out->err;
}
