/*
 * tz (src/daily/tz.c): zones read from TZif files agree with the C
 * library's mktime() / localtime_r() under TZ=zone (single-threaded: this
 * test may set TZ), for local midnights of every day 2000..2040 and the
 * days that hold the instants around every transition; malformed files
 * are refused.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nfsentry/daily.h"

#include "../../src/daily/tz.h"

static const char *const zones[] = {
    "UTC",
    "Asia/Taipei",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Asia/Tehran",
    "Asia/Kathmandu",
};

static void set_tz(const char *z)
{
	assert_int_equal(setenv("TZ", z, 1), 0);
	tzset();
}

static time_t glibc_midnight(int y, int m, int d, struct tm *tm)
{
	*tm = (struct tm){.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_isdst = -1};
	return mktime(tm);
}

/* True when t is a local midnight of (y, m, d) per the C library. */
static int is_midnight(time_t t, int y, int m, int d)
{
	struct tm tm;
	localtime_r(&t, &tm);
	return tm.tm_year + 1900 == y && tm.tm_mon + 1 == m && tm.tm_mday == d && tm.tm_hour == 0 &&
	       tm.tm_min == 0 && tm.tm_sec == 0;
}

/* Every day 2000..2040 (and day 32 of a month): the midnight mktime gives. */
static void test_midnights(void **state)
{
	(void)state;
	for (size_t zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++) {
		const struct tz_zone *z;
		struct tz_zone *own;
		long days = 0, twice = 0;

		assert_int_equal(tz_get(zones[zi], &z, &own), 0);
		assert_null(own);
		set_tz(zones[zi]);
		for (int y = 2000; y <= 2040; y++)
			for (int m = 1; m <= 12; m++)
				for (int d = 1; d <= 32; d++) {
					struct tm tm;
					int wy, wm, wd;
					time_t g;
					int64_t t;

					if (d > 28 && d < 32)
						continue; /* day 32 checks the normalisation */
					g = glibc_midnight(y, m, d, &tm);
					t = tz_local_midnight(z, y, m, d, &wy, &wm, &wd);
					if (t != (int64_t)g) {
						/* Only where midnight happens twice: both are one.
						 */
						if (!is_midnight((time_t)t, tm.tm_year + 1900,
						                 tm.tm_mon + 1, tm.tm_mday) ||
						    !is_midnight(g, tm.tm_year + 1900,
						                 tm.tm_mon + 1, tm.tm_mday))
							fail_msg(
							    "%s %04d-%02d-%02d: %lld, mktime %lld",
							    zones[zi], y, m, d, (long long)t,
							    (long long)g);
						assert_true(t < (int64_t)g);
						twice++;
					}
					assert_int_equal(wy, tm.tm_year + 1900);
					assert_int_equal(wm, tm.tm_mon + 1);
					assert_int_equal(wd, tm.tm_mday);
					days++;
				}
		assert_true(days > 41 * 12 * 28);
		assert_true(twice < 5);
	}
	unsetenv("TZ");
	tzset();
}

/* Offsets and local dates at each hour and around every transition, 1990..2045. */
static void test_offsets(void **state)
{
	(void)state;
	for (size_t zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++) {
		const struct tz_zone *z;
		struct tz_zone *own;
		long prev_off = -1, changes = 0;

		assert_int_equal(tz_get(zones[zi], &z, &own), 0);
		set_tz(zones[zi]);
		for (int64_t t = 631152000; t < 2366841600; t += 3600) {
			struct tm tm;
			time_t tt = (time_t)t;
			int y, m, d;

			localtime_r(&tt, &tm);
			if (tm.tm_gmtoff != prev_off && prev_off != -1) {
				/* A transition in (t - 1 h, t]: every second of the hour around it.
				 */
				for (int64_t u = t - 3600; u <= t; u += 15) {
					struct tm tu;
					time_t uu = (time_t)u;
					localtime_r(&uu, &tu);
					assert_int_equal(tz_offset(z, u), tu.tm_gmtoff);
				}
				changes++;
			}
			prev_off = tm.tm_gmtoff;
			assert_int_equal(tz_offset(z, t), tm.tm_gmtoff);
			tz_local_date(z, t, &y, &m, &d);
			assert_int_equal(y, tm.tm_year + 1900);
			assert_int_equal(m, tm.tm_mon + 1);
			assert_int_equal(d, tm.tm_mday);
		}
		if (strcmp(zones[zi], "Europe/Berlin") == 0)
			assert_true(changes >= 2 * 55);
	}
	unsetenv("TZ");
	tzset();
}

/* daily_day_of() / daily_day_resolve() of instants around a transition match the C library's. */
static void test_day_of(void **state)
{
	(void)state;
	static const int64_t at[] = {
	    1662868800, /* Santiago: midnight skipped, 2022-09-11 */
	    1325239200, /* Apia: 2011-12-30 skipped */
	    1289100600, /* St. John's: 2010-11-07, midnight twice */
	    1584736200, /* Tehran 2020-03-21 */
	    1774746000, /* Berlin 2026-03-29 */
	};
	struct daily_day dd;

	for (size_t zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++)
		for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++)
			for (int64_t t = at[k] - 2 * 86400; t < at[k] + 2 * 86400; t += 1800) {
				struct tm tm;
				time_t tt = (time_t)t;
				char want[40];

				set_tz(zones[zi]);
				localtime_r(&tt, &tm);
				unsetenv("TZ");
				snprintf(want, sizeof(want), "%04d-%02d-%02d", tm.tm_year + 1900,
				         tm.tm_mon + 1, tm.tm_mday);
				assert_int_equal(daily_day_of(t, zones[zi], &dd), 0);
				assert_string_equal(dd.date, want);
				/*
				 * The day holds t, except where the clocks went back over
				 * midnight (St. John's 2010-11-07 00:01 -> 2010-11-06 23:01):
				 * the day ends at the first midnight, and the repeated hour
				 * after it still bears the earlier date.
				 */
				if (!(dd.start_s <= t && t < dd.end_s) &&
				    !(t >= dd.end_s && t < dd.end_s + 3600 &&
				      strcmp(zones[zi], "America/St_Johns") == 0))
					fail_msg("%s %lld: %s [%lld, %lld)", zones[zi],
					         (long long)t, dd.date, (long long)dd.start_s,
					         (long long)dd.end_s);
			}
	/* Instants past year 9999 are refused, not computed with overflow. */
	assert_int_equal(daily_day_of(INT64_MAX, "Europe/Berlin", &dd), -EINVAL);
	assert_int_equal(daily_day_of(INT64_MIN, "UTC", &dd), -EINVAL);
	assert_int_equal(daily_day_of(253402300799, "UTC", &dd), 0);
	assert_string_equal(dd.date, "9999-12-31");
	/* Apia skipped 2011-12-30: no such day; the 29th ends where the 31st starts. */
	assert_int_equal(daily_day_resolve("2011-12-30", "Pacific/Apia", &dd), -EINVAL);
	assert_int_equal(daily_day_resolve("2011-12-29", "Pacific/Apia", &dd), 0);
	assert_int_equal(dd.end_s, 1325239200);
	/* Santiago's 2022-09-11 starts at 01:00 -03, the jump (23 h long). */
	assert_int_equal(daily_day_resolve("2022-09-11", "America/Santiago", &dd), 0);
	assert_int_equal(dd.start_s, 1662868800);
	assert_int_equal(dd.end_s - dd.start_s, 23 * 3600);
	/* Lord Howe: half an hour of DST. */
	assert_int_equal(daily_day_resolve("2026-10-04", "Australia/Lord_Howe", &dd), 0);
	assert_int_equal(dd.end_s - dd.start_s, 23 * 3600 + 1800);
}

/* A valid slim file image to break: Europe/Berlin from the system. */
static uint8_t *read_zone(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	uint8_t *b = malloc(TZ_FILE_MAX + 2);

	assert_non_null(b);
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	*len = fread(b, 1, TZ_FILE_MAX + 1, f);
	fclose(f);
	return b;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

/* Truncated, corrupt, oversized files: -EINVAL, no crash (ASan). */
static void test_malformed(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = read_zone("Europe/Berlin", &len);
	uint8_t *c = malloc(TZ_FILE_MAX + 2);
	struct tz_zone *z;

	assert_non_null(c);
	assert_int_equal(tz_parse(b, len, &z), 0);
	assert_int_equal(tz_offset(z, 1767225600), 3600);
	assert_int_equal(tz_offset(z, 1783000000),
	                 7200); /* 2026-07, past slim transitions: footer */
	tz_free(z);
	/* Every truncation is refused (each byte of the footer counts too). */
	for (size_t n = 0; n < len; n++) {
		memcpy(c, b, n);
		assert_int_equal(tz_parse(c, n, &z), -EINVAL);
		assert_null(z);
	}
	/* Every single-byte corruption either parses or is refused; never crashes. */
	for (size_t i = 0; i < len; i++)
		for (int x = 1; x < 256; x <<= 1) {
			memcpy(c, b, len);
			c[i] ^= (uint8_t)x;
			if (tz_parse(c, len, &z) == 0) {
				(void)tz_offset(z, 1767225600);
				(void)tz_offset(z, 4102444800);
				tz_free(z);
			}
		}
	/* Counts that overrun the file. */
	memcpy(c, b, len);
	put32(c + 32, 0x7fffffff); /* v1 timecnt */
	assert_int_equal(tz_parse(c, len, &z), -EINVAL);
	memcpy(c, b, len);
	put32(c + 36, 0); /* no types */
	assert_int_equal(tz_parse(c, len, &z), -EINVAL);
	memcpy(c, b, len);
	c[0] = 'X';
	assert_int_equal(tz_parse(c, len, &z), -EINVAL);
	/* A bad footer rule. */
	memcpy(c, b, len);
	memcpy(c + len - 5, "0/x\n", 4);
	assert_int_equal(tz_parse(c, len - 1, &z), -EINVAL);
	/* Over TZ_FILE_MAX bytes. */
	memcpy(c, b, len);
	memset(c + len, '\n', TZ_FILE_MAX + 1 - len);
	assert_int_equal(tz_parse(c, TZ_FILE_MAX + 1, &z), -EINVAL);
	free(b);
	free(c);
}

/* A file under $TZDIR: oversized and truncated ones are refused by name too. */
static void test_tzdir(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_tz.XXXXXX", path[128];
	const struct tz_zone *z;
	struct tz_zone *own;
	size_t len;
	uint8_t *b = read_zone("Asia/Taipei", &len);
	FILE *f;
	struct daily_day dd;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("TZDIR", dir, 1), 0);
	snprintf(path, sizeof(path), "%s/Big", dir);
	assert_non_null(f = fopen(path, "wb"));
	for (size_t n = 0; n <= TZ_FILE_MAX; n += len)
		assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
	assert_int_equal(tz_get("Big", &z, &own), -EINVAL);
	snprintf(path, sizeof(path), "%s/Cut", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(b, 1, len / 2, f), len / 2);
	fclose(f);
	assert_true(daily_tz_valid("Cut"));
	assert_int_equal(daily_day_resolve("2026-01-01", "Cut", &dd), -EINVAL);
	assert_int_equal(daily_day_of(0, "Cut", &dd), -EINVAL);
	snprintf(path, sizeof(path), "%s/Taipei", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
	assert_int_equal(daily_day_resolve("2026-01-01", "Taipei", &dd), 0);
	assert_int_equal(dd.start_s, 1767196800); /* 2025-12-31T16:00Z */
	/* Cached: the file is not read again (it is now cut short). */
	assert_int_equal(truncate(path, (off_t)(len / 2)), 0);
	assert_int_equal(daily_day_resolve("2026-01-02", "Taipei", &dd), 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/Big", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/Cut", dir);
	unlink(path);
	rmdir(dir);
	unsetenv("TZDIR");
	free(b);
}

/* More names than the cache holds: each call loads its own zone and frees it (ASan: no leak). */
static void test_cache_full(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_tz.XXXXXX", path[128], name[16];
	size_t len;
	uint8_t *b = read_zone("America/New_York", &len);
	struct daily_day dd;
	const struct tz_zone *z;
	struct tz_zone *own;
	int n_owned = 0;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("TZDIR", dir, 1), 0);
	for (int i = 0; i < TZ_CACHE_MAX + 8; i++) {
		FILE *f;
		snprintf(path, sizeof(path), "%s/Z%02d", dir, i);
		assert_non_null(f = fopen(path, "wb"));
		assert_int_equal(fwrite(b, 1, len, f), len);
		fclose(f);
	}
	for (int i = 0; i < TZ_CACHE_MAX + 8; i++) {
		snprintf(name, sizeof(name), "Z%02d", i);
		assert_int_equal(daily_day_resolve("2026-01-01", name, &dd), 0);
		assert_int_equal(dd.start_s, 1767243600);
		assert_int_equal(tz_get(name, &z, &own), 0);
		assert_int_equal(tz_offset(z, 1767243600), -5 * 3600);
		n_owned += own != NULL;
		tz_free(own);
	}
	/* The cache was partly filled before (the other tests), so at least 8 were not kept. */
	assert_true(n_owned >= 8);
	for (int i = 0; i < TZ_CACHE_MAX + 8; i++) {
		snprintf(path, sizeof(path), "%s/Z%02d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	unsetenv("TZDIR");
	free(b);
}

/* Threads resolving days at once get what one thread gets (the cache under its lock). */
struct par {
	int64_t want[64];
	int bad;
};

static const char *const par_zones[] = {"Europe/Berlin", "America/Santiago", "Asia/Tehran",
                                        "Australia/Lord_Howe"};

static void *par_run(void *arg)
{
	struct par *p = arg;
	struct daily_day dd;

	for (int r = 0; r < 50; r++)
		for (int i = 0; i < 64; i++) {
			char date[16];
			snprintf(date, sizeof(date), "2030-%02d-%02d", 1 + i % 12, 1 + i / 4);
			if (daily_day_resolve(date, par_zones[i % 4], &dd) != 0 ||
			    dd.start_s != p->want[i])
				p->bad++;
		}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct par p[4];
	pthread_t th[4];
	struct daily_day dd;

	for (int i = 0; i < 64; i++) {
		char date[16];
		snprintf(date, sizeof(date), "2030-%02d-%02d", 1 + i % 12, 1 + i / 4);
		assert_int_equal(daily_day_resolve(date, par_zones[i % 4], &dd), 0);
		for (int k = 0; k < 4; k++)
			p[k].want[i] = dd.start_s;
	}
	for (int k = 0; k < 4; k++) {
		p[k].bad = 0;
		assert_int_equal(pthread_create(&th[k], NULL, par_run, &p[k]), 0);
	}
	for (int k = 0; k < 4; k++) {
		assert_int_equal(pthread_join(th[k], NULL), 0);
		assert_int_equal(p[k].bad, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_midnights), cmocka_unit_test(test_offsets),
	    cmocka_unit_test(test_day_of),    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_tzdir),     cmocka_unit_test(test_cache_full),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
