/*
 * Unit tests for src/store/store.c: open/create/migrate, refusal of newer
 * schemas and foreign files, slot writes read back exactly, idempotent
 * rewrites, write order and cursors across reopen, retention and its
 * unshipped counters, error messages that name the file, and one timed
 * 100k-document slot (STORE_BENCH_DOCS=N runs N instead); the dashboard's
 * readers (sites, slot ranges, one key across sites, labelled documents,
 * top N), the read-only connection and the 1 -> 2 migration.
 *
 * Every test works in its own mkdtemp() directory, removed at the end. The
 * file is also inspected with plain sqlite3 calls, so the schema the docs
 * promise to operators is what is checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "nfsentry/store.h"

struct fx {
	char dir[64];
	char path[128];
	struct store *s;
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/nfsentry-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* data/ does not exist yet: store_open must create it. */
	snprintf(f->path, sizeof(f->path), "%s/data/store.db", f->dir);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	assert_int_equal(nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
	free(f);
	return 0;
}

static struct store *open_ok(const char *path, const struct store_opts *o)
{
	char err[512];
	struct store *s = NULL;
	int rc = store_open(path, o, &s, err, sizeof(err));

	if (rc != 0)
		fail_msg("store_open: %d %s", rc, err);
	assert_non_null(s);
	return s;
}

/* Run SQL on the file with a private connection; returns the first column of the first row. */
static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -12345;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

/* Run a script of several statements on the file, outside the store. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "raw_exec: %s\n", msg ? msg : "?");
	sqlite3_free(msg);
	assert_int_equal(rc, SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/*
 * Schema 4 -> 2 by hand (the inverse of migrations 3 -> 4 and 2 -> 3),
 * digests and parts beyond 0 dropped.
 */
static const char downgrade_4_to_2[] =
	"BEGIN;"
	"DROP TABLE digests;"
	"CREATE TABLE slots2 (seq INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT NOT NULL,"
	" time_slot INTEGER NOT NULL, closed_at INTEGER NOT NULL, written_at INTEGER NOT NULL,"
	" n_docs INTEGER NOT NULL, partial INTEGER NOT NULL DEFAULT 0, UNIQUE (site, time_slot));"
	"INSERT INTO slots2 SELECT seq, site, time_slot, closed_at, written_at, n_docs, partial"
	" FROM slots WHERE part = 0;"
	"INSERT INTO sqlite_sequence(name, seq) SELECT 'slots2', seq FROM sqlite_sequence"
	" WHERE name = 'slots';"
	"DROP TABLE slots; ALTER TABLE slots2 RENAME TO slots;"
	"CREATE INDEX slots_time_slot ON slots(time_slot);"
	"CREATE TABLE documents2 (time_slot INTEGER NOT NULL, site TEXT NOT NULL,"
	" kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,"
	" labelled INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (time_slot, site, kind, key)) WITHOUT ROWID;"
	"INSERT INTO documents2 SELECT time_slot, site, kind, key, doc, labelled FROM documents"
	" WHERE part = 0;"
	"DROP TABLE documents; ALTER TABLE documents2 RENAME TO documents;"
	"CREATE INDEX documents_labelled ON documents(time_slot, site) WHERE labelled = 1;"
	"CREATE INDEX documents_key ON documents(key, time_slot);"
	"UPDATE meta SET value = '2' WHERE name = 'schema_version';"
	"COMMIT;";

static const char *raw_text(const char *path, const char *sql, char *buf, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return buf;
}

static void doc(struct store_doc *d, const char *kind, const char *key, const char *json)
{
	d->kind = kind;
	d->key = key;
	d->json = json;
	d->json_len = strlen(json);
}

/* Collects what store_doc_foreach hands out, as "kind|key|json" lines. */
struct seen {
	char buf[4096];
	size_t len;
	int calls;
	int stop_at; /* return 7 on this call number (1-based); 0 = never */
};

static int collect(void *ud, const struct store_doc *d)
{
	struct seen *w = ud;
	int k;

	w->calls++;
	assert_int_equal(d->json[d->json_len], '\0');
	k = snprintf(w->buf + w->len, sizeof(w->buf) - w->len, "%s|%s|%.*s\n", d->kind, d->key,
		     (int)d->json_len, d->json);
	assert_true(k > 0 && (size_t)k < sizeof(w->buf) - w->len);
	w->len += (size_t)k;
	return w->calls == w->stop_at ? 7 : 0;
}

static void test_open_creates_dir_and_schema(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	char buf[64];

	f->s = open_ok(f->path, NULL);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/data", f->dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0750); /* umask 022 set in main() */

	assert_string_equal(raw_text(f->path, "SELECT value FROM meta WHERE name='schema_version'",
				     buf, sizeof(buf)),
			    "4");
	assert_string_equal(raw_text(f->path, "PRAGMA journal_mode", buf, sizeof(buf)), "wal");
	assert_int_equal(raw_int(f->path, "PRAGMA application_id"), 0x6e667365);
	assert_int_equal(raw_int(f->path, "PRAGMA page_size"), 16384);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type='table' "
					  "AND name IN ('meta','slots','documents','cursors',"
					  "'counters')"),
			 5);

	/* Reopening an up-to-date file changes nothing. */
	store_close(f->s);
	f->s = open_ok(f->path, NULL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM meta"), 1);
}

static void test_open_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	struct store *s = (struct store *)&s; /* must be set to NULL on failure */
	char err[512];

	f->s = open_ok(f->path, NULL);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_int(f->path, "UPDATE meta SET value='99' WHERE name='schema_version'"),
			 -12345);

	assert_int_equal(store_open(f->path, NULL, &s, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_null(s);
	assert_non_null(strstr(err, f->path));
	assert_non_null(strstr(err, "schema version 99 is newer than this nfsentry supports (4)"));
	/* Refusal must not touch the file. */
	assert_int_equal(raw_int(f->path, "SELECT value FROM meta WHERE name='schema_version'"), 99);
}

static void test_open_foreign_files_refused(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	char err[512], p[160];
	FILE *fp;

	/* Not SQLite at all. */
	snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database file ", fp);
	fclose(fp);
	assert_int_equal(store_open(p, NULL, &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "file is not a database"));

	/* SQLite, but someone else's. */
	snprintf(p, sizeof(p), "%s/other.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(p, NULL, &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "not an nfsentry store"));
}

static void test_open_errors_name_path(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct store_opts o;
	char err[512], file[160], p[200];
	FILE *fp;

	/* A regular file where the directory should be: fails for root too. */
	snprintf(file, sizeof(file), "%s/notadir", f->dir);
	fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);

	snprintf(p, sizeof(p), "%s/sub/store.db", file);
	assert_int_equal(store_open(p, NULL, &s, err, sizeof(err)), -ENOTDIR);
	assert_null(s);
	char want[512];
	snprintf(want, sizeof(want), "store %s: cannot create directory %s/sub: Not a directory", p,
		 file);
	assert_string_equal(err, want);

	snprintf(p, sizeof(p), "%s/store.db", file);
	assert_int_equal(store_open(p, NULL, &s, err, sizeof(err)), -ENOTDIR);
	assert_null(s);
	snprintf(want, sizeof(want), "store %s: open: unable to open database file", p);
	assert_memory_equal(err, want, strlen(want));

	store_opts_defaults(&o);
	o.retention_days = STORE_RETENTION_MAX_DAYS + 1;
	assert_int_equal(store_open(f->path, &o, &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, f->path));
	assert_non_null(strstr(err, "retention_days 36501"));
}

static void test_write_read_back(void **state)
{
	struct fx *f = *state;
	struct store_doc d[4];
	struct store_slot sl[4];
	struct seen w = {0};
	struct store_slot_info info = {.closed_at_s = 1700000310, .partial = true};
	size_t n = 99;
	int64_t ts = -1;

	f->s = open_ok(f->path, NULL);
	assert_int_equal(store_slot_latest(f->s, "campus", &ts), -ENOENT);
	assert_int_equal(ts, -1);

	/* Given out of order on purpose: read back sorted by kind, then key. */
	doc(&d[0], "slot", "", "{\"kind\":\"slot\",\"flows\":4}");
	doc(&d[1], "outside", "203.0.113.9", "{\"ip\":\"203.0.113.9\",\"octets\":1500}");
	doc(&d[2], "inside", "192.0.2.7", "{\"ip\":\"192.0.2.7\"}");
	doc(&d[3], "inside", "192.0.2.10", "{\"ip\":\"192.0.2.10\",\"note\":\"\\u00e9\"}");
	assert_int_equal(store_slot_write(f->s, "campus", 5666667, d, 4, &info), 0);
	assert_string_equal(store_error_get(f->s), "");

	assert_int_equal(store_doc_foreach(f->s, "campus", 5666667, NULL, collect, &w), 0);
	assert_int_equal(w.calls, 4);
	assert_string_equal(w.buf, "inside|192.0.2.10|{\"ip\":\"192.0.2.10\",\"note\":\"\\u00e9\"}\n"
				   "inside|192.0.2.7|{\"ip\":\"192.0.2.7\"}\n"
				   "outside|203.0.113.9|{\"ip\":\"203.0.113.9\",\"octets\":1500}\n"
				   "slot||{\"kind\":\"slot\",\"flows\":4}\n");

	memset(&w, 0, sizeof(w));
	assert_int_equal(store_doc_foreach(f->s, "campus", 5666667, "outside", collect, &w), 0);
	assert_int_equal(w.calls, 1);
	assert_string_equal(w.buf, "outside|203.0.113.9|{\"ip\":\"203.0.113.9\",\"octets\":1500}\n");

	/* Other site, other slot, unknown kind: nothing. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_doc_foreach(f->s, "lab", 5666667, NULL, collect, &w), 0);
	assert_int_equal(store_doc_foreach(f->s, "campus", 5666668, NULL, collect, &w), 0);
	assert_int_equal(store_doc_foreach(f->s, "campus", 5666667, "arpIp", collect, &w), 0);
	assert_int_equal(w.calls, 0);

	/* A non-zero callback result stops the walk and is returned. */
	w.stop_at = 2;
	assert_int_equal(store_doc_foreach(f->s, "campus", 5666667, NULL, collect, &w), 7);
	assert_int_equal(w.calls, 2);

	assert_int_equal(store_slot_list(f->s, 0, sl, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl[0].seq, 1);
	assert_string_equal(sl[0].site, "campus");
	assert_int_equal(sl[0].time_slot, 5666667);
	assert_int_equal(sl[0].closed_at_s, 1700000310);
	assert_true(sl[0].partial);
	assert_int_equal(sl[0].n_docs, 4);
	int64_t now = (int64_t)time(NULL);
	assert_true(sl[0].written_at_s >= now - 5 && sl[0].written_at_s <= now);

	assert_int_equal(store_slot_latest(f->s, "campus", &ts), 0);
	assert_int_equal(ts, 5666667);

	/* The operator's view: one row per document, JSON queryable. */
	assert_int_equal(raw_int(f->path, "SELECT json_extract(doc,'$.octets') FROM documents "
					  "WHERE kind='outside' AND key='203.0.113.9'"),
			 1500);
}

static int reenter(void *ud, const struct store_doc *d)
{
	struct store *s = ud;
	int64_t v;

	(void)d;
	assert_int_equal(store_cursor_get(s, "x", &v), -EBUSY);
	assert_int_equal(store_slot_write(s, "campus", 1, NULL, 0, NULL), -EBUSY);
	return 0;
}

static void test_callback_may_not_reenter(void **state)
{
	struct fx *f = *state;
	struct store_doc d;

	f->s = open_ok(f->path, NULL);
	doc(&d, "slot", "", "{}");
	assert_int_equal(store_slot_write(f->s, "campus", 1, &d, 1, NULL), 0);
	assert_int_equal(store_doc_foreach(f->s, "campus", 1, NULL, reenter, f->s), 0);
	/* After the walk the store works again. */
	assert_int_equal(store_slot_write(f->s, "campus", 2, &d, 1, NULL), 0);
}

static void test_rewrite_is_idempotent(void **state)
{
	struct fx *f = *state;
	struct store_doc d[3];
	struct store_slot sl[4];
	struct store_stats st;
	struct seen w = {0};
	size_t n = 0;

	f->s = open_ok(f->path, NULL);
	doc(&d[0], "inside", "192.0.2.1", "{\"v\":1}");
	doc(&d[1], "inside", "192.0.2.2", "{\"v\":1}");
	doc(&d[2], "slot", "", "{\"v\":1}");
	assert_int_equal(store_slot_write(f->s, "campus", 100, d, 3, NULL), 0);
	assert_int_equal(store_slot_write(f->s, "lab", 100, d, 3, NULL), 0);

	/* The same slot again (a replay of the same capture), now with 2 documents. */
	doc(&d[0], "inside", "192.0.2.2", "{\"v\":2}");
	doc(&d[1], "slot", "", "{\"v\":2}");
	assert_int_equal(store_slot_write(f->s, "campus", 100, d, 2, NULL), 0);
	/* And exactly the same content once more. */
	assert_int_equal(store_slot_write(f->s, "campus", 100, d, 2, NULL), 0);

	assert_int_equal(store_doc_foreach(f->s, "campus", 100, NULL, collect, &w), 0);
	assert_string_equal(w.buf, "inside|192.0.2.2|{\"v\":2}\nslot||{\"v\":2}\n");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM documents"), 5);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM slots"), 2);

	/* The rewrite moves the slot to the end of the write order with a new seq. */
	assert_int_equal(store_slot_list(f->s, 0, sl, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(sl[0].site, "lab");
	assert_int_equal(sl[0].seq, 2);
	assert_string_equal(sl[1].site, "campus");
	assert_int_equal(sl[1].seq, 4);
	assert_int_equal(sl[1].n_docs, 2);

	assert_int_equal(store_stats_get(f->s, &st), 0);
	assert_int_equal(st.slots_written, 4);
	assert_int_equal(st.docs_written, 10);
	assert_int_equal(st.slots_stored, 2);
	assert_int_equal(st.docs_stored, 5);
}

static void test_bad_batch_leaves_slot_unchanged(void **state)
{
	struct fx *f = *state;
	struct store_doc d[3];
	struct seen w = {0};
	char longsite[STORE_SITE_MAX + 1];

	f->s = open_ok(f->path, NULL);
	doc(&d[0], "inside", "192.0.2.1", "{\"old\":1}");
	assert_int_equal(store_slot_write(f->s, "campus", 7, d, 1, NULL), 0);

	doc(&d[0], "inside", "192.0.2.9", "{}");
	doc(&d[1], "", "x", "{}");
	assert_int_equal(store_slot_write(f->s, "campus", 7, d, 2, NULL), -EINVAL);
	d[1].kind = "slot";
	d[1].json_len = (size_t)STORE_DOC_MAX_BYTES + 1; /* never read: refused on size */
	assert_int_equal(store_slot_write(f->s, "campus", 7, d, 2, NULL), -E2BIG);

	memset(longsite, 'a', sizeof(longsite) - 1);
	longsite[sizeof(longsite) - 1] = '\0';
	assert_int_equal(store_slot_write(f->s, longsite, 7, d, 1, NULL), -EINVAL);
	longsite[STORE_SITE_MAX - 1] = '\0'; /* 63 bytes: the longest allowed */
	assert_int_equal(store_slot_write(f->s, longsite, 7, d, 1, NULL), 0);
	assert_int_equal(store_slot_write(f->s, "campus", -1, d, 1, NULL), -EINVAL);

	assert_int_equal(store_doc_foreach(f->s, "campus", 7, NULL, collect, &w), 0);
	assert_string_equal(w.buf, "inside|192.0.2.1|{\"old\":1}\n");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM slots"), 2);
}

/*
 * Two documents with one (kind, key) never cost the slot (issue 12 item
 * 1): the rest is stored, the later duplicates are not, and the call says
 * so with -EEXIST, the count and the first key, and counts them.
 */
static void test_duplicate_key_stores_the_rest(void **state)
{
	struct fx *f = *state;
	struct store_doc d[5];
	struct seen w = {0};
	struct store_stats st;
	struct store_slot sl[2];
	size_t n = 0;

	f->s = open_ok(f->path, NULL);
	doc(&d[0], "inside", "192.0.2.9", "{\"first\":1}");
	doc(&d[1], "slot", "", "{}");
	doc(&d[2], "inside", "192.0.2.9", "{\"second\":1}");
	doc(&d[3], "outside", "198.51.100.1", "{}");
	doc(&d[4], "inside", "192.0.2.9", "{\"third\":1}");
	assert_int_equal(store_slot_write(f->s, "campus", 7, d, 5, NULL), -EEXIST);
	assert_non_null(strstr(store_error_get(f->s), f->path));
	assert_non_null(strstr(store_error_get(f->s),
			       "site campus slot 7: 2 documents not stored (duplicate kind and "
			       "key; first: kind inside key \"192.0.2.9\"); 3 stored"));
	assert_int_equal(store_doc_foreach(f->s, "campus", 7, NULL, collect, &w), 0);
	assert_string_equal(w.buf, "inside|192.0.2.9|{\"first\":1}\n"
				   "outside|198.51.100.1|{}\n"
				   "slot||{}\n");
	assert_int_equal(store_slot_list(f->s, 0, sl, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl[0].n_docs, 3);
	assert_int_equal(store_stats_get(f->s, &st), 0);
	assert_int_equal(st.slots_written, 1);
	assert_int_equal(st.docs_written, 3);
	assert_int_equal(st.docs_duplicate, 2);
	assert_int_equal(st.docs_stored, 3);
}

static void test_slot_list_order_and_cursor_persist(void **state)
{
	struct fx *f = *state;
	struct store_doc d;
	struct store_slot sl[8];
	size_t n = 0;
	int64_t cur = -1;

	f->s = open_ok(f->path, NULL);
	doc(&d, "slot", "", "{}");
	/* Write order is not time order: the list follows writes. */
	assert_int_equal(store_slot_write(f->s, "campus", 20, &d, 1, NULL), 0);
	assert_int_equal(store_slot_write(f->s, "lab", 19, &d, 1, NULL), 0);
	assert_int_equal(store_slot_write(f->s, "campus", 21, &d, 1, NULL), 0);
	assert_int_equal(store_slot_write(f->s, "lab", 20, &d, 1, NULL), 0);

	assert_int_equal(store_slot_list(f->s, 0, sl, 8, &n), 0);
	assert_int_equal(n, 4);
	const int64_t want_seq[4] = {1, 2, 3, 4};
	const int64_t want_ts[4] = {20, 19, 21, 20};
	const char *want_site[4] = {"campus", "lab", "campus", "lab"};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(sl[i].seq, want_seq[i]);
		assert_int_equal(sl[i].time_slot, want_ts[i]);
		assert_string_equal(sl[i].site, want_site[i]);
	}
	/* max bounds the batch; after_seq resumes it. */
	assert_int_equal(store_slot_list(f->s, 0, sl, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_slot_list(f->s, 3, sl, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl[0].seq, 4);
	assert_int_equal(store_slot_list(f->s, 4, sl, 8, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(store_cursor_get(f->s, STORE_CURSOR_ELASTICSEARCH, &cur), -ENOENT);
	assert_int_equal(cur, -1);
	assert_non_null(strstr(store_error_get(f->s), "no cursor named \"elasticsearch\""));
	assert_int_equal(store_cursor_set(f->s, STORE_CURSOR_ELASTICSEARCH, 2), 0);
	assert_int_equal(store_cursor_set(f->s, STORE_CURSOR_ELASTICSEARCH, 3), 0);
	assert_int_equal(store_cursor_set(f->s, "other", 1), 0);
	assert_int_equal(store_cursor_set(f->s, "bad", -1), -EINVAL);
	store_close(f->s);

	f->s = open_ok(f->path, NULL);
	assert_int_equal(store_cursor_get(f->s, STORE_CURSOR_ELASTICSEARCH, &cur), 0);
	assert_int_equal(cur, 3);
	assert_int_equal(store_cursor_get(f->s, "other", &cur), 0);
	assert_int_equal(cur, 1);
	assert_int_equal(store_slot_list(f->s, 3, sl, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(sl[0].site, "lab");
	assert_int_equal(sl[0].time_slot, 20);

	/* seq is AUTOINCREMENT: never reused, even after the newest row is gone. */
	assert_int_equal(raw_int(f->path, "DELETE FROM slots WHERE seq = 4"), -12345);
	assert_int_equal(store_slot_write(f->s, "lab", 30, &d, 1, NULL), 0);
	assert_int_equal(store_slot_list(f->s, 3, sl, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl[0].seq, 5);
}

static void test_retention(void **state)
{
	struct fx *f = *state;
	struct store_opts o;
	struct store_doc d[3];
	struct store_stats st;
	struct store_slot sl[8];
	uint64_t del = 99;
	size_t n = 0;
	/* now = start of slot 5000000 + 17 s; one day = 288 slots. */
	const int64_t now = 5000000LL * 300 + 17;
	const int64_t cut = 5000000 - 288; /* first slot kept */

	store_opts_defaults(&o);
	o.retention_days = 1;
	f->s = open_ok(f->path, &o);
	doc(&d[0], "inside", "192.0.2.1", "{}");
	doc(&d[1], "outside", "198.51.100.1", "{}");
	doc(&d[2], "slot", "", "{}");

	/* No slots yet, no cursors: nothing happens. */
	assert_int_equal(store_retention_apply(f->s, now, &del), 0);
	assert_int_equal(del, 0);

	assert_int_equal(store_slot_write(f->s, "campus", cut - 2, d, 3, NULL), 0); /* seq 1 */
	assert_int_equal(store_slot_write(f->s, "lab", cut - 1, d, 2, NULL), 0);    /* seq 2 */
	assert_int_equal(store_slot_write(f->s, "campus", cut - 1, d, 1, NULL), 0); /* seq 3 */
	assert_int_equal(store_slot_write(f->s, "campus", cut, d, 3, NULL), 0);     /* seq 4 */
	assert_int_equal(store_slot_write(f->s, "lab", cut + 5, d, 3, NULL), 0);    /* seq 5 */

	/* The shipper has sent seq 1 only; a second consumer has sent nothing. */
	assert_int_equal(store_cursor_set(f->s, STORE_CURSOR_ELASTICSEARCH, 1), 0);
	assert_int_equal(store_cursor_set(f->s, "export", 0), 0);

	assert_int_equal(store_retention_apply(f->s, now, &del), 0);
	assert_int_equal(del, 3);
	assert_int_equal(store_slot_list(f->s, 0, sl, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sl[0].time_slot, cut);
	assert_int_equal(sl[1].time_slot, cut + 5);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM documents"), 6);
	assert_int_equal(raw_int(f->path, "SELECT min(time_slot) FROM documents"), cut);

	assert_int_equal(store_stats_get(f->s, &st), 0);
	assert_int_equal(st.retention_slots_deleted, 3);
	assert_int_equal(st.retention_docs_deleted, 6);
	/* seq 2 and 3 were beyond the elasticsearch cursor (and seq 1 beyond "export"). */
	assert_int_equal(st.retention_unshipped_slots, 3);
	assert_int_equal(st.retention_unshipped_docs, 6);
	assert_int_equal(raw_int(f->path, "SELECT dropped_slots FROM cursors "
					  "WHERE name='elasticsearch'"),
			 2);
	assert_int_equal(raw_int(f->path, "SELECT dropped_docs FROM cursors "
					  "WHERE name='elasticsearch'"),
			 3);
	assert_int_equal(raw_int(f->path, "SELECT dropped_docs FROM cursors WHERE name='export'"),
			 6);
	assert_int_equal(st.slots_stored, 2);
	assert_int_equal(st.docs_stored, 6);

	/* Idempotent: nothing more is old at the same clock. */
	assert_int_equal(store_retention_apply(f->s, now, &del), 0);
	assert_int_equal(del, 0);

	/* Both consumers catch up; the next deletion is fully shipped. Counters persist. */
	assert_int_equal(store_cursor_set(f->s, STORE_CURSOR_ELASTICSEARCH, 5), 0);
	assert_int_equal(store_cursor_set(f->s, "export", 5), 0);
	store_close(f->s);
	f->s = open_ok(f->path, &o);
	assert_int_equal(store_retention_apply(f->s, now + 300, &del), 0);
	assert_int_equal(del, 1);
	assert_int_equal(store_stats_get(f->s, &st), 0);
	assert_int_equal(st.retention_slots_deleted, 4);
	assert_int_equal(st.retention_docs_deleted, 9);
	assert_int_equal(st.retention_unshipped_slots, 3);
	assert_int_equal(st.retention_unshipped_docs, 6);
	assert_int_equal(st.slots_stored, 1);

	/* retention_days 0 keeps everything. */
	store_close(f->s);
	o.retention_days = 0;
	f->s = open_ok(f->path, &o);
	assert_int_equal(store_retention_apply(f->s, now + 1000000, &del), 0);
	assert_int_equal(del, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM slots"), 1);
}

static void test_retention_without_cursor_counts_nothing_unshipped(void **state)
{
	struct fx *f = *state;
	struct store_opts o;
	struct store_doc d;
	struct store_stats st;
	uint64_t del = 0;

	store_opts_defaults(&o);
	o.retention_days = 30;
	f->s = open_ok(f->path, &o);
	doc(&d, "slot", "", "{}");
	assert_int_equal(store_slot_write(f->s, "campus", 10, &d, 1, NULL), 0);
	assert_int_equal(store_slot_write(f->s, "campus", 11, &d, 1, NULL), 0);
	/* Slot 11 ends at 3600 s: old once now - 30 days >= 3600. */
	assert_int_equal(store_retention_apply(f->s, 30 * 86400 + 3599, &del), 0);
	assert_int_equal(del, 1);
	assert_int_equal(store_retention_apply(f->s, 30 * 86400 + 3600, &del), 0);
	assert_int_equal(del, 1);
	assert_int_equal(store_stats_get(f->s, &st), 0);
	assert_int_equal(st.retention_slots_deleted, 2);
	assert_int_equal(st.retention_unshipped_slots, 0);
	assert_int_equal(st.retention_unshipped_docs, 0);
}

static void test_reader_sees_writer(void **state)
{
	struct fx *f = *state;
	struct store *r;
	struct store_doc d;
	struct seen w = {0};
	int64_t ts = 0;

	f->s = open_ok(f->path, NULL);
	r = open_ok(f->path, NULL);
	doc(&d, "slot", "", "{\"n\":1}");
	assert_int_equal(store_slot_write(f->s, "campus", 42, &d, 1, NULL), 0);
	assert_int_equal(store_slot_latest(r, "campus", &ts), 0);
	assert_int_equal(ts, 42);
	assert_int_equal(store_doc_foreach(r, "campus", 42, "slot", collect, &w), 0);
	assert_string_equal(w.buf, "slot||{\"n\":1}\n");
	/* The reader's cursor write waits for, then follows, the writer. */
	assert_int_equal(store_cursor_set(r, "dashboard", 1), 0);
	store_close(r);
}

/* Documents of two sites and slots, labelled and not, for the reader tests. */
static void fill_readers(struct store *s)
{
	struct store_doc d[7];

	doc(&d[0], "slot", "", "{\"kind\":\"slot\",\"timeSlot\":100,\"labels\":{\"flood\":1}}");
	doc(&d[1], "inside", "10.0.0.1", "{\"kind\":\"inside\",\"octets\":50,\"labels\":[]}");
	doc(&d[2], "inside", "10.0.0.2",
	    "{\"kind\":\"inside\",\"octets\":900,\"labels\":[\"fanout\"],\"reasons\":{}}");
	doc(&d[3], "outside", "192.0.2.9",
	    "{\"kind\":\"outside\",\"octets\":7,\"labels\": [ \"scan\" ]}");
	doc(&d[4], "offender", "192.0.2.9", "{\"kind\":\"offender\",\"labels\":[\"scan\"]}");
	doc(&d[5], "arpIp", "10.0.0.2", "{\"kind\":\"arpIp\",\"labels\":[\"x\"]}");
	doc(&d[6], "inside", "10.0.0.3", "{\"kind\":\"inside\",\"octets\":300,\"labels\":[ ]}");
	assert_int_equal(store_slot_write(s, "campus", 100, d, 7, NULL), 0);
	doc(&d[0], "slot", "", "{\"kind\":\"slot\",\"timeSlot\":101}");
	doc(&d[1], "inside", "10.0.0.2", "{\"kind\":\"inside\",\"t\":101,\"labels\":[]}");
	assert_int_equal(store_slot_write(s, "campus", 101, d, 2, NULL), 0);
	doc(&d[0], "slot", "", "{\"kind\":\"slot\",\"site\":\"lab\",\"timeSlot\":100}");
	doc(&d[1], "outside", "10.0.0.2", "{\"site\":\"lab\",\"labels\":[\"flood\"]}");
	assert_int_equal(store_slot_write(s, "lab", 100, d, 2, NULL), 0);
	doc(&d[0], "slot", "", "{\"kind\":\"slot\",\"site\":\"lab\",\"timeSlot\":99}");
	assert_int_equal(store_slot_write(s, "lab", 99, d, 1, NULL), 0);
}

static const char labelled_100[] =
	"inside|10.0.0.2|{\"kind\":\"inside\",\"octets\":900,\"labels\":[\"fanout\"],\"reasons\":{}}\n"
	"offender|192.0.2.9|{\"kind\":\"offender\",\"labels\":[\"scan\"]}\n"
	"outside|192.0.2.9|{\"kind\":\"outside\",\"octets\":7,\"labels\": [ \"scan\" ]}\n";

static void test_readers(void **state)
{
	struct fx *f = *state;
	struct store_slot sl[4];
	struct seen w = {0};
	size_t n = 99;

	f->s = open_ok(f->path, NULL);
	fill_readers(f->s);
	/* A pseudo-site (the daily analysis's) is no site of the list. */
	struct store_doc pd;
	doc(&pd, "daily", "summary", "{\"kind\":\"daily\"}");
	assert_int_equal(store_slot_write(f->s, "campus@daily", 50, &pd, 1, NULL), 0);

	assert_int_equal(store_site_list(f->s, sl, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(sl[0].site, "campus");
	assert_int_equal(sl[0].time_slot, 101);
	assert_int_equal(sl[0].n_docs, 2);
	assert_string_equal(sl[1].site, "lab");
	assert_int_equal(sl[1].time_slot, 100);
	assert_int_equal(sl[1].n_docs, 2);
	assert_int_equal(store_site_list(f->s, sl, 1, &n), -E2BIG);
	assert_int_equal(n, 1);

	memset(sl, 0, sizeof(sl));
	assert_int_equal(store_slot_get(f->s, "lab", 99, &sl[0]), 0);
	assert_int_equal(sl[0].n_docs, 1);
	assert_int_equal(sl[0].seq, 4);
	assert_int_equal(store_slot_get(f->s, "lab", 98, &sl[0]), -ENOENT);
	assert_int_equal(store_slot_get(f->s, "nosuch", 100, &sl[0]), -ENOENT);

	/* Only campus's slot documents, in slot order; lab's in the same range are not read. */
	assert_int_equal(store_doc_range(f->s, "campus", "slot", 0, 1000, collect, &w), 0);
	assert_string_equal(w.buf, "slot||{\"kind\":\"slot\",\"timeSlot\":100,\"labels\":{\"flood\":1}}\n"
				   "slot||{\"kind\":\"slot\",\"timeSlot\":101}\n");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_doc_range(f->s, "lab", "slot", 100, 100, collect, &w), 0);
	assert_string_equal(w.buf, "slot||{\"kind\":\"slot\",\"site\":\"lab\",\"timeSlot\":100}\n");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_doc_range(f->s, "campus", "slot", 102, 1000, collect, &w), 0);
	assert_int_equal(w.calls, 0);

	/* One key across sites and kinds, by slot then site then kind. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_key_range(f->s, "10.0.0.2", 0, 1000, collect, &w), 0);
	assert_string_equal(
		w.buf,
		"arpIp|10.0.0.2|{\"kind\":\"arpIp\",\"labels\":[\"x\"]}\n"
		"inside|10.0.0.2|{\"kind\":\"inside\",\"octets\":900,\"labels\":[\"fanout\"],\"reasons\":{}}\n"
		"outside|10.0.0.2|{\"site\":\"lab\",\"labels\":[\"flood\"]}\n"
		"inside|10.0.0.2|{\"kind\":\"inside\",\"t\":101,\"labels\":[]}\n");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_key_range(f->s, "10.0.0.2", 101, 101, collect, &w), 0);
	assert_int_equal(w.calls, 1);

	/* Labelled: non-empty "labels" arrays of inside/outside/offender only. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_labelled_foreach(f->s, "campus", 100, collect, &w), 0);
	assert_string_equal(w.buf, labelled_100);
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_labelled_foreach(f->s, "campus", 101, collect, &w), 0);
	assert_int_equal(w.calls, 0);
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	assert_int_equal(store_labelled_foreach(f->s, "campus", 100, collect, &w), 7);
	assert_int_equal(w.calls, 2);

	/* Top N by a numeric field. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_doc_top(f->s, "campus", 100, "inside", "octets", 2, collect, &w), 0);
	assert_string_equal(
		w.buf,
		"inside|10.0.0.2|{\"kind\":\"inside\",\"octets\":900,\"labels\":[\"fanout\"],\"reasons\":{}}\n"
		"inside|10.0.0.3|{\"kind\":\"inside\",\"octets\":300,\"labels\":[ ]}\n");
	assert_int_equal(store_doc_top(f->s, "campus", 100, "inside", "oc.tets", 2, collect, &w),
			 -EINVAL);
	assert_int_equal(store_doc_top(f->s, "campus", 100, "inside", "", 2, collect, &w), -EINVAL);
	/* A rewrite that drops the label drops it from the index too. */
	struct store_doc d;
	doc(&d, "inside", "10.0.0.2", "{\"labels\":[]}");
	assert_int_equal(store_slot_write(f->s, "campus", 100, &d, 1, NULL), 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_labelled_foreach(f->s, "campus", 100, collect, &w), 0);
	assert_int_equal(w.calls, 0);
}

static void test_read_only(void **state)
{
	struct fx *f = *state;
	struct store_opts o;
	struct store *r = (struct store *)&r;
	struct store_doc d;
	struct seen w = {0};
	struct stat sb;
	char err[512];
	int64_t ts;

	store_opts_defaults(&o);
	assert_false(o.read_only);
	o.read_only = true;
	/* A reader creates nothing: no file, no directory. */
	assert_int_not_equal(store_open(f->path, &o, &r, err, sizeof(err)), 0);
	assert_null(r);
	assert_non_null(strstr(err, f->path));
	assert_int_equal(stat(f->path, &sb), -1);

	f->s = open_ok(f->path, NULL);
	fill_readers(f->s);
	r = open_ok(f->path, &o);
	assert_int_equal(store_labelled_foreach(r, "campus", 100, collect, &w), 0);
	assert_string_equal(w.buf, labelled_100);
	doc(&d, "slot", "", "{}");
	assert_int_equal(store_slot_write(r, "campus", 5, &d, 1, NULL), -EROFS);
	assert_int_equal(store_cursor_set(r, "x", 1), -EROFS);
	/* The writer goes on while the reader is open, and the reader sees it. */
	assert_int_equal(store_slot_write(f->s, "campus", 500, &d, 1, NULL), 0);
	assert_int_equal(store_slot_latest(r, "campus", &ts), 0);
	assert_int_equal(ts, 500);
	store_close(r);
}

/* A schema 1 file (the 2 -> 1 inverse, by hand) is migrated and its labelled rows marked. */
static void test_migrate_1_to_2(void **state)
{
	struct fx *f = *state;
	struct store_opts o;
	struct store *r = NULL;
	struct seen w = {0};
	char err[512];

	f->s = open_ok(f->path, NULL);
	fill_readers(f->s);
	store_close(f->s);
	f->s = NULL;
	raw_exec(f->path, downgrade_4_to_2);
	assert_int_equal(raw_int(f->path, "DROP INDEX documents_labelled"), -12345);
	assert_int_equal(raw_int(f->path, "DROP INDEX documents_key"), -12345);
	assert_int_equal(raw_int(f->path, "ALTER TABLE documents DROP COLUMN labelled"), -12345);
	assert_int_equal(raw_int(f->path, "UPDATE meta SET value='1' WHERE name='schema_version'"),
			 -12345);

	/* A reader cannot migrate: it says so and leaves the file alone. */
	store_opts_defaults(&o);
	o.read_only = true;
	assert_int_equal(store_open(f->path, &o, &r, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "schema version 1 is older than this nfsentry reads (4)"));
	assert_int_equal(raw_int(f->path, "SELECT value FROM meta WHERE name='schema_version'"), 1);

	f->s = open_ok(f->path, NULL);
	assert_int_equal(raw_int(f->path, "SELECT value FROM meta WHERE name='schema_version'"), 4);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM documents WHERE labelled = 1"), 4);
	assert_int_equal(store_labelled_foreach(f->s, "campus", 100, collect, &w), 0);
	assert_string_equal(w.buf, labelled_100);
}

/* A schema 2 file migrates to 3: every slot part 0 covering its whole 300 s, seq carried on. */
static void test_migrate_2_to_3(void **state)
{
	struct fx *f = *state;
	struct store_slot sl[8];
	struct store_doc d;
	struct seen w = {0};
	size_t n = 0;

	f->s = open_ok(f->path, NULL);
	fill_readers(f->s);
	assert_int_equal(store_cursor_set(f->s, "elasticsearch", 3), 0);
	store_close(f->s);
	f->s = NULL;
	raw_exec(f->path, downgrade_4_to_2);
	/* Retention had deleted newer rows once: the sequence is ahead of max(seq). */
	raw_exec(f->path, "UPDATE sqlite_sequence SET seq = 50 WHERE name = 'slots'");
	assert_int_equal(raw_int(f->path, "SELECT value FROM meta WHERE name='schema_version'"), 2);

	f->s = open_ok(f->path, NULL);
	assert_int_equal(raw_int(f->path, "SELECT value FROM meta WHERE name='schema_version'"), 4);
	assert_int_equal(store_slot_list(f->s, 0, sl, 8, &n), 0);
	assert_int_equal(n, 4);
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(sl[k].part, 0);
		assert_int_equal(sl[k].covered_from_s, sl[k].time_slot * 300);
		assert_int_equal(sl[k].covered_to_s, sl[k].time_slot * 300 + 300);
	}
	assert_int_equal(store_labelled_foreach(f->s, "campus", 100, collect, &w), 0);
	assert_string_equal(w.buf, labelled_100);
	doc(&d, "slot", "", "{}");
	assert_int_equal(store_slot_write(f->s, "campus", 300, &d, 1, NULL), 0);
	assert_int_equal(store_slot_list(f->s, 50, sl, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl[0].seq, 51);
}

static int64_t part_count(const char *path)
{
	return raw_int(path, "SELECT count(*) FROM slots WHERE site = 'campus' AND time_slot = 100");
}

/* One part's documents as "kind|key|json" lines. */
static const char *part_docs(struct store *s, uint32_t part, struct seen *w)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(store_part_doc_foreach(s, "campus", 100, part, NULL, collect, w), 0);
	return w->buf;
}

/*
 * The part rule: a write replaces the slot only when it covers at least what
 * every stored part covers; otherwise it is the next part, nothing replaced.
 */
static void test_parts(void **state)
{
	struct fx *f = *state;
	struct store_doc d[2];
	struct store_slot sl[8];
	struct seen w;
	size_t n = 0;
	const int64_t t0 = 100 * 300;

	f->s = open_ok(f->path, NULL);
	doc(&d[0], "slot", "", "{\"whole\":1}");
	doc(&d[1], "inside", "10.0.0.1", "{\"whole\":1}");
	assert_int_equal(store_slot_write(f->s, "campus", 100, d, 2, NULL), 0);
	assert_int_equal(store_last_part(f->s), 0);

	/* Less than the whole slot: beside it, as part 1. */
	struct store_slot_info a = {.closed_at_s = t0 + 300, .partial = true,
				    .covered_from_s = t0 + 100, .covered_to_s = t0 + 200};
	doc(&d[0], "slot", "", "{\"a\":1}");
	assert_int_equal(store_slot_write(f->s, "campus", 100, d, 1, &a), 0);
	assert_int_equal(store_last_part(f->s), 1);
	assert_int_equal(part_count(f->path), 2);
	assert_string_equal(part_docs(f->s, 0, &w),
			    "inside|10.0.0.1|{\"whole\":1}\nslot||{\"whole\":1}\n");
	assert_string_equal(part_docs(f->s, 1, &w), "slot||{\"a\":1}\n");
	/* store_doc_foreach reads part 0. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_doc_foreach(f->s, "campus", 100, "slot", collect, &w), 0);
	assert_string_equal(w.buf, "slot||{\"whole\":1}\n");

	/* More than part 1, less than part 0: still nothing replaced. */
	struct store_slot_info b = a;
	b.covered_from_s = t0 + 50;
	b.covered_to_s = t0 + 250;
	doc(&d[0], "slot", "", "{\"b\":1}");
	assert_int_equal(store_slot_write(f->s, "campus", 100, d, 1, &b), 0);
	assert_int_equal(store_last_part(f->s), 2);
	assert_int_equal(part_count(f->path), 3);
	assert_string_equal(part_docs(f->s, 1, &w), "slot||{\"a\":1}\n");
	assert_int_equal(store_slot_list(f->s, 0, sl, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(sl[2].part, 2);
	assert_true(sl[2].partial);
	assert_int_equal(sl[2].covered_from_s, t0 + 50);
	assert_int_equal(sl[2].covered_to_s, t0 + 250);
	assert_false(sl[0].partial);
	assert_int_equal(sl[0].covered_from_s, t0);
	assert_int_equal(sl[0].covered_to_s, t0 + 300);

	/* The whole slot again (a replay): it replaces every part, as part 0. */
	doc(&d[0], "slot", "", "{\"again\":1}");
	assert_int_equal(store_slot_write(f->s, "campus", 100, d, 1, NULL), 0);
	assert_int_equal(store_last_part(f->s), 0);
	assert_int_equal(part_count(f->path), 1);
	assert_string_equal(part_docs(f->s, 0, &w), "slot||{\"again\":1}\n");

	/* Partial over partial: the one that covers more replaces, the one that covers less not. */
	assert_int_equal(store_slot_write(f->s, "campus", 101, d, 1, &(struct store_slot_info){
			     .partial = true, .covered_from_s = 101 * 300 + 100,
			     .covered_to_s = 101 * 300 + 150}), 0);
	assert_int_equal(store_slot_write(f->s, "campus", 101, d, 1, &(struct store_slot_info){
			     .partial = true, .covered_from_s = 101 * 300 + 100,
			     .covered_to_s = 101 * 300 + 200}), 0);
	assert_int_equal(store_last_part(f->s), 0);
	assert_int_equal(store_slot_write(f->s, "campus", 101, d, 1, &(struct store_slot_info){
			     .partial = true, .covered_from_s = 101 * 300 + 120,
			     .covered_to_s = 101 * 300 + 200}), 0);
	assert_int_equal(store_last_part(f->s), 1);
	assert_int_equal(
	    raw_int(f->path, "SELECT count(*) FROM slots WHERE site = 'campus' AND time_slot = 101"),
	    2);
}

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_bulk_slot_write(void **state)
{
	struct fx *f = *state;
	const char *env = getenv("STORE_BENCH_DOCS");
	size_t n = 100000;
	struct store_doc *d;
	struct store_stats st;
	char *keys, *json;
	double t0, t1, t2;

	if (env) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(env, &end, 10);
		assert_true(errno == 0 && *end == '\0' && v > 0 && v <= 10000000);
		n = v;
	}
	d = calloc(n, sizeof(*d));
	keys = calloc(n, 48);
	json = calloc(n, 320);
	assert_true(d && keys && json);
	/* Keys in hash-like order (not sorted), ~300-byte JSON each, as the doc module makes. */
	for (size_t i = 0; i < n; i++) {
		uint32_t h = (uint32_t)(i * 2654435761u);
		char *k = keys + i * 48, *j = json + i * 320;
		snprintf(k, 48, "10.%u.%u.%u", (h >> 16) & 255, (h >> 8) & 255, (unsigned)(i & 255));
		snprintf(k + strlen(k), 48 - strlen(k), "-%zu", i); /* unique */
		int len = snprintf(j, 320,
				   "{\"kind\":\"outside\",\"site\":\"campus\",\"timeSlot\":5666667,"
				   "\"@timestamp\":\"2023-11-14T22:15:00Z\",\"ip\":\"%s\","
				   "\"flows\":%zu,\"packets\":%zu,\"octets\":%zu,\"touchPeers\":3,"
				   "\"arrayPeer\":[\"192.0.2.1\",\"192.0.2.2\",\"192.0.2.3\"],"
				   "\"label\":\"normal\",\"reason\":{\"rule\":\"none\",\"unansweredFlows\":0,"
				   "\"peerCapHit\":false}}",
				   k, i, i * 3, i * 1400);
		assert_true(len > 0 && len < 320);
		d[i].kind = "outside";
		d[i].key = k;
		d[i].json = j;
		d[i].json_len = (size_t)len;
	}
	f->s = open_ok(f->path, NULL);
	t0 = mono_s();
	assert_int_equal(store_slot_write(f->s, "campus", 5666667, d, n, NULL), 0);
	t1 = mono_s();
	/* Rewrite of the same slot: delete + insert. */
	assert_int_equal(store_slot_write(f->s, "campus", 5666667, d, n, NULL), 0);
	t2 = mono_s();
	assert_int_equal(store_stats_get(f->s, &st), 0);
	assert_int_equal(st.docs_stored, n);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM documents"), (long long)n);
	print_message("store: %zu docs (~%zu bytes of JSON each): write %.3f s (%.0f docs/s), "
		      "rewrite %.3f s (%.0f docs/s)\n",
		      n, d[0].json_len, t1 - t0, (double)n / (t1 - t0), t2 - t1,
		      (double)n / (t2 - t1));
	/* Loose on purpose (shared, loaded CI machines, sanitizers): catches only pathologies. */
	assert_true(t1 - t0 < 60.0);
	free(d);
	free(keys);
	free(json);
}

/* Copies a digest store_digest_get hands out. */
struct dgcopy {
	char buf[64];
	size_t len;
};

static int dg_copy(void *ud, const void *p, size_t len)
{
	struct dgcopy *c = ud;
	assert_true(len < sizeof(c->buf));
	memcpy(c->buf, p, len);
	c->len = len;
	return 0;
}

/*
 * Digests: stored with the slot's documents (binary, NUL bytes too), read
 * back for part 0 only, deleted when the slot is replaced, kept when a
 * lesser part is stored beside it, deleted by retention; a file of schema
 * 3 gains the table and its slots have none.
 */
static void test_digest(void **state)
{
	struct fx *f = *state;
	struct store_opts o;
	struct store_doc d;
	struct dgcopy c = {0};
	const char bin[] = {'N', 0, 'F', (char)0xff, 0};
	uint64_t del = 0;

	store_opts_defaults(&o);
	o.retention_days = 1;
	f->s = open_ok(f->path, &o);
	doc(&d, "slot", "", "{}");
	assert_int_equal(store_digest_get(f->s, "campus", 100, dg_copy, &c), -ENOENT);
	assert_int_equal(store_slot_write_digest(f->s, "campus", 100, &d, 1, NULL, bin, 5), 0);
	assert_int_equal(store_digest_get(f->s, "campus", 100, dg_copy, &c), 0);
	assert_int_equal(c.len, 5);
	assert_memory_equal(c.buf, bin, 5);
	assert_int_equal(store_digest_get(f->s, "lab", 100, dg_copy, &c), -ENOENT);
	/* Empty: refused, nothing written. */
	assert_int_equal(store_slot_write_digest(f->s, "campus", 101, &d, 1, NULL, bin, 0), -E2BIG);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM slots WHERE time_slot = 101"), 0);
	/* A partial part beside the whole slot: stored as part 1, part 0's digest stays. */
	struct store_slot_info part = {.closed_at_s = 30300,
				       .partial = true,
				       .covered_from_s = 30000,
				       .covered_to_s = 30100};
	assert_int_equal(store_slot_write_digest(f->s, "campus", 100, &d, 1, &part, "P", 1), 0);
	assert_int_equal(store_last_part(f->s), 1);
	assert_int_equal(store_digest_get(f->s, "campus", 100, dg_copy, &c), 0);
	assert_int_equal(c.len, 5);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digests"), 2);
	/* A whole rewrite without a digest replaces every part and its digest. */
	assert_int_equal(store_slot_write(f->s, "campus", 100, &d, 1, NULL), 0);
	assert_int_equal(store_digest_get(f->s, "campus", 100, dg_copy, &c), -ENOENT);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digests"), 0);
	/* Retention deletes digests with their slots. */
	assert_int_equal(store_slot_write_digest(f->s, "campus", 100, &d, 1, NULL, bin, 5), 0);
	assert_int_equal(store_slot_write_digest(f->s, "campus", 5000000, &d, 1, NULL, bin, 5), 0);
	assert_int_equal(store_retention_apply(f->s, 5000000LL * 300, &del), 0);
	assert_int_equal(del, 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digests"), 1);
	assert_int_equal(store_digest_get(f->s, "campus", 5000000, dg_copy, &c), 0);

	/* Schema 3 (without the table) migrates to 4. */
	store_close(f->s);
	f->s = NULL;
	raw_exec(f->path, "DROP TABLE digests; UPDATE meta SET value = '3' "
			  "WHERE name = 'schema_version';");
	f->s = open_ok(f->path, &o);
	assert_int_equal(raw_int(f->path, "SELECT value FROM meta WHERE name='schema_version'"), 4);
	assert_int_equal(store_digest_get(f->s, "campus", 5000000, dg_copy, &c), -ENOENT);
	assert_int_equal(store_slot_write_digest(f->s, "campus", 5000001, &d, 1, NULL, bin, 5), 0);
	assert_int_equal(store_digest_get(f->s, "campus", 5000001, dg_copy, &c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_dir_and_schema, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_newer_schema_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_foreign_files_refused, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_errors_name_path, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_read_back, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_callback_may_not_reenter, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_is_idempotent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_key_stores_the_rest, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_batch_leaves_slot_unchanged, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_slot_list_order_and_cursor_persist, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_retention, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_retention_without_cursor_counts_nothing_unshipped,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reader_sees_writer, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_readers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_only, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_1_to_2, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_2_to_3, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_parts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bulk_slot_write, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_digest, fx_setup, fx_teardown),
	};
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
