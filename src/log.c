// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum rl_log_level min_level = RL_LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int rl_log_parse_level(const char *name, enum rl_log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(name, level_names[i])) {
			*out = (enum rl_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void rl_log_set_level(enum rl_log_level level)
{
	min_level = level;
}

/* logfmt quoting: the message is one quoted value, newlines folded. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
	fputc('"', f);
}

static void emit(enum rl_log_level level, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&lock);
	fprintf(stderr, "ts=%s.%03ldZ level=%s msg=", when, ts.tv_nsec / 1000000, level_names[level]);
	put_quoted(stderr, msg);
	fputc('\n', stderr);
	pthread_mutex_unlock(&lock);
}

void rl_log(enum rl_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(level, msg);
}

#define TAIL_LINES 32
#define TAIL_LEN 256
static char tail[TAIL_LINES][TAIL_LEN];
static unsigned tail_next;

int rl_log_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[TAIL_LEN * 16], split[sizeof(msg)], *line, *save = NULL;
	/*
	 * libbpf's warnings come before the agent's own explanation of the same
	 * failure, which quotes their tail: so they are debug lines, and a
	 * failure reads as one line unless --log.level=debug asks for more.
	 */
	enum rl_log_level ours = RL_LOG_DEBUG;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	memcpy(split, msg, sizeof(split));
	pthread_mutex_lock(&lock);
	for (line = strtok_r(split, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		snprintf(tail[tail_next % TAIL_LINES], TAIL_LEN, "%s", line);
		tail_next++;
	}
	pthread_mutex_unlock(&lock);
	if (ours < min_level)
		return 0;
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	emit(ours, msg);
	return 0;
}

void rl_log_libbpf_tail(char *out, size_t size, unsigned n)
{
	size_t used = 0;
	unsigned first;

	if (!size)
		return;
	out[0] = 0;
	pthread_mutex_lock(&lock);
	if (n > TAIL_LINES)
		n = TAIL_LINES;
	if (n > tail_next)
		n = tail_next;
	first = tail_next - n;
	for (unsigned i = first; i < tail_next && used + 1 < size; i++) {
		int w = snprintf(out + used, size - used, "%s%s", used ? " | " : "", tail[i % TAIL_LINES]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
	pthread_mutex_unlock(&lock);
}
