/*
 * closer: the worker that turns closed slots into judged documents.
 *
 * The loop (or replay's main thread) submits each slot the engine closes;
 * one worker thread finishes it (METHOD §4 decisions), judges it (§5),
 * joins the site's ARP/MAC observations of that slot (§8, l2poll.h: the
 * latest poll of each device completed in the slot; a poll still running is
 * not waited for), builds its documents (§6) -- arpIp and arpMac included --
 * writes them to the store in one transaction,
 * optionally prints them (--docs) or a human report, and frees the slot.
 * Slots are processed in submission order.
 *
 * The queue holds slots that are already detached from the engine, so the
 * loop never waits in live mode; replay sets wait_when_busy so that a fast
 * reader cannot pile up more than two closed slots (memory stays bounded).
 */
#ifndef NFSENTRY_CLOSER_H
#define NFSENTRY_CLOSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nfsentry/counter.h"
#include "nfsentry/doc.h"
#include "nfsentry/slot.h"

struct store;
struct l2poll;

struct closer_opts {
	struct doc_opts docs;
	FILE *docs_out;        /* borrowed; every document as a JSON line, or NULL */
	FILE *report_out;      /* borrowed; human report per slot, or NULL */
	struct store *store;   /* borrowed, used only by the worker; NULL = no store */
	bool wait_when_busy;   /* replay: submit blocks while 2 slots are queued */
	bool skip_empty;       /* do not report (but still store) slots without records */
	struct l2poll *l2;     /* borrowed: the slot's ARP/MAC observations, or NULL */
};

struct closer_stats {
	uint64_t slots;         /* slots written */
	uint64_t documents;     /* documents built */
	uint64_t store_errors;  /* slots the store refused (documents lost from the store) */
	uint64_t doc_errors;    /* slots whose documents could not be built (ENOMEM) */
	uint64_t last_close_us; /* finish + judge + documents + store of the last slot */
	uint64_t max_close_us;
	uint64_t cpu_us;        /* CPU time of the slots processed, on whichever thread */
	uint64_t finish_cpu_us; /* the part of cpu_us in slot_finish (arrays A, B, C built) */
	uint64_t queued_max;
};

/* struct closer_stats described (counter.h), every field. */
extern const struct counter_table closer_counters;

struct closer;

/* Start the worker thread. Returns 0, -ENOMEM or -errno from pthread. */
int closer_start(const struct closer_opts *opts, struct closer **out);

/*
 * Queue a closed slot (ownership passes to the closer) with the collector
 * counters for its slot document (copied). Never fails: if memory for the
 * queue entry cannot be had, the slot is processed on the calling thread.
 */
void closer_submit(struct closer *c, struct slot *s, const struct doc_counter *health,
                   size_t n_health);

/* Wait until every queued slot has been written. */
void closer_drain(struct closer *c);

/* Drain, stop the thread and free. NULL is accepted. */
void closer_stop(struct closer *c);

/* A consistent copy of the counters (taken under the closer's lock). */
void closer_stats_get(struct closer *c, struct closer_stats *out);

#endif
