/*
 * web: libmicrohttpd daemons, authentication, routing, the JSON API and the
 * embedded dashboard files.
 *
 * Each listen address is one MHD daemon with a pool of WEB_THREADS
 * threads. A request that reads the store takes one of WEB_STORE_CONNS
 * read-only connections, each behind its own mutex (a struct store is
 * one-thread-at-a-time, store.h): a free one if there is one. Answers are
 * built in a bounded buffer and handed to MHD, which frees it; the
 * slot-wide ones (labelled, top) are built once per slot and shared from
 * the cache (cache.c), paged by ?offset=&limit= and gzip-compressed when
 * the client accepts it. Everything taken from the request (path
 * segments, query values) is validated against a narrow grammar before
 * use and never echoed back or logged raw. Routes are one table
 * (web_routes): path pattern, methods, and flags saying which answer
 * without the token (/healthz) and which without a store connection.
 *
 * /metrics, /api/v1/collector and the latest slot's peers come from the
 * feed (webfeed.h), published by the collector's own threads; the store's
 * file-wide counters come from the server's own connection.
 *
 * Not responsible for: the page's logic (src/web/www/app.js), taking the
 * collector's snapshots (feed.c).
 */
#include "nfsentry/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "internal.h"
#include "nfsentry/fileio.h"
#include "nfsentry/flow.h"
#include "nfsentry/log.h"
#include "nfsentry/reputation.h"
#include "nfsentry/store.h"
#include "nfsentry/webfeed.h"

#define WEB_SITES_MAX 1024  /* sites listed by /api/v1/sites */
#define WEB_PATH_SEGMENTS 9 /* /api/v1/sites/S/slots/T/peers/IP is 8 */
#define WEB_URL_MAX 1024    /* longer paths are 404 without a look */
#define WEB_TOP_MAX 100     /* ?n= of the top talkers */
#define WEB_GZIP_MIN 1024   /* smaller answers go uncompressed */
#define WEB_WARM_EVERY_S 1  /* the warm-up thread looks for new slots this often */

/*
 * Every answer carries these. The page is our own files only: no inline
 * script or style, no framing, nothing fetched from elsewhere (DASHBOARD.md
 * rules); Chart.js draws on canvas and sets element styles from script,
 * which style-src does not govern.
 */
static const char web_csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                              "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                              "form-action 'none'; frame-ancestors 'none'";

/* Cache-Control of an answer about a closed slot named by its timeSlot: it never changes. */
static const char web_cache_immutable[] = "private, max-age=31536000, immutable";
/* Everything else may change at the next slot close: revalidate (ETag) every time. */
static const char web_cache_revalidate[] = "private, no-cache";

/* One read-only store connection and the lock that gives it to one request at a time. */
struct web_conn {
	pthread_mutex_t lock;
	struct store *store;
};

struct web {
	struct MHD_Daemon *d[WEB_MAX_LISTEN];
	uint16_t port[WEB_MAX_LISTEN];
	size_t n;
	struct web_conn conn[WEB_STORE_CONNS];
	size_t n_conn;
	unsigned next_conn;      /* __atomic: where a request waits when all are taken */
	struct web_cache *cache; /* labelled and top answers */
	/* The warm-up thread: builds each site's latest answers once a new slot is stored. */
	pthread_t warm;
	bool warm_started;
	pthread_mutex_t warm_mu; /* guards warm_stop */
	pthread_cond_t warm_cv;
	bool warm_stop;
	uint64_t warm_passes; /* __atomic */
	/* Guarded by token_lock: each request reads them, a reload swaps them. */
	pthread_mutex_t token_lock;
	char *token; /* NULL: no authentication */
	size_t token_len;
	char *cert, *key;      /* PEM, kept for the daemons' lifetime */
	struct web_feed *feed; /* borrowed, or NULL: no /metrics, collector or peers */
	/* The store's counters that describe the file (not the writer's handle). */
	struct counter_def store_defs[16];
	struct counter_table store_table;
	pthread_mutex_t rep_mu;           /* guards rep_db */
	char rep_db[REPUTATION_PATH_MAX]; /* offender database; "" = none */
};

/* ---- answers ------------------------------------------------------------ */

/* A store connection for this request: a free one, else wait for one (round robin). */
static struct web_conn *web_conn_get(struct web *w)
{
	struct web_conn *k;

	for (size_t i = 0; i < w->n_conn; i++) {
		if (pthread_mutex_trylock(&w->conn[i].lock) == 0)
			return &w->conn[i];
	}
	k = &w->conn[__atomic_fetch_add(&w->next_conn, 1, __ATOMIC_RELAXED) % w->n_conn];
	pthread_mutex_lock(&k->lock);
	return k;
}

static void web_conn_put(struct web_conn *k)
{
	pthread_mutex_unlock(&k->lock);
}

static void web_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", web_csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

/* Does the request's If-None-Match name etag? ("*" and lists included.) */
static bool web_not_modified(struct MHD_Connection *c, const char *etag)
{
	const char *inm =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);

	return inm && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

/* How web_reply() holds a body: MHD must keep a pointer only to static data. */
enum web_body {
	WEB_BODY_STATIC, /* lives as long as the program (assets, literals) */
	WEB_BODY_FREE,   /* malloc'd: handed to MHD, which frees it (or freed here on failure) */
	WEB_BODY_COPY,   /* caller's (stack) memory: MHD copies it */
};

/*
 * Queue an answer. body: len bytes, held as mem says. cache: Cache-Control, or NULL for
 * "no-store" (errors, health). A 200 with a cache policy carries an ETag
 * and becomes a bodiless 304 when the client already holds it.
 */
static enum MHD_Result web_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 char *body, size_t len, enum web_body mem, const char *cache,
                                 const char *etag_given)
{
	bool free_body = mem == WEB_BODY_FREE;
	struct MHD_Response *r;
	char etag[WEB_ETAG_MAX];
	enum MHD_Result ret;

	if (status == MHD_HTTP_OK && cache) {
		if (etag_given)
			snprintf(etag, sizeof(etag), "%s", etag_given);
		else
			web_etag_make(body, len, NULL, etag);
		if (web_not_modified(c, etag)) {
			if (free_body)
				free(body);
			r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
			if (!r)
				return MHD_NO;
			MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
			MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
			web_headers(r);
			ret = MHD_queue_response(c, MHD_HTTP_NOT_MODIFIED, r);
			MHD_destroy_response(r);
			return ret;
		}
	}
	r = MHD_create_response_from_buffer(len, body,
	                                    mem == WEB_BODY_FREE   ? MHD_RESPMEM_MUST_FREE
	                                    : mem == WEB_BODY_COPY ? MHD_RESPMEM_MUST_COPY
	                                                           : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (free_body)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_OK && cache) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
	} else {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	if (status == MHD_HTTP_UNAUTHORIZED) {
		/* Bearer for API clients; Basic so a browser asks for the token by itself. */
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Bearer realm=\"nfsentry\"");
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Basic realm=\"nfsentry\", charset=\"UTF-8\"");
	}
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	web_headers(r);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON error; code and message are ours, never request text. */
static enum MHD_Result web_error(struct MHD_Connection *c, unsigned status, const char *code,
                                 const char *message)
{
	char buf[512];
	int k = snprintf(buf, sizeof(buf),
	                 "{\"error\":{\"status\":%u,\"code\":\"%s\",\"message\":\"%s\"}}\n", status,
	                 code, message);

	if (k < 0 || (size_t)k >= sizeof(buf))
		k = snprintf(buf, sizeof(buf), "{\"error\":{\"status\":%u}}\n", status);
	return web_reply(c, status, "application/json", buf, (size_t)k, WEB_BODY_COPY, NULL, NULL);
}

static enum MHD_Result web_json(struct MHD_Connection *c, struct wbuf *b, const char *cache)
{
	if (b->oom) {
		free(b->p);
		return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "out of memory");
	}
	if (b->over) {
		free(b->p);
		return web_error(c, MHD_HTTP_BAD_REQUEST, "too_large",
		                 "the answer would exceed the size limit; narrow from/to");
	}
	return web_reply(c, MHD_HTTP_OK, "application/json", b->p, b->len, WEB_BODY_FREE, cache,
	                 NULL);
}

/* ---- authentication ----------------------------------------------------- */

/* Compare in time that depends on the expected token's length only. */
static bool web_token_eq(const struct web *w, const char *got, size_t got_len)
{
	unsigned char d = got_len != w->token_len;

	for (size_t i = 0; i < w->token_len; i++)
		d |= (unsigned char)(w->token[i] ^ (i < got_len ? got[i] : 0));
	return d == 0;
}

static int b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Base64 of at most outlen bytes; -1 on bad input. */
static long b64_decode(const char *s, char *out, size_t outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	for (; *s && *s != '='; s++) {
		int v = b64_val((unsigned char)*s);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= outlen)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	return (long)n;
}

/* "Bearer TOKEN", or "Basic base64(ANY:TOKEN)" (a browser's own login prompt). */
static bool web_authorized_locked(const struct web *w, struct MHD_Connection *c)
{
	const char *h;

	if (!w->token)
		return true;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h)
		return false;
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		return web_token_eq(w, h, strnlen(h, WEB_TOKEN_MAX_BYTES + 1));
	}
	if (strncasecmp(h, "Basic ", 6) == 0) {
		char dec[WEB_TOKEN_MAX_BYTES + 256];
		long n = b64_decode(h + 6, dec, sizeof(dec));
		char *colon = n > 0 ? memchr(dec, ':', (size_t)n) : NULL;
		bool ok = colon && web_token_eq(w, colon + 1, (size_t)(dec + n - colon - 1));
		memset(dec, 0, sizeof(dec));
		return ok;
	}
	return false;
}

/* The token in force for this request: a reload may swap it between two requests. */
static bool web_authorized(struct web *w, struct MHD_Connection *c)
{
	pthread_mutex_lock(&w->token_lock);
	bool ok = web_authorized_locked(w, c);
	pthread_mutex_unlock(&w->token_lock);
	return ok;
}

/* ---- request parameters ------------------------------------------------- */

/* A decimal int64 in [min, max], nothing else (no sign but '-', no space). */
static bool web_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* A site name as the configuration allows them (config.c name_word). */
static bool web_site_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");

	return n > 0 && s[n] == '\0' && n < STORE_SITE_MAX;
}

/*
 * ?from=&to= (Unix seconds) into the slots whose start lies in [from, to].
 * Defaults: to = now, from = to - 24 h. Returns false (400) when a value is
 * not a number, from > to, or the span is over WEB_RANGE_MAX_S.
 */
static bool web_range(struct MHD_Connection *c, int64_t *from_slot, int64_t *to_slot)
{
	const char *fs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
	const char *ts = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "to");
	const int64_t max_s = (int64_t)1 << 40; /* far beyond any clock, far from overflow */
	int64_t from, to;

	if (ts) {
		if (!web_parse_i64(ts, 0, max_s, &to))
			return false;
	} else {
		to = (int64_t)time(NULL);
	}
	if (fs) {
		if (!web_parse_i64(fs, 0, max_s, &from))
			return false;
	} else {
		from = to >= 86400 ? to - 86400 : 0;
	}
	if (from > to || to - from > WEB_RANGE_MAX_S)
		return false;
	*from_slot = (from + STORE_SLOT_SECONDS - 1) / STORE_SLOT_SECONDS;
	*to_slot = to / STORE_SLOT_SECONDS;
	return true;
}

/* ---- API ---------------------------------------------------------------- */

/* Appends documents as a JSON array: '[' before the first, ',' between. */
struct doc_list {
	struct wbuf *b;
	size_t n;
};

static int doc_list_add(void *ud, const struct store_doc *d)
{
	struct doc_list *l = ud;

	if (!wbuf_add(l->b, l->n ? ",\n" : "[\n", 2) || !wbuf_add(l->b, d->json, d->json_len))
		return 1;
	l->n++;
	return 0;
}

static void doc_list_end(struct doc_list *l)
{
	wbuf_str(l->b, l->n ? "\n]\n" : "[]\n");
}

/* A store failure: 404 for what does not exist, 500 (logged) for the rest. */
static enum MHD_Result web_store_error(struct store *s, struct MHD_Connection *c, int rc)
{
	if (rc == -ENOENT)
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such site or slot");
	log_warn("web: store read failed: %s", store_error_get(s));
	return web_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", "the store could not be read");
}

static void iso_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "?");
}

static enum MHD_Result api_sites(struct web *w, struct store *s, struct MHD_Connection *c)
{
	struct store_slot *sl = calloc(WEB_SITES_MAX, sizeof(*sl));
	struct wbuf b = {0};
	size_t n = 0;
	int rc;

	if (!sl)
		return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "out of memory");
	rc = store_site_list(s, sl, WEB_SITES_MAX, &n);
	if (rc != 0 && rc != -E2BIG) {
		free(sl);
		return web_store_error(s, c, rc);
	}
	wbuf_str(&b, "[");
	size_t listed = 0;
	for (size_t i = 0; i < n; i++) {
		char start[32], closed[32];
		/* The network-wide documents (rule III) are not a site an operator picks. */
		if (strcmp(sl[i].site, REPUTATION_SITE) == 0)
			continue;
		iso_time(sl[i].time_slot * STORE_SLOT_SECONDS, start);
		iso_time(sl[i].closed_at_s, closed);
		wbuf_str(&b, listed++ ? ",\n{\"site\":" : "\n{\"site\":");
		wbuf_json_str(&b, sl[i].site);
		wbuf_fmt(&b,
		         ",\"timeSlot\":%lld,\"@timestamp\":\"%s\",\"closedAt\":\"%s\","
		         "\"closedAtS\":%lld,\"docs\":%llu,\"partial\":%s}",
		         (long long)sl[i].time_slot, start, closed, (long long)sl[i].closed_at_s,
		         (unsigned long long)sl[i].n_docs, sl[i].partial ? "true" : "false");
	}
	/* A configured site with no stored slot yet is listed too, so the page can say so. */
	char name[SITE_NAME_MAX];
	for (size_t i = 0; w->feed && web_feed_site_name(w->feed, i, name); i++) {
		bool stored = false;
		for (size_t j = 0; j < n && !stored; j++)
			stored = strcmp(sl[j].site, name) == 0;
		if (stored)
			continue;
		wbuf_str(&b, listed++ ? ",\n{\"site\":" : "\n{\"site\":");
		wbuf_json_str(&b, name);
		wbuf_str(&b, ",\"timeSlot\":null,\"@timestamp\":null,\"closedAt\":null,"
		             "\"closedAtS\":null,\"docs\":0,\"partial\":false}");
	}
	wbuf_str(&b, listed ? "\n]\n" : "]\n");
	free(sl);
	return web_json(c, &b, web_cache_revalidate);
}

static enum MHD_Result api_slots(struct store *s, struct MHD_Connection *c, const char *site)
{
	struct wbuf b = {0};
	struct doc_list l = {.b = &b};
	int64_t from, to, latest;
	int rc;

	if (!web_range(c, &from, &to))
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_range",
		                 "from and to are Unix seconds, from <= to, at most 31 days apart");
	if ((rc = store_slot_latest(s, site, &latest)))
		return web_store_error(s, c, rc);
	rc = store_doc_range(s, site, "slot", from, to, doc_list_add, &l);
	if (rc < 0) {
		free(b.p);
		return web_store_error(s, c, rc);
	}
	doc_list_end(&l);
	return web_json(c, &b, web_cache_revalidate);
}

/* {timeSlot|latest} of site into *ts; false when it names no stored slot. */
static int web_slot_of(struct store *s, const char *site, const char *seg, int64_t *ts, bool *named)
{
	struct store_slot sl;

	*named = strcmp(seg, "latest") != 0;
	if (!*named)
		return store_slot_latest(s, site, ts);
	if (!web_parse_i64(seg, 0, INT64_MAX / STORE_SLOT_SECONDS, ts))
		return -EINVAL;
	return store_slot_get(s, site, *ts, &sl);
}

/*
 * The answer cached for key (site, slot), built through s on a miss: fn
 * walks the documents into it. *out gets a reference (the caller's). 0, or
 * a store code, -E2BIG (over WEB_BODY_MAX_BYTES), -ENOMEM.
 */
static int web_answer_of(struct web *w, struct store *s, const char *key, const char *site,
                         int64_t ts,
                         int (*walk)(struct store *s, const char *site, int64_t ts, const void *arg,
                                     struct web_answer *a),
                         const void *arg, struct web_answer **out)
{
	struct web_answer *a;
	int64_t gen;
	int rc;

	*out = NULL;
	if ((rc = web_cache_sync(w->cache, s, &gen)))
		return rc;
	if ((*out = web_cache_get(w->cache, key)))
		return 0;
	if (!(a = web_answer_new(key, site, ts)))
		return -ENOMEM;
	rc = walk(s, site, ts, arg, a);
	if (rc >= 0 || a->b.over)
		rc = web_answer_end(a);
	if (rc) {
		web_answer_put(a);
		return rc;
	}
	web_cache_put(w->cache, a, gen);
	*out = a;
	return 0;
}

/* Does the client take gzip (Accept-Encoding: gzip or *, q not 0)? */
static bool web_accepts_gzip(struct MHD_Connection *c)
{
	const char *h =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);

	while (h && *h) {
		size_t n, name;
		h += strspn(h, " \t,");
		n = strcspn(h, ",");
		name = strcspn(h, "; \t,");
		if ((name == 4 && strncasecmp(h, "gzip", 4) == 0) || (name == 1 && *h == '*')) {
			const char *semi = memchr(h, ';', n);
			const char *q = semi ? semi + 1 + strspn(semi + 1, " \t") : NULL;
			if (!q || q >= h + n || (q[0] != 'q' && q[0] != 'Q') || q[1] != '=')
				return true;
			return strtod(q + 2, NULL) > 0;
		}
		h += n;
	}
	return false;
}

/*
 * Queue a 200 of body p[0..len) (JSON), released by release(cls) when MHD
 * is done with it (or now, on a 304 or failure). The answer negotiates its
 * encoding: Vary: Accept-Encoding, and Content-Encoding: gzip when gz.
 */
static enum MHD_Result web_reply_held(struct MHD_Connection *c, const char *p, size_t len,
                                      void (*release)(void *), void *cls, const char *etag,
                                      const char *cache, bool gz, size_t total)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	char count[24];

	if (web_not_modified(c, etag)) {
		release(cls);
		status = MHD_HTTP_NOT_MODIFIED;
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_buffer_with_free_callback_cls(
		    len, (void *)(uintptr_t)p, release, cls);
		if (!r)
			release(cls);
	}
	if (!r)
		return MHD_NO;
	if (status == MHD_HTTP_OK) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		if (gz)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
		snprintf(count, sizeof(count), "%zu", total);
		MHD_add_response_header(r, "X-Total-Count", count);
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	web_headers(r);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * Send b (a JSON array built for this request; freed here) as a 200 that
 * negotiates gzip, with X-Total-Count total.
 */
static enum MHD_Result web_send_built(struct MHD_Connection *c, struct wbuf *b, const char *cache,
                                      size_t total)
{
	char etag[WEB_ETAG_MAX];
	unsigned char *zp;
	size_t zl;

	if (b->oom || b->over) {
		free(b->p);
		if (b->oom)
			return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory",
			                 "out of memory");
		return web_error(c, MHD_HTTP_BAD_REQUEST, "too_large",
		                 "the answer would exceed the size limit; ask for smaller pages");
	}
	/* Built per request: the fastest level, it is sent once. */
	if (web_accepts_gzip(c) && b->len >= WEB_GZIP_MIN &&
	    web_gzip(b->p, b->len, 1, &zp, &zl) == 0) {
		web_etag_make(b->p, b->len, "g", etag);
		free(b->p);
		return web_reply_held(c, (const char *)zp, zl, free, zp, etag, cache, true, total);
	}
	web_etag_make(b->p, b->len, NULL, etag);
	return web_reply_held(c, b->p, b->len, free, b->p, etag, cache, false, total);
}

/*
 * Send a (the caller's reference, consumed), all of it or documents
 * [offset, offset + limit) when paged, gzip-compressed when the client
 * takes it and the answer is not small.
 */
static enum MHD_Result web_send_answer(struct web *w, struct MHD_Connection *c,
                                       struct web_answer *a, bool paged, size_t offset,
                                       size_t limit, const char *cache)
{
	bool gz = web_accepts_gzip(c);
	const unsigned char *z;
	const char *slice;
	size_t zl, sl, total = a->n_docs;
	struct wbuf b = {0};

	if (!paged) {
		if (gz && a->b.len >= WEB_GZIP_MIN && web_answer_gzip(w->cache, a, &z, &zl) == 0)
			return web_reply_held(c, (const char *)z, zl, web_answer_put, a, a->gz_etag,
			                      cache, true, total);
		return web_reply_held(c, a->b.p, a->b.len, web_answer_put, a, a->etag, cache, false,
		                      total);
	}
	if (web_answer_slice(a, offset, limit, &slice, &sl) == 0) {
		wbuf_add(&b, "[\n", 2);
		wbuf_add(&b, slice, sl);
		wbuf_add(&b, "\n]\n", 3);
	} else {
		wbuf_add(&b, "[]\n", 3);
	}
	web_answer_put(a);
	return web_send_built(c, &b, cache, total);
}

/* A failed slot-wide answer: too large, out of memory, or the store's error. */
static enum MHD_Result web_answer_error(struct store *s, struct MHD_Connection *c, int rc)
{
	if (rc == -E2BIG)
		return web_error(c, MHD_HTTP_BAD_REQUEST, "too_large",
		                 "the answer would exceed the size limit; ask for pages");
	if (rc == -ENOMEM)
		return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "out of memory");
	return web_store_error(s, c, rc);
}

static int walk_labelled(struct store *s, const char *site, int64_t ts, const void *arg,
                         struct web_answer *a)
{
	(void)arg;
	return store_labelled_foreach(s, site, ts, web_answer_add, a);
}

/* The cache keys of the labelled and top answers. */
static void labelled_key(char *key, size_t n, const char *site, int64_t ts)
{
	snprintf(key, n, "labelled/%s/%lld", site, (long long)ts);
}

struct top_args {
	const char *kind, *by;
	size_t n;
};

static void top_key(char *key, size_t n, const char *site, int64_t ts, const struct top_args *t)
{
	snprintf(key, n, "top/%s/%lld/%s/%s/%zu", site, (long long)ts, t->kind, t->by, t->n);
}

static int walk_top(struct store *s, const char *site, int64_t ts, const void *arg,
                    struct web_answer *a)
{
	const struct top_args *t = arg;

	return store_doc_top(s, site, ts, t->kind, t->by, t->n, web_answer_add, a);
}

/* What the page asks for first (src/web/www/app.js): built ahead of its first request. */
static const struct top_args web_warm_tops[] = {
    {.kind = "inside", .by = "octets", .n = 10},
    {.kind = "outside", .by = "fromOctets", .n = 10},
};

/*
 * Build (and gzip, and give the table's rows) the latest slot's labelled
 * and top answers of every stored site that the cache lacks, through s. Errors are left to the
 * requests, which will meet them again and report them.
 */
static void web_warm_once(struct web *w, struct store *s)
{
	struct store_slot *sl = calloc(WEB_SITES_MAX, sizeof(*sl));
	struct web_answer *a;
	const struct web_rows *rows;
	const unsigned char *z;
	char key[sizeof(a->key)];
	size_t n = 0, zl;

	if (!sl)
		return;
	if (store_site_list(s, sl, WEB_SITES_MAX, &n) != 0)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(sl[i].site, REPUTATION_SITE) == 0)
			continue;
		labelled_key(key, sizeof(key), sl[i].site, sl[i].time_slot);
		if (web_answer_of(w, s, key, sl[i].site, sl[i].time_slot, walk_labelled, NULL,
		                  &a) == 0) {
			if (a->b.len >= WEB_GZIP_MIN)
				web_answer_gzip(w->cache, a, &z, &zl);
			/* The page asks for the table's rows (?sort=), not the stored order. */
			web_answer_rows(w->cache, a, &rows);
			web_answer_put(a);
		}
		for (size_t t = 0; t < sizeof(web_warm_tops) / sizeof(web_warm_tops[0]); t++) {
			top_key(key, sizeof(key), sl[i].site, sl[i].time_slot, &web_warm_tops[t]);
			if (web_answer_of(w, s, key, sl[i].site, sl[i].time_slot, walk_top,
			                  &web_warm_tops[t], &a) == 0)
				web_answer_put(a);
		}
	}
	free(sl);
}

/* Warm-up thread: at start, then whenever the store has been written since the last look. */
static void *web_warm_main(void *ud)
{
	struct web *w = ud;
	int64_t seen = -1, gen;

	pthread_setname_np(pthread_self(), "nfs-webwarm");
	pthread_mutex_lock(&w->warm_mu);
	while (!w->warm_stop) {
		pthread_mutex_unlock(&w->warm_mu);
		struct web_conn *k = web_conn_get(w);
		if (web_cache_sync(w->cache, k->store, &gen) == 0 && gen != seen) {
			web_warm_once(w, k->store);
			seen = gen;
			__atomic_add_fetch(&w->warm_passes, 1, __ATOMIC_RELEASE);
		}
		web_conn_put(k);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += WEB_WARM_EVERY_S;
		pthread_mutex_lock(&w->warm_mu);
		while (!w->warm_stop &&
		       pthread_cond_timedwait(&w->warm_cv, &w->warm_mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&w->warm_mu);
	return NULL;
}

/*
 * ?sort=&label=&kind= of the labelled route into q; *rows_view is true when
 * one of them is given (the answer is then rows, not documents as stored).
 * false: a value is not one the route knows.
 */
static bool labelled_query(struct MHD_Connection *c, struct web_rows_query *q, bool *rows_view)
{
	const char *ss = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sort");
	const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "label");
	const char *ks = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind");
	const char *letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	int v;

	*rows_view = ss || ls || ks;
	q->sort = WEB_ROWS_SEVERITY;
	q->label = NULL;
	q->kinds = 0;
	if (ss && *ss) {
		if ((v = web_rows_sort_parse(ss)) < 0)
			return false;
		q->sort = v;
	}
	if (ks && *ks) {
		if ((v = web_rows_kind_parse(ks)) < 0)
			return false;
		q->kinds = (unsigned)v;
	}
	if (ls && *ls) {
		size_t n = strspn(ls, letters);
		if (ls[n] != '\0' || n > 63)
			return false;
		q->label = ls;
	}
	return true;
}

static enum MHD_Result api_labelled(struct web *w, struct store *s, struct MHD_Connection *c,
                                    char **seg)
{
	const char *site = seg[3], *slot_seg = seg[5];
	const char *os = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset");
	const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	int64_t ts, offset = 0, limit = WEB_PAGE_MAX;
	struct web_rows_query q;
	const struct web_rows *rows;
	struct web_answer *a;
	char key[sizeof(a->key)];
	struct wbuf b = {0};
	size_t total;
	bool named, rows_view;
	int rc;

	if ((os && !web_parse_i64(os, 0, INT32_MAX, &offset)) ||
	    (ls && !web_parse_i64(ls, 1, WEB_PAGE_MAX, &limit)))
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
		                 "offset is 0 or more; limit is 1..100000");
	if (!labelled_query(c, &q, &rows_view))
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
		                 "sort is severity, ip, kind or labels; kind is inside, outside or "
		                 "offender; label is a label name");
	rc = web_slot_of(s, site, slot_seg, &ts, &named);
	if (rc == -EINVAL)
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_slot",
		                 "the slot is a timeSlot (Unix seconds / 300) or latest");
	if (rc)
		return web_store_error(s, c, rc);
	labelled_key(key, sizeof(key), site, ts);
	if ((rc = web_answer_of(w, s, key, site, ts, walk_labelled, NULL, &a)))
		return web_answer_error(s, c, rc);
	if (!rows_view)
		return web_send_answer(w, c, a, os || ls, (size_t)offset, (size_t)limit,
		                       named ? web_cache_immutable : web_cache_revalidate);
	/* The table's rows: sorted and filtered from the cached answer, never the store. */
	if ((rc = web_answer_rows(w->cache, a, &rows))) {
		web_answer_put(a);
		return web_answer_error(s, c, rc);
	}
	q.offset = (size_t)offset;
	q.limit = (size_t)limit;
	web_rows_page(a, rows, &q, &b, &total);
	web_answer_put(a);
	return web_send_built(c, &b, named ? web_cache_immutable : web_cache_revalidate, total);
}

static enum MHD_Result api_top(struct web *w, struct store *s, struct MHD_Connection *c,
                               const char *site, const char *slot_seg)
{
	static const char *const kinds[] = {"inside", "outside", "offender"};
	static const char *const fields[] = {"octets",     "packets",     "flows", "inOctets",
	                                     "fromOctets", "fromPackets", "peers", "touchPeers"};
	const char *kind = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind");
	const char *by = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "by");
	const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
	struct web_answer *a;
	char key[sizeof(a->key)];
	bool kind_ok = false, by_ok = false, named;
	int64_t n = 10, ts;
	int rc;

	if (!by)
		by = "octets";
	for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		kind_ok |= strcmp(kind, kinds[i]) == 0;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		by_ok |= strcmp(by, fields[i]) == 0;
	if (!kind_ok || !by_ok || (ns && !web_parse_i64(ns, 1, WEB_TOP_MAX, &n)))
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
		                 "kind is inside, outside or offender; by is a counter field; "
		                 "n is 1..100");
	rc = web_slot_of(s, site, slot_seg, &ts, &named);
	if (rc == -EINVAL)
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_slot",
		                 "the slot is a timeSlot (Unix seconds / 300) or latest");
	if (rc)
		return web_store_error(s, c, rc);
	/* kind and by are from the lists above: the key holds no request text. */
	struct top_args t = {.kind = kind, .by = by, .n = (size_t)n};
	top_key(key, sizeof(key), site, ts, &t);
	if ((rc = web_answer_of(w, s, key, site, ts, walk_top, &t, &a)))
		return web_answer_error(s, c, rc);
	return web_send_answer(w, c, a, false, 0, 0,
	                       named ? web_cache_immutable : web_cache_revalidate);
}

static enum MHD_Result api_ip(struct store *s, struct MHD_Connection *c, const char *ip)
{
	struct wbuf b = {0};
	struct doc_list l = {.b = &b};
	struct flow_addr a;
	char key[64];
	int64_t from, to;
	int rc;

	/* The key as the documents spell it: IPv4 dotted (also from ::ffff:a.b.c.d), IPv6
	 * canonical. */
	if (strlen(ip) >= sizeof(key) || flow_addr_parse(ip, &a) < 0 ||
	    flow_addr_format(&a, key, sizeof(key)) == 0)
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_ip", "not an IPv4 or IPv6 address");
	if (!web_range(c, &from, &to))
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_range",
		                 "from and to are Unix seconds, from <= to, at most 31 days apart");
	rc = store_key_range(s, key, from, to, doc_list_add, &l);
	if (rc < 0) {
		free(b.p);
		return web_store_error(s, c, rc);
	}
	if (l.n == 0 && !b.over) {
		free(b.p);
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		                 "no document of this IP in the range");
	}
	doc_list_end(&l);
	return web_json(c, &b, web_cache_revalidate);
}

/* The feed's answers need it; without one (replay-only tests) they are 404. */
static enum MHD_Result web_no_feed(struct MHD_Connection *c)
{
	return web_error(c, MHD_HTTP_NOT_FOUND, "not_found",
	                 "no collector runs with this server (no live counters)");
}

/* The store's file-wide counters through our connection; false when unreadable (logged). */
static bool web_store_stats(struct web *w, struct store_stats *st)
{
	struct web_conn *k = web_conn_get(w);
	bool ok = true;

	memset(st, 0, sizeof(*st));
	if (store_stats_get(k->store, st) != 0) {
		log_warn("web: store counters: %s", store_error_get(k->store));
		ok = false;
	}
	web_conn_put(k);
	return ok;
}

static enum MHD_Result web_metrics(struct web *w, struct MHD_Connection *c)
{
	struct store_stats st;
	char *text = NULL;
	size_t len = 0;
	bool ok;

	if (!w->feed)
		return web_no_feed(c);
	ok = web_store_stats(w, &st);
	if (web_feed_prometheus(w->feed, ok ? &w->store_table : NULL, &st, &text, &len) != 0)
		return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "out of memory");
	return web_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
	                 WEB_BODY_FREE, NULL, NULL);
}

static enum MHD_Result api_collector(struct web *w, struct MHD_Connection *c)
{
	struct store_stats st;
	char *text = NULL;
	size_t len = 0;
	struct timespec now;

	if (!w->feed)
		return web_no_feed(c);
	clock_gettime(CLOCK_REALTIME, &now);
	bool ok = web_store_stats(w, &st);
	if (web_feed_collector_json(w->feed, ok ? &w->store_table : NULL, &st,
	                            (uint64_t)now.tv_sec * 1000, &text, &len) != 0)
		return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "out of memory");
	return web_reply(c, MHD_HTTP_OK, "application/json", text, len, WEB_BODY_FREE,
	                 web_cache_revalidate, NULL);
}

/* /api/v1/sites/{site}/advice: what to do about each label, from the configuration. */
static enum MHD_Result api_advice(struct web *w, struct MHD_Connection *c, const char *site)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!w->feed)
		return web_no_feed(c);
	rc = web_feed_advice_json(w->feed, site, &text, &len);
	if (rc == -ENOENT)
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such site");
	if (rc)
		return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "out of memory");
	return web_reply(c, MHD_HTTP_OK, "application/json", text, len, WEB_BODY_FREE,
	                 web_cache_revalidate, NULL);
}

/* /api/v1/sites/{site}/slots/latest/peers/{ip}: from the feed's copy of the last slot. */
static enum MHD_Result api_peers(struct web *w, struct MHD_Connection *c, const char *site,
                                 const char *slot_seg, const char *ip)
{
	const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
	struct web_feed_slot *s;
	struct flow_addr a;
	int64_t n = 100;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!w->feed)
		return web_no_feed(c);
	if (strcmp(slot_seg, "latest") != 0)
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		                 "peers are kept for the latest slot only");
	if (strlen(ip) >= 64 || flow_addr_parse(ip, &a) < 0)
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_ip", "not an IPv4 or IPv6 address");
	if (ns && !web_parse_i64(ns, 1, WEB_FEED_PEERS_MAX, &n))
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter", "n is 1..10000");
	s = web_feed_latest(w->feed, site);
	if (!s)
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		                 "no slot of this site closed since the collector started");
	rc = web_feed_peers_json(s, &a, (size_t)n, &text, &len);
	web_feed_slot_put(s);
	if (rc == -ENOENT)
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		                 "the IP has no conversation in the latest slot");
	if (rc)
		return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "out of memory");
	return web_reply(c, MHD_HTTP_OK, "application/json", text, len, WEB_BODY_FREE,
	                 web_cache_revalidate, NULL);
}

/* ---- offenders, block-list, attacks, daily (pages.c) ---------------------- */

/* A pages.c result as an answer: b (JSON or text) on 0, else the error the code names. */
static enum MHD_Result web_page_answer(struct MHD_Connection *c, int rc, struct wbuf *b,
                                       const char *ctype, const char *what)
{
	if (rc == 0)
		return web_reply(c, MHD_HTTP_OK, ctype, b->p, b->len, WEB_BODY_FREE,
		                 web_cache_revalidate, NULL);
	free(b->p);
	if (rc == -EINVAL)
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter", what);
	if (rc == -ENOENT)
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found", what);
	if (rc == -E2BIG)
		return web_error(c, MHD_HTTP_BAD_REQUEST, "too_large",
		                 "the answer would exceed the size limit; narrow the request");
	if (rc == -ENOMEM)
		return web_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "out of memory");
	log_warn("web: %s: read failed (%s)", what, strerror(-rc));
	return web_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store", "the data could not be read");
}

/* ?blocked= as a boolean: absent, "", "0", "false" or "1", "true". */
static bool web_parse_bool(const char *s, bool *out)
{
	if (!s || !*s || strcmp(s, "0") == 0 || strcmp(s, "false") == 0) {
		*out = false;
		return true;
	}
	if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0) {
		*out = true;
		return true;
	}
	return false;
}

/* An IP parameter in the documents' spelling into key; false when it is not an address. */
static bool web_ip_key(const char *ip, char key[64])
{
	struct flow_addr a;

	return strlen(ip) < 64 && flow_addr_parse(ip, &a) == 0 && flow_addr_format(&a, key, 64) > 0;
}

/* The offender database's path as set by web_reputation_set(), into db. */
static void web_rep_db(struct web *w, char db[REPUTATION_PATH_MAX])
{
	pthread_mutex_lock(&w->rep_mu);
	memcpy(db, w->rep_db, REPUTATION_PATH_MAX);
	pthread_mutex_unlock(&w->rep_mu);
}

static enum MHD_Result api_offenders(struct web *w, struct MHD_Connection *c)
{
	const char *bs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "blocked");
	const char *ip = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ip");
	const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	const char *os = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset");
	const char *ss = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sort");
	const char *what = "no offender database (reputation off, or nothing recorded yet)";
	struct wbuf b = {0};
	char key[64], db[REPUTATION_PATH_MAX];
	int64_t limit = 10000, offset = 0;
	int sort = ss && *ss ? web_offenders_sort_parse(ss) : WEB_OFF_IP;
	size_t total;
	bool blocked;
	int rc;

	if (!web_parse_bool(bs, &blocked) || (ip && *ip && !web_ip_key(ip, key)) ||
	    (ls && !web_parse_i64(ls, 1, 1000000, &limit)) ||
	    (os && !web_parse_i64(os, 0, INT32_MAX, &offset)) || sort < 0)
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
		                 "blocked is 1 or 0, ip an IPv4 or IPv6 address, limit 1..1000000, "
		                 "offset 0 or more, sort ip, offences, sites, labels or until");
	web_rep_db(w, db);
	rc = web_offenders_build(db, blocked, ip && *ip ? key : NULL, sort, (size_t)offset,
	                         (size_t)limit, &b, &total);
	if (rc == 0)
		return web_send_built(c, &b, web_cache_revalidate, total);
	if (rc == -E2BIG && !b.over) {
		free(b.p);
		return web_error(c, MHD_HTTP_BAD_REQUEST, "too_large",
		                 "more offenders than one request sorts; ask for blocked=1");
	}
	return web_page_answer(c, rc, &b, "application/json", what);
}

static enum MHD_Result web_blocklist(struct web *w, struct MHD_Connection *c)
{
	struct wbuf b = {0};
	char db[REPUTATION_PATH_MAX];

	web_rep_db(w, db);
	int rc = web_blocklist_build(db, (int64_t)time(NULL), &b);

	return web_page_answer(c, rc, &b, "text/plain; charset=utf-8",
	                       "no offender database (reputation off, or nothing recorded yet)");
}

static enum MHD_Result api_attacks(struct web *w, struct store *s, struct MHD_Connection *c)
{
	const char *site = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "site");
	const char *ip = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ip");
	struct wbuf b = {0};
	int64_t from, to;
	char key[64];

	if (site && *site && !web_site_ok(site))
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such site");
	if (ip && *ip && !web_ip_key(ip, key))
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_ip", "not an IPv4 or IPv6 address");
	if (!web_range(c, &from, &to))
		return web_error(c, MHD_HTTP_BAD_REQUEST, "bad_range",
		                 "from and to are Unix seconds, from <= to, at most 31 days apart");
	int rc = web_attacks_build(s, web_feed_attacks(w->feed), site && *site ? site : NULL,
	                           ip && *ip ? key : NULL, from, to, &b);
	return web_page_answer(c, rc, &b, "application/json", "attacks");
}

static enum MHD_Result api_daily(struct store *s, struct MHD_Connection *c, const char *site)
{
	const char *date = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "date");
	struct wbuf b = {0};
	int rc = web_daily_build(s, site, date && *date ? date : NULL, &b);

	return web_page_answer(c, rc, &b, "application/json",
	                       rc == -EINVAL
	                           ? "date is YYYY-MM-DD"
	                           : "no daily analysis of this site (and day) is stored");
}

/* ---- routes --------------------------------------------------------------- */

/* Every handler of the route table: seg are the path's segments, s NULL with WEB_ROUTE_NO_STORE. */
typedef enum MHD_Result (*web_route_fn)(struct web *w, struct store *s, struct MHD_Connection *c,
                                        char **seg);

static enum MHD_Result route_healthz(struct web *w, struct store *s, struct MHD_Connection *c,
                                     char **seg)
{
	(void)w, (void)s, (void)seg;
	return web_reply(c, MHD_HTTP_OK, "application/json", (char *)"{\"status\":\"ok\"}\n", 16,
	                 WEB_BODY_STATIC, NULL, NULL);
}

static enum MHD_Result route_metrics(struct web *w, struct store *s, struct MHD_Connection *c,
                                     char **seg)
{
	(void)s, (void)seg;
	return web_metrics(w, c);
}

static enum MHD_Result route_blocklist(struct web *w, struct store *s, struct MHD_Connection *c,
                                       char **seg)
{
	(void)s, (void)seg;
	return web_blocklist(w, c);
}

static enum MHD_Result route_sites(struct web *w, struct store *s, struct MHD_Connection *c,
                                   char **seg)
{
	(void)seg;
	return api_sites(w, s, c);
}

static enum MHD_Result route_slots(struct web *w, struct store *s, struct MHD_Connection *c,
                                   char **seg)
{
	(void)w;
	return api_slots(s, c, seg[3]);
}

static enum MHD_Result route_advice(struct web *w, struct store *s, struct MHD_Connection *c,
                                    char **seg)
{
	(void)s;
	return api_advice(w, c, seg[3]);
}

static enum MHD_Result route_top(struct web *w, struct store *s, struct MHD_Connection *c,
                                 char **seg)
{
	return api_top(w, s, c, seg[3], seg[5]);
}

static enum MHD_Result route_peers(struct web *w, struct store *s, struct MHD_Connection *c,
                                   char **seg)
{
	(void)s;
	return api_peers(w, c, seg[3], seg[5], seg[7]);
}

static enum MHD_Result route_daily(struct web *w, struct store *s, struct MHD_Connection *c,
                                   char **seg)
{
	(void)w;
	return api_daily(s, c, seg[3]);
}

static enum MHD_Result route_offenders(struct web *w, struct store *s, struct MHD_Connection *c,
                                       char **seg)
{
	(void)s, (void)seg;
	return api_offenders(w, c);
}

static enum MHD_Result route_attacks(struct web *w, struct store *s, struct MHD_Connection *c,
                                     char **seg)
{
	(void)seg;
	return api_attacks(w, s, c);
}

static enum MHD_Result route_collector(struct web *w, struct store *s, struct MHD_Connection *c,
                                       char **seg)
{
	(void)s, (void)seg;
	return api_collector(w, c);
}

static enum MHD_Result route_ip(struct web *w, struct store *s, struct MHD_Connection *c,
                                char **seg)
{
	(void)w;
	return api_ip(s, c, seg[3]);
}

/*
 * Every route but the embedded files: the path as segments ("*": any
 * segment; "{site}": a site name, checked against the configuration's
 * grammar before the handler runs, 404 otherwise), the methods it answers
 * and its flags. The first match wins.
 */
struct web_route {
	const char *path[WEB_PATH_SEGMENTS]; /* NULL after the last segment */
	unsigned methods;                    /* WEB_ROUTE_GET | WEB_ROUTE_HEAD */
	unsigned flags;                      /* WEB_ROUTE_PUBLIC, WEB_ROUTE_NO_STORE */
	web_route_fn fn;
};

#define WEB_GH (WEB_ROUTE_GET | WEB_ROUTE_HEAD)

static const struct web_route web_routes[] = {
    {{"healthz"}, WEB_GH, WEB_ROUTE_PUBLIC | WEB_ROUTE_NO_STORE, route_healthz},
    /* The feed's answers: the store's file counters come through a connection of their own. */
    {{"metrics"}, WEB_GH, WEB_ROUTE_NO_STORE, route_metrics},
    {{"blocklist.txt"}, WEB_GH, WEB_ROUTE_NO_STORE, route_blocklist},
    {{"api", "v1", "sites"}, WEB_GH, 0, route_sites},
    {{"api", "v1", "sites", "{site}", "slots"}, WEB_GH, 0, route_slots},
    {{"api", "v1", "sites", "{site}", "advice"}, WEB_GH, WEB_ROUTE_NO_STORE, route_advice},
    {{"api", "v1", "sites", "{site}", "slots", "*", "labelled"}, WEB_GH, 0, api_labelled},
    {{"api", "v1", "sites", "{site}", "slots", "*", "top"}, WEB_GH, 0, route_top},
    {{"api", "v1", "sites", "{site}", "slots", "*", "peers", "*"},
     WEB_GH,
     WEB_ROUTE_NO_STORE,
     route_peers},
    {{"api", "v1", "sites", "{site}", "daily", "latest"}, WEB_GH, 0, route_daily},
    {{"api", "v1", "offenders"}, WEB_GH, WEB_ROUTE_NO_STORE, route_offenders},
    {{"api", "v1", "attacks"}, WEB_GH, 0, route_attacks},
    {{"api", "v1", "collector"}, WEB_GH, WEB_ROUTE_NO_STORE, route_collector},
    {{"api", "v1", "ip", "*"}, WEB_GH, 0, route_ip},
};

/* The route whose pattern seg[0..n) fits, or NULL; *bad_site when only a {site} failed. */
static const struct web_route *web_route_find(char **seg, size_t n, bool *bad_site)
{
	*bad_site = false;
	for (size_t r = 0; r < sizeof(web_routes) / sizeof(web_routes[0]); r++) {
		const struct web_route *rt = &web_routes[r];
		bool fits = true, site_ok = true;
		size_t i;
		for (i = 0; i < n && fits; i++) {
			const char *p = rt->path[i];
			if (!p)
				fits = false;
			else if (strcmp(p, "{site}") == 0)
				site_ok = web_site_ok(seg[i]);
			else if (strcmp(p, "*") != 0)
				fits = strcmp(p, seg[i]) == 0;
		}
		if (!fits || (i < WEB_PATH_SEGMENTS && rt->path[i]))
			continue;
		if (!site_ok) {
			*bad_site = true;
			continue;
		}
		return rt;
	}
	return NULL;
}

/*
 * url split into segments in path (the caller's buffer): seg[0] is the
 * first after "/". false when the path is too long, has too many segments
 * or an empty one (//, a trailing /): no route has such a path.
 */
static bool web_split(const char *url, char path[WEB_URL_MAX], char **seg, size_t *n)
{
	size_t len = strlen(url);

	*n = 0;
	if (url[0] != '/' || len >= WEB_URL_MAX)
		return false;
	memcpy(path, url, len + 1);
	for (char *p = path + 1;;) {
		char *slash = strchr(p, '/');
		if (*n == WEB_PATH_SEGMENTS)
			return false;
		seg[(*n)++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	for (size_t i = 0; i < *n; i++) {
		if (seg[i][0] == '\0')
			return false;
	}
	return true;
}

/* GET and HEAD as WEB_ROUTE_* bits; 0 for any other method. */
static unsigned web_method_bit(const char *method)
{
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		return WEB_ROUTE_GET;
	if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
		return WEB_ROUTE_HEAD;
	return 0;
}

int web_route_lookup(const char *method, const char *url, unsigned *flags)
{
	char path[WEB_URL_MAX], *seg[WEB_PATH_SEGMENTS];
	const struct web_route *rt = NULL;
	unsigned m = web_method_bit(method);
	size_t n;
	bool bad_site = false;

	*flags = 0;
	if (web_split(url, path, seg, &n))
		rt = web_route_find(seg, n, &bad_site);
	if (!rt)
		return m ? -ENOENT : -EPERM;
	if (!(rt->methods & m))
		return -EPERM;
	*flags = rt->flags;
	return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

static enum MHD_Result web_handle(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct web *w = cls;
	char path[WEB_URL_MAX], *seg[WEB_PATH_SEGMENTS];
	const struct web_route *rt = NULL;
	unsigned m = web_method_bit(method);
	struct web_conn *k;
	size_t n = 0;
	bool bad_site = false;
	enum MHD_Result ret;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (web_split(url, path, seg, &n))
		rt = web_route_find(seg, n, &bad_site);
	/* The embedded files and unknown paths answer GET and HEAD, as every route does now. */
	if (!(m & (rt ? rt->methods : WEB_ROUTE_GET | WEB_ROUTE_HEAD)))
		return web_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "only GET and HEAD");
	/* MHD calls first with the headers only: a body announced there is refused unread. */
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (*upload_data_size != 0 || (cl && strcmp(cl, "0") != 0) ||
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return web_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body", "requests carry no body");
	if (rt && (rt->flags & WEB_ROUTE_PUBLIC))
		return rt->fn(w, NULL, c, seg);
	if (!web_authorized(w, c))
		return web_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
		                 "a valid token is required (Authorization: Bearer TOKEN)");
	for (size_t i = 0; i < web_assets_n; i++) {
		const struct web_asset *a = &web_assets[i];
		if (strcmp(url, a->path) == 0)
			return web_reply(c, MHD_HTTP_OK, a->ctype, (char *)a->data, a->len,
			                 WEB_BODY_STATIC, web_cache_revalidate, a->etag);
	}
	if (!rt)
		return web_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		                 bad_site                        ? "no such site"
		                 : strncmp(url, "/api/", 5) == 0 ? "no such API route"
		                                                 : "no such page");
	if (rt->flags & WEB_ROUTE_NO_STORE)
		return rt->fn(w, NULL, c, seg);
	k = web_conn_get(w);
	ret = rt->fn(w, k->store, c, seg);
	web_conn_put(k);
	return ret;
}

/* libmicrohttpd's own complaints (bind failures, TLS errors) into our log. */
__attribute__((format(printf, 2, 0))) static void web_mhd_log(void *cls, const char *fmt,
                                                              va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("web: %s", msg);
}

/* ---- start / stop ------------------------------------------------------- */

static int web_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int web_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Read and check a token file into *tok (owned, NUL-terminated), *tok_len; *tok NULL on error. */
static int web_token_read(const char *path, char **tok, size_t *tok_len, char *err, size_t errlen)
{
	struct stat sb;
	size_t len;
	char *t = NULL;
	int rc = fileio_read_all(path, WEB_TOKEN_MAX_BYTES, &t, &len);

	*tok = NULL;
	if (rc)
		return web_fail(err, errlen, rc, "web token_file %s: %s", path,
		                rc == -EFBIG ? "larger than 1024 bytes" : strerror(-rc));
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' ' ||
	                   t[len - 1] == '\t'))
		t[--len] = '\0';
	if (len == 0 || strlen(t) != len) {
		memset(t, 0, len);
		free(t);
		return web_fail(err, errlen, -EINVAL,
		                "web token_file %s: empty or holds a NUL byte", path);
	}
	if (stat(path, &sb) == 0 && (sb.st_mode & 077))
		log_warn("web: token_file %s is readable by group or others (mode %03o)", path,
		         (unsigned)(sb.st_mode & 0777));
	*tok = t;
	*tok_len = len;
	return 0;
}

static int web_token_load(struct web *w, const char *path, char *err, size_t errlen)
{
	return web_token_read(path, &w->token, &w->token_len, err, errlen);
}

int web_token_reload(struct web *w, const char *path, bool *changed, char *err, size_t errlen)
{
	char *t = NULL, *old;
	size_t len = 0, old_len;
	int rc;

	*changed = false;
	if (path[0] && (rc = web_token_read(path, &t, &len, err, errlen)))
		return rc;
	pthread_mutex_lock(&w->token_lock);
	old = w->token;
	old_len = w->token_len;
	*changed =
	    (old == NULL) != (t == NULL) || (t && (old_len != len || memcmp(old, t, len) != 0));
	if (*changed) {
		w->token = t;
		w->token_len = len;
	}
	pthread_mutex_unlock(&w->token_lock);
	/* Whichever is not in force now: no request reads it any more. */
	if (*changed)
		t = old, len = old_len;
	if (t)
		memset(t, 0, len);
	free(t);
	return 0;
}

static int web_listen_one(struct web *w, const struct web_config *wc, const struct udpin_listen *l,
                          char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, l->host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(l->port);
	} else if (inet_pton(AF_INET6, l->host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(l->port);
		flags |= MHD_USE_IPv6;
	} else {
		return web_fail(err, errlen, -EINVAL, "web listen %s: not an IP address", l->host);
	}
	if (w->cert)
		flags |= MHD_USE_TLS;
	/* The logger first, so MHD's start-up complaints go through it too. */
	struct MHD_OptionItem ops[] = {
	    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)web_mhd_log, NULL},
	    {MHD_OPTION_SOCK_ADDR, 0, &ss},
	    {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)wc->max_connections, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)wc->timeout_s, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)WEB_REQUEST_MEMORY_BYTES, NULL},
	    /* MHD splits the connection limit between the threads: at least one each. */
	    {MHD_OPTION_THREAD_POOL_SIZE,
	     (intptr_t)(wc->max_connections < WEB_THREADS ? wc->max_connections : WEB_THREADS),
	     NULL},
	    {w->cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, w->cert},
	    {w->cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, w->key},
	    {MHD_OPTION_END, 0, NULL},
	};
	d = MHD_start_daemon(flags, l->port, NULL, NULL, web_handle, w, MHD_OPTION_ARRAY, ops,
	                     MHD_OPTION_END);
	if (!d)
		return web_fail(err, errlen, -EADDRNOTAVAIL,
		                "web listen %s%s%s:%u: cannot start the HTTP server (address in "
		                "use or not local?)",
		                ss.ss_family == AF_INET6 ? "[" : "", l->host,
		                ss.ss_family == AF_INET6 ? "]" : "", l->port);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	w->port[w->n] = info ? info->port : l->port;
	w->d[w->n++] = d;
	log_info("web: dashboard and API on %s://%s%s%s:%u/%s", w->cert ? "https" : "http",
	         ss.ss_family == AF_INET6 ? "[" : "", l->host, ss.ss_family == AF_INET6 ? "]" : "",
	         w->port[w->n - 1], w->token ? " (token required)" : "");
	return 0;
}

int web_start(const struct web_config *wc, const char *store_path, struct web **out, char *err,
              size_t errlen)
{
	return web_start_feed(wc, store_path, NULL, out, err, errlen);
}

/* Entries of store_counters about the file, not about the writer's handle. */
static void web_store_table(struct web *w)
{
	size_t n = 0;

	for (size_t i = 0;
	     i < store_counters.n && n < sizeof(w->store_defs) / sizeof(w->store_defs[0]); i++) {
		size_t off = store_counters.v[i].offset;
		if (off == offsetof(struct store_stats, slots_written) ||
		    off == offsetof(struct store_stats, docs_written) ||
		    off == offsetof(struct store_stats, docs_duplicate))
			continue;
		w->store_defs[n++] = store_counters.v[i];
	}
	w->store_table = store_counters;
	w->store_table.v = w->store_defs;
	w->store_table.n = n;
}

int web_start_feed(const struct web_config *wc, const char *store_path, struct web_feed *feed,
                   struct web **out, char *err, size_t errlen)
{
	struct store_opts so;
	struct web *w;
	int64_t gen;
	int rc;

	if (out)
		*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!wc || !store_path || !out || wc->n_listen > WEB_MAX_LISTEN ||
	    wc->max_connections == 0 || wc->timeout_s == 0)
		return web_fail(err, errlen, -EINVAL, "web: bad configuration");
	if (wc->n_listen == 0)
		return 0;
	if (!!wc->cert_file[0] != !!wc->key_file[0])
		return web_fail(err, errlen, -EINVAL, "web: cert_file and key_file go together");
	w = calloc(1, sizeof(*w));
	if (!w)
		return web_fail(err, errlen, -ENOMEM, "web: out of memory");
	for (size_t i = 0; i < WEB_STORE_CONNS; i++)
		pthread_mutex_init(&w->conn[i].lock, NULL);
	pthread_mutex_init(&w->warm_mu, NULL);
	pthread_mutex_init(&w->rep_mu, NULL);
	pthread_cond_init(&w->warm_cv, NULL);
	pthread_mutex_init(&w->token_lock, NULL);
	w->feed = feed;
	web_store_table(w);
	if (wc->token_file[0] && (rc = web_token_load(w, wc->token_file, err, errlen)))
		goto fail;
	if (wc->cert_file[0]) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			rc = web_fail(err, errlen, -ENOTSUP,
			              "web: cert_file given but libmicrohttpd has no TLS");
			goto fail;
		}
		if ((rc = fileio_read_all(wc->cert_file, WEB_PEM_MAX_BYTES, &w->cert, NULL))) {
			web_fail(err, errlen, rc, "web cert_file %s: %s", wc->cert_file,
			         strerror(-rc));
			goto fail;
		}
		if ((rc = fileio_read_all(wc->key_file, WEB_PEM_MAX_BYTES, &w->key, NULL))) {
			web_fail(err, errlen, rc, "web key_file %s: %s", wc->key_file,
			         strerror(-rc));
			goto fail;
		}
	}
	store_opts_defaults(&so);
	so.read_only = true;
	so.cache_kib = 8192 / WEB_STORE_CONNS;
	for (; w->n_conn < WEB_STORE_CONNS; w->n_conn++) {
		if ((rc = store_open(store_path, &so, &w->conn[w->n_conn].store, err, errlen)))
			goto fail;
	}
	if ((rc = web_cache_create(WEB_CACHE_ENTRIES, WEB_CACHE_MAX_BYTES, &w->cache))) {
		web_fail(err, errlen, rc, "web: out of memory");
		goto fail;
	}
	/* Catch up with the store's writes now, so no request pays for reading them all. */
	if ((rc = web_cache_sync(w->cache, w->conn[0].store, &gen))) {
		web_fail(err, errlen, rc, "web: %s: %s", store_path,
		         store_error_get(w->conn[0].store));
		goto fail;
	}
	for (size_t i = 0; i < wc->n_listen; i++) {
		if ((rc = web_listen_one(w, wc, &wc->listen[i], err, errlen)))
			goto fail;
	}
	if ((rc = -pthread_create(&w->warm, NULL, web_warm_main, w))) {
		web_fail(err, errlen, rc, "web: cannot start the warm-up thread: %s",
		         strerror(-rc));
		goto fail;
	}
	w->warm_started = true;
	*out = w;
	return 0;
fail:
	web_stop(w);
	return rc;
}

void web_stop(struct web *w)
{
	if (!w)
		return;
	if (w->warm_started) {
		pthread_mutex_lock(&w->warm_mu);
		w->warm_stop = true;
		pthread_cond_signal(&w->warm_cv);
		pthread_mutex_unlock(&w->warm_mu);
		pthread_join(w->warm, NULL);
	}
	for (size_t i = 0; i < w->n; i++)
		MHD_stop_daemon(w->d[i]);
	for (size_t i = 0; i < w->n_conn; i++)
		store_close(w->conn[i].store);
	for (size_t i = 0; i < WEB_STORE_CONNS; i++)
		pthread_mutex_destroy(&w->conn[i].lock);
	pthread_cond_destroy(&w->warm_cv);
	pthread_mutex_destroy(&w->warm_mu);
	pthread_mutex_destroy(&w->rep_mu);
	web_cache_destroy(w->cache);
	pthread_mutex_destroy(&w->token_lock);
	if (w->token)
		memset(w->token, 0, w->token_len);
	free(w->token);
	free(w->cert);
	if (w->key)
		memset(w->key, 0, strlen(w->key));
	free(w->key);
	free(w);
}

void web_reputation_set(struct web *w, const char *db_path)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->rep_mu);
	snprintf(w->rep_db, sizeof(w->rep_db), "%s", db_path ? db_path : "");
	pthread_mutex_unlock(&w->rep_mu);
}

void web_cache_stats(struct web *w, struct web_cache_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (w && w->cache) {
		web_cache_stats_get(w->cache, st);
		st->warm_passes = __atomic_load_n(&w->warm_passes, __ATOMIC_ACQUIRE);
	}
}

uint16_t web_port(const struct web *w, size_t i)
{
	return w && i < w->n ? w->port[i] : 0;
}
