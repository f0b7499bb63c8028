// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>

#include "svc.h"

void rl_svc_name(const struct rl_svc_key *svc, char *out, size_t size)
{
	/* comm is NUL-padded but not always NUL-terminated at 16 bytes. */
	snprintf(out, size, "%.*s", (int)strnlen(svc->comm, RL_COMM_LEN), svc->comm);
	if (!out[0])
		snprintf(out, size, "unknown");
}
