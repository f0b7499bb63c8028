// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
	bool usdt;
};

/* A binary inode a spec is attached to, so that a rescan attaches new ones only. */
struct seen {
	unsigned spec;
	dev_t dev;
	ino_t ino;
};

/* An attachment: a uprobe_multi link (fd), or a perf-event uprobe (libbpf's link). */
struct plink {
	int fd;
	struct bpf_link *link;
};

struct rl_func {
	struct func_bpf *skel;
	const struct rl_config *cfg;
	bool multi;		/* uprobe_multi links */
	pthread_mutex_t lock;	/* guards funcs, links and seen */
	struct func_info funcs[RL_MAX_FUNCS];
	unsigned nfuncs;
	struct plink *links;
	size_t nlinks, links_cap;
	struct seen *seen;
	size_t nseen, seen_cap;
	pthread_t follower;
	bool follower_started;
	atomic_bool stop;
};

static int keep_link(struct rl_func *f, int fd, struct bpf_link *l)
{
	if (f->nlinks == f->links_cap) {
		size_t cap = f->links_cap ? f->links_cap * 2 : 64;
		struct plink *n = realloc(f->links, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		f->links = n;
		f->links_cap = cap;
	}
	f->links[f->nlinks++] = (struct plink){ .fd = fd, .link = l };
	return 0;
}

static int func_id(struct rl_func *f, const char *binary, const char *function, bool point, bool usdt)
{
	char copy[PATH_MAX];

	for (unsigned i = 0; i < f->nfuncs; i++)
		if (!strcmp(f->funcs[i].function, function) && f->funcs[i].point == point &&
		    f->funcs[i].usdt == usdt && !strcmp(f->funcs[i].binary, basename(strcpy(copy, binary))))
			return (int)i;
	if (f->nfuncs == RL_MAX_FUNCS)
		return -ENOSPC;
	snprintf(copy, sizeof(copy), "%s", binary);
	snprintf(f->funcs[f->nfuncs].binary, sizeof(f->funcs[0].binary), "%s", basename(copy));
	snprintf(f->funcs[f->nfuncs].function, sizeof(f->funcs[0].function), "%s", function);
	f->funcs[f->nfuncs].point = point;
	f->funcs[f->nfuncs].usdt = usdt;
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

/* ---- uprobe_multi links (Linux 6.6+), which libbpf 1.1 does not know ---- */

#define RL_BPF_TRACE_UPROBE_MULTI 48	/* enum bpf_attach_type */
#define RL_BPF_F_UPROBE_MULTI_RETURN 1u

/*
 * union bpf_attr's link_create for BPF_TRACE_UPROBE_MULTI, as the kernel's
 * include/uapi/linux/bpf.h has it since 6.6 (pid since 6.6 too): the
 * fields that precede the union, then its uprobe_multi member.
 */
struct umulti_attr {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__aligned_u64 path;
	__aligned_u64 offsets;		/* unsigned long[cnt]: file offsets */
	__aligned_u64 ref_ctr_offsets;	/* unsigned long[cnt] or 0 */
	__aligned_u64 cookies;		/* __u64[cnt] or 0 */
	__u32 cnt;
	__u32 umulti_flags;		/* RL_BPF_F_UPROBE_MULTI_RETURN */
	__u32 pid;			/* a process (its tgid), or 0 for all */
};
_Static_assert(offsetof(struct umulti_attr, path) == 16, "link_create's union is at 16");
_Static_assert(offsetof(struct umulti_attr, cnt) == 48, "uprobe_multi.cnt");
_Static_assert(offsetof(struct umulti_attr, pid) == 56, "uprobe_multi.pid");
_Static_assert(sizeof(unsigned long) == sizeof(__u64), "the kernel reads unsigned long offsets");

static int umulti_link(int prog_fd, const char *path, const unsigned long *offsets, const unsigned long *refs,
		       const __u64 *cookies, size_t cnt, bool ret, __u32 pid)
{
	struct umulti_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = (__u32)prog_fd;
	a.attach_type = RL_BPF_TRACE_UPROBE_MULTI;
	a.path = (__u64)(uintptr_t)path;
	a.offsets = (__u64)(uintptr_t)offsets;
	a.ref_ctr_offsets = (__u64)(uintptr_t)refs;
	a.cookies = (__u64)(uintptr_t)cookies;
	a.cnt = (__u32)cnt;
	a.umulti_flags = ret ? RL_BPF_F_UPROBE_MULTI_RETURN : 0;
	a.pid = pid;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : (int)fd;
}

/*
 * Whether this kernel has uprobe_multi links, the way libbpf 1.3+ asks: a
 * program loaded for them, attached to "/" (not a regular file), must get
 * EBADF; a kernel without them says EINVAL. REQLENS_UPROBE_MULTI=0 turns
 * them off (one perf-event uprobe per probe site, as before 6.6).
 */
static bool uprobe_multi_supported(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = (enum bpf_attach_type)RL_BPF_TRACE_UPROBE_MULTI);
	const char *env = getenv("REQLENS_UPROBE_MULTI");
	unsigned long offset = 0;
	int prog, link;

	if (env && !strcmp(env, "0")) {
		rl_debug("uprobe_multi links turned off (REQLENS_UPROBE_MULTI=0): one perf-event uprobe per probe");
		return false;
	}
	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "rl_umulti_probe", "GPL", insns, 2, &o);
	if (prog < 0) {
		rl_debug("uprobe_multi links: the test program did not load (%s): one perf-event uprobe per probe",
			 strerror(errno));
		return false;
	}
	link = umulti_link(prog, "/", &offset, NULL, NULL, 1, false, 0);
	close(prog);
	if (link >= 0) {
		close(link);
		rl_debug("uprobe_multi links: attaching to \"/\" succeeded, which it must not: one perf-event "
			 "uprobe per probe");
		return false;
	}
	if (link != -EBADF) {
		rl_debug("uprobe_multi links: not on this kernel (%s): one perf-event uprobe per probe",
			 strerror(-link));
		return false;
	}
	rl_debug("uprobe_multi links: one link per binary, program and process filter");
	return true;
}

/* ---- Probe sites, and how they are attached ---- */

/*
 * In the order they are attached: returns before entries. A call that enters
 * while only its entry probe is there pushes a level that no return ever
 * pops; with the return probe first (a uretprobe is armed when the entry is
 * hit), a call in flight only returns without an entry, which the programs
 * ignore. Eight such levels on one thread (one request through nginx's
 * ngx_http_*_request can push four) and nothing more was counted on it.
 */
enum probe_prog { P_EXIT, P_GO_RETURN, P_ENTRY, P_GO_ENTRY, P_POINT };

struct site {
	enum probe_prog prog;
	bool ret;		/* a uretprobe */
	int id;			/* the function: the cookie's low half */
	__u32 size;		/* a Go entry's function size: the cookie's high half (go_enter) */
	unsigned long offset;
	unsigned long ref;	/* a USDT semaphore's file offset, or 0 */
};

static __u64 cookie_of(const struct site *s)
{
	return (__u64)s->size << 32 | (__u32)s->id;
}

struct plan {
	struct site *v;
	size_t n, cap;
};

static int plan_add(struct plan *p, enum probe_prog prog, bool ret, int id, uint64_t offset, uint64_t ref)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct site *n = realloc(p->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->v = n;
		p->cap = cap;
	}
	p->v[p->n++] = (struct site){ .prog = prog, .ret = ret, .id = id, .offset = (unsigned long)offset,
				      .ref = (unsigned long)ref };
	return 0;
}

static struct bpf_program *prog_of(struct rl_func *f, enum probe_prog p)
{
	switch (p) {
	case P_ENTRY: return f->skel->progs.rl_func_entry;
	case P_EXIT: return f->skel->progs.rl_func_exit;
	case P_GO_ENTRY: return f->skel->progs.rl_go_entry;
	case P_GO_RETURN: return f->skel->progs.rl_go_return;
	default: return f->skel->progs.rl_usdt_point;
	}
}

/* Sites s[0..n) of one program and direction: one uprobe_multi link per process filter. */
static int attach_multi(struct rl_func *f, const char *path, const struct site *s, size_t n)
{
	unsigned long *offsets = calloc(n, sizeof(*offsets)), *refs = calloc(n, sizeof(*refs));
	__u64 *cookies = calloc(n, sizeof(*cookies));
	const uint32_t *pids;
	unsigned npids = target_pids(f->cfg, &pids);
	bool any_ref = false;
	int err = 0;

	if (!offsets || !refs || !cookies)
		err = -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		offsets[i] = s[i].offset;
		refs[i] = s[i].ref;
		cookies[i] = cookie_of(&s[i]);
		any_ref |= s[i].ref != 0;
	}
	for (unsigned p = 0; p < npids && !err; p++) {
		int fd = umulti_link(bpf_program__fd(prog_of(f, s[0].prog)), path, offsets, any_ref ? refs : NULL,
				     cookies, n, s[0].ret, pids[p] == (uint32_t)-1 ? 0 : pids[p]);

		if (fd < 0)
			err = fd;
		else if (keep_link(f, fd, NULL)) {
			close(fd);
			err = -ENOMEM;
		}
	}
	free(offsets);
	free(refs);
	free(cookies);
	return err;
}

/* The same, one perf-event uprobe per site and process filter. */
static int attach_perf(struct rl_func *f, const char *path, const struct site *s, size_t n)
{
	const uint32_t *pids;
	unsigned npids = target_pids(f->cfg, &pids);

	for (size_t i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = s[i].ret, .bpf_cookie = cookie_of(&s[i]),
			    .ref_ctr_offset = s[i].ref);

		for (unsigned p = 0; p < npids; p++) {
			struct bpf_link *l = bpf_program__attach_uprobe_opts(prog_of(f, s[i].prog),
									     (pid_t)pids[p], path,
									     (size_t)s[i].offset, &o);

			if (!l)
				return -errno;
			if (keep_link(f, -1, l)) {
				bpf_link__destroy(l);
				return -ENOMEM;
			}
		}
	}
	return 0;
}

static int cmp_site(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->prog != y->prog)
		return x->prog < y->prog ? -1 : 1;
	if (x->ret != y->ret)
		return x->ret < y->ret ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* A failed attachment of function id, in one line. */
static void explain_attach(const struct rl_func *f, int id, const struct rl_binary *b, int err)
{
	const char *flag = f->funcs[id].usdt ? "--usdt" : "--uprobe";

	if (err == -EACCES || err == -EPERM)
		rl_error("%s: attaching to %s in %s was refused (%s): uprobes need CAP_SYS_ADMIN on "
			 "kernels with the CVE-2025-38466 fix", flag, f->funcs[id].function, b->path,
			 strerror(-err));
	else
		rl_error("%s: attaching to %s in %s failed: %s", flag, f->funcs[id].function, b->path,
			 strerror(-err));
}

/* Closes the links kept since the n-th: an attachment is all or nothing. */
static void drop_links(struct rl_func *f, size_t n)
{
	while (f->nlinks > n) {
		struct plink *l = &f->links[--f->nlinks];

		if (l->link)
			bpf_link__destroy(l->link);
		else
			close(l->fd);
	}
}

/* Sites s[0..n) of one program and direction, all attached or none. */
static int attach_sites(struct rl_func *f, const char *path, const struct site *s, size_t n)
{
	size_t before = f->nlinks;
	int err = f->multi ? attach_multi(f, path, s, n) : attach_perf(f, path, s, n);

	if (err)
		drop_links(f, before);
	return err;
}

/*
 * Attaches every site of plan to b: one uprobe_multi link per program and
 * direction (and --pid). Without uprobe_multi, or when such a link covering
 * several functions is refused, the functions are attached one at a time, so
 * that the others are probed and the one refused is named. 0, or the first
 * error (logged).
 */
static int attach_plan(struct rl_func *f, struct plan *plan, const struct rl_binary *b)
{
	int first = 0;

	if (plan->n)
		qsort(plan->v, plan->n, sizeof(*plan->v), cmp_site);
	for (size_t i = 0, j; i < plan->n; i = j) {
		for (j = i; j < plan->n && plan->v[j].prog == plan->v[i].prog && plan->v[j].ret == plan->v[i].ret;)
			j++;
		if (f->multi && !attach_sites(f, b->attach_path, &plan->v[i], j - i))
			continue;
		for (size_t k = i, m; k < j; k = m) {
			int err;

			for (m = k; m < j && plan->v[m].id == plan->v[k].id;)
				m++;
			err = attach_sites(f, b->attach_path, &plan->v[k], m - k);
			if (err) {
				explain_attach(f, plan->v[k].id, b, err);
				first = first ? first : err;
			}
		}
	}
	return first;
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

/*
 * A Go function's sites: a uretprobe would corrupt the goroutine's moved
 * stack, so each return instruction gets a plain uprobe (disasm.h), and the
 * entry probe sits on the first instruction (bpf/func.bpf.c: go_enter).
 */
static int plan_go(struct rl_func *f, struct plan *plan, const struct rl_binary *b, const struct rl_elf_sym *sym,
		   int id, size_t *nrets)
{
	uint64_t *rets;
	size_t n;
	int err = rl_elf_function_returns(b->fd, sym, &rets, &n);

	if (err) {
		rl_error("--uprobe: cannot find the return instructions of %s in %s: %s", sym->name, b->path,
			 rl_disasm_errmsg());
		return err;
	}
	if (!n) {
		rl_error("--uprobe: %s in %s has no return instruction to probe", sym->name, b->path);
		return -ENOENT;
	}
	err = plan_add(plan, P_GO_ENTRY, false, id, sym->offset, 0);
	if (!err)
		plan->v[plan->n - 1].size = sym->size > UINT32_MAX ? UINT32_MAX : (__u32)sym->size;
	for (size_t r = 0; r < n && !err; r++)
		err = plan_add(plan, P_GO_RETURN, false, id, sym->offset + rets[r], 0);
	*nrets += n;
	free(rets);
	return err;
}

static int attach_uprobes(struct rl_func *f, const struct rl_probe_spec *p, const struct rl_binary *b)
{
	struct rl_elf_sym *syms = NULL;
	struct plan plan = { 0 };
	size_t nsyms = 0, nrets = 0;
	char gover[32];
	bool go = rl_elf_is_go(b->fd, gover, sizeof(gover));
	int err = rl_elf_symbols(b->fd, p->symbol, &syms, &nsyms);

	if (err == -EINVAL) {
		rl_error("--uprobe: %s is not an ELF file reqlens can read (%s)", b->path, rl_elf_errmsg());
		return err;
	}
	if (err) {
		rl_error("--uprobe: cannot read the symbols of %s: %s", b->path, rl_elf_errmsg());
		return err;
	}
	if (!nsyms) {
		explain_symbol(b, p->symbol);
		err = -ENOENT;
	}
	for (size_t i = 0; i < nsyms && !err; i++) {
		int id = func_id(f, b->path, syms[i].name, false, false);

		if (id < 0) {
			rl_error("--uprobe: more than %d functions to probe", RL_MAX_FUNCS);
			err = id;
		} else if (go) {
			err = plan_go(f, &plan, b, &syms[i], id, &nrets);
		} else {
			err = plan_add(&plan, P_ENTRY, false, id, syms[i].offset, 0);
			if (!err)
				err = plan_add(&plan, P_EXIT, true, id, syms[i].offset, 0);
		}
	}
	if (!err)
		err = attach_plan(f, &plan, b);
	for (size_t i = 0; i < nsyms && !err; i++)
		rl_info("probing %s in %s%s (%zu process%s now)", syms[i].name, b->path,
			go ? ", a Go binary: its entry and each return instruction" : "",
			b->nprocs, b->nprocs == 1 ? "" : "es");
	if (!err && go)
		rl_debug("%zu uprobes on the return instructions of %zu Go functions in %s", nrets, nsyms,
			 b->path);
	free(plan.v);
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

/*
 * A USDT probe is a uprobe on each of its sites (and its semaphore, which
 * the kernel counts up while the probe is attached): a start/end pair times
 * the stretch between them like a function's entry and return; a lone probe
 * only counts its hits.
 */
static int attach_usdt(struct rl_func *f, const struct rl_probe_spec *p, const struct rl_binary *b)
{
	char name[sizeof(p->provider) + sizeof(p->symbol) + sizeof(p->end) + 2];
	struct plan plan = { 0 };
	int id, err = 0;
	size_t nsites[2] = { 0 };

	snprintf(name, sizeof(name), "%s:%s%s%s", p->provider, p->symbol, p->end[0] ? "," : "", p->end);
	id = func_id(f, b->path, name, !p->end[0], true);
	if (id < 0) {
		rl_error("--usdt: more than %d functions to probe", RL_MAX_FUNCS);
		return id;
	}
	for (int end = 0; end < (p->end[0] ? 2 : 1) && !err; end++) {
		const char *probe = end ? p->end : p->symbol;
		struct rl_usdt_site *sites;
		enum probe_prog prog = !p->end[0] ? P_POINT : end ? P_EXIT : P_ENTRY;

		err = rl_elf_usdt_sites(b->fd, p->provider, probe, &sites, &nsites[end]);
		if (err) {
			rl_error("--usdt: %s: %s", b->path, rl_elf_errmsg());
			break;
		}
		if (!nsites[end]) {
			explain_usdt(b, p->provider, probe);
			err = -ENOENT;
			break;
		}
		for (size_t i = 0; i < nsites[end] && !err; i++)
			err = plan_add(&plan, prog, false, id, sites[i].offset, sites[i].ref_ctr_offset);
		free(sites);
	}
	if (!err)
		err = attach_plan(f, &plan, b);
	if (!err)
		rl_info("probing USDT %s in %s (%zu site%s%s; %zu process%s now)", name, b->path,
			nsites[0] + nsites[1], nsites[0] + nsites[1] == 1 ? "" : "s",
			p->end[0] ? ": timed from the first probe to the second" : ": counted",
			b->nprocs, b->nprocs == 1 ? "" : "es");
	free(plan.v);
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

static void *close_link_fd(void *fd)
{
	close((int)(intptr_t)fd);
	return NULL;
}

/*
 * Each detach waits for an RCU grace period (tasks trace): a uprobe_multi
 * link once for all its sites, a perf-event uprobe once per site, and the
 * kernel runs the latter one after the other under its event_mutex. The
 * links are closed side by side so that the waits overlap.
 */
#define MAX_CLOSERS 64
static void destroy_links(struct plink *v, size_t n)
{
	struct bpf_link **perf = calloc(n ? n : 1, sizeof(*perf));
	pthread_t tids[MAX_CLOSERS];
	size_t nperf = 0, nt = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].link && perf)
			perf[nperf++] = v[i].link;
		else if (v[i].link)
			bpf_link__destroy(v[i].link);
		else if (nt < MAX_CLOSERS &&
			 !pthread_create(&tids[nt], NULL, close_link_fd, (void *)(intptr_t)v[i].fd))
			nt++;
		else
			close(v[i].fd);
	}
	rl_links_destroy(perf, nperf);
	for (size_t t = 0; t < nt; t++)
		pthread_join(tids[t], NULL);
	free(perf);
}

void rl_func_stop(struct rl_func *f)
{
	if (!f)
		return;
	if (f->follower_started) {
		atomic_store(&f->stop, true);
		pthread_join(f->follower, NULL);
	}
	if (f->nlinks) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		destroy_links(f->links, f->nlinks);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		rl_debug("%zu function probe link%s detached in %ld ms", f->nlinks, f->nlinks == 1 ? "" : "s",
			 (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	}
	free(f->links);
	free(f->seen);
	func_bpf__destroy(f->skel);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int rl_func_start(const struct rl_config *cfg, int conns_fd, int fthreads_fd, struct rl_func **out)
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
	f->skel->rodata->attribute = fthreads_fd >= 0;
	/* A program is loaded for uprobe_multi links or for perf-event ones: decided here, once. */
	f->multi = uprobe_multi_supported();
	if (f->multi) {
		struct bpf_program *prog;

		bpf_object__for_each_program(prog, f->skel->obj)
			bpf_program__set_expected_attach_type(prog,
				(enum bpf_attach_type)RL_BPF_TRACE_UPROBE_MULTI);
	}
	err = bpf_map__reuse_fd(f->skel->maps.conns, conns_fd);
	if (!err && fthreads_fd >= 0)
		err = bpf_map__reuse_fd(f->skel->maps.fthreads, fthreads_fd);
	if (!err)
		err = func_bpf__load(f->skel);
	if (err) {
		rl_bpfobj_explain("loading the function BPF programs", err);
		goto fail;
	}
	for (__u32 row = 0; row < RL_FUNC_ROWS && !err; row++)
		if (bpf_map__update_elem(f->skel->maps.row_free, NULL, 0, &row, sizeof(row), BPF_ANY))
			err = -errno;
	if (err) {
		rl_error("filling the function histograms' free rows: %s", strerror(-err));
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
	int rows_fd = bpf_map__fd(f->skel->maps.func_rows), hists_fd = bpf_map__fd(f->skel->maps.func_hists);
	struct rl_func_row_key key, next;
	int ncpu = libbpf_num_possible_cpus();
	struct rl_family *dur, *calls;
	struct rl_func_row *per_cpu;
	void *prev = NULL;
	int err = 0;

	dur = rl_family_get(r, "reqlens_function_duration_seconds",
			    "Duration of the probed functions (--uprobe) and USDT start/end pairs.",
			    RL_HISTOGRAM);
	calls = rl_family_get(r, "reqlens_function_calls_total",
			      "Calls of the probed functions, and hits of the probed USDT probes. Calls "
			      "nested more than 8 deep (recursion) count here but are not timed.",
			      RL_COUNTER);
	if (!dur || !calls || ncpu <= 0)
		return -ENOMEM;
	per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	pthread_mutex_lock(&f->lock);
	while (!err && !bpf_map_get_next_key(rows_fd, prev, &next)) {
		struct rl_svc_labels names;
		const char *kv[RL_KV_MAX];
		const struct func_info *fi;
		struct rl_sample *d, *c;
		__u64 count = 0, sum = 0;
		__u32 row;

		key = next;
		prev = &key;
		if (key.func >= f->nfuncs || key.octave > RL_FUNC_UNTIMED ||
		    bpf_map_lookup_elem(rows_fd, &key, &row) || bpf_map_lookup_elem(hists_fd, &row, per_cpu))
			continue;
		fi = &f->funcs[key.func];
		rl_svc_labels_kv(&key.svc, &names, kv, "binary", fi->binary, "function", fi->function, NULL);
		c = rl_sample_get(calls, kv);
		d = fi->point ? NULL : rl_sample_get(dur, kv);
		if (!c || (!fi->point && !d)) {
			err = -ENOMEM;
			break;
		}
		for (unsigned s = 0; s < RL_HIST_SUB; s++) {
			__u64 n = 0;

			for (int i = 0; i < ncpu; i++)
				n += per_cpu[i].count[s];
			if (n && d && key.octave != RL_FUNC_UNTIMED && key.octave * RL_HIST_SUB + s < RL_HIST_NBUCKETS)
				rl_hist_add(d->hist, key.octave * RL_HIST_SUB + s, n);
			count += n;
		}
		for (int i = 0; i < ncpu; i++)
			sum += per_cpu[i].sum_ns;
		c->value += (double)count;
		if (d)
			d->hist->sum_ns += sum;
	}
	pthread_mutex_unlock(&f->lock);
	free(per_cpu);
	return err ? err : rl_bpfobj_collect_self(f->skel->obj, r);
}
