/*
 * Shared by test_slot.c and test_judge.c: build records and sites tersely.
 */
#ifndef TEST_SLOT_HELPERS_H
#define TEST_SLOT_HELPERS_H

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

#define TCP 6
#define UDP 17
#define SYN 0x02
#define ACK 0x10
#define PSH 0x08
#define RST 0x04
#define FIN 0x01

#endif
