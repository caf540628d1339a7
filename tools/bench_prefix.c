/*
 * bench_prefix: cost of prefix_table_lookup() on the receive hot path.
 *
 * For tables of 10, 1 000 and 10 000 prefixes (half IPv4 /8../32, half IPv6
 * /32../64 with one in eight a /128), looks up 10 million addresses and
 * prints ns per lookup, the median of 5 runs. Two address mixes:
 *   mixed  - a quarter inside a random prefix, the rest random IPv4 and
 *            IPv6 addresses (what a collector sees: many outside peers);
 *   deep   - every address inside a random IPv6 /128 of the table, the
 *            longest walk the structure has (19 nodes below the root).
 * Addresses come from a precomputed ring of 2^20 so the generator is not
 * measured. Times are thread CPU time. Fixed seed; run as
 * `build-site/tools/bench_prefix` (a release or debugoptimized build).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/prefix.h"

#define RING (1u << 20)
#define LOOKUPS 10000000u
#define RUNS 5

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

struct pfx {
	struct flow_addr addr;
	unsigned len;
};

static void set_be64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* addr with every bit beyond len replaced by random bits. */
static void random_inside(const struct pfx *p, struct flow_addr *a)
{
	uint8_t r[16];

	set_be64(r, rng());
	set_be64(r + 8, rng());
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = p->len > i * 8 ? p->len - i * 8 : 0;
		uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
		a->b[i] = (uint8_t)((p->addr.b[i] & mask) | (r[i] & ~mask));
	}
}

static void random_prefix(struct pfx *p)
{
	memset(&p->addr, 0, sizeof(p->addr));
	if (rng() & 1) {
		p->addr.b[10] = p->addr.b[11] = 0xff;
		set_be64(p->addr.b + 8, (rng() & 0xffffffffu) | 0xffff00000000ull);
		p->len = 96 + 8 + (unsigned)(rng() % 25);
	} else {
		/* Global unicast 2000::/3, as sites are. */
		set_be64(p->addr.b, (rng() >> 3) | (1ull << 61));
		set_be64(p->addr.b + 8, rng());
		p->len = rng() % 8 == 0 ? 128 : 32 + (unsigned)(rng() % 33);
	}
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = p->len > i * 8 ? p->len - i * 8 : 0;
		p->addr.b[i] &= keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
	}
}

/*
 * Thread CPU time, not wall time: on a shared build host the wall clock also
 * counts the time other processes hold the core.
 */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median ns per lookup over RUNS runs of LOOKUPS lookups; *hits from the last run. */
static double measure(const struct prefix_table *t, const struct flow_addr *ring, unsigned *hits)
{
	double ns[RUNS];

	for (unsigned r = 0; r < RUNS; r++) {
		unsigned h = 0;
		double t0 = now_ns();
		for (uint32_t i = 0; i < LOOKUPS; i++)
			h += prefix_table_lookup(t, &ring[i & (RING - 1)]) >= 0;
		ns[r] = (now_ns() - t0) / LOOKUPS;
		*hits = h;
	}
	qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
	return ns[RUNS / 2];
}

int main(void)
{
	static const unsigned sizes[] = {10, 1000, 10000};
	struct flow_addr *ring = calloc(RING, sizeof(*ring));
	struct pfx *p = calloc(10000, sizeof(*p));

	if (!ring || !p) {
		fprintf(stderr, "bench_prefix: out of memory\n");
		return 1;
	}
	printf("%8s %6s %10s %9s %12s %7s\n", "prefixes", "mix", "ns/lookup", "hit%", "memory",
	       "build");
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned n = sizes[s], n128 = 0;
		struct prefix_table *t = prefix_table_create();
		if (!t) {
			fprintf(stderr, "bench_prefix: out of memory\n");
			return 1;
		}
		for (unsigned i = 0; i < n; i++) {
			int rc;
			do {
				random_prefix(&p[i]);
				rc = prefix_table_add(t, &p[i].addr, p[i].len, i);
			} while (rc == -EEXIST);
			if (rc < 0) {
				fprintf(stderr, "bench_prefix: add: %s\n", strerror(-rc));
				return 1;
			}
			n128 += p[i].len == 128 && p[i].addr.b[0] != 0;
		}
		double b0 = now_ns();
		int rc = prefix_table_build(t);
		double build_ms = (now_ns() - b0) / 1e6;
		if (rc < 0) {
			fprintf(stderr, "bench_prefix: build: %s\n", strerror(-rc));
			return 1;
		}

		for (uint32_t i = 0; i < RING; i++) {
			uint64_t k = rng() % 8;
			if (k < 2) {
				random_inside(&p[rng() % n], &ring[i]);
			} else if (k < 5) {
				memset(&ring[i], 0, sizeof(ring[i]));
				ring[i].b[10] = ring[i].b[11] = 0xff;
				set_be64(ring[i].b + 8, (rng() & 0xffffffffu) | 0xffff00000000ull);
			} else {
				set_be64(ring[i].b, (rng() >> 3) | (1ull << 61));
				set_be64(ring[i].b + 8, rng());
			}
		}
		unsigned hits;
		double ns = measure(t, ring, &hits);
		printf("%8u %6s %10.2f %8.1f%% %9zu KiB %5.1fms\n", n, "mixed", ns,
		       100.0 * hits / LOOKUPS, prefix_table_memory(t) / 1024, build_ms);

		if (n128) {
			for (uint32_t i = 0; i < RING; i++) {
				const struct pfx *q;
				do
					q = &p[rng() % n];
				while (q->len != 128 || q->addr.b[0] == 0);
				ring[i] = q->addr;
			}
			ns = measure(t, ring, &hits);
			printf("%8u %6s %10.2f %8.1f%%\n", n, "deep", ns, 100.0 * hits / LOOKUPS);
		}
		prefix_table_destroy(t);
	}
	free(ring);
	free(p);
	return 0;
}
