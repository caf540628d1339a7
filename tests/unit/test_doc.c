/*
 * Unit tests for src/doc/doc.c: the documents of a judged slot -- every kind
 * present with the common fields, exact figures, labels with reasons, the
 * peer cap on arrayPeer, and the outside selection (all / top N + labelled).
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "nfsentry/doc.h"
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
	struct doc_counter hc[] = {{"datagrams", 12}, {"set_length", 1}};
	struct doc_health h = {hc, 2};
	struct doc_opts o = {.outside_all = true};

	assert_non_null(slot_finish(s));
	judge_slot(slot_view_mut(s), &jr);
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
	                                                    "set_length")),
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
	judge_slot(slot_view_mut(s), &jr);
	assert_int_equal(doc_slot_build(slot_view_mut(s), &jr, &o, NULL, &b), 0);
	/* Top 2 by octets (equal: lowest addresses first) plus the labelled prober. */
	assert_int_equal(count_kind(&b, "outside"), 3);
	assert_non_null(find(&b, "outside", "93.184.0.1"));
	assert_non_null(find(&b, "outside", "93.184.0.2"));
	assert_non_null(find(&b, "outside", "45.33.9.9"));
	doc_batch_free(&b);
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
		judge_slot(slot_view_mut(s), &jr);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_outside_top),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_documents_order_independent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
