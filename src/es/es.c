/*
 * es: the shipper. Reads closed slots from its own store connection in seq
 * order after the cursor "elasticsearch", renders each slot's documents as
 * _bulk items (bulk.c), sends them in bodies of at most bulk_max_bytes
 * (http.c), reads every item's result, retries what failed transiently,
 * dead-letters what was refused for good, and moves the cursor past the
 * slot when nothing of it is pending. See include/nfsentry/es.h and
 * docs/internals/es.md.
 */
#include "nfsentry/es.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "internal.h"
#include "nfsentry/clock.h"
#include "nfsentry/doc.h"
#include "nfsentry/log.h"
#include "nfsentry/store.h"

/* Slots fetched from the catalogue per query. */
#define ES_LIST_BATCH 16
/* Poll interval of the thread when caught up. */
#define ES_POLL_MS 250
/* A _bulk response is about 100 bytes per item; far above any real one. */
#define ES_RESPONSE_MAX_BYTES (256u * 1024u * 1024u)
/* Longest secret read from a file or the environment. */
#define ES_SECRET_MAX 4096
/* Backlog is recounted at most this often while shipping. */
#define ES_BACKLOG_EVERY_MS 1000

struct es_shipper {
	struct es_config cfg;
	struct store *store;
	struct es_http *http;
	FILE *dead;      /* dead-letter file, opened at the first refusal */
	bool dead_dirty; /* written since the last fsync */
	bool templates_ok;
	uint64_t rng;

	pthread_t thread;
	bool thread_running;
	pthread_mutex_t mu; /* guards st, stop_requested; cv wakes the thread */
	pthread_cond_t cv;
	bool stop_requested;
	_Atomic uint64_t deadline_ms; /* monotonic; past it requests abort, UINT64_MAX = none */
	uint64_t backlog_at_ms;
	struct es_stats st;
};

/* xorshift64*: jitter only, no security role. */
static uint64_t rnd(struct es_shipper *sh)
{
	uint64_t x = sh->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	sh->rng = x;
	return x * UINT64_C(2685821657736338717);
}

static bool past_deadline(struct es_shipper *sh)
{
	return clock_ms(CLOCK_MONOTONIC) >= atomic_load(&sh->deadline_ms);
}

static int abort_check(void *ud)
{
	return past_deadline(ud);
}

__attribute__((format(printf, 2, 3))) static void set_error(struct es_shipper *sh, const char *fmt,
                                                            ...)
{
	char msg[ES_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&sh->mu);
	bool same = strcmp(sh->st.last_error, msg) == 0;
	memcpy(sh->st.last_error, msg, sizeof(msg));
	sh->st.last_error_at_s = clock_ms(CLOCK_REALTIME) / 1000;
	pthread_mutex_unlock(&sh->mu);
	/* The same failure repeating (an outage) is logged once, not once per retry. */
	if (!same)
		log_warn("elasticsearch: %s", msg);
}

static void count(struct es_shipper *sh, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&sh->mu);
	*field += n;
	pthread_mutex_unlock(&sh->mu);
}

/*
 * Wait up to ms on cv (woken early by a stop request), or not at all once a
 * stop has been requested. Takes and releases mu.
 */
static void wait_unless_stopping(struct es_shipper *sh, uint64_t ms)
{
	struct timespec ts;

	/* cv waits on CLOCK_MONOTONIC (es_shipper_create). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sh->mu);
	if (!sh->stop_requested)
		pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
	pthread_mutex_unlock(&sh->mu);
}

/*
 * Wait ms (cut short by the deadline or a stop request). Returns -ETIMEDOUT
 * when the deadline is reached, 0 otherwise.
 */
static int sleep_ms(struct es_shipper *sh, uint64_t ms)
{
	uint64_t now = clock_ms(CLOCK_MONOTONIC), dl = atomic_load(&sh->deadline_ms);

	if (now >= dl)
		return -ETIMEDOUT;
	if (dl - now < ms)
		ms = dl - now;
	wait_unless_stopping(sh, ms);
	return past_deadline(sh) ? -ETIMEDOUT : 0;
}

/* ---- secrets ------------------------------------------------------------ */

/*
 * A secret from a file (trailing newlines dropped) or an environment
 * variable, into a new string. Messages name the file or variable, never
 * the content.
 */
static int secret_read(const char *file, const char *env, const char *what, char **out, char *err,
                       size_t errlen)
{
	char buf[ES_SECRET_MAX + 2];
	size_t n;

	*out = NULL;
	if (file[0]) {
		FILE *f = fopen(file, "r");
		if (!f) {
			int e = errno;
			snprintf(err, errlen, "elasticsearch: %s_file %s: %s", what, file,
			         strerror(e));
			return -e;
		}
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		if (n > ES_SECRET_MAX) {
			snprintf(err, errlen, "elasticsearch: %s_file %s: longer than %d bytes",
			         what, file, ES_SECRET_MAX);
			return -EINVAL;
		}
		buf[n] = '\0';
	} else if (env[0]) {
		const char *v = getenv(env);
		if (!v) {
			snprintf(err, errlen, "elasticsearch: %s_env: variable %s is not set", what,
			         env);
			return -EINVAL;
		}
		n = strlen(v);
		if (n > ES_SECRET_MAX) {
			snprintf(err, errlen, "elasticsearch: %s_env %s: longer than %d bytes",
			         what, env, ES_SECRET_MAX);
			return -EINVAL;
		}
		memcpy(buf, v, n + 1);
	} else {
		return 0;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0 || memchr(buf, '\n', n) || memchr(buf, '\r', n)) {
		snprintf(err, errlen, "elasticsearch: %s from %s %s: empty or more than one line",
		         what, file[0] ? "file" : "variable", file[0] ? file : env);
		memset(buf, 0, sizeof(buf));
		return -EINVAL;
	}
	*out = strdup(buf);
	memset(buf, 0, sizeof(buf));
	if (!*out) {
		snprintf(err, errlen, "elasticsearch: out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* ---- life cycle ----------------------------------------------------------- */

int es_shipper_create(const struct es_config *es, const char *store_path, struct es_shipper **out,
                      char *err, size_t errlen)
{
	struct es_shipper *sh;
	char *password = NULL, *api_key = NULL;
	int rc;

	*out = NULL;
	if (!es->enabled || !es->url[0]) {
		snprintf(err, errlen, "elasticsearch: not configured");
		return -EINVAL;
	}
	/* Thread-safe since libcurl 7.84; done before any thread of ours uses curl. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "elasticsearch: libcurl initialisation failed");
		return -ENOMEM;
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh) {
		snprintf(err, errlen, "elasticsearch: out of memory");
		curl_global_cleanup();
		return -ENOMEM;
	}
	sh->cfg = *es;
	sh->rng = clock_ms(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)sh;
	if (!sh->rng)
		sh->rng = 1;
	sh->st.cursor_seq = -1;
	atomic_store(&sh->deadline_ms, UINT64_MAX);
	pthread_mutex_init(&sh->mu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&sh->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	rc = secret_read(es->password_file, es->password_env, "password", &password, err, errlen);
	if (rc == 0)
		rc = secret_read(es->api_key_file, es->api_key_env, "api_key", &api_key, err,
		                 errlen);
	if (rc == 0) {
		struct es_http_opts ho = {
		    .url = es->url,
		    .username = es->username,
		    .password = password,
		    .api_key = api_key,
		    .ca_file = es->ca_file,
		    .verify_tls = es->verify_tls,
		    .gzip = es->gzip,
		    .timeout_s = es->timeout_s,
		    .max_response_bytes = ES_RESPONSE_MAX_BYTES,
		    .abort_fn = abort_check,
		    .abort_ud = sh,
		};
		rc = es_http_create(&ho, &sh->http, err, errlen);
	}
	es_secret_free(password);
	es_secret_free(api_key);
	if (rc == 0) {
		struct store_opts so;
		store_opts_defaults(&so);
		/* Retention is the writer's job; this connection only reads and moves the cursor.
		 */
		so.retention_days = 0;
		so.cache_kib = 4096;
		rc = store_open(store_path, &so, &sh->store, err, errlen);
	}
	if (rc != 0) {
		es_shipper_destroy(sh);
		return rc;
	}
	*out = sh;
	return 0;
}

void es_shipper_destroy(struct es_shipper *sh)
{
	if (!sh)
		return;
	es_shipper_stop(sh, 0);
	if (sh->dead)
		fclose(sh->dead);
	es_http_destroy(sh->http);
	store_close(sh->store);
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
	curl_global_cleanup();
}

void es_stats_get(struct es_shipper *sh, struct es_stats *out)
{
	pthread_mutex_lock(&sh->mu);
	*out = sh->st;
	pthread_mutex_unlock(&sh->mu);
}

static const struct counter_def es_counter_defs[] = {
    COUNTER_DEF(es_stats, docs_shipped, "esShipped", COUNTER_TOTAL,
                "Documents acknowledged by Elasticsearch (2xx, or 409: already stored)."),
    COUNTER_DEF(es_stats, docs_retried, "esRetried", COUNTER_TOTAL,
                "Document sends repeated after a transient failure."),
    COUNTER_DEF(es_stats, docs_dead_lettered, "esDeadLettered", COUNTER_TOTAL,
                "Documents refused for good, written to the dead-letter file."),
    COUNTER_DEF(es_stats, slots_shipped, "esSlotsShipped", COUNTER_TOTAL,
                "Slots whose every document is acknowledged."),
    COUNTER_DEF(es_stats, requests, "esRequests", COUNTER_TOTAL,
                "HTTP requests sent (templates and _bulk)."),
    COUNTER_DEF(es_stats, request_failures, "esRequestFailures", COUNTER_TOTAL,
                "Requests that failed: transport error or non-2xx status."),
    COUNTER_DEF(es_stats, backlog_slots, "esBacklogSlots", COUNTER_GAUGE,
                "Slots in the store not yet shipped."),
    COUNTER_DEF(es_stats, backlog_docs, "esBacklogDocs", COUNTER_GAUGE,
                "Documents in those slots."),
    COUNTER_DEF(
        es_stats, last_ack_latency_ms, "esLastAckLatencyMs", COUNTER_GAUGE,
        "Milliseconds from the store write of the last shipped slot to its acknowledgement."),
    COUNTER_DEF(es_stats, last_error_at_s, "esLastErrorAt", COUNTER_GAUGE,
                "Unix time of the last error, 0 if none."),
    COUNTER_DEF(es_stats, docs_stale_deleted, "esStaleDeleted", COUNTER_TOTAL,
                "Documents of an earlier write of a slot deleted after it was shipped again."),
};

const struct counter_table es_counters = COUNTER_TABLE("es", es_counter_defs, es_stats);

/* ---- one request ---------------------------------------------------------- */

/*
 * Send one request and classify the outcome. Returns ES_STATUS_OK with r
 * holding a 2xx response, ES_STATUS_RETRY (transport failure, 408, 429,
 * 5xx, or a 4xx that retrying may cure: 401, 403), ES_STATUS_DEAD (other
 * 4xx, r holds it). what names the request in messages.
 */
static enum es_status_class send_req(struct es_shipper *sh, const char *method, const char *path,
                                     const char *ctype, const char *body, size_t len,
                                     struct es_http_resp *r, const char *what)
{
	int rc = es_http_request(sh->http, method, path, ctype, body, len, r);

	count(sh, &sh->st.requests, 1);
	if (rc < 0) {
		count(sh, &sh->st.request_failures, 1);
		if (!r->aborted)
			set_error(sh, "%s: %s", what, r->error);
		return ES_STATUS_RETRY;
	}
	if (r->status >= 200 && r->status < 300)
		return ES_STATUS_OK;
	count(sh, &sh->st.request_failures, 1);
	/* The cluster's reason, one line, bounded: it names the index or field at fault. */
	char reason[160];
	size_t n = r->body_len < sizeof(reason) - 1 ? r->body_len : sizeof(reason) - 1;
	for (size_t i = 0; i < n; i++)
		reason[i] = (r->body[i] < 0x20 || r->body[i] == 0x7f) ? ' ' : r->body[i];
	reason[n] = '\0';
	set_error(sh, "%s: HTTP %ld: %s", what, r->status, reason);
	/* Credentials can be fixed on the cluster side while we wait; nothing is dropped. */
	if (r->status == 401 || r->status == 403)
		return ES_STATUS_RETRY;
	return es_status_classify(r->status);
}

/* ---- templates ------------------------------------------------------------ */

/* body with every @PREFIX@ replaced by prefix; a new string or NULL. */
static char *with_prefix(const char *body, const char *prefix)
{
	static const char tok[] = "@PREFIX@";
	size_t plen = strlen(prefix), n = 0, len = strlen(body);
	for (const char *p = strstr(body, tok); p; p = strstr(p + 1, tok))
		n++;
	char *out = malloc(len + n * plen + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = body, *q; (q = strstr(p, tok)); p = q + sizeof(tok) - 1) {
		memcpy(o, p, (size_t)(q - p)), o += q - p;
		memcpy(o, prefix, plen), o += plen;
		body = q + sizeof(tok) - 1;
	}
	size_t rest = strlen(body);
	memcpy(o, body, rest + 1);
	return out;
}

/* One pass over the templates. 0, -EAGAIN (retry later) or -EINVAL (refused). */
static int templates_try(struct es_shipper *sh, char *err, size_t errlen)
{
	for (size_t i = 0; i < es_templates_n; i++) {
		const struct es_template *t = &es_templates[i];
		char path[512], what[600];
		struct es_http_resp r;
		char *body = with_prefix(t->body, sh->cfg.index_prefix);

		if (!body) {
			snprintf(err, errlen, "elasticsearch: out of memory");
			return -EAGAIN;
		}
		snprintf(path, sizeof(path), "/%s/%s-%s",
		         t->component ? "_component_template" : "_index_template",
		         sh->cfg.index_prefix, t->name);
		snprintf(what, sizeof(what), "template %s-%s (config/es/%s)", sh->cfg.index_prefix,
		         t->name, t->file);
		enum es_status_class c =
		    send_req(sh, "PUT", path, "application/json", body, strlen(body), &r, what);
		free(body);
		if (c != ES_STATUS_OK) {
			pthread_mutex_lock(&sh->mu);
			snprintf(err, errlen, "elasticsearch: %s", sh->st.last_error);
			pthread_mutex_unlock(&sh->mu);
			return c == ES_STATUS_DEAD ? -EINVAL : -EAGAIN;
		}
	}
	sh->templates_ok = true;
	log_info("elasticsearch: %zu templates installed at %s", es_templates_n, sh->cfg.url);
	return 0;
}

/* Templates with retries until the deadline. */
static int templates_ensure(struct es_shipper *sh, char *err, size_t errlen)
{
	for (unsigned attempt = 1; !sh->templates_ok; attempt++) {
		int rc = templates_try(sh, err, errlen);
		if (rc != -EAGAIN)
			return rc;
		uint64_t d = es_backoff_ms(attempt, sh->cfg.retry_initial_ms,
		                           (uint64_t)sh->cfg.retry_max_s * 1000u, rnd(sh));
		if (sleep_ms(sh, d) != 0)
			return -ETIMEDOUT;
	}
	return 0;
}

int es_templates_install(struct es_shipper *sh, uint64_t wait_ms, char *err, size_t errlen)
{
	atomic_store(&sh->deadline_ms, wait_ms ? clock_ms(CLOCK_MONOTONIC) + wait_ms : UINT64_MAX);
	int rc = wait_ms ? templates_ensure(sh, err, errlen) : templates_try(sh, err, errlen);
	atomic_store(&sh->deadline_ms, UINT64_MAX);
	return rc == -ETIMEDOUT ? -EAGAIN : rc;
}

/* ---- backlog -------------------------------------------------------------- */

static void backlog_update(struct es_shipper *sh, int64_t cursor, bool force)
{
	struct store_slot v[256];
	uint64_t slots = 0, docs = 0, now = clock_ms(CLOCK_MONOTONIC);
	int64_t after = cursor;
	size_t n;

	if (!force && now - sh->backlog_at_ms < ES_BACKLOG_EVERY_MS)
		return;
	sh->backlog_at_ms = now;
	do {
		if (store_slot_list(sh->store, after, v, 256, &n) != 0)
			return;
		for (size_t i = 0; i < n; i++) {
			slots++;
			docs += v[i].n_docs;
			after = v[i].seq;
		}
	} while (n == 256);
	pthread_mutex_lock(&sh->mu);
	sh->st.backlog_slots = slots;
	sh->st.backlog_docs = docs;
	sh->st.cursor_seq = cursor;
	pthread_mutex_unlock(&sh->mu);
}

/* ---- one slot ------------------------------------------------------------- */

struct load_ctx {
	struct es_shipper *sh;
	struct es_slotbuf *b;
	const struct store_slot *slot;
	size_t refused; /* documents that cannot be sent at all */
	int err;
};

static int dead_letter(struct es_shipper *sh, const struct store_slot *slot, const char *index,
                       const char *id, const char *doc, size_t doc_len, long status,
                       const char *error_json);

static int load_doc(void *ud, const struct store_doc *d)
{
	struct load_ctx *lc = ud;
	int rc = es_slotbuf_add(lc->b, lc->sh->cfg.index_prefix, lc->slot->site,
	                        lc->slot->time_slot, d->kind, d->key, d->json, d->json_len);

	if (rc == -EINVAL || rc == -ENAMETOOLONG) {
		/* Cannot be framed as NDJSON or named: refused here, for good. */
		char index[ES_INDEX_MAX] = "", id[ES_ID_MAX] = "";
		es_index_name(index, sizeof(index), lc->sh->cfg.index_prefix, d->kind,
		              lc->slot->time_slot);
		es_doc_id_part(id, sizeof(id), lc->slot->site, d->kind, lc->slot->time_slot,
		               lc->slot->part, d->key);
		rc = dead_letter(lc->sh, lc->slot, index, id, d->json, d->json_len, 0,
		                 rc == -EINVAL ? "\"document is not one line of JSON\""
		                               : "\"index name or _id too long\"");
		if (rc == 0)
			lc->refused++;
	}
	if (rc != 0)
		lc->err = rc;
	return rc;
}

static int dead_letter(struct es_shipper *sh, const struct store_slot *slot, const char *index,
                       const char *id, const char *doc, size_t doc_len, long status,
                       const char *error_json)
{
	json_t *o = json_object(), *d, *e;
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc = 0;

	if (!o)
		return -ENOMEM;
	if (!sh->dead) {
		int fd =
		    open(sh->cfg.dead_letter_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0 || !(sh->dead = fdopen(fd, "a"))) {
			int e2 = errno;
			if (fd >= 0)
				close(fd);
			set_error(sh, "dead-letter file %s: %s", sh->cfg.dead_letter_path,
			          strerror(e2));
			json_decref(o);
			return -e2;
		}
	}
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	d = json_loadb(doc, doc_len, 0, NULL);
	if (!d)
		d = json_stringn(doc, doc_len);
	e = error_json ? json_loads(error_json, JSON_DECODE_ANY, NULL) : NULL;
	json_object_set_new(o, "at", json_string(ts));
	json_object_set_new(o, "site", json_string(slot->site));
	json_object_set_new(o, "timeSlot", json_integer(slot->time_slot));
	json_object_set_new(o, "seq", json_integer(slot->seq));
	json_object_set_new(o, "_index", json_string(index));
	json_object_set_new(o, "_id", json_string(id));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "reason", e ? e : json_null());
	json_object_set_new(o, "document", d ? d : json_null());
	if (json_dumpf(o, sh->dead, JSON_COMPACT) != 0 || fputc('\n', sh->dead) == EOF ||
	    fflush(sh->dead) != 0) {
		rc = -EIO;
		set_error(sh, "dead-letter file %s: %s", sh->cfg.dead_letter_path, strerror(errno));
	}
	json_decref(o);
	if (rc == 0) {
		sh->dead_dirty = true;
		count(sh, &sh->st.docs_dead_lettered, 1);
		log_warn("elasticsearch: document %s refused (HTTP %ld), written to %s", id, status,
		         sh->cfg.dead_letter_path);
	}
	return rc;
}

struct resp_ctx {
	struct es_shipper *sh;
	struct es_slotbuf *b;
	const struct store_slot *slot;
	const size_t *idx; /* item numbers of the request's items */
	size_t ok, retry, dead;
	long retry_status;
	int err;
};

static int on_item(void *ud, size_t i, long status, const char *error)
{
	struct resp_ctx *rc = ud;
	struct es_item *it = &rc->b->items[rc->idx[i]];

	switch (es_status_classify(status)) {
	case ES_STATUS_OK:
		it->state = ES_ITEM_DONE;
		rc->ok++;
		break;
	case ES_STATUS_RETRY:
		rc->retry++;
		rc->retry_status = status;
		break;
	case ES_STATUS_DEAD: {
		int e = dead_letter(rc->sh, rc->slot, rc->b->meta + it->index_off,
		                    rc->b->meta + it->id_off, rc->b->buf + it->doc_off, it->doc_len,
		                    status, error);
		if (e != 0)
			return e; /* stays pending: a refusal we cannot record is not handled */
		it->state = ES_ITEM_DEAD;
		rc->dead++;
		break;
	}
	}
	return 0;
}

/*
 * Ship every pending item of b. Returns 0 when none is pending, -ETIMEDOUT
 * at the deadline, -ENOMEM.
 */
static int ship_items(struct es_shipper *sh, struct es_slotbuf *b, const struct store_slot *slot)
{
	size_t limit = (size_t)sh->cfg.bulk_max_bytes, first = 0;
	unsigned attempt = 0;
	char *body = NULL;
	size_t body_cap = 0;
	size_t *idx = malloc((b->n ? b->n : 1) * sizeof(*idx));
	const char **ids = malloc((b->n ? b->n : 1) * sizeof(*ids));
	size_t *id_lens = malloc((b->n ? b->n : 1) * sizeof(*id_lens));
	int ret = 0;

	if (!idx || !ids || !id_lens) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		while (first < b->n && b->items[first].state != ES_ITEM_PENDING)
			first++;
		if (first == b->n)
			break;
		/* The next run of pending items that fits in limit (at least one). */
		size_t n = 0, bytes = 0;
		bool contiguous = true;
		for (size_t k = first; k < b->n; k++) {
			struct es_item *it = &b->items[k];
			if (it->state != ES_ITEM_PENDING)
				continue;
			if (n > 0 && bytes + it->len > limit)
				break;
			if (n > 0 && b->items[idx[n - 1]].off + b->items[idx[n - 1]].len != it->off)
				contiguous = false;
			idx[n] = k;
			ids[n] = b->meta + it->id_off;
			id_lens[n] = it->id_len;
			n++;
			bytes += it->len;
		}
		const char *send = b->buf + b->items[idx[0]].off;
		if (!contiguous) {
			/* A retry of some items: copy them together. */
			if (bytes > body_cap) {
				char *q = realloc(body, bytes);
				if (!q) {
					ret = -ENOMEM;
					goto out;
				}
				body = q;
				body_cap = bytes;
			}
			size_t o = 0;
			for (size_t k = 0; k < n; k++) {
				struct es_item *it = &b->items[idx[k]];
				memcpy(body + o, b->buf + it->off, it->len);
				o += it->len;
			}
			send = body;
		}
		struct es_http_resp r;
		char what[128];
		snprintf(what, sizeof(what), "_bulk of %zu documents (site %s slot %lld)", n,
		         slot->site, (long long)slot->time_slot);
		enum es_status_class c =
		    send_req(sh, "POST", "/_bulk", "application/x-ndjson", send, bytes, &r, what);
		struct resp_ctx rc = {.sh = sh, .b = b, .slot = slot, .idx = idx};
		if (c == ES_STATUS_OK) {
			int e = es_bulk_response_read(r.body, r.body_len, n, ids, id_lens, on_item,
			                              &rc);
			if (e == -EBADMSG) {
				set_error(sh, "%s: the response does not list the %zu items sent",
				          what, n);
				c = ES_STATUS_RETRY;
			} else if (e != 0) {
				ret = e;
				goto out;
			}
		} else if (c == ES_STATUS_DEAD && r.status == 413 && n > 1) {
			/* Too large for the cluster's http.max_content_length: halve and go on. */
			limit = bytes / 2 > 1 ? bytes / 2 : 1;
			log_warn(
			    "elasticsearch: 413 for a %zu-byte body; sending at most %zu bytes",
			    bytes, limit);
			continue;
		} else if (c == ES_STATUS_DEAD) {
			/*
			 * A whole request refused (400 on the body itself, 404, 413 for a
			 * single document): a protocol problem, not a document's. The items
			 * stay pending and are retried at the slowest pace; nothing is
			 * dropped, and last_error says why nothing moves.
			 */
			rc.retry = n;
			c = ES_STATUS_RETRY;
			attempt = attempt < 30 ? 30 : attempt;
		}
		if (c == ES_STATUS_RETRY)
			rc.retry = n - rc.ok - rc.dead;
		count(sh, &sh->st.docs_shipped, rc.ok);
		if (rc.retry == 0) {
			attempt = 0;
			continue;
		}
		count(sh, &sh->st.docs_retried, rc.retry);
		if (c == ES_STATUS_OK)
			set_error(sh, "%s: %zu items failed with HTTP %ld; retrying them", what,
			          rc.retry, rc.retry_status);
		attempt++;
		uint64_t d = es_backoff_ms(attempt, sh->cfg.retry_initial_ms,
		                           (uint64_t)sh->cfg.retry_max_s * 1000u, rnd(sh));
		if (sleep_ms(sh, d) != 0) {
			ret = -ETIMEDOUT;
			goto out;
		}
	}
out:
	free(body);
	free(idx);
	free(ids);
	free(id_lens);
	return ret;
}

/*
 * After every document of this write of the slot is acknowledged: delete
 * what an earlier write of the same (site, slot) left behind, i.e. the
 * slot's documents whose writeSeq is not this write's seq (a rewrite with
 * fewer documents would otherwise leave the union in the cluster). The
 * slot's indices are PREFIX-*-DATE (every kind of the slot's day). They
 * are refreshed first, so that documents shipped within the refresh
 * interval are seen by the query. Retried like a _bulk until the deadline:
 * the cursor must not pass the slot before the delete is done. Returns 0,
 * -ETIMEDOUT or -ENOMEM.
 */
static int delete_stale(struct es_shipper *sh, const struct store_slot *slot)
{
	char idx[ES_INDEX_MAX], path[ES_INDEX_MAX + 128], what[160];
	struct es_http_resp r;

	if (es_index_name(idx, sizeof(idx), sh->cfg.index_prefix, "*", slot->time_slot) < 0)
		return -ENAMETOOLONG;
	json_t *q = json_pack("{s:{s:{s:[{s:{s:s}},{s:{s:I}},{s:{s:I}}],s:[{s:{s:I}}]}}}", "query",
	                      "bool", "filter", "term", "site", slot->site, "term", "timeSlot",
	                      (json_int_t)slot->time_slot, "term", "writePart",
	                      (json_int_t)slot->part, "must_not", "term", "writeSeq",
	                      (json_int_t)slot->seq);
	char *body = q ? json_dumps(q, JSON_COMPACT) : NULL;
	json_decref(q);
	if (!body)
		return -ENOMEM;
	snprintf(what, sizeof(what), "deleting earlier documents of site %s slot %lld", slot->site,
	         (long long)slot->time_slot);
	int ret = 0;
	for (unsigned attempt = 1;; attempt++) {
		snprintf(path, sizeof(path),
		         "/%s/_refresh?ignore_unavailable=true&allow_no_indices=true", idx);
		enum es_status_class c =
		    send_req(sh, "POST", path, "application/json", NULL, 0, &r, what);
		if (c == ES_STATUS_OK) {
			snprintf(path, sizeof(path),
			         "/%s/_delete_by_query?conflicts=proceed&ignore_unavailable=true"
			         "&allow_no_indices=true",
			         idx);
			c = send_req(sh, "POST", path, "application/json", body, strlen(body), &r,
			             what);
		}
		if (c == ES_STATUS_OK) {
			json_t *a = json_loadb(r.body, r.body_len, 0, NULL);
			json_t *f = a ? json_object_get(a, "failures") : NULL;
			json_t *d = a ? json_object_get(a, "deleted") : NULL;
			bool ok = json_is_array(f) && json_array_size(f) == 0 &&
			          json_is_integer(d) && json_integer_value(d) >= 0;
			if (ok)
				count(sh, &sh->st.docs_stale_deleted,
				      (uint64_t)json_integer_value(d));
			json_decref(a);
			if (ok)
				break;
			set_error(sh, "%s: the answer lists failures or no deleted count", what);
		} else if (c == ES_STATUS_DEAD) {
			/* A protocol or privilege problem: retried at the slowest pace, never
			 * skipped. */
			attempt = attempt < 30 ? 30 : attempt;
		}
		uint64_t d = es_backoff_ms(attempt, sh->cfg.retry_initial_ms,
		                           (uint64_t)sh->cfg.retry_max_s * 1000u, rnd(sh));
		if (sleep_ms(sh, d) != 0) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	free(body);
	return ret;
}

static int ship_slot(struct es_shipper *sh, const struct store_slot *slot)
{
	struct es_slotbuf b = {.write_seq = slot->seq};
	struct load_ctx lc = {.sh = sh, .b = &b, .slot = slot};
	size_t n_docs;
	int rc;

	/* Copy the slot out and end the read: no statement stays open across network waits. */
	b.part = slot->part;
	rc = store_part_doc_foreach(sh->store, slot->site, slot->time_slot, slot->part, NULL,
	                            load_doc, &lc);
	if (rc != 0) {
		if (lc.err == 0)
			set_error(sh, "reading site %s slot %lld: %s", slot->site,
			          (long long)slot->time_slot, store_error_get(sh->store));
		es_slotbuf_free(&b);
		return rc < 0 ? rc : lc.err;
	}
	rc = ship_items(sh, &b, slot);
	n_docs = b.n + lc.refused;
	es_slotbuf_free(&b);
	if (rc != 0)
		return rc;
	/* Refusals must be on disk before the cursor says the slot was handled. */
	if (sh->dead && sh->dead_dirty) {
		if (fsync(fileno(sh->dead)) != 0) {
			set_error(sh, "dead-letter file %s: fsync: %s", sh->cfg.dead_letter_path,
			          strerror(errno));
			return -EIO;
		}
		sh->dead_dirty = false;
	}
	/* Indexed first, then the leftovers deleted: the slot is never missing in between. */
	rc = delete_stale(sh, slot);
	if (rc != 0)
		return rc;
	rc = store_cursor_set(sh->store, STORE_CURSOR_ELASTICSEARCH, slot->seq);
	if (rc != 0) {
		set_error(sh, "moving the cursor to %lld: %s", (long long)slot->seq,
		          store_error_get(sh->store));
		return rc;
	}
	uint64_t now = clock_ms(CLOCK_REALTIME), written = (uint64_t)slot->written_at_s * 1000u;
	pthread_mutex_lock(&sh->mu);
	sh->st.slots_shipped++;
	sh->st.cursor_seq = slot->seq;
	sh->st.last_ack_latency_ms = now > written ? now - written : 0;
	pthread_mutex_unlock(&sh->mu);
	log_debug("elasticsearch: site %s slot %lld (seq %lld, %zu documents) shipped", slot->site,
	          (long long)slot->time_slot, (long long)slot->seq, n_docs);
	return 0;
}

/*
 * Ship everything after the cursor. Returns 0 when caught up, -ETIMEDOUT
 * at the deadline, -EINVAL for a refused template, another negative code
 * for a store error.
 */
static int ship_backlog(struct es_shipper *sh)
{
	struct store_slot v[ES_LIST_BATCH];
	char err[ES_ERROR_MAX];
	int64_t cursor;
	size_t n;
	int rc;

	rc = store_cursor_get(sh->store, STORE_CURSOR_ELASTICSEARCH, &cursor);
	if (rc == -ENOENT) {
		/* First run on this store: register, so retention counts what we miss. */
		cursor = 0;
		rc = store_cursor_set(sh->store, STORE_CURSOR_ELASTICSEARCH, 0);
	}
	if (rc != 0) {
		set_error(sh, "cursor: %s", store_error_get(sh->store));
		return rc;
	}
	for (;;) {
		backlog_update(sh, cursor, false);
		rc = store_slot_list(sh->store, cursor, v, ES_LIST_BATCH, &n);
		if (rc != 0) {
			set_error(sh, "listing slots: %s", store_error_get(sh->store));
			return rc;
		}
		if (n == 0)
			break;
		if (!sh->templates_ok) {
			rc = templates_ensure(sh, err, sizeof(err));
			if (rc != 0)
				return rc;
		}
		for (size_t i = 0; i < n; i++) {
			rc = ship_slot(sh, &v[i]);
			if (rc != 0) {
				backlog_update(sh, cursor, true);
				return rc;
			}
			cursor = v[i].seq;
		}
	}
	backlog_update(sh, cursor, true);
	return 0;
}

/* ---- thread and drain ----------------------------------------------------- */

static void *shipper_main(void *arg)
{
	struct es_shipper *sh = arg;

	for (;;) {
		int rc = ship_backlog(sh);
		if (rc == -EINVAL) {
			log_error("elasticsearch: %s; shipping stopped (the store keeps the slots)",
			          sh->st.last_error);
		}
		pthread_mutex_lock(&sh->mu);
		bool stop = sh->stop_requested && (rc == 0 || past_deadline(sh));
		pthread_mutex_unlock(&sh->mu);
		if (stop || rc == -EINVAL)
			break;
		uint64_t wait = ES_POLL_MS;
		/* A store or file error: do not spin on it. */
		if (rc != 0 && rc != -ETIMEDOUT)
			wait = (uint64_t)sh->cfg.retry_max_s * 1000u;
		wait_unless_stopping(sh, wait);
	}
	return NULL;
}

int es_shipper_start(struct es_shipper *sh)
{
	int rc;

	if (sh->thread_running)
		return -EALREADY;
	sh->stop_requested = false;
	atomic_store(&sh->deadline_ms, UINT64_MAX);
	rc = pthread_create(&sh->thread, NULL, shipper_main, sh);
	if (rc != 0)
		return -rc;
	pthread_setname_np(sh->thread, "nfs-es"); /* top -H, perf --comm */
	sh->thread_running = true;
	return 0;
}

void es_shipper_stop(struct es_shipper *sh, uint64_t grace_ms)
{
	if (!sh->thread_running)
		return;
	pthread_mutex_lock(&sh->mu);
	sh->stop_requested = true;
	atomic_store(&sh->deadline_ms, clock_ms(CLOCK_MONOTONIC) + grace_ms);
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	pthread_join(sh->thread, NULL);
	sh->thread_running = false;
	atomic_store(&sh->deadline_ms, UINT64_MAX);
}

int es_shipper_drain(struct es_shipper *sh, uint64_t timeout_ms)
{
	int rc;

	if (sh->thread_running)
		return -EBUSY;
	atomic_store(&sh->deadline_ms, clock_ms(CLOCK_MONOTONIC) + timeout_ms);
	rc = ship_backlog(sh);
	atomic_store(&sh->deadline_ms, UINT64_MAX);
	return rc;
}
