// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "bpfobj.h"
#include "grow.h"
#include "http1.h"
#include "log.h"
#include "req.h"
#include "req.skel.h"
#include "svc.h"
#include "reqlens/req.h"
#include "reqlens/tcp.h"

struct rl_req {
	struct req_bpf *skel;
	struct ring_buffer *rb;
	pthread_t reader;
	bool reader_started;
	atomic_bool stop;
	enum rl_req_mode mode;
	const struct rl_config *cfg;
	pthread_mutex_t lock;	/* guards http and routes */
	pthread_mutex_t rb_lock;	/* one consumer of the ring at a time */
	/* HTTP histograms, cumulative since start; scrapes copy them. */
	struct rl_registry *http;
	/* Routes seen per service: the route cap's bookkeeping. */
	struct rl_registry *routes;
	/* Route names by the id the kernel's route cache holds (id - 1). */
	char **route_names;
	size_t nroute_names, route_names_cap;
};

/* Queue waits, of every protocol, from the kernel. */
#define QUEUE_NAME "reqlens_request_queue_seconds"
#define QUEUE_HELP "Time a request's first bytes waited in the socket's receive queue before " \
		   "the server read them."

#define HTTP_SERVER_NAME "http_server_request_duration_seconds"
#define HTTP_SERVER_HELP "Duration of HTTP requests as the server handled them: first byte read " \
			 "to last byte written."
#define HTTP_CLIENT_NAME "http_client_request_duration_seconds"
#define HTTP_CLIENT_HELP "Duration of HTTP requests as the client saw them: first byte written " \
			 "to last response byte read."

#define HANDLER_NAME "reqlens_request_handler_seconds"
#define HANDLER_HELP "Time the probed handler functions (--uprobe, --usdt) ran within each " \
		     "request, on the thread serving it."

/* Where each request's serving thread spent its time, by the request's labels. */
static const char *const split_names[3][2] = {
	{ "reqlens_request_cpu_seconds",
	  "On-CPU time of the thread serving each request, while it served it." },
	{ "reqlens_request_runqueue_seconds",
	  "Time the thread serving each request waited for a CPU, while it served it." },
	{ "reqlens_request_blocked_seconds",
	  "Time the thread serving each request was blocked, while it served it." },
};

/* As src/http1.c names them. */
static const char *const method_names[RL_METHOD_N] = {
	[RL_METHOD_OTHER] = "_OTHER", [RL_METHOD_GET] = "GET", [RL_METHOD_HEAD] = "HEAD",
	[RL_METHOD_POST] = "POST", [RL_METHOD_PUT] = "PUT", [RL_METHOD_DELETE] = "DELETE",
	[RL_METHOD_CONNECT] = "CONNECT", [RL_METHOD_OPTIONS] = "OPTIONS",
	[RL_METHOD_TRACE] = "TRACE", [RL_METHOD_PATCH] = "PATCH",
};

static const char *const proto_names[RL_PROTO_N] = {
	[RL_PROTO_UNKNOWN] = "unknown", [RL_PROTO_HTTP1] = "http",
	[RL_PROTO_REDIS] = "redis", [RL_PROTO_POSTGRES] = "postgresql",
	[RL_PROTO_OTHER] = "other",
};

/* Programs of each mode; the rest stay unloaded. rl_req_close serves both. */
static const char *const sock_progs[] = { "rl_sock_recv", "rl_sock_send", "rl_data_ready", NULL };
static const char *const syscall_progs[] = {
	"rl_enter_read", "rl_enter_write", "rl_enter_recvfrom", "rl_enter_sendto", "rl_enter_readv",
	"rl_enter_writev", "rl_enter_recvmsg", "rl_enter_sendmsg", "rl_exit_read", "rl_exit_write", "rl_exit_recvfrom", "rl_exit_sendto", "rl_exit_readv",
	"rl_exit_writev", "rl_exit_recvmsg", "rl_exit_sendmsg", "rl_tcp_probe", NULL,
};

static bool in(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

int rl_req_fthreads_fd(const struct rl_req *q)
{
	return bpf_map__fd(q->skel->maps.fthreads);
}

const char *rl_req_mode_name(const struct rl_req *q)
{
	return q->mode == RL_REQ_SOCK ? "sock" : "syscall";
}

static void stop_reader(struct rl_req *q)
{
	if (q->reader_started) {
		atomic_store(&q->stop, true);
		pthread_join(q->reader, NULL);
		q->reader_started = false;
	}
}

void rl_req_stop(struct rl_req *q)
{
	if (!q)
		return;
	if (q->skel)
		rl_bpfobj_detach_all(q->skel->skeleton);
	stop_reader(q);
	ring_buffer__free(q->rb);
	req_bpf__destroy(q->skel);
	rl_registry_free(q->http);
	rl_registry_free(q->routes);
	for (size_t i = 0; i < q->nroute_names; i++)
		free(q->route_names[i]);
	free(q->route_names);
	pthread_mutex_destroy(&q->lock);
	pthread_mutex_destroy(&q->rb_lock);
	free(q);
}

static void addr_text(__u8 family, const __u32 addr[4], char *out, size_t size)
{
	if (!inet_ntop(family == 10 ? AF_INET6 : AF_INET, addr, out, (socklen_t)size))
		snprintf(out, size, "unknown");
}

/*
 * The route a request is counted under: its own while the service has fewer
 * than --http.max-routes, "other" after that.
 */
static const char *capped_route(struct rl_req *q, const char *svc, const char *port, const char *route)
{
	const char *known_kv[] = { "service_name", svc, "server_port", port, "route", route, NULL };
	const char *count_kv[] = { "service_name", svc, "server_port", port, NULL };
	struct rl_family *known, *counts;
	struct rl_sample *n, *k;
	size_t before;

	known = rl_family_get(q->routes, "known", NULL, RL_GAUGE);
	counts = rl_family_get(q->routes, "count", NULL, RL_GAUGE);
	if (!known || !counts)
		return "other";
	n = rl_sample_get(counts, count_kv);
	if (!n)
		return "other";
	before = known->nsamples;
	if (n->value >= q->cfg->max_routes) {
		/* Only routes already admitted keep their name. */
		k = NULL;
		for (size_t i = 0; i < known->nsamples && !k; i++) {
			struct rl_sample *s = known->samples[i];

			if (!strcmp(s->labels[0].value, svc) && !strcmp(s->labels[1].value, port) &&
			    !strcmp(s->labels[2].value, route))
				k = s;
		}
		return k ? route : "other";
	}
	k = rl_sample_get(known, known_kv);
	if (k && known->nsamples > before)
		n->value += 1;
	return k ? route : "other";
}

/* The id of a route name (from 1), registered on first use; 0 when out of memory. Under q->lock. */
static __u32 route_id(struct rl_req *q, const char *route)
{
	char *copy;

	for (size_t i = 0; i < q->nroute_names; i++)
		if (!strcmp(q->route_names[i], route))
			return (__u32)i + 1;
	if (q->nroute_names == q->route_names_cap) {
		size_t cap = q->route_names_cap ? 2 * q->route_names_cap : 64;
		char **grown = realloc(q->route_names, cap * sizeof(*grown));

		if (!grown)
			return 0;
		q->route_names = grown;
		q->route_names_cap = cap;
	}
	copy = strdup(route);
	if (!copy)
		return 0;
	q->route_names[q->nroute_names++] = copy;
	return (__u32)q->nroute_names;
}

static const char *route_name(const struct rl_req *q, __u32 id)
{
	return id && id <= q->nroute_names ? q->route_names[id - 1] : "other";
}

/*
 * Tells the kernel the route of this target, so that the service's next
 * requests to it are aggregated there instead of coming as events.
 */
static void cache_route(struct rl_req *q, const struct rl_req_event *e, const char *route)
{
	struct rl_route_key key = { .svc = e->svc, .path_hash = e->path_hash };
	__u32 id = route_id(q, route);

	if (id && bpf_map_update_elem(bpf_map__fd(q->skel->maps.routes), &key, &id, BPF_ANY))
		rl_debug("caching the route %s failed: %s", route, strerror(errno));
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct rl_req *q = ctx;
	const struct rl_req_event *e = data;
	char port[8], method[16], route[RL_ROUTE_MAX], status[8];
	bool parsed = true;
	struct rl_svc_labels names;
	const char *kv[RL_KV_MAX];
	const char *svc;
	struct rl_family *f;
	struct rl_sample *s;

	if (size < sizeof(*e))
		return 0;
	rl_svc_kv(&e->svc, &names, kv);
	svc = names.name;
	snprintf(port, sizeof(port), "%u", e->svc.port);
	if (e->status)
		snprintf(status, sizeof(status), "%u", e->status);
	else
		status[0] = 0;
	if (rl_http1_request(e->head, e->head_len < RL_REQ_HEAD_LEN ? e->head_len : RL_REQ_HEAD_LEN,
			     e->pipelined, &q->cfg->routes, method, route)) {
		parsed = false;
		snprintf(method, sizeof(method), "_OTHER");
		snprintf(route, sizeof(route), "other");
	}
	pthread_mutex_lock(&q->lock);
	if (e->svc.dir == RL_DIR_INBOUND) {
		const char *capped = capped_route(q, svc, port, route);

		if (parsed && e->line_ok)
			cache_route(q, e, capped);

		rl_svc_labels_kv(&e->svc, &names, kv, "server_port", port, "http_request_method", method,
				 "http_route", capped, "http_response_status_code", status, NULL);
		f = rl_family_get(q->http, HTTP_SERVER_NAME, HTTP_SERVER_HELP, RL_HISTOGRAM);
		s = f ? rl_sample_get(f, kv) : NULL;
		if (e->handler_ns) {
			const char *hkv[RL_KV_MAX];
			struct rl_family *hf = rl_family_get(q->http, HANDLER_NAME, HANDLER_HELP,
							     RL_HISTOGRAM);
			struct rl_sample *hs;

			rl_svc_labels_kv(&e->svc, &names, hkv, "server_port", port, "http_route", capped,
					 NULL);
			hs = hf ? rl_sample_get(hf, hkv) : NULL;

			if (hs)
				rl_hist_observe(hs->hist, e->handler_ns);
		}
		if (e->has_split) {
			const __u64 ns[3] = { e->cpu_ns, e->runq_ns, e->blocked_ns };

			for (int i = 0; i < 3; i++) {
				struct rl_family *sf = rl_family_get(q->http, split_names[i][0],
								     split_names[i][1], RL_HISTOGRAM);
				struct rl_sample *ss = sf ? rl_sample_get(sf, kv) : NULL;

				if (ss)
					rl_hist_observe(ss->hist, ns[i]);
			}
		}
	} else {
		/* The kernel aggregates HTTP clients itself: it sends none. */
		s = NULL;
	}
	if (s)
		rl_hist_observe(s->hist, e->duration_ns);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/* Hands every event in the ring to on_event. */
static int drain(struct rl_req *q)
{
	int n;

	pthread_mutex_lock(&q->rb_lock);
	n = ring_buffer__consume(q->rb);
	pthread_mutex_unlock(&q->rb_lock);
	return n;
}

static void *reader(void *arg)
{
	struct rl_req *q = arg;
	int epfd = ring_buffer__epoll_fd(q->rb);

	while (!atomic_load(&q->stop)) {
		struct epoll_event ev;
		int n;

		/* The kernel wakes us only when the ring fills: drain it on every tick too. */
		if (epoll_wait(epfd, &ev, 1, 100) < 0 && errno != EINTR) {
			rl_error("waiting for request events failed: %s", strerror(errno));
			break;
		}
		n = drain(q);
		if (n < 0 && n != -EINTR) {
			rl_error("reading request events failed: %s", strerror(-n));
			break;
		}
	}
	return NULL;
}

static int load(struct rl_req *q, int conns_fd, int threads_fd, enum rl_req_mode mode)
{
	const char *const *own = mode == RL_REQ_SOCK ? sock_progs : syscall_progs;
	const char *const *other = mode == RL_REQ_SOCK ? syscall_progs : sock_progs;
	struct bpf_program *prog;
	int err;

	q->skel = req_bpf__open();
	if (!q->skel)
		return -errno;
	q->skel->rodata->filter_pid = q->cfg->npids > 0;
	q->skel->rodata->filter_comm = q->cfg->ncomms > 0;
	q->skel->rodata->filter_port = q->cfg->nports > 0;
	q->skel->rodata->keep_until_destroy = rl_tracepoint_exists("tcp", "tcp_destroy_sock");
	q->skel->rodata->split = threads_fd >= 0;
	q->skel->rodata->track_serving = q->cfg->nprobes > 0;
	bpf_object__for_each_program(prog, q->skel->obj)
		if (in(bpf_program__name(prog), other))
			bpf_program__set_autoload(prog, false);
	err = rl_bpfobj_prune(q->skel->obj, own);
	if (!err) {
		/* Any of this mode's tracepoints missing means the mode is not available. */
		bpf_object__for_each_program(prog, q->skel->obj)
			if (in(bpf_program__name(prog), own) && !bpf_program__autoload(prog))
				err = -ENOENT;
	}
	if (!err)
		err = bpf_map__reuse_fd(q->skel->maps.conns, conns_fd);
	if (!err && threads_fd >= 0)
		err = bpf_map__reuse_fd(q->skel->maps.threads, threads_fd);
	if (!err)
		err = req_bpf__load(q->skel);
	if (!err)
		err = req_bpf__attach(q->skel);
	if (err) {
		rl_bpfobj_detach_all(q->skel->skeleton);
		req_bpf__destroy(q->skel);
		q->skel = NULL;
		return err;
	}
	q->mode = mode;
	return 0;
}

int rl_req_start(const struct rl_config *cfg, int conns_fd, int threads_fd, struct rl_req **out)
{
	struct rl_req *q = calloc(1, sizeof(*q));
	int err;

	if (!q)
		return -ENOMEM;
	q->cfg = cfg;
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_init(&q->rb_lock, NULL);
	q->http = rl_registry_new();
	q->routes = rl_registry_new();
	if (!q->http || !q->routes) {
		err = -ENOMEM;
		goto fail;
	}
	if (cfg->req_mode == RL_REQ_SYSCALL) {
		err = load(q, conns_fd, threads_fd, RL_REQ_SYSCALL);
	} else {
		err = load(q, conns_fd, threads_fd, RL_REQ_SOCK);
		if (err && cfg->req_mode == RL_REQ_AUTO) {
			rl_info("sock tracepoints unavailable (%s): framing requests from syscalls",
				strerror(-err));
			err = load(q, conns_fd, threads_fd, RL_REQ_SYSCALL);
		}
	}
	if (err) {
		rl_bpfobj_explain("loading the request-tracking BPF programs", err);
		goto fail;
	}
	q->rb = ring_buffer__new(bpf_map__fd(q->skel->maps.req_events), on_event, q, NULL);
	if (!q->rb) {
		err = -errno;
		rl_error("cannot read the request events: %s", strerror(-err));
		goto fail;
	}
	err = -pthread_create(&q->reader, NULL, reader, q);
	if (err)
		goto fail;
	q->reader_started = true;
	*out = q;
	return 0;
fail:
	rl_req_stop(q);
	return err;
}

/*
 * The labels of a kernel-aggregated HTTP series, as on_event gives the same
 * requests: HTTP server requests whose route is cached, and HTTP clients.
 */
static void http_kv(const struct rl_req *q, const struct rl_req_hist_key *key, struct rl_svc_labels *names,
		    const char **kv, char *port, char *peer, size_t peer_size, char *status)
{
	const char *method = method_names[key->method < RL_METHOD_N ? key->method : RL_METHOD_OTHER];
	const char *route = route_name(q, key->route);

	if (key->status)
		snprintf(status, 8, "%u", key->status);
	else
		status[0] = 0;
	if (key->hist == RL_REQ_HIST_CLIENT) {
		addr_text((__u8)key->family, key->peer_addr, peer, peer_size);
		rl_svc_labels_kv(&key->svc, names, kv, "peer_address", peer, "peer_port", port,
				 "http_request_method", method, "http_response_status_code", status, NULL);
	} else if (key->hist == RL_REQ_HIST_HANDLER) {
		rl_svc_labels_kv(&key->svc, names, kv, "server_port", port, "http_route", route, NULL);
	} else {
		rl_svc_labels_kv(&key->svc, names, kv, "server_port", port, "http_request_method", method,
				 "http_route", route, "http_response_status_code", status, NULL);
	}
}

struct series {
	__u32 id;
	struct rl_req_hist_key key;
};

static int by_id(const void *a, const void *b)
{
	__u32 x = ((const struct series *)a)->id, y = ((const struct series *)b)->id;

	return x < y ? -1 : x > y;
}

/* Every series the kernel named (req_series), sorted by id: *out (malloc'ed), *n of them. */
static int read_series(struct rl_req *q, struct series **out, size_t *n)
{
	int fd = bpf_map__fd(q->skel->maps.req_series);
	struct rl_req_hist_key key, next;
	struct series *v = NULL, *grown;
	size_t cap = 0;
	void *prev = NULL;

	*n = 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		grown = rl_grow(v, *n, &cap, sizeof(*v));
		if (!grown) {
			free(v);
			return -ENOMEM;
		}
		v = grown;
		if (!bpf_map_lookup_elem(fd, &key, &v[*n].id))
			v[(*n)++].key = key;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), by_id);
	*out = v;
	return 0;
}

/*
 * Kernel-aggregated histograms: every protocol, HTTP as http_kv says. The
 * buckets are read first: the kernel names a series before it counts in
 * it, and never forgets one, so every bucket's series is in the names read
 * after.
 */
static int collect_hists(struct rl_req *q, struct rl_registry *r)
{
	int fd = bpf_map__fd(q->skel->maps.req_hists);
	struct rl_req_cell_key ck, cnext;
	struct rl_family *fam[RL_REQ_HIST_N], *http_server, *http_client;
	struct { struct rl_req_cell_key key; struct rl_hist_cell cell; } *cells = NULL, *grown;
	size_t ncells = 0, cap = 0, nseries;
	struct series *series = NULL;
	void *prev = NULL;
	int err = 0;

	fam[RL_REQ_HIST_DURATION] = rl_family_get(r, "reqlens_request_duration_seconds",
		"Duration of requests of protocols other than HTTP, as the server handled them: first "
		"byte read to last byte written.", RL_HISTOGRAM);
	fam[RL_REQ_HIST_QUEUE] = rl_family_get(r, QUEUE_NAME, QUEUE_HELP, RL_HISTOGRAM);
	fam[RL_REQ_HIST_CLIENT] = rl_family_get(r, "reqlens_client_request_duration_seconds",
		"Duration of requests of protocols other than HTTP as the client saw them: first byte "
		"written to last response byte read.", RL_HISTOGRAM);
	for (int i = 0; i < 3; i++)
		fam[RL_REQ_HIST_CPU + i] = rl_family_get(r, split_names[i][0], split_names[i][1],
							 RL_HISTOGRAM);
	fam[RL_REQ_HIST_HANDLER] = rl_family_get(r, HANDLER_NAME, HANDLER_HELP, RL_HISTOGRAM);
	http_server = rl_family_get(r, HTTP_SERVER_NAME, HTTP_SERVER_HELP, RL_HISTOGRAM);
	http_client = rl_family_get(r, HTTP_CLIENT_NAME, HTTP_CLIENT_HELP, RL_HISTOGRAM);
	for (int i = 0; i < RL_REQ_HIST_N; i++)
		if (!fam[i])
			return -ENOMEM;
	if (!http_server || !http_client)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &cnext)) {
		ck = cnext;
		prev = &ck;
		grown = rl_grow(cells, ncells, &cap, sizeof(*cells));
		if (!grown) {
			free(cells);
			return -ENOMEM;
		}
		cells = grown;
		if (!bpf_map_lookup_elem(fd, &ck, &cells[ncells].cell))
			cells[ncells++].key = ck;
	}
	err = read_series(q, &series, &nseries);
	for (size_t i = 0; i < ncells && !err; i++) {
		char port[8], peer[64], status[8];
		struct rl_family *f;
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		const char *proto;
		struct rl_sample *s;
		struct series want = { .id = cells[i].key.series }, *found;
		struct rl_req_hist_key key;

		found = nseries ? bsearch(&want, series, nseries, sizeof(*series), by_id) : NULL;
		if (!found || found->key.hist >= RL_REQ_HIST_N)
			continue;
		key = found->key;
		snprintf(port, sizeof(port), "%u", key.svc.port);
		proto = proto_names[key.proto < RL_PROTO_N ? key.proto : RL_PROTO_OTHER];
		f = fam[key.hist];
		if (key.proto == RL_PROTO_HTTP1 && key.hist != RL_REQ_HIST_QUEUE) {
			http_kv(q, &key, &names, kv, port, peer, sizeof(peer), status);
			if (key.hist == RL_REQ_HIST_DURATION)
				f = http_server;
			else if (key.hist == RL_REQ_HIST_CLIENT)
				f = http_client;
		} else if (key.hist == RL_REQ_HIST_QUEUE) {
			rl_svc_labels_kv(&key.svc, &names, kv, "server_port", port, NULL);
		} else if (key.hist == RL_REQ_HIST_CLIENT) {
			addr_text((__u8)key.family, key.peer_addr, peer, sizeof(peer));
			rl_svc_labels_kv(&key.svc, &names, kv, "peer_address", peer, "peer_port", port,
					 "protocol", proto, NULL);
		} else {
			rl_svc_labels_kv(&key.svc, &names, kv, "server_port", port, "protocol", proto, NULL);
		}
		s = rl_sample_get(f, kv);
		if (!s) {
			err = -ENOMEM;
			break;
		}
		rl_hist_add(s->hist, cells[i].key.bucket, cells[i].cell.count);
		s->hist->sum_ns += cells[i].cell.sum_ns;
	}
	free(series);
	free(cells);
	return err;
}

static int collect_aborted(struct rl_req *q, struct rl_registry *r)
{
	int fd = bpf_map__fd(q->skel->maps.req_aborted);
	struct rl_svc_key key, next;
	struct rl_family *f;
	void *prev = NULL;

	f = rl_family_get(r, "reqlens_requests_aborted_total",
			  "Requests whose connection closed before their response.", RL_COUNTER);
	if (!f)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		char port[8];
		struct rl_sample *s;
		__u64 n;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &n))
			continue;
		snprintf(port, sizeof(port), "%u", key.port);
		rl_svc_labels_kv(&key, &names, kv, "direction",
				 key.dir == RL_DIR_INBOUND ? "inbound" : "outbound",
				 key.dir == RL_DIR_INBOUND ? "server_port" : "peer_port", port, NULL);
		s = rl_sample_get(f, kv);
		if (!s)
			return -ENOMEM;
		s->value += (double)n;
	}
	return 0;
}

/* The client side's connection pools, as the kernel sees them. */
static int collect_pools(struct rl_req *q, struct rl_registry *r)
{
	int fd = bpf_map__fd(q->skel->maps.conns);
	struct rl_family *f;
	__u64 key, next;
	void *prev = NULL;
	struct rl_conn c;

	f = rl_family_get(r, "reqlens_client_connections_open",
			  "Connections a service holds open to each server it calls.", RL_GAUGE);
	if (!f)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		char port[8], peer[64];
		struct rl_sample *s;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &c) || c.svc.dir != RL_DIR_OUTBOUND ||
		    c.state != RL_CONN_OPEN)
			continue;
		snprintf(port, sizeof(port), "%u", c.svc.port);
		addr_text((__u8)c.family, c.peer_addr, peer, sizeof(peer));
		rl_svc_labels_kv(&c.svc, &names, kv, "peer_address", peer, "peer_port", port, NULL);
		s = rl_sample_get(f, kv);
		if (!s)
			return -ENOMEM;
		s->value += 1;
	}
	return 0;
}

/* Copies the HTTP histograms that the event reader keeps. */
static int collect_http(struct rl_req *q, struct rl_registry *r)
{
	int err = 0;

	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < q->http->nfamilies && !err; i++) {
		const struct rl_family *src = q->http->families[i];
		struct rl_family *dst = rl_family_get(r, src->name, src->help, src->type);

		for (size_t j = 0; j < src->nsamples && dst && !err; j++) {
			const struct rl_sample *s = src->samples[j];
			const char *kv[2 * RL_MAX_LABELS + 1];
			struct rl_sample *d;
			unsigned k;

			for (k = 0; k < s->nlabels; k++) {
				kv[2 * k] = s->labels[k].name;
				kv[2 * k + 1] = s->labels[k].value;
			}
			kv[2 * k] = NULL;
			d = rl_sample_get(dst, kv);
			if (!d)
				err = -ENOMEM;
			else
				rl_hist_merge(d->hist, s->hist);
		}
		if (!dst)
			err = -ENOMEM;
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

int rl_req_collect(struct rl_req *q, struct rl_registry *r)
{
	int err;

	/* Requests that ended before the scrape are in it, not 100 ms later. */
	drain(q);
	err = collect_http(q, r);

	if (!err) {
		/* Route names grow as events come. */
		pthread_mutex_lock(&q->lock);
		err = collect_hists(q, r);
		pthread_mutex_unlock(&q->lock);
	}
	if (!err)
		err = collect_aborted(q, r);
	if (!err)
		err = collect_pools(q, r);
	if (!err)
		err = rl_bpfobj_collect_self(q->skel->obj, r);
	return err;
}
