/*
 * fault: the allocation-failure hook of the tests. See fault.h.
 */
#include "nfsentry/fault.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * armed: 0 disarmed, else the mode + 1. seen counts the allocations since
 * arming; the one whose number (from 1) is target fails.
 */
static atomic_int armed;
static atomic_ulong seen;
static unsigned long target;

void fault_arm(unsigned long after, enum fault_mode mode)
{
	atomic_store(&armed, 0);
	target = after + 1;
	atomic_store(&seen, 0);
	atomic_store(&armed, (int)mode + 1);
}

void fault_disarm(void)
{
	atomic_store(&armed, 0);
}

unsigned long fault_count(void)
{
	return atomic_load(&seen);
}

bool fault_now(void)
{
	int a = atomic_load_explicit(&armed, memory_order_relaxed);

	if (__builtin_expect(a == 0, 1))
		return false;
	unsigned long n = atomic_fetch_add(&seen, 1) + 1;
	if (n == target || (a == FAULT_STICKY + 1 && n > target)) {
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *fault_malloc(size_t size)
{
	return fault_now() ? NULL : malloc(size);
}

void *fault_calloc(size_t n, size_t size)
{
	return fault_now() ? NULL : calloc(n, size);
}

void *fault_realloc(void *p, size_t size)
{
	return fault_now() ? NULL : realloc(p, size);
}

void *fault_reallocarray(void *p, size_t n, size_t size)
{
	return fault_now() ? NULL : reallocarray(p, n, size);
}

char *fault_strdup(const char *s)
{
	return fault_now() ? NULL : strdup(s);
}
