/*
 * feed: the snapshots the web server reads (webfeed.h). Owners write into
 * private buffers and swap them in under f->mu; readers format under f->mu
 * or hold a reference to an immutable slot copy. The loop (receive) never
 * waits for a reader: its refresh only tries the lock and publishes at a
 * later tick when a reader holds it.
 */
#include "nfsentry/webfeed.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "nfsentry/attacklive.h"
#include "nfsentry/closer.h"
#include "nfsentry/decoder.h"
#include "nfsentry/engine.h"
#include "nfsentry/l2poll.h"

/* Refreshes in a row that may find a reader holding mu before the next one waits for it. */
#define FEED_BUSY_MAX 5

struct feed_source {
	const struct counter_table *t;
	counter_snapshot_fn fn;
	void *ud;
	void *back; /* filled by refresh */
	void *pub;  /* published: read under mu */
};

/* One conversation of the copied slot: indexes into the copy's address arrays. */
struct feed_pair {
	uint32_t inside, outside;
	struct slot_totals egress, ingress;
};

struct web_feed_slot {
	int refs; /* __atomic */
	char site[SITE_NAME_MAX];
	int64_t time_slot;
	size_t n_inside, n_outside, n_pairs;
	struct flow_addr *in_addr, *out_addr; /* sorted by address (as the slot's arrays) */
	uint32_t *in_first, *in_count;        /* into pairs */
	uint32_t *out_first, *out_count;      /* into by_outside */
	struct feed_pair *pairs;
	uint32_t *by_outside; /* indexes into pairs */
};

/* What the sink publishes per site (guarded by mu). */
struct feed_site {
	uint64_t slots;        /* judged slots seen since start */
	int64_t time_slot;     /* of the last one */
	uint64_t closed_at_ms; /* wall clock when the sink saw it */
	uint64_t n_inside, n_outside, n_pairs, n_active, docs;
	uint64_t records; /* flows in the slot, every direction */
	struct slot_caps_hit caps_last, caps_total;
	uint64_t labels_last[JUDGE__COUNT], labels_total[JUDGE__COUNT];
	struct web_feed_slot *latest;
	char name[SITE_NAME_MAX];
	bool in_force; /* configured now (web_feed_sites_set) */
};

struct web_feed {
	struct web_feed_opts o;
	pthread_mutex_t mu;
	struct feed_source src[WEB_FEED_SOURCES_MAX];
	size_t n_src;
	/* Refresh caller's private buffers, swapped with the published ones. */
	struct decoder_exporter_info *exp_back, *exp_pub;
	size_t n_exp_back, n_exp_pub; /* how many exist (may exceed the array) */
	struct l2poll_status *dev_back, *dev_pub;
	size_t n_dev_back, n_dev_pub;
	bool published;
	uint64_t last_refresh_ms;
	uint64_t refreshed_at_ms; /* wall clock of the published snapshot */
	struct feed_site *sites;  /* n_ids, indexed by site id (engine.h), guarded by mu */
	size_t n_ids;             /* guarded by mu */
	uint64_t snapshot_failures;
	unsigned busy_run;      /* refreshes in a row deferred (refresh caller's) */
	uint64_t busy_deferred; /* __atomic: refreshes deferred because a reader held mu */
	/* n_ids advice tables a reload set, guarded by mu; NULL: o.sites' texts. */
	char (*advice)[SITE_ADVICE_LABELS][SITE_ADVICE_MAX];
	struct attack_live *live; /* owned; NULL without attack_live_entries */
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int web_feed_create(const struct web_feed_opts *o, struct web_feed **out)
{
	struct web_feed *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->o = *o;
	pthread_mutex_init(&f->mu, NULL);
	f->exp_back = calloc(WEB_FEED_EXPORTERS_MAX, sizeof(*f->exp_back));
	f->exp_pub = calloc(WEB_FEED_EXPORTERS_MAX, sizeof(*f->exp_pub));
	f->dev_back = calloc(WEB_FEED_DEVICES_MAX, sizeof(*f->dev_back));
	f->dev_pub = calloc(WEB_FEED_DEVICES_MAX, sizeof(*f->dev_pub));
	f->sites = calloc(o->n_sites ? o->n_sites : 1, sizeof(*f->sites));
	if (!f->exp_back || !f->exp_pub || !f->dev_back || !f->dev_pub || !f->sites) {
		web_feed_destroy(f);
		return -ENOMEM;
	}
	f->n_ids = o->n_sites;
	for (size_t i = 0; i < o->n_sites; i++) {
		snprintf(f->sites[i].name, sizeof(f->sites[i].name), "%s", o->sites[i].name);
		f->sites[i].in_force = true;
	}
	if (o->attack_live_entries) {
		int rc = attack_live_create(o->attack_live_entries, &f->live);
		if (rc == 0)
			rc = web_feed_source_add(f, &attack_live_counters, attack_live_stats_get,
			                         f->live);
		if (rc != 0) {
			web_feed_destroy(f);
			return rc;
		}
	}
	*out = f;
	return 0;
}

void web_feed_destroy(struct web_feed *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_src; i++) {
		free(f->src[i].back);
		free(f->src[i].pub);
	}
	for (size_t i = 0; f->sites && i < f->n_ids; i++)
		web_feed_slot_put(f->sites[i].latest);
	free(f->sites);
	free(f->exp_back);
	free(f->exp_pub);
	free(f->dev_back);
	free(f->dev_pub);
	free(f->advice);
	attack_live_destroy(f->live);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

struct attack_live *web_feed_attacks(struct web_feed *f)
{
	return f ? f->live : NULL;
}

void web_feed_decoder_set(struct web_feed *f, const struct decoder *dec)
{
	f->o.dec = dec;
}

int web_feed_source_add(struct web_feed *f, const struct counter_table *t, counter_snapshot_fn fn,
                        void *ud)
{
	struct feed_source *s;

	if (f->n_src == WEB_FEED_SOURCES_MAX)
		return -ENOSPC;
	s = &f->src[f->n_src];
	s->back = calloc(1, t->stats_bytes);
	s->pub = calloc(1, t->stats_bytes);
	if (!s->back || !s->pub) {
		free(s->back);
		free(s->pub);
		s->back = s->pub = NULL;
		return -ENOMEM;
	}
	s->t = t;
	s->fn = fn;
	s->ud = ud;
	pthread_mutex_lock(&f->mu);
	f->n_src++;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

bool web_feed_refresh(struct web_feed *f, uint64_t now_ms, bool force)
{
	void *tmp;

	if (!force && f->published && now_ms - f->last_refresh_ms < WEB_FEED_REFRESH_MS)
		return false;
	for (size_t i = 0; i < f->n_src; i++)
		f->src[i].fn(f->src[i].ud, f->src[i].back);
	f->n_exp_back =
	    f->o.dec ? decoder_exporters_get(f->o.dec, f->exp_back, WEB_FEED_EXPORTERS_MAX) : 0;
	f->n_dev_back = l2poll_status_get(f->o.l2, f->dev_back, WEB_FEED_DEVICES_MAX);
	/*
	 * A reader formats under mu; on a busy machine it can be preempted there for
	 * milliseconds, and receive must not stand still meanwhile: try again at the
	 * next tick, and wait only after FEED_BUSY_MAX tries, so a stream of readers
	 * cannot keep the figures from being published.
	 */
	if (pthread_mutex_trylock(&f->mu) != 0) {
		if (++f->busy_run < FEED_BUSY_MAX) {
			__atomic_add_fetch(&f->busy_deferred, 1, __ATOMIC_RELAXED);
			return false;
		}
		pthread_mutex_lock(&f->mu);
	}
	f->busy_run = 0;
	f->last_refresh_ms = now_ms;
	for (size_t i = 0; i < f->n_src; i++) {
		tmp = f->src[i].pub;
		f->src[i].pub = f->src[i].back;
		f->src[i].back = tmp;
	}
	tmp = f->exp_pub;
	f->exp_pub = f->exp_back;
	f->exp_back = tmp;
	f->n_exp_pub = f->n_exp_back;
	tmp = f->dev_pub;
	f->dev_pub = f->dev_back;
	f->dev_back = tmp;
	f->n_dev_pub = f->n_dev_back;
	f->refreshed_at_ms = wall_ms();
	f->published = true;
	pthread_mutex_unlock(&f->mu);
	return true;
}

/* ---- the latest slot ---------------------------------------------------- */

void web_feed_slot_put(struct web_feed_slot *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(s->in_addr);
	free(s->out_addr);
	free(s->in_first);
	free(s->in_count);
	free(s->out_first);
	free(s->out_count);
	free(s->pairs);
	free(s->by_outside);
	free(s);
}

int64_t web_feed_slot_time(const struct web_feed_slot *s)
{
	return s->time_slot;
}

/* The conversations of v, copied: everything the peers answer needs. */
static struct web_feed_slot *slot_copy(const struct slot_view *v)
{
	struct web_feed_slot *s = calloc(1, sizeof(*s));
	size_t ni = v->n_inside ? v->n_inside : 1, no = v->n_outside ? v->n_outside : 1;
	size_t np = v->n_pairs ? v->n_pairs : 1;

	if (!s)
		return NULL;
	s->refs = 1;
	snprintf(s->site, sizeof(s->site), "%s", v->site->name);
	s->time_slot = v->time_slot;
	s->in_addr = malloc(ni * sizeof(*s->in_addr));
	s->in_first = malloc(ni * sizeof(uint32_t));
	s->in_count = malloc(ni * sizeof(uint32_t));
	s->out_addr = malloc(no * sizeof(*s->out_addr));
	s->out_first = malloc(no * sizeof(uint32_t));
	s->out_count = malloc(no * sizeof(uint32_t));
	s->pairs = malloc(np * sizeof(*s->pairs));
	s->by_outside = malloc(np * sizeof(uint32_t));
	if (!s->in_addr || !s->in_first || !s->in_count || !s->out_addr || !s->out_first ||
	    !s->out_count || !s->pairs || !s->by_outside) {
		web_feed_slot_put(s);
		return NULL;
	}
	for (size_t i = 0; i < v->n_inside; i++) {
		s->in_addr[i] = v->inside[i].addr;
		s->in_first[i] = v->inside[i].pair_first;
		s->in_count[i] = v->inside[i].pair_count;
	}
	for (size_t i = 0; i < v->n_outside; i++) {
		s->out_addr[i] = v->outside[i].addr;
		s->out_first[i] = v->outside[i].pair_first;
		s->out_count[i] = v->outside[i].pair_count;
	}
	for (size_t i = 0; i < v->n_pairs; i++) {
		s->pairs[i].inside = v->pairs[i].inside;
		s->pairs[i].outside = v->pairs[i].outside;
		s->pairs[i].egress = v->pairs[i].egress;
		s->pairs[i].ingress = v->pairs[i].ingress;
	}
	if (v->n_pairs)
		memcpy(s->by_outside, v->pairs_by_outside, v->n_pairs * sizeof(uint32_t));
	s->n_inside = v->n_inside;
	s->n_outside = v->n_outside;
	s->n_pairs = v->n_pairs;
	return s;
}

void web_feed_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                   const struct doc_batch *docs)
{
	struct web_feed *f = ud;
	struct web_feed_slot *copy, *old;
	struct feed_site *fs;

	/* The slot is stored: its ended attack events are read from the store from now on. */
	if (f->live)
		attack_live_stored(f->live, v->site->name, v->time_slot);
	copy = slot_copy(v);
	pthread_mutex_lock(&f->mu);
	if (v->site_index >= f->n_ids) { /* a site id web_feed_sites_set() did not give */
		pthread_mutex_unlock(&f->mu);
		web_feed_slot_put(copy);
		return;
	}
	fs = &f->sites[v->site_index];
	fs->slots++;
	fs->time_slot = v->time_slot;
	fs->closed_at_ms = wall_ms();
	fs->n_inside = v->n_inside;
	fs->n_outside = v->n_outside;
	fs->n_pairs = v->n_pairs;
	fs->n_active = v->n_active;
	fs->docs = docs ? docs->n : 0;
	fs->records = v->sum.egress.flows + v->sum.ingress.flows + v->sum.internal.flows;
	fs->caps_last = v->sum.caps_hit;
	fs->caps_total.inside += v->sum.caps_hit.inside;
	fs->caps_total.outside += v->sum.caps_hit.outside;
	fs->caps_total.pairs += v->sum.caps_hit.pairs;
	for (size_t l = 0; l < JUDGE__COUNT; l++) {
		fs->labels_last[l] = jr->labels[l];
		fs->labels_total[l] += jr->labels[l];
	}
	old = NULL;
	if (copy) {
		old = fs->latest;
		fs->latest = copy;
	} else {
		f->snapshot_failures++;
	}
	pthread_mutex_unlock(&f->mu);
	web_feed_slot_put(old);
}

bool web_feed_site_name(struct web_feed *f, size_t i, char out[SITE_NAME_MAX])
{
	bool found = false;

	pthread_mutex_lock(&f->mu);
	for (size_t id = 0; id < f->n_ids && !found; id++) {
		if (!f->sites[id].in_force || i--)
			continue;
		memcpy(out, f->sites[id].name, SITE_NAME_MAX);
		found = true;
	}
	pthread_mutex_unlock(&f->mu);
	return found;
}

/*
 * The id of the site called name: the one in force, else the newest that
 * was (a name removed and added again has a new id); -1: none. Under mu.
 */
static long site_find(const struct web_feed *f, const char *name, bool in_force)
{
	long old = -1;

	for (size_t i = f->n_ids; i-- > 0;) {
		if (strcmp(f->sites[i].name, name) != 0)
			continue;
		if (f->sites[i].in_force)
			return (long)i;
		if (old < 0 && !in_force)
			old = (long)i;
	}
	return old;
}

struct web_feed_slot *web_feed_latest(struct web_feed *f, const char *site)
{
	struct web_feed_slot *s = NULL;

	pthread_mutex_lock(&f->mu);
	long i = site_find(f, site, false);
	if (i >= 0 && f->sites[i].latest) {
		s = f->sites[i].latest;
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	}
	pthread_mutex_unlock(&f->mu);
	return s;
}

/* Index of a in the sorted array v[n], or -1. */
static long addr_find(const struct flow_addr *v, size_t n, const struct flow_addr *a)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(v[mid].b, a->b, 16);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

struct peer_ref {
	uint32_t pair;
	uint64_t octets;
};

static int peer_cmp(const void *a, const void *b)
{
	const struct peer_ref *x = a, *y = b;

	if (x->octets != y->octets)
		return x->octets < y->octets ? 1 : -1;
	return x->pair < y->pair ? -1 : x->pair > y->pair;
}

static void totals_json(struct wbuf *b, const char *name, const struct slot_totals *t)
{
	wbuf_fmt(b, "\"%s\":{\"flows\":%llu,\"packets\":%llu,\"octets\":%llu}", name,
	         (unsigned long long)t->flows, (unsigned long long)t->packets,
	         (unsigned long long)t->octets);
}

int web_feed_peers_json(const struct web_feed_slot *s, const struct flow_addr *ip, size_t n,
                        char **out, size_t *len)
{
	long ii = addr_find(s->in_addr, s->n_inside, ip);
	long oi = ii < 0 ? addr_find(s->out_addr, s->n_outside, ip) : -1;
	bool inside = ii >= 0;
	uint32_t first, count;
	struct peer_ref *refs;
	struct wbuf b = {0};
	char a[64];

	if (ii < 0 && oi < 0)
		return -ENOENT;
	first = inside ? s->in_first[ii] : s->out_first[oi];
	count = inside ? s->in_count[ii] : s->out_count[oi];
	if (count == 0)
		return -ENOENT;
	if (n == 0 || n > WEB_FEED_PEERS_MAX)
		n = WEB_FEED_PEERS_MAX;
	refs = malloc(count * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (uint32_t k = 0; k < count; k++) {
		uint32_t p = inside ? first + k : s->by_outside[first + k];
		refs[k].pair = p;
		refs[k].octets = s->pairs[p].egress.octets + s->pairs[p].ingress.octets;
	}
	if (count > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(refs, count, sizeof(*refs), peer_cmp);
	flow_addr_format(ip, a, sizeof(a));
	wbuf_str(&b, "{\"site\":");
	wbuf_json_str(&b, s->site);
	wbuf_fmt(&b, ",\"timeSlot\":%lld,\"ip\":\"%s\",\"kind\":\"%s\",\"peerCount\":%u,",
	         (long long)s->time_slot, a, inside ? "inside" : "outside", count);
	wbuf_str(&b, "\"peers\":[");
	for (size_t k = 0; k < count && k < n; k++) {
		const struct feed_pair *p = &s->pairs[refs[k].pair];
		const struct flow_addr *peer =
		    inside ? &s->out_addr[p->outside] : &s->in_addr[p->inside];
		/* Direction as seen from ip: what it sent and what it received. */
		const struct slot_totals *sent = inside ? &p->egress : &p->ingress;
		const struct slot_totals *received = inside ? &p->ingress : &p->egress;
		flow_addr_format(peer, a, sizeof(a));
		wbuf_fmt(&b, "%s\n{\"ip\":\"%s\",", k ? "," : "", a);
		totals_json(&b, "sent", sent);
		wbuf_str(&b, ",");
		totals_json(&b, "received", received);
		wbuf_str(&b, "}");
	}
	wbuf_str(&b, count ? "\n]}\n" : "]}\n");
	free(refs);
	if (wbuf_add(&b, "", 1)) /* NUL-terminated for the callers that print it */
		b.len--;
	if (b.over) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

int web_feed_sites_set(struct web_feed *f, const struct site_config *sites, size_t n_sites,
                       const int64_t *ids)
{
	char(*v)[SITE_ADVICE_LABELS][SITE_ADVICE_MAX],
	    (*old_advice)[SITE_ADVICE_LABELS][SITE_ADVICE_MAX];
	struct feed_site *fs, *old_sites;
	size_t n = 0;

	for (size_t k = 0; k < n_sites; k++) {
		if (ids[k] < 0 || ids[k] >= ENGINE_MAX_SITE_IDS)
			return -EINVAL;
		if ((size_t)ids[k] + 1 > n)
			n = (size_t)ids[k] + 1;
	}
	/* Ids are never taken back: the tables only grow. The copies are made under mu. */
	pthread_mutex_lock(&f->mu);
	if (n < f->n_ids)
		n = f->n_ids;
	fs = calloc(n ? n : 1, sizeof(*fs));
	v = calloc(n ? n : 1, sizeof(*v));
	if (!fs || !v) {
		pthread_mutex_unlock(&f->mu);
		free(fs);
		free(v);
		return -ENOMEM;
	}
	if (f->n_ids)
		memcpy(fs, f->sites, f->n_ids * sizeof(*fs));
	for (size_t i = 0; i < f->n_ids; i++) {
		fs[i].in_force = false;
		if (f->advice)
			memcpy(v[i], f->advice[i], sizeof(v[i]));
		else if (i < f->o.n_sites)
			memcpy(v[i], f->o.sites[i].advice, sizeof(v[i]));
	}
	for (size_t k = 0; k < n_sites; k++) {
		struct feed_site *e = &fs[ids[k]];
		snprintf(e->name, sizeof(e->name), "%s", sites[k].name);
		e->in_force = true;
		memcpy(v[ids[k]], sites[k].advice, sizeof(v[ids[k]]));
	}
	old_sites = f->sites;
	old_advice = f->advice;
	f->sites = fs;
	f->advice = v;
	f->n_ids = n;
	pthread_mutex_unlock(&f->mu);
	/* The latest slots moved to the new table with their references. */
	free(old_sites);
	free(old_advice);
	return 0;
}

int web_feed_advice_json(struct web_feed *f, const char *site, char **out, size_t *len)
{
	struct wbuf b = {0};

	/* A reload may replace the sites and texts: they are read under the lock. */
	pthread_mutex_lock(&f->mu);
	long k = site_find(f, site, true);
	if (k < 0) {
		pthread_mutex_unlock(&f->mu);
		return -ENOENT;
	}
	wbuf_str(&b, "{");
	for (unsigned l = 0; l < JUDGE__COUNT; l++) {
		wbuf_fmt(&b, "%s\n\"%s\":", l ? "," : "", judge_label_name((enum judge_label)l));
		wbuf_json_str(&b, f->advice ? f->advice[k][l] : f->o.sites[k].advice[l]);
	}
	pthread_mutex_unlock(&f->mu);
	wbuf_str(&b, "\n}\n");
	if (wbuf_add(&b, "", 1))
		b.len--;
	if (b.over) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* ---- Prometheus ----------------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped (text format 0.0.4). */
static void prom_label(struct wbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			wbuf_add(b, "\\", 1), wbuf_add(b, s, 1);
		else if (*s == '\n')
			wbuf_add(b, "\\n", 2);
		else
			wbuf_add(b, s, 1);
	}
}

static void prom_head(struct wbuf *b, const char *name, const char *type, const char *help)
{
	wbuf_fmt(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void exporter_labels(struct wbuf *b, const struct decoder_exporter_info *e)
{
	char a[64];

	flow_addr_format(&e->from.addr, a, sizeof(a));
	wbuf_fmt(b, "{exporter=\"%s\",port=\"%u\",domain=\"%u\"}", a, e->from.port, e->domain);
}

static void prom_exporters(struct web_feed *f, struct wbuf *b)
{
	size_t n = f->n_exp_pub < WEB_FEED_EXPORTERS_MAX ? f->n_exp_pub : WEB_FEED_EXPORTERS_MAX;
	static const struct {
		const char *name, *type, *help;
		size_t off;
		bool u32;
	} m[] = {
	    {"nfsentry_exporter_datagrams_total", "counter", "Datagrams decoded from the exporter",
	     offsetof(struct decoder_exporter_info, datagrams), false},
	    {"nfsentry_exporter_records_total", "counter", "Records decoded from the exporter",
	     offsetof(struct decoder_exporter_info, records), false},
	    {"nfsentry_exporter_lost_datagrams_total", "counter",
	     "Datagrams missing by the exporter's sequence numbers (NetFlow v9)",
	     offsetof(struct decoder_exporter_info, lost_datagrams), false},
	    {"nfsentry_exporter_lost_records_total", "counter",
	     "Records missing by the exporter's sequence numbers (v5, IPFIX)",
	     offsetof(struct decoder_exporter_info, lost_records), false},
	    {"nfsentry_exporter_restarts_total", "counter", "Exporter restarts seen",
	     offsetof(struct decoder_exporter_info, restarts), false},
	    {"nfsentry_exporter_templates", "gauge", "Templates held for the exporter",
	     offsetof(struct decoder_exporter_info, templates), true},
	    {"nfsentry_exporter_sampling_rate", "gauge", "Sampling rate in force (1: unsampled)",
	     offsetof(struct decoder_exporter_info, sampling), true},
	};

	wbuf_fmt(b,
	         "# HELP nfsentry_exporters_listed Exporters listed below (at most %d)\n"
	         "# TYPE nfsentry_exporters_listed gauge\nnfsentry_exporters_listed %zu\n",
	         WEB_FEED_EXPORTERS_MAX, n);
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		prom_head(b, m[k].name, m[k].type, m[k].help);
		for (size_t i = 0; i < n; i++) {
			const char *p = (const char *)&f->exp_pub[i] + m[k].off;
			uint64_t v;
			if (m[k].u32) {
				uint32_t v32;
				memcpy(&v32, p, sizeof(v32));
				v = v32;
			} else {
				memcpy(&v, p, sizeof(v));
			}
			wbuf_str(b, m[k].name);
			exporter_labels(b, &f->exp_pub[i]);
			wbuf_fmt(b, " %llu\n", (unsigned long long)v);
		}
	}
}

static void site_label(struct wbuf *b, const char *metric, const char *site)
{
	wbuf_str(b, metric);
	wbuf_str(b, "{site=\"");
	prom_label(b, site);
	wbuf_str(b, "\"");
}

/*
 * A site's series are in the Prometheus text once it has a judged slot and
 * while it is configured: a site a reload removed leaves the text at the
 * swap (a site of that name added again has a new id and counts from 0, a
 * reset to Prometheus), so that no name is listed twice. Under mu.
 */
static bool site_listed(const struct feed_site *s)
{
	return s->in_force && s->slots;
}

static void prom_sites(struct web_feed *f, struct wbuf *b)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} m[] = {
	    {"nfsentry_site_slots_total", "counter", "Judged slots of the site since start",
	     offsetof(struct feed_site, slots)},
	    {"nfsentry_site_slot_time_slot", "gauge",
	     "timeSlot (Unix seconds / 300) of the site's last judged slot",
	     offsetof(struct feed_site, time_slot)},
	    {"nfsentry_site_inside_ips", "gauge", "Inside IPs in the last slot (array A)",
	     offsetof(struct feed_site, n_inside)},
	    {"nfsentry_site_active_inside_ips", "gauge", "Inside IPs with egress in the last slot",
	     offsetof(struct feed_site, n_active)},
	    {"nfsentry_site_outside_ips", "gauge", "Outside IPs in the last slot",
	     offsetof(struct feed_site, n_outside)},
	    {"nfsentry_site_conversations", "gauge", "Conversations in the last slot",
	     offsetof(struct feed_site, n_pairs)},
	    {"nfsentry_site_slot_records", "gauge", "Records in the last slot",
	     offsetof(struct feed_site, records)},
	    {"nfsentry_site_slot_documents", "gauge", "Documents built for the last slot",
	     offsetof(struct feed_site, docs)},
	};
	static const char *const caps[] = {"inside", "outside", "pairs"};

	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		prom_head(b, m[k].name, m[k].type, m[k].help);
		for (size_t i = 0; i < f->n_ids; i++) {
			uint64_t v;
			if (!site_listed(&f->sites[i]))
				continue;
			memcpy(&v, (const char *)&f->sites[i] + m[k].off, sizeof(v));
			site_label(b, m[k].name, f->sites[i].name);
			wbuf_fmt(b, "} %llu\n", (unsigned long long)v);
		}
	}
	prom_head(b, "nfsentry_site_slot_closed_timestamp_seconds", "gauge",
	          "Wall clock when the site's last slot was judged");
	for (size_t i = 0; i < f->n_ids; i++) {
		if (!site_listed(&f->sites[i]))
			continue;
		site_label(b, "nfsentry_site_slot_closed_timestamp_seconds", f->sites[i].name);
		wbuf_fmt(b, "} %llu.%03llu\n",
		         (unsigned long long)(f->sites[i].closed_at_ms / 1000),
		         (unsigned long long)(f->sites[i].closed_at_ms % 1000));
	}
	prom_head(b, "nfsentry_site_caps_hit_total", "counter",
	          "Records whose detail was not kept because an array was at its cap");
	for (size_t i = 0; i < f->n_ids; i++) {
		const uint64_t v[3] = {f->sites[i].caps_total.inside,
		                       f->sites[i].caps_total.outside,
		                       f->sites[i].caps_total.pairs};
		if (!site_listed(&f->sites[i]))
			continue;
		for (size_t c = 0; c < 3; c++) {
			site_label(b, "nfsentry_site_caps_hit_total", f->sites[i].name);
			wbuf_fmt(b, ",array=\"%s\"} %llu\n", caps[c], (unsigned long long)v[c]);
		}
	}
	prom_head(b, "nfsentry_site_labels_total", "counter",
	          "IPs given the label, summed over the site's judged slots");
	for (size_t i = 0; i < f->n_ids; i++) {
		if (!site_listed(&f->sites[i]))
			continue;
		for (size_t l = 0; l < JUDGE__COUNT; l++) {
			site_label(b, "nfsentry_site_labels_total", f->sites[i].name);
			wbuf_fmt(b, ",label=\"%s\"} %llu\n", judge_label_name((enum judge_label)l),
			         (unsigned long long)f->sites[i].labels_total[l]);
		}
	}
	prom_head(b, "nfsentry_site_labelled_ips", "gauge", "IPs with the label in the last slot");
	for (size_t i = 0; i < f->n_ids; i++) {
		if (!site_listed(&f->sites[i]))
			continue;
		for (size_t l = 0; l < JUDGE__COUNT; l++) {
			site_label(b, "nfsentry_site_labelled_ips", f->sites[i].name);
			wbuf_fmt(b, ",label=\"%s\"} %llu\n", judge_label_name((enum judge_label)l),
			         (unsigned long long)f->sites[i].labels_last[l]);
		}
	}
}

static void device_labels(struct wbuf *b, const char *metric, const struct l2poll_status *d)
{
	site_label(b, metric, d->last.site);
	wbuf_str(b, ",device=\"");
	prom_label(b, d->last.dev->name);
	wbuf_str(b, "\"}");
}

static void prom_devices(struct web_feed *f, struct wbuf *b)
{
	size_t n = f->n_dev_pub < WEB_FEED_DEVICES_MAX ? f->n_dev_pub : WEB_FEED_DEVICES_MAX;

	if (!n)
		return;
	prom_head(b, "nfsentry_device_polls_total", "counter", "Completed SSH polls of the device");
	for (size_t i = 0; i < n; i++) {
		device_labels(b, "nfsentry_device_polls_total", &f->dev_pub[i]);
		wbuf_fmt(b, " %llu\n", (unsigned long long)f->dev_pub[i].polls);
	}
	prom_head(b, "nfsentry_device_poll_failures_total", "counter",
	          "SSH polls of the device that failed");
	for (size_t i = 0; i < n; i++) {
		device_labels(b, "nfsentry_device_poll_failures_total", &f->dev_pub[i]);
		wbuf_fmt(b, " %llu\n", (unsigned long long)f->dev_pub[i].failures);
	}
	prom_head(b, "nfsentry_device_last_poll_ok", "gauge",
	          "1 when the device's last poll succeeded, 0 when it failed or none completed");
	for (size_t i = 0; i < n; i++) {
		device_labels(b, "nfsentry_device_last_poll_ok", &f->dev_pub[i]);
		wbuf_fmt(b, " %d\n", f->dev_pub[i].polled && f->dev_pub[i].last.rc == 0);
	}
	prom_head(b, "nfsentry_device_last_poll_timestamp_seconds", "gauge",
	          "Wall clock when the device's last poll completed (0: none yet)");
	for (size_t i = 0; i < n; i++) {
		device_labels(b, "nfsentry_device_last_poll_timestamp_seconds", &f->dev_pub[i]);
		wbuf_fmt(b, " %llu\n", (unsigned long long)(f->dev_pub[i].last.ts_ms / 1000));
	}
	prom_head(b, "nfsentry_device_last_poll_entries", "gauge",
	          "ARP/MAC observations the device's last poll gave");
	for (size_t i = 0; i < n; i++) {
		device_labels(b, "nfsentry_device_last_poll_entries", &f->dev_pub[i]);
		wbuf_fmt(b, " %zu\n", f->dev_pub[i].last.entries);
	}
}

/* Table t over stats in the text format, through a scratch buffer grown as needed. */
static void prom_table(struct wbuf *b, const struct counter_table *t, const void *stats,
                       char **text, size_t *cap)
{
	size_t k = counter_prom_format(t, stats, *text, *cap);

	if (k >= *cap) {
		char *p = realloc(*text, k + 1);
		if (!p) {
			b->oom = b->over = true;
			return;
		}
		*text = p;
		*cap = k + 1;
		counter_prom_format(t, stats, *text, *cap);
	}
	wbuf_add(b, *text, k);
}

int web_feed_prometheus(struct web_feed *f, const struct counter_table *xt, const void *xstats,
                        char **out, size_t *len)
{
	struct wbuf b = {0};
	char *text = NULL;
	size_t cap = 0;

	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n_src; i++)
		prom_table(&b, f->src[i].t, f->src[i].pub, &text, &cap);
	if (xt)
		prom_table(&b, xt, xstats, &text, &cap);
	prom_exporters(f, &b);
	prom_sites(f, &b);
	prom_devices(f, &b);
	prom_head(&b, "nfsentry_web_snapshot_failures_total", "counter",
	          "Slot copies for the dashboard that could not be allocated");
	wbuf_fmt(&b, "nfsentry_web_snapshot_failures_total %llu\n",
	         (unsigned long long)f->snapshot_failures);
	prom_head(&b, "nfsentry_web_feed_refresh_deferred_total", "counter",
	          "Publications of the counters put off to a later tick: a reader held the feed");
	wbuf_fmt(&b, "nfsentry_web_feed_refresh_deferred_total %llu\n",
	         (unsigned long long)__atomic_load_n(&f->busy_deferred, __ATOMIC_RELAXED));
	pthread_mutex_unlock(&f->mu);
	free(text);
	if (wbuf_add(&b, "", 1)) /* NUL-terminated for the callers that print it */
		b.len--;
	if (b.over) {
		free(b.p);
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* ---- collector page ------------------------------------------------------- */

static void json_table(struct wbuf *b, const struct counter_table *t, const void *stats)
{
	wbuf_str(b, "{");
	for (size_t i = 0; i < t->n; i++)
		wbuf_fmt(b, "%s\"%s\":%llu", i ? "," : "", t->v[i].name,
		         (unsigned long long)counter_get(t, i, stats));
	wbuf_str(b, "}");
}

int web_feed_collector_json(struct web_feed *f, const struct counter_table *xt, const void *xstats,
                            uint64_t now_ms, char **out, size_t *len)
{
	struct wbuf b = {0};
	size_t n;
	char a[64];

	pthread_mutex_lock(&f->mu);
	wbuf_fmt(&b, "{\"published\":%s,\"publishedAtS\":%llu,\"nowS\":%llu,\"counters\":{",
	         f->published ? "true" : "false", (unsigned long long)(f->refreshed_at_ms / 1000),
	         (unsigned long long)(now_ms / 1000));
	for (size_t i = 0; i < f->n_src; i++) {
		wbuf_fmt(&b, "%s\n\"%s\":", i ? "," : "", f->src[i].t->module);
		json_table(&b, f->src[i].t, f->src[i].pub);
	}
	if (xt) {
		wbuf_fmt(&b, "%s\n\"%s\":", f->n_src ? "," : "", xt->module);
		json_table(&b, xt, xstats);
	}
	n = f->n_exp_pub < WEB_FEED_EXPORTERS_MAX ? f->n_exp_pub : WEB_FEED_EXPORTERS_MAX;
	wbuf_fmt(&b, "},\n\"exportersKnown\":%zu,\"exporters\":[", f->n_exp_pub);
	for (size_t i = 0; i < n; i++) {
		const struct decoder_exporter_info *e = &f->exp_pub[i];
		flow_addr_format(&e->from.addr, a, sizeof(a));
		wbuf_fmt(&b,
		         "%s\n{\"exporter\":\"%s\",\"port\":%u,\"domain\":%u,\"version\":%u,"
		         "\"datagrams\":%llu,\"records\":%llu,",
		         i ? "," : "", a, e->from.port, e->domain, e->version,
		         (unsigned long long)e->datagrams, (unsigned long long)e->records);
		wbuf_fmt(&b,
		         "\"lostDatagrams\":%llu,\"lostRecords\":%llu,\"restarts\":%llu,"
		         "\"templates\":%u,\"samplingRate\":%u,\"lastSeenS\":%llu}",
		         (unsigned long long)e->lost_datagrams, (unsigned long long)e->lost_records,
		         (unsigned long long)e->restarts, e->templates, e->sampling,
		         (unsigned long long)(e->last_seen_ms / 1000));
	}
	wbuf_str(&b, "],\n\"sites\":[");
	for (size_t i = 0, k = 0; i < f->n_ids; i++) {
		const struct feed_site *s = &f->sites[i];
		if (!s->in_force)
			continue;
		wbuf_str(&b, k++ ? ",\n{\"site\":" : "\n{\"site\":");
		wbuf_json_str(&b, s->name);
		wbuf_fmt(&b,
		         ",\"slots\":%llu,\"timeSlot\":%lld,\"closedAtS\":%llu,\"insideIps\":%llu,"
		         "\"outsideIps\":%llu,\"conversations\":%llu,",
		         (unsigned long long)s->slots, (long long)s->time_slot,
		         (unsigned long long)(s->closed_at_ms / 1000),
		         (unsigned long long)s->n_inside, (unsigned long long)s->n_outside,
		         (unsigned long long)s->n_pairs);
		wbuf_fmt(&b,
		         "\"records\":%llu,\"capsHit\":{\"inside\":%llu,\"outside\":%llu,"
		         "\"pairs\":%llu}}",
		         (unsigned long long)s->records, (unsigned long long)s->caps_total.inside,
		         (unsigned long long)s->caps_total.outside,
		         (unsigned long long)s->caps_total.pairs);
	}
	n = f->n_dev_pub < WEB_FEED_DEVICES_MAX ? f->n_dev_pub : WEB_FEED_DEVICES_MAX;
	wbuf_str(&b, "],\n\"devices\":[");
	for (size_t i = 0; i < n; i++) {
		const struct l2poll_status *d = &f->dev_pub[i];
		wbuf_str(&b, i ? ",\n{\"site\":" : "\n{\"site\":");
		wbuf_json_str(&b, d->last.site);
		wbuf_str(&b, ",\"device\":");
		wbuf_json_str(&b, d->last.dev->name);
		wbuf_fmt(&b,
		         ",\"polled\":%s,\"polls\":%llu,\"failures\":%llu,\"ok\":%s,"
		         "\"lastPollS\":%llu,\"tookMs\":%llu,\"entries\":%zu,\"message\":",
		         d->polled ? "true" : "false", (unsigned long long)d->polls,
		         (unsigned long long)d->failures,
		         d->polled && d->last.rc == 0 ? "true" : "false",
		         (unsigned long long)(d->last.ts_ms / 1000),
		         (unsigned long long)d->last.took_ms, d->last.entries);
		wbuf_json_str(&b, d->polled ? d->last.err : "");
		wbuf_str(&b, "}");
	}
	wbuf_str(&b, "]}\n");
	pthread_mutex_unlock(&f->mu);
	if (wbuf_add(&b, "", 1)) /* NUL-terminated for the callers that print it */
		b.len--;
	if (b.over) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
