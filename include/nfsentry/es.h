/*
 * es: the Elasticsearch output. Installs the composable index templates
 * (the JSON files in config/es/, built into the program) and ships every slot the store
 * holds, in write order, with _bulk; the position is the store's named
 * cursor "elasticsearch", so a restart resumes where the last run stopped
 * and an outage only grows the backlog.
 *
 * Delivery: a slot's documents go to the daily index of their kind,
 * PREFIX-KIND-YYYY.MM.DD (kind lower-cased, date of the slot, UTC), with the
 * "index" action and the deterministic _id "SITE|KIND|TIMESLOT|KEY": a
 * resend (after a timeout, a crash, or a rewrite of the slot) overwrites,
 * never duplicates. Per-item results are read: 429 and 5xx (for the request
 * or for an item) and transport failures are retried with exponential
 * backoff and jitter; items refused for good (mapping or parse errors) are
 * appended to the dead-letter file with the reason and counted. The cursor
 * moves past a slot only when each of its documents is acknowledged or
 * dead-lettered. Operator view: docs/elasticsearch.md; internals:
 * docs/internals/es.md.
 *
 * Not this module's job: building documents (doc), writing the store
 * (closer), deciding when to stop (main).
 *
 * Threads: a shipper has its own store connection and HTTP handle. Either
 * es_shipper_start() runs it on its own thread (the service), or
 * es_shipper_drain() runs it on the caller's thread (replay, ship); not
 * both at once. es_stats_get() may be called from any thread at any time.
 * Secrets (password, API key) are read from their file or environment
 * variable at create time and never logged.
 */
#ifndef NFSENTRY_ES_H
#define NFSENTRY_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"

/* Longest last-error message kept in struct es_stats, NUL included. */
#define ES_ERROR_MAX 256
/* Sizes of the inline strings of struct es_config, NUL included. */
#define ES_URL_MAX 1024  /* url: scheme, host, port, optional path */
#define ES_PREFIX_MAX 64 /* index_prefix: index names stay far below 255 */
#define ES_NAME_MAX 256  /* username, environment variable names */
#define ES_PATH_MAX 4096 /* files: PATH_MAX on Linux */

/*
 * The shipper's settings: the configuration's elasticsearch: section
 * (docs/elasticsearch.md), which struct config embeds. Absent section:
 * enabled false, store only. Secrets are never held here: only where to
 * read them (a file or an environment variable); es_shipper_create() reads
 * them. At most one of password_file/password_env, at most one of
 * api_key_file/api_key_env, and not both a password and an API key. Empty
 * string = not set. Plain data, inline strings: a struct copy stays valid.
 */
struct es_config {
	bool enabled;                       /* the section is present */
	char url[ES_URL_MAX];               /* http(s)://host[:port][/path], no trailing / */
	char index_prefix[ES_PREFIX_MAX];   /* default "nfsentry" */
	char username[ES_NAME_MAX];         /* basic auth user */
	char password_file[ES_PATH_MAX];    /* file holding the password */
	char password_env[ES_NAME_MAX];     /* variable holding the password */
	char api_key_file[ES_PATH_MAX];     /* file holding the API key (base64 id:key) */
	char api_key_env[ES_NAME_MAX];      /* variable holding the API key */
	char ca_file[ES_PATH_MAX];          /* PEM CA bundle; "" = system CAs */
	bool verify_tls;                    /* default true */
	int bulk_max_bytes;                 /* one _bulk body, default 5 MiB */
	bool gzip;                          /* gzip request bodies, default false */
	uint32_t timeout_s;                 /* one HTTP request, default 30 */
	uint32_t retry_initial_ms;          /* first backoff, default 500 */
	uint32_t retry_max_s;               /* backoff ceiling, default 60 */
	uint32_t drain_timeout_s;           /* ship/replay give up after, default 300 */
	char dead_letter_path[ES_PATH_MAX]; /* default "data/es-dead-letter.jsonl" */
};

struct es_shipper;

/*
 * Counters since the shipper was created (backlog_*: at the last check,
 * at most a second old while shipping). A document "retried" is one whose
 * send had to be repeated (its request or its item failed transiently);
 * each repetition counts.
 */
struct es_stats {
	uint64_t docs_shipped;         /* acknowledged: 2xx, or 409 (already stored) */
	uint64_t docs_retried;         /* item sends repeated after a transient failure */
	uint64_t docs_dead_lettered;   /* refused for good, written to the dead-letter file */
	uint64_t slots_shipped;        /* slots whose every document is acknowledged */
	uint64_t requests;             /* HTTP requests sent (templates and _bulk) */
	uint64_t request_failures;     /* of those: transport error or non-2xx status */
	uint64_t backlog_slots;        /* slots in the store after the cursor */
	uint64_t backlog_docs;         /* their documents */
	uint64_t last_ack_latency_ms;  /* store write of the last shipped slot -> acknowledged */
	uint64_t docs_stale_deleted;   /* left by an earlier write of a slot, deleted by query */
	int64_t cursor_seq;            /* the cursor: last slot seq handled (-1 unknown) */
	uint64_t last_error_at_s;      /* Unix time of last_error; 0 = none yet */
	char last_error[ES_ERROR_MAX]; /* "" or the last failure, with no secrets in it */
};

/*
 * The numeric fields of struct es_stats described (counter.h): all but
 * cursor_seq (a position, -1 when unknown) and last_error (text).
 */
extern const struct counter_table es_counters;

/*
 * Create a shipper for the settings es (copied; es->enabled must be true)
 * and the store at store_path (borrowed; opened here: a connection of its
 * own).
 * Reads the password or API key from its file or environment variable.
 * Contacts nobody. On failure *out is NULL and err names what failed
 * ("elasticsearch: password_file /x: No such file or directory").
 * Errors: -EINVAL (bad option, empty secret), -ENOMEM, -errno of a file,
 * or the store's error.
 */
int es_shipper_create(const struct es_config *es, const char *store_path, struct es_shipper **out,
                      char *err, size_t errlen);

/*
 * Install the index templates, trying for up to wait_ms (0: one attempt with
 * no time limit; otherwise a request still in flight at wait_ms is cut).
 * Returns 0 when all are installed; -EINVAL when the server refused one
 * (4xx: a startup error; err says which and why); -EAGAIN when the server
 * could not be reached or answered 429/5xx within the time (the shipper
 * installs them before its first _bulk anyway). Caller's thread; not while
 * the shipper thread runs.
 */
int es_templates_install(struct es_shipper *sh, uint64_t wait_ms, char *err, size_t errlen);

/*
 * Start the shipping thread: it polls the store (every 250 ms when caught
 * up) and ships until es_shipper_stop(). Returns 0 or -errno (pthread).
 */
int es_shipper_start(struct es_shipper *sh);

/*
 * Ask the thread to finish: it goes on shipping for up to grace_ms (to
 * send the slots written at shutdown), then aborts whatever request is in
 * flight and returns; joins it. What is not acknowledged stays in the
 * store for the next run. No-op when the thread is not running.
 */
void es_shipper_stop(struct es_shipper *sh, uint64_t grace_ms);

/*
 * Ship the whole backlog on the caller's thread, for up to timeout_ms.
 * Returns 0 when the cursor has reached the last slot in the store;
 * -ETIMEDOUT when time ran out first (es_stats_get() then says what is
 * left and why); -EINVAL when a template was refused; another negative
 * code for a store error.
 */
int es_shipper_drain(struct es_shipper *sh, uint64_t timeout_ms);

/* A consistent copy of the counters. Thread-safe. */
void es_stats_get(struct es_shipper *sh, struct es_stats *out);

/* Stop (if running), close the store and free. NULL is a no-op. */
void es_shipper_destroy(struct es_shipper *sh);

#endif
