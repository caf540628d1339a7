/*
 * persist: the decoder's restart file (decoder_state_save,
 * decoder_state_load; docs/internals/decoder.md, "Restart file"). A
 * restarted collector decodes at once with the templates and sampler rates
 * its exporters sent before, instead of counting their data noTemplate
 * until each router's next template refresh.
 *
 * What is kept is what came off the wire: each template's field
 * specifiers exactly as received, recompiled at load through
 * dec_tmpl_define() like a received template, so that a damaged or forged
 * file cannot create a template an exporter could not. All integers are
 * big-endian, so the file reads the same on every machine.
 *
 * Not here: where the file lives and when it is written (pipeline.c), the
 * scope table itself (decoder.c), template compilation (tmpl.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nfsentry/fault.h"
#include "nfsentry/fileio.h"

/*
 * Layout (docs/internals/decoder.md):
 *   header  magic[8] "NFSTMPLS", version u32, scope mode u32 (enum
 *           decoder_template_scope), scope count u32, reserved u32 (0),
 *           saved_at_ms u64, body length u64
 *   scope   address[16], port u16 (0 unless scope mode is session),
 *           version u8 (9 or 10), flags u8 (bit 0: sys_init_ms valid),
 *           domain u32, default rate u32, sampler count u16, template
 *           count u16, options_ms u64, sys_init_ms u64
 *           then per sampler: id u64, rate u32, seen_ms u64
 *           then per template: id u16, flags u8 (bit 0: options),
 *           reserved u8, field count u16, scope field count u16,
 *           definition length u16, reserved u16, refreshed_ms u64,
 *           the definition (field specifiers as received)
 *   trailer FNV-1a 64 of every byte before it
 */
#define PERSIST_MAGIC "NFSTMPLS"
#define PERSIST_VERSION 1u
#define PERSIST_HDR 40u
#define PERSIST_SCOPE 48u
#define PERSIST_SAMPLER 20u
#define PERSIST_TMPL 20u
#define PERSIST_SUM 8u
/* Distinct template IDs a scope can hold: 256..65535. */
#define PERSIST_IDS 65280u
/* A definition: at most DEC_MAX_FIELDS specifiers of 8 bytes. */
#define PERSIST_DEF_MAX (DEC_MAX_FIELDS * 8u)

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* What the periodic save compares: every change to what the file holds. */
static uint64_t persist_fp(const struct decoder *d)
{
	const struct decoder_stats *s = &d->st;

	return s->templates_added + s->templates_refreshed + s->templates_withdrawn +
	       s->templates_expired + s->exporters_expired + d->persist_gen;
}

bool decoder_state_changed(const struct decoder *d)
{
	return persist_fp(d) != d->persist_fp;
}

/* Only v9 and IPFIX scopes carry templates or announced rates (v5's is in each header). */
static bool scope_saved(const struct dec_scope *sc)
{
	return (sc->version == 9 || sc->version == 10) &&
	       (sc->ntmpl || sc->n_samplers || sc->default_rate || sc->has_sys_init);
}

static size_t scope_bytes(const struct dec_scope *sc)
{
	size_t n = PERSIST_SCOPE + (size_t)sc->n_samplers * PERSIST_SAMPLER;

	for (uint32_t i = 0; i < sc->tcap; i++)
		if (sc->tslots[i])
			n += PERSIST_TMPL + sc->tslots[i]->def_len;
	return n;
}

static uint8_t *scope_put(const struct dec_scope *sc, uint8_t *p)
{
	memcpy(p, sc->from.addr.b, 16);
	put16(p + 16, sc->from.port);
	p[18] = sc->version;
	p[19] = sc->has_sys_init ? 1 : 0;
	put32(p + 20, sc->domain);
	put32(p + 24, sc->default_rate);
	put16(p + 28, (uint16_t)sc->n_samplers);
	put16(p + 30, (uint16_t)sc->ntmpl); /* at most PERSIST_IDS */
	put64(p + 32, sc->options_ms);
	put64(p + 40, sc->sys_init_ms);
	p += PERSIST_SCOPE;
	for (uint32_t i = 0; i < sc->n_samplers; i++, p += PERSIST_SAMPLER) {
		put64(p, sc->samplers[i].id);
		put32(p + 8, sc->samplers[i].rate);
		put64(p + 12, sc->samplers[i].seen_ms);
	}
	for (uint32_t i = 0; i < sc->tcap; i++) {
		const struct dec_tmpl *t = sc->tslots[i];
		if (!t)
			continue;
		put16(p, t->id);
		p[2] = t->options ? 1 : 0;
		p[3] = 0;
		put16(p + 4, t->n_fields);
		put16(p + 6, t->n_scope);
		put16(p + 8, (uint16_t)t->def_len); /* at most PERSIST_DEF_MAX */
		put16(p + 10, 0);
		put64(p + 12, t->refreshed_ms);
		memcpy(p + PERSIST_TMPL, t->def, t->def_len);
		p += PERSIST_TMPL + t->def_len;
	}
	return p;
}

int decoder_state_save(struct decoder *d, const char *path, uint64_t now_ms)
{
	size_t len = PERSIST_HDR + PERSIST_SUM, n_scopes = 0;

	for (uint32_t i = 0; i < d->scap; i++) {
		const struct dec_scope *sc = d->sslots[i];
		if (sc && scope_saved(sc)) {
			len += scope_bytes(sc);
			n_scopes++;
		}
	}
	uint8_t *buf = fault_malloc(len);
	if (!buf)
		return -ENOMEM;

	uint8_t *p = buf;
	memcpy(p, PERSIST_MAGIC, 8);
	put32(p + 8, PERSIST_VERSION);
	put32(p + 12, (uint32_t)d->cfg.template_scope);
	put32(p + 16, (uint32_t)n_scopes);
	put32(p + 20, 0);
	put64(p + 24, now_ms);
	put64(p + 32, len - PERSIST_HDR - PERSIST_SUM);
	p += PERSIST_HDR;
	for (uint32_t i = 0; i < d->scap; i++) {
		const struct dec_scope *sc = d->sslots[i];
		if (sc && scope_saved(sc))
			p = scope_put(sc, p);
	}
	put64(p, fnv64(buf, len - PERSIST_SUM));

	int rc = fileio_replace_write(path, 0640, buf, len);
	if (rc == 0)
		d->persist_fp = persist_fp(d);
	free(buf);
	return rc;
}

/* a * b + c in size_t, saturating: the bound of a file the caps allow. */
static size_t sat_mad(size_t a, size_t b, size_t c)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r) || __builtin_add_overflow(r, c, &r))
		return SIZE_MAX;
	return r;
}

/* Largest file the decoder's caps allow: anything larger is refused unread. */
static size_t persist_max_bytes(const struct decoder *d)
{
	size_t tmpl = d->cfg.max_templates_per_exporter;

	if (tmpl > PERSIST_IDS)
		tmpl = PERSIST_IDS;
	size_t scope = sat_mad(tmpl, PERSIST_TMPL + PERSIST_DEF_MAX,
	                       PERSIST_SCOPE + DEC_SAMPLERS * PERSIST_SAMPLER);
	return sat_mad(d->cfg.max_exporters, scope, PERSIST_HDR + PERSIST_SUM);
}

/*
 * Read the whole file into *out (owned by the caller). Larger than the
 * decoder's caps allow is -E2BIG: the file is set aside like a damaged one.
 */
static int read_file(const struct decoder *d, const char *path, uint8_t **out, size_t *len)
{
	char *buf;
	int rc = fileio_read_all(path, persist_max_bytes(d), &buf, len);

	*out = (uint8_t *)buf;
	return rc == -EFBIG ? -E2BIG : rc;
}

/* A bounded reader over the file's body: every take checks what is left. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (n > r->left)
		return NULL;
	const uint8_t *q = r->p;
	r->p += n;
	r->left -= n;
	return q;
}

/* Within the lifetime at now_ms (lifetime 0: forever, as templates are). */
static bool fresh(const struct decoder *d, uint64_t t_ms, uint64_t now_ms)
{
	uint64_t life_ms = (uint64_t)d->cfg.template_lifetime_s * 1000u;

	return !life_ms || t_ms >= now_ms || now_ms - t_ms <= life_ms;
}

static void scope_free(struct dec_scope *sc)
{
	if (!sc)
		return;
	dec_tmpl_free_all(sc);
	free(sc);
}

static int key_cmp(const void *a, const void *b)
{
	const struct dec_scope *x = *(struct dec_scope *const *)a,
	                       *y = *(struct dec_scope *const *)b;
	int c = memcmp(x->from.addr.b, y->from.addr.b, 16);

	if (c)
		return c;
	if (x->from.port != y->from.port)
		return x->from.port < y->from.port ? -1 : 1;
	if (x->domain != y->domain)
		return x->domain < y->domain ? -1 : 1;
	return (int)x->version - (int)y->version;
}

/*
 * One template record into sc, compiled like a received one. Returns 0
 * (loaded or skipped as expired; *loaded says which), -EBADMSG or -ENOMEM.
 */
static int tmpl_load(struct decoder *d, struct dec_scope *sc, struct rd *r, uint64_t now_ms,
                     bool *loaded)
{
	const uint8_t *h = take(r, PERSIST_TMPL);

	*loaded = false;
	if (!h)
		return -EBADMSG;
	uint16_t id = get_u16be(h), n_fields = get_u16be(h + 4), n_scope = get_u16be(h + 6);
	uint16_t def_len = get_u16be(h + 8);
	bool options = h[2] & 1, ipfix = sc->version == 10;
	uint64_t t_ms = get_u64be(h + 12);
	const uint8_t *def = take(r, def_len);

	/* The framing rules of v9.c and ipfix.c, which define() does not check. */
	if (!def || (h[2] & ~1u) || h[3] || get_u16be(h + 10) || id < 256 ||
	    def_len > PERSIST_DEF_MAX || (!options && n_scope) || (options && ipfix && !n_scope))
		return -EBADMSG;
	if (!fresh(d, t_ms, now_ms))
		return 0;
	struct dec_ctx c = {.d = d, .sc = sc, .version = sc->version};
	c.now_ms = t_ms < now_ms ? t_ms : now_ms; /* keeps its age */
	uint32_t before = sc->ntmpl;
	uint64_t nomem = d->st.drops[DECODER_DROP_NO_MEMORY];
	int rc = dec_tmpl_define(&c, id, options, ipfix, def, def_len, n_fields, n_scope);
	if (d->st.drops[DECODER_DROP_NO_MEMORY] != nomem)
		return -ENOMEM;
	/* All of it a definition, and a new ID (a repeat is no file we write). */
	if (rc != (int)def_len || sc->ntmpl != before + 1)
		return -EBADMSG;
	*loaded = true;
	return 0;
}

/* One scope record: a new scope in *out (NULL when nothing in it is fresh). */
static int scope_load(struct decoder *d, struct rd *r, uint64_t now_ms, struct dec_scope **out,
                      struct decoder_restore *res)
{
	const uint8_t *h = take(r, PERSIST_SCOPE);

	*out = NULL;
	if (!h)
		return -EBADMSG;
	uint8_t version = h[18];
	uint16_t port = get_u16be(h + 16), n_samp = get_u16be(h + 28), n_tmpl = get_u16be(h + 30);
	if ((version != 9 && version != 10) || (h[19] & ~1u) || n_samp > DEC_SAMPLERS ||
	    (port && d->cfg.template_scope != DECODER_SCOPE_SESSION))
		return -EBADMSG;
	if (n_tmpl > d->cfg.max_templates_per_exporter)
		return -E2BIG;
	struct dec_scope *sc = fault_calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	memcpy(sc->from.addr.b, h, 16);
	sc->from.port = port;
	/* Restored templates count against the decoder's template memory cap too. */
	sc->bytes_total = &d->tmpl_bytes;
	sc->version = version;
	sc->domain = get_u32be(h + 20);
	uint64_t opt_ms = get_u64be(h + 32);
	if (fresh(d, opt_ms, now_ms)) {
		sc->default_rate = get_u32be(h + 24);
		sc->has_sys_init = h[19] & 1;
		sc->sys_init_ms = sc->has_sys_init ? get_u64be(h + 40) : 0;
		sc->options_ms = opt_ms < now_ms ? opt_ms : now_ms;
	}
	int rc = 0;
	size_t n_s = 0, n_t = 0, n_x = 0;
	for (uint16_t i = 0; i < n_samp; i++) {
		const uint8_t *s = take(r, PERSIST_SAMPLER);
		if (!s) {
			rc = -EBADMSG;
			goto fail;
		}
		uint64_t id = get_u64be(s), t_ms = get_u64be(s + 12);
		uint32_t rate = get_u32be(s + 8);
		if (rate == 0 || dec_sampler_rate(sc, id) != 0) {
			rc = -EBADMSG; /* no rate, or a sampler twice */
			goto fail;
		}
		if (!fresh(d, t_ms, now_ms))
			continue;
		dec_sampler_set(sc, true, id, rate, t_ms < now_ms ? t_ms : now_ms);
		n_s++;
	}
	for (uint16_t i = 0; i < n_tmpl; i++) {
		bool loaded;
		rc = tmpl_load(d, sc, r, now_ms, &loaded);
		if (rc != 0)
			goto fail;
		if (loaded)
			n_t++;
		else
			n_x++;
	}
	res->templates += n_t;
	res->templates_stale += n_x;
	res->samplers += n_s;
	if (!sc->ntmpl && !sc->n_samplers && !sc->default_rate && !sc->has_sys_init) {
		scope_free(sc); /* nothing fresh left */
		return 0;
	}
	sc->sampler_last = 0;
	*out = sc;
	return 0;
fail:
	scope_free(sc);
	return rc;
}

/* Parse the body into scopes[] (*n of them); on error every one is freed. */
static int body_load(struct decoder *d, struct rd *r, uint32_t n_scopes, uint64_t now_ms,
                     struct dec_scope **scopes, size_t *n, struct decoder_restore *res)
{
	int rc = 0;

	*n = 0;
	for (uint32_t i = 0; i < n_scopes; i++) {
		struct dec_scope *sc;
		rc = scope_load(d, r, now_ms, &sc, res);
		if (rc != 0)
			goto fail;
		if (sc)
			scopes[(*n)++] = sc;
	}
	if (r->left) {
		rc = -EBADMSG; /* bytes the scope count does not explain */
		goto fail;
	}
	/* One scope per key: a repeat is no file we write. */
	if (*n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(scopes, *n, sizeof(*scopes), key_cmp);
	for (size_t i = 1; i < *n; i++)
		if (key_cmp(&scopes[i - 1], &scopes[i]) == 0) {
			rc = -EBADMSG;
			goto fail;
		}
	return 0;
fail:
	for (size_t i = 0; i < *n; i++)
		scope_free(scopes[i]);
	*n = 0;
	return rc;
}

int decoder_state_load(struct decoder *d, const char *path, uint64_t now_ms,
                       struct decoder_restore *res)
{
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;
	struct dec_scope **scopes = NULL;

	memset(res, 0, sizeof(*res));
	if (d->n_exp || d->n_scope || d->n_restored)
		return -EBUSY;
	int rc = read_file(d, path, &buf, &len);
	if (rc != 0)
		return rc;
	rc = -EBADMSG;
	if (len < PERSIST_HDR + PERSIST_SUM || memcmp(buf, PERSIST_MAGIC, 8) != 0)
		goto out;
	if (get_u32be(buf + 8) != PERSIST_VERSION) {
		rc = -EPROTONOSUPPORT;
		goto out;
	}
	if (get_u64be(buf + 32) != len - PERSIST_HDR - PERSIST_SUM || get_u32be(buf + 20) ||
	    get_u64be(buf + len - PERSIST_SUM) != fnv64(buf, len - PERSIST_SUM))
		goto out;
	uint32_t mode = get_u32be(buf + 12), n_scopes = get_u32be(buf + 16);
	res->saved_at_ms = get_u64be(buf + 24);
	if (mode > DECODER_SCOPE_SESSION)
		goto out;
	if (mode != (uint32_t)d->cfg.template_scope) {
		/* The keys mean something else now: start afresh. */
		res->scope_changed = true;
		rc = 0;
		goto out;
	}
	if (n_scopes > d->cfg.max_exporters) {
		rc = -E2BIG;
		goto out;
	}
	/* Each scope record is at least PERSIST_SCOPE bytes: bound the array by the body. */
	if (n_scopes > (len - PERSIST_HDR - PERSIST_SUM) / PERSIST_SCOPE)
		goto out;
	scopes = fault_calloc(n_scopes ? n_scopes : 1, sizeof(*scopes));
	if (!scopes) {
		rc = -ENOMEM;
		goto out;
	}
	/*
	 * Compiling a template counts like a received one (templatesAdded, a
	 * drop): the counters and log rate limits are put back afterwards, the
	 * load has its own.
	 */
	struct decoder_stats st0 = d->st;
	uint64_t log0[DECODER_DROP__COUNT];
	memcpy(log0, d->log_last_ms, sizeof(log0));
	struct rd r = {buf + PERSIST_HDR, len - PERSIST_HDR - PERSIST_SUM};
	rc = body_load(d, &r, n_scopes, now_ms, scopes, &n, res);
	d->st = st0;
	memcpy(d->log_last_ms, log0, sizeof(log0));
	if (rc == 0 && n) {
		d->restored = fault_calloc(n, sizeof(*d->restored));
		if (!d->restored || dec_scope_index_reserve(d, n) != 0)
			rc = -ENOMEM;
	}
	if (rc != 0) {
		for (size_t i = 0; i < n; i++)
			scope_free(scopes[i]);
		free(d->restored);
		d->restored = NULL;
		struct decoder_restore z = {.saved_at_ms = res->saved_at_ms};
		*res = z;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		dec_scope_restore(d, scopes[i]);
	if (n) {
		uint64_t life_ms = (uint64_t)d->cfg.template_lifetime_s * 1000u;
		d->restored_until_ms = life_ms ? now_ms + life_ms : UINT64_MAX;
	}
	res->scopes = n;
	d->st.templates_restored += res->templates;
	d->st.templates_stale += res->templates_stale;
	d->st.samplers_restored += res->samplers;
	d->persist_fp = persist_fp(d);
out:
	free(scopes);
	free(buf);
	return rc;
}
