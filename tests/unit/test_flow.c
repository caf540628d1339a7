/*
 * Unit tests for src/core/flow.c: address mapping, parsing and formatting.
 * flow_addr_format is hand-written; it is compared here with glibc's
 * inet_ntop (the text it replaced) over edge cases, every pattern of zero
 * groups and a million random addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "nfsentry/flow.h"

static void test_v4_roundtrip(void **state)
{
	(void)state;
	struct flow_addr a;
	char buf[64];

	assert_int_equal(flow_addr_parse("192.0.2.17", &a), 0);
	assert_true(flow_addr_is_v4(&a));
	assert_int_equal(a.b[10], 0xff);
	assert_int_equal(a.b[15], 17);
	assert_int_equal(flow_addr_format(&a, buf, sizeof(buf)), strlen("192.0.2.17"));
	assert_string_equal(buf, "192.0.2.17");
}

static void test_v6_roundtrip(void **state)
{
	(void)state;
	struct flow_addr a;
	char buf[64];

	assert_int_equal(flow_addr_parse("2001:db8::1", &a), 0);
	assert_false(flow_addr_is_v4(&a));
	flow_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");
	assert_int_equal(flow_addr_parse("::", &a), 0);
	flow_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "::");
}

static void test_parse_rejects(void **state)
{
	(void)state;
	struct flow_addr a;

	assert_int_not_equal(flow_addr_parse("192.0.2.256", &a), 0);
	assert_int_not_equal(flow_addr_parse("", &a), 0);
	assert_int_not_equal(flow_addr_parse("2001:db8:::1", &a), 0);
	assert_int_not_equal(flow_addr_parse("192.0.2.1/24", &a), 0);
}

static void test_endpoint_from_sockaddr(void **state)
{
	(void)state;
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(2055)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(4739)};
	struct flow_endpoint ep;
	char buf[64];

	inet_pton(AF_INET, "198.51.100.7", &in.sin_addr);
	assert_int_equal(flow_endpoint_from_sockaddr(&ep, (struct sockaddr *)&in), 0);
	assert_int_equal(ep.port, 2055);
	flow_addr_format(&ep.addr, buf, sizeof(buf));
	assert_string_equal(buf, "198.51.100.7");

	inet_pton(AF_INET6, "2001:db8::9", &in6.sin6_addr);
	assert_int_equal(flow_endpoint_from_sockaddr(&ep, (struct sockaddr *)&in6), 0);
	assert_int_equal(ep.port, 4739);
	flow_addr_format(&ep.addr, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::9");

	struct sockaddr un = {.sa_family = AF_UNIX};
	assert_int_equal(flow_endpoint_from_sockaddr(&ep, &un), -EAFNOSUPPORT);
}

static void test_endpoint_parse(void **state)
{
	(void)state;
	struct flow_endpoint ep;
	char buf[64];

	assert_int_equal(flow_endpoint_parse("127.0.0.1:2055", &ep, NULL), 0);
	assert_int_equal(ep.port, 2055);
	flow_addr_format(&ep.addr, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1");
	assert_int_equal(flow_endpoint_parse("[::1]:65535", &ep, NULL), 0);
	assert_int_equal(ep.port, 65535);
	flow_addr_format(&ep.addr, buf, sizeof(buf));
	assert_string_equal(buf, "::1");

	const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
	                     "::1:2055", "[::1]2055", "[127.0.0.1]:1", "host:80",
	                     "127.0.0.1:+5", "127.0.0.1:5x", ":80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(flow_endpoint_parse(bad[i], &ep, NULL), -EINVAL);

	/* The reasons the configuration quotes in its messages. */
	const char *why = NULL;
	assert_int_equal(flow_endpoint_parse("127.0.0.1:0", &ep, &why), -EINVAL);
	assert_string_equal(why, "port not 1..65535");
	assert_int_equal(flow_endpoint_parse("::1:2055", &ep, &why), -EINVAL);
	assert_string_equal(why, "IPv6 needs brackets: [ADDR]:PORT");
	assert_int_equal(flow_endpoint_parse("host:80", &ep, &why), -EINVAL);
	assert_string_equal(why, "not a numeric IPv4 address (host names are not resolved)");
	assert_int_equal(flow_endpoint_parse("[::1]2055", &ep, &why), -EINVAL);
	assert_string_equal(why, "not [IPV6]:PORT");

	struct sockaddr_storage ss;
	assert_int_equal(flow_endpoint_parse("[2001:db8::5]:9995", &ep, NULL), 0);
	assert_int_equal(flow_endpoint_to_sockaddr(&ep, (struct sockaddr *)&ss),
	                 sizeof(struct sockaddr_in6));
	struct flow_endpoint back;
	assert_int_equal(flow_endpoint_from_sockaddr(&back, (struct sockaddr *)&ss), 0);
	assert_memory_equal(&back.addr, &ep.addr, 16);
	assert_int_equal(back.port, 9995);
}

/* What flow_addr_format printed when it called inet_ntop: the reference. */
static const char *ntop_ref(const struct flow_addr *a, char *buf, socklen_t len)
{
	if (flow_addr_is_v4(a))
		return inet_ntop(AF_INET, a->b + 12, buf, len);
	return inet_ntop(AF_INET6, a->b, buf, len);
}

static void check_like_ntop(const struct flow_addr *a)
{
	char want[INET6_ADDRSTRLEN], got[64];

	assert_non_null(ntop_ref(a, want, sizeof(want)));
	memset(got, 'x', sizeof(got));
	assert_int_equal(flow_addr_format(a, got, sizeof(got)), strlen(want));
	assert_string_equal(got, want);
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void set_groups(struct flow_addr *a, const unsigned g[8])
{
	for (int i = 0; i < 8; i++) {
		a->b[2 * i] = (uint8_t)(g[i] >> 8);
		a->b[2 * i + 1] = (uint8_t)g[i];
	}
}

static void test_format_edges(void **state)
{
	(void)state;
	static const char *const text[] = {
		"::", "::1", "1::", "::2", "1:0:0:1:0:0:0:1", "1:0:0:0:1:0:0:1", "0:1:0:1:0:1:0:1",
		"1:0:1:0:1:0:1:0", "1:2:3:4:5:6:7:8", "1::8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		"1:0:2:3:4:5:6:7", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1",
		"2001:db8:0:0:1:0:0:1", "2001:db8:0:1:1:1:1:1", "fe80::1:2", "::ffff:0:0",
		"::ffff:1.2.3.4", "::ffff:0.0.0.0", "::ffff:255.255.255.255", "::1.2.3.4",
		"::0.0.1.0", "::0.1.0.0", "::ffff", "::fffe:1.2.3.4", "0:0:0:0:ffff::", "::ffff:0",
		"::1:0:0", "::1:0:0:0", "1::ffff:1.2.3.4", "64:ff9b::192.0.2.33", "a:bc:def:1234::",
		"0.0.0.0", "255.255.255.255", "10.0.0.1", "192.0.2.17", "1.10.100.200",
	};
	struct flow_addr a;

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		assert_int_equal(flow_addr_parse(text[i], &a), 0);
		check_like_ntop(&a);
	}
	/* The project's convention: IPv4-mapped prints as plain IPv4. */
	assert_int_equal(flow_addr_parse("::ffff:0:0", &a), 0);
	char buf[64];
	flow_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0");
	assert_int_equal(flow_addr_parse("::1.2.3.4", &a), 0);
	flow_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "::1.2.3.4");
	assert_int_equal(flow_addr_parse("1:0:0:1:0:0:0:1", &a), 0);
	flow_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "1:0:0:1::1");
	assert_int_equal(flow_addr_parse("1:0:0:2:3:0:0:4", &a), 0);
	flow_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "1::2:3:0:0:4"); /* the first of equal runs */
}

/* Every pattern of zero / non-zero groups, each with several group values. */
static void test_format_zero_patterns(void **state)
{
	(void)state;
	static const unsigned vals[] = {1, 0xf, 0x10, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0xabcd};
	struct flow_addr a;
	unsigned g[8];

	for (unsigned mask = 0; mask < 256; mask++)
		for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
			for (int i = 0; i < 8; i++)
				g[i] = mask & (1u << i) ? vals[(v + (size_t)i) % 9] : 0;
			set_groups(&a, g);
			check_like_ntop(&a);
		}
}

static void test_format_random(void **state)
{
	(void)state;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	struct flow_addr a;
	unsigned g[8];

	for (int n = 0; n < 1000000; n++) {
		uint64_t r = rng_next(&seed);
		if (n % 4 == 0) {
			uint8_t v4[4];
			memcpy(v4, &r, 4);
			flow_addr_from_v4(&a, v4);
		} else {
			/* Mostly zero groups, so that runs of every length come up. */
			for (int i = 0; i < 8; i++) {
				uint64_t x = rng_next(&seed);
				switch (x % 8) {
				case 0: case 1: case 2: g[i] = 0; break;
				case 3: g[i] = 0xffff; break;
				case 4: g[i] = (unsigned)(x >> 8) & 0xf; break;
				case 5: g[i] = (unsigned)(x >> 8) & 0xff; break;
				case 6: g[i] = (unsigned)(x >> 8) & 0xfff; break;
				default: g[i] = (unsigned)(x >> 8) & 0xffff; break;
				}
			}
			set_groups(&a, g);
		}
		check_like_ntop(&a);
	}
}

/* A buffer too small gets "" and 0, as inet_ntop's ENOSPC did; one byte more fits. */
static void test_format_small_buffer(void **state)
{
	(void)state;
	static const char *const text[] = {"192.0.2.17", "2001:db8::1", "::", "1.2.3.4",
	                                   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	                                   "::255.255.255.255"};
	struct flow_addr a;
	char buf[64];

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		size_t n = strlen(text[i]);
		assert_int_equal(flow_addr_parse(text[i], &a), 0);
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(flow_addr_format(&a, buf, n), 0);
		assert_int_equal(buf[0], '\0');
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(flow_addr_format(&a, buf, n + 1), n);
		assert_string_equal(buf, text[i]);
		assert_int_equal(flow_addr_format(&a, buf, 0), 0);
	}
	/* The longest form fits the documented 46 bytes. */
	assert_int_equal(flow_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", &a), 0);
	assert_int_equal(flow_addr_format(&a, buf, 46), 39);
}

/* Reference for flow_addr_in_prefix: compare bit by bit. */
static bool in_prefix_ref(const struct flow_addr *a, const struct flow_addr *net, unsigned len)
{
	for (unsigned i = 0; i < len && i < 128; i++) {
		unsigned m = 0x80u >> (i % 8);
		if ((a->b[i / 8] & m) != (net->b[i / 8] & m))
			return false;
	}
	return true;
}

static void test_in_prefix(void **state)
{
	(void)state;
	static const struct {
		const char *addr, *net;
		unsigned len;
		bool want;
	} cases[] = {
	    /* IPv4 lengths are 96 + n. */
	    {"192.0.2.1", "192.0.2.0", 120, true},
	    {"192.0.3.1", "192.0.2.0", 120, false},
	    {"192.0.2.255", "192.0.2.128", 121, true},
	    {"192.0.2.127", "192.0.2.128", 121, false},
	    /* Partial bytes at every offset of the last byte. */
	    {"10.0.0.1", "10.0.0.0", 127, true},
	    {"10.0.0.2", "10.0.0.0", 127, false},
	    {"10.0.0.3", "10.0.0.3", 128, true},
	    {"10.0.0.3", "10.0.0.2", 128, false},
	    {"10.127.0.0", "10.0.0.0", 105, true},
	    {"10.128.0.0", "10.0.0.0", 105, false},
	    /* 0.0.0.0/0 is every IPv4 address and no IPv6 one. */
	    {"198.51.100.7", "0.0.0.0", 96, true},
	    {"2001:db8::1", "0.0.0.0", 96, false},
	    /* ::/0 is everything; length 0 ignores the address entirely. */
	    {"2001:db8::1", "::", 0, true},
	    {"192.0.2.1", "2001:db8::", 0, true},
	    {"2001:db8:ffff::1", "2001:db8::", 32, true},
	    {"2001:db9::1", "2001:db8::", 32, false},
	    {"2001:db8::1", "2001:db8::", 31, true},
	    {"2001:db9::1", "2001:db8::", 31, true},
	    {"2001:dba::1", "2001:db8::", 31, false},
	    /* Bits of net past len do not count. */
	    {"10.0.0.200", "10.0.0.1", 120, true},
	    {"10.0.1.0", "10.0.255.255", 112, true},
	    {"10.1.0.0", "10.0.255.255", 112, false},
	    /* More than 128 is read as 128. */
	    {"2001:db8::1", "2001:db8::1", 200, true},
	    {"2001:db8::2", "2001:db8::1", 200, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct flow_addr a, net;
		assert_int_equal(flow_addr_parse(cases[i].addr, &a), 0);
		assert_int_equal(flow_addr_parse(cases[i].net, &net), 0);
		if (flow_addr_in_prefix(&a, &net, cases[i].len) != cases[i].want)
			fail_msg("%s in %s/%u: want %d", cases[i].addr, cases[i].net, cases[i].len,
			         cases[i].want);
	}

	/* Random pairs that share a random number of leading bits, every length. */
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (int k = 0; k < 20000; k++) {
		struct flow_addr a, net;
		for (int j = 0; j < 16; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			a.b[j] = (uint8_t)x;
			net.b[j] = (uint8_t)(x >> 8);
		}
		unsigned same = (unsigned)(x >> 32) % 129;
		for (unsigned i = 0; i < same; i++) {
			unsigned m = 0x80u >> (i % 8);
			net.b[i / 8] = (uint8_t)((net.b[i / 8] & ~m) | (a.b[i / 8] & m));
		}
		unsigned len = (unsigned)(x >> 48) % 131;
		if (flow_addr_in_prefix(&a, &net, len) != in_prefix_ref(&a, &net, len))
			fail_msg("random case %d: len %u, %u bits shared", k, len, same);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_roundtrip),
		cmocka_unit_test(test_v6_roundtrip),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_endpoint_from_sockaddr),
		cmocka_unit_test(test_endpoint_parse),
		cmocka_unit_test(test_format_edges),
		cmocka_unit_test(test_format_zero_patterns),
		cmocka_unit_test(test_format_random),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_in_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
