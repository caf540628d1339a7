/*
 * l2: layer-2 truth from the site's devices (METHOD §8) -- the parsers of
 * `show arp` / `show mac address-table` output and the per-slot merge.
 *
 * Parsers: one per device kind and command. They take the text a device
 * printed (borrowed, not NUL-terminated, never read past len) and append
 * normalised observations to a bounded list. Headers, banners, prompts,
 * pager markers (with backspaces, carriage returns or ANSI sequences),
 * blank, truncated and malformed lines are skipped and counted by reason,
 * never fatal.
 *
 * Merge: the observations of all devices of one site in one slot become
 * two object sets, by IP and by (MAC, device), with the abnormal labels of
 * METHOD §8, a fast "is this IP unresolved" lookup for the judge and the
 * `arpIp` / `arpMac` JSON documents.
 *
 * Not this module's job: SSH, configuration, the judge's rules, the store.
 * Nothing here is shared between threads; one merge belongs to one thread.
 * docs/internals/l2.md is the contract in prose, docs/l2.md the operator's
 * page.
 */
#ifndef NFSENTRY_L2_H
#define NFSENTRY_L2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/counter.h"
#include "nfsentry/doc.h"
#include "nfsentry/flow.h"

/*
 * Limits. Each is a ceiling on what one untrusted device output can make us
 * hold; reaching one is counted, never fatal.
 */
#define L2_LINE_MAX 1024      /* bytes of one output line; longer lines are skipped */
#define L2_IFNAME_MAX 64      /* interface text, NUL included ("Vlan10, Ethernet1") */
#define L2_WORD_MAX 24        /* the device's state word or flags, NUL included */
#define L2_MAX_ENTRIES 262144 /* default cap of one observation list */
#define L2_LIST_MAX 256       /* entries of one list inside a merged object */
#define L2_DEVICE_NAME_MAX 64 /* device name, NUL included */
#define L2_MAX_DEVICES 1024   /* devices of one merge */

/*
 * Device kinds, as named in the configuration (l2_kind_name). Each value is
 * one row of the kind table (struct l2_kind_row, l2_kind_get): adding a
 * kind is a value here, a row and its parser(s) in parse.c.
 */
enum l2_kind {
	L2_KIND_IOS,   /* "ios": Cisco IOS / IOS-XE */
	L2_KIND_IOSXR, /* "ios-xr": Cisco IOS-XR */
	L2_KIND_NXOS,  /* "nxos": Cisco NX-OS */
	L2_KIND_JUNOS, /* "junos": Juniper Junos */
	L2_KIND_EOS,   /* "eos": Arista EOS */
	L2_KIND__COUNT
};

/* What a command's output holds. */
enum l2_cmd {
	L2_CMD_ARP, /* show arp / show ip arp / show arp no-resolve */
	L2_CMD_MAC, /* show mac address-table */
	L2_CMD__COUNT
};

/*
 * Normalised entry state. The names (l2_state_name) are the typeList
 * values of the arpIp documents.
 */
enum l2_state {
	L2_STATE_DYNAMIC,    /* "Dynamic": learnt */
	L2_STATE_STATIC,     /* "Static": configured (or permanent) */
	L2_STATE_INTERFACE,  /* "Interface": the device's own address */
	L2_STATE_INCOMPLETE, /* "Incomplete": request sent, nobody answered */
	L2_STATE_DELETED,    /* "Deleted": IOS-XR, entry being removed */
	L2_STATE_OTHER,      /* "Other": a state word we do not know; see state_raw */
	L2_STATE__COUNT
};

/* Why a line gave no observation (l2_skip_name: stable snake_case). */
enum l2_skip {
	L2_SKIP_BLANK,     /* empty or whitespace only */
	L2_SKIP_HEADER,    /* column header, legend, separator, totals, node/VRF title */
	L2_SKIP_PROMPT,    /* "router#", "user@host>", "{master}" */
	L2_SKIP_PAGER,     /* nothing left once the pager marker is removed */
	L2_SKIP_MALFORMED, /* looks like an entry, but a field is bad or missing */
	L2_SKIP_UNKNOWN,   /* nothing we recognise */
	L2_SKIP_TOO_LONG,  /* longer than L2_LINE_MAX */
	L2_SKIP_LIMIT,     /* an entry, but the list is at its cap */
	L2_SKIP__COUNT
};

/* One entry of one device's table, normalised. */
struct l2_obs {
	struct flow_addr ip;         /* valid when has_ip */
	uint8_t mac[6];              /* valid when has_mac */
	bool has_ip;                 /* false for MAC-table rows */
	bool has_mac;                /* false: the device showed no MAC ("Incomplete") */
	uint8_t state;               /* enum l2_state */
	char state_raw[L2_WORD_MAX]; /* the device's word ("Incomplete", "dynamic", "none"), may be
	                                "" */
	int64_t age_s;               /* seconds since learnt/refreshed; -1 unknown */
	int32_t vlan;                /* MAC tables; -1 none */
	char ifname[L2_IFNAME_MAX];  /* interface or port, may be "" */
};

/* A growable list of observations with a hard cap; the caller embeds it. */
struct l2_obs_list {
	struct l2_obs *v; /* owned */
	size_t n, cap;
	size_t max; /* entries beyond max are counted as L2_SKIP_LIMIT */
};

/* Per-parse counters; l2_parse adds to them (zero the struct first). */
struct l2_parse_stats {
	uint64_t lines;
	uint64_t parsed;
	uint64_t skipped[L2_SKIP__COUNT];
	uint64_t pager_marks;      /* pager markers removed (also from lines that parsed) */
	uint64_t truncated_fields; /* interface or state word cut to fit */
};

/* struct l2_parse_stats described (counter.h), every field. */
extern const struct counter_table l2_parse_counters;

/* A line parser of parse.c; opaque (only whether a kind has one matters outside). */
struct l2_parser;

/*
 * One row of the kind table: everything a device kind is. Static; never
 * freed.
 */
struct l2_kind_row {
	const char *name;            /* as in the configuration: "ios" */
	const char *alias;           /* another name accepted for it ("ios-xe"), or NULL */
	const char *const *commands; /* commands polled by default, NULL-terminated */
	const char *pager_off;       /* turns the pager off on an interactive shell, or NULL */
	const struct l2_parser *arp; /* reads its `show arp` output, or NULL */
	const struct l2_parser *mac; /* reads its `show mac address-table` output, or NULL */
};

/*
 * The row of kind (an enum l2_kind), or NULL when there is none. Rows are
 * numbered from 0 without gaps, so `for (k = 0; l2_kind_get(k); k++)` visits
 * every kind (the configuration lists the names this way).
 */
const struct l2_kind_row *l2_kind_get(int kind);
/* The row's name; "unknown" when kind has no row. */
const char *l2_kind_name(enum l2_kind kind);
/* The kind whose name or alias is name (exact case); -1 if none or NULL. */
int l2_kind_from_name(const char *name);
const char *l2_state_name(enum l2_state st);
const char *l2_skip_name(enum l2_skip why);

/*
 * Which parser a configured command needs: L2_CMD_MAC when the text names
 * the MAC table ("show mac address-table", "show mac-address-table"),
 * L2_CMD_ARP when it names ARP ("show arp", "show ip arp ..."); -EINVAL
 * otherwise or when the kind has no parser for it.
 */
int l2_cmd_classify(enum l2_kind kind, const char *command);

/*
 * The default commands of a kind (its row's), NULL-terminated, static; an
 * empty list when kind has no row. Every one runs without a pager (Junos:
 * "| no-more"); other kinds need "terminal length 0" only on an
 * interactive shell: the row's pager_off (l2_kind_get()).
 */
const char *const *l2_kind_commands(enum l2_kind kind);

/* Initialise an empty list holding at most max entries (0: L2_MAX_ENTRIES). */
void l2_obs_list_init(struct l2_obs_list *l, size_t max);
/* Free the entries; the list is empty and reusable (same max) afterwards. */
void l2_obs_list_free(struct l2_obs_list *l);

/*
 * Parse one command's output (text, len bytes; need not be NUL-terminated,
 * never read past len) and append its entries to out. st is added to.
 * Returns the number of observations appended (>= 0), -EINVAL for a kind or
 * command without a parser (nothing appended), or -ENOMEM when the list
 * could not grow: out then holds the entries appended before the failure.
 */
int l2_parse(enum l2_kind kind, enum l2_cmd cmd, const char *text, size_t len,
             struct l2_obs_list *out, struct l2_parse_stats *st);

/*
 * Normalise a MAC address in any usual notation -- aabb.ccdd.eeff,
 * aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabbccddeeff, single-digit groups
 * (0:1c:73:0:0:1), either case -- from s[0..len). Returns 0 or -EINVAL.
 */
int l2_mac_parse(const char *s, size_t len, uint8_t mac[6]);
/* "aa:bb:cc:dd:ee:ff" into buf (>= 18 bytes). */
void l2_mac_format(const uint8_t mac[6], char *buf, size_t len);

/*
 * Merge
 *
 * One struct l2_merge holds the observations of one site in one slot.
 * Objects:
 *  - by IP: every IP any device showed, with the union of its MACs, types
 *    and devices (one object per IP for the whole site);
 *  - by (MAC, device): one object per MAC per device that showed it, with
 *    the IPs, interfaces, VLANs and types that device gave it. Interface
 *    names mean something only on their own device, so a MAC two devices
 *    see (gateway ARP and access-switch MAC table) is two objects, each
 *    in the paper's shape with one "device"; l2_merge_mac_find() returns
 *    them side by side.
 * Every list is sorted and deduplicated, so the result does not depend on
 * the order devices or entries were added.
 */

/* Labels of a by-IP object (bits of l2_ip.labels). */
enum l2_label {
	L2_LABEL_UNRESOLVED = 1u << 0, /* "unresolved": types only Incomplete/Deleted */
	L2_LABEL_ZEROMAC = 1u << 1,    /* "zeroMac": MACs only 00:00:00:00:00:00 */
};

struct l2_ip {
	struct flow_addr ip;
	uint64_t timestamp_ms; /* latest poll that showed it */
	uint32_t types;        /* bit (1 << enum l2_state) per state seen */
	uint32_t labels;       /* enum l2_label bits, set by l2_merge_finish */
	uint32_t observations; /* entries behind this object */
	int64_t min_age_s;     /* smallest known age, -1 none known */
	uint8_t (*macs)[6];    /* sorted; n_macs; owned by the merge */
	uint32_t n_macs;
	uint16_t *devices; /* device indexes, sorted by name; owned by the merge */
	uint32_t n_devices;
};

struct l2_mac {
	uint8_t mac[6];
	uint16_t device;       /* index: l2_merge_device_name() */
	uint64_t timestamp_ms; /* latest poll that showed it */
	uint32_t types;        /* bit per enum l2_state */
	uint32_t observations;
	struct flow_addr *ips; /* sorted; owned by the merge */
	uint32_t n_ips;
	char **ifnames; /* sorted bytewise; owned by the merge */
	uint32_t n_ifnames;
	int32_t *vlans; /* sorted */
	uint32_t n_vlans;
};

struct l2_merge_limits {
	uint32_t max_ips;  /* by-IP objects; default 1 << 20 */
	uint32_t max_macs; /* by-(MAC, device) objects; default 1 << 20 */
};

/* What the merge had to leave out; all zero in a healthy slot. */
struct l2_merge_stats {
	uint64_t ips_dropped;  /* observations whose IP found the by-IP table full */
	uint64_t macs_dropped; /* observations whose MAC found the by-MAC table full */
	uint64_t list_full;    /* values left out of a list at L2_LIST_MAX */
	uint64_t devices_full; /* l2_merge_add calls refused at L2_MAX_DEVICES */
};

/* struct l2_merge_stats described (counter.h), every field. */
extern const struct counter_table l2_merge_counters;

struct l2_merge;

/*
 * A merge for one site (copied) and one slot. lim NULL: defaults. Returns
 * NULL on allocation failure or an empty/too long site name.
 */
struct l2_merge *l2_merge_create(const char *site, int64_t time_slot,
                                 const struct l2_merge_limits *lim);
/* Frees everything the merge owns, objects and lists included. */
void l2_merge_destroy(struct l2_merge *m);

/*
 * Add one device's observations (borrowed) polled at ts_ms. A device may
 * be added several times (several commands, several polls in the slot).
 * Returns 0; -EINVAL for an empty or too long device name, -EBUSY after
 * l2_merge_finish, -ENOSPC at L2_MAX_DEVICES, -ENOMEM on allocation
 * failure: the observations before the failing one are merged, the failing
 * one may be partly merged (its by-IP half without its by-MAC half, or a
 * list short of one value), the rest not; the merge stays consistent,
 * usable and destroyable.
 */
int l2_merge_add(struct l2_merge *m, const char *device, uint64_t ts_ms, const struct l2_obs *v,
                 size_t n);

/*
 * Freeze: sort every object and list in place, set the labels. It does not
 * allocate and cannot fail: returns 0 (again 0 when called twice).
 * l2_merge_ip_find and l2_merge_unresolved work before and after; the
 * arrays below, l2_merge_mac_find and the documents need it.
 */
int l2_merge_finish(struct l2_merge *m);

void l2_merge_stats_get(const struct l2_merge *m, struct l2_merge_stats *out);
const char *l2_merge_site(const struct l2_merge *m);
int64_t l2_merge_time_slot(const struct l2_merge *m);
/* Device name of an index (borrowed, valid until destroy); NULL if out of range. */
const char *l2_merge_device_name(const struct l2_merge *m, unsigned idx);

/* After finish: objects sorted by address / by (MAC, device name). Borrowed. */
const struct l2_ip *l2_merge_ips(const struct l2_merge *m, size_t *n);
const struct l2_mac *l2_merge_macs(const struct l2_merge *m, size_t *n);

/* The by-IP object of addr, or NULL. No allocation; O(1). */
const struct l2_ip *l2_merge_ip_find(const struct l2_merge *m, const struct flow_addr *addr);
/*
 * After finish: the by-(MAC, device) objects of mac, *n of them side by side
 * (one per device, by device name), or NULL with *n = 0.
 */
const struct l2_mac *l2_merge_mac_find(const struct l2_merge *m, const uint8_t mac[6], size_t *n);

/*
 * The judge's question: did the site's devices show addr in this slot, and
 * only as Incomplete or Deleted (nobody answered ARP for it)? After finish.
 */
bool l2_merge_unresolved(const struct l2_merge *m, const struct flow_addr *addr);

/*
 * Append the documents of a finished merge to out: `arpIp` (key: the IP) by
 * address, then `arpMac` (key: "mac@device", see docs/internals/l2.md) by
 * (MAC, device). Returns 0, -EINVAL before finish, or -ENOMEM with out
 * holding what was appended before the failure (free with doc_batch_free).
 */
int l2_doc_build(const struct l2_merge *m, struct doc_batch *out);

/*
 * The judge's question about ip, after finish (judge.h, struct judge_arp):
 * what the site's devices showed of it, with the devices site marks as
 * gateways (site_device.gateway) told apart; *out zeroed first, min_age_s
 * -1 when unknown. gateway_polled holds when a gateway was polled in the
 * slot and shows some address of ip's /24 (IPv6: /64). site NULL: no
 * gateways.
 */
void l2_merge_arp(const struct l2_merge *m, const struct site_config *site,
                  const struct flow_addr *ip, struct judge_arp *out);

/*
 * Lend the finished merge m to the slot's documents (doc_slot_build_l2):
 * unresolved() is l2_merge_unresolved, arp() l2_merge_arp, macs() the MACs of an IP's by-IP
 * object, place() the device and interfaces of each by-(MAC, device)
 * object of a MAC. m must outlive the use of *out.
 */
void l2_merge_doc_bind(const struct l2_merge *m, struct doc_l2 *out);

#endif
