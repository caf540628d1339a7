/*
 * reputation db: the offender database file (SQLite) and its readers -- the
 * `offenders` command, the block-list text. The writer's statements (the
 * escalation) are in reputation.c; the schema is here, in one place.
 * See reputation.h and docs/internals/reputation.md.
 */
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

/* Version of the schema below (meta 'schema_version'). */
#define REP_SCHEMA_VERSION 1

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS offenders("
    " ip TEXT PRIMARY KEY,"
    " first_slot INTEGER NOT NULL, last_slot INTEGER NOT NULL,"
    " offences INTEGER NOT NULL," /* distinct slots in C */
    " last_offence_slot INTEGER NOT NULL,"
    " recent INTEGER NOT NULL,"        /* blocking offence slots within memory */
    " last_bad_slot INTEGER NOT NULL," /* last slot with a blocking label */
    " strikes INTEGER NOT NULL, blocks INTEGER NOT NULL,"
    " blocked INTEGER NOT NULL, exempt INTEGER NOT NULL,"
    " blocked_until INTEGER NOT NULL,"
    " reason TEXT NOT NULL, labels TEXT NOT NULL, sites TEXT NOT NULL,"
    " history TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS offenders_blocked ON offenders(blocked, blocked_until);"
    "CREATE INDEX IF NOT EXISTS offenders_last ON offenders(last_slot);";

void rep_time_format(int64_t t_s, char *buf, size_t len)
{
	time_t t = (time_t)t_s;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t_s);
}

int rep_db_err(sqlite3 *h, int rc)
{
	(void)h;
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int reputation_db_open(const char *path, bool read_only, struct reputation_db **out, char *err,
                       size_t errlen)
{
	struct reputation_db *db = calloc(1, sizeof(*db));
	int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc;

	*out = NULL;
	if (!db) {
		snprintf(err, errlen, "reputation %s: out of memory", path);
		return -ENOMEM;
	}
	/* As the store does: its directory is created when missing (one level, 0750). */
	const char *slash = strrchr(path, '/');
	if (!read_only && slash && slash != path) {
		char dir[REPUTATION_PATH_MAX];
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
			rc = -errno;
			snprintf(err, errlen, "reputation %s: cannot create directory %s: %s", path,
			         dir, strerror(errno));
			free(db);
			return rc;
		}
	}
	rc = sqlite3_open_v2(path, &db->h, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "reputation %s: cannot open: %s", path,
		         db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		rc = rep_db_err(db->h, rc);
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	if (!read_only) {
		char *msg = NULL;
		rc = sqlite3_exec(db->h,
		                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; BEGIN;",
		                  NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db->h, schema_sql, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db->h,
			                  "INSERT OR IGNORE INTO meta VALUES('schema_version', 1);"
			                  "COMMIT;",
			                  NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "reputation %s: schema: %s", path,
			         msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			rc = rep_db_err(db->h, rc);
			goto fail;
		}
	}
	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(db->h, "SELECT value FROM meta WHERE key='schema_version'", -1, &st,
	                        NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_int64(st, 0) > REP_SCHEMA_VERSION) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "reputation %s: written by a newer nfsentry (schema %d)",
		         path, REP_SCHEMA_VERSION);
		rc = -EPROTONOSUPPORT;
		goto fail;
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "reputation %s: not a reputation database: %s", path,
		         sqlite3_errmsg(db->h));
		rc = -EINVAL;
		goto fail;
	}
	sqlite3_finalize(st);
	*out = db;
	return 0;
fail:
	sqlite3_close(db->h);
	free(db);
	return rc;
}

void reputation_db_close(struct reputation_db *db)
{
	if (!db)
		return;
	sqlite3_close(db->h);
	free(db);
}

/* Column order of every SELECT that fills a struct reputation_entry. */
#define ENTRY_COLUMNS                                                                              \
	"ip, first_slot, last_slot, offences, strikes, blocks, blocked, exempt, blocked_until, "   \
	"reason, labels, sites, history"

static void entry_from_row(sqlite3_stmt *st, struct reputation_entry *e)
{
	const char *ip = (const char *)sqlite3_column_text(st, 0);

	memset(e, 0, sizeof(*e));
	snprintf(e->ip, sizeof(e->ip), "%s", ip ? ip : "");
	e->first_slot = sqlite3_column_int64(st, 1);
	e->last_slot = sqlite3_column_int64(st, 2);
	e->offences = (uint64_t)sqlite3_column_int64(st, 3);
	e->strikes = (uint32_t)sqlite3_column_int64(st, 4);
	e->blocks = (uint32_t)sqlite3_column_int64(st, 5);
	e->blocked = sqlite3_column_int(st, 6) != 0;
	e->exempt = sqlite3_column_int(st, 7) != 0;
	e->blocked_until_s = sqlite3_column_int64(st, 8);
	e->reason = (const char *)sqlite3_column_text(st, 9);
	e->labels_json = (const char *)sqlite3_column_text(st, 10);
	e->sites_json = (const char *)sqlite3_column_text(st, 11);
	e->history_json = (const char *)sqlite3_column_text(st, 12);
}

int reputation_db_foreach(struct reputation_db *db, bool blocked_only, const char *ip,
                          int (*fn)(void *ud, const struct reputation_entry *e), void *ud)
{
	static const char *const sql[4] = {
	    "SELECT " ENTRY_COLUMNS " FROM offenders ORDER BY ip",
	    "SELECT " ENTRY_COLUMNS " FROM offenders WHERE blocked=1 ORDER BY ip",
	    "SELECT " ENTRY_COLUMNS " FROM offenders WHERE ip=?1",
	    "SELECT " ENTRY_COLUMNS " FROM offenders WHERE ip=?1 AND blocked=1",
	};
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->h, sql[(ip ? 2 : 0) + blocked_only], -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rep_db_err(db->h, rc);
	if (ip)
		sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
	int ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct reputation_entry e;
		entry_from_row(st, &e);
		ret = fn(ud, &e);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = rep_db_err(db->h, rc);
	sqlite3_finalize(st);
	return ret;
}

/* The keys of the sites object as a JSON array of names. */
static json_t *site_names(const char *sites_json)
{
	json_t *o = json_loads(sites_json ? sites_json : "{}", 0, NULL), *a = json_array();
	const char *k;
	json_t *val;

	if (o && a)
		json_object_foreach(o, k, val) json_array_append_new(a, json_string(k));
	json_decref(o);
	return a;
}

int reputation_entry_json(const struct reputation_entry *e, char *out, size_t len)
{
	char until[32] = "";
	json_t *o = json_object();
	int rc = -ENOMEM;

	if (!o)
		return -ENOMEM;
	if (e->blocked_until_s)
		rep_time_format(e->blocked_until_s, until, sizeof(until));
	json_object_set_new(o, "ip", json_string(e->ip));
	json_object_set_new(o, "offences", json_integer((json_int_t)e->offences));
	json_object_set_new(o, "sites", site_names(e->sites_json));
	json_object_set_new(o, "labels",
	                    json_loads(e->labels_json ? e->labels_json : "[]", 0, NULL));
	json_object_set_new(o, "blocked", json_boolean(e->blocked));
	json_object_set_new(o, "blockedUntil",
	                    e->blocked_until_s ? json_string(until) : json_null());
	json_object_set_new(o, "blocks", json_integer(e->blocks));
	json_object_set_new(o, "strikes", json_integer(e->strikes));
	json_object_set_new(o, "exempt", json_boolean(e->exempt));
	json_object_set_new(o, "firstSlot", json_integer(e->first_slot));
	json_object_set_new(o, "lastSlot", json_integer(e->last_slot));
	json_object_set_new(o, "reason", json_string(e->reason ? e->reason : ""));
	json_object_set_new(o, "siteSlots",
	                    json_loads(e->sites_json ? e->sites_json : "{}", 0, NULL));
	json_object_set_new(o, "history",
	                    json_loads(e->history_json ? e->history_json : "[]", 0, NULL));
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	if (n >= len) {
		rc = -ENOSPC;
	} else {
		memcpy(out, s, n + 1);
		rc = 0;
	}
	free(s);
	return rc;
}

int reputation_blocklist_write(struct reputation_db *db, int64_t now_s, FILE *out)
{
	sqlite3_stmt *st;
	int64_t n_blocked = 0, n_all = 0;
	char ts[32];
	int rc;

	rc = sqlite3_prepare_v2(db->h,
	                        "SELECT (SELECT count(*) FROM offenders WHERE blocked=1),"
	                        " (SELECT count(*) FROM offenders)",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rep_db_err(db->h, rc);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n_blocked = sqlite3_column_int64(st, 0);
		n_all = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	rep_time_format(now_s, ts, sizeof(ts));
	fprintf(out,
	        "# nfsentry block-list (docs/offenders.md)\n"
	        "# generated %s (slot time)\n"
	        "# %lld blocked addresses, %lld offenders known\n",
	        ts, (long long)n_blocked, (long long)n_all);
	rc = sqlite3_prepare_v2(db->h, "SELECT ip FROM offenders WHERE blocked=1 ORDER BY ip", -1,
	                        &st, NULL);
	if (rc != SQLITE_OK)
		return rep_db_err(db->h, rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fprintf(out, "%s\n", (const char *)sqlite3_column_text(st, 0));
	int ret = rc == SQLITE_DONE ? 0 : rep_db_err(db->h, rc);
	sqlite3_finalize(st);
	if (ret == 0 && ferror(out))
		ret = -EIO;
	return ret;
}
