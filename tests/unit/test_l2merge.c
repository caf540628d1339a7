/*
 * Unit tests for src/l2/merge.c: the per-slot merge of the seed paper's
 * three device outputs (exact objects and labels), a MAC on two devices,
 * the paper's figure-8 by-IP object, order independence, the arpIp /
 * arpMac documents (exact JSON), caps, bad arguments and every allocation
 * failing once.
 */
#include <errno.h>
#include <jansson.h>
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

#define SLOT 5648278
#define TS_GW 1685283196000ull
#define TS_L3 1685283070000ull
#define TS_L2 1685283080000ull

static char *load(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/l2/%s", TEST_DATA_DIR, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void parse_file(const char *file, enum l2_kind kind, enum l2_cmd cmd, struct l2_obs_list *l)
{
	size_t len;
	char *text = load(file, &len);
	struct l2_parse_stats st;
	memset(&st, 0, sizeof(st));
	l2_obs_list_init(l, 0);
	assert_true(l2_parse(kind, cmd, text, len, l, &st) > 0);
	free(text);
}

static struct flow_addr A(const char *s) {
	struct flow_addr a;
	assert_int_equal(flow_addr_parse(s, &a), 0);
	return a;
}

static void
M(const char *s, uint8_t mac[6])
{
	assert_int_equal(l2_mac_parse(s, strlen(s), mac), 0);
}

/* The seed's gateway (IOS-XR), layer-3 switch (IOS) and layer-2 switch (NX-OS). */
static struct l2_merge *seed_merge(bool reverse)
{
	struct l2_obs_list xr, ios, nx;
	struct l2_merge *m = l2_merge_create("campus", SLOT, NULL);

	assert_non_null(m);
	parse_file("seed_iosxr_arp.txt", L2_KIND_IOSXR, L2_CMD_ARP, &xr);
	parse_file("seed_ios_arp.txt", L2_KIND_IOS, L2_CMD_ARP, &ios);
	parse_file("seed_nxos_mac.txt", L2_KIND_NXOS, L2_CMD_MAC, &nx);
	if (!reverse) {
		assert_int_equal(l2_merge_add(m, "gw", TS_GW, xr.v, xr.n), 0);
		assert_int_equal(l2_merge_add(m, "l3sw", TS_L3, ios.v, ios.n), 0);
		assert_int_equal(l2_merge_add(m, "l2sw", TS_L2, nx.v, nx.n), 0);
	} else {
		/* Other device order, and every entry on its own, last first. */
		for (size_t k = nx.n; k-- > 0;)
			assert_int_equal(l2_merge_add(m, "l2sw", TS_L2, &nx.v[k], 1), 0);
		for (size_t k = ios.n; k-- > 0;)
			assert_int_equal(l2_merge_add(m, "l3sw", TS_L3, &ios.v[k], 1), 0);
		for (size_t k = xr.n; k-- > 0;)
			assert_int_equal(l2_merge_add(m, "gw", TS_GW, &xr.v[k], 1), 0);
	}
	l2_obs_list_free(&xr);
	l2_obs_list_free(&ios);
	l2_obs_list_free(&nx);
	return m;
}

static void test_seed_objects(void **state)
{
	(void)state;
	struct l2_merge *m = seed_merge(false);
	struct flow_addr a;
	size_t n;
	uint8_t mac[6];

	/* Before finish the lookup already answers. */
	a = A("211.73.94.2");
	assert_true(l2_merge_unresolved(m, &a));
	assert_int_equal(l2_merge_finish(m), 0);
	assert_int_equal(l2_merge_finish(m), 0);

	const struct l2_ip *ips = l2_merge_ips(m, &n);
	assert_int_equal(n, 13 + 15);
	/* Sorted by address: the IOS 192.168 block first. */
	char buf[64];
	flow_addr_format(&ips[0].ip, buf, sizeof(buf));
	assert_string_equal(buf, "192.168.3.3");
	flow_addr_format(&ips[n - 1].ip, buf, sizeof(buf));
	assert_string_equal(buf, "211.79.60.30");

	/* XR Deleted with the zero MAC: both abnormal labels. */
	const struct l2_ip *o = l2_merge_ip_find(m, &a);
	assert_non_null(o);
	assert_int_equal(o->labels, L2_LABEL_UNRESOLVED | L2_LABEL_ZEROMAC);
	assert_int_equal(o->types, 1u << L2_STATE_DELETED);
	assert_int_equal(o->min_age_s, -1);
	assert_int_equal(o->timestamp_ms, TS_GW);

	/* XR Incomplete, age 4 s: the paper's probing case. */
	a = A("211.79.60.29");
	o = l2_merge_ip_find(m, &a);
	assert_int_equal(o->labels, L2_LABEL_UNRESOLVED | L2_LABEL_ZEROMAC);
	assert_int_equal(o->min_age_s, 4);
	assert_true(l2_merge_unresolved(m, &a));

	/* IOS Incomplete: no MAC at all, so unresolved but not zeroMac. */
	a = A("192.168.205.104");
	o = l2_merge_ip_find(m, &a);
	assert_int_equal(o->labels, L2_LABEL_UNRESOLVED);
	assert_int_equal(o->n_macs, 0);
	assert_int_equal(o->n_devices, 1);
	assert_string_equal(l2_merge_device_name(m, o->devices[0]), "l3sw");
	assert_true(l2_merge_unresolved(m, &a));

	/* Resolved addresses, and one nobody showed. */
	a = A("211.79.60.27");
	assert_int_equal(l2_merge_ip_find(m, &a)->labels, 0);
	assert_false(l2_merge_unresolved(m, &a));
	a = A("192.168.204.97");
	assert_int_equal(l2_merge_ip_find(m, &a)->types, 1u << L2_STATE_INTERFACE);
	assert_false(l2_merge_unresolved(m, &a));
	a = A("211.73.94.10");
	assert_null(l2_merge_ip_find(m, &a));
	assert_false(l2_merge_unresolved(m, &a));

	unsigned unresolved = 0, zero = 0;
	for (size_t k = 0; k < n; k++) {
		unresolved += (ips[k].labels & L2_LABEL_UNRESOLVED) != 0;
		zero += (ips[k].labels & L2_LABEL_ZEROMAC) != 0;
	}
	assert_int_equal(unresolved, 6 + 12); /* IOS Incomplete; XR Incomplete/Deleted */
	assert_int_equal(zero, 12);

	/* By (MAC, device): 7 IOS + 4 XR (zero MAC once) + 13 NX-OS. */
	const struct l2_mac *macs = l2_merge_macs(m, &n);
	assert_int_equal(n, 7 + 4 + 13);
	assert_non_null(macs);
	M("0000.0000.0000", mac);
	const struct l2_mac *z = l2_merge_mac_find(m, mac, &n);
	assert_int_equal(n, 1);
	assert_ptr_equal(z, &macs[0]);
	assert_string_equal(l2_merge_device_name(m, z->device), "gw");
	assert_int_equal(z->n_ips, 12);
	assert_int_equal(z->observations, 12);
	assert_int_equal(z->n_ifnames, 2);
	assert_string_equal(z->ifnames[0], "Bundle-Ether60");
	assert_string_equal(z->ifnames[1], "TenGigE0/5/0/3");
	assert_int_equal(z->types, 1u << L2_STATE_INCOMPLETE | 1u << L2_STATE_DELETED);
	assert_int_equal(z->n_vlans, 0);

	M("70e4.2224.88f5", mac);
	const struct l2_mac *s = l2_merge_mac_find(m, mac, &n);
	assert_int_equal(n, 1);
	assert_int_equal(s->n_ips, 0);
	assert_int_equal(s->n_vlans, 1);
	assert_int_equal(s->vlans[0], 3260);
	assert_string_equal(s->ifnames[0], "Eth1/43");
	assert_int_equal(s->timestamp_ms, TS_L2);
	M("aabb.ccdd.eeff", mac);
	assert_null(l2_merge_mac_find(m, mac, &n));
	assert_int_equal(n, 0);

	struct l2_merge_stats st;
	l2_merge_stats_get(m, &st);
	assert_int_equal(st.ips_dropped + st.macs_dropped + st.list_full + st.devices_full, 0);
	assert_string_equal(l2_merge_site(m), "campus");
	assert_int_equal(l2_merge_time_slot(m), SLOT);
	assert_null(l2_merge_device_name(m, 3));
	l2_merge_destroy(m);
}

static struct l2_obs obs(const char *ip, const char *mac, enum l2_state st, int64_t age,
                         const char *ifname, int32_t vlan)
{
	struct l2_obs o;
	memset(&o, 0, sizeof(o));
	if (ip) {
		o.ip = A(ip);
		o.has_ip = true;
	}
	if (mac) {
		M(mac, o.mac);
		o.has_mac = true;
	}
	o.state = (uint8_t)st;
	o.age_s = age;
	o.vlan = vlan;
	snprintf(o.ifname, sizeof(o.ifname), "%s", ifname);
	return o;
}

/* A host behind an access switch: the gateway's ARP and the switch's MAC table. */
static void test_mac_on_two_devices(void **state)
{
	(void)state;
	struct l2_merge *m = l2_merge_create("campus", SLOT, NULL);
	struct l2_obs gw = obs("10.0.0.5", "0050.5680.6a2e", L2_STATE_DYNAMIC, 60, "Vlan10", -1);
	struct l2_obs sw = obs(NULL, "0050.5680.6a2e", L2_STATE_DYNAMIC, 10, "Eth1/1", 10);
	size_t n;

	assert_int_equal(l2_merge_add(m, "zz-switch", 2000, &sw, 1), 0);
	assert_int_equal(l2_merge_add(m, "aa-gw", 1000, &gw, 1), 0);
	assert_int_equal(l2_merge_finish(m), 0);
	const struct l2_mac *o = l2_merge_mac_find(m, gw.mac, &n);
	assert_int_equal(n, 2);
	assert_string_equal(l2_merge_device_name(m, o[0].device), "aa-gw");
	assert_string_equal(l2_merge_device_name(m, o[1].device), "zz-switch");
	assert_int_equal(o[0].n_ips, 1);
	assert_int_equal(o[1].n_ips, 0);
	assert_string_equal(o[0].ifnames[0], "Vlan10");
	assert_string_equal(o[1].ifnames[0], "Eth1/1");
	assert_int_equal(o[1].vlans[0], 10);
	const struct l2_ip *ip = l2_merge_ip_find(m, &gw.ip);
	assert_int_equal(ip->n_devices, 1);
	assert_int_equal(ip->n_macs, 1);
	l2_merge_destroy(m);
}

static void free_batch(struct doc_batch *b)
{
	for (size_t k = 0; k < b->n; k++)
		free(b->v[k].json);
	free(b->v);
	memset(b, 0, sizeof(*b));
}

/*
 * The paper's figure 8 by-IP object: 211.73.77.1 seen Incomplete and
 * Deleted with the zero MAC, then Dynamic with a real one. Exact documents.
 */
static void test_paper_object_docs(void **state)
{
	(void)state;
	struct l2_merge *m = l2_merge_create("campus", SLOT, NULL);
	struct l2_obs v[] = {
	    obs("211.73.77.1", "0000.0000.0000", L2_STATE_INCOMPLETE, 3, "GigabitEthernet0/9/2/6",
	        -1),
	    obs("211.73.77.1", "0000.0000.0000", L2_STATE_DELETED, -1, "GigabitEthernet0/9/2/7",
	        -1),
	    obs("211.73.77.1", "D0:94:66:73:12:D9", L2_STATE_DYNAMIC, 40, "GigabitEthernet0/9/1/6",
	        -1),
	    obs("211.73.77.2", "0000.0000.0000", L2_STATE_INCOMPLETE, 1, "GigabitEthernet0/9/2/6",
	        -1),
	};
	struct doc_batch b = {0};

	assert_int_equal(l2_merge_add(m, "TWAREN-TN-N5672-M-01", 1685283070000ull, v, 3), 0);
	assert_int_equal(l2_merge_add(m, "TWAREN-TN-N5672-M-01", 1685283196000ull, &v[3], 1), 0);
	assert_int_equal(l2_doc_build(m, &b), -EINVAL); /* not finished */
	assert_int_equal(l2_merge_finish(m), 0);
	assert_int_equal(l2_doc_build(m, &b), 0);
	assert_int_equal(b.n, 2 + 2);

	assert_string_equal(b.v[0].kind, "arpIp");
	assert_string_equal(b.v[0].key, "211.73.77.1");
	assert_string_equal(
	    b.v[0].json,
	    "{\"kind\":\"arpIp\",\"site\":\"campus\",\"timeSlot\":5648278,"
	    "\"@timestamp\":\"2023-09-12T01:50:00Z\",\"ip\":\"211.73.77.1\","
	    "\"timestamp\":1685283070000,\"macList\":[\"00:00:00:00:00:00\",\"d0:94:66:73:12:d9\"],"
	    "\"typeList\":[\"Dynamic\",\"Incomplete\",\"Deleted\"],"
	    "\"deviceList\":[\"TWAREN-TN-N5672-M-01\"],\"observations\":3,\"minAgeSeconds\":3,"
	    "\"labels\":[],\"reasons\":{}}");
	assert_int_equal(b.v[0].len, strlen(b.v[0].json));
	assert_string_equal(b.v[1].key, "211.73.77.2");
	assert_string_equal(
	    b.v[1].json,
	    "{\"kind\":\"arpIp\",\"site\":\"campus\",\"timeSlot\":5648278,"
	    "\"@timestamp\":\"2023-09-12T01:50:00Z\",\"ip\":\"211.73.77.2\","
	    "\"timestamp\":1685283196000,\"macList\":[\"00:00:00:00:00:00\"],"
	    "\"typeList\":[\"Incomplete\"],\"deviceList\":[\"TWAREN-TN-N5672-M-01\"],"
	    "\"observations\":1,\"minAgeSeconds\":1,\"labels\":[\"unresolved\",\"zeroMac\"],"
	    "\"reasons\":{\"unresolved\":{\"value\":1,\"types\":[\"Incomplete\"],\"devices\":1,"
	    "\"minAgeSeconds\":1},\"zeroMac\":{\"value\":1,\"devices\":1}}}");

	/* By MAC: the zero MAC first, its two IPs and the interfaces they came in on. */
	assert_string_equal(b.v[2].kind, "arpMac");
	assert_string_equal(b.v[2].key, "00:00:00:00:00:00@TWAREN-TN-N5672-M-01");
	assert_string_equal(
	    b.v[2].json,
	    "{\"kind\":\"arpMac\",\"site\":\"campus\",\"timeSlot\":5648278,"
	    "\"@timestamp\":\"2023-09-12T01:50:00Z\",\"mac\":\"00:00:00:00:00:00\","
	    "\"device\":\"TWAREN-TN-N5672-M-01\",\"timestamp\":1685283196000,"
	    "\"ipList\":[\"211.73.77.1\",\"211.73.77.2\"],"
	    "\"interfaceList\":[\"GigabitEthernet0/9/2/6\",\"GigabitEthernet0/9/2/7\"],"
	    "\"vlanList\":[],\"typeList\":[\"Incomplete\",\"Deleted\"],\"observations\":3,"
	    "\"labels\":[],\"reasons\":{}}");
	assert_string_equal(b.v[3].key, "d0:94:66:73:12:d9@TWAREN-TN-N5672-M-01");

	/* Every document parses and carries the common fields. */
	for (size_t k = 0; k < b.n; k++) {
		json_error_t e;
		json_t *o = json_loads(b.v[k].json, 0, &e);
		assert_non_null(o);
		assert_string_equal(json_string_value(json_object_get(o, "kind")), b.v[k].kind);
		assert_string_equal(json_string_value(json_object_get(o, "site")), "campus");
		assert_int_equal(json_integer_value(json_object_get(o, "timeSlot")), SLOT);
		json_decref(o);
	}
	free_batch(&b);
	l2_merge_destroy(m);
}

/* Device order and entry order do not change a single byte of the documents. */
static void test_order_independent(void **state)
{
	(void)state;
	struct l2_merge *m1 = seed_merge(false), *m2 = seed_merge(true);
	struct doc_batch b1 = {0}, b2 = {0};

	assert_int_equal(l2_merge_finish(m1), 0);
	assert_int_equal(l2_merge_finish(m2), 0);
	assert_int_equal(l2_doc_build(m1, &b1), 0);
	assert_int_equal(l2_doc_build(m2, &b2), 0);
	assert_int_equal(b1.n, 28 + 24);
	assert_int_equal(b1.n, b2.n);
	for (size_t k = 0; k < b1.n; k++) {
		assert_string_equal(b1.v[k].key, b2.v[k].key);
		assert_string_equal(b1.v[k].json, b2.v[k].json);
	}
	free_batch(&b1);
	free_batch(&b2);
	l2_merge_destroy(m1);
	l2_merge_destroy(m2);
}

/* Keys fit DOC_KEY_MAX; a long device name is cut and hashed, still unique. */
static void test_doc_keys(void **state)
{
	(void)state;
	struct l2_merge *m = l2_merge_create("s", 1, NULL);
	struct l2_obs o = obs(NULL, "0011.2233.4455", L2_STATE_DYNAMIC, -1, "Eth1", 1);
	const char *d1 = "a-very-long-device-name-in-building-7-floor-3-rack-a";
	const char *d2 = "a-very-long-device-name-in-building-7-floor-3-rack-b";
	struct doc_batch b = {0};

	assert_int_equal(l2_merge_add(m, d1, 1, &o, 1), 0);
	assert_int_equal(l2_merge_add(m, d2, 1, &o, 1), 0);
	assert_int_equal(l2_merge_finish(m), 0);
	assert_int_equal(l2_doc_build(m, &b), 0);
	assert_int_equal(b.n, 2);
	assert_int_equal(strlen(b.v[0].key), DOC_KEY_MAX - 1);
	assert_int_equal(strlen(b.v[1].key), DOC_KEY_MAX - 1);
	assert_memory_equal(b.v[0].key, "00:11:22:33:44:55@a-very-long-device-n~", 39);
	assert_string_not_equal(b.v[0].key, b.v[1].key);
	free_batch(&b);
	l2_merge_destroy(m);
}

static void test_caps(void **state)
{
	(void)state;
	struct l2_merge_limits lim = {.max_ips = 2, .max_macs = 1};
	struct l2_merge *m = l2_merge_create("s", 1, &lim);
	struct l2_obs v[3] = {
	    obs("10.0.0.1", "0011.2233.4401", L2_STATE_DYNAMIC, 1, "a", -1),
	    obs("10.0.0.2", "0011.2233.4402", L2_STATE_DYNAMIC, 1, "a", -1),
	    obs("10.0.0.3", "0011.2233.4401", L2_STATE_DYNAMIC, 1, "a", -1),
	};
	struct l2_merge_stats st;

	assert_int_equal(l2_merge_add(m, "d", 1, v, 3), 0);
	l2_merge_stats_get(m, &st);
	assert_int_equal(st.ips_dropped, 1);
	assert_int_equal(st.macs_dropped, 1);
	l2_merge_destroy(m);

	/* One MAC answering for 300 IPs: the lists stop at L2_LIST_MAX. */
	m = l2_merge_create("s", 1, NULL);
	for (int k = 0; k < 300; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.0.%d.%d", k / 256, k % 256);
		struct l2_obs o = obs(ip, "0000.0000.0000", L2_STATE_INCOMPLETE, 1, "a", -1);
		assert_int_equal(l2_merge_add(m, "d", 1, &o, 1), 0);
	}
	assert_int_equal(l2_merge_finish(m), 0);
	size_t n;
	uint8_t zero[6] = {0};
	const struct l2_mac *z = l2_merge_mac_find(m, zero, &n);
	assert_int_equal(z->n_ips, L2_LIST_MAX);
	assert_int_equal(z->observations, 300);
	l2_merge_stats_get(m, &st);
	assert_int_equal(st.list_full, 300 - L2_LIST_MAX);
	l2_merge_destroy(m);
}

/* Many objects: the hash tables grow and every address is still found. */
static void test_many(void **state)
{
	(void)state;
	struct l2_merge *m = l2_merge_create("s", 1, NULL);
	for (int k = 0; k < 5000; k++) {
		char ip[32], mac[32];
		snprintf(ip, sizeof(ip), "10.1.%d.%d", k / 256, k % 256);
		snprintf(mac, sizeof(mac), "00:00:00:00:%02x:%02x", k / 256, k % 256);
		struct l2_obs o =
		    obs(ip, mac, k % 2 ? L2_STATE_DYNAMIC : L2_STATE_INCOMPLETE, k, "x", -1);
		assert_int_equal(l2_merge_add(m, k % 3 ? "a" : "b", (uint64_t)k, &o, 1), 0);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < 5000; k++) {
			char ip[32];
			snprintf(ip, sizeof(ip), "10.1.%d.%d", k / 256, k % 256);
			struct flow_addr a = A(ip);
			const struct l2_ip *o = l2_merge_ip_find(m, &a);
			assert_non_null(o);
			assert_int_equal(o->min_age_s, k);
			assert_int_equal(l2_merge_unresolved(m, &a), k % 2 == 0);
		}
		assert_int_equal(l2_merge_finish(m), 0);
	}
	size_t n;
	l2_merge_macs(m, &n);
	assert_int_equal(n, 5000);
	l2_merge_destroy(m);
}

static void test_bad_args(void **state)
{
	(void)state;
	char longname[L2_DEVICE_NAME_MAX + 1];
	struct l2_obs o = obs("10.0.0.1", NULL, L2_STATE_INCOMPLETE, 1, "", -1);
	size_t n;

	assert_null(l2_merge_create("", 1, NULL));
	assert_null(l2_merge_create(NULL, 1, NULL));
	struct l2_merge *m = l2_merge_create("s", 1, NULL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(l2_merge_add(m, "", 1, &o, 1), -EINVAL);
	assert_int_equal(l2_merge_add(m, longname, 1, &o, 1), -EINVAL);
	longname[L2_DEVICE_NAME_MAX - 1] = '\0';
	assert_int_equal(l2_merge_add(m, longname, 1, &o, 1), 0);
	assert_int_equal(l2_merge_add(m, "d", 1, NULL, 1), -EINVAL);
	assert_int_equal(l2_merge_add(m, "d", 1, NULL, 0), 0);
	/* Arrays are empty before finish. */
	assert_null(l2_merge_ips(m, &n));
	assert_int_equal(n, 0);
	for (int k = 2; k < L2_MAX_DEVICES; k++) {
		char name[16];
		snprintf(name, sizeof(name), "d%d", k);
		assert_int_equal(l2_merge_add(m, name, 1, &o, 1), 0);
	}
	assert_int_equal(l2_merge_add(m, "one-too-many", 1, &o, 1), -ENOSPC);
	assert_int_equal(l2_merge_add(m, "d", 1, &o, 1), 0); /* known device: fine */
	struct l2_merge_stats st;
	l2_merge_stats_get(m, &st);
	assert_int_equal(st.devices_full, 1);
	assert_int_equal(l2_merge_finish(m), 0);
	assert_int_equal(l2_merge_add(m, "d", 1, &o, 1), -EBUSY);
	const struct l2_ip *ip = l2_merge_ip_find(m, &o.ip);
	assert_int_equal(ip->n_devices, L2_LIST_MAX);       /* the list cap holds here too */
	assert_int_equal(ip->observations, L2_MAX_DEVICES); /* longname, d2..d1023, d */
	l2_merge_destroy(m);
	l2_merge_destroy(NULL);
}

/*
 * Every allocation fails once in turn: create, add, finish and documents
 * each fail cleanly (ASan/LSan see no leak, no invalid access), and the
 * merge stays destroyable.
 */
static void test_alloc_failures(void **state)
{
	(void)state;
	struct l2_obs_list xr;
	parse_file("seed_iosxr_arp.txt", L2_KIND_IOSXR, L2_CMD_ARP, &xr);
	struct l2_obs sw = obs(NULL, "0011.2233.4455", L2_STATE_DYNAMIC, 1, "Eth1", 7);
	unsigned failures = 0;

	for (unsigned nth = 1; nth < 400; nth++) {
		struct doc_batch b = {0};
		bool failed = false;

		fault_arm(nth - 1, FAULT_ONCE);
		struct l2_merge *m = l2_merge_create("campus", SLOT, NULL);
		if (!m) {
			failures++;
			continue;
		}
		int rc = l2_merge_add(m, "gw", TS_GW, xr.v, xr.n);
		if (rc == 0)
			rc = l2_merge_add(m, "sw", TS_GW, &sw, 1);
		if (rc != 0) {
			assert_int_equal(rc, -ENOMEM);
			failed = true;
		}
		assert_int_equal(l2_merge_finish(m), 0);
		rc = l2_doc_build(m, &b);
		if (rc != 0) {
			assert_int_equal(rc, -ENOMEM);
			failed = true;
		}
		fault_disarm();
		free_batch(&b);
		l2_merge_destroy(m);
		if (!failed) {
			/* No allocation left to fail: the sweep is complete. */
			assert_true(failures > 10);
			l2_obs_list_free(&xr);
			return;
		}
		failures++;
	}
	fail_msg("the allocation sweep did not finish");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_objects),
	    cmocka_unit_test(test_mac_on_two_devices),
	    cmocka_unit_test(test_paper_object_docs),
	    cmocka_unit_test(test_order_independent),
	    cmocka_unit_test(test_doc_keys),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_bad_args),
	    cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
