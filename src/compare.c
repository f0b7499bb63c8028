// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `reqlens compare`: matching, aggregating and judging two windows. See compare.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "report.h"

#define fail(code, ...) do { snprintf(err, errlen, __VA_ARGS__); rc = (code); goto out; } while (0)

const double rl_cmp_q[RL_CMP_NQ] = { 0.5, 0.9, 0.95, 0.99, 0.999 };
const char *const rl_cmp_qname[RL_CMP_NQ] = { "p50", "p90", "p95", "p99", "p99.9" };

static const char *const default_metrics[] = {
	"http_server_request_duration_seconds", "reqlens_request_duration_seconds", NULL,
};

const char *rl_verdict_name(enum rl_verdict v)
{
	switch (v) {
	case RL_NOT_ENOUGH_DATA:
		return "not enough data";
	case RL_NO_CHANGE:
		return "no significant change";
	case RL_FASTER:
		return "faster";
	case RL_SLOWER:
		return "slower";
	}
	return "?";
}

/* ================================================================ warnings */

static int warn(struct rl_warnings *w, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int warn(struct rl_warnings *w, const char *code, const char *fmt, ...)
{
	struct rl_warning *v = realloc(w->v, (w->n + 1) * sizeof(*v));
	va_list ap;
	int n;

	if (!v)
		return -ENOMEM;
	w->v = v;
	v[w->n].code = strdup(code);
	va_start(ap, fmt);
	n = vasprintf(&v[w->n].text, fmt, ap);
	va_end(ap);
	if (n < 0)
		v[w->n].text = NULL;
	w->n++;
	return v[w->n - 1].code && v[w->n - 1].text ? 0 : -ENOMEM;
}

static void warnings_free(struct rl_warnings *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].code);
		free(w->v[i].text);
	}
	free(w->v);
	w->v = NULL;
	w->n = 0;
}

/* ================================================================ grouping */

/* A series of one window with its status codes folded together. */
struct group {
	char *key, *metric;
	struct rl_labels labels;
	struct rl_side side;
};

struct groups {
	struct group *v;
	size_t n;
};

static void groups_free(struct groups *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->v[i].key);
		free(g->v[i].metric);
		rl_labels_free(&g->v[i].labels);
		rl_bins_free(&g->v[i].side.bins);
	}
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

static bool wanted(const struct rl_series *s, const struct rl_cmp_opts *o)
{
	const char *const *m = o->metrics ? o->metrics : default_metrics;
	bool found = false;

	for (; *m && !found; m++)
		found = !strcmp(*m, s->metric);
	for (size_t i = 0; found && o->match && i < o->match->n; i++) {
		const char *v = rl_labels_get(&s->labels, o->match->kv[i].name);

		/* As in PromQL, a missing label matches the empty value. */
		found = !strcmp(v ? v : "", o->match->kv[i].value);
	}
	return found;
}

/* The series' labels without the status code, and its key. */
static int group_labels(const struct rl_series *s, struct rl_labels *l, char **key)
{
	struct rl_buf b;
	int rc = 0;

	for (size_t i = 0; i < s->labels.n && !rc; i++)
		if (strcmp(s->labels.kv[i].name, RL_STATUS_LABEL))
			rc = rl_labels_set(l, s->labels.kv[i].name, s->labels.kv[i].value);
	rl_buf_init(&b);
	rl_series_key(&b, s->metric, l);
	*key = rl_buf_steal(&b, NULL);
	return rc ? rc : *key ? 0 : -ENOMEM;
}

/* Folds one status-code series into its group. */
static int side_add(struct rl_side *side, const struct rl_series *s)
{
	const char *status = rl_labels_get(&s->labels, RL_STATUS_LABEL);

	side->count += s->count;
	side->sum_ns += s->sum_ns;
	if (status) {
		if (isnan(side->errors))
			side->errors = 0;
		if (atoi(status) >= 500)
			side->errors += s->count;
	}
	return rl_bins_merge(&side->bins, &s->bins);
}

static struct group *group_find(struct groups *g, const char *key)
{
	/* Linear: a window holds hundreds of series, and this runs once per series. */
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->v[i].key, key))
			return &g->v[i];
	return NULL;
}

static struct group *group_new(struct groups *g, const char *metric, struct rl_labels *l, char *key)
{
	struct group *v = realloc(g->v, (g->n + 1) * sizeof(*v)), *n;

	if (!v)
		return NULL;
	g->v = v;
	n = &v[g->n];
	memset(n, 0, sizeof(*n));
	n->metric = strdup(metric);
	if (!n->metric)
		return NULL;
	n->key = key;
	n->labels = *l;
	*l = (struct rl_labels){ 0 };
	n->side.errors = NAN;
	rl_bins_init(&n->side.bins);
	g->n++;
	return n;
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct group *)a)->key, ((const struct group *)b)->key);
}

static int group_window(const struct rl_window *w, const struct rl_cmp_opts *o, struct groups *g)
{
	double secs = rl_window_seconds(w);
	int rc = 0;

	for (size_t i = 0; i < w->nseries && !rc; i++) {
		const struct rl_series *s = &w->series[i];
		struct rl_labels l = { 0 };
		struct group *grp;
		char *key = NULL;

		/* No request in the window is no series (Prometheus answers zeros for idle ones). */
		if (!wanted(s, o) || !(s->count > 0))
			continue;
		rc = group_labels(s, &l, &key);
		grp = rc ? NULL : group_find(g, key);
		if (!rc && !grp) {
			grp = group_new(g, s->metric, &l, key);
			key = NULL;
			rc = grp ? 0 : -ENOMEM;
		}
		if (!rc)
			rc = side_add(&grp->side, s);
		rl_labels_free(&l);
		free(key);
	}
	for (size_t i = 0; i < g->n; i++) {
		struct rl_side *sd = &g->v[i].side;

		sd->rate = secs > 0 ? sd->count / secs : NAN;
		sd->error_rate = sd->count > 0 ? sd->errors / sd->count : NAN;
	}
	qsort(g->v, g->n, sizeof(*g->v), cmp_group);
	return rc;
}

/* =============================================================== judging */

static void compare_quantiles(struct rl_scmp *s)
{
	for (int i = 0; i < RL_CMP_NQ; i++) {
		struct rl_qcmp *q = &s->q[i];
		struct rl_qest b975, a975;
		double need = rl_stats_min_samples(rl_cmp_q[i]);

		rl_stats_quantile(&s->before.bins, rl_cmp_q[i], RL_Z_95, &q->before);
		rl_stats_quantile(&s->after.bins, rl_cmp_q[i], RL_Z_95, &q->after);
		/* The change's 95% CI needs each side at 97.5% (see stats.h). */
		rl_stats_quantile(&s->before.bins, rl_cmp_q[i], RL_Z_975, &b975);
		rl_stats_quantile(&s->after.bins, rl_cmp_q[i], RL_Z_975, &a975);
		rl_stats_ratio(&b975, &a975, &q->change);
		q->change.ratio = q->after.value / q->before.value;
		q->few_before = s->before.count < need;
		q->few_after = s->after.count < need;
	}
}

static enum rl_verdict verdict(const struct rl_scmp *s)
{
	const struct rl_ratio *c = &s->q[RL_CMP_HEADLINE].change;
	double need = rl_stats_min_samples(rl_cmp_q[RL_CMP_HEADLINE]);

	if (s->before.count < need || s->after.count < need)
		return RL_NOT_ENOUGH_DATA;
	if (!(s->mw.p < RL_CMP_P_MAX))
		return RL_NO_CHANGE;
	if (c->lo > 1)
		return RL_SLOWER;
	if (c->hi < 1)
		return RL_FASTER;
	return RL_NO_CHANGE;
}

static int series_warnings(struct rl_scmp *s)
{
	char rb[32], ra[32];
	int rc = 0;

	for (int i = 0; i < RL_CMP_NQ && !rc; i++) {
		if (!s->q[i].few_before && !s->q[i].few_after)
			continue;
		rc = warn(&s->warnings, "few_samples",
			  "%s needs >= %.0f requests per window (before %.0f, after %.0f): shown, but not "
			  "to be trusted", rl_cmp_qname[i], rl_stats_min_samples(rl_cmp_q[i]),
			  s->before.count, s->after.count);
	}
	if (!rc && fabs(s->rate_change) > RL_CMP_RATE_TOLERANCE)
		rc = warn(&s->warnings, "rate_mismatch",
			  "the request rate differs by %+.0f%% between the windows (%s before, %s after): "
			  "the load was not the same", 100 * s->rate_change,
			  rl_fmt_rate(rb, sizeof(rb), s->before.rate), rl_fmt_rate(ra, sizeof(ra), s->after.rate));
	return rc;
}

static int judge(struct rl_scmp *s, double gate_pct)
{
	compare_quantiles(s);
	if (rl_stats_mann_whitney(&s->before.bins, &s->after.bins, &s->mw))
		s->mw.p = NAN;
	s->rate_change = s->after.rate / s->before.rate - 1;
	s->verdict = verdict(s);
	/* The gate trips on a significant slowdown whose estimate exceeds the threshold. */
	s->gate_failed = !isnan(gate_pct) && s->verdict == RL_SLOWER &&
			 (s->q[RL_CMP_HEADLINE].change.ratio - 1) * 100 > gate_pct;
	return series_warnings(s);
}

/* Moves the matched pair of groups into a new comparison. */
static int add_pair(struct rl_cmp *c, struct group *b, struct group *a)
{
	struct rl_scmp *v = realloc(c->series, (c->n + 1) * sizeof(*v)), *s;

	if (!v)
		return -ENOMEM;
	c->series = v;
	s = &v[c->n++];
	memset(s, 0, sizeof(*s));
	s->metric = b->metric;
	s->labels = b->labels;
	s->key = b->key;
	s->before = b->side;
	s->after = a->side;
	/* Ownership moved: the groups must not free these. */
	b->metric = b->key = NULL;
	b->labels = (struct rl_labels){ 0 };
	rl_bins_init(&b->side.bins);
	rl_bins_init(&a->side.bins);
	return judge(s, c->fail_if_slower_pct);
}

static int add_only(struct rl_only **list, size_t *n, struct group *g)
{
	struct rl_only *v = realloc(*list, (*n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	*list = v;
	v[*n].key = g->key;
	v[*n].count = g->side.count;
	g->key = NULL;
	(*n)++;
	return 0;
}

/* Walks both sorted group lists: pairs, and the ones only in one window. */
static int match(struct rl_cmp *c, struct groups *gb, struct groups *ga)
{
	size_t i = 0, j = 0;
	int rc = 0;

	while (!rc && (i < gb->n || j < ga->n)) {
		int d = i == gb->n ? 1 : j == ga->n ? -1 : strcmp(gb->v[i].key, ga->v[j].key);

		if (d == 0)
			rc = add_pair(c, &gb->v[i++], &ga->v[j++]);
		else if (d < 0)
			rc = add_only(&c->only_before, &c->n_only_before, &gb->v[i++]);
		else
			rc = add_only(&c->only_after, &c->n_only_after, &ga->v[j++]);
	}
	return rc;
}

static bool differ(const char *a, const char *b)
{
	return a && b && strcmp(a, b);
}

/* The widest bin, relative to its lower edge, of the compared series (the open ends aside). */
static double widest_bin(const struct rl_cmp *c)
{
	double w = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct rl_bins *sides[2] = { &c->series[i].before.bins, &c->series[i].after.bins };

		for (int k = 0; k < 2; k++)
			for (size_t j = 0; j < sides[k]->n; j++) {
				const struct rl_bin *b = &sides[k]->v[j];

				if (b->lo > 0 && isfinite(b->hi) && b->count > 0)
					w = fmax(w, (b->hi - b->lo) / b->lo);
			}
	}
	return w;
}

/* Warnings about the windows as a whole. */
static int window_warnings(struct rl_cmp *c)
{
	const struct rl_window *b = c->before, *a = c->after;
	int rc = 0;

	if (differ(b->agent_version, a->agent_version))
		rc = warn(&c->warnings, "agent_version", "different agent versions: %s before, %s after",
			  b->agent_version, a->agent_version);
	if (!rc && differ(b->host, a->host))
		rc = warn(&c->warnings, "host", "different hosts: %s before, %s after", b->host, a->host);
	if (!rc && b->events_lost > 0)
		rc = warn(&c->warnings, "events_lost",
			  "the agent lost %.0f events during the before window (%s): some requests were not "
			  "measured", b->events_lost, b->events_lost_detail ? b->events_lost_detail : "");
	if (!rc && a->events_lost > 0)
		rc = warn(&c->warnings, "events_lost",
			  "the agent lost %.0f events during the after window (%s): some requests were not "
			  "measured", a->events_lost, a->events_lost_detail ? a->events_lost_detail : "");
	if (!rc && (b->le_resolution || a->le_resolution))
		rc = warn(&c->warnings, "le_resolution",
			  "rebuilt from Prometheus: the resolution is the scrape's le set (here bins up to "
			  "%.0f%% wide; 4 edges per octave by default), not the agent's 3%% buckets; error "
			  "bounds and CIs are widened to those le intervals", 100 * widest_bin(c));
	if (!rc && (c->n_only_before || c->n_only_after))
		rc = warn(&c->warnings, "unmatched_series",
			  "%zu series only in %s, %zu only in %s (listed below): not compared",
			  c->n_only_before, c->before_name, c->n_only_after, c->after_name);
	return rc;
}

static int check_layouts(const struct rl_window *b, const struct rl_window *a, const char *bn,
			 const char *an, char *err, size_t errlen)
{
	char ours[64];
	int rc = 0;

	snprintf(ours, sizeof(ours), "log-linear/v%d/ns/sub%d/%d", RL_HIST_LAYOUT_VERSION,
		 RL_HIST_SUB_BITS, (int)RL_HIST_NBUCKETS);
	if (strcmp(b->layout, a->layout))
		fail(-EINVAL, "different bucket layouts (%s in %s, %s in %s): refusing to compare",
		     b->layout, bn, a->layout, an);
	if (strcmp(b->layout, ours))
		fail(-EINVAL, "bucket layout %s is not this reqlens's (%s): compare with the reqlens "
		     "version that took the snapshots", b->layout, ours);
out:
	return rc;
}

int rl_compare(const struct rl_window *before, const struct rl_window *after,
	       const struct rl_cmp_opts *o, struct rl_cmp *out, char *err, size_t errlen)
{
	struct groups gb = { 0 }, ga = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	out->before = before;
	out->after = after;
	out->before_name = o->before_name ? o->before_name : "before";
	out->after_name = o->after_name ? o->after_name : "after";
	out->metrics = o->metrics ? o->metrics : default_metrics;
	out->fail_if_slower_pct = o->fail_if_slower_pct;
	rc = check_layouts(before, after, out->before_name, out->after_name, err, errlen);
	if (rc)
		goto out;
	rc = group_window(before, o, &gb);
	if (!rc)
		rc = group_window(after, o, &ga);
	if (rc)
		fail(rc, rc == -ENOMEM ? "out of memory" : "series of different resolutions in one window");
	rc = match(out, &gb, &ga);
	if (!rc)
		rc = window_warnings(out);
	if (rc)
		fail(rc, "out of memory");
	if (!out->n)
		fail(-ENODATA, "no series of %s%s in both windows (%zu only in %s, %zu only in %s)",
		     out->metrics[0], out->metrics[1] ? " etc." : "", out->n_only_before,
		     out->before_name, out->n_only_after, out->after_name);
	for (size_t i = 0; i < out->n; i++)
		out->gate_failed |= out->series[i].gate_failed;
out:
	groups_free(&gb);
	groups_free(&ga);
	return rc;
}

void rl_cmp_free(struct rl_cmp *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct rl_scmp *s = &c->series[i];

		free(s->metric);
		free(s->key);
		rl_labels_free(&s->labels);
		rl_bins_free(&s->before.bins);
		rl_bins_free(&s->after.bins);
		warnings_free(&s->warnings);
	}
	free(c->series);
	for (size_t i = 0; i < c->n_only_before; i++)
		free(c->only_before[i].key);
	for (size_t i = 0; i < c->n_only_after; i++)
		free(c->only_after[i].key);
	free(c->only_before);
	free(c->only_after);
	warnings_free(&c->warnings);
	memset(c, 0, sizeof(*c));
}

/* ================================================================ selector */

/* A quoted label value with the text format's escapes (\\, \", \n); *s moves past it. */
static int parse_quoted(const char **s, struct rl_buf *v)
{
	const char *p = *s;

	if (*p++ != '"')
		return -EINVAL;
	for (; *p && *p != '"'; p++) {
		char ch = *p;

		if (ch == '\\') {
			p++;
			if (*p != '\\' && *p != '"' && *p != 'n')
				return -EINVAL;
			ch = *p == 'n' ? '\n' : *p;
		}
		rl_buf_append(v, &ch, 1);
	}
	if (*p != '"')
		return -EINVAL;
	*s = p + 1;
	return v->err;
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

int rl_parse_selector(const char *s, struct rl_labels *l, char *err, size_t errlen)
{
	const char *p = skip_ws(s);
	struct rl_buf v;
	int rc = 0;

	rl_buf_init(&v);
	if (*p++ != '{')
		fail(-EINVAL, "invalid --selector '%s': want {name=\"value\",...}", s);
	for (p = skip_ws(p); *p != '}';) {
		char name[128];
		size_t n = 0;

		while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
		       (p[n] >= '0' && p[n] <= '9') || p[n] == '_')
			n++;
		if (!n || n >= sizeof(name))
			fail(-EINVAL, "invalid --selector '%s': want {name=\"value\",...}", s);
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		p = skip_ws(p + n);
		if (*p != '=' || p[1] == '~')
			fail(-EINVAL, "invalid --selector '%s': only name=\"value\" matchers are supported "
			     "for snapshot files", s);
		p = skip_ws(p + 1);
		rl_buf_free(&v);
		if (parse_quoted(&p, &v))
			fail(-EINVAL, "invalid --selector '%s': bad quoted value for %s", s, name);
		if (!rl_label_name_ok(name) || rl_labels_set(l, name, v.data ? v.data : ""))
			fail(-EINVAL, "invalid --selector '%s': bad or repeated label %s", s, name);
		p = skip_ws(p);
		if (*p == ',')
			p = skip_ws(p + 1);
		else if (*p != '}')
			fail(-EINVAL, "invalid --selector '%s': want {name=\"value\",...}", s);
	}
	if (*skip_ws(p + 1))
		fail(-EINVAL, "invalid --selector '%s': unexpected text after }", s);
out:
	rl_buf_free(&v);
	return rc;
}

/* ===================================================================== CLI */

#define MAX_METRICS 16
#define RL_MAX_LABELS_BY 16	/* --by labels, with the terminating NULL */

enum out_format { OUT_TABLE, OUT_JSON };

struct cmp_args {
	const char *files[2];
	size_t nfiles;
	const char *html, *prometheus, *selector, *by;
	const char *before_range, *after_range;
	double range[2][2];	/* before, after: start and end, Unix seconds */
	const char *metrics[MAX_METRICS + 1];
	size_t nmetrics;
	enum out_format format;
	double fail_pct;
	bool help;
};

static void compare_usage(FILE *out)
{
	fprintf(out,
		"usage: reqlens compare BEFORE.json AFTER.json [flags]\n"
		"       reqlens compare --prometheus URL --before START,END --after START,END\n"
		"                       [--selector '{service_name=\"...\"}'] [flags]\n\n"
		"Compares the latency of two windows (snapshots from reqlens snapshot, or\n"
		"ranges of a Prometheus that scrapes reqlens agents), series by series, and\n"
		"says per series whether it got faster, slower, or did not change measurably.\n\n"
		"  --format table|json      what to print on stdout (default table)\n"
		"  --html FILE              also write a self-contained HTML report\n"
		"  --fail-if-slower=P%%      exit 3 when a series is \"slower\" by more than P%% at p95\n"
		"  --metric NAME            a histogram to compare (repeatable; default\n"
		"                           http_server_request_duration_seconds and\n"
		"                           reqlens_request_duration_seconds)\n"
		"  --selector '{k=\"v\",...}' only these series (files: = matchers only; Prometheus:\n"
		"                           any PromQL matchers, passed through)\n"
		"  --prometheus URL         read both windows from this Prometheus\n"
		"  --before START,END       the before window (RFC3339 or Unix seconds)\n"
		"  --after START,END        the after window\n"
		"  --by L1,L2,...           Prometheus only: the labels a series is made of\n"
		"                           (default: the metric's reqlens labels)\n\n"
		"Verdict rule: %s\n\n%s\n\n"
		"Exit status: 0 compared, 1 runtime error, 2 usage error, 3 --fail-if-slower tripped.\n",
		RL_VERDICT_RULE, RL_METHOD_NOTE);
}

#undef fail
#define usage_fail(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

static int parse_pct(const char *v, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	if (errno || end == v || !isfinite(*out) || *out < 0 || v[0] == '-' || v[0] == '+')
		return -EINVAL;
	if (*end == '%')
		end++;
	return *end ? -EINVAL : 0;
}

/* Splits "a,b,c" in place into a NULL-terminated list of at most max - 1 names. */
static int split_labels(char *s, const char **out, size_t max)
{
	size_t n = 0;

	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (n + 1 >= max || !rl_label_name_ok(tok))
			return -EINVAL;
		out[n++] = tok;
	}
	out[n] = NULL;
	return 0;
}

/* "START,END" into Unix seconds. */
static int parse_range(const char *flag, const char *v, double *start, double *end, char *err,
		       size_t errlen)
{
	const char *comma = strchr(v, ',');
	char first[64];

	if (!comma || (size_t)(comma - v) >= sizeof(first))
		usage_fail("invalid --%s \"%s\": want START,END (RFC3339 or Unix seconds)", flag, v);
	snprintf(first, sizeof(first), "%.*s", (int)(comma - v), v);
	if (rl_parse_time(first, start) || rl_parse_time(comma + 1, end))
		usage_fail("invalid --%s \"%s\": want START,END (RFC3339 or Unix seconds)", flag, v);
	if (!(*end > *start))
		usage_fail("invalid --%s \"%s\": END must come after START", flag, v);
	return 0;
}



static int cmp_apply(struct cmp_args *a, const char *flag, const char *v, char *err, size_t errlen)
{
	if (!strcmp(flag, "html")) {
		a->html = v;
	} else if (!strcmp(flag, "format")) {
		if (strcmp(v, "table") && strcmp(v, "json"))
			usage_fail("invalid --format \"%s\": want table or json", v);
		a->format = !strcmp(v, "json") ? OUT_JSON : OUT_TABLE;
	} else if (!strcmp(flag, "fail-if-slower")) {
		if (parse_pct(v, &a->fail_pct))
			usage_fail("invalid --fail-if-slower \"%s\": want a percentage such as 5%%", v);
	} else if (!strcmp(flag, "metric")) {
		if (a->nmetrics == MAX_METRICS)
			usage_fail("too many --metric flags (at most %d)", MAX_METRICS);
		if (!rl_label_name_ok(v) && !strchr(v, ':'))
			usage_fail("invalid --metric \"%s\": want a metric name", v);
		a->metrics[a->nmetrics++] = v;
	} else if (!strcmp(flag, "selector")) {
		a->selector = v;
	} else if (!strcmp(flag, "prometheus")) {
		a->prometheus = v;
	} else if (!strcmp(flag, "before")) {
		a->before_range = v;
		return parse_range(flag, v, &a->range[0][0], &a->range[0][1], err, errlen);
	} else if (!strcmp(flag, "after")) {
		a->after_range = v;
		return parse_range(flag, v, &a->range[1][0], &a->range[1][1], err, errlen);
	} else if (!strcmp(flag, "by")) {
		const char *names[RL_MAX_LABELS_BY];
		char copy[512];

		snprintf(copy, sizeof(copy), "%s", v);
		if (strlen(v) >= sizeof(copy) || split_labels(copy, names, RL_MAX_LABELS_BY))
			usage_fail("invalid --by \"%s\": want label names separated by commas", v);
		a->by = v;
	} else {
		usage_fail("unknown flag --%s", flag);
	}
	return 0;
}

/* Every flag of compare takes a value. */
static bool cmp_known(const char *flag)
{
	static const char *const names[] = {
		"html", "format", "fail-if-slower", "metric", "selector", "prometheus", "before", "after", "by",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i], flag))
			return true;
	return false;
}

static int cmp_check(const struct cmp_args *a, char *err, size_t errlen);

static int cmp_parse(int argc, char **argv, struct cmp_args *a, char *err, size_t errlen)
{
	a->fail_pct = NAN;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *v;
		char flag[64];
		size_t len;
		int rc;

		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			a->help = true;
			return 0;
		}
		if (strncmp(arg, "--", 2) || !arg[2]) {
			if (arg[0] == '-' && arg[1])
				usage_fail("unknown flag %s", arg);
			if (a->nfiles == 2)
				usage_fail("unexpected argument \"%s\": compare takes two files", arg);
			a->files[a->nfiles++] = arg;
			continue;
		}
		arg += 2;
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		snprintf(flag, sizeof(flag), "%.*s", (int)len, arg);
		if (!cmp_known(flag))
			usage_fail("unknown flag --%s", flag);
		if (eq)
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else
			usage_fail("flag --%s needs a value", flag);
		rc = cmp_apply(a, flag, v, err, errlen);
		if (rc)
			return rc;
	}
	a->metrics[a->nmetrics] = NULL;
	return cmp_check(a, err, errlen);
}

/* The combinations: files or Prometheus, each with what it needs. */
static int cmp_check(const struct cmp_args *a, char *err, size_t errlen)
{
	if (a->prometheus && a->nfiles)
		usage_fail("give either two snapshot files or --prometheus, not both");
	if (a->prometheus && (!a->before_range || !a->after_range))
		usage_fail("--prometheus needs --before START,END and --after START,END");
	if (!a->prometheus && (a->before_range || a->after_range || a->by))
		usage_fail("--before, --after and --by go with --prometheus");
	if (!a->prometheus && a->nfiles != 2)
		usage_fail("compare needs two snapshot files: reqlens compare BEFORE.json AFTER.json");
	return 0;
}

#undef usage_fail
#define fail(code, ...) do { snprintf(err, errlen, __VA_ARGS__); rc = (code); goto out; } while (0)

/* The labels a Prometheus series of this metric is made of (see the README's metrics). */
static const char *default_by(const char *metric)
{
	if (!strcmp(metric, "http_server_request_duration_seconds"))
		return "service_name,server_port,http_request_method,http_route,http_response_status_code";
	if (!strcmp(metric, "http_client_request_duration_seconds"))
		return "service_name,peer_address,peer_port,http_request_method,http_response_status_code";
	if (!strcmp(metric, "reqlens_request_duration_seconds") ||
	    !strcmp(metric, "reqlens_request_queue_seconds"))
		return "service_name,server_port,protocol";
	if (!strcmp(metric, "reqlens_client_request_duration_seconds"))
		return "service_name,peer_address,peer_port,protocol";
	return "service_name";
}

static int prom_window(const struct cmp_args *a, int which, struct rl_window *w, char *err,
		       size_t errlen)
{
	struct rl_prom_query q = { .url = a->prometheus, .selector = a->selector,
				   .start_s = a->range[which][0], .end_s = a->range[which][1] };
	const char *const *m = a->nmetrics ? a->metrics : default_metrics;
	const char *by[RL_MAX_LABELS_BY];
	char *copy = NULL, why[512];
	int rc;

	for (rc = 0; !rc && *m; m++) {
		free(copy);
		copy = strdup(a->by ? a->by : default_by(*m));
		if (!copy || split_labels(copy, by, RL_MAX_LABELS_BY))
			fail(-EINVAL, "invalid --by \"%s\": want label names separated by commas", a->by);
		q.metric = *m;
		q.by = by;
		rc = rl_window_from_prometheus(&q, w, err, errlen);
	}
	/* Lost events and versions only feed warnings: their absence must not stop a comparison. */
	if (!rc && rl_window_prometheus_meta(&q, w, why, sizeof(why)))
		fprintf(stderr, "reqlens compare: warning: %s\n", why);
out:
	free(copy);
	return rc;
}

static int load_windows(const struct cmp_args *a, struct rl_window *b, struct rl_window *w,
			char *err, size_t errlen)
{
	int rc;

	if (!a->prometheus) {
		rc = rl_window_load(a->files[0], b, err, errlen);
		return rc ? rc : rl_window_load(a->files[1], w, err, errlen);
	}
	rc = rl_http_init();
	if (rc) {
		snprintf(err, errlen, "cannot start libcurl");
		return rc;
	}
	rc = prom_window(a, 0, b, err, errlen);
	return rc ? rc : prom_window(a, 1, w, err, errlen);
}

static int emit(const struct cmp_args *a, const struct rl_cmp *c, char *err, size_t errlen)
{
	struct rl_buf out;
	int rc;

	rl_buf_init(&out);
	rc = a->format == OUT_JSON ? rl_report_json(c, &out) : rl_report_table(c, &out);
	if (rc)
		fail(rc, "out of memory");
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout))
		fail(-EIO, "cannot write to stdout: %s", strerror(errno));
	if (!a->html)
		goto out;
	rl_buf_free(&out);
	rc = rl_report_html(c, &out);
	if (rc)
		fail(rc, "out of memory");
	rc = rl_write_atomic(a->html, out.data, out.len, err, errlen);
out:
	rl_buf_free(&out);
	return rc;
}

static int compare_run(const struct cmp_args *a, bool *gate_failed, char *err, size_t errlen)
{
	struct rl_window b = { 0 }, w = { 0 };
	struct rl_labels match = { 0 };
	struct rl_cmp c = { 0 };
	struct rl_cmp_opts o = {
		.metrics = a->nmetrics ? a->metrics : NULL,
		.fail_if_slower_pct = a->fail_pct,
		.before_name = a->prometheus ? "before" : a->files[0],
		.after_name = a->prometheus ? "after" : a->files[1],
	};
	int rc;

	/* Prometheus filtered already, and understands more than = matchers. */
	if (a->selector && !a->prometheus) {
		rc = rl_parse_selector(a->selector, &match, err, errlen);
		if (rc)
			goto out;
		o.match = &match;
	}
	rc = load_windows(a, &b, &w, err, errlen);
	if (!rc)
		rc = rl_compare(&b, &w, &o, &c, err, errlen);
	if (!rc)
		rc = emit(a, &c, err, errlen);
	*gate_failed = !rc && c.gate_failed;
out:
	rl_cmp_free(&c);
	rl_window_free(&b);
	rl_window_free(&w);
	rl_labels_free(&match);
	return rc;
}

int rl_compare_main(int argc, char **argv)
{
	struct cmp_args a = { 0 };
	bool gate_failed = false;
	char err[1024];
	int rc;

	if (cmp_parse(argc, argv, &a, err, sizeof(err))) {
		fprintf(stderr, "reqlens compare: error: %s (try reqlens compare --help)\n", err);
		return 2;
	}
	if (a.help) {
		compare_usage(stdout);
		return 0;
	}
	rc = compare_run(&a, &gate_failed, err, sizeof(err));
	if (rc == -EINVAL && a.selector && strstr(err, "--selector")) {
		fprintf(stderr, "reqlens compare: error: %s (try reqlens compare --help)\n", err);
		return 2;
	}
	if (rc) {
		fprintf(stderr, "reqlens compare: error: %s\n", err);
		return 1;
	}
	if (gate_failed) {
		fprintf(stderr, "reqlens compare: a series is slower by more than %g%% at p95 "
			"(--fail-if-slower)\n", a.fail_pct);
		return 3;
	}
	return 0;
}
