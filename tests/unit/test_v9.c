/*
 * Unit tests for src/decode/v9.c and the template cache (tmpl.c) as NetFlow
 * v9 uses it: templates, options templates, redefinition, expiry, sampling
 * from options data, time conversion, sequence numbers, malformed flowsets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "decode_build.h"

#define SECS 1700000000u
#define UPTIME 100000u
#define EXPORT_MS 1700000000000ull
#define SRC_ID 77u

static struct sinkbuf sb;
static struct bld b;
static struct flow_endpoint from;

static struct decoder *mk_cfg(uint32_t lifetime_s, uint32_t max_tmpl)
{
	struct decoder_config cfg;
	decoder_config_defaults(&cfg);
	if (lifetime_s)
		cfg.template_lifetime_s = lifetime_s;
	if (max_tmpl)
		cfg.max_templates_per_exporter = max_tmpl;
	struct decoder *d = decoder_create(&cfg);
	assert_non_null(d);
	memset(&sb, 0, sizeof(sb));
	from = ep_v4(192, 0, 2, 9, 9995);
	return d;
}

static struct decoder *mk(void)
{
	return mk_cfg(0, 0);
}

/* Template 256: 35-byte records; tos (5) is present but unused. */
static void tmpl_std(struct bld *x, uint16_t tid)
{
	size_t s = b_set_begin(x, 0);
	static const uint16_t f[][2] = {{8, 4}, {12, 4}, {7, 2},  {11, 2}, {4, 1},  {5, 1}, {6, 1},
	                                {2, 4}, {1, 4},  {10, 2}, {14, 2}, {22, 4}, {21, 4}};
	b_u16(x, tid);
	b_u16(x, 13);
	for (int i = 0; i < 13; i++) {
		b_u16(x, f[i][0]);
		b_u16(x, f[i][1]);
	}
	b_set_end(x, s);
}

static void rec_std(struct bld *x, uint8_t host, uint32_t pkts, uint32_t octs)
{
	b_v4(x, 10, 1, 1, host);
	b_v4(x, 203, 0, 113, 5);
	b_u16(x, 5353);
	b_u16(x, 53);
	b_u8(x, 17);
	b_u8(x, 0xb8); /* tos: skipped */
	b_u8(x, 0x02);
	b_u32(x, pkts);
	b_u32(x, octs);
	b_u16(x, 7);
	b_u16(x, 8);
	b_u32(x, UPTIME - 10000);
	b_u32(x, UPTIME - 2000);
}

static void data_std(struct bld *x, uint16_t tid, int n)
{
	size_t s = b_set_begin(x, tid);
	for (int i = 0; i < n; i++)
		rec_std(x, (uint8_t)(i + 1), 100u + (uint32_t)i, 5000u + (uint32_t)i);
	/* 35 * n bytes: pad to 32 bits with zeros, as RFC 3954 §5.3 allows. */
	while ((x->n - s) % 4)
		b_u8(x, 0);
	b_set_end(x, s);
}

static void test_v9_template_and_data(void **state)
{
	(void)state;
	struct decoder *d = mk();

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	tmpl_std(&b, 256);
	data_std(&b, 256, 3);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 3);
	assert_int_equal(sb.n, 3);
	const struct flow *f = &sb.f[0];
	assert_true(is_v4(&f->exporter, 192, 0, 2, 9));
	assert_true(is_v4(&f->src, 10, 1, 1, 1));
	assert_true(is_v4(&f->dst, 203, 0, 113, 5));
	assert_int_equal(f->sport, 5353);
	assert_int_equal(f->dport, 53);
	assert_int_equal(f->proto, 17);
	assert_int_equal(f->tcp_flags, 2);
	assert_int_equal(f->packets, 100);
	assert_int_equal(f->octets, 5000);
	assert_int_equal(f->in_if, 7);
	assert_int_equal(f->out_if, 8);
	assert_int_equal(f->export_ms, EXPORT_MS);
	assert_int_equal(f->first_ms, EXPORT_MS - 10000);
	assert_int_equal(f->last_ms, EXPORT_MS - 2000);
	assert_int_equal(f->sampling, 1);
	assert_true(is_v4(&sb.f[2].src, 10, 1, 1, 3));
	assert_int_equal(sb.f[2].octets, 5002);

	struct decoder_stats st = stats(d);
	assert_int_equal(st.datagrams_v9, 1);
	assert_int_equal(st.templates_added, 1);
	assert_int_equal(st.records, 3);
	assert_int_equal(drops_total(d), 0);
	struct decoder_exporter_info info;
	assert_int_equal(decoder_exporters_get(d, &info, 1), 1);
	assert_int_equal(info.domain, SRC_ID);
	assert_int_equal(info.templates, 1);
	decoder_destroy(d);
}

static void test_v9_data_before_template(void **state)
{
	(void)state;
	struct decoder *d = mk();

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	data_std(&b, 256, 2);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	assert_int_equal(sb.calls, 0);
	b_v9_header(&b, UPTIME, SECS, 1, SRC_ID);
	tmpl_std(&b, 256);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	b_v9_header(&b, UPTIME, SECS, 2, SRC_ID);
	data_std(&b, 256, 2);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	/* Another source ID on the same address is another exporter. */
	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID + 1);
	data_std(&b, 256, 2);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 2);
	/* Another port of the same exporter is another session, but shares the
	 * exporter's templates (templates.scope: exporter, the default). */
	struct flow_endpoint other = from;
	other.port++;
	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	data_std(&b, 256, 2);
	assert_int_equal(decoder_feed(d, &other, b.b, b.n, 0, sink_collect, &sb), 2);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 2);
	assert_int_equal(stats(d).exporters, 3);
	decoder_destroy(d);
}

static void test_v9_redefine_and_refresh(void **state)
{
	(void)state;
	struct decoder *d = mk();

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	tmpl_std(&b, 256);
	tmpl_std(&b, 256); /* identical resend */
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(stats(d).templates_added, 1);
	assert_int_equal(stats(d).templates_refreshed, 1);

	/* Redefine 256 as IPv6 with 8-byte counters. */
	b_v9_header(&b, UPTIME, SECS, 1, SRC_ID);
	size_t s = b_set_begin(&b, 0);
	b_u16(&b, 256);
	b_u16(&b, 4);
	b_u16(&b, 27);
	b_u16(&b, 16);
	b_u16(&b, 28);
	b_u16(&b, 16);
	b_u16(&b, 1);
	b_u16(&b, 8);
	b_u16(&b, 2);
	b_u16(&b, 8);
	b_set_end(&b, s);
	s = b_set_begin(&b, 256);
	uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
	b_bytes(&b, a6, 16);
	b_bytes(&b, b6, 16);
	b_u64(&b, 0x100000000ull);
	b_u64(&b, 3);
	b_set_end(&b, s);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_memory_equal(sb.f[0].src.b, a6, 16);
	assert_memory_equal(sb.f[0].dst.b, b6, 16);
	assert_int_equal(sb.f[0].octets, 0x100000000ull);
	assert_int_equal(sb.f[0].packets, 3);
	assert_int_equal(sb.f[0].first_ms, 0);
	assert_int_equal(stats(d).templates_added, 2);
	struct decoder_exporter_info info;
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.templates, 1);
	decoder_destroy(d);
}

static void test_v9_expiry(void **state)
{
	(void)state;
	struct decoder *d = mk_cfg(60, 0);

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	tmpl_std(&b, 256);
	assert_int_equal(feed(d, &from, &b, 1000, &sb), 0);
	b_v9_header(&b, UPTIME, SECS, 1, SRC_ID);
	data_std(&b, 256, 1);
	assert_int_equal(feed(d, &from, &b, 61000, &sb), 1); /* exactly 60 s: alive */
	b_v9_header(&b, UPTIME, SECS, 2, SRC_ID);
	data_std(&b, 256, 1);
	assert_int_equal(feed(d, &from, &b, 61001, &sb), 0);
	assert_int_equal(stats(d).templates_expired, 1);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	struct decoder_exporter_info info;
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.templates, 0);
	decoder_destroy(d);
}

/* Options template: scope System (1, 4 bytes), then the given option fields. */
static void opt_tmpl(struct bld *x, uint16_t tid, const uint16_t (*f)[2], int n)
{
	size_t s = b_set_begin(x, 1);
	b_u16(x, tid);
	b_u16(x, 4);                 /* scope length, bytes */
	b_u16(x, (uint16_t)(4 * n)); /* options length, bytes */
	b_u16(x, 1);
	b_u16(x, 4);
	for (int i = 0; i < n; i++) {
		b_u16(x, f[i][0]);
		b_u16(x, f[i][1]);
	}
	while ((x->n - s) % 4)
		b_u8(x, 0);
	b_set_end(x, s);
}

static void test_v9_options_sampling(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t interval[][2] = {{34, 4}, {35, 1}};

	/* Exporter-wide SAMPLING_INTERVAL 512 (scope System). */
	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	opt_tmpl(&b, 300, interval, 2);
	size_t s = b_set_begin(&b, 300);
	b_u32(&b, 0);   /* scope: system */
	b_u32(&b, 512); /* interval */
	b_u8(&b, 2);    /* algorithm: random */
	while ((b.n - s) % 4)
		b_u8(&b, 0);
	b_set_end(&b, s);
	tmpl_std(&b, 256);
	data_std(&b, 256, 1);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].sampling, 512);
	assert_int_equal(sb.f[0].packets, 100 * 512);
	assert_int_equal(sb.f[0].octets, 5000 * 512);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

static void test_v9_sampler_id(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t sampler[][2] = {{48, 1}, {49, 1}, {50, 4}};

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	opt_tmpl(&b, 300, sampler, 3);
	size_t s = b_set_begin(&b, 300);
	b_u32(&b, 0);
	b_u8(&b, 3);
	b_u8(&b, 2);
	b_u32(&b, 1000); /* sampler 3: 1 in 1000 */
	b_u32(&b, 0);
	b_u8(&b, 4);
	b_u8(&b, 2);
	b_u32(&b, 10); /* sampler 4: 1 in 10 */
	while ((b.n - s) % 4)
		b_u8(&b, 0);
	b_set_end(&b, s);
	/* Data template with a FLOW_SAMPLER_ID per record. */
	s = b_set_begin(&b, 0);
	b_u16(&b, 257);
	b_u16(&b, 5);
	b_u16(&b, 8);
	b_u16(&b, 4);
	b_u16(&b, 12);
	b_u16(&b, 4);
	b_u16(&b, 2);
	b_u16(&b, 4);
	b_u16(&b, 1);
	b_u16(&b, 4);
	b_u16(&b, 48);
	b_u16(&b, 1);
	b_set_end(&b, s);
	s = b_set_begin(&b, 257);
	b_addrs(&b);
	b_u32(&b, 2);
	b_u32(&b, 100);
	b_u8(&b, 3);
	b_addrs(&b);
	b_u32(&b, 2);
	b_u32(&b, 100);
	b_u8(&b, 4);
	b_addrs(&b);
	b_u32(&b, 2);
	b_u32(&b, 100);
	b_u8(&b, 9); /* unknown sampler: unsampled */
	b_u8(&b, 0);
	b_set_end(&b, s);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 3);
	assert_int_equal(sb.f[0].sampling, 1000);
	assert_int_equal(sb.f[0].packets, 2000);
	assert_int_equal(sb.f[0].octets, 100000);
	assert_int_equal(sb.f[1].sampling, 10);
	assert_int_equal(sb.f[1].packets, 20);
	assert_int_equal(sb.f[2].sampling, 1);
	assert_int_equal(sb.f[2].packets, 2);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

/* Write v big-endian in len (1..8) bytes. */
static void b_uint(struct bld *x, uint64_t v, uint16_t len)
{
	for (int i = len - 1; i >= 0; i--)
		b_u8(x, (uint8_t)(v >> (8 * i)));
}

/* Data template tid: addresses, IN_PKTS, IN_BYTES (4 each), FLOW_SAMPLER_ID (id_len). */
static void tmpl_sampled(struct bld *x, uint16_t tid, uint16_t id_len)
{
	static const uint16_t f[][2] = {{8, 4}, {12, 4}, {2, 4}, {1, 4}};
	size_t s = b_set_begin(x, 0);
	b_u16(x, tid);
	b_u16(x, 5);
	for (int i = 0; i < 4; i++) {
		b_u16(x, f[i][0]);
		b_u16(x, f[i][1]);
	}
	b_u16(x, 48);
	b_u16(x, id_len);
	b_set_end(x, s);
}

static void rec_sampled(struct bld *x, uint32_t pkts, uint32_t octs, uint64_t id, uint16_t id_len)
{
	b_addrs(x);
	b_u32(x, pkts);
	b_u32(x, octs);
	b_uint(x, id, id_len);
}

static void pad32(struct bld *x, size_t s)
{
	while ((x->n - s) % 4)
		b_u8(x, 0);
}

/*
 * Sampler options as Cisco IOS XE and IOS XR send them in v9 (scope
 * System; FLOW_SAMPLER_ID, FLOW_SAMPLER_MODE, FLOW_SAMPLER_RANDOM_INTERVAL)
 * with sampler IDs of 1, 2 and 4 bytes: two samplers of different rates,
 * and records naming each in one datagram. A template without
 * FLOW_SAMPLER_ID then has no single rate: unscaled and counted.
 */
static void test_v9_sampler_id_sizes(void **state)
{
	(void)state;
	static const uint16_t lens[] = {1, 2, 4};

	for (size_t k = 0; k < 3; k++) {
		uint16_t il = lens[k];
		/* IDs that need the whole field: 1 and 2 fit any size. */
		uint64_t id_a = 1, id_b = il == 1 ? 0xfe : il == 2 ? 0xfe01 : 0xfe010203ull;
		uint16_t of[][2] = {{48, il}, {49, 1}, {50, 4}};
		struct decoder *d = mk();

		b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
		opt_tmpl(&b, 300, of, 3);
		size_t s = b_set_begin(&b, 300);
		b_u32(&b, 0);
		b_uint(&b, id_a, il);
		b_u8(&b, 2);
		b_u32(&b, 100); /* sampler a: random 1 out-of 100 */
		b_u32(&b, 0);
		b_uint(&b, id_b, il);
		b_u8(&b, 2);
		b_u32(&b, 2000); /* sampler b: 1 out-of 2000 */
		pad32(&b, s);
		b_set_end(&b, s);
		tmpl_sampled(&b, 257, il);
		tmpl_std(&b, 256);
		s = b_set_begin(&b, 257);
		rec_sampled(&b, 2, 100, id_a, il);
		rec_sampled(&b, 3, 120, id_b, il);
		rec_sampled(&b, 5, 500, id_a, il);
		pad32(&b, s);
		b_set_end(&b, s);
		data_std(&b, 256, 1);
		assert_int_equal(feed(d, &from, &b, 0, &sb), 4);
		assert_int_equal(sb.f[0].sampling, 100);
		assert_int_equal(sb.f[0].packets, 200);
		assert_int_equal(sb.f[0].octets, 10000);
		assert_int_equal(sb.f[1].sampling, 2000);
		assert_int_equal(sb.f[1].packets, 6000);
		assert_int_equal(sb.f[1].octets, 240000);
		assert_int_equal(sb.f[2].sampling, 100);
		assert_int_equal(sb.f[2].packets, 500);
		assert_int_equal(sb.f[2].octets, 50000);
		assert_int_equal(sb.f[3].sampling, 1);
		assert_int_equal(sb.f[3].packets, 100);
		assert_int_equal(sb.f[3].octets, 5000);
		assert_int_equal(stats(d).unscaled_records, 1);
		assert_int_equal(drops_total(d), 0);
		decoder_destroy(d);
	}
}

/*
 * FLOW_SAMPLER_ID as the options template's scope field (not one of RFC
 * 3954's scope types, but it names the sampler): the rate is that
 * sampler's, not the exporter's, so a record naming another one is
 * unscaled; the one sampler known scales records that name none (or 0).
 */
static void test_v9_sampler_id_scope(void **state)
{
	(void)state;
	struct decoder *d = mk();

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	size_t s = b_set_begin(&b, 1);
	b_u16(&b, 300);
	b_u16(&b, 4); /* scope: FLOW_SAMPLER_ID, 2 bytes */
	b_u16(&b, 8); /* options: SAMPLING_INTERVAL 4, SAMPLING_ALGORITHM 1 */
	b_u16(&b, 48);
	b_u16(&b, 2);
	b_u16(&b, 34);
	b_u16(&b, 4);
	b_u16(&b, 35);
	b_u16(&b, 1);
	b_set_end(&b, s);
	s = b_set_begin(&b, 300);
	b_u16(&b, 6);
	b_u32(&b, 64);
	b_u8(&b, 1); /* deterministic */
	pad32(&b, s);
	b_set_end(&b, s);
	tmpl_sampled(&b, 257, 2);
	tmpl_std(&b, 256);
	s = b_set_begin(&b, 257);
	rec_sampled(&b, 2, 100, 6, 2);
	rec_sampled(&b, 2, 100, 0, 2); /* 0: no sampler named */
	rec_sampled(&b, 2, 100, 9, 2); /* another sampler, not announced */
	pad32(&b, s);
	b_set_end(&b, s);
	data_std(&b, 256, 1);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 4);
	assert_int_equal(sb.f[0].sampling, 64);
	assert_int_equal(sb.f[0].packets, 128);
	assert_int_equal(sb.f[0].octets, 6400);
	assert_int_equal(sb.f[1].sampling, 64);
	assert_int_equal(sb.f[1].packets, 128);
	assert_int_equal(sb.f[2].sampling, 1);
	assert_int_equal(sb.f[2].packets, 2);
	assert_int_equal(sb.f[2].octets, 100);
	assert_int_equal(sb.f[3].sampling, 64);
	assert_int_equal(sb.f[3].packets, 100 * 64);
	assert_int_equal(sb.f[3].octets, 5000 * 64);
	assert_int_equal(stats(d).unscaled_records, 1);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

/*
 * SAMPLING_INTERVAL in each data record (Huawei NetStream), and records
 * naming a sampler before its options arrive: unscaled and counted, then
 * scaled once the options are known.
 */
static void test_v9_sampling_in_data_and_late_options(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t sampler[][2] = {{48, 4}, {50, 4}};

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	size_t s = b_set_begin(&b, 0);
	b_u16(&b, 258);
	b_u16(&b, 5);
	static const uint16_t f[][2] = {{8, 4}, {12, 4}, {2, 4}, {1, 4}, {34, 4}};
	for (int i = 0; i < 5; i++) {
		b_u16(&b, f[i][0]);
		b_u16(&b, f[i][1]);
	}
	b_set_end(&b, s);
	tmpl_sampled(&b, 257, 4);
	s = b_set_begin(&b, 258);
	b_addrs(&b);
	b_u32(&b, 7);
	b_u32(&b, 700);
	b_u32(&b, 1000); /* 1:1000 in the record */
	b_set_end(&b, s);
	s = b_set_begin(&b, 257);
	rec_sampled(&b, 3, 90, 5, 4); /* sampler 5: not announced yet */
	b_set_end(&b, s);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_int_equal(sb.f[0].sampling, 1000);
	assert_int_equal(sb.f[0].packets, 7000);
	assert_int_equal(sb.f[0].octets, 700000);
	assert_int_equal(sb.f[1].sampling, 1);
	assert_int_equal(sb.f[1].packets, 3);
	assert_int_equal(sb.f[1].octets, 90);
	assert_int_equal(stats(d).unscaled_records, 1);

	b_v9_header(&b, UPTIME + 1000, SECS + 1, 1, SRC_ID);
	opt_tmpl(&b, 300, sampler, 2);
	s = b_set_begin(&b, 300);
	b_u32(&b, 0);
	b_u32(&b, 5);
	b_u32(&b, 512);
	b_set_end(&b, s);
	s = b_set_begin(&b, 257);
	rec_sampled(&b, 3, 90, 5, 4);
	b_set_end(&b, s);
	memset(&sb, 0, sizeof(sb));
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].sampling, 512);
	assert_int_equal(sb.f[0].packets, 1536);
	assert_int_equal(sb.f[0].octets, 46080);
	assert_int_equal(stats(d).unscaled_records, 1);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

static void test_v9_override_beats_options(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct decoder_sampling_override ov = {.rate = 3};
	static const uint16_t interval[][2] = {{34, 4}};

	decoder_config_defaults(&cfg);
	from = ep_v4(192, 0, 2, 9, 9995);
	ov.exporter = from.addr;
	cfg.sampling = &ov;
	cfg.n_sampling = 1;
	struct decoder *d = decoder_create(&cfg);
	memset(&sb, 0, sizeof(sb));
	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	opt_tmpl(&b, 300, interval, 1);
	size_t s = b_set_begin(&b, 300);
	b_u32(&b, 0);
	b_u32(&b, 512);
	b_set_end(&b, s);
	tmpl_std(&b, 256);
	data_std(&b, 256, 1);
	/* Records naming a sampler the options announce, and one the
	 * exporter never announced: the override wins for both. */
	static const uint16_t sampler[][2] = {{48, 1}, {50, 4}};
	opt_tmpl(&b, 301, sampler, 2);
	s = b_set_begin(&b, 301);
	b_u32(&b, 0);
	b_u8(&b, 4);
	b_u32(&b, 1000);
	pad32(&b, s);
	b_set_end(&b, s);
	tmpl_sampled(&b, 257, 1);
	s = b_set_begin(&b, 257);
	rec_sampled(&b, 2, 50, 4, 1);
	rec_sampled(&b, 2, 50, 9, 1);
	pad32(&b, s);
	b_set_end(&b, s);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 3);
	assert_int_equal(sb.f[0].sampling, 3);
	assert_int_equal(sb.f[0].packets, 300);
	assert_int_equal(sb.f[0].octets, 15000);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(sb.f[i].sampling, 3);
		assert_int_equal(sb.f[i].packets, 6);
		assert_int_equal(sb.f[i].octets, 150);
	}
	assert_int_equal(stats(d).unscaled_records, 0);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

static void test_v9_uptime_wrap(void **state)
{
	(void)state;
	struct decoder *d = mk();

	/* Exported 2000 ms after the uptime wrapped; started 3000 ms before it. */
	b_v9_header(&b, 2000, SECS, 0, SRC_ID);
	size_t s = b_set_begin(&b, 0);
	b_u16(&b, 256);
	b_u16(&b, 4);
	b_u16(&b, 8);
	b_u16(&b, 4);
	b_u16(&b, 12);
	b_u16(&b, 4);
	b_u16(&b, 22);
	b_u16(&b, 4);
	b_u16(&b, 21);
	b_u16(&b, 4);
	b_set_end(&b, s);
	s = b_set_begin(&b, 256);
	b_addrs(&b);
	b_u32(&b, 0xfffff448u); /* 2^32 - 3000 */
	b_u32(&b, 1500);
	b_set_end(&b, s);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(sb.f[0].first_ms, EXPORT_MS - 5000);
	assert_int_equal(sb.f[0].last_ms, EXPORT_MS - 500);
	decoder_destroy(d);
}

static void feed_seq(struct decoder *d, uint32_t seq, uint32_t uptime)
{
	b_v9_header(&b, uptime, SECS, seq, SRC_ID);
	tmpl_std(&b, 256);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
}

/*
 * Cisco's template 313 layout: IPV6_SRC/DST_ADDR (27/28) and IPV4_SRC/DST
 * _ADDR (8/12) in one template, with IP_PROTOCOL_VERSION (60). An IPv4
 * flow has its IPv6 fields zero and the other way round; each record goes
 * under its own family, never under ::.
 */
static void test_v9_addr_template_313(void **state)
{
	(void)state;
	struct decoder *d = mk();
	static const uint16_t f[][2] = {{27, 16}, {28, 16}, {8, 4}, {12, 4}, {60, 1}, {2, 4}};
	static const uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 5};
	static const uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 6};
	static const uint8_t z[16];

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	size_t s = b_set_begin(&b, 0);
	b_u16(&b, 313);
	b_u16(&b, 6);
	for (int i = 0; i < 6; i++) {
		b_u16(&b, f[i][0]);
		b_u16(&b, f[i][1]);
	}
	b_set_end(&b, s);
	s = b_set_begin(&b, 313);
	b_bytes(&b, z, 16); /* IPv4 flow */
	b_bytes(&b, z, 16);
	b_addrs(&b);
	b_u8(&b, 4);
	b_u32(&b, 1);
	b_bytes(&b, s6, 16); /* IPv6 flow */
	b_bytes(&b, d6, 16);
	b_u32(&b, 0);
	b_u32(&b, 0);
	b_u8(&b, 6);
	b_u32(&b, 2);
	b_bytes(&b, z, 16); /* nothing: noAddress */
	b_bytes(&b, z, 16);
	b_u32(&b, 0);
	b_u32(&b, 0);
	b_u8(&b, 4);
	b_u32(&b, 3);
	while ((b.n - s) % 4)
		b_u8(&b, 0);
	b_set_end(&b, s);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 2);
	assert_true(is_v4(&sb.f[0].src, 10, 0, 0, 1));
	assert_true(is_v4(&sb.f[0].dst, 192, 0, 2, 1));
	assert_int_equal(sb.f[0].packets, 1);
	assert_memory_equal(sb.f[1].src.b, s6, 16);
	assert_memory_equal(sb.f[1].dst.b, d6, 16);
	assert_int_equal(sb.f[1].packets, 2);
	assert_int_equal(drops(d, DECODER_DROP_NO_ADDRESS), 1);
	assert_int_equal(drops_total(d), 1);
	decoder_destroy(d);
}

/*
 * FRAGMENT_OFFSET (88) and fragmentFlags (197, IPFIX's number, which v9
 * exporters that export it use): FLOW_FRAG_* bits; an offset of a length
 * that is not its own (4 bytes) is skipped and the record still decodes.
 */
static void test_v9_fragments(void **state)
{
	(void)state;
	struct decoder *d = mk();

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	size_t s = b_set_begin(&b, 0);
	static const uint16_t f[][2] = {{8, 4}, {12, 4}, {4, 1}, {88, 2}, {197, 1}, {2, 4}};
	b_u16(&b, 260);
	b_u16(&b, 6);
	for (int i = 0; i < 6; i++) {
		b_u16(&b, f[i][0]);
		b_u16(&b, f[i][1]);
	}
	static const uint16_t g[][2] = {{8, 4}, {12, 4}, {88, 4}, {2, 4}};
	b_u16(&b, 261);
	b_u16(&b, 4);
	for (int i = 0; i < 4; i++) {
		b_u16(&b, g[i][0]);
		b_u16(&b, g[i][1]);
	}
	b_set_end(&b, s);
	s = b_set_begin(&b, 260);
	static const struct {
		uint16_t off;
		uint8_t flags, want;
	} rec[] = {
	    {0, 0x00, 0},
	    {0, 0x20, FLOW_FRAG_MORE},
	    {370, 0x00, FLOW_FRAG_OFFSET},
	    {0, 0x40, FLOW_FRAG_DF},
	};
	for (size_t i = 0; i < 4; i++) {
		b_addrs(&b);
		b_u8(&b, 17);
		b_u16(&b, rec[i].off);
		b_u8(&b, rec[i].flags);
		b_u32(&b, 20 + (uint32_t)i);
	}
	while ((b.n - s) % 4)
		b_u8(&b, 0);
	b_set_end(&b, s);
	s = b_set_begin(&b, 261);
	b_addrs(&b);
	b_u32(&b, 185);
	b_u32(&b, 30);
	b_set_end(&b, s);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 5);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(sb.f[i].frag, rec[i].want);
		assert_int_equal(sb.f[i].packets, 20 + i);
	}
	assert_false(flow_is_fragment(&sb.f[0]));
	assert_true(flow_is_fragment(&sb.f[1]));
	assert_true(flow_is_fragment(&sb.f[2]));
	assert_false(flow_is_fragment(&sb.f[3]));
	assert_int_equal(sb.f[4].frag, 0);
	assert_int_equal(sb.f[4].packets, 30);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

static void test_v9_sequence(void **state)
{
	(void)state;
	struct decoder *d = mk();

	feed_seq(d, 10, UPTIME);
	feed_seq(d, 11, UPTIME + 100);
	assert_int_equal(stats(d).lost_datagrams, 0);
	feed_seq(d, 15, UPTIME + 500); /* 12, 13, 14 missing */
	assert_int_equal(stats(d).lost_datagrams, 3);
	feed_seq(d, 13, UPTIME + 300); /* late */
	assert_int_equal(stats(d).lost_datagrams, 3);
	assert_int_equal(stats(d).reordered, 1);
	feed_seq(d, 16, UPTIME + 600);
	assert_int_equal(stats(d).lost_datagrams, 3);
	/* Sequence far back with uptime still moving on: a restart, not loss. */
	feed_seq(d, 16 - 1000, UPTIME + 700);
	assert_int_equal(stats(d).exporter_restarts, 1);
	feed_seq(d, 16 - 999, UPTIME + 750);
	assert_int_equal(stats(d).lost_datagrams, 3);
	assert_int_equal(stats(d).exporter_restarts, 1);
	/* Restart: uptime back to 1 s. */
	feed_seq(d, 0, 1000);
	assert_int_equal(stats(d).exporter_restarts, 2);
	feed_seq(d, 1, 1100);
	assert_int_equal(stats(d).lost_datagrams, 3);
	assert_int_equal(stats(d).exporter_restarts, 2);
	assert_int_equal(drops_total(d), 0);
	decoder_destroy(d);
}

/* v9 counts packets: an undecodable flowset must not hide the next gap. */
static void test_v9_sequence_after_drop(void **state)
{
	(void)state;
	struct decoder *d = mk();

	feed_seq(d, 10, UPTIME);
	b_v9_header(&b, UPTIME + 100, SECS, 11, SRC_ID);
	data_std(&b, 999, 1);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	feed_seq(d, 14, UPTIME + 200);
	assert_int_equal(stats(d).lost_datagrams, 2);
	decoder_destroy(d);
}

static void test_v9_sequence_wrap(void **state)
{
	(void)state;
	struct decoder *d = mk();

	feed_seq(d, 0xfffffffeu, UPTIME);
	feed_seq(d, 0xffffffffu, UPTIME + 100);
	feed_seq(d, 0, UPTIME + 200);
	feed_seq(d, 2, UPTIME + 300);
	assert_int_equal(stats(d).lost_datagrams, 1);
	assert_int_equal(stats(d).exporter_restarts, 0);
	assert_int_equal(stats(d).reordered, 0);
	decoder_destroy(d);
}

static void test_v9_template_cap(void **state)
{
	(void)state;
	struct decoder *d = mk_cfg(0, 2);

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	tmpl_std(&b, 256);
	tmpl_std(&b, 257);
	tmpl_std(&b, 258);
	tmpl_std(&b, 256); /* redefinition within the cap still works */
	data_std(&b, 257, 1);
	data_std(&b, 258, 1);
	assert_int_equal(feed(d, &from, &b, 0, &sb), 1);
	assert_int_equal(drops(d, DECODER_DROP_TEMPLATE_LIMIT), 1);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	struct decoder_exporter_info info;
	decoder_exporters_get(d, &info, 1);
	assert_int_equal(info.templates, 2);
	decoder_destroy(d);
}

/* Malformed flowsets: each maps to exactly one counter. */
enum bad_kind {
	BAD_SET_LEN_ZERO,
	BAD_SET_LEN_THREE,
	BAD_SET_BEYOND,
	BAD_TMPL_COUNT_ZERO,
	BAD_TMPL_FIELDS_BEYOND,
	BAD_TMPL_ID_LOW,
	BAD_TMPL_TOO_MANY_FIELDS,
	BAD_TMPL_ZERO_LENGTH,
	BAD_TMPL_TOO_LONG,
	BAD_OPT_SCOPE_LEN,
	BAD_RECORD_SHORT,
	BAD_RESERVED_SET,
	BAD_STRAY_BYTES,
	BAD_SHORT_HEADER,
};

static void build_bad(enum bad_kind k)
{
	size_t s;

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	switch (k) {
	case BAD_SET_LEN_ZERO:
		b_u16(&b, 256);
		b_u16(&b, 0);
		b_u32(&b, 0);
		break;
	case BAD_SET_LEN_THREE:
		b_u16(&b, 256);
		b_u16(&b, 3);
		b_u32(&b, 0);
		break;
	case BAD_SET_BEYOND:
		b_u16(&b, 0);
		b_u16(&b, 100);
		b_u32(&b, 0);
		break;
	case BAD_TMPL_COUNT_ZERO:
		s = b_set_begin(&b, 0);
		b_u16(&b, 256);
		b_u16(&b, 0);
		b_set_end(&b, s);
		break;
	case BAD_TMPL_FIELDS_BEYOND:
		s = b_set_begin(&b, 0);
		b_u16(&b, 256);
		b_u16(&b, 3);
		b_u16(&b, 8);
		b_u16(&b, 4);
		b_set_end(&b, s);
		break;
	case BAD_TMPL_ID_LOW:
		s = b_set_begin(&b, 0);
		b_u16(&b, 255);
		b_u16(&b, 1);
		b_u16(&b, 8);
		b_u16(&b, 4);
		b_set_end(&b, s);
		break;
	case BAD_TMPL_TOO_MANY_FIELDS:
		s = b_set_begin(&b, 0);
		b_u16(&b, 256);
		b_u16(&b, 513);
		for (int i = 0; i < 513; i++) {
			b_u16(&b, 1);
			b_u16(&b, 4);
		}
		b_set_end(&b, s);
		break;
	case BAD_TMPL_ZERO_LENGTH: /* would make a data set loop forever */
		s = b_set_begin(&b, 0);
		b_u16(&b, 256);
		b_u16(&b, 2);
		b_u16(&b, 8);
		b_u16(&b, 0);
		b_u16(&b, 12);
		b_u16(&b, 0);
		b_set_end(&b, s);
		s = b_set_begin(&b, 256);
		b_u32(&b, 0);
		b_set_end(&b, s);
		break;
	case BAD_TMPL_TOO_LONG: /* records longer than any flowset */
		s = b_set_begin(&b, 0);
		b_u16(&b, 256);
		b_u16(&b, 2);
		b_u16(&b, 1);
		b_u16(&b, 65535);
		b_u16(&b, 2);
		b_u16(&b, 4);
		b_set_end(&b, s);
		break;
	case BAD_OPT_SCOPE_LEN:
		s = b_set_begin(&b, 1);
		b_u16(&b, 300);
		b_u16(&b, 6);
		b_u16(&b, 4);
		b_u16(&b, 1);
		b_u16(&b, 4);
		b_u16(&b, 34);
		b_u16(&b, 4);
		b_set_end(&b, s);
		break;
	case BAD_RECORD_SHORT: /* 35-byte template, 10 non-zero bytes of data */
		tmpl_std(&b, 256);
		s = b_set_begin(&b, 256);
		b_u32(&b, 1);
		b_u32(&b, 2);
		b_u16(&b, 3);
		b_set_end(&b, s);
		break;
	case BAD_RESERVED_SET:
		s = b_set_begin(&b, 7);
		b_u32(&b, 1);
		b_set_end(&b, s);
		break;
	case BAD_STRAY_BYTES:
		b_u16(&b, 0);
		b_u8(&b, 1);
		break;
	case BAD_SHORT_HEADER:
		b.n = 19;
		break;
	}
}

static void test_v9_malformed_table(void **state)
{
	(void)state;
	static const struct {
		enum bad_kind k;
		enum decoder_drop why;
		int rc;
	} cases[] = {
	    {BAD_SET_LEN_ZERO, DECODER_DROP_SET_SHORT, 0},
	    {BAD_SET_LEN_THREE, DECODER_DROP_SET_SHORT, 0},
	    {BAD_SET_BEYOND, DECODER_DROP_SET_LENGTH, 0},
	    {BAD_TMPL_COUNT_ZERO, DECODER_DROP_TEMPLATE_INVALID, 0},
	    {BAD_TMPL_FIELDS_BEYOND, DECODER_DROP_TEMPLATE_INVALID, 0},
	    {BAD_TMPL_ID_LOW, DECODER_DROP_TEMPLATE_INVALID, 0},
	    {BAD_TMPL_TOO_MANY_FIELDS, DECODER_DROP_TEMPLATE_INVALID, 0},
	    {BAD_TMPL_ZERO_LENGTH, DECODER_DROP_TEMPLATE_INVALID, -1},
	    {BAD_TMPL_TOO_LONG, DECODER_DROP_TEMPLATE_INVALID, 0},
	    {BAD_OPT_SCOPE_LEN, DECODER_DROP_TEMPLATE_INVALID, 0},
	    {BAD_RECORD_SHORT, DECODER_DROP_RECORD_INVALID, 0},
	    {BAD_RESERVED_SET, DECODER_DROP_SET_RESERVED, 0},
	    {BAD_STRAY_BYTES, DECODER_DROP_SET_SHORT, 0},
	    {BAD_SHORT_HEADER, DECODER_DROP_SHORT_HEADER, -(1 + DECODER_DROP_SHORT_HEADER)},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decoder *d = mk();
		build_bad(cases[i].k);
		int rc = feed(d, &from, &b, 0, &sb);
		uint64_t extra = cases[i].rc == -1 ? 1 : 0; /* the data set then lacks a template */
		if ((cases[i].rc != -1 && rc != cases[i].rc) || (cases[i].rc == -1 && rc != 0) ||
		    drops(d, cases[i].why) != 1 || drops_total(d) != 1 + extra || sb.n != 0)
			fail_msg("case %zu: rc %d, %s %llu, total %llu", i, rc,
			         decoder_drop_name(cases[i].why),
			         (unsigned long long)drops(d, cases[i].why),
			         (unsigned long long)drops_total(d));
		if (extra)
			assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
		decoder_destroy(d);
	}
}

/* Every truncation: no crash, no read past the end (ASan), and either a
 * counted drop or a cut exactly on a flowset boundary. */
static void test_v9_every_prefix(void **state)
{
	(void)state;
	static const uint16_t interval[][2] = {{34, 4}};

	b_v9_header(&b, UPTIME, SECS, 0, SRC_ID);
	opt_tmpl(&b, 300, interval, 1);
	size_t after_opt = b.n;
	size_t s = b_set_begin(&b, 300);
	b_u32(&b, 0);
	b_u32(&b, 2);
	b_set_end(&b, s);
	size_t after_optdata = b.n;
	tmpl_std(&b, 256);
	size_t after_tmpl = b.n;
	data_std(&b, 256, 2);
	struct bld full = b;

	for (size_t n = 0; n < full.n; n++) {
		struct decoder *d = mk();
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, full.b, n);
		int rc = decoder_feed(d, &from, copy, n, 0, sink_collect, &sb);
		bool boundary = n == 20 || n == after_opt || n == after_optdata || n == after_tmpl;
		if (boundary) {
			assert_int_equal(rc, 0);
			assert_int_equal(drops_total(d), 0);
		} else {
			if (drops_total(d) < 1)
				fail_msg("prefix %zu: nothing counted", n);
		}
		assert_true(sb.n == 0);
		free(copy);
		decoder_destroy(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v9_template_and_data),
	    cmocka_unit_test(test_v9_data_before_template),
	    cmocka_unit_test(test_v9_redefine_and_refresh),
	    cmocka_unit_test(test_v9_expiry),
	    cmocka_unit_test(test_v9_options_sampling),
	    cmocka_unit_test(test_v9_sampler_id),
	    cmocka_unit_test(test_v9_sampler_id_sizes),
	    cmocka_unit_test(test_v9_sampler_id_scope),
	    cmocka_unit_test(test_v9_sampling_in_data_and_late_options),
	    cmocka_unit_test(test_v9_override_beats_options),
	    cmocka_unit_test(test_v9_uptime_wrap),
	    cmocka_unit_test(test_v9_addr_template_313),
	    cmocka_unit_test(test_v9_fragments),
	    cmocka_unit_test(test_v9_sequence),
	    cmocka_unit_test(test_v9_sequence_after_drop),
	    cmocka_unit_test(test_v9_sequence_wrap),
	    cmocka_unit_test(test_v9_template_cap),
	    cmocka_unit_test(test_v9_malformed_table),
	    cmocka_unit_test(test_v9_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
