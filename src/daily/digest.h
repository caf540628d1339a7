/*
 * digest: what the daily analysis reads of one slot, as records (private to
 * src/daily/).
 *
 * The analysis (daily.c) applies three kinds of record: one per offender,
 * inside and arpMac document of the slot. A record is either parsed from
 * the document (the document path, and the digest builder) or decoded
 * from the slot's digest (docs/internals/digest.md), so both paths apply
 * the very same records and give the same result.
 *
 * Not this file's job: deciding anything about the day (daily.c).
 */
#ifndef NFSENTRY_DAILY_DIGEST_H
#define NFSENTRY_DAILY_DIGEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/flow.h"
#include "nfsentry/store.h"

#define DG_LABELS_MAX 32  /* label names kept per offender record */
#define DG_NAME_MAX 32    /* bytes of a label name, NUL included (as daily.c reads them) */
#define DG_DEV_MAX 64     /* bytes of a device or interface name, NUL included */
#define DG_LIST_MAX 65536 /* entries of one record's list (arrayPeer, ipList): more are cut */

/* An offender document. */
struct dg_offender {
	struct flow_addr ip;
	bool has_tp;      /* touchPeers read */
	bool labelled;    /* a non-empty labels array: a prober */
	int64_t tp;       /* touchPeers */
	uint64_t packets; /* packets when > 0, else 0 */
	uint32_t n_labels;
	char labels[DG_LABELS_MAX][DG_NAME_MAX];
	/* ipList: the first distinct inside IPs, at most probe_bound + 1; none when a prober. */
	struct flow_addr *list;
	uint32_t n_list;
};

/* One peer of an inside document, in arrayPeer order. */
struct dg_peer {
	struct flow_addr ip;
	bool answered; /* in repliedTo: the outside IP started the conversation */
};

/* An inside document. */
struct dg_inside {
	struct flow_addr ip;
	/*
	 * Not a suspect for any max_peers up to the bound it was parsed with:
	 * allowListed, peerCapHit, peers less answered ones above the bound, or
	 * more own peers in arrayPeer than the bound.
	 */
	bool busy;
	bool has_excess;
	int32_t excess; /* peers - len(repliedTo), clamped to [-1, 65535] */
	/*
	 * Own peers (at most the bound, none when busy) and answered ones, in
	 * arrayPeer order, then repliedTo entries missing from arrayPeer.
	 */
	struct dg_peer *peers;
	uint32_t n_peers;
};

/* An arpMac document that maps its MAC to at least one IP. */
struct dg_arpmac {
	int64_t ts;
	uint8_t mac[6];
	bool has_ifs; /* interfaceList present */
	char dev[DG_DEV_MAX];
	char (*ifs)[DG_DEV_MAX]; /* the interface names that read, n_ifs */
	uint32_t n_ifs;
	struct flow_addr *ips; /* the IPs that parse, n_ips */
	uint32_t n_ips;
};

/* Growable storage behind the records' arrays; reused record to record. */
struct dg_buf {
	struct flow_addr *addr;
	size_t cap_addr;
	struct dg_peer *peer;
	size_t cap_peer;
	char (*name)[DG_DEV_MAX];
	size_t cap_name;
};

void dg_buf_free(struct dg_buf *b);

/*
 * Parse one document into a record whose arrays live in b (valid until
 * the next parse with b). probe_bound / peer_bound: the probe_targets and
 * max_peers the record must serve (at most DAILY_PROBE_MAX /
 * DAILY_PEERS_MAX). Return 0 (a record), 1 (no record: an arpMac document
 * of a device's own addresses or without IPs), -1 (malformed: counted as
 * bad), -ENOMEM.
 */
int dg_offender_parse(const struct store_doc *d, uint32_t probe_bound, struct dg_offender *r,
                      struct dg_buf *b);
int dg_inside_parse(const struct store_doc *d, uint32_t peer_bound, struct dg_inside *r,
                    struct dg_buf *b);
int dg_arpmac_parse(const struct store_doc *d, struct dg_arpmac *r, struct dg_buf *b);

/* A digest being read: see dg_open(). */
struct dg_reader {
	const uint8_t *p;
	size_t len, pos;
	int64_t time_slot;
	uint32_t max_peers, probe_targets;
	uint32_t n_off, n_in, n_mac;
	uint32_t docs_offender, docs_inside, docs_arp, docs_bad_offender, docs_bad_inside,
	    docs_bad_arp;
	size_t off_at, in_at, mac_at; /* where each section starts */
	size_t end;                   /* where the section being read ends */
};

/*
 * Check a digest (magic, version, lengths, checksum when check_sum) and
 * set r up to read it; p is borrowed. Returns 0, or -EBADMSG (corrupt),
 * -EPROTONOSUPPORT (another version).
 */
int dg_open(struct dg_reader *r, const void *p, size_t len, bool check_sum);

/*
 * Decode the next record of a section (records are read in order, each
 * section from its start: dg_seek()). Return 0, or -EBADMSG when the
 * section does not hold what its header says, -ENOMEM.
 */
enum dg_section { DG_OFFENDERS, DG_INSIDE, DG_ARPMAC };
void dg_seek(struct dg_reader *r, enum dg_section s);
int dg_offender_read(struct dg_reader *r, struct dg_offender *o, struct dg_buf *b);
int dg_inside_read(struct dg_reader *r, struct dg_inside *o, struct dg_buf *b);
int dg_arpmac_read(struct dg_reader *r, struct dg_arpmac *o, struct dg_buf *b);

/* CRC-32 (IEEE 802.3, the zlib one) of p[0..n), continuing from crc (0 to start). */
uint32_t dg_crc32(uint32_t crc, const void *p, size_t n);
#endif
