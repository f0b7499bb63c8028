/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every BPF family shares with the daemon: the service identity that
 * keys the maps, and the reasons an event can be dropped. Every drop is
 * counted under one of these reasons and exported as
 * reqlens_events_lost_total{reason}, so that nothing is lost silently.
 */
#ifndef REQLENS_COMMON_H
#define REQLENS_COMMON_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define RL_COMM_LEN 16
/* Processes with TCP activity that the scheduler hooks account. */
#define RL_MAX_SERVICES 16384

enum rl_dir {
	RL_DIR_INBOUND = 0,
	RL_DIR_OUTBOUND = 1,
};

/*
 * A service endpoint. No PID: processes of one name in one cgroup fold into
 * one service, which keeps both the maps and the label sets bounded.
 */
struct rl_svc_key {
	char comm[RL_COMM_LEN];	/* the process (thread group leader) name */
	__u64 cgroup_id;	/* cgroup v2 id, for container attribution */
	__u16 port;		/* server_port (inbound) or peer_port (outbound) */
	__u8 dir;		/* enum rl_dir */
	__u8 pad[5];
};

enum rl_lost_reason {
	RL_LOST_CONN_MAP_FULL = 0,	/* per-connection state did not fit */
	RL_LOST_HIST_MAP_FULL,		/* a histogram bucket did not fit */
	RL_LOST_STATS_MAP_FULL,		/* a per-service counter did not fit */
	RL_LOST_RINGBUF_FULL,		/* user space fell behind on request events */
	RL_LOST_NREASONS,
};

#endif /* REQLENS_COMMON_H */
