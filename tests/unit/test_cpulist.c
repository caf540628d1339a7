/*
 * cpulist: parsing, membership, formatting of "0-3,6" CPU lists.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nfsentry/cpulist.h"

static void test_parse_forms(void **state)
{
	(void)state;
	struct cpu_list l;
	char why[128];

	assert_int_equal(cpu_list_parse("2", &l, why, sizeof(why)), 0);
	assert_true(cpu_list_has(&l, 2));
	assert_false(cpu_list_has(&l, 1));
	assert_false(cpu_list_has(&l, 3));
	assert_int_equal(cpu_list_max(&l), 2);

	assert_int_equal(cpu_list_parse("0,2-5,8", &l, why, sizeof(why)), 0);
	for (unsigned c = 0; c < 12; c++)
		assert_int_equal(cpu_list_has(&l, c), c == 0 || (c >= 2 && c <= 5) || c == 8);
	assert_int_equal(cpu_list_max(&l), 8);

	/* The last CPU there is, a range over word boundaries, repeats. */
	assert_int_equal(cpu_list_parse("1023,60-70,3,3-4", &l, why, sizeof(why)), 0);
	assert_true(cpu_list_has(&l, 1023));
	assert_true(cpu_list_has(&l, 63) && cpu_list_has(&l, 64) && cpu_list_has(&l, 70));
	assert_false(cpu_list_has(&l, 59) || cpu_list_has(&l, 71) || cpu_list_has(&l, 1024));
	assert_int_equal(cpu_list_max(&l), 1023);
}

static void test_parse_errors(void **state)
{
	(void)state;
	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"", "empty"},
	    {"a", "at character 1: not a CPU number"},
	    {"1024", "below 1024"},
	    {"99999999999999999999", "below 1024"},
	    {"1,", "at character 3: not a CPU number"},
	    {",1", "at character 1"},
	    {"1-", "after '-'"},
	    {"3-1", "the range 3-1 runs backwards"},
	    {"1 ,2", "at character 2: ' ' is not ','"},
	    {"1;2", "';' is not"},
	    {"1-2-3", "'-' is not"},
	    {"-1", "at character 1"},
	    {"+1", "at character 1"},
	    {"1\t", "byte 0x09"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cpu_list l;
		char why[128] = "";
		memset(&l, 0xff, sizeof(l));
		assert_int_equal(cpu_list_parse(bad[i].s, &l, why, sizeof(why)), -EINVAL);
		if (!strstr(why, bad[i].why))
			fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", bad[i].s, why, bad[i].why);
		assert_true(cpu_list_empty(&l)); /* cleared, not half filled */
		/* No reason buffer: the same answer. */
		assert_int_equal(cpu_list_parse(bad[i].s, &l, NULL, 0), -EINVAL);
	}
}

static void test_format(void **state)
{
	(void)state;
	struct cpu_list l;
	char buf[64];

	memset(&l, 0, sizeof(l));
	assert_true(cpu_list_empty(&l));
	assert_int_equal(cpu_list_max(&l), -1);
	assert_int_equal(cpu_list_format(&l, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	assert_int_equal(cpu_list_parse("8,0,2-5,7,1023", &l, NULL, 0), 0);
	assert_false(cpu_list_empty(&l));
	assert_int_equal(cpu_list_format(&l, buf, sizeof(buf)), strlen("0,2-5,7-8,1023"));
	assert_string_equal(buf, "0,2-5,7-8,1023");

	/* Round trip of every form it writes. */
	struct cpu_list m;
	assert_int_equal(cpu_list_parse(buf, &m, NULL, 0), 0);
	assert_memory_equal(&l, &m, sizeof(l));

	/* Too small a buffer: cut, terminated, the whole length returned. */
	char small[6];
	memset(small, 'x', sizeof(small));
	assert_int_equal(cpu_list_format(&l, small, sizeof(small)), strlen("0,2-5,7-8,1023"));
	assert_string_equal(small, "0,2-5");
	assert_int_equal(cpu_list_format(&l, small, 3), strlen("0,2-5,7-8,1023"));
	assert_string_equal(small, "0,");
	assert_int_equal(cpu_list_format(&l, NULL, 0), strlen("0,2-5,7-8,1023"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_forms),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
