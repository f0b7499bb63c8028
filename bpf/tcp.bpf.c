// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP connections from tracepoints only: sock:inet_sock_set_state sees every
 * state change of every TCP socket, the accept syscalls' exits tie a queued
 * connection to the process that takes it, and tcp:* count retransmits and
 * resets. Everything is aggregated here; nothing is sent per event.
 *
 * All but the accept exits are BTF tracepoints (tp_btf): the program gets the
 * socket itself, and detaching one needs no grace period. A classic
 * tracepoint's perf event waits for two (RCU and RCU tasks trace) as it
 * closes, one event after the other under the kernel's event_mutex: on a
 * busy 2-CPU machine that made the agent's exit take seconds. The accept
 * exits stay classic: the only BTF alternative, raw_syscalls:sys_exit, would
 * run a program at the end of every syscall of the host.
 */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "conns.bpf.h"
#include "services.bpf.h"
#include "reqlens/tcp.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define E2BIG 7

/* From include/net/tcp_states.h (an enum, but not always in BTF). */
#define RL_TCP_ESTABLISHED 1
#define RL_TCP_SYN_SENT 2
#define RL_TCP_SYN_RECV 3
#define RL_TCP_CLOSE 7
#define RL_TCP_CLOSE_WAIT 8
#define RL_TCP_CLOSING 11

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * When tcp:tcp_destroy_sock can be attached, a closed socket's state stays
 * until the socket is destroyed, so that the RST sent by a close() with
 * unread data (traced after the state became CLOSE) is still attributed.
 */
const volatile bool keep_until_destroy = false;
/* bpf/req.bpf.c shares conns and handles the same close: see closed_by. */
const volatile bool req_tracking = false;


struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct rl_tcp_hist_key);
	__type(value, __u64);
} tcp_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct rl_svc_key);
	__type(value, struct rl_tcp_stats);
} tcp_stats SEC(".maps");


static __always_inline void mark_service(__u32 tgid)
{
	__u8 one = 1;

	if (!bpf_map_lookup_elem(&services, &tgid) &&
	    bpf_map_update_elem(&services, &tgid, &one, BPF_NOEXIST) == -E2BIG)
		rl_lost(RL_LOST_STATS_MAP_FULL);
}

static __always_inline struct rl_tcp_stats *stats_of(const struct rl_svc_key *svc)
{
	static const struct rl_tcp_stats zero;
	struct rl_tcp_stats *s = bpf_map_lookup_elem(&tcp_stats, svc);

	if (s)
		return s;
	bpf_map_update_elem(&tcp_stats, svc, &zero, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&tcp_stats, svc);
	if (!s)
		rl_lost(RL_LOST_STATS_MAP_FULL);
	return s;
}

static __always_inline void hist(const struct rl_svc_key *svc, __u32 which, __u64 ns)
{
	struct rl_tcp_hist_key key = { .svc = *svc, .hist = which };

	rl_hist_record(&tcp_hists, &key, &key.bucket, ns);
}

static __always_inline void conn_put(__u64 sk, const struct rl_conn *c)
{
	if (bpf_map_update_elem(&conns, &sk, c, BPF_ANY))
		rl_lost(RL_LOST_CONN_MAP_FULL);
}

/*
 * Data bytes the application read. copied_seq moves by those, and by one
 * more when the application reads the peer's FIN (then nothing is left:
 * copied_seq == rcv_nxt); bytes_received also counts data never read. As
 * copied_seq is 32 bits, bytes_received (64) recovers the wraps of a
 * connection over 4 GiB.
 */
static __always_inline __u64 rx_bytes(struct tcp_sock *tp, const struct rl_conn *c)
{
	__u64 total = BPF_CORE_READ(tp, bytes_received);
	__u32 copied = BPF_CORE_READ(tp, copied_seq);
	__u32 d = copied - c->copied_seq0;

	if (c->fin_received && d && copied == BPF_CORE_READ(tp, rcv_nxt))
		d--;
	return total > d ? d + ((total - d) & ~0xffffffffULL) : d;
}

/* Data bytes sent once: bytes_sent and bytes_retrans (4.19) leave out SYN and FIN. */
static __always_inline __u64 tx_bytes(struct tcp_sock *tp)
{
	if (bpf_core_field_exists(tp->bytes_sent) && bpf_core_field_exists(tp->bytes_retrans))
		return BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
	return BPF_CORE_READ(tp, bytes_acked);
}

static __always_inline void on_close(__u64 sk, struct rl_conn *c, struct sock *s)
{
	struct tcp_sock *tp = (struct tcp_sock *)s;
	struct rl_tcp_stats *st;
	__u64 now = bpf_ktime_get_ns();

	if (c->state == RL_CONN_OPEN) {
		hist(&c->svc, RL_TCP_HIST_CONN_DURATION, now - c->ts_open);
		st = stats_of(&c->svc);
		if (st) {
			__sync_fetch_and_add(&st->closed, 1);
			__sync_fetch_and_add(&st->rx_bytes, rx_bytes(tp, c));
			__sync_fetch_and_add(&st->tx_bytes, tx_bytes(tp));
		}
	} else if (c->state == RL_CONN_CONNECTING) {
		st = stats_of(&c->svc);
		if (st)
			__sync_fetch_and_add(&st->connect_errors, 1);
	}
	if (keep_until_destroy && c->state != RL_CONN_QUEUED) {
		c->state = RL_CONN_CLOSED;
		return;
	}
	/*
	 * Without tcp_destroy_sock, whichever close handler runs last deletes.
	 * Both run one after the other for the same event on this CPU.
	 */
	c->state = RL_CONN_CLOSED;
	c->closed_by |= RL_CLOSED_BY_TCP;
	if (req_tracking && !(c->closed_by & RL_CLOSED_BY_REQ))
		return;
	bpf_map_delete_elem(&conns, &sk);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rl_tcp_state, struct sock *s, int old, int new)
{
	__u64 sk = (__u64)s, id;
	struct rl_conn *c, nc = {};
	__u16 family;

	if (!rl_sk_is_tcp(s))
		return 0;

	if (new == RL_TCP_ESTABLISHED && old == RL_TCP_SYN_RECV) {
		/* Softirq context: the owner is unknown until accept(). */
		nc.ts_handshake = bpf_ktime_get_ns();
		nc.state = RL_CONN_QUEUED;
		conn_put(sk, &nc);
		return 0;
	}
	if (new == RL_TCP_SYN_SENT) {
		/* connect() runs in the caller's context: it owns the socket. */
		id = bpf_get_current_pid_tgid();
		rl_current_svc(&nc.svc, bpf_ntohs(s->__sk_common.skc_dport), RL_DIR_OUTBOUND);
		if (!rl_watched(&nc.svc, id >> 32))
			return 0;
		mark_service(id >> 32);
		nc.ts_open = bpf_ktime_get_ns();
		nc.state = RL_CONN_CONNECTING;
		family = s->__sk_common.skc_family;
		nc.family = family;
		if (family == AF_INET)
			nc.peer_addr[0] = s->__sk_common.skc_daddr;
		else
			bpf_probe_read_kernel(nc.peer_addr, 16, &s->__sk_common.skc_v6_daddr);
		conn_put(sk, &nc);
		return 0;
	}

	c = bpf_map_lookup_elem(&conns, &sk);
	if (!c)
		return 0;
	if (new == RL_TCP_ESTABLISHED && c->state == RL_CONN_CONNECTING) {
		struct rl_tcp_stats *st = stats_of(&c->svc);

		c->state = RL_CONN_OPEN;
		c->copied_seq0 = BPF_CORE_READ((struct tcp_sock *)s, copied_seq);
		if (st)
			__sync_fetch_and_add(&st->opened, 1);
	} else if (new == RL_TCP_CLOSE_WAIT || new == RL_TCP_CLOSING) {
		c->fin_received = 1;
	} else if (new == RL_TCP_CLOSE && c->state != RL_CONN_CLOSED) {
		on_close(sk, c, s);
	}
	return 0;
}

static __always_inline int on_accept(long fd)
{
	__u64 sk = sock_of_fd(fd), id;
	struct rl_tcp_stats *st;
	struct rl_conn *c;
	__u16 port;

	if (!sk)
		return 0;
	/* Only sockets queued by a handshake are in the map in this state. */
	c = bpf_map_lookup_elem(&conns, &sk);
	if (!c || c->state != RL_CONN_QUEUED)
		return 0;
	id = bpf_get_current_pid_tgid();
	port = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_num);
	rl_current_svc(&c->svc, port, RL_DIR_INBOUND);
	if (!rl_watched(&c->svc, id >> 32)) {
		bpf_map_delete_elem(&conns, &sk);
		return 0;
	}
	mark_service(id >> 32);
	c->ts_open = bpf_ktime_get_ns();
	c->state = RL_CONN_OPEN;
	/* Data read before accept() returned (none: it was queued) starts here. */
	c->copied_seq0 = BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);
	hist(&c->svc, RL_TCP_HIST_ACCEPT_QUEUE, c->ts_open - c->ts_handshake);
	st = stats_of(&c->svc);
	if (st)
		__sync_fetch_and_add(&st->opened, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int rl_accept4_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int rl_accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept(ctx->ret);
}

static __always_inline void count_on(const void *skaddr, bool reset, bool sent)
{
	__u64 sk = (__u64)skaddr;
	struct rl_tcp_stats *st;
	struct rl_conn *c;

	c = bpf_map_lookup_elem(&conns, &sk);
	if (!c || c->state == RL_CONN_QUEUED || (c->state == RL_CONN_CONNECTING && !reset))
		return;
	st = stats_of(&c->svc);
	if (!st)
		return;
	if (!reset)
		__sync_fetch_and_add(&st->retransmits, 1);
	else if (sent)
		__sync_fetch_and_add(&st->resets_sent, 1);
	else
		__sync_fetch_and_add(&st->resets_received, 1);
}

/* The socket is each tcp:* tracepoint's first argument (tcp_send_reset's may be NULL). */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(rl_tcp_retrans, struct sock *s)
{
	count_on(s, false, false);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(rl_tcp_rst_rx, struct sock *s)
{
	count_on(s, true, false);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(rl_tcp_rst_tx, struct sock *s)
{
	count_on(s, true, true);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(rl_tcp_destroy, struct sock *s)
{
	__u64 sk = (__u64)s;
	struct rl_conn *c;

	/* bpf/req.bpf.c ends the socket's last request here too: the last one deletes. */
	if (req_tracking) {
		c = bpf_map_lookup_elem(&conns, &sk);
		if (!c)
			return 0;
		c->closed_by |= RL_DESTROYED_BY_TCP;
		if (!(c->closed_by & RL_DESTROYED_BY_REQ))
			return 0;
	}
	bpf_map_delete_elem(&conns, &sk);
	return 0;
}
