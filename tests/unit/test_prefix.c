/*
 * Unit tests for src/site/prefix.c: longest-prefix match over IPv4-mapped
 * and IPv6 addresses, add/build contract, prefix text parsing, allocation
 * failures, and a randomized comparison with a brute-force reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/fault.h"
#include "nfsentry/flow.h"
#include "nfsentry/prefix.h"

static struct flow_addr addr_of(const char *s)
{
	struct flow_addr a;

	assert_int_equal(flow_addr_parse(s, &a), 0);
	return a;
}

/* Parse "addr/len" and add it; returns what prefix_table_add() returned. */
static int add(struct prefix_table *t, const char *s, uint32_t value)
{
	struct flow_addr a;
	unsigned len;

	assert_int_equal(prefix_parse(s, &a, &len, NULL), 0);
	return prefix_table_add(t, &a, len, value);
}

static int64_t look(const struct prefix_table *t, const char *s)
{
	struct flow_addr a = addr_of(s);

	return prefix_table_lookup(t, &a);
}

/* Matched length, or -1 on a miss. */
static int look_len(const struct prefix_table *t, const char *s)
{
	struct flow_addr a = addr_of(s);
	unsigned len = 999;

	if (prefix_table_lookup_len(t, &a, &len) < 0) {
		assert_int_equal(len, 999);
		return -1;
	}
	return (int)len;
}

static void test_empty(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();

	assert_non_null(t);
	assert_int_equal(look(t, "192.0.2.1"), -1);
	assert_int_equal(look(t, "2001:db8::1"), -1);
	assert_int_equal(prefix_table_build(t), 0);
	assert_int_equal(look(t, "192.0.2.1"), -1);
	assert_int_equal(look(t, "::"), -1);
	assert_int_equal(prefix_table_count(t), 0);
	prefix_table_destroy(t);
	prefix_table_destroy(NULL);
}

static void test_v4_boundaries(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();

	assert_int_equal(add(t, "192.0.2.0/24", 7), 0);
	assert_int_equal(add(t, "198.51.100.7/32", 5), 0);
	assert_int_equal(add(t, "203.0.113.64/26", 6), 0);
	/* Not visible before the build. */
	assert_int_equal(look(t, "192.0.2.1"), -1);
	assert_int_equal(prefix_table_build(t), 0);

	assert_int_equal(look(t, "192.0.2.0"), 7);
	assert_int_equal(look(t, "192.0.2.255"), 7);
	assert_int_equal(look(t, "192.0.1.255"), -1);
	assert_int_equal(look(t, "192.0.3.0"), -1);
	assert_int_equal(look_len(t, "192.0.2.77"), 96 + 24);

	assert_int_equal(look(t, "198.51.100.7"), 5);
	assert_int_equal(look(t, "198.51.100.6"), -1);
	assert_int_equal(look(t, "198.51.100.8"), -1);
	assert_int_equal(look_len(t, "198.51.100.7"), 128);

	/* A /26 ends inside a third-level node (bits 16..21, 22..27). */
	assert_int_equal(look(t, "203.0.113.64"), 6);
	assert_int_equal(look(t, "203.0.113.127"), 6);
	assert_int_equal(look(t, "203.0.113.63"), -1);
	assert_int_equal(look(t, "203.0.113.128"), -1);
	prefix_table_destroy(t);
}

static void test_nested_sites(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();

	/* Added out of length order on purpose: the build sorts. */
	assert_int_equal(add(t, "10.1.2.128/25", 3), 0);
	assert_int_equal(add(t, "10.0.0.0/8", 1), 0);
	assert_int_equal(add(t, "10.1.2.0/24", 1), 0);
	assert_int_equal(add(t, "10.1.0.0/16", 2), 0);
	assert_int_equal(add(t, "2001:db8:1:2::1/128", 4), 0);
	assert_int_equal(add(t, "2001:db8::/32", 1), 0);
	assert_int_equal(add(t, "2001:db8:1:2::/64", 3), 0);
	assert_int_equal(add(t, "2001:db8:1::/48", 2), 0);
	assert_int_equal(prefix_table_build(t), 0);

	assert_int_equal(look(t, "10.0.0.0"), 1);
	assert_int_equal(look(t, "10.255.255.255"), 1);
	assert_int_equal(look(t, "10.0.255.255"), 1);
	assert_int_equal(look(t, "10.1.0.0"), 2);
	assert_int_equal(look(t, "10.1.1.255"), 2);
	assert_int_equal(look(t, "10.1.2.0"), 1);
	assert_int_equal(look_len(t, "10.1.2.0"), 120);
	assert_int_equal(look(t, "10.1.2.127"), 1);
	assert_int_equal(look(t, "10.1.2.128"), 3);
	assert_int_equal(look(t, "10.1.2.255"), 3);
	assert_int_equal(look(t, "10.1.3.0"), 2);
	assert_int_equal(look(t, "10.1.255.255"), 2);
	assert_int_equal(look(t, "10.2.0.0"), 1);
	assert_int_equal(look(t, "11.0.0.0"), -1);
	assert_int_equal(look(t, "9.255.255.255"), -1);

	assert_int_equal(look(t, "2001:db8::"), 1);
	assert_int_equal(look(t, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), 1);
	assert_int_equal(look(t, "2001:db9::"), -1);
	assert_int_equal(look(t, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"), -1);
	assert_int_equal(look(t, "2001:db8:1::"), 2);
	assert_int_equal(look(t, "2001:db8:1:ffff:ffff:ffff:ffff:ffff"), 2);
	assert_int_equal(look(t, "2001:db8:2::"), 1);
	assert_int_equal(look(t, "2001:db8:1:2::"), 3);
	assert_int_equal(look(t, "2001:db8:1:2::1"), 4);
	assert_int_equal(look_len(t, "2001:db8:1:2::1"), 128);
	assert_int_equal(look(t, "2001:db8:1:2::2"), 3);
	assert_int_equal(look(t, "2001:db8:1:2:ffff:ffff:ffff:ffff"), 3);
	assert_int_equal(look(t, "2001:db8:1:3::"), 2);
	assert_int_equal(look_len(t, "2001:db8:1:3::"), 48);
	prefix_table_destroy(t);
}

static void test_zero_and_extremes(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();

	assert_int_equal(add(t, "::/0", 9), 0);
	assert_int_equal(add(t, "0.0.0.0/0", 8), 0);
	assert_int_equal(add(t, "255.255.255.255/32", 6), 0);
	assert_int_equal(add(t, "0.0.0.0/32", 5), 0);
	assert_int_equal(add(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 4), 0);
	assert_int_equal(add(t, "::/128", 3), 0);
	assert_int_equal(prefix_table_build(t), 0);

	/* ::/0 covers all of IPv6; 0.0.0.0/0 (= ::ffff:0:0/96) is longer for IPv4. */
	assert_int_equal(look(t, "2001:db8::1"), 9);
	assert_int_equal(look_len(t, "2001:db8::1"), 0);
	assert_int_equal(look(t, "192.0.2.1"), 8);
	assert_int_equal(look_len(t, "192.0.2.1"), 96);
	assert_int_equal(look(t, "255.255.255.255"), 6);
	assert_int_equal(look(t, "255.255.255.254"), 8);
	assert_int_equal(look(t, "0.0.0.0"), 5);
	assert_int_equal(look(t, "0.0.0.1"), 8);
	/* Entry 63 of every node on the way: the all-ones popcount mask. */
	assert_int_equal(look(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 4);
	assert_int_equal(look(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 9);
	assert_int_equal(look(t, "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 9);
	assert_int_equal(look(t, "::"), 3);
	assert_int_equal(look(t, "::1"), 9);
	/* Just outside ::ffff:0:0/96 on both sides. */
	assert_int_equal(look(t, "::fffe:ffff:ffff"), 9);
	assert_int_equal(look(t, "::1:0:0:0"), 9);
	prefix_table_destroy(t);
}

static void test_families_apart(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();

	assert_int_equal(add(t, "10.0.0.0/8", 1), 0);
	assert_int_equal(add(t, "2001:db8::/32", 2), 0);
	assert_int_equal(prefix_table_build(t), 0);

	assert_int_equal(look(t, "10.0.0.1"), 1);
	/* Same low 32 bits, not IPv4-mapped: IPv4 prefixes never apply. */
	assert_int_equal(look(t, "2001:db8::a00:1"), 2);
	assert_int_equal(look(t, "::10.0.0.1"), -1);
	assert_int_equal(look(t, "64:ff9b::10.0.0.1"), -1);
	assert_int_equal(look(t, "::1:ffff:a00:1"), -1);
	/* IPv4-mapped written as IPv6 is the IPv4 address: intended. */
	assert_int_equal(look(t, "::ffff:10.0.0.1"), 1);
	/* An IPv4 address never matches an IPv6 prefix that does not contain ::ffff:0:0/96. */
	assert_int_equal(look(t, "32.1.13.184"), -1);
	prefix_table_destroy(t);

	/* IPv6 prefixes that contain ::ffff:0:0/96 cover IPv4, longest still wins. */
	t = prefix_table_create();
	assert_int_equal(add(t, "::/64", 3), 0);
	assert_int_equal(add(t, "::ffff:10.0.0.0/104", 4), 0);
	assert_int_equal(add(t, "10.1.0.0/16", 5), 0);
	assert_int_equal(prefix_table_build(t), 0);
	assert_int_equal(look(t, "192.0.2.1"), 3);
	assert_int_equal(look_len(t, "192.0.2.1"), 64);
	assert_int_equal(look(t, "10.0.0.1"), 4);
	assert_int_equal(look_len(t, "10.0.0.1"), 104);
	assert_int_equal(look(t, "10.1.0.1"), 5);
	assert_int_equal(look(t, "::2:0:0:1"), 3);
	assert_int_equal(look(t, "0:0:0:1::"), -1);
	prefix_table_destroy(t);
}

static void test_add_rejects(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();
	struct flow_addr a = addr_of("10.0.0.1");

	/* "10.0.0.1/8": host bits set. */
	assert_int_equal(prefix_table_add(t, &a, 104, 1), -EINVAL);
	assert_int_equal(prefix_table_add(t, &a, 129, 1), -EINVAL);
	assert_int_equal(prefix_table_add(t, &a, 0, 1), -EINVAL);
	a = addr_of("2001:db8::1");
	assert_int_equal(prefix_table_add(t, &a, 64, 1), -EINVAL);
	assert_int_equal(prefix_table_add(t, &a, 127, 1), -EINVAL);
	/* The lowest bit is the only host bit of a /127. */
	a = addr_of("2001:db8::2");
	assert_int_equal(prefix_table_add(t, &a, 127, 1), 0);
	assert_int_equal(prefix_table_count(t), 1);
	prefix_table_destroy(t);
}

static void test_duplicates(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();

	assert_int_equal(add(t, "192.0.2.0/24", 7), 0);
	assert_int_equal(add(t, "192.0.2.0/24", 7), 0);
	assert_int_equal(prefix_table_count(t), 1);
	assert_int_equal(add(t, "192.0.2.0/24", 8), -EEXIST);
	assert_int_equal(prefix_table_count(t), 1);
	/* Same address, other length: another prefix. */
	assert_int_equal(add(t, "192.0.2.0/25", 8), 0);
	/* The same bits as IPv6 text are the same prefix. */
	assert_int_equal(add(t, "::ffff:192.0.2.0/120", 9), -EEXIST);
	assert_int_equal(add(t, "::ffff:192.0.2.0/120", 7), 0);
	assert_int_equal(prefix_table_count(t), 2);
	/* Many more, so the duplicate set is rehashed, then all found again. */
	for (uint32_t i = 0; i < 1000; i++) {
		struct flow_addr a = addr_of("2001:db8::");
		a.b[4] = (uint8_t)(i >> 8);
		a.b[5] = (uint8_t)i;
		assert_int_equal(prefix_table_add(t, &a, 48, i), 0);
	}
	for (uint32_t i = 0; i < 1000; i++) {
		struct flow_addr a = addr_of("2001:db8::");
		a.b[4] = (uint8_t)(i >> 8);
		a.b[5] = (uint8_t)i;
		assert_int_equal(prefix_table_add(t, &a, 48, i), 0);
		assert_int_equal(prefix_table_add(t, &a, 48, i + 1), -EEXIST);
	}
	assert_int_equal(prefix_table_count(t), 1002);
	assert_int_equal(prefix_table_build(t), 0);
	assert_int_equal(look(t, "192.0.2.1"), 8);
	assert_int_equal(look(t, "192.0.2.129"), 7);
	assert_int_equal(look(t, "2001:db8:3e7::"), 999);
	assert_int_equal(look(t, "2001:db8:3e8::"), -1);
	prefix_table_destroy(t);
}

static void test_after_build(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();

	assert_int_equal(add(t, "192.0.2.0/24", 7), 0);
	assert_int_equal(prefix_table_build(t), 0);
	assert_int_equal(add(t, "198.51.100.0/24", 8), -EBUSY);
	assert_int_equal(prefix_table_build(t), -EBUSY);
	assert_int_equal(look(t, "198.51.100.1"), -1);
	assert_int_equal(look(t, "192.0.2.1"), 7);
	assert_int_equal(prefix_table_count(t), 1);
	prefix_table_destroy(t);
}

static void test_parse_ok(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *addr;
		unsigned len;
	} ok[] = {
	    {"192.0.2.0/24", "192.0.2.0", 120},
	    {"2001:db8::/32", "2001:db8::", 32},
	    {"192.0.2.1", "192.0.2.1", 128},
	    {"2001:db8::1", "2001:db8::1", 128},
	    {"0.0.0.0/0", "0.0.0.0", 96},
	    {"::/0", "::", 0},
	    {"10.0.0.0/08", "10.0.0.0", 104},
	    {"255.255.255.255/32", "255.255.255.255", 128},
	    {"::ffff:192.0.2.0/120", "192.0.2.0", 120},
	    {"2001:db8::1/128", "2001:db8::1", 128},
	    {"fe80::/10", "fe80::", 10},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct flow_addr a, want = addr_of(ok[i].addr);
		unsigned len = 999;
		assert_int_equal(prefix_parse(ok[i].in, &a, &len, NULL), 0);
		assert_memory_equal(a.b, want.b, 16);
		assert_int_equal(len, ok[i].len);
	}
}

static void test_parse_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "/24",
	    "192.0.2.0/",
	    "192.0.2.0/33",
	    "2001:db8::/129",
	    "192.0.2.0/-1",
	    "192.0.2.0/+8",
	    "192.0.2.0/ 8",
	    "192.0.2.0/8 ",
	    " 192.0.2.0/24",
	    "192.0.2.0 /24",
	    "192.0.2.0/24/1",
	    "192.0.2.0/0x8",
	    "192.0.2.0/0008",
	    "2001:db8::/1000",
	    "999.0.0.0/8",
	    "192.0.2/24",
	    "hello",
	    "2001:db8:::/32",
	    "192.0.2.0\n/24",
	    "1111:2222:3333:4444:5555:6666:7777:8888:9999/64",
	    "1111:2222:3333:4444:5555:6666:7777:8888888888888888888888888888888888/64",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct flow_addr a, sentinel;
		unsigned len = 999;
		memset(&a, 0xa5, sizeof(a));
		sentinel = a;
		if (prefix_parse(bad[i], &a, &len, NULL) != -EINVAL)
			fail_msg("accepted or misreported: \"%s\"", bad[i]);
		assert_memory_equal(a.b, sentinel.b, 16);
		assert_int_equal(len, 999);
	}
}

static void test_parse_host_bits(void **state)
{
	(void)state;
	struct flow_addr a, want;
	unsigned len = 0;

	assert_int_equal(prefix_parse("10.0.0.1/8", &a, &len, NULL), -EDOM);
	want = addr_of("10.0.0.0");
	assert_memory_equal(a.b, want.b, 16);
	assert_int_equal(len, 104);

	assert_int_equal(prefix_parse("2001:db8::1/32", &a, &len, NULL), -EDOM);
	want = addr_of("2001:db8::");
	assert_memory_equal(a.b, want.b, 16);
	assert_int_equal(len, 32);

	assert_int_equal(prefix_parse("192.0.2.1/0", &a, &len, NULL), -EDOM);
	want = addr_of("0.0.0.0");
	assert_memory_equal(a.b, want.b, 16);
	assert_int_equal(len, 96);

	/* /31 with the last bit set: one host bit. */
	assert_int_equal(prefix_parse("192.0.2.3/31", &a, &len, NULL), -EDOM);
	want = addr_of("192.0.2.2");
	assert_memory_equal(a.b, want.b, 16);
	assert_int_equal(len, 127);
	assert_int_equal(prefix_parse("192.0.2.2/31", &a, &len, NULL), 0);
}

/*
 * text_bits: how the address part reads, whatever the result, so the
 * configuration can say which of address or length is wrong.
 */
static void test_parse_text_bits(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int rc;
		unsigned bits;
	} cases[] = {
	    {"192.0.2.0/24", 0, 32},
	    {"192.0.2.1", 0, 32},
	    {"2001:db8::/32", 0, 128},
	    {"::ffff:192.0.2.0/120", 0, 128},
	    {"192.0.2.0/33", -EINVAL, 32},
	    {"192.0.2.0/", -EINVAL, 32},
	    {"192.0.2.0/0008", -EINVAL, 32},
	    {"192.0.2.0/x", -EINVAL, 32},
	    {"2001:db8::/129", -EINVAL, 128},
	    {"10.0.0.1/8", -EDOM, 32},
	    {"2001:db8::1/32", -EDOM, 128},
	    {"hello", -EINVAL, 0},
	    {"hello/24", -EINVAL, 0},
	    {"", -EINVAL, 0},
	    {"/24", -EINVAL, 0},
	    {"999.0.0.0/8", -EINVAL, 0},
	    {"1111:2222:3333:4444:5555:6666:7777:8888888888888888888888888888888888/64", -EINVAL,
	     0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct flow_addr a;
		unsigned len = 999, bits = 999;
		if (prefix_parse(cases[i].in, &a, &len, &bits) != cases[i].rc)
			fail_msg("wrong result for \"%s\"", cases[i].in);
		if (bits != cases[i].bits)
			fail_msg("\"%s\": text_bits %u, want %u", cases[i].in, bits, cases[i].bits);
	}
	/* -EDOM: the length as written is len - (128 - text_bits). */
	struct flow_addr a;
	unsigned len = 0, bits = 0;
	assert_int_equal(prefix_parse("10.0.0.1/8", &a, &len, &bits), -EDOM);
	assert_int_equal(len - (128 - bits), 8);
}

/* xorshift64*: fixed seeds make every run the same. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

struct ref_prefix {
	uint64_t hi, lo;   /* network, host bits clear */
	uint64_t mhi, mlo; /* mask */
	unsigned len;
	uint32_t value;
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void mask_of(unsigned len, uint64_t *mhi, uint64_t *mlo)
{
	*mhi = len == 0 ? 0 : len >= 64 ? ~0ull : ~0ull << (64 - len);
	*mlo = len <= 64 ? 0 : len == 128 ? ~0ull : ~0ull << (128 - len);
}

static void addr_set(struct flow_addr *a, uint64_t hi, uint64_t lo)
{
	for (unsigned i = 0; i < 8; i++) {
		a->b[i] = (uint8_t)(hi >> (56 - 8 * i));
		a->b[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
	}
}

/* Brute force: the longest of n prefixes covering a; -1 and *len untouched when none. */
static int64_t ref_lookup(const struct ref_prefix *r, size_t n, const struct flow_addr *a,
                          unsigned *len)
{
	uint64_t hi = be64(a->b), lo = be64(a->b + 8);
	int64_t best = -1;
	int best_len = -1;

	for (size_t i = 0; i < n; i++) {
		if ((int)r[i].len > best_len && (hi & r[i].mhi) == r[i].hi &&
		    (lo & r[i].mlo) == r[i].lo) {
			best = r[i].value;
			best_len = (int)r[i].len;
		}
	}
	if (best >= 0)
		*len = (unsigned)best_len;
	return best;
}

/*
 * A random prefix near one of a few "site" bases, so that prefixes nest and
 * overlap: keep the base's first bits, randomize the rest, cut at len.
 */
static void random_prefix(const uint64_t base[][2], unsigned n_base, uint64_t *hi, uint64_t *lo,
                          unsigned *len)
{
	unsigned b = (unsigned)(rng() % n_base);
	bool v4 = (rng() & 1) != 0;
	uint64_t h = base[b][0], l = base[b][1];
	unsigned n;
	bool covers_v4 = false;

	if (v4) {
		h = 0;
		l = 0xffff00000000ull | (base[b][1] & 0xffffffffu);
		/*
		 * IPv4 /8../32: thousands of shorter ones would cover all of IPv4,
		 * leaving no miss and nothing for the IPv6 prefixes that contain
		 * ::ffff:0:0/96 to answer.
		 */
		n = 96 + 8 + (unsigned)(rng() % 25);
	} else {
		switch (rng() % 5) {
		case 0:
			n = 4 + (unsigned)(rng() % 125);
			break;
		case 4:
			/* Contains ::ffff:0:0/96, so it covers IPv4 through the mapping. */
			h = 0;
			l = 0;
			n = 80 + (unsigned)(rng() % 17);
			covers_v4 = true;
			break;
		case 1:
			n = 100 + (unsigned)(rng() % 29);
			break;
		default:
			n = 16 + (unsigned)(rng() % 49);
			break;
		}
	}
	/* Keep the base up to a random point before n, randomize after it. */
	unsigned keep = covers_v4 ? n : (unsigned)(rng() % (n + 1));
	if (v4 && keep < 96)
		keep = 96;
	uint64_t khi, klo;
	mask_of(keep, &khi, &klo);
	h = (h & khi) | (rng() & ~khi);
	l = (l & klo) | (rng() & ~klo);
	uint64_t mhi, mlo;
	mask_of(n, &mhi, &mlo);
	*hi = h & mhi;
	*lo = l & mlo;
	*len = n;
}

static void run_random(uint64_t seed, size_t n_prefixes, size_t n_lookups)
{
	rng_state = seed;
	uint64_t base[8][2];
	for (unsigned i = 0; i < 8; i++) {
		base[i][0] = rng();
		base[i][1] = rng();
	}
	/* One base at ::, so short prefixes also cover the IPv4-mapped block. */
	base[0][0] = 0;
	base[0][1] = 0xffff00000000ull | (rng() & 0xffffffffu);

	struct ref_prefix *ref = calloc(n_prefixes, sizeof(*ref));
	assert_non_null(ref);
	struct prefix_table *t = prefix_table_create();
	assert_non_null(t);
	size_t n_ref = 0;
	unsigned n_eexist = 0;

	for (size_t i = 0; i < n_prefixes; i++) {
		uint64_t hi, lo;
		unsigned len;
		random_prefix(base, 8, &hi, &lo, &len);
		uint32_t value = (uint32_t)(rng() % 64);
		struct flow_addr a;
		addr_set(&a, hi, lo);

		/* The reference decides what add must answer. */
		int want = 0;
		bool present = false;
		for (size_t j = 0; j < n_ref; j++) {
			if (ref[j].len == len && ref[j].hi == hi && ref[j].lo == lo) {
				present = true;
				want = ref[j].value == value ? 0 : -EEXIST;
				break;
			}
		}
		assert_int_equal(prefix_table_add(t, &a, len, value), want);
		if (want == -EEXIST)
			n_eexist++;
		if (present)
			continue;
		ref[n_ref].hi = hi;
		ref[n_ref].lo = lo;
		mask_of(len, &ref[n_ref].mhi, &ref[n_ref].mlo);
		ref[n_ref].len = len;
		ref[n_ref].value = value;
		n_ref++;
	}
	assert_int_equal(prefix_table_count(t), n_ref);
	assert_int_equal(prefix_table_build(t), 0);
	/* With thousands of prefixes the generator makes duplicates (short lengths collide). */
	if (n_prefixes >= 1000)
		assert_true(n_eexist > 0);

	size_t hits = 0, v4 = 0, v4_by_short = 0;
	/* Batches for prefix_table_lookup_n, strided like the engine's records. */
	struct {
		uint64_t other;
		struct flow_addr a;
		int64_t want;
	} batch[37];
	int64_t got_n[37];
	size_t nb = 0;
	for (size_t i = 0; i < n_lookups; i++) {
		uint64_t hi, lo;
		switch (rng() % 3) {
		case 0: {
			/* Inside (or just next to) a random prefix. */
			const struct ref_prefix *p = &ref[rng() % n_ref];
			hi = p->hi | (rng() & ~p->mhi);
			lo = p->lo | (rng() & ~p->mlo);
			if (rng() % 4 == 0) {
				/* Step off the prefix's first or last address by one. */
				bool up = (rng() & 1) != 0;
				hi = p->hi | (up ? ~p->mhi : 0);
				lo = p->lo | (up ? ~p->mlo : 0);
				if (up) {
					if (++lo == 0)
						hi++;
				} else if (lo-- == 0) {
					hi--;
				}
			}
			break;
		}
		case 1:
			hi = 0;
			lo = 0xffff00000000ull | (rng() & 0xffffffffu);
			break;
		default:
			hi = rng();
			lo = rng();
			break;
		}
		struct flow_addr a;
		addr_set(&a, hi, lo);
		unsigned want_len = 999, got_len = 999;
		int64_t want = ref_lookup(ref, n_ref, &a, &want_len);
		int64_t got = prefix_table_lookup_len(t, &a, &got_len);
		if (got != want || got_len != want_len)
			fail_msg("lookup %016llx:%016llx: got %lld/%u, want %lld/%u",
			         (unsigned long long)hi, (unsigned long long)lo, (long long)got,
			         got_len, (long long)want, want_len);
		assert_int_equal(prefix_table_lookup(t, &a), want);
		batch[nb].a = a;
		batch[nb].want = want;
		if (++nb == 37 || i + 1 == n_lookups) {
			prefix_table_lookup_n(t, &batch[0].a, sizeof(batch[0]), nb, got_n);
			for (size_t k = 0; k < nb; k++)
				assert_int_equal(got_n[k], batch[k].want);
			nb = 0;
		}
		hits += want >= 0;
		v4 += flow_addr_is_v4(&a);
		v4_by_short += flow_addr_is_v4(&a) && want >= 0 && want_len < 96;
	}
	/* The mix must exercise both outcomes and both families. */
	assert_true(hits > n_lookups / 4);
	assert_true(hits < n_lookups);
	assert_true(v4 > n_lookups / 4);
	/* IPv4 addresses matched by IPv6 prefixes that contain ::ffff:0:0/96. */
	if (n_prefixes >= 1000)
		if (v4_by_short <= 1000)
			fail_msg("v4_by_short %zu", v4_by_short);
	prefix_table_destroy(t);
	free(ref);
}

static void test_random_vs_reference(void **state)
{
	(void)state;
	run_random(0x6e66656e747279ull, 3000, 300000);
}

static void test_random_small(void **state)
{
	(void)state;
	/* Few prefixes: most lookups fall to a root entry or a miss. */
	run_random(12345, 40, 100000);
}

/*
 * Every allocation of create, add and build is made to fail in turn; each
 * failure must report -ENOMEM (or NULL) and leave the documented state, and
 * the run must then complete once the fault is past.
 */
static void test_alloc_failure(void **state)
{
	(void)state;
	long n;
	unsigned failures = 0;

	for (n = 0; n < 10000; n++) {
		fault_arm((unsigned long)n, FAULT_ONCE);
		struct prefix_table *t = prefix_table_create();
		if (!t) {
			failures++;
			continue;
		}
		bool failed = false;
		for (uint32_t i = 0; i < 300; i++) {
			struct flow_addr a = addr_of(i % 2 ? "10.0.0.0" : "2001:db8::");
			a.b[i % 2 ? 13 : 4] = (uint8_t)(i >> 1);
			a.b[i % 2 ? 14 : 5] = 0x40;
			unsigned len = i % 2 ? 128 - 4 : 60;
			int rc = prefix_table_add(t, &a, len, i);
			if (rc == -ENOMEM) {
				/* Unchanged: the prefix is not there, a retry succeeds. */
				assert_int_equal(prefix_table_count(t), i);
				failed = true;
				fault_disarm();
				rc = prefix_table_add(t, &a, len, i);
			}
			assert_int_equal(rc, 0);
		}
		int rc = prefix_table_build(t);
		if (rc == -ENOMEM) {
			failed = true;
			assert_int_equal(look(t, "10.3.64.5"), -1);
			fault_disarm();
			rc = prefix_table_build(t);
		}
		assert_int_equal(rc, 0);
		assert_int_equal(look(t, "10.3.64.5"), 7);
		assert_int_equal(look(t, "10.3.64.16"), -1);
		assert_int_equal(look(t, "2001:db8:440::1"), 8);
		assert_int_equal(look(t, "2001:db8:450::"), -1);
		prefix_table_destroy(t);
		if (!failed)
			break;
		failures++;
	}
	fault_disarm();
	/* Create makes 5 allocations, adds grow twice each array, build ~8. */
	assert_true(failures > 15);
	assert_true(n < 10000);
}

/* The bound stated in docs/internals/prefix.md, checked on its worst case. */
static void test_memory_bound(void **state)
{
	(void)state;
	struct prefix_table *t = prefix_table_create();
	const unsigned n = 2000;

	rng_state = 99;
	for (unsigned i = 0; i < n; i++) {
		struct flow_addr a;
		addr_set(&a, rng() | (1ull << 63), rng());
		assert_int_equal(prefix_table_add(t, &a, 128, i), 0);
	}
	assert_int_equal(prefix_table_build(t), 0);
	size_t fixed = 2 * 65536 * 4 + 4096;
	/* 19 nodes of 40 B with 2 leaves of 8 B, 24 B of leaves, 48 + 16 B of collection. */
	size_t per_prefix = 19 * (40 + 2 * 8) + 3 * 8 + 2 * 24 + 4 * 4;
	size_t mem = prefix_table_memory(t);
	assert_true(mem <= fixed + (size_t)n * per_prefix);
	/*
	 * Path compression folds each diverging /128's chain of 19 nodes into
	 * about 3: without it this table takes over 600 bytes per prefix.
	 */
	assert_true(mem < fixed + (size_t)n * 250);
	prefix_table_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),           cmocka_unit_test(test_v4_boundaries),
	    cmocka_unit_test(test_nested_sites),    cmocka_unit_test(test_zero_and_extremes),
	    cmocka_unit_test(test_families_apart),  cmocka_unit_test(test_add_rejects),
	    cmocka_unit_test(test_duplicates),      cmocka_unit_test(test_after_build),
	    cmocka_unit_test(test_parse_ok),        cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_parse_host_bits), cmocka_unit_test(test_random_vs_reference),
	    cmocka_unit_test(test_random_small),    cmocka_unit_test(test_alloc_failure),
	    cmocka_unit_test(test_memory_bound),    cmocka_unit_test(test_parse_text_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
