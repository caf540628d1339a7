/*
 * attackring: the SPSC hand-over from the reading thread to nfs-attack.
 * See attackring.h and docs/internals/attack.md "The detector's thread".
 */
#include "nfsentry/attackring.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/clock.h"
#include "nfsentry/fault.h"
#include "nfsentry/log.h"

/* Records per call of the consumer's callbacks: the engine's chunk (ENGINE_TAP_CHUNK). */
#define RING_CHUNK 64
/*
 * Empty polls of the consumer (or of a waiting producer) before it sleeps,
 * when the process may run on more than one CPU (on one, the other side
 * cannot move while we poll).
 */
#define RING_SPIN 2000
/* Live sampling: at most one step up per this many ms. */
#define RING_RAISE_MS 10u
/* At most one warn line per this many ms about dropped records. */
#define RING_DROP_LOG_MS 10000u

/* A ring entry (attackring.h) is filled from a struct flow by one copy of its first 32 bytes. */
_Static_assert(
    offsetof(struct attack_ring_ent, dst) - offsetof(struct attack_ring_ent, src) ==
            offsetof(struct flow, dst) - offsetof(struct flow, src) &&
        offsetof(struct attack_ring_ent, packets) - offsetof(struct attack_ring_ent, src) ==
            offsetof(struct flow, packets) - offsetof(struct flow, src) &&
        offsetof(struct attack_ring_ent, octets) - offsetof(struct attack_ring_ent, src) ==
            offsetof(struct flow, octets) - offsetof(struct flow, src) &&
        offsetof(struct attack_ring_ent, span_s) - offsetof(struct attack_ring_ent, src) ==
            offsetof(struct flow, first_ms) - offsetof(struct flow, src),
    "an entry starts with struct flow's src, dst, packets, octets");

struct attack_ring {
	/* The producer's (the reading thread's) own. */
	struct attack_ring_ent *v; /* cap entries, 64-byte aligned inside v_mem */
	void *v_mem;               /* owned */
	uint64_t mask;             /* cap - 1 */
	uint64_t head;             /* entries written */
	uint64_t pub;              /* entries published (head_pub's value) */
	uint64_t woke;      /* pub when the consumer was last checked for sleep (and woken) */
	uint64_t clock_s;   /* second of the latest clock step given */
	uint64_t tail_seen; /* the consumer's tail when last read: room is at least this */
	bool clock_pending; /* a clock step that found no room: written before anything else */
	uint64_t clock_ms;
	uint64_t drop_log_ms; /* monotonic time of the last warn line about drops, 0: none */
	bool sample;          /* live sampling when behind: live, not opts.no_sampling */
	unsigned shed;        /* live sampling: records written with probability 1/2^shed */
	uint64_t rng;         /* xorshift64 state of the sampling */
	uint64_t shed_ms;     /* monotonic ms of the last step or relax check */
	uint64_t shed_peak;   /* most entries waiting since then */
	unsigned rx_fill;     /* the receive buffer in use, per mille (attack_ring_rx_fill) */
	unsigned rx_peak;     /* its highest since the last step or relax check */
	uint64_t shed_log_ms; /* monotonic time of the last warn line about sampling, 0: none */
	struct attack_ring_stats st;
	struct attack_ring_opts o;
	unsigned spin;       /* RING_SPIN, or 0 on a single CPU */
	uint64_t wake_batch; /* entries published before a sleeping consumer is woken */
	unsigned char pad0[64];
	/* Shared: one writer each. */
	_Atomic uint64_t head_pub; /* the producer's: entries the consumer may read */
	unsigned char pad1[64];
	_Atomic uint64_t tail; /* the consumer's: entries whose callbacks have returned */
	unsigned char pad2[64];
	_Atomic int consumer_sleeping;  /* set by the consumer under mu before it waits */
	_Atomic int producer_waiting;   /* set by the producer under mu before it waits */
	_Atomic uint64_t producer_want; /* the tail it waits for (set before the flag) */
	_Atomic int stopping;
	pthread_mutex_t mu;
	pthread_cond_t wake_consumer, wake_producer;
	pthread_t thread;
	/* The consumer's own: the chunk handed to the callbacks. */
	struct flow fl[RING_CHUNK];
	int64_t ss[RING_CHUNK], sd[RING_CHUNK];
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* ---- the consumer ---------------------------------------------------------- */

/* Hand the gathered records to the callbacks. */
static void chunk_flush(struct attack_ring *r, size_t *m)
{
	if (!*m)
		return;
	if (r->o.ahead)
		r->o.ahead(r->o.ud, r->fl, *m, r->ss, r->sd);
	r->o.records(r->o.ud, r->fl, *m, r->ss, r->sd);
	*m = 0;
}

/* The entries up to tail are done: tell the producer, waking it if it waits for room. */
static void tail_store(struct attack_ring *r, uint64_t tail)
{
	atomic_store(&r->tail, tail);
	/* Sequentially consistent with the producer's flag: it sees tail or we see it wait. */
	if (atomic_load(&r->producer_waiting) && tail >= atomic_load(&r->producer_want)) {
		pthread_mutex_lock(&r->mu);
		pthread_cond_broadcast(&r->wake_producer);
		pthread_mutex_unlock(&r->mu);
	}
}

/* Hand entries [tail, head) to opts.on_entries in runs; returns head. */
static uint64_t consume_entries(struct attack_ring *r, uint64_t tail, uint64_t head)
{
	while (tail != head) {
		uint64_t i = tail & r->mask, k = head - tail;
		if (k > ATTACK_RING_RUN)
			k = ATTACK_RING_RUN;
		if (k > r->mask + 1 - i)
			k = r->mask + 1 - i; /* a run does not wrap */
		r->o.on_entries(r->o.ud, &r->v[i], (size_t)k);
		tail += k;
		tail_store(r, tail);
	}
	return tail;
}

/* Run the callbacks for entries [tail, head); returns head. */
static uint64_t consume(struct attack_ring *r, uint64_t tail, uint64_t head)
{
	size_t m = 0;

	if (r->o.on_entries)
		return consume_entries(r, tail, head);

	while (tail != head) {
		const struct attack_ring_ent *e = &r->v[tail & r->mask];
		if (attack_ring_ent_is_clock(e)) {
			chunk_flush(r, &m);
			r->o.clock(r->o.ud, e->packets);
			tail_store(r, ++tail);
			continue;
		}
		/* The fields the detector reads; the others stay 0 from the start. */
		struct flow *f = &r->fl[m];
		f->src = e->src;
		f->dst = e->dst;
		f->packets = e->packets;
		f->octets = e->octets;
		f->first_ms = e->span_s ? 1 : 0;
		f->last_ms = e->span_s ? 1 + (uint64_t)e->span_s * 1000 : 0;
		f->dport = e->dport;
		f->proto = e->proto;
		f->tcp_flags = e->tcp_flags;
		f->frag = e->frag;
		r->ss[m] = e->site_src;
		r->sd[m] = e->site_dst;
		m++;
		tail++;
		if (m == RING_CHUNK) {
			chunk_flush(r, &m);
			tail_store(r, tail);
		}
	}
	chunk_flush(r, &m);
	tail_store(r, tail);
	return tail;
}

static void *ring_main(void *arg)
{
	struct attack_ring *r = arg;
	uint64_t tail = 0;

	pthread_setname_np(pthread_self(), "nfs-attack"); /* top -H, perf --comm */
	/*
	 * Linux keeps a nice value per thread: this one yields to the reading
	 * thread (and the kernel's receive work) when they share a CPU.
	 */
	if (r->o.nice && setpriority(PRIO_PROCESS, (id_t)gettid(), r->o.nice) != 0)
		log_warn("attack: cannot set the detector's nice value to %d (attack.nice): %s",
		         r->o.nice, strerror(errno));
	for (;;) {
		uint64_t head = atomic_load(&r->head_pub);
		for (unsigned i = 0; head == tail && i < r->spin; i++) {
			cpu_relax();
			head = atomic_load(&r->head_pub);
		}
		if (head == tail) {
			/* Idle: sleep until the producer publishes (or stops). */
			pthread_mutex_lock(&r->mu);
			atomic_store(&r->consumer_sleeping, 1);
			while ((head = atomic_load(&r->head_pub)) == tail &&
			       !atomic_load(&r->stopping))
				pthread_cond_wait(&r->wake_consumer, &r->mu);
			atomic_store(&r->consumer_sleeping, 0);
			pthread_mutex_unlock(&r->mu);
			/* stopping is set after the last publish: head is final. */
			if (head == tail)
				break;
		}
		tail = consume(r, tail, head);
	}
	return NULL;
}

/* ---- the producer ---------------------------------------------------------- */

/* Make the written entries visible; wake the consumer if it sleeps. */
/*
 * Make the written entries visible. Wake the consumer if it sleeps, when
 * wake is set or wake_batch entries came since the last check: a clock
 * step inside the same second (replay: every datagram) does not cost a
 * wake-up each.
 */
static void publish(struct attack_ring *r, bool wake)
{
	if (r->head != r->pub) {
		r->pub = r->head;
		atomic_store(&r->head_pub, r->head);
	}
	/*
	 * A check that found the consumer awake covers everything published
	 * before it: the consumer reads head again before it sleeps.
	 */
	if (r->woke == r->pub || (!wake && r->pub - r->woke < r->wake_batch))
		return;
	r->woke = r->pub;
	/* Sequentially consistent with the consumer's flag: it sees head or we see it sleep. */
	if (atomic_load(&r->consumer_sleeping)) {
		pthread_mutex_lock(&r->mu);
		pthread_cond_signal(&r->wake_consumer);
		pthread_mutex_unlock(&r->mu);
	}
}

/* Publish and wait until the consumer's tail reaches want. */
static void tail_wait(struct attack_ring *r, uint64_t want)
{
	uint64_t t;

	publish(r, true);
	for (unsigned i = 0; (t = atomic_load(&r->tail)) < want && i < r->spin; i++)
		cpu_relax();
	if (t < want) {
		pthread_mutex_lock(&r->mu);
		atomic_store(&r->producer_want, want);
		atomic_store(&r->producer_waiting, 1);
		while ((t = atomic_load(&r->tail)) < want)
			pthread_cond_wait(&r->wake_producer, &r->mu);
		atomic_store(&r->producer_waiting, 0);
		pthread_mutex_unlock(&r->mu);
	}
	r->tail_seen = t;
}

/* Room for k more entries now (reading the consumer's tail only when short). */
static inline bool room(struct attack_ring *r, uint64_t k)
{
	if (r->mask + 1 - (r->head - r->tail_seen) >= k)
		return true;
	r->tail_seen = atomic_load(&r->tail);
	return r->mask + 1 - (r->head - r->tail_seen) >= k;
}

/* Room for k entries: true when there is (having waited, with wait_when_full). */
static bool room_get(struct attack_ring *r, uint64_t k)
{
	if (room(r, k))
		return true;
	if (!r->o.wait_when_full) {
		publish(r, false);
		return false;
	}
	r->st.waits++;
	/*
	 * Wait for a quarter of the ring, not just k entries: on one CPU (or a
	 * busy machine) each wait is two context switches, paid once per
	 * quarter ring instead of once per chunk.
	 */
	tail_wait(r, r->head + k - (r->mask + 1) + (r->mask + 1) / 4);
	return true;
}

static void clock_put(struct attack_ring *r)
{
	struct attack_ring_ent *e = &r->v[r->head++ & r->mask];

	memset(e, 0, sizeof(*e));
	e->site_src = e->site_dst = -1;
	e->packets = r->clock_ms;
	r->clock_pending = false;
}

static void drop(struct attack_ring *r, size_t k)
{
	r->st.records_dropped += k;
	if (log_ratelimit_ok(&r->drop_log_ms, clock_ms(CLOCK_MONOTONIC), RING_DROP_LOG_MS))
		log_warn("attack: the detector is behind: its ring of %llu records is full; %llu "
		         "records not rated since start (attackRecordsDropped)",
		         (unsigned long long)(r->mask + 1),
		         (unsigned long long)r->st.records_dropped);
}

/*
 * Live: sample when the detector falls behind. A ring three quarters full,
 * or a receive buffer ATTACK_RING_RX_BEHIND_PM full (the reading thread
 * behind: on a shared CPU the detector's time is its), raises the sampling
 * one step, at most one step every RING_RAISE_MS (the last one's effect
 * shows once the detector runs); every relax_ms the sampling falls one
 * step when the ring stayed under half full and the receive buffer under
 * ATTACK_RING_RX_CALM_PM meanwhile. (On one CPU the consumer sleeps
 * until a quarter of the ring waits: fills up to that are its batching,
 * not a detector behind.) Called at publishes, drops, receive buffer
 * changes and the first clock step of each second, when r->sample.
 */
static void shed_adjust(struct attack_ring *r)
{
	uint64_t cap = r->mask + 1;
	uint64_t t = atomic_load(&r->tail);
	uint64_t used = r->head - t;

	r->tail_seen = t;
	if (used > r->shed_peak)
		r->shed_peak = used;
	if (r->rx_fill > r->rx_peak)
		r->rx_peak = r->rx_fill;
	if (used >= cap - cap / 4 || r->rx_fill >= ATTACK_RING_RX_BEHIND_PM) {
		if (r->shed >= ATTACK_RING_SHED_MAX)
			return;
		uint64_t now = clock_ms(CLOCK_MONOTONIC);
		if (r->shed && now - r->shed_ms < RING_RAISE_MS)
			return;
		r->shed++;
		r->shed_ms = now;
		r->shed_peak = 0;
		r->rx_peak = 0;
		if (log_ratelimit_ok(&r->shed_log_ms, now, RING_DROP_LOG_MS)) {
			/* The first time nothing was left out yet: no count to give. */
			char left[64] = "the records left out are";
			if (r->st.records_sampled)
				snprintf(left, sizeof(left), "%llu records left out so far,",
				         (unsigned long long)r->st.records_sampled);
			log_warn(
			    "attack: the detector is behind: rating 1 record in %u, each standing "
			    "for %u (live sampling; %s counted in attackRecordsSampled)",
			    1u << r->shed, 1u << r->shed, left);
		}
		return;
	}
	if (!r->shed)
		return;
	uint64_t now = clock_ms(CLOCK_MONOTONIC);
	if (now - r->shed_ms < r->o.relax_ms)
		return;
	if (r->shed_peak < cap / 2 && r->rx_peak < ATTACK_RING_RX_CALM_PM) {
		r->shed--;
		if (!r->shed)
			log_info("attack: the detector caught up: rating every record again; %llu "
			         "records left out so far (attackRecordsSampled)",
			         (unsigned long long)r->st.records_sampled);
	}
	r->shed_ms = now;
	r->shed_peak = used;
	r->rx_peak = r->rx_fill;
}

void attack_ring_rx_fill(struct attack_ring *r, unsigned fill_pm)
{
	/* udpin looks at most every millisecond: a change is worth a look at the sampling. */
	if (fill_pm == r->rx_fill)
		return;
	r->rx_fill = fill_pm;
	if (r->sample)
		shed_adjust(r);
}

/* Records of v[0..n) with a site end. */
static size_t count_sited(size_t n, const int64_t *site_src, const int64_t *site_dst)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += (site_src[i] & site_dst[i]) >= 0;
	return k;
}

/* Entry h: record f with site ids ss, sd, standing for 2^shed records. */
static inline void ent_put(struct attack_ring *r, uint64_t h, const struct flow *f, int64_t ss,
                           int64_t sd, unsigned shed)
{
	struct attack_ring_ent *e = &r->v[h & r->mask];
	uint64_t span_ms = f->last_ms - f->first_ms;
	if (!f->first_ms || f->last_ms <= f->first_ms)
		span_ms = 0;
	uint64_t span_s = span_ms / 1000;
	/* src, dst, packets and octets lie in the same order in both. */
	memcpy(e, &f->src, offsetof(struct attack_ring_ent, span_s));
	e->span_s = span_s > UINT32_MAX ? UINT32_MAX : (uint32_t)span_s;
	e->dport = f->dport;
	e->proto = f->proto;
	e->tcp_flags = f->tcp_flags;
	e->frag = f->frag;
	e->shed = (uint8_t)shed;
	/* Site ids are under ENGINE_MAX_SITE_IDS (512). */
	e->site_src = (int16_t)(ss < 0 ? -1 : ss);
	e->site_dst = (int16_t)(sd < 0 ? -1 : sd);
}

/* Entries up to h written: publish every ATTACK_RING_PUBLISH (live: and look at the sampling). */
static inline void records_done(struct attack_ring *r, uint64_t h)
{
	r->st.records += h - r->head;
	r->head = h;
	if (h - r->pub >= ATTACK_RING_PUBLISH) {
		publish(r, false);
		if (r->sample)
			shed_adjust(r);
	}
}

/*
 * Live sampling on: each record of v[0..n) (n <= 64) with a site end is
 * written with probability 1/2^shed (xorshift64), as an entry standing for
 * 2^shed records; the others are counted. Room is needed for the sample
 * only; without it the sample is dropped and counted.
 */
static __attribute__((noinline)) void records_sampled(struct attack_ring *r, const struct flow *v,
                                                      size_t n, const int64_t *site_src,
                                                      const int64_t *site_dst)
{
	unsigned shed = r->shed;
	uint64_t pick = 0, x = r->rng, left = 0;

	for (size_t i = 0; i < n; i++) {
		if ((site_src[i] & site_dst[i]) < 0)
			continue;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x >> (64 - shed))
			left++;
		else
			pick |= 1ull << i;
	}
	r->rng = x;
	r->st.records_sampled += left;
	size_t k = (size_t)__builtin_popcountll(pick);
	if (!k)
		return;
	if (!room(r, k + r->clock_pending) && !room_get(r, k + r->clock_pending)) {
		drop(r, k);
		shed_adjust(r);
		return;
	}
	if (r->clock_pending)
		clock_put(r);
	uint64_t h = r->head;
	for (; pick; pick &= pick - 1) {
		size_t i = (size_t)__builtin_ctzll(pick);
		ent_put(r, h++, &v[i], site_src[i], site_dst[i], shed);
	}
	records_done(r, h);
}

void attack_ring_records(void *ring, const struct flow *v, size_t n, const int64_t *site_src,
                         const int64_t *site_dst)
{
	struct attack_ring *r = ring;

	if (__builtin_expect(r->shed != 0, 0)) {
		for (size_t i = 0; i < n; i += 64)
			records_sampled(r, v + i, n - i < 64 ? n - i : 64, site_src + i,
			                site_dst + i);
		return;
	}
	/*
	 * Room for the whole chunk (at most RING_CHUNK records: it fits in the
	 * smallest ring) is the common case; only a ring that is short counts
	 * the records it must take, and waits for them or drops them.
	 */
	if (!room(r, n + r->clock_pending)) {
		size_t k = count_sited(n, site_src, site_dst);
		if (!k)
			return;
		if (!room_get(r, k + r->clock_pending)) {
			drop(r, k);
			if (r->sample)
				shed_adjust(r);
			return;
		}
	}
	if (r->clock_pending)
		clock_put(r);
	uint64_t h = r->head;
	for (size_t i = 0; i < n; i++) {
		int64_t ss = site_src[i], sd = site_dst[i];
		if ((ss & sd) < 0)
			continue; /* both outside every site */
		ent_put(r, h++, &v[i], ss, sd, 0);
	}
	records_done(r, h);
}

void attack_ring_clock(struct attack_ring *r, uint64_t now_ms)
{
	/* The detector ignores a clock that goes back: the latest pending one stands. */
	if (!r->clock_pending || now_ms > r->clock_ms)
		r->clock_ms = now_ms;
	r->clock_pending = true;
	if (room_get(r, 1))
		clock_put(r);
	/*
	 * Live, a new second is an evaluation whose events are due now: the
	 * detector is woken for it. Replay's events do not depend on when
	 * they are made.
	 */
	bool second = !r->o.wait_when_full && now_ms / 1000 != r->clock_s;
	r->clock_s = now_ms / 1000;
	publish(r, second);
	/*
	 * Live steps come with every datagram: the sampling is looked at once
	 * a second here (its tail read is a line the detector writes); the
	 * publishes and the receive buffer's changes look more often.
	 */
	if (r->sample && second)
		shed_adjust(r);
}

void attack_ring_drain(struct attack_ring *r)
{
	if (!r)
		return;
	if (r->clock_pending) {
		if (!room(r, 1))
			tail_wait(r, r->head + 1 - (r->mask + 1));
		clock_put(r);
	}
	publish(r, true);
	if (r->tail_seen != r->head)
		tail_wait(r, r->head);
	/* Reading tail (sequentially consistent) orders the callbacks' writes before ours. */
}

int attack_ring_start(const struct attack_ring_opts *o, struct attack_ring **out)
{
	uint32_t cap = o->entries ? o->entries : ATTACK_RING_ENTRIES;

	if (cap < ATTACK_RING_ENTRIES_MIN || cap > ATTACK_RING_ENTRIES_MAX || (cap & (cap - 1)) ||
	    (!o->on_entries && (!o->records || !o->clock)) || o->nice < 0 || o->nice > 19)
		return -EINVAL;
	struct attack_ring *r = fault_calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* One spare entry to align the array on a cache line. */
	r->v_mem = fault_malloc(((size_t)cap + 1) * sizeof(struct attack_ring_ent));
	if (!r->v_mem) {
		free(r);
		return -ENOMEM;
	}
	r->v = (struct attack_ring_ent *)(((uintptr_t)r->v_mem + 63) & ~(uintptr_t)63);
	/*
	 * Touched now, before the detector's thread runs: a page first written
	 * by the reading thread later would fault, and with a second thread of
	 * the process on another CPU a fault costs that CPU a TLB flush too.
	 */
	memset(r->v_mem, 0, ((size_t)cap + 1) * sizeof(struct attack_ring_ent));
	r->mask = cap - 1;
	r->o = *o;
	if (!r->o.relax_ms)
		r->o.relax_ms = ATTACK_RING_RELAX_MS;
	r->sample = !o->wait_when_full && !o->no_sampling;
	r->rng = 0x9e3779b97f4a7c15u;
	/*
	 * On one CPU the detector cannot run beside the reading thread: it is
	 * woken for a quarter of the ring at a time, so that the two switch
	 * (and evict each other's cache lines) seldom.
	 */
	cpu_set_t cpus, mine;
	bool pin = o->cpus && !cpu_list_empty(o->cpus);
	CPU_ZERO(&mine);
	for (unsigned c = 0; pin && c < CPUS_MAX && c < CPU_SETSIZE; c++)
		if (cpu_list_has(o->cpus, c))
			CPU_SET(c, &mine);
	/* One CPU for both threads: the process's, and the detector's own when pinned. */
	bool one = false;
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) {
		if (pin)
			CPU_OR(&cpus, &cpus, &mine);
		one = CPU_COUNT(&cpus) < 2;
	}
	r->spin = one ? 0 : RING_SPIN;
	r->o.cpus = NULL; /* borrowed for this call only */
	r->wake_batch = one || cap / 4 < ATTACK_RING_PUBLISH ? cap / 4 : ATTACK_RING_PUBLISH;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->wake_consumer, NULL);
	pthread_cond_init(&r->wake_producer, NULL);
	pthread_attr_t attr;
	int rc = pthread_attr_init(&attr);
	if (rc == 0 && pin)
		rc = pthread_attr_setaffinity_np(&attr, sizeof(mine), &mine);
	if (rc == 0)
		rc = pthread_create(&r->thread, &attr, ring_main, r);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_cond_destroy(&r->wake_producer);
		pthread_cond_destroy(&r->wake_consumer);
		pthread_mutex_destroy(&r->mu);
		free(r->v_mem);
		free(r);
		return -rc;
	}
	*out = r;
	return 0;
}

void attack_ring_stop(struct attack_ring *r)
{
	if (!r)
		return;
	attack_ring_drain(r);
	pthread_mutex_lock(&r->mu);
	atomic_store(&r->stopping, 1);
	pthread_cond_signal(&r->wake_consumer);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->wake_producer);
	pthread_cond_destroy(&r->wake_consumer);
	pthread_mutex_destroy(&r->mu);
	free(r->v_mem);
	free(r);
}

void attack_ring_stats_get(const struct attack_ring *r, struct attack_ring_stats *st)
{
	if (!r) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = r->st;
	st->sampling = 1u << r->shed;
	clockid_t cid;
	struct timespec ts;
	if (pthread_getcpuclockid(r->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
		st->cpu_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
