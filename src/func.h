/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The function family: --uprobe and --usdt probes resolved, attached to
 * every process that runs the binary (now, later, in other mount
 * namespaces), followed when the binary is replaced, and collected.
 */
#ifndef RL_FUNC_H
#define RL_FUNC_H

#include "cli.h"
#include "registry.h"

struct rl_func;

/*
 * Resolves and attaches every probe of cfg. fthreads_fd >= 0
 * (rl_req_fthreads_fd) attributes handler time to the requests
 * bpf/req.bpf.c tracks. 0 or -errno, with one clear line logged (a missing binary, symbol or probe is named, with close
 * matches).
 */
int rl_func_start(const struct rl_config *cfg, int conns_fd, int fthreads_fd, struct rl_func **out);
void rl_func_stop(struct rl_func *f);	/* NULL-safe */
int rl_func_collect(struct rl_func *f, struct rl_registry *r);

#endif
