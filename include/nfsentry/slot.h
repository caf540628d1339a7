/*
 * slot: the arrays of one site for one 300-second time slot (METHOD §3-4).
 *
 * While the slot is open, records are only summed: per inside IP, per
 * outside IP and per (inside, outside) conversation, both directions. Sums
 * and minimums commute, so nothing depends on the order records arrive in.
 * When the slot closes, slot_finish() takes the decisions METHOD §4 makes on
 * the slot's complete egress (return traffic, examples 1 and 2, array C),
 * applies the peer cap, and computes every feature the judge needs. The
 * finished slot is read-only; the judge writes only the label fields and
 * the view's label array.
 *
 * Memory is bounded by struct site_caps; a record that would need a new
 * entry beyond a cap still counts in the totals, and the loss of detail is
 * counted in struct slot_caps_hit.
 *
 * Threads: an open slot belongs to the loop thread; after slot_finish() it
 * may be handed whole to a worker. Nothing is shared between slots.
 */
#ifndef NFSENTRY_SLOT_H
#define NFSENTRY_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/flow.h"
#include "nfsentry/site.h"

#define SLOT_SECONDS 300

/*
 * A time of the slot in 16 bits: whole seconds from the slot's start plus
 * SLOT_T16_BIAS, clamped to 1 .. 65535 (9 hours either side), so that 0
 * can mean "none". Flow times are Unix ms.
 */
#define SLOT_T16_BIAS 32768

static inline uint16_t slot_t16(int64_t time_slot, uint64_t ms)
{
	int64_t t = ms > (uint64_t)INT64_MAX ? INT64_MAX / 2 : (int64_t)(ms / 1000);

	t = t - time_slot * SLOT_SECONDS + SLOT_T16_BIAS;
	return (uint16_t)(t < 1 ? 1 : t > 65535 ? 65535 : t);
}

struct slot_totals {
	uint64_t flows, packets, octets;
};

/* Protocol classes for "which protocol does this outside IP flood with". */
enum slot_proto {
	SLOT_PROTO_TCP,
	SLOT_PROTO_UDP,
	SLOT_PROTO_ICMP,
	SLOT_PROTO_OTHER,
	SLOT_PROTO__COUNT
};

/*
 * Judge output (METHOD §5 II). The labels of all entries are in one array
 * of the view (slot_view.labels), each entry's contiguous; an entry holds
 * only where its labels start there and how many it has. Almost no entry is
 * labelled, and room for labels in every entry was a third or more of the
 * finished arrays' bytes, all written when the slot closes.
 *
 * SLOT_LABELS_MAX is the most labels one entry can get (five for an outside
 * IP, seven for an inside one; judge.c checks this at compile time).
 */
#define SLOT_LABELS_MAX 7

struct slot_label {
	uint8_t id;        /* enum judge_label (judge.h) */
	double value;      /* the figure that crossed the threshold */
	double threshold;  /* the threshold it crossed */
};

/* One conversation (inside i, outside o) in the finished slot. */
struct slot_pair {
	uint32_t inside;            /* index into slot_view.inside */
	uint32_t outside : 31;      /* index into slot_view.outside (caps.max_outside <= 2^31) */
	uint32_t o_started : 1;     /* 1: an ingress flow o evidently started, or one
	                               nothing tells about (METHOD §5, decided) */
	struct slot_totals egress;  /* i -> o */
	struct slot_totals ingress; /* o -> i */
	uint64_t first_ms;          /* earliest first-switched of the egress, else of any record */
};

/* Array A entry: an inside IP (every inside IP seen, egress or not). */
struct slot_inside {
	struct flow_addr addr;
	struct slot_totals egress;     /* all egress */
	struct slot_totals ingress;    /* return traffic (METHOD §4 case 1) */
	struct slot_totals unanswered; /* one-way ingress while active (example 1) */
	struct slot_totals unused_in;  /* ingress while silent (example 2) */
	uint32_t peers;          /* distinct outside IPs it sent to (exact up to caps) */
	uint32_t peers_kept;     /* min(peers, peer_cap): the arrayPeer entries */
	uint32_t answered_peers; /* peers that sent something back */
	uint32_t pair_first;     /* its pairs: view.pairs[pair_first ..+pair_count) */
	uint32_t pair_count;     /* ordered by (first_ms, outside address) */
	/*
	 * Flood aimed at it (underAttack, docs/judge.md): the ingress of the
	 * conversations it did not answer (no egress to that outside IP) or
	 * whose outside IP never completed a TCP handshake (half-open), by
	 * protocol class, and how many outside IPs sent it.
	 */
	struct slot_totals flooded;
	uint64_t flooded_proto[SLOT_PROTO__COUNT];
	uint32_t flooded_peers;
	bool active;             /* sent egress in the slot: it is in A proper */
	bool allowed;            /* on the site's allow-list */
	bool peer_cap_hit;
	uint8_t n_labels;        /* its labels: slot_labels_of(view, label_first)[0 ..n_labels) */
	uint32_t label_first;
};

/* An outside IP: array B when it received egress, array C when labelled. */
struct slot_outside {
	struct flow_addr addr;
	struct slot_totals to;     /* egress it received (array B totals) */
	struct slot_totals from;   /* everything it sent into the site */
	uint32_t refs;             /* inside IPs that sent to it (B's references) */
	uint32_t pair_first;       /* view.pairs_by_outside[pair_first ..+pair_count) */
	uint32_t pair_count;       /* ordered by inside address */
	/* Rule I features, over the conversations this IP started. */
	uint32_t started_targets;      /* distinct inside IPs */
	struct slot_totals started_in; /* its packets into the site */
	struct slot_totals started_back; /* what the inside hosts answered */
	uint64_t proto_packets[SLOT_PROTO__COUNT]; /* started_in packets by protocol */
	/* When the started conversations' ingress was active (slot_t16; 0 0: never). */
	uint16_t started_first, started_last;
	/*
	 * Half-open: started TCP conversations whose ingress carries SYN and
	 * never ACK, whatever the inside answered: how many (= inside IPs) and
	 * their ingress.
	 */
	uint32_t half_open_targets;
	struct slot_totals half_open;
	/* METHOD §4 example 1 and 2. */
	uint64_t unanswered_flows;     /* one-way flows to active inside IPs */
	uint32_t touch_unused;         /* silent inside IPs touched (touchPeers of C) */
	struct slot_totals unused;     /* the traffic to them */
	bool in_c;                     /* in array C */
	uint8_t n_labels;              /* its labels: slot_labels_of(view, label_first)[0 ..n_labels) */
	uint32_t label_first;
};

/* What the caps cost: records whose detail was not kept. */
struct slot_caps_hit {
	uint64_t inside, outside, pairs;
};

/* Totals of everything the site saw in the slot. */
struct slot_summary {
	struct slot_totals egress, ingress, internal;
	uint64_t late_records;    /* export time in an already closed slot, folded in */
	uint64_t future_records;  /* export time beyond the open slot, folded in */
	struct slot_caps_hit caps_hit;
};

/* The finished slot, read by the judge and the document writer. */
struct slot_view {
	const struct site_config *site;
	uint32_t site_index;
	int64_t time_slot; /* Unix seconds / 300 */
	struct slot_inside *inside;   /* n_inside, sorted by address */
	size_t n_inside;
	struct slot_outside *outside; /* n_outside, sorted by address */
	size_t n_outside;
	struct slot_pair *pairs;      /* n_pairs, sorted by (inside, first_ms, outside address) */
	size_t n_pairs;
	uint32_t *pairs_by_outside;   /* indexes into pairs, grouped by outside */
	size_t n_active;              /* inside IPs with egress (|A|) */
	struct slot_summary sum;
	/*
	 * What part of the slot the collector saw (docs/manual.md "Restarts"):
	 * covered_from_s is when collection of this slot began (the slot's
	 * start, or later when the collector started during the slot and had
	 * nothing saved of it); covered_to_s is when it stopped (0: it ran to
	 * the slot's close). partial: the slot's documents say so, with both.
	 * Set by the engine (slot_cover_set), never by the close.
	 */
	int64_t covered_from_s, covered_to_s;
	bool partial;
	/*
	 * Every entry's labels, n_labels of cap_labels: written by the judge
	 * (judge.h), owned by the slot, freed by slot_destroy(). NULL until a
	 * label is written.
	 */
	struct slot_label *labels;
	size_t n_labels, cap_labels;
};

/*
 * The labels of an entry whose label_first is first. Only for an entry with
 * n_labels > 0: an unlabelled one may have no array behind it.
 */
static inline const struct slot_label *slot_labels_of(const struct slot_view *v, uint32_t first)
{
	return v->labels + first;
}

struct slot;

/*
 * Create an empty open slot for site (borrowed: must outlive the slot).
 * hash_seed randomises the tables against crafted collisions. NULL on ENOMEM.
 */
struct slot *slot_create(const struct site_config *site, uint32_t site_index,
                         int64_t time_slot, uint64_t hash_seed);

/* Free the slot (open or finished). NULL is accepted. */
void slot_destroy(struct slot *s);

/* Record direction relative to the slot's site. */
enum slot_dir {
	SLOT_EGRESS,   /* src inside, dst outside */
	SLOT_INGRESS,  /* src outside, dst inside */
	SLOT_INTERNAL, /* both inside: totals only */
};

/* Sum one record into the open slot. Never fails: caps are counted. */
void slot_add(struct slot *s, enum slot_dir dir, const struct flow *f);

/*
 * A pipeline of records into slots (engine.c): at a million records a
 * slot's conversation table is far larger than the caches, so a record's
 * update waits for memory unless that memory was requested well before.
 * slot_pipe_add() counts the record in the slot's totals at once and queues
 * its conversation update; the update's index word is fetched when it is
 * queued, its entry 20 updates before it is applied, and it is applied when
 * 40 more wait behind it (docs/internals/slot.md). Updates of one slot are
 * applied in the order they were added; the slot's sums do not depend on
 * that order anyway.
 *
 * A queued update refers to its slot: slot_pipe_drain() must run before a
 * slot it was given is finished or destroyed. One pipe, one thread.
 */
struct slot_pipe;

/* An empty pipe, or NULL on ENOMEM. */
struct slot_pipe *slot_pipe_create(void);

/* Free the pipe, dropping what it still holds (for when its slots are being destroyed). */
void slot_pipe_destroy(struct slot_pipe *p);

/* slot_add(s, dir, f), queued. */
void slot_pipe_add(struct slot_pipe *p, struct slot *s, enum slot_dir dir, const struct flow *f);

/* Apply everything queued. */
void slot_pipe_drain(struct slot_pipe *p);

/* Count records folded in from a closed (late) or not yet open (future) slot. */
void slot_count_late(struct slot *s, bool future);

/* Records summed so far (all directions). */
uint64_t slot_records(const struct slot *s);

/*
 * Close the slot: resolve METHOD §4 on the complete egress, apply the peer
 * cap, compute the judge's features and sort everything. Returns the view
 * (owned by the slot, valid until slot_destroy), or NULL on ENOMEM (the slot
 * stays open and intact). No slot_add() after this.
 */
const struct slot_view *slot_finish(struct slot *s);

/* The view for the judge to write labels into (same pointer, writable). */
struct slot_view *slot_view_mut(struct slot *s);

/* Bytes the slot holds now (tables and arrays), for /metrics and benchmarks. */
size_t slot_memory(const struct slot *s);

/*
 * Record what the collector saw of the open slot: from_s (Unix seconds;
 * clamped to the slot's start) to to_s (0: up to its close). Sets
 * view.partial when that is less than the whole slot.
 */
void slot_cover_set(struct slot *s, int64_t from_s, int64_t to_s);

/*
 * Open-slot state across a restart (docs/internals/slot.md "Saved state").
 *
 * slot_save() writes the open slot s to fd at its position: a header (format
 * version, time slot, records, summary counters, coverage, array sizes),
 * the conversation table, the IPv6 side array and the protocol spill, each
 * dumped whole, then a 64-bit checksum of all of it. The hash index is not
 * written: slot_load() rebuilds it. s is only read (queued pipe updates
 * must be drained first). Returns 0, -EINVAL for a finished slot, or
 * -errno from write(2) (the file then holds a partial record).
 *
 * slot_load() reads one such record from fd into a new open slot for site
 * (borrowed, must outlive the slot) with hash_seed, as slot_create() does.
 * The slot finishes into the same view as the saved one would have.
 * Returns 0 with *out owned by the caller, or a negative code with *out
 * NULL and nothing held: -EBADMSG (not a slot record, a truncated file, a
 * checksum or consistency failure), -EPROTONOSUPPORT (another format
 * version), -E2BIG (more conversations than site's caps hold), -ENOMEM,
 * or -errno from read(2).
 */
#define SLOT_STATE_VERSION 2 /* 2: pacc with the ingress active time and TCP flags */
int slot_save(const struct slot *s, int fd);
int slot_load(const struct site_config *site, uint32_t site_index, uint64_t hash_seed, int fd,
              struct slot **out);

/* Conversations in the open slot (the table's entries). */
size_t slot_conversations(const struct slot *s);

#endif
