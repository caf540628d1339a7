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
#include "nfsentry/doc.h"
#include "nfsentry/log.h"
#include "nfsentry/store.h"

/* Rows are gathered here and written with one fwrite per buffer. */
#define PIPELINE_OUTBUF_BYTES (256u * 1024u)
#define PIPELINE_HEALTH_MAX 48

/* Counter values at a site's previous slot close, for per-slot deltas. */
struct site_mark {
	struct decoder_stats dec;
	struct engine_stats eng;
};

struct pipeline {
	const struct config *cfg;
	struct decoder *dec;
	struct engine *eng;
	struct closer *closer;
	struct store *store;
	struct site_mark *marks; /* one per site */
	bool replay;
	enum flowout_format flows;
	FILE *out;
	int out_err; /* first write error, -errno */
	size_t out_len;
	char *outbuf;
	const struct doc_counter *extra;
	size_t n_extra;
	pipeline_counters_fn counters_fn;
	void *counters_ud;
	uint64_t start_cpu_us; /* the creating thread's CPU when the pipeline was made */
};

static void on_slot_closed(void *ud, struct slot *s, uint32_t site);

int pipeline_create(const struct config *cfg, const struct pipeline_opts *opts,
                    struct pipeline **out, char *err, size_t errlen)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));
	int rc = -ENOMEM;

	snprintf(err, errlen, "out of memory starting the pipeline");
	if (!pl)
		return rc;
	pl->cfg = cfg;
	pl->replay = opts->replay;
	pl->dec = decoder_create(&cfg->decoder);
	if (!pl->dec)
		goto fail;
	pl->flows = opts->flows;
	pl->out = opts->flows_out ? opts->flows_out : stdout;
	if (pl->flows != FLOWOUT_NONE) {
		pl->outbuf = malloc(PIPELINE_OUTBUF_BYTES);
		if (!pl->outbuf)
			goto fail;
	}
	if (cfg->n_sites) {
		pl->marks = calloc(cfg->n_sites, sizeof(*pl->marks));
		if (!pl->marks)
			goto fail;
		rc = engine_create(cfg->sites, cfg->n_sites, (uint64_t)cfg->grace_s * 1000,
		                   on_slot_closed, pl, &pl->eng, err, errlen);
		if (rc != 0)
			goto fail;
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
	free(pl->marks);
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
	free(pl->marks);
	free(pl->outbuf);
	free(pl);
}

void pipeline_set_extra_counters(struct pipeline *pl, const struct doc_counter *v, size_t n)
{
	pl->extra = v;
	pl->n_extra = n;
}

void pipeline_set_counter_source(struct pipeline *pl, pipeline_counters_fn fn, void *ud)
{
	pl->counters_fn = fn;
	pl->counters_ud = ud;
}

static void add_counter(struct doc_counter *h, size_t *n, const char *name, uint64_t v)
{
	if (*n < PIPELINE_HEALTH_MAX)
		h[(*n)++] = (struct doc_counter){name, v};
}

/* Engine callback (pipeline thread): snapshot counters, hand the slot on. */
static void on_slot_closed(void *ud, struct slot *s, uint32_t site)
{
	struct pipeline *pl = ud;
	struct site_mark now, *m = &pl->marks[site];
	struct doc_counter h[PIPELINE_HEALTH_MAX];
	size_t n = 0;

	decoder_stats_get(pl->dec, &now.dec);
	engine_stats_get(pl->eng, &now.eng);
	/* Counters over the period since this site's previous slot closed. */
	add_counter(h, &n, "datagrams", now.dec.datagrams - m->dec.datagrams);
	add_counter(h, &n, "records", now.dec.records - m->dec.records);
	add_counter(h, &n, "lostDatagrams", now.dec.lost_datagrams - m->dec.lost_datagrams);
	add_counter(h, &n, "lostRecords", now.dec.lost_records - m->dec.lost_records);
	add_counter(h, &n, "exporterRestarts",
	            now.dec.exporter_restarts - m->dec.exporter_restarts);
	add_counter(h, &n, "exporters", now.dec.exporters);
	add_counter(h, &n, "exportersExpired", now.dec.exporters_expired - m->dec.exporters_expired);
	for (int k = 0; k < DECODER_DROP__COUNT; k++)
		add_counter(h, &n, decoder_drop_name((enum decoder_drop)k),
		            now.dec.drops[k] - m->dec.drops[k]);
	add_counter(h, &n, "unmatchedRecords", now.eng.unmatched - m->eng.unmatched);
	add_counter(h, &n, "slotAllocFailures", now.eng.alloc_failures - m->eng.alloc_failures);
	for (size_t k = 0; k < pl->n_extra; k++)
		add_counter(h, &n, pl->extra[k].name, pl->extra[k].value);
	if (pl->counters_fn)
		n += pl->counters_fn(pl->counters_ud, h + n, PIPELINE_HEALTH_MAX - n);
	*m = now;
	closer_submit(pl->closer, s, h, n);
}

static void pipeline_sink(void *ud, const struct flow *v, size_t n)
{
	struct pipeline *pl = ud;

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
	if (pl->eng)
		engine_clock(pl->eng, now_ms);
}

const struct decoder *pipeline_decoder(const struct pipeline *pl)
{
	return pl->dec;
}

const struct engine *pipeline_engine(const struct pipeline *pl)
{
	return pl->eng;
}

void pipeline_report(const struct pipeline *pl, FILE *out)
{
	struct decoder_stats st;

	decoder_stats_get(pl->dec, &st);
	fprintf(out,
	        "decoder: %llu datagrams (v5 %llu, v9 %llu, ipfix %llu), %llu records, "
	        "%llu templates added, %llu withdrawn, %llu expired\n",
	        (unsigned long long)st.datagrams, (unsigned long long)st.datagrams_v5,
	        (unsigned long long)st.datagrams_v9, (unsigned long long)st.datagrams_ipfix,
	        (unsigned long long)st.records, (unsigned long long)st.templates_added,
	        (unsigned long long)st.templates_withdrawn,
	        (unsigned long long)st.templates_expired);
	fprintf(out, "sequence: %llu datagrams lost, %llu records lost, %llu exporter restarts\n",
	        (unsigned long long)st.lost_datagrams, (unsigned long long)st.lost_records,
	        (unsigned long long)st.exporter_restarts);
	for (int i = 0; i < DECODER_DROP__COUNT; i++) {
		if (st.drops[i])
			fprintf(out, "dropped %s: %llu\n", decoder_drop_name((enum decoder_drop)i),
			        (unsigned long long)st.drops[i]);
	}

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
		fprintf(out,
		        "slots: %llu closed, %llu records matched no site, %llu late, %llu future, "
		        "%llu empty slots skipped\n",
		        (unsigned long long)es.slots_closed, (unsigned long long)es.unmatched,
		        (unsigned long long)es.late, (unsigned long long)es.future,
		        (unsigned long long)es.slots_skipped);
	}
	if (pl->closer) {
		/* Where the time went: the per-core rates of docs/benchmarks.md. */
		struct closer_stats cs;
		closer_stats_get(pl->closer, &cs);
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
