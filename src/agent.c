// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "bpfobj.h"
#include "expo.h"
#include "cgroup.h"
#include "func.h"
#include "k8s.h"
#include "http.h"
#include "log.h"
#include "req.h"
#include "sched.h"
#include "svc.h"
#include "tcp.h"

#define BTF_PATH "/sys/kernel/btf/vmlinux"
#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

struct agent {
	const struct rl_config *cfg;
	struct rl_le_set le;
	struct rl_tcp *tcp;
	struct rl_req *req;
	struct rl_sched *sched;
	struct rl_func *func;
	struct rl_k8s *k8s;	/* pod names, when running in Kubernetes */
	pthread_mutex_t lock;	/* one collection at a time */
	uint64_t start_ms;
	char hostname[256];
	char kernel[128];
};

static bool has_cap(const struct __user_cap_data_struct d[2], int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

/* Root, or CAP_BPF with CAP_PERFMON (5.8+), or CAP_SYS_ADMIN (older kernels). */
static int check_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};
	const char *missing;

	if (syscall(SYS_capget, &hdr, d)) {
		rl_error("cannot read this process's capabilities: %s", strerror(errno));
		return -errno;
	}
	if (has_cap(d, CAP_SYS_ADMIN) || (has_cap(d, CAP_BPF) && has_cap(d, CAP_PERFMON)))
		return 0;
	missing = has_cap(d, CAP_BPF) ? "CAP_PERFMON" : has_cap(d, CAP_PERFMON) ? "CAP_BPF"
									: "CAP_BPF and CAP_PERFMON";
	rl_error("not privileged to load BPF programs (missing %s): run reqlens as root "
		 "(sudo reqlens) or grant CAP_BPF and CAP_PERFMON", missing);
	return -EPERM;
}

static int check_btf(void)
{
	if (!access(BTF_PATH, R_OK))
		return 0;
	rl_error("this kernel exposes no BTF at " BTF_PATH " (%s): reqlens needs a kernel built with "
		 "CONFIG_DEBUG_INFO_BTF=y (Debian, Ubuntu, RHEL and Fedora kernels from 5.x have it)",
		 strerror(errno));
	return -ENOENT;
}

/* libbpf finds tracepoints through tracefs; mount it when nobody has. */
static int check_tracefs(void)
{
	if (!access(DEBUGFS_TRACING "/events", F_OK)) {
		rl_set_tracefs(DEBUGFS_TRACING);
		return 0;
	}
	if (!access(TRACEFS "/events", F_OK))
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) && errno != EBUSY) {
		rl_error("tracefs is not mounted and mounting it at " TRACEFS " failed (%s): mount it "
			 "with 'mount -t tracefs nodev " TRACEFS "' or bind-mount the host's into the "
			 "container", strerror(errno));
		return -errno;
	}
	rl_info("mounted tracefs at " TRACEFS);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int add_build_info(struct agent *a, struct rl_registry *r)
{
	struct rl_family *f = rl_family_get(r, "reqlens_build_info",
		"A constant 1, labelled with the agent's version and what it runs on.", RL_GAUGE);
	char libbpf[32];
	const char *kv[] = { "version", REQLENS_VERSION, "revision", REQLENS_REVISION,
			     "libbpf_version", libbpf, "kernel", a->kernel, NULL };
	struct rl_sample *s;

	snprintf(libbpf, sizeof(libbpf), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	s = f ? rl_sample_get(f, kv) : NULL;
	if (!s)
		return -ENOMEM;
	s->value = 1;
	return 0;
}

/* The pod cache's health: names are missing while listing fails. */
static int add_k8s_stats(struct agent *a, struct rl_registry *r)
{
	struct rl_family *ok, *errs;
	struct rl_k8s_stats st;
	struct rl_sample *s;

	if (!a->k8s)
		return 0;
	rl_k8s_get_stats(a->k8s, &st);
	ok = rl_family_get(r, "reqlens_k8s_lists_total",
			   "Successful lists of this node's pods from the Kubernetes API server.", RL_COUNTER);
	errs = rl_family_get(r, "reqlens_k8s_list_errors_total",
			     "Failed lists of this node's pods, by reason.", RL_COUNTER);
	if (!ok || !errs)
		return -ENOMEM;
	s = rl_sample_get(ok, (const char *const[]){ NULL });
	if (!s)
		return -ENOMEM;
	s->value = (double)st.lists_ok;
	for (int i = 0; i < RL_K8S_ERR_COUNT; i++) {
		s = rl_sample_get(errs, (const char *const[]){ "reason", rl_k8s_error_reason(i), NULL });
		if (!s)
			return -ENOMEM;
		s->value = (double)st.errors[i];
	}
	return 0;
}

static int render(void *ctx, enum rl_http_doc doc, struct rl_buf *out)
{
	struct agent *a = ctx;
	struct rl_registry *r = rl_registry_new();
	int err;

	if (!r)
		return -ENOMEM;
	pthread_mutex_lock(&a->lock);
	err = add_build_info(a, r);
	if (!err)
		err = add_k8s_stats(a, r);
	if (!err && a->tcp)
		err = rl_tcp_collect(a->tcp, r);
	if (!err && a->req)
		err = rl_req_collect(a->req, r);
	if (!err && a->sched)
		err = rl_sched_collect(a->sched, r);
	if (!err && a->func)
		err = rl_func_collect(a->func, r);
	pthread_mutex_unlock(&a->lock);
	if (!err && doc == RL_DOC_METRICS) {
		err = rl_expo_text(r, &a->le, out);
	} else if (!err) {
		struct rl_expo_meta m = { .version = REQLENS_VERSION, .hostname = a->hostname,
					  .time_ms = now_ms(), .start_time_ms = a->start_ms };

		err = rl_expo_json(r, &m, out);
	}
	rl_registry_free(r);
	return err ? err : out->err;
}

/* Request framing could not load: go on without it, or fail when it was asked for. */
static int start_without_req(struct agent *a, int err)
{
	const struct rl_config *cfg = a->cfg;

	if (cfg->req_mode != RL_REQ_AUTO)
		return err;
	rl_warn("request tracking is off: it could not be loaded in any mode");
	rl_sched_stop(a->sched);
	rl_tcp_stop(a->tcp);
	a->sched = NULL;
	a->tcp = NULL;
	err = rl_tcp_start(cfg, false, &a->tcp);
	if (!err && cfg->sched)
		err = rl_sched_start(cfg, rl_tcp_services_fd(a->tcp), &a->sched);
	if (!err && cfg->nprobes)
		err = rl_func_start(cfg, rl_tcp_conns_fd(a->tcp), -1, &a->func);
	return err;
}

/*
 * TCP first: request framing shares its connection map. When framing cannot
 * load in auto mode, the agent goes on with TCP alone, restarted without
 * the close hand-off it would otherwise wait for.
 */
static int start_families(struct agent *a)
{
	const struct rl_config *cfg = a->cfg;
	bool want_req = cfg->req_mode != RL_REQ_OFF;
	int err;

	err = rl_tcp_start(cfg, want_req, &a->tcp);
	if (err)
		return err;
	if (cfg->sched) {
		err = rl_sched_start(cfg, rl_tcp_services_fd(a->tcp), &a->sched);
		if (err)
			return err;
	}
	if (want_req) {
		err = rl_req_start(cfg, rl_tcp_conns_fd(a->tcp),
				   a->sched ? rl_sched_threads_fd(a->sched) : -1, &a->req);
		if (err)
			return start_without_req(a, err);
	}
	if (!cfg->nprobes)
		return 0;
	return rl_func_start(cfg, rl_tcp_conns_fd(a->tcp), a->req ? rl_req_fthreads_fd(a->req) : -1,
			     &a->func);
}

static void *stop_func(void *f) { rl_func_stop(f); return NULL; }
static void *stop_req(void *q) { rl_req_stop(q); return NULL; }
static void *stop_sched(void *s) { rl_sched_stop(s); return NULL; }
static void *stop_tcp(void *t) { rl_tcp_stop(t); return NULL; }

/*
 * Every detach waits for kernel grace periods: the families stop side by
 * side, so that the agent exits within a second however many it runs. Each
 * holds its own references to the maps it shares, so the order is free.
 */
static void stop_families(struct agent *a)
{
	void *(*const fns[])(void *) = { stop_func, stop_req, stop_sched, stop_tcp };
	void *args[] = { a->func, a->req, a->sched, a->tcp };
	pthread_t tids[4];
	bool started[4];

	for (int i = 0; i < 4; i++) {
		started[i] = args[i] && !pthread_create(&tids[i], NULL, fns[i], args[i]);
		if (args[i] && !started[i])
			fns[i](args[i]);
	}
	for (int i = 0; i < 4; i++)
		if (started[i])
			pthread_join(tids[i], NULL);
}

/* Blocks the stop signals in every thread; the main thread waits for them. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int rl_agent_run(const struct rl_config *cfg)
{
	struct agent a = { .cfg = cfg, .lock = PTHREAD_MUTEX_INITIALIZER };
	struct rl_http_opts ho = {
		.host = cfg->listen_host, .port = cfg->listen_port, .address = cfg->listen_address,
		.telemetry_path = cfg->telemetry_path, .render = render, .ctx = &a,
	};
	struct rl_http *http = NULL;
	struct utsname uts;
	int stats_fd = -1, sig = 0, rc = 1;
	const char *why;
	sigset_t set;

	block_signals(&set);
	rl_log_set_level(cfg->log_level);
	libbpf_set_print(rl_log_libbpf);
	rl_le_set_init(&a.le, cfg->le_per_octave, cfg->le_min_ns, cfg->le_max_ns, &why);
	a.start_ms = now_ms();
	gethostname(a.hostname, sizeof(a.hostname) - 1);
	if (!uname(&uts))
		snprintf(a.kernel, sizeof(a.kernel), "%s", uts.release);

	if (check_privileges() || check_btf() || check_tracefs())
		return 1;
	/* Bind first: a taken port must fail before anything is loaded. */
	if (rl_http_start(&ho, &http))
		return 1;
	if (cfg->bpf_stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			rl_warn("cannot turn on BPF run-time statistics: %s", strerror(errno));
		rl_bpfobj_stats_on(stats_fd >= 0);
	}
	if (rl_k8s_start(NULL, &a.k8s))
		rl_warn("pod names are off: the Kubernetes pod cache could not start");
	rl_svc_set_k8s(a.k8s);
	if (start_families(&a))
		goto out;
	rl_http_set_ready(http, true);
	rl_info("reqlens %s listening on %s%s, watching TCP%s%s", REQLENS_VERSION,
		cfg->listen_address, cfg->telemetry_path, a.req ? " and requests in mode " : "",
		a.req ? rl_req_mode_name(a.req) : "");

	while (sigwait(&set, &sig))
		;
	rl_info("received %s, detaching", strsignal(sig));
	rc = 0;
out:
	rl_http_stop(http);
	pthread_mutex_lock(&a.lock);
	stop_families(&a);
	a.func = NULL;
	a.req = NULL;
	a.sched = NULL;
	a.tcp = NULL;
	pthread_mutex_unlock(&a.lock);
	rl_svc_set_k8s(NULL);
	rl_k8s_stop(a.k8s);
	rl_cgroup_cache_free();
	if (stats_fd >= 0)
		close(stats_fd);
	return rc;
}
