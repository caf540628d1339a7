/*
 * reputation: rule III of METHOD §5 -- the network-wide database of
 * malicious outside IPs (array C of every site, accumulated), automatic
 * blocking with escalation for repeat offenders, the block-list file, the
 * block/unblock hook, and "where else it struck" (以點及面): the footprint
 * of every watched IP on every exporter, records of no site included.
 *
 * Two threads use one struct reputation, each through its own functions:
 *
 *   - the closer's worker (reputation_slot_sink(), a closer sink): each
 *     judged slot's array C goes into the database (its own SQLite file),
 *     blocks are given and expire, the block-list file is rewritten, hook
 *     events are queued, the watch list is rebuilt and published, and the
 *     network slot (pseudo-site REPUTATION_SITE: `reputation` and
 *     `footprint` documents) is written to the store;
 *   - the loop thread (reputation_records(), reputation_clock(),
 *     reputation_flush(), called by the pipeline through its record
 *     observer): records whose source or destination is watched are summed
 *     into the footprint of the open slot; slots past their grace period are
 *     handed to the worker.
 *
 * The watch list is an immutable hash set built on the worker and handed to
 * the loop by one atomic pointer exchange; the loop frees the set it stops
 * using, the worker frees a set the loop never took. Footprint slots go the
 * other way through a mutex taken once per slot. The hook runs on a thread
 * of its own (a bounded queue; each run bounded by a time-out), so neither
 * the loop nor the closer ever waits for it.
 *
 * Time is slot time: every decision about slot k is taken at the end of the
 * slot, (k + 1) * 300 s, so a replayed capture builds the same database as
 * the live run did. docs/offenders.md is the operator's page,
 * docs/internals/reputation.md the design.
 */
#ifndef NFSENTRY_REPUTATION_H
#define NFSENTRY_REPUTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nfsentry/counter.h"
#include "nfsentry/flow.h"
#include "nfsentry/site.h"

struct slot_view;
struct judge_result;
struct doc_batch;

/* The pseudo-site under which the network-wide documents are stored. */
#define REPUTATION_SITE "_network"

/* Bytes of a configured path, NUL included (PATH_MAX on Linux). */
#define REPUTATION_PATH_MAX 4096
/* Most operator allow-list entries (reputation.allow). */
#define REPUTATION_ALLOW_MAX 4096

/* Per watched IP and slot, at most this many of each (more are counted). */
#define REPUTATION_FP_EXPORTERS 8
#define REPUTATION_FP_PREFIXES 64
#define REPUTATION_FP_PORTS 32
#define REPUTATION_FP_PROTOS 8
#define REPUTATION_FP_SITES 16

/*
 * The reputation: section (docs/configuration.md); defaults in
 * reputation_config_defaults(). The allow array is owned by whoever filled
 * the struct (the configuration frees it).
 */
struct reputation_config {
	bool enabled;                   /* default true (with sites) */
	char path[REPUTATION_PATH_MAX]; /* database; "" = reputation.db beside the store */
	char blocklist_path[REPUTATION_PATH_MAX]; /* "" = blocklist.txt beside the store */
	uint32_t block_labels;     /* bit (1u << enum judge_label) per label that blocks */
	uint32_t min_offences;     /* offending slots within memory_s before a block; default 1 */
	uint32_t block_base_s;     /* first block; default 3600 */
	uint32_t block_factor;     /* each repeat multiplies by this; default 4 */
	uint32_t block_max_s;      /* longest block; default 2592000 (30 days) */
	uint32_t memory_s;         /* a repeat is an offence within this of the last block's
	                              end; also how long an unblocked record is kept; default
	                              2592000 */
	uint32_t history_max;      /* offences kept per IP (oldest dropped); default 32 */
	uint32_t max_offenders;    /* records in the database; default 1000000 */
	struct site_prefix *allow; /* operator allow-list: never blocked */
	size_t n_allow;
	char hook[REPUTATION_PATH_MAX]; /* program run on block/unblock; "" = none */
	uint32_t hook_timeout_s;        /* a run is killed after this; default 10 */
	uint32_t hook_queue;            /* events waiting for the hook; default 1024 */
	uint32_t watch_window_s;        /* in C this recently: watched; default 86400 */
	uint32_t watch_max;             /* watched IPs at most; default 65536 */
	uint32_t footprint_max;         /* watched IPs with a footprint per slot; default 4096 */
};

/* The documented defaults (noPayload alone does not block). */
void reputation_config_defaults(struct reputation_config *c);

/*
 * Parse a label name that may block ("scan", "flood", "probeUnused",
 * "arpUnused", "noPayload") into its bit. Returns 0 or -EINVAL.
 */
int reputation_label_bit(const char *name, uint32_t *bit);

/* The database file and the block-list file cfg names, resolved against store_path. */
void reputation_paths(const struct reputation_config *cfg, const char *store_path, char *db,
                      size_t db_len, char *blocklist, size_t bl_len);

/* ---- the database (its own SQLite file) -------------------------------- */

/*
 * One offender as stored. The JSON strings are the database's text,
 * valid only during the callback that receives the entry.
 */
struct reputation_entry {
	char ip[48];
	int64_t first_slot, last_slot; /* first and last slot it was in C anywhere */
	uint64_t offences;             /* distinct slots in which it was in C */
	uint32_t strikes;              /* repeats counted into the current/last block */
	uint32_t blocks;               /* blocks given */
	bool blocked;
	bool exempt;              /* inside a site, on an allow list: never blocked */
	int64_t blocked_until_s;  /* end of the current (or last) block, Unix s; 0 = never */
	const char *reason;       /* why the current/last block was given */
	const char *labels_json;  /* ["scan",...]: every label seen */
	const char *sites_json;   /* {"site":{"slots":N,"last":K},...} */
	const char *history_json; /* [{"timeSlot":K,"site":S,"labels":[...]},...] bounded */
};

struct reputation_db;

/*
 * Open (creating when missing and not read_only) the database at path; its
 * parent directory is created (0750, one level) when missing. ":memory:"
 * is a database that lives as long as the handle (replay --no-store).
 * Returns 0 or a negative code with err filled ("reputation PATH: ...").
 */
int reputation_db_open(const char *path, bool read_only, struct reputation_db **out, char *err,
                       size_t errlen);
void reputation_db_close(struct reputation_db *db);

/*
 * Call fn for each entry, by address text; only blocked ones when
 * blocked_only, only ip when ip is not NULL. fn returns 0 to go on. Returns
 * 0, fn's non-zero value, or a negative code.
 */
int reputation_db_foreach(struct reputation_db *db, bool blocked_only, const char *ip,
                          int (*fn)(void *ud, const struct reputation_entry *e), void *ud);

/* One entry as a JSON line (no newline) into out; the --json of `offenders`. */
int reputation_entry_json(const struct reputation_entry *e, char *out, size_t len);

/*
 * The block-list text: a comment header (generation time now_s, counts)
 * then one blocked address per line, sorted. For the file and for the web
 * (/blocklist.txt). Returns 0 or a negative code (-EIO from out).
 */
int reputation_blocklist_write(struct reputation_db *db, int64_t now_s, FILE *out);

/* ---- the running module -------------------------------------------------- */

struct reputation_stats {
	uint64_t slots;                 /* judged slots taken in */
	uint64_t offences;              /* (IP, site, slot) offences recorded */
	uint64_t offences_repeated;     /* skipped: that site's slot was recorded before */
	uint64_t exempt;                /* offences of never-blocked addresses */
	uint64_t blocks;                /* blocks given */
	uint64_t repeat_blocks;         /* of those, escalated repeats */
	uint64_t unblocks;              /* blocks expired */
	uint64_t blocked;               /* gauge: blocked now */
	uint64_t offenders;             /* gauge: records in the database */
	uint64_t offenders_refused;     /* new records refused at max_offenders */
	uint64_t db_errors;             /* database statements that failed */
	uint64_t blocklist_writes;      /* block-list files written */
	uint64_t blocklist_errors;      /* block-list files not written */
	uint64_t hook_runs;             /* hook runs finished */
	uint64_t hook_failures;         /* exit status not 0, or could not start */
	uint64_t hook_timeouts;         /* killed at hook_timeout_s */
	uint64_t hook_dropped;          /* events dropped at a full hook queue */
	uint64_t watched;               /* gauge: IPs on the published watch list */
	uint64_t watch_over_cap;        /* watch candidates left off at watch_max */
	uint64_t watch_waits_timed_out; /* replay: a watch list not published in time */
	uint64_t footprint_records;     /* records summed into footprints (loop thread) */
	uint64_t footprint_over_cap;    /* records of watched IPs beyond footprint_max */
	uint64_t footprint_docs;        /* footprint documents written */
	uint64_t network_slots;         /* network slots written to the store */
	uint64_t store_errors;          /* network slots the store refused */
};

/* struct reputation_stats described (counter.h), every field. */
extern const struct counter_table reputation_counters;

struct store;

struct reputation_opts {
	const struct reputation_config *cfg; /* borrowed, must outlive the module */
	const struct site_config *sites;     /* borrowed, must outlive the module */
	size_t n_sites;
	const char *db_path;        /* borrowed; the database file */
	const char *blocklist_path; /* borrowed; NULL = no file */
	const char *store_path;     /* borrowed; network slots go here; NULL = not stored */
	bool run_hook;              /* false: hook events are only counted (replay) */
	uint64_t grace_ms;          /* footprint slots close as the engine's do */
	FILE *docs_out;             /* borrowed; network documents as JSON lines, or NULL */
	/*
	 * Replay: once a footprint slot closes, the next reputation_records()
	 * waits (at most REPUTATION_REPLAY_WAIT_S) until every site's slot of
	 * that time is judged and the watch list published, so footprints do
	 * not depend on how fast the closer runs. Live never waits.
	 */
	bool wait_for_watch;
};

/* Longest a replay waits for a slot's watch list before going on (counted). */
#define REPUTATION_REPLAY_WAIT_S 30

struct reputation;

/*
 * Open the database, the store connection and the hook thread. Returns 0
 * or a negative code with err filled; nothing is left open on failure.
 */
int reputation_open(const struct reputation_opts *o, struct reputation **out, char *err,
                    size_t errlen);

/*
 * Write what is pending (network slots, including footprints detached by
 * reputation_flush()), stop the hook thread (waiting for the run in
 * progress, at most its time-out) and free. Call after the closer stopped
 * and from the loop's thread after its last reputation_records(). NULL ok.
 */
void reputation_close(struct reputation *r);

/*
 * Write the network slots still waiting for sites (and every footprint slot
 * handed over) to the store now. Only while no sink call can run: after
 * pipeline_close_slots() (the closer drained, nothing more to come), before
 * the shipper's last drain.
 */
void reputation_pending_write(struct reputation *r);

/*
 * The configuration reload: what is never blocked becomes every inside
 * prefix and allow address of sites and cfg->allow (reputation.allow), all
 * copied (borrowed for the call). The worker takes it at its next slot:
 * offences from then on are judged with it, and before that slot's
 * offences every row blocked or marked exempt is gone through: a blocked
 * address now exempt is unblocked (an unblock event for the hook and the
 * block-list), one no longer exempt can be blocked again. Returns 0, or
 * -ENOMEM with the exemptions in force kept. Loop thread (any thread but
 * the worker's sink).
 */
int reputation_exempt_set(struct reputation *r, const struct site_config *sites, size_t n_sites,
                          const struct reputation_config *cfg);

/*
 * The configuration reload of reputation.hook and reputation.hook_timeout_s
 * (copied from cfg; the rest of cfg is not looked at): the hook thread
 * (started whenever run_hook was set, also without a program) runs the new
 * program from its next run on; a run in progress finishes with the one it
 * started with; events already queued run with the new one, or with "" are
 * let go uncounted; "" queues nothing more. Without run_hook nothing runs
 * either way. The queue of events (reputation.hook_queue of them) is
 * allocated with the first program, at open or here, and kept. Any thread.
 * Returns 0, or -EINVAL (cfg->hook not terminated) or -ENOMEM (no memory
 * for the queue) with the program in force kept.
 */
int reputation_hook_set(struct reputation *r, const struct reputation_config *cfg);

/* closer_sink fn: ud is the struct reputation (closer.h). Worker thread. */
void reputation_slot_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                          const struct doc_batch *docs);

/*
 * Loop thread: sum the records whose source or destination is watched into
 * the footprint of their export slot. Costs one atomic load per call and,
 * when anything is watched, per record one filter word and one pattern read
 * for each end (src/reputation/watch.h).
 */
void reputation_records(void *ud, const struct flow *v, size_t n);

/* Loop thread: the collector's clock (as the engine's); hands closed footprint slots on. */
void reputation_clock(void *ud, uint64_t now_ms);

/* Loop thread: hand every open footprint slot on (end of replay, SIGTERM). */
void reputation_flush(void *ud);

/* A consistent copy of the counters. Any thread. */
void reputation_stats_get(struct reputation *r, struct reputation_stats *out);

/* ---- the hook ---------------------------------------------------------- */

/* One block or unblock, as the hook gets it. */
struct reputation_event {
	bool block; /* false: unblock */
	char ip[48];
	char reason[384];
	char labels[128];   /* comma-separated */
	char sites[256];    /* comma-separated */
	int64_t duration_s; /* block: its length; unblock: how long it lasted */
	int64_t until_s;    /* block: its end; unblock: now */
};

/*
 * Run program once for ev, as the hook thread does: argv = program,
 * "block"|"unblock", ip, duration_s, reason, labels, sites; environment
 * NFSENTRY_ACTION, NFSENTRY_IP, NFSENTRY_REASON, NFSENTRY_LABELS,
 * NFSENTRY_SITES, NFSENTRY_DURATION_S, NFSENTRY_UNTIL (ISO 8601) added to
 * the collector's. Standard input is /dev/null; output goes to the
 * collector's standard error. Killed (its process group, SIGKILL) after
 * timeout_ms. Returns 0 (exit status 0), -ETIMEDOUT, -ECHILD (other exit
 * status or a signal; *status holds the wait status) or -errno (could not
 * start).
 */
int reputation_hook_run(const char *program, const struct reputation_event *ev, uint64_t timeout_ms,
                        int *status);

#endif
