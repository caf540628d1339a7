/*
 * Private to src/attack/: what the restart state (state.c) needs of the
 * detector (attack.c) without seeing its tables. Not an API.
 */
#ifndef NFSENTRY_ATTACK_INTERNAL_H
#define NFSENTRY_ATTACK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nfsentry/attack.h"

/* One open event as saved: the public view, its site by name, its quiet count. */
struct attack_saved {
	char site[SITE_NAME_MAX];
	struct attack_event ev; /* ev.site is NULL; the lists hold the heaviest entries */
	uint8_t below;          /* evaluations below in a row at the save */
	uint64_t quiet_from_ms; /* the first second of those, or the save's when none */
};

/* Copy up to max open events into out (owned by the caller). Returns how many. */
size_t attack_saved_get(struct attack *a, struct attack_saved *out, size_t max);

/*
 * Take one saved event back (sv borrowed): 1 open again, 0 ended now (saved
 * more than ATTACK_RESUME_MAX_S before now_ms; one ATTACK_END callback),
 * -ENOENT (no such site), -ENOSPC (no event or host room), -EEXIST (that
 * host's direction and class has an event already). Starts the clock at
 * now_ms when it has none.
 */
int attack_saved_put(struct attack *a, const struct attack_saved *sv, uint64_t saved_at_ms,
                     uint64_t now_ms);

/* Count one refused restart state (attackStateRejected). */
void attack_state_rejected(struct attack *a);

#endif
