/*
 * attack: the fast path for large floods. Per-host packet, bit and flow
 * rates over a few seconds of the collector's clock, for every inside IP of
 * every site, in both directions and per traffic class; thresholds with
 * hysteresis; attack events (start, updates, end) handed to a callback.
 *
 * Where it sits: off the reading thread. The slot engine's record tap
 * (engine_record_tap_set(), engine.h) copies the records it matched to a
 * site, with their site ids, into a ring (attackring.h), so no second
 * prefix lookup is made; one thread, nfs-attack, hands the ring's entries
 * (records and clock steps in order) to attack_entries(); attack_records()
 * and attack_clock() give the same results called directly. The clock is
 * the engine's: the export time in replay, the wall clock live. Each time the clock
 * enters a new second the module evaluates every tracked host over the
 * window of the last window_s complete seconds and calls the event callback
 * on the thread that called attack_clock(). Formatting, storing and
 * alerting are the caller's (pipeline.c: documents of kind "attack", the
 * hook in attack_hook_*).
 *
 * Rates: a record covering [first, last] over d seconds (at least 1) adds
 * packets/d, octets*8/d bits and 1/d flows to each of the min(d, window_s)
 * seconds ending at the clock's current second. The record's span is
 * shifted to end now (records arrive after they end, by the exporter's
 * timeouts): a record whose flow ended a minute ago still counts now, and a
 * record of a long active timeout (60 s, 1800 s) adds its average rate,
 * never its whole count at once. The work per record is bounded by
 * window_s. Packets and octets are the sampling-scaled ones (flow.h).
 *
 * Memory: a pool of max_hosts host entries (each a ring of window_s
 * seconds), indexed per site by a dense array for IPv4 prefixes of /16 or
 * longer and by one bounded hash for everything else. A host with an empty
 * window and no event is freed at the next evaluation. A record of a host
 * that finds the pool full is counted (hostOverflow) and not rated. At
 * most max_events events are open at once (eventOverflow).
 *
 * One struct attack belongs to one thread at a time: nfs-attack while the
 * ring holds entries, the reading thread after attack_ring_drain().
 * docs/attacks.md is the operator's page; docs/internals/attack.md the
 * design.
 */
#ifndef NFSENTRY_ATTACK_H
#define NFSENTRY_ATTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"
#include "nfsentry/cpulist.h"
#include "nfsentry/flow.h"
#include "nfsentry/site.h"

enum attack_dir {
	ATTACK_IN,  /* into the inside IP: it is the victim */
	ATTACK_OUT, /* from the inside IP: it is the source */
	ATTACK_DIR__COUNT,
};

/*
 * Traffic classes. Every record is one of SYN..OTHER; TOTAL is their sum.
 * SYN: TCP whose flags have SYN without ACK (a handshake never answered,
 * or a flood); TCP: every other TCP record. FRAG: fragment records
 * (flow_is_fragment(), flow.h), counted in addition to their protocol's
 * class and not again in TOTAL.
 */
enum attack_class {
	ATTACK_CLASS_TOTAL,
	ATTACK_CLASS_SYN,
	ATTACK_CLASS_TCP,
	ATTACK_CLASS_UDP,
	ATTACK_CLASS_ICMP,
	ATTACK_CLASS_OTHER,
	ATTACK_CLASS_FRAG,
	ATTACK_CLASS__COUNT,
};

enum attack_metric {
	ATTACK_PPS, /* packets per second */
	ATTACK_BPS, /* bits per second */
	ATTACK_FPS, /* flow records per second */
	ATTACK_METRIC__COUNT,
};

/* "in"/"out", "total"/"syn"/.../"fragments", "pps"/"bps"/"fps"; "?" when out of range. */
const char *attack_dir_name(enum attack_dir d);
const char *attack_class_name(enum attack_class c);
const char *attack_metric_name(enum attack_metric m);

/* A threshold the configuration did not set: inherited from the level above. */
#define ATTACK_UNSET UINT64_MAX

/* Rates per direction, class and metric; 0 = no threshold. */
struct attack_thresholds {
	uint64_t v[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][ATTACK_METRIC__COUNT];
};

/* Limits of the configuration (config.c checks them). */
#define ATTACK_WINDOW_MAX_S 60
#define ATTACK_SITES_MAX 256  /* attack.sites entries */
#define ATTACK_GROUPS_MAX 256 /* groups of one site */
#define ATTACK_HOSTS_MAX (1u << 22)
#define ATTACK_EVENTS_MAX 4096
#define ATTACK_HOOK_MAX 1024 /* hook path, NUL included */
#define ATTACK_TOP_MAX 10    /* sources, ports, protocols listed per event */

/* A prefix of a site with its own thresholds (unset ones: the site's). */
struct attack_group {
	struct site_prefix prefix;
	struct attack_thresholds th;
};

/* One site's overrides (unset ones: the defaults). */
struct attack_site {
	char site[SITE_NAME_MAX];
	struct attack_thresholds th;
	struct attack_group *groups; /* owned by whoever built the struct (config) */
	size_t n_groups;
};

struct attack_config {
	bool enabled;                /* default true (docs/attacks.md, "Cost") */
	uint32_t window_s;           /* sliding window, 1..60, default 5 */
	uint32_t start_windows;      /* start after this many evaluations above, default 2 */
	uint32_t end_windows;        /* end after this many below, default 5 */
	uint32_t update_s;           /* an update document at most every update_s, default 10 */
	uint32_t max_hosts;          /* host entries, default 65536 */
	uint32_t max_events;         /* open events, default 256 */
	struct attack_thresholds th; /* defaults of every site (docs/attacks.md) */
	struct attack_site *sites;   /* owned by whoever built the struct (config) */
	size_t n_sites;
	char hook[ATTACK_HOOK_MAX]; /* command run per event, JSON on stdin; "" = none */
	uint32_t hook_timeout_ms;   /* default 5000 */
	struct cpu_list cpus;       /* CPUs of the detector's thread; empty (default): the process's */
	uint32_t nice;              /* the detector thread's nice value, 0..19, default 19 */
};

/* Fill *c with the documented defaults (no sites, no hook). */
void attack_config_defaults(struct attack_config *c);

/* A top-N entry of an event: an outside address, a port or a protocol. */
struct attack_top {
	struct flow_addr addr; /* sources only */
	uint32_t key;          /* port or protocol number */
	uint64_t packets;      /* counted while the event was open (an estimate) */
};

enum attack_phase {
	ATTACK_START,
	ATTACK_UPDATE,
	ATTACK_END,
};

/* "start", "update", "end". */
const char *attack_phase_name(enum attack_phase p);

/* An attack event as the callback sees it. */
struct attack_event {
	const char *site; /* the site's name (borrowed from the site table) */
	uint32_t site_index;
	struct flow_addr ip; /* the victim (in) or the inside source (out) */
	enum attack_dir dir;
	enum attack_class cls;
	uint64_t start_ms;    /* clock second whose window first went above */
	uint64_t detected_ms; /* clock second the start was decided */
	uint64_t end_ms;      /* ATTACK_END: first second of the quiet windows; else 0 */
	uint64_t now_ms;      /* clock second of this callback */
	uint32_t seq;         /* 0 at start, +1 per callback of this event */
	double cur[ATTACK_METRIC__COUNT];  /* rates of the latest window */
	double peak[ATTACK_METRIC__COUNT]; /* highest window rates while open */
	double threshold[ATTACK_METRIC__COUNT];
	uint64_t packets, octets; /* records counted to the event while open */
	double flows;
	/*
	 * Live sampling: the most records one rated record stood for while the
	 * event was open (1 or 0: every record counted; the detector was behind).
	 */
	uint32_t sampling;
	/* Largest first; at most ATTACK_TOP_MAX each. sources: outside ends. */
	struct attack_top sources[ATTACK_TOP_MAX], ports[ATTACK_TOP_MAX], protocols[ATTACK_TOP_MAX];
	size_t n_sources, n_ports, n_protocols;
};

/* Called on the thread that moves the clock; ev is borrowed for the call. */
typedef void (*attack_event_fn)(void *ud, const struct attack_event *ev, enum attack_phase p);

struct attack_stats {
	uint64_t records;       /* record ends rated (a record may count twice: in and out) */
	uint64_t hosts;         /* gauge: host entries in use */
	uint64_t host_overflow; /* record ends not rated: host pool full */
	/* Records not handed to the detector, its ring full (the caller's: attack_ring_stats). */
	uint64_t records_dropped;
	uint64_t records_sampled; /* records stood for by a sampled one (attack_ring_stats) */
	uint64_t sampling;        /* gauge: 1 record rated in this many (attack_ring_stats) */
	uint64_t events_started;
	uint64_t events_ended;
	uint64_t events_open;    /* gauge */
	uint64_t event_overflow; /* starts refused: max_events open */
	uint64_t events_restored; /* open events taken back from the restart state */
	uint64_t state_rejected;  /* restart states refused (corrupt, truncated, foreign) */
	uint64_t hook_runs;      /* filled by the caller from attack_hook_stats */
	uint64_t hook_failures;  /* the hook exited non-zero, was killed, or did not start */
	uint64_t hook_timeouts;  /* of those, killed at hook_timeout_ms */
	uint64_t hook_dropped;   /* events not handed to the hook: its queue was full */
};

/* struct attack_stats described (counter.h), every field. */
extern const struct counter_table attack_counters;

struct attack;

/*
 * Create the detector for the sites (borrowed: must outlive it) and cfg
 * (copied; its site overrides are read now, by site name -- a name that is
 * not a site is ignored). fn may be NULL. Returns 0, -EINVAL (window_s 0 or
 * over ATTACK_WINDOW_MAX_S, start/end windows 0, max_hosts or max_events 0
 * or over their maximum) or -ENOMEM; *out is set only on success.
 */
int attack_create(const struct attack_config *cfg, const struct site_config *sites, size_t n_sites,
                  attack_event_fn fn, void *ud, struct attack **out);

/*
 * The configuration reload of the thresholds: cfg's default, per-site and
 * per-group thresholds (borrowed for the call, copied) replace the table
 * the detector evaluates with, from its next evaluation (the next second's
 * window) on; open events keep the thresholds they started with in their
 * documents. cfg must have the same attack.sites, in the same order, with
 * the same groups and prefixes as the detector was created with, else
 * -EINVAL; its other keys are ignored. Returns 0, -EINVAL or -ENOMEM
 * (the table in force stays). The detector's owning thread, between two calls.
 */
int attack_thresholds_set(struct attack *a, const struct attack_config *cfg);

/* Free everything; open events are dropped without an end callback. NULL is a no-op. */
void attack_destroy(struct attack *a);

/*
 * Move the clock to now_ms (ignored if earlier). For every second entered,
 * evaluate the hosts (at most window_s + end_windows evaluations per call;
 * a longer jump finds empty windows) and call the event callback.
 */
void attack_clock(struct attack *a, uint64_t now_ms);

/*
 * Rate n records (borrowed). site_src[i] / site_dst[i]: the site index of
 * v[i]'s source / destination, or < 0 when outside every site -- exactly
 * what the engine's prefix match found (engine_record_tap_fn). The source
 * of a record inside a site counts as egress (out) of that host, the
 * destination as ingress (in). Records are credited at the clock's current
 * second: the caller moves the clock first.
 */
void attack_records(void *attack, const struct flow *v, size_t n, const int64_t *site_src,
                    const int64_t *site_dst);

/*
 * Ask for the memory attack_records() will touch for the same n records
 * (index entries, host headers), without changing anything: the engine
 * calls it before summing a chunk into its slots and attack_records()
 * after (engine_record_tap_ahead_set()), so the host table's cache misses
 * overlap the slots' work. Optional: attack_records() alone gives the same
 * result.
 */
void attack_records_ahead(void *attack, const struct flow *v, size_t n, const int64_t *site_src,
                          const int64_t *site_dst);

struct attack_ring_ent;

/*
 * Rate n entries of the detector's ring (attackring.h, borrowed), in
 * order: a record entry as attack_records() rates the record it was made
 * from (the same results), a clock step as attack_clock(). The ring's
 * consumer (attack_ring_opts.on_entries, ud the detector): one pass over
 * the entries where they lie, no struct flow made.
 */
void attack_entries(void *attack, const struct attack_ring_ent *v, size_t n);

/*
 * Close every open event now (end of replay, shutdown): one ATTACK_END
 * callback each, end_ms the clock's current second.
 */
void attack_close_all(struct attack *a);

/*
 * Restart state (docs/attacks.md "Across a restart"): the open events, each
 * with its top lists and its count of quiet windows, so that an attack
 * going on across a restart keeps its event (same id, same start) and one
 * that stopped while the collector was down ends with an end document.
 */
#define ATTACK_STATE_VERSION 1
/* A restart longer than this ends the saved events at load instead of resuming them. */
#define ATTACK_RESUME_MAX_S 300

/* What attack_state_load() did. */
struct attack_restore {
	uint64_t saved_at_ms; /* when the file was written */
	size_t resumed;       /* events open again, going on (= attacksRestored) */
	size_t ended;         /* saved more than ATTACK_RESUME_MAX_S ago: ended at load */
	size_t dropped;       /* site gone, no room (max_events, max_hosts) or twice in the file */
};

/*
 * Write the open events to path + ".tmp", fsync it and rename it to path
 * (the caller fsyncs the directory); now_ms is recorded as the time of the
 * save. *n_events (may be NULL) gets their number. Returns 0 or -errno;
 * on error path is left as it was and the temporary file is removed. The
 * events stay open: attack_events_drop() forgets them when they are to go
 * on in the next run. Borrows a.
 */
int attack_state_save(struct attack *a, const char *path, uint64_t now_ms, size_t *n_events);

/*
 * Forget every open event without an end callback (they were saved and go
 * on in the next run). Hosts and rates stay.
 */
void attack_events_drop(struct attack *a);

/*
 * Load the restart state at path into a, before its first clock (the clock
 * starts at now_ms, the wall clock). Each saved event is taken back open
 * (its host evaluated at once; no quiet window counts until its window has
 * filled again) or, when saved more than ATTACK_RESUME_MAX_S before now_ms,
 * ended now with one ATTACK_END callback whose end_ms is when the last run
 * saw it go quiet (or stopped). An event that is not seen above again
 * after the start ends the same way once its quiet windows are counted.
 * Returns 0 (res filled; the file is not removed), -ENOENT (no file),
 * -EBADMSG (truncated, corrupt or inconsistent), -EPROTONOSUPPORT (another
 * format version), -ENOMEM or -errno of the read; on an error nothing is
 * taken, and -EBADMSG and -EPROTONOSUPPORT count in attackStateRejected.
 */
int attack_state_load(struct attack *a, const char *path, uint64_t now_ms,
                      struct attack_restore *res);

/*
 * The counters; the hook_* fields and the ring's (records_dropped,
 * records_sampled, sampling) are 0: their owners fill them.
 */
void attack_stats_get(const struct attack *a, struct attack_stats *out);

/*
 * The rates of one host in the last evaluated window (for tests and the
 * dashboard): rates[dir][class][metric]. Returns 0, or -ENOENT when the
 * host has no entry.
 */
int attack_host_rates(const struct attack *a, uint32_t site, const struct flow_addr *ip,
                      double rates[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][ATTACK_METRIC__COUNT]);

/*
 * The hook: one thread that runs cfg->hook with an event's JSON on its
 * standard input, one event at a time, killing it after hook_timeout_ms.
 * A failure (cannot start, non-zero exit, killed) is logged and counted;
 * nothing ever waits for the hook on the caller's thread.
 */
#define ATTACK_HOOK_QUEUE 64        /* events waiting for the hook; more are dropped, counted */
#define ATTACK_HOOK_TIMEOUT_MS 5000 /* a time-out of 0 means this */

struct attack_hook;

/*
 * Start the hook thread for command (copied; "" or NULL: no hook, the
 * thread waits idle until attack_hook_set() gives it one). Returns 0,
 * -EINVAL (command of ATTACK_HOOK_MAX bytes or more), -ENOMEM or -errno of
 * pthread_create; *out is NULL on an error.
 */
int attack_hook_start(const char *command, uint32_t timeout_ms, struct attack_hook **out);

/*
 * Replace the command (copied; "" or NULL: no hook) and the time-out (0:
 * ATTACK_HOOK_TIMEOUT_MS) from the next run on; a run in progress ends
 * with the command it started with. Events already queued run with the
 * new command (with "" they are let go, not counted). Any thread. Returns
 * 0, or -EINVAL (command too long) with the old command kept.
 */
int attack_hook_set(struct attack_hook *h, const char *command, uint32_t timeout_ms);

/*
 * Queue json (copied, len bytes) for the hook. Never blocks. Returns 0, or
 * -ENOSPC when ATTACK_HOOK_QUEUE events wait already (counted in
 * hook_dropped), -ENOMEM. NULL hook or no command: 0, nothing done or
 * counted.
 */
int attack_hook_submit(struct attack_hook *h, const char *json, size_t len);

/* Wait until every queued event has been handed to a run that ended. */
void attack_hook_drain(struct attack_hook *h);

/* Drain, stop the thread, free. NULL is a no-op. */
void attack_hook_stop(struct attack_hook *h);

/* Fill the hook_* fields of *st (others untouched). NULL hook: leaves them. */
void attack_hook_stats_get(struct attack_hook *h, struct attack_stats *st);

#endif
