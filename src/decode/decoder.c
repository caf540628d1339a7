/*
 * decoder: the public entry points (decoder.h), the exporter table, sequence
 * tracking, sampling state and the output batch. Version dispatch happens
 * here once per datagram; the wire formats live in v5.c, v9.c and ipfix.c,
 * templates and record decoding in tmpl.c.
 *
 * Not here: parsing of any set or record.
 */
#include "nfsentry/decoder.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nfsentry/fault.h"
#include "nfsentry/grow.h"
#include "nfsentry/log.h"

static const char *const drop_names[DECODER_DROP__COUNT] = {
    [DECODER_DROP_NOT_ALLOWED] = "not_allowed",
    [DECODER_DROP_SHORT_HEADER] = "short_header",
    [DECODER_DROP_BAD_VERSION] = "bad_version",
    [DECODER_DROP_BAD_LENGTH] = "bad_length",
    [DECODER_DROP_EXPORTER_LIMIT] = "exporter_limit",
    [DECODER_DROP_SET_LENGTH] = "set_length",
    [DECODER_DROP_TEMPLATE_INVALID] = "template_invalid",
    [DECODER_DROP_TEMPLATE_LIMIT] = "template_limit",
    [DECODER_DROP_NO_TEMPLATE] = "no_template",
    [DECODER_DROP_RECORD_INVALID] = "record_invalid",
    [DECODER_DROP_SET_SHORT] = "set_short",
    [DECODER_DROP_VARLEN] = "varlen",
    [DECODER_DROP_SET_RESERVED] = "set_reserved",
    [DECODER_DROP_TEMPLATE_UNKNOWN] = "template_unknown",
    [DECODER_DROP_NO_MEMORY] = "no_memory",
};

const char *decoder_drop_name(enum decoder_drop why)
{
	if ((unsigned)why >= DECODER_DROP__COUNT)
		return "unknown";
	return drop_names[why];
}

void decoder_config_defaults(struct decoder_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->template_lifetime_s = 1800;
	cfg->max_templates_per_exporter = 1024;
	cfg->max_exporters = 4096;
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

void decoder_destroy(struct decoder *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_exp; i++) {
		dec_tmpl_free_all(d->list[i]);
		free(d->list[i]);
	}
	free(d->list);
	free(d->eslots);
	free(d->allow);
	free(d->sampling);
	free(d);
}

void decoder_stats_get(const struct decoder *d, struct decoder_stats *out)
{
	*out = d->st;
	out->exporters = d->n_exp;
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
		o->sampling = dec_rate(e, false, 0);
		o->templates = e->ntmpl;
		o->datagrams = e->datagrams;
		o->records = e->records;
		o->lost_datagrams = e->lost_datagrams;
		o->lost_records = e->lost_records;
		o->restarts = e->restarts;
		o->last_seen_ms = e->last_seen_ms;
	}
	return d->n_exp;
}

/* True when a lies inside the prefix. */
static bool prefix_match(const struct decoder_prefix *pf, const struct flow_addr *a)
{
	unsigned bits = pf->len > 128 ? 128 : pf->len;
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(pf->addr.b, a->b, whole) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xffu << (8 - rest));
		if ((pf->addr.b[whole] & mask) != (a->b[whole] & mask))
			return false;
	}
	return true;
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

/* Keep the index at most half full; capacity never exceeds 2 * cap rounded up. */
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

static uint32_t override_rate(const struct decoder *d, const struct flow_addr *a)
{
	for (size_t i = 0; i < d->cfg.n_sampling; i++)
		if (memcmp(d->sampling[i].exporter.b, a->b, 16) == 0)
			return d->sampling[i].rate ? d->sampling[i].rate : 1;
	return 0;
}

/*
 * The table is full: drop exporters silent for longer than a template
 * lifetime (their templates have expired anyway), so that a burst of
 * spoofed sources cannot lock real exporters out until a restart. Runs at
 * most once a second of collector clock, so a flood that keeps the table
 * full costs one O(n) pass a second, not one per datagram. The index is
 * rebuilt rather than edited: open addressing has no cheap delete.
 */
static void exporter_sweep(struct decoder *d, uint64_t now_ms)
{
	uint64_t idle_ms = (uint64_t)d->cfg.template_lifetime_s * 1000u;
	size_t kept = 0;

	if (d->last_sweep_ms && now_ms - d->last_sweep_ms < 1000 && now_ms >= d->last_sweep_ms)
		return;
	d->last_sweep_ms = now_ms ? now_ms : 1;
	for (size_t i = 0; i < d->n_exp; i++) {
		struct dec_exporter *e = d->list[i];
		if (now_ms > e->last_seen_ms && now_ms - e->last_seen_ms > idle_ms) {
			dec_tmpl_free_all(e);
			free(e);
			d->st.exporters_expired++;
			continue;
		}
		d->list[kept++] = e;
	}
	if (kept == d->n_exp)
		return;
	d->n_exp = kept;
	d->last_exp = NULL;
	memset(d->eslots, 0, d->ecap * sizeof(*d->eslots));
	for (size_t i = 0; i < d->n_exp; i++)
		exporter_index_put(d->eslots, d->ecap, d->list[i]);
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
	if (d->n_exp >= d->cfg.max_exporters)
		exporter_sweep(d, now_ms);
	if (d->n_exp >= d->cfg.max_exporters)
		return DEC_ERR(DECODER_DROP_EXPORTER_LIMIT);
	if ((d->n_exp + 1) * 2 > d->ecap && exporter_index_grow(d) != 0)
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	if (grow_array((void **)&d->list, &d->list_cap, d->n_exp + 1, sizeof(*d->list), 16,
	               d->cfg.max_exporters) != 0)
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	e = fault_calloc(1, sizeof(*e));
	if (!e)
		return DEC_ERR(DECODER_DROP_NO_MEMORY);
	e->from = *from;
	e->domain = domain;
	e->version = version;
	e->override_rate = override_rate(d, &from->addr);
	d->list[d->n_exp++] = e;
	exporter_index_put(d->eslots, d->ecap, e);
found:
	d->last_exp = e;
	e->last_seen_ms = now_ms;
	*out = e;
	return 0;
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

void dec_sampler_set(struct dec_exporter *e, bool has_id, uint64_t id, uint32_t rate)
{
	if (rate == 0)
		return;
	if (!has_id) {
		e->default_rate = rate;
		return;
	}
	for (uint32_t i = 0; i < e->n_samplers; i++) {
		if (e->samplers[i].id == id) {
			e->samplers[i].rate = rate;
			return;
		}
	}
	uint32_t i =
	    e->n_samplers < DEC_SAMPLERS ? e->n_samplers++ : e->next_sampler++ % DEC_SAMPLERS;
	e->samplers[i].id = id;
	e->samplers[i].rate = rate;
}

void dec_flush(struct decoder *d)
{
	if (d->nbatch && d->sink)
		d->sink(d->ud, d->batch, d->nbatch);
	d->st.records += d->nbatch;
	d->nbatch = 0;
}

int decoder_feed(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
                 uint64_t now_ms, decoder_sink_fn sink, void *ud)
{
	int rc;

	d->st.datagrams++;
	if (d->cfg.n_allow) {
		size_t i;
		for (i = 0; i < d->cfg.n_allow; i++)
			if (prefix_match(&d->allow[i], &from->addr))
				break;
		if (i == d->cfg.n_allow) {
			d->st.drops[DECODER_DROP_NOT_ALLOWED]++;
			return DEC_ERR(DECODER_DROP_NOT_ALLOWED);
		}
	}
	if (len < 2) {
		d->st.drops[DECODER_DROP_SHORT_HEADER]++;
		return DEC_ERR(DECODER_DROP_SHORT_HEADER);
	}
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
		d->st.drops[DEC_REASON(rc)]++;
	return rc;
}
