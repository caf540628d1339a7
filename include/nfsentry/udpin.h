/*
 * udpin: the live UDP listeners (IPv4 and IPv6, several addresses/ports) on a
 * libuv loop, with batched receive (recvmmsg through UV_UDP_RECVMMSG).
 *
 * Each datagram is handed to the datagram_fn on the loop thread with the
 * wall clock as ts_ms; its return value is ignored (a live socket has no end
 * to stop at). Truncated datagrams (UV_UDP_PARTIAL) are counted and dropped.
 * The receive buffer size asked for and the size the kernel granted are
 * logged per socket, with a warning when the kernel gave less.
 *
 * IPv6 sockets are bound IPV6_V6ONLY, so "0.0.0.0" and "::" can share a
 * port: IPv4 exporters arrive on the first, IPv6 ones on the second.
 *
 * On a host without IPv6 (no IPv6 in the kernel, or
 * net.ipv6.conf.all.disable_ipv6=1) an IPv6 listener that cannot be opened
 * is logged and left out, and the others go on; the start fails only when
 * no listener is left.
 */
#ifndef NFSENTRY_UDPIN_H
#define NFSENTRY_UDPIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "nfsentry/counter.h"
#include "nfsentry/flow.h"

/* libuv 1.44 hands at most 20 datagrams of up to 64 KiB to one recvmmsg. */
#define UDPIN_MMSG_SLOTS 20
#define UDPIN_SLOT_BYTES (64 * 1024)
#define UDPIN_MAX_LISTEN 32

struct udpin_listen {
	char host[64]; /* literal address: "0.0.0.0", "::", "127.0.0.1" */
	uint16_t port; /* 0 = ephemeral (tests); see udpin_listener_info() */
};

struct udpin_config {
	const struct udpin_listen *listen; /* borrowed during udpin_start() only */
	size_t n_listen;                   /* 1 .. UDPIN_MAX_LISTEN */
	int rcvbuf_bytes;                  /* SO_RCVBUF to ask for; 0 = leave the kernel default */
	/*
	 * Look at how full each socket's receive buffer is at the end of a
	 * batch (at most every ms) and give it with the datagrams (struct
	 * datagram rx_fill_pm); false: no look, rx_fill_pm stays 0.
	 */
	bool rx_fill;
};

struct udpin_stats {
	uint64_t datagrams;
	uint64_t bytes;
	uint64_t partial; /* truncated by the receive buffer: dropped */
	uint64_t recv_errors;
	uint64_t kernel_drops; /* from /proc/net/udp{,6}: dropped before we read */
};

/* struct udpin_stats described (counter.h), every field. */
extern const struct counter_table udpin_counters;

/* One bound socket, as the kernel sees it. */
struct udpin_listener_info {
	struct flow_endpoint local; /* the bound address and port (port 0 resolved) */
	int rcvbuf_bytes;           /* SO_RCVBUF as read back (Linux: twice the usable size) */
	uint64_t inode;             /* socket inode, the key into /proc/net/udp */
	struct udpin_stats st;      /* this socket's share (kernel_drops filled in) */
};

struct udpin;

/*
 * Bind every listener and start receiving. An IPv6 listener that fails
 * because the host has no IPv6 (EAFNOSUPPORT, EPROTONOSUPPORT, or
 * EADDRNOTAVAIL while IPv6 is disabled) is skipped with a warning; any
 * other failure, or every listener skipped, fails the start. On failure nothing stays bound,
 * *out is untouched, err names the address and the reason, and the return
 * value is a libuv error code (UV_EADDRINUSE, ...) or -EINVAL for an address
 * that is not a literal. Handles opened before the failure are closed; the
 * loop must run once more for their memory to be freed (libuv close rule),
 * as it must after udpin_stop(). fn is not called before the loop runs.
 */
int udpin_start(uv_loop_t *loop, const struct udpin_config *cfg, datagram_fn fn, void *ud,
                struct udpin **out, char *err, size_t errlen);

/*
 * Stop receiving and close every handle; u is freed in the last close
 * callback, so it is dead on return even though the memory lives until the
 * loop runs. NULL is accepted.
 */
void udpin_stop(struct udpin *u);

/*
 * Totals over all listeners. kernel_drops is read from /proc/net/udp and
 * /proc/net/udp6 at this call (a short in-memory read; call it at the
 * metrics interval, not per datagram). 0 when /proc is not mounted.
 */
void udpin_stats_get(const struct udpin *u, struct udpin_stats *out);

/* Number of listeners, in udpin_config order, skipped ones included. */
size_t udpin_listener_count(const struct udpin *u);

/* Number of listeners receiving (the count minus those skipped at start). */
size_t udpin_listener_up(const struct udpin *u);

/*
 * Details of listener i. Returns 0, -EINVAL when i is out of range, or
 * -ENOTCONN for a listener skipped at start (IPv6 unavailable).
 */
int udpin_listener_info(const struct udpin *u, size_t i, struct udpin_listener_info *out);

#endif
