/*
 * Unit tests for src/attack/live.c: the live attack table's bounds (entries,
 * document size), the newest document per event winning, the eviction of
 * ended events only, forgetting ended events once their slot is stored,
 * the snapshot copy, its allocation failure, and a writer and a reader on
 * two threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/attacklive.h"
#include "nfsentry/fault.h"

/* Put a small document "site/id/seq" of the event. */
static void put(struct attack_live *l, const char *site, const char *id, uint32_t seq, bool ended,
                int64_t slot)
{
	char j[128];
	int n = snprintf(j, sizeof(j), "{\"site\":\"%s\",\"id\":\"%s\",\"seq\":%u}", site, id, seq);

	attack_live_put(l, site, id, seq, ended, slot, j, (size_t)n);
}

/* "site/id:seq[e]@slot,..." of a snapshot, sorted by site and id, into out. */
static void listing(struct attack_live *l, char *out, size_t len)
{
	struct attack_live_doc *v;
	size_t n, k = 0;

	assert_int_equal(attack_live_snapshot(l, &v, &n), 0);
	out[0] = '\0';
	/* Entries come in table order; sort for a stable text. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			int c = strcmp(v[i].site, v[j].site);
			if (c > 0 || (c == 0 && strcmp(v[i].id, v[j].id) > 0)) {
				struct attack_live_doc t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
		}
	for (size_t i = 0; i < n; i++) {
		char want[128];
		snprintf(want, sizeof(want), "{\"site\":\"%s\",\"id\":\"%s\",\"seq\":%u}",
		         v[i].site, v[i].id, v[i].seq);
		/* The JSON is the document put, NUL-terminated. */
		assert_int_equal(v[i].len, strlen(want));
		assert_string_equal(v[i].json, want);
		k += (size_t)snprintf(out + k, len - k, "%s%s/%s:%u%s@%lld", i ? "," : "",
		                      v[i].site, v[i].id, v[i].seq, v[i].ended ? "e" : "",
		                      (long long)v[i].time_slot);
		assert_true(k < len);
	}
	free(v);
}

static struct attack_live_stats stats(struct attack_live *l)
{
	struct attack_live_stats st;

	attack_live_stats_get(l, &st);
	return st;
}

static void test_create_bounds(void **state)
{
	struct attack_live *l = NULL;

	(void)state;
	assert_int_equal(attack_live_create(0, &l), -EINVAL);
	assert_int_equal(attack_live_create(ATTACK_LIVE_ENTRIES_MAX + 1, &l), -EINVAL);
	assert_null(l);
	for (unsigned long k = 0; k < 3; k++) {
		fault_arm(k, FAULT_ONCE);
		assert_int_equal(attack_live_create(4, &l), -ENOMEM);
		fault_disarm();
		assert_null(l);
	}
	assert_int_equal(attack_live_create(ATTACK_LIVE_ENTRIES_MAX, &l), 0);
	attack_live_destroy(l);
	attack_live_destroy(NULL);
}

static void test_newest_wins(void **state)
{
	struct attack_live *l;
	char s[512];

	(void)state;
	assert_int_equal(attack_live_create(8, &l), 0);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "");
	put(l, "campus", "a1", 0, false, 100);
	put(l, "campus", "a1", 2, false, 101);
	/* Older or equal: ignored (a document that arrives twice is listed once). */
	put(l, "campus", "a1", 1, false, 100);
	put(l, "campus", "a1", 2, false, 101);
	/* Same id at another site: another event. */
	put(l, "dorm", "a1", 0, false, 101);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "campus/a1:2@101,dorm/a1:0@101");
	put(l, "campus", "a1", 3, true, 102);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "campus/a1:3e@102,dorm/a1:0@101");
	struct attack_live_stats st = stats(l);
	assert_int_equal(st.docs, 6);
	assert_int_equal(st.stale, 2);
	assert_int_equal(st.entries, 2);
	attack_live_destroy(l);
}

static void test_too_large(void **state)
{
	struct attack_live *l;
	char *big = malloc(ATTACK_LIVE_DOC_MAX + 1);
	char s[256];

	(void)state;
	assert_non_null(big);
	memset(big, 'x', ATTACK_LIVE_DOC_MAX + 1);
	assert_int_equal(attack_live_create(2, &l), 0);
	put(l, "campus", "a1", 0, false, 100);
	/* One byte too long: the kept document stays. */
	attack_live_put(l, "campus", "a1", 1, false, 100, big, ATTACK_LIVE_DOC_MAX + 1);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "campus/a1:0@100");
	assert_int_equal(stats(l).too_large, 1);
	/* Exactly the limit fits. */
	attack_live_put(l, "campus", "b2", 0, false, 100, big, ATTACK_LIVE_DOC_MAX);
	struct attack_live_doc *v;
	size_t n;
	assert_int_equal(attack_live_snapshot(l, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].len + v[1].len,
	                 strlen("{\"site\":\"campus\",\"id\":\"a1\",\"seq\":0}") +
	                     ATTACK_LIVE_DOC_MAX);
	free(v);
	attack_live_destroy(l);
	free(big);
}

/* A full table evicts the oldest ended event; with every event open it refuses the new one. */
static void test_full_and_eviction(void **state)
{
	struct attack_live *l;
	char s[512];

	(void)state;
	assert_int_equal(attack_live_create(3, &l), 0);
	put(l, "campus", "a1", 1, true, 101);
	put(l, "campus", "b2", 0, false, 100);
	put(l, "campus", "c3", 4, true, 100);
	put(l, "campus", "d4", 0, false, 102);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "campus/a1:1e@101,campus/b2:0@100,campus/d4:0@102");
	assert_int_equal(stats(l).evicted, 1);
	put(l, "campus", "e5", 0, false, 102);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "campus/b2:0@100,campus/d4:0@102,campus/e5:0@102");
	assert_int_equal(stats(l).evicted, 2);
	/* Every entry open: the new event is counted and not kept; known ones still update. */
	put(l, "campus", "f6", 0, false, 102);
	put(l, "campus", "b2", 1, false, 102);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "campus/b2:1@102,campus/d4:0@102,campus/e5:0@102");
	struct attack_live_stats st = stats(l);
	assert_int_equal(st.full, 1);
	assert_int_equal(st.evicted, 2);
	assert_int_equal(st.entries, 3);
	attack_live_destroy(l);
}

/* Stored: the site's ended events of that slot and earlier go; open ones and other sites stay. */
static void test_stored(void **state)
{
	struct attack_live *l;
	char s[512];

	(void)state;
	assert_int_equal(attack_live_create(8, &l), 0);
	put(l, "campus", "a1", 1, true, 100);
	put(l, "campus", "b2", 3, true, 101);
	put(l, "campus", "c3", 2, false, 100);
	put(l, "dorm", "d4", 1, true, 100);
	attack_live_stored(l, "campus", 100);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "campus/b2:3e@101,campus/c3:2@100,dorm/d4:1e@100");
	assert_int_equal(stats(l).entries, 3);
	attack_live_stored(l, "campus", 101);
	attack_live_stored(l, "dorm", 101);
	listing(l, s, sizeof(s));
	assert_string_equal(s, "campus/c3:2@100");
	assert_int_equal(stats(l).entries, 1);
	assert_int_equal(stats(l).evicted, 0);
	attack_live_destroy(l);
}

static void test_snapshot_nomem(void **state)
{
	struct attack_live *l;
	struct attack_live_doc *v = (void *)1;
	size_t n = 7;

	(void)state;
	assert_int_equal(attack_live_create(2, &l), 0);
	/* Empty: no allocation, NULL and 0. */
	fault_arm(0, FAULT_STICKY);
	assert_int_equal(attack_live_snapshot(l, &v, &n), 0);
	assert_null(v);
	assert_int_equal(n, 0);
	fault_disarm();
	put(l, "campus", "a1", 0, false, 100);
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(attack_live_snapshot(l, &v, &n), -ENOMEM);
	fault_disarm();
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(attack_live_snapshot(l, &v, &n), 0);
	assert_int_equal(n, 1);
	free(v);
	attack_live_destroy(l);
}

/* A writer putting updates while a reader copies: every copy is a whole document. */
static void *writer(void *arg)
{
	struct attack_live *l = arg;

	for (uint32_t seq = 1; seq <= 20000; seq++) {
		char id[8];
		snprintf(id, sizeof(id), "e%u", seq % 16);
		put(l, "campus", id, seq, seq % 7 == 0, 100 + seq / 1000);
		if (seq % 500 == 0)
			attack_live_stored(l, "campus", 100 + seq / 1000 - 1);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct attack_live *l;
	pthread_t t;

	(void)state;
	assert_int_equal(attack_live_create(32, &l), 0);
	assert_int_equal(pthread_create(&t, NULL, writer, l), 0);
	for (int r = 0; r < 2000; r++) {
		struct attack_live_doc *v;
		size_t n;
		assert_int_equal(attack_live_snapshot(l, &v, &n), 0);
		assert_true(n <= 16);
		for (size_t i = 0; i < n; i++) {
			char want[128];
			snprintf(want, sizeof(want),
			         "{\"site\":\"campus\",\"id\":\"%s\",\"seq\":%u}", v[i].id,
			         v[i].seq);
			assert_string_equal(v[i].json, want);
		}
		free(v);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(stats(l).docs, 20000);
	assert_int_equal(stats(l).full, 0);
	attack_live_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_bounds), cmocka_unit_test(test_newest_wins),
	    cmocka_unit_test(test_too_large),     cmocka_unit_test(test_full_and_eviction),
	    cmocka_unit_test(test_stored),        cmocka_unit_test(test_snapshot_nomem),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
