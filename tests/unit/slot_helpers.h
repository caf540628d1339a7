/*
 * Shared by test_slot.c and test_judge.c: build records and sites tersely.
 */
#ifndef TEST_SLOT_HELPERS_H
#define TEST_SLOT_HELPERS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/flow.h"
#include "nfsentry/site.h"
#include "nfsentry/slot.h"

#define T0_MS 1767225600000ull /* 2026-01-01T00:00:00Z, slot 5890752 */

static inline struct flow mkflow(const char *src, const char *dst, uint8_t proto, uint16_t sport,
                                 uint16_t dport, uint8_t flags, uint64_t packets, uint64_t octets,
                                 uint64_t first_ms)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	if (flow_addr_parse(src, &f.src) || flow_addr_parse(dst, &f.dst))
		abort();
	f.proto = proto;
	f.sport = sport;
	f.dport = dport;
	f.tcp_flags = flags;
	f.packets = packets;
	f.octets = octets;
	f.first_ms = first_ms;
	f.last_ms = first_ms + 1000;
	f.export_ms = T0_MS + 60000;
	f.sampling = 1;
	return f;
}

static inline void test_site(struct site_config *s)
{
	memset(s, 0, sizeof(*s));
	site_config_defaults(s);
	memcpy(s->name, "campus", 7);
}

/* Index of addr in the finished view's inside / outside arrays, or -1. */
static inline long find_inside(const struct slot_view *v, const char *addr)
{
	struct flow_addr a;
	flow_addr_parse(addr, &a);
	for (size_t k = 0; k < v->n_inside; k++)
		if (memcmp(&v->inside[k].addr, &a, 16) == 0)
			return (long)k;
	return -1;
}

static inline long find_outside(const struct slot_view *v, const char *addr)
{
	struct flow_addr a;
	flow_addr_parse(addr, &a);
	for (size_t k = 0; k < v->n_outside; k++)
		if (memcmp(&v->outside[k].addr, &a, 16) == 0)
			return (long)k;
	return -1;
}

/* ---- random records for the order-independence properties ---------------- */

static inline uint32_t rng(uint64_t *st)
{
	*st = *st * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*st >> 33);
}

/*
 * n records among small address pools, both directions, IPv4 and IPv6,
 * assorted protocols, flags and ports. f->sampling remembers the direction
 * (1 = egress) for feed().
 */
static inline void gen_records(uint64_t *st, struct flow *v, size_t n)
{
	char a[48], b[48];

	for (size_t k = 0; k < n; k++) {
		bool v6 = rng(st) % 5 == 0;
		if (v6) {
			snprintf(a, sizeof(a), "2001:db8:100::%x", rng(st) % 60);
			snprintf(b, sizeof(b), "2001:db8:9:%x::1", rng(st) % 300);
		} else {
			snprintf(a, sizeof(a), "10.0.%u.%u", rng(st) % 2, rng(st) % 30);
			snprintf(b, sizeof(b), "198.51.%u.%u", rng(st) % 4, rng(st) % 80);
		}
		bool egress = rng(st) % 2;
		uint8_t proto = (uint8_t)((const uint8_t[]){6, 17, 1, 47})[rng(st) % 4];
		uint8_t flags = proto == 6 ? (uint8_t)(rng(st) & 0x1f) : 0;
		uint16_t sp = (uint16_t)(rng(st) % 3 ? 1024 + rng(st) % 60000 : rng(st) % 1024);
		uint16_t dp = (uint16_t)(rng(st) % 3 ? rng(st) % 1024 : 1024 + rng(st) % 60000);
		v[k] = mkflow(egress ? a : b, egress ? b : a, proto, sp, dp, flags, 1 + rng(st) % 50,
		              40 + rng(st) % 60000, T0_MS + rng(st) % 300000);
		v[k].sampling = egress;
	}
}

static inline void feed(struct slot *s, const struct flow *v, const size_t *order, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct flow *f = &v[order[k]];
		slot_add(s, f->sampling ? SLOT_EGRESS : SLOT_INGRESS, f);
	}
}

static inline void shuffle(uint64_t *st, size_t *order, size_t n)
{
	for (size_t k = n - 1; k > 0; k--) {
		size_t j = rng(st) % (k + 1);
		size_t t = order[k];
		order[k] = order[j];
		order[j] = t;
	}
}

#define TCP 6
#define UDP 17
#define SYN 0x02
#define ACK 0x10
#define PSH 0x08
#define RST 0x04
#define FIN 0x01

#endif
