/*
 * webfeed: what the owners publish and what readers see (webfeed.h):
 * refresh at most once a second, readers see the published copy and not
 * the live value, per-site facts from the closer sink, the latest slot's
 * peers (and a held reference surviving later slots), the collector JSON;
 * a refresh that finds a reader formatting does not wait (but for the
 * fifth in a row) and is counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "nfsentry/decoder.h"
#include "nfsentry/engine.h"
#include "nfsentry/udpin.h"
#include "nfsentry/attacklive.h"
#include "nfsentry/webfeed.h"
#include "slot_helpers.h"

/* A source whose live value the test moves: counts snapshots taken. */
struct live {
	struct udpin_stats st;
	unsigned snapshots;
};

static void live_snapshot(void *ud, void *stats)
{
	struct live *l = ud;

	l->snapshots++;
	*(struct udpin_stats *)stats = l->st;
}

static char *prom(struct web_feed *f)
{
	char *t = NULL;
	size_t n = 0;

	assert_int_equal(web_feed_prometheus(f, NULL, NULL, &t, &n), 0);
	assert_non_null(t);
	assert_int_equal(strlen(t), n);
	return t;
}

/* The value of the sample line that starts with series (name and labels), or -1. */
static long long sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atoll(p + n + 1);
	}
	return -1;
}

/* How many lines of text begin with prefix. */
static int lines_with(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += strncmp(p, prefix, strlen(prefix)) == 0;
	return n;
}

static void test_refresh_publishes_at_most_once_a_second(void **state)
{
	(void)state;
	struct site_config site;
	struct web_feed_opts o;
	struct web_feed *f;
	struct live l = {.st = {.datagrams = 7, .kernel_drops = 2}};
	char *t;

	test_site(&site);
	o = (struct web_feed_opts){.sites = &site, .n_sites = 1};
	assert_int_equal(web_feed_create(&o, &f), 0);
	assert_int_equal(web_feed_source_add(f, &udpin_counters, live_snapshot, &l), 0);

	/* Nothing published yet: zeros, not the live value. */
	t = prom(f);
	assert_int_equal(sample(t, "nfsentry_udp_datagrams_total"), 0);
	free(t);

	assert_true(web_feed_refresh(f, 10000, false));
	l.st.datagrams = 9;
	assert_false(web_feed_refresh(f, 10999, false));
	assert_int_equal(l.snapshots, 1);
	t = prom(f);
	assert_int_equal(sample(t, "nfsentry_udp_datagrams_total"), 7);
	assert_int_equal(sample(t, "nfsentry_udp_kernel_drops_total"), 2);
	assert_non_null(strstr(t, "# TYPE nfsentry_udp_datagrams_total counter\n"));
	free(t);

	assert_true(web_feed_refresh(f, 11000, false));
	t = prom(f);
	assert_int_equal(sample(t, "nfsentry_udp_datagrams_total"), 9);
	free(t);
	l.st.datagrams = 10;
	assert_true(web_feed_refresh(f, 11001, true));
	t = prom(f);
	assert_int_equal(sample(t, "nfsentry_udp_datagrams_total"), 10);
	free(t);
	assert_int_equal(l.snapshots, 3);

	for (size_t i = 1; i < WEB_FEED_SOURCES_MAX; i++)
		assert_int_equal(web_feed_source_add(f, &udpin_counters, live_snapshot, &l), 0);
	assert_int_equal(web_feed_source_add(f, &udpin_counters, live_snapshot, &l), -ENOSPC);
	web_feed_destroy(f);
}

struct reader {
	struct web_feed *f;
	int stop; /* __atomic */
	unsigned answers;
};

/* Formats /metrics again and again, as a busy scraper would. */
static void *reader_main(void *ud)
{
	struct reader *r = ud;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		free(prom(r->f));
		r->answers++;
	}
	return NULL;
}

static void test_refresh_does_not_wait_for_readers(void **state)
{
	(void)state;
	struct site_config site;
	struct web_feed_opts o;
	struct live l = {.st = {.datagrams = 1}};
	struct reader r = {0};
	struct timespec t0, now;
	pthread_t th;
	unsigned deferred = 0, run = 0, max_run = 0, published = 0;
	char *t;

	test_site(&site);
	o = (struct web_feed_opts){.sites = &site, .n_sites = 1};
	assert_int_equal(web_feed_create(&o, &r.f), 0);
	assert_int_equal(web_feed_source_add(r.f, &udpin_counters, live_snapshot, &l), 0);
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Until some refreshes have found the reader at work (5 s at most). */
	do {
		l.st.datagrams++;
		if (web_feed_refresh(r.f, 0, true)) {
			published++;
			run = 0;
		} else {
			deferred++;
			max_run = ++run > max_run ? run : max_run;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (deferred < 20 && now.tv_sec - t0.tv_sec < 5);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(r.answers > 0);
	assert_true(deferred > 0);
	/* The fifth in a row waits for the reader and publishes. */
	assert_true(max_run <= 4);
	t = prom(r.f);
	assert_int_equal(sample(t, "nfsentry_web_feed_refresh_deferred_total"), deferred);
	free(t);
	/* With no reader it publishes at once, the latest value. */
	l.st.datagrams = 12345;
	assert_true(web_feed_refresh(r.f, 0, true));
	t = prom(r.f);
	assert_int_equal(sample(t, "nfsentry_udp_datagrams_total"), 12345);
	free(t);
	assert_int_equal(l.snapshots, published + deferred + 1);
	web_feed_destroy(r.f);
}

/*
 * Slot 5890752 of "campus": 10.0.0.1 talks to three outside IPs (octets
 * 300, 100, 200 each way plus 1 back), 10.0.0.2 to one of them.
 */
static struct slot *make_slot(const struct site_config *site, int64_t ts, uint64_t scale)
{
	struct slot *s = slot_create(site, 0, ts, 1);
	struct flow f;

	assert_non_null(s);
	f = mkflow("10.0.0.1", "198.51.100.1", TCP, 1000, 80, ACK, 3, 300 * scale, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	f = mkflow("10.0.0.1", "198.51.100.2", TCP, 1000, 80, ACK, 1, 100 * scale, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	f = mkflow("10.0.0.1", "198.51.100.3", TCP, 1000, 80, ACK, 2, 200 * scale, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	f = mkflow("198.51.100.3", "10.0.0.1", TCP, 80, 1000, ACK, 1, 1, T0_MS);
	slot_add(s, SLOT_INGRESS, &f);
	f = mkflow("10.0.0.2", "198.51.100.3", UDP, 53, 53, 0, 1, 50, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	assert_non_null(slot_finish(s));
	return s;
}

static char *peers(const struct web_feed_slot *s, const char *ip, size_t n, int *rc)
{
	struct flow_addr a;
	char *t = NULL;
	size_t len = 0;

	assert_int_equal(flow_addr_parse(ip, &a), 0);
	*rc = web_feed_peers_json(s, &a, n, &t, &len);
	if (*rc == 0)
		assert_int_equal(strlen(t), len);
	return t;
}

static void test_sink_site_facts_and_peers(void **state)
{
	(void)state;
	struct site_config site;
	struct web_feed_opts o;
	struct web_feed *f;
	struct judge_result jr = {0};
	struct doc_batch docs = {.n = 12};
	struct slot *s1, *s2;
	struct web_feed_slot *held, *now;
	char *t;
	int rc;

	test_site(&site);
	o = (struct web_feed_opts){.sites = &site, .n_sites = 1};
	assert_int_equal(web_feed_create(&o, &f), 0);
	assert_null(web_feed_latest(f, "campus"));
	t = prom(f);
	assert_null(strstr(t, "{site=\"campus\""));
	free(t);

	s1 = make_slot(&site, 5890752, 1);
	slot_view_mut(s1)->sum.caps_hit.pairs = 4;
	jr.labels[JUDGE_FANOUT] = 2;
	jr.labels[JUDGE_SCAN] = 1;
	web_feed_sink(f, slot_view_mut(s1), &jr, &docs);
	slot_destroy(s1); /* the feed kept a copy, not the slot */

	t = prom(f);
	assert_int_equal(sample(t, "nfsentry_site_slots_total{site=\"campus\"}"), 1);
	assert_int_equal(sample(t, "nfsentry_site_slot_time_slot{site=\"campus\"}"), 5890752);
	assert_int_equal(sample(t, "nfsentry_site_inside_ips{site=\"campus\"}"), 2);
	assert_int_equal(sample(t, "nfsentry_site_outside_ips{site=\"campus\"}"), 3);
	assert_int_equal(sample(t, "nfsentry_site_conversations{site=\"campus\"}"), 4);
	assert_int_equal(sample(t, "nfsentry_site_slot_records{site=\"campus\"}"), 5);
	assert_int_equal(sample(t, "nfsentry_site_slot_documents{site=\"campus\"}"), 12);
	assert_int_equal(sample(t, "nfsentry_site_caps_hit_total{site=\"campus\",array=\"pairs\"}"),
	                 4);
	assert_int_equal(sample(t, "nfsentry_site_labels_total{site=\"campus\",label=\"fanout\"}"),
	                 2);
	assert_int_equal(sample(t, "nfsentry_site_labelled_ips{site=\"campus\",label=\"scan\"}"),
	                 1);
	assert_true(sample(t, "nfsentry_site_slot_closed_timestamp_seconds{site=\"campus\"}") > 0);
	free(t);

	held = web_feed_latest(f, "campus");
	assert_non_null(held);
	assert_null(web_feed_latest(f, "lab"));
	assert_int_equal(web_feed_slot_time(held), 5890752);

	/* Peers of the inside IP, most octets both ways first. */
	t = peers(held, "10.0.0.1", 100, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(
	    t, "{\"site\":\"campus\",\"timeSlot\":5890752,\"ip\":\"10.0.0.1\",\"kind\":\"inside\","
	       "\"peerCount\":3,\"peers\":[\n"
	       "{\"ip\":\"198.51.100.1\",\"sent\":{\"flows\":1,\"packets\":3,\"octets\":300},"
	       "\"received\":{\"flows\":0,\"packets\":0,\"octets\":0}},\n"
	       "{\"ip\":\"198.51.100.3\",\"sent\":{\"flows\":1,\"packets\":2,\"octets\":200},"
	       "\"received\":{\"flows\":1,\"packets\":1,\"octets\":1}},\n"
	       "{\"ip\":\"198.51.100.2\",\"sent\":{\"flows\":1,\"packets\":1,\"octets\":100},"
	       "\"received\":{\"flows\":0,\"packets\":0,\"octets\":0}}\n]}\n");
	free(t);
	t = peers(held, "10.0.0.1", 1, &rc);
	assert_non_null(strstr(t, "\"peerCount\":3,"));
	assert_non_null(strstr(t, "198.51.100.1"));
	assert_null(strstr(t, "198.51.100.3"));
	free(t);
	/* An outside IP: its inside peers, from its side. */
	t = peers(held, "198.51.100.3", 100, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(t, "\"kind\":\"outside\",\"peerCount\":2,"));
	assert_non_null(strstr(t, "{\"ip\":\"10.0.0.1\",\"sent\":{\"flows\":1,\"packets\":1,"
	                          "\"octets\":1},\"received\":{\"flows\":1,\"packets\":2,"
	                          "\"octets\":200}}"));
	assert_true(strstr(t, "10.0.0.1") < strstr(t, "10.0.0.2"));
	free(t);
	assert_null(peers(held, "192.0.2.9", 100, &rc));
	assert_int_equal(rc, -ENOENT);

	/* A second slot replaces the latest; the held reference is unchanged. */
	s2 = make_slot(&site, 5890753, 10);
	web_feed_sink(f, slot_view_mut(s2), &jr, &docs);
	slot_destroy(s2);
	now = web_feed_latest(f, "campus");
	assert_int_equal(web_feed_slot_time(now), 5890753);
	assert_int_equal(web_feed_slot_time(held), 5890752);
	t = peers(held, "10.0.0.1", 100, &rc);
	assert_non_null(strstr(t, "\"octets\":300}"));
	free(t);
	t = peers(now, "10.0.0.1", 100, &rc);
	assert_non_null(strstr(t, "\"octets\":3000}"));
	free(t);
	web_feed_slot_put(held);
	web_feed_slot_put(now);

	t = prom(f);
	assert_int_equal(sample(t, "nfsentry_site_slots_total{site=\"campus\"}"), 2);
	assert_int_equal(sample(t, "nfsentry_site_caps_hit_total{site=\"campus\",array=\"pairs\"}"),
	                 4);
	assert_int_equal(sample(t, "nfsentry_site_labels_total{site=\"campus\",label=\"fanout\"}"),
	                 4);
	assert_int_equal(sample(t, "nfsentry_site_labelled_ips{site=\"campus\",label=\"fanout\"}"),
	                 2);
	free(t);
	web_feed_destroy(f);
}

/* The feed owns the live attack table and forgets ended events once their slot is stored. */
static void test_sink_forgets_stored_attacks(void **state)
{
	(void)state;
	struct site_config site;
	struct web_feed_opts o;
	struct web_feed *f;
	struct judge_result jr = {0};
	struct doc_batch docs = {0};
	struct attack_live_doc *v;
	size_t n;
	char *t;

	test_site(&site);
	o = (struct web_feed_opts){.sites = &site, .n_sites = 1};
	assert_int_equal(web_feed_create(&o, &f), 0);
	assert_null(web_feed_attacks(f));
	web_feed_destroy(f);
	assert_null(web_feed_attacks(NULL));
	o.attack_live_entries = 4;
	assert_int_equal(web_feed_create(&o, &f), 0);
	struct attack_live *l = web_feed_attacks(f);
	assert_non_null(l);
	attack_live_put(l, "campus", "a1", 2, true, 5890752, "{}", 2);
	attack_live_put(l, "campus", "b2", 1, true, 5890753, "{}", 2);
	attack_live_put(l, "campus", "c3", 0, false, 5890752, "{}", 2);
	attack_live_put(l, "lab", "d4", 1, true, 5890752, "{}", 2);
	struct slot *s1 = make_slot(&site, 5890752, 1);
	web_feed_sink(f, slot_view_mut(s1), &jr, &docs);
	slot_destroy(s1);
	assert_int_equal(attack_live_snapshot(l, &v, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(v[i].id, "a1");
	free(v);
	/* Its counters are on /metrics from the next refresh. */
	assert_true(web_feed_refresh(f, 1000, true));
	t = prom(f);
	assert_int_equal(sample(t, "nfsentry_attacklive_attack_live_docs_total"), 4);
	assert_int_equal(sample(t, "nfsentry_attacklive_attack_live_entries"), 3);
	free(t);
	web_feed_destroy(f);
}

/* The flood advice of site in f's advice JSON (a new string, caller frees). */
static char *flood_advice(struct web_feed *f, const char *site)
{
	char *t = NULL;
	size_t n = 0;
	json_error_t je;

	assert_int_equal(web_feed_advice_json(f, site, &t, &n), 0);
	json_t *j = json_loadb(t, n, 0, &je);
	assert_non_null(j);
	char *r = strdup(json_string_value(json_object_get(j, "flood")));
	json_decref(j);
	free(t);
	return r;
}

/* The names web_feed_site_name() lists, joined by ",". */
static void site_names(struct web_feed *f, char *out, size_t len)
{
	char name[SITE_NAME_MAX];

	out[0] = '\0';
	for (size_t i = 0; web_feed_site_name(f, i, name); i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "", name);
}

/*
 * A reload's sites: the kept site keeps its figures, an added one is listed
 * and files its slots by its new id (latest slot, advice, Prometheus), a
 * removed one is no longer listed as configured nor has advice, and its
 * series leave /metrics; added again (a new id) it counts from 0, listed
 * once; the caller's texts are copied; a bad id or a failure changes
 * nothing.
 */
static void test_sites_set(void **state)
{
	(void)state;
	struct site_config site, next[2];
	struct web_feed_opts o;
	struct web_feed *f;
	struct judge_result jr = {0};
	struct web_feed_slot *held;
	struct slot *s;
	char names[256], *a, *t = NULL;
	size_t n = 0;

	test_site(&site);
	snprintf(site.advice[JUDGE_FLOOD], SITE_ADVICE_MAX, "Call upstream.");
	o = (struct web_feed_opts){.sites = &site, .n_sites = 1};
	assert_int_equal(web_feed_create(&o, &f), 0);
	a = flood_advice(f, "campus");
	assert_string_equal(a, "Call upstream.");
	free(a);
	site_names(f, names, sizeof(names));
	assert_string_equal(names, "campus");
	s = make_slot(&site, 5890752, 1);
	web_feed_sink(f, slot_view_mut(s), &jr, NULL);
	slot_destroy(s);

	/* lab added with id 3 (ids are never reused: 1 and 2 were other sites). */
	next[0] = site;
	snprintf(next[0].advice[JUDGE_FLOOD], SITE_ADVICE_MAX, "Block at the edge.");
	test_site(&next[1]);
	memcpy(next[1].name, "lab", 4);
	snprintf(next[1].advice[JUDGE_FLOOD], SITE_ADVICE_MAX, "Ask the lab.");
	const int64_t ids[2] = {0, 3}, bad[2] = {0, ENGINE_MAX_SITE_IDS};
	assert_int_equal(web_feed_sites_set(f, next, 2, bad), -EINVAL);
	site_names(f, names, sizeof(names));
	assert_string_equal(names, "campus");
	assert_int_equal(web_feed_advice_json(f, "lab", &t, &n), -ENOENT);
	assert_int_equal(web_feed_sites_set(f, next, 2, ids), 0);
	memset(next[0].advice, 0, sizeof(next[0].advice)); /* copied: no effect */
	site_names(f, names, sizeof(names));
	assert_string_equal(names, "campus,lab");
	a = flood_advice(f, "campus");
	assert_string_equal(a, "Block at the edge.");
	free(a);
	a = flood_advice(f, "lab");
	assert_string_equal(a, "Ask the lab.");
	free(a);
	assert_null(web_feed_latest(f, "lab"));
	s = make_slot(&next[1], 5890753, 10);
	slot_view_mut(s)->site_index = 3;
	web_feed_sink(f, slot_view_mut(s), &jr, NULL);
	slot_destroy(s);
	/* An id no set gave is dropped, not filed. */
	s = make_slot(&next[1], 5890754, 1);
	slot_view_mut(s)->site_index = 4;
	web_feed_sink(f, slot_view_mut(s), &jr, NULL);
	slot_destroy(s);
	held = web_feed_latest(f, "lab");
	assert_non_null(held);
	assert_int_equal(web_feed_slot_time(held), 5890753);
	web_feed_slot_put(held);
	held = web_feed_latest(f, "campus");
	assert_non_null(held);
	assert_int_equal(web_feed_slot_time(held), 5890752);
	web_feed_slot_put(held);
	t = prom(f);
	assert_int_equal(sample(t, "nfsentry_site_slots_total{site=\"campus\"}"), 1);
	assert_int_equal(sample(t, "nfsentry_site_slots_total{site=\"lab\"}"), 1);
	free(t);

	/* campus removed: not configured, no advice, no series; its latest slot stays. */
	const int64_t lab_id[1] = {3};
	assert_int_equal(web_feed_sites_set(f, &next[1], 1, lab_id), 0);
	site_names(f, names, sizeof(names));
	assert_string_equal(names, "lab");
	t = NULL;
	assert_int_equal(web_feed_advice_json(f, "campus", &t, &n), -ENOENT);
	assert_int_equal(web_feed_collector_json(f, NULL, NULL, 5000, &t, &n), 0);
	assert_null(strstr(t, "\"campus\""));
	assert_non_null(strstr(t, "{\"site\":\"lab\",\"slots\":1,"));
	free(t);
	t = prom(f);
	assert_null(strstr(t, "{site=\"campus\""));
	assert_int_equal(lines_with(t, "nfsentry_site_labels_total{site=\"lab\""), JUDGE__COUNT);
	assert_int_equal(sample(t, "nfsentry_site_slots_total{site=\"lab\"}"), 1);
	free(t);
	held = web_feed_latest(f, "campus");
	assert_non_null(held);
	web_feed_slot_put(held);

	/* campus again, id 5: one series per name, counting its slots from the reload. */
	next[0] = site;
	const int64_t again[2] = {5, 3};
	assert_int_equal(web_feed_sites_set(f, next, 2, again), 0);
	s = make_slot(&next[0], 5890755, 1);
	slot_view_mut(s)->site_index = 5;
	web_feed_sink(f, slot_view_mut(s), &jr, NULL);
	web_feed_sink(f, slot_view_mut(s), &jr, NULL);
	slot_destroy(s);
	t = prom(f);
	assert_int_equal(lines_with(t, "nfsentry_site_slots_total{site=\"campus\"}"), 1);
	assert_int_equal(sample(t, "nfsentry_site_slots_total{site=\"campus\"}"), 2);
	assert_int_equal(lines_with(t, "nfsentry_site_slot_time_slot{site=\"campus\"}"), 1);
	free(t);
	web_feed_destroy(f);
}

static void test_collector_json(void **state)
{
	(void)state;
	struct site_config site;
	struct web_feed_opts o;
	struct web_feed *f;
	struct live l = {.st = {.datagrams = 5}};
	struct decoder_config dc;
	struct decoder *dec;
	char *t = NULL;
	size_t n = 0;
	json_error_t je;
	json_t *j;

	test_site(&site);
	decoder_config_defaults(&dc);
	dec = decoder_create(&dc);
	assert_non_null(dec);
	o = (struct web_feed_opts){.sites = &site, .n_sites = 1, .dec = dec};
	assert_int_equal(web_feed_create(&o, &f), 0);
	assert_int_equal(web_feed_source_add(f, &udpin_counters, live_snapshot, &l), 0);
	assert_true(web_feed_refresh(f, 1, false));
	assert_int_equal(web_feed_collector_json(f, NULL, NULL, 5000, &t, &n), 0);
	j = json_loadb(t, n, 0, &je);
	if (!j)
		fail_msg("not JSON (%s): %s", je.text, t);
	assert_true(json_is_true(json_object_get(j, "published")));
	assert_int_equal(json_integer_value(json_object_get(j, "nowS")), 5);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(j, "counters"), "udp"), "udpDatagrams")),
	    5);
	assert_int_equal(json_array_size(json_object_get(j, "exporters")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "sites")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 0);
	json_decref(j);
	free(t);
	web_feed_destroy(f);
	decoder_destroy(dec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refresh_publishes_at_most_once_a_second),
	    cmocka_unit_test(test_refresh_does_not_wait_for_readers),
	    cmocka_unit_test(test_sink_site_facts_and_peers),
	    cmocka_unit_test(test_sink_forgets_stored_attacks),
	    cmocka_unit_test(test_collector_json),
	    cmocka_unit_test(test_sites_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
