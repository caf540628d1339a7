/*
 * Unit tests for src/config/reload.c: which keys a reload finds changed
 * between two loaded configurations, and when each applies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "nfsentry/cfgreload.h"

static const char base_yaml[] = "log:\n"
                                "  level: info\n"
                                "listen: [127.0.0.1:2055]\n"
                                "exporters:\n"
                                "  allow: [10.0.0.0/8]\n"
                                "sites:\n"
                                "  - name: campus\n"
                                "    inside: [10.10.0.0/16]\n"
                                "    allow: [10.10.0.80]\n"
                                "  - name: lab\n"
                                "    inside: [10.20.0.0/16]\n"
                                "store:\n"
                                "  path: /tmp/x/nfsentry.db\n"
                                "web:\n"
                                "  listen: []\n";

/* Load text (written to a temporary file) into *c; the load must succeed. */
static void load(const char *text, struct config *c)
{
	char path[] = "/tmp/test_cfgreload.XXXXXX.yaml";
	int fd = mkstemps(path, 5);
	struct config_errors e;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int rc = config_load(path, c, &e);
	for (size_t i = 0; i < e.n; i++)
		fprintf(stderr, "%s\n", e.msg[i]);
	assert_int_equal(rc, 0);
	config_errors_free(&e);
	unlink(path);
}

/* base_yaml with the first occurrence of from replaced by to. */
static void load_edited(const char *from, const char *to, struct config *c)
{
	char buf[2048];
	const char *p = strstr(base_yaml, from);

	assert_non_null(p);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - base_yaml), base_yaml, to,
	         p + strlen(from));
	load(buf, c);
}

/* Compare base_yaml edited from -> to with base_yaml: exactly the n keys want, whens. */
static void assert_diff(const char *from, const char *to, const char *const *want,
                        const enum cfgreload_when *when, size_t n)
{
	struct config a, b;
	struct cfgreload_diff *d = malloc(sizeof(*d));

	assert_non_null(d);
	load(base_yaml, &a);
	load_edited(from, to, &b);
	cfgreload_compare(&a, &b, d);
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "  changed: %s (%s)\n", d->v[i].key,
		        cfgreload_when_name(d->v[i].when));
	assert_int_equal(d->n, n);
	assert_int_equal(d->more, 0);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(d->v[i].key, want[i]);
		assert_int_equal(d->v[i].when, when[i]);
	}
	free(d);
	config_free(&a);
	config_free(&b);
}

static void test_same_file_no_change(void **state)
{
	(void)state;
	assert_diff("level: info", "level: info", NULL, NULL, 0);
}

static void test_threshold_next_slot(void **state)
{
	static const char *const k[] = {"sites[lab].thresholds"};
	static const enum cfgreload_when w[] = {CFGRELOAD_NEXT_SLOT};

	(void)state;
	assert_diff("inside: [10.20.0.0/16]\n",
	            "inside: [10.20.0.0/16]\n    thresholds:\n      min_packets: 3\n", k, w, 1);
}

static void test_listen_and_store_restart(void **state)
{
	static const char *const k[] = {"listen"};
	static const enum cfgreload_when w[] = {CFGRELOAD_RESTART};
	static const char *const k2[] = {"store.path"};

	(void)state;
	assert_diff("127.0.0.1:2055", "127.0.0.1:2056", k, w, 1);
	assert_diff("/tmp/x/nfsentry.db", "/tmp/y/nfsentry.db", k2, w, 1);
}

static void test_at_once_keys(void **state)
{
	static const char *const k[] = {"log.level"};
	static const char *const k2[] = {"exporters.allow"};
	static const enum cfgreload_when w[] = {CFGRELOAD_AT_ONCE};

	(void)state;
	assert_diff("level: info", "level: debug", k, w, 1);
	assert_diff("allow: [10.0.0.0/8]", "allow: [10.0.0.0/8, 192.0.2.1]", k2, w, 1);
}

static void test_site_allow_and_caps(void **state)
{
	static const char *const k[] = {"sites[campus].allow", "sites[campus].peer_cap"};
	static const enum cfgreload_when w[] = {CFGRELOAD_NEXT_SLOT, CFGRELOAD_NEXT_SLOT};

	(void)state;
	assert_diff("allow: [10.10.0.80]", "allow: [10.10.0.81]\n    peer_cap: 50", k, w, 2);
}

/* A site's devices added (or changed): at once, for that site only. */
static void test_devices_at_once(void **state)
{
	static const char *const k[] = {"sites[lab].devices"};
	static const enum cfgreload_when w[] = {CFGRELOAD_AT_ONCE};

	(void)state;
	assert_diff("inside: [10.20.0.0/16]\n",
	            "inside: [10.20.0.0/16]\n"
	            "    devices:\n"
	            "      - name: gw1\n"
	            "        kind: ios-xr\n"
	            "        host: 192.0.2.254\n"
	            "        user: noc\n"
	            "        key: /etc/nfsentry/id_ed25519\n"
	            "        known_hosts: /var/lib/nfsentry/known_hosts\n",
	            k, w, 1);
}

/* Another token file: at once (the server checks each request against the token in force). */
static void test_token_at_once(void **state)
{
	static const char *const k[] = {"web.token_file"};
	static const enum cfgreload_when w[] = {CFGRELOAD_AT_ONCE};

	(void)state;
	assert_diff("  listen: []\n", "  listen: []\n  token_file: /etc/nfsentry/token\n", k, w, 1);
}

/* A sampling override: at once, for running sessions too. */
static void test_sampling_at_once(void **state)
{
	static const char *const k[] = {"exporters.sampling"};
	static const enum cfgreload_when w[] = {CFGRELOAD_AT_ONCE};

	(void)state;
	assert_diff("  allow: [10.0.0.0/8]\n",
	            "  allow: [10.0.0.0/8]\n  sampling:\n    - {exporter: 10.1.1.1, rate: 100}\n", k,
	            w, 1);
}

/* Advice: at once (the dashboard takes a copy); the top-level texts change every site's. */
static void test_advice_at_once(void **state)
{
	static const char *const k[] = {"sites[campus].advice"};
	static const char *const k2[] = {"sites[campus].advice", "sites[lab].advice", "advice"};
	static const enum cfgreload_when w[] = {CFGRELOAD_AT_ONCE, CFGRELOAD_AT_ONCE,
	                                        CFGRELOAD_AT_ONCE};

	(void)state;
	assert_diff("    allow: [10.10.0.80]\n",
	            "    allow: [10.10.0.80]\n    advice:\n      flood: Call upstream.\n", k, w, 1);
	assert_diff("  listen: []\n", "  listen: []\nadvice:\n  scan: Block it.\n", k2, w, 3);
}

/* The alert hook and its limits: at once (the alerter takes a copy). */
static void test_alerts_at_once(void **state)
{
	static const char *const k[] = {"alerts.hook", "alerts"};
	static const enum cfgreload_when w[] = {CFGRELOAD_AT_ONCE, CFGRELOAD_AT_ONCE};

	(void)state;
	assert_diff("  listen: []\n",
	            "  listen: []\nalerts:\n  hook: [/usr/local/bin/notify, --slot]\n"
	            "  rate_limit_s: 60\n",
	            k, w, 2);
}

/*
 * Sites are matched by name: a rename is a removal and an addition, other
 * inside prefixes are the site's "inside", each from the next slot, and
 * the other keys of a renamed site are not compared (it is a new site).
 */
static void test_sites_next_slot(void **state)
{
	static const char *const k_ren[] = {"sites[lab] removed", "sites[lab2] added"};
	static const char *const k_in[] = {"sites[lab].inside"};
	static const char *const k_inth[] = {"sites[lab].inside", "sites[lab].thresholds"};
	static const char *const k_add[] = {"sites[dorm] added"};
	static const enum cfgreload_when w[] = {CFGRELOAD_NEXT_SLOT, CFGRELOAD_NEXT_SLOT};

	(void)state;
	assert_diff("name: lab", "name: lab2", k_ren, w, 2);
	assert_diff("inside: [10.20.0.0/16]", "inside: [10.20.0.0/16, 10.21.0.0/16]", k_in, w, 1);
	assert_diff("inside: [10.20.0.0/16]\n",
	            "inside: [10.21.0.0/16]\n    thresholds:\n      min_packets: 3\n", k_inth, w,
	            2);
	assert_diff("store:", "  - name: dorm\n    inside: [10.30.0.0/16]\nstore:", k_add, w, 1);
	/* Another order of the same sites: nothing changed. */
	assert_diff("  - name: campus\n    inside: [10.10.0.0/16]\n    allow: [10.10.0.80]\n"
	            "  - name: lab\n    inside: [10.20.0.0/16]\n",
	            "  - name: lab\n    inside: [10.20.0.0/16]\n"
	            "  - name: campus\n    inside: [10.10.0.0/16]\n    allow: [10.10.0.80]\n",
	            NULL, w, 0);
}

/* From sites to none, or from none to sites: the slot engine is made at start only. */
static void test_sites_none_restart(void **state)
{
	static const char *const k[] = {"sites"};
	static const enum cfgreload_when w[] = {CFGRELOAD_RESTART};

	(void)state;
	assert_diff(
	    "sites:\n  - name: campus\n    inside: [10.10.0.0/16]\n    allow: [10.10.0.80]\n"
	    "  - name: lab\n    inside: [10.20.0.0/16]\n",
	    "sites: []\n", k, w, 1);
}

/*
 * The attack section: any key of it but the thresholds and the hook,
 * per-site overrides and groups included, is a restart.
 */
static void test_attack_restart(void **state)
{
	static const char *const k[] = {"attack"};
	static const char *const kt[] = {"attack.thresholds"};
	static const char *const kh[] = {"attack.hook"};
	static const char *const kwh[] = {"attack", "attack.hook"};
	static const enum cfgreload_when wwh[] = {CFGRELOAD_RESTART, CFGRELOAD_AT_ONCE};
	static const enum cfgreload_when w[] = {CFGRELOAD_RESTART};
	static const enum cfgreload_when wt[] = {CFGRELOAD_AT_ONCE};
	static const char site[] =
	    "web:\n  listen: []\nattack:\n  sites:\n    - site: campus\n"
	    "      thresholds: {in: {icmp: {pps: 10000}}}\n"
	    "      groups:\n        - prefix: 10.10.1.0/24\n"
	    "          thresholds: {in: {total: {pps: 1000000}}}\n";
	char other[sizeof(site)];

	(void)state;
	assert_diff("listen: []\n", "listen: []\nattack:\n  window_s: 7\n", k, w, 1);
	/* Thresholds alone: the detector's table is replaced at once. */
	assert_diff("listen: []\n", "listen: []\nattack:\n  thresholds: {out: {udp: {bps: 5}}}\n",
	            kt, wt, 1);
	/* The hook and its time-out: the hook thread's next run takes them. */
	assert_diff("listen: []\n", "listen: []\nattack:\n  hook: /bin/true\n", kh, wt, 1);
	assert_diff("listen: []\n", "listen: []\nattack:\n  hook_timeout_ms: 900\n", kh, wt, 1);
	/* With another key: that one still needs a restart. */
	assert_diff("listen: []\n", "listen: []\nattack:\n  window_s: 7\n  hook: /bin/true\n", kwh,
	            wwh, 2);
	/*
	 * The same overrides twice: no change; a group's threshold: the
	 * thresholds, at once; a group's prefix: a restart.
	 */
	struct config a, b;
	struct cfgreload_diff *d = malloc(sizeof(*d));
	assert_non_null(d);
	load_edited("web:\n  listen: []\n", site, &a);
	load_edited("web:\n  listen: []\n", site, &b);
	cfgreload_compare(&a, &b, d);
	assert_int_equal(d->n, 0);
	config_free(&b);
	snprintf(other, sizeof(other), "%s", site);
	memcpy(strstr(other, "1000000"), "1000001", 7);
	load_edited("web:\n  listen: []\n", other, &b);
	cfgreload_compare(&a, &b, d);
	assert_int_equal(d->n, 1);
	assert_string_equal(d->v[0].key, "attack.thresholds");
	assert_int_equal(d->v[0].when, CFGRELOAD_AT_ONCE);
	config_free(&b);
	snprintf(other, sizeof(other), "%s", site);
	memcpy(strstr(other, "10.10.1.0"), "10.10.2.0", 9);
	load_edited("web:\n  listen: []\n", other, &b);
	cfgreload_compare(&a, &b, d);
	assert_int_equal(d->n, 1);
	assert_string_equal(d->v[0].key, "attack");
	assert_int_equal(d->v[0].when, CFGRELOAD_RESTART);
	config_free(&b);
	config_free(&a);
	/* A hook removed: at once too (the thread stays, without a command). */
	load_edited("web:\n  listen: []\n", "web:\n  listen: []\nattack:\n  hook: /bin/true\n", &a);
	load(base_yaml, &b);
	cfgreload_compare(&a, &b, d);
	assert_int_equal(d->n, 1);
	assert_string_equal(d->v[0].key, "attack.hook");
	assert_int_equal(d->v[0].when, CFGRELOAD_AT_ONCE);
	config_free(&b);
	config_free(&a);
	free(d);
}

/*
 * The reputation section: the hook and its time-out at once (the hook
 * thread's next run); every other key but allow still a restart.
 */
static void test_reputation_hook_at_once(void **state)
{
	static const char *const kh[] = {"reputation.hook"};
	static const char *const kr[] = {"reputation"};
	static const char *const krh[] = {"reputation", "reputation.hook"};
	static const enum cfgreload_when wa[] = {CFGRELOAD_AT_ONCE};
	static const enum cfgreload_when wr[] = {CFGRELOAD_RESTART};
	static const enum cfgreload_when wrh[] = {CFGRELOAD_RESTART, CFGRELOAD_AT_ONCE};

	(void)state;
	assert_diff("listen: []\n", "listen: []\nreputation:\n  hook: /bin/true\n", kh, wa, 1);
	assert_diff("listen: []\n", "listen: []\nreputation:\n  hook_timeout_s: 3\n", kh, wa, 1);
	assert_diff("listen: []\n", "listen: []\nreputation:\n  hook_queue: 7\n", kr, wr, 1);
	assert_diff("listen: []\n", "listen: []\nreputation:\n  hook_queue: 7\n  hook: /bin/true\n",
	            krh, wrh, 2);
}

/* The daily section: the hook and its time-out at once (the runner's next site-day). */
static void test_daily_hook_at_once(void **state)
{
	static const char *const kh[] = {"daily.hook"};
	static const char *const kr[] = {"daily"};
	static const char *const krh[] = {"daily", "daily.hook"};
	static const enum cfgreload_when wa[] = {CFGRELOAD_AT_ONCE};
	static const enum cfgreload_when wr[] = {CFGRELOAD_RESTART};
	static const enum cfgreload_when wrh[] = {CFGRELOAD_RESTART, CFGRELOAD_AT_ONCE};

	(void)state;
	assert_diff("listen: []\n", "listen: []\ndaily:\n  hook_timeout_s: 3\n", kh, wa, 1);
	assert_diff("listen: []\n", "listen: []\ndaily:\n  run_hour: 4\n", kr, wr, 1);
	/* A hook needs report_dir, a restart key: both are listed. */
	assert_diff("listen: []\n",
	            "listen: []\ndaily:\n  report_dir: /tmp\n  hook: [/bin/true, x]\n", krh, wrh,
	            2);
}

/* Several keys at once, in section order, each with its time. */
static void test_mixed(void **state)
{
	static const char *const k[] = {"log.level", "listen", "sites[campus].thresholds",
	                                "web.listen"};
	static const enum cfgreload_when w[] = {CFGRELOAD_AT_ONCE, CFGRELOAD_RESTART,
	                                        CFGRELOAD_NEXT_SLOT, CFGRELOAD_RESTART};
	char buf[2048];
	struct config a, b;
	struct cfgreload_diff *d = malloc(sizeof(*d));

	(void)state;
	assert_non_null(d);
	snprintf(
	    buf, sizeof(buf), "%s",
	    "log:\n  level: warn\nlisten: [127.0.0.1:2099]\nexporters:\n  allow: [10.0.0.0/8]\n"
	    "sites:\n  - name: campus\n    inside: [10.10.0.0/16]\n    allow: [10.10.0.80]\n"
	    "    thresholds:\n      scan_min_share: 0.77\n"
	    "  - name: lab\n    inside: [10.20.0.0/16]\n"
	    "store:\n  path: /tmp/x/nfsentry.db\nweb:\n  listen: [127.0.0.1:9999]\n");
	load(base_yaml, &a);
	load(buf, &b);
	cfgreload_compare(&a, &b, d);
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "  changed: %s (%s)\n", d->v[i].key,
		        cfgreload_when_name(d->v[i].when));
	assert_int_equal(d->n, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(d->v[i].key, k[i]);
		assert_int_equal(d->v[i].when, w[i]);
	}
	assert_true(cfgreload_sites_same_shape(&a, &b));
	free(d);
	config_free(&a);
	config_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_file_no_change),
	    cmocka_unit_test(test_threshold_next_slot),
	    cmocka_unit_test(test_listen_and_store_restart),
	    cmocka_unit_test(test_at_once_keys),
	    cmocka_unit_test(test_site_allow_and_caps),
	    cmocka_unit_test(test_devices_at_once),
	    cmocka_unit_test(test_token_at_once),
	    cmocka_unit_test(test_alerts_at_once),
	    cmocka_unit_test(test_sampling_at_once),
	    cmocka_unit_test(test_advice_at_once),
	    cmocka_unit_test(test_sites_next_slot),
	    cmocka_unit_test(test_sites_none_restart),
	    cmocka_unit_test(test_mixed),
	    cmocka_unit_test(test_attack_restart),
	    cmocka_unit_test(test_reputation_hook_at_once),
	    cmocka_unit_test(test_daily_hook_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
