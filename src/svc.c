// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cgroup.h"
#include "k8s.h"
#include "svc.h"

static struct rl_k8s *_Atomic k8s;

void rl_svc_set_k8s(struct rl_k8s *k)
{
	atomic_store(&k8s, k);
}

/*
 * cgroup id -> container, cached: a scrape asks for the same few cgroups
 * thousands of times. Entries are refreshed after REFRESH_S, so that a pod
 * whose names were not listed yet gets them.
 */
#define CACHE_SLOTS 1024
#define REFRESH_S 30

struct entry {
	__u64 cgroup_id;
	time_t when;
	struct rl_container c;
	struct rl_k8s_names names;
	bool named;
};

static struct entry cache[CACHE_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void lookup_names(struct entry *e)
{
	struct rl_k8s *k = atomic_load(&k8s);

	e->named = k && (e->c.id[0] || e->c.pod_uid[0]) &&
		   rl_k8s_lookup(k, e->c.id, e->c.pod_uid, &e->names);
}

static void resolve(__u64 cgroup_id, struct entry *out)
{
	struct entry *e = &cache[cgroup_id % CACHE_SLOTS];
	time_t now = time(NULL);
	char path[4096];

	pthread_mutex_lock(&lock);
	if (e->cgroup_id != cgroup_id || now - e->when > REFRESH_S) {
		memset(e, 0, sizeof(*e));
		e->cgroup_id = cgroup_id;
		e->when = now;
		/* The root cgroup (id 1) and unknown ids are the host: no container. */
		if (cgroup_id > 1 && !rl_cgroup_id_path(cgroup_id, path, sizeof(path)))
			rl_cgroup_from_path(path, &e->c);
		lookup_names(e);
	}
	*out = *e;
	pthread_mutex_unlock(&lock);
}

static unsigned fill(const char *comm, const struct entry *e, struct rl_svc_labels *l, const char **kv)
{
	unsigned n = 0;

	memset(l, 0, sizeof(*l));
	if (e->named && e->names.container_name[0])
		snprintf(l->name, sizeof(l->name), "%s", e->names.container_name);
	else
		snprintf(l->name, sizeof(l->name), "%s", comm[0] ? comm : "unknown");
	kv[n++] = "service_name";
	kv[n++] = l->name;
#define PUT(label, field, value)                                                \
	do {                                                                    \
		snprintf(l->field, sizeof(l->field), "%s", value);             \
		if (l->field[0]) {                                              \
			kv[n++] = label;                                        \
			kv[n++] = l->field;                                     \
		}                                                               \
	} while (0)
	PUT("container_id", container_id, e->c.id);
	PUT("k8s_pod_uid", pod_uid, e->c.pod_uid);
	if (e->named) {
		PUT("k8s_namespace_name", ns, e->names.namespace_name);
		PUT("k8s_pod_name", pod, e->names.pod_name);
		PUT("k8s_container_name", container, e->names.container_name);
	}
#undef PUT
	kv[n] = NULL;
	return n;
}

unsigned rl_svc_kv(const struct rl_svc_key *svc, struct rl_svc_labels *store, const char **kv)
{
	char comm[RL_COMM_LEN + 1];
	struct entry e;

	/* comm is NUL-padded but not always NUL-terminated at 16 bytes. */
	snprintf(comm, sizeof(comm), "%.*s", (int)strnlen(svc->comm, RL_COMM_LEN), svc->comm);
	resolve(svc->cgroup_id, &e);
	return fill(comm, &e, store, kv);
}

void rl_svc_labels_kv(const struct rl_svc_key *svc, struct rl_svc_labels *store, const char **kv, ...)
{
	unsigned n = rl_svc_kv(svc, store, kv);
	const char *name;
	va_list ap;

	va_start(ap, kv);
	while ((name = va_arg(ap, const char *)) && n + 2 < RL_KV_MAX) {
		kv[n++] = name;
		kv[n++] = va_arg(ap, const char *);
	}
	va_end(ap);
	kv[n] = NULL;
}

unsigned rl_svc_kv_pid(int pid, const char *comm, struct rl_svc_labels *store, const char **kv)
{
	struct entry e = {};

	if (rl_cgroup_of_pid(pid, &e.c))
		memset(&e.c, 0, sizeof(e.c));
	lookup_names(&e);
	return fill(comm, &e, store, kv);
}

void rl_svc_name(const struct rl_svc_key *svc, char *out, size_t size)
{
	struct rl_svc_labels l;
	const char *kv[RL_SVC_MAX_KV + 1];

	rl_svc_kv(svc, &l, kv);
	snprintf(out, size, "%s", l.name);
}
