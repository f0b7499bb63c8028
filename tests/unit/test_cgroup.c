// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Container and pod from /proc/PID/cgroup text and cgroup paths, over the
 * path forms real runtimes and kubelets write; cgroup v2 ID → path over a
 * scratch directory tree and over this machine's own hierarchy.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cgroup.h"

/* IDs and UIDs as runtimes print them (random, so no case collides by accident). */
#define ID_A "175034c6eb2bbefff53b479e1f2da40a5fcaab03cdaf0d77780c081c4664600e"
#define ID_B "c85403ec917199b0d11a309fe5c1db4ee491afb9057be03d5e2507f809f09970"
#define ID_C "db59f60e264310e97754461f1939a13ca47eb93aef83edbb1b87fc76e5af2b7c"
#define ID_D "41f1687472edc8d4e10f2a50840fb07acae4fba01e358753b9ca00899b861369"
#define ID_E "e5ee32c40f9513df1b97fefbc6e442b97d966f526c8f858892cabb3bdbe1eaf4"
#define ID_F "d1d53f54773755beea9f1ea23cb0abba2e1440338c304c8c72b73e8d9b397f4b"
#define ID_G "5a7af90b2d65f512e6b0415f5e1e251e74ed7d7037544e73116f1d32d84e2e9f"
#define ID_D_UPPER "41F1687472EDC8D4E10F2A50840FB07ACAE4FBA01E358753B9CA00899B861369"
#define UID1 "26c49732-d74d-42ab-9343-9b51bf16eed9"
#define UID1_ "26c49732_d74d_42ab_9343_9b51bf16eed9"
#define UID2 "580eb8b1-3973-43d1-8d83-948421ca8ee9"
#define UID2_ "580eb8b1_3973_43d1_8d83_948421ca8ee9"
#define UID3 "2d783fea-677c-44fc-8247-42e12937307a"
#define UID3_ "2d783fea_677c_44fc_8247_42e12937307a"
#define UID4 "df194d2a-78d7-4056-8204-36db97bbc7bd"
#define UID_STATIC "8d98fc7d614aad42d216afb5871e5679"

/* The v1 hierarchies of a typical hybrid node, every one at PATH. */
#define V1_ALL(path) \
	"12:perf_event:" path "\n11:net_cls,net_prio:" path "\n10:hugetlb:" path "\n" \
	"9:pids:" path "\n8:devices:" path "\n7:blkio:" path "\n6:freezer:" path "\n" \
	"5:cpuset:" path "\n4:memory:" path "\n3:cpu,cpuacct:" path "\n2:rdma:/\n" \
	"1:name=systemd:" path "\n"

struct cgcase {
	const char *name;
	const char *text;
	int err;
	const char *id;
	const char *uid;
	enum rl_runtime rt;
	enum rl_qos qos;
};

static const struct cgcase cases[] = {
	/* ---- cgroup v2, systemd driver (the kubelet default on v2) */
	{ "v2 containerd burstable",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_ ".slice/cri-containerd-" ID_A ".scope\n",
	  0, ID_A, UID1, RL_RUNTIME_CONTAINERD, RL_QOS_BURSTABLE },
	{ "v2 containerd guaranteed (no QoS level)",
	  "0::/kubepods.slice/kubepods-pod" UID2_ ".slice/cri-containerd-" ID_B ".scope\n",
	  0, ID_B, UID2, RL_RUNTIME_CONTAINERD, RL_QOS_GUARANTEED },
	{ "v2 CRI-O besteffort",
	  "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID3_ ".slice/crio-" ID_C ".scope\n",
	  0, ID_C, UID3, RL_RUNTIME_CRIO, RL_QOS_BESTEFFORT },
	{ "v2 CRI-O conmon is not the container",
	  "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID3_ ".slice/crio-conmon-" ID_C ".scope\n",
	  0, "", UID3, RL_RUNTIME_NONE, RL_QOS_BESTEFFORT },
	{ "v2 static pod (32-hex UID)",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_STATIC ".slice/cri-containerd-" ID_A ".scope\n",
	  0, ID_A, UID_STATIC, RL_RUNTIME_CONTAINERD, RL_QOS_BURSTABLE },
	{ "v2 kubelet --cgroup-root (kind)",
	  "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" UID2_
	  ".slice/cri-containerd-" ID_B ".scope\n",
	  0, ID_B, UID2, RL_RUNTIME_CONTAINERD, RL_QOS_BESTEFFORT },
	{ "v2 driver mismatch leaf parent:prefix:id",
	  "0::/system.slice/containerd.service/kubepods-burstable-pod" UID1_ ".slice:cri-containerd:" ID_A "\n",
	  0, ID_A, UID1, RL_RUNTIME_CONTAINERD, RL_QOS_BURSTABLE },
	{ "v2 pod level only (no container)",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_ ".slice\n",
	  0, "", UID1, RL_RUNTIME_NONE, RL_QOS_BURSTABLE },
	{ "v2 QoS level only is no pod",
	  "0::/kubepods.slice/kubepods-burstable.slice\n", 0, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	/* ---- cgroup v1, cgroupfs driver */
	{ "v1 cgroupfs containerd burstable", V1_ALL("/kubepods/burstable/pod" UID1 "/" ID_A),
	  0, ID_A, UID1, RL_RUNTIME_UNKNOWN, RL_QOS_BURSTABLE },
	{ "v1 cgroupfs guaranteed", V1_ALL("/kubepods/pod" UID4 "/" ID_F),
	  0, ID_F, UID4, RL_RUNTIME_UNKNOWN, RL_QOS_GUARANTEED },
	{ "v1 cgroupfs CRI-O besteffort", V1_ALL("/kubepods/besteffort/pod" UID3 "/crio-" ID_C),
	  0, ID_C, UID3, RL_RUNTIME_CRIO, RL_QOS_BESTEFFORT },
	{ "v1 cgroupfs CRI-O conmon", V1_ALL("/kubepods/besteffort/pod" UID3 "/crio-conmon-" ID_C),
	  0, "", UID3, RL_RUNTIME_NONE, RL_QOS_BESTEFFORT },
	{ "v1 systemd driver", V1_ALL("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_
				      ".slice/cri-containerd-" ID_A ".scope"),
	  0, ID_A, UID1, RL_RUNTIME_CONTAINERD, RL_QOS_BURSTABLE },
	{ "v1 docker cgroupfs", V1_ALL("/docker/" ID_D), 0, ID_D, "", RL_RUNTIME_DOCKER, RL_QOS_NONE },
	/* ---- hybrid: v1 hierarchies plus the unified one */
	{ "hybrid: v2 line wins over v1",
	  "4:memory:/docker/" ID_F "\n1:name=systemd:/system.slice/docker-" ID_F ".scope\n0::/system.slice/docker-" ID_D ".scope\n",
	  0, ID_D, "", RL_RUNTIME_DOCKER, RL_QOS_NONE },
	{ "hybrid: v2 at the root falls back to v1",
	  V1_ALL("/kubepods/burstable/pod" UID1 "/" ID_A) "0::/\n",
	  0, ID_A, UID1, RL_RUNTIME_UNKNOWN, RL_QOS_BURSTABLE },
	{ "hybrid: memory wins over name=systemd",
	  "4:memory:/docker/" ID_D "\n1:name=systemd:/docker/" ID_F "\n0::/\n",
	  0, ID_D, "", RL_RUNTIME_DOCKER, RL_QOS_NONE },
	{ "hybrid: only name=systemd names it",
	  "4:memory:/\n3:cpu,cpuacct:/\n1:name=systemd:/system.slice/docker-" ID_D ".scope\n0::/\n",
	  0, ID_D, "", RL_RUNTIME_DOCKER, RL_QOS_NONE },
	{ "v1 cpu in a joint controller list",
	  "4:memory:/\n3:cpuset,cpu,cpuacct:/kubepods/besteffort/pod" UID3 "/" ID_C "\n",
	  0, ID_C, UID3, RL_RUNTIME_UNKNOWN, RL_QOS_BESTEFFORT },
	/* ---- outside Kubernetes */
	{ "docker systemd v2", "0::/system.slice/docker-" ID_D ".scope\n", 0, ID_D, "", RL_RUNTIME_DOCKER, RL_QOS_NONE },
	{ "docker ID in upper case", "0::/system.slice/docker-" ID_D_UPPER ".scope\n", 0, ID_D, "", RL_RUNTIME_DOCKER,
	  RL_QOS_NONE },
	{ "docker in docker: innermost", "0::/docker/" ID_D "/docker/" ID_F "\n", 0, ID_F, "", RL_RUNTIME_DOCKER,
	  RL_QOS_NONE },
	{ "podman rootful", "0::/machine.slice/libpod-" ID_E ".scope\n", 0, ID_E, "", RL_RUNTIME_PODMAN, RL_QOS_NONE },
	{ "podman rootless, split cgroup",
	  "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_E ".scope/container\n",
	  0, ID_E, "", RL_RUNTIME_PODMAN, RL_QOS_NONE },
	{ "podman conmon", "0::/machine.slice/libpod-conmon-" ID_E ".scope\n", 0, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "nerdctl", "0::/system.slice/nerdctl-" ID_G ".scope\n", 0, ID_G, "", RL_RUNTIME_CONTAINERD, RL_QOS_NONE },
	{ "removed cgroup (deleted)", "0::/system.slice/docker-" ID_D ".scope (deleted)\n", 0, ID_D, "",
	  RL_RUNTIME_DOCKER, RL_QOS_NONE },
	/* ---- host processes */
	{ "host v2 root", "0::/\n", 0, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "host user session", "0::/user.slice/user-1000.slice/session-3.scope\n", 0, "", "", RL_RUNTIME_NONE,
	  RL_QOS_NONE },
	{ "host service", "0::/system.slice/ssh.service\n", 0, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "host v1 service", V1_ALL("/system.slice/ssh.service") "0::/system.slice/ssh.service\n", 0, "", "",
	  RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "pod-like name outside kubepods", "0::/system.slice/pod" UID1 "\n", 0, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	/* ---- malformed, truncated, overlong */
	{ "empty", "", -EINVAL, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "garbage", "garbage\n\n\n", -EINVAL, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "cut in the hierarchy field", "0:", -EINVAL, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "relative path", "0::system.slice/docker-" ID_D ".scope\n", -EINVAL, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "bad lines skipped", "x:y\nabc::/docker/" ID_F "\n:memory:/docker/" ID_F "\n0::/system.slice/docker-" ID_D ".scope",
	  0, ID_D, "", RL_RUNTIME_DOCKER, RL_QOS_NONE },
	{ "cut inside the ID", "0::/system.slice/docker-41f1687472edc8d4e10f2a50840fb07acae4fba01e358753b9ca0", 0, "", "",
	  RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "cut inside the pod slice",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod26c49732_d74d_42", 0, "", "",
	  RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "cut before .scope", "0::/system.slice/docker-" ID_D ".sco", 0, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "65 hex digits", "0::/docker/" ID_D "0\n", 0, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "non-hex in ID", "0::/system.slice/docker-41f1687472edc8d4e10f2a50840fb07acae4fba01e358753b9ca00899b86136z.scope\n",
	  0, "", "", RL_RUNTIME_NONE, RL_QOS_NONE },
	{ "UID dashes misplaced",
	  "0::/kubepods.slice/kubepods-pod26c4973_2d74d_42ab_9343_9b51bf16eed9.slice/cri-containerd-" ID_A ".scope\n",
	  0, ID_A, "", RL_RUNTIME_CONTAINERD, RL_QOS_NONE },
};

static void test_parse_table(void **state)
{
	unsigned failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cgcase *c = &cases[i];
		struct rl_container out;
		int err;

		memset(&out, 0x5a, sizeof(out));
		err = rl_cgroup_parse(c->text, &out);
		if (err != c->err || strcmp(out.id, c->id) || strcmp(out.pod_uid, c->uid) || out.runtime != c->rt ||
		    out.qos != c->qos) {
			print_error("case \"%s\": got err=%d id=%s uid=%s runtime=%s qos=%s\n", c->name, err, out.id,
				    out.pod_uid, rl_runtime_name(out.runtime), rl_qos_name(out.qos));
			failed++;
		}
	}
	assert_int_equal(failed, 0);
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 20);
}

/* A path longer than PATH_MAX is refused, alone; a good line beside it still counts. */
static void test_overlong(void **state)
{
	size_t n = PATH_MAX + 100;
	char *text = malloc(n + 200), *p = text;
	struct rl_container out;

	assert_non_null(text);
	p += sprintf(p, "0::/");
	memset(p, 'a', n);
	p[n] = '\0';
	assert_int_equal(rl_cgroup_parse(text, &out), -ENAMETOOLONG);
	assert_string_equal(out.id, "");
	strcat(p, "\n4:memory:/docker/" ID_D "\n");
	assert_int_equal(rl_cgroup_parse(text, &out), 0);
	assert_string_equal(out.id, ID_D);
	assert_int_equal(rl_cgroup_from_path(text + 3, &out), -ENAMETOOLONG);
	free(text);
}

static void test_from_path(void **state)
{
	struct rl_container out;

	assert_int_equal(rl_cgroup_from_path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_
					     ".slice/cri-containerd-" ID_A ".scope",
					     &out),
			 0);
	assert_string_equal(out.id, ID_A);
	assert_string_equal(out.pod_uid, UID1);
	assert_int_equal(out.qos, RL_QOS_BURSTABLE);
	assert_int_equal(rl_cgroup_from_path("/", &out), 0);
	assert_string_equal(out.id, "");
	assert_int_equal(rl_cgroup_from_path("", &out), -EINVAL);
	assert_int_equal(rl_cgroup_from_path("docker/" ID_D, &out), -EINVAL);
	assert_int_equal(rl_cgroup_from_path(NULL, &out), -EINVAL);
	assert_int_equal(rl_cgroup_from_path("/", NULL), -EINVAL);
	assert_int_equal(rl_cgroup_parse(NULL, &out), -EINVAL);
	assert_int_equal(rl_cgroup_parse("0::/", NULL), -EINVAL);
}

static void test_names(void **state)
{
	assert_string_equal(rl_runtime_name(RL_RUNTIME_CONTAINERD), "containerd");
	assert_string_equal(rl_runtime_name(RL_RUNTIME_CRIO), "cri-o");
	assert_string_equal(rl_runtime_name(RL_RUNTIME_DOCKER), "docker");
	assert_string_equal(rl_runtime_name(RL_RUNTIME_PODMAN), "podman");
	assert_string_equal(rl_runtime_name(RL_RUNTIME_UNKNOWN), "unknown");
	assert_string_equal(rl_runtime_name(RL_RUNTIME_NONE), "");
	assert_string_equal(rl_qos_name(RL_QOS_GUARANTEED), "guaranteed");
	assert_string_equal(rl_qos_name(RL_QOS_BURSTABLE), "burstable");
	assert_string_equal(rl_qos_name(RL_QOS_BESTEFFORT), "besteffort");
	assert_string_equal(rl_qos_name(RL_QOS_NONE), "");
}

static char *slurp(const char *path)
{
	static char buf[16384];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

/* Our own process: the same answer as parsing the file ourselves. */
static void test_of_pid(void **state)
{
	struct rl_container a, b;
	char *text = slurp("/proc/self/cgroup");
	pid_t child;
	int status;

	assert_non_null(text);
	assert_int_equal(rl_cgroup_parse(text, &a), 0);
	assert_int_equal(rl_cgroup_of_pid(getpid(), &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(rl_cgroup_of_pid(0, &b), -EINVAL);
	assert_int_equal(rl_cgroup_of_pid(-1, &b), -EINVAL);
	/* A reaped child's PID is free: the process is gone. */
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(rl_cgroup_of_pid(child, &b), -ENOENT);
}

static char tree[] = "/tmp/reqlens-cgroup-test.XXXXXX";

static uint64_t mkdir_ino(const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", tree, rel);
	if (mkdir(path, 0755) && errno != EEXIST)
		return 0;
	if (stat(path, &st))
		return 0;
	return st.st_ino;
}

static void rm_tree(const char *rel)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s%s'", tree, rel);
	if (system(cmd))
		print_error("cannot remove %s%s\n", tree, rel);
}

/* The walk over a scratch tree shaped like a kubelet's hierarchy. */
static void test_id_path_tree(void **state)
{
	const char *leaf = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_
			   ".slice/cri-containerd-" ID_A ".scope";
	uint64_t root_ino, qos_ino, leaf_ino, late_ino;
	struct rl_container c;
	char path[PATH_MAX], small[8];
	struct timespec pause = { 1, 100 * 1000 * 1000 };

	assert_non_null(mkdtemp(tree));
	root_ino = mkdir_ino("");
	assert_true(mkdir_ino("/kubepods.slice") != 0);
	qos_ino = mkdir_ino("/kubepods.slice/kubepods-burstable.slice");
	assert_true(mkdir_ino("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_ ".slice") != 0);
	leaf_ino = mkdir_ino(leaf);
	assert_true(root_ino && qos_ino && leaf_ino);
	assert_int_equal(rl_cgroup_set_root(tree), 0);

	assert_int_equal(rl_cgroup_id_path(leaf_ino, path, sizeof(path)), 0);
	assert_string_equal(path, leaf);
	assert_int_equal(rl_cgroup_from_path(path, &c), 0);
	assert_string_equal(c.id, ID_A);
	assert_string_equal(c.pod_uid, UID1);
	assert_int_equal(rl_cgroup_id_path(qos_ino, path, sizeof(path)), 0);
	assert_string_equal(path, "/kubepods.slice/kubepods-burstable.slice");
	assert_int_equal(rl_cgroup_id_path(root_ino, path, sizeof(path)), 0);
	assert_string_equal(path, "/");
	assert_int_equal(rl_cgroup_id_path(leaf_ino, small, sizeof(small)), -ENOSPC);
	assert_int_equal(rl_cgroup_id_path(leaf_ino, NULL, 10), -EINVAL);

	/* A cgroup made after the walk: unknown until a second has passed, then found. */
	late_ino = mkdir_ino("/system.slice");
	assert_true(late_ino != 0);
	assert_int_equal(rl_cgroup_id_path(late_ino, path, sizeof(path)), -ENOENT);
	nanosleep(&pause, NULL);
	assert_int_equal(rl_cgroup_id_path(late_ino, path, sizeof(path)), 0);
	assert_string_equal(path, "/system.slice");
	/* Known IDs stay answered from the cache. */
	assert_int_equal(rl_cgroup_id_path(leaf_ino, path, sizeof(path)), 0);

	assert_int_equal(rl_cgroup_set_root(""), -EINVAL);
	assert_int_equal(rl_cgroup_set_root(NULL), 0);
	rm_tree("");
	rl_cgroup_cache_free();
}

/* This machine's own v2 hierarchy, found through /proc/self/mountinfo. */
static void test_id_path_real(void **state)
{
	const char *mounts[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	char *text, *line, want[PATH_MAX], full[PATH_MAX * 2], got[PATH_MAX];
	const char *mnt = NULL;
	struct stat st;

	for (size_t i = 0; i < 2; i++) {
		snprintf(full, sizeof(full), "%s/cgroup.controllers", mounts[i]);
		if (!access(full, F_OK))
			mnt = mounts[i];
	}
	text = slurp("/proc/self/cgroup");
	line = text ? strstr(text, "0::/") : NULL;
	if (!mnt || !line || (line != text && line[-1] != '\n'))
		skip();
	snprintf(want, sizeof(want), "%.*s", (int)strcspn(line + 3, "\n"), line + 3);
	snprintf(full, sizeof(full), "%s%s", mnt, want);
	/* In a cgroup namespace or a container, our cgroup may not be under this mount. */
	if (stat(full, &st))
		skip();
	rl_cgroup_cache_free();
	assert_int_equal(rl_cgroup_id_path(st.st_ino, got, sizeof(got)), 0);
	assert_string_equal(got, want);
	/* An ID no cgroup has: a miss, answered quickly from the rate limit the second time. */
	assert_int_equal(rl_cgroup_id_path(UINT64_MAX - 1, got, sizeof(got)), -ENOENT);
	assert_int_equal(rl_cgroup_id_path(UINT64_MAX - 1, got, sizeof(got)), -ENOENT);
	rl_cgroup_cache_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_from_path),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_of_pid),
		cmocka_unit_test(test_id_path_tree),
		cmocka_unit_test(test_id_path_real),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
