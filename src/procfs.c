// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Other processes' files through /proc (see procfs.h). The rule everywhere:
 * resolve with O_PATH (which opens nothing: no FIFO wait, no driver open),
 * check the inode is a regular file, and only then reopen it for reading.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procfs.h"

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
struct open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef SYS_openat2
#define SYS_openat2 437	/* the same on every architecture */
#endif

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
/* Directories a walk may be inside at once; deeper paths are -ENAMETOOLONG. */
#define WALK_MAX_DEPTH 256

static __thread char errmsg[1024];

const char *rl_proc_errmsg(void)
{
	return errmsg;
}

/* Records why, and returns err (a negative errno) for `return fail(...)`. */
__attribute__((format(printf, 2, 3))) static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return err;
}

static const char *file_kind(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symlink";
	default: return "not a regular file";
	}
}

/*
 * From an O_PATH descriptor (consumed) of something already resolved to a
 * regular file, to a readable one. Reopening through /proc/self/fd opens
 * exactly that inode, without resolving any name again.
 */
static int reopen_regular(int pathfd, const char *what, int *fd_out)
{
	struct stat st, st2;
	char self[64];
	int fd, err;

	if (fstat(pathfd, &st) < 0) {
		err = -errno;
		close(pathfd);
		return fail(err, "%s: %s", what, strerror(-err));
	}
	if (!S_ISREG(st.st_mode)) {
		close(pathfd);
		return fail(-EINVAL, "%s: %s, not a regular file", what, file_kind(st.st_mode));
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pathfd);
	fd = open(self, OPEN_FLAGS);
	err = fd < 0 ? -errno : 0;
	close(pathfd);
	if (fd < 0)
		return fail(err, "%s: %s", what, strerror(-err));
	if (fstat(fd, &st2) < 0 || !S_ISREG(st2.st_mode) || st2.st_dev != st.st_dev ||
	    st2.st_ino != st.st_ino) {
		close(fd);
		return fail(-EINVAL, "%s: changed while it was opened", what);
	}
	*fd_out = fd;
	return 0;
}

/* openat2 as an O_PATH lookup; -ENOSYS where the kernel (or a seccomp filter) lacks it. */
static int openat2_path(int root_fd, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

	if (fd < 0) {
		/* E2BIG / EINVAL: an older openat2 that does not know a flag used here. */
		if (errno == ENOSYS || errno == EPERM || errno == E2BIG)
			return -ENOSYS;
		return -errno;
	}
	return (int)fd;
}

struct walk {
	int stack[WALK_MAX_DEPTH];	/* stack[0] is the root (not ours to close) */
	int depth;			/* entries in stack */
};

static void walk_reset(struct walk *w)
{
	while (w->depth > 1)
		close(w->stack[--w->depth]);
}

/*
 * The fallback for kernels without openat2 (< 5.6): one component at a time,
 * each opened O_PATH|O_NOFOLLOW, so that a symlink is seen as a symlink and
 * resolved here: an absolute target restarts from the root, ".." never goes
 * above it. Magic links (/proc/PID/fd/N, ...) are read as plain text, never
 * followed. Returns an O_PATH descriptor of the result, or -errno.
 */
static int walk_path(int root_fd, const char *path)
{
	/* The path still to resolve; a symlink's target is put in front of it. */
	char rest[PATH_MAX * 2], target[PATH_MAX], tmp[PATH_MAX * 2];
	struct walk w = { .stack = { root_fd }, .depth = 1 };
	unsigned hops = 0;
	size_t restlen = strlen(path);
	char *p;
	int err = 0;

	if (restlen >= sizeof(rest))
		return -ENAMETOOLONG;
	memcpy(rest, path, restlen + 1);
	p = rest;

	for (;;) {
		char name[NAME_MAX + 1];
		size_t len;
		bool last;
		struct stat st;
		int fd;

		while (*p == '/')
			p++;
		if (!*p) {
			/* Ended on a directory (or the root): return it as O_PATH. */
			int cur = w.stack[w.depth - 1];

			fd = openat(cur, ".", O_PATH | O_CLOEXEC);
			err = fd < 0 ? -errno : fd;
			break;
		}
		len = strcspn(p, "/");
		if (len > NAME_MAX) {
			err = -ENAMETOOLONG;
			break;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		last = !p[strspn(p, "/")];

		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (w.depth > 1)	/* clamped: ".." of the root is the root */
				close(w.stack[--w.depth]);
			continue;
		}
		fd = openat(w.stack[w.depth - 1], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			break;
		}
		if (fstat(fd, &st) < 0) {
			err = -errno;
			close(fd);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t tl;
			int n;

			if (++hops > RL_PROC_MAX_SYMLINKS) {
				close(fd);
				err = -ELOOP;
				break;
			}
			tl = readlinkat(fd, "", target, sizeof(target));
			close(fd);
			if (tl < 0) {
				err = -errno;
				break;
			}
			if ((size_t)tl >= sizeof(target)) {
				err = -ENAMETOOLONG;
				break;
			}
			target[tl] = '\0';
			if (target[0] == '/')
				walk_reset(&w);
			/* target + what was left after the link ("" or "/..."). */
			n = snprintf(tmp, sizeof(tmp), "%s%s", target, p);
			if (n < 0 || (size_t)n >= sizeof(rest)) {
				err = -ENAMETOOLONG;
				break;
			}
			memcpy(rest, tmp, (size_t)n + 1);
			p = rest;
			continue;
		}
		if (last && !S_ISDIR(st.st_mode) && !*p) {
			err = fd;
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			err = -ENOTDIR;
			break;
		}
		if (w.depth >= WALK_MAX_DEPTH) {
			close(fd);
			err = -ENAMETOOLONG;
			break;
		}
		w.stack[w.depth++] = fd;
	}
	walk_reset(&w);
	return err;
}

int rl_open_in_root(int root_fd, const char *path, unsigned flags, int *fd_out)
{
	int pathfd = -ENOSYS;

	*fd_out = -1;
	if (!path || !*path)
		return fail(-EINVAL, "empty path");
	if (!(flags & RL_OPEN_WALK)) {
		/* -EAGAIN: a rename or mount raced a ".." under RESOLVE_IN_ROOT; again. */
		for (int i = 0; i < 8; i++) {
			pathfd = openat2_path(root_fd, path);
			if (pathfd != -EAGAIN)
				break;
		}
	}
	if (pathfd == -ENOSYS)
		pathfd = walk_path(root_fd, path);
	if (pathfd < 0) {
		if (pathfd == -ELOOP)
			return fail(pathfd, "%s: a symlink loop, more than %d symlinks, or a /proc magic link",
				    path, RL_PROC_MAX_SYMLINKS);
		return fail(pathfd, "%s: %s", path, strerror(-pathfd));
	}
	return reopen_regular(pathfd, path, fd_out);
}

int rl_proc_open_in_root(pid_t pid, const char *path, int *fd_out)
{
	char root[64], why[sizeof(errmsg)];
	int rootfd, err;

	*fd_out = -1;
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	/* The one magic link followed on purpose: it is the process's "/". */
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		err = -errno;
		return fail(err, "%s: %s", root, strerror(-err));
	}
	err = rl_open_in_root(rootfd, path, 0, fd_out);
	close(rootfd);
	if (err < 0) {
		/* Name the process in the reason: the path alone is ambiguous. */
		snprintf(why, sizeof(why), "%s", errmsg);
		fail(err, "process %d: %s", (int)pid, why);
	}
	return err;
}

int rl_proc_open_exe(pid_t pid, int *fd_out)
{
	char exe[64];
	int pathfd, err;

	*fd_out = -1;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	/*
	 * Following this magic link is the point: it is the kernel's own
	 * reference to the mapped executable, not a name the process chose.
	 */
	pathfd = open(exe, O_PATH | O_CLOEXEC);
	if (pathfd < 0) {
		err = -errno;
		return fail(err, "%s: %s", exe, strerror(-err));
	}
	return reopen_regular(pathfd, exe, fd_out);
}

/* Reads /proc/PID/NAME (small text files) into buf, without the trailing newline. */
static int read_proc_file(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r < 0)
		return -errno;
	while (r > 0 && buf[r - 1] == '\n')
		r--;
	buf[r] = '\0';
	return (int)r;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

struct pidvec {
	pid_t *v;
	size_t n, cap;
};

static int pidvec_push(struct pidvec *pv, pid_t pid)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 16;
		pid_t *v = realloc(pv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pv->v = v;
		pv->cap = cap;
	}
	pv->v[pv->n++] = pid;
	return 0;
}

/* Calls match(pid, arg) for every process in /proc; collects those it accepts. */
static int scan_procs(bool (*match)(pid_t, const void *), const void *arg, pid_t **pids, size_t *n)
{
	struct pidvec pv = { 0 };
	struct dirent *de;
	DIR *d;
	int err = 0;

	*pids = NULL;
	*n = 0;
	d = opendir("/proc");
	if (!d) {
		err = -errno;
		return fail(err, "/proc: %s", strerror(-err));
	}
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid > INT32_MAX)
			continue;
		if (!match((pid_t)pid, arg))
			continue;
		err = pidvec_push(&pv, (pid_t)pid);
		if (err) {
			fail(err, "out of memory");
			break;
		}
	}
	closedir(d);
	if (err) {
		free(pv.v);
		return err;
	}
	if (pv.n)
		qsort(pv.v, pv.n, sizeof(*pv.v), cmp_pid);
	*pids = pv.v;
	*n = pv.n;
	return 0;
}

struct devino {
	dev_t dev;
	ino_t ino;
};

static bool match_exe(pid_t pid, const void *arg)
{
	const struct devino *want = arg;
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	/* stat follows the magic link to the mapped inode (kernel threads have none). */
	return stat(path, &st) == 0 && st.st_dev == want->dev && st.st_ino == want->ino;
}

int rl_proc_find_by_exe(dev_t dev, ino_t ino, pid_t **pids, size_t *n)
{
	struct devino want = { dev, ino };

	return scan_procs(match_exe, &want, pids, n);
}

/* The kernel's TASK_COMM_LEN - 1. */
#define COMM_MAX 15

static bool match_comm(pid_t pid, const void *arg)
{
	const char *name = arg;
	char comm[64], exe[PATH_MAX], path[64];
	const char *base;
	ssize_t r;

	if (read_proc_file(pid, "comm", comm, sizeof(comm)) < 0)
		return false;
	if (strlen(name) <= COMM_MAX)
		return !strcmp(comm, name);
	if (strncmp(comm, name, COMM_MAX) || comm[COMM_MAX])
		return false;
	/* A truncated comm: the executable's file name must be the whole NAME. */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	r = readlink(path, exe, sizeof(exe) - 1);
	if (r < 0)
		return false;
	exe[r] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	return !strcmp(base, name);
}

int rl_proc_find_by_comm(const char *name, pid_t **pids, size_t *n)
{
	*pids = NULL;
	*n = 0;
	if (!name || !*name || strchr(name, '/'))
		return fail(-EINVAL, "\"%s\" is not a process name", name ? name : "");
	return scan_procs(match_comm, name, pids, n);
}

int rl_proc_uprobe_path(pid_t pid, const char *path_in_ns, char *out, size_t len)
{
	int r;

	if (!path_in_ns || path_in_ns[0] != '/')
		return fail(-EINVAL, "\"%s\" is not an absolute path", path_in_ns ? path_in_ns : "");
	r = snprintf(out, len, "/proc/%d/root%s", (int)pid, path_in_ns);
	if (r < 0 || (size_t)r >= len)
		return fail(-ENAMETOOLONG, "/proc/%d/root%s: too long", (int)pid, path_in_ns);
	return 0;
}

void rl_binaries_free(struct rl_binary *b, size_t n)
{
	if (!b)
		return;
	for (size_t i = 0; i < n; i++)
		if (b[i].fd >= 0)
			close(b[i].fd);
	free(b);
}

static int resolve_path(const char *arg, struct rl_binary **out, size_t *n)
{
	struct rl_binary *b;
	char abs[PATH_MAX];
	struct stat st;
	pid_t *pids;
	size_t np;
	int fd, rootfd, err;

	/* The agent's own namespace, where every symlink is the agent's to follow. */
	if (!realpath(arg, abs)) {
		err = -errno;
		return fail(err, "%s: %s", arg, strerror(-err));
	}
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		err = -errno;
		return fail(err, "/: %s", strerror(-err));
	}
	err = rl_open_in_root(rootfd, abs, 0, &fd);
	close(rootfd);
	if (err)
		return err;
	b = calloc(1, sizeof(*b));
	if (!b || fstat(fd, &st) < 0) {
		err = b ? -errno : -ENOMEM;
		free(b);
		close(fd);
		return fail(err, "%s: %s", arg, strerror(-err));
	}
	b->fd = fd;
	b->dev = st.st_dev;
	b->ino = st.st_ino;
	snprintf(b->path, sizeof(b->path), "%s", abs);
	snprintf(b->attach_path, sizeof(b->attach_path), "%s", abs);
	if (rl_proc_find_by_exe(st.st_dev, st.st_ino, &pids, &np) == 0) {
		b->nprocs = np;
		free(pids);
	}
	*out = b;
	*n = 1;
	return 0;
}

/* The executable of process PID, as one rl_binary. */
static int resolve_exe(pid_t pid, struct rl_binary *b)
{
	char exe[64], path[PATH_MAX];
	struct stat want, st;
	ssize_t r;
	int fd = -1, err;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	if (stat(exe, &want) < 0) {
		err = -errno;
		return fail(err, "%s: %s", exe, strerror(-err));
	}
	r = readlink(exe, path, sizeof(path) - 1);
	if (r < 0) {
		err = -errno;
		return fail(err, "%s: %s", exe, strerror(-err));
	}
	path[r] = '\0';
	/*
	 * The path the process sees, opened in its root; used only when it
	 * still names the mapped inode (not " (deleted)", not replaced by an
	 * upgrade since).
	 */
	if (path[0] == '/' && rl_proc_open_in_root(pid, path, &fd) == 0) {
		if (fstat(fd, &st) < 0 || st.st_dev != want.st_dev || st.st_ino != want.st_ino) {
			close(fd);
			fd = -1;
		}
	}
	b->pid = pid;
	b->dev = want.st_dev;
	b->ino = want.st_ino;
	snprintf(b->path, sizeof(b->path), "%s", path);
	if (fd >= 0) {
		b->fd = fd;
		return rl_proc_uprobe_path(pid, path, b->attach_path, sizeof(b->attach_path));
	}
	/* The kernel follows /proc/PID/exe to the mapped inode, wherever it is. */
	err = rl_proc_open_exe(pid, &fd);
	if (err)
		return err;
	b->fd = fd;
	snprintf(b->attach_path, sizeof(b->attach_path), "%s", exe);
	return 0;
}

int rl_proc_resolve_binary(const char *arg, struct rl_binary **out, size_t *n)
{
	struct rl_binary *v = NULL;
	size_t nv = 0, np = 0;
	pid_t *pids = NULL;
	int err, last = 0;

	*out = NULL;
	*n = 0;
	if (!arg || !*arg)
		return fail(-EINVAL, "empty binary name");
	if (strchr(arg, '/'))
		return resolve_path(arg, out, n);

	err = rl_proc_find_by_comm(arg, &pids, &np);
	if (err)
		return err;
	if (!np)
		return fail(-ENOENT, "no process named \"%s\"", arg);
	v = calloc(np, sizeof(*v));
	if (!v) {
		free(pids);
		return fail(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < np; i++) {
		char exe[64];
		struct stat st;
		size_t j;

		/* One entry per inode: a probe on it covers all its processes. */
		snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pids[i]);
		if (stat(exe, &st) < 0)
			continue;	/* exited meanwhile, or a kernel thread */
		for (j = 0; j < nv; j++)
			if (v[j].dev == st.st_dev && v[j].ino == st.st_ino)
				break;
		if (j < nv) {
			v[j].nprocs++;
			continue;
		}
		memset(&v[nv], 0, sizeof(v[nv]));
		v[nv].fd = -1;
		err = resolve_exe(pids[i], &v[nv]);
		if (err) {
			last = err;
			if (v[nv].fd >= 0)
				close(v[nv].fd);
			continue;
		}
		v[nv].nprocs = 1;
		nv++;
	}
	free(pids);
	if (!nv) {
		free(v);
		/* errmsg still says why the last one failed. */
		return last ? last : fail(-ENOENT, "no process named \"%s\" left", arg);
	}
	*out = v;
	*n = nv;
	return 0;
}
