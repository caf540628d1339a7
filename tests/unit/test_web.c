/*
 * Unit tests for src/web/web.c: a server on 127.0.0.1 port 0 over a store
 * filled by store_slot_write(), spoken to with raw HTTP/1.1 over a socket
 * (so malformed requests can be sent too). Routing and exact answers of the
 * API, 400/404/405/413 errors as JSON, caching headers and 304s, the token
 * (Bearer and Basic; /healthz open), the embedded page and its security
 * headers, start-up refusals, and bounded, timed-out connections; /metrics,
 * the collector object and the latest slot's peers served from a feed; the
 * answer cache (hits, invalidation by a store write), pages and gzip.
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
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <zlib.h>

#include "nfsentry/judge.h"
#include "nfsentry/store.h"
#include "nfsentry/web.h"
#include "nfsentry/webfeed.h"

#include "../../src/web/internal.h"

#define RESP_MAX (1 << 20)

struct fx {
	char dir[64];
	char path[128];
	char token[128];
	struct store *s;
	struct web *w;
	uint16_t port;
	char *resp; /* last answer, headers and body */
	size_t resp_len;
	const char *body;
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void put(struct store *s, const char *site, int64_t ts, const char *const *kv, size_t n)
{
	struct store_doc d[8];
	struct store_slot_info info = {.closed_at_s = ts * 300 + 310, .partial = false};

	for (size_t i = 0; i < n; i++) {
		d[i].kind = kv[3 * i];
		d[i].key = kv[3 * i + 1];
		d[i].json = kv[3 * i + 2];
		d[i].json_len = strlen(kv[3 * i + 2]);
	}
	assert_int_equal(store_slot_write(s, site, ts, d, n, &info), 0);
}

static const char *const campus100[] = {
    "slot",
    "",
    "{\"kind\":\"slot\",\"timeSlot\":100,\"labels\":{\"scan\":1}}",
    "inside",
    "10.0.0.1",
    "{\"kind\":\"inside\",\"ip\":\"10.0.0.1\",\"octets\":10,\"labels\":[]}",
    "inside",
    "10.0.0.2",
    "{\"kind\":\"inside\",\"ip\":\"10.0.0.2\",\"octets\":99,\"labels\":[\"fanout\"]}",
    "offender",
    "192.0.2.9",
    "{\"kind\":\"offender\",\"ip\":\"192.0.2.9\",\"labels\":[\"scan\"]}",
    "outside",
    "192.0.2.9",
    "{\"kind\":\"outside\",\"ip\":\"192.0.2.9\",\"fromOctets\":5,\"labels\":[\"scan\"],"
    "\"note\":\"<script>alert(1)</script>\"}",
};
static const char *const campus101[] = {
    "slot",   "",         "{\"kind\":\"slot\",\"timeSlot\":101}",
    "inside", "10.0.0.2", "{\"kind\":\"inside\",\"ip\":\"10.0.0.2\",\"t\":101,\"labels\":[]}",
};
static const char *const lab100[] = {
    "slot",
    "",
    "{\"kind\":\"slot\",\"site\":\"lab\",\"timeSlot\":100}",
    "inside",
    "2001:db8::1",
    "{\"kind\":\"inside\",\"ip\":\"2001:db8::1\",\"labels\":[]}",
};

static void fx_start_feed(struct fx *f, const char *token, uint32_t max_conn, uint32_t timeout_s,
                          struct web_feed *feed)
{
	struct web_config wc;
	char err[512];
	int rc;

	memset(&wc, 0, sizeof(wc));
	snprintf(wc.listen[0].host, sizeof(wc.listen[0].host), "127.0.0.1");
	wc.listen[0].port = 0;
	wc.n_listen = 1;
	wc.max_connections = max_conn;
	wc.timeout_s = timeout_s;
	if (token) {
		FILE *fp;
		snprintf(wc.token_file, sizeof(wc.token_file), "%s/token", f->dir);
		fp = fopen(wc.token_file, "w");
		assert_non_null(fp);
		fprintf(fp, "%s\n", token);
		fclose(fp);
		chmod(wc.token_file, 0600);
	}
	rc = web_start_feed(&wc, f->path, feed, &f->w, err, sizeof(err));
	if (rc)
		fail_msg("web_start: %d %s", rc, err);
	f->port = web_port(f->w, 0);
	assert_int_not_equal(f->port, 0);
	assert_int_equal(web_port(f->w, 1), 0);
}

static void fx_start(struct fx *f, const char *token, uint32_t max_conn, uint32_t timeout_s)
{
	fx_start_feed(f, token, max_conn, timeout_s, NULL);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/nfsentry-web-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
	assert_int_equal(store_open(f->path, NULL, &f->s, err, sizeof(err)), 0);
	put(f->s, "campus", 100, campus100, 5);
	put(f->s, "campus", 101, campus101, 2);
	put(f->s, "lab", 100, lab100, 2);
	f->resp = malloc(RESP_MAX);
	assert_non_null(f->resp);
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

static int connect_to(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send raw bytes, read until the server closes; returns the status code (0: none). */
static int raw(struct fx *f, const char *req, size_t req_len)
{
	int fd = connect_to(f->port), status = 0;
	size_t got = 0;
	char *hdr_end;

	for (size_t off = 0; off < req_len;) {
		ssize_t k = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
		if (k <= 0)
			break; /* the server may answer and close before reading it all */
		off += (size_t)k;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t k;
		assert_int_equal(poll(&p, 1, 10000), 1);
		k = recv(fd, f->resp + got, RESP_MAX - 1 - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
		assert_true(got < RESP_MAX - 1);
	}
	close(fd);
	f->resp[got] = '\0';
	sscanf(f->resp, "HTTP/1.1 %d", &status);
	hdr_end = strstr(f->resp, "\r\n\r\n");
	f->body = hdr_end ? hdr_end + 4 : "";
	f->resp_len = got;
	return status;
}

/* A literal request, its length counted by the compiler. */
#define RAW(f, lit) raw((f), (lit), sizeof(lit) - 1)

static int get(struct fx *f, const char *path, const char *headers)
{
	char req[8192];
	int k =
	    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n",
	             path, headers ? headers : "");

	assert_true(k > 0 && (size_t)k < sizeof(req));
	return raw(f, req, (size_t)k);
}

/* The value of header name in the last answer ("" if absent), into buf. */
static const char *header(struct fx *f, const char *name, char *buf, size_t len)
{
	char pat[128];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	buf[0] = '\0';
	p = strcasestr(f->resp, pat);
	if (!p || p > f->body)
		return buf;
	p += strlen(pat);
	e = strstr(p, "\r\n");
	snprintf(buf, len, "%.*s", (int)(e - p), p);
	return buf;
}

static void test_api_answers(void **state)
{
	struct fx *f = *state;
	char h[256], etag[64], inm[128];

	fx_start(f, NULL, 16, 5);
	assert_int_equal(get(f, "/healthz", NULL), 200);
	assert_string_equal(f->body, "{\"status\":\"ok\"}\n");

	assert_int_equal(get(f, "/api/v1/sites", NULL), 200);
	assert_string_equal(
	    f->body,
	    "[\n{\"site\":\"campus\",\"timeSlot\":101,\"@timestamp\":\"1970-01-01T08:25:00Z\","
	    "\"closedAt\":\"1970-01-01T08:30:10Z\",\"closedAtS\":30610,\"docs\":2,\"partial\":"
	    "false},"
	    "\n{\"site\":\"lab\",\"timeSlot\":100,\"@timestamp\":\"1970-01-01T08:20:00Z\","
	    "\"closedAt\":\"1970-01-01T08:25:10Z\",\"closedAtS\":30310,\"docs\":2,\"partial\":"
	    "false}"
	    "\n]\n");
	assert_string_equal(header(f, "Content-Type", h, sizeof(h)), "application/json");
	assert_string_equal(header(f, "Cache-Control", h, sizeof(h)), "private, no-cache");

	/* Slot documents in the range: start in [from, to]. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots?from=30000&to=30300", NULL), 200);
	assert_string_equal(f->body,
	                    "[\n{\"kind\":\"slot\",\"timeSlot\":100,\"labels\":{\"scan\":1}},\n"
	                    "{\"kind\":\"slot\",\"timeSlot\":101}\n]\n");
	assert_int_equal(get(f, "/api/v1/sites/campus/slots?from=30001&to=30300", NULL), 200);
	assert_string_equal(f->body, "[\n{\"kind\":\"slot\",\"timeSlot\":101}\n]\n");
	assert_int_equal(get(f, "/api/v1/sites/campus/slots?from=0&to=299", NULL), 200);
	assert_string_equal(f->body, "[]\n");

	/* Labelled documents of a named slot, as stored, with immutable caching. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled", NULL), 200);
	assert_string_equal(
	    f->body,
	    "[\n{\"kind\":\"inside\",\"ip\":\"10.0.0.2\",\"octets\":99,\"labels\":[\"fanout\"]},\n"
	    "{\"kind\":\"offender\",\"ip\":\"192.0.2.9\",\"labels\":[\"scan\"]},\n"
	    "{\"kind\":\"outside\",\"ip\":\"192.0.2.9\",\"fromOctets\":5,\"labels\":[\"scan\"],"
	    "\"note\":\"<script>alert(1)</script>\"}\n]\n");
	assert_string_equal(header(f, "Cache-Control", h, sizeof(h)),
	                    "private, max-age=31536000, immutable");
	header(f, "ETag", etag, sizeof(etag));
	assert_int_equal(strlen(etag), 18);
	assert_int_equal(etag[0], '"');
	snprintf(inm, sizeof(inm), "If-None-Match: %s\r\n", etag);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled", inm), 304);
	assert_string_equal(f->body, "");
	assert_string_equal(header(f, "ETag", h, sizeof(h)), etag);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled",
	                     "If-None-Match: \"0000000000000000\"\r\n"),
	                 200);

	/* latest: the same route, but it moves, so it is revalidated. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/latest/labelled", NULL), 200);
	assert_string_equal(f->body, "[]\n");
	assert_string_equal(header(f, "Cache-Control", h, sizeof(h)), "private, no-cache");

	/* Top talkers. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/top?kind=inside&n=1", NULL), 200);
	assert_string_equal(f->body, "[\n{\"kind\":\"inside\",\"ip\":\"10.0.0.2\",\"octets\":99,"
	                             "\"labels\":[\"fanout\"]}\n]\n");

	/* One IP across slots and sites; ::ffff:a.b.c.d is the same key; IPv6 canonical. */
	assert_int_equal(get(f, "/api/v1/ip/10.0.0.2?from=30000&to=30300", NULL), 200);
	assert_string_equal(
	    f->body,
	    "[\n{\"kind\":\"inside\",\"ip\":\"10.0.0.2\",\"octets\":99,\"labels\":[\"fanout\"]},\n"
	    "{\"kind\":\"inside\",\"ip\":\"10.0.0.2\",\"t\":101,\"labels\":[]}\n]\n");
	assert_int_equal(get(f, "/api/v1/ip/::ffff:10.0.0.2?from=30300&to=30300", NULL), 200);
	assert_string_equal(
	    f->body, "[\n{\"kind\":\"inside\",\"ip\":\"10.0.0.2\",\"t\":101,\"labels\":[]}\n]\n");
	assert_int_equal(get(f, "/api/v1/ip/2001:0db8:0::1?from=30000&to=30000", NULL), 200);
	assert_string_equal(f->body,
	                    "[\n{\"kind\":\"inside\",\"ip\":\"2001:db8::1\",\"labels\":[]}\n]\n");

	/* HEAD: headers only. */
	assert_int_equal(
	    RAW(f, "HEAD /api/v1/sites HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 200);
	assert_string_equal(f->body, "");
}

static void expect_error(struct fx *f, const char *path, int status, const char *code)
{
	char want[64], h[128];

	if (get(f, path, NULL) != status)
		fail_msg("%s: status %d, want %d: %s", path, get(f, path, NULL), status, f->resp);
	snprintf(want, sizeof(want), "{\"error\":{\"status\":%d,\"code\":\"%s\"", status, code);
	if (strncmp(f->body, want, strlen(want)) != 0)
		fail_msg("%s: body %s, want %s...", path, f->body, want);
	assert_string_equal(header(f, "Cache-Control", h, sizeof(h)), "no-store");
	assert_string_equal(header(f, "Content-Type", h, sizeof(h)), "application/json");
}

static void test_errors(void **state)
{
	struct fx *f = *state;
	char big[40000 + 64], h[64];
	int k;

	fx_start(f, NULL, 16, 5);
	expect_error(f, "/api/v1/sites/nosuch/slots", 404, "not_found");
	expect_error(f, "/api/v1/sites/nosuch/slots/latest/labelled", 404, "not_found");
	expect_error(f, "/api/v1/sites/campus/slots/99/labelled", 404, "not_found");
	expect_error(f, "/api/v1/sites/camp%3Cus%3E/slots", 404, "not_found");
	expect_error(f, "/api/v1/sites/campus/slots/1x/labelled", 400, "bad_slot");
	expect_error(f, "/api/v1/sites/campus/slots/-1/labelled", 400, "bad_slot");
	expect_error(f, "/api/v1/sites/campus/slots?from=10&to=5", 400, "bad_range");
	expect_error(f, "/api/v1/sites/campus/slots?from=abc", 400, "bad_range");
	expect_error(f, "/api/v1/sites/campus/slots?from=%2B5&to=9", 400, "bad_range");
	expect_error(f, "/api/v1/sites/campus/slots?from=0&to=2678401", 400, "bad_range");
	expect_error(f, "/api/v1/sites/campus/slots?from=99999999999999999999", 400, "bad_range");
	expect_error(f, "/api/v1/sites/campus/slots/100/top?kind=slot", 400, "bad_parameter");
	expect_error(f, "/api/v1/sites/campus/slots/100/top?kind=inside&by=ip", 400,
	             "bad_parameter");
	expect_error(f, "/api/v1/sites/campus/slots/100/top?kind=inside&n=101", 400,
	             "bad_parameter");
	expect_error(f, "/api/v1/ip/10.0.0.256", 400, "bad_ip");
	expect_error(f, "/api/v1/ip/%3Cscript%3E", 400, "bad_ip");
	/* The path is decoded before routing: an encoded slash is a slash. */
	expect_error(f, "/api/v1/ip/10.0.0.0%2F8", 404, "not_found");
	expect_error(f, "/api/v1/ip/10.9.9.9?from=0&to=1000000", 404, "not_found");
	expect_error(f, "/api/v1/ip/10.0.0.2?from=0&to=1000", 404, "not_found");
	expect_error(f, "/api/v2/sites", 404, "not_found");
	expect_error(f, "/api/v1/sites/", 404, "not_found");
	expect_error(f, "/api/v1//sites", 404, "not_found");
	expect_error(f, "/api/v1/sites/campus/../lab/slots", 404, "not_found");
	expect_error(f, "/api/v1/sites/campus/slots/100/labelled/x/y/z", 404, "not_found");
	expect_error(f, "/nosuch", 404, "not_found");

	/* Methods other than GET and HEAD; a body on a GET. */
	assert_int_equal(RAW(f, "POST /api/v1/sites HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	                        "Content-Length: 3\r\n\r\nabc"),
	                 405);
	assert_string_equal(header(f, "Allow", h, sizeof(h)), "GET, HEAD");
	assert_int_equal(RAW(f, "GET /api/v1/sites HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	                        "Content-Length: 3\r\n\r\nabc"),
	                 413);

	/* Malformed requests and an oversized header: refused, and the server stays up. */
	assert_true(RAW(f, "GARBAGE\r\n\r\n") != 200);
	assert_true(RAW(f, "GET /healthz HTTP/9.9\r\n\r\n") != 200);
	assert_true(RAW(f, "\x01\x02\x03\xff\r\n\r\n") != 200);
	k = snprintf(big, sizeof(big), "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(big + k, 'a', 40000);
	memcpy(big + k + 40000, "\r\n\r\n", 5);
	assert_true(raw(f, big, strlen(big)) != 200);
	assert_int_equal(get(f, "/healthz", NULL), 200);
}

static void test_token(void **state)
{
	struct fx *f = *state;
	char h[256];

	fx_start(f, "s3cret-token", 16, 5);
	/* /healthz stays open for container health checks. */
	assert_int_equal(get(f, "/healthz", NULL), 200);
	expect_error(f, "/api/v1/sites", 401, "unauthorized");
	assert_non_null(strstr(f->resp, "WWW-Authenticate: Bearer realm=\"nfsentry\""));
	assert_non_null(strstr(f->resp, "WWW-Authenticate: Basic realm=\"nfsentry\""));
	expect_error(f, "/", 401, "unauthorized");
	expect_error(f, "/api/v1/sites/nosuch/slots", 401, "unauthorized");
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer s3cret-toke\r\n"), 401);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer s3cret-token2\r\n"), 401);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer S3cret-token\r\n"), 401);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer \r\n"), 401);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: s3cret-token\r\n"), 401);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer s3cret-token\r\n"), 200);
	assert_non_null(strstr(f->body, "\"site\":\"campus\""));
	/* Basic: any user name, the token as password ("op:s3cret-token"). */
	assert_int_equal(get(f, "/", "Authorization: Basic b3A6czNjcmV0LXRva2Vu\r\n"), 200);
	assert_string_equal(header(f, "Content-Type", h, sizeof(h)), "text/html; charset=utf-8");
	/* "op:s3cret-tokex" and garbage. */
	assert_int_equal(get(f, "/", "Authorization: Basic b3A6czNjcmV0LXRva2V4\r\n"), 401);
	assert_int_equal(get(f, "/", "Authorization: Basic !!!!\r\n"), 401);
	/* The token never appears in an answer. */
	assert_null(strstr(f->resp, "s3cret"));
}

/* Write text to DIR/name (0600); its path into out. */
static void token_file(const struct fx *f, const char *name, const char *text, char *out,
                       size_t len)
{
	snprintf(out, len, "%s/%s", f->dir, name);
	FILE *fp = fopen(out, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(out, 0600);
}

/*
 * A reload's token: a new file's token is checked from the next request on
 * and the old one is refused; the same token changes nothing; an unreadable
 * or empty file changes nothing; no file turns the check off.
 */
static void test_token_reload(void **state)
{
	struct fx *f = *state;
	char path[256], err[512];
	bool changed = true;

	fx_start(f, "s3cret-token", 16, 5);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer s3cret-token\r\n"), 200);
	token_file(f, "new", "n3w-token\n", path, sizeof(path));
	assert_int_equal(web_token_reload(f->w, path, &changed, err, sizeof(err)), 0);
	assert_true(changed);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer s3cret-token\r\n"), 401);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer n3w-token\r\n"), 200);
	/* The same token in another file: nothing changes. */
	token_file(f, "same", "n3w-token", path, sizeof(path));
	assert_int_equal(web_token_reload(f->w, path, &changed, err, sizeof(err)), 0);
	assert_false(changed);
	/* Refused files keep the token in force. */
	token_file(f, "empty", "\n", path, sizeof(path));
	assert_int_equal(web_token_reload(f->w, path, &changed, err, sizeof(err)), -EINVAL);
	assert_false(changed);
	assert_non_null(strstr(err, "empty"));
	snprintf(path, sizeof(path), "%s/missing", f->dir);
	assert_int_equal(web_token_reload(f->w, path, &changed, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_null(strstr(err, "n3w"));
	assert_int_equal(get(f, "/api/v1/sites", NULL), 401);
	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer n3w-token\r\n"), 200);
	/* No token file: the check is off. */
	assert_int_equal(web_token_reload(f->w, "", &changed, err, sizeof(err)), 0);
	assert_true(changed);
	assert_int_equal(get(f, "/api/v1/sites", NULL), 200);
	assert_int_equal(web_token_reload(f->w, "", &changed, err, sizeof(err)), 0);
	assert_false(changed);
}

static void test_page(void **state)
{
	struct fx *f = *state;
	char h[512], etag[64], inm[128];

	fx_start(f, NULL, 16, 5);
	assert_int_equal(get(f, "/", NULL), 200);
	assert_string_equal(header(f, "Content-Type", h, sizeof(h)), "text/html; charset=utf-8");
	assert_non_null(strstr(f->body, "<script src=\"/app.js\" defer></script>"));
	/* No inline script: every <script has a src. */
	for (const char *p = f->body; (p = strstr(p, "<script")) != NULL; p++)
		assert_true(strncmp(p, "<script src=", 12) == 0);
	header(f, "Content-Security-Policy", h, sizeof(h));
	assert_non_null(strstr(h, "script-src 'self'"));
	assert_non_null(strstr(h, "default-src 'none'"));
	assert_null(strstr(h, "unsafe"));
	assert_string_equal(header(f, "X-Content-Type-Options", h, sizeof(h)), "nosniff");
	assert_string_equal(header(f, "X-Frame-Options", h, sizeof(h)), "DENY");

	assert_int_equal(get(f, "/vendor/chart.min.js", NULL), 200);
	assert_string_equal(header(f, "Content-Type", h, sizeof(h)),
	                    "text/javascript; charset=utf-8");
	assert_true(strlen(f->body) > 100000);
	assert_non_null(strstr(f->body, "Chart.js"));
	header(f, "ETag", etag, sizeof(etag));
	snprintf(inm, sizeof(inm), "If-None-Match: %s\r\n", etag);
	assert_int_equal(get(f, "/vendor/chart.min.js", inm), 304);
	assert_int_equal(get(f, "/app.js", NULL), 200);
	/* The page writes network data as text, never as HTML. */
	assert_null(strstr(f->body, "innerHTML"));
	assert_int_equal(get(f, "/app.css", NULL), 200);
}

static void test_start_refusals(void **state)
{
	struct fx *f = *state;
	struct web_config wc;
	struct web *w = (struct web *)&w;
	char err[512], p[160];
	FILE *fp;

	memset(&wc, 0, sizeof(wc));
	wc.max_connections = 4;
	wc.timeout_s = 5;
	/* Off: nothing starts. */
	assert_int_equal(web_start(&wc, f->path, &w, err, sizeof(err)), 0);
	assert_null(w);

	snprintf(wc.listen[0].host, sizeof(wc.listen[0].host), "127.0.0.1");
	wc.n_listen = 1;
	snprintf(p, sizeof(p), "%s/none.db", f->dir);
	assert_int_not_equal(web_start(&wc, p, &w, err, sizeof(err)), 0);
	assert_null(w);
	assert_non_null(strstr(err, "none.db"));

	snprintf(wc.token_file, sizeof(wc.token_file), "%s/empty", f->dir);
	fp = fopen(wc.token_file, "w");
	assert_non_null(fp);
	fputs("\n", fp);
	fclose(fp);
	assert_int_equal(web_start(&wc, f->path, &w, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty"));
	snprintf(wc.token_file, sizeof(wc.token_file), "%s/missing", f->dir);
	assert_int_equal(web_start(&wc, f->path, &w, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing"));
	wc.token_file[0] = '\0';

	snprintf(wc.cert_file, sizeof(wc.cert_file), "%s/cert.pem", f->dir);
	assert_int_equal(web_start(&wc, f->path, &w, err, sizeof(err)), -EINVAL);
	wc.cert_file[0] = '\0';

	/* A port already taken. */
	fx_start(f, NULL, 4, 5);
	wc.listen[0].port = f->port;
	assert_int_not_equal(web_start(&wc, f->path, &w, err, sizeof(err)), 0);
	assert_null(w);
	snprintf(p, sizeof(p), "127.0.0.1:%u", f->port);
	assert_non_null(strstr(err, p));
	assert_int_equal(get(f, "/healthz", NULL), 200);
}

/* s starts with the literal lit. */
#define assert_prefix(s, lit) assert_int_equal(strncmp((s), (lit), sizeof(lit) - 1), 0)

/* The last answer's body (f->body, body_len bytes) gunzipped into out; its length. */
static size_t gunzip_body(struct fx *f, char *out, size_t cap)
{
	z_stream z;
	size_t body_len = f->resp_len - (size_t)(f->body - f->resp);

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)f->body;
	z.avail_in = (uInt)body_len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)(cap - 1);
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.avail_in, 0);
	out[z.total_out] = '\0';
	inflateEnd(&z);
	return (size_t)z.total_out;
}

/* Slot ts of campus with n labelled inside documents, each about 120 bytes, tagged t. */
static void put_many(struct store *s, int64_t ts, size_t n, const char *t)
{
	struct store_doc *d = calloc(n, sizeof(*d));
	char(*keys)[32] = calloc(n, 32), (*json)[160] = calloc(n, 160);
	struct store_slot_info info = {.closed_at_s = ts * 300 + 310};

	assert_true(d && keys && json);
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], 32, "10.1.%zu.%zu", i / 256, i % 256);
		snprintf(json[i], 160,
		         "{\"kind\":\"inside\",\"ip\":\"%s\",\"octets\":%zu,\"t\":\"%s\","
		         "\"labels\":[\"fanout\"],\"reason\":\"linked to many hosts\"}",
		         keys[i], 1000 + i, t);
		d[i] = (struct store_doc){
		    .kind = "inside", .key = keys[i], .json = json[i], .json_len = strlen(json[i])};
	}
	assert_int_equal(store_slot_write(s, "campus", ts, d, n, &info), 0);
	free(d);
	free(keys);
	free(json);
}

static void test_cache_pages_gzip(void **state)
{
	struct fx *f = *state;
	struct web_cache_stats st;
	char h[256], etag[64], gzetag[64], inm[128];
	char *plain = malloc(RESP_MAX), *unz = malloc(RESP_MAX);
	size_t plain_len;

	assert_true(plain && unz);
	put_many(f->s, 102, 200, "a");
	fx_start(f, NULL, 16, 5);
	/* The warm-up thread builds each site's latest labelled answer and the page's two tops. */
	for (int i = 0; i < 1000; i++) {
		web_cache_stats(f->w, &st);
		if (st.warm_passes)
			break;
		usleep(10000);
	}
	assert_int_equal(st.warm_passes, 1);
	assert_int_equal(st.entries, 6);
	assert_int_equal(st.misses, 6);
	assert_int_equal(st.stored, 6);
	assert_int_equal(st.hits, 0);

	/* Served from the cache; slot 100 is not the latest: built at its first request. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/labelled", NULL), 200);
	plain_len = strlen(f->body);
	memcpy(plain, f->body, plain_len + 1);
	assert_true(plain_len > 20000);
	assert_prefix(plain, "[\n{\"kind\":\"inside\",\"ip\":\"10.1.0.0\"");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "200");
	assert_string_equal(header(f, "Vary", h, sizeof(h)), "Accept-Encoding");
	assert_string_equal(header(f, "Content-Encoding", h, sizeof(h)), "");
	header(f, "ETag", etag, sizeof(etag));
	web_cache_stats(f->w, &st);
	assert_int_equal(st.misses, 6);
	assert_int_equal(st.hits, 1);
	/* latest is the same slot: the same entry. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/latest/labelled", NULL), 200);
	assert_string_equal(f->body, plain);
	assert_string_equal(header(f, "ETag", h, sizeof(h)), etag);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled", NULL), 200);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled", NULL), 200);
	web_cache_stats(f->w, &st);
	assert_int_equal(st.misses, 7);
	assert_int_equal(st.hits, 3);
	assert_int_equal(st.stored, 7);
	assert_int_equal(st.entries, 7);

	/* gzip when asked for: the same bytes once inflated, under its own validator. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/labelled",
	                     "Accept-Encoding: deflate, gzip;q=0.5\r\n"),
	                 200);
	assert_string_equal(header(f, "Content-Encoding", h, sizeof(h)), "gzip");
	assert_true(f->resp_len - (size_t)(f->body - f->resp) < plain_len / 4);
	assert_int_equal(gunzip_body(f, unz, RESP_MAX), plain_len);
	assert_string_equal(unz, plain);
	header(f, "ETag", gzetag, sizeof(gzetag));
	assert_string_not_equal(gzetag, etag);
	snprintf(inm, sizeof(inm), "If-None-Match: %s\r\nAccept-Encoding: gzip\r\n", gzetag);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/labelled", inm), 304);
	/* q=0 refuses it; so does a client that names none. */
	assert_int_equal(
	    get(f, "/api/v1/sites/campus/slots/102/labelled", "Accept-Encoding: gzip;q=0\r\n"),
	    200);
	assert_string_equal(header(f, "Content-Encoding", h, sizeof(h)), "");
	assert_string_equal(f->body, plain);
	/* Small answers stay plain. */
	assert_int_equal(
	    get(f, "/api/v1/sites/campus/slots/100/labelled", "Accept-Encoding: gzip\r\n"), 200);
	assert_string_equal(header(f, "Content-Encoding", h, sizeof(h)), "");
	assert_prefix(f->body, "[\n{\"kind\":\"inside\",\"ip\":\"10.0.0.2\"");

	/* Pages: documents [offset, offset + limit), the total in X-Total-Count. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled?offset=1&limit=1", NULL),
	                 200);
	assert_string_equal(
	    f->body, "[\n{\"kind\":\"offender\",\"ip\":\"192.0.2.9\",\"labels\":[\"scan\"]}\n]\n");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "3");
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled?limit=2", NULL), 200);
	assert_prefix(f->body, "[\n{\"kind\":\"inside\"");
	assert_non_null(strstr(f->body, "},\n{\"kind\":\"offender\""));
	assert_null(strstr(f->body, "outside"));
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled?offset=2&limit=5", NULL),
	                 200);
	assert_prefix(f->body, "[\n{\"kind\":\"outside\"");
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled?offset=3", NULL), 200);
	assert_string_equal(f->body, "[]\n");
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/labelled?offset=199&limit=9", NULL),
	                 200);
	assert_prefix(f->body, "[\n{\"kind\":\"inside\",\"ip\":\"10.1.0.99\"");
	assert_int_equal(strcmp(f->body + strlen(f->body) - 4, "}\n]\n"), 0);
	/* A gzip'd page inflates to the plain page. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/labelled?offset=0&limit=200",
	                     "Accept-Encoding: gzip\r\n"),
	                 200);
	assert_string_equal(header(f, "Content-Encoding", h, sizeof(h)), "gzip");
	gunzip_body(f, unz, RESP_MAX);
	assert_string_equal(unz, plain);
	expect_error(f, "/api/v1/sites/campus/slots/100/labelled?limit=0", 400, "bad_parameter");
	expect_error(f, "/api/v1/sites/campus/slots/100/labelled?limit=100001", 400,
	             "bad_parameter");
	expect_error(f, "/api/v1/sites/campus/slots/100/labelled?offset=-1", 400, "bad_parameter");
	expect_error(f, "/api/v1/sites/campus/slots/100/labelled?offset=x", 400, "bad_parameter");

	/* Top lists are cached per (kind, by, n). */
	web_cache_stats(f->w, &st);
	uint64_t misses = st.misses, hits = st.hits;
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/top?kind=inside&n=2", NULL), 200);
	assert_prefix(f->body, "[\n{\"kind\":\"inside\",\"ip\":\"10.1.0.199\"");
	assert_non_null(strstr(f->body, "},\n{\"kind\":\"inside\",\"ip\":\"10.1.0.198\""));
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/top?kind=inside&n=2", NULL), 200);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/top?kind=inside&n=1", NULL), 200);
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "1");
	web_cache_stats(f->w, &st);
	assert_int_equal(st.misses, misses + 2);
	assert_int_equal(st.hits, hits + 1);

	/* The slot written again (a replay that knows more): its answers are rebuilt. */
	put_many(f->s, 102, 3, "b");
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/labelled", NULL), 200);
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "3");
	assert_non_null(strstr(f->body, "\"t\":\"b\""));
	assert_null(strstr(f->body, "\"t\":\"a\""));
	assert_string_not_equal(header(f, "ETag", h, sizeof(h)), etag);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/top?kind=inside&n=1", NULL), 200);
	assert_prefix(f->body, "[\n{\"kind\":\"inside\",\"ip\":\"10.1.0.2\"");
	web_cache_stats(f->w, &st);
	assert_true(st.invalidated >= 3);
	/* Another slot's write leaves these entries alone. */
	uint64_t invalidated = st.invalidated;
	put(f->s, "lab", 101, lab100, 2);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/102/top?kind=inside&n=1", NULL), 200);
	web_cache_stats(f->w, &st);
	assert_int_equal(st.invalidated, invalidated);
	free(plain);
	free(unz);
}

/* a's bytes (not NUL-terminated) are the literal lit. */
#define assert_answer(a, lit)                                                                      \
	do {                                                                                       \
		assert_int_equal((a)->b.len, sizeof(lit) - 1);                                     \
		assert_memory_equal((a)->b.p, (lit), sizeof(lit) - 1);                             \
	} while (0)

/* An answer of n documents {"i":K} under key, for slot ts of campus. */
static struct web_answer *answer(const char *key, int64_t ts, size_t n)
{
	struct web_answer *a = web_answer_new(key, "campus", ts);
	char json[32];

	assert_non_null(a);
	for (size_t i = 0; i < n; i++) {
		struct store_doc d = {.kind = "inside", .key = "k", .json = json};
		d.json_len = (size_t)snprintf(json, sizeof(json), "{\"i\":%zu}", i);
		assert_int_equal(web_answer_add(a, &d), 0);
	}
	assert_int_equal(web_answer_end(a), 0);
	return a;
}

/* The cache by itself: bounds, least recently used first, the write generation, slices. */
static void test_cache_bounds(void **state)
{
	struct fx *f = *state;
	struct web_cache *c;
	struct web_cache_stats st;
	struct web_answer *a, *b, *big, *got;
	const char *p;
	size_t len;
	int64_t gen;

	assert_int_equal(web_cache_create(2, 64 * 1024, &c), 0);
	assert_int_equal(web_cache_sync(c, f->s, &gen), 0);
	assert_true(gen > 0); /* the fixture wrote three slots */

	a = answer("a", 100, 3);
	assert_answer(a, "[\n{\"i\":0},\n{\"i\":1},\n{\"i\":2}\n]\n");
	assert_int_equal(web_answer_slice(a, 1, 5, &p, &len), 0);
	assert_int_equal(len, strlen("{\"i\":1},\n{\"i\":2}"));
	assert_int_equal(strncmp(p, "{\"i\":1},\n{\"i\":2}", len), 0);
	assert_int_equal(web_answer_slice(a, 3, 1, &p, &len), -ENOENT);
	assert_int_equal(web_answer_slice(a, 0, 0, &p, &len), -ENOENT);

	/* A write seen since the build's sync: not kept. */
	assert_false(web_cache_put(c, a, gen - 1));
	assert_true(web_cache_put(c, a, gen));
	assert_false(web_cache_put(c, a, gen)); /* the key is there already */
	b = answer("b", 101, 1);
	assert_true(web_cache_put(c, b, gen));
	/* a is used, so b is the least recently used when a third comes. */
	got = web_cache_get(c, "a");
	assert_ptr_equal(got, a);
	web_answer_put(got);
	web_answer_put(b);
	b = answer("c", 101, 1);
	assert_true(web_cache_put(c, b, gen));
	web_answer_put(b);
	assert_null(web_cache_get(c, "b"));
	got = web_cache_get(c, "c");
	assert_non_null(got);
	web_answer_put(got);
	/* Over a quarter of the byte budget: sent, never kept. */
	big = answer("big", 100, 2000);
	assert_true(big->b.len > 16 * 1024);
	assert_false(web_cache_put(c, big, gen));
	web_answer_put(big);
	web_cache_stats_get(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.stored, 3);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 1);
	assert_true(st.bytes >= a->b.len && st.bytes < 16 * 1024);

	/* A rewrite of campus 100 drops "a" only; the caller's reference stays good. */
	put(f->s, "campus", 100, campus101, 2);
	assert_int_equal(web_cache_sync(c, f->s, &gen), 0);
	assert_null(web_cache_get(c, "a"));
	got = web_cache_get(c, "c");
	assert_non_null(got);
	web_answer_put(got);
	web_cache_stats_get(c, &st);
	assert_int_equal(st.invalidated, 1);
	assert_int_equal(st.entries, 1);
	assert_answer(a, "[\n{\"i\":0},\n{\"i\":1},\n{\"i\":2}\n]\n");
	web_answer_put(a);
	web_cache_destroy(c);
}

static void test_connections_bounded(void **state)
{
	struct fx *f = *state;
	int fds[12], slow;
	char c;

	fx_start(f, NULL, 4, 1);
	/* More idle connections than allowed, and one that sends half a request. */
	for (size_t i = 0; i < 12; i++)
		fds[i] = connect_to(f->port);
	slow = connect_to(f->port);
	assert_int_equal(send(slow, "GET /healthz HT", 15, MSG_NOSIGNAL), 15);
	/* Idle ones are dropped after timeout_s; then the server answers again. */
	sleep(3);
	assert_int_equal(get(f, "/healthz", NULL), 200);
	struct pollfd p = {.fd = slow, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_true(recv(slow, &c, 1, 0) <= 0);
	close(slow);
	for (size_t i = 0; i < 12; i++)
		close(fds[i]);
}

/* /metrics, /api/v1/collector and the peers route, from a feed with one judged slot. */
static void test_feed_routes(void **state)
{
	struct fx *f = *state;
	struct site_config sites[2], *site = &sites[0];
	struct web_feed_opts o;
	struct web_feed *feed;
	struct judge_result jr = {.labels = {[JUDGE_FANOUT] = 1}};
	struct doc_batch docs = {.n = 3};
	struct slot *s;
	struct flow_addr a, b;
	struct flow fl = {.packets = 2, .octets = 1234, .sampling = 1, .export_ms = 1};
	char h[128];

	/* Without a feed these routes do not exist. */
	fx_start(f, NULL, 16, 5);
	assert_int_equal(get(f, "/metrics", NULL), 404);
	assert_int_equal(get(f, "/api/v1/collector", NULL), 404);
	web_stop(f->w);

	memset(sites, 0, sizeof(sites));
	site_config_defaults(&sites[0]);
	snprintf(sites[0].name, sizeof(sites[0].name), "campus");
	/* Configured, no slot stored yet: listed by /api/v1/sites with a null timeSlot. */
	site_config_defaults(&sites[1]);
	snprintf(sites[1].name, sizeof(sites[1].name), "dorm");
	o = (struct web_feed_opts){.sites = sites, .n_sites = 2};
	assert_int_equal(web_feed_create(&o, &feed), 0);
	s = slot_create(site, 0, 101, 1);
	assert_non_null(s);
	flow_addr_parse("10.0.0.1", &a);
	flow_addr_parse("192.0.2.7", &b);
	fl.src = a;
	fl.dst = b;
	slot_add(s, SLOT_EGRESS, &fl);
	assert_non_null(slot_finish(s));
	web_feed_sink(feed, slot_view_mut(s), &jr, &docs);
	slot_destroy(s);

	fx_start_feed(f, "tok", 16, 5, feed);
	assert_int_equal(get(f, "/metrics", NULL), 401);
	assert_int_equal(get(f, "/metrics", "Authorization: Bearer tok\r\n"), 200);
	assert_string_equal(header(f, "Content-Type", h, sizeof(h)),
	                    "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(f->body, "\nnfsentry_site_labelled_ips{site=\"campus\","
	                                "label=\"fanout\"} 1\n"));
	/* The store's file-wide counters through the server's connection: 3 slots, 9 docs. */
	assert_non_null(strstr(f->body, "\nnfsentry_store_slots_stored 3\n"));
	assert_null(strstr(f->body, "nfsentry_store_slots_written"));

	assert_int_equal(get(f, "/api/v1/sites", "Authorization: Bearer tok\r\n"), 200);
	assert_string_equal(
	    f->body,
	    "[\n{\"site\":\"campus\",\"timeSlot\":101,\"@timestamp\":\"1970-01-01T08:25:00Z\","
	    "\"closedAt\":\"1970-01-01T08:30:10Z\",\"closedAtS\":30610,\"docs\":2,\"partial\":"
	    "false},"
	    "\n{\"site\":\"lab\",\"timeSlot\":100,\"@timestamp\":\"1970-01-01T08:20:00Z\","
	    "\"closedAt\":\"1970-01-01T08:25:10Z\",\"closedAtS\":30310,\"docs\":2,\"partial\":"
	    "false},"
	    "\n{\"site\":\"dorm\",\"timeSlot\":null,\"@timestamp\":null,\"closedAt\":null,"
	    "\"closedAtS\":null,\"docs\":0,\"partial\":false}"
	    "\n]\n");
	assert_int_equal(get(f, "/api/v1/sites/dorm/advice", "Authorization: Bearer tok\r\n"), 200);

	snprintf(site->advice[JUDGE_FLOOD], SITE_ADVICE_MAX, "Call \"upstream\".");
	assert_int_equal(get(f, "/api/v1/sites/campus/advice", "Authorization: Bearer tok\r\n"),
	                 200);
	assert_non_null(strstr(f->body, "{\n\"noPayload\":\""));
	assert_non_null(strstr(f->body, ",\n\"flood\":\"Call \\\"upstream\\\".\",\n"));
	assert_int_equal(get(f, "/api/v1/sites/lab/advice", "Authorization: Bearer tok\r\n"), 404);
	assert_int_equal(get(f, "/api/v1/collector", "Authorization: Bearer tok\r\n"), 200);
	assert_non_null(strstr(f->body, "\"storeSlotsStored\":3"));
	assert_non_null(strstr(f->body, "\"sites\":[\n{\"site\":\"campus\",\"slots\":1,"));

	assert_int_equal(get(f, "/api/v1/sites/campus/slots/latest/peers/10.0.0.1",
	                     "Authorization: Bearer tok\r\n"),
	                 200);
	assert_non_null(strstr(f->body, "\"timeSlot\":101,\"ip\":\"10.0.0.1\""));
	assert_non_null(strstr(f->body, "{\"ip\":\"192.0.2.7\",\"sent\":{\"flows\":1,"
	                                "\"packets\":2,\"octets\":1234}"));
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/latest/peers/10.0.0.9",
	                     "Authorization: Bearer tok\r\n"),
	                 404);
	assert_int_equal(get(f, "/api/v1/sites/lab/slots/latest/peers/10.0.0.1",
	                     "Authorization: Bearer tok\r\n"),
	                 404);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/101/peers/10.0.0.1",
	                     "Authorization: Bearer tok\r\n"),
	                 404);
	assert_int_equal(
	    get(f, "/api/v1/sites/campus/slots/latest/peers/x", "Authorization: Bearer tok\r\n"),
	    400);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/latest/peers/10.0.0.1?n=0",
	                     "Authorization: Bearer tok\r\n"),
	                 400);
	web_stop(f->w);
	f->w = NULL;
	web_feed_destroy(feed);
}

/* A slot of six table rows: three inside IPs, one outside IP that is also an offender, one
 * outside IP alone and one offender alone (its outside document left out by the cap). */
#define R(k, ip, labels, reasons)                                                                  \
	k, ip,                                                                                     \
	    "{\"kind\":\"" k "\",\"ip\":\"" ip "\",\"labels\":[" labels "],\"reasons\":{" reasons  \
	    "}}"
static const char *const rows200[] = {
    "slot",
    "",
    "{\"kind\":\"slot\",\"timeSlot\":200}",
    R("inside", "10.0.0.10", "\"fanout\"", "\"fanout\":{\"value\":30,\"threshold\":10}"),
    R("inside", "10.0.0.9", "\"noPayload\",\"fanout\"",
      "\"noPayload\":{\"value\":20,\"threshold\":40},\"fanout\":{\"value\":15,\"threshold\":10}"),
    R("inside", "10.0.0.200", "\"scan\"", "\"scan\":{\"value\":50,\"threshold\":25}"),
    R("offender", "192.0.2.1", "\"flood\"", "\"flood\":{\"value\":600,\"threshold\":300}"),
    R("outside", "192.0.2.1", "\"flood\"", "\"flood\":{\"value\":600,\"threshold\":300}"),
    R("outside", "192.0.2.20", "\"scanOut\"", "\"scanOut\":{\"value\":40,\"threshold\":10}"),
    R("offender", "198.51.100.7", "\"flood\"", "\"flood\":{\"value\":900,\"threshold\":300}"),
};
#undef R

/* The "ip" and first letter of "kind" of each document of the last body, space-separated. */
static const char *ips_of(struct fx *f, char *out, size_t len)
{
	const char *p = f->body;
	size_t n = 0;

	out[0] = '\0';
	while ((p = strstr(p, "{\"kind\":\""))) {
		char kind = p[9];
		const char *ip = strstr(p, "\"ip\":\"");
		const char *e = ip ? strchr(ip + 6, '"') : NULL;
		assert_non_null(e);
		n += (size_t)snprintf(out + n, len - n, "%s%c:%.*s", n ? " " : "", kind,
		                      (int)(e - ip - 6), ip + 6);
		assert_true(n < len);
		p = e;
	}
	return out;
}

static void test_labelled_rows(void **state)
{
	struct fx *f = *state;
	struct web_cache_stats st0, st1;
	char h[256], got[512];

	put(f->s, "rows", 200, rows200, 8);
	fx_start(f, NULL, 16, 5);
	/* The warm-up builds the latest slot's rows with its answer: a rows request adds nothing.
	 */
	for (int i = 0; i < 1000; i++) {
		web_cache_stats(f->w, &st0);
		if (st0.warm_passes)
			break;
		usleep(10000);
	}
	assert_int_equal(st0.warm_passes, 1);
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/latest/labelled?sort=kind", NULL), 200);
	web_cache_stats(f->w, &st1);
	assert_int_equal(st1.bytes, st0.bytes);
	assert_int_equal(st1.misses, st0.misses);
	/* A slot with no labelled document has no row. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/101/labelled?sort=ip", NULL), 200);
	assert_string_equal(f->body, "[]\n");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "0");
	/* Slot 100 of campus is not the latest: its rows are built (and counted) at its first. */
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled", NULL), 200);
	web_cache_stats(f->w, &st0);
	assert_int_equal(get(f, "/api/v1/sites/campus/slots/100/labelled?sort=ip", NULL), 200);
	web_cache_stats(f->w, &st1);
	assert_true(st1.bytes > st0.bytes);
	/* No parameter: the documents as stored (kind, then IP text), six rows in seven docs. */
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/200/labelled", NULL), 200);
	assert_string_equal(ips_of(f, got, sizeof(got)),
	                    "i:10.0.0.10 i:10.0.0.200 i:10.0.0.9 o:192.0.2.1 o:198.51.100.7 "
	                    "o:192.0.2.1 o:192.0.2.20");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "7");

	/* Each sort, as the page's columns order: rows, an outside IP's offender doc after it. */
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/200/labelled?sort=severity", NULL), 200);
	assert_string_equal(ips_of(f, got, sizeof(got)),
	                    "o:198.51.100.7 o:192.0.2.1 o:192.0.2.1 o:192.0.2.20 i:10.0.0.200 "
	                    "i:10.0.0.10 i:10.0.0.9");
	/* The outside document leads its row; the offender's follows. */
	assert_true(strstr(f->body, "{\"kind\":\"outside\",\"ip\":\"192.0.2.1\"") <
	            strstr(f->body, "{\"kind\":\"offender\",\"ip\":\"192.0.2.1\""));
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "6");
	assert_string_equal(header(f, "Cache-Control", h, sizeof(h)),
	                    "private, max-age=31536000, immutable");
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/200/labelled?sort=ip", NULL), 200);
	assert_string_equal(ips_of(f, got, sizeof(got)),
	                    "i:10.0.0.9 i:10.0.0.10 i:10.0.0.200 o:192.0.2.1 o:192.0.2.1 "
	                    "o:192.0.2.20 o:198.51.100.7");
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/200/labelled?sort=kind", NULL), 200);
	assert_string_equal(ips_of(f, got, sizeof(got)),
	                    "i:10.0.0.200 i:10.0.0.10 i:10.0.0.9 o:198.51.100.7 o:192.0.2.20 "
	                    "o:192.0.2.1 o:192.0.2.1");
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/latest/labelled?sort=labels", NULL), 200);
	assert_string_equal(ips_of(f, got, sizeof(got)),
	                    "i:10.0.0.9 o:198.51.100.7 o:192.0.2.1 o:192.0.2.1 o:192.0.2.20 "
	                    "i:10.0.0.200 i:10.0.0.10");
	assert_string_equal(header(f, "Cache-Control", h, sizeof(h)), "private, no-cache");

	/* Filters: by label, by kind (an outside + offender row is both), both; unknown label. */
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/200/labelled?label=flood", NULL), 200);
	assert_string_equal(ips_of(f, got, sizeof(got)), "o:198.51.100.7 o:192.0.2.1 o:192.0.2.1");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "2");
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/200/labelled?kind=outside", NULL), 200);
	assert_string_equal(ips_of(f, got, sizeof(got)), "o:192.0.2.1 o:192.0.2.1 o:192.0.2.20");
	assert_int_equal(
	    get(f, "/api/v1/sites/rows/slots/200/labelled?kind=inside&label=fanout&sort=ip", NULL),
	    200);
	assert_string_equal(ips_of(f, got, sizeof(got)), "i:10.0.0.9 i:10.0.0.10");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "2");
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/200/labelled?label=p2p", NULL), 200);
	assert_string_equal(f->body, "[]\n");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "0");

	/* Pages count rows: the row of two documents is one. */
	web_cache_stats(f->w, &st0);
	assert_int_equal(
	    get(f, "/api/v1/sites/rows/slots/200/labelled?sort=ip&offset=2&limit=2", NULL), 200);
	assert_string_equal(ips_of(f, got, sizeof(got)), "i:10.0.0.200 o:192.0.2.1 o:192.0.2.1");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "6");
	assert_int_equal(
	    get(f, "/api/v1/sites/rows/slots/200/labelled?sort=ip&offset=5&limit=100000", NULL),
	    200);
	assert_string_equal(ips_of(f, got, sizeof(got)), "o:198.51.100.7");
	assert_int_equal(get(f, "/api/v1/sites/rows/slots/200/labelled?sort=ip&offset=6", NULL),
	                 200);
	assert_string_equal(f->body, "[]\n");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "6");
	assert_int_equal(
	    get(f, "/api/v1/sites/rows/slots/200/labelled?kind=offender&offset=2147483647", NULL),
	    200);
	assert_string_equal(f->body, "[]\n");
	assert_string_equal(header(f, "X-Total-Count", h, sizeof(h)), "2");
	/* Answered from the cached answer and its rows: no store read, no new entry. */
	web_cache_stats(f->w, &st1);
	assert_int_equal(st1.misses, st0.misses);
	assert_int_equal(st1.hits, st0.hits + 4);
	assert_int_equal(st1.stored, st0.stored);

	/* Bad values: 400 with a JSON error. */
	static const char *const bad[] = {
	    "sort=seen",
	    "sort=IP",
	    "kind=slot",
	    "kind=inside,outside",
	    "label=a%20b",
	    "label=%3Cx%3E",
	    "limit=0",
	    "limit=100001",
	    "limit=-1",
	    "offset=-1",
	    "offset=1e3",
	    "offset=2147483648",
	    "sort=ip&limit=abc",
	    "label=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[256];
		snprintf(path, sizeof(path), "/api/v1/sites/rows/slots/200/labelled?%s", bad[i]);
		expect_error(f, path, 400, "bad_parameter");
	}
}

/* The route table: which routes run without a store connection or a token, which methods. */
static void test_route_table(void **state)
{
	static const struct {
		const char *method, *url;
		int rc;
		unsigned flags;
	} cases[] = {
	    {"GET", "/healthz", 0, WEB_ROUTE_PUBLIC | WEB_ROUTE_NO_STORE},
	    {"GET", "/metrics", 0, WEB_ROUTE_NO_STORE},
	    {"HEAD", "/blocklist.txt", 0, WEB_ROUTE_NO_STORE},
	    {"GET", "/api/v1/collector", 0, WEB_ROUTE_NO_STORE},
	    {"GET", "/api/v1/offenders", 0, WEB_ROUTE_NO_STORE},
	    {"GET", "/api/v1/sites/campus/advice", 0, WEB_ROUTE_NO_STORE},
	    {"GET", "/api/v1/sites/campus/slots/latest/peers/10.0.0.1", 0, WEB_ROUTE_NO_STORE},
	    {"GET", "/api/v1/sites", 0, 0},
	    {"GET", "/api/v1/sites/campus/slots", 0, 0},
	    {"GET", "/api/v1/sites/campus/slots/100/labelled", 0, 0},
	    {"GET", "/api/v1/sites/campus/slots/100/top", 0, 0},
	    {"GET", "/api/v1/sites/campus/daily/latest", 0, 0},
	    {"GET", "/api/v1/attacks", 0, 0},
	    {"HEAD", "/api/v1/ip/10.0.0.1", 0, 0},
	    {"GET", "/api/v1/sites/bad!site/advice", -ENOENT, 0},
	    {"GET", "/api/v1/sites/campus/slots/100/labelled/x", -ENOENT, 0},
	    {"GET", "/api/v1/sites/campus/slots/100", -ENOENT, 0},
	    {"GET", "/api/v1/collector/", -ENOENT, 0},
	    {"GET", "/api//v1/collector", -ENOENT, 0},
	    {"GET", "/api/v2/collector", -ENOENT, 0},
	    {"GET", "/app.js", -ENOENT, 0},
	    {"POST", "/api/v1/sites", -EPERM, 0},
	    {"DELETE", "/nowhere", -EPERM, 0},
	};
	unsigned flags;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = web_route_lookup(cases[i].method, cases[i].url, &flags);
		if (rc != cases[i].rc || flags != cases[i].flags)
			fail_msg("%s %s: %d flags %u, want %d flags %u", cases[i].method,
			         cases[i].url, rc, flags, cases[i].rc, cases[i].flags);
	}
}

/*
 * The severities the server sorts by (table.c) and those the page colours
 * with (LABELS in the embedded app.js, one `name: { sev: N },` line each)
 * are the same labels with the same values, and every judge label is one
 * of them.
 */
static void test_label_severities(void **state)
{
	const struct web_asset *js = NULL;
	static const char start[] = "const LABELS = {\n";
	bool seen[64] = {false};
	size_t n_js = 0;

	(void)state;
	assert_true(web_label_sevs_n <= sizeof(seen) / sizeof(seen[0]));
	for (size_t i = 0; i < web_assets_n; i++)
		if (strcmp(web_assets[i].path, "/app.js") == 0)
			js = &web_assets[i];
	assert_non_null(js);
	char *text = malloc(js->len + 1);
	assert_non_null(text);
	memcpy(text, js->data, js->len);
	text[js->len] = '\0';
	const char *p = strstr(text, start);
	assert_non_null(p);
	for (p += strlen(start); strncmp(p, "};", 2) != 0; p = strchr(p, '\n') + 1) {
		char name[64];
		unsigned sev;
		int used = 0;
		if (sscanf(p, " %63[A-Za-z0-9]: { sev: %u },%n", name, &sev, &used) != 2 || !used ||
		    p[used] != '\n')
			fail_msg("app.js LABELS: cannot read the line \"%.40s\"", p);
		size_t k = 0;
		while (k < web_label_sevs_n && strcmp(web_label_sevs[k].name, name) != 0)
			k++;
		if (k == web_label_sevs_n)
			fail_msg("app.js lists %s, table.c does not", name);
		if (web_label_sevs[k].sev != sev)
			fail_msg("%s: severity %u in app.js, %u in table.c", name, sev,
			         (unsigned)web_label_sevs[k].sev);
		if (seen[k])
			fail_msg("app.js lists %s twice", name);
		seen[k] = true;
		n_js++;
	}
	/* Each app.js line a different entry of table.c, and as many: the same set. */
	assert_int_equal(n_js, web_label_sevs_n);
	for (unsigned l = 0; l < JUDGE__COUNT; l++) {
		size_t k = 0;
		const char *name = judge_label_name(l);
		while (k < web_label_sevs_n && strcmp(web_label_sevs[k].name, name) != 0)
			k++;
		if (k == web_label_sevs_n)
			fail_msg("judge label %s has no severity in table.c", name);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_api_answers, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_errors, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_token, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_token_reload, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_page, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_start_refusals, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_pages_gzip, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_bounds, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_connections_bounded, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_feed_routes, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_labelled_rows, fx_setup, fx_teardown),
	    cmocka_unit_test(test_route_table),
	    cmocka_unit_test(test_label_severities),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
