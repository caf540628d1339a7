/*
 * Unit tests for src/decode/ipfix.c and the template cache as IPFIX uses it:
 * reduced-size encoding, variable-length and enterprise fields, padding,
 * withdrawal, options (sampling, systemInitTimeMilliseconds), the time
 * encodings, sequence numbers and malformed sets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decode_build.h"

#define SECS 1700000000u
#define EXPORT_MS 1700000000000ull
#define DOMAIN 4242u

static struct sinkbuf sb;
static struct bld b;
static struct flow_endpoint from;

static struct decoder *mk(void)
{
	struct decoder_config cfg;
	decoder_config_defaults(&cfg);
	struct decoder *d = decoder_create(&cfg);
	assert_non_null(d);
	memset(&sb, 0, sizeof(sb));
	from = ep_v4(198, 18, 0, 1, 4739);
	return d;
}

/* Field specifier list helper: {id, len} pairs, enterprise when id has bit 15. */
static void fields(struct bld *x, const uint16_t (*f)[2], int n)
{
	for (int i = 0; i < n; i++) {
		b_u16(x, f[i][0]);
		b_u16(x, f[i][1]);
		if (f[i][0] & 0x8000)
			b_u32(x, 9); /* enterprise number */
	}
}

static void tmpl(struct bld *x, uint16_t tid, const uint16_t (*f)[2], int n)
{
	size_t s = b_set_begin(x, 2);
	b_u16(x, tid);
	b_u16(x, (uint16_t)n);
	fields(x, f, n);
	b_set_end(x, s);
}

static void opt_tmpl(struct bld *x, uint16_t tid, const uint16_t (*f)[2], int n, int scope)
{
	size_t s = b_set_begin(x, 3);
	b_u16(x, tid);
	b_u16(x, (uint16_t)n);
	b_u16(x, (uint16_t)scope);
	fields(x, f, n);
	b_set_end(x, s);
}

/* Template 300: v4 5-tuple, 8-byte counters, 4-byte interfaces, ms times,
 * an enterprise field of 3 bytes in the middle. */
static const uint16_t std_fields[][2] = {
    {8, 4}, {12, 4}, {7, 2},  {11, 2}, {4, 1},   {6, 2},   {0x8000 | 100, 3},
    {1, 8}, {2, 8},  {10, 4}, {14, 4}, {152, 8}, {153, 8},
};

static void rec_std(struct bld *x, uint8_t host)
{
	b_v4(x, 10, 2, 2, host);
	b_v4(x, 192, 0, 2, 99);
	b_u16(x, 1234);
	b_u16(x, 80);
	b_u8(x, 6);
	b_u16(x, 0x0112); /* tcpControlBits: 2 bytes, low 8 are the classic flags */
	b_u8(x, 0xaa);
	b_u8(x, 0xbb);
	b_u8(x, 0xcc); /* enterprise: skipped */
	b_u64(x, 0x123456789aull);
	b_u64(x, 42);
	b_u32(x, 100000);
	b_u32(x, 200000);
	b_u64(x, EXPORT_MS - 30000);
	b_u64(x, EXPORT_MS - 1000);
}

static void test_ipfix_template_and_data(void **state)
{
	(void)state;
	struct decoder *d = mk();

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 300, std_fields, 13);
	size_t s = b_set_begin(&b, 300);
	rec_std(&b, 1);
	rec_std(&b, 2);
	b_u8(&b, 0);
	b_u8(&b, 0);
	b_u8(&b, 0); /* set padding */
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	const struct flow *f = &sb.f[0];
	assert_true(is_v4(&f->exporter, 198, 18, 0, 1));
	assert_true(is_v4(&f->src, 10, 2, 2, 1));
	assert_true(is_v4(&f->dst, 192, 0, 2, 99));
	assert_int_equal(f->sport, 1234);
	assert_int_equal(f->dport, 80);
	assert_int_equal(f->proto, 6);
	assert_int_equal(f->tcp_flags, 0x12);
	assert_int_equal(f->octets, 0x123456789aull);
	assert_int_equal(f->packets, 42);
	assert_int_equal(f->in_if, 100000);
	assert_int_equal(f->out_if, 200000);
	assert_int_equal(f->first_ms, EXPORT_MS - 30000);
	assert_int_equal(f->last_ms, EXPORT_MS - 1000);
	assert_int_equal(f->export_ms, EXPORT_MS);
	assert_int_equal(f->sampling, 1);
	assert_true(is_v4(&sb.f[1].src, 10, 2, 2, 2));
	assert_int_equal(drops_total(d), 0);
	assert_int_equal(stats(d).datagrams_ipfix, 1);
	struct decoder_exporter_info info;
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.domain, DOMAIN);
	assert_int_equal(info.version, 10);
	decoder_destroy(d);
}

/*
 * fragmentOffset (88) and fragmentFlags (197, RFC 7012: bit 1 DF = 0x40,
 * bit 2 MF = 0x20, the rest don't care) into struct flow's FLOW_FRAG_*
 * bits; a reduced-size offset; lengths that are not theirs are skipped
 * without disturbing the rest of the record; a template with a
 * variable-length field reads them too; a template without them gives 0.
 */
static void test_ipfix_fragments(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t ff[][2] = {{8, 4}, {12, 4}, {4, 1}, {2, 4}, {88, 2}, {197, 1}};
	static const struct {
		uint16_t off;
		uint8_t flags, want;
		bool frag;
	} rec[] = {
	    {0, 0x00, 0, false},                                    /* not fragmented */
	    {0, 0x40, FLOW_FRAG_DF, false},                         /* DF */
	    {0, 0x20, FLOW_FRAG_MORE, true},                        /* first fragment */
	    {185, 0x00, FLOW_FRAG_OFFSET, true},                    /* last fragment */
	    {185, 0x3f, FLOW_FRAG_MORE | FLOW_FRAG_OFFSET, true},   /* middle, DC bits set */
	    {0x4000, 0x00, 0, false},     /* the whole flags word copied into 88: DF is no offset */
	    {0xe000, 0x80, 0, false},     /* reserved bit and flag bits only */
	};
	size_t n = sizeof(rec) / sizeof(rec[0]);

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 310, ff, 6);
	size_t s = b_set_begin(&b, 310);
	for (size_t i = 0; i < n; i++) {
		b_addrs(&b);
		b_u8(&b, 17);
		b_u32(&b, 10 + (uint32_t)i);
		b_u16(&b, rec[i].off);
		b_u8(&b, rec[i].flags);
	}
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), (int)n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sb.f[i].frag, rec[i].want);
		assert_int_equal(flow_is_fragment(&sb.f[i]), rec[i].frag);
		assert_int_equal(sb.f[i].packets, 10 + i);
	}

	/* Reduced size: an offset in one byte, no flags. */
	static const uint16_t f1[][2] = {{8, 4}, {12, 4}, {88, 1}, {2, 4}};
	memset(&sb, 0, sizeof(sb));
	b_ipfix_header(&b, SECS, 1, DOMAIN);
	tmpl(&b, 311, f1, 4);
	s = b_set_begin(&b, 311);
	b_addrs(&b);
	b_u8(&b, 3);
	b_u32(&b, 7);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].frag, FLOW_FRAG_OFFSET);
	assert_int_equal(sb.f[0].packets, 7);

	/* Lengths that are not theirs: flags in 2 bytes, offset in 4: skipped. */
	static const uint16_t f2[][2] = {{8, 4}, {12, 4}, {197, 2}, {88, 4}, {2, 4}};
	memset(&sb, 0, sizeof(sb));
	b_ipfix_header(&b, SECS, 2, DOMAIN);
	tmpl(&b, 312, f2, 5);
	s = b_set_begin(&b, 312);
	b_addrs(&b);
	b_u16(&b, 0x2020);
	b_u32(&b, 185);
	b_u32(&b, 9);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].frag, 0);
	assert_int_equal(sb.f[0].packets, 9);

	/* A variable-length field before them (interfaceName, 82). */
	static const uint16_t f3[][2] = {{8, 4}, {12, 4}, {82, 65535}, {88, 2}, {197, 1}, {2, 4}};
	memset(&sb, 0, sizeof(sb));
	b_ipfix_header(&b, SECS, 3, DOMAIN);
	tmpl(&b, 313, f3, 6);
	s = b_set_begin(&b, 313);
	b_addrs(&b);
	b_u8(&b, 3);
	b_bytes(&b, "et0", 3);
	b_u16(&b, 0);
	b_u8(&b, 0x20);
	b_u32(&b, 11);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].frag, FLOW_FRAG_MORE);
	assert_int_equal(sb.f[0].packets, 11);

	/* Without the fields: no bits, even in a slot that held some before. */
	static const uint16_t f4[][2] = {{8, 4}, {12, 4}, {2, 4}};
	b_ipfix_header(&b, SECS, 4, DOMAIN);
	tmpl(&b, 314, f4, 3);
	s = b_set_begin(&b, 314);
	b_addrs(&b);
	b_u32(&b, 12);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[1].frag, 0);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

/* RFC 7011 §6.2: reduced-size encoding of unsigned fields. */
static void test_ipfix_reduced_size(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t f[][2] = {{1, 3}, {2, 1}, {10, 2}, {14, 1}, {7, 2}, {8, 4}, {12, 4}};

	/* Dirty the batch: a full record with addresses and times first. */
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 300, std_fields, 13);
	size_t s0 = b_set_begin(&b, 300);
	rec_std(&b, 1);
	b_set_end(&b, s0);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	memset(&sb, 0, sizeof(sb));

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 301, f, 7);
	size_t s = b_set_begin(&b, 301);
	b_u8(&b, 0x01);
	b_u16(&b, 0x0203); /* 3-byte octets = 0x010203 */
	b_u8(&b, 200);
	b_u16(&b, 65000);
	b_u8(&b, 9);
	b_u16(&b, 22);
	b_addrs(&b);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].octets, 0x010203);
	assert_int_equal(sb.f[0].packets, 200);
	assert_int_equal(sb.f[0].in_if, 65000);
	assert_int_equal(sb.f[0].out_if, 9);
	assert_int_equal(sb.f[0].sport, 22);
	assert_true(is_v4(&sb.f[0].src, 10, 0, 0, 1));
	assert_true(is_v4(&sb.f[0].dst, 192, 0, 2, 1));
	/* Absent fields are zero even though the batch slot is reused. */
	assert_int_equal(sb.f[0].dport, 0);
	assert_int_equal(sb.f[0].proto, 0);
	assert_int_equal(sb.f[0].first_ms, 0);
	assert_int_equal(sb.f[0].last_ms, 0);
	decoder_destroy(d);
}

static void test_ipfix_total_counts_fallback(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t f[][2] = {{8, 4}, {12, 4}, {85, 8}, {86, 8}};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 302, f, 4);
	size_t s = b_set_begin(&b, 302);
	b_addrs(&b);
	b_u64(&b, 9000);
	b_u64(&b, 6);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].octets, 9000);
	assert_int_equal(sb.f[0].packets, 6);
	decoder_destroy(d);
}

/*
 * ICMP type and code from icmpTypeCodeIPv4/IPv6 (32/139) or the separate
 * type/code fields (176-179) land in dport as type << 8 | code, as NetFlow
 * v5 and nfdump have them; a non-zero destination port field is left alone.
 */
static void test_ipfix_icmp_type_code(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t tc[][2] = {{8, 4}, {12, 4}, {4, 1}, {11, 2}, {32, 2}};
	static const uint16_t tc6[][2] = {{8, 4}, {12, 4}, {4, 1}, {139, 2}};
	static const uint16_t sep[][2] = {{8, 4}, {12, 4}, {4, 1}, {176, 1}, {177, 1}};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 310, tc, 5);
	tmpl(&b, 311, tc6, 4);
	tmpl(&b, 312, sep, 5);
	size_t s = b_set_begin(&b, 310);
	b_addrs(&b);
	b_u8(&b, 1);
	b_u16(&b, 0);
	b_u16(&b, 0x0800); /* echo request */
	b_addrs(&b);
	b_u8(&b, 1);
	b_u16(&b, 0x0303); /* dport field set: kept */
	b_u16(&b, 0x0000);
	b_set_end(&b, s);
	s = b_set_begin(&b, 311);
	b_addrs(&b);
	b_u8(&b, 58);
	b_u16(&b, 0x8000); /* ICMPv6 echo request, type 128 */
	b_set_end(&b, s);
	s = b_set_begin(&b, 312);
	b_addrs(&b);
	b_u8(&b, 1);
	b_u8(&b, 11); /* time exceeded */
	b_u8(&b, 1);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 4);
	assert_int_equal(sb.f[0].dport, 0x0800);
	assert_int_equal(sb.f[1].dport, 0x0303);
	assert_int_equal(sb.f[2].dport, 0x8000);
	assert_int_equal(sb.f[3].dport, 11 << 8 | 1);
	decoder_destroy(d);
}

/* Variable-length fields: 1-byte form, 3-byte (255) form, and IPv6. */
static void test_ipfix_varlen(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t f[][2] = {
	    {27, 16}, {28, 16}, {96, 65535}, {2, 4}, {0x8000 | 7, 65535}, {1, 4}};
	uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x10};
	uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x20};
	uint8_t big[300];

	memset(big, 0x41, sizeof(big));
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 310, f, 6);
	size_t s = b_set_begin(&b, 310);
	b_bytes(&b, a6, 16);
	b_bytes(&b, d6, 16);
	b_u8(&b, 3);
	b_bytes(&b, "eth", 3); /* applicationName, short form */
	b_u32(&b, 11);
	b_u8(&b, 255);
	b_u16(&b, 300);
	b_bytes(&b, big, 300); /* long form */
	b_u32(&b, 1100);
	b_bytes(&b, a6, 16);
	b_bytes(&b, d6, 16);
	b_u8(&b, 0); /* empty string */
	b_u32(&b, 12);
	b_u8(&b, 0);
	b_u32(&b, 1200);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_memory_equal(sb.f[0].src.b, a6, 16);
	assert_memory_equal(sb.f[0].dst.b, d6, 16);
	assert_memory_equal(sb.f[1].dst.b, d6, 16);
	assert_false(flow_addr_is_v4(&sb.f[0].src));
	assert_int_equal(sb.f[0].packets, 11);
	assert_int_equal(sb.f[0].octets, 1100);
	assert_int_equal(sb.f[1].packets, 12);
	assert_int_equal(sb.f[1].octets, 1200);
	assert_int_equal(drops_total(d), 0);

	/* A variable length that runs past the set: counted, rest of set dropped. */
	b_ipfix_header(&b, SECS, 2, DOMAIN);
	s = b_set_begin(&b, 310);
	b_bytes(&b, a6, 16);
	b_bytes(&b, d6, 16);
	b_u8(&b, 200);
	b_bytes(&b, "xx", 2);
	b_u32(&b, 1);
	b_u8(&b, 0);
	b_u32(&b, 1);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	memset(&sb, 0, sizeof(sb));
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(drops(d, DECODER_DROP_VARLEN), 1);
	assert_int_equal(drops_total(d), 1);
	/* Same for a cut 3-byte form. */
	b_ipfix_header(&b, SECS, 2, DOMAIN);
	s = b_set_begin(&b, 310);
	b_bytes(&b, a6, 16);
	b_bytes(&b, d6, 16);
	b_u8(&b, 255);
	b_u8(&b, 1);
	b_u8(&b, 0); /* 256 bytes announced */
	for (int i = 0; i < 7; i++)
		b_u8(&b, 0);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(drops(d, DECODER_DROP_VARLEN), 2);
	/* Off by one: the last fixed field ends one byte past the set (the next
	 * set follows, so only the bound check can notice). */
	b_ipfix_header(&b, SECS, 2, DOMAIN);
	s = b_set_begin(&b, 310);
	b_bytes(&b, a6, 16);
	b_bytes(&b, d6, 16);
	b_u8(&b, 1);
	b_u8(&b, 'x');
	b_u32(&b, 1);
	b_u8(&b, 0);
	b_u8(&b, 0);
	b_u8(&b, 0);
	b_u8(&b, 4); /* octets cut after 3 of 4 bytes */
	b_set_end(&b, s);
	s = b_set_begin(&b, 4); /* reserved set: counted, skipped */
	b_u32(&b, 0xffffffffu);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(drops(d, DECODER_DROP_VARLEN), 3);
	assert_int_equal(drops(d, DECODER_DROP_SET_RESERVED), 1);
	decoder_destroy(d);
}

static void test_ipfix_withdrawal(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t f[][2] = {{2, 4}};
	static const uint16_t of[][2] = {{302, 4}, {34, 4}};
	struct decoder_exporter_info info;

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 256, f, 1);
	tmpl(&b, 257, f, 1);
	tmpl(&b, 258, f, 1);
	opt_tmpl(&b, 259, of, 2, 1);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.templates, 4);

	/* Withdraw 256 alone, then one we never had. */
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	size_t s = b_set_begin(&b, 2);
	b_u16(&b, 256);
	b_u16(&b, 0);
	b_u16(&b, 999);
	b_u16(&b, 0);
	b_set_end(&b, s);
	s = b_set_begin(&b, 256);
	b_u32(&b, 5);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(stats(d).templates_withdrawn, 1);
	assert_int_equal(drops(d, DECODER_DROP_TEMPLATE_UNKNOWN), 1);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.templates, 3);

	/* Withdraw all data templates (ID 2 in set 2): the options one stays. */
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	s = b_set_begin(&b, 2);
	b_u16(&b, 2);
	b_u16(&b, 0);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(stats(d).templates_withdrawn, 3);
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.templates, 1);

	/* Withdraw all options templates (ID 3 in set 3). */
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	s = b_set_begin(&b, 3);
	b_u16(&b, 3);
	b_u16(&b, 0);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(stats(d).templates_withdrawn, 4);
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.templates, 0);
	assert_int_equal(drops_total(d), 2);
	decoder_destroy(d);
}

/* One record of fields f (after addresses 8 and 12) with values rec. */
static void feed_one_record_with(struct decoder *d, uint16_t tid, const uint16_t (*f)[2], int n,
                                 const uint8_t *rec, size_t rlen)
{
	uint16_t fa[8][2] = {{8, 4}, {12, 4}};

	assert_true(n <= 6);
	memcpy(fa + 2, f, (size_t)n * sizeof(*f));
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, tid, (const uint16_t(*)[2])fa, n + 2);
	size_t s = b_set_begin(&b, tid);
	b_addrs(&b);
	b_bytes(&b, rec, rlen);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	memset(&sb, 0, sizeof(sb));
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
}

static void test_ipfix_times(void **state)
{
	(void)state;
	struct decoder *d = mk();
	struct bld r;

	/* Seconds. */
	static const uint16_t fs[][2] = {{150, 4}, {151, 4}};
	b_reset(&r);
	b_u32(&r, SECS - 60);
	b_u32(&r, SECS - 5);
	feed_one_record_with(d, 400, fs, 2, r.b, r.n);
	assert_int_equal(sb.f[0].first_ms, EXPORT_MS - 60000);
	assert_int_equal(sb.f[0].last_ms, EXPORT_MS - 5000);

	/* Microseconds in NTP format: 0.5 s fraction -> 500 ms. */
	static const uint16_t fu[][2] = {{154, 8}, {155, 8}};
	b_reset(&r);
	b_u32(&r, SECS - 10 + 2208988800u);
	b_u32(&r, 0x80000000u);
	b_u32(&r, SECS - 1 + 2208988800u);
	b_u32(&r, 0x40000000u);
	feed_one_record_with(d, 401, fu, 2, r.b, r.n);
	assert_int_equal(sb.f[0].first_ms, EXPORT_MS - 10000 + 500);
	assert_int_equal(sb.f[0].last_ms, EXPORT_MS - 1000 + 250);

	/* Delta microseconds before export time. */
	static const uint16_t fd[][2] = {{158, 4}, {159, 4}};
	b_reset(&r);
	b_u32(&r, 7000000);
	b_u32(&r, 250000);
	feed_one_record_with(d, 402, fd, 2, r.b, r.n);
	assert_int_equal(sb.f[0].first_ms, EXPORT_MS - 7000);
	assert_int_equal(sb.f[0].last_ms, EXPORT_MS - 250);

	/* Only a start: the end is the start. */
	static const uint16_t f1[][2] = {{152, 8}};
	b_reset(&r);
	b_u64(&r, EXPORT_MS - 3);
	feed_one_record_with(d, 403, f1, 1, r.b, r.n);
	assert_int_equal(sb.f[0].first_ms, EXPORT_MS - 3);
	assert_int_equal(sb.f[0].last_ms, EXPORT_MS - 3);

	/* SysUpTime without systemInitTimeMilliseconds: ends at export, keeps duration. */
	static const uint16_t fup[][2] = {{22, 4}, {21, 4}};
	b_reset(&r);
	b_u32(&r, 5000);
	b_u32(&r, 9000);
	feed_one_record_with(d, 404, fup, 2, r.b, r.n);
	assert_int_equal(sb.f[0].first_ms, EXPORT_MS - 4000);
	assert_int_equal(sb.f[0].last_ms, EXPORT_MS);

	/* ... and with it, learnt from options data (scope: observation domain 149). */
	static const uint16_t of[][2] = {{149, 4}, {160, 8}};
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	opt_tmpl(&b, 405, of, 2, 1);
	size_t s = b_set_begin(&b, 405);
	b_u32(&b, DOMAIN);
	b_u64(&b, EXPORT_MS - 3600000);
	b_set_end(&b, s);
	s = b_set_begin(&b, 404);
	b_addrs(&b);
	b_u32(&b, 5000);
	b_u32(&b, 9000);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	memset(&sb, 0, sizeof(sb));
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].first_ms, EXPORT_MS - 3600000 + 5000);
	assert_int_equal(sb.f[0].last_ms, EXPORT_MS - 3600000 + 9000);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

static void test_ipfix_options_sampling(void **state)
{
	(void)state;
	struct decoder *d = mk();
	/* RFC 5477 style: selectorId scope, packet interval 1 of space 99 -> 1:100. */
	static const uint16_t of[][2] = {{302, 4}, {305, 4}, {306, 4}};
	/* Exporter-wide samplingInterval with an observation domain scope. */
	static const uint16_t of2[][2] = {{149, 4}, {34, 4}};
	/* samplerRandomInterval with samplerId scope. */
	static const uint16_t of3[][2] = {{48, 1}, {50, 4}};
	static const uint16_t df[][2] = {{8, 4}, {12, 4}, {2, 4}, {1, 4}, {302, 4}};
	static const uint16_t df48[][2] = {{8, 4}, {12, 4}, {2, 4}, {1, 4}, {48, 1}};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	opt_tmpl(&b, 500, of, 3, 1);
	opt_tmpl(&b, 501, of2, 2, 1);
	opt_tmpl(&b, 502, of3, 2, 1);
	tmpl(&b, 510, df, 5);
	tmpl(&b, 511, df48, 5);
	size_t s = b_set_begin(&b, 500);
	b_u32(&b, 7);
	b_u32(&b, 1);
	b_u32(&b, 99);
	b_set_end(&b, s);
	s = b_set_begin(&b, 501);
	b_u32(&b, DOMAIN);
	b_u32(&b, 16);
	b_set_end(&b, s);
	s = b_set_begin(&b, 502);
	b_u8(&b, 5);
	b_u32(&b, 2000);
	b_set_end(&b, s);
	s = b_set_begin(&b, 510);
	b_addrs(&b);
	b_u32(&b, 3);
	b_u32(&b, 300);
	b_u32(&b, 7); /* selector 7: x100 */
	b_addrs(&b);
	b_u32(&b, 3);
	b_u32(&b, 300);
	b_u32(&b, 8); /* unknown selector: domain-wide x16 */
	b_set_end(&b, s);
	s = b_set_begin(&b, 511);
	b_addrs(&b);
	b_u32(&b, 3);
	b_u32(&b, 300);
	b_u8(&b, 5); /* sampler 5: x2000 */
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 3);
	assert_int_equal(sb.f[0].sampling, 100);
	assert_int_equal(sb.f[0].packets, 300);
	assert_int_equal(sb.f[0].octets, 30000);
	assert_int_equal(sb.f[1].sampling, 16);
	assert_int_equal(sb.f[1].packets, 48);
	assert_int_equal(sb.f[2].sampling, 2000);
	assert_int_equal(sb.f[2].octets, 600000);
	assert_int_equal(drops_total(d), 0);
	struct decoder_exporter_info info;
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.sampling, 16);
	decoder_destroy(d);
}

/* Write v big-endian in len (1..8) bytes. */
static void b_uint(struct bld *x, uint64_t v, uint16_t len)
{
	for (int i = len - 1; i >= 0; i--)
		b_u8(x, (uint8_t)(v >> (8 * i)));
}

static uint64_t unscaled(struct decoder *d)
{
	return stats(d).unscaled_records;
}

/* Data template 510: addresses, packets, octets (4 bytes each), selectorId (4). */
static const uint16_t samp_df[][2] = {{8, 4}, {12, 4}, {2, 4}, {1, 4}, {302, 4}};

static void samp_rec(struct bld *x, uint32_t pkts, uint32_t octs, uint32_t selector)
{
	b_addrs(x);
	b_u32(x, pkts);
	b_u32(x, octs);
	b_u32(x, selector);
}

/*
 * Cisco IOS XR IPFIX (issue 11): the sampler is announced in an options
 * template scoped by selectorId (302, 8 bytes here) with
 * samplingPacketInterval (305 = 1, no 306), selectorAlgorithm (304 = 3,
 * random n-out-of-N), samplingSize (309 = 1) and samplingPopulation
 * (310 = 256); each data record carries its selectorId. 1:256.
 */
static void test_ipfix_sampling_iosxr(void **state)
{
	(void)state;
	static const uint16_t of[][2] = {{302, 8}, {305, 4}, {304, 2}, {309, 4}, {310, 4}};
	static const uint16_t df[][2] = {{8, 4}, {12, 4}, {2, 8}, {1, 8}, {302, 8}};

	for (int with_algo = 0; with_algo < 2; with_algo++) {
		struct decoder *d = mk();
		b_ipfix_header(&b, SECS, 0, DOMAIN);
		/* Without 304 the template is the same minus that field. */
		if (with_algo) {
			opt_tmpl(&b, 600, of, 5, 1);
		} else {
			static const uint16_t of2[][2] = {{302, 8}, {305, 4}, {309, 4}, {310, 4}};
			opt_tmpl(&b, 600, of2, 4, 1);
		}
		tmpl(&b, 610, df, 5);
		size_t s = b_set_begin(&b, 600);
		b_u64(&b, 0x100000002ull); /* selector */
		b_u32(&b, 1);              /* samplingPacketInterval */
		if (with_algo)
			b_u16(&b, 3); /* random n-out-of-N */
		b_u32(&b, 1);         /* samplingSize */
		b_u32(&b, 256);       /* samplingPopulation */
		b_set_end(&b, s);
		s = b_set_begin(&b, 610);
		b_addrs(&b);
		b_u64(&b, 3);
		b_u64(&b, 1500);
		b_u64(&b, 0x100000002ull);
		b_addrs(&b);
		b_u64(&b, 1);
		b_u64(&b, 40);
		b_u64(&b, 0x100000002ull);
		b_set_end(&b, s);
		b_ipfix_end(&b);
		assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
		assert_int_equal(sb.f[0].sampling, 256);
		assert_int_equal(sb.f[0].packets, 768);
		assert_int_equal(sb.f[0].octets, 384000);
		assert_int_equal(sb.f[1].sampling, 256);
		assert_int_equal(sb.f[1].packets, 256);
		assert_int_equal(sb.f[1].octets, 10240);
		assert_int_equal(unscaled(d), 0);
		assert_int_equal(drops_total(d), 0);
		/* The one sampler is the exporter's rate too. */
		struct decoder_exporter_info info;
		decoder_exporters_get(d, &info, 1);
		assert_int_equal(info.sampling, 256);
		decoder_destroy(d);
	}
}

/*
 * Every options layout that announces a rate, each on a fresh decoder:
 * the options record for selector 7, then one data record naming
 * selector 7 (3 packets, 100 octets) must be scaled by the rate.
 */
struct samp_layout {
	const char *name;
	int n, scope;
	uint16_t f[5][2];
	uint64_t val[5];
	uint32_t rate;     /* 1: the record is not scaled */
	uint64_t unscaled; /* unscaledRecords after the record */
};

static const struct samp_layout samp_layouts[] = {
    {"305/306 (Nokia SR OS)", 3, 1, {{302, 4}, {305, 4}, {306, 4}}, {7, 1, 99}, 100, 0},
    {"304=1, 305/306", 4, 1, {{302, 4}, {304, 1}, {305, 4}, {306, 4}}, {7, 1, 2, 1998}, 1000, 0},
    {"309/310 without 304", 3, 1, {{302, 2}, {309, 4}, {310, 4}}, {7, 1, 256}, 256, 0},
    {"304=3, 309/310", 4, 1, {{302, 4}, {304, 2}, {309, 4}, {310, 4}}, {7, 3, 2, 1001}, 501, 0},
    {"311 float64 0.001", 2, 1, {{302, 4}, {311, 8}}, {7, 0x3f50624dd2f1a9fcull}, 1000, 0},
    {"304=4, 311 f32", 3, 1, {{302, 1}, {304, 1}, {311, 4}}, {7, 4, 0x3c23d70aull}, 100, 0},
    {"311 float64 1/3", 2, 1, {{302, 4}, {311, 8}}, {7, 0x3fd5555555555555ull}, 3, 0},
    {"34/35 (Juniper)", 3, 1, {{149, 4}, {34, 4}, {35, 1}}, {DOMAIN, 512, 2}, 512, 0},
    {"48 scope, 49/50 (samplerId)", 3, 1, {{48, 2}, {49, 1}, {50, 4}}, {7, 2, 64}, 64, 0},
    {"34 beside 302", 2, 1, {{302, 4}, {34, 4}}, {7, 2000}, 2000, 0},
    /* Stated no rate: the record names a sampler with no known rate. */
    {"305 alone", 2, 1, {{302, 4}, {305, 4}}, {7, 100}, 1, 1},
    {"304=2, 305/306", 4, 1, {{302, 4}, {304, 1}, {305, 4}, {306, 4}}, {7, 2, 1, 99}, 1, 1},
    {"304=1 with 309/310", 4, 1, {{302, 4}, {304, 1}, {309, 4}, {310, 4}}, {7, 1, 1, 256}, 1, 1},
    {"311 = 0", 2, 1, {{302, 4}, {311, 8}}, {7, 0}, 1, 1},
    {"311 = 1.5", 2, 1, {{302, 4}, {311, 8}}, {7, 0x3ff8000000000000ull}, 1, 1},
    {"311 in 2 bytes", 2, 1, {{302, 4}, {311, 2}}, {7, 1}, 1, 1},
    {"310 < 309", 3, 1, {{302, 4}, {309, 4}, {310, 4}}, {7, 10, 5}, 1, 1},
};

static void test_ipfix_sampling_layouts(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(samp_layouts) / sizeof(samp_layouts[0]); k++) {
		const struct samp_layout *l = &samp_layouts[k];
		struct decoder *d = mk();
		b_ipfix_header(&b, SECS, 0, DOMAIN);
		opt_tmpl(&b, 600, l->f, l->n, l->scope);
		tmpl(&b, 510, samp_df, 5);
		size_t s = b_set_begin(&b, 600);
		for (int i = 0; i < l->n; i++)
			b_uint(&b, l->val[i], l->f[i][1]);
		b_set_end(&b, s);
		s = b_set_begin(&b, 510);
		samp_rec(&b, 3, 100, 7);
		b_set_end(&b, s);
		b_ipfix_end(&b);
		if (feed(d, &from, &b, 0, &sb) != 1 || drops_total(d) != 0)
			fail_msg("%s: not decoded", l->name);
		if (sb.f[0].sampling != l->rate || sb.f[0].packets != 3ull * l->rate ||
		    sb.f[0].octets != 100ull * l->rate || unscaled(d) != l->unscaled)
			fail_msg("%s: rate %u packets %llu octets %llu unscaled %llu, want rate %u",
			         l->name, sb.f[0].sampling, (unsigned long long)sb.f[0].packets,
			         (unsigned long long)sb.f[0].octets,
			         (unsigned long long)unscaled(d), l->rate);
		decoder_destroy(d);
	}
}

/*
 * Two samplers of different rates in one datagram: each data record is
 * scaled by the sampler it names. A template without a sampler ID then
 * has no single rate to use: its records are delivered unscaled and
 * counted.
 */
static void test_ipfix_sampling_two_samplers(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t of[][2] = {{302, 4}, {305, 4}, {306, 4}};
	static const uint16_t plain[][2] = {{8, 4}, {12, 4}, {2, 4}, {1, 4}};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	opt_tmpl(&b, 600, of, 3, 1);
	tmpl(&b, 510, samp_df, 5);
	tmpl(&b, 511, plain, 4);
	size_t s = b_set_begin(&b, 600);
	b_u32(&b, 1);
	b_u32(&b, 1);
	b_u32(&b, 99); /* selector 1: 1:100 */
	b_u32(&b, 2);
	b_u32(&b, 1);
	b_u32(&b, 999); /* selector 2: 1:1000 */
	b_set_end(&b, s);
	s = b_set_begin(&b, 510);
	samp_rec(&b, 2, 80, 1);
	samp_rec(&b, 5, 300, 2);
	samp_rec(&b, 7, 700, 1);
	samp_rec(&b, 1, 60, 2);
	b_set_end(&b, s);
	s = b_set_begin(&b, 511);
	b_addrs(&b);
	b_u32(&b, 4);
	b_u32(&b, 400);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 5);
	static const uint64_t want[][3] = {
	    {100, 200, 8000},    {1000, 5000, 300000}, {100, 700, 70000},
	    {1000, 1000, 60000}, {1, 4, 400},
	};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(sb.f[i].sampling, want[i][0]);
		assert_int_equal(sb.f[i].packets, want[i][1]);
		assert_int_equal(sb.f[i].octets, want[i][2]);
	}
	assert_int_equal(unscaled(d), 1);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

/*
 * Data before its sampler's options: delivered unscaled and counted as
 * unscaledRecords; once the options arrive the same sampler's records are
 * scaled, and so are records naming no sampler (the one known sampler is
 * the exporter's rate).
 */
static void test_ipfix_sampling_after_data(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t of[][2] = {{302, 4}, {304, 2}, {309, 4}, {310, 4}};
	static const uint16_t plain[][2] = {{8, 4}, {12, 4}, {2, 4}, {1, 4}};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	opt_tmpl(&b, 600, of, 4, 1);
	tmpl(&b, 510, samp_df, 5);
	tmpl(&b, 511, plain, 4);
	size_t s = b_set_begin(&b, 510);
	samp_rec(&b, 3, 300, 9);
	samp_rec(&b, 4, 400, 9);
	b_set_end(&b, s);
	s = b_set_begin(&b, 511);
	b_addrs(&b);
	b_u32(&b, 5);
	b_u32(&b, 500);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 3);
	assert_int_equal(sb.f[0].sampling, 1);
	assert_int_equal(sb.f[0].packets, 3);
	assert_int_equal(sb.f[0].octets, 300);
	assert_int_equal(sb.f[1].packets, 4);
	/* Nothing announced yet: a record naming no sampler is unsampled. */
	assert_int_equal(sb.f[2].sampling, 1);
	assert_int_equal(sb.f[2].packets, 5);
	assert_int_equal(unscaled(d), 2);

	b_ipfix_header(&b, SECS, 3, DOMAIN);
	s = b_set_begin(&b, 600);
	b_u32(&b, 9);
	b_u16(&b, 3);
	b_u32(&b, 1);
	b_u32(&b, 4000); /* selector 9: 1:4000 */
	b_set_end(&b, s);
	s = b_set_begin(&b, 510);
	samp_rec(&b, 3, 300, 9);
	b_set_end(&b, s);
	s = b_set_begin(&b, 511);
	b_addrs(&b);
	b_u32(&b, 5);
	b_u32(&b, 500);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	memset(&sb, 0, sizeof(sb));
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(sb.f[0].sampling, 4000);
	assert_int_equal(sb.f[0].packets, 12000);
	assert_int_equal(sb.f[0].octets, 1200000);
	assert_int_equal(sb.f[1].sampling, 4000);
	assert_int_equal(sb.f[1].packets, 20000);
	assert_int_equal(sb.f[1].octets, 2000000);
	assert_int_equal(unscaled(d), 2);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

/*
 * Rates carried in the data records themselves (305/306, 309/310, 311,
 * 34 per record), and the configured override winning over all of them
 * and over the selector named.
 */
static void test_ipfix_sampling_in_data_and_override(void **state)
{
	(void)state;
	static const uint16_t of[][2] = {{302, 4}, {309, 4}, {310, 4}};
	static const uint16_t df[][2] = {{8, 4},   {12, 4},  {2, 4},   {1, 4},
	                                 {302, 4}, {305, 4}, {306, 4}, {311, 8}};

	for (int ov = 0; ov < 2; ov++) {
		struct decoder_config cfg;
		struct decoder_sampling_override o = {.rate = 3};
		decoder_config_defaults(&cfg);
		from = ep_v4(198, 18, 0, 1, 4739);
		o.exporter = from.addr;
		if (ov) {
			cfg.sampling = &o;
			cfg.n_sampling = 1;
		}
		struct decoder *d = decoder_create(&cfg);
		assert_non_null(d);
		memset(&sb, 0, sizeof(sb));
		b_ipfix_header(&b, SECS, 0, DOMAIN);
		opt_tmpl(&b, 600, of, 3, 1);
		tmpl(&b, 510, df, 8);
		tmpl(&b, 511, samp_df, 5);
		size_t s = b_set_begin(&b, 600);
		b_u32(&b, 7);
		b_u32(&b, 1);
		b_u32(&b, 256);
		b_set_end(&b, s);
		s = b_set_begin(&b, 510);
		samp_rec(&b, 2, 100, 7); /* 305/306 = 1/49: 1:50 */
		b_u32(&b, 1);
		b_u32(&b, 49);
		b_u64(&b, 0);
		samp_rec(&b, 2, 100, 7); /* 311 = 0.5: 1:2 */
		b_u32(&b, 0);
		b_u32(&b, 0);
		b_u64(&b, 0x3fe0000000000000ull);
		samp_rec(&b, 2, 100, 7); /* no rate of its own: selector 7, 1:256 */
		b_u32(&b, 0);
		b_u32(&b, 0);
		b_u64(&b, 0);
		b_set_end(&b, s);
		s = b_set_begin(&b, 511);
		samp_rec(&b, 2, 100, 7);
		b_set_end(&b, s);
		b_ipfix_end(&b);
		assert_int_equal(feed(d, &from, &b, 0, &sb), 4);
		static const uint32_t want[2][4] = {{50, 2, 256, 256}, {3, 3, 3, 3}};
		for (int i = 0; i < 4; i++) {
			assert_int_equal(sb.f[i].sampling, want[ov][i]);
			assert_int_equal(sb.f[i].packets, 2ull * want[ov][i]);
			assert_int_equal(sb.f[i].octets, 100ull * want[ov][i]);
		}
		assert_int_equal(unscaled(d), 0);
		assert_int_equal(drops_total(d), 0);
		decoder_destroy(d);
	}
}

static void feed_seq(struct decoder *d, uint32_t seq, int nrec)
{
	static const uint16_t f[][2] = {{8, 4}, {12, 4}, {2, 4}};

	b_ipfix_header(&b, SECS, seq, DOMAIN);
	tmpl(&b, 256, f, 3);
	size_t s = b_set_begin(&b, 256);
	for (int i = 0; i < nrec; i++) {
		b_addrs(&b);
		b_u32(&b, 1);
	}
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), nrec);
}

static void test_ipfix_sequence(void **state)
{
	(void)state;
	struct decoder *d = mk();

	feed_seq(d, 100000, 5);
	feed_seq(d, 100005, 5);
	assert_int_equal(stats(d).lost_records, 0);
	feed_seq(d, 100020, 5); /* 100010..100019 missing */
	assert_int_equal(stats(d).lost_records, 10);
	feed_seq(d, 100010, 5); /* late */
	assert_int_equal(stats(d).reordered, 1);
	assert_int_equal(stats(d).lost_records, 10);
	feed_seq(d, 100025, 5);
	assert_int_equal(stats(d).lost_records, 10);
	feed_seq(d, 3, 5); /* far back: restart */
	assert_int_equal(stats(d).exporter_restarts, 1);
	feed_seq(d, 8, 5);
	assert_int_equal(stats(d).lost_records, 10);
	assert_int_equal(stats(d).exporter_restarts, 1);
	/* A data set we could not decode leaves the count unknown: resync, no false loss. */
	b_ipfix_header(&b, SECS, 13, DOMAIN);
	size_t s = b_set_begin(&b, 999);
	b_u32(&b, 1);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	feed_seq(d, 14, 5);
	assert_int_equal(stats(d).lost_records, 10);
	feed_seq(d, 19, 5);
	assert_int_equal(stats(d).lost_records, 10);
	decoder_destroy(d);
}

/*
 * softflowd numbers a message by the flow records sent up to and including
 * it, its options data record not counted (docs/decoding.md "Sequence
 * numbers"). feed_incl() sends nrec records, and the options record when
 * opt, numbered that way from *total.
 */
static void feed_incl(struct decoder *d, uint32_t *total, int nrec, bool opt)
{
	static const uint16_t f[][2] = {{8, 4}, {12, 4}, {2, 4}};
	static const uint16_t o[][2] = {{149, 4}, {34, 4}};

	*total += (uint32_t)nrec;
	b_ipfix_header(&b, SECS, *total, DOMAIN);
	tmpl(&b, 256, f, 3);
	if (opt) {
		opt_tmpl(&b, 257, o, 2, 1);
		size_t s = b_set_begin(&b, 257);
		b_u32(&b, DOMAIN);
		b_u32(&b, 1);
		b_set_end(&b, s);
	}
	size_t s = b_set_begin(&b, 256);
	for (int i = 0; i < nrec; i++) {
		b_addrs(&b);
		b_u32(&b, 1);
	}
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), nrec);
}

static void test_ipfix_sequence_inclusive(void **state)
{
	(void)state;
	struct decoder *d = mk();
	uint32_t total = 1000;

	/* Record counts that differ message to message, as softflowd's do. */
	feed_incl(d, &total, 18, true);
	feed_incl(d, &total, 22, false);
	feed_incl(d, &total, 25, false);
	assert_int_equal(stats(d).seq_inclusive, 0);
	feed_incl(d, &total, 20, false); /* the third that fits only softflowd's numbering */
	assert_int_equal(stats(d).seq_inclusive, 1);
	feed_incl(d, &total, 20, false); /* same count: fits both, stays */
	feed_incl(d, &total, 16, true);  /* the options record is not in its count */
	feed_incl(d, &total, 23, false);
	assert_int_equal(stats(d).lost_records, 0);
	assert_int_equal(stats(d).reordered, 0);
	/* A message lost on the way: its 7 records are. */
	total += 7;
	feed_incl(d, &total, 21, false);
	assert_int_equal(stats(d).lost_records, 7);
	/* Late by that numbering: reordered, no loss, the expectation kept. */
	uint32_t back = total - 30;
	feed_incl(d, &back, 4, false);
	assert_int_equal(stats(d).reordered, 1);
	feed_incl(d, &total, 24, false);
	assert_int_equal(stats(d).lost_records, 7);
	assert_int_equal(stats(d).reordered, 1);
	assert_int_equal(stats(d).seq_inclusive, 1);
	assert_int_equal(stats(d).exporter_restarts, 0);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);

	/* An RFC 7011 exporter with the same counts is never switched, and
	 * its loss is counted as before. */
	d = mk();
	static const int n[] = {18, 22, 25, 20, 20, 16, 23};
	uint32_t seq = 50;
	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		feed_seq(d, seq, n[i]);
		seq += (uint32_t)n[i];
	}
	feed_seq(d, seq + 9, 5);
	assert_int_equal(stats(d).lost_records, 9);
	assert_int_equal(stats(d).seq_inclusive, 0);
	assert_int_equal(stats(d).reordered, 0);
	decoder_destroy(d);

	/*
	 * Two chance fits of the other numbering (a loss as long as the
	 * message's records minus the last's) count no loss, but a message
	 * that fits only the RFC numbering in between starts the vote over.
	 */
	d = mk();
	seq = 0;
	feed_seq(d, seq, 5);
	seq += 5;
	feed_seq(d, seq + 3, 8); /* 5 + 3 = 8: fits "including" too */
	seq += 3 + 8;
	feed_seq(d, seq + 2, 10); /* 8 + 2 = 10 */
	seq += 2 + 10;
	feed_seq(d, seq, 4); /* RFC only: the vote starts over */
	seq += 4;
	feed_seq(d, seq + 3, 7); /* 4 + 3 */
	seq += 3 + 7;
	feed_seq(d, seq + 3, 10); /* 7 + 3 */
	seq += 3 + 10;
	assert_int_equal(stats(d).seq_inclusive, 0);
	assert_int_equal(stats(d).lost_records, 0);
	feed_seq(d, seq, 5);
	assert_int_equal(stats(d).lost_records, 0);
	assert_int_equal(stats(d).seq_inclusive, 0);
	decoder_destroy(d);
}

/*
 * Addresses (docs/decoding.md, "Addresses"). A template with both the
 * IPv4 (8/12) and the IPv6 (27/28) pair, as Cisco's v9 template 313 and
 * the IOS XR IPFIX ones have, in both orders of fields: each record goes
 * under the family whose two addresses are set; a record with no complete
 * pair set is dropped as noAddress and never delivered as :: or 0.0.0.0.
 */
static const uint8_t A6S[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x01};
static const uint8_t A6D[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = 0x01, [15] = 0x02};
static const uint8_t Z16[16];

/* One record of the 4-address layout: v4 pair then v6 pair, or the other way round. */
static void rec_both(struct bld *x, bool v6_first, bool v4, bool v6, uint32_t pkts)
{
	for (int half = 0; half < 2; half++) {
		if ((half == 0) == v6_first) {
			b_bytes(x, v6 ? A6S : Z16, 16);
			b_bytes(x, v6 ? A6D : Z16, 16);
		} else if (v4) {
			b_addrs(x);
		} else {
			b_u32(x, 0);
			b_u32(x, 0);
		}
	}
	b_u32(x, pkts);
}

static void test_ipfix_addr_both_families(void **state)
{
	(void)state;
	static const uint16_t f46[][2] = {{8, 4}, {12, 4}, {27, 16}, {28, 16}, {2, 4}};
	static const uint16_t f64[][2] = {{27, 16}, {28, 16}, {8, 4}, {12, 4}, {2, 4}};

	for (int order = 0; order < 2; order++) {
		struct decoder *d = mk();
		bool v6_first = order == 1;
		b_ipfix_header(&b, SECS, 0, DOMAIN);
		tmpl(&b, 313, v6_first ? f64 : f46, 5);
		size_t s = b_set_begin(&b, 313);
		rec_both(&b, v6_first, true, false, 1);  /* IPv4 flow: IPv6 fields zero */
		rec_both(&b, v6_first, false, true, 2);  /* IPv6 flow: IPv4 fields zero */
		rec_both(&b, v6_first, false, false, 3); /* nothing set: noAddress */
		rec_both(&b, v6_first, true, true, 4);   /* both set: IPv4 first */
		b_set_end(&b, s);
		b_ipfix_end(&b);
		assert_int_equal(feed(d, &from, &b, 0, &sb), 3);
		assert_int_equal(sb.n, 3);
		assert_int_equal(sb.f[0].packets, 1);
		assert_true(is_v4(&sb.f[0].src, 10, 0, 0, 1));
		assert_true(is_v4(&sb.f[0].dst, 192, 0, 2, 1));
		assert_int_equal(sb.f[1].packets, 2);
		assert_memory_equal(sb.f[1].src.b, A6S, 16);
		assert_memory_equal(sb.f[1].dst.b, A6D, 16);
		assert_int_equal(sb.f[2].packets, 4);
		assert_true(is_v4(&sb.f[2].src, 10, 0, 0, 1));
		assert_int_equal(drops(d, DECODER_DROP_NO_ADDRESS), 1);
		assert_int_equal(drops_total(d), 1);
		/* The dropped record was decoded: the sequence expects all four. */
		b_ipfix_header(&b, SECS, 4, DOMAIN);
		s = b_set_begin(&b, 313);
		rec_both(&b, v6_first, true, false, 5);
		b_set_end(&b, s);
		b_ipfix_end(&b);
		memset(&sb, 0, sizeof(sb));
		assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
		assert_int_equal(stats(d).lost_records, 0);
		assert_int_equal(stats(d).records, 4);
		struct decoder_exporter_info info;
		decoder_exporters_get(d, &info, 1);
		assert_int_equal(info.records, 4);
		decoder_destroy(d);
		memset(&sb, 0, sizeof(sb));
	}
}

/* The same choice in a template with a variable-length field (walked per record). */
static void test_ipfix_addr_varlen(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t f[][2] = {{27, 16}, {96, 65535}, {28, 16}, {8, 4}, {12, 4}, {2, 4}};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 320, f, 6);
	size_t s = b_set_begin(&b, 320);
	/* IPv4 flow. */
	b_bytes(&b, Z16, 16);
	b_u8(&b, 2);
	b_bytes(&b, "ab", 2);
	b_bytes(&b, Z16, 16);
	b_addrs(&b);
	b_u32(&b, 1);
	/* IPv6 flow. */
	b_bytes(&b, A6S, 16);
	b_u8(&b, 0);
	b_bytes(&b, A6D, 16);
	b_u32(&b, 0);
	b_u32(&b, 0);
	b_u32(&b, 2);
	/* IPv6 source, no destination of either family. */
	b_bytes(&b, A6S, 16);
	b_u8(&b, 1);
	b_u8(&b, 'c');
	b_bytes(&b, Z16, 16);
	b_v4(&b, 10, 0, 0, 1);
	b_u32(&b, 0);
	b_u32(&b, 3);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_true(is_v4(&sb.f[0].src, 10, 0, 0, 1));
	assert_true(is_v4(&sb.f[0].dst, 192, 0, 2, 1));
	assert_int_equal(sb.f[0].packets, 1);
	assert_memory_equal(sb.f[1].src.b, A6S, 16);
	assert_memory_equal(sb.f[1].dst.b, A6D, 16);
	assert_int_equal(sb.f[1].packets, 2);
	assert_int_equal(drops(d, DECODER_DROP_NO_ADDRESS), 1);
	assert_int_equal(drops_total(d), 1);
	decoder_destroy(d);
}

/* ipVersion (60) decides the family when it says 4 or 6. */
static void test_ipfix_addr_ip_version(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t f[][2] = {{60, 1}, {8, 4}, {12, 4}, {27, 16}, {28, 16}, {2, 4}};
	const struct {
		uint8_t ver;
		bool v4, v6;
	} rec[] = {
	    {6, true, true},  /* both set, version 6: IPv6 */
	    {4, true, true},  /* both set, version 4: IPv4 */
	    {6, true, false}, /* version 6 but only IPv4 set: noAddress */
	    {4, false, true}, /* version 4 but only IPv6 set: noAddress */
	    {0, false, true}, /* no version: the family that is set */
	};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 330, f, 6);
	size_t s = b_set_begin(&b, 330);
	for (uint32_t i = 0; i < 5; i++) {
		b_u8(&b, rec[i].ver);
		rec_both(&b, false, rec[i].v4, rec[i].v6, i);
	}
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 3);
	assert_int_equal(sb.f[0].packets, 0);
	assert_memory_equal(sb.f[0].src.b, A6S, 16);
	assert_int_equal(sb.f[1].packets, 1);
	assert_true(is_v4(&sb.f[1].src, 10, 0, 0, 1));
	assert_int_equal(sb.f[2].packets, 4);
	assert_memory_equal(sb.f[2].dst.b, A6D, 16);
	assert_int_equal(drops(d, DECODER_DROP_NO_ADDRESS), 2);
	decoder_destroy(d);
}

/* An IPFIX template whose fields carry their own enterprise numbers. */
static void tmpl_pen(struct bld *x, uint16_t tid, const uint32_t (*f)[3], int n)
{
	size_t s = b_set_begin(x, 2);
	b_u16(x, tid);
	b_u16(x, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		b_u16(x, (uint16_t)(f[i][0] | (f[i][2] ? 0x8000u : 0)));
		b_u16(x, (uint16_t)f[i][1]);
		if (f[i][2])
			b_u32(x, f[i][2]);
	}
	b_set_end(x, s);
}

/*
 * Tunnel (outer) and flow (inner) addresses in one template, as Open
 * vSwitch exports them (VMware 6876/893, 894): the inner pair is the
 * record's; the outer only when the inner is not set. The same element
 * numbers under another enterprise are not addresses.
 */
static void test_ipfix_addr_tunnel(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint32_t f[][3] = {
	    {893, 4, 6876}, {894, 4, 6876}, {8, 4, 0}, {12, 4, 0}, {2, 4, 0}};
	static const uint32_t other[][3] = {
	    {893, 4, 9}, {894, 4, 9}, {8, 4, 0}, {12, 4, 0}, {2, 4, 0}};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl_pen(&b, 340, f, 5);
	tmpl_pen(&b, 341, other, 5);
	size_t s = b_set_begin(&b, 340);
	b_v4(&b, 172, 16, 0, 1); /* VTEP -> VTEP */
	b_v4(&b, 172, 16, 0, 2);
	b_addrs(&b); /* the tenant's flow */
	b_u32(&b, 1);
	b_v4(&b, 172, 16, 0, 1);
	b_v4(&b, 172, 16, 0, 2);
	b_u32(&b, 0); /* no inner IPv4 (say, ARP in the tunnel) */
	b_u32(&b, 0);
	b_u32(&b, 2);
	b_set_end(&b, s);
	s = b_set_begin(&b, 341);
	b_v4(&b, 172, 16, 0, 1);
	b_v4(&b, 172, 16, 0, 2);
	b_u32(&b, 0);
	b_u32(&b, 0);
	b_u32(&b, 3);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_true(is_v4(&sb.f[0].src, 10, 0, 0, 1));
	assert_true(is_v4(&sb.f[0].dst, 192, 0, 2, 1));
	assert_true(is_v4(&sb.f[1].src, 172, 16, 0, 1));
	assert_true(is_v4(&sb.f[1].dst, 172, 16, 0, 2));
	assert_int_equal(sb.f[1].packets, 2);
	assert_int_equal(drops(d, DECODER_DROP_NO_ADDRESS), 1);
	decoder_destroy(d);
}

/* Templates without a complete address pair: every record is noAddress. */
static void test_ipfix_addr_missing(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t none[][2] = {{2, 4}, {1, 4}};
	static const uint16_t src_only[][2] = {{8, 4}, {2, 4}};
	static const uint16_t mixed[][2] = {{8, 4}, {28, 16}, {2, 4}};

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, 350, none, 2);
	tmpl(&b, 351, src_only, 2);
	tmpl(&b, 352, mixed, 3);
	size_t s = b_set_begin(&b, 350);
	b_u32(&b, 1);
	b_u32(&b, 100);
	b_set_end(&b, s);
	s = b_set_begin(&b, 351);
	b_v4(&b, 10, 0, 0, 1);
	b_u32(&b, 1);
	b_set_end(&b, s);
	s = b_set_begin(&b, 352);
	b_v4(&b, 10, 0, 0, 1);
	b_bytes(&b, A6D, 16);
	b_u32(&b, 1);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(sb.calls, 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_ADDRESS), 3);
	assert_int_equal(drops_total(d), 3);
	assert_string_equal(decoder_drop_name(DECODER_DROP_NO_ADDRESS), "noAddress");
	decoder_destroy(d);
}

/*
 * Templates and samplers belong to the exporter (address, observation
 * domain), not to the source port (issue 11 §2): a Cisco exporter that
 * sends templates and sampler options from one socket and data from two
 * others decodes every record, scaled by the sampler; each socket keeps its
 * own sequence numbers, so interleaved streams show no loss. With
 * templates.scope: session the data sockets have no templates.
 */
static int scope_run(enum decoder_template_scope scope, struct decoder **out)
{
	struct decoder_config cfg;
	static const uint16_t of[][2] = {{302, 4}, {305, 4}, {306, 4}};
	static const uint16_t df[][2] = {{8, 4}, {12, 4}, {2, 4}, {302, 4}};
	struct flow_endpoint ctl = ep_v4(198, 18, 0, 1, 4739);
	struct flow_endpoint dp[2] = {ep_v4(198, 18, 0, 1, 50001), ep_v4(198, 18, 0, 1, 50002)};
	uint32_t seq[2] = {0, 7000};
	int got = 0;

	decoder_config_defaults(&cfg);
	cfg.template_scope = scope;
	struct decoder *d = decoder_create(&cfg);
	assert_non_null(d);
	memset(&sb, 0, sizeof(sb));
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	opt_tmpl(&b, 500, of, 3, 1);
	tmpl(&b, 510, df, 4);
	size_t s = b_set_begin(&b, 500);
	b_u32(&b, 7);
	b_u32(&b, 1);
	b_u32(&b, 99); /* selector 7: 1 in 100 */
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &ctl, &b, 0, &sb), 0);
	/* Data from the two sockets, interleaved, three records a message. */
	for (int round = 0; round < 4; round++) {
		for (int k = 0; k < 2; k++) {
			b_ipfix_header(&b, SECS, seq[k], DOMAIN);
			s = b_set_begin(&b, 510);
			for (int r = 0; r < 3; r++) {
				b_addrs(&b);
				b_u32(&b, 2);
				b_u32(&b, 7);
			}
			b_set_end(&b, s);
			b_ipfix_end(&b);
			got += feed(d, &dp[k], &b, 0, &sb);
			seq[k] += 3;
		}
	}
	*out = d;
	return got;
}

static void test_ipfix_scope_exporter(void **state)
{
	(void)state;
	struct decoder *d;

	assert_int_equal(scope_run(DECODER_SCOPE_EXPORTER, &d), 24);
	assert_int_equal(sb.n, 24);
	for (size_t i = 0; i < sb.n; i++) {
		assert_int_equal(sb.f[i].sampling, 100);
		assert_int_equal(sb.f[i].packets, 200);
	}
	assert_int_equal(drops_total(d), 0);
	assert_int_equal(stats(d).lost_records, 0);
	assert_int_equal(stats(d).reordered, 0);
	assert_int_equal(stats(d).exporter_restarts, 0);
	/* Three sessions, one set of templates: each reports it. */
	struct decoder_exporter_info info[4];
	assert_int_equal(decoder_exporters_get(d, info, 4), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(info[i].templates, 2);
		assert_int_equal(info[i].records, i == 0 ? 0 : 12);
	}
	/* A withdrawal from any socket of the exporter withdraws for all. */
	struct flow_endpoint dp = ep_v4(198, 18, 0, 1, 50001);
	b_ipfix_header(&b, SECS, 12, DOMAIN);
	size_t s = b_set_begin(&b, 2);
	b_u16(&b, 510);
	b_u16(&b, 0);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &dp, &b, 0, &sb), 0);
	decoder_exporters_get(d, info, 4);
	assert_int_equal(info[0].templates, 1);
	/* Another observation domain of the same address is another exporter. */
	b_ipfix_header(&b, SECS, 0, DOMAIN + 1);
	s = b_set_begin(&b, 500);
	b_u32(&b, 7);
	b_u32(&b, 1);
	b_u32(&b, 1);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &dp, &b, 0, &sb), 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	decoder_destroy(d);
}

static void test_ipfix_scope_session(void **state)
{
	(void)state;
	struct decoder *d;

	assert_int_equal(scope_run(DECODER_SCOPE_SESSION, &d), 0);
	assert_int_equal(sb.calls, 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 8);
	struct decoder_exporter_info info[4];
	assert_int_equal(decoder_exporters_get(d, info, 4), 3);
	assert_int_equal(info[0].templates, 2);
	assert_int_equal(info[1].templates, 0);
	assert_int_equal(info[2].templates, 0);
	decoder_destroy(d);
}

/*
 * The template table against a model: random defines (two layouts, so a
 * redefinition is visible), single and all withdrawals over a pool of 160
 * random template IDs, with the cap at 48 so the table stays crowded and
 * probe runs wrap around its end. After each step every pooled ID is
 * probed with a data set and must decode exactly as the model says.
 */
#define POOL 160
static void test_ipfix_template_table_model(void **state)
{
	(void)state;
	struct decoder_config cfg;
	static const uint16_t f4[][2] = {{8, 4}, {12, 4}, {2, 4}};
	static const uint16_t f8[][2] = {{8, 4}, {12, 4}, {2, 8}};
	uint16_t ids[POOL];
	int model[POOL]; /* 0 absent, 4 or 8: packet field length */
	int held = 0;
	uint32_t rnd = 12345;

	decoder_config_defaults(&cfg);
	cfg.max_templates_per_exporter = 48;
	struct decoder *d = decoder_create(&cfg);
	from = ep_v4(198, 18, 0, 1, 4739);
	memset(model, 0, sizeof(model));
	for (int i = 0; i < POOL; i++) {
		rnd = rnd * 1103515245u + 12345u;
		ids[i] = (uint16_t)(256 + i + 160 * ((rnd >> 8) % 400)); /* distinct */
	}
	for (int step = 0; step < 600; step++) {
		rnd = rnd * 1103515245u + 12345u;
		int id = (int)((rnd >> 8) % POOL), op = (int)((rnd >> 20) % 20);
		b_ipfix_header(&b, SECS, 0, DOMAIN);
		if (op < 12) {
			int w = (rnd >> 4) & 1 ? 8 : 4;
			tmpl(&b, ids[id], w == 8 ? f8 : f4, 3);
			if (model[id] || held < 48) {
				held += model[id] ? 0 : 1;
				model[id] = w;
			}
		} else if (op < 19) {
			size_t s = b_set_begin(&b, 2);
			b_u16(&b, ids[id]);
			b_u16(&b, 0);
			b_set_end(&b, s);
			held -= model[id] ? 1 : 0;
			model[id] = 0;
		} else {
			size_t s = b_set_begin(&b, 2);
			b_u16(&b, 2);
			b_u16(&b, 0);
			b_set_end(&b, s);
			memset(model, 0, sizeof(model));
			held = 0;
		}
		b_ipfix_end(&b);
		feed(d, &from, &b, 0, &sb);
		for (int k = 0; k < POOL; k++) {
			b_ipfix_header(&b, SECS, 0, DOMAIN);
			size_t s = b_set_begin(&b, ids[k]);
			/* 48 bytes of 0x01: four 12-byte records or three of 16. */
			for (int q = 0; q < 48; q++)
				b_u8(&b, 1);
			b_set_end(&b, s);
			b_ipfix_end(&b);
			memset(&sb, 0, sizeof(sb));
			int rc = feed(d, &from, &b, 0, &sb);
			int want = model[k] == 4 ? 4 : model[k] == 8 ? 3 : 0;
			if (rc != want)
				fail_msg("step %d id %u: got %d records, model says %d", step,
				         ids[k], rc, want);
			if (want == 3)
				assert_int_equal(sb.f[0].packets, 0x0101010101010101ull);
		}
		struct decoder_exporter_info info;
		decoder_exporters_get(d, &info, 1);
		assert_int_equal(info.templates, held);
	}
	decoder_destroy(d);
}

/*
 * Deleting from a probe run that wraps around the end of the table. The
 * home slot formula mirrors tslot_home() in src/decode/tmpl.c (16 slots
 * while few templates are held): A sits in the last slot, C (home 0) in
 * slot 0; withdrawing A must leave C findable.
 */
static uint32_t home16(uint16_t id)
{
	return ((uint32_t)id * 2654435761u >> 16) & 15;
}

static void test_ipfix_template_wraparound(void **state)
{
	(void)state;
	static const uint16_t f[][2] = {{8, 4}, {12, 4}, {2, 4}};
	uint16_t a = 0, c = 0;
	struct decoder *d = mk();

	for (uint32_t id = 256; id < 65536 && (!a || !c); id++) {
		if (!a && home16((uint16_t)id) == 15)
			a = (uint16_t)id;
		else if (!c && home16((uint16_t)id) == 0)
			c = (uint16_t)id;
	}
	b_ipfix_header(&b, SECS, 0, DOMAIN);
	tmpl(&b, a, f, 3);
	tmpl(&b, c, f, 3);
	size_t s = b_set_begin(&b, 2);
	b_u16(&b, a);
	b_u16(&b, 0);
	b_set_end(&b, s);
	s = b_set_begin(&b, c);
	b_addrs(&b);
	b_u32(&b, 77);
	b_set_end(&b, s);
	s = b_set_begin(&b, a);
	b_addrs(&b);
	b_u32(&b, 78);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].packets, 77);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	decoder_destroy(d);
}

enum bad_kind {
	BAD_SHORT_HEADER,
	BAD_LEN_BEYOND,
	BAD_LEN_UNDER_HEADER,
	BAD_SET_SHORT,
	BAD_SET_BEYOND,
	BAD_RESERVED,
	BAD_SCOPE_ZERO,
	BAD_SCOPE_OVER,
	BAD_ENT_TRUNC,
	BAD_TMPL_LOW_ID,
	BAD_VARLEN,
	BAD_RECORD_SHORT,
	BAD_NO_TEMPLATE,
	BAD_TMPL_ZERO_LEN,
};

static void build_bad(enum bad_kind k)
{
	static const uint16_t f[][2] = {{2, 4}, {96, 65535}};
	static const uint16_t fa[][2] = {{8, 4}, {12, 4}, {2, 4}};
	size_t s;

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	switch (k) {
	case BAD_SHORT_HEADER:
		b.n = 15;
		return;
	case BAD_LEN_BEYOND:
		b_u32(&b, 0);
		b_ipfix_end(&b);
		b.n -= 1;
		return;
	case BAD_LEN_UNDER_HEADER:
		b.b[3] = 15;
		return;
	case BAD_SET_SHORT:
		b_u16(&b, 256);
		b_u16(&b, 2);
		break;
	case BAD_SET_BEYOND:
		b_u16(&b, 256);
		b_u16(&b, 9);
		b_u32(&b, 0);
		break;
	case BAD_RESERVED:
		s = b_set_begin(&b, 4);
		b_u32(&b, 0);
		b_set_end(&b, s);
		break;
	case BAD_SCOPE_ZERO:
		s = b_set_begin(&b, 3);
		b_u16(&b, 256);
		b_u16(&b, 1);
		b_u16(&b, 0);
		b_u16(&b, 34);
		b_u16(&b, 4);
		b_set_end(&b, s);
		break;
	case BAD_SCOPE_OVER:
		s = b_set_begin(&b, 3);
		b_u16(&b, 256);
		b_u16(&b, 1);
		b_u16(&b, 2);
		b_u16(&b, 34);
		b_u16(&b, 4);
		b_set_end(&b, s);
		break;
	case BAD_ENT_TRUNC: /* enterprise bit set, enterprise number cut */
		s = b_set_begin(&b, 2);
		b_u16(&b, 256);
		b_u16(&b, 1);
		b_u16(&b, 0x8001);
		b_u16(&b, 4);
		b_u16(&b, 0);
		b_set_end(&b, s);
		break;
	case BAD_TMPL_LOW_ID:
		s = b_set_begin(&b, 2);
		b_u16(&b, 100);
		b_u16(&b, 1);
		b_u16(&b, 2);
		b_u16(&b, 4);
		b_set_end(&b, s);
		break;
	case BAD_VARLEN:
		tmpl(&b, 256, f, 2);
		s = b_set_begin(&b, 256);
		b_u32(&b, 1);
		b_u8(&b, 9);
		b_u16(&b, 0);
		b_set_end(&b, s);
		break;
	case BAD_RECORD_SHORT:
		tmpl(&b, 256, fa, 3);
		s = b_set_begin(&b, 256);
		b_addrs(&b);
		b_u32(&b, 1);
		b_u16(&b, 7);
		b_set_end(&b, s);
		break;
	case BAD_NO_TEMPLATE:
		s = b_set_begin(&b, 256);
		b_u32(&b, 1);
		b_set_end(&b, s);
		break;
	case BAD_TMPL_ZERO_LEN:
		s = b_set_begin(&b, 2);
		b_u16(&b, 256);
		b_u16(&b, 1);
		b_u16(&b, 2);
		b_u16(&b, 0);
		b_set_end(&b, s);
		break;
	}
	b_ipfix_end(&b);
}

static void test_ipfix_malformed_table(void **state)
{
	(void)state;
	static const struct {
		enum bad_kind k;
		enum decoder_drop why;
		int rc;
		unsigned records;
	} cases[] = {
	    {BAD_SHORT_HEADER, DECODER_DROP_SHORT_HEADER, -(1 + DECODER_DROP_SHORT_HEADER), 0},
	    {BAD_LEN_BEYOND, DECODER_DROP_BAD_LENGTH, -(1 + DECODER_DROP_BAD_LENGTH), 0},
	    {BAD_LEN_UNDER_HEADER, DECODER_DROP_BAD_LENGTH, -(1 + DECODER_DROP_BAD_LENGTH), 0},
	    {BAD_SET_SHORT, DECODER_DROP_SET_SHORT, 0, 0},
	    {BAD_SET_BEYOND, DECODER_DROP_SET_LENGTH, 0, 0},
	    {BAD_RESERVED, DECODER_DROP_SET_RESERVED, 0, 0},
	    {BAD_SCOPE_ZERO, DECODER_DROP_TEMPLATE_INVALID, 0, 0},
	    {BAD_SCOPE_OVER, DECODER_DROP_TEMPLATE_INVALID, 0, 0},
	    {BAD_ENT_TRUNC, DECODER_DROP_TEMPLATE_INVALID, 0, 0},
	    {BAD_TMPL_LOW_ID, DECODER_DROP_TEMPLATE_INVALID, 0, 0},
	    {BAD_VARLEN, DECODER_DROP_VARLEN, 0, 0},
	    {BAD_RECORD_SHORT, DECODER_DROP_RECORD_INVALID, 1, 1},
	    {BAD_NO_TEMPLATE, DECODER_DROP_NO_TEMPLATE, 0, 0},
	    {BAD_TMPL_ZERO_LEN, DECODER_DROP_TEMPLATE_INVALID, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decoder *d = mk();
		build_bad(cases[i].k);
		int rc = feed(d, &from, &b, 0, &sb);
		if (rc != cases[i].rc || drops(d, cases[i].why) != 1 || drops_total(d) != 1 ||
		    sb.n != cases[i].records)
			fail_msg("case %zu: rc %d, %s %llu, total %llu", i, rc,
			         decoder_drop_name(cases[i].why),
			         (unsigned long long)drops(d, cases[i].why),
			         (unsigned long long)drops_total(d));
		decoder_destroy(d);
	}
}

/* Every truncation, twice: as received (header length now beyond the
 * datagram) and with the header length patched to the cut (so each set
 * parser meets the cut). Either a drop is counted or the cut is on a set
 * boundary. */
static void test_ipfix_every_prefix(void **state)
{
	(void)state;
	static const uint16_t of[][2] = {{302, 4}, {305, 4}, {306, 4}};
	static const uint16_t vf[][2] = {{2, 4}, {96, 65535}, {1, 4}};
	size_t bounds[8], nb = 0;

	b_ipfix_header(&b, SECS, 0, DOMAIN);
	bounds[nb++] = b.n;
	opt_tmpl(&b, 500, of, 3, 1);
	bounds[nb++] = b.n;
	tmpl(&b, 300, std_fields, 13);
	bounds[nb++] = b.n;
	tmpl(&b, 301, vf, 3);
	bounds[nb++] = b.n;
	size_t s = b_set_begin(&b, 300);
	rec_std(&b, 1);
	b_set_end(&b, s);
	bounds[nb++] = b.n;
	s = b_set_begin(&b, 301);
	b_u32(&b, 1);
	b_u8(&b, 2);
	b_u16(&b, 0x4142);
	b_u32(&b, 2);
	b_set_end(&b, s);
	b_ipfix_end(&b);
	struct bld full = b;

	for (int patch = 0; patch < 2; patch++) {
		for (size_t n = 0; n < full.n; n++) {
			struct decoder *d = mk();
			uint8_t *copy = malloc(n ? n : 1);
			memcpy(copy, full.b, n);
			if (patch && n >= 4) {
				copy[2] = (uint8_t)(n >> 8);
				copy[3] = (uint8_t)n;
			}
			int rc = decoder_feed(d, &from, copy, n, 0, sink_collect, &sb);
			bool boundary = false;
			for (size_t i = 0; i < nb; i++)
				boundary |= n == bounds[i];
			if (!patch) {
				assert_true(rc < 0);
				assert_int_equal(drops_total(d), 1);
			} else if (boundary) {
				assert_int_equal(drops_total(d), 0);
			} else if (drops_total(d) < 1) {
				fail_msg("prefix %zu: nothing counted", n);
			}
			free(copy);
			decoder_destroy(d);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipfix_template_and_data),
	    cmocka_unit_test(test_ipfix_fragments),
	    cmocka_unit_test(test_ipfix_reduced_size),
	    cmocka_unit_test(test_ipfix_total_counts_fallback),
	    cmocka_unit_test(test_ipfix_icmp_type_code),
	    cmocka_unit_test(test_ipfix_varlen),
	    cmocka_unit_test(test_ipfix_withdrawal),
	    cmocka_unit_test(test_ipfix_times),
	    cmocka_unit_test(test_ipfix_options_sampling),
	    cmocka_unit_test(test_ipfix_sampling_iosxr),
	    cmocka_unit_test(test_ipfix_sampling_layouts),
	    cmocka_unit_test(test_ipfix_sampling_two_samplers),
	    cmocka_unit_test(test_ipfix_sampling_after_data),
	    cmocka_unit_test(test_ipfix_sampling_in_data_and_override),
	    cmocka_unit_test(test_ipfix_sequence),
	    cmocka_unit_test(test_ipfix_sequence_inclusive),
	    cmocka_unit_test(test_ipfix_addr_both_families),
	    cmocka_unit_test(test_ipfix_addr_varlen),
	    cmocka_unit_test(test_ipfix_addr_ip_version),
	    cmocka_unit_test(test_ipfix_addr_tunnel),
	    cmocka_unit_test(test_ipfix_addr_missing),
	    cmocka_unit_test(test_ipfix_scope_exporter),
	    cmocka_unit_test(test_ipfix_scope_session),
	    cmocka_unit_test(test_ipfix_template_table_model),
	    cmocka_unit_test(test_ipfix_template_wraparound),
	    cmocka_unit_test(test_ipfix_malformed_table),
	    cmocka_unit_test(test_ipfix_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
