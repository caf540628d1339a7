/*
 * bench_decode: offline decode rate of the NetFlow v9 and IPFIX decoders,
 * in records per second on one core (docs/internals/decoder.md).
 *
 * It builds a typical export datagram in memory (a 13-field template as
 * Cisco/softflowd send, ~1400-byte datagrams), defines the template once,
 * then feeds data datagrams in a loop with increasing sequence numbers, so
 * the figure covers header checks, exporter and template look-up, record
 * decoding, sampling and the sink call, and nothing else.
 *
 * Time is this thread's CPU time, so the figure is records per second of
 * one core even when other processes share the machine.
 *
 * usage: bench_decode [v9|ipfix|v5|all] [cpu-seconds]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/decoder.h"

struct wbuf {
	uint8_t b[2048];
	size_t n;
};

static void w8(struct wbuf *w, uint8_t v)
{
	w->b[w->n++] = v;
}
static void w16(struct wbuf *w, uint16_t v)
{
	w8(w, (uint8_t)(v >> 8));
	w8(w, (uint8_t)v);
}
static void w32(struct wbuf *w, uint32_t v)
{
	w16(w, (uint16_t)(v >> 16));
	w16(w, (uint16_t)v);
}
static void wlen(struct wbuf *w, size_t at)
{
	w->b[at + 2] = (uint8_t)((w->n - at) >> 8);
	w->b[at + 3] = (uint8_t)(w->n - at);
}

static uint64_t sum_octets, n_records;

static void sink(void *ud, const struct flow *v, size_t n)
{
	(void)ud;
	for (size_t i = 0; i < n; i++)
		sum_octets += v[i].octets;
	n_records += n;
}

/* CPU time of this thread: the rate per core, even on a busy machine. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const uint16_t v9_fields[][2] = {
    {8, 4}, {12, 4}, {7, 2},  {11, 2}, {4, 1},  {5, 1},  {6, 1},  {2, 4},
    {1, 4}, {10, 2}, {14, 2}, {22, 4}, {21, 4}, {16, 2}, {17, 2}, {15, 4},
};
#define V9_NF (sizeof(v9_fields) / sizeof(v9_fields[0]))
static const uint16_t ipfix_fields[][2] = {
    {8, 4}, {12, 4}, {7, 2},  {11, 2}, {4, 1},   {6, 1},   {5, 1},
    {1, 8}, {2, 8},  {10, 4}, {14, 4}, {152, 8}, {153, 8}, {15, 4},
};
#define IPFIX_NF (sizeof(ipfix_fields) / sizeof(ipfix_fields[0]))

/* One record of the template, filled from a counter. */
static void record(struct wbuf *w, const uint16_t (*f)[2], size_t nf, uint32_t k)
{
	for (size_t i = 0; i < nf; i++) {
		uint16_t id = f[i][0], len = f[i][1];
		uint64_t v = (uint64_t)k * 2654435761u + id;
		if (id == 152 || id == 153)
			v = 1700000000000ull - (k % 60000);
		for (int s = (int)len - 1; s >= 0; s--)
			w8(w, (uint8_t)(v >> (8 * s)));
	}
}

/* Build the template datagram into t and ndg data datagrams into dg. */
static void build(int version, struct wbuf *t, struct wbuf *dg, int ndg, uint32_t *recs_per_dg)
{
	const uint16_t(*f)[2] = version == 9 ? v9_fields : ipfix_fields;
	size_t nf = version == 9 ? V9_NF : IPFIX_NF;
	size_t hdr = version == 9 ? 20 : 16, rl = 0;

	for (size_t i = 0; i < nf; i++)
		rl += f[i][1];
	uint32_t per = (uint32_t)((1400 - hdr - 4) / rl);
	*recs_per_dg = per;
	for (int g = -1; g < ndg; g++) {
		struct wbuf *w = g < 0 ? t : &dg[g];
		w->n = 0;
		w16(w, (uint16_t)version);
		w16(w, 0);
		if (version == 9) {
			w32(w, 100000);
			w32(w, 1700000000);
			w32(w, 0);
			w32(w, 1);
		} else {
			w32(w, 1700000000);
			w32(w, 0);
			w32(w, 1);
		}
		size_t at = w->n;
		if (g < 0) {
			w16(w, version == 9 ? 0 : 2);
			w16(w, 0);
			w16(w, 256);
			w16(w, (uint16_t)nf);
			for (size_t i = 0; i < nf; i++) {
				w16(w, f[i][0]);
				w16(w, f[i][1]);
			}
		} else {
			w16(w, 256);
			w16(w, 0);
			for (uint32_t r = 0; r < per; r++)
				record(w, f, nf, (uint32_t)g * per + r);
			while (version == 9 && (w->n - at) % 4)
				w8(w, 0);
		}
		wlen(w, at);
		if (version == 10) {
			w->b[2] = (uint8_t)(w->n >> 8);
			w->b[3] = (uint8_t)w->n;
		}
	}
}

static void set_seq(int version, struct wbuf *w, uint32_t seq)
{
	size_t at = version == 9 ? 12 : 8;
	w->b[at] = (uint8_t)(seq >> 24);
	w->b[at + 1] = (uint8_t)(seq >> 16);
	w->b[at + 2] = (uint8_t)(seq >> 8);
	w->b[at + 3] = (uint8_t)seq;
}

static int bench(int version, double secs)
{
	struct decoder_config cfg;
	struct flow_endpoint from;
	static struct wbuf t, dg[64];
	uint32_t per, seq = 0;

	decoder_config_defaults(&cfg);
	struct decoder *d = decoder_create(&cfg);
	if (!d)
		return 1;
	memset(&from, 0, sizeof(from));
	from.addr.b[10] = from.addr.b[11] = 0xff;
	from.addr.b[12] = 192;
	from.port = 2055;
	if (version == 5) {
		/* v5: 30 records of 48 bytes, fixed format. */
		per = 30;
		for (int g = 0; g < 64; g++) {
			struct wbuf *w = &dg[g];
			w->n = 0;
			w16(w, 5);
			w16(w, 30);
			w32(w, 100000);
			w32(w, 1700000000);
			w32(w, 0);
			w32(w, 0);
			w16(w, 0);
			w16(w, 0);
			for (uint32_t r = 0; r < 30; r++)
				for (int i = 0; i < 12; i++)
					w32(w, (uint32_t)(g * 30 + r) * 2654435761u + (uint32_t)i);
		}
	} else {
		build(version, &t, dg, 64, &per);
		if (decoder_feed(d, &from, t.b, t.n, 0, sink, NULL) != 0) {
			fprintf(stderr, "bench_decode: template datagram rejected\n");
			return 1;
		}
	}
	n_records = 0;
	uint64_t datagrams = 0;
	double t0 = now_s(), t1;
	do {
		for (int i = 0; i < 1024; i++) {
			struct wbuf *w = &dg[i & 63];
			set_seq(version, w, seq);
			seq += version == 9 ? 1 : per;
			int rc = decoder_feed(d, &from, w->b, w->n, 0, sink, NULL);
			if (rc != (int)per) {
				fprintf(stderr, "bench_decode: v%d datagram gave %d\n", version,
				        rc);
				return 1;
			}
		}
		datagrams += 1024;
		t1 = now_s();
	} while (t1 - t0 < secs);
	struct decoder_stats st;
	decoder_stats_get(d, &st);
	printf("%-5s %3u records/datagram %12llu records %6.2f cpu-s  %6.2f M records/s  %6.3f M "
	       "datagrams/s (lost %llu, checksum %llu)\n",
	       version == 5   ? "v5"
	       : version == 9 ? "v9"
	                      : "ipfix",
	       per, (unsigned long long)n_records, t1 - t0, (double)n_records / (t1 - t0) / 1e6,
	       (double)datagrams / (t1 - t0) / 1e6,
	       (unsigned long long)(st.lost_datagrams + st.lost_records),
	       (unsigned long long)(sum_octets & 0xffff));
	decoder_destroy(d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "all";
	double secs = 2.0;

	if (argc > 2) {
		char *end;
		secs = strtod(argv[2], &end);
		if (*end || secs <= 0) {
			fprintf(stderr, "usage: bench_decode [v9|ipfix|v5|all] [seconds]\n");
			return 2;
		}
	}
	int rc = 0;
	if (!strcmp(what, "v9") || !strcmp(what, "all"))
		rc |= bench(9, secs);
	if (!strcmp(what, "ipfix") || !strcmp(what, "all"))
		rc |= bench(10, secs);
	if (!strcmp(what, "v5") || !strcmp(what, "all"))
		rc |= bench(5, secs);
	return rc;
}
