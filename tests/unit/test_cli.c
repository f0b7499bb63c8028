// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Flag parsing: defaults, every flag, and each error a user can make. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

static struct rl_config cfg;
static char err[512];

static int parse(int argc, char **argv)
{
	err[0] = 0;
	return rl_cli_parse(argc, argv, &cfg, err, sizeof(err));
}

#define PARSE(...) ({ char *v_[] = { "reqlens", __VA_ARGS__ }; parse(sizeof(v_) / sizeof(v_[0]), v_); })

static void test_defaults(void **state)
{
	char *argv[] = { "reqlens" };

	assert_int_equal(parse(1, argv), 0);
	assert_int_equal(cfg.action, RL_RUN);
	assert_string_equal(cfg.listen_host, "");
	assert_int_equal(cfg.listen_port, RL_DEFAULT_PORT);
	assert_string_equal(cfg.telemetry_path, "/metrics");
	assert_int_equal(cfg.log_level, RL_LOG_INFO);
	assert_int_equal(cfg.npids + cfg.ncomms + cfg.nports, 0);
	assert_false(cfg.bpf_stats);
	assert_int_equal(cfg.le_per_octave, 4);
}

static void test_every_flag(void **state)
{
	assert_int_equal(PARSE("--web.listen-address=127.0.0.1:9999", "--web.telemetry-path", "/m",
			       "--log.level=debug", "--pid=1", "--pid", "42", "--comm=nginx",
			       "--comm=a-very-long-process-name", "--port=80", "--port=6379",
			       "--bpf.stats", "--histogram.le-per-octave=32",
			       "--histogram.le-min=1ms", "--histogram.le-max=10s"), 0);
	assert_string_equal(cfg.listen_host, "127.0.0.1");
	assert_int_equal(cfg.listen_port, 9999);
	assert_string_equal(cfg.telemetry_path, "/m");
	assert_int_equal(cfg.log_level, RL_LOG_DEBUG);
	assert_int_equal(cfg.npids, 2);
	assert_int_equal(cfg.pids[1], 42);
	assert_int_equal(cfg.ncomms, 2);
	assert_string_equal(cfg.comms[0], "nginx");
	/* The kernel keeps 15 bytes of a name. */
	assert_string_equal(cfg.comms[1], "a-very-long-pro");
	assert_int_equal(cfg.nports, 2);
	assert_int_equal(cfg.ports[1], 6379);
	assert_true(cfg.bpf_stats);
	assert_int_equal(cfg.le_per_octave, 32);
	assert_int_equal(cfg.le_min_ns, 1000000);
	assert_int_equal(cfg.le_max_ns, 10000000000ull);
}

static void test_help_version(void **state)
{
	assert_int_equal(PARSE("--help"), 0);
	assert_int_equal(cfg.action, RL_HELP);
	assert_int_equal(PARSE("-h"), 0);
	assert_int_equal(cfg.action, RL_HELP);
	assert_int_equal(PARSE("--version"), 0);
	assert_int_equal(cfg.action, RL_VERSION);
}

static void test_listen_address_forms(void **state)
{
	char host[64];
	uint16_t port;

	assert_int_equal(rl_parse_hostport(":80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "");
	assert_int_equal(port, 80);
	assert_int_equal(rl_parse_hostport("[::1]:8080", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8080);
	assert_int_equal(rl_parse_hostport("localhost:65535", host, sizeof(host), &port), 0);
	assert_string_equal(host, "localhost");
	static const char *const bad[] = { "", "80", "host", "host:", ":0", ":65536", ":-1", ":+80",
					   ":80x", "::1:80", "[::1]80", "[::1", "a:b:c" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rl_parse_hostport(bad[i], host, sizeof(host), &port), -EINVAL);
}

static void test_durations(void **state)
{
	uint64_t ns;

	assert_int_equal(rl_parse_duration("42ns", &ns), 0);
	assert_int_equal(ns, 42);
	assert_int_equal(rl_parse_duration("1.5us", &ns), 0);
	assert_int_equal(ns, 1500);
	assert_int_equal(rl_parse_duration("250ms", &ns), 0);
	assert_int_equal(ns, 250000000);
	assert_int_equal(rl_parse_duration("2m", &ns), 0);
	assert_int_equal(ns, 120000000000ull);
	assert_int_equal(rl_parse_duration("1h", &ns), 0);
	assert_int_equal(ns, 3600000000000ull);
	static const char *const bad[] = { "", "5", "ms", "-1s", "1x", "1 s", "nans", "infs", "1e30h" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rl_parse_duration(bad[i], &ns), -EINVAL);
}

/* Each mistake gives -EINVAL and a reason that names what was wrong. */
static void test_errors(void **state)
{
	static const struct { const char *arg, *says; } cases[] = {
		{ "--nope", "unknown flag --nope" },
		{ "--web.listen-address=nonsense", "invalid --web.listen-address" },
		{ "--web.telemetry-path=metrics", "invalid --web.telemetry-path" },
		{ "--web.telemetry-path=/healthz", "taken by another endpoint" },
		{ "--log.level=loud", "invalid --log.level" },
		{ "--pid=0", "invalid --pid" },
		{ "--pid=abc", "invalid --pid" },
		{ "--pid=-5", "invalid --pid" },
		{ "--comm=", "invalid --comm" },
		{ "--port=0", "invalid --port" },
		{ "--port=70000", "invalid --port" },
		{ "--bpf.stats=yes", "takes no value" },
		{ "--histogram.le-per-octave=3", "invalid --histogram.le-per-octave" },
		{ "--histogram.le-per-octave=64", "invalid --histogram.le-per-octave" },
		{ "--histogram.le-min=fast", "invalid --histogram.le-min" },
		{ "positional", "unexpected argument" },
		{ "--", "unexpected argument" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { "reqlens", (char *)cases[i].arg };

		assert_int_equal(parse(2, argv), -EINVAL);
		if (!strstr(err, cases[i].says))
			fail_msg("%s: got \"%s\", want it to say \"%s\"", cases[i].arg, err, cases[i].says);
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(PARSE("--pid"), -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(PARSE("--histogram.le-min=10s", "--histogram.le-max=1s"), -EINVAL);
	assert_non_null(strstr(err, "invalid histogram edges"));
}

static void test_too_many_filters(void **state)
{
	static char *argv[RL_MAX_FILTER + 2];
	static char bufs[RL_MAX_FILTER + 1][16];

	argv[0] = "reqlens";
	for (int i = 0; i <= RL_MAX_FILTER; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "--port=%d", i + 1);
		argv[i + 1] = bufs[i];
	}
	assert_int_equal(parse(RL_MAX_FILTER + 1, argv), 0);
	assert_int_equal(parse(RL_MAX_FILTER + 2, argv), -EINVAL);
	assert_non_null(strstr(err, "too many --port"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_flag),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_listen_address_forms),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_many_filters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
