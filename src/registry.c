// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The metric families of one scrape. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "registry.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/*
 * The public structs stay plain data for the exposition; the lookup index
 * lives in these wrappers, which only this file allocates.
 */
struct sample {
	struct rl_sample pub;
	uint64_t hash;		/* of the label set, so that growing the index rehashes nothing */
};

struct family {
	struct rl_family pub;
	/* Open addressing, linear probing, a power-of-two size: a scrape may hold thousands. */
	struct sample **index;
	size_t nindex;
};

struct rl_registry *rl_registry_new(void)
{
	return calloc(1, sizeof(struct rl_registry));
}

static void sample_free(struct sample *s)
{
	for (unsigned i = 0; i < s->pub.nlabels; i++) {
		free(s->pub.labels[i].name);
		free(s->pub.labels[i].value);
	}
	free(s->pub.hist);
	free(s);
}

static void family_free(struct family *f)
{
	for (size_t i = 0; i < f->pub.nsamples; i++)
		sample_free(container_of(f->pub.samples[i], struct sample, pub));
	free(f->pub.samples);
	free(f->pub.name);
	free(f->pub.help);
	free(f->index);
	free(f);
}

void rl_registry_free(struct rl_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nfamilies; i++)
		family_free(container_of(r->families[i], struct family, pub));
	free(r->families);
	free(r);
}

struct rl_family *rl_family_get(struct rl_registry *r, const char *name, const char *help,
				enum rl_metric_type type)
{
	struct rl_family **fams;
	struct family *f;

	if (!r || !name) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < r->nfamilies; i++) {
		if (strcmp(r->families[i]->name, name))
			continue;
		if (r->families[i]->type != type) {
			errno = EEXIST;
			return NULL;
		}
		return r->families[i];
	}
	fams = rl_grow(r->families, r->nfamilies, &r->cap, sizeof(*fams));
	if (!fams)
		goto nomem;
	r->families = fams;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto nomem;
	f->pub.name = strdup(name);
	f->pub.help = help ? strdup(help) : NULL;
	f->pub.type = type;
	if (!f->pub.name || (help && !f->pub.help)) {
		family_free(f);
		goto nomem;
	}
	r->families[r->nfamilies++] = &f->pub;
	return &f->pub;
nomem:
	errno = ENOMEM;
	return NULL;
}

/* FNV-1a over the pairs, NUL-separated so that ("ab","c") and ("a","bc") differ. */
static uint64_t hash_kv(const char *const *kv, unsigned n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (unsigned i = 0; i < 2 * n; i++) {
		for (const unsigned char *p = (const unsigned char *)kv[i];; p++) {
			h ^= *p;
			h *= 0x100000001b3ULL;
			if (!*p)
				break;
		}
	}
	return h;
}

static int labels_equal(const struct rl_sample *s, const char *const *kv, unsigned n)
{
	if (s->nlabels != n)
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(s->labels[i].name, kv[2 * i]) || strcmp(s->labels[i].value, kv[2 * i + 1]))
			return 0;
	return 1;
}

static void index_put(struct sample **index, size_t nindex, struct sample *s)
{
	size_t i = (size_t)s->hash & (nindex - 1);

	while (index[i])
		i = (i + 1) & (nindex - 1);
	index[i] = s;
}

/* Keeps the load factor at or below 1/2, so probes stay short. */
static int index_reserve(struct family *f)
{
	struct sample **index;
	size_t n;

	if ((f->pub.nsamples + 1) * 2 <= f->nindex)
		return 0;
	n = f->nindex ? f->nindex * 2 : 16;
	if (n > SIZE_MAX / sizeof(*index) / 2)
		return -ENOMEM;
	index = calloc(n, sizeof(*index));
	if (!index)
		return -ENOMEM;
	for (size_t i = 0; i < f->pub.nsamples; i++)
		index_put(index, n, container_of(f->pub.samples[i], struct sample, pub));
	free(f->index);
	f->index = index;
	f->nindex = n;
	return 0;
}

static struct sample *sample_new(const struct rl_family *rf, const char *const *kv, unsigned n)
{
	struct sample *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	for (; s->pub.nlabels < n; s->pub.nlabels++) {
		struct rl_label *l = &s->pub.labels[s->pub.nlabels];

		l->name = strdup(kv[2 * s->pub.nlabels]);
		l->value = strdup(kv[2 * s->pub.nlabels + 1]);
		if (!l->name || !l->value) {
			/* Counted, so that sample_free releases the half-made pair too. */
			s->pub.nlabels++;
			goto fail;
		}
	}
	if (rf->type == RL_HISTOGRAM) {
		s->pub.hist = calloc(1, sizeof(*s->pub.hist));
		if (!s->pub.hist)
			goto fail;
	}
	return s;
fail:
	sample_free(s);
	return NULL;
}

struct rl_sample *rl_sample_get(struct rl_family *rf, const char *const *kv)
{
	struct rl_sample **samples;
	struct family *f;
	struct sample *s;
	unsigned n = 0;
	uint64_t h;
	size_t i;

	if (!rf) {
		errno = EINVAL;
		return NULL;
	}
	f = container_of(rf, struct family, pub);
	if (kv) {
		for (; kv[2 * n]; n++) {
			if (n == RL_MAX_LABELS || !kv[2 * n + 1]) {
				errno = EINVAL;
				return NULL;
			}
		}
	}
	h = hash_kv(kv, n);
	if (f->nindex) {
		for (i = (size_t)h & (f->nindex - 1); f->index[i]; i = (i + 1) & (f->nindex - 1))
			if (f->index[i]->hash == h && labels_equal(&f->index[i]->pub, kv, n))
				return &f->index[i]->pub;
	}
	if (index_reserve(f))
		goto nomem;
	samples = rl_grow(rf->samples, rf->nsamples, &rf->cap, sizeof(*samples));
	if (!samples)
		goto nomem;
	rf->samples = samples;
	s = sample_new(rf, kv, n);
	if (!s)
		goto nomem;
	s->hash = h;
	index_put(f->index, f->nindex, s);
	rf->samples[rf->nsamples++] = &s->pub;
	return &s->pub;
nomem:
	errno = ENOMEM;
	return NULL;
}
