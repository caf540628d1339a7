/*
 * es internals shared by the files of src/es/ and tests/unit/test_es.c: the bulk body
 * (bulk.c), the HTTP client (http.c) and the built-in templates
 * (templates.c, generated from the JSON files in config/es/ by embed.py). Not part of
 * the public interface (include/nfsentry/es.h).
 */
#ifndef NFSENTRY_ES_INTERNAL_H
#define NFSENTRY_ES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- bulk.c: rendering a slot, reading a _bulk response ------------------ */

/* Bytes of an index name (Elasticsearch allows 255) and of a document _id (512). */
#define ES_INDEX_MAX 256
#define ES_ID_MAX 512

enum es_item_state {
	ES_ITEM_PENDING = 0, /* not yet acknowledged */
	ES_ITEM_DONE,        /* acknowledged (2xx, or 409: already there) */
	ES_ITEM_DEAD,        /* refused for good, dead-lettered */
};

/*
 * One document rendered as its two NDJSON lines (action, source, each
 * ending in '\n'), at [off, off + len) of the slot buffer. The raw _id and
 * the index are kept beside it for the response check and the dead-letter
 * file.
 */
struct es_item {
	size_t off, len;
	size_t doc_off, doc_len;     /* the document inside the source line */
	size_t id_off, id_len;       /* raw (unescaped) _id, in es_slotbuf.meta */
	size_t index_off, index_len; /* index name, in es_slotbuf.meta */
	uint8_t state;               /* enum es_item_state */
};

/*
 * All items of one slot. buf holds the NDJSON pairs back to back, so a run
 * of consecutive pending items is already a valid _bulk body. Grows as
 * needed; es_slotbuf_free() releases it. On -ENOMEM from an add, the buffer
 * keeps the items added before.
 */
struct es_slotbuf {
	char *buf;
	size_t len, cap;
	char *meta; /* ids and index names, NUL-separated */
	size_t meta_len, meta_cap;
	struct es_item *items;
	size_t n, items_cap;
	/*
	 * > 0: every document added gets "writeSeq": write_seq as its first
	 * field (the store seq of the slot's write, so that documents of an
	 * earlier write of the slot can be found and deleted); 0: sent as given.
	 */
	int64_t write_seq;
	uint32_t part; /* the store part its documents come from (es_doc_id_part) */
};

void es_slotbuf_free(struct es_slotbuf *b);

/*
 * Index of a document: PREFIX-KIND-YYYY.MM.DD, kind lower-cased (index names
 * must be lower case), date of the slot's start in UTC. Returns the length,
 * or -ENAMETOOLONG when it does not fit outlen (or ES_INDEX_MAX).
 */
int es_index_name(char *out, size_t outlen, const char *prefix, const char *kind,
                  int64_t time_slot);

/*
 * Deterministic _id "SITE|KIND|TIMESLOT|KEY" (KEY "" for a keyless
 * document). Returns the length or -ENAMETOOLONG.
 */
int es_doc_id(char *out, size_t outlen, const char *site, const char *kind, int64_t time_slot,
              const char *key);

/*
 * The _id of a document of store part part (store.h): es_doc_id() for part
 * 0, "SITE|KIND|TIMESLOT|KEY|pPART" beyond, so that a second part of a slot
 * (docs/store.md "Partial slots and parts") never overwrites the first in
 * Elasticsearch. Returns the length or -ENAMETOOLONG.
 */
int es_doc_id_part(char *out, size_t outlen, const char *site, const char *kind,
                   int64_t time_slot, uint32_t part, const char *key);

/*
 * Append one document as an "index" item. json (json_len bytes) is copied;
 * it must be one line of JSON: a document holding a raw newline is refused
 * with -EINVAL (NDJSON would split it), and so is one that is not an
 * object when b->write_seq is set (the field is put first in the object).
 * Returns 0, -EINVAL, -ENAMETOOLONG or -ENOMEM.
 */
int es_slotbuf_add(struct es_slotbuf *b, const char *prefix, const char *site, int64_t time_slot,
                   const char *kind, const char *key, const char *json, size_t json_len);

/* What to do with an item (or a whole request) given its HTTP status. */
enum es_status_class {
	ES_STATUS_OK,    /* 2xx; 409 version conflict counts as already stored */
	ES_STATUS_RETRY, /* 429, 5xx, 408, or no status (transport failure) */
	ES_STATUS_DEAD,  /* any other 4xx: mapping, parse, validation errors */
};
enum es_status_class es_status_classify(long status);

/*
 * Read a _bulk response body for the n items sent, whose raw _ids are
 * ids[i] (lengths id_lens[i]). For each item in order calls
 * fn(ud, i, status, error) where error is the item's "error" value as JSON
 * text (NUL-terminated, valid during the call) or NULL. Checks that the
 * response is a JSON object with an "items" array of exactly n entries,
 * each an object with one action holding the same _id and an integer
 * status; otherwise returns -EBADMSG before calling fn at all (the request
 * is then retried whole: resends are idempotent). Returns 0, -EBADMSG,
 * -ENOMEM, or fn's non-zero result.
 */
int es_bulk_response_read(const char *body, size_t len, size_t n, const char *const *ids,
                          const size_t *id_lens,
                          int (*fn)(void *ud, size_t i, long status, const char *error), void *ud);

/*
 * Backoff before attempt (1 = first retry): min(max_ms, initial_ms *
 * 2^(attempt-1)) scaled by a factor in [0.5, 1) from rnd (any 64-bit
 * random value): "equal jitter", so clients that failed together do not
 * retry together, and the wait never drops below half the step.
 */
uint64_t es_backoff_ms(unsigned attempt, uint64_t initial_ms, uint64_t max_ms, uint64_t rnd);

/* ---- http.c: one keep-alive connection to the cluster ------------------- */

struct es_http;

struct es_http_opts {
	const char *url;      /* base URL without trailing '/'; copied */
	const char *username; /* NULL/"" = no basic auth; copied */
	const char *password; /* copied, wiped on destroy */
	const char *api_key;  /* NULL/"" = none; copied, wiped on destroy */
	const char *ca_file;  /* NULL/"" = system CAs */
	bool verify_tls;
	bool gzip;          /* compress request bodies */
	uint32_t timeout_s; /* whole request */
	size_t max_response_bytes;
	/* Abort check, called while a request runs: non-zero aborts it. */
	int (*abort_fn)(void *ud);
	void *abort_ud;
};

struct es_http_resp {
	long status;      /* HTTP status; 0 = no response (transport failure, abort) */
	const char *body; /* owned by the handle, valid until the next request; NUL-terminated */
	size_t body_len;
	char error[256]; /* transport failure, "" otherwise */
	bool aborted;    /* abort_fn stopped it */
};

int es_http_create(const struct es_http_opts *o, struct es_http **out, char *err, size_t errlen);

/* Overwrite a secret (NUL-terminated) before freeing it. NULL is accepted. */
void es_secret_free(char *s);
void es_http_destroy(struct es_http *h);

/*
 * method ("PUT", "POST", "GET") path (starting with '/') with body (may be
 * NULL for GET) of content type ctype. Returns 0 when a response was read
 * (any status), a negative code with r->error on transport failure
 * (-ECONNREFUSED, -ETIMEDOUT, -ECONNRESET, -EPROTO for TLS, -ECANCELED when
 * aborted, -EIO otherwise).
 */
int es_http_request(struct es_http *h, const char *method, const char *path, const char *ctype,
                    const char *body, size_t len, struct es_http_resp *r);

/* ---- templates.c (generated) ---------------------------------------------- */

struct es_template {
	const char *file; /* config/es/ file name */
	bool component;   /* _component_template (true) or _index_template */
	const char *name; /* the name after the prefix: "common", "inside", ... */
	const char *body; /* JSON with @PREFIX@ where the index prefix goes */
};
extern const struct es_template es_templates[];
extern const size_t es_templates_n;

#endif
