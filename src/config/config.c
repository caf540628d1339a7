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
 * records (sites, devices) is a p_list row whose item is a p_map row
 * (sites: p_site, a p_map followed by the checks within one site).
 *
 * Not this module's job: acting on the values (sockets, decoder, logging).
 */
#include "nfsentry/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nfsentry/cpulist.h"
#include "nfsentry/l2.h"
#include "nfsentry/prefix.h"
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
	/* Set while an environment override is read: messages name it, not FILE:LINE. */
	const char *env;
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
	uint64_t min, max;          /* numbers: inclusive range; lists: item count;
	                               p_path: buffer size */
	double dmin, dmax;          /* p_decimal: inclusive range */
	const struct cfg_key *sub;  /* p_map: the mapping's keys, ended by {NULL} */
	const struct cfg_key *item; /* p_list*: how one item is read (name unused) */
	size_t item_size;           /* p_list*: bytes per item */
	size_t off_n;               /* p_list*: where the size_t count goes */
	cfg_check_fn check;         /* p_list*: optional */
	void (*init)(void *item);   /* p_list: fills each new (zeroed) item; optional */
	bool required;              /* inside a p_map: the key must be present */
};

/* ---- messages ---------------------------------------------------------- */

static void errs_push(struct cfg_ctx *c, const char *line)
{
	char *m;

	if (c->oom || c->full)
		return;
	if (grow_array((void **)&c->errs->msg, &c->cap, c->errs->n + 1, sizeof(char *), 8,
	               SIZE_MAX / sizeof(char *)) != 0) {
		c->oom = true;
		return;
	}
	m = fault_strdup(line);
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
 * One message: "FILE:LINE: PATH: what (got "value")" ("environment VAR: ..."
 * for an environment override). The value part is added when val is a
 * non-empty scalar.
 */
static void cfg_err(struct cfg_ctx *c, unsigned line, const char *path, const struct ytree *val,
                    const char *fmt, ...)
{
	char what[512], shown[CFG_VALUE_SHOW * 4 + 8], msg[2048];
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
	char where[300];
	if (c->env)
		snprintf(where, sizeof(where), "environment %s", c->env);
	else
		snprintf(where, sizeof(where), "%s:%u", c->file, line);
	if (val && val->kind == YTREE_SCALAR && val->len > 0) {
		quote_value(shown, sizeof(shown), val->str);
		snprintf(msg, sizeof(msg), "%s: %s: %s (got \"%s\")", where,
		         path[0] ? path : "top level", what, shown);
	} else {
		snprintf(msg, sizeof(msg), "%s: %s: %s", where, path[0] ? path : "top level", what);
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

/*
 * A whole number in k->min..k->max and at most limit (the destination's
 * range) into *n. Returns false after reporting a problem.
 */
static bool uint_in_range(struct cfg_ctx *c, const char *path, const struct ytree *v,
                          const struct cfg_key *k, uint64_t limit, uint64_t *n)
{
	const char *s = scalar_of(c, path, v, "a whole number");
	int rc;

	if (!s)
		return false;
	rc = parse_uint(s, n, NULL);
	if (rc == -EINVAL) {
		cfg_err(c, v->line, path, v, "not a whole number");
		return false;
	}
	if (rc < 0 || *n < k->min || *n > k->max || *n > limit) {
		cfg_err(c, v->line, path, v, "must be %llu..%llu", (unsigned long long)k->min,
		        (unsigned long long)k->max);
		return false;
	}
	return true;
}

static void p_u32(struct cfg_ctx *c, const char *path, const struct ytree *v,
                  const struct cfg_key *k, void *base)
{
	uint64_t n;

	if (uint_in_range(c, path, v, k, UINT32_MAX, &n))
		*(uint32_t *)((char *)base + k->off) = (uint32_t)n;
}

/*
 * A list of CPUs ("2", "0-3,6", or a bare number) into a struct cpu_list, each
 * CPU one of this machine's (sysconf(_SC_NPROCESSORS_CONF)): a list naming a
 * CPU the machine lacks would only fail when the thread starts.
 */
static void p_cpus(struct cfg_ctx *c, const char *path, const struct ytree *v,
                   const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a list of CPUs (\"2\", \"0-3,6\")");
	struct cpu_list *dst = (struct cpu_list *)((char *)base + k->off);
	char why[160];
	long n = sysconf(_SC_NPROCESSORS_CONF);

	if (!s)
		return;
	if (cpu_list_parse(s, dst, why, sizeof(why)) != 0) {
		cfg_err(c, v->line, path, v, "%s", why);
		return;
	}
	if (n > 0 && cpu_list_max(dst) >= n) {
		cfg_err(c, v->line, path, v, "CPU %d is not on this machine (its CPUs are 0-%ld)",
		        cpu_list_max(dst), n - 1);
		memset(dst, 0, sizeof(*dst));
	}
}

/* As p_u32, into a uint64_t (packet and octet counts). */
static void p_u64(struct cfg_ctx *c, const char *path, const struct ytree *v,
                  const struct cfg_key *k, void *base)
{
	uint64_t n;

	if (uint_in_range(c, path, v, k, UINT64_MAX, &n))
		*(uint64_t *)((char *)base + k->off) = n;
}

/*
 * A decimal number into a double: digits, optionally a point and more
 * digits ("0.5", "2", "0.05"). The shape is checked before strtod(), which
 * would also take leading space, signs, "1e3", hex floats, "inf" and "nan";
 * none of those belongs in a threshold, and the rule matches the one for
 * whole numbers.
 */
static void p_decimal(struct cfg_ctx *c, const char *path, const struct ytree *v,
                      const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a decimal number");
	const char *q;
	char *e;
	double d;

	if (!s)
		return;
	for (q = s; isdigit((unsigned char)*q); q++)
		;
	if (q > s && *q == '.' && isdigit((unsigned char)q[1]))
		for (q++; isdigit((unsigned char)*q); q++)
			;
	if (q == s || *q != '\0') {
		cfg_err(c, v->line, path, v, "not a decimal number (like 0.5)");
		return;
	}
	errno = 0;
	d = strtod(s, &e);
	/* Underflow ("0.000...01") is a harmless tiny value; overflow is out of range. */
	if (*e != '\0' || (errno != 0 && errno != ERANGE)) {
		cfg_err(c, v->line, path, v, "not a decimal number (like 0.5)");
		return;
	}
	if (!isfinite(d) || d < k->dmin || d > k->dmax) {
		cfg_err(c, v->line, path, v, "must be %.15g..%.15g", k->dmin, k->dmax);
		return;
	}
	*(double *)((char *)base + k->off) = d;
}

/*
 * A byte count into an int: digits, then optionally (after spaces) one of
 * the binary suffixes KiB, MiB, GiB. Decimal "MB"/"M" are refused on
 * purpose: they are ambiguous, and the kernel counts SO_RCVBUF in bytes.
 */
static bool bytes_in_range(struct cfg_ctx *c, const char *path, const struct ytree *v,
                           const struct cfg_key *k, uint64_t *out)
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
		return false;
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
		return false;
	}
	if (rc < 0 || bytes < k->min || bytes > k->max) {
		cfg_err(c, v->line, path, v, "must be %llu..%llu bytes", (unsigned long long)k->min,
		        (unsigned long long)k->max);
		return false;
	}
	*out = bytes;
	return true;
}

static void p_bytes(struct cfg_ctx *c, const char *path, const struct ytree *v,
                    const struct cfg_key *k, void *base)
{
	uint64_t bytes;

	if (bytes_in_range(c, path, v, k, &bytes))
		*(int *)((char *)base + k->off) = (int)bytes;
}

/* As p_bytes, into a uint64_t (sizes past 2 GiB). */
static void p_bytes64(struct cfg_ctx *c, const char *path, const struct ytree *v,
                      const struct cfg_key *k, void *base)
{
	uint64_t bytes;

	if (bytes_in_range(c, path, v, k, &bytes))
		*(uint64_t *)((char *)base + k->off) = bytes;
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

/* templates.scope: what templates and samplers are keyed by (decoder.h). */
static void p_template_scope(struct cfg_ctx *c, const char *path, const struct ytree *v,
                             const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "exporter or session");

	if (!s)
		return;
	if (strcmp(s, "exporter") == 0)
		*(enum decoder_template_scope *)((char *)base + k->off) = DECODER_SCOPE_EXPORTER;
	else if (strcmp(s, "session") == 0)
		*(enum decoder_template_scope *)((char *)base + k->off) = DECODER_SCOPE_SESSION;
	else
		cfg_err(c, v->line, path, v, "not one of exporter, session");
}

/* "A.B.C.D:PORT" or "[V6]:PORT" into struct udpin_listen (flow_endpoint_parse). */
static void p_listen_addr(struct cfg_ctx *c, const char *path, const struct ytree *v,
                          const struct cfg_key *k, void *base)
{
	struct udpin_listen *l = (struct udpin_listen *)((char *)base + k->off);
	const char *s = scalar_of(c, path, v, "ADDR:PORT");
	struct flow_endpoint ep;
	const char *why;

	if (!s)
		return;
	if (flow_endpoint_parse(s, &ep, &why) != 0) {
		cfg_err(c, v->line, path, v, "%s", why);
		return;
	}
	/*
	 * The literal address, not ep's: "[::ffff:1.2.3.4]" must stay an IPv6
	 * socket, which the mapped flow_addr cannot tell. flow_endpoint_parse
	 * has checked the shape and that it fits (63 bytes < sizeof(l->host)).
	 */
	const char *h = s[0] == '[' ? s + 1 : s;
	size_t n = (size_t)((s[0] == '[' ? strchr(s, ']') : strrchr(s, ':')) - h);
	memcpy(l->host, h, n);
	l->host[n] = '\0';
	l->port = ep.port;
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
 * "ADDR/LEN" or "ADDR" into *addr and *len, read by prefix_parse() (the
 * prefix module's parser, so the file and the prefix table read prefixes
 * alike). IPv4 is stored mapped, so its length is 96 + LEN; LEN counts the
 * bits of the address as written ("::ffff:0:0/96" is every IPv4 address).
 * Bits set beyond the length are refused: they usually mean a typo, and
 * silently masking them would widen or move the range without telling
 * anyone. Returns false after reporting a problem.
 */
static bool parse_prefix(struct cfg_ctx *c, const char *path, const struct ytree *v,
                         struct flow_addr *addr, uint8_t *len)
{
	const char *s = scalar_of(c, path, v, "an IP prefix");
	char shown[INET6_ADDRSTRLEN];
	struct flow_addr net;
	unsigned n, bits;

	if (!s)
		return false;
	switch (prefix_parse(s, &net, &n, &bits)) {
	case 0:
		*addr = net;
		*len = (uint8_t)n;
		return true;
	case -EDOM:
		/* net is the network with the stray bits cleared: suggest it. */
		n -= 128 - bits;
		flow_addr_format(&net, shown, sizeof(shown));
		cfg_err(c, v->line, path, v, "address bits set beyond /%u; did you mean %s/%u?", n,
		        shown, n);
		return false;
	default:
		if (bits)
			cfg_err(c, v->line, path, v, "prefix length not 0..%u", bits);
		else
			cfg_err(c, v->line, path, v, "not an IPv4 or IPv6 prefix");
		return false;
	}
}

/* A prefix into struct decoder_prefix (exporters.allow). */
static void p_prefix(struct cfg_ctx *c, const char *path, const struct ytree *v,
                     const struct cfg_key *k, void *base)
{
	struct decoder_prefix *pfx = (struct decoder_prefix *)((char *)base + k->off);

	parse_prefix(c, path, v, &pfx->addr, &pfx->len);
}

/* A prefix into struct site_prefix (sites[].inside). */
static void p_site_prefix(struct cfg_ctx *c, const char *path, const struct ytree *v,
                          const struct cfg_key *k, void *base)
{
	struct site_prefix *pfx = (struct site_prefix *)((char *)base + k->off);

	parse_prefix(c, path, v, &pfx->addr, &pfx->len);
}

/*
 * A name of 1..size-1 characters that need no quoting anywhere, into
 * char[size]. what is "a site name" or "a device name", for the messages.
 */
static void name_word(struct cfg_ctx *c, const char *path, const struct ytree *v,
                      const struct cfg_key *k, void *base, const char *what, int size)
{
	const char *s = scalar_of(c, path, v, what);
	size_t n;

	if (!s)
		return;
	n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
	if (s[n] != '\0' || n == 0 || n >= (size_t)size) {
		cfg_err(c, v->line, path, v, "%s is 1..%d characters of A-Z a-z 0-9 _ . -", what,
		        size - 1);
		return;
	}
	memcpy((char *)base + k->off, s, n + 1);
}

/*
 * A site name into char[SITE_NAME_MAX]. The name ends up in every document
 * (field "site"), in document ids and in file names, so it is kept to
 * characters that need no quoting anywhere. REPUTATION_SITE is taken: the
 * network-wide documents are stored under it (docs/offenders.md).
 */
static void p_site_name(struct cfg_ctx *c, const char *path, const struct ytree *v,
                        const struct cfg_key *k, void *base)
{
	name_word(c, path, v, k, base, "a site name", SITE_NAME_MAX);
	if (strcmp((char *)base + k->off, REPUTATION_SITE) == 0)
		cfg_err(c, v->line, path, v, "reserved for the network-wide documents");
}

/* A file path into a char array of k->max bytes. */
static void p_path(struct cfg_ctx *c, const char *path, const struct ytree *v,
                   const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a file path");
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	if (n == 0) {
		cfg_err(c, v->line, path, NULL, "empty; expected a file path");
		return;
	}
	if (n >= k->max) {
		cfg_err(c, v->line, path, v, "longer than %llu bytes",
		        (unsigned long long)k->max - 1);
		return;
	}
	memcpy((char *)base + k->off, s, n + 1);
}

/* documents.outside: "all" or "top" into a bool (true = all). */
static void p_docs_outside(struct cfg_ctx *c, const char *path, const struct ytree *v,
                           const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "all or top");
	bool *dst = (bool *)((char *)base + k->off);

	if (!s)
		return;
	if (strcmp(s, "all") == 0)
		*dst = true;
	else if (strcmp(s, "top") == 0)
		*dst = false;
	else
		cfg_err(c, v->line, path, v, "not one of all, top");
}

/* ---- structure: mappings and lists ------------------------------------- */

static void p_map(struct cfg_ctx *c, const char *path, const struct ytree *v,
                  const struct cfg_key *k, void *base);


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

/* The value of key in mapping m, or NULL. Duplicate keys are refused earlier. */
static const struct ytree *map_get(const struct ytree *m, const char *key)
{
	for (size_t i = 0; m->kind == YTREE_MAP && i + 1 < m->n; i += 2) {
		if (m->items[i]->kind == YTREE_SCALAR && strcmp(m->items[i]->str, key) == 0)
			return m->items[i + 1];
	}
	return NULL;
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
		if (sk->required && !map_get(v, sk->name))
			cfg_err(c, v->line, path, NULL, "missing key \"%s\"", sk->name);
	}
}

/*
 * p_map, for a mapping with checks that span its keys: true when the keys
 * read cleanly, so that those checks can trust every field.
 */
static bool map_read_clean(struct cfg_ctx *c, const char *path, const struct ytree *v,
                           const struct cfg_key *k, void *base)
{
	size_t before = c->errs->n;

	p_map(c, path, v, k, base);
	return c->errs->n == before && !c->oom && !c->full;
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
		items = fault_malloc(n * k->item_size);
		if (!items) {
			c->oom = true;
			return;
		}
		memset(items, 0, n * k->item_size);
		*(void **)((char *)base + k->off) = items;
		/* Before any parsing, so config_free() always sees whole items. */
		for (size_t i = 0; k->init && i < n; i++)
			k->init(items + i * k->item_size);
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

/* ---- sites ------------------------------------------------------------- */

static void site_item_init(void *item)
{
	site_config_defaults(item);
}

/*
 * One site: its keys, then what can only be checked once the whole site is
 * read. An allow-list entry outside the site would never match a record
 * (the judge only looks at the site's own inside IPs), so it is almost
 * certainly a mistyped address or a forgotten prefix: an error, not a
 * warning, like every other config problem.
 */
static void p_site(struct cfg_ctx *c, const char *path, const struct ytree *v,
                   const struct cfg_key *k, void *base)
{
	const struct site_config *s = base;
	const struct ytree *allow;
	char child[CFG_PATH_MAX], allow_path[CFG_PATH_MAX];

	if (!map_read_clean(c, path, v, k, base) || s->n_allow == 0)
		return;
	allow = map_get(v, "allow");
	if (!allow || allow->kind != YTREE_SEQ || allow->n < s->n_allow)
		return; /* cannot happen once allow[] parsed cleanly */
	path_key(allow_path, path, "allow");
	for (size_t i = 0; i < s->n_allow; i++) {
		size_t j;

		for (j = 0; j < s->n_inside; j++) {
			if (flow_addr_in_prefix(&s->allow[i], &s->inside[j].addr, s->inside[j].len))
				break;
		}
		if (j < s->n_inside)
			continue;
		path_index(child, allow_path, i);
		cfg_err(c, allow->items[i]->line, child, allow->items[i],
		        "not inside any prefix of site %s", s->name);
	}
}

/* One inside prefix of one site, for the duplicate search. */
struct pfx_ref {
	struct flow_addr addr;
	uint8_t len;
	uint32_t site, idx;
};

/*
 * A name or prefix found again: (site, idx) repeats (first_site, first_idx);
 * idx is unused for names. node is its value in the file (NULL if not
 * found), line/col place it.
 */
struct site_dup {
	const struct ytree *node;
	unsigned line, col;
	bool is_name;
	uint32_t site, idx, first_site, first_idx;
};

/* By prefix, then file order, so each group starts with its first mention. */
static int pfx_ref_cmp(const void *pa, const void *pb)
{
	const struct pfx_ref *a = pa, *b = pb;
	int d = memcmp(a->addr.b, b->addr.b, sizeof(a->addr.b));

	if (d != 0)
		return d;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if (a->site != b->site)
		return a->site < b->site ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int site_dup_cmp(const void *pa, const void *pb)
{
	const struct site_dup *a = pa, *b = pb;

	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return a->col < b->col ? -1 : a->col > b->col;
}

/* The node of sites[site].inside[idx] (or .name when is_name), or NULL. */
static const struct ytree *site_node(const struct ytree *list, uint32_t site, bool is_name,
                                     uint32_t idx)
{
	const struct ytree *v;

	if (site >= list->n)
		return NULL;
	v = map_get(list->items[site], is_name ? "name" : "inside");
	if (!v || is_name)
		return v;
	return v->kind == YTREE_SEQ && idx < v->n ? v->items[idx] : NULL;
}

/*
 * Across sites: names are unique (they key documents and the store), and a
 * prefix belongs to one site only -- with the same prefix twice, which site
 * a record belongs to would depend on table order. Different prefixes may
 * overlap: the longest match wins. The same prefix twice within one site is
 * refused too; it changes nothing, so it is a copy-and-paste slip.
 *
 * Up to CONFIG_MAX_SITES x CONFIG_MAX_SITE_PREFIXES prefixes, so they are
 * sorted rather than compared pairwise; the findings are then sorted by line
 * so the messages read top to bottom like all the others.
 */
static void check_sites(struct cfg_ctx *c, const char *path, const struct ytree *list,
                        const void *items, size_t n)
{
	const struct site_config *s = items;
	struct pfx_ref *refs = NULL;
	struct site_dup *dups;
	size_t total = 0, n_dups = 0, bytes;
	char where[CFG_PATH_MAX], child[CFG_PATH_MAX], first[CFG_PATH_MAX];

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		total += s[i].n_inside;
	/* Bounded by the list limits; checked all the same. */
	if (__builtin_add_overflow(total, n, &bytes) ||
	    __builtin_mul_overflow(bytes, sizeof(*dups), &bytes)) {
		c->oom = true;
		return;
	}
	dups = fault_malloc(bytes);
	if (total > 0)
		refs = fault_malloc(total * sizeof(*refs));
	if (!dups || (total > 0 && !refs)) {
		free(refs);
		free(dups);
		c->oom = true;
		return;
	}

	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(s[i].name, s[j].name) != 0)
				continue;
			dups[n_dups++] = (struct site_dup){.is_name = true,
			                                   .site = (uint32_t)i,
			                                   .first_site = (uint32_t)j};
			break;
		}
	}

	total = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < s[i].n_inside; j++) {
			refs[total].addr = s[i].inside[j].addr;
			refs[total].len = s[i].inside[j].len;
			refs[total].site = (uint32_t)i;
			refs[total].idx = (uint32_t)j;
			total++;
		}
	}
	if (total > 1)
		qsort(refs, total, sizeof(*refs), pfx_ref_cmp);
	for (size_t i = 1, g = 0; i < total; i++) {
		if (refs[i].len != refs[g].len ||
		    memcmp(&refs[i].addr, &refs[g].addr, sizeof(refs[i].addr)) != 0) {
			g = i;
			continue;
		}
		dups[n_dups++] = (struct site_dup){.site = refs[i].site,
		                                   .idx = refs[i].idx,
		                                   .first_site = refs[g].site,
		                                   .first_idx = refs[g].idx};
	}

	for (size_t i = 0; i < n_dups; i++) {
		const struct ytree *node = site_node(list, dups[i].site, dups[i].is_name, dups[i].idx);

		dups[i].node = node;
		dups[i].line = node ? node->line : list->line;
		dups[i].col = node ? node->col : list->col;
	}
	if (n_dups > 1)
		qsort(dups, n_dups, sizeof(*dups), site_dup_cmp);
	for (size_t i = 0; i < n_dups && !c->full && !c->oom; i++) {
		const struct site_dup *d = &dups[i];

		path_index(where, path, d->site);
		if (d->is_name) {
			path_key(child, where, "name");
			cfg_err(c, d->line, child, d->node, "site name already used by %s[%u]",
			        path, d->first_site);
			continue;
		}
		path_key(first, where, "inside");
		path_index(child, first, d->idx);
		path_index(where, path, d->first_site);
		path_key(first, where, "inside");
		path_index(where, first, d->first_idx);
		cfg_err(c, d->line, child, d->node, "same prefix as %s", where);
	}
	free(refs);
	free(dups);
}

/* ---- the schema -------------------------------------------------------- */

/* ---- sites[].devices --------------------------------------------------- */

/* A short inline string (k->max bytes with the NUL) without control bytes. */
static void p_word(struct cfg_ctx *c, const char *path, const struct ytree *v,
                   const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a value");
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	if (n == 0 || n >= k->max) {
		cfg_err(c, v->line, path, v, "must be 1..%llu characters",
		        (unsigned long long)k->max - 1);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			cfg_err(c, v->line, path, NULL, "holds a control character");
			return;
		}
	}
	memcpy((char *)base + k->off, s, n + 1);
}

/* devices[].name: it keys arpMac documents and log lines, like a site name. */
static void p_device_name(struct cfg_ctx *c, const char *path, const struct ytree *v,
                          const struct cfg_key *k, void *base)
{
	name_word(c, path, v, k, base, "a device name", SITE_DEVICE_NAME_MAX);
}

static void p_device_kind(struct cfg_ctx *c, const char *path, const struct ytree *v,
                          const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a device kind");
	int kind;

	if (!s)
		return;
	kind = l2_kind_from_name(s);
	if (kind < 0) {
		/* Every name and alias of the kind table, in its order. */
		char names[256];
		size_t n = 0;
		const struct l2_kind_row *r;
		names[0] = '\0';
		for (int i = 0; (r = l2_kind_get(i)) != NULL; i++) {
			const char *both[2] = {r->name, r->alias};
			for (int j = 0; j < 2 && both[j] && n < sizeof(names); j++) {
				int w = snprintf(names + n, sizeof(names) - n, "%s%s",
				                 n ? ", " : "", both[j]);
				n = w < 0 ? sizeof(names) : n + (size_t)w;
			}
		}
		cfg_err(c, v->line, path, v, "not one of %s", names);
		return;
	}
	*(int *)((char *)base + k->off) = kind;
}

/*
 * devices[].password: refused whatever the value, which is not quoted back.
 * A secret in the configuration file ends up in backups, diffs and bug
 * reports.
 */
static void p_device_secret(struct cfg_ctx *c, const char *path, const struct ytree *v,
                            const struct cfg_key *k, void *base)
{
	(void)base;
	(void)k;
	cfg_err(c, v->line, path, NULL,
	        "secrets are not accepted in the configuration file; use password_file (a file "
	        "holding the password) or key (a private key file)");
}

static void device_item_init(void *item)
{
	struct site_device *d = item;

	d->kind = -1;
	d->port = 22;
	d->timeout_s = 20;
}

/*
 * One device: its keys, then what spans keys. The commands must each have a
 * parser for the device's kind; without commands the kind's defaults apply.
 */
static void p_device(struct cfg_ctx *c, const char *path, const struct ytree *v,
                     const struct cfg_key *k, void *base)
{
	struct site_device *d = base;

	if (!map_read_clean(c, path, v, k, base) || v->kind != YTREE_MAP)
		return;
	if (d->key[0] && d->password_file[0])
		cfg_err(c, v->line, path, NULL, "key and password_file exclude each other");
	if (!d->key[0] && !d->password_file[0])
		cfg_err(c, v->line, path, NULL, "needs key (a private key file) or password_file");
	if (d->interval_s && d->timeout_s >= d->interval_s)
		cfg_err(c, v->line, path, NULL, "timeout (%u s) must be shorter than interval (%u s)",
		        (unsigned)d->timeout_s, (unsigned)d->interval_s);
	if (d->n_commands == 0) {
		const char *const *def = l2_kind_commands((enum l2_kind)d->kind);
		for (size_t i = 0; def && def[i] && i < SITE_DEVICE_CMDS_MAX; i++) {
			snprintf(d->commands[i], sizeof(d->commands[i]), "%s", def[i]);
			d->n_commands++;
		}
		return;
	}
	const struct ytree *list = map_get(v, "commands");
	char cpath[CFG_PATH_MAX], child[CFG_PATH_MAX];
	path_key(cpath, path, "commands");
	for (size_t i = 0; i < d->n_commands; i++) {
		if (l2_cmd_classify((enum l2_kind)d->kind, d->commands[i]) >= 0)
			continue;
		path_index(child, cpath, i);
		cfg_err(c, list && list->kind == YTREE_SEQ && i < list->n ? list->items[i]->line
		                                                          : v->line,
		        child, NULL, "no %s parser reads the output of \"%s\"",
		        l2_kind_name((enum l2_kind)d->kind), d->commands[i]);
	}
}

/* Device names key documents: unique within a site. */
static void check_devices(struct cfg_ctx *c, const char *path, const struct ytree *list,
                          const void *items, size_t n)
{
	const struct site_device *d = items;
	char child[CFG_PATH_MAX];

	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(d[i].name, d[j].name) != 0)
				continue;
			path_index(child, path, i);
			cfg_err(c, list->items[i]->line, child, NULL,
			        "device name %s already used by %s[%zu]", d[i].name, path, j);
			break;
		}
	}
}

/* ---- elasticsearch ----------------------------------------------------- */

/*
 * elasticsearch.url: http:// or https://, a host, optional port and path.
 * Credentials in the URL are refused: they would end up in logs and in
 * process listings of tools that print the configuration.
 */
static void p_es_url(struct cfg_ctx *c, const char *path, const struct ytree *v,
                     const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a URL");
	const char *host, *end;
	char *dst = (char *)base + k->off;
	size_t n;

	if (!s)
		return;
	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else {
		cfg_err(c, v->line, path, v, "not an http:// or https:// URL");
		return;
	}
	end = host + strcspn(host, "/");
	if (end == host) {
		cfg_err(c, v->line, path, v, "no host in the URL");
		return;
	}
	if (memchr(host, '@', (size_t)(end - host))) {
		cfg_err(c, v->line, path, NULL,
		        "credentials in the URL are not accepted; use username and password_file, "
		        "password_env, api_key_file or api_key_env");
		return;
	}
	for (const char *q = s; *q; q++) {
		if ((unsigned char)*q <= 0x20 || *q == 0x7f || *q == '?' || *q == '#') {
			cfg_err(c, v->line, path, v,
			        "a URL here holds no spaces, control characters, query or fragment");
			return;
		}
	}
	n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		n--;
	if (n >= k->max) {
		cfg_err(c, v->line, path, v, "longer than %llu bytes", (unsigned long long)k->max - 1);
		return;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/*
 * elasticsearch.index_prefix: the start of every index and template name.
 * Elasticsearch index names are lower case, and may not start with -, _ or +.
 */
static void p_es_prefix(struct cfg_ctx *c, const char *path, const struct ytree *v,
                        const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "an index name prefix");
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	if (n == 0 || n >= k->max) {
		cfg_err(c, v->line, path, v, "must be 1..%llu characters",
		        (unsigned long long)k->max - 1);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		          (i > 0 && (ch == '-' || ch == '_' || ch == '.'));
		if (!ok) {
			cfg_err(c, v->line, path, v,
			        "only lower-case letters, digits, and (after the first) - _ .");
			return;
		}
	}
	memcpy((char *)base + k->off, s, n + 1);
}

/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
static void p_env_name(struct cfg_ctx *c, const char *path, const struct ytree *v,
                       const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "an environment variable name");
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!(isalpha(ch) || ch == '_' || (i > 0 && isdigit(ch)))) {
			n = 0;
			break;
		}
	}
	if (n == 0 || n >= k->max) {
		cfg_err(c, v->line, path, v, "not an environment variable name (like ES_PASSWORD)");
		return;
	}
	memcpy((char *)base + k->off, s, n + 1);
}

/* elasticsearch.username: basic auth forbids ':' in the user name (RFC 7617). */
static void p_es_user(struct cfg_ctx *c, const char *path, const struct ytree *v,
                      const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a user name");
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	if (n == 0 || n >= k->max || strchr(s, ':')) {
		cfg_err(c, v->line, path, v, "must be 1..%llu characters without ':'",
		        (unsigned long long)k->max - 1);
		return;
	}
	memcpy((char *)base + k->off, s, n + 1);
}

/*
 * elasticsearch.password / api_key: refused whatever the value. A secret in
 * the configuration file ends up in backups, diffs and bug reports; the
 * value is deliberately not quoted back in the message.
 */
static void p_secret_inline(struct cfg_ctx *c, const char *path, const struct ytree *v,
                            const struct cfg_key *k, void *base)
{
	(void)base;
	cfg_err(c, v->line, path, NULL,
	        "secrets are not accepted in the configuration file; use %s_file (a file "
	        "holding it) or %s_env (an environment variable)",
	        k->name, k->name);
}


/*
 * The elasticsearch: section. Its presence turns the shipper on; the checks
 * that span keys run after its keys are read.
 */
static void check_es(struct cfg_ctx *c, unsigned line, const char *path,
                     const struct es_config *es);

static void p_es(struct cfg_ctx *c, const char *path, const struct ytree *v,
                 const struct cfg_key *k, void *base)
{
	struct es_config *es = &((struct config *)base)->es;

	es->enabled = true;
	if (!map_read_clean(c, path, v, k, base))
		return;
	check_es(c, v->line, path, es);
}

/* The elasticsearch: checks that span keys (after the file, and after the environment). */
static void check_es(struct cfg_ctx *c, unsigned line, const char *path, const struct es_config *es)
{
	if (es->password_file[0] && es->password_env[0])
		cfg_err(c, line, path, NULL, "password_file and password_env exclude each other");
	if (es->api_key_file[0] && es->api_key_env[0])
		cfg_err(c, line, path, NULL, "api_key_file and api_key_env exclude each other");
	bool pw = es->password_file[0] || es->password_env[0];
	bool key = es->api_key_file[0] || es->api_key_env[0];
	if (pw && key)
		cfg_err(c, line, path, NULL, "a password and an API key exclude each other");
	if (pw && !es->username[0])
		cfg_err(c, line, path, NULL, "a password needs a username");
	if (es->username[0] && !pw)
		cfg_err(c, line, path, NULL, "username needs password_file or password_env");
	if (key && es->username[0])
		cfg_err(c, line, path, NULL, "an API key and a username exclude each other");
}

/* web: cert_file and key_file come together (HTTPS) or not at all. */
static void p_web(struct cfg_ctx *c, const char *path, const struct ytree *v,
                  const struct cfg_key *k, void *base)
{
	const struct web_config *wc = &((const struct config *)base)->web;

	if (!map_read_clean(c, path, v, k, base))
		return;
	if (!!wc->cert_file[0] != !!wc->key_file[0])
		cfg_err(c, v->line, path, NULL, "cert_file and key_file go together (HTTPS)");
}

/* alerts: the hook's program is an absolute path (run without a shell, no PATH search). */
static void p_alerts(struct cfg_ctx *c, const char *path, const struct ytree *v,
                     const struct cfg_key *k, void *base)
{
	const struct alert_config *ac = &((const struct config *)base)->alerts;

	if (!map_read_clean(c, path, v, k, base))
		return;
	if (ac->n_hook && ac->hook[0][0] != '/')
		cfg_err(c, v->line, path, NULL,
		        "hook: the program (first entry) must be an absolute path; it runs without "
		        "a shell");
}

/* reputation.block_labels: a list of rule I label names, into a bit mask. */
static void p_block_labels(struct cfg_ctx *c, const char *path, const struct ytree *v,
                           const struct cfg_key *k, void *base)
{
	uint32_t *dst = (uint32_t *)((char *)base + k->off), bits = 0;
	char child[CFG_PATH_MAX];

	if (v->kind == YTREE_SCALAR && ytree_is_null(v)) {
		*dst = 0; /* "block_labels:" alone: nothing blocks */
		return;
	}
	if (v->kind != YTREE_SEQ) {
		cfg_err(c, v->line, path, v, "expected a list of labels, got %s", kind_name(v));
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		uint32_t bit;
		path_index(child, path, i);
		const char *s = scalar_of(c, child, v->items[i], "a label name");
		if (!s)
			continue;
		if (reputation_label_bit(s, &bit) != 0)
			cfg_err(c, v->items[i]->line, child, v->items[i],
			        "not one of noPayload, flood, scan, probeUnused, arpUnused");
		else
			bits |= bit;
	}
	*dst = bits;
}

/* reputation: a block never ends before it starts growing. */
static void p_reputation(struct cfg_ctx *c, const char *path, const struct ytree *v,
                         const struct cfg_key *k, void *base)
{
	const struct reputation_config *rc = &((const struct config *)base)->reputation;

	if (!map_read_clean(c, path, v, k, base))
		return;
	if (rc->block_max_s < rc->block_base_s)
		cfg_err(c, v->line, path, NULL,
		        "block_max_s (%u) is shorter than block_base_s (%u)", rc->block_max_s,
		        rc->block_base_s);
}

/* A MAC address in any notation l2_mac_parse() reads, into uint8_t[6]. */
static void p_mac(struct cfg_ctx *c, const char *path, const struct ytree *v,
                  const struct cfg_key *k, void *base)
{
	const char *s = scalar_of(c, path, v, "a MAC address");

	if (s && l2_mac_parse(s, strlen(s), (uint8_t *)base + k->off) != 0)
		cfg_err(c, v->line, path, v, "not a MAC address (like aa:bb:cc:dd:ee:ff)");
}

/* daily: a time zone the C library can use, and a hook that runs without a shell. */
static void p_daily(struct cfg_ctx *c, const char *path, const struct ytree *v,
                    const struct cfg_key *k, void *base)
{
	const struct daily_config *dc = &((const struct config *)base)->daily;

	if (!map_read_clean(c, path, v, k, base))
		return;
	if (!daily_tz_valid(dc->tz))
		cfg_err(c, v->line, path, NULL,
		        "tz: \"%s\" is not a time zone (a TZ database name such as "
		        "Europe/Berlin, found under /usr/share/zoneinfo: Debian package tzdata; "
		        "without it only UTC)",
		        dc->tz);
	if (dc->n_hook && dc->hook[0][0] != '/')
		cfg_err(c, v->line, path, NULL,
		        "hook: the program (first entry) must be an absolute path; it runs without "
		        "a shell");
	if (dc->n_hook && !dc->report_dir[0])
		cfg_err(c, v->line, path, NULL, "hook: needs report_dir (the hook gets the report file)");
}

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
    /* All templates together, every exporter: 1 MiB (a few hundred large
     * templates) to 64 GiB. */
    {.name = "max_bytes",
     .parse = p_bytes64,
     .off = offsetof(struct config, decoder.max_template_bytes),
     .min = 1048576,
     .max = 68719476736ull},
    /* exporter (default): any source port of an exporter; session: per port. */
    {.name = "scope",
     .parse = p_template_scope,
     .off = offsetof(struct config, decoder.template_scope)},
    {NULL},
};

static const struct cfg_key limits_keys[] = {
    {.name = "max_exporters",
     .parse = p_u32,
     .off = offsetof(struct config, decoder.max_exporters),
     .min = 1,
     .max = 1048576},
    /* Per exporter address (docs/decoding.md "Exporters"): a router's line
     * cards each use a domain and a socket, a few dozen at most. */
    {.name = "max_domains_per_address",
     .parse = p_u32,
     .off = offsetof(struct config, decoder.max_domains_per_address),
     .min = 1,
     .max = 65536},
    {.name = "max_ports_per_address",
     .parse = p_u32,
     .off = offsetof(struct config, decoder.max_ports_per_address),
     .min = 1,
     .max = 65536},
    {NULL},
};

/*
 * Site thresholds (METHOD §5; docs/judge.md says why each default). Packet
 * and octet counts go up to 10^15, more than any link carries in one
 * 300-second slot, so a rule can be switched off by setting its minimum out
 * of reach. Average packet sizes are bytes, at most an IP packet (65535).
 * Counts of IPs go up to 2^31, the largest cap. Shares are fractions 0..1;
 * ratios are >= 0 and bounded only to keep typos (an extra zero or ten) out.
 */
#define CFG_MAX_COUNT 1000000000000000ull
#define CFG_MAX_IPS 2147483648ull
#define CFG_MAX_RATIO 1000000.0

#define TH_COUNT(field)                                                                            \
	{.name = #field, .parse = p_u64, .off = offsetof(struct site_config, th.field), .min = 1,  \
	 .max = CFG_MAX_COUNT}
#define TH_AVG(field)                                                                              \
	{.name = #field, .parse = p_u32, .off = offsetof(struct site_config, th.field), .min = 0,  \
	 .max = 65535}
#define TH_IPS(field)                                                                              \
	{.name = #field, .parse = p_u32, .off = offsetof(struct site_config, th.field), .min = 1,  \
	 .max = CFG_MAX_IPS}
#define TH_SHARE(field)                                                                            \
	{.name = #field, .parse = p_decimal, .off = offsetof(struct site_config, th.field),        \
	 .dmin = 0.0, .dmax = 1.0}
#define TH_RATIO(field)                                                                            \
	{.name = #field, .parse = p_decimal, .off = offsetof(struct site_config, th.field),        \
	 .dmin = 0.0, .dmax = CFG_MAX_RATIO}

/* In the order of struct site_thresholds. */
static const struct cfg_key thresholds_keys[] = {
    TH_COUNT(min_packets),
    TH_AVG(nopayload_max_avg),
    TH_IPS(flood_max_targets),
    TH_COUNT(flood_min_packets),
    TH_RATIO(flood_max_answer),
    TH_IPS(flood_min_pps),
    TH_IPS(flood_min_seconds),
    TH_COUNT(synflood_min_packets),
    TH_IPS(synflood_min_pps),
    TH_SHARE(scan_min_share),
    TH_IPS(scan_min_targets),
    TH_IPS(scan_min_unused),
    TH_AVG(scan_probe_max_avg),
    TH_IPS(probe_min_targets),
    TH_IPS(arp_max_age),
    TH_COUNT(inside_min_packets),
    TH_COUNT(p2p_min_octets),
    TH_AVG(p2p_max_avg),
    TH_IPS(p2p_min_peers),
    TH_IPS(scanout_min_peers),
    TH_AVG(scanout_max_avg),
    TH_RATIO(scanout_max_return),
    TH_COUNT(floodout_min_packets),
    TH_IPS(floodout_max_peers),
    TH_RATIO(floodout_max_return),
    TH_COUNT(attack_min_packets),
    TH_IPS(attack_min_sources),
    {NULL},
};

#define CAP(field)                                                                                 \
	{.name = #field, .parse = p_u32, .off = offsetof(struct site_config, caps.field), .min = 1, \
	 .max = CFG_MAX_IPS}

static const struct cfg_key caps_keys[] = {
    CAP(max_inside),
    CAP(max_outside),
    CAP(max_pairs),
    {NULL},
};

static const struct cfg_key site_prefix_item = {.parse = p_site_prefix, .off = 0};

static const struct cfg_key addr_item = {.parse = p_addr, .off = 0};

static const struct cfg_key device_command_item = {.parse = p_word, .max = SITE_DEVICE_CMD_MAX};

#define DEV_PATH_KEY(field)                                                                        \
	{.name = #field, .parse = p_path, .off = offsetof(struct site_device, field),              \
	 .max = SITE_DEVICE_PATH_MAX}

static const struct cfg_key device_keys[] = {
    {.name = "name",
     .parse = p_device_name,
     .off = offsetof(struct site_device, name),
     .required = true},
    {.name = "kind",
     .parse = p_device_kind,
     .off = offsetof(struct site_device, kind),
     .required = true},
    {.name = "host",
     .parse = p_word,
     .off = offsetof(struct site_device, host),
     .max = SITE_DEVICE_HOST_MAX,
     .required = true},
    {.name = "port", .parse = p_u32, .off = offsetof(struct site_device, port), .min = 1,
     .max = 65535},
    {.name = "user",
     .parse = p_word,
     .off = offsetof(struct site_device, user),
     .max = SITE_DEVICE_USER_MAX,
     .required = true},
    DEV_PATH_KEY(key),
    DEV_PATH_KEY(password_file),
    {.name = "password", .parse = p_device_secret},
    {.name = "known_hosts",
     .parse = p_path,
     .off = offsetof(struct site_device, known_hosts),
     .max = SITE_DEVICE_PATH_MAX,
     .required = true},
    {.name = "accept_new", .parse = p_bool, .off = offsetof(struct site_device, accept_new)},
    {.name = "gateway", .parse = p_bool, .off = offsetof(struct site_device, gateway)},
    {.name = "commands",
     .parse = p_list_inline,
     .off = offsetof(struct site_device, commands),
     .off_n = offsetof(struct site_device, n_commands),
     .item = &device_command_item,
     .item_size = SITE_DEVICE_CMD_MAX,
     .max = SITE_DEVICE_CMDS_MAX},
    /* 0 = once per slot; otherwise 10 s .. one day. */
    {.name = "interval", .parse = p_u32, .off = offsetof(struct site_device, interval_s),
     .min = 0, .max = 86400},
    {.name = "timeout", .parse = p_u32, .off = offsetof(struct site_device, timeout_s),
     .min = 1, .max = 280},
    {NULL},
};

static const struct cfg_key device_item = {.parse = p_device, .sub = device_keys};

/* advice: and sites[].advice: one text per label, keys as the labels are spelled (judge.h order). */
static const struct cfg_key advice_keys[] = {
    {.name = "noPayload", .parse = p_word, .off = offsetof(struct config, advice[0]), .max = SITE_ADVICE_MAX},
    {.name = "flood", .parse = p_word, .off = offsetof(struct config, advice[1]), .max = SITE_ADVICE_MAX},
    {.name = "scan", .parse = p_word, .off = offsetof(struct config, advice[2]), .max = SITE_ADVICE_MAX},
    {.name = "probeUnused", .parse = p_word, .off = offsetof(struct config, advice[3]), .max = SITE_ADVICE_MAX},
    {.name = "arpUnused", .parse = p_word, .off = offsetof(struct config, advice[4]), .max = SITE_ADVICE_MAX},
    {.name = "fanout", .parse = p_word, .off = offsetof(struct config, advice[5]), .max = SITE_ADVICE_MAX},
    {.name = "p2p", .parse = p_word, .off = offsetof(struct config, advice[6]), .max = SITE_ADVICE_MAX},
    {.name = "scanOut", .parse = p_word, .off = offsetof(struct config, advice[7]), .max = SITE_ADVICE_MAX},
    {.name = "floodOut", .parse = p_word, .off = offsetof(struct config, advice[8]), .max = SITE_ADVICE_MAX},
    {.name = "underAttack", .parse = p_word, .off = offsetof(struct config, advice[9]), .max = SITE_ADVICE_MAX},
    {.name = "arpMissing", .parse = p_word, .off = offsetof(struct config, advice[10]), .max = SITE_ADVICE_MAX},
    {.name = "zeroMac", .parse = p_word, .off = offsetof(struct config, advice[11]), .max = SITE_ADVICE_MAX},
    {NULL},
};

static const struct cfg_key site_advice_keys[] = {
    {.name = "noPayload", .parse = p_word, .off = offsetof(struct site_config, advice[0]), .max = SITE_ADVICE_MAX},
    {.name = "flood", .parse = p_word, .off = offsetof(struct site_config, advice[1]), .max = SITE_ADVICE_MAX},
    {.name = "scan", .parse = p_word, .off = offsetof(struct site_config, advice[2]), .max = SITE_ADVICE_MAX},
    {.name = "probeUnused", .parse = p_word, .off = offsetof(struct site_config, advice[3]), .max = SITE_ADVICE_MAX},
    {.name = "arpUnused", .parse = p_word, .off = offsetof(struct site_config, advice[4]), .max = SITE_ADVICE_MAX},
    {.name = "fanout", .parse = p_word, .off = offsetof(struct site_config, advice[5]), .max = SITE_ADVICE_MAX},
    {.name = "p2p", .parse = p_word, .off = offsetof(struct site_config, advice[6]), .max = SITE_ADVICE_MAX},
    {.name = "scanOut", .parse = p_word, .off = offsetof(struct site_config, advice[7]), .max = SITE_ADVICE_MAX},
    {.name = "floodOut", .parse = p_word, .off = offsetof(struct site_config, advice[8]), .max = SITE_ADVICE_MAX},
    {.name = "underAttack", .parse = p_word, .off = offsetof(struct site_config, advice[9]), .max = SITE_ADVICE_MAX},
    {.name = "arpMissing", .parse = p_word, .off = offsetof(struct site_config, advice[10]), .max = SITE_ADVICE_MAX},
    {.name = "zeroMac", .parse = p_word, .off = offsetof(struct site_config, advice[11]), .max = SITE_ADVICE_MAX},
    {NULL},
};

static const struct cfg_key site_keys[] = {
    {.name = "name",
     .parse = p_site_name,
     .off = offsetof(struct site_config, name),
     .required = true},
    {.name = "advice", .parse = p_map, .sub = site_advice_keys},
    {.name = "inside",
     .parse = p_list,
     .off = offsetof(struct site_config, inside),
     .off_n = offsetof(struct site_config, n_inside),
     .item = &site_prefix_item,
     .item_size = sizeof(struct site_prefix),
     .min = 1,
     .max = CONFIG_MAX_SITE_PREFIXES,
     .required = true},
    /* A million peers per inside IP is far past any fan-out worth keeping. */
    {.name = "peer_cap",
     .parse = p_u32,
     .off = offsetof(struct site_config, peer_cap),
     .min = 1,
     .max = 1000000},
    {.name = "allow",
     .parse = p_list,
     .off = offsetof(struct site_config, allow),
     .off_n = offsetof(struct site_config, n_allow),
     .item = &addr_item,
     .item_size = sizeof(struct flow_addr),
     .max = CONFIG_MAX_SITE_ALLOW},
    {.name = "thresholds", .parse = p_map, .sub = thresholds_keys},
    {.name = "caps", .parse = p_map, .sub = caps_keys},
    {.name = "devices",
     .parse = p_list,
     .off = offsetof(struct site_config, devices),
     .off_n = offsetof(struct site_config, n_devices),
     .item = &device_item,
     .item_size = sizeof(struct site_device),
     .max = CONFIG_MAX_SITE_DEVICES,
     .check = check_devices,
     .init = device_item_init},
    {NULL},
};

static const struct cfg_key site_item = {.parse = p_site, .sub = site_keys};

static const struct cfg_key slots_keys[] = {
    /*
     * A slot is 300 s; a grace of 290 s or less keeps at most two slots of a
     * site alive at once (DESIGN: "at most two slots per site").
     */
    {.name = "grace_s",
     .parse = p_u32,
     .off = offsetof(struct config, grace_s),
     .min = 0,
     .max = 290},
    {NULL},
};

static const struct cfg_key store_keys[] = {
    {.name = "path",
     .parse = p_path,
     .off = offsetof(struct config, store_path),
     .max = CONFIG_STORE_PATH_MAX},
    /* Ten years; past that the store is an archive, not a working set. */
    {.name = "retention_days",
     .parse = p_u32,
     .off = offsetof(struct config, retention_days),
     .min = 1,
     .max = 3650},
    {.name = "spool_path",
     .parse = p_path,
     .off = offsetof(struct config, spool_path),
     .max = CONFIG_STORE_PATH_MAX},
    /* Up to 1 TiB; the cap exists so that a failing store never fills a disk. */
    {.name = "spool_max_mib",
     .parse = p_u32,
     .off = offsetof(struct config, spool_max_mib),
     .min = 1,
     .max = 1048576},
    /* Below a slot's length: a closer that waits longer falls a whole slot behind. */
    {.name = "write_retry_s",
     .parse = p_u32,
     .off = offsetof(struct config, write_retry_s),
     .min = 0,
     .max = 290},
    {NULL},
};

static const struct cfg_key documents_keys[] = {
    {.name = "outside", .parse = p_docs_outside, .off = offsetof(struct config, docs_outside_all)},
    {.name = "outside_top",
     .parse = p_u32,
     .off = offsetof(struct config, docs_outside_top),
     .min = 0,
     .max = CFG_MAX_IPS},
    /* Caps on documents per slot (docs/store.md "Retention and size"). */
    {.name = "outside_max",
     .parse = p_u32,
     .off = offsetof(struct config, docs_outside_max),
     .min = 1,
     .max = CFG_MAX_IPS},
    {.name = "offender_max",
     .parse = p_u32,
     .off = offsetof(struct config, docs_offender_max),
     .min = 1,
     .max = CFG_MAX_IPS},
    {NULL},
};

#define ES_PATH_KEY(field)                                                                         \
	{.name = #field, .parse = p_path, .off = offsetof(struct config, es.field),                \
	 .max = ES_PATH_MAX}
#define ES_ENV_KEY(field)                                                                          \
	{.name = #field, .parse = p_env_name, .off = offsetof(struct config, es.field),            \
	 .max = ES_NAME_MAX}

static const struct cfg_key es_keys[] = {
    {.name = "url",
     .parse = p_es_url,
     .off = offsetof(struct config, es.url),
     .max = ES_URL_MAX,
     .required = true},
    {.name = "index_prefix",
     .parse = p_es_prefix,
     .off = offsetof(struct config, es.index_prefix),
     .max = 48},
    {.name = "username",
     .parse = p_es_user,
     .off = offsetof(struct config, es.username),
     .max = ES_NAME_MAX},
    {.name = "password", .parse = p_secret_inline},
    ES_PATH_KEY(password_file),
    ES_ENV_KEY(password_env),
    {.name = "api_key", .parse = p_secret_inline},
    ES_PATH_KEY(api_key_file),
    ES_ENV_KEY(api_key_env),
    ES_PATH_KEY(ca_file),
    {.name = "verify_tls", .parse = p_bool, .off = offsetof(struct config, es.verify_tls)},
    /* 64 KiB..256 MiB; Elasticsearch refuses bodies over http.max_content_length (100 MB). */
    {.name = "bulk_max_bytes",
     .parse = p_bytes,
     .off = offsetof(struct config, es.bulk_max_bytes),
     .min = 65536,
     .max = 268435456},
    {.name = "gzip", .parse = p_bool, .off = offsetof(struct config, es.gzip)},
    {.name = "timeout_s",
     .parse = p_u32,
     .off = offsetof(struct config, es.timeout_s),
     .min = 1,
     .max = 3600},
    {.name = "retry_initial_ms",
     .parse = p_u32,
     .off = offsetof(struct config, es.retry_initial_ms),
     .min = 1,
     .max = 60000},
    {.name = "retry_max_s",
     .parse = p_u32,
     .off = offsetof(struct config, es.retry_max_s),
     .min = 1,
     .max = 3600},
    {.name = "drain_timeout_s",
     .parse = p_u32,
     .off = offsetof(struct config, es.drain_timeout_s),
     .min = 1,
     .max = 604800},
    ES_PATH_KEY(dead_letter_path),
    {NULL},
};

static const struct cfg_key web_keys[] = {
    {.name = "listen",
     .parse = p_list_inline,
     .off = offsetof(struct config, web.listen),
     .off_n = offsetof(struct config, web.n_listen),
     .item = &listen_item,
     .item_size = sizeof(struct udpin_listen),
     .min = 0,
     .max = WEB_MAX_LISTEN,
     .check = check_listen},
    {.name = "token_file",
     .parse = p_path,
     .off = offsetof(struct config, web.token_file),
     .max = WEB_PATH_MAX},
    {.name = "cert_file",
     .parse = p_path,
     .off = offsetof(struct config, web.cert_file),
     .max = WEB_PATH_MAX},
    {.name = "key_file",
     .parse = p_path,
     .off = offsetof(struct config, web.key_file),
     .max = WEB_PATH_MAX},
    /* Per listen address; each connection holds WEB_REQUEST_MEMORY_BYTES at most. */
    {.name = "max_connections",
     .parse = p_u32,
     .off = offsetof(struct config, web.max_connections),
     .min = 1,
     .max = 4096},
    {.name = "timeout_s",
     .parse = p_u32,
     .off = offsetof(struct config, web.timeout_s),
     .min = 1,
     .max = 3600},
    {NULL},
};


/* ---- attack ------------------------------------------------------------ */

/*
 * attack.thresholds, attack.sites[].thresholds and their groups' share one
 * shape: in|out -> class -> pps|bps|fps, each a rate (0 = none). The three
 * tables differ only in where struct attack_thresholds sits in the base.
 * 10^12 covers a terabit per second.
 */
#define CFG_MAX_RATE 1000000000000ull
#define ATK_METRIC(base, th, d, c, m, nm)                                                        \
	{.name = nm, .parse = p_u64,                                                                   \
	 .off = offsetof(struct base, th) + offsetof(struct attack_thresholds, v[d][c][m]), .min = 0, \
	 .max = CFG_MAX_RATE}
#define ATK_CLASS(pre, base, th, d, c)                                                             \
	static const struct cfg_key pre##_##d##_##c[] = {                                          \
	    ATK_METRIC(base, th, d, c, ATTACK_PPS, "pps"),                                             \
	    ATK_METRIC(base, th, d, c, ATTACK_BPS, "bps"),                                             \
	    ATK_METRIC(base, th, d, c, ATTACK_FPS, "fps"),                                             \
	    {NULL},                                                                                    \
	}
#define ATK_DIR(pre, base, th, d)                                                                  \
	ATK_CLASS(pre, base, th, d, 0);                                                            \
	ATK_CLASS(pre, base, th, d, 1);                                                            \
	ATK_CLASS(pre, base, th, d, 2);                                                            \
	ATK_CLASS(pre, base, th, d, 3);                                                            \
	ATK_CLASS(pre, base, th, d, 4);                                                            \
	ATK_CLASS(pre, base, th, d, 5);                                                            \
	ATK_CLASS(pre, base, th, d, 6);                                                            \
	static const struct cfg_key pre##_##d[] = {                                                \
	    {.name = "total", .parse = p_map, .sub = pre##_##d##_0},                               \
	    {.name = "syn", .parse = p_map, .sub = pre##_##d##_1},                                 \
	    {.name = "tcp", .parse = p_map, .sub = pre##_##d##_2},                                 \
	    {.name = "udp", .parse = p_map, .sub = pre##_##d##_3},                                 \
	    {.name = "icmp", .parse = p_map, .sub = pre##_##d##_4},                                \
	    {.name = "other", .parse = p_map, .sub = pre##_##d##_5},                               \
	    {.name = "fragments", .parse = p_map, .sub = pre##_##d##_6},                           \
	    {NULL},                                                                                    \
	}
#define ATK_TABLE(pre, base, th)                                                                   \
	ATK_DIR(pre, base, th, 0);                                                                 \
	ATK_DIR(pre, base, th, 1);                                                                 \
	static const struct cfg_key pre[] = {                                                      \
	    {.name = "in", .parse = p_map, .sub = pre##_0},                                        \
	    {.name = "out", .parse = p_map, .sub = pre##_1},                                       \
	    {NULL},                                                                                    \
	}

_Static_assert(ATTACK_IN == 0 && ATTACK_OUT == 1 && ATTACK_CLASS_TOTAL == 0 &&
                   ATTACK_CLASS_SYN == 1 && ATTACK_CLASS_TCP == 2 && ATTACK_CLASS_UDP == 3 &&
                   ATTACK_CLASS_ICMP == 4 && ATTACK_CLASS_OTHER == 5 &&
                   ATTACK_CLASS_FRAG == 6 && ATTACK_CLASS__COUNT == 7,
               "the threshold tables spell the enums' order");

ATK_TABLE(atk_th_default, config, attack.th);
ATK_TABLE(atk_th_site, attack_site, th);
ATK_TABLE(atk_th_group, attack_group, th);

/* A threshold left out of an override is inherited (ATTACK_UNSET). */
static void atk_site_init(void *item)
{
	struct attack_site *s = item;
	memset(&s->th, 0xff, sizeof(s->th));
}

static void atk_group_init(void *item)
{
	struct attack_group *g = item;
	memset(&g->th, 0xff, sizeof(g->th));
}

static const struct cfg_key atk_group_keys[] = {
    {.name = "prefix",
     .parse = p_site_prefix,
     .off = offsetof(struct attack_group, prefix),
     .required = true},
    {.name = "thresholds", .parse = p_map, .sub = atk_th_group},
    {NULL},
};

static const struct cfg_key atk_group_item = {.parse = p_map, .sub = atk_group_keys};

static const struct cfg_key atk_site_keys[] = {
    {.name = "site", .parse = p_site_name, .off = offsetof(struct attack_site, site),
     .required = true},
    {.name = "thresholds", .parse = p_map, .sub = atk_th_site},
    {.name = "groups",
     .parse = p_list,
     .off = offsetof(struct attack_site, groups),
     .off_n = offsetof(struct attack_site, n_groups),
     .item = &atk_group_item,
     .item_size = sizeof(struct attack_group),
     .max = ATTACK_GROUPS_MAX,
     .init = atk_group_init},
    {NULL},
};

static const struct cfg_key atk_site_item = {.parse = p_map, .sub = atk_site_keys};

#define ATK_U32(field, lo, hi)                                                                     \
	{.name = #field, .parse = p_u32, .off = offsetof(struct config, attack.field), .min = (lo), \
	 .max = (hi)}

static const struct cfg_key attack_keys[] = {
    {.name = "enabled", .parse = p_bool, .off = offsetof(struct config, attack.enabled)},
    ATK_U32(window_s, 1, ATTACK_WINDOW_MAX_S),
    ATK_U32(start_windows, 1, 255),
    ATK_U32(end_windows, 1, 255),
    ATK_U32(update_s, 1, 3600),
    ATK_U32(max_hosts, 1, ATTACK_HOSTS_MAX),
    ATK_U32(max_events, 1, ATTACK_EVENTS_MAX),
    {.name = "hook", .parse = p_path, .off = offsetof(struct config, attack.hook),
     .max = ATTACK_HOOK_MAX},
    ATK_U32(hook_timeout_ms, 1, 600000),
    {.name = "cpus", .parse = p_cpus, .off = offsetof(struct config, attack.cpus)},
    ATK_U32(nice, 0, 19),
    {.name = "thresholds", .parse = p_map, .sub = atk_th_default},
    {.name = "sites",
     .parse = p_list,
     .off = offsetof(struct config, attack.sites),
     .off_n = offsetof(struct config, attack.n_sites),
     .item = &atk_site_item,
     .item_size = sizeof(struct attack_site),
     .max = ATTACK_SITES_MAX,
     .init = atk_site_init},
    {NULL},
};

/*
 * attack.sites[] must name configured sites, once each, and every group
 * must lie inside one of its site's prefixes: anything else would never
 * apply, which is almost certainly a typo.
 */
static void check_attack_sites(struct cfg_ctx *c, const struct ytree *root,
                               const struct config *cfg)
{
	const struct ytree *sec = map_get(root, "attack");
	const struct ytree *list = sec ? map_get(sec, "sites") : NULL;
	char path[64], gpath[CFG_PATH_MAX];

	if (!list || list->kind != YTREE_SEQ)
		return;
	for (size_t i = 0; i < cfg->attack.n_sites && i < list->n; i++) {
		const struct attack_site *as = &cfg->attack.sites[i];
		const struct ytree *item = list->items[i];
		const struct site_config *sc = NULL;
		snprintf(path, sizeof(path), "attack.sites[%zu]", i);
		for (size_t k = 0; k < cfg->n_sites; k++)
			if (strcmp(cfg->sites[k].name, as->site) == 0)
				sc = &cfg->sites[k];
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->attack.sites[j].site, as->site) == 0) {
				cfg_err(c, item->line, path, NULL, "site %s already has overrides in "
				        "attack.sites[%zu]", as->site, j);
				break;
			}
		if (!sc) {
			cfg_err(c, item->line, path, NULL, "no site named %s in sites", as->site);
			continue;
		}
		const struct ytree *groups = map_get(item, "groups");
		for (size_t g = 0; g < as->n_groups; g++) {
			const struct site_prefix *p = &as->groups[g].prefix;
			size_t j;
			for (j = 0; j < sc->n_inside; j++)
				if (p->len >= sc->inside[j].len &&
				    flow_addr_in_prefix(&p->addr, &sc->inside[j].addr, sc->inside[j].len))
					break;
			if (j < sc->n_inside)
				continue;
			snprintf(gpath, sizeof(gpath), "%s.groups[%zu].prefix", path, g);
			cfg_err(c, groups && groups->kind == YTREE_SEQ && g < groups->n
			               ? groups->items[g]->line
			               : item->line,
			        gpath, NULL, "not inside any prefix of site %s", sc->name);
		}
	}
}

static const struct cfg_key alert_hook_item = {.parse = p_word, .max = ALERT_ARG_MAX};

static const struct cfg_key alerts_keys[] = {
    {.name = "hook",
     .parse = p_list_inline,
     .off = offsetof(struct config, alerts.hook),
     .off_n = offsetof(struct config, alerts.n_hook),
     .item = &alert_hook_item,
     .item_size = ALERT_ARG_MAX,
     .min = 1,
     .max = ALERT_ARGV_MAX},
    {.name = "timeout_s",
     .parse = p_u32,
     .off = offsetof(struct config, alerts.timeout_s),
     .min = 1,
     .max = 3600},
    {.name = "rate_limit_s",
     .parse = p_u32,
     .off = offsetof(struct config, alerts.rate_limit_s),
     .min = 0,
     .max = 31 * 86400},
    {NULL},
};

static const struct cfg_key reputation_prefix_item = {.parse = p_site_prefix, .off = 0};

#define REP_U32_KEY(field, lo, hi)                                                                 \
	{.name = #field, .parse = p_u32, .off = offsetof(struct config, reputation.field),          \
	 .min = (lo), .max = (hi)}

static const struct cfg_key reputation_keys[] = {
    {.name = "enabled", .parse = p_bool, .off = offsetof(struct config, reputation.enabled)},
    {.name = "path",
     .parse = p_path,
     .off = offsetof(struct config, reputation.path),
     .max = REPUTATION_PATH_MAX},
    {.name = "blocklist",
     .parse = p_path,
     .off = offsetof(struct config, reputation.blocklist_path),
     .max = REPUTATION_PATH_MAX},
    {.name = "block_labels",
     .parse = p_block_labels,
     .off = offsetof(struct config, reputation.block_labels)},
    REP_U32_KEY(min_offences, 1, 10000),
    /* A minute to a year; the factor up to 100; the longest block ten years. */
    REP_U32_KEY(block_base_s, 60, 31536000),
    REP_U32_KEY(block_factor, 1, 100),
    REP_U32_KEY(block_max_s, 60, 315360000),
    REP_U32_KEY(memory_s, 300, 315360000),
    REP_U32_KEY(history_max, 1, 1000),
    REP_U32_KEY(max_offenders, 1, 100000000),
    {.name = "allow",
     .parse = p_list,
     .off = offsetof(struct config, reputation.allow),
     .off_n = offsetof(struct config, reputation.n_allow),
     .item = &reputation_prefix_item,
     .item_size = sizeof(struct site_prefix),
     .max = REPUTATION_ALLOW_MAX},
    {.name = "hook",
     .parse = p_path,
     .off = offsetof(struct config, reputation.hook),
     .max = REPUTATION_PATH_MAX},
    REP_U32_KEY(hook_timeout_s, 1, 3600),
    REP_U32_KEY(hook_queue, 1, 1000000),
    /* 0: only blocked addresses are watched. */
    REP_U32_KEY(watch_window_s, 0, 31536000),
    REP_U32_KEY(watch_max, 0, 10000000),
    REP_U32_KEY(footprint_max, 1, 1000000),
    {NULL},
};

static const struct cfg_key daily_hook_item = {.parse = p_word, .max = DAILY_HOOK_ARG_MAX};
static const struct cfg_key daily_mac_item = {.parse = p_mac, .off = 0};
static const struct cfg_key daily_prefix_item = {.parse = p_site_prefix, .off = 0};

#define DAILY_U32(key, field, lo, hi)                                                             \
	{.name = key, .parse = p_u32, .off = offsetof(struct config, daily.field), .min = lo,     \
	 .max = hi}

static const struct cfg_key daily_keys[] = {
    {.name = "enabled", .parse = p_bool, .off = offsetof(struct config, daily.enabled)},
    {.name = "tz", .parse = p_word, .off = offsetof(struct config, daily.tz), .max = DAILY_TZ_MAX},
    DAILY_U32("run_hour", run_hour, 0, 23),
    DAILY_U32("max_peers", max_peers, 1, DAILY_PEERS_MAX),
    DAILY_U32("max_flows", max_flows, 1, 1000000),
    {.name = "max_packets",
     .parse = p_u64,
     .off = offsetof(struct config, daily.max_packets),
     .min = 1,
     .max = UINT64_C(1) << 40},
    DAILY_U32("probe_targets", probe_targets, 1, DAILY_PROBE_MAX),
    {.name = "beacon_max_cv",
     .parse = p_decimal,
     .off = offsetof(struct config, daily.beacon_max_cv),
     .dmin = 0,
     .dmax = 10},
    DAILY_U32("beacon_min_contacts", beacon_min_contacts, 3, 300),
    DAILY_U32("max_suspects", max_suspects, 1, 1000000),
    DAILY_U32("max_inside", max_inside, 1, 100000000),
    DAILY_U32("max_outside", max_outside, 1, 100000000),
    DAILY_U32("max_macs", max_macs, 1, 100000000),
    DAILY_U32("mac_min_ips", mac_min_ips, 2, DAILY_MAC_IPS_MAX),
    {.name = "exclude_macs",
     .parse = p_list_inline,
     .off = offsetof(struct config, daily.exclude_macs),
     .off_n = offsetof(struct config, daily.n_exclude_macs),
     .item = &daily_mac_item,
     .item_size = 6,
     .max = DAILY_EXCLUDE_MAX},
    {.name = "exclude_prefixes",
     .parse = p_list_inline,
     .off = offsetof(struct config, daily.exclude_prefixes),
     .off_n = offsetof(struct config, daily.n_exclude_prefixes),
     .item = &daily_prefix_item,
     .item_size = sizeof(struct site_prefix),
     .max = DAILY_EXCLUDE_MAX},
    {.name = "report_dir",
     .parse = p_path,
     .off = offsetof(struct config, daily.report_dir),
     .max = DAILY_PATH_MAX},
    {.name = "hook",
     .parse = p_list_inline,
     .off = offsetof(struct config, daily.hook),
     .off_n = offsetof(struct config, daily.n_hook),
     .item = &daily_hook_item,
     .item_size = DAILY_HOOK_ARG_MAX,
     .min = 1,
     .max = DAILY_HOOK_ARGV_MAX - 1},
    DAILY_U32("timeout_s", timeout_s, 1, 86400),
    DAILY_U32("hook_timeout_s", hook_timeout_s, 1, 3600),
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
    {.name = "sites",
     .parse = p_list,
     .off = offsetof(struct config, sites),
     .off_n = offsetof(struct config, n_sites),
     .item = &site_item,
     .item_size = sizeof(struct site_config),
     .max = CONFIG_MAX_SITES,
     .check = check_sites,
     .init = site_item_init},
    {.name = "slots", .parse = p_map, .sub = slots_keys},
    {.name = "store", .parse = p_map, .sub = store_keys},
    {.name = "documents", .parse = p_map, .sub = documents_keys},
    {.name = "elasticsearch", .parse = p_es, .sub = es_keys},
    {.name = "web", .parse = p_web, .sub = web_keys},
    {.name = "attack", .parse = p_map, .sub = attack_keys},
    {.name = "alerts", .parse = p_alerts, .sub = alerts_keys},
    {.name = "daily", .parse = p_daily, .sub = daily_keys},
    {.name = "advice", .parse = p_map, .sub = advice_keys},
    {.name = "reputation", .parse = p_reputation, .sub = reputation_keys},
    {NULL},
};

static const struct cfg_key root_key = {.parse = p_map, .sub = top_keys};

/*
 * The dead-letter file is created when first needed, its directory is not:
 * a missing directory would only show when the first document is refused,
 * hours into a run (or make `ship` fail). The store's own directory is the
 * exception: the store creates it at start (store_open()).
 */
static void check_dead_letter_dir(struct cfg_ctx *c, const struct ytree *root,
                                  const struct config *cfg)
{
	const char *f = cfg->es.dead_letter_path, *slash = strrchr(f, '/');
	const struct ytree *sec = root ? map_get(root, "elasticsearch") : NULL;
	const struct ytree *node = sec ? map_get(sec, "dead_letter_path") : NULL;
	unsigned line = node ? node->line : (sec ? sec->line : 1);
	char dir[ES_PATH_MAX], store_dir[sizeof(cfg->store_path)];
	const char *ss = strrchr(cfg->store_path, '/');
	struct stat sb;

	if (!slash)
		return; /* the working directory */
	snprintf(dir, sizeof(dir), "%.*s", slash == f ? 1 : (int)(slash - f), f);
	snprintf(store_dir, sizeof(store_dir), "%.*s", ss ? (int)(ss - cfg->store_path) : 0,
	         cfg->store_path);
	if (stat(dir, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			cfg_err(c, line, "elasticsearch.dead_letter_path", node,
			        "%s is not a directory", dir);
		return;
	}
	if (errno == ENOENT && strcmp(dir, store_dir) == 0)
		return;
	cfg_err(c, line, "elasticsearch.dead_letter_path", node, "directory %s: %s", dir,
	        strerror(errno));
}

/* ---- environment overrides --------------------------------------------- */

/*
 * The keys a container or a unit most often sets from outside, each from one
 * environment variable, applied after the file (docs/configuration.md,
 * "Environment overrides"). A variable that is unset or empty changes
 * nothing. Values are read by the key's own parser, so they are checked
 * exactly as in the file; messages start "environment VAR:" instead of
 * FILE:LINE. A list (listen, web.listen) is its entries separated by commas
 * or spaces and replaces the file's list whole.
 */
struct env_override {
	const char *var;
	const char *section; /* top-level key, or NULL for a top-level value */
	const char *key;
	bool list;
	/*
	 * A credential given by the environment replaces the file's choice of
	 * credential: these other elasticsearch fields are cleared first.
	 */
	size_t clear[4];
};

#define ENV_ES_FIELD(f) (offsetof(struct config, es.f) + 1) /* + 1: 0 ends the list */

static const struct env_override env_overrides[] = {
    {"NFSENTRY_LOG_LEVEL", "log", "level", false, {0}},
    {"NFSENTRY_LISTEN", NULL, "listen", true, {0}},
    {"NFSENTRY_STORE_PATH", "store", "path", false, {0}},
    {"NFSENTRY_WEB_LISTEN", "web", "listen", true, {0}},
    {"NFSENTRY_WEB_TOKEN_FILE", "web", "token_file", false, {0}},
    {"NFSENTRY_ES_URL", "elasticsearch", "url", false, {0}},
    /* Before the username: an API key drops the file's user, not the environment's. */
    {"NFSENTRY_ES_API_KEY_FILE",
     "elasticsearch",
     "api_key_file",
     false,
     {ENV_ES_FIELD(api_key_env), ENV_ES_FIELD(password_file), ENV_ES_FIELD(password_env),
      ENV_ES_FIELD(username)}},
    {"NFSENTRY_ES_USERNAME", "elasticsearch", "username", false, {0}},
    {"NFSENTRY_ES_PASSWORD_FILE",
     "elasticsearch",
     "password_file",
     false,
     {ENV_ES_FIELD(password_env), ENV_ES_FIELD(api_key_file), ENV_ES_FIELD(api_key_env)}},
    {"NFSENTRY_ES_CA_FILE", "elasticsearch", "ca_file", false, {0}},
};

/* The row of name in keys, or NULL. */
static const struct cfg_key *key_find(const struct cfg_key *keys, const char *name)
{
	for (const struct cfg_key *k = keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* Longest environment value read; longer is an error, not a cut. */
#define ENV_VALUE_MAX 4096
/* List entries read from one variable: the longest list (listen) and one more for its error. */
#define ENV_LIST_MAX (CONFIG_MAX_LISTEN + 1)

/*
 * Apply one override of value to cfg through the key's parser. The scalar
 * nodes are built on the stack (line 0); nothing is allocated.
 */
static void env_apply_one(struct cfg_ctx *c, const struct env_override *o, const char *value,
                          struct config *cfg)
{
	const struct cfg_key *sec = o->section ? key_find(top_keys, o->section) : NULL;
	const struct cfg_key *k = key_find(sec ? sec->sub : top_keys, o->key);
	char buf[ENV_VALUE_MAX], path[CFG_PATH_MAX];
	struct ytree items[ENV_LIST_MAX], seq, *ptrs[ENV_LIST_MAX];
	size_t len = strlen(value);

	c->env = o->var;
	snprintf(path, sizeof(path), "%s%s%s", o->section ? o->section : "", o->section ? "." : "",
	         o->key);
	if (!k) { /* a table row renamed without this one: a bug, said plainly */
		cfg_err(c, 0, path, NULL, "no such key (nfsentry's own mistake)");
		c->env = NULL;
		return;
	}
	if (len >= sizeof(buf)) {
		cfg_err(c, 0, path, NULL, "longer than %zu bytes", sizeof(buf) - 1);
		c->env = NULL;
		return;
	}
	memcpy(buf, value, len + 1);
	memset(&seq, 0, sizeof(seq));
	seq.kind = YTREE_SEQ;
	seq.items = ptrs;
	if (o->list) {
		char *save = NULL;
		for (char *tok = strtok_r(buf, ", \t\n", &save); tok && seq.n < ENV_LIST_MAX;
		     tok = strtok_r(NULL, ", \t\n", &save)) {
			items[seq.n] =
			    (struct ytree){.kind = YTREE_SCALAR, .str = tok, .len = strlen(tok)};
			ptrs[seq.n] = &items[seq.n];
			seq.n++;
		}
	} else {
		items[0] = (struct ytree){.kind = YTREE_SCALAR, .str = buf, .len = len};
	}
	if (o->section && strcmp(o->section, "elasticsearch") == 0) {
		cfg->es.enabled = true;
		for (size_t i = 0; i < sizeof(o->clear) / sizeof(o->clear[0]) && o->clear[i]; i++)
			((char *)cfg)[o->clear[i] - 1] = '\0';
	}
	k->parse(c, path, o->list ? &seq : &items[0], k, cfg);
	c->env = NULL;
}

/*
 * Every override that is set, in table order, then the elasticsearch checks
 * that span keys when one of them touched that section. Problems go to c
 * like the file's.
 */
static void apply_env(struct cfg_ctx *c, struct config *cfg)
{
	char es_vars[512] = "";
	size_t es_len = 0;

	for (size_t i = 0; i < sizeof(env_overrides) / sizeof(env_overrides[0]); i++) {
		const struct env_override *o = &env_overrides[i];
		const char *value = getenv(o->var);

		if (!value || !value[0])
			continue;
		env_apply_one(c, o, value, cfg);
		if (o->section && strcmp(o->section, "elasticsearch") == 0) {
			int n = snprintf(es_vars + es_len, sizeof(es_vars) - es_len, "%s%s",
			                 es_len ? ", " : "", o->var);
			if (n > 0 && (size_t)n < sizeof(es_vars) - es_len)
				es_len += (size_t)n;
		}
	}
	if (es_len) {
		c->env = es_vars;
		check_es(c, 0, "elasticsearch", &cfg->es);
		c->env = NULL;
	}
}

/* ---- the list of keys (docs checks) ------------------------------------ */

/* Walk keys under prefix; a list of mappings adds "[]". Refused secret keys are not listed. */
static void keys_walk(const struct cfg_key *keys, const char *prefix,
                      void (*fn)(const char *path, void *ud), void *ud)
{
	char path[CFG_PATH_MAX];

	for (const struct cfg_key *k = keys; k->name; k++) {
		if (k->parse == p_secret_inline || k->parse == p_device_secret)
			continue;
		path_key(path, prefix, k->name);
		if (k->item && k->item->sub) {
			fn(path, ud);
			char sub[CFG_PATH_MAX];
			snprintf(sub, sizeof(sub), "%.*s[]", CFG_PATH_MAX - 3, path);
			keys_walk(k->item->sub, sub, fn, ud);
		} else if (k->sub && !k->item) {
			keys_walk(k->sub, path, fn, ud);
		} else {
			fn(path, ud);
		}
	}
}

void config_keys_list(void (*fn)(const char *path, void *ud), void *ud)
{
	keys_walk(top_keys, "", fn, ud);
}

void config_env_list(void (*fn)(const char *var, const char *path, void *ud), void *ud)
{
	for (size_t i = 0; i < sizeof(env_overrides) / sizeof(env_overrides[0]); i++) {
		char path[CFG_PATH_MAX];
		const struct env_override *o = &env_overrides[i];
		snprintf(path, sizeof(path), "%s%s%s", o->section ? o->section : "",
		         o->section ? "." : "", o->key);
		fn(o->var, path, ud);
	}
}

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
	cfg->decoder.max_template_bytes = DECODER_TEMPLATE_BYTES_DEFAULT;
	cfg->decoder.max_domains_per_address = 64;
	cfg->decoder.max_ports_per_address = 16;
	cfg->grace_s = 10;
	snprintf(cfg->store_path, sizeof(cfg->store_path), "data/nfsentry.db");
	cfg->retention_days = 30;
	cfg->spool_path[0] = '\0';
	cfg->spool_max_mib = 1024;
	cfg->write_retry_s = 30;
	cfg->docs_outside_all = false;
	cfg->docs_outside_top = 1000;
	cfg->docs_outside_max = 2000;
	cfg->docs_offender_max = 1000;
	cfg->es.enabled = false;
	snprintf(cfg->es.index_prefix, sizeof(cfg->es.index_prefix), "nfsentry");
	cfg->es.verify_tls = true;
	cfg->es.bulk_max_bytes = 5 * 1024 * 1024;
	cfg->es.gzip = false;
	cfg->es.timeout_s = 30;
	cfg->es.retry_initial_ms = 500;
	cfg->es.retry_max_s = 60;
	cfg->es.drain_timeout_s = 300;
	snprintf(cfg->es.dead_letter_path, sizeof(cfg->es.dead_letter_path),
	         "data/es-dead-letter.jsonl");
	/* The dashboard binds to loopback unless told otherwise (DESIGN: security rules). */
	snprintf(cfg->web.listen[0].host, sizeof(cfg->web.listen[0].host), "127.0.0.1");
	cfg->web.listen[0].port = 8080;
	cfg->web.n_listen = 1;
	cfg->web.max_connections = 64;
	cfg->web.timeout_s = 30;
	attack_config_defaults(&cfg->attack);
	alert_config_defaults(&cfg->alerts);
	reputation_config_defaults(&cfg->reputation);
	daily_config_defaults(&cfg->daily);
}

void config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->allow_owned);
	free(cfg->sampling_owned);
	for (size_t i = 0; i < cfg->n_sites; i++) {
		free(cfg->sites[i].inside);
		free(cfg->sites[i].allow);
		free(cfg->sites[i].devices);
	}
	free(cfg->sites);
	for (size_t i = 0; i < cfg->attack.n_sites; i++)
		free(cfg->attack.sites[i].groups);
	free(cfg->attack.sites);
	free(cfg->reputation.allow);
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

/*
 * Whole file into a new buffer, at most CONFIG_MAX_FILE_BYTES. Only a
 * regular file (or a link to one): a FIFO or a device would block the
 * start or never end, a directory reads as an error anyway. Opened without
 * blocking so that a FIFO with no writer is refused, not waited on.
 * -EINVAL: not a regular file.
 */
static int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	FILE *f;
	char *buf;
	size_t n;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0)
		rc = -errno;
	else if (!S_ISREG(sb.st_mode))
		rc = S_ISDIR(sb.st_mode) ? -EISDIR : -EINVAL;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	f = fdopen(fd, "rb");
	if (!f) {
		rc = -errno;
		close(fd);
		return rc;
	}
	buf = fault_malloc(CONFIG_MAX_FILE_BYTES + 1);
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
		else if (rc == -EINVAL)
			snprintf(msg, sizeof(msg),
			         "%s: cannot read: not a regular file (a FIFO, socket or device)",
			         path);
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
	apply_env(&c, &scratch);
	if (errs->n == 0 && scratch.es.enabled)
		check_dead_letter_dir(&c, root, &scratch);
	if (root && errs->n == 0)
		check_attack_sites(&c, root, &scratch);
	ytree_free(root);
	if (!c.oom && errs->n == 0) {
		scratch.path = fault_strdup(path);
		if (!scratch.path)
			c.oom = true;
	}
	if (c.oom || errs->n > 0) {
		config_free(&scratch);
		return c.oom ? -ENOMEM : -EINVAL;
	}
	scratch.decoder.allow = scratch.allow_owned;
	scratch.decoder.sampling = scratch.sampling_owned;
	/* Every site's advice: its own, else the top-level one, else the built-in. */
	for (size_t i = 0; i < scratch.n_sites; i++) {
		for (unsigned l = 0; l < SITE_ADVICE_LABELS; l++) {
			char *a = scratch.sites[i].advice[l];
			if (!a[0])
				snprintf(a, SITE_ADVICE_MAX, "%s",
				         scratch.advice[l][0] ? scratch.advice[l] : site_advice_default(l));
		}
	}
	*cfg = scratch;
	return 0;
}
