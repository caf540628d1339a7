/*
 * healthcheck: `nfsentry healthcheck`, the container's HEALTHCHECK. One GET
 * of /healthz on the first web.listen address of the configuration, with
 * libcurl (already linked for Elasticsearch), so the runtime image needs no
 * curl or wget.
 *
 * Not this module's job: serving /healthz (src/web/), or checking anything
 * beyond "the collector answers HTTP": /healthz itself says only that the
 * process and its web thread are alive.
 */
#ifndef NFSENTRY_HEALTHCHECK_H
#define NFSENTRY_HEALTHCHECK_H

#include <stddef.h>

#include "nfsentry/web.h"

/*
 * Write into url (of urllen bytes) the /healthz URL for wc: the first
 * listen address, a wildcard (0.0.0.0, ::) replaced by the loopback of its
 * family, https when cert_file is set. Returns 0, -ENOENT when the web
 * server is off (no listen address), -ENAMETOOLONG when url is too small.
 */
int healthcheck_url(const struct web_config *wc, char *url, size_t urllen);

/*
 * GET url within timeout_ms. TLS is not verified: the request goes to this
 * host's own loopback, whose name the certificate does not carry, and it
 * carries no secret (/healthz needs no token). Returns 0 when the answer is
 * HTTP 200; otherwise -ECONNREFUSED, -ETIMEDOUT, -EIO (another transport
 * failure) or -EPROTO (another status), with a line in err (borrowed buffer
 * of errlen bytes) naming the URL and what failed.
 */
int healthcheck_get(const char *url, unsigned timeout_ms, char *err, size_t errlen);

#endif
