/*
 * spool: where a slot goes when the store cannot write it.
 *
 * The closer writes each slot to the store; when the store refuses it for
 * good (after its retries: a full filesystem, an I/O error, a lock held too
 * long, a read-only file), the slot's documents are written to one file in
 * the spool directory instead, and re-inserted into the store, oldest slot
 * first, as soon as the store takes a write again or at the next start.
 * The spool is bounded: a slot that would take it past max_bytes is
 * refused (-ENOSPC) and the caller counts it as lost.
 *
 * One file per (site, slot): "TTTTTTTTTTTTTTTTTTTT-SITEHEX-NNNNNNNNNNNNNNNNNNNN.slot"
 * (time slot, site name in hex, spooling time in ns, zero-padded so that
 * names sort oldest slot first). A slot spooled again replaces its older
 * file. Files are written to a ".tmp" name, fsync'ed and renamed, so a
 * crash leaves a whole file or none (".tmp" leftovers are removed at open).
 * Format: docs/internals/store.md ("The spool").
 *
 * Not this module's job: deciding when to spool or restore (the closer),
 * retrying the store, logging (messages are returned in err buffers).
 *
 * Threads: one struct spool is used by one thread at a time (the closer's
 * worker). Errors are negative errno codes.
 */
#ifndef NFSENTRY_SPOOL_H
#define NFSENTRY_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "nfsentry/store.h"

/* Default byte cap of the whole spool (store.spool_max_bytes): 1 GiB. */
#define SPOOL_MAX_BYTES_DEFAULT (1024ull * 1024 * 1024)

struct spool;

/* What the spool holds now (gauges). */
struct spool_stats {
	uint64_t slots; /* spooled slot files */
	uint64_t bytes; /* their total size */
};

/*
 * Open the spool in directory dir (created, mode 0750, when missing; one
 * level only), counting the files it already holds and removing ".tmp"
 * leftovers of an interrupted write. max_bytes caps the total size of the
 * spooled files (0 = SPOOL_MAX_BYTES_DEFAULT). dir is copied. On failure
 * *out is NULL and err holds "spool DIR: what: reason".
 * Errors: -EINVAL (no dir, too long), -ENOMEM, -errno of mkdir/opendir.
 */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t errlen);

/* Free sp (NULL is a no-op). The files stay. */
void spool_close(struct spool *sp);

/* The directory, as given to spool_open(). */
const char *spool_dir(const struct spool *sp);

/* Copy the gauges into *st. */
void spool_stats_get(const struct spool *sp, struct spool_stats *st);

/*
 * Write the n documents of (site, time_slot) with info (may be NULL) to a
 * new spool file, fsync'ed before it gets its name, replacing an older
 * spool file of the same (site, slot). All inputs are borrowed. The file's
 * path is copied to path (may be NULL). Returns 0; -ENOSPC when the file
 * would take the spool past its cap (nothing written); -EINVAL for a bad
 * site or slot; -errno of the failed write (nothing left behind). On error
 * err holds the cause with the path.
 */
int spool_slot_put(struct spool *sp, const char *site, int64_t time_slot,
                   const struct store_slot_info *info, const struct store_doc *docs, size_t n,
                   char *path, size_t pathlen, char *err, size_t errlen);

/* What spool_slot_restore() did with the oldest spooled slot. */
enum spool_outcome {
	SPOOL_EMPTY,   /* nothing spooled */
	SPOOL_STORED,  /* written to the store (also when its duplicates were left out) */
	SPOOL_STALE,   /* the store holds a newer write of that slot: file deleted */
	SPOOL_CORRUPT, /* unreadable, or a batch the store refuses (-EINVAL, -E2BIG):
	                  renamed to NAME.bad, left for the operator; err says why */
};

/* The restored slot, for the caller's log line. */
struct spool_restored {
	enum spool_outcome outcome;
	char site[STORE_SITE_MAX];
	int64_t time_slot;
	size_t n_docs;
};

/*
 * Re-insert the oldest spooled slot into st with store_slot_write() and
 * delete its file; unless st already holds a write of that (site, slot)
 * made at or after the spooling (SPOOL_STALE: the file is deleted, the
 * store left alone). Returns 0 with r filled, or the negative code of the
 * store write that failed (the file is kept; err holds the store's
 * message) or of reading the spool (-ENOMEM, -errno).
 */
int spool_slot_restore(struct spool *sp, struct store *st, struct spool_restored *r, char *err,
                       size_t errlen);

#endif
