// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Return instructions and Go stack checks by disassembly (see disasm.h). */
#include <capstone/capstone.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disasm.h"

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

/* What the analyses here need of an instruction. */
enum kind { K_OTHER, K_RET, K_CALL, K_JUMP, K_CJUMP };

struct ins {
	uint64_t addr;
	uint64_t target;	/* a direct branch's destination */
	bool direct;		/* target is known */
	enum kind kind;
};

struct code {
	struct ins *v;
	size_t n, cap;
};

/* The destination of a direct branch: its (last, on arm64: cbz/tbz) immediate operand. */
static bool branch_target(const cs_insn *insn, bool x86_64, uint64_t *target)
{
	if (x86_64) {
		const cs_x86 *x = &insn->detail->x86;

		if (x->op_count >= 1 && x->operands[0].type == X86_OP_IMM) {
			*target = (uint64_t)x->operands[0].imm;
			return true;
		}
		return false;
	}
	for (int i = insn->detail->arm64.op_count - 1; i >= 0; i--) {
		if (insn->detail->arm64.operands[i].type == ARM64_OP_IMM) {
			*target = (uint64_t)insn->detail->arm64.operands[i].imm;
			return true;
		}
	}
	return false;
}

static enum kind kind_of(csh cs, const cs_insn *insn, bool x86_64)
{
	if (cs_insn_group(cs, insn, CS_GRP_RET))
		return K_RET;
	/* capstone 4 puts arm64's bl and blr in the jump group only. */
	if (cs_insn_group(cs, insn, CS_GRP_CALL) ||
	    (!x86_64 && (insn->id == ARM64_INS_BL || insn->id == ARM64_INS_BLR)))
		return K_CALL;
	if (!cs_insn_group(cs, insn, CS_GRP_JUMP))
		return K_OTHER;
	if (x86_64)
		return insn->id == X86_INS_JMP || insn->id == X86_INS_LJMP ? K_JUMP : K_CJUMP;
	if (insn->id == ARM64_INS_BR)
		return K_JUMP;
	if (insn->id == ARM64_INS_B &&
	    (insn->detail->arm64.cc == ARM64_CC_INVALID || insn->detail->arm64.cc == ARM64_CC_AL ||
	     insn->detail->arm64.cc == ARM64_CC_NV))
		return K_JUMP;
	return K_CJUMP;	/* b.cond, cbz, cbnz, tbz, tbnz */
}

/*
 * Decodes CODE linearly from its first byte (see rl_disasm_returns for what
 * cannot be decoded). c->v is malloc'ed.
 */
static int decode(const uint8_t *code, size_t len, uint64_t addr, bool x86_64, struct code *c)
{
	const uint8_t *p = code;
	uint64_t pc = addr;
	size_t left = len;
	cs_insn *insn = NULL;
	csh cs;
	int err = 0;

	memset(c, 0, sizeof(*c));
	if (cs_open(x86_64 ? CS_ARCH_X86 : CS_ARCH_ARM64, x86_64 ? CS_MODE_64 : CS_MODE_ARM, &cs) != CS_ERR_OK)
		return fail(-EOPNOTSUPP, "capstone cannot disassemble %s", x86_64 ? "x86-64" : "arm64");
	/* Groups and operands are part of an instruction's details. */
	if (cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK || !(insn = cs_malloc(cs))) {
		err = fail(-ENOMEM, "capstone: %s", cs_strerror(cs_errno(cs)));
		goto out;
	}
	while (left) {
		struct ins *e;

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
			goto out;
		}
		if (c->n == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 64;
			struct ins *nv = realloc(c->v, ncap * sizeof(*nv));

			if (!nv) {
				err = fail(-ENOMEM, "out of memory");
				goto out;
			}
			c->v = nv;
			c->cap = ncap;
		}
		e = &c->v[c->n++];
		memset(e, 0, sizeof(*e));
		e->addr = insn->address;
		e->kind = kind_of(cs, insn, x86_64);
		if (e->kind == K_CALL || e->kind == K_JUMP || e->kind == K_CJUMP)
			e->direct = branch_target(insn, x86_64, &e->target);
	}
out:
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	if (err) {
		free(c->v);
		memset(c, 0, sizeof(*c));
	}
	return err;
}

int rl_disasm_returns(const uint8_t *code, size_t len, uint64_t addr, bool x86_64, uint64_t **offsets,
		      size_t *n)
{
	struct code c;
	uint64_t *v = NULL;
	size_t nv = 0;
	int err;

	*offsets = NULL;
	*n = 0;
	err = decode(code, len, addr, x86_64, &c);
	if (err)
		return err;
	for (size_t i = 0; i < c.n; i++)
		nv += c.v[i].kind == K_RET;
	if (nv && !(v = malloc(nv * sizeof(*v)))) {
		free(c.v);
		return fail(-ENOMEM, "out of memory");
	}
	nv = 0;
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].kind == K_RET)
			v[nv++] = c.v[i].addr - addr;
	free(c.v);
	*offsets = v;
	*n = nv;
	return 0;
}

/* The index of the instruction at address a, or c->n. */
static size_t index_of(const struct code *c, uint64_t a)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->v[mid].addr < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->v[lo].addr == a ? lo : c->n;
}

/*
 * Whether the block at address a is a morestack block: within a few
 * instructions, with at least one direct call among them and no other
 * branch, a direct jump back to the function's first instruction.
 */
static bool morestack_block(const struct code *c, uint64_t a)
{
	size_t i = index_of(c, a);
	bool called = false;

	for (size_t k = 0; i < c->n && k < RL_GO_MORESTACK_MAX; i++, k++) {
		const struct ins *e = &c->v[i];

		if (e->kind == K_CALL && e->direct)
			called = true;
		else if (e->kind == K_JUMP)
			return called && e->direct && e->target == c->v[0].addr;
		else if (e->kind != K_OTHER)
			return false;
	}
	return false;
}

int rl_disasm_go_entry(const uint8_t *code, size_t len, uint64_t addr, bool x86_64, uint64_t *entry)
{
	size_t check = 0, after;
	bool found = false, rejump = false;
	uint64_t block = 0, rejump_at = 0;
	struct code c;
	int err;

	*entry = 0;
	err = decode(code, len, addr, x86_64, &c);
	if (err)
		return err;
	if (!c.n) {
		free(c.v);
		return fail(-ENOENT, "no instruction");
	}
	for (size_t i = 1; i < c.n && !rejump; i++) {
		if (c.v[i].kind == K_JUMP && c.v[i].direct && c.v[i].target == addr) {
			rejump = true;
			rejump_at = c.v[i].addr;
		}
	}
	if (!rejump) {
		free(c.v);
		return fail(-ENOENT, "no stack check (no jump back to the first instruction)");
	}
	/*
	 * The prologue: instructions without branches, then one or two
	 * conditional branches to the morestack block (two for frames larger
	 * than a page: an underflow check, then the bound). It ends at the
	 * first other branch; the probe goes after its last check.
	 */
	for (size_t i = 0; i < c.n && i < RL_GO_PROLOGUE_MAX; i++) {
		const struct ins *e = &c.v[i];

		if (e->kind == K_OTHER)
			continue;
		if (e->kind != K_CJUMP || !e->direct || e->target <= e->addr ||
		    (found && e->target != block) || (!found && !morestack_block(&c, e->target)))
			break;
		found = true;
		block = e->target;
		check = i;
	}
	if (!found || check + 1 >= c.n) {
		free(c.v);
		return fail(-EPROTO, "a jump back to the first instruction at +%#llx, but no stack check "
			    "before it that branches there", (unsigned long long)(rejump_at - addr));
	}
	/* Nothing may branch into the prologue or to the probe: it would count a call twice. */
	after = check + 1;
	for (size_t i = 0; i < c.n; i++) {
		const struct ins *e = &c.v[i];

		if (e->kind != K_OTHER && e->kind != K_RET && e->direct && e->target > addr &&
		    e->target <= c.v[after].addr) {
			uint64_t at = e->addr - addr, to = e->target - addr;

			free(c.v);
			return fail(-EPROTO, "the branch at +%#llx goes to +%#llx, inside the stack check",
				    (unsigned long long)at, (unsigned long long)to);
		}
	}
	*entry = c.v[after].addr - addr;
	free(c.v);
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
	bool x86_64;
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

int rl_elf_go_probes(int fd, const struct rl_elf_sym *sym, struct rl_go_probes *out)
{
	uint8_t *code;
	size_t len;
	bool x86_64;
	int err;

	memset(out, 0, sizeof(*out));
	err = read_function(fd, sym, &code, &len, &x86_64);
	if (err)
		return err;
	err = rl_disasm_returns(code, len, sym->value, x86_64, &out->returns, &out->nreturns);
	if (err) {
		free(code);
		return named(err, sym->name);
	}
	out->entry_err = rl_disasm_go_entry(code, len, sym->value, x86_64, &out->entry);
	if (out->entry_err)
		snprintf(out->entry_why, sizeof(out->entry_why), "%.*s", (int)sizeof(out->entry_why) - 1, errmsg);
	free(code);
	return 0;
}
