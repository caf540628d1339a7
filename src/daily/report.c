/*
 * daily report: a day's result as JSON lines, as `daily` documents in the
 * store, and as the plain-text report a site administrator reads
 * (daily.h, docs/daily.md). Not this file's job: the analysis (daily.c).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/daily.h"
#include "nfsentry/l2.h"
#include "nfsentry/store.h"

static const char *const how_names[] = {"started", "answered", "received"};

static void slot_time(int64_t ts, char *buf, size_t len)
{
	time_t t = (time_t)(ts * STORE_SLOT_SECONDS);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *addr_json(const struct flow_addr *a)
{
	char buf[64];
	flow_addr_format(a, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *base_json(const struct daily_result *r, const char *kind)
{
	char ts[32];
	time_t t = (time_t)r->day.start_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", kind, "site", r->site, "date",
	                 r->day.date, "timeZone", r->tz, "@timestamp", ts);
}

static json_t *suspect_json(const struct daily_result *r, const struct daily_suspect *sp,
                            const char *kind)
{
	json_t *o = base_json(r, kind), *cs = json_array();
	char a[32], b[32];

	if (!o || !cs) {
		json_decref(o);
		json_decref(cs);
		return NULL;
	}
	json_object_set_new(o, "ip", addr_json(&sp->ip));
	for (uint32_t k = 0; k < sp->n_contacts; k++) {
		const struct daily_contact *c = &sp->contacts[k];
		slot_time(c->first_slot, a, sizeof(a));
		slot_time(c->last_slot, b, sizeof(b));
		json_array_append_new(cs, json_pack("{s:o, s:s, s:b, s:b, s:b, s:I, s:s, s:s}",
		                                    "ip", addr_json(&c->ip), "how",
		                                    how_names[c->how], "offender", c->offender,
		                                    "offenderDay", c->offender_day, "offenderDb",
		                                    c->offender_db, "slots", (json_int_t)c->slots,
		                                    "first", a, "last", b));
	}
	json_object_set_new(o, "outsideIps", json_integer(sp->n_contacts));
	json_object_set_new(o, "contacts", cs);
	json_object_set_new(o, "contactSlots", json_integer(sp->contact_slots));
	json_object_set_new(o, "flows", json_integer((json_int_t)sp->flows));
	json_object_set_new(o, "packets", json_integer((json_int_t)sp->packets));
	json_object_set_new(o, "octets", json_integer((json_int_t)sp->octets));
	json_object_set_new(o, "inFlows", json_integer((json_int_t)sp->in_flows));
	json_object_set_new(o, "inPackets", json_integer((json_int_t)sp->in_packets));
	json_object_set_new(o, "inOctets", json_integer((json_int_t)sp->in_octets));
	slot_time(sp->first_slot, a, sizeof(a));
	slot_time(sp->last_slot, b, sizeof(b));
	json_object_set_new(o, "first", json_string(a));
	json_object_set_new(o, "last", json_string(b));
	json_object_set_new(o, "meanGapSlots", json_real(sp->mean_gap_slots));
	json_object_set_new(o, "gapCv", sp->gap_cv >= 0 ? json_real(sp->gap_cv) : json_null());
	json_object_set_new(o, "beacon", json_boolean(sp->beacon));
	json_object_set_new(o, "receivedOnly", json_boolean(sp->received_only));
	json_object_set_new(o, "offender", json_boolean(false));
	for (uint32_t k = 0; k < sp->n_contacts; k++)
		if (sp->contacts[k].offender)
			json_object_set_new(o, "offender", json_true());
	return o;
}

static json_t *mac_json(const struct daily_result *r, const struct daily_mac *m, const char *kind)
{
	json_t *o = base_json(r, kind), *ips = json_array(), *pl = json_array();
	char mac[32], a[32], b[32];

	if (!o || !ips || !pl) {
		json_decref(o);
		json_decref(ips);
		json_decref(pl);
		return NULL;
	}
	l2_mac_format(m->mac, mac, sizeof(mac));
	json_object_set_new(o, "mac", json_string(mac));
	for (uint32_t k = 0; k < m->n_ips; k++) {
		slot_time(m->ips[k].first_slot, a, sizeof(a));
		slot_time(m->ips[k].last_slot, b, sizeof(b));
		json_array_append_new(ips,
		                      json_pack("{s:o, s:s, s:s}", "ip", addr_json(&m->ips[k].ip),
		                                "first", a, "last", b));
	}
	for (uint32_t k = 0; k < m->n_places; k++)
		json_array_append_new(pl, json_string(m->places[k]));
	json_object_set_new(o, "ipCount", json_integer(m->n_ips + m->ips_dropped));
	json_object_set_new(o, "ips", ips);
	json_object_set_new(o, "places", pl);
	return o;
}

static json_t *summary_json(const struct daily_result *r, const char *kind)
{
	json_t *o = base_json(r, kind), *lab = json_object(), *off = json_array();

	if (!o || !lab || !off) {
		json_decref(o);
		json_decref(lab);
		json_decref(off);
		return NULL;
	}
	json_object_set_new(o, "partial", json_boolean(r->partial));
	json_object_set_new(o, "slotsExpected", json_integer(r->day.n_slots));
	json_object_set_new(o, "slotsPresent", json_integer(r->slots_present));
	json_object_set_new(o, "slotsPartial", json_integer(r->slots_partial));
	json_object_set_new(o, "ccSuspects", json_integer((json_int_t)r->n_suspects));
	json_object_set_new(o, "ccSuspectsDropped", json_integer((json_int_t)r->suspects_dropped));
	json_object_set_new(o, "macMultiIp", json_integer((json_int_t)r->n_macs));
	json_object_set_new(o, "offenders", json_integer((json_int_t)r->offenders_day));
	json_object_set_new(o, "offenderDb", json_boolean(r->reputation_read));
	for (size_t k = 0; k < r->n_labels; k++)
		json_object_set_new(lab, r->label_names[k], json_integer((json_int_t)r->labels[k]));
	json_object_set_new(o, "labels", lab);
	for (size_t k = 0; k < r->n_offenders; k++) {
		const struct daily_offender *e = &r->offenders[k];
		json_array_append_new(
		    off, json_pack("{s:o, s:I, s:I, s:I, s:s}", "ip", addr_json(&e->ip), "slots",
		                   (json_int_t)e->slots, "packets", (json_int_t)e->packets,
		                   "maxTargets", (json_int_t)e->max_targets, "labels", e->labels));
	}
	json_object_set_new(o, "topOffenders", off);
	json_object_set_new(o, "insideIps", json_integer((json_int_t)r->inside_ips));
	json_object_set_new(o, "capsHit",
	                    json_pack("{s:I, s:I, s:I}", "inside", (json_int_t)r->inside_dropped,
	                              "outside", (json_int_t)r->outside_dropped, "macs",
	                              (json_int_t)r->macs_dropped));
	return o;
}

static int put_line(json_t *o, FILE *out)
{
	if (!o)
		return -ENOMEM;
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!s)
		return -ENOMEM;
	int rc = fprintf(out, "%s\n", s) < 0 ? -EIO : 0;
	free(s);
	return rc;
}

int daily_result_ndjson(const struct daily_result *r, FILE *out)
{
	int rc = 0;
	for (size_t k = 0; rc == 0 && k < r->n_suspects; k++)
		rc = put_line(suspect_json(r, &r->suspects[k], "ccSuspect"), out);
	for (size_t k = 0; rc == 0 && k < r->n_macs; k++)
		rc = put_line(mac_json(r, &r->macs[k], "macMultiIp"), out);
	if (rc == 0)
		rc = put_line(summary_json(r, "dailySummary"), out);
	return rc;
}

/* ---- the stored documents -------------------------------------------------- */

void daily_store_site(const char *site, char *buf, size_t len)
{
	snprintf(buf, len, "%s@daily", site);
}

struct docs {
	struct store_doc *v;
	char **text;
	char (*keys)[STORE_KEY_MAX];
	size_t n;
};

static int doc_add(struct docs *d, json_t *o, const char *finding, const char *key)
{
	if (!o)
		return -ENOMEM;
	/* kind "daily", with what was found in "finding" (docs/daily.md "Stored"). */
	json_object_set_new(o, "finding", json_string(finding));
	json_object_set_new(o, "kind", json_string("daily"));
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!s)
		return -ENOMEM;
	d->text[d->n] = s;
	snprintf(d->keys[d->n], STORE_KEY_MAX, "%s", key);
	d->v[d->n] = (struct store_doc){"daily", d->keys[d->n], s, strlen(s)};
	d->n++;
	return 0;
}

int daily_store_write(struct store *s, const struct daily_result *r)
{
	size_t max = r->n_suspects + r->n_macs + 1;
	struct docs d = {calloc(max, sizeof(*d.v)), calloc(max, sizeof(char *)),
	                 calloc(max, sizeof(*d.keys)), 0};
	char site[STORE_SITE_MAX + 8], key[STORE_KEY_MAX], ip[64];
	int rc = 0;

	if (!d.v || !d.text || !d.keys)
		rc = -ENOMEM;
	if (rc == 0)
		rc = doc_add(&d, summary_json(r, "daily"), "summary", "summary");
	for (size_t k = 0; rc == 0 && k < r->n_suspects; k++) {
		flow_addr_format(&r->suspects[k].ip, ip, sizeof(ip));
		snprintf(key, sizeof(key), "ccSuspect:%s", ip);
		rc = doc_add(&d, suspect_json(r, &r->suspects[k], "daily"), "ccSuspect", key);
	}
	for (size_t k = 0; rc == 0 && k < r->n_macs; k++) {
		l2_mac_format(r->macs[k].mac, ip, sizeof(ip));
		snprintf(key, sizeof(key), "macMultiIp:%s", ip);
		rc = doc_add(&d, mac_json(r, &r->macs[k], "daily"), "macMultiIp", key);
	}
	if (rc == 0) {
		struct store_slot_info info = {.closed_at_s = r->day.end_s};
		daily_store_site(r->site, site, sizeof(site));
		rc = store_slot_write(s, site, r->day.from_slot, d.v, d.n, &info);
	}
	for (size_t k = 0; d.text && k < d.n; k++)
		free(d.text[k]);
	free(d.text);
	free(d.keys);
	free(d.v);
	return rc;
}

struct latest {
	int (*fn)(void *ud, const char *json, size_t len);
	void *ud;
};

static int latest_cb(void *ud, const struct store_doc *doc)
{
	struct latest *l = ud;
	return l->fn(l->ud, doc->json, doc->json_len);
}

int daily_store_latest(struct store *s, const char *site, int64_t *day_slot,
                       int (*fn)(void *ud, const char *json, size_t len), void *ud)
{
	char ds[STORE_SITE_MAX + 8];
	int64_t ts;
	struct latest l = {fn, ud};

	daily_store_site(site, ds, sizeof(ds));
	int rc = store_slot_latest(s, ds, &ts);
	if (rc)
		return rc;
	*day_slot = ts;
	return store_doc_foreach(s, ds, ts, "daily", latest_cb, &l);
}

/* ---- the text report -------------------------------------------------------- */

int daily_result_text(const struct daily_result *r, FILE *out)
{
	char a[32], b[32], ip[64];

	fprintf(out, "nfsentry daily report: site %s, %s (%s)\n", r->site, r->day.date, r->tz);
	fprintf(out, "slots: %u of %u stored%s", r->slots_present, r->day.n_slots,
	        r->slots_partial ? "" : "");
	if (r->slots_partial)
		fprintf(out, ", %u of them partial", r->slots_partial);
	fprintf(out, "%s\n",
	        r->partial ? " -- PARTIAL DAY: the collector did not see all of it; "
	                     "figures cover the stored slots only"
	                   : "");
	fprintf(out, "\nPossible command-and-control contact (%zu%s)\n", r->n_suspects,
	        r->suspects_dropped ? ", more not listed" : "");
	fprintf(out,
	        "These inside hosts talked all day to only one or two outside addresses,\n"
	        "a few times, with few packets. They may be compromised: please check them.\n");
	if (!r->n_suspects)
		fprintf(out, "  none\n");
	for (size_t k = 0; k < r->n_suspects; k++) {
		const struct daily_suspect *sp = &r->suspects[k];
		flow_addr_format(&sp->ip, ip, sizeof(ip));
		fprintf(out,
		        "  %s: %u outside IP%s, %u slot%s with contact, flows %llu out / %llu in, "
		        "packets %llu / %llu, octets %llu / %llu%s%s\n",
		        ip, sp->n_contacts, sp->n_contacts == 1 ? "" : "s", sp->contact_slots,
		        sp->contact_slots == 1 ? "" : "s", (unsigned long long)sp->flows,
		        (unsigned long long)sp->in_flows, (unsigned long long)sp->packets,
		        (unsigned long long)sp->in_packets, (unsigned long long)sp->octets,
		        (unsigned long long)sp->in_octets,
		        sp->received_only ? ", received only" : "",
		        sp->beacon ? ", REGULAR (beacon)" : "");
		if (sp->gap_cv >= 0)
			fprintf(out,
			        "      every %.1f slots on average (%.0f min), variation %.2f\n",
			        sp->mean_gap_slots, sp->mean_gap_slots * 5, sp->gap_cv);
		for (uint32_t c = 0; c < sp->n_contacts; c++) {
			const struct daily_contact *ct = &sp->contacts[c];
			flow_addr_format(&ct->ip, ip, sizeof(ip));
			slot_time(ct->first_slot, a, sizeof(a));
			slot_time(ct->last_slot + 1, b, sizeof(b));
			fprintf(out, "      %-15s %s, %u slot%s, %s .. %s%s\n", ip,
			        how_names[ct->how], ct->slots, ct->slots == 1 ? "" : "s", a, b,
			        ct->offender_db    ? ", in the offender database"
			        : ct->offender_day ? ", an offender that day"
			                           : "");
		}
	}
	fprintf(out, "\nMACs with several IPs (%zu)\n", r->n_macs);
	if (!r->n_macs)
		fprintf(out, "  none\n");
	for (size_t k = 0; k < r->n_macs; k++) {
		const struct daily_mac *m = &r->macs[k];
		l2_mac_format(m->mac, ip, sizeof(ip));
		fprintf(out, "  %s: %u IPs%s\n", ip, m->n_ips + m->ips_dropped,
		        m->ips_dropped ? " (not all listed)" : "");
		for (uint32_t i = 0; i < m->n_ips; i++) {
			char s[64];
			flow_addr_format(&m->ips[i].ip, s, sizeof(s));
			slot_time(m->ips[i].first_slot, a, sizeof(a));
			slot_time(m->ips[i].last_slot + 1, b, sizeof(b));
			fprintf(out, "      %-15s %s .. %s\n", s, a, b);
		}
		for (uint32_t p = 0; p < m->n_places; p++)
			fprintf(out, "      seen at %s\n", m->places[p]);
	}
	fprintf(out, "\nOffenders of the day: %llu distinct outside IPs\n",
	        (unsigned long long)r->offenders_day);
	for (size_t k = 0; k < r->n_offenders; k++) {
		const struct daily_offender *e = &r->offenders[k];
		flow_addr_format(&e->ip, ip, sizeof(ip));
		fprintf(out, "  %-15s %u slots, %llu packets, up to %u inside IPs a slot%s%s\n", ip,
		        e->slots, (unsigned long long)e->packets, e->max_targets,
		        e->labels[0] ? ", labels " : "", e->labels);
	}
	fprintf(out, "\nLabels of the day (slot totals):");
	for (size_t k = 0; k < r->n_labels; k++)
		fprintf(out, " %s=%llu", r->label_names[k], (unsigned long long)r->labels[k]);
	fprintf(out, "\n");
	return ferror(out) ? -EIO : 0;
}
