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
	JUDGE_FLOOD,       /* many packets at few inside IPs, little answered */
	JUDGE_SCAN,        /* started conversations with a large share of active inside IPs */
	JUDGE_PROBEUNUSED, /* reached inside addresses that sent nothing (METHOD §4 ex. 2) */
	JUDGE_ARPUNUSED,   /* reached inside IPs the site's ARP shows unresolved (METHOD §8) */
	/* inside IPs (rule II) */
	JUDGE_FANOUT,   /* peer cap reached, not allow-listed */
	JUDGE_P2P,      /* large volume both ways, small packets, many peers */
	JUDGE_SCANOUT,  /* many outside peers, tiny packets, almost nothing back */
	JUDGE_FLOODOUT, /* many packets to few outside peers, nothing back */
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
struct judge_l2 {
	/* True when the site's devices showed ip in this slot only as unresolved. */
	bool (*unresolved)(const void *ud, const struct flow_addr *ip);
	const void *ud;
};

/*
 * judge_slot plus the L2 rule: an outside IP whose ingress reached at least
 * one inside IP that l2->unresolved() says nobody answered ARP for gets
 * arpUnused (value: how many such IPs) and joins array C. l2 NULL: exactly
 * judge_slot. Returns as judge_slot does.
 */
int judge_slot_l2(struct slot_view *v, const struct judge_l2 *l2, struct judge_result *res);

/* Protocol named in a flood label: the class with most packets. */
enum slot_proto judge_flood_proto(const struct slot_outside *o);

#endif
