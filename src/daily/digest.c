/*
 * digest: the records of a slot that the daily analysis applies, parsed
 * from the slot's documents or from its digest, and the digest itself:
 * made by the closer at slot close (daily_digest_build(), daily.h), read
 * by daily.c. Format: docs/internals/digest.md.
 *
 * Not this file's job: what the records mean for the day (daily.c), where
 * the digest is kept (store.h).
 */
#include "digest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "nfsentry/daily.h"
#include "nfsentry/grow.h"
#include "nfsentry/l2.h"

/* ---- records from documents ----------------------------------------------- */

void dg_buf_free(struct dg_buf *b)
{
	free(b->addr);
	free(b->peer);
	free(b->name);
	memset(b, 0, sizeof(*b));
}

static bool val_addr(const struct jval *v, struct flow_addr *ip)
{
	char buf[64];
	return jscan_str(v, buf, sizeof(buf)) && flow_addr_parse(buf, ip) == 0;
}

static int addr_push(struct dg_buf *b, uint32_t n, const struct flow_addr *a)
{
	if (grow_array((void **)&b->addr, &b->cap_addr, (size_t)n + 1, sizeof(*b->addr), 64,
	               DG_LIST_MAX) != 0)
		return -ENOMEM;
	b->addr[n] = *a;
	return 0;
}

static int peer_push(struct dg_buf *b, uint32_t n, const struct flow_addr *a, bool answered)
{
	if (grow_array((void **)&b->peer, &b->cap_peer, (size_t)n + 1, sizeof(*b->peer), 64,
	               DG_LIST_MAX) != 0)
		return -ENOMEM;
	b->peer[n] = (struct dg_peer){*a, answered};
	return 0;
}

int dg_offender_parse(const struct store_doc *d, uint32_t probe_bound, struct dg_offender *r,
                      struct dg_buf *b)
{
	static const char *const keys[] = {"ip", "ipList", "touchPeers", "packets", "labels"};
	enum { K_IP, K_LIST, K_TP, K_PK, K_LABELS, K_N };
	struct jval f[K_N], e;
	int64_t pk = 0;
	size_t pos = 0;

	r->has_tp = r->labelled = false;
	r->tp = 0;
	r->packets = 0;
	r->n_labels = r->n_list = 0;
	r->list = b->addr;
	jscan_getv(d->json, d->json_len, keys, K_N, f);
	if (!f[K_IP].p || !val_addr(&f[K_IP], &r->ip) || !f[K_LIST].p)
		return -1;
	if (f[K_TP].p && jscan_i64(&f[K_TP], &r->tp))
		r->has_tp = true;
	else
		r->tp = 0;
	if (f[K_PK].p && jscan_i64(&f[K_PK], &pk) && pk > 0)
		r->packets = (uint64_t)pk;
	if (f[K_LABELS].p && f[K_LABELS].n > 2) {
		r->labelled = true;
		while (r->n_labels < DG_LABELS_MAX && jscan_next(&f[K_LABELS], &pos, &e) == 1)
			if (jscan_str(&e, r->labels[r->n_labels], DG_NAME_MAX))
				r->n_labels++;
	}
	/* A prober's list is never walked: a labelled one or one with too many targets. */
	if (r->labelled || r->tp > (int64_t)probe_bound)
		return 0;
	/*
	 * The first probe_bound + 1 distinct IPs are all the analysis can walk:
	 * each is a target of the offender, already or new, and past
	 * probe_targets targets it probes and the walk stops.
	 */
	pos = 0;
	while (r->n_list <= probe_bound && jscan_next(&f[K_LIST], &pos, &e) == 1) {
		struct flow_addr t;
		bool dup = false;
		if (!val_addr(&e, &t))
			continue;
		for (uint32_t k = 0; k < r->n_list && !dup; k++)
			dup = memcmp(b->addr[k].b, t.b, 16) == 0;
		if (dup)
			continue;
		if (addr_push(b, r->n_list, &t) != 0)
			return -ENOMEM;
		r->n_list++;
	}
	r->list = b->addr;
	return 0;
}

int dg_inside_parse(const struct store_doc *d, uint32_t peer_bound, struct dg_inside *r,
                    struct dg_buf *b)
{
	static const char *const keys[] = {"ip",          "arrayPeer",  "repliedTo",
	                                   "allowListed", "peerCapHit", "peers"};
	enum { K_IP, K_PEERS, K_REPLIED, K_ALLOW, K_CAP, K_NP, K_N };
	struct jval f[K_N], e, rv;
	int64_t np = 0;
	uint32_t n_own = 0;

	r->busy = r->has_excess = false;
	r->excess = 0;
	r->n_peers = 0;
	r->peers = b->peer;
	jscan_getv(d->json, d->json_len, keys, K_N, f);
	if (!f[K_IP].p || !val_addr(&f[K_IP], &r->ip) || !f[K_PEERS].p)
		return -1;
	struct jval replied = f[K_REPLIED];
	bool have_rep = replied.p != NULL && memchr(replied.p, '"', replied.n) != NULL;
	if ((f[K_ALLOW].p && jscan_true(&f[K_ALLOW])) || (f[K_CAP].p && jscan_true(&f[K_CAP])))
		r->busy = true;
	/*
	 * Own peers = peers less answered ones. repliedTo holds address strings
	 * (no comma in any), so its length is its commas + 1.
	 */
	int64_t n_rep = 0;
	if (have_rep) {
		const char *p = replied.p, *end = replied.p + replied.n;
		n_rep = 1;
		while ((p = memchr(p, ',', (size_t)(end - p))) != NULL) {
			n_rep++;
			p++;
		}
	}
	if (f[K_NP].p && jscan_i64(&f[K_NP], &np)) {
		int64_t x = np - n_rep;
		r->has_excess = true;
		r->excess = (int32_t)(x < -1 ? -1 : x > 65535 ? 65535 : x);
		if (r->excess > (int32_t)peer_bound)
			r->busy = true;
	}
	/* repliedTo lists a subsequence of arrayPeer in its order: one merge walk. */
	size_t pos = 0, rp = 0;
	int have_r = have_rep ? jscan_next(&replied, &rp, &rv) : 0;
	while (jscan_next(&f[K_PEERS], &pos, &e) == 1) {
		struct flow_addr o;
		bool answered = have_r == 1 && rv.n == e.n && memcmp(rv.p, e.p, e.n) == 0;
		if (answered)
			have_r = jscan_next(&replied, &rp, &rv);
		if (!val_addr(&e, &o))
			continue;
		if (!answered) {
			/* Own peers past the bound make it busy whatever max_peers is. */
			if (r->busy)
				continue;
			bool dup = false;
			for (uint32_t k = 0; k < r->n_peers && !dup; k++)
				dup = !b->peer[k].answered && memcmp(b->peer[k].ip.b, o.b, 16) == 0;
			if (dup)
				continue;
			if (++n_own > peer_bound) {
				r->busy = true;
				continue;
			}
		}
		if (peer_push(b, r->n_peers, &o, answered) != 0)
			return -ENOMEM;
		r->n_peers++;
	}
	/* Answers arrayPeer does not hold (it was cut): still answers. */
	while (have_r == 1) {
		struct flow_addr o;
		if (val_addr(&rv, &o)) {
			if (peer_push(b, r->n_peers, &o, true) != 0)
				return -ENOMEM;
			r->n_peers++;
		}
		have_r = jscan_next(&replied, &rp, &rv);
	}
	if (r->busy) {
		/* Only the answers matter now (targets of the outside IPs). */
		uint32_t m = 0;
		for (uint32_t k = 0; k < r->n_peers; k++)
			if (b->peer[k].answered)
				b->peer[m++] = b->peer[k];
		r->n_peers = m;
	}
	r->peers = b->peer;
	return 0;
}

int dg_arpmac_parse(const struct store_doc *d, struct dg_arpmac *r, struct dg_buf *b)
{
	static const char *const keys[] = {"timeSlot", "mac",           "device",
	                                   "ipList",   "interfaceList", "typeList"};
	enum { K_TS, K_MAC, K_DEV, K_IPS, K_IFS, K_TYPES, K_N };
	struct jval f[K_N], e;
	char buf[256];
	size_t pos = 0;

	r->n_ifs = r->n_ips = 0;
	r->has_ifs = false;
	r->dev[0] = '\0';
	jscan_getv(d->json, d->json_len, keys, K_N, f);
	if (!f[K_MAC].p || !jscan_str(&f[K_MAC], buf, sizeof(buf)) ||
	    l2_mac_parse(buf, strlen(buf), r->mac) != 0 || !f[K_TS].p ||
	    !jscan_i64(&f[K_TS], &r->ts) || !f[K_IPS].p)
		return -1;
	/* A device's own addresses (every state Interface) are not hosts. */
	if (f[K_TYPES].p) {
		bool own = true, any = false;
		while (jscan_next(&f[K_TYPES], &pos, &e) == 1) {
			any = true;
			own &= e.n == 11 && memcmp(e.p, "\"Interface\"", 11) == 0;
		}
		if (any && own)
			return 1;
	}
	if (f[K_IPS].n <= 2)
		return 1; /* a MAC-table row: no IP */
	pos = 0;
	while (jscan_next(&f[K_IPS], &pos, &e) == 1) {
		struct flow_addr ip;
		if (!val_addr(&e, &ip))
			continue;
		if (addr_push(b, r->n_ips, &ip) != 0)
			return -ENOMEM;
		r->n_ips++;
	}
	r->ips = b->addr;
	if (f[K_DEV].p && !jscan_str(&f[K_DEV], r->dev, sizeof(r->dev)))
		r->dev[0] = '\0';
	if (f[K_IFS].p) {
		r->has_ifs = true;
		pos = 0;
		while (jscan_next(&f[K_IFS], &pos, &e) == 1) {
			if (grow_array((void **)&b->name, &b->cap_name, (size_t)r->n_ifs + 1,
			               sizeof(*b->name), 8, DG_LIST_MAX) != 0)
				return -ENOMEM;
			if (jscan_str(&e, b->name[r->n_ifs], DG_DEV_MAX))
				r->n_ifs++;
		}
	}
	r->ifs = b->name;
	return 0;
}

/* ---- the digest: writing ---------------------------------------------------- */

/*
 * Header (docs/internals/digest.md), little-endian:
 *  0 magic "NFDG"        4 version u16       6 header length u16 (80)
 *  8 time_slot i64      16 total length u32  20 CRC-32 u32 (of all, this as 0)
 * 24 max_peers u16      26 probe_targets u16
 * 28 records: offender, inside, arpMac u32 x 3
 * 40 documents: offender, inside, arpMac u32 x 3
 * 52 malformed documents: offender, inside, arpMac u32 x 3
 * 64 section lengths: offender, inside, arpMac u32 x 3   76 reserved u32 (0)
 */
#define DG_MAGIC "NFDG"
#define DG_HEADER 80

/* The digest being written; the first error sticks (later writes do nothing). */
struct wbuf {
	uint8_t *p;
	size_t n, cap;
	int err;
};

static void w_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (n > STORE_DIGEST_MAX_BYTES - w->n) {
		w->err = -E2BIG;
		return;
	}
	int rc = grow_array((void **)&w->p, &w->cap, w->n + n, 1, 4096, STORE_DIGEST_MAX_BYTES);
	if (rc) {
		w->err = rc;
		return;
	}
	memcpy(w->p + w->n, p, n);
	w->n += n;
}

static void w_u8(struct wbuf *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static void w_le(struct wbuf *w, uint64_t v, unsigned n)
{
	uint8_t b[8];
	put_le(b, v, n);
	w_bytes(w, b, n);
}

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An address: tag 4 + IPv4, or tag 16 + 16 bytes; flag is or-ed into the tag. */
static void w_addr(struct wbuf *w, const struct flow_addr *a, uint8_t flag)
{
	if (memcmp(a->b, v4_prefix, 12) == 0) {
		w_u8(w, (uint8_t)(4 | flag));
		w_bytes(w, a->b + 12, 4);
	} else {
		w_u8(w, (uint8_t)(16 | flag));
		w_bytes(w, a->b, 16);
	}
}

/* A name (shorter than DG_DEV_MAX, NUL-terminated): length byte + bytes. */
static void w_str(struct wbuf *w, const char *s)
{
	size_t n = strnlen(s, DG_DEV_MAX - 1);
	w_u8(w, (uint8_t)n);
	w_bytes(w, s, n);
}

static void w_offender(struct wbuf *w, const struct dg_offender *r)
{
	w_addr(w, &r->ip, 0);
	w_u8(w, (uint8_t)((r->has_tp ? 1 : 0) | (r->labelled ? 2 : 0)));
	if (r->has_tp)
		w_le(w, (uint64_t)r->tp, 8);
	w_le(w, r->packets, 8);
	w_u8(w, (uint8_t)r->n_labels);
	for (uint32_t k = 0; k < r->n_labels; k++)
		w_str(w, r->labels[k]);
	w_le(w, r->n_list, 4);
	for (uint32_t k = 0; k < r->n_list; k++)
		w_addr(w, &r->list[k], 0);
}

/* keep[k]: peer k is written (answers to a known prober are left out). */
static void w_inside(struct wbuf *w, const struct dg_inside *r, const bool *keep, uint32_t n)
{
	w_addr(w, &r->ip, 0);
	w_u8(w, (uint8_t)((r->busy ? 1 : 0) | (r->has_excess ? 2 : 0)));
	if (r->has_excess)
		w_le(w, (uint32_t)r->excess, 4);
	w_le(w, n, 4);
	for (uint32_t k = 0; k < r->n_peers; k++)
		if (keep[k])
			w_addr(w, &r->peers[k].ip, r->peers[k].answered ? 0x80 : 0);
}

static void w_arpmac(struct wbuf *w, const struct dg_arpmac *r, int64_t time_slot)
{
	bool ts_own = r->ts != time_slot;
	w_bytes(w, r->mac, 6);
	w_u8(w, (uint8_t)((r->has_ifs ? 1 : 0) | (ts_own ? 2 : 0)));
	if (ts_own)
		w_le(w, (uint64_t)r->ts, 8);
	w_str(w, r->dev);
	w_le(w, r->n_ifs, 4);
	for (uint32_t k = 0; k < r->n_ifs; k++)
		w_str(w, r->ifs[k]);
	w_le(w, r->n_ips, 4);
	for (uint32_t k = 0; k < r->n_ips; k++)
		w_addr(w, &r->ips[k], 0);
}

/*
 * The outside IPs of the slot being digested: which are known to probe
 * (labelled, touchPeers above probe_targets, or answered by more than
 * probe_targets inside hosts so far in the analysis's order). An answer to
 * one of them cannot change the analysis: the IP already probes when the
 * answer is applied, so the answer is left out of the digest.
 */
struct oset_ent {
	struct flow_addr ip;
	bool used, prober;
	uint32_t answers;  /* inside records that answered it */
	uint32_t last_rec; /* the last such record + 1 */
};

struct oset {
	struct oset_ent *v;
	size_t cap, n;
};

static struct oset_ent *oset_get(struct oset *s, const struct flow_addr *a)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 1024;
		struct oset_ent *nv = calloc(nc, sizeof(*nv));
		if (!nv)
			return NULL;
		for (size_t k = 0; k < s->cap; k++) {
			if (!s->v[k].used)
				continue;
			size_t h = flow_addr_hash(&s->v[k].ip, 0) & (nc - 1);
			while (nv[h].used)
				h = (h + 1) & (nc - 1);
			nv[h] = s->v[k];
		}
		free(s->v);
		s->v = nv;
		s->cap = nc;
	}
	size_t h = flow_addr_hash(a, 0) & (s->cap - 1);
	while (s->v[h].used) {
		if (memcmp(s->v[h].ip.b, a->b, 16) == 0)
			return &s->v[h];
		h = (h + 1) & (s->cap - 1);
	}
	s->v[h] = (struct oset_ent){.ip = *a, .used = true};
	s->n++;
	return &s->v[h];
}

struct doc_ref {
	const struct store_doc *d;
	size_t i;
};

static int doc_ref_cmp(const void *x, const void *y)
{
	const struct doc_ref *p = x, *q = y;
	int c = strcmp(p->d->key, q->d->key);
	if (c)
		return c;
	return p->i < q->i ? -1 : p->i > q->i;
}

/*
 * The documents of kind, in the order the store reads them back (by key,
 * bytewise), each key once (the store keeps the first given).
 */
static int docs_of(const struct store_doc *docs, size_t n, const char *kind, struct doc_ref **out,
                   size_t *n_out)
{
	size_t m = 0, k = 0;
	for (size_t i = 0; i < n; i++)
		m += strcmp(docs[i].kind, kind) == 0;
	*out = NULL;
	*n_out = 0;
	if (!m)
		return 0;
	struct doc_ref *v = malloc(m * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (strcmp(docs[i].kind, kind) == 0)
			v[k++] = (struct doc_ref){&docs[i], i};
	qsort(v, m, sizeof(*v), doc_ref_cmp);
	k = 0;
	for (size_t i = 0; i < m; i++)
		if (k == 0 || strcmp(v[k - 1].d->key, v[i].d->key) != 0)
			v[k++] = v[i];
	*out = v;
	*n_out = k;
	return 0;
}

int daily_digest_build(int64_t time_slot, const struct store_doc *docs, size_t n,
                       uint32_t max_peers, uint32_t probe_targets, void **out, size_t *out_len)
{
	struct wbuf w = {0};
	struct dg_buf b = {0};
	struct oset os = {0};
	struct doc_ref *off = NULL, *ins = NULL, *arp = NULL;
	size_t n_off = 0, n_in = 0, n_arp = 0;
	uint32_t rec[3] = {0}, bad[3] = {0};
	size_t sec[3] = {0};
	bool *keep = NULL;
	size_t cap_keep = 0;
	int rc;

	*out = NULL;
	*out_len = 0;
	if ((!docs && n) || max_peers == 0 || max_peers > DAILY_PEERS_MAX ||
	    probe_targets > DAILY_PROBE_MAX)
		return -EINVAL;
	if ((rc = docs_of(docs, n, "offender", &off, &n_off)) ||
	    (rc = docs_of(docs, n, "inside", &ins, &n_in)) ||
	    (rc = docs_of(docs, n, "arpMac", &arp, &n_arp)))
		goto out;
	uint8_t hdr[DG_HEADER] = {0};
	w_bytes(&w, hdr, sizeof(hdr));

	size_t at = w.n;
	for (size_t k = 0; k < n_off && !w.err; k++) {
		struct dg_offender r;
		rc = dg_offender_parse(off[k].d, probe_targets, &r, &b);
		if (rc == -ENOMEM)
			goto out;
		if (rc < 0) {
			bad[0]++;
			continue;
		}
		if (r.labelled || r.tp > (int64_t)probe_targets) {
			struct oset_ent *e = oset_get(&os, &r.ip);
			if (!e) {
				rc = -ENOMEM;
				goto out;
			}
			e->prober = true;
		}
		w_offender(&w, &r);
		rec[0]++;
	}
	sec[0] = w.n - at;

	at = w.n;
	for (size_t k = 0; k < n_in && !w.err; k++) {
		struct dg_inside r;
		rc = dg_inside_parse(ins[k].d, max_peers, &r, &b);
		if (rc == -ENOMEM)
			goto out;
		if (rc < 0) {
			bad[1]++;
			continue;
		}
		if (grow_array((void **)&keep, &cap_keep, (size_t)r.n_peers + 1, sizeof(*keep), 64,
		               DG_LIST_MAX + 1) != 0) {
			rc = -ENOMEM;
			goto out;
		}
		uint32_t kept = 0;
		for (uint32_t j = 0; j < r.n_peers; j++) {
			keep[j] = true;
			if (r.peers[j].answered) {
				struct oset_ent *e = oset_get(&os, &r.peers[j].ip);
				if (!e) {
					rc = -ENOMEM;
					goto out;
				}
				if (e->prober || e->answers > probe_targets) {
					keep[j] = false;
				} else if (e->last_rec != k + 1) {
					e->answers++;
					e->last_rec = (uint32_t)k + 1;
				}
			}
			kept += keep[j];
		}
		w_inside(&w, &r, keep, kept);
		rec[1]++;
	}
	sec[1] = w.n - at;

	at = w.n;
	for (size_t k = 0; k < n_arp && !w.err; k++) {
		struct dg_arpmac r;
		rc = dg_arpmac_parse(arp[k].d, &r, &b);
		if (rc == -ENOMEM)
			goto out;
		if (rc < 0) {
			bad[2]++;
			continue;
		}
		if (rc == 1)
			continue;
		w_arpmac(&w, &r, time_slot);
		rec[2]++;
	}
	sec[2] = w.n - at;
	if (w.err) {
		rc = w.err;
		goto out;
	}

	uint8_t *h = w.p;
	memcpy(h, DG_MAGIC, 4);
	put_le(h + 4, DAILY_DIGEST_VERSION, 2);
	put_le(h + 6, DG_HEADER, 2);
	put_le(h + 8, (uint64_t)time_slot, 8);
	put_le(h + 16, w.n, 4);
	put_le(h + 24, max_peers, 2);
	put_le(h + 26, probe_targets, 2);
	put_le(h + 28, rec[0], 4);
	put_le(h + 32, rec[1], 4);
	put_le(h + 36, rec[2], 4);
	put_le(h + 40, n_off, 4);
	put_le(h + 44, n_in, 4);
	put_le(h + 48, n_arp, 4);
	put_le(h + 52, bad[0], 4);
	put_le(h + 56, bad[1], 4);
	put_le(h + 60, bad[2], 4);
	put_le(h + 64, sec[0], 4);
	put_le(h + 68, sec[1], 4);
	put_le(h + 72, sec[2], 4);
	put_le(h + 20, dg_crc32(0, w.p, w.n), 4);
	*out = w.p;
	*out_len = w.n;
	w.p = NULL;
	rc = 0;
out:
	free(w.p);
	free(keep);
	free(os.v);
	free(off);
	free(ins);
	free(arp);
	dg_buf_free(&b);
	return rc;
}

/* ---- the digest: reading ------------------------------------------------------ */

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

/* CRC-32 tables for 8 bytes a step ("slicing-by-8"): t[k][b] is b's CRC shifted by k bytes. */
static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			crc_tab[k][i] =
			    (crc_tab[k - 1][i] >> 8) ^ crc_tab[0][crc_tab[k - 1][i] & 0xff];
}

uint32_t dg_crc32(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (; n >= 8; n -= 8, p += 8) {
		uint32_t a = (uint32_t)get_le(p, 4) ^ crc, b = (uint32_t)get_le(p + 4, 4);
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		      crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^ crc_tab[3][b & 0xff] ^
		      crc_tab[2][(b >> 8) & 0xff] ^ crc_tab[1][(b >> 16) & 0xff] ^
		      crc_tab[0][b >> 24];
	}
	for (; n; n--, p++)
		crc = crc_tab[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}

int dg_open(struct dg_reader *r, const void *data, size_t len, bool check_sum)
{
	const uint8_t *p = data;

	memset(r, 0, sizeof(*r));
	if (len < DG_HEADER || memcmp(p, DG_MAGIC, 4) != 0)
		return -EBADMSG;
	if (get_le(p + 4, 2) != DAILY_DIGEST_VERSION)
		return -EPROTONOSUPPORT;
	if (get_le(p + 6, 2) != DG_HEADER || get_le(p + 16, 4) != len)
		return -EBADMSG;
	uint64_t s0 = get_le(p + 64, 4), s1 = get_le(p + 68, 4), s2 = get_le(p + 72, 4);
	if (DG_HEADER + s0 + s1 + s2 != len)
		return -EBADMSG;
	if (check_sum) {
		static const uint8_t zero[4];
		uint32_t c = dg_crc32(0, p, 20);
		c = dg_crc32(c, zero, 4);
		c = dg_crc32(c, p + 24, len - 24);
		if (c != (uint32_t)get_le(p + 20, 4))
			return -EBADMSG;
	}
	r->p = p;
	r->len = len;
	r->time_slot = (int64_t)get_le(p + 8, 8);
	r->max_peers = (uint32_t)get_le(p + 24, 2);
	r->probe_targets = (uint32_t)get_le(p + 26, 2);
	r->n_off = (uint32_t)get_le(p + 28, 4);
	r->n_in = (uint32_t)get_le(p + 32, 4);
	r->n_mac = (uint32_t)get_le(p + 36, 4);
	r->docs_offender = (uint32_t)get_le(p + 40, 4);
	r->docs_inside = (uint32_t)get_le(p + 44, 4);
	r->docs_arp = (uint32_t)get_le(p + 48, 4);
	r->docs_bad_offender = (uint32_t)get_le(p + 52, 4);
	r->docs_bad_inside = (uint32_t)get_le(p + 56, 4);
	r->docs_bad_arp = (uint32_t)get_le(p + 60, 4);
	r->off_at = DG_HEADER;
	r->in_at = DG_HEADER + s0;
	r->mac_at = DG_HEADER + s0 + s1;
	r->end = r->in_at;
	r->pos = r->off_at;
	if (r->docs_offender < r->n_off || r->docs_inside < r->n_in || r->docs_arp < r->n_mac)
		return -EBADMSG;
	return 0;
}

void dg_seek(struct dg_reader *r, enum dg_section s)
{
	r->pos = s == DG_OFFENDERS ? r->off_at : s == DG_INSIDE ? r->in_at : r->mac_at;
	r->end = s == DG_OFFENDERS ? r->in_at : s == DG_INSIDE ? r->mac_at : r->len;
}

static bool r_bytes(struct dg_reader *r, void *out, size_t n)
{
	if (n > r->end - r->pos)
		return false;
	memcpy(out, r->p + r->pos, n);
	r->pos += n;
	return true;
}

static bool r_le(struct dg_reader *r, uint64_t *v, unsigned n)
{
	if (n > r->end - r->pos)
		return false;
	*v = get_le(r->p + r->pos, n);
	r->pos += n;
	return true;
}

/* An address; *flag gets the tag's high bit. */
static bool r_addr(struct dg_reader *r, struct flow_addr *a, bool *flag)
{
	uint64_t t;
	if (!r_le(r, &t, 1))
		return false;
	if (flag)
		*flag = (t & 0x80) != 0;
	else if (t & 0x80)
		return false;
	t &= 0x7f;
	if (t == 4) {
		memcpy(a->b, v4_prefix, 12);
		return r_bytes(r, a->b + 12, 4);
	}
	return t == 16 && r_bytes(r, a->b, 16);
}

static bool r_str(struct dg_reader *r, char *buf, size_t len)
{
	uint64_t n;
	if (!r_le(r, &n, 1) || n >= len || !r_bytes(r, buf, n))
		return false;
	buf[n] = '\0';
	return memchr(buf, '\0', n) == NULL;
}

/* A count of entries, each at least min_bytes: never more than the section holds. */
static bool r_count(struct dg_reader *r, uint32_t *n, size_t min_bytes)
{
	uint64_t v;
	if (!r_le(r, &v, 4) || v > DG_LIST_MAX || v * min_bytes > r->end - r->pos)
		return false;
	*n = (uint32_t)v;
	return true;
}

int dg_offender_read(struct dg_reader *r, struct dg_offender *o, struct dg_buf *b)
{
	uint64_t fl, v, nl;

	if (!r_addr(r, &o->ip, NULL) || !r_le(r, &fl, 1) || fl > 3)
		return -EBADMSG;
	o->has_tp = fl & 1;
	o->labelled = (fl & 2) != 0;
	o->tp = 0;
	if (o->has_tp) {
		if (!r_le(r, &v, 8))
			return -EBADMSG;
		o->tp = (int64_t)v;
	}
	if (!r_le(r, &o->packets, 8) || !r_le(r, &nl, 1) || nl > DG_LABELS_MAX)
		return -EBADMSG;
	o->n_labels = (uint32_t)nl;
	for (uint32_t k = 0; k < o->n_labels; k++)
		if (!r_str(r, o->labels[k], DG_NAME_MAX))
			return -EBADMSG;
	if (!r_count(r, &o->n_list, 5))
		return -EBADMSG;
	if (o->n_list && grow_array((void **)&b->addr, &b->cap_addr, o->n_list, sizeof(*b->addr),
	                            64, DG_LIST_MAX) != 0)
		return -ENOMEM;
	for (uint32_t k = 0; k < o->n_list; k++)
		if (!r_addr(r, &b->addr[k], NULL))
			return -EBADMSG;
	o->list = b->addr;
	return 0;
}

int dg_inside_read(struct dg_reader *r, struct dg_inside *o, struct dg_buf *b)
{
	uint64_t fl, v;

	if (!r_addr(r, &o->ip, NULL) || !r_le(r, &fl, 1) || fl > 3)
		return -EBADMSG;
	o->busy = fl & 1;
	o->has_excess = (fl & 2) != 0;
	o->excess = 0;
	if (o->has_excess) {
		if (!r_le(r, &v, 4))
			return -EBADMSG;
		o->excess = (int32_t)(uint32_t)v;
	}
	if (!r_count(r, &o->n_peers, 5))
		return -EBADMSG;
	if (o->n_peers && grow_array((void **)&b->peer, &b->cap_peer, o->n_peers, sizeof(*b->peer),
	                             64, DG_LIST_MAX) != 0)
		return -ENOMEM;
	for (uint32_t k = 0; k < o->n_peers; k++)
		if (!r_addr(r, &b->peer[k].ip, &b->peer[k].answered))
			return -EBADMSG;
	o->peers = b->peer;
	return 0;
}

int dg_arpmac_read(struct dg_reader *r, struct dg_arpmac *o, struct dg_buf *b)
{
	uint64_t fl, v;

	if (!r_bytes(r, o->mac, 6) || !r_le(r, &fl, 1) || fl > 3)
		return -EBADMSG;
	o->has_ifs = fl & 1;
	o->ts = r->time_slot;
	if (fl & 2) {
		if (!r_le(r, &v, 8))
			return -EBADMSG;
		o->ts = (int64_t)v;
	}
	if (!r_str(r, o->dev, sizeof(o->dev)) || !r_count(r, &o->n_ifs, 1))
		return -EBADMSG;
	if (o->n_ifs && grow_array((void **)&b->name, &b->cap_name, o->n_ifs, sizeof(*b->name), 8,
	                           DG_LIST_MAX) != 0)
		return -ENOMEM;
	for (uint32_t k = 0; k < o->n_ifs; k++)
		if (!r_str(r, b->name[k], DG_DEV_MAX))
			return -EBADMSG;
	o->ifs = b->name;
	if (!r_count(r, &o->n_ips, 5))
		return -EBADMSG;
	if (o->n_ips && grow_array((void **)&b->addr, &b->cap_addr, o->n_ips, sizeof(*b->addr), 64,
	                           DG_LIST_MAX) != 0)
		return -ENOMEM;
	for (uint32_t k = 0; k < o->n_ips; k++)
		if (!r_addr(r, &b->addr[k], NULL))
			return -EBADMSG;
	o->ips = b->addr;
	return 0;
}
