/*
 * prefix: the longest-prefix-match table behind site matching. See prefix.h
 * for the contract and docs/internals/prefix.md for the structure.
 *
 * Responsible for: collecting prefixes (with duplicate and host-bit checks),
 * building the frozen lookup structure, looking up, and parsing prefix text.
 * Not responsible for: what a value means (the site module decides), logging,
 * or rebuilding in place (a reload builds a new table).
 *
 * The lookup structure is a poptrie (Asai and Ohara, SIGCOMM 2015): a
 * 2^16-entry direct-indexed root, then 64-way nodes whose child and leaf
 * arrays are compressed with two 64-bit bitmaps and found by popcount.
 * IPv4-mapped addresses have a trie of their own keyed by the 32 IPv4 bits,
 * so they never walk the 96 constant bits of ::ffff:0:0/96.
 */
#include "nfsentry/prefix.h"

#include "nfsentry/fault.h"
#include "nfsentry/grow.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PT_ROOT_BITS 16
#define PT_ROOT_SIZE (1u << PT_ROOT_BITS)
#define PT_STRIDE 6
#define PT_FANOUT (1u << PT_STRIDE)
/* A root or temporary entry with this bit holds a node index. */
#define PT_NODE 0x80000000u

/* Leaf word: PT_LEAF_HIT | len << 32 | value; 0 is the miss. */
#define PT_LEAF_HIT (1ull << 63)

/* One collected prefix. addr has no bits set beyond len. */
struct pt_prefix {
	struct flow_addr addr;
	uint32_t value;
	uint8_t len;
};

/* Most strides one node may skip (path compression); 10 * 6 bits fit one word. */
#define PT_SKIP_MAX 10

/*
 * A compressed node: bit v of vec says entry v is a child, and children are
 * nodes[base1 ..] in entry order; bit v of leafvec marks entry v as the first
 * of a run of equal leaves (entries that are children are skipped when
 * runs are formed), and runs are leaves[base0 ..].
 *
 * Path compression: a chain of nodes that each have one child and one leaf
 * run (no prefix ends in them) is folded into the node below it. The key
 * must then carry the skip_bits bits of skey (left-aligned) before this
 * node's own stride; when it does not, the answer is leaves[miss], the one
 * leaf all the folded nodes held.
 */
struct pt_node {
	uint64_t vec;
	uint64_t leafvec;
	uint64_t skey;
	uint32_t base1;
	uint32_t base0;
	uint32_t miss;
	uint8_t skip_bits;
};

/* Build-time node: 64 entries, each 0 (miss), prefix index + 1, or PT_NODE | node. */
struct pt_tnode {
	uint32_t e[PT_FANOUT];
};

struct prefix_table {
	/*
	 * Lookup structure. Root entries are PT_NODE | node index, or a leaf
	 * index. Before the build both roots are all zero and leaves[0] is the
	 * miss, so a lookup answers -1 without a "built?" test.
	 */
	uint32_t *root4;
	uint32_t *root6;
	struct pt_node *nodes;
	uint64_t *leaves;
	size_t n_nodes;
	size_t n_leaves;
	bool built;

	/* Collected prefixes and an open-addressing set over them (index + 1; 0 = empty). */
	struct pt_prefix *pfx;
	uint32_t n_pfx;
	size_t cap_pfx;
	uint32_t *hash;
	uint32_t hash_size; /* a power of two, at least twice n_pfx */
};

static const uint8_t pt_v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static uint64_t pt_load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

/* The 6 key bits starting at bit off (0 = most significant); zeros past bit 127. */
static unsigned pt_key_bits(uint64_t hi, uint64_t lo, unsigned off)
{
	uint64_t w;

	if (off == 0)
		w = hi;
	else if (off < 64)
		w = (hi << off) | (lo >> (64 - off));
	else if (off < 128)
		w = lo << (off - 64);
	else
		w = 0;
	return (unsigned)(w >> (64 - PT_STRIDE));
}

/* True when the first n bits (0..128) of a and b are equal. */
static bool pt_bits_equal(const uint8_t *a, const uint8_t *b, unsigned n)
{
	unsigned whole = n / 8, rest = n % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> rest);
	return ((a[whole] ^ b[whole]) & mask) == 0;
}

/* Clear every bit of a beyond len; returns true when any was set. */
static bool pt_clear_host_bits(struct flow_addr *a, unsigned len)
{
	bool had = false;

	for (unsigned i = len / 8; i < 16; i++) {
		unsigned keep = len > i * 8 ? len - i * 8 : 0;
		uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
		if (a->b[i] & (uint8_t)~mask)
			had = true;
		a->b[i] &= mask;
	}
	return had;
}

static uint32_t pt_hash(const struct flow_addr *a, unsigned len)
{
	/* FNV-1a over the 16 address bytes and the length. */
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < 16; i++)
		h = (h ^ a->b[i]) * 16777619u;
	h = (h ^ len) * 16777619u;
	return h ^ (h >> 15);
}

/* The slot of addr/len in hash: the one holding it, or the empty one it would take. */
static uint32_t *pt_hash_slot(uint32_t *hash, uint32_t size, const struct pt_prefix *pfx,
                              const struct flow_addr *a, unsigned len)
{
	uint32_t i = pt_hash(a, len) & (size - 1);

	for (;;) {
		uint32_t e = hash[i];
		if (e == 0)
			return &hash[i];
		const struct pt_prefix *p = &pfx[e - 1];
		if (p->len == len && memcmp(p->addr.b, a->b, 16) == 0)
			return &hash[i];
		i = (i + 1) & (size - 1);
	}
}

struct prefix_table *prefix_table_create(void)
{
	struct prefix_table *t = fault_calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->root4 = fault_calloc(PT_ROOT_SIZE, sizeof(*t->root4));
	t->root6 = fault_calloc(PT_ROOT_SIZE, sizeof(*t->root6));
	t->leaves = fault_calloc(1, sizeof(*t->leaves));
	t->hash_size = 64;
	t->hash = fault_calloc(t->hash_size, sizeof(*t->hash));
	if (!t->root4 || !t->root6 || !t->leaves || !t->hash) {
		prefix_table_destroy(t);
		return NULL;
	}
	t->n_leaves = 1;
	return t;
}

void prefix_table_destroy(struct prefix_table *t)
{
	if (!t)
		return;
	free(t->root4);
	free(t->root6);
	free(t->nodes);
	free(t->leaves);
	free(t->pfx);
	free(t->hash);
	free(t);
}

int prefix_table_add(struct prefix_table *t, const struct flow_addr *addr, unsigned len,
                     uint32_t value)
{
	if (len > 128)
		return -EINVAL;
	struct flow_addr a = *addr;
	if (pt_clear_host_bits(&a, len))
		return -EINVAL;
	if (t->built)
		return -EBUSY;

	uint32_t *slot = pt_hash_slot(t->hash, t->hash_size, t->pfx, &a, len);
	if (*slot)
		return t->pfx[*slot - 1].value == value ? 0 : -EEXIST;
	if (t->n_pfx >= PREFIX_TABLE_MAX_PREFIXES)
		return -ENOSPC;

	if (grow_array((void **)&t->pfx, &t->cap_pfx, (size_t)t->n_pfx + 1, sizeof(*t->pfx), 64,
	               PREFIX_TABLE_MAX_PREFIXES) != 0)
		return -ENOMEM;
	/* Keep the set at most half full so probes stay short. */
	if ((t->n_pfx + 1) * 2 > t->hash_size) {
		uint32_t size = t->hash_size * 2;
		uint32_t *h = fault_calloc(size, sizeof(*h));
		if (!h)
			return -ENOMEM;
		for (uint32_t i = 0; i < t->n_pfx; i++)
			*pt_hash_slot(h, size, t->pfx, &t->pfx[i].addr, t->pfx[i].len) = i + 1;
		free(t->hash);
		t->hash = h;
		t->hash_size = size;
		slot = pt_hash_slot(t->hash, t->hash_size, t->pfx, &a, len);
	}
	t->pfx[t->n_pfx] = (struct pt_prefix){.addr = a, .value = value, .len = (uint8_t)len};
	*slot = ++t->n_pfx;
	return 0;
}

/* Build-time state: both tries' temporary nodes live in one array. */
struct pt_build {
	uint32_t *root4;
	uint32_t *root6;
	struct pt_tnode *tn;
	uint32_t n_tn;
	size_t cap_tn;
};

/* A new temporary node with every entry set to fill; its index, or -1. */
static int64_t pt_tnode_new(struct pt_build *b, uint32_t fill)
{
	if (grow_array((void **)&b->tn, &b->cap_tn, (size_t)b->n_tn + 1, sizeof(*b->tn), 256,
	               UINT32_MAX) != 0)
		return -1;
	for (unsigned i = 0; i < PT_FANOUT; i++)
		b->tn[b->n_tn].e[i] = fill;
	return b->n_tn++;
}

/*
 * Insert key/klen (key left-aligned in hi:lo) with entry id into one trie.
 * Prefixes arrive shortest first, so every entry a prefix's range covers is
 * a leaf of a shorter (or no) prefix and is simply overwritten: a child node
 * below a range could only exist for a longer prefix, inserted later. A new
 * node inherits its parent entry (leaf pushing), so a lookup never has to
 * remember the best match seen on the way down.
 */
static int pt_insert(struct pt_build *b, uint32_t *root, uint64_t hi, uint64_t lo, unsigned klen,
                     uint32_t id)
{
	if (klen <= PT_ROOT_BITS) {
		uint32_t first = (uint32_t)(hi >> (64 - PT_ROOT_BITS));
		uint32_t n = 1u << (PT_ROOT_BITS - klen);
		for (uint32_t i = 0; i < n; i++)
			root[first + i] = id;
		return 0;
	}

	/* parent < 0: the slot is in root; else in temporary node parent. */
	int64_t parent = -1;
	uint32_t at = (uint32_t)(hi >> (64 - PT_ROOT_BITS));
	for (unsigned off = PT_ROOT_BITS;; off += PT_STRIDE) {
		uint32_t e = parent < 0 ? root[at] : b->tn[parent].e[at];
		int64_t node;
		if (e & PT_NODE) {
			node = e & ~PT_NODE;
		} else {
			/* May move b->tn, so the parent slot is found again below. */
			node = pt_tnode_new(b, e);
			if (node < 0)
				return -ENOMEM;
			if (parent < 0)
				root[at] = PT_NODE | (uint32_t)node;
			else
				b->tn[parent].e[at] = PT_NODE | (uint32_t)node;
		}
		unsigned v = pt_key_bits(hi, lo, off);
		if (klen <= off + PT_STRIDE) {
			unsigned n = 1u << (off + PT_STRIDE - klen);
			for (unsigned i = 0; i < n; i++)
				b->tn[node].e[v + i] = id;
			return 0;
		}
		parent = node;
		at = v;
	}
}

/* The leaf word of collected prefix index + 1 (0: the miss). */
static uint64_t pt_leaf(const struct prefix_table *t, uint32_t id)
{
	if (id == 0)
		return 0;
	const struct pt_prefix *p = &t->pfx[id - 1];
	return PT_LEAF_HIT | (uint64_t)p->len << 32 | p->value;
}

/*
 * True when tn has exactly one child (its entry in *only) and all its other
 * entries hold one leaf (in *fill): a node path compression may fold.
 */
static bool pt_tnode_chain(const struct pt_tnode *tn, unsigned *only, uint32_t *fill)
{
	unsigned children = 0;
	bool have_leaf = false;

	for (unsigned v = 0; v < PT_FANOUT; v++) {
		uint32_t e = tn->e[v];
		if (e & PT_NODE) {
			if (++children > 1)
				return false;
			*only = v;
		} else if (!have_leaf) {
			*fill = e;
			have_leaf = true;
		} else if (e != *fill) {
			return false;
		}
	}
	return children == 1;
}

/*
 * Turn the temporary tries into poptrie nodes. Nodes are numbered breadth
 * first, so the children of a node are numbered together, in entry order,
 * as base1 + rank requires. Root entries are rewritten in place.
 */
static int pt_compress(struct prefix_table *t, struct pt_build *b, struct pt_node **nodes_out,
                       size_t *n_nodes_out, uint64_t **leaves_out, size_t *n_leaves_out)
{
	/* Every node may add one miss leaf, counted on top of its runs. */
	size_t n_leaves = 1 + (size_t)t->n_pfx + b->n_tn;

	for (uint32_t i = 0; i < b->n_tn; i++) {
		bool first = true;
		uint32_t prev = 0;
		for (unsigned v = 0; v < PT_FANOUT; v++) {
			uint32_t e = b->tn[i].e[v];
			if (!(e & PT_NODE) && (first || e != prev)) {
				n_leaves++;
				prev = e;
				first = false;
			}
		}
	}

	struct pt_node *nodes = fault_calloc(b->n_tn ? b->n_tn : 1, sizeof(*nodes));
	uint32_t *f2t = fault_calloc(b->n_tn ? b->n_tn : 1, sizeof(*f2t));
	uint64_t *leaves = fault_calloc(n_leaves, sizeof(*leaves));
	if (!nodes || !f2t || !leaves) {
		free(nodes);
		free(f2t);
		free(leaves);
		return -ENOMEM;
	}

	/* Root leaves point straight at the per-prefix section leaves[1 + i]. */
	for (uint32_t i = 0; i < t->n_pfx; i++)
		leaves[1 + i] = pt_leaf(t, i + 1);
	size_t nl = 1 + (size_t)t->n_pfx;

	uint32_t nf = 0;
	uint32_t *roots[2] = {b->root4, b->root6};
	for (unsigned r = 0; r < 2; r++) {
		for (uint32_t i = 0; i < PT_ROOT_SIZE; i++) {
			if (roots[r][i] & PT_NODE) {
				f2t[nf] = roots[r][i] & ~PT_NODE;
				roots[r][i] = PT_NODE | nf++;
			}
		}
	}
	for (uint32_t f = 0; f < nf; f++) {
		const struct pt_tnode *tn = &b->tn[f2t[f]];
		struct pt_node *n = &nodes[f];
		bool first = true;
		uint32_t prev = 0;
		unsigned skip = 0, only;
		uint32_t fill;

		/*
		 * A prefix ending exactly at a folded node's stride covers only
		 * its child entry: the node still has one run, but the nodes
		 * below inherit another leaf. So fold only nodes with the same
		 * run as the first; the one miss leaf stands for all of them.
		 */
		uint32_t first_fill = 0;
		while (skip < PT_SKIP_MAX && pt_tnode_chain(tn, &only, &fill) &&
		       (skip == 0 || fill == first_fill)) {
			if (skip == 0) {
				first_fill = fill;
				n->miss = (uint32_t)nl;
				leaves[nl++] = pt_leaf(t, fill);
			}
			n->skey |= (uint64_t)only << (64 - PT_STRIDE * (skip + 1));
			skip++;
			tn = &b->tn[tn->e[only] & ~PT_NODE];
		}
		n->skip_bits = (uint8_t)(skip * PT_STRIDE);

		n->base1 = nf;
		n->base0 = (uint32_t)nl;
		for (unsigned v = 0; v < PT_FANOUT; v++) {
			uint32_t e = tn->e[v];
			if (e & PT_NODE) {
				n->vec |= 1ull << v;
				f2t[nf++] = e & ~PT_NODE;
			} else if (first || e != prev) {
				n->leafvec |= 1ull << v;
				leaves[nl++] = pt_leaf(t, e);
				prev = e;
				first = false;
			}
		}
	}
	free(f2t);
	/* Folded nodes and their runs were counted above; give the room back. */
	struct pt_node *shrunk = nf ? reallocarray(nodes, nf, sizeof(*nodes)) : NULL;
	if (shrunk)
		nodes = shrunk;
	uint64_t *lshrunk = reallocarray(leaves, nl, sizeof(*leaves));
	if (lshrunk)
		leaves = lshrunk;
	*nodes_out = nodes;
	*n_nodes_out = nf;
	*leaves_out = leaves;
	*n_leaves_out = nl;
	return 0;
}

int prefix_table_build(struct prefix_table *t)
{
	if (t->built)
		return -EBUSY;

	struct pt_build b = {0};
	uint32_t *order = fault_calloc(t->n_pfx ? t->n_pfx : 1, sizeof(*order));
	b.root4 = fault_calloc(PT_ROOT_SIZE, sizeof(*b.root4));
	b.root6 = fault_calloc(PT_ROOT_SIZE, sizeof(*b.root6));
	int rc = -ENOMEM;
	if (!order || !b.root4 || !b.root6)
		goto out;

	/* Shortest first (see pt_insert): a counting sort over the 129 lengths. */
	uint32_t start[130] = {0};
	for (uint32_t i = 0; i < t->n_pfx; i++)
		start[t->pfx[i].len + 1]++;
	for (unsigned l = 1; l < 130; l++)
		start[l] += start[l - 1];
	for (uint32_t i = 0; i < t->n_pfx; i++)
		order[start[t->pfx[i].len]++] = i;

	for (uint32_t k = 0; k < t->n_pfx; k++) {
		uint32_t i = order[k];
		const struct pt_prefix *p = &t->pfx[i];
		uint64_t hi = pt_load_be64(p->addr.b), lo = pt_load_be64(p->addr.b + 8);
		unsigned head = p->len < 96 ? p->len : 96;

		/*
		 * A prefix that meets ::ffff:0:0/96 goes into the IPv4 trie: one
		 * of 96 bits or fewer covers all of IPv4 (key length 0), a longer
		 * one is an IPv4 prefix of len - 96 bits.
		 */
		if (pt_bits_equal(p->addr.b, pt_v4_mapped, head)) {
			unsigned klen = p->len > 96 ? p->len - 96 : 0;
			rc = pt_insert(&b, b.root4, lo << 32, 0, klen, i + 1);
			if (rc)
				goto out;
		}
		/* Everything not wholly inside ::ffff:0:0/96 goes into the IPv6 trie. */
		if (p->len < 96 || !pt_bits_equal(p->addr.b, pt_v4_mapped, 96)) {
			rc = pt_insert(&b, b.root6, hi, lo, p->len, i + 1);
			if (rc)
				goto out;
		}
	}

	struct pt_node *nodes;
	uint64_t *leaves;
	size_t n_nodes, n_leaves;
	rc = pt_compress(t, &b, &nodes, &n_nodes, &leaves, &n_leaves);
	if (rc)
		goto out;

	free(t->root4);
	free(t->root6);
	free(t->nodes);
	free(t->leaves);
	t->root4 = b.root4;
	t->root6 = b.root6;
	b.root4 = b.root6 = NULL;
	t->nodes = nodes;
	t->n_nodes = n_nodes;
	t->leaves = leaves;
	t->n_leaves = n_leaves;
	t->built = true;
out:
	free(order);
	free(b.root4);
	free(b.root6);
	free(b.tn);
	return rc;
}

/*
 * Baseline x86-64 (what Debian builds for) has no POPCNT instruction, and
 * __builtin_popcountll() then becomes a libgcc call on every trie level,
 * doubling the lookup cost. Clone the lookups: the loader picks the POPCNT
 * version on any CPU that has it (all since 2008) through an ifunc. GCC
 * only: clang 14 emits no resolver for these clones and the link fails
 * (the fuzz build uses clang).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__POPCNT__) && \
	defined(__ELF__)
#define PT_LOOKUP_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define PT_LOOKUP_CLONES
#endif

/* The leaf word for a: PT_LEAF_HIT | len << 32 | value, or 0. */
static inline __attribute__((always_inline)) uint64_t pt_find(const struct prefix_table *t,
                                                              const struct flow_addr *a)
{
	uint64_t hi = pt_load_be64(a->b), lo = pt_load_be64(a->b + 8);
	const uint32_t *root = t->root6;

	if (hi == 0 && (lo >> 32) == 0xffff) {
		root = t->root4;
		hi = lo << 32;
		lo = 0;
	}
	uint32_t e = root[hi >> (64 - PT_ROOT_BITS)];
	if (!(e & PT_NODE))
		return t->leaves[e];

	hi = (hi << PT_ROOT_BITS) | (lo >> (64 - PT_ROOT_BITS));
	lo <<= PT_ROOT_BITS;
	const struct pt_node *n = &t->nodes[e & ~PT_NODE];
	/* Ends within 19 turns: the build puts no node below bit 124. */
	for (;;) {
		unsigned sb = n->skip_bits;
		if (sb) {
			if ((hi ^ n->skey) >> (64 - sb))
				return t->leaves[n->miss];
			/* 6 <= sb <= 60, so neither shift is by 64. */
			hi = (hi << sb) | (lo >> (64 - sb));
			lo <<= sb;
		}
		unsigned v = (unsigned)(hi >> (64 - PT_STRIDE));
		/* Entries 0..v; for v = 63 the shift wraps to 0 and the mask is all ones. */
		uint64_t upto = (2ull << v) - 1;
		if (!(n->vec & (1ull << v)))
			return t->leaves[n->base0 +
			                 (uint32_t)__builtin_popcountll(n->leafvec & upto) - 1];
		n = &t->nodes[n->base1 + (uint32_t)__builtin_popcountll(n->vec & upto) - 1];
		hi = (hi << PT_STRIDE) | (lo >> (64 - PT_STRIDE));
		lo <<= PT_STRIDE;
	}
}

PT_LOOKUP_CLONES
int64_t prefix_table_lookup(const struct prefix_table *t, const struct flow_addr *a)
{
	uint64_t leaf = pt_find(t, a);

	return leaf ? (int64_t)(uint32_t)leaf : -1;
}

/* The root entry pt_find() will read first for a, fetched ahead. */
static inline void pt_prefetch(const struct prefix_table *t, const struct flow_addr *a)
{
	uint64_t hi = pt_load_be64(a->b), lo = pt_load_be64(a->b + 8);

	if (hi == 0 && (lo >> 32) == 0xffff)
		__builtin_prefetch(&t->root4[(uint32_t)lo >> (32 - PT_ROOT_BITS)]);
	else
		__builtin_prefetch(&t->root6[hi >> (64 - PT_ROOT_BITS)]);
}

PT_LOOKUP_CLONES
void prefix_table_lookup_n(const struct prefix_table *t, const struct flow_addr *a, size_t stride,
                           size_t n, int64_t *out)
{
	enum { PF = 8 };
	const char *p = (const char *)a;

	for (size_t k = 0; k < n && k < PF; k++)
		pt_prefetch(t, (const struct flow_addr *)(p + k * stride));
	for (size_t k = 0; k < n; k++) {
		if (k + PF < n)
			pt_prefetch(t, (const struct flow_addr *)(p + (k + PF) * stride));
		uint64_t leaf = pt_find(t, (const struct flow_addr *)(p + k * stride));
		out[k] = leaf ? (int64_t)(uint32_t)leaf : -1;
	}
}

PT_LOOKUP_CLONES
int64_t prefix_table_lookup_len(const struct prefix_table *t, const struct flow_addr *a,
                                unsigned *len)
{
	uint64_t leaf = pt_find(t, a);

	if (!leaf)
		return -1;
	*len = (unsigned)(leaf >> 32) & 0xff;
	return (int64_t)(uint32_t)leaf;
}

unsigned prefix_table_count(const struct prefix_table *t)
{
	return t->n_pfx;
}

size_t prefix_table_memory(const struct prefix_table *t)
{
	return sizeof(*t) + 2 * PT_ROOT_SIZE * sizeof(uint32_t) +
	       t->n_nodes * sizeof(struct pt_node) + t->n_leaves * sizeof(uint64_t) +
	       (size_t)t->cap_pfx * sizeof(struct pt_prefix) +
	       (size_t)t->hash_size * sizeof(uint32_t);
}

int prefix_parse(const char *s, struct flow_addr *addr, unsigned *len, unsigned *text_bits)
{
	/* The longest address text is 45 characters ("ffff:...:255.255.255.255"). */
	char buf[48];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);

	if (text_bits)
		*text_bits = 0;
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';

	struct flow_addr a;
	if (flow_addr_parse(buf, &a) != 0)
		return -EINVAL;
	/* The text's family, not the address's, decides how the length reads. */
	bool v6_text = memchr(buf, ':', alen) != NULL;
	unsigned max = v6_text ? 128 : 32, n = max;

	if (text_bits)
		*text_bits = max;

	if (slash) {
		/* Decimal digits only: strtoul would take signs, spaces and "0x". */
		const char *p = slash + 1;
		unsigned digits = 0;
		n = 0;
		while (p[digits] >= '0' && p[digits] <= '9' && digits < 4)
			n = n * 10 + (unsigned)(p[digits++] - '0');
		if (digits == 0 || digits > 3 || p[digits] != '\0' || n > max)
			return -EINVAL;
	}
	unsigned l = v6_text ? n : 96 + n;
	bool host = pt_clear_host_bits(&a, l);
	*addr = a;
	*len = l;
	return host ? -EDOM : 0;
}
