/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The pods of this node, from the Kubernetes API: names for the container
 * IDs and pod UIDs that cgroup.h reads from a process's cgroup.
 *
 * A background thread lists GET /api/v1/pods?fieldSelector=spec.nodeName=NODE
 * (pages of 500, following metadata.continue) every 30 s with the service
 * account's token, verifying the API server against the cluster CA only. A
 * failed list keeps the last good content; each distinct error is logged once
 * (again only after a success), and counted for
 * reqlens_k8s_list_errors_total{reason}. The agent works the same without it.
 *
 * RBAC: the service account needs `list` on `pods` at cluster scope
 * (ClusterRole rules: apiGroups [""], resources ["pods"], verbs ["list"]).
 * NODE_NAME comes from the downward API (fieldRef spec.nodeName).
 */
#ifndef RL_K8S_H
#define RL_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_K8S_TOKEN_PATH "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define RL_K8S_CA_PATH "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

/* Every field may be left zero/NULL for the in-cluster default. */
struct rl_k8s_opts {
	const char *api_url;	/* "https://HOST:PORT"; NULL: from KUBERNETES_SERVICE_HOST and _PORT */
	const char *node_name;	/* NULL: $NODE_NAME */
	const char *token_path;	/* NULL: RL_K8S_TOKEN_PATH, re-read before each list (tokens rotate) */
	const char *ca_path;	/* NULL: RL_K8S_CA_PATH */
	unsigned resync_ms;	/* between lists; 0: 30000 */
	unsigned timeout_ms;	/* per request; 0: 5000 */
	size_t max_response;	/* bytes per page, decoded; 0: 64 MiB */
};

/* Kubernetes caps namespaces and container names at 63 bytes, pod names at 253. */
struct rl_k8s_names {
	char namespace_name[64];
	char pod_name[254];
	char container_name[64];	/* "" when only the pod is known */
};

/* Why a list failed: the reason label of reqlens_k8s_list_errors_total. */
enum rl_k8s_error {
	RL_K8S_ERR_FORBIDDEN,	/* 403: RBAC */
	RL_K8S_ERR_UNAUTHORIZED,	/* 401: token missing, expired or rejected */
	RL_K8S_ERR_TOKEN,	/* the token file cannot be read */
	RL_K8S_ERR_TIMEOUT,
	RL_K8S_ERR_TLS,		/* handshake or certificate verification */
	RL_K8S_ERR_CONNECT,	/* refused, unreachable, unresolvable */
	RL_K8S_ERR_HTTP,	/* any other HTTP status */
	RL_K8S_ERR_PARSE,	/* not a PodList */
	RL_K8S_ERR_TOO_LARGE,	/* a page beyond max_response */
	RL_K8S_ERR_OTHER,
	RL_K8S_ERR_COUNT
};

struct rl_k8s_stats {
	uint64_t lists_ok;	/* complete lists (every page) */
	uint64_t errors[RL_K8S_ERR_COUNT];
	uint64_t pods, containers;	/* in the cache now */
	int64_t last_ok_unix_ms;	/* 0 before the first success */
};

struct rl_k8s;

/*
 * Starts the pod cache. 0 with *out NULL when not in Kubernetes (no
 * api_url and no KUBERNETES_SERVICE_HOST/_PORT) or when NODE_NAME, the
 * token or the CA is missing (said once at warn level: the agent goes on
 * without names). 0 with *out set, the first list under way in the background, or
 * -errno. o may be NULL.
 */
int rl_k8s_start(const struct rl_k8s_opts *o, struct rl_k8s **out);
/*
 * Names for a container ID (64 hex digits), else for a pod UID; either may be
 * NULL or "". false when neither is known (or k is NULL). An unknown ID asks
 * for an early list (at most one per ID, and one every 5 s), so that a
 * container started since the last list gets its names within seconds.
 * Thread-safe.
 */
bool rl_k8s_lookup(struct rl_k8s *k, const char *container_id, const char *pod_uid, struct rl_k8s_names *out);
/* Counters since start. Thread-safe; zeroes for a NULL k. */
void rl_k8s_get_stats(struct rl_k8s *k, struct rl_k8s_stats *out);
/* Stops and frees, within about a second even mid-request. NULL-safe. */
void rl_k8s_stop(struct rl_k8s *k);

/* "forbidden", "unauthorized", "token", "timeout", "tls", "connect", "http", "parse", "too_large", "other". */
const char *rl_k8s_error_reason(enum rl_k8s_error e);

/*
 * The cache's content, exposed for the list parser's tests: container ID →
 * names, pod UID → names.
 */
struct rl_k8s_table;

struct rl_k8s_table *rl_k8s_table_new(void);
void rl_k8s_table_free(struct rl_k8s_table *t);	/* NULL-safe */
/*
 * Adds the pods of one PodList page (JSON of len bytes) to t; next gets
 * metadata.continue ("" on the last page). 0, -EBADMSG when it is not a
 * PodList, -ENOSPC when next is too small, -E2BIG past 262144 entries,
 * -ENOMEM. Pods without a namespace or name, and containers without a
 * 64-hex ID (not started yet), are skipped. On error t may hold part of the
 * page.
 */
int rl_k8s_table_add_page(struct rl_k8s_table *t, const char *json, size_t len, char *next, size_t nextlen);
bool rl_k8s_table_lookup(const struct rl_k8s_table *t, const char *container_id, const char *pod_uid,
			 struct rl_k8s_names *out);
void rl_k8s_table_counts(const struct rl_k8s_table *t, uint64_t *pods, uint64_t *containers);

#endif
