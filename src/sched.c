// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpfobj.h"
#include "log.h"
#include "sched.h"
#include "sched.skel.h"
#include "svc.h"
#include "reqlens/sched.h"

struct rl_sched {
	struct sched_bpf *skel;
	long page_kb;
};

void rl_sched_stop(struct rl_sched *s)
{
	if (!s)
		return;
	if (s->skel)
		rl_bpfobj_detach_all(s->skel->skeleton);
	sched_bpf__destroy(s->skel);
	free(s);
}

int rl_sched_threads_fd(const struct rl_sched *s)
{
	return bpf_map__fd(s->skel->maps.threads);
}

int rl_sched_start(const struct rl_config *cfg, int services_fd, struct rl_sched **out)
{
	struct rl_sched *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->skel = sched_bpf__open();
	if (!s->skel) {
		err = -errno;
		rl_bpfobj_explain("opening the scheduler BPF programs", err);
		goto fail;
	}
	err = bpf_map__reuse_fd(s->skel->maps.services, services_fd);
	if (!err)
		err = sched_bpf__load(s->skel);
	if (err) {
		rl_bpfobj_explain("loading the scheduler BPF programs", err);
		goto fail;
	}
	err = sched_bpf__attach(s->skel);
	if (err) {
		rl_bpfobj_explain("attaching the scheduler BPF programs", err);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	rl_sched_stop(s);
	return err;
}

static const char *const hist_names[RL_SCHED_HIST_N][2] = {
	[RL_SCHED_HIST_RUNQ] = { "reqlens_runqueue_latency_seconds",
		"Time the services' threads waited for a CPU: woken or preempted to running." },
	[RL_SCHED_HIST_OFFCPU] = { "reqlens_offcpu_seconds",
		"Stretches the services' threads spent blocked: I/O, locks, sleeps." },
};

static int collect_hists(struct rl_sched *s, struct rl_registry *r)
{
	int fd = bpf_map__fd(s->skel->maps.sched_hists);
	struct rl_sched_hist_key key, next;
	struct rl_family *fam[RL_SCHED_HIST_N];
	void *prev = NULL;

	for (int i = 0; i < RL_SCHED_HIST_N; i++) {
		fam[i] = rl_family_get(r, hist_names[i][0], hist_names[i][1], RL_HISTOGRAM);
		if (!fam[i])
			return -ENOMEM;
	}
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		struct rl_sample *smp;
		__u64 n;

		key = next;
		prev = &key;
		if (key.hist >= RL_SCHED_HIST_N || bpf_map_lookup_elem(fd, &key, &n))
			continue;
		rl_svc_kv(&key.svc, &names, kv);
		smp = rl_sample_get(fam[key.hist], kv);
		if (!smp)
			return -ENOMEM;
		if (key.bucket == RL_HIST_SUM_SLOT)
			smp->hist->sum_ns += n;
		else
			rl_hist_add(smp->hist, key.bucket, n);
	}
	return 0;
}

static int collect_cpu(struct rl_sched *s, struct rl_registry *r)
{
	int fd = bpf_map__fd(s->skel->maps.sched_stats);
	struct rl_family *mode, *oncpu;
	struct rl_svc_key key, next;
	struct rl_sched_stats st;
	void *prev = NULL;

	mode = rl_family_get(r, "reqlens_process_cpu_seconds_total",
		"CPU time of the services by mode, from the kernel's own user/system accounting "
		"(tick-based).", RL_COUNTER);
	oncpu = rl_family_get(r, "reqlens_process_oncpu_seconds_total",
		"Exact on-CPU time of the services, from the scheduler (se.sum_exec_runtime, as "
		"/proc/PID/schedstat reports it).", RL_COUNTER);
	if (!mode || !oncpu)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		struct rl_sample *u, *sy, *on;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &st))
			continue;
		rl_svc_kv(&key, &names, kv);
		on = rl_sample_get(oncpu, kv);
		rl_svc_labels_kv(&key, &names, kv, "mode", "user", NULL);
		u = rl_sample_get(mode, kv);
		rl_svc_labels_kv(&key, &names, kv, "mode", "system", NULL);
		sy = rl_sample_get(mode, kv);
		if (!u || !sy || !on)
			return -ENOMEM;
		u->value += (double)st.user_ns / 1e9;
		sy->value += (double)st.system_ns / 1e9;
		on->value += (double)st.cpu_ns / 1e9;
	}
	return 0;
}

/* Name, resident memory (bytes) and threads of a process, from its status. */
static int read_status(__u32 tgid, char *name, size_t namelen, double *rss, double *threads)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", tgid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*rss = *threads = 0;
	name[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long v;

		if (!strncmp(line, "Name:\t", 6)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(name, namelen, "%s", line + 6);
		} else if (sscanf(line, "VmRSS: %lu kB", &v) == 1) {
			*rss = (double)v * 1024;
		} else if (sscanf(line, "Threads: %lu", &v) == 1) {
			*threads = (double)v;
		}
	}
	fclose(f);
	return name[0] ? 0 : -EINVAL;
}

/*
 * Memory and threads of the services' processes, summed per service. A
 * process that has exited leaves the services map here, so that the map
 * holds live processes only.
 */
static int collect_procs(struct rl_sched *s, struct rl_registry *r)
{
	int fd = bpf_map__fd(s->skel->maps.services);
	struct rl_family *rss_f, *thr_f, *proc_f;
	__u32 key, next, gone[256];
	unsigned ngone = 0;
	void *prev = NULL;

	rss_f = rl_family_get(r, "reqlens_process_resident_memory_bytes",
			      "Resident memory of the services' processes.", RL_GAUGE);
	thr_f = rl_family_get(r, "reqlens_process_threads", "Threads of the services' processes.",
			      RL_GAUGE);
	proc_f = rl_family_get(r, "reqlens_processes", "Processes of each service.", RL_GAUGE);
	if (!rss_f || !thr_f || !proc_f)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		char name[RL_SVC_NAME_LEN];
		struct rl_sample *a, *b, *c;
		double rss = 0, threads = 0;

		key = next;
		prev = &key;
		if (read_status(key, name, sizeof(name), &rss, &threads)) {
			if (ngone < sizeof(gone) / sizeof(gone[0]))
				gone[ngone++] = key;
			continue;
		}
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];

		rl_svc_kv_pid((int)key, name, &names, kv);
		a = rl_sample_get(rss_f, kv);
		b = rl_sample_get(thr_f, kv);
		c = rl_sample_get(proc_f, kv);
		if (!a || !b || !c)
			return -ENOMEM;
		a->value += rss;
		b->value += threads;
		c->value += 1;
	}
	/* Deleting during the walk would restart it: delete afterwards. */
	for (unsigned i = 0; i < ngone; i++)
		bpf_map_delete_elem(fd, &gone[i]);
	return 0;
}

int rl_sched_collect(struct rl_sched *s, struct rl_registry *r)
{
	int err = collect_cpu(s, r);

	if (!err)
		err = collect_hists(s, r);
	if (!err)
		err = collect_procs(s, r);
	if (!err)
		err = rl_bpfobj_collect_self(s->skel->obj, r);
	return err;
}
