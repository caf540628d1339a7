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

/*
 * Inside IPs that o's ingress reached and that the site's ARP shows
 * unresolved: someone outside tried an address no machine answers for.
 */
static uint32_t arp_unused_touched(const struct slot_view *v, const struct slot_outside *o,
                                   const struct judge_l2 *l2)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < o->pair_count; k++) {
		const struct slot_pair *p = &v->pairs[v->pairs_by_outside[o->pair_first + k]];
		if (p->ingress.flows && l2->unresolved(l2->ud, &v->inside[p->inside].addr))
			n++;
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

		double answered = ratio(pk_back, pk_in);
		if (o->started_targets <= th->flood_max_targets && pk_in >= th->flood_min_packets &&
		    answered <= th->flood_max_answer)
			verdict_add(vd, JUDGE_FLOOD, (double)pk_in, (double)th->flood_min_packets,
			            res);

		double need = th->scan_min_share * (double)v->n_active;
		if (need < th->scan_min_targets)
			need = th->scan_min_targets;
		if ((double)o->started_targets >= need)
			verdict_add(vd, JUDGE_SCAN, (double)o->started_targets, need, res);
	}
	if (o->in_c && o->touch_unused >= th->probe_min_targets)
		verdict_add(vd, JUDGE_PROBEUNUSED, o->touch_unused, th->probe_min_targets, res);
	if (l2 && l2->unresolved) {
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
