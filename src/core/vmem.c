/*
 * vmem: a reserved, in-place growing array, with a pool of released ones.
 * See vmem.h.
 */
#include "nfsentry/vmem.h"

#include <errno.h>
#include <pthread.h>
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

/* The smallest reservation: sizes are powers of two from here, so released ones fit again. */
#define VMEM_MIN_BYTES ((size_t)64 << 10)

/*
 * Released reservations kept with their pages, for the next slot: a slot's
 * tables are the same sizes every five minutes, and memory the process
 * already holds is cleared by one memset instead of a page fault per page
 * (on a virtual machine a fresh page can also cost the host a fault).
 */
struct pooled {
	void *base;
	size_t reserved, rw;
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pooled pool[VMEM_POOL_MAX];
static size_t pool_n, pool_bytes;

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static size_t pow2_at_least(size_t n)
{
	size_t p = VMEM_MIN_BYTES;

	while (p < n)
		p *= 2;
	return p;
}

/* A pooled reservation of exactly reserved bytes, or 0. */
static int pool_take(struct vmem *m)
{
	int found = 0;

	pthread_mutex_lock(&pool_mu);
	for (size_t k = 0; k < pool_n; k++) {
		if (pool[k].reserved != m->reserved)
			continue;
		m->base = pool[k].base;
		m->rw = pool[k].rw;
		pool_bytes -= pool[k].rw;
		pool[k] = pool[--pool_n];
		found = 1;
		break;
	}
	pthread_mutex_unlock(&pool_mu);
	return found;
}

/* Keep m's reservation for reuse when the pool has room; 1 if kept. */
static int pool_put(const struct vmem *m)
{
	int kept = 0;

	pthread_mutex_lock(&pool_mu);
	if (pool_n < VMEM_POOL_MAX && pool_bytes + m->rw <= VMEM_POOL_BYTES) {
		pool[pool_n++] = (struct pooled){m->base, m->reserved, m->rw};
		pool_bytes += m->rw;
		kept = 1;
	}
	pthread_mutex_unlock(&pool_mu);
	return kept;
}

int vmem_init(struct vmem *m, size_t max_bytes)
{
	memset(m, 0, sizeof(*m));
	if (max_bytes == 0 || max_bytes > SIZE_MAX / 4)
		return -ENOMEM;
	m->reserved = pow2_at_least(max_bytes);
	if (VMEM_HEAP)
		return 0;
	m->mapped = 1;
	if (pool_take(m))
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
		memset(m, 0, sizeof(*m));
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
		 * whole array each time. Cache-line aligned as the mapping is, for
		 * the 64-byte-aligned entries kept in it (realloc gives 16).
		 */
		size_t want = bytes < 2 * m->committed ? 2 * m->committed : bytes;
		if (want > m->reserved)
			want = m->reserved;
		void *n;
		if (posix_memalign(&n, 64, want) != 0)
			return -ENOMEM;
		if (m->committed)
			memcpy(n, m->base, m->committed);
		free(m->base);
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
	uint8_t *b = m->base;
	if (want > m->rw) {
		if (mprotect(b + m->rw, want - m->rw, PROT_READ | PROT_WRITE) != 0)
			return -ENOMEM;
		if (want > VMEM_HUGE_BYTES) {
			/* A hint: refused (THP off, old kernel) it changes nothing but speed. */
			size_t lo = m->rw > VMEM_HUGE_BYTES ? m->rw : VMEM_HUGE_BYTES;
			madvise(b + lo, want - lo, MADV_HUGEPAGE);
		}
	}
	/* Pages a pooled reservation brought along hold the last owner's bytes. */
	if (m->rw > m->committed) {
		size_t end = want < m->rw ? want : m->rw;
		memset(b + m->committed, 0, end - m->committed);
	}
	if (want > m->rw)
		m->rw = want;
	m->committed = want;
	return 0;
}

void vmem_free(struct vmem *m)
{
	if (m->mapped) {
		/*
		 * Pooled pages are given to the kernel to take back under memory
		 * pressure (a container's limit, say): until it does, they stay
		 * mapped and are reused without a fault; once it has, they read as
		 * zero and fault in again. Either way vmem_commit() clears them.
		 */
		if (m->rw && madvise(m->base, m->rw, MADV_FREE) != 0)
			madvise(m->base, m->rw, MADV_DONTNEED);
		if (!m->rw || !pool_put(m))
			munmap(m->base, m->reserved);
	} else {
		free(m->base);
	}
	memset(m, 0, sizeof(*m));
}

void vmem_pool_trim(void)
{
	pthread_mutex_lock(&pool_mu);
	for (size_t k = 0; k < pool_n; k++)
		munmap(pool[k].base, pool[k].reserved);
	pool_n = 0;
	pool_bytes = 0;
	pthread_mutex_unlock(&pool_mu);
}
