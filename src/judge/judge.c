/*
 * judge: thresholds over the features of a finished slot. See judge.h and
 * docs/judge.md for each rule's reasoning.
 */
#include "nfsentry/judge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/grow.h"

static const char *const label_names[JUDGE__COUNT] = {
	[JUDGE_NOPAYLOAD] = "noPayload", [JUDGE_FLOOD] = "flood",
	[JUDGE_SCAN] = "scan",           [JUDGE_PROBEUNUSED] = "probeUnused",
	[JUDGE_ARPUNUSED] = "arpUnused",
	[JUDGE_FANOUT] = "fanout",       [JUDGE_P2P] = "p2p",
	[JUDGE_SCANOUT] = "scanOut",     [JUDGE_FLOODOUT] = "floodOut",
	[JUDGE_UNDERATTACK] = "underAttack",
	[JUDGE_ARPMISSING] = "arpMissing",
	[JUDGE_ZEROMAC] = "zeroMac",
};

_Static_assert(JUDGE__COUNT == SITE_ADVICE_LABELS, "one handling advice per label (site.h)");

const char *judge_label_name(enum judge_label l)
{
	return (unsigned)l < JUDGE__COUNT ? label_names[l] : "unknown";
}

/*
 * One entry's labels while it is judged. They join the view's array only
 * when the entry is done, all at once, so that they are contiguous there.
 */
struct verdict {
	uint8_t n;
	struct slot_label v[SLOT_LABELS_MAX];
};

_Static_assert(JUDGE_FANOUT - JUDGE_NOPAYLOAD <= SLOT_LABELS_MAX,
               "a verdict holds every outside label");
_Static_assert(JUDGE__COUNT - JUDGE_FANOUT <= SLOT_LABELS_MAX, "a verdict holds every inside label");

static void verdict_add(struct verdict *vd, enum judge_label l, double value, double threshold,
                        struct judge_result *res)
{
	if (vd->n >= SLOT_LABELS_MAX)
		return;
	vd->v[vd->n].id = (uint8_t)l;
	vd->v[vd->n].value = value;
	vd->v[vd->n].threshold = threshold;
	vd->n++;
	res->labels[l]++;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

enum slot_proto judge_flood_proto(const struct slot_outside *o)
{
	enum slot_proto best = SLOT_PROTO_TCP;

	for (int k = 1; k < SLOT_PROTO__COUNT; k++)
		if (o->proto_packets[k] > o->proto_packets[best])
			best = (enum slot_proto)k;
	return best;
}

const char *judge_flood_signal_name(enum judge_flood_signal sg)
{
	switch (sg) {
	case JUDGE_FLOOD_VOLUME:
		return "volume";
	case JUDGE_FLOOD_RATE:
		return "rate";
	case JUDGE_FLOOD_SYN:
		return "synFlood";
	default:
		return "";
	}
}

/*
 * The flood rule (docs/judge.md): at most flood_max_targets inside IPs and
 * enough packets (min_packets) in any case; then, first that holds: the
 * slot's volume, or the rate over the active time, each with little
 * answered; or half-open TCP (SYN, never ACK) packets and rate, answered or
 * not. The active time is from the earliest first-switched to the latest
 * last-switched of the started conversations' ingress, counted as at least
 * flood_min_seconds, so one short record is not a huge rate.
 */
void judge_flood_figures(const struct slot_view *v, const struct slot_outside *o,
                         struct judge_flood *out)
{
	const struct site_thresholds *th = &v->site->th;
	uint64_t pk_in = o->started_in.packets;
	double span = o->started_first ? (double)(o->started_last - o->started_first) : 0.0;

	out->signal = JUDGE_FLOOD_NONE;
	out->seconds = span > th->flood_min_seconds ? span : (double)th->flood_min_seconds;
	if (out->seconds < 1.0)
		out->seconds = 1.0;
	out->rate = (double)pk_in / out->seconds;
	out->half_open_rate = (double)o->half_open.packets / out->seconds;
	if (o->started_targets == 0 || o->started_targets > th->flood_max_targets ||
	    pk_in < th->min_packets)
		return;
	bool quiet = ratio(o->started_back.packets, pk_in) <= th->flood_max_answer;
	if (quiet && pk_in >= th->flood_min_packets)
		out->signal = JUDGE_FLOOD_VOLUME;
	else if (quiet && out->rate >= th->flood_min_pps)
		out->signal = JUDGE_FLOOD_RATE;
	else if (o->half_open_targets && o->half_open.packets >= th->synflood_min_packets &&
	         out->half_open_rate >= th->synflood_min_pps)
		out->signal = JUDGE_FLOOD_SYN;
}

/* Size of a refusal (RST 40, SYN-ACK up to 60, ICMP unreachable 56 bytes). */
#define REFUSAL_MAX_AVG 60.0

/*
 * A probe: a conversation o started whose packets in average at most
 * scan_probe_max_avg bytes and that got nothing back, or packets no larger
 * than o's (or than a refusal): SYNs answered by RST or SYN-ACK, UDP or ICMP
 * probes answered by nothing or an unreachable. A client's request gets
 * larger answers (web pages, DNS answers), so a busy client of a few
 * servers probes none of them.
 */
static bool pair_is_probe(const struct site_thresholds *th, const struct slot_pair *p)
{
	if (!p->ingress.packets || (!p->o_started && p->egress.flows))
		return false;
	double in_avg = ratio(p->ingress.octets, p->ingress.packets);
	if (in_avg > th->scan_probe_max_avg)
		return false;
	if (!p->egress.packets)
		return true;
	double out_avg = ratio(p->egress.octets, p->egress.packets);
	return out_avg <= (in_avg > REFUSAL_MAX_AVG ? in_avg : REFUSAL_MAX_AVG);
}

void judge_scan_probes(const struct slot_view *v, const struct slot_outside *o, uint32_t *probed,
                       uint32_t *silent)
{
	const struct site_thresholds *th = &v->site->th;

	*probed = *silent = 0;
	for (uint32_t k = 0; k < o->pair_count; k++) {
		const struct slot_pair *p = &v->pairs[v->pairs_by_outside[o->pair_first + k]];
		if (!pair_is_probe(th, p))
			continue;
		(*probed)++;
		*silent += !v->inside[p->inside].active;
	}
}

bool judge_arp_unused_pair(const struct slot_view *v, const struct slot_pair *p,
                           const struct judge_l2 *l2)
{
	const struct slot_inside *in = &v->inside[p->inside];

	if (!l2 || !p->ingress.flows)
		return false;
	/* Started by the outside IP (one-way counts), to an address silent all slot. */
	if (in->active || (!p->o_started && p->egress.flows))
		return false;
	if (!l2->arp)
		return l2->unresolved && l2->unresolved(l2->ud, &in->addr);
	struct judge_arp a;
	l2->arp(l2->ud, v->site, &in->addr, &a);
	/* Deleted alone is not evidence: an entry aging out says nothing of now. */
	return a.incomplete_gw && !a.resolved && a.min_age_s >= 0 &&
	       a.min_age_s <= (int64_t)v->site->th.arp_max_age;
}

/* Inside IPs o reached that are arpUnused evidence against it. */
static uint32_t arp_unused_touched(const struct slot_view *v, const struct slot_outside *o,
                                   const struct judge_l2 *l2)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < o->pair_count; k++) {
		const struct slot_pair *p = &v->pairs[v->pairs_by_outside[o->pair_first + k]];
		n += judge_arp_unused_pair(v, p, l2);
	}
	return n;
}

/*
 * Append vd's labels to v's label array and point *first at them; the array
 * doubles from 64 when full. On -ENOMEM nothing is changed.
 */
static int verdict_store(struct slot_view *v, const struct verdict *vd, uint32_t *first)
{
	size_t need;

	/* label_first is 32 bits: more labels than that cannot be referred to. */
	if (__builtin_add_overflow(v->n_labels, vd->n, &need) ||
	    grow_array((void **)&v->labels, &v->cap_labels, need, sizeof(*v->labels), 64,
	               UINT32_MAX) != 0)
		return -ENOMEM;
	memcpy(v->labels + v->n_labels, vd->v, vd->n * sizeof(*vd->v));
	*first = (uint32_t)v->n_labels;
	v->n_labels = need;
	return 0;
}

/* Rule I: an outside IP, over the conversations it started. */
static void judge_outside(const struct slot_view *v, struct slot_outside *o,
                          const struct judge_l2 *l2, struct verdict *vd, struct judge_result *res)
{
	const struct site_thresholds *th = &v->site->th;
	uint64_t pk_in = o->started_in.packets, pk_back = o->started_back.packets;
	uint64_t pk_both = pk_in + pk_back;

	if (o->started_targets > 0 && pk_in >= th->min_packets) {
		double avg = ratio(o->started_in.octets + o->started_back.octets, pk_both);
		if (avg <= th->nopayload_max_avg)
			verdict_add(vd, JUDGE_NOPAYLOAD, avg, th->nopayload_max_avg, res);
	}
	struct judge_flood fl;
	judge_flood_figures(v, o, &fl);
	if (fl.signal == JUDGE_FLOOD_VOLUME)
		verdict_add(vd, JUDGE_FLOOD, (double)pk_in, (double)th->flood_min_packets, res);
	else if (fl.signal == JUDGE_FLOOD_RATE)
		verdict_add(vd, JUDGE_FLOOD, fl.rate, th->flood_min_pps, res);
	else if (fl.signal == JUDGE_FLOOD_SYN)
		verdict_add(vd, JUDGE_FLOOD, (double)o->half_open.packets,
		            (double)th->synflood_min_packets, res);

	/*
	 * Scan: probed over scan_min_share of the active inside IPs (and at
	 * least scan_min_targets), or scan_min_unused silent ones. The pairs
	 * are read only when the started conversations could reach either.
	 */
	double need = th->scan_min_share * (double)v->n_active;
	if (need < th->scan_min_targets)
		need = th->scan_min_targets;
	if (o->started_targets > 0 && pk_in >= th->min_packets &&
	    ((double)o->started_targets >= need || o->started_targets >= th->scan_min_unused)) {
		uint32_t probed, silent;
		judge_scan_probes(v, o, &probed, &silent);
		if ((double)probed >= need)
			verdict_add(vd, JUDGE_SCAN, probed, need, res);
		else if (silent >= th->scan_min_unused)
			verdict_add(vd, JUDGE_SCAN, silent, th->scan_min_unused, res);
	}
	if (o->in_c && o->touch_unused >= th->probe_min_targets)
		verdict_add(vd, JUDGE_PROBEUNUSED, o->touch_unused, th->probe_min_targets, res);
	if (l2 && (l2->arp || l2->unresolved)) {
		uint32_t n = arp_unused_touched(v, o, l2);
		if (n)
			verdict_add(vd, JUDGE_ARPUNUSED, n, 1, res);
	}
	/* Any rule I label makes it an offender; example 2 alone already did. */
	if (vd->n)
		o->in_c = true;
	if (o->in_c)
		res->offenders++;
}

/*
 * The inside IP as a victim (underAttack): a large volume it did not answer
 * (or half-open SYNs) from many outside IPs, each of which may stay below
 * the flood rule. Active or not: a host flooded off the network sends
 * nothing.
 */
static void judge_victim(const struct site_config *site, const struct slot_inside *in,
                         struct verdict *vd, struct judge_result *res)
{
	const struct site_thresholds *th = &site->th;

	if (in->flooded.packets >= th->attack_min_packets &&
	    in->flooded_peers >= th->attack_min_sources)
		verdict_add(vd, JUDGE_UNDERATTACK, (double)in->flooded.packets,
		            (double)th->attack_min_packets, res);
}

/*
 * Layer 2 on an inside IP (METHOD §8): shown only with MAC zero (zeroMac);
 * active, yet not resolved on a gateway polled in the slot (arpMissing).
 */
static void judge_inside_l2(const struct slot_view *v, const struct slot_inside *in,
                            const struct judge_l2 *l2, struct verdict *vd, struct judge_result *res)
{
	struct judge_arp a;

	if (!l2 || !l2->arp)
		return;
	l2->arp(l2->ud, v->site, &in->addr, &a);
	if (in->active && in->egress.packets && a.gateway_polled && !a.resolved_gw)
		verdict_add(vd, JUDGE_ARPMISSING, 0, 1, res); /* resolved entries: 0, need 1 */
	if (a.zero_mac)
		verdict_add(vd, JUDGE_ZEROMAC, a.devices, 1, res);
}

/* Rule II: an inside IP. */
static void judge_inside(const struct site_config *site, const struct slot_inside *in,
                         struct verdict *vd, struct judge_result *res)
{
	const struct site_thresholds *th = &site->th;
	const struct slot_totals *e = &in->egress, *i = &in->ingress;

	if (!in->active)
		return;
	if (in->peer_cap_hit && !in->allowed)
		verdict_add(vd, JUDGE_FANOUT, in->peers, site->peer_cap, res);
	if (e->packets < th->inside_min_packets)
		return;

	double avg_both = ratio(e->octets + i->octets, e->packets + i->packets);
	if (e->octets >= th->p2p_min_octets && i->octets >= th->p2p_min_octets &&
	    avg_both <= th->p2p_max_avg && in->peers >= th->p2p_min_peers && !in->allowed)
		verdict_add(vd, JUDGE_P2P, in->peers, th->p2p_min_peers, res);

	double avg_out = ratio(e->octets, e->packets);
	double back = ratio(i->octets, e->octets);
	if (in->peers >= th->scanout_min_peers && avg_out <= th->scanout_max_avg &&
	    back <= th->scanout_max_return)
		verdict_add(vd, JUDGE_SCANOUT, in->peers, th->scanout_min_peers, res);

	double back_pk = ratio(i->packets, e->packets);
	if (e->packets >= th->floodout_min_packets && in->peers <= th->floodout_max_peers &&
	    back_pk <= th->floodout_max_return)
		verdict_add(vd, JUDGE_FLOODOUT, (double)e->packets,
		            (double)th->floodout_min_packets, res);
}

int judge_slot(struct slot_view *v, struct judge_result *res)
{
	return judge_slot_l2(v, NULL, res);
}

/* Every entry unlabelled, the label array empty (its memory kept). */
static void labels_clear(struct slot_view *v)
{
	for (size_t k = 0; k < v->n_inside; k++) {
		v->inside[k].n_labels = 0;
		v->inside[k].label_first = 0;
	}
	for (size_t k = 0; k < v->n_outside; k++) {
		v->outside[k].n_labels = 0;
		v->outside[k].label_first = 0;
	}
	v->n_labels = 0;
}

int judge_slot_l2(struct slot_view *v, const struct judge_l2 *l2, struct judge_result *res)
{
	struct verdict vd;
	int rc;

	memset(res, 0, sizeof(*res));
	/* Judged again, the array starts over; every entry's fields are rewritten below. */
	v->n_labels = 0;
	for (size_t k = 0; k < v->n_inside; k++) {
		struct slot_inside *in = &v->inside[k];
		vd.n = 0;
		judge_inside(v->site, in, &vd, res);
		judge_victim(v->site, in, &vd, res);
		judge_inside_l2(v, in, l2, &vd, res);
		in->n_labels = vd.n;
		in->label_first = 0;
		if (vd.n && (rc = verdict_store(v, &vd, &in->label_first)) != 0)
			goto fail;
	}
	for (size_t k = 0; k < v->n_outside; k++) {
		struct slot_outside *o = &v->outside[k];
		vd.n = 0;
		/* in_c from example 2 is the slot's; a label only adds to it. */
		judge_outside(v, o, l2, &vd, res);
		o->n_labels = vd.n;
		o->label_first = 0;
		if (vd.n && (rc = verdict_store(v, &vd, &o->label_first)) != 0)
			goto fail;
	}
	return 0;

fail:
	/* The entries after this one still point at an earlier judgement's labels. */
	labels_clear(v);
	memset(res, 0, sizeof(*res));
	return rc;
}
