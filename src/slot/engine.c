/*
 * engine: site match, slot choice and the slot clock. See engine.h.
 */
#include "nfsentry/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "nfsentry/fileio.h"
#include "nfsentry/log.h"
#include "nfsentry/prefix.h"

#define SLOT_MS ((uint64_t)SLOT_SECONDS * 1000u)


struct site_state {
	struct slot *cur;  /* open slot for cur_k */
	struct slot *prev; /* previous slot, open during its grace period */
	int64_t cur_k, prev_k;
	bool gone; /* removed by a reload: opens no more slots, retired once both are closed */
};

/*
 * A site table staged by engine_sites_set(), swapped in at the next slot
 * boundary. Everything the swap needs is made here, so the swap cannot fail.
 */
struct engine_next {
	const struct site_config *sites; /* borrowed */
	size_t n;
	struct prefix_table *pt; /* owned; values are site ids */
	uint32_t *id;            /* owned; the id of sites[i] */
	size_t n_ids;            /* ids given out once swapped in */
};

/*
 * Sites are known by a site id: their index in the table the engine was
 * created with; a site a reload adds takes the next unused id. A site keeps
 * its id (and its open slots) across reloads as long as its name stays;
 * ids are not reused within a run, so every module keyed by site index
 * (closer, attack detector, offender database, dashboard) never mistakes a
 * site for another. st and site are sized ENGINE_MAX_SITE_IDS.
 */
struct engine {
	const struct site_config *sites; /* the table in force (borrowed) */
	size_t n_cfg;
	const struct site_config **site; /* per id: its configuration; NULL once retired */
	size_t n_sites;                  /* ids given out */
	struct site_state *st;           /* per id */
	struct prefix_table *pt;         /* over the table in force; values are ids */
	struct engine_next *next;        /* staged by engine_sites_set(), or NULL */
	/*
	 * The table before the last swap: records of a slot before old_k (the
	 * swap's slot) are matched with it, until that slot's grace ends.
	 */
	struct prefix_table *pt_old;
	int64_t old_k;
	uint64_t grace_ms;
	uint64_t now_ms; /* 0 until the first clock */
	uint64_t seed;
	engine_close_fn close_fn;
	void *ud;
	struct engine_stats stats;
	struct slot_pipe *pipe;         /* records on their way into the slots (slot.h) */
	engine_record_tap_fn tap;       /* engine_record_tap_set(), or NULL */
	engine_record_tap_fn tap_ahead; /* its call before the slots, or NULL */
	void *tap_ud;
	size_t tap_ids;       /* ids when the tap was set: it is handed no later id (-1 instead) */
	int64_t cover_from_s; /* engine_cover_from(); 0: slots are whole */
};

/*
 * Build a prefix table over sites, with id[i] (or i when id is NULL) as
 * sites[i]'s value. Returns 0, -EINVAL with err naming the site and prefix,
 * or -ENOMEM (err set too).
 */
static int table_build(const struct site_config *sites, size_t n, const uint32_t *id,
                       struct prefix_table **out, char *err, size_t errlen)
{
	struct prefix_table *pt = prefix_table_create();
	int rc = -ENOMEM;

	*out = NULL;
	if (!pt)
		goto fail;
	for (size_t k = 0; k < n; k++) {
		for (size_t j = 0; j < sites[k].n_inside; j++) {
			const struct site_prefix *p = &sites[k].inside[j];
			rc = prefix_table_add(pt, &p->addr, p->len, id ? id[k] : (uint32_t)k);
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
	rc = prefix_table_build(pt);
	if (rc != 0)
		goto fail;
	*out = pt;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory building the site table");
	prefix_table_destroy(pt);
	return rc;
}

int engine_create(const struct site_config *sites, size_t n_sites, uint64_t grace_ms,
                  engine_close_fn close_fn, void *ud, struct engine **out, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	int rc = -ENOMEM;

	snprintf(err, errlen, "out of memory building the site table");
	if (!e)
		return rc;
	if (n_sites > ENGINE_MAX_SITE_IDS) {
		snprintf(err, errlen, "%zu sites: at most %d", n_sites, ENGINE_MAX_SITE_IDS);
		rc = -EINVAL;
		goto fail;
	}
	e->sites = sites;
	e->n_cfg = e->n_sites = n_sites;
	e->grace_ms = grace_ms;
	e->close_fn = close_fn;
	e->ud = ud;
	e->st = calloc(ENGINE_MAX_SITE_IDS, sizeof(*e->st));
	e->site = calloc(ENGINE_MAX_SITE_IDS, sizeof(*e->site));
	e->pipe = slot_pipe_create();
	if (!e->st || !e->site || !e->pipe)
		goto fail;
	for (size_t k = 0; k < n_sites; k++)
		e->site[k] = &sites[k];
	if (getrandom(&e->seed, sizeof(e->seed), 0) != sizeof(e->seed))
		e->seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)e;
	rc = table_build(sites, n_sites, NULL, &e->pt, err, errlen);
	if (rc != 0)
		goto fail;
	*out = e;
	return 0;
fail:
	engine_destroy(e);
	return rc;
}

static void next_free(struct engine_next *n)
{
	if (!n)
		return;
	prefix_table_destroy(n->pt);
	free(n->id);
	free(n);
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
	free(e->site);
	prefix_table_destroy(e->pt);
	prefix_table_destroy(e->pt_old);
	next_free(e->next);
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
	struct slot *s = slot_create(e->site[site], site, k, e->seed);

	if (!s)
		e->stats.alloc_failures++;
	else if (e->cover_from_s > k * SLOT_SECONDS)
		slot_cover_set(s, e->cover_from_s, 0);
	return s;
}

/* Bring one site's slots up to clock slot c at time now. */
static void site_advance(struct engine *e, uint32_t site, int64_t c, uint64_t now)
{
	struct site_state *st = &e->st[site];

	if (st->gone) {
		/* Its last slots end as every slot does; nothing new opens. */
		if (c > st->cur_k) {
			close_slot(e, &st->prev, site);
			if (c == st->cur_k + 1) {
				st->prev = st->cur;
				st->prev_k = st->cur_k;
				st->cur = NULL;
			} else {
				close_slot(e, &st->cur, site);
			}
			st->cur_k = c;
		}
		if (st->prev && now >= (uint64_t)(st->prev_k + 1) * SLOT_MS + e->grace_ms)
			close_slot(e, &st->prev, site);
		return;
	}
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

/*
 * The staged table takes over at the boundary into slot c (engine thread).
 * A site whose name stays keeps its id and its open slots; one that is not
 * in the new table is gone; a new one starts with slot c (site_advance()
 * opens it as at the first clock). The table before stays for the records
 * of the slots before c until their grace ends (engine_flows()).
 */
static void sites_swap(struct engine *e, int64_t c)
{
	struct engine_next *n = e->next;

	for (size_t k = 0; k < e->n_sites; k++)
		if (e->site[k])
			e->st[k].gone = true;
	for (size_t i = 0; i < n->n; i++) {
		e->site[n->id[i]] = &n->sites[i];
		e->st[n->id[i]].gone = false;
	}
	e->n_sites = n->n_ids;
	e->sites = n->sites;
	e->n_cfg = n->n;
	prefix_table_destroy(e->pt_old);
	e->pt_old = e->pt;
	e->old_k = c;
	e->pt = n->pt;
	n->pt = NULL;
	next_free(n);
	e->next = NULL;
}

/* Gone sites whose last slot closed are retired; the old table ends with the grace. */
static void sites_retire(struct engine *e, uint64_t now)
{
	for (size_t k = 0; k < e->n_sites; k++)
		if (e->site[k] && e->st[k].gone && !e->st[k].cur && !e->st[k].prev)
			e->site[k] = NULL;
	if (e->pt_old && now >= (uint64_t)e->old_k * SLOT_MS + e->grace_ms) {
		prefix_table_destroy(e->pt_old);
		e->pt_old = NULL;
	}
}

void engine_clock(struct engine *e, uint64_t now_ms)
{
	if (now_ms <= e->now_ms)
		return;
	int64_t c_old = (int64_t)(e->now_ms / SLOT_MS);
	int64_t c = (int64_t)(now_ms / SLOT_MS);
	bool first = e->now_ms == 0;
	e->now_ms = now_ms;
	if (e->next && (first || c > c_old))
		sites_swap(e, c);
	if (!first && c == c_old) {
		/* Within a slot, only a grace period can end. */
		for (size_t k = 0; k < e->n_sites; k++)
			if (e->st[k].prev &&
			    now_ms >= (uint64_t)(e->st[k].prev_k + 1) * SLOT_MS + e->grace_ms)
				close_slot(e, &e->st[k].prev, (uint32_t)k);
	} else {
		for (size_t k = 0; k < e->n_sites; k++)
			if (e->site[k])
				site_advance(e, (uint32_t)k, c, now_ms);
	}
	sites_retire(e, now_ms);
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

/*
 * After a swap, records of the slot before it (open in its grace period)
 * are matched with the table that slot was opened with (sites_swap()).
 * Older records are late: they are folded into the slots open now, so they
 * are matched with the table in force, as those slots were opened with it.
 */
static void match_old(const struct engine *e, const struct flow *c, size_t m, int64_t *ss,
                      int64_t *sd)
{
	for (size_t j = 0; j < m; j++) {
		if ((int64_t)(c[j].export_ms / SLOT_MS) != e->old_k - 1)
			continue;
		ss[j] = prefix_table_lookup(e->pt_old, &c[j].src);
		sd[j] = prefix_table_lookup(e->pt_old, &c[j].dst);
		/* A gone site whose last slot closed already has nothing to take them. */
		if (ss[j] >= 0 && !e->site[ss[j]])
			ss[j] = -1;
		if (sd[j] >= 0 && !e->site[sd[j]])
			sd[j] = -1;
	}
}

void engine_flows(void *engine, const struct flow *v, size_t n)
{
	struct engine *e = engine;
	/* In chunks: first every record's sites (the prefix table is small and hot). */
	enum { CHUNK = ENGINE_TAP_CHUNK };
	int64_t ss[CHUNK], sd[CHUNK];

	if (e->n_sites == 0)
		return;
	for (size_t base = 0; base < n; base += CHUNK) {
		size_t m = n - base < CHUNK ? n - base : CHUNK;
		const struct flow *c = v + base;
		prefix_table_lookup_n(e->pt, &c[0].src, sizeof(*c), m, ss);
		prefix_table_lookup_n(e->pt, &c[0].dst, sizeof(*c), m, sd);
		if (e->pt_old)
			match_old(e, c, m, ss, sd);
		const int64_t *ts = ss, *td = sd;
		int64_t ms[CHUNK], md[CHUNK];
		if (e->n_sites > e->tap_ids && e->tap) {
			/* A site added after the tap was set is none of the tap's. */
			for (size_t j = 0; j < m; j++) {
				ms[j] = ss[j] < (int64_t)e->tap_ids ? ss[j] : -1;
				md[j] = sd[j] < (int64_t)e->tap_ids ? sd[j] : -1;
			}
			ts = ms;
			td = md;
		}
		if (e->tap_ahead)
			e->tap_ahead(e->tap_ud, c, m, ts, td);
		for (size_t j = 0; j < m; j++)
			route_record(e, &c[j], ss[j], sd[j]);
		if (e->tap)
			e->tap(e->tap_ud, c, m, ts, td);
	}
}

void engine_record_tap_set(struct engine *e, engine_record_tap_fn fn, engine_record_tap_fn ahead,
                           void *ud)
{
	e->tap = fn;
	e->tap_ahead = fn ? ahead : NULL;
	e->tap_ud = ud;
	e->tap_ids = e->n_sites;
}

/*
 * A slot the collector saw only part of and that got no record says
 * nothing but "the collector stopped (or started)": it is not written
 * (docs/documents.md "Slots at a stop").
 */
static bool slot_empty_partial(struct slot *s)
{
	return slot_records(s) == 0 && slot_view_mut(s)->partial;
}

size_t engine_close_all(struct engine *e)
{
	size_t left_out = 0;

	slot_pipe_drain(e->pipe); /* a record still queued makes its slot non-empty */
	for (size_t k = 0; k < e->n_sites; k++) {
		struct site_state *st = &e->st[k];
		struct slot **v[2] = {&st->prev, &st->cur};
		for (int j = 0; j < 2; j++) {
			if (*v[j] && slot_empty_partial(*v[j])) {
				slot_destroy(*v[j]);
				*v[j] = NULL;
				left_out++;
			} else {
				close_slot(e, v[j], (uint32_t)k);
			}
		}
	}
	return left_out;
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

void engine_cover_from(struct engine *e, uint64_t start_ms)
{
	e->cover_from_s = (int64_t)(start_ms / 1000);
}

/* ---- saved state ---------------------------------------------------------- */

/*
 * The state file's header. written sits at ENGINE_STATE_WRITTEN_OFFSET so
 * that the caller can set it in place after the slots were stored.
 */
struct state_hdr {
	char magic[8];      /* "NFSSTATE" */
	uint32_t version;   /* ENGINE_STATE_VERSION */
	uint8_t written;    /* 1: these slots were stored by the run that saved them */
	uint8_t pad[3];
	uint32_t byte_order; /* 0x01020304 as written by this machine */
	uint32_t n_slots;
	uint64_t sites_hash;
	uint64_t saved_at_ms;
};

/* One saved slot: its site by name, then slot_save()'s record. */
struct state_slot {
	char site[SITE_NAME_MAX];
};

#define ENGINE_STATE_VERSION 1
_Static_assert(offsetof(struct state_hdr, written) == ENGINE_STATE_WRITTEN_OFFSET,
               "the written flag is where the header says");

/* FNV-1a over the sites' names and inside prefixes: what decides where a record goes. */
static uint64_t sites_hash(const struct site_config *sites, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

#define FNV(p, len)                                                                          \
	do {                                                                                 \
		const unsigned char *b_ = (const unsigned char *)(p);                         \
		for (size_t i_ = 0; i_ < (len); i_++)                                        \
			h = (h ^ b_[i_]) * 0x100000001b3ull;                                  \
	} while (0)
	FNV(&n, sizeof(n));
	for (size_t k = 0; k < n; k++) {
		FNV(sites[k].name, strlen(sites[k].name) + 1);
		FNV(&sites[k].n_inside, sizeof(sites[k].n_inside));
		for (size_t j = 0; j < sites[k].n_inside; j++) {
			FNV(sites[k].inside[j].addr.b, 16);
			FNV(&sites[k].inside[j].len, 1);
		}
	}
#undef FNV
	return h;
}

int engine_state_save(struct engine *e, int fd, uint64_t now_ms, size_t *n_slots)
{
	struct state_hdr h;
	int64_t now_s = (int64_t)(now_ms / 1000);
	int rc;

	slot_pipe_drain(e->pipe); /* every record given is in the saved tables */
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, "NFSSTATE", 8);
	h.version = ENGINE_STATE_VERSION;
	h.byte_order = 0x01020304u;
	h.sites_hash = sites_hash(e->sites, e->n_cfg);
	h.saved_at_ms = now_ms;
	for (size_t k = 0; k < e->n_sites; k++)
		h.n_slots += (e->st[k].prev != NULL) + (e->st[k].cur != NULL);
	if ((rc = fileio_write_all(fd, &h, sizeof(h))))
		return rc;
	for (size_t k = 0; k < e->n_sites; k++) {
		struct slot *v[2] = {e->st[k].prev, e->st[k].cur};
		for (int j = 0; j < 2; j++) {
			if (!v[j])
				continue;
			struct state_slot ss;
			memset(&ss, 0, sizeof(ss));
			snprintf(ss.site, sizeof(ss.site), "%s", e->site[k]->name);
			/* What it holds ends now: as saved, and as closed next. */
			slot_cover_set(v[j], slot_view_mut(v[j])->covered_from_s, now_s);
			if ((rc = fileio_write_all(fd, &ss, sizeof(ss))) ||
			    (rc = slot_save(v[j], fd)))
				return rc;
		}
	}
	if (n_slots)
		*n_slots = h.n_slots;
	return 0;
}

static int site_by_name(const struct engine *e, const char *name)
{
	for (size_t k = 0; k < e->n_sites; k++)
		if (e->site[k] && !e->st[k].gone && strcmp(e->site[k]->name, name) == 0)
			return (int)k;
	return -1;
}

/* Install restored slot s of site at its place, or hand it on; owns s. */
static void state_place(struct engine *e, uint32_t site, struct slot *s, bool same,
                        bool written, uint64_t now_ms, struct engine_restore *res)
{
	struct site_state *st = &e->st[site];
	int64_t k = slot_view_mut(s)->time_slot;
	uint64_t grace_end = (uint64_t)(k + 1) * SLOT_MS + e->grace_ms;
	int64_t c = (int64_t)(now_ms / SLOT_MS);
	/* Only before the first clock: afterwards the engine's places are taken. */
	bool open = same && e->now_ms == 0 && (k == c || (k == c - 1 && now_ms < grace_end));

	if (open && k == c && !st->cur) {
		st->cur = s;
		st->cur_k = k;
	} else if (open && k == c - 1 && !st->prev) {
		st->prev = s;
		st->prev_k = k;
	} else {
		open = false;
	}
	if (open) {
		/* It goes on: its coverage runs to its close again. */
		slot_cover_set(s, slot_view_mut(s)->covered_from_s, 0);
		res->restored++;
		return;
	}
	if (written || slot_empty_partial(s)) {
		res->already += written;
		res->left_out += !written;
		slot_destroy(s);
		return;
	}
	res->closed++;
	e->stats.slots_closed++;
	e->close_fn(e->ud, s, site);
}

int engine_state_load(struct engine *e, int fd, uint64_t now_ms, struct engine_restore *res)
{
	struct state_hdr h;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = fileio_read_exact(fd, &h, sizeof(h))))
		return rc;
	if (memcmp(h.magic, "NFSSTATE", 8) != 0)
		return -EBADMSG;
	if (h.version != ENGINE_STATE_VERSION || h.byte_order != 0x01020304u)
		return -EPROTONOSUPPORT;
	res->saved_at_ms = h.saved_at_ms;
	bool same = h.sites_hash == sites_hash(e->sites, e->n_cfg);
	res->config_changed = !same;
	/*
	 * Before the first clock: restored slots take the places the first
	 * clock at now_ms would give (it then opens only what is missing).
	 */
	for (uint32_t i = 0; i < h.n_slots; i++) {
		struct state_slot ss;
		if ((rc = fileio_read_exact(fd, &ss, sizeof(ss))))
			return rc;
		ss.site[sizeof(ss.site) - 1] = '\0';
		int site = site_by_name(e, ss.site);
		if (site < 0) {
			/* Its records cannot be judged without the site: read past them. */
			static const struct site_config gone = {.caps = {.max_pairs = UINT32_MAX}};
			struct slot *s;
			if ((rc = slot_load(&gone, 0, e->seed, fd, &s)))
				return rc;
			log_error("restart: site %s of saved slot %lld is no longer configured: "
			          "its %llu records are dropped",
			          ss.site, (long long)slot_view_mut(s)->time_slot,
			          (unsigned long long)slot_records(s));
			slot_destroy(s);
			res->dropped++;
			continue;
		}
		struct slot *s;
		if ((rc = slot_load(e->site[site], (uint32_t)site, e->seed, fd, &s)))
			return rc;
		state_place(e, (uint32_t)site, s, same, h.written, now_ms, res);
	}
	return 0;
}

int engine_sites_set(struct engine *e, const struct site_config *sites, size_t n_sites, char *err,
                     size_t errlen)
{
	struct engine_next *n = calloc(1, sizeof(*n));
	int rc = -ENOMEM;

	snprintf(err, errlen, "out of memory building the site table");
	if (!n || !(n->id = calloc(n_sites ? n_sites : 1, sizeof(*n->id))))
		goto fail;
	n->sites = sites;
	n->n = n_sites;
	n->n_ids = e->n_sites;
	for (size_t i = 0; i < n_sites; i++) {
		int id = site_by_name(e, sites[i].name);
		if (id < 0) {
			if (n->n_ids == ENGINE_MAX_SITE_IDS) {
				snprintf(err, errlen,
				         "site %s: %d sites were added or renamed since the start: "
				         "restart to add more",
				         sites[i].name, ENGINE_MAX_SITE_IDS);
				rc = -ENOSPC;
				goto fail;
			}
			id = (int)n->n_ids++;
		}
		n->id[i] = (uint32_t)id;
	}
	rc = table_build(sites, n_sites, n->id, &n->pt, err, errlen);
	if (rc != 0)
		goto fail;
	/* A table staged before and not swapped in yet is replaced whole. */
	next_free(e->next);
	e->next = n;
	return 0;
fail:
	next_free(n);
	return rc;
}

size_t engine_sites_in_force(const struct engine *e)
{
	return e->n_cfg;
}

size_t engine_site_ids(const struct engine *e)
{
	return e->next ? e->next->n_ids : e->n_sites;
}

int64_t engine_site_id(const struct engine *e, const char *name)
{
	if (e->next) {
		for (size_t i = 0; i < e->next->n; i++)
			if (strcmp(e->next->sites[i].name, name) == 0)
				return e->next->id[i];
		return -1;
	}
	return site_by_name(e, name);
}

/* p lies in sites[0 .. n). */
static bool in_range(const void *p, const struct site_config *sites, size_t n)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)sites;

	return a >= lo && a < lo + n * sizeof(*sites);
}

/* s was opened with a site of sites[0 .. n). */
static bool slot_of(struct slot *s, const struct site_config *sites, size_t n)
{
	return in_range(slot_view_mut(s)->site, sites, n);
}

bool engine_sites_in_use(const struct engine *e, const struct site_config *sites, size_t n_sites)
{
	if (n_sites && ((e->n_cfg && in_range(e->sites, sites, n_sites)) ||
	                (e->next && e->next->n && in_range(e->next->sites, sites, n_sites))))
		return true;
	for (size_t k = 0; k < e->n_sites; k++)
		if ((e->site[k] && in_range(e->site[k], sites, n_sites)) ||
		    (e->st[k].cur && slot_of(e->st[k].cur, sites, n_sites)) ||
		    (e->st[k].prev && slot_of(e->st[k].prev, sites, n_sites)))
			return true;
	return false;
}
