// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpfobj.h"
#include "disasm.h"
#include "elf.h"
#include "func.h"
#include "func.skel.h"
#include "log.h"
#include "procfs.h"
#include "svc.h"
#include "reqlens/func.h"

/* What a function id stands for. */
struct func_info {
	char binary[64];	/* the file's base name: bounded, no PID */
	char function[192];
	bool point;		/* a lone USDT probe: counted, not timed */
};

/* A binary inode a spec is attached to, so that a rescan attaches new ones only. */
struct seen {
	unsigned spec;
	dev_t dev;
	ino_t ino;
};

struct rl_func {
	struct func_bpf *skel;
	const struct rl_config *cfg;
	pthread_mutex_t lock;	/* guards funcs, links and seen */
	struct func_info funcs[RL_MAX_FUNCS];
	unsigned nfuncs;
	struct bpf_link **links;
	size_t nlinks, links_cap;
	struct seen *seen;
	size_t nseen, seen_cap;
	pthread_t follower;
	bool follower_started;
	atomic_bool stop;
};

static int keep_link(struct rl_func *f, struct bpf_link *l)
{
	if (f->nlinks == f->links_cap) {
		size_t cap = f->links_cap ? f->links_cap * 2 : 64;
		struct bpf_link **n = realloc(f->links, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		f->links = n;
		f->links_cap = cap;
	}
	f->links[f->nlinks++] = l;
	return 0;
}

static int func_id(struct rl_func *f, const char *binary, const char *function, bool point)
{
	char copy[PATH_MAX];

	for (unsigned i = 0; i < f->nfuncs; i++)
		if (!strcmp(f->funcs[i].function, function) && f->funcs[i].point == point &&
		    !strcmp(f->funcs[i].binary, basename(strcpy(copy, binary))))
			return (int)i;
	if (f->nfuncs == RL_MAX_FUNCS)
		return -ENOSPC;
	snprintf(copy, sizeof(copy), "%s", binary);
	snprintf(f->funcs[f->nfuncs].binary, sizeof(f->funcs[0].binary), "%s", basename(copy));
	snprintf(f->funcs[f->nfuncs].function, sizeof(f->funcs[0].function), "%s", function);
	f->funcs[f->nfuncs].point = point;
	return (int)f->nfuncs++;
}

/* -1 (every process) unless --pid narrows it: then one attachment per pid. */
static unsigned target_pids(const struct rl_config *cfg, const uint32_t **pids)
{
	static const uint32_t all[] = { (uint32_t)-1 };

	if (cfg->npids) {
		*pids = cfg->pids;
		return cfg->npids;
	}
	*pids = all;
	return 1;
}

static int attach_at(struct rl_func *f, struct bpf_program *prog, const char *path, uint64_t offset,
		     bool ret, int id)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = ret, .bpf_cookie = (__u64)id);
	const uint32_t *pids;
	unsigned n = target_pids(f->cfg, &pids);

	for (unsigned i = 0; i < n; i++) {
		struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, (pid_t)pids[i], path,
								     (size_t)offset, &o);

		if (!l)
			return -errno;
		if (keep_link(f, l)) {
			bpf_link__destroy(l);
			return -ENOMEM;
		}
	}
	return 0;
}

/* A missing or wrong symbol, explained with what the binary has. */
static void explain_symbol(const struct rl_binary *b, const char *sym)
{
	char hint[512] = "";
	int kind = rl_elf_symbol_kind(b->fd, sym);

	if (kind == RL_ELF_SYM_NOT_FUNC) {
		rl_error("--uprobe: %s in %s is not a function", sym, b->path);
		return;
	}
	if (kind == RL_ELF_SYM_IMPORTED) {
		rl_error("--uprobe: %s is only imported by %s: probe the shared library that defines it",
			 sym, b->path);
		return;
	}
	rl_elf_suggest(b->fd, sym, hint, sizeof(hint));
	rl_error("--uprobe: no function matches %s in %s%s%s%s", sym, b->path,
		 hint[0] ? "; did you mean " : "", hint, hint[0] ? "?" : "");
}

static int attach_uprobes(struct rl_func *f, const struct rl_probe_spec *p, const struct rl_binary *b)
{
	struct rl_elf_sym *syms = NULL;
	size_t nsyms = 0;
	char gover[32];
	bool go = rl_elf_is_go(b->fd, gover, sizeof(gover));
	int err = rl_elf_symbols(b->fd, p->symbol, &syms, &nsyms);

	if (err == -EINVAL) {
		rl_error("--uprobe: %s is not an ELF file reqlens can read", b->path);
		return err;
	}
	if (!err && !nsyms) {
		explain_symbol(b, p->symbol);
		err = -ENOENT;
	}
	for (size_t i = 0; i < nsyms && !err; i++) {
		int id = func_id(f, b->path, syms[i].name, false);
		uint64_t *rets = NULL;
		size_t nrets = 0;

		if (id < 0) {
			rl_error("--uprobe: more than %d functions to probe", RL_MAX_FUNCS);
			err = id;
			break;
		}
		if (!go) {
			err = attach_at(f, f->skel->progs.rl_func_entry, b->attach_path, syms[i].offset,
					false, id);
			if (!err)
				err = attach_at(f, f->skel->progs.rl_func_exit, b->attach_path,
						syms[i].offset, true, id);
		} else {
			/*
			 * A uretprobe would corrupt the goroutine's moved stack:
			 * probe each return, and the entry past the stack check,
			 * which runs twice when the stack grows (disasm.h).
			 */
			struct rl_go_probes gp;

			err = rl_elf_go_probes(b->fd, &syms[i], &gp);
			rets = gp.returns;
			nrets = gp.nreturns;
			if (!err && !nrets)
				err = -ENOENT;
			if (!err && gp.entry_err == -ENOENT)
				rl_debug("%s in %s: %s: its entry probe is on its first instruction", syms[i].name,
					 b->path, gp.entry_why);
			else if (!err && gp.entry_err)
				rl_warn("%s in %s: its stack check was not recognised (%s): its entry probe is on "
					"its first instruction, which a call that grows the goroutine's stack runs "
					"twice", syms[i].name, b->path, gp.entry_why);
			if (!err)
				err = attach_at(f, f->skel->progs.rl_go_entry, b->attach_path,
						syms[i].offset + gp.entry, false, id);
			for (size_t r = 0; r < nrets && !err; r++)
				err = attach_at(f, f->skel->progs.rl_go_return, b->attach_path,
						syms[i].offset + rets[r], false, id);
			free(rets);
		}
		if (err == -EACCES || err == -EPERM)
			rl_error("--uprobe: attaching to %s in %s was refused (%s): uprobes need "
				 "CAP_SYS_ADMIN on kernels with the CVE-2025-38466 fix", syms[i].name,
				 b->path, strerror(-err));
		else if (err)
			rl_error("--uprobe: attaching to %s in %s failed: %s", syms[i].name, b->path,
				 strerror(-err));
		else
			rl_info("probing %s in %s%s%s (%zu process%s now)", syms[i].name, b->path,
				go ? ", a Go binary: its entry past the stack check, and each return instruction" : "", "",
				b->nprocs, b->nprocs == 1 ? "" : "es");
	}
	rl_elf_syms_free(syms, nsyms);
	return err;
}

/* A missing USDT probe, explained with the ones the binary has. */
static void explain_usdt(const struct rl_binary *b, const char *provider, const char *probe)
{
	char hint[512] = "";
	struct rl_elf_usdt *v;
	size_t n = 0;

	if (!rl_elf_usdt_probes(b->fd, &v, &n))
		free(v);
	if (!n) {
		rl_error("--usdt: %s has no USDT probes at all (no .note.stapsdt section), so not %s:%s",
			 b->path, provider, probe);
		return;
	}
	rl_elf_usdt_suggest(b->fd, provider, probe, hint, sizeof(hint));
	rl_error("--usdt: %s has no USDT probe %s:%s%s%s%s", b->path, provider, probe,
		 hint[0] ? "; did you mean " : "", hint, hint[0] ? "?" : "");
}

static int attach_usdt(struct rl_func *f, const struct rl_probe_spec *p, const struct rl_binary *b)
{
	const uint32_t *pids;
	unsigned npids = target_pids(f->cfg, &pids);
	char name[sizeof(p->provider) + sizeof(p->symbol) + sizeof(p->end) + 2];
	int id, err = 0;

	for (int end = 0; end < (p->end[0] ? 2 : 1); end++) {
		const char *probe = end ? p->end : p->symbol;

		int has = rl_elf_has_usdt(b->fd, p->provider, probe);

		if (has < 0) {
			rl_error("--usdt: %s: %s", b->path, rl_elf_errmsg());
			return has;
		}
		if (!has) {
			explain_usdt(b, p->provider, probe);
			return -ENOENT;
		}
	}
	snprintf(name, sizeof(name), "%s:%s%s%s", p->provider, p->symbol, p->end[0] ? "," : "", p->end);
	id = func_id(f, b->path, name, !p->end[0]);
	if (id < 0)
		return id;
	for (int end = 0; end < (p->end[0] ? 2 : 1) && !err; end++) {
		struct bpf_program *prog = !p->end[0] ? f->skel->progs.rl_usdt_point
					 : end ? f->skel->progs.rl_usdt_end : f->skel->progs.rl_usdt_start;
		LIBBPF_OPTS(bpf_usdt_opts, o, .usdt_cookie = (__u64)id);

		for (unsigned i = 0; i < npids && !err; i++) {
			struct bpf_link *l = bpf_program__attach_usdt(prog, (pid_t)pids[i], b->attach_path,
								      p->provider, end ? p->end : p->symbol, &o);

			if (!l)
				err = -errno;
			else if (keep_link(f, l))
				err = -ENOMEM;
		}
	}
	if (err)
		rl_error("--usdt: attaching %s in %s failed: %s", name, b->path, strerror(-err));
	return err;
}

static bool seen_before(struct rl_func *f, unsigned spec, const struct rl_binary *b)
{
	for (size_t i = 0; i < f->nseen; i++)
		if (f->seen[i].spec == spec && f->seen[i].dev == b->dev && f->seen[i].ino == b->ino)
			return true;
	return false;
}

static int remember(struct rl_func *f, unsigned spec, const struct rl_binary *b)
{
	if (f->nseen == f->seen_cap) {
		size_t cap = f->seen_cap ? f->seen_cap * 2 : 16;
		struct seen *n = realloc(f->seen, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		f->seen = n;
		f->seen_cap = cap;
	}
	f->seen[f->nseen++] = (struct seen){ .spec = spec, .dev = b->dev, .ino = b->ino };
	return 0;
}

/*
 * Attaches spec to every binary it resolves to that it is not attached to
 * yet. At start (initial) a path that does not exist is an error; a
 * process name with no process yet is not (later rescans find it).
 */
static int attach_spec(struct rl_func *f, unsigned spec, bool initial)
{
	const struct rl_probe_spec *p = &f->cfg->probes[spec];
	struct rl_binary *bins = NULL;
	size_t n = 0;
	int err = rl_proc_resolve_binary(p->binary, &bins, &n);

	if (err) {
		if (!initial)
			return 0;
		if (err == -ENOENT && !strchr(p->binary, '/')) {
			rl_warn("--%s: no process named %s yet: it is probed when one starts",
				p->usdt ? "usdt" : "uprobe", p->binary);
			return 0;
		}
		rl_error("--%s: cannot open %s: %s%s", p->usdt ? "usdt" : "uprobe", p->binary,
			 err == -ENOENT ? "no such file" : strerror(-err),
			 err == -EACCES || err == -EPERM
				 ? " (another user's binary needs CAP_DAC_READ_SEARCH, another process's "
				   "files CAP_SYS_PTRACE)" : "");
		return err;
	}
	for (size_t i = 0; i < n && !err; i++) {
		if (seen_before(f, spec, &bins[i]))
			continue;
		if (!initial)
			rl_info("following %s: a new binary at %s", p->binary, bins[i].path);
		err = p->usdt ? attach_usdt(f, p, &bins[i]) : attach_uprobes(f, p, &bins[i]);
		if (!err)
			err = remember(f, spec, &bins[i]);
	}
	rl_binaries_free(bins, n);
	return initial ? err : 0;
}

/*
 * A probe sits on an inode: a restarted process runs the same one, but a
 * binary replaced on disk (an upgrade) is a new inode. Every few seconds,
 * the specs are resolved again and new inodes get their probes.
 */
static void *follow(void *arg)
{
	struct rl_func *f = arg;

	while (!atomic_load(&f->stop)) {
		for (int i = 0; i < 20 && !atomic_load(&f->stop); i++)
			usleep(100 * 1000);
		pthread_mutex_lock(&f->lock);
		for (unsigned s = 0; s < f->cfg->nprobes && !atomic_load(&f->stop); s++)
			attach_spec(f, s, false);
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

void rl_func_stop(struct rl_func *f)
{
	if (!f)
		return;
	if (f->follower_started) {
		atomic_store(&f->stop, true);
		pthread_join(f->follower, NULL);
	}
	rl_links_destroy(f->links, f->nlinks);
	free(f->links);
	free(f->seen);
	func_bpf__destroy(f->skel);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int rl_func_start(const struct rl_config *cfg, int conns_fd, int serving_fd, struct rl_func **out)
{
	struct rl_func *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return -ENOMEM;
	f->cfg = cfg;
	pthread_mutex_init(&f->lock, NULL);
	f->skel = func_bpf__open();
	if (!f->skel) {
		err = -errno;
		rl_bpfobj_explain("opening the function BPF programs", err);
		goto fail;
	}
	f->skel->rodata->attribute = serving_fd >= 0;
	err = bpf_map__reuse_fd(f->skel->maps.conns, conns_fd);
	if (!err && serving_fd >= 0)
		err = bpf_map__reuse_fd(f->skel->maps.serving, serving_fd);
	if (!err)
		err = func_bpf__load(f->skel);
	if (err) {
		rl_bpfobj_explain("loading the function BPF programs", err);
		goto fail;
	}
	for (unsigned s = 0; s < cfg->nprobes && !err; s++)
		err = attach_spec(f, s, true);
	if (err)
		goto fail;
	err = -pthread_create(&f->follower, NULL, follow, f);
	if (err)
		goto fail;
	f->follower_started = true;
	*out = f;
	return 0;
fail:
	rl_func_stop(f);
	return err;
}

int rl_func_collect(struct rl_func *f, struct rl_registry *r)
{
	int fd = bpf_map__fd(f->skel->maps.func_hists);
	struct rl_func_hist_key key, next;
	int ncpu = libbpf_num_possible_cpus();
	struct rl_family *dur, *calls;
	struct rl_func_bucket *per_cpu;
	void *prev = NULL;
	int err = 0;

	dur = rl_family_get(r, "reqlens_function_duration_seconds",
			    "Duration of the probed functions (--uprobe) and USDT start/end pairs.",
			    RL_HISTOGRAM);
	calls = rl_family_get(r, "reqlens_function_calls_total",
			      "Calls of the probed functions, and hits of the probed USDT probes.",
			      RL_COUNTER);
	if (!dur || !calls || ncpu <= 0)
		return -ENOMEM;
	per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	pthread_mutex_lock(&f->lock);
	while (!err && !bpf_map_get_next_key(fd, prev, &next)) {
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		const struct func_info *fi;
		struct rl_func_bucket b = {};
		struct rl_sample *d, *c;

		key = next;
		prev = &key;
		if (key.func >= f->nfuncs || bpf_map_lookup_elem(fd, &key, per_cpu))
			continue;
		for (int i = 0; i < ncpu; i++) {
			b.count += per_cpu[i].count;
			b.sum_ns += per_cpu[i].sum_ns;
		}
		fi = &f->funcs[key.func];
		rl_svc_labels_kv(&key.svc, &names, kv, "binary", fi->binary, "function", fi->function, NULL);

		c = rl_sample_get(calls, kv);
		d = fi->point ? NULL : rl_sample_get(dur, kv);
		if (!c || (!fi->point && !d)) {
			err = -ENOMEM;
			break;
		}
		c->value += (double)b.count;
		if (d) {
			rl_hist_add(d->hist, key.bucket, b.count);
			d->hist->sum_ns += b.sum_ns;
		}
	}
	pthread_mutex_unlock(&f->lock);
	free(per_cpu);
	return err ? err : rl_bpfobj_collect_self(f->skel->obj, r);
}
