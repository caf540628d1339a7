/*
 * doc: JSON documents of a judged slot. See doc.h and docs/documents.md.
 *
 * The documents are written by hand into one growable buffer per build (a
 * small JSON writer, below) and copied out one document at a time. The text
 * is byte for byte what jansson prints with JSON_COMPACT |
 * JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6): same key order, same
 * escapes, same reals. Building a jansson tree per document, with one heap
 * string per peer IP, cost 2/3 of the slot close, and building the layer-2
 * documents with jansson took 3.4 times as long as with this writer
 * (docs/benchmarks.md). The same writer serves the l2 module's documents
 * through the doc_writer calls (doc.h).
 *
 * Not this file's job: deciding labels (judge.c), what the layer-2
 * documents say (src/l2/merge.c) or shipping (es, store).
 */
#include "nfsentry/doc.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/fault.h"
#include "nfsentry/grow.h"

/*
 * Hard limit on one document. The largest realistic one is an inside IP at
 * the highest peer cap the configuration allows (1 000 000 peers of up to 41
 * characters plus quotes and a comma: ~44 MB) or an arpUnused ipList of
 * every inside IP; 128 MiB leaves room for both and still refuses a runaway.
 * A document over the limit fails the build like an allocation does.
 */
#define DOC_JSON_MAX_BYTES (128u * 1024 * 1024)
/* How many pairs ahead the peer lists fetch the entries they will print. */
#define DOC_PF 8
/* First size of the build buffer; it doubles up to the limit. */
#define DOC_JSON_INITIAL_BYTES (64u * 1024)

static const char *const proto_names[SLOT_PROTO__COUNT] = {"tcp", "udp", "icmp", "other"};
/* ARP states as l2.md names them, by enum l2_state (the judge's types bits). */
static const char *const arp_type_names[] = {"Dynamic",    "Static",  "Interface",
                                             "Incomplete", "Deleted", "Other"};

void doc_timestamp(int64_t time_slot, char *buf, size_t len)
{
	time_t t = (time_t)(time_slot * SLOT_SECONDS);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Unix seconds t as "YYYY-MM-DDTHH:MM:SSZ" (a partial slot's coverage). */
static void doc_time(int64_t t_s, char *buf, size_t len)
{
	time_t t = (time_t)t_s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the JSON writer ---------------------------------------------------- */

/*
 * One document being written. Errors are sticky: once an append fails
 * (out of memory, or the document would pass DOC_JSON_MAX_BYTES) every later
 * append does nothing and emit() reports -ENOMEM, so the writers need not
 * check each call. `comma` says whether the next member or element needs a
 * separator: it is cleared by an opening bracket and set by every value.
 */
struct jw {
	char *p;
	size_t len, cap;
	bool failed;
	bool comma;
};

/* Make room for n more bytes; false (and failed set) when there is none. */
static bool jw_reserve(struct jw *w, size_t n)
{
	size_t need;

	if (w->failed)
		return false;
	if (__builtin_add_overflow(w->len, n, &need)) {
		w->failed = true;
		return false;
	}
	if (need <= w->cap)
		return true;
	if (grow_array((void **)&w->p, &w->cap, need, 1, DOC_JSON_INITIAL_BYTES,
	               DOC_JSON_MAX_BYTES) != 0) {
		w->failed = true;
		return false;
	}
	return true;
}

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (!jw_reserve(w, n))
		return;
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

#define JW_LIT(w, s) jw_raw((w), (s), sizeof(s) - 1)

static void jw_sep(struct jw *w)
{
	if (w->comma)
		jw_raw(w, ",", 1);
}

/*
 * A JSON string: the escapes jansson's dump_string() writes without
 * JSON_ENSURE_ASCII / JSON_ESCAPE_SLASH (quote, backslash, the five short
 * forms, other control characters as \u00XX with upper-case hex; everything
 * else, DEL and UTF-8 included, as is). The strings here are addresses,
 * static names and the site name, which the configuration keeps to
 * [A-Za-z0-9_.-]; escaping is for safety, not expected.
 */
static void jw_string(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	/* Worst case: six bytes per input byte, plus the quotes. */
	if (n > (DOC_JSON_MAX_BYTES - 2) / 6) {
		w->failed = true;
		return;
	}
	if (!jw_reserve(w, 6 * n + 2))
		return;
	char *p = w->p + w->len;
	*p++ = '"';
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)s[k];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\b': *p++ = 'b'; break;
		case '\f': *p++ = 'f'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		default:
			*p++ = 'u';
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
			break;
		}
	}
	*p++ = '"';
	w->len = (size_t)(p - w->p);
}

static void jw_key(struct jw *w, const char *k)
{
	jw_sep(w);
	jw_string(w, k, strlen(k));
	jw_raw(w, ":", 1);
	w->comma = false;
}

/*
 * A key known at compile time to need no escape: `"k":` is one copy. k must
 * be a string literal.
 */
#define JW_KEY(w, k) jw_key_lit((w), "\"" k "\":", sizeof(k) + 2)

static void jw_key_lit(struct jw *w, const char *quoted, size_t n)
{
	jw_sep(w);
	jw_raw(w, quoted, n);
	w->comma = false;
}

static void jw_open(struct jw *w, char c)
{
	jw_sep(w);
	jw_raw(w, &c, 1);
	w->comma = false;
}

static void jw_close(struct jw *w, char c)
{
	jw_raw(w, &c, 1);
	w->comma = true;
}

static void jw_str(struct jw *w, const char *s)
{
	jw_sep(w);
	jw_string(w, s, strlen(s));
	w->comma = true;
}

/* Decimal of v, as jansson prints a json_integer ("%lld"). */
static void jw_i64(struct jw *w, int64_t v)
{
	char tmp[24], *e = tmp + sizeof(tmp), *p = e;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	jw_sep(w);
	jw_raw(w, p, (size_t)(e - p));
	w->comma = true;
}

/*
 * A real as jansson 2.14 prints it with JSON_REAL_PRECISION(6)
 * (jsonp_dtostr in strconv.c): "%.6g"; ".0" appended when that has neither
 * '.' nor 'e' (so it reads back as a real); the exponent without '+' and
 * without leading zeros (1e-07 -> "1e-7", 1e+20 -> "1e20").
 */
static void jw_real(struct jw *w, double x)
{
	char b[40];
	int r = snprintf(b, sizeof(b), "%.6g", x);

	if (r < 0 || (size_t)r >= sizeof(b) - 2) {
		w->failed = true;
		return;
	}
	size_t n = (size_t)r;
	bool dot = false;
	char *e = NULL;
	for (size_t k = 0; k < n; k++) {
		char c = b[k];
		if (c == 'e') {
			e = &b[k];
		} else if ((c < '0' || c > '9') && c != '-' && c != '+') {
			b[k] = '.'; /* a locale's decimal point, as jansson's from_locale() */
			dot = true;
		}
	}
	if (!dot && !e) {
		b[n++] = '.';
		b[n++] = '0';
	}
	if (e) {
		char *start = e + 1, *end = e + 2;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, n - (size_t)(end - b));
			n -= (size_t)(end - start);
		}
	}
	jw_sep(w);
	jw_raw(w, b, n);
	w->comma = true;
}

static void jw_bool(struct jw *w, bool v)
{
	jw_sep(w);
	if (v)
		JW_LIT(w, "true");
	else
		JW_LIT(w, "false");
	w->comma = true;
}

/* An address as a JSON string, formatted straight into the buffer. */
static void jw_addr(struct jw *w, const struct flow_addr *a)
{
	/* INET6_ADDRSTRLEN (46) for the text, one comma and two quotes. */
	if (!jw_reserve(w, 46 + 3))
		return;
	char *p = w->p + w->len;
	if (w->comma)
		*p++ = ',';
	*p++ = '"';
	p += flow_addr_format(a, p, 46);
	*p++ = '"';
	w->len = (size_t)(p - w->p);
	w->comma = true;
}

/* A MAC as l2_mac_format() writes it: lower-case hex, colons. */
static void jw_mac(struct jw *w, const uint8_t mac[6])
{
	static const char hex[] = "0123456789abcdef";

	/* 17 characters, one comma and two quotes. */
	if (!jw_reserve(w, 17 + 3))
		return;
	char *p = w->p + w->len;
	if (w->comma)
		*p++ = ',';
	*p++ = '"';
	for (int k = 0; k < 6; k++) {
		if (k)
			*p++ = ':';
		*p++ = hex[mac[k] >> 4];
		*p++ = hex[mac[k] & 0xf];
	}
	*p++ = '"';
	w->len = (size_t)(p - w->p);
	w->comma = true;
}

/*
 * Valid UTF-8 as jansson's utf8_check_string() (utf.c) sees it: RFC 3629,
 * no overlong forms, no surrogates, nothing past U+10FFFF. jansson's
 * json_string() refuses anything else, and the member or element it was
 * meant for is then left out; the writer does the same with text from
 * outside.
 */
static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++) {
		unsigned char u = p[i];
		size_t len;
		uint32_t cp;
		if (u < 0x80)
			continue;
		if (u >= 0xc2 && u <= 0xdf)
			len = 2, cp = u & 0x1f;
		else if (u >= 0xe0 && u <= 0xef)
			len = 3, cp = u & 0x0f;
		else if (u >= 0xf0 && u <= 0xf4)
			len = 4, cp = u & 0x07;
		else
			return false; /* a continuation byte, 0xc0/0xc1, or past 0xf4 */
		if (len > n - i)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (len == 2 && cp < 0x80) ||
		    (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
			return false;
		i += len - 1;
	}
	return true;
}

/* ---- members ------------------------------------------------------------- */

/*
 * The SET_* macros take a literal key; the set_* functions behind them take
 * it as `"key":` (JW_KEY). Keys that are not literals (label and counter
 * names) go through jw_key() and its escaping.
 */
#define SET_U64(w, k, v) set_u64((w), "\"" k "\":", sizeof(k) + 2, (v))
#define SET_REAL(w, k, v) set_real((w), "\"" k "\":", sizeof(k) + 2, (v))
#define SET_STR(w, k, v) set_str((w), "\"" k "\":", sizeof(k) + 2, (v))
#define SET_BOOL(w, k, v) set_bool((w), "\"" k "\":", sizeof(k) + 2, (v))
/* Flows, packets and octets under "<prefix>Flows" etc. (or "flows" etc.). */
#define SET_TOTALS(w, kf, kp, ko, t)                                                               \
	do {                                                                                       \
		SET_U64((w), kf, (t)->flows);                                                      \
		SET_U64((w), kp, (t)->packets);                                                    \
		SET_U64((w), ko, (t)->octets);                                                     \
	} while (0)

static int64_t clamp_i64(uint64_t v)
{
	return (int64_t)(v > INT64_MAX ? INT64_MAX : v);
}

static void set_u64(struct jw *w, const char *qk, size_t n, uint64_t v)
{
	jw_key_lit(w, qk, n);
	jw_i64(w, clamp_i64(v));
}

/* A member under a key that is not a literal: escaped. */
static void set_u64_key(struct jw *w, const char *k, uint64_t v)
{
	jw_key(w, k);
	jw_i64(w, clamp_i64(v));
}

/*
 * A real member, left out when v is NaN or infinite: JSON has no spelling
 * for them, and a member that is absent reads better than a made-up number.
 */
static void set_real(struct jw *w, const char *qk, size_t n, double v)
{
	if (!isfinite(v))
		return;
	jw_key_lit(w, qk, n);
	jw_real(w, v);
}

static void set_str(struct jw *w, const char *qk, size_t n, const char *v)
{
	jw_key_lit(w, qk, n);
	jw_str(w, v);
}

static void set_bool(struct jw *w, const char *qk, size_t n, bool v)
{
	jw_key_lit(w, qk, n);
	jw_bool(w, v);
}

static void totals_obj(struct jw *w, const struct slot_totals *t)
{
	jw_open(w, '{');
	SET_TOTALS(w, "flows", "packets", "octets", t);
	jw_close(w, '}');
}

static double avg(uint64_t octets, uint64_t packets)
{
	return packets ? (double)octets / (double)packets : 0.0;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* Start a document: the opening brace and the members every kind has. */
static void base(struct jw *w, const struct slot_view *v, const char *kind, const char *ts)
{
	w->len = 0;
	w->failed = false;
	w->comma = false;
	jw_open(w, '{');
	SET_STR(w, "kind", kind);
	SET_STR(w, "site", v->site->name);
	JW_KEY(w, "timeSlot");
	jw_i64(w, v->time_slot);
	SET_STR(w, "@timestamp", ts);
}

/* The reason object of one label: figure, threshold and the context. */
static void reason_outside(struct jw *w, const struct slot_view *v, const struct slot_outside *o,
                           const struct slot_label *l, const struct doc_l2 *l2)
{
	uint64_t pk = o->started_in.packets + o->started_back.packets;

	jw_key(w, judge_label_name(l->id));
	jw_open(w, '{');
	SET_REAL(w, "value", l->value);
	SET_REAL(w, "threshold", l->threshold);
	switch ((enum judge_label)l->id) {
	case JUDGE_NOPAYLOAD:
		SET_REAL(w, "avgPacketBytes",
		         avg(o->started_in.octets + o->started_back.octets, pk));
		SET_U64(w, "packets", pk);
		SET_U64(w, "octets", o->started_in.octets + o->started_back.octets);
		break;
	case JUDGE_FLOOD: {
		struct judge_flood fl;
		judge_flood_figures(v, o, &fl);
		SET_U64(w, "packets", o->started_in.packets);
		SET_U64(w, "octets", o->started_in.octets);
		SET_U64(w, "targets", o->started_targets);
		SET_REAL(w, "answeredRatio", ratio(o->started_back.packets, o->started_in.packets));
		SET_STR(w, "protocol", proto_names[judge_flood_proto(o)]);
		SET_STR(w, "signal", judge_flood_signal_name(fl.signal));
		SET_REAL(w, "activeSeconds", fl.seconds);
		SET_REAL(w, "packetsPerSecond", fl.rate);
		SET_U64(w, "halfOpenTargets", o->half_open_targets);
		SET_U64(w, "halfOpenPackets", o->half_open.packets);
		SET_U64(w, "halfOpenFlows", o->half_open.flows);
		SET_REAL(w, "halfOpenPerSecond", fl.half_open_rate);
		break;
	}
	case JUDGE_SCAN: {
		uint32_t probed, silent;
		judge_scan_probes(v, o, &probed, &silent);
		SET_U64(w, "startedTargets", o->started_targets);
		SET_U64(w, "probedTargets", probed);
		SET_U64(w, "probedSilent", silent);
		SET_U64(w, "activeInside", v->n_active);
		SET_REAL(w, "minShare", v->site->th.scan_min_share);
		break;
	}
	case JUDGE_PROBEUNUSED:
		SET_U64(w, "unusedTouched", o->touch_unused);
		SET_U64(w, "packets", o->unused.packets);
		break;
	case JUDGE_ARPUNUSED: {
		/* The silent inside IPs it started with that its gateway showed Incomplete. */
		uint64_t touched_pk = 0;
		struct judge_l2 jl = {0};
		if (l2) {
			jl.unresolved = l2->unresolved;
			jl.arp = l2->arp;
			jl.ud = l2->ud;
		}
		JW_KEY(w, "ipList");
		jw_open(w, '[');
		for (uint32_t k = 0; k < o->pair_count; k++) {
			const struct slot_pair *p = &v->pairs[v->pairs_by_outside[o->pair_first + k]];
			if (!judge_arp_unused_pair(v, p, l2 ? &jl : NULL))
				continue;
			jw_addr(w, &v->inside[p->inside].addr);
			touched_pk += p->ingress.packets;
		}
		jw_close(w, ']');
		SET_U64(w, "packets", touched_pk);
		break;
	}
	default:
		break;
	}
	jw_close(w, '}');
}

/* What the site's devices showed of ip (arpMissing, zeroMac). */
static void reason_arp(struct jw *w, const struct slot_view *v, const struct flow_addr *ip,
                       const struct doc_l2 *l2)
{
	struct judge_arp a;

	if (!l2 || !l2->arp)
		return;
	l2->arp(l2->ud, v->site, ip, &a);
	SET_BOOL(w, "gatewayPolled", a.gateway_polled);
	SET_BOOL(w, "onGateway", a.on_gateway);
	SET_BOOL(w, "resolvedOnGateway", a.resolved_gw);
	SET_U64(w, "devices", a.devices);
	JW_KEY(w, "typeList");
	jw_open(w, '[');
	for (unsigned t = 0; t < sizeof(arp_type_names) / sizeof(*arp_type_names); t++)
		if (a.types & 1u << t)
			jw_str(w, arp_type_names[t]);
	jw_close(w, ']');
	if (a.min_age_s >= 0)
		SET_U64(w, "minAgeSeconds", (uint64_t)a.min_age_s);
}

static void reason_inside(struct jw *w, const struct slot_view *v, const struct slot_inside *in,
                          const struct slot_label *l, const struct doc_l2 *l2)
{
	const struct slot_totals *e = &in->egress, *i = &in->ingress;

	jw_key(w, judge_label_name(l->id));
	jw_open(w, '{');
	SET_REAL(w, "value", l->value);
	SET_REAL(w, "threshold", l->threshold);
	switch ((enum judge_label)l->id) {
	case JUDGE_FANOUT:
		SET_U64(w, "peers", in->peers);
		SET_U64(w, "peerCap", v->site->peer_cap);
		break;
	case JUDGE_P2P:
		SET_U64(w, "peers", in->peers);
		SET_U64(w, "octetsOut", e->octets);
		SET_U64(w, "octetsIn", i->octets);
		SET_REAL(w, "avgPacketBytes", avg(e->octets + i->octets, e->packets + i->packets));
		break;
	case JUDGE_SCANOUT:
		SET_U64(w, "peers", in->peers);
		SET_U64(w, "answeredPeers", in->answered_peers);
		SET_REAL(w, "avgPacketBytesOut", avg(e->octets, e->packets));
		SET_REAL(w, "returnRatio", ratio(i->octets, e->octets));
		break;
	case JUDGE_FLOODOUT:
		SET_U64(w, "packetsOut", e->packets);
		SET_U64(w, "packetsIn", i->packets);
		SET_U64(w, "peers", in->peers);
		break;
	case JUDGE_UNDERATTACK: {
		/* Every packet it received: answered, flooded, or while silent. */
		uint64_t all = i->packets + in->unanswered.packets + in->unused_in.packets;
		SET_U64(w, "packets", in->flooded.packets);
		SET_U64(w, "octets", in->flooded.octets);
		SET_U64(w, "flows", in->flooded.flows);
		SET_U64(w, "sources", in->flooded_peers);
		JW_KEY(w, "protocols");
		jw_open(w, '{');
		for (int pc = 0; pc < SLOT_PROTO__COUNT; pc++)
			if (in->flooded_proto[pc])
				set_u64_key(w, proto_names[pc], in->flooded_proto[pc]);
		jw_close(w, '}');
		SET_REAL(w, "answeredShare",
		         all > in->flooded.packets ? ratio(all - in->flooded.packets, all) : 0.0);
		break;
	}
	case JUDGE_ARPMISSING:
	case JUDGE_ZEROMAC:
		SET_U64(w, "packetsOut", e->packets);
		reason_arp(w, v, &in->addr, l2);
		break;
	default:
		break;
	}
	jw_close(w, '}');
}

/*
 * "labels": an entry's n label names (from first in v's label array), in
 * the judge's order. The "reasons" object that follows is keyed by the same
 * names; an entry gets each label at most once (judge.c), so no key repeats.
 */
static void set_labels(struct jw *w, const struct slot_view *v, uint32_t first, unsigned n)
{
	JW_KEY(w, "labels");
	jw_open(w, '[');
	for (unsigned k = 0; k < n; k++)
		jw_str(w, judge_label_name(slot_labels_of(v, first)[k].id));
	jw_close(w, ']');
}

/* Close the document in w and append a copy to the batch. */
static int emit(struct doc_batch *b, const char *kind, const char *key, struct jw *w)
{
	jw_close(w, '}');
	if (w->failed)
		return -ENOMEM;
	if (grow_array((void **)&b->v, &b->cap, b->n + 1, sizeof(*b->v), 256,
	               SIZE_MAX / sizeof(*b->v)) != 0)
		return -ENOMEM;
	char *s = fault_malloc(w->len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, w->p, w->len);
	s[w->len] = '\0';
	struct doc *d = &b->v[b->n++];
	d->kind = kind;
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->json = s;
	d->len = w->len;
	return 0;
}

/* Text from outside: written when valid UTF-8 (utf8_valid); false when left out. */
static bool jw_text(struct jw *w, const char *s)
{
	size_t len = strlen(s);

	if (!utf8_valid(s, len))
		return false;
	jw_sep(w);
	jw_string(w, s, len);
	w->comma = true;
	return true;
}

/* Key and text, or neither when the text is NULL or not valid UTF-8. */
static void member_text(struct jw *w, const char *k, const char *s)
{
	if (!s || !utf8_valid(s, strlen(s)))
		return;
	jw_key(w, k);
	jw_text(w, s);
}

/*
 * The layer-2 fields of an inside IP the devices showed with a MAC:
 * "arpMacList" (its MACs) and "arpLocations", one {mac, device,
 * interfaceList} per device that saw each MAC. Interface names are the
 * devices' text, hence the UTF-8 check.
 */
static void l2_fields(struct jw *w, const struct doc_l2 *l2, const struct flow_addr *ip)
{
	const uint8_t(*macs)[6] = NULL;
	uint32_t n = l2->macs(l2->ud, ip, &macs);
	struct doc_l2_place pl;

	if (n == 0)
		return;
	JW_KEY(w, "arpMacList");
	jw_open(w, '[');
	for (uint32_t i = 0; i < n; i++)
		jw_mac(w, macs[i]);
	jw_close(w, ']');
	JW_KEY(w, "arpLocations");
	jw_open(w, '[');
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t k = 0; l2->place && l2->place(l2->ud, macs[i], k, &pl); k++) {
			jw_open(w, '{');
			JW_KEY(w, "mac");
			jw_mac(w, macs[i]);
			member_text(w, "device", pl.device);
			JW_KEY(w, "interfaceList");
			jw_open(w, '[');
			for (uint32_t f = 0; f < pl.n_ifnames; f++)
				jw_text(w, pl.ifnames[f]);
			jw_close(w, ']');
			jw_close(w, '}');
		}
	}
	jw_close(w, ']');
}

static int inside_doc(const struct slot_view *v, const struct slot_inside *in, const char *ts,
                      const struct doc_l2 *l2, struct jw *w, struct doc_batch *b)
{
	char ip[64];

	flow_addr_format(&in->addr, ip, sizeof(ip));
	base(w, v, "inside", ts);
	SET_STR(w, "ip", ip);
	SET_TOTALS(w, "flows", "packets", "octets", &in->egress);
	SET_TOTALS(w, "inFlows", "inPackets", "inOctets", &in->ingress);
	SET_U64(w, "unansweredFlows", in->unanswered.flows);
	SET_U64(w, "unansweredPackets", in->unanswered.packets);
	SET_U64(w, "peers", in->peers);
	SET_U64(w, "answeredPeers", in->answered_peers);
	SET_BOOL(w, "peerCapHit", in->peer_cap_hit);
	JW_KEY(w, "arrayPeer");
	jw_open(w, '[');
	for (uint32_t k = 0, kept = 0; k < in->pair_count && kept < in->peers_kept; k++) {
		/* The outside entries are scattered over a large array: fetch ahead. */
		if (k + DOC_PF < in->pair_count)
			__builtin_prefetch(
			    &v->outside[v->pairs[in->pair_first + k + DOC_PF].outside]);
		const struct slot_pair *p = &v->pairs[in->pair_first + k];
		if (!p->egress.flows)
			continue;
		jw_addr(w, &v->outside[p->outside].addr);
		kept++;
	}
	jw_close(w, ']');
	/*
	 * Of arrayPeer, the conversations the outside IP started: this IP only
	 * answered (a scanned host's RSTs). The daily analysis (docs/daily.md)
	 * does not count them as the host's own contacts.
	 */
	JW_KEY(w, "repliedTo");
	jw_open(w, '[');
	for (uint32_t k = 0, kept = 0; k < in->pair_count && kept < in->peers_kept; k++) {
		const struct slot_pair *p = &v->pairs[in->pair_first + k];
		if (!p->egress.flows)
			continue;
		kept++;
		if (p->o_started)
			jw_addr(w, &v->outside[p->outside].addr);
	}
	jw_close(w, ']');
	SET_BOOL(w, "allowListed", in->allowed);
	if (l2 && l2->macs)
		l2_fields(w, l2, &in->addr);
	set_labels(w, v, in->label_first, in->n_labels);
	JW_KEY(w, "reasons");
	jw_open(w, '{');
	for (unsigned k = 0; k < in->n_labels; k++)
		reason_inside(w, v, in, &slot_labels_of(v, in->label_first)[k], l2);
	jw_close(w, '}');
	return emit(b, "inside", ip, w);
}

/*
 * The inside IPs an outside IP is linked to (egress or ingress), capped at
 * the site's peer cap: written as an array when w is set, counted always.
 */
static uint32_t outside_peers(struct jw *w, const struct slot_view *v, const struct slot_outside *o,
                              bool egress)
{
	uint32_t cap = v->site->peer_cap ? v->site->peer_cap : UINT32_MAX, n = 0;

	if (w)
		jw_open(w, '[');
	for (uint32_t k = 0; k < o->pair_count && n < cap; k++) {
		if (k + DOC_PF < o->pair_count)
			__builtin_prefetch(&v->pairs[v->pairs_by_outside[o->pair_first + k + DOC_PF]]);
		const struct slot_pair *p = &v->pairs[v->pairs_by_outside[o->pair_first + k]];
		if (egress ? !p->egress.flows : !p->ingress.flows)
			continue;
		if (w)
			jw_addr(w, &v->inside[p->inside].addr);
		n++;
	}
	if (w)
		jw_close(w, ']');
	return n;
}

static void outside_reasons(struct jw *w, const struct slot_view *v, const struct slot_outside *o,
                            const struct doc_l2 *l2)
{
	JW_KEY(w, "reasons");
	jw_open(w, '{');
	for (unsigned k = 0; k < o->n_labels; k++)
		reason_outside(w, v, o, &slot_labels_of(v, o->label_first)[k], l2);
	jw_close(w, '}');
}

static int outside_doc(const struct slot_view *v, const struct slot_outside *o, const char *ts,
                       const struct doc_l2 *l2, struct jw *w, struct doc_batch *b)
{
	char ip[64];

	flow_addr_format(&o->addr, ip, sizeof(ip));
	base(w, v, "outside", ts);
	SET_STR(w, "ip", ip);
	SET_TOTALS(w, "flows", "packets", "octets", &o->to);
	SET_TOTALS(w, "fromFlows", "fromPackets", "fromOctets", &o->from);
	SET_U64(w, "touchPeers", o->refs);
	JW_KEY(w, "arrayPeer");
	outside_peers(w, v, o, true);
	SET_U64(w, "startedTargets", o->started_targets);
	SET_U64(w, "unansweredFlows", o->unanswered_flows);
	SET_BOOL(w, "offender", o->in_c);
	set_labels(w, v, o->label_first, o->n_labels);
	outside_reasons(w, v, o, l2);
	return emit(b, "outside", ip, w);
}

static int offender_doc(const struct slot_view *v, const struct slot_outside *o, const char *ts,
                        const struct doc_l2 *l2, struct jw *w, struct doc_batch *b)
{
	char ip[64];

	flow_addr_format(&o->addr, ip, sizeof(ip));
	base(w, v, "offender", ts);
	SET_STR(w, "ip", ip);
	SET_TOTALS(w, "flows", "packets", "octets", &o->from);
	/* touchPeers comes before the list it counts: count first, write later. */
	SET_U64(w, "touchPeers", outside_peers(NULL, v, o, false));
	SET_U64(w, "unusedTouched", o->touch_unused);
	SET_TOTALS(w, "unusedFlows", "unusedPackets", "unusedOctets", &o->unused);
	SET_U64(w, "startedTargets", o->started_targets);
	SET_STR(w, "protocol", proto_names[judge_flood_proto(o)]);
	JW_KEY(w, "ipList");
	outside_peers(w, v, o, false);
	set_labels(w, v, o->label_first, o->n_labels);
	outside_reasons(w, v, o, l2);
	return emit(b, "offender", ip, w);
}

/*
 * What the caps on documents per slot (doc_opts.outside_max, offender_max)
 * left out: how many, their totals (outside: both directions; offender:
 * what it sent) and how many carried each label.
 */
struct doc_left {
	uint64_t count;
	struct slot_totals t;
	uint64_t labels[JUDGE__COUNT];
};

static void left_obj(struct jw *w, const struct doc_left *l)
{
	jw_open(w, '{');
	SET_U64(w, "documents", l->count);
	SET_TOTALS(w, "flows", "packets", "octets", &l->t);
	JW_KEY(w, "labels");
	jw_open(w, '{');
	for (int k = 0; k < JUDGE__COUNT; k++)
		set_u64_key(w, judge_label_name((enum judge_label)k), l->labels[k]);
	jw_close(w, '}');
	jw_close(w, '}');
}

static int slot_doc(const struct slot_view *v, const struct judge_result *jr,
                    const struct doc_health *h, const struct doc_left *left_outside,
                    const struct doc_left *left_offender, const char *ts, struct jw *w,
                    struct doc_batch *b)
{
	const struct slot_summary *s = &v->sum;

	base(w, v, "slot", ts);
	if (v->partial) {
		/*
		 * The collector saw only part of the slot (docs/manual.md
		 * "Restarts"); a whole slot has none of these fields.
		 */
		char from[32], to[32];
		int64_t end = (v->time_slot + 1) * SLOT_SECONDS;
		doc_time(v->covered_from_s, from, sizeof(from));
		doc_time(v->covered_to_s ? v->covered_to_s : end, to, sizeof(to));
		SET_BOOL(w, "partial", true);
		SET_STR(w, "coveredFrom", from);
		SET_STR(w, "coveredTo", to);
	}
	SET_U64(w, "records", s->egress.flows + s->ingress.flows + s->internal.flows);
	JW_KEY(w, "egress");
	totals_obj(w, &s->egress);
	JW_KEY(w, "ingress");
	totals_obj(w, &s->ingress);
	JW_KEY(w, "internal");
	totals_obj(w, &s->internal);
	SET_U64(w, "insideActive", v->n_active);
	SET_U64(w, "insideSeen", v->n_inside);
	SET_U64(w, "outsideSeen", v->n_outside);
	SET_U64(w, "conversations", v->n_pairs);
	SET_U64(w, "offenders", jr->offenders);
	JW_KEY(w, "labels");
	jw_open(w, '{');
	for (int k = 0; k < JUDGE__COUNT; k++)
		set_u64_key(w, judge_label_name((enum judge_label)k), jr->labels[k]);
	jw_close(w, '}');
	SET_U64(w, "lateRecords", s->late_records);
	SET_U64(w, "futureRecords", s->future_records);
	JW_KEY(w, "capsHit");
	jw_open(w, '{');
	SET_U64(w, "inside", s->caps_hit.inside);
	SET_U64(w, "outside", s->caps_hit.outside);
	SET_U64(w, "pairs", s->caps_hit.pairs);
	jw_close(w, '}');
	JW_KEY(w, "documentsLeftOut");
	jw_open(w, '{');
	JW_KEY(w, "outside");
	left_obj(w, left_outside);
	JW_KEY(w, "offender");
	left_obj(w, left_offender);
	jw_close(w, '}');
	/* Counter names are static and distinct (pipeline.c), so no key repeats. */
	JW_KEY(w, "collector");
	jw_open(w, '{');
	for (size_t k = 0; h && k < h->n; k++)
		set_u64_key(w, h->v[k].name, h->v[k].value);
	jw_close(w, '}');
	return emit(b, "slot", "summary", w);
}

static uint64_t outside_octets(const struct slot_outside *o)
{
	return o->to.octets + o->from.octets;
}

/* The top-N order: octets descending, then address. */
static int octets_desc(const struct slot_outside *p, const struct slot_outside *q)
{
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

/* Restore the heap below h[k]: its root is the entry that sorts last. */
static void heap_down(const struct slot_outside **h, size_t n, size_t k)
{
	for (;;) {
		size_t c = 2 * k + 1;
		if (c >= n)
			return;
		if (c + 1 < n && octets_desc(h[c + 1], h[c]) > 0)
			c++;
		if (octets_desc(h[c], h[k]) <= 0)
			return;
		const struct slot_outside *t = h[k];
		h[k] = h[c];
		h[c] = t;
		k = c;
	}
}

/*
 * The outside IPs that get a document, in address order, into sel (room
 * for n_outside): all, or the top `top` by octets plus every labelled one.
 * The top N are kept in a heap of N whose root is the least of them, one
 * pass over the entries: sorting all of them (qsort of every outside IP)
 * took a third of the build. Returns how many.
 */
static size_t outside_select(const struct slot_view *v, const struct doc_opts *opts,
                             const struct slot_outside **sel)
{
	size_t n = v->n_outside, top = opts->outside_top;

	if (opts->outside_all || n <= top) {
		for (size_t k = 0; k < n; k++)
			sel[k] = &v->outside[k];
		return n;
	}
	/* sel[0..top) is the heap; the labelled ones it leaves out go after it. */
	size_t h = 0;
	for (size_t k = 0; k < n; k++) {
		const struct slot_outside *o = &v->outside[k];
		if (h < top) {
			sel[h] = o;
			for (size_t c = h++; c > 0 && octets_desc(sel[(c - 1) / 2], sel[c]) < 0;
			     c = (c - 1) / 2) {
				const struct slot_outside *t = sel[c];
				sel[c] = sel[(c - 1) / 2];
				sel[(c - 1) / 2] = t;
			}
		} else if (top > 0 && octets_desc(o, sel[0]) < 0) {
			const struct slot_outside *out = sel[0];
			sel[0] = o;
			heap_down(sel, top, 0);
			/* Pushed out of the top: kept anyway when labelled. */
			if (out->n_labels)
				sel[h++] = out;
		} else if (o->n_labels) {
			sel[h++] = o;
		}
	}
	if (h > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(sel, h, sizeof(*sel), ptr_addr_cmp);
	return h;
}

/*
 * How far an entry's labels crossed their thresholds: the largest, over
 * its labels, of value / threshold, or threshold / value for a label that
 * fires below its threshold (noPayload: small packets). A label with a
 * zero on either side counts as crossed by far (DBL_MAX); unlabelled: 0.
 */
static double label_excess(const struct slot_view *v, const struct slot_outside *o)
{
	double best = 0;

	for (unsigned k = 0; k < o->n_labels; k++) {
		const struct slot_label *l = &slot_labels_of(v, o->label_first)[k];
		double hi = l->value > l->threshold ? l->value : l->threshold;
		double lo = l->value > l->threshold ? l->threshold : l->value;
		double x = lo > 0 ? hi / lo : (hi > 0 ? DBL_MAX : 1);
		if (x > best)
			best = x;
	}
	return best;
}

/* An entry ranked for a cap on documents. */
struct ranked {
	double excess;
	uint64_t octets;
	const struct slot_outside *o;
};

/*
 * The cap order: labelled first, by how far their labels crossed the
 * thresholds (label_excess), then by octets, then by address. < 0: p
 * keeps its document before q.
 */
static int rank_cmp(const struct ranked *p, const struct ranked *q)
{
	bool lp = p->o->n_labels > 0, lq = q->o->n_labels > 0;

	if (lp != lq)
		return lp ? -1 : 1;
	if (p->excess != q->excess)
		return p->excess > q->excess ? -1 : 1;
	if (p->octets != q->octets)
		return p->octets > q->octets ? -1 : 1;
	return memcmp(p->o->addr.b, q->o->addr.b, 16);
}

/* Restore the heap below h[k], whose root is the entry ranked last. */
static void rank_down(struct ranked *h, size_t n, size_t k)
{
	for (;;) {
		size_t c = 2 * k + 1;
		if (c >= n)
			return;
		if (c + 1 < n && rank_cmp(&h[c + 1], &h[c]) > 0)
			c++;
		if (rank_cmp(&h[c], &h[k]) <= 0)
			return;
		struct ranked t = h[k];
		h[k] = h[c];
		h[c] = t;
		k = c;
	}
}

static void left_add(const struct slot_view *v, struct doc_left *l, const struct slot_outside *o,
                     bool offender)
{
	l->count++;
	l->t.flows += o->from.flows + (offender ? 0 : o->to.flows);
	l->t.packets += o->from.packets + (offender ? 0 : o->to.packets);
	l->t.octets += o->from.octets + (offender ? 0 : o->to.octets);
	for (unsigned k = 0; k < o->n_labels; k++) {
		uint8_t id = slot_labels_of(v, o->label_first)[k].id;
		if (id < JUDGE__COUNT)
			l->labels[id]++;
	}
}

static int ptr_cmp(const void *a, const void *b)
{
	const struct slot_outside *p = *(const struct slot_outside *const *)a;
	const struct slot_outside *q = *(const struct slot_outside *const *)b;
	return (p > q) - (p < q);
}

/*
 * At most max (0: no cap) of the n entries in sel keep a document: the
 * first in the cap order (rank_cmp), found with a heap of max in one pass.
 * They stay in sel in the order cmp gives; the rest are summed into left.
 * Returns how many are kept, or -ENOMEM (sel unchanged).
 */
static ptrdiff_t cap_select(const struct slot_view *v, const struct slot_outside **sel, size_t n,
                            size_t max, bool offender, int (*cmp)(const void *, const void *),
                            struct doc_left *left)
{
	if (max == 0 || n <= max)
		return (ptrdiff_t)n;
	struct ranked *h = fault_malloc(max * sizeof(*h));
	if (!h)
		return -ENOMEM;
	size_t m = 0;
	for (size_t k = 0; k < n; k++) {
		const struct slot_outside *o = sel[k];
		struct ranked r = {label_excess(v, o), o->to.octets + o->from.octets, o};
		if (m < max) {
			h[m] = r;
			for (size_t c = m++; c > 0 && rank_cmp(&h[(c - 1) / 2], &h[c]) < 0;
			     c = (c - 1) / 2) {
				struct ranked t = h[c];
				h[c] = h[(c - 1) / 2];
				h[(c - 1) / 2] = t;
			}
			continue;
		}
		const struct slot_outside *out = o;
		if (rank_cmp(&r, &h[0]) < 0) {
			out = h[0].o;
			h[0] = r;
			rank_down(h, m, 0);
		}
		left_add(v, left, out, offender);
	}
	for (size_t k = 0; k < m; k++)
		sel[k] = h[k].o;
	free(h);
	if (m > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(sel, m, sizeof(*sel), cmp);
	return (ptrdiff_t)m;
}

int doc_slot_build(const struct slot_view *v, const struct judge_result *jr,
                   const struct doc_opts *opts, const struct doc_health *health,
                   struct doc_batch *out)
{
	return doc_slot_build_l2(v, jr, opts, health, NULL, out);
}

static int build_all(const struct slot_view *v, const struct judge_result *jr,
                     const struct doc_opts *opts, const struct doc_health *health,
                     const struct doc_l2 *l2, struct jw *w, struct doc_batch *out)
{
	char ts[32];
	int rc = 0;
	struct doc_left left_out = {0}, left_off = {0};

	doc_timestamp(v->time_slot, ts, sizeof(ts));
	/*
	 * Which outside IPs and offenders get a document is settled first: the
	 * slot document says what the caps left out. Outside: B plus one-way
	 * senders, all or labelled + top N by octets, then at most outside_max;
	 * offenders: array C, at most offender_max (in the order of the view).
	 */
	size_t room = v->n_outside ? v->n_outside : 1;
	const struct slot_outside **sel = fault_malloc(room * sizeof(*sel));
	const struct slot_outside **offs = fault_malloc(room * sizeof(*offs));
	if (!sel || !offs) {
		rc = -ENOMEM;
		goto out;
	}
	ptrdiff_t n = cap_select(v, sel, outside_select(v, opts, sel), opts->outside_max, false,
	                         ptr_addr_cmp, &left_out);
	size_t n_off = 0;
	for (size_t k = 0; k < v->n_outside; k++)
		if (v->outside[k].in_c)
			offs[n_off++] = &v->outside[k];
	ptrdiff_t m = cap_select(v, offs, n_off, opts->offender_max, true, ptr_cmp, &left_off);
	if (n < 0 || m < 0) {
		rc = -ENOMEM;
		goto out;
	}

	rc = slot_doc(v, jr, health, &left_out, &left_off, ts, w, out);
	for (size_t k = 0; rc == 0 && k < v->n_inside; k++)
		/* A silent host gets one only for a label (underAttack, zeroMac). */
		if (v->inside[k].active || v->inside[k].n_labels)
			rc = inside_doc(v, &v->inside[k], ts, l2, w, out);
	for (ptrdiff_t k = 0; rc == 0 && k < n; k++)
		rc = outside_doc(v, sel[k], ts, l2, w, out);
	for (ptrdiff_t k = 0; rc == 0 && k < m; k++)
		rc = offender_doc(v, offs[k], ts, l2, w, out);
out:
	free(sel);
	free(offs);
	return rc;
}

int doc_slot_build_l2(const struct slot_view *v, const struct judge_result *jr,
                      const struct doc_opts *opts, const struct doc_health *health,
                      const struct doc_l2 *l2, struct doc_batch *out)
{
	/* One buffer for every document of the build; each is copied out. */
	struct jw w = {0};
	int rc = build_all(v, jr, opts, health, l2, &w, out);

	free(w.p);
	return rc;
}

void doc_batch_free(struct doc_batch *b)
{
	for (size_t k = 0; k < b->n; k++)
		free(b->v[k].json);
	free(b->v);
	memset(b, 0, sizeof(*b));
}

/* ---- attack events ------------------------------------------------------- */

static void rates_obj(struct jw *w, const double r[ATTACK_METRIC__COUNT])
{
	jw_open(w, '{');
	SET_REAL(w, "pps", r[ATTACK_PPS]);
	SET_REAL(w, "bps", r[ATTACK_BPS]);
	SET_REAL(w, "fps", r[ATTACK_FPS]);
	jw_close(w, '}');
}

/* ISO 8601 UTC with milliseconds of a Unix ms time. */
static void ms_timestamp(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", s, (unsigned)(ms % 1000));
}

int doc_attack_build(const struct attack_event *ev, enum attack_phase p, int64_t time_slot,
                     struct doc_batch *out)
{
	struct jw w = {0};
	char ts[40], id[17], key[DOC_KEY_MAX];
	uint64_t h = 0xcbf29ce484222325ull;

	/* FNV-1a over what makes the event: the same in every replay. */
	for (const char *c = ev->site; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
	for (size_t k = 0; k < sizeof(ev->ip.b); k++)
		h = (h ^ ev->ip.b[k]) * 0x100000001b3ull;
	h = (h ^ (uint64_t)ev->dir) * 0x100000001b3ull;
	h = (h ^ (uint64_t)ev->cls) * 0x100000001b3ull;
	h = (h ^ ev->start_ms) * 0x100000001b3ull;
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)h);
	snprintf(key, sizeof(key), "%s-%u", id, ev->seq);
	ms_timestamp(ev->now_ms, ts, sizeof(ts));
	jw_open(&w, '{');
	SET_STR(&w, "kind", "attack");
	SET_STR(&w, "site", ev->site);
	JW_KEY(&w, "timeSlot");
	jw_i64(&w, time_slot);
	SET_STR(&w, "@timestamp", ts);
	SET_STR(&w, "id", id);
	SET_U64(&w, "seq", ev->seq);
	SET_STR(&w, "state", attack_phase_name(p));
	JW_KEY(&w, "ip");
	jw_addr(&w, &ev->ip);
	SET_STR(&w, "direction", attack_dir_name(ev->dir));
	SET_STR(&w, "class", attack_class_name(ev->cls));
	SET_U64(&w, "start", ev->start_ms);
	SET_U64(&w, "detected", ev->detected_ms);
	if (p == ATTACK_END)
		SET_U64(&w, "end", ev->end_ms);
	SET_U64(&w, "updated", ev->now_ms);
	JW_KEY(&w, "current");
	rates_obj(&w, ev->cur);
	JW_KEY(&w, "peak");
	rates_obj(&w, ev->peak);
	JW_KEY(&w, "thresholds");
	rates_obj(&w, ev->threshold);
	SET_U64(&w, "packets", ev->packets);
	SET_U64(&w, "octets", ev->octets);
	SET_REAL(&w, "flows", ev->flows);
	/* Only live, when the detector was behind and rated a sample (attacks.md, "Cost"). */
	if (ev->sampling > 1)
		SET_U64(&w, "sampling", ev->sampling);
	JW_KEY(&w, "sources");
	jw_open(&w, '[');
	for (size_t k = 0; k < ev->n_sources; k++) {
		jw_open(&w, '{');
		JW_KEY(&w, "ip");
		jw_addr(&w, &ev->sources[k].addr);
		SET_U64(&w, "packets", ev->sources[k].packets);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	JW_KEY(&w, "ports");
	jw_open(&w, '[');
	for (size_t k = 0; k < ev->n_ports; k++) {
		jw_open(&w, '{');
		SET_U64(&w, "port", ev->ports[k].key);
		SET_U64(&w, "packets", ev->ports[k].packets);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	JW_KEY(&w, "protocols");
	jw_open(&w, '[');
	for (size_t k = 0; k < ev->n_protocols; k++) {
		jw_open(&w, '{');
		SET_U64(&w, "proto", ev->protocols[k].key);
		SET_U64(&w, "packets", ev->protocols[k].packets);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	int rc = emit(out, "attack", key, &w);
	free(w.p);
	return rc;
}

int doc_batch_move(struct doc_batch *dst, struct doc_batch *src)
{
	if (!src->n)
		return 0;
	if (dst->cap - dst->n < src->n) {
		size_t ncap = dst->n + src->n;
		struct doc *nv = realloc(dst->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		dst->v = nv;
		dst->cap = ncap;
	}
	memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
	dst->n += src->n;
	free(src->v);
	memset(src, 0, sizeof(*src));
	return 0;
}

/* ---- the writer for other modules' documents (doc.h) --------------------- */

struct doc_writer {
	struct jw w;
};

struct doc_writer *doc_writer_create(void)
{
	return fault_calloc(1, sizeof(struct doc_writer));
}

void doc_writer_destroy(struct doc_writer *w)
{
	if (!w)
		return;
	free(w->w.p);
	free(w);
}

void doc_writer_begin(struct doc_writer *w, const char *kind, const char *site, int64_t time_slot,
                      const char *timestamp)
{
	struct jw *j = &w->w;

	j->len = 0;
	j->failed = false;
	j->comma = false;
	jw_open(j, '{');
	SET_STR(j, "kind", kind);
	SET_STR(j, "site", site);
	JW_KEY(j, "timeSlot");
	jw_i64(j, time_slot);
	SET_STR(j, "@timestamp", timestamp);
}

void doc_writer_key(struct doc_writer *w, const char *key)
{
	jw_key(&w->w, key);
}

void doc_writer_open(struct doc_writer *w, char bracket)
{
	jw_open(&w->w, bracket);
}

void doc_writer_close(struct doc_writer *w, char bracket)
{
	jw_close(&w->w, bracket);
}

void doc_writer_i64(struct doc_writer *w, int64_t v)
{
	jw_i64(&w->w, v);
}

void doc_writer_null(struct doc_writer *w)
{
	jw_sep(&w->w);
	JW_LIT(&w->w, "null");
	w->w.comma = true;
}

void doc_writer_str(struct doc_writer *w, const char *s)
{
	jw_str(&w->w, s);
}

void doc_writer_addr(struct doc_writer *w, const struct flow_addr *a)
{
	jw_addr(&w->w, a);
}

void doc_writer_mac(struct doc_writer *w, const uint8_t mac[6])
{
	jw_mac(&w->w, mac);
}

bool doc_writer_text(struct doc_writer *w, const char *s)
{
	return jw_text(&w->w, s);
}

void doc_writer_member_text(struct doc_writer *w, const char *key, const char *s)
{
	member_text(&w->w, key, s);
}

int doc_writer_emit(struct doc_writer *w, const char *kind, const char *key, struct doc_batch *out)
{
	return emit(out, kind, key, &w->w);
}
