/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * logfmt lines on stderr, as Prometheus exporters print them:
 *   ts=2026-11-23T18:00:00.000Z level=info msg="listening" address=:10470
 * libbpf's own messages come through here too (rl_log_libbpf).
 */
#ifndef RL_LOG_H
#define RL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <bpf/libbpf.h>

enum rl_log_level { RL_LOG_DEBUG, RL_LOG_INFO, RL_LOG_WARN, RL_LOG_ERROR };

/* 0, or -EINVAL for a name that is not debug|info|warn|error. */
int rl_log_parse_level(const char *name, enum rl_log_level *out);
void rl_log_set_level(enum rl_log_level level);
void rl_log(enum rl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rl_debug(...) rl_log(RL_LOG_DEBUG, __VA_ARGS__)
#define rl_info(...) rl_log(RL_LOG_INFO, __VA_ARGS__)
#define rl_warn(...) rl_log(RL_LOG_WARN, __VA_ARGS__)
#define rl_error(...) rl_log(RL_LOG_ERROR, __VA_ARGS__)

/*
 * libbpf's print callback. Warnings are logged; everything (the verifier's
 * log included) is also kept in a small ring so that a failed load can show
 * its last lines (rl_log_libbpf_tail).
 */
int rl_log_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap);
/* Copies the last n lines libbpf printed into out (NUL-terminated). */
void rl_log_libbpf_tail(char *out, size_t size, unsigned n);

#endif
