/*
 * attack_live: the latest document of each open attack event (and of each
 * ended one until its slot is stored), so that the dashboard shows an
 * attack within a second of its start document instead of when its slot
 * closes (docs/attacks.md, "On the dashboard").
 *
 * Writers and readers are on different threads:
 *  - the engine's thread (the pipeline's on_attack_event) puts every
 *    attack document as it is made: attack_live_put() copies it into a
 *    fixed table under a short mutex. Nothing is allocated there; a
 *    document that finds no room or is too long is counted, never waited
 *    for.
 *  - the closer's worker calls attack_live_stored() after it wrote a
 *    site's slot: the ended events whose last document belongs to that
 *    slot or an earlier one are forgotten (the store has them now).
 *  - the web server's threads take a copy (attack_live_snapshot()) and
 *    merge it with the stored documents by event id, highest seq winning
 *    (pages.c).
 *
 * Not this module's job: building the documents (doc.h), deciding events
 * (attack.h), storing them (closer.h).
 */
#ifndef NFSENTRY_ATTACKLIVE_H
#define NFSENTRY_ATTACKLIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"
#include "nfsentry/site.h"

#define ATTACK_LIVE_DOC_MAX 8192     /* one document's JSON; an attack document is ~3 KiB at most */
#define ATTACK_LIVE_ID_MAX 24        /* an event id ("id" of the document), NUL included */
#define ATTACK_LIVE_ENTRIES_MAX 8192 /* 2 x ATTACK_EVENTS_MAX: open plus recently ended */

/* One event's latest document. In a snapshot json points into the snapshot. */
struct attack_live_doc {
	char site[SITE_NAME_MAX];
	char id[ATTACK_LIVE_ID_MAX];
	uint32_t seq;      /* the event's callback number (0 at start) */
	bool ended;        /* the document is the event's end */
	int64_t time_slot; /* the slot the document is stored with */
	const char *json;
	size_t len;
};

struct attack_live_stats {
	uint64_t docs;      /* documents put */
	uint64_t stale;     /* put with a seq not above the kept one: ignored */
	uint64_t too_large; /* longer than ATTACK_LIVE_DOC_MAX: not shown until stored */
	uint64_t full;      /* new event found every entry open: not shown until stored */
	uint64_t evicted;   /* ended events forgotten before their slot was stored, for room */
	uint64_t entries;   /* gauge: entries in use */
};

extern const struct counter_table attack_live_counters;

struct attack_live;

/*
 * A table of max_entries entries (1..ATTACK_LIVE_ENTRIES_MAX; twice the
 * detector's max_events keeps every open event and as many ended ones).
 * Its documents take max_entries * ATTACK_LIVE_DOC_MAX bytes of address
 * space, reserved now and touched as entries are used. Returns 0, -EINVAL
 * or -ENOMEM; *out is set only on success.
 */
int attack_live_create(size_t max_entries, struct attack_live **out);

/* Free the table (no thread may use it any more). NULL ok. */
void attack_live_destroy(struct attack_live *l);

/*
 * Keep the document json[0..len) of event id of site (all copied) when it
 * is newer (seq higher) than the one kept, or the event is new. A new event
 * takes a free entry, else the entry of the ended event with the oldest
 * slot (evicted), else it is counted (full) and dropped. Never allocates;
 * holds the table's mutex for one copy. Any thread.
 */
void attack_live_put(struct attack_live *l, const char *site, const char *id, uint32_t seq,
                     bool ended, int64_t time_slot, const char *json, size_t len);

/*
 * Site's slot time_slot is stored: forget its ended events whose document
 * belongs to that slot or an earlier one. Any thread.
 */
void attack_live_stored(struct attack_live *l, const char *site, int64_t time_slot);

/*
 * A copy of every entry into a new array *out of *n documents (the caller
 * frees *out with free(); the JSON texts live in the same allocation).
 * *out is NULL when the table is empty. Returns 0 or -ENOMEM (*out NULL).
 * Any thread.
 */
int attack_live_snapshot(struct attack_live *l, struct attack_live_doc **out, size_t *n);

/* counter_snapshot_fn over attack_live_counters: ud is the table. Any thread. */
void attack_live_stats_get(void *ud, void *stats);

#endif
