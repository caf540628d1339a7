/*
 * gendailystore: a store holding one busy site's day, for tools/bench_daily
 * (the cost of `nfsentry daily`, docs/benchmarks.md). Writes the documents
 * straight through store_slot_write_digest(), one transaction per slot,
 * with the slot's daily digest as the closer makes it (for the default
 * max_peers and probe_targets; none with --no-digest), in the
 * shape and member order doc.c and the l2 merge write them (only what a
 * judged slot would hold; figures made up, deterministic: a 64-bit xorshift
 * seeded with --seed).
 *
 * Per slot (--slots, from the UTC midnight of --date, site --site):
 *   - one `slot` document (with its count of offender documents, 70);
 *   - one `inside` document for every active inside IP of 10.0.0.0/8
 *     (--inside hosts, numbered from 10.0.0.1): 70 % clients with 3..12
 *     peers of their own (from 200 000 outside IPs), 15 % servers answering
 *     5..40 outside clients (repliedTo) plus one peer of their own, 12 %
 *     quiet hosts active one slot in four with one or two peers drawn from
 *     a few dozen (they collect more than two over the day), 2.5 % hosts
 *     with two fixed peers and too many packets (candidates that the exact
 *     figures reject), 0.5 % beacons (one fixed peer, one slot in twelve);
 *   - 50 scanners (label scan, 200 inside IPs each in ipList) and 20
 *     unlabelled offenders each sending to one or two inside IPs;
 *   - one `arpMac` document per active inside IP as the gateway "gw1" shows
 *     it (MAC from the host number; one in a thousand MACs shows a second
 *     IP), unless --no-arp.
 *
 * With --digest-only the store holds each slot's digest (made from all the
 * slot's documents, so its counts are the full slot's) but of the documents
 * only those the analysis reads by key or range when every slot has a
 * digest: the `slot` documents, the offenders, and the inside documents of
 * every host but the clients (a client has at least 3 own peers in a slot,
 * so an analysis with max_peers below 3 drops it and never reads its
 * documents by key). The clients' and the arpMac documents (70 % and half
 * of the rest) are left out, so a whole day (288 slots) builds in minutes
 * and takes GBs less; `nfsentry daily` gives the same output on it as on
 * the full store, `--from-documents` does not (it lacks documents).
 *
 * usage: gendailystore STORE [--inside N] [--slots N] [--date YYYY-MM-DD]
 *                            [--site NAME] [--seed X] [--no-arp] [--no-digest]
 *                            [--digest-only]
 * Prints the documents and bytes written and the time taken, and per slot
 * the time the digest took to make and the store write (what the digest
 * adds to the closer's slot close).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/clock.h"
#include "nfsentry/daily.h"
#include "nfsentry/store.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint32_t rnd_in(uint32_t lo, uint32_t hi) /* lo..hi */
{
	return lo + (uint32_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* Text buffer of one slot's documents: all JSON bytes back to back. */
struct buf {
	char *p;
	size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (n < 0) {
			perror("gendailystore: vsnprintf");
			exit(1);
		}
		if ((size_t)n < b->cap - b->n) {
			b->n += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 1;
		if (!(b->p = realloc(b->p, b->cap))) {
			perror("gendailystore: realloc");
			exit(1);
		}
	}
}

struct pend {
	char kind[12], key[48];
	size_t off, len;
};

static struct pend *pend;
static bool *pend_keep; /* per pending document: stored with --digest-only */
static size_t n_pend, cap_pend;
static bool keep_next; /* the next document begun is one of those */

static void doc_begin(struct buf *b, const char *kind, const char *key)
{
	if (n_pend == cap_pend) {
		cap_pend = cap_pend ? cap_pend * 2 : 65536;
		if (!(pend = realloc(pend, cap_pend * sizeof(*pend))) ||
		    !(pend_keep = realloc(pend_keep, cap_pend * sizeof(*pend_keep)))) {
			perror("gendailystore: realloc");
			exit(1);
		}
	}
	pend_keep[n_pend] = keep_next;
	keep_next = false;
	struct pend *e = &pend[n_pend++];
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->off = b->n;
}

static void doc_end(struct buf *b)
{
	pend[n_pend - 1].len = b->n - pend[n_pend - 1].off;
}

static void inside_ip(uint32_t h, char *buf, size_t len)
{
	uint32_t a = h + 1;
	snprintf(buf, len, "10.%u.%u.%u", (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static void outside_ip(uint32_t o, char *buf, size_t len)
{
	snprintf(buf, len, "198.%u.%u.%u", 18 + ((o >> 16) & 1), (o >> 8) & 255, o & 255);
}

enum role { CLIENT, SERVER, QUIET, HEAVY, BEACON };

static enum role role_of(uint32_t h)
{
	uint32_t r = h % 1000;
	return r < 700 ? CLIENT : r < 850 ? SERVER : r < 970 ? QUIET : r < 995 ? HEAVY : BEACON;
}

static void put_inside(struct buf *b, const char *site, int64_t ts, const char *stamp, uint32_t h,
                       enum role role)
{
	char ip[32], peer[32];
	uint32_t own[16], rep[48], n_own = 0, n_rep = 0;
	uint64_t flows, packets;

	switch (role) {
	case CLIENT:
		n_own = rnd_in(3, 12);
		for (uint32_t k = 0; k < n_own; k++)
			own[k] = (uint32_t)(rnd() % 200000);
		break;
	case SERVER:
		own[n_own++] = 199000 + h % 16; /* its update server */
		n_rep = rnd_in(5, 40);
		for (uint32_t k = 0; k < n_rep; k++)
			rep[k] = (uint32_t)(rnd() % 200000);
		break;
	case QUIET:
		n_own = rnd_in(1, 2);
		for (uint32_t k = 0; k < n_own; k++)
			own[k] = 130000 + (h * 7 + (uint32_t)(rnd() % 40)) % 60000;
		break;
	case HEAVY:
		own[n_own++] = 100000 + h % 5000;
		own[n_own++] = 105000 + h % 5000;
		break;
	case BEACON:
		own[n_own++] = 120000 + h % 5000;
		break;
	}
	uint32_t peers = n_own + n_rep;
	flows = role == HEAVY ? 40 : role == BEACON ? 1 : peers * rnd_in(1, 4);
	packets = role == HEAVY ? 2000 : role == BEACON ? 4 : flows * rnd_in(3, 30);
	inside_ip(h, ip, sizeof(ip));
	keep_next = role != CLIENT;
	doc_begin(b, "inside", ip);
	put(b,
	    "{\"kind\":\"inside\",\"site\":\"%s\",\"timeSlot\":%lld,\"@timestamp\":\"%s\","
	    "\"ip\":\"%s\",\"flows\":%llu,\"packets\":%llu,\"octets\":%llu,\"inFlows\":%llu,"
	    "\"inPackets\":%llu,\"inOctets\":%llu,\"unansweredFlows\":0,\"unansweredPackets\":0,"
	    "\"peers\":%u,\"answeredPeers\":%u,\"peerCapHit\":false,\"arrayPeer\":[",
	    site, (long long)ts, stamp, ip, (unsigned long long)flows, (unsigned long long)packets,
	    (unsigned long long)packets * 180, (unsigned long long)flows,
	    (unsigned long long)packets, (unsigned long long)packets * 700, peers, peers);
	/* arrayPeer in first-seen order: the answered ones interleaved with its own. */
	for (uint32_t k = 0, i = 0, j = 0; k < peers; k++) {
		bool mine = i < n_own && (j >= n_rep || k % 3 == 0);
		outside_ip(mine ? own[i++] : rep[j++], peer, sizeof(peer));
		put(b, "%s\"%s\"", k ? "," : "", peer);
	}
	put(b, "],\"repliedTo\":[");
	for (uint32_t k = 0, i = 0, j = 0; k < peers; k++) {
		bool mine = i < n_own && (j >= n_rep || k % 3 == 0);
		if (mine) {
			i++;
			continue;
		}
		outside_ip(rep[j++], peer, sizeof(peer));
		put(b, "%s\"%s\"", j > 1 ? "," : "", peer);
	}
	uint32_t m = h + 1;
	put(b,
	    "],\"allowListed\":false,\"arpMacList\":[\"02:00:%02x:%02x:%02x:%02x\"],"
	    "\"arpLocations\":[{\"mac\":\"02:00:%02x:%02x:%02x:%02x\",\"device\":\"gw1\","
	    "\"interfaceList\":[\"Vlan%u\"]}],\"labels\":[],\"reasons\":{}}",
	    m >> 24, (m >> 16) & 255, (m >> 8) & 255, m & 255, m >> 24, (m >> 16) & 255,
	    (m >> 8) & 255, m & 255, 10 + (h >> 12));
	doc_end(b);
}

static void put_arpmac(struct buf *b, const char *site, int64_t ts, const char *stamp, uint32_t h)
{
	char ip[32], ip2[32], key[48], mac[24];
	uint32_t m = h + 1;

	snprintf(mac, sizeof(mac), "02:00:%02x:%02x:%02x:%02x", m >> 24, (m >> 16) & 255,
	         (m >> 8) & 255, m & 255);
	snprintf(key, sizeof(key), "%s@gw1", mac);
	inside_ip(h, ip, sizeof(ip));
	/* One MAC in a thousand shows a second address (not in the inside hosts' range). */
	if (h % 1000 == 7)
		snprintf(ip2, sizeof(ip2), ",\"10.255.%u.%u\"", (h >> 8) & 255, h & 255);
	else
		ip2[0] = '\0';
	doc_begin(b, "arpMac", key);
	put(b,
	    "{\"kind\":\"arpMac\",\"site\":\"%s\",\"timeSlot\":%lld,\"@timestamp\":\"%s\","
	    "\"mac\":\"%s\",\"device\":\"gw1\",\"timestamp\":%lld,\"ipList\":[\"%s\"%s],"
	    "\"interfaceList\":[\"Vlan%u\"],\"vlanList\":[],\"typeList\":[\"Dynamic\"],"
	    "\"observations\":1,\"labels\":[],\"reasons\":{}}",
	    site, (long long)ts, stamp, mac, (long long)ts * 300000 + 120000, ip, ip2,
	    10 + (h >> 12));
	doc_end(b);
}

static void put_offender(struct buf *b, const char *site, int64_t ts, const char *stamp, uint32_t o,
                         uint32_t inside, bool scanner)
{
	char ip[32], t[32];
	uint32_t n = scanner ? 200 : rnd_in(1, 2);

	snprintf(ip, sizeof(ip), "192.0.%u.%u", scanner ? 2 : 3, o);
	keep_next = true;
	doc_begin(b, "offender", ip);
	put(b,
	    "{\"kind\":\"offender\",\"site\":\"%s\",\"timeSlot\":%lld,\"@timestamp\":\"%s\","
	    "\"ip\":\"%s\",\"flows\":%u,\"packets\":%u,\"octets\":%u,\"touchPeers\":%u,\"ipList\":"
	    "[",
	    site, (long long)ts, stamp, ip, n, n * 2, n * 120, n);
	for (uint32_t k = 0; k < n; k++) {
		inside_ip((uint32_t)(rnd() % inside), t, sizeof(t));
		put(b, "%s\"%s\"", k ? "," : "", t);
	}
	put(b,
	    "],\"unusedTouched\":0,\"unusedFlows\":0,\"unusedPackets\":0,\"unusedOctets\":0,"
	    "\"startedTargets\":%u,\"protocol\":\"tcp\",\"labels\":[%s],\"reasons\":{}}",
	    n, scanner ? "\"scan\"" : "");
	doc_end(b);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"inside", required_argument, NULL, 'i'},
	                                     {"slots", required_argument, NULL, 'n'},
	                                     {"date", required_argument, NULL, 'd'},
	                                     {"site", required_argument, NULL, 's'},
	                                     {"seed", required_argument, NULL, 'x'},
	                                     {"no-arp", no_argument, NULL, 'a'},
	                                     {"no-digest", no_argument, NULL, 'g'},
	                                     {"digest-only", no_argument, NULL, 'o'},
	                                     {NULL, 0, NULL, 0}};
	uint32_t inside = 50000, n_slots = 288;
	const char *date = "2026-01-02", *site = "busy";
	bool arp = true, digest = true, digest_only = false;
	uint64_t digest_us = 0, write_us = 0, digest_bytes = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;
		unsigned long v = 0;
		if (c == 'i' || c == 'n' || c == 'x') {
			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || *end || v == 0 || (c != 'x' && v > 1u << 24)) {
				fprintf(stderr, "gendailystore: bad number %s\n", optarg);
				return 2;
			}
		}
		switch (c) {
		case 'i':
			inside = (uint32_t)v;
			break;
		case 'n':
			n_slots = (uint32_t)v;
			break;
		case 'x':
			rng = v;
			break;
		case 'd':
			date = optarg;
			break;
		case 's':
			site = optarg;
			break;
		case 'a':
			arp = false;
			break;
		case 'g':
			digest = false;
			break;
		case 'o':
			digest_only = true;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: gendailystore STORE [--inside N] [--slots N] "
		                "[--date YYYY-MM-DD] [--site NAME] [--seed X] [--no-arp] "
		                "[--no-digest] [--digest-only]\n");
		return 2;
	}
	if (digest_only && !digest) {
		fprintf(stderr, "gendailystore: --digest-only needs the digest\n");
		return 2;
	}
	struct tm tm = {0};
	if (!strptime(date, "%Y-%m-%d", &tm)) {
		fprintf(stderr, "gendailystore: bad date %s\n", date);
		return 2;
	}
	int64_t slot0 = (int64_t)timegm(&tm) / STORE_SLOT_SECONDS;

	struct store_opts so;
	struct store *st;
	char err[512];
	store_opts_defaults(&so);
	so.retention_days = 0;
	so.cache_kib = 2u << 20; /* the key index takes random inserts: keep it in memory */
	if (store_open(argv[optind], &so, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "gendailystore: %s\n", err);
		return 1;
	}
	struct buf b = {0};
	struct store_doc *docs = NULL;
	uint64_t n_docs = 0, n_stored = 0, bytes = 0, t0 = clock_ms(CLOCK_MONOTONIC);
	for (uint32_t s = 0; s < n_slots; s++) {
		int64_t ts = slot0 + s;
		time_t t = (time_t)(ts * STORE_SLOT_SECONDS);
		char stamp[32];
		struct tm g;
		gmtime_r(&t, &g);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &g);
		b.n = 0;
		n_pend = 0;
		keep_next = true;
		doc_begin(&b, "slot", "");
		put(&b,
		    "{\"kind\":\"slot\",\"site\":\"%s\",\"timeSlot\":%lld,\"@timestamp\":\"%s\","
		    "\"records\":%u,\"insideActive\":%u,\"offenders\":70,\"labels\":{"
		    "\"noPayload\":0,\"flood\":0,\"scan\":50,\"probeUnused\":0,\"arpUnused\":0}}",
		    site, (long long)ts, stamp, inside * 20, inside);
		doc_end(&b);
		for (uint32_t h = 0; h < inside; h++) {
			enum role r = role_of(h);
			if ((r == QUIET && (s + h) % 4 != 0) ||
			    (r == BEACON && (s + h) % 12 != 0) || (r == HEAVY && (s + h) % 6 != 0))
				continue;
			put_inside(&b, site, ts, stamp, h, r);
			if (arp)
				put_arpmac(&b, site, ts, stamp, h);
		}
		for (uint32_t o = 0; o < 50; o++)
			put_offender(&b, site, ts, stamp, o + 1, inside, true);
		for (uint32_t o = 0; o < 20; o++)
			put_offender(&b, site, ts, stamp, (s * 20 + o) % 250 + 1, inside, false);
		if (!(docs = realloc(docs, n_pend * sizeof(*docs)))) {
			perror("gendailystore: realloc");
			return 1;
		}
		for (size_t k = 0; k < n_pend; k++)
			docs[k] = (struct store_doc){pend[k].kind, pend[k].key, b.p + pend[k].off,
			                             pend[k].len};
		void *dg = NULL;
		size_t dg_len = 0;
		uint64_t t1 = clock_us(CLOCK_THREAD_CPUTIME_ID);
		if (digest && (daily_digest_build(ts, docs, n_pend, DAILY_DEFAULT_MAX_PEERS,
		                                  DAILY_DEFAULT_PROBE_TARGETS, &dg, &dg_len) != 0)) {
			fprintf(stderr, "gendailystore: slot %lld: no digest\n", (long long)ts);
			return 1;
		}
		uint64_t t2 = clock_us(CLOCK_THREAD_CPUTIME_ID);
		/* --digest-only: keep the documents read by key (see the top). */
		size_t n_keep = n_pend;
		if (digest_only) {
			n_keep = 0;
			for (size_t k = 0; k < n_pend; k++)
				if (pend_keep[k])
					docs[n_keep++] = docs[k];
		}
		int rc = store_slot_write_digest(st, site, ts, docs, n_keep, NULL, dg, dg_len);
		digest_us += t2 - t1;
		write_us += clock_us(CLOCK_THREAD_CPUTIME_ID) - t2;
		digest_bytes += dg_len;
		free(dg);
		if (rc != 0) {
			fprintf(stderr, "gendailystore: slot %lld: %s\n", (long long)ts,
			        store_error_get(st));
			return 1;
		}
		n_docs += n_pend;
		n_stored += n_keep;
		bytes += b.n;
	}
	store_close(st);
	printf("gendailystore: %u slots, %llu documents (%llu stored), %.1f MB of JSON, %.1f s\n",
	       n_slots, (unsigned long long)n_docs, (unsigned long long)n_stored,
	       (double)bytes / 1e6, (double)(clock_ms(CLOCK_MONOTONIC) - t0) / 1000.0);
	printf("gendailystore: per slot, CPU: digest %.1f ms (%.2f MB), store write %.1f ms\n",
	       (double)digest_us / 1000.0 / n_slots, (double)digest_bytes / 1e6 / n_slots,
	       (double)write_us / 1000.0 / n_slots);
	free(docs);
	free(pend);
	free(pend_keep);
	free(b.p);
	return 0;
}
