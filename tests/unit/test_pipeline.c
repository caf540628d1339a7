/*
 * Unit tests for src/pipeline/pipeline.c: NetFlow v5 datagrams through
 * decoder, engine and closer to the store and the sinks, in slot order;
 * shutdown with a queue smaller than one round of closes (waited for, not
 * dropped); an allocation failing at each step of pipeline_create(); the
 * "collector" object from the counter sources, per site and slot; which
 * configurations a reload replaced are still read (pipeline_config_in_use);
 * attack events put into the live table (attacklive.h) as they are made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/attack.h"
#include "nfsentry/attacklive.h"
#include "nfsentry/closer.h"
#include "nfsentry/fault.h"
#include "nfsentry/pipeline.h"
#include "nfsentry/store.h"
#include "decode_build.h"

#define T0_MS 1767225600000ull /* 2026-01-01T00:00:00Z */
#define K0 ((int64_t)(T0_MS / 300000ull))

static char tmpdir[64];
static struct site_config sites[2];
static struct site_prefix pfx[2];

struct seen {
	int n;
	char site[16][64];
	int64_t slot[16];
	uint64_t egress[16];
	size_t docs[16];
};

/* Sink: runs on the closer's worker; the test reads it after the drain. */
static void observe(void *ud, const struct slot_view *v, const struct judge_result *jr,
                    const struct doc_batch *docs)
{
	struct seen *s = ud;

	(void)jr;
	if (s->n >= 16)
		return;
	snprintf(s->site[s->n], sizeof(s->site[0]), "%s", v->site->name);
	s->slot[s->n] = v->time_slot;
	s->egress[s->n] = v->sum.egress.flows;
	s->docs[s->n] = docs->n;
	s->n++;
}

/* Two sites: campus 10.0.0.0/16, lab 10.1.0.0/16; the store in tmpdir. */
static void mkconfig(struct config *cfg, size_t n_sites, const char *db)
{
	config_defaults(cfg);
	for (size_t k = 0; k < 2; k++) {
		memset(&sites[k], 0, sizeof(sites[k]));
		site_config_defaults(&sites[k]);
		memcpy(sites[k].name, "campus", 7);
		flow_addr_parse(k ? "10.1.0.0" : "10.0.0.0", &pfx[k].addr);
		pfx[k].len = 96 + 16;
		sites[k].inside = &pfx[k];
		sites[k].n_inside = 1;
	}
	memcpy(sites[1].name, "lab", 4);
	cfg->sites = sites;
	cfg->n_sites = n_sites;
	snprintf(cfg->store_path, sizeof(cfg->store_path), "%s/%s", tmpdir, db);
}

/*
 * A v5 datagram exported at export_s with n TCP SYN records from 10.<net>.0.k
 * to 198.51.100.7 port 443, each of `packets` packets over the second
 * before the export.
 */
static void v5_packets(struct bld *b, uint32_t export_s, uint8_t net, unsigned n, uint32_t seq,
                       uint32_t packets)
{
	const uint32_t uptime = 1000000;

	b_reset(b);
	b_u16(b, 5);
	b_u16(b, (uint16_t)n);
	b_u32(b, uptime);
	b_u32(b, export_s);
	b_u32(b, 0);
	b_u32(b, seq);
	b_u8(b, 0);
	b_u8(b, 0);
	b_u16(b, 0);
	for (unsigned k = 0; k < n; k++) {
		b_v4(b, 10, net, 0, (uint8_t)(1 + k));
		b_v4(b, 198, 51, 100, 7);
		b_v4(b, 0, 0, 0, 0);
		b_u16(b, 1);
		b_u16(b, 2);
		b_u32(b, packets);
		b_u32(b, 60 * packets); /* octets */
		b_u32(b, uptime - 2000);
		b_u32(b, uptime - 1000);
		b_u16(b, 40000);
		b_u16(b, 443);
		b_u8(b, 0);
		b_u8(b, 0x02);
		b_u8(b, 6);
		b_u8(b, 0);
		b_u16(b, 0);
		b_u16(b, 0);
		b_u8(b, 0);
		b_u8(b, 0);
		b_u16(b, 0);
	}
}

/* The same, 3 packets a record. */
static void v5(struct bld *b, uint32_t export_s, uint8_t net, unsigned n, uint32_t seq)
{
	v5_packets(b, export_s, net, n, seq, 3);
}

static void feed_dg(struct pipeline *pl, const struct bld *b, uint32_t export_s)
{
	struct datagram dg = {.p = b->b, .len = b->n, .ts_ms = (uint64_t)export_s * 1000};

	flow_addr_parse("192.0.2.1", &dg.from.addr);
	dg.from.port = 2055;
	assert_int_equal(pipeline_datagram(pl, &dg), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_pipeline.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Replay: three slots of one site, in order, to the store and to the sink. */
static void test_replay_slots_in_order(void **state)
{
	(void)state;
	struct config cfg;
	struct seen s = {0};
	struct closer_sink sink = {"observe", observe, &s};
	struct pipeline_opts po = {.use_store = true, .replay = true, .sinks = &sink, .n_sinks = 1};
	struct pipeline *pl;
	struct bld *b = malloc(sizeof(*b));
	char err[256];
	const uint32_t t0 = (uint32_t)(T0_MS / 1000);

	assert_non_null(b);
	mkconfig(&cfg, 1, "replay.db");
	assert_int_equal(pipeline_create(&cfg, &po, &pl, err, sizeof(err)), 0);
	for (uint32_t k = 0; k < 3; k++) {
		v5(b, t0 + 300 * k + 60, 0, 2 + k, 10 * k);
		feed_dg(pl, b, t0 + 300 * k + 60);
	}
	pipeline_close_slots(pl);
	assert_int_equal(s.n, 3);
	for (int k = 0; k < 3; k++) {
		assert_string_equal(s.site[k], "campus");
		assert_int_equal(s.slot[k], K0 + k);
		assert_int_equal(s.egress[k], 2 + k);
	}
	pipeline_destroy(pl);

	struct store *st;
	struct store_slot ls[4];
	size_t n;
	assert_int_equal(store_open(cfg.store_path, NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(store_slot_list(st, 0, ls, 4, &n), 0);
	assert_int_equal(n, 3);
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(ls[k].time_slot, K0 + (int64_t)k);
		assert_int_equal(ls[k].n_docs, s.docs[k]);
	}
	store_close(st);
	free(b);
}

/*
 * Live, a queue of one slot, two sites: the shutdown closes both sites'
 * slots at once, and both are written (waited for, not dropped).
 */
static void test_live_shutdown_waits(void **state)
{
	(void)state;
	struct config cfg;
	struct seen s = {0};
	struct closer_sink sink = {"observe", observe, &s};
	struct pipeline_opts po = {.closer_queue = 1, .sinks = &sink, .n_sinks = 1};
	struct pipeline *pl;
	struct bld *b = malloc(sizeof(*b));
	char err[256];
	const uint32_t t0 = (uint32_t)(T0_MS / 1000);

	assert_non_null(b);
	mkconfig(&cfg, 2, "live.db");
	assert_int_equal(pipeline_create(&cfg, &po, &pl, err, sizeof(err)), 0);
	assert_true(pipeline_uses_rx_fill(pl)); /* live, the detector on (the default) */
	pipeline_tick(pl, T0_MS + 60000);
	v5(b, t0 + 60, 0, 3, 0);
	feed_dg(pl, b, t0 + 60);
	v5(b, t0 + 61, 1, 4, 3);
	feed_dg(pl, b, t0 + 61);
	pipeline_close_slots(pl);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.egress[0] + s.egress[1], 7);
	assert_int_equal(s.slot[0], K0);
	assert_int_equal(s.slot[1], K0);
	pipeline_destroy(pl);
	free(b);
}

/*
 * A reload hands the engine a second configuration: the first stays in use
 * while the slot opened under it is open, then freeable; a third replaces
 * the second before any slot used it: the second is freeable at once.
 */
static void test_reload_config_in_use(void **state)
{
	(void)state;
	struct config cfg, c2, c3;
	struct site_config s2[2], s3[2];
	struct seen s = {0};
	struct closer_sink sink = {"observe", observe, &s};
	struct pipeline_opts po = {.sinks = &sink, .n_sinks = 1};
	struct pipeline *pl;
	struct bld *b = malloc(sizeof(*b));
	char err[256];
	const uint32_t t0 = (uint32_t)(T0_MS / 1000);

	assert_non_null(b);
	mkconfig(&cfg, 2, "reload.db");
	memcpy(s2, sites, sizeof(s2));
	memcpy(s3, sites, sizeof(s3));
	c2 = cfg;
	c2.sites = s2;
	c3 = cfg;
	c3.sites = s3;
	assert_int_equal(pipeline_create(&cfg, &po, &pl, err, sizeof(err)), 0);
	assert_true(pipeline_config_in_use(pl, &cfg));
	assert_false(pipeline_config_in_use(pl, &c2));
	pipeline_tick(pl, T0_MS + 60000);
	v5(b, t0 + 60, 0, 3, 0);
	feed_dg(pl, b, t0 + 60);

	/* A reload whose sites the engine refuses (a prefix in two sites) changes nothing. */
	s2[1].inside = s2[0].inside;
	assert_int_equal(pipeline_reload(pl, &c2, true, false, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "already belongs to another site"));
	assert_false(pipeline_config_in_use(pl, &c2));
	s2[1].inside = sites[1].inside;
	assert_int_equal(pipeline_reload(pl, &c2, true, false, err, sizeof(err)), 0);
	assert_true(pipeline_config_in_use(pl, &c2));
	assert_int_equal(pipeline_reload(pl, &c3, true, false, err, sizeof(err)), 0);
	/* c2 opened no slot: nothing reads it any more. */
	assert_false(pipeline_config_in_use(pl, &c2));
	assert_true(pipeline_config_in_use(pl, &c3));

	/* The next slot opens with c3; cfg's slots close after their grace and are written. */
	pipeline_tick(pl, T0_MS + 300000 + 1000);
	v5(b, t0 + 301, 1, 2, 3);
	feed_dg(pl, b, t0 + 301);
	pipeline_tick(pl, T0_MS + 300000 + (uint64_t)cfg.grace_s * 1000 + 1000);
	pipeline_close_slots(pl);
	/* The creation's configuration stays in use (store path, state) for the pipeline's life. */
	assert_true(pipeline_config_in_use(pl, &cfg));
	pipeline_destroy(pl);
	assert_int_equal(s.n, 4); /* two sites, two slots each */
	free(b);
}

/* udpin looks at its receive buffers only for a live detector (its sampling). */
static void test_rx_fill_users(void **state)
{
	(void)state;
	struct config cfg;
	struct pipeline_opts live = {0}, replay = {.replay = true};
	struct pipeline *pl;
	char err[256];

	for (int k = 0; k < 4; k++) {
		mkconfig(&cfg, 1, "rxfill.db");
		cfg.attack.enabled = k & 1;
		struct pipeline_opts *po = k & 2 ? &replay : &live;
		assert_int_equal(pipeline_create(&cfg, po, &pl, err, sizeof(err)), 0);
		assert_int_equal(pipeline_uses_rx_fill(pl), k == 1);
		pipeline_close_slots(pl);
		pipeline_destroy(pl);
	}
}

/*
 * Between the reload and the closing of the slots opened before it, the
 * replaced configuration is in use; once those slots are written, not.
 */
static void test_reload_release_after_close(void **state)
{
	(void)state;
	struct config cfg, c2, c3;
	struct site_config s2[2], s3[2];
	struct pipeline_opts po = {0};
	struct pipeline *pl;
	struct bld *b = malloc(sizeof(*b));
	char err[256];
	const uint32_t t0 = (uint32_t)(T0_MS / 1000);

	assert_non_null(b);
	mkconfig(&cfg, 2, "release.db");
	memcpy(s2, sites, sizeof(s2));
	memcpy(s3, sites, sizeof(s3));
	c2 = cfg;
	c2.sites = s2;
	c3 = cfg;
	c3.sites = s3;
	assert_int_equal(pipeline_create(&cfg, &po, &pl, err, sizeof(err)), 0);
	assert_int_equal(pipeline_reload(pl, &c2, true, false, err, sizeof(err)), 0);
	pipeline_tick(pl, T0_MS + 60000);
	v5(b, t0 + 60, 0, 3, 0);
	feed_dg(pl, b, t0 + 60);
	/* The slot just opened took c2's sites; a reload to c3 leaves it open under c2. */
	assert_int_equal(pipeline_reload(pl, &c3, true, false, err, sizeof(err)), 0);
	assert_true(pipeline_config_in_use(pl, &c2));
	pipeline_tick(pl, T0_MS + 300000 + 1000);
	assert_true(pipeline_config_in_use(pl, &c2)); /* in its grace period */
	pipeline_tick(pl, T0_MS + 300000 + (uint64_t)cfg.grace_s * 1000 + 1000);
	pipeline_close_slots(pl);
	assert_false(pipeline_config_in_use(pl, &c2));
	assert_true(pipeline_config_in_use(pl, &c3));
	pipeline_destroy(pl);
	free(b);
}

/*
 * A reload that adds a site (live): its records are nobody's until the
 * boundary, then its first slot opens with the next slot and is judged
 * with its own name and site index; the counter sources and the closer's
 * queue make room for it (ASan sees an index past them).
 */
static void test_reload_site_added(void **state)
{
	(void)state;
	struct config cfg, c2;
	struct site_config s2[2];
	struct seen s = {0};
	struct closer_sink sink = {"observe", observe, &s};
	struct pipeline_opts po = {.sinks = &sink, .n_sinks = 1};
	struct pipeline *pl;
	struct bld *b = malloc(sizeof(*b));
	struct engine_stats es;
	struct closer_stats cs;
	char err[256];
	const uint32_t t0 = (uint32_t)(T0_MS / 1000);

	assert_non_null(b);
	mkconfig(&cfg, 1, "added.db");
	memcpy(s2, sites, sizeof(s2));
	c2 = cfg;
	c2.sites = s2;
	c2.n_sites = 2;
	assert_int_equal(pipeline_create(&cfg, &po, &pl, err, sizeof(err)), 0);
	pipeline_tick(pl, T0_MS + 60000);
	v5(b, t0 + 60, 0, 3, 0);
	feed_dg(pl, b, t0 + 60);
	assert_int_equal(pipeline_reload(pl, &c2, true, false, err, sizeof(err)), 0);
	assert_int_equal(pipeline_site_id(pl, "lab"), 1);
	pipeline_closer_stats(pl, &cs);
	assert_int_equal(cs.queue_capacity, 2 * (1 + 2));
	v5(b, t0 + 61, 1, 4, 3); /* lab's, before the boundary: unmatched */
	feed_dg(pl, b, t0 + 61);
	pipeline_tick(pl, T0_MS + 300000 + 1000);
	v5(b, t0 + 301, 1, 5, 7);
	feed_dg(pl, b, t0 + 301);
	v5(b, t0 + 302, 0, 2, 12);
	feed_dg(pl, b, t0 + 302);
	engine_stats_get(pipeline_engine(pl), &es);
	assert_int_equal(es.unmatched, 4);
	pipeline_close_slots(pl);
	pipeline_destroy(pl);
	assert_int_equal(s.n, 3);
	static const char *const want_site[] = {"campus", "campus", "lab"};
	static const int64_t want_k[] = {K0, K0 + 1, K0 + 1};
	static const uint64_t want_egress[] = {3, 2, 5};
	for (int w = 0; w < 3; w++) {
		bool found = false;
		for (int i = 0; i < s.n; i++)
			found |= strcmp(s.site[i], want_site[w]) == 0 && s.slot[i] == want_k[w] &&
			         s.egress[i] == want_egress[w];
		assert_true(found);
	}
	free(b);
}

/* A counter source of the test's own: one counter, one gauge. */
struct probe_stats {
	uint64_t hits;
	uint64_t level;
};
static const struct counter_def probe_defs[] = {
    COUNTER_DEF(probe_stats, hits, "probeHits", COUNTER_TOTAL, "Hits."),
    COUNTER_DEF(probe_stats, level, "probeLevel", COUNTER_GAUGE, "Level now."),
};
static const struct counter_table probe_counters = COUNTER_TABLE("probe", probe_defs, probe_stats);

static void probe_snapshot(void *ud, void *stats)
{
	*(struct probe_stats *)stats = *(const struct probe_stats *)ud;
}

struct collectors {
	int n;
	char site[8][64];
	int64_t slot[8];
	char text[8][2048]; /* the slot summary from "collector": on */
};

static void keep_collector(void *ud, const struct slot_view *v, const struct judge_result *jr,
                           const struct doc_batch *docs)
{
	struct collectors *c = ud;
	const char *p;

	(void)jr;
	if (c->n >= 8 || docs->n == 0 || strcmp(docs->v[0].kind, "slot") != 0)
		return;
	p = strstr(docs->v[0].json, "\"collector\":");
	snprintf(c->site[c->n], sizeof(c->site[0]), "%s", v->site->name);
	c->slot[c->n] = v->time_slot;
	snprintf(c->text[c->n], sizeof(c->text[0]), "%s", p ? p : "");
	c->n++;
}

/*
 * The "collector" object: decoder, engine, then added sources, each in its
 * table's order; counters are per-slot deltas kept per site, gauges the
 * value now. Too many sources or counters are refused.
 */
static void test_counter_sources(void **state)
{
	(void)state;
	struct config cfg;
	struct collectors c = {0};
	struct closer_sink sink = {"collectors", keep_collector, &c};
	struct pipeline_opts po = {.replay = true, .sinks = &sink, .n_sinks = 1};
	struct probe_stats probe = {0, 0};
	struct pipeline *pl;
	struct bld *b = malloc(sizeof(*b));
	char err[256];
	const uint32_t t0 = (uint32_t)(T0_MS / 1000);

	assert_non_null(b);
	mkconfig(&cfg, 2, "counters.db");
	cfg.attack.enabled = true; /* its 11 counters count against the budget below */
	assert_int_equal(pipeline_create(&cfg, &po, &pl, err, sizeof(err)), 0);
	assert_false(pipeline_uses_rx_fill(pl)); /* replay never samples */
	assert_int_equal(pipeline_counter_source_add(pl, &probe_counters, probe_snapshot, &probe),
	                 0);
	/* 40 decoder + 7 engine + 11 attack + 2 probe counters: 40 more do not fit in 96. */
	assert_int_equal(pipeline_counter_source_add(pl, &decoder_counters, probe_snapshot, &probe),
	                 -ENOSPC);

	/* Slot K0: campus and lab; the export of slot K0 + 1 closes both. */
	v5(b, t0 + 60, 0, 2, 0);
	feed_dg(pl, b, t0 + 60);
	v5(b, t0 + 61, 1, 3, 0);
	feed_dg(pl, b, t0 + 61);
	probe = (struct probe_stats){5, 7};
	v5(b, t0 + 300 + 60, 0, 1, 2);
	feed_dg(pl, b, t0 + 300 + 60);
	probe = (struct probe_stats){9, 2};
	pipeline_close_slots(pl);
	pipeline_destroy(pl);
	free(b);

	assert_int_equal(c.n, 4);
	assert_string_equal(c.site[0], "campus");
	assert_int_equal(c.slot[0], K0);
	/*
	 * Start and end of the object. The datagram that closed the slot is
	 * counted, its record (decoded after the clock moved) is not yet.
	 */
	assert_non_null(strstr(c.text[0], "\"collector\":{\"datagrams\":3,\"datagramsV5\":3,"));
	assert_non_null(strstr(c.text[0], "\"records\":5,"));
	assert_non_null(strstr(c.text[0], "\"engineRecords\":5,"));
	assert_non_null(strstr(c.text[0], "\"slotAllocFailures\":0,\"attackRecords\":5,"
	                                  "\"attackHosts\":"));
	assert_non_null(strstr(c.text[0], "\"attackHookDropped\":0,\"probeHits\":5,"
	                                  "\"probeLevel\":7}}"));
	/* The records the detector's ring dropped (none in replay) are a slot counter too. */
	assert_non_null(strstr(c.text[0], "\"attackHostOverflow\":0,\"attackRecordsDropped\":0,"));
	/* lab's first slot: its own previous snapshot, so the totals again. */
	assert_string_equal(c.site[1], "lab");
	assert_int_equal(c.slot[1], K0);
	assert_non_null(strstr(c.text[1], "\"collector\":{\"datagrams\":3,"));
	assert_non_null(strstr(c.text[1], "\"probeHits\":5,\"probeLevel\":7}}"));
	/* campus K0 + 1: deltas since its K0 closed; the gauge as it is now. */
	assert_string_equal(c.site[2], "campus");
	assert_int_equal(c.slot[2], K0 + 1);
	assert_non_null(strstr(c.text[2], "\"collector\":{\"datagrams\":0,"));
	assert_non_null(strstr(c.text[2], "\"records\":1,"));
	assert_non_null(strstr(c.text[2], "\"exporters\":1,"));
	assert_non_null(strstr(c.text[2], "\"probeHits\":4,\"probeLevel\":2}}"));
	/* lab K0 + 1 (empty): the same deltas, from lab's own K0 snapshot. */
	assert_string_equal(c.site[3], "lab");
	assert_int_equal(c.slot[3], K0 + 1);
	assert_non_null(strstr(c.text[3], "\"records\":1,"));
	assert_non_null(strstr(c.text[3], "\"probeHits\":4,\"probeLevel\":2}}"));

	/* At most PIPELINE_SOURCES_MAX sources: decoder, engine, attack, then these. */
	po.sinks = NULL;
	po.n_sinks = 0;
	assert_int_equal(pipeline_create(&cfg, &po, &pl, err, sizeof(err)), 0);
	for (int k = 3; k < PIPELINE_SOURCES_MAX; k++)
		assert_int_equal(
		    pipeline_counter_source_add(pl, &probe_counters, probe_snapshot, &probe), 0);
	assert_int_equal(pipeline_counter_source_add(pl, &probe_counters, probe_snapshot, &probe),
	                 -ENOSPC);
	pipeline_destroy(pl);
}

/* Each allocation of pipeline_create() failing in turn: a clean -ENOMEM. */
static void test_create_alloc_fail(void **state)
{
	(void)state;
	struct config cfg;
	FILE *out = fopen("/dev/null", "w");
	struct pipeline_opts po = {.flows = FLOWOUT_CSV, .flows_out = out, .use_store = true};
	struct pipeline *pl = NULL;
	char err[256];
	unsigned long after;
	int rc;

	assert_non_null(out);
	mkconfig(&cfg, 2, "fault.db");
	for (after = 0;; after++) {
		assert_true(after < 10000);
		err[0] = '\0';
		fault_arm(after, FAULT_ONCE);
		rc = pipeline_create(&cfg, &po, &pl, err, sizeof(err));
		unsigned long count = fault_count();
		fault_disarm();
		if (rc == 0) {
			assert_true(count <= after);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_true(err[0] != '\0');
	}
	/* The pipeline, its output buffer, its counter snapshots, the closer and its queue. */
	assert_true(after >= 5);
	pipeline_destroy(pl);
	fclose(out);
}

/* Sink: what the web feed does with the live table once a slot is stored. */
static void live_stored(void *ud, const struct slot_view *v, const struct judge_result *jr,
                        const struct doc_batch *docs)
{
	(void)jr;
	(void)docs;
	attack_live_stored(ud, v->site->name, v->time_slot);
}

static int count_doc(void *ud, const struct store_doc *d)
{
	(void)d;
	++*(int *)ud;
	return 0;
}

/* The live table's only entry, copied; false when the table is empty. */
struct live_one {
	uint32_t seq;
	bool ended;
	int64_t slot;
	char site[SITE_NAME_MAX], id[ATTACK_LIVE_ID_MAX], phase[16];
};

static bool live_get(struct attack_live *l, struct live_one *o)
{
	struct attack_live_doc *d;
	size_t n;

	assert_int_equal(attack_live_snapshot(l, &d, &n), 0);
	if (n == 0)
		return false;
	assert_int_equal(n, 1);
	o->seq = d[0].seq;
	o->ended = d[0].ended;
	o->slot = d[0].time_slot;
	snprintf(o->site, sizeof(o->site), "%s", d[0].site);
	snprintf(o->id, sizeof(o->id), "%s", d[0].id);
	const char *ph = strstr(d[0].json, "\"state\":\"");
	assert_non_null(ph);
	snprintf(o->phase, sizeof(o->phase), "%.*s", (int)strcspn(ph + 9, "\""), ph + 9);
	free(d);
	return true;
}

/*
 * The live table holds exactly one document, of campus's slot K0, in this
 * phase (ended only for "end") and seq, of event id (id "" the first time:
 * filled in).
 */
static void live_expect(struct attack_live *l, const char *phase, uint32_t seq, char *id)
{
	struct live_one o;

	assert_true(live_get(l, &o));
	assert_string_equal(o.phase, phase);
	assert_int_equal(o.seq, seq);
	assert_int_equal(o.ended, strcmp(phase, "end") == 0);
	assert_string_equal(o.site, "campus");
	assert_int_equal(o.slot, K0);
	if (!id[0])
		snprintf(id, ATTACK_LIVE_ID_MAX, "%s", o.id);
	assert_string_equal(o.id, id);
}

/*
 * Live: a flood from 10.0.0.1 starts an attack event, updates it and ends
 * it; the pipeline puts each document into the live table as the clock
 * passes each second (start, updates, end: seq 0, 1, 2, 3, one event),
 * and once the slot is stored the ended event leaves the table. The
 * detector runs on its own thread: each check waits for it first
 * (pipeline_attack_drain()).
 */
static void test_attack_live_table(void **state)
{
	(void)state;
	struct config cfg;
	struct attack_live *live;
	struct pipeline *pl;
	struct bld *b = malloc(sizeof(*b));
	struct live_one o;
	char id[ATTACK_LIVE_ID_MAX] = "";
	char err[256];
	const uint32_t t0 = (uint32_t)(T0_MS / 1000) + 60;

	assert_non_null(b);
	assert_int_equal(attack_live_create(8, &live), 0);
	struct closer_sink sink = {"live", live_stored, live};
	struct pipeline_opts po = {
	    .use_store = true, .sinks = &sink, .n_sinks = 1, .attack_live = live};
	mkconfig(&cfg, 1, "attack.db");
	cfg.retention_days = 0; /* live retention goes by the wall clock: keep 2026-01-01 */
	/* One threshold (outbound packets/s), one-second windows, one to start and to end. */
	memset(&cfg.attack.th, 0, sizeof(cfg.attack.th));
	cfg.attack.th.v[ATTACK_OUT][ATTACK_CLASS_TOTAL][ATTACK_PPS] = 1000;
	cfg.attack.enabled = true;
	cfg.attack.window_s = 1;
	cfg.attack.start_windows = 1;
	cfg.attack.end_windows = 1;
	cfg.attack.update_s = 1;
	assert_int_equal(pipeline_create(&cfg, &po, &pl, err, sizeof(err)), 0);
	assert_true(pipeline_uses_rx_fill(pl)); /* live with a detector: udpin looks */

	/* Second 0: 100 000 packets; nothing decided before the second is over. */
	pipeline_tick(pl, (uint64_t)t0 * 1000);
	v5_packets(b, t0, 0, 1, 0, 100000);
	feed_dg(pl, b, t0);
	pipeline_attack_drain(pl);
	assert_false(live_get(live, &o));
	/* Second 1: the window of second 0 is above: the start. */
	pipeline_tick(pl, (uint64_t)(t0 + 1) * 1000);
	pipeline_attack_drain(pl);
	live_expect(live, "start", 0, id);
	/* Still flooding: an update of the same event replaces it. */
	v5_packets(b, t0 + 1, 0, 1, 1, 100000);
	feed_dg(pl, b, t0 + 1);
	pipeline_tick(pl, (uint64_t)(t0 + 2) * 1000);
	pipeline_attack_drain(pl);
	live_expect(live, "update", 1, id);
	/*
	 * No more records. The window still holds the last flood second at the
	 * next evaluation (one more update: the detector's timing is
	 * test_attack.c's), then the end, still shown (marked ended) until its
	 * slot is stored.
	 */
	pipeline_tick(pl, (uint64_t)(t0 + 3) * 1000);
	pipeline_attack_drain(pl);
	live_expect(live, "update", 2, id);
	pipeline_tick(pl, (uint64_t)(t0 + 4) * 1000);
	pipeline_attack_drain(pl);
	live_expect(live, "end", 3, id);
	pipeline_tick(pl, (uint64_t)(t0 + 5) * 1000);
	pipeline_attack_drain(pl);
	live_expect(live, "end", 3, id);

	/* The slot stored (the sink runs after the store): the ended event is gone. */
	pipeline_close_slots(pl);
	assert_false(live_get(live, &o));
	struct attack_live_stats ls;
	attack_live_stats_get(live, &ls);
	assert_int_equal(ls.docs, 4);
	assert_int_equal(ls.stale, 0);
	assert_int_equal(ls.entries, 0);
	pipeline_destroy(pl);

	/* The store holds the event's four documents with the slot. */
	struct store *st;
	int n_attack = 0;
	assert_int_equal(store_open(cfg.store_path, NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(store_doc_foreach(st, "campus", K0, "attack", count_doc, &n_attack), 0);
	assert_int_equal(n_attack, 4);
	store_close(st);
	attack_live_destroy(live);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replay_slots_in_order),
	    cmocka_unit_test(test_live_shutdown_waits),
	    cmocka_unit_test(test_reload_config_in_use),
	    cmocka_unit_test(test_rx_fill_users),
	    cmocka_unit_test(test_reload_release_after_close),
	    cmocka_unit_test(test_reload_site_added),
	    cmocka_unit_test(test_create_alloc_fail),
	    cmocka_unit_test(test_counter_sources),
	    cmocka_unit_test(test_attack_live_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
