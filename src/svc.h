/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* From the kernel's service identity (process name, cgroup) to labels. */
#ifndef RL_SVC_H
#define RL_SVC_H

#include <stddef.h>
#include "reqlens/common.h"

#define RL_SVC_NAME_LEN 256

/* The service_name label: the process name, as the kernel keeps it. */
void rl_svc_name(const struct rl_svc_key *svc, char *out, size_t size);

#endif
