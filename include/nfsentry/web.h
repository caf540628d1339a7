/*
 * web: the HTTP server of the operator's view: the JSON API under /api/v1/
 * (docs/api.md), the dashboard page and /healthz.
 *
 * It runs on libmicrohttpd's own threads (WEB_THREADS per listen address)
 * and reads the store through its own read-only connections
 * (store_opts.read_only, WEB_STORE_CONNS of them, one per request at a
 * time), never the writer's and never the live slot tables, so nothing it
 * does slows receive. The slot-wide answers (labelled, top) are built once
 * per slot and kept in a bounded cache that follows the store's writes (a
 * warm-up thread builds the latest slot's at start and when a slot lands);
 * large answers go gzip-compressed to clients that accept it. Connections
 * are bounded in number, idle time and request size; only GET and HEAD are
 * served.
 *
 * /metrics, the collector page's counters and the peers of the latest slot
 * come from a struct web_feed (webfeed.h) that the collector's threads
 * publish into; the server never reads their live structures.
 *
 * Not this module's job: taking the collector's snapshots (webfeed.h),
 * alerts (alert.h).
 */
#ifndef NFSENTRY_WEB_H
#define NFSENTRY_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/udpin.h"

#define WEB_MAX_LISTEN 8               /* web.listen entries: one daemon thread each */
#define WEB_PATH_MAX 4096              /* token_file, cert_file, key_file, NUL included */
#define WEB_TOKEN_MAX_BYTES 1024       /* a longer token file is refused */
#define WEB_PEM_MAX_BYTES 1048576      /* a certificate chain or key file */
#define WEB_BODY_MAX_BYTES 67108864    /* one API answer; past it: 400, narrow the range */
#define WEB_RANGE_MAX_S (31 * 86400)   /* from..to of one request */
#define WEB_REQUEST_MEMORY_BYTES 32768 /* per connection: request line and headers */
#define WEB_THREADS 4                  /* request threads per listen address */
#define WEB_STORE_CONNS 4              /* read-only store connections, shared by all threads */
#define WEB_CACHE_ENTRIES 64           /* slot-wide answers kept */
#define WEB_CACHE_MAX_BYTES 67108864   /* their bytes (and gzip copies); one answer <= 1/4 */
#define WEB_PAGE_MAX 100000            /* ?limit= of a labelled page */

/*
 * web: section of the configuration (docs/configuration.md). Held inline
 * so struct config stays a plain copyable struct. Empty strings = not set.
 */
struct web_config {
	struct udpin_listen listen[WEB_MAX_LISTEN]; /* default 127.0.0.1:8080 */
	size_t n_listen;                            /* 0: the web server is off */
	char token_file[WEB_PATH_MAX]; /* bearer token; when set, required on all but /healthz */
	char cert_file[WEB_PATH_MAX];  /* PEM certificate (chain): HTTPS; with key_file */
	char key_file[WEB_PATH_MAX];   /* PEM private key */
	uint32_t max_connections;      /* per listen address, default 64 */
	uint32_t timeout_s;            /* idle connection closed after, default 30 */
};

struct web;

/*
 * Start serving. wc and store_path are borrowed (copied where kept). The
 * store must exist at the current schema (nfsentry run opens its writer
 * first). Reads the token and TLS files now; the token is never logged.
 * With wc->n_listen == 0 nothing starts and *out is NULL (returns 0).
 * On failure nothing is left running, *out is NULL and err holds
 * "web ...: what failed" naming the file or address.
 *
 * Errors: -EINVAL (bad config, empty token), -ENOTSUP (TLS asked, library
 * built without it), -EADDRINUSE and other bind errors, -ENOMEM, or the
 * errno of a file or the store.
 */
int web_start(const struct web_config *wc, const char *store_path, struct web **out, char *err,
              size_t errlen);

struct web_feed;

/*
 * web_start with the collector's feed (borrowed: must outlive w, may be
 * NULL): /metrics, /api/v1/collector and the latest slot's peers read it;
 * without it they answer 404.
 */
int web_start_feed(const struct web_config *wc, const char *store_path, struct web_feed *feed,
                   struct web **out, char *err, size_t errlen);

/*
 * The offender database the offenders page and /blocklist.txt read
 * (reputation_paths(); copied, opened read-only per request); NULL or ""
 * (the default) = none: those routes answer 404. Any thread; NULL w ok.
 */
void web_reputation_set(struct web *w, const char *db_path);

/*
 * The configuration reload: read path (web.token_file; "" = no token, the
 * API open to whoever reaches web.listen) as web_start() does and make it
 * the token every request checks from now on; a request being checked
 * finishes with the token it started with. path is borrowed for the
 * call. *changed says whether the token (or its absence) differs from
 * the one in force; a token the same as before changes nothing. Errors
 * (the file's errno, -EFBIG, -EINVAL for an empty one, -ENOMEM; err names
 * the file, never the token): nothing changed. Any thread but w's own;
 * one caller at a time.
 */
int web_token_reload(struct web *w, const char *path, bool *changed, char *err, size_t errlen);

/* Stop every daemon thread (waits for requests in flight), close the store, free w. NULL ok. */
void web_stop(struct web *w);

/* What the answer cache did since start (web_cache_stats()). */
struct web_cache_stats {
	uint64_t hits;        /* answers served from the cache */
	uint64_t misses;      /* answers built from the store */
	uint64_t stored;      /* built answers kept */
	uint64_t evicted;     /* dropped to stay within WEB_CACHE_* */
	uint64_t invalidated; /* dropped because their slot was written again */
	uint64_t entries;     /* held now */
	uint64_t bytes;       /* their size now */
	uint64_t warm_passes; /* times the warm-up thread built the latest slots' answers */
};

/* The cache's counters into *st (all 0 for w == NULL). */
void web_cache_stats(struct web *w, struct web_cache_stats *st);

/* The port listen address i is bound to (the configured one, or the kernel's for port 0); 0 if
 * none. */
uint16_t web_port(const struct web *w, size_t i);

#endif
