/*
 * judge: rules I and II of METHOD §5 applied to a finished slot.
 *
 * The slot module has already computed every feature (who started which
 * conversation, totals both ways, peers, array C membership); the judge only
 * compares them with the site's thresholds and writes labels into the
 * view's label array (slot.h). Each label carries the figure that crossed the
 * threshold and the threshold; the document writer adds the context figures.
 *
 * Rule III (the network-wide offender database across slots and sites) is
 * not the judge's: each slot is judged on its own here.
 */
#ifndef NFSENTRY_JUDGE_H
#define NFSENTRY_JUDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/slot.h"

enum judge_label {
	/* outside IPs (rule I) */
	JUDGE_NOPAYLOAD,   /* average packet size of its conversations <= threshold */
	JUDGE_FLOOD,       /* many packets (or a high rate, or half-open SYNs) at few inside IPs */
	JUDGE_SCAN,        /* probed a large share of active inside IPs, or many silent ones */
	JUDGE_PROBEUNUSED, /* reached inside addresses that sent nothing (METHOD §4 ex. 2) */
	JUDGE_ARPUNUSED,   /* reached inside IPs the site's ARP shows unresolved (METHOD §8) */
	/* inside IPs (rule II) */
	JUDGE_FANOUT,      /* peer cap reached, not allow-listed */
	JUDGE_P2P,         /* large volume both ways, small packets, many peers */
	JUDGE_SCANOUT,     /* many outside peers, tiny packets, almost nothing back */
	JUDGE_FLOODOUT,    /* many packets to few outside peers, nothing back */
	JUDGE_UNDERATTACK, /* a large unanswered volume from many outside IPs */
	JUDGE_ARPMISSING,  /* sent to the outside, not resolved on its gateway (spoofed?) */
	JUDGE_ZEROMAC,     /* the devices showed it only with MAC 00:00:00:00:00:00 */
	JUDGE__COUNT
};

/* The label's name as documents spell it ("noPayload", "scanOut", ...). */
const char *judge_label_name(enum judge_label l);

/* Label counts of one judged slot, for the slot summary. */
struct judge_result {
	uint64_t labels[JUDGE__COUNT];
	uint64_t offenders; /* outside IPs in array C */
};

/*
 * Judge every inside and outside entry of v with v->site's thresholds,
 * replacing any earlier labels: v->labels is refilled from the start, each
 * entry's labels contiguous, and grown as needed (the slot keeps and frees
 * it). Outside IPs labelled malicious join array C (in_c). Fills *res.
 *
 * Returns 0, or -ENOMEM when the label array cannot grow (or would outgrow
 * label_first's 32 bits). Then every entry is unlabelled, v->n_labels is 0
 * and *res is zero; in_c may already be set on outside IPs judged before
 * the failure, as success would have set it.
 */
int judge_slot(struct slot_view *v, struct judge_result *res);

/*
 * Layer-2 knowledge of the slot's site (METHOD §8), lent by the l2 module
 * (l2poll.h: l2_judge_bind) so that the judge need not link it. Borrowed;
 * ud is passed back unchanged.
 */
struct judge_arp {
	bool gateway_polled; /* a gateway polled in the slot shows addresses of ip's
	                        subnet (/24, /64): ip belongs in its table */
	bool on_gateway;     /* a gateway showed ip, in any state */
	bool resolved_gw;    /* a gateway showed ip resolved, with a MAC other than zero */
	bool resolved;       /* some device showed it Dynamic, Static or Interface */
	bool incomplete_gw;  /* a gateway showed it Incomplete */
	bool zero_mac;       /* shown with MACs, every one 00:00:00:00:00:00 */
	int64_t min_age_s;   /* smallest age any device gave it; -1 unknown */
	uint32_t types;      /* bit (1 << enum l2_state) per state shown */
	uint32_t devices;    /* devices that showed it */
};

struct judge_l2 {
	/* True when the site's devices showed ip in this slot only as unresolved. */
	bool (*unresolved)(const void *ud, const struct flow_addr *ip);
	/*
	 * What the site's devices showed of ip in this slot (*out, zeroed
	 * first; min_age_s -1 when unknown). site names the gateways
	 * (site_device.gateway). NULL: no ARP rule but arpUnused's old one.
	 */
	void (*arp)(const void *ud, const struct site_config *site, const struct flow_addr *ip,
	            struct judge_arp *out);
	const void *ud;
};

/*
 * judge_slot plus the L2 rules (docs/judge.md): with l2->arp, arpUnused on
 * an outside IP that started a conversation with a silent inside IP its
 * gateway showed Incomplete, recently (value: how many such IPs; it joins
 * array C); arpMissing on an active inside IP that a gateway polled in the
 * slot does not show resolved; zeroMac on an inside IP shown only with MAC
 * zero. Without l2->arp, l2->unresolved() stands for the gateway's
 * evidence of arpUnused. l2 NULL: exactly
 * judge_slot. Returns as judge_slot does.
 */
int judge_slot_l2(struct slot_view *v, const struct judge_l2 *l2, struct judge_result *res);

/* Protocol named in a flood label: the class with most packets. */
enum slot_proto judge_flood_proto(const struct slot_outside *o);

/* Which figure made an outside IP a flood (its label's value). */
enum judge_flood_signal {
	JUDGE_FLOOD_NONE,
	JUDGE_FLOOD_VOLUME, /* packets in >= flood_min_packets */
	JUDGE_FLOOD_RATE,   /* packets in / active seconds >= flood_min_pps */
	JUDGE_FLOOD_SYN,    /* half-open packets and rate (synFlood) */
};

/* Flood figures of o under v's thresholds; reasons and the judge share them. */
struct judge_flood {
	enum judge_flood_signal signal;
	double seconds;        /* active time counted: at least flood_min_seconds */
	double rate;           /* started_in packets / seconds */
	double half_open_rate; /* half-open packets / seconds */
};
void judge_flood_figures(const struct slot_view *v, const struct slot_outside *o,
                         struct judge_flood *out);

/* "volume", "rate", "synFlood"; "" for none. */
const char *judge_flood_signal_name(enum judge_flood_signal s);

/*
 * Scan figures of o: inside IPs it probed (started conversations that look
 * like probes, docs/judge.md) and how many of those sent nothing all slot.
 */
void judge_scan_probes(const struct slot_view *v, const struct slot_outside *o, uint32_t *probed,
                       uint32_t *silent);

/*
 * Whether pair p is arpUnused evidence against its outside IP: l2->arp set,
 * the outside IP started it, the inside IP sent nothing all slot, and a
 * gateway showed it Incomplete, not resolved, aged <= arp_max_age. Without
 * l2->arp, the last part is l2->unresolved() of the inside IP.
 */
bool judge_arp_unused_pair(const struct slot_view *v, const struct slot_pair *p,
                           const struct judge_l2 *l2);

#endif
