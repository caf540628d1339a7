/*
 * decode/internal.h: what the decoder files (decoder.c, tmpl.c, v5.c, v9.c,
 * ipfix.c) share and nobody else sees: the wire readers, the limits, the
 * exporter and template structures and the per-datagram context.
 *
 * Not public API: include/nfsentry/decoder.h is. Nothing here allocates
 * except the functions documented as doing so.
 */
#ifndef NFSENTRY_DECODE_INTERNAL_H
#define NFSENTRY_DECODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nfsentry/decoder.h"
#include "nfsentry/flow.h"
#include "nfsentry/wire.h"

/*
 * Limits. Each bounds work or memory that wire data could otherwise choose.
 */
/* Fields per template. RFC 7011 allows up to 65535, but the largest real
 * templates (Cisco ASA/NSEL, nProbe) stay well under 200. */
#define DEC_MAX_FIELDS 512u
/* Records handed to the sink per call; the batch lives in struct decoder. */
#define DEC_BATCH 256u
/* Sampler/selector IDs remembered per exporter (v9 48, IPFIX 48/302);
 * the oldest is replaced when full. */
#define DEC_SAMPLERS 16u
/* How far behind the expected sequence number a datagram may arrive and
 * still be called "late" (reordered) rather than an exporter restart.
 * Records for v5/IPFIX, export packets for v9. */
#define DEC_LATE_WINDOW_RECORDS 4096u
#define DEC_LATE_WINDOW_DATAGRAMS 64u
/* A late datagram's sysUptime is behind the newest one by at most this;
 * further back means the exporter restarted (v5/v9). */
#define DEC_LATE_WINDOW_MS 10000u
/* IPFIX messages that fit only the other sequence numbering before a session
 * is switched to it (docs/decoding.md "Sequence numbers"). */
#define DEC_SEQ_VOTES 3u

/* NTP era 0 starts 70 years (incl. 17 leap days) before the Unix epoch. */
#define DEC_NTP_UNIX_OFFSET_S 2208988800ull

/* Negative return code of a decoder step for a drop reason. */
#define DEC_ERR(why) (-(1 + (int)(why)))
#define DEC_REASON(rc) ((enum decoder_drop)(-(rc)-1))

/*
 * Target of a compiled template op: where a field's value goes. Values
 * below TGT_SRC are unsigned integers kept in a per-record value array.
 */
enum dec_tgt {
	TGT_SPORT,
	TGT_DPORT,
	TGT_PROTO,
	TGT_TCPFLAGS,
	TGT_PKTS,       /* 2 packetDeltaCount / IN_PKTS */
	TGT_OCTS,       /* 1 octetDeltaCount / IN_BYTES */
	TGT_PKTS_TOTAL, /* 86 packetTotalCount: used when 2 is absent */
	TGT_OCTS_TOTAL, /* 85 octetTotalCount: used when 1 is absent */
	TGT_INIF,
	TGT_OUTIF,
	TGT_FIRST_UP, /* 22: ms of sysUpTime */
	TGT_LAST_UP,  /* 21 */
	TGT_START_S,  /* 150 flowStartSeconds */
	TGT_END_S,
	TGT_START_MS, /* 152 flowStartMilliseconds */
	TGT_END_MS,
	TGT_START_NTP, /* 154 flowStartMicroseconds, NTP 64-bit */
	TGT_END_NTP,
	TGT_START_DUS, /* 158 flowStartDeltaMicroseconds, before export */
	TGT_END_DUS,
	TGT_SAMPLER_ID,        /* 48 samplerId / FLOW_SAMPLER_ID, 302 selectorId */
	TGT_SAMPLING_INTERVAL, /* 34 */
	TGT_SAMPLER_RANDOM,    /* 50 */
	TGT_SPI,               /* 305 samplingPacketInterval */
	TGT_SPS,               /* 306 samplingPacketSpace */
	TGT_SEL_ALGO,          /* 304 selectorAlgorithm (RFC 5477) */
	TGT_SSIZE,             /* 309 samplingSize */
	TGT_SPOP,              /* 310 samplingPopulation */
	TGT_SPROB,             /* 311 samplingProbability, float64 bits */
	TGT_SPROB32,           /* 311 in 4 bytes: float32 bits (RFC 7011 §6.2) */
	TGT_SYSINIT,           /* 160 systemInitTimeMilliseconds */
	TGT_ICMP_TC,           /* 32 icmpTypeCodeIPv4, 139 icmpTypeCodeIPv6: type << 8 | code */
	TGT_ICMP_TYPE,         /* 176 icmpTypeIPv4, 178 icmpTypeIPv6 */
	TGT_ICMP_CODE,         /* 177 icmpCodeIPv4, 179 icmpCodeIPv6 */
	TGT_IPVER,             /* 60 ipVersion / IP_PROTOCOL_VERSION */
	TGT_FRAG_OFF,          /* 88 fragmentOffset / FRAGMENT_OFFSET, 1 or 2 bytes */
	TGT_FRAG_FLAGS,        /* 197 fragmentFlags, 1 byte */
	TGT__NUM,              /* integer targets end here */
	/*
	 * Address fields: not values but places in the record, one slot each
	 * (DEC_ASLOT()); which pair becomes the flow's source and destination
	 * is chosen per record from the pairs the template has (dec_addr_pick).
	 */
	TGT_SRC4 = TGT__NUM, /* 8 sourceIPv4Address: the flow's own (inner) */
	TGT_DST4,            /* 12 destinationIPv4Address */
	TGT_SRC6,            /* 27 sourceIPv6Address */
	TGT_DST6,            /* 28 destinationIPv6Address */
	TGT_TSRC4,           /* VMware 6876/893 tunnelSourceIPv4Address: outer */
	TGT_TDST4,           /* VMware 6876/894 tunnelDestinationIPv4Address */
	TGT_NONE,
};

#define TGT_BIT(t) (1ull << (t))
_Static_assert(TGT__NUM <= 64, "integer targets must fit the 64-bit present mask");

/*
 * Targets that carry a sampling rate (docs/decoding.md, "Sampling") or name
 * a sampler. A data template with none of them scales its records by the
 * scope's precomputed rate_none and pays nothing else per record.
 */
#define DEC_RATE_BITS                                                                              \
	(TGT_BIT(TGT_SAMPLING_INTERVAL) | TGT_BIT(TGT_SAMPLER_RANDOM) | TGT_BIT(TGT_SPI) |         \
	 TGT_BIT(TGT_SSIZE) | TGT_BIT(TGT_SPROB) | TGT_BIT(TGT_SPROB32))
#define DEC_SAMP_BITS (DEC_RATE_BITS | TGT_BIT(TGT_SAMPLER_ID))

/* Address slot of an address target, and how many there are. */
#define DEC_ASLOT(t) ((unsigned)(t) - (unsigned)TGT_SRC4)
#define DEC_ASLOTS 6u

/*
 * Address pairs a record may be attributed to, in the order they are
 * preferred (docs/decoding.md, "Addresses"): the flow's own IPv4 pair, its
 * own IPv6 pair, then the tunnel's (outer) IPv4 pair. Bit k of
 * dec_tmpl.pairs says the template has both fields of pair k.
 */
enum dec_pair { DEC_PAIR_IN4, DEC_PAIR_IN6, DEC_PAIR_OUT4, DEC_PAIR__COUNT };

enum dec_kind {
	K_U8,
	K_U16,
	K_U32,
	K_U64,
	K_UN, /* 3, 5, 6, 7 bytes */
	K_V4,
	K_V6,
	K_SKIP, /* only in templates with variable-length fields */
};

/* One compiled step: read len bytes at off and store into tgt. */
struct dec_op {
	uint16_t off; /* from record start; unused in variable-length templates */
	uint16_t len; /* 65535: variable length (IPFIX) */
	uint8_t kind;
	uint8_t tgt;
};

/*
 * A template, compiled at definition time. Fixed-length templates keep only
 * the ops that fill a target (offsets precomputed); templates with a
 * variable-length field keep one op per field and are walked.
 */
struct dec_tmpl {
	uint16_t id;
	bool options;
	bool varlen;
	uint16_t rec_len; /* fixed length, or minimum length when varlen */
	uint16_t n_ops;
	/* As defined on the wire (def), for the restart file (persist.c). */
	uint16_t n_fields, n_scope;
	/*
	 * Fixed-length templates: ops are grouped by kind (stable, so fields of
	 * one kind keep template order) and kind_end[k] is one past the last op
	 * of kind k, so a record is a few tight loops with no switch per field.
	 */
	uint16_t kind_end[K_SKIP];
	uint64_t present; /* TGT_BIT of every integer target filled */
	uint8_t pairs;    /* bit DEC_PAIR_*: both fields of that address pair present */
	/* Fixed-length templates: offset of each address field (DEC_ASLOT). */
	uint16_t aoff[DEC_ASLOTS];
	uint64_t refreshed_ms;
	uint32_t bytes; /* its allocation, accounted in the decoder's template bytes */
	size_t def_len; /* wire definition, kept to spot identical resends */
	const uint8_t *def;
	struct dec_op ops[];
};

struct dec_sampler {
	uint64_t id;
	uint32_t rate;
	uint64_t seen_ms; /* collector clock when options data last stated it */
};

/*
 * What templates and sampler state belong to (templates.scope): by default
 * the exporter, (address, domain, version), shared by every source port it
 * sends from; with DECODER_SCOPE_SESSION the transport session, (address,
 * port, domain, version), as RFC 7011 §8 has it. Owned by the decoder,
 * shared by the sessions that map to it (refs); freed with the last one.
 */
struct dec_scope {
	struct flow_endpoint from; /* port 0 unless the scope is the session */
	uint32_t domain;
	uint8_t version;
	uint32_t refs;          /* sessions (struct dec_exporter) using it */
	uint32_t override_rate; /* from configuration, 0 = none */
	uint32_t default_rate;  /* from v5 header / options data without an ID, 0 = none */
	/*
	 * Rate of a record that names no sampler (dec_scope_rate_update): the
	 * override, else default_rate, else the single known sampler's, else 1
	 * when none is known; 0 when several are known and none is
	 * exporter-wide (the record cannot be scaled: unscaledRecords).
	 */
	uint32_t rate_none;
	struct dec_sampler samplers[DEC_SAMPLERS];
	uint32_t n_samplers, next_sampler;
	uint32_t sampler_last; /* index of the last sampler a record named */
	bool has_sys_init;
	uint64_t sys_init_ms; /* IPFIX IE 160 */
	uint64_t options_ms;  /* when options data last set default_rate or sys_init_ms */
	/* Templates: open addressing on template ID, linear probing, backward
	 * shift deletion, capacity a power of two grown up to the cap. */
	struct dec_tmpl **tslots;
	uint32_t tcap, ntmpl;
	struct dec_tmpl *last;
	/* The decoder's total of template bytes (templates and tslots), which
	 * every allocation and free of this scope's templates updates. */
	uint64_t *bytes_total;
};

/*
 * One transport session of an exporter: (address, port, domain, version).
 * Sequence numbers are per session: each socket numbers its own datagrams,
 * so sessions that share templates never show each other's as loss.
 */
struct dec_exporter {
	struct flow_endpoint from;
	uint32_t domain;
	uint8_t version;
	struct dec_scope *sc; /* its templates and samplers; shared, see refs */
	/* Sequence tracking. */
	bool seq_valid;
	uint32_t seq_next; /* records (v5/IPFIX) or datagrams (v9) before the next datagram */
	/*
	 * IPFIX only (docs/decoding.md "Sequence numbers"): seq_inclusive when
	 * the session numbers a message by the flow records sent up to and
	 * including it (softflowd) instead of before it (RFC 7011 §3.1);
	 * seq_votes counts messages that fitted only the other numbering since
	 * the last that fitted only this one; seq_last and seq_last_n are the
	 * last accepted message's number and data records.
	 */
	bool seq_inclusive;
	uint8_t seq_votes;
	uint32_t seq_last, seq_last_n;
	bool has_uptime;
	uint32_t last_uptime;
	/* Counters for decoder_exporters_get. */
	uint64_t datagrams, records, lost_datagrams, lost_records, restarts;
	uint64_t last_seen_ms;
	/*
	 * Admission (docs/decoding.md "Exporters"): a session is in probation
	 * until it has sent something that decodes (a template or a record);
	 * only then may it take one of the max_exporters places.
	 */
	bool proven;
	uint32_t list_i;            /* its index in decoder.list */
	uint32_t prob_i;            /* its index in decoder.prob while !proven */
	struct dec_addr *ad;        /* its address's entry */
	struct dec_exporter *anext; /* the next session of the same address */
};

/*
 * One exporter address: its sessions (a list through dec_exporter.anext)
 * and how many distinct domains (with version) and source ports they use,
 * for the per-address limits. Freed with its last session.
 */
struct dec_addr {
	struct flow_addr addr;
	uint32_t sessions, domains, ports;
	uint64_t refused; /* new sessions refused by the per-address limits */
	struct dec_exporter *head;
};

struct decoder {
	struct decoder_config cfg; /* arrays below are our copies */
	struct decoder_prefix *allow;
	struct decoder_sampling_override *sampling;
	struct decoder_stats st;
	/* Exporters: a dense list (for decoder_exporters_get) and an open
	 * addressing index of pointers into it, grown up to 2 * max_exporters. */
	struct dec_exporter **list;
	size_t n_exp, list_cap;
	struct dec_exporter **eslots;
	uint32_t ecap;
	struct dec_exporter *last_exp;
	/* Template scopes: an open addressing index (at most one per session,
	 * so never more than max_exporters), kept at most half full. */
	struct dec_scope **sslots;
	uint32_t scap;
	size_t n_scope;
	uint64_t last_sweep_ms; /* when the full table was last swept for idle exporters */
	/*
	 * Scopes loaded from the restart file (persist.c), each holding one
	 * reference so that it waits for its first session; all released at
	 * restored_until_ms (load time + template lifetime). Owned.
	 */
	struct dec_scope **restored;
	size_t n_restored;
	uint64_t restored_until_ms;
	uint64_t persist_gen; /* bumped by changes the stats do not show (options data) */
	uint64_t persist_fp;  /* dec_persist_fp() when the state was last saved or loaded */
	/* Sessions in probation (!proven): a dense array, at most prob_max,
	 * evicted round robin from prob_hand when a newcomer needs room. */
	struct dec_exporter **prob;
	uint32_t n_prob, prob_max, prob_hand;
	size_t n_proven;
	/* Exporter addresses: open addressing on the address, kept at most
	 * half full (at most one entry per session). */
	struct dec_addr **aslots;
	uint32_t acap, n_addr;
	uint64_t log_full_ms; /* rate limit of the table-full line */
	uint64_t refused_since_log, evicted_since_log;
	uint64_t tmpl_bytes; /* templates and their slot arrays, every scope (max_template_bytes) */
	/* Output batch. */
	decoder_sink_fn sink;
	void *ud;
	size_t nbatch;
	uint64_t log_last_ms[DECODER_DROP__COUNT]; /* rate limit per reason */
	uint64_t log_seq_ms;                       /* rate limit of dec_seq_ipfix()'s line */
	struct flow batch[DEC_BATCH];
};

/* What one datagram's decoding needs to know. */
struct dec_ctx {
	struct decoder *d;
	struct dec_exporter *e;
	struct dec_scope *sc; /* = e->sc */
	uint64_t now_ms;
	uint64_t export_ms; /* v5: with nsecs; v9/IPFIX: seconds * 1000 */
	uint32_t uptime_ms; /* v5/v9 header sysUptime */
	uint8_t version;
	uint16_t set_id;    /* set being parsed, for log lines */
	bool late;          /* sequence says this datagram is reordered */
	bool incomplete;    /* some data could not be decoded: records uncounted */
	bool decoded;       /* a template was accepted (the session is a real exporter) */
	uint32_t nrecords;  /* data records decoded (IPFIX sequence) */
	uint32_t noptions;  /* of those, options data records */
	uint32_t delivered; /* records given to the batch */
};

/* base - delta_ms, clamped at 0 (a time before the epoch is no time). */
static inline uint64_t dec_ms_minus(uint64_t base, int64_t delta_ms)
{
	if (delta_ms > 0 && (uint64_t)delta_ms > base)
		return 0;
	return (uint64_t)((int64_t)base - delta_ms);
}

/* A v5/v9 sysUptime stamp (RFC 3954 §8) as Unix ms. The signed 32-bit
 * distance back from the header's sysUptime survives the 49.7-day wrap. */
static inline uint64_t dec_uptime_to_ms(const struct dec_ctx *c, uint32_t t)
{
	return dec_ms_minus(c->export_ms, (int32_t)(c->uptime_ms - t));
}

/* decoder.c */
int dec_exporter_get(struct decoder *d, const struct flow_endpoint *from, uint32_t domain,
                     uint8_t version, uint64_t now_ms, struct dec_exporter **out);
/*
 * End of a datagram: a session in probation that delivered a record or had
 * a template accepted (c->decoded) takes a place in the exporter table,
 * when there is one. No allocation.
 */
void dec_exporter_decoded(struct dec_ctx *c);
void dec_drop(struct dec_ctx *c, enum decoder_drop why, const char *detail);
void dec_seq_check(struct dec_ctx *c, uint32_t seq, bool datagrams);
void dec_seq_commit(struct dec_ctx *c, uint32_t seq, uint32_t n);
/*
 * The IPFIX sequence check, after the message's sets were decoded (its
 * record counts are needed): detects the inclusive numbering, then checks
 * and commits as dec_seq_check() and dec_seq_commit() do.
 */
void dec_seq_ipfix(struct dec_ctx *c, uint32_t seq);
void dec_flush(struct decoder *d);
/*
 * Remember a sampler's rate (has_id) or the exporter-wide rate (!has_id)
 * in scope e; rate 0 is ignored. A full table replaces its oldest entry.
 */
void dec_sampler_set(struct dec_scope *e, bool has_id, uint64_t id, uint32_t rate, uint64_t now_ms);
/* Set the exporter-wide rate (v5 header: 0 = unsampled). */
void dec_default_rate_set(struct dec_scope *e, uint32_t rate);
/* Recompute e->rate_none after the override, default or samplers changed. */
void dec_scope_rate_update(struct dec_scope *e);
/*
 * Rate of a record naming sampler id in scope e (0 when no such sampler
 * is known, the exporter-wide rate set or not). Caches the hit.
 */
uint32_t dec_sampler_rate(struct dec_scope *e, uint64_t id);
/*
 * For the restart file (persist.c). dec_scope_find: the scope of key
 * (from, domain, version), or NULL. dec_scope_index_reserve: room in the
 * scope index for n more scopes (0 or DEC_ERR(NO_MEMORY)). dec_scope_restore:
 * add sc (a scope with no session, taken over) to the index and to
 * d->restored, which must have room; cannot fail after the reserve.
 * dec_restored_release: drop the references the restored list holds; the
 * scopes no session took are freed.
 */
struct dec_scope *dec_scope_find(const struct decoder *d, const struct flow_endpoint *from,
                                 uint32_t domain, uint8_t version);
int dec_scope_index_reserve(struct decoder *d, size_t n);
void dec_scope_restore(struct decoder *d, struct dec_scope *sc);
void dec_restored_release(struct decoder *d);

/* The per-record helpers are inline: they run ~10^7 times a second. */

/* Next batch slot, flushing a full batch to the sink first. */
static inline struct flow *dec_flow_next(struct decoder *d)
{
	if (d->nbatch == DEC_BATCH)
		dec_flush(d);
	return &d->batch[d->nbatch++];
}

/* Rate of a record that names no sampler, 1 when it cannot be known. */
static inline uint32_t dec_rate_none(const struct dec_scope *e)
{
	return e->rate_none ? e->rate_none : 1;
}

/* Apply a sampling rate to a record, saturating. */
static inline void dec_scale(struct flow *f, uint32_t rate)
{
	f->sampling = rate;
	if (rate <= 1)
		return;
	if (__builtin_mul_overflow(f->packets, (uint64_t)rate, &f->packets))
		f->packets = UINT64_MAX;
	if (__builtin_mul_overflow(f->octets, (uint64_t)rate, &f->octets))
		f->octets = UINT64_MAX;
}

/* tmpl.c */
/*
 * Compile and store a template in the scope of c->e. fields points at field
 * specifiers: n_fields of (id, len[, enterprise]) with enterprise numbers only
 * when ipfix. n_scope leading fields are scope fields (v9: never mapped).
 * Returns bytes of field specifiers consumed or a negative DEC_ERR().
 */
int dec_tmpl_define(struct dec_ctx *c, uint16_t id, bool options, bool ipfix, const uint8_t *fields,
                    size_t avail, uint32_t n_fields, uint32_t n_scope);
/* Remove one template; returns true if it existed. */
bool dec_tmpl_withdraw(struct dec_scope *e, uint16_t id);
/* Remove all (options == -1) or all data (0) / options (1) templates. */
uint32_t dec_tmpl_withdraw_all(struct dec_scope *e, int options);
void dec_tmpl_free_all(struct dec_scope *e);
/*
 * Decode the records of a data set body [p, p+len) with template id. Counts
 * and drops bad records, and the whole set when the template is unknown or
 * expired (marking the datagram incomplete). Returns records decoded (>= 0).
 */
uint32_t dec_data_set(struct dec_ctx *c, uint16_t id, const uint8_t *p, size_t len);

/* v5.c, v9.c, ipfix.c: decode a whole datagram; return records or DEC_ERR(). */
int dec_v5(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
           uint64_t now_ms);
int dec_v9(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
           uint64_t now_ms);
int dec_ipfix(struct decoder *d, const struct flow_endpoint *from, const uint8_t *p, size_t len,
              uint64_t now_ms);

#endif
