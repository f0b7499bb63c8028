/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The agent: pre-flight checks, BPF families, HTTP, until a signal. */
#ifndef RL_AGENT_H
#define RL_AGENT_H

#include "cli.h"

/* Runs until SIGTERM/SIGINT. Returns the process exit code (0 or 1). */
int rl_agent_run(const struct rl_config *cfg);

#endif
