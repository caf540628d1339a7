/*
 * Unit tests for src/core/flow.c: address mapping, parsing and formatting.
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

	assert_int_equal(flow_endpoint_parse("127.0.0.1:2055", &ep), 0);
	assert_int_equal(ep.port, 2055);
	flow_addr_format(&ep.addr, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1");
	assert_int_equal(flow_endpoint_parse("[::1]:65535", &ep), 0);
	assert_int_equal(ep.port, 65535);
	flow_addr_format(&ep.addr, buf, sizeof(buf));
	assert_string_equal(buf, "::1");

	const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
	                     "::1:2055", "[::1]2055", "[127.0.0.1]:1", "host:80",
	                     "127.0.0.1:+5", "127.0.0.1:5x", ":80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(flow_endpoint_parse(bad[i], &ep), -EINVAL);

	struct sockaddr_storage ss;
	assert_int_equal(flow_endpoint_parse("[2001:db8::5]:9995", &ep), 0);
	assert_int_equal(flow_endpoint_to_sockaddr(&ep, (struct sockaddr *)&ss),
	                 sizeof(struct sockaddr_in6));
	struct flow_endpoint back;
	assert_int_equal(flow_endpoint_from_sockaddr(&back, (struct sockaddr *)&ss), 0);
	assert_memory_equal(&back.addr, &ep.addr, 16);
	assert_int_equal(back.port, 9995);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_roundtrip),
		cmocka_unit_test(test_v6_roundtrip),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_endpoint_from_sockaddr),
		cmocka_unit_test(test_endpoint_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
