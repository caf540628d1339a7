/*
 * test_daily: the daily analysis (src/daily/) on a store written by hand.
 *
 * Each test builds a day of documents in the shape doc.c and the l2 merge
 * write them (only the fields the analysis reads, plus kind, site and
 * timeSlot), stores them slot by slot in a store in its own mkdtemp()
 * directory, and checks exactly what the analysis finds: the planted
 * suspects with their figures and regularity, nothing for the busy,
 * quiet-but-many-peers, scanned and allow-listed hosts, the MAC with
 * several IPs (not the excluded or the router's own), the day's bounds in
 * time zones (DST days) and the partial day.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "nfsentry/daily.h"
#include "nfsentry/l2.h"
#include "nfsentry/reputation.h"
#include "nfsentry/store.h"

#include "../../src/daily/digest.h"
#include "../../src/daily/jscan.h"

/* 2026-01-01T00:00:00Z */
#define DAY0 5890752

struct pend {
	char kind[16], key[64];
	char *json;
};

struct fixture {
	char dir[64], path[128];
	struct store *st;
	struct pend *p[300];
	size_t n[300];
	int64_t base;
	/* fx_flush also stores each slot's digest, made for these bounds (0: none). */
	uint32_t dg_peers, dg_probe;
};

static int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *w)
{
	(void)sb, (void)f, (void)w;
	return remove(p);
}

static void fx_open(struct fixture *fx, int64_t base)
{
	char err[256];
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_daily.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/s.db", fx->dir);
	assert_int_equal(store_open(fx->path, NULL, &fx->st, err, sizeof(err)), 0);
	fx->base = base;
}

/* fx_open(), and each flushed slot gets a digest made for the default bounds. */
static void fx_open_digests(struct fixture *fx, int64_t base)
{
	fx_open(fx, base);
	fx->dg_peers = DAILY_DEFAULT_MAX_PEERS;
	fx->dg_probe = DAILY_DEFAULT_PROBE_TARGETS;
}

__attribute__((format(printf, 5, 6))) static void
add(struct fixture *fx, int64_t ts, const char *kind, const char *key, const char *fmt, ...)
{
	va_list ap;
	char body[2048], *json;
	size_t k = (size_t)(ts - fx->base);

	assert_true(k < 300);
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	assert_true(asprintf(&json, "{\"kind\":\"%s\",\"site\":\"campus\",\"timeSlot\":%lld%s%s}",
	                     kind, (long long)ts, body[0] ? "," : "", body) > 0);
	fx->p[k] = realloc(fx->p[k], (fx->n[k] + 1) * sizeof(struct pend));
	struct pend *e = &fx->p[k][fx->n[k]++];
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->json = json;
}

static void inside(struct fixture *fx, int64_t ts, const char *ip, const char *peers,
                   const char *replied, int npeers, int flows, int packets, bool allow)
{
	add(fx, ts, "inside", ip,
	    "\"ip\":\"%s\",\"flows\":%d,\"packets\":%d,\"octets\":%d,\"inFlows\":%d,"
	    "\"inPackets\":%d,\"inOctets\":%d,\"peers\":%d,\"peerCapHit\":false,"
	    "\"arrayPeer\":[%s],\"repliedTo\":[%s],\"allowListed\":%s,\"labels\":[],"
	    "\"reasons\":{}",
	    ip, flows, packets, packets * 100, flows, packets, packets * 50, npeers, peers, replied,
	    allow ? "true" : "false");
}

static void offender(struct fixture *fx, int64_t ts, const char *ip, const char *iplist,
                     int targets, int packets, const char *labels)
{
	add(fx, ts, "offender", ip,
	    "\"ip\":\"%s\",\"flows\":%d,\"packets\":%d,\"octets\":%d,\"touchPeers\":%d,"
	    "\"ipList\":[%s],\"labels\":[%s]",
	    ip, targets, packets, packets * 60, targets, iplist, labels);
}

/* Every slot of [from, to) gets its slot document (partial ones marked). */
static void slots(struct fixture *fx, int64_t from, int64_t to, int64_t partial_at)
{
	for (int64_t ts = from; ts < to; ts++)
		add(fx, ts, "slot", "", "%s\"labels\":{\"scan\":%d,\"flood\":0}",
		    ts == partial_at ? "\"partial\":true," : "", ts == DAY0 + 50);
}

static void fx_flush(struct fixture *fx)
{
	for (size_t k = 0; k < 300; k++) {
		if (!fx->n[k])
			continue;
		struct store_doc d[512];
		assert_true(fx->n[k] <= 512);
		for (size_t i = 0; i < fx->n[k]; i++)
			d[i] = (struct store_doc){fx->p[k][i].kind, fx->p[k][i].key,
			                          fx->p[k][i].json, strlen(fx->p[k][i].json)};
		void *dg = NULL;
		size_t dg_len = 0;
		if (fx->dg_peers)
			assert_int_equal(daily_digest_build(fx->base + (int64_t)k, d, fx->n[k],
			                                    fx->dg_peers, fx->dg_probe, &dg,
			                                    &dg_len),
			                 0);
		assert_int_equal(store_slot_write_digest(fx->st, "campus", fx->base + (int64_t)k, d,
		                                         fx->n[k], NULL, dg, dg_len),
		                 0);
		free(dg);
		for (size_t i = 0; i < fx->n[k]; i++)
			free(fx->p[k][i].json);
		free(fx->p[k]);
		fx->p[k] = NULL;
		fx->n[k] = 0;
	}
}

static void fx_close(struct fixture *fx)
{
	store_close(fx->st);
	nftw(fx->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static const struct daily_suspect *suspect(const struct daily_result *r, const char *ip)
{
	struct flow_addr a;
	assert_int_equal(flow_addr_parse(ip, &a), 0);
	for (size_t k = 0; k < r->n_suspects; k++)
		if (memcmp(r->suspects[k].ip.b, a.b, 16) == 0)
			return &r->suspects[k];
	return NULL;
}

/* The planted day: see the file comment. */
static void plant_day(struct fixture *fx)
{
	/* Slot before the day: must not count. */
	inside(fx, DAY0 - 1, "10.10.5.5", "\"203.0.113.50\"", "", 1, 1, 4, false);
	/* The beacon: a few packets to one outside IP every hour (12 slots). */
	for (int h = 0; h < 24; h++)
		inside(fx, DAY0 + 3 + 12 * h, "10.10.5.5", "\"203.0.113.50\"", "", 1, 1, 4, false);
	/* Receives only: a few packets from one outside IP, twice. */
	offender(fx, DAY0 + 10, "198.51.100.7", "\"10.10.5.6\"", 1, 3, "");
	offender(fx, DAY0 + 100, "198.51.100.7", "\"10.10.5.6\"", 1, 3, "");
	/* Answers one outside IP that probes nobody else. */
	inside(fx, DAY0 + 20, "10.10.5.7", "\"203.0.113.60\"", "\"203.0.113.60\"", 1, 1, 2, false);
	inside(fx, DAY0 + 90, "10.10.5.7", "\"203.0.113.60\"", "\"203.0.113.60\"", 1, 1, 2, false);
	/* A scanner (labelled) and its victims, who answer it and do nothing else. */
	offender(fx, DAY0 + 50, "192.0.2.66",
	         "\"10.10.1.1\",\"10.10.1.2\",\"10.10.1.3\",\"10.10.1.4\",\"10.10.200.1\"", 5, 20,
	         "\"scan\"");
	for (int k = 1; k <= 4; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.10.1.%d", k);
		inside(fx, DAY0 + 50, ip, "\"192.0.2.66\"", "\"192.0.2.66\"", 1, 1, 1, false);
	}
	/* A slow, unlabelled scanner: four hosts answer it, in different slots. */
	for (int k = 1; k <= 4; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.10.7.%d", k);
		inside(fx, DAY0 + 60 + k, ip, "\"192.0.2.77\"", "\"192.0.2.77\"", 1, 1, 1, false);
	}
	/* A busy client: many peers. */
	inside(fx, DAY0 + 5, "10.10.2.2",
	       "\"198.18.0.1\",\"198.18.0.2\",\"198.18.0.3\",\"198.18.0.4\"", "", 4, 40, 400,
	       false);
	/* A quiet host that uses a different outside IP each time. */
	for (int k = 0; k < 6; k++) {
		char peer[32];
		snprintf(peer, sizeof(peer), "\"198.18.1.%d\"", k + 1);
		inside(fx, DAY0 + 30 + 20 * k, "10.10.3.3", peer, "", 1, 1, 3, false);
	}
	/* One contact, but far too many packets. */
	inside(fx, DAY0 + 7, "10.10.3.4", "\"198.18.2.1\"", "", 1, 2, 5000, false);
	/* An allow-listed server with one client. */
	inside(fx, DAY0 + 8, "10.10.0.80", "\"203.0.113.9\"", "\"203.0.113.9\"", 1, 1, 3, true);
	/* ARP: one MAC with two IPs; the router's MAC (excluded) and own addresses. */
	add(fx, DAY0 + 5, "arpMac", "02:00:00:00:00:aa@gw1",
	    "\"mac\":\"02:00:00:00:00:aa\",\"device\":\"gw1\",\"ipList\":[\"10.10.5.8\"],"
	    "\"interfaceList\":[\"Vlan10\"],\"typeList\":[\"Dynamic\"]");
	add(fx, DAY0 + 200, "arpMac", "02:00:00:00:00:aa@gw1",
	    "\"mac\":\"02:00:00:00:00:aa\",\"device\":\"gw1\",\"ipList\":[\"10.10.5.9\"],"
	    "\"interfaceList\":[\"Vlan10\"],\"typeList\":[\"Dynamic\"]");
	add(fx, DAY0 + 201, "arpMac", "02:00:00:00:00:aa@gw1",
	    "\"mac\":\"02:00:00:00:00:aa\",\"device\":\"gw1\",\"ipList\":[\"10.10.5.9\"],"
	    "\"interfaceList\":[\"Vlan10\"],\"typeList\":[\"Dynamic\"]");
	add(fx, DAY0 + 5, "arpMac", "02:00:5e:00:00:01@gw1",
	    "\"mac\":\"02:00:5e:00:00:01\",\"device\":\"gw1\",\"ipList\":[\"10.10.9.1\","
	    "\"10.10.9.2\"],\"interfaceList\":[\"Vlan9\"],\"typeList\":[\"Dynamic\"]");
	add(fx, DAY0 + 5, "arpMac", "02:00:00:00:00:bb@gw1",
	    "\"mac\":\"02:00:00:00:00:bb\",\"device\":\"gw1\",\"ipList\":[\"10.10.0.1\","
	    "\"10.10.1.254\"],\"interfaceList\":[\"Vlan1\"],\"typeList\":[\"Interface\"]");
	/* A MAC whose second IP lies in the DHCP segment (excluded). */
	add(fx, DAY0 + 6, "arpMac", "02:00:00:00:00:cc@gw1",
	    "\"mac\":\"02:00:00:00:00:cc\",\"device\":\"gw1\",\"ipList\":[\"10.10.6.1\","
	    "\"10.20.0.5\"],\"interfaceList\":[\"Vlan6\"],\"typeList\":[\"Dynamic\"]");
}

static void test_cfg(struct daily_config *c)
{
	daily_config_defaults(c);
	assert_int_equal(l2_mac_parse("02:00:5e:00:00:01", 17, c->exclude_macs[0]), 0);
	c->n_exclude_macs = 1;
	assert_int_equal(flow_addr_parse("10.20.0.0", &c->exclude_prefixes[0].addr), 0);
	c->exclude_prefixes[0].len = 96 + 16;
	c->n_exclude_prefixes = 1;
}

static void test_day(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct daily_day day;
	struct daily_result *r;
	char err[256];

	fx_open(&fx, DAY0 - 1);
	slots(&fx, DAY0 - 1, DAY0 + 288, -1);
	plant_day(&fx);
	fx_flush(&fx);
	test_cfg(&cfg);
	assert_int_equal(daily_day_resolve("2026-01-01", "UTC", &day), 0);
	assert_int_equal(day.from_slot, DAY0);
	assert_int_equal(day.n_slots, 288);
	assert_int_equal(daily_analyse(fx.st, "campus", &day, &cfg, &r, err, sizeof(err)), 0);

	assert_false(r->partial);
	assert_int_equal(r->slots_present, 288);
	assert_int_equal(r->n_suspects, 3);
	/* Fewest flows first: the receiver (2), the answerer (2 out + 2 in), the beacon (24). */
	const struct daily_suspect *b = suspect(r, "10.10.5.5");
	assert_non_null(b);
	assert_ptr_equal(b, &r->suspects[2]);
	assert_int_equal(b->n_contacts, 1);
	assert_int_equal(b->contacts[0].how, DAILY_STARTED);
	assert_int_equal(b->contacts[0].slots, 24);
	assert_int_equal(b->contact_slots, 24);
	assert_int_equal(b->flows, 24);
	assert_int_equal(b->packets, 96);
	assert_int_equal(b->octets, 9600);
	assert_int_equal(b->first_slot, DAY0 + 3);
	assert_int_equal(b->last_slot, DAY0 + 3 + 12 * 23);
	assert_true(b->mean_gap_slots == 12.0);
	assert_true(b->gap_cv == 0.0);
	assert_true(b->beacon);
	assert_false(b->received_only);

	const struct daily_suspect *rcv = suspect(r, "10.10.5.6");
	assert_non_null(rcv);
	assert_true(rcv->received_only);
	assert_int_equal(rcv->contacts[0].how, DAILY_RECEIVED);
	assert_true(rcv->contacts[0].offender);
	assert_int_equal(rcv->contact_slots, 2);
	assert_int_equal(rcv->in_packets, 6);
	assert_int_equal(rcv->flows, 0);
	assert_false(rcv->beacon);

	const struct daily_suspect *ans = suspect(r, "10.10.5.7");
	assert_non_null(ans);
	assert_int_equal(ans->contacts[0].how, DAILY_ANSWERED);
	assert_false(ans->contacts[0].offender);
	assert_int_equal(ans->contact_slots, 2);

	/* Not suspects: scanned, slowly scanned, busy, many peers, too many packets, allowed. */
	assert_null(suspect(r, "10.10.1.1"));
	assert_null(suspect(r, "10.10.7.1"));
	assert_null(suspect(r, "10.10.2.2"));
	assert_null(suspect(r, "10.10.3.3"));
	assert_null(suspect(r, "10.10.3.4"));
	assert_null(suspect(r, "10.10.0.80"));
	assert_null(suspect(r, "10.10.200.1"));

	/* MACs: only 02:00:00:00:00:aa, its IPs with their first and last slots. */
	assert_int_equal(r->n_macs, 1);
	char mac[32];
	l2_mac_format(r->macs[0].mac, mac, sizeof(mac));
	assert_string_equal(mac, "02:00:00:00:00:aa");
	assert_int_equal(r->macs[0].n_ips, 2);
	assert_int_equal(r->macs[0].ips[0].first_slot, DAY0 + 5);
	assert_int_equal(r->macs[0].ips[1].first_slot, DAY0 + 200);
	assert_int_equal(r->macs[0].ips[1].last_slot, DAY0 + 201);
	assert_int_equal(r->macs[0].n_places, 1);
	assert_string_equal(r->macs[0].places[0], "gw1 Vlan10");

	/* The day's offenders and labels. */
	assert_int_equal(r->offenders_day, 2);
	assert_int_equal(r->labels[0], 1);
	assert_string_equal(r->label_names[0], "scan");

	/* Stored as daily documents, and read back as the latest. */
	assert_int_equal(daily_store_write(fx.st, r), 0);
	int64_t ds = 0;
	struct store_slot sl;
	assert_int_equal(store_slot_get(fx.st, "campus@daily", DAY0, &sl), 0);
	assert_int_equal(sl.n_docs, 1 + 3 + 1);
	assert_int_equal(store_slot_latest(fx.st, "campus@daily", &ds), 0);
	assert_int_equal(ds, DAY0);

	/* JSON lines: one per finding, then the summary. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(daily_result_ndjson(r, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "{\"kind\":\"ccSuspect\",\"site\":\"campus\",\"date\":"
	                            "\"2026-01-01\",\"timeZone\":\"UTC\""));
	assert_non_null(strstr(buf, "\"ip\":\"10.10.5.5\""));
	assert_non_null(strstr(buf, "\"beacon\":true"));
	assert_non_null(strstr(buf, "{\"kind\":\"macMultiIp\""));
	assert_non_null(strstr(buf, "\"partial\":false"));
	size_t lines = 0;
	for (char *p = buf; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 3 + 1 + 1);
	free(buf);
	daily_result_free(r);
	fx_close(&fx);
}

/* A day with slots missing (collector down) and one partial slot. */
static void test_partial(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct daily_day day;
	struct daily_result *r;
	char err[256];

	fx_open(&fx, DAY0);
	slots(&fx, DAY0, DAY0 + 100, DAY0 + 99);
	slots(&fx, DAY0 + 150, DAY0 + 288, -1);
	fx_flush(&fx);
	test_cfg(&cfg);
	assert_int_equal(daily_day_resolve("2026-01-01", NULL, &day), 0);
	assert_int_equal(daily_analyse(fx.st, "campus", &day, &cfg, &r, err, sizeof(err)), 0);
	assert_true(r->partial);
	assert_int_equal(r->slots_present, 238);
	assert_int_equal(r->slots_partial, 1);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(daily_result_text(r, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "slots: 238 of 288 stored, 1 of them partial -- PARTIAL DAY"));
	free(buf);
	daily_result_free(r);
	fx_close(&fx);
}

/* Days in time zones: DST days are 23 and 25 hours, bounds at local midnight. */
static void test_days(void **state)
{
	(void)state;
	struct daily_day d;

	assert_int_equal(daily_day_resolve("2026-03-29", "Europe/Berlin", &d), 0);
	assert_int_equal(d.start_s, 1774738800); /* 2026-03-28T23:00:00Z */
	assert_int_equal(d.end_s - d.start_s, 23 * 3600);
	assert_int_equal(d.n_slots, 276);
	assert_int_equal(daily_day_resolve("2026-10-25", "Europe/Berlin", &d), 0);
	assert_int_equal(d.end_s - d.start_s, 25 * 3600);
	assert_int_equal(d.n_slots, 300);
	assert_int_equal(daily_day_resolve("2026-01-01", "America/New_York", &d), 0);
	assert_int_equal(d.start_s, 1767243600); /* 05:00Z */
	assert_int_equal(d.from_slot, 1767243600 / 300);
	/* Nepal is 5:45 ahead of UTC. */
	assert_int_equal(daily_day_resolve("2026-01-01", "Asia/Kathmandu", &d), 0);
	assert_int_equal(d.start_s, 1767204900);
	assert_int_equal(d.from_slot, 1767204900 / 300);
	/* The day that holds a time, on both sides of local midnight. */
	assert_int_equal(daily_day_of(1767243600 - 1, "America/New_York", &d), 0);
	assert_string_equal(d.date, "2025-12-31");
	assert_int_equal(daily_day_of(1767243600, "America/New_York", &d), 0);
	assert_string_equal(d.date, "2026-01-01");
	/* TZ is left as it was. */
	assert_int_equal(setenv("TZ", "Asia/Tokyo", 1), 0);
	assert_int_equal(daily_day_of(0, "UTC", &d), 0);
	assert_string_equal(getenv("TZ"), "Asia/Tokyo");
	unsetenv("TZ");
	/* Refused: bad dates and unknown zones (the C library would take them as UTC). */
	assert_int_equal(daily_day_resolve("2026-02-30", "UTC", &d), -EINVAL);
	assert_int_equal(daily_day_resolve("2026-1-01", "UTC", &d), -EINVAL);
	assert_int_equal(daily_day_resolve("2026-01-01", "Mars/Olympus", &d), -EINVAL);
	assert_int_equal(daily_day_resolve("2026-01-01", "../etc/passwd", &d), -EINVAL);
	assert_false(daily_tz_valid("/etc/localtime"));
	assert_true(daily_tz_valid("Europe/Berlin"));
}

/* The day in New York takes the UTC slots from 05:00 to 05:00 the next day. */
static void test_day_in_zone(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct daily_day day;
	struct daily_result *r;
	char err[256];
	int64_t ny0 = 1767243600 / 300; /* 2026-01-01T00:00-05:00 */

	fx_open(&fx, ny0 - 10);
	/* Beacon contacts just before the local day, and three within it. */
	for (int k = 0; k < 10; k += 3)
		inside(&fx, ny0 - 10 + k, "10.10.5.5", "\"203.0.113.50\"", "", 1, 1, 4, false);
	for (int k = 0; k < 3; k++)
		inside(&fx, ny0 + 5 + 10 * k, "10.10.5.5", "\"203.0.113.50\"", "", 1, 1, 4, false);
	fx_flush(&fx);
	test_cfg(&cfg);
	snprintf(cfg.tz, sizeof(cfg.tz), "America/New_York");
	assert_int_equal(daily_day_resolve("2026-01-01", cfg.tz, &day), 0);
	assert_int_equal(daily_analyse(fx.st, "campus", &day, &cfg, &r, err, sizeof(err)), 0);
	assert_int_equal(r->n_suspects, 1);
	assert_int_equal(r->suspects[0].contact_slots, 3);
	assert_int_equal(r->suspects[0].first_slot, ny0 + 5);
	assert_true(r->suspects[0].beacon);
	assert_true(r->partial); /* no slot documents */
	assert_int_equal(r->slots_present, 0);
	daily_result_free(r);
	fx_close(&fx);
}

/* An outside IP answered by n inside hosts, each in its own slot and doing nothing else. */
static size_t answered_by(int n, uint32_t probe_targets)
{
	struct fixture fx;
	struct daily_config cfg;
	struct daily_day day;
	struct daily_result *r;
	char err[256];

	fx_open(&fx, DAY0);
	for (int k = 1; k <= n; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.10.8.%d", k);
		inside(&fx, DAY0 + 10 * k, ip, "\"192.0.2.88\"", "\"192.0.2.88\"", 1, 1, 1, false);
	}
	fx_flush(&fx);
	test_cfg(&cfg);
	cfg.probe_targets = probe_targets;
	assert_int_equal(daily_day_resolve("2026-01-01", "UTC", &day), 0);
	assert_int_equal(daily_analyse(fx.st, "campus", &day, &cfg, &r, err, sizeof(err)), 0);
	size_t found = r->n_suspects;
	daily_result_free(r);
	fx_close(&fx);
	return found;
}

/* probe_targets decides who probes, also above the targets an entry keeps inline. */
static void test_probe_targets(void **state)
{
	(void)state;
	assert_int_equal(answered_by(3, 3), 3);
	assert_int_equal(answered_by(4, 3), 0);
	assert_int_equal(answered_by(6, 6), 6);
	assert_int_equal(answered_by(7, 6), 0);
	assert_int_equal(answered_by(10, DAILY_PROBE_MAX), 10);
}

/*
 * Three quiet hosts answer 192.0.2.99, once each; 10.10.4.4 answers it too,
 * in one slot, and is busy (three own peers) in another. busy_first puts
 * the busy slot first. Returns the suspects found.
 */
static size_t busy_answerer_day(bool busy_first)
{
	struct fixture fx;
	struct daily_config cfg;
	struct daily_day day;
	struct daily_result *r;
	char err[256];

	fx_open(&fx, DAY0);
	for (int k = 1; k <= 3; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.10.4.%d", k);
		inside(&fx, DAY0 + 30 + 10 * k, ip, "\"192.0.2.99\"", "\"192.0.2.99\"", 1, 1, 1,
		       false);
	}
	inside(&fx, busy_first ? DAY0 + 20 : DAY0 + 80, "10.10.4.4",
	       "\"198.18.4.1\",\"198.18.4.2\",\"198.18.4.3\"", "", 3, 9, 90, false);
	inside(&fx, busy_first ? DAY0 + 80 : DAY0 + 20, "10.10.4.4", "\"192.0.2.99\"",
	       "\"192.0.2.99\"", 1, 1, 1, false);
	/* A beacon host that also received from nine labelled scanners: still a suspect. */
	for (int k = 0; k < 3; k++)
		inside(&fx, DAY0 + 100 + 12 * k, "10.10.4.9", "\"203.0.113.77\"", "", 1, 1, 4,
		       false);
	for (int k = 1; k <= 9; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "192.0.2.%d", 100 + k);
		offender(&fx, DAY0 + 100 + k, ip, "\"10.10.4.9\"", 1, 2, "\"scan\"");
	}
	fx_flush(&fx);
	test_cfg(&cfg);
	assert_int_equal(daily_day_resolve("2026-01-01", "UTC", &day), 0);
	assert_int_equal(daily_analyse(fx.st, "campus", &day, &cfg, &r, err, sizeof(err)), 0);
	size_t found = r->n_suspects;
	assert_non_null(suspect(r, "10.10.4.9"));
	assert_null(suspect(r, "10.10.4.4"));
	daily_result_free(r);
	fx_close(&fx);
	return found;
}

/*
 * Who probes does not depend on the order of the documents: a host busy in
 * one slot still makes a target of the outside IP it answers in another,
 * before or after, so 192.0.2.99 (four targets) probes either way and the
 * three quiet hosts that answered it are no suspects.
 */
static void test_order(void **state)
{
	(void)state;
	assert_int_equal(busy_answerer_day(true), 1);
	assert_int_equal(busy_answerer_day(false), 1);
}

static uint32_t rnd(uint32_t *st)
{
	*st = *st * 1103515245u + 12345u;
	return *st >> 8;
}

/*
 * A generated day of 40 hosts of 10.1.0.0/24 beside the planted ones:
 * busy clients, servers answering clients of a small pool (some of which
 * thereby probe), an allow-listed server, quiet hosts with a few outside
 * IPs, beacons, hosts busy in some slots and answering in others, a
 * labelled scanner, small unlabelled offenders, and MACs changing IP.
 */
static void gen_day(struct fixture *fx, uint32_t seed)
{
	char ip[32], peers[512], rep[512];
	for (int64_t ts = DAY0; ts < DAY0 + 288; ts++) {
		for (int h = 0; h < 40; h++) {
			int np = 0, nr = 0;
			size_t pl = 0, rl = 0;
			peers[0] = rep[0] = '\0';
			snprintf(ip, sizeof(ip), "10.1.0.%d", h);
			if (h < 10) {
				np = 4 + (int)(rnd(&seed) % 3);
				for (int k = 0; k < np; k++)
					pl += (size_t)snprintf(peers + pl, sizeof(peers) - pl,
					                       "%s\"198.18.%d.%u\"", k ? "," : "",
					                       h, rnd(&seed) % 20);
			} else if (h < 20) {
				/* Answers 1..4 clients of 100.64.0.0/26, in arrayPeer order. */
				nr = 1 + (int)(rnd(&seed) % 4);
				uint32_t c0 = rnd(&seed) % 60;
				for (int k = 0; k < nr; k++) {
					pl += (size_t)snprintf(peers + pl, sizeof(peers) - pl,
					                       "%s\"100.64.0.%u\"", k ? "," : "",
					                       c0 + k);
					rl += (size_t)snprintf(rep + rl, sizeof(rep) - rl,
					                       "%s\"100.64.0.%u\"", k ? "," : "",
					                       c0 + k);
				}
				np = nr;
			} else if (h < 30) {
				if (rnd(&seed) % 10)
					continue;
				np = 1;
				snprintf(peers, sizeof(peers), "\"203.0.113.%u\"",
				         (unsigned)(h % 3) + rnd(&seed) % 2);
			} else if (h < 35) {
				if ((ts - DAY0) % 12 != h - 30)
					continue;
				np = 1;
				snprintf(peers, sizeof(peers), "\"203.0.113.%d\"", 200 + h);
			} else {
				uint32_t x = rnd(&seed) % 6;
				if (x == 0) {
					np = 3;
					snprintf(peers, sizeof(peers),
					         "\"198.18.99.1\",\"198.18.99.2\",\"198.18.99.3\"");
				} else if (x == 1) {
					np = nr = 1;
					snprintf(peers, sizeof(peers), "\"100.64.0.%u\"",
					         rnd(&seed) % 64);
					snprintf(rep, sizeof(rep), "%s", peers);
				} else {
					continue;
				}
			}
			inside(fx, ts, ip, peers, rep, np, np, 2 * np, h == 19);
		}
		if ((ts - DAY0) % 40 == 5)
			offender(fx, ts, "192.0.2.10",
			         "\"10.1.0.20\",\"10.1.0.21\",\"10.1.0.22\",\"10.1.0.23\"", 4, 40,
			         "\"scan\",\"noPayload\"");
		if (rnd(&seed) % 8 == 0) {
			char list[64];
			snprintf(list, sizeof(list), "\"10.1.0.%u\"", 20 + rnd(&seed) % 10);
			snprintf(ip, sizeof(ip), "198.51.100.%u", 10 + rnd(&seed) % 6);
			offender(fx, ts, ip, list, 1, 3, "");
		}
		if ((ts - DAY0) % 6 == 0) {
			for (int m = 0; m < 3; m++) {
				char key[64];
				snprintf(key, sizeof(key), "02:00:00:00:01:%02x@gw2", m);
				add(fx, ts, "arpMac", key,
				    "\"mac\":\"02:00:00:00:01:%02x\",\"device\":\"gw2\",\"ipList\":"
				    "[\"10.1.1.%u\"],\"interfaceList\":[\"Vlan%d\",\"Po1\"],"
				    "\"typeList\":[\"Dynamic\"]",
				    m, m == 0 ? 5 : 10 * m + rnd(&seed) % 2, 20 + m);
			}
		}
	}
}

struct run_out {
	char *text; /* ndjson then the text report */
	uint32_t slots_digest, digests_bad, digests_unfit;
	size_t n_suspects, n_macs;
};

static struct run_out run_day(struct fixture *fx, const struct daily_config *cfg)
{
	struct daily_day day;
	struct daily_result *r;
	struct run_out o = {0};
	char err[256];
	size_t len = 0;

	assert_int_equal(daily_day_resolve("2026-01-01", "UTC", &day), 0);
	assert_int_equal(daily_analyse(fx->st, "campus", &day, cfg, &r, err, sizeof(err)), 0);
	FILE *f = open_memstream(&o.text, &len);
	assert_int_equal(daily_result_ndjson(r, f), 0);
	assert_int_equal(daily_result_text(r, f), 0);
	fclose(f);
	o.slots_digest = r->slots_digest;
	o.digests_bad = r->digests_bad;
	o.digests_unfit = r->digests_unfit;
	o.n_suspects = r->n_suspects;
	o.n_macs = r->n_macs;
	daily_result_free(r);
	return o;
}

/* Flip one byte in the middle of the digest of slot ts (a disk's damage). */
static void corrupt_digest(const char *path, int64_t ts)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT data FROM digests WHERE time_slot = ?1", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, ts);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	size_t n = (size_t)sqlite3_column_bytes(st, 0);
	uint8_t *b = malloc(n);
	memcpy(b, sqlite3_column_blob(st, 0), n);
	sqlite3_finalize(st);
	b[n / 2] ^= 0x10;
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE digests SET data = ?2 WHERE time_slot = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, ts);
	sqlite3_bind_blob(st, 2, b, (int)n, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(b);
}

/*
 * The day of fx (planted hosts and a generated crowd, digests made for the
 * default bounds on every slot) read from digests and from documents: the
 * same report; then the slots in corrupt[] get a damaged digest: counted,
 * read from their documents, the same report; digests made for smaller
 * bounds than asked for are not used.
 */
static void check_digests_as_documents(struct fixture *fx, struct daily_config *cfg,
                                       const int64_t *corrupt, size_t n_corrupt)
{
	cfg->from_documents = true;
	struct run_out docs = run_day(fx, cfg);
	assert_int_equal(docs.slots_digest, 0);
	cfg->from_documents = false;
	struct run_out dg = run_day(fx, cfg);
	assert_int_equal(dg.slots_digest, 288);
	assert_int_equal(dg.digests_bad, 0);
	assert_string_equal(dg.text, docs.text);
	/* Not an empty comparison: the planted ones and some generated ones. */
	assert_true(docs.n_suspects >= 3 + 5);
	assert_int_equal(docs.n_macs, 3);
	assert_non_null(strstr(docs.text, "\"ip\":\"10.1.0.30\""));
	assert_non_null(strstr(docs.text, "\"ip\":\"10.10.5.5\""));

	for (size_t i = 0; i < n_corrupt; i++)
		corrupt_digest(fx->path, corrupt[i]);
	struct run_out bad = run_day(fx, cfg);
	assert_int_equal(bad.digests_bad, n_corrupt);
	assert_int_equal(bad.slots_digest, 288 - n_corrupt);
	assert_string_equal(bad.text, docs.text);

	/* max_peers 3 needs digests made for 3 or more: these are not used. */
	cfg->max_peers = 3;
	struct run_out unfit = run_day(fx, cfg);
	assert_int_equal(unfit.slots_digest, 0);
	assert_int_equal(unfit.digests_unfit, 288 - n_corrupt);
	assert_int_equal(unfit.digests_bad, n_corrupt);
	cfg->from_documents = true;
	struct run_out docs3 = run_day(fx, cfg);
	assert_string_equal(unfit.text, docs3.text);

	free(docs.text);
	free(dg.text);
	free(bad.text);
	free(unfit.text);
	free(docs3.text);
}

/*
 * The digest path and the document path give the same report, byte for
 * byte, on a generated day with the planted hosts; a corrupt digest is
 * counted and its slot read from its documents; digests made for smaller
 * bounds than the analysis asks for are not used.
 */
static void test_digest_path(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;

	fx_open_digests(&fx, DAY0 - 1);
	slots(&fx, DAY0 - 1, DAY0 + 288, -1);
	plant_day(&fx);
	gen_day(&fx, 7);
	fx_flush(&fx);
	test_cfg(&cfg);

	const int64_t corrupt[] = {DAY0 + 100};
	check_digests_as_documents(&fx, &cfg, corrupt, 1);
	fx_close(&fx);
}

/*
 * The same generated day with digests made for the largest bounds, read
 * with the default and with other thresholds: the same as its documents.
 */
static void test_digest_bounds(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	static const uint32_t peers[] = {1, 2, 4}, probe[] = {0, 1, 3, 10};

	fx_open(&fx, DAY0);
	fx.dg_peers = DAILY_PEERS_MAX;
	fx.dg_probe = DAILY_PROBE_MAX;
	gen_day(&fx, 11);
	fx_flush(&fx);
	test_cfg(&cfg);
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < 4; j++) {
			cfg.max_peers = peers[i];
			cfg.probe_targets = probe[j];
			cfg.from_documents = true;
			struct run_out docs = run_day(&fx, &cfg);
			cfg.from_documents = false;
			struct run_out dg = run_day(&fx, &cfg);
			assert_int_equal(dg.slots_digest, 288);
			assert_string_equal(dg.text, docs.text);
			free(docs.text);
			free(dg.text);
		}
	}
	fx_close(&fx);
}

/* Every prefix of a digest, and every single-bit flip, is refused by dg_open. */
static void test_digest_damage(void **state)
{
	(void)state;
	char json[3][256];
	struct store_doc d[3];
	void *dg;
	size_t len;
	struct dg_reader r;

	snprintf(json[0], sizeof(json[0]),
	         "{\"ip\":\"10.0.0.1\",\"peers\":2,\"arrayPeer\":[\"192.0.2.1\",\"192.0.2.2\"],"
	         "\"repliedTo\":[\"192.0.2.2\"]}");
	snprintf(json[1], sizeof(json[1]),
	         "{\"ip\":\"192.0.2.9\",\"touchPeers\":1,\"packets\":3,\"ipList\":[\"10.0.0.1\"],"
	         "\"labels\":[]}");
	snprintf(json[2], sizeof(json[2]),
	         "{\"timeSlot\":77,\"mac\":\"02:00:00:00:00:01\",\"device\":\"gw\","
	         "\"ipList\":[\"10.0.0.1\",\"2001:db8::1\"],\"interfaceList\":[\"Vlan1\"]}");
	d[0] = (struct store_doc){"inside", "10.0.0.1", json[0], strlen(json[0])};
	d[1] = (struct store_doc){"offender", "192.0.2.9", json[1], strlen(json[1])};
	d[2] = (struct store_doc){"arpMac", "02:00:00:00:00:01@gw", json[2], strlen(json[2])};
	assert_int_equal(daily_digest_build(77, d, 3, 2, 3, &dg, &len), 0);
	assert_int_equal(dg_open(&r, dg, len, true), 0);
	assert_int_equal(r.n_off, 1);
	assert_int_equal(r.n_in, 1);
	assert_int_equal(r.n_mac, 1);
	struct dg_buf b = {0};
	struct dg_inside in;
	dg_seek(&r, DG_INSIDE);
	assert_int_equal(dg_inside_read(&r, &in, &b), 0);
	assert_int_equal(in.n_peers, 2);
	assert_false(in.peers[0].answered);
	assert_true(in.peers[1].answered);
	struct dg_arpmac m;
	dg_seek(&r, DG_ARPMAC);
	assert_int_equal(dg_arpmac_read(&r, &m, &b), 0);
	assert_int_equal(m.n_ips, 2);
	assert_int_equal(m.ts, 77);
	assert_string_equal(m.ifs[0], "Vlan1");
	dg_buf_free(&b);
	/* The CRC-32 of the check value "123456789". */
	assert_int_equal(dg_crc32(0, "123456789", 9), 0xcbf43926u);
	for (size_t k = 0; k < len; k++)
		assert_int_not_equal(dg_open(&r, dg, k, true), 0);
	uint8_t *p = dg;
	for (size_t k = 0; k < len * 8; k++) {
		p[k / 8] ^= (uint8_t)(1u << (k % 8));
		assert_int_not_equal(dg_open(&r, dg, len, true), 0);
		p[k / 8] ^= (uint8_t)(1u << (k % 8));
	}
	free(dg);
}

/* jscan_getv: several members in one walk, absent ones NULL, nested ones not top-level. */
static void test_jscan_getv(void **state)
{
	(void)state;
	static const char doc[] =
	    "{\"kind\":\"inside\",\"a\":{\"ip\":\"x\"},\"ip\":\"10.0.0.1\",\"list\":[\"a,b\",2],"
	    "\"n\":-7,\"ok\":true}";
	static const char *const keys[] = {"n", "ip", "missing", "list", "ok"};
	struct jval v[5];
	char buf[32];
	int64_t n;

	assert_int_equal(jscan_getv(doc, strlen(doc), keys, 5, v), 4);
	assert_true(jscan_i64(&v[0], &n));
	assert_int_equal(n, -7);
	assert_true(jscan_str(&v[1], buf, sizeof(buf)));
	assert_string_equal(buf, "10.0.0.1");
	assert_null(v[2].p);
	assert_int_equal(v[3].n, strlen("[\"a,b\",2]"));
	assert_true(jscan_true(&v[4]));
	/* A malformed tail: what came before it is found, the rest is not. */
	static const char bad[] = "{\"ip\":\"10.0.0.1\",\"n\":\"7}";
	assert_int_equal(jscan_getv(bad, strlen(bad), keys, 5, v), 1);
	assert_non_null(v[1].p);
	assert_null(v[0].p);
}

/*
 * Rule III: a contact's outside IP that the offender database holds from an
 * earlier day is flagged offenderDb, though it sent no offender document
 * that day; an offence after the day does not count.
 */
static void test_offender_db(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct daily_day day;
	struct daily_result *r;
	struct reputation_db *db;
	char err[256], path[160], *sql;
	sqlite3 *h;

	fx_open(&fx, DAY0 - 1);
	slots(&fx, DAY0 - 1, DAY0 + 288, -1);
	plant_day(&fx);
	fx_flush(&fx);
	snprintf(path, sizeof(path), "%s/reputation.db", fx.dir);
	assert_int_equal(reputation_db_open(path, false, &db, err, sizeof(err)), 0);
	reputation_db_close(db);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_true(asprintf(&sql,
	                     "INSERT INTO offenders VALUES ('203.0.113.50', %d, %d, 3, %d, 0, 0, "
	                     "0, 0, 0, 0, 0, '', '[\"scan\"]', '{}', '[]'),"
	                     "('203.0.113.60', %d, %d, 1, %d, 0, 0, 0, 0, 0, 0, 0, '', '[]', "
	                     "'{}', '[]')",
	                     DAY0 - 200, DAY0 - 100, DAY0 - 100, DAY0 + 288, DAY0 + 288,
	                     DAY0 + 288) > 0);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(h);

	test_cfg(&cfg);
	snprintf(cfg.reputation_db, sizeof(cfg.reputation_db), "%s", path);
	assert_int_equal(daily_day_resolve("2026-01-01", "UTC", &day), 0);
	assert_int_equal(daily_analyse(fx.st, "campus", &day, &cfg, &r, err, sizeof(err)), 0);
	assert_true(r->reputation_read);
	const struct daily_suspect *b = suspect(r, "10.10.5.5");
	assert_non_null(b);
	assert_true(b->contacts[0].offender_db);
	assert_false(b->contacts[0].offender_day);
	assert_true(b->contacts[0].offender);
	const struct daily_suspect *ans = suspect(r, "10.10.5.7");
	assert_non_null(ans);
	assert_false(ans->contacts[0].offender_db);
	assert_false(ans->contacts[0].offender);
	const struct daily_suspect *rcv = suspect(r, "10.10.5.6");
	assert_non_null(rcv);
	assert_true(rcv->contacts[0].offender_day);
	assert_false(rcv->contacts[0].offender_db);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(daily_result_ndjson(r, f), 0);
	assert_int_equal(daily_result_text(r, f), 0);
	fclose(f);
	assert_non_null(strstr(buf,
	                       "{\"ip\":\"203.0.113.50\",\"how\":\"started\",\"offender\":true,"
	                       "\"offenderDay\":false,\"offenderDb\":true"));
	assert_non_null(strstr(buf, "\"offenderDb\":true,\"labels\""));
	assert_non_null(strstr(buf, "203.0.113.50    started, 24 slots, 2026-01-01T00:15:00Z .. "
	                            "2026-01-01T23:20:00Z, in the offender database"));
	free(buf);
	daily_result_free(r);

	/* No database yet: no error, flags from the day's documents only. */
	snprintf(cfg.reputation_db, sizeof(cfg.reputation_db), "%s/none.db", fx.dir);
	assert_int_equal(daily_analyse(fx.st, "campus", &day, &cfg, &r, err, sizeof(err)), 0);
	assert_false(r->reputation_read);
	b = suspect(r, "10.10.5.5");
	assert_non_null(b);
	assert_false(b->contacts[0].offender);
	daily_result_free(r);
	fx_close(&fx);
}

/*
 * A 25-hour day (Berlin, DST ends): whole with its 300 slots, not partial;
 * its first and last slot belong to it, the slots either side do not.
 */
static void test_dst_day(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct daily_day day;
	struct daily_result *r;
	char err[256];

	test_cfg(&cfg);
	snprintf(cfg.tz, sizeof(cfg.tz), "Europe/Berlin");
	assert_int_equal(daily_day_resolve("2026-10-25", cfg.tz, &day), 0);
	assert_int_equal(day.n_slots, 300);
	assert_int_equal(day.start_s, 1792879200); /* 2026-10-24T22:00:00Z */
	/* The day before's last slot: a slot document and a contact, not of this day. */
	fx_open(&fx, day.from_slot - 1);
	add(&fx, day.from_slot - 1, "slot", "", "\"labels\":{}");
	inside(&fx, day.from_slot - 1, "10.10.5.5", "\"203.0.113.50\"", "", 1, 1, 4, false);
	fx_flush(&fx);
	/* The day's 300 slot documents, a contact every hour ending in its last slot. */
	fx.base = day.from_slot;
	for (int64_t ts = day.from_slot; ts <= day.to_slot; ts++)
		add(&fx, ts, "slot", "", "\"labels\":{}");
	for (int64_t ts = day.from_slot + 11; ts <= day.to_slot; ts += 12)
		inside(&fx, ts, "10.10.5.5", "\"203.0.113.50\"", "", 1, 1, 4, false);
	fx_flush(&fx);
	/* The next day's first slot. */
	fx.base = day.to_slot + 1;
	add(&fx, day.to_slot + 1, "slot", "", "\"labels\":{}");
	inside(&fx, day.to_slot + 1, "10.10.5.5", "\"203.0.113.50\"", "", 1, 1, 4, false);
	fx_flush(&fx);
	assert_int_equal(daily_analyse(fx.st, "campus", &day, &cfg, &r, err, sizeof(err)), 0);
	assert_false(r->partial);
	assert_int_equal(r->slots_present, 300);
	assert_int_equal(r->n_suspects, 1);
	/* from_slot + 11, + 23, ..., + 299 = to_slot. */
	assert_int_equal(r->suspects[0].contact_slots, 25);
	assert_true(r->suspects[0].beacon);
	assert_int_equal(r->suspects[0].first_slot, day.from_slot + 11);
	assert_int_equal(r->suspects[0].last_slot, day.to_slot);
	daily_result_free(r);
	fx_close(&fx);
}

/* 2026-01-02T00:00:00Z */
#define JAN2 1767312000

/* The runner's schedule: which day is due, never twice, catch-up after a downtime. */
static void test_schedule(void **state)
{
	(void)state;
	struct daily_day d, done;

	/* Before run_hour (1) yesterday is not due yet; the day before it is. */
	assert_int_equal(daily_day_resolve("2025-12-31", "UTC", &done), 0);
	assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 3599, done.start_s, &d), 0);
	assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 3600, done.start_s, &d), 1);
	assert_string_equal(d.date, "2026-01-01");
	assert_int_equal(d.from_slot, DAY0);
	/* Done: not twice, all that day and the next until its run hour. */
	assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 3600, d.start_s, &d), 0);
	assert_int_equal(daily_day_resolve("2026-01-01", "UTC", &done), 0);
	assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 86400 + 3599, done.start_s, &d), 0);
	assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 86400 + 3600, done.start_s, &d), 1);
	assert_string_equal(d.date, "2026-01-02");
	/* run_hour 0: due at midnight. */
	assert_int_equal(daily_schedule_due("UTC", 0, JAN2, done.start_s - 86400, &d), 1);
	assert_string_equal(d.date, "2026-01-01");

	/* Down from 2025-12-28 to 2026-01-02T05:00Z: the days missed, oldest first. */
	assert_int_equal(daily_day_resolve("2025-12-28", "UTC", &done), 0);
	const char *want[] = {"2025-12-29", "2025-12-30", "2025-12-31", "2026-01-01"};
	for (int k = 0; k < 4; k++) {
		assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 5 * 3600, done.start_s, &d),
		                 1);
		assert_string_equal(d.date, want[k]);
		done = d;
	}
	assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 5 * 3600, done.start_s, &d), 0);
	/* A long downtime, or none done: back DAILY_CATCHUP_DAYS days before the latest. */
	assert_int_equal(daily_day_resolve("2025-11-01", "UTC", &done), 0);
	assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 5 * 3600, done.start_s, &d), 1);
	assert_string_equal(d.date, "2025-12-25");
	assert_int_equal(daily_schedule_due("UTC", 1, JAN2 + 5 * 3600, INT64_MIN, &d), 1);
	assert_string_equal(d.date, "2025-12-25");

	/* Berlin, run_hour 2, the DST day: 2026-03-28 ends at 23:00Z, runs at 01:00Z. */
	assert_int_equal(daily_day_resolve("2026-03-27", "Europe/Berlin", &done), 0);
	assert_int_equal(daily_schedule_due("Europe/Berlin", 2, 1774746000 - 1, done.start_s, &d),
	                 0);
	assert_int_equal(daily_schedule_due("Europe/Berlin", 2, 1774746000, done.start_s, &d), 1);
	assert_string_equal(d.date, "2026-03-28");
	assert_int_equal(d.start_s, 1774652400); /* 2026-03-27T23:00:00Z */
	/* The 23-hour day itself, once over. */
	assert_int_equal(
	    daily_schedule_due("Europe/Berlin", 0, 1774738800 + 23 * 3600, d.start_s, &d), 1);
	assert_string_equal(d.date, "2026-03-29");
	assert_int_equal(d.n_slots, 276);

	assert_int_equal(daily_schedule_due("Mars/Olympus", 1, JAN2, INT64_MIN, &d), -EINVAL);
}

static bool file_has(const char *path, const char *text)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

/* Wait (at most 30 s) until the runner finished `checks` schedule checks. */
static void wait_checks(struct daily_runner *dr, uint64_t checks, struct daily_stats *st)
{
	for (int k = 0; k < 3000; k++) {
		daily_runner_stats(dr, st);
		if (st->checks >= checks)
			return;
		usleep(10000);
	}
	fail_msg("the runner made %llu checks, want %llu", (unsigned long long)st->checks,
	         (unsigned long long)checks);
}

/*
 * The runner tests' day: the store holds 2026-01-01 (plant_day) with its
 * slots and the last slot of the day before; cfg is test_cfg() writing
 * reports into the fixture's directory; the runner's clock
 * (DAILY_NOW_ENV) is 2026-01-02T01:00:05Z. runner_fx_close() undoes it.
 */
static void runner_fx_open(struct fixture *fx, struct daily_config *cfg)
{
	fx_open(fx, DAY0 - 1);
	slots(fx, DAY0 - 1, DAY0 + 288, -1);
	plant_day(fx);
	fx_flush(fx);
	test_cfg(cfg);
	snprintf(cfg->report_dir, sizeof(cfg->report_dir), "%s", fx->dir);
	assert_int_equal(setenv(DAILY_NOW_ENV, "1767315605", 1), 0);
}

static void runner_fx_close(struct fixture *fx)
{
	unsetenv(DAILY_NOW_ENV);
	fx_close(fx);
}

/*
 * The runner on its own thread, its clock set through DAILY_NOW_ENV to
 * 2026-01-02T01:00:05Z: it analyses 2026-01-01 (the days before it in the
 * catch-up window have nothing stored), stores the daily documents, writes
 * the report and runs the hook; restarted, it finds the day stored and
 * does nothing.
 */
static void test_runner(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct daily_runner *dr;
	struct daily_stats st;
	const char *sites[] = {"campus"};
	char report[160], hooked[160];

	runner_fx_open(&fx, &cfg);
	snprintf(cfg.hook[0], sizeof(cfg.hook[0]), "/bin/sh");
	snprintf(cfg.hook[1], sizeof(cfg.hook[1]), "-c");
	snprintf(cfg.hook[2], sizeof(cfg.hook[2]), "cp \"$0\" %s/hooked.txt", fx.dir);
	cfg.n_hook = 3;
	snprintf(report, sizeof(report), "%s/campus-2026-01-01.txt", fx.dir);
	snprintf(hooked, sizeof(hooked), "%s/hooked.txt", fx.dir);

	assert_int_equal(daily_runner_start(&cfg, fx.path, sites, 1, &dr), 0);
	wait_checks(dr, 1, &st);
	daily_runner_stop(dr);
	/* 2025-12-31 (its last slot only: partial), then 2026-01-01. */
	assert_int_equal(st.runs, 2);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.hook_runs, 2);
	assert_int_equal(st.hook_failures, 0);
	assert_true(file_has(report, "nfsentry daily report: site campus, 2026-01-01 (UTC)"));
	assert_true(file_has(report, "10.10.5.5"));
	assert_true(file_has(hooked, "2026-01-01 (UTC)"));
	snprintf(hooked, sizeof(hooked), "%s/campus-2025-12-31.txt", fx.dir);
	assert_true(file_has(hooked, "PARTIAL DAY"));
	int64_t ds = 0;
	assert_int_equal(store_slot_latest(fx.st, "campus@daily", &ds), 0);
	assert_int_equal(ds, DAY0);
	struct store_slot sl;
	assert_int_equal(store_slot_get(fx.st, "campus@daily", DAY0 - 288, &sl), 0);
	assert_int_equal(store_slot_get(fx.st, "campus@daily", DAY0 - 2 * 288, &sl), -ENOENT);

	/* Restarted the same morning: the stored analysis marks the day done. */
	assert_int_equal(unlink(report), 0);
	assert_int_equal(daily_runner_start(&cfg, fx.path, sites, 1, &dr), 0);
	wait_checks(dr, 1, &st);
	daily_runner_stop(dr);
	assert_int_equal(st.runs, 0);
	assert_int_equal(st.hook_runs, 0);
	assert_int_equal(access(report, F_OK), -1);

	/* A bad clock is refused. */
	assert_int_equal(setenv(DAILY_NOW_ENV, "soon", 1), 0);
	assert_int_equal(daily_runner_start(&cfg, fx.path, sites, 1, &dr), -EINVAL);
	assert_null(dr);
	runner_fx_close(&fx);
}

/*
 * daily_runner_hook_set: a runner started without a hook runs one set
 * later at its next site-day (a poke here), and "none" again stops it.
 */
static void test_runner_hook_set(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg, nc;
	struct daily_runner *dr;
	struct daily_stats st;
	const char *sites[] = {"campus"};
	char hooked[160];

	runner_fx_open(&fx, &cfg);
	cfg.n_hook = 0;
	snprintf(hooked, sizeof(hooked), "%s/hooked.txt", fx.dir);
	unlink(hooked);

	assert_int_equal(daily_runner_start(&cfg, fx.path, sites, 1, &dr), 0);
	wait_checks(dr, 1, &st);
	assert_int_equal(st.runs, 2);
	assert_int_equal(st.hook_runs, 0);

	/* Added: the next site-day runs it. */
	nc = cfg;
	snprintf(nc.hook[0], sizeof(nc.hook[0]), "/bin/sh");
	snprintf(nc.hook[1], sizeof(nc.hook[1]), "-c");
	snprintf(nc.hook[2], sizeof(nc.hook[2]), "cp \"$0\" %s", hooked);
	nc.n_hook = 3;
	nc.hook_timeout_s = 5;
	assert_int_equal(daily_runner_hook_set(dr, &nc), 0);
	daily_runner_poke(dr);
	wait_checks(dr, 2, &st);
	assert_int_equal(st.runs, 3);
	assert_int_equal(st.hook_runs, 1);
	assert_int_equal(st.hook_failures, 0);
	assert_true(file_has(hooked, "2026-01-01 (UTC)"));

	/* Removed: the next site-day runs none. */
	assert_int_equal(unlink(hooked), 0);
	nc.n_hook = 0;
	assert_int_equal(daily_runner_hook_set(dr, &nc), 0);
	daily_runner_poke(dr);
	wait_checks(dr, 3, &st);
	assert_int_equal(st.runs, 4);
	assert_int_equal(st.hook_runs, 1);
	assert_int_equal(access(hooked, F_OK), -1);

	nc.n_hook = DAILY_HOOK_ARGV_MAX + 1;
	assert_int_equal(daily_runner_hook_set(dr, &nc), -EINVAL);
	assert_int_equal(daily_runner_hook_set(NULL, &nc), 0);
	daily_runner_stop(dr);
	runner_fx_close(&fx);
}

/*
 * A stored analysis written before its day ended (a replay that reached
 * into the day) does not mark the day done: the runner analyses it again
 * once it is over. The day is the one after tomorrow: not ended yet.
 */
static void test_runner_early(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct daily_runner *dr;
	struct daily_stats st = {0};
	struct daily_day day;
	const char *sites[] = {"campus"};
	struct store_slot sl;
	char now_env[32];

	assert_int_equal(daily_day_of((int64_t)time(NULL) + 2 * 86400, "UTC", &day), 0);
	int64_t d0 = day.from_slot;
	fx_open(&fx, d0);
	for (int h = 0; h < 12; h++)
		inside(&fx, d0 + 3 + 12 * h, "10.10.5.5", "\"203.0.113.50\"", "", 1, 1, 4, false);
	fx_flush(&fx);
	test_cfg(&cfg);
	assert_int_equal(daily_run_one(fx.st, fx.st, &cfg, "campus", &day, &st), 0);
	assert_int_equal(st.runs, 1);
	assert_int_equal(store_slot_get(fx.st, "campus@daily", d0, &sl), 0);
	int64_t seq0 = sl.seq;

	/* The next day, 01:00:05: the day's run time has come. */
	snprintf(now_env, sizeof(now_env), "%lld", (long long)day.end_s + 3605);
	assert_int_equal(setenv(DAILY_NOW_ENV, now_env, 1), 0);
	assert_int_equal(daily_runner_start(&cfg, fx.path, sites, 1, &dr), 0);
	wait_checks(dr, 1, &st);
	daily_runner_stop(dr);
	unsetenv(DAILY_NOW_ENV);
	assert_int_equal(st.runs, 1);
	assert_int_equal(st.failures, 0);
	assert_int_equal(store_slot_get(fx.st, "campus@daily", d0, &sl), 0);
	assert_true(sl.seq > seq0); /* written again */
	fx_close(&fx);
}

/*
 * A reload's sites: the runner started with lab only (nothing stored, no
 * run) analyses campus once it is given, and no longer once it is removed.
 */
static void test_runner_sites_set(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct daily_runner *dr;
	struct daily_stats st;
	const char *lab[] = {"lab"}, *both[] = {"lab", "campus"};
	char report[160];

	runner_fx_open(&fx, &cfg);
	snprintf(report, sizeof(report), "%s/campus-2026-01-01.txt", fx.dir);

	assert_int_equal(daily_runner_start(&cfg, fx.path, lab, 1, &dr), 0);
	wait_checks(dr, 1, &st);
	assert_int_equal(st.runs, 0);
	assert_int_equal(access(report, F_OK), -1);

	assert_int_equal(daily_runner_sites_set(dr, both, 2), 0);
	daily_runner_poke(dr);
	wait_checks(dr, 2, &st);
	assert_int_equal(st.runs, 1);
	assert_int_equal(st.failures, 0);
	assert_true(file_has(report, "nfsentry daily report: site campus, 2026-01-01 (UTC)"));

	assert_int_equal(unlink(report), 0);
	assert_int_equal(daily_runner_sites_set(dr, lab, 1), 0);
	daily_runner_poke(dr);
	wait_checks(dr, 3, &st);
	daily_runner_stop(dr);
	assert_int_equal(st.runs, 1);
	assert_int_equal(access(report, F_OK), -1);
	runner_fx_close(&fx);
}

/* store_digest_get callback: zeroes *ud (a size_t) to show it ran. */
static int digest_seen(void *ud, const void *p, size_t len)
{
	(void)p, (void)len;
	*(size_t *)ud = 0;
	return 0;
}

/*
 * A store at schema 3 (before the digests table, as a collector of that
 * time left it): a read-only open refuses it unless read_schema3, which
 * opens it as it is; the analysis then reads every slot from its
 * documents and reports what the schema-4 store does; writes still fail.
 */
static void test_schema3_store(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;
	struct store_opts ro;
	struct store *old = NULL;
	char err[256];

	fx_open_digests(&fx, DAY0 - 1);
	slots(&fx, DAY0, DAY0 + 288, -1);
	plant_day(&fx);
	fx_flush(&fx);
	test_cfg(&cfg);
	struct run_out now = run_day(&fx, &cfg);
	assert_int_equal(now.slots_digest, 288);
	assert_true(now.n_suspects >= 3);
	store_close(fx.st);
	fx.st = NULL;

	/* What the file was before the 3 -> 4 migration. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(fx.path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "DROP TABLE digests; UPDATE meta SET value = '3' "
	                              "WHERE name = 'schema_version'",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);

	store_opts_defaults(&ro);
	ro.read_only = true;
	assert_int_equal(store_open(fx.path, &ro, &old, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_null(old);
	ro.read_schema3 = true;
	assert_int_equal(store_open(fx.path, &ro, &fx.st, err, sizeof(err)), 0);
	struct run_out three = run_day(&fx, &cfg);
	assert_int_equal(three.slots_digest, 0);
	assert_int_equal(three.digests_bad, 0);
	assert_string_equal(three.text, now.text);
	struct store_doc d = {"slot", "", "{}", 2};
	assert_int_not_equal(store_slot_write_digest(fx.st, "campus", DAY0, &d, 1, NULL, "x", 1),
	                     0);
	store_close(fx.st);
	fx.st = NULL;

	/* read_schema3 leaves a read-write open as it was: it migrates the file. */
	store_opts_defaults(&ro);
	ro.read_schema3 = true;
	assert_int_equal(store_open(fx.path, &ro, &fx.st, err, sizeof(err)), 0);
	struct run_out migrated = run_day(&fx, &cfg);
	assert_int_equal(migrated.slots_digest, 0);
	assert_string_equal(migrated.text, now.text);
	/* Migrated: it has the digests table, written and read as usual. */
	void *dg = NULL;
	size_t dg_len = 0;
	assert_int_equal(daily_digest_build(DAY0, &d, 1, 2, 3, &dg, &dg_len), 0);
	assert_int_equal(store_slot_write_digest(fx.st, "campus", DAY0, &d, 1, NULL, dg, dg_len),
	                 0);
	free(dg);
	assert_int_equal(store_digest_get(fx.st, "campus", DAY0, digest_seen, &dg_len), 0);
	assert_int_equal(dg_len, 0);
	free(now.text);
	free(three.text);
	free(migrated.text);
	fx_close(&fx);
}

/*
 * Slots whose slot document counts few offenders: pass 0 reads their
 * offender documents and pass 1 their digest, checksum and all; slots with
 * many (or no count) read the digest in both. Same report as the
 * documents; a corrupt digest is counted, in either kind of slot, and its
 * slot read from documents; unfit digests likewise.
 */
static void test_few_offenders(void **state)
{
	(void)state;
	struct fixture fx;
	struct daily_config cfg;

	fx_open_digests(&fx, DAY0 - 1);
	for (int64_t ts = DAY0 - 1; ts < DAY0 + 288; ts++) {
		int k = (int)(ts - DAY0);
		if (k % 2 == 0)
			add(&fx, ts, "slot", "", "\"offenders\":1,\"labels\":{\"scan\":0}");
		else if (k % 3 == 0)
			add(&fx, ts, "slot", "", "\"offenders\":100000,\"labels\":{\"scan\":0}");
		else
			add(&fx, ts, "slot", "", "\"labels\":{\"scan\":0}");
	}
	plant_day(&fx);
	gen_day(&fx, 7);
	fx_flush(&fx);
	test_cfg(&cfg);

	/* Found by pass 1 (few offenders), pass 0 (many), pass 0 (no count). */
	const int64_t corrupt[] = {DAY0 + 100, DAY0 + 99, DAY0 + 101};
	check_digests_as_documents(&fx, &cfg, corrupt, 3);
	fx_close(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_day),           cmocka_unit_test(test_partial),
	    cmocka_unit_test(test_days),          cmocka_unit_test(test_day_in_zone),
	    cmocka_unit_test(test_offender_db),   cmocka_unit_test(test_probe_targets),
	    cmocka_unit_test(test_jscan_getv),    cmocka_unit_test(test_schedule),
	    cmocka_unit_test(test_runner),        cmocka_unit_test(test_dst_day),
	    cmocka_unit_test(test_runner_early),  cmocka_unit_test(test_order),
	    cmocka_unit_test(test_digest_path),   cmocka_unit_test(test_digest_bounds),
	    cmocka_unit_test(test_digest_damage), cmocka_unit_test(test_runner_hook_set),
	    cmocka_unit_test(test_runner_sites_set),
	    cmocka_unit_test(test_schema3_store),
	    cmocka_unit_test(test_few_offenders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
