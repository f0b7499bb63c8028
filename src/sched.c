// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bpfobj.h"
#include "log.h"
#include "sched.h"
#include "sched.skel.h"
#include "svc.h"
#include "reqlens/sched.h"

_Static_assert(RL_HIST_NBUCKETS <= 0xffff, "a bucket must fit rl_sched_hist_key.bucket");
_Static_assert(sizeof(struct rl_sched_stats) % 8 == 0, "per-CPU values are 8-byte aligned");

struct rl_sched {
	struct sched_bpf *skel;
	int ncpu;
	const volatile __u64 *dense;	/* sched_dense, mapped */
	__u32 dense_svcs;		/* ids below have their histograms there */
	size_t dense_len;
	/* Service ids to keys, from sched_svcs at each collection. */
	struct rl_svc_key *svcs;
	unsigned char *known;
	struct rl_sched_stats *percpu;	/* ncpu values of one sched_stats slot */
};

void rl_sched_stop(struct rl_sched *s)
{
	if (!s)
		return;
	if (s->skel)
		rl_bpfobj_detach_all(s->skel->skeleton);
	if (s->dense)
		munmap((void *)s->dense, s->dense_len);
	sched_bpf__destroy(s->skel);
	free(s->svcs);
	free(s->known);
	free(s->percpu);
	free(s);
}

int rl_sched_threads_fd(const struct rl_sched *s)
{
	return bpf_map__fd(s->skel->maps.threads);
}

/* Whether the kernel's struct `type` has a member `member` (its BTF says). */
static bool btf_has_member(const char *type, const char *member)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	bool found = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	for (int i = 0; t && i < btf_vlen(t) && !found; i++)
		found = !strcmp(btf__name_by_offset(btf, btf_members(t)[i].name_off), member);
	btf__free(btf);
	return found;
}

/*
 * Whether the kernel keeps each task's run-queue wait (sched_info, what
 * /proc/PID/schedstat shows) where the switch hook can complete it: then
 * that hook alone times the waits and no program runs at wakeups. Kernels
 * without CONFIG_SCHED_INFO have no schedstat file; older ones that keep it
 * only with delay accounting on show zeros there; without
 * CONFIG_FAIR_GROUP_SCHED a task does not lead to its run queue's clock.
 * REQLENS_SCHED_INFO=0 uses the wakeup hooks anyway.
 */
static bool sched_info_kept(void)
{
	const char *env = getenv("REQLENS_SCHED_INFO");
	unsigned long long oncpu, delay, slices = 0;
	FILE *f;

	if (env && !strcmp(env, "0")) {
		rl_debug("run-queue waits from the wakeup hooks (REQLENS_SCHED_INFO=0)");
		return false;
	}
	f = fopen("/proc/self/schedstat", "re");
	if (f) {
		if (fscanf(f, "%llu %llu %llu", &oncpu, &delay, &slices) != 3)
			slices = 0;
		fclose(f);
	}
	if (!slices) {
		rl_debug("the kernel keeps no sched_info: run-queue waits from the wakeup hooks");
		return false;
	}
	if (!btf_has_member("cfs_rq", "rq")) {
		rl_debug("no cfs_rq.rq in this kernel: run-queue waits from the wakeup hooks");
		return false;
	}
	return true;
}

/*
 * Services whose histograms are dense arrays: RL_SCHED_DENSE_SVCS, or fewer
 * with REQLENS_SCHED_DENSE_SVCS=N, so that tests reach the hashed ones.
 */
static __u32 dense_svcs(void)
{
	const char *env = getenv("REQLENS_SCHED_DENSE_SVCS");
	char *end;
	unsigned long n;

	if (!env)
		return RL_SCHED_DENSE_SVCS;
	n = strtoul(env, &end, 10);
	if (*env && !*end && n < RL_SCHED_DENSE_SVCS) {
		rl_debug("dense run-queue and off-CPU histograms for %lu services "
			 "(REQLENS_SCHED_DENSE_SVCS)", n);
		return (__u32)n;
	}
	return RL_SCHED_DENSE_SVCS;
}

/* Maps sched_dense read-only, so that a collection reads it without syscalls. */
static int map_dense(struct rl_sched *s)
{
	size_t len = sizeof(*s->dense) * RL_SCHED_DENSE_SLOTS;
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, bpf_map__fd(s->skel->maps.sched_dense), 0);
	int err;

	if (p == MAP_FAILED) {
		err = -errno;
		rl_error("cannot map the scheduler's histograms: %s", strerror(-err));
		return err;
	}
	s->dense = p;
	s->dense_len = len;
	return 0;
}

int rl_sched_start(const struct rl_config *cfg, int services_fd, struct rl_sched **out)
{
	struct rl_sched *s = calloc(1, sizeof(*s));
	bool use_sched_info;
	int err;

	if (!s)
		return -ENOMEM;
	s->ncpu = libbpf_num_possible_cpus();
	if (s->ncpu <= 0) {
		err = s->ncpu ? s->ncpu : -EINVAL;
		rl_error("cannot count the possible CPUs: %s", strerror(-err));
		goto fail;
	}
	s->svcs = calloc(RL_SCHED_MAX_SVCS, sizeof(*s->svcs));
	s->known = calloc(RL_SCHED_MAX_SVCS, sizeof(*s->known));
	s->percpu = calloc((size_t)s->ncpu, sizeof(*s->percpu));
	if (!s->svcs || !s->known || !s->percpu) {
		err = -ENOMEM;
		goto fail;
	}
	s->skel = sched_bpf__open();
	if (!s->skel) {
		err = -errno;
		rl_bpfobj_explain("opening the scheduler BPF programs", err);
		goto fail;
	}
	use_sched_info = sched_info_kept();
	s->dense_svcs = dense_svcs();
	s->skel->rodata->dense_svcs = s->dense_svcs;
	s->skel->rodata->use_sched_info = use_sched_info;
	bpf_program__set_autoload(s->skel->progs.rl_sched_wakeup, !use_sched_info);
	bpf_program__set_autoload(s->skel->progs.rl_sched_wakeup_new, !use_sched_info);
	err = bpf_map__reuse_fd(s->skel->maps.services, services_fd);
	if (!err)
		err = sched_bpf__load(s->skel);
	if (err) {
		rl_bpfobj_explain("loading the scheduler BPF programs", err);
		goto fail;
	}
	err = map_dense(s);
	if (err)
		goto fail;
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

void rl_sched_stats_sum(const struct rl_sched_stats *percpu, int ncpu, struct rl_sched_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int c = 0; c < ncpu; c++) {
		out->cpu_ns += percpu[c].cpu_ns;
		out->user_ns += percpu[c].user_ns;
		out->system_ns += percpu[c].system_ns;
		for (int h = 0; h < RL_SCHED_HIST_N; h++)
			out->hist_sum_ns[h] += percpu[c].hist_sum_ns[h];
	}
}

/* The service of each id handed out so far (ids are never reused). */
static void load_svcs(struct rl_sched *s)
{
	int fd = bpf_map__fd(s->skel->maps.sched_svcs);
	struct rl_svc_key key, next;
	void *prev = NULL;
	__u32 id;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &id) || id >= RL_SCHED_MAX_SVCS)
			continue;
		s->svcs[id] = key;
		s->known[id] = 1;
	}
}

static const char *const hist_names[RL_SCHED_HIST_N][2] = {
	[RL_SCHED_HIST_RUNQ] = { "reqlens_runqueue_latency_seconds",
		"Time the services' threads waited for a CPU: woken or preempted to running." },
	[RL_SCHED_HIST_OFFCPU] = { "reqlens_offcpu_seconds",
		"Stretches the services' threads spent blocked: I/O, locks, sleeps." },
};

static int hist_families(struct rl_registry *r, struct rl_family **fam)
{
	for (int i = 0; i < RL_SCHED_HIST_N; i++) {
		fam[i] = rl_family_get(r, hist_names[i][0], hist_names[i][1], RL_HISTOGRAM);
		if (!fam[i])
			return -ENOMEM;
	}
	return 0;
}

/* The dense histograms of the first services: the buckets that counted. */
static int collect_dense(struct rl_sched *s, struct rl_family **fam)
{
	for (__u32 id = 0; id < s->dense_svcs; id++) {
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		bool labelled = false;

		if (!s->known[id])
			continue;
		for (__u32 h = 0; h < RL_SCHED_HIST_N; h++) {
			const volatile __u64 *b = &s->dense[RL_SCHED_DENSE_SLOT(id, h, 0)];
			struct rl_sample *smp = NULL;

			for (__u32 i = 0; i < RL_HIST_NBUCKETS; i++) {
				__u64 n = b[i];

				if (!n)
					continue;
				if (!smp) {
					if (!labelled)
						rl_svc_kv(&s->svcs[id], &names, kv);
					labelled = true;
					smp = rl_sample_get(fam[h], kv);
					if (!smp)
						return -ENOMEM;
				}
				rl_hist_add(smp->hist, i, n);
			}
		}
	}
	return 0;
}

/* The histograms' buckets; their sums come with the counters (collect_cpu). */
static int collect_hists(struct rl_sched *s, struct rl_registry *r)
{
	int fd = bpf_map__fd(s->skel->maps.sched_hists);
	struct rl_sched_hist_key key, next;
	struct rl_family *fam[RL_SCHED_HIST_N];
	void *prev = NULL;
	int err = hist_families(r, fam);

	if (!err)
		err = collect_dense(s, fam);
	if (err)
		return err;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		struct rl_sample *smp;
		__u64 n = 0;

		key = next;
		prev = &key;
		if (key.hist >= RL_SCHED_HIST_N || key.svc_id >= RL_SCHED_MAX_SVCS ||
		    !s->known[key.svc_id] || bpf_map_lookup_elem(fd, &key, &n))
			continue;
		rl_svc_kv(&s->svcs[key.svc_id], &names, kv);
		smp = rl_sample_get(fam[key.hist], kv);
		if (!smp)
			return -ENOMEM;
		rl_hist_add(smp->hist, key.bucket, n);
	}
	return 0;
}

static int collect_cpu(struct rl_sched *s, struct rl_registry *r)
{
	int fd = bpf_map__fd(s->skel->maps.sched_stats);
	struct rl_family *mode, *oncpu, *fam[RL_SCHED_HIST_N];
	int err = hist_families(r, fam);

	if (err)
		return err;
	mode = rl_family_get(r, "reqlens_process_cpu_seconds_total",
		"CPU time of the services by mode, from the kernel's own user/system accounting "
		"(tick-based).", RL_COUNTER);
	oncpu = rl_family_get(r, "reqlens_process_oncpu_seconds_total",
		"Exact on-CPU time of the services, from the scheduler (se.sum_exec_runtime, as "
		"/proc/PID/schedstat reports it).", RL_COUNTER);
	if (!mode || !oncpu)
		return -ENOMEM;
	for (__u32 id = 0; id < RL_SCHED_MAX_SVCS; id++) {
		const struct rl_svc_key *key = &s->svcs[id];
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		struct rl_sample *u, *sy, *on;
		struct rl_sched_stats st;

		if (!s->known[id] || bpf_map_lookup_elem(fd, &id, s->percpu))
			continue;
		rl_sched_stats_sum(s->percpu, s->ncpu, &st);
		rl_svc_kv(key, &names, kv);
		on = rl_sample_get(oncpu, kv);
		if (!on)
			return -ENOMEM;
		on->value += (double)st.cpu_ns / 1e9;
		for (int h = 0; h < RL_SCHED_HIST_N; h++) {
			struct rl_sample *smp;

			/* A histogram shows up with its first observation. */
			if (!st.hist_sum_ns[h])
				continue;
			smp = rl_sample_get(fam[h], kv);
			if (!smp)
				return -ENOMEM;
			smp->hist->sum_ns += st.hist_sum_ns[h];
		}
		rl_svc_labels_kv(key, &names, kv, "mode", "user", NULL);
		u = rl_sample_get(mode, kv);
		rl_svc_labels_kv(key, &names, kv, "mode", "system", NULL);
		sy = rl_sample_get(mode, kv);
		if (!u || !sy)
			return -ENOMEM;
		u->value += (double)st.user_ns / 1e9;
		sy->value += (double)st.system_ns / 1e9;
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
	int err;

	load_svcs(s);
	err = collect_cpu(s, r);
	if (!err)
		err = collect_hists(s, r);
	if (!err)
		err = collect_procs(s, r);
	if (!err)
		err = rl_bpfobj_collect_self(s->skel->obj, r);
	return err;
}
