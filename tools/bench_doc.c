/*
 * bench_doc: the documents of one judged slot, built over and over
 * (doc_slot_build_l2), on a synthetic slot of realistic size. Reports the
 * median wall and CPU time of the build, the documents and their bytes; with
 * --out FILE it also writes every document ("kind key json" per line), so
 * that two builds of src/doc/doc.c can be compared byte for byte.
 *
 * The slot (fixed, no randomness from outside; a 64-bit xorshift seeded
 * with --seed): --inside inside IPv4 hosts of 10.0.0.0/16, one in twenty
 * with 1 000 peers and the others with 1..50; every tenth inside host also
 * has an IPv6 address in 2001:db8:100::/48 with a few IPv6 peers; peers are
 * drawn from a population of 300 000 outside IPv4 addresses (Zipf-like), 90 %
 * answer. --scanners outside hosts each probe 40 unused inside addresses
 * (probeUnused, array C); a few hosts flood, and a stub of the layer-2
 * callbacks adds MAC fields to every seventh inside host and calls every
 * fifth unused address unresolved (arpUnused). Documents: outside top 1 000
 * plus the labelled ones. The slot engine builds and judges it
 * (slot_add, slot_finish, judge_slot_l2) before anything is timed.
 *
 * With --arp N it also times the layer-2 documents (l2_doc_build): a merge
 * of N inside IPv4 hosts as a gateway's ARP table shows them (one in twenty
 * incomplete, the rest with a MAC on VLAN interface "Vlan10") and as two
 * access switches' MAC tables show the same MACs (port "Gi1/0/<k>"), so
 * N arpIp and about 2 N arpMac documents. --out then writes them after the
 * slot's.
 *
 * Under callgrind, count only the builds:
 *   valgrind --tool=callgrind --toggle-collect=doc_slot_build_l2 bench_doc --runs 1
 *
 * usage: bench_doc [--inside N] [--scanners N] [--seed X] [--runs R] [--arp N] [--out FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/doc.h"
#include "nfsentry/judge.h"
#include "nfsentry/l2.h"
#include "nfsentry/site.h"
#include "nfsentry/slot.h"

#define MAX_RUNS 101
#define T0_MS 1767225600000ull /* 2026-01-01T00:00:00Z, slot 5890752 */
#define OUTSIDE_POP 300000u

static uint64_t rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void v4(struct flow_addr *a, uint32_t ip)
{
	uint8_t b[4] = {(uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip};
	flow_addr_from_v4(a, b);
}

static void v6(struct flow_addr *a, uint16_t g0, uint16_t g1, uint16_t g2, uint32_t low)
{
	uint8_t b[16] = {(uint8_t)(g0 >> 8), (uint8_t)g0, (uint8_t)(g1 >> 8), (uint8_t)g1,
	                 (uint8_t)(g2 >> 8), (uint8_t)g2, 0, 0, 0, 0, 0, 0,
	                 (uint8_t)(low >> 24), (uint8_t)(low >> 16), (uint8_t)(low >> 8), (uint8_t)low};
	flow_addr_from_v6(a, b);
}

/* Outside host r of the population, Zipf-like: low numbers are popular. */
static uint32_t outside_ip(uint64_t r)
{
	double u = (double)(r >> 11) / 9007199254740992.0;
	uint32_t k = (uint32_t)((double)OUTSIDE_POP * u * u * u);
	return 0x5d000000u + k * 7u; /* 93.0.0.0 onward, spread */
}

static void add(struct slot *s, enum slot_dir dir, const struct flow_addr *src,
                const struct flow_addr *dst, uint8_t proto, uint16_t sport, uint16_t dport,
                uint8_t flags, uint64_t packets, uint64_t octets, uint64_t first_ms)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.src = *src;
	f.dst = *dst;
	f.proto = proto;
	f.sport = sport;
	f.dport = dport;
	f.tcp_flags = flags;
	f.packets = packets;
	f.octets = octets;
	f.first_ms = first_ms;
	f.last_ms = first_ms + 1000;
	f.export_ms = T0_MS + 60000;
	f.sampling = 1;
	slot_add(s, dir, &f);
}

static struct slot *build_slot(const struct site_config *site, uint32_t n_inside,
                               uint32_t n_scanners, uint64_t seed)
{
	struct slot *s = slot_create(site, 0, 5890752, 7);
	struct flow_addr in, out;

	if (!s)
		return NULL;
	for (uint32_t i = 0; i < n_inside; i++) {
		uint32_t peers = i % 20 == 3 ? 1000 : 1 + (uint32_t)(rng(&seed) % 50);
		v4(&in, 0x0a000000u + 256 + i);
		for (uint32_t k = 0; k < peers; k++) {
			v4(&out, outside_ip(rng(&seed)));
			uint64_t t = T0_MS + rng(&seed) % 290000;
			uint64_t pk = 1 + rng(&seed) % 40;
			uint16_t sport = (uint16_t)(32768 + rng(&seed) % 28000);
			bool udp = rng(&seed) % 4 == 0;
			add(s, SLOT_EGRESS, &in, &out, udp ? 17 : 6, sport, udp ? 53 : 443, 0x1a, pk,
			    pk * (60 + rng(&seed) % 1400), t);
			if (rng(&seed) % 10 != 0)
				add(s, SLOT_INGRESS, &out, &in, udp ? 17 : 6, udp ? 53 : 443, sport, 0x1a,
				    pk * 2, pk * 2 * (200 + rng(&seed) % 1200), t + 5);
		}
		if (i % 10 == 0) {
			v6(&in, 0x2001, 0xdb8, 0x100, i);
			for (uint32_t k = 0; k < 5; k++) {
				v6(&out, 0x2a00, (uint16_t)(k * 0x1450), 0, (uint32_t)(rng(&seed) % 4096));
				add(s, SLOT_EGRESS, &in, &out, 6, 40000, 443, 0x1a, 10, 4000, T0_MS + k);
				add(s, SLOT_INGRESS, &out, &in, 6, 443, 40000, 0x1a, 12, 9000, T0_MS + k);
			}
		}
	}
	/* Scanners: one-way SYNs to unused addresses, some to active ones. */
	for (uint32_t c = 0; c < n_scanners; c++) {
		v4(&out, 0xc6336400u + c); /* 198.51.100.0 onward */
		for (uint32_t k = 0; k < 40; k++) {
			uint32_t tgt = k % 8 == 0 ? 256 + (uint32_t)(rng(&seed) % n_inside)
			                          : 0x8000 + (uint32_t)(rng(&seed) % 0x7000);
			v4(&in, 0x0a000000u + tgt);
			add(s, SLOT_INGRESS, &out, &in, 6, 55555, 445, 0x02, 1 + c % 3, 60, T0_MS + k);
		}
	}
	/* Floods: many packets from a few outside hosts to one inside host. */
	for (uint32_t c = 0; c < 8; c++) {
		v4(&out, 0xcb007100u + c); /* 203.0.113.0 onward */
		v4(&in, 0x0a000000u + 256 + c);
		for (uint32_t k = 0; k < 50; k++)
			add(s, SLOT_INGRESS, &out, &in, c % 2 ? 17 : 6, (uint16_t)(1000 + k), 80, 0x02,
			    200000, 200000 * 60, T0_MS + k);
	}
	return s;
}

/* The layer-2 stub: MAC fields for every seventh host, every fifth unused
 * address unresolved. */
static bool stub_unresolved(const void *ud, const struct flow_addr *ip)
{
	(void)ud;
	return flow_addr_is_v4(ip) && ip->b[14] >= 0x80 && ip->b[15] % 5 == 0;
}

/* One MAC per host, kept here between the calls (the build is single-threaded). */
static uint8_t stub_mac[1][6];

static uint32_t stub_macs(const void *ud, const struct flow_addr *ip, const uint8_t (**out)[6])
{
	(void)ud;
	if (ip->b[15] % 7)
		return 0;
	uint8_t mac[6] = {0x02, 0, 0, 0, ip->b[14], ip->b[15]};
	memcpy(stub_mac[0], mac, 6);
	*out = (const uint8_t(*)[6])stub_mac;
	return 1;
}

static char stub_ifname[] = "Gi1/0/7";
static char *const stub_ifnames[] = {stub_ifname};

static bool stub_place(const void *ud, const uint8_t mac[6], uint32_t k, struct doc_l2_place *out)
{
	(void)ud;
	(void)mac;
	if (k > 0)
		return false;
	out->device = "core-sw1";
	out->ifnames = stub_ifnames;
	out->n_ifnames = 1;
	return true;
}

/* The merge of --arp: n hosts on a gateway and two access switches. */
static struct l2_merge *build_arp(uint32_t n)
{
	struct l2_merge *m = l2_merge_create("campus", 5890752, NULL);
	struct l2_obs *gw = calloc(n, sizeof(*gw)), *sw = calloc((size_t)n + 2, sizeof(*sw));
	size_t n_gw = 0, n_sw[2] = {0, 0};

	if (!m || !gw || !sw) {
		free(gw);
		free(sw);
		l2_merge_destroy(m);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct l2_obs *o = &gw[n_gw++];
		v4(&o->ip, 0x0a000000u + 256 + i);
		o->has_ip = true;
		o->vlan = -1;
		o->age_s = i % 600;
		if (i % 20 == 7) {
			o->state = L2_STATE_INCOMPLETE;
			snprintf(o->state_raw, sizeof(o->state_raw), "Incomplete");
			continue;
		}
		uint8_t mac[6] = {0x02, 0, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		memcpy(o->mac, mac, 6);
		o->has_mac = true;
		o->state = L2_STATE_DYNAMIC;
		snprintf(o->ifname, sizeof(o->ifname), "Vlan10");
		/* The switch rows: halves of the hosts on each, all on VLAN 10. */
		struct l2_obs *r = &sw[(i & 1) * (n / 2 + 1) + n_sw[i & 1]++];
		memcpy(r->mac, mac, 6);
		r->has_mac = true;
		r->state = L2_STATE_DYNAMIC;
		r->age_s = -1;
		r->vlan = 10;
		snprintf(r->ifname, sizeof(r->ifname), "Gi1/0/%u", 1 + i % 48);
	}
	int rc = l2_merge_add(m, "gw", T0_MS + 10000, gw, n_gw);
	if (rc == 0)
		rc = l2_merge_add(m, "access-sw1", T0_MS + 11000, sw, n_sw[0]);
	if (rc == 0)
		rc = l2_merge_add(m, "access-sw2", T0_MS + 12000, sw + n / 2 + 1, n_sw[1]);
	if (rc == 0)
		rc = l2_merge_finish(m);
	free(gw);
	free(sw);
	if (rc != 0) {
		l2_merge_destroy(m);
		return NULL;
	}
	return m;
}

static double ms_since(const struct timespec *a, clockid_t clk)
{
	struct timespec b;
	clock_gettime(clk, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* --arp: time l2_doc_build on the merge of build_arp(n). */
static int bench_arp(uint32_t n, uint32_t runs, const char *out_path)
{
	struct l2_merge *m = build_arp(n);
	double wall[MAX_RUNS], cpu[MAX_RUNS];
	size_t n_docs = 0, bytes = 0;

	if (!m) {
		fprintf(stderr, "bench_doc: out of memory building the ARP merge\n");
		return 1;
	}
	for (uint32_t r = 0; r < runs; r++) {
		struct doc_batch b = {0};
		struct timespec t0, c0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
		int rc = l2_doc_build(m, &b);
		wall[r] = ms_since(&t0, CLOCK_MONOTONIC);
		cpu[r] = ms_since(&c0, CLOCK_PROCESS_CPUTIME_ID);
		if (rc) {
			fprintf(stderr, "bench_doc: l2_doc_build: %s\n", strerror(-rc));
			l2_merge_destroy(m);
			return 1;
		}
		n_docs = b.n;
		bytes = 0;
		for (size_t k = 0; k < b.n; k++)
			bytes += b.v[k].len;
		if (r == 0 && out_path) {
			FILE *f = fopen(out_path, "a");
			if (!f) {
				fprintf(stderr, "bench_doc: %s: %s\n", out_path, strerror(errno));
				l2_merge_destroy(m);
				return 1;
			}
			for (size_t k = 0; k < b.n; k++)
				fprintf(f, "%s %s %s\n", b.v[k].kind, b.v[k].key, b.v[k].json);
			if (fclose(f) != 0) {
				fprintf(stderr, "bench_doc: %s: %s\n", out_path, strerror(errno));
				l2_merge_destroy(m);
				return 1;
			}
		}
		doc_batch_free(&b);
	}
	l2_merge_destroy(m);
	qsort(wall, runs, sizeof(double), dcmp);
	qsort(cpu, runs, sizeof(double), dcmp);
	printf("layer-2 documents: %zu, %zu bytes of JSON\n", n_docs, bytes);
	printf("l2_doc_build, median of %u: %.2f ms wall, %.2f ms CPU (min %.2f / %.2f)\n", runs,
	       wall[runs / 2], cpu[runs / 2], wall[0], cpu[0]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"inside", required_argument, NULL, 'i'}, {"scanners", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 's'},   {"runs", required_argument, NULL, 'r'},
		{"out", required_argument, NULL, 'o'},    {"arp", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	uint32_t n_inside = 4000, n_scanners = 200, runs = 5, seed32 = 1, n_arp = 0;
	const char *out_path = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 'i': rc = parse_u32(optarg, 1, 30000, &n_inside); break;
		case 'c': rc = parse_u32(optarg, 0, 10000, &n_scanners); break;
		case 's': rc = parse_u32(optarg, 1, UINT32_MAX, &seed32); break;
		case 'r': rc = parse_u32(optarg, 1, MAX_RUNS, &runs); break;
		case 'o': out_path = optarg; break;
		case 'a': rc = parse_u32(optarg, 1, 1000000, &n_arp); break;
		default: rc = -EINVAL; break;
		}
		if (rc) {
			fprintf(stderr, "usage: bench_doc [--inside N] [--scanners N] [--seed X] "
			                "[--runs R] [--arp N] [--out FILE]\n");
			return 2;
		}
	}

	struct site_config site;
	memset(&site, 0, sizeof(site));
	site_config_defaults(&site);
	memcpy(site.name, "campus", 7);
	struct slot *s = build_slot(&site, n_inside, n_scanners, seed32);
	if (!s || !slot_finish(s)) {
		fprintf(stderr, "bench_doc: out of memory building the slot\n");
		return 1;
	}
	struct slot_view *v = slot_view_mut(s);
	struct judge_l2 l2 = {.unresolved = stub_unresolved};
	struct doc_l2 dl2 = {.unresolved = stub_unresolved, .macs = stub_macs, .place = stub_place};
	struct judge_result jr;
	if (judge_slot_l2(v, &l2, &jr) != 0) {
		fprintf(stderr, "bench_doc: out of memory judging the slot\n");
		slot_destroy(s);
		return 1;
	}

	struct doc_counter hc[] = {{"datagrams", 33344}, {"records", 1000000}, {"setLength", 0}};
	struct doc_health h = {hc, 3};
	struct doc_opts o = {.outside_all = false, .outside_top = 1000};
	double wall[MAX_RUNS], cpu[MAX_RUNS], free_ms[MAX_RUNS];
	size_t n_docs = 0, bytes = 0;

	for (uint32_t r = 0; r < runs; r++) {
		struct doc_batch b = {0};
		struct timespec t0, c0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
		int rc = doc_slot_build_l2(v, &jr, &o, &h, &dl2, &b);
		wall[r] = ms_since(&t0, CLOCK_MONOTONIC);
		cpu[r] = ms_since(&c0, CLOCK_PROCESS_CPUTIME_ID);
		if (rc) {
			fprintf(stderr, "bench_doc: doc_slot_build_l2: %s\n", strerror(-rc));
			return 1;
		}
		n_docs = b.n;
		bytes = 0;
		for (size_t k = 0; k < b.n; k++)
			bytes += b.v[k].len;
		if (r == 0 && out_path) {
			FILE *f = fopen(out_path, "w");
			if (!f) {
				fprintf(stderr, "bench_doc: %s: %s\n", out_path, strerror(errno));
				return 1;
			}
			for (size_t k = 0; k < b.n; k++)
				fprintf(f, "%s %s %s\n", b.v[k].kind, b.v[k].key, b.v[k].json);
			if (fclose(f) != 0) {
				fprintf(stderr, "bench_doc: %s: %s\n", out_path, strerror(errno));
				return 1;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		doc_batch_free(&b);
		free_ms[r] = ms_since(&t0, CLOCK_MONOTONIC);
	}
	qsort(wall, runs, sizeof(double), dcmp);
	qsort(cpu, runs, sizeof(double), dcmp);
	qsort(free_ms, runs, sizeof(double), dcmp);
	unsigned lab = 0;
	for (int k = 0; k < JUDGE__COUNT; k++)
		lab += jr.labels[k] != 0;
	printf("slot: %zu inside (%zu active), %zu outside, %zu pairs; %u offenders, %u label kinds\n",
	       v->n_inside, v->n_active, v->n_outside, v->n_pairs, (unsigned)jr.offenders, lab);
	printf("documents: %zu, %zu bytes of JSON\n", n_docs, bytes);
	printf("doc_slot_build_l2, median of %u: %.2f ms wall, %.2f ms CPU (min %.2f / %.2f); "
	       "doc_batch_free %.2f ms\n",
	       runs, wall[runs / 2], cpu[runs / 2], wall[0], cpu[0], free_ms[runs / 2]);
	slot_destroy(s);
	return n_arp ? bench_arp(n_arp, runs, out_path) : 0;
}
