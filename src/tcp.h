/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The TCP family: bpf/tcp.bpf.c loaded and attached, its maps collected. */
#ifndef RL_TCP_H
#define RL_TCP_H

#include "cli.h"
#include "registry.h"

struct rl_tcp;

/* Opens, configures, loads and attaches. 0 or -errno (already logged). */
int rl_tcp_start(const struct rl_config *cfg, struct rl_tcp **out);
void rl_tcp_stop(struct rl_tcp *t);	/* NULL-safe: detaches everything */
int rl_tcp_collect(struct rl_tcp *t, struct rl_registry *r);

#endif
