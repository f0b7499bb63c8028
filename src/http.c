// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "expo.h"
#include "http.h"
#include "log.h"

/* MHD_Result appeared in 0.9.71; older headers return int. */
#if MHD_VERSION < 0x00097002
typedef int rl_mhd_result;
#else
typedef enum MHD_Result rl_mhd_result;
#endif

/*
 * Slow or many clients must not stall the scrape: the server runs its own
 * epoll thread, drops connections idle for IDLE_TIMEOUT, and caps how many
 * it holds and how much memory each may use (a huge header gets an error
 * reply, not a crash).
 */
#define MAX_CONNECTIONS 512
#define IDLE_TIMEOUT_S 10
#define CONN_MEMORY (64 * 1024)

struct rl_http {
	struct MHD_Daemon *mhd;
	int fd;
	atomic_bool ready;
	char path[256];
	rl_http_render_fn render;
	void *ctx;
};

static rl_mhd_result reply(struct MHD_Connection *c, unsigned status, const char *type,
			   void *data, size_t len, bool gzipped)
{
	struct MHD_Response *r;
	rl_mhd_result ret;

	r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (gzipped)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static rl_mhd_result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	char *copy = strdup(text);

	return copy ? reply(c, status, "text/plain; charset=utf-8", copy, strlen(copy), false) : MHD_NO;
}

/* gzip of in into *out (malloc'd); 0 or -errno. */
static int gzip(const char *in, size_t len, char **out, size_t *outlen)
{
	z_stream z = {};
	size_t cap;
	char *buf;

	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, len);
	buf = malloc(cap);
	if (!buf) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(buf);
		return -EIO;
	}
	*outlen = z.total_out;
	*out = buf;
	deflateEnd(&z);
	return 0;
}

static bool accepts_gzip(struct MHD_Connection *c)
{
	const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);

	return ae && strstr(ae, "gzip");
}

static rl_mhd_result serve_doc(struct rl_http *h, struct MHD_Connection *c, enum rl_http_doc doc)
{
	const char *type = doc == RL_DOC_METRICS ? RL_EXPO_CONTENT_TYPE : "application/json";
	struct rl_buf b;
	size_t len;
	char *data;
	int err;

	rl_buf_init(&b);
	err = h->render(h->ctx, doc, &b);
	if (err) {
		rl_buf_free(&b);
		rl_warn("rendering %s failed: %s", doc == RL_DOC_METRICS ? "metrics" : "histograms",
			strerror(-err));
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "collecting metrics failed\n");
	}
	data = rl_buf_steal(&b, &len);
	if (!data)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	if (accepts_gzip(c) && len > 1024) {
		char *z;
		size_t zlen;

		if (!gzip(data, len, &z, &zlen)) {
			free(data);
			return reply(c, MHD_HTTP_OK, type, z, zlen, true);
		}
	}
	return reply(c, MHD_HTTP_OK, type, data, len, false);
}

static rl_mhd_result serve_index(struct rl_http *h, struct MHD_Connection *c)
{
	struct rl_buf b;
	size_t len;
	char *data;

	rl_buf_init(&b);
	rl_buf_printf(&b,
		      "<!DOCTYPE html><html><head><title>reqlens</title></head><body>"
		      "<h1>reqlens</h1><p>eBPF latency and resource profiler.</p><ul>"
		      "<li><a href=\"%s\">Metrics</a></li>"
		      "<li><a href=\"/api/v1/histograms\">Full-resolution histograms (JSON)</a></li>"
		      "<li><a href=\"/healthz\">Health</a></li><li><a href=\"/readyz\">Readiness</a></li>"
		      "</ul></body></html>\n", h->path);
	data = rl_buf_steal(&b, &len);
	return data ? reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", data, len, false) : MHD_NO;
}

static rl_mhd_result on_request(void *cls, struct MHD_Connection *c, const char *url,
				const char *method, const char *version, const char *upload,
				size_t *upload_size, void **state)
{
	struct rl_http *h = cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (!strcmp(url, h->path))
		return serve_doc(h, c, RL_DOC_METRICS);
	if (!strcmp(url, "/api/v1/histograms"))
		return serve_doc(h, c, RL_DOC_HISTOGRAMS);
	if (!strcmp(url, "/healthz"))
		return reply_text(c, MHD_HTTP_OK, "ok\n");
	if (!strcmp(url, "/readyz"))
		return atomic_load(&h->ready) ? reply_text(c, MHD_HTTP_OK, "ready\n")
					      : reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n");
	if (!strcmp(url, "/"))
		return serve_index(h, c);
	return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	rl_debug("http: %s", msg);
}

/* Binds the listening socket ourselves, so that a failure has its errno. */
static int listen_on(const char *host, uint16_t port, const char *address)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	char service[8];
	int fd = -1, err = 0, rc, one = 1;

	snprintf(service, sizeof(service), "%u", port);
	hints.ai_family = host[0] ? AF_UNSPEC : AF_INET6;
	rc = getaddrinfo(host[0] ? host : NULL, service, &hints, &res);
	if (rc) {
		rl_error("cannot resolve the listen address %s: %s", address, gai_strerror(rc));
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6 && !host[0]) {
			int zero = 0;	/* ":PORT" serves IPv4 and IPv6 */

			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		}
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 128))
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0 && !host[0] && err == -EAFNOSUPPORT) {
		/* No IPv6 on this host: every IPv4 address then. */
		return listen_on("0.0.0.0", port, address);
	}
	if (fd < 0) {
		if (err == -EADDRINUSE)
			rl_error("listen address %s is already in use: stop what holds it or pass "
				 "--web.listen-address", address);
		else
			rl_error("cannot listen on %s: %s", address, strerror(-err));
		return err ? err : -EINVAL;
	}
	return fd;
}

int rl_http_start(const struct rl_http_opts *o, struct rl_http **out)
{
	struct rl_http *h = calloc(1, sizeof(*h));
	int fd;

	if (!h)
		return -ENOMEM;
	fd = listen_on(o->host, o->port, o->address);
	if (fd < 0) {
		free(h);
		return fd;
	}
	h->fd = fd;
	snprintf(h->path, sizeof(h->path), "%s", o->telemetry_path);
	h->render = o->render;
	h->ctx = o->ctx;
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				  on_request, h,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_END);
	if (!h->mhd) {
		rl_error("cannot start the HTTP server on %s", o->address);
		close(fd);
		free(h);
		return -EIO;
	}
	*out = h;
	return 0;
}

void rl_http_set_ready(struct rl_http *h, bool ready)
{
	atomic_store(&h->ready, ready);
}

void rl_http_stop(struct rl_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	close(h->fd);
	free(h);
}
