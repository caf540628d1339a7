/*
 * attackring: the attack detector off the reading thread. A bounded
 * single-producer single-consumer ring between the engine's record tap
 * (the reading thread: the producer) and one consumer thread, nfs-attack,
 * that runs the detector (attack.h) on what the ring hands it.
 *
 * The producer copies only the records with a site end (site_src >= 0 or
 * site_dst >= 0), each into one 64-byte entry with its two site ids, and a
 * clock step into an entry of its own, in the order they were given: the
 * consumer calls its records and clock callbacks with exactly that
 * sequence (records regrouped into chunks of at most ENGINE_TAP_CHUNK;
 * no record is moved across a clock step), so the detector's results are
 * the same as when it ran on the reading thread. An entry keeps of a
 * record what the detector reads: the addresses, packets, octets, the
 * seconds between first_ms and last_ms (as first_ms 1 and last_ms 1 + that
 * span; clipped at 2^32 - 1 s), dport, proto, tcp_flags and frag; every
 * other field of the struct flow the callback gets is 0.
 *
 * A consumer that reads the entries where they lie (opts.on_entries, the
 * detector's attack_entries()) gets them in runs of at most ATTACK_RING_RUN
 * consecutive entries, records and clock steps mixed in the order given:
 * no struct flow is made for it.
 *
 * Live, a detector that falls behind is given a sample of the records
 * rather than a full ring's drops: when the ring is three quarters full
 * the producer writes each record with a site end with probability 1/2^s
 * (a random sample; s raised by one at a time up to ATTACK_RING_SHED_MAX),
 * and the entry's shed says that it stands for 2^s records: the detector
 * weighs it so (its rates are estimates, like an exporter's sampling); s
 * falls by one every relax_ms in which the ring stayed under half full.
 * The reading thread falling behind counts as the detector's: a receive
 * buffer a quarter full (attack_ring_rx_fill(), ATTACK_RING_RX_BEHIND_PM)
 * raises the sampling the same way, and the sampling falls only while it
 * stays under ATTACK_RING_RX_CALM_PM: on a CPU the two share, the detector
 * then gives the reading thread its time back. The records left out are
 * counted (records_sampled); replay never samples.
 *
 * Entries are published (made visible to the consumer) every
 * ATTACK_RING_PUBLISH entries, at every clock step and at a drain. When the
 * ring is full the producer waits (wait_when_full: replay, lossless) or
 * drops the chunk and counts its records (live: the reading thread is
 * never held); a clock step that finds no room is kept and written before
 * anything else once there is room, later steps replacing it (the
 * detector evaluates every second entered either way).
 *
 * Ordering points: whoever reads what the callbacks write (the detector's
 * state, the documents the event callback made) calls attack_ring_drain()
 * first, on the producer's thread; until the producer's next record or
 * clock call the consumer is idle and the producer's thread may call the
 * detector directly.
 *
 * Not responsible for: the detector itself, documents, the hook.
 */
#ifndef NFSENTRY_ATTACKRING_H
#define NFSENTRY_ATTACKRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/cpulist.h"
#include "nfsentry/flow.h"

/*
 * Entries of the ring by default: 32 768 of 64 bytes, 2 MiB. At the
 * detector's cost of a few hundred nanoseconds per record that is about
 * 10 ms of its work: enough to ride out a burst or a slow second (the
 * evaluation of every hot host), short enough that a drain at a slot close
 * waits little. (8 MiB measured no faster side by side in replay, for four
 * times the memory and the drain: docs/benchmarks.md, "Ring size".)
 */
#define ATTACK_RING_ENTRIES (1u << 15)
#define ATTACK_RING_ENTRIES_MIN 256u
#define ATTACK_RING_ENTRIES_MAX (1u << 20)
/* Entries written before the producer publishes them without a clock step. */
#define ATTACK_RING_PUBLISH 256u

/* Live sampling: at most 1 record in 2^ATTACK_RING_SHED_MAX is written when behind. */
#define ATTACK_RING_SHED_MAX 8u
/* Receive buffer in use (per mille) that raises the sampling; under CALM it may fall. */
#define ATTACK_RING_RX_BEHIND_PM 250u
#define ATTACK_RING_RX_CALM_PM 50u
/* ms of a ring under half full before the sampling halves (opts.relax_ms 0). */
#define ATTACK_RING_RELAX_MS 250u

/* Entries handed to opts.on_entries per call, at most (a run never wraps the ring). */
#define ATTACK_RING_RUN 256u

/*
 * One ring entry: a record with a site end, or a clock step (both site ids
 * < 0: a record always has one end in a site; its time in ms in packets).
 * 64 bytes: one cache line written per record by the reading thread.
 */
struct attack_ring_ent {
	struct flow_addr src, dst;
	uint64_t packets, octets;
	uint32_t span_s; /* (last_ms - first_ms) / 1000, 0 without both times; clipped */
	uint16_t dport;
	uint8_t proto, tcp_flags, frag;
	uint8_t shed; /* the record stands for 2^shed records (live sampling; 0: itself) */
	int16_t site_src, site_dst; /* site ids, -1: outside every site */
};
_Static_assert(sizeof(struct attack_ring_ent) == 64, "a ring entry is one cache line");

static inline bool attack_ring_ent_is_clock(const struct attack_ring_ent *e)
{
	return e->site_src < 0 && e->site_dst < 0;
}

/* Called on nfs-attack; every pointer borrowed for the call. Same as engine_record_tap_fn. */
typedef void (*attack_ring_records_fn)(void *ud, const struct flow *v, size_t n,
                                       const int64_t *site_src, const int64_t *site_dst);
/* Called on nfs-attack, at the clock step's place in the sequence. */
typedef void (*attack_ring_clock_fn)(void *ud, uint64_t now_ms);
/* Called on nfs-attack with n (1..ATTACK_RING_RUN) consecutive entries of the ring. */
typedef void (*attack_ring_entries_fn)(void *ud, const struct attack_ring_ent *v, size_t n);

struct attack_ring_opts {
	uint32_t entries;               /* a power of two in MIN..MAX; 0: ATTACK_RING_ENTRIES */
	bool wait_when_full;            /* replay: wait for room; else drop and count */
	attack_ring_records_fn ahead;   /* may be NULL: called before records, same chunk */
	attack_ring_records_fn records; /* required without on_entries */
	attack_ring_clock_fn clock;     /* required without on_entries */
	/*
	 * Set: the only callback, given the entries themselves (records and
	 * clock steps, in order; borrowed for the call); ahead, records and
	 * clock are not called.
	 */
	attack_ring_entries_fn on_entries;
	void *ud;
	const struct cpu_list *cpus; /* nfs-attack's CPUs (borrowed for the call); NULL or empty: the process's */
	int nice;          /* nfs-attack's nice value, 0..19 (0: the process's priority) */
	bool no_sampling;  /* live: drop when full, never sample (the drop path's tests) */
	uint32_t relax_ms; /* live sampling halves after this long under half full; 0: ATTACK_RING_RELAX_MS */
};

struct attack_ring_stats {
	uint64_t records;         /* records written to the ring */
	uint64_t records_dropped; /* records not written: the ring was full (live) */
	uint64_t records_sampled; /* records not written: stood for by a sampled one (live) */
	uint64_t sampling;        /* gauge: 1 record written in this many now (1: every one) */
	uint64_t waits;           /* times the producer waited for room (replay) */
	uint64_t cpu_us;          /* CPU time of nfs-attack so far */
};

struct attack_ring;

/*
 * Allocate the ring and start nfs-attack, on o->cpus when given. o is
 * copied (not o->cpus: read during the call). Returns 0, -EINVAL (entries
 * not a power of two in range; neither on_entries nor both records and
 * clock given; nice outside 0..19), -ENOMEM or -errno of pthread_create (-EINVAL also when no
 * CPU of o->cpus may be used: offline, or outside the process's cgroup);
 * *out is set only on success.
 */
int attack_ring_start(const struct attack_ring_opts *o, struct attack_ring **out);

/*
 * Let the consumer finish every entry written, stop it and free. The
 * callbacks run for everything given before the call (a pending clock
 * step too). NULL is a no-op. The producer's thread.
 */
void attack_ring_stop(struct attack_ring *r);

/*
 * The engine's record tap (engine_record_tap_fn, ud the ring): copy the
 * records with a site end. Never allocates; waits only with
 * wait_when_full. The producer's thread.
 */
void attack_ring_records(void *ring, const struct flow *v, size_t n, const int64_t *site_src,
                         const int64_t *site_dst);

/*
 * Live: the receiving socket's buffer in use, per mille (struct datagram
 * rx_fill_pm), as the reading thread last saw it. Ignored in replay and
 * with no_sampling. The producer's thread.
 */
void attack_ring_rx_fill(struct attack_ring *r, unsigned fill_pm);

/* A clock step after everything given so far; publishes. The producer's thread. */
void attack_ring_clock(struct attack_ring *r, uint64_t now_ms);

/*
 * Publish and wait until the consumer has returned from the callbacks of
 * every entry given so far (a pending clock step is written first, waiting
 * for room). Everything the callbacks wrote is visible to the caller
 * afterwards. NULL is a no-op. The producer's thread.
 */
void attack_ring_drain(struct attack_ring *r);

/* The counters (the producer's thread). NULL ring: zeros. */
void attack_ring_stats_get(const struct attack_ring *r, struct attack_ring_stats *st);

#endif
