/*
 * Unit tests for src/ingest/pcapin.c: link types, IPv4/IPv6 header checks,
 * extension headers, fragment reassembly, filters and the drop counters.
 *
 * Every capture is written by the test itself (pcap_open_dead +
 * pcap_dump_open; pcapng through `editcap -F pcapng` when installed), so the
 * bytes under test are visible right here. Expected values are exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <cmocka.h>

#include "nfsentry/pcapin.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

/* ---- packet builder ---- */

struct pkt {
	uint8_t b[70000];
	size_t len;
};

static void put(struct pkt *k, const void *p, size_t n)
{
	assert_true(k->len + n <= sizeof(k->b));
	memcpy(k->b + k->len, p, n);
	k->len += n;
}

static void put8(struct pkt *k, unsigned v)
{
	uint8_t x = (uint8_t)v;
	put(k, &x, 1);
}

static void put16(struct pkt *k, unsigned v)
{
	put8(k, v >> 8);
	put8(k, v);
}

static void put32(struct pkt *k, uint32_t v)
{
	put16(k, v >> 16);
	put16(k, v & 0xffff);
}

static void put32le(struct pkt *k, uint32_t v)
{
	put8(k, v);
	put8(k, v >> 8);
	put8(k, v >> 16);
	put8(k, v >> 24);
}

static const uint8_t V4_SRC[4] = {192, 0, 2, 1};
static const uint8_t V4_DST[4] = {198, 51, 100, 7};
static uint8_t V6_SRC[16], V6_DST[16];

/* UDP header + payload (checksum 0). ulen_override != 0 replaces the length. */
static void put_udp(struct pkt *k, uint16_t sport, uint16_t dport, const uint8_t *pl, size_t n,
                    unsigned ulen_override)
{
	put16(k, sport);
	put16(k, dport);
	put16(k, ulen_override ? ulen_override : (unsigned)(8 + n));
	put16(k, 0);
	put(k, pl, n);
}

/* IPv4 header; opt_words extra 4-byte option words (NOPs). */
static void put_ip4(struct pkt *k, unsigned proto, size_t l4len, unsigned opt_words, unsigned id,
                    unsigned frag_field)
{
	put8(k, 0x40 | (5 + opt_words));
	put8(k, 0);
	put16(k, (unsigned)(20 + opt_words * 4 + l4len));
	put16(k, id);
	put16(k, frag_field);
	put8(k, 64);
	put8(k, proto);
	put16(k, 0);
	put(k, V4_SRC, 4);
	put(k, V4_DST, 4);
	for (unsigned i = 0; i < opt_words * 4; i++)
		put8(k, 1);
}

static void put_ip6(struct pkt *k, unsigned nh, size_t plen)
{
	put32(k, 0x60000000);
	put16(k, (unsigned)plen);
	put8(k, nh);
	put8(k, 64);
	put(k, V6_SRC, 16);
	put(k, V6_DST, 16);
}

/* Full IPv4/UDP packet into k. */
static void ip4_udp(struct pkt *k, uint16_t dport, const uint8_t *pl, size_t n)
{
	put_ip4(k, 17, 8 + n, 0, 1, 0);
	put_udp(k, 40000, dport, pl, n, 0);
}

static void ip6_udp(struct pkt *k, uint16_t dport, const uint8_t *pl, size_t n)
{
	put_ip6(k, 17, 8 + n);
	put_udp(k, 40001, dport, pl, n, 0);
}

static void put_eth(struct pkt *k, unsigned et)
{
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
	put(k, macs, 12);
	put16(k, et);
}

/* ---- capture writer ---- */

struct frame {
	struct pkt *k;
	size_t caplen; /* 0 = whole */
	uint32_t sec, frac;
};

static char tmp_dir[64];
static int file_seq;

static void tmp_path(char *out, size_t len, const char *ext)
{
	int n = snprintf(out, len, "%s/c%d.%s", tmp_dir, file_seq++, ext);
	assert_true(n > 0 && (size_t)n < len);
}

static void write_capture(const char *path, int dlt, bool nano, const struct frame *f, size_t n)
{
	pcap_t *pd = pcap_open_dead_with_tstamp_precision(
	    dlt, 262144, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
	assert_non_null(pd);
	pcap_dumper_t *d = pcap_dump_open(pd, path);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++) {
		struct pcap_pkthdr h;
		memset(&h, 0, sizeof(h));
		h.ts.tv_sec = f[i].sec;
		h.ts.tv_usec = f[i].frac;
		h.len = (bpf_u_int32)f[i].k->len;
		h.caplen = (bpf_u_int32)(f[i].caplen ? f[i].caplen : f[i].k->len);
		pcap_dump((u_char *)d, &h, f[i].k->b);
	}
	pcap_dump_close(d);
	pcap_close(pd);
}

/* ---- collecting callback ---- */

#define MAX_GOT 256
struct got {
	size_t n;
	struct {
		uint8_t p[4096];
		size_t len;
		struct datagram dg;
	} d[MAX_GOT];
	int stop_after; /* return 7 after this many, 0 = never */
};

static int collect(void *ud, const struct datagram *dg)
{
	struct got *g = ud;
	assert_true(g->n < MAX_GOT);
	g->d[g->n].dg = *dg;
	g->d[g->n].dg.p = NULL;
	g->d[g->n].len = dg->len;
	if (dg->len <= sizeof(g->d[0].p))
		memcpy(g->d[g->n].p, dg->p, dg->len);
	g->n++;
	if (g->stop_after && (int)g->n == g->stop_after)
		return 7;
	return 0;
}

static struct got G;
static struct pcapin_stats ST;
static char ERR[512];

static int run(const char *path, const struct pcapin_opts *o)
{
	memset(&G, 0, sizeof(G));
	return pcapin_read(path, o, collect, &G, &ST, ERR, sizeof(ERR));
}

/* Capture with frames, read it, return rc. */
static int cap_run(int dlt, const struct frame *f, size_t n, const struct pcapin_opts *o)
{
	char path[128];
	tmp_path(path, sizeof(path), "pcap");
	write_capture(path, dlt, false, f, n);
	int rc = run(path, o);
	unlink(path);
	return rc;
}

static const uint8_t PL[64] = "netflow-payload-0123456789";
#define PLN 26

static void assert_dg(size_t i, bool v6, uint16_t dport, const uint8_t *pl, size_t n)
{
	assert_true(i < G.n);
	assert_int_equal(G.d[i].len, n);
	assert_memory_equal(G.d[i].p, pl, n);
	assert_int_equal(G.d[i].dg.to.port, dport);
	if (v6) {
		assert_memory_equal(G.d[i].dg.from.addr.b, V6_SRC, 16);
		assert_memory_equal(G.d[i].dg.to.addr.b, V6_DST, 16);
		assert_int_equal(G.d[i].dg.from.port, 40001);
	} else {
		assert_true(flow_addr_is_v4(&G.d[i].dg.from.addr));
		assert_memory_equal(G.d[i].dg.from.addr.b + 12, V4_SRC, 4);
		assert_memory_equal(G.d[i].dg.to.addr.b + 12, V4_DST, 4);
		assert_int_equal(G.d[i].dg.from.port, 40000);
	}
}

static void assert_counts(uint64_t packets, uint64_t datagrams, uint64_t not_ip, uint64_t not_udp,
                          uint64_t truncated, uint64_t bad_header)
{
	assert_int_equal(ST.packets, packets);
	assert_int_equal(ST.datagrams, datagrams);
	assert_int_equal(ST.not_ip, not_ip);
	assert_int_equal(ST.not_udp, not_udp);
	assert_int_equal(ST.truncated, truncated);
	assert_int_equal(ST.bad_header, bad_header);
	assert_int_equal(G.n, datagrams);
}

/* ---- tests: link types ---- */

static void test_ethernet_v4_v6_vlan(void **state)
{
	(void)state;
	static struct pkt k[6];
	memset(k, 0, sizeof(k));
	put_eth(&k[0], 0x0800);
	ip4_udp(&k[0], 2055, PL, PLN);
	put_eth(&k[1], 0x86dd);
	ip6_udp(&k[1], 4739, PL, 5);
	/* 802.1Q, then QinQ (802.1ad outer + 802.1Q inner). */
	put_eth(&k[2], 0x8100);
	put16(&k[2], 100);
	put16(&k[2], 0x0800);
	ip4_udp(&k[2], 2055, PL, 3);
	put_eth(&k[3], 0x88a8);
	put16(&k[3], 10);
	put16(&k[3], 0x8100);
	put16(&k[3], 20);
	put16(&k[3], 0x86dd);
	ip6_udp(&k[3], 9995, PL, 4);
	/* ARP: not IP. */
	put_eth(&k[4], 0x0806);
	put32(&k[4], 0);
	/* Ethernet padding after a short IPv4 packet is ignored. */
	put_eth(&k[5], 0x0800);
	ip4_udp(&k[5], 2055, PL, 1);
	for (int i = 0; i < 20; i++)
		put8(&k[5], 0xee);
	struct frame f[6] = {
	    {&k[0], 0, 1700000000, 123456}, {&k[1], 0, 1700000001, 999999},
	    {&k[2], 0, 1700000002, 0},      {&k[3], 0, 1700000003, 1000},
	    {&k[4], 0, 1700000004, 0},      {&k[5], 0, 1700000005, 0},
	};
	assert_int_equal(cap_run(DLT_EN10MB, f, 6, NULL), 0);
	assert_counts(6, 5, 1, 0, 0, 0);
	assert_dg(0, false, 2055, PL, PLN);
	assert_int_equal(G.d[0].dg.ts_ms, 1700000000123ull);
	assert_dg(1, true, 4739, PL, 5);
	assert_int_equal(G.d[1].dg.ts_ms, 1700000001999ull);
	assert_dg(2, false, 2055, PL, 3);
	assert_dg(3, true, 9995, PL, 4);
	assert_int_equal(G.d[3].dg.ts_ms, 1700000003001ull);
	assert_dg(4, false, 2055, PL, 1);
	assert_int_equal(ST.payload_short, 0);
}

static void test_linux_sll_and_sll2(void **state)
{
	(void)state;
	static struct pkt k[4];
	memset(k, 0, sizeof(k));
	for (int i = 0; i < 2; i++) {
		put16(&k[i], 0); /* packet type */
		put16(&k[i], 1); /* ARPHRD_ETHER */
		put16(&k[i], 6);
		put(&k[i], "\x02\0\0\0\0\x01\0\0", 8);
		put16(&k[i], i ? 0x86dd : 0x0800);
	}
	ip4_udp(&k[0], 2055, PL, 6);
	ip6_udp(&k[1], 2055, PL, 7);
	for (int i = 2; i < 4; i++) {
		put16(&k[i], i == 2 ? 0x0800 : 0x86dd);
		put16(&k[i], 0); /* reserved */
		put32(&k[i], 3); /* ifindex */
		put16(&k[i], 1); /* ARPHRD_ETHER */
		put8(&k[i], 0);  /* packet type */
		put8(&k[i], 6);  /* addr len */
		put(&k[i], "\x02\0\0\0\0\x01\0\0", 8);
	}
	ip4_udp(&k[2], 2055, PL, 8);
	ip6_udp(&k[3], 2055, PL, 9);
	struct frame f1[2] = {{&k[0], 0, 10, 0}, {&k[1], 0, 11, 0}};
	assert_int_equal(cap_run(DLT_LINUX_SLL, f1, 2, NULL), 0);
	assert_counts(2, 2, 0, 0, 0, 0);
	assert_dg(0, false, 2055, PL, 6);
	assert_dg(1, true, 2055, PL, 7);
	struct frame f2[2] = {{&k[2], 0, 10, 0}, {&k[3], 0, 11, 0}};
	assert_int_equal(cap_run(DLT_LINUX_SLL2, f2, 2, NULL), 0);
	assert_counts(2, 2, 0, 0, 0, 0);
	assert_dg(0, false, 2055, PL, 8);
	assert_dg(1, true, 2055, PL, 9);
}

static void test_null_and_loop(void **state)
{
	(void)state;
	static struct pkt k[6];
	memset(k, 0, sizeof(k));
	put32le(&k[0], 2); /* AF_INET, little endian writer */
	ip4_udp(&k[0], 2055, PL, 2);
	put32(&k[1], 2); /* AF_INET, big endian writer */
	ip4_udp(&k[1], 2055, PL, 3);
	put32le(&k[2], 30); /* Darwin AF_INET6 */
	ip6_udp(&k[2], 2055, PL, 4);
	put32(&k[3], 24); /* NetBSD/OpenBSD AF_INET6, big endian */
	ip6_udp(&k[3], 2055, PL, 5);
	put32le(&k[4], 28); /* FreeBSD AF_INET6 */
	ip6_udp(&k[4], 2055, PL, 6);
	put32le(&k[5], 7); /* unknown family */
	ip4_udp(&k[5], 2055, PL, 6);
	struct frame f[6] = {{&k[0], 0, 1, 0}, {&k[1], 0, 1, 0}, {&k[2], 0, 1, 0},
	                     {&k[3], 0, 1, 0}, {&k[4], 0, 1, 0}, {&k[5], 0, 1, 0}};
	assert_int_equal(cap_run(DLT_NULL, f, 6, NULL), 0);
	assert_counts(6, 5, 1, 0, 0, 0);
	assert_dg(0, false, 2055, PL, 2);
	assert_dg(1, false, 2055, PL, 3);
	assert_dg(2, true, 2055, PL, 4);
	assert_dg(3, true, 2055, PL, 5);
	assert_dg(4, true, 2055, PL, 6);
	assert_int_equal(cap_run(DLT_LOOP, f + 1, 2, NULL), 0);
	assert_counts(2, 2, 0, 0, 0, 0);
	assert_dg(0, false, 2055, PL, 3);
	assert_dg(1, true, 2055, PL, 4);
}

static void test_raw_ipv4_ipv6(void **state)
{
	(void)state;
	static struct pkt k[3];
	memset(k, 0, sizeof(k));
	ip4_udp(&k[0], 2055, PL, 10);
	ip6_udp(&k[1], 2055, PL, 11);
	put8(&k[2], 0x50); /* version 5 */
	put(&k[2], PL, 30);
	struct frame f[3] = {{&k[0], 0, 1, 0}, {&k[1], 0, 1, 0}, {&k[2], 0, 1, 0}};
	assert_int_equal(cap_run(DLT_RAW, f, 3, NULL), 0);
	assert_counts(3, 2, 1, 0, 0, 0);
	assert_dg(0, false, 2055, PL, 10);
	assert_dg(1, true, 2055, PL, 11);
	/* LINKTYPE_IPV4 holding an IPv6 packet is a bad header. */
	assert_int_equal(cap_run(DLT_IPV4, f, 2, NULL), 0);
	assert_counts(2, 1, 0, 0, 0, 1);
	assert_dg(0, false, 2055, PL, 10);
	assert_int_equal(cap_run(DLT_IPV6, f, 2, NULL), 0);
	assert_counts(2, 1, 0, 0, 0, 1);
	assert_dg(0, true, 2055, PL, 11);
}

static void test_unsupported_link_and_open_errors(void **state)
{
	(void)state;
	static struct pkt k;
	char path[128];
	memset(&k, 0, sizeof(k));
	ip4_udp(&k, 2055, PL, 1);
	struct frame f = {&k, 0, 1, 0};
	tmp_path(path, sizeof(path), "pcap");
	write_capture(path, DLT_IEEE802_11, false, &f, 1);
	assert_int_equal(run(path, NULL), -EPROTONOSUPPORT);
	assert_non_null(strstr(ERR, path));
	assert_non_null(strstr(ERR, "IEEE802_11"));
	assert_non_null(strstr(ERR, "(105)"));
	assert_int_equal(ST.packets, 0);
	unlink(path);

	assert_int_equal(run("/nonexistent/x.pcap", NULL), -ENOENT);
	assert_non_null(strstr(ERR, "/nonexistent/x.pcap"));

	tmp_path(path, sizeof(path), "txt");
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is not a capture file at all\n", fp);
	fclose(fp);
	assert_int_equal(run(path, NULL), -EINVAL);
	assert_non_null(strstr(ERR, path));
	unlink(path);
}

/* ---- tests: IP layer ---- */

static void test_ipv4_options_and_bad_headers(void **state)
{
	(void)state;
	static struct pkt k[7];
	memset(k, 0, sizeof(k));
	put_ip4(&k[0], 17, 8 + 12, 3, 1, 0); /* IHL 8: 12 bytes of options */
	put_udp(&k[0], 40000, 2055, PL, 12, 0);
	put_ip4(&k[1], 17, 8 + 4, 0, 1, 0); /* IHL 4 */
	put_udp(&k[1], 40000, 2055, PL, 4, 0);
	k[1].b[0] = 0x44;
	put_ip4(&k[2], 17, 8 + 4, 0, 1, 0); /* total length < IHL */
	put_udp(&k[2], 40000, 2055, PL, 4, 0);
	k[2].b[2] = 0;
	k[2].b[3] = 16;
	put_ip4(&k[3], 17, 8 + 4, 0, 1, 0); /* UDP length 7 */
	put_udp(&k[3], 40000, 2055, PL, 4, 7);
	put_ip4(&k[4], 6, 20, 0, 1, 0); /* TCP */
	put(&k[4], PL, 20);
	put_ip4(&k[5], 17, 4, 0, 1, 0); /* IP says 4 bytes of payload: no room for UDP */
	put(&k[5], PL, 4);
	/* UDP length larger than the IP payload: deliver what IP carries. */
	put_ip4(&k[6], 17, 8 + 10, 0, 1, 0);
	put_udp(&k[6], 40000, 2055, PL, 10, 8 + 20);
	struct frame f[7];
	for (int i = 0; i < 7; i++)
		f[i] = (struct frame){&k[i], 0, 1, 0};
	assert_int_equal(cap_run(DLT_RAW, f, 7, NULL), 0);
	assert_counts(7, 2, 0, 1, 0, 4);
	assert_dg(0, false, 2055, PL, 12);
	assert_dg(1, false, 2055, PL, 10);
	assert_int_equal(ST.payload_short, 1);
}

static void test_ipv6_extension_headers(void **state)
{
	(void)state;
	static struct pkt k[5];
	memset(k, 0, sizeof(k));
	/* hop-by-hop (8) -> routing (24) -> dest opts (16) -> AH (16) -> UDP */
	put_ip6(&k[0], 0, 8 + 24 + 16 + 16 + 8 + 9);
	put8(&k[0], 43);
	put8(&k[0], 0);
	put(&k[0], "\1\4\0\0\0\0", 6);
	put8(&k[0], 60);
	put8(&k[0], 2);
	put8(&k[0], 0);
	put8(&k[0], 0);
	for (int i = 0; i < 20; i++)
		put8(&k[0], 0);
	put8(&k[0], 51);
	put8(&k[0], 1);
	put(&k[0], "\1\14\0\0\0\0", 6);
	for (int i = 0; i < 8; i++)
		put8(&k[0], 0);
	put8(&k[0], 17);
	put8(&k[0], 2);
	put16(&k[0], 0);
	for (int i = 0; i < 12; i++)
		put8(&k[0], 0xa5);
	put_udp(&k[0], 40001, 2055, PL, 9, 0);
	/* No next header (59). */
	put_ip6(&k[1], 59, 0);
	/* ICMPv6. */
	put_ip6(&k[2], 58, 8);
	put32(&k[2], 0x80000000);
	put32(&k[2], 0);
	/* Dest opts claiming 2048 bytes in a 16-byte payload. */
	put_ip6(&k[3], 60, 16);
	put8(&k[3], 17);
	put8(&k[3], 255);
	for (int i = 0; i < 14; i++)
		put8(&k[3], 0);
	/* Atomic fragment (offset 0, M 0): a whole datagram. */
	put_ip6(&k[4], 44, 8 + 8 + 3);
	put8(&k[4], 17);
	put8(&k[4], 0);
	put16(&k[4], 0);
	put32(&k[4], 99);
	put_udp(&k[4], 40001, 2055, PL, 3, 0);
	struct frame f[5];
	for (int i = 0; i < 5; i++)
		f[i] = (struct frame){&k[i], 0, 1, 0};
	assert_int_equal(cap_run(DLT_RAW, f, 5, NULL), 0);
	assert_counts(5, 2, 0, 2, 0, 1);
	assert_dg(0, true, 2055, PL, 9);
	assert_dg(1, true, 2055, PL, 3);
	assert_int_equal(ST.fragments, 0);
}

static void test_too_many_extension_headers(void **state)
{
	(void)state;
	static struct pkt k;
	memset(&k, 0, sizeof(k));
	put_ip6(&k, 60, (PCAPIN_MAX_EXT_HEADERS + 2) * 8 + 8);
	for (int i = 0; i < PCAPIN_MAX_EXT_HEADERS + 2; i++) {
		put8(&k, 60);
		put8(&k, 0);
		for (int j = 0; j < 6; j++)
			put8(&k, 1);
	}
	put_udp(&k, 40001, 2055, PL, 0, 0);
	struct frame f = {&k, 0, 1, 0};
	assert_int_equal(cap_run(DLT_RAW, &f, 1, NULL), 0);
	assert_counts(1, 0, 0, 0, 0, 1);
}

static void test_port_filter(void **state)
{
	(void)state;
	static struct pkt k[3];
	memset(k, 0, sizeof(k));
	ip4_udp(&k[0], 2055, PL, 1);
	ip4_udp(&k[1], 53, PL, 2);
	ip6_udp(&k[2], 4739, PL, 3);
	struct frame f[3] = {{&k[0], 0, 1, 0}, {&k[1], 0, 1, 0}, {&k[2], 0, 1, 0}};
	static const uint16_t ports[2] = {4739, 2055};
	struct pcapin_opts o = {ports, 2};
	assert_int_equal(cap_run(DLT_RAW, f, 3, &o), 0);
	assert_counts(3, 2, 0, 0, 0, 0);
	assert_int_equal(ST.port_filtered, 1);
	assert_dg(0, false, 2055, PL, 1);
	assert_dg(1, true, 4739, PL, 3);
	struct pcapin_opts none = {ports, 0};
	assert_int_equal(cap_run(DLT_RAW, f, 3, &none), 0);
	assert_counts(3, 3, 0, 0, 0, 0);
	assert_int_equal(ST.port_filtered, 0);
}

static void test_truncated_frames(void **state)
{
	(void)state;
	static struct pkt k;
	memset(&k, 0, sizeof(k));
	put_eth(&k, 0x0800);
	ip4_udp(&k, 2055, PL, PLN);
	/* caplen cuts: in Ethernet, in IPv4, in UDP header, in payload. */
	struct frame f[4] = {{&k, 10, 1, 0},
	                     {&k, 14 + 19, 1, 0},
	                     {&k, 14 + 20 + 7, 1, 0},
	                     {&k, 14 + 20 + 8 + 5, 1, 0}};
	assert_int_equal(cap_run(DLT_EN10MB, f, 4, NULL), 0);
	assert_counts(4, 1, 0, 0, 3, 0);
	assert_int_equal(ST.payload_short, 1);
	assert_dg(0, false, 2055, PL, 5);
}

/*
 * The curl "every prefix" sweep: each truncation of a valid frame is read
 * without fault, and is either dropped as truncated or delivered short.
 */
static void test_every_prefix(void **state)
{
	(void)state;
	static struct pkt k4, k6;
	memset(&k4, 0, sizeof(k4));
	memset(&k6, 0, sizeof(k6));
	put_eth(&k4, 0x8100);
	put16(&k4, 7);
	put16(&k4, 0x0800);
	ip4_udp(&k4, 2055, PL, 4);
	put_eth(&k6, 0x86dd);
	put_ip6(&k6, 0, 8 + 8 + 4);
	put8(&k6, 17);
	put8(&k6, 0);
	put(&k6, "\1\4\0\0\0\0", 6);
	put_udp(&k6, 40001, 2055, PL, 4, 0);
	struct pkt *pk[2] = {&k4, &k6};
	for (int w = 0; w < 2; w++) {
		for (size_t cut = 1; cut < pk[w]->len; cut++) {
			/* caplen = cut: the frame ends exactly there. */
			struct frame f = {pk[w], cut, 1, 0};
			assert_int_equal(cap_run(DLT_EN10MB, &f, 1, NULL), 0);
			assert_int_equal(ST.packets, 1);
			assert_int_equal(ST.truncated + ST.datagrams, 1);
			assert_int_equal(ST.payload_short, ST.datagrams);
			if (ST.datagrams)
				assert_int_equal(G.d[0].len, cut - (pk[w]->len - 4));
		}
	}
}

static void test_nanosecond_capture(void **state)
{
	(void)state;
	static struct pkt k;
	char path[128];
	memset(&k, 0, sizeof(k));
	ip4_udp(&k, 2055, PL, 2);
	struct frame f[2] = {{&k, 0, 1700000000, 987654321}, {&k, 0, 1700000000, 999999}};
	tmp_path(path, sizeof(path), "pcap");
	write_capture(path, DLT_RAW, true, f, 2);
	assert_int_equal(run(path, NULL), 0);
	assert_int_equal(G.n, 2);
	assert_int_equal(G.d[0].dg.ts_ms, 1700000000987ull);
	assert_int_equal(G.d[1].dg.ts_ms, 1700000000000ull);
	unlink(path);
}

static void test_pcapng(void **state)
{
	(void)state;
	static struct pkt k[2];
	char path[128], ng[160], cmd[512];
	if (access("/usr/bin/editcap", X_OK) != 0)
		skip();
	memset(k, 0, sizeof(k));
	put_eth(&k[0], 0x0800);
	ip4_udp(&k[0], 2055, PL, PLN);
	put_eth(&k[1], 0x86dd);
	ip6_udp(&k[1], 4739, PL, 7);
	struct frame f[2] = {{&k[0], 0, 1700000000, 250000}, {&k[1], 0, 1700000001, 500}};
	tmp_path(path, sizeof(path), "pcap");
	write_capture(path, DLT_EN10MB, false, f, 2);
	snprintf(ng, sizeof(ng), "%s.pcapng", path);
	snprintf(cmd, sizeof(cmd), "editcap -F pcapng '%s' '%s' >/dev/null 2>&1", path, ng);
	assert_int_equal(system(cmd), 0);
	FILE *fp = fopen(ng, "rb");
	assert_non_null(fp);
	uint8_t magic[4];
	assert_int_equal(fread(magic, 1, 4, fp), 4);
	fclose(fp);
	assert_memory_equal(magic, "\x0a\x0d\x0d\x0a", 4); /* section header block */
	assert_int_equal(run(ng, NULL), 0);
	assert_counts(2, 2, 0, 0, 0, 0);
	assert_dg(0, false, 2055, PL, PLN);
	assert_int_equal(G.d[0].dg.ts_ms, 1700000000250ull);
	assert_dg(1, true, 4739, PL, 7);
	assert_int_equal(G.d[1].dg.ts_ms, 1700000001000ull);
	unlink(path);
	unlink(ng);
}

static void test_callback_stops_read(void **state)
{
	(void)state;
	static struct pkt k;
	char path[128];
	memset(&k, 0, sizeof(k));
	ip4_udp(&k, 2055, PL, 2);
	struct frame f[3] = {{&k, 0, 1, 0}, {&k, 0, 2, 0}, {&k, 0, 3, 0}};
	tmp_path(path, sizeof(path), "pcap");
	write_capture(path, DLT_RAW, false, f, 3);
	memset(&G, 0, sizeof(G));
	G.stop_after = 2;
	assert_int_equal(pcapin_read(path, NULL, collect, &G, &ST, ERR, sizeof(ERR)), 7);
	assert_int_equal(G.n, 2);
	assert_int_equal(ST.packets, 2);
	unlink(path);
}

static void test_file_cut_mid_record(void **state)
{
	(void)state;
	static struct pkt k;
	char path[128];
	memset(&k, 0, sizeof(k));
	ip4_udp(&k, 2055, PL, PLN);
	struct frame f[2] = {{&k, 0, 1, 0}, {&k, 0, 2, 0}};
	tmp_path(path, sizeof(path), "pcap");
	write_capture(path, DLT_RAW, false, f, 2);
	assert_int_equal(truncate(path, 24 + 2 * 16 + (off_t)k.len * 2 - 5), 0);
	assert_int_equal(run(path, NULL), -EIO);
	assert_non_null(strstr(ERR, path));
	assert_int_equal(G.n, 1);
	assert_int_equal(ST.datagrams, 1);
	unlink(path);
}

/* ---- tests: fragments ---- */

/* The UDP datagram (header + payload) that the fragment tests cut up. */
static uint8_t BIG[3000];
static size_t big_len;

static void make_big(size_t payload)
{
	struct pkt u;
	u.len = 0;
	uint8_t pl[2992];
	for (size_t i = 0; i < payload; i++)
		pl[i] = (uint8_t)(i * 7 + 3);
	put_udp(&u, 40000, 2055, pl, payload, 0);
	memcpy(BIG, u.b, u.len);
	big_len = u.len;
}

/* IPv4 fragment of BIG: bytes [off, off+len), id, more. */
static void frag4(struct pkt *k, unsigned id, size_t off, size_t len, bool more)
{
	k->len = 0;
	put_ip4(k, 17, len, 0, id, (unsigned)((more ? 0x2000 : 0) | (off / 8)));
	put(k, BIG + off, len);
}

static void frag6(struct pkt *k, uint32_t id, size_t off, size_t len, bool more)
{
	k->len = 0;
	put_ip6(k, 44, 8 + len);
	put8(k, 17);
	put8(k, 0);
	put16(k, (unsigned)(off | (more ? 1 : 0)));
	put32(k, id);
	put(k, BIG + off, len);
}

static void assert_big(size_t i)
{
	assert_true(i < G.n);
	assert_int_equal(G.d[i].len, big_len - 8);
	assert_memory_equal(G.d[i].p, BIG + 8, big_len - 8);
	assert_int_equal(G.d[i].dg.to.port, 2055);
}

static void test_frag_v4_in_order_and_out_of_order(void **state)
{
	(void)state;
	static struct pkt k[6];
	make_big(2000); /* 2008 bytes of UDP */
	frag4(&k[0], 1, 0, 1000, true);
	frag4(&k[1], 1, 1000, 504, true);
	frag4(&k[2], 1, 1504, 504, false);
	/* Same data, id 2, last first and first last. */
	frag4(&k[3], 2, 1504, 504, false);
	frag4(&k[4], 2, 1000, 504, true);
	frag4(&k[5], 2, 0, 1000, true);
	struct frame f[6] = {{&k[0], 0, 100, 0}, {&k[1], 0, 100, 1000}, {&k[2], 0, 101, 0},
	                     {&k[3], 0, 102, 0}, {&k[4], 0, 102, 0},    {&k[5], 0, 103, 5000}};
	assert_int_equal(cap_run(DLT_RAW, f, 6, NULL), 0);
	assert_counts(6, 2, 0, 0, 0, 0);
	assert_int_equal(ST.fragments, 6);
	assert_int_equal(ST.frag_reassembled, 2);
	assert_int_equal(ST.frag_dropped, 0);
	assert_big(0);
	assert_int_equal(G.d[0].dg.ts_ms, 101000); /* time of the completing fragment */
	assert_memory_equal(G.d[0].dg.from.addr.b + 12, V4_SRC, 4);
	assert_big(1);
	assert_int_equal(G.d[1].dg.ts_ms, 103005);
}

static void test_frag_v6_in_order_and_out_of_order(void **state)
{
	(void)state;
	static struct pkt k[5];
	make_big(1500);
	frag6(&k[0], 0x11223344, 0, 1232, true);
	frag6(&k[1], 0x11223344, 1232, big_len - 1232, false);
	frag6(&k[2], 5, 1232, big_len - 1232, false);
	frag6(&k[3], 5, 616, 616, true);
	frag6(&k[4], 5, 0, 616, true);
	struct frame f[5] = {{&k[0], 0, 1, 0},
	                     {&k[1], 0, 1, 0},
	                     {&k[2], 0, 2, 0},
	                     {&k[3], 0, 2, 0},
	                     {&k[4], 0, 2, 0}};
	assert_int_equal(cap_run(DLT_RAW, f, 5, NULL), 0);
	assert_counts(5, 2, 0, 0, 0, 0);
	assert_int_equal(ST.fragments, 5);
	assert_int_equal(ST.frag_reassembled, 2);
	assert_int_equal(ST.frag_dropped, 0);
	assert_big(0);
	assert_memory_equal(G.d[0].dg.from.addr.b, V6_SRC, 16);
	assert_big(1);
}

/* Destination options inside the fragmentable part: walked after reassembly. */
static void test_frag_v6_dstopts_inside(void **state)
{
	(void)state;
	static struct pkt k[4];
	static uint8_t part[1600];
	make_big(1000);
	/* dest opts (8 bytes, next header UDP), then the UDP datagram. */
	memcpy(part, "\x11\x00\x01\x04\x00\x00\x00\x00", 8);
	memcpy(part + 8, BIG, big_len);
	size_t plen = 8 + big_len, cut = 504;
	for (int i = 0; i < 2; i++) {
		size_t off = i ? cut : 0, len = i ? plen - cut : cut;
		put_ip6(&k[i], 44, 8 + len);
		put8(&k[i], 60);
		put8(&k[i], 0);
		put16(&k[i], (unsigned)(off | (i ? 0 : 1)));
		put32(&k[i], 42);
		put(&k[i], part + off, len);
	}
	/* A fragment header inside the fragmentable part is not allowed. */
	memcpy(part, "\x2c\x00\x00\x00\x00\x00\x00\x07", 8);
	for (int i = 2; i < 4; i++) {
		size_t off = i == 3 ? cut : 0, len = i == 3 ? plen - cut : cut;
		put_ip6(&k[i], 44, 8 + len);
		put8(&k[i], 60);
		put8(&k[i], 0);
		put16(&k[i], (unsigned)(off | (i == 3 ? 0 : 1)));
		put32(&k[i], 43);
		put(&k[i], part + off, len);
	}
	struct frame f[4] = {
	    {&k[1], 0, 1, 0}, {&k[0], 0, 1, 0}, {&k[2], 0, 1, 0}, {&k[3], 0, 1, 0}};
	assert_int_equal(cap_run(DLT_RAW, f, 4, NULL), 0);
	assert_int_equal(ST.fragments, 4);
	assert_int_equal(ST.frag_reassembled, 2);
	assert_int_equal(ST.frag_dropped, 0);
	assert_counts(4, 1, 0, 0, 0, 1);
	assert_big(0);
}

static void test_frag_missing_times_out(void **state)
{
	(void)state;
	static struct pkt k[5];
	make_big(2000);
	frag4(&k[0], 1, 0, 1000, true); /* id 1: middle and last never come */
	frag4(&k[1], 2, 0, 1000, true); /* id 2: rest arrives 31 s later */
	k[2].len = 0;
	ip4_udp(&k[2], 2055, PL, 1); /* a plain packet 31 s later expires both */
	frag4(&k[3], 2, 1000, 504, true);
	frag4(&k[4], 2, 1504, 504, false);
	struct frame f[5] = {{&k[0], 0, 100, 0},
	                     {&k[1], 0, 100, 0},
	                     {&k[2], 0, 131, 1},
	                     {&k[3], 0, 131, 2},
	                     {&k[4], 0, 131, 3}};
	assert_int_equal(cap_run(DLT_RAW, f, 5, NULL), 0);
	assert_counts(5, 1, 0, 0, 0, 0);
	assert_int_equal(ST.fragments, 4);
	assert_int_equal(ST.frag_reassembled, 0);
	/* id 1 and id 2 timed out; id 2's late pieces open a set that never ends. */
	assert_int_equal(ST.frag_dropped, 3);
	/* Within 30 s exactly: still reassembled. */
	f[2].sec = 130;
	f[3].sec = 130;
	f[4].sec = 130;
	f[2].frac = f[3].frac = f[4].frac = 0;
	assert_int_equal(cap_run(DLT_RAW, f, 5, NULL), 0);
	assert_int_equal(ST.frag_reassembled, 1);
	assert_int_equal(ST.frag_dropped, 1);
	assert_int_equal(G.n, 2);
	assert_big(1);
}

static void test_frag_overlap_and_bad(void **state)
{
	(void)state;
	static struct pkt k[12];
	make_big(2000);
	frag4(&k[0], 1, 0, 1000, true);
	frag4(&k[1], 1, 992, 512, true); /* overlaps the first by 8 bytes */
	frag4(&k[2], 1, 1504, 504, false);
	frag4(&k[3], 1, 1000, 504, true); /* would complete it: the set is dead */
	frag4(&k[4], 2, 0, 1001, true);   /* not a multiple of 8 while more follow */
	frag4(&k[5], 3, 1504, 504, false);
	frag4(&k[6], 3, 1504, 504, false); /* duplicate last fragment */
	frag6(&k[7], 9, 0, 1000, true);
	frag6(&k[8], 9, 0, 1000, true); /* exact duplicate: overlap */
	/* Overlap of 8 plus a hole of 8: the byte count adds up, the data not. */
	frag4(&k[9], 4, 0, 1000, true);
	frag4(&k[10], 4, 992, 504, true);
	frag4(&k[11], 4, 1504, 504, false);
	struct frame f[12];
	for (int i = 0; i < 12; i++)
		f[i] = (struct frame){&k[i], 0, 5, 0};
	assert_int_equal(cap_run(DLT_RAW, f, 12, NULL), 0);
	assert_counts(12, 0, 0, 0, 0, 0);
	assert_int_equal(ST.fragments, 12);
	assert_int_equal(ST.frag_reassembled, 0);
	assert_int_equal(ST.frag_dropped, 5);
}

static void test_frag_table_full_evicts_oldest(void **state)
{
	(void)state;
	static struct pkt k[2 * (PCAPIN_FRAG_MAX_SETS + 1)];
	static struct frame f[2 * (PCAPIN_FRAG_MAX_SETS + 1)];
	size_t n = 0;
	make_big(100);
	for (unsigned id = 0; id <= PCAPIN_FRAG_MAX_SETS; id++) {
		frag4(&k[n], id, 0, 56, true);
		f[n] = (struct frame){&k[n], 0, 10, id * 1000};
		n++;
	}
	for (unsigned id = 1; id <= PCAPIN_FRAG_MAX_SETS; id++) {
		frag4(&k[n], id, 56, big_len - 56, false);
		f[n] = (struct frame){&k[n], 0, 11, 0};
		n++;
	}
	assert_int_equal(cap_run(DLT_RAW, f, n, NULL), 0);
	assert_int_equal(ST.fragments, n);
	assert_int_equal(ST.frag_reassembled, PCAPIN_FRAG_MAX_SETS);
	assert_int_equal(ST.frag_dropped, 1); /* id 0, the oldest, pushed out */
	assert_int_equal(G.n, PCAPIN_FRAG_MAX_SETS);
	for (size_t i = 0; i < G.n; i++)
		assert_big(i);
}

static void test_frag_non_udp_and_truncated(void **state)
{
	(void)state;
	static struct pkt k[3];
	make_big(2000);
	frag4(&k[0], 1, 0, 1000, true);
	k[0].b[9] = 6; /* TCP fragment */
	frag4(&k[1], 2, 0, 1000, true);
	frag6(&k[2], 3, 0, 1000, true);
	k[2].b[40] = 6; /* fragment header's next header: TCP */
	struct frame f[3] = {{&k[0], 0, 1, 0}, {&k[1], 500, 1, 0}, {&k[2], 0, 1, 0}};
	assert_int_equal(cap_run(DLT_RAW, f, 3, NULL), 0);
	assert_counts(3, 0, 0, 2, 1, 0);
	assert_int_equal(ST.fragments, 0);
	assert_int_equal(ST.frag_dropped, 0);
}

/* ---- tests: fixture files written by tests/data/ingest/make_fixtures.py ---- */

/* make_fixtures.py payload(): tag, then (i * 7 + 3) & 0xff. */
static void assert_fixture_payload(size_t i, const char *tag, size_t n)
{
	uint8_t want[4096];
	size_t tl = strlen(tag);
	assert_true(n <= sizeof(want));
	memcpy(want, tag, tl);
	for (size_t j = 0; j < n - tl; j++)
		want[tl + j] = (uint8_t)(j * 7 + 3);
	assert_true(i < G.n);
	assert_int_equal(G.d[i].len, n);
	assert_memory_equal(G.d[i].p, want, n);
}

static void test_fixtures(void **state)
{
	(void)state;
	static const uint16_t ports[2] = {2055, 4739};
	struct pcapin_opts o = {ports, 2};

	assert_int_equal(run(TEST_DATA_DIR "/ingest/eth_vlan_v4_v6.pcap", NULL), 0);
	assert_counts(5, 3, 1, 1, 0, 0);
	assert_dg(0, false, 2055, G.d[0].p, 100);
	assert_fixture_payload(0, "v4-vlan", 100);
	assert_int_equal(G.d[0].dg.ts_ms, 1700000000001ull);
	assert_dg(1, true, 4739, G.d[1].p, 200);
	assert_fixture_payload(1, "v6-qinq", 200);
	assert_int_equal(G.d[1].dg.ts_ms, 1700000000002ull);
	assert_fixture_payload(2, "dns", 30);
	assert_int_equal(G.d[2].dg.ts_ms, 1700000002999ull);
	assert_int_equal(run(TEST_DATA_DIR "/ingest/eth_vlan_v4_v6.pcap", &o), 0);
	assert_counts(5, 2, 1, 1, 0, 0);
	assert_int_equal(ST.port_filtered, 1);

	assert_int_equal(run(TEST_DATA_DIR "/ingest/raw_v6_frag_ns.pcapng", NULL), 0);
	assert_counts(4, 2, 0, 0, 0, 0);
	assert_int_equal(ST.fragments, 3);
	assert_int_equal(ST.frag_reassembled, 1);
	assert_int_equal(ST.frag_dropped, 0);
	assert_dg(0, true, 2055, G.d[0].p, 3000);
	assert_fixture_payload(0, "v6-frag", 3000);
	assert_int_equal(G.d[0].dg.ts_ms, 1700000000123ull);
	assert_fixture_payload(1, "v6-dstopt", 64);

	assert_int_equal(run(TEST_DATA_DIR "/ingest/null_v4_frag.pcap", NULL), 0);
	assert_counts(3, 1, 0, 0, 0, 0);
	assert_int_equal(ST.fragments, 3);
	assert_int_equal(ST.frag_reassembled, 1);
	assert_int_equal(ST.frag_dropped, 1);
	assert_dg(0, false, 2055, G.d[0].p, 2000);
	assert_fixture_payload(0, "v4-frag", 2000);
	assert_int_equal(G.d[0].dg.ts_ms, 1700000010000ull);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/nfs_pcapin_XXXXXX");
	assert_non_null(mkdtemp(tmp_dir));
	inet_pton(AF_INET6, "2001:db8::1", V6_SRC);
	inet_pton(AF_INET6, "2001:db8:ffff::99", V6_DST);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmp_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ethernet_v4_v6_vlan),
	    cmocka_unit_test(test_linux_sll_and_sll2),
	    cmocka_unit_test(test_null_and_loop),
	    cmocka_unit_test(test_raw_ipv4_ipv6),
	    cmocka_unit_test(test_unsupported_link_and_open_errors),
	    cmocka_unit_test(test_ipv4_options_and_bad_headers),
	    cmocka_unit_test(test_ipv6_extension_headers),
	    cmocka_unit_test(test_too_many_extension_headers),
	    cmocka_unit_test(test_port_filter),
	    cmocka_unit_test(test_truncated_frames),
	    cmocka_unit_test(test_every_prefix),
	    cmocka_unit_test(test_nanosecond_capture),
	    cmocka_unit_test(test_pcapng),
	    cmocka_unit_test(test_callback_stops_read),
	    cmocka_unit_test(test_file_cut_mid_record),
	    cmocka_unit_test(test_frag_v4_in_order_and_out_of_order),
	    cmocka_unit_test(test_frag_v6_in_order_and_out_of_order),
	    cmocka_unit_test(test_frag_v6_dstopts_inside),
	    cmocka_unit_test(test_frag_missing_times_out),
	    cmocka_unit_test(test_frag_overlap_and_bad),
	    cmocka_unit_test(test_frag_table_full_evicts_oldest),
	    cmocka_unit_test(test_frag_non_udp_and_truncated),
	    cmocka_unit_test(test_fixtures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
