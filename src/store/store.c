/*
 * store: SQLite schema, migrations, slot writes, retention and reads.
 *
 * Responsible for the file layout (docs/internals/store.md), for writing one
 * (site, slot) per transaction with reused prepared statements, and for
 * turning SQLite result codes into errno values with messages that name the
 * file. Not responsible for the JSON inside the documents, which is stored
 * as given.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "nfsentry/store.h"

/* "nfse" in the SQLite header's application_id: identifies our files to file(1) and to us. */
#define STORE_APPLICATION_ID 0x6e667365

/*
 * Page size of a new file. Documents are ~300 bytes; a WITHOUT ROWID table
 * stores whole rows in its b-tree, and a larger page keeps interior fan-out
 * high and cuts per-page overhead (measured ~20% faster writes than 4096;
 * docs/internals/store.md).
 */
#define STORE_PAGE_SIZE 16384

/* WAL file is truncated back to this after a checkpoint (a 1M-document slot makes it ~300 MB). */
#define STORE_WAL_LIMIT_BYTES 67108864

#define STORE_ERR_MAX 512

/* Prepared statements, made once in store_open() and reused. */
enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DOC_INSERT,
	ST_DOC_DELETE_SLOT,
	ST_SLOT_DELETE,
	ST_SLOT_INSERT,
	ST_SLOT_LIST,
	ST_SLOT_LATEST,
	ST_DOC_ALL,
	ST_DOC_KIND,
	ST_CURSOR_GET,
	ST_CURSOR_SET,
	ST_RET_CURSORS,
	ST_RET_TOTAL,
	ST_RET_UNSHIPPED,
	ST_RET_DOCS,
	ST_RET_SLOTS,
	ST_COUNTER_ADD,
	ST_COUNTER_GET,
	ST_STORED,
	ST_SITE_LIST,
	ST_SLOT_GET,
	ST_RANGE_KIND,
	ST_KEY_RANGE,
	ST_LABELLED,
	ST_TOP,
	ST_PARTS,
	ST_DIGEST_INSERT,
	ST_DIGEST_DELETE_SLOT,
	ST_DIGEST_GET,
	ST_RET_DIGESTS,
	ST_COUNT
};

static const char *const store_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	/* labelled: read by the dashboard's index (store_labelled_foreach). */
	[ST_DOC_INSERT] = "INSERT INTO documents(time_slot, site, kind, key, doc, labelled, part) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, nfs_labelled(?3, ?5), ?6)",
	[ST_DOC_DELETE_SLOT] = "DELETE FROM documents WHERE time_slot = ?1 AND site = ?2",
	[ST_SLOT_DELETE] = "DELETE FROM slots WHERE site = ?1 AND time_slot = ?2",
	[ST_SLOT_INSERT] = "INSERT INTO slots(site, time_slot, closed_at, written_at, n_docs, partial, "
			   "part, covered_from, covered_to) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_SLOT_LIST] = "SELECT seq, site, time_slot, closed_at, written_at, n_docs, partial, "
			 "part, covered_from, covered_to "
			 "FROM slots WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[ST_SLOT_LATEST] = "SELECT max(time_slot) FROM slots WHERE site = ?1",
	[ST_DOC_ALL] = "SELECT kind, key, doc FROM documents WHERE time_slot = ?1 AND site = ?2 "
		       "AND part = ?4 ORDER BY kind, key",
	[ST_DOC_KIND] = "SELECT kind, key, doc FROM documents "
			"WHERE time_slot = ?1 AND site = ?2 AND part = ?4 AND kind = ?3 ORDER BY key",
	[ST_CURSOR_GET] = "SELECT seq FROM cursors WHERE name = ?1",
	[ST_CURSOR_SET] = "INSERT INTO cursors(name, seq, updated_at) VALUES (?1, ?2, ?3) "
			  "ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, "
			  "updated_at = excluded.updated_at",
	/* Charge each cursor with the doomed slots it has not passed. */
	[ST_RET_CURSORS] =
		"UPDATE cursors SET "
		"dropped_slots = dropped_slots + (SELECT count(*) FROM slots "
		"  WHERE time_slot < ?1 AND slots.seq > cursors.seq), "
		"dropped_docs = dropped_docs + (SELECT coalesce(sum(n_docs), 0) FROM slots "
		"  WHERE time_slot < ?1 AND slots.seq > cursors.seq)",
	[ST_RET_TOTAL] = "SELECT count(*), coalesce(sum(n_docs), 0) FROM slots WHERE time_slot < ?1",
	/* Unshipped = some cursor has not passed it; min(seq) is NULL with no cursor: none. */
	[ST_RET_UNSHIPPED] = "SELECT count(*), coalesce(sum(n_docs), 0) FROM slots "
			     "WHERE time_slot < ?1 AND seq > (SELECT min(seq) FROM cursors)",
	[ST_RET_DOCS] = "DELETE FROM documents WHERE time_slot < ?1",
	[ST_RET_SLOTS] = "DELETE FROM slots WHERE time_slot < ?1",
	[ST_COUNTER_ADD] = "INSERT INTO counters(name, value) VALUES (?1, ?2) "
			   "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
	[ST_COUNTER_GET] = "SELECT name, value FROM counters",
	[ST_STORED] = "SELECT count(*), coalesce(sum(n_docs), 0) FROM slots",
	/* Bare columns with max(): SQLite takes them from the row holding the maximum. */
	[ST_SITE_LIST] = "SELECT seq, site, max(time_slot), closed_at, written_at, n_docs, partial, "
			 "part, covered_from, covered_to "
			 "FROM slots WHERE part = 0 AND instr(site, '@') = 0 "
			 "GROUP BY site ORDER BY site",
	[ST_SLOT_GET] = "SELECT seq, site, time_slot, closed_at, written_at, n_docs, partial, "
			"part, covered_from, covered_to "
			"FROM slots WHERE site = ?1 AND time_slot = ?2 AND part = 0",
	/*
	 * The slots of the site (its UNIQUE index) drive the loop and each looks
	 * up its documents by primary-key prefix; CROSS JOIN keeps that order, so
	 * the other sites' documents in the range are never read.
	 */
	[ST_RANGE_KIND] = "SELECT d.kind, d.key, d.doc FROM slots s CROSS JOIN documents d "
			  "ON d.time_slot = s.time_slot AND d.site = s.site AND d.part = s.part "
			  "AND d.kind = ?4 "
			  "WHERE s.site = ?1 AND s.time_slot BETWEEN ?2 AND ?3 AND s.part = 0 "
			  "ORDER BY s.time_slot, d.key",
	[ST_KEY_RANGE] = "SELECT kind, key, doc FROM documents INDEXED BY documents_key "
			 "WHERE key = ?1 AND time_slot BETWEEN ?2 AND ?3 "
			 "ORDER BY time_slot, site, kind",
	[ST_LABELLED] = "SELECT kind, key, doc FROM documents INDEXED BY documents_labelled "
			"WHERE time_slot = ?1 AND site = ?2 AND labelled = 1 ORDER BY kind, key",
	/* Parses each document of the kind: for the bounded kinds (A, the B top N, C). */
	[ST_TOP] = "SELECT kind, key, doc FROM documents "
		   "WHERE time_slot = ?1 AND site = ?2 AND kind = ?3 "
		   "ORDER BY json_extract(doc, ?4) DESC, key LIMIT ?5",
	/* The parts a slot holds already, for the part rule of store_slot_write. */
	[ST_PARTS] = "SELECT part, covered_from, covered_to FROM slots "
		     "WHERE site = ?1 AND time_slot = ?2",
	/* A slot part's digest (store_slot_write_digest), beside its documents. */
	[ST_DIGEST_INSERT] = "INSERT INTO digests(time_slot, site, part, data) VALUES (?1, ?2, ?3, ?4)",
	[ST_DIGEST_DELETE_SLOT] = "DELETE FROM digests WHERE time_slot = ?1 AND site = ?2",
	[ST_DIGEST_GET] = "SELECT data FROM digests WHERE time_slot = ?1 AND site = ?2 AND part = 0",
	[ST_RET_DIGESTS] = "DELETE FROM digests WHERE time_slot < ?1",
};

/* The digests statements on a schema-3 file (read-only): nothing found, nothing changed. */
static const char *const store_sql_schema3[ST_COUNT] = {
	[ST_DIGEST_INSERT] = "SELECT ?1, ?2, ?3, ?4 WHERE 0",
	[ST_DIGEST_DELETE_SLOT] = "SELECT ?1, ?2 WHERE 0",
	[ST_DIGEST_GET] = "SELECT NULL FROM (SELECT ?1, ?2) WHERE 0",
	[ST_RET_DIGESTS] = "SELECT ?1 WHERE 0",
};

/*
 * Migrations: migration[v] takes a file from schema version v to v + 1.
 * Each runs inside the transaction that also updates meta, so a crash
 * leaves the old version intact. Never edit a shipped entry: add one.
 */
static const char *const store_migration[STORE_SCHEMA_VERSION] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE meta ("
	"  name TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE slots ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  site TEXT NOT NULL,"
	"  time_slot INTEGER NOT NULL,"
	"  closed_at INTEGER NOT NULL,"
	"  written_at INTEGER NOT NULL,"
	"  n_docs INTEGER NOT NULL,"
	"  partial INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (site, time_slot)"
	");"
	"CREATE INDEX slots_time_slot ON slots(time_slot);"
	"CREATE TABLE documents ("
	"  time_slot INTEGER NOT NULL,"
	"  site TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  PRIMARY KEY (time_slot, site, kind, key)"
	") WITHOUT ROWID;"
	"CREATE TABLE cursors ("
	"  name TEXT PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  dropped_slots INTEGER NOT NULL DEFAULT 0,"
	"  dropped_docs INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE TABLE counters ("
	"  name TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO meta(name, value) VALUES ('schema_version', '0');",
	/*
	 * 1 -> 2: what the dashboard reads without scanning a slot. labelled
	 * marks the inside/outside/offender documents with a label (filled by
	 * nfs_labelled() at write time), and a partial index holds only those;
	 * documents_key finds one IP's documents across slots and sites.
	 */
	"ALTER TABLE documents ADD COLUMN labelled INTEGER NOT NULL DEFAULT 0;"
	"UPDATE documents SET labelled = 1 WHERE nfs_labelled(kind, doc);"
	"CREATE INDEX documents_labelled ON documents(time_slot, site) WHERE labelled = 1;"
	"CREATE INDEX documents_key ON documents(key, time_slot);",
	/*
	 * 2 -> 3: parts (docs/store.md "Partial slots and parts"). A slot may be
	 * stored in several parts, each what one run of the collector saw of it
	 * (covered_from .. covered_to, Unix seconds); part is in both keys, so
	 * both tables are made anew and copied (every existing slot is part 0,
	 * covering its whole 300 s). The slots' seq sequence is carried over, so
	 * cursors keep their meaning.
	 */
	"CREATE TABLE slots3 ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  site TEXT NOT NULL,"
	"  time_slot INTEGER NOT NULL,"
	"  closed_at INTEGER NOT NULL,"
	"  written_at INTEGER NOT NULL,"
	"  n_docs INTEGER NOT NULL,"
	"  partial INTEGER NOT NULL DEFAULT 0,"
	"  part INTEGER NOT NULL DEFAULT 0,"
	"  covered_from INTEGER NOT NULL DEFAULT 0,"
	"  covered_to INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (site, time_slot, part)"
	");"
	"INSERT INTO slots3(seq, site, time_slot, closed_at, written_at, n_docs, partial, part,"
	"  covered_from, covered_to) "
	"SELECT seq, site, time_slot, closed_at, written_at, n_docs, partial, 0,"
	"  time_slot * 300, time_slot * 300 + 300 FROM slots;"
	"DELETE FROM sqlite_sequence WHERE name = 'slots3';"
	"INSERT INTO sqlite_sequence(name, seq) SELECT 'slots3', seq FROM sqlite_sequence "
	"  WHERE name = 'slots';"
	"DROP TABLE slots;"
	"ALTER TABLE slots3 RENAME TO slots;"
	"CREATE INDEX slots_time_slot ON slots(time_slot);"
	"CREATE TABLE documents3 ("
	"  time_slot INTEGER NOT NULL,"
	"  site TEXT NOT NULL,"
	"  part INTEGER NOT NULL DEFAULT 0,"
	"  kind TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  labelled INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (time_slot, site, part, kind, key)"
	") WITHOUT ROWID;"
	"INSERT INTO documents3(time_slot, site, part, kind, key, doc, labelled) "
	"SELECT time_slot, site, 0, kind, key, doc, labelled FROM documents;"
	"DROP TABLE documents;"
	"ALTER TABLE documents3 RENAME TO documents;"
	"CREATE INDEX documents_labelled ON documents(time_slot, site) WHERE labelled = 1;"
	"CREATE INDEX documents_key ON documents(key, time_slot);",
	/*
	 * 3 -> 4: digests, one binary summary per slot part that the daily
	 * analysis reads instead of the part's documents (docs/internals/
	 * digest.md). Slots stored before have none: the analysis reads their
	 * documents. WITHOUT ROWID: one b-tree (the blobs go to overflow
	 * pages either way), so an empty file grows by one page, not two.
	 */
	"CREATE TABLE digests ("
	"  time_slot INTEGER NOT NULL,"
	"  site TEXT NOT NULL,"
	"  part INTEGER NOT NULL DEFAULT 0,"
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY (time_slot, site, part)"
	") WITHOUT ROWID;",
};

/*
 * The schema a new file gets: what the migrations above make of an empty
 * file, written out (docs/internals/store.md "Schema"). Change it together
 * with a new migration.
 */
static const char store_schema_current[] =
	"CREATE TABLE meta ("
	"  name TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE slots ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  site TEXT NOT NULL,"
	"  time_slot INTEGER NOT NULL,"
	"  closed_at INTEGER NOT NULL,"
	"  written_at INTEGER NOT NULL,"
	"  n_docs INTEGER NOT NULL,"
	"  partial INTEGER NOT NULL DEFAULT 0,"
	"  part INTEGER NOT NULL DEFAULT 0,"
	"  covered_from INTEGER NOT NULL DEFAULT 0,"
	"  covered_to INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (site, time_slot, part)"
	");"
	"CREATE INDEX slots_time_slot ON slots(time_slot);"
	"CREATE TABLE documents ("
	"  time_slot INTEGER NOT NULL,"
	"  site TEXT NOT NULL,"
	"  part INTEGER NOT NULL DEFAULT 0,"
	"  kind TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  labelled INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (time_slot, site, part, kind, key)"
	") WITHOUT ROWID;"
	"CREATE INDEX documents_labelled ON documents(time_slot, site) WHERE labelled = 1;"
	"CREATE INDEX documents_key ON documents(key, time_slot);"
	"CREATE TABLE cursors ("
	"  name TEXT PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  dropped_slots INTEGER NOT NULL DEFAULT 0,"
	"  dropped_docs INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE TABLE counters ("
	"  name TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE digests ("
	"  time_slot INTEGER NOT NULL,"
	"  site TEXT NOT NULL,"
	"  part INTEGER NOT NULL DEFAULT 0,"
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY (time_slot, site, part)"
	") WITHOUT ROWID;"
	"INSERT INTO meta(name, value) VALUES ('schema_version', '0');";

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct store_opts opts;
	int64_t schema; /* the file's schema version (below the current one: read_schema3) */
	bool in_callback; /* inside store_doc_foreach's fn: refuse re-entry */
	uint64_t slots_written;
	uint64_t docs_written;
	uint64_t docs_duplicate;
	uint32_t last_part; /* the part the last store_slot_write() stored */
	char err[STORE_ERR_MAX];
	char path[]; /* as given to store_open() */
};

void store_opts_defaults(struct store_opts *o)
{
	o->retention_days = 30;
	o->busy_timeout_ms = 5000;
	o->cache_kib = 16384;
	o->read_only = false;
	o->read_schema3 = false;
}

/* Map a SQLite result code to a negative errno. */
static int store_errno(sqlite3 *db, int rc)
{
	int sys = db ? sqlite3_system_errno(db) : 0;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_NOTADB:
		return -EINVAL;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
		return sys > 0 ? -sys : -EIO;
	default:
		return -EIO;
	}
}

static void store_msg_v(char *buf, size_t len, const char *path, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void store_msg_v(char *buf, size_t len, const char *path, const char *fmt, va_list ap)
{
	int k;

	if (!buf || len == 0)
		return;
	k = snprintf(buf, len, "store %s: ", path);
	if (k < 0 || (size_t)k >= len)
		return; /* truncated: the path alone fills the buffer */
	vsnprintf(buf + k, len - (size_t)k, fmt, ap);
}

/* Record a message on s and return code. */
static int store_fail(struct store *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int store_fail(struct store *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	store_msg_v(s->err, sizeof(s->err), s->path, fmt, ap);
	va_end(ap);
	return code;
}

/* Record "what: sqlite3_errmsg" and return the mapped errno. */
static int store_fail_sql(struct store *s, int rc, const char *what)
{
	int code = store_errno(s->db, rc);
	int sys = sqlite3_system_errno(s->db);

	if (code == 0)
		code = -EIO; /* a caller treats rc as failure: never report success */
	if (sys > 0 && ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR))
		return store_fail(s, code, "%s: %s (%s)", what, sqlite3_errmsg(s->db),
				  strerror(sys));
	return store_fail(s, code, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* Step a statement that returns no rows, then reset it; bindings stay. */
static int store_exec(struct store *s, enum store_stmt k, const char *what)
{
	sqlite3_stmt *st = s->st[k];
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail_sql(s, rc, what);
	return 0;
}

static void store_rollback(struct store *s)
{
	/* Nothing to report: the caller already has the error that led here. */
	if (sqlite3_get_autocommit(s->db))
		return;
	if (s->st[ST_ROLLBACK]) {
		sqlite3_step(s->st[ST_ROLLBACK]);
		sqlite3_reset(s->st[ST_ROLLBACK]);
	} else {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* during open */
	}
}

static int64_t store_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* Run one SQL string (possibly several statements), for open and migrations only. */
static int store_exec_sql(struct store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_fail_sql(s, rc, what);
	return 0;
}

/* Integer result of a one-row query (a PRAGMA or a count). */
static int store_query_int(struct store *s, const char *sql, int64_t *v, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return store_fail_sql(s, rc, what);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*v = 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		int e = store_fail_sql(s, rc, what);
		sqlite3_finalize(st);
		return e;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Create the parent directory of path if missing; one level only. */
static int store_mkdir_parent(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	size_t n;

	if (!slash || slash == path)
		return 0; /* current directory or "/": exists */
	n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (mkdir(dir, 0750) == 0 || errno == EEXIST)
		return 0;
	{
		int e = errno;
		if (err && errlen)
			snprintf(err, errlen, "store %s: cannot create directory %s: %s", path, dir,
				 strerror(e));
		return -e;
	}
}

/*
 * After open or the first statements failed: is the file or its directory
 * not writable? SQLite falls back to opening read-only when it cannot
 * create the file, and then reports the fallback's ENOENT, which hides the
 * real cause (EACCES, EROFS). The store needs to create the file and its
 * -wal and -shm beside it, so the directory must be writable too. Writes
 * the cause to s->err and returns -errno, or 0 when both are writable.
 */
static int store_diagnose_access(struct store *s)
{
	const char *slash = strrchr(s->path, '/');
	char dir[PATH_MAX];
	int e;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == s->path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - s->path), s->path);
	struct stat st;
	/* Not there, or not a directory: SQLite's own message already says so. */
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (access(dir, W_OK | X_OK) != 0) {
		e = errno;
		return store_fail(s, -e,
				  "directory %s is not writable (%s): the store creates its file "
				  "and the -wal and -shm files there",
				  dir, strerror(e));
	}
	if (access(s->path, F_OK) == 0 && access(s->path, R_OK | W_OK) != 0) {
		e = errno;
		return store_fail(s, -e, "the file is not writable (%s)", strerror(e));
	}
	return 0;
}

/* Create or migrate the schema in one write transaction. */
static int store_migrate(struct store *s)
{
	int64_t app = 0, tables = 0, has_meta = 0, ver = 0;
	char sql[128];
	int rc;

	/* IMMEDIATE: two processes opening a new file must not both create it. */
	rc = store_exec_sql(s, s->opts.read_only ? "BEGIN" : "BEGIN IMMEDIATE",
			    "begin schema transaction");
	if (rc)
		return rc;
	if ((rc = store_query_int(s, "PRAGMA application_id", &app, "read application_id")) ||
	    (rc = store_query_int(s, "SELECT count(*) FROM sqlite_schema", &tables,
				  "read schema")) ||
	    (rc = store_query_int(s,
				  "SELECT count(*) FROM sqlite_schema "
				  "WHERE type = 'table' AND name = 'meta'",
				  &has_meta, "read schema")))
		goto fail;
	if (app != 0 && app != STORE_APPLICATION_ID) {
		rc = store_fail(s, -EINVAL,
				"not an nfsentry store (SQLite application_id 0x%08llx)",
				(unsigned long long)app);
		goto fail;
	}
	if (has_meta) {
		rc = store_query_int(s,
				     "SELECT CAST(value AS INTEGER) FROM meta "
				     "WHERE name = 'schema_version'",
				     &ver, "read schema_version");
		if (rc)
			goto fail;
	} else if (tables > 0) {
		rc = store_fail(s, -EINVAL,
				"not an nfsentry store (it has tables but no meta table)");
		goto fail;
	}
	if (ver > STORE_SCHEMA_VERSION) {
		rc = store_fail(s, -EPROTONOSUPPORT,
				"schema version %lld is newer than this nfsentry supports (%d); "
				"run a newer nfsentry or point store.path at another file",
				(long long)ver, STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (ver < 0 || (has_meta && ver == 0)) {
		rc = store_fail(s, -EINVAL, "bad schema_version %lld in meta", (long long)ver);
		goto fail;
	}
	s->schema = STORE_SCHEMA_VERSION; /* what the file has once this returns 0 */
	if (s->opts.read_only && s->opts.read_schema3 && ver == 3)
		s->schema = 3; /* read as it is */
	if (ver == STORE_SCHEMA_VERSION || s->schema == 3) {
		store_rollback(s); /* nothing written: end the read transaction */
		return 0;
	}
	if (s->opts.read_only) {
		rc = has_meta ? store_fail(s, -EPROTONOSUPPORT,
					   "schema version %lld is older than this nfsentry reads "
					   "(%d); open it read-write once (nfsentry run or replay) "
					   "to upgrade it",
					   (long long)ver, STORE_SCHEMA_VERSION)
			      : store_fail(s, -EINVAL, "not an nfsentry store (no tables)");
		goto fail;
	}
	/*
	 * A new file gets the current schema at once: running every migration
	 * would make tables only to copy and drop them, pages a nearly full
	 * filesystem may not have.
	 */
	if (!has_meta && (rc = store_exec_sql(s, store_schema_current, "create schema")))
		goto fail;
	for (int64_t v = has_meta ? ver : STORE_SCHEMA_VERSION; v < STORE_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "migrate schema %lld to %lld", (long long)v,
			 (long long)v + 1);
		if ((rc = store_exec_sql(s, store_migration[v], sql)))
			goto fail;
	}
	snprintf(sql, sizeof(sql),
		 "UPDATE meta SET value = '%d' WHERE name = 'schema_version';"
		 "PRAGMA application_id = %d",
		 STORE_SCHEMA_VERSION, STORE_APPLICATION_ID);
	if ((rc = store_exec_sql(s, sql, "record schema_version")))
		goto fail;
	if ((rc = store_exec_sql(s, "COMMIT", "commit schema")))
		goto fail;
	return 0;
fail:
	store_rollback(s);
	return rc;
}

/* Connection settings; run before the schema so WAL covers the migration. */
static int store_configure(struct store *s)
{
	char sql[160];
	sqlite3_stmt *st = NULL;
	int rc;
	bool wal;

	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, (int)s->opts.busy_timeout_ms);
	/*
	 * A reader takes the file as the writer made it: page size and WAL mode
	 * are the writer's to set (and cannot be set read-only).
	 */
	if (s->opts.read_only) {
		snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%u", s->opts.cache_kib);
		return store_exec_sql(s, sql, "set pragmas");
	}
	/*
	 * page_size only takes effect on an empty file and not once it is in
	 * WAL mode, so it goes first; on an existing file it is a no-op.
	 */
	snprintf(sql, sizeof(sql), "PRAGMA page_size = %d", STORE_PAGE_SIZE);
	if ((rc = store_exec_sql(s, sql, "set page_size")))
		return rc;
	/* The first statement is where a non-database file shows itself. */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int e = store_fail_sql(s, rc, "set journal_mode=WAL");
		sqlite3_finalize(st);
		return e;
	}
	wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	if (!wal)
		/* e.g. a filesystem without shared memory (NFS): readers would block the writer. */
		return store_fail(s, -ENOTSUP, "WAL journal mode not available on this filesystem");
	snprintf(sql, sizeof(sql),
		 "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -%u;"
		 "PRAGMA journal_size_limit = %d",
		 s->opts.cache_kib, STORE_WAL_LIMIT_BYTES);
	return store_exec_sql(s, sql, "set pragmas");
}

/*
 * Does this stored document carry a label? True for an inside, outside or
 * offender document whose top-level "labels" array is not empty. A scan for
 * the key rather than a JSON parse: the doc module writes compact JSON and
 * "labels" only as a top-level key (docs/documents.md), and inside a JSON
 * string a quote is escaped, so the bytes "labels": cannot occur there.
 */
static bool store_doc_labelled(const char *kind, const char *json, size_t len)
{
	static const char key[] = "\"labels\":";
	const char *p, *end = json + len;

	if (!kind || !json ||
	    (strcmp(kind, "inside") != 0 && strcmp(kind, "outside") != 0 &&
	     strcmp(kind, "offender") != 0))
		return false;
	p = memmem(json, len, key, sizeof(key) - 1);
	if (!p)
		return false;
	p += sizeof(key) - 1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p >= end || *p++ != '[')
		return false;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p < end && *p != ']';
}

/* SQL nfs_labelled(kind, doc): store_doc_labelled() for the insert and the 1 -> 2 migration. */
static void store_sql_labelled(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *kind = (const char *)sqlite3_value_text(argv[0]);
	const char *doc = (const char *)sqlite3_value_text(argv[1]);
	int len = sqlite3_value_bytes(argv[1]);

	(void)argc;
	sqlite3_result_int(ctx, store_doc_labelled(kind, doc, len > 0 ? (size_t)len : 0));
}

static int store_functions_add(struct store *s)
{
	int rc = sqlite3_create_function_v2(s->db, "nfs_labelled", 2,
					    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
					    NULL, store_sql_labelled, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_fail_sql(s, rc, "register nfs_labelled()");
	return 0;
}

int store_open(const char *path, const struct store_opts *opts, struct store **out, char *err,
               size_t errlen)
{
	struct store *s;
	size_t plen;
	int rc;

	if (out)
		*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!path || !out || path[0] == '\0') {
		if (err && errlen)
			snprintf(err, errlen, "store: no path given");
		return -EINVAL;
	}
	plen = strlen(path);
	if (plen >= PATH_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "store: path longer than %d bytes", PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	s = calloc(1, sizeof(*s) + plen + 1);
	if (!s) {
		if (err && errlen)
			snprintf(err, errlen, "store %s: out of memory", path);
		return -ENOMEM;
	}
	memcpy(s->path, path, plen + 1);
	if (opts)
		s->opts = *opts;
	else
		store_opts_defaults(&s->opts);
	if (s->opts.retention_days > STORE_RETENTION_MAX_DAYS || s->opts.busy_timeout_ms > INT_MAX ||
	    s->opts.cache_kib == 0 || s->opts.cache_kib > INT_MAX / 2) {
		rc = store_fail(s, -EINVAL,
				"bad options: retention_days %u (max %d), busy_timeout_ms %u, "
				"cache_kib %u (1..%d)",
				s->opts.retention_days, STORE_RETENTION_MAX_DAYS,
				s->opts.busy_timeout_ms, s->opts.cache_kib, INT_MAX / 2);
		goto fail;
	}
	rc = s->opts.read_only ? 0 : store_mkdir_parent(path, err, errlen);
	if (rc) {
		free(s);
		return rc;
	}
	/*
	 * NOMUTEX: one connection per thread is the contract (store.h), so
	 * SQLite's per-connection mutex is pure overhead.
	 */
	rc = sqlite3_open_v2(path, &s->db,
			     (s->opts.read_only ? SQLITE_OPEN_READONLY
						: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		if (!s->db) {
			rc = store_fail(s, -ENOMEM, "open: out of memory");
			goto fail;
		}
		rc = store_fail_sql(s, rc, "open");
		int acc = store_diagnose_access(s);
		rc = acc ? acc : rc;
		goto fail;
	}
	if ((rc = store_configure(s))) {
		int acc = store_diagnose_access(s);
		rc = acc ? acc : rc;
		goto fail;
	}
	if ((rc = store_functions_add(s)) || (rc = store_migrate(s)))
		goto fail;
	for (int k = 0; k < ST_COUNT; k++) {
		const char *sql = store_sql[k];
		/*
		 * A schema-3 file (read_schema3, read-only) has no digests table:
		 * its statements become ones that find nothing and change nothing
		 * (the same parameters), so store_digest_get() answers -ENOENT.
		 */
		if (s->schema < 4 && (k == ST_DIGEST_INSERT || k == ST_DIGEST_DELETE_SLOT ||
				      k == ST_DIGEST_GET || k == ST_RET_DIGESTS))
			sql = store_sql_schema3[k];
		int r = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[k],
					   NULL);
		if (r != SQLITE_OK) {
			rc = store_fail_sql(s, r, "prepare statement");
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	if (err && errlen)
		snprintf(err, errlen, "%s", s->err);
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (int k = 0; k < ST_COUNT; k++)
		sqlite3_finalize(s->st[k]);
	/* close_v2: never leaves the handle open because of a statement we forgot. */
	if (s->db)
		sqlite3_close_v2(s->db);
	free(s);
}

const char *store_error_get(const struct store *s)
{
	return s ? s->err : "";
}

/* Common entry check: clear the message, refuse use from inside a callback. */
static int store_enter(struct store *s)
{
	s->err[0] = '\0';
	if (s->in_callback)
		return store_fail(s, -EBUSY, "called from inside a store_doc_foreach callback");
	return 0;
}

/* Is str non-NULL, and shorter than max bytes (NUL included)? Empty allowed if allow_empty. */
static bool store_str_ok(const char *str, size_t max, bool allow_empty)
{
	size_t n;

	if (!str)
		return false;
	n = strnlen(str, max);
	return n < max && (allow_empty || n > 0);
}

/* Bytewise (kind, key) order, the same as SQLite's BINARY collation on UTF-8 text. */
static int store_doc_cmp(const struct store_doc *a, const struct store_doc *b)
{
	int c = strcmp(a->kind, b->kind);

	return c ? c : strcmp(a->key, b->key);
}

/* (kind, key), then input order: of equal keys the first given sorts first. */
static int store_idx_cmp(const void *pa, const void *pb, void *base)
{
	const struct store_doc *docs = base;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	int c = store_doc_cmp(&docs[a], &docs[b]);

	return c ? c : (a > b) - (a < b);
}

/* What store_batch_check found besides the order. */
struct store_batch {
	uint32_t *order; /* insertion order, duplicates left out; NULL: as given */
	size_t n;        /* documents to insert */
	size_t dup;      /* documents left out: a (kind, key) given before */
	const struct store_doc *first_dup;
};

/*
 * Check the batch and produce the insertion order. Inserting in primary-key
 * order makes every leaf page fill once, at the right edge of the b-tree;
 * random order splits pages all over the slot's range and was measured 2-4x
 * slower (docs/internals/store.md). Sorting also puts duplicates side by
 * side: of documents with one (kind, key) the first given is kept and the
 * others are left out of the order and counted in bt->dup (the primary key
 * would refuse them, and with them the whole transaction). bt->order is
 * NULL when the input is already in strict order.
 */
static int store_batch_check(struct store *s, const char *site, int64_t time_slot,
			     const struct store_doc *docs, size_t n, struct store_batch *bt)
{
	bool sorted = true;
	uint32_t *idx;

	memset(bt, 0, sizeof(*bt));
	bt->n = n;
	if (!store_str_ok(site, STORE_SITE_MAX, false))
		return store_fail(s, -EINVAL, "site name missing, empty or over %d bytes",
				  STORE_SITE_MAX - 1);
	if (time_slot < 0)
		return store_fail(s, -EINVAL, "site %s: negative time_slot %lld", site,
				  (long long)time_slot);
	if (n > 0 && !docs)
		return store_fail(s, -EINVAL, "site %s slot %lld: %zu documents but no array",
				  site, (long long)time_slot, n);
	if (n > UINT32_MAX)
		return store_fail(s, -E2BIG, "site %s slot %lld: %zu documents (max %u)", site,
				  (long long)time_slot, n, UINT32_MAX);
	for (size_t i = 0; i < n; i++) {
		const struct store_doc *d = &docs[i];
		if (!store_str_ok(d->kind, STORE_KIND_MAX, false) ||
		    !store_str_ok(d->key, STORE_KEY_MAX, true) || !d->json)
			return store_fail(s, -EINVAL,
					  "site %s slot %lld: document %zu: kind or key missing, "
					  "empty kind or over %d/%d bytes, or no json",
					  site, (long long)time_slot, i, STORE_KIND_MAX - 1,
					  STORE_KEY_MAX - 1);
		if (d->json_len > STORE_DOC_MAX_BYTES)
			return store_fail(s, -E2BIG,
					  "site %s slot %lld: document %zu (%s %s): %zu bytes "
					  "(max %d)",
					  site, (long long)time_slot, i, d->kind, d->key,
					  d->json_len, STORE_DOC_MAX_BYTES);
		if (i > 0 && sorted && store_doc_cmp(&docs[i - 1], d) >= 0)
			sorted = false;
	}
	if (sorted)
		return 0;
	idx = malloc(n * sizeof(*idx));
	if (!idx)
		return store_fail(s, -ENOMEM, "site %s slot %lld: out of memory sorting %zu documents",
				  site, (long long)time_slot, n);
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	/* qsort_r (glibc): the array travels as the user pointer, no file-scope state. */
	qsort_r(idx, n, sizeof(*idx), store_idx_cmp, (void *)docs);
	size_t kept = n ? 1 : 0;
	for (size_t i = 1; i < n; i++) {
		const struct store_doc *a = &docs[idx[kept - 1]], *b = &docs[idx[i]];
		if (store_doc_cmp(a, b) == 0) {
			if (!bt->dup++)
				bt->first_dup = b;
			continue;
		}
		idx[kept++] = idx[i];
	}
	bt->order = idx;
	bt->n = kept;
	return 0;
}

int store_slot_write(struct store *s, const char *site, int64_t time_slot,
                     const struct store_doc *docs, size_t n, const struct store_slot_info *info)
{
	return store_slot_write_digest(s, site, time_slot, docs, n, info, NULL, 0);
}

int store_slot_write_digest(struct store *s, const char *site, int64_t time_slot,
                            const struct store_doc *docs, size_t n,
                            const struct store_slot_info *info, const void *digest,
                            size_t digest_len)
{
	sqlite3_stmt *ins, *sl;
	struct store_batch bt;
	uint32_t *order = NULL;
	int64_t now = store_now_s();
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (digest && (digest_len == 0 || digest_len > STORE_DIGEST_MAX_BYTES))
		return store_fail(s, -E2BIG, "site %s slot %lld: digest of %zu bytes", site ? site : "",
				  (long long)time_slot, digest_len);
	if ((rc = store_batch_check(s, site, time_slot, docs, n, &bt)))
		return rc;
	order = bt.order;
	if ((rc = store_exec(s, ST_BEGIN, "begin slot transaction")))
		goto out;

	/*
	 * The part rule (docs/store.md "Partial slots and parts"): the write
	 * replaces what the slot holds only when it covers at least the time
	 * every stored part covers; otherwise it is stored beside them as the
	 * next part and nothing is replaced.
	 */
	int64_t from = time_slot * STORE_SLOT_SECONDS, to = from + STORE_SLOT_SECONDS;
	if (info && info->partial) {
		from = info->covered_from_s;
		to = info->covered_to_s;
	}
	int64_t part = 0;
	bool replace = true;
	sqlite3_stmt *pq = s->st[ST_PARTS];
	sqlite3_bind_text(pq, 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(pq, 2, time_slot);
	while ((rc = sqlite3_step(pq)) == SQLITE_ROW) {
		int64_t p = sqlite3_column_int64(pq, 0);
		if (sqlite3_column_int64(pq, 1) < from || sqlite3_column_int64(pq, 2) > to)
			replace = false;
		if (p + 1 > part)
			part = p + 1;
	}
	sqlite3_reset(pq);
	sqlite3_clear_bindings(pq);
	if (rc != SQLITE_DONE) {
		rc = store_fail_sql(s, rc, "read the slot's parts");
		goto fail;
	}
	if (replace)
		part = 0;

	sqlite3_bind_int64(s->st[ST_DOC_DELETE_SLOT], 1, time_slot);
	sqlite3_bind_text(s->st[ST_DOC_DELETE_SLOT], 2, site, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->st[ST_SLOT_DELETE], 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->st[ST_SLOT_DELETE], 2, time_slot);
	sqlite3_bind_int64(s->st[ST_DIGEST_DELETE_SLOT], 1, time_slot);
	sqlite3_bind_text(s->st[ST_DIGEST_DELETE_SLOT], 2, site, -1, SQLITE_STATIC);
	if (replace &&
	    ((rc = store_exec(s, ST_DOC_DELETE_SLOT, "delete previous documents of slot")) ||
	     (rc = store_exec(s, ST_SLOT_DELETE, "delete previous slot row")) ||
	     (rc = store_exec(s, ST_DIGEST_DELETE_SLOT, "delete previous digests of slot"))))
		goto fail;
	if (digest) {
		sqlite3_stmt *dg = s->st[ST_DIGEST_INSERT];
		sqlite3_bind_int64(dg, 1, time_slot);
		sqlite3_bind_text(dg, 2, site, -1, SQLITE_STATIC);
		sqlite3_bind_int64(dg, 3, part);
		sqlite3_bind_blob(dg, 4, digest, (int)digest_len, SQLITE_STATIC);
		if ((rc = store_exec(s, ST_DIGEST_INSERT, "insert the slot's digest")))
			goto fail;
	}

	/* Site and slot are the same for every row: bound once, kept across resets. */
	ins = s->st[ST_DOC_INSERT];
	sqlite3_bind_int64(ins, 1, time_slot);
	sqlite3_bind_text(ins, 2, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 6, part);
	for (size_t i = 0; i < bt.n; i++) {
		const struct store_doc *d = &docs[order ? order[i] : i];
		sqlite3_bind_text(ins, 3, d->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, d->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 5, d->json, (int)d->json_len, SQLITE_STATIC);
		rc = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (rc != SQLITE_DONE) {
			char what[STORE_KIND_MAX + STORE_KEY_MAX + 96];
			snprintf(what, sizeof(what), "site %s slot %lld: insert %s \"%s\"", site,
				 (long long)time_slot, d->kind, d->key);
			rc = store_fail_sql(s, rc, what);
			goto fail;
		}
	}

	sl = s->st[ST_SLOT_INSERT];
	sqlite3_bind_text(sl, 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sl, 2, time_slot);
	sqlite3_bind_int64(sl, 3, info ? info->closed_at_s : now);
	sqlite3_bind_int64(sl, 4, now);
	sqlite3_bind_int64(sl, 5, (int64_t)bt.n);
	sqlite3_bind_int(sl, 6, info && info->partial);
	sqlite3_bind_int64(sl, 7, part);
	sqlite3_bind_int64(sl, 8, from);
	sqlite3_bind_int64(sl, 9, to);
	if ((rc = store_exec(s, ST_SLOT_INSERT, "insert slot row")) ||
	    (rc = store_exec(s, ST_COMMIT, "commit slot")))
		goto fail;
	s->slots_written++;
	s->docs_written += bt.n;
	s->last_part = (uint32_t)part;
	if (bt.dup) {
		/* Stored without them: an error all the same, never a silent loss. */
		s->docs_duplicate += bt.dup;
		rc = store_fail(s, -EEXIST,
				"site %s slot %lld: %zu documents not stored (duplicate kind and "
				"key; first: kind %s key \"%s\"); %zu stored",
				site, (long long)time_slot, bt.dup, bt.first_dup->kind,
				bt.first_dup->key, bt.n);
	}
	goto out;
fail:
	store_rollback(s);
out:
	/* Drop borrowed pointers so no statement refers to caller memory after return. */
	sqlite3_clear_bindings(s->st[ST_DOC_INSERT]);
	sqlite3_clear_bindings(s->st[ST_DOC_DELETE_SLOT]);
	sqlite3_clear_bindings(s->st[ST_SLOT_DELETE]);
	sqlite3_clear_bindings(s->st[ST_SLOT_INSERT]);
	sqlite3_clear_bindings(s->st[ST_DIGEST_DELETE_SLOT]);
	sqlite3_clear_bindings(s->st[ST_DIGEST_INSERT]);
	free(order);
	return rc;
}

/* Read "count, sum" from a prepared statement bound with the cutoff. */
static int store_count_pair(struct store *s, enum store_stmt k, int64_t cutoff, int64_t *a,
			    int64_t *b)
{
	sqlite3_stmt *st = s->st[k];
	int rc;

	sqlite3_bind_int64(st, 1, cutoff);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*a = sqlite3_column_int64(st, 0);
		*b = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return store_fail_sql(s, rc, "count slots for retention");
	return 0;
}

static int store_counter_add(struct store *s, const char *name, int64_t v)
{
	sqlite3_bind_text(s->st[ST_COUNTER_ADD], 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->st[ST_COUNTER_ADD], 2, v);
	return store_exec(s, ST_COUNTER_ADD, "update retention counters");
}

int store_retention_apply(struct store *s, int64_t now_s, uint64_t *deleted_slots)
{
	int64_t cutoff_s, cutoff_slot, n_slots = 0, n_docs = 0, u_slots = 0, u_docs = 0;
	int rc;

	if (deleted_slots)
		*deleted_slots = 0;
	if ((rc = store_enter(s)))
		return rc;
	if (s->opts.retention_days == 0)
		return 0;
	if (now_s < 0 || __builtin_sub_overflow(now_s, (int64_t)s->opts.retention_days * 86400,
						&cutoff_s))
		return store_fail(s, -EINVAL, "retention: bad clock %lld", (long long)now_s);
	if (cutoff_s <= 0)
		return 0; /* clock earlier than the retention period: nothing can be old */
	/* Slot k ends at 300k + 300; it is old once that end is <= cutoff_s. */
	cutoff_slot = cutoff_s / STORE_SLOT_SECONDS;

	if ((rc = store_exec(s, ST_BEGIN, "begin retention transaction")))
		return rc;
	if ((rc = store_count_pair(s, ST_RET_TOTAL, cutoff_slot, &n_slots, &n_docs)))
		goto fail;
	if (n_slots == 0) {
		store_rollback(s);
		return 0;
	}
	if ((rc = store_count_pair(s, ST_RET_UNSHIPPED, cutoff_slot, &u_slots, &u_docs)))
		goto fail;
	sqlite3_bind_int64(s->st[ST_RET_CURSORS], 1, cutoff_slot);
	sqlite3_bind_int64(s->st[ST_RET_DOCS], 1, cutoff_slot);
	sqlite3_bind_int64(s->st[ST_RET_SLOTS], 1, cutoff_slot);
	sqlite3_bind_int64(s->st[ST_RET_DIGESTS], 1, cutoff_slot);
	if ((rc = store_exec(s, ST_RET_CURSORS, "charge cursors with dropped slots")) ||
	    (rc = store_exec(s, ST_RET_DOCS, "delete old documents")) ||
	    (rc = store_exec(s, ST_RET_DIGESTS, "delete old digests")) ||
	    (rc = store_exec(s, ST_RET_SLOTS, "delete old slots")) ||
	    (rc = store_counter_add(s, "retention_slots_deleted", n_slots)) ||
	    (rc = store_counter_add(s, "retention_docs_deleted", n_docs)) ||
	    (rc = store_counter_add(s, "retention_unshipped_slots", u_slots)) ||
	    (rc = store_counter_add(s, "retention_unshipped_docs", u_docs)) ||
	    (rc = store_exec(s, ST_COMMIT, "commit retention")))
		goto fail;
	if (deleted_slots)
		*deleted_slots = (uint64_t)n_slots;
	return 0;
fail:
	store_rollback(s);
	return rc;
}

int store_slot_list(struct store *s, int64_t after_seq, struct store_slot *out, size_t max,
                    size_t *n_out)
{
	sqlite3_stmt *st = s->st[ST_SLOT_LIST];
	size_t n = 0;
	int rc;

	if (n_out)
		*n_out = 0;
	if ((rc = store_enter(s)))
		return rc;
	if (!n_out || (max > 0 && !out))
		return store_fail(s, -EINVAL, "slot list: no output array");
	if (max == 0)
		return 0;
	sqlite3_bind_int64(st, 1, after_seq);
	sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_slot *o = &out[n++];
		const char *site = (const char *)sqlite3_column_text(st, 1);
		o->seq = sqlite3_column_int64(st, 0);
		snprintf(o->site, sizeof(o->site), "%s", site ? site : "");
		o->time_slot = sqlite3_column_int64(st, 2);
		o->closed_at_s = sqlite3_column_int64(st, 3);
		o->written_at_s = sqlite3_column_int64(st, 4);
		o->n_docs = (uint64_t)sqlite3_column_int64(st, 5);
		o->partial = sqlite3_column_int(st, 6) != 0;
	o->part = (uint32_t)sqlite3_column_int64(st, 7);
	o->covered_from_s = sqlite3_column_int64(st, 8);
	o->covered_to_s = sqlite3_column_int64(st, 9);
		o->part = (uint32_t)sqlite3_column_int64(st, 7);
		o->covered_from_s = sqlite3_column_int64(st, 8);
		o->covered_to_s = sqlite3_column_int64(st, 9);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail_sql(s, rc, "list slots");
	*n_out = n;
	return 0;
}

static int store_walk(struct store *s, sqlite3_stmt *st,
		      int (*fn)(void *ud, const struct store_doc *d), void *ud, const char *what);

int store_doc_foreach(struct store *s, const char *site, int64_t time_slot, const char *kind,
                      int (*fn)(void *ud, const struct store_doc *d), void *ud)
{
	return store_part_doc_foreach(s, site, time_slot, 0, kind, fn, ud);
}

int store_part_doc_foreach(struct store *s, const char *site, int64_t time_slot, uint32_t part,
                           const char *kind, int (*fn)(void *ud, const struct store_doc *d),
                           void *ud)
{
	sqlite3_stmt *st = s->st[kind ? ST_DOC_KIND : ST_DOC_ALL];
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!fn || !site)
		return store_fail(s, -EINVAL, "document walk: no site or callback");
	sqlite3_bind_int64(st, 1, time_slot);
	sqlite3_bind_text(st, 2, site, -1, SQLITE_STATIC);
	if (kind)
		sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, part);
	return store_walk(s, st, fn, ud, "read documents");
}

int store_cursor_get(struct store *s, const char *name, int64_t *seq)
{
	sqlite3_stmt *st = s->st[ST_CURSOR_GET];
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!name || !seq)
		return store_fail(s, -EINVAL, "cursor get: no name or output");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return store_fail(s, -ENOENT, "no cursor named \"%s\"", name);
	if (rc != SQLITE_ROW)
		return store_fail_sql(s, rc, "read cursor");
	return 0;
}

int store_cursor_set(struct store *s, const char *name, int64_t seq)
{
	sqlite3_stmt *st = s->st[ST_CURSOR_SET];
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!name || name[0] == '\0' || seq < 0)
		return store_fail(s, -EINVAL, "cursor set: empty name or negative seq %lld",
				  (long long)seq);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, store_now_s());
	rc = store_exec(s, ST_CURSOR_SET, "write cursor");
	sqlite3_clear_bindings(st);
	return rc;
}

int store_slot_latest(struct store *s, const char *site, int64_t *time_slot)
{
	sqlite3_stmt *st = s->st[ST_SLOT_LATEST];
	bool found = false;
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!site || !time_slot)
		return store_fail(s, -EINVAL, "latest slot: no site or output");
	sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	/* max() over no rows is one NULL row. */
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*time_slot = sqlite3_column_int64(st, 0);
		found = true;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW)
		return store_fail_sql(s, rc, "read latest slot");
	if (!found)
		return store_fail(s, -ENOENT, "no slot for site \"%s\"", site);
	return 0;
}

int store_stats_get(struct store *s, struct store_stats *stp)
{
	struct store_stats st = {0};
	sqlite3_stmt *q;
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!stp)
		return store_fail(s, -EINVAL, "stats: no output");
	st.slots_written = s->slots_written;
	st.docs_written = s->docs_written;
	st.docs_duplicate = s->docs_duplicate;
	/* Both reads in one snapshot, so stored and counters agree. */
	if ((rc = store_exec_sql(s, "BEGIN", "begin stats read")))
		return rc;
	q = s->st[ST_STORED];
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		st.slots_stored = (uint64_t)sqlite3_column_int64(q, 0);
		st.docs_stored = (uint64_t)sqlite3_column_int64(q, 1);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW) {
		rc = store_fail_sql(s, rc, "count stored slots");
		goto out;
	}
	q = s->st[ST_COUNTER_GET];
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		uint64_t v = (uint64_t)sqlite3_column_int64(q, 1);
		if (!name)
			continue;
		if (strcmp(name, "retention_slots_deleted") == 0)
			st.retention_slots_deleted = v;
		else if (strcmp(name, "retention_docs_deleted") == 0)
			st.retention_docs_deleted = v;
		else if (strcmp(name, "retention_unshipped_slots") == 0)
			st.retention_unshipped_slots = v;
		else if (strcmp(name, "retention_unshipped_docs") == 0)
			st.retention_unshipped_docs = v;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		rc = store_fail_sql(s, rc, "read counters");
		goto out;
	}
	rc = 0;
	*stp = st;
out:
	store_rollback(s);
	return rc;
}

/* The slot row at the statement's current result (columns as ST_SLOT_LIST). */
static void store_slot_row(sqlite3_stmt *st, struct store_slot *o)
{
	const char *site = (const char *)sqlite3_column_text(st, 1);

	o->seq = sqlite3_column_int64(st, 0);
	snprintf(o->site, sizeof(o->site), "%s", site ? site : "");
	o->time_slot = sqlite3_column_int64(st, 2);
	o->closed_at_s = sqlite3_column_int64(st, 3);
	o->written_at_s = sqlite3_column_int64(st, 4);
	o->n_docs = (uint64_t)sqlite3_column_int64(st, 5);
	o->partial = sqlite3_column_int(st, 6) != 0;
	o->part = (uint32_t)sqlite3_column_int64(st, 7);
	o->covered_from_s = sqlite3_column_int64(st, 8);
	o->covered_to_s = sqlite3_column_int64(st, 9);
}

int store_site_list(struct store *s, struct store_slot *out, size_t max, size_t *n_out)
{
	sqlite3_stmt *st = s->st[ST_SITE_LIST];
	size_t n = 0;
	int rc;

	if (n_out)
		*n_out = 0;
	if ((rc = store_enter(s)))
		return rc;
	if (!n_out || (max > 0 && !out))
		return store_fail(s, -EINVAL, "site list: no output array");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == max) {
			sqlite3_reset(st);
			*n_out = n;
			return store_fail(s, -E2BIG, "site list: more than %zu sites", max);
		}
		store_slot_row(st, &out[n++]);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail_sql(s, rc, "list sites");
	*n_out = n;
	return 0;
}

int store_slot_get(struct store *s, const char *site, int64_t time_slot, struct store_slot *out)
{
	sqlite3_stmt *st = s->st[ST_SLOT_GET];
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!site || !out)
		return store_fail(s, -EINVAL, "slot get: no site or output");
	sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, time_slot);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_slot_row(st, out);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return store_fail(s, -ENOENT, "no slot %lld for site \"%s\"", (long long)time_slot,
				  site);
	if (rc != SQLITE_ROW)
		return store_fail_sql(s, rc, "read slot");
	return 0;
}

/*
 * Step a bound statement whose columns are (kind, key, doc) and hand each
 * row to fn, as store_doc_foreach() does; resets and unbinds it after.
 */
static int store_walk(struct store *s, sqlite3_stmt *st,
		      int (*fn)(void *ud, const struct store_doc *d), void *ud, const char *what)
{
	int rc, stop = 0;

	s->in_callback = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_doc d;
		d.kind = (const char *)sqlite3_column_text(st, 0);
		d.key = (const char *)sqlite3_column_text(st, 1);
		d.json = (const char *)sqlite3_column_text(st, 2);
		d.json_len = (size_t)sqlite3_column_bytes(st, 2);
		if (!d.kind || !d.key || !d.json) {
			rc = SQLITE_NOMEM; /* text conversion is the only way these are NULL */
			break;
		}
		if ((stop = fn(ud, &d)) != 0)
			break;
	}
	s->in_callback = false;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (stop)
		return stop;
	if (rc != SQLITE_DONE)
		return store_fail_sql(s, rc, what);
	return 0;
}

int store_doc_range(struct store *s, const char *site, const char *kind, int64_t from_slot,
                    int64_t to_slot, int (*fn)(void *ud, const struct store_doc *d), void *ud)
{
	sqlite3_stmt *st = s->st[ST_RANGE_KIND];
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!site || !kind || !fn)
		return store_fail(s, -EINVAL, "document range: no site, kind or callback");
	sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, from_slot);
	sqlite3_bind_int64(st, 3, to_slot);
	sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
	return store_walk(s, st, fn, ud, "read documents of a slot range");
}

int store_digest_get(struct store *s, const char *site, int64_t time_slot,
                     int (*fn)(void *ud, const void *data, size_t len), void *ud)
{
	sqlite3_stmt *st = s->st[ST_DIGEST_GET];
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!site || !fn)
		return store_fail(s, -EINVAL, "digest: no site or callback");
	sqlite3_bind_int64(st, 1, time_slot);
	sqlite3_bind_text(st, 2, site, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		s->in_callback = true;
		rc = fn(ud, p ? p : "", len);
		s->in_callback = false;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = store_fail_sql(s, rc, "read a slot's digest");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int store_key_range(struct store *s, const char *key, int64_t from_slot, int64_t to_slot,
                    int (*fn)(void *ud, const struct store_doc *d), void *ud)
{
	sqlite3_stmt *st = s->st[ST_KEY_RANGE];
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!key || !fn)
		return store_fail(s, -EINVAL, "key range: no key or callback");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, from_slot);
	sqlite3_bind_int64(st, 3, to_slot);
	return store_walk(s, st, fn, ud, "read documents of a key");
}

int store_labelled_foreach(struct store *s, const char *site, int64_t time_slot,
                           int (*fn)(void *ud, const struct store_doc *d), void *ud)
{
	sqlite3_stmt *st = s->st[ST_LABELLED];
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!site || !fn)
		return store_fail(s, -EINVAL, "labelled documents: no site or callback");
	sqlite3_bind_int64(st, 1, time_slot);
	sqlite3_bind_text(st, 2, site, -1, SQLITE_STATIC);
	return store_walk(s, st, fn, ud, "read labelled documents");
}

int store_doc_top(struct store *s, const char *site, int64_t time_slot, const char *kind,
                  const char *field, size_t n, int (*fn)(void *ud, const struct store_doc *d),
                  void *ud)
{
	sqlite3_stmt *st = s->st[ST_TOP];
	char path[40];
	size_t flen;
	int rc;

	if ((rc = store_enter(s)))
		return rc;
	if (!site || !kind || !field || !fn)
		return store_fail(s, -EINVAL, "top documents: no site, kind, field or callback");
	flen = strnlen(field, 32);
	for (size_t i = 0; i < flen; i++) {
		if (!((field[i] >= 'a' && field[i] <= 'z') || (field[i] >= 'A' && field[i] <= 'Z')))
			flen = 0; /* a plain top-level name only: nothing SQLite's path syntax reads */
	}
	if (flen == 0 || flen >= 32)
		return store_fail(s, -EINVAL, "top documents: field must be 1..31 letters");
	snprintf(path, sizeof(path), "$.%s", field);
	sqlite3_bind_int64(st, 1, time_slot);
	sqlite3_bind_text(st, 2, site, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, n > INT64_MAX ? INT64_MAX : (int64_t)n);
	return store_walk(s, st, fn, ud, "read top documents");
}

static const struct counter_def store_counter_defs[] = {
    COUNTER_DEF(store_stats, slots_written, "storeSlotsWritten", COUNTER_TOTAL,
                "Slots written by this process."),
    COUNTER_DEF(store_stats, docs_written, "storeDocsWritten", COUNTER_TOTAL,
                "Documents in those slots."),
    COUNTER_DEF(store_stats, docs_duplicate, "storeDocsDuplicate", COUNTER_TOTAL,
                "Documents left out of a slot as a repeated (kind, key)."),
    COUNTER_DEF(store_stats, slots_stored, "storeSlotsStored", COUNTER_GAUGE,
                "Slots the store holds now."),
    COUNTER_DEF(store_stats, docs_stored, "storeDocsStored", COUNTER_GAUGE,
                "Documents the store holds now."),
    COUNTER_DEF(store_stats, retention_slots_deleted, "storeRetentionSlotsDeleted", COUNTER_TOTAL,
                "Slots removed by retention, ever."),
    COUNTER_DEF(store_stats, retention_docs_deleted, "storeRetentionDocsDeleted", COUNTER_TOTAL,
                "Documents removed by retention, ever."),
    COUNTER_DEF(store_stats, retention_unshipped_slots, "storeRetentionUnshippedSlots",
                COUNTER_TOTAL, "Slots removed by retention before every cursor passed them."),
    COUNTER_DEF(store_stats, retention_unshipped_docs, "storeRetentionUnshippedDocs", COUNTER_TOTAL,
                "Their documents: lost before being shipped."),
};
_Static_assert(sizeof(store_counter_defs) / sizeof(store_counter_defs[0]) * sizeof(uint64_t) ==
                   sizeof(struct store_stats),
               "one counter per field of struct store_stats");

const struct counter_table store_counters = COUNTER_TABLE("store", store_counter_defs, store_stats);

uint32_t store_last_part(const struct store *s)
{
	return s->last_part;
}
