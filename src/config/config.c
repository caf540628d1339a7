/*
 * config: the YAML configuration file, validated against a table-driven
 * schema. See include/nfsentry/config.h for the contract and
 * docs/configuration.md for every key.
 *
 * How it works: ytree.c reads the file into a node tree that keeps the line
 * of every key and value. The schema below is a tree of struct cfg_key
 * tables (section -> key -> parser -> destination); walking the node tree
 * against it fills a scratch struct config and collects every problem.
 * Only a scratch without problems is handed to the caller, so a bad file is
 * never half-applied.
 *
 * Adding a key is one row in the right table. Adding a section is a table
 * of its keys plus one row pointing at it from top_keys[]. A list of
 * records (sites, devices) is a p_list row whose item is a p_map row.
 *
 * Not this module's job: acting on the values (sockets, decoder, logging).
 */
#include "nfsentry/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ytree.h"

/* Longest key path we print, e.g. "exporters.sampling[4095].exporter". */
#define CFG_PATH_MAX 256
/* Longest part of a rejected value quoted back in a message. */
#define CFG_VALUE_SHOW 64

struct cfg_ctx {
	const char *file;
	struct config_errors *errs;
	size_t cap;
	bool oom;
	bool full; /* CONFIG_MAX_ERRORS reached and said */
};

struct cfg_key;

/*
 * Read node v (never NULL) for key k into base + k->off. path names the key
 * for messages. Problems go to c; the destination may be left partly
 * written, which is harmless because a scratch with problems is discarded.
 */
typedef void (*cfg_parse_fn)(struct cfg_ctx *c, const char *path, const struct ytree *v,
                             const struct cfg_key *k, void *base);

/* Whole-list checks (duplicates) after every item parsed cleanly. */
typedef void (*cfg_check_fn)(struct cfg_ctx *c, const char *path, const struct ytree *list,
                             const void *items, size_t n);

struct cfg_key {
	const char *name;
	cfg_parse_fn parse;
	size_t off;                 /* destination, from the base given to parse */
	uint64_t min, max;          /* numbers: inclusive range; lists: item count */
	const struct cfg_key *sub;  /* p_map: the mapping's keys, ended by {NULL} */
	const struct cfg_key *item; /* p_list*: how one item is read (name unused) */
	size_t item_size;           /* p_list*: bytes per item */
	size_t off_n;               /* p_list*: where the size_t count goes */
	cfg_check_fn check;         /* p_list*: optional */
	bool required;              /* inside a p_map: the key must be present */
};

/* ---- messages ---------------------------------------------------------- */

static void errs_push(struct cfg_ctx *c, const char *line)
{
	char *m;

	if (c->oom || c->full)
		return;
	if (c->errs->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		char **v = config_realloc(c->errs->msg, cap * sizeof(*v));

		if (!v) {
			c->oom = true;
			return;
		}
		c->errs->msg = v;
		c->cap = cap;
	}
	m = config_strdup(line);
	if (!m) {
		c->oom = true;
		return;
	}
	c->errs->msg[c->errs->n++] = m;
}

/* Quote s for a message: escapes, and at most CFG_VALUE_SHOW bytes. */
static void quote_value(char *out, size_t outlen, const char *s)
{
	size_t o = 0, i;

	for (i = 0; s[i] && i < CFG_VALUE_SHOW && o + 5 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(out + o, outlen - o, "\\x%02x", ch);
			o += 4;
		} else {
			out[o++] = (char)ch;
		}
	}
	if (s[i] && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void cfg_err(struct cfg_ctx *c, unsigned line, const char *path, const struct ytree *val,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * One message: "FILE:LINE: PATH: what (got "value")". The value part is
 * added when val is a non-empty scalar.
 */
static void cfg_err(struct cfg_ctx *c, unsigned line, const char *path, const struct ytree *val,
                    const char *fmt, ...)
{
	char what[512], shown[CFG_VALUE_SHOW * 4 + 8], msg[1024];
	va_list ap;

	if (c->errs->n + 1 == CONFIG_MAX_ERRORS && !c->full) {
		snprintf(msg, sizeof(msg), "%s: too many errors; the rest are not shown", c->file);
		errs_push(c, msg);
		c->full = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (val && val->kind == YTREE_SCALAR && val->len > 0) {
		quote_value(shown, sizeof(shown), val->str);
		snprintf(msg, sizeof(msg), "%s:%u: %s: %s (got \"%s\")", c->file, line,
		         path[0] ? path : "top level", what, shown);
	} else {
		snprintf(msg, sizeof(msg), "%s:%u: %s: %s", c->file, line,
		         path[0] ? path : "top level", what);
	}
	errs_push(c, msg);
}

static const char *kind_name(const struct ytree *v)
{
	if (v->kind == YTREE_MAP)
		return "a mapping";
	if (v->kind == YTREE_SEQ)
		return "a list";
	return ytree_is_null(v) ? "nothing" : "a single value";
}

/*
 * The text of a scalar value, or NULL after reporting why there is none.
 * expect describes what was wanted ("true or false").
 */
static const char *scalar_of(struct cfg_ctx *c, const char *path, const struct ytree *v,
                             const char *expect)
{
	if (v->kind != YTREE_SCALAR) {
		cfg_err(c, v->line, path, NULL, "expected %s, got %s", expect, kind_name(v));
		return NULL;
	}
	if (ytree_is_null(v)) {
		cfg_err(c, v->line, path, NULL, "no value; expected %s", expect);
		return NULL;
	}
	return v->str;
}

static void path_key(char *out, const char *path, const char *key)
{
	int n = path[0] ? snprintf(out, CFG_PATH_MAX, "%s.%s", path, key)
	                : snprintf(out, CFG_PATH_MAX, "%s", key);

	if (n < 0 || n >= CFG_PATH_MAX) /* a shortened path still points the way */
		memcpy(out + CFG_PATH_MAX - 4, "...", 4);
}

static void path_index(char *out, const char *path, size_t i)
{
	int n = snprintf(out, CFG_PATH_MAX, "%s[%zu]", path, i);

	if (n < 0 || n >= CFG_PATH_MAX)
		memcpy(out + CFG_PATH_MAX - 4, "...", 4);
}

/* ---- numbers ----------------------------------------------------------- */

/*
 * Decimal digits only: strtoull alone would accept leading space, "+", and
 * "-1" (as a huge value). Returns 0, or -EINVAL / -ERANGE. *end gets the
 * first byte after the digits when end is not NULL; otherwise the digits
 * must be the whole string.
 */
static int parse_uint(const char *s, uint64_t *out, const char **end)
{
	char *e;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0)
		return -EINVAL;
	if (end)
		*end = e;
	else if (*e != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- value parsers ----------------------------------------------------- */

static void p_bool(struct cfg_ctx *c, const char *path, const struct ytree *v,
                   const struct cfg_key *k, void *base)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	const char *s = scalar_of(c, path, v, "true or false");
	bool *dst = (bool *)((char *)base + k->off);

	if (!s)
		return;
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*dst = true;
			return;
		}
		if (strcmp(s, no[i]) == 0) {
			*dst = false;
			return;
		}
	}
	cfg_err(c, v->line, path, v, "not true or false");
}

static void p_u32(struct cfg_ctx *c, const char *path, const struct ytree *v,
                  const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a whole number");
	uint64_t n;
	int rc;

	if (!s)
		return;
	rc = parse_uint(s, &n, NULL);
	if (rc == -EINVAL) {
		cfg_err(c, v->line, path, v, "not a whole number");
		return;
	}
	if (rc < 0 || n < k->min || n > k->max || n > UINT32_MAX) {
		cfg_err(c, v->line, path, v, "must be %llu..%llu", (unsigned long long)k->min,
		        (unsigned long long)k->max);
		return;
	}
	*(uint32_t *)((char *)base + k->off) = (uint32_t)n;
}

/*
 * A byte count into an int: digits, then optionally (after spaces) one of
 * the binary suffixes KiB, MiB, GiB. Decimal "MB"/"M" are refused on
 * purpose: they are ambiguous, and the kernel counts SO_RCVBUF in bytes.
 */
static void p_bytes(struct cfg_ctx *c, const char *path, const struct ytree *v,
                    const struct cfg_key *k, void *base)
{
	static const struct {
		const char *name;
		uint64_t mult;
	} suffix[] = {{"", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024 * 1024 * 1024}};
	const char *s = scalar_of(c, path, v, "a byte count");
	const char *e;
	uint64_t n, bytes = 0;
	int rc;

	if (!s)
		return;
	rc = parse_uint(s, &n, &e);
	if (rc == 0) {
		size_t i;

		while (*e == ' ')
			e++;
		for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
			if (strcmp(e, suffix[i].name) == 0)
				break;
		}
		if (i == sizeof(suffix) / sizeof(suffix[0]) || (e > s && e[-1] == ' ' && !*e))
			rc = -EINVAL;
		else if (__builtin_mul_overflow(n, suffix[i].mult, &bytes))
			rc = -ERANGE;
	}
	if (rc == -EINVAL) {
		cfg_err(c, v->line, path, v,
		        "not a byte count (a whole number, or one ending in KiB, MiB or GiB)");
		return;
	}
	if (rc < 0 || bytes < k->min || bytes > k->max) {
		cfg_err(c, v->line, path, v, "must be %llu..%llu bytes", (unsigned long long)k->min,
		        (unsigned long long)k->max);
		return;
	}
	*(int *)((char *)base + k->off) = (int)bytes;
}

static void p_log_level(struct cfg_ctx *c, const char *path, const struct ytree *v,
                        const struct cfg_key *k, void *base)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	const char *s = scalar_of(c, path, v, "error, warn, info or debug");

	if (!s)
		return;
	/*
	 * Exact lower case, unlike log_level_parse(): the file is the reference
	 * operators copy from, and one spelling keeps it greppable.
	 */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*(enum log_level *)((char *)base + k->off) = (enum log_level)i;
			return;
		}
	}
	cfg_err(c, v->line, path, v, "not one of error, warn, info, debug");
}

/* "A.B.C.D:PORT" or "[V6]:PORT" into struct udpin_listen. */
static void p_listen_addr(struct cfg_ctx *c, const char *path, const struct ytree *v,
                          const struct cfg_key *k, void *base)
{
	struct udpin_listen *l = (struct udpin_listen *)((char *)base + k->off);
	const char *s = scalar_of(c, path, v, "ADDR:PORT");
	const char *host, *host_end, *port;
	char tmp[sizeof(l->host)];
	uint8_t bin[16];
	uint64_t n;
	int family;

	if (!s)
		return;
	if (s[0] == '[') {
		host = s + 1;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':') {
			cfg_err(c, v->line, path, v, "not [IPV6]:PORT");
			return;
		}
		port = host_end + 2;
		family = AF_INET6;
	} else {
		host = s;
		host_end = strrchr(s, ':');
		if (!host_end) {
			cfg_err(c, v->line, path, v, "not ADDR:PORT");
			return;
		}
		if (memchr(s, ':', (size_t)(host_end - s))) {
			cfg_err(c, v->line, path, v, "IPv6 needs brackets: [ADDR]:PORT");
			return;
		}
		port = host_end + 1;
		family = AF_INET;
	}
	if ((size_t)(host_end - host) >= sizeof(tmp)) {
		cfg_err(c, v->line, path, v, "address too long");
		return;
	}
	memcpy(tmp, host, (size_t)(host_end - host));
	tmp[host_end - host] = '\0';
	if (inet_pton(family, tmp, bin) != 1) {
		cfg_err(c, v->line, path, v,
		        family == AF_INET
		            ? "not a numeric IPv4 address (host names are not resolved)"
		            : "not a numeric IPv6 address");
		return;
	}
	if (parse_uint(port, &n, NULL) < 0 || n < 1 || n > 65535) {
		cfg_err(c, v->line, path, v, "port not 1..65535");
		return;
	}
	memcpy(l->host, tmp, strlen(tmp) + 1);
	l->port = (uint16_t)n;
}

/* One address, IPv4 or IPv6, into struct flow_addr (IPv4 mapped). */
static void p_addr(struct cfg_ctx *c, const char *path, const struct ytree *v,
                   const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "an IP address");

	if (!s)
		return;
	if (flow_addr_parse(s, (struct flow_addr *)((char *)base + k->off)) < 0)
		cfg_err(c, v->line, path, v,
		        strchr(s, '/') ? "a single address, not a prefix"
		                       : "not an IPv4 or IPv6 address");
}

/*
 * "ADDR/LEN" or "ADDR" into struct decoder_prefix. IPv4 is stored mapped,
 * so its length is 96 + LEN. Bits set beyond the length are refused: they
 * usually mean a typo, and silently masking them would widen or move the
 * allowed range without telling anyone.
 */
static void p_prefix(struct cfg_ctx *c, const char *path, const struct ytree *v,
                     const struct cfg_key *k, void *base)
{
	struct decoder_prefix *pfx = (struct decoder_prefix *)((char *)base + k->off);
	const char *s = scalar_of(c, path, v, "an IP prefix");
	const char *slash;
	char tmp[64], shown[INET6_ADDRSTRLEN];
	uint64_t n = 128;
	unsigned bits;
	size_t alen;

	if (!s)
		return;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(tmp)) {
		cfg_err(c, v->line, path, v, "not an IPv4 or IPv6 prefix");
		return;
	}
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (flow_addr_parse(tmp, &pfx->addr) < 0) {
		cfg_err(c, v->line, path, v, "not an IPv4 or IPv6 prefix");
		return;
	}
	bits = flow_addr_is_v4(&pfx->addr) ? 32 : 128;
	if (slash && (parse_uint(slash + 1, &n, NULL) < 0 || n > bits)) {
		cfg_err(c, v->line, path, v, "prefix length not 0..%u", bits);
		return;
	}
	if (!slash)
		n = bits;
	pfx->len = (uint8_t)(n + (128 - bits));
	for (unsigned i = pfx->len; i < 128; i++) {
		if (pfx->addr.b[i / 8] & (0x80u >> (i % 8))) {
			struct flow_addr net = pfx->addr;

			for (unsigned j = pfx->len; j < 128; j++)
				net.b[j / 8] &= (uint8_t) ~(0x80u >> (j % 8));
			flow_addr_format(&net, shown, sizeof(shown));
			cfg_err(c, v->line, path, v,
			        "address bits set beyond /%u; did you mean %s/%u?", (unsigned)n,
			        shown, (unsigned)n);
			return;
		}
	}
}

/* ---- structure: mappings and lists ------------------------------------- */

/* Edit distance of two short keys, for "did you mean". */
static size_t key_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], i, j;

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost =
			    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
			        ? 0
			        : 1;
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void unknown_key(struct cfg_ctx *c, const char *path, const struct ytree *key,
                        const struct cfg_key *keys)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (const struct cfg_key *k = keys; k->name; k++) {
		size_t d = key_distance(key->str, k->name);

		if (d < best_d) {
			best_d = d;
			best = k->name;
		}
	}
	/* Two edits catch most typos without suggesting nonsense for short keys. */
	if (best && best_d <= 2 && best_d < strlen(best))
		cfg_err(c, key->line, path, NULL, "unknown key; did you mean \"%s\"?", best);
	else
		cfg_err(c, key->line, path, NULL, "unknown key");
}

static void p_map(struct cfg_ctx *c, const char *path, const struct ytree *v,
                  const struct cfg_key *k, void *base)
{
	char child[CFG_PATH_MAX];
	const struct cfg_key *sk;

	/* "section:" with every key commented out means "all defaults". */
	if (v->kind == YTREE_SCALAR && ytree_is_null(v))
		goto required;
	if (v->kind != YTREE_MAP) {
		cfg_err(c, v->line, path, v, "expected a mapping (key: value lines), got %s",
		        kind_name(v));
		return;
	}
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		const struct ytree *key = v->items[i], *val = v->items[i + 1];
		size_t j;

		/* Once errors are capped, stop: a huge bad mapping would be quadratic. */
		if (c->full || c->oom)
			return;

		if (key->kind != YTREE_SCALAR) {
			cfg_err(c, key->line, path, NULL, "a key must be a plain word, got %s",
			        kind_name(key));
			continue;
		}
		path_key(child, path, key->str);
		for (j = 0; j < i; j += 2) {
			const struct ytree *prev = v->items[j];

			if (prev->kind == YTREE_SCALAR && strcmp(prev->str, key->str) == 0)
				break;
		}
		if (j < i) {
			cfg_err(c, key->line, child, NULL, "duplicate key (first at line %u)",
			        v->items[j]->line);
			continue;
		}
		for (sk = k->sub; sk->name; sk++) {
			if (strcmp(sk->name, key->str) == 0)
				break;
		}
		if (!sk->name) {
			unknown_key(c, child, key, k->sub);
			continue;
		}
		sk->parse(c, child, val, sk, base);
	}
required:
	for (sk = k->sub; sk->name; sk++) {
		bool found = false;

		if (!sk->required)
			continue;
		for (size_t i = 0; v->kind == YTREE_MAP && i + 1 < v->n; i += 2) {
			if (v->items[i]->kind == YTREE_SCALAR &&
			    strcmp(v->items[i]->str, sk->name) == 0)
				found = true;
		}
		if (!found)
			cfg_err(c, v->line, path, NULL, "missing key \"%s\"", sk->name);
	}
}

/*
 * A list. Items land either in an array inside the destination (inline, at
 * most k->max) or in a new array whose pointer goes to base + k->off; the
 * count goes to base + k->off_n in both cases.
 */
static void list_read(struct cfg_ctx *c, const char *path, const struct ytree *v,
                      const struct cfg_key *k, void *base, bool inline_array)
{
	char child[CFG_PATH_MAX];
	size_t n = 0, errs_before = c->errs->n;
	unsigned char *items = NULL;

	if (v->kind == YTREE_SCALAR && ytree_is_null(v)) {
		/* "key:" alone is an empty list. */
	} else if (v->kind != YTREE_SEQ) {
		cfg_err(c, v->line, path, v, "expected a list (\"- item\" lines or [a, b]), got %s",
		        kind_name(v));
		return;
	} else {
		n = v->n;
	}
	if (n < k->min) {
		cfg_err(c, v->line, path, NULL, "needs at least %llu entr%s",
		        (unsigned long long)k->min, k->min == 1 ? "y" : "ies");
		return;
	}
	if (n > k->max) {
		cfg_err(c, v->items[k->max]->line, path, NULL, "more than %llu entries",
		        (unsigned long long)k->max);
		n = (size_t)k->max; /* still check the ones that fit */
	}
	if (inline_array) {
		items = (unsigned char *)base + k->off;
	} else if (n > 0) {
		items = config_alloc(n * k->item_size);
		if (!items) {
			c->oom = true;
			return;
		}
		memset(items, 0, n * k->item_size);
		*(void **)((char *)base + k->off) = items;
	}
	*(size_t *)((char *)base + k->off_n) = n;
	for (size_t i = 0; i < n && !c->full && !c->oom; i++) {
		path_index(child, path, i);
		k->item->parse(c, child, v->items[i], k->item, items + i * k->item_size);
	}
	/* Duplicate checks on half-read items would only add noise. */
	if (k->check && c->errs->n == errs_before && !c->oom)
		k->check(c, path, v, items, n);
}

static void p_list(struct cfg_ctx *c, const char *path, const struct ytree *v,
                   const struct cfg_key *k, void *base)
{
	list_read(c, path, v, k, base, false);
}

static void p_list_inline(struct cfg_ctx *c, const char *path, const struct ytree *v,
                          const struct cfg_key *k, void *base)
{
	list_read(c, path, v, k, base, true);
}

/* Two listeners on one address and port would fail at bind time. */
static void check_listen(struct cfg_ctx *c, const char *path, const struct ytree *list,
                         const void *items, size_t n)
{
	const struct udpin_listen *l = items;
	char child[CFG_PATH_MAX];

	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			struct flow_addr a, b;

			if (l[i].port != l[j].port || flow_addr_parse(l[i].host, &a) < 0 ||
			    flow_addr_parse(l[j].host, &b) < 0 || memcmp(&a, &b, sizeof(a)) != 0)
				continue;
			path_index(child, path, i);
			cfg_err(c, list->items[i]->line, child, list->items[i],
			        "same address and port as %s[%zu]", path, j);
			break;
		}
	}
}

/* Two rates for one exporter: which one would win is not obvious. */
static void check_sampling(struct cfg_ctx *c, const char *path, const struct ytree *list,
                           const void *items, size_t n)
{
	const struct decoder_sampling_override *s = items;
	char child[CFG_PATH_MAX];

	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (memcmp(&s[i].exporter, &s[j].exporter, sizeof(s[i].exporter)) != 0)
				continue;
			path_index(child, path, i);
			cfg_err(c, list->items[i]->line, child, NULL,
			        "exporter already has a rate in %s[%zu]", path, j);
			break;
		}
	}
}

/* ---- the schema -------------------------------------------------------- */

static const struct cfg_key log_keys[] = {
    {.name = "level", .parse = p_log_level, .off = offsetof(struct config, log_level)},
    {.name = "syslog", .parse = p_bool, .off = offsetof(struct config, log_syslog)},
    {NULL},
};

static const struct cfg_key listen_item = {.parse = p_listen_addr, .off = 0};

static const struct cfg_key prefix_item = {.parse = p_prefix, .off = 0};

static const struct cfg_key sampling_keys[] = {
    {.name = "exporter",
     .parse = p_addr,
     .off = offsetof(struct decoder_sampling_override, exporter),
     .required = true},
    {.name = "rate",
     .parse = p_u32,
     .off = offsetof(struct decoder_sampling_override, rate),
     .min = 1,
     .max = UINT32_MAX,
     .required = true},
    {NULL},
};

static const struct cfg_key sampling_item = {.parse = p_map, .sub = sampling_keys};

static const struct cfg_key exporters_keys[] = {
    {.name = "allow",
     .parse = p_list,
     .off = offsetof(struct config, allow_owned),
     .off_n = offsetof(struct config, decoder.n_allow),
     .item = &prefix_item,
     .item_size = sizeof(struct decoder_prefix),
     .max = CONFIG_MAX_ALLOW},
    {.name = "sampling",
     .parse = p_list,
     .off = offsetof(struct config, sampling_owned),
     .off_n = offsetof(struct config, decoder.n_sampling),
     .item = &sampling_item,
     .item_size = sizeof(struct decoder_sampling_override),
     .max = CONFIG_MAX_SAMPLING,
     .check = check_sampling},
    {NULL},
};

static const struct cfg_key templates_keys[] = {
    /* Below a minute, a router's normal template refresh would not keep up. */
    {.name = "lifetime_s",
     .parse = p_u32,
     .off = offsetof(struct config, decoder.template_lifetime_s),
     .min = 60,
     .max = 86400},
    /* Template IDs are 256..65535, so more than 65280 can never be used. */
    {.name = "max_per_exporter",
     .parse = p_u32,
     .off = offsetof(struct config, decoder.max_templates_per_exporter),
     .min = 1,
     .max = 65280},
    {NULL},
};

static const struct cfg_key limits_keys[] = {
    {.name = "max_exporters",
     .parse = p_u32,
     .off = offsetof(struct config, decoder.max_exporters),
     .min = 1,
     .max = 1048576},
    {NULL},
};

static const struct cfg_key top_keys[] = {
    {.name = "log", .parse = p_map, .sub = log_keys},
    {.name = "listen",
     .parse = p_list_inline,
     .off = offsetof(struct config, listen),
     .off_n = offsetof(struct config, n_listen),
     .item = &listen_item,
     .item_size = sizeof(struct udpin_listen),
     .min = 1,
     .max = CONFIG_MAX_LISTEN,
     .check = check_listen},
    {.name = "receive_buffer_bytes",
     .parse = p_bytes,
     .off = offsetof(struct config, rcvbuf_bytes),
     .min = 0,
     .max = INT_MAX},
    {.name = "exporters", .parse = p_map, .sub = exporters_keys},
    {.name = "templates", .parse = p_map, .sub = templates_keys},
    {.name = "limits", .parse = p_map, .sub = limits_keys},
    {NULL},
};

static const struct cfg_key root_key = {.parse = p_map, .sub = top_keys};

/* ---- public ------------------------------------------------------------ */

void config_defaults(struct config *cfg)
{
	static const uint16_t ports[] = {2055, 4739, 9995};

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_LVL_INFO;
	cfg->log_syslog = false;
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		snprintf(cfg->listen[cfg->n_listen].host, sizeof(cfg->listen[0].host), "0.0.0.0");
		cfg->listen[cfg->n_listen++].port = ports[i];
		snprintf(cfg->listen[cfg->n_listen].host, sizeof(cfg->listen[0].host), "::");
		cfg->listen[cfg->n_listen++].port = ports[i];
	}
	cfg->rcvbuf_bytes = 33554432;
	/* Same values as decoder_config_defaults(), without linking the decoder. */
	cfg->decoder.template_lifetime_s = 1800;
	cfg->decoder.max_templates_per_exporter = 1024;
	cfg->decoder.max_exporters = 4096;
}

void config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->allow_owned);
	free(cfg->sampling_owned);
	config_defaults(cfg);
}

void config_errors_free(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}

/* Whole file into a new buffer, at most CONFIG_MAX_FILE_BYTES. */
static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int rc = 0;

	if (!f)
		return -errno;
	buf = config_alloc(CONFIG_MAX_FILE_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
	if (ferror(f))
		rc = errno ? -errno : -EIO;
	else if (n > CONFIG_MAX_FILE_BYTES)
		rc = -EFBIG;
	fclose(f);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

int config_load(const char *path, struct config *cfg, struct config_errors *errs)
{
	struct cfg_ctx c = {.file = path, .errs = errs};
	struct config scratch;
	struct ytree *root = NULL;
	struct ytree_error yerr;
	char msg[1024];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(errs, 0, sizeof(*errs));
	config_defaults(cfg);

	rc = read_file(path, &buf, &len);
	if (rc < 0) {
		if (rc == -EFBIG)
			snprintf(msg, sizeof(msg), "%s: cannot read: larger than %d bytes", path,
			         CONFIG_MAX_FILE_BYTES);
		else
			snprintf(msg, sizeof(msg), "%s: cannot read: %s", path, strerror(-rc));
		errs_push(&c, msg);
		return rc;
	}
	rc = ytree_parse(buf, len, &root, &yerr);
	free(buf);
	if (rc < 0) {
		if (yerr.line)
			snprintf(msg, sizeof(msg), "%s:%u:%u: %s", path, yerr.line, yerr.col,
			         yerr.msg);
		else
			snprintf(msg, sizeof(msg), "%s: %s", path, yerr.msg);
		errs_push(&c, msg);
		return rc;
	}

	config_defaults(&scratch);
	if (root)
		root_key.parse(&c, "", root, &root_key, &scratch);
	ytree_free(root);
	if (!c.oom && errs->n == 0) {
		scratch.path = config_strdup(path);
		if (!scratch.path)
			c.oom = true;
	}
	if (c.oom || errs->n > 0) {
		config_free(&scratch);
		return c.oom ? -ENOMEM : -EINVAL;
	}
	scratch.decoder.allow = scratch.allow_owned;
	scratch.decoder.sampling = scratch.sampling_owned;
	*cfg = scratch;
	return 0;
}
