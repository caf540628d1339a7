/*
 * doc: JSON documents of a judged slot, built with jansson. See doc.h and
 * docs/documents.md.
 */
#include "nfsentry/doc.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const proto_names[SLOT_PROTO__COUNT] = {"tcp", "udp", "icmp", "other"};

void doc_timestamp(int64_t time_slot, char *buf, size_t len)
{
	time_t t = (time_t)(time_slot * SLOT_SECONDS);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *ip_json(const struct flow_addr *a)
{
	char buf[64];

	flow_addr_format(a, buf, sizeof(buf));
	return json_string(buf);
}

static void set_u64(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)(v > INT64_MAX ? INT64_MAX : v)));
}

static void set_totals(json_t *o, const char *prefix, const struct slot_totals *t)
{
	char k[64];

	if (!*prefix) {
		set_u64(o, "flows", t->flows);
		set_u64(o, "packets", t->packets);
		set_u64(o, "octets", t->octets);
		return;
	}
	snprintf(k, sizeof(k), "%sFlows", prefix);
	set_u64(o, k, t->flows);
	snprintf(k, sizeof(k), "%sPackets", prefix);
	set_u64(o, k, t->packets);
	snprintf(k, sizeof(k), "%sOctets", prefix);
	set_u64(o, k, t->octets);
}

static json_t *totals_obj(const struct slot_totals *t)
{
	json_t *o = json_object();
	set_totals(o, "", t);
	return o;
}

static double avg(uint64_t octets, uint64_t packets)
{
	return packets ? (double)octets / (double)packets : 0.0;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static json_t *base(const struct slot_view *v, const char *kind, const char *ts)
{
	json_t *o = json_object();

	json_object_set_new(o, "kind", json_string(kind));
	json_object_set_new(o, "site", json_string(v->site->name));
	json_object_set_new(o, "timeSlot", json_integer(v->time_slot));
	json_object_set_new(o, "@timestamp", json_string(ts));
	return o;
}

/* The reason object of one label: figure, threshold and the context. */
static json_t *reason_outside(const struct slot_view *v, const struct slot_outside *o,
                              const struct slot_label *l, const struct judge_l2 *l2)
{
	json_t *r = json_object();
	uint64_t pk = o->started_in.packets + o->started_back.packets;

	json_object_set_new(r, "value", json_real(l->value));
	json_object_set_new(r, "threshold", json_real(l->threshold));
	switch ((enum judge_label)l->id) {
	case JUDGE_NOPAYLOAD:
		json_object_set_new(r, "avgPacketBytes",
		                    json_real(avg(o->started_in.octets + o->started_back.octets, pk)));
		set_u64(r, "packets", pk);
		set_u64(r, "octets", o->started_in.octets + o->started_back.octets);
		break;
	case JUDGE_FLOOD:
		set_u64(r, "packets", o->started_in.packets);
		set_u64(r, "octets", o->started_in.octets);
		set_u64(r, "targets", o->started_targets);
		json_object_set_new(r, "answeredRatio",
		                    json_real(ratio(o->started_back.packets, o->started_in.packets)));
		json_object_set_new(r, "protocol", json_string(proto_names[judge_flood_proto(o)]));
		break;
	case JUDGE_SCAN:
		set_u64(r, "startedTargets", o->started_targets);
		set_u64(r, "activeInside", v->n_active);
		json_object_set_new(r, "minShare", json_real(v->site->th.scan_min_share));
		break;
	case JUDGE_PROBEUNUSED:
		set_u64(r, "unusedTouched", o->touch_unused);
		set_u64(r, "packets", o->unused.packets);
		break;
	case JUDGE_ARPUNUSED: {
		/* The inside IPs it reached that nobody answered ARP for. */
		json_t *ips = json_array();
		uint64_t touched_pk = 0;
		for (uint32_t k = 0; l2 && l2->unresolved && k < o->pair_count; k++) {
			const struct slot_pair *p = &v->pairs[v->pairs_by_outside[o->pair_first + k]];
			if (!p->ingress.flows ||
			    !l2->unresolved(l2->ud, &v->inside[p->inside].addr))
				continue;
			json_array_append_new(ips, ip_json(&v->inside[p->inside].addr));
			touched_pk += p->ingress.packets;
		}
		json_object_set_new(r, "ipList", ips);
		set_u64(r, "packets", touched_pk);
		break;
	}
	default:
		break;
	}
	return r;
}

static json_t *reason_inside(const struct slot_view *v, const struct slot_inside *in,
                             const struct slot_label *l)
{
	json_t *r = json_object();
	const struct slot_totals *e = &in->egress, *i = &in->ingress;

	json_object_set_new(r, "value", json_real(l->value));
	json_object_set_new(r, "threshold", json_real(l->threshold));
	switch ((enum judge_label)l->id) {
	case JUDGE_FANOUT:
		set_u64(r, "peers", in->peers);
		set_u64(r, "peerCap", v->site->peer_cap);
		break;
	case JUDGE_P2P:
		set_u64(r, "peers", in->peers);
		set_u64(r, "octetsOut", e->octets);
		set_u64(r, "octetsIn", i->octets);
		json_object_set_new(r, "avgPacketBytes",
		                    json_real(avg(e->octets + i->octets, e->packets + i->packets)));
		break;
	case JUDGE_SCANOUT:
		set_u64(r, "peers", in->peers);
		set_u64(r, "answeredPeers", in->answered_peers);
		json_object_set_new(r, "avgPacketBytesOut", json_real(avg(e->octets, e->packets)));
		json_object_set_new(r, "returnRatio", json_real(ratio(i->octets, e->octets)));
		break;
	case JUDGE_FLOODOUT:
		set_u64(r, "packetsOut", e->packets);
		set_u64(r, "packetsIn", i->packets);
		set_u64(r, "peers", in->peers);
		break;
	default:
		break;
	}
	return r;
}

static void set_verdict(json_t *o, const struct slot_verdict *vd, json_t *reasons)
{
	json_t *labels = json_array();

	for (unsigned k = 0; k < vd->n; k++)
		json_array_append_new(labels, json_string(judge_label_name(vd->v[k].id)));
	json_object_set_new(o, "labels", labels);
	json_object_set_new(o, "reasons", reasons);
}

/* Serialise o into the batch (takes the reference). */
static int emit(struct doc_batch *b, const char *kind, const char *key, json_t *o)
{
	if (!o)
		return -ENOMEM;
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 256;
		struct doc *nv = realloc(b->v, ncap * sizeof(*nv));
		if (!nv) {
			json_decref(o);
			return -ENOMEM;
		}
		b->v = nv;
		b->cap = ncap;
	}
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!s)
		return -ENOMEM;
	struct doc *d = &b->v[b->n++];
	d->kind = kind;
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->json = s;
	d->len = strlen(s);
	return 0;
}

static int inside_doc(const struct slot_view *v, const struct slot_inside *in, const char *ts,
                      const struct judge_l2 *l2, struct doc_batch *b)
{
	char ip[64];
	json_t *o = base(v, "inside", ts);

	flow_addr_format(&in->addr, ip, sizeof(ip));
	json_object_set_new(o, "ip", json_string(ip));
	set_totals(o, "", &in->egress);
	set_totals(o, "in", &in->ingress);
	set_u64(o, "unansweredFlows", in->unanswered.flows);
	set_u64(o, "unansweredPackets", in->unanswered.packets);
	set_u64(o, "peers", in->peers);
	set_u64(o, "answeredPeers", in->answered_peers);
	json_object_set_new(o, "peerCapHit", json_boolean(in->peer_cap_hit));
	json_t *peers = json_array();
	for (uint32_t k = 0, kept = 0; k < in->pair_count && kept < in->peers_kept; k++) {
		const struct slot_pair *p = &v->pairs[v->pairs_by_inside[in->pair_first + k]];
		if (!p->egress.flows)
			continue;
		json_array_append_new(peers, ip_json(&v->outside[p->outside].addr));
		kept++;
	}
	json_object_set_new(o, "arrayPeer", peers);
	json_object_set_new(o, "allowListed", json_boolean(in->allowed));
	if (l2 && l2->inside_fields)
		l2->inside_fields(l2->ud, &in->addr, o);
	json_t *reasons = json_object();
	for (unsigned k = 0; k < in->verdict.n; k++)
		json_object_set_new(reasons, judge_label_name(in->verdict.v[k].id),
		                    reason_inside(v, in, &in->verdict.v[k]));
	set_verdict(o, &in->verdict, reasons);
	return emit(b, "inside", ip, o);
}

/* The inside IPs an outside IP is linked to, capped at the site's peer cap. */
static json_t *outside_peers(const struct slot_view *v, const struct slot_outside *o, bool egress,
                             uint32_t *n_out)
{
	json_t *a = json_array();
	uint32_t cap = v->site->peer_cap ? v->site->peer_cap : UINT32_MAX, n = 0;

	for (uint32_t k = 0; k < o->pair_count && n < cap; k++) {
		const struct slot_pair *p = &v->pairs[v->pairs_by_outside[o->pair_first + k]];
		if (egress ? !p->egress.flows : !p->ingress.flows)
			continue;
		json_array_append_new(a, ip_json(&v->inside[p->inside].addr));
		n++;
	}
	if (n_out)
		*n_out = n;
	return a;
}

static json_t *outside_reasons(const struct slot_view *v, const struct slot_outside *o,
                               const struct judge_l2 *l2)
{
	json_t *reasons = json_object();

	for (unsigned k = 0; k < o->verdict.n; k++)
		json_object_set_new(reasons, judge_label_name(o->verdict.v[k].id),
		                    reason_outside(v, o, &o->verdict.v[k], l2));
	return reasons;
}

static int outside_doc(const struct slot_view *v, const struct slot_outside *o, const char *ts,
                       const struct judge_l2 *l2, struct doc_batch *b)
{
	char ip[64];
	json_t *d = base(v, "outside", ts);

	flow_addr_format(&o->addr, ip, sizeof(ip));
	json_object_set_new(d, "ip", json_string(ip));
	set_totals(d, "", &o->to);
	set_totals(d, "from", &o->from);
	set_u64(d, "touchPeers", o->refs);
	json_object_set_new(d, "arrayPeer", outside_peers(v, o, true, NULL));
	set_u64(d, "startedTargets", o->started_targets);
	set_u64(d, "unansweredFlows", o->unanswered_flows);
	json_object_set_new(d, "offender", json_boolean(o->in_c));
	set_verdict(d, &o->verdict, outside_reasons(v, o, l2));
	return emit(b, "outside", ip, d);
}

static int offender_doc(const struct slot_view *v, const struct slot_outside *o, const char *ts,
                        const struct judge_l2 *l2, struct doc_batch *b)
{
	char ip[64];
	json_t *d = base(v, "offender", ts);
	uint32_t touched = 0;

	flow_addr_format(&o->addr, ip, sizeof(ip));
	json_object_set_new(d, "ip", json_string(ip));
	set_totals(d, "", &o->from);
	json_t *list = outside_peers(v, o, false, &touched);
	set_u64(d, "touchPeers", touched);
	set_u64(d, "unusedTouched", o->touch_unused);
	set_totals(d, "unused", &o->unused);
	set_u64(d, "startedTargets", o->started_targets);
	json_object_set_new(d, "protocol", json_string(proto_names[judge_flood_proto(o)]));
	json_object_set_new(d, "ipList", list);
	set_verdict(d, &o->verdict, outside_reasons(v, o, l2));
	return emit(b, "offender", ip, d);
}

static int slot_doc(const struct slot_view *v, const struct judge_result *jr,
                    const struct doc_health *h, const char *ts, struct doc_batch *b)
{
	json_t *d = base(v, "slot", ts);
	const struct slot_summary *s = &v->sum;

	set_u64(d, "records", s->egress.flows + s->ingress.flows + s->internal.flows);
	json_object_set_new(d, "egress", totals_obj(&s->egress));
	json_object_set_new(d, "ingress", totals_obj(&s->ingress));
	json_object_set_new(d, "internal", totals_obj(&s->internal));
	set_u64(d, "insideActive", v->n_active);
	set_u64(d, "insideSeen", v->n_inside);
	set_u64(d, "outsideSeen", v->n_outside);
	set_u64(d, "conversations", v->n_pairs);
	set_u64(d, "offenders", jr->offenders);
	json_t *labels = json_object();
	for (int k = 0; k < JUDGE__COUNT; k++)
		set_u64(labels, judge_label_name((enum judge_label)k), jr->labels[k]);
	json_object_set_new(d, "labels", labels);
	set_u64(d, "lateRecords", s->late_records);
	set_u64(d, "futureRecords", s->future_records);
	json_t *caps = json_object();
	set_u64(caps, "inside", s->caps_hit.inside);
	set_u64(caps, "outside", s->caps_hit.outside);
	set_u64(caps, "pairs", s->caps_hit.pairs);
	json_object_set_new(d, "capsHit", caps);
	json_t *col = json_object();
	for (size_t k = 0; h && k < h->n; k++)
		set_u64(col, h->v[k].name, h->v[k].value);
	json_object_set_new(d, "collector", col);
	return emit(b, "slot", "summary", d);
}

static uint64_t outside_octets(const struct slot_outside *o)
{
	return o->to.octets + o->from.octets;
}

static int octets_desc(const void *a, const void *b)
{
	const struct slot_outside *p = *(const struct slot_outside *const *)a;
	const struct slot_outside *q = *(const struct slot_outside *const *)b;
	uint64_t x = outside_octets(p), y = outside_octets(q);

	if (x != y)
		return x > y ? -1 : 1;
	return memcmp(p->addr.b, q->addr.b, 16);
}

static int ptr_addr_cmp(const void *a, const void *b)
{
	const struct slot_outside *p = *(const struct slot_outside *const *)a;
	const struct slot_outside *q = *(const struct slot_outside *const *)b;
	return memcmp(p->addr.b, q->addr.b, 16);
}

int doc_slot_build(const struct slot_view *v, const struct judge_result *jr,
                   const struct doc_opts *opts, const struct doc_health *health,
                   struct doc_batch *out)
{
	return doc_slot_build_l2(v, jr, opts, health, NULL, out);
}

int doc_slot_build_l2(const struct slot_view *v, const struct judge_result *jr,
                      const struct doc_opts *opts, const struct doc_health *health,
                      const struct judge_l2 *l2, struct doc_batch *out)
{
	char ts[32];
	int rc;

	doc_timestamp(v->time_slot, ts, sizeof(ts));
	rc = slot_doc(v, jr, health, ts, out);
	for (size_t k = 0; rc == 0 && k < v->n_inside; k++)
		if (v->inside[k].active)
			rc = inside_doc(v, &v->inside[k], ts, l2, out);
	if (rc)
		return rc;

	/* Outside: B plus one-way senders; all, or labelled + top N by octets. */
	const struct slot_outside **sel = malloc((v->n_outside ? v->n_outside : 1) * sizeof(*sel));
	if (!sel)
		return -ENOMEM;
	size_t n = 0;
	for (size_t k = 0; k < v->n_outside; k++)
		sel[n++] = &v->outside[k];
	if (!opts->outside_all && n > opts->outside_top) {
		qsort(sel, n, sizeof(*sel), octets_desc);
		size_t keep = opts->outside_top;
		for (size_t k = keep; k < n; k++)
			if (sel[k]->verdict.n)
				sel[keep++] = sel[k];
		n = keep;
		qsort(sel, n, sizeof(*sel), ptr_addr_cmp);
	}
	for (size_t k = 0; rc == 0 && k < n; k++)
		rc = outside_doc(v, sel[k], ts, l2, out);
	free(sel);
	for (size_t k = 0; rc == 0 && k < v->n_outside; k++)
		if (v->outside[k].in_c)
			rc = offender_doc(v, &v->outside[k], ts, l2, out);
	return rc;
}

void doc_batch_free(struct doc_batch *b)
{
	for (size_t k = 0; k < b->n; k++)
		free(b->v[k].json);
	free(b->v);
	memset(b, 0, sizeof(*b));
}
