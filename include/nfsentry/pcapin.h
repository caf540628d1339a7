/*
 * pcapin: read UDP datagrams out of a pcap or pcapng capture.
 *
 * Link types: Ethernet (with up to PCAPIN_MAX_VLAN_TAGS 802.1Q/802.1ad
 * tags), Linux cooked v1 and v2, BSD loopback/null (family in either byte
 * order), raw IP (DLT_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6). IPv4 (options
 * skipped) and IPv6 (hop-by-hop, routing, destination options, fragment and
 * AH headers walked). IP fragments are reassembled in a bounded table; a
 * datagram whose fragments do not all arrive in time, overlap, or are pushed
 * out of a full table is counted in frag_dropped. Every other packet that
 * does not yield a UDP datagram is counted by reason.
 *
 * The capture's timestamps are the clock: each datagram carries ts_ms
 * (microsecond and nanosecond captures alike). Not this module's job: UDP
 * checksums (captures often hold offloaded, unfilled sums) and IP checksums.
 */
#ifndef NFSENTRY_PCAPIN_H
#define NFSENTRY_PCAPIN_H

#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"
#include "nfsentry/flow.h"

/* Limits of the reassembly table; see docs/internals/ingest.md. */
#define PCAPIN_FRAG_MAX_SETS 64      /* datagrams being reassembled at once */
#define PCAPIN_FRAG_MAX_BYTES 65535  /* largest reassembled IP payload */
#define PCAPIN_FRAG_TIMEOUT_MS 30000 /* capture time from first fragment */
#define PCAPIN_MAX_VLAN_TAGS 4       /* stacked 802.1Q/802.1ad tags walked */
#define PCAPIN_MAX_EXT_HEADERS 16    /* IPv6 extension headers walked */

/*
 * Counters. Each frame is counted in packets and then in exactly one of:
 * datagrams (delivered directly), fragments, not_ip, not_udp, port_filtered,
 * truncated, bad_header. A datagram rebuilt from fragments is counted in
 * frag_reassembled and then classified again like a frame (datagrams,
 * not_udp, port_filtered or bad_header).
 */
struct pcapin_stats {
	uint64_t packets;          /* frames read from the file */
	uint64_t datagrams;        /* UDP datagrams handed to the callback */
	uint64_t not_ip;           /* frames that carry no IPv4/IPv6 */
	uint64_t not_udp;          /* IP packets that are not UDP */
	uint64_t port_filtered;    /* UDP to a port not asked for */
	uint64_t truncated;        /* frame cut before the end of its IP/UDP headers: dropped */
	uint64_t bad_header;       /* impossible IP/UDP header values: dropped */
	uint64_t fragments;        /* IP fragments taken into the reassembly table */
	uint64_t frag_reassembled; /* datagrams rebuilt from fragments */
	uint64_t frag_dropped;     /* fragment sets given up (timeout, overlap, bad, table full) */
	uint64_t payload_short;    /* delivered with fewer bytes than the UDP length says
	                            * (snaplen or IP length): counted in datagrams too */
};

/* struct pcapin_stats described (counter.h), every field. */
extern const struct counter_table pcapin_counters;

struct pcapin_opts {
	const uint16_t *ports; /* destination UDP ports to keep (borrowed); NULL/0 = all */
	size_t n_ports;
};

/*
 * Read the whole capture at path (pcap or pcapng, any timestamp precision),
 * calling fn for each UDP datagram in file order; dg->p is valid only during
 * the call. opts may be NULL (all ports). Stops early if fn returns non-zero
 * (that value is returned). Returns 0 at end of file, or a negative
 * errno-style code with a message naming the file in err: -ENOENT etc. from
 * opening, -EINVAL for a file that is not a capture, -EPROTONOSUPPORT for an
 * unsupported link type (named in the message), -EIO for a read error or a
 * capture cut in the middle of a record (datagrams before it were delivered).
 * st may be NULL; otherwise it is filled in, also on error.
 */
int pcapin_read(const char *path, const struct pcapin_opts *opts, datagram_fn fn, void *ud,
                struct pcapin_stats *st, char *err, size_t errlen);

#endif
