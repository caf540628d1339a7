/*
 * pipeline: what happens to a datagram after it is received, the same for
 * live UDP and capture replay: exporter check and decode; decoded records go
 * to the record printer (--flows) and to the site/slot engine; slots the
 * engine closes go to the closer's worker (judge, documents, store).
 *
 * One pipeline belongs to one thread (the loop thread live, the main thread
 * in replay); the closer runs its own worker.
 */
#ifndef NFSENTRY_PIPELINE_H
#define NFSENTRY_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nfsentry/config.h"
#include "nfsentry/counter.h"
#include "nfsentry/decoder.h"
#include "nfsentry/engine.h"
#include "nfsentry/flow.h"
#include "nfsentry/flowout.h"

struct l2poll;
struct closer_sink;
struct attack_live;

struct pipeline;

/*
 * A watcher of every decoded record (the reputation module's footprints,
 * reputation.h), called on the pipeline's thread: records(ud, v, n) with
 * each batch, whether its records match a site or not, before the engine
 * sees it; clock(ud, now_ms) with the collector's clock just before the
 * engine's clock moves (so what the watcher hands on for a slot is there
 * before that slot's sites close); flush(ud) just before the last slots
 * close. Every function is required; ud is passed back unchanged.
 */
struct pipeline_watch {
	void (*records)(void *ud, const struct flow *v, size_t n);
	void (*clock)(void *ud, uint64_t now_ms);
	void (*flush)(void *ud);
	void *ud;
};

struct pipeline_opts {
	enum flowout_format flows; /* FLOWOUT_NONE: print no records */
	FILE *flows_out;           /* borrowed; where --flows rows go */
	FILE *docs_out;            /* borrowed; every document as JSON lines, or NULL */
	FILE *report_out;          /* borrowed; human report per slot, or NULL */
	bool use_store;            /* open cfg->store_path and write every slot */
	bool replay;               /* capture time is the clock; closes may apply backpressure */
	struct l2poll *l2;         /* borrowed: each slot's ARP/MAC observations, or NULL */
	/*
	 * Most closed slots the closer holds (closer_opts.queue_max); 0 = two
	 * per site. Replay waits for room; live drops a slot that finds no room
	 * (counted, closer.h).
	 */
	size_t closer_queue;
	const struct closer_sink *sinks; /* borrowed array, called per judged slot (closer.h) */
	size_t n_sinks;
	/*
	 * run: keep state across restarts in STORE_PATH.state/ (docs/manual.md
	 * "Restarts"): at create, restore the open slots a clean stop saved
	 * (pipeline_stop) and note a previous run that did not stop cleanly;
	 * load the decoder's saved templates and sampler rates
	 * (pipeline_templates_save); mark slots opened after now_ms as seen
	 * from then. Needs use_store.
	 */
	bool restart_state;
	const struct pipeline_watch *watch; /* copied; NULL = no record watcher */
	/*
	 * Borrowed, or NULL: every attack document is also put into this live
	 * table (attacklive.h) as it is made, on the detector's thread, so the
	 * dashboard shows it before its slot is stored. Must outlive the
	 * pipeline (the last end documents are put by pipeline_destroy()).
	 */
	struct attack_live *attack_live;
};

/*
 * Create a pipeline for cfg (borrowed: must outlive the pipeline): decoder,
 * engine over cfg's sites, store, closer thread. Returns 0, or a negative
 * code with a message in err (a rejected prefix, a store that cannot be
 * opened, ENOMEM); nothing is left running on failure.
 */
int pipeline_create(const struct config *cfg, const struct pipeline_opts *opts,
                    struct pipeline **out, char *err, size_t errlen);

/*
 * Close every open slot, wait until the closer has written them, flush the
 * record output, and free everything. NULL is accepted.
 */
void pipeline_destroy(struct pipeline *pl);

/*
 * datagram_fn: decode one datagram and route its records. Always returns 0
 * (a bad datagram is counted, not fatal); ud is the struct pipeline. In
 * replay the export time of the decoded records drives the slot clock; the
 * datagram's timestamp drives template expiry.
 */
int pipeline_datagram(void *ud, const struct datagram *dg);

/*
 * Whether pipeline_datagram() uses a datagram's rx_fill_pm (live, the
 * attack detector's sampling): udpin need not look at its sockets if not.
 */
bool pipeline_uses_rx_fill(const struct pipeline *pl);

/* Live: move the slot clock to the wall clock now_ms. */
void pipeline_tick(struct pipeline *pl, uint64_t now_ms);

/*
 * Close every open slot and wait until all are written (end of replay,
 * SIGTERM); a partial slot that got no record is not written (logged,
 * engine_close_all()). From then on the closer waits for room rather than
 * dropping.
 */
void pipeline_close_slots(struct pipeline *pl);

/*
 * The graceful stop of run (SIGTERM): with restart_state, save every open
 * slot to STORE_PATH.state/slots (a temporary file, fsync, rename) before
 * closing and writing them as pipeline_close_slots() does (each then says
 * partial, covered up to now; those without a record are not written),
 * record that the stop was clean, and save the decoder's templates and
 * sampling rates. Without restart_state it is
 * pipeline_close_slots(). A failure to save is logged; the slots are
 * written all the same.
 */
void pipeline_stop(struct pipeline *pl);

/*
 * With restart_state: save the decoder's templates and sampler rates to
 * STORE_PATH.state/templates (decoder_state_save), when they changed since
 * the last save or always. Run's stats timer calls it once a minute, so
 * that a crash keeps them too; pipeline_stop() calls it always. A failure
 * is logged. Without restart_state it does nothing.
 */
void pipeline_templates_save(struct pipeline *pl, uint64_t now_ms, bool always);

/* Flush buffered record output. Returns 0 or -errno from the stream. */
int pipeline_flush(struct pipeline *pl);

/* The decoder and engine, for statistics. */
const struct decoder *pipeline_decoder(const struct pipeline *pl);
const struct engine *pipeline_engine(const struct pipeline *pl);

/*
 * The configuration reload (docs/manual.md "Reloading the configuration"),
 * on the pipeline's thread between two datagrams. sites: cfg's sites take
 * over at the next slot boundary (engine_sites_set(): sites kept by name,
 * added or removed; the counter sources and the closer's queue make room
 * for the added ones first); allow: the decoder takes cfg's exporters.allow
 * at once (copied). cfg's sites are borrowed as pipeline_create()'s are:
 * cfg must stay until pipeline_config_in_use() says it is no longer used.
 * The attack detector keeps the sites of the creation: a site added later
 * is not one of its (engine_record_tap_set()). The pipeline's other
 * settings (store, grace, documents, decoder caps) stay what
 * pipeline_create() was given. Returns 0, or a negative code with err set
 * (-ENOMEM, or engine_sites_set()'s); on failure the sites and the
 * allow-list in force stay (room made for sites is only room).
 */
int pipeline_reload(struct pipeline *pl, const struct config *cfg, bool sites, bool allow,
                    char *err, size_t errlen);

/*
 * The site id (engine.h) of the site called name after the last
 * pipeline_reload(), or -1 (no such site, or no sites). Pipeline's thread.
 */
int64_t pipeline_site_id(const struct pipeline *pl, const char *name);

/*
 * The configuration reload of the attack thresholds: the detector (when
 * attack.enabled at create) evaluates with cfg's attack thresholds from its
 * next second on (attack_thresholds_set(), copied). Returns 0 (also
 * without a detector), -EINVAL (other attack.sites, groups or prefixes) or
 * -ENOMEM, the thresholds in force kept. Pipeline's thread.
 */
int pipeline_attack_set(struct pipeline *pl, const struct config *cfg);

/*
 * The configuration reload of attack.hook and attack.hook_timeout_ms: the
 * hook thread (started with the detector, attack.enabled at create, also
 * without a command) runs cfg's command from its next run on
 * (attack_hook_set(), copied; "" stops running it). Returns 0 (also
 * without a detector) or -EINVAL, the command in force kept. Any thread.
 */
int pipeline_attack_hook_set(struct pipeline *pl, const struct config *cfg);

/*
 * Wait until the attack detector's thread (nfs-attack) has handled every
 * record and clock step given so far: its events' documents are in the
 * live table and the hook's queue then. A no-op without a detector.
 * Pipeline's thread. The pipeline does this itself before it reads the
 * detector (slot close, counters, stop, state, reload).
 */
void pipeline_attack_drain(struct pipeline *pl);

/*
 * The configuration reload of exporters.sampling: the decoder takes cfg's
 * overrides (copied) for every session from the next datagram on
 * (decoder_sampling_set()). Returns 0, or -ENOMEM with the old ones kept.
 * Pipeline's thread.
 */
int pipeline_sampling_set(struct pipeline *pl, const struct config *cfg);

/*
 * Whether the pipeline still reads cfg (borrowed for the call): it is the
 * configuration the pipeline was created with, or its sites are in force
 * or staged in the engine (engine_sites_in_use()), or a slot opened with
 * its sites is still open in the engine or held by the closer (waiting,
 * or being judged and written). Once it says false for a configuration
 * replaced by a reload, it says false for good, and the caller may free
 * it. Pipeline's thread.
 */
bool pipeline_config_in_use(const struct pipeline *pl, const struct config *cfg);

/*
 * counter_snapshot_fn of the closer (closer_counters): ud is the pipeline,
 * stats a struct closer_stats (zeros without sites). Any thread.
 */
void pipeline_closer_stats(void *pl, void *stats);

/*
 * Slots closed but not (fully) stored: the closer's document errors,
 * dropped slots, slots stored without their duplicates, slots lost from
 * the store, and slots waiting in the spool (closer.h) added up; a slot
 * spooled and put back into the store before the call is stored. 0
 * without sites. Call after
 * pipeline_close_slots() for the final figure: replay exits non-zero when it
 * is not 0, since a capture replayed into a store that lost part of it must
 * not look like a success.
 */
uint64_t pipeline_slots_lost(const struct pipeline *pl);

/* Counter sources and counters a pipeline takes (the closer copies as many). */
#define PIPELINE_SOURCES_MAX 8
#define PIPELINE_COUNTERS_MAX 96

/*
 * Add a source of counters to every slot document's "collector" object:
 * fn(ud, stats) fills a struct that t describes. pipeline_create() adds the
 * decoder's and (with sites) the engine's; a caller adds its own after them
 * (run: the UDP listeners', the Elasticsearch shipper's). The object lists
 * the sources in the order they were added, each in its table's order.
 * fn is called on the pipeline's thread at each slot close, once per site
 * closing, so it must be safe there (the shipper's es_stats_get locks).
 * Counters carry the change since the same site's previous slot closed (a
 * site's first slot: since start), gauges their value now. t and ud are
 * borrowed and must outlive the pipeline. Add sources before datagrams
 * flow. Returns 0, -ENOSPC beyond PIPELINE_SOURCES_MAX sources or
 * PIPELINE_COUNTERS_MAX counters in all, or -ENOMEM; on failure nothing
 * was added.
 */
int pipeline_counter_source_add(struct pipeline *pl, const struct counter_table *t,
                                counter_snapshot_fn fn, void *ud);

/*
 * Write the totals to out, "what: name=value ..." per counter table
 * (decoder, engine, closer; every entry), one line per exporter, and where
 * the CPU time went.
 */
void pipeline_report(const struct pipeline *pl, FILE *out);

#endif
