/*
 * vmem: a large array that grows in place, for the open slot's tables.
 *
 * vmem_init() reserves address space for the array's largest size (a
 * cap) without committing memory; vmem_commit() makes a prefix of it
 * readable and writable as the array grows. The array never moves, so it
 * is never copied while it grows, and the bytes a commit adds read as
 * zero. Beyond the first VMEM_HUGE_BYTES the range is advised for
 * transparent huge pages: a slot's tables are read at random, and with
 * 4 KiB pages nearly every record would also miss the TLB. The first
 * VMEM_HUGE_BYTES stay on small pages so that the many small slots of a
 * large deployment do not each pin a 2 MiB page.
 *
 * Under AddressSanitizer the array is a calloc'd/realloc'd block of exactly
 * the committed size instead, so that an access past the committed end is
 * reported; there base may move on a commit. Callers therefore re-read
 * base after every vmem_commit().
 *
 * Not thread-safe; one owner at a time (the slot's).
 */
#ifndef NFSENTRY_VMEM_H
#define NFSENTRY_VMEM_H

#include <stddef.h>

#define VMEM_HUGE_BYTES ((size_t)2 << 20)

struct vmem {
	void *base;       /* NULL until the first commit (calloc path) or init */
	size_t reserved;  /* bytes of address space: the array's most */
	size_t committed; /* bytes usable from base */
	int mapped;       /* 1: base is a reservation of ours; 0: a heap block */
};

/*
 * Reserve max_bytes of address space (rounded up to pages). Returns 0 or
 * -ENOMEM (nothing held). Commits nothing: m->committed is 0.
 */
int vmem_init(struct vmem *m, size_t max_bytes);

/*
 * Make at least bytes usable (bytes <= m->reserved); added bytes read as
 * zero. Returns 0, or -ENOMEM with the array unchanged and still usable up
 * to its old committed size.
 */
int vmem_commit(struct vmem *m, size_t bytes);

/* Release everything; m is left empty (vmem_free on it again is a no-op). */
void vmem_free(struct vmem *m);

/*
 * calloc(n, size), with the block's whole 2 MiB ranges advised for
 * transparent huge pages when it is large (>= 4 MiB): for the finished
 * slot's arrays, written once in order and then read at random. Freed with
 * free(). A hint only: without THP it is calloc.
 */
void *vmem_calloc(size_t n, size_t size);

#endif
