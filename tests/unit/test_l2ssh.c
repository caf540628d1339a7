/*
 * Tests for src/l2/ssh.c and src/l2/poll.c without an SSH server: fixture
 * names, failures that need no server (refused connection, a port that
 * accepts and never speaks, cancellation), the replay fixtures joined to a
 * slot, a reload's new devices (l2poll_devices_set), and the judge's
 * arpUnused rule with its reason in the offender
 * document. tests/integration/ssh.sh runs the same code against sshd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nfsentry/doc.h"
#include "nfsentry/judge.h"
#include "nfsentry/l2poll.h"
#include "nfsentry/l2ssh.h"
#include "slot_helpers.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A listening TCP socket on 127.0.0.1 that never accepts; its port in *port. */
static int mute_listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_device(struct site_device *d, uint16_t port, uint32_t timeout_s)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "gw1");
	d->kind = L2_KIND_IOSXR;
	snprintf(d->host, sizeof(d->host), "127.0.0.1");
	d->port = port;
	snprintf(d->user, sizeof(d->user), "noc");
	snprintf(d->key, sizeof(d->key), "/nonexistent/key");
	snprintf(d->known_hosts, sizeof(d->known_hosts), "/nonexistent/known_hosts");
	snprintf(d->commands[0], sizeof(d->commands[0]), "show arp");
	d->n_commands = 1;
	d->timeout_s = timeout_s;
}

static void test_command_file(void **state)
{
	char b[64];

	(void)state;
	l2poll_command_file("show arp", b, sizeof(b));
	assert_string_equal(b, "show_arp.txt");
	l2poll_command_file("show arp no-resolve | no-more", b, sizeof(b));
	assert_string_equal(b, "show_arp_no_resolve_no_more.txt");
	l2poll_command_file("  SHOW MAC address-table ", b, sizeof(b));
	assert_string_equal(b, "show_mac_address_table.txt");
	/* Cut to fit, never overflowing. */
	l2poll_command_file("show mac address-table", b, 12);
	assert_string_equal(b, "show_ma.txt");
}

static void test_connect_refused(void **state)
{
	struct site_device d;
	struct l2ssh_output out[1];
	char err[512], want[64];
	uint16_t port;
	int fd = mute_listener(&port);

	(void)state;
	close(fd); /* nothing listens there now */
	test_device(&d, port, 5);
	int rc = l2ssh_poll(&d, out, NULL, err, sizeof(err));
	assert_int_equal(rc, L2SSH_E_CONNECT);
	assert_string_equal(l2ssh_error_name(rc), "connect");
	snprintf(want, sizeof(want), "127.0.0.1:%u: connect: ", port);
	assert_memory_equal(err, want, strlen(want));
	assert_null(out[0].text);
	l2ssh_output_free(out, 1);
}

static void test_mute_timeout(void **state)
{
	struct site_device d;
	struct l2ssh_output out[1];
	char err[512];
	uint16_t port;
	int fd = mute_listener(&port);

	(void)state;
	test_device(&d, port, 1);
	uint64_t t0 = now_ms();
	int rc = l2ssh_poll(&d, out, NULL, err, sizeof(err));
	uint64_t dt = now_ms() - t0;
	assert_int_equal(rc, L2SSH_E_TIMEOUT);
	assert_non_null(strstr(err, "connect: no SSH answer within the timeout of 1 s"));
	assert_true(dt >= 950 && dt < 2000);
	l2ssh_output_free(out, 1);
	close(fd);
}

/* l2poll_status_get: a live device's polls and failures, and its last result. */
static void test_status(void **state)
{
	struct site_config site;
	struct l2poll *p = NULL;
	struct l2poll_status st[2];
	uint16_t port;
	int fd = mute_listener(&port);

	(void)state;
	close(fd); /* refused at once */
	test_site(&site);
	site.devices = calloc(1, sizeof(*site.devices));
	assert_non_null(site.devices);
	test_device(&site.devices[0], port, 2);
	site.devices[0].interval_s = 1;
	site.n_devices = 1;
	assert_int_equal(l2poll_status_get(NULL, st, 2), 0);
	assert_int_equal(l2poll_start(&site, 1, &p), 0);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(l2poll_status_get(p, st, 2), 1);
		if (st[0].polls >= 2)
			break;
		usleep(10000);
	}
	assert_true(st[0].polled);
	assert_true(st[0].polls >= 2);
	assert_int_equal(st[0].failures, st[0].polls);
	assert_int_equal(st[0].last.rc, L2SSH_E_CONNECT);
	/* The names point into the poller: valid until it stops. */
	assert_string_equal(st[0].last.site, "campus");
	assert_string_equal(st[0].last.dev->name, "gw1");
	assert_true(st[0].last.ts_ms > 0);
	l2poll_stop(p);
	free(site.devices);
}

/* Wait up to 3 s until device 0 of p is named name and has completed min polls. */
static void wait_polls(struct l2poll *p, const char *name, uint64_t min)
{
	struct l2poll_status st[2];

	for (int i = 0; i < 300; i++) {
		if (l2poll_status_get(p, st, 2) == 1 && strcmp(st[0].last.dev->name, name) == 0 &&
		    st[0].polls >= min)
			return;
		usleep(10000);
	}
	fail_msg("device %s did not complete %llu polls", name, (unsigned long long)min);
}

/*
 * A reload's devices: a poller started without devices takes one; the
 * same devices change nothing (the thread and its polls go on); a device
 * whose poll hangs is replaced without waiting for that poll, and the
 * stop does not wait for it either; fewer sites than running are refused.
 */
static void test_devices_set(void **state)
{
	struct site_config site, next;
	struct site_device dev[1];
	struct l2poll *p = NULL;
	struct l2poll_status st[2];
	size_t changed = 9;
	uint16_t refused, mute;
	int fd = mute_listener(&refused), mfd = mute_listener(&mute);

	(void)state;
	close(fd); /* refused at once */
	test_site(&site);
	assert_int_equal(l2poll_start(&site, 1, &p), 0);
	assert_non_null(p);
	assert_int_equal(l2poll_status_get(p, st, 2), 0);

	next = site;
	test_device(&dev[0], refused, 2);
	dev[0].interval_s = 1;
	next.devices = dev;
	next.n_devices = 1;
	assert_int_equal(l2poll_devices_set(p, &next, 1, &changed), 0);
	assert_int_equal(changed, 1);
	wait_polls(p, "gw1", 2);
	assert_int_equal(l2poll_devices_set(p, &next, 1, &changed), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(l2poll_status_get(p, st, 2), 1);
	wait_polls(p, "gw1", st[0].polls + 1); /* the same thread goes on counting */

	/* A poll that hangs (a port that never speaks, 60 s timeout) on gw2. */
	test_device(&dev[0], mute, 60);
	snprintf(dev[0].name, sizeof(dev[0].name), "gw2");
	assert_int_equal(l2poll_devices_set(p, &next, 1, &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(l2poll_status_get(p, st, 2), 1);
	assert_string_equal(st[0].last.dev->name, "gw2");
	assert_false(st[0].polled);
	usleep(200000); /* gw2's poll is connected and waiting */
	test_device(&dev[0], refused, 2);
	dev[0].interval_s = 1;
	snprintf(dev[0].name, sizeof(dev[0].name), "gw3");
	uint64_t t0 = now_ms();
	assert_int_equal(l2poll_devices_set(p, &next, 1, &changed), 0);
	assert_true(now_ms() - t0 < 500);
	assert_int_equal(changed, 1);
	/* The status taken before still names its device: replaced devices stay until stop. */
	assert_string_equal(st[0].last.dev->name, "gw2");
	wait_polls(p, "gw3", 1);
	assert_int_equal(l2poll_devices_set(p, &next, 0, &changed), -EINVAL);
	assert_int_equal(changed, 0);
	t0 = now_ms();
	l2poll_stop(p);
	assert_true(now_ms() - t0 < 2000);
	close(mfd);
	assert_int_equal(l2poll_devices_set(NULL, &next, 1, &changed), -EINVAL);
}

/*
 * A reload that adds a site: its devices start at the site's index past
 * the start's (an index between, a removed site's, has none); removing it
 * again stops them; more than L2POLL_SITES_MAX sites are refused.
 */
static void test_devices_set_added_site(void **state)
{
	struct site_config site, next[3];
	struct site_device dev[1];
	struct l2poll *p = NULL;
	struct l2poll_status st[2];
	size_t changed = 9;
	uint16_t refused;
	int fd = mute_listener(&refused);

	(void)state;
	close(fd); /* refused at once */
	test_site(&site);
	assert_int_equal(l2poll_start(&site, 1, &p), 0);
	assert_non_null(p);

	next[0] = site;
	memset(&next[1], 0, sizeof(next[1]));
	test_site(&next[2]);
	snprintf(next[2].name, sizeof(next[2].name), "lab");
	test_device(&dev[0], refused, 2);
	dev[0].interval_s = 1;
	next[2].devices = dev;
	next[2].n_devices = 1;
	assert_int_equal(l2poll_devices_set(p, next, 3, &changed), 0);
	assert_int_equal(changed, 1);
	wait_polls(p, "gw1", 1);
	assert_int_equal(l2poll_status_get(p, st, 2), 1);
	assert_string_equal(st[0].last.site, "lab");
	/* The added site's index is taken now: fewer sites are refused. */
	assert_int_equal(l2poll_devices_set(p, next, 2, &changed), -EINVAL);
	assert_int_equal(l2poll_status_get(p, st, 2), 1);

	next[2].devices = NULL;
	next[2].n_devices = 0;
	assert_int_equal(l2poll_devices_set(p, next, 3, &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(l2poll_status_get(p, st, 2), 0);
	assert_int_equal(l2poll_devices_set(p, next, L2POLL_SITES_MAX + 1, &changed), -EINVAL);
	l2poll_stop(p);
}

static void test_cancel(void **state)
{
	struct site_device d;
	struct l2ssh_output out[1];
	char err[512];
	uint16_t port;
	int fd = mute_listener(&port);
	volatile bool cancel = true;

	(void)state;
	test_device(&d, port, 60);
	uint64_t t0 = now_ms();
	int rc = l2ssh_poll(&d, out, &cancel, err, sizeof(err));
	assert_int_equal(rc, L2SSH_E_CANCELLED);
	assert_true(now_ms() - t0 < 1000);
	l2ssh_output_free(out, 1);
	close(fd);
}

/* One site "campus" with gw1 (ios-xr, show arp) and sw1 (nxos, both tables). */
struct fixture_cfg {
	struct site_config site;
	struct site_device dev[2];
};

static void fixture_cfg(struct fixture_cfg *f)
{
	memset(f, 0, sizeof(*f));
	test_site(&f->site);
	test_device(&f->dev[0], 22, 20);
	f->dev[0].gateway = true; /* gw1: its ARP table is evidence */
	test_device(&f->dev[1], 22, 20);
	snprintf(f->dev[1].name, sizeof(f->dev[1].name), "sw1");
	f->dev[1].kind = L2_KIND_NXOS;
	snprintf(f->dev[1].commands[0], sizeof(f->dev[1].commands[0]), "show ip arp");
	snprintf(f->dev[1].commands[1], sizeof(f->dev[1].commands[1]), "show mac address-table");
	f->dev[1].n_commands = 2;
	f->site.devices = f->dev;
	f->site.n_devices = 2;
}

static void test_load_dir(void **state)
{
	struct fixture_cfg f;
	struct l2poll *p = NULL;
	struct l2_merge *m = NULL;
	struct flow_addr a;
	char err[512];

	(void)state;
	fixture_cfg(&f);
	assert_int_equal(l2poll_load_dir(&f.site, 1, TEST_DATA_DIR "/l2/ssh", &p, err, sizeof(err)),
	                 0);
	assert_non_null(p);
	assert_int_equal(l2poll_slot_merge(p, 0, 5890752, &m), 0);
	assert_non_null(m);
	assert_int_equal(l2_merge_time_slot(m), 5890752);
	size_t n_ips = 0, n_macs = 0;
	l2_merge_ips(m, &n_ips);
	l2_merge_macs(m, &n_macs);
	assert_int_equal(n_ips, 7);
	assert_int_equal(n_macs, 7);
	flow_addr_parse("10.10.1.166", &a);
	assert_true(l2_merge_unresolved(m, &a));
	const struct l2_ip *o = l2_merge_ip_find(m, &a);
	assert_non_null(o);
	/* As if polled just before the slot ended. */
	assert_int_equal(o->timestamp_ms, (5890752ull + 1) * 300000 - L2POLL_MARGIN_S * 1000);
	flow_addr_parse("10.10.1.96", &a);
	assert_false(l2_merge_unresolved(m, &a));
	l2_merge_destroy(m);
	/* A site index beyond the configuration: nothing, not an error. */
	assert_int_equal(l2poll_slot_merge(p, 1, 5890752, &m), 0);
	assert_null(m);
	l2poll_stop(p);

	p = NULL;
	assert_int_equal(l2poll_load_dir(&f.site, 1, "/nonexistent", &p, err, sizeof(err)),
	                 -ENOENT);
	assert_null(p);
	assert_string_equal(err, "--arp: /nonexistent/gw1/show_arp.txt (device gw1, command \"show "
	                         "arp\"): No such file or directory");
}

/*
 * The poller takes the sites, not the configuration: site indexes are
 * positions in the array, sites without devices are skipped, and no device
 * at all is an error for --arp.
 */
static void test_load_dir_sites(void **state)
{
	struct fixture_cfg f;
	struct site_config sites[2];
	struct l2poll *p = NULL;
	struct l2_merge *m = NULL;
	char err[512];

	(void)state;
	fixture_cfg(&f);
	test_site(&sites[0]);
	snprintf(sites[0].name, sizeof(sites[0].name), "lab");
	sites[1] = f.site;
	assert_int_equal(l2poll_load_dir(sites, 2, TEST_DATA_DIR "/l2/ssh", &p, err, sizeof(err)),
	                 0);
	assert_int_equal(l2poll_slot_merge(p, 0, 5890752, &m), 0);
	assert_null(m);
	assert_int_equal(l2poll_slot_merge(p, 1, 5890752, &m), 0);
	assert_non_null(m);
	assert_string_equal(l2_merge_site(m), "campus");
	size_t n_ips = 0;
	l2_merge_ips(m, &n_ips);
	assert_int_equal(n_ips, 7);
	l2_merge_destroy(m);
	assert_int_equal(l2poll_slot_merge(p, 2, 5890752, &m), 0);
	assert_null(m);
	l2poll_stop(p);

	p = NULL;
	assert_int_equal(l2poll_load_dir(sites, 1, TEST_DATA_DIR "/l2/ssh", &p, err, sizeof(err)),
	                 -ENOENT);
	assert_null(p);
	assert_string_equal(err,
	                    "--arp " TEST_DATA_DIR "/l2/ssh: the configuration has no devices");
	assert_int_equal(l2poll_load_dir(NULL, 0, TEST_DATA_DIR "/l2/ssh", &p, err, sizeof(err)),
	                 -ENOENT);
	assert_null(p);
}

static void add1(struct slot *s, enum slot_dir dir, struct flow f)
{
	slot_add(s, dir, &f);
}

/*
 * judge_l2.arp over the fixtures: gw1 (gateway: true) shows 10.10.1.96
 * resolved, 10.10.1.166 Incomplete (aged 4 s), 10.10.1.250 Deleted. An
 * address of 10.10.1.0/24 it does not show is still in its subnet (polled,
 * missing); one of 10.10.7.0/24 is not (a network it does not serve). With
 * gw1 not marked gateway, nothing is gateway evidence.
 */
static void test_judge_arp_facts(void **state)
{
	struct fixture_cfg f;
	struct l2poll *p = NULL;
	struct l2_merge *m = NULL;
	struct judge_l2 l2;
	struct judge_arp a;
	struct flow_addr ip;
	char err[512];

	(void)state;
	fixture_cfg(&f);
	assert_int_equal(l2poll_load_dir(&f.site, 1, TEST_DATA_DIR "/l2/ssh", &p, err, sizeof(err)),
	                 0);
	assert_int_equal(l2poll_slot_merge(p, 0, 5890752, &m), 0);
	l2_judge_bind(m, &l2);
	assert_non_null(l2.arp);

	flow_addr_parse("10.10.1.96", &ip);
	l2.arp(l2.ud, &f.site, &ip, &a);
	assert_true(a.gateway_polled && a.on_gateway && a.resolved_gw && a.resolved);
	assert_false(a.incomplete_gw || a.zero_mac);

	flow_addr_parse("10.10.1.166", &ip);
	l2.arp(l2.ud, &f.site, &ip, &a);
	assert_true(a.gateway_polled && a.on_gateway && a.incomplete_gw);
	assert_false(a.resolved_gw || a.resolved || a.zero_mac);
	assert_int_equal(a.min_age_s, 4);

	flow_addr_parse("10.10.1.250", &ip);
	l2.arp(l2.ud, &f.site, &ip, &a);
	assert_true(a.on_gateway);
	assert_false(a.incomplete_gw);
	assert_int_equal(a.types, 1u << L2_STATE_DELETED);

	flow_addr_parse("10.10.1.77", &ip);
	l2.arp(l2.ud, &f.site, &ip, &a);
	assert_true(a.gateway_polled);
	assert_false(a.on_gateway || a.resolved_gw);
	assert_int_equal(a.min_age_s, -1);

	flow_addr_parse("10.10.7.1", &ip);
	l2.arp(l2.ud, &f.site, &ip, &a);
	assert_false(a.gateway_polled);

	f.dev[0].gateway = false;
	flow_addr_parse("10.10.1.166", &ip);
	l2.arp(l2.ud, &f.site, &ip, &a);
	assert_false(a.gateway_polled || a.on_gateway || a.incomplete_gw);

	l2_merge_destroy(m);
	l2poll_stop(p);
}

/*
 * 198.51.100.7 reaches 10.10.1.166 (Incomplete at the gateway) and
 * 10.10.1.80 (resolved): arpUnused with value 1 and the one address in the
 * reason. 203.0.113.9 reaches only the resolved host: nothing. Without the
 * L2 knowledge, no arpUnused at all (and no L2 fields on inside documents).
 */
static void test_judge_arp_unused(void **state)
{
	struct fixture_cfg f;
	struct l2poll *p = NULL;
	struct l2_merge *m = NULL;
	char err[512];

	(void)state;
	fixture_cfg(&f);
	assert_int_equal(l2poll_load_dir(&f.site, 1, TEST_DATA_DIR "/l2/ssh", &p, err, sizeof(err)),
	                 0);
	assert_int_equal(l2poll_slot_merge(p, 0, 5890752, &m), 0);

	for (int with_l2 = 0; with_l2 < 2; with_l2++) {
		struct slot *s = slot_create(&f.site, 0, 5890752, 1);
		assert_non_null(s);
		add1(s, SLOT_INGRESS,
		     mkflow("198.51.100.7", "10.10.1.166", 6, 40000, 22, 2, 1, 40, T0_MS));
		add1(s, SLOT_INGRESS,
		     mkflow("198.51.100.7", "10.10.1.80", 6, 40001, 22, 2, 1, 40, T0_MS));
		add1(s, SLOT_INGRESS,
		     mkflow("203.0.113.9", "10.10.1.80", 6, 40002, 443, 2, 1, 40, T0_MS));
		add1(s, SLOT_EGRESS,
		     mkflow("10.10.1.80", "203.0.113.9", 6, 443, 40002, 18, 1, 40, T0_MS));
		assert_non_null(slot_finish(s));
		struct slot_view *v = slot_view_mut(s);
		struct judge_result jr;
		struct judge_l2 l2;
		struct doc_l2 dl2;
		l2_judge_bind(m, &l2);
		l2_merge_doc_bind(m, &dl2);
		assert_int_equal(judge_slot_l2(v, with_l2 ? &l2 : NULL, &jr), 0);
		long k = find_outside(v, "198.51.100.7");
		assert_true(k >= 0);
		const struct slot_outside *o = &v->outside[k];
		bool found = false;
		for (unsigned i = 0; i < o->n_labels; i++) {
			const struct slot_label *l = &slot_labels_of(v, o->label_first)[i];
			if (l->id != JUDGE_ARPUNUSED)
				continue;
			found = true;
			assert_true(l->value == 1.0);
			assert_true(l->threshold == 1.0);
		}
		assert_int_equal(found, with_l2);
		/* In C either way: 10.10.1.166 sent nothing (METHOD §4 example 2). */
		assert_true(o->in_c);
		assert_int_equal(jr.labels[JUDGE_ARPUNUSED], with_l2 ? 1 : 0);
		long k2 = find_outside(v, "203.0.113.9");
		assert_true(k2 >= 0);
		assert_int_equal(v->outside[k2].n_labels, 0);

		struct doc_batch b = {0};
		struct doc_opts opts = {.outside_all = true};
		assert_int_equal(doc_slot_build_l2(v, &jr, &opts, NULL, with_l2 ? &dl2 : NULL, &b),
		                 0);
		bool offender = false, inside80 = false;
		for (size_t i = 0; i < b.n; i++) {
			if (strcmp(b.v[i].kind, "offender") == 0 &&
			    strcmp(b.v[i].key, "198.51.100.7") == 0) {
				offender = true;
				const char *r = strstr(
				    b.v[i].json, "\"arpUnused\":{\"value\":1.0,\"threshold\":1.0,"
				                 "\"ipList\":[\"10.10.1.166\"],\"packets\":1}");
				assert_true(with_l2 ? r != NULL : r == NULL);
			}
			if (strcmp(b.v[i].kind, "inside") == 0 &&
			    strcmp(b.v[i].key, "10.10.1.80") == 0) {
				inside80 = true;
				const char *want =
				    "\"arpMacList\":[\"52:54:00:11:00:80\"],\"arpLocations\":[{"
				    "\"mac\":"
				    "\"52:54:00:11:00:80\",\"device\":\"gw1\",\"interfaceList\":["
				    "\"Bundle-Ether10\"]},{\"mac\":\"52:54:00:11:00:80\","
				    "\"device\":"
				    "\"sw1\",\"interfaceList\":[\"Eth1/12\",\"Vlan101\"]}]";
				if (with_l2)
					assert_non_null(strstr(b.v[i].json, want));
				else
					assert_null(strstr(b.v[i].json, "arpMacList"));
			}
		}
		assert_true(offender);
		assert_true(inside80);
		doc_batch_free(&b);
		slot_destroy(s);
	}
	assert_string_equal(judge_label_name(JUDGE_ARPUNUSED), "arpUnused");
	l2_merge_destroy(m);
	l2poll_stop(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_command_file),
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test(test_mute_timeout),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_load_dir),
	    cmocka_unit_test(test_load_dir_sites),
	    cmocka_unit_test(test_judge_arp_unused),
	    cmocka_unit_test(test_judge_arp_facts),
	    cmocka_unit_test(test_devices_set),
	    cmocka_unit_test(test_devices_set_added_site),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
