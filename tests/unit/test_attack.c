/*
 * Unit tests for src/attack/: the rate window (spreading over a record's
 * span, long active timeouts, sampling-scaled counts), thresholds with
 * hysteresis, groups, outbound events, the bounded host and event tables,
 * the engine tap, and the hook runner's failure and time-out handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "nfsentry/attack.h"
#include "nfsentry/attackring.h"
#include "nfsentry/clock.h"
#include "nfsentry/engine.h"
#include "nfsentry/fault.h"

#define T0 1767225600000ull /* a second boundary */

static struct site_config sites[1];
static struct site_prefix inside[2];

static struct site_prefix pfx(const char *a, unsigned len)
{
	struct site_prefix p;
	flow_addr_parse(a, &p.addr);
	p.len = (uint8_t)(flow_addr_is_v4(&p.addr) ? 96 + len : len);
	return p;
}

static void make_site(void)
{
	memset(sites, 0, sizeof(sites));
	site_config_defaults(&sites[0]);
	snprintf(sites[0].name, sizeof(sites[0].name), "campus");
	inside[0] = pfx("10.0.0.0", 16);   /* dense */
	inside[1] = pfx("2001:db8::", 32); /* hash */
	sites[0].inside = inside;
	sites[0].n_inside = 2;
}

struct seen {
	int n;
	struct attack_event ev[64];
	enum attack_phase ph[64];
};

static void on_event(void *ud, const struct attack_event *e, enum attack_phase p)
{
	struct seen *s = ud;
	assert_true(s->n < 64);
	s->ev[s->n] = *e;
	s->ph[s->n] = p;
	s->n++;
}

static struct flow rec(const char *src, const char *dst, uint8_t proto, uint8_t flags,
                       uint64_t packets, uint64_t octets, uint64_t span_ms, uint64_t now_ms)
{
	struct flow f;
	memset(&f, 0, sizeof(f));
	flow_addr_parse(src, &f.src);
	flow_addr_parse(dst, &f.dst);
	f.proto = proto;
	f.tcp_flags = flags;
	f.packets = packets;
	f.octets = octets;
	f.last_ms = now_ms;
	f.first_ms = now_ms - span_ms;
	f.export_ms = now_ms;
	f.sampling = 1;
	f.sport = 40000;
	f.dport = 80;
	return f;
}

/* Feed one record whose destination (in) or source (out) is inside site 0. */
static void feed(struct attack *a, const struct flow *f, bool dst_inside, bool src_inside)
{
	int64_t ss = src_inside ? 0 : -1, sd = dst_inside ? 0 : -1;
	attack_records(a, f, 1, &ss, &sd);
}

static struct attack *make(struct attack_config *c, struct seen *seen)
{
	struct attack *a = NULL;
	make_site();
	/*
	 * A threshold of 1 pps on a class no test sends makes every host with
	 * traffic hot: its window is kept and read exactly (a cold host keeps
	 * only its bound). Tests that need the defaults set it back.
	 */
	if (c->th.v[ATTACK_IN][ATTACK_CLASS_OTHER][ATTACK_PPS] == 50000)
		c->th.v[ATTACK_IN][ATTACK_CLASS_OTHER][ATTACK_PPS] = 1;
	assert_int_equal(attack_create(c, sites, 1, on_event, seen, &a), 0);
	attack_clock(a, T0);
	return a;
}

static double rate_of(struct attack *a, const char *ip, unsigned dir, unsigned cls, unsigned m)
{
	double r[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][ATTACK_METRIC__COUNT];
	struct flow_addr x;
	flow_addr_parse(ip, &x);
	if (attack_host_rates(a, 0, &x, r) != 0)
		return -1;
	return r[dir][cls][m];
}

/* A record of a 10-second span adds a tenth of its count per second. */
static void test_spread(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	struct attack *a = make(&c, &seen);

	/*
	 * 1000 packets over 10 s (span 9.999 s) into 10.0.1.1: longer than the
	 * window, a sustained 100 pps for the next 10 seconds.
	 */
	struct flow f = rec("192.0.2.1", "10.0.1.1", 17, 0, 1000, 1000 * 100, 9999, T0);
	feed(a, &f, true, false);
	attack_clock(a, T0 + 1000);
	assert_true(fabs(rate_of(a, "10.0.1.1", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) - 100) <
	            0.01);
	assert_true(
	    fabs(rate_of(a, "10.0.1.1", ATTACK_IN, ATTACK_CLASS_TOTAL, ATTACK_BPS) - 80000) < 1);
	assert_true(fabs(rate_of(a, "10.0.1.1", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_FPS) - 0.1) <
	            1e-4);
	assert_true(rate_of(a, "10.0.1.1", ATTACK_OUT, ATTACK_CLASS_TOTAL, ATTACK_PPS) == 0);
	/* A one-second record counts whole in its second: 5 packets over a 5 s window. */
	struct flow g = rec("192.0.2.1", "10.0.1.2", 1, 0, 5, 500, 0, T0 + 1000);
	feed(a, &g, true, false);
	/* A 3-second record adds a third of its 30 packets to this second and the next two. */
	struct flow h = rec("192.0.2.1", "10.0.1.3", 1, 0, 30, 3000, 2999, T0 + 1000);
	feed(a, &h, true, false);
	attack_clock(a, T0 + 2000);
	assert_true(fabs(rate_of(a, "10.0.1.2", ATTACK_IN, ATTACK_CLASS_ICMP, ATTACK_PPS) - 1) <
	            1e-4);
	assert_true(fabs(rate_of(a, "10.0.1.3", ATTACK_IN, ATTACK_CLASS_ICMP, ATTACK_PPS) - 2) <
	            1e-4);
	attack_clock(a, T0 + 4000);
	assert_true(fabs(rate_of(a, "10.0.1.3", ATTACK_IN, ATTACK_CLASS_ICMP, ATTACK_PPS) - 6) <
	            1e-4);
	/* Out of the window five seconds later. */
	attack_clock(a, T0 + 9000);
	assert_true(rate_of(a, "10.0.1.3", ATTACK_IN, ATTACK_CLASS_ICMP, ATTACK_PPS) <= 0);
	/* 10.0.1.1's record holds its rate for its 10 seconds, then stops. */
	assert_true(fabs(rate_of(a, "10.0.1.1", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) - 100) <
	            0.01);
	attack_clock(a, T0 + 11000);
	assert_true(rate_of(a, "10.0.1.1", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) <= 0);
	/* Idle hosts are freed once nothing was credited for two epochs (2 x 2 x window). */
	attack_clock(a, T0 + 30000);
	struct attack_stats st;
	attack_stats_get(a, &st);
	assert_int_equal(st.hosts, 0);
	assert_int_equal(st.records, 3);
	assert_int_equal(seen.n, 0);
	attack_destroy(a);
}

/*
 * Records of long active timeouts: 60 s and 1800 s spans at an average of
 * 50 000 pps (half the UDP threshold). Crediting them at export time would
 * put 3 M and 90 M packets into a 5-second window; spread, the rate stays
 * at the average and no event starts.
 */
static void test_long_records(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	struct attack *a = make(&c, &seen);
	uint64_t t = T0;

	/*
	 * 200 s. To 10.0.2.1 one flow exported every 60 s (a 60-second active
	 * timeout), each record covering the 60 s before; to 10.0.2.2 one record
	 * covering 1800 s, exported at 30 s.
	 */
	for (int k = 0; k < 200; k++) {
		t += 1000;
		attack_clock(a, t);
		if (k % 60 == 0) {
			struct flow f = rec("192.0.2.7", "10.0.2.1", 17, 0, 50000ull * 60,
			                    50000ull * 60 * 100, 59999, t);
			feed(a, &f, true, false);
		}
		if (k == 30) {
			struct flow g = rec("192.0.2.8", "10.0.2.2", 17, 0, 50000ull * 1800,
			                    50000ull * 1800 * 100, 1799999, t);
			feed(a, &g, true, false);
		}
		/* Every second the rate is the records' average: never a spike, never a gap. */
		if (k > 0) {
			double r1 = rate_of(a, "10.0.2.1", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS);
			assert_true(fabs(r1 - 50000) < 5);
		}
		if (k > 30) {
			double r2 = rate_of(a, "10.0.2.2", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS);
			assert_true(fabs(r2 - 50000) < 5);
		}
	}
	assert_int_equal(seen.n, 0);
	/* The 60-second flow stops: its last record's rate ends 60 s after it came. */
	for (int k = 0; k < 60; k++) {
		t += 1000;
		attack_clock(a, t);
	}
	assert_true(rate_of(a, "10.0.2.1", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) <= 0);
	assert_true(fabs(rate_of(a, "10.0.2.2", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) - 50000) <
	            5);
	assert_int_equal(seen.n, 0);
	attack_destroy(a);
}

/*
 * Sampled exports: the decoder has scaled packets and octets (flow.h); a
 * 1:1000 record of 30 sampled packets is 30 000 packets here and rates as
 * such, enough for the SYN threshold (20 000 pps).
 */
static void test_sampled_counts(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	struct attack *a = make(&c, &seen);
	uint64_t t = T0;

	for (int k = 0; k < 5; k++) {
		/* Per second: 30 records of 1 sampled SYN each, scaled 1000x. */
		for (int j = 0; j < 30; j++) {
			char src[32];
			snprintf(src, sizeof(src), "198.51.100.%d", j);
			struct flow f = rec(src, "10.0.3.3", 6, 0x02, 1000, 40000, 0, t);
			f.sampling = 1000;
			feed(a, &f, true, false);
		}
		t += 1000;
		attack_clock(a, t);
	}
	assert_true(seen.n >= 1);
	assert_int_equal(seen.ph[0], ATTACK_START);
	assert_int_equal(seen.ev[0].cls, ATTACK_CLASS_SYN);
	/* Above from the fourth window (24 000 pps), started at the fifth (30 000). */
	assert_true(fabs(seen.ev[0].cur[ATTACK_PPS] - 30000) < 1);
	assert_int_equal(seen.ev[0].start_ms, T0 + 4000);
	attack_destroy(a);
}

/* N windows above start; M below end; start, end and peak as documented. */
static void test_hysteresis(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	c.window_s = 2;
	c.start_windows = 3;
	c.end_windows = 2;
	c.update_s = 3;
	struct attack *a = make(&c, &seen);
	uint64_t t = T0;

	/* 100 000 SYN/s from 2000 sources for 10 s. */
	for (int k = 0; k < 10; k++) {
		for (int j = 0; j < 2000; j++) {
			char src[32];
			snprintf(src, sizeof(src), "203.0.%d.%d", j / 250, j % 250 + 1);
			struct flow f =
			    rec(src, "10.0.9.9", 6, 0x02, j < 10 ? 410 : 40, 40 * 40, 0, t);
			f.dport = 443;
			feed(a, &f, true, false);
		}
		t += 1000;
		attack_clock(a, t);
		if (k == 1) /* two windows above, three needed */
			assert_int_equal(seen.n, 0);
		if (k == 2) {
			assert_int_equal(seen.n, 1);
			assert_int_equal(seen.ph[0], ATTACK_START);
		}
	}
	const struct attack_event *s = &seen.ev[0];
	assert_string_equal(s->site, "campus");
	char ip[64];
	flow_addr_format(&s->ip, ip, sizeof(ip));
	assert_string_equal(ip, "10.0.9.9");
	assert_int_equal(s->dir, ATTACK_IN);
	/* SYN is the class above first (its threshold is lower than total's). */
	assert_int_equal(s->cls, ATTACK_CLASS_SYN);
	/* Windows evaluated at T0+1, +2, +3 s were above: start = the first of them. */
	assert_int_equal(s->start_ms, T0 + 1000);
	assert_int_equal(s->detected_ms, T0 + 3000);
	assert_int_equal(s->seq, 0);
	/* 83 700 pps is under the total's 200 000: only SYN opened. */
	int starts = 0, ends = 0, updates = 0;
	for (int k = 0; k < seen.n; k++) {
		starts += seen.ph[k] == ATTACK_START;
		updates += seen.ph[k] == ATTACK_UPDATE;
	}
	assert_int_equal(starts, 1);
	/* Updates every 3 s after T0+3: at T0+6 and T0+9. */
	assert_int_equal(updates, 2);
	/* Quiet: the window still holds the last flood second at T0+11, below from T0+12. */
	for (int k = 0; k < 4; k++) {
		t += 1000;
		attack_clock(a, t);
	}
	for (int k = 0; k < seen.n; k++)
		if (seen.ph[k] == ATTACK_END) {
			ends++;
			const struct attack_event *e = &seen.ev[k];
			assert_int_equal(e->cls, ATTACK_CLASS_SYN);
			assert_int_equal(e->end_ms, T0 + 12000);
			assert_int_equal(e->now_ms, T0 + 13000);
			/* 10 heavy sources (410 packets/s) lead the list. */
			assert_int_equal(e->n_sources, ATTACK_TOP_MAX);
			char top[64];
			flow_addr_format(&e->sources[0].addr, top, sizeof(top));
			assert_true(strncmp(top, "203.0.0.", 8) == 0);
			assert_true(atoi(top + 8) <= 10);
			assert_true(e->sources[0].packets >= 410);
			assert_int_equal(e->n_ports, 1);
			assert_int_equal(e->ports[0].key, 443);
			assert_int_equal(e->n_protocols, 1);
			assert_int_equal(e->protocols[0].key, 6);
			assert_true(fabs(e->peak[ATTACK_PPS] - 83700) < 1);
			assert_true(e->packets > 0);
		}
	assert_int_equal(ends, 1);
	struct attack_stats st;
	attack_stats_get(a, &st);
	assert_int_equal(st.events_started, 1);
	assert_int_equal(st.events_ended, 1);
	assert_int_equal(st.events_open, 0);
	attack_destroy(a);
}

/* A rate that dips for fewer than M windows keeps the event open. */
static void test_hysteresis_dip(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	c.window_s = 1;
	c.start_windows = 1;
	c.end_windows = 3;
	struct attack *a = make(&c, &seen);
	uint64_t t = T0;
	/* Seconds: flood, flood, quiet, quiet, flood, then quiet. */
	const int on[] = {1, 1, 0, 0, 1, 0, 0, 0, 0};
	for (size_t k = 0; k < sizeof(on) / sizeof(on[0]); k++) {
		if (on[k]) {
			struct flow f = rec("192.0.2.1", "10.0.4.4", 1, 0, 30000, 30000 * 64, 0, t);
			feed(a, &f, true, false);
		}
		t += 1000;
		attack_clock(a, t);
	}
	int starts = 0, ends = 0;
	for (int k = 0; k < seen.n; k++) {
		starts += seen.ph[k] == ATTACK_START;
		ends += seen.ph[k] == ATTACK_END;
	}
	assert_int_equal(starts, 1);
	assert_int_equal(ends, 1);
	assert_int_equal(seen.ev[seen.n - 1].end_ms, T0 + 6000);
	attack_destroy(a);
}

/*
 * Fragments: a fragment record counts in its protocol's class and in
 * fragments, and once in total; a flood of UDP fragments under the UDP
 * thresholds is a fragments event, the same flood unfragmented none.
 */
static void test_fragments(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	struct attack *a = make(&c, &seen);
	uint64_t t = T0;

	/* Rates: 500 fragments in one second, 100 unfragmented, 1000 over 10 s fragmented. */
	struct flow f = rec("192.0.2.1", "10.0.7.1", 17, 0, 500, 500 * 1500, 0, t);
	f.frag = FLOW_FRAG_OFFSET;
	feed(a, &f, true, false);
	struct flow g = rec("192.0.2.1", "10.0.7.1", 17, 0, 100, 100 * 1500, 0, t);
	g.frag = FLOW_FRAG_DF; /* DF alone is no fragment */
	feed(a, &g, true, false);
	struct flow h = rec("192.0.2.2", "10.0.7.1", 17, 0, 1000, 1000 * 1500, 9999, t);
	h.frag = FLOW_FRAG_MORE;
	feed(a, &h, true, false);
	attack_clock(a, t + 1000);
	/* Window 5 s: 600 and 500 packets of the second over 5, plus 100/s sustained. */
	assert_true(fabs(rate_of(a, "10.0.7.1", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) - 220) <
	            0.01);
	assert_true(fabs(rate_of(a, "10.0.7.1", ATTACK_IN, ATTACK_CLASS_FRAG, ATTACK_PPS) - 200) <
	            0.01);
	assert_true(fabs(rate_of(a, "10.0.7.1", ATTACK_IN, ATTACK_CLASS_TOTAL, ATTACK_PPS) - 220) <
	            0.01);
	assert_true(fabs(rate_of(a, "10.0.7.1", ATTACK_IN, ATTACK_CLASS_FRAG, ATTACK_FPS) - 0.3) <
	            1e-4);
	assert_true(rate_of(a, "10.0.7.1", ATTACK_OUT, ATTACK_CLASS_FRAG, ATTACK_PPS) == 0);
	attack_destroy(a);

	/*
	 * 30 000 packets/s of 1500-byte UDP fragments from 100 sources for 10 s:
	 * under UDP's 100 000 pps and 1 Gbit/s, over fragments' 10 000 pps.
	 */
	for (int frag = 1; frag >= 0; frag--) {
		memset(&seen, 0, sizeof(seen));
		attack_config_defaults(&c);
		a = make(&c, &seen);
		t = T0;
		for (int k = 0; k < 10; k++) {
			for (int j = 0; j < 100; j++) {
				char src[32];
				snprintf(src, sizeof(src), "198.51.100.%d", j + 1);
				f = rec(src, "10.0.7.7", 17, 0, 300, 300 * 1500, 0, t);
				f.sport = f.dport = 0;
				f.frag = frag ? (j % 2 ? FLOW_FRAG_OFFSET : FLOW_FRAG_MORE) : 0;
				feed(a, &f, true, false);
			}
			t += 1000;
			attack_clock(a, t);
		}
		for (int k = 0; k < 12; k++) {
			t += 1000;
			attack_clock(a, t);
		}
		if (!frag) {
			assert_int_equal(seen.n, 0);
			attack_destroy(a);
			continue;
		}
		int starts = 0, ends = 0;
		for (int k = 0; k < seen.n; k++) {
			assert_int_equal(seen.ev[k].cls, ATTACK_CLASS_FRAG);
			assert_int_equal(seen.ev[k].dir, ATTACK_IN);
			starts += seen.ph[k] == ATTACK_START;
			ends += seen.ph[k] == ATTACK_END;
		}
		assert_int_equal(starts, 1);
		assert_int_equal(ends, 1);
		const struct attack_event *e = &seen.ev[seen.n - 1];
		assert_string_equal(attack_class_name(e->cls), "fragments");
		assert_true(fabs(e->peak[ATTACK_PPS] - 30000) < 1);
		assert_true(fabs(e->threshold[ATTACK_PPS] - 10000) < 1);
		/* Fed from its start: the sources and protocol of the fragments. */
		assert_int_equal(e->n_sources, ATTACK_TOP_MAX);
		assert_int_equal(e->n_protocols, 1);
		assert_int_equal(e->protocols[0].key, 17);
		assert_true(e->packets > 0);
		attack_destroy(a);
	}
}

/* Outbound: an inside host sending a UDP flood is a source event. */
static void test_outbound(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	struct attack *a = make(&c, &seen);
	uint64_t t = T0;
	for (int k = 0; k < 5; k++) {
		struct flow f = rec("2001:db8::66", "198.18.0.1", 17, 0, 80000, 80000 * 500, 0, t);
		feed(a, &f, false, true);
		t += 1000;
		attack_clock(a, t);
	}
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.ev[0].dir, ATTACK_OUT);
	assert_int_equal(seen.ev[0].cls, ATTACK_CLASS_UDP);
	char ip[64];
	flow_addr_format(&seen.ev[0].ip, ip, sizeof(ip));
	assert_string_equal(ip, "2001:db8::66");
	/* 80 000 pps over the 50 000 of outbound UDP; 320 Mbit/s is under 1 Gbit/s. */
	assert_true(fabs(seen.ev[0].cur[ATTACK_PPS] - 80000) < 1);
	attack_close_all(a);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ph[1], ATTACK_END);
	attack_destroy(a);
}

/* Group thresholds beat the site's; the site's beat the defaults. */
static void test_groups(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	c.window_s = 1;
	c.start_windows = 1;
	struct attack_site ov;
	struct attack_group grp;
	memset(&ov, 0, sizeof(ov));
	memset(&ov.th, 0xff, sizeof(ov.th));
	memset(&grp.th, 0xff, sizeof(grp.th));
	snprintf(ov.site, sizeof(ov.site), "campus");
	ov.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 100; /* the whole site */
	grp.prefix = pfx("10.0.7.0", 24);
	grp.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 0; /* off for these */
	ov.groups = &grp;
	ov.n_groups = 1;
	c.sites = &ov;
	c.n_sites = 1;
	struct attack *a = make(&c, &seen);
	struct flow f1 = rec("192.0.2.1", "10.0.7.7", 1, 0, 500, 500 * 64, 0, T0);
	struct flow f2 = rec("192.0.2.1", "10.0.8.8", 1, 0, 500, 500 * 64, 0, T0);
	feed(a, &f1, true, false);
	feed(a, &f2, true, false);
	attack_clock(a, T0 + 1000);
	assert_int_equal(seen.n, 1);
	char ip[64];
	flow_addr_format(&seen.ev[0].ip, ip, sizeof(ip));
	assert_string_equal(ip, "10.0.8.8");
	assert_true(seen.ev[0].threshold[ATTACK_PPS] == 100);
	attack_destroy(a);
}

/*
 * A reload's thresholds apply from the next evaluation: the site's ICMP
 * threshold raised above what a new host sends (no event), the group's
 * set below it (an event, with the new threshold). Another group prefix
 * is refused and changes nothing.
 */
static void test_thresholds_set(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	c.window_s = 1;
	c.start_windows = 1;
	struct attack_site ov;
	struct attack_group grp;
	memset(&ov, 0, sizeof(ov));
	memset(&ov.th, 0xff, sizeof(ov.th));
	memset(&grp.th, 0xff, sizeof(grp.th));
	snprintf(ov.site, sizeof(ov.site), "campus");
	ov.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 100;
	grp.prefix = pfx("10.0.7.0", 24);
	grp.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 0;
	ov.groups = &grp;
	ov.n_groups = 1;
	c.sites = &ov;
	c.n_sites = 1;
	struct attack *a = make(&c, &seen);

	struct attack_config n = c;
	struct attack_site nov = ov;
	struct attack_group ngrp = grp;
	nov.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 1000;
	ngrp.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 200;
	nov.groups = &ngrp;
	n.sites = &nov;
	struct attack_group other = ngrp;
	other.prefix = pfx("10.0.6.0", 24);
	nov.groups = &other;
	assert_int_equal(attack_thresholds_set(a, &n), -EINVAL);
	nov.groups = &ngrp;
	assert_int_equal(attack_thresholds_set(a, &n), 0);
	nov.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 1; /* copied: no effect */

	struct flow f1 = rec("192.0.2.1", "10.0.7.7", 1, 0, 500, 500 * 64, 0, T0);
	struct flow f2 = rec("192.0.2.1", "10.0.8.8", 1, 0, 500, 500 * 64, 0, T0);
	feed(a, &f1, true, false);
	feed(a, &f2, true, false);
	attack_clock(a, T0 + 1000);
	assert_int_equal(seen.n, 1);
	char ip[64];
	flow_addr_format(&seen.ev[0].ip, ip, sizeof(ip));
	assert_string_equal(ip, "10.0.7.7");
	assert_true(seen.ev[0].threshold[ATTACK_PPS] == 200);
	attack_destroy(a);
}

/*
 * A reload that lowers the smallest threshold: a cold host (only its bound
 * kept) is tested against the new one from the next record on, so a rate
 * under the old thresholds and over the new one starts an event.
 */
static void test_thresholds_lowered(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	c.window_s = 1;
	c.start_windows = 1;
	memset(&c.th, 0, sizeof(c.th)); /* every threshold off ... */
	c.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 100000; /* ... but one, high */
	struct attack *a = make(&c, &seen);

	struct flow f = rec("192.0.2.1", "10.0.8.8", 1, 0, 500, 500 * 64, 0, T0);
	feed(a, &f, true, false);
	attack_clock(a, T0 + 1000);
	assert_int_equal(seen.n, 0);

	struct attack_config n = c;
	n.th.v[ATTACK_IN][ATTACK_CLASS_ICMP][ATTACK_PPS] = 100;
	assert_int_equal(attack_thresholds_set(a, &n), 0);
	f = rec("192.0.2.1", "10.0.8.8", 1, 0, 500, 500 * 64, 0, T0 + 1000);
	feed(a, &f, true, false);
	attack_clock(a, T0 + 2000);
	assert_int_equal(seen.n, 1);
	char ip[64];
	flow_addr_format(&seen.ev[0].ip, ip, sizeof(ip));
	assert_string_equal(ip, "10.0.8.8");
	assert_int_equal(seen.ev[0].cls, ATTACK_CLASS_ICMP);
	assert_true(seen.ev[0].threshold[ATTACK_PPS] == 100);
	attack_destroy(a);
}

/*
 * A cold host keeps only its bound; it gets a window (a ring) once it may
 * reach a threshold, from then on. Rings are bounded: a host that finds
 * none free stays cold, counted.
 */
static void test_cold_hot(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	c.th.v[ATTACK_IN][ATTACK_CLASS_OTHER][ATTACK_PPS] = 50001; /* not make()'s 1 pps */
	struct attack *a = make(&c, &seen);
	/* 5 000 packets in one second: a bound of 1 000 pps, under every threshold. */
	struct flow f = rec("192.0.2.1", "10.0.1.9", 17, 0, 5000, 5000 * 100, 0, T0);
	feed(a, &f, true, false);
	attack_clock(a, T0 + 1000);
	assert_true(rate_of(a, "10.0.1.9", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) == 0);
	/* 60 000 more: the bound reaches 13 000 pps (over the smallest, 10 000): hot. */
	struct flow g = rec("192.0.2.1", "10.0.1.9", 17, 0, 60000, 60000 * 100, 0, T0 + 1000);
	feed(a, &g, true, false);
	attack_clock(a, T0 + 2000);
	assert_true(fabs(rate_of(a, "10.0.1.9", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) - 12000) <
	            0.01);
	attack_destroy(a);

	/* 8 192 hosts: 4 096 rings. The 4 097th host that needs one stays cold. */
	attack_config_defaults(&c);
	c.max_hosts = 8192;
	a = make(&c, &seen);
	for (int k = 0; k < 4100; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.0.%d.%d", 20 + k / 250, 1 + k % 250);
		struct flow h = rec("192.0.2.1", ip, 17, 0, 1000, 1000 * 100, 0, T0);
		feed(a, &h, true, false);
	}
	struct attack_stats st;
	attack_stats_get(a, &st);
	assert_int_equal(st.hosts, 4100);
	assert_int_equal(st.host_overflow, 4);
	attack_destroy(a);
}

/*
 * A cold host's first record is long (a sustained rate) and fragmented: its
 * rate is held in the protocol's cell and in the fragments cell, and the
 * host turns hot at once, so the fragments flood is an event after
 * start_windows seconds with no further record.
 */
static void test_cold_long(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	c.th.v[ATTACK_IN][ATTACK_CLASS_OTHER][ATTACK_PPS] = 50001; /* not make()'s 1 pps */
	struct attack *a = make(&c, &seen);
	/* 20 s of 30 000 fragments/s: over fragments' 10 000 pps, under UDP's 100 000. */
	struct flow f =
	    rec("192.0.2.1", "10.0.1.10", 17, 0, 30000ull * 20, 30000ull * 20 * 1500, 19999, T0);
	f.frag = FLOW_FRAG_MORE;
	feed(a, &f, true, false);
	attack_clock(a, T0 + 1000);
	assert_true(fabs(rate_of(a, "10.0.1.10", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) - 30000) <
	            0.5);
	assert_true(
	    fabs(rate_of(a, "10.0.1.10", ATTACK_IN, ATTACK_CLASS_FRAG, ATTACK_PPS) - 30000) < 0.5);
	assert_int_equal(seen.n, 0);
	attack_clock(a, T0 + 2000);
	attack_clock(a, T0 + 3000);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.ph[0], ATTACK_START);
	assert_int_equal(seen.ev[0].dir, ATTACK_IN);
	assert_int_equal(seen.ev[0].cls, ATTACK_CLASS_FRAG);
	attack_destroy(a);
}

/* The host pool and the event table are bounded; overflow is counted. */
static void test_bounds(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	attack_config_defaults(&c);
	c.max_hosts = 4;
	c.max_events = 1;
	c.window_s = 1;
	c.start_windows = 1;
	c.end_windows = 1;
	struct attack *a = make(&c, &seen);
	const char *ips[] = {"10.0.0.1",    "2001:db8::1", "10.0.0.2",
	                     "2001:db8::2", "10.0.0.3",    "2001:db8::3"};
	for (int k = 0; k < 6; k++) {
		struct flow f = rec("192.0.2.1", ips[k], 1, 0, 50000, 50000 * 64, 0, T0);
		feed(a, &f, true, false);
	}
	struct attack_stats st;
	attack_stats_get(a, &st);
	assert_int_equal(st.hosts, 4);
	assert_int_equal(st.host_overflow, 2);
	assert_int_equal(st.records, 4);
	attack_clock(a, T0 + 1000);
	attack_stats_get(a, &st);
	assert_int_equal(st.events_started, 1);
	assert_int_equal(st.events_open, 1);
	assert_int_equal(st.event_overflow, 3);
	/* Idle: the three without events are freed; the pool takes new hosts again. */
	attack_clock(a, T0 + 3000);
	attack_stats_get(a, &st);
	assert_int_equal(st.events_open, 0);
	attack_clock(a, T0 + 6000);
	attack_stats_get(a, &st);
	assert_int_equal(st.hosts, 0);
	for (int k = 4; k < 6; k++) {
		struct flow f = rec("192.0.2.1", ips[k], 1, 0, 5, 5 * 64, 0, T0 + 6000);
		feed(a, &f, true, false);
	}
	attack_stats_get(a, &st);
	assert_int_equal(st.hosts, 2);
	assert_int_equal(st.host_overflow, 2);
	/* Many IPv6 hosts in and out of the hash: lookups stay right after deletions. */
	attack_destroy(a);
	c.max_hosts = 256;
	a = make(&c, &seen);
	uint64_t t = T0;
	for (int round = 0; round < 20; round++) {
		for (int k = 0; k < 50; k++) {
			char ip[64];
			snprintf(ip, sizeof(ip), "2001:db8::%x", (round * 37 + k * 11) % 300 + 1);
			struct flow f = rec("192.0.2.1", ip, 17, 0, 1, 100, 0, t);
			feed(a, &f, true, false);
		}
		attack_stats_get(a, &st);
		assert_true(st.hosts <= 256);
		t += 1000 * (uint64_t)(1 + round % 3);
		attack_clock(a, t);
	}
	attack_stats_get(a, &st);
	assert_int_equal(st.host_overflow, 0);
	/* After all the deletions a lookup still finds its own entry. */
	for (int k = 0; k < 10; k++) {
		struct flow f = rec("192.0.2.1", "2001:db8::abc", 17, 0, 7, 700, 0, t);
		feed(a, &f, true, false);
	}
	attack_clock(a, t + 1000);
	assert_true(
	    fabs(rate_of(a, "2001:db8::abc", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) - 70) < 1e-3);
	attack_destroy(a);
}

static void test_create_errors(void **state)
{
	(void)state;
	struct attack_config c;
	struct attack *a = NULL;
	make_site();
	attack_config_defaults(&c);
	c.window_s = 0;
	assert_int_equal(attack_create(&c, sites, 1, NULL, NULL, &a), -EINVAL);
	attack_config_defaults(&c);
	c.max_hosts = 0;
	assert_int_equal(attack_create(&c, sites, 1, NULL, NULL, &a), -EINVAL);
	attack_config_defaults(&c);
	/* Every allocation failing in turn: -ENOMEM and nothing leaked (ASan), then success. */
	unsigned long k;
	for (k = 0; k < 20; k++) {
		fault_arm(k, FAULT_ONCE);
		int rc = attack_create(&c, sites, 1, NULL, NULL, &a);
		fault_disarm();
		if (rc == 0) {
			attack_destroy(a);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
	}
	assert_true(k > 3 && k < 20);
}

/*
 * Every allocation of src/attack goes through the fault hook: each one
 * failing in turn (once, then from there on) gives -ENOMEM with nothing
 * made (ASan: nothing leaked), for attack_create() with two sites of dense
 * prefixes and overrides with groups, for attack_hook_start() and for
 * attack_hook_submit(); with the hook disarmed the same calls succeed.
 */
static void test_alloc_failures(void **state)
{
	(void)state;
	struct site_config two[2];
	struct site_prefix in2[3] = {pfx("10.1.0.0", 16), pfx("10.2.0.0", 24),
	                             pfx("2001:db8:1::", 48)};
	make_site();
	two[0] = sites[0];
	two[1] = sites[0];
	snprintf(two[1].name, sizeof(two[1].name), "lab");
	two[1].inside = in2;
	two[1].n_inside = 3;
	struct attack_config c;
	attack_config_defaults(&c);
	c.max_hosts = 1000;
	struct attack_site ov;
	struct attack_group grp[2];
	memset(&ov, 0, sizeof(ov));
	memset(&ov.th, 0xff, sizeof(ov.th));
	memset(grp, 0xff, sizeof(grp));
	snprintf(ov.site, sizeof(ov.site), "lab");
	grp[0].prefix = pfx("10.1.7.0", 24);
	grp[1].prefix = pfx("10.2.0.0", 25);
	ov.groups = grp;
	ov.n_groups = 2;
	c.sites = &ov;
	c.n_sites = 1;

	/* How many allocations a successful create makes. */
	struct attack *a = NULL;
	fault_arm(ULONG_MAX - 1, FAULT_ONCE);
	assert_int_equal(attack_create(&c, two, 2, NULL, NULL, &a), 0);
	unsigned long n = fault_count();
	fault_disarm();
	attack_destroy(a);
	/* The struct, its 8 tables, the sites' index, the thresholds, 3 dense arrays. */
	assert_int_equal(n, 14);
	for (int sticky = 0; sticky < 2; sticky++)
		for (unsigned long k = 0; k < n; k++) {
			a = (struct attack *)&a; /* not NULL: a failure must not write *out */
			struct attack *before = a;
			fault_arm(k, sticky ? FAULT_STICKY : FAULT_ONCE);
			int rc = attack_create(&c, two, 2, NULL, NULL, &a);
			unsigned long seen = fault_count();
			fault_disarm();
			assert_int_equal(rc, -ENOMEM);
			assert_ptr_equal(a, before);
			assert_true(seen > k); /* allocation k + 1 was the one that failed */
		}
	fault_arm(n, FAULT_ONCE); /* one past the last: nothing fails */
	assert_int_equal(attack_create(&c, two, 2, NULL, NULL, &a), 0);
	fault_disarm();
	/* The record path allocates nothing: the pool is made up front. */
	fault_arm(0, FAULT_STICKY);
	attack_clock(a, T0);
	struct flow f = rec("192.0.2.1", "10.1.7.7", 17, 0, 10, 1000, 0, T0);
	int64_t ss = -1, sd = 1;
	attack_records_ahead(a, &f, 1, &ss, &sd);
	attack_records(a, &f, 1, &ss, &sd);
	attack_clock(a, T0 + 20000);
	assert_int_equal(fault_count(), 0);
	fault_disarm();
	struct attack_stats st;
	attack_stats_get(a, &st);
	assert_int_equal(st.records, 1);
	attack_destroy(a);

	/* The hook: its struct (the command is in it); then a document's copy. */
	struct attack_hook *h = NULL;
	for (unsigned long k = 0; k < 1; k++) {
		fault_arm(k, FAULT_ONCE);
		assert_int_equal(attack_hook_start("cat >/dev/null", 1000, &h), -ENOMEM);
		assert_int_equal(fault_count(), k + 1);
		fault_disarm();
		assert_null(h);
	}
	assert_int_equal(attack_hook_start("cat >/dev/null", 1000, &h), 0);
	assert_non_null(h);
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(attack_hook_submit(h, "{}", 2), -ENOMEM);
	fault_disarm();
	assert_int_equal(attack_hook_submit(h, "{}", 2), 0);
	attack_hook_drain(h);
	struct attack_stats hs = {0};
	attack_hook_stats_get(h, &hs);
	assert_int_equal(hs.hook_runs, 1);
	assert_int_equal(hs.hook_failures, 0);
	attack_hook_stop(h);
}

/* The engine hands its matches to the tap: the attack detector sees both ends. */
static void on_close(void *ud, struct slot *s, uint32_t site)
{
	(void)ud;
	(void)site;
	slot_destroy(s);
}

static void test_engine_tap(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};
	struct engine *e;
	char err[128];
	attack_config_defaults(&c);
	struct attack *a = make(&c, &seen);
	assert_int_equal(engine_create(sites, 1, 10000, on_close, NULL, &e, err, sizeof(err)), 0);
	engine_record_tap_set(e, attack_records, attack_records_ahead, a);
	engine_clock(e, T0);
	struct flow v[3] = {
	    rec("192.0.2.1", "10.0.5.5", 17, 0, 10, 1000, 0, T0),
	    rec("10.0.5.6", "192.0.2.1", 17, 0, 20, 2000, 0, T0),
	    rec("192.0.2.1", "192.0.2.2", 17, 0, 30, 3000, 0, T0),
	};
	engine_flows(e, v, 3);
	attack_clock(a, T0 + 1000);
	assert_true(fabs(rate_of(a, "10.0.5.5", ATTACK_IN, ATTACK_CLASS_UDP, ATTACK_PPS) - 2) <
	            1e-4);
	assert_true(fabs(rate_of(a, "10.0.5.6", ATTACK_OUT, ATTACK_CLASS_UDP, ATTACK_PPS) - 4) <
	            1e-4);
	struct attack_stats st;
	attack_stats_get(a, &st);
	assert_int_equal(st.records, 2);
	engine_destroy(e);
	attack_destroy(a);
}

/* A hook test's scratch directory and out, the file its hook commands write. */
struct hook_fx {
	char dir[64];
	char out[128];
};

/* Make the directory /tmp/test_attack_<name>XXXXXX; hook_fx_close() removes it. */
static void hook_fx_open(struct hook_fx *fx, const char *name)
{
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_attack_%sXXXXXX", name);
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->out, sizeof(fx->out), "%s/out", fx->dir);
}

static void hook_fx_close(struct hook_fx *fx)
{
	unlink(fx->out);
	rmdir(fx->dir);
}

/*
 * The lines of file path, concatenated ("" when it does not exist), and
 * their length.
 */
static size_t read_text(const char *path, char *buf, size_t cap)
{
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

/*
 * Submit "{}" to h, wait until the hook thread has dealt with it, and read
 * h's counters into st (unless st is NULL).
 */
static void hook_run(struct attack_hook *h, struct attack_stats *st)
{
	assert_int_equal(attack_hook_submit(h, "{}", 2), 0);
	attack_hook_drain(h);
	if (st)
		attack_hook_stats_get(h, st);
}

/* The hook: a good run, a failing one, one past its time-out; none blocks the caller. */
static void test_hook(void **state)
{
	(void)state;
	struct hook_fx fx;
	hook_fx_open(&fx, "hook");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "in=$(cat); printf '%%s\\n' \"$in\" >> %s; case $in in *fail*) exit 3;; esac",
	         fx.out);
	struct attack_hook *h;
	assert_int_equal(attack_hook_start(cmd, 2000, &h), 0);
	assert_int_equal(attack_hook_submit(h, "{\"a\":1}", 7), 0);
	assert_int_equal(attack_hook_submit(h, "{\"b\":\"fail\"}", 12), 0); /* exits 3 */
	attack_hook_drain(h);
	struct attack_stats st = {0};
	attack_hook_stats_get(h, &st);
	assert_int_equal(st.hook_runs, 2);
	assert_int_equal(st.hook_failures, 1);
	assert_int_equal(st.hook_timeouts, 0);
	char buf[64];
	size_t n = read_text(fx.out, buf, sizeof(buf));
	assert_int_equal(n, 21);
	assert_string_equal(buf, "{\"a\":1}\n{\"b\":\"fail\"}\n");
	attack_hook_stop(h);

	/* Time-out: the hook and what it started are killed; submit never waits. */
	assert_int_equal(attack_hook_start("sleep 30; echo late", 20, &h), 0);
	uint64_t t0 = clock_ms(CLOCK_MONOTONIC);
	for (int k = 0; k < ATTACK_HOOK_QUEUE + 3; k++) {
		int rc = attack_hook_submit(h, "{}", 2);
		assert_true(rc == 0 || rc == -ENOSPC);
	}
	assert_true(clock_ms(CLOCK_MONOTONIC) - t0 < 100);
	attack_hook_stats_get(h, &st);
	assert_true(st.hook_dropped >= 2);
	attack_hook_stop(h); /* runs what is queued: each killed at 20 ms */
	/* A missing program is a failure, logged and counted. */
	assert_int_equal(attack_hook_start("/nonexistent/hook", 1000, &h), 0);
	hook_run(h, &st);
	assert_int_equal(st.hook_runs, 1);
	assert_int_equal(st.hook_failures, 1);
	attack_hook_stop(h);
	/* No command: the thread waits; nothing runs or is counted. */
	assert_int_equal(attack_hook_start("", 1000, &h), 0);
	assert_non_null(h);
	memset(&st, 0, sizeof(st));
	hook_run(h, &st);
	assert_int_equal(st.hook_runs + st.hook_failures + st.hook_dropped, 0);
	attack_hook_stop(h);
	assert_int_equal(attack_hook_submit(NULL, "{}", 2), 0);
	hook_fx_close(&fx);
}

/*
 * attack_hook_set: the next run takes the new command and time-out; a run
 * in progress ends with its own; "" stops the runs; a hook set on a thread
 * started without one runs.
 */
static void test_hook_set(void **state)
{
	(void)state;
	struct hook_fx fx;
	hook_fx_open(&fx, "hookset");
	char a[1100], b[1100], buf[256];
	/* a is slow enough that the set below lands while it runs. */
	snprintf(a, sizeof(a), "cat >/dev/null; sleep 0.3; echo a >> %s", fx.out);
	snprintf(b, sizeof(b), "cat >/dev/null; echo b >> %s", fx.out);
	struct attack_stats st = {0};

	/* Started without a command, given one later. */
	struct attack_hook *h;
	assert_int_equal(attack_hook_start(NULL, 0, &h), 0);
	assert_non_null(h);
	hook_run(h, NULL);
	read_text(fx.out, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_int_equal(attack_hook_set(h, a, 5000), 0);
	assert_int_equal(attack_hook_submit(h, "{}", 2), 0);
	/* The run of a has begun (its sleep is long); b is for the next run. */
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	assert_int_equal(attack_hook_set(h, b, 5000), 0);
	assert_int_equal(attack_hook_submit(h, "{}", 2), 0);
	attack_hook_drain(h);
	read_text(fx.out, buf, sizeof(buf));
	assert_string_equal(buf, "a\nb\n");
	attack_hook_stats_get(h, &st);
	assert_int_equal(st.hook_runs, 2);
	assert_int_equal(st.hook_failures, 0);

	/* The new time-out applies: 20 ms kills a. */
	assert_int_equal(attack_hook_set(h, a, 20), 0);
	hook_run(h, &st);
	assert_int_equal(st.hook_runs, 3);
	assert_int_equal(st.hook_timeouts, 1);

	/* "" disables: submit does nothing (not even a copy), counts nothing. */
	assert_int_equal(attack_hook_set(h, "", 0), 0);
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(attack_hook_submit(h, "{}", 2), 0);
	assert_int_equal(fault_count(), 0);
	fault_disarm();
	attack_hook_drain(h);
	attack_hook_stats_get(h, &st);
	assert_int_equal(st.hook_runs, 3);
	assert_int_equal(st.hook_dropped, 0);
	read_text(fx.out, buf, sizeof(buf));
	assert_string_equal(buf, "a\nb\n");

	/* Too long: refused, the command in force kept. */
	char *big = malloc(ATTACK_HOOK_MAX + 1);
	assert_non_null(big);
	memset(big, 'x', ATTACK_HOOK_MAX);
	big[ATTACK_HOOK_MAX] = '\0';
	assert_int_equal(attack_hook_set(h, b, 5000), 0);
	assert_int_equal(attack_hook_set(h, big, 5000), -EINVAL);
	free(big);
	hook_run(h, NULL);
	read_text(fx.out, buf, sizeof(buf));
	assert_string_equal(buf, "a\nb\nb\n");
	attack_hook_stop(h);
	hook_fx_close(&fx);
}

static void test_hook_timeout(void **state)
{
	(void)state;
	struct attack_hook *h;
	assert_int_equal(attack_hook_start("sleep 30", 150, &h), 0);
	uint64_t t0 = clock_ms(CLOCK_MONOTONIC);
	assert_int_equal(attack_hook_submit(h, "{}", 2), 0);
	assert_int_equal(attack_hook_submit(h, "{}", 2), 0);
	attack_hook_drain(h);
	uint64_t dt = clock_ms(CLOCK_MONOTONIC) - t0;
	struct attack_stats st = {0};
	attack_hook_stats_get(h, &st);
	assert_int_equal(st.hook_runs, 2);
	assert_int_equal(st.hook_failures, 2);
	assert_int_equal(st.hook_timeouts, 2);
	assert_true(dt >= 300 && dt < 5000);
	attack_hook_stop(h);
}

/* ---- restart state ---------------------------------------------------------- */

static char state_path[64];

/* A UDP flood of 80 000 pps into 10.0.3.3 from second t for n seconds (window 2). */
static uint64_t flood_secs(struct attack *a, uint64_t t, int n)
{
	for (int k = 0; k < n; k++) {
		for (int j = 0; j < 4; j++) {
			char src[32];
			snprintf(src, sizeof(src), "198.51.100.%d", j + 1);
			struct flow f = rec(src, "10.0.3.3", 17, 0, 20000, 20000 * 500, 0, t);
			f.dport = 123;
			feed(a, &f, true, false);
		}
		t += 1000;
		attack_clock(a, t);
	}
	return t;
}

static uint64_t quiet_secs(struct attack *a, uint64_t t, int n)
{
	for (int k = 0; k < n; k++) {
		t += 1000;
		attack_clock(a, t);
	}
	return t;
}

static void state_config(struct attack_config *c)
{
	attack_config_defaults(c);
	c->window_s = 2;
	c->start_windows = 1;
	c->end_windows = 3;
	c->update_s = 3600;
	memset(c->th.v, 0, sizeof(c->th.v));
	c->th.v[ATTACK_IN][ATTACK_CLASS_UDP][ATTACK_PPS] = 50000;
}

static int count_phase(const struct seen *s, enum attack_phase p)
{
	int n = 0;
	for (int k = 0; k < s->n; k++)
		n += s->ph[k] == p;
	return n;
}

/* Run one: a flood opens an event; saved at the stop and forgotten, no end callback. */
static uint64_t state_first_run(struct attack_event *start)
{
	struct attack_config c;
	struct seen seen = {0};
	state_config(&c);
	struct attack *a = make(&c, &seen);
	uint64_t t = flood_secs(a, T0, 4);
	assert_int_equal(count_phase(&seen, ATTACK_START), 1);
	*start = seen.ev[0];
	size_t n = 0;
	assert_int_equal(attack_state_save(a, state_path, t, &n), 0);
	assert_int_equal(n, 1);
	attack_events_drop(a);
	attack_close_all(a);
	assert_int_equal(seen.n, 1); /* no end: it goes on in the next run */
	struct attack_stats st;
	attack_stats_get(a, &st);
	assert_int_equal(st.events_open, 0);
	attack_destroy(a);
	return t;
}

/*
 * An attack going on across a restart keeps its event: same start, the
 * seq and counts go on, no second start; it ends once the flood stops.
 */
static void test_state_resume(void **state)
{
	(void)state;
	struct attack_event st0;
	snprintf(state_path, sizeof(state_path), "/tmp/nfsentry-atkstate-%d", (int)getpid());
	uint64_t t = state_first_run(&st0);

	struct attack_config c;
	struct seen seen = {0};
	state_config(&c);
	struct attack *a = NULL;
	make_site();
	assert_int_equal(attack_create(&c, sites, 1, on_event, &seen, &a), 0);
	struct attack_restore res;
	t += 3000; /* down for 3 s */
	assert_int_equal(attack_state_load(a, state_path, t, &res), 0);
	assert_int_equal(res.saved_at_ms, t - 3000);
	assert_int_equal(res.resumed, 1);
	assert_int_equal(res.ended, 0);
	assert_int_equal(res.dropped, 0);
	assert_int_equal(seen.n, 0);
	/* The flood goes on for 6 s: no new event. */
	t = flood_secs(a, t, 6);
	assert_int_equal(count_phase(&seen, ATTACK_START), 0);
	t = quiet_secs(a, t, 6);
	assert_int_equal(count_phase(&seen, ATTACK_END), 1);
	const struct attack_event *e = &seen.ev[seen.n - 1];
	assert_int_equal(e->start_ms, st0.start_ms);
	assert_int_equal(e->detected_ms, st0.detected_ms);
	assert_int_equal(e->dir, ATTACK_IN);
	assert_int_equal(e->cls, ATTACK_CLASS_UDP);
	assert_int_equal(e->seq, 1); /* the start was 0 in the first run */
	/* Ends like any other: after the last flood second, three quiet windows. */
	assert_true(e->end_ms > t - 6000 && e->end_ms <= t);
	assert_true(fabs(e->peak[ATTACK_PPS] - 80000) < 1);
	assert_true(e->packets > st0.packets);
	assert_int_equal(e->n_ports, 1);
	assert_int_equal(e->ports[0].key, 123);
	assert_int_equal(e->n_sources, 4);
	struct attack_stats stt;
	attack_stats_get(a, &stt);
	assert_int_equal(stt.events_restored, 1);
	assert_int_equal(stt.events_started, 0);
	assert_int_equal(stt.events_ended, 1);
	assert_int_equal(stt.events_open, 0);
	attack_destroy(a);
	unlink(state_path);
}

/*
 * An attack that stopped while the collector was down: taken back, never
 * above again, it ends with the time the first run last saw it; a restart
 * longer than ATTACK_RESUME_MAX_S ends it at load.
 */
static void test_state_ended_while_down(void **state)
{
	(void)state;
	struct attack_event st0;
	snprintf(state_path, sizeof(state_path), "/tmp/nfsentry-atkstate-%d", (int)getpid());
	for (int late = 0; late < 2; late++) {
		uint64_t saved = state_first_run(&st0);
		struct attack_config c;
		struct seen seen = {0};
		state_config(&c);
		struct attack *a = NULL;
		make_site();
		assert_int_equal(attack_create(&c, sites, 1, on_event, &seen, &a), 0);
		struct attack_restore res;
		uint64_t t = saved + (late ? (ATTACK_RESUME_MAX_S + 1) * 1000ull : 2000);
		assert_int_equal(attack_state_load(a, state_path, t, &res), 0);
		assert_int_equal(res.resumed, late ? 0 : 1);
		assert_int_equal(res.ended, late ? 1 : 0);
		if (late) {
			assert_int_equal(seen.n, 1);
		} else {
			assert_int_equal(seen.n, 0);
			/*
			 * Its window refills (no count at the first two evaluations),
			 * then three quiet windows: the end at the fifth.
			 */
			quiet_secs(a, t, 4);
			assert_int_equal(seen.n, 0);
			quiet_secs(a, t + 4000, 1);
		}
		assert_int_equal(seen.n, 1);
		assert_int_equal(seen.ph[0], ATTACK_END);
		assert_int_equal(seen.ev[0].start_ms, st0.start_ms);
		/* Still above when the first run stopped: it ended then, as far as anyone saw. */
		assert_int_equal(seen.ev[0].end_ms, saved);
		struct attack_stats st;
		attack_stats_get(a, &st);
		assert_int_equal(st.events_open, 0);
		assert_int_equal(st.events_ended, 1);
		attack_destroy(a);
	}
	unlink(state_path);
}

/* Files that are no restart state of this build are refused, counted, nothing taken. */
static void test_state_refused(void **state)
{
	(void)state;
	struct attack_event st0;
	snprintf(state_path, sizeof(state_path), "/tmp/nfsentry-atkstate-%d", (int)getpid());
	uint64_t saved = state_first_run(&st0);
	FILE *f = fopen(state_path, "rb");
	assert_non_null(f);
	static uint8_t good[8192];
	size_t len = fread(good, 1, sizeof(good), f);
	fclose(f);
	assert_true(len > 100 && len < sizeof(good));

	struct {
		size_t off, cut; /* flip byte off (when < len), or keep cut bytes */
		int want;
	} bad[] = {
	    {30, len, -EBADMSG},           /* a byte of the event: checksum */
	    {len - 1, len, -EBADMSG},      /* the checksum itself */
	    {0, len, -EBADMSG},            /* magic */
	    {11, len, -EPROTONOSUPPORT},   /* version */
	    {SIZE_MAX, len - 1, -EBADMSG}, /* truncated */
	    {SIZE_MAX, 10, -EBADMSG},
	    {SIZE_MAX, 0, -EBADMSG},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static uint8_t b[8192];
		memcpy(b, good, len);
		if (bad[i].off < len)
			b[bad[i].off] ^= 0x01;
		f = fopen(state_path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, bad[i].cut, f), bad[i].cut);
		fclose(f);
		struct attack_config c;
		struct seen seen = {0};
		state_config(&c);
		struct attack *a = NULL;
		make_site();
		assert_int_equal(attack_create(&c, sites, 1, on_event, &seen, &a), 0);
		struct attack_restore res;
		assert_int_equal(attack_state_load(a, state_path, saved + 1000, &res), bad[i].want);
		struct attack_stats st;
		attack_stats_get(a, &st);
		assert_int_equal(st.state_rejected, 1);
		assert_int_equal(st.events_open, 0);
		assert_int_equal(st.events_restored, 0);
		assert_int_equal(seen.n, 0);
		attack_destroy(a);
	}
	/* No file: -ENOENT, not a refusal. A site that is gone: dropped. */
	struct attack_config c;
	struct seen seen = {0};
	state_config(&c);
	struct attack *a = NULL;
	make_site();
	f = fopen(state_path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(good, 1, len, f), len);
	fclose(f);
	snprintf(sites[0].name, sizeof(sites[0].name), "elsewhere");
	assert_int_equal(attack_create(&c, sites, 1, on_event, &seen, &a), 0);
	struct attack_restore res;
	assert_int_equal(attack_state_load(a, state_path, saved + 1000, &res), 0);
	assert_int_equal(res.dropped, 1);
	assert_int_equal(res.resumed, 0);
	unlink(state_path);
	assert_int_equal(attack_state_load(a, state_path, saved + 1000, &res), -ENOENT);
	struct attack_stats st;
	attack_stats_get(a, &st);
	assert_int_equal(st.state_rejected, 0);
	assert_int_equal(st.events_open, 0);
	attack_destroy(a);

	/* Out of memory while saving: an error, no file, nothing temporary left. */
	state_config(&c);
	a = make(&c, &seen);
	flood_secs(a, T0, 3);
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(attack_state_save(a, state_path, T0 + 3000, NULL), -ENOMEM);
	fault_disarm();
	assert_int_equal(access(state_path, F_OK), -1);
	char tmp[80];
	snprintf(tmp, sizeof(tmp), "%s.tmp", state_path);
	assert_int_equal(access(tmp, F_OK), -1);
	attack_destroy(a);
}

/*
 * The per-epoch sweep reads only the hosts whose idle second has come, and
 * frees each idle host at the same sweep as a sweep over every host would:
 * a short record's host at the first sweep of the second epoch after its
 * own, a sustained one's at the first sweep after it ends, a host credited
 * every epoch two epochs after its last. Cold hosts (the default
 * thresholds) and hot ones (make()'s 1 pps) alike.
 */
static void test_sweep_idle(void **state)
{
	(void)state;
	for (int hot = 0; hot < 2; hot++) {
		struct attack_config c;
		struct seen seen = {0};
		attack_config_defaults(&c);
		if (!hot)
			c.th.v[ATTACK_IN][ATTACK_CLASS_OTHER][ATTACK_PPS] = 50001;
		struct attack *a = make(&c, &seen);
		/* Window 5 s: epochs of 10 s; T0 starts one; sweeps at T0 + 1, + 11, + 21 s ... */
		struct flow f = rec("192.0.2.1", "10.0.2.1", 17, 0, 10, 1000, 0, T0);
		feed(a, &f, true, false);
		f = rec("192.0.2.1", "10.0.2.2", 17, 0, 60000, 60000 * 100, 59999, T0); /* 60 s */
		feed(a, &f, true, false);
		for (int k = 0; k < 1000; k++) {
			char ip[32];
			snprintf(ip, sizeof(ip), "10.0.%d.%d", 10 + k / 250, 1 + k % 250);
			f = rec("192.0.2.1", ip, 17, 0, 10, 1000, 0, T0);
			feed(a, &f, true, false);
		}
		struct attack_stats st;
		for (uint64_t sec = 0; sec <= 70; sec++) {
			if (sec > 0)
				attack_clock(a, T0 + sec * 1000);
			/* 10.0.2.3: a record in each epoch up to T0's + 3. */
			if (sec % 10 == 0 && sec <= 30) {
				f = rec("192.0.2.1", "10.0.2.3", 17, 0, 10, 1000, 0,
				        T0 + sec * 1000);
				feed(a, &f, true, false);
			}
			attack_stats_get(a, &st);
			uint64_t want = sec <= 20 ? 1003 : sec <= 50 ? 2 : sec <= 60 ? 1 : 0;
			if (st.hosts != want)
				fail_msg("hot %d, second %llu: %llu hosts, want %llu", hot,
				         (unsigned long long)sec, (unsigned long long)st.hosts,
				         (unsigned long long)want);
			if (sec == 45) /* skipped by four sweeps: its rate is still whole */
				assert_true(fabs(rate_of(a, "10.0.2.2", ATTACK_IN, ATTACK_CLASS_UDP,
				                         ATTACK_PPS) -
				                 1000) < 0.01);
		}
		/* The pool takes the freed entries again: the same 1 000 hosts fit a new round. */
		for (int k = 0; k < 1000; k++) {
			char ip[32];
			snprintf(ip, sizeof(ip), "10.0.%d.%d", 10 + k / 250, 1 + k % 250);
			f = rec("192.0.2.1", ip, 17, 0, 10, 1000, 0, T0 + 70000);
			feed(a, &f, true, false);
		}
		attack_stats_get(a, &st);
		assert_int_equal(st.hosts, 1000);
		assert_int_equal(st.host_overflow, 0);
		assert_int_equal(seen.n, 0);
		attack_destroy(a);
	}
}

/* Every callback of one detector, in order: the event and its phase. */
struct evlog {
	size_t n;
	struct attack_event ev[2048];
	enum attack_phase ph[2048];
};

static void on_evlog(void *ud, const struct attack_event *e, enum attack_phase p)
{
	struct evlog *l = ud;
	assert_true(l->n < 2048);
	l->ev[l->n] = *e;
	l->ph[l->n] = p;
	l->n++;
}

/*
 * Two logs of the same events: phases, hosts, directions, classes, times,
 * rates, counts and top sources and ports, event by event.
 */
static void expect_same_events(const struct evlog *la, const struct evlog *lb)
{
	assert_int_equal(la->n, lb->n);
	for (size_t i = 0; i < la->n; i++) {
		const struct attack_event *x = &la->ev[i], *y = &lb->ev[i];
		assert_int_equal(la->ph[i], lb->ph[i]);
		assert_memory_equal(&x->ip, &y->ip, sizeof(x->ip));
		assert_int_equal(x->dir, y->dir);
		assert_int_equal(x->cls, y->cls);
		assert_int_equal(x->start_ms, y->start_ms);
		assert_int_equal(x->end_ms, y->end_ms);
		assert_int_equal(x->now_ms, y->now_ms);
		assert_memory_equal(x->cur, y->cur, sizeof(x->cur));
		assert_memory_equal(x->peak, y->peak, sizeof(x->peak));
		assert_int_equal(x->packets, y->packets);
		assert_int_equal(x->octets, y->octets);
		assert_int_equal(x->n_sources, y->n_sources);
		assert_int_equal(x->n_ports, y->n_ports);
		for (size_t j = 0; j < x->n_sources; j++) {
			assert_memory_equal(&x->sources[j].addr, &y->sources[j].addr,
			                    sizeof(x->sources[j].addr));
			assert_int_equal(x->sources[j].packets, y->sources[j].packets);
		}
		for (size_t j = 0; j < x->n_ports; j++) {
			assert_int_equal(x->ports[j].key, y->ports[j].key);
			assert_int_equal(x->ports[j].packets, y->ports[j].packets);
		}
	}
}

/* A mixed record k at ms: classes, fragments, spans, dense and hash ends, in and out. */
static struct flow mixed(uint64_t k, uint64_t ms, int64_t *ss, int64_t *sd)
{
	static const uint8_t protos[] = {6, 6, 17, 1, 58, 47, 17};
	static const uint64_t spans[] = {0, 500, 3000, 61000, 1800000, 1000};
	char in[64], out[64];
	uint64_t h = k * 0x9e3779b97f4a7c15ull;

	if (k % 5 == 4)
		snprintf(in, sizeof(in), "2001:db8::%x", (unsigned)(h >> 50) % 40 + 1);
	else
		snprintf(in, sizeof(in), "10.0.%u.%u", (unsigned)(h >> 40) % 3,
		         (unsigned)(h >> 48) % 50);
	snprintf(out, sizeof(out), "198.51.100.%u", (unsigned)(h >> 32) % 250);
	/* A SYN flood at 10.0.9.9 from second 5 to 20: an event that starts and ends. */
	bool flood = ms >= T0 + 5000 && ms < T0 + 20000 && k % 3 == 0;
	if (flood)
		snprintf(in, sizeof(in), "10.0.9.9");
	uint8_t proto = flood ? 6 : protos[k % 7];
	struct flow f =
	    rec(out, in, proto, flood ? 0x02 : (uint8_t)(h >> 24), flood ? 2000 : k % 900 + 1,
	        (k % 900 + 1) * 700, flood ? 0 : spans[k % 6], ms);
	f.dport = (uint16_t)(h >> 20);
	f.frag = (uint8_t)(k % 11 == 0 ? FLOW_FRAG_MORE : k % 13 == 0 ? FLOW_FRAG_OFFSET : 0);
	if (k % 4 == 1 && !flood) { /* outbound: the inside end is the source */
		struct flow_addr t = f.src;
		f.src = f.dst;
		f.dst = t;
		*ss = 0;
		*sd = -1;
	} else if (k % 17 == 0 && !flood) { /* both ends inside */
		flow_addr_parse("10.0.1.200", &f.src);
		*ss = 0;
		*sd = 0;
	} else {
		*ss = -1;
		*sd = 0;
	}
	if (k % 23 == 0) /* outside every site: the ring skips it */
		*ss = *sd = -1;
	return f;
}

/*
 * The ring round trip: the same records and clock steps given to one
 * detector directly (attack_records(), attack_clock()) and to another
 * through the ring to attack_entries() make the same events in the same
 * order, the same counts and the same rates of every host.
 */
static void test_ring_entries(void **state)
{
	(void)state;
	struct attack_config c;
	struct evlog *la = calloc(1, sizeof(*la)), *lb = calloc(1, sizeof(*lb));
	struct attack *a = NULL, *b = NULL;
	struct attack_ring *r = NULL;

	assert_non_null(la);
	assert_non_null(lb);
	make_site();
	attack_config_defaults(&c);
	/* Low enough that a few hosts turn hot (ring) while most stay cold (bound only). */
	c.th.v[ATTACK_IN][ATTACK_CLASS_OTHER][ATTACK_PPS] = 30;
	c.th.v[ATTACK_OUT][ATTACK_CLASS_UDP][ATTACK_PPS] = 200;
	assert_int_equal(attack_create(&c, sites, 1, on_evlog, la, &a), 0);
	assert_int_equal(attack_create(&c, sites, 1, on_evlog, lb, &b), 0);
	struct attack_ring_opts o = {.entries = ATTACK_RING_ENTRIES_MIN,
	                             .wait_when_full = true,
	                             .on_entries = attack_entries,
	                             .ud = b};
	assert_int_equal(attack_ring_start(&o, &r), 0);
	uint64_t k = 0;
	for (uint64_t ms = T0; ms < T0 + 40000; ms += 250) {
		attack_clock(a, ms);
		attack_ring_clock(r, ms);
		for (size_t chunk = 0; chunk < 3; chunk++) {
			struct flow v[64];
			int64_t ss[64], sd[64];
			size_t n = (size_t)(k % 64) + 1;
			for (size_t i = 0; i < n; i++, k++)
				v[i] = mixed(k, ms, &ss[i], &sd[i]);
			attack_records(a, v, n, ss, sd);
			attack_ring_records(r, v, n, ss, sd);
		}
	}
	attack_clock(a, T0 + 60000);
	attack_ring_clock(r, T0 + 60000);
	attack_ring_drain(r);
	struct attack_stats sa, sb;
	attack_stats_get(a, &sa);
	attack_stats_get(b, &sb);
	assert_true(sa.records > 10000);
	assert_int_equal(sa.records, sb.records);
	assert_int_equal(sa.hosts, sb.hosts);
	assert_true(sa.events_started >= 2); /* the flood, and more */
	assert_int_equal(sa.events_started, sb.events_started);
	assert_int_equal(sa.events_ended, sb.events_ended);
	expect_same_events(la, lb);
	/* Every host's window, hot or cold, at the last second (the flood's victim first). */
	for (uint64_t j = 0; j <= k; j++) {
		int64_t ss, sd;
		struct flow f = mixed(j, j ? T0 : T0 + 6000, &ss, &sd);
		double ra[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][ATTACK_METRIC__COUNT];
		double rb[ATTACK_DIR__COUNT][ATTACK_CLASS__COUNT][ATTACK_METRIC__COUNT];
		const struct flow_addr *ip = sd >= 0 ? &f.dst : &f.src;
		int ea = attack_host_rates(a, 0, ip, ra), eb = attack_host_rates(b, 0, ip, rb);
		assert_int_equal(ea, eb);
		if (ea == 0)
			assert_memory_equal(ra, rb, sizeof(ra));
	}
	attack_ring_stop(r);
	attack_destroy(a);
	attack_destroy(b);
	free(la);
	free(lb);
}

/* A ring entry: a SYN record of packets from src into 10.0.9.9 (site 0), standing for 2^shed. */
static struct attack_ring_ent syn_ent(const char *src, uint64_t packets, unsigned shed)
{
	struct attack_ring_ent e;

	memset(&e, 0, sizeof(e));
	flow_addr_parse(src, &e.src);
	flow_addr_parse("10.0.9.9", &e.dst);
	e.packets = packets;
	e.octets = packets * 60;
	e.dport = 80;
	e.proto = 6;
	e.tcp_flags = 0x02;
	e.shed = (uint8_t)shed;
	e.site_src = -1;
	e.site_dst = 0;
	return e;
}

/*
 * The ring's live sampling: an entry standing for 2^shed records weighs as
 * that many copies of it. A SYN flood (8 sources, 40 000 pps for 12 s)
 * given to one detector as 4 copies of every record and to another as one
 * entry of shed 2 makes the same events with the same rates, counts and
 * top sources; the sampled one says it was rated 1 in 4.
 */
static void test_sampled_entries(void **state)
{
	(void)state;
	struct attack_config c;
	struct evlog *la = calloc(1, sizeof(*la)), *lb = calloc(1, sizeof(*lb));
	struct attack *a = NULL, *b = NULL;

	assert_non_null(la);
	assert_non_null(lb);
	make_site();
	attack_config_defaults(&c);
	/* Every host with traffic hot at once: both keep the whole flood in their windows. */
	c.th.v[ATTACK_IN][ATTACK_CLASS_OTHER][ATTACK_PPS] = 1;
	assert_int_equal(attack_create(&c, sites, 1, on_evlog, la, &a), 0);
	assert_int_equal(attack_create(&c, sites, 1, on_evlog, lb, &b), 0);
	struct attack_ring_ent va[4 * 8 + 1], vb[8 + 1];
	for (uint64_t sec = 0; sec < 30; sec++) {
		size_t na = 0, nb = 0;
		struct attack_ring_ent clk;
		memset(&clk, 0, sizeof(clk));
		clk.site_src = clk.site_dst = -1;
		clk.packets = T0 + sec * 1000;
		va[na++] = clk;
		vb[nb++] = clk;
		for (int j = 0; sec < 12 && j < 8; j++) {
			char src[32];
			snprintf(src, sizeof(src), "198.51.100.%d", j + 1);
			/* 8 x 5 000 pps; the sampled entry stands for four records of 1 250. */
			for (int k = 0; k < 4; k++)
				va[na++] = syn_ent(src, 1250, 0);
			vb[nb++] = syn_ent(src, 1250, 2);
		}
		attack_entries(a, va, na);
		attack_entries(b, vb, nb);
	}
	struct attack_stats sa, sb;
	attack_stats_get(a, &sa);
	attack_stats_get(b, &sb);
	assert_int_equal(sa.events_started, 1);
	assert_int_equal(sa.events_ended, 1);
	assert_int_equal(sb.events_started, 1);
	assert_int_equal(sb.events_ended, 1);
	assert_int_equal(sa.records, 4 * sb.records);
	expect_same_events(la, lb);
	for (size_t i = 0; i < la->n; i++) {
		const struct attack_event *x = &la->ev[i], *y = &lb->ev[i];
		assert_int_equal(x->cls, ATTACK_CLASS_SYN);
		assert_true(x->flows == y->flows);
		/* Said once a record was counted to the event (its start has none yet). */
		assert_true(x->sampling <= 1);
		assert_int_equal(y->sampling, x->packets ? 4 : 0);
		assert_int_equal(x->n_sources, x->packets ? 8 : 0);
	}
	/* The flood's rate, as given: 40 000 pps of SYN, 32 flows/s. */
	const struct attack_event *end = &lb->ev[lb->n - 1];
	assert_int_equal(lb->ph[lb->n - 1], ATTACK_END);
	assert_true(end->peak[ATTACK_PPS] == 40000.0);
	assert_true(end->peak[ATTACK_FPS] == 32.0);
	assert_true(end->packets >= 5 * 40000 && end->packets % 40000 == 0);
	attack_destroy(a);
	attack_destroy(b);
	free(la);
	free(lb);
}

/* The restart file's FNV-1a 64 trailer over buf[0..len - 8), as state.c writes it. */
static void state_resum(uint8_t *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i + 8 < len; i++)
		h = (h ^ buf[i]) * 0x100000001b3ull;
	for (int i = 0; i < 8; i++)
		buf[len - 8 + (size_t)i] = (uint8_t)(h >> (56 - 8 * i));
}

/*
 * An event rated from a live sample keeps saying so across a restart: the
 * restart file keeps its sampling (in the u32 after seq, 0 when none, as
 * files before it), and a value no writer makes (1, not a power of two,
 * above 2^ATTACK_RING_SHED_MAX) refuses the file.
 */
static void test_state_sampling(void **state)
{
	(void)state;
	struct attack_config c;
	struct seen seen = {0};

	snprintf(state_path, sizeof(state_path), "/tmp/nfsentry-atkstate-%d", (int)getpid());
	state_config(&c);
	c.th.v[ATTACK_IN][ATTACK_CLASS_SYN][ATTACK_PPS] = 50000;
	struct attack *a = make(&c, &seen);
	uint64_t t = T0;
	for (int sec = 0; sec < 4; sec++) {
		struct attack_ring_ent v[9];
		size_t n = 0;
		for (int j = 0; j < 8; j++) {
			char src[32];
			snprintf(src, sizeof(src), "198.51.100.%d", j + 1);
			v[n++] = syn_ent(src, 1250, 3); /* 8 x 10 000 pps, rated 1 in 8 */
		}
		t += 1000;
		memset(&v[n], 0, sizeof(v[n]));
		v[n].site_src = v[n].site_dst = -1;
		v[n++].packets = t; /* the clock */
		attack_entries(a, v, n);
	}
	assert_int_equal(count_phase(&seen, ATTACK_START), 1);
	assert_int_equal(attack_state_save(a, state_path, t, NULL), 0);
	attack_events_drop(a);
	attack_close_all(a);
	attack_destroy(a);

	FILE *f = fopen(state_path, "rb");
	assert_non_null(f);
	static uint8_t good[8192], b[8192];
	size_t len = fread(good, 1, sizeof(good), f);
	fclose(f);
	const size_t off = 24 + SITE_NAME_MAX + 16 + 8 + 4; /* header, site, ip, flags, seq */
	assert_true(len > off + 4);
	assert_int_equal(good[off + 3], 8);
	static const uint32_t bad[] = {1, 3, 12, 1u << (ATTACK_RING_SHED_MAX + 1), UINT32_MAX};
	for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		bool last = i == sizeof(bad) / sizeof(bad[0]); /* the file as saved */
		memcpy(b, good, len);
		if (!last) {
			for (int k = 0; k < 4; k++)
				b[off + (size_t)k] = (uint8_t)(bad[i] >> (24 - 8 * k));
			state_resum(b, len);
		}
		f = fopen(state_path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, len, f), len);
		fclose(f);
		memset(&seen, 0, sizeof(seen));
		make_site();
		assert_int_equal(attack_create(&c, sites, 1, on_event, &seen, &a), 0);
		struct attack_restore res;
		assert_int_equal(attack_state_load(a, state_path, t + 1000, &res),
		                 last ? 0 : -EBADMSG);
		if (last) {
			/* Nothing more comes: it ends, still saying 1 in 8. */
			assert_int_equal(res.resumed, 1);
			quiet_secs(a, t + 1000, 8);
			assert_int_equal(count_phase(&seen, ATTACK_END), 1);
			assert_int_equal(seen.ev[seen.n - 1].sampling, 8);
		}
		attack_destroy(a);
	}
	unlink(state_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spread),         cmocka_unit_test(test_long_records),
	    cmocka_unit_test(test_sampled_counts), cmocka_unit_test(test_hysteresis),
	    cmocka_unit_test(test_hysteresis_dip), cmocka_unit_test(test_outbound),
	    cmocka_unit_test(test_groups),         cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_cold_hot),       cmocka_unit_test(test_create_errors),
	    cmocka_unit_test(test_alloc_failures), cmocka_unit_test(test_engine_tap),
	    cmocka_unit_test(test_hook_timeout),   cmocka_unit_test(test_hook_set),
	    cmocka_unit_test(test_hook),           cmocka_unit_test(test_fragments),
	    cmocka_unit_test(test_state_resume),   cmocka_unit_test(test_state_ended_while_down),
	    cmocka_unit_test(test_state_refused),  cmocka_unit_test(test_thresholds_set),
	    cmocka_unit_test(test_thresholds_lowered),
	    cmocka_unit_test(test_cold_long),      cmocka_unit_test(test_sweep_idle),
	    cmocka_unit_test(test_ring_entries),   cmocka_unit_test(test_sampled_entries),
	    cmocka_unit_test(test_state_sampling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
