/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The per-connection state map, owned by tcp.bpf.c and shared (the daemon
 * reuses its fd) by req.bpf.c and func.bpf.c: one definition for all.
 * Allocated on use: an entry carries the request framing state too.
 */
#ifndef REQLENS_CONNS_BPF_H
#define REQLENS_CONNS_BPF_H

#include "reqlens/tcp.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct rl_conn);
} conns SEC(".maps");

/*
 * Whether a socket is TCP, for the state-change tracepoint that other
 * protocols fire too. sk_protocol was a bitfield before Linux 5.6: read it
 * in a way that relocates either way (state changes are rare enough).
 */
static __always_inline bool rl_sk_is_tcp(struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == 6 /* IPPROTO_TCP */;
}

#endif
