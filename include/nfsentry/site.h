/*
 * site: what a monitored site is -- its name, inside prefixes, peer cap,
 * allow-list, judge thresholds and memory caps -- as the configuration
 * produces it and the slot engine and judge consume it.
 *
 * Plain data, no behaviour beyond filling the documented defaults. The
 * meaning of every threshold is in docs/judge.md; METHOD.md §3-5 is the
 * specification they come from.
 */
#ifndef NFSENTRY_SITE_H
#define NFSENTRY_SITE_H

#include <stddef.h>
#include <stdint.h>

#include "nfsentry/flow.h"

#define SITE_NAME_MAX 64

/* One inside prefix; IPv4 lengths counted on the mapped form (96 + n). */
struct site_prefix {
	struct flow_addr addr;
	uint8_t len;
};

/*
 * Judge thresholds (METHOD §5). "Volume" minimums keep labels from being
 * given on evidence too thin to mean anything.
 */
struct site_thresholds {
	/* Rule I: outside IPs, over the conversations they started. */
	uint64_t min_packets;          /* any outside label needs this many packets */
	uint32_t nopayload_max_avg;    /* noPayload: average packet size <= this (bytes) */
	uint32_t flood_max_targets;    /* flood: linked to at most this many inside IPs */
	uint64_t flood_min_packets;    /* flood: at least this many packets into the site */
	double flood_max_answer;       /* flood: answered packets / packets in <= this */
	double scan_min_share;         /* scan: linked >= share x active inside IPs */
	uint32_t scan_min_targets;     /* scan: and linked >= this */
	uint32_t probe_min_targets;    /* probeUnused: unused inside IPs touched >= this */
	/* Rule II: inside IPs. */
	uint64_t inside_min_packets;   /* any inside label needs this many egress packets */
	uint64_t p2p_min_octets;       /* p2p: octets out and octets in each >= this */
	uint32_t p2p_max_avg;          /* p2p: average packet size (both ways) <= this */
	uint32_t p2p_min_peers;        /* p2p: distinct outside peers >= this */
	uint32_t scanout_min_peers;    /* scanOut: distinct outside peers >= this */
	uint32_t scanout_max_avg;      /* scanOut: average egress packet size <= this */
	double scanout_max_return;     /* scanOut: octets in / octets out <= this */
	uint64_t floodout_min_packets; /* floodOut: egress packets >= this */
	uint32_t floodout_max_peers;   /* floodOut: to at most this many peers */
	double floodout_max_return;    /* floodOut: packets in / packets out <= this */
};

/* Memory caps for one slot of one site; reaching one is counted, never fatal. */
struct site_caps {
	uint32_t max_inside;  /* distinct inside IPs seen in a slot */
	uint32_t max_outside; /* distinct outside IPs seen in a slot */
	uint32_t max_pairs;   /* distinct (inside, outside) conversations in a slot */
};

struct site_config {
	char name[SITE_NAME_MAX];
	struct site_prefix *inside; /* owned by whoever built the struct (config) */
	size_t n_inside;
	uint32_t peer_cap;            /* METHOD §3, default 1000 */
	struct flow_addr *allow;      /* known servers (METHOD §5 II) */
	size_t n_allow;
	struct site_thresholds th;
	struct site_caps caps;
};

/* Fill th and caps (and peer_cap) with the documented defaults. */
void site_config_defaults(struct site_config *s);

#endif
