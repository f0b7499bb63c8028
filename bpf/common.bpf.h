/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * BPF-side helpers every family uses: dropped-event accounting, counters and
 * sparse histograms in hash maps, the service identity of the current task
 * and the --pid/--comm/--port filters. Include once per .bpf.c file.
 */
#ifndef REQLENS_COMMON_BPF_H
#define REQLENS_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "reqlens/common.h"
#include "reqlens/hist.h"

#define RL_MAX_FILTERS 256

/* Set by the daemon before load; false means "no filter of this kind". */
const volatile bool filter_pid = false;
const volatile bool filter_comm = false;
const volatile bool filter_port = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_LOST_NREASONS);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_MAX_FILTERS);
	__type(key, __u32);
	__type(value, __u8);
} filter_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_MAX_FILTERS);
	__type(key, char[RL_COMM_LEN]);
	__type(value, __u8);
} filter_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RL_MAX_FILTERS);
	__type(key, __u16);
	__type(value, __u8);
} filter_ports SEC(".maps");

static __always_inline void rl_lost(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &reason);

	if (n)
		*n += 1;
}

/* Adds n to the counter at key, creating it at zero when absent. */
static __always_inline int rl_count(void *map, const void *key, __u64 n, __u32 lost_reason)
{
	__u64 zero = 0;
	__u64 *c = bpf_map_lookup_elem(map, key);

	if (!c) {
		/* -EEXIST means another CPU created it first: fine. */
		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(map, key);
		if (!c) {
			rl_lost(lost_reason);
			return -1;
		}
	}
	__sync_fetch_and_add(c, n);
	return 0;
}

/*
 * Records one observation of ns nanoseconds. The key's bucket field is
 * rewritten: first the value's bucket, then the sum slot.
 */
static __always_inline void rl_hist_record(void *map, void *key, __u32 *bucket, __u64 ns)
{
	*bucket = rl_hist_bucket(ns);
	if (rl_count(map, key, 1, RL_LOST_HIST_MAP_FULL))
		return;
	*bucket = RL_HIST_SUM_SLOT;
	rl_count(map, key, ns, RL_LOST_HIST_MAP_FULL);
}

/* Records one observation in a map of struct rl_hist_cell; the key's bucket is rewritten. */
static __always_inline void rl_hist_record_cell(void *map, void *key, __u32 *bucket, __u64 ns)
{
	struct rl_hist_cell zero = {}, *cell;

	*bucket = rl_hist_bucket(ns);
	cell = bpf_map_lookup_elem(map, key);
	if (!cell) {
		/* -EEXIST means another CPU created it first: fine. */
		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		cell = bpf_map_lookup_elem(map, key);
		if (!cell) {
			rl_lost(RL_LOST_HIST_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&cell->count, 1);
	__sync_fetch_and_add(&cell->sum_ns, ns);
}

/*
 * The id map (key -> __u32) gives key, handing one out from the counter
 * *next when it has none (ids count up from *next's initial value; one taken
 * by a CPU that lost the race to insert stays unused). False when the ids
 * reached max or the map is full.
 */
static __always_inline bool rl_id_of(void *map, const void *key, __u64 *next, __u64 max, __u32 *id)
{
	__u32 *idp = bpf_map_lookup_elem(map, key);
	__u64 n;

	if (idp) {
		*id = *idp;
		return true;
	}
	n = __sync_fetch_and_add(next, 1);
	if (n >= max)
		return false;
	*id = (__u32)n;
	if (!bpf_map_update_elem(map, key, id, BPF_NOEXIST))
		return true;
	/* -EEXIST: another CPU gave it an id first. */
	idp = bpf_map_lookup_elem(map, key);
	if (!idp)
		return false;
	*id = *idp;
	return true;
}

/* The service identity of the current task: its process name and cgroup. */
static __always_inline void rl_current_svc(struct rl_svc_key *svc, __u16 port, __u8 dir)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	__builtin_memset(svc, 0, sizeof(*svc));
	/* The group leader's name: worker threads often rename themselves. */
	BPF_CORE_READ_STR_INTO(&svc->comm, task, group_leader, comm);
	svc->cgroup_id = bpf_get_current_cgroup_id();
	svc->port = port;
	svc->dir = dir;
}

/* True when the current process and port pass every configured filter. */
static __always_inline bool rl_watched(const struct rl_svc_key *svc, __u32 tgid)
{
	if (filter_pid && !bpf_map_lookup_elem(&filter_pids, &tgid))
		return false;
	if (filter_comm && !bpf_map_lookup_elem(&filter_comms, svc->comm))
		return false;
	if (filter_port && !bpf_map_lookup_elem(&filter_ports, &svc->port))
		return false;
	return true;
}

/* The socket behind file descriptor fd of the current task, or 0. */
static __always_inline __u64 sock_of_fd(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *f = NULL;
	struct socket *sock;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	return sock ? (__u64)BPF_CORE_READ(sock, sk) : 0;
}

#endif /* REQLENS_COMMON_BPF_H */
