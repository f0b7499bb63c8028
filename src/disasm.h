/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where to put the uprobes of a Go function, found by disassembling it
 * (capstone): its return instructions, and the end of its stack check.
 *
 * Why: a uretprobe replaces the return address on the stack with a
 * trampoline's. The Go runtime moves goroutine stacks (copying them when they
 * grow) and walks them for panics and the garbage collector: a return
 * address it does not recognise crashes the program. So for Go the agent
 * times a function with plain uprobes on its entry and on each of its return
 * instructions instead, which changes no stack.
 *
 * The entry probe cannot sit on the first instruction either. A Go function
 * begins by comparing its stack pointer with the goroutine's stack bound;
 * when the frame does not fit, it branches to a block at its end that calls
 * runtime.morestack (which gives the goroutine a larger stack) and jumps
 * back to the first instruction, so the function runs its entry twice for
 * one call (every call that starts a fresh goroutine's stack growth). The
 * probe goes on the first instruction after that check instead.
 */
#ifndef RL_DISASM_H
#define RL_DISASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "elf.h"

/*
 * The offsets, from the start of CODE (len bytes, the function loaded at
 * ADDR), of every instruction in capstone's CS_GRP_RET group: x86-64 RET and
 * RETF with or without an imm16 (prefixed ones too); arm64 RET (any
 * register). Decoded linearly from the first byte: on x86-64 a byte sequence
 * that does not decode is -EILSEQ (an offset past it could be the middle of
 * an instruction, and a probe there would corrupt the program); on arm64,
 * where instructions are 4 bytes, an undecodable word (a literal pool) is
 * skipped. *offsets is malloc'ed (NULL when *n is 0), ascending.
 * A function that can also leave by a tail call (a jmp to another function)
 * has that exit missed: the caller of such a probe sees an entry without a
 * return, and must expire it.
 */
int rl_disasm_returns(const uint8_t *code, size_t len, uint64_t addr, bool x86_64, uint64_t **offsets,
		      size_t *n);

/* How far into a function its stack check may end, in instructions. */
#define RL_GO_PROLOGUE_MAX 12
/* How long a morestack block may be (it spills and reloads the register arguments). */
#define RL_GO_MORESTACK_MAX 64

/*
 * The offset, from the start of CODE, of the first instruction after a Go
 * function's stack check: the fallthrough of the last of the conditional
 * branches (one, or two for frames larger than a page) with which the
 * function's first instructions go to its morestack block. A morestack
 * block is recognised by its shape, not by symbol names: a few instructions
 * with a direct call and no other branch, ending in a direct jump to the
 * function's first instruction. What the compilers emit, for example:
 *
 *   x86-64 (Go 1.17+)            arm64
 *   mov  %rsp,%r12               ldr  x16, [x28, #16]
 *   sub  $0x2008,%r12            mov  x27, #8208
 *   jb   L                       subs x17, sp, x27
 *   cmp  0x10(%r14),%r12         b.lo L
 *   jbe  L                       cmp  x17, x16
 *   (entry: here)                b.ls L
 *   ...                          (entry: here)
 *   L: call runtime.morestack_noctxt; jmp <first instruction>
 *
 * (smaller frames: cmp 0x10(%r14),%rsp or lea -N(%rsp),%r12 then cmp; jbe.)
 * 0 and *entry; -ENOENT when no instruction jumps back to the first one: no
 * stack check (a nosplit function), whose first instruction is the entry;
 * -EPROTO when one does but no stack check branching to it was recognised
 * in the first RL_GO_PROLOGUE_MAX instructions, or when a branch of the
 * function goes into the check (the probe would count a call twice); or
 * an error of the decoding (as rl_disasm_returns). rl_disasm_errmsg() says
 * why.
 */
int rl_disasm_go_entry(const uint8_t *code, size_t len, uint64_t addr, bool x86_64, uint64_t *entry);

/*
 * The same for the function SYM of the ELF file FD (from rl_elf_symbols):
 * its bytes read from the file, sym->size of them (at most
 * RL_ELF_MAX_CODE). -EOPNOTSUPP for an architecture other than x86-64 and
 * arm64. The uprobes go at file offset sym->offset + (*offsets)[i].
 */
int rl_elf_function_returns(int fd, const struct rl_elf_sym *sym, uint64_t **offsets, size_t *n);

/* Where a Go function is probed (rl_elf_go_probes). */
struct rl_go_probes {
	uint64_t entry;		/* offset of the entry probe: past the stack check, or 0 */
	int entry_err;		/* rl_disasm_go_entry's answer: 0, -ENOENT, -EPROTO... */
	char entry_why[256];	/* its message when not 0 */
	uint64_t *returns;	/* malloc'ed, as rl_disasm_returns */
	size_t nreturns;
};

/*
 * The function's code read once, then rl_disasm_returns and
 * rl_disasm_go_entry on it. 0 when the returns were found (whatever the
 * entry's answer: the caller decides what to do without a stack check);
 * -errno otherwise. Free out->returns.
 */
int rl_elf_go_probes(int fd, const struct rl_elf_sym *sym, struct rl_go_probes *out);

/* Why the last failing call of this module on this thread failed. */
const char *rl_disasm_errmsg(void);

#endif
