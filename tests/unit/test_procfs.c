// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Opening other processes' files: symlinks and ".." stay inside a root
 * (with openat2 and with the hand walk), FIFOs and devices are refused
 * without blocking, processes are found by name and by executable, and a
 * process chrooted in its own mount namespace (a stand-in container) has
 * its files opened through /proc/PID/root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
/*
 * <linux/sched.h>, not <sched.h>: with -Isrc, src/sched.h (the scheduler
 * metrics module) shadows the C library's header.
 */
#include <linux/sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "procfs.h"

static char tmpdir[256];
static char root[300];		/* the fake root: tmpdir/root */
static int rootfd = -1;
static char sleeper[320];	/* a static binary that waits to be killed */
/*
 * Process names of this run (with its pid): another run's leftovers, or a
 * run in parallel, must not be counted.
 */
static char n_short[16], n_res[16], n_ctr[16], n_long[64], n_long_other[64];

/* The two ways rl_open_in_root resolves. */
static const unsigned modes[] = { 0, RL_OPEN_WALK };
static const char *const mode_names[] = { "openat2", "walk" };

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc;
}

static void put_file(const char *rel, const char *text)
{
	char p[600];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void put_link(const char *rel, const char *target)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static const char *fixture_src(void)
{
	static char p[PATH_MAX];
	char exe[PATH_MAX - 64], *slash;
	ssize_t r;

	if (access("tests/fixtures/elf/sleeper.c", R_OK) == 0)
		return "tests/fixtures/elf/sleeper.c";
	r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (r < 0)
		return NULL;
	exe[r] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(p, sizeof(p), "%s/../../tests/fixtures/elf/sleeper.c", exe);
	return p;
}

static int setup(void **state)
{
	const char *src = fixture_src();
	char p[600];

	snprintf(n_short, sizeof(n_short), "rls%d", (int)getpid());
	snprintf(n_res, sizeof(n_res), "rlr%d", (int)getpid());
	snprintf(n_ctr, sizeof(n_ctr), "rlc%d", (int)getpid());
	/* Longer than the kernel's 15 bytes, alike in those. */
	snprintf(n_long, sizeof(n_long), "rl-test-long-%d-sleeper", (int)getpid());
	snprintf(n_long_other, sizeof(n_long_other), "rl-test-long-%d-other", (int)getpid());
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rl-test-procfs-XXXXXX");
	if (!mkdtemp(tmpdir) || !src)
		return -1;
	snprintf(sleeper, sizeof(sleeper), "%s/rl-sleeper", tmpdir);
	if (run("gcc -static -O2 -o %s %s", sleeper, src))
		return -1;
	snprintf(root, sizeof(root), "%s/root", tmpdir);
	mkdir(root, 0755);
	snprintf(p, sizeof(p), "%s/etc", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/usr", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/usr/lib", root);
	mkdir(p, 0755);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return rootfd < 0 ? -1 : 0;
}

static void stop_all(void);

static int teardown(void **state)
{
	stop_all();
	if (rootfd >= 0)
		close(rootfd);
	if (tmpdir[0])
		run("rm -rf '%s'", tmpdir);
	return 0;
}

/* Opens PATH in the fake root and returns its first line ("" when it failed: err). */
static int read_in_root(unsigned mode, const char *path, char *out, size_t len)
{
	ssize_t r;
	int fd, err;

	out[0] = '\0';
	err = rl_open_in_root(rootfd, path, mode, &fd);
	if (err)
		return err;
	r = read(fd, out, len - 1);
	close(fd);
	assert_true(r >= 0);
	out[r] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static void test_symlinks_stay_in_root(void **state)
{
	put_file("etc/passwd", "fake-passwd\n");
	put_file("usr/lib/libx.so", "fake-lib\n");
	put_link("abs", "/etc/passwd");				/* absolute: the root's /etc */
	put_link("up", "../../../../../../etc/passwd");		/* relative escape */
	put_link("etc/deep", "../../../../etc/passwd");
	put_link("dir", "/etc");				/* a directory, then a name in it */
	put_link("lib", "usr/lib");
	put_link("chain1", "chain2");
	put_link("chain2", "/up");

	for (size_t m = 0; m < 2; m++) {
		static const char *const paths[] = {
			"abs", "/abs", "up", "etc/deep", "dir/passwd", "chain1", "/etc/passwd",
			"../../../../etc/passwd", "etc/../../../etc/passwd", "./etc//passwd", "dir/../etc/passwd",
		};
		char buf[64];

		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			int err = read_in_root(modes[m], paths[i], buf, sizeof(buf));

			if (err || strcmp(buf, "fake-passwd"))
				fail_msg("%s: %s gave %d \"%s\" (%s)", mode_names[m], paths[i], err, buf,
					 rl_proc_errmsg());
		}
		assert_int_equal(read_in_root(modes[m], "lib/libx.so", buf, sizeof(buf)), 0);
		assert_string_equal(buf, "fake-lib");
	}
}

static void test_errors(void **state)
{
	int fd;

	put_file("file", "x\n");
	put_link("loop1", "loop2");
	put_link("loop2", "/loop1");
	put_link("dangling", "/nowhere/at/all");
	for (size_t m = 0; m < 2; m++) {
		assert_int_equal(rl_open_in_root(rootfd, "missing", modes[m], &fd), -ENOENT);
		assert_int_equal(fd, -1);
		assert_int_equal(rl_open_in_root(rootfd, "dangling", modes[m], &fd), -ENOENT);
		assert_int_equal(rl_open_in_root(rootfd, "file/x", modes[m], &fd), -ENOTDIR);
		assert_int_equal(rl_open_in_root(rootfd, "file/", modes[m], &fd), -ENOTDIR);
		assert_int_equal(rl_open_in_root(rootfd, "loop1", modes[m], &fd), -ELOOP);
		print_message("%s: %s\n", mode_names[m], rl_proc_errmsg());
		/* The root itself, and any directory, are not regular files. */
		assert_int_equal(rl_open_in_root(rootfd, "/", modes[m], &fd), -EINVAL);
		assert_int_equal(rl_open_in_root(rootfd, "etc", modes[m], &fd), -EINVAL);
		assert_non_null(strstr(rl_proc_errmsg(), "directory"));
	}
	assert_int_equal(rl_open_in_root(rootfd, "", 0, &fd), -EINVAL);
}

/* The kernel's limit: 40 symlinks in one lookup. Both ways agree on it. */
static void test_symlink_limit(void **state)
{
	char name[32], target[32];
	int fd;

	put_file("end", "end\n");
	for (int i = 0; i < 41; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		if (i == 40)
			snprintf(target, sizeof(target), "end");
		else
			snprintf(target, sizeof(target), "h%d", i + 1);
		put_link(name, target);
	}
	for (size_t m = 0; m < 2; m++) {
		/* h1 .. h40: 40 links, the limit. */
		assert_int_equal(rl_open_in_root(rootfd, "h1", modes[m], &fd), 0);
		close(fd);
		/* h0: 41. */
		assert_int_equal(rl_open_in_root(rootfd, "h0", modes[m], &fd), -ELOOP);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_special_files_refused(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char p[600];
	int fd, s, cwd;

	snprintf(p, sizeof(p), "%s/fifo", root);
	assert_int_equal(mkfifo(p, 0644), 0);
	put_link("to-fifo", "/fifo");
	snprintf(p, sizeof(p), "%s/null", root);
	if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) != 0)
		print_message("mknod: %s (not root?): no device case\n", strerror(errno));
	/* A socket path is short: bind it from inside the root. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "sock");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	cwd = open(".", O_PATH | O_DIRECTORY);
	assert_true(cwd >= 0);
	assert_int_equal(chdir(root), 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);

	for (size_t m = 0; m < 2; m++) {
		double t0 = now_s();

		/* A FIFO with no writer: opening it for reading would block forever. */
		assert_int_equal(rl_open_in_root(rootfd, "fifo", modes[m], &fd), -EINVAL);
		assert_non_null(strstr(rl_proc_errmsg(), "FIFO"));
		assert_int_equal(rl_open_in_root(rootfd, "to-fifo", modes[m], &fd), -EINVAL);
		assert_true(now_s() - t0 < 1.0);
		if (access(p, F_OK) == 0) {
			assert_int_equal(rl_open_in_root(rootfd, "null", modes[m], &fd), -EINVAL);
			assert_non_null(strstr(rl_proc_errmsg(), "character device"));
		}
		assert_int_equal(rl_open_in_root(rootfd, "sock", modes[m], &fd), -EINVAL);
		assert_non_null(strstr(rl_proc_errmsg(), "socket"));
	}
	close(s);
}

/*
 * Magic links (/proc/PID/fd/N) are never followed: openat2 refuses them, the
 * walk reads them as text ("pipe:[123]"), which names nothing in the root.
 */
static void test_magic_links(void **state)
{
	int hostroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), pfd[2], fd, err;
	char p[64];

	assert_true(hostroot >= 0);
	assert_int_equal(pipe(pfd), 0);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", pfd[0]);
	err = rl_open_in_root(hostroot, p, 0, &fd);
	assert_true(err == -ELOOP || err == -ENOENT);
	assert_int_equal(rl_open_in_root(hostroot, p, RL_OPEN_WALK, &fd), -ENOENT);
	close(pfd[0]);
	close(pfd[1]);
	close(hostroot);
}

/* Every child started, killed by teardown even when a test failed midway. */
static pid_t children[16];
static size_t nchildren;

/*
 * fork() for a child that must not outlive the test nor hold its output:
 * it dies with the test (PR_SET_PDEATHSIG survives exec) and its stdout and
 * stderr are /dev/null (a runner reading them through a pipe would otherwise
 * wait for it).
 */
static pid_t spawn(void)
{
	pid_t parent = getpid(), pid;

	assert_true(nchildren < sizeof(children) / sizeof(children[0]));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
		return 0;
	}
	children[nchildren++] = pid;
	return pid;
}

static void stop(pid_t pid)
{
	for (size_t i = 0; i < nchildren; i++) {
		if (children[i] == pid) {
			children[i] = children[--nchildren];
			break;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void stop_all(void)
{
	while (nchildren)
		stop(children[0]);
}

/* A copy of the sleeper named NAME under tmpdir, started; its pid. */
static pid_t start_copy(const char *name, char *path, size_t len)
{
	char exe[64], got[PATH_MAX];
	pid_t pid;

	snprintf(path, len, "%s/%s", tmpdir, name);
	assert_int_equal(run("cp %s %s", sleeper, path), 0);
	pid = spawn();
	if (pid == 0) {
		execl(path, name, (char *)NULL);
		_exit(127);
	}
	/* Until the exec is done. */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 400; i++) {
		ssize_t r = readlink(exe, got, sizeof(got) - 1);

		if (r > 0) {
			got[r] = '\0';
			if (!strcmp(got, path))
				return pid;
		}
		usleep(5000);
	}
	fail_msg("%s did not start", path);
	return -1;
}

static bool has_pid(const pid_t *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

static void same_file(int fd, const char *path)
{
	struct stat a, b;

	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_int_equal(a.st_dev, b.st_dev);
	assert_int_equal(a.st_ino, b.st_ino);
}

/*
 * A child's executable (not our own: valgrind fakes /proc/<its pid>/exe for
 * the program it runs).
 */
static void test_open_exe(void **state)
{
	char path[PATH_MAX], exe[64], name[16];
	pid_t pid;
	int fd;

	snprintf(name, sizeof(name), "rle%d", (int)getpid());
	pid = start_copy(name, path, sizeof(path));
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	assert_int_equal(rl_proc_open_exe(pid, &fd), 0);
	same_file(fd, path);
	same_file(fd, exe);
	close(fd);
	assert_int_equal(rl_proc_open_in_root(pid, path, &fd), 0);
	same_file(fd, path);
	close(fd);
	stop(pid);
	assert_int_equal(rl_proc_open_exe(999999999, &fd), -ENOENT);
	assert_non_null(strstr(rl_proc_errmsg(), "/proc/999999999/exe"));
	assert_int_equal(rl_proc_open_in_root(999999999, "/etc/passwd", &fd), -ENOENT);
}

static void test_find_processes(void **state)
{
	char shortp[PATH_MAX], longp[PATH_MAX], prefix[16], self[64];
	pid_t a = start_copy(n_short, shortp, sizeof(shortp));
	pid_t b = start_copy(n_long, longp, sizeof(longp));
	struct stat st;
	pid_t *v;
	size_t n;

	assert_int_equal(rl_proc_find_by_comm(n_short, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0], a);
	free(v);
	/* comm keeps 15 bytes; the whole name is checked against the executable. */
	assert_int_equal(rl_proc_find_by_comm(n_long, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0], b);
	free(v);
	assert_int_equal(rl_proc_find_by_comm(n_long_other, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	snprintf(prefix, sizeof(prefix), "%.15s", n_long);
	assert_int_equal(rl_proc_find_by_comm(prefix, &v, &n), 0);
	assert_true(has_pid(v, n, b));
	free(v);
	assert_int_equal(rl_proc_find_by_comm("a/b", &v, &n), -EINVAL);

	assert_int_equal(stat(shortp, &st), 0);
	assert_int_equal(rl_proc_find_by_exe(st.st_dev, st.st_ino, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0], a);
	free(v);
	/* Our own executable: at least us. */
	snprintf(self, sizeof(self), "/proc/%d/exe", (int)getpid());
	assert_int_equal(stat(self, &st), 0);
	assert_int_equal(rl_proc_find_by_exe(st.st_dev, st.st_ino, &v, &n), 0);
	assert_true(has_pid(v, n, getpid()));
	free(v);
	stop(a);
	stop(b);
}

static void test_resolve_binary(void **state)
{
	char p1[PATH_MAX], p2[PATH_MAX], want[PATH_MAX + 64];
	pid_t a = start_copy(n_res, p1, sizeof(p1));
	struct rl_binary *v;
	size_t n;

	/* A path: one result, in our namespace. */
	assert_int_equal(rl_proc_resolve_binary(p1, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].pid, 0);
	assert_int_equal(v[0].nprocs, 1);
	assert_string_equal(v[0].attach_path, p1);
	same_file(v[0].fd, p1);
	rl_binaries_free(v, n);

	/* A name: the process's executable, through its root. */
	assert_int_equal(rl_proc_resolve_binary(n_res, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].pid, a);
	assert_string_equal(v[0].path, p1);
	snprintf(want, sizeof(want), "/proc/%d/root%s", (int)a, p1);
	assert_string_equal(v[0].attach_path, want);
	same_file(v[0].fd, want);
	rl_binaries_free(v, n);

	/* Two processes of one binary: one inode, one probe. */
	{
		pid_t b = spawn();

		if (b == 0) {
			execl(p1, n_res, (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 400; i++) {
			pid_t *pv;
			size_t np;

			assert_int_equal(rl_proc_find_by_comm(n_res, &pv, &np), 0);
			free(pv);
			if (np == 2)
				break;
			usleep(5000);
		}
		assert_int_equal(rl_proc_resolve_binary(n_res, &v, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(v[0].nprocs, 2);
		rl_binaries_free(v, n);
		stop(b);
	}

	/* Deleted since it started: the kernel's /proc/PID/exe still names it. */
	assert_int_equal(unlink(p1), 0);
	assert_int_equal(rl_proc_resolve_binary(n_res, &v, &n), 0);
	assert_int_equal(n, 1);
	snprintf(want, sizeof(want), "/proc/%d/exe", (int)a);
	assert_string_equal(v[0].attach_path, want);
	same_file(v[0].fd, want);
	rl_binaries_free(v, n);
	stop(a);

	assert_int_equal(rl_proc_resolve_binary("rl-no-such-proc", &v, &n), -ENOENT);
	assert_null(v);
	print_message("%s\n", rl_proc_errmsg());
	snprintf(p2, sizeof(p2), "%s/nothing", tmpdir);
	assert_int_equal(rl_proc_resolve_binary(p2, &v, &n), -ENOENT);
	snprintf(p2, sizeof(p2), "%s/root/fifo", tmpdir);
	if (access(p2, F_OK) == 0)
		assert_int_equal(rl_proc_resolve_binary(p2, &v, &n), -EINVAL);
	assert_int_equal(rl_proc_resolve_binary("", &v, &n), -EINVAL);
}

static void test_uprobe_path(void **state)
{
	char out[64];

	assert_int_equal(rl_proc_uprobe_path(42, "/usr/sbin/nginx", out, sizeof(out)), 0);
	assert_string_equal(out, "/proc/42/root/usr/sbin/nginx");
	assert_int_equal(rl_proc_uprobe_path(42, "usr/sbin/nginx", out, sizeof(out)), -EINVAL);
	assert_int_equal(rl_proc_uprobe_path(42, "/a/very/long/path/that/does/not/fit/in/the/buffer/given",
					     out, sizeof(out)), -ENAMETOOLONG);
}

/* Writes text to path (in the child: no cmocka there). */
static int child_put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, text, strlen(text));
	close(fd);
	return w == (ssize_t)strlen(text) ? 0 : -1;
}

static int child_copy(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t r;

	if (in < 0 || out < 0)
		return -1;
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)r) != r)
			return -1;
	close(in);
	close(out);
	return r < 0 ? -1 : 0;
}

/*
 * A container without a container runtime: a child in a new mount namespace
 * mounts a tmpfs only it sees, bind-mounts a directory of it as /bin, fills
 * it, makes it its root and runs the sleeper from it. Its files exist for the
 * host only through /proc/PID/root, and its /etc/passwd is not the host's.
 * PIVOT: pivot_root(2) as runc does, so that the tmpfs is the root of its
 * mount namespace; else chroot(2) only.
 */
static pid_t start_container(bool pivot, char *ctr, size_t len)
{
	int pipefd[2], rc = -1;
	pid_t pid, *pv;
	size_t n = 0;
	ssize_t r;

	snprintf(ctr, len, "%s/%s", tmpdir, pivot ? "ctr-pivot" : "ctr-chroot");
	assert_int_equal(mkdir(ctr, 0755), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid = spawn();
	if (pid == 0) {
		static const char *const dirs[] = { "image", "bin", "etc", ".old" };
		char q[700];

		close(pipefd[0]);
		rc = 0;
		if (syscall(SYS_unshare, CLONE_NEWNS) || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL))
			rc = 1;
		if (!rc && mount("rl-test", ctr, "tmpfs", 0, "size=16m"))
			rc = 2;
		for (size_t i = 0; !rc && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			snprintf(q, sizeof(q), "%s/%s", ctr, dirs[i]);
			if (mkdir(q, 0755))
				rc = 3;
		}
		/* /bin is a bind mount of image/, as a runtime mounts volumes. */
		snprintf(q, sizeof(q), "%s/bin", ctr);
		if (!rc) {
			char src[700];

			snprintf(src, sizeof(src), "%s/image", ctr);
			if (mount(src, q, "none", MS_BIND, NULL))
				rc = 4;
		}
		snprintf(q, sizeof(q), "%s/bin/%s", ctr, n_ctr);
		if (!rc && child_copy(sleeper, q))
			rc = 5;
		snprintf(q, sizeof(q), "%s/etc/passwd", ctr);
		if (!rc && child_put(q, "container-passwd\n"))
			rc = 6;
		snprintf(q, sizeof(q), "%s/link", ctr);
		if (!rc && symlink("/etc/passwd", q))
			rc = 7;
		snprintf(q, sizeof(q), "%s/escape", ctr);
		if (!rc && symlink("../../../../../../../etc/passwd", q))
			rc = 8;
		if (!rc && pivot) {
			snprintf(q, sizeof(q), "%s/.old", ctr);
			if (syscall(SYS_pivot_root, ctr, q) || chdir("/") || umount2("/.old", MNT_DETACH))
				rc = 9;
		} else if (!rc && (chroot(ctr) || chdir("/"))) {
			rc = 10;
		}
		if (write(pipefd[1], &rc, sizeof(rc)) != sizeof(rc) || rc)
			_exit(rc);
		close(pipefd[1]);
		snprintf(q, sizeof(q), "/bin/%s", n_ctr);
		execl(q, n_ctr, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	r = read(pipefd[0], &rc, sizeof(rc));
	close(pipefd[0]);
	if (r != sizeof(rc) || rc) {
		stop(pid);
		print_message("mount namespace set-up failed at step %d: a sandbox without it?\n", rc);
		return -1;
	}
	/* Until the exec is done. */
	for (int i = 0; i < 400; i++) {
		assert_int_equal(rl_proc_find_by_comm(n_ctr, &pv, &n), 0);
		free(pv);
		if (n == 1)
			break;
		usleep(5000);
	}
	assert_int_equal(n, 1);
	return pid;
}

static void read_all(int fd, char *buf, size_t len)
{
	ssize_t r = read(fd, buf, len - 1);

	close(fd);
	buf[r > 0 ? r : 0] = '\0';
}

static void check_container(bool pivot)
{
	char ctr[300], exe[64], want[700], buf[64], host_path[700], in_ctr[64];
	struct rl_binary *v;
	struct stat st, ex;
	pid_t pid, *pv;
	size_t n;
	int fd;

	if (geteuid() != 0) {
		print_message("not root: no mount namespace\n");
		skip();
	}
	pid = start_container(pivot, ctr, sizeof(ctr));
	if (pid < 0)
		skip();

	/* The host sees an empty directory where the container has its files. */
	snprintf(host_path, sizeof(host_path), "%s/bin/%s", ctr, n_ctr);
	assert_int_equal(stat(host_path, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* Through its root: its own /etc/passwd, whatever the links say. */
	assert_int_equal(rl_proc_open_in_root(pid, "/link", &fd), 0);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "container-passwd\n");
	assert_int_equal(rl_proc_open_in_root(pid, "/escape", &fd), 0);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "container-passwd\n");
	assert_int_equal(rl_proc_open_in_root(pid, "/../../etc/passwd", &fd), 0);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "container-passwd\n");

	/* Its executable, by its path in there and by /proc/PID/exe. */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	assert_int_equal(stat(exe, &ex), 0);
	snprintf(in_ctr, sizeof(in_ctr), "/bin/%s", n_ctr);
	assert_int_equal(rl_proc_open_in_root(pid, in_ctr, &fd), 0);
	same_file(fd, exe);
	close(fd);
	assert_int_equal(rl_proc_open_exe(pid, &fd), 0);
	same_file(fd, exe);
	close(fd);
	assert_int_equal(rl_proc_find_by_exe(ex.st_dev, ex.st_ino, &pv, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pv[0], pid);
	free(pv);

	/* By name: the path for libbpf, which the kernel resolves from the host. */
	assert_int_equal(rl_proc_resolve_binary(n_ctr, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].pid, pid);
	if (pivot) {
		/* The kernel names it from the root of the process's namespace: its "/". */
		assert_string_equal(v[0].path, in_ctr);
		snprintf(want, sizeof(want), "/proc/%d/root%s", (int)pid, in_ctr);
	} else {
		/*
		 * Chrooted inside its namespace: readlink(/proc/PID/exe) names it
		 * from the namespace's root, not the chroot, so that path opens
		 * nothing (or another file) in /proc/PID/root; then the exe link.
		 */
		assert_string_equal(v[0].path, host_path);
		snprintf(want, sizeof(want), "/proc/%d/exe", (int)pid);
	}
	assert_string_equal(v[0].attach_path, want);
	same_file(v[0].fd, want);
	same_file(v[0].fd, exe);
	print_message("%s: %s -> %s\n", pivot ? "pivot_root" : "chroot", v[0].path, v[0].attach_path);
	rl_binaries_free(v, n);
	stop(pid);
}

static void test_container_pivot_root(void **state)
{
	check_container(true);
}

static void test_container_chroot(void **state)
{
	check_container(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symlinks_stay_in_root),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_symlink_limit),
		cmocka_unit_test(test_special_files_refused),
		cmocka_unit_test(test_magic_links),
		cmocka_unit_test(test_open_exe),
		cmocka_unit_test(test_find_processes),
		cmocka_unit_test(test_resolve_binary),
		cmocka_unit_test(test_uprobe_path),
		cmocka_unit_test(test_container_pivot_root),
		cmocka_unit_test(test_container_chroot),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
