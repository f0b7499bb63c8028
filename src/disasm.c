// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Return instructions by disassembly (see disasm.h). */
#include <capstone/capstone.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disasm.h"
#include "grow.h"

static __thread char errmsg[1024];

const char *rl_disasm_errmsg(void)
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

/* Appends v to the malloc'ed array *a of *n (capacity *cap). */
static int push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	uint64_t *na = rl_grow(*a, *n, cap, sizeof(*na));

	if (!na)
		return fail(-ENOMEM, "out of memory");
	*a = na;
	(*a)[(*n)++] = v;
	return 0;
}

int rl_disasm_returns(const uint8_t *code, size_t len, uint64_t addr, bool x86_64, uint64_t **offsets,
		      size_t *n)
{
	const uint8_t *p = code;
	uint64_t pc = addr, *v = NULL;
	size_t left = len, nv = 0, cap = 0;
	cs_insn *insn = NULL;
	csh cs;
	int err = 0;

	*offsets = NULL;
	*n = 0;
	if (cs_open(x86_64 ? CS_ARCH_X86 : CS_ARCH_ARM64, x86_64 ? CS_MODE_64 : CS_MODE_ARM, &cs) != CS_ERR_OK)
		return fail(-EOPNOTSUPP, "capstone cannot disassemble %s", x86_64 ? "x86-64" : "arm64");
	/* Groups are part of an instruction's details. */
	if (cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK || !(insn = cs_malloc(cs))) {
		err = fail(-ENOMEM, "capstone: %s", cs_strerror(cs_errno(cs)));
		goto out;
	}
	while (left && !err) {
		if (!cs_disasm_iter(cs, &p, &left, &pc, insn)) {
			if (!x86_64 && left >= 4) {
				/* arm64: data between instructions; the next word is one again. */
				p += 4;
				left -= 4;
				pc += 4;
				continue;
			}
			if (!x86_64)
				break;	/* a trailing partial word */
			err = fail(-EILSEQ, "undecodable instruction at +%#zx", (size_t)(p - code));
			break;
		}
		if (cs_insn_group(cs, insn, CS_GRP_RET))
			err = push(&v, &nv, &cap, insn->address - addr);
	}
out:
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	if (err) {
		free(v);
		return err;
	}
	*offsets = v;
	*n = nv;
	return 0;
}

static int read_function(int fd, const struct rl_elf_sym *sym, uint8_t **code, size_t *len, bool *x86_64)
{
	enum rl_elf_arch arch;
	int err = rl_elf_read_code(fd, sym, code, len, &arch);

	if (err)
		return fail(err, "%s", rl_elf_errmsg());
	if (arch == RL_ELF_ARCH_OTHER) {
		free(*code);
		*code = NULL;
		return fail(-EOPNOTSUPP, "%s: neither x86-64 nor arm64 code", sym->name);
	}
	*x86_64 = arch == RL_ELF_ARCH_X86_64;
	return 0;
}

/* Prefixes the module's message with the function's name. */
static int named(int err, const char *name)
{
	char why[sizeof(errmsg)];

	snprintf(why, sizeof(why), "%s", errmsg);
	return fail(err, "%s: %s", name, why);
}

int rl_elf_function_returns(int fd, const struct rl_elf_sym *sym, uint64_t **offsets, size_t *n)
{
	uint8_t *code;
	size_t len;
	bool x86_64 = false;
	int err;

	*offsets = NULL;
	*n = 0;
	err = read_function(fd, sym, &code, &len, &x86_64);
	if (err)
		return err;
	err = rl_disasm_returns(code, len, sym->value, x86_64, offsets, n);
	free(code);
	return err ? named(err, sym->name) : 0;
}
