// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The registry: families and samples in insertion order, merging, and its limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "registry.h"

static int setup(void **state)
{
	*state = rl_registry_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	rl_registry_free(*state);
	return 0;
}

static void test_free_null(void **state)
{
	rl_registry_free(NULL);
}

static void test_families_in_order(void **state)
{
	struct rl_registry *r = *state;
	struct rl_family *a, *b, *c;

	a = rl_family_get(r, "a_total", "A.", RL_COUNTER);
	b = rl_family_get(r, "b", "B.", RL_GAUGE);
	c = rl_family_get(r, "c_seconds", NULL, RL_HISTOGRAM);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(r->nfamilies, 3);
	assert_ptr_equal(r->families[0], a);
	assert_ptr_equal(r->families[1], b);
	assert_ptr_equal(r->families[2], c);
	assert_string_equal(a->name, "a_total");
	assert_string_equal(a->help, "A.");
	assert_null(c->help);
	assert_int_equal(c->type, RL_HISTOGRAM);
	/* Asking again finds the family, whatever the help says. */
	assert_ptr_equal(rl_family_get(r, "b", "Other help.", RL_GAUGE), b);
	assert_string_equal(b->help, "B.");
	assert_int_equal(r->nfamilies, 3);
}

static void test_type_clash(void **state)
{
	struct rl_registry *r = *state;
	struct rl_family *f = rl_family_get(r, "x_total", "X.", RL_COUNTER);

	assert_non_null(f);
	assert_null(rl_family_get(r, "x_total", "X.", RL_GAUGE));
	assert_null(rl_family_get(r, "x_total", "X.", RL_HISTOGRAM));
	assert_int_equal(r->nfamilies, 1);
	assert_ptr_equal(rl_family_get(r, "x_total", "X.", RL_COUNTER), f);
}

static void test_many_families(void **state)
{
	struct rl_registry *r = *state;
	char name[32];

	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_non_null(rl_family_get(r, name, "H.", RL_GAUGE));
	}
	assert_int_equal(r->nfamilies, 100);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_string_equal(r->families[i]->name, name);
	}
}

static void test_samples_merge(void **state)
{
	struct rl_family *f = rl_family_get(*state, "req_total", "R.", RL_COUNTER);
	const char *kv1[] = { "method", "GET", "code", "200", NULL };
	const char *kv1_again[] = { "method", "GET", "code", "200", NULL };
	const char *kv2[] = { "method", "GET", "code", "500", NULL };
	const char *swapped[] = { "code", "200", "method", "GET", NULL };
	const char *prefix[] = { "method", "GET", NULL };
	struct rl_sample *a, *b;

	a = rl_sample_get(f, kv1);
	assert_non_null(a);
	assert_int_equal(a->nlabels, 2);
	assert_string_equal(a->labels[0].name, "method");
	assert_string_equal(a->labels[0].value, "GET");
	assert_string_equal(a->labels[1].name, "code");
	assert_string_equal(a->labels[1].value, "200");
	assert_true(a->value == 0);
	assert_null(a->hist);
	a->value += 2;

	/* Equal label sets, from different arrays, fold into one sample. */
	b = rl_sample_get(f, kv1_again);
	assert_ptr_equal(a, b);
	b->value += 3;
	assert_true(a->value == 5);

	assert_ptr_not_equal(rl_sample_get(f, kv2), a);
	/* Equal means the same pairs in the same order. */
	assert_ptr_not_equal(rl_sample_get(f, swapped), a);
	assert_ptr_not_equal(rl_sample_get(f, prefix), a);
	assert_int_equal(f->nsamples, 4);
	assert_ptr_equal(f->samples[0], a);
	assert_ptr_equal(rl_sample_get(f, kv2), f->samples[1]);
	assert_ptr_equal(rl_sample_get(f, swapped), f->samples[2]);
	assert_ptr_equal(rl_sample_get(f, prefix), f->samples[3]);
	assert_int_equal(f->nsamples, 4);
}

static void test_boundaries_do_not_blur(void **state)
{
	struct rl_family *f = rl_family_get(*state, "g", "G.", RL_GAUGE);
	const char *x[] = { "a", "bc", NULL };
	const char *y[] = { "ab", "c", NULL };
	const char *z[] = { "a", "b", "c", "", NULL };
	const char *w[] = { "a", "", NULL };

	assert_ptr_not_equal(rl_sample_get(f, x), rl_sample_get(f, y));
	assert_ptr_not_equal(rl_sample_get(f, z), rl_sample_get(f, x));
	assert_ptr_not_equal(rl_sample_get(f, w), rl_sample_get(f, x));
	assert_int_equal(f->nsamples, 4);
}

static void test_no_labels(void **state)
{
	struct rl_family *f = rl_family_get(*state, "up", "Up.", RL_GAUGE);
	const char *none[] = { NULL };
	struct rl_sample *s = rl_sample_get(f, none);

	assert_non_null(s);
	assert_int_equal(s->nlabels, 0);
	assert_ptr_equal(rl_sample_get(f, NULL), s);
	assert_int_equal(f->nsamples, 1);
}

static void test_values_copied(void **state)
{
	struct rl_family *f = rl_family_get(*state, "c_total", "C.", RL_COUNTER);
	char name[8] = "svc", value[8] = "api";
	const char *kv[] = { name, value, NULL };
	struct rl_sample *s = rl_sample_get(f, kv);

	strcpy(name, "zzz");
	strcpy(value, "yyy");
	assert_string_equal(s->labels[0].name, "svc");
	assert_string_equal(s->labels[0].value, "api");
	strcpy(name, "svc");
	strcpy(value, "api");
	assert_ptr_equal(rl_sample_get(f, kv), s);
}

static void test_too_many_labels(void **state)
{
	struct rl_family *f = rl_family_get(*state, "many", "M.", RL_GAUGE);
	const char *kv[2 * (RL_MAX_LABELS + 1) + 1];
	char names[RL_MAX_LABELS + 1][16];
	const char *half[] = { "a", NULL };

	for (unsigned i = 0; i <= RL_MAX_LABELS; i++) {
		snprintf(names[i], sizeof(names[i]), "l%u", i);
		kv[2 * i] = names[i];
		kv[2 * i + 1] = "v";
	}
	kv[2 * (RL_MAX_LABELS + 1)] = NULL;
	assert_null(rl_sample_get(f, kv));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(f->nsamples, 0);
	/* Exactly RL_MAX_LABELS pairs fit. */
	kv[2 * RL_MAX_LABELS] = NULL;
	assert_non_null(rl_sample_get(f, kv));
	assert_int_equal(f->samples[0]->nlabels, RL_MAX_LABELS);
	/* A name without a value. */
	assert_null(rl_sample_get(f, half));
	assert_int_equal(f->nsamples, 1);
}

static void test_histogram_samples(void **state)
{
	struct rl_family *f = rl_family_get(*state, "lat_seconds", "L.", RL_HISTOGRAM);
	const char *a[] = { "svc", "a", NULL }, *b[] = { "svc", "b", NULL };
	struct rl_sample *sa = rl_sample_get(f, a), *sb = rl_sample_get(f, b);

	assert_non_null(sa->hist);
	assert_non_null(sb->hist);
	assert_ptr_not_equal(sa->hist, sb->hist);
	for (uint32_t i = 0; i < RL_HIST_NBUCKETS; i++)
		assert_int_equal(sa->hist->buckets[i], 0);
	assert_int_equal(sa->hist->count, 0);
	assert_int_equal(sa->hist->sum_ns, 0);
	rl_hist_observe(sa->hist, 1000);
	assert_ptr_equal(rl_sample_get(f, a)->hist, sa->hist);
	assert_int_equal(rl_sample_get(f, a)->hist->count, 1);
}

static void test_thousands_of_samples(void **state)
{
	struct rl_family *f = rl_family_get(*state, "conn_total", "C.", RL_COUNTER);
	enum { N = 5000 };
	char port[16], svc[16];
	const char *kv[] = { "service_name", svc, "server_port", port, NULL };

	for (int i = 0; i < N; i++) {
		snprintf(svc, sizeof(svc), "s%d", i % 50);
		snprintf(port, sizeof(port), "%d", i);
		rl_sample_get(f, kv)->value = i;
	}
	assert_int_equal(f->nsamples, N);
	for (int i = N - 1; i >= 0; i--) {
		struct rl_sample *s;

		snprintf(svc, sizeof(svc), "s%d", i % 50);
		snprintf(port, sizeof(port), "%d", i);
		s = rl_sample_get(f, kv);
		assert_ptr_equal(s, f->samples[i]);
		assert_true(s->value == i);
	}
	assert_int_equal(f->nsamples, N);
}

static void test_null_arguments(void **state)
{
	assert_null(rl_family_get(NULL, "x", "X.", RL_GAUGE));
	assert_null(rl_family_get(*state, NULL, "X.", RL_GAUGE));
	assert_null(rl_sample_get(NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_null),
		cmocka_unit_test_setup_teardown(test_families_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_clash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_families, setup, teardown),
		cmocka_unit_test_setup_teardown(test_samples_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boundaries_do_not_blur, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thousands_of_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
