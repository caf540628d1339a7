/*
 * fault: the one allocation-failure hook of the test suite (the idea of
 * SQLite's sqlite3FaultSim). Modules that must survive an allocation failure
 * allocate through fault_malloc() and friends; a unit test arms the hook so
 * that a chosen allocation fails, then checks the module's failure path
 * (nothing leaked, inputs left as documented, the failure counted).
 *
 * Disarmed (the state at start and in every program but a test), each call
 * costs one relaxed atomic load and calls the C library's function.
 *
 * Armed with fault_arm(after, mode): the allocations through this hook are
 * counted from the arming; the one numbered `after` + 1 fails (after = 0:
 * the very next one). FAULT_ONCE fails that one only; FAULT_STICKY fails it
 * and every later one until fault_disarm(). Process-wide: tests arm it from
 * one thread, but the count is atomic so that a worker thread allocating at
 * the same time counts correctly.
 */
#ifndef NFSENTRY_FAULT_H
#define NFSENTRY_FAULT_H

#include <stdbool.h>
#include <stddef.h>

enum fault_mode {
	FAULT_ONCE,   /* only the chosen allocation fails */
	FAULT_STICKY, /* it and every later one fail, until fault_disarm() */
};

/* Make the allocation numbered after + 1 from now fail, as mode says. */
void fault_arm(unsigned long after, enum fault_mode mode);

/* Stop failing allocations. */
void fault_disarm(void);

/* How many allocations went through the hook since the last fault_arm(). */
unsigned long fault_count(void);

/* True when this allocation is to fail; counts it. For allocators of one's own. */
bool fault_now(void);

/* The C library's functions, failing with NULL (errno ENOMEM) when armed. */
void *fault_malloc(size_t size);
void *fault_calloc(size_t n, size_t size);
void *fault_realloc(void *p, size_t size);
void *fault_reallocarray(void *p, size_t n, size_t size);
char *fault_strdup(const char *s);

#endif
