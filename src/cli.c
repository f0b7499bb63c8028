// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hist.h"

int rl_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;	/* a bare IPv6 address needs brackets */
		hl = (size_t)(colon - s);
	}
	if (hl >= hostlen || !colon[1])
		return -EINVAL;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || p == 0 || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (uint16_t)p;
	return 0;
}

int rl_parse_duration(const char *s, uint64_t *ns)
{
	static const struct { const char *unit; double scale; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0 || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		v *= units[i].scale;
		if (v > 1e18)
			return -EINVAL;
		*ns = (uint64_t)llround(v);
		return 0;
	}
	return -EINVAL;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out > max ? -EINVAL : 0;
}

enum opt_id {
	OPT_LISTEN, OPT_PATH, OPT_LOG_LEVEL, OPT_PID, OPT_COMM, OPT_PORT, OPT_BPF_STATS,
	OPT_LE_PER_OCTAVE, OPT_LE_MIN, OPT_LE_MAX, OPT_REQ_MODE, OPT_ROUTE, OPT_MAX_ROUTES,
	OPT_SCHED, OPT_UPROBE, OPT_USDT, OPT_HELP, OPT_VERSION,
};

static const struct opt {
	const char *name;
	enum opt_id id;
	bool takes_value;
	const char *arg, *help;
} opts[] = {
	{ "web.listen-address", OPT_LISTEN, true, "HOST:PORT",
	  "address to serve metrics on (default \":10470\")" },
	{ "web.telemetry-path", OPT_PATH, true, "PATH", "path of the metrics (default \"/metrics\")" },
	{ "log.level", OPT_LOG_LEVEL, true, "LEVEL", "debug, info, warn or error (default \"info\")" },
	{ "pid", OPT_PID, true, "PID", "measure only this process (repeatable)" },
	{ "comm", OPT_COMM, true, "NAME", "measure only processes of this name (repeatable)" },
	{ "port", OPT_PORT, true, "PORT",
	  "measure only this server port (inbound) or peer port (outbound) (repeatable)" },
	{ "bpf.stats", OPT_BPF_STATS, false, NULL,
	  "turn on the kernel's BPF run-time statistics while running (costs ~20 ns per event)" },
	{ "histogram.le-per-octave", OPT_LE_PER_OCTAVE, true, "N",
	  "le edges per power of two on /metrics: 1, 2, 4, 8, 16 or 32 (default 4)" },
	{ "histogram.le-min", OPT_LE_MIN, true, "DURATION", "lowest le edge (default 16.384us)" },
	{ "histogram.le-max", OPT_LE_MAX, true, "DURATION", "highest le edge (default 34.36s)" },
	{ "request-tracking", OPT_REQ_MODE, true, "MODE",
	  "auto, sock (Linux 6.3+), syscall or off (default \"auto\")" },
	{ "http.route", OPT_ROUTE, true, "PATTERN",
	  "an HTTP route such as /users/{id}/orders, matched before the defaults (repeatable)" },
	{ "http.max-routes", OPT_MAX_ROUTES, true, "N",
	  "routes kept per service; the rest count as http_route=\"other\" (default 100)" },
	{ "resources", OPT_SCHED, true, "on|off",
	  "CPU, run-queue and blocked time from the scheduler's tracepoints (default \"on\")" },
	{ "uprobe", OPT_UPROBE, true, "BINARY:SYMBOL",
	  "time a function (SYMBOL may be a glob) in every process running BINARY, a path or a "
	  "process name (repeatable)" },
	{ "usdt", OPT_USDT, true, "BINARY:PROVIDER:NAME[,END]",
	  "count a USDT probe, or time from NAME to END on the same thread (repeatable)" },
	{ "help", OPT_HELP, false, NULL, "show this help and exit" },
	{ "version", OPT_VERSION, false, NULL, "show the version and exit" },
};

void rl_cli_usage(FILE *out)
{
	fprintf(out,
		"usage: reqlens [flags]          run the agent (as root)\n"
		"       reqlens snapshot ...     record a window of the agent's histograms\n"
		"       reqlens compare ...      compare two windows\n\n"
		"Measures the latency of every TCP service on this host from kernel\n"
		"tracepoints and serves it as Prometheus metrics.\n\nFlags:\n");
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name, opts[i].arg ? "=" : "",
			 opts[i].arg ? opts[i].arg : "");
		fprintf(out, "  %-36s %s\n", left, opts[i].help);
	}
}

static void set_defaults(struct rl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->action = RL_RUN;
	cfg->listen_port = RL_DEFAULT_PORT;
	snprintf(cfg->listen_address, sizeof(cfg->listen_address), ":%d", RL_DEFAULT_PORT);
	strcpy(cfg->telemetry_path, "/metrics");
	cfg->log_level = RL_LOG_INFO;
	cfg->le_per_octave = 4;
	cfg->req_mode = RL_REQ_AUTO;
	cfg->max_routes = 100;
	cfg->sched = true;
	cfg->le_min_ns = 1ull << 14;
	cfg->le_max_ns = 1ull << 35;
}

#define fail(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

static int apply(struct rl_config *cfg, const struct opt *o, const char *v, char *err, size_t errlen)
{
	unsigned long n;
	uint64_t d;

	switch (o->id) {
	case OPT_LISTEN:
		if (rl_parse_hostport(v, cfg->listen_host, sizeof(cfg->listen_host), &cfg->listen_port))
			fail("invalid --web.listen-address \"%s\": want HOST:PORT, :PORT or [IPV6]:PORT", v);
		snprintf(cfg->listen_address, sizeof(cfg->listen_address), "%s", v);
		break;
	case OPT_PATH:
		if (v[0] != '/' || strlen(v) >= sizeof(cfg->telemetry_path) || strpbrk(v, "?# \t"))
			fail("invalid --web.telemetry-path \"%s\": want an absolute path such as /metrics", v);
		if (!strcmp(v, "/") || !strcmp(v, "/healthz") || !strcmp(v, "/readyz") ||
		    !strncmp(v, "/api/", 5))
			fail("--web.telemetry-path \"%s\" is taken by another endpoint", v);
		strcpy(cfg->telemetry_path, v);
		break;
	case OPT_LOG_LEVEL:
		if (rl_log_parse_level(v, &cfg->log_level))
			fail("invalid --log.level \"%s\": want debug, info, warn or error", v);
		break;
	case OPT_PID:
		if (parse_uint(v, 4194304, &n) || !n)
			fail("invalid --pid \"%s\": want a process id", v);
		if (cfg->npids == RL_MAX_FILTER)
			fail("too many --pid flags (at most %d)", RL_MAX_FILTER);
		cfg->pids[cfg->npids++] = (uint32_t)n;
		break;
	case OPT_COMM:
		if (!*v)
			fail("invalid --comm \"\": want a process name");
		if (cfg->ncomms == RL_MAX_FILTER)
			fail("too many --comm flags (at most %d)", RL_MAX_FILTER);
		/* The kernel keeps 15 bytes of a process name: match what it shows. */
		snprintf(cfg->comms[cfg->ncomms++], RL_COMM_LEN, "%s", v);
		break;
	case OPT_PORT:
		if (parse_uint(v, 65535, &n) || !n)
			fail("invalid --port \"%s\": want 1-65535", v);
		if (cfg->nports == RL_MAX_FILTER)
			fail("too many --port flags (at most %d)", RL_MAX_FILTER);
		cfg->ports[cfg->nports++] = (uint16_t)n;
		break;
	case OPT_BPF_STATS:
		cfg->bpf_stats = true;
		break;
	case OPT_LE_PER_OCTAVE:
		if (parse_uint(v, RL_HIST_SUB, &n) || !n || (n & (n - 1)))
			fail("invalid --histogram.le-per-octave \"%s\": want 1, 2, 4, 8, 16 or 32", v);
		cfg->le_per_octave = (unsigned)n;
		break;
	case OPT_LE_MIN:
	case OPT_LE_MAX:
		if (rl_parse_duration(v, &d) || !d)
			fail("invalid --%s \"%s\": want a duration such as 100us, 5ms or 30s", o->name, v);
		*(o->id == OPT_LE_MIN ? &cfg->le_min_ns : &cfg->le_max_ns) = d;
		break;
	case OPT_REQ_MODE: {
		static const char *const modes[] = { "auto", "sock", "syscall", "off" };
		size_t m;

		for (m = 0; m < sizeof(modes) / sizeof(modes[0]) && strcmp(modes[m], v); m++)
			;
		if (m == sizeof(modes) / sizeof(modes[0]))
			fail("invalid --request-tracking \"%s\": want auto, sock, syscall or off", v);
		cfg->req_mode = (enum rl_req_mode)m;
		break;
	}
	case OPT_ROUTE: {
		const char *why;

		if (rl_routes_add(&cfg->routes, v, &why))
			fail("invalid --http.route \"%s\": %s", v, why);
		break;
	}
	case OPT_MAX_ROUTES:
		if (parse_uint(v, 100000, &n) || !n)
			fail("invalid --http.max-routes \"%s\": want 1-100000", v);
		cfg->max_routes = (unsigned)n;
		break;
	case OPT_SCHED:
		if (strcmp(v, "on") && strcmp(v, "off"))
			fail("invalid --resources \"%s\": want on or off", v);
		cfg->sched = !strcmp(v, "on");
		break;
	case OPT_UPROBE:
	case OPT_USDT: {
		struct rl_probe_spec *p = &cfg->probes[cfg->nprobes];
		bool usdt = o->id == OPT_USDT;
		char tmp[768], *last, *mid = NULL;

		if (cfg->nprobes == sizeof(cfg->probes) / sizeof(cfg->probes[0]))
			fail("too many --uprobe and --usdt flags (at most %zu)",
			     sizeof(cfg->probes) / sizeof(cfg->probes[0]));
		snprintf(tmp, sizeof(tmp), "%s", v);
		last = strrchr(tmp, ':');
		if (last && usdt) {
			*last = 0;
			mid = strrchr(tmp, ':');
		}
		if (!last || !last[1] || last == tmp || (usdt && (!mid || mid == tmp || !mid[1])))
			fail(usdt ? "invalid --usdt \"%s\": want BINARY:PROVIDER:NAME[,END]"
				  : "invalid --uprobe \"%s\": want BINARY:SYMBOL", v);
		memset(p, 0, sizeof(*p));
		p->usdt = usdt;
		if (usdt) {
			char *comma = strchr(last + 1, ',');

			*mid = 0;
			if (comma) {
				*comma = 0;
				snprintf(p->end, sizeof(p->end), "%s", comma + 1);
				if (!p->end[0])
					fail("invalid --usdt \"%s\": empty END probe", v);
			}
			snprintf(p->provider, sizeof(p->provider), "%s", mid + 1);
		} else {
			*last = 0;
		}
		if (strlen(tmp) >= sizeof(p->binary) || strlen(last + 1) >= sizeof(p->symbol) ||
		    strlen(p->provider) + 1 >= sizeof(p->provider))
			fail("invalid --%s \"%.64s...\": a part is too long", o->name, v);
		memcpy(p->binary, tmp, strlen(tmp) + 1);
		memcpy(p->symbol, last + 1, strlen(last + 1) + 1);
		cfg->nprobes++;
		break;
	}
	case OPT_HELP:
		cfg->action = RL_HELP;
		break;
	case OPT_VERSION:
		cfg->action = RL_VERSION;
		break;
	}
	return 0;
}

int rl_cli_parse(int argc, char **argv, struct rl_config *cfg, char *err, size_t errlen)
{
	struct rl_le_set probe;
	const char *why;

	set_defaults(cfg);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *v = NULL;
		const struct opt *o = NULL;
		size_t len;
		int rc;

		if (!strcmp(a, "-h"))
			a = "--help";
		if (strncmp(a, "--", 2) || !a[2])
			fail("unexpected argument \"%s\"", a);
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strlen(opts[k].name) == len && !strncmp(opts[k].name, a, len))
				o = &opts[k];
		if (!o)
			fail("unknown flag --%.*s", (int)len, a);
		if (o->takes_value) {
			if (eq)
				v = eq + 1;
			else if (i + 1 < argc)
				v = argv[++i];
			else
				fail("flag --%s needs a value (%s)", o->name, o->arg);
		} else if (eq) {
			fail("flag --%s takes no value", o->name);
		}
		rc = apply(cfg, o, v, err, errlen);
		if (rc)
			return rc;
	}
	if (rl_le_set_init(&probe, cfg->le_per_octave, cfg->le_min_ns, cfg->le_max_ns, &why))
		fail("invalid histogram edges: %s", why);
	return 0;
}
