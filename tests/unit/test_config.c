/*
 * Tests for src/config/: defaults, every key of a good file, every kind of
 * error with its exact message (file and line), failure paths (unreadable
 * file, allocation failure at every step) and the shipped example
 * config/nfsentry.yaml.
 *
 * Fixtures live in tests/data/config/ (see the README there); small error
 * cases are written to a temporary file by the table test below.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* Positions in the judge enum (config does not link the judge). */
#define JUDGE_ADV_FLOOD 1
#define JUDGE_ADV_SCANOUT 7

#include "nfsentry/config.h"
#include "nfsentry/fault.h"
#include "nfsentry/l2.h"

#define DATA TEST_DATA_DIR "/config/"
#define SHIPPED TEST_DATA_DIR "/../../config/nfsentry.yaml"

static char tmpdir[64];
static char tmpfile_path[128];

static void write_tmp(const char *text, size_t len)
{
	FILE *f = fopen(tmpfile_path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void assert_msg(const struct config_errors *e, size_t i, const char *prefix,
                       const char *rest)
{
	char want[1024];

	assert_true(i < e->n);
	snprintf(want, sizeof(want), "%s%s", prefix, rest);
	assert_string_equal(e->msg[i], want);
}

/*
 * The documented per-site defaults (docs/configuration.md), as literal
 * numbers: a change to site_config_defaults() must come with the docs.
 */
static void assert_site_defaults(const struct site_config *s)
{
	assert_int_equal(s->peer_cap, 1000);
	assert_int_equal(s->th.min_packets, 20);
	assert_int_equal(s->th.nopayload_max_avg, 48);
	assert_int_equal(s->th.flood_max_targets, 3);
	assert_int_equal(s->th.flood_min_packets, 30000);
	assert_true(s->th.flood_max_answer == 0.2);
	assert_int_equal(s->th.flood_min_pps, 100);
	assert_int_equal(s->th.flood_min_seconds, 30);
	assert_int_equal(s->th.synflood_min_packets, 3000);
	assert_int_equal(s->th.synflood_min_pps, 10);
	assert_true(s->th.scan_min_share == 0.5);
	assert_int_equal(s->th.scan_min_targets, 2);
	assert_int_equal(s->th.scan_min_unused, 10);
	assert_int_equal(s->th.scan_probe_max_avg, 80);
	assert_int_equal(s->th.probe_min_targets, 3);
	assert_int_equal(s->th.arp_max_age, 120);
	assert_int_equal(s->th.attack_min_packets, 30000);
	assert_int_equal(s->th.attack_min_sources, 20);
	assert_int_equal(s->th.inside_min_packets, 20);
	assert_int_equal(s->th.p2p_min_octets, 5000000);
	assert_int_equal(s->th.p2p_max_avg, 800);
	assert_int_equal(s->th.p2p_min_peers, 50);
	assert_int_equal(s->th.scanout_min_peers, 100);
	assert_int_equal(s->th.scanout_max_avg, 80);
	assert_true(s->th.scanout_max_return == 1.0);
	assert_int_equal(s->th.floodout_min_packets, 30000);
	assert_int_equal(s->th.floodout_max_peers, 3);
	assert_true(s->th.floodout_max_return == 0.05);
	assert_int_equal(s->caps.max_inside, 262144);
	assert_int_equal(s->caps.max_outside, 2097152);
	assert_int_equal(s->caps.max_pairs, 4194304);
}

/* The slot engine's sections (slots, store, documents) at their defaults. */
static void assert_engine_defaults(const struct config *c)
{
	assert_int_equal(c->grace_s, 10);
	assert_string_equal(c->store_path, "data/nfsentry.db");
	assert_int_equal(c->retention_days, 30);
	assert_string_equal(c->spool_path, "");
	assert_int_equal(c->spool_max_mib, 1024);
	assert_int_equal(c->write_retry_s, 30);
	assert_false(c->docs_outside_all);
	assert_int_equal(c->docs_outside_top, 1000);
	assert_int_equal(c->docs_outside_max, 2000);
	assert_int_equal(c->docs_offender_max, 1000);
	assert_false(c->es.enabled);
}

/* Everything config_defaults() promises, field by field, except sites. */
static void assert_defaults_but_sites(const struct config *c)
{
	static const char *const hosts[] = {"0.0.0.0", "::", "0.0.0.0", "::", "0.0.0.0", "::"};
	static const uint16_t ports[] = {2055, 2055, 4739, 4739, 9995, 9995};

	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_false(c->log_syslog);
	assert_int_equal(c->n_listen, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(c->listen[i].host, hosts[i]);
		assert_int_equal(c->listen[i].port, ports[i]);
	}
	assert_int_equal(c->rcvbuf_bytes, 33554432);
	assert_int_equal(c->decoder.template_lifetime_s, 1800);
	assert_int_equal(c->decoder.max_templates_per_exporter, 1024);
	assert_int_equal(c->decoder.template_scope, DECODER_SCOPE_EXPORTER);
	assert_int_equal(c->decoder.max_exporters, 4096);
	assert_int_equal(c->decoder.max_template_bytes, 256u << 20);
	assert_int_equal(c->decoder.max_domains_per_address, 64);
	assert_int_equal(c->decoder.max_ports_per_address, 16);
	assert_null(c->decoder.allow);
	assert_int_equal(c->decoder.n_allow, 0);
	assert_null(c->decoder.sampling);
	assert_int_equal(c->decoder.n_sampling, 0);
	assert_null(c->allow_owned);
	assert_null(c->sampling_owned);
	assert_engine_defaults(c);
}

/* Everything config_defaults() promises: no sites (decode only). */
static void assert_defaults(const struct config *c)
{
	assert_defaults_but_sites(c);
	assert_null(c->sites);
	assert_int_equal(c->n_sites, 0);
}

#define NWANT(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Load f, which must fail with -EINVAL and exactly the n messages want
 * (each after the file name), and leave the defaults in place.
 */
static void assert_load_fails(const char *f, const char *const *want, size_t n)
{
	struct config c;
	struct config_errors e;

	assert_int_equal(config_load(f, &c, &e), -EINVAL);
	for (size_t i = 0; e.n != n && i < e.n; i++)
		print_error("%s\n", e.msg[i]);
	assert_int_equal(e.n, n);
	for (size_t i = 0; i < n; i++)
		assert_msg(&e, i, f, want[i]);
	assert_defaults(&c);
	config_free(&c);
	config_errors_free(&e);
}

static void addr_is(const struct flow_addr *a, const char *text)
{
	char buf[64];

	flow_addr_format(a, buf, sizeof(buf));
	assert_string_equal(buf, text);
}

/* A prefix, by its 16 stored bytes (IPv4 mapped) and its length. */
static void prefix_is(const struct site_prefix *p, const uint8_t want[16], unsigned len)
{
	assert_memory_equal(p->addr.b, want, 16);
	assert_int_equal(p->len, len);
}

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	config_defaults(&c);
	assert_defaults(&c);
	assert_null(c.path);
	config_free(&c);
	config_free(&c); /* a second free is harmless */
	assert_defaults(&c);
}

static void test_good_file(void **state)
{
	struct config c;
	struct config_errors e;

	(void)state;
	assert_int_equal(config_load(DATA "good.yaml", &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_null(e.msg);
	assert_string_equal(c.path, DATA "good.yaml");
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	assert_true(c.log_syslog);
	assert_int_equal(c.n_listen, 3);
	assert_string_equal(c.listen[0].host, "127.0.0.1");
	assert_int_equal(c.listen[0].port, 2055);
	assert_string_equal(c.listen[1].host, "::1");
	assert_int_equal(c.listen[1].port, 4739);
	assert_string_equal(c.listen[2].host, "192.0.2.10");
	assert_int_equal(c.listen[2].port, 9995);
	assert_int_equal(c.rcvbuf_bytes, 8 * 1024 * 1024);

	assert_int_equal(c.decoder.n_allow, 3);
	assert_ptr_equal(c.decoder.allow, c.allow_owned);
	addr_is(&c.decoder.allow[0].addr, "192.0.2.0");
	assert_int_equal(c.decoder.allow[0].len, 96 + 24);
	addr_is(&c.decoder.allow[1].addr, "198.51.100.7");
	assert_int_equal(c.decoder.allow[1].len, 128);
	addr_is(&c.decoder.allow[2].addr, "2001:db8::");
	assert_int_equal(c.decoder.allow[2].len, 32);
	/* IPv4 is held mapped: ::ffff:192.0.2.0. */
	assert_int_equal(c.decoder.allow[0].addr.b[10], 0xff);
	assert_int_equal(c.decoder.allow[0].addr.b[11], 0xff);
	assert_int_equal(c.decoder.allow[0].addr.b[12], 192);

	assert_int_equal(c.decoder.n_sampling, 2);
	assert_ptr_equal(c.decoder.sampling, c.sampling_owned);
	addr_is(&c.decoder.sampling[0].exporter, "192.0.2.1");
	assert_int_equal(c.decoder.sampling[0].rate, 1000);
	addr_is(&c.decoder.sampling[1].exporter, "2001:db8::1");
	assert_int_equal(c.decoder.sampling[1].rate, 64);

	assert_int_equal(c.decoder.template_lifetime_s, 600);
	assert_int_equal(c.decoder.max_templates_per_exporter, 256);
	assert_int_equal(c.decoder.max_exporters, 100);

	assert_int_equal(c.n_sites, 2);
	assert_non_null(c.sites);
	/* campus: every key set. */
	{
		static const uint8_t p0[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0};
		static const uint8_t p1[16] = {0,    0,    0, 0, 0,   0,  0,   0,
		                               0,    0,    0xff, 0xff, 198, 51, 100, 0};
		static const uint8_t p2[16] = {0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00};
		const struct site_config *s = &c.sites[0];

		assert_string_equal(s->name, "campus");
		assert_int_equal(s->n_inside, 3);
		prefix_is(&s->inside[0], p0, 96 + 24);
		prefix_is(&s->inside[1], p1, 96 + 24);
		prefix_is(&s->inside[2], p2, 48);
		assert_int_equal(s->peer_cap, 500);
		assert_int_equal(s->n_allow, 2);
		addr_is(&s->allow[0], "192.0.2.10");
		assert_int_equal(s->allow[0].b[10], 0xff); /* mapped */
		addr_is(&s->allow[1], "2001:db8:100::53");
		assert_int_equal(s->th.min_packets, 21);
		assert_int_equal(s->th.nopayload_max_avg, 40);
		assert_int_equal(s->th.flood_max_targets, 4);
		assert_int_equal(s->th.flood_min_packets, 50000);
		assert_true(s->th.flood_max_answer == 0.25);
		assert_true(s->th.scan_min_share == 0.75);
		assert_int_equal(s->th.scan_min_targets, 30);
		assert_int_equal(s->th.probe_min_targets, 5);
		assert_int_equal(s->th.flood_min_pps, 150);
		assert_int_equal(s->th.flood_min_seconds, 20);
		assert_int_equal(s->th.synflood_min_packets, 4000);
		assert_int_equal(s->th.synflood_min_pps, 12);
		assert_int_equal(s->th.scan_min_unused, 12);
		assert_int_equal(s->th.scan_probe_max_avg, 70);
		assert_int_equal(s->th.arp_max_age, 60);
		assert_int_equal(s->th.attack_min_packets, 40000);
		assert_int_equal(s->th.attack_min_sources, 25);
		assert_int_equal(s->th.inside_min_packets, 25);
		assert_int_equal(s->th.p2p_min_octets, 10000000);
		assert_int_equal(s->th.p2p_max_avg, 700);
		assert_int_equal(s->th.p2p_min_peers, 60);
		assert_int_equal(s->th.scanout_min_peers, 150);
		assert_int_equal(s->th.scanout_max_avg, 90);
		assert_true(s->th.scanout_max_return == 0.5);
		assert_int_equal(s->th.floodout_min_packets, 40000);
		assert_int_equal(s->th.floodout_max_peers, 2);
		assert_true(s->th.floodout_max_return == 0.1);
		assert_int_equal(s->caps.max_inside, 1000);
		assert_int_equal(s->caps.max_outside, 2000);
		assert_int_equal(s->caps.max_pairs, 3000);
	}
	/* lab-2.east_B: name and inside only; the rest are the defaults. */
	{
		static const uint8_t p0[16] = {0,    0,    0, 0, 0,   0, 0,   0,
		                               0,    0,    0xff, 0xff, 203, 0, 113, 128};
		static const uint8_t p1[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 128};
		const struct site_config *s = &c.sites[1];

		assert_string_equal(s->name, "lab-2.east_B");
		assert_int_equal(s->n_inside, 2);
		prefix_is(&s->inside[0], p0, 96 + 25);
		prefix_is(&s->inside[1], p1, 96 + 25);
		assert_null(s->allow);
		assert_int_equal(s->n_allow, 0);
		assert_site_defaults(s);
	}
	assert_int_equal(c.grace_s, 30);
	assert_string_equal(c.store_path, "/var/lib/nfsentry/flows.db");
	assert_int_equal(c.retention_days, 90);
	assert_true(c.docs_outside_all);
	assert_int_equal(c.docs_outside_top, 50);
	config_free(&c);
	assert_defaults(&c);
	assert_null(c.path);
	config_errors_free(&e);
}

static void test_empty_and_null_sections(void **state)
{
	static const char *const files[] = {DATA "empty.yaml", DATA "sections_null.yaml"};
	struct config c;
	struct config_errors e;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(config_load(files[i], &c, &e), 0);
		assert_int_equal(e.n, 0);
		assert_defaults(&c);
		assert_string_equal(c.path, files[i]);
		config_free(&c);
		config_errors_free(&e);
	}
}

/*
 * The example shipped to operators must load, must state the defaults, and
 * its example site must be the one docs/configuration.md describes.
 */
static void test_shipped_config(void **state)
{
	static const uint8_t v4a[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0};
	static const uint8_t v4b[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 0};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00};
	struct config c;
	struct config_errors e;
	int rc;

	(void)state;
	rc = config_load(SHIPPED, &c, &e);
	for (size_t i = 0; i < e.n; i++)
		print_error("%s\n", e.msg[i]);
	assert_int_equal(rc, 0);
	assert_int_equal(e.n, 0);
	assert_defaults_but_sites(&c);
	assert_int_equal(c.n_sites, 1);
	assert_string_equal(c.sites[0].name, "campus");
	assert_int_equal(c.sites[0].n_inside, 3);
	prefix_is(&c.sites[0].inside[0], v4a, 96 + 24);
	prefix_is(&c.sites[0].inside[1], v4b, 96 + 24);
	prefix_is(&c.sites[0].inside[2], v6, 48);
	assert_int_equal(c.sites[0].n_allow, 2);
	addr_is(&c.sites[0].allow[0], "192.0.2.10");
	addr_is(&c.sites[0].allow[1], "2001:db8:100::53");
	assert_site_defaults(&c.sites[0]);
	config_free(&c);
	config_errors_free(&e);
}

static void test_many_errors(void **state)
{
	struct config c;
	struct config_errors e;
	const char *f = DATA "many_errors.yaml";

	(void)state;
	assert_int_equal(config_load(f, &c, &e), -EINVAL);
	assert_int_equal(e.n, 5);
	assert_msg(&e, 0, f,
	           ":3: log.level: not one of error, warn, info, debug (got \"verbose\")");
	assert_msg(&e, 1, f, ":4: log.syslog: not true or false (got \"maybe\")");
	assert_msg(&e, 2, f, ":7: listen[1]: port not 1..65535 (got \"0.0.0.0:99999\")");
	assert_msg(&e, 3, f, ":9: templates.lifetime_s: must be 60..86400 (got \"30\")");
	assert_msg(&e, 4, f,
	           ":11: limits.max_exporter: unknown key; did you mean \"max_exporters\"?");
	/* Nothing half-applied. */
	assert_defaults(&c);
	assert_null(c.path);
	config_free(&c);
	config_errors_free(&e);
	assert_int_equal(e.n, 0);
	assert_null(e.msg);
}

static void test_duplicate_key(void **state)
{
	static const char *const want[] = {":3: log.level: duplicate key (first at line 2)"};

	(void)state;
	assert_load_fails(DATA "duplicate.yaml", want, NWANT(want));
}

static void test_syntax_error(void **state)
{
	static const char *const want[] = {
	    ":3:2: YAML syntax error: did not find expected key "
	    "(while parsing a block mapping that starts at line 1)",
	};

	(void)state;
	assert_load_fails(DATA "syntax.yaml", want, NWANT(want));
}

static void test_wrong_types(void **state)
{
	static const char *const want[] = {
	    ":2: log: expected a mapping (key: value lines), got a list",
	    ":3: listen: expected a list (\"- item\" lines or [a, b]), got a single value "
	    "(got \"0.0.0.0:2055\")",
	    ":5: receive_buffer_bytes: expected a byte count, got a mapping",
	    ":7: exporters: expected a mapping (key: value lines), got a list",
	};

	(void)state;
	assert_load_fails(DATA "types.yaml", want, NWANT(want));
}

static void test_unreadable(void **state)
{
	struct config c;
	struct config_errors e;
	const char *f = DATA "does-not-exist.yaml";

	(void)state;
	assert_int_equal(config_load(f, &c, &e), -ENOENT);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, f, ": cannot read: No such file or directory");
	assert_defaults(&c);
	config_free(&c);
	config_errors_free(&e);

	/* A directory opens but cannot be read. */
	assert_int_equal(config_load(TEST_DATA_DIR "/config", &c, &e), -EISDIR);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, TEST_DATA_DIR "/config", ": cannot read: Is a directory");
	config_free(&c);
	config_errors_free(&e);
}

/* One small file per case: text in, the exact error lines out. */
struct bad_case {
	const char *yaml;
	const char *want[3]; /* after the file name; unused slots NULL */
};

/* A valid site whose next lines (from line 4) the case adds. */
#define SITE0 "sites:\n  - name: campus\n    inside: [192.0.2.0/24]\n"

static const struct bad_case bad_cases[] = {
    /* Listen entries. */
    {"listen:\n  - 0.0.0.0\n", {":2: listen[0]: not ADDR:PORT (got \"0.0.0.0\")"}},
    {"listen:\n  - 0.0.0.0:0\n", {":2: listen[0]: port not 1..65535 (got \"0.0.0.0:0\")"}},
    {"listen:\n  - 0.0.0.0:20x5\n", {":2: listen[0]: port not 1..65535 (got \"0.0.0.0:20x5\")"}},
    {"listen:\n  - 0.0.0.0:-1\n", {":2: listen[0]: port not 1..65535 (got \"0.0.0.0:-1\")"}},
    /* YAML reads a trailing colon as a one-key mapping. */
    {"listen:\n  - 0.0.0.0:\n", {":2: listen[0]: expected ADDR:PORT, got a mapping"}},
    {"listen:\n  - \"0.0.0.0:\"\n", {":2: listen[0]: port not 1..65535 (got \"0.0.0.0:\")"}},
    {"listen:\n  - 300.0.0.1:2055\n",
     {":2: listen[0]: not a numeric IPv4 address (host names are not resolved) (got "
      "\"300.0.0.1:2055\")"}},
    {"listen:\n  - localhost:2055\n",
     {":2: listen[0]: not a numeric IPv4 address (host names are not resolved) (got "
      "\"localhost:2055\")"}},
    {"listen:\n  - ::1:2055\n",
     {":2: listen[0]: IPv6 needs brackets: [ADDR]:PORT (got \"::1:2055\")"}},
    {"listen:\n  - \"[::1]2055\"\n", {":2: listen[0]: not [IPV6]:PORT (got \"[::1]2055\")"}},
    {"listen:\n  - \"[1.2.3.4]:2055\"\n",
     {":2: listen[0]: not a numeric IPv6 address (got \"[1.2.3.4]:2055\")"}},
    {"listen: []\n", {":1: listen: needs at least 1 entry"}},
    {"listen:\n", {":1: listen: needs at least 1 entry"}},
    {"listen:\n  - 0.0.0.0:2055\n  - 0.0.0.0:4739\n  - 0.0.0.0:2055\n",
     {":4: listen[2]: same address and port as listen[0] (got \"0.0.0.0:2055\")"}},
    {"listen:\n  - \"[::]:2055\"\n  - \"[0::0]:2055\"\n",
     {":3: listen[1]: same address and port as listen[0] (got \"[0::0]:2055\")"}},
    {"listen:\n  - [0.0.0.0:1]\n", {":2: listen[0]: expected ADDR:PORT, got a list"}},
    {"listen:\n  -\n", {":2: listen[0]: no value; expected ADDR:PORT"}},
    /* Numbers and sizes. */
    {"receive_buffer_bytes: 32MB\n",
     {":1: receive_buffer_bytes: not a byte count (a whole number, or one ending in KiB, MiB or "
      "GiB) (got \"32MB\")"}},
    {"receive_buffer_bytes: -1\n",
     {":1: receive_buffer_bytes: not a byte count (a whole number, or one ending in KiB, MiB or "
      "GiB) (got \"-1\")"}},
    {"receive_buffer_bytes: 2GiB\n",
     {":1: receive_buffer_bytes: must be 0..2147483647 bytes (got \"2GiB\")"}},
    {"receive_buffer_bytes: 99999999999999999999\n",
     {":1: receive_buffer_bytes: must be 0..2147483647 bytes (got \"99999999999999999999\")"}},
    {"receive_buffer_bytes: 18014398509481984GiB\n",
     {":1: receive_buffer_bytes: must be 0..2147483647 bytes (got \"18014398509481984GiB\")"}},
    {"receive_buffer_bytes:\n", {":1: receive_buffer_bytes: no value; expected a byte count"}},
    {"templates:\n  lifetime_s: 86401\n",
     {":2: templates.lifetime_s: must be 60..86400 (got \"86401\")"}},
    {"templates:\n  lifetime_s: 1e3\n",
     {":2: templates.lifetime_s: not a whole number (got \"1e3\")"}},
    {"templates:\n  lifetime_s: \" 600\"\n",
     {":2: templates.lifetime_s: not a whole number (got \" 600\")"}},
    {"templates:\n  lifetime_s: +600\n",
     {":2: templates.lifetime_s: not a whole number (got \"+600\")"}},
    {"templates:\n  scope: port\n",
     {":2: templates.scope: not one of exporter, session (got \"port\")"}},
    {"templates:\n  scope: Session\n",
     {":2: templates.scope: not one of exporter, session (got \"Session\")"}},
    {"templates:\n  max_per_exporter: 0\n",
     {":2: templates.max_per_exporter: must be 1..65280 (got \"0\")"}},
    {"templates:\n  max_bytes: 1023 KiB\n",
     {":2: templates.max_bytes: must be 1048576..68719476736 bytes (got \"1023 KiB\")"}},
    {"limits:\n  max_exporters: 4294967296\n",
     {":2: limits.max_exporters: must be 1..1048576 (got \"4294967296\")"}},
    {"documents:\n  offender_max: 0\n",
     {":2: documents.offender_max: must be 1..2147483648 (got \"0\")"}},
    {"limits:\n  max_ports_per_address: 0\n",
     {":2: limits.max_ports_per_address: must be 1..65536 (got \"0\")"}},
    /* Exporters. */
    {"exporters:\n  allow:\n    - 192.0.2.1/24\n",
     {":3: exporters.allow[0]: address bits set beyond /24; did you mean 192.0.2.0/24? (got "
      "\"192.0.2.1/24\")"}},
    {"exporters:\n  allow:\n    - 192.0.2.0/33\n",
     {":3: exporters.allow[0]: prefix length not 0..32 (got \"192.0.2.0/33\")"}},
    {"exporters:\n  allow:\n    - 2001:db8::/129\n",
     {":3: exporters.allow[0]: prefix length not 0..128 (got \"2001:db8::/129\")"}},
    {"exporters:\n  allow:\n    - 2001:db8::1/32\n",
     {":3: exporters.allow[0]: address bits set beyond /32; did you mean 2001:db8::/32? (got "
      "\"2001:db8::1/32\")"}},
    {"exporters:\n  allow:\n    - router1\n",
     {":3: exporters.allow[0]: not an IPv4 or IPv6 prefix (got \"router1\")"}},
    {"exporters:\n  allow: 192.0.2.0/24\n",
     {":2: exporters.allow: expected a list (\"- item\" lines or [a, b]), got a single value (got "
      "\"192.0.2.0/24\")"}},
    {"exporters:\n  sampling:\n    - { exporter: 192.0.2.1 }\n",
     {":3: exporters.sampling[0]: missing key \"rate\""}},
    {"exporters:\n  sampling:\n    - { exporter: 192.0.2.0/24, rate: 0, mode: x }\n",
     {":3: exporters.sampling[0].exporter: a single address, not a prefix (got \"192.0.2.0/24\")",
      ":3: exporters.sampling[0].rate: must be 1..4294967295 (got \"0\")",
      ":3: exporters.sampling[0].mode: unknown key"}},
    {"exporters:\n  sampling:\n    - 192.0.2.1\n",
     {":3: exporters.sampling[0]: expected a mapping (key: value lines), got a single value (got "
      "\"192.0.2.1\")"}},
    {"exporters:\n  sampling:\n    - { exporter: 192.0.2.1, rate: 10 }\n    - { exporter: "
     "2001:db8::1, rate: 10 }\n"
     "    - { exporter: 192.0.2.1, rate: 20 }\n",
     {":5: exporters.sampling[2]: exporter already has a rate in exporters.sampling[0]"}},
    /* Sites: names and inside prefixes. */
    {"sites:\n  - name: a\n    inside: [192.0.2.1/24]\n",
     {":3: sites[0].inside[0]: address bits set beyond /24; did you mean 192.0.2.0/24? (got "
      "\"192.0.2.1/24\")"}},
    {"sites:\n  - name: a\n    inside:\n      - 2001:db8:100::1/48\n",
     {":4: sites[0].inside[0]: address bits set beyond /48; did you mean 2001:db8:100::/48? (got "
      "\"2001:db8:100::1/48\")"}},
    {"sites:\n  - name: a\n    inside: [192.0.2.0/33, \"2001:db8::/x\", campus-net]\n",
     {":3: sites[0].inside[0]: prefix length not 0..32 (got \"192.0.2.0/33\")",
      ":3: sites[0].inside[1]: prefix length not 0..128 (got \"2001:db8::/x\")",
      ":3: sites[0].inside[2]: not an IPv4 or IPv6 prefix (got \"campus-net\")"}},
    {"sites:\n  - inside: [192.0.2.0/24]\n", {":2: sites[0]: missing key \"name\""}},
    {"sites:\n  - name: a\n", {":2: sites[0]: missing key \"inside\""}},
    {"sites:\n  -\n", {":2: sites[0]: missing key \"name\"", ":2: sites[0]: missing key \"inside\""}},
    {"sites:\n  - name: a\n    inside: []\n", {":3: sites[0].inside: needs at least 1 entry"}},
    {"sites:\n  - name: a\n    inside: 192.0.2.0/24\n",
     {":3: sites[0].inside: expected a list (\"- item\" lines or [a, b]), got a single value (got "
      "\"192.0.2.0/24\")"}},
    {"sites:\n  - name: \"my site\"\n    inside: [192.0.2.0/24]\n",
     {":2: sites[0].name: a site name is 1..63 characters of A-Z a-z 0-9 _ . - (got \"my "
      "site\")"}},
    {"sites:\n  - name: \"\"\n    inside: [192.0.2.0/24]\n",
     {":2: sites[0].name: a site name is 1..63 characters of A-Z a-z 0-9 _ . -"}},
    {"sites:\n  - name: "
     "a123456789b123456789c123456789d123456789e123456789f123456789abcd\n    inside: [192.0.2.0/24]\n",
     {":2: sites[0].name: a site name is 1..63 characters of A-Z a-z 0-9 _ . - (got "
      "\"a123456789b123456789c123456789d123456789e123456789f123456789abcd\")"}},
    {"sites:\n  - name: a\n    inside: [192.0.2.0/24]\n  - name: b\n    inside: [198.51.100.0/24]\n"
     "  - name: a\n    inside: [203.0.113.0/24]\n",
     {":6: sites[2].name: site name already used by sites[0] (got \"a\")"}},
    {"sites:\n  - name: a\n    inside: [192.0.2.0/24, 198.51.100.0/24]\n  - name: b\n    inside:\n"
     "      - 203.0.113.0/24\n      - 198.51.100.0/24\n",
     {":7: sites[1].inside[1]: same prefix as sites[0].inside[1] (got \"198.51.100.0/24\")"}},
    {"sites:\n  - name: a\n    inside: [192.0.2.0/24, \"::ffff:192.0.2.0/120\"]\n",
     {":3: sites[0].inside[1]: same prefix as sites[0].inside[0] (got \"::ffff:192.0.2.0/120\")"}},
    {"sites: x\n",
     {":1: sites: expected a list (\"- item\" lines or [a, b]), got a single value (got \"x\")"}},
    {"sites:\n  name: a\n",
     {":2: sites: expected a list (\"- item\" lines or [a, b]), got a mapping"}},
    {"sites:\n  - campus\n",
     {":2: sites[0]: expected a mapping (key: value lines), got a single value (got \"campus\")"}},
    {SITE0 "    inside_prefixes: [10.0.0.0/8]\n", {":4: sites[0].inside_prefixes: unknown key"}},
    /* Sites: allow-list. */
    {"sites:\n  - name: campus\n    inside: [192.0.2.0/24, \"2001:db8:100::/48\"]\n    allow:\n"
     "      - 192.0.2.10\n      - 198.51.100.10\n      - 2001:db8:200::1\n",
     {":6: sites[0].allow[1]: not inside any prefix of site campus (got \"198.51.100.10\")",
      ":7: sites[0].allow[2]: not inside any prefix of site campus (got \"2001:db8:200::1\")"}},
    {"sites:\n  - name: c\n    inside: [192.0.2.128/25]\n    allow: [192.0.2.127, 192.0.2.128]\n",
     {":4: sites[0].allow[0]: not inside any prefix of site c (got \"192.0.2.127\")"}},
    {SITE0 "    allow: [192.0.2.0/28]\n",
     {":4: sites[0].allow[0]: a single address, not a prefix (got \"192.0.2.0/28\")"}},
    /* Sites: numbers. */
    {SITE0 "    peer_cap: 0\n", {":4: sites[0].peer_cap: must be 1..1000000 (got \"0\")"}},
    {SITE0 "    peer_cap: 1000001\n", {":4: sites[0].peer_cap: must be 1..1000000 (got \"1000001\")"}},
    {SITE0 "    thresholds:\n      scan_min_share: 1.5\n",
     {":5: sites[0].thresholds.scan_min_share: must be 0..1 (got \"1.5\")"}},
    {SITE0 "    thresholds:\n      flood_max_answer: abc\n",
     {":5: sites[0].thresholds.flood_max_answer: not a decimal number (like 0.5) (got \"abc\")"}},
    {SITE0 "    thresholds:\n      scan_min_share: -0.1\n      scanout_max_return: 1e3\n"
       "      floodout_max_return: .5\n",
     {":5: sites[0].thresholds.scan_min_share: not a decimal number (like 0.5) (got \"-0.1\")",
      ":6: sites[0].thresholds.scanout_max_return: not a decimal number (like 0.5) (got \"1e3\")",
      ":7: sites[0].thresholds.floodout_max_return: not a decimal number (like 0.5) (got \".5\")"}},
    {SITE0 "    thresholds:\n      scan_min_share: nan\n      scanout_max_return: inf\n"
       "      floodout_max_return: \"0.5 \"\n",
     {":5: sites[0].thresholds.scan_min_share: not a decimal number (like 0.5) (got \"nan\")",
      ":6: sites[0].thresholds.scanout_max_return: not a decimal number (like 0.5) (got \"inf\")",
      ":7: sites[0].thresholds.floodout_max_return: not a decimal number (like 0.5) (got \"0.5 "
      "\")"}},
    {SITE0 "    thresholds:\n      flood_max_answer: 1000000.5\n      scan_min_share: 1.\n",
     {":5: sites[0].thresholds.flood_max_answer: must be 0..1000000 (got \"1000000.5\")",
      ":6: sites[0].thresholds.scan_min_share: not a decimal number (like 0.5) (got \"1.\")"}},
    {SITE0 "    thresholds:\n      scanout_max_return:\n",
     {":5: sites[0].thresholds.scanout_max_return: no value; expected a decimal number"}},
    {SITE0 "    thresholds:\n      min_packets: 0\n      p2p_min_octets: 1000000000000001\n",
     {":5: sites[0].thresholds.min_packets: must be 1..1000000000000000 (got \"0\")",
      ":6: sites[0].thresholds.p2p_min_octets: must be 1..1000000000000000 (got "
      "\"1000000000000001\")"}},
    {SITE0 "    thresholds:\n      nopayload_max_avg: 65536\n      scan_min_targets: 0\n",
     {":5: sites[0].thresholds.nopayload_max_avg: must be 0..65535 (got \"65536\")",
      ":6: sites[0].thresholds.scan_min_targets: must be 1..2147483648 (got \"0\")"}},
    {SITE0 "    thresholds:\n      scan_min_shares: 0.5\n",
     {":5: sites[0].thresholds.scan_min_shares: unknown key; did you mean \"scan_min_share\"?"}},
    {SITE0 "    caps:\n      max_pairs: 2147483649\n      max_inside: 0\n",
     {":5: sites[0].caps.max_pairs: must be 1..2147483648 (got \"2147483649\")",
      ":6: sites[0].caps.max_inside: must be 1..2147483648 (got \"0\")"}},
    /* slots, store, documents. */
    {"slots:\n  grace_s: 291\n", {":2: slots.grace_s: must be 0..290 (got \"291\")"}},
    {"slots:\n  grace: 10\n", {":2: slots.grace: unknown key; did you mean \"grace_s\"?"}},
    {"store:\n  retention_days: 0\n", {":2: store.retention_days: must be 1..3650 (got \"0\")"}},
    {"store:\n  retention_days: 3651\n",
     {":2: store.retention_days: must be 1..3650 (got \"3651\")"}},
    {"store:\n  spool_max_mib: 0\n",
     {":2: store.spool_max_mib: must be 1..1048576 (got \"0\")"}},
    {"store:\n  write_retry_s: 291\n", {":2: store.write_retry_s: must be 0..290 (got \"291\")"}},
    {"store:\n  spool_path: \"\"\n", {":2: store.spool_path: empty; expected a file path"}},
    {"store:\n  path: \"\"\n", {":2: store.path: empty; expected a file path"}},
    {"store:\n  path:\n", {":2: store.path: no value; expected a file path"}},
    {"store:\n  path: [a, b]\n", {":2: store.path: expected a file path, got a list"}},
    {"documents:\n  outside: some\n",
     {":2: documents.outside: not one of all, top (got \"some\")"}},
    {"documents:\n  outside: ALL\n  outside_top: 2147483649\n",
     {":2: documents.outside: not one of all, top (got \"ALL\")",
      ":3: documents.outside_top: must be 0..2147483648 (got \"2147483649\")"}},
    /* Keys and structure. */
    {"lgo:\n  level: info\n", {":1: lgo: unknown key; did you mean \"log\"?"}},
    {"log:\n  Level: info\n", {":2: log.Level: unknown key; did you mean \"level\"?"}},
    /* elasticsearch: */
    {"elasticsearch:\n  url: x\n",
     {":2: elasticsearch.url: not an http:// or https:// URL (got \"x\")"}},
    {"elasticsearch:\n  index_prefix: abc\n", {":2: elasticsearch: missing key \"url\""}},
    {"elasticsearch:\n  url: http://\n",
     {":2: elasticsearch.url: no host in the URL (got \"http://\")"}},
    {"elasticsearch:\n  url: \"https://elastic:changeme@es:9200\"\n",
     {":2: elasticsearch.url: credentials in the URL are not accepted; use username and "
      "password_file, password_env, api_key_file or api_key_env"}},
    {"elasticsearch:\n  url: \"http://es:9200/?pretty\"\n",
     {":2: elasticsearch.url: a URL here holds no spaces, control characters, query or "
      "fragment (got \"http://es:9200/?pretty\")"}},
    /* The secret is refused and never quoted back. */
    {"elasticsearch:\n  url: http://es:9200\n  username: elastic\n  password: s3cret\n",
     {":4: elasticsearch.password: secrets are not accepted in the configuration file; use "
      "password_file (a file holding it) or password_env (an environment variable)"}},
    {"elasticsearch:\n  url: http://es:9200\n  api_key: abc\n",
     {":3: elasticsearch.api_key: secrets are not accepted in the configuration file; use "
      "api_key_file (a file holding it) or api_key_env (an environment variable)"}},
    {"elasticsearch:\n  url: http://es:9200\n  index_prefix: Nfs\n",
     {":3: elasticsearch.index_prefix: only lower-case letters, digits, and (after the "
      "first) - _ . (got \"Nfs\")"}},
    {"elasticsearch:\n  url: http://es:9200\n  index_prefix: _x\n",
     {":3: elasticsearch.index_prefix: only lower-case letters, digits, and (after the "
      "first) - _ . (got \"_x\")"}},
    {"elasticsearch:\n  url: http://es:9200\n  username: a\n  password_env: 1X\n",
     {":4: elasticsearch.password_env: not an environment variable name (like ES_PASSWORD) "
      "(got \"1X\")"}},
    {"elasticsearch:\n  url: http://es:9200\n  username: a:b\n  password_env: X\n",
     {":3: elasticsearch.username: must be 1..255 characters without ':' (got \"a:b\")"}},
    {"elasticsearch:\n  url: http://es:9200\n  username: a\n",
     {":2: elasticsearch: username needs password_file or password_env"}},
    {"elasticsearch:\n  url: http://es:9200\n  password_env: P\n",
     {":2: elasticsearch: a password needs a username"}},
    {"elasticsearch:\n  url: http://es:9200\n  username: a\n  password_env: P\n"
     "  password_file: /p\n",
     {":2: elasticsearch: password_file and password_env exclude each other"}},
    {"elasticsearch:\n  url: http://es:9200\n  api_key_env: K\n  api_key_file: /k\n",
     {":2: elasticsearch: api_key_file and api_key_env exclude each other"}},
    {"elasticsearch:\n  url: http://es:9200\n  username: a\n  password_env: P\n"
     "  api_key_env: K\n",
     {":2: elasticsearch: a password and an API key exclude each other",
      ":2: elasticsearch: an API key and a username exclude each other"}},
    {"elasticsearch:\n  url: http://es:9200\n  bulk_max_bytes: 1KiB\n",
     {":3: elasticsearch.bulk_max_bytes: must be 65536..268435456 bytes (got \"1KiB\")"}},
    {"elasticsearch:\n  url: http://es:9200\n  timeout_s: 0\n",
     {":3: elasticsearch.timeout_s: must be 1..3600 (got \"0\")"}},
    {"elasticsearch:\n  url: http://es:9200\n  verify_tls: maybe\n",
     {":3: elasticsearch.verify_tls: not true or false (got \"maybe\")"}},
    {"elasticsearch:\n  url: http://es:9200\n  passwd_file: /p\n",
     {":3: elasticsearch.passwd_file: unknown key; did you mean \"password_file\"?"}},
    {"log:\n  level: INFO\n",
     {":2: log.level: not one of error, warn, info, debug (got \"INFO\")"}},
    {"log:\n  syslog: \"\"\n", {":2: log.syslog: not true or false"}},
    {"log:\n  syslog: ~\n", {":2: log.syslog: no value; expected true or false"}},
    {"log:\n  level: [info]\n", {":2: log.level: expected error, warn, info or debug, got a list"}},
    {"? [a, b]\n: 1\n", {":1: top level: a key must be a plain word, got a list"}},
    {"- log\n", {":1: top level: expected a mapping (key: value lines), got a list"}},
    {"just text\n",
     {":1: top level: expected a mapping (key: value lines), got a single value (got \"just "
      "text\")"}},
    {"log: &l\n  level: info\nlimits: *l\n", {":3:9: YAML aliases are not supported (*l)"}},
    {"log:\n  level: info\n---\nlog:\n  level: debug\n", {":3:1: more than one YAML document"}},
    {"log:\n  level: \"in\\0fo\"\n", {":2:10: NUL byte in a value"}},
    {"log:\n  level: \"info\n",
     {":3:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar "
      "that starts at line 2)"}},
    {"log:\n  level: \"\x01\x02\"\n",
     {":2:11: YAML syntax error: control characters are not allowed (byte 0x01)"}},
    {"log:\n  level: \"\xff\"\n",
     {":2:11: YAML syntax error: invalid leading UTF-8 octet (byte 0xff)"}},
    {"log:\n  level: \"a\\\"b\\\\c\"\n",
     {":2: log.level: not one of error, warn, info, debug (got \"a\\\"b\\\\c\")"}},
    {"log:\n  level: \"\\t\"\n",
     {":2: log.level: not one of error, warn, info, debug (got \"\\x09\")"}},
    {"log:\n  level: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
     {":2: log.level: not one of error, warn, info, debug "
      "(got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\")"}},
};

static void test_bad_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct config c;
		struct config_errors e;
		size_t want_n = 0;
		int rc;

		/* Strings hold "\0" only via the YAML escape, so strlen is the length. */
		write_tmp(bc->yaml, strlen(bc->yaml));
		while (want_n < 3 && bc->want[want_n])
			want_n++;
		rc = config_load(tmpfile_path, &c, &e);
		if (e.n != want_n || rc != -EINVAL) {
			print_error("case %zu: rc %d, %zu messages:\n", i, rc, e.n);
			for (size_t j = 0; j < e.n; j++)
				print_error("  %s\n", e.msg[j]);
		}
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(e.n, want_n);
		for (size_t j = 0; j < want_n; j++)
			assert_msg(&e, j, tmpfile_path, bc->want[j]);
		assert_defaults(&c);
		config_free(&c);
		config_errors_free(&e);
	}
}

/* The elasticsearch section: defaults, every key, and absence. */
static void test_elasticsearch(void **state)
{
	static const char text[] = "elasticsearch:\n"
	                           "  url: https://es.example:9200/base/\n"
	                           "  index_prefix: flows-1\n"
	                           "  username: nfsentry\n"
	                           "  password_file: /etc/nfsentry/es-password\n"
	                           "  ca_file: /etc/nfsentry/ca.pem\n"
	                           "  verify_tls: false\n"
	                           "  bulk_max_bytes: 8MiB\n"
	                           "  gzip: true\n"
	                           "  timeout_s: 5\n"
	                           "  retry_initial_ms: 20\n"
	                           "  retry_max_s: 2\n"
	                           "  drain_timeout_s: 9\n"
	                           "  dead_letter_path: /tmp/nfsentry-dead.jsonl\n";
	static const char minimal[] = "elasticsearch:\n  url: http://127.0.0.1:9200\n"
	                              "  api_key_env: ES_KEY\n";
	struct config c;
	struct config_errors e;

	(void)state;
	config_defaults(&c);
	assert_false(c.es.enabled);
	assert_string_equal(c.es.index_prefix, "nfsentry");
	assert_true(c.es.verify_tls);
	assert_int_equal(c.es.bulk_max_bytes, 5 * 1024 * 1024);
	assert_false(c.es.gzip);
	assert_int_equal(c.es.timeout_s, 30);
	assert_int_equal(c.es.retry_initial_ms, 500);
	assert_int_equal(c.es.retry_max_s, 60);
	assert_int_equal(c.es.drain_timeout_s, 300);
	assert_string_equal(c.es.dead_letter_path, "data/es-dead-letter.jsonl");

	write_tmp(text, strlen(text));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_true(c.es.enabled);
	assert_string_equal(c.es.url, "https://es.example:9200/base");
	assert_string_equal(c.es.index_prefix, "flows-1");
	assert_string_equal(c.es.username, "nfsentry");
	assert_string_equal(c.es.password_file, "/etc/nfsentry/es-password");
	assert_string_equal(c.es.password_env, "");
	assert_string_equal(c.es.ca_file, "/etc/nfsentry/ca.pem");
	assert_false(c.es.verify_tls);
	assert_int_equal(c.es.bulk_max_bytes, 8 * 1024 * 1024);
	assert_true(c.es.gzip);
	assert_int_equal(c.es.timeout_s, 5);
	assert_int_equal(c.es.retry_initial_ms, 20);
	assert_int_equal(c.es.retry_max_s, 2);
	assert_int_equal(c.es.drain_timeout_s, 9);
	assert_string_equal(c.es.dead_letter_path, "/tmp/nfsentry-dead.jsonl");
	config_free(&c);
	config_errors_free(&e);

	write_tmp(minimal, strlen(minimal));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_true(c.es.enabled);
	assert_string_equal(c.es.url, "http://127.0.0.1:9200");
	assert_string_equal(c.es.api_key_env, "ES_KEY");
	assert_string_equal(c.es.index_prefix, "nfsentry");
	assert_true(c.es.verify_tls);
	config_free(&c);
	config_errors_free(&e);
}

/*
 * elasticsearch.dead_letter_path: its directory must exist (the file is
 * made when first needed, the directory never), except the store's own
 * directory, which the store creates at start.
 */
static void test_dead_letter_dir(void **state)
{
	static const char missing[] = "elasticsearch:\n"
	                              "  url: http://127.0.0.1:9200\n"
	                              "  dead_letter_path: /nonexistent-nfsentry/dl.jsonl\n";
	static const char not_dir[] = "elasticsearch:\n"
	                              "  url: http://127.0.0.1:9200\n"
	                              "  dead_letter_path: /etc/hostname/dl.jsonl\n";
	static const char store_dir[] = "store:\n  path: /nonexistent-nfsentry/s.db\n"
	                                "elasticsearch:\n"
	                                "  url: http://127.0.0.1:9200\n"
	                                "  dead_letter_path: /nonexistent-nfsentry/dl.jsonl\n";
	static const char dflt[] = "elasticsearch:\n  url: http://127.0.0.1:9200\n";
	struct config c;
	struct config_errors e;
	char prefix[256];

	(void)state;
	snprintf(prefix, sizeof(prefix), "%s:3: elasticsearch.dead_letter_path: ", tmpfile_path);
	write_tmp(missing, strlen(missing));
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, prefix,
	           "directory /nonexistent-nfsentry: No such file or directory "
	           "(got \"/nonexistent-nfsentry/dl.jsonl\")");
	config_free(&c);
	config_errors_free(&e);

	write_tmp(not_dir, strlen(not_dir));
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, prefix,
	           "/etc/hostname is not a directory (got \"/etc/hostname/dl.jsonl\")");
	config_free(&c);
	config_errors_free(&e);

	write_tmp(store_dir, strlen(store_dir));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	config_free(&c);
	config_errors_free(&e);
	write_tmp(dflt, strlen(dflt)); /* data/ beside data/nfsentry.db */
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	config_free(&c);
	config_errors_free(&e);
}

/* A FIFO (or any file that is not regular) is refused at once, not read forever. */
static void test_not_regular(void **state)
{
	struct config c;
	struct config_errors e;
	char fifo[160];

	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/fifo.yaml", tmpdir);
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(config_load(fifo, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, fifo, ": cannot read: not a regular file (a FIFO, socket or device)");
	config_free(&c);
	config_errors_free(&e);
	unlink(fifo);
	assert_int_equal(config_load("/dev/null", &c, &e), -EINVAL);
	config_free(&c);
	config_errors_free(&e);
}

static const char *const env_vars[] = {
    "NFSENTRY_LOG_LEVEL",   "NFSENTRY_LISTEN",           "NFSENTRY_STORE_PATH",
    "NFSENTRY_WEB_LISTEN",  "NFSENTRY_WEB_TOKEN_FILE",   "NFSENTRY_ES_URL",
    "NFSENTRY_ES_USERNAME", "NFSENTRY_ES_PASSWORD_FILE", "NFSENTRY_ES_API_KEY_FILE",
    "NFSENTRY_ES_CA_FILE",
};

static void env_clear(void)
{
	for (size_t i = 0; i < NWANT(env_vars); i++)
		assert_int_equal(unsetenv(env_vars[i]), 0);
}

/* Whatever test_env_overrides set is gone before the next test, even when it failed. */
static int env_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < NWANT(env_vars); i++)
		unsetenv(env_vars[i]);
	return 0;
}

/* Load the temporary file, which must fail with exactly the n messages want. */
static void assert_env_fails(const char *const *want, size_t n)
{
	struct config c;
	struct config_errors e;

	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	for (size_t i = 0; e.n != n && i < e.n; i++)
		print_error("%s\n", e.msg[i]);
	assert_int_equal(e.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(e.msg[i], want[i]);
	assert_defaults(&c);
	config_free(&c);
	config_errors_free(&e);
}

/*
 * Environment overrides (docs/configuration.md): applied after the file,
 * read by the same parsers, errors naming the variable.
 */
static void test_env_overrides(void **state)
{
	static const char text[] = "listen: [127.0.0.1:2055]\n"
	                           "web:\n  listen: [127.0.0.1:8080]\n"
	                           "elasticsearch:\n"
	                           "  url: http://127.0.0.1:9200\n"
	                           "  username: nfsentry\n"
	                           "  password_env: ES_PASSWORD\n"
	                           "  index_prefix: fromfile\n";
	struct config c;
	struct config_errors e;

	(void)state;
	env_clear();
	write_tmp(text, strlen(text));
	setenv("NFSENTRY_LISTEN", "0.0.0.0:2055, [::]:2055 0.0.0.0:4739", 1);
	setenv("NFSENTRY_WEB_LISTEN", "0.0.0.0:8080", 1);
	setenv("NFSENTRY_ES_URL", "https://elasticsearch:9200/", 1);
	setenv("NFSENTRY_ES_USERNAME", "elastic", 1);
	setenv("NFSENTRY_ES_PASSWORD_FILE", "/run/secrets/es-password", 1);
	setenv("NFSENTRY_ES_CA_FILE", "/etc/nfsentry/certs/ca.crt", 1);
	setenv("NFSENTRY_LOG_LEVEL", "debug", 1);
	setenv("NFSENTRY_STORE_PATH", "data/env.db", 1);
	setenv("NFSENTRY_WEB_TOKEN_FILE", "/etc/nfsentry/web-token", 1);
	setenv("NFSENTRY_ES_API_KEY_FILE", "", 1); /* empty: not set */
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(c.n_listen, 3);
	assert_string_equal(c.listen[0].host, "0.0.0.0");
	assert_string_equal(c.listen[1].host, "::");
	assert_int_equal(c.listen[1].port, 2055);
	assert_int_equal(c.listen[2].port, 4739);
	assert_int_equal(c.web.n_listen, 1);
	assert_string_equal(c.web.listen[0].host, "0.0.0.0");
	assert_string_equal(c.web.token_file, "/etc/nfsentry/web-token");
	assert_true(c.es.enabled);
	assert_string_equal(c.es.url, "https://elasticsearch:9200");
	assert_string_equal(c.es.username, "elastic");
	assert_string_equal(c.es.password_file, "/run/secrets/es-password");
	assert_string_equal(c.es.password_env, ""); /* the environment's credential replaces it */
	assert_string_equal(c.es.ca_file, "/etc/nfsentry/certs/ca.crt");
	assert_string_equal(c.es.index_prefix, "fromfile"); /* not overridden: the file's */
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	assert_string_equal(c.store_path, "data/env.db");
	config_free(&c);
	config_errors_free(&e);

	/* An API key from the environment replaces the file's user and password ... */
	env_clear();
	setenv("NFSENTRY_ES_API_KEY_FILE", "/run/secrets/es-api-key", 1);
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_string_equal(c.es.api_key_file, "/run/secrets/es-api-key");
	assert_string_equal(c.es.username, "");
	assert_string_equal(c.es.password_env, "");
	config_free(&c);
	config_errors_free(&e);
	/* ... but not a user the environment gives too: the two conflict. */
	setenv("NFSENTRY_ES_USERNAME", "elastic", 1);
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.msg[0],
	                    "environment NFSENTRY_ES_API_KEY_FILE, NFSENTRY_ES_USERNAME: "
	                    "elasticsearch: username needs password_file or password_env");
	assert_string_equal(e.msg[1],
	                    "environment NFSENTRY_ES_API_KEY_FILE, NFSENTRY_ES_USERNAME: "
	                    "elasticsearch: an API key and a username exclude each other");
	config_free(&c);
	config_errors_free(&e);

	/* With no elasticsearch section, the URL alone turns the shipper on. */
	env_clear();
	write_tmp("log:\n", 5);
	setenv("NFSENTRY_ES_URL", "http://127.0.0.1:9200", 1);
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_true(c.es.enabled);
	assert_string_equal(c.es.url, "http://127.0.0.1:9200");
	assert_int_equal(c.n_listen, 6); /* the defaults stay */
	config_free(&c);
	config_errors_free(&e);

	/* Errors: the parsers' own messages, each naming its variable; nothing applied. */
	env_clear();
	setenv("NFSENTRY_ES_URL", "ftp://es", 1);
	setenv("NFSENTRY_LISTEN", "127.0.0.1:2055,127.0.0.1", 1);
	setenv("NFSENTRY_WEB_LISTEN", "127.0.0.1:8080 127.0.0.1:8080", 1);
	setenv("NFSENTRY_LOG_LEVEL", "loud", 1);
	setenv("NFSENTRY_ES_USERNAME", "a:b", 1);
	static const char *const want[] = {
	    "environment NFSENTRY_LOG_LEVEL: log.level: not one of error, warn, info, debug "
	    "(got \"loud\")",
	    "environment NFSENTRY_LISTEN: listen[1]: not ADDR:PORT (got \"127.0.0.1\")",
	    "environment NFSENTRY_WEB_LISTEN: web.listen[1]: same address and port as "
	    "web.listen[0] (got \"127.0.0.1:8080\")",
	    "environment NFSENTRY_ES_URL: elasticsearch.url: not an http:// or https:// URL "
	    "(got \"ftp://es\")",
	    "environment NFSENTRY_ES_USERNAME: elasticsearch.username: must be 1..255 "
	    "characters without ':' (got \"a:b\")",
	};
	assert_env_fails(want, NWANT(want));

	/* The file's errors and the environment's are all reported. */
	env_clear();
	write_tmp("listen: [nowhere]\n", 18);
	setenv("NFSENTRY_ES_PASSWORD_FILE", "/run/secrets/es-password", 1);
	char first[512];
	snprintf(first, sizeof(first), "%s:1: listen[0]: not ADDR:PORT (got \"nowhere\")",
	         tmpfile_path);
	const char *const want2[] = {
	    first,
	    "environment NFSENTRY_ES_PASSWORD_FILE: elasticsearch: a password needs a username",
	};
	assert_env_fails(want2, NWANT(want2));
	env_clear();
}

/* The web section: defaults, every key, the off switch, and its errors. */
/* attack: defaults, every key, overrides with inheritance, and what is refused. */
static void test_attack(void **state)
{
	static const char text[] = "sites:\n"
	                           "  - name: campus\n"
	                           "    inside: [10.0.0.0/16, 2001:db8::/32]\n"
	                           "attack:\n"
	                           "  enabled: true\n"
	                           "  window_s: 3\n"
	                           "  start_windows: 1\n"
	                           "  end_windows: 4\n"
	                           "  update_s: 30\n"
	                           "  max_hosts: 1000\n"
	                           "  max_events: 8\n"
	                           "  hook: /usr/local/bin/block --now\n"
	                           "  hook_timeout_ms: 2500\n"
	                           "  cpus: \"0\"\n"
	                           "  nice: 5\n"
	                           "  thresholds:\n"
	                           "    in:\n"
	                           "      syn: {pps: 5000, fps: 0}\n"
	                           "    out:\n"
	                           "      udp: {bps: 300000000}\n"
	                           "      fragments: {pps: 2500}\n"
	                           "  sites:\n"
	                           "    - site: campus\n"
	                           "      thresholds:\n"
	                           "        in: {icmp: {pps: 1000}}\n"
	                           "      groups:\n"
	                           "        - prefix: 10.0.5.0/24\n"
	                           "          thresholds: {in: {udp: {pps: 900000}}}\n";
	static const struct {
		const char *yaml, *want;
	} bad[] = {
	    {"attack:\n  window_s: 61\n", ":2: attack.window_s: must be 1..60 (got \"61\")"},
	    {"attack:\n  start_windows: 0\n", ":2: attack.start_windows: must be 1..255 (got \"0\")"},
	    {"attack:\n  thresholds: {in: {synn: {pps: 1}}}\n",
	     ":2: attack.thresholds.in.synn: unknown key; did you mean \"syn\"?"},
	    {"attack:\n  thresholds: {up: {}}\n", ":2: attack.thresholds.up: unknown key"},
	    {"attack:\n  thresholds: {in: {udp: {pps: -1}}}\n",
	     ":2: attack.thresholds.in.udp.pps: not a whole number (got \"-1\")"},
	    {"attack:\n  thresholds: {out: {udp: {bps: 1000000000001}}}\n",
	     ":2: attack.thresholds.out.udp.bps: must be 0..1000000000000 (got \"1000000000001\")"},
	    {"attack:\n  sites:\n    - site: nowhere\n",
	     ":3: attack.sites[0]: no site named nowhere in sites"},
	    {"sites:\n  - name: campus\n    inside: [10.0.0.0/16]\n"
	     "attack:\n  sites:\n    - site: campus\n      groups:\n        - prefix: 10.9.0.0/24\n",
	     ":8: attack.sites[0].groups[0].prefix: not inside any prefix of site campus"},
	    {"sites:\n  - name: campus\n    inside: [10.0.0.0/16]\n"
	     "attack:\n  sites:\n    - site: campus\n    - site: campus\n",
	     ":7: attack.sites[1]: site campus already has overrides in attack.sites[0]"},
	    {"attack:\n  sites:\n    - thresholds: {}\n", ":3: attack.sites[0]: missing key \"site\""},
	    {"attack:\n  cpus: 3-1\n", ":2: attack.cpus: the range 3-1 runs backwards (got \"3-1\")"},
	    {"attack:\n  cpus: \"1,x\"\n",
	     ":2: attack.cpus: at character 3: not a CPU number below 1024 (\"2\", \"0-3,6\") "
	     "(got \"1,x\")"},
	    {"attack:\n  cpus: [1]\n",
	     ":2: attack.cpus: expected a list of CPUs (\"2\", \"0-3,6\"), got a list"},
	    {"attack:\n  nice: 20\n", ":2: attack.nice: must be 0..19 (got \"20\")"},
	    {"attack:\n  nice: -5\n", ":2: attack.nice: not a whole number (got \"-5\")"},
	};
	struct config c;
	struct config_errors e;

	(void)state;
	config_defaults(&c);
	assert_true(c.attack.enabled);
	assert_int_equal(c.attack.window_s, 5);
	assert_int_equal(c.attack.start_windows, 2);
	assert_int_equal(c.attack.end_windows, 5);
	assert_int_equal(c.attack.update_s, 10);
	assert_int_equal(c.attack.max_hosts, 65536);
	assert_int_equal(c.attack.max_events, 256);
	assert_string_equal(c.attack.hook, "");
	assert_int_equal(c.attack.hook_timeout_ms, 5000);
	assert_true(cpu_list_empty(&c.attack.cpus)); /* not pinned */
	assert_int_equal(c.attack.nice, 19); /* yields its CPU to the reading thread */
	/* The documented defaults (docs/attacks.md), as literal numbers. */
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_SYN][ATTACK_PPS], 20000);
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_SYN][ATTACK_FPS], 10000);
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_UDP][ATTACK_PPS], 100000);
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_TOTAL][ATTACK_BPS], 4000000000ull);
	assert_int_equal(c.attack.th.v[ATTACK_OUT][ATTACK_CLASS_UDP][ATTACK_PPS], 50000);
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_TCP][ATTACK_BPS], 0);
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_FRAG][ATTACK_PPS], 10000);
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_FRAG][ATTACK_BPS], 200000000);
	assert_int_equal(c.attack.th.v[ATTACK_OUT][ATTACK_CLASS_FRAG][ATTACK_PPS], 10000);
	assert_int_equal(c.attack.th.v[ATTACK_OUT][ATTACK_CLASS_FRAG][ATTACK_BPS], 100000000);

	write_tmp(text, strlen(text));
	int rc = config_load(tmpfile_path, &c, &e);
	for (size_t j = 0; j < e.n; j++)
		print_error("%s\n", e.msg[j]);
	assert_int_equal(rc, 0);
	assert_int_equal(c.attack.window_s, 3);
	assert_int_equal(c.attack.start_windows, 1);
	assert_int_equal(c.attack.end_windows, 4);
	assert_int_equal(c.attack.update_s, 30);
	assert_int_equal(c.attack.max_hosts, 1000);
	assert_int_equal(c.attack.max_events, 8);
	assert_string_equal(c.attack.hook, "/usr/local/bin/block --now");
	assert_int_equal(c.attack.hook_timeout_ms, 2500);
	assert_true(cpu_list_has(&c.attack.cpus, 0));
	assert_int_equal(cpu_list_max(&c.attack.cpus), 0);
	assert_int_equal(c.attack.nice, 5);
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_SYN][ATTACK_PPS], 5000);
	assert_int_equal(c.attack.th.v[ATTACK_IN][ATTACK_CLASS_SYN][ATTACK_FPS], 0);
	assert_int_equal(c.attack.th.v[ATTACK_OUT][ATTACK_CLASS_UDP][ATTACK_BPS], 300000000);
	assert_int_equal(c.attack.th.v[ATTACK_OUT][ATTACK_CLASS_FRAG][ATTACK_PPS], 2500);
	assert_int_equal(c.attack.th.v[ATTACK_OUT][ATTACK_CLASS_FRAG][ATTACK_BPS], 100000000);
	/* Keys not given keep their defaults. */
	assert_int_equal(c.attack.th.v[ATTACK_OUT][ATTACK_CLASS_UDP][ATTACK_PPS], 50000);
	assert_int_equal(c.attack.n_sites, 1);
	const struct attack_site *as = &c.attack.sites[0];
	assert_string_equal(as->site, "campus");
	assert_int_equal(as->th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS], 1000);
	/* An override leaves the rest unset: inherited. */
	assert_true(as->th.v[ATTACK_IN][ATTACK_CLASS_SYN][ATTACK_PPS] == ATTACK_UNSET);
	assert_int_equal(as->n_groups, 1);
	assert_int_equal(as->groups[0].prefix.len, 96 + 24);
	assert_int_equal(as->groups[0].th.v[ATTACK_IN][ATTACK_CLASS_UDP][ATTACK_PPS], 900000);
	assert_true(as->groups[0].th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] == ATTACK_UNSET);
	config_free(&c);
	config_errors_free(&e);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_tmp(bad[i].yaml, strlen(bad[i].yaml));
		rc = config_load(tmpfile_path, &c, &e);
		if (rc != -EINVAL || e.n != 1)
			for (size_t j = 0; j < e.n; j++)
				print_error("case %zu: %s\n", i, e.msg[j]);
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(e.n, 1);
		assert_msg(&e, 0, tmpfile_path, bad[i].want);
		config_free(&c);
		config_errors_free(&e);
	}

	/* A CPU the machine lacks: refused at load, not when the thread starts. */
	long n = sysconf(_SC_NPROCESSORS_CONF);
	char yaml[64], want[160];
	snprintf(yaml, sizeof(yaml), "attack:\n  cpus: 0,%ld\n", n);
	snprintf(want, sizeof(want),
	         ":2: attack.cpus: CPU %ld is not on this machine (its CPUs are 0-%ld) (got \"0,%ld\")",
	         n, n - 1, n);
	write_tmp(yaml, strlen(yaml));
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, tmpfile_path, want);
	config_free(&c);
	config_errors_free(&e);
}

static void test_web(void **state)
{
	static const char text[] = "web:\n"
	                           "  listen: [127.0.0.1:9090, \"[::1]:9091\"]\n"
	                           "  token_file: /etc/nfsentry/web-token\n"
	                           "  cert_file: /etc/nfsentry/web.pem\n"
	                           "  key_file: /etc/nfsentry/web-key.pem\n"
	                           "  max_connections: 4096\n"
	                           "  timeout_s: 1\n";
	static const char off[] = "web:\n  listen: []\n";
	static const struct {
		const char *yaml, *want;
	} bad[] = {
	    {"web:\n  cert_file: /a.pem\n", ":2: web: cert_file and key_file go together (HTTPS)"},
	    {"web:\n  key_file: /a.pem\n", ":2: web: cert_file and key_file go together (HTTPS)"},
	    {"web:\n  listen: [localhost:80]\n",
	     ":2: web.listen[0]: not a numeric IPv4 address (host names are not resolved) (got "
	     "\"localhost:80\")"},
	    {"web:\n  listen: [127.0.0.1:80, 127.0.0.1:80]\n",
	     ":2: web.listen[1]: same address and port as web.listen[0] (got \"127.0.0.1:80\")"},
	    {"web:\n  max_connections: 0\n",
	     ":2: web.max_connections: must be 1..4096 (got \"0\")"},
	    {"web:\n  timeout_s: 3601\n", ":2: web.timeout_s: must be 1..3600 (got \"3601\")"},
	    {"web:\n  token_file: \"\"\n", ":2: web.token_file: empty; expected a file path"},
	    {"web:\n  tokenfile: /x\n", ":2: web.tokenfile: unknown key; did you mean \"token_file\"?"},
	};
	struct config c;
	struct config_errors e;

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.web.n_listen, 1);
	assert_string_equal(c.web.listen[0].host, "127.0.0.1");
	assert_int_equal(c.web.listen[0].port, 8080);
	assert_string_equal(c.web.token_file, "");
	assert_string_equal(c.web.cert_file, "");
	assert_int_equal(c.web.max_connections, 64);
	assert_int_equal(c.web.timeout_s, 30);

	write_tmp(text, strlen(text));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_int_equal(c.web.n_listen, 2);
	assert_string_equal(c.web.listen[0].host, "127.0.0.1");
	assert_int_equal(c.web.listen[0].port, 9090);
	assert_string_equal(c.web.listen[1].host, "::1");
	assert_int_equal(c.web.listen[1].port, 9091);
	assert_string_equal(c.web.token_file, "/etc/nfsentry/web-token");
	assert_string_equal(c.web.cert_file, "/etc/nfsentry/web.pem");
	assert_string_equal(c.web.key_file, "/etc/nfsentry/web-key.pem");
	assert_int_equal(c.web.max_connections, 4096);
	assert_int_equal(c.web.timeout_s, 1);
	config_free(&c);
	config_errors_free(&e);

	write_tmp(off, strlen(off));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_int_equal(c.web.n_listen, 0);
	assert_int_equal(c.web.max_connections, 64);
	config_free(&c);
	config_errors_free(&e);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_tmp(bad[i].yaml, strlen(bad[i].yaml));
		int rc = config_load(tmpfile_path, &c, &e);
		if (rc != -EINVAL || e.n != 1)
			for (size_t j = 0; j < e.n; j++)
				print_error("case %zu: %s\n", i, e.msg[j]);
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(e.n, 1);
		assert_msg(&e, 0, tmpfile_path, bad[i].want);
		config_free(&c);
		config_errors_free(&e);
	}
}

/* The daily section: defaults, every key, and its errors. */
static void test_daily(void **state)
{
	static const char text[] = "daily:\n"
	                           "  enabled: false\n"
	                           "  tz: Europe/Berlin\n"
	                           "  run_hour: 3\n"
	                           "  max_peers: 1\n"
	                           "  max_flows: 10\n"
	                           "  max_packets: 100\n"
	                           "  probe_targets: 5\n"
	                           "  beacon_max_cv: 0.25\n"
	                           "  beacon_min_contacts: 4\n"
	                           "  mac_min_ips: 3\n"
	                           "  exclude_macs: [0011.2233.4455, \"aa:bb:cc:dd:ee:ff\"]\n"
	                           "  exclude_prefixes: [10.20.0.0/16]\n"
	                           "  report_dir: /tmp\n"
	                           "  hook: [/usr/local/bin/mail-report, noc]\n"
	                           "  timeout_s: 60\n"
	                           "  hook_timeout_s: 5\n";
	static const struct {
		const char *yaml, *want;
	} bad[] = {
	    {"daily:\n  tz: Mars/Olympus\n",
	     ":2: daily: tz: \"Mars/Olympus\" is not a time zone (a TZ database name such as "
	     "Europe/Berlin, found under /usr/share/zoneinfo: Debian package tzdata; without it "
	     "only UTC)"},
	    {"daily:\n  report_dir: /tmp\n  hook: [mail]\n",
	     ":2: daily: hook: the program (first entry) must be an absolute path; it runs "
	     "without a shell"},
	    {"daily:\n  hook: [/bin/true]\n",
	     ":2: daily: hook: needs report_dir (the hook gets the report file)"},
	    {"daily:\n  max_peers: 9\n", ":2: daily.max_peers: must be 1..8 (got \"9\")"},
	    {"daily:\n  run_hour: 24\n", ":2: daily.run_hour: must be 0..23 (got \"24\")"},
	    {"daily:\n  exclude_macs: [router]\n",
	     ":2: daily.exclude_macs[0]: not a MAC address (like aa:bb:cc:dd:ee:ff) (got "
	     "\"router\")"},
	    {"daily:\n  beacon_max_cv: 11\n", ":2: daily.beacon_max_cv: must be 0..10 (got \"11\")"},
	};
	struct config c;
	struct config_errors e;

	(void)state;
	config_defaults(&c);
	assert_true(c.daily.enabled);
	assert_string_equal(c.daily.tz, "UTC");
	assert_int_equal(c.daily.run_hour, 1);
	assert_int_equal(c.daily.max_peers, 2);
	assert_int_equal(c.daily.max_flows, 48);
	assert_int_equal(c.daily.max_packets, 500);
	assert_int_equal(c.daily.probe_targets, 3);
	assert_true(c.daily.beacon_max_cv == 0.1);
	assert_int_equal(c.daily.n_hook, 0);
	assert_string_equal(c.daily.report_dir, "");

	write_tmp(text, strlen(text));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_false(c.daily.enabled);
	assert_string_equal(c.daily.tz, "Europe/Berlin");
	assert_int_equal(c.daily.run_hour, 3);
	assert_int_equal(c.daily.max_peers, 1);
	assert_int_equal(c.daily.max_flows, 10);
	assert_int_equal(c.daily.max_packets, 100);
	assert_int_equal(c.daily.probe_targets, 5);
	assert_true(c.daily.beacon_max_cv == 0.25);
	assert_int_equal(c.daily.beacon_min_contacts, 4);
	assert_int_equal(c.daily.mac_min_ips, 3);
	assert_int_equal(c.daily.n_exclude_macs, 2);
	assert_memory_equal(c.daily.exclude_macs[0], "\x00\x11\x22\x33\x44\x55", 6);
	assert_memory_equal(c.daily.exclude_macs[1], "\xaa\xbb\xcc\xdd\xee\xff", 6);
	assert_int_equal(c.daily.n_exclude_prefixes, 1);
	assert_int_equal(c.daily.exclude_prefixes[0].len, 96 + 16);
	assert_string_equal(c.daily.report_dir, "/tmp");
	assert_int_equal(c.daily.n_hook, 2);
	assert_string_equal(c.daily.hook[0], "/usr/local/bin/mail-report");
	assert_int_equal(c.daily.timeout_s, 60);
	assert_int_equal(c.daily.hook_timeout_s, 5);
	config_free(&c);
	config_errors_free(&e);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_tmp(bad[i].yaml, strlen(bad[i].yaml));
		int rc = config_load(tmpfile_path, &c, &e);
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(e.n, 1);
		assert_msg(&e, 0, tmpfile_path, bad[i].want);
		config_free(&c);
		config_errors_free(&e);
	}
}

/* The alerts section: defaults, every key, and its errors. */
static void test_alerts(void **state)
{
	static const char text[] = "alerts:\n"
	                           "  hook: [/usr/local/bin/alert, --to, noc]\n"
	                           "  timeout_s: 30\n"
	                           "  rate_limit_s: 0\n";
	static const struct {
		const char *yaml, *want;
	} bad[] = {
	    {"alerts:\n  hook: [curl, -d, x]\n",
	     ":2: alerts: hook: the program (first entry) must be an absolute path; it runs "
	     "without a shell"},
	    {"alerts:\n  hook: []\n", ":2: alerts.hook: needs at least 1 entry"},
	    {"alerts:\n  timeout_s: 0\n", ":2: alerts.timeout_s: must be 1..3600 (got \"0\")"},
	    {"alerts:\n  hook: /bin/true\n", ":2: alerts.hook: expected a list (\"- item\" lines or [a, b]), got a single value (got "
	     "\"/bin/true\")"},
	};
	struct config c;
	struct config_errors e;

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.alerts.n_hook, 0);
	assert_int_equal(c.alerts.timeout_s, 10);
	assert_int_equal(c.alerts.rate_limit_s, 3600);

	write_tmp(text, strlen(text));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_int_equal(c.alerts.n_hook, 3);
	assert_string_equal(c.alerts.hook[0], "/usr/local/bin/alert");
	assert_string_equal(c.alerts.hook[2], "noc");
	assert_int_equal(c.alerts.timeout_s, 30);
	assert_int_equal(c.alerts.rate_limit_s, 0);
	config_free(&c);
	config_errors_free(&e);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_tmp(bad[i].yaml, strlen(bad[i].yaml));
		int rc = config_load(tmpfile_path, &c, &e);
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(e.n, 1);
		assert_msg(&e, 0, tmpfile_path, bad[i].want);
		config_free(&c);
		config_errors_free(&e);
	}
}

/* advice: built-in defaults, the top-level map, a site's own overriding it. */
static void test_advice(void **state)
{
	static const char text[] = "advice:\n"
	                           "  flood: Call the upstream provider.\n"
	                           "sites:\n"
	                           "  - name: a\n"
	                           "    inside: [10.0.0.0/8]\n"
	                           "    advice: {flood: Page the on-call engineer., scanOut: Unplug it.}\n"
	                           "  - name: b\n"
	                           "    inside: [192.168.0.0/16]\n";
	struct config c;
	struct config_errors e;

	(void)state;
	write_tmp(text, strlen(text));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_string_equal(c.sites[0].advice[JUDGE_ADV_FLOOD], "Page the on-call engineer.");
	assert_string_equal(c.sites[0].advice[JUDGE_ADV_SCANOUT], "Unplug it.");
	assert_string_equal(c.sites[1].advice[JUDGE_ADV_FLOOD], "Call the upstream provider.");
	assert_string_equal(c.sites[1].advice[JUDGE_ADV_SCANOUT], site_advice_default(JUDGE_ADV_SCANOUT));
	for (unsigned l = 0; l < SITE_ADVICE_LABELS; l++)
		assert_true(c.sites[1].advice[l][0] != '\0');
	config_free(&c);
	config_errors_free(&e);

	write_tmp("advice: {flod: x}\n", 18);
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, tmpfile_path, ":1: advice.flod: unknown key; did you mean \"flood\"?");
	config_free(&c);
	config_errors_free(&e);
}

/* reputation: defaults, every key, and its errors (docs/offenders.md). */
static void test_reputation(void **state)
{
	static const char text[] = "reputation:\n"
	                           "  enabled: false\n"
	                           "  path: /var/lib/nfsentry/rep.db\n"
	                           "  blocklist: /run/nfsentry/block.txt\n"
	                           "  block_labels: [scan, noPayload]\n"
	                           "  min_offences: 2\n"
	                           "  block_base_s: 600\n"
	                           "  block_factor: 3\n"
	                           "  block_max_s: 86400\n"
	                           "  memory_s: 604800\n"
	                           "  history_max: 8\n"
	                           "  max_offenders: 1000\n"
	                           "  allow: [192.0.2.0/24, 2001:db8::53]\n"
	                           "  hook: /usr/local/bin/block.sh\n"
	                           "  hook_timeout_s: 3\n"
	                           "  hook_queue: 10\n"
	                           "  watch_window_s: 0\n"
	                           "  watch_max: 100\n"
	                           "  footprint_max: 50\n";
	static const struct {
		const char *yaml, *want;
	} bad[] = {
	    {"reputation:\n  block_labels: [scan, fanout]\n",
	     ":2: reputation.block_labels[1]: not one of noPayload, flood, scan, probeUnused, "
	     "arpUnused (got \"fanout\")"},
	    {"reputation:\n  block_labels: scan\n",
	     ":2: reputation.block_labels: expected a list of labels, got a single value (got "
	     "\"scan\")"},
	    {"reputation:\n  block_base_s: 7200\n  block_max_s: 3600\n",
	     ":2: reputation: block_max_s (3600) is shorter than block_base_s (7200)"},
	    {"reputation:\n  block_factor: 0\n",
	     ":2: reputation.block_factor: must be 1..100 (got \"0\")"},
	    {"reputation:\n  allow: [192.0.2.1/24]\n",
	     ":2: reputation.allow[0]: address bits set beyond /24; did you mean 192.0.2.0/24? "
	     "(got "
	     "\"192.0.2.1/24\")"},
	    {"reputation:\n  hook: \"\"\n", ":2: reputation.hook: empty; expected a file path"},
	    {"reputation:\n  watch_maxx: 3\n",
	     ":2: reputation.watch_maxx: unknown key; did you mean \"watch_max\"?"},
	    {"sites:\n  - name: _network\n    inside: [10.0.0.0/8]\n",
	     ":2: sites[0].name: reserved for the network-wide documents (got \"_network\")"},
	};
	struct config c;
	struct config_errors e;
	uint32_t bit;

	(void)state;
	config_defaults(&c);
	assert_true(c.reputation.enabled);
	assert_string_equal(c.reputation.path, "");
	assert_int_equal(reputation_label_bit("scan", &bit), 0);
	assert_true(c.reputation.block_labels & bit);
	assert_int_equal(reputation_label_bit("noPayload", &bit), 0);
	assert_false(c.reputation.block_labels & bit);
	assert_int_equal(c.reputation.block_base_s, 3600);
	assert_int_equal(c.reputation.block_factor, 4);
	assert_int_equal(c.reputation.watch_window_s, 86400);
	char db[REPUTATION_PATH_MAX], bl[REPUTATION_PATH_MAX];
	reputation_paths(&c.reputation, c.store_path, db, sizeof(db), bl, sizeof(bl));
	assert_string_equal(db, "data/reputation.db");
	assert_string_equal(bl, "data/blocklist.txt");

	write_tmp(text, strlen(text));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_false(c.reputation.enabled);
	uint32_t scan, nopayload;
	reputation_label_bit("scan", &scan);
	reputation_label_bit("noPayload", &nopayload);
	assert_int_equal(c.reputation.block_labels, scan | nopayload);
	assert_int_equal(c.reputation.min_offences, 2);
	assert_int_equal(c.reputation.block_base_s, 600);
	assert_int_equal(c.reputation.block_factor, 3);
	assert_int_equal(c.reputation.block_max_s, 86400);
	assert_int_equal(c.reputation.memory_s, 604800);
	assert_int_equal(c.reputation.history_max, 8);
	assert_int_equal(c.reputation.max_offenders, 1000);
	assert_int_equal(c.reputation.n_allow, 2);
	assert_int_equal(c.reputation.allow[0].len, 96 + 24);
	assert_int_equal(c.reputation.allow[1].len, 128);
	assert_string_equal(c.reputation.hook, "/usr/local/bin/block.sh");
	assert_int_equal(c.reputation.hook_timeout_s, 3);
	assert_int_equal(c.reputation.hook_queue, 10);
	assert_int_equal(c.reputation.watch_window_s, 0);
	assert_int_equal(c.reputation.watch_max, 100);
	assert_int_equal(c.reputation.footprint_max, 50);
	reputation_paths(&c.reputation, c.store_path, db, sizeof(db), bl, sizeof(bl));
	assert_string_equal(db, "/var/lib/nfsentry/rep.db");
	assert_string_equal(bl, "/run/nfsentry/block.txt");
	config_free(&c);
	config_errors_free(&e);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_tmp(bad[i].yaml, strlen(bad[i].yaml));
		int rc = config_load(tmpfile_path, &c, &e);
		if (rc != -EINVAL || e.n != 1)
			for (size_t j = 0; j < e.n; j++)
				print_error("case %zu: %s\n", i, e.msg[j]);
		assert_int_equal(rc, -EINVAL);
		assert_int_equal(e.n, 1);
		assert_msg(&e, 0, tmpfile_path, bad[i].want);
		config_free(&c);
		config_errors_free(&e);
	}
}

/* Values at the edges of their ranges are accepted. */
static void test_edges_accepted(void **state)
{
	struct config c;
	struct config_errors e;
	static const char text[] = "log: { level: error, syslog: off }\n"
	                           "listen: [\"1.2.3.4:1\", \"[::ffff:1.2.3.4]:65535\"]\n"
	                           "receive_buffer_bytes: 0\n"
	                           "exporters:\n"
	                           "  allow: [0.0.0.0/0, \"::/0\", 10.0.0.0/8]\n"
	                           "  sampling: [{ exporter: 10.1.1.1, rate: 4294967295 }, { rate: "
	                           "1, exporter: \"::1\" }]\n"
	                           "templates: { lifetime_s: 60, max_per_exporter: 65280, scope: "
	                           "session, max_bytes: 64 GiB }\n"
	                           "limits: { max_exporters: 1048576, max_domains_per_address: 1, "
	                           "max_ports_per_address: 65536 }\n";
	int rc;

	(void)state;
	write_tmp(text, sizeof(text) - 1);
	rc = config_load(tmpfile_path, &c, &e);
	for (size_t i = 0; i < e.n; i++)
		print_error("%s\n", e.msg[i]);
	assert_int_equal(rc, 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(c.log_level, LOG_LVL_ERROR);
	assert_false(c.log_syslog);
	assert_int_equal(c.n_listen, 2);
	assert_string_equal(c.listen[0].host, "1.2.3.4");
	assert_int_equal(c.listen[0].port, 1);
	assert_string_equal(c.listen[1].host, "::ffff:1.2.3.4");
	assert_int_equal(c.listen[1].port, 65535);
	assert_int_equal(c.rcvbuf_bytes, 0);
	assert_int_equal(c.decoder.n_allow, 3);
	assert_int_equal(c.decoder.allow[0].len, 96);
	assert_int_equal(c.decoder.allow[1].len, 0);
	assert_int_equal(c.decoder.allow[2].len, 104);
	assert_int_equal(c.decoder.n_sampling, 2);
	assert_int_equal(c.decoder.sampling[0].rate, UINT32_MAX);
	addr_is(&c.decoder.sampling[1].exporter, "::1");
	assert_int_equal(c.decoder.sampling[1].rate, 1);
	assert_int_equal(c.decoder.max_template_bytes, 68719476736ull);
	assert_int_equal(c.decoder.max_domains_per_address, 1);
	assert_int_equal(c.decoder.max_ports_per_address, 65536);
	assert_int_equal(c.decoder.template_lifetime_s, 60);
	assert_int_equal(c.decoder.max_templates_per_exporter, 65280);
	assert_int_equal(c.decoder.template_scope, DECODER_SCOPE_SESSION);
	assert_int_equal(c.decoder.max_exporters, 1048576);
	config_free(&c);
	config_errors_free(&e);

	/* Byte suffixes, with or without a space. */
	static const struct {
		const char *text;
		int bytes;
	} sizes[] = {
	    {"receive_buffer_bytes: 4KiB\n", 4096},
	    {"receive_buffer_bytes: 32 MiB\n", 33554432},
	    {"receive_buffer_bytes: 1GiB\n", 1073741824},
	    {"receive_buffer_bytes: 2147483647\n", 2147483647},
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		write_tmp(sizes[i].text, strlen(sizes[i].text));
		assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
		assert_int_equal(c.rcvbuf_bytes, sizes[i].bytes);
		config_free(&c);
		config_errors_free(&e);
	}
}

static void test_list_limits(void **state)
{
	char text[4096];
	size_t off;
	struct config c;
	struct config_errors e;
	char want[128];

	(void)state;
	off = (size_t)snprintf(text, sizeof(text), "listen:\n");
	for (int i = 0; i <= CONFIG_MAX_LISTEN; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "  - 127.0.0.1:%d\n",
		                        1000 + i);
	write_tmp(text, off);
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	/* Entry 32 (0-based) sits on line 34. */
	snprintf(want, sizeof(want), ":%d: listen: more than %d entries", CONFIG_MAX_LISTEN + 2,
	         CONFIG_MAX_LISTEN);
	assert_msg(&e, 0, tmpfile_path, want);
	assert_defaults(&c);
	config_free(&c);
	config_errors_free(&e);

	/* Exactly CONFIG_MAX_LISTEN is fine. */
	off = (size_t)snprintf(text, sizeof(text), "listen:\n");
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "  - 127.0.0.1:%d\n",
		                        1000 + i);
	write_tmp(text, off);
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_int_equal(c.n_listen, CONFIG_MAX_LISTEN);
	assert_int_equal(c.listen[CONFIG_MAX_LISTEN - 1].port, 1000 + CONFIG_MAX_LISTEN - 1);
	config_free(&c);
	config_errors_free(&e);
}

/* A file full of mistakes gives CONFIG_MAX_ERRORS lines, the last one saying so. */
static void test_too_many_errors(void **state)
{
	static char text[8192];
	size_t off = 0;
	struct config c;
	struct config_errors e;

	(void)state;
	for (int i = 0; i < 300; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "k%d: 1\n", i);
	write_tmp(text, off);
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, CONFIG_MAX_ERRORS);
	assert_msg(&e, 0, tmpfile_path, ":1: k0: unknown key");
	assert_msg(&e, CONFIG_MAX_ERRORS - 2, tmpfile_path, ":99: k98: unknown key");
	assert_msg(&e, CONFIG_MAX_ERRORS - 1, tmpfile_path,
	           ": too many errors; the rest are not shown");
	config_free(&c);
	config_errors_free(&e);
}

static void test_too_big(void **state)
{
	FILE *f = fopen(tmpfile_path, "wb");
	struct config c;
	struct config_errors e;
	char want[128];

	(void)state;
	assert_non_null(f);
	for (int i = 0; i <= CONFIG_MAX_FILE_BYTES / 16; i++)
		assert_int_equal(fwrite("# padding line.\n", 1, 16, f), 16);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EFBIG);
	assert_int_equal(e.n, 1);
	snprintf(want, sizeof(want), ": cannot read: larger than %d bytes", CONFIG_MAX_FILE_BYTES);
	assert_msg(&e, 0, tmpfile_path, want);
	config_free(&c);
	config_errors_free(&e);
}

/*
 * Make the n-th allocation fail, for every n until a load succeeds: each
 * must return -ENOMEM with defaults in cfg, and (under ASan) leak nothing.
 * Also run on a file with errors, so the error path is swept too.
 */
static void test_alloc_failures(void **state)
{
	static const char *const files[] = {DATA "good.yaml", DATA "many_errors.yaml"};

	(void)state;
	for (size_t fi = 0; fi < 2; fi++) {
		int want_final = fi == 0 ? 0 : -EINVAL;
		long n;

		for (n = 0; n < 10000; n++) {
			struct config c;
			struct config_errors e;
			int rc;

			fault_arm((unsigned long)n, FAULT_STICKY);
			rc = config_load(files[fi], &c, &e);
			fault_disarm();
			if (rc == want_final) {
				config_free(&c);
				config_errors_free(&e);
				break;
			}
			assert_int_equal(rc, -ENOMEM);
			assert_defaults(&c);
			assert_null(c.path);
			config_free(&c);
			config_errors_free(&e);
		}
		/* good.yaml: buffer, tree nodes, strings, arrays, path; dozens. */
		assert_true(n > 20);
		assert_true(n < 10000);
	}
}

/* A file with site mistakes of every per-site kind: each one is reported. */
static void test_sites_errors(void **state)
{
	static const char *const want[] = {
	    ":6: sites[0].inside[1]: address bits set beyond /24; did you mean "
	    "198.51.100.0/24? (got \"198.51.100.1/24\")",
	    ":9: sites[0].thresholds.scan_min_share: must be 0..1 (got \"1.5\")",
	    ":10: sites[0].thresholds.flood_max_answer: not a decimal number (like 0.5) "
	    "(got \"abc\")",
	    ":11: sites[1].name: a site name is 1..63 characters of A-Z a-z 0-9 _ . - (got "
	    "\"lab one\")",
	    ":12: sites[1].inside: needs at least 1 entry",
	    ":13: sites[2]: missing key \"name\"",
	    ":15: slots.grace_s: must be 0..290 (got \"300\")",
	    ":17: store.retention_days: must be 1..3650 (got \"0\")",
	    ":19: documents.outside: not one of all, top (got \"some\")",
	};

	(void)state;
	assert_load_fails(DATA "sites_errors.yaml", want, NWANT(want));
}

/* Names and prefixes repeated across sites, reported in line order. */
static void test_sites_conflicts(void **state)
{
	static const char *const want[] = {
	    ":12: sites[1].inside[1]: same prefix as sites[0].inside[1] (got "
	    "\"::ffff:198.51.100.0/120\")",
	    ":13: sites[1].inside[2]: same prefix as sites[1].inside[0] (got "
	    "\"203.0.113.0/24\")",
	    ":14: sites[2].name: site name already used by sites[0] (got \"campus\")",
	};

	(void)state;
	assert_load_fails(DATA "sites_conflicts.yaml", want, NWANT(want));
}

/* Every new key at the edges of its range, and empty site lists. */
static void test_sites_edges_accepted(void **state)
{
	static const char text[] =
	    "sites:\n"
	    "  - name: a123456789b123456789c123456789d123456789e123456789f123456789abc\n"
	    "    inside: [0.0.0.0/0, \"::/0\", 10.0.0.0/8, 10.1.0.0/16, 192.0.2.7]\n"
	    "    peer_cap: 1\n"
	    "    allow: [10.1.2.3, \"::1\", 255.255.255.255]\n"
	    "    thresholds: { scan_min_share: 0, flood_max_answer: 1000000, min_packets: 1,\n"
	    "                  p2p_min_octets: 1000000000000000, nopayload_max_avg: 0,\n"
	    "                  scanout_max_return: 0.000001, floodout_max_return: 007.50 }\n"
	    "    caps: { max_inside: 1, max_outside: 2147483648, max_pairs: 2147483648 }\n"
	    "  - name: \"0\"\n"
	    "    inside: [\"::ffff:198.51.100.0/120\", \"2001:db8::/32\"]\n"
	    "    peer_cap: 1000000\n"
	    "    thresholds: { scan_min_share: 1.0 }\n"
	    "    allow:\n"
	    "slots: { grace_s: 0 }\n"
	    "store: { path: x, retention_days: 3650, spool_path: /s, spool_max_mib: 1048576,\n"
	    "         write_retry_s: 0 }\n"
	    "documents: { outside: top, outside_top: 0 }\n";
	struct config c;
	struct config_errors e;
	int rc;

	(void)state;
	write_tmp(text, sizeof(text) - 1);
	rc = config_load(tmpfile_path, &c, &e);
	for (size_t i = 0; i < e.n; i++)
		print_error("%s\n", e.msg[i]);
	assert_int_equal(rc, 0);
	assert_int_equal(c.n_sites, 2);
	assert_string_equal(c.sites[0].name,
	                    "a123456789b123456789c123456789d123456789e123456789f123456789abc");
	assert_int_equal(c.sites[0].n_inside, 5);
	assert_int_equal(c.sites[0].inside[0].len, 96);
	assert_int_equal(c.sites[0].inside[1].len, 0);
	assert_int_equal(c.sites[0].inside[2].len, 104);
	assert_int_equal(c.sites[0].inside[3].len, 112);
	assert_int_equal(c.sites[0].inside[4].len, 128);
	addr_is(&c.sites[0].inside[4].addr, "192.0.2.7");
	assert_int_equal(c.sites[0].peer_cap, 1);
	assert_int_equal(c.sites[0].n_allow, 3);
	addr_is(&c.sites[0].allow[2], "255.255.255.255");
	assert_true(c.sites[0].th.scan_min_share == 0.0);
	assert_true(c.sites[0].th.flood_max_answer == 1000000.0);
	assert_int_equal(c.sites[0].th.min_packets, 1);
	assert_int_equal(c.sites[0].th.p2p_min_octets, 1000000000000000ull);
	assert_int_equal(c.sites[0].th.nopayload_max_avg, 0);
	assert_true(c.sites[0].th.scanout_max_return == 0.000001);
	assert_true(c.sites[0].th.floodout_max_return == 7.5);
	/* Keys not given in a thresholds mapping keep their defaults. */
	assert_int_equal(c.sites[0].th.scan_min_targets, 2);
	assert_int_equal(c.sites[0].caps.max_inside, 1);
	assert_int_equal(c.sites[0].caps.max_outside, 2147483648u);
	assert_int_equal(c.sites[0].caps.max_pairs, 2147483648u);
	assert_string_equal(c.sites[1].name, "0");
	/* IPv6 notation for an IPv4 prefix: the length is taken as written. */
	assert_int_equal(c.sites[1].inside[0].len, 120);
	addr_is(&c.sites[1].inside[0].addr, "198.51.100.0");
	assert_int_equal(c.sites[1].peer_cap, 1000000);
	assert_true(c.sites[1].th.scan_min_share == 1.0);
	assert_null(c.sites[1].allow);
	assert_int_equal(c.sites[1].n_allow, 0);
	assert_int_equal(c.grace_s, 0);
	assert_string_equal(c.store_path, "x");
	assert_int_equal(c.retention_days, 3650);
	assert_string_equal(c.spool_path, "/s");
	assert_int_equal(c.spool_max_mib, 1048576);
	assert_int_equal(c.write_retry_s, 0);
	assert_false(c.docs_outside_all);
	assert_int_equal(c.docs_outside_top, 0);
	config_free(&c);
	assert_defaults(&c);
	config_errors_free(&e);

	/* "sites:" and "sites: []" are no sites: decode only. */
	static const char *const empty[] = {"sites:\n", "sites: []\n"};
	for (size_t i = 0; i < 2; i++) {
		write_tmp(empty[i], strlen(empty[i]));
		assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
		assert_defaults(&c);
		config_free(&c);
		config_errors_free(&e);
	}
}

/*
 * The site list limits, and the duplicate search at size: two sites with
 * the same 4096 prefixes give 4096 findings, cut at CONFIG_MAX_ERRORS.
 */
static void test_sites_limits(void **state)
{
	static char text[600000];
	size_t off;
	struct config c;
	struct config_errors e;
	char want[160];

	(void)state;
	off = (size_t)snprintf(text, sizeof(text), "sites:\n");
	for (int i = 0; i <= CONFIG_MAX_SITES; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		                        "  - { name: s%d, inside: [10.%d.%d.0/24] }\n", i, i / 256,
		                        i % 256);
	write_tmp(text, off);
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	snprintf(want, sizeof(want), ":%d: sites: more than %d entries", CONFIG_MAX_SITES + 2,
	         CONFIG_MAX_SITES);
	assert_msg(&e, 0, tmpfile_path, want);
	config_free(&c);
	config_errors_free(&e);

	off = (size_t)snprintf(text, sizeof(text), "sites:\n");
	for (int s = 0; s < 2; s++) {
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		                        "  - name: s%d\n    inside:\n", s);
		for (int i = 0; i < CONFIG_MAX_SITE_PREFIXES; i++)
			off += (size_t)snprintf(text + off, sizeof(text) - off,
			                        "      - 10.%d.%d.0/24\n", i / 256, i % 256);
	}
	assert_true(off < sizeof(text) - 1);
	write_tmp(text, off);
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, CONFIG_MAX_ERRORS);
	/* Site s1 starts on line 4100; its first prefix is on line 4102. */
	assert_msg(&e, 0, tmpfile_path,
	           ":4102: sites[1].inside[0]: same prefix as sites[0].inside[0] (got "
	           "\"10.0.0.0/24\")");
	assert_msg(&e, CONFIG_MAX_ERRORS - 2, tmpfile_path,
	           ":4200: sites[1].inside[98]: same prefix as sites[0].inside[98] (got "
	           "\"10.0.98.0/24\")");
	assert_msg(&e, CONFIG_MAX_ERRORS - 1, tmpfile_path,
	           ": too many errors; the rest are not shown");
	config_free(&c);
	config_errors_free(&e);

	/* One site at the prefix limit, one past it. */
	off = (size_t)snprintf(text, sizeof(text), "sites:\n  - name: s\n    inside:\n");
	for (int i = 0; i <= CONFIG_MAX_SITE_PREFIXES; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "      - 10.%d.%d.0/24\n",
		                        i / 256, i % 256);
	write_tmp(text, off);
	assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	snprintf(want, sizeof(want), ":%d: sites[0].inside: more than %d entries",
	         CONFIG_MAX_SITE_PREFIXES + 4, CONFIG_MAX_SITE_PREFIXES);
	assert_msg(&e, 0, tmpfile_path, want);
	config_free(&c);
	config_errors_free(&e);
	write_tmp(text, off - strlen("      - 16.0.0.0/24\n"));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_int_equal(c.sites[0].n_inside, CONFIG_MAX_SITE_PREFIXES);
	config_free(&c);
	config_errors_free(&e);
}

/* sites[].devices: every key, the per-kind defaults, and each refusal. */
static void test_devices(void **state)
{
	static const char text[] = "sites:\n"
	                           "  - name: campus\n"
	                           "    inside: [10.10.0.0/16]\n"
	                           "    devices:\n"
	                           "      - name: gw1\n"
	                           "        kind: ios-xr\n"
	                           "        host: 192.0.2.254\n"
	                           "        port: 2222\n"
	                           "        user: noc\n"
	                           "        key: /etc/nfsentry/id_ed25519\n"
	                           "        known_hosts: /etc/nfsentry/known_hosts\n"
	                           "        accept_new: true\n"
	                           "        gateway: true\n"
	                           "        commands: [show arp]\n"
	                           "        interval: 300\n"
	                           "        timeout: 5\n"
	                           "      - name: sw1\n"
	                           "        kind: nxos\n"
	                           "        host: sw1.example\n"
	                           "        user: noc\n"
	                           "        password_file: /etc/nfsentry/sw1.pw\n"
	                           "        known_hosts: /etc/nfsentry/known_hosts\n";
	struct config c;
	struct config_errors e;

	(void)state;
	write_tmp(text, strlen(text));
	assert_int_equal(config_load(tmpfile_path, &c, &e), 0);
	assert_int_equal(c.n_sites, 1);
	assert_int_equal(c.sites[0].n_devices, 2);
	const struct site_device *d = &c.sites[0].devices[0];
	assert_string_equal(d->name, "gw1");
	assert_int_equal(d->kind, L2_KIND_IOSXR);
	assert_string_equal(d->host, "192.0.2.254");
	assert_int_equal(d->port, 2222);
	assert_string_equal(d->user, "noc");
	assert_string_equal(d->key, "/etc/nfsentry/id_ed25519");
	assert_string_equal(d->password_file, "");
	assert_string_equal(d->known_hosts, "/etc/nfsentry/known_hosts");
	assert_true(d->accept_new);
	assert_true(d->gateway);
	assert_int_equal(d->n_commands, 1);
	assert_string_equal(d->commands[0], "show arp");
	assert_int_equal(d->interval_s, 300);
	assert_int_equal(d->timeout_s, 5);
	d = &c.sites[0].devices[1];
	assert_int_equal(d->kind, L2_KIND_NXOS);
	assert_int_equal(d->port, 22);
	assert_false(d->accept_new);
	assert_false(d->gateway);
	assert_int_equal(d->interval_s, 0);
	assert_int_equal(d->timeout_s, 20);
	assert_string_equal(d->password_file, "/etc/nfsentry/sw1.pw");
	assert_int_equal(d->n_commands, 2);
	assert_string_equal(d->commands[0], "show ip arp");
	assert_string_equal(d->commands[1], "show mac address-table");
	config_free(&c);
	config_errors_free(&e);

	static const struct {
		const char *dev; /* the device's lines after "- name: d1" */
		const char *msg; /* expected first message after the file name */
	} bad[] = {
	    {"        kind: ios\n        host: h\n        user: u\n        known_hosts: /k\n"
	     "        password: hunter2\n",
	     ":10: sites[0].devices[0].password: secrets are not accepted in the configuration "
	     "file; use password_file (a file holding the password) or key (a private key file)"},
	    {"        kind: ios\n        host: h\n        user: u\n        known_hosts: /k\n",
	     ":5: sites[0].devices[0]: needs key (a private key file) or password_file"},
	    {"        kind: ios\n        host: h\n        user: u\n        known_hosts: /k\n"
	     "        key: /a\n        password_file: /b\n",
	     ":5: sites[0].devices[0]: key and password_file exclude each other"},
	    {"        kind: vyos\n        host: h\n        user: u\n        known_hosts: /k\n"
	     "        key: /a\n",
	     ":6: sites[0].devices[0].kind: not one of ios, ios-xe, ios-xr, nxos, junos, eos (got "
	     "\"vyos\")"},
	    {"        kind: ios-xr\n        host: h\n        user: u\n        known_hosts: /k\n"
	     "        key: /a\n        commands: [show mac address-table]\n",
	     ":11: sites[0].devices[0].commands[0]: no ios-xr parser reads the output of \"show mac "
	     "address-table\""},
	    {"        kind: ios\n        host: h\n        user: u\n        key: /a\n",
	     ":5: sites[0].devices[0]: missing key \"known_hosts\""},
	    {"        kind: ios\n        host: h\n        user: u\n        known_hosts: /k\n"
	     "        key: /a\n        interval: 60\n        timeout: 60\n",
	     ":5: sites[0].devices[0]: timeout (60 s) must be shorter than interval (60 s)"},
	    {"        kind: ios\n        host: h\n        user: u\n        known_hosts: /k\n"
	     "        key: /a\n        port: 0\n",
	     ":11: sites[0].devices[0].port: must be 1..65535 (got \"0\")"},
	    {"        kind: ios\n        host: h\n        user: u\n        known_hosts: /k\n"
	     "        key: /a\n      - name: d1\n        kind: ios\n        host: h\n"
	     "        user: u\n        known_hosts: /k\n        key: /a\n",
	     ":11: sites[0].devices[1]: device name d1 already used by sites[0].devices[0]"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[2048];
		int n = snprintf(buf, sizeof(buf),
		                 "sites:\n  - name: campus\n    inside: [10.10.0.0/16]\n"
		                 "    devices:\n      - name: d1\n%s",
		                 bad[i].dev);
		assert_true(n > 0 && (size_t)n < sizeof(buf));
		write_tmp(buf, (size_t)n);
		assert_int_equal(config_load(tmpfile_path, &c, &e), -EINVAL);
		assert_true(e.n >= 1);
		assert_msg(&e, 0, tmpfile_path, bad[i].msg);
		/* The secret itself is never quoted back. */
		assert_null(strstr(e.msg[0], "hunter2"));
		config_free(&c);
		config_errors_free(&e);
	}
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nfsentry-test-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/t.yaml", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(tmpfile_path);
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_good_file),
	    cmocka_unit_test(test_empty_and_null_sections),
	    cmocka_unit_test(test_shipped_config),
	    cmocka_unit_test(test_many_errors),
	    cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_syntax_error),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_unreadable),
	    cmocka_unit_test(test_bad_cases),
	    cmocka_unit_test(test_edges_accepted),
	    cmocka_unit_test(test_elasticsearch),
	    cmocka_unit_test(test_dead_letter_dir),
	    cmocka_unit_test(test_not_regular),
	    cmocka_unit_test(test_web),
	    cmocka_unit_test(test_attack),
	    cmocka_unit_test(test_alerts),
	    cmocka_unit_test(test_daily),
	    cmocka_unit_test(test_advice),
	    cmocka_unit_test_teardown(test_env_overrides, env_teardown),
	    cmocka_unit_test(test_reputation),
	    cmocka_unit_test(test_list_limits),
	    cmocka_unit_test(test_too_many_errors),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_sites_errors),
	    cmocka_unit_test(test_sites_conflicts),
	    cmocka_unit_test(test_sites_edges_accepted),
	    cmocka_unit_test(test_sites_limits),
	    cmocka_unit_test(test_devices),
	    cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
