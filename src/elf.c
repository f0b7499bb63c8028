// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ELF reading for uprobes (see elf.h). Every file is checked once when it is
 * opened (elf_open): its size, its identification, and that the header
 * tables, every section with file contents and every PT_LOAD segment lie
 * inside the file. libelf reads the file with pread (ELF_C_READ), not mmap,
 * so a file truncated while it is read is an error, not a SIGBUS.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf.h"

static __thread char errmsg[1024];

const char *rl_elf_errmsg(void)
{
	return errmsg;
}

__attribute__((format(printf, 2, 3))) static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return err;
}

struct elf_file {
	Elf *elf;
	int fd;
	uint64_t size;		/* of the file */
	GElf_Ehdr ehdr;
	size_t shnum, shstrndx;	/* shstrndx: 0 when there is none */
	GElf_Phdr *loads;	/* the PT_LOAD segments */
	size_t nloads;
};

static void elf_close(struct elf_file *f)
{
	if (f->elf)
		elf_end(f->elf);
	free(f->loads);
	memset(f, 0, sizeof(*f));
}

/* a + b <= limit, without overflow. */
static bool fits(uint64_t a, uint64_t b, uint64_t limit)
{
	return a <= limit && b <= limit - a;
}

static int elf_open(int fd, struct elf_file *f)
{
	unsigned char ident[EI_NIDENT];
	struct stat st;
	size_t phnum, shentsize, phentsize;
	int err;

	memset(f, 0, sizeof(*f));
	f->fd = fd;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		return fail(err, "fstat: %s", strerror(-err));
	}
	if (!S_ISREG(st.st_mode))
		return fail(-EINVAL, "not a regular file");
	if ((uint64_t)st.st_size > RL_ELF_MAX_SIZE)
		return fail(-EFBIG, "%lld bytes: larger than the %llu bytes read at most",
			    (long long)st.st_size, RL_ELF_MAX_SIZE);
	f->size = (uint64_t)st.st_size;
	if (pread(fd, ident, sizeof(ident), 0) != (ssize_t)sizeof(ident) ||
	    memcmp(ident, ELFMAG, SELFMAG))
		return fail(-EINVAL, "not an ELF file");
	if ((ident[EI_CLASS] != ELFCLASS64 && ident[EI_CLASS] != ELFCLASS32) ||
	    (ident[EI_DATA] != ELFDATA2LSB && ident[EI_DATA] != ELFDATA2MSB) ||
	    ident[EI_VERSION] != EV_CURRENT)
		return fail(-EINVAL, "an ELF file of an unknown class, byte order or version");

	if (elf_version(EV_CURRENT) == EV_NONE)
		return fail(-EINVAL, "libelf: %s", elf_errmsg(-1));
	f->elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF || !gelf_getehdr(f->elf, &f->ehdr)) {
		err = fail(-EINVAL, "not a valid ELF file: %s", elf_errmsg(-1));
		elf_close(f);
		return err;
	}

	/*
	 * The section header table, then every section with bytes in the file.
	 * libelf counts no section at all when the table does not fit in the
	 * file: check the header's own numbers first.
	 */
	shentsize = gelf_fsize(f->elf, ELF_T_SHDR, 1, EV_CURRENT);
	phentsize = gelf_fsize(f->elf, ELF_T_PHDR, 1, EV_CURRENT);
	if (f->ehdr.e_shnum && (f->ehdr.e_shentsize != shentsize ||
				!fits(f->ehdr.e_shoff, (uint64_t)f->ehdr.e_shnum * shentsize, f->size) ||
				!f->ehdr.e_shoff))
		goto bad_sh;
	if (f->ehdr.e_phnum && f->ehdr.e_phnum != PN_XNUM &&
	    (f->ehdr.e_phentsize != phentsize || !f->ehdr.e_phoff ||
	     !fits(f->ehdr.e_phoff, (uint64_t)f->ehdr.e_phnum * phentsize, f->size))) {
		err = fail(-EINVAL, "the program header table lies past the end of the file");
		goto out;
	}
	if (elf_getshdrnum(f->elf, &f->shnum) < 0 || (f->ehdr.e_shnum && f->shnum != f->ehdr.e_shnum))
		goto bad_sh;
	if (f->shnum && (f->ehdr.e_shentsize != shentsize || f->shnum > f->size / shentsize ||
			 !fits(f->ehdr.e_shoff, f->shnum * shentsize, f->size)))
		goto bad_sh;
	if (f->shnum) {
		if (elf_getshdrstrndx(f->elf, &f->shstrndx) < 0 || f->shstrndx >= f->shnum)
			goto bad_sh;
	}
	for (size_t i = 0; i < f->shnum; i++) {
		Elf_Scn *scn = elf_getscn(f->elf, i);
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh)) {
			err = fail(-EINVAL, "section %zu: unreadable header", i);
			goto out;
		}
		if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL &&
		    !fits(sh.sh_offset, sh.sh_size, f->size)) {
			err = fail(-EINVAL, "section %zu: [%#llx, +%#llx) lies past the end of the file (%llu bytes)",
				   i, (unsigned long long)sh.sh_offset, (unsigned long long)sh.sh_size,
				   (unsigned long long)f->size);
			goto out;
		}
	}

	/* The program headers, keeping the PT_LOAD segments. */
	if (elf_getphdrnum(f->elf, &phnum) < 0 ||
	    (f->ehdr.e_phnum != PN_XNUM && phnum != f->ehdr.e_phnum)) {
		err = fail(-EINVAL, "bad program header table: %s", elf_errmsg(-1));
		goto out;
	}
	if (phnum && (f->ehdr.e_phentsize != phentsize || phnum > f->size / phentsize ||
		      !fits(f->ehdr.e_phoff, phnum * phentsize, f->size))) {
		err = fail(-EINVAL, "the program header table lies past the end of the file");
		goto out;
	}
	if (phnum) {
		f->loads = calloc(phnum, sizeof(*f->loads));
		if (!f->loads) {
			err = fail(-ENOMEM, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(f->elf, (int)i, &ph)) {
			err = fail(-EINVAL, "program header %zu: unreadable", i);
			goto out;
		}
		if (ph.p_type != PT_LOAD)
			continue;
		if (!fits(ph.p_offset, ph.p_filesz, f->size) || !fits(ph.p_vaddr, ph.p_memsz, UINT64_MAX) ||
		    ph.p_filesz > ph.p_memsz) {
			err = fail(-EINVAL, "program header %zu: a PT_LOAD segment past the end of the file", i);
			goto out;
		}
		f->loads[f->nloads++] = ph;
	}
	return 0;

bad_sh:
	err = fail(-EINVAL, "bad section header table (%u sections at %#llx, file of %llu bytes)",
		   f->ehdr.e_shnum, (unsigned long long)f->ehdr.e_shoff,
		   (unsigned long long)f->size);
out:
	elf_close(f);
	return err;
}

/* The PT_LOAD segment whose file bytes hold [vaddr, vaddr + size), or NULL. */
static const GElf_Phdr *segment_of(const struct elf_file *f, uint64_t vaddr, uint64_t size)
{
	for (size_t i = 0; i < f->nloads; i++) {
		const GElf_Phdr *ph = &f->loads[i];

		if (vaddr >= ph->p_vaddr && vaddr - ph->p_vaddr < ph->p_filesz &&
		    size <= ph->p_filesz - (vaddr - ph->p_vaddr))
			return ph;
	}
	return NULL;
}

static const char *section_name(const struct elf_file *f, const GElf_Shdr *sh)
{
	if (!f->shstrndx)
		return NULL;
	return elf_strptr(f->elf, f->shstrndx, sh->sh_name);
}

/* The first section named NAME, or NULL. */
static Elf_Scn *find_section(const struct elf_file *f, const char *name, GElf_Shdr *sh)
{
	for (size_t i = 1; i < f->shnum; i++) {
		Elf_Scn *scn = elf_getscn(f->elf, i);
		const char *s;

		if (!scn || !gelf_getshdr(scn, sh))
			continue;
		s = section_name(f, sh);
		if (s && !strcmp(s, name))
			return scn;
	}
	return NULL;
}

/* A symbol table, checked: its entry size, its string table. */
struct symtab {
	Elf_Data *data;
	size_t count;
	size_t strndx;
	bool dynamic;
};

static int symtab_open(const struct elf_file *f, Elf_Scn *scn, const GElf_Shdr *sh, struct symtab *t)
{
	size_t entsize = gelf_fsize(f->elf, ELF_T_SYM, 1, EV_CURRENT);
	Elf_Scn *strscn;
	GElf_Shdr strsh;

	if (sh->sh_entsize != entsize)
		return fail(-EINVAL, "symbol table %zu: entry size %llu, not %zu", elf_ndxscn(scn),
			    (unsigned long long)sh->sh_entsize, entsize);
	if (sh->sh_link == 0 || sh->sh_link >= f->shnum || !(strscn = elf_getscn(f->elf, sh->sh_link)) ||
	    !gelf_getshdr(strscn, &strsh) || strsh.sh_type != SHT_STRTAB)
		return fail(-EINVAL, "symbol table %zu: its string table (%u) is not one",
			    elf_ndxscn(scn), (unsigned)sh->sh_link);
	t->data = elf_getdata(scn, NULL);
	if (!t->data || !t->data->d_buf)
		return fail(-EINVAL, "symbol table %zu: unreadable: %s", elf_ndxscn(scn), elf_errmsg(-1));
	t->count = t->data->d_size / entsize;
	t->strndx = sh->sh_link;
	t->dynamic = sh->sh_type == SHT_DYNSYM;
	return 0;
}

/*
 * Calls fn for every named symbol of .symtab and .dynsym; stops at fn's first
 * non-zero return, which it returns.
 */
static int for_each_symbol(const struct elf_file *f,
			   int (*fn)(const struct elf_file *, const GElf_Sym *, const char *, bool, void *),
			   void *arg)
{
	for (size_t i = 1; i < f->shnum; i++) {
		Elf_Scn *scn = elf_getscn(f->elf, i);
		struct symtab t = { 0 };
		GElf_Shdr sh;
		int err;

		if (!scn || !gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		err = symtab_open(f, scn, &sh, &t);
		if (err)
			return err;
		for (size_t j = 1; j < t.count; j++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(t.data, (int)j, &sym))
				continue;
			/* elf_strptr checks the offset and the terminating NUL. */
			name = elf_strptr(f->elf, t.strndx, sym.st_name);
			if (!name || !*name)
				continue;
			err = fn(f, &sym, name, t.dynamic, arg);
			if (err)
				return err;
		}
	}
	return 0;
}

static bool is_func(const GElf_Sym *s)
{
	int type = GELF_ST_TYPE(s->st_info);

	return type == STT_FUNC || type == STT_GNU_IFUNC;
}

static bool is_defined(const struct elf_file *f, const GElf_Sym *s)
{
	if (s->st_shndx == SHN_UNDEF)
		return false;
	/* SHN_ABS, SHN_COMMON, SHN_XINDEX... are defined; a plain index must exist. */
	return s->st_shndx >= SHN_LORESERVE || s->st_shndx < f->shnum;
}

struct symvec {
	const char *glob;
	struct rl_elf_sym *v;
	size_t n, cap;
};

static int collect_sym(const struct elf_file *f, const GElf_Sym *s, const char *name, bool dynamic, void *arg)
{
	struct symvec *sv = arg;
	const GElf_Phdr *ph;
	struct rl_elf_sym *e;

	if (!is_func(s) || !is_defined(f, s))
		return 0;
	if (sv->glob && fnmatch(sv->glob, name, 0))
		return 0;
	/* Only what is in the file can be probed. */
	ph = segment_of(f, s->st_value, 1);
	if (!ph)
		return 0;
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 64;
		struct rl_elf_sym *v = realloc(sv->v, cap * sizeof(*v));

		if (!v)
			return fail(-ENOMEM, "out of memory");
		sv->v = v;
		sv->cap = cap;
	}
	e = &sv->v[sv->n];
	e->name = strdup(name);
	if (!e->name)
		return fail(-ENOMEM, "out of memory");
	e->value = s->st_value;
	e->size = s->st_size;
	e->offset = s->st_value - ph->p_vaddr + ph->p_offset;
	e->ifunc = GELF_ST_TYPE(s->st_info) == STT_GNU_IFUNC;
	e->global = GELF_ST_BIND(s->st_info) == STB_GLOBAL || GELF_ST_BIND(s->st_info) == STB_WEAK;
	e->dynamic = dynamic;
	sv->n++;
	return 0;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct rl_elf_sym *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return strcmp(x->name, y->name);
}

void rl_elf_syms_free(struct rl_elf_sym *syms, size_t n)
{
	if (!syms)
		return;
	for (size_t i = 0; i < n; i++)
		free(syms[i].name);
	free(syms);
}

int rl_elf_symbols(int fd, const char *glob, struct rl_elf_sym **out, size_t *n)
{
	struct symvec sv = { .glob = glob };
	struct elf_file f;
	size_t k = 0;
	int err;

	*out = NULL;
	*n = 0;
	err = elf_open(fd, &f);
	if (err)
		return err;
	if (f.ehdr.e_type != ET_EXEC && f.ehdr.e_type != ET_DYN) {
		elf_close(&f);
		return fail(-EINVAL, "not an executable or shared object (ELF type %u)", f.ehdr.e_type);
	}
	err = for_each_symbol(&f, collect_sym, &sv);
	elf_close(&f);
	if (err) {
		rl_elf_syms_free(sv.v, sv.n);
		return err;
	}
	/* The same function in .symtab and .dynsym: keep one, exported. */
	if (sv.n)
		qsort(sv.v, sv.n, sizeof(*sv.v), cmp_sym);
	for (size_t i = 0; i < sv.n; i++) {
		if (k && !cmp_sym(&sv.v[k - 1], &sv.v[i])) {
			sv.v[k - 1].dynamic |= sv.v[i].dynamic;
			sv.v[k - 1].global |= sv.v[i].global;
			if (!sv.v[k - 1].size)
				sv.v[k - 1].size = sv.v[i].size;
			free(sv.v[i].name);
			continue;
		}
		sv.v[k++] = sv.v[i];
	}
	*out = sv.v;
	*n = k;
	if (!k) {
		free(sv.v);
		*out = NULL;
	}
	return 0;
}

struct kind_arg {
	const char *name;
	int kind;
};

static int kind_sym(const struct elf_file *f, const GElf_Sym *s, const char *name, bool dynamic, void *arg)
{
	struct kind_arg *ka = arg;

	if (strcmp(name, ka->name))
		return 0;
	if (!is_defined(f, s)) {
		if (ka->kind == RL_ELF_SYM_MISSING)
			ka->kind = RL_ELF_SYM_IMPORTED;
		return 0;
	}
	if (is_func(s)) {
		ka->kind = RL_ELF_SYM_FUNC;
		return 1;	/* nothing can beat that */
	}
	ka->kind = RL_ELF_SYM_NOT_FUNC;
	return 0;
}

int rl_elf_symbol_kind(int fd, const char *name)
{
	struct kind_arg ka = { .name = name, .kind = RL_ELF_SYM_MISSING };
	struct elf_file f;
	int err;

	if (!name || !*name)
		return fail(-EINVAL, "empty symbol name");
	err = elf_open(fd, &f);
	if (err)
		return err;
	err = for_each_symbol(&f, kind_sym, &ka);
	elf_close(&f);
	return err < 0 ? err : ka.kind;
}

/* Suggestions. */

#define SUGGEST_MAX 3
#define LEV_MAX_LEN 256

struct suggest {
	const char *name;
	size_t len;
	unsigned k;			/* the largest edit distance suggested */
	struct {
		char *name;
		unsigned score;
	} best[SUGGEST_MAX];
	size_t nbest;
};

/*
 * Levenshtein distance between a and b, or k + 1 when it is more than k.
 * Only the cells within k of the diagonal can lead to a distance <= k
 * (Ukkonen's band), and it stops at the first row whose cells all exceed k:
 * O(k * min(len)) per pair. Both lengths at most LEV_MAX_LEN.
 */
static unsigned lev_bounded(const char *a, size_t la, const char *b, size_t lb, unsigned k)
{
	unsigned row[LEV_MAX_LEN + 1];
	const unsigned inf = k + 1;

	if ((la > lb ? la - lb : lb - la) > k)
		return inf;
	if (!la || !lb)
		return (unsigned)(la + lb);	/* <= k, checked above */
	for (size_t j = 0; j <= lb; j++)
		row[j] = j <= k ? (unsigned)j : inf;
	for (size_t i = 1; i <= la; i++) {
		size_t lo = i > k ? i - k : 1, hi = i + k < lb ? i + k : lb;
		unsigned diag = row[lo - 1], rowmin;

		/* Column lo - 1 of this row: the edge (i deletions), or outside the band. */
		row[lo - 1] = lo == 1 && i <= k ? (unsigned)i : inf;
		rowmin = row[lo - 1];
		for (size_t j = lo; j <= hi; j++) {
			unsigned up = row[j];	/* outside the last row's band: still inf */
			unsigned v = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			if (v > inf)
				v = inf;
			diag = up;
			row[j] = v;
			if (v < rowmin)
				rowmin = v;
		}
		if (rowmin > k)
			return inf;
	}
	return row[lb];
}

/* How close name is to the one asked for (lower is closer): a typo, then a name that contains it. */
static unsigned suggest_score(const struct suggest *sg, const char *name)
{
	size_t len = strlen(name);

	if ((len > sg->len ? len - sg->len : sg->len - len) <= sg->k && len <= LEV_MAX_LEN &&
	    sg->len <= LEV_MAX_LEN) {
		unsigned d = lev_bounded(sg->name, sg->len, name, len, sg->k);

		if (d <= sg->k && d > 0)
			return d;
	}
	/* Names that contain it rank after typos, the shorter first. */
	if (sg->len >= 3 && len > sg->len && strcasestr(name, sg->name))
		return 1000 + (unsigned)(len - sg->len > 100000 ? 100000 : len - sg->len);
	return UINT32_MAX;
}

/* Keeps name among the SUGGEST_MAX best, by score then name; UINT32_MAX: not a match. */
static int suggest_insert(struct suggest *sg, const char *name, unsigned score)
{
	size_t pos;

	if (score == UINT32_MAX)
		return 0;
	/* Already there (from the other symbol table), or not good enough? */
	for (size_t i = 0; i < sg->nbest; i++)
		if (!strcmp(sg->best[i].name, name))
			return 0;
	if (sg->nbest == SUGGEST_MAX) {
		unsigned ws = sg->best[SUGGEST_MAX - 1].score;

		if (score > ws || (score == ws && strcmp(name, sg->best[SUGGEST_MAX - 1].name) > 0))
			return 0;
		free(sg->best[--sg->nbest].name);
	}
	/* Insert in order: score, then name. */
	pos = sg->nbest;
	while (pos > 0 && (sg->best[pos - 1].score > score ||
			   (sg->best[pos - 1].score == score && strcmp(sg->best[pos - 1].name, name) > 0))) {
		sg->best[pos] = sg->best[pos - 1];
		pos--;
	}
	sg->best[pos].name = strdup(name);
	if (!sg->best[pos].name) {
		memmove(&sg->best[pos], &sg->best[pos + 1], (sg->nbest - pos) * sizeof(sg->best[0]));
		return fail(-ENOMEM, "out of memory");
	}
	sg->best[pos].score = score;
	sg->nbest++;
	return 0;
}

static int suggest_sym(const struct elf_file *f, const GElf_Sym *s, const char *name, bool dynamic, void *arg)
{
	if (!is_func(s) || !is_defined(f, s))
		return 0;
	return suggest_insert(arg, name, suggest_score(arg, name));
}

static void suggest_init(struct suggest *sg, const char *name)
{
	memset(sg, 0, sizeof(*sg));
	sg->name = name;
	sg->len = strlen(name);
	/* 1 edit for short names, up to 5 for long ones. */
	sg->k = (unsigned)(sg->len / 4);
	sg->k = sg->k < 1 ? 1 : sg->k > 5 ? 5 : sg->k;
}

/* Writes the suggestions to out ("a, b, c") and frees them; how many, or err. */
static int suggest_done(struct suggest *sg, char *out, size_t len, int err)
{
	size_t used = 0;

	for (size_t i = 0; i < sg->nbest; i++) {
		int r = snprintf(out + used, len > used ? len - used : 0, "%s%s", i ? ", " : "",
				 sg->best[i].name);

		if (r > 0)
			used += (size_t)r;
		free(sg->best[i].name);
	}
	return err ? err : (int)sg->nbest;
}

int rl_elf_suggest(int fd, const char *name, char *out, size_t len)
{
	struct suggest sg;
	struct elf_file f;
	int err;

	if (len)
		out[0] = '\0';
	if (!name || !*name)
		return fail(-EINVAL, "empty symbol name");
	suggest_init(&sg, name);
	err = elf_open(fd, &f);
	if (err)
		return err;
	err = for_each_symbol(&f, suggest_sym, &sg);
	elf_close(&f);
	return suggest_done(&sg, out, len, err);
}

/* Go. */

#define GO_MAGIC "\xff Go buildinf:"
#define GO_MAGIC_LEN 14
#define GO_SEARCH 65536		/* how far into the data segment Go's own reader looks */

static uint64_t read_uint(const unsigned char *p, unsigned size, bool big)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[big ? size - 1 - i : i] << (8 * i);
	return v;
}

/* Reads len bytes at virtual address vaddr, from the file. */
static bool read_vaddr(const struct elf_file *f, uint64_t vaddr, void *buf, size_t len)
{
	const GElf_Phdr *ph = segment_of(f, vaddr, len);

	return ph && pread(f->fd, buf, len, (off_t)(vaddr - ph->p_vaddr + ph->p_offset)) == (ssize_t)len;
}

/* The version in a build info blob (buf, n bytes from its magic on). */
static void go_version(const struct elf_file *f, const unsigned char *buf, size_t n, char *version, size_t len)
{
	unsigned ptrsize = buf[14], flags = buf[15];
	bool big = flags & 1;

	if (flags & 2) {
		/* Go 1.18+: varint-prefixed strings inline, from byte 32. */
		uint64_t slen = 0;
		size_t i = 32;
		unsigned shift = 0;

		while (i < n && shift < 64) {
			slen |= (uint64_t)(buf[i] & 0x7f) << shift;
			shift += 7;
			if (!(buf[i++] & 0x80))
				break;
		}
		if (i < n && slen < 128 && slen <= n - i && slen < len) {
			memcpy(version, buf + i, slen);
			version[slen] = '\0';
		}
		return;
	}
	/* Before 1.18: a pointer to a Go string header {data, len}. */
	if ((ptrsize == 4 || ptrsize == 8) && n >= 16 + ptrsize) {
		unsigned char hdr[16];
		uint64_t data, slen;

		if (!read_vaddr(f, read_uint(buf + 16, ptrsize, big), hdr, 2 * ptrsize))
			return;
		data = read_uint(hdr, ptrsize, big);
		slen = read_uint(hdr + ptrsize, ptrsize, big);
		if (slen < 128 && slen < len && read_vaddr(f, data, version, slen))
			version[slen] = '\0';
	}
}

/* Looks for the build info magic at 16-byte boundaries of [off, off + size). */
static bool go_find_buildinfo(const struct elf_file *f, uint64_t off, uint64_t size, char *version, size_t len)
{
	size_t n = size < GO_SEARCH ? (size_t)size : GO_SEARCH;
	unsigned char *buf;
	ssize_t r;
	bool found = false;

	if (n < 32 || !(buf = malloc(n)))
		return false;
	r = pread(f->fd, buf, n, (off_t)off);
	if (r >= 32) {
		for (size_t i = 0; i + 32 <= (size_t)r; i += 16) {
			if (!memcmp(buf + i, GO_MAGIC, GO_MAGIC_LEN)) {
				found = true;
				go_version(f, buf + i, (size_t)r - i, version, len);
				break;
			}
		}
	}
	free(buf);
	return found;
}

bool rl_elf_is_go(int fd, char *version, size_t len)
{
	struct elf_file f;
	GElf_Shdr sh;
	bool go = false;
	char dummy[1];

	if (!version || !len) {
		version = dummy;
		len = sizeof(dummy);
	}
	version[0] = '\0';
	if (elf_open(fd, &f))
		return false;
	if (find_section(&f, ".go.buildinfo", &sh)) {
		go = sh.sh_type != SHT_NOBITS && go_find_buildinfo(&f, sh.sh_offset, sh.sh_size, version, len);
	} else if (f.shnum) {
		/* Before Go 1.13 there was no build info; the runtime's tables were there already. */
		go = find_section(&f, ".gopclntab", &sh) || find_section(&f, ".note.go.buildid", &sh);
	} else {
		/* Section headers stripped: Go puts the blob first in its data segment. */
		for (size_t i = 0; i < f.nloads; i++) {
			if (f.loads[i].p_flags & PF_W) {
				go = go_find_buildinfo(&f, f.loads[i].p_offset, f.loads[i].p_filesz, version, len);
				break;
			}
		}
	}
	elf_close(&f);
	return go;
}

/* USDT. */

#define NT_STAPSDT 3

struct usdtvec {
	struct rl_elf_usdt *v;
	size_t n, cap;
};

static int parse_stapsdt(const struct elf_file *f, Elf_Data *data, struct usdtvec *uv)
{
	unsigned asize = f->ehdr.e_ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
	bool big = f->ehdr.e_ident[EI_DATA] == ELFDATA2MSB;
	size_t off = 0, name_off, desc_off, next;
	GElf_Nhdr nh;

	/* gelf_getnote checks that each note lies inside the data. */
	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const char *d = (const char *)data->d_buf + desc_off;
		const char *strs[3], *p, *end;
		struct rl_elf_usdt *u;

		off = next;
		if (nh.n_type != NT_STAPSDT || nh.n_namesz != sizeof("stapsdt") ||
		    memcmp((const char *)data->d_buf + name_off, "stapsdt", sizeof("stapsdt")))
			continue;
		if (nh.n_descsz < 3 * asize + 3)
			return fail(-EINVAL, ".note.stapsdt: a note too short (%u bytes)", (unsigned)nh.n_descsz);
		/* provider\0name\0args\0, each within the descriptor. */
		p = d + 3 * asize;
		end = d + nh.n_descsz;
		for (int i = 0; i < 3; i++) {
			const char *z = memchr(p, '\0', (size_t)(end - p));

			if (!z)
				return fail(-EINVAL, ".note.stapsdt: an unterminated string in a note");
			strs[i] = p;
			p = z + 1;
			if (i < 2 && p >= end)
				return fail(-EINVAL, ".note.stapsdt: a note without its arguments");
		}
		if (uv->n == uv->cap) {
			size_t cap = uv->cap ? uv->cap * 2 : 16;
			struct rl_elf_usdt *v = realloc(uv->v, cap * sizeof(*v));

			if (!v)
				return fail(-ENOMEM, "out of memory");
			uv->v = v;
			uv->cap = cap;
		}
		u = &uv->v[uv->n++];
		memset(u, 0, sizeof(*u));
		u->pc = read_uint((const unsigned char *)d, asize, big);
		u->base = read_uint((const unsigned char *)d + asize, asize, big);
		u->semaphore = read_uint((const unsigned char *)d + 2 * asize, asize, big);
		snprintf(u->provider, sizeof(u->provider), "%s", strs[0]);
		snprintf(u->name, sizeof(u->name), "%s", strs[1]);
		snprintf(u->args, sizeof(u->args), "%s", strs[2]);
	}
	return 0;
}

/* Every note of every .note.stapsdt section of an open file. */
static int read_usdt(const struct elf_file *f, struct usdtvec *uv)
{
	int err = 0;

	for (size_t i = 1; i < f->shnum && !err; i++) {
		Elf_Scn *scn = elf_getscn(f->elf, i);
		const char *name;
		Elf_Data *data;
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		name = section_name(f, &sh);
		if (!name || strcmp(name, ".note.stapsdt"))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			return fail(-EINVAL, ".note.stapsdt: unreadable: %s", elf_errmsg(-1));
		err = parse_stapsdt(f, data, uv);
	}
	return err;
}

int rl_elf_usdt_probes(int fd, struct rl_elf_usdt **out, size_t *n)
{
	struct usdtvec uv = { 0 };
	struct elf_file f;
	int err;

	*out = NULL;
	*n = 0;
	err = elf_open(fd, &f);
	if (err)
		return err;
	err = read_usdt(&f, &uv);
	elf_close(&f);
	if (err) {
		free(uv.v);
		return err;
	}
	*out = uv.v;
	*n = uv.n;
	return 0;
}

/* The file offset of vaddr, in a PT_LOAD segment with all of flags; false when none holds it. */
static bool file_offset(const struct elf_file *f, uint64_t vaddr, uint32_t flags, uint64_t *off)
{
	const GElf_Phdr *ph = segment_of(f, vaddr, 1);

	if (!ph || (ph->p_flags & flags) != flags)
		return false;
	*off = vaddr - ph->p_vaddr + ph->p_offset;
	return true;
}

int rl_elf_usdt_sites(int fd, const char *provider, const char *name, struct rl_usdt_site **out, size_t *n)
{
	struct usdtvec uv = { 0 };
	struct rl_usdt_site *v = NULL;
	struct elf_file f;
	GElf_Shdr base;
	bool based;
	size_t k = 0;
	int err;

	*out = NULL;
	*n = 0;
	if (!name || !*name)
		return fail(-EINVAL, "empty USDT probe name");
	err = elf_open(fd, &f);
	if (err)
		return err;
	based = find_section(&f, ".stapsdt.base", &base) != NULL;
	err = read_usdt(&f, &uv);
	if (!err && uv.n && !(v = calloc(uv.n, sizeof(*v))))
		err = fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < uv.n && !err; i++) {
		const struct rl_elf_usdt *u = &uv.v[i];
		uint64_t pc = u->pc;

		if ((provider && strcmp(u->provider, provider)) || strcmp(u->name, name))
			continue;
		/* A prelinked file moved .stapsdt.base: the notes hold the old addresses. */
		if (based && u->base)
			pc += base.sh_addr - u->base;
		if (!file_offset(&f, pc, PF_X, &v[k].offset))
			err = fail(-EINVAL, "USDT probe %s:%s: its address %#llx is in no executable segment",
				   u->provider, u->name, (unsigned long long)pc);
		else if (u->semaphore && !file_offset(&f, u->semaphore, PF_W, &v[k].ref_ctr_offset))
			err = fail(-EINVAL, "USDT probe %s:%s: its semaphore %#llx is in no writable segment",
				   u->provider, u->name, (unsigned long long)u->semaphore);
		else
			k++;
	}
	elf_close(&f);
	free(uv.v);
	if (err || !k) {
		free(v);
		return err;
	}
	*out = v;
	*n = k;
	return 0;
}

int rl_elf_has_usdt(int fd, const char *provider, const char *name)
{
	struct rl_elf_usdt *v;
	size_t n;
	int err, count = 0;

	if (!name || !*name)
		return fail(-EINVAL, "empty USDT probe name");
	err = rl_elf_usdt_probes(fd, &v, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		if ((!provider || !strcmp(v[i].provider, provider)) && !strcmp(v[i].name, name))
			count++;
	free(v);
	return count;
}


int rl_elf_usdt_suggest(int fd, const char *provider, const char *name, char *out, size_t len)
{
	char want[256], have[sizeof(((struct rl_elf_usdt *)0)->provider) + sizeof(((struct rl_elf_usdt *)0)->name)];
	struct rl_elf_usdt *v;
	struct suggest sg, names;
	size_t n;
	int err;

	if (len)
		out[0] = '\0';
	if (!provider || !*provider || !name || !*name)
		return fail(-EINVAL, "empty USDT provider or probe name");
	snprintf(want, sizeof(want), "%s:%s", provider, name);
	err = rl_elf_usdt_probes(fd, &v, &n);
	if (err)
		return err;
	suggest_init(&sg, want);
	suggest_init(&names, name);
	for (size_t i = 0; i < n && !err; i++) {
		unsigned score;

		snprintf(have, sizeof(have), "%s:%s", v[i].provider, v[i].name);
		if (!strcmp(v[i].name, name))
			score = 0;	/* the same name under another provider: what was meant */
		else if (!strcmp(v[i].provider, provider))
			score = suggest_score(&names, v[i].name);	/* the provider is right: the name alone */
		else
			score = suggest_score(&sg, have);
		err = suggest_insert(&sg, have, score);
	}
	free(v);
	return suggest_done(&sg, out, len, err);
}

/* Code. */

int rl_elf_read_code(int fd, const struct rl_elf_sym *sym, uint8_t **code, size_t *len,
		     enum rl_elf_arch *arch)
{
	const GElf_Phdr *ph;
	struct elf_file f;
	uint8_t *buf;
	uint64_t off;
	int err;

	*code = NULL;
	*len = 0;
	if (!sym->size)
		return fail(-EINVAL, "%s: the symbol table gives no size", sym->name);
	if (sym->size > RL_ELF_MAX_CODE)
		return fail(-EFBIG, "%s: %llu bytes, more than the %u read at most", sym->name,
			    (unsigned long long)sym->size, RL_ELF_MAX_CODE);
	err = elf_open(fd, &f);
	if (err)
		return err;
	ph = segment_of(&f, sym->value, sym->size);
	if (!ph || !(ph->p_flags & PF_X)) {
		elf_close(&f);
		return fail(-EINVAL, "%s: [%#llx, +%llu) is not inside an executable segment", sym->name,
			    (unsigned long long)sym->value, (unsigned long long)sym->size);
	}
	off = sym->value - ph->p_vaddr + ph->p_offset;
	if (off != sym->offset) {
		elf_close(&f);
		return fail(-EINVAL, "%s: file offset %#llx, not %#llx: a symbol of another file?",
			    sym->name, (unsigned long long)off, (unsigned long long)sym->offset);
	}
	switch (f.ehdr.e_machine) {
	case EM_X86_64: *arch = RL_ELF_ARCH_X86_64; break;
	case EM_AARCH64: *arch = RL_ELF_ARCH_ARM64; break;
	default: *arch = RL_ELF_ARCH_OTHER; break;
	}
	if (f.ehdr.e_ident[EI_CLASS] != ELFCLASS64)
		*arch = RL_ELF_ARCH_OTHER;
	elf_close(&f);
	buf = malloc(sym->size);
	if (!buf)
		return fail(-ENOMEM, "out of memory");
	if (pread(fd, buf, sym->size, (off_t)off) != (ssize_t)sym->size) {
		free(buf);
		return fail(-EIO, "%s: short read at %#llx", sym->name, (unsigned long long)off);
	}
	*code = buf;
	*len = sym->size;
	return 0;
}
