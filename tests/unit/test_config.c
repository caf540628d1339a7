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
#include <unistd.h>

#include <cmocka.h>

#include "nfsentry/config.h"

/* Private test hook from src/config/ytree.h. */
void config_fault_set(long n);

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

/* Everything config_defaults() promises, field by field. */
static void assert_defaults(const struct config *c)
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
	assert_int_equal(c->decoder.max_exporters, 4096);
	assert_null(c->decoder.allow);
	assert_int_equal(c->decoder.n_allow, 0);
	assert_null(c->decoder.sampling);
	assert_int_equal(c->decoder.n_sampling, 0);
	assert_null(c->allow_owned);
	assert_null(c->sampling_owned);
}

static void addr_is(const struct flow_addr *a, const char *text)
{
	char buf[64];

	flow_addr_format(a, buf, sizeof(buf));
	assert_string_equal(buf, text);
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

/* The example shipped to operators must load, and must state the defaults. */
static void test_shipped_config(void **state)
{
	struct config c;
	struct config_errors e;
	int rc;

	(void)state;
	rc = config_load(SHIPPED, &c, &e);
	for (size_t i = 0; i < e.n; i++)
		print_error("%s\n", e.msg[i]);
	assert_int_equal(rc, 0);
	assert_int_equal(e.n, 0);
	assert_defaults(&c);
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
	struct config c;
	struct config_errors e;
	const char *f = DATA "duplicate.yaml";

	(void)state;
	assert_int_equal(config_load(f, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, f, ":3: log.level: duplicate key (first at line 2)");
	assert_defaults(&c);
	config_free(&c);
	config_errors_free(&e);
}

static void test_syntax_error(void **state)
{
	struct config c;
	struct config_errors e;
	const char *f = DATA "syntax.yaml";

	(void)state;
	assert_int_equal(config_load(f, &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_msg(&e, 0, f,
	           ":3:2: YAML syntax error: did not find expected key "
	           "(while parsing a block mapping that starts at line 1)");
	assert_defaults(&c);
	config_free(&c);
	config_errors_free(&e);
}

static void test_wrong_types(void **state)
{
	struct config c;
	struct config_errors e;
	const char *f = DATA "types.yaml";

	(void)state;
	assert_int_equal(config_load(f, &c, &e), -EINVAL);
	assert_int_equal(e.n, 4);
	assert_msg(&e, 0, f, ":2: log: expected a mapping (key: value lines), got a list");
	assert_msg(&e, 1, f,
	           ":3: listen: expected a list (\"- item\" lines or [a, b]), got a single value "
	           "(got \"0.0.0.0:2055\")");
	assert_msg(&e, 2, f, ":5: receive_buffer_bytes: expected a byte count, got a mapping");
	assert_msg(&e, 3, f, ":7: exporters: expected a mapping (key: value lines), got a list");
	assert_defaults(&c);
	config_free(&c);
	config_errors_free(&e);
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
    {"templates:\n  max_per_exporter: 0\n",
     {":2: templates.max_per_exporter: must be 1..65280 (got \"0\")"}},
    {"limits:\n  max_exporters: 4294967296\n",
     {":2: limits.max_exporters: must be 1..1048576 (got \"4294967296\")"}},
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
    /* Keys and structure. */
    {"lgo:\n  level: info\n", {":1: lgo: unknown key; did you mean \"log\"?"}},
    {"log:\n  Level: info\n", {":2: log.Level: unknown key; did you mean \"level\"?"}},
    {"elasticsearch:\n  url: x\n", {":1: elasticsearch: unknown key"}},
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
	                           "templates: { lifetime_s: 60, max_per_exporter: 65280 }\n"
	                           "limits: { max_exporters: 1048576 }\n";
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
	assert_int_equal(c.decoder.template_lifetime_s, 60);
	assert_int_equal(c.decoder.max_templates_per_exporter, 65280);
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

			config_fault_set(n);
			rc = config_load(files[fi], &c, &e);
			config_fault_set(-1);
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
	    cmocka_unit_test(test_list_limits),
	    cmocka_unit_test(test_too_many_errors),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
