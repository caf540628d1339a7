/*
 * web internals shared by web.c, feed.c, wbuf.c, pages.c and the generated
 * assets.c (embed.py): the dashboard's files, embedded in the binary at
 * build time, the bounded text buffer answers are built in, and the
 * answers of the offender, attack and daily routes.
 */
#ifndef NFSENTRY_WEB_INTERNAL_H
#define NFSENTRY_WEB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct attack_live;
struct store;

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

/* GET /api/v1/offenders: a JSON array of reputation_entry_json() objects by address, at most
 * limit; only blocked ones when blocked_only; only ip (canonical text) when not NULL. The
 * database at db_path is opened read-only for the call; "" or a missing file: -ENOENT. */
int web_offenders_build(const char *db_path, bool blocked_only, const char *ip, size_t limit,
                        struct wbuf *b);
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

#endif
