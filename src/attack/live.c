/*
 * live: the table of the latest document of each attack event that the
 * store may not have yet. See attacklive.h.
 *
 * The table is a fixed array of entries, each with room for one document
 * (ATTACK_LIVE_DOC_MAX bytes, one allocation made at create), searched
 * linearly: events are few (at most max_events open) and each puts one
 * document per update interval, so a put costs a few microseconds at most
 * and the engine never waits for more than one reader's copy.
 */
#include "nfsentry/attacklive.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/fault.h"

struct entry {
	bool used;
	struct attack_live_doc d; /* d.json points into the entry's room */
};

struct attack_live {
	pthread_mutex_t mu;
	size_t cap;
	struct entry *v; /* cap entries */
	char *room;      /* cap * ATTACK_LIVE_DOC_MAX bytes: entry i owns the i-th part */
	struct attack_live_stats st;
};

int attack_live_create(size_t max_entries, struct attack_live **out)
{
	struct attack_live *l;

	if (max_entries == 0 || max_entries > ATTACK_LIVE_ENTRIES_MAX)
		return -EINVAL;
	l = fault_calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cap = max_entries;
	l->v = fault_calloc(max_entries, sizeof(*l->v));
	/* calloc of this size maps zero pages: only the entries used are touched. */
	l->room = fault_calloc(max_entries, ATTACK_LIVE_DOC_MAX);
	if (!l->v || !l->room || pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l->v);
		free(l->room);
		free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

void attack_live_destroy(struct attack_live *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->v);
	free(l->room);
	free(l);
}

/* The entry to fill for a new event: a free one, else the oldest ended one, else NULL. */
static struct entry *entry_take(struct attack_live *l)
{
	struct entry *old = NULL;

	for (size_t i = 0; i < l->cap; i++) {
		struct entry *e = &l->v[i];
		if (!e->used)
			return e;
		if (e->d.ended && (!old || e->d.time_slot < old->d.time_slot))
			old = e;
	}
	if (old) {
		old->used = false;
		l->st.evicted++;
		l->st.entries--;
	}
	return old;
}

void attack_live_put(struct attack_live *l, const char *site, const char *id, uint32_t seq,
                     bool ended, int64_t time_slot, const char *json, size_t len)
{
	struct entry *e = NULL;

	pthread_mutex_lock(&l->mu);
	l->st.docs++;
	if (len > ATTACK_LIVE_DOC_MAX) {
		l->st.too_large++;
		goto out;
	}
	for (size_t i = 0; i < l->cap; i++) {
		struct entry *x = &l->v[i];
		if (x->used && strcmp(x->d.id, id) == 0 && strcmp(x->d.site, site) == 0) {
			e = x;
			break;
		}
	}
	if (e && e->d.seq >= seq) {
		l->st.stale++;
		goto out;
	}
	if (!e) {
		e = entry_take(l);
		if (!e) {
			l->st.full++;
			goto out;
		}
		size_t i = (size_t)(e - l->v);
		memset(&e->d, 0, sizeof(e->d));
		snprintf(e->d.site, sizeof(e->d.site), "%s", site);
		snprintf(e->d.id, sizeof(e->d.id), "%s", id);
		e->d.json = l->room + i * ATTACK_LIVE_DOC_MAX;
		e->used = true;
		l->st.entries++;
	}
	e->d.seq = seq;
	e->d.ended = ended;
	e->d.time_slot = time_slot;
	memcpy(l->room + (size_t)(e - l->v) * ATTACK_LIVE_DOC_MAX, json, len);
	e->d.len = len;
out:
	pthread_mutex_unlock(&l->mu);
}

void attack_live_stored(struct attack_live *l, const char *site, int64_t time_slot)
{
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->cap; i++) {
		struct entry *e = &l->v[i];
		if (e->used && e->d.ended && e->d.time_slot <= time_slot &&
		    strcmp(e->d.site, site) == 0) {
			e->used = false;
			l->st.entries--;
		}
	}
	pthread_mutex_unlock(&l->mu);
}

int attack_live_snapshot(struct attack_live *l, struct attack_live_doc **out, size_t *n)
{
	size_t m = 0, bytes = 0;
	struct attack_live_doc *v = NULL;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->cap; i++) {
		if (l->v[i].used) {
			m++;
			bytes += l->v[i].d.len + 1;
		}
	}
	/* At most cap * (entry + ATTACK_LIVE_DOC_MAX + 1) bytes: bounded by the table. */
	if (m)
		v = fault_malloc(m * sizeof(*v) + bytes);
	if (m && !v) {
		pthread_mutex_unlock(&l->mu);
		return -ENOMEM;
	}
	char *p = (char *)(v + m);
	size_t k = 0;
	for (size_t i = 0; i < l->cap && k < m; i++) {
		if (!l->v[i].used)
			continue;
		v[k] = l->v[i].d;
		memcpy(p, l->v[i].d.json, l->v[i].d.len);
		p[l->v[i].d.len] = '\0';
		v[k].json = p;
		p += l->v[i].d.len + 1;
		k++;
	}
	pthread_mutex_unlock(&l->mu);
	*out = v;
	*n = m;
	return 0;
}

void attack_live_stats_get(void *ud, void *stats)
{
	struct attack_live *l = ud;

	pthread_mutex_lock(&l->mu);
	memcpy(stats, &l->st, sizeof(l->st));
	pthread_mutex_unlock(&l->mu);
}

/* clang-format off */
static const struct counter_def attack_live_counter_defs[] = {
    COUNTER_DEF(attack_live_stats, docs, "attackLiveDocs", COUNTER_TOTAL,
                "Attack documents put into the dashboard's live table."),
    COUNTER_DEF(attack_live_stats, stale, "attackLiveStale", COUNTER_TOTAL,
                "Attack documents not newer than the one kept for their event: ignored."),
    COUNTER_DEF(attack_live_stats, too_large, "attackLiveTooLarge", COUNTER_TOTAL,
                "Attack documents too long for the live table: shown once their slot is stored."),
    COUNTER_DEF(attack_live_stats, full, "attackLiveFull", COUNTER_TOTAL,
                "Attack events that found the live table full: shown once their slot is stored."),
    COUNTER_DEF(attack_live_stats, evicted, "attackLiveEvicted", COUNTER_TOTAL,
                "Ended attack events forgotten by the live table before their slot was stored."),
    COUNTER_DEF(attack_live_stats, entries, "attackLiveEntries", COUNTER_GAUGE,
                "Attack events in the dashboard's live table."),
};
/* clang-format on */
_Static_assert(sizeof(attack_live_counter_defs) / sizeof(attack_live_counter_defs[0]) *
                       sizeof(uint64_t) ==
                   sizeof(struct attack_live_stats),
               "one counter per field of struct attack_live_stats");

const struct counter_table attack_live_counters =
    COUNTER_TABLE("attacklive", attack_live_counter_defs, attack_live_stats);
