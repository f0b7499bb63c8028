/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where to put the uprobes of a Go function, found by disassembling it
 * (capstone): its return instructions.
 *
 * Why: a uretprobe replaces the return address on the stack with a
 * trampoline's. The Go runtime moves goroutine stacks (copying them when they
 * grow) and walks them for panics and the garbage collector: a return
 * address it does not recognise crashes the program. So for Go the agent
 * times a function with plain uprobes on its entry and on each of its return
 * instructions instead, which changes no stack.
 *
 * The entry probe is on the first instruction; how bpf/func.bpf.c tells
 * the second pass of a call whose stack grew from a new call is explained
 * there.
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

/*
 * The same for the function SYM of the ELF file FD (from rl_elf_symbols):
 * its bytes read from the file, sym->size of them (at most
 * RL_ELF_MAX_CODE). -EOPNOTSUPP for an architecture other than x86-64 and
 * arm64. The uprobes go at file offset sym->offset + (*offsets)[i].
 */
int rl_elf_function_returns(int fd, const struct rl_elf_sym *sym, uint64_t **offsets, size_t *n);

/* Why the last failing call of this module on this thread failed. */
const char *rl_disasm_errmsg(void);

#endif
