/*
 * flow: the normalized flow record and the address types every module shares.
 *
 * A decoder (NetFlow v5, v9, IPFIX) turns wire records into struct flow; the
 * site/slot engine and the CSV/JSON printers consume it. Nothing here
 * allocates. IPv4 addresses are held as IPv4-mapped IPv6 (::ffff:a.b.c.d)
 * so that one 16-byte compare serves both families.
 */
#ifndef NFSENTRY_FLOW_H
#define NFSENTRY_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sockaddr;

/* 16 bytes, network order; IPv4 as ::ffff:a.b.c.d. */
struct flow_addr {
	uint8_t b[16];
};

/* An address and a UDP port (host order), e.g. an exporter's source. */
struct flow_endpoint {
	struct flow_addr addr;
	uint16_t port;
};

/* One unidirectional flow record, after sampling has been applied. */
struct flow {
	struct flow_addr exporter; /* source address of the export datagram */
	struct flow_addr src, dst;
	uint64_t packets;   /* scaled by sampling */
	uint64_t octets;    /* scaled by sampling */
	uint64_t first_ms;  /* Unix ms; 0 when the record carries no time */
	uint64_t last_ms;   /* Unix ms */
	uint64_t export_ms; /* export time of the carrying datagram, Unix ms */
	uint32_t in_if, out_if;
	uint32_t sampling; /* factor applied to packets/octets; 1 = unsampled */
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t tcp_flags;
	uint8_t frag; /* FLOW_FRAG_* bits; 0 when the record says nothing of fragments */
};

/*
 * struct flow's fragment bits, from IPFIX fragmentFlags (197) and
 * fragmentOffset (88; NetFlow v9 FRAGMENT_OFFSET). NetFlow v5 has neither.
 */
#define FLOW_FRAG_MORE 0x01   /* MF: more fragments follow (fragmentFlags bit 2) */
#define FLOW_FRAG_OFFSET 0x02 /* a non-zero fragment offset: not the first fragment */
#define FLOW_FRAG_DF 0x04     /* DF: don't fragment (fragmentFlags bit 1) */

/* The fragment byte sits in what was padding: the record did not grow. */
_Static_assert(sizeof(struct flow) == 112, "struct flow is 112 bytes");

/*
 * True for a fragment record: its packets were IP fragments (a non-zero
 * offset, or more fragments to come after a first one).
 */
static inline bool flow_is_fragment(const struct flow *f)
{
	return (f->frag & (FLOW_FRAG_MORE | FLOW_FRAG_OFFSET)) != 0;
}

/*
 * MurmurHash3's 64-bit finaliser: every input bit reaches the low bits a
 * hash table masks with. Addresses and MACs of one site differ in a few
 * bytes only (IPv4 in the last four of sixteen); a plain multiply leaves
 * the low bits equal for all of them.
 */
static inline uint64_t flow_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* A 64-bit hash of *a for hash tables keyed by address; salt 0 for none. */
static inline uint64_t flow_addr_hash(const struct flow_addr *a, uint64_t salt)
{
	uint64_t lo, hi;

	memcpy(&lo, a->b, 8);
	memcpy(&hi, a->b + 8, 8);
	return flow_mix64(lo ^ flow_mix64(hi ^ salt));
}

/*
 * Set *a from 4 bytes of IPv4 (network order). Inline: the decoders and the
 * slot close make one per record or conversation.
 */
static inline void flow_addr_from_v4(struct flow_addr *a, const uint8_t v4[4])
{
	memcpy(a->b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
	memcpy(a->b + 12, v4, 4);
}
/* Set *a from 16 bytes of IPv6. */
void flow_addr_from_v6(struct flow_addr *a, const uint8_t v6[16]);
/* True for an IPv4-mapped address (::ffff:0:0/96). Inline: the document
 * writer asks it of every address it prints. */
static inline bool flow_addr_is_v4(const struct flow_addr *a)
{
	return memcmp(a->b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0;
}
/*
 * True when a lies inside the prefix net/len: its first len bits equal
 * net's. len counts the 128 bits (an IPv4 /n is 96 + n); more than 128 is
 * read as 128. Bits of net past len are ignored, set or not. The one
 * prefix test for lists of prefixes (the decoder's exporter allow-list, the
 * configuration's checks); matching against many prefixes is the prefix
 * table's job (prefix.h). Inline: the decoder asks it per datagram.
 */
static inline bool flow_addr_in_prefix(const struct flow_addr *a, const struct flow_addr *net,
                                       unsigned len)
{
	unsigned bits = len > 128 ? 128 : len, whole = bits / 8, rest = bits % 8;

	if (memcmp(net->b, a->b, whole) != 0)
		return false;
	return rest == 0 || ((net->b[whole] ^ a->b[whole]) & (uint8_t)(0xffu << (8 - rest))) == 0;
}
/*
 * Normal text form ("192.0.2.1", "2001:db8::1") into buf (>= 46 bytes).
 * Returns the length written.
 */
size_t flow_addr_format(const struct flow_addr *a, char *buf, size_t len);
/* Parse text form; returns 0 or -EINVAL. */
int flow_addr_parse(const char *s, struct flow_addr *a);
/*
 * Parse "A.B.C.D:PORT" or "[V6]:PORT" (numeric address, port 1..65535).
 * Returns 0 or -EINVAL with *why (static text, for messages such as the
 * configuration's) saying what is wrong; why may be NULL.
 */
int flow_endpoint_parse(const char *s, struct flow_endpoint *ep, const char **why);
/* Fill a sockaddr_in/sockaddr_in6 (ss must be large enough); returns its length. */
unsigned flow_endpoint_to_sockaddr(const struct flow_endpoint *ep, struct sockaddr *ss);
/* From a struct sockaddr_in / sockaddr_in6; returns 0 or -EAFNOSUPPORT. */
int flow_endpoint_from_sockaddr(struct flow_endpoint *ep, const struct sockaddr *sa);

/*
 * One export datagram as received from a socket or read from a capture. The
 * payload is borrowed: valid only during the callback that receives it.
 */
struct datagram {
	struct flow_endpoint from; /* the exporter */
	struct flow_endpoint to;   /* our address, when known (capture) */
	const uint8_t *p;
	size_t len;
	uint64_t ts_ms; /* receive time: wall clock, or capture timestamp */
	/*
	 * Live: how full the receiving socket's buffer was when last looked at
	 * (at most every millisecond), per mille of its size: a reading thread
	 * falling behind. 0: not known (a capture).
	 */
	uint16_t rx_fill_pm;
};

/* Consumer of datagrams. Returns 0, or non-zero to stop a capture read. */
typedef int (*datagram_fn)(void *ud, const struct datagram *dg);

#endif
