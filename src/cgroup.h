/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which container and Kubernetes pod a process or a cgroup belongs to, read
 * from its cgroup path alone: container runtimes and the kubelet name their
 * cgroups after the container ID and the pod UID, so no runtime socket has
 * to be asked. Recognised forms (systemd and cgroupfs drivers):
 *   containerd  .../cri-containerd-<id>.scope     /kubepods/<qos>/pod<uid>/<id>
 *   CRI-O       .../crio-<id>.scope               (crio-conmon-<id> is the monitor, not the container)
 *   Docker      .../docker-<id>.scope             /docker/<id>
 *   podman      .../libpod-<id>.scope             (libpod-conmon-<id> likewise)
 *   kubelet     kubepods-<qos>-pod<uid_with_underscores>.slice    /kubepods/<qos>/pod<uid>
 */
#ifndef RL_CGROUP_H
#define RL_CGROUP_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define RL_CONTAINER_ID_LEN 64	/* hex digits of a container ID */
#define RL_POD_UID_MAX 36	/* a UUID with dashes; static pods use 32 hex digits */

enum rl_runtime {
	RL_RUNTIME_NONE,	/* no container */
	RL_RUNTIME_UNKNOWN,	/* a bare ID (cgroupfs driver): containerd or Docker */
	RL_RUNTIME_CONTAINERD,
	RL_RUNTIME_CRIO,
	RL_RUNTIME_DOCKER,
	RL_RUNTIME_PODMAN,
};

/* The pod's Kubernetes QoS class, as the kubelet files it in the hierarchy. */
enum rl_qos { RL_QOS_NONE, RL_QOS_GUARANTEED, RL_QOS_BURSTABLE, RL_QOS_BESTEFFORT };

struct rl_container {
	char id[RL_CONTAINER_ID_LEN + 1];	/* lowercase hex; "" for none */
	char pod_uid[RL_POD_UID_MAX + 1];	/* lowercase, with dashes; "" outside a pod */
	enum rl_runtime runtime;
	enum rl_qos qos;	/* RL_QOS_NONE outside a pod */
};

/*
 * Parses the text of /proc/PID/cgroup ("hierarchy-ID:controllers:path"
 * lines). The cgroup v2 line ("0::/path") wins when it names a container or
 * a pod; otherwise the v1 memory, cpu, pids and name=systemd lines are tried,
 * then any other v1 line. 0 with *out cleared for a host process (no
 * container, no pod); -EINVAL when no line is well formed, -ENAMETOOLONG
 * when the only well-formed lines had paths longer than PATH_MAX.
 */
int rl_cgroup_parse(const char *proc_pid_cgroup_text, struct rl_container *out);

/*
 * The same from one cgroup path ("/kubepods.slice/..."). 0 (*out cleared
 * when the path names no container), -EINVAL when it is not absolute,
 * -ENAMETOOLONG beyond PATH_MAX.
 */
int rl_cgroup_from_path(const char *v2path, struct rl_container *out);

/*
 * Reads /proc/PID/cgroup (at most 16 KiB, never blocking) and parses it.
 * 0, -ENOENT when the process is gone, or another -errno.
 */
int rl_cgroup_of_pid(pid_t pid, struct rl_container *out);

/*
 * The path, relative to the cgroup v2 hierarchy's root ("/" for the root,
 * else as /proc/PID/cgroup shows it), of the cgroup whose ID is cgroup_id:
 * bpf_get_current_cgroup_id(), the inode number of the cgroup's directory.
 * The v2 mount is found in /proc/self/mountinfo (/sys/fs/cgroup when pure v2,
 * /sys/fs/cgroup/unified when hybrid). IDs are cached; a miss walks the
 * hierarchy again at most once a second. Thread-safe. 0, -ENOENT for an
 * unknown ID (a cgroup gone before it was seen, or one walked less than a
 * second ago), -ENOSPC when path is too small, -ENODEV when no cgroup v2
 * hierarchy is mounted.
 */
int rl_cgroup_id_path(uint64_t cgroup_id, char *path, size_t len);

/*
 * Where to walk instead of the mount found in /proc/self/mountinfo: the host's
 * hierarchy when the agent runs in a container with its own cgroup namespace
 * (e.g. a hostPath mount at /host/sys/fs/cgroup). NULL goes back to
 * detection. Drops the cache. 0, -EINVAL, -ENAMETOOLONG or -ENOMEM.
 */
int rl_cgroup_set_root(const char *v2_mount_dir);

/* Frees the ID cache and forgets rl_cgroup_set_root (at exit, or to start over). */
void rl_cgroup_cache_free(void);

/* "containerd", "cri-o", "docker", "podman", "unknown", "" for none. */
const char *rl_runtime_name(enum rl_runtime rt);
/* "guaranteed", "burstable", "besteffort", "" for none. */
const char *rl_qos_name(enum rl_qos qos);

#endif
