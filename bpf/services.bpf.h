/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Processes seen accepting or connecting: the services. tcp.bpf.c fills it,
 * sched.bpf.c accounts their threads (the daemon shares the map), and
 * src/sched.c prunes processes that have exited.
 */
#ifndef REQLENS_SERVICES_BPF_H
#define REQLENS_SERVICES_BPF_H

#include "reqlens/common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u8);
} services SEC(".maps");

#endif
