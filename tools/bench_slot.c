/*
 * bench_slot: in-process benchmark of the slot engine and of closing a slot,
 * phase by phase (docs/benchmarks.md, section "slot").
 *
 * Records come from tools/synthflow.c, the same model tools/genexport puts
 * in captures, all in one 300-second slot of the first site of CONFIG. They
 * are generated in batches outside the timed region and fed to
 * engine_flows() (site match + slot_add); then the slot is submitted to the
 * closer (closer.h, as replay runs it, with a fresh SQLite file per run) and
 * the closer's own timings of its steps are read back (closer_steps_get):
 * slot_finish() (METHOD §4 decisions, sorting), judging, building the
 * documents, store_slot_write() + store_retention_apply(), and freeing; the
 * wall time and the closer thread's CPU time of each. The figures are the
 * median over --runs runs.
 *
 * Not decoding: `nfsentry replay` on a genexport capture measures that, end
 * to end (tools/bench_slot, the script).
 *
 * usage: bench_slot -c CONFIG [--records N] [--inside-hosts H]
 *        [--outside-hosts O] [--seed X] [--runs R] [--store PATH]
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/closer.h"
#include "nfsentry/config.h"
#include "nfsentry/doc.h"
#include "nfsentry/engine.h"
#include "nfsentry/log.h"
#include "nfsentry/slot.h"
#include "nfsentry/store.h"
#include "synthflow.h"

#define BATCH 1024
#define MAX_RUNS 15

enum phase { P_FEED, P_FINISH, P_JUDGE, P_DOCS, P_STORE, P_FREE, P__COUNT };
static const char *const phase_name[P__COUNT] = {
	"feed (site match + slot_add)", "slot_finish", "judge_slot", "doc_slot_build",
	"store_slot_write + retention", "free (docs + slot)",
};

struct run {
	double t[P__COUNT]; /* wall seconds */
	double c[P__COUNT]; /* CPU seconds of the working thread (feed: this one) */
	size_t mem_open, mem_finished;
	size_t n_inside, n_outside, n_pairs, n_active;
	size_t docs, doc_bytes;
	struct slot_caps_hit caps;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * CPU time of this thread: on a shared machine the wall clock also counts
 * the time other processes held the core; both are reported.
 */
static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct closed {
	struct slot *s;
	size_t n;
};

static void on_close(void *ud, struct slot *s, uint32_t site)
{
	struct closed *c = ud;

	(void)site;
	if (slot_records(s) == 0 || c->s) {
		slot_destroy(s); /* only the benchmark's one slot is kept */
		return;
	}
	c->s = s;
	c->n++;
}

/* Sink (closer.h): the judged slot's sizes and documents, on the closer's thread. */
static void bench_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                       const struct doc_batch *docs)
{
	struct run *r = ud;

	(void)jr;
	r->n_inside = v->n_inside;
	r->n_outside = v->n_outside;
	r->n_pairs = v->n_pairs;
	r->n_active = v->n_active;
	r->caps = v->sum.caps_hit;
	r->docs = docs->n;
	for (size_t k = 0; k < docs->n; k++)
		r->doc_bytes += docs->v[k].len;
}

static void remove_store(const char *path)
{
	char p[4096];

	unlink(path);
	if (snprintf(p, sizeof(p), "%s-wal", path) < (int)sizeof(p))
		unlink(p);
	if (snprintf(p, sizeof(p), "%s-shm", path) < (int)sizeof(p))
		unlink(p);
}

static int one_run(const struct config *cfg, const struct synth_opts *so, const char *store_path,
                   struct run *r)
{
	char err[512];
	struct synth *g;
	struct engine *e;
	struct closed cl = {0};
	int rc = synth_create(so, &g, err, sizeof(err));

	memset(r, 0, sizeof(*r));
	if (rc) {
		fprintf(stderr, "bench_slot: %s\n", rc == -ENOMEM ? "out of memory" : err);
		return -1;
	}
	rc = engine_create(cfg->sites, cfg->n_sites, (uint64_t)cfg->grace_s * 1000, on_close, &cl,
	                   &e, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "bench_slot: %s\n", err);
		synth_destroy(g);
		return -1;
	}
	static struct flow batch[BATCH];
	size_t n;
	uint32_t slot;
	do {
		for (n = 0; n < BATCH && synth_next(g, &batch[n], &slot); n++)
			;
		double t0 = now_s(), c0 = cpu_s();
		engine_flows(e, batch, n);
		r->t[P_FEED] += now_s() - t0;
		r->c[P_FEED] += cpu_s() - c0;
	} while (n == BATCH);
	synth_destroy(g);
	r->mem_open = engine_memory(e);
	engine_close_all(e);
	engine_destroy(e);
	if (!cl.s) {
		fprintf(stderr, "bench_slot: no slot closed (no record matched site %s?)\n",
		        cfg->sites[0].name);
		return -1;
	}

	struct store *st;
	struct store_opts sopts;
	store_opts_defaults(&sopts);
	sopts.retention_days = cfg->retention_days;
	remove_store(store_path);
	rc = store_open(store_path, &sopts, &st, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "bench_slot: %s\n", err);
		slot_destroy(cl.s);
		return -1;
	}

	/* The closer as replay runs it: backpressure on, this run's store, no L2. */
	struct closer_sink sink = {"bench_slot", bench_sink, r};
	struct closer_opts co = {
		.docs = {.outside_all = cfg->docs_outside_all,
		         .outside_top = cfg->docs_outside_top},
		.store = st,
		.wait_when_busy = true,
		.sinks = &sink,
		.n_sinks = 1,
	};
	struct closer *c;
	rc = closer_start(&co, &c);
	if (rc) {
		fprintf(stderr, "bench_slot: closer_start: %s\n", strerror(-rc));
		slot_destroy(cl.s);
		store_close(st);
		return -1;
	}
	closer_submit(c, cl.s, NULL, 0);
	closer_drain(c);
	struct closer_stats cs;
	struct closer_steps sp;
	closer_stats_get(c, &cs);
	closer_steps_get(c, &sp);
	closer_stop(c);
	store_close(st);
	if (cs.slots != 1 || cs.doc_errors || cs.store_errors) {
		fprintf(stderr, "bench_slot: the closer did not write the slot (see its log)\n");
		return -1;
	}
	r->mem_finished = sp.slot_bytes;
	static const enum closer_step step[P__COUNT] = {
		[P_FINISH] = CLOSER_STEP_FINISH, [P_JUDGE] = CLOSER_STEP_JUDGE,
		[P_DOCS] = CLOSER_STEP_DOCS,     [P_STORE] = CLOSER_STEP_STORE,
		[P_FREE] = CLOSER_STEP_FREE,
	};
	for (int ph = P_FINISH; ph < P__COUNT; ph++) {
		r->t[ph] = (double)sp.wall_us[step[ph]] / 1e6;
		r->c[ph] = (double)sp.cpu_us[step[ph]] / 1e6;
	}
	return 0;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median over the runs of phase ph (P__COUNT: finish..store), wall or CPU. */
static double median(const struct run *r, int nr, int ph, bool cpu)
{
	double v[MAX_RUNS];
	for (int k = 0; k < nr; k++) {
		const double *t = cpu ? r[k].c : r[k].t;
		v[k] = ph < P__COUNT ? t[ph] : t[P_FINISH] + t[P_JUDGE] + t[P_DOCS] + t[P_STORE];
	}
	qsort(v, (size_t)nr, sizeof(v[0]), dcmp);
	return nr % 2 ? v[nr / 2] : (v[nr / 2 - 1] + v[nr / 2]) / 2;
}

static const char usage_text[] =
	"usage: bench_slot -c CONFIG [--records N] [--inside-hosts H] [--outside-hosts O]\n"
	"       [--seed X] [--runs R] [--store PATH]\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"config", required_argument, NULL, 'c'},
		{"records", required_argument, NULL, 'n'},
		{"inside-hosts", required_argument, NULL, 'H'},
		{"outside-hosts", required_argument, NULL, 'O'},
		{"seed", required_argument, NULL, 'x'},
		{"runs", required_argument, NULL, 'r'},
		{"store", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct synth_opts so;
	const char *cfg_path = NULL, *store_path = NULL;
	uint64_t runs = 3;
	int c;

	synth_opts_defaults(&so);
	while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'r':
			bad = synth_parse_u64(optarg, 1, MAX_RUNS, &runs);
			break;
		case 'S':
			store_path = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			/* The model's options (synthflow.h); anything else is a usage error. */
			bad = synth_opt_parse(c, optarg, &so);
			if (bad > 0) {
				fputs(usage_text, stderr);
				return 2;
			}
		}
		if (bad) {
			fprintf(stderr, "bench_slot: bad value \"%s\"\n", optarg);
			return 2;
		}
	}
	if (!cfg_path || optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	struct config cfg;
	struct config_errors errs = {0};
	if (config_load(cfg_path, &cfg, &errs) != 0) {
		for (size_t k = 0; k < errs.n; k++)
			fprintf(stderr, "%s\n", errs.msg[k]);
		config_errors_free(&errs);
		return 2;
	}
	config_errors_free(&errs);
	if (cfg.n_sites == 0) {
		fprintf(stderr, "bench_slot: %s has no site\n", cfg_path);
		config_free(&cfg);
		return 2;
	}
	log_init(cfg.log_level, false, "bench_slot");
	if (!store_path)
		store_path = cfg.store_path;
	/* The synthetic site must be the config's: its first inside prefix. */
	const struct site_prefix *p = &cfg.sites[0].inside[0];
	if (!flow_addr_is_v4(&p->addr) || p->len < 96 + 8 || p->len > 96 + 30) {
		fprintf(stderr, "bench_slot: site %s: first inside prefix must be IPv4 /8../30\n",
		        cfg.sites[0].name);
		config_free(&cfg);
		return 2;
	}
	so.inside[0].net = (uint32_t)p->addr.b[12] << 24 | (uint32_t)p->addr.b[13] << 16 |
	                   (uint32_t)p->addr.b[14] << 8 | p->addr.b[15];
	so.inside[0].len = (uint8_t)(p->len - 96);
	so.n_inside = 1;

	struct run r[MAX_RUNS];
	int nr = 0;
	for (; nr < (int)runs; nr++) {
		if (one_run(&cfg, &so, store_path, &r[nr]) != 0) {
			config_free(&cfg);
			return 1;
		}
		fprintf(stderr, "run %d: feed %.3f s, close %.3f s\n", nr + 1, r[nr].t[P_FEED],
		        r[nr].t[P_FINISH] + r[nr].t[P_JUDGE] + r[nr].t[P_DOCS] + r[nr].t[P_STORE]);
	}
	remove_store(store_path);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	const struct run *x = &r[0];
	size_t entries = x->n_inside + x->n_outside + x->n_pairs;
	double feed = median(r, nr, P_FEED, false), feed_cpu = median(r, nr, P_FEED, true);
	printf("records %llu, site %s, inside hosts %u, outside population %u, seed %llu, runs %d "
	       "(medians)\n",
	       (unsigned long long)so.records, cfg.sites[0].name, so.inside_hosts, so.outside_hosts,
	       (unsigned long long)so.seed, nr);
	printf("entries: inside %zu (active %zu), outside %zu, pairs %zu; caps hit: inside %llu, "
	       "outside %llu, pairs %llu\n",
	       x->n_inside, x->n_active, x->n_outside, x->n_pairs,
	       (unsigned long long)x->caps.inside, (unsigned long long)x->caps.outside,
	       (unsigned long long)x->caps.pairs);
	printf("documents: %zu, %zu bytes of JSON\n", x->docs, x->doc_bytes);
	printf("%-30s %10s %10s\n", "phase", "wall ms", "CPU ms");
	printf("%-30s %10.1f %10.1f   %.2f M records/s wall, %.2f M records/s CPU\n",
	       phase_name[P_FEED], feed * 1e3, feed_cpu * 1e3, (double)so.records / feed / 1e6,
	       (double)so.records / feed_cpu / 1e6);
	for (int ph = P_FINISH; ph < P__COUNT; ph++)
		printf("%-30s %10.1f %10.1f\n", phase_name[ph], median(r, nr, ph, false) * 1e3,
		       median(r, nr, ph, true) * 1e3);
	printf("%-30s %10.1f %10.1f\n", "close total (finish..store)",
	       median(r, nr, P__COUNT, false) * 1e3, median(r, nr, P__COUNT, true) * 1e3);
	printf("slot memory open: %zu bytes = %.1f bytes/entry; finished: %zu bytes = %.1f "
	       "bytes/entry\n",
	       x->mem_open, (double)x->mem_open / (double)(entries ? entries : 1), x->mem_finished,
	       (double)x->mem_finished / (double)(entries ? entries : 1));
	printf("sizeof: slot_inside %zu, slot_outside %zu, slot_pair %zu, index word %zu "
	       "(indexes kept at most half full)\n",
	       sizeof(struct slot_inside), sizeof(struct slot_outside), sizeof(struct slot_pair),
	       sizeof(uint64_t));
	printf("max RSS of this process: %ld KiB\n", ru.ru_maxrss);
	/* One line for scripts (tools/bench_slot): key=value, times in ms. */
	printf("result records=%llu inside=%zu active=%zu outside=%zu pairs=%zu docs=%zu "
	       "doc_bytes=%zu mem_open=%zu mem_finished=%zu rss_kib=%ld",
	       (unsigned long long)so.records, x->n_inside, x->n_active, x->n_outside, x->n_pairs,
	       x->docs, x->doc_bytes, x->mem_open, x->mem_finished, ru.ru_maxrss);
	static const char *const key[P__COUNT + 1] = {"feed",  "finish", "judge", "docs",
	                                              "store", "free",   "close"};
	for (int ph = 0; ph <= P__COUNT; ph++)
		printf(" %s_wall=%.1f %s_cpu=%.1f", key[ph], median(r, nr, ph, false) * 1e3, key[ph],
		       median(r, nr, ph, true) * 1e3);
	printf("\n");
	config_free(&cfg);
	return 0;
}
