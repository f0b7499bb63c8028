/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every BPF family does the same way around its skeleton: skip the
 * programs whose tracepoint this kernel lacks, fill the filter maps, explain
 * a refused load, and export its own health (dropped events, run time).
 */
#ifndef RL_BPFOBJ_H
#define RL_BPFOBJ_H

#include <bpf/libbpf.h>
#include <stdbool.h>
#include "cli.h"
#include "registry.h"

/* Where tracefs is (the agent's pre-flight checks find or mount it). */
void rl_set_tracefs(const char *dir);
bool rl_tracepoint_exists(const char *category, const char *name);

/*
 * Before load: turns off autoload for every tracepoint program (classic or
 * BTF) still to load whose tracepoint is absent. -ENOENT (logged) when one
 * of them is not in optional (a NULL-terminated list of program names).
 */
int rl_bpfobj_prune(struct bpf_object *obj, const char *const *optional);

/* After load: fills filter_pids/filter_comms/filter_ports from cfg. */
int rl_bpfobj_fill_filters(struct bpf_object *obj, const struct rl_config *cfg);

/* Tells the collectors that the agent itself turned BPF statistics on. */
void rl_bpfobj_stats_on(bool on);

/*
 * Destroys every link of a skeleton at once. Each detach waits for an RCU
 * grace period (~70 ms here); one thread per link overlaps them, so that
 * the agent stops within a second however many programs it attached.
 */
void rl_bpfobj_detach_all(struct bpf_object_skeleton *s);
/* The same for links attached by hand; the array's entries become NULL. */
void rl_links_destroy(struct bpf_link **links, size_t n);

/* Logs a failed load or attach with the verifier's last lines. */
void rl_bpfobj_explain(const char *what, int err);

/*
 * Adds reqlens_events_lost_total{reason} from the object's `lost` map and,
 * when the kernel keeps them, reqlens_bpf_program_run{s,_seconds}_total.
 */
int rl_bpfobj_collect_self(struct bpf_object *obj, struct rl_registry *r);

#endif
