/*
 * l2 parse: `show arp` and `show mac address-table` output of Cisco IOS,
 * IOS-XR, NX-OS, Juniper Junos and Arista EOS into struct l2_obs. See l2.h
 * and docs/internals/l2.md.
 *
 * Each line goes through three steps. First a tiny terminal (clean_line)
 * replays it the way a screen would show it: backspaces and carriage
 * returns move the cursor, ANSI sequences are dropped or erase, other
 * control bytes vanish. That undoes every pager style we know ("--More--"
 * followed by backspaces, spaces and backspaces, or by "\r" and "ESC[K").
 * Then any pager marker still visible is blanked. Last, the kind's entry
 * parser reads the tokens; a line that is no entry is classified as
 * header, prompt or unknown, for the counters only.
 *
 * Not this file's job: running commands, merging, documents.
 */
#include "nfsentry/l2.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nfsentry/fault.h"
#include "nfsentry/grow.h"

/* Names */

static const char *const state_names[L2_STATE__COUNT] = {"Dynamic",    "Static",  "Interface",
                                                         "Incomplete", "Deleted", "Other"};
static const char *const skip_names[L2_SKIP__COUNT] = {"blank",     "header",  "prompt",   "pager",
                                                       "malformed", "unknown", "too_long", "limit"};

const char *l2_state_name(enum l2_state st)
{
	return (unsigned)st < L2_STATE__COUNT ? state_names[st] : "Other";
}

const char *l2_skip_name(enum l2_skip why)
{
	return (unsigned)why < L2_SKIP__COUNT ? skip_names[why] : "unknown";
}

/* Lists */

void l2_obs_list_init(struct l2_obs_list *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	if (max == 0)
		max = L2_MAX_ENTRIES;
	/* l2_parse returns the count appended as an int. */
	l->max = max > INT_MAX ? INT_MAX : max;
}

void l2_obs_list_free(struct l2_obs_list *l)
{
	size_t max = l->max;

	free(l->v);
	memset(l, 0, sizeof(*l));
	l->max = max;
}

static int list_push(struct l2_obs_list *l, const struct l2_obs *o)
{
	if (grow_array((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v), 64, l->max) != 0)
		return -ENOMEM;
	l->v[l->n++] = *o;
	return 0;
}

/* MAC addresses */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * ngroups groups of 1..maxdig hex digits separated by sep, each group
 * worth (maxdig / 2) bytes.
 */
static int mac_groups(const char *s, size_t len, char sep, int ngroups, int maxdig, uint8_t mac[6])
{
	size_t i = 0;
	int bytes_per = maxdig / 2;

	for (int g = 0; g < ngroups; g++) {
		uint32_t v = 0;
		int nd = 0;

		while (i < len && hexval(s[i]) >= 0) {
			if (++nd > maxdig)
				return -EINVAL;
			v = v << 4 | (uint32_t)hexval(s[i]);
			i++;
		}
		if (nd == 0)
			return -EINVAL;
		for (int b = 0; b < bytes_per; b++)
			mac[g * bytes_per + b] = (uint8_t)(v >> (8 * (bytes_per - 1 - b)));
		if (g < ngroups - 1) {
			if (i >= len || s[i] != sep)
				return -EINVAL;
			i++;
		}
	}
	return i == len ? 0 : -EINVAL;
}

int l2_mac_parse(const char *s, size_t len, uint8_t mac[6])
{
	uint8_t tmp[6];
	size_t ndot = 0, ncolon = 0, ndash = 0;
	int rc;

	if (!s || len == 0 || len > 17)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		ndot += s[i] == '.';
		ncolon += s[i] == ':';
		ndash += s[i] == '-';
	}
	if (ndot == 2 && ncolon == 0 && ndash == 0)
		rc = mac_groups(s, len, '.', 3, 4, tmp);
	else if (ncolon == 5 && ndot == 0 && ndash == 0)
		rc = mac_groups(s, len, ':', 6, 2, tmp);
	else if (ndash == 5 && ndot == 0 && ncolon == 0)
		rc = mac_groups(s, len, '-', 6, 2, tmp);
	else if (len == 12 && ndot == 0 && ncolon == 0 && ndash == 0) {
		for (size_t i = 0; i < 12; i++)
			if (hexval(s[i]) < 0)
				return -EINVAL;
		for (size_t b = 0; b < 6; b++)
			tmp[b] = (uint8_t)(hexval(s[2 * b]) << 4 | hexval(s[2 * b + 1]));
		rc = 0;
	} else
		rc = -EINVAL;
	if (rc == 0)
		memcpy(mac, tmp, 6);
	return rc;
}

void l2_mac_format(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
	         mac[5]);
}

/* Lines */

struct tok {
	const char *s;
	size_t len;
};

#define MAX_TOKS 24

struct line {
	char s[L2_LINE_MAX + 1];
	size_t len;
	struct tok t[MAX_TOKS];
	int n;
};

/*
 * Replay raw[0..n) on a one-line screen into ln->s. n <= L2_LINE_MAX, and
 * every byte writes at most one cell, so the screen cannot overflow.
 */
static void clean_line(const char *raw, size_t n, struct line *ln)
{
	size_t cur = 0, end = 0;
	char *o = ln->s;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (c == 0x1b) {
			if (i + 1 < n && raw[i + 1] == '[') {
				/* CSI: parameters, intermediates, one final byte. */
				char param = 0;
				i += 2;
				while (i < n && (unsigned char)raw[i] >= 0x30 &&
				       (unsigned char)raw[i] <= 0x3f) {
					if (!param)
						param = raw[i];
					i++;
				}
				while (i < n && (unsigned char)raw[i] >= 0x20 &&
				       (unsigned char)raw[i] <= 0x2f)
					i++;
				if (i < n && raw[i] == 'K') {
					/* Erase in line: 0 to the end, 1 to the cursor, 2 all. */
					if (param == '1' || param == '2')
						memset(o, ' ', param == '2' ? end : cur);
					if (param != '1' && param != '2')
						end = cur;
				}
				/* Colours and cursor moves change nothing we read. */
			} else if (i + 1 < n) {
				i++; /* two-byte escape */
			}
			continue;
		}
		if (c == '\b') {
			if (cur > 0)
				cur--;
			continue;
		}
		if (c == '\r') {
			cur = 0;
			continue;
		}
		if (c == '\t')
			c = ' ';
		if (c < 0x20 || c == 0x7f)
			continue;
		o[cur++] = (char)c;
		if (cur > end)
			end = cur;
	}
	o[end] = '\0';
	ln->len = end;
}

/* Blank every pager marker; returns how many were found. */
static unsigned strip_pager(struct line *ln)
{
	unsigned found = 0;
	char *p;

	/* Cisco and Arista: "--More--", sometimes " -- More -- ". */
	while ((p = strcasestr(ln->s, "--More--")) != NULL) {
		memset(p, ' ', 8);
		found++;
	}
	while ((p = strcasestr(ln->s, "-- More --")) != NULL) {
		memset(p, ' ', 10);
		found++;
	}
	/* Junos: "---(more)---", "---(more 45%)---". */
	while ((p = strcasestr(ln->s, "---(more")) != NULL) {
		char *q = strstr(p, ")---");
		size_t span = q ? (size_t)(q + 4 - p) : strlen(p);
		memset(p, ' ', span);
		found++;
	}
	return found;
}

/* Pager markers in the raw bytes, before the screen replay may erase them. */
static unsigned count_pager_raw(const char *raw, size_t n)
{
	static const char *const marks[] = {"--More--", "-- More --", "---(more"};
	unsigned found = 0;

	for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
		size_t ml = strlen(marks[k]);
		const char *p = raw, *end = raw + n;
		while ((size_t)(end - p) >= ml &&
		       (p = memmem(p, (size_t)(end - p), marks[k], ml))) {
			found++;
			p += ml;
		}
	}
	return found;
}

static void tokenize(struct line *ln)
{
	size_t i = 0;

	ln->n = 0;
	while (i < ln->len && ln->n < MAX_TOKS) {
		while (i < ln->len && ln->s[i] == ' ')
			i++;
		if (i >= ln->len)
			break;
		size_t st = i;
		while (i < ln->len && ln->s[i] != ' ')
			i++;
		ln->t[ln->n].s = ln->s + st;
		ln->t[ln->n].len = i - st;
		ln->n++;
	}
}

static bool tok_is(const struct tok *t, const char *w)
{
	size_t n = strlen(w);
	return t->len == n && strncasecmp(t->s, w, n) == 0;
}

static bool tok_digits(const struct tok *t, size_t maxlen)
{
	if (t->len == 0 || t->len > maxlen)
		return false;
	for (size_t i = 0; i < t->len; i++)
		if (t->s[i] < '0' || t->s[i] > '9')
			return false;
	return true;
}

static int64_t tok_num(const struct tok *t)
{
	int64_t v = 0;
	for (size_t i = 0; i < t->len; i++)
		v = v * 10 + (t->s[i] - '0');
	return v;
}

static bool tok_ip(const struct tok *t, struct flow_addr *a)
{
	char buf[64];
	size_t n = t->len;

	/* IPv6 link-local with a zone: "fe80::1%Vlan10". */
	const char *pct = memchr(t->s, '%', n);
	if (pct)
		n = (size_t)(pct - t->s);
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, t->s, n);
	buf[n] = '\0';
	return flow_addr_parse(buf, a) == 0;
}

static bool tok_mac(const struct tok *t, uint8_t mac[6])
{
	return l2_mac_parse(t->s, t->len, mac) == 0;
}

/*
 * Ages as devices print them: "-", "N/A", "never" (unknown, -1); plain
 * numbers (times unit_s: 60 for IOS minutes); "h:mm:ss", "mm:ss"; and
 * "1d02h", "2w3d", "05m12s". Returns 0 or -EINVAL.
 */
static int tok_age(const struct tok *t, int64_t unit_s, int64_t *out)
{
	if (tok_is(t, "-") || tok_is(t, "N/A") || tok_is(t, "NA") || tok_is(t, "never")) {
		*out = -1;
		return 0;
	}
	if (tok_digits(t, 10)) {
		*out = tok_num(t) * unit_s;
		return 0;
	}
	int64_t total = 0, v = 0;
	int nd = 0, groups = 0;
	bool colon = memchr(t->s, ':', t->len) != NULL;

	for (size_t i = 0; i < t->len; i++) {
		char c = t->s[i];
		if (c >= '0' && c <= '9') {
			if (++nd > 6)
				return -EINVAL;
			v = v * 10 + (c - '0');
			continue;
		}
		if (nd == 0)
			return -EINVAL;
		if (colon) {
			if (c != ':' || ++groups > 3)
				return -EINVAL;
			total = total * 60 + v;
		} else {
			int64_t mul;
			switch (c) {
			case 'w':
				mul = 7 * 86400;
				break;
			case 'd':
				mul = 86400;
				break;
			case 'h':
				mul = 3600;
				break;
			case 'm':
				mul = 60;
				break;
			case 's':
				mul = 1;
				break;
			default:
				return -EINVAL;
			}
			total += v * mul;
		}
		v = 0;
		nd = 0;
	}
	if (colon) {
		if (nd == 0 || groups == 0)
			return -EINVAL;
		total = total * 60 + v;
	} else if (nd != 0) {
		return -EINVAL; /* "1d02" with no unit at the end */
	}
	*out = total;
	return 0;
}

/* Copy at most dstsz-1 bytes; returns true when it had to cut. */
static bool copy_word(char *dst, size_t dstsz, const char *s, size_t n)
{
	bool cut = n >= dstsz;
	if (cut)
		n = dstsz - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return cut;
}

/* Tokens first..last (inclusive) joined by single spaces; true when cut. */
static bool copy_toks(char *dst, size_t dstsz, const struct line *ln, int first, int last)
{
	size_t o = 0;
	bool cut = false;

	dst[0] = '\0';
	for (int k = first; k <= last && k < ln->n; k++) {
		const struct tok *t = &ln->t[k];
		size_t sp = k > first, n = t->len;
		if (o + sp + n >= dstsz) {
			/* Keep what fits of this token, then stop. */
			cut = true;
			if (o + sp >= dstsz - 1)
				break;
			n = dstsz - 1 - o - sp;
		}
		if (sp)
			dst[o++] = ' ';
		memcpy(dst + o, t->s, n);
		o += n;
		if (cut)
			break;
	}
	dst[o] = '\0';
	return cut;
}

/*
 * The rest of the line from token first, runs of spaces collapsed to one
 * (read from the line itself: tokenize stops at MAX_TOKS). True when cut.
 */
static bool copy_rest(char *dst, size_t dstsz, const struct line *ln, int first)
{
	size_t o = 0;
	bool cut = false;

	dst[0] = '\0';
	if (first >= ln->n)
		return false;
	size_t end = ln->len;
	while (end > 0 && ln->s[end - 1] == ' ')
		end--;
	for (size_t i = (size_t)(ln->t[first].s - ln->s); i < end; i++) {
		if (ln->s[i] == ' ' && ln->s[i - 1] == ' ')
			continue;
		if (o + 1 >= dstsz) {
			cut = true;
			break;
		}
		dst[o++] = ln->s[i];
	}
	dst[o] = '\0';
	return cut;
}

enum res {
	RES_ENTRY = -1, /* an observation; anything else is an enum l2_skip */
	RES_NOT_ENTRY = -2,
};

struct pstate {
	bool junos_name_col; /* the header had a "Name" column (show arp without no-resolve) */
	struct l2_parse_stats *st;
};

static void obs_blank(struct l2_obs *o)
{
	memset(o, 0, sizeof(*o));
	o->age_s = -1;
	o->vlan = -1;
	o->state = L2_STATE_DYNAMIC;
}

static void set_raw(struct pstate *ps, struct l2_obs *o, const struct tok *t)
{
	if (copy_word(o->state_raw, sizeof(o->state_raw), t->s, t->len))
		ps->st->truncated_fields++;
}

static void set_if(struct pstate *ps, struct l2_obs *o, const struct line *ln, int first)
{
	if (copy_rest(o->ifname, sizeof(o->ifname), ln, first))
		ps->st->truncated_fields++;
}

/* The interface as one token, for columns that other fields follow. */
static void set_if_tok(struct pstate *ps, struct l2_obs *o, const struct tok *t)
{
	if (copy_word(o->ifname, sizeof(o->ifname), t->s, t->len))
		ps->st->truncated_fields++;
}

static bool is_incomplete_word(const struct tok *t)
{
	return tok_is(t, "Incomplete") || tok_is(t, "(incomplete)");
}

/*
 * An ARP row's hardware column: a MAC (has_mac set), or a word saying the
 * address is not resolved yet (state Incomplete, the word kept as
 * state_raw). False when it is neither: a malformed row.
 */
static bool arp_hw(struct pstate *ps, const struct tok *t, struct l2_obs *o)
{
	if (is_incomplete_word(t)) {
		o->state = L2_STATE_INCOMPLETE;
		set_raw(ps, o, t);
		return true;
	}
	o->has_mac = tok_mac(t, o->mac);
	return o->has_mac;
}

/*
 * Cisco IOS / IOS-XE `show arp`, `show ip arp`:
 * Protocol Address Age(min) Hardware-Addr Type Interface
 * "Internet  192.168.3.3  0  5254.00a7.574d  ARPA  Vlan2"; "Incomplete" in
 * the MAC column (and often no interface); "-" age for the router's own
 * addresses (and static entries, which IOS prints alike).
 */
static int parse_ios_arp(struct pstate *ps, const struct line *ln, struct l2_obs *o)
{
	if (ln->n < 1 || !tok_is(&ln->t[0], "Internet"))
		return RES_NOT_ENTRY;
	if (ln->n < 5)
		return L2_SKIP_MALFORMED;
	if (!tok_ip(&ln->t[1], &o->ip) || tok_age(&ln->t[2], 60, &o->age_s) != 0)
		return L2_SKIP_MALFORMED;
	o->has_ip = true;
	if (!arp_hw(ps, &ln->t[3], o))
		return L2_SKIP_MALFORMED;
	if (o->has_mac)
		o->state = tok_is(&ln->t[2], "-") ? L2_STATE_INTERFACE : L2_STATE_DYNAMIC;
	/* t[4] is the encapsulation (ARPA, SNAP, SAP); t[5..] the interface. */
	set_if(ps, o, ln, 5);
	return RES_ENTRY;
}

static enum l2_state xr_state(const struct tok *t)
{
	if (tok_is(t, "Dynamic"))
		return L2_STATE_DYNAMIC;
	if (tok_is(t, "Interface"))
		return L2_STATE_INTERFACE;
	if (tok_is(t, "Incomplete"))
		return L2_STATE_INCOMPLETE;
	if (tok_is(t, "Deleted"))
		return L2_STATE_DELETED;
	if (tok_is(t, "Static") || tok_is(t, "Alias"))
		return L2_STATE_STATIC;
	return L2_STATE_OTHER;
}

/*
 * Cisco IOS-XR `show arp`: Address Age Hardware-Addr State Type Interface
 * "211.79.60.29  00:00:04  0000.0000.0000  Incomplete  ARPA  TenGigE0/5/0/3".
 * Unresolved entries carry MAC 0000.0000.0000, which we keep as it is: the
 * paper's merged objects list it.
 */
static int parse_xr_arp(struct pstate *ps, const struct line *ln, struct l2_obs *o)
{
	if (ln->n < 1 || !tok_ip(&ln->t[0], &o->ip))
		return RES_NOT_ENTRY;
	o->has_ip = true;
	if (ln->n < 4 || tok_age(&ln->t[1], 1, &o->age_s) != 0 || !tok_mac(&ln->t[2], o->mac))
		return L2_SKIP_MALFORMED;
	o->has_mac = true;
	o->state = (uint8_t)xr_state(&ln->t[3]);
	set_raw(ps, o, &ln->t[3]);
	set_if(ps, o, ln, 5);
	return RES_ENTRY;
}

/*
 * Cisco NX-OS `show ip arp`: Address Age MAC-Address Interface [Flags]
 * "10.1.1.3  00:00:02  INCOMPLETE  Vlan10"; flags "*", "+", "#", "CP", "PS",
 * "RO", "D" after the interface (kept as state_raw). "-" age: static.
 */
static int parse_nxos_arp(struct pstate *ps, const struct line *ln, struct l2_obs *o)
{
	if (ln->n < 1 || !tok_ip(&ln->t[0], &o->ip))
		return RES_NOT_ENTRY;
	o->has_ip = true;
	if (ln->n < 4 || tok_age(&ln->t[1], 1, &o->age_s) != 0 || !arp_hw(ps, &ln->t[2], o))
		return L2_SKIP_MALFORMED;
	if (o->has_mac) {
		o->state = tok_is(&ln->t[1], "-") ? L2_STATE_STATIC : L2_STATE_DYNAMIC;
		if (ln->n > 4 && copy_toks(o->state_raw, sizeof(o->state_raw), ln, 4, ln->n - 1))
			ps->st->truncated_fields++;
	}
	set_if_tok(ps, o, &ln->t[3]);
	return RES_ENTRY;
}

static bool vlan_tok(const struct tok *t, int32_t *vlan)
{
	if (tok_is(t, "-") || tok_is(t, "All") || tok_is(t, "N/A")) {
		*vlan = -1;
		return true;
	}
	if (!tok_digits(t, 8))
		return false;
	*vlan = (int32_t)tok_num(t);
	return true;
}

static enum l2_state mac_type_state(const struct tok *t)
{
	if (tok_is(t, "dynamic"))
		return L2_STATE_DYNAMIC;
	if (tok_is(t, "static"))
		return L2_STATE_STATIC;
	return L2_STATE_OTHER;
}

/* One- or two-character NX-OS row markers: "*", "+", "G", "~", "C", "O", "*+". */
static bool nxos_marker(const struct tok *t)
{
	if (t->len == 0 || t->len > 2)
		return false;
	for (size_t i = 0; i < t->len; i++)
		if (!strchr("*+G~COR", t->s[i]))
			return false;
	return true;
}

/*
 * Cisco NX-OS `show mac address-table`:
 * [marker] VLAN MAC-Address Type age Secure NTFY Ports
 * "* 3260  70e4.2224.88f5  dynamic  10  F  F  Eth1/43",
 * "G  -  4006.d5c5.511f  static  -  F  F  sup-eth1(R)" (the switch's own
 * MAC: Interface). Ports may hold a space ("vPC Peer-Link").
 */
static int parse_nxos_mac(struct pstate *ps, const struct line *ln, struct l2_obs *o)
{
	int k = 0;
	bool gw = false;

	if (ln->n >= 1 && nxos_marker(&ln->t[0])) {
		gw = memchr(ln->t[0].s, 'G', ln->t[0].len) != NULL;
		k = 1;
	}
	if (ln->n < k + 2)
		return k && ln->n == 2 && tok_digits(&ln->t[1], 8) ? L2_SKIP_MALFORMED
		                                                   : RES_NOT_ENTRY;
	bool mac_ok = tok_mac(&ln->t[k + 1], o->mac);
	if (!vlan_tok(&ln->t[k], &o->vlan) || (!mac_ok && !(k && tok_digits(&ln->t[k], 8))))
		return RES_NOT_ENTRY;
	if (!mac_ok || ln->n < k + 4)
		return L2_SKIP_MALFORMED;
	o->has_mac = true;
	o->state = (uint8_t)(gw ? L2_STATE_INTERFACE : mac_type_state(&ln->t[k + 2]));
	set_raw(ps, o, &ln->t[k + 2]);
	if (tok_age(&ln->t[k + 3], 1, &o->age_s) != 0)
		return L2_SKIP_MALFORMED;
	int p = k + 4;
	/* Secure and NTFY: single T or F each, when present. */
	for (int f = 0; f < 2 && p < ln->n; f++) {
		if (tok_is(&ln->t[p], "T") || tok_is(&ln->t[p], "F"))
			p++;
		else
			break;
	}
	if (p >= ln->n)
		return L2_SKIP_MALFORMED; /* no port: a truncated row */
	set_if(ps, o, ln, p);
	return RES_ENTRY;
}

/*
 * The "Vlan Mac-Address Type Ports ..." MAC table of IOS and EOS. The port
 * is the rest of the line (port_rest) or one token that other columns
 * follow.
 */
static int parse_vlan_mac(struct pstate *ps, const struct line *ln, struct l2_obs *o,
                          bool port_rest)
{
	if (ln->n < 2 || !vlan_tok(&ln->t[0], &o->vlan) || tok_is(&ln->t[0], "-"))
		return RES_NOT_ENTRY;
	if (!tok_mac(&ln->t[1], o->mac))
		return tok_digits(&ln->t[0], 8) ? L2_SKIP_MALFORMED : RES_NOT_ENTRY;
	if (ln->n < 4)
		return L2_SKIP_MALFORMED;
	o->has_mac = true;
	o->state = (uint8_t)mac_type_state(&ln->t[2]);
	set_raw(ps, o, &ln->t[2]);
	if (port_rest)
		set_if(ps, o, ln, 3);
	else
		set_if_tok(ps, o, &ln->t[3]);
	return RES_ENTRY;
}

/*
 * Cisco IOS `show mac address-table` (Vlan Mac-Address Type Ports:
 * "  10    0050.7966.6800    DYNAMIC     Gi0/1", "All 0100.0ccc.cccc STATIC CPU").
 */
static int parse_ios_mac(struct pstate *ps, const struct line *ln, struct l2_obs *o)
{
	return parse_vlan_mac(ps, ln, o, true);
}

/*
 * Arista EOS `show mac address-table` (Vlan Mac-Address Type Ports Moves
 * Last-Move: "  10    001c.7300.0001    DYNAMIC     Et1   1   0:00:05 ago").
 */
static int parse_eos_mac(struct pstate *ps, const struct line *ln, struct l2_obs *o)
{
	return parse_vlan_mac(ps, ln, o, false);
}

static bool junos_flag(const struct tok *t)
{
	static const char *const words[] = {"none",    "permanent", "publish", "published",
	                                    "trusted", "remote",    "dynamic", "static"};
	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
		if (tok_is(t, words[k]))
			return true;
	return false;
}

/*
 * Juniper `show arp no-resolve`: MAC-Address Address Interface Flags
 * "00:00:5e:00:01:01 10.0.0.1 ge-0/0/0.0 none"; the interface may be two
 * tokens ("irb.10 [ge-0/0/1.0]"); flags "none", "permanent", "permanent
 * remote", "trusted", ... Without no-resolve a Name column follows the
 * address; the header says so.
 */
static int parse_junos_arp(struct pstate *ps, const struct line *ln, struct l2_obs *o)
{
	if (ln->n < 1 || !tok_mac(&ln->t[0], o->mac))
		return RES_NOT_ENTRY;
	o->has_mac = true;
	if (ln->n < 2 || !tok_ip(&ln->t[1], &o->ip))
		return L2_SKIP_MALFORMED;
	o->has_ip = true;
	int first = ps->junos_name_col ? 3 : 2;
	int last = ln->n - 1;
	while (last >= first && junos_flag(&ln->t[last]))
		last--;
	if (last < first)
		return L2_SKIP_MALFORMED;
	if (copy_toks(o->ifname, sizeof(o->ifname), ln, first, last))
		ps->st->truncated_fields++;
	if (last < ln->n - 1) {
		if (copy_toks(o->state_raw, sizeof(o->state_raw), ln, last + 1, ln->n - 1))
			ps->st->truncated_fields++;
		o->state = (uint8_t)(strcasestr(o->state_raw, "permanent") ? L2_STATE_STATIC
		                                                           : L2_STATE_DYNAMIC);
	}
	return RES_ENTRY;
}

/* A Junos ARP header with a "Name" column: show arp without no-resolve. */
static void junos_arp_header(struct pstate *ps, const struct line *ln)
{
	if (strcasestr(ln->s, "MAC Address") && strstr(ln->s, " Name "))
		ps->junos_name_col = true;
}

/*
 * Arista EOS `show arp` / `show ip arp`: Address Age(sec) Hardware-Addr
 * Interface -- "10.0.0.1  0:01:02  001c.7300.0001  Vlan10, Ethernet1";
 * "(incomplete)" for the MAC; "N/A" or "-" age (unknown).
 */
static int parse_eos_arp(struct pstate *ps, const struct line *ln, struct l2_obs *o)
{
	if (ln->n < 1 || !tok_ip(&ln->t[0], &o->ip))
		return RES_NOT_ENTRY;
	o->has_ip = true;
	if (ln->n < 3 || tok_age(&ln->t[1], 1, &o->age_s) != 0 || !arp_hw(ps, &ln->t[2], o))
		return L2_SKIP_MALFORMED;
	set_if(ps, o, ln, 3);
	return RES_ENTRY;
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * w occurs in s as a word of its own (case-insensitive): "vlan" is in
 * "VLAN MAC Address" but not in "Vlan10".
 */
static bool has_word(const char *s, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = s; (p = strcasestr(p, w)) != NULL; p++) {
		if ((p == s || !is_alnum(p[-1])) && !is_alnum(p[n]))
			return true;
	}
	return false;
}

/* A line that is no entry: header, prompt or unknown (for the counters). */
static enum l2_skip classify_noise(const struct line *ln)
{
	static const char *const words[] = {
	    "address",  "protocol",    "vlan",    "legend",    "flags",     "total",
	    "entries",  "expire",      "age",     "arp table", "vrf",       "cpu",
	    "hardware", "adjacencies", "entry",   "mac",       "seconds",   "(t)",
	    "(f)",      "added via",   "context", "interface", "ports",     "moves",
	    "learnt",   "originated",  "static",  "multicast", "criterion", "routed"};
	static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	const struct tok *t0 = &ln->t[0];

	const struct tok *tl = &ln->t[ln->n - 1];

	/* Junos "{master}", "{master:0}", "{primary:node0}". */
	if (t0->s[0] == '{' && tl->s[tl->len - 1] == '}')
		return L2_SKIP_PROMPT;
	/* "router#", "router#show arp", "RP/0/RSP0/CPU0:xr#", "user@host>". */
	for (size_t i = 1; i < t0->len; i++)
		if (t0->s[i] == '#' || t0->s[i] == '>')
			return L2_SKIP_PROMPT;
	bool sep = true;
	size_t dashes = 0;
	for (size_t i = 0; i < ln->len; i++) {
		if (!strchr("-=+|_ ", ln->s[i]))
			sep = false;
		dashes += ln->s[i] == '-' || ln->s[i] == '=';
	}
	if (sep && dashes >= 3)
		return L2_SKIP_HEADER;
	/* IOS-XR node titles: "0/RSP0/CPU0", "0/0/CPU0". */
	if (ln->n == 1 && t0->s[0] >= '0' && t0->s[0] <= '9' && memchr(t0->s, '/', t0->len) &&
	    memmem(t0->s, t0->len, "CPU", 3))
		return L2_SKIP_HEADER;
	for (size_t k = 0; k < sizeof(days) / sizeof(days[0]); k++)
		if (tok_is(t0, days[k]))
			return L2_SKIP_HEADER; /* IOS-XR timestamp banner */
	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
		if (has_word(ln->s, words[k]))
			return L2_SKIP_HEADER;
	return L2_SKIP_UNKNOWN;
}

/* ---- the kind table ------------------------------------------------------ */

/* A line parser and, when it needs one, what it learns from header lines. */
struct l2_parser {
	int (*line)(struct pstate *ps, const struct line *ln, struct l2_obs *o);
	void (*header)(struct pstate *ps, const struct line *ln); /* or NULL */
};

static const struct l2_parser ios_arp = {parse_ios_arp, NULL};
static const struct l2_parser xr_arp = {parse_xr_arp, NULL};
static const struct l2_parser nxos_arp = {parse_nxos_arp, NULL};
static const struct l2_parser junos_arp = {parse_junos_arp, junos_arp_header};
static const struct l2_parser eos_arp = {parse_eos_arp, NULL};
static const struct l2_parser ios_mac = {parse_ios_mac, NULL};
static const struct l2_parser nxos_mac = {parse_nxos_mac, NULL};
static const struct l2_parser eos_mac = {parse_eos_mac, NULL};

static const char *const ios_cmds[] = {"show arp", NULL};
static const char *const xr_cmds[] = {"show arp", NULL};
static const char *const eos_cmds[] = {"show arp", NULL};
static const char *const nxos_cmds[] = {"show ip arp", "show mac address-table", NULL};
static const char *const junos_cmds[] = {"show arp no-resolve | no-more", NULL};

/*
 * One row per device kind: everything a kind is. Every default command
 * runs without a pager (Junos: "| no-more"); pager_off is for an
 * interactive shell only.
 */
static const struct l2_kind_row kinds[] = {
    [L2_KIND_IOS] = {.name = "ios",
                     .alias = "ios-xe",
                     .commands = ios_cmds,
                     .pager_off = "terminal length 0",
                     .arp = &ios_arp,
                     .mac = &ios_mac},
    [L2_KIND_IOSXR] = {.name = "ios-xr",
                       .commands = xr_cmds,
                       .pager_off = "terminal length 0",
                       .arp = &xr_arp},
    [L2_KIND_NXOS] = {.name = "nxos",
                      .commands = nxos_cmds,
                      .pager_off = "terminal length 0",
                      .arp = &nxos_arp,
                      .mac = &nxos_mac},
    [L2_KIND_JUNOS] = {.name = "junos",
                       .commands = junos_cmds,
                       .pager_off = "set cli screen-length 0",
                       .arp = &junos_arp},
    [L2_KIND_EOS] = {.name = "eos",
                     .commands = eos_cmds,
                     .pager_off = "terminal length 0",
                     .arp = &eos_arp,
                     .mac = &eos_mac},
};
_Static_assert(sizeof(kinds) / sizeof(kinds[0]) == L2_KIND__COUNT, "one row per enum l2_kind");

const struct l2_kind_row *l2_kind_get(int kind)
{
	return kind >= 0 && kind < L2_KIND__COUNT ? &kinds[kind] : NULL;
}

const char *l2_kind_name(enum l2_kind kind)
{
	const struct l2_kind_row *r = l2_kind_get((int)kind);

	return r ? r->name : "unknown";
}

int l2_kind_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int k = 0; k < L2_KIND__COUNT; k++)
		if (strcmp(name, kinds[k].name) == 0 ||
		    (kinds[k].alias && strcmp(name, kinds[k].alias) == 0))
			return k;
	return -1;
}

const char *const *l2_kind_commands(enum l2_kind kind)
{
	static const char *const none[] = {NULL};
	const struct l2_kind_row *r = l2_kind_get((int)kind);

	return r ? r->commands : none;
}

/* The parser of (kind, command), or NULL when there is none. */
static const struct l2_parser *parser_of(enum l2_kind kind, enum l2_cmd cmd)
{
	const struct l2_kind_row *r = l2_kind_get((int)kind);

	if (!r)
		return NULL;
	return cmd == L2_CMD_ARP ? r->arp : cmd == L2_CMD_MAC ? r->mac : NULL;
}

int l2_cmd_classify(enum l2_kind kind, const char *command)
{
	enum l2_cmd cmd;

	if (!command)
		return -EINVAL;
	if (strcasestr(command, "mac address-table") || strcasestr(command, "mac-address-table"))
		cmd = L2_CMD_MAC;
	else if (strcasestr(command, "arp"))
		cmd = L2_CMD_ARP;
	else
		return -EINVAL;
	return parser_of(kind, cmd) ? (int)cmd : -EINVAL;
}

/* ---- parse ------------------------------------------------------------------ */

int l2_parse(enum l2_kind kind, enum l2_cmd cmd, const char *text, size_t len,
             struct l2_obs_list *out, struct l2_parse_stats *st)
{
	const struct l2_parser *parser = parser_of(kind, cmd);
	struct pstate ps = {.st = st};
	struct line *ln;
	struct l2_obs o;
	size_t pos = 0;
	int added = 0;

	if (!parser || !out || !st || (!text && len))
		return -EINVAL;
	/* The line buffer is 2 KiB: off the stack of a worker thread. */
	ln = fault_calloc(1, sizeof(*ln));
	if (!ln)
		return -ENOMEM;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		int r;

		st->lines++;
		if (n > L2_LINE_MAX) {
			r = L2_SKIP_TOO_LONG;
		} else {
			unsigned raw_marks = count_pager_raw(text + pos, n);
			clean_line(text + pos, n, ln);
			unsigned marks = strip_pager(ln);
			st->pager_marks += marks > raw_marks ? marks : raw_marks;
			tokenize(ln);
			if (ln->n == 0) {
				r = marks ? L2_SKIP_PAGER : L2_SKIP_BLANK;
			} else {
				obs_blank(&o);
				r = parser->line(&ps, ln, &o);
				if (r == RES_NOT_ENTRY) {
					r = classify_noise(ln);
					if (r == L2_SKIP_HEADER && parser->header)
						parser->header(&ps, ln);
				}
			}
		}
		if (r == RES_ENTRY) {
			if (out->n >= out->max) {
				r = L2_SKIP_LIMIT;
			} else if (list_push(out, &o) != 0) {
				free(ln);
				return -ENOMEM;
			} else {
				st->parsed++;
				added++;
			}
		}
		if (r >= 0)
			st->skipped[r]++;
		pos = nl ? end + 1 : len;
	}
	free(ln);
	return added;
}

#define SKIP(k, nm, help) COUNTER_DEF(l2_parse_stats, skipped[k], nm, COUNTER_TOTAL, help)
static const struct counter_def l2_parse_counter_defs[] = {
    COUNTER_DEF(l2_parse_stats, lines, "lines", COUNTER_TOTAL, "Lines of device output read."),
    COUNTER_DEF(l2_parse_stats, parsed, "parsed", COUNTER_TOTAL, "Lines that gave an entry."),
    SKIP(L2_SKIP_BLANK, "skippedBlank", "Lines skipped: empty or whitespace only."),
    SKIP(L2_SKIP_HEADER, "skippedHeader",
         "Lines skipped: header, legend, separator, totals or title."),
    SKIP(L2_SKIP_PROMPT, "skippedPrompt", "Lines skipped: a prompt."),
    SKIP(L2_SKIP_PAGER, "skippedPager", "Lines skipped: nothing left without the pager marker."),
    SKIP(L2_SKIP_MALFORMED, "skippedMalformed",
         "Lines skipped: an entry with a bad or missing field."),
    SKIP(L2_SKIP_UNKNOWN, "skippedUnknown", "Lines skipped: nothing recognised."),
    SKIP(L2_SKIP_TOO_LONG, "skippedTooLong", "Lines skipped: longer than L2_LINE_MAX."),
    SKIP(L2_SKIP_LIMIT, "skippedLimit", "Entries skipped: the list is at its cap."),
    COUNTER_DEF(l2_parse_stats, pager_marks, "pagerMarks", COUNTER_TOTAL, "Pager markers removed."),
    COUNTER_DEF(l2_parse_stats, truncated_fields, "truncatedFields", COUNTER_TOTAL,
                "Interface or state words cut to fit."),
};
#undef SKIP
_Static_assert(sizeof(l2_parse_counter_defs) / sizeof(l2_parse_counter_defs[0]) *
                       sizeof(uint64_t) ==
                   sizeof(struct l2_parse_stats),
               "one counter per field of struct l2_parse_stats");

const struct counter_table l2_parse_counters =
    COUNTER_TABLE("l2parse", l2_parse_counter_defs, l2_parse_stats);
