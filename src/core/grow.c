/*
 * grow: the capped growable array. See grow.h.
 */
#include "nfsentry/grow.h"

#include <errno.h>

#include "nfsentry/fault.h"

int grow_array(void **arr, size_t *cap, size_t need, size_t elem, size_t first, size_t max)
{
	size_t ncap, bytes;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	ncap = *cap ? *cap : (first ? first : 1);
	while (ncap < need) {
		/* Doubling past SIZE_MAX: max is the most that may be held anyway. */
		if (__builtin_mul_overflow(ncap, 2, &ncap)) {
			ncap = max;
			break;
		}
	}
	if (ncap > max)
		ncap = max;
	if (__builtin_mul_overflow(ncap, elem, &bytes))
		return -ENOMEM;
	void *p = fault_realloc(*arr, bytes);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}
