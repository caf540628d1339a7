/*
 * Unit tests for src/l2/parse.c: every parser on the seed paper's exact
 * outputs (figures 6-7) and on realistic outputs per kind (tests/data/l2/),
 * with exact entries and exact per-reason line counts; MAC notations; pager
 * styles; hostile input (long lines, binary junk, no final newline, every
 * prefix of every fixture); the entry cap; allocation failures.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/fault.h"
#include "nfsentry/l2.h"

#define DYN L2_STATE_DYNAMIC
#define STA L2_STATE_STATIC
#define IFC L2_STATE_INTERFACE
#define INC L2_STATE_INCOMPLETE
#define DEL L2_STATE_DELETED
#define OTH L2_STATE_OTHER

struct want {
	const char *ip;  /* NULL: no IP */
	const char *mac; /* NULL: no MAC */
	int state;
	const char *raw;
	int64_t age_s;
	int32_t vlan;
	const char *ifname;
};

/* Skip counts in enum l2_skip order. */
struct want_stats {
	uint64_t lines, parsed;
	uint64_t skipped[L2_SKIP__COUNT];
	uint64_t pager_marks;
};

static char *load(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/l2/%s", TEST_DATA_DIR, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	/* Exactly n bytes, no NUL: ASan catches any read past len. */
	char *buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void check_obs(const struct l2_obs *o, const struct want *w)
{
	char buf[64];

	assert_int_equal(o->has_ip, w->ip != NULL);
	if (w->ip) {
		flow_addr_format(&o->ip, buf, sizeof(buf));
		assert_string_equal(buf, w->ip);
	}
	assert_int_equal(o->has_mac, w->mac != NULL);
	if (w->mac) {
		l2_mac_format(o->mac, buf, sizeof(buf));
		assert_string_equal(buf, w->mac);
	}
	assert_int_equal(o->state, w->state);
	assert_string_equal(o->state_raw, w->raw);
	assert_int_equal(o->age_s, w->age_s);
	assert_int_equal(o->vlan, w->vlan);
	assert_string_equal(o->ifname, w->ifname);
}

static void check_stats(const struct l2_parse_stats *st, const struct want_stats *w)
{
	assert_int_equal(st->lines, w->lines);
	assert_int_equal(st->parsed, w->parsed);
	for (int k = 0; k < L2_SKIP__COUNT; k++) {
		if (st->skipped[k] != w->skipped[k])
			print_error("skip %s: %lu != %lu\n", l2_skip_name((enum l2_skip)k),
			            (unsigned long)st->skipped[k], (unsigned long)w->skipped[k]);
		assert_int_equal(st->skipped[k], w->skipped[k]);
	}
	assert_int_equal(st->pager_marks, w->pager_marks);
	/* Every line is accounted for exactly once. */
	uint64_t sum = st->parsed;
	for (int k = 0; k < L2_SKIP__COUNT; k++)
		sum += st->skipped[k];
	assert_int_equal(sum, st->lines);
}

static void run_fixture(const char *file, enum l2_kind kind, enum l2_cmd cmd, const struct want *w,
                        size_t nw, const struct want_stats *ws)
{
	size_t len;
	char *text = load(file, &len);
	struct l2_obs_list l;
	struct l2_parse_stats st;

	memset(&st, 0, sizeof(st));
	l2_obs_list_init(&l, 0);
	assert_int_equal(l2_parse(kind, cmd, text, len, &l, &st), (int)nw);
	assert_int_equal(l.n, nw);
	for (size_t k = 0; k < nw; k++)
		check_obs(&l.v[k], &w[k]);
	check_stats(&st, ws);
	l2_obs_list_free(&l);
	free(text);
}

#define NW(a) (sizeof(a) / sizeof((a)[0]))
/* skipped[]: blank, header, prompt, pager, malformed, unknown, too_long, limit */

static void test_seed_ios_arp(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {"192.168.3.3", "52:54:00:a7:57:4d", DYN, "", 0, -1, "Vlan2"},
	    {"192.168.3.4", "52:54:00:62:2e:47", DYN, "", 0, -1, "Vlan2"},
	    {"192.168.204.97", "84:b2:61:e3:50:d8", IFC, "", -1, -1, "Gi1/0/3"},
	    {"192.168.204.98", "58:ac:78:03:67:e4", DYN, "", 24 * 60, -1, "Gi1/0/3"},
	    {"192.168.205.104", NULL, INC, "Incomplete", 0, -1, ""},
	    {"192.168.205.105", "00:50:56:b4:be:5d", DYN, "", 244 * 60, -1, "Vlan10"},
	    {"192.168.205.106", "00:50:56:80:6a:2e", DYN, "", 22 * 60, -1, "Vlan10"},
	    {"192.168.205.107", NULL, INC, "Incomplete", 0, -1, ""},
	    {"192.168.205.111", "00:50:56:b4:e9:7b", DYN, "", 161 * 60, -1, "Vlan10"},
	    {"192.168.205.115", NULL, INC, "Incomplete", 0, -1, ""},
	    {"192.168.205.116", NULL, INC, "Incomplete", 0, -1, ""},
	    {"192.168.205.117", NULL, INC, "Incomplete", 0, -1, ""},
	    {"192.168.205.118", NULL, INC, "Incomplete", 0, -1, ""},
	};
	static const struct want_stats ws = {29, 13, {14, 2, 0, 0, 0, 0, 0, 0}, 0};
	run_fixture("seed_ios_arp.txt", L2_KIND_IOS, L2_CMD_ARP, w, NW(w), &ws);
}

static void test_seed_iosxr_arp(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {"211.79.60.26", "08:4f:a9:c9:d3:2b", IFC, "Interface", -1, -1, "TenGigE0/5/0/3"},
	    {"211.79.60.27", "70:e4:22:19:86:f9", DYN, "Dynamic", 2 * 3600 + 49 * 60 + 4, -1,
	     "TenGigE0/5/0/3"},
	    {"211.79.60.29", "00:00:00:00:00:00", INC, "Incomplete", 4, -1, "TenGigE0/5/0/3"},
	    {"211.79.60.30", "b4:0c:25:ef:40:4c", DYN, "Dynamic", 19, -1, "TenGigE0/5/0/3"},
	    {"211.73.94.1", "00:00:00:00:00:00", INC, "Incomplete", 2, -1, "Bundle-Ether60"},
	    {"211.73.94.2", "00:00:00:00:00:00", DEL, "Deleted", -1, -1, "Bundle-Ether60"},
	    {"211.73.94.3", "00:00:00:00:00:00", DEL, "Deleted", -1, -1, "Bundle-Ether60"},
	    {"211.73.94.4", "00:00:00:00:00:00", DEL, "Deleted", -1, -1, "Bundle-Ether60"},
	    {"211.73.94.5", "00:00:00:00:00:00", INC, "Incomplete", 3, -1, "Bundle-Ether60"},
	    {"211.73.94.6", "00:00:00:00:00:00", DEL, "Deleted", -1, -1, "Bundle-Ether60"},
	    {"211.73.94.7", "00:00:00:00:00:00", INC, "Incomplete", 1, -1, "Bundle-Ether60"},
	    {"211.73.94.8", "00:00:00:00:00:00", INC, "Incomplete", 1, -1, "Bundle-Ether60"},
	    {"211.73.94.9", "00:00:00:00:00:00", INC, "Incomplete", 0, -1, "Bundle-Ether60"},
	    {"211.73.94.11", "00:00:00:00:00:00", DEL, "Deleted", -1, -1, "Bundle-Ether60"},
	    {"211.73.94.12", "00:00:00:00:00:00", INC, "Incomplete", 2, -1, "Bundle-Ether60"},
	};
	static const struct want_stats ws = {33, 15, {16, 2, 0, 0, 0, 0, 0, 0}, 0};
	run_fixture("seed_iosxr_arp.txt", L2_KIND_IOSXR, L2_CMD_ARP, w, NW(w), &ws);
}

static void test_seed_nxos_mac(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {NULL, "70:e4:22:24:88:f5", DYN, "dynamic", 10, 3260, "Eth1/43"},
	    {NULL, "70:e4:22:25:95:fd", DYN, "dynamic", 10, 3260, "Po32"},
	    {NULL, "b4:0c:25:e7:c0:4c", DYN, "dynamic", 10, 3260, "Eth1/44"},
	    {NULL, "00:09:f5:10:44:ca", DYN, "dynamic", 80, 2000, "Eth1/48"},
	    {NULL, "00:09:f5:10:44:e6", DYN, "dynamic", 40, 2000, "Eth1/48"},
	    {NULL, "00:80:a3:a4:5a:1b", DYN, "dynamic", 120, 2000, "Eth1/48"},
	    {NULL, "00:80:a3:a4:5a:25", DYN, "dynamic", 160, 2000, "Eth1/48"},
	    {NULL, "00:80:a3:a4:5a:92", DYN, "dynamic", 120, 2000, "Eth1/48"},
	    {NULL, "70:e4:22:ea:43:48", DYN, "dynamic", 10, 2000, "Eth1/48"},
	    {NULL, "24:6e:96:05:03:dc", DYN, "dynamic", 430, 612, "Eth1/38"},
	    {NULL, "24:6e:96:05:05:44", DYN, "dynamic", 600, 612, "Eth1/38"},
	    {NULL, "34:48:ed:ea:2f:84", DYN, "dynamic", 1620, 612, "Eth1/4"},
	    {NULL, "40:06:d5:c5:51:1f", IFC, "static", -1, -1, "sup-eth1(R)"},
	};
	static const struct want_stats ws = {29, 13, {14, 2, 0, 0, 0, 0, 0, 0}, 0};
	run_fixture("seed_nxos_mac.txt", L2_KIND_NXOS, L2_CMD_MAC, w, NW(w), &ws);
}

static void test_ios_shell(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {"10.20.0.1", "00:d7:8f:2a:1b:40", IFC, "", -1, -1, "Vlan20"},
	    {"10.20.0.17", "aa:bb:cc:00:01:17", DYN, "", 180, -1, "Vlan20"},
	    {"10.20.0.18", "aa:bb:cc:00:01:18", DYN, "", 720, -1, "GigabitEthernet1/0/1"},
	    {"10.20.0.19", NULL, INC, "Incomplete", 0, -1, ""},
	    {"10.20.0.20", "aa:bb:cc:00:01:20", DYN, "", 238 * 60, -1, "Vlan20"},
	};
	/* Echoed command and final prompt; truncated row; 10.20.0.300. */
	static const struct want_stats ws = {11, 5, {1, 1, 2, 0, 2, 0, 0, 0}, 1};
	run_fixture("ios_show_ip_arp_shell.txt", L2_KIND_IOS, L2_CMD_ARP, w, NW(w), &ws);
}

static void test_iosxr_nodes(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {"192.0.2.1", "08:4f:a9:c9:d3:2b", IFC, "Interface", -1, -1, "Bundle-Ether60.100"},
	    {"192.0.2.7", "70:e4:22:19:86:f9", DYN, "Dynamic", 86400 + 2 * 3600, -1,
	     "Bundle-Ether60.100"},
	    {"192.0.2.9", "00:00:00:00:00:00", INC, "Incomplete", 4, -1, "Bundle-Ether60.100"},
	    {"192.0.2.10", "00:00:00:00:00:00", DEL, "Deleted", -1, -1, "Bundle-Ether60.100"},
	    {"192.0.2.11", "00:11:22:33:44:55", STA, "Static", -1, -1, "Bundle-Ether60.100"},
	    {"198.51.100.1", "08:4f:a9:c9:d4:00", IFC, "Interface", -1, -1, "TenGigE0/0/0/1"},
	    {"198.51.100.2", "b4:0c:25:ef:40:4c", DYN, "Dynamic", 10144, -1, "TenGigE0/0/0/1"},
	    {"198.51.100.3", "00:00:00:00:00:00", OTH, "EVPN_SYNC", 10, -1, "TenGigE0/0/0/1"},
	};
	/* Banner, 4 separators, 2 node titles, 2 column headers; truncated row. */
	static const struct want_stats ws = {23, 8, {4, 9, 1, 0, 1, 0, 0, 0}, 0};
	run_fixture("iosxr_show_arp_nodes.txt", L2_KIND_IOSXR, L2_CMD_ARP, w, NW(w), &ws);
}

static void test_nxos_arp(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {"10.1.1.1", "00:00:0c:07:ac:01", DYN, "", 7, -1, "Vlan10"},
	    {"10.1.1.2", "52:54:00:12:34:56", DYN, "*", 83, -1, "Vlan10"},
	    {"10.1.1.3", NULL, INC, "INCOMPLETE", 2, -1, "Vlan10"},
	    {"10.1.1.4", "00:11:22:33:44:55", STA, "+", -1, -1, "Vlan20"},
	    {"10.1.1.5", "52:54:00:12:34:57", DYN, "# CP", 14 * 60 + 59, -1, "Ethernet1/5"},
	};
	static const struct want_stats ws = {19, 5, {2, 10, 1, 0, 1, 0, 0, 0}, 1};
	run_fixture("nxos_show_ip_arp.txt", L2_KIND_NXOS, L2_CMD_ARP, w, NW(w), &ws);
}

static void test_nxos_mac(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {NULL, "00:50:56:80:6a:2e", DYN, "dynamic", 0, 10, "Eth1/1"},
	    {NULL, "00:11:22:33:44:55", DYN, "dynamic", 120, 20, "vPC Peer-Link"},
	    {NULL, "40:06:d5:c5:51:1f", IFC, "static", -1, -1, "sup-eth1(R)"},
	    {NULL, "aa:bb:cc:00:01:00", STA, "static", -1, 30, "Eth1/2"},
	    {NULL, "aa:bb:cc:00:02:00", DYN, "dynamic", -1, 40, "Po10"},
	    {NULL, "70:e4:22:24:88:f5", DYN, "dynamic", 10, 3260, "Eth1/43"},
	};
	static const struct want_stats ws = {13, 6, {0, 6, 0, 0, 1, 0, 0, 0}, 0};
	run_fixture("nxos_show_mac.txt", L2_KIND_NXOS, L2_CMD_MAC, w, NW(w), &ws);
}

static void test_junos_arp(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {"10.0.0.1", "00:00:5e:00:01:01", DYN, "none", -1, -1, "ge-0/0/0.0"},
	    {"10.0.0.2", "00:05:86:71:a3:c0", STA, "permanent", -1, -1, "ge-0/0/0.0"},
	    {"10.0.10.5", "00:1c:73:00:00:01", DYN, "none", -1, -1, "irb.10 [ge-0/0/1.0]"},
	    {"10.0.10.6", "00:1c:73:00:00:02", STA, "permanent remote", -1, -1, "irb.10 [ae0.10]"},
	    {"2001:db8::6", "00:1c:73:00:00:03", DYN, "none", -1, -1, "irb.10"},
	};
	static const struct want_stats ws = {12, 5, {1, 2, 3, 0, 1, 0, 0, 0}, 1};
	run_fixture("junos_show_arp.txt", L2_KIND_JUNOS, L2_CMD_ARP, w, NW(w), &ws);
}

static void test_eos_arp(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {"10.0.0.1", "00:1c:73:00:00:01", DYN, "", 62, -1, "Vlan10, Ethernet1"},
	    {"10.0.0.2", "00:1c:73:00:00:02", DYN, "", -1, -1, "Vlan10, not learned"},
	    {"10.0.0.3", NULL, INC, "(incomplete)", 3, -1, "Vlan10"},
	    {"172.16.0.1", "00:1c:73:01:00:01", DYN, "", -1, -1, "Ethernet2"},
	};
	static const struct want_stats ws = {9, 4, {0, 1, 2, 1, 1, 0, 0, 0}, 1};
	run_fixture("eos_show_arp.txt", L2_KIND_EOS, L2_CMD_ARP, w, NW(w), &ws);
}

static void test_ios_mac(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {NULL, "01:00:0c:cc:cc:cc", STA, "STATIC", -1, -1, "CPU"},
	    {NULL, "00:50:79:66:68:00", DYN, "DYNAMIC", -1, 10, "Gi0/1"},
	    {NULL, "00:50:79:66:68:01", DYN, "DYNAMIC", -1, 10, "Gi0/2"},
	};
	static const struct want_stats ws = {10, 3, {1, 5, 0, 0, 1, 0, 0, 0}, 0};
	run_fixture("ios_show_mac.txt", L2_KIND_IOS, L2_CMD_MAC, w, NW(w), &ws);
}

static void test_eos_mac(void **state)
{
	(void)state;
	static const struct want w[] = {
	    {NULL, "00:1c:73:00:00:01", DYN, "DYNAMIC", -1, 10, "Et1"},
	    {NULL, "00:1c:73:00:00:02", STA, "STATIC", -1, 10, "Po1"},
	};
	static const struct want_stats ws = {15, 2, {3, 10, 0, 0, 0, 0, 0, 0}, 0};
	run_fixture("eos_show_mac.txt", L2_KIND_EOS, L2_CMD_MAC, w, NW(w), &ws);
}

/* The wrong kind for an output: nothing parses, and it shows as unknown lines. */
static void test_wrong_kind(void **state)
{
	(void)state;
	size_t len;
	char *text = load("seed_ios_arp.txt", &len);
	struct l2_obs_list l;
	struct l2_parse_stats st;

	memset(&st, 0, sizeof(st));
	l2_obs_list_init(&l, 0);
	assert_int_equal(l2_parse(L2_KIND_IOSXR, L2_CMD_ARP, text, len, &l, &st), 0);
	assert_int_equal(st.skipped[L2_SKIP_UNKNOWN], 13);
	assert_int_equal(st.skipped[L2_SKIP_HEADER], 2);
	l2_obs_list_free(&l);
	free(text);
}

static void test_mac_notations(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *out; /* NULL: -EINVAL */
	} t[] = {
	    {"aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff"},
	    {"AABB.CCDD.EEFF", "aa:bb:cc:dd:ee:ff"},
	    {"aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff"},
	    {"AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff"},
	    {"AABBCCDDEEFF", "aa:bb:cc:dd:ee:ff"},
	    {"0:1c:73:0:0:1", "00:1c:73:00:00:01"},
	    {"0-1c-73-0-0-1", "00:1c:73:00:00:01"},
	    {"0000.0000.0000", "00:00:00:00:00:00"},
	    {"1.2.3", "00:01:00:02:00:03"},
	    {"5254.00a7.574d", "52:54:00:a7:57:4d"},
	    {"aabb.ccdd.eeff.0011", NULL},
	    {"aabb.ccdd", NULL},
	    {"aabbc.cdd.eeff", NULL},
	    {"aa:bb:cc:dd:ee", NULL},
	    {"aa:bb:cc:dd:ee:ff:00", NULL},
	    {"aaa:bb:cc:dd:ee:f", NULL},
	    {"aa:bb-cc:dd:ee:ff", NULL},
	    {"aa:bb:cc:dd:ee:", NULL},
	    {":bb:cc:dd:ee:ff", NULL},
	    {"aabbccddeef", NULL},
	    {"aabbccddeeffa", NULL},
	    {"gabbccddeeff", NULL},
	    {"aabb.ccdd.eefg", NULL},
	    {"Incomplete", NULL},
	    {"", NULL},
	    {"aa::cc:dd:ee:ff", NULL},
	};
	for (size_t k = 0; k < NW(t); k++) {
		uint8_t mac[6] = {9, 9, 9, 9, 9, 9};
		char buf[24];
		int rc = l2_mac_parse(t[k].in, strlen(t[k].in), mac);
		if (!t[k].out) {
			if (rc != -EINVAL)
				print_error("accepted %s\n", t[k].in);
			assert_int_equal(rc, -EINVAL);
			assert_int_equal(mac[0], 9); /* untouched on failure */
			continue;
		}
		assert_int_equal(rc, 0);
		l2_mac_format(mac, buf, sizeof(buf));
		assert_string_equal(buf, t[k].out);
	}
	/* Only len bytes are read: a valid prefix of a longer string. */
	uint8_t mac[6];
	assert_int_equal(l2_mac_parse("aabb.ccdd.eeffXYZ", 14, mac), 0);
	assert_int_equal(mac[5], 0xff);
}

static int parse_str(enum l2_kind kind, enum l2_cmd cmd, const char *s, struct l2_obs_list *l,
                     struct l2_parse_stats *st)
{
	memset(st, 0, sizeof(*st));
	l2_obs_list_free(l);
	return l2_parse(kind, cmd, s, strlen(s), l, st);
}

/* Pager styles: each leaves exactly the entry behind. */
static void test_pager_styles(void **state)
{
	(void)state;
	static const char *const ios[] = {
	    /* Backspaces, spaces, backspaces (IOS). */
	    (" --More-- \b\b\b\b\b\b\b\b\b\b          \b\b\b\b\b\b\b\b\b\b"
	     "Internet  10.0.0.1  5  aabb.cc00.0001  ARPA  Vlan1\n"),
	    /* Carriage return and erase to end of line (NX-OS, EOS). */
	    "\x1b[7m--More--\x1b[m\r\x1b[KInternet  10.0.0.1  5  aabb.cc00.0001  ARPA  Vlan1\n",
	    /* Erase whole line (ESC[2K), then CR. */
	    "--More--\x1b[2K\rInternet  10.0.0.1  5  aabb.cc00.0001  ARPA  Vlan1\n",
	    /* Nothing erased: the marker stays visible and is blanked. */
	    "--More--Internet  10.0.0.1  5  aabb.cc00.0001  ARPA  Vlan1\n",
	    " -- More -- Internet  10.0.0.1  5  aabb.cc00.0001  ARPA  Vlan1\r\n",
	};
	struct l2_obs_list l;
	struct l2_parse_stats st;
	char buf[24];

	l2_obs_list_init(&l, 0);
	for (size_t k = 0; k < NW(ios); k++) {
		assert_int_equal(parse_str(L2_KIND_IOS, L2_CMD_ARP, ios[k], &l, &st), 1);
		assert_int_equal(st.pager_marks, 1);
		assert_int_equal(l.v[0].age_s, 300);
		assert_string_equal(l.v[0].ifname, "Vlan1");
		l2_mac_format(l.v[0].mac, buf, sizeof(buf));
		assert_string_equal(buf, "aa:bb:cc:00:00:01");
	}
	/* Junos with a percentage; a marker alone on its line is a pager line. */
	assert_int_equal(parse_str(L2_KIND_JUNOS, L2_CMD_ARP,
	                           "---(more 45%)---00:00:5e:00:01:01 10.0.0.1 ge-0/0/0.0 none\n"
	                           "---(more)---\n",
	                           &l, &st),
	                 1);
	assert_int_equal(st.pager_marks, 2);
	assert_int_equal(st.skipped[L2_SKIP_PAGER], 1);
	assert_string_equal(l.v[0].ifname, "ge-0/0/0.0");
	l2_obs_list_free(&l);
}

/* The line is read as a screen shows it: backspaces and CR move the cursor. */
static void test_screen(void **state)
{
	(void)state;
	struct l2_obs_list l;
	struct l2_parse_stats st;

	l2_obs_list_init(&l, 0);
	assert_int_equal(parse_str(L2_KIND_IOS, L2_CMD_ARP,
	                           "ZZZZZZZZZZ\b\b\b\b\b\b\b\b\b\bInternet  10.0.0.1  5  "
	                           "aabb.cc00.0001  ARPA  Vlan1x\b \b\n",
	                           &l, &st),
	                 1);
	assert_string_equal(l.v[0].ifname, "Vlan1");
	assert_int_equal(st.pager_marks, 0);
	/* A CR in the middle: what follows overwrites the start. */
	assert_int_equal(
	    parse_str(L2_KIND_IOS, L2_CMD_ARP,
	              "Garbage garbage garbage garbage garbage garbage garbage garbage\r"
	              "Internet  10.0.0.2  5  aabb.cc00.0002  ARPA  Vlan2\x1b[K\n",
	              &l, &st),
	    1);
	assert_string_equal(l.v[0].ifname, "Vlan2");
	/* Erase to the cursor (ESC[1K) blanks what precedes. */
	assert_int_equal(
	    parse_str(L2_KIND_IOS, L2_CMD_ARP,
	              "junk\x1b[1K  Internet  10.0.0.3  5  aabb.cc00.0003  ARPA  Vlan3\n", &l, &st),
	    1);
	assert_string_equal(l.v[0].ifname, "Vlan3");
	/* NUL and other control bytes vanish; a lone ESC at the end is harmless. */
	static const char nul_line[] =
	    "Internet  10.0.0.4  5  aabb.cc00.0004  ARPA  Vl\0an4\x01\x1b";
	memset(&st, 0, sizeof(st));
	l2_obs_list_free(&l);
	assert_int_equal(l2_parse(L2_KIND_IOS, L2_CMD_ARP, nul_line, sizeof(nul_line) - 1, &l, &st),
	                 1);
	assert_string_equal(l.v[0].ifname, "Vlan4");
	l2_obs_list_free(&l);
}

static void test_ages(void **state)
{
	(void)state;
	static const struct {
		const char *age;
		int64_t want; /* -2: malformed */
	} t[] = {
	    {"00:00:04", 4},   {"1:00:00", 3600}, {"12:34", 754},     {"1d02h", 93600},
	    {"2w3d", 1468800}, {"05m12s", 312},   {"-", -1},          {"N/A", -1},
	    {"never", -1},     {"1d02", -2},      {"1:", -2},         {":1", -2},
	    {"1:2:3:4:5", -2}, {"1x", -2},        {"0000001:00", -2},
	};
	struct l2_obs_list l;
	struct l2_parse_stats st;
	char line[128];

	l2_obs_list_init(&l, 0);
	for (size_t k = 0; k < NW(t); k++) {
		snprintf(line, sizeof(line),
		         "10.0.0.1  %s  0011.2233.4455  Dynamic  ARPA  Te0/0/0/1\n", t[k].age);
		int rc = parse_str(L2_KIND_IOSXR, L2_CMD_ARP, line, &l, &st);
		if (t[k].want == -2) {
			assert_int_equal(rc, 0);
			assert_int_equal(st.skipped[L2_SKIP_MALFORMED], 1);
		} else {
			assert_int_equal(rc, 1);
			assert_int_equal(l.v[0].age_s, t[k].want);
		}
	}
	l2_obs_list_free(&l);
}

/* Lines over L2_LINE_MAX are skipped whole; the next line still parses. */
static void test_long_line(void **state)
{
	(void)state;
	const char *entry = "Internet  10.0.0.1  5  aabb.cc00.0001  ARPA  Vlan1\n";
	size_t n = L2_LINE_MAX + 1 + strlen(entry) + 1;
	char *buf = malloc(n);
	assert_non_null(buf);
	memset(buf, 'A', L2_LINE_MAX + 1);
	buf[L2_LINE_MAX + 1] = '\n';
	memcpy(buf + L2_LINE_MAX + 2, entry, strlen(entry));

	struct l2_obs_list l;
	struct l2_parse_stats st;
	memset(&st, 0, sizeof(st));
	l2_obs_list_init(&l, 0);
	assert_int_equal(l2_parse(L2_KIND_IOS, L2_CMD_ARP, buf, n - 1, &l, &st), 1);
	assert_int_equal(st.skipped[L2_SKIP_TOO_LONG], 1);
	assert_int_equal(st.lines, 2);
	/* Exactly L2_LINE_MAX is still a line (an unknown one). */
	memset(&st, 0, sizeof(st));
	assert_int_equal(l2_parse(L2_KIND_IOS, L2_CMD_ARP, buf + 1, L2_LINE_MAX, &l, &st), 0);
	assert_int_equal(st.skipped[L2_SKIP_UNKNOWN], 1);
	/* Interface text beyond L2_IFNAME_MAX is cut and counted. */
	char line[256];
	snprintf(line, sizeof(line), "Internet 10.0.0.2 5 aabb.cc00.0002 ARPA %0100d\n", 7);
	assert_int_equal(parse_str(L2_KIND_IOS, L2_CMD_ARP, line, &l, &st), 1);
	assert_int_equal(strlen(l.v[0].ifname), L2_IFNAME_MAX - 1);
	assert_int_equal(st.truncated_fields, 1);
	/* The boundary: L2_IFNAME_MAX - 1 bytes fit, L2_IFNAME_MAX are cut. */
	snprintf(line, sizeof(line), "Internet 10.0.0.2 5 aabb.cc00.0002 ARPA %0*d\n",
	         L2_IFNAME_MAX - 1, 7);
	assert_int_equal(parse_str(L2_KIND_IOS, L2_CMD_ARP, line, &l, &st), 1);
	assert_int_equal(strlen(l.v[0].ifname), L2_IFNAME_MAX - 1);
	assert_int_equal(st.truncated_fields, 0);
	snprintf(line, sizeof(line), "Internet 10.0.0.2 5 aabb.cc00.0002 ARPA %0*d\n",
	         L2_IFNAME_MAX, 7);
	assert_int_equal(parse_str(L2_KIND_IOS, L2_CMD_ARP, line, &l, &st), 1);
	assert_int_equal(st.truncated_fields, 1);
	/* The same for a state word (NX-OS flags) and a single-token port. */
	snprintf(line, sizeof(line), "10.0.0.5 00:00:01 0011.2233.4455 Vlan1 %0*d\n",
	         L2_WORD_MAX - 1, 7);
	assert_int_equal(parse_str(L2_KIND_NXOS, L2_CMD_ARP, line, &l, &st), 1);
	assert_int_equal(strlen(l.v[0].state_raw), L2_WORD_MAX - 1);
	assert_int_equal(st.truncated_fields, 0);
	snprintf(line, sizeof(line), "10.0.0.5 00:00:01 0011.2233.4455 Vlan1 %0*d\n", L2_WORD_MAX,
	         7);
	assert_int_equal(parse_str(L2_KIND_NXOS, L2_CMD_ARP, line, &l, &st), 1);
	assert_int_equal(strlen(l.v[0].state_raw), L2_WORD_MAX - 1);
	assert_int_equal(st.truncated_fields, 1);
	l2_obs_list_free(&l);
	free(buf);
}

/* Many tokens: the interface is read from the line, not the token table. */
static void test_many_tokens(void **state)
{
	(void)state;
	struct l2_obs_list l;
	struct l2_parse_stats st;
	l2_obs_list_init(&l, 0);
	assert_int_equal(
	    parse_str(L2_KIND_EOS, L2_CMD_ARP,
	              "10.0.0.1 0:00:01 001c.7300.0001 a b c d e f g h i j k l m n o p "
	              "q r s t u v w x y z\n",
	              &l, &st),
	    1);
	assert_string_equal(l.v[0].ifname, "a b c d e f g h i j k l m n o p q r s t u v w x y z");
	l2_obs_list_free(&l);
}

/* Deterministic junk: every byte value, NULs, no newline at the end. */
static void test_binary_junk(void **state)
{
	(void)state;
	uint32_t x = 12345;
	size_t n = 200000;
	char *buf = malloc(n);
	assert_non_null(buf);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (char)(x >> 16);
	}
	for (int kind = 0; kind < L2_KIND__COUNT; kind++)
		for (int cmd = 0; cmd < L2_CMD__COUNT; cmd++) {
			struct l2_obs_list l;
			struct l2_parse_stats st;
			memset(&st, 0, sizeof(st));
			l2_obs_list_init(&l, 0);
			int rc = l2_parse((enum l2_kind)kind, (enum l2_cmd)cmd, buf, n, &l, &st);
			if (l2_cmd_classify((enum l2_kind)kind,
			                    cmd ? "show mac address-table" : "show arp") < 0) {
				assert_int_equal(rc, -EINVAL);
			} else {
				assert_true(rc >= 0);
				uint64_t sum = st.parsed;
				for (int k = 0; k < L2_SKIP__COUNT; k++)
					sum += st.skipped[k];
				assert_int_equal(sum, st.lines);
				assert_true(st.lines > 0);
			}
			l2_obs_list_free(&l);
		}
	free(buf);
}

static const struct {
	const char *file;
	enum l2_kind kind;
	enum l2_cmd cmd;
} fixtures[] = {
    {"seed_ios_arp.txt", L2_KIND_IOS, L2_CMD_ARP},
    {"seed_iosxr_arp.txt", L2_KIND_IOSXR, L2_CMD_ARP},
    {"seed_nxos_mac.txt", L2_KIND_NXOS, L2_CMD_MAC},
    {"ios_show_ip_arp_shell.txt", L2_KIND_IOS, L2_CMD_ARP},
    {"iosxr_show_arp_nodes.txt", L2_KIND_IOSXR, L2_CMD_ARP},
    {"nxos_show_ip_arp.txt", L2_KIND_NXOS, L2_CMD_ARP},
    {"nxos_show_mac.txt", L2_KIND_NXOS, L2_CMD_MAC},
    {"junos_show_arp.txt", L2_KIND_JUNOS, L2_CMD_ARP},
    {"eos_show_arp.txt", L2_KIND_EOS, L2_CMD_ARP},
    {"ios_show_mac.txt", L2_KIND_IOS, L2_CMD_MAC},
    {"eos_show_mac.txt", L2_KIND_EOS, L2_CMD_MAC},
};

/*
 * The curl "every prefix" sweep: each truncation of each fixture, in an
 * exact-size buffer, parses without reading past its end; every line is
 * counted once; a prefix that ends on a line boundary gives exactly the
 * first entries of the whole parse, and no prefix gives more entries.
 */
static void test_every_prefix(void **state)
{
	(void)state;
	for (size_t f = 0; f < NW(fixtures); f++) {
		size_t len;
		char *text = load(fixtures[f].file, &len);
		struct l2_obs_list full;
		struct l2_parse_stats st;

		memset(&st, 0, sizeof(st));
		l2_obs_list_init(&full, 0);
		int nfull = l2_parse(fixtures[f].kind, fixtures[f].cmd, text, len, &full, &st);
		assert_true(nfull > 0);
		for (size_t p = 0; p <= len; p++) {
			char *cut = malloc(p ? p : 1);
			struct l2_obs_list l;
			assert_non_null(cut);
			memcpy(cut, text, p);
			memset(&st, 0, sizeof(st));
			l2_obs_list_init(&l, 0);
			int rc = l2_parse(fixtures[f].kind, fixtures[f].cmd, cut, p, &l, &st);
			assert_true(rc >= 0 && rc <= nfull);
			uint64_t sum = st.parsed;
			for (int k = 0; k < L2_SKIP__COUNT; k++)
				sum += st.skipped[k];
			assert_int_equal(sum, st.lines);
			if (p == 0 || text[p - 1] == '\n') {
				for (int k = 0; k < rc; k++)
					assert_memory_equal(&l.v[k], &full.v[k], sizeof(l.v[k]));
			}
			l2_obs_list_free(&l);
			free(cut);
		}
		l2_obs_list_free(&full);
		free(text);
	}
}

/* The list cap: entries beyond it are counted, not stored. */
static void test_entry_cap(void **state)
{
	(void)state;
	size_t len;
	char *text = load("seed_ios_arp.txt", &len);
	struct l2_obs_list l;
	struct l2_parse_stats st;

	memset(&st, 0, sizeof(st));
	l2_obs_list_init(&l, 3);
	assert_int_equal(l2_parse(L2_KIND_IOS, L2_CMD_ARP, text, len, &l, &st), 3);
	assert_int_equal(l.n, 3);
	assert_int_equal(st.parsed, 3);
	assert_int_equal(st.skipped[L2_SKIP_LIMIT], 10);
	/* A second output into the same full list adds nothing. */
	assert_int_equal(l2_parse(L2_KIND_IOS, L2_CMD_ARP, text, len, &l, &st), 0);
	assert_int_equal(st.skipped[L2_SKIP_LIMIT], 23);
	l2_obs_list_free(&l);
	assert_int_equal(l.max, 3);
	free(text);
}

static void test_bad_args(void **state)
{
	(void)state;
	struct l2_obs_list l;
	struct l2_parse_stats st;
	memset(&st, 0, sizeof(st));
	l2_obs_list_init(&l, 0);
	assert_int_equal(l2_parse(L2_KIND__COUNT, L2_CMD_ARP, "x", 1, &l, &st), -EINVAL);
	assert_int_equal(l2_parse(L2_KIND_IOS, L2_CMD__COUNT, "x", 1, &l, &st), -EINVAL);
	assert_int_equal(l2_parse(L2_KIND_JUNOS, L2_CMD_MAC, "x", 1, &l, &st), -EINVAL);
	assert_int_equal(l2_parse(L2_KIND_IOSXR, L2_CMD_MAC, "x", 1, &l, &st), -EINVAL);
	assert_int_equal(l2_parse(L2_KIND_IOS, L2_CMD_ARP, NULL, 1, &l, &st), -EINVAL);
	assert_int_equal(st.lines, 0);
	/* Empty output: nothing, no lines. */
	assert_int_equal(l2_parse(L2_KIND_IOS, L2_CMD_ARP, NULL, 0, &l, &st), 0);
	assert_int_equal(st.lines, 0);
	l2_obs_list_free(&l);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(l2_kind_from_name("ios"), L2_KIND_IOS);
	assert_int_equal(l2_kind_from_name("ios-xe"), L2_KIND_IOS);
	assert_int_equal(l2_kind_from_name("ios-xr"), L2_KIND_IOSXR);
	assert_int_equal(l2_kind_from_name("nxos"), L2_KIND_NXOS);
	assert_int_equal(l2_kind_from_name("junos"), L2_KIND_JUNOS);
	assert_int_equal(l2_kind_from_name("eos"), L2_KIND_EOS);
	assert_int_equal(l2_kind_from_name("IOS"), -1);
	assert_int_equal(l2_kind_from_name(NULL), -1);
	assert_string_equal(l2_kind_name(L2_KIND_IOSXR), "ios-xr");
	assert_string_equal(l2_state_name(L2_STATE_INCOMPLETE), "Incomplete");
	assert_string_equal(l2_skip_name(L2_SKIP_TOO_LONG), "too_long");
	assert_int_equal(l2_cmd_classify(L2_KIND_IOS, "show ip arp"), L2_CMD_ARP);
	assert_int_equal(l2_cmd_classify(L2_KIND_IOS, "show arp"), L2_CMD_ARP);
	assert_int_equal(l2_cmd_classify(L2_KIND_NXOS, "show mac address-table"), L2_CMD_MAC);
	assert_int_equal(l2_cmd_classify(L2_KIND_IOS, "show mac-address-table"), L2_CMD_MAC);
	assert_int_equal(l2_cmd_classify(L2_KIND_JUNOS, "show arp no-resolve | no-more"),
	                 L2_CMD_ARP);
	assert_int_equal(l2_cmd_classify(L2_KIND_JUNOS, "show mac address-table"), -EINVAL);
	assert_int_equal(l2_cmd_classify(L2_KIND_IOS, "show version"), -EINVAL);
	/* Every default command has a parser. */
	for (int k = 0; k < L2_KIND__COUNT; k++) {
		const char *const *c = l2_kind_commands((enum l2_kind)k);
		assert_non_null(c[0]);
		for (; *c; c++)
			assert_true(l2_cmd_classify((enum l2_kind)k, *c) >= 0);
		assert_non_null(l2_kind_get(k)->pager_off);
	}
}

/* The kind table: one complete row per kind, and every lookup agrees with it. */
static void test_kind_table(void **state)
{
	(void)state;
	const struct l2_kind_row *r;
	int n = 0;

	assert_null(l2_kind_get(-1));
	assert_null(l2_kind_get(L2_KIND__COUNT));
	for (int k = 0; (r = l2_kind_get(k)) != NULL; k++, n++) {
		assert_non_null(r->name);
		assert_string_equal(l2_kind_name((enum l2_kind)k), r->name);
		assert_int_equal(l2_kind_from_name(r->name), k);
		if (r->alias)
			assert_int_equal(l2_kind_from_name(r->alias), k);
		assert_ptr_equal(l2_kind_commands((enum l2_kind)k), r->commands);
		assert_non_null(r->commands[0]);
		assert_non_null(r->pager_off);
		assert_non_null(r->arp);
		/* A MAC parser exactly when the MAC table command classifies. */
		assert_int_equal(l2_cmd_classify((enum l2_kind)k, "show mac address-table"),
		                 r->mac ? L2_CMD_MAC : -EINVAL);
		/* Names and aliases are unique across the table. */
		for (int j = 0; j < k; j++) {
			const struct l2_kind_row *o = l2_kind_get(j);
			assert_string_not_equal(o->name, r->name);
			if (r->alias)
				assert_string_not_equal(o->name, r->alias);
			if (o->alias)
				assert_string_not_equal(o->alias, r->name);
		}
	}
	assert_int_equal(n, L2_KIND__COUNT);
	assert_string_equal(l2_kind_get(L2_KIND_IOS)->alias, "ios-xe");
	assert_null(l2_kind_get(L2_KIND_IOSXR)->mac);
	assert_null(l2_kind_get(L2_KIND_JUNOS)->mac);
	assert_non_null(l2_kind_get(L2_KIND_NXOS)->mac);
	assert_non_null(l2_kind_get(L2_KIND_EOS)->mac);
	assert_string_equal(l2_kind_get(L2_KIND_JUNOS)->pager_off, "set cli screen-length 0");
	assert_string_equal(l2_kind_get(L2_KIND_NXOS)->commands[1], "show mac address-table");
	/* No row: empty defaults, no row to read a pager command or parser from. */
	assert_string_equal(l2_kind_name((enum l2_kind)L2_KIND__COUNT), "unknown");
	assert_null(l2_kind_commands((enum l2_kind)L2_KIND__COUNT)[0]);
	assert_null(l2_kind_get(L2_KIND__COUNT));
	assert_int_equal(l2_cmd_classify((enum l2_kind)L2_KIND__COUNT, "show arp"), -EINVAL);
	assert_int_equal(l2_kind_from_name(""), -1);
}

/* Allocation failures: the line buffer, then the list's first and a later growth. */
static void test_alloc_failure(void **state)
{
	(void)state;
	size_t len;
	char *text = load("seed_iosxr_arp.txt", &len);
	struct l2_obs_list l;
	struct l2_parse_stats st;

	l2_obs_list_init(&l, 0);
	memset(&st, 0, sizeof(st));
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(l2_parse(L2_KIND_IOSXR, L2_CMD_ARP, text, len, &l, &st), -ENOMEM);
	assert_int_equal(l.n, 0);
	assert_int_equal(st.lines, 0);
	fault_arm(1, FAULT_ONCE);
	assert_int_equal(l2_parse(L2_KIND_IOSXR, L2_CMD_ARP, text, len, &l, &st), -ENOMEM);
	assert_int_equal(l.n, 0);
	fault_disarm();

	/* 100 entries: the second growth (64 -> 128) fails, the first 64 stay. */
	size_t cap = 100 * 80;
	char *big = malloc(cap);
	size_t n = 0;
	assert_non_null(big);
	for (int k = 0; k < 100; k++)
		n += (size_t)snprintf(big + n, cap - n,
		                      "10.0.%d.1 00:00:01 0011.2233.44%02x Dynamic ARPA Te0\n", k,
		                      k);
	fault_arm(2, FAULT_ONCE);
	assert_int_equal(l2_parse(L2_KIND_IOSXR, L2_CMD_ARP, big, n, &l, &st), -ENOMEM);
	assert_int_equal(l.n, 64);
	fault_disarm();
	l2_obs_list_free(&l);
	assert_int_equal(l2_parse(L2_KIND_IOSXR, L2_CMD_ARP, big, n, &l, &st), 100);
	l2_obs_list_free(&l);
	free(big);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_ios_arp),  cmocka_unit_test(test_seed_iosxr_arp),
	    cmocka_unit_test(test_seed_nxos_mac), cmocka_unit_test(test_ios_shell),
	    cmocka_unit_test(test_iosxr_nodes),   cmocka_unit_test(test_nxos_arp),
	    cmocka_unit_test(test_nxos_mac),      cmocka_unit_test(test_junos_arp),
	    cmocka_unit_test(test_eos_arp),       cmocka_unit_test(test_ios_mac),
	    cmocka_unit_test(test_eos_mac),       cmocka_unit_test(test_wrong_kind),
	    cmocka_unit_test(test_mac_notations), cmocka_unit_test(test_pager_styles),
	    cmocka_unit_test(test_screen),        cmocka_unit_test(test_ages),
	    cmocka_unit_test(test_long_line),     cmocka_unit_test(test_many_tokens),
	    cmocka_unit_test(test_binary_junk),   cmocka_unit_test(test_every_prefix),
	    cmocka_unit_test(test_entry_cap),     cmocka_unit_test(test_bad_args),
	    cmocka_unit_test(test_names),         cmocka_unit_test(test_alloc_failure),
	    cmocka_unit_test(test_kind_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
