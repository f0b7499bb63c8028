/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A growable byte buffer for rendering responses. */
#ifndef RL_BUF_H
#define RL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct rl_buf {
	char *data;	/* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
	int err;	/* sticky: -ENOMEM once an append failed */
};

void rl_buf_init(struct rl_buf *b);
void rl_buf_free(struct rl_buf *b);	/* NULL-safe; leaves b empty and reusable */
int rl_buf_append(struct rl_buf *b, const void *p, size_t n);
int rl_buf_puts(struct rl_buf *b, const char *s);
int rl_buf_printf(struct rl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (who frees it) and leaves b empty. */
char *rl_buf_steal(struct rl_buf *b, size_t *len);

#endif
