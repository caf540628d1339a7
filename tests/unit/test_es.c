/*
 * Tests for src/es/: index names and _ids, NDJSON rendering (framing,
 * escaping, refusal of multi-line documents), classification of statuses,
 * reading of _bulk responses (good, partial, malformed: nothing acted on),
 * backoff bounds, the built-in templates, secrets from file and
 * environment, and a drain against a closed port (time-out with the
 * backlog counted and the cursor unmoved). The protocol end to end is in
 * tests/integration/es.sh against tests/integration/fake_es.py.
 *
 * Benchmark: ES_BENCH_URL=http://127.0.0.1:PORT [ES_BENCH_DOCS=100000]
 * ships one slot of ES_BENCH_DOCS outside documents to that server and
 * prints documents per second (docs/benchmarks.md).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../src/es/internal.h"
#include "nfsentry/config.h"
#include "nfsentry/doc.h"
#include "nfsentry/es.h"
#include "nfsentry/store.h"

static char tmpdir[64];

static void test_index_and_id(void **state)
{
	char b[ES_INDEX_MAX], small[16];

	(void)state;
	/* timeSlot 5890752 = 2026-01-01T00:00:00Z; kinds are lower-cased. */
	assert_int_equal(es_index_name(b, sizeof(b), "nfsentry", "inside", 5890752), 26);
	assert_string_equal(b, "nfsentry-inside-2026.01.01");
	assert_true(es_index_name(b, sizeof(b), "p", "arpIp", 5890752 + 287) > 0);
	assert_string_equal(b, "p-arpip-2026.01.01");
	assert_true(es_index_name(b, sizeof(b), "p", "slot", 5890752 + 288) > 0);
	assert_string_equal(b, "p-slot-2026.01.02");
	assert_int_equal(es_index_name(small, sizeof(small), "nfsentry", "inside", 0),
	                 -ENAMETOOLONG);

	assert_int_equal(es_doc_id(b, sizeof(b), "campus", "inside", 5890752, "10.0.0.1"), 30);
	assert_string_equal(b, "campus|inside|5890752|10.0.0.1");
	assert_true(es_doc_id(b, sizeof(b), "campus", "slot", 1, "summary") > 0);
	assert_string_equal(b, "campus|slot|1|summary");
	assert_int_equal(es_doc_id(small, sizeof(small), "campus", "inside", 1, "10.0.0.1"),
	                 -ENAMETOOLONG);
}

/* With write_seq set, "writeSeq" and "writePart" come first in every document sent. */
static void test_render_write_seq(void **state)
{
	struct es_slotbuf b = {.write_seq = 42, .part = 3};
	static const char d1[] = "{\"kind\":\"inside\"}";

	(void)state;
	assert_int_equal(
	    es_slotbuf_add(&b, "nfs", "campus", 5890752, "inside", "10.0.0.1", d1, strlen(d1)), 0);
	assert_int_equal(es_slotbuf_add(&b, "nfs", "campus", 5890752, "slot", "", "{}", 2), 0);
	/* Not an object: the field has nowhere to go. */
	assert_int_equal(es_slotbuf_add(&b, "nfs", "campus", 5890752, "slot", "", "[1]", 3),
	                 -EINVAL);
	assert_int_equal(b.n, 2);
	static const char doc0[] = "{\"writeSeq\":42,\"writePart\":3,\"kind\":\"inside\"}";
	assert_int_equal(b.items[0].doc_len, strlen(doc0));
	assert_memory_equal(b.buf + b.items[0].doc_off, doc0, strlen(doc0));
	static const char doc1[] = "{\"writeSeq\":42,\"writePart\":3}\n";
	assert_memory_equal(b.buf + b.items[1].doc_off, doc1, strlen(doc1));
	assert_int_equal(b.items[0].len + b.items[1].len, b.len);
	es_slotbuf_free(&b);
}

static void test_render(void **state)
{
	struct es_slotbuf b = {0};
	static const char d1[] = "{\"kind\":\"inside\",\"ip\":\"10.0.0.1\"}";
	static const char d2[] = "{\"kind\":\"slot\"}";

	(void)state;
	assert_int_equal(
	    es_slotbuf_add(&b, "nfs", "campus", 5890752, "inside", "10.0.0.1", d1, strlen(d1)), 0);
	/* A site name with a quote and a control character is escaped in the action line. */
	assert_int_equal(
	    es_slotbuf_add(&b, "nfs", "a\"b\x01", 5890752, "slot", "summary", d2, strlen(d2)), 0);
	assert_int_equal(b.n, 2);
	static const char want[] = "{\"index\":{\"_index\":\"nfs-inside-2026.01.01\",\"_id\":"
	                           "\"campus|inside|5890752|10.0.0.1\"}}\n"
	                           "{\"kind\":\"inside\",\"ip\":\"10.0.0.1\"}\n"
	                           "{\"index\":{\"_index\":\"nfs-slot-2026.01.01\",\"_id\":"
	                           "\"a\\\"b\\u0001|slot|5890752|summary\"}}\n"
	                           "{\"kind\":\"slot\"}\n";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.buf, want, b.len);
	assert_int_equal(b.items[0].off, 0);
	assert_int_equal(b.items[1].off, b.items[0].len);
	assert_int_equal(b.items[0].len + b.items[1].len, b.len);
	assert_memory_equal(b.buf + b.items[1].doc_off, d2, strlen(d2));
	assert_string_equal(b.meta + b.items[1].id_off, "a\"b\x01|slot|5890752|summary");
	assert_string_equal(b.meta + b.items[0].index_off, "nfs-inside-2026.01.01");
	/* Every action line parses, and its _id is the raw id. */
	json_t *a =
	    json_loadb(b.buf + b.items[1].off, b.items[1].doc_off - b.items[1].off - 1, 0, NULL);
	assert_non_null(a);
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "index"), "_id")),
	                    "a\"b\x01|slot|5890752|summary");
	json_decref(a);

	/* NDJSON cannot carry a raw newline, and an empty document is no document. */
	assert_int_equal(es_slotbuf_add(&b, "nfs", "c", 1, "slot", "", "{\n}", 3), -EINVAL);
	assert_int_equal(es_slotbuf_add(&b, "nfs", "c", 1, "slot", "", "{\r}", 3), -EINVAL);
	assert_int_equal(es_slotbuf_add(&b, "nfs", "c", 1, "slot", "", "", 0), -EINVAL);
	assert_int_equal(b.n, 2);

	/* Growth past the first allocation keeps earlier items intact. */
	for (int i = 0; i < 5000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "10.1.%d.%d", i / 256, i % 256);
		assert_int_equal(
		    es_slotbuf_add(&b, "nfs", "campus", 5890752, "outside", key, d1, strlen(d1)),
		    0);
	}
	assert_memory_equal(b.buf, want, strlen(want));
	assert_int_equal(b.items[5001].off + b.items[5001].len, b.len);
	assert_int_equal(b.buf[b.len - 1], '\n');
	es_slotbuf_free(&b);
	assert_null(b.buf);
	assert_int_equal(b.n, 0);
}

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(es_status_classify(200), ES_STATUS_OK);
	assert_int_equal(es_status_classify(201), ES_STATUS_OK);
	assert_int_equal(es_status_classify(409), ES_STATUS_OK);
	assert_int_equal(es_status_classify(429), ES_STATUS_RETRY);
	assert_int_equal(es_status_classify(408), ES_STATUS_RETRY);
	assert_int_equal(es_status_classify(500), ES_STATUS_RETRY);
	assert_int_equal(es_status_classify(503), ES_STATUS_RETRY);
	assert_int_equal(es_status_classify(0), ES_STATUS_RETRY);
	assert_int_equal(es_status_classify(400), ES_STATUS_DEAD);
	assert_int_equal(es_status_classify(404), ES_STATUS_DEAD);
}

struct seen {
	size_t n;
	long status[4];
	char error[4][256];
};

static int on_item(void *ud, size_t i, long status, const char *error)
{
	struct seen *s = ud;

	assert_int_equal(i, s->n);
	s->status[i] = status;
	snprintf(s->error[i], sizeof(s->error[i]), "%s", error ? error : "");
	s->n++;
	return 0;
}

static void test_response(void **state)
{
	static const char *const ids[] = {"a|x|1|k1", "a|x|1|k2", "a|x|1|k3"};
	static const size_t lens[] = {8, 8, 8};
	static const char good[] =
	    "{\"took\":3,\"errors\":true,\"items\":["
	    "{\"index\":{\"_index\":\"i\",\"_id\":\"a|x|1|k1\",\"status\":201}},"
	    "{\"index\":{\"_index\":\"i\",\"_id\":\"a|x|1|k2\",\"status\":400,\"error\":"
	    "{\"type\":\"mapper_parsing_exception\",\"reason\":\"bad ip\"}}},"
	    "{\"create\":{\"_index\":\"i\",\"_id\":\"a|x|1|k3\",\"status\":429}}]}";
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[]",
	    "{\"errors\":false}",
	    /* Two items for three sent. */
	    "{\"items\":[{\"index\":{\"_id\":\"a|x|1|k1\",\"status\":201}},"
	    "{\"index\":{\"_id\":\"a|x|1|k2\",\"status\":201}}]}",
	    /* Ids out of order. */
	    "{\"items\":[{\"index\":{\"_id\":\"a|x|1|k2\",\"status\":201}},"
	    "{\"index\":{\"_id\":\"a|x|1|k1\",\"status\":201}},"
	    "{\"index\":{\"_id\":\"a|x|1|k3\",\"status\":201}}]}",
	    /* A status that is not a number. */
	    "{\"items\":[{\"index\":{\"_id\":\"a|x|1|k1\",\"status\":\"201\"}},"
	    "{\"index\":{\"_id\":\"a|x|1|k2\",\"status\":201}},"
	    "{\"index\":{\"_id\":\"a|x|1|k3\",\"status\":201}}]}",
	    /* Two actions in one item. */
	    "{\"items\":[{\"index\":{\"_id\":\"a|x|1|k1\",\"status\":201},\"create\":{}},"
	    "{\"index\":{\"_id\":\"a|x|1|k2\",\"status\":201}},"
	    "{\"index\":{\"_id\":\"a|x|1|k3\",\"status\":201}}]}",
	    /* Truncated: the connection dropped mid-response. */
	    "{\"took\":3,\"errors\":false,\"items\":[{\"index\":{\"_id\":\"a|x|1|k1\",\"st",
	};
	struct seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(es_bulk_response_read(good, strlen(good), 3, ids, lens, on_item, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.status[0], 201);
	assert_string_equal(s.error[0], "");
	assert_int_equal(s.status[1], 400);
	assert_string_equal(s.error[1],
	                    "{\"type\":\"mapper_parsing_exception\",\"reason\":\"bad ip\"}");
	assert_int_equal(s.status[2], 429);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0, sizeof(s));
		assert_int_equal(
		    es_bulk_response_read(bad[i], strlen(bad[i]), 3, ids, lens, on_item, &s),
		    -EBADMSG);
		/* Nothing is acted on from a response that does not check out. */
		assert_int_equal(s.n, 0);
	}
}

static void test_backoff(void **state)
{
	(void)state;
	/* Attempt 1: [250, 500) of 500 ms; doubling; capped at max; never below half. */
	assert_int_equal(es_backoff_ms(1, 500, 60000, 0), 250);
	assert_int_equal(es_backoff_ms(1, 500, 60000, UINT64_MAX), 499);
	assert_int_equal(es_backoff_ms(2, 500, 60000, 0), 500);
	assert_int_equal(es_backoff_ms(3, 500, 60000, 0), 1000);
	assert_int_equal(es_backoff_ms(20, 500, 60000, 0), 30000);
	assert_int_equal(es_backoff_ms(200, 500, 60000, UINT64_MAX), 59999);
	for (uint64_t r = 1; r < 1000; r++) {
		uint64_t d = es_backoff_ms(4, 100, 60000, r * UINT64_C(0x9e3779b97f4a7c15));
		assert_true(d >= 400 && d < 800);
	}
}

/* Every built-in template is valid JSON once the prefix is in, and names what it should. */
static void test_templates(void **state)
{
	size_t components = 0, ip_fields = 0;

	(void)state;
	assert_true(es_templates_n >= 5);
	for (size_t i = 0; i < es_templates_n; i++) {
		const struct es_template *t = &es_templates[i];
		json_error_t je;
		json_t *o = json_loads(t->body, 0, &je);
		assert_non_null(o);
		if (t->component) {
			/* Components come first: index templates refer to them. */
			assert_int_equal(components, i);
			components++;
			json_t *p = json_object_get(
			    json_object_get(json_object_get(o, "template"), "mappings"),
			    "properties");
			assert_string_equal(json_string_value(json_object_get(
			                        json_object_get(p, "@timestamp"), "type")),
			                    "date");
			assert_string_equal(
			    json_string_value(json_object_get(json_object_get(p, "site"), "type")),
			    "keyword");
		} else {
			json_t *pat = json_array_get(json_object_get(o, "index_patterns"), 0);
			assert_non_null(strstr(json_string_value(pat), "@PREFIX@-"));
			json_t *p = json_object_get(
			    json_object_get(json_object_get(o, "template"), "mappings"),
			    "properties");
			const char *k;
			json_t *v;
			json_object_foreach(p, k, v)
			{
				const char *type = json_string_value(json_object_get(v, "type"));
				if (type && strcmp(type, "ip") == 0)
					ip_fields++;
			}
			if (strcmp(t->name, "inside") == 0) {
				assert_string_equal(json_string_value(json_object_get(
				                        json_object_get(p, "arrayPeer"), "type")),
				                    "ip");
				assert_string_equal(json_string_value(json_object_get(
				                        json_object_get(p, "labels"), "type")),
				                    "keyword");
				assert_string_equal(json_string_value(json_object_get(
				                        json_object_get(p, "octets"), "type")),
				                    "long");
			}
		}
		json_decref(o);
	}
	assert_int_equal(components, 1);
	/*
	 * inside: ip, arrayPeer; outside: ip, arrayPeer; offender: ip, ipList,
	 * insideList; arpIp: ip; arpMac: ipList.
	 */
	assert_int_equal(ip_fields, 9);
}

static void es_config(struct config *c, const char *url)
{
	config_defaults(c);
	c->es.enabled = true;
	snprintf(c->es.url, sizeof(c->es.url), "%s", url);
	snprintf(c->store_path, sizeof(c->store_path), "%s/store.db", tmpdir);
	snprintf(c->es.dead_letter_path, sizeof(c->es.dead_letter_path), "%s/dead.jsonl", tmpdir);
	c->es.retry_initial_ms = 10;
	c->es.retry_max_s = 1;
	c->es.timeout_s = 2;
}

static void test_secrets(void **state)
{
	struct config c;
	struct es_shipper *sh;
	char err[512], path[128];

	(void)state;
	es_config(&c, "http://127.0.0.1:1");
	snprintf(c.es.username, sizeof(c.es.username), "u");
	snprintf(c.es.password_file, sizeof(c.es.password_file), "%s/missing", tmpdir);
	assert_int_equal(es_shipper_create(&c.es, c.store_path, &sh, err, sizeof(err)), -ENOENT);
	assert_null(sh);
	snprintf(path, sizeof(path),
	         "elasticsearch: password_file %s/missing: No such file or directory", tmpdir);
	assert_string_equal(err, path);

	/* A file with the password and a trailing newline is fine. */
	snprintf(path, sizeof(path), "%s/pw", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("hunter2\n", f);
	fclose(f);
	snprintf(c.es.password_file, sizeof(c.es.password_file), "%s", path);
	assert_int_equal(es_shipper_create(&c.es, c.store_path, &sh, err, sizeof(err)), 0);
	es_shipper_destroy(sh);

	/* Two lines are refused, and the message does not show the content. */
	f = fopen(path, "w");
	fputs("hunter2\nmore\n", f);
	fclose(f);
	assert_int_equal(es_shipper_create(&c.es, c.store_path, &sh, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "hunter2"));
	unlink(path);

	c.es.password_file[0] = '\0';
	snprintf(c.es.password_env, sizeof(c.es.password_env), "NFSENTRY_TEST_ES_PW");
	unsetenv("NFSENTRY_TEST_ES_PW");
	assert_int_equal(es_shipper_create(&c.es, c.store_path, &sh, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
	                    "elasticsearch: password_env: variable NFSENTRY_TEST_ES_PW is not set");
	setenv("NFSENTRY_TEST_ES_PW", "s3cret", 1);
	assert_int_equal(es_shipper_create(&c.es, c.store_path, &sh, err, sizeof(err)), 0);
	es_shipper_destroy(sh);
	unsetenv("NFSENTRY_TEST_ES_PW");
	snprintf(path, sizeof(path), "%s/store.db", tmpdir);
	unlink(path);
}

static void write_slot(const char *path, const char *site, int64_t time_slot, size_t n)
{
	struct store *st;
	char err[256];
	struct store_doc *d = calloc(n, sizeof(*d));
	char(*keys)[32] = calloc(n, 32);
	char(*json)[384] = calloc(n, 384);

	assert_non_null(d);
	assert_int_equal(store_open(path, NULL, &st, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], 32, "10.%zu.%zu.%zu", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		int len = snprintf(
		    json[i], 384,
		    "{\"kind\":\"outside\",\"site\":\"%s\",\"timeSlot\":%lld,\"@timestamp\":"
		    "\"2026-01-01T00:00:00Z\",\"ip\":\"%s\",\"flows\":65,\"packets\":732,"
		    "\"octets\":"
		    "129369,\"fromFlows\":63,\"fromPackets\":1044,\"fromOctets\":1081165,"
		    "\"touchPeers\":"
		    "47,\"arrayPeer\":[\"10.10.1.1\",\"10.10.1.2\",\"10.10.1.3\"],"
		    "\"startedTargets\":0,"
		    "\"unansweredFlows\":0,\"offender\":false,\"labels\":[],\"reasons\":{}}",
		    site, (long long)time_slot, keys[i]);
		d[i] = (struct store_doc){
		    .kind = "outside", .key = keys[i], .json = json[i], .json_len = (size_t)len};
	}
	assert_int_equal(store_slot_write(st, site, time_slot, d, n, NULL), 0);
	store_close(st);
	free(d);
	free(keys);
	free(json);
}

/* Nobody listens: the drain times out, says why, counts the backlog, moves nothing. */
static void test_drain_unreachable(void **state)
{
	struct config c;
	struct es_shipper *sh;
	struct es_stats st;
	char err[512];

	(void)state;
	es_config(&c, "http://127.0.0.1:1");
	write_slot(c.store_path, "campus", 5890752, 10);
	write_slot(c.store_path, "campus", 5890753, 5);
	assert_int_equal(es_shipper_create(&c.es, c.store_path, &sh, err, sizeof(err)), 0);
	assert_int_equal(es_templates_install(sh, 0, err, sizeof(err)), -EAGAIN);
	assert_non_null(strstr(err, "template nfsentry-common"));
	uint64_t t0 = (uint64_t)time(NULL);
	assert_int_equal(es_shipper_drain(sh, 500), -ETIMEDOUT);
	assert_true((uint64_t)time(NULL) - t0 <= 2);
	es_stats_get(sh, &st);
	assert_int_equal(st.docs_shipped, 0);
	assert_int_equal(st.slots_shipped, 0);
	assert_int_equal(st.backlog_slots, 2);
	assert_int_equal(st.backlog_docs, 15);
	assert_int_equal(st.cursor_seq, 0);
	assert_true(st.request_failures >= 2);
	assert_non_null(strstr(st.last_error, "template nfsentry-common"));
	assert_true(st.last_error_at_s > 0);

	/* The counter table reads these fields under their document names. */
	struct doc_counter dc[16];
	assert_int_equal(counter_list(&es_counters, &st, NULL, dc, 16), 11);
	assert_string_equal(dc[0].name, "esShipped");
	assert_string_equal(dc[5].name, "esRequestFailures");
	assert_int_equal(dc[5].value, st.request_failures);
	assert_string_equal(dc[6].name, "esBacklogSlots");
	assert_int_equal(dc[6].value, 2);
	assert_int_equal(es_counters.v[6].kind, COUNTER_GAUGE);
	assert_string_equal(dc[7].name, "esBacklogDocs");
	assert_int_equal(dc[7].value, 15);
	assert_string_equal(dc[9].name, "esLastErrorAt");
	assert_int_equal(dc[9].value, st.last_error_at_s);
	es_shipper_destroy(sh);

	/* The cursor registered at 0: nothing was marked shipped. */
	struct store *s2;
	int64_t seq = -1;
	assert_int_equal(store_open(c.store_path, NULL, &s2, err, sizeof(err)), 0);
	assert_int_equal(store_cursor_get(s2, STORE_CURSOR_ELASTICSEARCH, &seq), 0);
	assert_int_equal(seq, 0);
	store_close(s2);
	unlink(c.store_path);
}

/* ES_BENCH_URL: one slot of ES_BENCH_DOCS documents, shipped and timed. */
static void bench(void)
{
	const char *url = getenv("ES_BENCH_URL"), *ndocs = getenv("ES_BENCH_DOCS");
	size_t n = ndocs ? strtoul(ndocs, NULL, 10) : 100000;
	struct config c;
	struct es_shipper *sh;
	struct es_stats st;
	char err[512];
	struct timespec t0, t1, c0, c1;

	es_config(&c, url);
	c.es.timeout_s = 120;
	if (getenv("ES_BENCH_GZIP"))
		c.es.gzip = true;
	write_slot(c.store_path, "bench", 5890752, n);
	if (es_shipper_create(&c.es, c.store_path, &sh, err, sizeof(err)) != 0 ||
	    es_templates_install(sh, 5000, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	int rc = es_shipper_drain(sh, 600000);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	es_stats_get(sh, &st);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	/* The slot is in the store when the drain starts: this is store write -> acknowledged. */
	printf("es bench: %zu documents in %.3f s: %.0f documents/s, %llu requests, "
	       "shipper CPU %.3f s (%.0f documents per CPU second), rc %d%s\n",
	       n, s, (double)st.docs_shipped / s, (unsigned long long)st.requests, cpu,
	       cpu > 0 ? (double)n / cpu : 0.0, rc, c.es.gzip ? " (gzip)" : "");
	es_shipper_destroy(sh);
	unlink(c.store_path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nfsentry-test-es-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char p[128];

	(void)state;
	snprintf(p, sizeof(p), "rm -rf '%s'", tmpdir);
	return system(p) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_index_and_id),      cmocka_unit_test(test_render),
	    cmocka_unit_test(test_render_write_seq),  cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_response),          cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_templates),         cmocka_unit_test(test_secrets),
	    cmocka_unit_test(test_drain_unreachable),
	};

	if (getenv("ES_BENCH_URL")) {
		if (setup(NULL) != 0)
			return 1;
		bench();
		return teardown(NULL) == 0 ? 0 : 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
