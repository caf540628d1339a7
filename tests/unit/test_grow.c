/*
 * Unit tests for src/core/grow.c: capacities double from the first one up
 * to the cap, the array keeps its contents, and every failure (past the
 * cap, a size past SIZE_MAX, no memory) leaves array and capacity as they
 * were.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/fault.h"
#include "nfsentry/grow.h"

static void test_doubles_from_first(void **state)
{
	uint32_t *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(grow_array((void **)&v, &cap, 0, sizeof(*v), 8, 1000), 0);
	assert_null(v); /* nothing needed, nothing allocated */
	assert_int_equal(cap, 0);
	assert_int_equal(grow_array((void **)&v, &cap, 1, sizeof(*v), 8, 1000), 0);
	assert_int_equal(cap, 8);
	for (uint32_t k = 0; k < 8; k++)
		v[k] = k;
	/* Within the capacity: unchanged. */
	uint32_t *before = v;
	assert_int_equal(grow_array((void **)&v, &cap, 8, sizeof(*v), 8, 1000), 0);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 8);
	assert_int_equal(grow_array((void **)&v, &cap, 9, sizeof(*v), 8, 1000), 0);
	assert_int_equal(cap, 16);
	/* A jump doubles as often as it takes. */
	assert_int_equal(grow_array((void **)&v, &cap, 100, sizeof(*v), 8, 1000), 0);
	assert_int_equal(cap, 128);
	for (uint32_t k = 0; k < 8; k++)
		assert_int_equal(v[k], k);
	/* Need larger than first at the first call: doubled from first. */
	uint8_t *b = NULL;
	size_t bcap = 0;
	assert_int_equal(grow_array((void **)&b, &bcap, 65, 1, 16, 1000), 0);
	assert_int_equal(bcap, 128);
	free(b);
	free(v);
}

static void test_cap(void **state)
{
	uint64_t *v = NULL;
	size_t cap = 0;

	(void)state;
	/* Doubling past the maximum is cut to it. */
	assert_int_equal(grow_array((void **)&v, &cap, 60, sizeof(*v), 64, 100), 0);
	assert_int_equal(cap, 64);
	assert_int_equal(grow_array((void **)&v, &cap, 65, sizeof(*v), 64, 100), 0);
	assert_int_equal(cap, 100);
	v[99] = 7;
	/* Past it: -E2BIG, nothing changed. */
	uint64_t *before = v;
	assert_int_equal(grow_array((void **)&v, &cap, 101, sizeof(*v), 64, 100), -E2BIG);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 100);
	assert_int_equal(v[99], 7);
	/* A first capacity above the maximum is cut too. */
	uint64_t *w = NULL;
	size_t wcap = 0;
	assert_int_equal(grow_array((void **)&w, &wcap, 1, sizeof(*w), 64, 10), 0);
	assert_int_equal(wcap, 10);
	free(w);
	free(v);
}

static void test_overflow(void **state)
{
	uint64_t *v = NULL;
	size_t cap = 0;

	(void)state;
	/* Elements past SIZE_MAX bytes: -ENOMEM, not a short allocation. */
	assert_int_equal(grow_array((void **)&v, &cap, SIZE_MAX / 4, sizeof(*v), 8, SIZE_MAX),
	                 -ENOMEM);
	assert_null(v);
	assert_int_equal(cap, 0);
	/* Doubling that would wrap stops at the maximum instead. */
	size_t big = (SIZE_MAX / 2) + 2;
	uint8_t *b = NULL;
	size_t bcap = big - 1;
	fault_arm(0, FAULT_ONCE); /* the capacity is computed, the allocation then fails */
	assert_int_equal(grow_array((void **)&b, &bcap, big, 1, 8, SIZE_MAX), -ENOMEM);
	fault_disarm();
	assert_int_equal(bcap, big - 1);
	assert_null(b);
}

static void test_alloc_failure(void **state)
{
	char *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(grow_array((void **)&v, &cap, 4, 1, 4, 64), 0);
	memcpy(v, "abc", 4);
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(grow_array((void **)&v, &cap, 5, 1, 4, 64), -ENOMEM);
	fault_disarm();
	assert_int_equal(cap, 4);
	assert_string_equal(v, "abc");
	assert_int_equal(grow_array((void **)&v, &cap, 5, 1, 4, 64), 0);
	assert_int_equal(cap, 8);
	assert_string_equal(v, "abc");
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_doubles_from_first),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_alloc_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
