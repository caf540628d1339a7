/*
 * es http: one libcurl easy handle per shipper, reused so the connection
 * (and its TLS session) stays open between _bulk requests. Only http and
 * https, no redirects (a redirect would resend credentials elsewhere), no
 * "Expect: 100-continue" round trip. Request bodies are optionally gzipped
 * here (zlib). Responses are read into a buffer bounded by
 * max_response_bytes. See internal.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <zlib.h>

#include "internal.h"
#include "nfsentry/grow.h"

struct es_http {
	CURL *curl;
	char *url;
	size_t url_len;
	char *password, *auth_header;
	bool gzip;
	struct es_http_opts o;
	char *resp;
	size_t resp_len, resp_cap, resp_max;
	bool resp_too_big;
	char *zbuf; /* gzip output, reused */
	size_t zcap;
	char errbuf[CURL_ERROR_SIZE];
};

void es_secret_free(char *s)
{
	if (!s)
		return;
	volatile char *v = s;
	while (*v)
		*v++ = 0;
	free(s);
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct es_http *h = ud;
	size_t n = sz * nm;

	if (h->resp_len + n + 1 > h->resp_max) {
		h->resp_too_big = true;
		return 0; /* curl then fails the transfer with CURLE_WRITE_ERROR */
	}
	if (grow_array((void **)&h->resp, &h->resp_cap, h->resp_len + n + 1, 1, 65536,
	               h->resp_max) != 0)
		return 0;
	memcpy(h->resp + h->resp_len, p, n);
	h->resp_len += n;
	return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct es_http *h = ud;

	(void)a, (void)b, (void)c, (void)d;
	return h->o.abort_fn && h->o.abort_fn(h->o.abort_ud) ? 1 : 0;
}

int es_http_create(const struct es_http_opts *o, struct es_http **out, char *err, size_t errlen)
{
	struct es_http *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		goto oom;
	h->o = *o;
	h->gzip = o->gzip;
	h->resp_max = o->max_response_bytes;
	h->url_len = strlen(o->url);
	h->url = malloc(h->url_len + 1024);
	h->curl = curl_easy_init();
	if (!h->url || !h->curl)
		goto oom;
	memcpy(h->url, o->url, h->url_len + 1);
	if (o->api_key && *o->api_key) {
		size_t n = strlen(o->api_key) + 32;
		h->auth_header = malloc(n);
		if (!h->auth_header)
			goto oom;
		snprintf(h->auth_header, n, "Authorization: ApiKey %s", o->api_key);
	}
	if (o->password && *o->password) {
		h->password = strdup(o->password);
		if (!h->password)
			goto oom;
	}
	CURL *c = h->curl;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_s * 1000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(o->timeout_s < 10 ? o->timeout_s : 10) * 1000L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl can decode */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
	if (o->ca_file && *o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	if (o->username && *o->username) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, o->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, h->password ? h->password : "");
	}
	h->o.url = h->o.username = h->o.password = h->o.api_key = h->o.ca_file = NULL;
	*out = h;
	return 0;
oom:
	snprintf(err, errlen, "elasticsearch: out of memory starting the HTTP client");
	es_http_destroy(h);
	return -ENOMEM;
}

void es_http_destroy(struct es_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->url);
	es_secret_free(h->password);
	es_secret_free(h->auth_header);
	free(h->resp);
	free(h->zbuf);
	free(h);
}

/* gzip (RFC 1952) body into h->zbuf. Returns the length or 0 on failure. */
static size_t gzip_body(struct es_http *h, const char *body, size_t len)
{
	z_stream z;
	size_t bound;

	memset(&z, 0, sizeof(z));
	/* 15 + 16: a gzip header and trailer rather than zlib's. Level 1: CPU matters more. */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	bound = deflateBound(&z, (uLong)len) + 32;
	if (bound > h->zcap) {
		char *q = realloc(h->zbuf, bound);
		if (!q) {
			deflateEnd(&z);
			return 0;
		}
		h->zbuf = q;
		h->zcap = bound;
	}
	z.next_in = (Bytef *)(uintptr_t)body;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)h->zbuf;
	z.avail_out = (uInt)h->zcap;
	int zrc = deflate(&z, Z_FINISH);
	size_t out = z.total_out;
	deflateEnd(&z);
	return zrc == Z_STREAM_END ? out : 0;
}

int es_http_request(struct es_http *h, const char *method, const char *path, const char *ctype,
                    const char *body, size_t len, struct es_http_resp *r)
{
	struct curl_slist *hdr = NULL, *t;
	char ct[128];
	CURL *c = h->curl;
	CURLcode cc;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	size_t plen = strlen(path);
	if (plen >= 1024)
		return -ENAMETOOLONG;
	memcpy(h->url + h->url_len, path, plen + 1);
	h->resp_len = 0;
	h->resp_too_big = false;
	h->errbuf[0] = '\0';

	if (body && h->gzip && len > 0) {
		size_t zl = gzip_body(h, body, len);
		if (zl == 0) {
			snprintf(r->error, sizeof(r->error), "gzip of a %zu-byte body failed", len);
			return -ENOMEM;
		}
		body = h->zbuf;
		len = zl;
		t = curl_slist_append(hdr, "Content-Encoding: gzip");
		if (!t)
			goto oom;
		hdr = t;
	}
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
	if (!(t = curl_slist_append(hdr, ct)))
		goto oom;
	hdr = t;
	if (!(t = curl_slist_append(hdr, "Expect:")))
		goto oom;
	hdr = t;
	if (h->auth_header) {
		if (!(t = curl_slist_append(hdr, h->auth_header)))
			goto oom;
		hdr = t;
	}
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
	} else {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
	}
	cc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		if (!h->resp && !(h->resp = malloc(1)))
			return -ENOMEM;
		h->resp[h->resp_len] = '\0';
		r->body = h->resp;
		r->body_len = h->resp_len;
		return 0;
	}
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		rc = -ECONNREFUSED;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		rc = -ETIMEDOUT;
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		rc = -ECANCELED;
		r->aborted = true;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		rc = -EPROTO;
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		rc = -ECONNRESET;
		break;
	default:
		rc = -EIO;
	}
	if (h->resp_too_big)
		snprintf(r->error, sizeof(r->error), "response larger than %zu bytes", h->resp_max);
	else
		snprintf(r->error, sizeof(r->error), "%s",
		         h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
	return rc;
oom:
	curl_slist_free_all(hdr);
	snprintf(r->error, sizeof(r->error), "out of memory");
	return -ENOMEM;
}
