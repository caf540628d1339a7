/*
 * Unit tests for src/doc/doc.c: the documents of a judged slot -- every kind
 * present with the common fields, exact figures, labels with reasons, the
 * peer cap on arrayPeer, and the outside selection (all / top N + labelled).
 * doc.c writes JSON by hand; the text must stay what jansson prints
 * (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)), so reals,
 * string escapes and the UTF-8 check on text from outside are compared with
 * jansson's own output byte for byte. The writer other modules use
 * (doc_writer_*) is tested here too.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>

#include "nfsentry/doc.h"
#include "nfsentry/fault.h"
#include "slot_helpers.h"

static json_t *parse(const struct doc *d)
{
	json_error_t e;
	json_t *o = json_loads(d->json, 0, &e);
	assert_non_null(o);
	assert_int_equal(strlen(d->json), d->len);
	assert_null(strchr(d->json, '\n'));
	return o;
}

static const struct doc *find(const struct doc_batch *b, const char *kind, const char *key)
{
	for (size_t k = 0; k < b->n; k++)
		if (strcmp(b->v[k].kind, kind) == 0 && strcmp(b->v[k].key, key) == 0)
			return &b->v[k];
	return NULL;
}

static size_t count_kind(const struct doc_batch *b, const char *kind)
{
	size_t n = 0;
	for (size_t k = 0; k < b->n; k++)
		n += strcmp(b->v[k].kind, kind) == 0;
	return n;
}

static struct slot *build(struct site_config *site)
{
	struct slot *s = slot_create(site, 0, 5890752, 7);
	struct flow f;
	char buf[32];

	/* 10.0.0.1: a client with five peers, cap 3. */
	for (int k = 0; k < 5; k++) {
		snprintf(buf, sizeof(buf), "93.184.0.%d", k + 1);
		f = mkflow("10.0.0.1", buf, TCP, (uint16_t)(40000 + k), 443, SYN | ACK | PSH, 10,
		           1000, T0_MS + (uint64_t)k);
		slot_add(s, SLOT_EGRESS, &f);
		f = mkflow(buf, "10.0.0.1", TCP, 443, (uint16_t)(40000 + k), SYN | ACK | PSH, 20,
		           20000, T0_MS + (uint64_t)k);
		slot_add(s, SLOT_INGRESS, &f);
	}
	/* 45.33.9.9 probes three unused addresses: probeUnused, offender. */
	for (int k = 0; k < 3; k++) {
		snprintf(buf, sizeof(buf), "10.0.9.%d", k);
		f = mkflow("45.33.9.9", buf, TCP, 55555, 445, SYN, 2, 120, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	return s;
}

static void test_documents(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	site.peer_cap = 3;
	struct slot *s = build(&site);
	struct judge_result jr;
	struct doc_batch b = {0};
	struct doc_counter hc[] = {{"datagrams", 12}, {"setLength", 1}};
	struct doc_health h = {hc, 2};
	struct doc_opts o = {.outside_all = true};

	assert_non_null(slot_finish(s));
	assert_int_equal(judge_slot(slot_view_mut(s), &jr), 0);
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &o, &h, &b), 0);
	assert_int_equal(count_kind(&b, "slot"), 1);
	assert_int_equal(count_kind(&b, "inside"), 1); /* only active inside IPs */
	assert_int_equal(count_kind(&b, "outside"), 6);
	assert_int_equal(count_kind(&b, "offender"), 1);
	assert_string_equal(b.v[0].kind, "slot");

	for (size_t k = 0; k < b.n; k++) {
		json_t *d = parse(&b.v[k]);
		assert_string_equal(json_string_value(json_object_get(d, "kind")), b.v[k].kind);
		assert_string_equal(json_string_value(json_object_get(d, "site")), "campus");
		assert_int_equal(json_integer_value(json_object_get(d, "timeSlot")), 5890752);
		assert_string_equal(json_string_value(json_object_get(d, "@timestamp")),
		                    "2026-01-01T00:00:00Z");
		json_decref(d);
	}

	json_t *in = parse(find(&b, "inside", "10.0.0.1"));
	assert_int_equal(json_integer_value(json_object_get(in, "flows")), 5);
	assert_int_equal(json_integer_value(json_object_get(in, "octets")), 5000);
	assert_int_equal(json_integer_value(json_object_get(in, "inOctets")), 100000);
	assert_int_equal(json_integer_value(json_object_get(in, "peers")), 5);
	assert_true(json_is_true(json_object_get(in, "peerCapHit")));
	json_t *ap = json_object_get(in, "arrayPeer");
	assert_int_equal(json_array_size(ap), 3);
	assert_string_equal(json_string_value(json_array_get(ap, 0)), "93.184.0.1");
	assert_string_equal(json_string_value(json_array_get(ap, 2)), "93.184.0.3");
	json_t *labels = json_object_get(in, "labels");
	assert_int_equal(json_array_size(labels), 1);
	assert_string_equal(json_string_value(json_array_get(labels, 0)), "fanout");
	json_t *r = json_object_get(json_object_get(in, "reasons"), "fanout");
	assert_true(json_real_value(json_object_get(r, "value")) == 5.0);
	assert_true(json_real_value(json_object_get(r, "threshold")) == 3.0);
	assert_int_equal(json_integer_value(json_object_get(r, "peerCap")), 3);
	json_decref(in);

	json_t *off = parse(find(&b, "offender", "45.33.9.9"));
	assert_int_equal(json_integer_value(json_object_get(off, "touchPeers")), 3);
	assert_int_equal(json_integer_value(json_object_get(off, "unusedTouched")), 3);
	assert_int_equal(json_integer_value(json_object_get(off, "packets")), 6);
	assert_string_equal(json_string_value(json_object_get(off, "protocol")), "tcp");
	json_t *il = json_object_get(off, "ipList");
	assert_int_equal(json_array_size(il), 3);
	assert_string_equal(json_string_value(json_array_get(il, 0)), "10.0.9.0");
	labels = json_object_get(off, "labels");
	assert_string_equal(json_string_value(json_array_get(labels, 0)), "probeUnused");
	json_decref(off);

	json_t *sd = parse(&b.v[0]);
	assert_int_equal(json_integer_value(json_object_get(sd, "records")), 13);
	assert_int_equal(json_integer_value(json_object_get(sd, "offenders")), 1);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(sd, "labels"), "probeUnused")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sd, "collector"),
	                                                    "setLength")),
	                 1);
	json_decref(sd);

	doc_batch_free(&b);
	slot_destroy(s);
}

static void test_outside_top(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	site.peer_cap = 3;
	struct slot *s = build(&site);
	struct judge_result jr;
	struct doc_batch b = {0};
	struct doc_opts o = {.outside_all = false, .outside_top = 2};

	assert_non_null(slot_finish(s));
	assert_int_equal(judge_slot(slot_view_mut(s), &jr), 0);
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &o, NULL, &b), 0);
	/* Top 2 by octets (equal: lowest addresses first) plus the labelled prober. */
	assert_int_equal(count_kind(&b, "outside"), 3);
	assert_non_null(find(&b, "outside", "93.184.0.1"));
	assert_non_null(find(&b, "outside", "93.184.0.2"));
	assert_non_null(find(&b, "outside", "45.33.9.9"));
	doc_batch_free(&b);
	slot_destroy(s);
}

/*
 * Issue 12 item 2: a spoofed-source flood, 1 000 000 sources in one slot,
 * each sending 20 SYNs to one of ten inside addresses: every source is
 * labelled noPayload and becomes an offender. Before the cap each one got a
 * document (855 MB of store per slot at 5 M); now offender_max of them do,
 * the ones whose label was crossed furthest (smallest packets) first, and
 * the slot document counts and sums the rest exactly.
 */
static void test_spoofed_flood_capped(void **state)
{
	(void)state;
	enum { N = 1000000, CAP = 1000, STRONG = 300 };
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 7);
	assert_non_null(s);
	struct flow f = mkflow("1.0.0.0", "10.0.0.1", TCP, 1024, 80, SYN, 20, 800, T0_MS);
	uint64_t packets = 0, octets = 0;
	for (uint32_t k = 0; k < N; k++) {
		/* Sources 11.0.0.0 on; every 3333rd (STRONG of them) sends 20-byte packets. */
		uint8_t src[4] = {(uint8_t)(11 + (k >> 24)), (uint8_t)(k >> 16), (uint8_t)(k >> 8),
		                  (uint8_t)k};
		uint8_t dst[4] = {10, 0, 0, (uint8_t)(1 + k % 10)};
		flow_addr_from_v4(&f.src, src);
		flow_addr_from_v4(&f.dst, dst);
		f.octets = k % 3333 == 0 ? 400 : 800;
		packets += f.packets;
		octets += f.octets;
		slot_add(s, SLOT_INGRESS, &f);
	}
	struct judge_result jr;
	struct doc_batch b = {0};
	struct doc_opts o = {.outside_top = 1000, .outside_max = 2000, .offender_max = CAP};
	assert_non_null(slot_finish(s));
	assert_int_equal(judge_slot(slot_view_mut(s), &jr), 0);
	assert_int_equal(jr.offenders, N);
	assert_int_equal(jr.labels[JUDGE_NOPAYLOAD], N);
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &o, NULL, &b), 0);

	assert_int_equal(count_kind(&b, "offender"), CAP);
	assert_int_equal(count_kind(&b, "outside"), 2000);
	size_t bytes = 0;
	for (size_t k = 0; k < b.n; k++)
		bytes += b.v[k].len;
	/* The slot's documents, all kinds: under 2 MB (docs/store.md). */
	assert_true(bytes < 2000000);
	print_message("spoofed flood, %u sources: %zu documents, %zu bytes of JSON\n", (unsigned)N,
	              b.n, bytes);

	/* The strongest (20-byte packets: value 20, threshold 48) are all kept. */
	size_t strong = 0;
	for (size_t k = 0; k < b.n; k++) {
		if (strcmp(b.v[k].kind, "offender") != 0)
			continue;
		json_t *d = parse(&b.v[k]);
		strong += json_integer_value(json_object_get(d, "octets")) == 400;
		json_decref(d);
	}
	assert_int_equal(strong, STRONG + 1);

	/* The slot document: what was left out, counted and summed. */
	json_t *sd = parse(&b.v[0]);
	json_t *lo = json_object_get(json_object_get(sd, "documentsLeftOut"), "offender");
	assert_int_equal(json_integer_value(json_object_get(lo, "documents")), N - CAP);
	assert_int_equal(json_integer_value(json_object_get(lo, "flows")), N - CAP);
	assert_int_equal(json_integer_value(json_object_get(lo, "packets")), packets - 20 * CAP);
	assert_int_equal(json_integer_value(json_object_get(lo, "octets")),
	                 octets - 400 * (STRONG + 1) - 800 * (CAP - STRONG - 1));
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(lo, "labels"), "noPayload")),
	    N - CAP);
	json_t *lout = json_object_get(json_object_get(sd, "documentsLeftOut"), "outside");
	assert_int_equal(json_integer_value(json_object_get(lout, "documents")), N - 2000);
	assert_int_equal(json_integer_value(json_object_get(sd, "offenders")), N);
	json_decref(sd);
	doc_batch_free(&b);
	slot_destroy(s);
}

/* Below the caps nothing changes, and documentsLeftOut is all zero. */
static void test_caps_not_reached(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	site.peer_cap = 3;
	struct slot *s = build(&site);
	struct judge_result jr;
	struct doc_batch b = {0}, c = {0};
	struct doc_opts o = {.outside_all = true},
	                capped = {.outside_all = true, .outside_max = 6, .offender_max = 1};

	assert_non_null(slot_finish(s));
	assert_int_equal(judge_slot(slot_view_mut(s), &jr), 0);
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &o, NULL, &b), 0);
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &capped, NULL, &c), 0);
	assert_int_equal(b.n, c.n);
	for (size_t k = 0; k < b.n; k++)
		assert_string_equal(b.v[k].json, c.v[k].json);
	assert_non_null(
	    strstr(b.v[0].json, "\"documentsLeftOut\":{\"outside\":{\"documents\":0,\"flows\":0,"));
	doc_batch_free(&c);
	/* One outside document fewer: the labelled prober stays, the least octets go. */
	capped.outside_max = 5;
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &capped, NULL, &c), 0);
	assert_int_equal(count_kind(&c, "outside"), 5);
	assert_non_null(find(&c, "outside", "45.33.9.9"));
	json_t *sd = parse(&c.v[0]);
	json_t *lout = json_object_get(json_object_get(sd, "documentsLeftOut"), "outside");
	assert_int_equal(json_integer_value(json_object_get(lout, "documents")), 1);
	json_decref(sd);
	doc_batch_free(&b);
	doc_batch_free(&c);
	slot_destroy(s);
}

static void test_timestamp(void **state)
{
	(void)state;
	char buf[32];
	doc_timestamp(5890752, buf, sizeof(buf));
	assert_string_equal(buf, "2026-01-01T00:00:00Z");
	doc_timestamp(5890753, buf, sizeof(buf));
	assert_string_equal(buf, "2026-01-01T00:05:00Z");
}

/* Documents, not only arrays, must not depend on record order (issue: property test). */
static void test_documents_order_independent(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct site_config site;
	test_site(&site);
	site.peer_cap = 25;
	site.th.min_packets = 5; /* make labels likely on this small random mix */
	site.th.scan_min_targets = 5;
	struct flow *recs = calloc(N, sizeof(*recs));
	size_t *order = calloc(N, sizeof(*order));
	struct doc_opts o = {.outside_all = false, .outside_top = 50};
	struct doc_batch base = {0};
	uint64_t st = 7;

	gen_records(&st, recs, N);
	for (size_t k = 0; k < N; k++)
		order[k] = k;
	for (int round = 0; round < 4; round++) {
		if (round)
			shuffle(&st, order, N);
		struct slot *s = slot_create(&site, 0, 5890752, 100 + (uint64_t)round);
		struct judge_result jr;
		struct doc_batch b = {0};
		feed(s, recs, order, N);
		assert_non_null(slot_finish(s));
		assert_int_equal(judge_slot(slot_view_mut(s), &jr), 0);
		assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &o, NULL, &b), 0);
		if (round == 0) {
			base = b;
			size_t labelled = 0;
			for (size_t k = 0; k < b.n; k++)
				labelled += strstr(b.v[k].json, "\"labels\":[\"") != NULL;
			assert_true(labelled > 0); /* the property covers verdicts too */
		} else {
			assert_int_equal(b.n, base.n);
			for (size_t k = 0; k < b.n; k++) {
				assert_string_equal(b.v[k].kind, base.v[k].kind);
				assert_string_equal(b.v[k].key, base.v[k].key);
				assert_string_equal(b.v[k].json, base.v[k].json);
			}
			doc_batch_free(&b);
		}
		slot_destroy(s);
	}
	doc_batch_free(&base);
	free(recs);
	free(order);
}

/* The text of member `key` of the first document of kind, up to ',' or '}' (NULL: absent). */
static char *member_text(const struct doc_batch *b, const char *kind, const char *key, char *out,
                         size_t len)
{
	const struct doc *d = NULL;
	char pat[64];

	for (size_t k = 0; k < b->n && !d; k++)
		if (strcmp(b->v[k].kind, kind) == 0)
			d = &b->v[k];
	assert_non_null(d);
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(d->json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	size_t n = strcspn(p, ",}");
	assert_true(n < len);
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

static char *jansson_text(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
	json_decref(j);
	return s;
}

/* A label's value / threshold print exactly as json_real() with precision 6 did. */
static void test_reals_like_jansson(void **state)
{
	(void)state;
	static const double special[] = {
		0.0, -0.0, 1.0, -1.0, 44.0, 43.0847, 43.08474, 1e-7, 1e-5, 0.0001, 0.00012345678,
		123456.0, 123456.5, 999999.0, 999999.5, 1e6, 1e7, 1234567.0, 1e20, 1e21, 1e100,
		-1e-300, 5e-324, DBL_MIN, DBL_MAX, -DBL_MAX, 0.1, 0.5, 2.5, 1.0 / 3.0, 2.0 / 3.0,
		100.0, 1e15, 9.999995, 9.9999949, 0.30000000000000004, 4294967296.0, 1e-10,
	};
	struct site_config site;
	test_site(&site);
	struct slot *s = build(&site);
	struct judge_result jr;
	struct doc_opts o = {.outside_all = true};
	uint64_t st = 99;
	char got[64];

	assert_non_null(slot_finish(s));
	struct slot_view *v = slot_view_mut(s);
	assert_int_equal(judge_slot(v, &jr), 0);
	long off = find_outside(v, "45.33.9.9");
	assert_true(off >= 0);
	assert_true(v->outside[off].n_labels > 0);
	struct slot_label *l = &v->labels[v->outside[off].label_first];
	size_t n_special = sizeof(special) / sizeof(special[0]);
	for (size_t k = 0; k < n_special + 20000; k++) {
		double x;
		if (k < n_special) {
			x = special[k];
		} else {
			/* Random mantissas over every magnitude, both signs. */
			st ^= st << 13, st ^= st >> 7, st ^= st << 17;
			double m = (double)(st >> 11) / 9007199254740992.0;
			int e = (int)(st % 90) - 45;
			x = (st & 1 ? -1 : 1) * m;
			for (; e > 0; e--)
				x *= 10.0;
			for (; e < 0; e++)
				x /= 10.0;
			if (k % 4 == 0 && fabs(x) < 1e15)
				x = (double)(int64_t)(x * 1000.0); /* integral values get ".0" */
		}
		l->value = x;
		l->threshold = -x / 7.0;
		struct doc_batch b = {0};
		assert_int_equal(doc_slot_build(v, &jr, &o, NULL, &b), 0);
		char *want = jansson_text(json_real(x));
		assert_non_null(member_text(&b, "offender", "value", got, sizeof(got)));
		assert_string_equal(got, want);
		free(want);
		want = jansson_text(json_real(-x / 7.0));
		assert_non_null(member_text(&b, "offender", "threshold", got, sizeof(got)));
		assert_string_equal(got, want);
		free(want);
		doc_batch_free(&b);
	}
	/* json_real() refuses NaN and infinities: the member is left out, as before. */
	static const double bad[] = {NAN, INFINITY, -INFINITY};
	for (size_t k = 0; k < 3; k++) {
		struct doc_batch b = {0};
		l->value = bad[k];
		l->threshold = 1.0;
		assert_int_equal(doc_slot_build(v, &jr, &o, NULL, &b), 0);
		assert_null(member_text(&b, "offender", "value", got, sizeof(got)));
		assert_string_equal(member_text(&b, "offender", "threshold", got, sizeof(got)), "1.0");
		json_decref(parse(find(&b, "offender", "45.33.9.9")));
		doc_batch_free(&b);
	}
	slot_destroy(s);
}

/* Strings escape as jansson's did: every ASCII byte in the site name. */
static void test_escapes_like_jansson(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = build(&site);
	struct judge_result jr;
	struct doc_opts o = {.outside_all = true};

	assert_non_null(slot_finish(s));
	struct slot_view *v = slot_view_mut(s);
	assert_int_equal(judge_slot(v, &jr), 0);
	for (int first = 1; first < 128; first += SITE_NAME_MAX - 1) {
		int k = 0;
		for (int c = first; c < 128 && k < SITE_NAME_MAX - 1; c++)
			site.name[k++] = (char)c;
		site.name[k] = '\0';
		struct doc_batch b = {0};
		assert_int_equal(doc_slot_build(v, &jr, &o, NULL, &b), 0);
		char *want = jansson_text(json_string(site.name));
		char pat[512];
		snprintf(pat, sizeof(pat), "\"site\":%s,\"timeSlot\":", want);
		for (size_t d = 0; d < b.n; d++) {
			assert_non_null(strstr(b.v[d].json, pat));
			json_t *j = parse(&b.v[d]);
			assert_string_equal(json_string_value(json_object_get(j, "site")), site.name);
			json_decref(j);
		}
		free(want);
		doc_batch_free(&b);
	}
	slot_destroy(s);
}

/*
 * Layer-2 facts of the stub: 10.0.0.1 has one MAC, seen on two devices; the
 * second device's name and one interface name are not UTF-8 and are left
 * out, as jansson's json_string() refused them.
 */
static const uint8_t stub_macs_v[1][6] = {{0x02, 0, 0, 0, 0, 0x01}};

static uint32_t l2_macs_cb(const void *ud, const struct flow_addr *ip, const uint8_t (**out)[6])
{
	(void)ud;
	if (ip->b[15] != 1 || ip->b[14] != 0)
		return 0;
	*out = stub_macs_v;
	return 1;
}

static char if_a[] = "Gi1/0/1", if_bad[] = "Gi1/0/\xff", if_b[] = "Te1/1";
static char *const ifs_one[] = {if_a, if_bad};
static char *const ifs_two[] = {if_b};

static bool l2_place_cb(const void *ud, const uint8_t mac[6], uint32_t k, struct doc_l2_place *out)
{
	(void)ud;
	assert_memory_equal(mac, stub_macs_v[0], 6);
	if (k == 0)
		*out = (struct doc_l2_place){"sw\"1", ifs_one, 2};
	else if (k == 1)
		*out = (struct doc_l2_place){"sw\xc0\xaf", ifs_two, 1};
	else
		return false;
	return true;
}

static uint32_t l2_none_cb(const void *ud, const struct flow_addr *ip, const uint8_t (**out)[6])
{
	(void)ud;
	(void)ip;
	(void)out;
	return 0;
}

/*
 * repliedTo: of arrayPeer, the peers whose conversation the outside IP
 * started (a scanner's SYN answered with an RST); the client's own
 * conversation is not in it.
 */
static void test_replied_to(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 7);
	struct judge_result jr;
	struct doc_opts o = {.outside_all = true};
	struct doc_batch b = {0};
	struct flow f;

	/* Its own conversation with a web server. */
	f = mkflow("10.0.0.1", "93.184.0.1", TCP, 40000, 443, SYN | ACK | PSH, 10, 1000, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	f = mkflow("93.184.0.1", "10.0.0.1", TCP, 443, 40000, SYN | ACK | PSH, 10, 9000, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	/* A scanner's SYN, answered with an RST. */
	f = mkflow("45.33.9.9", "10.0.0.1", TCP, 55555, 23, SYN, 1, 60, T0_MS + 5);
	slot_add(s, SLOT_INGRESS, &f);
	f = mkflow("10.0.0.1", "45.33.9.9", TCP, 23, 55555, RST | ACK, 1, 40, T0_MS + 6);
	slot_add(s, SLOT_EGRESS, &f);

	assert_non_null(slot_finish(s));
	assert_int_equal(judge_slot(slot_view_mut(s), &jr), 0);
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &o, NULL, &b), 0);
	json_t *in = parse(find(&b, "inside", "10.0.0.1"));
	assert_int_equal(json_array_size(json_object_get(in, "arrayPeer")), 2);
	json_t *rt = json_object_get(in, "repliedTo");
	assert_int_equal(json_array_size(rt), 1);
	assert_string_equal(json_string_value(json_array_get(rt, 0)), "45.33.9.9");
	json_decref(in);
	doc_batch_free(&b);
	slot_destroy(s);
}

static void test_l2_fields(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = build(&site);
	struct judge_result jr;
	struct doc_opts o = {.outside_all = true};
	struct doc_l2 l2 = {.macs = l2_macs_cb, .place = l2_place_cb};
	struct doc_batch b = {0};

	assert_non_null(slot_finish(s));
	assert_int_equal(judge_slot(slot_view_mut(s), &jr), 0);
	assert_int_equal(doc_slot_build_l2(slot_view_mut(s), &jr, &o, NULL, &l2, &b), 0);
	const struct doc *d = find(&b, "inside", "10.0.0.1");
	assert_non_null(d);
	assert_non_null(strstr(d->json,
	                       "\"allowListed\":false,\"arpMacList\":[\"02:00:00:00:00:01\"],"
	                       "\"arpLocations\":[{\"mac\":\"02:00:00:00:00:01\","
	                       "\"device\":\"sw\\\"1\",\"interfaceList\":[\"Gi1/0/1\"]},"
	                       "{\"mac\":\"02:00:00:00:00:01\",\"interfaceList\":"
	                       "[\"Te1/1\"]}],\"labels\":[],"));
	json_decref(parse(d));
	doc_batch_free(&b);

	/* An IP without MACs leaves the document as without layer 2. */
	struct doc_batch plain = {0};
	l2.macs = l2_none_cb;
	assert_int_equal(doc_slot_build_l2(slot_view_mut(s), &jr, &o, NULL, &l2, &b), 0);
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &o, NULL, &plain), 0);
	assert_int_equal(b.n, plain.n);
	for (size_t k = 0; k < b.n; k++)
		assert_string_equal(b.v[k].json, plain.v[k].json);
	doc_batch_free(&b);
	doc_batch_free(&plain);
	slot_destroy(s);
}

/*
 * Text from outside is written exactly when jansson's json_string() takes
 * it, and then as jansson dumps it: valid and invalid UTF-8 of every kind
 * (overlong, surrogate, past U+10FFFF, cut short, stray continuation).
 */
static void test_writer_text_like_jansson(void **state)
{
	static const char *const texts[] = {
	    "Gi1/0/1",
	    "",
	    "caf\xc3\xa9",
	    "\xe2\x82\xac",
	    "\xf0\x9f\x98\x80",
	    "\xf4\x8f\xbf\xbf",
	    "\xc3",
	    "\xe2\x82",
	    "\xf0\x9f\x98",
	    "\x80",
	    "a\xbf",
	    "\xc0\xaf",
	    "\xc1\xbf",
	    "\xc0",
	    "\xc1",
	    "\xe0\x80\xaf",
	    "\xf0\x80\x80\xaf",
	    "\xed\xa0\x80",
	    "\xed\xbf\xbf",
	    "\xf4\x90\x80\x80",
	    "\xf5\x80\x80\x80",
	    "\xff",
	    "\xc3\x28",
	    "tab\there",
	    "q\"b\\s",
	    "\x7f",
	    "\xef\xbb\xbf",
	};
	(void)state;
	struct doc_writer *w = doc_writer_create();
	assert_non_null(w);
	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		struct doc_batch b = {0};
		json_t *o = json_object(), *a = json_array(), *js = json_string(texts[k]);
		json_array_append_new(a, json_string("x"));
		if (js) {
			json_array_append(a, js);
			json_object_set(o, "m", js);
			json_decref(js);
		}
		json_object_set_new(o, "a", a);
		char *want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		assert_non_null(want);
		json_decref(o);

		/* The writer's document has the base members: compare what follows them. */
		doc_writer_begin(w, "t", "s", 1, "ts");
		doc_writer_member_text(w, "m", texts[k]);
		doc_writer_key(w, "a");
		doc_writer_open(w, '[');
		doc_writer_str(w, "x");
		assert_int_equal(doc_writer_text(w, texts[k]), js != NULL);
		doc_writer_close(w, ']');
		assert_int_equal(doc_writer_emit(w, "t", "k", &b), 0);
		const char *head =
		    "{\"kind\":\"t\",\"site\":\"s\",\"timeSlot\":1,\"@timestamp\":\"ts\",";
		assert_int_equal(strncmp(b.v[0].json, head, strlen(head)), 0);
		assert_string_equal(b.v[0].json + strlen(head), want + 1);
		free(want);
		doc_batch_free(&b);
	}
	doc_writer_destroy(w);
}

/* Every kind of value, exactly; a failed allocation leaves the batch as it was. */
static void test_writer(void **state)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
	struct doc_writer *w = doc_writer_create();
	struct doc_batch b = {0};
	struct flow_addr a6;
	uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

	(void)state;
	assert_non_null(w);
	flow_addr_from_v6(&a6, b6);
	doc_writer_begin(w, "arpX", "campus", -5, "2026-01-01T00:00:00Z");
	doc_writer_key(w, "n");
	doc_writer_null(w);
	doc_writer_key(w, "i");
	doc_writer_i64(w, INT64_MIN);
	doc_writer_key(w, "l");
	doc_writer_open(w, '[');
	doc_writer_mac(w, mac);
	doc_writer_addr(w, &a6);
	doc_writer_i64(w, 0);
	doc_writer_open(w, '{');
	doc_writer_close(w, '}');
	doc_writer_close(w, ']');
	doc_writer_member_text(w, "gone", NULL);
	assert_int_equal(doc_writer_emit(w, "arpX", "the key", &b), 0);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.v[0].kind, "arpX");
	assert_string_equal(b.v[0].key, "the key");
	assert_string_equal(b.v[0].json, "{\"kind\":\"arpX\",\"site\":\"campus\",\"timeSlot\":-5,"
	                                 "\"@timestamp\":\"2026-01-01T00:00:00Z\",\"n\":null,"
	                                 "\"i\":-9223372036854775808,\"l\":[\"52:54:00:ab:cd:ef\","
	                                 "\"2001:db8::1\",0,{}]}");
	assert_int_equal(b.v[0].len, strlen(b.v[0].json));

	/* The copy fails: -ENOMEM, the batch still holds one document. */
	doc_writer_begin(w, "arpX", "campus", 1, "t");
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(doc_writer_emit(w, "arpX", "k2", &b), -ENOMEM);
	fault_disarm();
	assert_int_equal(b.n, 1);
	/* The next document starts clean. */
	doc_writer_begin(w, "arpX", "campus", 1, "t");
	assert_int_equal(doc_writer_emit(w, "arpX", "k2", &b), 0);
	assert_int_equal(b.n, 2);
	assert_string_equal(
	    b.v[1].json,
	    "{\"kind\":\"arpX\",\"site\":\"campus\",\"timeSlot\":1,\"@timestamp\":\"t\"}");
	doc_batch_free(&b);
	doc_writer_destroy(w);

	fault_arm(0, FAULT_ONCE);
	assert_null(doc_writer_create());
	fault_disarm();
}

/* judge_l2.arp and doc_l2.arp for test_new_reasons: a polled gateway that shows nothing. */
static void arp_none_cb(const void *ud, const struct site_config *site,
                        const struct flow_addr *ip, struct judge_arp *out)
{
	(void)ud;
	(void)site;
	(void)ip;
	memset(out, 0, sizeof(*out));
	out->gateway_polled = true;
	out->min_age_s = -1;
}

/*
 * The reasons of the labels issue 13 added: flood's signal and half-open
 * figures (an answered SYN flood), underAttack on a silent host (its
 * document exists for the label), arpMissing with the devices' facts.
 */
static void test_new_reasons(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 3);
	char src[32];

	struct flow f = mkflow("10.0.0.1", "93.184.0.1", TCP, 40000, 443, SYN | ACK, 10, 5000, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	for (int k = 0; k < 10; k++) {
		f = mkflow("198.51.100.80", "10.0.0.1", TCP, (uint16_t)(1000 + k), 80, SYN, 500,
		           500 * 60, T0_MS + 10000 * (uint64_t)k);
		slot_add(s, SLOT_INGRESS, &f);
		f = mkflow("10.0.0.1", "198.51.100.80", TCP, 80, (uint16_t)(1000 + k), SYN | ACK, 500,
		           500 * 60, T0_MS + 10000 * (uint64_t)k);
		slot_add(s, SLOT_EGRESS, &f);
	}
	for (int k = 0; k < 25; k++) {
		snprintf(src, sizeof(src), "203.0.113.%d", k + 1);
		f = mkflow(src, "10.0.0.99", UDP, 53, 3074, 0, 1300, 1300 * 100, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	struct judge_result jr;
	struct judge_l2 l2 = {.arp = arp_none_cb};
	struct doc_l2 dl2 = {.arp = arp_none_cb};
	struct doc_opts o = {.outside_all = true};
	struct doc_batch b = {0};
	assert_non_null(slot_finish(s));
	assert_int_equal(judge_slot_l2(slot_view_mut(s), &l2, &jr), 0);
	assert_int_equal(doc_slot_build_l2(slot_view_mut(s), &jr, &o, NULL, &dl2, &b), 0);

	const struct doc *d = find(&b, "offender", "198.51.100.80");
	assert_non_null(d);
	json_t *j = parse(d);
	json_t *r = json_object_get(json_object_get(j, "reasons"), "flood");
	assert_string_equal(json_string_value(json_object_get(r, "signal")), "synFlood");
	assert_int_equal(json_integer_value(json_object_get(r, "halfOpenPackets")), 5000);
	assert_true(json_real_value(json_object_get(r, "activeSeconds")) == 91.0);
	assert_true(json_real_value(json_object_get(r, "answeredRatio")) == 1.0);
	json_decref(j);

	d = find(&b, "inside", "10.0.0.99");
	assert_non_null(d);
	j = parse(d);
	r = json_object_get(json_object_get(j, "reasons"), "underAttack");
	assert_int_equal(json_integer_value(json_object_get(r, "packets")), 32500);
	assert_int_equal(json_integer_value(json_object_get(r, "sources")), 25);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(r, "protocols"), "udp")), 32500);
	assert_null(json_object_get(json_object_get(r, "protocols"), "tcp"));
	assert_true(json_real_value(json_object_get(r, "answeredShare")) == 0.0);
	json_decref(j);

	d = find(&b, "inside", "10.0.0.1");
	assert_non_null(d);
	j = parse(d);
	r = json_object_get(json_object_get(j, "reasons"), "arpMissing");
	assert_true(json_is_true(json_object_get(r, "gatewayPolled")));
	assert_true(json_is_false(json_object_get(r, "onGateway")));
	assert_int_equal(json_array_size(json_object_get(r, "typeList")), 0);
	assert_null(json_object_get(r, "minAgeSeconds"));
	json_decref(j);
	doc_batch_free(&b);
	slot_destroy(s);
}

struct ranked {
	struct flow_addr addr;
	uint64_t octets;
	bool labelled;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *p = a, *q = b;
	if (p->octets != q->octets)
		return p->octets > q->octets ? -1 : 1;
	return memcmp(p->addr.b, q->addr.b, 16);
}

/* Label the unlabelled o with l, appended to the view's array as the judge appends. */
static void label_by_hand(struct slot_view *v, struct slot_outside *o, const struct slot_label *l)
{
	if (v->n_labels == v->cap_labels) {
		v->cap_labels = v->cap_labels ? 2 * v->cap_labels : 64;
		v->labels = realloc(v->labels, v->cap_labels * sizeof(*v->labels));
		assert_non_null(v->labels);
	}
	o->label_first = (uint32_t)v->n_labels;
	o->n_labels = 1;
	v->labels[v->n_labels++] = *l;
}

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/*
 * The top-N selection against a plain sort of every outside IP (what doc.c
 * did before it kept a heap), for N from 0 to past the number of outside IPs.
 */
static void test_outside_top_random(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct site_config site;
	test_site(&site);
	site.th.min_packets = 5;
	site.th.scan_min_targets = 5;
	struct flow *recs = calloc(N, sizeof(*recs));
	size_t *order = calloc(N, sizeof(*order));
	uint64_t st = 11;

	gen_records(&st, recs, N);
	for (size_t k = 0; k < N; k++)
		order[k] = k;
	struct slot *s = slot_create(&site, 0, 5890752, 3);
	struct judge_result jr;
	feed(s, recs, order, N);
	assert_non_null(slot_finish(s));
	struct slot_view *v = slot_view_mut(s);
	assert_int_equal(judge_slot(v, &jr), 0);
	/* Equal octets must come up, so that the address breaks ties; and labels. */
	for (size_t k = 0; k < v->n_outside; k++) {
		if (k % 3 == 0)
			v->outside[k].to.octets = v->outside[k].from.octets = 1000;
		if (k % 11 == 5 && v->outside[k].n_labels == 0)
			label_by_hand(
			    v, &v->outside[k],
			    &(struct slot_label){.id = JUDGE_SCAN, .value = 9.0, .threshold = 5.0});
	}

	struct ranked *r = calloc(v->n_outside, sizeof(*r));
	struct flow_addr *want = calloc(v->n_outside, sizeof(*want));
	size_t labelled = 0;
	for (size_t k = 0; k < v->n_outside; k++) {
		r[k].addr = v->outside[k].addr;
		r[k].octets = v->outside[k].to.octets + v->outside[k].from.octets;
		r[k].labelled = v->outside[k].n_labels > 0;
		labelled += r[k].labelled;
	}
	assert_true(labelled > 0 && v->n_outside > 100);
	qsort(r, v->n_outside, sizeof(*r), ranked_cmp);
	size_t tops[] = {0, 1, 2, 7, 50, 99, v->n_outside / 2, v->n_outside - 1, v->n_outside,
	                 v->n_outside + 5};
	for (size_t t = 0; t < sizeof(tops) / sizeof(tops[0]); t++) {
		struct doc_opts o = {.outside_all = false, .outside_top = (uint32_t)tops[t]};
		struct doc_batch b = {0};
		size_t n = 0;
		for (size_t k = 0; k < v->n_outside; k++)
			if (k < tops[t] || r[k].labelled)
				want[n++] = r[k].addr;
		qsort(want, n, sizeof(*want), addr_cmp);
		assert_int_equal(doc_slot_build(v, &jr, &o, NULL, &b), 0);
		size_t i = 0;
		for (size_t k = 0; k < b.n; k++) {
			if (strcmp(b.v[k].kind, "outside") != 0)
				continue;
			char ip[64];
			assert_true(i < n);
			flow_addr_format(&want[i++], ip, sizeof(ip));
			assert_string_equal(b.v[k].key, ip);
		}
		assert_int_equal(i, n);
		doc_batch_free(&b);
	}
	free(r);
	free(want);
	slot_destroy(s);
	free(recs);
	free(order);
}

/* An attack event's document: every field, its key, and a batch moved onto another. */
static void test_attack_doc(void **state)
{
	(void)state;
	struct attack_event ev;
	struct doc_batch a = {0}, b = {0};

	memset(&ev, 0, sizeof(ev));
	ev.site = "campus";
	flow_addr_parse("10.0.77.7", &ev.ip);
	ev.dir = ATTACK_IN;
	ev.cls = ATTACK_CLASS_SYN;
	ev.start_ms = 1767226205000ull;
	ev.detected_ms = 1767226206000ull;
	ev.end_ms = 1767226240000ull;
	ev.now_ms = 1767226244000ull;
	ev.seq = 4;
	ev.cur[ATTACK_PPS] = 0;
	ev.peak[ATTACK_PPS] = 100084;
	ev.peak[ATTACK_BPS] = 32026880;
	ev.peak[ATTACK_FPS] = 1400.5;
	ev.threshold[ATTACK_PPS] = 20000;
	ev.threshold[ATTACK_FPS] = 10000;
	ev.packets = 2700000;
	ev.octets = 108000000;
	ev.flows = 29000;
	flow_addr_parse("198.51.12.11", &ev.sources[0].addr);
	ev.sources[0].packets = 60;
	ev.n_sources = 1;
	ev.ports[0].key = 80;
	ev.ports[0].packets = 2700000;
	ev.n_ports = 1;
	ev.protocols[0].key = 6;
	ev.protocols[0].packets = 2700000;
	ev.n_protocols = 1;
	assert_int_equal(doc_attack_build(&ev, ATTACK_END, 5890754, &a), 0);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.v[0].kind, "attack");
	assert_string_equal(
	    a.v[0].json,
	    "{\"kind\":\"attack\",\"site\":\"campus\",\"timeSlot\":5890754,"
	    "\"@timestamp\":\"2026-01-01T00:10:44.000Z\",\"id\":\"0cecffce720f88d5\",\"seq\":4,"
	    "\"state\":\"end\",\"ip\":\"10.0.77.7\",\"direction\":\"in\",\"class\":\"syn\","
	    "\"start\":1767226205000,\"detected\":1767226206000,\"end\":1767226240000,"
	    "\"updated\":1767226244000,\"current\":{\"pps\":0.0,\"bps\":0.0,\"fps\":0.0},"
	    "\"peak\":{\"pps\":100084.0,\"bps\":3.20269e7,\"fps\":1400.5},"
	    "\"thresholds\":{\"pps\":20000.0,\"bps\":0.0,\"fps\":10000.0},\"packets\":2700000,"
	    "\"octets\":108000000,\"flows\":29000.0,"
	    "\"sources\":[{\"ip\":\"198.51.12.11\",\"packets\":60}],"
	    "\"ports\":[{\"port\":80,\"packets\":2700000}],"
	    "\"protocols\":[{\"proto\":6,\"packets\":2700000}]}");
	assert_string_equal(a.v[0].key, "0cecffce720f88d5-4");
	/* The start has no end field; the same event keeps its id. */
	ev.seq = 0;
	assert_int_equal(doc_attack_build(&ev, ATTACK_START, 5890754, &b), 0);
	assert_null(strstr(b.v[0].json, "\"end\""));
	assert_non_null(strstr(b.v[0].json, "\"id\":\"0cecffce720f88d5\""));
	assert_string_equal(b.v[0].key, "0cecffce720f88d5-0");
	/* Moving appends and empties the source. */
	assert_int_equal(doc_batch_move(&a, &b), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(b.n, 0);
	assert_null(b.v);
	assert_string_equal(a.v[1].key, "0cecffce720f88d5-0");
	assert_int_equal(doc_batch_move(&a, &b), 0);
	assert_int_equal(a.n, 2);
	doc_batch_free(&a);
	/* Rated from the detector's live sample: said after the flows, only then. */
	ev.sampling = 1;
	assert_int_equal(doc_attack_build(&ev, ATTACK_START, 5890754, &b), 0);
	assert_null(strstr(b.v[0].json, "\"sampling\""));
	ev.sampling = 8;
	assert_int_equal(doc_attack_build(&ev, ATTACK_START, 5890754, &b), 0);
	assert_non_null(strstr(b.v[1].json, "\"flows\":29000.0,\"sampling\":8,\"sources\":"));
	doc_batch_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_documents),
	    cmocka_unit_test(test_outside_top),
	    cmocka_unit_test(test_spoofed_flood_capped),
	    cmocka_unit_test(test_caps_not_reached),
	    cmocka_unit_test(test_timestamp),
	    cmocka_unit_test(test_documents_order_independent),
	    cmocka_unit_test(test_reals_like_jansson),
	    cmocka_unit_test(test_escapes_like_jansson),
	    cmocka_unit_test(test_writer_text_like_jansson),
	    cmocka_unit_test(test_writer),
	    cmocka_unit_test(test_replied_to),
	    cmocka_unit_test(test_l2_fields),
	    cmocka_unit_test(test_new_reasons),
	    cmocka_unit_test(test_outside_top_random),
	    cmocka_unit_test(test_attack_doc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
