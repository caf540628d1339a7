/*
 * reputation: the offender database's writer (escalation), the block-list
 * file, the hook thread, the network slot's documents, and the watch list
 * with the footprints summed on the loop thread. See reputation.h and
 * docs/internals/reputation.md. The schema and the readers are in db.c, one
 * run of the hook in hook.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "watch.h"
#include "nfsentry/doc.h"
#include "nfsentry/fault.h"
#include "nfsentry/fileio.h"
#include "nfsentry/grow.h"
#include "nfsentry/judge.h"
#include "nfsentry/log.h"
#include "nfsentry/prefix.h"
#include "nfsentry/slot.h"
#include "nfsentry/store.h"

#define SLOT_MS ((uint64_t)SLOT_SECONDS * 1000u)
/*
 * Network slots waiting for the rest of their sites; more: the oldest is
 * written. A slot is also written once a site reports one NET_STALE_SLOTS
 * later: the engine closes up to ENGINE_MAX_GAP_SLOTS empty slots of one
 * site before the next site's, so a shorter wait would write a slot before
 * every site had reported it.
 */
#define NET_PENDING_MAX 16
#define NET_STALE_SLOTS 14

/* ---- footprints (loop thread) ------------------------------------------ */

struct fp_totals {
	uint64_t flows, packets, octets;
};

/*
 * Index slots of an entry's prefix and port sets: twice their caps, a power
 * of two, so that a probe finds a member or an empty slot in a step or two
 * (a scanner fills all 64 prefixes and then tests every record against them).
 */
#define FP_PREFIX_IDX 128
#define FP_PORT_IDX 64
_Static_assert(FP_PREFIX_IDX >= 2 * REPUTATION_FP_PREFIXES && REPUTATION_FP_PREFIXES < 256 &&
                   (FP_PREFIX_IDX & (FP_PREFIX_IDX - 1)) == 0,
               "the prefix index holds every prefix, at most half full");
_Static_assert(FP_PORT_IDX >= 2 * REPUTATION_FP_PORTS && REPUTATION_FP_PORTS < 256 &&
                   (FP_PORT_IDX & (FP_PORT_IDX - 1)) == 0,
               "the port index holds every port, at most half full");

/*
 * One watched IP's footprint in one slot. The counts, small sets and the
 * indexes come first, next to the totals every record updates; the two
 * address sets (1.1 KiB) come last and are read only up to their counts
 * (through the indexes), so fp_find() zeroes the entry only up to them
 * (FP_ENTRY_HEAD).
 */
struct fp_entry {
	struct flow_addr ip;
	struct fp_totals sent, received;
	uint8_t n_exporters, n_prefixes, n_ports, n_protos, n_sites;
	uint32_t exporters_more, prefixes_more, ports_more, protos_more;
	uint32_t no_site_records; /* records whose other end belongs to no site */
	uint8_t protos[REPUTATION_FP_PROTOS];
	uint16_t sites[REPUTATION_FP_SITES]; /* site indexes of the other ends */
	uint16_t ports[REPUTATION_FP_PORTS];
	/* Open-addressing indexes of prefixes[] and ports[]: position + 1, 0 = empty. */
	uint8_t prefix_idx[FP_PREFIX_IDX];
	uint8_t port_idx[FP_PORT_IDX];
	struct flow_addr exporters[REPUTATION_FP_EXPORTERS];
	struct flow_addr prefixes[REPUTATION_FP_PREFIXES]; /* /24 or /48 networks, in order seen */
};
#define FP_ENTRY_HEAD offsetof(struct fp_entry, exporters)
#define FP_ENTRY_SETS                                                                              \
	(sizeof(((struct fp_entry *)0)->exporters) + sizeof(((struct fp_entry *)0)->prefixes))
_Static_assert(offsetof(struct fp_entry, prefixes) ==
                       FP_ENTRY_HEAD + sizeof(((struct fp_entry *)0)->exporters) &&
                   sizeof(struct fp_entry) - FP_ENTRY_HEAD - FP_ENTRY_SETS <
                       _Alignof(struct fp_entry),
               "only the two address sets (and padding) lie past the zeroed head");

/* One slot's footprints: an open-addressing table of entry pointers. */
struct fp_slot {
	int64_t k;
	size_t mask, n;
	struct fp_entry **tab; /* NULL until the first entry */
	struct fp_entry *last; /* the entry fp_find() found last: records of one IP come in runs */
	struct fp_slot *next;  /* in the hand-over list */
};

/* ---- the module ---------------------------------------------------------- */

/* Offenders of one network slot: (ip, site) pairs, as many as the slot has. */
struct net_pair {
	char ip[48];
	uint32_t site;
};

struct net_pending {
	int64_t k;
	uint32_t reported; /* sites whose slot k came in */
	struct net_pair *v;
	size_t n, cap;
};

struct reputation {
	struct reputation_opts o;
	struct reputation_config cfg;
	struct reputation_db *db;
	struct store *store;
	struct prefix_table *pt; /* every site's inside prefixes; read-only once built */
	/*
	 * What is never blocked (is_exempt()): built at open, replaced whole by
	 * reputation_exempt_set() (loop thread) and read by the worker, under
	 * ex_mu. ex_changed: replaced since the worker last went through the
	 * database (reexempt()).
	 */
	pthread_mutex_t ex_mu;
	struct rep_exempt *ex;
	bool ex_changed;

	/* Worker only. */
	uint64_t n_rows; /* records in the database, kept by the worker */
	struct net_pending pend[NET_PENDING_MAX];
	size_t n_pend;
	int64_t clock_s; /* latest slot end seen */

	/* The watch list hand-over: set by the worker, taken by the loop. */
	_Atomic(struct watch_set *) next_watch;

	/* Loop only. */
	struct watch_set *watch;
	struct fp_slot *fp_cur, *fp_prev;
	uint64_t now_ms;
	uint64_t fp_records, fp_over_cap; /* published to stats at each hand-over */

	/*
	 * Replay: the slot whose watch list the loop waits for (-1: none), and
	 * the one it will wait for from the next call on: the pipeline calls
	 * the watcher before the engine, so a slot handed over in this call has
	 * its sites closed only after it. Loop only.
	 */
	int64_t await_k, await_next;
	/* The newest network slot written (its watch list published); under mu. */
	int64_t published_k;
	pthread_cond_t pub_cv;

	/* Footprint slots handed from the loop to the worker. */
	pthread_mutex_t mu; /* guards done, st, published_k and the hook queue */
	struct fp_slot *done;
	struct reputation_stats st;

	/*
	 * The hook thread (started with run_hook, also without a program) and
	 * its ring of hq_cap events, allocated once there is a program (at open
	 * or by reputation_hook_set()), kept from then on; NULL before. hook
	 * and hook_timeout_s: the program in force ("" = none), under mu;
	 * replaced by reputation_hook_set(), copied by each run.
	 */
	pthread_t hook_thr;
	bool hook_started, hook_stop;
	char hook[REPUTATION_PATH_MAX];
	uint32_t hook_timeout_s;
	pthread_cond_t hook_cv;
	struct reputation_event *hq;
	size_t hq_cap, hq_head, hq_n;
};

static void stat_add(struct reputation *r, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&r->mu);
	*field += n;
	pthread_mutex_unlock(&r->mu);
}

#define STAT_INC(r, f) stat_add((r), &(r)->st.f, 1)

/* ---- hook thread ------------------------------------------------------- */

static void *hook_main(void *arg)
{
	struct reputation *r = arg;
	char prog[REPUTATION_PATH_MAX]; /* the running program's copy */

	pthread_setname_np(pthread_self(), "nfs-rephook");
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->hq_n && !r->hook_stop)
			pthread_cond_wait(&r->hook_cv, &r->mu);
		if (!r->hq_n)
			break;
		struct reputation_event ev = r->hq[r->hq_head];
		r->hq_head = (r->hq_head + 1) % r->hq_cap;
		r->hq_n--;
		/* The program in force now; a set while it runs is for the next run. */
		if (!r->hook[0])
			continue; /* emptied since it was queued: let go, not counted */
		memcpy(prog, r->hook, sizeof(prog));
		uint32_t timeout_s = r->hook_timeout_s;
		pthread_mutex_unlock(&r->mu);
		int status = 0;
		int rc = reputation_hook_run(prog, &ev, (uint64_t)timeout_s * 1000, &status);
		if (rc == -ETIMEDOUT)
			log_error("reputation hook %s %s %s: killed after %u s", prog,
			          ev.block ? "block" : "unblock", ev.ip, timeout_s);
		else if (rc == -ECHILD)
			log_error("reputation hook %s %s %s: %s %d", prog,
			          ev.block ? "block" : "unblock", ev.ip,
			          WIFEXITED(status) ? "exit status" : "killed by signal",
			          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		else if (rc != 0)
			log_error("reputation hook %s: cannot run: %s", prog, strerror(-rc));
		pthread_mutex_lock(&r->mu);
		r->st.hook_runs++;
		r->st.hook_timeouts += rc == -ETIMEDOUT;
		r->st.hook_failures += rc != 0 && rc != -ETIMEDOUT;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/*
 * Queue ev for the hook (worker); a full queue drops it, counted and
 * logged; without a program nothing is queued or counted.
 */
static void hook_push(struct reputation *r, const struct reputation_event *ev)
{
	if (!r->hook_started)
		return;
	pthread_mutex_lock(&r->mu);
	if (!r->hook[0] || !r->hq) { /* a program always has its ring */
		pthread_mutex_unlock(&r->mu);
		return;
	}
	if (r->hq_n == r->hq_cap) {
		r->st.hook_dropped++;
		pthread_mutex_unlock(&r->mu);
		log_warn("reputation hook: queue full (%zu events): %s %s not passed to the hook",
		         r->hq_cap, ev->block ? "block" : "unblock", ev->ip);
		return;
	}
	r->hq[(r->hq_head + r->hq_n) % r->hq_cap] = *ev;
	r->hq_n++;
	pthread_cond_signal(&r->hook_cv);
	pthread_mutex_unlock(&r->mu);
}

int reputation_hook_set(struct reputation *r, const struct reputation_config *cfg)
{
	struct reputation_event *q = NULL;

	if (!memchr(cfg->hook, '\0', sizeof(cfg->hook)))
		return -EINVAL;
	/* The first program gets the ring (allocated outside the lock). */
	pthread_mutex_lock(&r->mu);
	bool need = r->hook_started && cfg->hook[0] && !r->hq;
	pthread_mutex_unlock(&r->mu);
	if (need && !(q = fault_calloc(r->hq_cap, sizeof(*q))))
		return -ENOMEM;
	pthread_mutex_lock(&r->mu);
	if (q && !r->hq) {
		r->hq = q;
		q = NULL;
	}
	memcpy(r->hook, cfg->hook, sizeof(r->hook));
	r->hook_timeout_s = cfg->hook_timeout_s;
	pthread_mutex_unlock(&r->mu);
	free(q); /* another call's ring came first */
	return 0;
}

/* ---- escalation (worker) ------------------------------------------------ */

/* The length of a block after `strikes` repeats: base x factor^strikes, at most max. */
static int64_t block_duration(const struct reputation_config *c, uint32_t strikes)
{
	uint64_t d = c->block_base_s;

	for (uint32_t i = 0; i < strikes && d < c->block_max_s; i++)
		if (__builtin_mul_overflow(d, (uint64_t)c->block_factor, &d))
			d = c->block_max_s;
	return (int64_t)(d < c->block_max_s ? d : c->block_max_s);
}

/*
 * Never blocked: every site's inside space and allow list, the operator's
 * allow list (reputation.allow). A copy of the configuration's, owned.
 */
struct rep_exempt {
	struct prefix_table *inside;
	struct flow_addr *addr; /* every site's allow */
	size_t n_addr;
	struct site_prefix *allow; /* reputation.allow */
	size_t n_allow;
};

static void exempt_free(struct rep_exempt *x)
{
	if (!x)
		return;
	prefix_table_destroy(x->inside);
	free(x->addr);
	free(x->allow);
	free(x);
}

/* The exemptions of sites and allow copied; NULL when out of memory. */
static struct rep_exempt *exempt_build(const struct site_config *sites, size_t n_sites,
                                       const struct site_prefix *allow, size_t n_allow)
{
	struct rep_exempt *x = fault_calloc(1, sizeof(*x));
	size_t n = 0;

	if (!x)
		return NULL;
	for (size_t s = 0; s < n_sites; s++)
		n += sites[s].n_allow;
	x->inside = prefix_table_create();
	x->addr = fault_calloc(n ? n : 1, sizeof(*x->addr));
	x->allow = fault_calloc(n_allow ? n_allow : 1, sizeof(*x->allow));
	if (!x->inside || !x->addr || !x->allow)
		goto fail;
	for (size_t s = 0; s < n_sites; s++) {
		for (size_t i = 0; i < sites[s].n_inside; i++) {
			int rc = prefix_table_add(x->inside, &sites[s].inside[i].addr,
			                          sites[s].inside[i].len, (uint32_t)s);
			if (rc != 0 && rc != -EEXIST)
				goto fail;
		}
		if (sites[s].n_allow)
			memcpy(x->addr + x->n_addr, sites[s].allow,
			       sites[s].n_allow * sizeof(*x->addr));
		x->n_addr += sites[s].n_allow;
	}
	if (prefix_table_build(x->inside) != 0)
		goto fail;
	if (n_allow)
		memcpy(x->allow, allow, n_allow * sizeof(*allow));
	x->n_allow = n_allow;
	return x;
fail:
	exempt_free(x);
	return NULL;
}

/* Never blocked (struct rep_exempt). Worker. */
static bool is_exempt(struct reputation *r, const struct flow_addr *a)
{
	bool yes = false;

	pthread_mutex_lock(&r->ex_mu);
	const struct rep_exempt *x = r->ex;
	yes = prefix_table_lookup(x->inside, a) >= 0;
	for (size_t i = 0; !yes && i < x->n_addr; i++)
		yes = memcmp(&x->addr[i], a, sizeof(*a)) == 0;
	for (size_t i = 0; !yes && i < x->n_allow; i++)
		yes = flow_addr_in_prefix(a, &x->allow[i].addr, x->allow[i].len);
	pthread_mutex_unlock(&r->ex_mu);
	return yes;
}

int reputation_exempt_set(struct reputation *r, const struct site_config *sites, size_t n_sites,
                          const struct reputation_config *cfg)
{
	struct rep_exempt *x = exempt_build(sites, n_sites, cfg->allow, cfg->n_allow), *old;

	if (!x)
		return -ENOMEM;
	pthread_mutex_lock(&r->ex_mu);
	old = r->ex;
	r->ex = x;
	r->ex_changed = true;
	pthread_mutex_unlock(&r->ex_mu);
	exempt_free(old);
	return 0;
}

/* One offender row while it is being updated. */
struct row {
	int64_t first_slot, last_slot, offences, last_offence_slot, recent, last_bad_slot;
	int64_t strikes, blocks, blocked, exempt, blocked_until;
	char reason[384];
	json_t *labels, *sites, *history; /* owned while the row is in hand */
};

static void row_free(struct row *w)
{
	json_decref(w->labels);
	json_decref(w->sites);
	json_decref(w->history);
}

/* Load ip's row; 1 found, 0 not found, negative on error. */
static int row_load(struct reputation *r, const char *ip, struct row *w)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(r->db->h,
	                            "SELECT first_slot, last_slot, offences, last_offence_slot, "
	                            "recent, last_bad_slot, strikes, blocks, blocked, exempt, "
	                            "blocked_until, reason, labels, sites, history "
	                            "FROM offenders WHERE ip=?1",
	                            -1, &st, NULL);

	memset(w, 0, sizeof(*w));
	if (rc != SQLITE_OK)
		return rep_db_err(r->db->h, rc);
	sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t *f[] = {
		    &w->first_slot, &w->last_slot,     &w->offences,     &w->last_offence_slot,
		    &w->recent,     &w->last_bad_slot, &w->strikes,      &w->blocks,
		    &w->blocked,    &w->exempt,        &w->blocked_until};
		for (int i = 0; i < 11; i++)
			*f[i] = sqlite3_column_int64(st, i);
		snprintf(w->reason, sizeof(w->reason), "%s", sqlite3_column_text(st, 11));
		w->labels = json_loads((const char *)sqlite3_column_text(st, 12), 0, NULL);
		w->sites = json_loads((const char *)sqlite3_column_text(st, 13), 0, NULL);
		w->history = json_loads((const char *)sqlite3_column_text(st, 14), 0, NULL);
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : rep_db_err(r->db->h, rc);
	}
	sqlite3_finalize(st);
	if (rc == 1 && (!w->labels || !w->sites || !w->history)) {
		row_free(w);
		return -EINVAL;
	}
	return rc;
}

static int row_save(struct reputation *r, const char *ip, const struct row *w)
{
	sqlite3_stmt *st;
	char *labels = json_dumps(w->labels, JSON_COMPACT | JSON_PRESERVE_ORDER),
	     *sites = json_dumps(w->sites, JSON_COMPACT | JSON_PRESERVE_ORDER),
	     *history = json_dumps(w->history, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc = -ENOMEM;

	if (!labels || !sites || !history)
		goto out;
	rc =
	    sqlite3_prepare_v2(r->db->h,
	                       "INSERT OR REPLACE INTO offenders VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,"
	                       "?10,?11,?12,?13,?14,?15,?16)",
	                       -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = rep_db_err(r->db->h, rc);
		goto out;
	}
	sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
	const int64_t f[] = {w->first_slot, w->last_slot,     w->offences,     w->last_offence_slot,
	                     w->recent,     w->last_bad_slot, w->strikes,      w->blocks,
	                     w->blocked,    w->exempt,        w->blocked_until};
	for (int i = 0; i < 11; i++)
		sqlite3_bind_int64(st, i + 2, f[i]);
	sqlite3_bind_text(st, 13, w->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 14, labels, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 15, sites, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 16, history, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : rep_db_err(r->db->h, rc);
	sqlite3_finalize(st);
out:
	free(labels);
	free(sites);
	free(history);
	return rc;
}

static int64_t db_count(struct reputation *r, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = 0;

	if (sqlite3_prepare_v2(r->db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Comma-joined string members of a JSON array, or keys of an object. */
static void join_json(json_t *j, char *out, size_t len)
{
	size_t used = 0;
	const char *k;
	json_t *v;
	size_t i;

	out[0] = '\0';
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			int n = snprintf(out + used, len - used, "%s%s", used ? "," : "",
			                 json_string_value(v) ? json_string_value(v) : "");
			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
		{
			int n = snprintf(out + used, len - used, "%s%s", used ? "," : "", k);
			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
	}
}

static void event_fill(struct reputation_event *ev, bool block, const char *ip, const struct row *w,
                       int64_t duration_s, int64_t until_s)
{
	memset(ev, 0, sizeof(*ev));
	ev->block = block;
	snprintf(ev->ip, sizeof(ev->ip), "%s", ip);
	snprintf(ev->reason, sizeof(ev->reason), "%s", w->reason);
	join_json(w->labels, ev->labels, sizeof(ev->labels));
	join_json(w->sites, ev->sites, sizeof(ev->sites));
	ev->duration_s = duration_s;
	ev->until_s = until_s;
}

/* Events of one slot, handed to the hook after the commit. */
struct events {
	struct reputation_event *v;
	size_t n, cap;
};

static void events_push(struct events *e, const struct reputation_event *ev)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct reputation_event *nv = fault_reallocarray(e->v, cap, sizeof(*nv));
		if (!nv)
			return; /* the database is right; only the hook misses it (counted by
			           caller) */
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n++] = *ev;
}

/*
 * Step st (prepared and bound, an IP in its first column) to its end and
 * finalize it, the IPs in *ips (n of them; the caller frees *ips). The rows
 * are read whole before any is changed, so that the changes do not disturb
 * the query. No cap of its own: the table holds at most max_offenders rows.
 * Returns 0, -ENOMEM, or rep_db_err() of the step; on error *ips is NULL
 * and *n 0.
 */
static int collect_ips(struct reputation *r, sqlite3_stmt *st, char (**ips)[48], size_t *n)
{
	char(*v)[48] = NULL;
	size_t len = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow_array((void **)&v, &cap, len + 1, sizeof(*v), 64, SIZE_MAX) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		snprintf(v[len++], sizeof(*v), "%s", sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(v);
		*ips = NULL;
		*n = 0;
		return rc == SQLITE_NOMEM ? -ENOMEM : rep_db_err(r->db->h, rc);
	}
	*ips = v;
	*n = len;
	return 0;
}

/* Blocks whose end has come by now_s are lifted. */
static int expire(struct reputation *r, int64_t now_s, struct events *evs)
{
	sqlite3_stmt *st;
	char(*ips)[48] = NULL;
	size_t n = 0;
	int rc =
	    sqlite3_prepare_v2(r->db->h,
	                       "SELECT ip FROM offenders WHERE blocked=1 AND blocked_until<=?1 "
	                       "ORDER BY ip",
	                       -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rep_db_err(r->db->h, rc);
	sqlite3_bind_int64(st, 1, now_s);
	rc = collect_ips(r, st, &ips, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct row w;
		if (row_load(r, ips[i], &w) != 1)
			continue;
		/* The block's nominal length (an extension while blocked is not added). */
		int64_t lasted = block_duration(&r->cfg, (uint32_t)w.strikes);
		w.blocked = 0;
		rc = row_save(r, ips[i], &w);
		if (rc == 0) {
			struct reputation_event ev;
			event_fill(&ev, false, ips[i], &w, lasted, now_s);
			events_push(evs, &ev);
			STAT_INC(r, unblocks);
		}
		row_free(&w);
		if (rc != 0)
			break;
	}
	free(ips);
	return rc;
}

/* The labels of outside entry o as a JSON array of names, and their bits. */
static json_t *labels_of(const struct slot_view *v, const struct slot_outside *o, uint32_t *bits,
                         char *why, size_t why_len)
{
	json_t *a = json_array();
	size_t used = 0;

	*bits = 0;
	why[0] = '\0';
	for (unsigned i = 0; a && i < o->n_labels; i++) {
		const struct slot_label *l = &slot_labels_of(v, o->label_first)[i];
		json_array_append_new(a, json_string(judge_label_name(l->id)));
		*bits |= 1u << l->id;
		int n = snprintf(why + used, why_len - used, "%s%s %g >= %g", used ? ", " : "",
		                 judge_label_name(l->id), l->value, l->threshold);
		if (n > 0 && (size_t)n < why_len - used)
			used += (size_t)n;
	}
	return a;
}

/*
 * One offence: outside IP o was in C of site v->site in slot k. Records it
 * (once per site and slot) and blocks or escalates (docs/offenders.md).
 */
static int offence(struct reputation *r, const struct slot_view *v, const struct slot_outside *o,
                   struct events *evs, bool *recorded)
{
	const int64_t k = v->time_slot, now = (k + 1) * SLOT_SECONDS;
	const int64_t memory_slots = r->cfg.memory_s / SLOT_SECONDS;
	const char *site = v->site->name;
	char ip[48], why[200];
	uint32_t bits;
	struct row w;
	int rc;

	*recorded = false;
	flow_addr_format(&o->addr, ip, sizeof(ip));
	rc = row_load(r, ip, &w);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if ((uint64_t)db_count(r, "SELECT count(*) FROM offenders") >=
		    r->cfg.max_offenders) {
			STAT_INC(r, offenders_refused);
			return 0;
		}
		w.first_slot = w.last_slot = k;
		w.last_offence_slot = w.last_bad_slot = -1;
		w.labels = json_array();
		w.sites = json_object();
		w.history = json_array();
		if (!w.labels || !w.sites || !w.history) {
			row_free(&w);
			return -ENOMEM;
		}
	}
	json_t *s = json_object_get(w.sites, site);
	if (s && json_integer_value(json_object_get(s, "last")) >= k) {
		/* This site's slot k is in already (a replay into the same database, a restart). */
		STAT_INC(r, offences_repeated);
		row_free(&w);
		return 0;
	}
	*recorded = true;
	STAT_INC(r, offences);
	json_t *labels = labels_of(v, o, &bits, why, sizeof(why));
	if (!labels) {
		row_free(&w);
		return -ENOMEM;
	}
	bool new_slot = w.last_offence_slot != k;
	if (new_slot)
		w.offences++;
	if (k > w.last_offence_slot)
		w.last_offence_slot = k;
	if (k > w.last_slot)
		w.last_slot = k;
	if (k < w.first_slot)
		w.first_slot = k;
	json_object_set_new(
	    w.sites, site,
	    json_pack("{s:I,s:I}", "slots",
	              (json_int_t)(s ? json_integer_value(json_object_get(s, "slots")) : 0) + 1,
	              "last", (json_int_t)k));
	size_t i;
	json_t *l;
	json_array_foreach(labels, i, l)
	{
		bool have = false;
		size_t j;
		json_t *m;
		json_array_foreach(w.labels, j, m) have |= json_equal(l, m);
		if (!have)
			json_array_append(w.labels, l);
	}
	json_array_append_new(w.history, json_pack("{s:I,s:s,s:O,s:s}", "timeSlot", (json_int_t)k,
	                                           "site", site, "labels", labels, "reason", why));
	while (json_array_size(w.history) > r->cfg.history_max)
		json_array_remove(w.history, 0);

	bool exempt = is_exempt(r, &o->addr);
	w.exempt = exempt; /* a reload may have taken it off an allow-list */
	if (exempt)
		STAT_INC(r, exempt);
	if ((bits & r->cfg.block_labels) && !exempt && w.last_bad_slot != k) {
		/* Several sites in one slot are one offence: only a new slot counts. */
		if (w.last_bad_slot < 0 || k - w.last_bad_slot > memory_slots)
			w.recent = 0;
		w.recent++;
		w.last_bad_slot = k;
		if (w.recent >= r->cfg.min_offences) {
			if (w.blocked && w.blocked_until > now) {
				/* Still blocked: the block runs on from now, at its current length.
				 */
				int64_t until = now + block_duration(&r->cfg, (uint32_t)w.strikes);
				if (until > w.blocked_until)
					w.blocked_until = until;
			} else {
				/* A repeat: blocked before, and offending again within memory_s of
				 * its end. */
				bool repeat = w.blocks > 0 &&
				              now - w.blocked_until <= (int64_t)r->cfg.memory_s;
				w.strikes = repeat ? w.strikes + 1 : 0;
				int64_t d = block_duration(&r->cfg, (uint32_t)w.strikes);
				w.blocked = 1;
				w.blocks++;
				w.blocked_until = now + d;
				char ts[32];
				rep_time_format(now, ts, sizeof(ts));
				snprintf(w.reason, sizeof(w.reason), "%s at %s, slot %lld (%s)%s",
				         why, site, (long long)k, ts,
				         repeat ? ", repeat offender" : "");
				struct reputation_event ev;
				event_fill(&ev, true, ip, &w, d, w.blocked_until);
				events_push(evs, &ev);
				STAT_INC(r, blocks);
				if (repeat)
					STAT_INC(r, repeat_blocks);
			}
		}
	}
	json_decref(labels);
	rc = row_save(r, ip, &w);
	row_free(&w);
	return rc;
}

/*
 * After reputation_exempt_set(): every row blocked or marked exempt takes
 * the exemptions in force; one blocked that is exempt now is unblocked
 * (an unblock event, as at the end of a block), one no longer exempt can
 * be blocked again by its next offence. Worker, in the sink's transaction.
 */
static int reexempt(struct reputation *r, int64_t now_s, struct events *evs)
{
	sqlite3_stmt *st;
	char(*ips)[48] = NULL;
	size_t n = 0;
	int rc = sqlite3_prepare_v2(
	    r->db->h, "SELECT ip FROM offenders WHERE blocked=1 OR exempt=1 ORDER BY ip", -1, &st,
	    NULL);

	if (rc != SQLITE_OK)
		return rep_db_err(r->db->h, rc);
	rc = collect_ips(r, st, &ips, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct flow_addr a;
		struct row w;
		if (flow_addr_parse(ips[i], &a) != 0 || row_load(r, ips[i], &w) != 1)
			continue;
		bool ex = is_exempt(r, &a), unblock = ex && w.blocked;
		if (ex == (w.exempt != 0) && !unblock) {
			row_free(&w);
			continue;
		}
		int64_t lasted = block_duration(&r->cfg, (uint32_t)w.strikes);
		w.exempt = ex;
		if (unblock) {
			w.blocked = 0;
			w.blocked_until = now_s;
		}
		rc = row_save(r, ips[i], &w);
		if (rc == 0 && unblock) {
			struct reputation_event ev;
			event_fill(&ev, false, ips[i], &w, lasted, now_s);
			events_push(evs, &ev);
			STAT_INC(r, unblocks);
		}
		row_free(&w);
	}
	free(ips);
	return rc;
}

/* Unblocked records older than the memory window are forgotten. */
static int forget(struct reputation *r, int64_t k)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(
	    r->db->h, "DELETE FROM offenders WHERE blocked=0 AND last_slot<?1", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rep_db_err(r->db->h, rc);
	sqlite3_bind_int64(st, 1, k - (int64_t)(r->cfg.memory_s / SLOT_SECONDS));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : rep_db_err(r->db->h, rc);
}

/* ---- block-list file ---------------------------------------------------- */

/*
 * Write the block-list to path.tmp, fsync, rename over path: a reader sees
 * the old file or the new one, never a part.
 */
static int blocklist_file(struct reputation *r, int64_t now_s)
{
	struct fileio_replace fr;
	int rc = fileio_replace_fopen(&fr, r->o.blocklist_path, 0644);

	if (rc != 0)
		return rc;
	return fileio_replace_finish(&fr, reputation_blocklist_write(r->db, now_s, fr.f));
}

/* ---- watch list (worker builds, loop takes) ----------------------------- */

static void watch_publish(struct reputation *r, int64_t k)
{
	/*
	 * Blocked ones first, then the most recent offenders, up to watch_max:
	 * two indexed queries (offenders_blocked, offenders_recent) rather than
	 * one scan of the whole table per slot.
	 */
	static const char *const sql[2] = {
	    "SELECT ip FROM offenders WHERE blocked=1 AND exempt=0 ORDER BY ip",
	    "SELECT ip FROM offenders WHERE last_offence_slot>?1 AND blocked=0 AND exempt=0 "
	    "ORDER BY last_offence_slot DESC, ip",
	};
	int64_t since = k - (int64_t)(r->cfg.watch_window_s / SLOT_SECONDS);
	struct watch_set *w = watch_set_new(r->cfg.watch_max < 4096 ? r->cfg.watch_max : 4096);
	uint64_t over = 0;

	for (int q = 0; w && q < 2 && !over; q++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(r->db->h, sql[q], -1, &st, NULL) != SQLITE_OK) {
			STAT_INC(r, db_errors);
			watch_set_free(w);
			return;
		}
		if (q == 1)
			sqlite3_bind_int64(st, 1, since);
		while (w && sqlite3_step(st) == SQLITE_ROW) {
			struct flow_addr a;
			if (w->n == r->cfg.watch_max) {
				over = 1;
				break;
			}
			if (flow_addr_parse((const char *)sqlite3_column_text(st, 0), &a) != 0)
				continue;
			w = watch_set_add(w, &a);
		}
		sqlite3_finalize(st);
	}
	if (w && watch_set_seal(w) != 0) {
		watch_set_free(w);
		w = NULL;
	}
	if (!w) {
		log_error(
		    "reputation: out of memory building the watch list; the previous one stays");
		return;
	}
	if (over)
		log_warn("reputation: watch list capped at %u addresses (reputation.watch_max)",
		         r->cfg.watch_max);
	pthread_mutex_lock(&r->mu);
	r->st.watched = w->n;
	r->st.watch_over_cap += over;
	pthread_mutex_unlock(&r->mu);
	/* Release: the loop's acquire exchange sees the whole set. */
	struct watch_set *old = atomic_exchange_explicit(&r->next_watch, w, memory_order_acq_rel);
	watch_set_free(old); /* never taken by the loop */
}

/* ---- network slot documents (worker) ------------------------------------ */

struct netdocs {
	struct store_doc *v;
	char **owned; /* json strings and keys, freed together */
	size_t n, cap, n_owned, cap_owned;
	bool failed;
};

static char *nd_own(struct netdocs *d, char *s)
{
	if (!s) {
		d->failed = true;
		return NULL;
	}
	if (d->n_owned == d->cap_owned) {
		size_t cap = d->cap_owned ? d->cap_owned * 2 : 64;
		char **nv = fault_reallocarray(d->owned, cap, sizeof(*nv));
		if (!nv) {
			free(s);
			d->failed = true;
			return NULL;
		}
		d->owned = nv;
		d->cap_owned = cap;
	}
	d->owned[d->n_owned++] = s;
	return s;
}

static void nd_add(struct netdocs *d, const char *kind, const char *key, json_t *o)
{
	char *json = nd_own(d, o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL);
	char *k = nd_own(d, strdup(key));

	json_decref(o);
	if (!json || !k)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct store_doc *nv = fault_reallocarray(d->v, cap, sizeof(*nv));
		if (!nv) {
			d->failed = true;
			return;
		}
		d->v = nv;
		d->cap = cap;
	}
	d->v[d->n++] =
	    (struct store_doc){.kind = kind, .key = k, .json = json, .json_len = strlen(json)};
}

static void nd_free(struct netdocs *d)
{
	for (size_t i = 0; i < d->n_owned; i++)
		free(d->owned[i]);
	free(d->owned);
	free(d->v);
}

static json_t *base_doc(const char *kind, int64_t k, const char *ip)
{
	char ts[32];

	doc_timestamp(k, ts, sizeof(ts));
	return json_pack("{s:s,s:s,s:s,s:I,s:s}", "@timestamp", ts, "kind", kind, "site",
	                 REPUTATION_SITE, "timeSlot", (json_int_t)k, "ip", ip);
}

struct rep_doc_ctx {
	struct netdocs *d;
	int64_t k;
	json_t *sites_now; /* array of the slot's sites for this IP */
};

static int reputation_doc(void *ud, const struct reputation_entry *e)
{
	struct rep_doc_ctx *c = ud;
	json_t *o = base_doc("reputation", c->k, e->ip);
	char until[32];

	if (!o)
		return -ENOMEM;
	json_object_set_new(o, "offences", json_integer((json_int_t)e->offences));
	json_object_set(o, "offenceSites", c->sites_now);
	json_t *sites = json_loads(e->sites_json, 0, NULL), *names = json_array();
	const char *key;
	json_t *val;
	if (sites && names)
		json_object_foreach(sites, key, val) json_array_append_new(names, json_string(key));
	json_decref(sites);
	json_object_set_new(o, "sites", names);
	json_object_set_new(o, "labels", json_loads(e->labels_json, 0, NULL));
	json_object_set_new(o, "firstSlot", json_integer(e->first_slot));
	json_object_set_new(o, "blocked", json_boolean(e->blocked));
	rep_time_format(e->blocked_until_s, until, sizeof(until));
	json_object_set_new(o, "blockedUntil",
	                    e->blocked_until_s ? json_string(until) : json_null());
	json_object_set_new(o, "blocks", json_integer(e->blocks));
	json_object_set_new(o, "strikes", json_integer(e->strikes));
	json_object_set_new(o, "exempt", json_boolean(e->exempt));
	json_object_set_new(o, "reason", json_string(e->reason ? e->reason : ""));
	nd_add(c->d, "reputation", e->ip, o);
	return 0;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct net_pair *p = a, *q = b;
	int c = strcmp(p->ip, q->ip);
	return c ? c : (p->site > q->site) - (p->site < q->site);
}

/* A /24 (IPv4) or /48 (IPv6) network of a, as "net/len". */
static void net_of(const struct flow_addr *a, struct flow_addr *net)
{
	memset(net, 0, sizeof(*net));
	if (flow_addr_is_v4(a))
		memcpy(net->b, a->b, 15);
	else
		memcpy(net->b, a->b, 6);
}

static void net_format(const struct flow_addr *net, char *buf, size_t len)
{
	char a[48];

	flow_addr_format(net, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, flow_addr_is_v4(net) ? 24u : 48u);
}

static json_t *totals_json(const struct fp_totals *t)
{
	return json_pack("{s:I,s:I,s:I}", "flows", (json_int_t)t->flows, "packets",
	                 (json_int_t)t->packets, "octets", (json_int_t)t->octets);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct fp_entry *const *p = a, *const *q = b;
	return memcmp(&(*p)->ip, &(*q)->ip, sizeof((*p)->ip));
}

static void footprint_docs(struct reputation *r, struct netdocs *d, struct fp_slot *fs)
{
	struct fp_entry **v = fault_calloc(fs->n ? fs->n : 1, sizeof(*v));
	size_t n = 0;

	if (!v) {
		d->failed = true;
		return;
	}
	for (size_t i = 0; fs->tab && i <= fs->mask; i++)
		if (fs->tab[i])
			v[n++] = fs->tab[i];
	if (n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct fp_entry *e = v[i];
		char ip[48], buf[64];
		flow_addr_format(&e->ip, ip, sizeof(ip));
		json_t *o = base_doc("footprint", fs->k, ip), *a;
		if (!o) {
			d->failed = true;
			break;
		}
		a = json_array();
		for (unsigned j = 0; j < e->n_exporters; j++) {
			flow_addr_format(&e->exporters[j], buf, sizeof(buf));
			json_array_append_new(a, json_string(buf));
		}
		json_object_set_new(o, "exporters", a);
		json_object_set_new(o, "exportersMore", json_integer(e->exporters_more));
		a = json_array();
		json_t *nosite = json_array();
		for (unsigned j = 0; j < e->n_prefixes; j++) {
			net_format(&e->prefixes[j], buf, sizeof(buf));
			json_array_append_new(a, json_string(buf));
			if (prefix_table_lookup(r->pt, &e->prefixes[j]) < 0)
				json_array_append_new(nosite, json_string(buf));
		}
		json_object_set_new(o, "prefixes", a);
		json_object_set_new(o, "prefixesMore", json_integer(e->prefixes_more));
		json_object_set_new(o, "noSitePrefixes", nosite);
		json_object_set_new(o, "noSiteRecords", json_integer(e->no_site_records));
		a = json_array();
		for (unsigned j = 0; j < e->n_sites; j++)
			json_array_append_new(a, json_string(r->o.sites[e->sites[j]].name));
		json_object_set_new(o, "sites", a);
		a = json_array();
		for (unsigned j = 0; j < e->n_ports; j++)
			json_array_append_new(a, json_integer(e->ports[j]));
		json_object_set_new(o, "ports", a);
		json_object_set_new(o, "portsMore", json_integer(e->ports_more));
		a = json_array();
		for (unsigned j = 0; j < e->n_protos; j++)
			json_array_append_new(a, json_integer(e->protos[j]));
		json_object_set_new(o, "protocols", a);
		json_object_set_new(o, "sent", totals_json(&e->sent));
		json_object_set_new(o, "received", totals_json(&e->received));
		nd_add(d, "footprint", ip, o);
		STAT_INC(r, footprint_docs);
	}
	free(v);
}

static void fp_slot_free(struct fp_slot *fs)
{
	for (size_t i = 0; fs->tab && i <= fs->mask; i++)
		free(fs->tab[i]);
	free(fs->tab);
	free(fs);
}

/* Take the handed-over footprint slots with k <= upto, oldest first. */
static struct fp_slot *done_take(struct reputation *r, int64_t upto)
{
	struct fp_slot *out = NULL, **tail = &out;

	pthread_mutex_lock(&r->mu);
	for (struct fp_slot **pp = &r->done; *pp;) {
		struct fp_slot *s = *pp;
		if (s->k <= upto) {
			*pp = s->next;
			s->next = NULL;
			*tail = s;
			tail = &s->next;
		} else {
			pp = &s->next;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return out;
}

/* Write the network slot k: reputation documents of p (may be NULL) and footprints fs. */
static void network_write(struct reputation *r, int64_t k, struct net_pending *p,
                          struct fp_slot *fs)
{
	struct netdocs d = {0};

	if (p && p->n) {
		if (p->n > 1) /* qsort(NULL, 0, ...) is undefined */
			qsort(p->v, p->n, sizeof(*p->v), pair_cmp);
		for (size_t i = 0; i < p->n;) {
			size_t j = i;
			json_t *sites = json_array();
			for (; j < p->n && strcmp(p->v[j].ip, p->v[i].ip) == 0; j++)
				json_array_append_new(sites,
				                      json_string(r->o.sites[p->v[j].site].name));
			struct rep_doc_ctx c = {.d = &d, .k = k, .sites_now = sites};
			if (reputation_db_foreach(r->db, false, p->v[i].ip, reputation_doc, &c) < 0)
				STAT_INC(r, db_errors);
			json_decref(sites);
			i = j;
		}
	}
	if (fs)
		footprint_docs(r, &d, fs);
	if (d.failed) {
		log_error("reputation: network slot %lld: out of memory building documents",
		          (long long)k);
		STAT_INC(r, store_errors);
	} else if (d.n) {
		if (r->o.docs_out) {
			for (size_t i = 0; i < d.n; i++) {
				fwrite(d.v[i].json, 1, d.v[i].json_len, r->o.docs_out);
				fputc('\n', r->o.docs_out);
			}
			fflush(r->o.docs_out);
		}
		if (r->store) {
			struct store_slot_info info = {.closed_at_s = (k + 1) * SLOT_SECONDS};
			int rc = store_slot_write(r->store, REPUTATION_SITE, k, d.v, d.n, &info);
			if (rc != 0) {
				log_error(
				    "reputation: network slot %lld: %zu documents not stored: %s",
				    (long long)k, d.n, store_error_get(r->store));
				STAT_INC(r, store_errors);
			} else {
				STAT_INC(r, network_slots);
			}
		}
	}
	nd_free(&d);
}

/* Write pending slot index i (with its footprints and any older ones) and drop it. */
static void pending_finish(struct reputation *r, size_t i)
{
	struct net_pending p = r->pend[i];
	struct fp_slot *fs = done_take(r, p.k);

	memmove(&r->pend[i], &r->pend[i + 1], (r->n_pend - i - 1) * sizeof(r->pend[0]));
	r->n_pend--;
	/* Footprints of slots no site reported go out on their own. */
	while (fs && fs->k < p.k) {
		struct fp_slot *nx = fs->next;
		bool claimed = false;
		for (size_t j = 0; j < r->n_pend; j++)
			claimed |= r->pend[j].k == fs->k;
		if (claimed) {
			/* Its sites are still coming: put it back. */
			pthread_mutex_lock(&r->mu);
			fs->next = r->done;
			r->done = fs;
			pthread_mutex_unlock(&r->mu);
		} else {
			network_write(r, fs->k, NULL, fs);
			fp_slot_free(fs);
		}
		fs = nx;
	}
	network_write(r, p.k, &p, fs && fs->k == p.k ? fs : NULL);
	pthread_mutex_lock(&r->mu);
	if (p.k > r->published_k)
		r->published_k = p.k;
	pthread_cond_broadcast(&r->pub_cv);
	pthread_mutex_unlock(&r->mu);
	while (fs) {
		struct fp_slot *nx = fs->next;
		fp_slot_free(fs);
		fs = nx;
	}
	free(p.v);
}

static struct net_pending *pending_get(struct reputation *r, int64_t k)
{
	for (size_t i = 0; i < r->n_pend; i++)
		if (r->pend[i].k == k)
			return &r->pend[i];
	if (r->n_pend == NET_PENDING_MAX)
		pending_finish(r, 0);
	struct net_pending *p = &r->pend[r->n_pend++];
	memset(p, 0, sizeof(*p));
	p->k = k;
	return p;
}

static void pending_add(struct net_pending *p, const char *ip, uint32_t site)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		struct net_pair *nv = fault_reallocarray(p->v, cap, sizeof(*nv));
		if (!nv)
			return;
		p->v = nv;
		p->cap = cap;
	}
	snprintf(p->v[p->n].ip, sizeof(p->v[p->n].ip), "%s", ip);
	p->v[p->n++].site = site;
}

/* ---- the sink ------------------------------------------------------------ */

void reputation_slot_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                          const struct doc_batch *docs)
{
	struct reputation *r = ud;
	const int64_t k = v->time_slot, now = (k + 1) * SLOT_SECONDS;
	struct events evs = {0};
	char *msg = NULL;
	int rc;

	(void)jr;
	(void)docs;
	STAT_INC(r, slots);
	if (now > r->clock_s)
		r->clock_s = now;
	struct net_pending *p = pending_get(r, k);
	/*
	 * The network slot waits for the sites of the open (o.sites): one a
	 * reload added does not count; one it removed no longer reports, and
	 * the slot is written NET_STALE_SLOTS later.
	 */
	if (v->site_index < r->o.n_sites)
		p->reported++;
	pthread_mutex_lock(&r->ex_mu);
	bool ex_changed = r->ex_changed;
	r->ex_changed = false;
	pthread_mutex_unlock(&r->ex_mu);
	rc = sqlite3_exec(r->db->h, "BEGIN IMMEDIATE", NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = expire(r, now, &evs);
	if (rc == 0 && ex_changed)
		rc = reexempt(r, now, &evs);
	for (size_t i = 0; rc == 0 && i < v->n_outside; i++) {
		const struct slot_outside *o = &v->outside[i];
		bool recorded;
		if (!o->in_c || !o->n_labels)
			continue;
		rc = offence(r, v, o, &evs, &recorded);
		/* A site a reload added is none of the network slot's (its sites are the start's).
		 */
		if (rc == 0 && recorded && v->site_index < r->o.n_sites) {
			char ip[48];
			flow_addr_format(&o->addr, ip, sizeof(ip));
			pending_add(p, ip, v->site_index);
		}
	}
	if (rc == 0)
		rc = forget(r, k);
	if (rc == 0)
		rc = sqlite3_exec(r->db->h, "COMMIT", NULL, NULL, &msg) == SQLITE_OK ? 0 : -EIO;
	if (rc != 0) {
		log_error("reputation: site %s slot %lld: database not updated: %s (%s)",
		          v->site->name, (long long)k, rc < 0 ? strerror(-rc) : "SQLite",
		          msg ? msg : sqlite3_errmsg(r->db->h));
		sqlite3_exec(r->db->h, "ROLLBACK", NULL, NULL, NULL);
		STAT_INC(r, db_errors);
		evs.n = 0;
	}
	sqlite3_free(msg);
	for (size_t i = 0; i < evs.n; i++) {
		if (r->hook_started)
			hook_push(r, &evs.v[i]);
		log_info("reputation: %s %s %s%s", evs.v[i].block ? "block" : "unblock",
		         evs.v[i].ip, evs.v[i].block ? "for " : "",
		         evs.v[i].block ? evs.v[i].reason : "");
	}
	free(evs.v);
	if (r->o.blocklist_path) {
		rc = blocklist_file(r, r->clock_s);
		if (rc != 0) {
			log_error("reputation: block-list %s not written: %s", r->o.blocklist_path,
			          strerror(-rc));
			STAT_INC(r, blocklist_errors);
		} else {
			STAT_INC(r, blocklist_writes);
		}
	}
	watch_publish(r, k);
	r->n_rows = (uint64_t)db_count(r, "SELECT count(*) FROM offenders");
	pthread_mutex_lock(&r->mu);
	r->st.blocked = (uint64_t)db_count(r, "SELECT count(*) FROM offenders WHERE blocked=1");
	r->st.offenders = r->n_rows;
	pthread_mutex_unlock(&r->mu);
	/* Network slots are written once every site has reported them, or once they are stale. */
	for (size_t i = 0; i < r->n_pend;) {
		if (r->pend[i].reported >= r->o.n_sites || r->pend[i].k + NET_STALE_SLOTS < k)
			pending_finish(r, i);
		else
			i++;
	}
}

/* ---- the loop thread ----------------------------------------------------- */

static void fp_set_add16(uint16_t *v, uint8_t *n, uint32_t *more, unsigned cap, uint16_t x)
{
	for (unsigned i = 0; i < *n; i++)
		if (v[i] == x)
			return;
	if (*n < cap)
		v[(*n)++] = x;
	else
		(*more)++;
}

static inline bool addr_eq(const struct flow_addr *a, const struct flow_addr *b)
{
	uint64_t a0, a1, b0, b1;

	memcpy(&a0, a->b, 8);
	memcpy(&a1, a->b + 8, 8);
	memcpy(&b0, b->b, 8);
	memcpy(&b1, b->b + 8, 8);
	return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

static void fp_set_addr(struct flow_addr *v, uint8_t *n, uint32_t *more, unsigned cap,
                        const struct flow_addr *x)
{
	for (unsigned i = 0; i < *n; i++)
		if (addr_eq(&v[i], x))
			return;
	if (*n < cap)
		v[(*n)++] = *x;
	else
		(*more)++;
}

/*
 * x into the set v (n members, at most cap, first seen first; more counts
 * what did not fit) through its index idx of idx_n slots (position + 1):
 * one hashed probe instead of a scan of every member.
 */
static void fp_set_addr_idx(struct flow_addr *v, uint8_t *n, uint32_t *more, unsigned cap,
                            uint8_t *idx, unsigned idx_n, const struct flow_addr *x)
{
	uint64_t a, b;

	memcpy(&a, x->b, 8);
	memcpy(&b, x->b + 8, 8);
	uint64_t h = ((a * 0x9e3779b97f4a7c15ull) ^ b) * 0xbf58476d1ce4e5b9ull;
	unsigned i = (unsigned)(h >> 40) & (idx_n - 1);
	for (; idx[i]; i = (i + 1) & (idx_n - 1))
		if (addr_eq(&v[idx[i] - 1], x))
			return;
	if (*n < cap) {
		v[*n] = *x;
		idx[i] = ++*n;
	} else {
		(*more)++;
	}
}

/* As fp_set_addr_idx(), for a 16-bit value (ports). */
static void fp_set_add16_idx(uint16_t *v, uint8_t *n, uint32_t *more, unsigned cap, uint8_t *idx,
                             unsigned idx_n, uint16_t x)
{
	unsigned i = (unsigned)(((uint32_t)x * 0x9e3779b1u) >> 16) & (idx_n - 1);

	for (; idx[i]; i = (i + 1) & (idx_n - 1))
		if (v[idx[i] - 1] == x)
			return;
	if (*n < cap) {
		v[*n] = x;
		idx[i] = ++*n;
	} else {
		(*more)++;
	}
}

static struct fp_entry *fp_find(struct reputation *r, struct fp_slot *fs,
                                const struct flow_addr *ip)
{
	if (!fs->tab) {
		size_t b = 16;
		while (b < 2 * (size_t)r->cfg.footprint_max)
			b *= 2;
		fs->tab = calloc(b, sizeof(*fs->tab));
		if (!fs->tab)
			return NULL;
		fs->mask = b - 1;
	}
	if (fs->last && addr_eq(&fs->last->ip, ip))
		return fs->last;
	size_t i = rep_addr_hash(ip) & fs->mask;
	for (; fs->tab[i]; i = (i + 1) & fs->mask)
		if (addr_eq(&fs->tab[i]->ip, ip))
			return fs->last = fs->tab[i];
	if (fs->n >= r->cfg.footprint_max)
		return NULL;
	struct fp_entry *e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	memset(e, 0, FP_ENTRY_HEAD);
	e->ip = *ip;
	fs->tab[i] = e;
	fs->n++;
	return fs->last = e;
}

/* Hand fs to the worker (or free it when it holds nothing). */
static void fp_hand_over(struct reputation *r, struct fp_slot *fs)
{
	if (!fs)
		return;
	/* Its sites' slots close now: replay waits for their watch list (reputation_records). */
	if (r->o.wait_for_watch && fs->k > r->await_next)
		r->await_next = fs->k;
	pthread_mutex_lock(&r->mu);
	r->st.footprint_records += r->fp_records;
	r->st.footprint_over_cap += r->fp_over_cap;
	r->fp_records = r->fp_over_cap = 0;
	if (fs->n) {
		struct fp_slot **pp = &r->done;
		while (*pp)
			pp = &(*pp)->next;
		fs->next = NULL;
		*pp = fs;
		fs = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	if (fs)
		fp_slot_free(fs);
}

static struct fp_slot *fp_slot_new(int64_t k)
{
	struct fp_slot *s = calloc(1, sizeof(*s));
	if (s)
		s->k = k;
	return s;
}

void reputation_clock(void *ud, uint64_t now_ms)
{
	struct reputation *r = ud;
	int64_t c = (int64_t)(now_ms / SLOT_MS);

	if (now_ms <= r->now_ms)
		return;
	r->now_ms = now_ms;
	if (!r->fp_cur || c > r->fp_cur->k) {
		fp_hand_over(r, r->fp_prev);
		r->fp_prev = NULL;
		if (r->fp_cur && r->fp_cur->k == c - 1)
			r->fp_prev = r->fp_cur;
		else
			fp_hand_over(r, r->fp_cur);
		r->fp_cur = fp_slot_new(c);
	}
	if (r->fp_prev && now_ms >= (uint64_t)(r->fp_prev->k + 1) * SLOT_MS + r->o.grace_ms) {
		fp_hand_over(r, r->fp_prev);
		r->fp_prev = NULL;
	}
}

void reputation_flush(void *ud)
{
	struct reputation *r = ud;

	fp_hand_over(r, r->fp_prev);
	fp_hand_over(r, r->fp_cur);
	r->fp_prev = r->fp_cur = NULL;
}

/* One record seen from the watched end `me`; `other` is the far end. */
static void fp_add(struct reputation *r, const struct flow *f, const struct flow_addr *me,
                   const struct flow_addr *other, bool sent)
{
	int64_t k = (int64_t)(f->export_ms / SLOT_MS);
	struct fp_slot *fs;

	if (!r->fp_cur)
		reputation_clock(r, f->export_ms ? f->export_ms : 1);
	/* As the engine does: a record of another slot is folded into the open one. */
	fs = r->fp_prev && r->fp_prev->k == k ? r->fp_prev : r->fp_cur;
	if (!fs)
		return;
	struct fp_entry *e = fp_find(r, fs, me);
	if (!e) {
		r->fp_over_cap++;
		return;
	}
	r->fp_records++;
	struct fp_totals *t = sent ? &e->sent : &e->received;
	t->flows++;
	t->packets += f->packets;
	t->octets += f->octets;
	fp_set_addr(e->exporters, &e->n_exporters, &e->exporters_more, REPUTATION_FP_EXPORTERS,
	            &f->exporter);
	struct flow_addr net;
	net_of(other, &net);
	fp_set_addr_idx(e->prefixes, &e->n_prefixes, &e->prefixes_more, REPUTATION_FP_PREFIXES,
	                e->prefix_idx, FP_PREFIX_IDX, &net);
	fp_set_add16_idx(e->ports, &e->n_ports, &e->ports_more, REPUTATION_FP_PORTS, e->port_idx,
	                 FP_PORT_IDX, sent ? f->dport : f->sport);
	bool have = false;
	for (unsigned i = 0; i < e->n_protos; i++)
		have |= e->protos[i] == f->proto;
	if (!have) {
		if (e->n_protos < REPUTATION_FP_PROTOS)
			e->protos[e->n_protos++] = f->proto;
		else
			e->protos_more++;
	}
	int64_t site = prefix_table_lookup(r->pt, other);
	if (site < 0) {
		e->no_site_records++;
	} else {
		uint32_t dummy = 0;
		fp_set_add16(e->sites, &e->n_sites, &dummy, REPUTATION_FP_SITES, (uint16_t)site);
	}
}

void reputation_records(void *ud, const struct flow *v, size_t n)
{
	struct reputation *r = ud;

	if (r->await_k >= 0) {
		/*
		 * Replay: the slots just closed are judged before more records
		 * are summed, so the watch list changes at the same point of the
		 * capture in every run (docs/internals/reputation.md).
		 */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += REPUTATION_REPLAY_WAIT_S;
		pthread_mutex_lock(&r->mu);
		while (r->published_k < r->await_k &&
		       pthread_cond_timedwait(&r->pub_cv, &r->mu, &until) == 0)
			;
		bool late = r->published_k < r->await_k;
		r->st.watch_waits_timed_out += late;
		pthread_mutex_unlock(&r->mu);
		if (late)
			log_warn(
			    "reputation: slot %lld not judged within %d s; footprints go on with "
			    "the watch list at hand",
			    (long long)r->await_k, REPUTATION_REPLAY_WAIT_S);
		r->await_k = -1;
	}
	r->await_k = r->await_next;
	r->await_next = -1;
	/* A new watch list, published by the worker: take it, free the one it replaces. */
	if (atomic_load_explicit(&r->next_watch, memory_order_relaxed)) {
		struct watch_set *w =
		    atomic_exchange_explicit(&r->next_watch, NULL, memory_order_acquire);
		if (w) {
			watch_set_free(r->watch);
			r->watch = w;
		}
	}
	const struct watch_set *w = r->watch;
	if (!w || !w->n)
		return;
	/* A local copy: its fields stay in registers across fp_add() calls. */
	const struct watch_filter f = w->f;
	for (const struct flow *p = v, *end = v + n; p != end; p++) {
		/* Both filter reads before the one branch that is almost never taken. */
		uint64_t xs = watch_filter_miss(&f, watch_hash(&p->src));
		uint64_t xd = watch_filter_miss(&f, watch_hash(&p->dst));
		if (__builtin_expect(!xs | !xd, 0)) {
			if (!xs && watch_set_has(w, &p->src))
				fp_add(r, p, &p->src, &p->dst, true);
			if (!xd && watch_set_has(w, &p->dst))
				fp_add(r, p, &p->dst, &p->src, false);
		}
	}
}

/* ---- open, close, counters ---------------------------------------------- */

int reputation_open(const struct reputation_opts *o, struct reputation **out, char *err,
                    size_t errlen)
{
	struct reputation *r = fault_calloc(1, sizeof(*r));
	int rc = -ENOMEM;

	*out = NULL;
	snprintf(err, errlen, "reputation: out of memory");
	if (!r)
		return rc;
	r->o = *o;
	r->cfg = *o->cfg;
	if (r->cfg.block_factor < 1)
		r->cfg.block_factor = 1;
	if (r->cfg.min_offences < 1)
		r->cfg.min_offences = 1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->ex_mu, NULL);
	pthread_cond_init(&r->hook_cv, NULL);
	pthread_cond_init(&r->pub_cv, NULL);
	r->await_k = r->await_next = r->published_k = -1;
	atomic_init(&r->next_watch, NULL);
	r->pt = prefix_table_create();
	if (!r->pt)
		goto fail;
	for (size_t s = 0; s < o->n_sites; s++)
		for (size_t i = 0; i < o->sites[s].n_inside; i++) {
			rc = prefix_table_add(r->pt, &o->sites[s].inside[i].addr,
			                      o->sites[s].inside[i].len, (uint32_t)s);
			if (rc != 0 && rc != -EEXIST) {
				snprintf(err, errlen, "reputation: site %s: prefix table: %s",
				         o->sites[s].name, strerror(-rc));
				goto fail;
			}
		}
	rc = prefix_table_build(r->pt);
	if (rc != 0)
		goto fail;
	r->ex = exempt_build(o->sites, o->n_sites, r->cfg.allow, r->cfg.n_allow);
	if (!r->ex) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = reputation_db_open(o->db_path, false, &r->db, err, errlen);
	if (rc != 0)
		goto fail;
	if (o->store_path) {
		struct store_opts so;
		store_opts_defaults(&so);
		so.retention_days = 0; /* the collector's own connection applies retention */
		rc = store_open(o->store_path, &so, &r->store, err, errlen);
		if (rc != 0)
			goto fail;
	}
	memcpy(r->hook, r->cfg.hook, sizeof(r->hook));
	r->hook[sizeof(r->hook) - 1] = '\0';
	r->hook_timeout_s = r->cfg.hook_timeout_s;
	/*
	 * The thread also without a program: a reload can give it one
	 * (reputation_hook_set(), which then allocates the ring).
	 */
	if (o->run_hook) {
		r->hq_cap = r->cfg.hook_queue ? r->cfg.hook_queue : 1;
		if (r->hook[0])
			r->hq = fault_calloc(r->hq_cap, sizeof(*r->hq));
		if (r->hook[0] && !r->hq) {
			rc = -ENOMEM;
			snprintf(err, errlen, "reputation: out of memory");
			goto fail;
		}
		rc = -pthread_create(&r->hook_thr, NULL, hook_main, r);
		if (rc != 0) {
			snprintf(err, errlen, "reputation: cannot start the hook thread: %s",
			         strerror(-rc));
			goto fail;
		}
		r->hook_started = true;
	}
	r->n_rows = (uint64_t)db_count(r, "SELECT count(*) FROM offenders");
	pthread_mutex_lock(&r->mu);
	r->st.offenders = r->n_rows;
	r->st.blocked = (uint64_t)db_count(r, "SELECT count(*) FROM offenders WHERE blocked=1");
	pthread_mutex_unlock(&r->mu);
	/* A restart watches what the database says at once, not after the first slot. */
	r->clock_s = db_count(r, "SELECT max(last_slot) FROM offenders") * SLOT_SECONDS;
	watch_publish(r, r->clock_s / SLOT_SECONDS);
	err[0] = '\0';
	*out = r;
	return 0;
fail:
	free(r->hq);
	store_close(r->store);
	reputation_db_close(r->db);
	prefix_table_destroy(r->pt);
	exempt_free(r->ex);
	pthread_mutex_destroy(&r->ex_mu);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->hook_cv);
	pthread_cond_destroy(&r->pub_cv);
	free(r);
	return rc;
}

void reputation_pending_write(struct reputation *r)
{
	/* Every site has reported what it will: write what is pending, oldest first. */
	while (r->n_pend)
		pending_finish(r, 0);
	struct fp_slot *fs = done_take(r, INT64_MAX);
	while (fs) {
		struct fp_slot *nx = fs->next;
		network_write(r, fs->k, NULL, fs);
		fp_slot_free(fs);
		fs = nx;
	}
}

void reputation_close(struct reputation *r)
{
	if (!r)
		return;
	reputation_pending_write(r);
	if (r->fp_cur)
		fp_slot_free(r->fp_cur);
	if (r->fp_prev)
		fp_slot_free(r->fp_prev);
	if (r->hook_started) {
		pthread_mutex_lock(&r->mu);
		r->hook_stop = true;
		pthread_cond_signal(&r->hook_cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->hook_thr, NULL);
	}
	watch_set_free(r->watch);
	watch_set_free(atomic_load(&r->next_watch));
	free(r->hq);
	store_close(r->store);
	reputation_db_close(r->db);
	prefix_table_destroy(r->pt);
	exempt_free(r->ex);
	pthread_mutex_destroy(&r->ex_mu);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->hook_cv);
	pthread_cond_destroy(&r->pub_cv);
	free(r);
}

void reputation_stats_get(struct reputation *r, struct reputation_stats *out)
{
	pthread_mutex_lock(&r->mu);
	*out = r->st;
	pthread_mutex_unlock(&r->mu);
}

static const struct counter_def reputation_counter_defs[] = {
    COUNTER_DEF(reputation_stats, slots, "reputationSlots", COUNTER_TOTAL,
                "Judged slots taken into the offender database."),
    COUNTER_DEF(reputation_stats, offences, "reputationOffences", COUNTER_TOTAL,
                "Offences (IP, site, slot) recorded."),
    COUNTER_DEF(reputation_stats, offences_repeated, "reputationOffencesRepeated", COUNTER_TOTAL,
                "Offences skipped because that site's slot was recorded before."),
    COUNTER_DEF(reputation_stats, exempt, "reputationExempt", COUNTER_TOTAL,
                "Offences of addresses that are never blocked (site space, allow lists)."),
    COUNTER_DEF(reputation_stats, blocks, "reputationBlocks", COUNTER_TOTAL, "Blocks given."),
    COUNTER_DEF(reputation_stats, repeat_blocks, "reputationRepeatBlocks", COUNTER_TOTAL,
                "Blocks given to repeat offenders (escalated)."),
    COUNTER_DEF(reputation_stats, unblocks, "reputationUnblocks", COUNTER_TOTAL, "Blocks expired."),
    COUNTER_DEF(reputation_stats, blocked, "reputationBlocked", COUNTER_GAUGE,
                "Addresses blocked now."),
    COUNTER_DEF(reputation_stats, offenders, "reputationOffenders", COUNTER_GAUGE,
                "Records in the offender database."),
    COUNTER_DEF(reputation_stats, offenders_refused, "reputationOffendersRefused", COUNTER_TOTAL,
                "New offenders not recorded at reputation.max_offenders."),
    COUNTER_DEF(reputation_stats, db_errors, "reputationDbErrors", COUNTER_TOTAL,
                "Offender database updates that failed."),
    COUNTER_DEF(reputation_stats, blocklist_writes, "reputationBlocklistWrites", COUNTER_TOTAL,
                "Block-list files written."),
    COUNTER_DEF(reputation_stats, blocklist_errors, "reputationBlocklistErrors", COUNTER_TOTAL,
                "Block-list files that could not be written."),
    COUNTER_DEF(reputation_stats, hook_runs, "reputationHookRuns", COUNTER_TOTAL,
                "Runs of the block/unblock hook."),
    COUNTER_DEF(reputation_stats, hook_failures, "reputationHookFailures", COUNTER_TOTAL,
                "Hook runs that failed (exit status, signal, could not start)."),
    COUNTER_DEF(reputation_stats, hook_timeouts, "reputationHookTimeouts", COUNTER_TOTAL,
                "Hook runs killed at reputation.hook_timeout_s."),
    COUNTER_DEF(reputation_stats, hook_dropped, "reputationHookDropped", COUNTER_TOTAL,
                "Hook events dropped at a full queue."),
    COUNTER_DEF(reputation_stats, watched, "reputationWatched", COUNTER_GAUGE,
                "Addresses on the watch list."),
    COUNTER_DEF(reputation_stats, watch_over_cap, "reputationWatchOverCap", COUNTER_TOTAL,
                "Watch lists cut at reputation.watch_max."),
    COUNTER_DEF(reputation_stats, watch_waits_timed_out, "reputationWatchWaitsTimedOut",
                COUNTER_TOTAL, "Replay: watch lists not published within the wait."),
    COUNTER_DEF(reputation_stats, footprint_records, "footprintRecords", COUNTER_TOTAL,
                "Records of watched addresses summed into footprints."),
    COUNTER_DEF(reputation_stats, footprint_over_cap, "footprintOverCap", COUNTER_TOTAL,
                "Records of watched addresses beyond reputation.footprint_max."),
    COUNTER_DEF(reputation_stats, footprint_docs, "footprintDocs", COUNTER_TOTAL,
                "Footprint documents written."),
    COUNTER_DEF(reputation_stats, network_slots, "networkSlots", COUNTER_TOTAL,
                "Network slots (reputation and footprint documents) stored."),
    COUNTER_DEF(reputation_stats, store_errors, "networkStoreErrors", COUNTER_TOTAL,
                "Network slots the store refused."),
};
_Static_assert(sizeof(reputation_counter_defs) / sizeof(reputation_counter_defs[0]) *
                       sizeof(uint64_t) ==
                   sizeof(struct reputation_stats),
               "one counter per field of struct reputation_stats");

const struct counter_table reputation_counters =
    COUNTER_TABLE("reputation", reputation_counter_defs, reputation_stats);
