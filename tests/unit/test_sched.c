// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The scheduler family's contract with its BPF side (reqlens/sched.h): the
 * dense histogram slots, the hashed bucket key, and the per-CPU counters
 * user space sums.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sched.h"

/* Every (service, histogram, bucket) has its own slot, all inside the array. */
static void test_dense_slots(void **state)
{
	size_t n = RL_SCHED_DENSE_SLOTS;
	unsigned char *seen = calloc(n, 1);

	(void)state;
	assert_non_null(seen);
	for (__u32 id = 0; id < RL_SCHED_DENSE_SVCS; id++)
		for (__u32 h = 0; h < RL_SCHED_HIST_N; h++)
			for (__u32 b = 0; b < RL_HIST_NBUCKETS; b++) {
				size_t slot = RL_SCHED_DENSE_SLOT(id, h, b);

				assert_true(slot < n);
				assert_int_equal(seen[slot], 0);
				seen[slot] = 1;
			}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
}

/* The largest value's bucket fits the hashed key; the key has no padding. */
static void test_hist_key(void **state)
{
	struct rl_sched_hist_key k = { .bucket = (__u16)rl_hist_bucket(UINT64_MAX) };

	(void)state;
	assert_int_equal(rl_hist_bucket(UINT64_MAX), RL_HIST_OVERFLOW);
	assert_int_equal(k.bucket, RL_HIST_OVERFLOW);
	assert_int_equal(sizeof(k), sizeof(k.svc_id) + sizeof(k.hist) + sizeof(k.bucket));
}

/* Every field of every CPU's copy counts, once. */
static void test_stats_sum(void **state)
{
	struct rl_sched_stats percpu[3], sum;

	(void)state;
	for (int c = 0; c < 3; c++)
		percpu[c] = (struct rl_sched_stats){
			.cpu_ns = 1000u + c, .user_ns = 100u * (c + 1), .system_ns = 7,
			.hist_sum_ns = { [RL_SCHED_HIST_RUNQ] = 1u << c, [RL_SCHED_HIST_OFFCPU] = 5 },
		};
	memset(&sum, 0xff, sizeof(sum));
	rl_sched_stats_sum(percpu, 3, &sum);
	assert_int_equal(sum.cpu_ns, 3003);
	assert_int_equal(sum.user_ns, 600);
	assert_int_equal(sum.system_ns, 21);
	assert_int_equal(sum.hist_sum_ns[RL_SCHED_HIST_RUNQ], 7);
	assert_int_equal(sum.hist_sum_ns[RL_SCHED_HIST_OFFCPU], 15);

	rl_sched_stats_sum(percpu, 0, &sum);
	assert_int_equal(sum.cpu_ns, 0);
	assert_int_equal(sum.hist_sum_ns[RL_SCHED_HIST_OFFCPU], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dense_slots),
		cmocka_unit_test(test_hist_key),
		cmocka_unit_test(test_stats_sum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
