// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `reqlens snapshot`: two reads of an agent's /api/v1/histograms, their
 * difference written as a window; and the readers of windows that `reqlens
 * compare` uses (snapshot files, Prometheus). See snapshot.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "cli.h"
#include "expo.h"
#include "snapshot.h"

#define fail(code, ...) do { snprintf(err, errlen, __VA_ARGS__); rc = (code); goto out; } while (0)

/* Bodies beyond this are not an agent's document: refuse them rather than exhaust memory. */
#define MAX_BODY (1u << 30)
#define GET_TIMEOUT_MS 30000

/* ================================================================ plumbing */

int rl_http_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
	struct rl_buf *b = user;

	if (b->len + size * n > MAX_BODY || rl_buf_append(b, p, size * n))
		return 0;	/* makes curl stop with CURLE_WRITE_ERROR */
	return size * n;
}

int rl_http_get(const char *url, const char *what, long timeout_ms, struct rl_buf *body,
		long *status, char *err, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	CURL *c;
	int rc = 0;

	c = curl_easy_init();
	if (!c)
		fail(-ENOMEM, "cannot start an HTTP client (out of memory)");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");	/* whatever curl decodes */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* An agent on this host is never behind the proxy the environment names. */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "reqlens/" REQLENS_VERSION);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK)
		fail(-EHOSTUNREACH, "cannot reach %s: %s", what ? what : url,
		     cerr[0] ? cerr : curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
out:
	if (c)
		curl_easy_cleanup(c);
	return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int rl_write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	char *tmp = NULL;
	int fd = -1, rc = 0;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
		tmp = NULL;
		fail(-ENOMEM, "out of memory");
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fail(-errno, "cannot write %s: %s", path, strerror(errno));
	rc = write_all(fd, data, len);
	/* fsync before rename: after a crash the name holds the old file or the whole new one. */
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	fd = -1;
	if (rc)
		fail(rc, "cannot write %s: %s", path, strerror(-rc));
	if (rename(tmp, path))
		fail(-errno, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	free(tmp);
	return rc;
}

int rl_json_parse(const char *text, size_t len, struct json_object **out, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	enum json_tokener_error je;
	size_t end;
	int rc = 0;

	*out = NULL;
	if (!tok)
		fail(-ENOMEM, "out of memory");
	if (len > INT32_MAX)
		fail(-EINVAL, "not JSON: too large");
	o = json_tokener_parse_ex(tok, text, (int)len);
	je = json_tokener_get_error(tok);
	if (!o || je != json_tokener_success) {
		if (je == json_tokener_continue)
			fail(-EINVAL, "not JSON: the document ends early (%zu bytes)", len);
		fail(-EINVAL, "not JSON: %s at byte %zu", json_tokener_error_desc(je),
		     json_tokener_get_parse_end(tok));
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (!strchr(" \t\r\n", text[end]))
			fail(-EINVAL, "not JSON: unexpected data after the document at byte %zu", end);
	*out = o;
	o = NULL;
out:
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	return rc;
}

/* ============================================================ JSON helpers */

static struct json_object *jget(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

/* The member of any type, or NULL. */
static struct json_object *jval(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* A non-negative integer (json-c keeps those above INT64_MAX as uint64). */
static bool jcount(struct json_object *v, uint64_t *out)
{
	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	if (json_object_get_int64(v) < 0)
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

static bool jnumber(struct json_object *v, double *out)
{
	if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return false;
	*out = json_object_get_double(v);
	return isfinite(*out);
}

/* A double in the fewest digits that read back the same; JSON null for NaN and infinities. */
struct json_object *rl_json_double(double v)
{
	char tmp[32];

	if (!isfinite(v))
		return NULL;
	/* Whole numbers as integers ("60", not "6e+01"), as the agent prints them; -0 as 0. */
	if (v == 0) {
		snprintf(tmp, sizeof(tmp), "0");
	} else if (fabs(v) < 9007199254740992.0 && v == trunc(v)) {
		snprintf(tmp, sizeof(tmp), "%.0f", v);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
	}
	return json_object_new_double_s(v, tmp);
}

/* ================================================================== labels */

void rl_labels_free(struct rl_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->kv[i].name);
		free(l->kv[i].value);
	}
	free(l->kv);
	l->kv = NULL;
	l->n = 0;
}

int rl_labels_set(struct rl_labels *l, const char *name, const char *value)
{
	struct rl_kv *kv;
	size_t i;

	for (i = 0; i < l->n && strcmp(l->kv[i].name, name) < 0; i++)
		;
	if (i < l->n && !strcmp(l->kv[i].name, name))
		return -EEXIST;
	kv = realloc(l->kv, (l->n + 1) * sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	l->kv = kv;
	memmove(&kv[i + 1], &kv[i], (l->n - i) * sizeof(*kv));
	kv[i].name = strdup(name);
	kv[i].value = strdup(value);
	l->n++;
	return kv[i].name && kv[i].value ? 0 : -ENOMEM;
}

const char *rl_labels_get(const struct rl_labels *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->kv[i].name, name))
			return l->kv[i].value;
	return NULL;
}

int rl_labels_cmp(const struct rl_labels *a, const struct rl_labels *b)
{
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		int c = strcmp(a->kv[i].name, b->kv[i].name);

		if (!c)
			c = strcmp(a->kv[i].value, b->kv[i].value);
		if (c)
			return c;
	}
	return a->n < b->n ? -1 : a->n > b->n;
}

void rl_series_key(struct rl_buf *out, const char *metric, const struct rl_labels *l)
{
	rl_buf_puts(out, metric);
	rl_buf_puts(out, "{");
	for (size_t i = 0; i < l->n; i++) {
		rl_buf_printf(out, "%s%s=\"", i ? "," : "", l->kv[i].name);
		rl_expo_escape_label(out, l->kv[i].value);
		rl_buf_puts(out, "\"");
	}
	rl_buf_puts(out, "}");
}

/* The labels object of a series: every value a string. */
static int labels_from_json(struct json_object *o, struct rl_labels *l)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return -EINVAL;
	json_object_object_foreach(o, k, v) {
		int rc;

		if (!json_object_is_type(v, json_type_string))
			return -EINVAL;
		rc = rl_labels_set(l, k, json_object_get_string(v));
		if (rc)
			return rc;
	}
	return 0;
}

bool rl_label_name_ok(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

/* ================================================================== window */

void rl_window_free(struct rl_window *w)
{
	if (!w)
		return;
	free(w->source);
	free(w->host);
	free(w->agent_version);
	free(w->layout);
	free(w->events_lost_detail);
	rl_labels_free(&w->labels);
	for (size_t i = 0; i < w->nseries; i++) {
		free(w->series[i].metric);
		rl_labels_free(&w->series[i].labels);
		rl_bins_free(&w->series[i].bins);
	}
	free(w->series);
	memset(w, 0, sizeof(*w));
}

double rl_window_seconds(const struct rl_window *w)
{
	return (w->end_ms - w->start_ms) / 1000;
}

/* A new zeroed series at the end of w, or NULL on ENOMEM. */
static struct rl_series *window_add(struct rl_window *w, const char *metric)
{
	struct rl_series *s;

	if (w->nseries == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;

		s = realloc(w->series, cap * sizeof(*s));
		if (!s)
			return NULL;
		w->series = s;
		w->cap = cap;
	}
	s = &w->series[w->nseries];
	memset(s, 0, sizeof(*s));
	s->metric = strdup(metric);
	if (!s->metric)
		return NULL;
	rl_bins_init(&s->bins);
	w->nseries++;
	return s;
}

/* Adds a lost-events reason to the window's total and its "reason=N" list. */
static int window_add_lost(struct rl_window *w, const char *reason, double n)
{
	char *d = NULL;

	w->events_lost += n;
	if (n <= 0)
		return 0;
	if (asprintf(&d, "%s%s%s=%.0f", w->events_lost_detail ? w->events_lost_detail : "",
		     w->events_lost_detail ? ", " : "", reason ? reason : "?", n) < 0)
		return -ENOMEM;
	free(w->events_lost_detail);
	w->events_lost_detail = d;
	return 0;
}

/* =========================================================== agent format */

/* "log-linear/v1/ns/sub5/1217": what must be equal for bucket indices to mean the same. */
static char *layout_desc(struct json_object *layout)
{
	struct json_object *v, *sub, *n;
	const char *name = jstr(layout, "name"), *unit = jstr(layout, "unit");
	char *s;

	v = jget(layout, "version", json_type_int);
	sub = jget(layout, "sub_bucket_bits", json_type_int);
	n = jget(layout, "buckets", json_type_int);
	if (!name || !unit || !v || !sub || !n)
		return NULL;
	if (asprintf(&s, "%s/v%" PRId64 "/%s/sub%" PRId64 "/%" PRId64, name, json_object_get_int64(v),
		     unit, json_object_get_int64(sub), json_object_get_int64(n)) < 0)
		return NULL;
	return s;
}

static char *our_layout(void)
{
	char *s;

	if (asprintf(&s, "log-linear/v%d/ns/sub%d/%d", RL_HIST_LAYOUT_VERSION, RL_HIST_SUB_BITS,
		     (int)RL_HIST_NBUCKETS) < 0)
		return NULL;
	return s;
}

/* buckets: [[index,count],...], indices ascending and below nbuckets. */
static int check_buckets(struct json_object *arr, uint64_t nbuckets)
{
	uint64_t prev = 0, idx, cnt;
	size_t n;

	if (!arr || !json_object_is_type(arr, json_type_array))
		return -EINVAL;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		struct json_object *pair = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(pair, json_type_array) || json_object_array_length(pair) != 2 ||
		    !jcount(json_object_array_get_idx(pair, 0), &idx) ||
		    !jcount(json_object_array_get_idx(pair, 1), &cnt))
			return -EINVAL;
		if (idx >= nbuckets || (i && idx <= prev))
			return -EINVAL;
		prev = idx;
	}
	return 0;
}

/* The histograms and counters arrays of an agent or snapshot document. */
static int check_series(struct json_object *doc, uint64_t nbuckets, char *err, size_t errlen)
{
	struct json_object *h = jget(doc, "histograms", json_type_array);
	struct json_object *c = jget(doc, "counters", json_type_array);
	int rc = 0;

	if (!h || !c)
		fail(-EINVAL, "no histograms or counters list");
	for (size_t i = 0; i < json_object_array_length(h); i++) {
		struct json_object *s = json_object_array_get_idx(h, i), *labels;
		uint64_t dummy;

		labels = jget(s, "labels", json_type_object);
		if (!jstr(s, "name") || !labels || !jcount(jget(s, "count", json_type_int), &dummy) ||
		    check_buckets(jget(s, "buckets", json_type_array), nbuckets))
			fail(-EINVAL, "histogram #%zu is malformed", i + 1);
	}
	for (size_t i = 0; i < json_object_array_length(c); i++) {
		struct json_object *s = json_object_array_get_idx(c, i);

		if (!jstr(s, "name") || !jget(s, "labels", json_type_object))
			fail(-EINVAL, "counter #%zu is malformed", i + 1);
	}
out:
	return rc;
}

static uint64_t layout_nbuckets(struct json_object *doc)
{
	struct json_object *n = jget(jget(doc, "layout", json_type_object), "buckets", json_type_int);

	return n && json_object_get_int64(n) > 0 ? (uint64_t)json_object_get_int64(n) : 0;
}

int rl_snapshot_check_agent(struct json_object *doc, char *err, size_t errlen)
{
	struct json_object *ver, *agent, *layout;
	const char *format;
	char *desc = NULL;
	int rc = 0;

	if (!json_object_is_type(doc, json_type_object))
		fail(-EINVAL, "not a reqlens agent document (not a JSON object)");
	format = jstr(doc, "format");
	if (!format || strcmp(format, RL_AGENT_FORMAT))
		fail(-EINVAL, "not a reqlens agent document (format \"%s\", expected \"%s\")",
		     format ? format : "<none>", RL_AGENT_FORMAT);
	ver = jget(doc, "format_version", json_type_int);
	if (!ver || json_object_get_int64(ver) != 1)
		fail(-EINVAL, "agent document format_version %s: this reqlens reads version 1",
		     ver ? json_object_get_string(ver) : "<none>");
	agent = jget(doc, "agent", json_type_object);
	layout = jget(doc, "layout", json_type_object);
	desc = layout_desc(layout);
	if (!agent || !desc || !layout_nbuckets(doc) || !jget(doc, "time_ms", json_type_int))
		fail(-EINVAL, "not a reqlens agent document (no agent, layout or time_ms)");
	rc = check_series(doc, layout_nbuckets(doc), err, errlen);
out:
	free(desc);
	return rc;
}

char *rl_snapshot_endpoint(const char *url)
{
	static const char path[] = "/api/v1/histograms";
	size_t n = strlen(url);
	char *s;

	while (n && url[n - 1] == '/')
		n--;
	if (n >= strlen(path) && !strncmp(url + n - strlen(path), path, strlen(path)))
		return strndup(url, n);
	if (asprintf(&s, "%.*s%s", (int)n, url, path) < 0)
		return NULL;
	return s;
}

/* ==================================================================== diff */

/* A series of a document, found by its key (metric and sorted labels). */
struct indexed {
	char *key;
	struct json_object *o;
};

struct index {
	struct indexed *v;
	size_t n;
};

static void index_free(struct index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		free(ix->v[i].key);
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}

static char *key_of(struct json_object *s)
{
	struct rl_labels l = { 0 };
	struct rl_buf b;

	rl_buf_init(&b);
	if (labels_from_json(jget(s, "labels", json_type_object), &l)) {
		rl_labels_free(&l);
		return NULL;
	}
	rl_series_key(&b, jstr(s, "name"), &l);
	rl_labels_free(&l);
	return rl_buf_steal(&b, NULL);
}

static int cmp_indexed(const void *a, const void *b)
{
	return strcmp(((const struct indexed *)a)->key, ((const struct indexed *)b)->key);
}

static int index_build(struct json_object *arr, struct index *ix)
{
	size_t n = json_object_array_length(arr);

	ix->n = 0;
	ix->v = calloc(n ? n : 1, sizeof(*ix->v));
	if (!ix->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);

		ix->v[i].o = s;
		ix->v[i].key = key_of(s);
		ix->n++;
		if (!ix->v[i].key)
			return -ENOMEM;
	}
	qsort(ix->v, ix->n, sizeof(*ix->v), cmp_indexed);
	return 0;
}

static struct json_object *index_find(const struct index *ix, const char *key)
{
	struct indexed k = { .key = (char *)key }, *hit;

	hit = bsearch(&k, ix->v, ix->n, sizeof(*ix->v), cmp_indexed);
	return hit ? hit->o : NULL;
}

/* The snapshot's own reads: the agent serving on own_port, and this process asking it. */
static bool is_own(struct json_object *s, int own_port)
{
	struct json_object *l = jget(s, "labels", json_type_object);
	const char *svc = jstr(l, "service_name"), *sp = jstr(l, "server_port"), *pp = jstr(l, "peer_port");
	char port[16];

	if (!own_port || !svc || strcmp(svc, "reqlens"))
		return false;
	snprintf(port, sizeof(port), "%d", own_port);
	return (sp && !strcmp(sp, port)) || (pp && !strcmp(pp, port));
}

static bool is_request_metric(const char *name)
{
	static const char suffix[] = "request_duration_seconds";
	size_t n = strlen(name);

	return n >= strlen(suffix) && !strcmp(name + n - strlen(suffix), suffix);
}

static uint64_t pair_at(struct json_object *arr, size_t i, int which)
{
	uint64_t v = 0;

	jcount(json_object_array_get_idx(json_object_array_get_idx(arr, i), which), &v);
	return v;
}

/* end - start bucket by bucket (both ascending); -ERANGE when a bucket went down. */
static int diff_buckets(struct json_object *start, struct json_object *end, struct json_object *out,
			uint64_t *total)
{
	size_t ns = start ? json_object_array_length(start) : 0, ne = json_object_array_length(end);
	size_t i = 0, j = 0;

	*total = 0;
	while (j < ne) {
		uint64_t idx = pair_at(end, j, 0), e = pair_at(end, j, 1), s = 0;
		struct json_object *pair;

		if (i < ns && pair_at(start, i, 0) < idx)
			return -ERANGE;	/* a bucket that had counts is gone */
		if (i < ns && pair_at(start, i, 0) == idx)
			s = pair_at(start, i++, 1);
		j++;
		if (e < s)
			return -ERANGE;
		if (e == s)
			continue;
		pair = json_object_new_array_ext(2);
		json_object_array_add(pair, json_object_new_uint64(idx));
		json_object_array_add(pair, json_object_new_uint64(e - s));
		json_object_array_add(out, pair);
		*total += e - s;
	}
	return i < ns ? -ERANGE : 0;
}

static struct json_object *copy_of(struct json_object *o)
{
	struct json_object *c = NULL;

	return json_object_deep_copy(o, &c, NULL) ? NULL : c;
}

/*
 * One histogram's window: NULL in *out when nothing moved. The restart
 * message names the series, since that is what a user can check.
 */
static int diff_histogram(struct json_object *s0, struct json_object *s1, const char *key,
			  struct json_object **out, uint64_t *count, char *err, size_t errlen)
{
	struct json_object *h = NULL, *buckets = json_object_new_array();
	uint64_t sum0 = 0, sum1 = 0;
	int rc;

	*out = NULL;
	rc = diff_buckets(s0 ? jget(s0, "buckets", json_type_array) : NULL,
			  jget(s1, "buckets", json_type_array), buckets, count);
	jcount(jget(s0, "sum_ns", json_type_int), &sum0);
	jcount(jget(s1, "sum_ns", json_type_int), &sum1);
	if (rc || sum1 < sum0)
		fail(-ERANGE, "%s went down during the window: the agent restarted; take the snapshot again",
		     key);
	if (!*count)
		goto out;
	h = json_object_new_object();
	json_object_object_add(h, "name", json_object_new_string(jstr(s1, "name")));
	json_object_object_add(h, "labels", copy_of(jget(s1, "labels", json_type_object)));
	json_object_object_add(h, "count", json_object_new_uint64(*count));
	json_object_object_add(h, "sum_ns", json_object_new_uint64(sum1 - sum0));
	json_object_object_add(h, "buckets", buckets);
	buckets = NULL;
	*out = h;
out:
	json_object_put(buckets);
	return rc;
}

/* A series the agent no longer shows had its counts reset: a restart. */
static int check_vanished(const struct index *i0, const struct index *i1, int own_port, char *err,
			  size_t errlen)
{
	for (size_t k = 0; k < i0->n; k++) {
		uint64_t n0 = 0;

		jcount(jget(i0->v[k].o, "count", json_type_int), &n0);
		if (n0 && !index_find(i1, i0->v[k].key) && !is_own(i0->v[k].o, own_port)) {
			snprintf(err, errlen, "%s went down during the window: the agent restarted; take the "
				 "snapshot again", i0->v[k].key);
			return -ERANGE;
		}
	}
	return 0;
}

/* Every histogram of end minus start into out; *requests counts the request metrics. */
static int diff_histograms(struct json_object *start, struct json_object *end,
			   const struct rl_snapshot_opts *o, struct json_object *out,
			   uint64_t *requests, char *err, size_t errlen)
{
	struct json_object *a0 = jget(start, "histograms", json_type_array);
	struct json_object *a1 = jget(end, "histograms", json_type_array);
	struct index i0 = { 0 }, i1 = { 0 };
	int rc;

	*requests = 0;
	rc = index_build(a0, &i0);
	if (!rc)
		rc = index_build(a1, &i1);
	if (rc)
		fail(rc, "out of memory");
	rc = check_vanished(&i0, &i1, o->own_port, err, errlen);
	if (rc)
		goto out;
	for (size_t k = 0; k < json_object_array_length(a1); k++) {
		struct json_object *s1 = json_object_array_get_idx(a1, k), *h;
		uint64_t n;
		char *key;

		if (is_own(s1, o->own_port))
			continue;
		key = key_of(s1);
		if (!key)
			fail(-ENOMEM, "out of memory");
		rc = diff_histogram(index_find(&i0, key), s1, key, &h, &n, err, errlen);
		free(key);
		if (rc)
			goto out;
		if (!h)
			continue;
		json_object_array_add(out, h);
		if (is_request_metric(jstr(s1, "name")))
			*requests += n;
	}
out:
	index_free(&i0);
	index_free(&i1);
	return rc;
}

/* Counters: the lost-events ones always (a 0 is worth recording), others when they moved. */
static int diff_counters(struct json_object *start, struct json_object *end, struct json_object *out,
			 char *err, size_t errlen)
{
	struct json_object *a1 = jget(end, "counters", json_type_array);
	struct index i0 = { 0 };
	int rc = index_build(jget(start, "counters", json_type_array), &i0);

	if (rc)
		fail(rc, "out of memory");
	for (size_t k = 0; k < json_object_array_length(a1); k++) {
		struct json_object *c1 = json_object_array_get_idx(a1, k), *c0, *c;
		char *key = key_of(c1);
		double v0 = 0, v1, d;

		if (!key)
			fail(-ENOMEM, "out of memory");
		c0 = index_find(&i0, key);
		/* null: a value the agent could not tell (NaN); nothing to subtract. */
		if (!jnumber(jval(c1, "value"), &v1) || (c0 && !jnumber(jval(c0, "value"), &v0))) {
			free(key);
			continue;
		}
		d = v1 - v0;
		if (d < 0) {
			snprintf(err, errlen, "counter %s went down during the window: the agent restarted; "
				 "take the snapshot again", key);
			free(key);
			rc = -ERANGE;
			goto out;
		}
		free(key);
		if (d == 0 && strcmp(jstr(c1, "name"), RL_LOST_METRIC))
			continue;
		c = json_object_new_object();
		json_object_object_add(c, "name", json_object_new_string(jstr(c1, "name")));
		json_object_object_add(c, "labels", copy_of(jget(c1, "labels", json_type_object)));
		json_object_object_add(c, "value", rl_json_double(d));
		json_object_array_add(out, c);
	}
out:
	index_free(&i0);
	return rc;
}

/* The metadata both reads must agree on: same agent process, same layout. */
static int check_same_agent(struct json_object *start, struct json_object *end, char *err,
			    size_t errlen)
{
	struct json_object *a0 = jget(start, "agent", json_type_object);
	struct json_object *a1 = jget(end, "agent", json_type_object);
	char *l0 = layout_desc(jget(start, "layout", json_type_object));
	char *l1 = layout_desc(jget(end, "layout", json_type_object));
	uint64_t t0 = 0, t1 = 0;
	int rc = 0;

	if (!l0 || !l1 || strcmp(l0, l1))
		fail(-EINVAL, "the bucket layout changed between the two reads (%s, then %s): the agent "
		     "was replaced; take the snapshot again", l0 ? l0 : "?", l1 ? l1 : "?");
	jcount(jget(a0, "start_time_ms", json_type_int), &t0);
	jcount(jget(a1, "start_time_ms", json_type_int), &t1);
	if (t0 != t1)
		fail(-ERANGE, "the agent restarted during the window (its start time changed); take the "
		     "snapshot again");
	jcount(jget(start, "time_ms", json_type_int), &t0);
	jcount(jget(end, "time_ms", json_type_int), &t1);
	if (t1 < t0)
		fail(-ERANGE, "the agent's clock went back during the window");
out:
	free(l0);
	free(l1);
	return rc;
}

static struct json_object *labels_json(const struct rl_labels *l)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; l && i < l->n; i++)
		json_object_object_add(o, l->kv[i].name, json_object_new_string(l->kv[i].value));
	return o;
}

/* The snapshot's header: where and when, from the end document's metadata. */
static struct json_object *snapshot_header(struct json_object *start, struct json_object *end,
					   const struct rl_snapshot_opts *o)
{
	struct json_object *d = json_object_new_object(), *agent = json_object_new_object(), *win;
	struct json_object *a1 = jget(end, "agent", json_type_object);
	const char *host = jstr(a1, "hostname"), *ver = jstr(a1, "version");
	uint64_t t0 = 0, t1 = 0, st = 0;

	jcount(jget(start, "time_ms", json_type_int), &t0);
	jcount(jget(end, "time_ms", json_type_int), &t1);
	jcount(jget(a1, "start_time_ms", json_type_int), &st);
	json_object_object_add(d, "format", json_object_new_string(RL_SNAPSHOT_FORMAT));
	json_object_object_add(d, "format_version", json_object_new_int(RL_SNAPSHOT_VERSION));
	json_object_object_add(d, "source", json_object_new_string(o->source ? o->source : ""));
	json_object_object_add(d, "host", host ? json_object_new_string(host) : NULL);
	json_object_object_add(agent, "version", ver ? json_object_new_string(ver) : NULL);
	json_object_object_add(agent, "start_time_ms", json_object_new_uint64(st));
	json_object_object_add(d, "agent", agent);
	win = json_object_new_object();
	json_object_object_add(win, "start_ms", json_object_new_uint64(t0));
	json_object_object_add(win, "end_ms", json_object_new_uint64(t1));
	json_object_object_add(win, "seconds", rl_json_double((double)(t1 - t0) / 1000));
	json_object_object_add(d, "window", win);
	json_object_object_add(d, "layout", copy_of(jget(end, "layout", json_type_object)));
	json_object_object_add(d, "labels", labels_json(o->labels));
	return d;
}

int rl_snapshot_diff(struct json_object *start, struct json_object *end,
		     const struct rl_snapshot_opts *o, struct json_object **out, char *err,
		     size_t errlen)
{
	struct json_object *doc = NULL, *hists = json_object_new_array(), *ctrs = json_object_new_array();
	uint64_t requests;
	int rc;

	*out = NULL;
	rc = check_same_agent(start, end, err, errlen);
	if (!rc)
		rc = diff_histograms(start, end, o, hists, &requests, err, errlen);
	if (!rc)
		rc = diff_counters(start, end, ctrs, err, errlen);
	if (rc)
		goto out;
	if (!requests)
		fail(-ENODATA, "no requests in the window: nothing was measured between the two reads");
	doc = snapshot_header(start, end, o);
	json_object_object_add(doc, "histograms", hists);
	json_object_object_add(doc, "counters", ctrs);
	hists = ctrs = NULL;
	*out = doc;
out:
	json_object_put(hists);
	json_object_put(ctrs);
	return rc;
}

/* ============================================================ snapshot file */

static int read_file(const char *path, struct rl_buf *b, char *err, size_t errlen)
{
	char chunk[65536];
	FILE *f = fopen(path, "re");
	size_t n;
	int rc = 0;

	if (!f)
		fail(-errno, "cannot read %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (rl_buf_append(b, chunk, n))
			fail(-ENOMEM, "cannot read %s: out of memory", path);
	if (ferror(f))
		fail(-EIO, "cannot read %s: %s", path, strerror(errno));
out:
	if (f)
		fclose(f);
	return rc;
}

/* A histogram of a snapshot into a series of w: kernel buckets as bins. */
static int load_histogram(struct json_object *s, struct rl_window *w)
{
	static struct rl_hist h;	/* 10 KB: not on the stack; compare is single-threaded */
	struct json_object *buckets = jget(s, "buckets", json_type_array);
	struct rl_series *ser = window_add(w, jstr(s, "name"));
	uint64_t sum = 0;
	int rc;

	if (!ser)
		return -ENOMEM;
	rc = labels_from_json(jget(s, "labels", json_type_object), &ser->labels);
	if (rc)
		return rc;
	memset(&h, 0, sizeof(h));
	for (size_t i = 0; i < json_object_array_length(buckets); i++)
		rl_hist_add(&h, (uint32_t)pair_at(buckets, i, 0), pair_at(buckets, i, 1));
	jcount(jget(s, "sum_ns", json_type_int), &sum);
	ser->count = (double)h.count;
	ser->sum_ns = (double)sum;
	return rl_bins_from_hist(&ser->bins, &h);
}

static int load_counters(struct json_object *doc, struct rl_window *w)
{
	struct json_object *arr = jget(doc, "counters", json_type_array);

	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *c = json_object_array_get_idx(arr, i);
		double v;
		int rc;

		if (strcmp(jstr(c, "name"), RL_LOST_METRIC) ||
		    !jnumber(jval(c, "value"), &v))
			continue;
		rc = window_add_lost(w, jstr(jget(c, "labels", json_type_object), "reason"), v);
		if (rc)
			return rc;
	}
	return 0;
}

static double jms(struct json_object *o, const char *key)
{
	double v;

	return jnumber(jval(o, key), &v) ? v : NAN;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Where and when: everything but the series. */
static int load_header(struct json_object *doc, const char *source, struct rl_window *w, char *err,
		       size_t errlen)
{
	struct json_object *win = jget(doc, "window", json_type_object);
	int rc = 0;

	w->source = strdup(source);
	w->host = dup_or_null(jstr(doc, "host"));
	w->agent_version = dup_or_null(jstr(jget(doc, "agent", json_type_object), "version"));
	w->layout = layout_desc(jget(doc, "layout", json_type_object));
	w->start_ms = jms(win, "start_ms");
	w->end_ms = jms(win, "end_ms");
	if (!w->layout)
		fail(-EINVAL, "%s has no bucket layout", source);
	if (!(w->end_ms > w->start_ms))
		fail(-EINVAL, "%s has no window (window.start_ms, window.end_ms)", source);
	rc = labels_from_json(jget(doc, "labels", json_type_object), &w->labels);
	if (rc)
		fail(rc, "%s: malformed labels", source);
out:
	return rc;
}

int rl_window_from_json(struct json_object *doc, const char *source, struct rl_window *w,
			char *err, size_t errlen)
{
	struct json_object *ver, *hists;
	const char *format = jstr(doc, "format");
	char *ours = NULL;
	int rc = 0;

	memset(w, 0, sizeof(*w));
	if (format && !strcmp(format, RL_AGENT_FORMAT))
		fail(-EINVAL, "%s is an agent document, not a snapshot: make one with reqlens snapshot",
		     source);
	if (!format || strcmp(format, RL_SNAPSHOT_FORMAT))
		fail(-EINVAL, "%s is not a reqlens snapshot (format \"%s\")", source,
		     format ? format : "<none>");
	ver = jget(doc, "format_version", json_type_int);
	if (!ver || json_object_get_int64(ver) != RL_SNAPSHOT_VERSION)
		fail(-EINVAL, "%s is a reqlens snapshot of format version %s; this reqlens reads version %d",
		     source, ver ? json_object_get_string(ver) : "<none>", RL_SNAPSHOT_VERSION);
	rc = load_header(doc, source, w, err, errlen);
	if (rc)
		goto out;
	rc = check_series(doc, layout_nbuckets(doc), err, errlen);
	if (rc) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		fail(rc, "%s: %s", source, why);
	}
	/* Bucket indices mean something only in this reqlens's layout; compare says so. */
	ours = our_layout();
	if (!ours || strcmp(ours, w->layout))
		goto out;
	hists = jget(doc, "histograms", json_type_array);
	for (size_t i = 0; i < json_object_array_length(hists) && !rc; i++)
		rc = load_histogram(json_object_array_get_idx(hists, i), w);
	if (!rc)
		rc = load_counters(doc, w);
	if (rc)
		fail(rc, "%s: %s", source, rc == -ENOMEM ? "out of memory" : "malformed series");
out:
	free(ours);
	return rc;
}

int rl_window_load(const char *path, struct rl_window *w, char *err, size_t errlen)
{
	struct json_object *doc = NULL;
	struct rl_buf b;
	char why[256];
	int rc;

	memset(w, 0, sizeof(*w));
	rl_buf_init(&b);
	rc = read_file(path, &b, err, errlen);
	if (rc)
		goto out;
	rc = rl_json_parse(b.data ? b.data : "", b.len, &doc, why, sizeof(why));
	if (rc)
		fail(rc, "%s: %s", path, why);
	if (!json_object_is_type(doc, json_type_object))
		fail(-EINVAL, "%s is not a reqlens snapshot (not a JSON object)", path);
	rc = rl_window_from_json(doc, path, w, err, errlen);
out:
	json_object_put(doc);
	rl_buf_free(&b);
	return rc;
}

/* ===================================================================== CLI */

struct snap_args {
	const char *from, *output;
	uint64_t duration_ns;
	struct rl_labels labels;
	bool help;
};

static void snapshot_usage(FILE *out)
{
	fprintf(out,
		"usage: reqlens snapshot [--from URL] [--duration D] -o FILE [--label KEY=VALUE]...\n\n"
		"Reads the agent's histograms at the start and at the end of a window and\n"
		"writes their difference (what happened during the window) to FILE, for\n"
		"reqlens compare.\n\n"
		"  --from URL           the agent, e.g. http://127.0.0.1:10470 (the default), or\n"
		"                       its /api/v1/histograms URL\n"
		"  --duration D         the window, e.g. 30s, 5m (default 60s)\n"
		"  -o, --output FILE    where to write the snapshot (atomically)\n"
		"  --label KEY=VALUE    a label recorded in the file, e.g. --label build=1234\n"
		"                       (repeatable; KEY as a Prometheus label name)\n\n"
		"SIGINT or SIGTERM (Ctrl-C) ends the window early; the file is still written.\n"
		"The snapshot's own two reads of the agent are not counted in the window.\n"
		"Exit status: 0 written, 1 runtime error, 2 usage error.\n");
}

#define usage_fail(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

static int snap_apply(struct snap_args *a, const char *flag, const char *v, char *err, size_t errlen)
{
	if (!strcmp(flag, "from")) {
		if (!*v)
			usage_fail("--from needs a URL");
		a->from = v;
	} else if (!strcmp(flag, "duration")) {
		if (rl_parse_duration(v, &a->duration_ns) || a->duration_ns < 1000000)
			usage_fail("invalid --duration \"%s\": want a duration such as 30s or 5m (at least 1ms)", v);
	} else if (!strcmp(flag, "output") || !strcmp(flag, "o")) {
		if (!*v)
			usage_fail("-o needs a file name");
		a->output = v;
	} else if (!strcmp(flag, "label")) {
		const char *eq = strchr(v, '=');
		char name[128];
		int rc;

		if (!eq || (size_t)(eq - v) >= sizeof(name))
			usage_fail("invalid --label \"%s\": want KEY=VALUE", v);
		snprintf(name, sizeof(name), "%.*s", (int)(eq - v), v);
		if (!rl_label_name_ok(name))
			usage_fail("invalid --label key \"%s\": want [a-zA-Z_][a-zA-Z0-9_]*", name);
		rc = rl_labels_set(&a->labels, name, eq + 1);
		if (rc == -EEXIST)
			usage_fail("--label %s given twice", name);
		if (rc)
			usage_fail("out of memory");
	} else {
		usage_fail("unknown flag %s%s", strlen(flag) == 1 ? "-" : "--", flag);
	}
	return 0;
}

static int snap_parse(int argc, char **argv, struct snap_args *a, char *err, size_t errlen)
{
	a->from = "http://127.0.0.1:10470";
	a->duration_ns = 60ull * 1000000000;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *v;
		char flag[64];
		size_t len;
		int rc;

		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			a->help = true;
			return 0;
		}
		if (!strcmp(arg, "-o")) {
			arg = "--output";
		} else if (strncmp(arg, "--", 2) || !arg[2]) {
			usage_fail("unexpected argument \"%s\"", arg);
		}
		arg += 2;
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		snprintf(flag, sizeof(flag), "%.*s", (int)len, arg);
		if (strcmp(flag, "from") && strcmp(flag, "duration") && strcmp(flag, "output") &&
		    strcmp(flag, "label"))
			usage_fail("unknown flag --%s", flag);
		if (eq)
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else
			usage_fail("flag --%s needs a value", flag);
		rc = snap_apply(a, flag, v, err, errlen);
		if (rc)
			return rc;
	}
	if (!a->output)
		usage_fail("missing -o FILE: where to write the snapshot");
	return 0;
}

/* GET and check one agent document. */
static int fetch_agent(const char *url, struct json_object **doc, char *err, size_t errlen)
{
	struct rl_buf b;
	long status = 0;
	char why[256];
	int rc;

	*doc = NULL;
	rl_buf_init(&b);
	rc = rl_http_get(url, NULL, GET_TIMEOUT_MS, &b, &status, err, errlen);
	if (rc)
		goto out;
	if (status != 200)
		fail(-EPROTO, "GET %s answered HTTP %ld, expected 200 (is it a reqlens agent?)", url, status);
	rc = rl_json_parse(b.data ? b.data : "", b.len, doc, why, sizeof(why));
	if (!rc)
		rc = rl_snapshot_check_agent(*doc, why, sizeof(why));
	if (rc)
		fail(rc, "GET %s: %s", url, why);
out:
	if (rc) {
		json_object_put(*doc);
		*doc = NULL;
	}
	rl_buf_free(&b);
	return rc;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/*
 * Waits out the window. SIGINT or SIGTERM ends it early (Ctrl-C when the
 * load test is over): the second read happens at once and the file is
 * written. SA_RESETHAND makes a second signal kill as usual.
 */
static void sleep_window(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000) };
	struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop_signal && nanosleep(&ts, &ts) && errno == EINTR)
		;
	if (stop_signal)
		printf("reqlens snapshot: window ended early by %s\n", strsignal(stop_signal));
}

/* The port the URL names (its scheme's default when it names none); 0 if unparsable. */
static int url_port(const char *url)
{
	CURLU *u = curl_url();
	char *port = NULL;
	int p = 0;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		p = atoi(port);
	curl_free(port);
	curl_url_cleanup(u);
	return p;
}

/* Refuses early a -o that cannot be written, rather than after the whole window. */
static int check_output_dir(const char *path, char *err, size_t errlen)
{
	char *copy = strdup(path);
	const char *dir;
	int rc = 0;

	if (!copy)
		fail(-ENOMEM, "out of memory");
	dir = dirname(copy);
	if (access(dir, W_OK))
		fail(-errno, "cannot write %s: %s: %s", path, dir, strerror(errno));
out:
	free(copy);
	return rc;
}

static int write_snapshot(const char *path, struct json_object *doc, char *err, size_t errlen)
{
	const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	struct rl_buf b;
	int rc;

	rl_buf_init(&b);
	rl_buf_puts(&b, s);
	rl_buf_puts(&b, "\n");
	rc = b.err ? b.err : rl_write_atomic(path, b.data, b.len, err, errlen);
	if (b.err)
		snprintf(err, errlen, "out of memory");
	rl_buf_free(&b);
	return rc;
}

static void summary(const struct snap_args *a, struct json_object *doc)
{
	struct json_object *h = jget(doc, "histograms", json_type_array);
	uint64_t requests = 0, n;

	for (size_t i = 0; i < json_object_array_length(h); i++) {
		struct json_object *s = json_object_array_get_idx(h, i);

		if (is_request_metric(jstr(s, "name")) && jcount(jget(s, "count", json_type_int), &n))
			requests += n;
	}
	printf("reqlens snapshot: wrote %s: %zu series, %" PRIu64 " requests in %.1fs\n", a->output,
	       json_object_array_length(h), requests,
	       jms(jget(doc, "window", json_type_object), "seconds"));
}

static int snapshot_run(const struct snap_args *a, char *err, size_t errlen)
{
	struct json_object *d0 = NULL, *d1 = NULL, *out = NULL;
	struct rl_snapshot_opts o = { .labels = &a->labels };
	char *url = rl_snapshot_endpoint(a->from);
	int rc;

	if (!url) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	o.source = url;
	o.own_port = url_port(url);
	rc = check_output_dir(a->output, err, errlen);
	if (!rc)
		rc = fetch_agent(url, &d0, err, errlen);
	if (rc)
		goto out;
	/* Progress on stdout: stderr carries only the one line of an error. */
	printf("reqlens snapshot: window started; reading %s again in %.3gs\n", url,
	       (double)a->duration_ns / 1e9);
	fflush(stdout);
	sleep_window(a->duration_ns);
	rc = fetch_agent(url, &d1, err, errlen);
	if (!rc)
		rc = rl_snapshot_diff(d0, d1, &o, &out, err, errlen);
	if (!rc)
		rc = write_snapshot(a->output, out, err, errlen);
	if (!rc)
		summary(a, out);
out:
	json_object_put(d0);
	json_object_put(d1);
	json_object_put(out);
	free(url);
	return rc;
}

int rl_snapshot_main(int argc, char **argv)
{
	struct snap_args a = { 0 };
	char err[1024];
	int rc;

	if (snap_parse(argc, argv, &a, err, sizeof(err))) {
		fprintf(stderr, "reqlens snapshot: error: %s (try reqlens snapshot --help)\n", err);
		rc = 2;
		goto out;
	}
	if (a.help) {
		snapshot_usage(stdout);
		rc = 0;
		goto out;
	}
	rc = rl_http_init();
	if (!rc)
		rc = snapshot_run(&a, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "cannot start libcurl");
	if (rc)
		fprintf(stderr, "reqlens snapshot: error: %s\n", err);
	rc = rc ? 1 : 0;
out:
	rl_labels_free(&a.labels);
	return rc;
}

/* ============================================================== Prometheus */

int rl_parse_time(const char *s, double *unix_s)
{
	struct tm tm = { 0 };
	const char *p;
	char *end;
	double frac = 0;
	long off = 0;

	errno = 0;
	*unix_s = strtod(s, &end);
	if (!errno && end != s && !*end && isfinite(*unix_s) && *unix_s >= 0 && !strchr(s, 'e') &&
	    !strchr(s, 'E'))
		return 0;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		frac = strtod(p, &end);
		p = end;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = atoi(p + 1), mm = atoi(p + 4);

		off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*unix_s = (double)(timegm(&tm) - off) + frac;
	return 0;
}

/* (le, cumulative count) of one series, sorted by le. */
struct le_pt {
	double le, cum;
};

static int cmp_le(const void *a, const void *b)
{
	double x = ((const struct le_pt *)a)->le, y = ((const struct le_pt *)b)->le;

	return x < y ? -1 : x > y;
}

int rl_bins_from_le(struct rl_bins *b, const double *le_s, const double *cum, size_t n, char *err,
		    size_t errlen)
{
	struct le_pt *pts = calloc(n ? n : 1, sizeof(*pts));
	double prev_edge = 0, prev_cum = 0;
	int rc = 0;

	if (!pts)
		fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		pts[i] = (struct le_pt){ le_s[i], cum[i] };
	qsort(pts, n, sizeof(*pts), cmp_le);
	for (size_t i = 0; i < n; i++) {
		double edge = INFINITY, c;

		if (isfinite(pts[i].le)) {
			uint64_t ns = (uint64_t)llround(pts[i].le * 1e9);
			uint32_t k = rl_hist_bucket(ns);

			/* Only a kernel edge makes the bin's content exact: refuse anything else. */
			if (pts[i].le <= 0 || k >= RL_HIST_NFINITE || rl_hist_upper(k) != ns)
				fail(-EINVAL, "le=\"%g\" is not an edge of reqlens's buckets: not a reqlens "
				     "histogram", pts[i].le);
			edge = (double)ns;
		}
		/* increase() extrapolates each le alone, so cumulative counts can dip a little. */
		c = pts[i].cum - prev_cum;
		if (c > 0 && edge > prev_edge) {
			rc = rl_bins_push(b, prev_edge, edge, c);
			if (rc)
				fail(rc, "out of memory");
		}
		if (pts[i].cum > prev_cum)
			prev_cum = pts[i].cum;
		prev_edge = edge;
	}
out:
	free(pts);
	return rc;
}

/* GET /api/v1/query?query=Q&time=T; *result is the data.result array (a reference into *doc). */
static int prom_query(const char *base, const char *q, double t, struct json_object **doc,
		      struct json_object **result, char *err, size_t errlen)
{
	char *eq = curl_easy_escape(NULL, q, 0), *url = NULL, *what = NULL, why[256];
	const char *status;
	struct rl_buf b;
	long code = 0;
	size_t n = strlen(base);
	int rc;

	*doc = NULL;
	rl_buf_init(&b);
	while (n && base[n - 1] == '/')
		n--;
	if (!eq || asprintf(&url, "%.*s/api/v1/query?query=%s&time=%.3f", (int)n, base, eq, t) < 0) {
		url = NULL;
		fail(-ENOMEM, "out of memory");
	}
	if (asprintf(&what, "Prometheus at %.*s", (int)n, base) < 0) {
		what = NULL;
		fail(-ENOMEM, "out of memory");
	}
	rc = rl_http_get(url, what, GET_TIMEOUT_MS, &b, &code, err, errlen);
	if (rc)
		goto out;
	rc = rl_json_parse(b.data ? b.data : "", b.len, doc, why, sizeof(why));
	if (rc)
		fail(rc, "Prometheus at %.*s answered HTTP %ld, %s", (int)n, base, code, why);
	status = jstr(*doc, "status");
	if (code != 200 || !status || strcmp(status, "success"))
		fail(-EPROTO, "Prometheus query %s failed (HTTP %ld): %s", q, code,
		     jstr(*doc, "error") ? jstr(*doc, "error") : "no error message");
	*result = jget(jget(*doc, "data", json_type_object), "result", json_type_array);
	if (!*result)
		fail(-EPROTO, "Prometheus query %s: no result vector in the answer", q);
out:
	if (rc) {
		json_object_put(*doc);
		*doc = NULL;
	}
	curl_free(eq);
	free(url);
	free(what);
	rl_buf_free(&b);
	return rc;
}

/* The sample value of a vector element: [time, "value"]. */
static bool prom_value(struct json_object *el, double *v)
{
	struct json_object *pair = jget(el, "value", json_type_array), *s;
	char *end;

	if (!pair || json_object_array_length(pair) != 2)
		return false;
	s = json_object_array_get_idx(pair, 1);
	if (!json_object_is_type(s, json_type_string))
		return false;
	*v = strtod(json_object_get_string(s), &end);
	return end != json_object_get_string(s) && !*end && !isnan(*v);
}

/* One series of the answer, gathered: its labels without le, and its le points. */
struct prom_group {
	struct rl_labels labels;
	double *le, *cum;
	size_t n, cap;
};

static void groups_free(struct prom_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rl_labels_free(&g[i].labels);
		free(g[i].le);
		free(g[i].cum);
	}
	free(g);
}

static int group_push(struct prom_group *g, double le, double cum)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		double *a = realloc(g->le, cap * sizeof(*a)), *c;

		if (!a)
			return -ENOMEM;
		g->le = a;
		c = realloc(g->cum, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		g->cum = c;
		g->cap = cap;
	}
	g->le[g->n] = le;
	g->cum[g->n++] = cum;
	return 0;
}

/* Sorts the answer's elements into groups by their labels other than le. */
static int prom_group(struct json_object *result, struct prom_group **out, size_t *nout)
{
	struct prom_group *g = calloc(json_object_array_length(result) + 1, sizeof(*g));
	size_t n = 0;
	int rc = 0;

	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(result) && !rc; i++) {
		struct json_object *el = json_object_array_get_idx(result, i);
		struct json_object *m = jget(el, "metric", json_type_object);
		struct rl_labels l = { 0 };
		const char *le_s = jstr(m, "le");
		double v, le;
		size_t k;

		if (!le_s || !prom_value(el, &v))
			continue;
		le = !strcmp(le_s, "+Inf") ? INFINITY : strtod(le_s, NULL);
		json_object_object_foreach(m, key, val) {
			if (strcmp(key, "le") && json_object_is_type(val, json_type_string) && !rc)
				rc = rl_labels_set(&l, key, json_object_get_string(val));
		}
		for (k = 0; k < n && rl_labels_cmp(&g[k].labels, &l); k++)
			;
		if (k == n)
			g[n++].labels = l;
		else
			rl_labels_free(&l);
		if (!rc)
			rc = group_push(&g[k], le, v);
	}
	*out = g;
	*nout = n;
	return rc;
}

static int prom_series(struct rl_window *w, const char *metric, struct prom_group *g, char *err,
		       size_t errlen)
{
	struct rl_series *s = window_add(w, metric);
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->labels = g->labels;
	g->labels = (struct rl_labels){ 0 };
	s->sum_ns = NAN;
	rc = rl_bins_from_le(&s->bins, g->le, g->cum, g->n, err, errlen);
	s->count = s->bins.total;
	return rc;
}

/* The query text: sum by (le, BY...) (increase(METRIC_bucket{SEL}[Wms])). */
static char *prom_expr(const struct rl_prom_query *q)
{
	struct rl_buf b;
	long long ms = llround((q->end_s - q->start_s) * 1000);

	rl_buf_init(&b);
	rl_buf_puts(&b, "sum by (le");
	for (size_t i = 0; q->by && q->by[i]; i++)
		rl_buf_printf(&b, ", %s", q->by[i]);
	rl_buf_printf(&b, ") (increase(%s_bucket%s[%lldms]))", q->metric,
		      q->selector ? q->selector : "", ms);
	return rl_buf_steal(&b, NULL);
}

static int prom_header(const struct rl_prom_query *q, struct rl_window *w)
{
	if (w->source)
		return 0;
	w->start_ms = q->start_s * 1000;
	w->end_ms = q->end_s * 1000;
	w->le_resolution = true;
	w->layout = our_layout();
	if (asprintf(&w->source, "%s (%.3f to %.3f)", q->url, q->start_s, q->end_s) < 0)
		w->source = NULL;
	return w->layout && w->source ? 0 : -ENOMEM;
}

int rl_window_from_prometheus(const struct rl_prom_query *q, struct rl_window *w, char *err,
			      size_t errlen)
{
	struct json_object *doc = NULL, *result;
	struct prom_group *g = NULL;
	char *expr = prom_expr(q);
	size_t ng = 0;
	int rc = 0;

	if (!expr || prom_header(q, w))
		fail(-ENOMEM, "out of memory");
	if (!(q->end_s > q->start_s))
		fail(-EINVAL, "the window ends before it starts");
	rc = prom_query(q->url, expr, q->end_s, &doc, &result, err, errlen);
	if (rc)
		goto out;
	rc = prom_group(result, &g, &ng);
	if (rc)
		fail(rc, "out of memory");
	for (size_t i = 0; i < ng && !rc; i++)
		rc = prom_series(w, q->metric, &g[i], err, errlen);
out:
	groups_free(g, ng);
	json_object_put(doc);
	free(expr);
	return rc;
}

/* Lost events by reason, and the agents' versions, over the same window. */
int rl_window_prometheus_meta(const struct rl_prom_query *q, struct rl_window *w, char *err,
			      size_t errlen)
{
	struct json_object *doc = NULL, *result;
	struct rl_buf versions;
	char *expr = NULL;
	int rc;

	rl_buf_init(&versions);
	if (asprintf(&expr, "sum by (reason) (increase(" RL_LOST_METRIC "[%lldms]))",
		     llround((q->end_s - q->start_s) * 1000)) < 0) {
		expr = NULL;
		fail(-ENOMEM, "out of memory");
	}
	rc = prom_query(q->url, expr, q->end_s, &doc, &result, err, errlen);
	for (size_t i = 0; !rc && i < json_object_array_length(result); i++) {
		struct json_object *el = json_object_array_get_idx(result, i);
		double v;

		if (prom_value(el, &v))
			rc = window_add_lost(w, jstr(jget(el, "metric", json_type_object), "reason"), v);
	}
	json_object_put(doc);
	doc = NULL;
	if (rc)
		goto out;
	rc = prom_query(q->url, "count by (version) (reqlens_build_info)", q->end_s, &doc, &result, err,
			errlen);
	for (size_t i = 0; !rc && i < json_object_array_length(result); i++) {
		const char *v = jstr(jget(json_object_array_get_idx(result, i), "metric", json_type_object),
				     "version");

		if (v)
			rl_buf_printf(&versions, "%s%s", versions.len ? "," : "", v);
	}
	if (!rc && versions.len) {
		free(w->agent_version);
		w->agent_version = rl_buf_steal(&versions, NULL);
	}
out:
	json_object_put(doc);
	rl_buf_free(&versions);
	free(expr);
	return rc;
}
