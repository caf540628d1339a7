/*
 * Unit tests for src/judge/judge.c: each label of rules I and II on a slot
 * built from records, the "(decided)" points of METHOD §5 (a popular resolver
 * is not a scanner; RSTs from an inside scanner's victims are not noPayload;
 * thin evidence gives no label), and the allow-list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "nfsentry/judge.h"
#include "slot_helpers.h"

static bool has_label(const struct slot_verdict *vd, enum judge_label l)
{
	for (unsigned k = 0; k < vd->n; k++)
		if (vd->v[k].id == l)
			return true;
	return false;
}

static const struct slot_label *get_label(const struct slot_verdict *vd, enum judge_label l)
{
	for (unsigned k = 0; k < vd->n; k++)
		if (vd->v[k].id == l)
			return &vd->v[k];
	return NULL;
}

/* Forty active inside clients, each talking to a web server and a resolver. */
static void normal_clients(struct slot *s, int n)
{
	char in[32], web[32];

	for (int k = 0; k < n; k++) {
		snprintf(in, sizeof(in), "10.0.0.%d", 10 + k);
		snprintf(web, sizeof(web), "93.184.%d.%d", k % 3, 1 + k % 7);
		struct flow f = mkflow(in, web, TCP, (uint16_t)(40000 + k), 443, SYN | ACK | PSH | FIN,
		                       30, 3000, T0_MS + (uint64_t)k);
		slot_add(s, SLOT_EGRESS, &f);
		f = mkflow(web, in, TCP, 443, (uint16_t)(40000 + k), SYN | ACK | PSH | FIN, 60,
		           80000, T0_MS + (uint64_t)k);
		slot_add(s, SLOT_INGRESS, &f);
		f = mkflow(in, "8.8.8.8", UDP, (uint16_t)(50000 + k), 53, 0, 10, 700, T0_MS);
		slot_add(s, SLOT_EGRESS, &f);
		f = mkflow("8.8.8.8", in, UDP, 53, (uint16_t)(50000 + k), 0, 10, 1500, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
}

static struct slot_view *judged(struct slot *s, struct judge_result *res)
{
	assert_non_null(slot_finish(s));
	struct slot_view *v = slot_view_mut(s);
	judge_slot(v, res);
	return v;
}

static void test_normal_traffic_unlabelled(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 1);
	struct judge_result res;

	normal_clients(s, 40);
	struct slot_view *v = judged(s, &res);
	for (size_t k = 0; k < v->n_inside; k++)
		assert_int_equal(v->inside[k].verdict.n, 0);
	for (size_t k = 0; k < v->n_outside; k++) {
		assert_int_equal(v->outside[k].verdict.n, 0);
		assert_false(v->outside[k].in_c);
	}
	assert_int_equal(res.offenders, 0);
	/* The resolver serves all forty clients and is still not a scanner. */
	assert_int_equal(v->outside[find_outside(v, "8.8.8.8")].refs, 40);
	slot_destroy(s);
}

static void test_scan_and_nopayload(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 2);
	struct judge_result res;
	char in[32];

	normal_clients(s, 40);
	/* A SYN scanner reaches 25 of the 40 active hosts, 2 SYNs each. */
	for (int k = 0; k < 25; k++) {
		snprintf(in, sizeof(in), "10.0.0.%d", 10 + k);
		struct flow f = mkflow("45.33.1.1", in, TCP, 61000, 22, SYN, 2, 88, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	struct slot_view *v = judged(s, &res);
	struct slot_outside *o = &v->outside[find_outside(v, "45.33.1.1")];
	assert_true(has_label(&o->verdict, JUDGE_SCAN));
	const struct slot_label *l = get_label(&o->verdict, JUDGE_SCAN);
	assert_true(l->value == 25.0);
	assert_true(l->threshold == 20.0); /* max(0.5 x 40, scan_min_targets 20) */
	assert_true(has_label(&o->verdict, JUDGE_NOPAYLOAD));
	assert_true(get_label(&o->verdict, JUDGE_NOPAYLOAD)->value == 44.0);
	assert_true(o->in_c);
	assert_false(has_label(&o->verdict, JUDGE_PROBEUNUSED));
	assert_int_equal(res.labels[JUDGE_SCAN], 1);
	assert_int_equal(res.offenders, 1);
	slot_destroy(s);

	/* The same scanner over 19 hosts: below scan_min_targets. */
	s = slot_create(&site, 0, 5890752, 2);
	normal_clients(s, 40);
	for (int k = 0; k < 19; k++) {
		snprintf(in, sizeof(in), "10.0.0.%d", 10 + k);
		struct flow f = mkflow("45.33.1.1", in, TCP, 61000, 22, SYN, 2, 88, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	v = judged(s, &res);
	o = &v->outside[find_outside(v, "45.33.1.1")];
	assert_false(has_label(&o->verdict, JUDGE_SCAN));
	assert_true(has_label(&o->verdict, JUDGE_NOPAYLOAD));
	slot_destroy(s);
}

static void test_probe_unused(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 3);
	struct judge_result res;
	char in[32];

	normal_clients(s, 10);
	for (int k = 0; k < 3; k++) {
		snprintf(in, sizeof(in), "10.9.0.%d", k);
		struct flow f = mkflow("45.33.2.2", in, TCP, 61000, 445, SYN, 1, 60, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	/* Two unused addresses only: in C (example 2) but under probe_min_targets. */
	for (int k = 0; k < 2; k++) {
		snprintf(in, sizeof(in), "10.9.1.%d", k);
		struct flow f = mkflow("45.33.3.3", in, TCP, 61000, 445, SYN, 1, 60, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	struct slot_view *v = judged(s, &res);
	struct slot_outside *o = &v->outside[find_outside(v, "45.33.2.2")];
	assert_true(has_label(&o->verdict, JUDGE_PROBEUNUSED));
	assert_true(get_label(&o->verdict, JUDGE_PROBEUNUSED)->value == 3.0);
	assert_true(o->in_c);
	/* 3 packets total: too little for noPayload. */
	assert_false(has_label(&o->verdict, JUDGE_NOPAYLOAD));
	struct slot_outside *o3 = &v->outside[find_outside(v, "45.33.3.3")];
	assert_int_equal(o3->verdict.n, 0);
	assert_true(o3->in_c);
	assert_int_equal(res.offenders, 2);
	slot_destroy(s);
}

static void test_flood_one_way_at_active_host(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 4);
	struct judge_result res;

	normal_clients(s, 10);
	/* METHOD §4 example 1: 10.0.0.10 is active; the flood is never answered. */
	for (int k = 0; k < 50; k++) {
		struct flow f = mkflow("198.51.100.66", "10.0.0.10", UDP, (uint16_t)(1000 + k), 80,
		                       0, 1000, 1000 * 512, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	struct slot_view *v = judged(s, &res);
	struct slot_outside *o = &v->outside[find_outside(v, "198.51.100.66")];
	assert_true(has_label(&o->verdict, JUDGE_FLOOD));
	assert_true(get_label(&o->verdict, JUDGE_FLOOD)->value == 50000.0);
	assert_int_equal(judge_flood_proto(o), SLOT_PROTO_UDP);
	assert_true(o->in_c);
	assert_int_equal(o->unanswered_flows, 50);
	slot_destroy(s);

	/* A heavy but answered download by an outside client is no flood. */
	s = slot_create(&site, 0, 5890752, 4);
	normal_clients(s, 10);
	struct flow f = mkflow("198.51.100.67", "10.0.0.11", TCP, 51000, 443, SYN | ACK | PSH, 40000,
	                       40000 * 52, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	f = mkflow("10.0.0.11", "198.51.100.67", TCP, 443, 51000, SYN | ACK | PSH, 80000,
	           80000ull * 1500, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	v = judged(s, &res);
	assert_int_equal(v->outside[find_outside(v, "198.51.100.67")].verdict.n, 0);
	slot_destroy(s);
}

static void test_inside_scanner(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	site.peer_cap = 150;
	struct slot *s = slot_create(&site, 0, 5890752, 5);
	struct judge_result res;
	char out[32];

	normal_clients(s, 10);
	/* 10.0.0.99 SYNs 200 outside hosts; every victim answers with an RST. */
	for (int k = 0; k < 200; k++) {
		snprintf(out, sizeof(out), "172.%d.%d.1", 16 + k / 200, k % 200);
		struct flow f = mkflow("10.0.0.99", out, TCP, 44444, 23, SYN, 1, 60, T0_MS + (uint64_t)k);
		slot_add(s, SLOT_EGRESS, &f);
		f = mkflow(out, "10.0.0.99", TCP, 23, 44444, RST | ACK, 1, 40, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	struct slot_view *v = judged(s, &res);
	struct slot_inside *in = &v->inside[find_inside(v, "10.0.0.99")];
	assert_true(has_label(&in->verdict, JUDGE_SCANOUT));
	assert_true(has_label(&in->verdict, JUDGE_FANOUT));
	assert_true(get_label(&in->verdict, JUDGE_FANOUT)->value == 200.0);
	assert_true(get_label(&in->verdict, JUDGE_FANOUT)->threshold == 150.0);
	assert_int_equal(in->peers_kept, 150);
	/* The victims' RSTs are answers: no outside IP is labelled. */
	for (size_t k = 0; k < v->n_outside; k++)
		assert_int_equal(v->outside[k].verdict.n, 0);
	assert_int_equal(res.offenders, 0);
	slot_destroy(s);

	/* Allow-listed, the same host is not a fan-out (scanOut still applies). */
	site.allow = &(struct flow_addr){{0}};
	flow_addr_parse("10.0.0.99", site.allow);
	site.n_allow = 1;
	s = slot_create(&site, 0, 5890752, 5);
	for (int k = 0; k < 200; k++) {
		snprintf(out, sizeof(out), "172.%d.%d.1", 16 + k / 200, k % 200);
		struct flow f = mkflow("10.0.0.99", out, TCP, 44444, 23, SYN, 1, 60, T0_MS);
		slot_add(s, SLOT_EGRESS, &f);
	}
	v = judged(s, &res);
	in = &v->inside[find_inside(v, "10.0.0.99")];
	assert_true(in->allowed);
	assert_false(has_label(&in->verdict, JUDGE_FANOUT));
	slot_destroy(s);
}

static void test_p2p_and_floodout(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 6);
	struct judge_result res;
	char out[32];

	/* 60 peers, 200 kB each way with each, 300-byte packets on average. */
	for (int k = 0; k < 60; k++) {
		snprintf(out, sizeof(out), "100.64.%d.%d", k / 100, k % 100);
		struct flow f = mkflow("10.0.0.50", out, UDP, 6881, (uint16_t)(20000 + k), 0, 700,
		                       210000, T0_MS);
		slot_add(s, SLOT_EGRESS, &f);
		f = mkflow(out, "10.0.0.50", UDP, (uint16_t)(20000 + k), 6881, 0, 700, 210000, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	/* 10.0.0.60 floods one outside host; nothing comes back. */
	struct flow f = mkflow("10.0.0.60", "100.65.0.1", UDP, 5555, 80, 0, 40000, 40000 * 100,
	                       T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	struct slot_view *v = judged(s, &res);
	struct slot_inside *p2p = &v->inside[find_inside(v, "10.0.0.50")];
	assert_true(has_label(&p2p->verdict, JUDGE_P2P));
	assert_false(has_label(&p2p->verdict, JUDGE_SCANOUT));
	struct slot_inside *fo = &v->inside[find_inside(v, "10.0.0.60")];
	assert_true(has_label(&fo->verdict, JUDGE_FLOODOUT));
	assert_int_equal(fo->verdict.n, 1);
	assert_int_equal(res.labels[JUDGE_P2P], 1);
	assert_int_equal(res.labels[JUDGE_FLOODOUT], 1);
	slot_destroy(s);
}

static void test_label_names(void **state)
{
	(void)state;
	assert_string_equal(judge_label_name(JUDGE_NOPAYLOAD), "noPayload");
	assert_string_equal(judge_label_name(JUDGE_PROBEUNUSED), "probeUnused");
	assert_string_equal(judge_label_name(JUDGE_SCANOUT), "scanOut");
	assert_string_equal(judge_label_name(JUDGE_FLOODOUT), "floodOut");
	assert_string_equal(judge_label_name(JUDGE__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_traffic_unlabelled),
		cmocka_unit_test(test_scan_and_nopayload),
		cmocka_unit_test(test_probe_unused),
		cmocka_unit_test(test_flood_one_way_at_active_host),
		cmocka_unit_test(test_inside_scanner),
		cmocka_unit_test(test_p2p_and_floodout),
		cmocka_unit_test(test_label_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
