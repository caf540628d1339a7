/*
 * healthcheck: one GET of /healthz for `nfsentry healthcheck`. See
 * healthcheck.h.
 */
#include "nfsentry/healthcheck.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int healthcheck_url(const struct web_config *wc, char *url, size_t urllen)
{
	const char *host;
	int n;

	if (wc->n_listen == 0)
		return -ENOENT;
	host = wc->listen[0].host;
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	bool v6 = strchr(host, ':') != NULL;
	n = snprintf(url, urllen, "%s://%s%s%s:%u/healthz", wc->cert_file[0] ? "https" : "http",
	             v6 ? "[" : "", host, v6 ? "]" : "", wc->listen[0].port);
	if (n < 0 || (size_t)n >= urllen)
		return -ENAMETOOLONG;
	return 0;
}

/* The body is not needed: /healthz answers a fixed line. */
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

int healthcheck_get(const char *url, unsigned timeout_ms, char *err, size_t errlen)
{
	char cerr[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;
	CURL *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(h = curl_easy_init())) {
		snprintf(err, errlen, "%s: cannot initialise libcurl", url);
		return -EIO;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(cc));
		if (cc == CURLE_COULDNT_CONNECT)
			return -ECONNREFUSED;
		return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
	}
	if (status != 200) {
		snprintf(err, errlen, "%s: HTTP %ld", url, status);
		return -EPROTO;
	}
	return 0;
}
