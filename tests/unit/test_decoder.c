/*
 * Unit tests for src/decode/decoder.c: version dispatch, allow-list,
 * exporter cap, batching, drop names, exporter listing, and the fuzz
 * regression inputs in tests/data/fuzz-regress/ (each fed through
 * decoder_feed; a crash there is a test failure under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nfsentry/log.h"

#include "decode_build.h"
#include "nfsentry/fault.h"

static struct sinkbuf sb;
static struct bld b;

static struct decoder *mk_cfg(struct decoder_config *cfg)
{
	struct decoder *d = decoder_create(cfg);
	assert_non_null(d);
	memset(&sb, 0, sizeof(sb));
	return d;
}

static void ipfix_small(uint32_t domain, int nrec)
{
	b_ipfix_header(&b, 1700000000u, 0, domain);
	size_t s = b_set_begin(&b, 2);
	b_u16(&b, 256);
	b_u16(&b, 3);
	b_u16(&b, 8);
	b_u16(&b, 4);
	b_u16(&b, 12);
	b_u16(&b, 4);
	b_u16(&b, 2);
	b_u16(&b, 4);
	b_set_end(&b, s);
	s = b_set_begin(&b, 256);
	for (int i = 0; i < nrec; i++) {
		b_addrs(&b);
		b_u32(&b, (uint32_t)i);
	}
	b_set_end(&b, s);
	b_ipfix_end(&b);
}

static void test_bad_version_and_tiny(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct flow_endpoint from = ep_v4(192, 0, 2, 1, 1000);
	static const uint8_t v7[24] = {0, 7};
	static const uint8_t one[1] = {0};

	decoder_config_defaults(&cfg);
	struct decoder *d = mk_cfg(&cfg);
	assert_int_equal(decoder_feed(d, &from, v7, sizeof(v7), 0, sink_collect, &sb),
	                 -(1 + DECODER_DROP_BAD_VERSION));
	assert_int_equal(decoder_feed(d, &from, one, 0, 0, sink_collect, &sb),
	                 -(1 + DECODER_DROP_SHORT_HEADER));
	assert_int_equal(decoder_feed(d, &from, one, 1, 0, sink_collect, &sb),
	                 -(1 + DECODER_DROP_SHORT_HEADER));
	assert_int_equal(drops(d, DECODER_DROP_BAD_VERSION), 1);
	assert_int_equal(drops(d, DECODER_DROP_SHORT_HEADER), 2);
	assert_int_equal(stats(d).datagrams, 3);
	assert_int_equal(stats(d).exporters, 0);
	assert_int_equal(sb.calls, 0);
	decoder_destroy(d);
	decoder_destroy(NULL);
}

/*
 * Whole-datagram drops reach the log: one line per reason per minute, with
 * the sender and the first bytes in hex; the second drop within the minute
 * is only counted.
 */
static void test_datagram_drops_logged(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct flow_endpoint from = ep_v4(192, 0, 2, 7, 4242);
	static const uint8_t v7[20] = {0, 7, 0xde, 0xad, 0xbe, 0xef};
	static const uint8_t v5_none[24] = {0, 5, 0, 0}; /* count 0 */
	char path[] = "/tmp/nfsentry-test-decoder-log.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	log_init(LOG_LVL_INFO, false, "test");

	decoder_config_defaults(&cfg);
	struct decoder *d = mk_cfg(&cfg);
	decoder_feed(d, &from, v7, sizeof(v7), 1000, sink_collect, &sb);
	decoder_feed(d, &from, v7, sizeof(v7), 2000, sink_collect, &sb); /* same minute */
	decoder_feed(d, &from, v5_none, sizeof(v5_none), 3000, sink_collect, &sb);
	decoder_feed(d, &from, v7, sizeof(v7), 62000, sink_collect, &sb); /* a minute on */
	decoder_destroy(d);

	log_init(LOG_LVL_WARN, false, "test");
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	int lines = 0;
	for (char *q = buf; (q = strstr(q, "decoder: datagram from 192.0.2.7 port 4242")); q++)
		lines++;
	assert_int_equal(lines, 3);
	assert_non_null(strstr(buf, "dropped: badVersion (20 bytes: 00 07 de ad be ef 00 00 00 00 "
	                            "00 00 00 00 00 00 ...); 1 so far"));
	assert_non_null(strstr(buf, "dropped: badVersion (20 bytes: 00 07 de ad be ef"
	                            " 00 00 00 00 00 00 00 00 00 00 ...); 3 so far"));
	assert_non_null(strstr(buf, "dropped: badLength (24 bytes: 00 05 00 00 00 00 00 00 00 00 00 00 "
	                            "00 00 00 00 ...); 1 so far"));
}

static void test_allow_list(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct decoder_prefix pf[2];
	struct flow_endpoint in = ep_v4(192, 0, 2, 200, 1000);
	struct flow_endpoint out = ep_v4(192, 0, 3, 1, 1000);

	decoder_config_defaults(&cfg);
	memset(pf, 0, sizeof(pf));
	pf[0].addr = ep_v4(192, 0, 2, 0, 0).addr;
	pf[0].len = 96 + 24;
	pf[1].addr = ep_v4(10, 0, 0, 0, 0).addr;
	pf[1].len = 96 + 8;
	cfg.allow = pf;
	cfg.n_allow = 2;
	struct decoder *d = mk_cfg(&cfg);
	pf[0].len = 0; /* copied at create: no effect */
	ipfix_small(1, 2);
	assert_int_equal(feed(d, &in, &b, 0, &sb), 2);
	assert_int_equal(feed(d, &out, &b, 0, &sb), -(1 + DECODER_DROP_NOT_ALLOWED));
	struct flow_endpoint ten = ep_v4(10, 200, 1, 1, 5);
	assert_int_equal(feed(d, &ten, &b, 0, &sb), 2);
	assert_int_equal(drops(d, DECODER_DROP_NOT_ALLOWED), 1);
	assert_int_equal(stats(d).exporters, 2);

	/* A reload's list applies from the next datagram: out now, 10/8 no longer. */
	struct decoder_prefix only = {.addr = out.addr, .len = 128};
	assert_int_equal(decoder_allow_set(d, &only, 1), 0);
	only.len = 0; /* copied: no effect */
	assert_int_equal(feed(d, &out, &b, 0, &sb), 2);
	assert_int_equal(feed(d, &ten, &b, 0, &sb), -(1 + DECODER_DROP_NOT_ALLOWED));
	assert_int_equal(drops(d, DECODER_DROP_NOT_ALLOWED), 2);
	/* An empty list allows every exporter. */
	assert_int_equal(decoder_allow_set(d, NULL, 0), 0);
	assert_int_equal(feed(d, &ten, &b, 0, &sb), 2);
	assert_int_equal(drops(d, DECODER_DROP_NOT_ALLOWED), 2);
	decoder_destroy(d);
}

/*
 * A reload's sampling override applies to the running session from the
 * next datagram: records scaled by the new rate; removed, the exporter's
 * own (none: 1) again. Only the named exporter is affected.
 */
static void test_sampling_set(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct flow_endpoint a = ep_v4(192, 0, 2, 1, 1000), other = ep_v4(192, 0, 2, 2, 1000);

	decoder_config_defaults(&cfg);
	struct decoder *d = mk_cfg(&cfg);
	ipfix_small(1, 2);
	assert_int_equal(feed(d, &a, &b, 0, &sb), 2);
	assert_int_equal(feed(d, &other, &b, 0, &sb), 2);
	assert_int_equal(sb.f[0].sampling, 1);
	uint64_t pk = sb.f[1].packets;

	struct decoder_sampling_override o = {.exporter = a.addr, .rate = 10};
	assert_int_equal(decoder_sampling_set(d, &o, 1), 0);
	o.rate = 7; /* copied: no effect */
	sb.n = 0;
	assert_int_equal(feed(d, &a, &b, 0, &sb), 2);
	assert_int_equal(feed(d, &other, &b, 0, &sb), 2);
	assert_int_equal(sb.f[0].sampling, 10);
	assert_int_equal(sb.f[1].sampling, 10);
	assert_int_equal(sb.f[1].packets, 10 * pk);
	assert_int_equal(sb.f[2].sampling, 1);
	assert_int_equal(sb.f[3].packets, pk);

	assert_int_equal(decoder_sampling_set(d, NULL, 0), 0);
	sb.n = 0;
	assert_int_equal(feed(d, &a, &b, 0, &sb), 2);
	assert_int_equal(sb.f[0].sampling, 1);
	assert_int_equal(sb.f[1].packets, pk);
	decoder_destroy(d);
}

static void test_exporter_cap(void **state)
{
	(void)state;
	struct decoder_config cfg;

	decoder_config_defaults(&cfg);
	cfg.max_exporters = 2; /* and 2 / 16 -> 1 place in probation */
	struct decoder *d = mk_cfg(&cfg);
	struct flow_endpoint a = ep_v4(192, 0, 2, 1, 1000), c = ep_v4(192, 0, 2, 2, 1000),
	                     e = ep_v4(192, 0, 2, 3, 1000);
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &a, &b, 0, &sb), 1);
	ipfix_small(2, 1); /* same address, other domain: second exporter */
	assert_int_equal(feed(d, &a, &b, 0, &sb), 1);
	assert_int_equal(stats(d).exporters_probation, 0);
	/* Every place taken: c decodes, but from probation. */
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &c, &b, 0, &sb), 1);
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_LIMIT), 1);
	assert_int_equal(stats(d).exporters_probation, 1);
	assert_int_equal(stats(d).exporters, 3);
	/* A newcomer takes c's place in probation, never one of a's. */
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &e, &b, 0, &sb), 1);
	assert_int_equal(stats(d).exporters_evicted, 1);
	assert_int_equal(stats(d).exporters, 3);
	/* Known exporters keep working at the cap. */
	ipfix_small(2, 1);
	assert_int_equal(feed(d, &a, &b, 0, &sb), 1);
	struct decoder_exporter_info info[3];
	assert_int_equal(decoder_exporters_get(d, info, 3), 3);
	assert_int_equal(info[0].domain, 1);
	assert_true(is_v4(&info[0].from.addr, 192, 0, 2, 1));
	assert_int_equal(info[1].domain, 2);
	assert_true(is_v4(&info[2].from.addr, 192, 0, 2, 3));
	decoder_destroy(d);
}

/*
 * A full table forgets exporters idle for longer than a template lifetime,
 * so sessions that once decoded cannot lock real exporters out for good:
 * the session waiting in probation takes the place.
 */
static void test_exporter_idle_expiry(void **state)
{
	(void)state;
	struct decoder_config cfg;

	decoder_config_defaults(&cfg);
	cfg.max_exporters = 2;
	cfg.template_lifetime_s = 60;
	struct decoder *d = mk_cfg(&cfg);
	struct flow_endpoint a = ep_v4(192, 0, 2, 1, 1000), c = ep_v4(192, 0, 2, 2, 1000);
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &a, &b, 1000, &sb), 1);
	ipfix_small(2, 1);
	assert_int_equal(feed(d, &a, &b, 1000, &sb), 1);
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &c, &b, 30000, &sb), 1);
	assert_int_equal(stats(d).exporters_probation, 1);
	/* Domain 1 stays busy; domain 2 falls silent. */
	ipfix_small(1, 1);
	b.b[8] = 0;
	assert_int_equal(feed(d, &a, &b, 50000, &sb), 1);
	/* 59 s after domain 2's last datagram: not idle long enough yet. */
	ipfix_small(1, 1);
	b.b[11] = 1;
	assert_int_equal(feed(d, &c, &b, 60000, &sb), 1);
	assert_int_equal(stats(d).exporters_probation, 1);
	/* 69 s: domain 2 is forgotten and c gets its place. */
	ipfix_small(1, 1);
	b.b[11] = 2;
	assert_int_equal(feed(d, &c, &b, 70000, &sb), 1);
	assert_int_equal(stats(d).exporters_expired, 1);
	assert_int_equal(stats(d).exporters_probation, 0);
	assert_int_equal(stats(d).exporters, 2);
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_LIMIT), 2);
	/* The busy one is still known: its data decodes with its template. */
	ipfix_small(1, 1);
	b.b[8] = 0;
	assert_int_equal(feed(d, &a, &b, 71000, &sb), 1);
	decoder_destroy(d);
}

/* An IPFIX message with one data record for template 300, never defined. */
static void ipfix_junk(uint32_t domain)
{
	b_ipfix_header(&b, 1700000000u, 0, domain);
	size_t s = b_set_begin(&b, 300);
	b_addrs(&b);
	b_set_end(&b, s);
	b_ipfix_end(&b);
}

/*
 * Issue 12 item 4: the exporter table flooded the way a spoofing sender
 * fills it in under a second -- one address with ever new observation
 * domains and source ports, then many addresses -- and a real exporter
 * that appears next decodes its first datagram at once. Sessions that
 * decode are never pushed out; the flood churns only the probation area,
 * and everything is counted.
 */
/*
 * An exporter that restarts binds a new source port each time: once its
 * earlier sessions have been silent a minute they give way, so the
 * per-address port limit never locks it out; sessions still sending are
 * not evicted, and a new port beyond the limit is then refused.
 */
static void test_exporter_restarts_new_ports(void **state)
{
	(void)state;
	struct decoder_config cfg;

	decoder_config_defaults(&cfg);
	struct decoder *d = mk_cfg(&cfg);
	uint64_t t = 1000;
	for (uint16_t i = 0; i < 3 * cfg.max_ports_per_address; i++) {
		struct flow_endpoint f = ep_v4(198, 51, 100, 7, (uint16_t)(40000 + i));
		ipfix_small(1, 2);
		assert_int_equal(feed(d, &f, &b, t, &sb), 2);
		t += 61000; /* the previous socket has been silent over a minute */
	}
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_ADDRESS), 0);
	assert_true(stats(d).exporters <= cfg.max_ports_per_address);

	/* Live sessions on every allowed port: one more port is refused. */
	for (uint16_t i = 0; i < cfg.max_ports_per_address; i++) {
		struct flow_endpoint f = ep_v4(192, 0, 2, 8, (uint16_t)(50000 + i));
		ipfix_small(1, 1);
		assert_int_equal(feed(d, &f, &b, t, &sb), 1);
	}
	struct flow_endpoint extra = ep_v4(192, 0, 2, 8, 60000);
	ipfix_small(1, 1);
	assert_true(feed(d, &extra, &b, t + 1000, &sb) < 0);
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_ADDRESS), 1);
	decoder_destroy(d);
}

static void test_exporter_flood(void **state)
{
	(void)state;
	struct decoder_config cfg;
	char path[] = "/tmp/nfsentry-test-decoder-flood.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	int saved = dup(2);
	assert_int_equal(dup2(fd, 2), 2);
	log_init(LOG_LVL_WARN, false, "test");

	decoder_config_defaults(&cfg);
	struct decoder *d = mk_cfg(&cfg);
	const uint32_t prob = cfg.max_exporters / 16;
	struct flow_endpoint real1 = ep_v4(198, 51, 100, 1, 2055);
	ipfix_small(1, 2);
	assert_int_equal(feed(d, &real1, &b, 1000, &sb), 2);

	/* One address: 20 000 datagrams, each a new domain and port. */
	uint64_t t = 2000;
	for (uint32_t i = 0; i < 20000; i++) {
		struct flow_endpoint f = ep_v4(203, 0, 113, 9, (uint16_t)(10000 + i % 50000));
		ipfix_junk(100000 + i);
		assert_int_equal(feed(d, &f, &b, t, &sb), 0);
		assert_true(stats(d).exporters_probation <= prob);
	}
	/* The address's own sessions in probation made room: never more than
	 * its domain and port limits, nothing decoding touched. */
	assert_true(stats(d).exporters <= 1 + 16);
	assert_int_equal(stats(d).exporters_evicted, 20000 - 16);
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_ADDRESS), 0);

	/* Many addresses, one datagram each. */
	for (uint32_t i = 0; i < 50000; i++) {
		struct flow_endpoint f =
		    ep_v4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 4739);
		ipfix_junk(i);
		assert_int_equal(feed(d, &f, &b, t + 500, &sb), 0);
	}
	struct decoder_stats st = stats(d);
	assert_int_equal(st.exporters_probation, prob);
	assert_int_equal(st.exporters, 1 + prob);
	assert_int_equal(st.exporters_evicted, 20000 - 16 + 50000 + 16 - prob);
	assert_int_equal(st.drops[DECODER_DROP_NO_TEMPLATE], 70000);

	/* A real exporter that appears now decodes its first datagram. */
	struct flow_endpoint real2 = ep_v4(192, 0, 2, 50, 4739);
	ipfix_small(7, 3);
	memset(&sb, 0, sizeof(sb));
	assert_int_equal(feed(d, &real2, &b, t + 600, &sb), 3);
	assert_int_equal(sb.n, 3);
	assert_int_equal(stats(d).exporters_probation, prob - 1);
	/* ... and stays through more flood: it has decoded. */
	for (uint32_t i = 0; i < 5000; i++) {
		struct flow_endpoint f = ep_v4(10, 9, (uint8_t)(i >> 8), (uint8_t)i, 4739);
		ipfix_junk(i);
		feed(d, &f, &b, t + 700, &sb);
	}
	ipfix_small(7, 1);
	b.b[11] = 3; /* IPFIX sequence: 3 records so far */
	memset(&sb, 0, sizeof(sb));
	assert_int_equal(feed(d, &real2, &b, t + 800, &sb), 1);
	assert_int_equal(stats(d).templates_added, 2);
	/* The first real exporter kept its template all along. */
	ipfix_small(1, 1);
	b.b[11] = 2;
	assert_int_equal(feed(d, &real1, &b, t + 900, &sb), 1);
	assert_int_equal(stats(d).lost_records, 0);

	/*
	 * A flood that decodes (a valid template under ever new domains from
	 * one address) stops at the address's domain limit: refused and
	 * counted, and the table keeps room for others.
	 */
	struct flow_endpoint tf = ep_v4(203, 0, 113, 77, 9000);
	for (uint32_t i = 0; i < 1000; i++) {
		ipfix_small(5000 + i, 1);
		int rc = feed(d, &tf, &b, t + 1000, &sb);
		assert_int_equal(rc, i < 64 ? 1 : -(1 + DECODER_DROP_EXPORTER_ADDRESS));
	}
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_ADDRESS), 1000 - 64);
	/* From many ports of one address: its port limit. */
	struct flow_endpoint pf = ep_v4(203, 0, 113, 78, 0);
	for (uint32_t i = 0; i < 100; i++) {
		pf.port = (uint16_t)(20000 + i);
		ipfix_small(1, 1);
		int rc = feed(d, &pf, &b, t + 1100, &sb);
		assert_int_equal(rc, i < 16 ? 1 : -(1 + DECODER_DROP_EXPORTER_ADDRESS));
	}
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_ADDRESS), 1000 - 64 + 100 - 16);
	struct flow_endpoint real3 = ep_v4(192, 0, 2, 51, 4739);
	ipfix_small(8, 2);
	assert_int_equal(feed(d, &real3, &b, t + 1200, &sb), 2);
	decoder_destroy(d);

	log_init(LOG_LVL_WARN, false, "test");
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	/* One line for the minute of flood (rate-limited), naming the sender. */
	int lines = 0;
	for (char *q = buf; (q = strstr(q, "decoder: exporter table full")); q++)
		lines++;
	assert_int_equal(lines, 1);
	assert_non_null(strstr(buf,
	                       "0 new sessions refused and 0 evicted from probation since the "
	                       "last line; top addresses: 203.0.113.9 (16 sessions: 16 domains, "
	                       "16 ports; 0 refused), 198.51.100.1 (1 sessions"));
}

/* Many exporters: the index grows and every one is found again. */
static void test_many_exporters(void **state)
{
	(void)state;
	struct decoder_config cfg;

	decoder_config_defaults(&cfg);
	struct decoder *d = mk_cfg(&cfg);
	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < 1000; i++) {
			struct flow_endpoint e = ep_v4(10, 0, (uint8_t)(i >> 8), (uint8_t)i, 1000);
			ipfix_small(i, 1);
			b.b[8] = 0; /* keep sequence consistent across rounds */
			assert_int_equal(feed(d, &e, &b, 0, &sb), 1);
		}
	}
	assert_int_equal(stats(d).exporters, 1000);
	assert_int_equal(stats(d).templates_added, 1000);
	assert_int_equal(stats(d).templates_refreshed, 1000);
	decoder_destroy(d);
}

/*
 * IPFIX message from domain with n templates (IDs 256..) of nf fields each:
 * 8 and 12 (addresses), then packet counts padded out with enterprise-free
 * unknown elements (IE 210, paddingOctets) of 1 byte.
 */
static void ipfix_tmpl_flood(uint32_t domain, uint16_t n, uint16_t nf)
{
	b_ipfix_header(&b, 1700000000u, 0, domain);
	size_t s = b_set_begin(&b, 2);
	for (uint16_t t = 0; t < n; t++) {
		b_u16(&b, (uint16_t)(256 + t));
		b_u16(&b, nf);
		b_u16(&b, 8);
		b_u16(&b, 4);
		b_u16(&b, 12);
		b_u16(&b, 4);
		for (uint16_t f = 2; f < nf; f++) {
			b_u16(&b, 210);
			b_u16(&b, 1);
		}
	}
	b_set_end(&b, s);
	b_ipfix_end(&b);
}

/*
 * A template flood from one sender (many domains x many templates x many
 * fields) stops at max_template_bytes: the decoder's accounted bytes stay
 * under the cap, every template past it is refused and counted
 * (templateMemory), an exporter that came first keeps decoding, and the
 * bytes go back to 0 when the templates are withdrawn.
 */
static void test_template_memory_cap(void **state)
{
	(void)state;
	struct decoder_config cfg;
	const uint64_t cap = 2u << 20;
	const uint32_t domains = 256;
	const uint16_t per = 20, nf = 300;

	decoder_config_defaults(&cfg);
	cfg.max_template_bytes = cap;
	cfg.max_domains_per_address = domains; /* this test is about memory alone */
	struct decoder *d = mk_cfg(&cfg);
	struct flow_endpoint real = ep_v4(192, 0, 2, 1, 1000), bad = ep_v4(198, 51, 100, 7, 4000);
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &real, &b, 0, &sb), 1);
	uint64_t base = stats(d).template_bytes;
	assert_true(base > 0);

	uint64_t offered = 0;
	for (uint32_t dom = 0; dom < domains; dom++) {
		ipfix_tmpl_flood(1000 + dom, per, nf);
		assert_int_equal(feed(d, &bad, &b, 0, &sb), 0);
		offered += per;
		/* Never above the cap, after any datagram. */
		assert_true(stats(d).template_bytes <= cap);
	}
	struct decoder_stats st = stats(d);
	/* Every template was either held or refused and counted. */
	assert_int_equal(st.templates_added - 1 + st.drops[DECODER_DROP_TEMPLATE_MEMORY], offered);
	assert_true(st.drops[DECODER_DROP_TEMPLATE_MEMORY] > offered / 2);
	/* Filled to within one template (and a slot array) of the cap. */
	uint64_t one = sizeof(void *) * 64 + (uint64_t)nf * 4 + 2 * 1024;
	assert_true(st.template_bytes + one > cap);
	/* Uncapped the flood would have taken more than the cap holds. */
	assert_true(offered * (uint64_t)nf * 4 > cap);

	/* The exporter that came first still decodes. */
	ipfix_small(1, 2);
	b.b[8] = 0;
	b.b[11] = 1;
	assert_int_equal(feed(d, &real, &b, 0, &sb), 2);

	/* Withdrawing every template of a kind gives the template bytes back. */
	for (uint32_t dom = 0; dom < domains; dom++) {
		b_ipfix_header(&b, 1700000000u, 0, 1000 + dom);
		size_t s = b_set_begin(&b, 2);
		b_u16(&b, 2);
		b_u16(&b, 0);
		b_set_end(&b, s);
		b_ipfix_end(&b);
		feed(d, &bad, &b, 0, &sb);
	}
	st = stats(d);
	assert_int_equal(st.templates_withdrawn, st.templates_added - 1);
	/* Left: the real exporter's template and the slot arrays of each scope. */
	assert_true(st.template_bytes < base + (domains + 1) * 64 * sizeof(void *));
	/* Room again: a new template is accepted. */
	ipfix_tmpl_flood(1000, 1, nf);
	assert_int_equal(feed(d, &bad, &b, 0, &sb), 0);
	assert_int_equal(stats(d).drops[DECODER_DROP_TEMPLATE_MEMORY],
	                 st.drops[DECODER_DROP_TEMPLATE_MEMORY]);
	decoder_destroy(d);
}

static void test_batching(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct flow_endpoint a = ep_v4(192, 0, 2, 1, 1000);

	decoder_config_defaults(&cfg);
	struct decoder *d = mk_cfg(&cfg);
	ipfix_small(1, 600);
	assert_int_equal(feed(d, &a, &b, 0, &sb), 600);
	assert_int_equal(sb.n, 600);
	assert_int_equal(sb.calls, 3); /* 256 + 256 + 88 */
	assert_int_equal(sb.f[599].packets, 599);
	assert_int_equal(stats(d).records, 600);
	decoder_destroy(d);
}

static void test_drop_names(void **state)
{
	(void)state;
	for (int i = 0; i < DECODER_DROP__COUNT; i++) {
		const char *n = decoder_drop_name((enum decoder_drop)i);
		assert_non_null(n);
		assert_true(strlen(n) > 0);
		assert_string_not_equal(n, "unknown");
		/* lower camelCase, as documents spell it */
		assert_true(n[0] >= 'a' && n[0] <= 'z');
		for (const char *p = n; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, decoder_drop_name((enum decoder_drop)j));
	}
	assert_string_equal(decoder_drop_name(DECODER_DROP_NOT_ALLOWED), "notAllowed");
	assert_string_equal(decoder_drop_name(DECODER_DROP_NO_TEMPLATE), "noTemplate");
	assert_string_equal(decoder_drop_name(DECODER_DROP_SET_LENGTH), "setLength");
	assert_string_equal(decoder_drop_name(DECODER_DROP_NO_MEMORY), "noMemory");
	assert_string_equal(decoder_drop_name(DECODER_DROP__COUNT), "unknown");
}

/*
 * The counter table covers every field of struct decoder_stats once, and
 * each drop reason's entry reads drops[reason] under decoder_drop_name().
 */
static void test_counter_table(void **state)
{
	(void)state;
	const struct counter_table *t = &decoder_counters;
	assert_string_equal(t->module, "decoder");
	assert_int_equal(t->stats_bytes, sizeof(struct decoder_stats));
	assert_int_equal(t->n * sizeof(uint64_t), sizeof(struct decoder_stats));
	for (size_t i = 0; i < t->n; i++)
		for (size_t j = 0; j < i; j++) {
			assert_int_not_equal(t->v[i].offset, t->v[j].offset);
			assert_string_not_equal(t->v[i].name, t->v[j].name);
		}
	struct decoder_stats st;
	memset(&st, 0, sizeof(st));
	for (int k = 0; k < DECODER_DROP__COUNT; k++)
		st.drops[k] = 100 + (uint64_t)k;
	st.exporters = 7;
	st.lost_records = 9;
	int found = 0;
	for (size_t i = 0; i < t->n; i++) {
		uint64_t v = counter_get(t, i, &st);
		if (v >= 100) {
			assert_string_equal(t->v[i].name,
			                    decoder_drop_name((enum decoder_drop)(v - 100)));
			assert_int_equal(t->v[i].kind, COUNTER_TOTAL);
			found++;
		} else if (strcmp(t->v[i].name, "exporters") == 0) {
			assert_int_equal(v, 7);
			assert_int_equal(t->v[i].kind, COUNTER_GAUGE);
		} else if (strcmp(t->v[i].name, "lostRecords") == 0) {
			assert_int_equal(v, 9);
		} else {
			assert_int_equal(v, 0);
		}
	}
	assert_int_equal(found, DECODER_DROP__COUNT);
}

static void test_config_defaults(void **state)
{
	(void)state;
	struct decoder_config cfg;
	decoder_config_defaults(&cfg);
	assert_int_equal(cfg.template_lifetime_s, 1800);
	assert_int_equal(cfg.max_templates_per_exporter, 1024);
	assert_int_equal(cfg.max_exporters, 4096);
	assert_int_equal(cfg.max_template_bytes, 256u << 20);
	assert_int_equal(cfg.max_domains_per_address, 64);
	assert_int_equal(cfg.max_ports_per_address, 16);
	assert_null(cfg.allow);
	assert_null(cfg.sampling);
}

/*
 * Every allocation the decoder makes, failed in turn: the datagram is
 * dropped and counted (or the decoder not created), nothing leaks (ASan),
 * and the decoder keeps working afterwards.
 */
static void test_alloc_failure(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct decoder_prefix pf;
	struct flow_endpoint a = ep_v4(192, 0, 2, 1, 1000);
	int failed_feeds = 0;

	decoder_config_defaults(&cfg);
	memset(&pf, 0, sizeof(pf)); /* ::/0: everything allowed, but the copy allocates */
	cfg.allow = &pf;
	cfg.n_allow = 1;
	unsigned nth;
	for (nth = 1; nth < 100; nth++) {
		memset(&sb, 0, sizeof(sb));
		fault_arm(nth - 1, FAULT_ONCE); /* the nth allocation from now fails */
		struct decoder *d = decoder_create(&cfg);
		if (!d)
			continue;
		ipfix_small(1, 3);
		int rc = feed(d, &a, &b, 0, &sb);
		bool fired = drops(d, DECODER_DROP_NO_MEMORY) > 0;
		fault_disarm();
		if (!fired && rc == 3) {
			decoder_destroy(d);
			break; /* past the last allocation */
		}
		assert_true(fired);
		assert_true(rc == -(1 + DECODER_DROP_NO_MEMORY) || rc == 0);
		failed_feeds++;
		/* Recovers: the next datagram decodes (template resent with it). */
		memset(&sb, 0, sizeof(sb));
		assert_int_equal(feed(d, &a, &b, 0, &sb), 3);
		decoder_destroy(d);
	}
	/* create: 2 allocations; feed: index, list, probation, address index,
	 * address, scope index, scope, exporter, template slots, template. */
	assert_int_equal(nth, 13);
	assert_int_equal(failed_feeds, 10);
}

/* Crash inputs found by the fuzzers, kept as files: each must be handled. */
static void test_fuzz_regress(void **state)
{
	(void)state;
	struct decoder_config cfg;
	struct flow_endpoint a = ep_v4(192, 0, 2, 1, 1000);
	char path[4096];
	int files = 0;

	decoder_config_defaults(&cfg);
	cfg.max_templates_per_exporter = 64;
	DIR *dir = opendir(TEST_DATA_DIR "/fuzz-regress");
	assert_non_null(dir);
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || !strstr(de->d_name, ".bin"))
			continue;
		int n =
		    snprintf(path, sizeof(path), "%s/fuzz-regress/%s", TEST_DATA_DIR, de->d_name);
		assert_true(n > 0 && (size_t)n < sizeof(path));
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t len = fread(b.b, 1, sizeof(b.b), f);
		fclose(f);
		/* Exactly sized copy so ASan catches any overread. */
		uint8_t *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, b.b, len);
		struct decoder *d = mk_cfg(&cfg);
		/* Twice: the second pass meets the templates the first one left. */
		for (int pass = 0; pass < 2; pass++) {
			int rc = decoder_feed(d, &a, copy, len, 1000u * (uint64_t)pass,
			                      sink_collect, &sb);
			assert_true(rc >= -DECODER_DROP__COUNT);
		}
		decoder_destroy(d);
		free(copy);
		files++;
	}
	closedir(dir);
	assert_true(files >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_version_and_tiny),
	    cmocka_unit_test(test_datagram_drops_logged),
	    cmocka_unit_test(test_allow_list),
	    cmocka_unit_test(test_sampling_set),
	    cmocka_unit_test(test_exporter_cap),
	    cmocka_unit_test(test_exporter_idle_expiry),
	    cmocka_unit_test(test_exporter_flood),
	    cmocka_unit_test(test_exporter_restarts_new_ports),
	    cmocka_unit_test(test_many_exporters),
	    cmocka_unit_test(test_template_memory_cap),
	    cmocka_unit_test(test_batching),
	    cmocka_unit_test(test_drop_names),
	    cmocka_unit_test(test_counter_table),
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_alloc_failure),
	    cmocka_unit_test(test_fuzz_regress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
