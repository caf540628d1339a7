/*
 * l2 merge: the observations of one site's devices in one slot merged by IP
 * and by (MAC, device), the abnormal labels of METHOD §8, the judge's
 * unresolved lookup, the arpIp / arpMac documents (written with doc.h's
 * writer) and the slot documents' view of the merge (struct doc_l2). See
 * l2.h and docs/internals/l2.md.
 *
 * Objects live in two growable arrays indexed by two open-addressing hash
 * tables (linear probing, load <= 1/2). Lists inside an object are small
 * (<= L2_LIST_MAX) unsorted arrays while adding; l2_merge_finish sorts
 * everything in place (no allocation, so it cannot fail) and rebuilds the
 * hash tables for the new positions.
 *
 * Not this file's job: parsing, SSH, deciding what the judge does.
 */
#include "nfsentry/l2.h"
#include "nfsentry/site.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/fault.h"
#include "nfsentry/grow.h"

struct l2_merge {
	char site[SITE_NAME_MAX];
	int64_t time_slot;
	struct l2_merge_limits lim;
	struct l2_merge_stats st;
	bool finished;

	char (*devs)[L2_DEVICE_NAME_MAX];
	uint32_t n_devs;
	size_t cap_devs;

	struct l2_ip *ips;
	uint32_t n_ips;
	size_t cap_ips;
	uint32_t *ip_hash; /* object index + 1; 0 empty */
	uint32_t ip_hash_size;

	struct l2_mac *macs;
	uint32_t n_macs;
	size_t cap_macs;
	uint32_t *mac_hash;
	uint32_t mac_hash_size;
};

static const uint32_t unresolved_types = 1u << L2_STATE_INCOMPLETE | 1u << L2_STATE_DELETED;

/* METHOD §8 "unresolved": seen, and only ever as incomplete or deleted. */
static bool only_unresolved(uint32_t types)
{
	return types && (types & ~unresolved_types) == 0;
}

static void l2_merge_limits_defaults(struct l2_merge_limits *lim)
{
	lim->max_ips = 1u << 20;
	lim->max_macs = 1u << 20;
}

/* Stable label name: "unresolved", "zeroMac". */
static const char *l2_label_name(enum l2_label l)
{
	switch (l) {
	case L2_LABEL_UNRESOLVED:
		return "unresolved";
	case L2_LABEL_ZEROMAC:
		return "zeroMac";
	default:
		return "unknown";
	}
}

struct l2_merge *l2_merge_create(const char *site, int64_t time_slot,
                                 const struct l2_merge_limits *lim)
{
	if (!site || !*site || strlen(site) >= SITE_NAME_MAX)
		return NULL;
	struct l2_merge *m = fault_calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	snprintf(m->site, sizeof(m->site), "%s", site);
	m->time_slot = time_slot;
	if (lim)
		m->lim = *lim;
	else
		l2_merge_limits_defaults(&m->lim);
	return m;
}

static void ip_free(struct l2_ip *o)
{
	free(o->macs);
	free(o->devices);
}

static void mac_free(struct l2_mac *o)
{
	free(o->ips);
	for (uint32_t k = 0; k < o->n_ifnames; k++)
		free(o->ifnames[k]);
	free(o->ifnames);
	free(o->vlans);
}

void l2_merge_destroy(struct l2_merge *m)
{
	if (!m)
		return;
	for (uint32_t k = 0; k < m->n_ips; k++)
		ip_free(&m->ips[k]);
	for (uint32_t k = 0; k < m->n_macs; k++)
		mac_free(&m->macs[k]);
	free(m->ips);
	free(m->ip_hash);
	free(m->macs);
	free(m->mac_hash);
	free(m->devs);
	free(m);
}

/* Hashing: FNV-1a over the key bytes, then a final mix for the low bits. */
static uint32_t fnv1a(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	return h;
}

static uint32_t ip_key_hash(const struct flow_addr *a)
{
	return mix(fnv1a(a->b, 16, 2166136261u));
}

static uint32_t mac_key_hash(const uint8_t mac[6], uint16_t dev)
{
	return mix(fnv1a(&dev, sizeof(dev), fnv1a(mac, 6, 2166136261u)));
}

/* Probe for addr: the slot that holds it, or the empty slot where it would go. */
static uint32_t ip_probe(const struct l2_merge *m, const struct flow_addr *a)
{
	uint32_t mask = m->ip_hash_size - 1;
	uint32_t i = ip_key_hash(a) & mask;

	while (m->ip_hash[i] && memcmp(m->ips[m->ip_hash[i] - 1].ip.b, a->b, 16) != 0)
		i = (i + 1) & mask;
	return i;
}

static uint32_t mac_probe(const struct l2_merge *m, const uint8_t mac[6], uint16_t dev)
{
	uint32_t mask = m->mac_hash_size - 1;
	uint32_t i = mac_key_hash(mac, dev) & mask;

	while (m->mac_hash[i]) {
		const struct l2_mac *o = &m->macs[m->mac_hash[i] - 1];
		if (o->device == dev && memcmp(o->mac, mac, 6) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static void ip_rehash(struct l2_merge *m)
{
	memset(m->ip_hash, 0, m->ip_hash_size * sizeof(*m->ip_hash));
	for (uint32_t k = 0; k < m->n_ips; k++)
		m->ip_hash[ip_probe(m, &m->ips[k].ip)] = k + 1;
}

static void mac_rehash(struct l2_merge *m)
{
	memset(m->mac_hash, 0, m->mac_hash_size * sizeof(*m->mac_hash));
	for (uint32_t k = 0; k < m->n_macs; k++)
		m->mac_hash[mac_probe(m, m->macs[k].mac, m->macs[k].device)] = k + 1;
}

/*
 * Make room for one more object: array and hash table (kept at load <=
 * 1/2). On failure nothing changed.
 */
static int reserve(void **arr, size_t *cap, size_t elem, uint32_t n, uint32_t **hash,
                   uint32_t *hsize)
{
	if (grow_array(arr, cap, (size_t)n + 1, elem, 64, UINT32_MAX) != 0)
		return -ENOMEM;
	if ((uint64_t)(n + 1) * 2 > *hsize) {
		uint32_t nsize = *hsize ? *hsize * 2 : 128;
		uint32_t *nh = fault_calloc(nsize, sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		free(*hash);
		*hash = nh;
		*hsize = nsize;
		return 1; /* caller rehashes */
	}
	return 0;
}

/* The by-IP object of a, created if need be; NULL with *rc set when not. */
static struct l2_ip *ip_get(struct l2_merge *m, const struct flow_addr *a, int *rc)
{
	*rc = 0;
	if (m->ip_hash_size) {
		uint32_t i = ip_probe(m, a);
		if (m->ip_hash[i])
			return &m->ips[m->ip_hash[i] - 1];
	}
	if (m->n_ips >= m->lim.max_ips) {
		m->st.ips_dropped++;
		return NULL;
	}
	int r = reserve((void **)&m->ips, &m->cap_ips, sizeof(*m->ips), m->n_ips, &m->ip_hash,
	                &m->ip_hash_size);
	if (r < 0) {
		*rc = r;
		return NULL;
	}
	if (r > 0)
		ip_rehash(m);
	struct l2_ip *o = &m->ips[m->n_ips];
	memset(o, 0, sizeof(*o));
	o->ip = *a;
	o->min_age_s = -1;
	m->ip_hash[ip_probe(m, a)] = ++m->n_ips;
	return o;
}

static struct l2_mac *mac_get(struct l2_merge *m, const uint8_t mac[6], uint16_t dev, int *rc)
{
	*rc = 0;
	if (m->mac_hash_size) {
		uint32_t i = mac_probe(m, mac, dev);
		if (m->mac_hash[i])
			return &m->macs[m->mac_hash[i] - 1];
	}
	if (m->n_macs >= m->lim.max_macs) {
		m->st.macs_dropped++;
		return NULL;
	}
	int r = reserve((void **)&m->macs, &m->cap_macs, sizeof(*m->macs), m->n_macs, &m->mac_hash,
	                &m->mac_hash_size);
	if (r < 0) {
		*rc = r;
		return NULL;
	}
	if (r > 0)
		mac_rehash(m);
	struct l2_mac *o = &m->macs[m->n_macs];
	memset(o, 0, sizeof(*o));
	memcpy(o->mac, mac, 6);
	o->device = dev;
	m->mac_hash[mac_probe(m, mac, dev)] = ++m->n_macs;
	return o;
}

/*
 * Append v (elem bytes) to a small set unless present. Returns 0, or
 * -ENOMEM with the set unchanged. At L2_LIST_MAX the value is counted and
 * left out.
 */
static int set_add(struct l2_merge *m, void **arr, uint32_t *n, size_t elem, const void *v)
{
	char *a = *arr;
	for (uint32_t k = 0; k < *n; k++)
		if (memcmp(a + (size_t)k * elem, v, elem) == 0)
			return 0;
	if (*n >= L2_LIST_MAX) {
		m->st.list_full++;
		return 0;
	}
	/* Capacities are the powers of two from 4: grow when n is one. */
	if (*n == 0 || (*n >= 4 && (*n & (*n - 1)) == 0)) {
		uint32_t ncap = *n == 0 ? 4 : *n * 2;
		void *na = fault_realloc(*arr, (size_t)ncap * elem);
		if (!na)
			return -ENOMEM;
		*arr = a = na;
	}
	memcpy(a + (size_t)*n * elem, v, elem);
	(*n)++;
	return 0;
}

static int ifname_add(struct l2_merge *m, struct l2_mac *o, const char *name)
{
	for (uint32_t k = 0; k < o->n_ifnames; k++)
		if (strcmp(o->ifnames[k], name) == 0)
			return 0;
	if (o->n_ifnames >= L2_LIST_MAX) {
		m->st.list_full++;
		return 0;
	}
	size_t len = strnlen(name, L2_IFNAME_MAX - 1);
	char *copy = fault_calloc(1, len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, name, len);
	int rc = set_add(m, (void **)&o->ifnames, &o->n_ifnames, sizeof(char *), &copy);
	if (rc != 0)
		free(copy);
	return rc;
}

static int device_index(struct l2_merge *m, const char *device, uint16_t *out)
{
	for (uint32_t k = 0; k < m->n_devs; k++)
		if (strcmp(m->devs[k], device) == 0) {
			*out = (uint16_t)k;
			return 0;
		}
	if (m->n_devs >= L2_MAX_DEVICES) {
		m->st.devices_full++;
		return -ENOSPC;
	}
	if (grow_array((void **)&m->devs, &m->cap_devs, (size_t)m->n_devs + 1, sizeof(*m->devs), 8,
	               L2_MAX_DEVICES) != 0)
		return -ENOMEM;
	snprintf(m->devs[m->n_devs], sizeof(m->devs[0]), "%s", device);
	*out = (uint16_t)m->n_devs++;
	return 0;
}

static int add_one(struct l2_merge *m, uint16_t dev, uint64_t ts_ms, const struct l2_obs *ob)
{
	uint32_t tbit = 1u << (ob->state < L2_STATE__COUNT ? ob->state : L2_STATE_OTHER);
	int rc;

	if (ob->has_ip) {
		struct l2_ip *o = ip_get(m, &ob->ip, &rc);
		if (rc)
			return rc;
		if (o) {
			if (ob->has_mac &&
			    (rc = set_add(m, (void **)&o->macs, &o->n_macs, 6, ob->mac)) != 0)
				return rc;
			if ((rc = set_add(m, (void **)&o->devices, &o->n_devices, sizeof(uint16_t),
			                  &dev)) != 0)
				return rc;
			if (ts_ms > o->timestamp_ms)
				o->timestamp_ms = ts_ms;
			o->types |= tbit;
			o->observations++;
			if (ob->age_s >= 0 && (o->min_age_s < 0 || ob->age_s < o->min_age_s))
				o->min_age_s = ob->age_s;
		}
	}
	if (ob->has_mac) {
		struct l2_mac *o = mac_get(m, ob->mac, dev, &rc);
		if (rc)
			return rc;
		if (o) {
			if (ob->has_ip && (rc = set_add(m, (void **)&o->ips, &o->n_ips,
			                                sizeof(struct flow_addr), &ob->ip)) != 0)
				return rc;
			if (ob->ifname[0] && (rc = ifname_add(m, o, ob->ifname)) != 0)
				return rc;
			if (ob->vlan >= 0 && (rc = set_add(m, (void **)&o->vlans, &o->n_vlans,
			                                   sizeof(int32_t), &ob->vlan)) != 0)
				return rc;
			if (ts_ms > o->timestamp_ms)
				o->timestamp_ms = ts_ms;
			o->types |= tbit;
			o->observations++;
		}
	}
	return 0;
}

int l2_merge_add(struct l2_merge *m, const char *device, uint64_t ts_ms, const struct l2_obs *v,
                 size_t n)
{
	uint16_t dev;
	int rc;

	if (!m || !device || !*device || strlen(device) >= L2_DEVICE_NAME_MAX || (!v && n))
		return -EINVAL;
	if (m->finished)
		return -EBUSY;
	if ((rc = device_index(m, device, &dev)) != 0)
		return rc;
	for (size_t k = 0; k < n; k++)
		if ((rc = add_one(m, dev, ts_ms, &v[k])) != 0)
			return rc;
	return 0;
}

/* Sorting, with the merge as context for device names (qsort_r, GNU). */

static int cmp_addr(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct flow_addr));
}

static int cmp_mac6(const void *a, const void *b)
{
	return memcmp(a, b, 6);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_dev(const void *a, const void *b, void *ctx)
{
	const struct l2_merge *m = ctx;
	return strcmp(m->devs[*(const uint16_t *)a], m->devs[*(const uint16_t *)b]);
}

static int cmp_ipobj(const void *a, const void *b)
{
	return cmp_addr(&((const struct l2_ip *)a)->ip, &((const struct l2_ip *)b)->ip);
}

static int cmp_macobj(const void *a, const void *b, void *ctx)
{
	const struct l2_merge *m = ctx;
	const struct l2_mac *x = a, *y = b;
	int c = memcmp(x->mac, y->mac, 6);
	return c ? c : strcmp(m->devs[x->device], m->devs[y->device]);
}

int l2_merge_finish(struct l2_merge *m)
{
	if (m->finished)
		return 0;
	for (uint32_t k = 0; k < m->n_ips; k++) {
		struct l2_ip *o = &m->ips[k];
		static const uint8_t zero[6];

		if (o->n_macs)
			qsort(o->macs, o->n_macs, 6, cmp_mac6);
		if (o->n_devices)
			qsort_r(o->devices, o->n_devices, sizeof(uint16_t), cmp_dev, m);
		o->labels = 0;
		if (only_unresolved(o->types))
			o->labels |= L2_LABEL_UNRESOLVED;
		if (o->n_macs == 1 && memcmp(o->macs[0], zero, 6) == 0)
			o->labels |= L2_LABEL_ZEROMAC;
	}
	for (uint32_t k = 0; k < m->n_macs; k++) {
		struct l2_mac *o = &m->macs[k];
		if (o->n_ips)
			qsort(o->ips, o->n_ips, sizeof(*o->ips), cmp_addr);
		if (o->n_ifnames)
			qsort(o->ifnames, o->n_ifnames, sizeof(char *), cmp_str);
		if (o->n_vlans)
			qsort(o->vlans, o->n_vlans, sizeof(int32_t), cmp_i32);
	}
	if (m->n_ips) {
		qsort(m->ips, m->n_ips, sizeof(*m->ips), cmp_ipobj);
		ip_rehash(m);
	}
	if (m->n_macs) {
		qsort_r(m->macs, m->n_macs, sizeof(*m->macs), cmp_macobj, m);
		mac_rehash(m);
	}
	m->finished = true;
	return 0;
}

void l2_merge_stats_get(const struct l2_merge *m, struct l2_merge_stats *out)
{
	*out = m->st;
}

static const struct counter_def l2_merge_counter_defs[] = {
    COUNTER_DEF(l2_merge_stats, ips_dropped, "ipsDropped", COUNTER_TOTAL,
                "Observations whose IP found the by-IP table full."),
    COUNTER_DEF(l2_merge_stats, macs_dropped, "macsDropped", COUNTER_TOTAL,
                "Observations whose MAC found the by-MAC table full."),
    COUNTER_DEF(l2_merge_stats, list_full, "listFull", COUNTER_TOTAL,
                "Values left out of a list at L2_LIST_MAX."),
    COUNTER_DEF(l2_merge_stats, devices_full, "devicesFull", COUNTER_TOTAL,
                "Devices refused at L2_MAX_DEVICES."),
};
_Static_assert(sizeof(l2_merge_counter_defs) / sizeof(l2_merge_counter_defs[0]) *
                       sizeof(uint64_t) ==
                   sizeof(struct l2_merge_stats),
               "one counter per field of struct l2_merge_stats");

const struct counter_table l2_merge_counters =
    COUNTER_TABLE("l2merge", l2_merge_counter_defs, l2_merge_stats);

const char *l2_merge_site(const struct l2_merge *m)
{
	return m->site;
}

int64_t l2_merge_time_slot(const struct l2_merge *m)
{
	return m->time_slot;
}

const char *l2_merge_device_name(const struct l2_merge *m, unsigned idx)
{
	return idx < m->n_devs ? m->devs[idx] : NULL;
}

const struct l2_ip *l2_merge_ips(const struct l2_merge *m, size_t *n)
{
	*n = m->finished ? m->n_ips : 0;
	return m->finished ? m->ips : NULL;
}

const struct l2_mac *l2_merge_macs(const struct l2_merge *m, size_t *n)
{
	*n = m->finished ? m->n_macs : 0;
	return m->finished ? m->macs : NULL;
}

const struct l2_ip *l2_merge_ip_find(const struct l2_merge *m, const struct flow_addr *addr)
{
	if (!m->ip_hash_size)
		return NULL;
	uint32_t i = ip_probe(m, addr);
	return m->ip_hash[i] ? &m->ips[m->ip_hash[i] - 1] : NULL;
}

const struct l2_mac *l2_merge_mac_find(const struct l2_merge *m, const uint8_t mac[6], size_t *n)
{
	*n = 0;
	if (!m->finished || !m->n_macs)
		return NULL;
	/* Sorted by MAC first: binary search for the first object of mac. */
	size_t lo = 0, hi = m->n_macs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(m->macs[mid].mac, mac, 6) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t e = lo;
	while (e < m->n_macs && memcmp(m->macs[e].mac, mac, 6) == 0)
		e++;
	*n = e - lo;
	return *n ? &m->macs[lo] : NULL;
}

bool l2_merge_unresolved(const struct l2_merge *m, const struct flow_addr *addr)
{
	const struct l2_ip *o = l2_merge_ip_find(m, addr);
	return o && only_unresolved(o->types);
}

/* Documents */

/* The members every document has, then the open object's body follows. */
static void base(struct doc_writer *w, const struct l2_merge *m, const char *kind, const char *ts)
{
	doc_writer_begin(w, kind, m->site, m->time_slot, ts);
}

static void types_list(struct doc_writer *w, uint32_t types)
{
	doc_writer_open(w, '[');
	for (int s = 0; s < L2_STATE__COUNT; s++)
		if (types & 1u << s)
			doc_writer_str(w, l2_state_name((enum l2_state)s));
	doc_writer_close(w, ']');
}

static void min_age(struct doc_writer *w, int64_t min_age_s)
{
	doc_writer_key(w, "minAgeSeconds");
	if (min_age_s >= 0)
		doc_writer_i64(w, min_age_s);
	else
		doc_writer_null(w);
}

/*
 * Device names and interface names are written as text from outside
 * (doc_writer_text: left out unless valid UTF-8), which keeps the documents
 * what the jansson version of this file printed.
 */
static void ip_doc(struct doc_writer *w, const struct l2_merge *m, const struct l2_ip *o,
                   const char *ts)
{
	base(w, m, "arpIp", ts);
	doc_writer_key(w, "ip");
	doc_writer_addr(w, &o->ip);
	doc_writer_key(w, "timestamp");
	doc_writer_i64(w, (int64_t)o->timestamp_ms);
	doc_writer_key(w, "macList");
	doc_writer_open(w, '[');
	for (uint32_t k = 0; k < o->n_macs; k++)
		doc_writer_mac(w, o->macs[k]);
	doc_writer_close(w, ']');
	doc_writer_key(w, "typeList");
	types_list(w, o->types);
	doc_writer_key(w, "deviceList");
	doc_writer_open(w, '[');
	for (uint32_t k = 0; k < o->n_devices; k++)
		doc_writer_text(w, m->devs[o->devices[k]]);
	doc_writer_close(w, ']');
	doc_writer_key(w, "observations");
	doc_writer_i64(w, o->observations);
	min_age(w, o->min_age_s);
	doc_writer_key(w, "labels");
	doc_writer_open(w, '[');
	if (o->labels & L2_LABEL_UNRESOLVED)
		doc_writer_str(w, l2_label_name(L2_LABEL_UNRESOLVED));
	if (o->labels & L2_LABEL_ZEROMAC)
		doc_writer_str(w, l2_label_name(L2_LABEL_ZEROMAC));
	doc_writer_close(w, ']');
	doc_writer_key(w, "reasons");
	doc_writer_open(w, '{');
	if (o->labels & L2_LABEL_UNRESOLVED) {
		doc_writer_key(w, l2_label_name(L2_LABEL_UNRESOLVED));
		doc_writer_open(w, '{');
		doc_writer_key(w, "value");
		doc_writer_i64(w, o->observations);
		doc_writer_key(w, "types");
		types_list(w, o->types);
		doc_writer_key(w, "devices");
		doc_writer_i64(w, o->n_devices);
		min_age(w, o->min_age_s);
		doc_writer_close(w, '}');
	}
	if (o->labels & L2_LABEL_ZEROMAC) {
		doc_writer_key(w, l2_label_name(L2_LABEL_ZEROMAC));
		doc_writer_open(w, '{');
		doc_writer_key(w, "value");
		doc_writer_i64(w, o->observations);
		doc_writer_key(w, "devices");
		doc_writer_i64(w, o->n_devices);
		doc_writer_close(w, '}');
	}
	doc_writer_close(w, '}');
}

static void mac_doc(struct doc_writer *w, const struct l2_merge *m, const struct l2_mac *o,
                    const char *ts)
{
	base(w, m, "arpMac", ts);
	doc_writer_key(w, "mac");
	doc_writer_mac(w, o->mac);
	doc_writer_member_text(w, "device", m->devs[o->device]);
	doc_writer_key(w, "timestamp");
	doc_writer_i64(w, (int64_t)o->timestamp_ms);
	doc_writer_key(w, "ipList");
	doc_writer_open(w, '[');
	for (uint32_t k = 0; k < o->n_ips; k++)
		doc_writer_addr(w, &o->ips[k]);
	doc_writer_close(w, ']');
	doc_writer_key(w, "interfaceList");
	doc_writer_open(w, '[');
	for (uint32_t k = 0; k < o->n_ifnames; k++)
		doc_writer_text(w, o->ifnames[k]);
	doc_writer_close(w, ']');
	doc_writer_key(w, "vlanList");
	doc_writer_open(w, '[');
	for (uint32_t k = 0; k < o->n_vlans; k++)
		doc_writer_i64(w, o->vlans[k]);
	doc_writer_close(w, ']');
	doc_writer_key(w, "typeList");
	types_list(w, o->types);
	doc_writer_key(w, "observations");
	doc_writer_i64(w, o->observations);
	doc_writer_key(w, "labels");
	doc_writer_open(w, '[');
	doc_writer_close(w, ']');
	doc_writer_key(w, "reasons");
	doc_writer_open(w, '{');
	doc_writer_close(w, '}');
}

/*
 * "mac@device"; a device name too long for DOC_KEY_MAX keeps its head and
 * gets "~" and the FNV-1a of the whole name, so keys stay unique.
 */
static void mac_key(const struct l2_merge *m, const struct l2_mac *o, char *key, size_t len)
{
	char mac[24], tmp[160];
	const char *dev = m->devs[o->device];

	l2_mac_format(o->mac, mac, sizeof(mac));
	int n = snprintf(tmp, sizeof(tmp), "%s@%s", mac, dev);
	if (n < 0 || (size_t)n >= len) {
		/* 17 (mac) + 1 + head + 1 + 8 (hash) + NUL. */
		int head = (int)len - 17 - 1 - 1 - 8 - 1;
		snprintf(tmp, sizeof(tmp), "%s@%.*s~%08x", mac, head > 0 ? head : 0, dev,
		         fnv1a(dev, strlen(dev), 2166136261u));
	}
	size_t k = strnlen(tmp, len - 1);
	memcpy(key, tmp, k);
	key[k] = '\0';
}

int l2_doc_build(const struct l2_merge *m, struct doc_batch *out)
{
	char ts[32], key[DOC_KEY_MAX];
	int rc = 0;

	if (!m->finished)
		return -EINVAL;
	struct doc_writer *w = doc_writer_create();
	if (!w)
		return -ENOMEM;
	doc_timestamp(m->time_slot, ts, sizeof(ts));
	for (uint32_t k = 0; rc == 0 && k < m->n_ips; k++) {
		flow_addr_format(&m->ips[k].ip, key, sizeof(key));
		ip_doc(w, m, &m->ips[k], ts);
		rc = doc_writer_emit(w, "arpIp", key, out);
	}
	for (uint32_t k = 0; rc == 0 && k < m->n_macs; k++) {
		mac_key(m, &m->macs[k], key, sizeof(key));
		mac_doc(w, m, &m->macs[k], ts);
		rc = doc_writer_emit(w, "arpMac", key, out);
	}
	doc_writer_destroy(w);
	return rc;
}

/* ---- the judge's facts of an IP (judge.h: struct judge_arp) ---------------- */

/* Whether the device named name is one of site's gateways. */
static bool is_gateway(const struct site_config *site, const char *name)
{
	for (size_t k = 0; site && name && k < site->n_devices; k++)
		if (site->devices[k].gateway && strcmp(site->devices[k].name, name) == 0)
			return true;
	return false;
}

static bool mac_zero(const uint8_t mac[6])
{
	static const uint8_t z[6];
	return memcmp(mac, z, 6) == 0;
}

/*
 * Whether a gateway showed some address of ip's subnet (its /24, or /64 for
 * IPv6): then ip is on a network that gateway serves, and its ARP table is
 * where ip must be. An inside network routed behind another router shows up
 * in no gateway's table at all. The merge's IPs are sorted by address.
 */
static bool gateway_serves(const struct l2_merge *m, const struct site_config *site,
                           const struct flow_addr *ip)
{
	size_t n = 0, lo = 0, hi;
	const struct l2_ip *v = l2_merge_ips(m, &n);
	size_t plen = flow_addr_is_v4(ip) ? 15 : 8; /* bytes of the subnet */
	struct flow_addr first = *ip;

	memset(first.b + plen, 0, sizeof(first.b) - plen);
	hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(v[mid].ip.b, first.b, sizeof(first.b)) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k < n && memcmp(v[k].ip.b, first.b, plen) == 0; k++)
		for (uint32_t d = 0; d < v[k].n_devices; d++)
			if (is_gateway(site, l2_merge_device_name(m, v[k].devices[d])))
				return true;
	return false;
}

void l2_merge_arp(const struct l2_merge *m, const struct site_config *site,
                  const struct flow_addr *ip, struct judge_arp *out)
{
	const char *name;
	const uint32_t resolved =
	    1u << L2_STATE_DYNAMIC | 1u << L2_STATE_STATIC | 1u << L2_STATE_INTERFACE;

	memset(out, 0, sizeof(*out));
	out->min_age_s = -1;
	bool polled = false;
	for (unsigned d = 0; (name = l2_merge_device_name(m, d)) != NULL; d++)
		if (is_gateway(site, name))
			polled = true;
	out->gateway_polled = polled && gateway_serves(m, site, ip);
	const struct l2_ip *o = l2_merge_ip_find(m, ip);
	if (!o)
		return;
	out->types = o->types;
	out->min_age_s = o->min_age_s;
	out->devices = o->n_devices;
	out->resolved = (o->types & resolved) != 0;
	for (uint32_t k = 0; k < o->n_devices; k++)
		if (is_gateway(site, l2_merge_device_name(m, o->devices[k])))
			out->on_gateway = true;
	out->incomplete_gw = out->on_gateway && (o->types & 1u << L2_STATE_INCOMPLETE);
	bool zero = o->n_macs > 0;
	for (uint32_t i = 0; i < o->n_macs; i++) {
		if (mac_zero(o->macs[i]))
			continue;
		zero = false;
		size_t n = 0;
		const struct l2_mac *bm = l2_merge_mac_find(m, o->macs[i], &n);
		for (size_t k = 0; bm && k < n; k++)
			if ((bm[k].types & resolved) &&
			    is_gateway(site, l2_merge_device_name(m, bm[k].device)))
				out->resolved_gw = true;
	}
	/*
	 * Only MAC zero on an entry a device calls resolved: IOS-XR shows
	 * every Incomplete entry with 0000.0000.0000, which says nothing more.
	 */
	out->zero_mac = zero && out->resolved;
}


/* ---- the documents' view of the merge (doc.h: struct doc_l2) -------------- */

static void doc_arp(const void *ud, const struct site_config *site, const struct flow_addr *ip,
                    struct judge_arp *out)
{
	l2_merge_arp(ud, site, ip, out);
}

static bool doc_unresolved(const void *ud, const struct flow_addr *ip)
{
	return l2_merge_unresolved(ud, ip);
}

static uint32_t doc_macs(const void *ud, const struct flow_addr *ip, const uint8_t (**out)[6])
{
	const struct l2_ip *o = l2_merge_ip_find(ud, ip);

	if (!o)
		return 0;
	*out = (const uint8_t(*)[6])o->macs;
	return o->n_macs;
}

static bool doc_place(const void *ud, const uint8_t mac[6], uint32_t k, struct doc_l2_place *out)
{
	const struct l2_merge *m = ud;
	size_t n = 0;
	const struct l2_mac *bm = l2_merge_mac_find(m, mac, &n);

	if (!bm || k >= n)
		return false;
	out->device = m->devs[bm[k].device];
	out->ifnames = bm[k].ifnames;
	out->n_ifnames = bm[k].n_ifnames;
	return true;
}

void l2_merge_doc_bind(const struct l2_merge *m, struct doc_l2 *out)
{
	out->unresolved = doc_unresolved;
	out->arp = doc_arp;
	out->macs = doc_macs;
	out->place = doc_place;
	out->ud = m;
}
