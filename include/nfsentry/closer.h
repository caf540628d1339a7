/*
 * closer: the worker that turns closed slots into judged documents, and the
 * hand-off of each judged slot to the modules that read it (sinks).
 *
 * The loop (or replay's main thread) submits each slot the engine closes;
 * one worker thread finishes it (METHOD §4 decisions), judges it (§5),
 * joins the site's ARP/MAC observations of that slot (§8, l2poll.h: the
 * latest poll of each device completed in the slot; a poll still running is
 * not waited for), builds its documents (§6) -- arpIp and arpMac included --
 * writes them to the store in one transaction (retried, then spooled when
 * the store cannot write: store_retry_ms, spool), optionally prints them
 * (--docs) or a human report, hands the judged slot to each sink, and frees
 * the slot. Slots are processed one at a time, in submission order.
 *
 * The queue is a fixed ring of queue_max entries allocated by
 * closer_start(): submitting never allocates and never runs a slot on the
 * caller's thread. When the ring is full, what gives depends on the mode
 * (docs/internals/pipeline.md):
 *   - backpressure on (replay, and shutdown): closer_submit() waits for
 *     room, so memory stays bounded by queue_max slots;
 *   - backpressure off (live): closer_submit() never waits; the slot is
 *     dropped whole (freed on the caller's thread, its documents lost), an
 *     error naming its site and slot is logged and slots_dropped counts it.
 *
 * Not here: deciding when a slot closes (engine.h), the counters of the
 * collector object (the caller passes them in), what a sink does with the
 * slot.
 */
#ifndef NFSENTRY_CLOSER_H
#define NFSENTRY_CLOSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nfsentry/counter.h"
#include "nfsentry/doc.h"
#include "nfsentry/judge.h"
#include "nfsentry/slot.h"

struct store;
struct spool;
struct l2poll;

/*
 * Default queue_max: the slot being closed and one more waiting. The
 * pipeline sizes its queue from the number of sites (pipeline.h).
 */
#define CLOSER_QUEUE_DEFAULT 2

/*
 * A slot that ends more than this after the wall clock is "in the future"
 * (a capture whose exporter clock jumped): it is stored and counted in
 * future_slots, but retention's clock does not follow it. An hour covers
 * exporter clocks that are off by minutes and a capture replayed on a
 * machine whose clock is a little behind.
 */
#define CLOSER_FUTURE_TOLERANCE_S 3600

/* Longest the closer spends re-inserting spooled slots after one slot's write. */
#define CLOSER_UNSPOOL_BUDGET_MS 30000

/* First wait before a store write is retried; each further wait doubles. */
#define CLOSER_RETRY_FIRST_MS 100

/* Most collector counters a slot carries to its document (more are cut). */
#define CLOSER_HEALTH_MAX 96

/*
 * A consumer of judged slots (the dashboard, the offender database, the
 * daily analysis). fn is called on the closer's worker thread for every
 * slot that was judged and whose documents were built, after the store
 * write (successful or not: a store failure is counted in store_errors, not
 * hidden from sinks) and after --docs / report output, in submission order,
 * one slot at a time and one sink after another in array order.
 *
 * Everything fn gets is borrowed for the call only and read-only: v (the
 * finished, judged view; its arrays and labels are freed with the slot right
 * after the last sink returns), jr (the judge's totals) and docs (the slot's
 * documents, exactly as stored). fn copies what it keeps. fn must not call
 * back into the closer (submit, drain, stop: they would deadlock). Slots
 * that never reach this point are not shown to sinks: those dropped at a
 * full queue (slots_dropped) and those whose finish, judge or documents ran
 * out of memory (doc_errors).
 *
 * fn's time is the closer's time: a slow sink delays every later slot and,
 * live, makes the queue overflow (slots_dropped). Work longer than a few
 * milliseconds belongs on the sink's own thread, fed by what fn copies.
 */
struct closer_sink {
	const char *name; /* static, for logs */
	void (*fn)(void *ud, const struct slot_view *v, const struct judge_result *jr,
	           const struct doc_batch *docs);
	void *ud; /* passed back unchanged */
};

struct closer_opts {
	struct doc_opts docs;
	FILE *docs_out;        /* borrowed; every document as a JSON line, or NULL */
	FILE *report_out;      /* borrowed; human report per slot, or NULL */
	struct store *store;   /* borrowed, used only by the worker; NULL = no store */
	bool wait_when_busy;   /* backpressure: submit waits while the queue is full */
	bool skip_empty;       /* do not report (but still store) slots without records */
	struct l2poll *l2;     /* borrowed: the slot's ARP/MAC observations, or NULL */
	/* Most slots held at once, the one being closed included; 0 = CLOSER_QUEUE_DEFAULT. */
	size_t queue_max;
	const struct closer_sink *sinks; /* borrowed array (must outlive the closer), or NULL */
	size_t n_sinks;
	/*
	 * A store write that fails with -EBUSY, -ENOSPC, -EDQUOT or -EIO is
	 * tried again after 100 ms, 200 ms, 400 ms ... until store_retry_ms have
	 * been waited in all (0: no retry). While the store keeps failing (a
	 * slot has used up its waits and no write has succeeded since), later
	 * slots are tried once, without waits, so one failure costs the closer
	 * store_retry_ms at most, not that much per slot.
	 */
	uint32_t store_retry_ms;
	/*
	 * Borrowed, used only by the worker; NULL = none. A slot the store
	 * refuses (after the retries) is written here; spooled slots are put
	 * back into the store, oldest first, at start and after every
	 * successful write (spool.h).
	 */
	struct spool *spool;
	/*
	 * Retention's clock. true (live): the wall clock. false (replay): the
	 * end of the newest slot written by this closer that does not end more
	 * than CLOSER_FUTURE_TOLERANCE_S after the wall clock, so that one
	 * datagram stamped years ahead cannot make every stored slot look old.
	 */
	bool retention_wall_clock;
	/*
	 * Not 0: every slot is stored with its daily digest (daily.h,
	 * daily_digest_build()), made for an analysis with max_peers up to
	 * digest_max_peers and probe_targets up to digest_probe_targets, in the
	 * same transaction as its documents. A digest that cannot be made is
	 * counted (digest_errors) and the slot stored without one (the daily
	 * analysis then reads its documents). 0: no digests.
	 */
	uint32_t digest_max_peers, digest_probe_targets;
};

struct closer_stats {
	uint64_t slots;          /* slots processed (written, or lost to doc/store errors) */
	uint64_t documents;      /* documents built */
	uint64_t store_errors;   /* slots not stored whole at their close (then spooled or lost) */
	uint64_t doc_errors;     /* slots whose documents could not be built (ENOMEM) */
	uint64_t last_close_us;  /* finish + judge + documents + store of the last slot */
	uint64_t max_close_us;
	uint64_t cpu_us;         /* CPU time of the worker for the slots processed */
	uint64_t finish_cpu_us;  /* the part of cpu_us in slot_finish (arrays A, B, C built) */
	uint64_t queued;         /* gauge: slots held now (waiting plus the one being closed) */
	uint64_t queued_max;     /* the most slots held at once */
	uint64_t queue_capacity; /* gauge: queue_max in effect */
	uint64_t slots_dropped;  /* live: slots freed unwritten because the queue was full */
	uint64_t submit_waits;   /* backpressure: submits that had to wait for room */
	uint64_t sink_us;        /* wall time spent in sinks, all slots */
	uint64_t store_retries;    /* store writes tried again after a transient error */
	uint64_t slots_partial;    /* stored without their duplicate documents (-EEXIST) */
	uint64_t slots_spooled;    /* refused by the store, written to the spool */
	uint64_t slots_unspooled;  /* spooled slots put back into the store */
	uint64_t spool_stale;      /* spooled slots dropped: the store held a newer write */
	uint64_t slots_store_lost; /* refused by the store and not spooled (spool full...) */
	uint64_t spool_slots;      /* gauge: slots waiting in the spool */
	uint64_t spool_bytes;      /* gauge: their bytes */
	uint64_t future_slots;     /* slots ending past the wall clock + tolerance */
	uint64_t digest_errors;    /* slots stored without their daily digest (closer_opts) */
};

/* The steps of closing one slot, as timed in struct closer_steps. */
enum closer_step {
	CLOSER_STEP_FINISH, /* slot_finish: METHOD §4, arrays A, B, C */
	CLOSER_STEP_JUDGE,  /* ARP/MAC join and judge */
	CLOSER_STEP_DOCS,   /* documents (arpIp/arpMac included) */
	CLOSER_STEP_STORE,  /* store_slot_write + store_retention_apply */
	CLOSER_STEP_OUTPUT, /* --docs lines and the report */
	CLOSER_STEP_SINKS,  /* every sink */
	CLOSER_STEP_FREE,   /* documents, ARP/MAC join and slot freed */
	CLOSER_STEP__COUNT
};

/* Where the time of the last processed slot went (benchmarks, diagnosis). */
struct closer_steps {
	uint64_t wall_us[CLOSER_STEP__COUNT];
	uint64_t cpu_us[CLOSER_STEP__COUNT]; /* the worker thread's CPU */
	uint64_t slot_bytes;                 /* slot_memory() once finished; 0 if finish failed */
};

/* struct closer_stats described (counter.h), every field. */
extern const struct counter_table closer_counters;

struct closer;

/*
 * Start the worker thread with a copy of opts (the pointers in it stay
 * borrowed) and its queue of queue_max entries, allocated here. Returns 0,
 * -ENOMEM or -errno from pthread; on failure nothing is allocated and no
 * thread runs.
 */
int closer_start(const struct closer_opts *opts, struct closer **out);

/*
 * Queue a closed slot with the collector counters for its slot document
 * (copied; at most CLOSER_HEALTH_MAX, the rest cut). Ownership of s passes
 * to the closer in every case. Allocates nothing. Returns 0 when the slot
 * is queued; -ENOSPC when the queue is full and backpressure is off: the
 * slot has been freed unwritten (logged, counted in slots_dropped). With
 * backpressure on it waits for room and returns 0.
 * Not to be called from a sink or concurrently with closer_stop().
 */
int closer_submit(struct closer *c, struct slot *s, const struct doc_counter *health,
                  size_t n_health);

/*
 * closer_submit() with documents made outside the slot (the attack
 * events of its period, attack.h) to be stored, printed and shown to sinks
 * with the slot's own, after them. extra may be NULL; its documents pass
 * to the closer in every case (extra is left empty), freed with the slot's
 * batch, or with the slot when it is dropped.
 */
int closer_submit_docs(struct closer *c, struct slot *s, const struct doc_counter *health,
                       size_t n_health, struct doc_batch *extra);

/*
 * Turn backpressure on or off (closer_opts.wait_when_busy) from now on. The
 * live loop turns it on once it no longer receives (shutdown), so that the
 * last slots are waited for rather than dropped.
 */
void closer_backpressure_set(struct closer *c, bool on);

/* Wait until every queued slot has been processed (and its sinks called). */
void closer_drain(struct closer *c);

/* Drain, stop the thread and free. NULL is accepted. */
void closer_stop(struct closer *c);

/*
 * Make the queue hold at least n slots (a configuration reload that adds
 * sites: every site closes its slot at the same tick). Never shrinks.
 * Returns 0, or -ENOMEM with the queue as it was. Any thread but a sink's.
 */
int closer_queue_reserve(struct closer *c, size_t n);

/* A consistent copy of the counters (taken under the closer's lock). */
void closer_stats_get(struct closer *c, struct closer_stats *out);

/*
 * Whether a slot submitted and not yet freed (waiting, or being closed)
 * was opened with a site of sites[0 .. n_sites) (borrowed for the call;
 * compared by address, never read). A configuration reload frees a
 * replaced site table once this and engine_sites_in_use() say no. Any
 * thread but a sink's.
 */
bool closer_sites_held(struct closer *c, const struct site_config *sites, size_t n_sites);

/* The step timings of the last slot processed (zeros before the first). */
void closer_steps_get(struct closer *c, struct closer_steps *out);

/* The step's name ("finish", "judge", "docs", "store", "output", "sinks", "free"). */
const char *closer_step_name(enum closer_step step);

#endif
