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
#include "nfsentry/judge.h"
#include "nfsentry/l2poll.h"
#include "nfsentry/log.h"
#include "nfsentry/store.h"

#define CLOSER_HEALTH_MAX 64

struct job {
	struct job *next;
	struct slot *slot;
	struct doc_counter health[CLOSER_HEALTH_MAX];
	size_t n_health;
};

struct closer {
	struct closer_opts o;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv_work; /* worker waits for jobs */
	pthread_cond_t cv_done; /* submitters/drainers wait for progress */
	struct job *head, *tail;
	size_t queued;
	bool stopping;
	struct closer_stats st;
};

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

/* Finish, judge, document, store and print one slot; frees it. */
static void process(struct closer *c, struct job *j)
{
	uint64_t t0 = clock_us(CLOCK_MONOTONIC), c0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
	const struct slot_view *cv = slot_finish(j->slot);
	uint64_t fc = clock_us(CLOCK_THREAD_CPUTIME_ID) - c0;
	struct judge_result jr;
	struct doc_batch b = {0};
	struct doc_health h = {j->health, j->n_health};
	bool doc_err = false, store_err = false;
	struct l2_merge *l2m = NULL;
	struct judge_l2 jl2, *l2 = NULL;
	struct doc_l2 dl2, *dl = NULL;

	if (!cv) {
		log_error("out of memory finishing a slot: its documents are lost");
		doc_err = true;
		goto out;
	}
	struct slot_view *v = slot_view_mut(j->slot);
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
	if (doc_slot_build_l2(v, &jr, &c->o.docs, &h, dl, &b) != 0 ||
	    (l2m && l2_doc_build(l2m, &b) != 0)) {
		log_error("out of memory building documents of site %s slot %lld",
		          v->site->name, (long long)v->time_slot);
		doc_err = true;
		goto out;
	}
	if (c->o.store) {
		struct store_doc *sd = malloc((b.n ? b.n : 1) * sizeof(*sd));
		int rc = -ENOMEM;
		if (sd) {
			for (size_t k = 0; k < b.n; k++)
				sd[k] = (struct store_doc){.kind = b.v[k].kind,
				                           .key = b.v[k].key,
				                           .json = b.v[k].json,
				                           .json_len = b.v[k].len};
			/* Slot time, not wall time: replay keeps its own clock. */
			int64_t end_s = (v->time_slot + 1) * SLOT_SECONDS;
			struct store_slot_info info = {.closed_at_s = end_s};
			rc = store_slot_write(c->o.store, v->site->name, v->time_slot, sd, b.n,
			                      &info);
			free(sd);
			if (rc == 0) {
				uint64_t deleted = 0;
				int rrc = store_retention_apply(c->o.store, end_s, &deleted);
				if (rrc != 0)
					log_warn("store: retention: %s", strerror(-rrc));
				else if (deleted)
					log_info("store: retention removed %llu slots",
					         (unsigned long long)deleted);
			}
		}
		if (rc != 0) {
			log_error("store: site %s slot %lld: %d documents not stored (%s)",
			          v->site->name, (long long)v->time_slot, (int)b.n, strerror(-rc));
			store_err = true;
		}
	}
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
out:;
	uint64_t dt = clock_us(CLOCK_MONOTONIC) - t0, dc = clock_us(CLOCK_THREAD_CPUTIME_ID) - c0;
	pthread_mutex_lock(&c->mu);
	c->st.cpu_us += dc;
	c->st.finish_cpu_us += fc;
	c->st.slots++;
	c->st.documents += b.n;
	c->st.doc_errors += doc_err;
	c->st.store_errors += store_err;
	c->st.last_close_us = dt;
	if (dt > c->st.max_close_us)
		c->st.max_close_us = dt;
	pthread_mutex_unlock(&c->mu);
	doc_batch_free(&b);
	l2_merge_destroy(l2m);
	slot_destroy(j->slot);
}

static void *worker(void *arg)
{
	struct closer *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->head && !c->stopping)
			pthread_cond_wait(&c->cv_work, &c->mu);
		if (!c->head)
			break;
		struct job *j = c->head;
		c->head = j->next;
		if (!c->head)
			c->tail = NULL;
		pthread_mutex_unlock(&c->mu);
		process(c, j);
		free(j);
		pthread_mutex_lock(&c->mu);
		c->queued--;
		pthread_cond_broadcast(&c->cv_done);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int closer_start(const struct closer_opts *opts, struct closer **out)
{
	struct closer *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->o = *opts;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv_work, NULL);
	pthread_cond_init(&c->cv_done, NULL);
	rc = pthread_create(&c->thread, NULL, worker, c);
	if (rc != 0) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv_work);
		pthread_cond_destroy(&c->cv_done);
		free(c);
		return -rc;
	}
	pthread_setname_np(c->thread, "nfs-closer"); /* top -H, perf --comm */
	*out = c;
	return 0;
}

void closer_submit(struct closer *c, struct slot *s, const struct doc_counter *health,
                   size_t n_health)
{
	struct job *j = calloc(1, sizeof(*j));

	if (n_health > CLOSER_HEALTH_MAX)
		n_health = CLOSER_HEALTH_MAX;
	if (!j) {
		struct job local = {.slot = s, .n_health = n_health};
		memcpy(local.health, health, n_health * sizeof(*health));
		process(c, &local);
		return;
	}
	j->slot = s;
	j->n_health = n_health;
	memcpy(j->health, health, n_health * sizeof(*health));
	pthread_mutex_lock(&c->mu);
	if (c->o.wait_when_busy)
		while (c->queued >= 2)
			pthread_cond_wait(&c->cv_done, &c->mu);
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	c->queued++;
	if (c->queued > c->st.queued_max)
		c->st.queued_max = c->queued;
	pthread_cond_signal(&c->cv_work);
	pthread_mutex_unlock(&c->mu);
}

void closer_drain(struct closer *c)
{
	pthread_mutex_lock(&c->mu);
	while (c->queued > 0)
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
	pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv_work);
	pthread_cond_destroy(&c->cv_done);
	free(c);
}

void closer_stats_get(struct closer *c, struct closer_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	pthread_mutex_unlock(&c->mu);
}
