/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Other processes' files, as those processes see them, without trusting
 * anything the process controls: its mount namespace (a container's) is
 * reached through /proc/PID/root, and no symlink inside it, absolute or
 * "../..", can lead out of it. Everything opened here is a regular file,
 * opened O_RDONLY|O_CLOEXEC|O_NONBLOCK|O_NOCTTY: a FIFO, device, socket or
 * directory is refused (-EINVAL) before it is ever opened for reading, so
 * nothing here blocks on a FIFO or wakes a device driver.
 *
 * Errors are 0 / -errno. When a call fails, rl_proc_errmsg() says why in one
 * line ("/run/x.fifo: a FIFO, not a regular file"), as libelf's elf_errmsg()
 * does: per thread, valid until the next failing call of this module.
 */
#ifndef RL_PROCFS_H
#define RL_PROCFS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Symlinks followed in one resolution before -ELOOP, as the kernel's limit. */
#define RL_PROC_MAX_SYMLINKS 40

/* Why the last failing call of this module on this thread failed. */
const char *rl_proc_errmsg(void);

/* rl_open_in_root flags. */
enum {
	/* Skip openat2(2) and walk the path by hand (the pre-5.6 fallback). */
	RL_OPEN_WALK = 1u << 0,
};

/*
 * Opens PATH (absolute or relative, either way taken from the root) under
 * the directory ROOT_FD as if ROOT_FD were "/": "..", absolute symlinks and
 * "../" symlinks stop at it. openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
 * where the kernel has it, else a component-by-component walk with
 * O_NOFOLLOW that resolves each symlink itself, clamped to the root, at most
 * RL_PROC_MAX_SYMLINKS of them (-ELOOP past that). *fd_out: a regular file,
 * O_RDONLY|O_CLOEXEC|O_NONBLOCK|O_NOCTTY. -EINVAL for anything else.
 */
int rl_open_in_root(int root_fd, const char *path, unsigned flags, int *fd_out);

/* PATH as process PID sees it, through /proc/PID/root (see rl_open_in_root). */
int rl_proc_open_in_root(pid_t pid, const char *path, int *fd_out);

/*
 * The executable process PID runs: /proc/PID/exe names the very inode the
 * kernel mapped (even when deleted or replaced on disk since), whatever
 * mount namespace the process is in.
 */
int rl_proc_open_exe(pid_t pid, int *fd_out);

/*
 * PIDs of the processes whose executable is DEV/INO (stat of /proc/PID/exe,
 * which works across mount namespaces), ascending. *pids is malloc'ed (NULL
 * when *n is 0). Processes that vanish or deny access meanwhile are skipped.
 */
int rl_proc_find_by_exe(dev_t dev, ino_t ino, pid_t **pids, size_t *n);

/*
 * PIDs of the processes whose name (/proc/PID/comm) is NAME, ascending. The
 * kernel keeps 15 bytes of a name: a longer NAME matches a process whose comm
 * is its first 15 bytes and whose executable's file name is NAME.
 */
int rl_proc_find_by_comm(const char *name, pid_t **pids, size_t *n);

/*
 * The path libbpf should give the kernel to probe the file process PID sees
 * as PATH_IN_NS: "/proc/PID/root" + PATH_IN_NS. PATH_IN_NS must be absolute
 * and free of symlinks, as /proc/PID/maps and readlink(/proc/PID/exe) give
 * it: past /proc/PID/root the kernel would follow an absolute symlink from
 * the agent's root, not the process's. Those two name a file from the root
 * of the process's mount namespace, which is the process's "/" in a
 * container (runc and the like pivot_root) but not in a process that only
 * chroot()ed: open the result and compare its inode before trusting it, as
 * rl_proc_resolve_binary does. -ENAMETOOLONG when it does not fit.
 */
int rl_proc_uprobe_path(pid_t pid, const char *path_in_ns, char *out, size_t len);

/* One binary to probe (see rl_proc_resolve_binary). */
struct rl_binary {
	int fd;			/* opened safely; the caller closes it (rl_binaries_free does) */
	dev_t dev;		/* of the file */
	ino_t ino;
	pid_t pid;		/* a process running it; 0 for a path given on the host */
	size_t nprocs;		/* processes running it when it was resolved */
	char path[PATH_MAX];	/* as that process sees it (or the host path) */
	/*
	 * What to pass to bpf_program__attach_uprobe_opts() as binary_path:
	 * the host path, or "/proc/PID/root/<path>" for a process's file.
	 * The kernel resolves this path to an inode when the probe is
	 * attached and keeps the inode, not the path: the probe then fires in
	 * every process, of any namespace, that maps that inode, including
	 * ones started later, and for none that runs another copy of the
	 * program (another inode, such as a different container image layer).
	 */
	char attach_path[PATH_MAX + 32];
};

/*
 * BINARY as given on the command line. With a '/', it is a path in the
 * agent's own namespace (one result; pid 0). Otherwise it is a process name
 * (as rl_proc_find_by_comm): one result per distinct executable inode among
 * the processes of that name, each opened through /proc/PID/root of one of
 * them from the path readlink(/proc/PID/exe) gives, when that path opens the
 * very inode the process runs; otherwise (the file was deleted or replaced
 * since the process started, or the process is chrooted) from /proc/PID/exe
 * itself, and attach_path is "/proc/PID/exe", which the kernel follows to
 * the same inode. -ENOENT when no process has that name. Free *out with
 * rl_binaries_free.
 */
int rl_proc_resolve_binary(const char *arg, struct rl_binary **out, size_t *n);
void rl_binaries_free(struct rl_binary *b, size_t n);

#endif
