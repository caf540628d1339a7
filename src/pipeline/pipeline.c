/*
 * pipeline: datagram -> decoder -> record printer and slot engine -> closer.
 * See pipeline.h.
 */
#include "nfsentry/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/clock.h"
#include "nfsentry/closer.h"
#include "nfsentry/counter.h"
#include "nfsentry/doc.h"
#include "nfsentry/fault.h"
#include "nfsentry/log.h"
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
	unsigned char *prev; /* n_sites snapshots, then one scratch for now; owned */
};

struct pipeline {
	const struct config *cfg;
	struct decoder *dec;
	struct engine *eng;
	struct closer *closer;
	struct store *store;
	bool replay;
	enum flowout_format flows;
	FILE *out;
	int out_err; /* first write error, -errno */
	size_t out_len;
	char *outbuf;
	size_t n_sites;
	struct counter_source src[PIPELINE_SOURCES_MAX];
	size_t n_src;
	size_t n_counters;                                /* over every source */
	struct doc_counter health[PIPELINE_COUNTERS_MAX]; /* a slot's "collector" */
	uint64_t start_cpu_us; /* the creating thread's CPU when the pipeline was made */
	struct pipeline_watch watch; /* records is NULL when there is none */
};

static void on_slot_closed(void *ud, struct slot *s, uint32_t site);

static void decoder_snapshot(void *ud, void *stats)
{
	decoder_stats_get(ud, stats);
}

static void engine_snapshot(void *ud, void *stats)
{
	engine_stats_get(ud, stats);
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
	pl->n_sites = cfg->n_sites;
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
		if (opts->use_store) {
			struct store_opts so;
			store_opts_defaults(&so);
			so.retention_days = cfg->retention_days;
			rc = store_open(cfg->store_path, &so, &pl->store, err, errlen);
			if (rc != 0)
				goto fail;
		}
		struct closer_opts co = {
			.docs = {.outside_all = cfg->docs_outside_all,
			         .outside_top = cfg->docs_outside_top},
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
		};
		rc = closer_start(&co, &pl->closer);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start the slot worker: %s", strerror(-rc));
			goto fail;
		}
	}
	if (pl->flows == FLOWOUT_CSV)
		fputs(flowout_csv_header, pl->out);
	/* What the thread has spent so far (loading, configuration, this) is start-up. */
	pl->start_cpu_us = clock_us(CLOCK_THREAD_CPUTIME_ID);
	*out = pl;
	return 0;
fail:
	engine_destroy(pl->eng);
	store_close(pl->store);
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
	if (pl->watch.records)
		pl->watch.flush(pl->watch.ud);
	engine_close_all(pl->eng);
	closer_drain(pl->closer);
}

void pipeline_destroy(struct pipeline *pl)
{
	if (!pl)
		return;
	pipeline_close_slots(pl);
	closer_stop(pl->closer);
	engine_destroy(pl->eng);
	store_close(pl->store);
	if (pl->flows != FLOWOUT_NONE)
		pipeline_flush(pl);
	decoder_destroy(pl->dec);
	for (size_t i = 0; i < pl->n_src; i++)
		free(pl->src[i].prev);
	free(pl->outbuf);
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
	c->prev = fault_calloc(pl->n_sites + 1, t->stats_bytes);
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
		              *now = c->prev + pl->n_sites * bytes;
		c->fn(c->ud, now);
		n += counter_list(c->t, now, prev, pl->health + n, PIPELINE_COUNTERS_MAX - n);
		memcpy(prev, now, bytes);
	}
	closer_submit(pl->closer, s, pl->health, n);
}

static void pipeline_sink(void *ud, const struct flow *v, size_t n)
{
	struct pipeline *pl = ud;

	/* The watch list's footprints: a separate call from the engine's, every record. */
	if (pl->watch.records) {
		if (pl->replay && n)
			pl->watch.clock(pl->watch.ud, v[0].export_ms);
		pl->watch.records(pl->watch.ud, v, n);
	}
	if (pl->eng) {
		/*
		 * Replay's clock is the export time the routers wrote (DESIGN
		 * "Clock and slots"), not when the capture saw the datagram: a
		 * capture replayed months later still gives the same slots. One
		 * datagram's records share its export time.
		 */
		if (pl->replay && n)
			engine_clock(pl->eng, v[0].export_ms);
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

	decoder_feed(pl->dec, &dg->from, dg->p, dg->len, dg->ts_ms, pipeline_sink, pl);
	return 0;
}

void pipeline_tick(struct pipeline *pl, uint64_t now_ms)
{
	if (pl->watch.records)
		pl->watch.clock(pl->watch.ud, now_ms);
	if (pl->eng)
		engine_clock(pl->eng, now_ms);
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
	return cs.store_errors + cs.doc_errors + cs.slots_dropped;
}

const struct engine *pipeline_engine(const struct pipeline *pl)
{
	return pl->eng;
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
	if (pl->closer) {
		/* Where the time went: the per-core rates of docs/benchmarks.md. */
		struct closer_stats cs;
		closer_stats_get(pl->closer, &cs);
		report_table(out, "closer", &closer_counters, &cs);
		uint64_t now = clock_us(CLOCK_THREAD_CPUTIME_ID), start = pl->start_cpu_us;
		fprintf(
		    out,
		    "cpu: %.3f s starting (loading, configuration), %.3f s reading, decoding and "
		    "summing records (this thread), %.3f s closing %llu slots (%.3f s of it "
		    "finishing arrays A, B and C; judge, documents, store)\n",
		    (double)start / 1e6, (double)(now - start) / 1e6, (double)cs.cpu_us / 1e6,
		    (unsigned long long)cs.slots, (double)cs.finish_cpu_us / 1e6);
	}
}
