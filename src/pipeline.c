/*
 * pipeline: datagram -> decoder -> record sinks. See pipeline.h.
 */
#include "nfsentry/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/log.h"

/* Rows are gathered here and written with one fwrite per buffer. */
#define PIPELINE_OUTBUF_BYTES (256u * 1024u)

struct pipeline {
	struct decoder *dec;
	enum flowout_format flows;
	FILE *out;
	int out_err; /* first write error, -errno */
	size_t out_len;
	char *outbuf;
};

struct pipeline *pipeline_create(const struct config *cfg, const struct pipeline_opts *opts)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return NULL;
	pl->dec = decoder_create(&cfg->decoder);
	if (!pl->dec)
		goto fail;
	pl->flows = opts ? opts->flows : FLOWOUT_NONE;
	pl->out = opts ? opts->flows_out : NULL;
	if (pl->flows != FLOWOUT_NONE) {
		if (!pl->out)
			pl->out = stdout;
		pl->outbuf = malloc(PIPELINE_OUTBUF_BYTES);
		if (!pl->outbuf)
			goto fail;
		if (pl->flows == FLOWOUT_CSV)
			fputs(flowout_csv_header, pl->out);
	}
	return pl;
fail:
	decoder_destroy(pl->dec);
	free(pl);
	return NULL;
}

int pipeline_flush(struct pipeline *pl)
{
	if (pl->out_len) {
		if (!pl->out_err && fwrite(pl->outbuf, 1, pl->out_len, pl->out) != pl->out_len)
			pl->out_err = errno ? -errno : -EIO;
		pl->out_len = 0;
	}
	if (pl->out && fflush(pl->out) != 0 && !pl->out_err)
		pl->out_err = errno ? -errno : -EIO;
	return pl->out_err;
}

void pipeline_destroy(struct pipeline *pl)
{
	if (!pl)
		return;
	if (pl->flows != FLOWOUT_NONE)
		pipeline_flush(pl);
	decoder_destroy(pl->dec);
	free(pl->outbuf);
	free(pl);
}

static void pipeline_sink(void *ud, const struct flow *v, size_t n)
{
	struct pipeline *pl = ud;

	if (pl->flows == FLOWOUT_NONE)
		return;
	for (size_t i = 0; i < n; i++) {
		if (PIPELINE_OUTBUF_BYTES - pl->out_len < FLOWOUT_LINE_MAX) {
			if (!pl->out_err &&
			    fwrite(pl->outbuf, 1, pl->out_len, pl->out) != pl->out_len)
				pl->out_err = errno ? -errno : -EIO;
			pl->out_len = 0;
		}
		pl->out_len += flowout_format_line(pl->flows, &v[i], pl->outbuf + pl->out_len);
	}
}

int pipeline_datagram(void *ud, const struct datagram *dg)
{
	struct pipeline *pl = ud;

	decoder_feed(pl->dec, &dg->from, dg->p, dg->len, dg->ts_ms, pipeline_sink, pl);
	return 0;
}

const struct decoder *pipeline_decoder(const struct pipeline *pl)
{
	return pl->dec;
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
}
