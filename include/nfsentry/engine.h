/*
 * engine: routes decoded records to the open slot of each monitored site
 * and closes slots on the collector's clock (DESIGN "Clock and slots").
 *
 * - A record's site comes from a longest-prefix match of its source and
 *   destination over every site's inside prefixes; egress (src inside),
 *   ingress (dst inside) or internal (both inside the same site). A record
 *   between two different sites is egress for one and ingress for the other.
 * - Its slot is floor(export time / 300 s). Each site has the current slot
 *   open and, during the grace period after a slot's end, the previous one
 *   too. A record for an older slot is late and one for a slot beyond the
 *   current is future: both are counted and folded into the current slot.
 * - The clock is the wall clock live and the capture time in replay; it
 *   only moves forward. When it passes a slot's end plus the grace period,
 *   the slot is detached and handed to the close callback, which owns it
 *   from then on (typically: queue it for a worker); a fresh slot is open
 *   already. Gaps of up to ENGINE_MAX_GAP_SLOTS empty slots are closed as
 *   empty slots so that every site reports every slot; longer gaps are
 *   skipped and counted.
 *
 * One engine belongs to one thread (the loop thread, or replay's main).
 */
#ifndef NFSENTRY_ENGINE_H
#define NFSENTRY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/config.h"
#include "nfsentry/counter.h"
#include "nfsentry/flow.h"
#include "nfsentry/site.h"
#include "nfsentry/slot.h"

#define ENGINE_MAX_GAP_SLOTS 12

/*
 * Receives each closed slot (not yet finished: slot_finish() is the
 * receiver's job, on whatever thread it likes) and owns it.
 */
typedef void (*engine_close_fn)(void *ud, struct slot *s, uint32_t site_index);

struct engine_stats {
	uint64_t records;          /* records offered */
	uint64_t unmatched;        /* neither end inside any site */
	uint64_t late, future;     /* folded into the current slot */
	uint64_t slots_closed;
	uint64_t slots_skipped;    /* empty slots of long clock gaps */
	uint64_t alloc_failures;   /* a slot could not be created: records counted here */
};

/* struct engine_stats described (counter.h), every field. */
extern const struct counter_table engine_counters;

struct engine;

/*
 * Build the prefix table from sites (borrowed: must outlive the engine, or
 * a reload's engine_sites_set()); at most ENGINE_MAX_SITE_IDS sites.
 * grace_ms: how long a slot stays open after its end. Returns 0, -EINVAL with
 * err naming the site and prefix when a prefix is rejected, or -ENOMEM.
 */
int engine_create(const struct site_config *sites, size_t n_sites, uint64_t grace_ms,
                  engine_close_fn close_fn, void *ud, struct engine **out, char *err,
                  size_t errlen);

/* Free the engine and any slots still open (without closing them). */
void engine_destroy(struct engine *e);

/* Move the clock to now_ms (ignored if earlier) and close what is due. */
void engine_clock(struct engine *e, uint64_t now_ms);

/*
 * A reader of every record the engine matched, with the sites the match
 * found: site_src[i] / site_dst[i] is the site index of v[i]'s source /
 * destination, or < 0 outside every site (a record with neither is passed
 * too). Called on the engine's thread once per chunk of at most
 * ENGINE_TAP_CHUNK records, after they are handed to their slots; every
 * pointer is borrowed for the call. The attack detector's ring is one
 * (attack_ring_records(), attackring.h): it reuses the engine's match
 * instead of making a second.
 */
#define ENGINE_TAP_CHUNK 64
typedef void (*engine_record_tap_fn)(void *ud, const struct flow *v, size_t n,
                                     const int64_t *site_src, const int64_t *site_dst);

/*
 * Set (or, with fn NULL, remove) the engine's one record tap. ahead, when
 * not NULL, is called with the same arguments before the chunk is handed
 * to its slots: a tap asks for its memory there, and it arrives while the
 * slots work (attack_records_ahead()). The tap is handed the ids given out
 * when it was set only: a site a reload adds later is -1 to it.
 */
void engine_record_tap_set(struct engine *e, engine_record_tap_fn fn, engine_record_tap_fn ahead,
                           void *ud);

/* Route records. Matches the decoder's sink signature when ud is the engine. */
void engine_flows(void *engine, const struct flow *v, size_t n);

/*
 * Close every open slot now (end of replay, SIGTERM), oldest first. A slot
 * that is partial (slot_view.partial: its coverage was cut by
 * engine_state_save() at a stop, or began after its start) and got no
 * record is destroyed instead of closed: the close callback never sees
 * it. Returns the number of those.
 */
size_t engine_close_all(struct engine *e);

void engine_stats_get(const struct engine *e, struct engine_stats *out);

/*
 * Coverage (slot.h, covered_from_s): from now on, a slot the engine opens
 * that began before start_ms is marked as seen only from start_ms. run
 * calls it once with its start time; replay never does (a capture's slots
 * are what it holds). Restored slots keep the coverage they were saved with.
 */
void engine_cover_from(struct engine *e, uint64_t start_ms);

/*
 * Site ids: a site's index in the table the engine was created with; a
 * site a reload adds takes the next id. The close callback, the slots
 * (slot_view.site_index) and the record tap know sites by id. Ids are not
 * reused within a run: at most ENGINE_MAX_SITE_IDS are given out, so that
 * a run of CONFIG_MAX_SITES sites may add as many by reloads.
 */
#define ENGINE_MAX_SITE_IDS (2 * CONFIG_MAX_SITES)

/*
 * The configuration reload (docs/manual.md "Reloading the configuration"):
 * stage sites (borrowed: must outlive the engine, or until
 * engine_sites_in_use() says no) to take over at the next slot boundary
 * (the next engine_clock() into a later slot, or the first clock). Then a
 * site of the same name keeps its id and its open slots (the slot before
 * the boundary finishes with the site and prefixes it was opened with) and
 * opens the next slot with its new entry; a site not in sites is gone: its
 * last slot closes at its end plus the grace period as every slot does,
 * and it opens no more; a new name takes the next unused id and opens its
 * first slot at the boundary. A rename is a removal and an addition.
 * Records of the slot before the boundary are matched with the table it
 * was opened with while it is open in its grace period; older (late)
 * records are folded into the open slots, with the table in force. A table staged before
 * and not yet in force is replaced. Returns 0; -ENOSPC when more than
 * ENGINE_MAX_SITE_IDS ids would be needed; a prefix the prefix table
 * refuses (prefix_table_add(): -EEXIST in two sites, -EINVAL) or -ENOMEM;
 * err names why; on failure nothing changed (a table staged before stays).
 */
int engine_sites_set(struct engine *e, const struct site_config *sites, size_t n_sites, char *err,
                     size_t errlen);

/* Sites of the table in force (the staged one not counted). */
size_t engine_sites_in_force(const struct engine *e);

/* Ids given out once the staged table (if any) is in force: every id is below. */
size_t engine_site_ids(const struct engine *e);

/* The id of the site called name in the staged table, else in the one in force; -1: none. */
int64_t engine_site_id(const struct engine *e, const char *name);

/*
 * Whether the engine still reads the array sites[0 .. n_sites) (borrowed
 * for the call; compared by address, never read): it is the table in force
 * or the staged one, a site not yet retired has its entry there, or a slot
 * the engine holds open was opened with one of its sites. A reload frees a
 * replaced site table once neither the engine nor the closer
 * (closer_sites_held()) holds it; once this says false for a table no
 * longer given to engine_sites_set(), it says false for good.
 */
bool engine_sites_in_use(const struct engine *e, const struct site_config *sites, size_t n_sites);

/*
 * Saved state of the open slots across a restart (docs/manual.md
 * "Restarts", docs/internals/slot.md "Saved state").
 *
 * engine_state_save() writes every site's open slots (the current one and
 * one still in its grace period) to fd: a header (format version, byte
 * order, the sites' names and prefixes hash, now_ms, written) then each
 * slot as slot_save() writes it, marked as covered up to now_ms. The slots
 * stay open (the caller closes them next). written is a byte of the header
 * at ENGINE_STATE_WRITTEN_OFFSET that the caller may set to 1 afterwards
 * (pwrite) once those slots are in the store. *n_slots (may be NULL) gets
 * the slots saved. Returns 0 or -errno from write(2).
 *
 * engine_state_load() reads such a file at start, before any record, with
 * now_ms the clock now. A slot of a site of the same name whose slot is
 * still open at now_ms (the current slot, or the previous one within its
 * grace period) is restored and goes on when the sites hash matches. Every
 * other slot is handed to the close callback as it was saved (partial when
 * its coverage says so) unless the header says written or it is partial
 * with no record (as engine_close_all() leaves those out); a slot whose site
 * is gone is dropped and logged. Counts go to *res. Returns 0, or -EBADMSG
 * / -EPROTONOSUPPORT for a file it cannot read whole (slots already handed
 * on or restored before the bad one stay so), -ENOMEM, -errno.
 */
#define ENGINE_STATE_WRITTEN_OFFSET 12
struct engine_restore {
	size_t restored;     /* slots going on */
	size_t closed;       /* slots handed to the close callback */
	size_t already;      /* closed slots the previous run had already stored */
	size_t left_out;     /* closed, partial and without a record: not handed on */
	size_t dropped;      /* site gone: lost */
	bool config_changed; /* the sites hash differs: nothing restored */
	uint64_t saved_at_ms;
};
int engine_state_save(struct engine *e, int fd, uint64_t now_ms, size_t *n_slots);
int engine_state_load(struct engine *e, int fd, uint64_t now_ms, struct engine_restore *res);

/* Bytes held by open slots, for /metrics. */
size_t engine_memory(const struct engine *e);

#endif
