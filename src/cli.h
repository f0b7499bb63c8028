/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The agent's command line, in the Prometheus-exporter style. */
#ifndef RL_CLI_H
#define RL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "http1.h"
#include "log.h"
#include "reqlens/common.h"

#define RL_DEFAULT_PORT 10470
#define RL_MAX_FILTER 256

enum rl_action { RL_RUN, RL_HELP, RL_VERSION };

/* How requests are framed: see bpf/req.bpf.c. */
enum rl_req_mode { RL_REQ_AUTO, RL_REQ_SOCK, RL_REQ_SYSCALL, RL_REQ_OFF };

struct rl_config {
	enum rl_action action;
	char listen_host[256];	/* empty: every address */
	uint16_t listen_port;
	char listen_address[300];	/* as given, for messages */
	char telemetry_path[256];
	enum rl_log_level log_level;
	uint32_t pids[RL_MAX_FILTER];
	unsigned npids;
	char comms[RL_MAX_FILTER][RL_COMM_LEN];
	unsigned ncomms;
	uint16_t ports[RL_MAX_FILTER];
	unsigned nports;
	bool bpf_stats;
	enum rl_req_mode req_mode;
	bool sched;		/* the scheduler hooks: CPU, run queue, blocked time */
	/* --uprobe=BINARY:SYMBOL and --usdt=BINARY:PROVIDER:NAME[,END], as given */
	struct rl_probe_spec {
		bool usdt;
		char binary[256];
		char symbol[256];	/* uprobe: a glob; usdt: the (start) probe name */
		char provider[64];
		char end[128];		/* usdt: the probe that ends a timed stretch */
	} probes[64];
	unsigned nprobes;
	struct rl_routes routes;
	unsigned max_routes;	/* per service; the rest is http_route="other" */
	unsigned le_per_octave;
	uint64_t le_min_ns, le_max_ns;
};

/*
 * Parses argv (argv[0] is the program) into cfg, starting from the
 * defaults. 0, or -EINVAL with a one-line reason in err.
 */
int rl_cli_parse(int argc, char **argv, struct rl_config *cfg, char *err, size_t errlen);
void rl_cli_usage(FILE *out);

/* "HOST:PORT", ":PORT", "[V6]:PORT". 0 or -EINVAL. */
int rl_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);
/* "250ms", "1.5s", "100us", "2m", "1h", "42ns": 0 or -EINVAL. */
int rl_parse_duration(const char *s, uint64_t *ns);

#endif
