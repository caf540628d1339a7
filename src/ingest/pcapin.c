/*
 * pcapin: pcap/pcapng capture -> UDP datagrams. See pcapin.h.
 *
 * Responsible for: the link layers listed in the header, IPv4 and IPv6
 * header checks, IPv6 extension header walk, bounded IP fragment reassembly
 * keyed on capture time, and the UDP length check. Not responsible for:
 * what is inside the UDP payload (src/decode), checksums, or TCP.
 *
 * Every length comes from the file and is checked against the bytes that
 * remain before it is used. Fields are read through get_u16be()/get_u32be();
 * no packet offset is ever cast to a struct.
 */
#include "nfsentry/pcapin.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/wire.h"

/* Link types not named by every libpcap header (values are the LINKTYPE_*). */
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

#define ETH_HDR_LEN 14
#define SLL_HDR_LEN 16
#define SLL2_HDR_LEN 20
#define NULL_HDR_LEN 4
#define IP4_MIN_HDR 20
#define IP6_HDR_LEN 40
#define UDP_HDR_LEN 8

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100

#define IPPROTO_NUM_HOPOPTS 0
#define IPPROTO_NUM_UDP 17
#define IPPROTO_NUM_ROUTING 43
#define IPPROTO_NUM_FRAGMENT 44
#define IPPROTO_NUM_AH 51
#define IPPROTO_NUM_DSTOPTS 60

enum frag_state { FRAG_FREE = 0, FRAG_OPEN, FRAG_DEAD };

/*
 * One datagram being reassembled. Key: (family, src, dst, id, protocol) per
 * RFC 791 and RFC 8200 §4.5. Received 8-byte blocks are marked in map so
 * that any overlap is seen (RFC 5722: overlapping fragments drop the whole
 * datagram). A set that failed is kept as FRAG_DEAD until its timeout so its
 * later fragments are absorbed instead of starting a new set that would be
 * counted as dropped a second time.
 */
struct frag_set {
	enum frag_state state;
	bool v6;
	uint8_t proto; /* v4: IP protocol; v6: next header of the fragment header */
	uint8_t src[16], dst[16];
	uint32_t id;
	uint64_t first_ms; /* capture time of the first fragment seen */
	size_t total;      /* payload length, known once the last fragment came; 0 before */
	size_t have;       /* payload bytes received (no overlaps, so a plain sum) */
	size_t max_end;    /* highest offset + length received */
	uint8_t *buf;      /* PCAPIN_FRAG_MAX_BYTES, allocated on first use, reused */
	uint8_t map[(PCAPIN_FRAG_MAX_BYTES / 8 + 1 + 7) / 8];
};

struct pcapin_ctx {
	const struct pcapin_opts *opts;
	datagram_fn fn;
	void *ud;
	struct pcapin_stats st;
	unsigned n_live; /* sets not FREE */
	struct frag_set sets[PCAPIN_FRAG_MAX_SETS];
};

static bool port_wanted(const struct pcapin_opts *o, uint16_t port)
{
	if (!o || !o->ports || o->n_ports == 0)
		return true;
	for (size_t i = 0; i < o->n_ports; i++)
		if (o->ports[i] == port)
			return true;
	return false;
}

/*
 * l4 points at the UDP header; have = bytes present after the IP headers,
 * stated = IP payload length per the IP header(s). Returns fn's value.
 */
static int udp_input(struct pcapin_ctx *c, bool v6, const uint8_t *src, const uint8_t *dst,
                     const uint8_t *l4, size_t have, size_t stated, uint64_t ts_ms)
{
	struct datagram dg;
	size_t ulen, use;

	if (stated < UDP_HDR_LEN) {
		c->st.bad_header++;
		return 0;
	}
	if (have < UDP_HDR_LEN) {
		c->st.truncated++;
		return 0;
	}
	ulen = get_u16be(l4 + 4);
	if (ulen < UDP_HDR_LEN) {
		/* 0 would be an IPv6 jumbogram (RFC 2675): not an export. */
		c->st.bad_header++;
		return 0;
	}
	if (!port_wanted(c->opts, get_u16be(l4 + 2))) {
		c->st.port_filtered++;
		return 0;
	}
	/* Trust the smallest of the three lengths; say so when it cost bytes. */
	use = ulen;
	if (use > stated)
		use = stated;
	if (use > have)
		use = have;
	if (use < ulen)
		c->st.payload_short++;

	memset(&dg, 0, sizeof(dg));
	if (v6) {
		flow_addr_from_v6(&dg.from.addr, src);
		flow_addr_from_v6(&dg.to.addr, dst);
	} else {
		flow_addr_from_v4(&dg.from.addr, src);
		flow_addr_from_v4(&dg.to.addr, dst);
	}
	dg.from.port = get_u16be(l4);
	dg.to.port = get_u16be(l4 + 2);
	dg.p = l4 + UDP_HDR_LEN;
	dg.len = use - UDP_HDR_LEN;
	dg.ts_ms = ts_ms;
	c->st.datagrams++;
	return c->fn(c->ud, &dg);
}

/* ---- fragment reassembly ---- */

static void frag_release(struct pcapin_ctx *c, struct frag_set *s)
{
	s->state = FRAG_FREE;
	c->n_live--;
}

static void frag_kill(struct pcapin_ctx *c, struct frag_set *s)
{
	if (s->state == FRAG_OPEN) {
		c->st.frag_dropped++;
		s->state = FRAG_DEAD;
	}
}

/* Sets whose first fragment is more than the timeout behind now are given up. */
static void frag_expire(struct pcapin_ctx *c, uint64_t now_ms)
{
	if (c->n_live == 0)
		return;
	for (size_t i = 0; i < PCAPIN_FRAG_MAX_SETS; i++) {
		struct frag_set *s = &c->sets[i];
		if (s->state == FRAG_FREE || now_ms < s->first_ms ||
		    now_ms - s->first_ms <= PCAPIN_FRAG_TIMEOUT_MS)
			continue;
		frag_kill(c, s);
		frag_release(c, s);
	}
}

static struct frag_set *frag_find(struct pcapin_ctx *c, bool v6, uint8_t proto, const uint8_t *src,
                                  const uint8_t *dst, uint32_t id, uint64_t now_ms)
{
	size_t alen = v6 ? 16 : 4;
	struct frag_set *free_s = NULL, *oldest = NULL;

	for (size_t i = 0; i < PCAPIN_FRAG_MAX_SETS; i++) {
		struct frag_set *s = &c->sets[i];
		if (s->state == FRAG_FREE) {
			if (!free_s)
				free_s = s;
			continue;
		}
		if (s->v6 == v6 && s->id == id && s->proto == proto &&
		    memcmp(s->src, src, alen) == 0 && memcmp(s->dst, dst, alen) == 0)
			return s;
		if (!oldest || s->first_ms < oldest->first_ms)
			oldest = s;
	}
	if (!free_s) {
		/* Table full: give up the oldest set on purpose (style §5). */
		frag_kill(c, oldest);
		frag_release(c, oldest);
		free_s = oldest;
	}
	if (!free_s->buf) {
		free_s->buf = malloc(PCAPIN_FRAG_MAX_BYTES);
		if (!free_s->buf)
			return NULL;
	}
	free_s->state = FRAG_OPEN;
	free_s->v6 = v6;
	free_s->proto = proto;
	memset(free_s->src, 0, sizeof(free_s->src));
	memset(free_s->dst, 0, sizeof(free_s->dst));
	memcpy(free_s->src, src, alen);
	memcpy(free_s->dst, dst, alen);
	free_s->id = id;
	free_s->first_ms = now_ms;
	free_s->total = 0;
	free_s->have = 0;
	free_s->max_end = 0;
	memset(free_s->map, 0, sizeof(free_s->map));
	c->n_live++;
	return free_s;
}

static int ip6_walk(struct pcapin_ctx *c, const uint8_t *src, const uint8_t *dst, uint8_t nh,
                    const uint8_t *p, size_t have, size_t stated, uint64_t ts_ms, bool reassembled);
static int frag_complete(struct pcapin_ctx *c, struct frag_set *s, uint64_t ts_ms);

/*
 * Add one fragment: payload bytes [off, off+len) of the datagram, more =
 * more fragments follow. Returns fn's value when this completed a datagram.
 */
static int frag_input(struct pcapin_ctx *c, bool v6, uint8_t proto, const uint8_t *src,
                      const uint8_t *dst, uint32_t id, size_t off, bool more, const uint8_t *p,
                      size_t len, uint64_t ts_ms)
{
	struct frag_set *s;
	size_t end, b0, b1;

	c->st.fragments++;
	s = frag_find(c, v6, proto, src, dst, id, ts_ms);
	if (!s) {
		/* Out of memory for a reassembly buffer: nothing else to do. */
		c->st.frag_dropped++;
		return 0;
	}
	if (s->state == FRAG_DEAD)
		return 0;
	end = off + len; /* both < 2^17: no overflow */
	/* RFC 791/8200: all but the last fragment carry a multiple of 8 bytes. */
	if (len == 0 || (more && len % 8 != 0) || end > PCAPIN_FRAG_MAX_BYTES) {
		frag_kill(c, s);
		return 0;
	}
	if (!more) {
		if (s->total || s->max_end > end) {
			frag_kill(c, s);
			return 0;
		}
		s->total = end;
	} else if (s->total && end > s->total) {
		frag_kill(c, s);
		return 0;
	}
	b0 = off / 8;
	b1 = (end + 7) / 8;
	for (size_t b = b0; b < b1; b++) {
		if (s->map[b / 8] & (1u << (b % 8))) {
			frag_kill(c, s);
			return 0;
		}
	}
	for (size_t b = b0; b < b1; b++)
		s->map[b / 8] |= (uint8_t)(1u << (b % 8));
	memcpy(s->buf + off, p, len);
	s->have += len;
	if (end > s->max_end)
		s->max_end = end;
	if (s->total && s->have == s->total)
		return frag_complete(c, s, ts_ms);
	return 0;
}

static int frag_complete(struct pcapin_ctx *c, struct frag_set *s, uint64_t ts_ms)
{
	int rc;

	c->st.frag_reassembled++;
	if (s->v6) {
		rc = ip6_walk(c, s->src, s->dst, s->proto, s->buf, s->total, s->total, ts_ms, true);
	} else if (s->proto != IPPROTO_NUM_UDP) {
		c->st.not_udp++;
		rc = 0;
	} else {
		rc = udp_input(c, false, s->src, s->dst, s->buf, s->total, s->total, ts_ms);
	}
	frag_release(c, s);
	return rc;
}

/* ---- IP ---- */

/* What every IP header is checked for first: the version nibble, then that
 * the fixed header (min_len bytes) is all there. Counts what it refuses. */
static bool ip_hdr_ok(struct pcapin_ctx *c, const uint8_t *p, size_t have, unsigned version,
                      size_t min_len)
{
	if (have < 1) {
		c->st.truncated++;
		return false;
	}
	if (p[0] >> 4 != version) {
		c->st.bad_header++;
		return false;
	}
	if (have < min_len) {
		c->st.truncated++;
		return false;
	}
	return true;
}

static int ip4_input(struct pcapin_ctx *c, const uint8_t *p, size_t have, uint64_t ts_ms)
{
	size_t ihl, tot, avail, off;
	uint16_t fl;
	bool more;

	if (!ip_hdr_ok(c, p, have, 4, IP4_MIN_HDR))
		return 0;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	tot = get_u16be(p + 2);
	if (ihl < IP4_MIN_HDR || tot < ihl) {
		c->st.bad_header++;
		return 0;
	}
	if (have < ihl) {
		c->st.truncated++;
		return 0;
	}
	/* Bytes beyond the total length are link padding (Ethernet minimum). */
	avail = have < tot ? have : tot;
	fl = get_u16be(p + 6);
	more = fl & 0x2000;
	off = (size_t)(fl & 0x1fff) * 8;
	if (more || off) {
		if (avail < tot) {
			/* A cut fragment cannot be reassembled; its set will time out. */
			c->st.truncated++;
			return 0;
		}
		if (p[9] != IPPROTO_NUM_UDP) {
			c->st.not_udp++;
			return 0;
		}
		return frag_input(c, false, p[9], p + 12, p + 16, get_u16be(p + 4), off, more,
		                  p + ihl, tot - ihl, ts_ms);
	}
	if (p[9] != IPPROTO_NUM_UDP) {
		c->st.not_udp++;
		return 0;
	}
	return udp_input(c, false, p + 12, p + 16, p + ihl, avail - ihl, tot - ihl, ts_ms);
}

/*
 * Walk IPv6 extension headers from next header nh over p (have bytes
 * present, stated bytes per the IPv6 payload length). reassembled: p is a
 * rebuilt fragmentable part, where another fragment header is an error.
 */
static int ip6_walk(struct pcapin_ctx *c, const uint8_t *src, const uint8_t *dst, uint8_t nh,
                    const uint8_t *p, size_t have, size_t stated, uint64_t ts_ms, bool reassembled)
{
	for (int n = 0; n <= PCAPIN_MAX_EXT_HEADERS; n++) {
		size_t hl;

		switch (nh) {
		case IPPROTO_NUM_UDP:
			return udp_input(c, true, src, dst, p, have, stated, ts_ms);
		case IPPROTO_NUM_HOPOPTS:
		case IPPROTO_NUM_ROUTING:
		case IPPROTO_NUM_DSTOPTS:
		case IPPROTO_NUM_AH:
			if (stated < 2) {
				c->st.bad_header++;
				return 0;
			}
			if (have < 2) {
				c->st.truncated++;
				return 0;
			}
			/* RFC 8200 §4.3: 8-octet units not counting the first;
			 * RFC 4302 §2.2: AH counts 4-octet units minus 2. */
			hl = nh == IPPROTO_NUM_AH ? ((size_t)p[1] + 2) * 4 : ((size_t)p[1] + 1) * 8;
			break;
		case IPPROTO_NUM_FRAGMENT: {
			uint16_t offm;
			size_t fl;

			if (reassembled || stated < 8) {
				c->st.bad_header++;
				return 0;
			}
			if (have < stated) {
				/* Need the whole fragment, not just its header. */
				c->st.truncated++;
				return 0;
			}
			offm = get_u16be(p + 2);
			fl = stated - 8;
			/* An atomic fragment (RFC 6946: offset 0, M 0) is whole. */
			if ((offm & 0xfff8) == 0 && !(offm & 1)) {
				nh = p[0];
				p += 8;
				have -= 8;
				stated -= 8;
				reassembled = true;
				continue;
			}
			switch (p[0]) {
			case IPPROTO_NUM_UDP:
			case IPPROTO_NUM_DSTOPTS:
			case IPPROTO_NUM_ROUTING:
			case IPPROTO_NUM_HOPOPTS:
			case IPPROTO_NUM_AH:
				break;
			default:
				c->st.not_udp++;
				return 0;
			}
			return frag_input(c, true, p[0], src, dst, get_u32be(p + 4),
			                  (size_t)(offm & 0xfff8), offm & 1, p + 8, fl, ts_ms);
		}
		default:
			/* 59 (no next header), ESP, TCP, ICMPv6, ... */
			c->st.not_udp++;
			return 0;
		}
		if (hl > stated) {
			c->st.bad_header++;
			return 0;
		}
		if (hl > have) {
			c->st.truncated++;
			return 0;
		}
		nh = p[0];
		p += hl;
		have -= hl;
		stated -= hl;
	}
	c->st.bad_header++;
	return 0;
}

static int ip6_input(struct pcapin_ctx *c, const uint8_t *p, size_t have, uint64_t ts_ms)
{
	size_t plen;

	if (!ip_hdr_ok(c, p, have, 6, IP6_HDR_LEN))
		return 0;
	plen = get_u16be(p + 4);
	have -= IP6_HDR_LEN;
	if (have > plen)
		have = plen;
	return ip6_walk(c, p + 8, p + 24, p[6], p + IP6_HDR_LEN, have, plen, ts_ms, false);
}

static int ip_by_version(struct pcapin_ctx *c, const uint8_t *p, size_t have, uint64_t ts_ms)
{
	if (have < 1) {
		c->st.truncated++;
		return 0;
	}
	switch (p[0] >> 4) {
	case 4:
		return ip4_input(c, p, have, ts_ms);
	case 6:
		return ip6_input(c, p, have, ts_ms);
	default:
		c->st.not_ip++;
		return 0;
	}
}

static int ethertype_input(struct pcapin_ctx *c, uint16_t et, const uint8_t *p, size_t have,
                           uint64_t ts_ms)
{
	switch (et) {
	case ETHERTYPE_IPV4:
		return ip4_input(c, p, have, ts_ms);
	case ETHERTYPE_IPV6:
		return ip6_input(c, p, have, ts_ms);
	default:
		c->st.not_ip++;
		return 0;
	}
}

/* ---- link layers ---- */

static int frame_input(struct pcapin_ctx *c, int dlt, const uint8_t *p, size_t have, uint64_t ts_ms)
{
	c->st.packets++;
	frag_expire(c, ts_ms);

	switch (dlt) {
	case DLT_EN10MB: {
		size_t off = 12;
		uint16_t et;

		if (have < ETH_HDR_LEN) {
			c->st.truncated++;
			return 0;
		}
		et = get_u16be(p + off);
		for (int tags = 0;
		     et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ || et == ETHERTYPE_QINQ_OLD;
		     tags++) {
			if (tags == PCAPIN_MAX_VLAN_TAGS) {
				c->st.not_ip++;
				return 0;
			}
			off += 4;
			if (have < off + 2) {
				c->st.truncated++;
				return 0;
			}
			et = get_u16be(p + off);
		}
		off += 2;
		return ethertype_input(c, et, p + off, have - off, ts_ms);
	}
	case DLT_LINUX_SLL:
		if (have < SLL_HDR_LEN) {
			c->st.truncated++;
			return 0;
		}
		return ethertype_input(c, get_u16be(p + 14), p + SLL_HDR_LEN, have - SLL_HDR_LEN,
		                       ts_ms);
	case DLT_LINUX_SLL2:
		if (have < SLL2_HDR_LEN) {
			c->st.truncated++;
			return 0;
		}
		return ethertype_input(c, get_u16be(p), p + SLL2_HDR_LEN, have - SLL2_HDR_LEN,
		                       ts_ms);
	case DLT_NULL:
	case DLT_LOOP: {
		uint32_t fam_le, fam_be;

		if (have < NULL_HDR_LEN) {
			c->st.truncated++;
			return 0;
		}
		/*
		 * DLT_NULL is in the writer's byte order, DLT_LOOP in network
		 * order, and writers disagree anyway: accept both. AF_INET6 is
		 * 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (Darwin), 10 (Linux).
		 */
		fam_le = get_u32le(p);
		fam_be = get_u32be(p);
		if (fam_le == 2 || fam_be == 2)
			return ip4_input(c, p + 4, have - 4, ts_ms);
		for (size_t i = 0; i < 4; i++) {
			static const uint32_t v6fam[4] = {24, 28, 30, 10};
			if (fam_le == v6fam[i] || fam_be == v6fam[i])
				return ip6_input(c, p + 4, have - 4, ts_ms);
		}
		c->st.not_ip++;
		return 0;
	}
	case DLT_RAW:
		return ip_by_version(c, p, have, ts_ms);
	case DLT_IPV4:
		return ip4_input(c, p, have, ts_ms);
	case DLT_IPV6:
		return ip6_input(c, p, have, ts_ms);
	default:
		c->st.not_ip++;
		return 0;
	}
}

static bool dlt_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_NULL:
	case DLT_LOOP:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return true;
	default:
		return false;
	}
}

static void ctx_free(struct pcapin_ctx *c)
{
	for (size_t i = 0; i < PCAPIN_FRAG_MAX_SETS; i++)
		free(c->sets[i].buf);
	free(c);
}

static const struct counter_def pcapin_counter_defs[] = {
    COUNTER_DEF(pcapin_stats, packets, "captureFrames", COUNTER_TOTAL,
                "Frames read from the capture."),
    COUNTER_DEF(pcapin_stats, datagrams, "captureDatagrams", COUNTER_TOTAL,
                "UDP datagrams handed on."),
    COUNTER_DEF(pcapin_stats, not_ip, "captureNotIp", COUNTER_TOTAL,
                "Frames that carry no IPv4 or IPv6."),
    COUNTER_DEF(pcapin_stats, not_udp, "captureNotUdp", COUNTER_TOTAL,
                "IP packets that are not UDP."),
    COUNTER_DEF(pcapin_stats, port_filtered, "captureOtherPorts", COUNTER_TOTAL,
                "UDP datagrams to a port not asked for."),
    COUNTER_DEF(pcapin_stats, truncated, "captureTruncated", COUNTER_TOTAL,
                "Frames cut before the end of their IP/UDP headers, dropped."),
    COUNTER_DEF(pcapin_stats, bad_header, "captureBadHeaders", COUNTER_TOTAL,
                "Frames with impossible IP/UDP header values, dropped."),
    COUNTER_DEF(pcapin_stats, fragments, "captureFragments", COUNTER_TOTAL,
                "IP fragments taken into the reassembly table."),
    COUNTER_DEF(pcapin_stats, frag_reassembled, "captureReassembled", COUNTER_TOTAL,
                "Datagrams rebuilt from fragments."),
    COUNTER_DEF(pcapin_stats, frag_dropped, "captureFragmentSetsDropped", COUNTER_TOTAL,
                "Fragment sets given up (timeout, overlap, bad, table full)."),
    COUNTER_DEF(pcapin_stats, payload_short, "capturePayloadShort", COUNTER_TOTAL,
                "Datagrams handed on with fewer bytes than their UDP length."),
};
_Static_assert(sizeof(pcapin_counter_defs) / sizeof(pcapin_counter_defs[0]) * sizeof(uint64_t) ==
                   sizeof(struct pcapin_stats),
               "one counter per field of struct pcapin_stats");

const struct counter_table pcapin_counters =
    COUNTER_TABLE("capture", pcapin_counter_defs, pcapin_stats);

int pcapin_read(const char *path, const struct pcapin_opts *opts, datagram_fn fn, void *ud,
                struct pcapin_stats *st, char *err, size_t errlen)
{
	char pcap_err[PCAP_ERRBUF_SIZE];
	struct pcapin_ctx *c;
	struct pcap_pkthdr *h;
	const u_char *data;
	FILE *f;
	pcap_t *pc;
	int dlt, rc = 0, r;

	if (st)
		memset(st, 0, sizeof(*st));
	if (err && errlen)
		err[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	c->opts = opts;
	c->fn = fn;
	c->ud = ud;

	/* fopen ourselves so that a missing file gives a real errno. */
	f = fopen(path, "rb");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		ctx_free(c);
		return rc;
	}
	pcap_err[0] = '\0';
	/* Nanosecond precision: libpcap scales microsecond files up for us. */
	pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, pcap_err);
	if (!pc) {
		snprintf(err, errlen, "%s: not a readable pcap/pcapng capture: %s", path, pcap_err);
		fclose(f);
		ctx_free(c);
		return -EINVAL;
	}
	dlt = pcap_datalink(pc);
	if (!dlt_supported(dlt)) {
		const char *name = pcap_datalink_val_to_name(dlt);
		snprintf(err, errlen,
		         "%s: link type %s (%d) is not supported; supported: EN10MB, "
		         "LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW, IPV4, IPV6",
		         path, name ? name : "unknown", dlt);
		rc = -EPROTONOSUPPORT;
		goto out;
	}
	while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
		uint64_t ts_ms =
		    (uint64_t)h->ts.tv_sec * 1000u + (uint64_t)h->ts.tv_usec / 1000000u;
		rc = frame_input(c, dlt, data, h->caplen, ts_ms);
		if (rc != 0)
			goto out;
	}
	if (r == PCAP_ERROR) {
		snprintf(err, errlen, "%s: read error after %llu frames: %s", path,
		         (unsigned long long)c->st.packets, pcap_geterr(pc));
		rc = -EIO;
	}
out:
	/* What is still being reassembled at the end will never complete. */
	for (size_t i = 0; i < PCAPIN_FRAG_MAX_SETS; i++)
		if (c->sets[i].state == FRAG_OPEN)
			c->st.frag_dropped++;
	if (st)
		*st = c->st;
	pcap_close(pc);
	ctx_free(c);
	return rc;
}
