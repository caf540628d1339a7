/*
 * Unit tests for src/store/spool.c: a slot spooled and put back holds the
 * same documents (bytes with newlines and an empty key included); a slot
 * spooled twice keeps only the newer file; the store's newer write wins
 * over a spooled copy (SPOOL_STALE); an unreadable file is set aside as
 * .bad and counted out; the cap refuses a slot with -ENOSPC and writes
 * nothing; a reopened spool counts its files and removes .tmp leftovers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "nfsentry/spool.h"
#include "nfsentry/store.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_spool.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Files in dir whose name ends with suffix. */
static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), k = strlen(suffix);
		if (l > k && strcmp(de->d_name + l - k, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static const struct store_doc docs[] = {
    {"inside", "10.0.0.1", "{\"a\":1}", 7},
    {"offender", "203.0.113.9", "{\"b\":\"x\\ny\"}\n", 13},
    {"slot", "", "{}", 2},
};

struct got {
	int n;
	char kind[4][32], key[4][128], json[4][64];
};

static int collect(void *ud, const struct store_doc *d)
{
	struct got *g = ud;

	snprintf(g->kind[g->n], 32, "%s", d->kind);
	snprintf(g->key[g->n], 128, "%s", d->key);
	snprintf(g->json[g->n], 64, "%.*s", (int)d->json_len, d->json);
	g->n++;
	return 0;
}

static void test_round_trip_and_replace(void **state)
{
	(void)state;
	char dir[128], db[128], err[512], path[512];
	struct spool *sp;
	struct store *st;
	struct spool_stats ss;
	struct spool_restored r;
	struct store_slot_info info = {.closed_at_s = 1767225900, .partial = true};

	snprintf(dir, sizeof(dir), "%s/rt", tmpdir);
	snprintf(db, sizeof(db), "%s/rt.db", tmpdir);
	assert_int_equal(spool_open(dir, 0, &sp, err, sizeof(err)), 0);
	assert_int_equal(store_open(db, NULL, &st, err, sizeof(err)), 0);
	/* An older version with one document, then the slot again with three. */
	assert_int_equal(
	    spool_slot_put(sp, "campus", 5890752, &info, docs, 1, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(spool_slot_put(sp, "campus", 5890752, &info, docs, 3, path, sizeof(path),
	                                err, sizeof(err)),
	                 0);
	assert_non_null(strstr(path, dir));
	spool_stats_get(sp, &ss);
	assert_int_equal(ss.slots, 1);
	assert_int_equal(count_files(dir, ".slot"), 1);
	assert_int_equal(
	    spool_slot_put(sp, "lab", 5890751, NULL, docs, 2, NULL, 0, err, sizeof(err)), 0);

	/* Oldest slot first: lab 5890751, then campus 5890752. */
	assert_int_equal(spool_slot_restore(sp, st, &r, err, sizeof(err)), 0);
	assert_int_equal(r.outcome, SPOOL_STORED);
	assert_string_equal(r.site, "lab");
	assert_int_equal(r.n_docs, 2);
	assert_int_equal(spool_slot_restore(sp, st, &r, err, sizeof(err)), 0);
	assert_int_equal(r.outcome, SPOOL_STORED);
	assert_string_equal(r.site, "campus");
	assert_int_equal(r.time_slot, 5890752);
	assert_int_equal(spool_slot_restore(sp, st, &r, err, sizeof(err)), 0);
	assert_int_equal(r.outcome, SPOOL_EMPTY);
	spool_stats_get(sp, &ss);
	assert_int_equal(ss.slots, 0);
	assert_int_equal(ss.bytes, 0);
	assert_int_equal(count_files(dir, ".slot"), 0);

	struct got g = {0};
	assert_int_equal(store_doc_foreach(st, "campus", 5890752, NULL, collect, &g), 0);
	assert_int_equal(g.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(g.kind[i], docs[i].kind);
		assert_string_equal(g.key[i], docs[i].key);
		assert_memory_equal(g.json[i], docs[i].json, docs[i].json_len);
	}
	struct store_slot row;
	assert_int_equal(store_slot_get(st, "campus", 5890752, &row), 0);
	assert_int_equal(row.closed_at_s, 1767225900);
	assert_true(row.partial);
	spool_close(sp);
	store_close(st);
}

static void test_stale_corrupt_cap_reopen(void **state)
{
	(void)state;
	char dir[128], db[128], err[512], p[256];
	struct spool *sp;
	struct store *st;
	struct spool_stats ss;
	struct spool_restored r;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/sc", tmpdir);
	snprintf(db, sizeof(db), "%s/sc.db", tmpdir);
	assert_int_equal(spool_open(dir, 0, &sp, err, sizeof(err)), 0);
	assert_int_equal(store_open(db, NULL, &st, err, sizeof(err)), 0);

	/* Spooled, then the slot written anew: the store's copy wins. */
	assert_int_equal(spool_slot_put(sp, "campus", 7, NULL, docs, 3, NULL, 0, err, sizeof(err)),
	                 0);
	assert_int_equal(store_slot_write(st, "campus", 7, docs, 1, NULL), 0);
	assert_int_equal(spool_slot_restore(sp, st, &r, err, sizeof(err)), 0);
	assert_int_equal(r.outcome, SPOOL_STALE);
	struct store_slot row;
	assert_int_equal(store_slot_get(st, "campus", 7, &row), 0);
	assert_int_equal(row.n_docs, 1);
	assert_int_equal(count_files(dir, ".slot"), 0);

	/* Not a spool file: set aside, the next one goes on. */
	snprintf(p, sizeof(p), "%s/00000000000000000001-6162-00000000000000000001.slot", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("nfsentry-spool 1\nsite 2\nab\nslot 1 0 0 0 99\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/00000000000000000001-6162-1.slot.tmp", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	spool_close(sp);
	assert_int_equal(spool_open(dir, 1000, &sp, err, sizeof(err)), 0);
	assert_int_equal(count_files(dir, ".tmp"), 0);
	spool_stats_get(sp, &ss);
	assert_int_equal(ss.slots, 1);
	assert_int_equal(spool_slot_restore(sp, st, &r, err, sizeof(err)), 0);
	assert_int_equal(r.outcome, SPOOL_CORRUPT);
	assert_non_null(strstr(err, "not a spool file"));
	assert_int_equal(count_files(dir, ".bad"), 1);
	spool_stats_get(sp, &ss);
	assert_int_equal(ss.slots, 0);

	/* Cap of 1000 bytes: a small slot fits, a second one does not. */
	assert_int_equal(spool_slot_put(sp, "campus", 8, NULL, docs, 3, NULL, 0, err, sizeof(err)),
	                 0);
	spool_stats_get(sp, &ss);
	uint64_t one = ss.bytes;
	assert_true(one > 0 && one < 500);
	struct store_doc big = {"outside", "198.51.100.1", NULL, 900};
	char json[901];
	memset(json, 'x', 900);
	json[900] = '\0';
	big.json = json;
	assert_int_equal(spool_slot_put(sp, "campus", 9, NULL, &big, 1, NULL, 0, err, sizeof(err)),
	                 -ENOSPC);
	assert_non_null(strstr(err, "full"));
	spool_stats_get(sp, &ss);
	assert_int_equal(ss.bytes, one);
	assert_int_equal(count_files(dir, ".slot"), 1);
	spool_close(sp);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_and_replace),
	    cmocka_unit_test(test_stale_corrupt_cap_reopen),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
