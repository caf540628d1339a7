/*
 * udpin: the live UDP listeners (IPv4 and IPv6, several addresses/ports) on a
 * libuv loop, with batched receive (recvmmsg through UV_UDP_RECVMMSG).
 *
 * Each datagram is handed to the datagram_fn on the loop thread with the
 * wall clock as ts_ms. Truncated datagrams (UV_UDP_PARTIAL) are counted and
 * dropped. The receive buffer size asked for and the size the kernel granted
 * are logged per socket.
 */
#ifndef NFSENTRY_UDPIN_H
#define NFSENTRY_UDPIN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "nfsentry/flow.h"

struct udpin_listen {
	char host[64]; /* literal address: "0.0.0.0", "::", "127.0.0.1" */
	uint16_t port;
};

struct udpin_config {
	const struct udpin_listen *listen;
	size_t n_listen;
	int rcvbuf_bytes; /* 0 = leave the kernel default */
};

struct udpin_stats {
	uint64_t datagrams;
	uint64_t bytes;
	uint64_t partial;     /* truncated by the receive buffer: dropped */
	uint64_t recv_errors;
	uint64_t kernel_drops; /* from /proc/net/udp{,6}: dropped before we read */
};

struct udpin;

/*
 * Bind every listener and start receiving. On failure nothing stays bound,
 * *out is untouched, and err names the address and the reason. fn is not
 * called before the loop runs.
 */
int udpin_start(uv_loop_t *loop, const struct udpin_config *cfg,
                datagram_fn fn, void *ud, struct udpin **out,
                char *err, size_t errlen);

/* Close every handle; u is freed once libuv has closed them all. */
void udpin_stop(struct udpin *u);

void udpin_stats_get(const struct udpin *u, struct udpin_stats *out);

#endif
