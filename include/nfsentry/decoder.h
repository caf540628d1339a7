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

#include <stdbool.h>
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
	DECODER_DROP_EXPORTER_LIMIT,   /* datagram: decoded in probation, every place taken */
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
	DECODER_DROP_TEMPLATE_MEMORY,  /* template: all templates together at max_template_bytes */
	DECODER_DROP_EXPORTER_ADDRESS, /* datagram: its address at its domain or port limit */
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

/*
 * Default of decoder_config.max_template_bytes: 256 MiB. A large site's
 * exporters hold tens of templates of under 1 KiB compiled each (4 096
 * exporters x 20 templates x 1 KiB is 80 MiB); the per-exporter cap alone
 * would allow 4 096 x 1 024 templates of 512 fields (about 30 GiB).
 */
#define DECODER_TEMPLATE_BYTES_DEFAULT (256ull << 20)

struct decoder_config {
	uint32_t template_lifetime_s;        /* default 1800 */
	uint32_t max_templates_per_exporter; /* default 1024, per template scope */
	/*
	 * Default 4096 sessions (address, port, domain) that have decoded
	 * something; besides them max_exporters / 16 (at least 1) sessions in
	 * probation, which have not yet (docs/decoding.md "Exporters").
	 */
	uint32_t max_exporters;
	const struct decoder_prefix *allow; /* NULL/0: every exporter allowed */
	size_t n_allow;
	const struct decoder_sampling_override *sampling;
	size_t n_sampling;
	enum decoder_template_scope template_scope; /* default DECODER_SCOPE_EXPORTER */
	/*
	 * Bytes of compiled templates (and their slot arrays) held across every
	 * scope; a template that would take the total past it is refused
	 * (templateMemory). Default 256 MiB; 0 is taken as 1 (refuse all).
	 */
	uint64_t max_template_bytes;
	/*
	 * Per exporter address: distinct source IDs / observation domains
	 * (with the version) and distinct source ports its sessions may use
	 * (defaults 64 and 16; 0 is taken as 1). A new session beyond either
	 * is refused (exporterAddressLimit) unless a session of that address
	 * in probation can make room.
	 */
	uint32_t max_domains_per_address;
	uint32_t max_ports_per_address;
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
	uint64_t templates_restored;  /* loaded from the restart file (decoder_state_load) */
	uint64_t templates_stale;     /* in the restart file but older than the lifetime */
	uint64_t samplers_restored;   /* sampler rates loaded from the restart file */
	uint64_t template_bytes;      /* gauge: bytes of templates held (max_template_bytes) */
	uint64_t exporters_probation; /* gauge: sessions that have not yet decoded anything */
	uint64_t exporters_evicted;   /* sessions in probation evicted to make room */
	uint64_t seq_inclusive;       /* IPFIX sessions switched to inclusive sequence numbers */
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
 * Replace the exporter allow-list (decoder_config.allow, copied; NULL/0:
 * every exporter allowed), for a configuration reload. Takes effect with
 * the next datagram; sessions already admitted of an exporter no longer
 * allowed stay in the tables until they expire, but its datagrams are
 * dropped (notAllowed). Returns 0, or -ENOMEM with the old list kept.
 */
int decoder_allow_set(struct decoder *d, const struct decoder_prefix *allow, size_t n_allow);

/*
 * Replace the sampling overrides (decoder_config.sampling, copied; NULL/0:
 * none), for a configuration reload. Every exporter session, those
 * running included, takes its override (or, without one, the rate its
 * exporter announced) for the records decoded from the next datagram on;
 * records already decoded keep the rate they were scaled by. Returns 0, or
 * -ENOMEM with the old overrides kept.
 */
int decoder_sampling_set(struct decoder *d, const struct decoder_sampling_override *sampling,
                         size_t n_sampling);

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

/*
 * Restart file (docs/internals/decoder.md, "Restart file"): every template
 * scope of NetFlow v9 and IPFIX with its templates' wire definitions and
 * their last-refresh times, its sampler rates with theirs, the
 * exporter-wide rate and the IPFIX system init time.
 *
 * decoder_state_save() writes path + ".tmp", fsyncs it and renames it to
 * path (the caller fsyncs the directory); now_ms (wall clock) is recorded
 * as the time of the save. Returns 0, or -errno (nothing but the temporary
 * file, removed, was touched; path is left as it was). Borrows d.
 */
int decoder_state_save(struct decoder *d, const char *path, uint64_t now_ms);

/* True when something decoder_state_save() writes changed since the last save or load. */
bool decoder_state_changed(const struct decoder *d);

/* What decoder_state_load() found. */
struct decoder_restore {
	uint64_t saved_at_ms;   /* when the file was written */
	size_t scopes;          /* template scopes restored */
	size_t templates;       /* = templatesRestored */
	size_t templates_stale; /* = templatesStale */
	size_t samplers;        /* = samplersRestored */
	bool scope_changed;     /* written under another templates.scope: nothing loaded */
};

/*
 * Load the restart file at path into d, which must not have decoded
 * anything yet (-EBUSY otherwise). now_ms is the wall clock: templates
 * and sampler rates older than the template lifetime are skipped. Each
 * template is compiled as a received one would be. The scopes wait
 * without a session for their exporters; those none came back for within
 * a template lifetime are freed. Returns 0 (res filled; a missing file is
 * -ENOENT), -EBADMSG for a truncated or corrupt file, -EPROTONOSUPPORT for
 * another format version, -E2BIG for more scopes or templates than the
 * caps allow, -ENOMEM, or -errno of the read; on any error d is unchanged.
 */
int decoder_state_load(struct decoder *d, const char *path, uint64_t now_ms,
                       struct decoder_restore *res);

#endif
