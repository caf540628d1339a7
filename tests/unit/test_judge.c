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

/* A record of o -> i (or i -> o) lasting from first_s to last_s seconds into the slot. */
static void add_timed(struct slot *s, enum slot_dir dir, const char *src, const char *dst,
                      uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags,
                      uint64_t packets, uint64_t octets, unsigned first_s, unsigned last_s)
{
	struct flow f = mkflow(src, dst, proto, sport, dport, flags, packets, octets,
	                       T0_MS + first_s * 1000ull);
	f.last_ms = T0_MS + last_s * 1000ull;
	slot_add(s, dir, &f);
}

/*
 * A short burst below the slot's packet floor is a flood on its rate: 200
 * packets/s for 90 s (18 000 packets, under flood_min_packets 30 000),
 * nothing answered. At 50/s it is not; nor is one record of 2 000 packets
 * within a second: its active time counts as flood_min_seconds (30 s), 67/s.
 */
static void test_flood_rate_burst(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct judge_result res;
	const unsigned pps[] = {200, 50};

	for (int r = 0; r < 2; r++) {
		struct slot *s = slot_create(&site, 0, 5890752, 4);
		normal_clients(s, 10);
		/* Nine 10-second records, 100 s .. 190 s. */
		for (unsigned k = 0; k < 9; k++)
			add_timed(s, SLOT_INGRESS, "198.51.100.70", "10.0.0.10", UDP,
			          (uint16_t)(2000 + k), 80, 0, pps[r] * 10ull, pps[r] * 10ull * 92,
			          100 + 10 * k, 110 + 10 * k);
		struct slot_view *v = judged(s, &res);
		struct slot_outside *o = &v->outside[find_outside(v, "198.51.100.70")];
		assert_int_equal(o->started_last - o->started_first, 90);
		struct judge_flood fl;
		judge_flood_figures(v, o, &fl);
		assert_true(fl.seconds == 90.0);
		if (r == 0) {
			const struct slot_label *l = get_label(v, o, JUDGE_FLOOD);
			assert_non_null(l);
			assert_int_equal(fl.signal, JUDGE_FLOOD_RATE);
			assert_true(l->value == 200.0);
			assert_true(l->threshold == 100.0);
			assert_true(o->in_c);
		} else {
			assert_false(has_label(v, o, JUDGE_FLOOD));
		}
		slot_destroy(s);
	}

	struct slot *s = slot_create(&site, 0, 5890752, 4);
	normal_clients(s, 10);
	add_timed(s, SLOT_INGRESS, "198.51.100.71", "10.0.0.10", UDP, 2000, 80, 0, 2000, 2000 * 92,
	          100, 101);
	struct slot_view *v = judged(s, &res);
	struct slot_outside *o = &v->outside[find_outside(v, "198.51.100.71")];
	struct judge_flood fl;
	judge_flood_figures(v, o, &fl);
	assert_true(fl.seconds == 30.0);
	assert_false(has_label(v, o, JUDGE_FLOOD));
	slot_destroy(s);
}

/*
 * An answered SYN flood: 20 000 SYNs over 120 s at one host, each answered
 * with a SYN-ACK (answered share 1, 60-byte packets: neither the volume
 * rule nor noPayload holds). Half-open: flood with signal synFlood. The
 * same packets with the handshake completed (ACK from outside) are a busy
 * client, not a flood.
 */
static void test_syn_flood_answered(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct judge_result res;

	for (int ack = 0; ack < 2; ack++) {
		struct slot *s = slot_create(&site, 0, 5890752, 4);
		normal_clients(s, 10);
		uint8_t fl_in = (uint8_t)(ack ? SYN | ACK | PSH | FIN : SYN);
		for (unsigned k = 0; k < 100; k++) {
			add_timed(s, SLOT_INGRESS, "198.51.100.80", "10.0.0.10", TCP,
			          (uint16_t)(10000 + k), 80, fl_in, 200, 200 * 60, 10 + k, 11 + k);
			add_timed(s, SLOT_EGRESS, "10.0.0.10", "198.51.100.80", TCP, 80,
			          (uint16_t)(10000 + k), SYN | ACK, 200, 200 * 60, 10 + k, 11 + k);
		}
		struct slot_view *v = judged(s, &res);
		struct slot_outside *o = &v->outside[find_outside(v, "198.51.100.80")];
		if (!ack) {
			assert_int_equal(o->half_open_targets, 1);
			assert_int_equal(o->half_open.packets, 20000);
			const struct slot_label *l = get_label(v, o, JUDGE_FLOOD);
			assert_non_null(l);
			struct judge_flood fl;
			judge_flood_figures(v, o, &fl);
			assert_int_equal(fl.signal, JUDGE_FLOOD_SYN);
			assert_string_equal(judge_flood_signal_name(fl.signal), "synFlood");
			assert_true(l->value == 20000.0);
			assert_true(l->threshold == 3000.0);
		} else {
			assert_int_equal(o->half_open_targets, 0);
			assert_false(has_label(v, o, JUDGE_FLOOD));
		}
		slot_destroy(s);
	}
}

/* Outside IP o probes inside IP i on five ports: two SYNs each, refused with an RST. */
static void probe(struct slot *s, const char *o, const char *i, bool refused)
{
	for (int p = 0; p < 5; p++) {
		struct flow f = mkflow(o, i, TCP, 50000, (uint16_t)(22 + p), SYN, 2, 120, T0_MS);
		slot_add(s, SLOT_INGRESS, &f);
		if (!refused)
			continue;
		f = mkflow(i, o, TCP, (uint16_t)(22 + p), 50000, RST | ACK, 1, 40, T0_MS);
		slot_add(s, SLOT_EGRESS, &f);
	}
}

/*
 * Scans of a small site: with ten active hosts, probing six of them is a
 * scan (over half), probing four is not. On a site whose only active hosts
 * are two servers, an outside client that uses both (requests answered
 * with pages) is no scanner, while one that probes both is.
 */
static void test_scan_small_sites(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct judge_result res;
	char in[32];

	for (int n = 4; n <= 6; n += 2) {
		struct slot *s = slot_create(&site, 0, 5890752, 4);
		normal_clients(s, 10);
		for (int k = 0; k < n; k++) {
			snprintf(in, sizeof(in), "10.0.0.%d", 10 + k);
			probe(s, "198.51.100.90", in, true);
		}
		struct slot_view *v = judged(s, &res);
		assert_int_equal(v->n_active, 10);
		struct slot_outside *o = &v->outside[find_outside(v, "198.51.100.90")];
		const struct slot_label *l = get_label(v, o, JUDGE_SCAN);
		if (n == 6) {
			assert_non_null(l);
			assert_true(l->value == 6.0);
			assert_true(l->threshold == 5.0);
		} else {
			assert_null(l);
		}
		slot_destroy(s);
	}

	for (int scanner = 0; scanner < 2; scanner++) {
		struct slot *s = slot_create(&site, 0, 5890752, 4);
		const char *srv[2] = {"10.0.0.80", "10.0.0.53"};
		for (int k = 0; k < 2; k++) {
			if (scanner) {
				probe(s, "198.51.100.91", srv[k], true);
				continue;
			}
			/* Many requests, answered by larger responses. */
			struct flow f = mkflow("198.51.100.91", srv[k], TCP, 40000, 443,
			                       SYN | ACK | PSH | FIN, 400, 400 * 70, T0_MS);
			slot_add(s, SLOT_INGRESS, &f);
			f = mkflow(srv[k], "198.51.100.91", TCP, 443, 40000, SYN | ACK | PSH | FIN,
			           600, 600 * 1200, T0_MS);
			slot_add(s, SLOT_EGRESS, &f);
		}
		struct slot_view *v = judged(s, &res);
		assert_int_equal(v->n_active, 2);
		struct slot_outside *o = &v->outside[find_outside(v, "198.51.100.91")];
		assert_int_equal(o->started_targets, 2);
		assert_int_equal(has_label(v, o, JUDGE_SCAN), scanner);
		slot_destroy(s);
	}
}

/*
 * A scan of silent addresses on a large site: twelve addresses that sent
 * nothing all slot (scan_min_unused 10) among 40 active hosts, far from
 * half of them. Nine are not enough.
 */
static void test_scan_silent_addresses(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct judge_result res;
	char in[32];

	for (int n = 9; n <= 12; n += 3) {
		struct slot *s = slot_create(&site, 0, 5890752, 4);
		normal_clients(s, 40);
		for (int k = 0; k < n; k++) {
			snprintf(in, sizeof(in), "10.0.9.%d", k);
			probe(s, "198.51.100.92", in, false);
		}
		struct slot_view *v = judged(s, &res);
		struct slot_outside *o = &v->outside[find_outside(v, "198.51.100.92")];
		uint32_t probed, silent;
		judge_scan_probes(v, o, &probed, &silent);
		assert_int_equal(probed, n);
		assert_int_equal(silent, n);
		const struct slot_label *l = get_label(v, o, JUDGE_SCAN);
		if (n == 12) {
			assert_non_null(l);
			assert_true(l->value == 12.0);
			assert_true(l->threshold == 10.0);
		} else {
			assert_null(l);
		}
		slot_destroy(s);
	}
}

/*
 * A distributed flood: 30 outside IPs each send 1 500 unanswered UDP
 * packets to 10.0.0.10 (45 000 in all), each far below the flood rule:
 * underAttack on the inside IP, no label on the sources. From 10 sources
 * (attack_min_sources 20) it is not.
 */
static void test_under_attack(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct judge_result res;
	char src[32];

	for (int n = 10; n <= 30; n += 20) {
		struct slot *s = slot_create(&site, 0, 5890752, 4);
		normal_clients(s, 10);
		for (int k = 0; k < n; k++) {
			snprintf(src, sizeof(src), "203.0.113.%d", k + 1);
			add_timed(s, SLOT_INGRESS, src, "10.0.0.10", UDP, 53, 3074, 0, 1500,
			          1500 * 500, 0, 280);
		}
		struct slot_view *v = judged(s, &res);
		const struct slot_inside *in = &v->inside[find_inside(v, "10.0.0.10")];
		assert_int_equal(in->flooded_peers, n);
		assert_int_equal(in->flooded.packets, 1500ull * n);
		assert_int_equal(in->flooded_proto[SLOT_PROTO_UDP], 1500ull * n);
		const struct slot_label *l = get_label(v, in, JUDGE_UNDERATTACK);
		if (n == 30) {
			assert_non_null(l);
			assert_true(l->value == 45000.0);
			assert_true(l->threshold == 30000.0);
			assert_int_equal(res.labels[JUDGE_UNDERATTACK], 1);
		} else {
			assert_null(l);
		}
		assert_int_equal(res.labels[JUDGE_FLOOD], 0);
		slot_destroy(s);
	}
}

/* ---- layer 2: a fake gateway table -------------------------------------- */

struct fake_arp {
	const char *ip;
	struct judge_arp a;
};

static const struct fake_arp fake_table[] = {
    /* active hosts: resolved on the gateway, missing, MAC zero */
    {"10.0.0.10",
     {.on_gateway = true,
      .resolved_gw = true,
      .resolved = true,
      .types = 1,
      .devices = 1,
      .min_age_s = 30}},
    {"10.0.0.12", {.resolved = true, .zero_mac = true, .types = 1, .devices = 1, .min_age_s = 5}},
    /* silent addresses: Incomplete just now, Incomplete long ago, Deleted */
    {"10.0.9.1",
     {.on_gateway = true, .incomplete_gw = true, .types = 1u << 3, .devices = 1, .min_age_s = 4}},
    {"10.0.9.2",
     {.on_gateway = true, .incomplete_gw = true, .types = 1u << 3, .devices = 1, .min_age_s = 500}},
    {"10.0.9.3", {.on_gateway = true, .types = 1u << 4, .devices = 1, .min_age_s = 2}},
    /* an active client the gateway shows Incomplete */
    {"10.0.0.13",
     {.on_gateway = true, .incomplete_gw = true, .types = 1u << 3, .devices = 1, .min_age_s = 1}},
};

static void fake_arp(const void *ud, const struct site_config *site, const struct flow_addr *ip,
                     struct judge_arp *out)
{
	struct flow_addr a;

	(void)site;
	memset(out, 0, sizeof(*out));
	out->min_age_s = -1;
	for (size_t k = 0; k < sizeof(fake_table) / sizeof(*fake_table); k++) {
		flow_addr_parse(fake_table[k].ip, &a);
		if (memcmp(&a, ip, sizeof(a)) == 0)
			*out = fake_table[k].a;
	}
	out->gateway_polled = ud != NULL;
}

/*
 * arpUnused only for a conversation the outside IP started, to a silent
 * address a gateway showed Incomplete recently: 10.0.9.1 yes; 10.0.9.2
 * (500 s old), 10.0.9.3 (Deleted only) no; the server an active client
 * talked to (10.0.0.13, Incomplete) no. arpMissing on active hosts the
 * polled gateway does not show resolved (10.0.0.11, .12, .13, not .10);
 * none when no gateway was polled. zeroMac on 10.0.0.12.
 */
static void test_arp_rules(void **state)
{
	(void)state;
	struct site_config site;
	test_site(&site);
	struct judge_result res;
	static const int polled = 1;

	for (int gw = 0; gw < 2; gw++) {
		struct slot *s = slot_create(&site, 0, 5890752, 4);
		normal_clients(s, 4); /* 10.0.0.10 .. 10.0.0.13 */
		probe(s, "198.51.100.100", "10.0.9.1", false);
		probe(s, "198.51.100.101", "10.0.9.2", false);
		probe(s, "198.51.100.102", "10.0.9.3", false);
		struct judge_l2 l2 = {.arp = fake_arp, .ud = gw ? &polled : NULL};
		assert_non_null(slot_finish(s));
		struct slot_view *v = slot_view_mut(s);
		assert_int_equal(judge_slot_l2(v, &l2, &res), 0);

		const struct slot_outside *o = &v->outside[find_outside(v, "198.51.100.100")];
		const struct slot_label *l = get_label(v, o, JUDGE_ARPUNUSED);
		assert_non_null(l);
		assert_true(l->value == 1.0);
		assert_false(
		    has_label(v, &v->outside[find_outside(v, "198.51.100.101")], JUDGE_ARPUNUSED));
		assert_false(
		    has_label(v, &v->outside[find_outside(v, "198.51.100.102")], JUDGE_ARPUNUSED));
		/* 10.0.0.13's web server answered it: no evidence against the server. */
		for (size_t k = 0; k < v->n_outside; k++)
			if (memcmp(&v->outside[k].addr, &o->addr, 16) != 0)
				assert_false(has_label(v, &v->outside[k], JUDGE_ARPUNUSED));
		assert_int_equal(res.labels[JUDGE_ARPUNUSED], 1);

		const char *missing[] = {"10.0.0.11", "10.0.0.12", "10.0.0.13"};
		assert_false(
		    has_label(v, &v->inside[find_inside(v, "10.0.0.10")], JUDGE_ARPMISSING));
		for (int k = 0; k < 3; k++)
			assert_int_equal(
			    has_label(v, &v->inside[find_inside(v, missing[k])], JUDGE_ARPMISSING),
			    gw);
		assert_int_equal(res.labels[JUDGE_ARPMISSING], gw ? 3 : 0);
		/* Silent addresses sent nothing out: never arpMissing. */
		assert_false(
		    has_label(v, &v->inside[find_inside(v, "10.0.9.1")], JUDGE_ARPMISSING));
		assert_true(has_label(v, &v->inside[find_inside(v, "10.0.0.12")], JUDGE_ZEROMAC));
		assert_int_equal(res.labels[JUDGE_ZEROMAC], 1);
		slot_destroy(s);
	}
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
		cmocka_unit_test(test_flood_rate_burst),
		cmocka_unit_test(test_syn_flood_answered),
		cmocka_unit_test(test_scan_small_sites),
		cmocka_unit_test(test_scan_silent_addresses),
		cmocka_unit_test(test_under_attack),
		cmocka_unit_test(test_arp_rules),
		cmocka_unit_test(test_inside_scanner),
		cmocka_unit_test(test_p2p_and_floodout),
		cmocka_unit_test(test_label_names),
		cmocka_unit_test(test_labels_packed_and_rejudged),
		cmocka_unit_test(test_out_of_memory_leaves_unlabelled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
