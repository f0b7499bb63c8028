/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the agent needs from an ELF file to put uprobes on it: function
 * symbols with the file offsets libbpf's bpf_program__attach_uprobe_opts()
 * wants, close matches for a misspelt name, Go detection, USDT probe notes,
 * a function's code. Read with libelf from a descriptor (procfs.h opens it
 * safely), never trusting the file: larger than RL_ELF_MAX_SIZE, a header or
 * section outside the file, a symbol table with a bad entry size is -EINVAL
 * (-EFBIG for the size), never a crash.
 *
 * Errors are 0 / -errno; rl_elf_errmsg() then says why in one line, per
 * thread, as libelf's elf_errmsg() does.
 */
/*
 * This header's name shadows the system's <elf.h> for every file built with
 * -Isrc (<gelf.h> and <libelf.h> include it), so it brings the system's in
 * first, outside its own guard.
 */
#ifdef __clang__
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winclude-next-absolute-path"
#endif
#include_next <elf.h>
#ifdef __clang__
#pragma clang diagnostic pop
#endif

#ifndef RL_ELF_H
#define RL_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_ELF_MAX_SIZE (2ull << 30)	/* 2 GiB */

const char *rl_elf_errmsg(void);

struct rl_elf_sym {
	char *name;
	uint64_t value;		/* st_value: the virtual address */
	uint64_t size;		/* st_size (0 when the symbol table does not say) */
	/*
	 * Where the function's first byte is in the file: st_value - p_vaddr +
	 * p_offset of the PT_LOAD segment holding it. This is the func_offset
	 * of bpf_program__attach_uprobe_opts() (with func_name NULL), for PIE
	 * and non-PIE executables and shared objects alike.
	 */
	uint64_t offset;
	bool ifunc;		/* STT_GNU_IFUNC: a resolver, not the function it picks */
	bool global;		/* STB_GLOBAL or STB_WEAK */
	bool dynamic;		/* found in .dynsym (exported) */
};

/*
 * The defined function symbols (STT_FUNC and STT_GNU_IFUNC, not SHN_UNDEF)
 * of .symtab and .dynsym whose name matches GLOB (fnmatch(3); NULL for all),
 * deduplicated by address and name, sorted by address then name. Only
 * executables and shared objects (ET_EXEC, ET_DYN). A stripped file still
 * has its exported (.dynsym) functions. Free with rl_elf_syms_free.
 */
int rl_elf_symbols(int fd, const char *glob, struct rl_elf_sym **out, size_t *n);
void rl_elf_syms_free(struct rl_elf_sym *syms, size_t n);

enum rl_elf_sym_kind {
	RL_ELF_SYM_MISSING = 0,		/* no symbol of that name */
	RL_ELF_SYM_FUNC = 1,		/* a defined function */
	RL_ELF_SYM_NOT_FUNC = 2,	/* defined, but a variable (STT_OBJECT) or other */
	RL_ELF_SYM_IMPORTED = 3,	/* only undefined here: a shared library defines it */
};

/* What NAME is in this file (an enum rl_elf_sym_kind), or -errno. */
int rl_elf_symbol_kind(int fd, const char *name);

/*
 * Up to 3 defined function names close to NAME, best first, written to out
 * as "a, b, c" (the caller words it: "did you mean a, b?"): within a small
 * edit distance (Levenshtein, bounded by the name's length), then names that
 * contain NAME, ignoring case. Returns how many (0: out is ""), or -errno.
 * Linear in the symbols, with a length prefilter and a banded, early-exit
 * edit distance: about 30 ms for 100k functions (in .symtab and .dynsym).
 */
int rl_elf_suggest(int fd, const char *name, char *out, size_t len);

/*
 * Whether the file is a Go program: it has Go's build information
 * (.go.buildinfo, or its magic at the start of the first writable segment
 * when section headers were stripped), or, from before Go 1.13, a
 * .gopclntab or .note.go.buildid section. version (may be NULL) gets the
 * Go version, "go1.19.8", or "" when not readable.
 */
bool rl_elf_is_go(int fd, char *version, size_t len);

/* A USDT probe site, from a .note.stapsdt note (what `readelf -n` lists). */
struct rl_elf_usdt {
	char provider[64];
	char name[64];
	uint64_t pc;		/* the probe's address */
	uint64_t base;		/* the address of .stapsdt.base when linked */
	uint64_t semaphore;	/* its address, 0 when it has none */
	char args[256];		/* "-4@%edi 8@%rsi", truncated when longer */
};

/* Every USDT probe site, in note order. Free *out with free(). */
int rl_elf_usdt_probes(int fd, struct rl_elf_usdt **out, size_t *n);

/*
 * How many sites the probe PROVIDER:NAME has (0: none, so the agent can list
 * what rl_elf_usdt_probes found instead); PROVIDER NULL matches any.
 */
int rl_elf_has_usdt(int fd, const char *provider, const char *name);

/*
 * Where to put the uprobe of a USDT probe site, as file offsets (what the
 * kernel's uprobe interfaces take): the probe's address (moved with
 * .stapsdt.base when the file was prelinked), inside an executable PT_LOAD
 * segment, and its semaphore (the kernel's reference counter, which turns
 * the probe's arguments on in the process), inside a writable one, or 0.
 */
struct rl_usdt_site {
	uint64_t offset;
	uint64_t ref_ctr_offset;
};

/*
 * The sites of PROVIDER:NAME (PROVIDER NULL: any), in note order; *n 0 when
 * there is none. -EINVAL when a site lies outside the segments it must be in.
 * Free *out with free().
 */
int rl_elf_usdt_sites(int fd, const char *provider, const char *name, struct rl_usdt_site **out, size_t *n);

/*
 * Up to 3 USDT probes of the file close to PROVIDER:NAME, as rl_elf_suggest
 * does for functions, written "prov:a, prov:b": the same name under another
 * provider first; then, under the same provider, typos of NAME and names
 * that contain it; under another, typos of "PROVIDER:NAME". How many, or
 * -errno.
 */
int rl_elf_usdt_suggest(int fd, const char *provider, const char *name, char *out, size_t len);

/* The largest function rl_elf_read_code reads. */
#define RL_ELF_MAX_CODE (1u << 20)

enum rl_elf_arch { RL_ELF_ARCH_OTHER, RL_ELF_ARCH_X86_64, RL_ELF_ARCH_ARM64 };

/*
 * SYM's bytes (sym->size of them, at most RL_ELF_MAX_CODE) from the file,
 * checked to lie inside the file part of the PT_LOAD segment that holds
 * sym->value, and the file's architecture. *code is malloc'ed.
 */
int rl_elf_read_code(int fd, const struct rl_elf_sym *sym, uint8_t **code, size_t *len,
		     enum rl_elf_arch *arch);

#endif
