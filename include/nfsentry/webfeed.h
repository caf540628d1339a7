/*
 * webfeed: what the web server shows of the running collector, published by
 * the modules that own it so that the server's threads never read a live
 * structure of another thread (docs/api.md, /metrics and the collector page).
 *
 * Three owners publish, each on its own thread:
 *  - the loop thread calls web_feed_refresh() (run: every second). It takes
 *    a snapshot of every counter source added (decoder, engine, UDP
 *    listeners, closer, shipper), the decoder's exporters and the devices'
 *    last polls into private buffers, then swaps them with the published
 *    ones under the feed's mutex. Nothing is measured per record.
 *  - the closer's worker calls web_feed_sink() (a closer_sink) for every
 *    judged slot: per-site facts (when it closed, array sizes, caps hit,
 *    labels per label) and an immutable copy of the slot's conversations
 *    (struct web_feed_slot), swapped whole and reference-counted.
 *  - readers (the web server's threads) format under the mutex
 *    (web_feed_prometheus, web_feed_collector_json) or take a reference to
 *    the latest slot (web_feed_latest) and read it without any lock.
 *
 * Not this module's job: serving HTTP (web.c), the store's counters (the
 * web server reads them through its own connection), deciding what a label
 * means (judge.h).
 */
#ifndef NFSENTRY_WEBFEED_H
#define NFSENTRY_WEBFEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"
#include "nfsentry/doc.h"
#include "nfsentry/flow.h"
#include "nfsentry/judge.h"
#include "nfsentry/site.h"
#include "nfsentry/slot.h"

struct attack_live;
struct decoder;
struct l2poll;

#define WEB_FEED_SOURCES_MAX 12     /* counter tables published (run: up to 7) */
#define WEB_FEED_EXPORTERS_MAX 1024 /* exporters listed; the count says how many exist */
#define WEB_FEED_DEVICES_MAX 1024   /* devices whose last poll is listed */
#define WEB_FEED_REFRESH_MS 1000    /* web_feed_refresh() publishes at most this often */
#define WEB_FEED_PEERS_MAX 10000    /* peers one web_feed_peers_json() answer lists */

struct web_feed_opts {
	const struct site_config *sites; /* borrowed: must outlive the feed */
	size_t n_sites;
	const struct decoder *dec; /* borrowed; read on the refresh caller's thread only */
	struct l2poll *l2;         /* borrowed, or NULL */
	/*
	 * Entries of the live attack table (attacklive.h) the feed owns, so
	 * that /api/v1/attacks shows an attack before its slot is stored;
	 * 0: none (attacks come from the store only).
	 */
	size_t attack_live_entries;
};

struct web_feed;

/* A new feed; nothing is published until the first refresh or slot. 0 or -ENOMEM. */
int web_feed_create(const struct web_feed_opts *o, struct web_feed **out);

/* Free the feed (every reference to a slot must be put first). NULL ok. */
void web_feed_destroy(struct web_feed *f);

/*
 * The feed's live attack table (owned by the feed, freed with it), or NULL
 * (none, or f NULL). The pipeline puts attack documents into it
 * (pipeline_opts.attack_live); web_feed_sink() forgets the ended events of
 * each stored slot; /api/v1/attacks reads it.
 */
struct attack_live *web_feed_attacks(struct web_feed *f);

/* The decoder whose exporters are published (set before the first refresh). */
void web_feed_decoder_set(struct web_feed *f, const struct decoder *dec);

/*
 * Publish table t, filled by fn(ud, stats) at each refresh (on the refresh
 * caller's thread). t and ud are borrowed. Add before the first refresh.
 * Returns 0, -ENOSPC past WEB_FEED_SOURCES_MAX, -ENOMEM.
 */
int web_feed_source_add(struct web_feed *f, const struct counter_table *t, counter_snapshot_fn fn,
                        void *ud);

/*
 * On the thread that owns the sources and the decoder (the loop): when at
 * least WEB_FEED_REFRESH_MS passed since the last publication (or force),
 * take every snapshot and publish it. now_ms: a monotonic or wall clock.
 * It does not wait for a reader that is formatting an answer: then it
 * publishes nothing, counts it (nfsentry_web_feed_refresh_deferred_total)
 * and returns false, so the next call tries again; only the fifth such
 * call in a row waits. Returns true when it published.
 */
bool web_feed_refresh(struct web_feed *f, uint64_t now_ms, bool force);

/*
 * closer_sink fn (closer.h): ud is the feed. Copies what it keeps; the
 * latest slot of the site is replaced whole. A copy that cannot be
 * allocated leaves the previous one and is counted (snapshot_failures).
 */
void web_feed_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                   const struct doc_batch *docs);

/*
 * Prometheus text format 0.0.4 of everything published, plus table xt over
 * xstats when xt is not NULL (the web server's store counters), into a new
 * buffer *out of *len bytes (caller frees). Returns 0 or -ENOMEM.
 */
int web_feed_prometheus(struct web_feed *f, const struct counter_table *xt, const void *xstats,
                        char **out, size_t *len);

/*
 * The collector page's JSON object (docs/api.md, /api/v1/collector), with
 * xt over xstats among its counters when xt is not NULL, into a new buffer
 * *out of *len bytes (caller frees). Returns 0 or -ENOMEM.
 */
int web_feed_collector_json(struct web_feed *f, const struct counter_table *xt, const void *xstats,
                            uint64_t now_ms, char **out, size_t *len);

/*
 * The site's handling advice ({"flood":"...", ...}, every label, from the
 * configuration) into a new buffer (caller frees). Returns 0, -ENOENT (no
 * such site) or -ENOMEM.
 */
int web_feed_advice_json(struct web_feed *f, const char *site, char **out, size_t *len);

/*
 * The configuration reload: the sites in force from now on are sites
 * (borrowed for the call; names and advice copied), sites[k] with the
 * site id ids[k] (engine.h, pipeline_site_id(): a site kept by name keeps
 * its id and its figures, an added one has a new id). The slots the sink
 * is given are filed by their site id; the sites not in sites are no
 * longer listed as configured (web_feed_site_name(), the collector's
 * "sites"), have no advice and leave the Prometheus text (their per-site
 * series; the collector-wide counters keep what they counted), and their
 * latest slot answers web_feed_latest() until a site of that name is
 * configured again. Returns 0, -EINVAL (an id < 0 or
 * >= ENGINE_MAX_SITE_IDS) or -ENOMEM (the sites in force stay). Any
 * thread.
 */
int web_feed_sites_set(struct web_feed *f, const struct site_config *sites, size_t n_sites,
                       const int64_t *ids);

/*
 * Copies into out the name of configured site i (0-based, in site id
 * order: the start's sites in the configuration's order, then the ones
 * reloads added) and returns true, or returns false past the last. Any
 * thread; the list changes with web_feed_sites_set().
 */
bool web_feed_site_name(struct web_feed *f, size_t i, char out[SITE_NAME_MAX]);

/* An immutable copy of a site's last judged slot's conversations. */
struct web_feed_slot;

/*
 * A reference to site's latest slot (NULL: unknown site, or no slot closed
 * since start). Put it with web_feed_slot_put(); it stays valid and
 * unchanged however many slots close meanwhile.
 */
struct web_feed_slot *web_feed_latest(struct web_feed *f, const char *site);
void web_feed_slot_put(struct web_feed_slot *s);
int64_t web_feed_slot_time(const struct web_feed_slot *s);

/*
 * The peers of ip in slot s as JSON into a new buffer (caller frees): the
 * n (1..WEB_FEED_PEERS_MAX) with the most octets both ways, largest first.
 * Returns 0, -ENOENT (ip has no conversation in the slot) or -ENOMEM.
 */
int web_feed_peers_json(const struct web_feed_slot *s, const struct flow_addr *ip, size_t n,
                        char **out, size_t *len);

#endif
