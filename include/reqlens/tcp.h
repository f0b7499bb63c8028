/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Contract between bpf/tcp.bpf.c and src/tcp.c: TCP connections, accept
 * queue, bytes, retransmits and resets per service.
 */
#ifndef REQLENS_TCP_H
#define REQLENS_TCP_H

#include "reqlens/common.h"
#include "reqlens/req.h"

/* Histograms of the TCP family; each becomes one metric family. */
enum rl_tcp_hist {
	RL_TCP_HIST_ACCEPT_QUEUE = 0,	/* handshake complete -> accept() returns */
	RL_TCP_HIST_CONN_DURATION,	/* accept/connect -> close */
	RL_TCP_HIST_N,
};

/* A sparse histogram: one map entry per non-empty bucket (value: count). */
struct rl_tcp_hist_key {
	struct rl_svc_key svc;
	__u32 hist;		/* enum rl_tcp_hist */
	__u32 bucket;		/* rl_hist_bucket() or RL_HIST_SUM_SLOT */
};

/* Cumulative counters per service endpoint, never reset. */
struct rl_tcp_stats {
	__u64 opened;		/* accepted (inbound) or established (outbound) */
	__u64 closed;
	__u64 connect_errors;	/* outbound connects that never established */
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u64 retransmits;
	__u64 resets_received;
	__u64 resets_sent;
};

/* Per-socket state, keyed by the struct sock address. */
enum rl_conn_state {
	RL_CONN_QUEUED = 1,	/* inbound handshake done, not yet accepted */
	RL_CONN_CONNECTING,	/* outbound SYN sent by a watched process */
	RL_CONN_OPEN,		/* accepted or established, counted */
	RL_CONN_CLOSED,		/* closed; kept until destroyed for late RSTs */
};

struct rl_conn {
	__u64 ts_handshake;	/* inbound: when it entered the accept queue */
	__u64 ts_open;		/* accept() return or connect() call */
	struct rl_svc_key svc;
	__u32 state;		/* enum rl_conn_state */
	__u32 copied_seq0;	/* tcp_sock.copied_seq when it opened */
	__u32 fin_received;	/* the peer's FIN came while the socket was open */
	/*
	 * Which handlers of the socket's end ran (its close, or with
	 * tcp:tcp_destroy_sock its destruction): the last one deletes it.
	 */
	__u32 closed_by;
	__u32 peer_addr[4];	/* outbound: the server's address (v4 in [0]) */
	__u16 family;
	__u16 pad[3];
	struct rl_req_state req;	/* request framing (bpf/req.bpf.c) */
};

#define RL_CLOSED_BY_TCP 1
#define RL_CLOSED_BY_REQ 2
#define RL_DESTROYED_BY_TCP 4
#define RL_DESTROYED_BY_REQ 8

#endif /* REQLENS_TCP_H */
