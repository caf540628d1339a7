/*
 * grow: the one capped growable array (the idea of curl's dynbuf and its
 * `toobig`). An array of fixed-size elements, its capacity in elements kept
 * by the caller, grows by doubling to hold what is needed, never past a
 * hard maximum that the caller gives at every call. The multiplications are
 * checked; the memory comes from fault.h, so tests can make it fail.
 *
 * Not here: the elements' contents (new room is not initialised) or a
 * length; the caller keeps both.
 */
#ifndef NFSENTRY_GROW_H
#define NFSENTRY_GROW_H

#include <stddef.h>

/*
 * Make *arr, which has room for *cap elements of elem (> 0) bytes, hold at
 * least need elements. Nothing is done when need <= *cap. Otherwise the
 * capacity starts at first (when *cap is 0) or *cap and doubles until it
 * holds need, and is cut to max when it passes max; *arr is reallocated
 * (the old pointer is dead) and *cap set. Returns 0; -E2BIG when need >
 * max; -ENOMEM when the size in bytes passes SIZE_MAX or the allocation
 * fails. On failure *arr and *cap are unchanged (and *arr still owned by
 * the caller).
 */
int grow_array(void **arr, size_t *cap, size_t need, size_t elem, size_t first, size_t max);

#endif
