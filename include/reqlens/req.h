/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Contract between bpf/req.bpf.c and src/req.c: request/response exchanges
 * framed from a connection's own traffic.
 *
 * Server side: a request begins when the application reads bytes after it
 * wrote its previous response (or after accept); its response ends when the
 * application reads the next request or closes. Client side mirrors it: a
 * request begins with a write after the previous response was read.
 */
#ifndef REQLENS_REQ_H
#define REQLENS_REQ_H

#include "reqlens/common.h"

/* How much of a request's first read the kernel keeps for HTTP parsing. */
#define RL_REQ_HEAD_LEN 128

enum rl_req_phase {
	RL_PHASE_IDLE = 0,	/* nothing read since the last response */
	RL_PHASE_REQUEST,	/* reading a request (server) / writing one (client) */
	RL_PHASE_RESPONSE,	/* writing the response (server) / reading it (client) */
};

enum rl_proto {
	RL_PROTO_UNKNOWN = 0,	/* not decided: no request yet */
	RL_PROTO_HTTP1,
	RL_PROTO_REDIS,		/* RESP */
	RL_PROTO_POSTGRES,	/* the PostgreSQL wire protocol */
	RL_PROTO_OTHER,		/* any other request/response protocol */
	RL_PROTO_N,
};

/*
 * Histograms the kernel aggregates: every protocol; HTTP server requests
 * once their route is in the route cache (the others come as events).
 */
enum rl_req_hist {
	RL_REQ_HIST_DURATION = 0,	/* server: first byte read -> last byte written */
	RL_REQ_HIST_QUEUE,		/* first byte arrived -> first byte read */
	RL_REQ_HIST_CLIENT,		/* client: first byte written -> response read */
	RL_REQ_HIST_CPU,		/* the serving thread on a CPU */
	RL_REQ_HIST_RUNQ,		/* ... runnable, waiting for a CPU */
	RL_REQ_HIST_BLOCKED,		/* ... asleep */
	RL_REQ_HIST_HANDLER,		/* probed handler functions within it */
	RL_REQ_HIST_N,
};

/* Per-connection framing state, beside the TCP state in struct rl_conn. */
struct rl_req_state {
	__u64 ts_arrival;	/* first unread byte arrived; 0 when none waits */
	__u64 ts_start;		/* the current request's first byte was read */
	__u64 ts_last;		/* the last response byte was written (server) */
	__u64 queue_ns;		/* the current request's receive-queue wait */
	__u32 phase;		/* enum rl_req_phase */
	__u16 proto;		/* enum rl_proto, decided at the first request */
	__u16 status;		/* HTTP status of the response being written */
	__u16 pipelined;	/* responses already ended for the current read */
	__u16 head_len;
	/* HTTP, from the head's request line (see struct rl_route_key). */
	__u8 method;		/* enum rl_http_method; RL_METHOD_OTHER when not parsed */
	__u8 line_ok;		/* a complete request line with a known method */
	__u16 pad2;
	__u64 path_hash;	/* FNV-1a of the target, up to its query or fragment */
	/*
	 * Where the serving thread's time went (bpf/sched.bpf.c's totals): at
	 * the read that began the request, and at its latest write by the same
	 * thread. A response written by another thread has no split.
	 */
	__u32 split_tid;	/* 0: no split for this request */
	/* The route cache's answer for this connection's last target: keep-alive clients repeat. */
	__u32 memo_route;
	__u64 memo_hash;
	__u64 cpu0, runq0, blocked0;
	__u64 cpu1, runq1, blocked1;
	__u64 handler_ns;	/* probed functions' time on the serving thread */
	/*
	 * The series (req_series) this connection last recorded each histogram
	 * in, while the labels that change between its requests are still
	 * series_tag's (route << 32 | method << 16 | status, as finish() sees
	 * them; the queue wait's labels never change): a keep-alive connection
	 * records into the same series request after request, and the memo
	 * spares it the lookups by labels.
	 */
	__u32 series_id[RL_REQ_HIST_N];	/* 0: none yet */
	__u32 pad3;
	__u64 series_tag;
	char head[RL_REQ_HEAD_LEN];	/* first bytes of the read that began it */
};

/*
 * HTTP methods the kernel recognises: user space names them (src/req.c),
 * exactly as src/http1.c does from the same bytes.
 */
enum rl_http_method {
	RL_METHOD_OTHER = 0,
	RL_METHOD_GET,
	RL_METHOD_HEAD,
	RL_METHOD_POST,
	RL_METHOD_PUT,
	RL_METHOD_DELETE,
	RL_METHOD_CONNECT,
	RL_METHOD_OPTIONS,
	RL_METHOD_TRACE,
	RL_METHOD_PATCH,
	RL_METHOD_N,
};

/*
 * The route cache: user space normalises a target once, when an event
 * brings it, and stores its route's id here; later requests to the same
 * target (the same bytes up to the query) of the same service are
 * aggregated in the kernel under that id.
 */
struct rl_route_key {
	struct rl_svc_key svc;
	__u64 path_hash;
};

/*
 * A kernel-aggregated series: a histogram and its labels. req_series gives
 * each a small id (from 1), and req_hists counts by (id, bucket), so that a
 * record hashes 8 bytes, not the labels.
 */
#define RL_REQ_MAX_SERIES 16384
struct rl_req_hist_key {
	struct rl_svc_key svc;
	__u32 peer_addr[4];	/* client side: the server's address (v4 in [0]) */
	__u16 family;		/* client side */
	__u16 hist;		/* enum rl_req_hist */
	__u16 proto;		/* enum rl_proto */
	__u16 status;		/* HTTP: the response's status, 0 when none */
	__u32 route;		/* HTTP server: the route's id (struct rl_route_key) */
	__u16 method;		/* HTTP: enum rl_http_method */
	__u16 pad;		/* no implicit padding: the key is hashed whole */
};

struct rl_req_cell_key {
	__u32 series;		/* its id in req_series */
	__u32 bucket;
};

/* One HTTP exchange, sent to user space, which owns routes and labels. */
struct rl_req_event {
	struct rl_svc_key svc;
	__u64 duration_ns;
	__u64 queue_ns;		/* server side only */
	__u64 cpu_ns, runq_ns, blocked_ns;	/* valid when has_split */
	__u64 handler_ns;	/* probed functions' time within it (server side) */
	__u32 peer_addr[4];	/* client side: the server's address (v4 in [0]) */
	__u16 status;		/* 0 when the response had no status line */
	__u16 pipelined;	/* index of this request within its read */
	__u16 head_len;
	__u8 family;
	__u8 has_split;
	__u8 line_ok;		/* path_hash is the head's target's: cache its route */
	__u8 pad[7];
	__u64 path_hash;
	char head[RL_REQ_HEAD_LEN];
};

/* Requests whose connection closed before any response: counted per service. */

#endif /* REQLENS_REQ_H */
