/*
 * Unit tests for src/decode/v5.c: NetFlow v5 field mapping, times, header
 * sampling, sequence tracking and malformed headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decode_build.h"

#define T_SECS 1700000000u
#define T_NSECS 123456789u
#define T_UPTIME 100000u
#define T_EXPORT_MS (1700000000123ull)

static struct sinkbuf sb;

static void v5_header(struct bld *b, uint16_t count, uint32_t uptime, uint32_t seq, uint16_t samp)
{
	b_reset(b);
	b_u16(b, 5);
	b_u16(b, count);
	b_u32(b, uptime);
	b_u32(b, T_SECS);
	b_u32(b, T_NSECS);
	b_u32(b, seq);
	b_u8(b, 1); /* engine type */
	b_u8(b, 2); /* engine id */
	b_u16(b, samp);
}

static void v5_record(struct bld *b, uint8_t last_octet, uint32_t pkts, uint32_t octs,
                      uint32_t first, uint32_t last)
{
	b_v4(b, 10, 0, 0, last_octet); /* src */
	b_v4(b, 198, 51, 100, 7);      /* dst */
	b_v4(b, 10, 0, 0, 254);        /* nexthop */
	b_u16(b, 3);                   /* input */
	b_u16(b, 4);                   /* output */
	b_u32(b, pkts);
	b_u32(b, octs);
	b_u32(b, first);
	b_u32(b, last);
	b_u16(b, 40000); /* srcport */
	b_u16(b, 443);   /* dstport */
	b_u8(b, 0);      /* pad1 */
	b_u8(b, 0x1b);   /* tcp_flags */
	b_u8(b, 6);      /* prot */
	b_u8(b, 0);      /* tos */
	b_u16(b, 0);
	b_u16(b, 0);
	b_u8(b, 24);
	b_u8(b, 24);
	b_u16(b, 0);
}

static struct decoder *mk(void)
{
	struct decoder_config cfg;
	decoder_config_defaults(&cfg);
	struct decoder *d = decoder_create(&cfg);
	assert_non_null(d);
	memset(&sb, 0, sizeof(sb));
	return d;
}

static void build_two(struct bld *b, uint32_t seq, uint32_t uptime, uint16_t samp)
{
	v5_header(b, 2, uptime, seq, samp);
	v5_record(b, 1, 10, 1500, uptime - 10000, uptime - 1000);
	v5_record(b, 2, 20, 3000, uptime - 5000, uptime);
}

static void test_v5_normal(void **state)
{
	(void)state;
	struct decoder *d = mk();
	struct bld b;
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 2055);

	build_two(&b, 0, T_UPTIME, 0);
	assert_int_equal(b.n, 24 + 2 * 48);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(sb.n, 2);
	assert_int_equal(sb.calls, 1);
	const struct flow *f = &sb.f[0];
	assert_true(is_v4(&f->exporter, 192, 0, 2, 1));
	assert_true(is_v4(&f->src, 10, 0, 0, 1));
	assert_true(is_v4(&f->dst, 198, 51, 100, 7));
	assert_int_equal(f->packets, 10);
	assert_int_equal(f->octets, 1500);
	assert_int_equal(f->in_if, 3);
	assert_int_equal(f->out_if, 4);
	assert_int_equal(f->sport, 40000);
	assert_int_equal(f->dport, 443);
	assert_int_equal(f->proto, 6);
	assert_int_equal(f->tcp_flags, 0x1b);
	assert_int_equal(f->sampling, 1);
	assert_int_equal(f->export_ms, T_EXPORT_MS);
	assert_int_equal(f->first_ms, T_EXPORT_MS - 10000);
	assert_int_equal(f->last_ms, T_EXPORT_MS - 1000);
	assert_true(is_v4(&sb.f[1].src, 10, 0, 0, 2));
	assert_int_equal(sb.f[1].last_ms, T_EXPORT_MS);

	struct decoder_stats st = stats(d);
	assert_int_equal(st.datagrams, 1);
	assert_int_equal(st.datagrams_v5, 1);
	assert_int_equal(st.records, 2);
	assert_int_equal(drops_total(d), 0);

	struct decoder_exporter_info info[2];
	assert_int_equal(decoder_exporters_get(d, info, 2), 1);
	assert_int_equal(info[0].version, 5);
	assert_int_equal(info[0].domain, 0x0102);
	assert_int_equal(info[0].from.port, 2055);
	assert_int_equal(info[0].records, 2);
	decoder_destroy(d);
}

static void test_v5_uptime_wrap(void **state)
{
	(void)state;
	struct decoder *d = mk();
	struct bld b;
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 2055);

	/* Flow started 4096 ms before the 32-bit uptime wrapped, exported 1000 ms after. */
	v5_header(&b, 1, 1000, 0, 0);
	v5_record(&b, 1, 1, 1, 0xfffff000u, 500);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].first_ms, T_EXPORT_MS - 5096);
	assert_int_equal(sb.f[0].last_ms, T_EXPORT_MS - 500);
	decoder_destroy(d);
}

static void test_v5_sampling_header(void **state)
{
	(void)state;
	struct decoder *d = mk();
	struct bld b;
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 2055);

	/* Mode 1 (deterministic) in the top two bits, interval 100. */
	build_two(&b, 0, T_UPTIME, 0x4000 | 100);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(sb.f[0].sampling, 100);
	assert_int_equal(sb.f[0].packets, 1000);
	assert_int_equal(sb.f[0].octets, 150000);
	assert_int_equal(sb.f[1].packets, 2000);
	struct decoder_exporter_info info;
	assert_int_equal(decoder_exporters_get(d, &info, 1), 1);
	assert_int_equal(info.sampling, 100);
	/* Sampling switched off: the next header says 0, records are unscaled. */
	memset(&sb, 0, sizeof(sb));
	build_two(&b, 2, T_UPTIME + 1000, 0);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(sb.f[0].sampling, 1);
	assert_int_equal(sb.f[0].packets, 10);
	decoder_destroy(d);
}

static void test_v5_sampling_override(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct decoder_sampling_override ov;
	struct bld b;
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 2055);

	decoder_config_defaults(&cfg);
	memset(&ov, 0, sizeof(ov));
	ov.exporter = from.addr;
	ov.rate = 7;
	cfg.sampling = &ov;
	cfg.n_sampling = 1;
	struct decoder *d = decoder_create(&cfg);
	memset(&sb, 0, sizeof(sb));
	ov.rate = 9; /* the decoder holds a copy */
	build_two(&b, 0, T_UPTIME, 100);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(sb.f[0].sampling, 7);
	assert_int_equal(sb.f[0].packets, 70);
	assert_int_equal(sb.f[0].octets, 10500);
	decoder_destroy(d);
}

static void test_v5_sequence(void **state)
{
	(void)state;
	struct decoder *d = mk();
	struct bld b;
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 2055);

	build_two(&b, 100, T_UPTIME, 0);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	build_two(&b, 102, T_UPTIME + 1000, 0); /* in order */
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(stats(d).lost_records, 0);
	build_two(&b, 110, T_UPTIME + 3000, 0); /* 6 records missing (104..109) */
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(stats(d).lost_records, 6);
	build_two(&b, 106, T_UPTIME + 2000, 0); /* one of them arrives late */
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(stats(d).lost_records, 6);
	assert_int_equal(stats(d).reordered, 1);
	assert_int_equal(stats(d).exporter_restarts, 0);
	build_two(&b, 112, T_UPTIME + 4000, 0); /* still in order after the late one */
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(stats(d).lost_records, 6);
	/* Restart: uptime back to 5 s, sequence back to 0. */
	build_two(&b, 0, 15000, 0);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(stats(d).exporter_restarts, 1);
	assert_int_equal(stats(d).lost_records, 6);
	build_two(&b, 2, 16000, 0);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(stats(d).lost_records, 6);
	assert_int_equal(stats(d).exporter_restarts, 1);
	struct decoder_exporter_info info;
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.lost_records, 6);
	assert_int_equal(info.restarts, 1);
	assert_int_equal(info.datagrams, 7);
	decoder_destroy(d);
}

/* 0.0.0.0 as source or destination: noAddress, counted, the rest delivered. */
static void test_v5_zero_address(void **state)
{
	(void)state;
	struct decoder *d = mk();
	struct bld b;
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 2055);

	v5_header(&b, 3, T_UPTIME, 50, 0);
	v5_record(&b, 1, 10, 1500, T_UPTIME - 10, T_UPTIME);
	v5_record(&b, 2, 20, 3000, T_UPTIME - 10, T_UPTIME);
	v5_record(&b, 3, 30, 4500, T_UPTIME - 10, T_UPTIME);
	memset(b.b + 24, 0, 4);          /* record 1: source 0.0.0.0 */
	memset(b.b + 24 + 48 + 4, 0, 4); /* record 2: destination 0.0.0.0 */
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.n, 1);
	assert_int_equal(sb.f[0].packets, 30);
	assert_int_equal(drops(d, DECODER_DROP_NO_ADDRESS), 2);
	assert_int_equal(stats(d).records, 1);
	/* The sequence counted all three: the next datagram shows no loss. */
	build_two(&b, 53, T_UPTIME + 1000, 0);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(stats(d).lost_records, 0);
	struct decoder_exporter_info info;
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.records, 3);
	decoder_destroy(d);
}

struct bad_case {
	const char *name;
	size_t len; /* bytes fed */
	uint16_t version;
	uint16_t count;
	enum decoder_drop why;
};

static void test_v5_malformed_table(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
	    {"one byte", 1, 5, 1, DECODER_DROP_SHORT_HEADER},
	    {"header minus one", 23, 5, 1, DECODER_DROP_SHORT_HEADER},
	    {"count zero", 24 + 48, 5, 0, DECODER_DROP_BAD_LENGTH},
	    {"count 31", 24 + 31 * 48, 5, 31, DECODER_DROP_BAD_LENGTH},
	    {"count beyond datagram", 24 + 48, 5, 2, DECODER_DROP_BAD_LENGTH},
	    {"last record short", 24 + 2 * 48 - 1, 5, 2, DECODER_DROP_BAD_LENGTH},
	    {"version 6", 24 + 48, 6, 1, DECODER_DROP_BAD_VERSION},
	    {"version 0", 24 + 48, 0, 1, DECODER_DROP_BAD_VERSION},
	};
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 2055);
	static struct bld b;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decoder *d = mk();
		v5_header(&b, cases[i].count, T_UPTIME, 0, 0);
		for (int r = 0; r < 31; r++)
			v5_record(&b, 1, 1, 1, 1, 1);
		b.b[0] = (uint8_t)(cases[i].version >> 8);
		b.b[1] = (uint8_t)cases[i].version;
		int rc = decoder_feed(d, &from, b.b, cases[i].len, 0, sink_collect, &sb);
		if (rc != -(1 + (int)cases[i].why) || drops(d, cases[i].why) != 1 ||
		    drops_total(d) != 1 || sb.n != 0)
			fail_msg("case '%s': rc %d", cases[i].name, rc);
		decoder_destroy(d);
	}
}

/* curl unit1650 style: every truncation of a valid datagram fails cleanly. */
static void test_v5_every_prefix(void **state)
{
	(void)state;
	struct bld b;
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 2055);

	build_two(&b, 0, T_UPTIME, 0);
	for (size_t n = 0; n < b.n; n++) {
		struct decoder *d = mk();
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
		memcpy(copy, b.b, n);
		int rc = decoder_feed(d, &from, copy, n, 0, sink_collect, &sb);
		assert_true(rc < 0);
		assert_int_equal(sb.n, 0);
		assert_int_equal(drops_total(d), 1);
		free(copy);
		decoder_destroy(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v5_normal),          cmocka_unit_test(test_v5_uptime_wrap),
	    cmocka_unit_test(test_v5_sampling_header), cmocka_unit_test(test_v5_sampling_override),
	    cmocka_unit_test(test_v5_sequence),        cmocka_unit_test(test_v5_malformed_table),
	    cmocka_unit_test(test_v5_zero_address),    cmocka_unit_test(test_v5_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
