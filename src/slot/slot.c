/*
 * slot: arrays A, B, C of one site for one time slot. See slot.h.
 *
 * Open slot: one hash table of conversations keyed by (inside IP, outside
 * IP) -- an open-addressing index of 64-bit words (high half: hash tag, low
 * half: entry index + 1) over an array of one-cache-line accumulators that
 * only grows (vmem). A record costs one probe and one entry: at a million
 * records a slot's tables are far larger than the caches, so every table
 * touched per record is a cache miss, and the records come through a
 * pipeline (struct slot_pipe) that asks for that memory 40 records ahead.
 * The per-IP tables (arrays A and B) are built once, at close, from the
 * conversations, by sorting. Everything summed is a sum or a minimum, so
 * the finished slot does not depend on the order records arrived in; the
 * documents are sorted by address on the way out. docs/internals/slot.md
 * has the why of each choice.
 *
 * Not this file's job: which slot a record belongs to (engine), thresholds
 * (judge), JSON (doc).
 */
#include "nfsentry/slot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nfsentry/fileio.h"
#include "nfsentry/grow.h"
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
 * One conversation while the slot is open: one cache line, aligned, so that
 * a record touches one line of the table (and a slot of a million records
 * holds half the memory it would at two lines).
 * - The key: an IPv4 conversation's two addresses (the 4 bytes as they
 *   stand in struct flow_addr); an IPv6 (or mixed) one keeps its two
 *   addresses in v6_mem at [a_in] and [a_in + 1], flagged PACC_V6.
 * - Flow counts saturate at UINT32_MAX (4 billion records of one
 *   conversation in one slot).
 * - The ingress packets are split by protocol class, for the flood label's
 *   protocol: pclass is 1 + the class of the first ingress record, and all
 *   of ig_packets is of that class until a record of another class comes;
 *   then a spill entry (s->spill[spill - 1]) holds the split from there.
 * - The array is zeroed memory (vmem), so "no first-switched yet" is
 *   stored inverted: first_inv = ~(first_ms - the slot's time base), 0 when
 *   none, and the minimum becomes a maximum. The time base is the slot's
 *   start less 2^31 ms: 32 bits hold first-switched times from about 24
 *   days before the slot's start to 24 days after, and clamp beyond.
 * - The ingress's active time, for the flood rate (docs/judge.md): the
 *   earliest first-switched and latest last-switched of its records, in
 *   whole seconds from the slot's start plus SLOT_T16_BIAS, clamped to
 *   1 .. 65535 (9 hours either side); set by its first ingress record.
 * - The TCP flags OR-ed over the ingress records (ig_tcp): a conversation
 *   whose outside IP sent SYN and never ACK is half-open, whatever the
 *   inside answered.
 */
enum { PACC_V6 = 1, PACC_O_STARTED = 2 };

struct pacc {
	uint32_t a_in, a_out;
	uint32_t eg_flows, ig_flows;
	uint64_t eg_packets, eg_octets; /* inside -> outside */
	uint64_t ig_packets, ig_octets; /* outside -> inside */
	uint32_t first_inv;             /* ~(earliest first-switched of the egress - time base) */
	uint32_t spill;                 /* 1 + index in s->spill; 0: one class only */
	uint16_t ig_first, ig_last;     /* ingress active time (slot_t16); 0: no ingress */
	uint8_t flags;                  /* PACC_V6; PACC_O_STARTED: an ingress flow o started
	                                   (or one nothing tells about) */
	uint8_t pclass;                 /* 1 + class of the first ingress record; 0: none */
	uint8_t ig_tcp;                 /* TCP flags OR-ed over the ingress records */
	uint8_t pad;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct pacc) == 64, "a conversation is one cache line");
_Static_assert(sizeof(struct slot_pair) == 64, "a finished pair is one cache line");

/*
 * A half-open conversation: the outside IP's TCP records carry SYN and
 * never ACK (a SYN flood, answered or not, or a SYN scan), whatever the
 * inside answered.
 */
static inline bool pacc_half_open(const struct pacc *p)
{
	return (p->ig_tcp & 0x12) == 0x02; /* SYN, no ACK */
}

/* The slot's time base for first_inv: its start less 2^31 ms. */
static inline int64_t slot_base_ms(int64_t time_slot)
{
	return time_slot * SLOT_SECONDS * 1000 - ((int64_t)1 << 31);
}

/* first_ms as first_inv stores it (never 0: that means none). */
static inline uint32_t first_rel_inv(int64_t base_ms, uint64_t first_ms)
{
	int64_t rel = first_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)first_ms - base_ms;

	if (rel < 0)
		rel = 0;
	if (rel > (int64_t)UINT32_MAX - 1)
		rel = (int64_t)UINT32_MAX - 1;
	return ~(uint32_t)rel;
}

/* The first-switched time first_inv stands for; UINT64_MAX for none. */
static inline uint64_t first_of_inv(int64_t base_ms, uint32_t inv)
{
	return inv ? (uint64_t)(base_ms + (int64_t)(uint32_t)~inv) : UINT64_MAX;
}

/* The ingress packets by class of a conversation that mixed protocols. */
struct pspill {
	uint64_t pk[SLOT_PROTO__COUNT];
};

struct slot {
	const struct site_config *site;
	uint64_t seed;
	struct slot_view view;
	bool finished;
	uint64_t records;

	struct index pair_idx;
	struct vmem acc_mem; /* the conversations: reserved for caps.max_pairs */
	/* The finished view's arrays (vmem: pooled, huge pages). */
	struct vmem inside_mem, outside_mem, pairs_mem, order_mem;
	size_t n_acc;        /* conversations in acc_mem (conv()) */
	struct vmem v6_mem;  /* IPv6 conversations' addresses, two each: reserved for max_pairs */
	size_t n_v6;         /* addresses in v6_mem (v6_addr()) */
	struct pspill *spill; /* conversations that mixed protocols */
	size_t n_spill, cap_spill;
};

/* The open slot's arrays, read through their vmem (whose base a commit may move under ASan). */
static inline struct pacc *conv(const struct slot *s, size_t i)
{
	return (struct pacc *)s->acc_mem.base + i;
}

static inline struct flow_addr *v6_addr(const struct slot *s, size_t i)
{
	return (struct flow_addr *)s->v6_mem.base + i;
}

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

/* grow_array() from 256 up to limit, the new room zeroed. Returns 0 or -1. */
static int grow_zeroed(void **arr, size_t *cap, size_t need, size_t elem, size_t limit)
{
	size_t old = *cap;

	if (grow_array(arr, cap, need, elem, 256, limit) != 0)
		return -1;
	memset((char *)*arr + old * elem, 0, (*cap - old) * elem);
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
	for (;;) {
		if (vmem_init(&s->acc_mem, max * sizeof(struct pacc)) == 0 &&
		    vmem_init(&s->v6_mem, 2 * max * sizeof(struct flow_addr)) == 0)
			break;
		vmem_free(&s->acc_mem);
		vmem_free(&s->v6_mem);
		if (max <= 1024)
			break;
		max /= 2;
	}
	if (!s->acc_mem.reserved || !s->v6_mem.reserved ||
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
	index_free(&s->pair_idx);
	vmem_free(&s->acc_mem);
	vmem_free(&s->v6_mem);
	free(s->spill);
	vmem_free(&s->inside_mem);
	vmem_free(&s->outside_mem);
	vmem_free(&s->pairs_mem);
	vmem_free(&s->order_mem);
	free(s->view.labels);
	free(s);
}

/* A new zeroed conversation at the end of the array, or NULL at the cap. */
static struct pacc *conv_append(struct slot *s)
{
	size_t n = s->n_acc;

	if (n >= s->site->caps.max_pairs)
		return NULL;
	if (vmem_commit(&s->acc_mem, (n + 1) * sizeof(struct pacc)))
		return NULL;
	s->n_acc = n + 1;
	return conv(s, n);
}

/* The 4 bytes of an IPv4-mapped address, as they stand. */
static inline uint32_t addr_v4(const struct flow_addr *a)
{
	uint32_t v;

	memcpy(&v, a->b + 12, 4);
	return v;
}

/* The IPv4-mapped address of a, four address bytes as a conversation keeps them. */
static inline void v4_mapped(struct flow_addr *m, uint32_t a)
{
	flow_addr_from_v4(m, (const uint8_t *)&a);
}

/* A conversation's inside and outside address. */
static inline void conv_addrs(const struct slot *s, const struct pacc *p, struct flow_addr *in,
                              struct flow_addr *out)
{
	if (p->flags & PACC_V6) {
		*in = *v6_addr(s, p->a_in);
		*out = *v6_addr(s, p->a_in + 1);
		return;
	}
	v4_mapped(in, p->a_in);
	v4_mapped(out, p->a_out);
}

/*
 * The accumulator of conversation (in, out) whose hash is h (v6: not both
 * IPv4), added when absent and the pair cap allows. Returns NULL when the
 * cap (or memory) stopped it.
 */
static struct pacc *conv_lookup(struct slot *s, const struct flow_addr *in,
                                const struct flow_addr *out, bool v6, uint64_t h)
{
	struct index *x = &s->pair_idx;
	uint32_t tag = (uint32_t)(h >> 32);
	uint32_t pos = tag & x->mask;
	uint32_t ai = v6 ? 0 : addr_v4(in), ao = v6 ? 0 : addr_v4(out);

	for (;;) {
		uint64_t e = x->w[pos];
		if (!e)
			break;
		if ((uint32_t)(e >> 32) == tag) {
			struct pacc *p = conv(s, (uint32_t)e - 1);
			if (!v6) {
				if (p->a_in == ai && p->a_out == ao && !(p->flags & PACC_V6))
					return p;
			} else if ((p->flags & PACC_V6) &&
			           memcmp(v6_addr(s, p->a_in)->b, in->b, 16) == 0 &&
			           memcmp(v6_addr(s, p->a_in + 1)->b, out->b, 16) == 0) {
				return p;
			}
		}
		pos = (pos + 1) & x->mask;
	}
	/* A full index (its growth refused memory) must keep one empty word. */
	if (x->used >= x->mask || s->n_acc >= s->site->caps.max_pairs)
		return NULL;
	if (v6) {
		size_t n = s->n_v6;
		if (vmem_commit(&s->v6_mem, (n + 2) * sizeof(struct flow_addr)))
			return NULL;
		ai = (uint32_t)n;
		ao = 0;
	}
	struct pacc *p = conv_append(s);
	if (!p)
		return NULL;
	if (v6) {
		*v6_addr(s, s->n_v6++) = *in;
		*v6_addr(s, s->n_v6++) = *out;
		p->flags = PACC_V6;
	}
	p->a_in = ai;
	p->a_out = ao;
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

/* One record's conversation update, prepared ahead (struct slot_pipe). */
struct op {
	struct slot *s;
	uint64_t hash;             /* of (in, out) */
	struct flow_addr in, out;  /* the conversation */
	uint64_t packets, octets;
	union {
		uint32_t first_inv; /* egress: first-switched (else export time), as pacc */
		uint16_t t16[2];    /* ingress: first- and last-switched (slot_t16) */
	};
	uint8_t egress;            /* 1: in -> out; 0: out -> in */
	uint8_t starter;           /* enum starter */
	uint8_t pclass;            /* enum slot_proto */
	uint8_t v6;                /* not both IPv4: the key is the full addresses */
	uint8_t tcp;               /* TCP flags; 0 for other protocols */
};

/* The hash of an IPv4 conversation: its two 4-byte addresses. */
static inline uint64_t hash_conv4(uint32_t in, uint32_t out, uint64_t seed)
{
	return mix64(((uint64_t)in << 32 | out) * 0x9e3779b97f4a7c15ull ^ seed);
}

static inline bool op_prepare(struct slot *s, enum slot_dir dir, const struct flow *f, struct op *op)
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
	op->v6 = !(flow_addr_is_v4(&op->in) && flow_addr_is_v4(&op->out));
	op->hash = op->v6 ? hash_conv(&op->in, &op->out, s->seed)
	                  : hash_conv4(addr_v4(&op->in), addr_v4(&op->out), s->seed);
	op->packets = f->packets;
	op->octets = f->octets;
	uint64_t first = f->first_ms ? f->first_ms : f->export_ms;
	if (egress) {
		op->first_inv = first_rel_inv(slot_base_ms(s->view.time_slot), first);
	} else {
		uint64_t last = f->last_ms > first ? f->last_ms : first;
		op->t16[0] = slot_t16(s->view.time_slot, first);
		op->t16[1] = slot_t16(s->view.time_slot, last);
	}
	op->egress = egress;
	op->tcp = f->proto == 6 ? f->tcp_flags : 0;
	op->starter = (uint8_t)record_starter(f);
	op->pclass = (uint8_t)proto_class(f->proto);
	return true;
}

static inline void op_prefetch_index(const struct op *op)
{
	const struct index *x = &op->s->pair_idx;

	__builtin_prefetch(&x->w[(uint32_t)(op->hash >> 32) & x->mask]);
}

static inline void op_prefetch_entry(const struct op *op)
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
			__builtin_prefetch(conv(s, (uint32_t)e - 1), 1);
			return;
		}
		pos = (pos + 1) & x->mask;
	}
}

static inline void op_apply(const struct op *op)
{
	struct slot *s = op->s;
	struct pacc *p = conv_lookup(s, &op->in, &op->out, op->v6, op->hash);

	if (!p) {
		s->view.sum.caps_hit.pairs++;
		return;
	}
	if (op->egress) {
		p->eg_flows += p->eg_flows != UINT32_MAX;
		p->eg_packets += op->packets;
		p->eg_octets += op->octets;
		if (op->first_inv > p->first_inv)
			p->first_inv = op->first_inv;
		return;
	}
	uint8_t pc = (uint8_t)(op->pclass + 1);
	if (p->pclass && p->pclass != pc && !p->spill) {
		/* A second protocol: the split from here on needs the spill. */
		if (grow_zeroed((void **)&s->spill, &s->cap_spill, s->n_spill + 1,
		                sizeof(struct pspill), s->site->caps.max_pairs)) {
			s->view.sum.caps_hit.pairs++;
			return;
		}
		struct pspill *sp = &s->spill[s->n_spill++];
		memset(sp, 0, sizeof(*sp));
		sp->pk[p->pclass - 1] = p->ig_packets;
		p->spill = (uint32_t)s->n_spill;
	}
	if (!p->pclass)
		p->pclass = pc;
	if (p->spill)
		s->spill[p->spill - 1].pk[op->pclass] += op->packets;
	if (!p->ig_flows) {
		p->ig_first = op->t16[0];
		p->ig_last = op->t16[1];
	} else {
		if (op->t16[0] < p->ig_first)
			p->ig_first = op->t16[0];
		if (op->t16[1] > p->ig_last)
			p->ig_last = op->t16[1];
	}
	p->ig_tcp |= op->tcp;
	p->ig_flows += p->ig_flows != UINT32_MAX;
	p->ig_packets += op->packets;
	p->ig_octets += op->octets;
	if (op->starter == STARTER_SRC || op->starter == STARTER_UNKNOWN)
		p->flags |= PACC_O_STARTED;
}

/* The pipe: a ring of ops, free-running counters (see slot.h). */
#define PIPE_RING 64u /* a power of two > PIPE_PF_INDEX */
#define PIPE_PF_INDEX 40u
#define PIPE_PF_ENTRY 20u

struct slot_pipe {
	struct op ring[PIPE_RING];
	uint32_t head, tail; /* ops [tail, head) wait to be applied */
};

struct slot_pipe *slot_pipe_create(void)
{
	return calloc(1, sizeof(struct slot_pipe));
}

void slot_pipe_destroy(struct slot_pipe *p)
{
	free(p);
}

static inline void pipe_apply_one(struct slot_pipe *p)
{
	uint32_t t = p->tail;

	if (p->head - t > PIPE_PF_ENTRY)
		op_prefetch_entry(&p->ring[(t + PIPE_PF_ENTRY) % PIPE_RING]);
	op_apply(&p->ring[t % PIPE_RING]);
	p->tail = t + 1;
}

void slot_pipe_add(struct slot_pipe *p, struct slot *s, enum slot_dir dir, const struct flow *f)
{
	struct op *op = &p->ring[p->head % PIPE_RING];

	if (!op_prepare(s, dir, f, op))
		return;
	op_prefetch_index(op);
	p->head++;
	if (p->head - p->tail > PIPE_PF_INDEX)
		pipe_apply_one(p);
}

void slot_pipe_drain(struct slot_pipe *p)
{
	while (p->tail != p->head)
		pipe_apply_one(p);
}

void slot_add(struct slot *s, enum slot_dir dir, const struct flow *f)
{
	struct op op;

	if (op_prepare(s, dir, f, &op))
		op_apply(&op);
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

	/* What is committed, whether the slot is open or finished. */
	const struct vmem *m[] = {&s->pair_idx.mem, &s->acc_mem,     &s->v6_mem,   &s->inside_mem,
	                          &s->outside_mem,  &s->pairs_mem,   &s->order_mem};
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++)
		b += m[k]->committed;
	return b + s->cap_spill * sizeof(struct pspill) +
	       s->view.cap_labels * sizeof(*s->view.labels);
}

/* ---- finish ------------------------------------------------------------- */

/*
 * A radix sort key: two 64-bit numbers compared in order (k0, then k1),
 * and the conversation it stands for. Addresses are (high, low half, big
 * endian); the pairs are (inside index, first-switched).
 */
struct rkey {
	uint64_t k0, k1;
	uint32_t idx;
	uint32_t aux; /* carried along: the conversation's inside IP */
};

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

/*
 * Sort n keys by (k0, k1), stably: an LSD radix sort over the 16 bytes,
 * skipping every byte all keys share (IPv4-mapped addresses share 12, the
 * times of one slot most of their high bytes), so an IPv4 address costs
 * four passes. Returns the buffer that holds the result: a or tmp (n each).
 * A comparison sort (qsort with a memcmp callback) was most of the close's
 * time at a million keys (docs/benchmarks.md, the slot engine's history).
 */
static struct rkey *rkey_sort(struct rkey *a, struct rkey *tmp, size_t n)
{
	static __thread uint32_t hist[16][256];

	if (n < 2)
		return a;
	/*
	 * Which bytes vary at all: one cheap pass, so that histograms are
	 * counted (and passes made) only for those -- counting all sixteen
	 * cost as much as the passes themselves.
	 */
	uint64_t d0 = 0, d1 = 0;
	for (size_t k = 1; k < n; k++) {
		d0 |= a[k].k0 ^ a[0].k0;
		d1 |= a[k].k1 ^ a[0].k1;
	}
	unsigned pass[16], np = 0;
	for (unsigned b = 0; b < 8; b++)
		if ((d1 >> (8 * b)) & 0xff)
			pass[np++] = b;
	for (unsigned b = 0; b < 8; b++)
		if ((d0 >> (8 * b)) & 0xff)
			pass[np++] = 8 + b;
	if (np == 0)
		return a;
	for (unsigned i = 0; i < np; i++)
		memset(hist[i], 0, sizeof(hist[i]));
	for (size_t k = 0; k < n; k++)
		for (unsigned i = 0; i < np; i++) {
			unsigned b = pass[i];
			uint64_t x = b < 8 ? a[k].k1 : a[k].k0;
			hist[i][(x >> (8 * (b & 7))) & 0xff]++;
		}
	struct rkey *src = a, *dst = tmp;
	for (unsigned i = 0; i < np; i++) {
		uint32_t *h = hist[i];
		unsigned shift = 8 * (pass[i] & 7);
		uint32_t pos = 0;
		for (unsigned v = 0; v < 256; v++) {
			uint32_t c = h[v];
			h[v] = pos;
			pos += c;
		}
		if (pass[i] < 8)
			for (size_t k = 0; k < n; k++)
				dst[h[(src[k].k1 >> shift) & 0xff]++] = src[k];
		else
			for (size_t k = 0; k < n; k++)
				dst[h[(src[k].k0 >> shift) & 0xff]++] = src[k];
		struct rkey *t = src;
		src = dst;
		dst = t;
	}
	return src;
}

static inline void rkey_addr(struct rkey *k, const struct flow_addr *a, uint32_t idx)
{
	k->k0 = load_be64(a->b);
	k->k1 = load_be64(a->b + 8);
	k->idx = idx;
}

static bool allowed(const struct site_config *site, const struct flow_addr *a)
{
	for (size_t k = 0; k < site->n_allow; k++)
		if (memcmp(site->allow[k].b, a->b, 16) == 0)
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
	if (grow_zeroed(arr, cap, *n + 1, elem, limit))
		return UINT32_MAX - 1;
	memcpy((char *)*arr + *n * elem, a->b, 16);
	x->w[pos] = (uint64_t)tag << 32 | (uint64_t)(*n + 1);
	return (uint32_t)(*n)++;
}

/* An inside IP while A is built: its address and whether it sent anything. */
struct ient {
	struct flow_addr addr;
	uint8_t active;
};

/*
 * Where IPv4 address a (as the conversation stores it) starts its probe in
 * x: one multiply where hash_addr takes four, keyed by the slot's seed.
 */
static inline uint32_t v4_pos(const struct index *x, uint32_t a, uint64_t seed)
{
	return (uint32_t)((((uint64_t)(a ^ (uint32_t)seed) | seed << 32) * 0x9e3779b97f4a7c15ull) >>
	                  32) &
	       x->mask;
}

/*
 * intern_addr for an IPv4 inside address: the index word holds the address
 * itself (a << 32 | entry + 1), so a probe never reads the array. x has
 * room for limit entries (never grows). Same returns as intern_addr.
 */
static uint32_t intern_v4(struct index *x, struct ient **arr, size_t *n, size_t *cap,
                          uint32_t limit, uint32_t a, uint64_t seed)
{
	uint32_t pos = v4_pos(x, a, seed);

	for (;;) {
		uint64_t e = x->w[pos];
		if (!e)
			break;
		if ((uint32_t)(e >> 32) == a)
			return (uint32_t)e - 1;
		pos = (pos + 1) & x->mask;
	}
	if (*n >= limit)
		return UINT32_MAX;
	if (grow_zeroed((void **)arr, cap, *n + 1, sizeof(**arr), limit))
		return UINT32_MAX - 1;
	v4_mapped(&(*arr)[*n].addr, a);
	x->w[pos] = (uint64_t)a << 32 | (uint64_t)(*n + 1);
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

/*
 * The state of one slot_finish, handed from step to step. The arrays it
 * owns are freed by finish_scratch_free() whether the close succeeds or
 * not; the key pointers borrow s->pairs_mem.
 */
struct finish_scratch {
	struct index i4; /* IPv4 inside IPs (intern_v4) */
	struct index ii; /* IPv6 ones, only when the slot has any */
	struct ient *ia; /* inside IPs in order of first appearance */
	size_t n_ia, cap_ia;
	struct vmem of;        /* 2 * n uint32: inside (first-appearance), outside index */
	uint32_t *rin;         /* first-appearance index -> address order */
	uint32_t *gix;         /* outside group -> first appearance, then outside index */
	uint32_t *group_first; /* outside groups (only when max_outside cuts) */
	uint32_t *cnt_out;     /* pairs per outside index (at o + 1), then places in by_out */
	struct rkey *ibuf;     /* the inside sort's other buffer (step 4 only) */
	/*
	 * The sort keys, in two halves of s->pairs_mem (finish_intern): keys,
	 * then byo (the outside keys sorted: keys or khi) and pk (the other
	 * half: A's keys, then the pair keys); the sorted pair keys end in khi.
	 */
	struct rkey *keys, *khi, *byo, *pk;
	bool inside_cut; /* max_inside left a conversation out */
	bool packed;     /* the pair keys are packed into k1 (pair_keys_pack) */
	size_t ng;       /* outside groups: runs of one address in byo */
	size_t n_out, m; /* outside IPs and conversations kept */
};

static void finish_scratch_free(struct finish_scratch *f)
{
	index_free(&f->i4);
	index_free(&f->ii);
	free(f->ia);
	vmem_free(&f->of);
	free(f->rin);
	free(f->gix);
	free(f->group_first);
	free(f->cnt_out);
	free(f->ibuf);
}

/* A zeroed array of n entries of elem bytes (at least one): m->base, or -1. */
static int scratch_alloc(struct vmem *m, size_t n, size_t elem)
{
	size_t bytes;

	if (__builtin_mul_overflow(n ? n : 1, elem, &bytes) || vmem_init(m, bytes) ||
	    vmem_commit(m, bytes)) {
		vmem_free(m);
		return -1;
	}
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Which outside groups (runs of equal addresses in sorted keys, ng of them)
 * max_outside keeps: the first max_outside addresses to appear, as a cap
 * applied while the records came in would have kept. A group's first
 * appearance is its smallest conversation index. Sets kept[g]. Only when
 * the cap is hit. Returns 0 or -1 (ENOMEM).
 */
static int outside_cap_select(struct finish_scratch *f, const uint32_t *first, size_t ng,
                              uint32_t limit, uint8_t *kept)
{
	f->group_first = malloc(ng * sizeof(uint32_t));
	if (!f->group_first)
		return -1;
	memcpy(f->group_first, first, ng * sizeof(uint32_t));
	if (ng > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(f->group_first, ng, sizeof(uint32_t), u32_cmp);
	uint32_t last = f->group_first[limit - 1]; /* firsts are distinct */
	for (size_t g = 0; g < ng; g++)
		kept[g] = first[g] <= last;
	return 0;
}

/*
 * Pack the pair keys (inside, first-switched) into k1 alone when they fit:
 * inside << 40 | first-switched relative to the slot's earliest, with
 * "none" (UINT64_MAX, a conversation without egress) just above the
 * latest. The order is the same; the radix sort then skips every byte
 * but the few that vary (five for a campus slot), where a raw time next to
 * UINT64_MAX made all eight bytes of k1 vary. Left as they are otherwise.
 */
static bool pair_keys_pack(struct rkey *pk, size_t m, size_t n_in)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (size_t j = 0; j < m; j++) {
		uint64_t t = pk[j].k1;
		if (t == UINT64_MAX)
			continue;
		if (t < lo)
			lo = t;
		if (t > hi)
			hi = t;
	}
	const uint64_t span = (uint64_t)1 << 40;
	if (n_in >= ((size_t)1 << 24) || (lo <= hi && hi - lo >= span - 1))
		return false;
	uint64_t none = lo <= hi ? hi - lo + 1 : 0;
	for (size_t j = 0; j < m; j++) {
		uint64_t t = pk[j].k1;
		pk[j].k1 = pk[j].k0 << 40 | (t == UINT64_MAX ? none : t - lo);
		pk[j].k0 = 0;
	}
	return true;
}

/*
 * The close, slot_finish(), in eight steps, one function each. The
 * conversations are in arrival order in acc_mem; arrays A and B and the
 * pairs are built from them with sorts and sequential passes wherever the
 * data allows, because at a million records the arrays are far larger than
 * the caches and a scattered update waits for memory. Steps 1 to 4 (up to
 * finish_alloc) may fail (ENOMEM), and change nothing that slot_finish's
 * clean-up does not undo; nothing after finish_alloc fails. Each step is
 * static and called once, so the compiler inlines it into slot_finish.
 */

/* Prefetch distances of the close: FINISH_GPF for gathers of conversations in sorted order. */
enum { FINISH_PF = 8, FINISH_GPF = 24 };

/*
 * Step 1: one pass over the conversations in arrival order. Allocates
 * f->of, s->pairs_mem (n + 1 pairs, whose room holds the sort keys until
 * step 7 writes the pairs over them), f->i4 and, when the slot has IPv6
 * conversations, f->ii. Interns the inside IPs in f->ia, first appearance
 * first, so that max_inside keeps the first ones as a cap applied while the
 * records came in would have; marks those that sent anything (active).
 * Writes f->of's first half (conversation -> inside IP, UINT32_MAX when
 * max_inside cut it), f->inside_cut, f->keys and f->khi, and one outside
 * sort key per conversation in f->keys carrying its inside IP (aux), so
 * that the passes over the sorted keys need not look it up at random.
 * Frees the two indexes on success. Returns 0, or -1 (ENOMEM) with what it
 * allocated left for slot_finish's clean-up.
 */
static int finish_intern(struct slot *s, struct finish_scratch *f)
{
	const struct site_caps *caps = &s->site->caps;
	size_t n = s->n_acc;
	uint32_t islots = index_slots_for(n < caps->max_inside ? n : caps->max_inside);

	if (scratch_alloc(&f->of, 2 * n, sizeof(uint32_t)) ||
	    scratch_alloc(&s->pairs_mem, n + 1, sizeof(struct slot_pair)) ||
	    index_init(&f->i4, islots) || (s->n_v6 && index_init(&f->ii, islots)))
		return -1;
	uint32_t *in_of = f->of.base; /* and out_of after it: finish_caps */
	/*
	 * Two halves of n keys in n + 1 pairs' room (P bytes a pair, R a key):
	 * keys at the start, khi at (P - R) n + P, so that the pair written at
	 * k ends at or below khi[k] for every k < n (P (k + 1) <= (P - R) n + P
	 * + R k): step 7 never overwrites a key it has yet to read. keys (R n
	 * bytes) ends below khi when P >= 2 R. No scratch of their size to
	 * clear and fault in.
	 */
	_Static_assert(sizeof(struct slot_pair) >= 2 * sizeof(struct rkey),
	               "two key halves fit in the pairs' memory");
	struct rkey *keys = s->pairs_mem.base;
	f->keys = keys;
	f->khi = (struct rkey *)((char *)s->pairs_mem.base +
	                         n * (sizeof(struct slot_pair) - sizeof(struct rkey)) +
	                         sizeof(struct slot_pair));
	bool inside_cut = false;
	for (size_t k = 0; k < n; k++) {
		struct flow_addr ain, aout;
		if (k + FINISH_PF < n) {
			const struct pacc *q = conv(s, k + FINISH_PF);
			if (!(q->flags & PACC_V6)) {
				__builtin_prefetch(&f->i4.w[v4_pos(&f->i4, q->a_in, s->seed)]);
			} else {
				conv_addrs(s, q, &ain, &aout);
				if (flow_addr_is_v4(&ain))
					__builtin_prefetch(
					    &f->i4.w[v4_pos(&f->i4, addr_v4(&ain), s->seed)]);
				else
					__builtin_prefetch(
					    &f->ii.w[(uint32_t)(hash_addr(&ain, s->seed) >> 32) &
					             f->ii.mask]);
			}
		}
		const struct pacc *p = conv(s, k);
		uint32_t i;
		if (!(p->flags & PACC_V6)) {
			i = intern_v4(&f->i4, &f->ia, &f->n_ia, &f->cap_ia, caps->max_inside,
			              p->a_in, s->seed);
			v4_mapped(&aout, p->a_out);
		} else {
			conv_addrs(s, p, &ain, &aout);
			/*
			 * An IPv4 inside address whose peer is IPv6 is kept with the
			 * whole addresses, but it is the same inside IP as in its
			 * IPv4 conversations: one identity, one index, whatever the
			 * peer's family (or A would hold it twice, two documents of
			 * one key).
			 */
			if (flow_addr_is_v4(&ain))
				i = intern_v4(&f->i4, &f->ia, &f->n_ia, &f->cap_ia,
				              caps->max_inside, addr_v4(&ain), s->seed);
			else
				i = intern_addr(&f->ii, (void **)&f->ia, &f->n_ia, &f->cap_ia,
				                sizeof(*f->ia), caps->max_inside, &ain, s->seed);
		}
		if (i == UINT32_MAX - 1)
			return -1;
		in_of[k] = i;
		rkey_addr(&keys[k], &aout, (uint32_t)k);
		keys[k].aux = i;
		if (i == UINT32_MAX)
			inside_cut = true;
		else if (p->eg_flows)
			f->ia[i].active = 1;
	}
	f->inside_cut = inside_cut;
	index_free(&f->i4);
	index_free(&f->ii);
	return 0;
}

/*
 * Step 2: the conversations radix-sorted by outside address; the runs of
 * one address are array B. Reads f->keys (n = s->n_acc of them); sets
 * f->byo (the sorted keys, in one half), f->pk (the other half, free from
 * here), f->ng (the runs) and allocates f->gix (one entry a run). Returns
 * 0, or -1 (ENOMEM) with f->gix NULL.
 */
static int finish_outside_sort(const struct slot *s, struct finish_scratch *f)
{
	size_t n = s->n_acc;
	struct rkey *byo = rkey_sort(f->keys, f->khi, n);
	size_t ng = 0;

	f->byo = byo;
	f->pk = byo == f->keys ? f->khi : f->keys;
	for (size_t k = 0; k < n; k++)
		ng += k == 0 || byo[k].k0 != byo[k - 1].k0 || byo[k].k1 != byo[k - 1].k1;
	f->ng = ng;
	f->gix = malloc((ng ? ng : 1) * sizeof(uint32_t));
	return f->gix ? 0 : -1;
}

/*
 * Step 3, when a cap cuts (finish_keep): which outside runs max_outside
 * keeps (the first addresses to appear), what the caps cost (capsHit, in
 * s->view.sum), and the inside IPs' activity (f->ia) over the kept
 * conversations only. Reads f->byo, f->ng and f->of's first half; writes
 * f->of's second half (conversation -> run), f->gix (run -> outside index
 * or UINT32_MAX), f->n_out and f->m. Returns 0 or -1 (ENOMEM; the slot
 * unchanged but for the counts, which slot_finish's clean-up resets).
 */
static int finish_caps(struct slot *s, struct finish_scratch *f)
{
	const struct site_caps *caps = &s->site->caps;
	const struct rkey *byo = f->byo;
	size_t n = s->n_acc, ng = f->ng;
	uint32_t *in_of = f->of.base, *out_of = in_of + n, *gix = f->gix;
	uint8_t *kept = malloc(ng ? ng : 1);

	if (!kept)
		return -1;
	/* Each run's first appearance (smallest conversation index) into gix. */
	size_t g = 0;
	for (size_t k = 0; k < n; k++) {
		if (k == 0 || byo[k].k0 != byo[k - 1].k0 || byo[k].k1 != byo[k - 1].k1)
			gix[g++] = byo[k].idx;
		else if (byo[k].idx < gix[g - 1])
			gix[g - 1] = byo[k].idx;
		out_of[byo[k].idx] = (uint32_t)(g - 1);
	}
	if (ng > caps->max_outside) {
		if (outside_cap_select(f, gix, ng, caps->max_outside, kept)) {
			free(kept);
			return -1;
		}
	} else {
		memset(kept, 1, ng);
	}
	/* Kept runs numbered in address order: the outside index. */
	size_t n_out = 0;
	for (g = 0; g < ng; g++)
		gix[g] = kept[g] ? (uint32_t)n_out++ : UINT32_MAX;
	free(kept);
	f->n_out = n_out;
	/* A cap stops the conversation's detail, not its count in the totals. */
	for (size_t i = 0; i < f->n_ia; i++)
		f->ia[i].active = 0;
	size_t m = 0;
	for (size_t k = 0; k < n; k++) {
		const struct pacc *p = conv(s, k);
		if (in_of[k] == UINT32_MAX) {
			s->view.sum.caps_hit.inside += (uint64_t)p->eg_flows + p->ig_flows;
		} else if (gix[out_of[k]] == UINT32_MAX) {
			s->view.sum.caps_hit.outside += (uint64_t)p->eg_flows + p->ig_flows;
		} else {
			m++;
			if (p->eg_flows)
				f->ia[in_of[k]].active = 1;
		}
	}
	f->m = m;
	return 0;
}

/*
 * Step 3: which outside runs and conversations are kept. When no cap cuts
 * (the usual case), every one: f->gix numbers the runs in order, f->n_out
 * = f->ng, f->m = s->n_acc. Otherwise finish_caps(), with its returns;
 * this returns 0 or -1 (ENOMEM) as it does.
 */
static int finish_keep(struct slot *s, struct finish_scratch *f)
{
	if (f->inside_cut || f->ng > s->site->caps.max_outside)
		return finish_caps(s, f);
	for (size_t g = 0; g < f->ng; g++)
		f->gix[g] = (uint32_t)g;
	f->n_out = f->ng;
	f->m = s->n_acc;
	return 0;
}

/*
 * Step 4: everything the rest of the close needs, allocated before anything
 * is changed: the view's arrays s->inside_mem (f->n_ia), s->outside_mem
 * (f->n_out) and s->order_mem (f->m), and f->cnt_out, f->rin, f->ibuf.
 * Returns 0, or -1 (ENOMEM) with what it allocated left for slot_finish's
 * clean-up.
 */
static int finish_alloc(struct slot *s, struct finish_scratch *f)
{
	size_t n_in = f->n_ia;

	if (scratch_alloc(&s->inside_mem, n_in, sizeof(struct slot_inside)) ||
	    scratch_alloc(&s->outside_mem, f->n_out, sizeof(struct slot_outside)) ||
	    scratch_alloc(&s->order_mem, f->m, sizeof(uint32_t)))
		return -1;
	f->cnt_out = calloc(f->n_out + 1, sizeof(uint32_t));
	f->rin = malloc((n_in ? n_in : 1) * sizeof(uint32_t));
	f->ibuf = malloc((n_in ? n_in : 1) * sizeof(*f->ibuf));
	if (!f->cnt_out || !f->rin || !f->ibuf)
		return -1;
	return 0;
}

/*
 * Step 4, after finish_alloc: array A sorted by address. Sorts f->ia's
 * addresses in f->pk's half (n_ia <= n keys fit, and it is still unused)
 * and f->ibuf; writes A's addresses and activity in s->inside_mem, and
 * f->rin (first appearance -> place in A). Frees f->ibuf. Cannot fail.
 */
static void finish_inside(struct slot *s, struct finish_scratch *f)
{
	struct slot_inside *inside = s->inside_mem.base;
	const struct ient *ia = f->ia;
	struct rkey *pk = f->pk;
	uint32_t *rin = f->rin;
	size_t n_in = f->n_ia;

	for (size_t k = 0; k < n_in; k++)
		rkey_addr(&pk[k], &ia[k].addr, (uint32_t)k);
	struct rkey *si = rkey_sort(pk, f->ibuf, n_in);
	for (size_t k = 0; k < n_in; k++) {
		rin[si[k].idx] = (uint32_t)k;
		inside[k].addr = ia[si[k].idx].addr;
		inside[k].active = ia[si[k].idx].active;
	}
	free(f->ibuf);
	f->ibuf = NULL;
}

/*
 * Step 5: array B in address order (s->outside_mem), every per-outside
 * figure summed in one pass over the runs of f->byo, reading the kept
 * conversations at random (prefetched FINISH_GPF ahead). On the way each
 * kept conversation gets its pair key (inside's place in A, first-switched)
 * in f->pk's half, carrying the conversation and its outside index, and
 * f->cnt_out[o + 1] counts outside IP o's pairs. Frees the open slot's
 * IPv6 addresses and conversation index (back to the pool). Cannot fail.
 */
static void finish_outside(struct slot *s, struct finish_scratch *f)
{
	struct slot_outside *outside = s->outside_mem.base;
	const struct rkey *byo = f->byo;
	const uint32_t *gix = f->gix, *rin = f->rin;
	const struct ient *ia = f->ia;
	uint32_t *cnt_out = f->cnt_out;
	struct rkey *pkeys = f->pk;
	size_t n = s->n_acc, j = 0, g = 0;
	int64_t base_ms = slot_base_ms(s->view.time_slot);

	for (size_t k = 0; k < n; k++) {
		if (k + FINISH_GPF < n)
			__builtin_prefetch(conv(s, byo[k + FINISH_GPF].idx));
		if (k > 0 && (byo[k].k0 != byo[k - 1].k0 || byo[k].k1 != byo[k - 1].k1))
			g++;
		uint32_t c = byo[k].idx, o = gix[g], ifa = byo[k].aux;
		if (o == UINT32_MAX)
			continue;
		struct slot_outside *out = &outside[o];
		uint64_t hi = __builtin_bswap64(byo[k].k0), lo = __builtin_bswap64(byo[k].k1);
		memcpy(out->addr.b, &hi, 8);
		memcpy(out->addr.b + 8, &lo, 8);
		if (ifa == UINT32_MAX)
			continue;
		const struct pacc *p = conv(s, c);
		struct slot_totals eg = {p->eg_flows, p->eg_packets, p->eg_octets};
		struct slot_totals ig = {p->ig_flows, p->ig_packets, p->ig_octets};
		if (p->spill) {
			for (int pc = 0; pc < SLOT_PROTO__COUNT; pc++)
				out->proto_packets[pc] += s->spill[p->spill - 1].pk[pc];
		} else if (p->pclass) {
			out->proto_packets[p->pclass - 1] += p->ig_packets;
		}
		pkeys[j++] = (struct rkey){
		    .k0 = rin[ifa], .k1 = first_of_inv(base_ms, p->first_inv), .idx = c, .aux = o};
		cnt_out[o + 1]++;
		totals_sum(&out->to, &eg);
		totals_sum(&out->from, &ig);
		if (eg.flows)
			out->refs++;
		if (!ig.flows)
			continue;
		if (!eg.flows) {
			if (ia[ifa].active) {
				/* Case 2/3, example 1: an active host that did not answer o. */
				out->unanswered_flows += ig.flows;
			} else {
				/* Case 2/3, example 2: o probes an address the site does not use. */
				totals_sum(&out->unused, &ig);
				out->touch_unused++;
				out->in_c = true;
			}
		}
		/*
		 * Rule I counts only conversations o started: evident starts, and
		 * flows nothing tells about (one-way, or "both" when two-way). An
		 * "answer" to an inside host that sent nothing to o all slot is no
		 * answer: one-way traffic counts as started by o whatever its ports
		 * say, or DNS/NTP/memcached reflection floods (sent from port 53,
		 * 123, 11211) would never be judged.
		 */
		if ((p->flags & PACC_O_STARTED) || !eg.flows) {
			out->started_targets++;
			totals_sum(&out->started_in, &ig);
			totals_sum(&out->started_back, &eg);
			if (!out->started_first || p->ig_first < out->started_first)
				out->started_first = p->ig_first;
			if (p->ig_last > out->started_last)
				out->started_last = p->ig_last;
			if (pacc_half_open(p)) {
				out->half_open_targets++;
				totals_sum(&out->half_open, &ig);
			}
		}
	}
	/* The open slot's addresses are done with: back to the pool for the next slot. */
	vmem_free(&s->v6_mem);
	index_free(&s->pair_idx);
}

/*
 * Step 6: the f->m pair keys in f->pk sorted by (inside, first-switched,
 * outside): they were keyed in outside order and the sort is stable.
 * Packs them first when they fit (f->packed, pair_keys_pack). Sorts with
 * f->byo's half (done with) as the other buffer and leaves the result in
 * f->khi. Cannot fail.
 */
static void finish_pair_sort(struct finish_scratch *f)
{
	f->packed = pair_keys_pack(f->pk, f->m, f->n_ia);
	struct rkey *sp = rkey_sort(f->pk, f->byo, f->m);
	if (sp != f->khi)
		memcpy(f->khi, sp, f->m * sizeof(*sp));
}

/*
 * Step 7: the pairs written in the order of f->khi over the keys in
 * s->pairs_mem, each from its conversation (one cache line, read at random,
 * prefetched FINISH_GPF ahead); every per-inside figure on the way (A,
 * s->inside_mem, written in order); each pair's place in its outside IP's
 * group in s->order_mem (by_out: pairs grouped by outside, in inside order
 * within a group, as k rises), placed through f->cnt_out (a counting sort);
 * each outside IP's pair_first and pair_count. Then frees the open slot's
 * conversations and spill (back to the pool) and zeroes their counts.
 * Cannot fail.
 */
static void finish_pairs(struct slot *s, struct finish_scratch *f)
{
	struct slot_inside *inside = s->inside_mem.base;
	struct slot_outside *outside = s->outside_mem.base;
	struct slot_pair *pairs = s->pairs_mem.base;
	uint32_t *by_out = s->order_mem.base, *cnt_out = f->cnt_out;
	const struct rkey *sp = f->khi;
	size_t n_out = f->n_out, m = f->m;
	bool packed = f->packed;
	int64_t base_ms = slot_base_ms(s->view.time_slot);

	for (size_t o = 0; o < n_out; o++) {
		outside[o].pair_first = cnt_out[o];
		outside[o].pair_count = cnt_out[o + 1];
		cnt_out[o + 1] += cnt_out[o];
	}
	for (size_t k = 0; k < m; k++) {
		if (k + FINISH_GPF < m) {
			__builtin_prefetch(conv(s, sp[k + FINISH_GPF].idx));
			__builtin_prefetch(&cnt_out[sp[k + FINISH_GPF].aux], 1);
		}
		const struct pacc *p = conv(s, sp[k].idx);
		by_out[cnt_out[sp[k].aux]++] = (uint32_t)k;
		struct slot_pair *q = &pairs[k];
		q->inside = (uint32_t)(packed ? sp[k].k1 >> 40 : sp[k].k0);
		q->outside = sp[k].aux;
		q->o_started = (p->flags & PACC_O_STARTED) != 0;
		q->egress = (struct slot_totals){p->eg_flows, p->eg_packets, p->eg_octets};
		q->ingress = (struct slot_totals){p->ig_flows, p->ig_packets, p->ig_octets};
		q->first_ms = first_of_inv(base_ms, p->first_inv);
		struct slot_inside *in = &inside[q->inside];
		if (in->pair_count++ == 0)
			in->pair_first = (uint32_t)k;
		totals_sum(&in->egress, &q->egress);
		if (q->egress.flows)
			in->peers++;
		if (!q->ingress.flows)
			continue;
		if (!q->egress.flows || pacc_half_open(p)) {
			/* Flooded (underAttack): not answered, or never a handshake. */
			totals_sum(&in->flooded, &q->ingress);
			in->flooded_peers++;
			if (p->spill) {
				for (int pc = 0; pc < SLOT_PROTO__COUNT; pc++)
					in->flooded_proto[pc] += s->spill[p->spill - 1].pk[pc];
			} else if (p->pclass) {
				in->flooded_proto[p->pclass - 1] += p->ig_packets;
			}
		}
		if (q->egress.flows) {
			/* Case 1: return traffic of a conversation. */
			totals_sum(&in->ingress, &q->ingress);
			in->answered_peers++;
		} else if (in->active) {
			/* Case 2/3, example 1: an active host that did not answer. */
			totals_sum(&in->unanswered, &q->ingress);
		} else {
			/* Case 2/3, example 2: traffic to an address the site does not use. */
			totals_sum(&in->unused_in, &q->ingress);
		}
	}
	/* The conversations are done with: back to the pool for the next slot. */
	vmem_free(&s->acc_mem);
	free(s->spill);
	s->spill = NULL;
	s->n_acc = s->n_v6 = s->n_spill = s->cap_spill = 0;
}

/*
 * Step 8: the view published (its arrays and counts, from s's view memory
 * and f's counts) and each inside IP's activity count, allow-list flag and
 * peer cap; the slot marked finished. Cannot fail.
 */
static void finish_view(struct slot *s, const struct finish_scratch *f)
{
	struct slot_view *v = &s->view;
	struct slot_inside *inside = s->inside_mem.base;
	size_t n_in = f->n_ia;

	v->inside = inside;
	v->n_inside = n_in;
	v->outside = s->outside_mem.base;
	v->n_outside = f->n_out;
	v->pairs = s->pairs_mem.base;
	v->n_pairs = f->m;
	v->pairs_by_outside = s->order_mem.base;

	v->n_active = 0;
	uint32_t cap = s->site->peer_cap;
	for (size_t k = 0; k < n_in; k++) {
		struct slot_inside *in = &inside[k];
		in->allowed = allowed(s->site, &in->addr);
		v->n_active += in->active;
		in->peer_cap_hit = cap > 0 && in->peers >= cap;
		in->peers_kept = (cap > 0 && in->peers > cap) ? cap : in->peers;
	}
	s->finished = true;
}

/*
 * See slot.h. The steps in order; on ENOMEM from steps 1 to 4 the clean-up
 * at nomem frees the view's arrays and the scratch and resets the counts
 * of caps hit: the slot stays open as it was.
 */
const struct slot_view *slot_finish(struct slot *s)
{
	struct finish_scratch f;

	if (s->finished)
		return &s->view;
	memset(&f, 0, sizeof(f));
	if (finish_intern(s, &f) || finish_outside_sort(s, &f) || finish_keep(s, &f) ||
	    finish_alloc(s, &f))
		goto nomem;
	finish_inside(s, &f);
	finish_outside(s, &f);
	finish_pair_sort(&f);
	finish_pairs(s, &f);
	finish_view(s, &f);
	finish_scratch_free(&f);
	return &s->view;

nomem:
	/* The slot stays open and intact: only the counts of this attempt go. */
	s->view.sum.caps_hit.inside = s->view.sum.caps_hit.outside = 0;
	vmem_free(&s->inside_mem);
	vmem_free(&s->outside_mem);
	vmem_free(&s->pairs_mem);
	vmem_free(&s->order_mem);
	finish_scratch_free(&f);
	return NULL;
}

struct slot_view *slot_view_mut(struct slot *s)
{
	return &s->view;
}

/* ---- coverage and saved state ------------------------------------------ */

void slot_cover_set(struct slot *s, int64_t from_s, int64_t to_s)
{
	int64_t start = s->view.time_slot * SLOT_SECONDS, end = start + SLOT_SECONDS;

	if (from_s < start)
		from_s = start;
	s->view.covered_from_s = from_s;
	s->view.covered_to_s = to_s;
	s->view.partial = from_s > start || (to_s != 0 && to_s < end);
}

size_t slot_conversations(const struct slot *s)
{
	return s->n_acc;
}

/*
 * The record's header. Native byte order and layout: a state file is read
 * back by the same build on the same machine (the file header says which,
 * engine.c), never shipped elsewhere.
 */
struct slot_rec {
	char magic[8]; /* "NFSSLOT" */
	uint32_t version;
	uint32_t pacc_bytes; /* sizeof(struct pacc): a layout change is another version */
	int64_t time_slot;
	uint64_t records;
	int64_t covered_from_s, covered_to_s;
	struct slot_summary sum;
	uint64_t n_acc, n_v6, n_spill;
};

static const char slot_rec_magic[8] = "NFSSLOT";

/*
 * A checksum of the record's bytes: four independent multiply-xor lanes
 * over 8-byte words (a 64 MB table sums in a few milliseconds), folded at
 * the end. Catches truncation, bit flips and swapped blocks; it is not a
 * defence against a forger, which is why slot_load also checks every
 * entry's consistency.
 */
struct rec_sum {
	uint64_t h[4];
	uint64_t bytes;
};

static void rec_sum_init(struct rec_sum *c)
{
	c->h[0] = 0x243f6a8885a308d3ull;
	c->h[1] = 0x13198a2e03707344ull;
	c->h[2] = 0xa4093822299f31d0ull;
	c->h[3] = 0x082efa98ec4e6c89ull;
	c->bytes = 0;
}

/* Add n bytes (n a multiple of 8: every part of a record is). */
static void rec_sum_add(struct rec_sum *c, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t k = 0;

	for (; k + 32 <= n; k += 32) {
		uint64_t w[4];
		memcpy(w, b + k, 32);
		for (int l = 0; l < 4; l++)
			c->h[l] = (c->h[l] ^ w[l]) * 0x9e3779b97f4a7c15ull + (c->h[l] >> 29);
	}
	for (; k + 8 <= n; k += 8) {
		uint64_t w;
		memcpy(&w, b + k, 8);
		c->h[0] = (c->h[0] ^ w) * 0x9e3779b97f4a7c15ull + (c->h[0] >> 29);
	}
	c->bytes += n;
}

static uint64_t rec_sum_end(const struct rec_sum *c)
{
	return mix64(c->h[0] ^ mix64(c->h[1] ^ mix64(c->h[2] ^ mix64(c->h[3] ^ c->bytes))));
}

/* Write all n bytes, adding them to the checksum c when there is one. Returns 0 or -errno. */
static int write_all(int fd, const void *p, size_t n, struct rec_sum *c)
{
	if (c)
		rec_sum_add(c, p, n);
	return fileio_write_all(fd, p, n);
}

/* Read exactly n bytes. Returns 0, -EBADMSG at end of file, or -errno. */
static int read_all(int fd, void *p, size_t n, struct rec_sum *c)
{
	int rc = fileio_read_exact(fd, p, n);

	if (rc == 0 && c)
		rec_sum_add(c, p, n);
	return rc;
}

int slot_save(const struct slot *s, int fd)
{
	struct slot_rec h;
	struct rec_sum c;
	int rc;

	if (s->finished)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, slot_rec_magic, sizeof(h.magic));
	h.version = SLOT_STATE_VERSION;
	h.pacc_bytes = sizeof(struct pacc);
	h.time_slot = s->view.time_slot;
	h.records = s->records;
	h.covered_from_s = s->view.covered_from_s;
	h.covered_to_s = s->view.covered_to_s;
	h.sum = s->view.sum;
	h.n_acc = s->n_acc;
	h.n_v6 = s->n_v6;
	h.n_spill = s->n_spill;
	rec_sum_init(&c);
	/* The arrays go out as they lie in memory: one write each. */
	if ((rc = write_all(fd, &h, sizeof(h), &c)) ||
	    (rc = write_all(fd, s->acc_mem.base, s->n_acc * sizeof(struct pacc), &c)) ||
	    (rc = write_all(fd, s->v6_mem.base, s->n_v6 * sizeof(struct flow_addr), &c)) ||
	    (rc = write_all(fd, s->spill, s->n_spill * sizeof(struct pspill), &c)))
		return rc;
	uint64_t sum = rec_sum_end(&c);
	return write_all(fd, &sum, sizeof(sum), NULL);
}

/* Is every loaded conversation consistent with the arrays it points into? */
static bool load_check(const struct slot *s)
{
	for (size_t k = 0; k < s->n_acc; k++) {
		const struct pacc *p = conv(s, k);
		if (p->flags & ~(PACC_V6 | PACC_O_STARTED) || p->pclass > SLOT_PROTO__COUNT ||
		    p->spill > s->n_spill || (p->spill && !p->pclass))
			return false;
		if ((p->flags & PACC_V6) && ((uint64_t)p->a_in + 1 >= s->n_v6 || p->a_out != 0))
			return false;
	}
	return true;
}

/* Place every conversation in a fresh index sized to hold them at half load. */
static int load_index(struct slot *s)
{
	uint32_t slots = INDEX_MIN_SLOTS;

	while ((uint64_t)slots < 2 * (uint64_t)s->n_acc + 2)
		slots *= 2;
	index_free(&s->pair_idx);
	if (index_init(&s->pair_idx, slots))
		return -ENOMEM;
	struct index *x = &s->pair_idx;
	for (size_t k = 0; k < s->n_acc; k++) {
		const struct pacc *p = conv(s, k);
		uint64_t h;
		if (p->flags & PACC_V6)
			h = hash_conv(v6_addr(s, p->a_in), v6_addr(s, p->a_in + 1), s->seed);
		else
			h = hash_conv4(p->a_in, p->a_out, s->seed);
		uint32_t tag = (uint32_t)(h >> 32), pos = tag & x->mask;
		while (x->w[pos])
			pos = (pos + 1) & x->mask;
		x->w[pos] = (uint64_t)tag << 32 | (uint64_t)(k + 1);
	}
	x->used = (uint32_t)s->n_acc;
	return 0;
}

int slot_load(const struct site_config *site, uint32_t site_index, uint64_t hash_seed, int fd,
              struct slot **out)
{
	struct slot_rec h;
	struct rec_sum c;
	struct slot *s = NULL;
	uint64_t want;
	int rc;

	*out = NULL;
	rec_sum_init(&c);
	if ((rc = read_all(fd, &h, sizeof(h), &c)))
		return rc;
	if (memcmp(h.magic, slot_rec_magic, sizeof(h.magic)) != 0)
		return -EBADMSG;
	if (h.version != SLOT_STATE_VERSION || h.pacc_bytes != sizeof(struct pacc))
		return -EPROTONOSUPPORT;
	if (h.n_v6 > 2 * h.n_acc || h.n_v6 % 2 || h.n_spill > h.n_acc || h.time_slot < 0 ||
	    h.n_acc > UINT32_MAX / 2)
		return -EBADMSG;
	if (h.n_acc > site->caps.max_pairs)
		return -E2BIG;
	s = slot_create(site, site_index, h.time_slot, hash_seed);
	if (!s)
		return -ENOMEM;
	if (h.n_acc * sizeof(struct pacc) > s->acc_mem.reserved ||
	    h.n_v6 * sizeof(struct flow_addr) > s->v6_mem.reserved) {
		rc = -E2BIG; /* a tight address space: fewer than the cap fit */
		goto fail;
	}
	if (vmem_commit(&s->acc_mem, h.n_acc * sizeof(struct pacc)) ||
	    vmem_commit(&s->v6_mem, h.n_v6 * sizeof(struct flow_addr))) {
		rc = -ENOMEM;
		goto fail;
	}
	if (h.n_spill) {
		s->spill = calloc(h.n_spill, sizeof(struct pspill));
		if (!s->spill) {
			rc = -ENOMEM;
			goto fail;
		}
		s->cap_spill = h.n_spill;
	}
	s->n_acc = h.n_acc;
	s->n_v6 = h.n_v6;
	s->n_spill = h.n_spill;
	if ((rc = read_all(fd, s->acc_mem.base, h.n_acc * sizeof(struct pacc), &c)) ||
	    (rc = read_all(fd, s->v6_mem.base, h.n_v6 * sizeof(struct flow_addr), &c)) ||
	    (rc = read_all(fd, s->spill, h.n_spill * sizeof(struct pspill), &c)) ||
	    (rc = read_all(fd, &want, sizeof(want), NULL)))
		goto fail;
	if (want != rec_sum_end(&c) || !load_check(s)) {
		rc = -EBADMSG;
		goto fail;
	}
	if ((rc = load_index(s)))
		goto fail;
	s->records = h.records;
	s->view.sum = h.sum;
	s->view.covered_from_s = h.covered_from_s;
	s->view.covered_to_s = h.covered_to_s;
	slot_cover_set(s, h.covered_from_s, h.covered_to_s);
	*out = s;
	return 0;
fail:
	slot_destroy(s);
	return rc;
}
