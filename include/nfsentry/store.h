/*
 * store: the embedded document store (SQLite 3).
 *
 * At every slot close each site's documents (JSON text made by the doc
 * module) are written here in one transaction per (site, slot). The store
 * is the system of record: the Elasticsearch shipper reads closed slots
 * from it in write order and keeps its position in a named cursor stored in
 * the same file; the dashboard reads a site's latest slot. Retention
 * deletes old slots and counts those that a registered cursor had not yet
 * passed, so data lost to retention before shipping is visible.
 *
 * Not this module's job: building or parsing the JSON (documents are stored
 * as the bytes given), talking to Elasticsearch, deciding when slots close.
 *
 * Threads: one struct store is one SQLite connection and must not be used
 * by two threads at the same time. Handing it from thread to thread is fine
 * when the hand-over itself synchronises (a mutex, a thread join); the
 * closer's worker is the only thread that writes the collector's store. The file is in WAL mode: one
 * writer and any number of readers, each with its own struct store (its own
 * store_open()), in this process or another, run concurrently; readers see
 * whole slots only, never half a transaction. A writer that finds another
 * writer in the middle of a transaction waits up to busy_timeout_ms.
 *
 * Errors: every function returns 0 or a negative errno-style code. The
 * message (naming the file and carrying sqlite3_errmsg()) is kept in the
 * store and read with store_error_get(); store_open() writes its message to
 * the caller's buffer since there is no store yet. Schema and rationale:
 * docs/internals/store.md; operator view: docs/store.md.
 */
#ifndef NFSENTRY_STORE_H
#define NFSENTRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"

/* Version of the schema this build creates and reads (meta.schema_version). */
#define STORE_SCHEMA_VERSION 4

/* Limits; each is checked on write and reported as -EINVAL / -E2BIG. */
#define STORE_SITE_MAX 64              /* bytes of a site name, NUL included (= SITE_NAME_MAX) */
#define STORE_KIND_MAX 32              /* bytes of a document kind, NUL included */
#define STORE_KEY_MAX 128              /* bytes of a document key, NUL included (IPv6, MAC) */
#define STORE_DOC_MAX_BYTES 16777216   /* one JSON document; far above any real one */
#define STORE_RETENTION_MAX_DAYS 36500 /* keeps now - days * 86400 far from overflow */
#define STORE_SLOT_SECONDS 300         /* timeSlot = floor(t / 300), METHOD.md 1 */
#define STORE_DIGEST_MAX_BYTES 268435456 /* one slot's digest (daily.h); far above a busy site's */

/* Name of the cursor the Elasticsearch shipper keeps (by convention). */
#define STORE_CURSOR_ELASTICSEARCH "elasticsearch"

struct store;

struct store_opts {
	uint32_t retention_days;  /* slots older than this are deleted; default 30; 0 = keep all */
	uint32_t busy_timeout_ms; /* wait for another writer's transaction; default 5000 */
	uint32_t cache_kib;       /* SQLite page cache of this connection; default 16384 */
	bool read_only;           /* a reader (the dashboard): opens an existing store at
	                             STORE_SCHEMA_VERSION without writing to it; default false */
	bool read_schema3;        /* with read_only: a store at schema 3 (before the digests
	                             table) opens too, as it is: it has no digests
	                             (store_digest_get: -ENOENT); default false */
};

/* Fill *o with the defaults above. */
void store_opts_defaults(struct store_opts *o);

/*
 * One document. On write every pointer is borrowed for the duration of the
 * call. kind: non-empty, shorter than STORE_KIND_MAX ("inside", "outside",
 * "offender", "slot", "arpIp", "arpMac"). key: the IP, MAC or "" (the slot
 * summary), shorter than STORE_KEY_MAX; (kind, key) is unique within one
 * slot of one site. json: json_len bytes (no NUL needed), at most
 * STORE_DOC_MAX_BYTES, stored as given. On read (store_doc_foreach) the
 * pointers belong to the store and are valid only during the callback, and
 * json is also NUL-terminated.
 */
struct store_doc {
	const char *kind;
	const char *key;
	const char *json;
	size_t json_len;
};

/* What the writer knows about the slot besides its documents. */
struct store_slot_info {
	int64_t closed_at_s; /* collector clock at close (capture time in replay), Unix s */
	/*
	 * The collector saw only covered_from_s .. covered_to_s (Unix s) of the
	 * slot: it started during it, or stopped before its end. Not partial:
	 * the whole slot, and the covered_* fields are not read.
	 */
	bool partial;
	int64_t covered_from_s, covered_to_s;
};

/* One written slot, as listed by store_slot_list(). */
struct store_slot {
	int64_t seq;              /* write order; a rewrite of the slot gets a new, higher seq */
	char site[STORE_SITE_MAX];
	int64_t time_slot;        /* Unix seconds / 300 */
	int64_t closed_at_s;      /* from struct store_slot_info */
	int64_t written_at_s;     /* wall clock when the transaction was written */
	uint64_t n_docs;
	bool partial;
	uint32_t part;            /* 0, or the n-th part stored beside it (store_slot_write) */
	int64_t covered_from_s;   /* what the part covers, Unix s (the whole slot unless partial) */
	int64_t covered_to_s;
};

/*
 * Counters. The retention_* ones are kept in the file (they survive
 * restarts and count since the file was created); *_written count this
 * handle's writes only; slots_stored / docs_stored are what the file holds
 * now.
 */
struct store_stats {
	uint64_t slots_written;             /* store_slot_write() successes, this handle */
	uint64_t docs_written;              /* documents in them */
	uint64_t docs_duplicate;            /* left out as a repeated (kind, key), this handle */
	uint64_t slots_stored;              /* rows in slots now */
	uint64_t docs_stored;               /* sum of their n_docs */
	uint64_t retention_slots_deleted;   /* slots removed by retention, ever */
	uint64_t retention_docs_deleted;    /* their documents */
	uint64_t retention_unshipped_slots; /* of those, slots some cursor had not passed */
	uint64_t retention_unshipped_docs;  /* their documents: lost before being shipped */
};

/* struct store_stats described (counter.h), every field. */
extern const struct counter_table store_counters;

/*
 * Open (creating if missing) the store at path. The parent directory is
 * created (mode 0750) when it is missing; only that one level. The schema is
 * created or migrated to STORE_SCHEMA_VERSION in one transaction; a file
 * with a newer schema is refused with -EPROTONOSUPPORT, a file that is not
 * an nfsentry store with -EINVAL. Journal mode WAL, synchronous=NORMAL
 * (a power cut may lose the last committed slots, never corrupt the file).
 * opts may be NULL (defaults) and is copied. On success *out is a new store
 * for store_close(); on failure *out is NULL, nothing is left open and err
 * holds "store PATH: what failed: reason".
 *
 * Errors: -EINVAL (bad opts, path, not a store), -EPROTONOSUPPORT (newer
 * schema), -ENOMEM, or the errno of the failed system call (mkdir, open).
 */
int store_open(const char *path, const struct store_opts *opts, struct store **out, char *err,
               size_t errlen);
/*
 * With opts->read_only: the file must exist and be at STORE_SCHEMA_VERSION
 * (an older one: -EPROTONOSUPPORT, "open it read-write once"; with
 * opts->read_schema3 also schema 3, read as it is); nothing is created or
 * written, and every write call fails (-EROFS).
 */

/*
 * Close the connection and free s (NULL is a no-op). Any statement state is
 * finalised; committed data is on disk (a WAL checkpoint runs if this was
 * the last connection).
 */
void store_close(struct store *s);

/*
 * The message of the last failed call on s ("" if none); owned by s, valid
 * until the next call on s.
 */
const char *store_error_get(const struct store *s);

/*
 * Write the n documents of (site, time_slot) in one transaction. The part
 * rule (docs/store.md "Partial slots and parts"): the write covers the
 * whole slot, or info's covered_from_s .. covered_to_s when info->partial.
 * When that contains what every part the slot holds covers, it replaces
 * them all and is stored as part 0: a replay of the same capture leaves
 * one copy, and a run that knows more replaces what an earlier stop of it
 * stored. Otherwise nothing is replaced and the documents are stored as
 * the next part (1 + the highest): a slot is never replaced by one that
 * knows less. store_last_part() says which part was stored. The written
 * part gets a new seq (higher than every seq before), so a consumer
 * reading store_slot_list() sees it. info may be NULL (closed_at_s = now,
 * not partial). All inputs are borrowed.
 *
 * Documents that repeat a (kind, key) given earlier in docs are not
 * stored; the others are, and the call returns -EEXIST with the number
 * left out and the first such key in store_error_get(), and counts them
 * in docs_duplicate (a duplicate never costs the rest of the slot).
 *
 * Errors: -EEXIST (written, but without the duplicates, as above),
 * -EINVAL (empty or too long site/kind/key, NULL pointers, time_slot < 0),
 * -E2BIG (a document over STORE_DOC_MAX_BYTES), -EBUSY (locked past
 * busy_timeout_ms, or called from a store callback), -ENOSPC, -EIO,
 * -ENOMEM. On any error but -EEXIST the store is unchanged: the slot keeps
 * what it held before.
 */
int store_slot_write(struct store *s, const char *site, int64_t time_slot,
                     const struct store_doc *docs, size_t n, const struct store_slot_info *info);

/*
 * store_slot_write() with the part's digest: digest_len bytes (1 ..
 * STORE_DIGEST_MAX_BYTES, else -E2BIG and nothing written), stored as a
 * blob in the same transaction as the documents, for the written part.
 * The digest is opaque here: the daily analysis makes and reads it
 * (daily_digest_build(), docs/internals/digest.md). A write that replaces
 * the slot deletes the digests of every part it replaces; digest NULL
 * stores none. Retention deletes digests with their slots. Same errors.
 */
int store_slot_write_digest(struct store *s, const char *site, int64_t time_slot,
                            const struct store_doc *docs, size_t n,
                            const struct store_slot_info *info, const void *digest,
                            size_t digest_len);

/*
 * The digest of part 0 of (site, time_slot): fn gets its bytes, valid only
 * during the call (fn must not call into s); fn's non-zero return is
 * returned. -ENOENT (fn not called) when the part has none: stored
 * without, or before digests existed.
 */
int store_digest_get(struct store *s, const char *site, int64_t time_slot,
                     int (*fn)(void *ud, const void *data, size_t len), void *ud);

/*
 * Retention: delete every slot that ended at least retention_days before
 * now_s, i.e. time_slot < floor((now_s - retention_days * 86400) / 300),
 * with its documents, in one transaction. now_s is the collector's clock
 * (capture time in replay). Before deleting, slots whose seq is beyond a
 * cursor are counted against that cursor (cursors.dropped_*) and, once
 * each, in retention_unshipped_* (see store_stats_get()). With no cursor
 * registered nothing counts as unshipped. deleted_slots may be NULL.
 * retention_days == 0 deletes nothing. On error nothing is deleted.
 */
int store_retention_apply(struct store *s, int64_t now_s, uint64_t *deleted_slots);

/*
 * List up to max slots with seq > after_seq in seq order (oldest write
 * first) into out[0..*n_out). A slot rewritten since appears once, under
 * its new seq; a slot deleted by retention does not appear. Copies; no
 * callback. On error *n_out is 0.
 */
int store_slot_list(struct store *s, int64_t after_seq, struct store_slot *out, size_t max,
                    size_t *n_out);

/*
 * Call fn for each document of (site, time_slot), only those of kind when
 * kind is not NULL, ordered by kind then key (bytewise). The whole walk
 * reads one snapshot: a concurrent rewrite of the slot is seen entirely or
 * not at all. d and its strings are valid only during the call. fn returns
 * 0 to go on; a non-zero value stops the walk and is returned. fn must not
 * call into s (such calls return -EBUSY). Returns 0 when done (also for a
 * slot with no documents or that does not exist). Errors are detected as
 * the walk proceeds, so fn may already have seen some documents of a walk
 * that then fails with -EIO/-ENOMEM; the negative result says it is
 * incomplete.
 */
int store_doc_foreach(struct store *s, const char *site, int64_t time_slot, const char *kind,
                      int (*fn)(void *ud, const struct store_doc *d), void *ud);

/*
 * store_doc_foreach() of one part of the slot; store_doc_foreach() reads
 * part 0, as do the dashboard readers below.
 */
int store_part_doc_foreach(struct store *s, const char *site, int64_t time_slot, uint32_t part,
                           const char *kind, int (*fn)(void *ud, const struct store_doc *d),
                           void *ud);

/* The part the last successful store_slot_write() on s stored (0 before any). */
uint32_t store_last_part(const struct store *s);

/*
 * Named cursors: the last seq a consumer has handled. get: -ENOENT (and
 * *seq untouched) when name was never set. set: creates or moves the cursor
 * (backwards too, to resend); seq >= 0. A set cursor registers a consumer:
 * from then on retention counts the slots it has not passed.
 */
int store_cursor_get(struct store *s, const char *name, int64_t *seq);
int store_cursor_set(struct store *s, const char *name, int64_t seq);

/* Latest (highest) time_slot written for site, or -ENOENT if none. */
int store_slot_latest(struct store *s, const char *site, int64_t *time_slot);

/*
 * Readers for the dashboard (docs/api.md). Each reads one snapshot. The
 * walking ones call fn as store_doc_foreach() does (d valid only during the
 * call, fn must not call into s, a non-zero return stops the walk and is
 * returned, errors may come after some calls).
 */

/*
 * Each site's latest slot (the row with the highest time_slot), by site
 * name, into out[0..*n_out). -E2BIG when there are more than max sites
 * (out then holds the first max). Pseudo-sites (a name with '@', such as
 * the daily analysis's "SITE@daily", docs/daily.md) are not sites: left out.
 */
int store_site_list(struct store *s, struct store_slot *out, size_t max, size_t *n_out);

/* The slot row of (site, time_slot) into *out; -ENOENT when not stored. */
int store_slot_get(struct store *s, const char *site, int64_t time_slot, struct store_slot *out);

/*
 * Documents of one kind of site in the slots from_slot..to_slot (both
 * included), by time_slot then key. Reads only that site's slots, whatever
 * other sites hold in the range.
 */
int store_doc_range(struct store *s, const char *site, const char *kind, int64_t from_slot,
                    int64_t to_slot, int (*fn)(void *ud, const struct store_doc *d), void *ud);

/*
 * Documents whose key is key (an IP, a MAC), of every site and kind, in the
 * slots from_slot..to_slot, by time_slot, site, kind (index documents_key).
 */
int store_key_range(struct store *s, const char *key, int64_t from_slot, int64_t to_slot,
                    int (*fn)(void *ud, const struct store_doc *d), void *ud);

/*
 * The labelled documents of (site, time_slot): inside, outside and offender
 * documents whose "labels" array is not empty (marked at write time), by
 * kind then key. Reads only those, through a partial index.
 */
int store_labelled_foreach(struct store *s, const char *site, int64_t time_slot,
                           int (*fn)(void *ud, const struct store_doc *d), void *ud);

/*
 * The n documents of kind in (site, time_slot) with the largest numeric
 * top-level field (1..31 ASCII letters, e.g. "octets"; -EINVAL otherwise),
 * largest first, ties by key. Parses every document of that kind: meant
 * for the bounded kinds (inside, the top-N outside, offender).
 */
int store_doc_top(struct store *s, const char *site, int64_t time_slot, const char *kind,
                  const char *field, size_t n, int (*fn)(void *ud, const struct store_doc *d),
                  void *ud);

/* Fill *st (see struct store_stats). Queries the file: returns an error code. */
int store_stats_get(struct store *s, struct store_stats *st);

#endif
