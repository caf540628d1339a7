/*
 * Unit tests for src/core/vmem.c: an array that grows in place, reads as
 * zero where it grew, refuses to grow past its reservation, and keeps what
 * it had when a commit is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/vmem.h"

static void test_grows_zeroed(void **state)
{
	(void)state;
	struct vmem m;
	size_t max = 64u << 20; /* past the huge-page threshold */

	assert_int_equal(vmem_init(&m, max), 0);
	assert_int_equal(m.committed, 0);
	assert_true(m.reserved >= max);
	size_t sizes[] = {1, 100, 4096, 65537, VMEM_HUGE_BYTES + 1, 5u << 20, max};
	size_t have = 0;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		assert_int_equal(vmem_commit(&m, sizes[k]), 0);
		assert_true(m.committed >= sizes[k]);
		assert_true(m.committed <= m.reserved);
		uint8_t *b = m.base;
		/* What was written stays; what was added reads as zero. */
		for (size_t i = 0; i < have; i += 4093)
			assert_int_equal(b[i], (uint8_t)(i * 7 + 1));
		for (size_t i = have; i < sizes[k]; i += 4093)
			assert_int_equal(b[i], 0);
		for (size_t i = 0; i < sizes[k]; i += 4093)
			b[i] = (uint8_t)(i * 7 + 1);
		have = sizes[k];
	}
	/* Committing less than held is a no-op. */
	size_t c = m.committed;
	assert_int_equal(vmem_commit(&m, 10), 0);
	assert_int_equal(m.committed, c);
	vmem_free(&m);
	assert_null(m.base);
	vmem_free(&m); /* twice is harmless */
}

static void test_stays_in_place(void **state)
{
	(void)state;
	struct vmem m;

	assert_int_equal(vmem_init(&m, 16u << 20), 0);
	assert_int_equal(vmem_commit(&m, 4096), 0);
	void *b = m.base;
	assert_int_equal(vmem_commit(&m, 12u << 20), 0);
	/* Only the reserving variant promises a fixed base. */
	if (m.mapped)
		assert_ptr_equal(m.base, b);
	vmem_free(&m);
}

static void test_refuses_past_reservation(void **state)
{
	(void)state;
	struct vmem m;

	assert_int_equal(vmem_init(&m, 100000), 0);
	assert_int_equal(vmem_commit(&m, 50000), 0);
	((uint8_t *)m.base)[49999] = 42;
	size_t c = m.committed;
	assert_int_equal(vmem_commit(&m, m.reserved + 1), -ENOMEM);
	assert_int_equal(m.committed, c);
	assert_int_equal(((uint8_t *)m.base)[49999], 42);
	assert_int_equal(vmem_commit(&m, m.reserved), 0);
	assert_int_equal(m.committed, m.reserved);
	vmem_free(&m);

	assert_int_equal(vmem_init(&m, 0), -ENOMEM);
	assert_int_equal(vmem_init(&m, SIZE_MAX), -ENOMEM);
	vmem_free(&m);
}

/* A released array comes back for the next one of its size, cleared. */
static void test_pool_reuse_reads_zero(void **state)
{
	(void)state;
	struct vmem a, b;
	size_t max = 8u << 20;

	assert_int_equal(vmem_init(&a, max), 0);
	assert_int_equal(vmem_commit(&a, 6u << 20), 0);
	memset(a.base, 0xa5, 6u << 20);
	void *was = a.base;
	int mapped = a.mapped;
	vmem_free(&a);
	assert_int_equal(vmem_init(&b, max), 0);
	if (mapped)
		assert_ptr_equal(b.base, was); /* the pooled one */
	assert_int_equal(b.committed, 0);
	assert_int_equal(vmem_commit(&b, 3u << 20), 0);
	const uint8_t *p = b.base;
	for (size_t i = 0; i < b.committed; i += 511)
		assert_int_equal(p[i], 0);
	/* Past what it had before, too. */
	assert_int_equal(vmem_commit(&b, max), 0);
	p = b.base;
	for (size_t i = 0; i < max; i += 4093)
		assert_int_equal(p[i], 0);
	vmem_free(&b);
	vmem_pool_trim();
	/* After a trim a new reservation is made (nothing to check but that it works). */
	assert_int_equal(vmem_init(&b, max), 0);
	assert_int_equal(vmem_commit(&b, 1), 0);
	vmem_free(&b);
	vmem_pool_trim();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_zeroed),
		cmocka_unit_test(test_stays_in_place),
		cmocka_unit_test(test_refuses_past_reservation),
		cmocka_unit_test(test_pool_reuse_reads_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
