/*
 * Unit tests for src/core/fault.c: the chosen allocation fails, once or from
 * then on, and a disarmed hook fails nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "nfsentry/fault.h"

static void test_disarmed_never_fails(void **state)
{
	(void)state;
	fault_disarm();
	for (int i = 0; i < 100; i++) {
		void *p = fault_malloc(16);
		assert_non_null(p);
		free(p);
	}
}

static void test_once(void **state)
{
	(void)state;
	fault_arm(2, FAULT_ONCE);
	void *a = fault_malloc(8), *b = fault_calloc(1, 8), *c = fault_strdup("x");
	void *d = fault_realloc(NULL, 8), *e = fault_reallocarray(NULL, 2, 8);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c); /* the third allocation */
	assert_non_null(d);
	assert_non_null(e);
	assert_int_equal(fault_count(), 5);
	fault_disarm();
	free(a);
	free(b);
	free(d);
	free(e);
}

static void test_sticky(void **state)
{
	(void)state;
	fault_arm(1, FAULT_STICKY);
	void *a = fault_malloc(8);
	assert_non_null(a);
	for (int i = 0; i < 5; i++)
		assert_null(fault_malloc(8));
	fault_disarm();
	void *b = fault_malloc(8);
	assert_non_null(b);
	free(a);
	free(b);
}

static void test_rearm_restarts_count(void **state)
{
	(void)state;
	fault_arm(0, FAULT_ONCE);
	assert_null(fault_malloc(8));
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(fault_count(), 0);
	assert_true(fault_now());
	assert_false(fault_now());
	fault_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_disarmed_never_fails),
	    cmocka_unit_test(test_once),
	    cmocka_unit_test(test_sticky),
	    cmocka_unit_test(test_rearm_restarts_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
