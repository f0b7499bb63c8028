/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The TCP family: bpf/tcp.bpf.c loaded and attached, its maps collected. */
#ifndef RL_TCP_H
#define RL_TCP_H

#include <stdbool.h>
#include "cli.h"
#include "registry.h"

struct rl_tcp;

/*
 * Opens, configures, loads and attaches. With req_tracking, the request
 * family shares the connection map and its close handler: see closed_by.
 * 0 or -errno (already logged).
 */
int rl_tcp_start(const struct rl_config *cfg, bool req_tracking, struct rl_tcp **out);
/* The per-connection state map, which bpf/req.bpf.c shares. */
int rl_tcp_conns_fd(const struct rl_tcp *t);
/* The processes seen accepting or connecting, which bpf/sched.bpf.c shares. */
int rl_tcp_services_fd(const struct rl_tcp *t);
void rl_tcp_stop(struct rl_tcp *t);	/* NULL-safe: detaches everything */
int rl_tcp_collect(struct rl_tcp *t, struct rl_registry *r);

#endif
