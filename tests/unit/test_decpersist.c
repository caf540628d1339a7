/*
 * Unit tests for src/decode/persist.c: the decoder's restart file. A
 * decoder that learnt v9 and IPFIX templates and sampler rates saves them;
 * a new decoder loads them and decodes data sent with no template, with
 * the same records and scaling. Expired templates stay out; every
 * truncation and a table of damaged files are refused with the decoder
 * left as it was; template scope per session vs per exporter; restored
 * scopes no exporter came back for are freed; allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "decode_build.h"
#include "nfsentry/fault.h"
#include "nfsentry/log.h"

#define T0 1700000000000ull /* wall clock of the first run, ms */
#define LIFE_S 1800u
#define SECS 1700000000u
#define UPTIME 500000u

static struct bld b;
static struct sinkbuf sb1, sb2;
static char dir[64], path[96];
static const struct flow_endpoint *from_v9, *from_ipfix;
static struct flow_endpoint ep9, ep10;

static struct decoder *mk(enum decoder_template_scope scope)
{
	struct decoder_config cfg;
	decoder_config_defaults(&cfg);
	cfg.template_lifetime_s = LIFE_S;
	cfg.template_scope = scope;
	struct decoder *d = decoder_create(&cfg);
	assert_non_null(d);
	return d;
}

/*
 * NetFlow v9 from ep9, source ID 7: an options template (scope System,
 * FLOW_SAMPLER_ID, FLOW_SAMPLER_RANDOM_INTERVAL) with samplers 3 (1 in
 * 1000) and 4 (1 in 10), a data template 257 naming the sampler per
 * record; then (always) two data records, one per sampler.
 */
static void v9_datagram(bool templates)
{
	b_v9_header(&b, UPTIME, SECS, 0, 7);
	if (templates) {
		size_t s = b_set_begin(&b, 1);
		b_u16(&b, 300);
		b_u16(&b, 4); /* scope length */
		b_u16(&b, 8); /* options length */
		b_u16(&b, 1); /* scope: System */
		b_u16(&b, 4);
		b_u16(&b, 48);
		b_u16(&b, 1);
		b_u16(&b, 50);
		b_u16(&b, 4);
		b_u16(&b, 0); /* padding */
		b_set_end(&b, s);
		s = b_set_begin(&b, 300);
		b_u32(&b, 0);
		b_u8(&b, 3);
		b_u32(&b, 1000);
		b_u32(&b, 0);
		b_u8(&b, 4);
		b_u32(&b, 10);
		while ((b.n - s) % 4)
			b_u8(&b, 0);
		b_set_end(&b, s);
		s = b_set_begin(&b, 0);
		static const uint16_t f[][2] = {{8, 4}, {12, 4}, {2, 4}, {1, 4}, {48, 1}};
		b_u16(&b, 257);
		b_u16(&b, 5);
		for (int i = 0; i < 5; i++) {
			b_u16(&b, f[i][0]);
			b_u16(&b, f[i][1]);
		}
		b_set_end(&b, s);
	}
	size_t s = b_set_begin(&b, 257);
	for (int i = 0; i < 2; i++) {
		b_addrs(&b);
		b_u32(&b, 5u + (uint32_t)i);
		b_u32(&b, 700u + (uint32_t)i);
		b_u8(&b, (uint8_t)(3 + i));
	}
	while ((b.n - s) % 4)
		b_u8(&b, 0);
	b_set_end(&b, s);
}

/*
 * IPFIX from ep10, domain 5: data template 400 with an enterprise field
 * (PEN 9, unused), an options template 500 scoped by observationDomainId
 * with samplingInterval 64 (exporter-wide), then three data records.
 */
static void ipfix_datagram(bool templates)
{
	b_ipfix_header(&b, SECS, 0, 5);
	if (templates) {
		size_t s = b_set_begin(&b, 2);
		b_u16(&b, 400);
		b_u16(&b, 5);
		b_u16(&b, 8);
		b_u16(&b, 4);
		b_u16(&b, 12);
		b_u16(&b, 4);
		b_u16(&b, 2);
		b_u16(&b, 8);
		b_u16(&b, 0x8000 | 100);
		b_u16(&b, 2);
		b_u32(&b, 9);
		b_u16(&b, 1);
		b_u16(&b, 8);
		b_set_end(&b, s);
		s = b_set_begin(&b, 3);
		b_u16(&b, 500);
		b_u16(&b, 2);
		b_u16(&b, 1); /* scope field count */
		b_u16(&b, 149);
		b_u16(&b, 4);
		b_u16(&b, 34);
		b_u16(&b, 4);
		b_set_end(&b, s);
		s = b_set_begin(&b, 500);
		b_u32(&b, 5);
		b_u32(&b, 64);
		b_set_end(&b, s);
	}
	size_t s = b_set_begin(&b, 400);
	for (int i = 0; i < 3; i++) {
		b_addrs(&b);
		b_u64(&b, 2u + (uint64_t)i);
		b_u16(&b, 0xbeef);
		b_u64(&b, 300u + (uint64_t)i);
	}
	b_set_end(&b, s);
	b_ipfix_end(&b);
}

/* A decoder that learnt both exporters' templates and rates at T0. */
static struct decoder *learnt(enum decoder_template_scope scope)
{
	struct decoder *d = mk(scope);
	memset(&sb1, 0, sizeof(sb1));
	v9_datagram(true);
	assert_int_equal(feed(d, from_v9, &b, T0, &sb1), 2);
	ipfix_datagram(true);
	assert_int_equal(feed(d, from_ipfix, &b, T0, &sb1), 3);
	assert_int_equal(drops_total(d), 0);
	return d;
}

static void save_learnt(void)
{
	struct decoder *d = learnt(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_save(d, path, T0 + 1000), 0);
	decoder_destroy(d);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/nfs-decpersist-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/templates", dir);
	ep9 = ep_v4(192, 0, 2, 9, 9995);
	ep10 = ep_v4(198, 51, 100, 7, 4739);
	from_v9 = &ep9;
	from_ipfix = &ep10;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char tmp[112];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	unlink(path);
	rmdir(dir);
	return 0;
}

/* Round trip: the data alone decodes after a load, record for record. */
static void test_round_trip(void **state)
{
	(void)state;
	struct decoder *d = learnt(DECODER_SCOPE_EXPORTER);
	uint64_t bytes = stats(d).template_bytes;
	assert_true(bytes > 0);
	assert_true(decoder_state_changed(d));
	assert_int_equal(decoder_state_save(d, path, T0 + 1000), 0);
	assert_false(decoder_state_changed(d));
	/* No .tmp left behind. */
	char tmp[112];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
	decoder_destroy(d);
	assert_int_equal(sb1.f[0].sampling, 1000);
	assert_int_equal(sb1.f[1].sampling, 10);
	assert_int_equal(sb1.f[2].sampling, 64);

	struct decoder *d2 = mk(DECODER_SCOPE_EXPORTER);
	struct decoder_restore res;
	assert_int_equal(decoder_state_load(d2, path, T0 + 60000, &res), 0);
	assert_int_equal(res.saved_at_ms, T0 + 1000);
	assert_int_equal(res.scopes, 2);
	assert_int_equal(res.templates, 4);
	assert_int_equal(res.templates_stale, 0);
	assert_int_equal(res.samplers, 2);
	assert_false(res.scope_changed);
	struct decoder_stats st = stats(d2);
	assert_int_equal(st.templates_restored, 4);
	assert_int_equal(st.samplers_restored, 2);
	assert_int_equal(st.templates_added, 0);
	assert_int_equal(st.exporters, 0);
	/* Restored templates count against the template memory cap as learnt ones do. */
	assert_int_equal(st.template_bytes, bytes);
	assert_false(decoder_state_changed(d2));
	/* A second load would double the scopes. */
	assert_int_equal(decoder_state_load(d2, path, T0 + 60000, &res), -EBUSY);

	memset(&sb2, 0, sizeof(sb2));
	v9_datagram(false);
	assert_int_equal(feed(d2, from_v9, &b, T0 + 61000, &sb2), 2);
	ipfix_datagram(false);
	assert_int_equal(feed(d2, from_ipfix, &b, T0 + 61000, &sb2), 3);
	assert_int_equal(drops_total(d2), 0);
	assert_int_equal(sb2.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_memory_equal(&sb1.f[i], &sb2.f[i], sizeof(struct flow));
	assert_int_equal(sb2.f[0].packets, 5 * 1000);
	assert_int_equal(sb2.f[1].packets, 6 * 10);
	assert_int_equal(sb2.f[2].octets, 300 * 64);
	assert_int_equal(stats(d2).unscaled_records, 0);

	/* What was restored is saved again, ages kept: a second restart has it. */
	assert_int_equal(decoder_state_save(d2, path, T0 + 62000), 0);
	decoder_destroy(d2);
	struct decoder *d3 = mk(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_load(d3, path, T0 + (LIFE_S - 1) * 1000ull, &res), 0);
	assert_int_equal(res.templates, 4);
	decoder_destroy(d3);
}

/* Templates and rates older than the lifetime stay out; fresh ones come in. */
static void test_expired_not_loaded(void **state)
{
	(void)state;
	save_learnt();
	struct decoder_restore res;
	struct decoder *d = mk(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_load(d, path, T0 + LIFE_S * 1000ull + 1, &res), 0);
	assert_int_equal(res.templates, 0);
	assert_int_equal(res.templates_stale, 4);
	assert_int_equal(res.samplers, 0);
	assert_int_equal(res.scopes, 0);
	assert_int_equal(stats(d).templates_stale, 4);
	v9_datagram(false);
	memset(&sb2, 0, sizeof(sb2));
	assert_int_equal(feed(d, from_v9, &b, T0 + LIFE_S * 1000ull + 2, &sb2), 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	decoder_destroy(d);

	/* At the edge of the lifetime it is still in, and expires on time after. */
	d = mk(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_load(d, path, T0 + LIFE_S * 1000ull, &res), 0);
	assert_int_equal(res.templates, 4);
	assert_int_equal(feed(d, from_v9, &b, T0 + LIFE_S * 1000ull + 1, &sb2), 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	assert_int_equal(stats(d).templates_expired, 1);
	decoder_destroy(d);
}

static uint8_t *file_read(size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static uint8_t buf[65536];
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	uint8_t *p = malloc(*len);
	assert_non_null(p);
	memcpy(p, buf, *len);
	return p;
}

static void file_write(const char *p, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The trailer: FNV-1a 64 of everything before it, as the file format says. */
static void resum(uint8_t *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len - 8; i++)
		h = (h ^ buf[i]) * 0x100000001b3ull;
	put_be(buf + len - 8, h, 8);
}

/*
 * Load bad into a fresh decoder: rc expected; then the good file loads in
 * full into the same decoder (nothing of the bad one was kept).
 */
static void expect_refused(const uint8_t *bad, size_t len, int rc, const char *what)
{
	char bpath[112];
	snprintf(bpath, sizeof(bpath), "%s.bad", path);
	file_write(bpath, bad, len);
	struct decoder *d = mk(DECODER_SCOPE_EXPORTER);
	struct decoder_restore res;
	int got = decoder_state_load(d, bpath, T0 + 2000, &res);
	if (got != rc)
		fail_msg("%s: got %d, want %d", what, got, rc);
	assert_int_equal(res.templates, 0);
	struct decoder_stats st = stats(d);
	assert_int_equal(st.templates_restored, 0);
	assert_int_equal(drops_total(d), 0);
	assert_int_equal(decoder_state_load(d, path, T0 + 2000, &res), 0);
	assert_int_equal(res.templates, 4);
	decoder_destroy(d);
	unlink(bpath);
}

/* Every prefix of a good file is refused (curl's every-prefix sweep). */
static void test_truncations(void **state)
{
	(void)state;
	save_learnt();
	size_t len;
	uint8_t *good = file_read(&len);
	for (size_t n = 0; n < len; n++)
		expect_refused(good, n, -EBADMSG, "prefix");
	free(good);
}

/* Offset of the scope record whose version byte is v (9 or 10). */
static size_t scope_at(const uint8_t *buf, size_t len, uint8_t v)
{
	size_t off = 40;
	while (off + 48 <= len - 8) {
		size_t ns = get_be(buf + off + 28, 2), nt = get_be(buf + off + 30, 2);
		if (buf[off + 18] == v)
			return off;
		off += 48 + ns * 20;
		for (size_t i = 0; i < nt; i++)
			off += 20 + get_be(buf + off + 8, 2);
	}
	fail_msg("no scope of version %u", v);
	return 0;
}

struct corruption {
	const char *what;
	int scope_v;   /* 0: offset from the file start; 9/10: from that scope */
	size_t off;    /* in the scope: 48 + 20 * samplers + k reaches its first template */
	int width;     /* bytes written */
	int64_t value; /* written there */
	bool add;      /* value is added to what is there instead */
	bool nosum;    /* leave the checksum as it is */
	int rc;
};

static void test_corruptions(void **state)
{
	(void)state;
	save_learnt();
	size_t len;
	uint8_t *good = file_read(&len);
	/* v9 scope: 2 samplers, so its first template is at +88. */
	const struct corruption table[] = {
	    {"magic", 0, 0, 1, 'X', false, false, -EBADMSG},
	    {"version", 0, 8, 4, 2, false, false, -EPROTONOSUPPORT},
	    {"scope mode", 0, 12, 4, 7, false, false, -EBADMSG},
	    {"scope count over", 0, 16, 4, 3, false, false, -EBADMSG},
	    {"scope count under", 0, 16, 4, 1, false, false, -EBADMSG},
	    {"scope count over the cap", 0, 16, 4, 5000, false, false, -E2BIG},
	    {"reserved", 0, 20, 4, 1, false, false, -EBADMSG},
	    {"body length", 0, 32, 8, 1, true, false, -EBADMSG},
	    {"a bit flipped", 0, 60, 1, 0x10, true, true, -EBADMSG},
	    {"the checksum", 0, 0, 0, 0, false, true, -EBADMSG}, /* below: last byte */
	    {"scope version 5", 9, 18, 1, 5, false, false, -EBADMSG},
	    {"scope flags", 9, 19, 1, 2, false, false, -EBADMSG},
	    {"port in exporter scope", 9, 16, 2, 9995, false, false, -EBADMSG},
	    {"17 samplers", 9, 28, 2, 17, false, false, -EBADMSG},
	    {"sampler count over", 9, 28, 2, 3, false, false, -EBADMSG},
	    {"template count over", 9, 30, 2, 3, false, false, -EBADMSG},
	    {"templates over the cap", 9, 30, 2, 2000, false, false, -E2BIG},
	    {"sampler rate 0", 9, 48 + 8, 4, 0, false, false, -EBADMSG},
	    {"sampler twice", 9, 48 + 20 + 7, 1, 3, false, false, -EBADMSG},
	    {"template ID 255", 9, 88, 2, 255, false, false, -EBADMSG},
	    {"template flags", 9, 88 + 2, 1, 2, false, false, -EBADMSG},
	    {"template reserved", 9, 88 + 3, 1, 1, false, false, -EBADMSG},
	    {"no fields", 9, 88 + 4, 2, 0, false, false, -EBADMSG},
	    {"600 fields", 9, 88 + 4, 2, 600, false, false, -EBADMSG},
	    {"fewer fields than defined", 9, 88 + 4, 2, 1, false, false, -EBADMSG},
	    {"more fields than defined", 9, 88 + 4, 2, 9, false, false, -EBADMSG},
	    {"scope fields over fields", 9, 88 + 6, 2, 10, false, false, -EBADMSG},
	    {"definition length", 9, 88 + 8, 2, 4, true, false, -EBADMSG},
	    {"definition reserved", 9, 88 + 10, 2, 1, false, false, -EBADMSG},
	    {"IPFIX options without scope", 10, 48, 0, 0, false, false, -EBADMSG}, /* below */
	};
	for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
		const struct corruption *c = &table[k];
		uint8_t *bad = malloc(len);
		assert_non_null(bad);
		memcpy(bad, good, len);
		size_t base = c->scope_v ? scope_at(bad, len, (uint8_t)c->scope_v) : 0;
		if (strcmp(c->what, "the checksum") == 0) {
			bad[len - 1] ^= 1;
		} else if (strcmp(c->what, "IPFIX options without scope") == 0) {
			/* The options template of the IPFIX scope: scope count 0. */
			size_t off = base + 48, found = 0;
			for (int i = 0; i < 2; i++) {
				if (bad[off + 2] & 1)
					found = off;
				off += 20 + get_be(bad + off + 8, 2);
			}
			assert_true(found != 0);
			put_be(bad + found + 6, 0, 2);
		} else if (strcmp(c->what, "sampler twice") == 0) {
			/* The second sampler takes the first's ID. */
			memcpy(bad + base + 48 + 20, bad + base + 48, 8);
		} else {
			uint8_t *p = bad + base + c->off;
			uint64_t v = (uint64_t)c->value;
			if (c->add)
				v += get_be(p, c->width);
			put_be(p, v, c->width);
		}
		if (!c->nosum)
			resum(bad, len);
		expect_refused(bad, len, c->rc, c->what);
		free(bad);
	}

	/* The same scope twice. */
	size_t s9 = scope_at(good, len, 9), s10 = scope_at(good, len, 10);
	size_t a = s9 < s10 ? s9 : s10, z = s9 < s10 ? s10 : s9;
	size_t first = z - a; /* bytes of the first scope record */
	uint8_t *two = malloc(40 + 2 * first + 8);
	assert_non_null(two);
	memcpy(two, good, 40);
	memcpy(two + 40, good + a, first);
	memcpy(two + 40 + first, good + a, first);
	put_be(two + 16, 2, 4);
	put_be(two + 32, 2 * first, 8);
	resum(two, 40 + 2 * first + 8);
	expect_refused(two, 40 + 2 * first + 8, -EBADMSG, "scope twice");
	free(two);

	/* A file larger than the caps could have written is refused unread. */
	struct decoder_config cfg;
	decoder_config_defaults(&cfg);
	cfg.max_exporters = 1;
	cfg.max_templates_per_exporter = 1;
	struct decoder *d = decoder_create(&cfg);
	assert_non_null(d);
	uint8_t *big = calloc(1, 8192);
	assert_non_null(big);
	memcpy(big, good, len);
	char bpath[112];
	snprintf(bpath, sizeof(bpath), "%s.big", path);
	file_write(bpath, big, 8192);
	struct decoder_restore res;
	assert_int_equal(decoder_state_load(d, bpath, T0, &res), -E2BIG);
	/* Within the size but more scopes than the cap. */
	assert_int_equal(decoder_state_load(d, path, T0, &res), -E2BIG);
	unlink(bpath);
	free(big);
	decoder_destroy(d);

	/* Missing file. */
	d = mk(DECODER_SCOPE_EXPORTER);
	snprintf(bpath, sizeof(bpath), "%s/none", dir);
	assert_int_equal(decoder_state_load(d, bpath, T0, &res), -ENOENT);
	decoder_destroy(d);
	free(good);
}

/*
 * templates.scope: session keys templates by the port too; a file written
 * under one scope is not loaded under the other.
 */
static void test_scope_session(void **state)
{
	(void)state;
	struct decoder *d = learnt(DECODER_SCOPE_SESSION);
	assert_int_equal(decoder_state_save(d, path, T0 + 1000), 0);
	decoder_destroy(d);

	struct decoder_restore res;
	d = mk(DECODER_SCOPE_SESSION);
	assert_int_equal(decoder_state_load(d, path, T0 + 2000, &res), 0);
	assert_int_equal(res.templates, 4);
	memset(&sb2, 0, sizeof(sb2));
	v9_datagram(false);
	struct flow_endpoint other = ep9;
	other.port = 9996;
	assert_int_equal(feed(d, &other, &b, T0 + 3000, &sb2), 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	assert_int_equal(feed(d, from_v9, &b, T0 + 3000, &sb2), 2);
	assert_int_equal(sb2.f[0].sampling, 1000);
	decoder_destroy(d);

	d = mk(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_load(d, path, T0 + 2000, &res), 0);
	assert_true(res.scope_changed);
	assert_int_equal(res.templates, 0);
	assert_int_equal(feed(d, from_v9, &b, T0 + 3000, &sb2), 0);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 1);
	decoder_destroy(d);

	/* Under exporter scope, data from any port of the exporter decodes. */
	save_learnt();
	d = mk(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_load(d, path, T0 + 2000, &res), 0);
	assert_false(res.scope_changed);
	v9_datagram(false);
	assert_int_equal(feed(d, &other, &b, T0 + 3000, &sb2), 2);
	decoder_destroy(d);
}

/*
 * A restored scope waits a template lifetime for its exporter, then is
 * freed; one an exporter came back for lives on with its session.
 */
static void test_restored_scope_lifetime(void **state)
{
	(void)state;
	save_learnt();
	struct decoder_restore res;
	struct decoder *d = mk(DECODER_SCOPE_EXPORTER);
	uint64_t t = T0 + 5000;
	assert_int_equal(decoder_state_load(d, path, t, &res), 0);
	assert_int_equal(res.scopes, 2);
	/* The v9 exporter comes back; it resends its templates later on. */
	memset(&sb2, 0, sizeof(sb2));
	v9_datagram(false);
	assert_int_equal(feed(d, from_v9, &b, t + 1000, &sb2), 2);
	v9_datagram(true);
	assert_int_equal(feed(d, from_v9, &b, t + LIFE_S * 1000ull - 1000, &sb2), 2);
	/* The lifetime after the load: the IPFIX scope, never claimed, goes. */
	v9_datagram(false);
	assert_int_equal(feed(d, from_v9, &b, t + LIFE_S * 1000ull, &sb2), 2);
	assert_int_equal(decoder_state_save(d, path, t + LIFE_S * 1000ull), 0);
	size_t len;
	uint8_t *f = file_read(&len);
	assert_int_equal(get_be(f + 16, 4), 1);
	free(f);
	assert_int_equal(feed(d, from_v9, &b, t + LIFE_S * 1000ull + 1000, &sb2), 2);
	decoder_destroy(d);
}

/* Restored scopes stay findable when the scope index grows under new exporters. */
static void test_restored_index_grow(void **state)
{
	(void)state;
	save_learnt();
	struct decoder_restore res;
	struct decoder *d = mk(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_load(d, path, T0 + 2000, &res), 0);
	memset(&sb2, 0, sizeof(sb2));
	v9_datagram(false);
	for (uint8_t i = 1; i <= 40; i++) {
		struct flow_endpoint e = ep_v4(203, 0, 113, i, 2055);
		assert_int_equal(feed(d, &e, &b, T0 + 3000, &sb2), 0);
	}
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 40);
	assert_int_equal(feed(d, from_v9, &b, T0 + 3000, &sb2), 2);
	ipfix_datagram(false);
	assert_int_equal(feed(d, from_ipfix, &b, T0 + 3000, &sb2), 3);
	assert_int_equal(drops(d, DECODER_DROP_NO_TEMPLATE), 40);
	decoder_destroy(d);
}

/* Every allocation of a load failing in turn: -ENOMEM, nothing held. */
static void test_load_alloc_failure(void **state)
{
	(void)state;
	save_learnt();
	struct decoder_restore res;
	int rc = -ENOMEM;
	unsigned long k;
	for (k = 0; rc == -ENOMEM && k < 1000; k++) {
		struct decoder *d = mk(DECODER_SCOPE_EXPORTER);
		fault_arm(k, FAULT_ONCE);
		rc = decoder_state_load(d, path, T0 + 2000, &res);
		fault_disarm();
		if (rc == -ENOMEM) {
			assert_int_equal(decoder_state_load(d, path, T0 + 2000, &res), 0);
			assert_int_equal(res.templates, 4);
		}
		decoder_destroy(d);
	}
	assert_int_equal(rc, 0);
	assert_true(k > 5); /* the file, the array, scopes, templates, index, list */

	struct decoder *d = learnt(DECODER_SCOPE_EXPORTER);
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(decoder_state_save(d, path, T0), -ENOMEM);
	fault_disarm();
	assert_true(decoder_state_changed(d));
	decoder_destroy(d);
	/* The old file is untouched by the failed save. */
	d = mk(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_load(d, path, T0 + 2000, &res), 0);
	decoder_destroy(d);
}

/* Options data and template refreshes mark the state changed. */
static void test_changed(void **state)
{
	(void)state;
	struct decoder *d = learnt(DECODER_SCOPE_EXPORTER);
	assert_int_equal(decoder_state_save(d, path, T0), 0);
	assert_false(decoder_state_changed(d));
	v9_datagram(false);
	assert_int_equal(feed(d, from_v9, &b, T0 + 1, &sb2), 2);
	assert_false(decoder_state_changed(d)); /* data only */
	v9_datagram(true);
	assert_int_equal(feed(d, from_v9, &b, T0 + 2, &sb2), 2);
	assert_true(decoder_state_changed(d));
	decoder_destroy(d);
}

int main(void)
{
	log_init(LOG_LVL_ERROR, false, "test");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_expired_not_loaded),
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_corruptions),
	    cmocka_unit_test(test_scope_session),
	    cmocka_unit_test(test_restored_scope_lifetime),
	    cmocka_unit_test(test_restored_index_grow),
	    cmocka_unit_test(test_load_alloc_failure),
	    cmocka_unit_test(test_changed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
