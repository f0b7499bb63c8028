/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's HTTP endpoints over libmicrohttpd: the metrics, the
 * full-resolution histograms, /healthz and /readyz.
 */
#ifndef RL_HTTP_H
#define RL_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include "buf.h"

struct rl_http;

enum rl_http_doc { RL_DOC_METRICS, RL_DOC_HISTOGRAMS };

/*
 * Renders a document into out; 0 or -errno. Called from the HTTP thread,
 * one request at a time.
 */
typedef int (*rl_http_render_fn)(void *ctx, enum rl_http_doc doc, struct rl_buf *out);

struct rl_http_opts {
	const char *host;	/* "" for every address */
	uint16_t port;
	const char *address;	/* as the user wrote it, for messages */
	const char *telemetry_path;
	rl_http_render_fn render;
	void *ctx;
};

/*
 * Binds and starts serving. The address is bound before this returns, so a
 * taken port fails here, before any BPF is loaded. 0 or -errno (logged).
 */
int rl_http_start(const struct rl_http_opts *o, struct rl_http **out);
void rl_http_set_ready(struct rl_http *h, bool ready);
void rl_http_stop(struct rl_http *h);	/* NULL-safe */

#endif
