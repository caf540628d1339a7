/*
 * l2 internal: helpers shared by src/l2/parse.c and src/l2/merge.c only.
 */
#ifndef NFSENTRY_L2_INTERNAL_H
#define NFSENTRY_L2_INTERNAL_H

#include <stddef.h>

/* calloc/realloc that l2_fault_inject() can make fail (parse.c). */
void *l2_calloc(size_t n, size_t size);
void *l2_realloc(void *p, size_t size);

#endif
