/*
 * Unit tests for src/slot/slot.c: arrays A, B, C and METHOD §3-4 -- egress,
 * the three ingress cases, the peer cap, the memory caps, who started a
 * conversation, and order independence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nfsentry/vmem.h"
#include "slot_helpers.h"

static void test_egress_builds_a_and_b(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 1);
	struct flow f1 = mkflow("10.0.0.1", "8.8.8.8", UDP, 40000, 53, 0, 1, 60, T0_MS + 5);
	struct flow f2 = mkflow("10.0.0.1", "8.8.8.8", UDP, 40001, 53, 0, 2, 140, T0_MS + 3);
	struct flow f3 = mkflow("10.0.0.1", "1.1.1.1", TCP, 40002, 443, SYN | ACK | PSH, 10, 1000,
	                        T0_MS + 1);

	slot_add(s, SLOT_EGRESS, &f1);
	slot_add(s, SLOT_EGRESS, &f2);
	slot_add(s, SLOT_EGRESS, &f3);
	assert_int_equal(slot_records(s), 3);
	const struct slot_view *v = slot_finish(s);
	assert_non_null(v);
	assert_int_equal(v->n_inside, 1);
	assert_int_equal(v->n_outside, 2);
	assert_int_equal(v->n_pairs, 2);
	assert_int_equal(v->n_active, 1);
	const struct slot_inside *in = &v->inside[0];
	assert_int_equal(in->egress.flows, 3);
	assert_int_equal(in->egress.packets, 13);
	assert_int_equal(in->egress.octets, 1200);
	assert_int_equal(in->peers, 2);
	assert_int_equal(in->peers_kept, 2);
	assert_false(in->peer_cap_hit);
	assert_true(in->active);
	/* Peers in first-seen order: 1.1.1.1 (T0+1) before 8.8.8.8 (T0+3). */
	const struct slot_pair *p0 = &v->pairs[in->pair_first];
	const struct slot_pair *p1 = &v->pairs[in->pair_first + 1];
	assert_int_equal(p0->outside, find_outside(v, "1.1.1.1"));
	assert_int_equal(p1->outside, find_outside(v, "8.8.8.8"));
	assert_int_equal(p1->first_ms, T0_MS + 3);
	assert_int_equal(p1->egress.packets, 3);
	/* Outside sorted by address: 1.1.1.1 < 8.8.8.8. */
	assert_int_equal(find_outside(v, "1.1.1.1"), 0);
	const struct slot_outside *o = &v->outside[find_outside(v, "8.8.8.8")];
	assert_int_equal(o->to.flows, 2);
	assert_int_equal(o->to.octets, 200);
	assert_int_equal(o->refs, 1);
	assert_false(o->in_c);
	assert_int_equal(v->sum.egress.packets, 13);
	slot_destroy(s);
}

/*
 * arrayPeer order: by first-switched, then outside address; conversations
 * without egress (no first-switched) last, times far apart included (the
 * close packs the sort key relative to the slot's earliest time).
 */
static void test_pair_order(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 9);
	static const struct {
		const char *out;
		int64_t first_off; /* ms from T0_MS; INT64_MIN: ingress only */
	} r[] = {
	    {"203.0.113.9", 5},         {"203.0.113.1", 5},       {"198.51.100.7", -86400000},
	    {"192.0.2.1", INT64_MIN},   {"192.0.2.200", 299999},  {"192.0.2.100", INT64_MIN},
	    {"198.51.100.8", 1},
	    /* A router clock at 1970: the span no longer fits the packed key. */
	    {"198.51.100.3", 1 - (int64_t)T0_MS},
	};
	static const char *want[] = {"198.51.100.3", "198.51.100.7", "198.51.100.8",
	                             "203.0.113.1",  "203.0.113.9",  "192.0.2.200",
	                             "192.0.2.1",    "192.0.2.100"};
	for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++) {
		if (r[k].first_off == INT64_MIN) {
			struct flow f = mkflow(r[k].out, "10.0.0.1", TCP, 1234, 80, SYN, 1, 40, T0_MS);
			slot_add(s, SLOT_INGRESS, &f);
		} else {
			struct flow f = mkflow("10.0.0.1", r[k].out, TCP, 40000, 443, SYN, 1, 60,
			                       (uint64_t)((int64_t)T0_MS + r[k].first_off));
			slot_add(s, SLOT_EGRESS, &f);
		}
	}
	const struct slot_view *v = slot_finish(s);
	assert_int_equal(v->n_inside, 1);
	const struct slot_inside *in = &v->inside[0];
	assert_int_equal(in->pair_count, 8);
	for (uint32_t k = 0; k < in->pair_count; k++) {
		const struct slot_pair *p = &v->pairs[in->pair_first + k];
		char buf[64];
		flow_addr_format(&v->outside[p->outside].addr, buf, sizeof(buf));
		assert_string_equal(buf, want[k]);
	}
	slot_destroy(s);
}

static void test_ingress_cases(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 2);
	struct flow f;

	/* 10.0.0.1 is active and talks to 8.8.8.8. */
	f = mkflow("10.0.0.1", "8.8.8.8", UDP, 40000, 53, 0, 1, 60, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	/* Case 1: the answer. */
	f = mkflow("8.8.8.8", "10.0.0.1", UDP, 53, 40000, 0, 1, 120, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	/* Example 1: 9.9.9.9 reaches the active 10.0.0.1, which never answers. */
	f = mkflow("9.9.9.9", "10.0.0.1", TCP, 50000, 22, SYN, 3, 180, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	/* Example 2: 9.9.9.9 reaches 10.0.0.2, which sends nothing all slot. */
	f = mkflow("9.9.9.9", "10.0.0.2", TCP, 50001, 22, SYN, 1, 60, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	/* Case 3: 8.8.8.8 is in B, but not linked to 10.0.0.3 (silent): example 2. */
	f = mkflow("8.8.8.8", "10.0.0.3", UDP, 53, 33333, 0, 1, 100, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	/* Egress arriving after the ingress it answers still makes case 1. */
	f = mkflow("7.7.7.7", "10.0.0.1", TCP, 443, 41000, SYN | ACK | PSH, 5, 5000, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	f = mkflow("10.0.0.1", "7.7.7.7", TCP, 41000, 443, SYN | ACK | PSH, 4, 400, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);

	const struct slot_view *v = slot_finish(s);
	assert_non_null(v);
	assert_int_equal(v->n_inside, 3);
	assert_int_equal(v->n_active, 1);
	const struct slot_inside *i1 = &v->inside[find_inside(v, "10.0.0.1")];
	assert_int_equal(i1->ingress.flows, 2); /* 8.8.8.8 and 7.7.7.7 answers */
	assert_int_equal(i1->ingress.octets, 5120);
	assert_int_equal(i1->answered_peers, 2);
	assert_int_equal(i1->unanswered.flows, 1);
	assert_int_equal(i1->unanswered.packets, 3);
	const struct slot_inside *i2 = &v->inside[find_inside(v, "10.0.0.2")];
	assert_false(i2->active);
	assert_int_equal(i2->unused_in.flows, 1);

	const struct slot_outside *o9 = &v->outside[find_outside(v, "9.9.9.9")];
	assert_true(o9->in_c);
	assert_int_equal(o9->touch_unused, 1);
	assert_int_equal(o9->unused.packets, 1);
	assert_int_equal(o9->unanswered_flows, 1);
	assert_int_equal(o9->started_targets, 2);
	assert_int_equal(o9->refs, 0);
	const struct slot_outside *o8 = &v->outside[find_outside(v, "8.8.8.8")];
	assert_true(o8->in_c); /* case 3 -> example 2 */
	assert_int_equal(o8->touch_unused, 1);
	assert_int_equal(o8->refs, 1);
	/*
	 * It answered 10.0.0.1 (not a start), but its "answer" from port 53 to
	 * 10.0.0.3, which never asked, is unsolicited: that one counts as started.
	 */
	assert_int_equal(o8->started_targets, 1);
	assert_int_equal(o8->started_in.packets, 1);
	const struct slot_outside *o7 = &v->outside[find_outside(v, "7.7.7.7")];
	assert_false(o7->in_c);
	assert_int_equal(o7->started_targets, 0);
	slot_destroy(s);
}

static void test_peer_cap(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	site.peer_cap = 3;
	struct slot *s = slot_create(&site, 0, 5890752, 3);
	/* Five peers; first-seen order is .5 .3 .1 (tie at T0+1, address breaks it) .2 .4 */
	const char *peers[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"};
	const uint64_t first[] = {T0_MS + 1, T0_MS + 7, T0_MS + 1, T0_MS + 9, T0_MS + 0};

	for (int k = 4; k >= 0; k--) {
		struct flow f = mkflow("10.0.0.9", peers[k], TCP, 40000, 443, SYN, 1, 60, first[k]);
		slot_add(s, SLOT_EGRESS, &f);
	}
	const struct slot_view *v = slot_finish(s);
	const struct slot_inside *in = &v->inside[0];
	assert_int_equal(in->peers, 5);
	assert_int_equal(in->peers_kept, 3);
	assert_true(in->peer_cap_hit);
	assert_int_equal(in->egress.flows, 5); /* totals keep growing past the cap */
	const char *expect[] = {"192.0.2.5", "192.0.2.1", "192.0.2.3", "192.0.2.2", "192.0.2.4"};
	for (unsigned k = 0; k < 5; k++) {
		const struct slot_pair *p = &v->pairs[in->pair_first + k];
		assert_int_equal(p->outside, find_outside(v, expect[k]));
	}
	slot_destroy(s);

	/* Exactly peer_cap peers: the cap is reached, nothing is cut. */
	s = slot_create(&site, 0, 5890752, 3);
	for (int k = 0; k < 3; k++) {
		struct flow f = mkflow("10.0.0.9", peers[k], TCP, 40000, 443, SYN, 1, 60, first[k]);
		slot_add(s, SLOT_EGRESS, &f);
	}
	v = slot_finish(s);
	assert_true(v->inside[0].peer_cap_hit);
	assert_int_equal(v->inside[0].peers_kept, 3);
	slot_destroy(s);
}

/* Feed the spoofed-source flood and six inside senders of the caps tests. */
static void feed_flood(struct slot *s)
{
	char src[32], dst[32];

	/* A flood of spoofed sources at 10.0.0.1: 1000 distinct outside IPs. */
	for (int k = 0; k < 1000; k++) {
		snprintf(src, sizeof(src), "198.18.%d.%d", k / 250, k % 250);
		struct flow f = mkflow(src, "10.0.0.1", TCP, 1234, 80, SYN, 1, 40, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	/* Six more inside hosts, all to 198.18.0.1 (one of the flood's first sources). */
	for (int k = 0; k < 6; k++) {
		snprintf(dst, sizeof(dst), "10.1.0.%d", k);
		struct flow f = mkflow(dst, "198.18.0.1", UDP, 5000, 53, 0, 1, 70, T0_MS);
		slot_add(s, SLOT_EGRESS, &f);
	}
}

/* The conversation cap bounds the open slot's memory: the flood stops there. */
static void test_caps_bound_memory(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	site.caps.max_pairs = 50;
	struct slot *s = slot_create(&site, 0, 5890752, 4);

	feed_flood(s);
	assert_true(slot_memory(s) < 1024 * 1024);
	const struct slot_view *v = slot_finish(s);
	assert_int_equal(v->n_pairs, 50);
	assert_int_equal(v->n_outside, 50);
	assert_int_equal(v->n_inside, 1);
	/* 950 flood records and the 6 egress records found no room. */
	assert_int_equal(v->sum.caps_hit.pairs, 950 + 6);
	assert_int_equal(v->sum.caps_hit.inside, 0);
	assert_int_equal(v->sum.caps_hit.outside, 0);
	/* Totals count everything. */
	assert_int_equal(v->sum.ingress.flows, 1000);
	assert_int_equal(v->sum.egress.flows, 6);
	slot_destroy(s);
}

/* The per-IP caps bound arrays A and B when the slot closes. */
static void test_caps_inside_outside(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	site.caps.max_inside = 4;
	site.caps.max_outside = 100;
	struct slot *s = slot_create(&site, 0, 5890752, 4);

	feed_flood(s);
	const struct slot_view *v = slot_finish(s);
	assert_int_equal(v->n_outside, 100);
	/* 10.0.0.1 and three of the six: conversations are admitted in arrival order. */
	assert_int_equal(v->n_inside, 4);
	assert_int_equal(v->n_pairs, 100 + 3);
	assert_int_equal(v->sum.caps_hit.outside, 900);
	assert_int_equal(v->sum.caps_hit.inside, 3);
	assert_int_equal(v->sum.caps_hit.pairs, 0);
	long i1 = find_inside(v, "10.0.0.1");
	assert_true(i1 >= 0);
	assert_int_equal(v->inside[i1].unused_in.flows, 100);
	assert_int_equal(v->sum.ingress.flows, 1000);
	slot_destroy(s);
}

/*
 * The caps keep the addresses that appeared first, whatever their order in
 * the address space (the close builds B by sorting, not by arrival): here
 * the highest addresses arrive first.
 */
static void test_caps_keep_first_seen(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	site.caps.max_outside = 10;
	site.caps.max_inside = 3;
	struct slot *s = slot_create(&site, 0, 5890752, 4);
	char in[32], out[32];

	for (int k = 50; k >= 1; k--) {
		snprintf(out, sizeof(out), "198.18.7.%d", k);
		snprintf(in, sizeof(in), "10.0.0.%d", 1 + (50 - k) % 5);
		struct flow f = mkflow(in, out, UDP, 5000, 53, 0, 1, 70, T0_MS);
		slot_add(s, SLOT_EGRESS, &f);
	}
	const struct slot_view *v = slot_finish(s);
	assert_int_equal(v->n_outside, 10);
	for (int k = 41; k <= 50; k++) {
		snprintf(out, sizeof(out), "198.18.7.%d", k);
		assert_true(find_outside(v, out) >= 0);
	}
	assert_true(find_outside(v, "198.18.7.40") < 0);
	/* Inside: 10.0.0.1, .2, .3 came first; .4 and .5 lost their 10 + 10 conversations... */
	assert_int_equal(v->n_inside, 3);
	assert_true(find_inside(v, "10.0.0.4") < 0);
	assert_int_equal(v->sum.caps_hit.inside, 20);
	/* ...and of the 30 left, those to the 40 later outside IPs are lost to that cap. */
	assert_int_equal(v->sum.caps_hit.outside, 24);
	assert_int_equal(v->n_pairs, 6);
	/* Sorted by address all the same. */
	for (size_t k = 1; k < v->n_outside; k++)
		assert_true(memcmp(v->outside[k - 1].addr.b, v->outside[k].addr.b, 16) < 0);
	slot_destroy(s);
}

static void test_starter(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 5);
	struct flow f;
	char in[32];

	/* Forty inside clients use one resolver: it answers, it starts nothing. */
	for (int k = 0; k < 40; k++) {
		snprintf(in, sizeof(in), "10.0.1.%d", k);
		f = mkflow(in, "8.8.4.4", UDP, (uint16_t)(33000 + k), 53, 0, 2, 140, T0_MS);
		slot_add(s, SLOT_EGRESS, &f);
		f = mkflow("8.8.4.4", in, UDP, 53, (uint16_t)(33000 + k), 0, 2, 300, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	/* An inside scanner's victims answer with RSTs: those are not starts. */
	f = mkflow("10.0.1.1", "203.0.113.77", TCP, 44444, 23, SYN, 1, 60, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	f = mkflow("203.0.113.77", "10.0.1.1", TCP, 23, 44444, RST | ACK, 1, 40, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	/* ICMP echo request from outside: a start. ICMP type 8 in dport's high byte. */
	f = mkflow("192.0.2.99", "10.0.1.2", 1, 0, 8 << 8, 0, 4, 336, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	/* UDP between two high ports, one-way: nothing tells, counted as a start. */
	f = mkflow("192.0.2.98", "10.0.1.3", UDP, 40001, 40002, 0, 1, 100, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);

	const struct slot_view *v = slot_finish(s);
	const struct slot_outside *res = &v->outside[find_outside(v, "8.8.4.4")];
	assert_int_equal(res->refs, 40);
	assert_int_equal(res->started_targets, 0);
	assert_false(res->in_c);
	assert_int_equal(v->outside[find_outside(v, "203.0.113.77")].started_targets, 0);
	assert_int_equal(v->outside[find_outside(v, "192.0.2.99")].started_targets, 1);
	assert_int_equal(v->outside[find_outside(v, "192.0.2.99")].started_in.packets, 4);
	assert_int_equal(v->outside[find_outside(v, "192.0.2.98")].started_targets, 1);
	slot_destroy(s);
}

/*
 * The conversation line's time and TCP facts: the egress first-switched
 * kept to the millisecond (32 bits from the slot's base); the started
 * ingress's active time in seconds (earliest first to latest last, over
 * records in any order); half-open (SYN, never ACK) per outside IP; the
 * flooded ingress of an inside IP (unanswered, or half-open although
 * answered), by protocol.
 */
static void test_activity_and_half_open(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 5);
	struct flow f;

	f = mkflow("10.0.1.1", "203.0.113.1", TCP, 40000, 443, SYN | ACK, 3, 300, T0_MS + 1234567);
	slot_add(s, SLOT_EGRESS, &f);
	/* 203.0.113.9: SYNs only, at 10.0.1.1 (which answers) and 10.0.1.2, 40 s .. 100 s. */
	f = mkflow("203.0.113.9", "10.0.1.1", TCP, 1000, 80, SYN, 100, 6000, T0_MS + 70000);
	f.last_ms = T0_MS + 100000;
	slot_add(s, SLOT_INGRESS, &f);
	f = mkflow("203.0.113.9", "10.0.1.2", TCP, 1001, 80, SYN, 50, 3000, T0_MS + 40000);
	f.last_ms = T0_MS + 41000;
	slot_add(s, SLOT_INGRESS, &f);
	f = mkflow("10.0.1.1", "203.0.113.9", TCP, 80, 1000, SYN | ACK, 100, 6000, T0_MS + 70000);
	slot_add(s, SLOT_EGRESS, &f);
	/* 203.0.113.10: a completed handshake, UDP too. */
	f = mkflow("203.0.113.10", "10.0.1.2", TCP, 1002, 80, SYN | ACK, 10, 600, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	f = mkflow("203.0.113.10", "10.0.1.2", UDP, 1003, 53, 0, 5, 300, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);

	const struct slot_view *v = slot_finish(s);
	const struct slot_inside *i1 = &v->inside[find_inside(v, "10.0.1.1")];
	assert_int_equal(i1->pair_count, 2);
	assert_int_equal(v->pairs[i1->pair_first].first_ms, T0_MS + 70000);
	assert_int_equal(v->pairs[i1->pair_first + 1].first_ms, T0_MS + 1234567);
	const struct slot_outside *o = &v->outside[find_outside(v, "203.0.113.9")];
	assert_int_equal(o->started_first, SLOT_T16_BIAS + 40);
	assert_int_equal(o->started_last, SLOT_T16_BIAS + 100);
	assert_int_equal(o->half_open_targets, 2);
	assert_int_equal(o->half_open.packets, 150);
	const struct slot_outside *o2 = &v->outside[find_outside(v, "203.0.113.10")];
	assert_int_equal(o2->half_open_targets, 0);
	assert_int_equal(o2->started_first, SLOT_T16_BIAS);
	/* 10.0.1.1 answered, but the SYNs never completed: flooded all the same. */
	assert_int_equal(i1->flooded.packets, 100);
	assert_int_equal(i1->flooded_peers, 1);
	const struct slot_inside *i2 = &v->inside[find_inside(v, "10.0.1.2")];
	assert_int_equal(i2->flooded.packets, 65);
	assert_int_equal(i2->flooded_peers, 2);
	assert_int_equal(i2->flooded_proto[SLOT_PROTO_TCP], 60);
	assert_int_equal(i2->flooded_proto[SLOT_PROTO_UDP], 5);
	slot_destroy(s);

	/* Times far from the slot clamp; none is still "none". */
	assert_int_equal(slot_t16(5890752, T0_MS), SLOT_T16_BIAS);
	assert_int_equal(slot_t16(5890752, 0), 1);
	assert_int_equal(slot_t16(5890752, UINT64_MAX), 65535);
}

/* ---- order independence (property) -------------------------------------- */

static void assert_views_equal(const struct slot_view *a, const struct slot_view *b)
{
	assert_int_equal(a->n_inside, b->n_inside);
	assert_int_equal(a->n_outside, b->n_outside);
	assert_int_equal(a->n_pairs, b->n_pairs);
	assert_int_equal(a->n_active, b->n_active);
	assert_memory_equal(a->inside, b->inside, a->n_inside * sizeof(*a->inside));
	assert_memory_equal(a->outside, b->outside, a->n_outside * sizeof(*a->outside));
	assert_memory_equal(a->pairs, b->pairs, a->n_pairs * sizeof(*a->pairs));
	assert_memory_equal(a->pairs_by_outside, b->pairs_by_outside,
	                    a->n_pairs * sizeof(*a->pairs_by_outside));
	assert_memory_equal(&a->sum, &b->sum, sizeof(a->sum));
}

static void test_order_independence(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct site_config site;
	test_site(&site);
	site.peer_cap = 25; /* hit by some hosts */
	struct flow *recs = calloc(N, sizeof(*recs));
	size_t *order = calloc(N, sizeof(*order));

	uint64_t rng_state = 42;
	gen_records(&rng_state, recs, N);
	for (size_t k = 0; k < N; k++)
		order[k] = k;
	struct slot *base = slot_create(&site, 0, 5890752, 11);
	feed(base, recs, order, N);
	const struct slot_view *vb = slot_finish(base);
	assert_non_null(vb);
	assert_true(vb->n_pairs > 1000);

	for (int round = 0; round < 5; round++) {
		shuffle(&rng_state, order, N);
		/* Another hash seed too: table layout must not leak into results. */
		struct slot *s = slot_create(&site, 0, 5890752, 1000 + (uint64_t)round);
		feed(s, recs, order, N);
		const struct slot_view *vs = slot_finish(s);
		assert_non_null(vs);
		assert_views_equal(vb, vs);
		slot_destroy(s);
	}
	slot_destroy(base);
	free(recs);
	free(order);
}

/*
 * Every sum of the finished slot against a brute-force reference over the
 * records: IPv4 and IPv6 conversations, protocols mixed within one
 * conversation (the open slot keeps one class per conversation until a
 * second comes), first-switched minima.
 */
static void test_reference_sums(void **state)
{
	(void)state;
	enum { N = 4000 };
	struct site_config site;
	test_site(&site);
	site.peer_cap = 0;
	struct flow *recs = calloc(N, sizeof(*recs));
	uint64_t st = 7;
	gen_records(&st, recs, N);
	struct slot *s = slot_create(&site, 0, 5890752, 3);
	size_t n_v6 = 0;
	for (size_t k = 0; k < N; k++) {
		slot_add(s, recs[k].sampling ? SLOT_EGRESS : SLOT_INGRESS, &recs[k]);
		n_v6 += !flow_addr_is_v4(&recs[k].src);
	}
	assert_true(n_v6 > N / 10);
	const struct slot_view *v = slot_finish(s);
	assert_non_null(v);
	size_t mixed = 0;
	for (size_t j = 0; j < v->n_pairs; j++) {
		const struct slot_pair *p = &v->pairs[j];
		const struct flow_addr *in = &v->inside[p->inside].addr;
		const struct flow_addr *out = &v->outside[p->outside].addr;
		struct slot_totals eg = {0}, ig = {0};
		uint64_t first = UINT64_MAX;
		unsigned classes = 0;
		for (size_t k = 0; k < N; k++) {
			const struct flow *f = &recs[k];
			bool e = f->sampling;
			if (memcmp((e ? &f->src : &f->dst)->b, in->b, 16) ||
			    memcmp((e ? &f->dst : &f->src)->b, out->b, 16))
				continue;
			struct slot_totals *t = e ? &eg : &ig;
			t->flows++;
			t->packets += f->packets;
			t->octets += f->octets;
			if (e && f->first_ms < first)
				first = f->first_ms;
			if (!e)
				classes |= 1u << (f->proto == 6 ? 0 : f->proto == 17 ? 1 : f->proto == 1 ? 2 : 3);
		}
		mixed += __builtin_popcount(classes) > 1;
		assert_int_equal(p->egress.flows, eg.flows);
		assert_int_equal(p->egress.packets, eg.packets);
		assert_int_equal(p->egress.octets, eg.octets);
		assert_int_equal(p->ingress.flows, ig.flows);
		assert_int_equal(p->ingress.packets, ig.packets);
		assert_int_equal(p->ingress.octets, ig.octets);
		assert_int_equal(p->first_ms, first);
	}
	assert_true(mixed > 10);
	for (size_t o = 0; o < v->n_outside; o++) {
		uint64_t want[SLOT_PROTO__COUNT] = {0};
		for (size_t k = 0; k < N; k++) {
			const struct flow *f = &recs[k];
			if (f->sampling || memcmp(f->src.b, v->outside[o].addr.b, 16))
				continue;
			want[f->proto == 6 ? 0 : f->proto == 17 ? 1 : f->proto == 1 ? 2 : 3] += f->packets;
		}
		for (int c = 0; c < SLOT_PROTO__COUNT; c++)
			assert_int_equal(v->outside[o].proto_packets[c], want[c]);
	}
	slot_destroy(s);
	free(recs);
}

/*
 * Under a tight address-space limit (RLIMIT_AS) the open slot reserves
 * less than its cap allows and still works: records beyond what it could
 * reserve are counted as lost to a cap, never a crash. In a child process,
 * and not under ASan (its shadow memory needs the address space).
 */
static void test_tight_address_space(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	skip();
#endif
#endif
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/*
		 * Room for a 512 MiB table beyond what the process maps already,
		 * not for it and its 256 MiB IPv6 side array together.
		 */
		vmem_pool_trim(); /* earlier tests' pooled tables would serve the reservations */
		unsigned long vm_kib = 0;
		char line[256];
		FILE *st = fopen("/proc/self/status", "r");
		while (st && fgets(line, sizeof(line), st))
			if (sscanf(line, "VmSize: %lu kB", &vm_kib) == 1)
				break;
		if (st)
			fclose(st);
		if (!vm_kib)
			_exit(5);
		rlim_t lim = ((rlim_t)vm_kib << 10) + ((rlim_t)600 << 20);
		struct rlimit rl = {lim, lim};
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(2);
		struct site_config site;
		test_site(&site);
		site.caps.max_pairs = 2147483648u; /* 128 GiB of conversations at most */
		struct slot *s = slot_create(&site, 0, 5890752, 5);
		if (!s)
			_exit(3);
		char out[32];
		for (int k = 0; k < 3000; k++) {
			snprintf(out, sizeof(out), "198.18.%d.%d", k / 250, k % 250);
			struct flow f = mkflow("10.0.0.1", out, UDP, 5000, 53, 0, 1, 70, T0_MS);
			slot_add(s, SLOT_EGRESS, &f);
		}
		const struct slot_view *v = slot_finish(s);
		if (!v || v->n_pairs != 3000 || v->sum.caps_hit.pairs != 0)
			_exit(4);
		slot_destroy(s);
		_exit(0);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A reflection flood: "answers" from port 53 to a host that never asked. */
static void test_unsolicited_answers_are_starts(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 8);
	struct flow f;

	/* 10.0.0.6 is active (talks to a web server) but never to 192.0.2.123. */
	f = mkflow("10.0.0.6", "93.184.0.1", TCP, 40000, 443, SYN | ACK | PSH, 10, 1000, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	for (int k = 0; k < 24; k++) {
		f = mkflow("192.0.2.123", "10.0.0.6", UDP, 53, (uint16_t)(30000 + k), 0, 1500,
		           1500 * 1200, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
	}
	const struct slot_view *v = slot_finish(s);
	const struct slot_outside *o = &v->outside[find_outside(v, "192.0.2.123")];
	assert_int_equal(o->started_targets, 1);
	assert_int_equal(o->started_in.packets, 36000);
	assert_int_equal(o->unanswered_flows, 24);
	assert_false(o->in_c); /* example 1 alone does not make C; the judge's flood does */
	slot_destroy(s);
}

static void test_late_and_internal(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct slot *s = slot_create(&site, 0, 5890752, 6);
	struct flow f = mkflow("10.0.0.1", "10.0.0.2", TCP, 40000, 22, SYN | ACK, 7, 700, T0_MS);

	slot_add(s, SLOT_INTERNAL, &f);
	slot_count_late(s, false);
	slot_count_late(s, true);
	slot_count_late(s, true);
	const struct slot_view *v = slot_finish(s);
	assert_int_equal(v->sum.internal.packets, 7);
	assert_int_equal(v->n_inside, 0);
	assert_int_equal(v->sum.late_records, 1);
	assert_int_equal(v->sum.future_records, 2);
	/* Finishing twice gives the same view. */
	assert_ptr_equal(slot_finish(s), v);
	slot_destroy(s);
}

/*
 * Issue 12 item 1: an IPv4 inside address with a peer of the other family
 * (an IPv6 outside address; before the decoder's address rule, the `::`
 * of a template without a destination) is one inside IP, whichever
 * conversation interned it first: one entry in array A, with the sums of
 * both conversations, never two entries of the same address (two
 * `inside` documents with one key, which the store refused).
 */
static void test_inside_one_identity_across_families(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	for (int order = 0; order < 2; order++) {
		struct slot *s = slot_create(&site, 0, 5890752, 1);
		struct flow f4 = mkflow("10.0.0.7", "8.8.8.8", UDP, 40000, 53, 0, 1, 60, T0_MS + 5);
		struct flow f6 = mkflow("10.0.0.7", "2001:db8::1", UDP, 40001, 53, 0, 2, 140,
		                        T0_MS + 3);
		struct flow back =
		    mkflow("2001:db8::1", "10.0.0.7", UDP, 53, 40001, 0, 4, 400, T0_MS + 4);
		slot_add(s, SLOT_EGRESS, order ? &f6 : &f4);
		slot_add(s, SLOT_EGRESS, order ? &f4 : &f6);
		slot_add(s, SLOT_INGRESS, &back);
		const struct slot_view *v = slot_finish(s);
		assert_non_null(v);
		assert_int_equal(v->n_inside, 1);
		assert_int_equal(find_inside(v, "10.0.0.7"), 0);
		assert_int_equal(v->n_outside, 2);
		assert_int_equal(v->n_pairs, 2);
		const struct slot_inside *in = &v->inside[0];
		assert_int_equal(in->egress.flows, 2);
		assert_int_equal(in->egress.packets, 3);
		assert_int_equal(in->ingress.packets, 4);
		assert_int_equal(in->peers, 2);
		assert_int_equal(in->pair_count, 2);
		assert_true(in->active);
		/* Every pair refers to that one entry. */
		for (size_t k = 0; k < v->n_pairs; k++)
			assert_int_equal(v->pairs[k].inside, 0);
		slot_destroy(s);
	}
}

/* ---- saved state (slot_save / slot_load) ---------------------------------- */

/* A temporary file holding n bytes of b, at offset 0. */
static int fd_of(const void *b, size_t n)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	int fd = dup(fileno(f));
	fclose(f);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* slot_save(s) into a malloc'd buffer (*len bytes). */
static unsigned char *save_buf(const struct slot *s, size_t *len)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	int fd = fileno(f);
	assert_int_equal(slot_save(s, fd), 0);
	off_t end = lseek(fd, 0, SEEK_CUR);
	assert_true(end > 0);
	unsigned char *b = malloc((size_t)end);
	assert_int_equal(pread(fd, b, (size_t)end, 0), (ssize_t)end);
	fclose(f);
	*len = (size_t)end;
	return b;
}

static int load_buf(const struct site_config *site, const void *b, size_t n, struct slot **out)
{
	int fd = fd_of(b, n);
	int rc = slot_load(site, 0, 777, fd, out);
	close(fd);
	return rc;
}

/*
 * A slot saved halfway, loaded (another hash seed: the index is rebuilt)
 * and fed the rest finishes into exactly the view of the slot that was
 * never saved: IPv4 and IPv6 conversations, the protocol spill, late and
 * future counts, coverage; with and without caps cutting.
 */
static void test_save_load_round_trip(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct flow *recs = calloc(N, sizeof(*recs));
	size_t *order = calloc(N, sizeof(*order));
	uint64_t rng_state = 7;

	gen_records(&rng_state, recs, N);
	for (size_t k = 0; k < N; k++)
		order[k] = k;
	for (int capped = 0; capped < 2; capped++) {
		struct site_config site;
		test_site(&site);
		site.peer_cap = 25;
		if (capped) {
			site.caps.max_pairs = 3000;
			site.caps.max_outside = 500;
		}
		struct slot *base = slot_create(&site, 0, 5890752, 11);
		struct slot *half = slot_create(&site, 0, 5890752, 12);
		feed(base, recs, order, N);
		feed(half, recs, order, N / 2);
		slot_count_late(base, false);
		slot_count_late(base, true);
		slot_count_late(half, false);
		slot_count_late(half, true);
		slot_cover_set(base, 5890752 * 300 + 20, 0);
		slot_cover_set(half, 5890752 * 300 + 20, 0);

		size_t len;
		unsigned char *b = save_buf(half, &len);
		struct slot *back = NULL;
		assert_int_equal(load_buf(&site, b, len, &back), 0);
		assert_non_null(back);
		assert_int_equal(slot_records(back), slot_records(half));
		assert_int_equal(slot_conversations(back), slot_conversations(half));
		/* Saved again unchanged, it is the same bytes. */
		size_t len2;
		unsigned char *b2 = save_buf(back, &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(b2, b, len);
		free(b2);
		feed(back, recs, order + N / 2, N - N / 2);

		const struct slot_view *vb = slot_finish(base), *vr = slot_finish(back);
		assert_non_null(vb);
		assert_non_null(vr);
		assert_true(vb->n_pairs > (capped ? 1000u : 3000u));
		if (capped)
			assert_true(vb->sum.caps_hit.pairs + vb->sum.caps_hit.outside > 0);
		assert_views_equal(vb, vr);
		assert_true(vr->partial);
		assert_int_equal(vr->covered_from_s, vb->covered_from_s);
		assert_int_equal(vr->covered_to_s, 0);
		/* A finished slot has no open state to save. */
		assert_int_equal(slot_save(back, 1), -EINVAL);
		free(b);
		slot_destroy(base);
		slot_destroy(half);
		slot_destroy(back);
	}
	free(recs);
	free(order);
}

/*
 * Offsets in the record's header (struct slot_rec, slot.c): magic 0,
 * version 8, pacc_bytes 12, time_slot 16, records 24, coverage 32 and 40,
 * summary 48 (112 bytes), n_acc 160, n_v6 168, n_spill 176; 184 in all.
 */
enum { REC_VERSION = 8, REC_PACC = 12, REC_RECORDS = 24, REC_LATE = 48 + 72, REC_N_ACC = 160,
       REC_N_V6 = 168, REC_N_SPILL = 176, REC_HDR = 184 };

static void put_u64(unsigned char *b, size_t off, uint64_t v)
{
	memcpy(b + off, &v, 8);
}

/*
 * Damaged records are refused with the right code and nothing held (ASan
 * checks the latter): every truncation, a table of bit flips and bad counts.
 */
static void test_load_refuses_damage(void **state)
{
	(void)state;
	enum { N = 300 };
	struct flow recs[N];
	size_t order[N];
	uint64_t rng_state = 3;
	struct site_config site;
	struct slot *out = (struct slot *)&out;

	test_site(&site);
	gen_records(&rng_state, recs, N);
	for (size_t k = 0; k < N; k++)
		order[k] = k;
	struct slot *s = slot_create(&site, 0, 5890752, 1);
	feed(s, recs, order, N);
	size_t len;
	unsigned char *good = save_buf(s, &len);
	uint64_t n_acc, n_v6, n_spill;
	memcpy(&n_acc, good + REC_N_ACC, 8);
	memcpy(&n_v6, good + REC_N_V6, 8);
	memcpy(&n_spill, good + REC_N_SPILL, 8);
	assert_true(n_acc > 50 && n_v6 > 0 && n_spill > 0); /* every array has something */
	assert_int_equal(len, REC_HDR + n_acc * 64 + n_v6 * 16 + n_spill * 32 + 8);
	assert_int_equal(load_buf(&site, good, len, &out), 0);
	slot_destroy(out);

	/* Every prefix (each length up to the header's end and past it, then a stride). */
	for (size_t cut = 0; cut < len; cut += cut < REC_HDR + 80 ? 1 : 37) {
		out = (struct slot *)&out;
		assert_int_equal(load_buf(&site, good, cut, &out), -EBADMSG);
		assert_null(out);
	}

	unsigned char *b = malloc(len);
	const size_t spill_at = REC_HDR + n_acc * 64 + n_v6 * 16;
	const struct {
		const char *what;
		size_t off;
		uint8_t flip;
		int rc;
	} flips[] = {
		{"magic", 0, 0x01, -EBADMSG},
		{"version", REC_VERSION, 0x02, -EPROTONOSUPPORT},
		{"entry size", REC_PACC, 0x40, -EPROTONOSUPPORT},
		{"records", REC_RECORDS, 0x01, -EBADMSG},
		{"late count", REC_LATE, 0x80, -EBADMSG},
		{"first entry's address", REC_HDR, 0x10, -EBADMSG},
		{"an entry's flags", REC_HDR + 64 * (n_acc / 2) + 56, 0x04, -EBADMSG},
		{"an IPv6 address", REC_HDR + n_acc * 64 + 3, 0xff, -EBADMSG},
		{"the spill", spill_at + 9, 0x01, -EBADMSG},
		{"the checksum", len - 1, 0x20, -EBADMSG},
	};
	for (size_t k = 0; k < sizeof(flips) / sizeof(flips[0]); k++) {
		memcpy(b, good, len);
		b[flips[k].off] ^= flips[k].flip;
		out = (struct slot *)&out;
		int rc = load_buf(&site, b, len, &out);
		if (rc != flips[k].rc)
			fail_msg("%s: %d, want %d", flips[k].what, rc, flips[k].rc);
		assert_null(out);
	}
	/* Counts that cannot be: refused before anything is read or allocated for them. */
	const struct {
		const char *what;
		size_t off;
		uint64_t v;
		int rc;
	} counts[] = {
		{"odd IPv6 count", REC_N_V6, 3, -EBADMSG},
		{"IPv6 beyond two a conversation", REC_N_V6, 2 * n_acc + 2, -EBADMSG},
		{"spill beyond the conversations", REC_N_SPILL, n_acc + 1, -EBADMSG},
		{"huge table", REC_N_ACC, UINT64_MAX / 64, -EBADMSG},
		{"more than the cap", REC_N_ACC, (uint64_t)site.caps.max_pairs + 1, -E2BIG},
		{"a longer table than the file", REC_N_ACC, n_acc + 1000, -EBADMSG},
	};
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		memcpy(b, good, len);
		put_u64(b, counts[k].off, counts[k].v);
		out = (struct slot *)&out;
		int rc = load_buf(&site, b, len, &out);
		if (rc != counts[k].rc)
			fail_msg("%s: %d, want %d", counts[k].what, rc, counts[k].rc);
		assert_null(out);
	}
	/* A site whose cap is now below what was saved. */
	struct site_config small = site;
	small.caps.max_pairs = (uint32_t)n_acc - 1;
	assert_int_equal(load_buf(&small, good, len, &out), -E2BIG);
	free(b);
	free(good);
	slot_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_egress_builds_a_and_b),
		cmocka_unit_test(test_pair_order),
		cmocka_unit_test(test_ingress_cases),
		cmocka_unit_test(test_peer_cap),
		cmocka_unit_test(test_caps_bound_memory),
		cmocka_unit_test(test_caps_inside_outside),
		cmocka_unit_test(test_caps_keep_first_seen),
		cmocka_unit_test(test_starter),
		cmocka_unit_test(test_activity_and_half_open),
		cmocka_unit_test(test_order_independence),
		cmocka_unit_test(test_reference_sums),
		cmocka_unit_test(test_tight_address_space),
		cmocka_unit_test(test_unsolicited_answers_are_starts),
		cmocka_unit_test(test_late_and_internal),
		cmocka_unit_test(test_inside_one_identity_across_families),
		cmocka_unit_test(test_save_load_round_trip),
		cmocka_unit_test(test_load_refuses_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
