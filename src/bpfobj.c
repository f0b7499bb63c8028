// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpfobj.h"
#include "log.h"
#include "reqlens/common.h"

static char tracefs[128] = "/sys/kernel/tracing";

void rl_set_tracefs(const char *dir)
{
	snprintf(tracefs, sizeof(tracefs), "%s", dir);
}

bool rl_tracepoint_exists(const char *category, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/events/%s/%s", tracefs, category, name);
	return access(path, F_OK) == 0;
}

/* A BTF tracepoint's section names no category: any will do (names are unique). */
static bool tracepoint_named(const char *name)
{
	char pattern[512];
	glob_t g;
	bool found;

	snprintf(pattern, sizeof(pattern), "%s/events/*/%s", tracefs, name);
	found = glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0;
	globfree(&g);
	return found;
}

static bool listed(const char *name, const char *const *list)
{
	for (; list && *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

int rl_bpfobj_prune(struct bpf_object *obj, const char *const *optional)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		char cat[64], name[128], what[200];
		bool found;

		/* Left out already (the other request-tracking mode's): not needed. */
		if (!bpf_program__autoload(prog))
			continue;
		if (sscanf(sec, "tracepoint/%63[^/]/%127s", cat, name) == 2) {
			found = rl_tracepoint_exists(cat, name);
			snprintf(what, sizeof(what), "%s:%s", cat, name);
		} else if (sscanf(sec, "tp_btf/%127s", name) == 1) {
			found = tracepoint_named(name);
			snprintf(what, sizeof(what), "%s", name);
		} else {
			continue;
		}
		if (found)
			continue;
		if (!listed(bpf_program__name(prog), optional)) {
			rl_error("this kernel has no %s tracepoint, which reqlens needs", what);
			return -ENOENT;
		}
		rl_debug("no %s tracepoint here: %s stays off", what, bpf_program__name(prog));
		bpf_program__set_autoload(prog, false);
	}
	return 0;
}

static int fill(struct bpf_object *obj, const char *map_name, const void *keys, size_t key_size,
		unsigned n)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, map_name);
	__u8 one = 1;

	if (!map)
		return n ? -ENOENT : 0;
	for (unsigned i = 0; i < n; i++) {
		const void *key = (const char *)keys + i * key_size;

		if (bpf_map__update_elem(map, key, key_size, &one, sizeof(one), BPF_ANY))
			return -errno;
	}
	return 0;
}

int rl_bpfobj_fill_filters(struct bpf_object *obj, const struct rl_config *cfg)
{
	int err;

	err = fill(obj, "filter_pids", cfg->pids, sizeof(cfg->pids[0]), cfg->npids);
	if (!err)
		err = fill(obj, "filter_comms", cfg->comms, sizeof(cfg->comms[0]), cfg->ncomms);
	if (!err)
		err = fill(obj, "filter_ports", cfg->ports, sizeof(cfg->ports[0]), cfg->nports);
	return err;
}

void rl_bpfobj_explain(const char *what, int err)
{
	char tail[1024];

	rl_log_libbpf_tail(tail, sizeof(tail), 4);
	/* EPERM is a missing privilege; EACCES and EINVAL are the verifier's. */
	if (err == -EPERM)
		rl_error("%s: the kernel refused (%s): run as root or with CAP_BPF and CAP_PERFMON; "
			 "libbpf said: %s", what, strerror(-err), tail);
	else
		rl_error("%s failed (%s); the last lines from libbpf and the verifier: %s", what, strerror(-err), tail);
}

static const char *const lost_reasons[RL_LOST_NREASONS] = {
	[RL_LOST_CONN_MAP_FULL] = "conn_map_full",
	[RL_LOST_HIST_MAP_FULL] = "hist_map_full",
	[RL_LOST_STATS_MAP_FULL] = "stats_map_full",
	[RL_LOST_RINGBUF_FULL] = "ringbuf_full",
};

static int collect_lost(struct bpf_object *obj, struct rl_registry *r)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "lost");
	int ncpu = libbpf_num_possible_cpus();
	struct rl_family *f;
	__u64 *vals;

	f = rl_family_get(r, "reqlens_events_lost_total",
			  "Events the agent could not record, by reason; nothing is dropped silently.",
			  RL_COUNTER);
	if (!f)
		return -ENOMEM;
	if (!map || ncpu <= 0)
		return 0;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 reason = 0; reason < RL_LOST_NREASONS; reason++) {
		const char *kv[] = { "reason", lost_reasons[reason], NULL };
		struct rl_sample *s = rl_sample_get(f, kv);
		__u64 sum = 0;

		if (!s)
			break;
		if (!bpf_map__lookup_elem(map, &reason, sizeof(reason), vals,
					  sizeof(*vals) * (size_t)ncpu, 0))
			for (int c = 0; c < ncpu; c++)
				sum += vals[c];
		s->value += (double)sum;
	}
	free(vals);
	return 0;
}

static atomic_bool our_stats;

void rl_bpfobj_stats_on(bool on)
{
	atomic_store(&our_stats, on);
}

/*
 * Whether the kernel counts BPF run time now: our --bpf.stats (an fd from
 * BPF_ENABLE_STATS, which the sysctl does not show), or the sysctl.
 */
static bool stats_enabled(void)
{
	FILE *f;
	int on = 0;

	if (atomic_load(&our_stats))
		return true;
	f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
	if (!f)
		return false;
	if (fscanf(f, "%d", &on) != 1)
		on = 0;
	fclose(f);
	return on > 0;
}

static int collect_runtime(struct bpf_object *obj, struct rl_registry *r)
{
	struct rl_family *secs, *runs;
	struct bpf_program *prog;

	if (!stats_enabled())
		return 0;

	secs = rl_family_get(r, "reqlens_bpf_program_run_seconds_total",
			     "Time the kernel spent in each BPF program (only while BPF statistics are on).",
			     RL_COUNTER);
	runs = rl_family_get(r, "reqlens_bpf_program_runs_total",
			     "Runs of each BPF program (only while BPF statistics are on).", RL_COUNTER);
	if (!secs || !runs)
		return -ENOMEM;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		const char *kv[] = { "program", bpf_program__name(prog), NULL };
		struct rl_sample *a, *b;
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		a = rl_sample_get(secs, kv);
		b = rl_sample_get(runs, kv);
		if (!a || !b)
			return -ENOMEM;
		a->value += (double)info.run_time_ns / 1e9;
		b->value += (double)info.run_cnt;
	}
	return 0;
}

/*
 * Runs the kernel skipped because another BPF program was running on that
 * CPU (a tracepoint program cannot nest in one): events that were never
 * seen, which no map can count. Kept whether statistics are on or not.
 */
static int collect_missed(struct bpf_object *obj, struct rl_registry *r)
{
	struct rl_family *f;
	struct bpf_program *prog;

	f = rl_family_get(r, "reqlens_bpf_program_missed_runs_total",
			  "Runs of each BPF program the kernel skipped because another BPF program was "
			  "running on the same CPU: events never seen.", RL_COUNTER);
	if (!f)
		return -ENOMEM;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		const char *kv[] = { "program", bpf_program__name(prog), NULL };
		struct rl_sample *s;
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		s = rl_sample_get(f, kv);
		if (!s)
			return -ENOMEM;
		s->value += (double)info.recursion_misses;
	}
	return 0;
}

int rl_bpfobj_collect_self(struct bpf_object *obj, struct rl_registry *r)
{
	int err = collect_lost(obj, r);

	if (!err)
		err = collect_missed(obj, r);
	return err ? err : collect_runtime(obj, r);
}

/* A thread's share of the links: every nth from its start. */
struct link_share {
	struct bpf_link **links;
	size_t n, start, step;
};

static void *destroy_share(void *arg)
{
	struct link_share *sh = arg;

	for (size_t i = sh->start; i < sh->n; i += sh->step) {
		bpf_link__destroy(sh->links[i]);
		sh->links[i] = NULL;
	}
	return NULL;
}

/*
 * Up to MAX_THREADS threads share the links, so that the grace periods each
 * detach waits for overlap; what a thread cannot be had for is done here.
 */
#define MAX_THREADS 32
void rl_links_destroy(struct bpf_link **links, size_t n)
{
	struct link_share sh[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	bool started[MAX_THREADS];
	size_t step = n < MAX_THREADS ? n : MAX_THREADS;

	for (size_t t = 0; t < step; t++) {
		sh[t] = (struct link_share){ .links = links, .n = n, .start = t, .step = step };
		started[t] = !pthread_create(&tids[t], NULL, destroy_share, &sh[t]);
		if (!started[t])
			destroy_share(&sh[t]);	/* no thread: the slow way */
	}
	for (size_t t = 0; t < step; t++)
		if (started[t])
			pthread_join(tids[t], NULL);
}

void rl_bpfobj_detach_all(struct bpf_object_skeleton *s)
{
	struct bpf_link *links[256];
	size_t n = 0;

	if (!s)
		return;
	for (int i = 0; i < s->prog_cnt; i++) {
		struct bpf_link **link = s->progs[i].link;

		if (!link || !*link)
			continue;
		if (n < sizeof(links) / sizeof(links[0]))
			links[n++] = *link;
		else
			bpf_link__destroy(*link);
		*link = NULL;
	}
	rl_links_destroy(links, n);
}
