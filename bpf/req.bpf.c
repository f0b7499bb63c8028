// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Request/response framing on the connections bpf/tcp.bpf.c tracks (their
 * state map is shared). Two ways to see the traffic, chosen by the daemon:
 *
 * - sock (Linux 6.3+): sock:sock_recv_length and sock:sock_send_length fire
 *   once per recv/send with the socket and the byte count, sock:sk_data_ready
 *   when data arrives; the user buffer (for HTTP's first bytes) comes from
 *   the syscall's saved registers.
 * - syscall (older kernels): the read/write/recv/send syscall entries note
 *   the fd and buffer, their exits find the socket from the fd; arrivals
 *   come from tcp:tcp_probe.
 *
 * Protocols other than HTTP are aggregated here; an HTTP exchange goes to
 * user space as one event, because routes are normalised there.
 */
#include "common.bpf.h"
#include "conns.bpf.h"
#include <bpf/bpf_tracing.h>
#include "reqlens/func.h"
#include "reqlens/req.h"
#include "reqlens/sched.h"
#include "thread.bpf.h"
#include "reqlens/tcp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define RL_TCP_CLOSE 7

const volatile bool keep_until_destroy = false;
/* bpf/sched.bpf.c runs and shares its per-thread totals (threads). */
const volatile bool split = false;

/* The connection whose request each thread read last (its rl_func_thread's
 * serving): bpf/func.bpf.c adds probed handler time to it. Only kept while
 * functions are probed. */
const volatile bool track_serving = false;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct rl_func_thread);
} fthreads SEC(".maps");


/* Kernel-aggregated histograms: series by labels (see struct rl_req_hist_key), then buckets. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_REQ_MAX_SERIES);
	__type(key, struct rl_req_hist_key);
	__type(value, __u32);
} req_series SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct rl_req_cell_key);
	__type(value, struct rl_hist_cell);
} req_hists SEC(".maps");

/* The next series id to hand out: 0 stays free, for "none yet" in the memos. */
__u64 next_series = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct rl_svc_key);
	__type(value, __u64);
} req_aborted SEC(".maps");

/* Filled by user space: see struct rl_route_key. LRU: an evicted target comes back as an event. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rl_route_key);
	__type(value, __u32);
} routes SEC(".maps");

#define RL_RB_BYTES (1 << 22)
#define RL_RB_WAKEUP_BYTES (RL_RB_BYTES / 4)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RL_RB_BYTES);
} req_events SEC(".maps");

enum buf_kind { BUF_NONE = 0, BUF_PLAIN, BUF_IOV, BUF_MSG };

/* The current syscall's user buffer, per thread. */
struct sysbuf {
	__u64 buf;
	__s64 fd;
	__u32 kind;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sysbuf);
} sysbufs SEC(".maps");

/*
 * Sock mode reads the buffer of the syscall in progress from the user
 * registers saved at its entry (bpf_task_pt_regs, 5.15+), so it needs no
 * hook on every read and write of the host. The syscall numbers are the
 * architecture's ABI, not the kernel version's.
 */
#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define SYSCALL_ARG2(regs) ((regs)->si)
#elif defined(__TARGET_ARCH_arm64)
#define NR_read 63
#define NR_write 64
#define NR_readv 65
#define NR_writev 66
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define SYSCALL_ARG2(regs) ((regs)->regs[1])
#else
#error "add this architecture's syscall numbers"
#endif

/*
 * The current syscall's buffer, from its saved registers; false if none.
 * bpf_task_pt_regs gives a BTF pointer: its fields are plain loads, no
 * helper call each.
 */
static __always_inline bool current_buf(struct sysbuf *b)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	long nr = SYSCALL_NR(regs);

	if (nr == NR_read || nr == NR_write || nr == NR_recvfrom || nr == NR_sendto)
		b->kind = BUF_PLAIN;
	else if (nr == NR_readv || nr == NR_writev)
		b->kind = BUF_IOV;
	else if (nr == NR_recvmsg || nr == NR_sendmsg)
		b->kind = BUF_MSG;
	else
		return false;	/* io_uring, splice, sendfile...: no user buffer */
	b->buf = SYSCALL_ARG2(regs);
	return true;
}

struct rl_iovec {
	__u64 base;
	__u64 len;
};

/* The user address and length of the first bytes a syscall moved. */
static __always_inline __u64 first_bytes(const struct sysbuf *b, __u64 *len)
{
	struct user_msghdr msg;
	struct rl_iovec iov;
	__u64 iovp;

	if (b->kind == BUF_PLAIN)
		return b->buf;
	iovp = b->buf;
	if (b->kind == BUF_MSG) {
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)b->buf))
			return 0;
		iovp = (__u64)msg.msg_iov;
	}
	if (b->kind != BUF_IOV && b->kind != BUF_MSG)
		return 0;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)iovp))
		return 0;
	if (iov.len < *len)
		*len = iov.len;
	return iov.base;
}

static __always_inline bool is_http_request(const char *h)
{
	/* Little-endian words of "GET ", "POST", "PUT ", "HEAD", "DELE", "PATC", "OPTI". */
	__u32 w = *(const __u32 *)h;

	return w == 0x20544547 || w == 0x54534f50 || w == 0x20545550 || w == 0x44414548 ||
	       w == 0x454c4544 || w == 0x43544150 || w == 0x4954504f;
}

#define W(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

/* The method of a request line and the offset of its target, or RL_METHOD_OTHER. */
static __always_inline __u8 http_method(const char *h, __u32 *target)
{
	__u32 w = *(const __u32 *)h, w2 = *(const __u32 *)(h + 4);

	*target = 4;
	if (w == W('G', 'E', 'T', ' '))
		return RL_METHOD_GET;
	if (w == W('P', 'U', 'T', ' '))
		return RL_METHOD_PUT;
	*target = 5;
	if (w == W('P', 'O', 'S', 'T') && h[4] == ' ')
		return RL_METHOD_POST;
	if (w == W('H', 'E', 'A', 'D') && h[4] == ' ')
		return RL_METHOD_HEAD;
	*target = 6;
	if (w == W('P', 'A', 'T', 'C') && h[4] == 'H' && h[5] == ' ')
		return RL_METHOD_PATCH;
	if (w == W('T', 'R', 'A', 'C') && h[4] == 'E' && h[5] == ' ')
		return RL_METHOD_TRACE;
	*target = 7;
	if (w == W('D', 'E', 'L', 'E') && h[4] == 'T' && h[5] == 'E' && h[6] == ' ')
		return RL_METHOD_DELETE;
	*target = 8;
	if (w == W('O', 'P', 'T', 'I') && w2 == W('O', 'N', 'S', ' '))
		return RL_METHOD_OPTIONS;
	if (w == W('C', 'O', 'N', 'N') && w2 == W('E', 'C', 'T', ' '))
		return RL_METHOD_CONNECT;
	return RL_METHOD_OTHER;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/*
 * The request line of r's head, checked as src/http1.c checks it (a known
 * method, a target ended by a space, " HTTP/1."): r->method, and the hash of
 * the target up to its query or fragment, which is all its route depends
 * on. r->line_ok says whether both hold; an unparsed line goes to user space.
 */
static __always_inline void http_line(struct rl_req_state *r)
{
	const char *h = r->head;
	__u32 len = r->head_len, t = 0, i, end = 0;
	__u64 hash = FNV_OFFSET;
	bool path = true;

	r->line_ok = 0;
	r->method = len >= 8 ? http_method(h, &t) : RL_METHOD_OTHER;
	if (r->method == RL_METHOD_OTHER)
		return;
	for (i = 0; i < RL_REQ_HEAD_LEN; i++) {
		char ch;

		if (i < t)
			continue;
		if (i >= len)
			return;
		ch = h[i];
		if (ch == ' ') {
			end = i;
			break;
		}
		if (ch == '\n')
			return;
		if (ch == '?' || ch == '#')
			path = false;
		if (path)
			hash = (hash ^ (__u8)ch) * FNV_PRIME;
	}
	/* An empty target, or no room for the version: not a request line. */
	if (!end || end == t || end + 8 > len)
		return;
	end &= RL_REQ_HEAD_LEN - 1;
	if (h[end] != ' ' || h[(end + 1) & (RL_REQ_HEAD_LEN - 1)] != 'H' ||
	    h[(end + 2) & (RL_REQ_HEAD_LEN - 1)] != 'T' || h[(end + 3) & (RL_REQ_HEAD_LEN - 1)] != 'T' ||
	    h[(end + 4) & (RL_REQ_HEAD_LEN - 1)] != 'P' || h[(end + 5) & (RL_REQ_HEAD_LEN - 1)] != '/' ||
	    h[(end + 6) & (RL_REQ_HEAD_LEN - 1)] != '1' || h[(end + 7) & (RL_REQ_HEAD_LEN - 1)] != '.')
		return;
	r->path_hash = hash;
	r->line_ok = 1;
}

/* The protocol, from the first request of a connection (at least 4 bytes). */
static __always_inline __u16 proto_of(const char *h)
{
	__u32 w = *(const __u32 *)(h + 4);

	if (is_http_request(h))
		return RL_PROTO_HTTP1;
	/* RESP: a command is an array, "*<count>\r\n". */
	if (h[0] == '*' && h[1] >= '1' && h[1] <= '9')
		return RL_PROTO_REDIS;
	/* PostgreSQL's startup: length, then protocol 3.0 or the SSL/GSS request code. */
	if (w == 0x00000300 || w == 0x2f16d204 || w == 0x3016d204)
		return RL_PROTO_POSTGRES;
	return RL_PROTO_OTHER;
}

/* The status of "HTTP/1.x NNN", or 0. */
static __always_inline __u16 http_status(const char *h)
{
	if (h[0] != 'H' || h[1] != 'T' || h[2] != 'T' || h[3] != 'P' || h[4] != '/' || h[8] != ' ')
		return 0;
	if (h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' || h[11] < '0' || h[11] > '9')
		return 0;
	return (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
}

/* The status line of a response's first bytes at ptr, or 0. */
static __always_inline __u16 read_status(__u64 ptr, __u64 len)
{
	char h[12];

	if (!ptr || len < sizeof(h) || bpf_probe_read_user(h, sizeof(h), (void *)ptr))
		return 0;
	return http_status(h);
}

/* The current thread's totals now; false when the scheduler hooks do not know it. */
static __always_inline bool thread_totals(__u64 now, __u64 *cpu, __u64 *runq, __u64 *blocked)
{
	struct rl_thread *th;

	if (!split)
		return false;
	/* The thread is running now: a state created here counts its CPU from now. */
	th = rl_thread_of(bpf_get_current_task_btf(), now);
	if (!th)
		return false;
	/* It is running: add the stretch since it was switched in. */
	*cpu = th->cpu_ns + (th->ts_oncpu && now > th->ts_oncpu ? now - th->ts_oncpu : 0);
	*runq = th->runq_ns;
	*blocked = th->blocked_ns;
	return true;
}

/* The labels of c's observations of histogram hist (route: the HTTP route's id, or 0). */
static __always_inline void series_key(const struct rl_conn *c, __u16 hist, __u32 route,
				       struct rl_req_hist_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->svc = c->svc;
	k->hist = hist;
	k->proto = c->req.proto;
	if (hist == RL_REQ_HIST_CLIENT) {
		__builtin_memcpy(k->peer_addr, c->peer_addr, sizeof(k->peer_addr));
		k->family = c->family;
	}
	if (c->req.proto == RL_PROTO_HTTP1 && hist != RL_REQ_HIST_QUEUE) {
		if (hist != RL_REQ_HIST_HANDLER) {
			k->method = c->req.line_ok ? c->req.method : RL_METHOD_OTHER;
			k->status = c->req.status;
		}
		k->route = route;
	}
	/* The wait before a request is read has the same labels for every protocol. */
	if (hist == RL_REQ_HIST_QUEUE)
		k->proto = 0;
}

/* The id of series k (from 1), named on first use; 0 when the ids or the map ran out. */
static __noinline __u32 series_id(const struct rl_req_hist_key *k)
{
	__u32 id;

	if (rl_id_of(&req_series, k, &next_series, 1ULL << 32, &id))
		return id;
	rl_lost(RL_LOST_HIST_MAP_FULL);
	return 0;
}

/*
 * One observation of histogram hist. Its series is the connection's memo
 * while the labels that change between requests (route, method, status)
 * stay; the labels are only put together to name a new one.
 */
static __always_inline void record(struct rl_conn *c, __u16 hist, __u32 route, __u64 ns)
{
	struct rl_req_cell_key cell = {};
	struct rl_req_hist_key k;
	__u64 tag;

	if (hist >= RL_REQ_HIST_N)
		return;
	if (hist != RL_REQ_HIST_QUEUE) {
		tag = (__u64)route << 32 | (__u32)c->req.method << 24 | (__u32)c->req.line_ok << 16 |
		      c->req.status;
		if (tag != c->req.series_tag) {
			/* New labels: every memo but the queue wait's is stale. */
			for (__u32 i = 0; i < RL_REQ_HIST_N; i++)
				if (i != RL_REQ_HIST_QUEUE)
					c->req.series_id[i] = 0;
			c->req.series_tag = tag;
		}
	}
	cell.series = c->req.series_id[hist];
	if (!cell.series) {
		series_key(c, hist, route, &k);
		cell.series = series_id(&k);
		if (!cell.series)
			return;
		c->req.series_id[hist] = cell.series;
	}
	rl_hist_record_cell(&req_hists, &cell, &cell.bucket, ns);
}

/* The route id of an HTTP server request, from the cache; 0 when user space must decide. */
static __always_inline __u32 cached_route(struct rl_conn *c)
{
	struct rl_route_key rk = { .svc = c->svc, .path_hash = c->req.path_hash };
	struct rl_req_state *r = &c->req;
	__u32 *id;

	/* A pipelined request's line is not in the head's start: user space finds it. */
	if (!r->line_ok || r->pipelined)
		return 0;
	/* A route's id never changes meaning: the memo cannot go stale. */
	if (r->memo_route && r->memo_hash == r->path_hash)
		return r->memo_route;
	id = bpf_map_lookup_elem(&routes, &rk);
	if (!id)
		return 0;
	r->memo_hash = r->path_hash;
	r->memo_route = *id;
	return *id;
}

/* One request done: ts_start -> ts_last. */
static __always_inline void finish(struct rl_conn *c)
{
	struct rl_req_state *r = &c->req;
	__u64 dur = r->ts_last > r->ts_start ? r->ts_last - r->ts_start : 0;
	bool client = c->svc.dir == RL_DIR_OUTBOUND;
	struct rl_req_event *e;
	__u32 route = 0;

	/* HTTP clients need no route: the kernel aggregates them all. */
	if (r->proto == RL_PROTO_HTTP1 && !client)
		route = cached_route(c);
	if (r->proto != RL_PROTO_HTTP1 || client || route) {
		record(c, client ? RL_REQ_HIST_CLIENT : RL_REQ_HIST_DURATION, route, dur);
		if (client)
			return;
		if (r->handler_ns)
			record(c, RL_REQ_HIST_HANDLER, route, r->handler_ns);
		if (r->split_tid) {
			record(c, RL_REQ_HIST_CPU, route, r->cpu1 - r->cpu0);
			record(c, RL_REQ_HIST_RUNQ, route, r->runq1 - r->runq0);
			record(c, RL_REQ_HIST_BLOCKED, route, r->blocked1 - r->blocked0);
		}
		return;
	}
	e = bpf_ringbuf_reserve(&req_events, sizeof(*e), 0);
	if (!e) {
		rl_lost(RL_LOST_RINGBUF_FULL);
		return;
	}
	e->svc = c->svc;
	e->duration_ns = dur;
	e->queue_ns = r->queue_ns;
	__builtin_memcpy(e->peer_addr, c->peer_addr, sizeof(e->peer_addr));
	e->family = (__u8)c->family;
	e->status = r->status;
	e->has_split = r->split_tid != 0;
	e->handler_ns = r->handler_ns;
	e->cpu_ns = r->cpu1 - r->cpu0;
	e->runq_ns = r->runq1 - r->runq0;
	e->blocked_ns = r->blocked1 - r->blocked0;
	e->pipelined = r->pipelined;
	e->line_ok = r->line_ok && !r->pipelined;
	e->path_hash = r->path_hash;
	e->head_len = r->head_len;
	__builtin_memcpy(e->head, r->head, sizeof(e->head));
	/*
	 * A wakeup per event costs microseconds: user space drains the ring
	 * every 100 ms instead, and is woken only when the ring fills up.
	 */
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&req_events, BPF_RB_AVAIL_DATA) > RL_RB_WAKEUP_BYTES
				      ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* A request begins: its first bytes were read (server) or written (client). */
static __always_inline void begin(struct rl_conn *c, __u64 sk, __u64 now, struct sysbuf *b, long ret)
{
	struct rl_req_state *r = &c->req;
	__u64 len = ret, ptr = b ? first_bytes(b, &len) : 0;

	r->phase = RL_PHASE_REQUEST;
	r->ts_start = now;
	r->ts_last = now;
	r->status = 0;
	r->pipelined = 0;
	r->head_len = 0;
	r->handler_ns = 0;
	if (len > RL_REQ_HEAD_LEN)
		len = RL_REQ_HEAD_LEN;
	if (ptr && len >= 4 && !bpf_probe_read_user(r->head, len & (RL_REQ_HEAD_LEN * 2 - 1), (void *)ptr))
		r->head_len = len;
	if (r->proto == RL_PROTO_UNKNOWN)
		r->proto = r->head_len ? proto_of(r->head) : RL_PROTO_OTHER;
	if (r->proto == RL_PROTO_HTTP1)
		http_line(r);
	if (c->svc.dir == RL_DIR_INBOUND) {
		/* It could not be read before accept() gave the socket to the server. */
		__u64 from = r->ts_arrival > c->ts_open ? r->ts_arrival : c->ts_open;

		r->queue_ns = r->ts_arrival && now > from ? now - from : 0;
		if (track_serving) {
			struct rl_func_thread *t = bpf_task_storage_get(&fthreads, bpf_get_current_task_btf(), 0,
									BPF_LOCAL_STORAGE_GET_F_CREATE);

			if (t)
				t->serving = sk;
		}
		r->split_tid = 0;
		if (thread_totals(now, &r->cpu0, &r->runq0, &r->blocked0)) {
			r->split_tid = (__u32)bpf_get_current_pid_tgid();
			r->cpu1 = r->cpu0;
			r->runq1 = r->runq0;
			r->blocked1 = r->blocked0;
		}
		record(c, RL_REQ_HIST_QUEUE, 0, r->queue_ns);
	}
}

static __always_inline void on_read(__u64 sk, struct rl_conn *c, long ret, struct sysbuf *b)
{
	struct rl_req_state *r = &c->req;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u64 now = bpf_ktime_get_ns();

	if (c->svc.dir == RL_DIR_INBOUND) {
		if (r->phase == RL_PHASE_RESPONSE) {
			finish(c);
			r->phase = RL_PHASE_IDLE;
		}
		if (ret > 0 && r->phase == RL_PHASE_IDLE)
			begin(c, sk, now, b, ret);
		/* Bytes left unread (a pipelined request) keep their arrival time. */
		if (BPF_CORE_READ(tp, copied_seq) == BPF_CORE_READ(tp, rcv_nxt))
			r->ts_arrival = 0;
		return;
	}
	/* Client: a read is the response to what it wrote. */
	if (ret <= 0 || r->phase == RL_PHASE_IDLE)
		return;
	if (r->phase == RL_PHASE_REQUEST) {
		__u64 len = ret, ptr = b ? first_bytes(b, &len) : 0;

		r->phase = RL_PHASE_RESPONSE;
		if (r->proto == RL_PROTO_HTTP1)
			r->status = read_status(ptr, len);
	}
	r->ts_last = now;
}

static __always_inline void on_write(struct rl_conn *c, long ret, struct sysbuf *b)
{
	struct rl_req_state *r = &c->req;
	__u64 now = bpf_ktime_get_ns(), len = ret, ptr;

	if (ret <= 0)
		return;
	if (c->svc.dir == RL_DIR_OUTBOUND) {
		if (r->phase == RL_PHASE_RESPONSE) {
			finish(c);
			r->phase = RL_PHASE_IDLE;
		}
		if (r->phase == RL_PHASE_IDLE)
			begin(c, 0, now, b, ret);
		return;
	}
	/* Server: a write before any request (a greeting) answers nothing. */
	if (r->phase == RL_PHASE_IDLE)
		return;
	if (r->proto == RL_PROTO_HTTP1) {
		__u16 status;

		ptr = b ? first_bytes(b, &len) : 0;
		status = read_status(ptr, len);
		if (status && r->phase == RL_PHASE_RESPONSE) {
			/* A second response to one read: pipelined requests. */
			finish(c);
			r->pipelined++;
			/* The next one's share of the thread starts where this one's ended. */
			r->cpu0 = r->cpu1;
			r->runq0 = r->runq1;
			r->blocked0 = r->blocked1;
		}
		if (status)
			r->status = status;
	}
	r->phase = RL_PHASE_RESPONSE;
	r->ts_last = now;
	if (r->split_tid) {
		/* Another thread writes the response: the reader's times would not tell. */
		if (r->split_tid != (__u32)bpf_get_current_pid_tgid() ||
		    !thread_totals(now, &r->cpu1, &r->runq1, &r->blocked1))
			r->split_tid = 0;
	}
}

static __always_inline struct rl_conn *tracked(__u64 sk)
{
	struct rl_conn *c = bpf_map_lookup_elem(&conns, &sk);

	return c && c->state == RL_CONN_OPEN ? c : NULL;
}

/*
 * A send's socket: open, or closed by a reset that arrived during this very
 * send (kept until destroyed), whose bytes still answer the request.
 */
static __always_inline struct rl_conn *sending(__u64 sk)
{
	struct rl_conn *c = bpf_map_lookup_elem(&conns, &sk);

	if (!c)
		return NULL;
	if (c->state == RL_CONN_OPEN || (keep_until_destroy && c->state == RL_CONN_CLOSED))
		return c;
	return NULL;
}

/* Takes the thread's remembered buffer: it belongs to this syscall only. */
static __always_inline struct sysbuf *take_buf(void)
{
	struct sysbuf *b = bpf_task_storage_get(&sysbufs, bpf_get_current_task_btf(), 0, 0);

	if (!b || b->kind == BUF_NONE)
		return NULL;
	return b;
}

/* ---- sock mode ---------------------------------------------------------- */

/*
 * BTF tracepoints: the program gets the arguments as they are, where a
 * classic tracepoint first formats the whole event record for it, on every
 * recv and send of the host.
 */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(rl_sock_recv, struct sock *sk, int ret, int flags)
{
	struct sysbuf b;
	struct rl_conn *c;

	if (ret < 0 || (flags & MSG_PEEK) || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	c = tracked((__u64)sk);
	if (!c)
		return 0;
	on_read((__u64)sk, c, ret, current_buf(&b) ? &b : NULL);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(rl_sock_send, struct sock *sk, int ret, int flags)
{
	struct sysbuf b;
	struct rl_conn *c;

	if (ret <= 0 || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	c = sending((__u64)sk);
	if (!c)
		return 0;
	on_write(c, ret, current_buf(&b) ? &b : NULL);
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(rl_data_ready, struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct rl_conn *c;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	c = bpf_map_lookup_elem(&conns, &key);
	if (c && c->svc.dir == RL_DIR_INBOUND && !c->req.ts_arrival)
		c->req.ts_arrival = bpf_ktime_get_ns();
	return 0;
}

/* ---- syscall mode ------------------------------------------------------- */

static __always_inline int remember(__s64 fd, __u64 buf, __u32 kind)
{
	struct sysbuf *b = bpf_task_storage_get(&sysbufs, bpf_get_current_task_btf(), 0,
						BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (b) {
		b->fd = fd;
		b->buf = buf;
		b->kind = kind;
	}
	return 0;
}

#define ENTER(name, kind)                                                       \
	SEC("tracepoint/syscalls/sys_enter_" #name)                             \
	int rl_enter_##name(struct trace_event_raw_sys_enter *ctx)              \
	{                                                                       \
		return remember((__s64)ctx->args[0], ctx->args[1], kind);       \
	}

ENTER(read, BUF_PLAIN)
ENTER(write, BUF_PLAIN)
ENTER(recvfrom, BUF_PLAIN)
ENTER(sendto, BUF_PLAIN)
ENTER(readv, BUF_IOV)
ENTER(writev, BUF_IOV)
ENTER(recvmsg, BUF_MSG)
ENTER(sendmsg, BUF_MSG)

static __always_inline int on_exit(long ret, bool is_read)
{
	struct sysbuf *b = take_buf(), copy;
	struct rl_conn *c;
	__u64 sk;

	if (!b)
		return 0;
	copy = *b;
	b->kind = BUF_NONE;
	if (ret < 0 || (!is_read && ret == 0))
		return 0;
	sk = sock_of_fd(copy.fd);
	c = !sk ? NULL : is_read ? tracked(sk) : sending(sk);
	if (!c)
		return 0;
	if (is_read)
		on_read(sk, c, ret, &copy);
	else
		on_write(c, ret, &copy);
	return 0;
}

#define EXIT(name, is_read)                                                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)                              \
	int rl_exit_##name(struct trace_event_raw_sys_exit *ctx)                \
	{                                                                       \
		return on_exit(ctx->ret, is_read);                              \
	}

EXIT(read, true)
EXIT(write, false)
EXIT(recvfrom, true)
EXIT(sendto, false)
EXIT(readv, true)
EXIT(writev, false)
EXIT(recvmsg, true)
EXIT(sendmsg, false)

/* Arrivals in syscall mode: every segment the established path receives. */
SEC("raw_tp/tcp_probe")
int rl_tcp_probe(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 sk = ctx->args[0];
	struct sk_buff *skb = (struct sk_buff *)ctx->args[1];
	unsigned char *data;
	struct rl_conn *c;
	__u8 doff;

	c = bpf_map_lookup_elem(&conns, &sk);
	if (!c || c->svc.dir != RL_DIR_INBOUND || c->req.ts_arrival)
		return 0;
	/* skb->data is the TCP header here: data only if longer than it. */
	data = BPF_CORE_READ(skb, data);
	if (bpf_probe_read_kernel(&doff, 1, data + 12))
		return 0;
	if (BPF_CORE_READ(skb, len) > (__u32)(doff >> 4) * 4)
		c->req.ts_arrival = bpf_ktime_get_ns();
	return 0;
}

/* ---- close and destruction: both modes ----------------------------------- */

/* A request the socket's end cut short, or its response if one was written. */
static __always_inline void end_request(struct rl_conn *c)
{
	if (c->req.phase == RL_PHASE_RESPONSE)
		finish(c);
	else if (c->req.phase == RL_PHASE_REQUEST)
		rl_count(&req_aborted, &c->svc, 1, RL_LOST_STATS_MAP_FULL);
	c->req.phase = RL_PHASE_IDLE;
}

/* BTF tracepoints, as in bpf/tcp.bpf.c: no grace period to wait for at detach. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rl_req_close, struct sock *s, int old, int new)
{
	__u64 sk = (__u64)s;
	struct rl_conn *c;

	if (new != RL_TCP_CLOSE || !rl_sk_is_tcp(s))
		return 0;
	c = bpf_map_lookup_elem(&conns, &sk);
	if (!c)
		return 0;
	if (keep_until_destroy) {
		/*
		 * A request without a response yet is not aborted at CLOSE: when a
		 * client resets a connection on loopback, the RST is processed
		 * inside the server's own send, before that send is traced. The
		 * send still ends the request (see sending()); destruction
		 * decides the rest.
		 */
		if (c->req.phase == RL_PHASE_RESPONSE) {
			finish(c);
			c->req.phase = RL_PHASE_IDLE;
		}
		return 0;
	}
	end_request(c);
	c->closed_by |= RL_CLOSED_BY_REQ;
	if (c->closed_by & RL_CLOSED_BY_TCP)
		bpf_map_delete_elem(&conns, &sk);
	return 0;
}

/* Attached only with keep_until_destroy (tcp:tcp_destroy_sock exists). */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(rl_req_destroy, struct sock *s)
{
	__u64 sk = (__u64)s;
	struct rl_conn *c;

	c = bpf_map_lookup_elem(&conns, &sk);
	if (!c)
		return 0;
	end_request(c);
	c->closed_by |= RL_DESTROYED_BY_REQ;
	if (c->closed_by & RL_DESTROYED_BY_TCP)
		bpf_map_delete_elem(&conns, &sk);
	return 0;
}
