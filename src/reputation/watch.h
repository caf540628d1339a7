/*
 * The watch list's set of addresses (src/reputation/ only): an immutable
 * hash set with a filter in front, built on the closer's worker and read on
 * the loop thread (reputation.c hands it over). It holds addresses and
 * answers "is this one watched"; the hand-over, the footprints and the cap
 * (reputation.watch_max) are reputation.c's. docs/internals/reputation.md
 * ("The watch list") has the sizes and measurements.
 */
#ifndef NFSENTRY_REPUTATION_WATCH_H
#define NFSENTRY_REPUTATION_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nfsentry/flow.h"

/*
 * The filter: a blocked Bloom filter, one 64-bit word per address with
 * WATCH_FILTER_K bits set in it, WATCH_FILTER_BITS bits per address (sized
 * to the list, not to the table: 10 000 addresses take 15 KiB, which stays
 * in the first-level cache next to the decoder's data). The K bits are one
 * of WATCH_FILTER_PATTERNS fixed patterns, so they cost one table read
 * instead of K variable shifts. About 2 % of unwatched addresses get
 * through to the table.
 */
#define WATCH_FILTER_BITS 12
#define WATCH_FILTER_K 4
#define WATCH_FILTER_PATTERNS 512 /* a power of two; 4 KiB of patterns */

/* The filter's words as the record path reads them (copied into locals). */
struct watch_filter {
	const uint64_t *word;    /* `words` words */
	const uint64_t *pattern; /* WATCH_FILTER_PATTERNS masks of K bits */
	uint64_t words;          /* >= 1 */
};

struct watch_set {
	struct watch_filter f; /* f.word and f.pattern point into mem; NULL until sealed */
	uint64_t *mem;         /* the patterns, then the words; owned */
	size_t mask;           /* table buckets - 1 (a power of two, >= 2 * n) */
	size_t n;              /* addresses */
	struct flow_addr *key; /* buckets; all-zero = empty (:: is never watched) */
};

/*
 * The table's hash (two multiplies; also the footprint slots' hash in
 * reputation.c).
 */
static inline uint64_t rep_addr_hash(const struct flow_addr *a)
{
	uint64_t x, y;

	memcpy(&x, a->b, 8);
	memcpy(&y, a->b + 8, 8);
	x ^= y * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return x;
}

/*
 * The filter's hash, one multiply: the address folded to 64 bits and then
 * to 32 (the high half onto the low), times an odd constant. The product's
 * top 32 bits pick the word (by multiplication, so any word count works),
 * bits 20..28 the pattern.
 */
static inline uint64_t watch_hash(const struct flow_addr *a)
{
	uint64_t x, y;

	memcpy(&x, a->b, 8);
	memcpy(&y, a->b + 8, 8);
	x ^= y;
	return (x ^ (x >> 32)) * 0x9e3779b97f4a7c15ull;
}

static inline uint64_t watch_filter_mask(const struct watch_filter *f, uint64_t h)
{
	return f->pattern[(h >> 20) & (WATCH_FILTER_PATTERNS - 1)];
}

static inline uint64_t watch_filter_index(const struct watch_filter *f, uint64_t h)
{
	return ((h >> 32) * f->words) >> 32;
}

/*
 * Whether the filter lets an address of hash h (watch_hash()) through:
 * always for an address of the set, for about 2 % of the others.
 */
static inline bool watch_filter_maybe(const struct watch_filter *f, uint64_t h)
{
	uint64_t m = watch_filter_mask(f, h);
	return (f->word[watch_filter_index(f, h)] & m) == m;
}

/* An empty, unsealed set with room for n addresses, or NULL (out of memory). */
struct watch_set *watch_set_new(size_t n);

/* Frees w and what it owns; NULL is fine. */
void watch_set_free(struct watch_set *w);

/*
 * Adds a copy of *a to the unsealed set w (:: and addresses already there
 * are ignored). Returns the set to use from now on: w, or a larger set that
 * replaces it (w is then freed). NULL: out of memory, and w is freed.
 */
struct watch_set *watch_set_add(struct watch_set *w, const struct flow_addr *a);

/*
 * Builds the filter of the addresses added so far (WATCH_FILTER_BITS per
 * address); the set is read-only from then on. 0, or -ENOMEM (the set is
 * unchanged and still unsealed).
 */
int watch_set_seal(struct watch_set *w);

/* Whether *a is in the set (the table, exact; sealed or not). */
bool watch_set_has(const struct watch_set *w, const struct flow_addr *a);

#endif
