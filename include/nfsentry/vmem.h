/*
 * vmem: a large array that grows in place, for a slot's tables.
 *
 * vmem_init() reserves address space for the array's largest size (a
 * cap, rounded up to a power of two) without committing memory;
 * vmem_commit() makes a prefix of it readable and writable as the array
 * grows. The array never moves, so it is never copied while it grows, and
 * the bytes a commit adds read as zero. Beyond the first VMEM_HUGE_BYTES
 * the range is advised for transparent huge pages: a slot's tables are read
 * at random, and with 4 KiB pages nearly every record would also miss the
 * TLB. The first VMEM_HUGE_BYTES stay on small pages so that the many small
 * slots of a large deployment do not each pin a 2 MiB page.
 *
 * vmem_free() keeps up to VMEM_POOL_MAX released reservations (at most
 * VMEM_POOL_BYTES of their pages in all) for the next vmem_init() of the
 * same size: the slots of every five minutes need the same tables again,
 * and clearing memory the process holds is cheaper than a page fault per
 * page. Pooled pages are marked MADV_FREE: the kernel may take them back
 * under memory pressure instead of counting them against a memory limit.
 * The pool is shared by all threads (a mutex); vmem_pool_trim() gives it
 * back to the system.
 *
 * Under AddressSanitizer the array is a calloc'd/realloc'd block of exactly
 * the committed size instead (no pool), so that an access past the
 * committed end is reported; there base may move on a commit. Callers
 * therefore re-read base after every vmem_commit().
 *
 * One struct vmem has one owner at a time.
 */
#ifndef NFSENTRY_VMEM_H
#define NFSENTRY_VMEM_H

#include <stddef.h>

#define VMEM_HUGE_BYTES ((size_t)2 << 20)
#define VMEM_POOL_MAX 64
#define VMEM_POOL_BYTES ((size_t)1 << 30)

struct vmem {
	void *base;       /* NULL until the first commit (calloc path) or init */
	size_t reserved;  /* bytes of address space: the array's most */
	size_t committed; /* bytes usable from base */
	size_t rw;        /* bytes readable and writable (>= committed from a pooled one) */
	int mapped;       /* 1: base is a reservation of ours; 0: a heap block */
};

/*
 * Reserve max_bytes of address space (rounded up to a power of two, at
 * least 64 KiB), from the pool when it holds one of that size. Returns 0 or
 * -ENOMEM (nothing held). Commits nothing: m->committed is 0.
 */
int vmem_init(struct vmem *m, size_t max_bytes);

/*
 * Make at least bytes usable (bytes <= m->reserved); added bytes read as
 * zero. Returns 0, or -ENOMEM with the array unchanged and still usable up
 * to its old committed size.
 */
int vmem_commit(struct vmem *m, size_t bytes);

/*
 * Release the array (into the pool when it has room); m is left empty
 * (vmem_free on it again is a no-op).
 */
void vmem_free(struct vmem *m);

/* Unmap every pooled reservation. */
void vmem_pool_trim(void);

#endif
