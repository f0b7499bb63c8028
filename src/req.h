/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The request family: bpf/req.bpf.c frames request/response exchanges on
 * the connections the TCP family tracks; HTTP exchanges come up as events
 * and are aggregated here by route.
 */
#ifndef RL_REQ_H
#define RL_REQ_H

#include "cli.h"
#include "registry.h"

struct rl_req;

/*
 * Loads and attaches in cfg->req_mode (auto: sock, else syscall), sharing
 * the TCP family's connection map and, when threads_fd >= 0, the scheduler
 * family's per-thread totals (which split each request's time). 0 or
 * -errno (logged).
 */
int rl_req_start(const struct rl_config *cfg, int conns_fd, int threads_fd, struct rl_req **out);
void rl_req_stop(struct rl_req *q);	/* NULL-safe */
const char *rl_req_mode_name(const struct rl_req *q);
/* Per-thread function state (rl_func_thread), whose serving this keeps: bpf/func.bpf.c shares it. */
int rl_req_fthreads_fd(const struct rl_req *q);
int rl_req_collect(struct rl_req *q, struct rl_registry *r);

#endif
