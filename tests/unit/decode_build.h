/*
 * decode_build.h: a tiny datagram builder and record sink shared by the
 * decoder tests (test_v5.c, test_v9.c, test_ipfix.c, test_decoder.c).
 *
 * Datagrams are written byte by byte in network order, so the tests state
 * the wire format explicitly instead of trusting the code under test.
 */
#ifndef NFSENTRY_TEST_DECODE_BUILD_H
#define NFSENTRY_TEST_DECODE_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/decoder.h"
#include "nfsentry/flow.h"

struct bld {
	uint8_t b[65536];
	size_t n;
};

static inline void b_reset(struct bld *b)
{
	b->n = 0;
}

static inline void b_u8(struct bld *b, uint8_t v)
{
	b->b[b->n++] = v;
}

static inline void b_u16(struct bld *b, uint16_t v)
{
	b_u8(b, (uint8_t)(v >> 8));
	b_u8(b, (uint8_t)v);
}

static inline void b_u32(struct bld *b, uint32_t v)
{
	b_u16(b, (uint16_t)(v >> 16));
	b_u16(b, (uint16_t)v);
}

static inline void b_u64(struct bld *b, uint64_t v)
{
	b_u32(b, (uint32_t)(v >> 32));
	b_u32(b, (uint32_t)v);
}

static inline void b_bytes(struct bld *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static inline void b_v4(struct bld *b, uint8_t a, uint8_t c, uint8_t d, uint8_t e)
{
	b_u8(b, a);
	b_u8(b, c);
	b_u8(b, d);
	b_u8(b, e);
}

/*
 * A record's source 10.0.0.1 and destination 192.0.2.1, for tests whose
 * templates start with fields 8 and 12 (a record needs a usable address
 * or it is dropped as noAddress).
 */
static inline void b_addrs(struct bld *b)
{
	b_v4(b, 10, 0, 0, 1);
	b_v4(b, 192, 0, 2, 1);
}

/* Start a set/flowset: returns its offset for b_set_end. */
static inline size_t b_set_begin(struct bld *b, uint16_t id)
{
	size_t off = b->n;
	b_u16(b, id);
	b_u16(b, 0);
	return off;
}

static inline void b_set_end(struct bld *b, size_t off)
{
	size_t len = b->n - off;
	b->b[off + 2] = (uint8_t)(len >> 8);
	b->b[off + 3] = (uint8_t)len;
}

/* v9 header. */
static inline void b_v9_header(struct bld *b, uint32_t uptime, uint32_t secs, uint32_t seq,
                               uint32_t source_id)
{
	b_reset(b);
	b_u16(b, 9);
	b_u16(b, 0);
	b_u32(b, uptime);
	b_u32(b, secs);
	b_u32(b, seq);
	b_u32(b, source_id);
}

/* IPFIX header; call b_ipfix_end once complete to set the length. */
static inline void b_ipfix_header(struct bld *b, uint32_t secs, uint32_t seq, uint32_t domain)
{
	b_reset(b);
	b_u16(b, 10);
	b_u16(b, 0);
	b_u32(b, secs);
	b_u32(b, seq);
	b_u32(b, domain);
}

static inline void b_ipfix_end(struct bld *b)
{
	b->b[2] = (uint8_t)(b->n >> 8);
	b->b[3] = (uint8_t)b->n;
}

/* Records collected from the sink. */
struct sinkbuf {
	struct flow f[4096];
	size_t n;
	int calls;
};

static inline void sink_collect(void *ud, const struct flow *v, size_t n)
{
	struct sinkbuf *s = ud;
	for (size_t i = 0; i < n && s->n < 4096; i++)
		s->f[s->n++] = v[i];
	s->calls++;
}

static inline struct flow_endpoint ep_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct flow_endpoint ep;
	uint8_t v4[4] = {a, b, c, d};
	memset(&ep, 0, sizeof(ep));
	flow_addr_from_v4(&ep.addr, v4);
	ep.port = port;
	return ep;
}

static inline int feed(struct decoder *d, const struct flow_endpoint *from, const struct bld *b,
                       uint64_t now_ms, struct sinkbuf *s)
{
	return decoder_feed(d, from, b->b, b->n, now_ms, sink_collect, s);
}

static inline uint64_t drops(struct decoder *d, enum decoder_drop why)
{
	struct decoder_stats st;
	decoder_stats_get(d, &st);
	return st.drops[why];
}

static inline uint64_t drops_total(struct decoder *d)
{
	struct decoder_stats st;
	uint64_t t = 0;
	decoder_stats_get(d, &st);
	for (int i = 0; i < DECODER_DROP__COUNT; i++)
		t += st.drops[i];
	return t;
}

static inline struct decoder_stats stats(struct decoder *d)
{
	struct decoder_stats st;
	decoder_stats_get(d, &st);
	return st;
}

static inline int is_v4(const struct flow_addr *a, uint8_t w, uint8_t x, uint8_t y, uint8_t z)
{
	uint8_t v4[4] = {w, x, y, z};
	struct flow_addr e;
	flow_addr_from_v4(&e, v4);
	return memcmp(a->b, e.b, 16) == 0;
}

#endif
