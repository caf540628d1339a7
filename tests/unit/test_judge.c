/*
 * Unit tests for src/judge/judge.c: each label of rules I and II on a slot
 * built from records, the "(decided)" points of METHOD §5 (a popular resolver
 * is not a scanner; RSTs from an inside scanner's victims are not noPayload;
 * thin evidence gives no label), and the allow-list; the view's label array
 * (each entry's labels contiguous, refilled when judged again, emptied when
 * it cannot grow).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "nfsentry/fault.h"
#include "nfsentry/judge.h"
#include "slot_helpers.h"

/* Entry e's label l (e: an inside or outside entry of view v), or NULL. */
#define get_label(v, e, l) find_label(v, (e)->label_first, (e)->n_labels, l)
#define has_label(v, e, l) (get_label(v, e, l) != NULL)

static const struct slot_label *find_label(const struct slot_view *v, uint32_t first, unsigned n,
                                           enum judge_label l)
{
	for (unsigned k = 0; k < n; k++)
		if (slot_labels_of(v, first)[k].id == l)
			return &slot_labels_of(v, first)[k];
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
	assert_int_equal(judge_slot(v, res), 0);
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
		assert_int_equal(v->inside[k].n_labels, 0);
	for (size_t k = 0; k < v->n_outside; k++) {
		assert_int_equal(v->outside[k].n_labels, 0);
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
	assert_true(has_label(v, o, JUDGE_SCAN));
	const struct slot_label *l = get_label(v, o, JUDGE_SCAN);
	assert_true(l->value == 25.0);
	assert_true(l->threshold == 20.0); /* max(0.5 x 40, scan_min_targets 20) */
	assert_true(has_label(v, o, JUDGE_NOPAYLOAD));
	assert_true(get_label(v, o, JUDGE_NOPAYLOAD)->value == 44.0);
	assert_true(o->in_c);
	assert_false(has_label(v, o, JUDGE_PROBEUNUSED));
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
	assert_false(has_label(v, o, JUDGE_SCAN));
	assert_true(has_label(v, o, JUDGE_NOPAYLOAD));
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
	assert_true(has_label(v, o, JUDGE_PROBEUNUSED));
	assert_true(get_label(v, o, JUDGE_PROBEUNUSED)->value == 3.0);
	assert_true(o->in_c);
	/* 3 packets total: too little for noPayload. */
	assert_false(has_label(v, o, JUDGE_NOPAYLOAD));
	struct slot_outside *o3 = &v->outside[find_outside(v, "45.33.3.3")];
	assert_int_equal(o3->n_labels, 0);
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
	assert_true(has_label(v, o, JUDGE_FLOOD));
	assert_true(get_label(v, o, JUDGE_FLOOD)->value == 50000.0);
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
	assert_int_equal(v->outside[find_outside(v, "198.51.100.67")].n_labels, 0);
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
	assert_true(has_label(v, in, JUDGE_SCANOUT));
	assert_true(has_label(v, in, JUDGE_FANOUT));
	assert_true(get_label(v, in, JUDGE_FANOUT)->value == 200.0);
	assert_true(get_label(v, in, JUDGE_FANOUT)->threshold == 150.0);
	assert_int_equal(in->peers_kept, 150);
	/* The victims' RSTs are answers: no outside IP is labelled. */
	for (size_t k = 0; k < v->n_outside; k++)
		assert_int_equal(v->outside[k].n_labels, 0);
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
	assert_false(has_label(v, in, JUDGE_FANOUT));
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
	assert_true(has_label(v, p2p, JUDGE_P2P));
	assert_false(has_label(v, p2p, JUDGE_SCANOUT));
	struct slot_inside *fo = &v->inside[find_inside(v, "10.0.0.60")];
	assert_true(has_label(v, fo, JUDGE_FLOODOUT));
	assert_int_equal(fo->n_labels, 1);
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

/*
 * 40 SYN scanners (scan and noPayload each) and an inside scanner (fanout
 * and scanOut): 82 labels, more than the label array's first two sizes.
 */
#define MANY_LABELS 82

static struct slot *many_labels(struct site_config *site)
{
	char in[32], out[32];

	test_site(site);
	site->peer_cap = 150;
	struct slot *s = slot_create(site, 0, 5890752, 7);
	normal_clients(s, 40);
	for (int o = 0; o < 40; o++) {
		snprintf(out, sizeof(out), "45.33.1.%d", o);
		for (int k = 0; k < 25; k++) {
			snprintf(in, sizeof(in), "10.0.0.%d", 10 + k);
			struct flow f = mkflow(out, in, TCP, 61000, 22, SYN, 2, 88, T0_MS);
			slot_add(s, SLOT_INGRESS, &f);
		}
	}
	for (int k = 0; k < 200; k++) {
		snprintf(out, sizeof(out), "172.16.%d.1", k);
		struct flow f = mkflow("10.0.0.99", out, TCP, 44444, 23, SYN, 1, 60, T0_MS);
		slot_add(s, SLOT_EGRESS, &f);
	}
	assert_non_null(slot_finish(s));
	return s;
}

/* No entry labelled, no label in the array, nothing counted. */
static void assert_unlabelled(const struct slot_view *v, const struct judge_result *res)
{
	assert_int_equal(v->n_labels, 0);
	for (size_t k = 0; k < v->n_inside; k++)
		assert_int_equal(v->inside[k].n_labels, 0);
	for (size_t k = 0; k < v->n_outside; k++)
		assert_int_equal(v->outside[k].n_labels, 0);
	for (int l = 0; l < JUDGE__COUNT; l++)
		assert_int_equal(res->labels[l], 0);
	assert_int_equal(res->offenders, 0);
}

/*
 * Entries' labels are contiguous and follow each other in the array, inside
 * IPs first, both in address order; returns how many labels that is.
 */
static size_t assert_labels_packed(const struct slot_view *v)
{
	size_t next = 0;

	for (size_t k = 0; k < v->n_inside; k++) {
		if (!v->inside[k].n_labels)
			continue;
		assert_int_equal(v->inside[k].label_first, next);
		next += v->inside[k].n_labels;
	}
	for (size_t k = 0; k < v->n_outside; k++) {
		if (!v->outside[k].n_labels)
			continue;
		assert_int_equal(v->outside[k].label_first, next);
		next += v->outside[k].n_labels;
	}
	assert_int_equal(next, v->n_labels);
	assert_true(v->n_labels <= v->cap_labels);
	return next;
}

static void test_labels_packed_and_rejudged(void **state)
{
	(void)state;
	struct site_config site;
	struct judge_result res, res2;
	struct slot *s = many_labels(&site);
	struct slot_view *v = slot_view_mut(s);

	assert_int_equal(judge_slot(v, &res), 0);
	assert_int_equal(assert_labels_packed(v), MANY_LABELS);
	assert_int_equal(res.labels[JUDGE_SCAN], 40);
	assert_int_equal(res.labels[JUDGE_NOPAYLOAD], 40);
	assert_int_equal(res.labels[JUDGE_FANOUT], 1);
	assert_int_equal(res.labels[JUDGE_SCANOUT], 1);
	assert_int_equal(res.offenders, 40);
	struct slot_inside *in = &v->inside[find_inside(v, "10.0.0.99")];
	assert_int_equal(in->n_labels, 2);
	assert_true(get_label(v, in, JUDGE_FANOUT)->value == 200.0);
	struct slot_label saved[MANY_LABELS];
	for (size_t k = 0; k < MANY_LABELS; k++)
		saved[k] = v->labels[k];

	/* Judged again: the same labels in the same places, not appended twice. */
	assert_int_equal(judge_slot(v, &res2), 0);
	assert_int_equal(assert_labels_packed(v), MANY_LABELS);
	for (size_t k = 0; k < MANY_LABELS; k++) {
		assert_int_equal(v->labels[k].id, saved[k].id);
		assert_true(v->labels[k].value == saved[k].value);
		assert_true(v->labels[k].threshold == saved[k].threshold);
	}
	for (int l = 0; l < JUDGE__COUNT; l++)
		assert_int_equal(res2.labels[l], res.labels[l]);
	assert_int_equal(res2.offenders, res.offenders);
	slot_destroy(s);
}

static void test_out_of_memory_leaves_unlabelled(void **state)
{
	(void)state;
	struct site_config site;
	struct judge_result res;
	struct slot *s = many_labels(&site);
	struct slot_view *v = slot_view_mut(s);

	/*
	 * The first growth fails: nothing was stored. The judge's only
	 * allocation is the one growing the view's label array.
	 */
	fault_arm(0, FAULT_STICKY);
	assert_int_equal(judge_slot(v, &res), -ENOMEM);
	fault_disarm();
	assert_unlabelled(v, &res);

	/* The second fails: the 64 labels stored before it go too. */
	fault_arm(1, FAULT_STICKY);
	assert_int_equal(judge_slot(v, &res), -ENOMEM);
	fault_disarm();
	assert_unlabelled(v, &res);

	/* The view is fit to be judged again. */
	assert_int_equal(judge_slot(v, &res), 0);
	assert_int_equal(assert_labels_packed(v), MANY_LABELS);
	assert_int_equal(res.offenders, 40);
	slot_destroy(s);
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
		cmocka_unit_test(test_labels_packed_and_rejudged),
		cmocka_unit_test(test_out_of_memory_leaves_unlabelled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
