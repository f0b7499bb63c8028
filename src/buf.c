// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A growable byte buffer for rendering responses. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Small enough not to matter for tiny replies, big enough to skip the first few doublings. */
#define RL_BUF_MIN_CAP 256

void rl_buf_init(struct rl_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
}

void rl_buf_free(struct rl_buf *b)
{
	if (!b)
		return;
	free(b->data);
	rl_buf_init(b);
}

/* Makes room for n more bytes plus the terminating NUL; sets the sticky error on failure. */
static int reserve(struct rl_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->err)
		return b->err;
	if (n > SIZE_MAX - 1 - b->len)
		goto nomem;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : RL_BUF_MIN_CAP;
	/* Doubling keeps a long render at amortised O(1) per byte. */
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		goto nomem;
	b->data = p;
	b->cap = cap;
	return 0;
nomem:
	b->err = -ENOMEM;
	return b->err;
}

int rl_buf_append(struct rl_buf *b, const void *p, size_t n)
{
	int err = reserve(b, n);

	if (err)
		return err;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int rl_buf_puts(struct rl_buf *b, const char *s)
{
	return rl_buf_append(b, s, strlen(s));
}

int rl_buf_printf(struct rl_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n, err;

	/* Guarantees data != NULL, so the first vsnprintf can write in place. */
	err = reserve(b, 0);
	if (err)
		return err;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = errno ? -errno : -EINVAL;
		b->data[b->len] = '\0';
		return b->err;
	}
	if ((size_t)n >= room) {
		/* Did not fit: grow to the exact size and format again. */
		err = reserve(b, (size_t)n);
		if (err) {
			b->data[b->len] = '\0';
			return err;
		}
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

char *rl_buf_steal(struct rl_buf *b, size_t *len)
{
	char *p;

	if (len)
		*len = 0;
	/* A partial render must not be served as if it were whole. */
	if (b->err) {
		rl_buf_free(b);
		return NULL;
	}
	p = b->data;
	if (!p) {
		p = calloc(1, 1);
		if (!p)
			return NULL;
	} else if (len) {
		*len = b->len;
	}
	rl_buf_init(b);
	return p;
}
