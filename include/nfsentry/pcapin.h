/*
 * pcapin: read UDP datagrams out of a pcap or pcapng capture.
 *
 * Link types: Ethernet (with up to two VLAN tags), Linux cooked v1 and v2,
 * BSD loopback/null, raw IP (IPv4 and IPv6). IPv4 and IPv6 (extension
 * headers walked). IP fragments are reassembled in a bounded table; a
 * datagram whose fragments do not all arrive in time, or that overflows the
 * table, is counted in frag_dropped. Every other packet that does not yield a
 * UDP datagram is counted by reason.
 *
 * The capture's timestamps are the clock: each datagram carries ts_ms.
 */
#ifndef NFSENTRY_PCAPIN_H
#define NFSENTRY_PCAPIN_H

#include <stddef.h>
#include <stdint.h>

#include "nfsentry/flow.h"

struct pcapin_stats {
	uint64_t packets;        /* frames read from the file */
	uint64_t datagrams;      /* UDP datagrams handed to the callback */
	uint64_t not_ip;         /* frames that carry no IPv4/IPv6 */
	uint64_t not_udp;        /* IP packets that are not UDP */
	uint64_t port_filtered;  /* UDP to a port not asked for */
	uint64_t truncated;      /* frame shorter than its headers say (snaplen or damage) */
	uint64_t bad_header;     /* impossible IP/UDP header values */
	uint64_t frag_reassembled; /* datagrams rebuilt from fragments */
	uint64_t frag_dropped;   /* fragment sets given up (timeout, overlap, table full) */
};

struct pcapin_opts {
	const uint16_t *ports; /* destination UDP ports to keep; NULL/0 = all */
	size_t n_ports;
};

/*
 * Read the whole capture at path, calling fn for each UDP datagram in file
 * order. Stops early if fn returns non-zero (that value is returned).
 * Returns 0 at end of file, or a negative errno-style code with a message
 * naming the file in err. st may be NULL; otherwise it is filled in.
 */
int pcapin_read(const char *path, const struct pcapin_opts *opts,
                datagram_fn fn, void *ud, struct pcapin_stats *st,
                char *err, size_t errlen);

#endif
