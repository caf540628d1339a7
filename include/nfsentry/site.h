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

#include <stdbool.h>
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
	uint32_t flood_min_pps;        /* flood: or packets in / active seconds >= this */
	uint32_t flood_min_seconds;    /* flood: active time counted as at least this (s) */
	uint64_t synflood_min_packets; /* flood (synFlood): half-open packets >= this ... */
	uint32_t synflood_min_pps;     /* ... at >= this per active second */
	double scan_min_share;         /* scan: probed >= share x active inside IPs */
	uint32_t scan_min_targets;     /* scan: and probed >= this */
	uint32_t scan_min_unused;      /* scan: or probed >= this many silent inside IPs */
	uint32_t scan_probe_max_avg;   /* scan: a probe's average packet size <= this */
	uint32_t probe_min_targets;    /* probeUnused: unused inside IPs touched >= this */
	uint32_t arp_max_age;          /* arpUnused: gateway Incomplete entry age <= this (s) */
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
	uint64_t attack_min_packets;   /* underAttack: flooded packets in >= this */
	uint32_t attack_min_sources;   /* underAttack: from >= this many outside IPs */
};

/* Memory caps for one slot of one site; reaching one is counted, never fatal. */
struct site_caps {
	uint32_t max_inside;  /* distinct inside IPs seen in a slot */
	uint32_t max_outside; /* distinct outside IPs seen in a slot */
	uint32_t max_pairs;   /* distinct (inside, outside) conversations in a slot */
};

/*
 * Devices polled over SSH for their ARP / MAC tables (docs/l2.md). Sizes
 * include the NUL. Secrets are never held here: a password is read from
 * password_file when the device is polled.
 */
#define SITE_DEVICE_NAME_MAX 64   /* = L2_DEVICE_NAME_MAX */
#define SITE_DEVICE_HOST_MAX 256  /* a DNS name is at most 253 characters */
#define SITE_DEVICE_USER_MAX 64
#define SITE_DEVICE_PATH_MAX 1024 /* key, password_file, known_hosts */
#define SITE_DEVICE_CMD_MAX 128   /* one command line */
#define SITE_DEVICE_CMDS_MAX 8    /* commands of one device */

struct site_device {
	char name[SITE_DEVICE_NAME_MAX];
	int kind; /* enum l2_kind (l2.h) */
	char host[SITE_DEVICE_HOST_MAX];
	uint32_t port; /* default 22 */
	char user[SITE_DEVICE_USER_MAX];
	char key[SITE_DEVICE_PATH_MAX];           /* private key file, or "" */
	char password_file[SITE_DEVICE_PATH_MAX]; /* file holding the password, or "" */
	char known_hosts[SITE_DEVICE_PATH_MAX];   /* OpenSSH known_hosts file */
	bool accept_new;                          /* trust an unknown host key once, default false */
	bool gateway; /* the site's gateway: its ARP table is evidence (arpUnused, arpMissing) */
	char commands[SITE_DEVICE_CMDS_MAX][SITE_DEVICE_CMD_MAX]; /* default l2_kind_commands() */
	size_t n_commands;
	uint32_t interval_s; /* 0 (default): once per slot, just before it ends */
	uint32_t timeout_s;  /* connect + authenticate + every command, default 20 */
};

/* Handling advice: one text per label, in judge.h's enum order (judge.c checks the count). */
#define SITE_ADVICE_LABELS 12
#define SITE_ADVICE_MAX 256 /* bytes of one text, NUL included */

struct site_config {
	char name[SITE_NAME_MAX];
	struct site_prefix *inside; /* owned by whoever built the struct (config) */
	size_t n_inside;
	uint32_t peer_cap;            /* METHOD §3, default 1000 */
	struct flow_addr *allow;      /* known servers (METHOD §5 II) */
	size_t n_allow;
	struct site_thresholds th;
	struct site_caps caps;
	struct site_device *devices; /* owned by whoever built the struct (config) */
	size_t n_devices;
	/*
	 * What to do about each label (enum judge_label order), shown by the
	 * dashboard. The configuration fills every entry: sites[].advice, else
	 * the top-level advice:, else site_advice_default().
	 */
	char advice[SITE_ADVICE_LABELS][SITE_ADVICE_MAX];
};

/* The built-in advice for label (enum judge_label), static; "" past the last. */
const char *site_advice_default(unsigned label);

/* Fill th and caps (and peer_cap) with the documented defaults. */
void site_config_defaults(struct site_config *s);

#endif
