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
	decoder_destroy(d);
}

static void test_exporter_cap(void **state)
{
	(void)state;
	struct decoder_config cfg;

	decoder_config_defaults(&cfg);
	cfg.max_exporters = 2;
	struct decoder *d = mk_cfg(&cfg);
	struct flow_endpoint a = ep_v4(192, 0, 2, 1, 1000), c = ep_v4(192, 0, 2, 2, 1000);
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &a, &b, 0, &sb), 1);
	ipfix_small(2, 1); /* same address, other domain: second exporter */
	assert_int_equal(feed(d, &a, &b, 0, &sb), 1);
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &c, &b, 0, &sb), -(1 + DECODER_DROP_EXPORTER_LIMIT));
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_LIMIT), 1);
	/* Known exporters keep working at the cap. */
	ipfix_small(2, 1);
	assert_int_equal(feed(d, &a, &b, 0, &sb), 1);
	struct decoder_exporter_info info[1];
	assert_int_equal(decoder_exporters_get(d, info, 1), 2);
	assert_int_equal(info[0].domain, 1);
	assert_int_equal(stats(d).exporters, 2);
	decoder_destroy(d);
}

/*
 * A full table forgets exporters idle for longer than a template lifetime,
 * so a burst of spoofed sources cannot lock real exporters out for good.
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
	assert_int_equal(feed(d, &c, &b, 30000, &sb), -(1 + DECODER_DROP_EXPORTER_LIMIT));
	/* Domain 1 stays busy; domain 2 falls silent. */
	ipfix_small(1, 1);
	b.b[8] = 0;
	assert_int_equal(feed(d, &a, &b, 50000, &sb), 1);
	/* 59 s after domain 2's last datagram: not idle long enough yet. */
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &c, &b, 60000, &sb), -(1 + DECODER_DROP_EXPORTER_LIMIT));
	/* 69 s: domain 2 is forgotten and c gets its place. */
	ipfix_small(1, 1);
	assert_int_equal(feed(d, &c, &b, 70000, &sb), 1);
	assert_int_equal(stats(d).exporters_expired, 1);
	assert_int_equal(stats(d).exporters, 2);
	assert_int_equal(drops(d, DECODER_DROP_EXPORTER_LIMIT), 2);
	/* The busy one is still known: its data decodes with its template. */
	ipfix_small(1, 1);
	b.b[8] = 0;
	assert_int_equal(feed(d, &a, &b, 71000, &sb), 1);
	decoder_destroy(d);
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
	/* create: 2 allocations; feed: index, list, scope index, scope, exporter,
	 * template slots, template. */
	assert_int_equal(nth, 10);
	assert_int_equal(failed_feeds, 7);
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
	    cmocka_unit_test(test_exporter_cap),
	    cmocka_unit_test(test_exporter_idle_expiry),
	    cmocka_unit_test(test_many_exporters),
	    cmocka_unit_test(test_batching),
	    cmocka_unit_test(test_drop_names),
	    cmocka_unit_test(test_counter_table),
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_alloc_failure),
	    cmocka_unit_test(test_fuzz_regress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
