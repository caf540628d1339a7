/*
 * cfgreload: what a configuration reload (SIGHUP, docs/manual.md "Reloading
 * the configuration") may change, and when.
 *
 * cfgreload_compare() lists the keys whose values differ between the
 * running configuration and a newly loaded one, each with when a change
 * takes effect: at once (between two datagrams, on the loop thread: for
 * the module's next datagram, request, hook run or evaluation), at the
 * next slot (slots already open finish with the values they were opened
 * with) or only after a restart (the running value is kept). It only
 * compares; applying the changes is the caller's (main.c run_reload). The table
 * of keys is docs/configuration.md "Reloading".
 */
#ifndef NFSENTRY_CFGRELOAD_H
#define NFSENTRY_CFGRELOAD_H

#include <stddef.h>

#include "nfsentry/config.h"

enum cfgreload_when {
	/*
	 * log.level, exporters.allow and .sampling, sites[NAME].devices and
	 * .advice, advice, web.token_file, alerts, attack.thresholds
	 */
	CFGRELOAD_AT_ONCE = 0,
	/* sites[NAME] added or removed; sites[NAME].inside, thresholds, allow, peer_cap, caps */
	CFGRELOAD_NEXT_SLOT,
	CFGRELOAD_RESTART, /* everything else: the running value is kept */
};

/* A key is "sites[NAME].thresholds" at most: a site name and a short suffix. */
#define CFGRELOAD_KEY_MAX (SITE_NAME_MAX + 32)
/*
 * Changes listed at most. Top-level keys are about 30; five per site for
 * every site would be more, so a longer list is cut and says so (more).
 */
#define CFGRELOAD_MAX_CHANGES 64

struct cfgreload_change {
	char key[CFGRELOAD_KEY_MAX];
	enum cfgreload_when when;
};

struct cfgreload_diff {
	struct cfgreload_change v[CFGRELOAD_MAX_CHANGES];
	size_t n;
	size_t more; /* changes beyond CFGRELOAD_MAX_CHANGES, not listed */
};

/*
 * Fill *out (overwritten) with every key whose value differs between old
 * and new (both borrowed, unchanged), in the order of the configuration
 * file's sections. Sites are matched by name (their order does not
 * matter): a name only in old is "sites[NAME] removed", one only in new
 * "sites[NAME] added" (both next slot; a rename is both), and a site in
 * both lists sites[NAME].KEY per changed key. Going from sites to none or
 * from none to sites is the one key "sites" (restart): a configuration
 * without sites has no slot engine.
 */
void cfgreload_compare(const struct config *old, const struct config *new_cfg,
                       struct cfgreload_diff *out);

/* "at once", "next slot", "restart". */
const char *cfgreload_when_name(enum cfgreload_when w);

/*
 * Whether old and new hold the same sites in the same order with the same
 * names and inside prefixes: the site ids of both are the same (engine.h).
 */
bool cfgreload_sites_same_shape(const struct config *old, const struct config *new_cfg);

#endif
