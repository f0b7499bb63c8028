// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* reqlens: the agent, and the commands that read what it measured. */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "compare.h"
#include "snapshot.h"

int main(int argc, char **argv)
{
	static struct rl_config cfg;
	char err[512];

	/* The subcommands parse their own flags: argv[1] names them. */
	if (argc > 1 && !strcmp(argv[1], "snapshot"))
		return rl_snapshot_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "compare"))
		return rl_compare_main(argc - 1, argv + 1);
	if (rl_cli_parse(argc, argv, &cfg, err, sizeof(err))) {
		fprintf(stderr, "reqlens: error: %s (try --help)\n", err);
		return 2;
	}
	switch (cfg.action) {
	case RL_HELP:
		rl_cli_usage(stdout);
		return 0;
	case RL_VERSION:
		printf("reqlens %s (revision %s)\n", REQLENS_VERSION, REQLENS_REVISION);
		return 0;
	case RL_RUN:
		break;
	}
	return rl_agent_run(&cfg);
}
