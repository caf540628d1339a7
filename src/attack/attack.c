/*
 * attack: per-host rates over seconds, thresholds with hysteresis, attack
 * events. See attack.h; the design is in docs/internals/attack.md.
 */
#include "nfsentry/attack.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nfsentry/attackring.h"
#include "nfsentry/fault.h"
#include "nfsentry/log.h"

/* Classes kept per second: SYN..FRAG; TOTAL is the sum of SYN..OTHER. */
#define NCLS (ATTACK_CLASS__COUNT - 1)
#define NMET ATTACK_METRIC__COUNT
/* Dense index arrays: IPv4 prefixes of /16 or longer, this many entries in all. */
#define DENSE_MAX_ENTRIES (1u << 22)
#define DENSE_MIN_LEN (96u + 16u)
#define DENSE_PER_SITE 8
/* Records longer than the window whose rate a host keeps until they end. */
#define SUS_MAX 8
/* Heavy-hitter table of one event list (sources, ports, protocols). */
#define TOPK_SLOTS 64
#define NO_HOST UINT32_MAX
/* Four floats (the three metrics and a spare lane) and a lane mask: GCC vectors, SSE. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* Is any of the first three lanes of a comparison's mask set? */
static inline bool any3(v4i m)
{
#if defined(__SSE__)
	return __builtin_ia32_movmskps((v4f)m) & 7;
#else
	return m[0] | m[1] | m[2];
#endif
}
/* Records of one attack_records_ahead() call whose index slots are kept. */
#define PEND_MAX 64

static const char *const dir_names[] = {"in", "out"};
static const char *const class_names[] = {"total", "syn",   "tcp",      "udp",
                                          "icmp",  "other", "fragments"};
static const char *const metric_names[] = {"pps", "bps", "fps"};
static const char *const phase_names[] = {"start", "update", "end"};

const char *attack_dir_name(enum attack_dir d)
{
	return (unsigned)d < ATTACK_DIR__COUNT ? dir_names[d] : "?";
}

const char *attack_class_name(enum attack_class c)
{
	return (unsigned)c < ATTACK_CLASS__COUNT ? class_names[c] : "?";
}

const char *attack_metric_name(enum attack_metric m)
{
	return (unsigned)m < NMET ? metric_names[m] : "?";
}

const char *attack_phase_name(enum attack_phase p)
{
	return (unsigned)p <= ATTACK_END ? phase_names[p] : "?";
}

void attack_config_defaults(struct attack_config *c)
{
	memset(c, 0, sizeof(*c));
	/* On: its cost on the receive path is in docs/attacks.md, "Cost". */
	c->enabled = true;
	c->window_s = 5;
	c->start_windows = 2;
	c->end_windows = 5;
	c->update_s = 10;
	c->max_hosts = 65536;
	c->max_events = 256;
	c->hook_timeout_ms = 5000;
	c->nice = 19;
	/*
	 * docs/attacks.md explains these. Ingress: unanswered SYNs, UDP and
	 * ICMP floods are caught far below what answered TCP may legitimately
	 * carry; flows/s only where a flood makes many (spoofed sources).
	 */
	uint64_t(*in)[NMET] = c->th.v[ATTACK_IN], (*out)[NMET] = c->th.v[ATTACK_OUT];
	in[ATTACK_CLASS_TOTAL][ATTACK_PPS] = 200000;
	in[ATTACK_CLASS_TOTAL][ATTACK_BPS] = 4000000000ull;
	in[ATTACK_CLASS_SYN][ATTACK_PPS] = 20000;
	in[ATTACK_CLASS_SYN][ATTACK_FPS] = 10000;
	in[ATTACK_CLASS_TCP][ATTACK_PPS] = 500000;
	in[ATTACK_CLASS_UDP][ATTACK_PPS] = 100000;
	in[ATTACK_CLASS_UDP][ATTACK_BPS] = 1000000000ull;
	in[ATTACK_CLASS_ICMP][ATTACK_PPS] = 20000;
	in[ATTACK_CLASS_ICMP][ATTACK_BPS] = 200000000ull;
	in[ATTACK_CLASS_OTHER][ATTACK_PPS] = 50000;
	in[ATTACK_CLASS_FRAG][ATTACK_PPS] = 10000;
	in[ATTACK_CLASS_FRAG][ATTACK_BPS] = 200000000ull;
	out[ATTACK_CLASS_TOTAL][ATTACK_PPS] = 200000;
	out[ATTACK_CLASS_TOTAL][ATTACK_BPS] = 4000000000ull;
	out[ATTACK_CLASS_SYN][ATTACK_PPS] = 10000;
	out[ATTACK_CLASS_SYN][ATTACK_FPS] = 5000;
	out[ATTACK_CLASS_TCP][ATTACK_PPS] = 500000;
	out[ATTACK_CLASS_UDP][ATTACK_PPS] = 50000;
	out[ATTACK_CLASS_UDP][ATTACK_BPS] = 1000000000ull;
	out[ATTACK_CLASS_ICMP][ATTACK_PPS] = 10000;
	out[ATTACK_CLASS_ICMP][ATTACK_BPS] = 100000000ull;
	out[ATTACK_CLASS_OTHER][ATTACK_PPS] = 50000;
	out[ATTACK_CLASS_FRAG][ATTACK_PPS] = 10000;
	out[ATTACK_CLASS_FRAG][ATTACK_BPS] = 100000000ull;
}

/* ---- heavy hitters of an event ------------------------------------------ */

/*
 * A bounded table of (key, packets) that keeps the heaviest keys: each key
 * has two candidate slots; a new key takes an empty one, or else wears down
 * the lighter occupant and takes its place once it reaches zero (a
 * Misra-Gries summary in pairs). Counts are estimates from below.
 */
struct topk_entry {
	struct flow_addr addr;
	uint32_t key;
	bool used;
	uint64_t packets;
};

struct topk {
	struct topk_entry e[TOPK_SLOTS];
};

static void topk_add(struct topk *t, const struct flow_addr *addr, uint32_t key, uint64_t packets)
{
	static const struct flow_addr zero;
	const struct flow_addr *a = addr ? addr : &zero;
	uint64_t h = flow_addr_hash(a, key);
	struct topk_entry *x = &t->e[h % TOPK_SLOTS], *y = &t->e[(h >> 32) % TOPK_SLOTS];

	for (int k = 0; k < 2; k++) {
		struct topk_entry *e = k ? y : x;
		if (e->used && e->key == key && memcmp(&e->addr, a, sizeof(*a)) == 0) {
			e->packets += packets;
			return;
		}
	}
	struct topk_entry *e = !x->used ? x : !y->used ? y : x->packets <= y->packets ? x : y;
	if (e->used && e->packets > packets) {
		e->packets -= packets;
		return;
	}
	e->packets = e->used ? packets - e->packets : packets;
	e->used = true;
	e->key = key;
	e->addr = *a;
}

static int top_cmp(const void *pa, const void *pb)
{
	const struct attack_top *a = pa, *b = pb;

	if (a->packets != b->packets)
		return a->packets < b->packets ? 1 : -1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return memcmp(&a->addr, &b->addr, sizeof(a->addr));
}

/* The heaviest ATTACK_TOP_MAX of t into out, largest first. Returns how many. */
static size_t topk_list(const struct topk *t, struct attack_top *out)
{
	struct attack_top all[TOPK_SLOTS];
	size_t n = 0;

	for (size_t k = 0; k < TOPK_SLOTS; k++)
		if (t->e[k].used && t->e[k].packets)
			all[n++] = (struct attack_top){t->e[k].addr, t->e[k].key, t->e[k].packets};
	if (n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(all, n, sizeof(all[0]), top_cmp);
	if (n > ATTACK_TOP_MAX)
		n = ATTACK_TOP_MAX;
	memcpy(out, all, n * sizeof(all[0]));
	return n;
}

/* ---- state --------------------------------------------------------------- */

struct event {
	bool used;
	/*
	 * Taken back from the restart state and not seen above since: it ends
	 * at quiet_from_ms, when the last run saw it going quiet (or stopped).
	 */
	bool resumed;
	uint32_t host;
	uint64_t last_emit_ms;
	int64_t grace_s;        /* restored: no below count before this second (window filling) */
	uint64_t quiet_from_ms; /* restored: see resumed */
	struct attack_event e;  /* the public view, its lists filled at each callback */
	struct topk sources, ports, protos;
};

/* A record longer than the window: its rate holds for the host until `until`. */
struct sus {
	int64_t until; /* clock second it stops counting */
	uint8_t cell;  /* dir * NCLS + class - 1 */
	float r[NMET];
};

/*
 * One tracked inside IP. Its first cache line is all a record of a cold
 * host reads and writes (the bound, the sustained total and when the next
 * sustained rate ends, the flags); the sustained records follow, then what
 * only the sweep, the index and the events read. A host that may reach a
 * threshold (hot) also has a ring from the ring pool: 2 x window_s
 * one-second buckets, seconds sec - window_s .. sec + window_s - 1 (the
 * window behind, the spread of recent records ahead), each holding
 * (packets, bits, flows) of every (direction, class): one bucket is 144
 * contiguous bytes. A cold host keeps only its bound.
 */
struct host {
	/*
	 * Upper bound of what the window can hold: everything credited to the
	 * ring in the current epoch (2 x window_s seconds) and the one before,
	 * over all directions and classes, plus the sustained total. A host
	 * whose bound is under every threshold is not evaluated.
	 */
	int64_t sus_next; /* earliest `until` of sus[0 .. n_sus - 1]; INT64_MAX: none */
	int64_t sec;      /* the second the ring was brought to */
	int32_t epoch;    /* second / (2 x window_s) of acc_new */
	float acc_new[NMET], acc_old[NMET];
	float sus_tot[NMET];
	uint32_t ring; /* ring pool index + 1, 0 = none (cold) */
	uint8_t n_sus;
	bool busy; /* an above count or an event is open: always evaluate */
	bool hot;  /* in hot[]: evaluated every second */
	/* Records longer than the window: the first n_sus are used (the rest: not zeroed). */
	struct sus sus[SUS_MAX] __attribute__((aligned(64)));
	uint32_t live_pos; /* index in live[] */
	uint32_t hot_pos;  /* index in hot[] when hot */
	struct flow_addr addr;
	uint32_t site;
	uint32_t tset;  /* thresholds: index into struct attack's tsets */
	uint32_t hslot; /* hash slot, or NO_HOST for a dense entry */
	uint8_t above[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT];
	uint8_t below[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT];
	uint16_t ev[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT]; /* event index + 1 */
};
_Static_assert(offsetof(struct host, sus) == 64, "a record of a cold host reads one line");
/*
 * credit_fast() reads acc_new, acc_old and sus_tot as four floats each (the
 * fourth the next field's first, not used), all in the first line.
 */
_Static_assert(offsetof(struct host, acc_old) == offsetof(struct host, acc_new) + 12 &&
                   offsetof(struct host, sus_tot) == offsetof(struct host, acc_old) + 12 &&
                   offsetof(struct host, sus_tot) + 16 <= 64,
               "the bound's floats lie back to back in the first line");
/* Bytes per host entry: whole lines, a constant so that a pointer's index is a multiplication. */
#define HOST_STRIDE ((sizeof(struct host) + 63) & ~(size_t)63)

struct dense {
	uint32_t net, size; /* IPv4, host order */
	uint32_t *idx;      /* size entries: host index + 1, 0 = none; owned */
};

struct site_idx {
	struct dense d[DENSE_PER_SITE];
	size_t n;
	uint32_t tset;                /* the site's own thresholds */
	const struct attack_site *ov; /* its overrides (groups), or NULL */
	uint32_t group_tset;          /* first group's threshold set */
};

struct hslot {
	uint32_t tag;  /* high bits of the hash */
	uint32_t host; /* index + 1, 0 = empty */
};

struct attack {
	struct attack_config cfg;
	const struct site_config *sites;
	size_t n_sites;
	attack_event_fn fn;
	void *ud;
	uint32_t w;          /* window_s */
	unsigned char *pool; /* max_hosts entries of HOST_STRIDE bytes; owned */
	/*
	 * Per pool entry, the first second at which the host may be idle
	 * (saturated at UINT32_MAX): the end of the epoch after the last one it
	 * was credited a short record in, or the end of a sustained rate,
	 * whichever is later. The per-epoch sweep reads this array, not the
	 * hosts: only one whose second has come is brought forward and tested.
	 * In live's allocation (its second half).
	 */
	uint32_t *idle_s;
	uint32_t idle_acc_s; /* (now_ep + 2) x 2 x window_s: a short credit now keeps it to this */
	uint32_t *live;      /* indices of the hosts in use; owned (with idle_s) */
	uint32_t n_live;
	float *rings;        /* max_rings rings of 2 x window_s buckets; owned */
	uint32_t *ring_free; /* owned */
	uint32_t n_ring_free, max_rings;
	uint32_t *hot; /* hosts that may be above a threshold: evaluated each second; owned */
	uint32_t n_hot;
	int64_t next_scan;   /* second of the next sweep over every host (idle ones freed) */
	uint32_t *free_list; /* owned */
	uint32_t n_free;
	struct hslot *hash; /* owned; hcap slots */
	uint32_t hcap;
	struct site_idx *si;                                          /* owned */
	float (*tsets)[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][NMET]; /* owned */
	size_t n_tsets;
	float min_th[NMET]; /* smallest threshold of each metric, 0 = none */
	float lim_w[4];     /* min_th x 0.999 x window_s; +inf: none (host_may_exceed); [3] +inf */
	float w_f;          /* window_s */
	unsigned now_b;     /* now_s % (2 x window_s): the ring bucket of now */
	/*
	 * attack_records_ahead()'s dense slots of the chunk pend_v (NULL: none):
	 * pend[2i] of record i's source, pend[2i + 1] of its destination.
	 */
	const struct flow *pend_v;
	size_t pend_n;
	uint32_t *pend[2 * PEND_MAX];
	struct event *ev; /* max_events; owned */
	int64_t now_s;    /* 0 until the first clock */
	int32_t now_ep;   /* now_s / (2 x window_s) */
	int32_t prev_ep;  /* (now_s - 1) / (2 x window_s): the second evaluate() brings hosts to */
	struct attack_stats st;
};

static struct host *host_at(const struct attack *a, uint32_t i)
{
	return (struct host *)(a->pool + (size_t)i * HOST_STRIDE);
}

/* The pool index of x. */
static inline uint32_t host_idx(const struct attack *a, const struct host *x)
{
	return (uint32_t)((size_t)((const unsigned char *)x - a->pool) / HOST_STRIDE);
}

/* Raise pool entry idx's idle second (idle_s) to s: it is not idle before it. */
static inline void host_keep_idx(struct attack *a, uint32_t idx, uint64_t s)
{
	uint32_t *k = &a->idle_s[idx];
	uint32_t v = s < UINT32_MAX ? (uint32_t)s : UINT32_MAX;

	if (*k < v)
		*k = v;
}

/* Raise x's idle second (idle_s) to s: x is not idle before it. */
static inline void host_keep(struct attack *a, const struct host *x, uint64_t s)
{
	host_keep_idx(a, host_idx(a, x), s);
}

#define NCELL (ATTACK_DIR__COUNT * NCLS * NMET) /* floats of one bucket */

/* Bucket b (second u is bucket u % (2 x window_s)) of x's ring (x->ring != 0). */
static float *host_bucket(const struct attack *a, const struct host *x, unsigned b)
{
	return a->rings + ((size_t)(x->ring - 1) * 2 * a->w + b) * NCELL;
}

static uint32_t v4_of(const struct flow_addr *x)
{
	return (uint32_t)x->b[12] << 24 | (uint32_t)x->b[13] << 16 | (uint32_t)x->b[14] << 8 |
	       x->b[15];
}

/* Resolve one threshold: group, else site, else default; as a float rate. */
static void tset_fill(struct attack *a, size_t k, const struct attack_thresholds *site,
                      const struct attack_thresholds *group)
{
	for (unsigned d = 0; d < ATTACK_DIR__COUNT; d++)
		for (unsigned c = 0; c < ATTACK_CLASS__COUNT; c++)
			for (unsigned m = 0; m < NMET; m++) {
				uint64_t v = a->cfg.th.v[d][c][m];
				if (site && site->v[d][c][m] != ATTACK_UNSET)
					v = site->v[d][c][m];
				if (group && group->v[d][c][m] != ATTACK_UNSET)
					v = group->v[d][c][m];
				if (v == ATTACK_UNSET)
					v = 0;
				a->tsets[k][d][c][m] = (float)v;
				if (v && (a->min_th[m] == 0 || (float)v < a->min_th[m]))
					a->min_th[m] = (float)v;
			}
}

/* The bound's limits (host_may_exceed) from the smallest thresholds, min_th. */
static void lim_set(struct attack *a)
{
	for (unsigned m = 0; m < NMET; m++)
		a->lim_w[m] = a->min_th[m] > 0 ? a->min_th[m] * 0.999f * (float)a->w : INFINITY;
	a->lim_w[3] = INFINITY;
}

static int build_tables(struct attack *a)
{
	size_t n_tsets = a->n_sites, dense_total = 0;

	a->si = fault_calloc(a->n_sites ? a->n_sites : 1, sizeof(*a->si));
	if (!a->si)
		return -ENOMEM;
	for (size_t s = 0; s < a->n_sites; s++) {
		for (size_t k = 0; k < a->cfg.n_sites; k++)
			if (strcmp(a->cfg.sites[k].site, a->sites[s].name) == 0)
				a->si[s].ov = &a->cfg.sites[k];
		a->si[s].tset = (uint32_t)s;
		a->si[s].group_tset = (uint32_t)n_tsets;
		if (a->si[s].ov)
			n_tsets += a->si[s].ov->n_groups;
	}
	a->tsets = fault_calloc(n_tsets ? n_tsets : 1, sizeof(*a->tsets));
	if (!a->tsets)
		return -ENOMEM;
	a->n_tsets = n_tsets;
	for (size_t s = 0; s < a->n_sites; s++) {
		const struct attack_site *ov = a->si[s].ov;
		tset_fill(a, s, ov ? &ov->th : NULL, NULL);
		for (size_t g = 0; ov && g < ov->n_groups; g++)
			tset_fill(a, a->si[s].group_tset + g, &ov->th, &ov->groups[g].th);
	}
	/* Dense arrays for IPv4 prefixes of /16 or longer, within a total. */
	for (size_t s = 0; s < a->n_sites; s++) {
		const struct site_config *sc = &a->sites[s];
		for (size_t j = 0; j < sc->n_inside && a->si[s].n < DENSE_PER_SITE; j++) {
			const struct site_prefix *p = &sc->inside[j];
			if (!flow_addr_is_v4(&p->addr) || p->len < DENSE_MIN_LEN || p->len > 128)
				continue;
			uint32_t size = 1u << (128 - p->len);
			if (size > DENSE_MAX_ENTRIES - dense_total)
				continue;
			struct dense *d = &a->si[s].d[a->si[s].n];
			d->idx = fault_calloc(size, sizeof(uint32_t));
			if (!d->idx)
				return -ENOMEM;
			d->size = size;
			d->net = v4_of(&p->addr) & ~(size - 1);
			a->si[s].n++;
			dense_total += size;
		}
	}
	return 0;
}

int attack_create(const struct attack_config *cfg, const struct site_config *sites, size_t n_sites,
                  attack_event_fn fn, void *ud, struct attack **out)
{
	if (cfg->window_s == 0 || cfg->window_s > ATTACK_WINDOW_MAX_S || !cfg->start_windows ||
	    !cfg->end_windows || cfg->start_windows > 255 || cfg->end_windows > 255 ||
	    !cfg->max_hosts || cfg->max_hosts > ATTACK_HOSTS_MAX || !cfg->max_events ||
	    cfg->max_events > ATTACK_EVENTS_MAX)
		return -EINVAL;
	struct attack *a = fault_calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	a->sites = sites;
	a->n_sites = n_sites;
	a->fn = fn;
	a->ud = ud;
	a->w = cfg->window_s;
	/* Rings for the hosts that may reach a threshold: a few of all. */
	a->max_rings = cfg->max_hosts < 4096 ? cfg->max_hosts : cfg->max_hosts / 8;
	if (a->max_rings < 4096 && cfg->max_hosts >= 4096)
		a->max_rings = 4096;
	a->hcap = 1024;
	while (a->hcap < 2 * cfg->max_hosts)
		a->hcap *= 2;
	/* calloc: pages of the pool are touched only as hosts are used. */
	a->pool = fault_calloc(cfg->max_hosts, HOST_STRIDE);
	/* live[] and idle_s[] in one allocation: max_hosts entries each. */
	a->live = fault_calloc(cfg->max_hosts, 2 * sizeof(uint32_t));
	a->idle_s = a->live ? a->live + cfg->max_hosts : NULL;
	a->hot = fault_calloc(cfg->max_hosts, sizeof(uint32_t));
	a->rings = fault_calloc((size_t)a->max_rings * 2 * a->w, NCELL * sizeof(float));
	a->ring_free = fault_calloc(a->max_rings, sizeof(uint32_t));
	a->free_list = fault_calloc(cfg->max_hosts, sizeof(uint32_t));
	a->hash = fault_calloc(a->hcap, sizeof(*a->hash));
	a->ev = fault_calloc(cfg->max_events, sizeof(*a->ev));
	if (!a->pool || !a->idle_s || !a->live || !a->hot || !a->rings || !a->ring_free ||
	    !a->free_list || !a->hash || !a->ev || build_tables(a) != 0) {
		attack_destroy(a);
		return -ENOMEM;
	}
	lim_set(a);
	a->w_f = (float)a->w;
	/* Lowest index first out of the free list: used entries stay packed. */
	for (uint32_t i = 0; i < cfg->max_hosts; i++)
		a->free_list[i] = cfg->max_hosts - 1 - i;
	a->n_free = cfg->max_hosts;
	for (uint32_t i = 0; i < a->max_rings; i++)
		a->ring_free[i] = a->max_rings - 1 - i;
	a->n_ring_free = a->max_rings;
	*out = a;
	return 0;
}

void attack_destroy(struct attack *a)
{
	if (!a)
		return;
	for (size_t s = 0; a->si && s < a->n_sites; s++)
		for (size_t k = 0; k < a->si[s].n; k++)
			free(a->si[s].d[k].idx);
	free(a->si);
	free(a->tsets);
	free(a->pool);
	free(a->live);
	free(a->hot);
	free(a->rings);
	free(a->ring_free);
	free(a->free_list);
	free(a->hash);
	free(a->ev);
	free(a);
}

/* ---- host table ---------------------------------------------------------- */

static uint64_t host_key_hash(uint32_t site, const struct flow_addr *ip)
{
	return flow_addr_hash(ip, 0x9e3779b97f4a7c15ull * (site + 1));
}

/* Where ip's index lives: a dense entry, or NULL (then the hash). */
static inline uint32_t *dense_slot(struct attack *a, uint32_t site, const struct flow_addr *ip)
{
	const struct site_idx *si = &a->si[site];

	if (!si->n || !flow_addr_is_v4(ip))
		return NULL;
	uint32_t v = v4_of(ip);
	for (size_t k = 0; k < si->n; k++)
		if (v - si->d[k].net < si->d[k].size)
			return &si->d[k].idx[v - si->d[k].net];
	return NULL;
}

/* The hash slot holding (site, ip), or the empty slot where it would go. */
static uint32_t hash_find(const struct attack *a, uint32_t site, const struct flow_addr *ip,
                          uint64_t h)
{
	uint32_t mask = a->hcap - 1, i = (uint32_t)h & mask, tag = (uint32_t)(h >> 32);

	for (;;) {
		const struct hslot *e = &a->hash[i];
		if (!e->host)
			return i;
		if (e->tag == tag) {
			const struct host *x = host_at(a, e->host - 1);
			if (x->site == site && memcmp(&x->addr, ip, sizeof(*ip)) == 0)
				return i;
		}
		i = (i + 1) & mask;
	}
}

/* Linear probing, deletion by backward shift (no tombstones). */
static void hash_remove(struct attack *a, uint32_t i)
{
	uint32_t mask = a->hcap - 1, j = i;

	a->hash[i].host = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (!a->hash[j].host)
			return;
		const struct host *x = host_at(a, a->hash[j].host - 1);
		uint32_t home = (uint32_t)host_key_hash(x->site, &x->addr) & mask;
		/* Move j back to i when its home is not in (i, j] (cyclically). */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		a->hash[i] = a->hash[j];
		host_at(a, a->hash[i].host - 1)->hslot = i;
		a->hash[j].host = 0;
		i = j;
	}
}

/* The thresholds of ip in site: its most specific group, else the site's. */
static uint32_t tset_of(const struct attack *a, uint32_t site, const struct flow_addr *ip)
{
	const struct attack_site *ov = a->si[site].ov;
	uint32_t best = a->si[site].tset;
	int best_len = -1;

	for (size_t g = 0; ov && g < ov->n_groups; g++) {
		const struct site_prefix *p = &ov->groups[g].prefix;
		if ((int)p->len > best_len && flow_addr_in_prefix(ip, &p->addr, p->len)) {
			best_len = p->len;
			best = a->si[site].group_tset + (uint32_t)g;
		}
	}
	return best;
}

/*
 * The entry of (site, ip), made when missing; dslot is dense_slot(a, site,
 * ip) (NULL: the hash). NULL: the pool is full (counted).
 */
static struct host *host_get(struct attack *a, uint32_t site, const struct flow_addr *ip,
                             uint32_t *dslot)
{
	uint32_t hs = NO_HOST;
	uint64_t h = 0;

	if (dslot) {
		if (*dslot)
			return host_at(a, *dslot - 1);
	} else {
		h = host_key_hash(site, ip);
		hs = hash_find(a, site, ip, h);
		if (a->hash[hs].host)
			return host_at(a, a->hash[hs].host - 1);
	}
	if (!a->n_free) {
		a->st.host_overflow++;
		return NULL;
	}
	uint32_t idx = a->free_list[--a->n_free];
	struct host *x = host_at(a, idx);
	a->idle_s[idx] = 0;
	memset(x, 0, offsetof(struct host, sus));
	memset(&x->live_pos, 0, sizeof(*x) - offsetof(struct host, live_pos));
	x->sus_next = INT64_MAX;
	x->addr = *ip;
	x->site = site;
	x->tset = tset_of(a, site, ip);
	x->sec = a->now_s;
	x->epoch = a->now_ep;
	x->live_pos = a->n_live;
	a->live[a->n_live++] = idx;
	if (dslot) {
		*dslot = idx + 1;
		x->hslot = NO_HOST;
	} else {
		a->hash[hs] = (struct hslot){(uint32_t)(h >> 32), idx + 1};
		x->hslot = hs;
	}
	return x;
}

static void host_free(struct attack *a, struct host *x)
{
	uint32_t idx = host_idx(a, x);

	if (x->hslot == NO_HOST) {
		uint32_t *d = dense_slot(a, x->site, &x->addr);
		if (d)
			*d = 0;
	} else {
		hash_remove(a, x->hslot);
	}
	if (x->ring)
		a->ring_free[a->n_ring_free++] = x->ring - 1;
	if (x->hot) {
		uint32_t h = a->hot[--a->n_hot];
		a->hot[x->hot_pos] = h;
		host_at(a, h)->hot_pos = x->hot_pos;
	}
	uint32_t last = a->live[--a->n_live];
	a->live[x->live_pos] = last;
	host_at(a, last)->live_pos = x->live_pos;
	a->free_list[a->n_free++] = idx;
}

/* Take x's sustained rates that ended by second s off (s >= x->sus_next). */
static void host_sus_expire(struct host *x, int64_t s)
{
	int64_t next = INT64_MAX;
	for (unsigned k = 0; k < x->n_sus;) {
		struct sus *e = &x->sus[k];
		if (e->until > s) {
			if (e->until < next)
				next = e->until;
			k++;
			continue;
		}
		for (unsigned m = 0; m < NMET; m++)
			x->sus_tot[m] -= e->r[m];
		*e = x->sus[--x->n_sus];
		if (!x->n_sus) /* no drift left behind by the float sums */
			memset(x->sus_tot, 0, sizeof(x->sus_tot));
	}
	x->sus_next = next;
}

/*
 * Bring x's bound and sustained rates to second s: a new epoch moves the
 * bound on, sustained rates that ended are taken off. Header only; inline
 * for the sweep, which brings every host.
 */
/* Move x's bound to epoch ep (ep != x->epoch): the current one becomes the previous. */
static inline void host_epoch(struct host *x, int32_t ep)
{
	bool next = ep == x->epoch + 1;

	for (unsigned m = 0; m < NMET; m++) {
		x->acc_old[m] = next ? x->acc_new[m] : 0;
		x->acc_new[m] = 0;
	}
	x->epoch = ep;
}

static inline void host_advance_head(struct attack *a, struct host *x, int64_t s)
{
	int32_t ep = s == a->now_s       ? a->now_ep
	             : s == a->now_s - 1 ? a->prev_ep
	                                 : (int32_t)(s / (2 * a->w));

	if (ep != x->epoch)
		host_epoch(x, ep);
	if (s >= x->sus_next) /* else no sustained rate ends yet: the entries are not read */
		host_sus_expire(x, s);
}

/*
 * Bring x to second s: header as above, and the buckets of the seconds that
 * left the window emptied for the seconds ahead.
 */
static void host_advance(struct attack *a, struct host *x, int64_t s)
{
	unsigned r = 2 * a->w;

	host_advance_head(a, x, s);
	if (s <= x->sec || !x->ring)
		return;
	int64_t gap = s - x->sec;
	if (gap >= r) {
		memset(host_bucket(a, x, 0), 0, (size_t)r * NCELL * sizeof(float));
	} else {
		/* Second u's arrival makes u + w - 1 valid; it reuses the bucket of u - w - 1. */
		for (int64_t u = s - gap + 1; u <= s; u++)
			memset(host_bucket(a, x, (unsigned)((u + a->w - 1) % r)), 0,
			       NCELL * sizeof(float));
	}
	x->sec = s;
}

/*
 * Could any rate of x reach a threshold? The epoch bound says no cheaply:
 * (acc_new + acc_old) / w + sus_tot >= the smallest threshold (a little
 * less, for the float sums), multiplied out by w (lim_w).
 */
static inline bool host_may_exceed(const struct attack *a, const struct host *x)
{
	float w = (float)a->w;
	bool over = false;

	for (unsigned m = 0; m < NMET; m++)
		over |= x->acc_new[m] + x->acc_old[m] + x->sus_tot[m] * w >= a->lim_w[m];
	return over;
}

/*
 * Make x hot: evaluated every second, with a ring (empty: what x got while
 * cold is only in its bound, under every threshold). False when no ring is
 * free (counted in hostOverflow; x stays cold and is tried again).
 */
static bool hot_add(struct attack *a, struct host *x)
{
	if (!x->ring) {
		if (!a->n_ring_free) {
			a->st.host_overflow++;
			return false;
		}
		x->ring = a->ring_free[--a->n_ring_free] + 1;
		memset(host_bucket(a, x, 0), 0, (size_t)2 * a->w * NCELL * sizeof(float));
		x->sec = a->now_s;
	}
	x->hot = true;
	x->hot_pos = a->n_hot;
	a->hot[a->n_hot++] = host_idx(a, x);
	return true;
}

/* ---- records ------------------------------------------------------------- */

/* Class of a record by its protocol, XOR ATTACK_CLASS_OTHER (0: other); TCP before its SYN test. */
static const uint8_t proto_class[256] = {
    [1] = ATTACK_CLASS_ICMP ^ ATTACK_CLASS_OTHER,
    [6] = ATTACK_CLASS_TCP ^ ATTACK_CLASS_OTHER,
    [17] = ATTACK_CLASS_UDP ^ ATTACK_CLASS_OTHER,
    [58] = ATTACK_CLASS_ICMP ^ ATTACK_CLASS_OTHER,
};

static inline unsigned class_of(const struct attack_ring_ent *e)
{
	unsigned c = proto_class[e->proto] ^ ATTACK_CLASS_OTHER;

	/* SYN without ACK over the whole record: never answered. */
	if (c == ATTACK_CLASS_TCP && (e->tcp_flags & 0x12) == 0x02)
		c = ATTACK_CLASS_SYN;
	return c;
}

static void event_feed(struct attack *a, uint16_t evi, const struct attack_ring_ent *f,
                       const struct flow_addr *outside)
{
	struct event *e = &a->ev[evi - 1];
	uint32_t k = 1u << f->shed; /* the records it stands for (live sampling) */
	uint64_t pk = f->packets * k;

	if (k > e->e.sampling)
		e->e.sampling = k;
	e->e.packets += pk;
	e->e.octets += f->octets * k;
	e->e.flows += k;
	topk_add(&e->sources, outside, 0, pk);
	topk_add(&e->ports, NULL, f->dport, pk);
	topk_add(&e->protos, NULL, f->proto, pk);
}

/* Hold rate amt in cell for d seconds from now (a record longer than the window). */
static inline __attribute__((always_inline)) void
sus_add(struct attack *a, struct host *x, unsigned cell, const float amt[NMET], uint64_t d)
{
	struct sus *e = &x->sus[x->n_sus++];

	e->until = a->now_s + (int64_t)d;
	e->cell = (uint8_t)cell;
	if (e->until < x->sus_next)
		x->sus_next = e->until;
	host_keep(a, x, (uint64_t)e->until);
	for (unsigned m = 0; m < NMET; m++) {
		e->r[m] = amt[m];
		x->sus_tot[m] += amt[m];
	}
}

/*
 * Add amt to cell (and with frag to the fragments' cell of the same
 * direction) of x's buckets for the k seconds from now on (x has a ring).
 */
static inline __attribute__((always_inline)) void ring_add(struct attack *a, struct host *x,
                                                           unsigned cell, bool frag,
                                                           const float amt[NMET], unsigned k)
{
	unsigned r = 2 * a->w, b = a->now_b;
	float *c0 = host_bucket(a, x, 0) + cell * NMET;
	size_t fo = (ATTACK_CLASS_FRAG - 1 - (cell % NCLS)) * NMET; /* the fragments' cell from c */

	for (unsigned j = 0; j < k; j++) {
		float *c = c0 + (size_t)b * NCELL;
		c[0] += amt[0];
		c[1] += amt[1];
		c[2] += amt[2];
		if (frag) {
			c += fo;
			c[0] += amt[0];
			c[1] += amt[1];
			c[2] += amt[2];
		}
		b = b + 1 == r ? 0 : b + 1;
	}
}

/*
 * One end of one record of d seconds, at rate amt per second, to host x: a
 * record no longer than the window adds amt to each of the d seconds from
 * now on; a longer one holds amt for d seconds as a sustained rate (SUS_MAX
 * per host; beyond, it is clipped to the window's seconds like a short
 * one). A fragment record (frag) also credits the fragments class the same
 * way. A cold host's record reads and writes its first line only.
 */
static inline void credit(struct attack *a, struct host *x, unsigned dir, unsigned cls, bool frag,
                          const struct attack_ring_ent *f, const struct flow_addr *outside,
                          const float amt[NMET], uint64_t d)
{
	a->st.records++;
	if (x->epoch != a->now_ep || a->now_s >= x->sus_next)
		host_advance_head(a, x, a->now_s);
	if (x->ring && x->sec < a->now_s)
		host_advance(a, x, a->now_s);
	unsigned cell = dir * NCLS + cls - 1, fcell = dir * NCLS + ATTACK_CLASS_FRAG - 1;
	if (d > a->w && x->n_sus < SUS_MAX) {
		sus_add(a, x, cell, amt, d);
		/* No room for the fragments' own: their rate is in the protocol's already. */
		if (frag && x->n_sus < SUS_MAX)
			sus_add(a, x, fcell, amt, d);
		if (!x->hot && host_may_exceed(a, x))
			hot_add(a, x);
	} else {
		/* The bound covers the fragments' cell: its rate is part of the protocol's. */
		unsigned k = d < a->w ? (unsigned)d : a->w;
		for (unsigned m = 0; m < NMET; m++)
			x->acc_new[m] += amt[m] * (float)k;
		host_keep(a, x, a->idle_acc_s);
		if (!x->hot && host_may_exceed(a, x))
			hot_add(a, x);
		if (x->ring)
			ring_add(a, x, cell, frag, amt, k);
	}
	if (__builtin_expect(x->busy, 0)) {
		if (x->ev[dir][cls])
			event_feed(a, x->ev[dir][cls], f, outside);
		if (x->ev[dir][ATTACK_CLASS_TOTAL])
			event_feed(a, x->ev[dir][ATTACK_CLASS_TOTAL], f, outside);
		if (frag && x->ev[dir][ATTACK_CLASS_FRAG])
			event_feed(a, x->ev[dir][ATTACK_CLASS_FRAG], f, outside);
	}
}

/* ip's dense slot, prefetched; NULL (an address of the hash): its hash slot prefetched. */
static inline uint32_t *ahead_slot(struct attack *a, uint32_t site, const struct flow_addr *ip)
{
	uint32_t *slot = dense_slot(a, site, ip);

	if (slot)
		__builtin_prefetch(slot);
	else
		__builtin_prefetch(&a->hash[(uint32_t)host_key_hash(site, ip) & (a->hcap - 1)]);
	return slot;
}

void attack_records_ahead(void *attack, const struct flow *v, size_t n, const int64_t *site_src,
                          const int64_t *site_dst)
{
	struct attack *a = attack;

	a->pend_v = NULL;
	if (a->now_s == 0 || n > PEND_MAX)
		return;
	/*
	 * The host entries are far larger than the caches: fetch each record
	 * end's index entry, then its host's first line (all a cold host's
	 * record touches), so that the misses overlap each other and the
	 * slots' work on the same chunk. The dense slots found are kept for
	 * attack_records().
	 */
	uint32_t **slot = a->pend;
	for (size_t j = 0; j < n; j++) {
		slot[2 * j] =
		    site_src[j] < 0 ? NULL : ahead_slot(a, (uint32_t)site_src[j], &v[j].src);
		slot[2 * j + 1] =
		    site_dst[j] < 0 ? NULL : ahead_slot(a, (uint32_t)site_dst[j], &v[j].dst);
	}
	uint32_t fresh = 0; /* ends without a host: they take the free list's top */
	for (size_t i = 0; i < 2 * n; i++) {
		if (!slot[i])
			continue;
		uint32_t idx;
		if (*slot[i])
			idx = *slot[i] - 1;
		else if (fresh < a->n_free)
			idx = a->free_list[a->n_free - 1 - fresh++];
		else
			continue;
		__builtin_prefetch(host_at(a, idx), 1);
		__builtin_prefetch(&a->idle_s[idx], 1); /* raised by the credit */
	}
	a->pend_v = v;
	a->pend_n = n;
}

/*
 * credit() for its common cases, inline: x has nothing open, is already
 * at the clock's epoch (brought there here, as credit() would), none of
 * its sustained rates ends now, and a hot x's ring is at the clock's
 * second. A cold x's record longer than the window with room for its
 * sustained entry is credited in full (the entry added, x made hot when
 * its bound may now reach a threshold); a shorter one (or one clipped to
 * the window) is added to the bound when the bound stays under every
 * threshold with it, and a hot x's short one to its bound and its ring,
 * with the same float operations as credit(). True: credited; false:
 * nothing changed but the epoch, credit() is needed (another case, or x
 * turns hot and its ring takes the record). idx: x's pool index. Forced
 * inline, like credit_end(): as calls they cost the record loop a fifth
 * more instructions (callgrind).
 */
static inline __attribute__((always_inline)) bool credit_fast(struct attack *a, struct host *x,
                                                              uint32_t idx, unsigned dir,
                                                              unsigned cls, bool frag, v4f amt4,
                                                              uint64_t d)
{
	const float *amt = (const float *)&amt4;

	if (x->busy)
		return false;
	/* The sweep leaves most hosts at an older epoch. */
	if (x->epoch != a->now_ep)
		host_epoch(x, a->now_ep);
	if (a->now_s >= x->sus_next)
		return false;
	bool hot = x->ring != 0; /* a host has a ring exactly while it is hot */
	if (d > a->w && x->n_sus < SUS_MAX) {
		if (hot)
			return false;
		a->st.records++;
		sus_add(a, x, dir * NCLS + cls - 1, amt, d);
		if (frag && x->n_sus < SUS_MAX)
			sus_add(a, x, dir * NCLS + ATTACK_CLASS_FRAG - 1, amt, d);
		if (host_may_exceed(a, x))
			hot_add(a, x);
		return true;
	}
	if (hot && x->sec < a->now_s)
		return false; /* credit() brings the ring forward */
	/*
	 * The three metrics at once, each lane the same float operations as
	 * credit() and host_may_exceed() (no fused multiply-add on this
	 * target): acc = acc_new + amt x k; a cold x turns hot when acc +
	 * acc_old + sus_tot x w reaches lim_w. The fourth lane (amt's is 0) is
	 * not looked at.
	 */
	unsigned k = d < a->w ? (unsigned)d : a->w;
	v4f an;
	memcpy(&an, x->acc_new, sizeof(an));
	v4f acc = an + amt4 * (float)k;
	if (!hot) {
		v4f ao, st, lim;
		memcpy(&ao, x->acc_old, sizeof(ao));
		memcpy(&st, x->sus_tot, sizeof(st));
		memcpy(&lim, a->lim_w, sizeof(lim));
		v4i over = (acc + ao) + st * a->w_f >= lim;
		if (any3(over))
			return false; /* turns hot: credit() takes a ring and fills it */
	}
	a->st.records++;
	memcpy(x->acc_new, &acc, sizeof(x->acc_new));
	host_keep_idx(a, idx, a->idle_acc_s);
	if (hot)
		ring_add(a, x, dir * NCLS + cls - 1, frag, amt, k);
	return true;
}

/* One end of a record: its host (dslot: its dense slot, NULL: the hash), credited. */
static inline __attribute__((always_inline)) void
credit_end(struct attack *a, uint32_t site, const struct flow_addr *ip, uint32_t *dslot,
           unsigned dir, unsigned cls, bool frag, const struct attack_ring_ent *f,
           const struct flow_addr *outside, v4f amt4, uint64_t d)
{
	struct host *x;
	uint32_t idx;

	if (dslot && *dslot) {
		idx = *dslot - 1;
		x = host_at(a, idx);
	} else {
		x = host_get(a, site, ip, dslot);
		if (!x)
			return;
		idx = host_idx(a, x);
	}
	if (!credit_fast(a, x, idx, dir, cls, frag, amt4, d))
		credit(a, x, dir, cls, frag, f, outside, (const float *)&amt4, d);
}

/*
 * Both ends of record e of d seconds: ds / dd the dense slots of its
 * source / destination (NULL: the hash, or no end in a site).
 */
static inline __attribute__((always_inline)) void
rate_one(struct attack *a, const struct attack_ring_ent *e, uint64_t d, uint32_t *ds, uint32_t *dd)
{
	/* A sampled entry stands for 2^shed records (1 for every one: 1 / d as before). */
	float inv = (float)(1u << e->shed) / (float)d;
	/* Each lane as packets x inv, octets x 8 x inv, inv (1 x inv is inv exactly). */
	v4f amt = (v4f){(float)e->packets, (float)e->octets * 8.0f, 1.0f, 0} * inv;
	unsigned cls = class_of(e);
	bool frag = (e->frag & (FLOW_FRAG_MORE | FLOW_FRAG_OFFSET)) != 0; /* flow_is_fragment() */

	if (e->site_src >= 0)
		credit_end(a, (uint32_t)e->site_src, &e->src, ds, ATTACK_OUT, cls, frag, e, &e->dst,
		           amt, d);
	if (e->site_dst >= 0)
		credit_end(a, (uint32_t)e->site_dst, &e->dst, dd, ATTACK_IN, cls, frag, e, &e->src,
		           amt, d);
}

void attack_records(void *attack, const struct flow *v, size_t n, const int64_t *site_src,
                    const int64_t *site_dst)
{
	struct attack *a = attack;
	bool ahead = a->pend_v == v && a->pend_n == n;

	a->pend_v = NULL;
	if (a->now_s == 0)
		return; /* no clock yet: the engine moves it before routing */
	for (size_t i = 0; i < n; i++) {
		const struct flow *f = &v[i];
		if (site_src[i] < 0 && site_dst[i] < 0)
			continue;
		/* Seconds the record covers, at least one; spread over at most the window. */
		uint64_t span_ms =
		    f->first_ms && f->last_ms > f->first_ms ? f->last_ms - f->first_ms : 0;
		/* What the ring would carry (site ids are under ENGINE_MAX_SITE_IDS). */
		struct attack_ring_ent e = {
		    .src = f->src,
		    .dst = f->dst,
		    .packets = f->packets,
		    .octets = f->octets,
		    .dport = f->dport,
		    .proto = f->proto,
		    .tcp_flags = f->tcp_flags,
		    .frag = f->frag,
		    .site_src = (int16_t)(site_src[i] < 0 ? -1 : site_src[i]),
		    .site_dst = (int16_t)(site_dst[i] < 0 ? -1 : site_dst[i])};
		uint32_t *ds = NULL, *dd = NULL;
		if (e.site_src >= 0)
			ds = ahead ? a->pend[2 * i] : dense_slot(a, (uint32_t)e.site_src, &e.src);
		if (e.site_dst >= 0)
			dd = ahead ? a->pend[2 * i + 1]
			           : dense_slot(a, (uint32_t)e.site_dst, &e.dst);
		rate_one(a, &e, span_ms / 1000 + 1, ds, dd);
	}
}

/* Records of attack_entries() whose index entries are asked for ahead of their credit. */
#define LOOK_IDX 8
/* ... and whose host lines are (their index entries asked for LOOK_IDX - LOOK_HOST before). */
#define LOOK_HOST 4
#define LOOK_RING (2 * LOOK_IDX) /* a power of two above LOOK_IDX */

/* e's dense slots into ds[0], ds[1] (NULL: none), each asked for (a hash slot: that). */
static inline void look_idx(struct attack *a, const struct attack_ring_ent *e, uint32_t **ds)
{
	ds[0] = e->site_src < 0 ? NULL : ahead_slot(a, (uint32_t)e->site_src, &e->src);
	ds[1] = e->site_dst < 0 ? NULL : ahead_slot(a, (uint32_t)e->site_dst, &e->dst);
}

/* The host lines of the dense slots ds[0], ds[1] asked for (write). */
static inline void look_host(struct attack *a, uint32_t *const *ds)
{
	for (unsigned k = 0; k < 2; k++) {
		uint32_t idx = ds[k] ? *ds[k] : 0;
		if (idx) {
			__builtin_prefetch(host_at(a, idx - 1), 1);
			__builtin_prefetch(&a->idle_s[idx - 1], 1); /* raised by the credit */
		}
	}
}

void attack_entries(void *attack, const struct attack_ring_ent *v, size_t n)
{
	struct attack *a = attack;
	/*
	 * One pass, software-pipelined: while record i is credited, record
	 * i + LOOK_IDX's index entries and record i + LOOK_HOST's host lines
	 * (its index entries read) are being fetched. Prefetches change
	 * nothing: a clock step or a new host between them only makes one
	 * useless.
	 */
	uint32_t *slot[LOOK_RING][2];
	size_t pre = n < LOOK_IDX ? n : LOOK_IDX;

	for (size_t j = 0; j < pre; j++)
		look_idx(a, &v[j], slot[j]);
	for (size_t j = 0; j < pre && j < LOOK_HOST; j++)
		look_host(a, slot[j]);
	for (size_t i = 0; i < n; i++) {
		const struct attack_ring_ent *e = &v[i];
		if (i + LOOK_IDX < n)
			look_idx(a, &v[i + LOOK_IDX], slot[(i + LOOK_IDX) % LOOK_RING]);
		if (i + LOOK_HOST < n)
			look_host(a, slot[(i + LOOK_HOST) % LOOK_RING]);
		if (attack_ring_ent_is_clock(e)) {
			attack_clock(a, e->packets);
			continue;
		}
		if (a->now_s == 0)
			continue; /* no clock yet */
		uint32_t *const *ds = slot[i % LOOK_RING];
		rate_one(a, e, (uint64_t)e->span_s + 1, ds[0], ds[1]);
	}
}

/* ---- evaluation ---------------------------------------------------------- */

/*
 * Rates of x over the window of seconds [s - w, s - 1] (x brought to s - 1
 * or s): the ring's buckets averaged, plus the sustained rates.
 */
static void host_rates(const struct attack *a, struct host *x, int64_t s,
                       double r[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][NMET])
{
	unsigned rl = 2 * a->w, b = (unsigned)((s - (int64_t)a->w) % rl);
	double sum[ATTACK_DIR__COUNT * NCLS][NMET];

	memset(sum, 0, sizeof(sum));
	for (unsigned j = 0; x->ring && j < a->w; j++, b = b + 1 == rl ? 0 : b + 1) {
		const float *cell = host_bucket(a, x, b);
		for (unsigned c = 0; c < ATTACK_DIR__COUNT * NCLS; c++, cell += NMET) {
			sum[c][0] += cell[0];
			sum[c][1] += cell[1];
			sum[c][2] += cell[2];
		}
	}
	double sus[ATTACK_DIR__COUNT * NCLS][NMET];
	memset(sus, 0, sizeof(sus));
	for (unsigned k = 0; k < x->n_sus; k++)
		for (unsigned m = 0; m < NMET; m++)
			sus[x->sus[k].cell][m] += x->sus[k].r[m];
	for (unsigned d = 0; d < ATTACK_DIR__COUNT; d++) {
		double tot[NMET] = {0, 0, 0};
		for (unsigned c = 1; c < ATTACK_CLASS__COUNT; c++) {
			unsigned k = d * NCLS + c - 1;
			for (unsigned m = 0; m < NMET; m++) {
				r[d][c][m] = sum[k][m] / a->w + sus[k][m];
				/* Fragments are in their protocol's class already. */
				if (c != ATTACK_CLASS_FRAG)
					tot[m] += r[d][c][m];
			}
		}
		for (unsigned m = 0; m < NMET; m++)
			r[d][ATTACK_CLASS_TOTAL][m] = tot[m];
	}
}

static void emit(struct attack *a, struct event *e, enum attack_phase p, int64_t s)
{
	e->e.now_ms = (uint64_t)s * 1000;
	e->e.n_sources = topk_list(&e->sources, e->e.sources);
	e->e.n_ports = topk_list(&e->ports, e->e.ports);
	e->e.n_protocols = topk_list(&e->protos, e->e.protocols);
	e->last_emit_ms = e->e.now_ms;
	if (p == ATTACK_START || p == ATTACK_END) {
		char ip[64];
		flow_addr_format(&e->e.ip, ip, sizeof(ip));
		if (p == ATTACK_START)
			log_warn("attack: site %s %s %s %s started: %.0f pps %.0f bps %.0f flows/s "
			         "(thresholds %.0f / %.0f / %.0f)",
			         e->e.site, ip, attack_dir_name(e->e.dir),
			         attack_class_name(e->e.cls), e->e.cur[0], e->e.cur[1], e->e.cur[2],
			         e->e.threshold[0], e->e.threshold[1], e->e.threshold[2]);
		else
			log_warn(
			    "attack: site %s %s %s %s ended after %llu s: peak %.0f pps %.0f bps "
			    "%.0f flows/s, %llu packets",
			    e->e.site, ip, attack_dir_name(e->e.dir), attack_class_name(e->e.cls),
			    (unsigned long long)((e->e.end_ms - e->e.start_ms) / 1000),
			    e->e.peak[0], e->e.peak[1], e->e.peak[2],
			    (unsigned long long)e->e.packets);
	}
	if (a->fn)
		a->fn(a->ud, &e->e, p);
	e->e.seq++;
}

static void event_end(struct attack *a, struct host *x, unsigned d, unsigned c, int64_t s,
                      uint64_t end_ms)
{
	struct event *e = &a->ev[x->ev[d][c] - 1];

	e->e.end_ms = end_ms;
	emit(a, e, ATTACK_END, s);
	e->used = false;
	x->ev[d][c] = 0;
	a->st.events_ended++;
	a->st.events_open--;
}

static bool event_start(struct attack *a, struct host *x, unsigned d, unsigned c, int64_t s,
                        const double r[NMET], const float th[NMET])
{
	uint32_t k;

	for (k = 0; k < a->cfg.max_events && a->ev[k].used; k++)
		;
	if (k == a->cfg.max_events) {
		a->st.event_overflow++;
		return false;
	}
	struct event *e = &a->ev[k];
	memset(e, 0, sizeof(*e));
	e->used = true;
	e->host = host_idx(a, x);
	e->e.site = a->sites[x->site].name;
	e->e.site_index = x->site;
	e->e.ip = x->addr;
	e->e.dir = d;
	e->e.cls = c;
	e->e.start_ms = (uint64_t)(s - (int64_t)a->cfg.start_windows + 1) * 1000;
	e->e.detected_ms = (uint64_t)s * 1000;
	for (unsigned m = 0; m < NMET; m++) {
		e->e.cur[m] = e->e.peak[m] = r[m];
		e->e.threshold[m] = th[m];
	}
	x->ev[d][c] = (uint16_t)(k + 1);
	a->st.events_started++;
	a->st.events_open++;
	emit(a, e, ATTACK_START, s);
	return true;
}

/* Hysteresis of one (direction, class) of x at second s. */
static void judge_one(struct attack *a, struct host *x, unsigned d, unsigned c, int64_t s,
                      const double r[NMET])
{
	const float *th = a->tsets[x->tset][d][c];
	bool above = false;

	for (unsigned m = 0; m < NMET; m++)
		if (th[m] > 0 && r[m] >= th[m])
			above = true;
	if (!x->ev[d][c]) {
		if (!above) {
			x->above[d][c] = 0;
			return;
		}
		if (x->above[d][c] < 255)
			x->above[d][c]++;
		if (x->above[d][c] >= a->cfg.start_windows && event_start(a, x, d, c, s, r, th)) {
			x->above[d][c] = 0;
			x->below[d][c] = 0;
		}
		return;
	}
	struct event *e = &a->ev[x->ev[d][c] - 1];
	for (unsigned m = 0; m < NMET; m++) {
		e->e.cur[m] = r[m];
		if (r[m] > e->e.peak[m])
			e->e.peak[m] = r[m];
	}
	if (above) {
		x->below[d][c] = 0;
		e->resumed = false;
	} else if (s < e->grace_s) {
		/* Restored at this start: its window is still filling (attack_saved_put). */
	} else if (++x->below[d][c] >= a->cfg.end_windows) {
		uint64_t end_ms = (uint64_t)(s - (int64_t)a->cfg.end_windows + 1) * 1000;
		event_end(a, x, d, c, s, e->resumed ? e->quiet_from_ms : end_ms);
		x->below[d][c] = 0;
		return;
	}
	if (e->e.now_ms + (uint64_t)a->cfg.update_s * 1000 <= (uint64_t)s * 1000)
		emit(a, e, ATTACK_UPDATE, s);
}

/*
 * Second s: evaluate the hot hosts over the window ending with second
 * s - 1; a host that can no longer reach a threshold leaves the hot list.
 * Every 2 x window_s seconds, sweep every host and free the idle ones
 * (nothing credited for a whole epoch, nothing sustained, nothing open).
 */
static void evaluate(struct attack *a, int64_t s)
{
	for (uint32_t i = 0; i < a->n_hot;) {
		struct host *x = host_at(a, a->hot[i]);
		host_advance(a, x, s - 1);
		if (!x->busy && !host_may_exceed(a, x)) {
			x->hot = false;
			a->ring_free[a->n_ring_free++] = x->ring - 1;
			x->ring = 0;
			uint32_t h = a->hot[--a->n_hot];
			a->hot[i] = h;
			host_at(a, h)->hot_pos = i;
			continue; /* hot[i] is now another host */
		}
		i++;
		double r[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][NMET];
		host_rates(a, x, s, r);
		bool busy = false;
		for (unsigned d = 0; d < ATTACK_DIR__COUNT; d++)
			for (unsigned c = 0; c < ATTACK_CLASS__COUNT; c++) {
				judge_one(a, x, d, c, s, r[d][c]);
				busy |= x->above[d][c] || x->ev[d][c];
			}
		x->busy = busy;
	}
	if (s < a->next_scan)
		return;
	a->next_scan = s + 2 * (int64_t)a->w;
	/*
	 * Only the hosts whose idle second has come can be idle: the others
	 * are not read (their headers are brought forward by their next record
	 * or evaluation, with the same result). Hosts are freed in the order
	 * of live[], as a sweep over every host would.
	 */
	uint64_t t = (uint64_t)(s - 1);
	enum { SWEEP_PF = 8 }; /* headers asked for ahead */
	for (uint32_t i = 0; i < a->n_live && i < SWEEP_PF; i++)
		if (t >= a->idle_s[a->live[i]])
			__builtin_prefetch(host_at(a, a->live[i]), 1);
	for (uint32_t i = 0; i < a->n_live;) {
		if (i + SWEEP_PF < a->n_live && t >= a->idle_s[a->live[i + SWEEP_PF]])
			__builtin_prefetch(host_at(a, a->live[i + SWEEP_PF]), 1);
		if (t < a->idle_s[a->live[i]]) {
			i++;
			continue;
		}
		struct host *x = host_at(a, a->live[i]);
		host_advance_head(a, x, s - 1);
		bool idle = x->acc_new[0] == 0 && x->acc_old[0] == 0 && x->acc_new[2] == 0 &&
		            x->acc_old[2] == 0 && !x->n_sus;
		if (!x->busy && idle) {
			host_free(a, x);
			continue; /* live[i] is now another host */
		}
		/* Sustained rates may have ended: whether x could still be above is decided hot. */
		i++;
	}
}

/* Move the clock's second (and its epoch, read by every record) to s. */
static void clock_set(struct attack *a, int64_t s)
{
	a->now_s = s;
	a->now_ep = (int32_t)(s / (2 * a->w));
	a->prev_ep = (int32_t)((s - 1) / (2 * a->w));
	a->now_b = (unsigned)(s % (2 * a->w));
	uint64_t keep = ((uint64_t)a->now_ep + 2) * 2 * a->w;
	a->idle_acc_s = keep < UINT32_MAX ? (uint32_t)keep : UINT32_MAX;
}

void attack_clock(struct attack *a, uint64_t now_ms)
{
	int64_t s = (int64_t)(now_ms / 1000);

	if (s <= a->now_s)
		return;
	if (a->now_s == 0) {
		clock_set(a, s);
		return;
	}
	/* After window + end_windows quiet seconds every window is empty and every event over. */
	int64_t steps = s - a->now_s, max = (int64_t)a->w + a->cfg.end_windows + 1;
	int64_t from = a->now_s;
	for (int64_t k = 1; k <= steps && k <= max; k++) {
		clock_set(a, from + k);
		evaluate(a, from + k);
	}
	clock_set(a, s);
}

void attack_close_all(struct attack *a)
{
	for (uint32_t i = 0; i < a->n_live; i++) {
		struct host *x = host_at(a, a->live[i]);
		for (unsigned d = 0; d < ATTACK_DIR__COUNT; d++)
			for (unsigned c = 0; c < ATTACK_CLASS__COUNT; c++)
				if (x->ev[d][c])
					event_end(a, x, d, c, a->now_s, (uint64_t)a->now_s * 1000);
		x->busy = false;
		memset(x->above, 0, sizeof(x->above));
		memset(x->below, 0, sizeof(x->below));
	}
}

void attack_stats_get(const struct attack *a, struct attack_stats *out)
{
	*out = a->st;
	out->hosts = a->n_live;
}

int attack_host_rates(const struct attack *a, uint32_t site, const struct flow_addr *ip,
                      double rates[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][ATTACK_METRIC__COUNT])
{
	struct attack *m = (struct attack *)a; /* lookups do not change the table */
	uint32_t *d = site < a->n_sites ? dense_slot(m, site, ip) : NULL;
	uint32_t idx = 0;

	if (site >= a->n_sites)
		return -ENOENT;
	if (d) {
		idx = *d;
	} else {
		uint32_t hs = hash_find(a, site, ip, host_key_hash(site, ip));
		idx = a->hash[hs].host;
	}
	if (!idx)
		return -ENOENT;
	struct host *x = host_at(a, idx - 1);
	/* The last evaluated window: seconds up to now - 1, valid while x is at now - 1 or now. */
	if (x->sec < a->now_s - 1)
		host_advance(m, x, a->now_s - 1);
	host_rates(a, x, a->now_s, rates);
	return 0;
}

/* ---- restart state (state.c) ----------------------------------------------- */

size_t attack_saved_get(struct attack *a, struct attack_saved *out, size_t max)
{
	size_t n = 0;

	for (uint32_t k = 0; k < a->cfg.max_events && n < max; k++) {
		struct event *e = &a->ev[k];
		if (!e->used)
			continue;
		const struct host *x = host_at(a, e->host);
		struct attack_saved *o = &out[n++];
		memset(o, 0, sizeof(*o));
		snprintf(o->site, sizeof(o->site), "%s", e->e.site);
		o->ev = e->e;
		o->ev.site = NULL;
		o->ev.n_sources = topk_list(&e->sources, o->ev.sources);
		o->ev.n_ports = topk_list(&e->ports, o->ev.ports);
		o->ev.n_protocols = topk_list(&e->protos, o->ev.protocols);
		o->below = x->below[e->e.dir][e->e.cls];
		/* Quiet since the first of its below evaluations, or still going on now. */
		if (e->resumed)
			o->quiet_from_ms = e->quiet_from_ms;
		else
			o->quiet_from_ms = (uint64_t)(a->now_s - (int64_t)o->below + 1) * 1000;
		if (!o->below && !e->resumed)
			o->quiet_from_ms = (uint64_t)a->now_s * 1000;
	}
	return n;
}

void attack_events_drop(struct attack *a)
{
	for (uint32_t i = 0; i < a->n_live; i++) {
		struct host *x = host_at(a, a->live[i]);
		for (unsigned d = 0; d < ATTACK_DIR__COUNT; d++)
			for (unsigned c = 0; c < ATTACK_CLASS__COUNT; c++)
				if (x->ev[d][c]) {
					a->ev[x->ev[d][c] - 1].used = false;
					x->ev[d][c] = 0;
					a->st.events_open--;
				}
		x->busy = false;
		memset(x->above, 0, sizeof(x->above));
		memset(x->below, 0, sizeof(x->below));
	}
}

int attack_saved_put(struct attack *a, const struct attack_saved *sv, uint64_t saved_at_ms,
                     uint64_t now_ms)
{
	uint32_t site;
	unsigned d = sv->ev.dir, c = sv->ev.cls;

	for (site = 0; site < a->n_sites; site++)
		if (strcmp(a->sites[site].name, sv->site) == 0)
			break;
	if (site == a->n_sites)
		return -ENOENT;
	uint32_t k;
	for (k = 0; k < a->cfg.max_events && a->ev[k].used; k++)
		;
	if (k == a->cfg.max_events)
		return -ENOSPC;
	if (a->now_s == 0) /* the clock starts here: live, the wall clock of the start */
		clock_set(a, (int64_t)(now_ms / 1000));
	bool resume = now_ms <= saved_at_ms + (uint64_t)ATTACK_RESUME_MAX_S * 1000;
	struct host *x = NULL;
	if (resume) {
		x = host_get(a, site, &sv->ev.ip, dense_slot(a, site, &sv->ev.ip));
		if (!x)
			return -ENOSPC;
		if (x->ev[d][c])
			return -EEXIST;
		if (!x->hot && !hot_add(a, x))
			return -ENOSPC;
	}
	struct event *e = &a->ev[k];
	memset(e, 0, sizeof(*e));
	e->used = true;
	e->e = sv->ev;
	e->e.site = a->sites[site].name;
	e->e.site_index = site;
	e->e.end_ms = 0;
	e->last_emit_ms = e->e.now_ms;
	for (size_t j = 0; j < sv->ev.n_sources; j++)
		topk_add(&e->sources, &sv->ev.sources[j].addr, 0, sv->ev.sources[j].packets);
	for (size_t j = 0; j < sv->ev.n_ports; j++)
		topk_add(&e->ports, NULL, sv->ev.ports[j].key, sv->ev.ports[j].packets);
	for (size_t j = 0; j < sv->ev.n_protocols; j++)
		topk_add(&e->protos, NULL, sv->ev.protocols[j].key, sv->ev.protocols[j].packets);
	a->st.events_open++;
	if (!resume) {
		/* Down too long to go on: it ended when the last run saw it quiet or stopped. */
		e->e.end_ms = sv->quiet_from_ms;
		memset(e->e.cur, 0, sizeof(e->e.cur));
		emit(a, e, ATTACK_END, a->now_s);
		e->used = false;
		a->st.events_ended++;
		a->st.events_open--;
		return 0;
	}
	e->host = host_idx(a, x);
	e->resumed = true;
	e->quiet_from_ms = sv->quiet_from_ms;
	e->grace_s = a->now_s + (int64_t)a->w + 1;
	x->ev[d][c] = (uint16_t)(k + 1);
	x->below[d][c] =
	    sv->below < a->cfg.end_windows ? sv->below : (uint8_t)(a->cfg.end_windows - 1);
	x->busy = true;
	a->st.events_restored++;
	return 1;
}

void attack_state_rejected(struct attack *a)
{
	a->st.state_rejected++;
}

static const struct counter_def attack_counter_defs[] = {
    COUNTER_DEF(attack_stats, records, "attackRecords", COUNTER_TOTAL,
                "Record ends rated by the attack detector (in and out count apart)."),
    COUNTER_DEF(attack_stats, hosts, "attackHosts", COUNTER_GAUGE,
                "Inside IPs the attack detector tracks now."),
    COUNTER_DEF(attack_stats, host_overflow, "attackHostOverflow", COUNTER_TOTAL,
                "Record ends not rated: the attack detector's host table was full."),
    COUNTER_DEF(attack_stats, records_dropped, "attackRecordsDropped", COUNTER_TOTAL,
                "Records not rated: the attack detector was behind and its ring full (live)."),
    COUNTER_DEF(attack_stats, records_sampled, "attackRecordsSampled", COUNTER_TOTAL,
                "Records left out of the attack detector's live sample, each stood for by a "
                "rated one (it was behind)."),
    COUNTER_DEF(attack_stats, sampling, "attackSampling", COUNTER_GAUGE,
                "The attack detector rates 1 record in this many now (1: every one; 0: off)."),
    COUNTER_DEF(attack_stats, events_started, "attacksStarted", COUNTER_TOTAL,
                "Attack events started."),
    COUNTER_DEF(attack_stats, events_ended, "attacksEnded", COUNTER_TOTAL, "Attack events ended."),
    COUNTER_DEF(attack_stats, events_open, "attacksOpen", COUNTER_GAUGE, "Attack events open now."),
    COUNTER_DEF(attack_stats, event_overflow, "attackEventOverflow", COUNTER_TOTAL,
                "Attack starts refused because max_events were open (once per second)."),
    COUNTER_DEF(attack_stats, events_restored, "attacksRestored", COUNTER_TOTAL,
                "Open attack events taken back from the restart state, going on."),
    COUNTER_DEF(attack_stats, state_rejected, "attackStateRejected", COUNTER_TOTAL,
                "Restart states of the attack detector refused: corrupt, truncated or foreign."),
    COUNTER_DEF(attack_stats, hook_runs, "attackHookRuns", COUNTER_TOTAL,
                "Runs of the attack hook."),
    COUNTER_DEF(attack_stats, hook_failures, "attackHookFailures", COUNTER_TOTAL,
                "Attack hook runs that failed (exit status, signal, time-out, no start)."),
    COUNTER_DEF(attack_stats, hook_timeouts, "attackHookTimeouts", COUNTER_TOTAL,
                "Attack hook runs killed at the time-out."),
    COUNTER_DEF(attack_stats, hook_dropped, "attackHookDropped", COUNTER_TOTAL,
                "Attack events not given to the hook: its queue was full."),
};
_Static_assert(sizeof(attack_counter_defs) / sizeof(attack_counter_defs[0]) * sizeof(uint64_t) ==
                   sizeof(struct attack_stats),
               "one counter per field of struct attack_stats");

const struct counter_table attack_counters =
    COUNTER_TABLE("attack", attack_counter_defs, attack_stats);

int attack_thresholds_set(struct attack *a, const struct attack_config *cfg)
{
	if (cfg->n_sites != a->cfg.n_sites)
		return -EINVAL;
	for (size_t k = 0; k < cfg->n_sites; k++) {
		const struct attack_site *x = &a->cfg.sites[k], *y = &cfg->sites[k];
		if (strcmp(x->site, y->site) != 0 || x->n_groups != y->n_groups)
			return -EINVAL;
		for (size_t g = 0; g < x->n_groups; g++)
			if (memcmp(&x->groups[g].prefix, &y->groups[g].prefix,
			           sizeof(x->groups[g].prefix)))
				return -EINVAL;
	}
	float(*t)[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][NMET] =
	    fault_calloc(a->n_tsets ? a->n_tsets : 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* The engine's thread evaluates with a->tsets: swapped between two evaluations. */
	free(a->tsets);
	a->tsets = t;
	memset(a->min_th, 0, sizeof(a->min_th));
	a->cfg.th = cfg->th;
	for (size_t s = 0; s < a->n_sites; s++) {
		/* Same shape: the override at the same index as the one the site was built with. */
		const struct attack_site *ov =
		    a->si[s].ov ? &cfg->sites[a->si[s].ov - a->cfg.sites] : NULL;
		tset_fill(a, s, ov ? &ov->th : NULL, NULL);
		for (size_t g = 0; ov && g < ov->n_groups; g++)
			tset_fill(a, a->si[s].group_tset + g, &ov->th, &ov->groups[g].th);
	}
	/* A lower smallest threshold must reach the cold hosts' bound test too. */
	lim_set(a);
	return 0;
}
