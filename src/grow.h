/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Growing a malloc'ed array by doubling. */
#ifndef RL_GROW_H
#define RL_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* The array arr (of *cap elements of size bytes) with room for element n, or NULL (arr intact) on ENOMEM. */
static inline void *rl_grow(void *arr, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / size)
		return NULL;
	p = realloc(arr, ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

#endif
