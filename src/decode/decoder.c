/*
 * decoder: the public entry points (decoder.h), the exporter table, sequence
 * tracking, sampling state and the output batch. Version dispatch happens
 * here once per datagram; the wire formats live in v5.c, v9.c and ipfix.c,
 * templates and record decoding in tmpl.c.
 *
 * Not here: parsing of any set or record.
 */
#include "nfsentry/decoder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nfsentry/counter.h"
#include "nfsentry/fault.h"
#include "nfsentry/grow.h"
#include "nfsentry/log.h"

/*
 * The decoder's counters, in the order documents list them. The drop
 * reasons are the entries from DECODER_COUNTER_DROPS on, in enum order;
 * decoder_drop_name() reads its names from here.
 */
#define DROP(k, nm, help) COUNTER_DEF(decoder_stats, drops[k], nm, COUNTER_TOTAL, help)
static const struct counter_def decoder_counter_defs[] = {
    COUNTER_DEF(decoder_stats, datagrams, "datagrams", COUNTER_TOTAL,
                "Export datagrams handed to the decoder."),
    COUNTER_DEF(decoder_stats, datagrams_v5, "datagramsV5", COUNTER_TOTAL,
                "NetFlow v5 datagrams decoded."),
    COUNTER_DEF(decoder_stats, datagrams_v9, "datagramsV9", COUNTER_TOTAL,
                "NetFlow v9 datagrams decoded."),
    COUNTER_DEF(decoder_stats, datagrams_ipfix, "datagramsIpfix", COUNTER_TOTAL,
                "IPFIX messages decoded."),
    COUNTER_DEF(decoder_stats, records, "records", COUNTER_TOTAL, "Flow records decoded."),
    COUNTER_DEF(decoder_stats, lost_datagrams, "lostDatagrams", COUNTER_TOTAL,
                "Datagrams lost, estimated from NetFlow v9 sequence numbers."),
    COUNTER_DEF(decoder_stats, lost_records, "lostRecords", COUNTER_TOTAL,
                "Records lost, estimated from NetFlow v5 and IPFIX sequence numbers."),
    COUNTER_DEF(decoder_stats, exporter_restarts, "exporterRestarts", COUNTER_TOTAL,
                "Exporter restarts seen in sequence numbers or uptime."),
    COUNTER_DEF(decoder_stats, exporters, "exporters", COUNTER_GAUGE,
                "Exporters (address, port, observation domain) known now."),
    COUNTER_DEF(decoder_stats, exporters_expired, "exportersExpired", COUNTER_TOTAL,
                "Idle exporters forgotten to make room in a full exporter table."),
    COUNTER_DEF(decoder_stats, reordered, "reordered", COUNTER_TOTAL,
                "Datagrams slightly behind the expected sequence number."),
    COUNTER_DEF(decoder_stats, templates_added, "templatesAdded", COUNTER_TOTAL,
                "Templates new or redefined."),
    COUNTER_DEF(decoder_stats, templates_refreshed, "templatesRefreshed", COUNTER_TOTAL,
                "Identical templates resent: only their age reset."),
    COUNTER_DEF(decoder_stats, templates_withdrawn, "templatesWithdrawn", COUNTER_TOTAL,
                "Templates withdrawn by their exporter."),
    COUNTER_DEF(decoder_stats, templates_expired, "templatesExpired", COUNTER_TOTAL,
                "Templates expired after the template lifetime."),
    COUNTER_DEF(decoder_stats, unscaled_records, "unscaledRecords", COUNTER_TOTAL,
                "Records of a sampling exporter delivered unscaled: their sampler's rate "
                "not yet announced."),
    COUNTER_DEF(decoder_stats, templates_restored, "templatesRestored", COUNTER_TOTAL,
                "Templates loaded at start from the restart file."),
    COUNTER_DEF(decoder_stats, templates_stale, "templatesStale", COUNTER_TOTAL,
                "Templates in the restart file older than the template lifetime: not loaded."),
    COUNTER_DEF(decoder_stats, samplers_restored, "samplersRestored", COUNTER_TOTAL,
                "Sampler rates loaded at start from the restart file."),
    COUNTER_DEF(decoder_stats, template_bytes, "templateBytes", COUNTER_GAUGE,
                "Bytes of templates held now, across every exporter."),
    COUNTER_DEF(decoder_stats, exporters_probation, "exportersProbation", COUNTER_GAUGE,
                "Exporter sessions in probation: nothing decoded from them yet."),
    COUNTER_DEF(decoder_stats, exporters_evicted, "exportersEvicted", COUNTER_TOTAL,
                "Exporter sessions in probation evicted to make room for a new one."),
    COUNTER_DEF(decoder_stats, seq_inclusive, "sequenceInclusive", COUNTER_TOTAL,
                "IPFIX sessions found numbering their messages by the records up to and "
                "including them (softflowd): their loss is counted that way."),
    DROP(DECODER_DROP_NOT_ALLOWED, "notAllowed",
         "Datagrams dropped: exporter not in the allow-list."),
    DROP(DECODER_DROP_SHORT_HEADER, "shortHeader", "Datagrams dropped: shorter than their header."),
    DROP(DECODER_DROP_BAD_VERSION, "badVersion", "Datagrams dropped: not version 5, 9 or 10."),
    DROP(DECODER_DROP_BAD_LENGTH, "badLength",
         "Datagrams dropped: header length or count disagrees with the size."),
    DROP(DECODER_DROP_EXPORTER_LIMIT, "exporterLimit",
         "Datagrams that decoded from a session in probation that found every place of the "
         "exporter table taken (it stays in probation)."),
    DROP(DECODER_DROP_SET_LENGTH, "setLength",
         "Sets longer than what remains of their datagram (rest dropped)."),
    DROP(DECODER_DROP_TEMPLATE_INVALID, "templateInvalid",
         "Templates dropped: field count or length beyond limits."),
    DROP(DECODER_DROP_TEMPLATE_LIMIT, "templateLimit",
         "Templates dropped: per-exporter cap reached."),
    DROP(DECODER_DROP_NO_TEMPLATE, "noTemplate", "Data sets dropped: template unknown."),
    DROP(DECODER_DROP_RECORD_INVALID, "recordInvalid",
         "Sets ending in a truncated record (the trailing bytes dropped)."),
    DROP(DECODER_DROP_SET_SHORT, "setShort",
         "Sets shorter than 4 bytes (rest of datagram dropped)."),
    DROP(DECODER_DROP_VARLEN, "varlen",
         "Records whose variable length runs past the set (rest of set dropped)."),
    DROP(DECODER_DROP_SET_RESERVED, "setReserved", "Sets with a reserved set ID, skipped."),
    DROP(DECODER_DROP_TEMPLATE_UNKNOWN, "templateUnknown", "Withdrawals of templates not held."),
    DROP(DECODER_DROP_NO_MEMORY, "noMemory", "Datagrams or templates dropped: allocation failed."),
    DROP(DECODER_DROP_NO_ADDRESS, "noAddress",
         "Records dropped: no usable source and destination address."),
    DROP(DECODER_DROP_TEMPLATE_MEMORY, "templateMemory",
         "Templates dropped: template memory cap (all exporters) reached."),
    DROP(DECODER_DROP_EXPORTER_ADDRESS, "exporterAddressLimit",
         "Datagrams dropped: new exporter session beyond its address's domain or port limit."),
};
#undef DROP

/* Where the drop reasons start in decoder_counter_defs. */
#define DECODER_COUNTER_DROPS 23
_Static_assert(sizeof(decoder_counter_defs) / sizeof(decoder_counter_defs[0]) ==
                   DECODER_COUNTER_DROPS + DECODER_DROP__COUNT,
               "one decoder counter per field of struct decoder_stats");

const struct counter_table decoder_counters =
    COUNTER_TABLE("decoder", decoder_counter_defs, decoder_stats);

const char *decoder_drop_name(enum decoder_drop why)
{
	if ((unsigned)why >= DECODER_DROP__COUNT)
		return "unknown";
	return decoder_counter_defs[DECODER_COUNTER_DROPS + why].name;
}

void decoder_config_defaults(struct decoder_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->template_lifetime_s = 1800;
	cfg->max_templates_per_exporter = 1024;
	cfg->max_exporters = 4096;
	cfg->max_template_bytes = DECODER_TEMPLATE_BYTES_DEFAULT;
	cfg->max_domains_per_address = 64;
	cfg->max_ports_per_address = 16;
}

struct decoder *decoder_create(const struct decoder_config *cfg)
{
	struct decoder *d = fault_calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->cfg = *cfg;
	if (d->cfg.max_exporters == 0)
		d->cfg.max_exporters = 1;
	if (d->cfg.max_templates_per_exporter == 0)
		d->cfg.max_templates_per_exporter = 1;
	if (d->cfg.max_template_bytes == 0)
		d->cfg.max_template_bytes = 1;
	if (d->cfg.max_domains_per_address == 0)
		d->cfg.max_domains_per_address = 1;
	if (d->cfg.max_ports_per_address == 0)
		d->cfg.max_ports_per_address = 1;
	d->prob_max = d->cfg.max_exporters / 16 ? d->cfg.max_exporters / 16 : 1;
	if (cfg->n_allow) {
		d->allow = fault_calloc(cfg->n_allow, sizeof(*d->allow));
		if (!d->allow)
			goto fail;
		memcpy(d->allow, cfg->allow, cfg->n_allow * sizeof(*d->allow));
	}
	if (cfg->n_sampling) {
		d->sampling = fault_calloc(cfg->n_sampling, sizeof(*d->sampling));
		if (!d->sampling)
			goto fail;
		memcpy(d->sampling, cfg->sampling, cfg->n_sampling * sizeof(*d->sampling));
	}
	d->cfg.allow = d->allow;
	d->cfg.sampling = d->sampling;
	return d;
fail:
	decoder_destroy(d);
	return NULL;
}

/* The scope's key: the exporter's address, and its port only per session. */
static struct flow_endpoint scope_from(const struct decoder *d, const struct flow_endpoint *from)
{
	struct flow_endpoint k = {.addr = from->addr};

	if (d->cfg.template_scope == DECODER_SCOPE_SESSION)
		k.port = from->port;
	return k;
}

static uint32_t exporter_hash(const struct flow_endpoint *from, uint32_t domain, uint8_t version);
static uint32_t override_rate(const struct decoder *d, const struct flow_addr *a);

static void scope_index_put(struct dec_scope **slots, uint32_t cap, struct dec_scope *sc)
{
	uint32_t i = exporter_hash(&sc->from, sc->domain, sc->version) & (cap - 1);

	while (slots[i]) {
		if (slots[i] == sc)
			return; /* already there (an index rebuilt from the sessions) */
		i = (i + 1) & (cap - 1);
	}
	slots[i] = sc;
}

/* The scope of key (from, domain, version), or NULL. */
static struct dec_scope *scope_find(const struct decoder *d, const struct flow_endpoint *from,
                                    uint32_t domain, uint8_t version)
{
	if (!d->scap)
		return NULL;
	uint32_t i = exporter_hash(from, domain, version) & (d->scap - 1);
	struct dec_scope *sc;

	while ((sc = d->sslots[i])) {
		if (sc->domain == domain && sc->version == version && sc->from.port == from->port &&
		    memcmp(sc->from.addr.b, from->addr.b, 16) == 0)
			return sc;
		i = (i + 1) & (d->scap - 1);
	}
	return NULL;
}

/* Rebuild the scope index from the sessions (after some were removed). */
static void scope_index_rebuild(struct decoder *d)
{
	if (!d->scap)
		return;
	memset(d->sslots, 0, d->scap * sizeof(*d->sslots));
	for (size_t i = 0; i < d->n_exp; i++)
		scope_index_put(d->sslots, d->scap, d->list[i]->sc);
	for (size_t i = 0; i < d->n_restored; i++)
		scope_index_put(d->sslots, d->scap, d->restored[i]);
}

/*
 * Delete the entry at slot i of an open-addressing index of cap slots,
 * shifting back the followers of its probe run (no tombstones); home gives
 * an entry's home slot.
 */
static void index_delete(void **slots, uint32_t cap, uint32_t i, uint32_t (*home)(const void *))
{
	uint32_t m = cap - 1, j = i;

	slots[i] = NULL;
	for (;;) {
		j = (j + 1) & m;
		if (!slots[j])
			return;
		uint32_t k = home(slots[j]) & m;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			slots[i] = slots[j];
			slots[j] = NULL;
			i = j;
		}
	}
}

/* Delete p from the index, where it is known to be. */
static void index_remove(void **slots, uint32_t cap, const void *p, uint32_t (*home)(const void *))
{
	uint32_t i = home(p) & (cap - 1);

	while (slots[i] != p)
		i = (i + 1) & (cap - 1);
	index_delete(slots, cap, i, home);
}

static uint32_t scope_home(const void *p)
{
	const struct dec_scope *sc = p;
	return exporter_hash(&sc->from, sc->domain, sc->version);
}

/* One session less for sc: freed with its templates when it was the last. */
static void scope_release(struct decoder *d, struct dec_scope *sc)
{
	if (--sc->refs)
		return;
	index_remove((void **)d->sslots, d->scap, sc, scope_home);
	dec_tmpl_free_all(sc);
	free(sc);
	d->n_scope--;
}

void decoder_destroy(struct decoder *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_restored; i++)
		scope_release(d, d->restored[i]);
	free(d->restored);
	for (size_t i = 0; i < d->n_exp; i++) {
		scope_release(d, d->list[i]->sc);
		free(d->list[i]);
	}
	for (uint32_t i = 0; i < d->acap; i++)
		free(d->aslots[i]);
	free(d->aslots);
	free(d->prob);
	free(d->list);
	free(d->eslots);
	free(d->sslots);
	free(d->allow);
	free(d->sampling);
	free(d);
}

struct dec_scope *dec_scope_find(const struct decoder *d, const struct flow_endpoint *from,
                                 uint32_t domain, uint8_t version)
{
	return scope_find(d, from, domain, version);
}

int dec_scope_index_reserve(struct decoder *d, size_t n)
{
	uint32_t ncap = d->scap ? d->scap : 16;

	while ((d->n_scope + n) * 2 > ncap) {
		if (ncap > UINT32_MAX / 2)
			return DEC_ERR(DECODER_DROP_NO_MEMORY);
		ncap *= 2;
	}
	if (ncap == d->scap)
		return 0;
	struct dec_scope **ns = fault_calloc(ncap, sizeof(*ns));
	if (!ns)
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	free(d->sslots);
	d->sslots = ns;
	d->scap = ncap;
	scope_index_rebuild(d);
	return 0;
}

void dec_scope_restore(struct decoder *d, struct dec_scope *sc)
{
	sc->override_rate = override_rate(d, &sc->from.addr);
	dec_scope_rate_update(sc);
	sc->refs = 1; /* the restored list's */
	d->restored[d->n_restored++] = sc;
	scope_index_put(d->sslots, d->scap, sc);
	d->n_scope++;
}

void dec_restored_release(struct decoder *d)
{
	size_t n = d->n_restored;

	/* Emptied first: the rebuild below must not put the freed ones back. */
	d->n_restored = 0;
	for (size_t i = 0; i < n; i++)
		scope_release(d, d->restored[i]);
	free(d->restored);
	d->restored = NULL;
	scope_index_rebuild(d);
	d->persist_gen++;
}

void decoder_stats_get(const struct decoder *d, struct decoder_stats *out)
{
	*out = d->st;
	out->exporters = d->n_exp;
	out->template_bytes = d->tmpl_bytes;
	out->exporters_probation = d->n_prob;
}

size_t decoder_exporters_get(const struct decoder *d, struct decoder_exporter_info *out, size_t max)
{
	for (size_t i = 0; i < d->n_exp && i < max; i++) {
		const struct dec_exporter *e = d->list[i];
		struct decoder_exporter_info *o = &out[i];

		memset(o, 0, sizeof(*o));
		o->from = e->from;
		o->domain = e->domain;
		o->version = e->version;
		o->sampling = dec_rate_none(e->sc);
		o->templates = e->sc->ntmpl;
		o->datagrams = e->datagrams;
		o->records = e->records;
		o->lost_datagrams = e->lost_datagrams;
		o->lost_records = e->lost_records;
		o->restarts = e->restarts;
		o->last_seen_ms = e->last_seen_ms;
	}
	return d->n_exp;
}

static uint32_t exporter_hash(const struct flow_endpoint *from, uint32_t domain, uint8_t version)
{
	/* FNV-1a over the key: exporters are few and this runs once per datagram. */
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < 16; i++)
		h = (h ^ from->addr.b[i]) * 16777619u;
	h = (h ^ from->port) * 16777619u;
	h = (h ^ domain) * 16777619u;
	h = (h ^ version) * 16777619u;
	return h ^ (h >> 15);
}

static bool exporter_is(const struct dec_exporter *e, const struct flow_endpoint *from,
                        uint32_t domain, uint8_t version)
{
	return e->domain == domain && e->version == version && e->from.port == from->port &&
	       memcmp(e->from.addr.b, from->addr.b, 16) == 0;
}

static void exporter_index_put(struct dec_exporter **slots, uint32_t cap, struct dec_exporter *e)
{
	uint32_t i = exporter_hash(&e->from, e->domain, e->version) & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = e;
}

static uint32_t exporter_home(const void *p)
{
	const struct dec_exporter *e = p;
	return exporter_hash(&e->from, e->domain, e->version);
}

/* Keep the index at most half full; capacity never exceeds 2 * sessions rounded up. */
static int exporter_index_grow(struct decoder *d)
{
	uint32_t ncap = d->ecap ? d->ecap * 2 : 16;
	struct dec_exporter **ns = fault_calloc(ncap, sizeof(*ns));

	if (!ns)
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	for (size_t i = 0; i < d->n_exp; i++)
		exporter_index_put(ns, ncap, d->list[i]);
	free(d->eslots);
	d->eslots = ns;
	d->ecap = ncap;
	return 0;
}

static uint32_t addr_hash(const struct flow_addr *a)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < 16; i++)
		h = (h ^ a->b[i]) * 16777619u;
	return h ^ (h >> 15);
}

static uint32_t addr_home(const void *p)
{
	return addr_hash(&((const struct dec_addr *)p)->addr);
}

static void addr_index_put(struct dec_addr **slots, uint32_t cap, struct dec_addr *a)
{
	uint32_t i = addr_hash(&a->addr) & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = a;
}

/* The entry of address a, or NULL. */
static struct dec_addr *addr_find(const struct decoder *d, const struct flow_addr *a)
{
	if (!d->acap)
		return NULL;
	uint32_t i = addr_hash(a) & (d->acap - 1);
	struct dec_addr *ad;

	while ((ad = d->aslots[i])) {
		if (memcmp(ad->addr.b, a->b, 16) == 0)
			return ad;
		i = (i + 1) & (d->acap - 1);
	}
	return NULL;
}

/* The entry of address a, created when new; NULL on ENOMEM. */
static struct dec_addr *addr_get(struct decoder *d, const struct flow_addr *a)
{
	struct dec_addr *ad = addr_find(d, a);

	if (ad)
		return ad;
	if ((d->n_addr + 1) * 2 > d->acap) {
		uint32_t ncap = d->acap ? d->acap * 2 : 16;
		struct dec_addr **ns = fault_calloc(ncap, sizeof(*ns));
		if (!ns)
			return NULL;
		for (uint32_t i = 0; i < d->acap; i++)
			if (d->aslots[i])
				addr_index_put(ns, ncap, d->aslots[i]);
		free(d->aslots);
		d->aslots = ns;
		d->acap = ncap;
	}
	ad = fault_calloc(1, sizeof(*ad));
	if (!ad)
		return NULL;
	ad->addr = *a;
	addr_index_put(d->aslots, d->acap, ad);
	d->n_addr++;
	return ad;
}

/* Does a session of ad other than skip use this domain (and version) / port? */
static bool addr_has_domain(const struct dec_addr *ad, const struct dec_exporter *skip,
                            uint32_t domain, uint8_t version)
{
	for (const struct dec_exporter *o = ad->head; o; o = o->anext)
		if (o != skip && o->domain == domain && o->version == version)
			return true;
	return false;
}

static bool addr_has_port(const struct dec_addr *ad, const struct dec_exporter *skip, uint16_t port)
{
	for (const struct dec_exporter *o = ad->head; o; o = o->anext)
		if (o != skip && o->from.port == port)
			return true;
	return false;
}

static uint32_t override_rate(const struct decoder *d, const struct flow_addr *a)
{
	for (size_t i = 0; i < d->cfg.n_sampling; i++)
		if (memcmp(d->sampling[i].exporter.b, a->b, 16) == 0)
			return d->sampling[i].rate ? d->sampling[i].rate : 1;
	return 0;
}

/* Take session e out of the probation array. */
static void prob_remove(struct decoder *d, struct dec_exporter *e)
{
	struct dec_exporter *last = d->prob[--d->n_prob];

	d->prob[e->prob_i] = last;
	last->prob_i = e->prob_i;
}

/*
 * Forget session e: out of the index, the list, probation and its
 * address's list; its scope released (freed with the last session). Every
 * step is O(1) but the address's list, which the per-address limits keep
 * short.
 */
static void exporter_remove(struct decoder *d, struct dec_exporter *e)
{
	struct dec_addr *ad = e->ad;

	index_remove((void **)d->eslots, d->ecap, e, exporter_home);
	struct dec_exporter *last = d->list[--d->n_exp];
	d->list[e->list_i] = last;
	last->list_i = e->list_i;
	if (e->proven)
		d->n_proven--;
	else
		prob_remove(d, e);
	struct dec_exporter **pp = &ad->head;
	while (*pp != e)
		pp = &(*pp)->anext;
	*pp = e->anext;
	ad->sessions--;
	if (!addr_has_domain(ad, NULL, e->domain, e->version))
		ad->domains--;
	if (!addr_has_port(ad, NULL, e->from.port))
		ad->ports--;
	if (!ad->sessions) {
		index_remove((void **)d->aslots, d->acap, ad, addr_home);
		d->n_addr--;
		free(ad);
	}
	scope_release(d, e->sc);
	if (d->last_exp == e)
		d->last_exp = NULL;
	free(e);
}

/*
 * The table is full: drop exporters silent for longer than a template
 * lifetime (their templates have expired anyway), so that a burst of
 * sources that once decoded cannot lock real exporters out until a
 * restart. Runs at most once a second of collector clock, so a flood that
 * keeps the table full costs one O(n) pass a second, not one per datagram.
 * The list is walked backwards: removal moves the last entry into the hole.
 */
static void exporter_sweep(struct decoder *d, uint64_t now_ms)
{
	uint64_t idle_ms = (uint64_t)d->cfg.template_lifetime_s * 1000u;

	if (d->last_sweep_ms && now_ms - d->last_sweep_ms < 1000 && now_ms >= d->last_sweep_ms)
		return;
	d->last_sweep_ms = now_ms ? now_ms : 1;
	for (size_t i = d->n_exp; i-- > 0;) {
		struct dec_exporter *e = d->list[i];
		if (now_ms > e->last_seen_ms && now_ms - e->last_seen_ms > idle_ms) {
			exporter_remove(d, e);
			d->st.exporters_expired++;
		}
	}
}

/*
 * Evict one session in probation, round robin from prob_hand: of the two
 * under the hand the one seen longer ago, so that a session still sending
 * (a real exporter whose template is yet to come) outlasts a spoofed one.
 */
static void prob_evict(struct decoder *d)
{
	struct dec_exporter *e = d->prob[d->prob_hand % d->n_prob];

	if (d->n_prob > 1) {
		struct dec_exporter *o = d->prob[(d->prob_hand + 1) % d->n_prob];
		if (o->last_seen_ms < e->last_seen_ms)
			e = o;
	}
	d->prob_hand++;
	exporter_remove(d, e);
	d->st.exporters_evicted++;
	d->evicted_since_log++;
}

/*
 * At most once a minute while new sessions are refused or evicted: the
 * table's state and the three addresses with the most sessions (one pass
 * over the address index, only when the line is printed).
 */
static void exporter_full_log(struct decoder *d, uint64_t now_ms)
{
	if (log_level_cur < LOG_LVL_WARN || !log_ratelimit_ok(&d->log_full_ms, now_ms, 60000))
		return;
	const struct dec_addr *top[3] = {NULL, NULL, NULL};
	for (uint32_t i = 0; i < d->acap; i++) {
		const struct dec_addr *ad = d->aslots[i];
		if (!ad)
			continue;
		for (int k = 0; k < 3; k++) {
			if (!top[k] ||
			    ad->sessions + ad->refused > top[k]->sessions + top[k]->refused) {
				for (int m = 2; m > k; m--)
					top[m] = top[m - 1];
				top[k] = ad;
				break;
			}
		}
	}
	char list[3 * 96] = "";
	size_t off = 0;
	for (int k = 0; k < 3 && top[k]; k++) {
		char a[64];
		flow_addr_format(&top[k]->addr, a, sizeof(a));
		int n = snprintf(list + off, sizeof(list) - off,
		                 "%s%s (%u sessions: %u domains, %u ports; %llu refused)",
		                 k ? ", " : "", a, top[k]->sessions, top[k]->domains, top[k]->ports,
		                 (unsigned long long)top[k]->refused);
		if (n < 0 || (size_t)n >= sizeof(list) - off)
			break;
		off += (size_t)n;
	}
	log_warn("decoder: exporter table full (or an address at its limit): %zu decoding sessions "
	         "of %u, %u of %u in probation; "
	         "%llu new sessions refused and %llu evicted from probation since the last line; "
	         "top addresses: %s",
	         d->n_proven, d->cfg.max_exporters, d->n_prob, d->prob_max,
	         (unsigned long long)d->refused_since_log, (unsigned long long)d->evicted_since_log,
	         off ? list : "none");
	d->refused_since_log = 0;
	d->evicted_since_log = 0;
}

/*
 * A new session from ad (NULL: a new address) within the per-address
 * limits? At a limit, sessions of that address in probation are evicted
 * until there is room, so that a flood from an address cannot keep its
 * real exporter's new domain out; then decoding sessions of that address
 * silent for DEC_ADDR_IDLE_MS (an exporter's earlier socket); sessions
 * that decoded recently are never touched.
 */
#define DEC_ADDR_IDLE_MS 60000u
static bool addr_admit(struct decoder *d, const struct flow_endpoint *from, uint32_t domain,
                       uint8_t version, uint64_t now_ms)
{
	for (;;) {
		struct dec_addr *ad = addr_find(d, &from->addr);
		if (!ad)
			return true;
		bool dom_full = ad->domains >= d->cfg.max_domains_per_address &&
		                !addr_has_domain(ad, NULL, domain, version);
		bool port_full = ad->ports >= d->cfg.max_ports_per_address &&
		                 !addr_has_port(ad, NULL, from->port);
		if (!dom_full && !port_full)
			return true;
		/* The victim must free what is full: a domain or port no other session uses. */
		struct dec_exporter *v = NULL;
		unsigned tried = 0;
		for (struct dec_exporter *o = ad->head; o && !v && tried < 16; o = o->anext) {
			if (o->proven)
				continue;
			tried++; /* bounds the search: each candidate costs a walk of the list */
			if ((!dom_full || !addr_has_domain(ad, o, o->domain, o->version)) &&
			    (!port_full || !addr_has_port(ad, o, o->from.port)))
				v = o;
		}
		/*
		 * No session in probation to give way: the least recently seen
		 * decoding session of this address that has been silent for
		 * DEC_ADDR_IDLE_MS does. An exporter that restarts binds a new
		 * source port (softflowd, a router's flow process), and its old
		 * session, silent since, must not keep the new one out until the
		 * idle sweep; a flood of live sessions is still refused.
		 */
		for (struct dec_exporter *o = ad->head; o && !v; o = o->anext) {
			if (!o->proven || now_ms < o->last_seen_ms ||
			    now_ms - o->last_seen_ms < DEC_ADDR_IDLE_MS)
				continue;
			if ((!dom_full || !addr_has_domain(ad, o, o->domain, o->version)) &&
			    (!port_full || !addr_has_port(ad, o, o->from.port)))
				v = o;
		}
		if (!v) {
			ad->refused++;
			return false;
		}
		exporter_full_log(d, now_ms);
		exporter_remove(d, v);
		d->st.exporters_evicted++;
		d->evicted_since_log++;
	}
}

int dec_exporter_get(struct decoder *d, const struct flow_endpoint *from, uint32_t domain,
                     uint8_t version, uint64_t now_ms, struct dec_exporter **out)
{
	struct dec_exporter *e = d->last_exp;

	if (e && exporter_is(e, from, domain, version))
		goto found;
	if (d->ecap) {
		uint32_t i = exporter_hash(from, domain, version) & (d->ecap - 1);
		while ((e = d->eslots[i])) {
			if (exporter_is(e, from, domain, version))
				goto found;
			i = (i + 1) & (d->ecap - 1);
		}
	}
	/*
	 * A new session starts in probation (docs/decoding.md "Exporters"):
	 * the per-address limits first, then room in probation, made by
	 * evicting another session in probation; sessions that have decoded
	 * something are never pushed out by a newcomer.
	 */
	if (!addr_admit(d, from, domain, version, now_ms)) {
		d->refused_since_log++;
		exporter_full_log(d, now_ms);
		return DEC_ERR(DECODER_DROP_EXPORTER_ADDRESS);
	}
	if (d->n_prob >= d->prob_max) {
		exporter_full_log(d, now_ms);
		prob_evict(d);
	}
	size_t max_sessions = (size_t)d->cfg.max_exporters + d->prob_max;
	if ((d->n_exp + 1) * 2 > d->ecap && exporter_index_grow(d) != 0)
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	if (grow_array((void **)&d->list, &d->list_cap, d->n_exp + 1, sizeof(*d->list), 16,
	               max_sessions) != 0)
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	if (!d->prob && !(d->prob = fault_calloc(d->prob_max, sizeof(*d->prob))))
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	struct dec_addr *ad = addr_get(d, &from->addr);
	if (!ad)
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	/* Its scope: shared with the exporter's other sessions, or new. */
	struct flow_endpoint sk = scope_from(d, from);
	struct dec_scope *sc = scope_find(d, &sk, domain, version);
	if (!sc) {
		/* At most one scope per session: the index stays within 2 * sessions. */
		if ((d->n_scope + 1) * 2 > d->scap) {
			uint32_t ncap = d->scap ? d->scap * 2 : 16;
			struct dec_scope **ns = fault_calloc(ncap, sizeof(*ns));
			if (!ns)
				goto fail_addr;
			free(d->sslots);
			d->sslots = ns;
			d->scap = ncap;
			scope_index_rebuild(d);
		}
		sc = fault_calloc(1, sizeof(*sc));
		if (!sc)
			goto fail_addr;
		sc->from = sk;
		sc->bytes_total = &d->tmpl_bytes;
		sc->domain = domain;
		sc->version = version;
		sc->override_rate = override_rate(d, &from->addr);
		dec_scope_rate_update(sc);
	}
	e = fault_calloc(1, sizeof(*e));
	if (!e) {
		if (!sc->refs)
			free(sc);
		goto fail_addr;
	}
	if (!sc->refs++) {
		scope_index_put(d->sslots, d->scap, sc);
		d->n_scope++;
	}
	e->from = *from;
	e->domain = domain;
	e->version = version;
	e->sc = sc;
	e->list_i = (uint32_t)d->n_exp;
	d->list[d->n_exp++] = e;
	exporter_index_put(d->eslots, d->ecap, e);
	e->prob_i = d->n_prob;
	d->prob[d->n_prob++] = e;
	if (!addr_has_domain(ad, NULL, domain, version))
		ad->domains++;
	if (!addr_has_port(ad, NULL, from->port))
		ad->ports++;
	ad->sessions++;
	e->ad = ad;
	e->anext = ad->head;
	ad->head = e;
found:
	d->last_exp = e;
	e->last_seen_ms = now_ms;
	*out = e;
	return 0;
fail_addr:
	if (!ad->sessions) {
		index_remove((void **)d->aslots, d->acap, ad, addr_home);
		d->n_addr--;
		free(ad);
	}
	return DEC_ERR(DECODER_DROP_NO_MEMORY);
}

void dec_exporter_decoded(struct dec_ctx *c)
{
	struct decoder *d = c->d;
	struct dec_exporter *e = c->e;

	if (e->proven || (!c->delivered && !c->decoded))
		return;
	if (d->n_proven >= d->cfg.max_exporters)
		exporter_sweep(d, c->now_ms);
	/* No place (every one decoding and recently seen): it stays in
	 * probation, decoding as before, and tries again next datagram. */
	if (d->n_proven >= d->cfg.max_exporters) {
		d->st.drops[DECODER_DROP_EXPORTER_LIMIT]++;
		exporter_full_log(d, c->now_ms);
		return;
	}
	prob_remove(d, e);
	e->proven = true;
	d->n_proven++;
}

void dec_drop(struct dec_ctx *c, enum decoder_drop why, const char *detail)
{
	struct decoder *d = c->d;

	d->st.drops[why]++;
	/* One packet's fault is a counter; the log gets at most one line per
	 * reason per minute, naming the exporter, domain and set. */
	if (log_level_cur >= LOG_LVL_INFO &&
	    log_ratelimit_ok(&d->log_last_ms[why], c->now_ms, 60000)) {
		char a[64] = "?";
		if (c->e)
			flow_addr_format(&c->e->from.addr, a, sizeof(a));
		log_info("decoder: v%u exporter %s port %u domain %u set %u: %s (%s); "
		         "%llu so far",
		         c->version, a, c->e ? c->e->from.port : 0, c->e ? c->e->domain : 0,
		         c->set_id, decoder_drop_name(why), detail,
		         (unsigned long long)d->st.drops[why]);
	}
}

/*
 * Compare the datagram's sequence number with the one we expect. v9 counts
 * export packets (RFC 3954 §5.1), v5 and IPFIX count records (RFC 7011 §3.1).
 * A number slightly behind is a reordered datagram: counted, no loss, and
 * the expectation is left alone. sysUptime going backwards (v5/v9) or the
 * sequence jumping far back is a restart, never loss.
 */
void dec_seq_check(struct dec_ctx *c, uint32_t seq, bool datagrams)
{
	struct dec_exporter *e = c->e;
	struct decoder *d = c->d;
	bool up = c->version != 10;
	uint32_t window = datagrams ? DEC_LATE_WINDOW_DATAGRAMS : DEC_LATE_WINDOW_RECORDS;

	c->late = false;
	if (!e->seq_valid)
		goto done;
	int32_t diff = (int32_t)(seq - e->seq_next);
	/* Serial arithmetic makes the 49.7-day uptime wrap look like progress. */
	int32_t up_delta = up && e->has_uptime ? (int32_t)(c->uptime_ms - e->last_uptime) : 0;
	bool restarted = up_delta < -(int32_t)DEC_LATE_WINDOW_MS;

	if (diff == 0 && !restarted)
		goto done;
	if (!restarted && diff < 0 && (uint32_t) - (int64_t)diff <= window) {
		c->late = true;
		d->st.reordered++;
		return;
	}
	if (restarted || diff < 0) {
		d->st.exporter_restarts++;
		e->restarts++;
		goto done;
	}
	if (datagrams) {
		d->st.lost_datagrams += (uint32_t)diff;
		e->lost_datagrams += (uint32_t)diff;
	} else {
		d->st.lost_records += (uint32_t)diff;
		e->lost_records += (uint32_t)diff;
	}
done:
	if (up) {
		e->has_uptime = true;
		e->last_uptime = c->uptime_ms;
	}
}

void dec_seq_commit(struct dec_ctx *c, uint32_t seq, uint32_t n)
{
	struct dec_exporter *e = c->e;

	if (c->late)
		return;
	/* Records we could not decode were not counted: the next gap would be
	 * false loss, so resynchronise on the next datagram instead. */
	e->seq_valid = !c->incomplete;
	e->seq_next = seq + n;
}

/* Switch c's session to the inclusive numbering (incl) or back; counted, logged. */
static void seq_switch(struct dec_ctx *c, bool incl)
{
	struct dec_exporter *e = c->e;
	char a[64];

	e->seq_inclusive = incl;
	e->seq_votes = 0;
	if (incl)
		c->d->st.seq_inclusive++;
	/* At most one line a minute: a hostile session could switch every few messages. */
	if (log_level_cur < LOG_LVL_INFO || !log_ratelimit_ok(&c->d->log_seq_ms, c->now_ms, 60000))
		return;
	flow_addr_format(&e->from.addr, a, sizeof(a));
	log_info("decoder: IPFIX exporter %s port %u domain %u numbers its messages by the "
	         "records %s them; its loss is counted so",
	         a, e->from.port, e->domain, incl ? "up to and including" : "before");
}

/*
 * RFC 7011 §3.1 numbers an IPFIX message by the data records sent before it.
 * softflowd (1.1.0, ipfix.c) numbers it by the flow records sent up to and
 * including it (its options data records not counted), so every message
 * whose record count differs from the previous one's looks like loss or
 * reordering. A session starts with the RFC numbering; a message that fits
 * only the other numbering exactly (number minus its flow records = the last
 * number) is a vote and counts no loss; DEC_SEQ_VOTES of them, with no
 * message in between that fits only the current numbering, switch the
 * session (counted in seq_inclusive, logged). The same rule switches back.
 * Either way the check itself is dec_seq_check() on the number of the
 * message's first record.
 */
void dec_seq_ipfix(struct dec_ctx *c, uint32_t seq)
{
	struct dec_exporter *e = c->e;
	uint32_t n_flow = c->nrecords - c->noptions;
	bool incl = e->seq_inclusive;
	uint32_t first = incl ? seq - n_flow : seq;
	uint32_t n = incl ? n_flow : c->nrecords;

	if (e->seq_valid && !c->incomplete) {
		bool own = first == e->seq_next;
		bool other = incl ? seq == e->seq_last + e->seq_last_n
		                  : n_flow > 0 && seq - n_flow == e->seq_last;
		if (own && !other) {
			e->seq_votes = 0;
		} else if (!own && other) {
			if (++e->seq_votes >= DEC_SEQ_VOTES)
				seq_switch(c, !incl);
			/* In sequence by the other numbering: nothing lost. The next
			 * message is expected in the session's numbering (switched or not). */
			c->late = false;
			e->seq_next = e->seq_inclusive ? seq : seq + c->nrecords;
			e->seq_last = seq;
			e->seq_last_n = c->nrecords;
			return;
		}
	}
	dec_seq_check(c, first, false);
	dec_seq_commit(c, first, n);
	if (!c->late) {
		e->seq_last = seq;
		e->seq_last_n = c->nrecords;
	}
}

void dec_scope_rate_update(struct dec_scope *e)
{
	if (e->override_rate)
		e->rate_none = e->override_rate;
	else if (e->default_rate)
		e->rate_none = e->default_rate;
	else if (e->n_samplers == 0)
		e->rate_none = 1; /* nothing announced: an unsampled exporter */
	else if (e->n_samplers == 1)
		e->rate_none = e->samplers[0].rate;
	else
		e->rate_none = 0; /* which of several? (unscaledRecords) */
}

void dec_default_rate_set(struct dec_scope *e, uint32_t rate)
{
	if (e->default_rate == rate)
		return;
	e->default_rate = rate;
	dec_scope_rate_update(e);
}

void dec_sampler_set(struct dec_scope *e, bool has_id, uint64_t id, uint32_t rate, uint64_t now_ms)
{
	if (rate == 0)
		return;
	if (!has_id) {
		e->options_ms = now_ms;
		dec_default_rate_set(e, rate);
		return;
	}
	for (uint32_t i = 0; i < e->n_samplers; i++) {
		if (e->samplers[i].id == id) {
			e->samplers[i].rate = rate;
			e->samplers[i].seen_ms = now_ms;
			dec_scope_rate_update(e);
			return;
		}
	}
	uint32_t i =
	    e->n_samplers < DEC_SAMPLERS ? e->n_samplers++ : e->next_sampler++ % DEC_SAMPLERS;
	e->samplers[i].id = id;
	e->samplers[i].rate = rate;
	e->samplers[i].seen_ms = now_ms;
	dec_scope_rate_update(e);
}

uint32_t dec_sampler_rate(struct dec_scope *e, uint64_t id)
{
	uint32_t i = e->sampler_last;

	/* Records of one sampler come in runs: try the last hit first. */
	if (i < e->n_samplers && e->samplers[i].id == id)
		return e->samplers[i].rate;
	for (i = 0; i < e->n_samplers; i++) {
		if (e->samplers[i].id == id) {
			e->sampler_last = i;
			return e->samplers[i].rate;
		}
	}
	return 0;
}

void dec_flush(struct decoder *d)
{
	if (d->nbatch && d->sink)
		d->sink(d->ud, d->batch, d->nbatch);
	d->st.records += d->nbatch;
	d->nbatch = 0;
}

/*
 * A whole datagram dropped (allow-list, header, version, length, exporter
 * table): counted, and at most one log line per reason per minute naming
 * the sender and the first bytes in hex (never trusted as text), so that a
 * misconfigured exporter (sFlow or NetFlow v1 sent to our port, a length
 * field it gets wrong) shows in the log and not only as a counter.
 */
static void datagram_dropped(struct decoder *d, const struct flow_endpoint *from,
                             enum decoder_drop why, const uint8_t *p, size_t len,
                             uint64_t now_ms)
{
	d->st.drops[why]++;
	if (log_level_cur < LOG_LVL_INFO ||
	    !log_ratelimit_ok(&d->log_last_ms[why], now_ms, 60000))
		return;
	char a[64], hex[3 * 16 + 1] = "";
	size_t n = len < 16 ? len : 16;
	flow_addr_format(&from->addr, a, sizeof(a));
	for (size_t k = 0; k < n; k++)
		snprintf(hex + 3 * k, sizeof(hex) - 3 * k, "%02x ", p[k]);
	if (n)
		hex[3 * n - 1] = '\0';
	log_info("decoder: datagram from %s port %u dropped: %s (%zu bytes%s%s%s); %llu so far",
	         a, from->port, decoder_drop_name(why), len, n ? ": " : "", hex, len > n ? " ..." : "",
	         (unsigned long long)d->st.drops[why]);
}

int decoder_feed(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
                 uint64_t now_ms, decoder_sink_fn sink, void *ud)
{
	int rc;

	d->st.datagrams++;
	if (d->cfg.n_allow) {
		size_t i;
		for (i = 0; i < d->cfg.n_allow; i++)
			if (flow_addr_in_prefix(&from->addr, &d->allow[i].addr, d->allow[i].len))
				break;
		if (i == d->cfg.n_allow) {
			datagram_dropped(d, from, DECODER_DROP_NOT_ALLOWED, p, len, now_ms);
			return DEC_ERR(DECODER_DROP_NOT_ALLOWED);
		}
	}
	if (len < 2) {
		datagram_dropped(d, from, DECODER_DROP_SHORT_HEADER, p, len, now_ms);
		return DEC_ERR(DECODER_DROP_SHORT_HEADER);
	}
	/* Restored scopes no exporter came back for: freed after a template lifetime. */
	if (__builtin_expect(d->n_restored != 0, 0) && now_ms >= d->restored_until_ms)
		dec_restored_release(d);
	d->sink = sink;
	d->ud = ud;
	d->nbatch = 0;
	switch (get_u16be(p)) {
	case 5:
		d->st.datagrams_v5++;
		rc = dec_v5(d, from, p, len, now_ms);
		break;
	case 9:
		d->st.datagrams_v9++;
		rc = dec_v9(d, from, p, len, now_ms);
		break;
	case 10:
		d->st.datagrams_ipfix++;
		rc = dec_ipfix(d, from, p, len, now_ms);
		break;
	default:
		rc = DEC_ERR(DECODER_DROP_BAD_VERSION);
		break;
	}
	dec_flush(d);
	d->sink = NULL;
	d->ud = NULL;
	if (rc < 0 && DEC_REASON(rc) < DECODER_DROP__COUNT)
		datagram_dropped(d, from, (enum decoder_drop)DEC_REASON(rc), p, len, now_ms);
	return rc;
}

int decoder_sampling_set(struct decoder *d, const struct decoder_sampling_override *sampling,
                         size_t n_sampling)
{
	struct decoder_sampling_override *v = NULL;

	if (n_sampling) {
		v = fault_calloc(n_sampling, sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, sampling, n_sampling * sizeof(*v));
	}
	free(d->sampling);
	d->sampling = v;
	d->cfg.sampling = v;
	d->cfg.n_sampling = n_sampling;
	/* Every scope in the index (live sessions and restored ones) takes the new override. */
	for (uint32_t i = 0; i < d->scap; i++) {
		struct dec_scope *sc = d->sslots[i];
		if (sc) {
			sc->override_rate = override_rate(d, &sc->from.addr);
			dec_scope_rate_update(sc);
		}
	}
	return 0;
}

int decoder_allow_set(struct decoder *d, const struct decoder_prefix *allow, size_t n_allow)
{
	struct decoder_prefix *v = NULL;

	if (n_allow) {
		v = fault_calloc(n_allow, sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, allow, n_allow * sizeof(*v));
	}
	free(d->allow);
	d->allow = v;
	d->cfg.allow = v;
	d->cfg.n_allow = n_allow;
	return 0;
}
