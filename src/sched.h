/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The resource family: bpf/sched.bpf.c's CPU, run-queue and blocked time
 * per service, and the services' memory and threads from /proc.
 */
#ifndef RL_SCHED_H
#define RL_SCHED_H

#include "cli.h"
#include "registry.h"
#include "reqlens/sched.h"

struct rl_sched;

/* Shares the TCP family's services map. 0 or -errno (logged). */
int rl_sched_start(const struct rl_config *cfg, int services_fd, struct rl_sched **out);
void rl_sched_stop(struct rl_sched *s);	/* NULL-safe */
/* Per-thread totals that bpf/req.bpf.c reads to split a request's time. */
int rl_sched_threads_fd(const struct rl_sched *s);
int rl_sched_collect(struct rl_sched *s, struct rl_registry *r);

/* out = the sum of ncpu per-CPU copies of a service's counters (sched_stats). */
void rl_sched_stats_sum(const struct rl_sched_stats *percpu, int ncpu, struct rl_sched_stats *out);

#endif
