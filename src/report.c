// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The table, JSON and HTML outputs of `reqlens compare`. See report.h. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "report.h"

/* ============================================================== formatting */

const char *rl_fmt_duration(char *buf, size_t size, double ns)
{
	static const struct { const char *unit; double scale; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
	};
	size_t u = 0;

	if (isnan(ns)) {
		snprintf(buf, size, "-");
		return buf;
	}
	if (isinf(ns)) {
		snprintf(buf, size, "inf");
		return buf;
	}
	while (u + 1 < sizeof(units) / sizeof(units[0]) && ns >= units[u + 1].scale)
		u++;
	for (;; u++) {
		double v = ns / units[u].scale;
		/* Three significant digits; 999.7us rounds to "1000us", which is "1.00ms". */
		int prec = v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;

		snprintf(buf, size, "%.*f%s", prec, v, units[u].unit);
		if (prec || v < 999.5 || u + 1 == sizeof(units) / sizeof(units[0]))
			return buf;
	}
}

const char *rl_fmt_rate(char *buf, size_t size, double per_s)
{
	if (!isfinite(per_s))
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.*f/s", per_s < 10 ? 2 : per_s < 100 ? 1 : 0, per_s);
	return buf;
}

static const char *fmt_pct(char *buf, size_t size, double ratio)
{
	if (isnan(ratio))
		snprintf(buf, size, "-");
	else if (isinf(ratio))
		snprintf(buf, size, "+inf%%");
	else
		snprintf(buf, size, "%+.1f%%", (ratio - 1) * 100);
	return buf;
}

static const char *fmt_p(char *buf, size_t size, double p)
{
	if (isnan(p))
		snprintf(buf, size, "-");
	else if (p >= 0.001)
		snprintf(buf, size, "%.3f", p);
	else
		snprintf(buf, size, "%.1e", p);
	return buf;
}

static const char *fmt_time(char *buf, size_t size, double ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (isnan(ms) || !gmtime_r(&t, &tm))
		snprintf(buf, size, "?");
	else
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* "[10.1ms, 10.4ms]" */
static const char *fmt_ci(char *buf, size_t size, double lo, double hi)
{
	char a[24], b[24];

	if (isnan(lo) && isnan(hi))
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "[%s, %s]", rl_fmt_duration(a, sizeof(a), lo),
			 rl_fmt_duration(b, sizeof(b), hi));
	return buf;
}

static const char *fmt_pct_ci(char *buf, size_t size, const struct rl_ratio *r)
{
	char a[24], b[24];

	if (isnan(r->lo) && isnan(r->hi))
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "[%s, %s]", fmt_pct(a, sizeof(a), r->lo), fmt_pct(b, sizeof(b), r->hi));
	return buf;
}

static const char *fmt_count_rate(char *buf, size_t size, const struct rl_side *s)
{
	char r[32];

	snprintf(buf, size, "%.0f (%s)", s->count, rl_fmt_rate(r, sizeof(r), s->rate));
	return buf;
}

static const char *fmt_errors(char *buf, size_t size, const struct rl_side *s)
{
	if (isnan(s->errors))
		snprintf(buf, size, "n/a");
	else
		snprintf(buf, size, "%.2f%% (%.0f)", 100 * (isnan(s->error_rate) ? 0 : s->error_rate),
			 s->errors);
	return buf;
}

/* The headline of a series: the verdict and the numbers it rests on. */
static void put_headline(struct rl_buf *out, const struct rl_scmp *s, bool with_verdict)
{
	const struct rl_qcmp *q = &s->q[RL_CMP_HEADLINE];
	char chg[24], ci[64], p[24];

	if (with_verdict)
		rl_buf_printf(out, "%s: ", rl_verdict_name(s->verdict));
	rl_buf_printf(out, "p95 %s, 95%% CI %s; Mann-Whitney p = %s",
		      fmt_pct(chg, sizeof(chg), q->change.ratio),
		      fmt_pct_ci(ci, sizeof(ci), &q->change), fmt_p(p, sizeof(p), s->mw.p));
}

static const char *labels_text(char *buf, size_t size, const struct rl_labels *l)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < l->n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s=%s", i ? "," : "", l->kv[i].name,
					l->kv[i].value);
	return l->n ? buf : "-";
}

/* ================================================================== table */

/* Column widths of the quantile table: name, value, CI, value, CI, change, change CI, ratio. */
#define TABLE_ROW "  %-6s %-8s %-19s %-8s %-19s %-8s %-19s %s\n"

static void table_window(struct rl_buf *out, const char *what, const char *name,
			 const struct rl_window *w)
{
	char t[32], l[256];

	rl_buf_printf(out, "  %-7s %s: host %s, agent %s, %s + %.1fs, labels %s\n", what, name,
		      w->host ? w->host : "?", w->agent_version ? w->agent_version : "?",
		      fmt_time(t, sizeof(t), w->start_ms), rl_window_seconds(w),
		      labels_text(l, sizeof(l), &w->labels));
}

static void table_quantile(struct rl_buf *out, const struct rl_qcmp *q, const char *name)
{
	char vb[24], cb[64], va[24], ca[64], chg[24], cc[64], ratio[24];
	bool few = q->few_before || q->few_after;

	if (isnan(q->change.ratio) || isinf(q->change.ratio))
		snprintf(ratio, sizeof(ratio), "-");
	else
		snprintf(ratio, sizeof(ratio), "x%.2f", q->change.ratio);
	if (few)
		strncat(ratio, "  (few samples)", sizeof(ratio) - strlen(ratio) - 1);
	rl_buf_printf(out, TABLE_ROW, name, rl_fmt_duration(vb, sizeof(vb), q->before.value),
		      fmt_ci(cb, sizeof(cb), q->before.ci_lo, q->before.ci_hi),
		      rl_fmt_duration(va, sizeof(va), q->after.value),
		      fmt_ci(ca, sizeof(ca), q->after.ci_lo, q->after.ci_hi),
		      fmt_pct(chg, sizeof(chg), q->change.ratio), fmt_pct_ci(cc, sizeof(cc), &q->change),
		      ratio);
}

static void table_series(struct rl_buf *out, const struct rl_scmp *s)
{
	char b[64], a[64], chg[24];

	rl_buf_printf(out, "\n%s\n  ", s->key);
	put_headline(out, s, true);
	rl_buf_printf(out, "\n  %-9s %-28s %-28s %s\n", "", "before", "after", "change");
	rl_buf_printf(out, "  %-9s %-28s %-28s %s\n", "requests",
		      fmt_count_rate(b, sizeof(b), &s->before), fmt_count_rate(a, sizeof(a), &s->after),
		      fmt_pct(chg, sizeof(chg), s->rate_change + 1));
	rl_buf_printf(out, "  %-9s %-28s %s\n", "errors", fmt_errors(b, sizeof(b), &s->before),
		      fmt_errors(a, sizeof(a), &s->after));
	rl_buf_printf(out, TABLE_ROW, "", "before", "95% CI", "after", "95% CI", "change", "95% CI",
		      "ratio");
	for (int i = 0; i < RL_CMP_NQ; i++)
		table_quantile(out, &s->q[i], rl_cmp_qname[i]);
	for (size_t i = 0; i < s->warnings.n; i++)
		rl_buf_printf(out, "  warning: %s\n", s->warnings.v[i].text);
}

static void table_only(struct rl_buf *out, const char *name, const struct rl_only *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rl_buf_printf(out, "  only in %s: %s (%.0f requests)\n", name, v[i].key, v[i].count);
}

int rl_report_table(const struct rl_cmp *c, struct rl_buf *out)
{
	rl_buf_printf(out, "reqlens compare: %s -> %s\n", c->before_name, c->after_name);
	table_window(out, "before", c->before_name, c->before);
	table_window(out, "after", c->after_name, c->after);
	for (size_t i = 0; i < c->n; i++)
		table_series(out, &c->series[i]);
	if (c->warnings.n || c->n_only_before || c->n_only_after)
		rl_buf_puts(out, "\n");
	for (size_t i = 0; i < c->warnings.n; i++)
		rl_buf_printf(out, "warning: %s\n", c->warnings.v[i].text);
	table_only(out, c->before_name, c->only_before, c->n_only_before);
	table_only(out, c->after_name, c->only_after, c->n_only_after);
	rl_buf_printf(out, "\nVerdict rule: %s\n", RL_VERDICT_RULE);
	if (!isnan(c->fail_if_slower_pct))
		rl_buf_printf(out, "Gate (--fail-if-slower=%g%%): %s\n", c->fail_if_slower_pct,
			      c->gate_failed ? "FAILED" : "passed");
	return out->err;
}

/* =================================================================== JSON */

static struct json_object *jd(double v)
{
	return rl_json_double(v);
}

static struct json_object *jpair(double a, double b)
{
	struct json_object *o = json_object_new_array_ext(2);

	json_object_array_add(o, jd(a));
	json_object_array_add(o, jd(b));
	return o;
}

static struct json_object *jlabels(const struct rl_labels *l)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < l->n; i++)
		json_object_object_add(o, l->kv[i].name, json_object_new_string(l->kv[i].value));
	return o;
}

static struct json_object *jstring(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *jwarnings(const struct rl_warnings *w)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < w->n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "code", json_object_new_string(w->v[i].code));
		json_object_object_add(o, "message", json_object_new_string(w->v[i].text));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *jwindow(const struct rl_window *w)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "source", jstring(w->source));
	json_object_object_add(o, "host", jstring(w->host));
	json_object_object_add(o, "agent_version", jstring(w->agent_version));
	json_object_object_add(o, "start_ms", jd(w->start_ms));
	json_object_object_add(o, "end_ms", jd(w->end_ms));
	json_object_object_add(o, "seconds", jd(rl_window_seconds(w)));
	json_object_object_add(o, "labels", jlabels(&w->labels));
	json_object_object_add(o, "resolution",
			       json_object_new_string(w->le_resolution ? "prometheus_le" : "kernel"));
	json_object_object_add(o, "events_lost", jd(w->events_lost));
	return o;
}

static struct json_object *jside(const struct rl_side *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "count", jd(s->count));
	json_object_object_add(o, "rate_per_s", jd(s->rate));
	json_object_object_add(o, "errors", jd(s->errors));
	json_object_object_add(o, "error_rate", jd(s->error_rate));
	json_object_object_add(o, "sum_s", jd(s->sum_ns / 1e9));
	return o;
}

static struct json_object *jqest(const struct rl_qest *e, double q, bool few)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "value_s", jd(e->value / 1e9));
	json_object_object_add(o, "bucket_s", jpair(e->bin_lo / 1e9, e->bin_hi / 1e9));
	json_object_object_add(o, "ci95_s", jpair(e->ci_lo / 1e9, e->ci_hi / 1e9));
	json_object_object_add(o, "min_samples", jd(rl_stats_min_samples(q)));
	json_object_object_add(o, "enough_samples", json_object_new_boolean(!few));
	return o;
}

static double pct(double ratio)
{
	return (ratio - 1) * 100;
}

static struct json_object *jquantile(const struct rl_qcmp *q, int i)
{
	struct json_object *o = json_object_new_object();
	const struct rl_ratio *r = &q->change;

	json_object_object_add(o, "q", jd(rl_cmp_q[i]));
	json_object_object_add(o, "name", json_object_new_string(rl_cmp_qname[i]));
	json_object_object_add(o, "before", jqest(&q->before, rl_cmp_q[i], q->few_before));
	json_object_object_add(o, "after", jqest(&q->after, rl_cmp_q[i], q->few_after));
	json_object_object_add(o, "ratio", jd(r->ratio));
	json_object_object_add(o, "ratio_ci95", jpair(r->lo, r->hi));
	json_object_object_add(o, "change_pct", jd(pct(r->ratio)));
	json_object_object_add(o, "change_pct_ci95", jpair(pct(r->lo), pct(r->hi)));
	return o;
}

static struct json_object *jmw(const struct rl_mw *m)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "u", jd(m->u));
	json_object_object_add(o, "z", jd(m->z));
	json_object_object_add(o, "p", jd(m->p));
	json_object_object_add(o, "n_before", jd(m->n1));
	json_object_object_add(o, "n_after", jd(m->n2));
	return o;
}

static struct json_object *jseries(const struct rl_scmp *s)
{
	struct json_object *o = json_object_new_object(), *qs = json_object_new_array();

	json_object_object_add(o, "metric", json_object_new_string(s->metric));
	json_object_object_add(o, "labels", jlabels(&s->labels));
	json_object_object_add(o, "key", json_object_new_string(s->key));
	json_object_object_add(o, "verdict", json_object_new_string(rl_verdict_name(s->verdict)));
	json_object_object_add(o, "before", jside(&s->before));
	json_object_object_add(o, "after", jside(&s->after));
	json_object_object_add(o, "rate_change_pct", jd(s->rate_change * 100));
	json_object_object_add(o, "mann_whitney", jmw(&s->mw));
	for (int i = 0; i < RL_CMP_NQ; i++)
		json_object_array_add(qs, jquantile(&s->q[i], i));
	json_object_object_add(o, "quantiles", qs);
	json_object_object_add(o, "gate_failed", json_object_new_boolean(s->gate_failed));
	json_object_object_add(o, "warnings", jwarnings(&s->warnings));
	return o;
}

static struct json_object *jonly(const struct rl_only *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "key", json_object_new_string(v[i].key));
		json_object_object_add(o, "count", jd(v[i].count));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *jheader(void)
{
	struct json_object *o = json_object_new_object(), *qs = json_object_new_array(), *th;

	json_object_object_add(o, "format", json_object_new_string("reqlens-compare"));
	json_object_object_add(o, "format_version", json_object_new_int(1));
	json_object_object_add(o, "verdict_rule", json_object_new_string(RL_VERDICT_RULE));
	json_object_object_add(o, "method", json_object_new_string(RL_METHOD_NOTE));
	for (int i = 0; i < RL_CMP_NQ; i++)
		json_object_array_add(qs, jd(rl_cmp_q[i]));
	json_object_object_add(o, "quantiles", qs);
	json_object_object_add(o, "headline_quantile", jd(rl_cmp_q[RL_CMP_HEADLINE]));
	th = json_object_new_object();
	json_object_object_add(th, "p_max", jd(RL_CMP_P_MAX));
	json_object_object_add(th, "min_requests", jd(rl_stats_min_samples(rl_cmp_q[RL_CMP_HEADLINE])));
	json_object_object_add(th, "rate_tolerance_pct", jd(RL_CMP_RATE_TOLERANCE * 100));
	json_object_object_add(o, "thresholds", th);
	return o;
}

int rl_report_json(const struct rl_cmp *c, struct rl_buf *out)
{
	struct json_object *o = jheader(), *series = json_object_new_array(), *gate;

	json_object_object_add(o, "before", jwindow(c->before));
	json_object_object_add(o, "after", jwindow(c->after));
	for (size_t i = 0; i < c->n; i++)
		json_object_array_add(series, jseries(&c->series[i]));
	json_object_object_add(o, "series", series);
	json_object_object_add(o, "only_before", jonly(c->only_before, c->n_only_before));
	json_object_object_add(o, "only_after", jonly(c->only_after, c->n_only_after));
	json_object_object_add(o, "warnings", jwarnings(&c->warnings));
	gate = json_object_new_object();
	json_object_object_add(gate, "fail_if_slower_pct", jd(c->fail_if_slower_pct));
	json_object_object_add(gate, "failed", json_object_new_boolean(c->gate_failed));
	json_object_object_add(o, "gate", gate);
	rl_buf_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							JSON_C_TO_STRING_SPACED |
							JSON_C_TO_STRING_NOSLASHESCAPE));
	rl_buf_puts(out, "\n");
	json_object_put(o);
	return out->err;
}

/* =================================================================== HTML */

static void html_esc(struct rl_buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': rl_buf_puts(out, "&amp;"); break;
		case '<': rl_buf_puts(out, "&lt;"); break;
		case '>': rl_buf_puts(out, "&gt;"); break;
		case '"': rl_buf_puts(out, "&quot;"); break;
		case '\'': rl_buf_puts(out, "&#39;"); break;
		default: rl_buf_append(out, s, 1);
		}
	}
}

/* A number for a data attribute: the JSON output's text, "null" where JSON has null. */
static const char *num(char *buf, size_t size, double v)
{
	struct json_object *o = rl_json_double(v);

	snprintf(buf, size, "%s", o ? json_object_to_json_string(o) : "null");
	json_object_put(o);
	return buf;
}

static const char *const css =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;"
	"max-width:1100px;color:#1d2430;padding:0 16px}"
	"h1{font-size:22px;margin:0 0 4px}h2{font-size:14px;font-family:ui-monospace,monospace;"
	"word-break:break-all;margin:0 0 8px}"
	".meta{color:#555;margin:2px 0}"
	"section.series{border:1px solid #d5dae1;border-radius:8px;padding:14px 16px;margin:18px 0}"
	".verdict{font-size:15px;margin:4px 0 10px}"
	".badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff;"
	"margin-right:8px}"
	".v-slower{background:#c62828}.v-faster{background:#2e7d32}"
	".v-no-significant-change{background:#607d8b}.v-not-enough-data{background:#b7791f}"
	"table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:8px 0}"
	"th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eceff3;white-space:nowrap}"
	"th{background:#f4f6f9;font-weight:600}td:first-child,th:first-child{text-align:left}"
	".ci{color:#667}.few{color:#b7791f}"
	".warn{color:#8a5a00;background:#fff8e1;border-left:3px solid #f0b429;padding:6px 10px;"
	"margin:6px 0;list-style:none}"
	"ul.warnings{padding:0;margin:8px 0}"
	"svg{display:block;margin:6px 0}svg text{font:11px system-ui,sans-serif;fill:#444}svg text.minor{fill:#99a}"
	"footer{color:#555;font-size:13px;border-top:1px solid #d5dae1;margin-top:24px;padding-top:8px}";

/* The plot's geometry: a log time axis over whole decades. */
#define SVG_W 900
#define SVG_H 320
#define PAD_L 48
#define PAD_R 40
#define PAD_T 30
#define PAD_B 36

struct axis {
	double lg_lo, lg_hi;	/* log10 of the axis ends, in ns */
};

static double ax_x(const struct axis *a, double ns)
{
	double lg = ns > 0 ? log10(ns) : a->lg_lo;

	lg = lg < a->lg_lo ? a->lg_lo : lg > a->lg_hi ? a->lg_hi : lg;
	return PAD_L + (lg - a->lg_lo) / (a->lg_hi - a->lg_lo) * (SVG_W - PAD_L - PAD_R);
}

static double ax_y(double f)
{
	return PAD_T + (1 - f) * (SVG_H - PAD_T - PAD_B);
}

/* Decades that hold every finite, non-zero edge of both distributions. */
static void axis_fit(struct axis *a, const struct rl_bins *b1, const struct rl_bins *b2)
{
	const struct rl_bins *bs[2] = { b1, b2 };
	double lo = INFINITY, hi = 0;

	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < bs[k]->n; i++) {
			const struct rl_bin *b = &bs[k]->v[i];

			if (b->count <= 0)
				continue;
			lo = fmin(lo, b->lo > 0 ? b->lo : b->hi);
			if (isfinite(b->hi))
				hi = fmax(hi, b->hi);
		}
	}
	if (!(lo < INFINITY) || !(hi > 0)) {
		lo = 1e3;
		hi = 1e9;
	}
	a->lg_lo = floor(log10(lo));
	a->lg_hi = ceil(log10(hi));
	if (a->lg_hi <= a->lg_lo)
		a->lg_hi = a->lg_lo + 1;
}

/* The CDF through the bin edges: linear inside a bin, as the quantiles are read. */
static void svg_cdf(struct rl_buf *out, const struct axis *a, const struct rl_bins *b,
		    const char *cls, const char *color)
{
	double cum = 0;
	bool first = true;

	if (!(b->total > 0))
		return;
	rl_buf_printf(out, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
		      "points=\"", cls, color);
	for (size_t i = 0; i < b->n; i++) {
		if (b->v[i].count <= 0)
			continue;
		if (first)
			rl_buf_printf(out, "%.1f,%.1f ", ax_x(a, b->v[i].lo), ax_y(0));
		first = false;
		cum += b->v[i].count;
		rl_buf_printf(out, "%.1f,%.1f ", ax_x(a, isinf(b->v[i].hi) ? INFINITY : b->v[i].hi),
			      ax_y(cum / b->total));
	}
	rl_buf_puts(out, "\"/>");
}

/* An axis label: "10ms", not "10.0ms" (ticks are round numbers). */
static const char *fmt_tick(char *buf, size_t size, double ns)
{
	char *dot;

	rl_fmt_duration(buf, size, ns);
	dot = strchr(buf, '.');
	if (dot && dot[1] == '0' && (dot[2] == '0' || (dot[2] < '0' || dot[2] > '9'))) {
		char *unit = dot + 1;

		while (*unit >= '0' && *unit <= '9')
			unit++;
		memmove(dot, unit, strlen(unit) + 1);
	}
	return buf;
}

/* A vertical grid line with its duration below the axis. */
static void svg_xtick(struct rl_buf *out, const struct axis *a, double ns, bool major)
{
	double x = ax_x(a, ns);
	char d[24];

	rl_buf_printf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>"
		      "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\"%s>%s</text>", x, PAD_T, x,
		      SVG_H - PAD_B, major ? "#d5dae1" : "#eef1f4", x, SVG_H - PAD_B + 16,
		      major ? "" : " class=\"minor\"", fmt_tick(d, sizeof(d), ns));
}

static void svg_grid(struct rl_buf *out, const struct axis *a)
{
	static const double ys[] = { 0, 0.25, 0.5, 0.75, 1 };
	/* Few decades: 2x and 5x ticks too, or the axis says little. */
	bool minor = a->lg_hi - a->lg_lo <= 3;

	for (double lg = a->lg_lo; lg <= a->lg_hi + 1e-9; lg++) {
		svg_xtick(out, a, pow(10, lg), true);
		if (minor && lg < a->lg_hi - 1e-9) {
			svg_xtick(out, a, 2 * pow(10, lg), false);
			svg_xtick(out, a, 5 * pow(10, lg), false);
		}
	}
	for (size_t i = 0; i < sizeof(ys) / sizeof(ys[0]); i++)
		rl_buf_printf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e7ec\"/>"
			      "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>", PAD_L, ax_y(ys[i]),
			      SVG_W - PAD_R, ax_y(ys[i]), PAD_L - 6, ax_y(ys[i]) + 4, ys[i]);
	/* The headline quantile, where the verdict looks. */
	rl_buf_printf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#9aa5b1\" "
		      "stroke-dasharray=\"4 3\"/><text x=\"%d\" y=\"%.1f\">p95</text>", PAD_L,
		      ax_y(0.95), SVG_W - PAD_R, ax_y(0.95), SVG_W - PAD_R + 4, ax_y(0.95) + 4);
	rl_buf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">latency (log scale)</text>"
		      "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">"
		      "share of requests &#8804; latency</text>", (SVG_W + PAD_L) / 2, SVG_H - 4,
		      (SVG_H - PAD_B + PAD_T) / 2, (SVG_H - PAD_B + PAD_T) / 2);
}

/* A dot at each side's p95, where the verdict looks. */
static void svg_p95(struct rl_buf *out, const struct axis *a, const struct rl_qest *e,
		    const char *color, const char *what)
{
	char d[24];

	if (isnan(e->value))
		return;
	rl_buf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>p95 %s: %s"
		      "</title></circle>", ax_x(a, e->value), ax_y(0.95), color, what,
		      rl_fmt_duration(d, sizeof(d), e->value));
}

#define C_BEFORE "#1f6fb2"
#define C_AFTER "#e8590c"

static void html_plot(struct rl_buf *out, const struct rl_scmp *s, size_t idx)
{
	struct axis a;

	axis_fit(&a, &s->before.bins, &s->after.bins);
	rl_buf_printf(out, "<svg id=\"s%zu-cdf\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		      "role=\"img\" aria-label=\"latency CDF before and after\">", idx, SVG_W, SVG_H,
		      SVG_W, SVG_H);
	svg_grid(out, &a);
	svg_cdf(out, &a, &s->before.bins, "cdf-before", C_BEFORE);
	svg_cdf(out, &a, &s->after.bins, "cdf-after", C_AFTER);
	svg_p95(out, &a, &s->q[RL_CMP_HEADLINE].before, C_BEFORE, "before");
	svg_p95(out, &a, &s->q[RL_CMP_HEADLINE].after, C_AFTER, "after");
	/* The legend sits in the top margin, clear of the curves. */
	rl_buf_printf(out, "<rect x=\"%d\" y=\"10\" width=\"14\" height=\"3\" fill=\"" C_BEFORE "\"/>"
		      "<text x=\"%d\" y=\"15\">before: %.0f requests</text>"
		      "<rect x=\"%d\" y=\"10\" width=\"14\" height=\"3\" fill=\"" C_AFTER "\"/>"
		      "<text x=\"%d\" y=\"15\">after: %.0f requests</text></svg>\n",
		      PAD_L, PAD_L + 20, s->before.count, PAD_L + 190, PAD_L + 210, s->after.count);
}

/* "p99.9" -> "p99_9": ids stay valid CSS selectors. */
static const char *qid(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s", name);
	for (char *p = buf; *p; p++)
		if (*p == '.')
			*p = '_';
	return buf;
}

/* A duration cell: the text for people; the seconds, the bucket bound and the CI for tests. */
static void html_dur_cell(struct rl_buf *out, size_t idx, const char *q, const char *side,
			  const struct rl_qest *e, bool few)
{
	char d[24], v[32], lo[32], hi[32], blo[32], bhi[32], ci[64], bb[64];

	rl_buf_printf(out, "<td id=\"s%zu-%s-%s\" data-value=\"%s\" data-ci-lo=\"%s\" data-ci-hi=\"%s\" "
		      "data-bucket-lo=\"%s\" data-bucket-hi=\"%s\" title=\"bucket %s\"%s>%s "
		      "<span class=\"ci\">%s</span></td>", idx, q, side, num(v, sizeof(v), e->value / 1e9),
		      num(lo, sizeof(lo), e->ci_lo / 1e9), num(hi, sizeof(hi), e->ci_hi / 1e9),
		      num(blo, sizeof(blo), e->bin_lo / 1e9), num(bhi, sizeof(bhi), e->bin_hi / 1e9),
		      fmt_ci(bb, sizeof(bb), e->bin_lo, e->bin_hi), few ? " class=\"few\"" : "",
		      rl_fmt_duration(d, sizeof(d), e->value), fmt_ci(ci, sizeof(ci), e->ci_lo, e->ci_hi));
}

static void html_quantile_row(struct rl_buf *out, size_t idx, const struct rl_qcmp *q, int i)
{
	char id[16], v[32], lo[32], hi[32], chg[24], ci[64];
	bool few = q->few_before || q->few_after;

	qid(id, sizeof(id), rl_cmp_qname[i]);
	rl_buf_printf(out, "<tr><td>%s%s</td>", rl_cmp_qname[i], few ? " <span class=\"few\" "
		      "title=\"too few samples for this quantile\">&#9888;</span>" : "");
	html_dur_cell(out, idx, id, "before", &q->before, q->few_before);
	html_dur_cell(out, idx, id, "after", &q->after, q->few_after);
	rl_buf_printf(out, "<td id=\"s%zu-%s-change\" data-value=\"%s\" data-ci-lo=\"%s\" "
		      "data-ci-hi=\"%s\">%s <span class=\"ci\">%s</span></td><td>", idx, id,
		      num(v, sizeof(v), pct(q->change.ratio)), num(lo, sizeof(lo), pct(q->change.lo)),
		      num(hi, sizeof(hi), pct(q->change.hi)), fmt_pct(chg, sizeof(chg), q->change.ratio),
		      fmt_pct_ci(ci, sizeof(ci), &q->change));
	if (isfinite(q->change.ratio))
		rl_buf_printf(out, "x%.2f", q->change.ratio);
	rl_buf_puts(out, "</td></tr>\n");
}

static void html_counts(struct rl_buf *out, size_t idx, const struct rl_scmp *s)
{
	char b[64], a[64], v1[32], v2[32], chg[24];

	rl_buf_printf(out, "<table class=\"counts\"><tr><th></th><th>before</th><th>after</th>"
		      "<th>change</th></tr>\n<tr><td>requests</td><td id=\"s%zu-count-before\" "
		      "data-value=\"%s\">%s</td><td id=\"s%zu-count-after\" data-value=\"%s\">%s</td>"
		      "<td>%s</td></tr>\n", idx, num(v1, sizeof(v1), s->before.count),
		      fmt_count_rate(b, sizeof(b), &s->before), idx, num(v2, sizeof(v2), s->after.count),
		      fmt_count_rate(a, sizeof(a), &s->after),
		      fmt_pct(chg, sizeof(chg), s->rate_change + 1));
	rl_buf_printf(out, "<tr><td>errors (5xx)</td><td>%s</td>", fmt_errors(b, sizeof(b), &s->before));
	rl_buf_printf(out, "<td>%s</td><td></td></tr></table>\n", fmt_errors(a, sizeof(a), &s->after));
}

static void html_warnings(struct rl_buf *out, const struct rl_warnings *w, const char *id)
{
	if (!w->n)
		return;
	rl_buf_printf(out, "<ul class=\"warnings\" id=\"%s\">", id);
	for (size_t i = 0; i < w->n; i++) {
		rl_buf_printf(out, "<li class=\"warn\" data-code=\"%s\">&#9888; ", w->v[i].code);
		html_esc(out, w->v[i].text);
		rl_buf_puts(out, "</li>");
	}
	rl_buf_puts(out, "</ul>\n");
}

static void html_series(struct rl_buf *out, const struct rl_scmp *s, size_t idx)
{
	const char *v = rl_verdict_name(s->verdict);
	char cls[32], p[32], id[32];

	snprintf(cls, sizeof(cls), "v-%s", v);
	for (char *c = cls; *c; c++)
		if (*c == ' ')
			*c = '-';
	rl_buf_printf(out, "<section class=\"series\" id=\"s%zu\" data-key=\"", idx);
	html_esc(out, s->key);
	rl_buf_puts(out, "\"><h2>");
	html_esc(out, s->key);
	rl_buf_printf(out, "</h2>\n<p class=\"verdict\"><span class=\"badge %s\" id=\"s%zu-verdict\" "
		      "data-verdict=\"%s\">%s</span><span id=\"s%zu-mw-p\" data-value=\"%s\">", cls, idx,
		      v, v, idx, num(p, sizeof(p), s->mw.p));
	put_headline(out, s, false);
	rl_buf_puts(out, "</span></p>\n");
	html_plot(out, s, idx);
	html_counts(out, idx, s);
	rl_buf_puts(out, "<table class=\"quantiles\"><tr><th>quantile</th><th>before [95% CI]</th>"
		    "<th>after [95% CI]</th><th>change [95% CI]</th><th>ratio</th></tr>\n");
	for (int i = 0; i < RL_CMP_NQ; i++)
		html_quantile_row(out, idx, &s->q[i], i);
	rl_buf_puts(out, "</table>\n");
	snprintf(id, sizeof(id), "s%zu-warnings", idx);
	html_warnings(out, &s->warnings, id);
	rl_buf_puts(out, "</section>\n");
}

static void html_window(struct rl_buf *out, const char *what, const char *name,
			const struct rl_window *w)
{
	char t[32], l[256];

	rl_buf_printf(out, "<p class=\"meta\" id=\"window-%s\"><b>%s</b> ", what, what);
	html_esc(out, name);
	rl_buf_puts(out, ": host ");
	html_esc(out, w->host ? w->host : "?");
	rl_buf_puts(out, ", agent ");
	html_esc(out, w->agent_version ? w->agent_version : "?");
	rl_buf_printf(out, ", %s + %.1fs, labels ", fmt_time(t, sizeof(t), w->start_ms),
		      rl_window_seconds(w));
	html_esc(out, labels_text(l, sizeof(l), &w->labels));
	rl_buf_puts(out, "</p>\n");
}

static void html_only(struct rl_buf *out, const char *name, const struct rl_only *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rl_buf_puts(out, "<li>only in ");
		html_esc(out, name);
		rl_buf_puts(out, ": <code>");
		html_esc(out, v[i].key);
		rl_buf_printf(out, "</code> (%.0f requests)</li>", v[i].count);
	}
}

int rl_report_html(const struct rl_cmp *c, struct rl_buf *out)
{
	rl_buf_printf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		      "<title>reqlens compare</title><style>%s</style></head><body>\n"
		      "<h1>reqlens compare</h1>\n", css);
	html_window(out, "before", c->before_name, c->before);
	html_window(out, "after", c->after_name, c->after);
	html_warnings(out, &c->warnings, "warnings");
	for (size_t i = 0; i < c->n; i++)
		html_series(out, &c->series[i], i);
	if (c->n_only_before || c->n_only_after) {
		rl_buf_puts(out, "<ul id=\"unmatched\">");
		html_only(out, c->before_name, c->only_before, c->n_only_before);
		html_only(out, c->after_name, c->only_after, c->n_only_after);
		rl_buf_puts(out, "</ul>\n");
	}
	rl_buf_puts(out, "<footer><p id=\"rule\"><b>Verdict rule:</b> ");
	html_esc(out, RL_VERDICT_RULE);
	rl_buf_puts(out, "</p><p id=\"method\">");
	html_esc(out, RL_METHOD_NOTE);
	rl_buf_puts(out, "</p>");
	if (!isnan(c->fail_if_slower_pct))
		rl_buf_printf(out, "<p id=\"gate\" data-failed=\"%s\">Gate (--fail-if-slower=%g%%): %s</p>",
			      c->gate_failed ? "true" : "false", c->fail_if_slower_pct,
			      c->gate_failed ? "FAILED" : "passed");
	rl_buf_puts(out, "</footer>\n</body></html>\n");
	return out->err;
}
