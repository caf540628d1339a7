/*
 * engine: site match, slot choice and the slot clock. See engine.h.
 */
#include "nfsentry/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "nfsentry/log.h"
#include "nfsentry/prefix.h"

#define SLOT_MS ((uint64_t)SLOT_SECONDS * 1000u)


struct site_state {
	struct slot *cur;  /* open slot for cur_k */
	struct slot *prev; /* previous slot, open during its grace period */
	int64_t cur_k, prev_k;
};

struct engine {
	const struct site_config *sites;
	size_t n_sites;
	struct site_state *st;
	struct prefix_table *pt;
	uint64_t grace_ms;
	uint64_t now_ms; /* 0 until the first clock */
	uint64_t seed;
	engine_close_fn close_fn;
	void *ud;
	struct engine_stats stats;
	struct slot_pipe *pipe; /* records on their way into the slots (slot.h) */
};

int engine_create(const struct site_config *sites, size_t n_sites, uint64_t grace_ms,
                  engine_close_fn close_fn, void *ud, struct engine **out, char *err,
                  size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	int rc = -ENOMEM;

	if (!e)
		goto fail;
	e->sites = sites;
	e->n_sites = n_sites;
	e->grace_ms = grace_ms;
	e->close_fn = close_fn;
	e->ud = ud;
	e->st = calloc(n_sites ? n_sites : 1, sizeof(*e->st));
	e->pt = prefix_table_create();
	e->pipe = slot_pipe_create();
	if (!e->st || !e->pt || !e->pipe)
		goto fail;
	if (getrandom(&e->seed, sizeof(e->seed), 0) != sizeof(e->seed))
		e->seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)e;
	for (size_t k = 0; k < n_sites; k++) {
		for (size_t j = 0; j < sites[k].n_inside; j++) {
			const struct site_prefix *p = &sites[k].inside[j];
			rc = prefix_table_add(e->pt, &p->addr, p->len, (uint32_t)k);
			if (rc != 0) {
				char a[64];
				flow_addr_format(&p->addr, a, sizeof(a));
				snprintf(err, errlen, "site %s: inside prefix %s/%u: %s", sites[k].name,
				         a, flow_addr_is_v4(&p->addr) ? p->len - 96u : p->len,
				         rc == -EEXIST ? "already belongs to another site"
				                       : strerror(-rc));
				goto fail;
			}
		}
	}
	rc = prefix_table_build(e->pt);
	if (rc != 0)
		goto fail;
	*out = e;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory building the site table");
	engine_destroy(e);
	return rc;
}

void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	for (size_t k = 0; e->st && k < e->n_sites; k++) {
		slot_destroy(e->st[k].cur);
		slot_destroy(e->st[k].prev);
	}
	free(e->st);
	prefix_table_destroy(e->pt);
	slot_pipe_destroy(e->pipe);
	free(e);
}

static void close_slot(struct engine *e, struct slot **sp, uint32_t site)
{
	struct slot *s = *sp;

	*sp = NULL;
	if (!s)
		return;
	slot_pipe_drain(e->pipe); /* the slot leaves with every record it was given */
	e->stats.slots_closed++;
	e->close_fn(e->ud, s, site);
}

/* Open slot k for a site; counts the failure when memory is short. */
static struct slot *open_slot(struct engine *e, uint32_t site, int64_t k)
{
	struct slot *s = slot_create(&e->sites[site], site, k, e->seed);

	if (!s)
		e->stats.alloc_failures++;
	return s;
}

/* Bring one site's slots up to clock slot c at time now. */
static void site_advance(struct engine *e, uint32_t site, int64_t c, uint64_t now)
{
	struct site_state *st = &e->st[site];

	if (!st->cur && st->cur_k == 0) {
		/* First clock: open the current slot. */
		st->cur_k = c;
		st->cur = open_slot(e, site, c);
	}
	if (c > st->cur_k) {
		/* The previous slot's grace is certainly over: it closes. */
		close_slot(e, &st->prev, site);
		if (c == st->cur_k + 1) {
			st->prev = st->cur;
			st->prev_k = st->cur_k;
		} else {
			close_slot(e, &st->cur, site);
			int64_t gap = c - st->cur_k - 1;
			if (gap <= ENGINE_MAX_GAP_SLOTS) {
				/* Empty slots in between: each site reports every slot. */
				for (int64_t k = st->cur_k + 1; k < c - 1; k++) {
					struct slot *empty = open_slot(e, site, k);
					close_slot(e, &empty, site);
				}
				st->prev = open_slot(e, site, c - 1);
				st->prev_k = c - 1;
			} else {
				e->stats.slots_skipped += (uint64_t)gap;
			}
		}
		st->cur_k = c;
		st->cur = open_slot(e, site, c);
	}
	if (st->prev && now >= (uint64_t)(st->prev_k + 1) * SLOT_MS + e->grace_ms)
		close_slot(e, &st->prev, site);
}

void engine_clock(struct engine *e, uint64_t now_ms)
{
	if (now_ms <= e->now_ms)
		return;
	int64_t c_old = (int64_t)(e->now_ms / SLOT_MS);
	int64_t c = (int64_t)(now_ms / SLOT_MS);
	bool first = e->now_ms == 0;
	e->now_ms = now_ms;
	/* Within a slot, only a grace period can end. */
	if (!first && c == c_old) {
		for (size_t k = 0; k < e->n_sites; k++)
			if (e->st[k].prev &&
			    now_ms >= (uint64_t)(e->st[k].prev_k + 1) * SLOT_MS + e->grace_ms)
				close_slot(e, &e->st[k].prev, (uint32_t)k);
		return;
	}
	for (size_t k = 0; k < e->n_sites; k++)
		site_advance(e, (uint32_t)k, c, now_ms);
}

/* The slot a record of export slot k goes to, counting late/future. */
static struct slot *pick_slot(struct engine *e, struct site_state *st, int64_t k)
{
	if (k == st->cur_k && st->cur)
		return st->cur;
	if (st->prev && k == st->prev_k)
		return st->prev;
	struct slot *s = st->cur ? st->cur : st->prev;
	if (s)
		slot_count_late(s, k > st->cur_k);
	if (k > st->cur_k)
		e->stats.future++;
	else
		e->stats.late++;
	return s;
}

/* Queue s's update for record f, or sum it at once when it is internal. */
static void route_to(struct engine *e, struct slot *s, enum slot_dir dir, const struct flow *f)
{
	if (!s) {
		e->stats.alloc_failures++;
		return;
	}
	slot_pipe_add(e->pipe, s, dir, f);
}

static void route_record(struct engine *e, const struct flow *f, int64_t s_src, int64_t s_dst)
{
	int64_t ks = (int64_t)(f->export_ms / SLOT_MS);

	e->stats.records++;
	if (s_src < 0 && s_dst < 0) {
		e->stats.unmatched++;
		return;
	}
	if (e->now_ms == 0)
		engine_clock(e, f->export_ms ? f->export_ms : 1);
	if (s_src >= 0)
		route_to(e, pick_slot(e, &e->st[s_src], ks),
		         s_src == s_dst ? SLOT_INTERNAL : SLOT_EGRESS, f);
	if (s_dst >= 0 && s_dst != s_src)
		route_to(e, pick_slot(e, &e->st[s_dst], ks), SLOT_INGRESS, f);
}

void engine_flows(void *engine, const struct flow *v, size_t n)
{
	struct engine *e = engine;
	/* In chunks: first every record's sites (the prefix table is small and hot). */
	enum { CHUNK = 64 };
	int64_t ss[CHUNK], sd[CHUNK];

	if (e->n_sites == 0)
		return;
	for (size_t base = 0; base < n; base += CHUNK) {
		size_t m = n - base < CHUNK ? n - base : CHUNK;
		const struct flow *c = v + base;
		prefix_table_lookup_n(e->pt, &c[0].src, sizeof(*c), m, ss);
		prefix_table_lookup_n(e->pt, &c[0].dst, sizeof(*c), m, sd);
		for (size_t j = 0; j < m; j++)
			route_record(e, &c[j], ss[j], sd[j]);
	}
}

void engine_close_all(struct engine *e)
{
	for (size_t k = 0; k < e->n_sites; k++) {
		close_slot(e, &e->st[k].prev, (uint32_t)k);
		close_slot(e, &e->st[k].cur, (uint32_t)k);
	}
}

void engine_stats_get(const struct engine *e, struct engine_stats *out)
{
	*out = e->stats;
}

static const struct counter_def engine_counter_defs[] = {
    COUNTER_DEF(engine_stats, records, "engineRecords", COUNTER_TOTAL,
                "Records offered to the site/slot engine."),
    COUNTER_DEF(engine_stats, unmatched, "unmatchedRecords", COUNTER_TOTAL,
                "Records with neither end inside any site."),
    COUNTER_DEF(engine_stats, late, "lateRecords", COUNTER_TOTAL,
                "Records for a slot already closed, folded into the current one."),
    COUNTER_DEF(engine_stats, future, "futureRecords", COUNTER_TOTAL,
                "Records for a slot beyond the current one, folded into it."),
    COUNTER_DEF(engine_stats, slots_closed, "slotsClosed", COUNTER_TOTAL, "Slots closed."),
    COUNTER_DEF(engine_stats, slots_skipped, "slotsSkipped", COUNTER_TOTAL,
                "Empty slots of long clock gaps, not closed."),
    COUNTER_DEF(engine_stats, alloc_failures, "slotAllocFailures", COUNTER_TOTAL,
                "Records lost because a slot could not be created."),
};
_Static_assert(sizeof(engine_counter_defs) / sizeof(engine_counter_defs[0]) * sizeof(uint64_t) ==
                   sizeof(struct engine_stats),
               "one counter per field of struct engine_stats");

const struct counter_table engine_counters =
    COUNTER_TABLE("engine", engine_counter_defs, engine_stats);

size_t engine_memory(const struct engine *e)
{
	size_t b = 0;

	for (size_t k = 0; k < e->n_sites; k++) {
		if (e->st[k].cur)
			b += slot_memory(e->st[k].cur);
		if (e->st[k].prev)
			b += slot_memory(e->st[k].prev);
	}
	return b;
}
