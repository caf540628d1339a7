/*
 * closer: worker thread for closed slots. See closer.h.
 */
#include "nfsentry/closer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/clock.h"
#include "nfsentry/daily.h"
#include "nfsentry/fault.h"
#include "nfsentry/l2poll.h"
#include "nfsentry/log.h"
#include "nfsentry/spool.h"
#include "nfsentry/store.h"

/* One queue entry: a slot and its collector counters, copied at submit. */
struct job {
	struct slot *slot;
	/* The slot's site, set at submit and never changed: closer_sites_held() reads it. */
	const struct site_config *site;
	struct doc_counter health[CLOSER_HEALTH_MAX];
	size_t n_health;
	struct doc_batch extra; /* documents made outside the slot (attack events); owned */
};

/*
 * The queue is a ring of cap entries: ring[head] is the slot being closed
 * (or next to be), the n entries from head are held. The worker reads
 * ring[head] without the lock while it processes it; submitters only write
 * entries outside the n held ones, and n only shrinks when the worker is
 * done with its entry, so nobody writes an entry that is being read.
 */
struct closer {
	struct closer_opts o;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv_work; /* worker waits for jobs */
	pthread_cond_t cv_done; /* submitters/drainers wait for progress */
	struct job *ring;       /* owned, cap entries */
	size_t cap, head, n;
	bool stopping;
	struct closer_stats st;
	struct closer_steps steps; /* of the last slot processed */
	/* Worker only: */
	bool start_done;     /* the spool left by an earlier run has been gone through */
	bool store_failing;  /* a slot used up its retries; no write has succeeded since */
	int64_t ret_clock_s; /* replay: end of the newest slot stored, not in the future */
};

static const char *const step_names[CLOSER_STEP__COUNT] = {
	"finish", "judge", "docs", "store", "output", "sinks", "free",
};

const char *closer_step_name(enum closer_step step)
{
	return (unsigned)step < CLOSER_STEP__COUNT ? step_names[step] : "?";
}

/* One report line: an entry and its n labels, lv[0 ..n). */
static void print_label(FILE *f, const char *who, const char *ip, const struct slot_label *lv,
                        unsigned n)
{
	fprintf(f, "  %s %s:", who, ip);
	for (unsigned k = 0; k < n; k++) {
		const struct slot_label *l = &lv[k];
		fprintf(f, "%s %s (%.6g vs threshold %.6g)", k ? "," : "",
		        judge_label_name(l->id), l->value, l->threshold);
	}
	fputc('\n', f);
}

static void report(FILE *f, const struct slot_view *v, const struct judge_result *jr)
{
	char ts[32], ip[64];
	const struct slot_summary *s = &v->sum;

	doc_timestamp(v->time_slot, ts, sizeof(ts));
	fprintf(f,
	        "slot %lld %s site %s: %llu records; egress %llu flows %llu packets %llu octets; "
	        "ingress %llu flows %llu packets %llu octets; %zu inside active, %zu outside, "
	        "%llu offenders",
	        (long long)v->time_slot, ts, v->site->name,
	        (unsigned long long)(s->egress.flows + s->ingress.flows + s->internal.flows),
	        (unsigned long long)s->egress.flows, (unsigned long long)s->egress.packets,
	        (unsigned long long)s->egress.octets, (unsigned long long)s->ingress.flows,
	        (unsigned long long)s->ingress.packets, (unsigned long long)s->ingress.octets,
	        v->n_active, v->n_outside, (unsigned long long)jr->offenders);
	if (s->late_records || s->future_records)
		fprintf(f, "; %llu late, %llu future records", (unsigned long long)s->late_records,
		        (unsigned long long)s->future_records);
	if (s->caps_hit.inside || s->caps_hit.outside || s->caps_hit.pairs)
		fprintf(f, "; caps hit: inside %llu, outside %llu, pairs %llu",
		        (unsigned long long)s->caps_hit.inside,
		        (unsigned long long)s->caps_hit.outside,
		        (unsigned long long)s->caps_hit.pairs);
	fputc('\n', f);
	for (size_t k = 0; k < v->n_inside; k++) {
		const struct slot_inside *in = &v->inside[k];
		if (!in->n_labels)
			continue;
		flow_addr_format(&in->addr, ip, sizeof(ip));
		print_label(f, "inside", ip, slot_labels_of(v, in->label_first), in->n_labels);
	}
	for (size_t k = 0; k < v->n_outside; k++) {
		const struct slot_outside *o = &v->outside[k];
		if (!o->n_labels)
			continue;
		flow_addr_format(&o->addr, ip, sizeof(ip));
		print_label(f, "outside", ip, slot_labels_of(v, o->label_first), o->n_labels);
	}
}


/* Close the running step k of sp: its wall and CPU time since *w, *cpu. */
static void step_end(struct closer_steps *sp, enum closer_step k, uint64_t *w, uint64_t *cpu)
{
	uint64_t w1 = clock_us(CLOCK_MONOTONIC), c1 = clock_us(CLOCK_THREAD_CPUTIME_ID);

	sp->wall_us[k] = w1 - *w;
	sp->cpu_us[k] = c1 - *cpu;
	*w = w1;
	*cpu = c1;
}

/* Add n to a counter (the worker's, read by others under the lock). */
static void bump(struct closer *c, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&c->mu);
	*field += n;
	pthread_mutex_unlock(&c->mu);
}

/* Copy the spool's gauges into the counters. */
static void spool_gauges(struct closer *c)
{
	struct spool_stats ss = {0};

	if (c->o.spool)
		spool_stats_get(c->o.spool, &ss);
	pthread_mutex_lock(&c->mu);
	c->st.spool_slots = ss.slots;
	c->st.spool_bytes = ss.bytes;
	pthread_mutex_unlock(&c->mu);
}

/*
 * Put spooled slots back into the store, oldest first, for at most
 * CLOSER_UNSPOOL_BUDGET_MS (the rest after the next slot). Stops at the
 * first failure: the store is still failing.
 */
static void unspool(struct closer *c)
{
	uint64_t t0 = clock_ms(CLOCK_MONOTONIC);
	char err[512];

	if (!c->o.spool || !c->o.store)
		return;
	do {
		struct spool_restored r;
		int rc = spool_slot_restore(c->o.spool, c->o.store, &r, err, sizeof(err));
		if (rc != 0) {
			log_warn("store: spooled slots stay in %s: %s", spool_dir(c->o.spool), err);
			break;
		}
		if (r.outcome == SPOOL_EMPTY)
			break;
		if (r.outcome == SPOOL_STORED) {
			log_info("store: site %s slot %lld: %zu documents put back from the spool",
			         r.site, (long long)r.time_slot, r.n_docs);
			bump(c, &c->st.slots_unspooled, 1);
		} else if (r.outcome == SPOOL_STALE) {
			log_warn(
			    "store: site %s slot %lld: spooled copy dropped, the store holds a "
			    "newer write of the slot",
			    r.site, (long long)r.time_slot);
			bump(c, &c->st.spool_stale, 1);
		} else {
			log_error("store: %s", err);
			bump(c, &c->st.slots_store_lost, 1);
		}
	} while (clock_ms(CLOCK_MONOTONIC) - t0 < CLOSER_UNSPOOL_BUDGET_MS);
	spool_gauges(c);
}

/* Errors a later try may not see: a lock, a full disk, an I/O error. */
static bool store_transient(int rc)
{
	return rc == -EBUSY || rc == -ENOSPC || rc == -EDQUOT || rc == -EIO || rc == -EAGAIN;
}

/* Retention after a write, by the clock retention_wall_clock chooses. */
static void retention(struct closer *c, int64_t end_s, bool future)
{
	int64_t now_s;
	uint64_t deleted = 0;

	if (c->o.retention_wall_clock) {
		now_s = (int64_t)(clock_ms(CLOCK_REALTIME) / 1000);
	} else {
		if (!future && end_s > c->ret_clock_s)
			c->ret_clock_s = end_s;
		now_s = c->ret_clock_s;
		if (now_s == 0)
			return; /* only future slots so far: no clock to go by */
	}
	int rrc = store_retention_apply(c->o.store, now_s, &deleted);
	if (rrc != 0)
		log_warn("store: retention: %s", store_error_get(c->o.store));
	else if (deleted)
		log_info("store: retention removed %llu slots", (unsigned long long)deleted);
}

/*
 * Write the batch b of view v to the store: retried while the error is
 * transient (closer_opts.store_retry_ms), then spooled, and logged. Returns
 * true when the slot is stored whole.
 */
static bool store_batch(struct closer *c, const struct slot_view *v, const struct doc_batch *b,
                        bool future)
{
	struct store_doc *sd = fault_malloc((b->n ? b->n : 1) * sizeof(*sd));
	const char *site = v->site->name;
	long long k = (long long)v->time_slot;

	if (!sd) {
		log_error("store: site %s slot %lld: out of memory: %zu documents not stored", site,
		          k, b->n);
		bump(c, &c->st.slots_store_lost, 1);
		return false;
	}
	for (size_t i = 0; i < b->n; i++)
		sd[i] = (struct store_doc){.kind = b->v[i].kind,
		                           .key = b->v[i].key,
		                           .json = b->v[i].json,
		                           .json_len = b->v[i].len};
	/* Slot time, not wall time: replay keeps its own clock. */
	int64_t end_s = (v->time_slot + 1) * SLOT_SECONDS;
	struct store_slot_info info = {.closed_at_s = end_s,
	                               .partial = v->partial,
	                               .covered_from_s = v->covered_from_s,
	                               .covered_to_s = v->covered_to_s ? v->covered_to_s : end_s};
	/*
	 * The daily analysis's digest of the slot, made here on the closer's
	 * thread from the documents just made, and stored with them.
	 */
	void *dg = NULL;
	size_t dg_len = 0;
	if (c->o.digest_max_peers) {
		int drc = daily_digest_build(v->time_slot, sd, b->n, c->o.digest_max_peers,
		                             c->o.digest_probe_targets, &dg, &dg_len);
		if (drc != 0) {
			log_warn("store: site %s slot %lld: no daily digest (%s): the daily analysis "
			         "reads the slot's documents",
			         site, k, strerror(-drc));
			bump(c, &c->st.digest_errors, 1);
		}
	}
	int rc = store_slot_write_digest(c->o.store, site, v->time_slot, sd, b->n, &info, dg,
	                                 dg_len);
	uint64_t waited = 0, wait = CLOSER_RETRY_FIRST_MS;
	while (store_transient(rc) && !c->store_failing && waited < c->o.store_retry_ms) {
		if (wait > c->o.store_retry_ms - waited)
			wait = c->o.store_retry_ms - waited;
		log_warn("store: site %s slot %lld: %s; trying again in %llu ms", site, k,
		         store_error_get(c->o.store), (unsigned long long)wait);
		nanosleep(&(struct timespec){(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L},
		          NULL);
		waited += wait;
		wait *= 2;
		bump(c, &c->st.store_retries, 1);
		rc = store_slot_write_digest(c->o.store, site, v->time_slot, sd, b->n, &info, dg,
		                             dg_len);
	}
	free(dg);
	bool whole = rc == 0;
	if (rc == 0 || rc == -EEXIST) {
		c->store_failing = false;
		if (rc == -EEXIST) {
			/* The store's message counts what was left out and names a key. */
			log_error("store: site %s slot %lld: %s", site, k,
			          store_error_get(c->o.store));
			bump(c, &c->st.slots_partial, 1);
		}
		retention(c, end_s, future);
		unspool(c);
		free(sd);
		return whole;
	}
	/* The store's message, before the spool's calls can overwrite it. */
	char why[600];
	snprintf(why, sizeof(why), "%s%s%s", strerror(-rc),
	         rc == -ENOMEM || !*store_error_get(c->o.store) ? "" : ": ",
	         rc == -ENOMEM ? "" : store_error_get(c->o.store));
	if (store_transient(rc) && waited)
		c->store_failing = true;
	if (rc == -EINVAL || rc == -E2BIG || !c->o.spool) {
		/* A batch the store refuses as such cannot be stored later either. */
		log_error("store: site %s slot %lld: %zu documents not stored (%s)", site, k, b->n,
		          why);
		bump(c, &c->st.slots_store_lost, 1);
		free(sd);
		return false;
	}
	char path[4200], err[600];
	int src = spool_slot_put(c->o.spool, site, v->time_slot, &info, sd, b->n, path,
	                         sizeof(path), err, sizeof(err));
	free(sd);
	if (src == 0) {
		log_error("store: site %s slot %lld: %zu documents not stored (%s); spooled to %s, "
		          "to be stored when the store takes writes again",
		          site, k, b->n, why, path);
		bump(c, &c->st.slots_spooled, 1);
	} else {
		log_error("store: site %s slot %lld: %zu documents not stored (%s), and not "
		          "spooled either (%s): the slot is lost from the store",
		          site, k, b->n, why, err);
		bump(c, &c->st.slots_store_lost, 1);
	}
	spool_gauges(c);
	return false;
}

/*
 * Finish, judge, document, store, print and hand on one slot; frees it.
 * Worker thread only.
 */
static void process(struct closer *c, struct job *j)
{
	struct closer_steps sp = {0};
	uint64_t t0 = clock_us(CLOCK_MONOTONIC), c0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
	uint64_t w = t0, cpu = c0;
	const struct slot_view *cv = slot_finish(j->slot);
	step_end(&sp, CLOSER_STEP_FINISH, &w, &cpu);
	struct judge_result jr;
	struct doc_batch b = {0};
	struct doc_health h = {j->health, j->n_health};
	bool doc_err = false, store_err = false;
	struct l2_merge *l2m = NULL;
	struct judge_l2 jl2, *l2 = NULL;
	struct doc_l2 dl2, *dl = NULL;
	struct slot_view *v = slot_view_mut(j->slot);

	if (!cv) {
		log_error("out of memory finishing site %s slot %lld: its documents are lost",
		          v->site->name, (long long)v->time_slot);
		doc_err = true;
		goto out;
	}
	/* Only polls already completed: a slow device never holds the slot. */
	if (c->o.l2 && l2poll_slot_merge(c->o.l2, v->site_index, v->time_slot, &l2m) != 0)
		log_error("out of memory joining the ARP/MAC observations of site %s slot %lld: "
		          "judged without them",
		          v->site->name, (long long)v->time_slot);
	if (l2m) {
		l2_judge_bind(l2m, &jl2);
		l2 = &jl2;
		l2_merge_doc_bind(l2m, &dl2);
		dl = &dl2;
	}
	if (judge_slot_l2(v, l2, &jr) != 0) {
		log_error("out of memory judging site %s slot %lld: its documents are lost",
		          v->site->name, (long long)v->time_slot);
		doc_err = true;
		goto out;
	}
	step_end(&sp, CLOSER_STEP_JUDGE, &w, &cpu);
	if (doc_slot_build_l2(v, &jr, &c->o.docs, &h, dl, &b) != 0 ||
	    (l2m && l2_doc_build(l2m, &b) != 0) || doc_batch_move(&b, &j->extra) != 0) {
		log_error("out of memory building documents of site %s slot %lld", v->site->name,
		          (long long)v->time_slot);
		doc_err = true;
		goto out;
	}
	step_end(&sp, CLOSER_STEP_DOCS, &w, &cpu);
	int64_t end_s = (v->time_slot + 1) * SLOT_SECONDS;
	int64_t wall_s = (int64_t)(clock_ms(CLOCK_REALTIME) / 1000);
	bool future = end_s > wall_s + CLOSER_FUTURE_TOLERANCE_S;
	if (future) {
		char ts[32];
		doc_timestamp(v->time_slot, ts, sizeof(ts));
		log_warn("site %s slot %lld (%s) is more than %d s ahead of the wall clock: the "
		         "exporter's clock jumped; stored, but retention does not follow it",
		         v->site->name, (long long)v->time_slot, ts, CLOSER_FUTURE_TOLERANCE_S);
		bump(c, &c->st.future_slots, 1);
	}
	if (c->o.store)
		store_err = !store_batch(c, v, &b, future);
	step_end(&sp, CLOSER_STEP_STORE, &w, &cpu);
	bool empty = v->sum.egress.flows + v->sum.ingress.flows + v->sum.internal.flows == 0;
	if (c->o.docs_out && !(empty && c->o.skip_empty)) {
		for (size_t k = 0; k < b.n; k++) {
			fwrite(b.v[k].json, 1, b.v[k].len, c->o.docs_out);
			fputc('\n', c->o.docs_out);
		}
		fflush(c->o.docs_out);
	}
	if (c->o.report_out && !(empty && c->o.skip_empty)) {
		report(c->o.report_out, v, &jr);
		fflush(c->o.report_out);
	}
	step_end(&sp, CLOSER_STEP_OUTPUT, &w, &cpu);
out:;
	uint64_t dt = clock_us(CLOCK_MONOTONIC) - t0, dc = clock_us(CLOCK_THREAD_CPUTIME_ID) - c0;
	if (cv)
		sp.slot_bytes = slot_memory(j->slot);
	if (!doc_err) {
		w = clock_us(CLOCK_MONOTONIC);
		cpu = clock_us(CLOCK_THREAD_CPUTIME_ID);
		for (size_t k = 0; k < c->o.n_sinks; k++)
			c->o.sinks[k].fn(c->o.sinks[k].ud, v, &jr, &b);
		step_end(&sp, CLOSER_STEP_SINKS, &w, &cpu);
	}
	size_t n_docs = b.n;
	w = clock_us(CLOCK_MONOTONIC);
	cpu = clock_us(CLOCK_THREAD_CPUTIME_ID);
	doc_batch_free(&b);
	doc_batch_free(&j->extra);
	l2_merge_destroy(l2m);
	slot_destroy(j->slot);
	j->slot = NULL;
	step_end(&sp, CLOSER_STEP_FREE, &w, &cpu);
	pthread_mutex_lock(&c->mu);
	c->st.cpu_us += dc;
	c->st.finish_cpu_us += sp.cpu_us[CLOSER_STEP_FINISH];
	c->st.slots++;
	c->st.documents += n_docs;
	c->st.doc_errors += doc_err;
	c->st.store_errors += store_err;
	c->st.last_close_us = dt;
	if (dt > c->st.max_close_us)
		c->st.max_close_us = dt;
	c->st.sink_us += sp.wall_us[CLOSER_STEP_SINKS];
	c->steps = sp;
	pthread_mutex_unlock(&c->mu);
}

static void *worker(void *arg)
{
	struct closer *c = arg;

	/* Slots spooled by an earlier run go back first. */
	spool_gauges(c);
	unspool(c);
	pthread_mutex_lock(&c->mu);
	c->start_done = true;
	pthread_cond_broadcast(&c->cv_done);
	for (;;) {
		while (!c->n && !c->stopping)
			pthread_cond_wait(&c->cv_work, &c->mu);
		if (!c->n)
			break;
		/*
		 * A copy: closer_queue_reserve() may move the ring meanwhile. The
		 * entry stays held (its site for closer_sites_held()) until done.
		 */
		struct job j = c->ring[c->head];
		pthread_mutex_unlock(&c->mu);
		process(c, &j);
		pthread_mutex_lock(&c->mu);
		c->head = (c->head + 1) % c->cap;
		c->n--;
		pthread_cond_broadcast(&c->cv_done);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int closer_start(const struct closer_opts *opts, struct closer **out)
{
	struct closer *c = fault_calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->o = *opts;
	c->cap = opts->queue_max ? opts->queue_max : CLOSER_QUEUE_DEFAULT;
	c->ring = fault_calloc(c->cap, sizeof(*c->ring));
	if (!c->ring) {
		free(c);
		return -ENOMEM;
	}
	c->st.queue_capacity = c->cap;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv_work, NULL);
	pthread_cond_init(&c->cv_done, NULL);
	rc = pthread_create(&c->thread, NULL, worker, c);
	if (rc != 0) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv_work);
		pthread_cond_destroy(&c->cv_done);
		free(c->ring);
		free(c);
		return -rc;
	}
	pthread_setname_np(c->thread, "nfs-closer"); /* top -H, perf --comm */
	*out = c;
	return 0;
}

int closer_submit(struct closer *c, struct slot *s, const struct doc_counter *health,
                  size_t n_health)
{
	return closer_submit_docs(c, s, health, n_health, NULL);
}

int closer_submit_docs(struct closer *c, struct slot *s, const struct doc_counter *health,
                       size_t n_health, struct doc_batch *extra)
{
	struct doc_batch none = {0};

	if (!extra)
		extra = &none;
	if (n_health > CLOSER_HEALTH_MAX)
		n_health = CLOSER_HEALTH_MAX;
	pthread_mutex_lock(&c->mu);
	if (c->n == c->cap && c->o.wait_when_busy) {
		c->st.submit_waits++;
		while (c->n == c->cap)
			pthread_cond_wait(&c->cv_done, &c->mu);
	}
	if (c->n == c->cap) {
		c->st.slots_dropped++;
		pthread_mutex_unlock(&c->mu);
		/* The view's site and slot are set when the slot is made. */
		const struct slot_view *v = slot_view_mut(s);
		log_error(
		    "closer: queue full (%zu slots being closed or waiting): site %s slot %lld "
		    "dropped unwritten with its %llu records",
		    c->cap, v->site->name, (long long)v->time_slot,
		    (unsigned long long)slot_records(s));
		slot_destroy(s);
		doc_batch_free(extra);
		return -ENOSPC;
	}
	struct job *j = &c->ring[(c->head + c->n) % c->cap];
	j->slot = s;
	j->site = slot_view_mut(s)->site;
	j->extra = *extra;
	memset(extra, 0, sizeof(*extra));
	j->n_health = n_health;
	if (n_health)
		memcpy(j->health, health, n_health * sizeof(*health));
	c->n++;
	if (c->n > c->st.queued_max)
		c->st.queued_max = c->n;
	pthread_cond_signal(&c->cv_work);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

void closer_backpressure_set(struct closer *c, bool on)
{
	pthread_mutex_lock(&c->mu);
	c->o.wait_when_busy = on;
	pthread_mutex_unlock(&c->mu);
}

void closer_drain(struct closer *c)
{
	pthread_mutex_lock(&c->mu);
	while (c->n > 0 || !c->start_done)
		pthread_cond_wait(&c->cv_done, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

void closer_stop(struct closer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_cond_signal(&c->cv_work);
	pthread_mutex_unlock(&c->mu);
	/* The worker empties the queue before it sees stopping. */
	pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv_work);
	pthread_cond_destroy(&c->cv_done);
	free(c->ring);
	free(c);
}

int closer_queue_reserve(struct closer *c, size_t n)
{
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	if (n > c->cap) {
		struct job *r = fault_calloc(n, sizeof(*r));
		if (!r) {
			rc = -ENOMEM;
		} else {
			for (size_t i = 0; i < c->n; i++)
				r[i] = c->ring[(c->head + i) % c->cap];
			free(c->ring);
			c->ring = r;
			c->head = 0;
			c->cap = n;
			c->st.queue_capacity = n;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

bool closer_sites_held(struct closer *c, const struct site_config *sites, size_t n_sites)
{
	uintptr_t lo = (uintptr_t)sites, hi = lo + n_sites * sizeof(*sites);
	bool held = false;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n && !held; i++) {
		uintptr_t a = (uintptr_t)c->ring[(c->head + i) % c->cap].site;
		held = a >= lo && a < hi;
	}
	pthread_mutex_unlock(&c->mu);
	return held;
}

void closer_stats_get(struct closer *c, struct closer_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	out->queued = c->n;
	pthread_mutex_unlock(&c->mu);
}

void closer_steps_get(struct closer *c, struct closer_steps *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->steps;
	pthread_mutex_unlock(&c->mu);
}

static const struct counter_def closer_counter_defs[] = {
    COUNTER_DEF(closer_stats, slots, "closerSlots", COUNTER_TOTAL,
                "Slots processed (written, or lost to document or store errors)."),
    COUNTER_DEF(closer_stats, documents, "closerDocuments", COUNTER_TOTAL, "Documents built."),
    COUNTER_DEF(closer_stats, store_errors, "closerStoreErrors", COUNTER_TOTAL,
                "Slots not stored whole at their close (then spooled, partial or lost)."),
    COUNTER_DEF(closer_stats, doc_errors, "closerDocErrors", COUNTER_TOTAL,
                "Slots whose documents could not be built."),
    COUNTER_DEF(closer_stats, last_close_us, "closerLastCloseUs", COUNTER_GAUGE,
                "Microseconds the last slot took: finish, judge, documents, store."),
    COUNTER_DEF(closer_stats, max_close_us, "closerMaxCloseUs", COUNTER_GAUGE,
                "The longest a slot took, in microseconds."),
    COUNTER_DEF(closer_stats, cpu_us, "closerCpuUs", COUNTER_TOTAL,
                "CPU microseconds of the worker spent closing slots."),
    COUNTER_DEF(closer_stats, finish_cpu_us, "closerFinishCpuUs", COUNTER_TOTAL,
                "The part of it building arrays A, B and C."),
    COUNTER_DEF(closer_stats, queued, "closerQueued", COUNTER_GAUGE,
                "Slots held now: waiting, plus the one being closed."),
    COUNTER_DEF(closer_stats, queued_max, "closerQueuedMax", COUNTER_GAUGE,
                "The most slots held at once."),
    COUNTER_DEF(closer_stats, queue_capacity, "closerQueueCapacity", COUNTER_GAUGE,
                "Slots the queue can hold."),
    COUNTER_DEF(closer_stats, slots_dropped, "closerSlotsDropped", COUNTER_TOTAL,
                "Live: slots freed unwritten because the queue was full."),
    COUNTER_DEF(closer_stats, submit_waits, "closerSubmitWaits", COUNTER_TOTAL,
                "Replay: slots that had to wait for room in the queue."),
    COUNTER_DEF(closer_stats, sink_us, "closerSinkUs", COUNTER_TOTAL,
                "Microseconds spent in the sinks of judged slots."),
    COUNTER_DEF(closer_stats, store_retries, "closerStoreRetries", COUNTER_TOTAL,
                "Store writes tried again after a lock, a full disk or an I/O error."),
    COUNTER_DEF(closer_stats, slots_partial, "closerSlotsPartial", COUNTER_TOTAL,
                "Slots stored without their duplicate documents."),
    COUNTER_DEF(closer_stats, slots_spooled, "closerSlotsSpooled", COUNTER_TOTAL,
                "Slots the store refused, written to the spool."),
    COUNTER_DEF(closer_stats, slots_unspooled, "closerSlotsUnspooled", COUNTER_TOTAL,
                "Spooled slots put back into the store."),
    COUNTER_DEF(closer_stats, spool_stale, "closerSpoolStale", COUNTER_TOTAL,
                "Spooled slots dropped because the store held a newer write of them."),
    COUNTER_DEF(closer_stats, slots_store_lost, "closerSlotsStoreLost", COUNTER_TOTAL,
                "Slots lost from the store: refused and not spooled (spool full or failing)."),
    COUNTER_DEF(closer_stats, spool_slots, "closerSpoolSlots", COUNTER_GAUGE,
                "Slots waiting in the spool."),
    COUNTER_DEF(closer_stats, spool_bytes, "closerSpoolBytes", COUNTER_GAUGE,
                "Bytes of the slots waiting in the spool."),
    COUNTER_DEF(closer_stats, future_slots, "closerFutureSlots", COUNTER_TOTAL,
                "Slots ending more than an hour after the wall clock (retention ignores them)."),
    COUNTER_DEF(closer_stats, digest_errors, "closerDigestErrors", COUNTER_TOTAL,
                "Slots stored without their daily digest (the daily analysis reads their "
                "documents)."),
};
_Static_assert(sizeof(closer_counter_defs) / sizeof(closer_counter_defs[0]) * sizeof(uint64_t) ==
                   sizeof(struct closer_stats),
               "one counter per field of struct closer_stats");

const struct counter_table closer_counters =
    COUNTER_TABLE("closer", closer_counter_defs, closer_stats);
