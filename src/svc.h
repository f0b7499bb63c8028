/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * From the kernel's service identity (process name, cgroup v2 id) to
 * labels: service_name, and the container and pod it runs in.
 */
#ifndef RL_SVC_H
#define RL_SVC_H

#include <stddef.h>
#include "reqlens/common.h"

#define RL_SVC_NAME_LEN 256
/* service_name and up to five container labels: name/value pairs. */
#define RL_SVC_MAX_KV 12

struct rl_k8s;

/* Pod names come from this cache once set (NULL: container ids only). */
void rl_svc_set_k8s(struct rl_k8s *k);

/*
 * The service_name label: the container's name when Kubernetes names it,
 * else the process name as the kernel keeps it.
 */
void rl_svc_name(const struct rl_svc_key *svc, char *out, size_t size);

/*
 * Writes the service's labels as name/value pairs into kv (RL_SVC_MAX_KV
 * slots): service_name first, then container_id, k8s_pod_uid,
 * k8s_namespace_name, k8s_pod_name, k8s_container_name where known. The
 * values live in *store. Returns the number of slots written (even).
 */
struct rl_svc_labels {
	char name[RL_SVC_NAME_LEN];
	char container_id[65];
	char pod_uid[37];
	char ns[64];
	char pod[254];
	char container[64];
};
unsigned rl_svc_kv(const struct rl_svc_key *svc, struct rl_svc_labels *store, const char **kv);

/*
 * rl_svc_kv, then the pairs given (name, value, ..., NULL) appended: the
 * whole label set of a sample. kv needs RL_KV_MAX slots.
 */
#define RL_KV_MAX (2 * 10 + 1)
void rl_svc_labels_kv(const struct rl_svc_key *svc, struct rl_svc_labels *store, const char **kv, ...)
	__attribute__((sentinel));

/* The same for a process found in /proc (its name and cgroup from there). */
unsigned rl_svc_kv_pid(int pid, const char *comm, struct rl_svc_labels *store, const char **kv);

#endif
