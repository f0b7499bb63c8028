/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The metric families of one scrape. Collectors fill a fresh registry from
 * the BPF maps (which are cumulative, so a scrape needs no state); the
 * exposition renders it. Samples with equal label sets merge, which is how
 * many processes or cgroups fold into one service.
 */
#ifndef RL_REGISTRY_H
#define RL_REGISTRY_H

#include <stddef.h>
#include "hist.h"

enum rl_metric_type {
	RL_COUNTER,
	RL_GAUGE,
	RL_HISTOGRAM,	/* observations in ns, exposed in seconds */
};

#define RL_MAX_LABELS 10

struct rl_label {
	char *name;
	char *value;
};

struct rl_sample {
	struct rl_label labels[RL_MAX_LABELS];
	unsigned nlabels;
	double value;		/* counter or gauge */
	struct rl_hist *hist;	/* histogram only */
};

struct rl_family {
	char *name;
	char *help;
	enum rl_metric_type type;
	struct rl_sample **samples;	/* in insertion order */
	size_t nsamples, cap;
};

struct rl_registry {
	struct rl_family **families;	/* in insertion order */
	size_t nfamilies, cap;
};

struct rl_registry *rl_registry_new(void);
void rl_registry_free(struct rl_registry *r);	/* NULL-safe */

/*
 * The family of that name, created when absent. NULL on ENOMEM or when a
 * family of that name exists with another type (a programming error).
 */
struct rl_family *rl_family_get(struct rl_registry *r, const char *name, const char *help,
				enum rl_metric_type type);

/*
 * The sample with exactly these labels (kv: name, value, name, value, ...,
 * NULL; at most RL_MAX_LABELS pairs), created at zero when absent. Values are
 * copied. NULL on ENOMEM or too many labels.
 */
struct rl_sample *rl_sample_get(struct rl_family *f, const char *const *kv);

#endif
