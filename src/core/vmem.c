/*
 * vmem: a reserved, in-place growing array. See vmem.h.
 */
#include "nfsentry/vmem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define VMEM_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMEM_HEAP 1
#endif
#endif
#ifndef VMEM_HEAP
#define VMEM_HEAP 0
#endif

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

int vmem_init(struct vmem *m, size_t max_bytes)
{
	memset(m, 0, sizeof(*m));
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (max_bytes == 0 || max_bytes > SIZE_MAX / 2)
		return -ENOMEM;
	m->reserved = round_up(max_bytes, page);
	if (VMEM_HEAP)
		return 0;
	/*
	 * Reserve with room to align the start to a huge page: a 2 MiB page can
	 * only back a 2 MiB-aligned range. PROT_NONE and MAP_NORESERVE commit
	 * nothing, even under strict overcommit accounting.
	 */
	size_t slack = m->reserved > VMEM_HUGE_BYTES ? VMEM_HUGE_BYTES : 0;
	size_t len = m->reserved + slack;
	uint8_t *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		m->reserved = 0;
		return -ENOMEM;
	}
	uint8_t *base = p;
	if (slack) {
		base = (uint8_t *)round_up((uintptr_t)p, VMEM_HUGE_BYTES);
		if (base > p)
			munmap(p, (size_t)(base - p));
		size_t tail = (size_t)((p + len) - (base + m->reserved));
		if (tail)
			munmap(base + m->reserved, tail);
	}
	m->base = base;
	m->mapped = 1;
	return 0;
}

int vmem_commit(struct vmem *m, size_t bytes)
{
	if (bytes <= m->committed)
		return 0;
	if (bytes > m->reserved)
		return -ENOMEM;
	if (!m->mapped) {
		/*
		 * The heap variant: a block of the committed size, so that ASan
		 * sees its end; doubled, or growing by one entry would copy the
		 * whole array each time.
		 */
		size_t want = bytes < 2 * m->committed ? 2 * m->committed : bytes;
		if (want > m->reserved)
			want = m->reserved;
		void *n = realloc(m->base, want);
		if (!n)
			return -ENOMEM;
		memset((uint8_t *)n + m->committed, 0, want - m->committed);
		m->base = n;
		m->committed = want;
		return 0;
	}
	/*
	 * Commit in whole huge pages past the first one, in 64 KiB steps before
	 * it: a system call per 2 MiB of table is nothing, and the committed
	 * size stays within a step of what the array holds.
	 */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t step = bytes > VMEM_HUGE_BYTES ? VMEM_HUGE_BYTES : (page > 65536 ? page : 65536);
	size_t want = round_up(bytes, step);
	if (want > m->reserved)
		want = m->reserved;
	uint8_t *from = (uint8_t *)m->base + m->committed;
	if (mprotect(from, want - m->committed, PROT_READ | PROT_WRITE) != 0)
		return -ENOMEM;
	if (want > VMEM_HUGE_BYTES) {
		/* A hint: refused (THP off, old kernel) it changes nothing but speed. */
		size_t lo = m->committed > VMEM_HUGE_BYTES ? m->committed : VMEM_HUGE_BYTES;
		madvise((uint8_t *)m->base + lo, want - lo, MADV_HUGEPAGE);
	}
	m->committed = want;
	return 0;
}

void vmem_free(struct vmem *m)
{
	if (m->mapped)
		munmap(m->base, m->reserved);
	else
		free(m->base);
	memset(m, 0, sizeof(*m));
}

void *vmem_calloc(size_t n, size_t size)
{
	size_t bytes;
	uint8_t *p = calloc(n, size);

	if (!p || VMEM_HEAP || __builtin_mul_overflow(n, size, &bytes) ||
	    bytes < 2 * VMEM_HUGE_BYTES)
		return p;
	/* glibc serves blocks this large with their own mmap: advise its whole huge pages. */
	uint8_t *lo = (uint8_t *)round_up((uintptr_t)p, VMEM_HUGE_BYTES);
	uint8_t *hi = (uint8_t *)((uintptr_t)(p + bytes) / VMEM_HUGE_BYTES * VMEM_HUGE_BYTES);
	if (hi > lo)
		madvise(lo, (size_t)(hi - lo), MADV_HUGEPAGE);
	return p;
}
