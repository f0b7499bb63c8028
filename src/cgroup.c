// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Container and pod from cgroup paths; cgroup v2 IDs to paths. See cgroup.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

/* /proc/PID/cgroup is a few hundred bytes per hierarchy; 16 KiB holds a dozen v1 hierarchies of deep paths. */
#define PROC_CGROUP_MAX (16 * 1024)
/* Deeper than any runtime nests; bounds the walk's recursion and open descriptors. */
#define WALK_MAX_DEPTH 32
/* A node runs a few thousand cgroups at most; past this the walk stops instead of eating memory. */
#define CACHE_MAX_ENTRIES (1u << 16)

/* ------------------------------------------------------------------ names */

const char *rl_runtime_name(enum rl_runtime rt)
{
	switch (rt) {
	case RL_RUNTIME_UNKNOWN: return "unknown";
	case RL_RUNTIME_CONTAINERD: return "containerd";
	case RL_RUNTIME_CRIO: return "cri-o";
	case RL_RUNTIME_DOCKER: return "docker";
	case RL_RUNTIME_PODMAN: return "podman";
	case RL_RUNTIME_NONE: break;
	}
	return "";
}

const char *rl_qos_name(enum rl_qos qos)
{
	switch (qos) {
	case RL_QOS_GUARANTEED: return "guaranteed";
	case RL_QOS_BURSTABLE: return "burstable";
	case RL_QOS_BESTEFFORT: return "besteffort";
	case RL_QOS_NONE: break;
	}
	return "";
}

/* ------------------------------------------------------------ path forms */

/* A path component, not NUL-terminated: paths are parsed in place. */
struct span {
	const char *p;
	size_t n;
};

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && !memcmp(s.p, lit, n);
}

static bool span_prefix(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n >= n && !memcmp(s.p, lit, n);
}

static bool span_suffix(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n >= n && !memcmp(s.p + s.n - n, lit, n);
}

static bool span_contains(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	for (size_t i = 0; i + n <= s.n; i++)
		if (!memcmp(s.p + i, lit, n))
			return true;
	return false;
}

static struct span span_cut(struct span s, size_t head, size_t tail)
{
	struct span r = { s.p + head, s.n - head - tail };

	return r;
}

static bool all_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)p[i]))
			return false;
	return n > 0;
}

/* Exactly a container ID: 64 hex digits (what every runtime uses). */
static bool take_id(struct span s, char *out)
{
	if (s.n != RL_CONTAINER_ID_LEN || !all_hex(s.p, s.n))
		return false;
	for (size_t i = 0; i < s.n; i++)
		out[i] = (char)tolower((unsigned char)s.p[i]);
	out[s.n] = '\0';
	return true;
}

/*
 * A pod UID: a UUID (8-4-4-4-12) whose dashes systemd slice names turned
 * into underscores (a '-' there means nesting), or the 32 hex digits the
 * kubelet gives static pods. Stored with dashes, lowercase, as the API has it.
 */
static bool take_uid(struct span s, char *out)
{
	if (s.n == 32 && all_hex(s.p, s.n)) {
		for (size_t i = 0; i < s.n; i++)
			out[i] = (char)tolower((unsigned char)s.p[i]);
		out[s.n] = '\0';
		return true;
	}
	if (s.n != 36)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-' && c != '_')
				return false;
			out[i] = '-';
		} else if (isxdigit((unsigned char)c)) {
			out[i] = (char)tolower((unsigned char)c);
		} else {
			return false;
		}
	}
	out[s.n] = '\0';
	return true;
}

/* Runtime prefixes of "<prefix>-<id>[.scope]" components; the conmon ones are monitors, not containers. */
static const struct {
	const char *prefix;
	enum rl_runtime rt;
	bool container;
} scope_forms[] = {
	{ "crio-conmon-", RL_RUNTIME_CRIO, false },
	{ "libpod-conmon-", RL_RUNTIME_PODMAN, false },
	{ "cri-containerd-", RL_RUNTIME_CONTAINERD, true },
	{ "crio-", RL_RUNTIME_CRIO, true },
	{ "docker-", RL_RUNTIME_DOCKER, true },
	{ "libpod-", RL_RUNTIME_PODMAN, true },
	{ "nerdctl-", RL_RUNTIME_CONTAINERD, true },
};

/*
 * The systemd driver's "<parent>:<prefix>:<id>" leaf, which appears when the
 * kubelet and the runtime disagree on the cgroup driver: the prefix names the
 * runtime, the ID follows.
 */
static const struct {
	const char *prefix;
	enum rl_runtime rt;
} colon_forms[] = {
	{ "cri-containerd", RL_RUNTIME_CONTAINERD },
	{ "crio", RL_RUNTIME_CRIO },
	{ "docker", RL_RUNTIME_DOCKER },
};

/* State carried down a path, component by component. */
struct walk_state {
	bool kubepods;		/* under the kubelet's hierarchy */
	enum rl_qos qos_slot;	/* a cgroupfs "burstable"/"besteffort" level just seen */
	struct span prev;	/* the previous component */
};

static enum rl_qos qos_of_slice_head(struct span head)
{
	if (span_suffix(head, "-burstable"))
		return RL_QOS_BURSTABLE;
	if (span_suffix(head, "-besteffort"))
		return RL_QOS_BESTEFFORT;
	return RL_QOS_GUARANTEED;
}

/* A pod level: "...kubepods[-qos]-pod<uid_>.slice" (systemd) or "pod<uid>" (cgroupfs). */
static bool try_pod(struct span c, const struct walk_state *st, struct rl_container *out)
{
	char uid[RL_POD_UID_MAX + 1];

	if (span_suffix(c, ".slice") && span_contains(c, "kubepods")) {
		struct span body = span_cut(c, 0, strlen(".slice"));
		size_t at = body.n;

		/* The last "-pod" starts the UID: the slice names every ancestor before it. */
		while (at >= 4 && memcmp(body.p + at - 4, "-pod", 4))
			at--;
		if (at < 4)
			return false;
		if (!take_uid(span_cut(body, at, 0), uid))
			return false;
		memcpy(out->pod_uid, uid, sizeof(uid));
		out->qos = qos_of_slice_head(span_cut(body, 0, body.n - at + 4));
		return true;
	}
	if (st->kubepods && span_prefix(c, "pod") && take_uid(span_cut(c, 3, 0), uid)) {
		memcpy(out->pod_uid, uid, sizeof(uid));
		out->qos = st->qos_slot != RL_QOS_NONE ? st->qos_slot : RL_QOS_GUARANTEED;
		return true;
	}
	return false;
}

/* A container level; the last one in a path wins, so nested containers name the innermost. */
static bool try_container(struct span c, const struct walk_state *st, struct rl_container *out)
{
	char id[RL_CONTAINER_ID_LEN + 1];
	struct span body = c;

	if (span_suffix(body, ".scope"))
		body = span_cut(body, 0, strlen(".scope"));
	for (size_t i = 0; i < sizeof(scope_forms) / sizeof(scope_forms[0]); i++) {
		if (!span_prefix(body, scope_forms[i].prefix))
			continue;
		if (!take_id(span_cut(body, strlen(scope_forms[i].prefix), 0), id))
			return false;
		if (!scope_forms[i].container) {
			/* The monitor sits beside the container, in the same pod: no container of its own. */
			out->id[0] = '\0';
			out->runtime = RL_RUNTIME_NONE;
			return true;
		}
		memcpy(out->id, id, sizeof(id));
		out->runtime = scope_forms[i].rt;
		return true;
	}
	/* cgroupfs drivers name the leaf by the bare ID: /docker/<id>, /kubepods/.../pod<uid>/<id>. */
	if (c.n == RL_CONTAINER_ID_LEN && take_id(c, id)) {
		memcpy(out->id, id, sizeof(id));
		out->runtime = span_eq(st->prev, "docker") ? RL_RUNTIME_DOCKER : RL_RUNTIME_UNKNOWN;
		return true;
	}
	return false;
}

static void take_component(struct span c, struct walk_state *st, struct rl_container *out)
{
	if (span_eq(c, "kubepods") || (span_suffix(c, ".slice") && span_contains(c, "kubepods")))
		st->kubepods = true;
	if (st->kubepods && span_eq(c, "burstable"))
		st->qos_slot = RL_QOS_BURSTABLE;
	else if (st->kubepods && span_eq(c, "besteffort"))
		st->qos_slot = RL_QOS_BESTEFFORT;
	if (!try_pod(c, st, out))
		try_container(c, st, out);
	st->prev = c;
}

/* "<parent>.slice:<prefix>:<id>": see colon_forms. */
static bool take_colon_leaf(struct span c, struct walk_state *st, struct rl_container *out)
{
	const char *c1 = memchr(c.p, ':', c.n), *c2;
	struct span parent, prefix, id;
	char hex[RL_CONTAINER_ID_LEN + 1];

	if (!c1)
		return false;
	c2 = memchr(c1 + 1, ':', (size_t)(c.p + c.n - c1 - 1));
	if (!c2)
		return false;
	parent = (struct span){ c.p, (size_t)(c1 - c.p) };
	prefix = (struct span){ c1 + 1, (size_t)(c2 - c1 - 1) };
	id = (struct span){ c2 + 1, (size_t)(c.p + c.n - c2 - 1) };
	take_component(parent, st, out);
	if (!take_id(id, hex))
		return true;
	for (size_t i = 0; i < sizeof(colon_forms) / sizeof(colon_forms[0]); i++) {
		if (span_eq(prefix, colon_forms[i].prefix)) {
			memcpy(out->id, hex, sizeof(hex));
			out->runtime = colon_forms[i].rt;
			break;
		}
	}
	return true;
}

static void clear(struct rl_container *out)
{
	memset(out, 0, sizeof(*out));
	out->runtime = RL_RUNTIME_NONE;
	out->qos = RL_QOS_NONE;
}

/* Parses one path of n bytes (not NUL-terminated). */
static int from_path_n(const char *path, size_t n, struct rl_container *out)
{
	struct walk_state st = { .kubepods = false, .qos_slot = RL_QOS_NONE };
	size_t i = 0;

	clear(out);
	if (n == 0 || path[0] != '/')
		return -EINVAL;
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	while (i < n) {
		struct span c;
		size_t j;

		while (i < n && path[i] == '/')
			i++;
		for (j = i; j < n && path[j] != '/'; j++)
			;
		c = (struct span){ path + i, j - i };
		i = j;
		if (!c.n)
			continue;
		if (!take_colon_leaf(c, &st, out))
			take_component(c, &st, out);
	}
	return 0;
}

int rl_cgroup_from_path(const char *v2path, struct rl_container *out)
{
	if (!out)
		return -EINVAL;
	if (!v2path) {
		clear(out);
		return -EINVAL;
	}
	return from_path_n(v2path, strnlen(v2path, PATH_MAX), out);
}

/* ------------------------------------------------------ /proc/PID/cgroup */

/* Lower is preferred: v2, then the v1 controllers every runtime places containers in. */
enum line_rank { RANK_V2, RANK_MEMORY, RANK_CPU, RANK_PIDS, RANK_SYSTEMD, RANK_OTHER_V1, RANK_NONE };

static bool controller_listed(struct span list, const char *name)
{
	size_t i = 0;

	while (i <= list.n) {
		size_t j = i;

		while (j < list.n && list.p[j] != ',')
			j++;
		if (span_eq((struct span){ list.p + i, j - i }, name))
			return true;
		i = j + 1;
	}
	return false;
}

static enum line_rank rank_of(struct span hier, struct span ctrl)
{
	if (span_eq(hier, "0") && ctrl.n == 0)
		return RANK_V2;
	if (controller_listed(ctrl, "memory"))
		return RANK_MEMORY;
	if (controller_listed(ctrl, "cpu"))
		return RANK_CPU;
	if (controller_listed(ctrl, "pids"))
		return RANK_PIDS;
	if (controller_listed(ctrl, "name=systemd"))
		return RANK_SYSTEMD;
	return RANK_OTHER_V1;
}

int rl_cgroup_parse(const char *text, struct rl_container *out)
{
	struct rl_container best, cur;
	enum line_rank best_rank = RANK_NONE;
	bool well_formed = false, overlong = false;
	const char *p, *end;

	if (!out)
		return -EINVAL;
	clear(out);
	if (!text)
		return -EINVAL;
	clear(&best);
	end = text + strlen(text);
	for (p = text; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *c1, *c2;
		struct span line, hier, ctrl, path;
		enum line_rank rank;
		int err;

		if (!eol)
			eol = end;
		line = (struct span){ p, (size_t)(eol - p) };
		p = eol + 1;
		c1 = memchr(line.p, ':', line.n);
		if (!c1)
			continue;
		c2 = memchr(c1 + 1, ':', (size_t)(line.p + line.n - c1 - 1));
		if (!c2)
			continue;
		hier = (struct span){ line.p, (size_t)(c1 - line.p) };
		ctrl = (struct span){ c1 + 1, (size_t)(c2 - c1 - 1) };
		path = (struct span){ c2 + 1, (size_t)(line.p + line.n - c2 - 1) };
		if (!hier.n || strspn(hier.p, "0123456789") < hier.n)
			continue;
		/* The kernel marks a removed cgroup so; the path before it still names the container. */
		if (span_suffix(path, " (deleted)"))
			path.n -= strlen(" (deleted)");
		err = from_path_n(path.p, path.n, &cur);
		if (err == -ENAMETOOLONG)
			overlong = true;
		if (err)
			continue;
		well_formed = true;
		rank = rank_of(hier, ctrl);
		if ((cur.id[0] || cur.pod_uid[0]) && rank < best_rank) {
			best = cur;
			best_rank = rank;
		}
	}
	if (!well_formed)
		return overlong ? -ENAMETOOLONG : -EINVAL;
	*out = best;
	return 0;
}

int rl_cgroup_of_pid(pid_t pid, struct rl_container *out)
{
	char path[64], buf[PROC_CGROUP_MAX];
	size_t len = 0;
	int fd, err = 0;

	if (!out)
		return -EINVAL;
	clear(out);
	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	/* procfs never blocks a read, but O_NONBLOCK keeps it so should anything else be mounted there. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* A process that exits between open and read reads as ESRCH. */
			err = errno == ESRCH ? -ENOENT : -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len == sizeof(buf) - 1) {
		/* Full buffer: the last line may be cut short, and a cut ID must not parse as another. */
		char *nl = strrchr(buf, '\n');

		if (nl)
			nl[1] = '\0';
	}
	err = rl_cgroup_parse(buf, out);
cleanup:
	close(fd);
	return err;
}

/* ------------------------------------------------- cgroup v2 ID → path */

struct id_slot {
	uint64_t id;	/* 0: empty; the kernel never hands out 0 */
	char *path;
};

struct id_table {
	struct id_slot *slots;
	size_t cap;	/* a power of two */
	size_t used;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct id_table cache;
static struct timespec last_walk;
static bool walked;
static char *root_override;

static size_t slot_of(uint64_t id, size_t cap)
{
	/* IDs are sequential inode numbers: mix them so they spread over the table. */
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

static void table_free(struct id_table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i].path);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static const char *table_get(const struct id_table *t, uint64_t id)
{
	if (!t->cap || !id)
		return NULL;
	for (size_t i = slot_of(id, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (t->slots[i].id == id)
			return t->slots[i].path;
		if (!t->slots[i].id)
			return NULL;
	}
}

static int table_put(struct id_table *t, uint64_t id, const char *path)
{
	size_t i;

	if (!id)
		return 0;
	/* Half full at most, so probes stay short and a free slot always ends them. */
	if ((t->used + 1) * 2 > t->cap) {
		struct id_table bigger = { .cap = t->cap ? t->cap * 2 : 256 };

		bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
		if (!bigger.slots)
			return -ENOMEM;
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->slots[k].id)
				continue;
			for (i = slot_of(t->slots[k].id, bigger.cap); bigger.slots[i].id; i = (i + 1) & (bigger.cap - 1))
				;
			bigger.slots[i] = t->slots[k];
		}
		bigger.used = t->used;
		free(t->slots);
		*t = bigger;
	}
	for (i = slot_of(id, t->cap); t->slots[i].id; i = (i + 1) & (t->cap - 1))
		if (t->slots[i].id == id)
			return 0;
	t->slots[i].path = strdup(path);
	if (!t->slots[i].path)
		return -ENOMEM;
	t->slots[i].id = id;
	t->used++;
	return 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space, \011, \012, \134) in place. */
static void unescape_mountinfo(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * The cgroup2 mount to walk, and the hierarchy path it shows (its mountinfo
 * root, "" for the hierarchy's root). /sys/fs/cgroup (pure v2) and
 * /sys/fs/cgroup/unified (hybrid) win over other cgroup2 mounts, which may
 * be bind mounts of a subtree.
 */
static int find_v2_mount(char *dir, size_t dlen, char *hroot, size_t hlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int best = 0, err = -ENODEV;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *root, *mnt, *tok, *sep = strstr(line, " - ");
		int score;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		*sep = '\0';
		/* id parent major:minor root mountpoint options... */
		if (!strtok_r(line, " ", &save) || !strtok_r(NULL, " ", &save) || !strtok_r(NULL, " ", &save))
			continue;
		root = strtok_r(NULL, " ", &save);
		mnt = strtok_r(NULL, " ", &save);
		if (!root || !mnt)
			continue;
		unescape_mountinfo(root);
		unescape_mountinfo(mnt);
		score = !strcmp(mnt, "/sys/fs/cgroup") ? 3 : !strcmp(mnt, "/sys/fs/cgroup/unified") ? 2 : 1;
		if (score <= best)
			continue;
		if (strlen(mnt) >= dlen)
			continue;
		best = score;
		strcpy(dir, mnt);
		/*
		 * A root outside this cgroup namespace shows as "/../.."; paths
		 * are then only meaningful relative to the mount, as
		 * /proc/PID/cgroup shows them in this namespace.
		 */
		tok = root;
		if (!strcmp(tok, "/") || strstr(tok, "/..") || strlen(tok) >= hlen)
			tok = "";
		strcpy(hroot, tok);
		err = 0;
	}
	free(line);
	fclose(f);
	return err;
}

struct walker {
	struct id_table *t;
	char path[PATH_MAX];	/* hierarchy path of the directory being read */
	int err;
};

/* Adds every directory under dfd (whose hierarchy path is w->path, len bytes); closes dfd. */
static void walk_dir(struct walker *w, int dfd, size_t len, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while (!w->err && (de = readdir(d))) {
		size_t nlen = strlen(de->d_name);
		bool dir = de->d_type == DT_DIR;
		int fd;

		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			dir = !fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) && S_ISDIR(st.st_mode);
		}
		if (!dir || len + 1 + nlen >= sizeof(w->path))
			continue;
		if (w->t->used >= CACHE_MAX_ENTRIES) {
			w->err = -E2BIG;
			break;
		}
		w->path[len] = '/';
		memcpy(w->path + len + 1, de->d_name, nlen + 1);
		/* A cgroup's ID is its directory's inode number, which readdir already gives. */
		w->err = table_put(w->t, de->d_ino, w->path);
		if (w->err || depth + 1 >= WALK_MAX_DEPTH)
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* Gone since readdir: a cgroup removed mid-walk is simply not there. */
		if (fd >= 0)
			walk_dir(w, fd, len + 1 + nlen, depth + 1);
	}
	w->path[len] = '\0';
	closedir(d);
}

/* Rebuilds the cache from the hierarchy; called with cache_lock held. */
static int walk_locked(void)
{
	struct walker *w = calloc(1, sizeof(*w));
	struct id_table fresh = { 0 };
	char dir[PATH_MAX], hroot[PATH_MAX];
	struct stat st;
	int fd, err;

	if (!w)
		return -ENOMEM;
	if (root_override) {
		snprintf(dir, sizeof(dir), "%s", root_override);
		hroot[0] = '\0';
	} else {
		err = find_v2_mount(dir, sizeof(dir), hroot, sizeof(hroot));
		if (err)
			goto cleanup;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		goto cleanup;
	}
	w->t = &fresh;
	snprintf(w->path, sizeof(w->path), "%s", hroot);
	err = table_put(&fresh, st.st_ino, hroot[0] ? hroot : "/");
	if (!err) {
		walk_dir(w, fd, strlen(w->path), 0);
		/* A full table still maps what it holds: better than nothing. */
		err = w->err == -E2BIG ? 0 : w->err;
	} else {
		close(fd);
	}
	if (!err) {
		table_free(&cache);
		cache = fresh;
		fresh = (struct id_table){ 0 };
	}
cleanup:
	table_free(&fresh);
	free(w);
	return err;
}

static bool walk_due(void)
{
	struct timespec now;
	int64_t ms;

	if (!walked)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(now.tv_sec - last_walk.tv_sec) * 1000 + (now.tv_nsec - last_walk.tv_nsec) / 1000000;
	return ms >= 1000;
}

int rl_cgroup_id_path(uint64_t cgroup_id, char *path, size_t len)
{
	const char *hit;
	int err = 0;

	if (!path || !len)
		return -EINVAL;
	path[0] = '\0';
	pthread_mutex_lock(&cache_lock);
	hit = table_get(&cache, cgroup_id);
	if (!hit && walk_due()) {
		/* Every miss could be a new cgroup; walking at most once a second bounds the cost of IDs that never resolve. */
		err = walk_locked();
		walked = true;
		clock_gettime(CLOCK_MONOTONIC, &last_walk);
		if (!err)
			hit = table_get(&cache, cgroup_id);
	}
	if (!err && !hit)
		err = -ENOENT;
	if (!err && strlen(hit) >= len)
		err = -ENOSPC;
	if (!err)
		strcpy(path, hit);
	pthread_mutex_unlock(&cache_lock);
	return err;
}

int rl_cgroup_set_root(const char *v2_mount_dir)
{
	char *copy = NULL;

	if (v2_mount_dir) {
		if (!v2_mount_dir[0])
			return -EINVAL;
		if (strlen(v2_mount_dir) >= PATH_MAX)
			return -ENAMETOOLONG;
		copy = strdup(v2_mount_dir);
		if (!copy)
			return -ENOMEM;
	}
	pthread_mutex_lock(&cache_lock);
	free(root_override);
	root_override = copy;
	table_free(&cache);
	walked = false;
	pthread_mutex_unlock(&cache_lock);
	return 0;
}

void rl_cgroup_cache_free(void)
{
	pthread_mutex_lock(&cache_lock);
	table_free(&cache);
	free(root_override);
	root_override = NULL;
	walked = false;
	pthread_mutex_unlock(&cache_lock);
}
