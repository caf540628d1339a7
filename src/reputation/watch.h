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
 * WATCH_FILTER_K bits set in it, at least WATCH_FILTER_BITS bits per address
 * (sized to the list, not to the table, and rounded up to a power of two
 * words: 10 000 addresses take 16 KiB, which stays in the first-level cache
 * next to the decoder's data). The K bits are one of WATCH_FILTER_PATTERNS
 * fixed patterns, so they cost one table read instead of K variable shifts.
 * The words are stored inverted (a watched address's bits are 0), so the
 * test is one AND against the pattern. About 1 to 2 % of unwatched
 * addresses get through to the table.
 */
#define WATCH_FILTER_BITS 12
#define WATCH_FILTER_K 4
#define WATCH_FILTER_PATTERNS 512 /* 2^WATCH_FILTER_PATTERN_BITS; 4 KiB of patterns */
#define WATCH_FILTER_PATTERN_BITS 9
#define WATCH_FILTER_MIN_WORDS 64 /* so that the index's shift stays below 64 */
_Static_assert(WATCH_FILTER_PATTERNS == 1 << WATCH_FILTER_PATTERN_BITS, "patterns");

/* The filter's words as the record path reads them (copied into locals). */
struct watch_filter {
	const uint64_t *word;    /* 2^(64 - shift) words, inverted */
	const uint64_t *pattern; /* WATCH_FILTER_PATTERNS masks of K bits */
	unsigned shift;          /* 64 - log2(words); at most 58 */
};

struct watch_set {
	struct watch_filter f; /* f.word and f.pattern point into mem; NULL until sealed */
	uint64_t *mem;         /* the patterns, then the words; owned */
	size_t words;          /* filter words (a power of two, >= WATCH_FILTER_MIN_WORDS) */
	size_t mask;           /* table buckets - 1 (a power of two, >= 2 * n) */
	size_t n;              /* addresses */
	uint16_t *tag;         /* per bucket: 0 empty, else watch_tag() of its key; owned */
	struct flow_addr *key; /* buckets (all-zero where tag is 0: :: is never watched); owned */
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
 * A bucket's tag: 15 bits of the table's hash h (rep_addr_hash()) that its
 * bucket index does not use, never 0. An address the filter lets through by
 * mistake is told apart by the tags alone (2 bytes a bucket, 64 KiB at
 * 10 000 watched), mostly without reading the 16-byte keys.
 */
static inline uint16_t watch_tag(uint64_t h)
{
	return (uint16_t)(h >> 48 | 1);
}

/*
 * The filter's hash, one multiply: the address folded to 64 bits, its
 * halves swapped (so an IPv4 address, the last four bytes, lands in the low
 * half and reaches every bit of the product above it), times an odd
 * constant. The product's top bits pick the word, bits 23..31 the pattern
 * (for two IPv4 addresses of one /24 they differ: the last byte times an
 * odd number is a bijection).
 */
static inline uint64_t watch_hash(const struct flow_addr *a)
{
	uint64_t x, y;

	memcpy(&x, a->b, 8);
	memcpy(&y, a->b + 8, 8);
	x ^= y;
	return (x >> 32 | x << 32) * 0x9e3779b97f4a7c15ull;
}

static inline uint64_t watch_filter_mask(const struct watch_filter *f, uint64_t h)
{
	return f->pattern[(uint32_t)h >> (32 - WATCH_FILTER_PATTERN_BITS)];
}

static inline uint64_t watch_filter_index(const struct watch_filter *f, uint64_t h)
{
	return h >> f->shift;
}

/*
 * The bits of the pattern of hash h (watch_hash()) that are set in the
 * set's (inverted) word: 0 (maybe watched) always for an address of the
 * set, for about 1 to 2 % of the others. Testing two ends' results
 * together costs one branch.
 */
static inline uint64_t watch_filter_miss(const struct watch_filter *f, uint64_t h)
{
	return f->word[watch_filter_index(f, h)] & watch_filter_mask(f, h);
}

/* Whether the filter lets an address of hash h (watch_hash()) through. */
static inline bool watch_filter_maybe(const struct watch_filter *f, uint64_t h)
{
	return watch_filter_miss(f, h) == 0;
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
 * Builds the filter of the addresses added so far (at least WATCH_FILTER_BITS
 * per address, a power of two words); the set is read-only from then on. 0, or -ENOMEM (the set is
 * unchanged and still unsealed).
 */
int watch_set_seal(struct watch_set *w);

/*
 * Whether *a is in the set (the table, exact; sealed or not): the tags of
 * the probed buckets first, a key only where its tag matches.
 */
bool watch_set_has(const struct watch_set *w, const struct flow_addr *a);

#endif
