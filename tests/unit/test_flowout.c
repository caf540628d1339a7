/*
 * Unit tests for src/core/flowout.c: the --flows csv|json line contract.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/flowout.h"

static void make_flow(struct flow *f)
{
	memset(f, 0, sizeof(*f));
	flow_addr_parse("192.0.2.1", &f->exporter);
	flow_addr_parse("203.0.113.5", &f->src);
	flow_addr_parse("2001:db8::7", &f->dst);
	f->export_ms = 1767225600123ull;
	f->sport = 443;
	f->dport = 51234;
	f->proto = 6;
	f->tcp_flags = 0x1b;
	f->packets = 10;
	f->octets = 18446744073709551615ull;
	f->first_ms = 1767225590000ull;
	f->last_ms = 1767225599999ull;
	f->in_if = 4294967295u;
	f->out_if = 0;
	f->sampling = 1;
}

static void test_csv_header(void **state)
{
	(void)state;
	assert_string_equal(flowout_csv_header,
	                    "export_time,exporter,src,dst,sport,dport,proto,tcp_flags,packets,"
	                    "octets,first,last,in_if,out_if,sampling\n");
}

static void test_csv_line(void **state)
{
	(void)state;
	struct flow f;
	char buf[FLOWOUT_LINE_MAX + 1];

	make_flow(&f);
	size_t n = flowout_format_line(FLOWOUT_CSV, &f, buf);
	buf[n] = '\0';
	assert_string_equal(buf, "1767225600123,192.0.2.1,203.0.113.5,2001:db8::7,443,51234,6,27,10,"
	                         "18446744073709551615,1767225590000,1767225599999,4294967295,0,1\n");
}

static void test_json_line(void **state)
{
	(void)state;
	struct flow f;
	char buf[FLOWOUT_LINE_MAX + 1];

	make_flow(&f);
	size_t n = flowout_format_line(FLOWOUT_JSON, &f, buf);
	buf[n] = '\0';
	assert_string_equal(buf,
	                    "{\"export_time\":1767225600123,\"exporter\":\"192.0.2.1\",\"src\":"
	                    "\"203.0.113.5\",\"dst\":\"2001:db8::7\",\"sport\":443,\"dport\":51234,"
	                    "\"proto\":6,\"tcp_flags\":27,\"packets\":10,\"octets\":"
	                    "18446744073709551615,\"first\":1767225590000,\"last\":1767225599999,"
	                    "\"in_if\":4294967295,\"out_if\":0,\"sampling\":1}\n");
}

static void test_longest_line_fits(void **state)
{
	(void)state;
	struct flow f;
	char buf[FLOWOUT_LINE_MAX];

	memset(&f, 0xff, sizeof(f));
	/* The longest IPv6 text form: 8 groups of 4 hex digits, no :: */
	flow_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", &f.exporter);
	f.src = f.dst = f.exporter;
	assert_true(flowout_format_line(FLOWOUT_JSON, &f, buf) <= FLOWOUT_LINE_MAX);
	assert_true(flowout_format_line(FLOWOUT_CSV, &f, buf) <= FLOWOUT_LINE_MAX);
}

static void test_format_parse(void **state)
{
	(void)state;
	enum flowout_format fmt = FLOWOUT_NONE;

	assert_int_equal(flowout_format_parse("csv", &fmt), 0);
	assert_int_equal(fmt, FLOWOUT_CSV);
	assert_int_equal(flowout_format_parse("json", &fmt), 0);
	assert_int_equal(fmt, FLOWOUT_JSON);
	assert_int_equal(flowout_format_parse("CSV", &fmt), -EINVAL);
	assert_int_equal(flowout_format_parse("", &fmt), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_header),
		cmocka_unit_test(test_csv_line),
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_longest_line_fits),
		cmocka_unit_test(test_format_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
