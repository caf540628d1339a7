/*
 * Unit tests for src/attack/ring.c: the hand-over of records and clock
 * steps from the reading thread to nfs-attack. The consumer's callbacks
 * log what they get; the tests check the exact sequence (records in order,
 * regrouped in chunks that never cross a clock step, each record's fields
 * kept), the drain, a full ring waiting (replay) or dropping and counting
 * (live), a clock step kept while full, the stop with entries pending, the
 * idle consumer sleeping, the start's refusals, the thread's CPUs and nice
 * value, and live sampling when the consumer falls behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "nfsentry/attackring.h"
#include "nfsentry/fault.h"

#define LOG_MAX 40000

/* One callback's view: a record (its packets, the test's key) or a clock step. */
struct item {
	bool clock;
	uint64_t v;    /* packets, or now_ms */
	unsigned shed; /* on_entries: the entry stands for 2^shed records */
	struct flow f;
	int64_t ss, sd;
};

struct sink {
	struct item log[LOG_MAX];
	size_t n;
	size_t chunks, aheads;
	size_t max_chunk;
	bool ahead_pending; /* ahead called, records not yet */
	/* The test holds the consumer inside its first records call while hold is set. */
	atomic_int hold, held;
	unsigned sleep_us; /* per records call: a slow detector */
};

static void wait_flag(atomic_int *f)
{
	while (!atomic_load(f))
		usleep(100);
}

static void on_ahead(void *ud, const struct flow *v, size_t n, const int64_t *ss, const int64_t *sd)
{
	struct sink *s = ud;

	(void)v;
	(void)ss;
	(void)sd;
	assert_true(n > 0);
	assert_false(s->ahead_pending);
	s->ahead_pending = true;
	s->aheads++;
}

static void on_records(void *ud, const struct flow *v, size_t n, const int64_t *ss,
                       const int64_t *sd)
{
	struct sink *s = ud;

	assert_true(s->ahead_pending);
	s->ahead_pending = false;
	assert_true(n > 0 && n <= 64);
	if (atomic_load(&s->hold)) {
		atomic_store(&s->held, 1);
		while (atomic_load(&s->hold))
			usleep(100);
	}
	if (s->sleep_us)
		usleep(s->sleep_us);
	for (size_t i = 0; i < n; i++) {
		assert_true(s->n < LOG_MAX);
		s->log[s->n++] =
		    (struct item){.v = v[i].packets, .f = v[i], .ss = ss[i], .sd = sd[i]};
	}
	s->chunks++;
	if (n > s->max_chunk)
		s->max_chunk = n;
}

static void on_clock(void *ud, uint64_t now_ms)
{
	struct sink *s = ud;

	assert_false(s->ahead_pending);
	assert_true(s->n < LOG_MAX);
	s->log[s->n++] = (struct item){.clock = true, .v = now_ms};
}

/*
 * opts.on_entries: each entry logged as the record it carries (its span as
 * first_ms 1, last_ms 1 + span) or as a clock step.
 */
static void on_entries(void *ud, const struct attack_ring_ent *v, size_t n)
{
	struct sink *s = ud;

	assert_true(n > 0 && n <= ATTACK_RING_RUN);
	if (atomic_load(&s->hold)) {
		atomic_store(&s->held, 1);
		while (atomic_load(&s->hold))
			usleep(100);
	}
	for (size_t i = 0; i < n; i++) {
		const struct attack_ring_ent *e = &v[i];
		assert_true(s->n < LOG_MAX);
		if (attack_ring_ent_is_clock(e)) {
			s->log[s->n++] = (struct item){.clock = true, .v = e->packets};
			continue;
		}
		struct item *it = &s->log[s->n++];
		memset(it, 0, sizeof(*it));
		it->v = e->packets;
		it->f.src = e->src;
		it->f.dst = e->dst;
		it->f.packets = e->packets;
		it->f.octets = e->octets;
		it->f.first_ms = e->span_s ? 1 : 0;
		it->f.last_ms = e->span_s ? 1 + (uint64_t)e->span_s * 1000 : 0;
		it->f.dport = e->dport;
		it->f.proto = e->proto;
		it->f.tcp_flags = e->tcp_flags;
		it->f.frag = e->frag;
		it->ss = e->site_src;
		it->sd = e->site_dst;
		it->shed = e->shed;
	}
	s->chunks++;
	if (n > s->max_chunk)
		s->max_chunk = n;
}

static struct attack_ring *start(struct sink *s, uint32_t entries, bool wait)
{
	struct attack_ring_opts o = {.entries = entries,
	                             .wait_when_full = wait,
	                             .ahead = on_ahead,
	                             .records = on_records,
	                             .clock = on_clock,
	                             .ud = s};
	struct attack_ring *r = NULL;

	assert_int_equal(attack_ring_start(&o, &r), 0);
	assert_non_null(r);
	return r;
}

/*
 * Record key k: every field the detector reads derived from k, and others
 * set to what the ring does not carry (the consumer must see them 0).
 */
static void mkrec(struct flow *f, uint64_t k)
{
	memset(f, 0, sizeof(*f));
	memset(f->exporter.b, 0xee, sizeof(f->exporter.b));
	for (int i = 0; i < 16; i++) {
		f->src.b[i] = (uint8_t)(k >> (i % 8) ^ (uint64_t)i);
		f->dst.b[i] = (uint8_t)(k * 7 >> (i % 8) ^ (uint64_t)(i + 1));
	}
	f->packets = k;
	f->octets = k * 1500 + 3;
	/* Spans of 0, 0.5, 1, 61 and 1800 s; some records without times. */
	static const uint64_t span[] = {0, 500, 1000, 61000, 1800000};
	f->first_ms = k % 7 ? 1767225600000ull + k : 0;
	f->last_ms = f->first_ms + span[k % 5];
	f->export_ms = 1767225601000ull;
	f->sport = 1234;
	f->dport = (uint16_t)(k * 13);
	f->proto = (uint8_t)(k % 3 == 0 ? 6 : k % 3 == 1 ? 17 : 1);
	f->tcp_flags = (uint8_t)k;
	f->frag = (uint8_t)(k % 4);
	f->sampling = 1000;
	f->in_if = 4;
}

/* Sites of record k: src, dst, both or neither (skipped by the ring). */
static void mksites(uint64_t k, int64_t *ss, int64_t *sd)
{
	*ss = k % 4 == 0 || k % 4 == 2 ? (int64_t)(k % 3) : -1;
	*sd = k % 4 == 1 || k % 4 == 2 ? 511 : -1;
}

static bool has_site(uint64_t k)
{
	return k % 4 != 3;
}

/* Give records keys [k0, k0 + n) in one tap call (n <= 64); returns those with a site. */
static size_t give(struct attack_ring *r, uint64_t k0, size_t n)
{
	struct flow v[64];
	int64_t ss[64], sd[64];
	size_t m = 0;

	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++) {
		mkrec(&v[i], k0 + i);
		mksites(k0 + i, &ss[i], &sd[i]);
		m += has_site(k0 + i);
	}
	attack_ring_records(r, v, n, ss, sd);
	return m;
}

/* The item at log[i] is record k, with every carried field as given. */
static void expect_rec(const struct sink *s, size_t i, uint64_t k)
{
	struct flow f;
	int64_t ss, sd;

	assert_true(i < s->n);
	const struct item *it = &s->log[i];
	assert_false(it->clock);
	assert_int_equal(it->v, k);
	mkrec(&f, k);
	mksites(k, &ss, &sd);
	assert_int_equal(it->ss, ss);
	assert_int_equal(it->sd, sd);
	assert_memory_equal(&it->f.src, &f.src, sizeof(f.src));
	assert_memory_equal(&it->f.dst, &f.dst, sizeof(f.dst));
	assert_int_equal(it->f.octets, f.octets);
	assert_int_equal(it->f.dport, f.dport);
	assert_int_equal(it->f.proto, f.proto);
	assert_int_equal(it->f.tcp_flags, f.tcp_flags);
	assert_int_equal(it->f.frag, f.frag);
	/* The span (what the detector reads of the times) is kept to the second. */
	uint64_t span = f.first_ms && f.last_ms > f.first_ms ? f.last_ms - f.first_ms : 0;
	uint64_t got =
	    it->f.first_ms && it->f.last_ms > it->f.first_ms ? it->f.last_ms - it->f.first_ms : 0;
	assert_int_equal(got / 1000, span / 1000);
	/* Not carried: 0. */
	assert_int_equal(it->f.export_ms, 0);
	assert_int_equal(it->f.sampling, 0);
	assert_int_equal(it->f.sport, 0);
	assert_int_equal(it->f.exporter.b[0], 0);
}

static void expect_clock(const struct sink *s, size_t i, uint64_t ms)
{
	assert_true(i < s->n);
	assert_true(s->log[i].clock);
	assert_int_equal(s->log[i].v, ms);
}

/*
 * 300 rounds of chunks of 1..64 records (some with no site at all) and
 * clock steps, over many wraps of a small ring; want gets what the
 * consumer must see, in order (records with a site, clock steps), drained.
 * Returns its length.
 */
static size_t give_rounds(struct attack_ring *r, struct item *want)
{
	size_t nw = 0;
	uint64_t k = 1, ms = 1000;

	for (int round = 0; round < 300; round++) {
		for (int c = 0; c < round % 4 + 1; c++) {
			size_t n = (size_t)(round * 7 + c * 13) % 64 + 1;
			give(r, k, n);
			for (size_t i = 0; i < n; i++, k++)
				if (has_site(k))
					want[nw++] = (struct item){.v = k};
		}
		if (round % 3 != 2) {
			ms += 250;
			attack_ring_clock(r, ms);
			want[nw++] = (struct item){.clock = true, .v = ms};
		}
	}
	attack_ring_drain(r);
	return nw;
}

/* The consumer saw exactly want[0 .. nw). */
static void expect_log(const struct sink *s, const struct item *want, size_t nw)
{
	assert_int_equal(s->n, nw);
	for (size_t i = 0; i < nw; i++) {
		if (want[i].clock)
			expect_clock(s, i, want[i].v);
		else
			expect_rec(s, i, want[i].v);
	}
}

/*
 * Many records over many blocks of the smallest ring, with a clock step
 * after every few chunks: the consumer sees exactly the records with a
 * site, in order, and each clock step between the same records as given.
 */
static void test_order(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct attack_ring *r = start(s, ATTACK_RING_ENTRIES_MIN, true);
	struct item *want = calloc(LOG_MAX, sizeof(*want));
	assert_non_null(want);
	size_t nw = give_rounds(r, want);
	expect_log(s, want, nw);
	assert_int_equal(s->aheads, s->chunks);
	assert_true(s->max_chunk <= 64);
	struct attack_ring_stats st;
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.records, nw - 200);
	assert_int_equal(st.records_dropped, 0);
	attack_ring_stop(r);
	free(want);
	free(s);
}

/*
 * The consumer that reads the entries where they lie (on_entries, the only
 * callback): every record with a site and every clock step, in the order
 * given, each record's carried fields kept; runs of at most
 * ATTACK_RING_RUN entries, over many wraps of the smallest ring.
 */
static void test_entries_order(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct attack_ring_opts o = {.entries = ATTACK_RING_ENTRIES_MIN,
	                             .wait_when_full = true,
	                             .on_entries = on_entries,
	                             .ud = s};
	struct attack_ring *r = NULL;
	assert_int_equal(attack_ring_start(&o, &r), 0);
	struct item *want = calloc(LOG_MAX, sizeof(*want));
	assert_non_null(want);
	size_t nw = give_rounds(r, want);
	expect_log(s, want, nw);
	assert_true(s->max_chunk <= ATTACK_RING_RUN);
	assert_true(s->chunks > 0);
	attack_ring_stop(r);
	free(want);
	free(s);
}

/*
 * A drain waits for a slow consumer: when it returns, every callback has
 * returned, the last record's too; a second drain with nothing new returns
 * at once with the same log.
 */
static void test_drain(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->sleep_us = 2000;
	struct attack_ring *r = start(s, 0, true);
	size_t m = 0;

	for (uint64_t k = 0; k < 640; k += 64)
		m += give(r, k, 64);
	attack_ring_clock(r, 5000);
	m += give(r, 640, 10);
	attack_ring_drain(r);
	assert_int_equal(s->n, m + 1);
	expect_rec(s, s->n - 1, 649);
	attack_ring_drain(r);
	assert_int_equal(s->n, m + 1);
	/* Nothing given since: nothing published, nothing waited for. */
	attack_ring_drain(NULL);
	attack_ring_stop(r);
	free(s);
}

/* Let the held consumer go after 50 ms: the producer is waiting by then. */
static void *release_later(void *arg)
{
	struct sink *s = arg;

	usleep(50000);
	atomic_store(&s->hold, 0);
	return NULL;
}

/*
 * Replay: a full ring makes the producer wait for room; nothing is lost.
 */
static void test_full_waits(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct attack_ring *r = start(s, ATTACK_RING_ENTRIES_MIN, true);
	size_t m = 0;

	atomic_store(&s->hold, 1);
	m += give(r, 0, 64);
	m += give(r, 64, 64);
	/* Publishes 97 entries, over a quarter ring: wakes the consumer, held in its first chunk.
	 */
	attack_ring_clock(r, 1000);
	wait_flag(&s->held);
	/* 2 000 records more than the ring holds: the producer waits for the release. */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, release_later, s), 0);
	for (uint64_t k = 128; k < 128 + 2048; k += 64)
		m += give(r, k, 64);
	pthread_join(t, NULL);
	attack_ring_drain(r);
	struct attack_ring_stats st;
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.records_dropped, 0);
	assert_true(st.waits > 0);
	assert_int_equal(st.records, m);
	/* Replay never samples, however long the producer waited. */
	assert_int_equal(st.records_sampled, 0);
	assert_int_equal(st.sampling, 1);
	assert_int_equal(s->n, m + 1);
	expect_clock(s, 96, 1000);
	expect_rec(s, s->n - 1, 128 + 2047 - 1); /* 2174 has a site, 2175 not */
	attack_ring_stop(r);
	free(s);
}

/*
 * Live: with the consumer held, a chunk that does not fit is dropped whole
 * and counted; a clock step that does not fit is kept (the latest one)
 * and written first once there is room; the records given after a drop
 * still come in order.
 */
static void test_full_drops(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct attack_ring_opts o = {.entries = ATTACK_RING_ENTRIES_MIN,
	                             .no_sampling = true, /* the drop path alone */
	                             .ahead = on_ahead,
	                             .records = on_records,
	                             .clock = on_clock,
	                             .ud = s};
	struct attack_ring *r = NULL;
	assert_int_equal(attack_ring_start(&o, &r), 0);
	struct flow v[64];
	int64_t ss[64], sd[64];
	struct attack_ring_stats st;

	/* Every record with a site: the counts are exact. */
	for (int i = 0; i < 64; i++) {
		mkrec(&v[i], 1000 + (uint64_t)i);
		ss[i] = 1;
		sd[i] = -1;
	}
	atomic_store(&s->hold, 1);
	attack_ring_records(r, v, 64, ss, sd); /* entries 0..63 */
	attack_ring_clock(r, 1000);            /* 64: published, the consumer holds 0..63 */
	wait_flag(&s->held);
	attack_ring_records(r, v, 64, ss, sd); /* 65..128 */
	attack_ring_records(r, v, 64, ss, sd); /* 129..192 */
	attack_ring_clock(r, 2000);            /* 193 */
	for (int i = 0; i < 5; i++)
		attack_ring_records(r, v, 64, ss, sd); /* 62 free: dropped, 320 records */
	attack_ring_records(r, v, 10, ss, sd);         /* 194..203 */
	attack_ring_records(r, v, 52, ss, sd);         /* 204..255: full */
	attack_ring_clock(r, 3000);                    /* no room: kept */
	attack_ring_records(r, v, 5, ss, sd);          /* no room for the clock and 5: dropped */
	attack_ring_clock(r, 2500);                    /* earlier: the 3 000 one stays */
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.records_dropped, 325);
	assert_int_equal(st.records, 64 * 3 + 10 + 52);
	assert_int_equal(st.waits, 0);
	assert_int_equal(s->n, 0); /* the consumer is still held in its first call */
	atomic_store(&s->hold, 0);
	attack_ring_drain(r); /* writes the kept clock step once there is room */
	size_t want = 64 * 3 + 10 + 52 + 3;
	assert_int_equal(s->n, want);
	size_t i = 0;
	for (int c = 0; c < 64; c++)
		assert_int_equal(s->log[i++].v, 1000 + (uint64_t)c);
	expect_clock(s, i++, 1000);
	for (int b = 0; b < 2; b++)
		for (int c = 0; c < 64; c++)
			assert_int_equal(s->log[i++].v, 1000 + (uint64_t)c);
	expect_clock(s, i++, 2000);
	for (int c = 0; c < 10; c++)
		assert_int_equal(s->log[i++].v, 1000 + (uint64_t)c);
	for (int c = 0; c < 52; c++)
		assert_int_equal(s->log[i++].v, 1000 + (uint64_t)c);
	expect_clock(s, i++, 3000);
	/* Room again: records go through. */
	attack_ring_records(r, v, 3, ss, sd);
	attack_ring_drain(r);
	assert_int_equal(s->n, want + 3);
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.records_dropped, 325);
	assert_int_equal(st.records_sampled, 0);
	assert_int_equal(st.sampling, 1);
	attack_ring_stop(r);
	free(s);
}

/* Stop with entries pending (published or not, a clock kept): all handed over first. */
static void test_stop_pending(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->sleep_us = 3000;
	struct attack_ring *r = start(s, 0, true);
	size_t m = 0;

	for (uint64_t k = 0; k < 1024; k += 64)
		m += give(r, k, 64);
	attack_ring_clock(r, 7000);
	m += give(r, 1024, 3); /* under ATTACK_RING_PUBLISH: not yet published */
	attack_ring_stop(r);
	assert_int_equal(s->n, m + 1);
	expect_rec(s, s->n - 1, 1026);
	free(s);
}

/* An idle consumer sleeps: it spends (almost) no CPU while nothing comes. */
static void test_idle_sleeps(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct attack_ring *r = start(s, 0, false);
	struct attack_ring_stats a, b;

	give(r, 0, 64);
	attack_ring_drain(r);
	usleep(20000);
	attack_ring_stats_get(r, &a);
	usleep(300000);
	attack_ring_stats_get(r, &b);
	assert_true(b.cpu_us - a.cpu_us < 30000);
	/* Woken by the next publish. */
	attack_ring_clock(r, 9000);
	attack_ring_drain(r);
	expect_clock(s, s->n - 1, 9000);
	attack_ring_stop(r);
	free(s);
}

/* Refusals: sizes, missing callbacks, memory. */
static void test_start_errors(void **state)
{
	(void)state;
	struct sink s0;
	struct attack_ring_opts o = {.records = on_records, .clock = on_clock, .ud = &s0};
	struct attack_ring *r = NULL;

	o.entries = 1000;
	assert_int_equal(attack_ring_start(&o, &r), -EINVAL);
	o.entries = ATTACK_RING_ENTRIES_MIN / 2;
	assert_int_equal(attack_ring_start(&o, &r), -EINVAL);
	o.entries = ATTACK_RING_ENTRIES_MAX * 2;
	assert_int_equal(attack_ring_start(&o, &r), -EINVAL);
	o.entries = 0;
	o.clock = NULL;
	assert_int_equal(attack_ring_start(&o, &r), -EINVAL);
	o.clock = on_clock;
	o.records = NULL;
	assert_int_equal(attack_ring_start(&o, &r), -EINVAL);
	o.records = on_records;
	assert_null(r);
	/* on_entries alone is enough. */
	struct attack_ring_opts oe = {.on_entries = on_entries, .ud = &s0};
	assert_int_equal(attack_ring_start(&oe, &r), 0);
	attack_ring_stop(r);
	r = NULL;
	for (unsigned long after = 0; after < 2; after++) {
		fault_arm(after, FAULT_ONCE);
		assert_int_equal(attack_ring_start(&o, &r), -ENOMEM);
		fault_disarm();
		assert_null(r);
	}
	attack_ring_stop(NULL);
	struct attack_ring_stats st;
	memset(&st, 0xff, sizeof(st));
	attack_ring_stats_get(NULL, &st);
	assert_int_equal(st.records + st.records_dropped + st.waits + st.cpu_us, 0);
}

/* The consumer's own CPU set, taken on its thread at the first clock step. */
static cpu_set_t seen_cpus;
static atomic_int seen;

static void on_clock_cpus(void *ud, uint64_t now_ms)
{
	(void)ud;
	(void)now_ms;
	if (!atomic_load(&seen)) {
		assert_int_equal(sched_getaffinity(0, sizeof(seen_cpus), &seen_cpus), 0);
		atomic_store(&seen, 1);
	}
}

/*
 * opts.cpus: nfs-attack runs on the given CPUs only, the caller's thread
 * keeps its own; an empty list changes nothing; a CPU that cannot be used
 * refuses the start and leaves no thread or ring.
 */
static void test_pinned(void **state)
{
	(void)state;
	struct sink s0;
	cpu_set_t mine, after;
	struct cpu_list want;
	struct attack_ring_opts o = {
	    .records = on_records, .clock = on_clock_cpus, .ud = &s0, .cpus = &want};
	struct attack_ring *r = NULL;

	memset(&s0, 0, sizeof(s0));
	assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
	int last = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &mine))
			last = c;
	assert_true(last >= 0);
	char text[16];
	snprintf(text, sizeof(text), "%d", last);
	assert_int_equal(cpu_list_parse(text, &want, NULL, 0), 0);

	atomic_store(&seen, 0);
	assert_int_equal(attack_ring_start(&o, &r), 0);
	attack_ring_clock(r, 1000);
	attack_ring_drain(r);
	assert_true(atomic_load(&seen));
	assert_int_equal(CPU_COUNT(&seen_cpus), 1);
	assert_true(CPU_ISSET(last, &seen_cpus));
	attack_ring_stop(r);
	assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
	assert_true(CPU_EQUAL(&after, &mine)); /* the caller is not pinned */

	/* Empty: the process's CPUs, as without the option. */
	memset(&want, 0, sizeof(want));
	atomic_store(&seen, 0);
	r = NULL;
	assert_int_equal(attack_ring_start(&o, &r), 0);
	attack_ring_clock(r, 1000);
	attack_ring_drain(r);
	assert_true(atomic_load(&seen));
	assert_true(CPU_EQUAL(&seen_cpus, &mine));
	attack_ring_stop(r);

	/* No such CPU (the last number a list may hold): refused, nothing left. */
	assert_int_equal(cpu_list_parse("1023", &want, NULL, 0), 0);
	r = NULL;
	assert_int_equal(attack_ring_start(&o, &r), -EINVAL);
	assert_null(r);
}

/* The consumer's nice value, taken on its thread at the first clock step. */
static atomic_int seen_nice;

static void on_clock_nice(void *ud, uint64_t now_ms)
{
	(void)ud;
	(void)now_ms;
	errno = 0;
	int v = getpriority(PRIO_PROCESS, (id_t)gettid());
	assert_int_equal(errno, 0);
	atomic_store(&seen_nice, v + 100);
}

/*
 * opts.nice: nfs-attack runs at that nice value (Linux keeps one per
 * thread), the caller keeps its own; 0 leaves the process's; outside
 * 0..19 is refused.
 */
static void test_nice(void **state)
{
	(void)state;
	struct sink s0;
	struct attack_ring_opts o = {
	    .records = on_records, .clock = on_clock_nice, .ud = &s0, .nice = 7};
	struct attack_ring *r = NULL;

	memset(&s0, 0, sizeof(s0));
	errno = 0;
	int mine = getpriority(PRIO_PROCESS, (id_t)gettid());
	assert_int_equal(errno, 0);
	assert_true(mine < 7); /* the test itself does not run niced */
	atomic_store(&seen_nice, 0);
	assert_int_equal(attack_ring_start(&o, &r), 0);
	attack_ring_clock(r, 1000);
	attack_ring_drain(r);
	assert_int_equal(atomic_load(&seen_nice), 7 + 100);
	attack_ring_stop(r);
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)gettid()), mine);
	o.nice = 0;
	atomic_store(&seen_nice, 0);
	assert_int_equal(attack_ring_start(&o, &r), 0);
	attack_ring_clock(r, 1000);
	attack_ring_drain(r);
	assert_int_equal(atomic_load(&seen_nice), mine + 100);
	attack_ring_stop(r);
	r = NULL;
	o.nice = 20;
	assert_int_equal(attack_ring_start(&o, &r), -EINVAL);
	o.nice = -1;
	assert_int_equal(attack_ring_start(&o, &r), -EINVAL);
	assert_null(r);
}

/* n records keyed *given.. with a site each (source in site 1) in one tap call; *given += n. */
static void give_sited(struct attack_ring *r, uint64_t *given, size_t n)
{
	struct flow v[64];
	int64_t ss[64], sd[64];

	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++) {
		mkrec(&v[i], *given + i);
		ss[i] = 1;
		sd[i] = -1;
	}
	attack_ring_records(r, v, n, ss, sd);
	*given += n;
}

/* The ring's counters, every record given counted once: written, sampled out or dropped. */
static struct attack_ring_stats accounted(struct attack_ring *r, uint64_t given)
{
	struct attack_ring_stats st;

	attack_ring_stats_get(r, &st);
	assert_int_equal(st.records + st.records_sampled + st.records_dropped, given);
	return st;
}

/* A live ring of the smallest size for on_entries, its sampling falling every 30 ms. */
static struct attack_ring *start_sampled(struct sink *s)
{
	struct attack_ring_opts o = {
	    .entries = ATTACK_RING_ENTRIES_MIN, .on_entries = on_entries, .relax_ms = 30, .ud = s};
	struct attack_ring *r = NULL;

	assert_int_equal(attack_ring_start(&o, &r), 0);
	return r;
}

/* Nudges of the producer while the sampling falls: a clock step, or a calm receive buffer. */
static void nudge_clock(struct attack_ring *r, int i)
{
	attack_ring_clock(r, (100 + (uint64_t)i) * 1000); /* a new second each */
	attack_ring_drain(r);
}

static void nudge_calm(struct attack_ring *r, int i)
{
	attack_ring_rx_fill(r, (unsigned)(i & 1));
}

/* From a sampling of 4, nudged every 2 ms: down through 2 to every record, never up. */
static void expect_relax(struct attack_ring *r, void (*nudge)(struct attack_ring *, int))
{
	struct attack_ring_stats st;
	bool two = false;

	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 4);
	for (int i = 0; i < 400 && st.sampling > 1; i++) {
		usleep(2000);
		nudge(r, i);
		attack_ring_stats_get(r, &st);
		assert_true(st.sampling <= 4);
		two |= st.sampling == 2;
	}
	assert_true(two);
	assert_int_equal(st.sampling, 1);
}

/* Entries logged from log[i0] on: records (and their count) standing for 2^shed each. */
static size_t count_shed(const struct sink *s, size_t i0, unsigned shed)
{
	size_t k = 0;

	for (size_t i = i0; i < s->n; i++)
		if (!s->log[i].clock) {
			assert_int_equal(s->log[i].shed, shed);
			k++;
		}
	return k;
}

/*
 * Live, the consumer behind: a ring three quarters full raises the
 * sampling one step (at most one per 10 ms); each record with a site is
 * then written with probability 1/2^shed, its entry standing for 2^shed
 * records, and the others are counted; every record given is written,
 * sampled out or dropped. Once the consumer keeps up, the sampling falls
 * a step per relax_ms back to every record. Replay (test_full_waits) and
 * no_sampling (test_full_drops) never sample.
 */
static void test_sampling(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct attack_ring *r = start_sampled(s);
	struct attack_ring_stats st;
	uint64_t given = 0, ms = 1000;

	atomic_store(&s->hold, 1);
	give_sited(r, &given, 64);
	attack_ring_clock(r, ms += 1000); /* 65 entries: the consumer takes them and is held */
	wait_flag(&s->held);
	give_sited(r, &given, 64);
	attack_ring_clock(r, ms += 1000); /* 130 waiting: under three quarters */
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 1);
	give_sited(r, &given, 62);
	attack_ring_clock(r, ms += 1000); /* 193 of 256: one step */
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 2);
	assert_int_equal(st.records_sampled, 0);
	usleep(12000);
	attack_ring_clock(r, ms += 1000); /* still three quarters, 10 ms later: another step */
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 4);
	/* 62 entries free: a 64-record chunk's sample of about 16 fits. */
	give_sited(r, &given, 64);
	st = accounted(r, given);
	assert_int_equal(st.records_dropped, 0);
	assert_true(st.records_sampled >= 24 && st.records_sampled <= 63);
	size_t before = st.records;
	/* The consumer goes on; many chunks, each drained: 1 in 4 written, each standing for 4. */
	atomic_store(&s->hold, 0);
	attack_ring_drain(r);
	size_t mark = s->n;
	for (int c = 0; c < 100; c++) {
		give_sited(r, &given, 64);
		attack_ring_drain(r);
	}
	st = accounted(r, given);
	assert_int_equal(st.records_dropped, 0);
	size_t written = count_shed(s, mark, 2);
	assert_int_equal(written, st.records - before);
	assert_true(written > 6400 / 4 - 300 && written < 6400 / 4 + 300);
	/* Kept up: a step down per relax_ms (30 ms) once a whole period stayed under half. */
	expect_relax(r, nudge_clock);
	mark = s->n;
	give_sited(r, &given, 64);
	attack_ring_drain(r);
	assert_int_equal(count_shed(s, mark, 0), 64);
	accounted(r, given);
	attack_ring_stop(r);
	free(s);
}

/*
 * Live, the reading thread behind (its receive buffer a quarter full)
 * raises the sampling like a ring three quarters full, with the ring
 * empty; a buffer between ATTACK_RING_RX_CALM_PM and the quarter holds it;
 * under CALM it falls back a step per relax_ms. Replay ignores it.
 */
static void test_sampling_rx(void **state)
{
	(void)state;
	struct sink *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct attack_ring *r = start_sampled(s);
	struct attack_ring_stats st;

	attack_ring_rx_fill(r, ATTACK_RING_RX_BEHIND_PM - 1);
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 1);
	attack_ring_rx_fill(r, ATTACK_RING_RX_BEHIND_PM);
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 2);
	usleep(12000);
	attack_ring_rx_fill(r, 900);
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 4);
	/* Records are sampled now, the ring empty. */
	uint64_t given = 0;
	for (int c = 0; c < 20; c++) {
		give_sited(r, &given, 64);
		attack_ring_drain(r);
	}
	attack_ring_stats_get(r, &st);
	assert_true(st.records_sampled > 0);
	assert_int_equal(st.records + st.records_sampled, given);
	/* Between calm and behind for 100 ms: held. */
	for (int i = 0; i < 25; i++) {
		usleep(4000);
		attack_ring_rx_fill(r, ATTACK_RING_RX_CALM_PM + (unsigned)(i & 1));
	}
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 4);
	/* Calm: back to every record, a step at a time. */
	expect_relax(r, nudge_calm);
	attack_ring_stop(r);
	/* Replay: never sampled, however full the buffer. */
	struct attack_ring_opts w = {.entries = ATTACK_RING_ENTRIES_MIN,
	                             .wait_when_full = true,
	                             .on_entries = on_entries,
	                             .ud = s};
	assert_int_equal(attack_ring_start(&w, &r), 0);
	attack_ring_rx_fill(r, 1000);
	uint64_t none = 0;
	give_sited(r, &none, 64);
	attack_ring_drain(r);
	attack_ring_stats_get(r, &st);
	assert_int_equal(st.sampling, 1);
	assert_int_equal(st.records, 64);
	attack_ring_stop(r);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),         cmocka_unit_test(test_drain),
	    cmocka_unit_test(test_full_waits),    cmocka_unit_test(test_full_drops),
	    cmocka_unit_test(test_stop_pending),  cmocka_unit_test(test_idle_sleeps),
	    cmocka_unit_test(test_start_errors),  cmocka_unit_test(test_pinned),
	    cmocka_unit_test(test_entries_order), cmocka_unit_test(test_nice),
	    cmocka_unit_test(test_sampling),      cmocka_unit_test(test_sampling_rx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
