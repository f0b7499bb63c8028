// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ELF symbols, offsets, suggestions, Go, USDT and return instructions, on
 * byte tables and on binaries this test builds from tests/fixtures/elf and
 * tests/fixtures/go (gcc, strip, go), checked against binutils (readelf,
 * objdump), which share no code with libelf or capstone; then broken files,
 * which must give -EINVAL and nothing worse.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "disasm.h"
#include "elf.h"

static char tmpdir[256];
static char srcdir[PATH_MAX];	/* tests/fixtures */

static void pathf(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", tmpdir, name);
}

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc;
}

static int open_tmp(const char *name)
{
	char p[PATH_MAX];
	int fd;

	pathf(p, name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s", p, strerror(errno));
	return fd;
}

/* The fixture sources: beside this file, or found from the test binary (.output/tests/). */
static int find_srcdir(void)
{
	char exe[PATH_MAX - 64], *slash;
	const char *env = getenv("RL_FIXTURES");
	struct stat st;
	ssize_t r;

	if (env) {
		snprintf(srcdir, sizeof(srcdir), "%s", env);
		return 0;
	}
	snprintf(srcdir, sizeof(srcdir), "tests/fixtures");
	if (stat("tests/fixtures/elf/prog.c", &st) == 0)
		return 0;
	r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (r < 0)
		return -1;
	exe[r] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(srcdir, sizeof(srcdir), "%s/../../tests/fixtures", exe);
	return stat(srcdir, &st);
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rl-test-elf-XXXXXX");
	if (!mkdtemp(tmpdir) || find_srcdir())
		return -1;
	if (run("gcc -O0 -g -fPIE -pie -o %s/pie %s/elf/prog.c", tmpdir, srcdir) ||
	    run("gcc -O0 -g -fno-pie -no-pie -o %s/nopie %s/elf/prog.c", tmpdir, srcdir) ||
	    run("gcc -O2 -o %s/o2 %s/elf/prog.c", tmpdir, srcdir) ||
	    run("gcc -O2 -fPIC -shared -o %s/lib.so %s/elf/lib.c", tmpdir, srcdir) ||
	    run("cp %s/lib.so %s/stripped.so && strip --strip-all %s/stripped.so", tmpdir, tmpdir, tmpdir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	if (tmpdir[0])
		run("rm -rf '%s'", tmpdir);
	return 0;
}

/* ---- What binutils says, parsed independently. ---- */

struct load {
	uint64_t off, vaddr, filesz;
};

static size_t readelf_loads(const char *path, struct load *out, size_t max)
{
	char cmd[PATH_MAX + 64], line[512];
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -lW '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long off, va, pa, fs, ms;

		if (sscanf(line, " LOAD %llx %llx %llx %llx %llx", &off, &va, &pa, &fs, &ms) == 5 && n < max)
			out[n++] = (struct load){ off, va, fs };
	}
	pclose(p);
	return n;
}

struct xsym {
	char name[512];
	uint64_t value, size, offset;
};

/*
 * Defined FUNC/IFUNC symbols of `readelf -sW` (both tables), their offsets
 * computed from the LOAD lines of `readelf -lW`, deduplicated.
 */
static size_t readelf_funcs(const char *path, struct xsym *out, size_t max)
{
	struct load loads[32];
	size_t nl = readelf_loads(path, loads, 32), n = 0;
	char cmd[PATH_MAX + 64], line[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -sW '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char type[32], bind[32], vis[32], ndx[32], name[512], size[64];
		unsigned long long value;
		struct xsym x;
		size_t i;

		if (sscanf(line, " %*[0-9]: %llx %63s %31s %31s %31s %31s %511s", &value, size, type, bind, vis,
			   ndx, name) != 7)
			continue;
		if ((strcmp(type, "FUNC") && strcmp(type, "IFUNC")) || !strcmp(ndx, "UND"))
			continue;
		memset(&x, 0, sizeof(x));
		snprintf(x.name, sizeof(x.name), "%s", name);
		x.value = value;
		x.size = strtoull(size, NULL, 0);
		for (i = 0; i < nl; i++)
			if (value >= loads[i].vaddr && value < loads[i].vaddr + loads[i].filesz)
				break;
		assert_true(i < nl);
		x.offset = value - loads[i].vaddr + loads[i].off;
		for (i = 0; i < n; i++)
			if (out[i].value == x.value && !strcmp(out[i].name, x.name))
				break;
		if (i == n && n < max)
			out[n++] = x;
	}
	pclose(p);
	return n;
}

static const struct rl_elf_sym *find_sym(const struct rl_elf_sym *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s[i].name, name))
			return &s[i];
	return NULL;
}

/* Every function readelf lists, with the same address and offset, and no other. */
static void check_all_symbols(const char *file, size_t min_expected)
{
	static struct xsym want[4096];
	struct rl_elf_sym *got;
	char path[PATH_MAX];
	size_t nw, ng;
	int fd;

	pathf(path, file);
	nw = readelf_funcs(path, want, 4096);
	assert_true(nw >= min_expected);
	fd = open_tmp(file);
	assert_int_equal(rl_elf_symbols(fd, NULL, &got, &ng), 0);
	close(fd);
	assert_int_equal(ng, nw);
	for (size_t i = 0; i < nw; i++) {
		bool found = false;

		for (size_t j = 0; j < ng; j++) {
			if (got[j].value == want[i].value && !strcmp(got[j].name, want[i].name)) {
				found = true;
				assert_int_equal(got[j].offset, want[i].offset);
				assert_int_equal(got[j].size, want[i].size);
			}
		}
		if (!found)
			fail_msg("%s: %s (%#llx) not found", file, want[i].name, (unsigned long long)want[i].value);
	}
	rl_elf_syms_free(got, ng);
}

/* The first instruction's bytes as objdump shows them at SYM's address. */
static size_t objdump_first_bytes(const char *path, const char *sym, uint8_t *out, size_t max)
{
	char cmd[PATH_MAX + 128], line[512], head[300];
	bool in = false;
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "objdump -d '%s'", path);
	snprintf(head, sizeof(head), "<%s>:", sym);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (!in) {
			in = strstr(line, head) != NULL;
			continue;
		}
		/* "    1139:\t55                   \tpush   %rbp" */
		char *tab = strchr(line, '\t');
		if (!tab)
			break;
		for (char *q = tab + 1; *q && *q != '\t' && n < max;) {
			unsigned b;
			int used;

			if (sscanf(q, "%2x%n", &b, &used) != 1)
				break;
			out[n++] = (uint8_t)b;
			q += used;
			while (*q == ' ')
				q++;
		}
		break;
	}
	pclose(p);
	return n;
}

static void test_symbols_match_readelf(void **state)
{
	check_all_symbols("pie", 8);
	check_all_symbols("nopie", 8);
	check_all_symbols("o2", 8);
	check_all_symbols("lib.so", 3);
	check_all_symbols("stripped.so", 3);
}

static void test_offsets_pie_nopie(void **state)
{
	const char *files[] = { "pie", "nopie" };

	for (size_t f = 0; f < 2; f++) {
		char path[PATH_MAX];
		struct rl_elf_sym *s;
		const struct rl_elf_sym *req;
		uint8_t want[16], got[16];
		size_t n, nb;
		int fd = open_tmp(files[f]);

		pathf(path, files[f]);
		assert_int_equal(rl_elf_symbols(fd, "rl_fix_handle_request", &s, &n), 0);
		assert_int_equal(n, 1);
		req = &s[0];
		if (f == 1) {
			/* Non-PIE: linked at 0x400000, so the offset is not the address. */
			assert_true(req->value >= 0x400000);
			assert_true(req->offset < req->value);
		}
		assert_true(req->global);
		assert_false(req->ifunc);
		/* At that file offset are the bytes objdump shows at that address. */
		nb = objdump_first_bytes(path, "rl_fix_handle_request", want, sizeof(want));
		assert_true(nb > 0);
		assert_int_equal(pread(fd, got, nb, (off_t)req->offset), (ssize_t)nb);
		assert_memory_equal(got, want, nb);
		rl_elf_syms_free(s, n);
		close(fd);
	}
}

static void test_stripped_shared_library(void **state)
{
	struct rl_elf_sym *s;
	char path[PATH_MAX], cmd[PATH_MAX + 64], line[256];
	size_t n;
	FILE *p;
	bool has_symtab = false;
	int fd = open_tmp("stripped.so");

	/* Really stripped: no .symtab left. */
	pathf(path, "stripped.so");
	snprintf(cmd, sizeof(cmd), "readelf -SW '%s'", path);
	p = popen(cmd, "r");
	while (fgets(line, sizeof(line), p))
		has_symtab |= strstr(line, " .symtab ") != NULL;
	pclose(p);
	assert_false(has_symtab);

	assert_int_equal(rl_elf_symbols(fd, "rl_lib_*", &s, &n), 0);
	assert_int_equal(n, 3);
	assert_non_null(find_sym(s, n, "rl_lib_process_request_line"));
	assert_non_null(find_sym(s, n, "rl_lib_process_request"));
	assert_non_null(find_sym(s, n, "rl_lib_finalize"));
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i].dynamic);
		assert_true(s[i].size > 0);
	}
	rl_elf_syms_free(s, n);
	/* The static function is gone with .symtab; the variable is not a function. */
	assert_int_equal(rl_elf_symbol_kind(fd, "internal_count"), RL_ELF_SYM_MISSING);
	assert_int_equal(rl_elf_symbol_kind(fd, "rl_lib_state"), RL_ELF_SYM_NOT_FUNC);
	assert_int_equal(rl_elf_symbol_kind(fd, "rl_lib_finalize"), RL_ELF_SYM_FUNC);
	close(fd);
}

static void test_glob(void **state)
{
	struct rl_elf_sym *s;
	size_t n;
	int fd = open_tmp("pie");

	assert_int_equal(rl_elf_symbols(fd, "rl_fix_handle_*", &s, &n), 0);
	assert_int_equal(n, 2);	/* request and response, not the variable rl_fix_handle_count */
	assert_true(s[0].value < s[1].value);	/* sorted by address */
	assert_non_null(find_sym(s, n, "rl_fix_handle_request"));
	assert_non_null(find_sym(s, n, "rl_fix_handle_response"));
	rl_elf_syms_free(s, n);

	assert_int_equal(rl_elf_symbols(fd, "rl_fix_[cd]*", &s, &n), 0);
	assert_int_equal(n, 2);	/* classify, dispatch */
	assert_true(find_sym(s, n, "rl_fix_dispatch")->ifunc);
	rl_elf_syms_free(s, n);

	/* A static function is in .symtab, so found too. */
	assert_int_equal(rl_elf_symbols(fd, "*static_helper", &s, &n), 0);
	assert_int_equal(n, 1);
	assert_false(s[0].global);
	rl_elf_syms_free(s, n);

	assert_int_equal(rl_elf_symbols(fd, "no_such_*", &s, &n), 0);
	assert_int_equal(n, 0);
	assert_null(s);
	close(fd);
}

static void test_symbol_kind(void **state)
{
	int fd = open_tmp("nopie");

	assert_int_equal(rl_elf_symbol_kind(fd, "rl_fix_handle_request"), RL_ELF_SYM_FUNC);
	assert_int_equal(rl_elf_symbol_kind(fd, "rl_fix_dispatch"), RL_ELF_SYM_FUNC);
	assert_int_equal(rl_elf_symbol_kind(fd, "rl_fix_handle_count"), RL_ELF_SYM_NOT_FUNC);
	assert_int_equal(rl_elf_symbol_kind(fd, "rl_fix_banner"), RL_ELF_SYM_NOT_FUNC);
	assert_int_equal(rl_elf_symbol_kind(fd, "rl_fix_nothing"), RL_ELF_SYM_MISSING);
	/* Called through the PLT: libc defines it. */
	assert_int_equal(rl_elf_symbol_kind(fd, "printf"), RL_ELF_SYM_IMPORTED);
	assert_int_equal(rl_elf_symbol_kind(fd, ""), -EINVAL);
	close(fd);
}

static void test_suggest(void **state)
{
	char out[256];
	int fd = open_tmp("pie");

	/* A typo: the function it meant first. */
	assert_true(rl_elf_suggest(fd, "rl_fix_handle_requst", out, sizeof(out)) >= 1);
	assert_memory_equal(out, "rl_fix_handle_request", strlen("rl_fix_handle_request"));
	/* Part of a name: the functions that contain it, never the variable. */
	assert_int_equal(rl_elf_suggest(fd, "handle_re", out, sizeof(out)), 2);
	assert_string_equal(out, "rl_fix_handle_request, rl_fix_handle_response");
	assert_int_equal(rl_elf_suggest(fd, "HANDLE_RESPONSE", out, sizeof(out)), 1);
	assert_string_equal(out, "rl_fix_handle_response");
	assert_int_equal(rl_elf_suggest(fd, "zzzzqqqq", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* A short buffer is truncated, not overrun. */
	assert_int_equal(rl_elf_suggest(fd, "handle_re", out, 8), 2);
	assert_string_equal(out, "rl_fix_");
	close(fd);

	/* From .dynsym alone, the example of the issue. */
	fd = open_tmp("stripped.so");
	assert_int_equal(rl_elf_suggest(fd, "rl_lib_process_request_lin", out, sizeof(out)), 2);
	assert_string_equal(out, "rl_lib_process_request_line, rl_lib_process_request");
	close(fd);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 100k functions: suggestions and globbing stay fast. */
static void test_many_symbols(void **state)
{
	char path[PATH_MAX], out[512];
	struct rl_elf_sym *s;
	double t0, dt;
	size_t n;
	FILE *f;
	int fd;

	pathf(path, "big.s");
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, ".text\n");
	for (int i = 0; i < 100000; i++)
		fprintf(f, ".globl h_%06d_handler\n.type h_%06d_handler, @function\nh_%06d_handler:\n"
			   "\tnop\n\tret\n.size h_%06d_handler, .-h_%06d_handler\n", i, i, i, i, i);
	fclose(f);
	assert_int_equal(run("gcc -shared -nostdlib -o %s/big.so %s/big.s", tmpdir, tmpdir), 0);
	fd = open_tmp("big.so");

	t0 = now_s();
	assert_int_equal(rl_elf_suggest(fd, "h_054321_handlr", out, sizeof(out)), 3);
	dt = now_s() - t0;
	print_message("suggest over 100k symbols: %.1f ms (%s)\n", dt * 1e3, out);
	assert_memory_equal(out, "h_054321_handler, ", 18);
	assert_true(dt < 1.0);

	assert_int_equal(rl_elf_symbols(fd, "h_0500??_handler", &s, &n), 0);
	assert_int_equal(n, 100);
	rl_elf_syms_free(s, n);
	assert_int_equal(rl_elf_symbols(fd, NULL, &s, &n), 0);
	assert_int_equal(n, 100000);
	rl_elf_syms_free(s, n);
	close(fd);
}

/* ---- USDT ---- */

struct xusdt {
	char provider[64], name[64];
	uint64_t pc, semaphore;
};

static size_t readelf_usdt(const char *path, struct xusdt *out, size_t max)
{
	char cmd[PATH_MAX + 64], line[512];
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -nW '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) && n < max) {
		unsigned long long pc, base, sem;

		const char *at;

		/* With -W, "Provider:" ends the note's first line. */
		if ((at = strstr(line, "Provider: ")) && sscanf(at, "Provider: %63s", out[n].provider) == 1)
			continue;
		if (sscanf(line, " Name: %63s", out[n].name) == 1)
			continue;
		if (sscanf(line, " Location: %llx, Base: %llx, Semaphore: %llx", &pc, &base, &sem) == 3) {
			out[n].pc = pc;
			out[n].semaphore = sem;
			n++;
		}
	}
	pclose(p);
	return n;
}

/* The file offset of vaddr from readelf's LOAD lines (0 when none holds it). */
static uint64_t readelf_file_offset(const char *path, uint64_t vaddr)
{
	struct load loads[32];
	size_t nl = readelf_loads(path, loads, 32);

	for (size_t i = 0; i < nl; i++)
		if (vaddr >= loads[i].vaddr && vaddr < loads[i].vaddr + loads[i].filesz)
			return vaddr - loads[i].vaddr + loads[i].off;
	return 0;
}

/* Where the uprobes of PROVIDER:NAME go (want: readelf's notes), as file offsets. */
static void check_usdt_sites(int fd, const char *path, const struct xusdt *want, size_t nw, const char *name,
			     size_t expect)
{
	struct rl_usdt_site *s;
	size_t n, k = 0;

	assert_int_equal(rl_elf_usdt_sites(fd, "rlfix", name, &s, &n), 0);
	assert_int_equal(n, expect);
	for (size_t i = 0; i < nw; i++) {
		if (strcmp(want[i].name, name))
			continue;
		assert_true(k < n);
		assert_true(s[k].offset != 0);
		assert_int_equal(s[k].offset, readelf_file_offset(path, want[i].pc));
		assert_int_equal(s[k].ref_ctr_offset, want[i].semaphore ? readelf_file_offset(path, want[i].semaphore)
									 : 0);
		assert_true(!want[i].semaphore || s[k].ref_ctr_offset != 0);
		k++;
	}
	assert_int_equal(k, n);
	free(s);
}

static void test_usdt(void **state)
{
	const char *files[] = { "pie", "nopie", "o2" };

	for (size_t f = 0; f < 3; f++) {
		struct xusdt want[16];
		struct rl_elf_usdt *u;
		char path[PATH_MAX];
		size_t nw, n;
		int fd = open_tmp(files[f]);

		pathf(path, files[f]);
		nw = readelf_usdt(path, want, 16);
		assert_int_equal(nw, 3);
		assert_int_equal(rl_elf_usdt_probes(fd, &u, &n), 0);
		assert_int_equal(n, nw);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(u[i].provider, want[i].provider);
			assert_string_equal(u[i].name, want[i].name);
			assert_int_equal(u[i].pc, want[i].pc);
			assert_int_equal(u[i].semaphore, want[i].semaphore);
			assert_memory_equal(u[i].args, "-4@", 3);
		}
		free(u);
		assert_int_equal(rl_elf_has_usdt(fd, "rlfix", "request__start"), 2);
		assert_int_equal(rl_elf_has_usdt(fd, NULL, "request__done"), 1);
		assert_int_equal(rl_elf_has_usdt(fd, "rlfix", "request__nope"), 0);
		assert_int_equal(rl_elf_has_usdt(fd, "other", "request__start"), 0);
		/* As file offsets, for the uprobes: two sites; one with its semaphore. */
		check_usdt_sites(fd, path, want, nw, "request__start", 2);
		check_usdt_sites(fd, path, want, nw, "request__done", 1);
		{
			struct rl_usdt_site *s;

			assert_int_equal(rl_elf_usdt_sites(fd, "other", "request__start", &s, &n), 0);
			assert_int_equal(n, 0);
			assert_null(s);
			assert_int_equal(rl_elf_usdt_sites(fd, "rlfix", "", &s, &n), -EINVAL);
		}
		close(fd);
	}
	{
		/* No notes at all. */
		int fd = open_tmp("lib.so");
		struct rl_elf_usdt *u;
		size_t n;

		assert_int_equal(rl_elf_usdt_probes(fd, &u, &n), 0);
		assert_int_equal(n, 0);
		assert_int_equal(rl_elf_has_usdt(fd, "rlfix", "request__start"), 0);
		close(fd);
	}
}

/* A missing USDT probe's close matches. */
static void test_usdt_suggest(void **state)
{
	char out[256];
	int fd = open_tmp("pie");

	assert_int_equal(rl_elf_usdt_suggest(fd, "rlfix", "request__stat", out, sizeof(out)), 1);
	assert_string_equal(out, "rlfix:request__start");
	/* The right name under a wrong provider, however far. */
	assert_int_equal(rl_elf_usdt_suggest(fd, "some_other_provider", "request__done", out, sizeof(out)), 1);
	assert_string_equal(out, "rlfix:request__done");
	/* A prefix of two probes' names: both, and a probe listed twice (two sites) once. */
	assert_int_equal(rl_elf_usdt_suggest(fd, "rlfix", "request", out, sizeof(out)), 2);
	assert_string_equal(out, "rlfix:request__done, rlfix:request__start");
	assert_int_equal(rl_elf_usdt_suggest(fd, "rlfix", "zzzz", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(rl_elf_usdt_suggest(fd, "rlfix", "", out, sizeof(out)), -EINVAL);
	close(fd);
	/* No notes at all: nothing to suggest. */
	fd = open_tmp("lib.so");
	assert_int_equal(rl_elf_usdt_suggest(fd, "rlfix", "request__start", out, sizeof(out)), 0);
	close(fd);
}

/* ---- Go ---- */

static uint8_t *slurp(const char *file, size_t *len);
static int write_tmp(const char *name, const void *buf, size_t len);

static void test_go(void **state)
{
	char version[64], want[64] = "", gobin[PATH_MAX];
	struct rl_elf_sym *s;
	size_t n;
	FILE *p;
	int fd;

	if (run("command -v go >/dev/null")) {
		print_message("go is not installed (scripts/deps.sh test installs golang-go)\n");
		skip();
	}
	/* Offline: the fixture uses the standard library only; no proxy, no module download. */
	assert_int_equal(run("cd %s/go && HOME=%s GOFLAGS=-mod=mod GOCACHE=%s/gocache GOPATH=%s/gopath "
			     "GOPROXY=off GO111MODULE=on CGO_ENABLED=0 go build -o %s/gofix . ",
			     srcdir, tmpdir, tmpdir, tmpdir, tmpdir), 0);
	p = popen("go env GOVERSION", "r");
	assert_non_null(p);
	assert_non_null(fgets(want, sizeof(want), p));
	pclose(p);
	want[strcspn(want, "\n")] = '\0';

	fd = open_tmp("gofix");
	assert_true(rl_elf_is_go(fd, version, sizeof(version)));
	assert_string_equal(version, want);
	assert_true(rl_elf_is_go(fd, NULL, 0));
	assert_int_equal(rl_elf_symbols(fd, "main.handle*", &s, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(s[0].name, "main.handleRequest");
	rl_elf_syms_free(s, n);
	close(fd);

	/* The C ones are not. */
	fd = open_tmp("pie");
	assert_false(rl_elf_is_go(fd, version, sizeof(version)));
	assert_string_equal(version, "");
	close(fd);
	fd = open_tmp("stripped.so");
	assert_false(rl_elf_is_go(fd, version, sizeof(version)));
	close(fd);

	/* No section headers at all (as sstrip leaves it): found in the data segment. */
	{
		size_t len;
		uint8_t *img = slurp("gofix", &len);
		Elf64_Ehdr *eh = (Elf64_Ehdr *)img;

		eh->e_shoff = 0;
		eh->e_shnum = 0;
		eh->e_shstrndx = 0;
		fd = write_tmp("gofix.nosh", img, len);
		assert_true(rl_elf_is_go(fd, version, sizeof(version)));
		assert_string_equal(version, want);
		close(fd);
		free(img);
	}

	/* Stripped Go (-s -w) keeps .go.buildinfo. */
	pathf(gobin, "gofix");
	assert_int_equal(run("cp %s %s.s && strip --strip-all %s.s", gobin, gobin, gobin), 0);
	fd = open_tmp("gofix.s");
	assert_true(rl_elf_is_go(fd, version, sizeof(version)));
	assert_string_equal(version, want);
	close(fd);
}

/* ---- Return instructions ---- */

/* Offsets of the return instructions objdump shows in SYM. */
static size_t objdump_returns(const char *path, const char *sym, uint64_t *out, size_t max)
{
	char cmd[PATH_MAX + 128], line[512], head[300];
	unsigned long long start = 0;
	bool in = false;
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn '%s'", path);
	snprintf(head, sizeof(head), "<%s>:", sym);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long addr;
		char *ins;

		if (!in) {
			if (strstr(line, head)) {
				in = true;
				start = strtoull(line, NULL, 16);
			}
			continue;
		}
		if (line[0] == '\n' || sscanf(line, " %llx:", &addr) != 1)
			break;
		ins = strchr(line, '\t');
		if (!ins)
			continue;
		ins++;
		/* Prefixes objdump prints as words of their own. */
		for (;;) {
			if (!strncmp(ins, "repz ", 5) || !strncmp(ins, "bnd ", 4) || !strncmp(ins, "rep ", 4))
				ins = strchr(ins, ' ') + 1;
			else
				break;
		}
		static const char *const rets[] = { "ret", "retq", "retw", "retl", "lret", "lretq", "lretw" };
		size_t ml = strcspn(ins, " \t\n");

		for (size_t i = 0; i < sizeof(rets) / sizeof(rets[0]); i++)
			if (strlen(rets[i]) == ml && !strncmp(ins, rets[i], ml) && n < max)
				out[n++] = addr - start;
	}
	pclose(p);
	return n;
}

/* FILE's returns of SYM against objdump's of REF (an unstripped copy: objdump labels nothing in a stripped one). */
static void check_returns_ref(const char *file, const char *ref, const char *sym, size_t min)
{
	uint64_t want[64], *got;
	struct rl_elf_sym *s;
	char path[PATH_MAX];
	size_t nw, ng, n;
	int fd = open_tmp(file);

	pathf(path, ref);
	nw = objdump_returns(path, sym, want, 64);
	assert_true(nw >= min);
	assert_int_equal(rl_elf_symbols(fd, sym, &s, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rl_elf_function_returns(fd, &s[0], &got, &ng), 0);
	assert_int_equal(ng, nw);
	for (size_t i = 0; i < nw; i++)
		assert_int_equal(got[i], want[i]);
	print_message("%s %s: %zu returns\n", file, sym, ng);
	free(got);
	rl_elf_syms_free(s, n);
	close(fd);
}

static void check_returns(const char *file, const char *sym, size_t min)
{
	check_returns_ref(file, file, sym, min);
}

static void test_returns_c(void **state)
{
	check_returns("pie", "rl_fix_handle_request", 1);	/* -O0 */
	check_returns("nopie", "rl_fix_handle_request", 1);
	check_returns("pie", "rl_fix_classify", 1);
	check_returns("o2", "rl_fix_classify", 2);
	check_returns_ref("stripped.so", "lib.so", "rl_lib_finalize", 1);
	check_returns_ref("stripped.so", "lib.so", "rl_lib_process_request", 1);
#if defined(__x86_64__)
	check_returns("pie", "rl_fix_asm_returns", 3);	/* repz ret, ret, ret $0; not the 0xc3 immediate */
#endif
}

static void test_returns_go(void **state)
{
	if (access(tmpdir, F_OK) || run("test -x %s/gofix", tmpdir))
		skip();	/* test_go did not build it */
	check_returns("gofix", "main.handleRequest", 2);
}

static void test_disasm_bytes(void **state)
{
	/* ret; ret 8; retf; retf 0x10; repz ret; mov eax,0xc3; iretq; int3; bnd ret */
	static const uint8_t x86[] = { 0xc3, 0xc2, 0x08, 0x00, 0xcb, 0xca, 0x10, 0x00, 0xf3, 0xc3, 0xb8, 0xc3,
				       0x00, 0x00, 0x00, 0x48, 0xcf, 0xcc, 0xf2, 0xc3 };
	static const uint64_t x86_want[] = { 0, 1, 4, 5, 8, 0x12 };
	/* ret; ret x1; eret; nop; a literal word; ret */
	static const uint8_t a64[] = { 0xc0, 0x03, 0x5f, 0xd6, 0x20, 0x00, 0x5f, 0xd6, 0xe0, 0x03, 0x9f, 0xd6,
				       0x1f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0xff, 0xc0, 0x03, 0x5f, 0xd6 };
	static const uint64_t a64_want[] = { 0, 4, 20 };
	static const uint8_t bad[] = { 0x90, 0x06, 0xc3 };	/* nop; (invalid in 64-bit mode); ret */
	uint64_t *off;
	size_t n;

	assert_int_equal(rl_disasm_returns(x86, sizeof(x86), 0x401000, true, &off, &n), 0);
	assert_int_equal(n, sizeof(x86_want) / sizeof(x86_want[0]));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(off[i], x86_want[i]);
	free(off);

	assert_int_equal(rl_disasm_returns(a64, sizeof(a64), 0x10000, false, &off, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(off[i], a64_want[i]);
	free(off);

	/* An offset after bytes that do not decode could be mid-instruction: refuse. */
	assert_int_equal(rl_disasm_returns(bad, sizeof(bad), 0, true, &off, &n), -EILSEQ);
	assert_null(off);
	/* Truncated mid-instruction (ret imm16 without its imm16). */
	assert_int_equal(rl_disasm_returns(x86, 2, 0, true, &off, &n), -EILSEQ);
	assert_int_equal(rl_disasm_returns(x86, 0, 0, true, &off, &n), 0);
	assert_int_equal(n, 0);
}

/* st_value of NAME, any type, from `readelf -sW`. */
static uint64_t readelf_value(const char *path, const char *name)
{
	char cmd[PATH_MAX + 64], line[1024], sym[512];
	unsigned long long v, value = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -sW '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, " %*[0-9]: %llx %*s %*s %*s %*s %*s %511s", &v, sym) == 2 && !strcmp(sym, name))
			value = v;
	pclose(p);
	assert_true(value != 0);
	return value;
}

static void test_function_returns_bounds(void **state)
{
	struct rl_elf_sym *s, fake;
	struct load loads[16];
	char path[PATH_MAX];
	uint64_t *off;
	size_t n, no, nl;
	int fd = open_tmp("pie");

	assert_int_equal(rl_elf_symbols(fd, "rl_fix_handle_request", &s, &n), 0);
	fake = s[0];
	fake.size = 0;
	assert_int_equal(rl_elf_function_returns(fd, &fake, &off, &no), -EINVAL);
	fake.size = RL_ELF_MAX_CODE + 1;
	assert_int_equal(rl_elf_function_returns(fd, &fake, &off, &no), -EFBIG);
	fake.size = RL_ELF_MAX_CODE;	/* past the end of its segment */
	assert_int_equal(rl_elf_function_returns(fd, &fake, &off, &no), -EINVAL);
	fake = s[0];
	fake.offset += 1;	/* not where the file has it */
	assert_int_equal(rl_elf_function_returns(fd, &fake, &off, &no), -EINVAL);
	fake = s[0];
	fake.value = 0x7fff00000000ull;
	assert_int_equal(rl_elf_function_returns(fd, &fake, &off, &no), -EINVAL);

	/* A variable's address is in a segment, but not an executable one. */
	pathf(path, "pie");
	nl = readelf_loads(path, loads, 16);
	fake.value = readelf_value(path, "rl_fix_banner");
	for (size_t i = 0; i < nl; i++)
		if (fake.value >= loads[i].vaddr && fake.value < loads[i].vaddr + loads[i].filesz)
			fake.offset = fake.value - loads[i].vaddr + loads[i].off;
	fake.size = 4;
	assert_int_equal(rl_elf_function_returns(fd, &fake, &off, &no), -EINVAL);
	assert_non_null(strstr(rl_disasm_errmsg(), "executable"));
	rl_elf_syms_free(s, n);
	close(fd);
}

/* ---- Broken files ---- */

static uint8_t *slurp(const char *file, size_t *len)
{
	char path[PATH_MAX];
	struct stat st;
	uint8_t *buf;
	int fd;

	pathf(path, file);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static int write_tmp(const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX];
	int fd;

	pathf(path, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	return fd;
}

/* Every entry point on fd: each must fail cleanly (or succeed) and never crash. */
static void poke_all(int fd)
{
	struct rl_elf_sym *s;
	struct rl_elf_usdt *u;
	char out[128];
	size_t n;

	if (rl_elf_symbols(fd, NULL, &s, &n) == 0) {
		for (size_t i = 0; i < n && i < 4; i++) {
			uint64_t *off;
			size_t no;

			if (rl_elf_function_returns(fd, &s[i], &off, &no) == 0)
				free(off);
		}
		rl_elf_syms_free(s, n);
	}
	rl_elf_symbol_kind(fd, "main");
	rl_elf_suggest(fd, "mian", out, sizeof(out));
	rl_elf_is_go(fd, out, sizeof(out));
	if (rl_elf_usdt_probes(fd, &u, &n) == 0)
		free(u);
	rl_elf_has_usdt(fd, "rlfix", "request__start");
	{
		struct rl_usdt_site *sites;

		if (rl_elf_usdt_sites(fd, "rlfix", "request__done", &sites, &n) == 0)
			free(sites);
	}
	rl_elf_usdt_suggest(fd, "rlfix", "request__stat", out, sizeof(out));
}

/* A broken symbol table: what reads symbols fails, the rest may work. */
static void expect_symbols_einval(int fd, const char *what)
{
	struct rl_elf_sym *s;
	char out[64];
	size_t n;

	assert_int_equal(rl_elf_symbols(fd, NULL, &s, &n), -EINVAL);
	print_message("%s: %s\n", what, rl_elf_errmsg());
	assert_null(s);
	assert_int_equal(rl_elf_symbol_kind(fd, "main"), -EINVAL);
	assert_int_equal(rl_elf_suggest(fd, "main", out, sizeof(out)), -EINVAL);
	poke_all(fd);
}

static void expect_einval(int fd, const char *what)
{
	struct rl_elf_sym *s;
	struct rl_elf_usdt *u;
	char out[64];
	size_t n;
	int err;

	err = rl_elf_symbols(fd, NULL, &s, &n);
	if (err != -EINVAL)
		fail_msg("%s: rl_elf_symbols gave %d, not -EINVAL", what, err);
	print_message("%s: %s\n", what, rl_elf_errmsg());
	assert_null(s);
	assert_int_equal(rl_elf_symbol_kind(fd, "main"), -EINVAL);
	assert_int_equal(rl_elf_suggest(fd, "main", out, sizeof(out)), -EINVAL);
	assert_int_equal(rl_elf_usdt_probes(fd, &u, &n), -EINVAL);
	assert_int_equal(rl_elf_has_usdt(fd, NULL, "x"), -EINVAL);
	assert_false(rl_elf_is_go(fd, out, sizeof(out)));
}

/* The index of the section named NAME in a 64-bit little-endian ELF image. */
static Elf64_Shdr *raw_section(uint8_t *img, const char *name)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + eh->e_shoff);
	const char *strs = (const char *)img + sh[eh->e_shstrndx].sh_offset;

	for (unsigned i = 0; i < eh->e_shnum; i++)
		if (!strcmp(strs + sh[i].sh_name, name))
			return &sh[i];
	return NULL;
}

static void test_not_elf(void **state)
{
	static const char text[] = "#!/bin/sh\necho this is not ELF\n";
	int fd = write_tmp("text", text, sizeof(text) - 1);

	expect_einval(fd, "text file");
	close(fd);
	fd = write_tmp("empty", "", 0);
	expect_einval(fd, "empty file");
	close(fd);
	/* An ELF magic and nothing valid after it. */
	fd = write_tmp("magic", "\177ELF\002\001\001\000garbage-garbage-garbage", 32);
	expect_einval(fd, "ELF magic only");
	close(fd);
	/* A directory, opened for reading. */
	fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	expect_einval(fd, "directory");
	close(fd);
}

static void test_truncated(void **state)
{
	size_t len;
	uint8_t *img = slurp("pie", &len);
	const size_t cuts[] = { 16, 63, 64, 200, 4096, len / 2, len - 1 };

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char what[64];
		int fd = write_tmp("cut", img, cuts[i]);

		snprintf(what, sizeof(what), "truncated at %zu of %zu", cuts[i], len);
		expect_einval(fd, what);
		close(fd);
	}
	free(img);
}

static void test_corrupt_headers(void **state)
{
	size_t len;
	uint8_t *img = slurp("pie", &len), *copy = malloc(len);
	Elf64_Ehdr *eh;
	Elf64_Shdr *sh;
	int fd;

	assert_non_null(copy);
	/* .symtab's offset past the end of the file. */
	memcpy(copy, img, len);
	sh = raw_section(copy, ".symtab");
	assert_non_null(sh);
	sh->sh_offset = len + 4096;
	fd = write_tmp("bad", copy, len);
	expect_einval(fd, "section past the end");
	assert_non_null(strstr(rl_elf_errmsg(), "past the end"));
	close(fd);

	/* A size that wraps around. */
	memcpy(copy, img, len);
	sh = raw_section(copy, ".dynsym");
	sh->sh_size = UINT64_MAX - 8;
	fd = write_tmp("bad", copy, len);
	expect_einval(fd, "section size overflowing");
	close(fd);

	/* A symbol table entry size that is not a symbol's. */
	memcpy(copy, img, len);
	sh = raw_section(copy, ".symtab");
	sh->sh_entsize = 7;
	fd = write_tmp("bad", copy, len);
	expect_symbols_einval(fd, "symbol entry size");
	close(fd);

	/* A symbol table whose string table is out of range. */
	memcpy(copy, img, len);
	sh = raw_section(copy, ".symtab");
	sh->sh_link = 60000;
	fd = write_tmp("bad", copy, len);
	expect_symbols_einval(fd, "sh_link out of range");
	close(fd);

	/* The section header table past the end; then huge. */
	memcpy(copy, img, len);
	eh = (Elf64_Ehdr *)copy;
	eh->e_shoff = len - 10;
	fd = write_tmp("bad", copy, len);
	expect_einval(fd, "e_shoff past the end");
	close(fd);
	memcpy(copy, img, len);
	eh = (Elf64_Ehdr *)copy;
	eh->e_shnum = 0xfeff;
	fd = write_tmp("bad", copy, len);
	expect_einval(fd, "e_shnum huge");
	close(fd);

	/* Program headers past the end; a PT_LOAD past the end. */
	memcpy(copy, img, len);
	eh = (Elf64_Ehdr *)copy;
	eh->e_phoff = UINT64_MAX - 16;
	fd = write_tmp("bad", copy, len);
	expect_einval(fd, "e_phoff past the end");
	close(fd);
	memcpy(copy, img, len);
	eh = (Elf64_Ehdr *)copy;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(copy + eh->e_phoff) + i;

		if (ph->p_type == PT_LOAD) {
			ph->p_filesz = len * 2;
			ph->p_memsz = len * 2;
			break;
		}
	}
	fd = write_tmp("bad", copy, len);
	expect_einval(fd, "PT_LOAD past the end");
	close(fd);
	free(copy);
	free(img);
}

/* Random damage: whatever it returns, no crash, no leak (valgrind, ASan). */
static void test_fuzz(void **state)
{
	size_t len;
	uint8_t *img = slurp("o2", &len), *copy = malloc(len);
	unsigned seed = 12345;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	size_t shoff = eh->e_shoff, shsize = (size_t)eh->e_shnum * sizeof(Elf64_Shdr);

	assert_non_null(copy);
	for (int iter = 0; iter < 300; iter++) {
		int fd;

		memcpy(copy, img, len);
		for (int k = 0; k < 1 + iter % 8; k++) {
			size_t at;

			seed = seed * 1103515245 + 12345;
			/* The headers, the section header table, or anywhere. */
			switch (seed % 3) {
			case 0: at = (seed >> 8) % 64; break;
			case 1: at = shoff + (seed >> 8) % shsize; break;
			default: at = (seed >> 8) % len; break;
			}
			seed = seed * 1103515245 + 12345;
			copy[at] = (uint8_t)(seed >> 16);
		}
		fd = write_tmp("fuzz", copy, iter % 5 ? len : len - (seed >> 4) % len);
		poke_all(fd);
		close(fd);
	}
	free(copy);
	free(img);
}

static void test_too_big(void **state)
{
	char path[PATH_MAX];
	struct rl_elf_sym *s;
	size_t len, n;
	uint8_t *img = slurp("pie", &len);
	int fd = write_tmp("huge", img, len);

	/* Sparse: 2 GiB + 1 byte costs nothing on disk. */
	assert_int_equal(ftruncate(fd, (off_t)RL_ELF_MAX_SIZE + 1), 0);
	assert_int_equal(rl_elf_symbols(fd, NULL, &s, &n), -EFBIG);
	assert_int_equal(ftruncate(fd, (off_t)RL_ELF_MAX_SIZE), 0);
	assert_int_equal(rl_elf_symbols(fd, "rl_fix_handle_request", &s, &n), 0);
	assert_int_equal(n, 1);
	rl_elf_syms_free(s, n);
	close(fd);
	pathf(path, "huge");
	unlink(path);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symbols_match_readelf),
		cmocka_unit_test(test_offsets_pie_nopie),
		cmocka_unit_test(test_stripped_shared_library),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_symbol_kind),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_many_symbols),
		cmocka_unit_test(test_usdt),
		cmocka_unit_test(test_usdt_suggest),
		cmocka_unit_test(test_go),
		cmocka_unit_test(test_returns_c),
		cmocka_unit_test(test_returns_go),
		cmocka_unit_test(test_disasm_bytes),
		cmocka_unit_test(test_function_returns_bounds),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt_headers),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_too_big),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
