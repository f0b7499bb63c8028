// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The growable buffer: growth, formatting, handing over the data, the sticky error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void test_init_empty(void **state)
{
	struct rl_buf b;

	rl_buf_init(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.err, 0);
	rl_buf_free(&b);
	rl_buf_free(NULL);
}

static void test_append_terminates(void **state)
{
	struct rl_buf b;

	rl_buf_init(&b);
	/* Even an empty append leaves a string the caller can print. */
	assert_int_equal(rl_buf_append(&b, "", 0), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	assert_int_equal(rl_buf_append(&b, "abc", 2), 0);
	assert_int_equal(rl_buf_puts(&b, "xyz"), 0);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "abxyz");
	rl_buf_free(&b);
}

static void test_growth(void **state)
{
	struct rl_buf b;
	char chunk[1000];

	rl_buf_init(&b);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('a' + i % 26);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(rl_buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 1000000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	for (size_t i = 0; i < b.len; i += 997)
		assert_int_equal(b.data[i], 'a' + (i % 1000) % 26);
	rl_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	/* Reusable after free. */
	assert_int_equal(rl_buf_puts(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	rl_buf_free(&b);
}

static void test_printf(void **state)
{
	struct rl_buf b;
	char big[5000];

	rl_buf_init(&b);
	assert_int_equal(rl_buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "42-x");
	/* Longer than what is free: the buffer must grow and format again. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(rl_buf_printf(&b, "[%s]", big), 0);
	assert_int_equal(b.len, 4 + 2 + sizeof(big) - 1);
	assert_int_equal(b.data[4], '[');
	assert_int_equal(b.data[5 + sizeof(big) - 1], ']');
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(rl_buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 4 + 2 + sizeof(big) - 1);
	rl_buf_free(&b);
}

static void test_steal(void **state)
{
	struct rl_buf b;
	size_t len = 99;
	char *p;

	rl_buf_init(&b);
	rl_buf_puts(&b, "hello");
	p = rl_buf_steal(&b, &len);
	assert_string_equal(p, "hello");
	assert_int_equal(len, 5);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(p);

	/* Nothing appended: still a string the caller can free. */
	p = rl_buf_steal(&b, &len);
	assert_non_null(p);
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);

	rl_buf_puts(&b, "x");
	p = rl_buf_steal(&b, NULL);
	assert_string_equal(p, "x");
	free(p);
}

static void test_sticky_error(void **state)
{
	struct rl_buf b;
	size_t len = 7;

	rl_buf_init(&b);
	rl_buf_puts(&b, "ok");
	/* No allocator can satisfy this: the failure must stick. */
	assert_int_equal(rl_buf_append(&b, "", SIZE_MAX - 1), -ENOMEM);
	assert_int_equal(b.err, -ENOMEM);
	assert_string_equal(b.data, "ok");
	assert_int_equal(rl_buf_puts(&b, "more"), -ENOMEM);
	assert_int_equal(rl_buf_printf(&b, "%d", 1), -ENOMEM);
	assert_int_equal(rl_buf_append(&b, "a", 1), -ENOMEM);
	assert_int_equal(b.len, 2);
	/* A partial render is never handed out. */
	assert_null(rl_buf_steal(&b, &len));
	assert_int_equal(len, 0);
	assert_null(b.data);
	/* Free clears the error: the buffer is reusable. */
	b.err = -ENOMEM;
	rl_buf_free(&b);
	assert_int_equal(b.err, 0);
	assert_int_equal(rl_buf_puts(&b, "fine"), 0);
	rl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_append_terminates),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_sticky_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
