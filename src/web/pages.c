/*
 * pages: the answers of the offenders, block-list, attacks and daily
 * routes (docs/api.md), built into a bounded struct wbuf. web.c routes the
 * request here and turns the result into an HTTP answer; nothing here
 * knows about HTTP.
 *
 * The offender database is opened read-only for each request (its own
 * SQLite file, written by the reputation worker), so the server holds no
 * handle to it between requests. Attack and daily documents come from the
 * server's store connection (the caller holds its lock).
 *
 * Not responsible for: routing, authentication, caching headers (web.c),
 * the page (src/web/www/app.js).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "nfsentry/attacklive.h"
#include "nfsentry/daily.h"
#include "nfsentry/flow.h"
#include "nfsentry/reputation.h"
#include "nfsentry/store.h"
#include "nfsentry/web.h"

#define PAGES_SITES_MAX 1024          /* sites walked by an attacks request without ?site= */
#define PAGES_ENTRY_MAX_BYTES 1048576 /* one offender's JSON line (history is bounded) */

/* ---- offenders and the block-list --------------------------------------- */

/* What the offenders page sorts by, per entry (the JSON is read again for the page only). */
struct off_key {
	char ip[48];
	uint64_t offences;
	int64_t until; /* end of the block in force; 0 when not blocked */
	uint32_t sites, labels;
};

struct off_walk {
	struct wbuf *b;
	char *line;
	size_t n;
	struct off_key *k; /* first walk: every entry */
	size_t nk, cap;
	int rc;
};

static int off_keep(void *ud, const struct reputation_entry *e)
{
	struct off_walk *w = ud;
	json_t *sites, *labels;
	struct off_key *k;

	if (w->nk == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		if (cap > WEB_OFFENDERS_MAX)
			cap = WEB_OFFENDERS_MAX;
		if (w->nk == cap) {
			w->rc = -E2BIG;
			return 1;
		}
		k = realloc(w->k, cap * sizeof(*k));
		if (!k) {
			w->rc = -ENOMEM;
			return 1;
		}
		w->k = k;
		w->cap = cap;
	}
	k = &w->k[w->nk++];
	snprintf(k->ip, sizeof(k->ip), "%s", e->ip);
	k->offences = e->offences;
	k->until = e->blocked ? e->blocked_until_s : 0;
	sites = json_loads(e->sites_json ? e->sites_json : "{}", 0, NULL);
	labels = json_loads(e->labels_json ? e->labels_json : "[]", 0, NULL);
	k->sites = (uint32_t)json_object_size(sites);
	k->labels = (uint32_t)json_array_size(labels);
	json_decref(sites);
	json_decref(labels);
	return 0;
}

static int off_one(void *ud, const struct reputation_entry *e)
{
	struct off_walk *w = ud;
	int rc;

	rc = reputation_entry_json(e, w->line, PAGES_ENTRY_MAX_BYTES);
	if (rc) {
		w->rc = rc;
		return 1;
	}
	if (!wbuf_str(w->b, w->n ? ",\n" : "[\n") || !wbuf_str(w->b, w->line))
		return 1;
	w->n++;
	return 0;
}

/* Ties end by address text: the database's own order, so pages are stable. */
static int off_by_ip(const void *x, const void *y)
{
	return strcmp(((const struct off_key *)x)->ip, ((const struct off_key *)y)->ip);
}

static int off_then(const struct off_key *a, const struct off_key *b)
{
	if (a->offences != b->offences)
		return a->offences > b->offences ? -1 : 1;
	return strcmp(a->ip, b->ip);
}

static int off_by_offences(const void *x, const void *y)
{
	return off_then(x, y);
}

static int off_by_sites(const void *x, const void *y)
{
	const struct off_key *a = x, *b = y;

	return a->sites != b->sites ? (a->sites > b->sites ? -1 : 1) : off_then(a, b);
}

static int off_by_labels(const void *x, const void *y)
{
	const struct off_key *a = x, *b = y;

	return a->labels != b->labels ? (a->labels > b->labels ? -1 : 1) : off_then(a, b);
}

static int off_by_until(const void *x, const void *y)
{
	const struct off_key *a = x, *b = y;

	return a->until != b->until ? (a->until > b->until ? -1 : 1) : off_then(a, b);
}

int web_offenders_sort_parse(const char *s)
{
	static const char *const names[WEB_OFF_SORTS] = {"ip", "offences", "sites", "labels",
	                                                 "until"};

	for (int i = 0; i < WEB_OFF_SORTS; i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	return -1;
}

int web_offenders_build(const char *db_path, bool blocked_only, const char *ip, int sort,
                        size_t offset, size_t limit, struct wbuf *b, size_t *total)
{
	static int (*const cmps[WEB_OFF_SORTS])(const void *, const void *) = {
	    off_by_ip, off_by_offences, off_by_sites, off_by_labels, off_by_until};
	struct reputation_db *db;
	struct off_walk w = {.b = b};
	char err[256];
	int rc;

	*total = 0;
	if (sort < 0 || sort >= WEB_OFF_SORTS)
		return -EINVAL;
	if (!db_path || !db_path[0])
		return -ENOENT;
	rc = reputation_db_open(db_path, true, &db, err, sizeof(err));
	if (rc)
		return rc;
	/* First the keys of every entry, then the page's entries one by one by address. */
	rc = reputation_db_foreach(db, blocked_only, ip, off_keep, &w);
	if (rc >= 0 && !w.rc && !(w.line = malloc(PAGES_ENTRY_MAX_BYTES)))
		w.rc = -ENOMEM;
	if (rc >= 0 && !w.rc) {
		if (sort != WEB_OFF_IP)
			qsort(w.k, w.nk, sizeof(*w.k), cmps[sort]);
		*total = w.nk;
		/* An entry gone since the first walk (retention) is left out of the page. */
		for (size_t i = offset;
		     i < w.nk && i - offset < limit && rc >= 0 && !w.rc && !b->over; i++)
			rc = reputation_db_foreach(db, blocked_only, w.k[i].ip, off_one, &w);
	}
	reputation_db_close(db);
	free(w.line);
	free(w.k);
	if (rc < 0)
		return rc;
	if (w.rc)
		return w.rc;
	wbuf_str(b, w.n ? "\n]\n" : "[]\n");
	return b->oom ? -ENOMEM : b->over ? -E2BIG : 0;
}

int web_blocklist_build(const char *db_path, int64_t now_s, struct wbuf *b)
{
	struct reputation_db *db;
	char err[256], *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (!db_path || !db_path[0])
		return -ENOENT;
	rc = reputation_db_open(db_path, true, &db, err, sizeof(err));
	if (rc)
		return rc;
	f = open_memstream(&text, &len);
	if (!f) {
		reputation_db_close(db);
		return -ENOMEM;
	}
	rc = reputation_blocklist_write(db, now_s, f);
	reputation_db_close(db);
	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc == 0 && !wbuf_add(b, text, len))
		rc = b->oom ? -ENOMEM : -E2BIG;
	free(text);
	return rc;
}

/* ---- attacks ------------------------------------------------------------ */

/* One attack document kept while grouping: the latest (highest seq) of its event wins. */
struct att {
	char site[STORE_SITE_MAX];
	char id[32];
	int64_t seq, start;
	bool ongoing;
	char *json;
	size_t len;
};

struct att_walk {
	const char *site;
	const char *ip; /* canonical, or NULL */
	struct att *v;
	size_t n, cap;
	size_t bytes; /* held in v[].json */
	int rc;
};

/* Add d when it is the newest document of its event seen so far. */
static int att_one(void *ud, const struct store_doc *d)
{
	struct att_walk *w = ud;
	json_error_t je;
	json_t *o = json_loadb(d->json, d->json_len, 0, &je);
	const char *id = o ? json_string_value(json_object_get(o, "id")) : NULL;
	const char *ip = o ? json_string_value(json_object_get(o, "ip")) : NULL;
	int64_t seq = o ? json_integer_value(json_object_get(o, "seq")) : 0;
	struct att *a = NULL;

	/* A document that is not an attack event as documents.md describes it is left out. */
	if (!id || !ip || strlen(id) >= sizeof(a->id) || (w->ip && strcmp(ip, w->ip) != 0)) {
		json_decref(o);
		return 0;
	}
	/* Events are few: a linear search over the kept ones (bounded by the byte limit). */
	for (size_t k = 0; k < w->n; k++) {
		if (strcmp(w->v[k].id, id) == 0 && strcmp(w->v[k].site, w->site) == 0) {
			a = &w->v[k];
			break;
		}
	}
	if (a && a->seq >= seq) {
		json_decref(o);
		return 0;
	}
	if (!a) {
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 64;
			struct att *v = realloc(w->v, cap * sizeof(*v));
			if (!v) {
				json_decref(o);
				w->rc = -ENOMEM;
				return 1;
			}
			w->v = v;
			w->cap = cap;
		}
		a = &w->v[w->n++];
		memset(a, 0, sizeof(*a));
		snprintf(a->site, sizeof(a->site), "%s", w->site);
		snprintf(a->id, sizeof(a->id), "%s", id);
	}
	w->bytes -= a->len;
	free(a->json);
	a->json = malloc(d->json_len ? d->json_len : 1);
	a->len = a->json ? d->json_len : 0;
	a->seq = seq;
	a->start = json_integer_value(json_object_get(o, "start"));
	a->ongoing = json_object_get(o, "end") == NULL;
	json_decref(o);
	if (!a->json) {
		w->rc = -ENOMEM;
		return 1;
	}
	memcpy(a->json, d->json, d->json_len);
	w->bytes += a->len;
	if (w->bytes > WEB_BODY_MAX_BYTES) {
		w->rc = -E2BIG;
		return 1;
	}
	return 0;
}

/* Ongoing first, then the most recent start first; ties by site and id (stable answers). */
static int att_cmp(const void *x, const void *y)
{
	const struct att *a = x, *b = y;
	int c;

	if (a->ongoing != b->ongoing)
		return a->ongoing ? -1 : 1;
	if (a->start != b->start)
		return a->start > b->start ? -1 : 1;
	c = strcmp(a->site, b->site);
	return c ? c : strcmp(a->id, b->id);
}

/*
 * The live table's documents of the range (and of site when not NULL) into
 * w, after the stored ones: per event the highest seq wins (att_one), so a
 * document both stored and live is listed once.
 */
static int att_live(struct att_walk *w, struct attack_live *live, const char *site,
                    int64_t from_slot, int64_t to_slot)
{
	struct attack_live_doc *v;
	size_t n;
	int rc = attack_live_snapshot(live, &v, &n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		if ((site && strcmp(v[i].site, site) != 0) || v[i].time_slot < from_slot ||
		    v[i].time_slot > to_slot)
			continue;
		struct store_doc d = {.kind = "attack", .json = v[i].json, .json_len = v[i].len};
		w->site = v[i].site;
		if (att_one(w, &d))
			rc = w->rc;
	}
	w->site = NULL;
	free(v);
	return rc;
}

int web_attacks_build(struct store *s, struct attack_live *live, const char *site, const char *ip,
                      int64_t from_slot, int64_t to_slot, struct wbuf *b)
{
	struct att_walk w = {.ip = ip};
	struct store_slot *sl = NULL;
	size_t n_sites = 0;
	int rc = 0;

	if (site) {
		w.site = site;
		rc = store_doc_range(s, site, "attack", from_slot, to_slot, att_one, &w);
	} else {
		sl = calloc(PAGES_SITES_MAX, sizeof(*sl));
		if (!sl)
			return -ENOMEM;
		rc = store_site_list(s, sl, PAGES_SITES_MAX, &n_sites);
		if (rc == -E2BIG)
			rc = 0;
		for (size_t i = 0; rc == 0 && i < n_sites; i++) {
			if (strcmp(sl[i].site, REPUTATION_SITE) == 0)
				continue;
			w.site = sl[i].site;
			rc = store_doc_range(s, sl[i].site, "attack", from_slot, to_slot, att_one,
			                     &w);
		}
	}
	if (rc > 0 || (rc == 0 && w.rc))
		rc = w.rc;
	if (rc == 0 && live)
		rc = att_live(&w, live, site, from_slot, to_slot);
	if (rc == 0) {
		if (w.n > 1)
			qsort(w.v, w.n, sizeof(*w.v), att_cmp);
		wbuf_str(b, w.n ? "[\n" : "[]\n");
		for (size_t k = 0; k < w.n; k++) {
			wbuf_add(b, w.v[k].json, w.v[k].len);
			wbuf_str(b, k + 1 < w.n ? ",\n" : "\n]\n");
		}
		rc = b->oom ? -ENOMEM : b->over ? -E2BIG : 0;
	}
	for (size_t k = 0; k < w.n; k++)
		free(w.v[k].json);
	free(w.v);
	free(sl);
	return rc;
}

/* ---- daily -------------------------------------------------------------- */

struct daily_walk {
	const char *date; /* the day asked for */
	int64_t slot;     /* its slot, or -1 */
};

/* "YYYY-MM-DDTHH:MM:SSZ" into Unix seconds; false when it is not one. */
static bool iso_parse(const char *s, int64_t *t)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	time_t tt;

	if (!end || *end)
		return false;
	tt = timegm(&tm);
	if (tt == (time_t)-1)
		return false;
	*t = (int64_t)tt;
	return true;
}

/*
 * Pass 1 of ?date=: the day slot whose documents say "date": date. Every
 * daily document carries its day's start as @timestamp, and the analysis is
 * stored at the slot of that start (daily.h daily_store_write).
 */
static int daily_find(void *ud, const struct store_doc *d)
{
	struct daily_walk *w = ud;
	json_t *o = json_loadb(d->json, d->json_len, 0, NULL);
	const char *date = o ? json_string_value(json_object_get(o, "date")) : NULL;
	int64_t t;
	bool hit = date && strcmp(date, w->date) == 0 &&
	           iso_parse(json_string_value(json_object_get(o, "@timestamp")), &t);

	json_decref(o);
	if (!hit)
		return 0;
	w->slot = t / STORE_SLOT_SECONDS;
	return 1;
}

/* Pass 2: the day's documents, each appended to the buffer of its part of the answer. */
struct daily_parts {
	struct wbuf *sus, *macs, *sum;
	size_t n_sus, n_macs, n_sum;
};

static int daily_part(void *ud, const struct store_doc *d)
{
	struct daily_parts *p = ud;
	json_t *o = json_loadb(d->json, d->json_len, 0, NULL);
	const char *f = o ? json_string_value(json_object_get(o, "finding")) : NULL;
	struct wbuf *b = NULL;
	size_t *n = NULL;

	if (f && strcmp(f, "ccSuspect") == 0) {
		b = p->sus;
		n = &p->n_sus;
	} else if (f && strcmp(f, "macMultiIp") == 0) {
		b = p->macs;
		n = &p->n_macs;
	} else if (f && strcmp(f, "summary") == 0 && p->n_sum == 0) {
		b = p->sum;
		n = &p->n_sum;
	}
	json_decref(o);
	if (!b)
		return 0;
	if (!wbuf_str(b, *n ? ",\n" : "\n") || !wbuf_add(b, d->json, d->json_len))
		return 1;
	(*n)++;
	return 0;
}

/* A YYYY-MM-DD date that is a real day; its UTC midnight into *t. */
static bool date_parse(const char *s, int64_t *t)
{
	struct tm tm = {0};
	char *end;

	if (strlen(s) != 10 || strspn(s, "0123456789-") != 10 || s[4] != '-' || s[7] != '-')
		return false;
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end)
		return false;
	int mday = tm.tm_mday, mon = tm.tm_mon;
	time_t tt = timegm(&tm);
	struct tm back;
	if (tt == (time_t)-1 || !gmtime_r(&tt, &back) || back.tm_mday != mday || back.tm_mon != mon)
		return false;
	*t = (int64_t)tt;
	return true;
}

int web_daily_build(struct store *s, const char *site, const char *date, struct wbuf *b)
{
	char ds[STORE_SITE_MAX + 8];
	struct wbuf sus = {0}, macs = {0}, sum = {0};
	struct daily_parts p = {.sus = &sus, .macs = &macs, .sum = &sum};
	struct daily_walk w = {.date = date, .slot = -1};
	int64_t slot, t;
	int rc;

	daily_store_site(site, ds, sizeof(ds));
	if (date) {
		if (!date_parse(date, &t))
			return -EINVAL;
		/* The day's first slot lies within a day of UTC midnight whatever the time zone. */
		rc = store_doc_range(s, ds, "daily", (t - 86400) / STORE_SLOT_SECONDS,
		                     (t + 2 * 86400) / STORE_SLOT_SECONDS, daily_find, &w);
		if (rc < 0)
			return rc;
		if (w.slot < 0)
			return -ENOENT;
		slot = w.slot;
	} else {
		rc = store_slot_latest(s, ds, &slot);
		if (rc)
			return rc;
	}
	rc = store_doc_foreach(s, ds, slot, "daily", daily_part, &p);
	if (rc > 0)
		rc = 0; /* daily_part stopped at a full buffer: said below */
	if (rc == 0 && (sus.oom || macs.oom || sum.oom))
		rc = -ENOMEM;
	if (rc == 0 && (sus.over || macs.over || sum.over))
		rc = -E2BIG;
	if (rc == 0 && p.n_sum == 0)
		rc = -ENOENT; /* an analysis is stored with its summary: none means none */
	if (rc == 0) {
		wbuf_str(b, "{\"site\":");
		wbuf_json_str(b, site);
		wbuf_fmt(b, ",\"timeSlot\":%lld,\"summary\":", (long long)slot);
		wbuf_add(b, sum.p + 1, sum.len - 1);
		wbuf_str(b, ",\n\"ccSuspect\":[");
		if (sus.len)
			wbuf_add(b, sus.p, sus.len);
		wbuf_str(b, p.n_sus ? "\n],\n\"macMultiIp\":[" : "],\n\"macMultiIp\":[");
		if (macs.len)
			wbuf_add(b, macs.p, macs.len);
		wbuf_str(b, p.n_macs ? "\n]}\n" : "]}\n");
		rc = b->oom ? -ENOMEM : b->over ? -E2BIG : 0;
	}
	free(sus.p);
	free(macs.p);
	free(sum.p);
	return rc;
}
