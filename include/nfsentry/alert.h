/*
 * alert: what the collector says when a slot closes with labelled IPs
 * (docs/alerts.md).
 *
 * A closer sink (alert_sink) gets every judged slot. For each labelled IP it
 * logs one warn line of key=value fields (site, slot, kind, ip, labels, and
 * per label the figure and the threshold it crossed); with a hook
 * configured it builds a JSON summary of the slot's new verdicts (the
 * labels not already sent for that (site, ip, label) within rate_limit_s of
 * slot time) and queues it for the hook thread.
 *
 * The hook runs on its own thread, one at a time, without a shell (argv as
 * configured), the summary on its standard input, in its own process group;
 * past timeout_s the group is killed (SIGKILL). The queue is bounded
 * (ALERT_QUEUE_MAX summaries): when full the new summary is dropped and
 * counted, so the closer never waits for a hook. Failures (cannot start,
 * non-zero exit, killed, time-out) are logged and counted; nothing stops
 * the collector.
 *
 * Not this module's job: deciding labels (judge.h), the documents.
 */
#ifndef NFSENTRY_ALERT_H
#define NFSENTRY_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"
#include "nfsentry/doc.h"
#include "nfsentry/judge.h"
#include "nfsentry/slot.h"

#define ALERT_ARGV_MAX 16       /* alerts.hook entries, the program included */
#define ALERT_ARG_MAX 1024      /* bytes of one entry, NUL included */
#define ALERT_QUEUE_MAX 8       /* summaries waiting for the hook */
#define ALERT_VERDICTS_MAX 1000 /* verdicts in one summary; the rest counted in "omitted" */
#define ALERT_LOG_MAX 200       /* warn lines per slot; then one line says how many more */
#define ALERT_RATE_SLOTS 65536  /* (site, ip, label) remembered for the rate limit */

/* alerts: section of the configuration (docs/configuration.md). Inline, copyable. */
struct alert_config {
	char hook[ALERT_ARGV_MAX][ALERT_ARG_MAX]; /* argv; hook[0] an absolute path */
	size_t n_hook;                            /* 0: no hook (the warn lines still come) */
	uint32_t timeout_s;                       /* default 10; the hook is killed past it */
	uint32_t rate_limit_s;                    /* default 3600, per (site, ip, label) */
};

/* Fill *c with the defaults (no hook). */
void alert_config_defaults(struct alert_config *c);

struct alert_stats {
	uint64_t logged;          /* warn lines, one per labelled IP */
	uint64_t log_suppressed;  /* labelled IPs past ALERT_LOG_MAX in a slot (not logged) */
	uint64_t verdicts;        /* (ip, label) verdicts put in summaries */
	uint64_t rate_limited;    /* verdicts left out: sent within rate_limit_s */
	uint64_t rate_table_full; /* verdicts sent but not remembered: the table was full */
	uint64_t summaries;       /* summaries queued for the hook */
	uint64_t queue_dropped;   /* summaries dropped: the queue was full */
	uint64_t hook_runs;       /* hooks started */
	uint64_t hook_ok;         /* exited 0 in time */
	uint64_t hook_failures;   /* could not start, exited non-zero or by a signal */
	uint64_t hook_timeouts;   /* killed at timeout_s */
};

/* struct alert_stats described (counter.h), every field. */
extern const struct counter_table alert_counters;

struct alerter;

/*
 * Start: copies c; starts the hook thread (idle without a hook). Returns 0, -EINVAL
 * (a hook without an absolute program path), -ENOMEM or -errno from
 * pthread; nothing runs on failure.
 */
int alert_start(const struct alert_config *c, struct alerter **out);

/*
 * The configuration reload: copy c (borrowed for the call) as the one in
 * force from now on. The next hook run uses its hook and timeout_s (a
 * summary already queued too; a run in progress finishes with the old
 * ones); the next slot's summary uses its rate_limit_s against the
 * verdicts already remembered; without a hook no summary is made from the
 * next slot on. Returns 0, or -EINVAL as alert_start() (nothing changed).
 * Any thread but a sink's.
 */
int alert_config_set(struct alerter *a, const struct alert_config *c);

/*
 * Run the summaries still queued (each bounded by timeout_s), stop the
 * thread, log the totals that are not 0 ("alert: alertsLogged=N ...") and
 * free. NULL ok.
 */
void alert_stop(struct alerter *a);

/* closer_sink fn (closer.h); ud is the alerter. Never waits for a hook. */
void alert_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                const struct doc_batch *docs);

/* A consistent copy of the counters (any thread). */
void alert_stats_get(const struct alerter *a, struct alert_stats *out);

/*
 * For tests and the sink: the JSON summary of v's verdicts that the rate
 * limit lets through (recording them), into a new NUL-terminated buffer
 * (*out, caller frees; NULL when there is no new verdict). Returns 0 or
 * -ENOMEM.
 */
int alert_summary(struct alerter *a, const struct slot_view *v, char **out);

/* Wait until the hook thread has run every queued summary (tests). */
void alert_flush(struct alerter *a);

#endif
