/*
 * daily: the analysis of one site's day (daily.h, docs/daily.md).
 *
 * One pass over the day's offender records and one over its inside (and
 * arpMac) records decide, per inside IP, which outside IPs it had contact
 * with. A slot's records come from its digest when it has a usable one,
 * else from its documents (digest.h: both give the same records):
 * the peers of its own conversations (arrayPeer less repliedTo), the peers
 * it only answered, and the offenders whose ipList holds it. Answers and
 * receptions do not count when the outside IP probed: it started
 * conversations with more than probe_targets inside IPs that day, or got a
 * rule I label. An inside IP with more own peers than max_peers in any
 * slot is dropped at once, so only the quiet ones are held; the answers of
 * a dropped one still make targets of the outside IPs it answered, so who
 * probes does not depend on the order of the documents. The few
 * candidates left are then read again through the key index (every
 * document of that IP in the day) for their exact figures and contact
 * slots, and kept when those stay under the thresholds.
 *
 * Not this file's job: output formats and the collector's schedule
 * (report.c, runner.c), parsing and the digest's format (digest.c).
 */
#include "nfsentry/daily.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "jscan.h"
#include "nfsentry/clock.h"
#include "nfsentry/grow.h"
#include "nfsentry/l2.h"
#include "nfsentry/reputation.h"
#include "nfsentry/store.h"
#include "tz.h"

/* ---- days and time zones -------------------------------------------------- */

/*
 * Local midnight of (y, m, d) in tz as Unix time, as mktime() gives it
 * (tz_local_midnight()); *wy, *wm, *wd the local date of the result.
 * -1 when the zone cannot be loaded.
 */
static int64_t local_midnight(int y, int m, int d, const char *tz, int *wy, int *wm, int *wd)
{
	const struct tz_zone *z;
	struct tz_zone *own;
	int64_t t;

	if (tz_get(tz, &z, &own) != 0)
		return -1;
	t = tz_local_midnight(z, y, m, d, wy, wm, wd);
	tz_free(own);
	return t;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
	return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

static int day_fill(int y, int m, int d, const char *tz, struct daily_day *out)
{
	int y0, m0, d0, y1, m1, d1;
	int64_t a = local_midnight(y, m, d, tz, &y0, &m0, &d0);
	int64_t b = local_midnight(y, m, d + 1, tz, &y1, &m1, &d1);

	if (a == -1 || b <= a || y0 != y || m0 != m || d0 != d)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	snprintf(out->date, sizeof(out->date), "%04d-%02d-%02d", y, m, d);
	out->start_s = a;
	out->end_s = b;
	out->from_slot = ceil_div(a, STORE_SLOT_SECONDS);
	out->to_slot = ceil_div(b, STORE_SLOT_SECONDS) - 1;
	out->n_slots = (uint32_t)(out->to_slot - out->from_slot + 1);
	return 0;
}

int daily_day_resolve(const char *date, const char *tz, struct daily_day *out)
{
	int y, m, d, n = 0;

	if (!date || !daily_tz_valid(tz) || strlen(date) != 10 ||
	    sscanf(date, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || y < 1970 || y > 9999 ||
	    m < 1 || m > 12 || d < 1 || d > 31)
		return -EINVAL;
	return day_fill(y, m, d, tz, out);
}

int daily_day_of(int64_t t_s, const char *tz, struct daily_day *out)
{
	const struct tz_zone *z;
	struct tz_zone *own;
	int y, m, d;

	/* Years 0001..9999 (the zone's arithmetic stays far from overflow). */
	if (t_s < -62135596800 || t_s > 253402300799 || !daily_tz_valid(tz) ||
	    tz_get(tz, &z, &own) != 0)
		return -EINVAL;
	tz_local_date(z, t_s, &y, &m, &d);
	tz_free(own);
	return day_fill(y, m, d, tz, out);
}

/* ---- tables ------------------------------------------------------------------ */

/* An inside IP of the day. */
struct din {
	/* What every document of the IP touches first, in one cache line with ip. */
	struct flow_addr ip;
	uint8_t n_own, n_rep, n_rcv;
	bool dropped;  /* too busy to be a suspect */
	bool overflow; /* more possible contacts than kept (or the outside cap): no suspect */
	bool sent;     /* it had an inside document (sent something) */
	uint32_t own[DAILY_PEERS_MAX]; /* outside indexes: its own conversations */
	uint32_t rep[DAILY_PEERS_MAX]; /* answered */
	uint32_t rcv[DAILY_PEERS_MAX]; /* received from an offender */
};

/* Targets kept in an outside IP's entry; more (probe_targets > 3) go to tgt_more. */
#define DOUT_TGT_INLINE 4
/* Bytes of an outside IP's label list ("scan,flood,..."). */
#define DOUT_LABELS_LEN 96

/*
 * An outside IP of the day. A busy site sees a few hundred thousand: the
 * entry is kept small (72 bytes), the rare parts are allocated apart.
 */
struct dout {
	/* ip, the flags and the first targets share a cache line (target_add). */
	struct flow_addr ip;
	uint8_t n_tgt;
	bool prober;                   /* more than probe_targets targets, or a rule I label */
	bool offender;                 /* an offender document that day */
	uint32_t tgt[DOUT_TGT_INLINE]; /* inside indexes it started conversations with */
	uint32_t *tgt_more;            /* the targets after those (malloc), or NULL */
	uint32_t off_slots, off_max_targets;
	uint64_t off_packets;
	char *labels; /* DOUT_LABELS_LEN bytes (malloc) once it had a label, or NULL */
};

/*
 * Open addressing over 16-byte addresses. A slot holds the entry's index +
 * 1 (low 32 bits; 0: empty) and the high 32 bits of the address's hash,
 * so a probe compares an entry only when the hashes agree: a busy day's
 * tables are far larger than the caches, and each entry read is a miss.
 */
struct addr_index {
	uint64_t *slot;
	size_t cap; /* power of two */
};

struct table {
	struct addr_index ix;
	void *v;
	size_t n, cap, elem, max;
	uint64_t dropped;
};

static uint64_t ix_slot(uint64_t h, size_t i)
{
	return (h & 0xffffffff00000000ull) | (uint64_t)(i + 1);
}

/*
 * Index of a in t (inserting a zeroed entry when add), or -1 (absent, or
 * the cap); h0 is flow_addr_hash(a, 0).
 */
static int64_t table_find_h(struct table *t, const struct flow_addr *a, uint64_t h0, bool add)
{
	if (t->ix.cap == 0 || (add && (t->n + 1) * 2 > t->ix.cap)) {
		if (!add)
			return -1;
		size_t nc = t->ix.cap ? t->ix.cap * 2 : 1024;
		uint64_t *ns = calloc(nc, sizeof(*ns));
		if (!ns)
			return -1;
		for (size_t k = 0; k < t->ix.cap; k++) {
			if (!t->ix.slot[k])
				continue;
			uint32_t i = (uint32_t)t->ix.slot[k] - 1;
			const struct flow_addr *e =
			    (const struct flow_addr *)((char *)t->v + (size_t)i * t->elem);
			uint64_t eh = flow_addr_hash(e, 0);
			size_t h = eh & (nc - 1);
			while (ns[h])
				h = (h + 1) & (nc - 1);
			ns[h] = ix_slot(eh, i);
		}
		free(t->ix.slot);
		t->ix.slot = ns;
		t->ix.cap = nc;
	}
	uint64_t tag = h0 & 0xffffffff00000000ull;
	size_t h = h0 & (t->ix.cap - 1);
	for (uint64_t v; (v = t->ix.slot[h]) != 0; h = (h + 1) & (t->ix.cap - 1)) {
		uint32_t i = (uint32_t)v - 1;
		if ((v & 0xffffffff00000000ull) == tag &&
		    memcmp((char *)t->v + (size_t)i * t->elem, a->b, 16) == 0)
			return i;
	}
	if (!add)
		return -1;
	if (t->n >= t->max) {
		t->dropped++;
		return -1;
	}
	if (grow_array(&t->v, &t->cap, t->n + 1, t->elem, 1024, t->max) != 0)
		return -1;
	char *e = (char *)t->v + t->n * t->elem;
	memset(e, 0, t->elem);
	memcpy(e, a->b, 16);
	t->ix.slot[h] = ix_slot(h0, t->n++);
	return (int64_t)(t->n - 1);
}

static int64_t table_find(struct table *t, const struct flow_addr *a, bool add)
{
	return table_find_h(t, a, flow_addr_hash(a, 0), add);
}

/*
 * Hints for a later table_find_h(h): fetch h's index slot, then (once it
 * is there) the entry whose hash agrees, if any.
 */
static void table_prefetch_slot(const struct table *t, uint64_t h)
{
	if (t->ix.cap)
		__builtin_prefetch(&t->ix.slot[h & (t->ix.cap - 1)]);
}

static void table_prefetch_entry(const struct table *t, uint64_t h0)
{
	if (!t->ix.cap)
		return;
	uint64_t tag = h0 & 0xffffffff00000000ull;
	size_t h = h0 & (t->ix.cap - 1);
	for (uint64_t v; (v = t->ix.slot[h]) != 0; h = (h + 1) & (t->ix.cap - 1)) {
		if ((v & 0xffffffff00000000ull) == tag) {
			__builtin_prefetch((const char *)t->v +
			                   (size_t)((uint32_t)v - 1) * t->elem);
			return;
		}
	}
}

static void table_free(struct table *t)
{
	free(t->ix.slot);
	free(t->v);
}

/* ---- the analysis --------------------------------------------------------- */

/*
 * Inside records decoded ahead of their application, so the table
 * entries they touch are fetched from memory while earlier ones are
 * applied (a busy slot's tables are far larger than the caches: each
 * record and peer is a cache miss or two). The records are still applied
 * one by one in their order: prefetches change no result.
 */
#define IB_RECORDS 64 /* records a batch */
struct inside_batch {
	struct dg_inside rec[IB_RECORDS];
	uint32_t at[IB_RECORDS]; /* where each record's peers and hashes start */
	uint32_t n;              /* records in the batch */
	struct dg_peer *peer;    /* the batch's peers, record after record */
	size_t n_peer, cap_peer;
	uint64_t *hash; /* per record: its IP's hash, then its peers' */
	size_t n_hash, cap_hash;
};

/* The same for a digest's arpMac records (arpmac_batch_apply). */
struct arpmac_batch {
	struct dg_arpmac rec[IB_RECORDS];
	uint64_t hash[IB_RECORDS];
	uint32_t n;
	struct flow_addr *ip; /* the batch's IPs, record after record */
	size_t n_ip, cap_ip;
	char (*ifs)[DG_DEV_MAX]; /* its interface names */
	size_t n_ifs, cap_ifs;
};

/* Slots of the longest day (25 hours: 300), with room. */
#define DAILY_DAY_SLOTS_MAX 320
/*
 * Offender documents of a slot that pass 0 reads instead of the slot's
 * digest: a few hundred cost less than the digest's megabytes (a busy
 * site's 2.9 MB, all read again by pass 1); an attack's thousands do not.
 */
#define DAILY_OFF_DOCS 256

struct an {
	struct store *s;
	const char *site;
	const struct daily_config *cfg;
	const struct daily_day *day;
	struct daily_result *r;
	struct table in, out;
	uint64_t deadline_ms;
	uint64_t docs;
	int err;
	/* Records parsed or decoded (digest.h), one at a time. */
	struct dg_buf buf;
	/* A digest's inside and arpMac records, a batch at a time (*_batch_apply). */
	struct inside_batch ib;
	struct arpmac_batch mb;
	/* Per slot of the day: read from its digest (true) or its documents. */
	bool from_digest[DAILY_DAY_SLOTS_MAX];
	/*
	 * Per slot: its slot document says it has at most DAILY_OFF_DOCS
	 * offender documents. Pass 0 reads those (a few kB) rather than the
	 * whole digest, which pass 1 then reads once, checksum and all.
	 */
	bool few_offenders[DAILY_DAY_SLOTS_MAX];
	/* MACs (pass 3). */
	struct mac_ent *macs;
	size_t n_macs, cap_macs;
	uint32_t *mac_ix;
	size_t mac_ix_cap;
};

static struct din *din_at(struct an *a, int64_t i)
{
	return &((struct din *)a->in.v)[i];
}

static struct dout *dout_at(struct an *a, int64_t i)
{
	return &((struct dout *)a->out.v)[i];
}

/* Is this document of the analysed site? (store_key_range reads every site) */
static bool doc_site_is(const struct store_doc *d, const char *site)
{
	struct jval v;
	char buf[STORE_SITE_MAX];
	return jscan_get(d->json, d->json_len, "site", &v) && jscan_str(&v, buf, sizeof(buf)) &&
	       strcmp(buf, site) == 0;
}

static bool val_addr(const struct jval *v, struct flow_addr *ip)
{
	char buf[64];
	return jscan_str(v, buf, sizeof(buf)) && flow_addr_parse(buf, ip) == 0;
}

static int check_time(struct an *a)
{
	if ((++a->docs & 1023) == 0 && clock_ms(CLOCK_MONOTONIC) > a->deadline_ms) {
		a->err = -ETIMEDOUT;
		return -ETIMEDOUT;
	}
	return 0;
}

/* Add inside index i to o's targets; o becomes a prober past probe_targets. */
static void target_add(struct an *a, struct dout *o, uint32_t i)
{
	if (o->prober)
		return;
	for (unsigned k = 0; k < o->n_tgt; k++)
		if ((k < DOUT_TGT_INLINE ? o->tgt[k] : o->tgt_more[k - DOUT_TGT_INLINE]) == i)
			return;
	if (o->n_tgt >= DOUT_TGT_INLINE) {
		/* probe_targets + 1 targets at most: past that it is a prober. */
		if (!o->tgt_more &&
		    !(o->tgt_more = malloc((a->cfg->probe_targets + 1 - DOUT_TGT_INLINE) *
		                           sizeof(*o->tgt_more)))) {
			/* Out of memory: counted as a prober (its answers never make a suspect). */
			o->prober = true;
			return;
		}
		o->tgt_more[o->n_tgt - DOUT_TGT_INLINE] = i;
		o->n_tgt++;
	} else {
		o->tgt[o->n_tgt++] = i;
	}
	if (o->n_tgt > a->cfg->probe_targets)
		o->prober = true;
}

static void set_add(uint32_t *set, uint8_t *n, uint32_t v, bool *overflow)
{
	for (unsigned k = 0; k < *n; k++)
		if (set[k] == v)
			return;
	if (*n >= DAILY_PEERS_MAX) {
		*overflow = true;
		return;
	}
	set[(*n)++] = v;
}

/*
 * Add outside index v to a possible-contact set (answered, received). A
 * prober never makes a contact, so probers are left out, and pruned when
 * the set is full; when it is full of non-probers, *overflow is set (the
 * host is then no suspect: it had more possible contacts than are kept).
 */
static void cset_add(struct an *a, uint32_t *set, uint8_t *n, uint32_t v, bool *overflow)
{
	if (dout_at(a, v)->prober)
		return;
	for (unsigned k = 0; k < *n; k++)
		if (set[k] == v)
			return;
	if (*n >= DAILY_PEERS_MAX) {
		uint8_t m = 0;
		for (unsigned k = 0; k < *n; k++)
			if (!dout_at(a, set[k])->prober)
				set[m++] = set[k];
		*n = m;
	}
	if (*n >= DAILY_PEERS_MAX) {
		*overflow = true;
		return;
	}
	set[(*n)++] = v;
}

/* Add one label name to dst ("scan,flood"): once, while it fits. */
static void labels_add(char *dst, size_t len, const char *name)
{
	size_t nl = strlen(name), dl = strlen(dst);
	for (const char *p = dst; (p = strstr(p, name)); p += nl)
		if ((p == dst || p[-1] == ',') && (p[nl] == ',' || p[nl] == '\0'))
			return;
	if (dl + nl + 2 < len)
		snprintf(dst + dl, len - dl, "%s%s", dl ? "," : "", name);
}

/* Pass 1: an offender record. */
static void offender_apply(struct an *a, const struct dg_offender *rec)
{
	int64_t oi = table_find(&a->out, &rec->ip, true);
	if (oi < 0)
		return;
	struct dout *o = dout_at(a, oi);
	o->offender = true;
	o->off_slots++;
	if (rec->has_tp && (uint64_t)rec->tp > o->off_max_targets)
		o->off_max_targets = (uint32_t)rec->tp;
	o->off_packets += rec->packets;
	if (rec->labelled) {
		o->prober = true;
		if (o->labels || (o->labels = calloc(1, DOUT_LABELS_LEN)))
			for (uint32_t k = 0; k < rec->n_labels; k++)
				labels_add(o->labels, DOUT_LABELS_LEN, rec->labels[k]);
	}
	if (rec->tp > (int64_t)a->cfg->probe_targets)
		o->prober = true;
	for (uint32_t k = 0; !o->prober && k < rec->n_list; k++) {
		int64_t ii = table_find(&a->in, &rec->list[k], true);
		if (ii < 0)
			continue;
		o = dout_at(a, oi);
		struct din *in = din_at(a, ii);
		target_add(a, o, (uint32_t)ii);
		cset_add(a, in->rcv, &in->n_rcv, (uint32_t)oi, &in->overflow);
	}
}

static int on_offender(void *ud, const struct store_doc *d)
{
	struct an *a = ud;
	struct dg_offender rec;

	if (check_time(a))
		return a->err;
	a->r->docs_offender++;
	int rc = dg_offender_parse(d, a->cfg->probe_targets, &rec, &a->buf);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		a->r->docs_bad++;
	else
		offender_apply(a, &rec);
	return 0;
}

/*
 * One answered peer o of inside IP ii (o started the conversation): o gets
 * ii as a target whatever ii is, so who probes does not depend on the order
 * of the documents; a host still held also keeps o as a possible contact.
 */
static void inside_answered(struct an *a, int64_t ii, const struct flow_addr *o, uint64_t oh)
{
	int64_t oi = table_find_h(&a->out, o, oh, true);
	struct din *in = din_at(a, ii);
	if (oi < 0) {
		in->overflow = true;
		return;
	}
	target_add(a, dout_at(a, oi), (uint32_t)ii);
	if (!in->dropped)
		cset_add(a, in->rep, &in->n_rep, (uint32_t)oi, &in->overflow);
}

/* One own peer o of inside IP ii: more than max_peers over the day drops it. */
static void inside_own(struct an *a, int64_t ii, const struct flow_addr *o, uint64_t oh)
{
	struct din *in = din_at(a, ii);
	if (in->dropped)
		return;
	int64_t oi = table_find_h(&a->out, o, oh, true);
	in = din_at(a, ii);
	if (oi < 0) {
		in->overflow = true;
		return;
	}
	bool over = false;
	set_add(in->own, &in->n_own, (uint32_t)oi, &over);
	if (over || in->n_own > a->cfg->max_peers)
		in->dropped = true;
}

/*
 * Pass 2: an inside record; h: flow_addr_hash() of its IP, then of each
 * peer (NULL: computed here).
 */
static void inside_apply(struct an *a, const struct dg_inside *rec, const uint64_t *h)
{
	int64_t ii =
	    h ? table_find_h(&a->in, &rec->ip, h[0], true) : table_find(&a->in, &rec->ip, true);
	if (ii < 0)
		return;
	struct din *in = din_at(a, ii);
	in->sent = true;
	/* Own peers (peers less answered ones) past max_peers drop it now. */
	if (rec->busy || (rec->has_excess && rec->excess > (int32_t)a->cfg->max_peers))
		in->dropped = true;
	for (uint32_t k = 0; k < rec->n_peers; k++) {
		const struct flow_addr *o = &rec->peers[k].ip;
		uint64_t oh = h ? h[1 + k] : flow_addr_hash(o, 0);
		if (rec->peers[k].answered)
			inside_answered(a, ii, o, oh);
		else
			inside_own(a, ii, o, oh);
	}
}

static int on_inside(void *ud, const struct store_doc *d)
{
	struct an *a = ud;
	struct dg_inside rec;

	if (check_time(a))
		return a->err;
	a->r->docs_inside++;
	int rc = dg_inside_parse(d, a->cfg->max_peers, &rec, &a->buf);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		a->r->docs_bad++;
	else
		inside_apply(a, &rec, NULL);
	return 0;
}

/* ---- pass 4: the candidates' figures ------------------------------------- */

struct cand {
	struct an *a;
	struct daily_suspect *sp;
	uint32_t *contact_out;                  /* outside index per contact */
	uint64_t slotbits[(300 * 2 + 63) / 64]; /* contact slots of the day */
	uint64_t rcv_flows;                     /* received-only flows */
	const char *ipstr;
	struct flow_addr ip;
};

static void slot_mark(struct cand *c, struct daily_contact *ct, int64_t ts)
{
	int64_t k = ts - c->a->day->from_slot;
	if (k < 0 || k >= (int64_t)(sizeof(c->slotbits) * 8))
		return;
	if (!ct->slots || ts < ct->first_slot)
		ct->first_slot = ts;
	if (!ct->slots || ts > ct->last_slot)
		ct->last_slot = ts;
	ct->slots++;
	c->slotbits[k / 64] |= 1ull << (k % 64);
}

static int contact_of(struct cand *c, const struct flow_addr *o)
{
	for (uint32_t k = 0; k < c->sp->n_contacts; k++)
		if (memcmp(c->sp->contacts[k].ip.b, o->b, 16) == 0)
			return (int)k;
	return -1;
}

static void add_figure(uint64_t *dst, const struct store_doc *d, const char *key)
{
	struct jval v;
	int64_t x;
	if (jscan_get(d->json, d->json_len, key, &v) && jscan_i64(&v, &x) && x > 0)
		*dst += (uint64_t)x;
}

/* The candidate's inside documents of the day. */
static int cand_inside(void *ud, const struct store_doc *d)
{
	struct cand *c = ud;
	struct jval v, peers;
	int64_t ts;

	if (strcmp(d->kind, "inside") != 0 || !doc_site_is(d, c->a->site) ||
	    !jscan_get(d->json, d->json_len, "timeSlot", &v) || !jscan_i64(&v, &ts) ||
	    !jscan_get(d->json, d->json_len, "arrayPeer", &peers))
		return 0;
	bool any = false;
	struct jval e;
	size_t pos = 0;
	while (jscan_next(&peers, &pos, &e) == 1) {
		struct flow_addr o;
		int k;
		if (val_addr(&e, &o) && (k = contact_of(c, &o)) >= 0 &&
		    c->sp->contacts[k].how != DAILY_RECEIVED) {
			slot_mark(c, &c->sp->contacts[k], ts);
			any = true;
		}
	}
	if (!any)
		return 0;
	add_figure(&c->sp->flows, d, "flows");
	add_figure(&c->sp->packets, d, "packets");
	add_figure(&c->sp->octets, d, "octets");
	add_figure(&c->sp->in_flows, d, "inFlows");
	add_figure(&c->sp->in_packets, d, "inPackets");
	add_figure(&c->sp->in_octets, d, "inOctets");
	return 0;
}

/* A received contact's offender documents: the slots whose ipList holds the candidate. */
static int cand_offender(void *ud, const struct store_doc *d)
{
	struct cand *c = ud;
	struct jval v, list, e;
	int64_t ts, tp = 1;
	char want[64];

	if (strcmp(d->kind, "offender") != 0 || !doc_site_is(d, c->a->site) ||
	    !jscan_get(d->json, d->json_len, "timeSlot", &v) || !jscan_i64(&v, &ts) ||
	    !jscan_get(d->json, d->json_len, "ipList", &list) ||
	    !jscan_get(d->json, d->json_len, "ip", &v))
		return 0;
	struct flow_addr o;
	int k;
	if (!val_addr(&v, &o) || (k = contact_of(c, &o)) < 0 ||
	    c->sp->contacts[k].how != DAILY_RECEIVED)
		return 0;
	snprintf(want, sizeof(want), "\"%s\"", c->ipstr);
	size_t pos = 0;
	bool found = false;
	while (!found && jscan_next(&list, &pos, &e) == 1)
		found = e.n == strlen(want) && memcmp(e.p, want, e.n) == 0;
	if (!found)
		return 0;
	slot_mark(c, &c->sp->contacts[k], ts);
	/* The sender's figures of the slot, shared evenly among the IPs it touched. */
	if (jscan_get(d->json, d->json_len, "touchPeers", &v) && jscan_i64(&v, &tp) && tp < 1)
		tp = 1;
	uint64_t f = 0, p = 0, oc = 0;
	add_figure(&f, d, "flows");
	add_figure(&p, d, "packets");
	add_figure(&oc, d, "octets");
	c->sp->in_flows += f / (uint64_t)tp;
	c->sp->in_packets += p / (uint64_t)tp;
	c->sp->in_octets += oc / (uint64_t)tp;
	c->rcv_flows += f / (uint64_t)tp;
	return 0;
}

static void regularity(struct cand *c)
{
	struct daily_suspect *sp = c->sp;
	int64_t prev = -1, n = 0;
	double sum = 0, sq = 0;
	uint32_t gaps = 0;

	for (size_t k = 0; k < sizeof(c->slotbits) * 8; k++) {
		if (!(c->slotbits[k / 64] >> (k % 64) & 1))
			continue;
		int64_t ts = c->a->day->from_slot + (int64_t)k;
		if (n == 0)
			sp->first_slot = ts;
		sp->last_slot = ts;
		if (prev >= 0) {
			double g = (double)(ts - prev);
			sum += g;
			sq += g * g;
			gaps++;
		}
		prev = ts;
		n++;
	}
	sp->contact_slots = (uint32_t)n;
	sp->mean_gap_slots = gaps ? sum / gaps : 0;
	sp->gap_cv = -1;
	if (gaps >= 2) {
		double mean = sum / gaps, var = sq / gaps - mean * mean;
		sp->gap_cv = mean > 0 ? sqrt(var > 0 ? var : 0) / mean : -1;
	}
	sp->beacon = n >= (int64_t)c->a->cfg->beacon_min_contacts && sp->gap_cv >= 0 &&
	             sp->gap_cv <= c->a->cfg->beacon_max_cv;
}

/* Decide one inside IP; appends a suspect to the result when it is one. */
static int candidate(struct an *a, int64_t ii)
{
	struct din in = *din_at(a, ii);
	struct daily_suspect sp;
	char ipstr[64];

	if (in.dropped || in.overflow)
		return 0;
	memset(&sp, 0, sizeof(sp));
	sp.ip = in.ip;
	/* Contacts: own, then answered / received from non-probers (no repeats). */
	const uint32_t *sets[3] = {in.own, in.rep, in.rcv};
	const uint8_t ns[3] = {in.n_own, in.n_rep, in.n_rcv};
	uint32_t idx[DAILY_PEERS_MAX];
	for (int s = 0; s < 3; s++) {
		for (unsigned k = 0; k < ns[s]; k++) {
			struct dout *o = dout_at(a, sets[s][k]);
			if (s > 0 && o->prober)
				continue;
			bool dup = false;
			for (uint32_t j = 0; j < sp.n_contacts; j++)
				dup |= idx[j] == sets[s][k];
			if (dup)
				continue;
			if (sp.n_contacts >= a->cfg->max_peers)
				return 0;
			idx[sp.n_contacts] = sets[s][k];
			sp.contacts[sp.n_contacts++] =
			    (struct daily_contact){.ip = o->ip,
			                           .how = (enum daily_how)s,
			                           .offender = o->offender,
			                           .offender_day = o->offender};
		}
	}
	if (sp.n_contacts == 0)
		return 0;
	sp.received_only = !in.sent;
	struct cand c = {.a = a, .sp = &sp, .contact_out = idx, .ip = in.ip, .ipstr = ipstr};
	flow_addr_format(&in.ip, ipstr, sizeof(ipstr));
	int rc = store_key_range(a->s, ipstr, a->day->from_slot, a->day->to_slot, cand_inside, &c);
	for (uint32_t k = 0; rc == 0 && k < sp.n_contacts; k++) {
		if (sp.contacts[k].how != DAILY_RECEIVED)
			continue;
		char os[64];
		flow_addr_format(&sp.contacts[k].ip, os, sizeof(os));
		rc = store_key_range(a->s, os, a->day->from_slot, a->day->to_slot, cand_offender,
		                     &c);
	}
	if (rc)
		return rc;
	regularity(&c);
	if (sp.contact_slots == 0 || sp.flows + c.rcv_flows > a->cfg->max_flows ||
	    sp.packets + sp.in_packets > a->cfg->max_packets)
		return 0;
	struct daily_result *r = a->r;
	if (r->n_suspects >= a->cfg->max_suspects) {
		r->suspects_dropped++;
		return 0;
	}
	size_t cap = r->n_suspects;
	if (grow_array((void **)&r->suspects, &cap, r->n_suspects + 1, sizeof(sp), 16,
	               a->cfg->max_suspects) != 0)
		return -ENOMEM;
	r->suspects[r->n_suspects++] = sp;
	return 0;
}

static int suspect_cmp(const void *x, const void *y)
{
	const struct daily_suspect *p = x, *q = y;
	uint64_t fp = p->flows + p->in_flows, fq = q->flows + q->in_flows;
	if (fp != fq)
		return fp < fq ? -1 : 1;
	if (p->packets + p->in_packets != q->packets + q->in_packets)
		return p->packets + p->in_packets < q->packets + q->in_packets ? -1 : 1;
	return memcmp(p->ip.b, q->ip.b, 16);
}

/* ---- the offender database (rule III) ------------------------------------ */

struct rep_look {
	int64_t to_slot;
	bool found;
};

static int rep_entry(void *ud, const struct reputation_entry *e)
{
	struct rep_look *l = ud;
	/* An offence after the analysed day does not count (a rerun of an old day). */
	if (e->first_slot <= l->to_slot)
		l->found = true;
	return 0;
}

/*
 * Flag the suspects' contacts whose outside IP the offender database holds
 * with a first offence by the day's end: an IP that offended on an earlier
 * day, at this or any other site. Only the suspects' few contacts are
 * looked up (one indexed query each).
 */
static int reputation_flag(struct an *a)
{
	struct reputation_db *db;
	char err[256], ip[64];
	struct daily_result *r = a->r;

	if (!a->cfg->reputation_db[0] ||
	    reputation_db_open(a->cfg->reputation_db, true, &db, err, sizeof(err)) != 0)
		return 0;
	r->reputation_read = true;
	for (size_t k = 0; k < r->n_suspects; k++) {
		struct daily_suspect *sp = &r->suspects[k];
		for (uint32_t c = 0; c < sp->n_contacts; c++) {
			struct rep_look l = {.to_slot = a->day->to_slot};
			flow_addr_format(&sp->contacts[c].ip, ip, sizeof(ip));
			int rc = reputation_db_foreach(db, false, ip, rep_entry, &l);
			if (rc < 0) {
				reputation_db_close(db);
				return rc;
			}
			sp->contacts[c].offender_db = l.found;
			sp->contacts[c].offender |= l.found;
		}
	}
	reputation_db_close(db);
	return 0;
}

/* ---- slots of the day: coverage and labels ------------------------------- */

static int on_slot(void *ud, const struct store_doc *d)
{
	struct an *a = ud;
	struct daily_result *r = a->r;
	struct jval v, key, val;

	r->slots_present++;
	if (jscan_get(d->json, d->json_len, "partial", &v) && jscan_true(&v))
		r->slots_partial++;
	int64_t ts, n_off;
	if (jscan_get(d->json, d->json_len, "timeSlot", &v) && jscan_i64(&v, &ts) &&
	    ts >= a->day->from_slot && ts - a->day->from_slot < DAILY_DAY_SLOTS_MAX &&
	    jscan_get(d->json, d->json_len, "offenders", &v) && jscan_i64(&v, &n_off) &&
	    n_off >= 0 && n_off <= DAILY_OFF_DOCS)
		a->few_offenders[ts - a->day->from_slot] = true;
	if (!jscan_get(d->json, d->json_len, "labels", &v))
		return 0;
	size_t pos = 0;
	while (jscan_member(&v, &pos, &key, &val) == 1) {
		char name[24];
		int64_t x;
		struct jval ks = key;
		if (!jscan_str(&ks, name, sizeof(name)) || !jscan_i64(&val, &x) || x < 0)
			continue;
		size_t k = 0;
		while (k < r->n_labels && strcmp(r->label_names[k], name) != 0)
			k++;
		if (k == r->n_labels) {
			if (k >= sizeof(r->labels) / sizeof(r->labels[0]))
				continue;
			snprintf(r->label_names[k], sizeof(r->label_names[k]), "%s", name);
			r->n_labels++;
		}
		r->labels[k] += (uint64_t)x;
	}
	return 0;
}

/* ---- MACs with several IPs ------------------------------------------------- */

struct mac_ent {
	uint8_t mac[6];
	bool used;
	struct daily_mac_ip *ips;
	size_t n_ips, cap_ips;
	uint32_t ips_dropped;
	char (*places)[96];
	size_t n_places, cap_places;
};

static bool mac_excluded(const struct daily_config *cfg, const uint8_t mac[6])
{
	static const uint8_t zero[6];
	if (memcmp(mac, zero, 6) == 0)
		return true;
	for (size_t k = 0; k < cfg->n_exclude_macs; k++)
		if (memcmp(cfg->exclude_macs[k], mac, 6) == 0)
			return true;
	return false;
}

static bool ip_excluded(const struct daily_config *cfg, const struct flow_addr *ip)
{
	for (size_t k = 0; k < cfg->n_exclude_prefixes; k++)
		if (flow_addr_in_prefix(ip, &cfg->exclude_prefixes[k].addr,
		                        cfg->exclude_prefixes[k].len))
			return true;
	return false;
}

static uint64_t mac_hash(const uint8_t mac[6])
{
	uint64_t h = 0;
	memcpy(&h, mac, 6);
	return flow_mix64(h);
}

/* The entry of mac (h: mac_hash(mac)), added when new; NULL at the cap or out of memory. */
static struct mac_ent *mac_find(struct an *a, const uint8_t mac[6], uint64_t h0)
{
	if (a->mac_ix_cap == 0 || (a->n_macs + 1) * 2 > a->mac_ix_cap) {
		size_t nc = a->mac_ix_cap ? a->mac_ix_cap * 2 : 1024;
		uint32_t *ns = calloc(nc, sizeof(*ns));
		if (!ns)
			return NULL;
		for (size_t k = 0; k < a->mac_ix_cap; k++) {
			if (!a->mac_ix[k])
				continue;
			uint64_t h = mac_hash(a->macs[a->mac_ix[k] - 1].mac);
			while (ns[h & (nc - 1)])
				h++;
			ns[h & (nc - 1)] = a->mac_ix[k];
		}
		free(a->mac_ix);
		a->mac_ix = ns;
		a->mac_ix_cap = nc;
	}
	uint64_t h = h0;
	while (a->mac_ix[h & (a->mac_ix_cap - 1)]) {
		struct mac_ent *m = &a->macs[a->mac_ix[h & (a->mac_ix_cap - 1)] - 1];
		if (memcmp(m->mac, mac, 6) == 0)
			return m;
		h++;
	}
	if (a->n_macs >= a->cfg->max_macs) {
		a->r->macs_dropped++;
		return NULL;
	}
	if (grow_array((void **)&a->macs, &a->cap_macs, a->n_macs + 1, sizeof(*a->macs), 256,
	               a->cfg->max_macs) != 0)
		return NULL;
	struct mac_ent *m = &a->macs[a->n_macs];
	memset(m, 0, sizeof(*m));
	memcpy(m->mac, mac, 6);
	a->mac_ix[h & (a->mac_ix_cap - 1)] = (uint32_t)++a->n_macs;
	return m;
}

static void mac_place(struct mac_ent *m, const char *place)
{
	for (size_t k = 0; k < m->n_places; k++)
		if (strcmp(m->places[k], place) == 0)
			return;
	if (grow_array((void **)&m->places, &m->cap_places, m->n_places + 1, sizeof(*m->places), 4,
	               DAILY_MAC_PLACES_MAX) != 0)
		return;
	snprintf(m->places[m->n_places++], sizeof(m->places[0]), "%s", place);
}

static void arpmac_apply(struct an *a, const struct dg_arpmac *rec)
{
	if (mac_excluded(a->cfg, rec->mac))
		return;
	struct mac_ent *m = mac_find(a, rec->mac, mac_hash(rec->mac));
	if (!m)
		return;
	int64_t ts = rec->ts;
	for (uint32_t j = 0; j < rec->n_ips; j++) {
		const struct flow_addr *ip = &rec->ips[j];
		if (ip_excluded(a->cfg, ip))
			continue;
		size_t k = 0;
		while (k < m->n_ips && memcmp(m->ips[k].ip.b, ip->b, 16) != 0)
			k++;
		if (k == m->n_ips) {
			if (grow_array((void **)&m->ips, &m->cap_ips, m->n_ips + 1, sizeof(*m->ips),
			               4, DAILY_MAC_IPS_MAX) != 0) {
				m->ips_dropped++;
				continue;
			}
			m->ips[m->n_ips++] = (struct daily_mac_ip){*ip, ts, ts};
		}
		if (ts < m->ips[k].first_slot)
			m->ips[k].first_slot = ts;
		if (ts > m->ips[k].last_slot)
			m->ips[k].last_slot = ts;
	}
	if (!rec->has_ifs)
		return;
	for (uint32_t j = 0; j < rec->n_ifs; j++) {
		/* "device interface" (both < 64 bytes), without a printf per document. */
		char place[2 * DG_DEV_MAX];
		size_t dl = strlen(rec->dev), il = strlen(rec->ifs[j]);
		memcpy(place, rec->dev, dl);
		place[dl] = ' ';
		memcpy(place + dl + 1, rec->ifs[j], il + 1);
		mac_place(m, place);
	}
	if (rec->n_ifs == 0)
		mac_place(m, rec->dev);
}

static int on_arpmac(void *ud, const struct store_doc *d)
{
	struct an *a = ud;
	struct dg_arpmac rec;

	if (check_time(a))
		return a->err;
	a->r->docs_arp++;
	int rc = dg_arpmac_parse(d, &rec, &a->buf);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		a->r->docs_bad++;
	else if (rc == 0)
		arpmac_apply(a, &rec);
	return 0;
}

/* ---- reading the day: digests, or documents ------------------------------- */

/* Copy one decoded inside record into the batch, with its hashes; 0 or -ENOMEM. */
static int inside_batch_add(struct inside_batch *ib, const struct dg_inside *rec)
{
	if (grow_array((void **)&ib->peer, &ib->cap_peer, ib->n_peer + rec->n_peers,
	               sizeof(*ib->peer), 1024, (size_t)IB_RECORDS * DG_LIST_MAX) != 0 ||
	    grow_array((void **)&ib->hash, &ib->cap_hash, ib->n_hash + 1 + rec->n_peers,
	               sizeof(*ib->hash), 1024, (size_t)IB_RECORDS * (DG_LIST_MAX + 1)) != 0)
		return -ENOMEM;
	struct dg_inside *r = &ib->rec[ib->n];
	*r = *rec;
	ib->at[ib->n++] = (uint32_t)ib->n_hash;
	if (rec->n_peers) /* memcpy(NULL, ..., 0) is undefined */
		memcpy(ib->peer + ib->n_peer, rec->peers, rec->n_peers * sizeof(*rec->peers));
	ib->n_peer += rec->n_peers;
	ib->hash[ib->n_hash++] = flow_addr_hash(&rec->ip, 0);
	for (uint32_t k = 0; k < rec->n_peers; k++)
		ib->hash[ib->n_hash++] = flow_addr_hash(&rec->peers[k].ip, 0);
	return 0;
}

/*
 * Apply the batch's records in order: first ask for every index slot they
 * probe, then for the entries those slots name, then apply each record
 * (its table work mostly hits the cache by then). Empties the batch.
 */
static void inside_batch_apply(struct an *a, struct inside_batch *ib)
{
	size_t p = 0;
	for (uint32_t k = 0; k < ib->n; k++) {
		const uint64_t *h = ib->hash + ib->at[k];
		table_prefetch_slot(&a->in, h[0]);
		for (uint32_t j = 0; j < ib->rec[k].n_peers; j++)
			table_prefetch_slot(&a->out, h[1 + j]);
	}
	for (uint32_t k = 0; k < ib->n; k++) {
		const uint64_t *h = ib->hash + ib->at[k];
		table_prefetch_entry(&a->in, h[0]);
		for (uint32_t j = 0; j < ib->rec[k].n_peers; j++)
			table_prefetch_entry(&a->out, h[1 + j]);
	}
	for (uint32_t k = 0; k < ib->n; k++) {
		struct dg_inside *r = &ib->rec[k];
		r->peers = r->n_peers ? ib->peer + p : NULL;
		p += r->n_peers;
		inside_apply(a, r, ib->hash + ib->at[k]);
	}
	ib->n = 0;
	ib->n_peer = ib->n_hash = 0;
}

/* Copy one decoded arpMac record into the batch, with its MAC's hash; 0 or -ENOMEM. */
static int arpmac_batch_add(struct arpmac_batch *mb, const struct dg_arpmac *rec)
{
	if (grow_array((void **)&mb->ip, &mb->cap_ip, mb->n_ip + rec->n_ips, sizeof(*mb->ip), 256,
	               (size_t)IB_RECORDS * DG_LIST_MAX) != 0 ||
	    grow_array((void **)&mb->ifs, &mb->cap_ifs, mb->n_ifs + rec->n_ifs, sizeof(*mb->ifs),
	               128, (size_t)IB_RECORDS * DG_LIST_MAX) != 0)
		return -ENOMEM;
	mb->rec[mb->n] = *rec;
	mb->hash[mb->n++] = mac_hash(rec->mac);
	if (rec->n_ips) /* memcpy(NULL, ..., 0) is undefined */
		memcpy(mb->ip + mb->n_ip, rec->ips, rec->n_ips * sizeof(*rec->ips));
	mb->n_ip += rec->n_ips;
	if (rec->n_ifs)
		memcpy(mb->ifs + mb->n_ifs, rec->ifs, rec->n_ifs * sizeof(*rec->ifs));
	mb->n_ifs += rec->n_ifs;
	return 0;
}

/*
 * Apply the batch's records in order, after asking for the MAC index
 * slots, then the entries, then the entries' IP lists. Empties the batch.
 */
static void arpmac_batch_apply(struct an *a, struct arpmac_batch *mb)
{
	size_t cap = a->mac_ix_cap, pi = 0, pf = 0;
	if (cap) {
		for (uint32_t k = 0; k < mb->n; k++)
			__builtin_prefetch(&a->mac_ix[mb->hash[k] & (cap - 1)]);
		for (uint32_t k = 0; k < mb->n; k++) {
			uint32_t v = a->mac_ix[mb->hash[k] & (cap - 1)];
			if (v)
				__builtin_prefetch(&a->macs[v - 1]);
		}
		for (uint32_t k = 0; k < mb->n; k++) {
			uint32_t v = a->mac_ix[mb->hash[k] & (cap - 1)];
			if (v && a->macs[v - 1].ips)
				__builtin_prefetch(a->macs[v - 1].ips);
		}
	}
	for (uint32_t k = 0; k < mb->n; k++) {
		struct dg_arpmac *r = &mb->rec[k];
		r->ips = r->n_ips ? mb->ip + pi : NULL;
		pi += r->n_ips;
		r->ifs = r->n_ifs ? mb->ifs + pf : NULL;
		pf += r->n_ifs;
		arpmac_apply(a, r);
	}
	mb->n = 0;
	mb->n_ip = mb->n_ifs = 0;
}

/* store_digest_get's callback results beside 0 and errors. */
enum { DGX_BAD = 1, DGX_UNFIT = 2 };

struct dgx {
	struct an *a;
	int pass; /* 0: offenders; 1: inside and arpMac */
	int64_t ts;
	bool check; /* the digest's first use in the analysis: check its checksum */
};

/* Apply one slot's digest for pass x->pass; DGX_* when it cannot be used. */
static int on_digest(void *ud, const void *p, size_t len)
{
	struct dgx *x = ud;
	struct an *a = x->a;
	struct dg_reader r;
	int rc = dg_open(&r, p, len, x->check);

	if (rc == 0 && r.time_slot != x->ts)
		rc = -EBADMSG;
	if (rc)
		return rc == -EPROTONOSUPPORT ? DGX_UNFIT : DGX_BAD;
	if (r.max_peers < a->cfg->max_peers || r.probe_targets < a->cfg->probe_targets)
		return DGX_UNFIT;
	/*
	 * The checksum held (now, or in pass 0 a moment ago): a record that
	 * does not decode is no random damage, and half the slot is applied
	 * already; the analysis fails (-EBADMSG) rather than guess.
	 */
	if (x->pass == 0) {
		struct dg_offender o;
		dg_seek(&r, DG_OFFENDERS);
		for (uint32_t k = 0; k < r.n_off; k++) {
			if (check_time(a))
				return a->err;
			if ((rc = dg_offender_read(&r, &o, &a->buf)))
				return rc;
			offender_apply(a, &o);
		}
		a->r->docs_offender += r.docs_offender;
		a->r->docs_bad += r.docs_bad_offender;
		return 0;
	}
	struct dg_inside in;
	struct inside_batch *ib = &a->ib;
	dg_seek(&r, DG_INSIDE);
	ib->n = 0;
	ib->n_peer = ib->n_hash = 0;
	for (uint32_t k = 0; k < r.n_in; k++) {
		if (check_time(a))
			return a->err;
		if ((rc = dg_inside_read(&r, &in, &a->buf)) || (rc = inside_batch_add(ib, &in)))
			return rc;
		if (ib->n == IB_RECORDS || k + 1 == r.n_in)
			inside_batch_apply(a, ib);
	}
	struct dg_arpmac m;
	struct arpmac_batch *mb = &a->mb;
	dg_seek(&r, DG_ARPMAC);
	mb->n = 0;
	mb->n_ip = mb->n_ifs = 0;
	for (uint32_t k = 0; k < r.n_mac; k++) {
		if (check_time(a))
			return a->err;
		if ((rc = dg_arpmac_read(&r, &m, &a->buf)) || (rc = arpmac_batch_add(mb, &m)))
			return rc;
		if (mb->n == IB_RECORDS || k + 1 == r.n_mac)
			arpmac_batch_apply(a, mb);
	}
	a->r->docs_inside += r.docs_inside;
	a->r->docs_arp += r.docs_arp;
	a->r->docs_bad += r.docs_bad_inside + r.docs_bad_arp;
	return 0;
}

/* The documents of slots from..to for a pass. */
static int pass_docs(struct an *a, int pass, int64_t from, int64_t to)
{
	if (pass == 0)
		return store_doc_range(a->s, a->site, "offender", from, to, on_offender, a);
	int rc = store_doc_range(a->s, a->site, "inside", from, to, on_inside, a);
	if (rc == 0)
		rc = store_doc_range(a->s, a->site, "arpMac", from, to, on_arpmac, a);
	return rc;
}

/*
 * One pass over the day, slot by slot in time order: each slot from its
 * digest when it has a usable one, else from its documents (runs of such
 * slots in one range read). Both give the same records in the same order
 * (digest.h). A digest's first read checks its checksum and decides: in
 * pass 0, or in pass 1 for a slot with few offenders, whose offender
 * documents pass 0 read instead (the same records as the digest's).
 */
static int day_pass(struct an *a, int pass)
{
	const struct daily_day *day = a->day;
	int64_t run = INT64_MIN;
	int rc;

	for (int64_t ts = day->from_slot; ts <= day->to_slot; ts++) {
		size_t k = (size_t)(ts - day->from_slot);
		bool first = k < DAILY_DAY_SLOTS_MAX && (pass == 0) != a->few_offenders[k];
		if (a->cfg->from_documents || k >= DAILY_DAY_SLOTS_MAX ||
		    (pass == 0 && a->few_offenders[k]) ||
		    (pass == 1 && !first && !a->from_digest[k])) {
			if (run == INT64_MIN)
				run = ts;
			continue;
		}
		/* Slots before this one first: the order is the documents'. */
		if (run != INT64_MIN && (rc = pass_docs(a, pass, run, ts - 1)))
			return rc;
		run = INT64_MIN;
		struct dgx x = {a, pass, ts, first};
		rc = store_digest_get(a->s, a->site, ts, on_digest, &x);
		if (rc == 0) {
			if (first) {
				a->from_digest[k] = true;
				a->r->slots_digest++;
			}
			continue;
		}
		if (rc == DGX_BAD && first)
			a->r->digests_bad++;
		else if (rc == DGX_UNFIT && first)
			a->r->digests_unfit++;
		else if (rc != -ENOENT && rc != DGX_BAD && rc != DGX_UNFIT)
			return rc;
		/* No usable digest (in pass 1: rewritten since pass 0): its documents. */
		a->from_digest[k] = false;
		run = ts;
	}
	if (run != INT64_MIN && (rc = pass_docs(a, pass, run, day->to_slot)))
		return rc;
	return 0;
}

static int mac_ip_cmp(const void *x, const void *y)
{
	return memcmp(((const struct daily_mac_ip *)x)->ip.b,
	              ((const struct daily_mac_ip *)y)->ip.b, 16);
}

static int daily_mac_cmp(const void *x, const void *y)
{
	return memcmp(((const struct daily_mac *)x)->mac, ((const struct daily_mac *)y)->mac, 6);
}

/* Move the MACs with enough IPs into the result; frees the working table. */
static int macs_collect(struct an *a)
{
	struct daily_result *r = a->r;
	size_t cap = 0;
	int rc = 0;

	for (size_t k = 0; k < a->n_macs; k++) {
		struct mac_ent *m = &a->macs[k];
		if (rc == 0 && m->n_ips >= a->cfg->mac_min_ips && m->n_ips >= 2) {
			if (grow_array((void **)&r->macs, &cap, r->n_macs + 1, sizeof(*r->macs), 16,
			               SIZE_MAX / sizeof(*r->macs)) != 0) {
				rc = -ENOMEM;
			} else {
				struct daily_mac *dm = &r->macs[r->n_macs++];
				memcpy(dm->mac, m->mac, 6);
				if (m->n_ips > 1) /* qsort(NULL, 0, ...) is undefined */
					qsort(m->ips, m->n_ips, sizeof(*m->ips), mac_ip_cmp);
				dm->ips = m->ips;
				dm->n_ips = (uint32_t)m->n_ips;
				dm->ips_dropped = m->ips_dropped;
				dm->places = m->places;
				dm->n_places = (uint32_t)m->n_places;
				m->ips = NULL;
				m->places = NULL;
			}
		}
		free(m->ips);
		free(m->places);
	}
	free(a->macs);
	free(a->mac_ix);
	a->macs = NULL;
	a->mac_ix = NULL;
	if (r->n_macs)
		qsort(r->macs, r->n_macs, sizeof(*r->macs), daily_mac_cmp);
	return rc;
}

/* ---- the day's offenders for the report ----------------------------------- */

static int offender_cmp(const void *x, const void *y)
{
	const struct daily_offender *p = x, *q = y;
	if (p->slots != q->slots)
		return p->slots > q->slots ? -1 : 1;
	if (p->packets != q->packets)
		return p->packets > q->packets ? -1 : 1;
	return memcmp(p->ip.b, q->ip.b, 16);
}

static void offenders_collect(struct an *a)
{
	struct daily_result *r = a->r;
	for (size_t k = 0; k < a->out.n; k++) {
		struct dout *o = dout_at(a, (int64_t)k);
		if (!o->offender)
			continue;
		r->offenders_day++;
		struct daily_offender e = {.ip = o->ip,
		                           .slots = o->off_slots,
		                           .packets = o->off_packets,
		                           .max_targets = o->off_max_targets};
		snprintf(e.labels, sizeof(e.labels), "%s", o->labels ? o->labels : "");
		/* Keep the top DAILY_OFFENDERS_MAX: replace the last when better, re-sort. */
		if (r->n_offenders < DAILY_OFFENDERS_MAX) {
			r->offenders[r->n_offenders++] = e;
		} else if (offender_cmp(&e, &r->offenders[DAILY_OFFENDERS_MAX - 1]) < 0) {
			r->offenders[DAILY_OFFENDERS_MAX - 1] = e;
		} else {
			continue;
		}
		if (r->n_offenders > 1) /* qsort(NULL, 0, ...) is undefined */
			qsort(r->offenders, r->n_offenders, sizeof(r->offenders[0]), offender_cmp);
	}
}

/* ---- public ------------------------------------------------------------------ */

int daily_analyse(struct store *s, const char *site, const struct daily_day *day,
                  const struct daily_config *cfg, struct daily_result **out, char *err,
                  size_t errlen)
{
	struct an a;
	int rc;
	uint64_t t0 = clock_ms(CLOCK_MONOTONIC);

	*out = NULL;
	if (!s || !site || !day || !cfg || strlen(site) >= sizeof(a.r->site) ||
	    cfg->max_peers == 0 || cfg->max_peers > DAILY_PEERS_MAX ||
	    cfg->probe_targets > DAILY_PROBE_MAX) {
		snprintf(err, errlen, "daily: bad arguments");
		return -EINVAL;
	}
	memset(&a, 0, sizeof(a));
	a.s = s;
	a.site = site;
	a.cfg = cfg;
	a.day = day;
	a.deadline_ms = t0 + (uint64_t)(cfg->timeout_s ? cfg->timeout_s : 86400) * 1000u;
	a.in = (struct table){.elem = sizeof(struct din), .max = cfg->max_inside};
	a.out = (struct table){.elem = sizeof(struct dout), .max = cfg->max_outside};
	a.r = calloc(1, sizeof(*a.r));
	if (!a.r) {
		snprintf(err, errlen, "daily %s %s: out of memory", site, day->date);
		return -ENOMEM;
	}
	snprintf(a.r->site, sizeof(a.r->site), "%s", site);
	snprintf(a.r->tz, sizeof(a.r->tz), "%s", cfg->tz[0] ? cfg->tz : "UTC");
	a.r->day = *day;

	const char *what = "slot documents";
	rc = store_doc_range(s, site, "slot", day->from_slot, day->to_slot, on_slot, &a);
	if (rc == 0) {
		what = "offender documents or digests";
		rc = day_pass(&a, 0);
	}
	if (rc == 0) {
		what = "inside and arpMac documents or digests";
		rc = day_pass(&a, 1);
	}
	if (rc == 0) {
		what = "candidates";
		for (size_t k = 0; rc == 0 && k < a.in.n; k++) {
			if (!din_at(&a, (int64_t)k)->dropped)
				rc = candidate(&a, (int64_t)k);
			if (rc == 0 && (k & 255) == 0 && clock_ms(CLOCK_MONOTONIC) > a.deadline_ms)
				rc = -ETIMEDOUT;
		}
	}
	if (rc == 0)
		rc = macs_collect(&a);
	else
		macs_collect(&a);
	if (rc == 0)
		offenders_collect(&a);
	if (rc == 0) {
		what = "the offender database";
		rc = reputation_flag(&a);
	}
	a.r->inside_ips = a.in.n;
	a.r->inside_dropped = a.in.dropped;
	a.r->outside_dropped = a.out.dropped;
	table_free(&a.in);
	dg_buf_free(&a.buf);
	free(a.ib.peer);
	free(a.ib.hash);
	free(a.mb.ip);
	free(a.mb.ifs);
	for (size_t k = 0; k < a.out.n; k++) {
		free(dout_at(&a, (int64_t)k)->tgt_more);
		free(dout_at(&a, (int64_t)k)->labels);
	}
	table_free(&a.out);
	if (rc != 0) {
		if (a.err)
			rc = a.err;
		snprintf(err, errlen, "daily %s %s: reading %s: %s%s%s", site, day->date, what,
		         strerror(-rc), rc == -ETIMEDOUT ? " (daily.timeout_s)" : "",
		         rc == -ETIMEDOUT ? "" : "");
		daily_result_free(a.r);
		return rc;
	}
	if (a.r->n_suspects)
		qsort(a.r->suspects, a.r->n_suspects, sizeof(*a.r->suspects), suspect_cmp);
	a.r->partial = a.r->slots_present < day->n_slots || a.r->slots_partial > 0;
	a.r->elapsed_s = (double)(clock_ms(CLOCK_MONOTONIC) - t0) / 1000.0;
	*out = a.r;
	return 0;
}

void daily_result_free(struct daily_result *r)
{
	if (!r)
		return;
	for (size_t k = 0; k < r->n_macs; k++) {
		free(r->macs[k].ips);
		free(r->macs[k].places);
	}
	free(r->macs);
	free(r->suspects);
	free(r);
}
