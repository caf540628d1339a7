/*
 * decoder: NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) export
 * datagrams in, normalized struct flow records out.
 *
 * One struct decoder holds all per-exporter state: template caches keyed by
 * (exporter address, source ID / observation domain, template ID) -- or
 * with the exporter's port too, when template_scope is
 * DECODER_SCOPE_SESSION -- and sampling learnt from options data in the
 * same scope, sequence-number tracking per (address, port, domain), and the
 * drop counters. It is not thread-safe: one decoder belongs to one thread
 * (the loop thread live, the main thread in replay).
 *
 * Every length and count read from a datagram is checked before use; a
 * malformed datagram, set or record is counted by reason and skipped, never
 * trusted. Memory is bounded by the caps in struct decoder_config.
 *
 * Not this module's job: sockets, captures, sites, slots.
 */
#ifndef NFSENTRY_DECODER_H
#define NFSENTRY_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"
#include "nfsentry/flow.h"

/*
 * Why input was dropped. Each counter counts occurrences (a datagram, a set
 * or a record, as the name says). Names (decoder_drop_name) are stable: they
 * appear on /metrics and in slot documents.
 */
enum decoder_drop {
	DECODER_DROP_NOT_ALLOWED,      /* datagram: exporter not in allow-list */
	DECODER_DROP_SHORT_HEADER,     /* datagram: shorter than its header */
	DECODER_DROP_BAD_VERSION,      /* datagram: not version 5, 9 or 10 */
	DECODER_DROP_BAD_LENGTH,       /* datagram: header length/count disagrees with size */
	DECODER_DROP_EXPORTER_LIMIT,   /* datagram: exporter table full */
	DECODER_DROP_SET_LENGTH,       /* set: length beyond the datagram (rest dropped) */
	DECODER_DROP_TEMPLATE_INVALID, /* template: field count/length beyond limits */
	DECODER_DROP_TEMPLATE_LIMIT,   /* template: per-exporter cap reached */
	DECODER_DROP_NO_TEMPLATE,      /* set: data set whose template is unknown */
	DECODER_DROP_RECORD_INVALID, /* set: trailing bytes that are a truncated record, not padding
	                              */
	DECODER_DROP_SET_SHORT,      /* set: length < 4 (zero included); rest of datagram dropped */
	DECODER_DROP_VARLEN, /* record: variable length runs past the set (rest of set dropped) */
	DECODER_DROP_SET_RESERVED, /* set: reserved set ID (v9 2..255, IPFIX 0, 1, 4..255), skipped
	                            */
	DECODER_DROP_TEMPLATE_UNKNOWN, /* template: withdrawal of a template we do not hold */
	DECODER_DROP_NO_MEMORY,        /* datagram/template: allocation failed */
	DECODER_DROP_NO_ADDRESS, /* record: no usable source and destination (docs/decoding.md) */
	DECODER_DROP__COUNT
};

/*
 * Stable lower camelCase name of a drop reason, e.g. "setLength": the name
 * of its counter in decoder_counters. "unknown" out of range.
 */
const char *decoder_drop_name(enum decoder_drop why);

/* A prefix in an exporter allow-list. */
struct decoder_prefix {
	struct flow_addr addr;
	uint8_t len; /* 0..128, counted on the mapped form for IPv4 (96 + n) */
};

/* A configured sampling rate that overrides whatever the exporter says. */
struct decoder_sampling_override {
	struct flow_addr exporter;
	uint32_t rate; /* >= 1 */
};

/*
 * What templates and sampler state are keyed by, besides the source ID /
 * observation domain: the exporter's address (default: templates sent from
 * one source port decode data sent from another), or its transport session
 * (address and port, RFC 7011 §8's strict reading; templates.scope: session).
 */
enum decoder_template_scope {
	DECODER_SCOPE_EXPORTER = 0,
	DECODER_SCOPE_SESSION,
};

struct decoder_config {
	uint32_t template_lifetime_s;        /* default 1800 */
	uint32_t max_templates_per_exporter; /* default 1024, per template scope */
	uint32_t max_exporters;              /* default 4096 (exporter = addr, port, domain) */
	const struct decoder_prefix *allow;  /* NULL/0: every exporter allowed */
	size_t n_allow;
	const struct decoder_sampling_override *sampling;
	size_t n_sampling;
	enum decoder_template_scope template_scope; /* default DECODER_SCOPE_EXPORTER */
};

/* Fill *cfg with the documented defaults. */
void decoder_config_defaults(struct decoder_config *cfg);

/* Totals since creation. */
struct decoder_stats {
	uint64_t datagrams; /* handed to decoder_feed */
	uint64_t datagrams_v5, datagrams_v9, datagrams_ipfix;
	uint64_t records;         /* records delivered to the sink */
	uint64_t templates_added; /* new or redefined */
	uint64_t templates_withdrawn;
	uint64_t templates_expired;
	uint64_t lost_datagrams; /* estimated from v9 sequence numbers */
	uint64_t lost_records;   /* estimated from v5 / IPFIX sequence numbers */
	uint64_t exporter_restarts;
	uint64_t exporters;           /* currently known */
	uint64_t exporters_expired;   /* forgotten when the table was full: idle > template lifetime */
	uint64_t reordered;           /* datagrams slightly behind the expected sequence number */
	uint64_t templates_refreshed; /* identical template resent: only its age reset */
	uint64_t unscaled_records;    /* delivered unscaled: sampler rate unknown */
	uint64_t drops[DECODER_DROP__COUNT];
};

/* struct decoder_stats described (counter.h): every field, drops by reason. */
extern const struct counter_table decoder_counters;

struct decoder;

/*
 * Sink for decoded records: called with a batch of n >= 1 records, borrowed
 * for the duration of the call. A datagram may give several calls.
 */
typedef void (*decoder_sink_fn)(void *ud, const struct flow *v, size_t n);

/*
 * Create a decoder. cfg is copied (the allow and sampling arrays too).
 * Returns NULL on allocation failure.
 */
struct decoder *decoder_create(const struct decoder_config *cfg);

/* Free everything. NULL is accepted. */
void decoder_destroy(struct decoder *d);

/*
 * Decode one datagram from exporter `from`. now_ms is the collector's clock
 * (wall clock live, capture time in replay) and drives template expiry.
 * Records go to sink. Returns the number of records delivered (>= 0), or a
 * negative -(1 + enum decoder_drop) when the datagram as a whole was
 * dropped. Never reads outside [p, p + len).
 */
int decoder_feed(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
                 uint64_t now_ms, decoder_sink_fn sink, void *ud);

/* Copy the totals into *out. */
void decoder_stats_get(const struct decoder *d, struct decoder_stats *out);

/* Per exporter (address, port, domain) state, for /metrics and logs. */
struct decoder_exporter_info {
	struct flow_endpoint from;
	uint32_t domain;    /* v9 source ID, IPFIX observation domain, v5: engine type<<8|id */
	uint8_t version;    /* 5, 9 or 10 */
	uint32_t sampling;  /* rate in force, 1 = unsampled */
	uint32_t templates; /* currently held */
	uint64_t datagrams, records, lost_datagrams, lost_records, restarts;
	uint64_t last_seen_ms;
};

/*
 * Copy up to max exporters into out; returns how many exist (which may be
 * more than max).
 */
size_t decoder_exporters_get(const struct decoder *d, struct decoder_exporter_info *out,
                             size_t max);

#endif
