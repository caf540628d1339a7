/*
 * Unit tests for src/web/pages.c through the server (web.c routes): the
 * offenders list and /blocklist.txt from an offender database, the attack
 * events (latest document per event, ongoing first, filters) and the daily
 * analysis (latest and by date) from a store filled by store_slot_write(),
 * the attack events of the feed's live table merged with the stored ones,
 * with their 400/404 answers. Raw HTTP/1.1 over a socket, as test_web.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "nfsentry/attacklive.h"
#include "nfsentry/reputation.h"
#include "nfsentry/store.h"
#include "nfsentry/web.h"
#include "nfsentry/webfeed.h"

#define RESP_MAX (1 << 20)

struct fx {
	char dir[64];
	char path[128];
	char db[128];
	struct store *s;
	struct web *w;
	uint16_t port;
	char *resp;
	const char *body;
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Write (site, ts) with n documents given as kind, key, json triples. */
static void put(struct store *s, const char *site, int64_t ts, const char *const *kv, size_t n)
{
	struct store_doc d[8];
	struct store_slot_info info = {.closed_at_s = ts * 300 + 310, .partial = false};

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		d[i].kind = kv[3 * i];
		d[i].key = kv[3 * i + 1];
		d[i].json = kv[3 * i + 2];
		d[i].json_len = strlen(kv[3 * i + 2]);
	}
	assert_int_equal(store_slot_write(s, site, ts, d, n, &info), 0);
}

/* Event a1 at 10.0.0.7: starts in slot 100, ends in 101. Event b2 at 10.0.0.8: started
 * earlier (slot 100), no end yet. Event c3 at dorm's 10.1.0.1: ended in slot 101. */
static const char *const campus100[] = {
    "slot",
    "",
    "{\"kind\":\"slot\",\"timeSlot\":100}",
    "attack",
    "a1-0",
    "{\"kind\":\"attack\",\"site\":\"campus\",\"id\":\"a1\",\"seq\":0,\"state\":\"start\","
    "\"ip\":\"10.0.0.7\",\"start\":30100000}",
    "attack",
    "b2-0",
    "{\"kind\":\"attack\",\"site\":\"campus\",\"id\":\"b2\",\"seq\":0,\"state\":\"start\","
    "\"ip\":\"10.0.0.8\",\"start\":30000000}",
};
static const char *const campus101[] = {
    "slot",
    "",
    "{\"kind\":\"slot\",\"timeSlot\":101}",
    "attack",
    "a1-1",
    "{\"kind\":\"attack\",\"site\":\"campus\",\"id\":\"a1\",\"seq\":1,\"state\":\"end\","
    "\"ip\":\"10.0.0.7\",\"start\":30100000,\"end\":30300000}",
    "attack",
    "b2-1",
    "{\"kind\":\"attack\",\"site\":\"campus\",\"id\":\"b2\",\"seq\":1,\"state\":\"update\","
    "\"ip\":\"10.0.0.8\",\"start\":30000000}",
};
static const char *const dorm101[] = {
    "slot",
    "",
    "{\"kind\":\"slot\",\"timeSlot\":101}",
    "attack",
    "c3-0",
    "{\"kind\":\"attack\",\"site\":\"dorm\",\"id\":\"c3\",\"seq\":0,\"state\":\"end\","
    "\"ip\":\"10.1.0.1\",\"start\":30200000,\"end\":30250000}",
};

/* Two daily analyses of campus: 2026-01-01 (slot 5890752) and 2026-01-02 (5891040). */
static const char *const daily1[] = {
    "daily",
    "summary",
    "{\"kind\":\"daily\",\"site\":\"campus\",\"date\":\"2026-01-01\",\"@timestamp\":"
    "\"2026-01-01T00:00:00Z\",\"partial\":true,\"finding\":\"summary\"}",
    "daily",
    "ccSuspect:10.0.0.9",
    "{\"kind\":\"daily\",\"site\":\"campus\",\"date\":\"2026-01-01\",\"@timestamp\":"
    "\"2026-01-01T00:00:00Z\",\"ip\":\"10.0.0.9\",\"flows\":3,\"finding\":\"ccSuspect\"}",
    "daily",
    "mac:02:00:00:00:00:aa",
    "{\"kind\":\"daily\",\"site\":\"campus\",\"date\":\"2026-01-01\",\"@timestamp\":"
    "\"2026-01-01T00:00:00Z\",\"mac\":\"02:00:00:00:00:aa\",\"finding\":\"macMultiIp\"}",
};
static const char *const daily2[] = {
    "daily",
    "summary",
    "{\"kind\":\"daily\",\"site\":\"campus\",\"date\":\"2026-01-02\",\"@timestamp\":"
    "\"2026-01-02T00:00:00Z\",\"partial\":false,\"finding\":\"summary\"}",
};

static void fx_start(struct fx *f)
{
	struct web_config wc;
	char err[512];

	memset(&wc, 0, sizeof(wc));
	snprintf(wc.listen[0].host, sizeof(wc.listen[0].host), "127.0.0.1");
	wc.n_listen = 1;
	wc.max_connections = 8;
	wc.timeout_s = 5;
	if (web_start(&wc, f->path, &f->w, err, sizeof(err)))
		fail_msg("web_start: %s", err);
	f->port = web_port(f->w, 0);
	assert_int_not_equal(f->port, 0);
}

/* An offender database: 192.0.2.1 blocked, 192.0.2.2 not, 2001:db8::5 blocked. */
static void fx_db(struct fx *f)
{
	struct reputation_db *db;
	char err[256], *msg = NULL;
	sqlite3 *h;

	assert_int_equal(reputation_db_open(f->db, false, &db, err, sizeof(err)), 0);
	reputation_db_close(db);
	assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
	int rc = sqlite3_exec(
	    h,
	    "INSERT INTO offenders VALUES ('192.0.2.1',100,102,3,102,3,102,0,1,1,0,1767229200,"
	    "'scan 40 >= 20','[\"scan\"]','{\"campus\":{\"slots\":3,\"last\":102}}','[]'),"
	    "('192.0.2.2',100,100,1,100,0,100,0,0,0,0,0,'','[\"noPayload\"]',"
	    "'{\"campus\":{\"slots\":1,\"last\":100}}','[]'),"
	    "('2001:db8::5',101,101,1,101,1,101,0,1,1,0,1767229200,'flood','[\"flood\"]',"
	    "'{\"dorm\":{\"slots\":1,\"last\":101}}','[]')",
	    NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("insert: %s", msg);
	sqlite3_close(h);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/nfsentry-webpages-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/reputation.db", f->dir);
	assert_int_equal(store_open(f->path, NULL, &f->s, err, sizeof(err)), 0);
	put(f->s, "campus", 100, campus100, 3);
	put(f->s, "campus", 101, campus101, 3);
	put(f->s, "dorm", 101, dorm101, 2);
	put(f->s, "campus@daily", 5890752, daily1, 3);
	put(f->s, "campus@daily", 5891040, daily2, 1);
	f->resp = malloc(RESP_MAX);
	assert_non_null(f->resp);
	fx_start(f);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	web_stop(f->w);
	store_close(f->s);
	assert_int_equal(nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
	free(f->resp);
	free(f);
	return 0;
}

static int get(struct fx *f, const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
	char req[2048];
	size_t got = 0;
	int k = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);

	assert_true(fd >= 0 && k > 0 && (size_t)k < sizeof(req));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, req, (size_t)k, MSG_NOSIGNAL), k);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&p, 1, 10000), 1);
		ssize_t n = recv(fd, f->resp + got, RESP_MAX - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		assert_true(got < RESP_MAX - 1);
	}
	close(fd);
	f->resp[got] = '\0';
	sscanf(f->resp, "HTTP/1.1 %d", &status);
	const char *e = strstr(f->resp, "\r\n\r\n");
	f->body = e ? e + 4 : "";
	return status;
}

/* The last answer's body as JSON (the caller decrefs). */
static json_t *body_json(struct fx *f)
{
	json_error_t je;
	json_t *j = json_loads(f->body, 0, &je);

	if (!j)
		fail_msg("not JSON (%s): %s", je.text, f->body);
	return j;
}

/* "id:seq,id:seq,..." of an attacks answer, in its order. */
static void attack_ids(struct fx *f, char *out, size_t len)
{
	json_t *a = body_json(f), *v;
	size_t i, n = 0;

	out[0] = '\0';
	assert_true(json_is_array(a));
	json_array_foreach(a, i, v)
	{
		n += (size_t)snprintf(out + n, len - n, "%s%s:%lld", i ? "," : "",
		                      json_string_value(json_object_get(v, "id")),
		                      (long long)json_integer_value(json_object_get(v, "seq")));
		assert_true(n < len);
	}
	json_decref(a);
}

static void test_attacks(void **state)
{
	struct fx *f = *state;
	char ids[256];

	/* Slots 100..101: the range is in Unix seconds. */
	assert_int_equal(get(f, "/api/v1/attacks?from=30000&to=30599"), 200);
	attack_ids(f, ids, sizeof(ids));
	/* The ongoing b2 first (its latest document, seq 1), then by start: c3 before a1. */
	assert_string_equal(ids, "b2:1,c3:0,a1:1");
	assert_int_equal(get(f, "/api/v1/attacks?site=campus&from=30000&to=30599"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "b2:1,a1:1");
	/* Only slot 100: a1 not ended yet there, both ongoing; a1 started later. */
	assert_int_equal(get(f, "/api/v1/attacks?site=campus&from=30000&to=30299"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "a1:0,b2:0");
	assert_int_equal(get(f, "/api/v1/attacks?ip=10.0.0.7&from=30000&to=30599"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "a1:1");
	assert_int_equal(get(f, "/api/v1/attacks?site=lab&from=30000&to=30599"), 200);
	assert_string_equal(f->body, "[]\n");
	assert_int_equal(get(f, "/api/v1/attacks?ip=nope&from=30000&to=30599"), 400);
	assert_int_equal(get(f, "/api/v1/attacks?site=a/b"), 404);
	assert_int_equal(get(f, "/api/v1/attacks?from=30599&to=30000"), 400);
}

/* Put an attack document into the live table: its JSON carries what pages.c reads. */
static void live_put(struct attack_live *l, const char *site, const char *id, uint32_t seq,
                     const char *ip, int64_t start_ms, int64_t end_ms, int64_t slot)
{
	char j[256];
	int n = snprintf(j, sizeof(j),
	                 "{\"kind\":\"attack\",\"site\":\"%s\",\"id\":\"%s\",\"seq\":%u,"
	                 "\"ip\":\"%s\",\"start\":%lld",
	                 site, id, seq, ip, (long long)start_ms);
	if (end_ms)
		n += snprintf(j + n, sizeof(j) - (size_t)n, ",\"end\":%lld", (long long)end_ms);
	n += snprintf(j + n, sizeof(j) - (size_t)n, "}");
	assert_true(n > 0 && (size_t)n < sizeof(j));
	attack_live_put(l, site, id, seq, end_ms != 0, slot, j, (size_t)n);
}

/* The live table (attacklive.h) merged with the store: per event the highest seq, once. */
static void test_attacks_live(void **state)
{
	struct fx *f = *state;
	struct web_feed_opts fo = {.attack_live_entries = 8};
	struct web_feed *feed;
	struct web_config wc;
	char err[512], ids[256];

	web_stop(f->w);
	assert_int_equal(web_feed_create(&fo, &feed), 0);
	struct attack_live *l = web_feed_attacks(feed);
	assert_non_null(l);
	memset(&wc, 0, sizeof(wc));
	snprintf(wc.listen[0].host, sizeof(wc.listen[0].host), "127.0.0.1");
	wc.n_listen = 1;
	wc.max_connections = 8;
	wc.timeout_s = 5;
	if (web_start_feed(&wc, f->path, feed, &f->w, err, sizeof(err)))
		fail_msg("web_start_feed: %s", err);
	f->port = web_port(f->w, 0);
	/* Nothing live yet: the stored events only. */
	assert_int_equal(get(f, "/api/v1/attacks?from=30000&to=30599"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "b2:1,c3:0,a1:1");
	/* Live: b2 updated (seq 2), a1's end (stored too), e5 not stored yet, f6 in slot 102. */
	live_put(l, "campus", "b2", 2, "10.0.0.8", 30000000, 0, 101);
	live_put(l, "campus", "a1", 1, "10.0.0.7", 30100000, 30300000, 101);
	live_put(l, "campus", "e5", 0, "10.0.0.9", 30400000, 0, 101);
	live_put(l, "dorm", "f6", 0, "10.1.0.2", 30700000, 0, 102);
	assert_int_equal(get(f, "/api/v1/attacks?from=30000&to=30599"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "e5:0,b2:2,c3:0,a1:1");
	assert_int_equal(get(f, "/api/v1/attacks?site=campus&from=30000&to=30599"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "e5:0,b2:2,a1:1");
	assert_int_equal(get(f, "/api/v1/attacks?site=dorm&from=30000&to=30899"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "f6:0,c3:0");
	assert_int_equal(get(f, "/api/v1/attacks?ip=10.0.0.9&from=30000&to=30599"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "e5:0");
	/* Only slot 100: the live documents (slots 101, 102) are outside the range. */
	assert_int_equal(get(f, "/api/v1/attacks?from=30000&to=30299"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "a1:0,b2:0");
	/* b2 ends: it moves among the ended ones, by start. */
	live_put(l, "campus", "b2", 3, "10.0.0.8", 30000000, 30500000, 101);
	assert_int_equal(get(f, "/api/v1/attacks?site=campus&from=30000&to=30599"), 200);
	attack_ids(f, ids, sizeof(ids));
	assert_string_equal(ids, "e5:0,a1:1,b2:3");
	web_stop(f->w);
	f->w = NULL;
	web_feed_destroy(feed);
}

static void test_daily(void **state)
{
	struct fx *f = *state;
	json_t *j;

	assert_int_equal(get(f, "/api/v1/sites/campus/daily/latest"), 200);
	j = body_json(f);
	assert_string_equal(json_string_value(json_object_get(j, "site")), "campus");
	assert_int_equal(json_integer_value(json_object_get(j, "timeSlot")), 5891040);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "summary"), "date")),
	    "2026-01-02");
	assert_int_equal(json_array_size(json_object_get(j, "ccSuspect")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "macMultiIp")), 0);
	json_decref(j);

	assert_int_equal(get(f, "/api/v1/sites/campus/daily/latest?date=2026-01-01"), 200);
	j = body_json(f);
	assert_int_equal(json_integer_value(json_object_get(j, "timeSlot")), 5890752);
	assert_true(json_is_true(json_object_get(json_object_get(j, "summary"), "partial")));
	json_t *cc = json_object_get(j, "ccSuspect"), *mm = json_object_get(j, "macMultiIp");
	assert_int_equal(json_array_size(cc), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(cc, 0), "ip")),
	                    "10.0.0.9");
	assert_int_equal(json_array_size(mm), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(mm, 0), "mac")),
	                    "02:00:00:00:00:aa");
	json_decref(j);

	assert_int_equal(get(f, "/api/v1/sites/campus/daily/latest?date=2026-01-03"), 404);
	assert_int_equal(get(f, "/api/v1/sites/campus/daily/latest?date=2026-02-30"), 400);
	assert_int_equal(get(f, "/api/v1/sites/campus/daily/latest?date=2026-1-1"), 400);
	assert_int_equal(get(f, "/api/v1/sites/dorm/daily/latest"), 404);
}

static void test_offenders(void **state)
{
	struct fx *f = *state;
	json_t *j;

	/* No database given: 404, for the list and the block-list alike. */
	assert_int_equal(get(f, "/api/v1/offenders"), 404);
	assert_int_equal(get(f, "/blocklist.txt"), 404);
	/* Given but not created yet (reputation on, nothing recorded): 404 too. */
	web_reputation_set(f->w, f->db);
	assert_int_equal(get(f, "/api/v1/offenders"), 404);
	fx_db(f);

	assert_int_equal(get(f, "/api/v1/offenders"), 200);
	j = body_json(f);
	assert_int_equal(json_array_size(j), 3);
	json_t *o = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(o, "ip")), "192.0.2.1");
	assert_int_equal(json_integer_value(json_object_get(o, "offences")), 3);
	assert_true(json_is_true(json_object_get(o, "blocked")));
	assert_string_equal(json_string_value(json_object_get(o, "blockedUntil")),
	                    "2026-01-01T01:00:00Z");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "sites"), 0)),
	                    "campus");
	json_decref(j);

	assert_int_equal(get(f, "/api/v1/offenders?blocked=1"), 200);
	j = body_json(f);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "ip")),
	                    "2001:db8::5");
	json_decref(j);
	assert_int_equal(get(f, "/api/v1/offenders?limit=1"), 200);
	j = body_json(f);
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	/* The IP in any spelling, as the documents spell it. */
	assert_int_equal(get(f, "/api/v1/offenders?ip=2001:0db8:0:0::5"), 200);
	j = body_json(f);
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	assert_int_equal(get(f, "/api/v1/offenders?ip=192.0.2.200"), 200);
	assert_string_equal(f->body, "[]\n");
	assert_int_equal(get(f, "/api/v1/offenders?blocked=maybe"), 400);
	assert_int_equal(get(f, "/api/v1/offenders?ip=x"), 400);
	assert_int_equal(get(f, "/api/v1/offenders?limit=0"), 400);

	assert_int_equal(get(f, "/blocklist.txt"), 200);
	assert_non_null(strstr(f->resp, "Content-Type: text/plain"));
	assert_non_null(strstr(f->body, "# nfsentry block-list"));
	assert_non_null(strstr(f->body, "# 2 blocked addresses, 3 offenders known\n"
	                                "192.0.2.1\n2001:db8::5\n"));
	assert_null(strstr(f->body, "192.0.2.2"));
}

/* "ip ip ..." of an offenders answer, in its order. */
static const char *off_ips(struct fx *f, char *out, size_t len)
{
	json_t *a = body_json(f), *v;
	size_t i, n = 0;

	out[0] = '\0';
	json_array_foreach(a, i, v)
	{
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "",
		                      json_string_value(json_object_get(v, "ip")));
		assert_true(n < len);
	}
	json_decref(a);
	return out;
}

/* The offenders page's sorts and pages, on the server. */
static void test_offenders_sorted(void **state)
{
	struct fx *f = *state;
	char got[256], *msg = NULL;
	sqlite3 *h;

	web_reputation_set(f->w, f->db);
	fx_db(f);
	/* A fourth: two sites, two labels, two offences, not blocked. */
	assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
	if (sqlite3_exec(
	        h,
	        "INSERT INTO offenders VALUES ('198.51.100.4',100,101,2,101,0,101,0,0,0,0,0,"
	        "'','[\"scan\",\"flood\"]','{\"campus\":{\"slots\":1,\"last\":100},"
	        "\"dorm\":{\"slots\":1,\"last\":101}}','[]')",
	        NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("insert: %s", msg);
	sqlite3_close(h);

	static const struct {
		const char *query, *ips;
	} cases[] = {
	    {"", "192.0.2.1 192.0.2.2 198.51.100.4 2001:db8::5"},
	    {"?sort=ip", "192.0.2.1 192.0.2.2 198.51.100.4 2001:db8::5"},
	    {"?sort=offences", "192.0.2.1 198.51.100.4 192.0.2.2 2001:db8::5"},
	    {"?sort=sites", "198.51.100.4 192.0.2.1 192.0.2.2 2001:db8::5"},
	    {"?sort=labels", "198.51.100.4 192.0.2.1 192.0.2.2 2001:db8::5"},
	    {"?sort=until", "192.0.2.1 2001:db8::5 198.51.100.4 192.0.2.2"},
	    {"?sort=until&blocked=1", "192.0.2.1 2001:db8::5"},
	    {"?sort=offences&offset=1&limit=2", "198.51.100.4 192.0.2.2"},
	    {"?sort=offences&offset=3&limit=1000000", "2001:db8::5"},
	    {"?sort=offences&offset=4", ""},
	    {"?offset=2147483647", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "/api/v1/offenders%s", cases[i].query);
		assert_int_equal(get(f, path), 200);
		if (strcmp(off_ips(f, got, sizeof(got)), cases[i].ips) != 0)
			fail_msg("%s: %s, want %s", path, got, cases[i].ips);
		/* Every page says how many match in all. */
		if (!strstr(f->resp, strstr(cases[i].query, "blocked=1") ? "X-Total-Count: 2\r\n"
		                                                         : "X-Total-Count: 4\r\n"))
			fail_msg("%s: %s", path, f->resp);
	}
	static const char *const bad[] = {"sort=seen",  "sort=IP",          "offset=-1",
	                                  "offset=x",   "limit=1000001",    "limit=0",
	                                  "offset=1.5", "offset=2147483648"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "/api/v1/offenders?%s", bad[i]);
		assert_int_equal(get(f, path), 400);
		if (strncmp(f->body, "{\"error\":{\"status\":400,\"code\":\"bad_parameter\"", 45) !=
		    0)
			fail_msg("%s: %s", path, f->body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_attacks, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_attacks_live, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_daily, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_offenders, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_offenders_sorted, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
