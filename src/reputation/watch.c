/*
 * The watch list's set of addresses: building (worker) and the exact
 * look-up behind the filter. The filter's hot path is inline in watch.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "nfsentry/fault.h"
#include "watch.h"

static bool addr_zero(const struct flow_addr *a)
{
	static const struct flow_addr z;
	return memcmp(a, &z, sizeof(z)) == 0;
}

void watch_set_free(struct watch_set *w)
{
	if (!w)
		return;
	free(w->mem);
	free(w->tag);
	free(w->key);
	free(w);
}

struct watch_set *watch_set_new(size_t n)
{
	struct watch_set *w = fault_calloc(1, sizeof(*w));
	size_t b = 16;

	if (!w)
		return NULL;
	while (b < 2 * n)
		b *= 2;
	w->mask = b - 1;
	w->tag = fault_calloc(b, sizeof(*w->tag));
	w->key = fault_calloc(b, sizeof(*w->key));
	if (!w->tag || !w->key) {
		watch_set_free(w);
		return NULL;
	}
	return w;
}

/* Puts a into the table, which has room (at most half full). */
static void table_put(struct watch_set *w, const struct flow_addr *a)
{
	uint64_t h = rep_addr_hash(a);
	uint16_t t = watch_tag(h);

	for (size_t i = h & w->mask;; i = (i + 1) & w->mask) {
		if (!w->tag[i]) {
			w->tag[i] = t;
			w->key[i] = *a;
			w->n++;
			return;
		}
		if (w->tag[i] == t && memcmp(&w->key[i], a, sizeof(*a)) == 0)
			return;
	}
}

struct watch_set *watch_set_add(struct watch_set *w, const struct flow_addr *a)
{
	if (addr_zero(a))
		return w;
	if (2 * (w->n + 1) > w->mask + 1) {
		/* Keep the table at most half full: rebuild it twice the size. */
		struct watch_set *g = watch_set_new(w->mask + 1);
		if (g)
			for (size_t i = 0; i <= w->mask; i++)
				if (w->tag[i])
					table_put(g, &w->key[i]);
		watch_set_free(w);
		if (!g)
			return NULL;
		w = g;
	}
	table_put(w, a);
	return w;
}

int watch_set_seal(struct watch_set *w)
{
	uint64_t need = ((uint64_t)w->n * WATCH_FILTER_BITS + 63) / 64;
	uint64_t words = WATCH_FILTER_MIN_WORDS;
	unsigned shift = 64 - 6; /* log2(WATCH_FILTER_MIN_WORDS) == 6 */
	uint64_t *mem;

	while (words < need) {
		words *= 2;
		shift--;
	}
	mem = fault_malloc((WATCH_FILTER_PATTERNS + words) * sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	/*
	 * The patterns: K distinct bits each, from a fixed generator (an LCG's
	 * top six bits), the same in every set.
	 */
	uint64_t x = 0x853c49e6748fea9bull;
	for (size_t i = 0; i < WATCH_FILTER_PATTERNS; i++) {
		uint64_t m = 0;
		while (__builtin_popcountll(m) < WATCH_FILTER_K) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			m |= 1ull << (x >> 58);
		}
		mem[i] = m;
	}
	uint64_t *word = mem + WATCH_FILTER_PATTERNS;
	memset(word, 0xff, words * sizeof(*word));
	free(w->mem);
	w->mem = mem;
	w->words = words;
	w->f.pattern = mem;
	w->f.word = word;
	w->f.shift = shift;
	for (size_t i = 0; i <= w->mask; i++)
		if (w->tag[i]) {
			uint64_t h = watch_hash(&w->key[i]);
			word[watch_filter_index(&w->f, h)] &= ~watch_filter_mask(&w->f, h);
		}
	return 0;
}

bool watch_set_has(const struct watch_set *w, const struct flow_addr *a)
{
	uint64_t h = rep_addr_hash(a);
	uint16_t t = watch_tag(h);

	for (size_t i = h & w->mask; w->tag[i]; i = (i + 1) & w->mask)
		if (w->tag[i] == t && memcmp(&w->key[i], a, sizeof(*a)) == 0)
			return true;
	return false;
}
