/*
 * slot: arrays A, B, C of one site for one time slot. See slot.h.
 *
 * Open slot: three hash tables over dense arrays -- inside IPs, outside IPs,
 * and (inside, outside) conversations -- each an open-addressing index of
 * 64-bit words (high half: hash tag, low half: entry index + 1) over an array
 * of entries that only grows. A record costs three probes. Everything summed
 * is a sum or a minimum, so the finished slot does not depend on the order
 * records arrived in; the documents are sorted by address on the way out.
 *
 * Not this file's job: which slot a record belongs to (engine), thresholds
 * (judge), JSON (doc).
 */
#include "nfsentry/slot.h"

#include <stdlib.h>
#include <string.h>

/* Load factor: an index is grown when entries exceed half its slots. */
#define INDEX_MIN_SLOTS 1024u

struct index {
	uint64_t *w; /* 0 = empty; else tag << 32 | (entry + 1) */
	uint32_t mask;
	uint32_t used;
};

struct slot {
	const struct site_config *site;
	uint64_t seed;
	struct slot_view view;
	bool finished;
	uint64_t records;

	struct index in_idx, out_idx, pair_idx;
	size_t cap_inside, cap_outside, cap_pairs; /* allocated entries */
};

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	return x;
}

static inline uint64_t hash_addr(const struct flow_addr *a, uint64_t seed)
{
	uint64_t lo, hi;

	memcpy(&lo, a->b, 8);
	memcpy(&hi, a->b + 8, 8);
	return mix64(hi ^ mix64(lo ^ seed));
}

static inline uint64_t hash_pair(uint32_t i, uint32_t o, uint64_t seed)
{
	return mix64(((uint64_t)i << 32 | o) ^ seed);
}

static int index_init(struct index *x, uint32_t slots)
{
	x->w = calloc(slots, sizeof(*x->w));
	if (!x->w)
		return -1;
	x->mask = slots - 1;
	x->used = 0;
	return 0;
}

/* Double the index; entries are re-placed by their stored tag's hash. */
static int index_grow(struct index *x)
{
	uint32_t nslots = (x->mask + 1) * 2;
	uint64_t *nw = calloc(nslots, sizeof(*nw));

	if (!nw)
		return -1;
	for (uint32_t k = 0; k <= x->mask; k++) {
		uint64_t e = x->w[k];
		if (!e)
			continue;
		/*
		 * The tag is the hash's high half; its low bits place the entry.
		 * Using the tag (not the low half of the hash) keeps the index
		 * rebuildable without the keys.
		 */
		uint32_t pos = (uint32_t)(e >> 32) & (nslots - 1);
		while (nw[pos])
			pos = (pos + 1) & (nslots - 1);
		nw[pos] = e;
	}
	free(x->w);
	x->w = nw;
	x->mask = nslots - 1;
	return 0;
}

/* Grow arrays by doubling up to a limit. Returns 0 or -1. */
static int grow_array(void **arr, size_t *cap, size_t need, size_t elem, size_t limit)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 256;
	if (ncap > limit)
		ncap = limit;
	if (ncap < need)
		return -1;
	size_t bytes;
	if (__builtin_mul_overflow(ncap, elem, &bytes))
		return -1;
	void *n = realloc(*arr, bytes);
	if (!n)
		return -1;
	memset((char *)n + *cap * elem, 0, (ncap - *cap) * elem);
	*arr = n;
	*cap = ncap;
	return 0;
}

struct slot *slot_create(const struct site_config *site, uint32_t site_index, int64_t time_slot,
                         uint64_t hash_seed)
{
	struct slot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->site = site;
	s->seed = hash_seed;
	s->view.site = site;
	s->view.site_index = site_index;
	s->view.time_slot = time_slot;
	if (index_init(&s->in_idx, INDEX_MIN_SLOTS) || index_init(&s->out_idx, INDEX_MIN_SLOTS) ||
	    index_init(&s->pair_idx, INDEX_MIN_SLOTS)) {
		slot_destroy(s);
		return NULL;
	}
	return s;
}

void slot_destroy(struct slot *s)
{
	if (!s)
		return;
	free(s->in_idx.w);
	free(s->out_idx.w);
	free(s->pair_idx.w);
	free(s->view.inside);
	free(s->view.outside);
	free(s->view.pairs);
	free(s->view.pairs_by_inside);
	free(s->view.pairs_by_outside);
	free(s);
}

/*
 * Find addr in an address table, adding it when absent and the cap allows.
 * Returns the entry index, or UINT32_MAX when the cap stopped it.
 */
static uint32_t addr_lookup(struct slot *s, struct index *x, bool inside,
                            const struct flow_addr *a)
{
	uint64_t h = hash_addr(a, s->seed);
	uint32_t tag = (uint32_t)(h >> 32);
	uint32_t pos = tag & x->mask;

	for (;;) {
		uint64_t e = x->w[pos];
		if (!e)
			break;
		if ((uint32_t)(e >> 32) == tag) {
			uint32_t idx = (uint32_t)e - 1;
			const struct flow_addr *k = inside ? &s->view.inside[idx].addr
			                                   : &s->view.outside[idx].addr;
			if (memcmp(k->b, a->b, 16) == 0)
				return idx;
		}
		pos = (pos + 1) & x->mask;
	}

	size_t n = inside ? s->view.n_inside : s->view.n_outside;
	uint32_t limit = inside ? s->site->caps.max_inside : s->site->caps.max_outside;
	if (n >= limit)
		return UINT32_MAX;
	if (inside) {
		if (grow_array((void **)&s->view.inside, &s->cap_inside, n + 1,
		               sizeof(struct slot_inside), limit))
			return UINT32_MAX;
		s->view.inside[n].addr = *a;
		s->view.n_inside = n + 1;
	} else {
		if (grow_array((void **)&s->view.outside, &s->cap_outside, n + 1,
		               sizeof(struct slot_outside), limit))
			return UINT32_MAX;
		s->view.outside[n].addr = *a;
		s->view.n_outside = n + 1;
	}
	x->w[pos] = (uint64_t)tag << 32 | (uint64_t)(n + 1);
	x->used++;
	if ((uint64_t)x->used * 2 > (uint64_t)x->mask + 1)
		index_grow(x); /* On ENOMEM the index just runs fuller. */
	return (uint32_t)n;
}

static struct slot_pair *pair_lookup(struct slot *s, uint32_t i, uint32_t o)
{
	struct index *x = &s->pair_idx;
	uint64_t h = hash_pair(i, o, s->seed);
	uint32_t tag = (uint32_t)(h >> 32);
	uint32_t pos = tag & x->mask;

	for (;;) {
		uint64_t e = x->w[pos];
		if (!e)
			break;
		if ((uint32_t)(e >> 32) == tag) {
			struct slot_pair *p = &s->view.pairs[(uint32_t)e - 1];
			if (p->inside == i && p->outside == o)
				return p;
		}
		pos = (pos + 1) & x->mask;
	}
	size_t n = s->view.n_pairs;
	if (n >= s->site->caps.max_pairs ||
	    grow_array((void **)&s->view.pairs, &s->cap_pairs, n + 1, sizeof(struct slot_pair),
	               s->site->caps.max_pairs))
		return NULL;
	struct slot_pair *p = &s->view.pairs[n];
	p->inside = i;
	p->outside = o;
	p->first_ms = UINT64_MAX;
	s->view.n_pairs = n + 1;
	x->w[pos] = (uint64_t)tag << 32 | (uint64_t)(n + 1);
	x->used++;
	if ((uint64_t)x->used * 2 > (uint64_t)x->mask + 1)
		index_grow(x);
	return p;
}

static inline void totals_add(struct slot_totals *t, const struct flow *f)
{
	t->flows++;
	t->packets += f->packets;
	t->octets += f->octets;
}

static inline void totals_sum(struct slot_totals *t, const struct slot_totals *u)
{
	t->flows += u->flows;
	t->packets += u->packets;
	t->octets += u->octets;
}

enum starter { STARTER_UNKNOWN, STARTER_SRC, STARTER_DST };

/* Ports that offer a service even though they are above 1023. */
static bool service_port(uint16_t p)
{
	static const uint16_t high_services[] = {
		1194, 1433, 1521, 1723, 1812, 1883, 2049, 3128, 3306, 3389, 3478, 4500, 5060,
		5061, 5222, 5432, 5900, 5938, 6379, 6443, 8000, 8008, 8080, 8443, 8883, 9000,
		9200, 9443, 11211, 27017,
	};
	if (p < 1024)
		return true;
	for (size_t i = 0; i < sizeof(high_services) / sizeof(high_services[0]); i++)
		if (high_services[i] == p)
			return true;
	return false;
}

/*
 * Who started the conversation this record belongs to (METHOD §5, decided):
 * the TCP side that sent SYN without ACK; for ICMP the sender of the echo
 * request; else the side on the ephemeral port talking to a well-known one.
 * "One-way" and "both" are decided at slot close.
 */
static enum starter record_starter(const struct flow *f)
{
	enum { FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10 };

	if (f->proto == 6) {
		uint8_t fl = f->tcp_flags;
		if ((fl & SYN) && !(fl & ACK))
			return STARTER_SRC;
		/* A lone SYN-ACK, or refusals without any SYN, answer the other side. */
		if ((fl & SYN) && (fl & ACK) && f->packets == 1)
			return STARTER_DST;
		if ((fl & RST) && !(fl & SYN) && !(fl & FIN) && f->octets <= f->packets * 60)
			return STARTER_DST;
	} else if (f->proto == 1 || f->proto == 58) {
		/* NetFlow carries ICMP type << 8 | code in the destination port. */
		uint8_t type = (uint8_t)(f->dport >> 8);
		if (f->proto == 1) {
			if (type == 8 || type == 13 || type == 17)
				return STARTER_SRC;
			if (type == 0 || type == 3 || type == 11 || type == 14 || type == 18)
				return STARTER_DST;
		} else {
			if (type == 128)
				return STARTER_SRC;
			if (type == 129 || (type >= 1 && type <= 4))
				return STARTER_DST;
		}
		return STARTER_UNKNOWN;
	}
	if (f->proto == 6 || f->proto == 17 || f->proto == 132) {
		bool ss = service_port(f->sport), ds = service_port(f->dport);
		if (ds && !ss)
			return STARTER_SRC;
		if (ss && !ds)
			return STARTER_DST;
	}
	return STARTER_UNKNOWN;
}

static inline enum slot_proto proto_class(uint8_t proto)
{
	switch (proto) {
	case 6:
		return SLOT_PROTO_TCP;
	case 17:
		return SLOT_PROTO_UDP;
	case 1:
	case 58:
		return SLOT_PROTO_ICMP;
	default:
		return SLOT_PROTO_OTHER;
	}
}

void slot_add(struct slot *s, enum slot_dir dir, const struct flow *f)
{
	struct slot_summary *sum = &s->view.sum;

	s->records++;
	if (dir == SLOT_INTERNAL) {
		totals_add(&sum->internal, f);
		return;
	}
	bool egress = dir == SLOT_EGRESS;
	const struct flow_addr *in_a = egress ? &f->src : &f->dst;
	const struct flow_addr *out_a = egress ? &f->dst : &f->src;

	totals_add(egress ? &sum->egress : &sum->ingress, f);
	uint32_t i = addr_lookup(s, &s->in_idx, true, in_a);
	uint32_t o = addr_lookup(s, &s->out_idx, false, out_a);
	if (i == UINT32_MAX)
		sum->caps_hit.inside++;
	if (o == UINT32_MAX)
		sum->caps_hit.outside++;

	enum starter st = record_starter(f);
	if (egress) {
		if (i != UINT32_MAX)
			totals_add(&s->view.inside[i].egress, f);
		if (o != UINT32_MAX)
			totals_add(&s->view.outside[o].to, f);
	} else if (o != UINT32_MAX) {
		struct slot_outside *op = &s->view.outside[o];
		totals_add(&op->from, f);
		op->proto_packets[proto_class(f->proto)] += f->packets;
	}
	if (i == UINT32_MAX || o == UINT32_MAX)
		return;

	struct slot_pair *p = pair_lookup(s, i, o);
	if (!p) {
		sum->caps_hit.pairs++;
		return;
	}
	if (egress) {
		totals_add(&p->egress, f);
		uint64_t first = f->first_ms ? f->first_ms : f->export_ms;
		if (first < p->first_ms)
			p->first_ms = first;
		if (st == STARTER_SRC)
			p->out_started++;
	} else {
		totals_add(&p->ingress, f);
		if (st == STARTER_SRC)
			p->in_started++;
		else if (st == STARTER_UNKNOWN)
			p->in_unknown++;
	}
}

void slot_count_late(struct slot *s, bool future)
{
	if (future)
		s->view.sum.future_records++;
	else
		s->view.sum.late_records++;
}

uint64_t slot_records(const struct slot *s)
{
	return s->records;
}

size_t slot_memory(const struct slot *s)
{
	size_t b = sizeof(*s);

	b += ((size_t)s->in_idx.mask + 1 + (size_t)s->out_idx.mask + 1 +
	      (size_t)s->pair_idx.mask + 1) *
	     sizeof(uint64_t);
	b += s->cap_inside * sizeof(struct slot_inside);
	b += s->cap_outside * sizeof(struct slot_outside);
	b += s->cap_pairs * sizeof(struct slot_pair);
	if (s->view.pairs_by_inside)
		b += s->view.n_pairs * sizeof(uint32_t) * 2;
	return b;
}

/* ---- finish ------------------------------------------------------------- */

static int addr_cmp(const struct flow_addr *a, const struct flow_addr *b)
{
	return memcmp(a->b, b->b, 16);
}

static int pair_cmp(const void *a, const void *b)
{
	const struct slot_pair *p = a, *q = b;

	if (p->inside != q->inside)
		return p->inside < q->inside ? -1 : 1;
	if (p->first_ms != q->first_ms)
		return p->first_ms < q->first_ms ? -1 : 1;
	/* Outside indexes are in address order once remapped. */
	if (p->outside != q->outside)
		return p->outside < q->outside ? -1 : 1;
	return 0;
}

/* Sort keys: an address and the entry's index before sorting. */
struct sort_key {
	struct flow_addr addr;
	uint32_t idx;
};

static int sort_key_cmp(const void *a, const void *b)
{
	return addr_cmp(&((const struct sort_key *)a)->addr, &((const struct sort_key *)b)->addr);
}

/*
 * Put n entries of elem bytes (each starting with its struct flow_addr) in
 * address order, using the caller's scratch: keys (n), tmp (n * elem), and
 * filling remap[old index] = new index.
 */
static void sort_entries(void *arr, size_t n, size_t elem, struct sort_key *keys, char *tmp,
                         uint32_t *remap)
{
	for (size_t k = 0; k < n; k++) {
		memcpy(&keys[k].addr, (char *)arr + k * elem, sizeof(struct flow_addr));
		keys[k].idx = (uint32_t)k;
	}
	qsort(keys, n, sizeof(*keys), sort_key_cmp);
	memcpy(tmp, arr, n * elem);
	for (size_t k = 0; k < n; k++) {
		memcpy((char *)arr + k * elem, tmp + (size_t)keys[k].idx * elem, elem);
		remap[keys[k].idx] = (uint32_t)k;
	}
}

static bool allowed(const struct site_config *site, const struct flow_addr *a)
{
	for (size_t k = 0; k < site->n_allow; k++)
		if (addr_cmp(&site->allow[k], a) == 0)
			return true;
	return false;
}

const struct slot_view *slot_finish(struct slot *s)
{
	struct slot_view *v = &s->view;

	if (s->finished)
		return v;

	/* Everything the finish step needs is allocated first: on ENOMEM the
	 * slot is left as it was. */
	size_t nmax = v->n_inside > v->n_outside ? v->n_inside : v->n_outside;
	size_t emax = sizeof(struct slot_inside) > sizeof(struct slot_outside)
	                      ? sizeof(struct slot_inside)
	                      : sizeof(struct slot_outside);
	struct sort_key *keys = malloc((nmax ? nmax : 1) * sizeof(*keys));
	char *tmp = malloc((nmax ? nmax : 1) * emax);
	uint32_t *rin = malloc((v->n_inside ? v->n_inside : 1) * sizeof(uint32_t));
	uint32_t *rout = malloc((v->n_outside ? v->n_outside : 1) * sizeof(uint32_t));
	uint32_t *count = calloc(v->n_outside + 1, sizeof(uint32_t));
	uint32_t *by_in = malloc((v->n_pairs ? v->n_pairs : 1) * sizeof(uint32_t));
	uint32_t *by_out = malloc((v->n_pairs ? v->n_pairs : 1) * sizeof(uint32_t));
	if (!keys || !tmp || !rin || !rout || !count || !by_in || !by_out) {
		free(keys);
		free(tmp);
		free(rin);
		free(rout);
		free(count);
		free(by_in);
		free(by_out);
		return NULL;
	}

	sort_entries(v->inside, v->n_inside, sizeof(*v->inside), keys, tmp, rin);
	sort_entries(v->outside, v->n_outside, sizeof(*v->outside), keys, tmp, rout);
	free(keys);
	free(tmp);
	for (size_t k = 0; k < v->n_pairs; k++) {
		v->pairs[k].inside = rin[v->pairs[k].inside];
		v->pairs[k].outside = rout[v->pairs[k].outside];
	}
	free(rin);
	free(rout);
	qsort(v->pairs, v->n_pairs, sizeof(*v->pairs), pair_cmp);
	v->pairs_by_inside = by_in;
	v->pairs_by_outside = by_out;

	/* The hash indexes point at pre-sort positions: the slot is closed. */
	free(s->in_idx.w);
	free(s->out_idx.w);
	free(s->pair_idx.w);
	memset(&s->in_idx, 0, sizeof(s->in_idx));
	memset(&s->out_idx, 0, sizeof(s->out_idx));
	memset(&s->pair_idx, 0, sizeof(s->pair_idx));

	/* Group by outside with a counting sort: stable, so inside order holds. */
	for (size_t k = 0; k < v->n_pairs; k++)
		count[v->pairs[k].outside + 1]++;
	for (size_t k = 0; k < v->n_outside; k++) {
		v->outside[k].pair_first = count[k];
		v->outside[k].pair_count = count[k + 1];
		count[k + 1] += count[k];
	}
	for (size_t k = 0; k < v->n_pairs; k++) {
		v->pairs_by_inside[k] = (uint32_t)k;
		v->pairs_by_outside[count[v->pairs[k].outside]++] = (uint32_t)k;
	}
	free(count);

	/* Index the free-standing entries: inside pair ranges, allow-list. */
	for (size_t k = 0; k < v->n_pairs;) {
		uint32_t in = v->pairs[k].inside;
		size_t e = k;
		while (e < v->n_pairs && v->pairs[e].inside == in)
			e++;
		v->inside[in].pair_first = (uint32_t)k;
		v->inside[in].pair_count = (uint32_t)(e - k);
		k = e;
	}
	v->n_active = 0;
	for (size_t k = 0; k < v->n_inside; k++) {
		struct slot_inside *in = &v->inside[k];
		in->active = in->egress.flows > 0;
		in->allowed = allowed(s->site, &in->addr);
		if (in->active)
			v->n_active++;
	}

	/* METHOD §4 on the complete egress, pair by pair. */
	for (size_t k = 0; k < v->n_pairs; k++) {
		struct slot_pair *p = &v->pairs[k];
		struct slot_inside *in = &v->inside[p->inside];
		struct slot_outside *out = &v->outside[p->outside];

		if (p->egress.flows) {
			in->peers++;
			out->refs++;
		}
		if (!p->ingress.flows)
			continue;
		if (p->egress.flows) {
			/* Case 1: return traffic of a conversation. */
			totals_sum(&in->ingress, &p->ingress);
			in->answered_peers++;
		} else if (in->active) {
			/* Case 2/3, example 1: an active host that did not answer o. */
			totals_sum(&in->unanswered, &p->ingress);
			out->unanswered_flows += p->ingress.flows;
		} else {
			/* Case 2/3, example 2: o probes an address the site does not use. */
			totals_sum(&in->unused_in, &p->ingress);
			totals_sum(&out->unused, &p->ingress);
			out->touch_unused++;
			out->in_c = true;
		}
		/*
		 * Rule I counts only conversations o started: evident starts, and
		 * flows nothing tells about (one-way, or "both" when two-way). An
		 * "answer" to an inside host that sent nothing to o all slot is no
		 * answer: one-way traffic counts as started by o whatever its ports
		 * say, or DNS/NTP/memcached reflection floods (sent from port 53,
		 * 123, 11211) would never be judged.
		 */
		if (p->in_started || p->in_unknown || !p->egress.flows) {
			out->started_targets++;
			totals_sum(&out->started_in, &p->ingress);
			totals_sum(&out->started_back, &p->egress);
		}
	}
	uint32_t cap = s->site->peer_cap;
	for (size_t k = 0; k < v->n_inside; k++) {
		struct slot_inside *in = &v->inside[k];
		in->peer_cap_hit = cap > 0 && in->peers >= cap;
		in->peers_kept = (cap > 0 && in->peers > cap) ? cap : in->peers;
	}
	s->finished = true;
	return v;
}

struct slot_view *slot_view_mut(struct slot *s)
{
	return &s->view;
}
