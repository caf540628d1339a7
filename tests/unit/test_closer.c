/*
 * Unit tests for src/pipeline/closer.c: slots processed in submission order
 * (store and sinks), backpressure (submit waits at a full queue), live
 * overflow (submit never waits, drops are counted exactly), drain on stop,
 * stop while a slot is being closed, and an allocation failing at each step
 * of closer_start() and of closing a slot (fault.h); a store that cannot
 * write (retries, spool, put back), retention that a slot far in the
 * future does not move, and which sites the held slots belong to
 * (closer_sites_held).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "nfsentry/closer.h"
#include "nfsentry/fault.h"
#include "nfsentry/spool.h"
#include "nfsentry/store.h"
#include "slot_helpers.h"

#define K0 ((int64_t)(T0_MS / 300000ull))
#define MAX_SEEN 64

static struct site_config sites[2];
static char tmpdir[64];

/* ---- an observer sink: what it saw, in order ---------------------------- */

struct seen {
	pthread_mutex_t mu;
	int n;
	char site[MAX_SEEN][64];
	int64_t slot[MAX_SEEN];
	size_t docs[MAX_SEEN];
	uint64_t records[MAX_SEEN];
	int order[MAX_SEEN]; /* log of sink ids, for the call order of several sinks */
	int n_order;
};

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
}

static void observe(void *ud, const struct slot_view *v, const struct judge_result *jr,
                    const struct doc_batch *docs)
{
	struct seen *s = ud;

	(void)jr;
	pthread_mutex_lock(&s->mu);
	assert_true(s->n < MAX_SEEN);
	snprintf(s->site[s->n], sizeof(s->site[0]), "%s", v->site->name);
	s->slot[s->n] = v->time_slot;
	s->docs[s->n] = docs->n;
	s->records[s->n] = v->sum.egress.flows + v->sum.ingress.flows + v->sum.internal.flows;
	s->n++;
	s->order[s->n_order++] = 1;
	pthread_mutex_unlock(&s->mu);
}

/* A second sink on the same log: must run after observe() for each slot. */
static void second(void *ud, const struct slot_view *v, const struct judge_result *jr,
                   const struct doc_batch *docs)
{
	struct seen *s = ud;

	(void)v, (void)jr, (void)docs;
	pthread_mutex_lock(&s->mu);
	s->order[s->n_order++] = 2;
	pthread_mutex_unlock(&s->mu);
}

static int seen_count(struct seen *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- a gate sink: holds the worker inside a slot until opened ----------- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int entered;
	struct seen *seen;
};

static void gate_init(struct gate *g, struct seen *s)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->seen = s;
}

static void gate_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                      const struct doc_batch *docs)
{
	struct gate *g = ud;

	observe(g->seen, v, jr, docs);
	pthread_mutex_lock(&g->mu);
	g->entered++;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(struct gate *g, int n)
{
	pthread_mutex_lock(&g->mu);
	while (g->entered < n)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* A slow sink: sleeps 30 ms per slot, after recording it. */
static void slow_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                      const struct doc_batch *docs)
{
	struct gate *g = ud;

	observe(g->seen, v, jr, docs);
	pthread_mutex_lock(&g->mu);
	g->entered++;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	nanosleep(&(struct timespec){0, 30 * 1000 * 1000}, NULL);
}

/* ---- slots -------------------------------------------------------------- */

/* A slot of site si at K0 + k with n records (an egress scan of n ports). */
static struct slot *mkslot(int si, int64_t k, unsigned n)
{
	struct slot *s = slot_create(&sites[si], (uint32_t)si, K0 + k, 42);

	assert_non_null(s);
	for (unsigned r = 0; r < n; r++) {
		struct flow f = mkflow("10.0.0.1", "198.51.100.7", TCP, 40000, (uint16_t)(1 + r),
		                       SYN, 1, 60, T0_MS + r);
		slot_add(s, SLOT_EGRESS, &f);
	}
	return s;
}

static const struct doc_counter health[] = {{"datagrams", 7}, {"records", 9}};

static struct store *open_store(const char *name)
{
	char path[128], err[256];
	struct store *st;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_int_equal(store_open(path, NULL, &st, err, sizeof(err)), 0);
	return st;
}

static int setup(void **state)
{
	(void)state;
	test_site(&sites[0]);
	test_site(&sites[1]);
	memcpy(sites[1].name, "lab", 4);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_closer.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

/* Two sites, alternating, slots given out of time order: written as submitted. */
static void test_order_store_and_sinks(void **state)
{
	(void)state;
	struct seen s;
	seen_init(&s);
	struct store *st = open_store("order.db");
	struct closer_sink sinks[] = {{"observe", observe, &s}, {"second", second, &s}};
	struct closer_opts o = {.store = st, .queue_max = 8, .sinks = sinks, .n_sinks = 2};
	struct closer *c;
	const int site[] = {0, 1, 0, 1, 1, 0};
	const int64_t k[] = {3, 1, 1, 0, 2, 2};

	assert_int_equal(closer_start(&o, &c), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(
		    closer_submit(c, mkslot(site[i], k[i], 3 + (unsigned)i), health, 2), 0);
	closer_drain(c);
	struct closer_stats cs;
	closer_stats_get(c, &cs);
	closer_stop(c);

	assert_int_equal(s.n, 6);
	assert_int_equal(s.n_order, 12);
	size_t docs = 0;
	for (int i = 0; i < 6; i++) {
		assert_string_equal(s.site[i], sites[site[i]].name);
		assert_int_equal(s.slot[i], K0 + k[i]);
		assert_int_equal(s.records[i], 3 + i);
		assert_int_equal(s.order[2 * i], 1);
		assert_int_equal(s.order[2 * i + 1], 2);
		docs += s.docs[i];
	}
	assert_int_equal(cs.slots, 6);
	assert_int_equal(cs.documents, docs);
	assert_int_equal(cs.store_errors + cs.doc_errors + cs.slots_dropped + cs.submit_waits, 0);
	assert_int_equal(cs.queue_capacity, 8);
	assert_int_equal(cs.queued, 0);

	/* The store's write order (seq) is the submission order, with every document. */
	struct store_slot ls[8];
	size_t n;
	assert_int_equal(store_slot_list(st, 0, ls, 8, &n), 0);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(ls[i].site, sites[site[i]].name);
		assert_int_equal(ls[i].time_slot, K0 + k[i]);
		assert_int_equal(ls[i].n_docs, s.docs[i]);
		assert_int_equal(ls[i].closed_at_s, (K0 + k[i] + 1) * 300);
	}
	store_close(st);
}

struct submitter {
	struct closer *c;
	int n;
	atomic_int done;
	int rc[8];
};

static void *submit_thread(void *arg)
{
	struct submitter *sb = arg;

	for (int i = 0; i < sb->n; i++) {
		sb->rc[i] = closer_submit(sb->c, mkslot(0, i, 2), health, 2);
		atomic_fetch_add(&sb->done, 1);
	}
	return NULL;
}

/* Replay: a full queue makes submit wait; nothing is dropped. */
static void test_backpressure(void **state)
{
	(void)state;
	struct seen s;
	struct gate g;
	seen_init(&s);
	gate_init(&g, &s);
	struct closer_sink sink = {"gate", gate_sink, &g};
	struct closer_opts o = {
	    .wait_when_busy = true, .queue_max = 2, .sinks = &sink, .n_sinks = 1};
	struct submitter sb = {.n = 5};
	pthread_t t;

	assert_int_equal(closer_start(&o, &sb.c), 0);
	assert_int_equal(pthread_create(&t, NULL, submit_thread, &sb), 0);
	/* Slot 0 is held in the gate; slot 1 waits; slot 2's submit must wait. */
	gate_wait_entered(&g, 1);
	for (int i = 0; i < 400 && atomic_load(&sb.done) < 2; i++)
		nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	assert_int_equal(atomic_load(&sb.done), 2);
	struct closer_stats cs;
	closer_stats_get(sb.c, &cs);
	assert_int_equal(cs.queued, 2);
	assert_int_equal(cs.submit_waits, 1);
	assert_int_equal(cs.slots, 0);

	gate_open(&g);
	pthread_join(t, NULL);
	closer_drain(sb.c);
	closer_stats_get(sb.c, &cs);
	closer_stop(sb.c);
	assert_int_equal(atomic_load(&sb.done), 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(sb.rc[i], 0);
		assert_int_equal(s.slot[i], K0 + i);
	}
	assert_int_equal(s.n, 5);
	assert_int_equal(cs.slots, 5);
	assert_int_equal(cs.slots_dropped, 0);
	assert_int_equal(cs.queued_max, 2);
	assert_true(cs.submit_waits >= 1);
}

/* Live: the worker is stuck; submit returns at once and drops exactly the overflow. */
static void test_live_overflow(void **state)
{
	(void)state;
	struct seen s;
	struct gate g;
	seen_init(&s);
	gate_init(&g, &s);
	struct closer_sink sink = {"gate", gate_sink, &g};
	struct closer_opts o = {.queue_max = 3, .sinks = &sink, .n_sinks = 1};
	struct closer *c;

	assert_int_equal(closer_start(&o, &c), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 0, 1), health, 2), 0);
	gate_wait_entered(&g, 1);
	/* Every call below returns while the worker is still held: none waits. */
	assert_int_equal(closer_submit(c, mkslot(0, 1, 1), health, 2), 0);
	assert_int_equal(closer_submit(c, mkslot(1, 1, 1), health, 2), 0);
	for (int i = 2; i < 6; i++)
		assert_int_equal(closer_submit(c, mkslot(0, i, 1), health, 2), -ENOSPC);
	struct closer_stats cs;
	closer_stats_get(c, &cs);
	assert_int_equal(cs.slots_dropped, 4);
	assert_int_equal(cs.queued, 3);
	assert_int_equal(cs.queued_max, 3);
	assert_int_equal(cs.submit_waits, 0);
	assert_int_equal(seen_count(&s), 1);
	/* Held: the slot in the gate and the two waiting, by the address of their site. */
	assert_true(closer_sites_held(c, sites, 2));
	assert_true(closer_sites_held(c, &sites[1], 1));
	struct site_config other[2];
	assert_false(closer_sites_held(c, other, 2));

	gate_open(&g);
	closer_drain(c);
	/* Every slot freed: nothing holds a site any more. */
	assert_false(closer_sites_held(c, sites, 2));
	/* Room again: the next slot is taken. */
	assert_int_equal(closer_submit(c, mkslot(0, 9, 1), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	closer_stop(c);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.slot[0], K0);
	assert_int_equal(s.slot[1], K0 + 1);
	assert_string_equal(s.site[2], "lab");
	assert_int_equal(s.slot[3], K0 + 9);
	assert_int_equal(cs.slots, 4);
	assert_int_equal(cs.slots_dropped, 4);
}

/* A sink that keeps the kinds and keys of the attack documents it is shown. */
struct kinds {
	int n;
	char key[8][48];
	size_t total[8];
};

static void kinds_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                       const struct doc_batch *docs)
{
	struct kinds *k = ud;

	(void)v, (void)jr;
	for (size_t i = 0; i < docs->n; i++)
		if (strcmp(docs->v[i].kind, "attack") == 0 && k->n < 8) {
			snprintf(k->key[k->n], sizeof(k->key[0]), "%s", docs->v[i].key);
			k->total[k->n++] = docs->n;
		}
}

/*
 * Documents made outside the slot (attack events) go after the slot's own:
 * stored, printed and shown to sinks with it; freed with a dropped slot.
 */
static void test_submit_docs(void **state)
{
	(void)state;
	struct kinds k = {0};
	struct closer_sink sink = {"kinds", kinds_sink, &k};
	struct store *st = open_store("extra.db");
	char path[160];
	snprintf(path, sizeof(path), "%s/extra.jsonl", tmpdir);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	struct closer_opts o = {.store = st, .docs_out = out, .sinks = &sink, .n_sinks = 1};
	struct closer *c;
	struct attack_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.site = "campus";
	flow_addr_parse("10.0.0.9", &ev.ip);
	ev.cls = ATTACK_CLASS_UDP;
	ev.start_ms = ev.now_ms = T0_MS;

	assert_int_equal(closer_start(&o, &c), 0);
	struct doc_batch extra = {0};
	assert_int_equal(doc_attack_build(&ev, ATTACK_START, K0, &extra), 0);
	ev.seq = 1;
	assert_int_equal(doc_attack_build(&ev, ATTACK_END, K0, &extra), 0);
	assert_int_equal(closer_submit_docs(c, mkslot(0, 0, 2), health, 2, &extra), 0);
	/* Ownership passed: the caller's batch is empty. */
	assert_int_equal(extra.n, 0);
	assert_null(extra.v);
	closer_drain(c);
	closer_stop(c);
	fclose(out);
	assert_int_equal(k.n, 2);
	assert_true(strstr(k.key[0], "-0") != NULL);
	assert_true(strstr(k.key[1], "-1") != NULL);
	/* The store holds them with the slot's documents. */
	struct store_slot row;
	assert_int_equal(store_slot_get(st, "campus", K0, &row), 0);
	assert_int_equal(row.n_docs, k.total[0]);
	store_close(st);
	/* --docs printed them last, after the slot's own. */
	FILE *in = fopen(path, "r");
	char line[4096], last[4096] = "";
	int n = 0;
	while (fgets(line, sizeof(line), in)) {
		n++;
		snprintf(last, sizeof(last), "%s", line);
	}
	fclose(in);
	assert_int_equal((size_t)n, k.total[0]);
	assert_non_null(strstr(last, "\"kind\":\"attack\""));
	assert_non_null(strstr(last, "\"state\":\"end\""));

	/* A dropped slot frees its extra documents too (ASan checks). */
	struct gate g;
	struct seen s;
	seen_init(&s);
	gate_init(&g, &s);
	struct closer_sink gs = {"gate", gate_sink, &g};
	struct closer_opts o2 = {.queue_max = 1, .sinks = &gs, .n_sinks = 1};
	assert_int_equal(closer_start(&o2, &c), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 0, 1), health, 2), 0);
	gate_wait_entered(&g, 1);
	assert_int_equal(doc_attack_build(&ev, ATTACK_START, K0, &extra), 0);
	assert_int_equal(closer_submit_docs(c, mkslot(0, 1, 1), health, 2, &extra), -ENOSPC);
	assert_int_equal(extra.n, 0);
	gate_open(&g);
	closer_stop(c);
}

/* Backpressure turned on later (shutdown): a full queue then waits instead of dropping. */
static void test_backpressure_set(void **state)
{
	(void)state;
	struct seen s;
	struct gate g;
	seen_init(&s);
	gate_init(&g, &s);
	struct closer_sink sink = {"gate", gate_sink, &g};
	struct closer_opts o = {.queue_max = 1, .sinks = &sink, .n_sinks = 1};
	struct submitter sb = {.n = 3};
	pthread_t t;

	assert_int_equal(closer_start(&o, &sb.c), 0);
	closer_backpressure_set(sb.c, true);
	assert_int_equal(pthread_create(&t, NULL, submit_thread, &sb), 0);
	gate_wait_entered(&g, 1);
	for (int i = 0; i < 400 && atomic_load(&sb.done) < 1; i++)
		nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	assert_int_equal(atomic_load(&sb.done), 1);
	gate_open(&g);
	pthread_join(t, NULL);
	closer_stop(sb.c);
	assert_int_equal(s.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sb.rc[i], 0);
}

/* closer_stop() right after the submits: every slot is written first. */
static void test_drain_on_stop(void **state)
{
	(void)state;
	struct seen s;
	struct gate g;
	seen_init(&s);
	gate_init(&g, &s);
	struct store *st = open_store("drain.db");
	struct closer_sink sink = {"slow", slow_sink, &g};
	struct closer_opts o = {.store = st, .queue_max = 8, .sinks = &sink, .n_sinks = 1};
	struct closer *c;

	assert_int_equal(closer_start(&o, &c), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(closer_submit(c, mkslot(i % 2, i, 2), health, 2), 0);
	closer_stop(c);
	assert_int_equal(s.n, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(s.slot[i], K0 + i);
	struct store_slot ls[8];
	size_t n;
	assert_int_equal(store_slot_list(st, 0, ls, 8, &n), 0);
	assert_int_equal(n, 6);
	store_close(st);
}

/* closer_stop() while the worker is inside a slot: nothing lost, no deadlock. */
static void test_stop_while_closing(void **state)
{
	(void)state;
	struct seen s;
	struct gate g;
	seen_init(&s);
	gate_init(&g, &s);
	struct store *st = open_store("stop.db");
	struct closer_sink sink = {"slow", slow_sink, &g};
	struct closer_opts o = {.store = st, .queue_max = 4, .sinks = &sink, .n_sinks = 1};
	struct closer *c;

	assert_int_equal(closer_start(&o, &c), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(closer_submit(c, mkslot(0, i, 200), health, 2), 0);
	gate_wait_entered(&g, 1);
	closer_stop(c);
	assert_int_equal(s.n, 3);
	struct store_slot ls[4];
	size_t n;
	assert_int_equal(store_slot_list(st, 0, ls, 4, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ls[i].time_slot, K0 + (int64_t)i);
	store_close(st);
}

/* Each allocation of closer_start() failing in turn: -ENOMEM, nothing left. */
static void test_start_alloc_fail(void **state)
{
	(void)state;
	struct closer_opts o = {.queue_max = 4};
	struct closer *c = NULL;
	unsigned long after;
	int rc;

	for (after = 0;; after++) {
		assert_true(after < 100);
		fault_arm(after, FAULT_ONCE);
		rc = closer_start(&o, &c);
		unsigned long seen = fault_count();
		fault_disarm();
		if (rc == 0) {
			assert_true(seen <= after);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
	}
	assert_true(after >= 2); /* the closer and its queue */
	struct closer_stats cs;
	closer_stats_get(c, &cs);
	assert_int_equal(cs.queue_capacity, 4);
	closer_stop(c);
}

/*
 * Each allocation of closing a slot failing in turn: the slot is counted as a
 * document or store error, the store keeps what it had, the sink does not see
 * a slot whose documents were not built, and the next slot goes through.
 */
static void test_close_alloc_fail(void **state)
{
	(void)state;
	struct seen s;
	seen_init(&s);
	struct store *st = open_store("fault.db");
	struct closer_sink sink = {"observe", observe, &s};
	struct closer_opts o = {.store = st, .queue_max = 2, .sinks = &sink, .n_sinks = 1};
	struct closer *c;
	struct closer_stats before, after_st;
	unsigned long after;

	assert_int_equal(closer_start(&o, &c), 0);
	for (after = 0;; after++) {
		assert_true(after < 10000);
		struct slot *sl = mkslot(0, (int64_t)after, 20);
		closer_stats_get(c, &before);
		int seen_before = seen_count(&s);
		fault_arm(after, FAULT_ONCE);
		assert_int_equal(closer_submit(c, sl, health, 2), 0); /* submit allocates nothing */
		closer_drain(c);
		unsigned long count = fault_count();
		fault_disarm();
		closer_stats_get(c, &after_st);
		assert_int_equal(after_st.slots, before.slots + 1);
		int64_t latest = -1;
		int lrc = store_slot_latest(st, sites[0].name, &latest);
		if (count <= after) {
			/* Nothing failed: written and seen. */
			assert_int_equal(after_st.store_errors + after_st.doc_errors,
			                 before.store_errors + before.doc_errors);
			assert_int_equal(lrc, 0);
			assert_int_equal(latest, K0 + (int64_t)after);
			assert_int_equal(seen_count(&s), seen_before + 1);
			break;
		}
		assert_int_equal(after_st.store_errors + after_st.doc_errors,
		                 before.store_errors + before.doc_errors + 1);
		if (after_st.doc_errors > before.doc_errors)
			assert_int_equal(seen_count(&s), seen_before);
		/* The failed slot is not in the store. */
		assert_true(lrc == -ENOENT || latest < K0 + (int64_t)after);
	}
	assert_true(after >= 1); /* at least the store's document array */
	closer_stop(c);
	store_close(st);
}

/* A slot's documents in the store (-1 when the store does not hold it). */
static long stored_docs(struct store *st, int si, int64_t k)
{
	struct store_slot row;

	if (store_slot_get(st, sites[si].name, K0 + k, &row) != 0)
		return -1;
	return (long)row.n_docs;
}

/*
 * The store locked by another connection (-EBUSY): the first slot is tried
 * again after 100 and 200 ms, then spooled; the next slot, while the store
 * still fails, is tried once and spooled; once the lock is gone the next
 * write succeeds and both spooled slots are put back, oldest first, with
 * their documents. Replay would count spooled slots as not stored.
 */
static void test_store_busy_spools_and_restores(void **state)
{
	(void)state;
	struct seen s;
	seen_init(&s);
	char path[128], sdir[160], err[256];
	struct store_opts so;
	struct store *st;
	struct spool *sp;
	sqlite3 *lock;

	snprintf(path, sizeof(path), "%s/busy.db", tmpdir);
	store_opts_defaults(&so);
	so.busy_timeout_ms = 10;
	assert_int_equal(store_open(path, &so, &st, err, sizeof(err)), 0);
	snprintf(sdir, sizeof(sdir), "%s.spool", path);
	assert_int_equal(spool_open(sdir, 0, &sp, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	struct closer_sink sink = {"observe", observe, &s};
	struct closer_opts o = {.store = st,
	                        .queue_max = 4,
	                        .sinks = &sink,
	                        .n_sinks = 1,
	                        .store_retry_ms = 300,
	                        .spool = sp};
	struct closer *c;
	struct closer_stats cs;
	assert_int_equal(closer_start(&o, &c), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 0, 3), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	assert_int_equal(cs.store_retries, 2); /* 100 + 200 ms = the 300 ms budget */
	assert_int_equal(cs.slots_spooled, 1);
	assert_int_equal(cs.store_errors, 1);
	assert_int_equal(cs.spool_slots, 1);
	assert_true(cs.spool_bytes > 0);
	assert_int_equal(cs.slots_store_lost, 0);

	assert_int_equal(closer_submit(c, mkslot(1, 0, 4), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	assert_int_equal(cs.store_retries, 2); /* still failing: no more waits */
	assert_int_equal(cs.slots_spooled, 2);
	assert_int_equal(cs.spool_slots, 2);
	assert_int_equal(stored_docs(st, 0, 0), -1);

	assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(closer_submit(c, mkslot(0, 1, 5), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	closer_stop(c);
	assert_int_equal(cs.slots_unspooled, 2);
	assert_int_equal(cs.spool_slots, 0);
	assert_int_equal(cs.spool_bytes, 0);
	assert_int_equal(cs.store_errors, 2);
	assert_int_equal(s.n, 3);
	assert_int_equal(stored_docs(st, 0, 0), (long)s.docs[0]);
	assert_int_equal(stored_docs(st, 1, 0), (long)s.docs[1]);
	assert_int_equal(stored_docs(st, 0, 1), (long)s.docs[2]);
	/* Put back oldest first: after the slot that succeeded, site order of spooling. */
	struct store_slot ls[4];
	size_t n;
	assert_int_equal(store_slot_list(st, 0, ls, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ls[0].time_slot, K0 + 1);
	assert_int_equal(ls[1].time_slot, K0);
	assert_int_equal(ls[2].time_slot, K0);
	sqlite3_close(lock);
	spool_close(sp);
	store_close(st);
}

/*
 * A spool too small for the slot: the slot is lost from the store and
 * counted (never an unbounded spool). Without a spool the same holds.
 * A spool left by an earlier run is put back when the closer starts.
 */
static void test_spool_full_and_start(void **state)
{
	(void)state;
	char path[128], sdir[160], err[256];
	struct store_opts so;
	struct store *st;
	struct spool *sp;
	sqlite3 *lock;
	struct closer *c;
	struct closer_stats cs;

	snprintf(path, sizeof(path), "%s/small.db", tmpdir);
	store_opts_defaults(&so);
	so.busy_timeout_ms = 10;
	assert_int_equal(store_open(path, &so, &st, err, sizeof(err)), 0);
	snprintf(sdir, sizeof(sdir), "%s/small.spool", tmpdir);
	assert_int_equal(spool_open(sdir, 64, &sp, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	struct closer_opts o = {.store = st, .queue_max = 2, .spool = sp};
	assert_int_equal(closer_start(&o, &c), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 0, 3), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	closer_stop(c);
	spool_close(sp);
	assert_int_equal(cs.slots_spooled, 0);
	assert_int_equal(cs.slots_store_lost, 1);
	assert_int_equal(cs.spool_slots, 0);

	/* A roomy spool now; the slot goes there; the closer stops while the store fails. */
	assert_int_equal(spool_open(sdir, 0, &sp, err, sizeof(err)), 0);
	o.spool = sp;
	assert_int_equal(closer_start(&o, &c), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 1, 3), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	closer_stop(c);
	spool_close(sp);
	assert_int_equal(cs.slots_spooled, 1);
	assert_int_equal(cs.spool_slots, 1);

	/* Next start with the store working: the spooled slot is stored before any new one. */
	assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(spool_open(sdir, 0, &sp, err, sizeof(err)), 0);
	o.spool = sp;
	assert_int_equal(closer_start(&o, &c), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	closer_stop(c);
	assert_int_equal(cs.slots_unspooled, 1);
	assert_int_equal(cs.spool_slots, 0);
	assert_true(stored_docs(st, 0, 1) > 0);
	assert_int_equal(stored_docs(st, 0, 0), -1);
	sqlite3_close(lock);
	spool_close(sp);
	store_close(st);
}

/*
 * Replay's retention clock: a slot a century ahead is stored and counted
 * in future_slots, and deletes nothing; a slot 31 days after the first
 * does move the clock and retention removes the first.
 */
static void test_future_slot_keeps_retention(void **state)
{
	(void)state;
	struct store *st = open_store("future.db");
	struct closer_opts o = {.store = st, .queue_max = 2, .wait_when_busy = true};
	struct closer *c;
	struct closer_stats cs;
	const int64_t century = 100LL * 365 * 288;

	assert_int_equal(closer_start(&o, &c), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 0, 2), health, 2), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 1, 2), health, 2), 0);
	assert_int_equal(closer_submit(c, mkslot(0, century, 2), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	assert_int_equal(cs.future_slots, 1);
	assert_true(stored_docs(st, 0, 0) > 0);
	assert_true(stored_docs(st, 0, 1) > 0);
	assert_true(stored_docs(st, 0, century) > 0);
	struct store_stats ss;
	assert_int_equal(store_stats_get(st, &ss), 0);
	assert_int_equal(ss.retention_slots_deleted, 0);

	/* 31 days on: the clock follows a real slot, and retention applies by it. */
	assert_int_equal(closer_submit(c, mkslot(0, 31 * 288, 2), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	closer_stop(c);
	assert_int_equal(cs.future_slots, 1);
	assert_int_equal(stored_docs(st, 0, 0), -1);
	assert_int_equal(stored_docs(st, 0, 1), -1);
	assert_true(stored_docs(st, 0, century) > 0);
	assert_int_equal(store_stats_get(st, &ss), 0);
	assert_int_equal(ss.retention_slots_deleted, 2);
	store_close(st);
}

/* The step timings and the slot's size are those of the last slot. */
static void test_steps(void **state)
{
	(void)state;
	struct closer_opts o = {0};
	struct closer *c;
	struct closer_steps sp;

	assert_int_equal(closer_start(&o, &c), 0);
	closer_steps_get(c, &sp);
	assert_int_equal(sp.slot_bytes, 0);
	struct slot *sl = mkslot(0, 0, 50);
	assert_int_equal(closer_submit(c, sl, health, 2), 0);
	closer_drain(c);
	closer_steps_get(c, &sp);
	closer_stop(c);
	assert_true(sp.slot_bytes > 0);
	assert_true(sp.wall_us[CLOSER_STEP_FINISH] + sp.wall_us[CLOSER_STEP_JUDGE] +
	                sp.wall_us[CLOSER_STEP_DOCS] + sp.wall_us[CLOSER_STEP_FREE] <
	            10 * 1000 * 1000);
	assert_string_equal(closer_step_name(CLOSER_STEP_STORE), "store");
	assert_string_equal(closer_step_name(CLOSER_STEP__COUNT), "?");
}

/* The first 8 bytes of a digest and its time slot (bytes 8..15, little-endian). */
struct dghead {
	char magic[5];
	int64_t ts;
	size_t len;
};

static int dg_head(void *ud, const void *p, size_t len)
{
	struct dghead *h = ud;
	const unsigned char *b = p;
	assert_true(len >= 16);
	memcpy(h->magic, b, 4);
	h->ts = 0;
	for (int k = 7; k >= 0; k--)
		h->ts = (h->ts << 8) | b[8 + k];
	h->len = len;
	return 0;
}

/*
 * With digest_max_peers set, each slot is stored with its daily digest (in
 * the slot's transaction); without, none.
 */
static void test_digest_stored(void **state)
{
	(void)state;
	struct store *st = open_store("digest.db");
	struct closer_opts o = {.store = st, .digest_max_peers = 2, .digest_probe_targets = 3};
	struct closer *c;
	struct closer_stats cs;
	struct dghead h = {0};

	assert_int_equal(closer_start(&o, &c), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 0, 3), health, 2), 0);
	closer_drain(c);
	closer_stats_get(c, &cs);
	closer_stop(c);
	assert_int_equal(cs.digest_errors, 0);
	assert_int_equal(store_digest_get(st, "campus", K0, dg_head, &h), 0);
	assert_string_equal(h.magic, "NFDG");
	assert_int_equal(h.ts, K0);

	o.digest_max_peers = 0;
	assert_int_equal(closer_start(&o, &c), 0);
	assert_int_equal(closer_submit(c, mkslot(0, 1, 3), health, 2), 0);
	closer_drain(c);
	closer_stop(c);
	assert_int_equal(store_digest_get(st, "campus", K0 + 1, dg_head, &h), -ENOENT);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_store_and_sinks),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_live_overflow),
		cmocka_unit_test(test_backpressure_set),
		cmocka_unit_test(test_drain_on_stop),
		cmocka_unit_test(test_stop_while_closing),
		cmocka_unit_test(test_start_alloc_fail),
		cmocka_unit_test(test_close_alloc_fail),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_submit_docs),
		cmocka_unit_test(test_store_busy_spools_and_restores),
		cmocka_unit_test(test_spool_full_and_start),
		cmocka_unit_test(test_future_slot_keeps_retention),
		cmocka_unit_test(test_digest_stored),
	};
	/* A test that blocks where it must not (a submit that waits) fails here. */
	alarm(100);
	return cmocka_run_group_tests(tests, setup, teardown);
}
