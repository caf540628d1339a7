/*
 * web internals shared by web.c, feed.c, wbuf.c, cache.c, pages.c and the
 * generated assets.c (embed.py): the dashboard's files, embedded in the
 * binary at build time, the bounded text buffer answers are built in, the
 * cache of the slot-wide answers, and the answers of the offender, attack
 * and daily routes.
 */
#ifndef NFSENTRY_WEB_INTERNAL_H
#define NFSENTRY_WEB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct attack_live;
#include "nfsentry/store.h"
#include "nfsentry/web.h"

struct web_asset {
	const char *path;  /* URL path: "/", "/app.js", "/vendor/chart.min.js" */
	const char *ctype; /* Content-Type */
	const char *etag;  /* strong validator of the content, quoted */
	const unsigned char *data;
	size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_n;

/*
 * A growing text buffer bounded by WEB_BODY_MAX_BYTES (wbuf.c). Zero it to
 * start; p is malloc'd and the caller's to free. Once over is set (the
 * limit, or oom: out of memory) every append does nothing and returns false.
 */
struct wbuf {
	char *p;
	size_t len, cap;
	bool over;
	bool oom;
};

bool wbuf_add(struct wbuf *b, const char *s, size_t n);
bool wbuf_str(struct wbuf *b, const char *s);
bool wbuf_fmt(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included; control bytes and non-ASCII escaped. */
bool wbuf_json_str(struct wbuf *b, const char *s);

/*
 * pages.c (docs/api.md). Each appends its answer to b (zeroed by the caller,
 * which frees b->p whatever the result) and returns 0, or -EINVAL (a bad
 * parameter), -ENOENT (nothing of that kind exists), -E2BIG (past
 * WEB_BODY_MAX_BYTES), -ENOMEM, or another negative code of the store or
 * the database. Store readers need the caller to hold the store's lock.
 */

/*
 * GET /api/v1/offenders: a JSON array of reputation_entry_json() objects,
 * the entries [offset, offset + limit) in the order sort names (enum
 * web_off_sort); only blocked ones when blocked_only; only ip (canonical
 * text) when not NULL. *total gets the number of entries that match (all
 * pages). The database at db_path is opened read-only for the call; "" or
 * a missing file: -ENOENT; more than WEB_OFFENDERS_MAX entries: -E2BIG.
 */
enum web_off_sort {
	WEB_OFF_IP,       /* by address text (the database's order) */
	WEB_OFF_OFFENCES, /* most offences first */
	WEB_OFF_SITES,    /* most sites first, then most offences */
	WEB_OFF_LABELS,   /* most labels first, then most offences */
	WEB_OFF_UNTIL,    /* blocked longest first (not blocked last), then most offences */
	WEB_OFF_SORTS
};
/* Entries one offenders request sorts: 72 bytes each, 72 MiB at most. */
#define WEB_OFFENDERS_MAX (1u << 20)
/* "ip", "offences", "sites", "labels", "until" as enum web_off_sort; -1 otherwise. */
int web_offenders_sort_parse(const char *s);
int web_offenders_build(const char *db_path, bool blocked_only, const char *ip, int sort,
                        size_t offset, size_t limit, struct wbuf *b, size_t *total);
/* GET /blocklist.txt: reputation_blocklist_write() of the database at db_path, generated now_s. */
int web_blocklist_build(const char *db_path, int64_t now_s, struct wbuf *b);
/*
 * GET /api/v1/attacks: per attack event (site and id) its latest document
 * (highest seq) among the attack documents stored in the slots
 * from_slot..to_slot of site (NULL: every site) and those of the live
 * table (attacklive.h; NULL: none) whose slot is in that range, only those
 * whose "ip" is ip when ip is not NULL; ongoing events (no "end") first,
 * then the most recent start first. A JSON array of the documents as
 * stored (or as they will be).
 */
int web_attacks_build(struct store *s, struct attack_live *live, const char *site, const char *ip,
                      int64_t from_slot, int64_t to_slot, struct wbuf *b);
/*
 * GET /api/v1/sites/{site}/daily/latest[?date=YYYY-MM-DD]: the stored daily
 * analysis of site (the latest, or that of date) as one object: site,
 * timeSlot (the day's first), summary (its summary document) and the
 * ccSuspect and macMultiIp documents as arrays. -EINVAL: date is not a
 * real YYYY-MM-DD day; -ENOENT: no analysis (of that day).
 */
int web_daily_build(struct store *s, const char *site, const char *date, struct wbuf *b);

/* ---- web.c: the route table -------------------------------------------- */

#define WEB_ROUTE_GET 1u /* methods a route answers */
#define WEB_ROUTE_HEAD 2u
#define WEB_ROUTE_PUBLIC 1u   /* answered without the token (/healthz) */
#define WEB_ROUTE_NO_STORE 2u /* answered without taking one of the store connections */

/*
 * The route table's verdict on method and url (a decoded path such as
 * "/api/v1/collector"): 0 with *flags the route's WEB_ROUTE_* flags,
 * -ENOENT when no route has that path (the embedded files are no route),
 * -EPERM when the method is not one the route (or, with no route, GET and
 * HEAD) answers.
 */
int web_route_lookup(const char *method, const char *url, unsigned *flags);

/* ---- cache.c ------------------------------------------------------------ */

#define WEB_ETAG_MAX 24 /* "\"" 16 hex digits, a suffix letter, "\"", NUL */

/* FNV-1a 64 of p[0..n) as a quoted strong ETag; suffix (or NULL) goes inside the quotes. */
void web_etag_make(const char *p, size_t n, const char *suffix, char out[WEB_ETAG_MAX]);

/*
 * p[0..n) compressed with a gzip wrapper at zlib level (1 fast .. 9 small)
 * into *out (malloc'd, the caller's to free), *out_len bytes. 0 or -ENOMEM
 * (then *out is NULL).
 */
int web_gzip(const char *p, size_t n, int level, unsigned char **out, size_t *out_len);

/*
 * One slot-wide answer: a JSON array of stored documents as the API sends
 * it, shared by reference (refs) between the cache and the responses that
 * send it. Built by one thread (web_answer_new, _add, _end), then immutable
 * but for gz, which web_answer_gzip() fills once under the cache's lock.
 */
struct web_answer {
	int refs;      /* __atomic */
	char key[160]; /* what the cache finds it by: route, site, slot, variant */
	char site[STORE_SITE_MAX];
	int64_t time_slot; /* a store write of (site, time_slot) drops it */
	struct wbuf b;     /* "[\n" d0 ",\n" d1 ... "\n]\n", or "[]\n"; b.len bytes, no NUL */
	size_t *doc_end;   /* offset in b.p just past document i */
	size_t n_docs, cap_docs;
	char etag[WEB_ETAG_MAX];
	unsigned char *gz;     /* b compressed, or NULL until first asked for */
	struct web_rows *rows; /* the table's rows (table.c), or NULL until first asked for */
	size_t gz_len;
	char gz_etag[WEB_ETAG_MAX];
	uint64_t used; /* the cache's tick of the last lookup */
};

/* A new empty answer (one reference, the caller's), or NULL when out of memory. */
struct web_answer *web_answer_new(const char *key, const char *site, int64_t time_slot);
/* Store callback: appends d; returns 1 (stop) once the answer is over its limit or OOM. */
int web_answer_add(void *ud, const struct store_doc *d);
/* Closes the array and sets etag: 0, -E2BIG past WEB_BODY_MAX_BYTES, -ENOMEM. */
int web_answer_end(struct web_answer *a);
/*
 * Documents [offset, offset + limit) of a, as one slice of its bytes
 * (documents joined by ",\n", no brackets): *p points into a. -ENOENT
 * when offset is past the last document or limit is 0.
 */
int web_answer_slice(const struct web_answer *a, size_t offset, size_t limit, const char **p,
                     size_t *len);
/* Another reference to a. */
struct web_answer *web_answer_ref(struct web_answer *a);
/* Drops one reference (ud: a struct web_answer, or NULL); the last frees it. */
void web_answer_put(void *ud);

/*
 * The cache: at most max_entries answers and max_bytes of them (an answer
 * over max_bytes / 4 is not kept). Thread-safe. 0, -EINVAL, -ENOMEM.
 */
struct web_cache;
int web_cache_create(size_t max_entries, size_t max_bytes, struct web_cache **out);
void web_cache_destroy(struct web_cache *c);
/*
 * Catches up with the store's writes through s (the caller's connection):
 * drops the entries of every (site, slot) written since the last call and
 * sets *gen to the write the cache is now current with. 0, or the store's
 * negative code (the cache is unchanged then).
 */
int web_cache_sync(struct web_cache *c, struct store *s, int64_t *gen);
/* The entry of key with a new reference (the caller puts it), or NULL. */
struct web_answer *web_cache_get(struct web_cache *c, const char *key);
/*
 * Keeps a reference to a when no write was seen since the caller's sync
 * returned gen (a could predate it) and it fits; evicts the least recently
 * used entries to make room. true when kept. The caller's reference stays its own.
 */
bool web_cache_put(struct web_cache *c, struct web_answer *a, int64_t gen);
/*
 * a's bytes gzip-compressed, built at the first call and kept with a
 * (a->gz_etag set then): level 6 when the cache holds a, else level 1 (a
 * is built anew for each request then). *gz points into a. 0 or -ENOMEM.
 */
int web_answer_gzip(struct web_cache *c, struct web_answer *a, const unsigned char **gz,
                    size_t *gz_len);
void web_cache_stats_get(struct web_cache *c, struct web_cache_stats *st);
/*
 * a's table rows (web_rows_build), built at the first call and kept with a
 * (its bytes counted when the cache holds a). *rows points into a. 0, or
 * web_rows_build()'s code.
 */
int web_answer_rows(struct web_cache *c, struct web_answer *a, const struct web_rows **rows);

/* ---- table.c: the labelled table's rows ---------------------------------- */

/*
 * A row is one inside IP's document, or one outside IP's outside and
 * offender documents (outside first). Sorts: severity (highest label
 * first, then how far past its threshold), ip (by address), kind (inside,
 * offender, outside, outside + offender; then by severity), labels (most
 * labels first; then by severity). Ties end by address, so pages are stable.
 */
enum web_rows_sort {
	WEB_ROWS_SEVERITY,
	WEB_ROWS_IP,
	WEB_ROWS_KIND,
	WEB_ROWS_LABELS,
	WEB_ROWS_SORTS
};
#define WEB_ROWS_KIND_INSIDE 1
#define WEB_ROWS_KIND_OUTSIDE 2
#define WEB_ROWS_KIND_OFFENDER 4

struct web_rows;

/*
 * The severity sort's table (table.c): each label's severity, 3 the
 * highest; a label not listed is 1. The page's LABELS in src/web/www/app.js
 * gives the same (test_web.c compares the embedded app.js with it).
 */
struct web_label_sev {
	const char *name;
	uint8_t sev;
};
extern const struct web_label_sev web_label_sevs[];
extern const size_t web_label_sevs_n;

/* "severity", "ip", "kind", "labels" as enum web_rows_sort; -1 for anything else. */
int web_rows_sort_parse(const char *s);
/* "inside", "outside", "offender" as its WEB_ROWS_KIND_* bit; -1 for anything else. */
int web_rows_kind_parse(const char *s);
/*
 * The rows of labelled answer a (borrowed; the rows point into it by
 * document index, so they live no longer than a) into *out, the caller's
 * to free with web_rows_free(). 0, -ENOMEM, or -E2BIG when the slot has
 * more than 64 distinct label names.
 */
int web_rows_build(const struct web_answer *a, struct web_rows **out);
void web_rows_free(struct web_rows *r);
/* What r holds in bytes (the cache's budget). */
size_t web_rows_bytes(const struct web_rows *r);

struct web_rows_query {
	int sort;             /* enum web_rows_sort */
	const char *label;    /* only rows with this label; NULL: any */
	unsigned kinds;       /* only rows with one of these WEB_ROWS_KIND_* bits; 0: any */
	size_t offset, limit; /* rows [offset, offset + limit) of those that match */
};

/*
 * The documents of the rows q selects of r (a's rows), as a JSON array
 * appended to b (zeroed by the caller, which frees b->p whatever the
 * result); *total gets the number of matching rows (all pages). 0,
 * -EINVAL (sort out of range), -E2BIG (b over its limit), -ENOMEM.
 */
int web_rows_page(const struct web_answer *a, const struct web_rows *r,
                  const struct web_rows_query *q, struct wbuf *b, size_t *total);

#endif
