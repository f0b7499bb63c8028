// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfobj.h"
#include "log.h"
#include "svc.h"
#include "tcp.h"
#include "tcp.skel.h"
#include "reqlens/tcp.h"

struct rl_tcp {
	struct tcp_bpf *skel;
};

/* Present on x86_64 and old kernels only, or not at all before 5.x. */
static const char *const optional_progs[] = {
	"rl_accept_exit", "rl_tcp_destroy", "rl_tcp_retrans", "rl_tcp_rst_rx", "rl_tcp_rst_tx", NULL,
};

void rl_tcp_stop(struct rl_tcp *t)
{
	if (!t)
		return;
	if (t->skel)
		rl_bpfobj_detach_all(t->skel->skeleton);
	tcp_bpf__destroy(t->skel);
	free(t);
}

int rl_tcp_conns_fd(const struct rl_tcp *t)
{
	return bpf_map__fd(t->skel->maps.conns);
}

int rl_tcp_services_fd(const struct rl_tcp *t)
{
	return bpf_map__fd(t->skel->maps.services);
}

int rl_tcp_start(const struct rl_config *cfg, bool req_tracking, struct rl_tcp **out)
{
	struct rl_tcp *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->skel = tcp_bpf__open();
	if (!t->skel) {
		err = -errno;
		rl_bpfobj_explain("opening the TCP BPF programs", err);
		goto fail;
	}
	t->skel->rodata->filter_pid = cfg->npids > 0;
	t->skel->rodata->filter_comm = cfg->ncomms > 0;
	t->skel->rodata->filter_port = cfg->nports > 0;
	t->skel->rodata->keep_until_destroy = rl_tracepoint_exists("tcp", "tcp_destroy_sock");
	t->skel->rodata->req_tracking = req_tracking;
	err = rl_bpfobj_prune(t->skel->obj, optional_progs);
	if (err)
		goto fail;
	err = tcp_bpf__load(t->skel);
	if (err) {
		rl_bpfobj_explain("loading the TCP BPF programs", err);
		goto fail;
	}
	err = rl_bpfobj_fill_filters(t->skel->obj, cfg);
	if (err) {
		rl_error("setting the filters failed: %s", strerror(-err));
		goto fail;
	}
	err = tcp_bpf__attach(t->skel);
	if (err) {
		rl_bpfobj_explain("attaching the TCP BPF programs", err);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	rl_tcp_stop(t);
	return err;
}

static const char *const dir_names[] = { [RL_DIR_INBOUND] = "inbound", [RL_DIR_OUTBOUND] = "outbound" };

/* A service endpoint's labels: the service's, direction (unless with_dir is false), the port. */
static void svc_labels(const struct rl_svc_key *svc, bool with_dir, const char **kv,
		       struct rl_svc_labels *store, char port[8])
{
	const char *port_name = svc->dir == RL_DIR_INBOUND ? "server_port" : "peer_port";

	snprintf(port, 8, "%u", svc->port);
	if (with_dir)
		rl_svc_labels_kv(svc, store, kv, "direction", dir_names[svc->dir & 1], port_name, port,
				 NULL);
	else
		rl_svc_labels_kv(svc, store, kv, port_name, port, NULL);
}

static int collect_hists(struct rl_tcp *t, struct rl_registry *r)
{
	int fd = bpf_map__fd(t->skel->maps.tcp_hists);
	struct rl_tcp_hist_key key, next;
	struct rl_family *fam[RL_TCP_HIST_N];
	void *prev = NULL;

	fam[RL_TCP_HIST_ACCEPT_QUEUE] = rl_family_get(r, "reqlens_tcp_accept_queue_seconds",
		"Time from the TCP handshake's completion to accept() returning the connection.",
		RL_HISTOGRAM);
	fam[RL_TCP_HIST_CONN_DURATION] = rl_family_get(r, "reqlens_tcp_connection_duration_seconds",
		"Lifetime of TCP connections: accept (inbound) or connect (outbound) to close.",
		RL_HISTOGRAM);
	if (!fam[0] || !fam[1])
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		const char *kv[RL_KV_MAX];
		struct rl_svc_labels names;
		char port[8];
		struct rl_sample *s;
		__u64 n;

		key = next;
		prev = &key;
		if (key.hist >= RL_TCP_HIST_N || bpf_map_lookup_elem(fd, &key, &n))
			continue;
		svc_labels(&key.svc, key.hist == RL_TCP_HIST_CONN_DURATION, kv, &names, port);
		s = rl_sample_get(fam[key.hist], kv);
		if (!s)
			return -ENOMEM;
		if (key.bucket == RL_HIST_SUM_SLOT)
			s->hist->sum_ns += n;
		else
			rl_hist_add(s->hist, key.bucket, n);
	}
	return 0;
}

enum stat_kind { ST_COUNTER, ST_ACTIVE };

static const struct stat_def {
	const char *name, *help;
	size_t off;
	enum stat_kind kind;
	const char *reset;	/* the reset="..." label, for the resets family */
} stat_defs[] = {
	{ "reqlens_tcp_connections_total", "TCP connections accepted (inbound) or established (outbound).",
	  offsetof(struct rl_tcp_stats, opened), ST_COUNTER, NULL },
	{ "reqlens_tcp_connections_active", "TCP connections open now that the agent saw open.",
	  0, ST_ACTIVE, NULL },
	{ "reqlens_tcp_connect_errors_total", "Outbound connects that never established.",
	  offsetof(struct rl_tcp_stats, connect_errors), ST_COUNTER, NULL },
	{ "reqlens_tcp_received_bytes_total", "Data bytes the application read, counted when the connection closes.",
	  offsetof(struct rl_tcp_stats, rx_bytes), ST_COUNTER, NULL },
	{ "reqlens_tcp_sent_bytes_total", "Data bytes sent (retransmissions counted once), counted when the connection closes.",
	  offsetof(struct rl_tcp_stats, tx_bytes), ST_COUNTER, NULL },
	{ "reqlens_tcp_retransmits_total", "TCP segments retransmitted.",
	  offsetof(struct rl_tcp_stats, retransmits), ST_COUNTER, NULL },
	{ "reqlens_tcp_resets_total", "TCP resets sent or received.",
	  offsetof(struct rl_tcp_stats, resets_sent), ST_COUNTER, "sent" },
	{ "reqlens_tcp_resets_total", "TCP resets sent or received.",
	  offsetof(struct rl_tcp_stats, resets_received), ST_COUNTER, "received" },
};

static int collect_stats(struct rl_tcp *t, struct rl_registry *r)
{
	int fd = bpf_map__fd(t->skel->maps.tcp_stats);
	struct rl_svc_key key, next;
	void *prev = NULL;

	/* Families first, so that their order does not depend on the map's. */
	for (size_t i = 0; i < sizeof(stat_defs) / sizeof(stat_defs[0]); i++)
		if (!rl_family_get(r, stat_defs[i].name, stat_defs[i].help,
				   stat_defs[i].kind == ST_ACTIVE ? RL_GAUGE : RL_COUNTER))
			return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct rl_tcp_stats st;
		const char *kv[RL_KV_MAX];
		struct rl_svc_labels names;
		char port[8];

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &st))
			continue;
		for (size_t i = 0; i < sizeof(stat_defs) / sizeof(stat_defs[0]); i++) {
			const struct stat_def *d = &stat_defs[i];
			struct rl_family *f = rl_family_get(r, d->name, d->help,
							    d->kind == ST_ACTIVE ? RL_GAUGE : RL_COUNTER);
			struct rl_sample *s;
			unsigned n;
			double v;

			if (key.dir == RL_DIR_INBOUND && d->off == offsetof(struct rl_tcp_stats, connect_errors))
				continue;
			svc_labels(&key, true, kv, &names, port);
			for (n = 0; kv[n]; n++)
				;
			if (d->reset) {
				kv[n++] = "reset";
				kv[n++] = d->reset;
				kv[n] = NULL;
			}
			s = f ? rl_sample_get(f, kv) : NULL;
			if (!s)
				return -ENOMEM;
			if (d->kind == ST_ACTIVE)
				v = st.opened > st.closed ? (double)(st.opened - st.closed) : 0;
			else
				v = (double)*(const __u64 *)((const char *)&st + d->off);
			s->value += v;
		}
	}
	return 0;
}

int rl_tcp_collect(struct rl_tcp *t, struct rl_registry *r)
{
	int err = collect_hists(t, r);

	if (!err)
		err = collect_stats(t, r);
	if (!err)
		err = rl_bpfobj_collect_self(t->skel->obj, r);
	return err;
}
