/*
 * bench_watch: the hot-path cost of the reputation watch list
 * (reputation_records(), docs/internals/reputation.md), in ns per record on
 * one thread's CPU time.
 *
 * A watch list of W outside addresses is published the way the closer does
 * it (a judged view with W offenders through reputation_slot_sink(), on an
 * in-memory database), then batches of 30 records (a datagram's worth)
 * taken from 1024 records that stay in the cache, as a decoded datagram
 * does, are offered again and again. The records' outside ends are random
 * and almost never watched, which is the common case; the figure is the
 * check's cost, not the footprint's.
 *
 * usage: bench_watch [WATCHED...]   (default: 0 1000 60000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/judge.h"
#include "nfsentry/reputation.h"
#include "nfsentry/slot.h"

#define N_RECORDS 1024
#define ROUNDS 20000
#define BATCH 30
#define K0 5890752

static double cpu_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int run(unsigned watched)
{
	struct site_config s;
	struct site_prefix in;
	struct reputation_config c;
	struct reputation *r;
	char err[256];

	memset(&s, 0, sizeof(s));
	site_config_defaults(&s);
	snprintf(s.name, sizeof(s.name), "campus");
	flow_addr_parse("10.10.0.0", &in.addr);
	in.len = 96 + 16;
	s.inside = &in;
	s.n_inside = 1;
	reputation_config_defaults(&c);
	struct reputation_opts o = {
	    .cfg = &c, .sites = &s, .n_sites = 1, .db_path = ":memory:", .grace_ms = 10000};
	if (reputation_open(&o, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_watch: %s\n", err);
		return 1;
	}
	struct slot_view v;
	struct slot_outside *out = calloc(watched + 1, sizeof(*out));
	struct slot_label *lab = calloc(watched + 1, sizeof(*lab));
	struct flow *f = calloc(N_RECORDS, sizeof(*f));
	if (!out || !lab || !f)
		return 1;
	memset(&v, 0, sizeof(v));
	v.site = &s;
	v.time_slot = K0;
	for (unsigned i = 0; i < watched; i++) {
		uint8_t a[4] = {100, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		flow_addr_from_v4(&out[i].addr, a);
		out[i].in_c = true;
		out[i].n_labels = 1;
		out[i].label_first = i;
		lab[i].id = JUDGE_NOPAYLOAD; /* watched, not blocked */
	}
	v.outside = out;
	v.n_outside = watched;
	v.labels = lab;
	v.n_labels = watched;
	if (watched)
		reputation_slot_sink(r, &v, NULL, NULL);
	srand(1);
	for (size_t i = 0; i < N_RECORDS; i++) {
		uint8_t a[4] = {(uint8_t)(1 + rand() % 99), (uint8_t)rand(), (uint8_t)rand(),
		                (uint8_t)rand()};
		uint8_t b[4] = {10, 10, (uint8_t)rand(), (uint8_t)rand()};
		flow_addr_from_v4(&f[i].src, a);
		flow_addr_from_v4(&f[i].dst, b);
		f[i].export_ms = (uint64_t)(K0 + 1) * 300000 + 1000;
	}
	reputation_clock(r, (uint64_t)(K0 + 1) * 300000 + 1000);
	reputation_records(r, f, 1); /* takes the published list */
	double t0 = cpu_s();
	for (int k = 0; k < ROUNDS; k++)
		for (size_t i = 0; i < N_RECORDS; i += BATCH)
			reputation_records(r, f + i, N_RECORDS - i < BATCH ? N_RECORDS - i : BATCH);
	double dt = cpu_s() - t0;
	struct reputation_stats st;
	reputation_flush(r);
	reputation_stats_get(r, &st);
	printf("watched %6llu: %.2f ns/record\n", (unsigned long long)st.watched,
	       dt / ((double)ROUNDS * N_RECORDS) * 1e9);
	reputation_close(r);
	free(out);
	free(lab);
	free(f);
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned def[] = {0, 1000, 60000};
	int rc = 0;

	if (argc == 1)
		for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
			rc |= run(def[i]);
	for (int i = 1; i < argc; i++)
		rc |= run((unsigned)strtoul(argv[i], NULL, 10));
	return rc;
}
