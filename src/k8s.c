// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The node's pod cache from the Kubernetes API. See k8s.h. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "k8s.h"
#include "log.h"

#ifndef REQLENS_VERSION
#define REQLENS_VERSION "0.0.0"
#endif

#define DEFAULT_RESYNC_MS 30000
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_MAX_RESPONSE (64u << 20)
/* Early lists asked for by unknown IDs come at most this often: the API server's load stays bounded. */
#define MIN_RELIST_MS 5000
/* The API server's page size is ours to choose; 500 is what kubectl and client-go use. */
#define PAGE_LIMIT 500
/* Pages per list: 500 pods each is far beyond any node; a server looping on continue tokens ends here. */
#define MAX_PAGES 1000
/* Service-account tokens are JWTs of a kilobyte or two. */
#define TOKEN_MAX 16384
/* Continue tokens are opaque base64 of a few hundred bytes. */
#define CONTINUE_MAX 8192
/* A PodList nests about 15 deep (managedFields); json-c's default of 32 is too close. */
#define JSON_DEPTH 128
/* Entries per map: thousands of pods per node would already be absurd. */
#define MAP_MAX (1u << 18)
/* Unknown IDs remembered so that each asks for one early list only. */
#define MISSED_MAX 256
/* Distinct errors logged between two successes. */
#define LOGGED_MAX 16

#define KEY_MAX 65	/* a 64-hex container ID or a pod UID, NUL-terminated */

/* ------------------------------------------------------------ the table */

struct map_ent {
	char key[KEY_MAX];
	struct rl_k8s_names names;
};

/* Open addressing over indexes into ents; slots hold index + 1, 0 is free. */
struct map {
	struct map_ent *ents;
	size_t n, cap;
	uint32_t *slots;
	size_t nslots;	/* a power of two, at least twice n */
};

struct rl_k8s_table {
	struct map containers;	/* container ID → namespace, pod, container */
	struct map pods;	/* pod UID (and static pods' config hash) → namespace, pod */
	uint64_t npods;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void map_free(struct map *m)
{
	free(m->ents);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static const struct map_ent *map_get(const struct map *m, const char *key)
{
	if (!m->nslots)
		return NULL;
	for (size_t i = hash_str(key) & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
		uint32_t s = m->slots[i];

		if (!s)
			return NULL;
		if (!strcmp(m->ents[s - 1].key, key))
			return &m->ents[s - 1];
	}
}

static int map_rehash(struct map *m, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t k = 0; k < m->n; k++) {
		size_t i = hash_str(m->ents[k].key) & (nslots - 1);

		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = (uint32_t)(k + 1);
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = nslots;
	return 0;
}

/* Keeps the first entry for a key: IDs are unique, and a duplicate would be the API's mistake. */
static int map_put(struct map *m, const char *key, const struct rl_k8s_names *names)
{
	int err;

	if (strlen(key) >= KEY_MAX)
		return -EINVAL;
	if (map_get(m, key))
		return 0;
	if (m->n >= MAP_MAX)
		return -E2BIG;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct map_ent *ents = realloc(m->ents, cap * sizeof(*ents));

		if (!ents)
			return -ENOMEM;
		m->ents = ents;
		m->cap = cap;
	}
	strcpy(m->ents[m->n].key, key);
	m->ents[m->n].names = *names;
	m->n++;
	/* Half full at most, so that probes stay short and always end on a free slot. */
	if (m->n * 2 > m->nslots) {
		err = map_rehash(m, m->nslots ? m->nslots * 2 : 128);
		if (err) {
			m->n--;
			return err;
		}
		return 0;
	}
	for (size_t i = hash_str(key) & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
		if (!m->slots[i]) {
			m->slots[i] = (uint32_t)m->n;
			break;
		}
	}
	return 0;
}

struct rl_k8s_table *rl_k8s_table_new(void)
{
	return calloc(1, sizeof(struct rl_k8s_table));
}

void rl_k8s_table_free(struct rl_k8s_table *t)
{
	if (!t)
		return;
	map_free(&t->containers);
	map_free(&t->pods);
	free(t);
}

void rl_k8s_table_counts(const struct rl_k8s_table *t, uint64_t *pods, uint64_t *containers)
{
	*pods = t ? t->npods : 0;
	*containers = t ? t->containers.n : 0;
}

/* A lookup key as the table holds it: lowercase, as both the API and cgroup.c write IDs. */
static bool make_key(const char *in, char *key)
{
	size_t n;

	if (!in || !in[0])
		return false;
	n = strlen(in);
	if (n >= KEY_MAX)
		return false;
	for (size_t i = 0; i <= n; i++)
		key[i] = (char)tolower((unsigned char)in[i]);
	return true;
}

bool rl_k8s_table_lookup(const struct rl_k8s_table *t, const char *container_id, const char *pod_uid,
			 struct rl_k8s_names *out)
{
	const struct map_ent *e = NULL;
	char key[KEY_MAX];

	if (!t || !out)
		return false;
	if (make_key(container_id, key))
		e = map_get(&t->containers, key);
	if (!e && make_key(pod_uid, key))
		e = map_get(&t->pods, key);
	if (!e)
		return false;
	*out = e->names;
	return true;
}

/* ------------------------------------------------------- PodList parsing */

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	/* json-c answers false for anything but an object, so a wrong shape is just absent. */
	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool copy_name(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	/* Kubernetes validates these lengths; a longer one is not a name we could trust in a label. */
	if (!n || n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* "containerd://<id>", "cri-o://<id>", "docker://<id>": the 64 hex digits cgroup paths carry. */
static bool container_key(const char *container_id, char *key)
{
	const char *sep = container_id ? strstr(container_id, "://") : NULL;
	const char *id = sep ? sep + 3 : NULL;

	if (!id || strlen(id) != 64)
		return false;
	for (size_t i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)id[i]))
			return false;
		key[i] = (char)tolower((unsigned char)id[i]);
	}
	key[64] = '\0';
	return true;
}

static int add_statuses(struct rl_k8s_table *t, struct json_object *list, const struct rl_k8s_names *pod)
{
	size_t n;

	if (!list || !json_object_is_type(list, json_type_array))
		return 0;
	n = json_object_array_length(list);
	for (size_t i = 0; i < n; i++) {
		struct json_object *cs = json_object_array_get_idx(list, i);
		struct rl_k8s_names names = *pod;
		char key[KEY_MAX];
		int err;

		/* A container still waiting for its first start has no ID yet: nothing can run in it. */
		if (!container_key(jstr(cs, "containerID"), key) ||
		    !copy_name(names.container_name, sizeof(names.container_name), jstr(cs, "name")))
			continue;
		err = map_put(&t->containers, key, &names);
		if (err)
			return err;
	}
	return 0;
}

static int add_pod(struct rl_k8s_table *t, struct json_object *pod)
{
	static const char *const lists[] = { "containerStatuses", "initContainerStatuses",
					     "ephemeralContainerStatuses" };
	struct json_object *meta = jget(pod, "metadata"), *status = jget(pod, "status");
	struct rl_k8s_names names = { 0 };
	const char *mirror;
	char key[KEY_MAX];
	int err;

	/* A pod without its names is skipped, not the page: one odd object must not blank the node. */
	if (!copy_name(names.namespace_name, sizeof(names.namespace_name), jstr(meta, "namespace")) ||
	    !copy_name(names.pod_name, sizeof(names.pod_name), jstr(meta, "name")))
		return 0;
	t->npods++;
	if (make_key(jstr(meta, "uid"), key)) {
		err = map_put(&t->pods, key, &names);
		if (err && err != -EINVAL)
			return err;
	}
	/*
	 * A static pod's cgroup carries the kubelet's config hash as its UID;
	 * the API shows it on the mirror pod, whose own UID differs.
	 */
	mirror = jstr(jget(meta, "annotations"), "kubernetes.io/config.mirror");
	if (make_key(mirror, key)) {
		err = map_put(&t->pods, key, &names);
		if (err && err != -EINVAL)
			return err;
	}
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		err = add_statuses(t, jget(status, lists[i]), &names);
		if (err)
			return err;
	}
	return 0;
}

int rl_k8s_table_add_page(struct rl_k8s_table *t, const char *json, size_t len, char *next, size_t nextlen)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL, *items;
	const char *kind, *cont;
	size_t n, end;
	int err = 0;

	if (!t || !json || !next || !nextlen)
		return -EINVAL;
	next[0] = '\0';
	if (len > INT_MAX)
		return -EBADMSG;
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		err = -EBADMSG;
		goto cleanup;
	}
	/* Anything after the object but white space means a body we do not understand. */
	for (end = json_tokener_get_parse_end(tok); end < len; end++) {
		if (!isspace((unsigned char)json[end])) {
			err = -EBADMSG;
			goto cleanup;
		}
	}
	kind = jstr(root, "kind");
	items = jget(root, "items");
	/* "items": null is how Go encodes an empty list; kind is "PodList" from any API server. */
	if ((kind && strcmp(kind, "PodList")) || !json_object_is_type(root, json_type_object) ||
	    (items && !json_object_is_type(items, json_type_array)) || (!items && !jget(root, "metadata"))) {
		err = -EBADMSG;
		goto cleanup;
	}
	cont = jstr(jget(root, "metadata"), "continue");
	if (cont && strlen(cont) >= nextlen) {
		err = -ENOSPC;
		goto cleanup;
	}
	if (cont)
		strcpy(next, cont);
	n = items ? json_object_array_length(items) : 0;
	for (size_t i = 0; i < n && !err; i++)
		err = add_pod(t, json_object_array_get_idx(items, i));
cleanup:
	if (err)
		next[0] = '\0';
	json_object_put(root);
	json_tokener_free(tok);
	return err;
}

/* --------------------------------------------------------- the cache */

struct rl_k8s {
	/* Set at start, read-only after. */
	char *base_url;
	char *node;
	char *token_path;
	char *ca_path;
	unsigned resync_ms, timeout_ms;
	size_t max_response;

	pthread_t thread;
	atomic_bool stop;	/* also read by libcurl's progress callback, mid-request */

	pthread_mutex_t lock;	/* guards the fields below */
	pthread_cond_t cond;	/* on CLOCK_MONOTONIC: wakes the thread to stop or list early */
	bool relist;
	bool last_ok;
	struct timespec last_end;
	struct rl_k8s_table *table;	/* the last good list; NULL before one */
	struct rl_k8s_stats stats;
	char missed[MISSED_MAX][KEY_MAX];
	unsigned nmissed;

	/* The thread's own. */
	CURL *curl;
	struct {
		enum rl_k8s_error kind;
		long code;
	} logged[LOGGED_MAX];
	unsigned nlogged;
	bool ever_ok;
};

const char *rl_k8s_error_reason(enum rl_k8s_error e)
{
	static const char *const reasons[RL_K8S_ERR_COUNT] = {
		[RL_K8S_ERR_FORBIDDEN] = "forbidden", [RL_K8S_ERR_UNAUTHORIZED] = "unauthorized",
		[RL_K8S_ERR_TOKEN] = "token",	      [RL_K8S_ERR_TIMEOUT] = "timeout",
		[RL_K8S_ERR_TLS] = "tls",	      [RL_K8S_ERR_CONNECT] = "connect",
		[RL_K8S_ERR_HTTP] = "http",	      [RL_K8S_ERR_PARSE] = "parse",
		[RL_K8S_ERR_TOO_LARGE] = "too_large", [RL_K8S_ERR_OTHER] = "other",
	};

	return (unsigned)e < RL_K8S_ERR_COUNT ? reasons[e] : "other";
}

static struct timespec add_ms(struct timespec t, unsigned ms)
{
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static bool before(struct timespec a, struct timespec b)
{
	return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* The outcome of one list: kind is meaningful only when failed. */
struct outcome {
	bool failed, stopped;
	enum rl_k8s_error kind;
	long code;		/* HTTP status, or 0 */
	char detail[512];
};

static void fail_with(struct outcome *r, enum rl_k8s_error kind, long code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail_with(struct outcome *r, enum rl_k8s_error kind, long code, const char *fmt, ...)
{
	va_list ap;

	r->failed = true;
	r->kind = kind;
	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* Each distinct error once, until a success: a broken RBAC must not fill the log every 30 s. */
static void log_failure(struct rl_k8s *k, const struct outcome *r)
{
	for (unsigned i = 0; i < k->nlogged; i++)
		if (k->logged[i].kind == r->kind && k->logged[i].code == r->code)
			return;
	if (k->nlogged < LOGGED_MAX) {
		k->logged[k->nlogged].kind = r->kind;
		k->logged[k->nlogged].code = r->code;
		k->nlogged++;
	}
	rl_warn("cannot list the pods of node %s (%s): %s; %s", k->node, rl_k8s_error_reason(r->kind), r->detail,
		k->ever_ok ? "the names of the last good list are kept meanwhile"
			   : "series carry no pod names until a list succeeds");
}

/* The token file, trimmed; the kubelet rewrites it as tokens rotate, so it is read for every list. */
static int read_token(const char *path, char *tok, size_t size)
{
	size_t len = 0;
	int fd, err = 0;

	/* No O_NOFOLLOW: projected volumes reach the token through ..data symlinks. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		ssize_t n = read(fd, tok + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	tok[len] = '\0';
	while (len && isspace((unsigned char)tok[len - 1]))
		tok[--len] = '\0';
	if (!len) {
		err = -ENODATA;
		goto cleanup;
	}
	/* It goes into a header line: a control character would be header injection. */
	for (size_t i = 0; i < len; i++) {
		if (iscntrl((unsigned char)tok[i]) || tok[i] == ' ') {
			err = -EINVAL;
			goto cleanup;
		}
	}
cleanup:
	close(fd);
	return err;
}

struct xfer {
	struct rl_buf body;
	size_t max;
	bool too_large;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	/* Counted after decompression, so a small gzip bomb is stopped as surely as a big body. */
	if (n > x->max - x->body.len) {
		x->too_large = true;
		return 0;
	}
	if (rl_buf_append(&x->body, p, n))
		return 0;
	return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct rl_k8s *k = arg;

	/* libcurl calls this at least once a second even when nothing moves: stop aborts within that. */
	return atomic_load(&k->stop) ? 1 : 0;
}

/* The message of an API Status object ("pods is forbidden: User ... cannot list ..."), or "". */
static void status_message(const struct rl_buf *body, char *msg, size_t size)
{
	struct json_object *root;
	const char *m;

	msg[0] = '\0';
	if (!body->len)
		return;
	root = json_tokener_parse(body->data);
	m = jstr(root, "message");
	if (m)
		snprintf(msg, size, "%s", m);
	json_object_put(root);
}

static void classify_curl(struct rl_k8s *k, CURLcode rc, const struct xfer *x, const char *errbuf, struct outcome *r)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_ABORTED_BY_CALLBACK:
		r->stopped = true;
		return;
	case CURLE_OPERATION_TIMEDOUT:
		fail_with(r, RL_K8S_ERR_TIMEOUT, 0, "no answer from %s within %u ms", k->base_url, k->timeout_ms);
		return;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
		fail_with(r, RL_K8S_ERR_TLS, 0, "TLS with %s failed, verifying against %s: %s", k->base_url,
			  k->ca_path, why);
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		fail_with(r, RL_K8S_ERR_CONNECT, 0, "cannot reach %s: %s", k->base_url, why);
		return;
	case CURLE_WRITE_ERROR:
		if (x->too_large) {
			fail_with(r, RL_K8S_ERR_TOO_LARGE, 0, "a page is larger than %zu bytes", k->max_response);
			return;
		}
		break;
	default:
		break;
	}
	fail_with(r, RL_K8S_ERR_OTHER, 0, "request to %s failed: %s", k->base_url, why);
}

static void classify_http(struct rl_k8s *k, long code, const struct rl_buf *body, struct outcome *r)
{
	char msg[384];

	status_message(body, msg, sizeof(msg));
	if (code == 403)
		fail_with(r, RL_K8S_ERR_FORBIDDEN, code,
			  "403 Forbidden%s%s: give the agent's service account list on pods at cluster scope "
			  "(a ClusterRole with apiGroups [\"\"], resources [\"pods\"], verbs [\"list\"], and a "
			  "ClusterRoleBinding to the service account)",
			  msg[0] ? ": " : "", msg);
	else if (code == 401)
		fail_with(r, RL_K8S_ERR_UNAUTHORIZED, code,
			  "401 Unauthorized%s%s: the service account token in %s was refused (expired, or of another "
			  "cluster)",
			  msg[0] ? ": " : "", msg, k->token_path);
	else
		fail_with(r, RL_K8S_ERR_HTTP, code, "HTTP %ld%s%s", code, msg[0] ? ": " : "", msg);
}

/* The URL of one page: the node's pods only, so a node's agent never reads the cluster's. */
static char *page_url(struct rl_k8s *k, const char *cont)
{
	char *sel, *url = NULL, *ecn = NULL;
	struct rl_buf b;

	rl_buf_init(&b);
	rl_buf_printf(&b, "spec.nodeName=%s", k->node);
	if (b.err)
		return NULL;
	sel = curl_easy_escape(k->curl, b.data, (int)b.len);
	rl_buf_free(&b);
	if (!sel)
		return NULL;
	if (cont[0])
		ecn = curl_easy_escape(k->curl, cont, 0);
	if (!cont[0] || ecn) {
		rl_buf_printf(&b, "%s/api/v1/pods?fieldSelector=%s&limit=%d%s%s", k->base_url, sel, PAGE_LIMIT,
			      ecn ? "&continue=" : "", ecn ? ecn : "");
		url = b.err ? NULL : rl_buf_steal(&b, NULL);
	}
	rl_buf_free(&b);
	curl_free(ecn);
	curl_free(sel);
	return url;
}

/* Every page into a fresh table; *out gets it only when the whole list succeeded. */
static void list_pods(struct rl_k8s *k, struct rl_k8s_table **out, struct outcome *r)
{
	char *token = malloc(TOKEN_MAX), *auth = NULL, *cont = malloc(CONTINUE_MAX), *next = malloc(CONTINUE_MAX);
	struct rl_k8s_table *t = rl_k8s_table_new();
	struct curl_slist *hdrs = NULL, *h;
	char errbuf[CURL_ERROR_SIZE];
	struct xfer x = { .max = k->max_response };
	int err;

	rl_buf_init(&x.body);
	*out = NULL;
	if (!token || !cont || !next || !t) {
		fail_with(r, RL_K8S_ERR_OTHER, 0, "out of memory");
		goto cleanup;
	}
	err = read_token(k->token_path, token, TOKEN_MAX);
	if (err) {
		fail_with(r, RL_K8S_ERR_TOKEN, 0, "cannot read the service account token %s: %s", k->token_path,
			  strerror(-err));
		goto cleanup;
	}
	auth = malloc(strlen(token) + 32);
	if (!auth) {
		fail_with(r, RL_K8S_ERR_OTHER, 0, "out of memory");
		goto cleanup;
	}
	sprintf(auth, "Authorization: Bearer %s", token);
	h = curl_slist_append(NULL, auth);
	if (h)
		hdrs = curl_slist_append(h, "Accept: application/json");
	if (!hdrs) {
		curl_slist_free_all(h);
		fail_with(r, RL_K8S_ERR_OTHER, 0, "out of memory");
		goto cleanup;
	}
	curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, errbuf);
	cont[0] = '\0';
	for (unsigned page = 0;; page++) {
		char *url;
		long code = 0;
		CURLcode rc;

		if (page == MAX_PAGES) {
			fail_with(r, RL_K8S_ERR_PARSE, 0, "more than %d pages: the continue tokens loop", MAX_PAGES);
			goto cleanup;
		}
		url = page_url(k, cont);
		if (!url) {
			fail_with(r, RL_K8S_ERR_OTHER, 0, "out of memory");
			goto cleanup;
		}
		rl_buf_free(&x.body);
		x.too_large = false;
		errbuf[0] = '\0';
		curl_easy_setopt(k->curl, CURLOPT_URL, url);
		rc = curl_easy_perform(k->curl);
		free(url);
		if (rc != CURLE_OK) {
			classify_curl(k, rc, &x, errbuf, r);
			goto cleanup;
		}
		curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200) {
			/* 410 Gone is an expired continue token: the next list starts over, as client-go does. */
			classify_http(k, code, &x.body, r);
			goto cleanup;
		}
		err = rl_k8s_table_add_page(t, x.body.data ? x.body.data : "", x.body.len, next, CONTINUE_MAX);
		if (err) {
			fail_with(r, err == -ENOMEM ? RL_K8S_ERR_OTHER : RL_K8S_ERR_PARSE, 0,
				  "page %u of the pod list is not a PodList (%s)", page + 1, strerror(-err));
			goto cleanup;
		}
		if (!next[0])
			break;
		if (!strcmp(next, cont)) {
			fail_with(r, RL_K8S_ERR_PARSE, 0, "the API server returned the same continue token twice");
			goto cleanup;
		}
		strcpy(cont, next);
	}
	*out = t;
	t = NULL;
cleanup:
	/* The handle outlives the list (its connection is reused): it must not point at freed memory. */
	curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (token)
		explicit_bzero(token, TOKEN_MAX);
	free(token);
	free(cont);
	free(next);
	rl_buf_free(&x.body);
	rl_k8s_table_free(t);
	if (atomic_load(&k->stop))
		r->stopped = true;
}

static int setup_curl(struct rl_k8s *k)
{
	CURL *c = curl_easy_init();
	int bad = 0;

	if (!c)
		return -ENOMEM;
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_path) != CURLE_OK;
	/* Only the cluster's CA: the system bundle must not vouch for an API server. */
	bad |= curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	/* The token never travels in clear text, nor follows a redirect. */
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	/* Lists of a busy node are megabytes of JSON; the API server compresses them. */
	bad |= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "reqlens/" REQLENS_VERSION) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, k) != CURLE_OK;
	if (bad) {
		curl_easy_cleanup(c);
		return -ENOTSUP;
	}
	k->curl = c;
	return 0;
}

static void record(struct rl_k8s *k, struct rl_k8s_table *t, const struct outcome *r)
{
	struct rl_k8s_table *old = NULL;
	struct timespec wall;
	uint64_t pods = 0, containers = 0;

	pthread_mutex_lock(&k->lock);
	clock_gettime(CLOCK_MONOTONIC, &k->last_end);
	if (t) {
		old = k->table;
		k->table = t;
		k->last_ok = true;
		k->stats.lists_ok++;
		rl_k8s_table_counts(t, &pods, &containers);
		k->stats.pods = pods;
		k->stats.containers = containers;
		clock_gettime(CLOCK_REALTIME, &wall);
		k->stats.last_ok_unix_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
	} else if (r->failed) {
		k->last_ok = false;
		k->stats.errors[r->kind]++;
	}
	pthread_mutex_unlock(&k->lock);
	rl_k8s_table_free(old);
	if (t) {
		if (!k->ever_ok || k->nlogged)
			rl_info("listed the pods of node %s: %llu pods, %llu containers", k->node,
				(unsigned long long)pods, (unsigned long long)containers);
		k->ever_ok = true;
		k->nlogged = 0;
	} else if (r->failed) {
		log_failure(k, r);
	}
}

/* Until the next resync, an early list some unknown ID asked for, or stop. */
static void wait_next(struct rl_k8s *k)
{
	struct timespec now, until;

	pthread_mutex_lock(&k->lock);
	for (;;) {
		if (atomic_load(&k->stop))
			break;
		until = add_ms(k->last_end, k->resync_ms);
		if (k->relist) {
			struct timespec early = add_ms(k->last_end, MIN_RELIST_MS);

			if (before(early, until))
				until = early;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!before(now, until))
			break;
		pthread_cond_timedwait(&k->cond, &k->lock, &until);
	}
	k->relist = false;
	pthread_mutex_unlock(&k->lock);
}

static void *run(void *arg)
{
	struct rl_k8s *k = arg;

	while (!atomic_load(&k->stop)) {
		struct outcome r = { 0 };
		struct rl_k8s_table *t = NULL;

		list_pods(k, &t, &r);
		if (r.stopped) {
			rl_k8s_table_free(t);
			break;
		}
		record(k, t, &r);
		wait_next(k);
	}
	return NULL;
}

bool rl_k8s_lookup(struct rl_k8s *k, const char *container_id, const char *pod_uid, struct rl_k8s_names *out)
{
	struct rl_k8s_names names;
	char key[KEY_MAX];
	bool found, complete, seen = false;

	if (!k || !out)
		return false;
	pthread_mutex_lock(&k->lock);
	found = rl_k8s_table_lookup(k->table, container_id, pod_uid, &names);
	/* A container ID answered with its pod only is still unknown: it may have started since the list. */
	complete = found && (!container_id || !container_id[0] || names.container_name[0]);
	if (!complete && k->table && k->last_ok &&
	    make_key(container_id && container_id[0] ? container_id : pod_uid, key)) {
		for (unsigned i = 0; i < k->nmissed && !seen; i++)
			seen = !strcmp(k->missed[i], key);
		if (!seen) {
			/* Forgetting them all when full keeps the set bounded; the rate limit still holds. */
			if (k->nmissed == MISSED_MAX)
				k->nmissed = 0;
			strcpy(k->missed[k->nmissed++], key);
			k->relist = true;
			pthread_cond_signal(&k->cond);
		}
	}
	pthread_mutex_unlock(&k->lock);
	if (found)
		*out = names;
	return found;
}

void rl_k8s_get_stats(struct rl_k8s *k, struct rl_k8s_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	*out = k->stats;
	pthread_mutex_unlock(&k->lock);
}

static void k8s_free(struct rl_k8s *k)
{
	if (k->curl)
		curl_easy_cleanup(k->curl);
	rl_k8s_table_free(k->table);
	free(k->base_url);
	free(k->node);
	free(k->token_path);
	free(k->ca_path);
	free(k);
}

void rl_k8s_stop(struct rl_k8s *k)
{
	if (!k)
		return;
	atomic_store(&k->stop, true);
	pthread_mutex_lock(&k->lock);
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	k8s_free(k);
	curl_global_cleanup();
}

/* "https://HOST:PORT" from the variables every pod gets; brackets for an IPv6 service address. */
static char *service_url(void)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	struct rl_buf b;

	if (!host || !host[0] || !port || !port[0])
		return NULL;
	rl_buf_init(&b);
	rl_buf_printf(&b, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
	return b.err ? NULL : rl_buf_steal(&b, NULL);
}

int rl_k8s_start(const struct rl_k8s_opts *o, struct rl_k8s **out)
{
	static const struct rl_k8s_opts none = { 0 };
	struct rl_k8s *k = NULL;
	pthread_condattr_t ca;
	sigset_t all, old;
	const char *node, *token_path, *ca_path;
	bool curl_ready = false, sync_ready = false;
	char *url = NULL;
	size_t n;
	int err = 0;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!o)
		o = &none;
	url = o->api_url ? strdup(o->api_url) : service_url();
	if (!url) {
		if (o->api_url)
			return -ENOMEM;
		rl_debug("not in Kubernetes (no KUBERNETES_SERVICE_HOST): series carry no pod names");
		return 0;
	}
	n = strlen(url);
	while (n && url[n - 1] == '/')
		url[--n] = '\0';
	node = o->node_name ? o->node_name : getenv("NODE_NAME");
	token_path = o->token_path ? o->token_path : RL_K8S_TOKEN_PATH;
	ca_path = o->ca_path ? o->ca_path : RL_K8S_CA_PATH;
	/* Each of these is a deployment mistake, not the agent's: it says so and measures without names. */
	if (!node || !node[0] || strlen(node) > 253) {
		rl_warn("in Kubernetes but NODE_NAME is not set: pass it from the downward API (env NODE_NAME, "
			"valueFrom.fieldRef.fieldPath spec.nodeName); series carry no pod names");
		goto cleanup;
	}
	if (access(token_path, R_OK)) {
		rl_warn("in Kubernetes but the service account token %s cannot be read (%s; "
			"automountServiceAccountToken false?): series carry no pod names",
			token_path, strerror(errno));
		goto cleanup;
	}
	if (access(ca_path, R_OK)) {
		rl_warn("in Kubernetes but the cluster CA %s cannot be read (%s): series carry no pod names", ca_path,
			strerror(errno));
		goto cleanup;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		err = -ENOMEM;
		goto cleanup;
	}
	curl_ready = true;
	k = calloc(1, sizeof(*k));
	if (!k) {
		err = -ENOMEM;
		goto cleanup;
	}
	k->base_url = url;
	url = NULL;
	k->node = strdup(node);
	k->token_path = strdup(token_path);
	k->ca_path = strdup(ca_path);
	k->resync_ms = o->resync_ms ? o->resync_ms : DEFAULT_RESYNC_MS;
	k->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	k->max_response = o->max_response ? o->max_response : DEFAULT_MAX_RESPONSE;
	atomic_init(&k->stop, false);
	if (!k->node || !k->token_path || !k->ca_path) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = setup_curl(k);
	if (err)
		goto cleanup;
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_init(&ca);
	/* Timed waits on the monotonic clock: a wall-clock step must not stall or rush the resync. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cond, &ca);
	pthread_condattr_destroy(&ca);
	sync_ready = true;
	clock_gettime(CLOCK_MONOTONIC, &k->last_end);
	/* The thread takes no signal: the agent's main thread handles them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&k->thread, NULL, run, k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto cleanup;
	rl_info("naming pods from the Kubernetes API at %s for node %s, every %.1f s", k->base_url, k->node,
		k->resync_ms / 1000.0);
	*out = k;
	k = NULL;
cleanup:
	if (k && sync_ready) {
		pthread_cond_destroy(&k->cond);
		pthread_mutex_destroy(&k->lock);
	}
	if (k)
		k8s_free(k);
	if (err && curl_ready)
		curl_global_cleanup();
	free(url);
	return err;
}
