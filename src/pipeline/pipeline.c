/*
 * pipeline: datagram -> decoder -> record printer and slot engine -> closer.
 * See pipeline.h.
 */
#include "nfsentry/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nfsentry/attack.h"
#include "nfsentry/attacklive.h"
#include "nfsentry/attackring.h"
#include "nfsentry/clock.h"
#include "nfsentry/closer.h"
#include "nfsentry/counter.h"
#include "nfsentry/doc.h"
#include "nfsentry/fault.h"
#include "nfsentry/fileio.h"
#include "nfsentry/log.h"
#include "nfsentry/spool.h"
#include "nfsentry/store.h"

/* Rows are gathered here and written with one fwrite per buffer. */
#define PIPELINE_OUTBUF_BYTES (256u * 1024u)

/*
 * A counter source: its table, how to take a snapshot, and the snapshot
 * taken at each site's previous slot close (per-slot deltas of counters).
 */
struct counter_source {
	const struct counter_table *t;
	counter_snapshot_fn fn;
	void *ud;
	unsigned char *prev; /* n_ids snapshots (per site id), then one scratch for now; owned */
};

/* How far past the wall clock an export time may be before replay stops following it. */
#define PIPELINE_FUTURE_MS (3600u * 1000u)

struct pipeline {
	const struct config *cfg;
	uint64_t future_limit_ms;  /* replay: wall clock at create + PIPELINE_FUTURE_MS */
	uint64_t future_datagrams; /* replay: datagrams past it (their records: future) */
	struct decoder *dec;
	struct engine *eng;
	struct closer *closer;
	struct store *store;
	struct spool *spool;
	bool replay;
	enum flowout_format flows;
	FILE *out;
	int out_err; /* first write error, -errno */
	size_t out_len;
	char *outbuf;
	size_t n_sites;  /* of pipeline_create()'s cfg: the attack detector's sites */
	size_t n_ids;    /* site ids the counter sources have room for (engine.h) */
	bool queue_auto; /* the closer's queue follows the number of sites (reloads) */
	struct counter_source src[PIPELINE_SOURCES_MAX];
	size_t n_src;
	size_t n_counters;                                /* over every source */
	struct doc_counter health[PIPELINE_COUNTERS_MAX]; /* a slot's "collector" */
	uint64_t start_cpu_us; /* the creating thread's CPU when the pipeline was made */
	/*
	 * The attack detector (attack.h), run by nfs-attack on what the
	 * engine's record tap and the clock put into ring (attackring.h), its
	 * hook, and per site the attack documents waiting for the slot they
	 * belong to: pend[site] in emission order, pend_k[site][i] the slot of
	 * document i (the clock's slot when it was made). Bounded by the
	 * detector: max_events events, one document per update_s each. The
	 * detector, pend, pend_k, pend_kcap and attack_doc_errors are
	 * nfs-attack's while the ring holds entries; this thread touches them
	 * only after attack_ring_drain().
	 */
	struct attack *atk;
	struct attack_ring *ring;
	struct attack_hook *hook;
	struct doc_batch *pend;
	int64_t **pend_k;
	size_t *pend_kcap;
	uint64_t attack_doc_errors;
	struct attack_live *live;    /* borrowed (pipeline_opts.attack_live), or NULL */
	char *state_dir;             /* STORE_PATH.state with restart_state, else NULL; owned */
	struct pipeline_watch watch; /* records is NULL when there is none */
};

static void on_slot_closed(void *ud, struct slot *s, uint32_t site);
static int state_start(struct pipeline *pl, uint64_t now_ms, char *err, size_t errlen);

static void decoder_snapshot(void *ud, void *stats)
{
	decoder_stats_get(ud, stats);
}

static void engine_snapshot(void *ud, void *stats)
{
	engine_stats_get(ud, stats);
}

static void attack_snapshot(void *ud, void *stats)
{
	struct pipeline *pl = ud;
	struct attack_stats *st = stats;
	struct attack_ring_stats rs;

	attack_ring_drain(pl->ring);
	attack_stats_get(pl->atk, st);
	attack_hook_stats_get(pl->hook, st);
	attack_ring_stats_get(pl->ring, &rs);
	st->records_dropped = rs.records_dropped;
	st->records_sampled = rs.records_sampled;
	st->sampling = rs.sampling;
}

/*
 * attack_event_fn (nfs-attack, or the engine's thread after a drain): the
 * event's document waits for its site's slot to close; its JSON goes to
 * the hook and to the live table (the dashboard) now; both lock.
 */
static void on_attack_event(void *ud, const struct attack_event *ev, enum attack_phase p)
{
	struct pipeline *pl = ud;
	uint32_t site = ev->site_index;
	struct doc_batch *b = &pl->pend[site];
	int64_t k = (int64_t)(ev->now_ms / 1000 / SLOT_SECONDS);

	if (b->n == pl->pend_kcap[site]) {
		size_t ncap = pl->pend_kcap[site] ? 2 * pl->pend_kcap[site] : 16;
		int64_t *nk = fault_reallocarray(pl->pend_k[site], ncap, sizeof(*nk));
		if (!nk) {
			pl->attack_doc_errors++;
			log_error("attack: out of memory: a document of site %s is lost", ev->site);
			return;
		}
		pl->pend_k[site] = nk;
		pl->pend_kcap[site] = ncap;
	}
	if (doc_attack_build(ev, p, k, b) != 0) {
		pl->attack_doc_errors++;
		log_error("attack: out of memory: a document of site %s is lost", ev->site);
		return;
	}
	const struct doc *d = &b->v[b->n - 1];
	pl->pend_k[site][b->n - 1] = k;
	attack_hook_submit(pl->hook, d->json, d->len);
	if (pl->live) {
		/* The document's key is "<id>-<seq>" (doc_attack_build). */
		char id[ATTACK_LIVE_ID_MAX];
		size_t n = strcspn(d->key, "-");
		if (n < sizeof(id)) {
			memcpy(id, d->key, n);
			id[n] = '\0';
			attack_live_put(pl->live, ev->site, id, ev->seq, p == ATTACK_END, k,
			                d->json, d->len);
		}
	}
}

/* Start the attack detector and its hook on the engine (sites configured). */
static int attack_open(struct pipeline *pl, const struct config *cfg, char *err, size_t errlen)
{
	int rc;

	pl->pend = fault_calloc(cfg->n_sites, sizeof(*pl->pend));
	pl->pend_k = fault_calloc(cfg->n_sites, sizeof(*pl->pend_k));
	pl->pend_kcap = fault_calloc(cfg->n_sites, sizeof(*pl->pend_kcap));
	if (!pl->pend || !pl->pend_k || !pl->pend_kcap) {
		snprintf(err, errlen, "out of memory starting the attack detector");
		return -ENOMEM;
	}
	rc = attack_create(&cfg->attack, cfg->sites, cfg->n_sites, on_attack_event, pl, &pl->atk);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the attack detector: %s", strerror(-rc));
		return rc;
	}
	rc = attack_hook_start(cfg->attack.hook, cfg->attack.hook_timeout_ms, &pl->hook);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the attack hook: %s", strerror(-rc));
		return rc;
	}
	rc = pipeline_counter_source_add(pl, &attack_counters, attack_snapshot, pl);
	if (rc != 0) {
		snprintf(err, errlen, "out of memory starting the pipeline");
		return rc;
	}
	/* Replay waits for the detector (lossless); live drops and counts instead. */
	struct attack_ring_opts ro = {.wait_when_full = pl->replay,
	                              .on_entries = attack_entries,
	                              .ud = pl->atk,
	                              .cpus = &cfg->attack.cpus,
	                              .nice = (int)cfg->attack.nice};
	rc = attack_ring_start(&ro, &pl->ring);
	if (rc != 0) {
		char cpus[128];
		cpu_list_format(&cfg->attack.cpus, cpus, sizeof(cpus));
		snprintf(err, errlen, "cannot start the attack detector's thread%s%s%s: %s",
		         cpus[0] ? " on CPUs " : "", cpus, cpus[0] ? " (attack.cpus)" : "",
		         strerror(-rc));
		return rc;
	}
	engine_record_tap_set(pl->eng, attack_ring_records, NULL, pl->ring);
	return 0;
}

static void attack_close(struct pipeline *pl)
{
	/* Its last entries may still make documents: before the hook stops. */
	attack_ring_stop(pl->ring);
	attack_hook_stop(pl->hook);
	attack_destroy(pl->atk);
	for (size_t i = 0; pl->pend && i < pl->n_sites; i++)
		doc_batch_free(&pl->pend[i]);
	for (size_t i = 0; pl->pend_k && i < pl->n_sites; i++)
		free(pl->pend_k[i]);
	free(pl->pend);
	free(pl->pend_k);
	free(pl->pend_kcap);
}

int pipeline_create(const struct config *cfg, const struct pipeline_opts *opts,
                    struct pipeline **out, char *err, size_t errlen)
{
	struct pipeline *pl = fault_calloc(1, sizeof(*pl));
	int rc = -ENOMEM;

	snprintf(err, errlen, "out of memory starting the pipeline");
	if (!pl)
		return rc;
	pl->cfg = cfg;
	pl->replay = opts->replay;
	pl->live = opts->attack_live;
	if (opts->watch)
		pl->watch = *opts->watch;
	pl->dec = decoder_create(&cfg->decoder);
	if (!pl->dec)
		goto fail;
	pl->flows = opts->flows;
	pl->out = opts->flows_out ? opts->flows_out : stdout;
	if (pl->flows != FLOWOUT_NONE) {
		pl->outbuf = fault_malloc(PIPELINE_OUTBUF_BYTES);
		if (!pl->outbuf)
			goto fail;
	}
	pl->n_sites = pl->n_ids = cfg->n_sites;
	if (pipeline_counter_source_add(pl, &decoder_counters, decoder_snapshot, pl->dec) != 0)
		goto fail;
	if (cfg->n_sites) {
		rc = engine_create(cfg->sites, cfg->n_sites, (uint64_t)cfg->grace_s * 1000,
		                   on_slot_closed, pl, &pl->eng, err, errlen);
		if (rc != 0)
			goto fail;
		rc = pipeline_counter_source_add(pl, &engine_counters, engine_snapshot, pl->eng);
		if (rc != 0) {
			snprintf(err, errlen, "out of memory starting the pipeline");
			goto fail;
		}
		if (cfg->attack.enabled) {
			rc = attack_open(pl, cfg, err, errlen);
			if (rc != 0)
				goto fail;
		}
		if (opts->use_store) {
			struct store_opts so;
			store_opts_defaults(&so);
			so.retention_days = cfg->retention_days;
			rc = store_open(cfg->store_path, &so, &pl->store, err, errlen);
			if (rc != 0)
				goto fail;
			char sp[CONFIG_STORE_PATH_MAX + 8];
			snprintf(sp, sizeof(sp), "%s%s",
			         cfg->spool_path[0] ? cfg->spool_path : cfg->store_path,
			         cfg->spool_path[0] ? "" : ".spool");
			rc = spool_open(sp, (uint64_t)cfg->spool_max_mib * 1024 * 1024, &pl->spool,
			                err, errlen);
			if (rc != 0)
				goto fail;
		}
		struct closer_opts co = {
			.docs = {.outside_all = cfg->docs_outside_all,
			         .outside_top = cfg->docs_outside_top,
			         .outside_max = cfg->docs_outside_max,
			         .offender_max = cfg->docs_offender_max},
			.docs_out = opts->docs_out,
			.report_out = opts->report_out,
			.store = pl->store,
			.wait_when_busy = opts->replay,
			.skip_empty = true,
			.l2 = opts->l2,
			/* Room for two rounds: every site closes its slot at the same tick. */
			.queue_max = opts->closer_queue ? opts->closer_queue : 2 * cfg->n_sites,
			.sinks = opts->sinks,
			.n_sinks = opts->n_sinks,
			.store_retry_ms = cfg->write_retry_s * 1000u,
			.spool = pl->spool,
			.retention_wall_clock = !opts->replay,
			/* Digests for the daily analysis of the configured thresholds. */
			.digest_max_peers = cfg->daily.enabled ? cfg->daily.max_peers : 0,
			.digest_probe_targets = cfg->daily.probe_targets,
		};
		pl->queue_auto = !opts->closer_queue;
		rc = closer_start(&co, &pl->closer);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start the slot worker: %s", strerror(-rc));
			goto fail;
		}
		if (opts->restart_state && pl->store) {
			rc = state_start(pl, clock_ms(CLOCK_REALTIME), err, errlen);
			if (rc != 0)
				goto fail;
		}
	}
	if (pl->flows == FLOWOUT_CSV)
		fputs(flowout_csv_header, pl->out);
	/* What the thread has spent so far (loading, configuration, this) is start-up. */
	pl->future_limit_ms = clock_ms(CLOCK_REALTIME) + PIPELINE_FUTURE_MS;
	pl->start_cpu_us = clock_us(CLOCK_THREAD_CPUTIME_ID);
	*out = pl;
	return 0;
fail:
	closer_stop(pl->closer);
	attack_close(pl);
	engine_destroy(pl->eng);
	spool_close(pl->spool);
	store_close(pl->store);
	free(pl->state_dir);
	decoder_destroy(pl->dec);
	for (size_t i = 0; i < pl->n_src; i++)
		free(pl->src[i].prev);
	free(pl->outbuf);
	free(pl);
	return rc;
}

/* Write the gathered rows; the first error is kept, later rows are dropped. */
static void out_drain(struct pipeline *pl)
{
	if (pl->out_len && !pl->out_err &&
	    fwrite(pl->outbuf, 1, pl->out_len, pl->out) != pl->out_len)
		pl->out_err = errno ? -errno : -EIO;
	pl->out_len = 0;
}

int pipeline_flush(struct pipeline *pl)
{
	out_drain(pl);
	if (pl->flows != FLOWOUT_NONE && fflush(pl->out) != 0 && !pl->out_err)
		pl->out_err = errno ? -errno : -EIO;
	return pl->out_err;
}

void pipeline_close_slots(struct pipeline *pl)
{
	if (!pl->eng)
		return;
	/* Nothing is received any more: the last slots are waited for, not dropped. */
	closer_backpressure_set(pl->closer, true);
	/* Open attacks end now: their end documents go with the last slots. */
	if (pl->atk) {
		attack_ring_drain(pl->ring);
		attack_close_all(pl->atk);
	}
	if (pl->watch.records)
		pl->watch.flush(pl->watch.ud);
	size_t n = engine_close_all(pl->eng);
	if (n)
		log_info("stop: %zu partial slots without a record not written (docs/documents.md "
		         "\"Slots at a stop\")",
		         n);
	closer_drain(pl->closer);
}

void pipeline_destroy(struct pipeline *pl)
{
	if (!pl)
		return;
	pipeline_close_slots(pl);
	closer_stop(pl->closer);
	attack_close(pl);
	engine_destroy(pl->eng);
	spool_close(pl->spool);
	store_close(pl->store);
	if (pl->flows != FLOWOUT_NONE)
		pipeline_flush(pl);
	decoder_destroy(pl->dec);
	for (size_t i = 0; i < pl->n_src; i++)
		free(pl->src[i].prev);
	free(pl->outbuf);
	free(pl->state_dir);
	free(pl);
}

/* The closer copies every counter of a slot. */
_Static_assert(PIPELINE_COUNTERS_MAX <= CLOSER_HEALTH_MAX, "the closer cuts the collector object");

int pipeline_counter_source_add(struct pipeline *pl, const struct counter_table *t,
                                counter_snapshot_fn fn, void *ud)
{
	struct counter_source *c;

	if (pl->n_src == PIPELINE_SOURCES_MAX || t->n > PIPELINE_COUNTERS_MAX - pl->n_counters)
		return -ENOSPC;
	c = &pl->src[pl->n_src];
	/* Zeroed: a site's first slot carries the totals since start. */
	c->prev = fault_calloc(pl->n_ids + 1, t->stats_bytes);
	if (!c->prev)
		return -ENOMEM;
	c->t = t;
	c->fn = fn;
	c->ud = ud;
	pl->n_src++;
	pl->n_counters += t->n;
	return 0;
}

/* Engine callback (pipeline thread): snapshot counters, hand the slot on. */
static void on_slot_closed(void *ud, struct slot *s, uint32_t site)
{
	struct pipeline *pl = ud;
	size_t n = 0;

	/* Counters over the period since this site's previous slot closed. */
	for (size_t i = 0; i < pl->n_src; i++) {
		struct counter_source *c = &pl->src[i];
		size_t bytes = c->t->stats_bytes;
		unsigned char *prev = c->prev + (size_t)site * bytes,
		              *now = c->prev + pl->n_ids * bytes;
		c->fn(c->ud, now);
		n += counter_list(c->t, now, prev, pl->health + n, PIPELINE_COUNTERS_MAX - n);
		memcpy(prev, now, bytes);
	}
	/* The attack documents of this slot's period and earlier go with it. */
	struct doc_batch extra = {0};
	attack_ring_drain(pl->ring);
	if (pl->pend && site < pl->n_sites && pl->pend[site].n) {
		struct doc_batch *b = &pl->pend[site];
		int64_t k = slot_view_mut(s)->time_slot;
		size_t m = 0;
		while (m < b->n && pl->pend_k[site][m] <= k)
			m++;
		if (m == b->n) {
			extra = *b;
			memset(b, 0, sizeof(*b));
		} else if (m) {
			extra.v = fault_malloc(m * sizeof(*extra.v));
			if (extra.v) {
				memcpy(extra.v, b->v, m * sizeof(*b->v));
				extra.n = extra.cap = m;
				memmove(b->v, b->v + m, (b->n - m) * sizeof(*b->v));
				memmove(pl->pend_k[site], pl->pend_k[site] + m,
				        (b->n - m) * sizeof(int64_t));
				b->n -= m;
			}
		}
	}
	closer_submit_docs(pl->closer, s, pl->health, n, &extra);
}

static void pipeline_sink(void *ud, const struct flow *v, size_t n)
{
	struct pipeline *pl = ud;

	/*
	 * Replay's clock is the export time the routers wrote (DESIGN "Clock
	 * and slots"), not when the capture saw the datagram: a capture
	 * replayed months later still gives the same slots. One datagram's
	 * records share its export time. A datagram stamped past the wall
	 * clock (plus PIPELINE_FUTURE_MS) is an exporter's clock gone wrong: it
	 * does not move the clock, so its records count as future in the
	 * current slot (engine_stats.future) instead of dragging every later
	 * record into a slot years ahead as late.
	 */
	bool tick = pl->replay && n && v[0].export_ms <= pl->future_limit_ms;
	if (pl->replay && n && !tick && pl->future_datagrams++ == 0)
		log_warn("replay: a datagram exported at %llu s (Unix) is more than %u s past the wall "
		         "clock: the exporter's clock is wrong; the slot clock does not follow it and "
		         "its records count as future (every such datagram: pipeline report)",
		         (unsigned long long)(v[0].export_ms / 1000), PIPELINE_FUTURE_MS / 1000);
	/* The watch list's footprints: a separate call from the engine's, every record. */
	if (pl->watch.records) {
		if (tick)
			pl->watch.clock(pl->watch.ud, v[0].export_ms);
		pl->watch.records(pl->watch.ud, v, n);
	}
	if (pl->eng) {
		if (tick) {
			engine_clock(pl->eng, v[0].export_ms);
			if (pl->ring)
				attack_ring_clock(pl->ring, v[0].export_ms);
		}
		engine_flows(pl->eng, v, n);
	}
	if (pl->flows == FLOWOUT_NONE)
		return;
	for (size_t i = 0; i < n; i++) {
		if (PIPELINE_OUTBUF_BYTES - pl->out_len < FLOWOUT_LINE_MAX)
			out_drain(pl);
		pl->out_len += flowout_format_line(pl->flows, &v[i], pl->outbuf + pl->out_len);
	}
}

int pipeline_datagram(void *ud, const struct datagram *dg)
{
	struct pipeline *pl = ud;

	if (pl->ring)
		attack_ring_rx_fill(pl->ring, dg->rx_fill_pm);
	decoder_feed(pl->dec, &dg->from, dg->p, dg->len, dg->ts_ms, pipeline_sink, pl);
	return 0;
}

bool pipeline_uses_rx_fill(const struct pipeline *pl)
{
	return pl->ring && !pl->replay;
}

void pipeline_tick(struct pipeline *pl, uint64_t now_ms)
{
	if (pl->watch.records)
		pl->watch.clock(pl->watch.ud, now_ms);
	if (pl->eng)
		engine_clock(pl->eng, now_ms);
	if (pl->ring)
		attack_ring_clock(pl->ring, now_ms);
}

const struct decoder *pipeline_decoder(const struct pipeline *pl)
{
	return pl->dec;
}

uint64_t pipeline_slots_lost(const struct pipeline *pl)
{
	struct closer_stats cs;

	if (!pl->closer)
		return 0;
	closer_stats_get(pl->closer, &cs);
	/* Spooled and not yet put back counts as not stored: the store lacks it. */
	return cs.doc_errors + cs.slots_dropped + cs.slots_partial + cs.slots_store_lost +
	       cs.spool_slots;
}

const struct engine *pipeline_engine(const struct pipeline *pl)
{
	return pl->eng;
}

void pipeline_closer_stats(void *pl_ud, void *stats)
{
	struct pipeline *pl = pl_ud;

	if (pl->closer)
		closer_stats_get(pl->closer, stats);
	else
		memset(stats, 0, sizeof(struct closer_stats));
}

/* "what: name=value ..." for one table, every entry, totals since start. */
static void report_table(FILE *out, const char *what, const struct counter_table *t,
                         const void *stats)
{
	char line[4096];

	counter_format(t, stats, NULL, 0, line, sizeof(line));
	fprintf(out, "%s: %s\n", what, line);
}

void pipeline_report(const struct pipeline *pl, FILE *out)
{
	struct decoder_stats st;

	decoder_stats_get(pl->dec, &st);
	report_table(out, "decoder", &decoder_counters, &st);
	if (pl->future_datagrams)
		fprintf(out, "replay: %llu datagrams stamped past the wall clock did not move the slot "
		        "clock (their records: futureRecords)\n",
		        (unsigned long long)pl->future_datagrams);

	struct decoder_exporter_info info[64];
	size_t n = decoder_exporters_get(pl->dec, info, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		char a[64];
		flow_addr_format(&info[i].from.addr, a, sizeof(a));
		fprintf(out,
		        "exporter %s port %u domain %u v%u: %llu datagrams, %llu records, "
		        "sampling 1:%u, %u templates, lost %llu datagrams / %llu records, "
		        "%llu restarts\n",
		        a, info[i].from.port, info[i].domain, info[i].version,
		        (unsigned long long)info[i].datagrams, (unsigned long long)info[i].records,
		        info[i].sampling, info[i].templates,
		        (unsigned long long)info[i].lost_datagrams,
		        (unsigned long long)info[i].lost_records,
		        (unsigned long long)info[i].restarts);
	}
	if (n > 64)
		fprintf(out, "... and %zu more exporters\n", n - 64);

	if (pl->eng) {
		struct engine_stats es;
		engine_stats_get(pl->eng, &es);
		report_table(out, "engine", &engine_counters, &es);
	}
	if (pl->atk) {
		struct attack_stats as;
		attack_snapshot((void *)pl, &as);
		report_table(out, "attack", &attack_counters, &as);
	}
	if (pl->closer) {
		/* Where the time went: the per-core rates of docs/benchmarks.md. */
		struct closer_stats cs;
		closer_stats_get(pl->closer, &cs);
		report_table(out, "closer", &closer_counters, &cs);
		uint64_t now = clock_us(CLOCK_THREAD_CPUTIME_ID), start = pl->start_cpu_us;
		struct attack_ring_stats rs;
		attack_ring_stats_get(pl->ring, &rs);
		fprintf(
		    out,
		    "cpu: %.3f s starting (loading, configuration), %.3f s reading, decoding and "
		    "summing records (this thread), %.3f s closing %llu slots (%.3f s of it "
		    "finishing arrays A, B and C; judge, documents, store), %.3f s detecting "
		    "attacks (nfs-attack)\n",
		    (double)start / 1e6, (double)(now - start) / 1e6, (double)cs.cpu_us / 1e6,
		    (unsigned long long)cs.slots, (double)cs.finish_cpu_us / 1e6,
		    (double)rs.cpu_us / 1e6);
	}
}

/* ---- state across restarts (docs/manual.md "Restarts") -------------------- */

#define STATE_SLOTS "slots"
#define STATE_TEMPLATES "templates"
#define STATE_ATTACKS "attacks"
#define STATE_MARKER "running"

/* dir/name into buf. Returns 0, or -ENAMETOOLONG. */
static int state_path(const struct pipeline *pl, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", pl->state_dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* fsync the state directory, so that a rename in it survives a power cut. */
static void state_dir_sync(const struct pipeline *pl)
{
	int fd = open(pl->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* The saved slots, if any: restored, handed on or dropped; the file removed. */
static void state_load_slots(struct pipeline *pl, uint64_t now_ms)
{
	char path[CONFIG_STORE_PATH_MAX + 64], bad[CONFIG_STORE_PATH_MAX + 72];
	struct engine_restore res;

	if (state_path(pl, STATE_SLOTS, path, sizeof(path)))
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_error("restart: %s: %s: the saved slots are not restored", path,
			          strerror(errno));
		return;
	}
	uint64_t t0 = clock_us(CLOCK_MONOTONIC);
	int rc = engine_state_load(pl->eng, fd, now_ms, &res);
	close(fd);
	if (rc != 0) {
		/* Kept aside for a look, never read again. */
		snprintf(bad, sizeof(bad), "%s.bad", path);
		rename(path, bad);
		log_error("restart: %s: %s: moved to %s; %zu slots restored and %zu written "
		          "from it before the fault",
		          path,
		          rc == -EBADMSG         ? "truncated or corrupt"
		          : rc == -EPROTONOSUPPORT ? "written by another nfsentry build"
		                                   : strerror(-rc),
		          bad, res.restored, res.closed);
		return;
	}
	unlink(path);
	log_info("restart: open slots saved %.1f s ago: %zu restored (going on), %zu written now "
	         "as saved, %zu already stored at the stop, %zu empty and partial (not written), "
	         "%zu dropped (site gone)%s; %.3f s",
	         now_ms > res.saved_at_ms ? (double)(now_ms - res.saved_at_ms) / 1000.0 : 0.0,
	         res.restored, res.closed, res.already, res.left_out, res.dropped,
	         res.config_changed ? "; the sites changed since, so nothing was restored" : "",
	         (double)(clock_us(CLOCK_MONOTONIC) - t0) / 1e6);
}

/*
 * The decoder's templates and sampler rates, if saved: loaded before the
 * first datagram. The file stays (a crash before the next save leaves it
 * as the best there is); a damaged one is moved aside.
 */
static void state_load_templates(struct pipeline *pl, uint64_t now_ms)
{
	char path[CONFIG_STORE_PATH_MAX + 64], bad[CONFIG_STORE_PATH_MAX + 72];
	struct decoder_restore res;

	if (state_path(pl, STATE_TEMPLATES, path, sizeof(path)))
		return;
	int rc = decoder_state_load(pl->dec, path, now_ms, &res);
	if (rc == -ENOENT)
		return;
	if (rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -E2BIG) {
		snprintf(bad, sizeof(bad), "%s.bad", path);
		rename(path, bad);
		log_error("restart: %s: %s: moved to %s; templates are learnt afresh", path,
		          rc == -EBADMSG           ? "truncated or corrupt"
		          : rc == -EPROTONOSUPPORT ? "written by another nfsentry build"
		                                   : "more than the decoder's caps allow",
		          bad);
		return;
	}
	if (rc != 0) {
		log_error("restart: %s: %s: templates are learnt afresh", path, strerror(-rc));
		return;
	}
	if (res.scope_changed) {
		log_warn("restart: %s: saved under another templates.scope: templates are learnt "
		         "afresh",
		         path);
		return;
	}
	log_info("restart: templates saved %.1f s ago: %zu restored in %zu scopes, %zu older "
	         "than the template lifetime skipped; %zu sampler rates restored",
	         now_ms > res.saved_at_ms ? (double)(now_ms - res.saved_at_ms) / 1000.0 : 0.0,
	         res.templates, res.scopes, res.templates_stale, res.samplers);
}

/*
 * The attack detector's open events, if saved: taken back (going on) or
 * ended, before the first datagram; the file is removed. A damaged one is
 * moved aside (counted in attackStateRejected).
 */
static void state_load_attacks(struct pipeline *pl, uint64_t now_ms)
{
	char path[CONFIG_STORE_PATH_MAX + 64], bad[CONFIG_STORE_PATH_MAX + 72];
	struct attack_restore res;

	if (state_path(pl, STATE_ATTACKS, path, sizeof(path)))
		return;
	if (!pl->atk) {
		if (unlink(path) == 0)
			log_warn("restart: %s: attack.enabled is false: the saved attack events "
			         "are dropped without an end",
			         path);
		return;
	}
	attack_ring_drain(pl->ring); /* the detector is this thread's until the next entry */
	int rc = attack_state_load(pl->atk, path, now_ms, &res);
	if (rc == -ENOENT)
		return;
	if (rc == -EBADMSG || rc == -EPROTONOSUPPORT) {
		snprintf(bad, sizeof(bad), "%s.bad", path);
		rename(path, bad);
		log_error("restart: %s: %s: moved to %s; open attacks start afresh", path,
		          rc == -EBADMSG ? "truncated or corrupt" : "written by another nfsentry build",
		          bad);
		return;
	}
	if (rc != 0) {
		log_error("restart: %s: %s: open attacks start afresh", path, strerror(-rc));
		return;
	}
	unlink(path);
	log_info("restart: attack events saved %.1f s ago: %zu going on, %zu ended (down more "
	         "than %d s), %zu dropped (site gone, or no room)",
	         now_ms > res.saved_at_ms ? (double)(now_ms - res.saved_at_ms) / 1000.0 : 0.0,
	         res.resumed, res.ended, ATTACK_RESUME_MAX_S, res.dropped);
}

/*
 * At a stop: the open attack events to the state directory, then forgotten
 * (no end: the next run goes on with them). If they cannot be saved they
 * end now, as without restart state.
 */
static void state_save_attacks(struct pipeline *pl, uint64_t now_ms)
{
	char path[CONFIG_STORE_PATH_MAX + 64];
	size_t n = 0;

	if (!pl->atk || state_path(pl, STATE_ATTACKS, path, sizeof(path)))
		return;
	attack_ring_drain(pl->ring); /* the detector is this thread's until the next entry */
	int rc = attack_state_save(pl->atk, path, now_ms, &n);
	if (rc != 0) {
		log_error("restart: cannot save the open attack events to %s: %s; they end now", path,
		          strerror(-rc));
		return;
	}
	attack_events_drop(pl->atk);
	log_info("restart: %zu open attack events saved to %s", n, path);
}

void pipeline_templates_save(struct pipeline *pl, uint64_t now_ms, bool always)
{
	char path[CONFIG_STORE_PATH_MAX + 64];

	if (!pl->state_dir || (!always && !decoder_state_changed(pl->dec)))
		return;
	if (state_path(pl, STATE_TEMPLATES, path, sizeof(path)))
		return;
	int rc = decoder_state_save(pl->dec, path, now_ms);
	if (rc != 0)
		log_error("restart: cannot save the templates to %s: %s", path, strerror(-rc));
}

/*
 * At create: the state directory, the marker of the previous run (present:
 * it did not stop cleanly), the saved slots, coverage from now on, and this
 * run's marker. Returns 0 or a negative code with err set.
 */
static int state_start(struct pipeline *pl, uint64_t now_ms, char *err, size_t errlen)
{
	size_t n = strlen(pl->cfg->store_path) + sizeof(".state");
	char path[CONFIG_STORE_PATH_MAX + 64];

	pl->state_dir = fault_malloc(n);
	if (!pl->state_dir) {
		snprintf(err, errlen, "out of memory starting the pipeline");
		return -ENOMEM;
	}
	snprintf(pl->state_dir, n, "%s.state", pl->cfg->store_path);
	if (mkdir(pl->state_dir, 0750) != 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "restart state %s: cannot create: %s", pl->state_dir,
		         strerror(e));
		return -e;
	}
	if (state_path(pl, STATE_MARKER, path, sizeof(path))) {
		snprintf(err, errlen, "restart state %s: path too long", pl->state_dir);
		return -ENAMETOOLONG;
	}
	FILE *f = fopen(path, "r");
	if (f) {
		char line[128] = "";
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		log_warn("restart: the previous run (%s) did not stop cleanly: what it had counted "
		         "in its open slots is lost; this run's first slots are partial (they say "
		         "so, with the time collection started)",
		         line[0] ? line : "no details");
	}
	state_load_slots(pl, now_ms);
	state_load_templates(pl, now_ms);
	state_load_attacks(pl, now_ms);
	engine_cover_from(pl->eng, now_ms);
	f = fopen(path, "w");
	if (!f || fprintf(f, "pid %ld started %llu\n", (long)getpid(),
	                  (unsigned long long)(now_ms / 1000)) < 0 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0) {
		int e = errno;
		if (f)
			fclose(f);
		snprintf(err, errlen, "restart state %s: cannot write: %s", path, strerror(e));
		return -e;
	}
	fclose(f);
	state_dir_sync(pl);
	return 0;
}

/*
 * Save the open slots to slots.tmp, open in fr (kept open for the written
 * flag, then committed or aborted by the caller). Returns 0 or -errno; on
 * error fr holds nothing.
 */
static int state_save_slots(struct pipeline *pl, uint64_t now_ms, struct fileio_replace *fr)
{
	char path[CONFIG_STORE_PATH_MAX + 64];
	size_t n = 0;

	if (state_path(pl, STATE_SLOTS, path, sizeof(path)))
		return -ENAMETOOLONG;
	int rc = fileio_replace_open(fr, path, 0640);
	if (rc != 0)
		return rc;
	uint64_t t0 = clock_us(CLOCK_MONOTONIC);
	rc = engine_state_save(pl->eng, fr->fd, now_ms, &n);
	if (rc == 0 && fsync(fr->fd) != 0)
		rc = -errno;
	if (rc != 0) {
		fileio_replace_abort(fr);
		return rc;
	}
	log_info("restart: %zu open slots saved to %s in %.3f s", n, fr->tmp,
	         (double)(clock_us(CLOCK_MONOTONIC) - t0) / 1e6);
	return 0;
}

void pipeline_stop(struct pipeline *pl)
{
	char path[CONFIG_STORE_PATH_MAX + 64];
	struct fileio_replace fr;

	if (!pl->eng || !pl->state_dir) {
		pipeline_close_slots(pl);
		return;
	}
	uint64_t now_ms = clock_ms(CLOCK_REALTIME);
	pipeline_templates_save(pl, now_ms, true);
	int rc = state_save_slots(pl, now_ms, &fr);
	if (rc != 0)
		log_error(
		    "restart: cannot save the open slots in %s: %s; they are written (partial) "
		    "but a restart within the slot starts it afresh",
		    pl->state_dir, strerror(-rc));
	uint64_t lost = pipeline_slots_lost(pl);
	state_save_attacks(pl, now_ms);
	pipeline_close_slots(pl);
	if (rc == 0) {
		/* Stored whole: a start after these slots closed has nothing to write. */
		static const uint8_t one = 1;
		if (pipeline_slots_lost(pl) == lost &&
		    pwrite(fr.fd, &one, 1, ENGINE_STATE_WRITTEN_OFFSET) != 1)
			log_warn("restart: %s: %s", fr.tmp, strerror(errno));
		if ((rc = fileio_replace_commit(&fr)) != 0)
			log_error("restart: %s: %s: the open slots are not saved", fr.tmp,
			          strerror(-rc));
	}
	if (state_path(pl, STATE_MARKER, path, sizeof(path)) == 0)
		unlink(path);
	state_dir_sync(pl);
}

/*
 * Room in every counter source for n site ids (zeroed: a site's first slot
 * carries the totals since start). Returns 0 or -ENOMEM, the sources as
 * they were (a larger array already taken is kept: it is only room).
 */
static int ids_grow(struct pipeline *pl, size_t n)
{
	for (size_t i = 0; n > pl->n_ids && i < pl->n_src; i++) {
		struct counter_source *c = &pl->src[i];
		unsigned char *p = fault_reallocarray(c->prev, n + 1, c->t->stats_bytes);
		if (!p)
			return -ENOMEM; /* the sources grown already only have more room */
		memset(p + pl->n_ids * c->t->stats_bytes, 0,
		       (n + 1 - pl->n_ids) * c->t->stats_bytes);
		c->prev = p;
	}
	if (n > pl->n_ids)
		pl->n_ids = n;
	return 0;
}

int pipeline_reload(struct pipeline *pl, const struct config *cfg, bool sites, bool allow,
                    char *err, size_t errlen)
{
	int rc = 0;

	snprintf(err, errlen, "out of memory");
	if (sites && pl->eng) {
		/* Room first: the engine may give an id to every site of cfg. */
		size_t n = engine_site_ids(pl->eng) + cfg->n_sites;
		if (n > ENGINE_MAX_SITE_IDS)
			n = ENGINE_MAX_SITE_IDS;
		if ((rc = ids_grow(pl, n)) != 0)
			return rc;
		/* Two rounds of closes: the sites in force and cfg's (queue_max's default). */
		if (pl->queue_auto &&
		    (rc = closer_queue_reserve(
		         pl->closer, 2 * (engine_sites_in_force(pl->eng) + cfg->n_sites))))
			return rc;
	}
	/* The allow-list before the sites: it cannot fail after the sites were staged. */
	if (allow && (rc = decoder_allow_set(pl->dec, cfg->decoder.allow, cfg->decoder.n_allow)))
		return rc;
	if (sites && pl->eng)
		rc = engine_sites_set(pl->eng, cfg->sites, cfg->n_sites, err, errlen);
	return rc;
}

int64_t pipeline_site_id(const struct pipeline *pl, const char *name)
{
	return pl->eng ? engine_site_id(pl->eng, name) : -1;
}

int pipeline_attack_set(struct pipeline *pl, const struct config *cfg)
{
	if (!pl->atk)
		return 0;
	attack_ring_drain(pl->ring);
	return attack_thresholds_set(pl->atk, &cfg->attack);
}

void pipeline_attack_drain(struct pipeline *pl)
{
	attack_ring_drain(pl->ring);
}

int pipeline_attack_hook_set(struct pipeline *pl, const struct config *cfg)
{
	return pl->hook ? attack_hook_set(pl->hook, cfg->attack.hook, cfg->attack.hook_timeout_ms)
	                : 0;
}

int pipeline_sampling_set(struct pipeline *pl, const struct config *cfg)
{
	return decoder_sampling_set(pl->dec, cfg->decoder.sampling, cfg->decoder.n_sampling);
}

bool pipeline_config_in_use(const struct pipeline *pl, const struct config *cfg)
{
	if (cfg == pl->cfg)
		return true;
	/* Slots move from the engine to the closer on this thread: none is in between. */
	return pl->eng && (engine_sites_in_use(pl->eng, cfg->sites, cfg->n_sites) ||
	                   closer_sites_held(pl->closer, cfg->sites, cfg->n_sites));
}
