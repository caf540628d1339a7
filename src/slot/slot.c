/*
 * slot: arrays A, B, C of one site for one time slot. See slot.h.
 *
 * Open slot: one hash table of conversations keyed by (inside IP, outside
 * IP) -- an open-addressing index of 64-bit words (high half: hash tag, low
 * half: entry index + 1) over an array of accumulators that only grows. A
 * record costs one probe and one entry: at a million records a slot's tables
 * are far larger than the caches, so every table touched per record is a
 * cache miss. The per-IP tables (arrays A and B) are built once, at close,
 * from the conversations, in a pass that can prefetch because every key is
 * known. Everything summed is a sum or a minimum, so the finished slot does
 * not depend on the order records arrived in; the documents are sorted by
 * address on the way out.
 *
 * Not this file's job: which slot a record belongs to (engine), thresholds
 * (judge), JSON (doc).
 */
#include "nfsentry/slot.h"

#include <stdlib.h>
#include <string.h>

#include "nfsentry/vmem.h"

/* Load factor: an index is grown when entries exceed half its slots. */
#define INDEX_MIN_SLOTS 1024u

struct index {
	struct vmem mem;
	uint64_t *w; /* = mem.base; 0 = empty; else tag << 32 | (entry + 1) */
	uint32_t mask;
	uint32_t used;
};

/*
 * One conversation while the slot is open: two cache lines, aligned, so
 * that one prefetch of both brings everything a record touches. Line 0
 * holds the key and the egress (a lookup compares the key, an egress record
 * updates the rest), line 1 the ingress. The ingress packets are kept only
 * by protocol class; their sum is the ingress packet count. The array is
 * zeroed memory (vmem), so "no first-switched yet" (UINT64_MAX) is stored
 * inverted: first_inv = ~first_ms, 0 when none, and the minimum becomes a
 * maximum.
 */
struct pacc {
	struct flow_addr in, out;
	uint64_t eg_flows, eg_packets, eg_octets; /* inside -> outside */
	uint64_t first_inv;                       /* ~(earliest first-switched of the egress) */
	uint64_t ig_flows, ig_octets;             /* outside -> inside */
	uint64_t proto_pk[SLOT_PROTO__COUNT];     /* ingress packets by protocol class */
	uint32_t in_started, out_started, in_unknown;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct pacc) == 128, "a conversation is two cache lines");

struct slot {
	const struct site_config *site;
	uint64_t seed;
	struct slot_view view;
	bool finished;
	uint64_t records;

	struct index pair_idx;
	struct vmem acc_mem; /* the conversations: reserved for caps.max_pairs */
	struct pacc *acc;    /* = acc_mem.base; n_acc used, cap_acc committed */
	size_t n_acc, cap_acc;
	size_t cap_inside, cap_outside, cap_pairs; /* allocated entries of the view */
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

static inline uint64_t hash_conv(const struct flow_addr *in, const struct flow_addr *out,
                                 uint64_t seed)
{
	uint64_t a, b, c, d;

	memcpy(&a, in->b, 8);
	memcpy(&b, in->b + 8, 8);
	memcpy(&c, out->b, 8);
	memcpy(&d, out->b + 8, 8);
	/* Distinct odd multipliers keep (x, y) and (y, x) apart; mix64 spreads. */
	return mix64((a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full) ^
	             (c * 0x165667b19e3779f9ull) ^ (d * 0x27d4eb2f165667c5ull) ^ seed);
}

/* An empty index of slots words (a power of two). Returns 0 or -1. */
static int index_init(struct index *x, uint32_t slots)
{
	memset(x, 0, sizeof(*x));
	size_t bytes = (size_t)slots * sizeof(*x->w);
	if (vmem_init(&x->mem, bytes) || vmem_commit(&x->mem, bytes)) {
		vmem_free(&x->mem);
		return -1;
	}
	x->w = x->mem.base;
	x->mask = slots - 1;
	return 0;
}

static void index_free(struct index *x)
{
	vmem_free(&x->mem);
	memset(x, 0, sizeof(*x));
}

/* Double the index; entries are re-placed by their stored tag's hash. */
static int index_grow(struct index *x)
{
	uint32_t nslots = (x->mask + 1) * 2;
	struct index n;

	if (index_init(&n, nslots))
		return -1;
	uint64_t *nw = n.w;
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
	n.used = x->used;
	index_free(x);
	*x = n;
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
	/*
	 * Address space for every conversation the cap allows; memory is
	 * committed as they come. Where even that much address space is
	 * refused (a tight RLIMIT_AS), less: the table then stops early and
	 * counts what it could not keep, as at the cap.
	 */
	size_t max = site->caps.max_pairs ? site->caps.max_pairs : 1;
	while (vmem_init(&s->acc_mem, max * sizeof(struct pacc)) != 0 && max > 1024)
		max /= 2;
	if (!s->acc_mem.reserved || index_init(&s->pair_idx, INDEX_MIN_SLOTS)) {
		slot_destroy(s);
		return NULL;
	}
	return s;
}

void slot_destroy(struct slot *s)
{
	if (!s)
		return;
	index_free(&s->pair_idx);
	vmem_free(&s->acc_mem);
	free(s->view.inside);
	free(s->view.outside);
	free(s->view.pairs);
	free(s->view.pairs_by_inside);
	free(s->view.pairs_by_outside);
	free(s);
}

/* A new zeroed conversation at the end of the array, or NULL at the cap. */
static struct pacc *conv_append(struct slot *s)
{
	size_t n = s->n_acc;

	if (n >= s->site->caps.max_pairs)
		return NULL;
	if (n >= s->cap_acc) {
		if (vmem_commit(&s->acc_mem, (n + 1) * sizeof(struct pacc)))
			return NULL;
		s->acc = s->acc_mem.base;
		s->cap_acc = s->acc_mem.committed / sizeof(struct pacc);
	}
	s->n_acc = n + 1;
	return &s->acc[n];
}

/*
 * The accumulator of conversation (in, out) whose hash is h, added when
 * absent and the pair cap allows. Returns NULL when the cap (or memory)
 * stopped it.
 */
static struct pacc *conv_lookup(struct slot *s, const struct flow_addr *in,
                                const struct flow_addr *out, uint64_t h)
{
	struct index *x = &s->pair_idx;
	uint32_t tag = (uint32_t)(h >> 32);
	uint32_t pos = tag & x->mask;

	for (;;) {
		uint64_t e = x->w[pos];
		if (!e)
			break;
		if ((uint32_t)(e >> 32) == tag) {
			struct pacc *p = &s->acc[(uint32_t)e - 1];
			if (memcmp(p->in.b, in->b, 16) == 0 && memcmp(p->out.b, out->b, 16) == 0)
				return p;
		}
		pos = (pos + 1) & x->mask;
	}
	/* A full index (its growth refused memory) must keep one empty word. */
	struct pacc *p = x->used < x->mask ? conv_append(s) : NULL;
	if (!p)
		return NULL;
	p->in = *in;
	p->out = *out;
	x->w[pos] = (uint64_t)tag << 32 | (uint64_t)s->n_acc;
	x->used++;
	if ((uint64_t)x->used * 2 > (uint64_t)x->mask + 1)
		index_grow(x); /* On ENOMEM the index just runs fuller. */
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
static inline bool service_port(uint16_t p)
{
	if (p < 1024)
		return true;
	/* A switch, not a table scan: it runs for both ports of most records. */
	switch (p) {
	case 1194: case 1433: case 1521: case 1723: case 1812: case 1883: case 2049:
	case 3128: case 3306: case 3389: case 3478: case 4500: case 5060: case 5061:
	case 5222: case 5432: case 5900: case 5938: case 6379: case 6443: case 8000:
	case 8008: case 8080: case 8443: case 8883: case 9000: case 9200: case 9443:
	case 11211: case 27017:
		return true;
	default:
		return false;
	}
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

bool slot_op_prepare(struct slot *s, enum slot_dir dir, const struct flow *f, struct slot_op *op)
{
	struct slot_summary *sum = &s->view.sum;

	s->records++;
	if (dir == SLOT_INTERNAL) {
		totals_add(&sum->internal, f);
		return false;
	}
	bool egress = dir == SLOT_EGRESS;
	totals_add(egress ? &sum->egress : &sum->ingress, f);
	op->s = s;
	if (egress) {
		op->in = f->src;
		op->out = f->dst;
	} else {
		op->in = f->dst;
		op->out = f->src;
	}
	op->hash = hash_conv(&op->in, &op->out, s->seed);
	op->packets = f->packets;
	op->octets = f->octets;
	op->first_ms = f->first_ms ? f->first_ms : f->export_ms;
	op->egress = egress;
	op->starter = (uint8_t)record_starter(f);
	op->pclass = (uint8_t)proto_class(f->proto);
	return true;
}

void slot_op_prefetch_index(const struct slot_op *op)
{
	const struct index *x = &op->s->pair_idx;

	__builtin_prefetch(&x->w[(uint32_t)(op->hash >> 32) & x->mask]);
}

void slot_op_prefetch_entry(const struct slot_op *op)
{
	const struct slot *s = op->s;
	const struct index *x = &s->pair_idx;
	uint32_t tag = (uint32_t)(op->hash >> 32);
	uint32_t pos = tag & x->mask;

	/* A hint: the first word with the tag among the next few, if any. */
	for (int k = 0; k < 4; k++) {
		uint64_t e = x->w[pos];
		if (!e)
			return;
		if ((uint32_t)(e >> 32) == tag) {
			const char *p = (const char *)&s->acc[(uint32_t)e - 1];
			__builtin_prefetch(p, 1);
			__builtin_prefetch(p + 64, 1);
			return;
		}
		pos = (pos + 1) & x->mask;
	}
}

void slot_op_apply(const struct slot_op *op)
{
	struct slot *s = op->s;
	struct pacc *p = conv_lookup(s, &op->in, &op->out, op->hash);

	if (!p) {
		s->view.sum.caps_hit.pairs++;
		return;
	}
	if (op->egress) {
		p->eg_flows++;
		p->eg_packets += op->packets;
		p->eg_octets += op->octets;
		if (~op->first_ms > p->first_inv)
			p->first_inv = ~op->first_ms;
		if (op->starter == STARTER_SRC)
			p->out_started++;
	} else {
		p->ig_flows++;
		p->ig_octets += op->octets;
		p->proto_pk[op->pclass] += op->packets;
		if (op->starter == STARTER_SRC)
			p->in_started++;
		else if (op->starter == STARTER_UNKNOWN)
			p->in_unknown++;
	}
}

void slot_add(struct slot *s, enum slot_dir dir, const struct flow *f)
{
	struct slot_op op;

	if (slot_op_prepare(s, dir, f, &op))
		slot_op_apply(&op);
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

	if (s->pair_idx.w)
		b += ((size_t)s->pair_idx.mask + 1) * sizeof(uint64_t);
	b += s->cap_acc * sizeof(struct pacc);
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
/* Sort keys: an address as two big-endian numbers, and its index before sorting. */
struct sort_key {
	uint64_t hi, lo;
	uint32_t idx;
};

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static inline unsigned key_byte(const struct sort_key *k, unsigned b)
{
	return b < 8 ? (unsigned)(k->hi >> (56 - 8 * b)) & 0xff
	             : (unsigned)(k->lo >> (56 - 8 * (b - 8))) & 0xff;
}

/*
 * Sort n addresses: remap[old index] = new index, and order[new index] =
 * old index. An LSD radix sort over the 16 address bytes, skipping the bytes
 * every key shares (all IPv4-mapped addresses share 12), so IPv4 costs four
 * passes; glibc's qsort with a memcmp callback was most of slot_finish.
 * keys and tmp are scratch of n entries each.
 */
static void sort_addrs(const struct flow_addr *addrs, size_t n, struct sort_key *keys,
                       struct sort_key *tmp, uint32_t *remap, uint32_t *order)
{
	static __thread uint32_t hist[16][256];

	memset(hist, 0, sizeof(hist));
	for (size_t k = 0; k < n; k++) {
		keys[k].hi = load_be64(addrs[k].b);
		keys[k].lo = load_be64(addrs[k].b + 8);
		keys[k].idx = (uint32_t)k;
		for (unsigned b = 0; b < 16; b++)
			hist[b][addrs[k].b[b]]++;
	}
	struct sort_key *src = keys, *dst = tmp;
	for (int b = 15; b >= 0; b--) {
		uint32_t *h = hist[b];
		bool constant = false;
		for (unsigned v = 0; v < 256; v++) {
			if (h[v] == n) {
				constant = true;
				break;
			}
			if (h[v])
				break;
		}
		if (constant || n < 2)
			continue;
		uint32_t pos = 0;
		for (unsigned v = 0; v < 256; v++) {
			uint32_t c = h[v];
			h[v] = pos;
			pos += c;
		}
		for (size_t k = 0; k < n; k++)
			dst[h[key_byte(&src[k], (unsigned)b)]++] = src[k];
		struct sort_key *t = src;
		src = dst;
		dst = t;
	}
	for (size_t k = 0; k < n; k++) {
		remap[src[k].idx] = (uint32_t)k;
		order[k] = src[k].idx;
	}
}

static bool allowed(const struct site_config *site, const struct flow_addr *a)
{
	for (size_t k = 0; k < site->n_allow; k++)
		if (addr_cmp(&site->allow[k], a) == 0)
			return true;
	return false;
}

/*
 * Find addr in an address array (entries of elem bytes, each starting with
 * its struct flow_addr) through index x, appending it when absent. Returns
 * the index, UINT32_MAX when limit stops it, or UINT32_MAX - 1 on ENOMEM.
 */
static uint32_t intern_addr(struct index *x, void **arr, size_t *n, size_t *cap, size_t elem,
                            uint32_t limit, const struct flow_addr *a, uint64_t seed)
{
	uint64_t h = hash_addr(a, seed);
	uint32_t tag = (uint32_t)(h >> 32);
	uint32_t pos = tag & x->mask;

	for (;;) {
		uint64_t e = x->w[pos];
		if (!e)
			break;
		if ((uint32_t)(e >> 32) == tag) {
			uint32_t idx = (uint32_t)e - 1;
			if (memcmp((char *)*arr + (size_t)idx * elem, a->b, 16) == 0)
				return idx;
		}
		pos = (pos + 1) & x->mask;
	}
	if (*n >= limit)
		return UINT32_MAX;
	if (grow_array(arr, cap, *n + 1, elem, limit))
		return UINT32_MAX - 1;
	memcpy((char *)*arr + *n * elem, a->b, 16);
	x->w[pos] = (uint64_t)tag << 32 | (uint64_t)(*n + 1);
	return (uint32_t)(*n)++;
}

/* Smallest power of two >= 2 * n (and >= INDEX_MIN_SLOTS): load <= 1/2. */
static uint32_t index_slots_for(size_t n)
{
	uint32_t slots = INDEX_MIN_SLOTS;

	while ((size_t)slots < 2 * n && slots < (1u << 31))
		slots *= 2;
	return slots;
}

static void finish_scratch_free(struct slot *s, struct index *ii, struct index *oi, void *a,
                                void *b, void *c, void *d)
{
	struct slot_view *v = &s->view;

	index_free(ii);
	index_free(oi);
	free(a);
	free(b);
	free(c);
	free(d);
	/* Back to "open": the arrays are rebuilt from the conversations. */
	free(v->inside);
	free(v->outside);
	v->inside = NULL;
	v->outside = NULL;
	v->n_inside = v->n_outside = 0;
	s->cap_inside = s->cap_outside = 0;
	v->sum.caps_hit.inside = v->sum.caps_hit.outside = 0;
}

const struct slot_view *slot_finish(struct slot *s)
{
	struct slot_view *v = &s->view;
	size_t n = s->n_acc;

	if (s->finished)
		return v;

	/*
	 * 1. Arrays A and B: intern every conversation's two addresses. The
	 * accumulators are read in order, so the next ones' index slots can be
	 * prefetched while this one waits for its own.
	 */
	struct index ii = {0}, oi = {0};
	/* Addresses only: the 300-400-byte entries are made once, already sorted. */
	struct flow_addr *ia = NULL, *oa = NULL;
	size_t n_ia = 0, cap_ia = 0, n_oa = 0, cap_oa = 0;
	uint32_t *in_ix = malloc((n ? n : 1) * sizeof(uint32_t));
	uint32_t *out_ix = malloc((n ? n : 1) * sizeof(uint32_t));
	if (!in_ix || !out_ix || index_init(&ii, index_slots_for(n)) ||
	    index_init(&oi, index_slots_for(n))) {
		finish_scratch_free(s, &ii, &oi, in_ix, out_ix, NULL, NULL);
		return NULL;
	}
	const struct site_caps *caps = &s->site->caps;
	enum { PF = 8 };
	for (size_t k = 0; k < n; k++) {
		if (k + PF < n) {
			const struct pacc *q = &s->acc[k + PF];
			__builtin_prefetch(&ii.w[(uint32_t)(hash_addr(&q->in, s->seed) >> 32) & ii.mask]);
			__builtin_prefetch(&oi.w[(uint32_t)(hash_addr(&q->out, s->seed) >> 32) & oi.mask]);
		}
		const struct pacc *p = &s->acc[k];
		uint32_t i = intern_addr(&ii, (void **)&ia, &n_ia, &cap_ia, sizeof(*ia),
		                         caps->max_inside, &p->in, s->seed);
		uint32_t o = intern_addr(&oi, (void **)&oa, &n_oa, &cap_oa, sizeof(*oa),
		                         caps->max_outside, &p->out, s->seed);
		if (i == UINT32_MAX - 1 || o == UINT32_MAX - 1) {
			finish_scratch_free(s, &ii, &oi, in_ix, out_ix, ia, oa);
			return NULL;
		}
		/* A cap stops the conversation's detail, not its count in the totals. */
		if (i == UINT32_MAX)
			v->sum.caps_hit.inside += p->eg_flows + p->ig_flows;
		else if (o == UINT32_MAX)
			v->sum.caps_hit.outside += p->eg_flows + p->ig_flows;
		in_ix[k] = (o == UINT32_MAX) ? UINT32_MAX : i;
		out_ix[k] = o;
	}
	index_free(&ii);
	index_free(&oi);

	/* 2. Sort A and B by address; remap the conversations' indexes. */
	size_t nmax = n_ia > n_oa ? n_ia : n_oa;
	struct sort_key *keys = malloc((nmax ? nmax : 1) * 2 * sizeof(*keys));
	uint32_t *order = malloc((nmax ? nmax : 1) * sizeof(uint32_t));
	struct slot_inside *inside = calloc(n_ia ? n_ia : 1, sizeof(*inside));
	struct slot_outside *outside = calloc(n_oa ? n_oa : 1, sizeof(*outside));
	uint32_t *rin = malloc((n_ia ? n_ia : 1) * sizeof(uint32_t));
	uint32_t *rout = malloc((n_oa ? n_oa : 1) * sizeof(uint32_t));
	uint32_t *count = calloc(n_ia + n_oa + 2, sizeof(uint32_t));
	size_t m = 0;
	for (size_t k = 0; k < n; k++)
		m += in_ix[k] != UINT32_MAX;
	struct slot_pair *pairs = calloc(m ? m : 1, sizeof(*pairs));
	uint32_t *by_in = malloc((m ? m : 1) * sizeof(uint32_t));
	uint32_t *by_out = malloc((m ? m : 1) * sizeof(uint32_t));
	if (!keys || !order || !inside || !outside || !rin || !rout || !count || !pairs ||
	    !by_in || !by_out) {
		free(keys);
		free(order);
		free(inside);
		free(outside);
		free(rin);
		free(rout);
		free(count);
		free(pairs);
		free(by_in);
		free(by_out);
		finish_scratch_free(s, &ii, &oi, in_ix, out_ix, ia, oa);
		return NULL;
	}
	/* From here on nothing fails: the open slot's tables can go. */
	sort_addrs(ia, n_ia, keys, keys + nmax, rin, order);
	for (size_t k = 0; k < n_ia; k++)
		inside[k].addr = ia[order[k]];
	sort_addrs(oa, n_oa, keys, keys + nmax, rout, order);
	for (size_t k = 0; k < n_oa; k++)
		outside[k].addr = oa[order[k]];
	free(keys);
	free(order);
	free(ia);
	free(oa);
	free(v->inside);
	free(v->outside);
	v->inside = inside;
	v->outside = outside;
	v->n_inside = n_ia;
	v->n_outside = n_oa;
	s->cap_inside = n_ia;
	s->cap_outside = n_oa;

	/*
	 * 3. The finished conversations, placed by a counting sort on the
	 * inside IP; each inside IP's run is then ordered by (first seen,
	 * outside address), the order of its arrayPeer. Per-IP totals are
	 * summed on the way.
	 */
	uint32_t *cin = count, *cout = count + n_ia + 1;
	for (size_t k = 0; k < n; k++)
		if (in_ix[k] != UINT32_MAX)
			cin[rin[in_ix[k]] + 1]++;
	for (size_t k = 0; k < v->n_inside; k++) {
		v->inside[k].pair_first = cin[k];
		v->inside[k].pair_count = cin[k + 1];
		cin[k + 1] += cin[k];
	}
	for (size_t k = 0; k < n; k++) {
		/* The entries this loop updates are scattered: fetch ahead. */
		if (k + PF < n && in_ix[k + PF] != UINT32_MAX) {
			__builtin_prefetch(&v->outside[rout[out_ix[k + PF]]], 1);
			__builtin_prefetch(&v->inside[rin[in_ix[k + PF]]], 1);
			__builtin_prefetch(&pairs[cin[rin[in_ix[k + PF]]]], 1);
		}
		if (in_ix[k] == UINT32_MAX)
			continue;
		const struct pacc *p = &s->acc[k];
		uint32_t i = rin[in_ix[k]], o = rout[out_ix[k]];
		struct slot_pair *q = &pairs[cin[i]++];
		q->inside = i;
		q->outside = o;
		q->egress = (struct slot_totals){p->eg_flows, p->eg_packets, p->eg_octets};
		q->ingress = (struct slot_totals){p->ig_flows, 0, p->ig_octets};
		for (int c = 0; c < SLOT_PROTO__COUNT; c++)
			q->ingress.packets += p->proto_pk[c];
		q->first_ms = ~p->first_inv;
		q->in_started = p->in_started;
		q->out_started = p->out_started;
		q->in_unknown = p->in_unknown;
		totals_sum(&v->inside[i].egress, &q->egress);
		struct slot_outside *out = &v->outside[o];
		totals_sum(&out->to, &q->egress);
		totals_sum(&out->from, &q->ingress);
		for (int c = 0; c < SLOT_PROTO__COUNT; c++)
			out->proto_packets[c] += p->proto_pk[c];
	}
	free(in_ix);
	free(out_ix);
	free(rin);
	free(rout);
	vmem_free(&s->acc_mem);
	index_free(&s->pair_idx);
	s->acc = NULL;
	s->n_acc = s->cap_acc = 0;
	memset(&s->pair_idx, 0, sizeof(s->pair_idx));
	v->pairs = pairs;
	v->n_pairs = m;
	s->cap_pairs = m;
	for (size_t k = 0; k < v->n_inside; k++)
		if (v->inside[k].pair_count > 1)
			qsort(pairs + v->inside[k].pair_first, v->inside[k].pair_count,
			      sizeof(*pairs), pair_cmp);
	v->pairs_by_inside = by_in;
	v->pairs_by_outside = by_out;

	/* 4. Group by outside with a counting sort: stable, so inside order holds. */
	for (size_t k = 0; k < m; k++)
		cout[pairs[k].outside + 1]++;
	for (size_t k = 0; k < v->n_outside; k++) {
		v->outside[k].pair_first = cout[k];
		v->outside[k].pair_count = cout[k + 1];
		cout[k + 1] += cout[k];
	}
	for (size_t k = 0; k < m; k++) {
		v->pairs_by_inside[k] = (uint32_t)k;
		v->pairs_by_outside[cout[pairs[k].outside]++] = (uint32_t)k;
	}
	free(count);

	/* 5. Activity and the allow-list. */
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
		if (k + PF < v->n_pairs)
			__builtin_prefetch(&v->outside[v->pairs[k + PF].outside], 1);
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
