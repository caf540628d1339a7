/*
 * synthflow: deterministic campus flow records. See synthflow.h.
 */
#include "synthflow.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#define SLOT_MS 300000ull

/* ---- random numbers (splitmix64), as tools/gentraffic.c ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* Heavy-tailed count in [lo, lo + e^spread): many small, a few large. */
static uint64_t rng_heavy(uint64_t *s, uint64_t lo, double spread)
{
	return lo + (uint64_t)exp(rng_unit(s) * spread) - 1;
}

/* ---- Zipf-like choice: Vose's alias method, O(1) per draw ---- */

struct alias {
	uint32_t n;
	float *prob;
	uint32_t *alias;
};

/* Weights 1 / (rank + 1)^s. Returns 0 or -ENOMEM. */
static int alias_build(struct alias *a, uint32_t n, double s)
{
	double *w = malloc((size_t)n * sizeof(*w));
	uint32_t *small = malloc((size_t)n * sizeof(*small));
	uint32_t *large = malloc((size_t)n * sizeof(*large));
	int rc = -ENOMEM;

	a->n = n;
	a->prob = malloc((size_t)n * sizeof(*a->prob));
	a->alias = malloc((size_t)n * sizeof(*a->alias));
	if (!w || !small || !large || !a->prob || !a->alias)
		goto out;
	double sum = 0;
	for (uint32_t r = 0; r < n; r++)
		sum += w[r] = pow((double)r + 1.0, -s);
	size_t ns = 0, nl = 0;
	for (uint32_t r = 0; r < n; r++) {
		w[r] = w[r] * n / sum;
		if (w[r] < 1.0)
			small[ns++] = r;
		else
			large[nl++] = r;
	}
	while (ns && nl) {
		uint32_t l = small[--ns], g = large[nl - 1];
		a->prob[l] = (float)w[l];
		a->alias[l] = g;
		w[g] = (w[g] + w[l]) - 1.0;
		if (w[g] < 1.0) {
			nl--;
			small[ns++] = g;
		}
	}
	while (nl) {
		uint32_t g = large[--nl];
		a->prob[g] = 1.0f;
		a->alias[g] = g;
	}
	while (ns) {
		uint32_t l = small[--ns];
		a->prob[l] = 1.0f;
		a->alias[l] = l;
	}
	rc = 0;
out:
	free(w);
	free(small);
	free(large);
	return rc;
}

static void alias_free(struct alias *a)
{
	free(a->prob);
	free(a->alias);
	a->prob = NULL;
	a->alias = NULL;
}

static uint32_t alias_draw(const struct alias *a, uint64_t *rng)
{
	uint64_t r = rng_next(rng);
	uint32_t k = (uint32_t)(((r >> 32) * a->n) >> 32);
	float u = (float)(r & 0xffffff) * 0x1.0p-24f;
	return u < a->prob[k] ? k : a->alias[k];
}

/* ---- the generator ---- */

struct synth {
	struct synth_opts o;
	uint64_t rng;
	uint32_t key;             /* outside address permutation key */
	uint32_t *inside_addr;    /* inside_hosts addresses, host order; activity rank order */
	uint32_t n_servers;       /* inside_addr[0 .. n_servers) are the site's servers */
	uint64_t inside_space;    /* addresses in all inside prefixes */
	struct alias in_alias, out_alias;
	uint64_t emitted;
	uint32_t slot;
	uint64_t in_slot;         /* records of the current slot so far */
	bool have_pending;
	struct flow pending;      /* the answer of the last conversation */
};

void synth_opts_defaults(struct synth_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->records = 1000000;
	o->slots = 1;
	o->inside_hosts = 4000;
	o->outside_hosts = 300000;
	o->seed = 1;
	o->start_s = 1767225600; /* 2026-01-01T00:00:00Z, a slot boundary */
	o->inside[0] = (struct synth_prefix){.net = 0x0a000000u, .len = 16};
	o->n_inside = 1;
}

int synth_prefix_parse(const char *s, struct synth_prefix *p)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	char *end;

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	errno = 0;
	unsigned long len = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || len < 8 || len > 30)
		return -EINVAL;
	uint32_t net = ntohl(a.s_addr);
	if (net & (0xffffffffu >> len))
		return -EINVAL;
	p->net = net;
	p->len = (uint8_t)len;
	return 0;
}

static bool in_prefixes(const struct synth *g, uint32_t a)
{
	for (size_t k = 0; k < g->o.n_inside; k++) {
		uint32_t mask = 0xffffffffu << (32 - g->o.inside[k].len);
		if ((a & mask) == g->o.inside[k].net)
			return true;
	}
	return false;
}

/* Not usable as a public outside address (0/8, 10/8, 127/8, 169.254/16, 172.16/12, 192.168/16, 224/3). */
static bool reserved(uint32_t a)
{
	uint32_t b0 = a >> 24;
	return b0 == 0 || b0 == 10 || b0 == 127 || b0 >= 224 || (a >> 16) == 0xa9fe ||
	       (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8;
}

/* An invertible 32-bit mix (each step is a bijection), keyed. */
static uint32_t perm32(uint32_t x, uint32_t key)
{
	x ^= key;
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/* The public address of outside rank r: distinct ranks, distinct addresses (bar rare remaps). */
static uint32_t outside_addr(const struct synth *g, uint32_t r)
{
	uint32_t a = perm32(r, g->key);
	for (int k = 0; k < 8 && (reserved(a) || in_prefixes(g, a)); k++)
		a = perm32(a, g->key + 0x9e3779b9u * (uint32_t)(k + 1));
	if (reserved(a) || in_prefixes(g, a))
		a = 0x0b000000u | (r & 0x00ffffffu); /* 11/8: bounded fallback */
	return a;
}

/* Address number j (0 <= j < inside_space) of the inside prefixes. */
static uint32_t inside_nth(const struct synth *g, uint64_t j)
{
	for (size_t k = 0; k < g->o.n_inside; k++) {
		uint64_t size = 1ull << (32 - g->o.inside[k].len);
		if (j < size)
			return g->o.inside[k].net + (uint32_t)j;
		j -= size;
	}
	return g->o.inside[0].net;
}

int synth_create(const struct synth_opts *o, struct synth **out, char *err, size_t errlen)
{
	struct synth *g;
	uint64_t space = 0;

	for (size_t k = 0; k < o->n_inside; k++)
		space += 1ull << (32 - o->inside[k].len);
	if (o->records == 0 || o->records > SYNTH_MAX_RECORDS) {
		snprintf(err, errlen, "records: 1..%llu", (unsigned long long)SYNTH_MAX_RECORDS);
		return -EINVAL;
	}
	if (o->slots == 0 || o->slots > SYNTH_MAX_SLOTS || o->records < o->slots) {
		snprintf(err, errlen, "slots: 1..%u and at most one per record", SYNTH_MAX_SLOTS);
		return -EINVAL;
	}
	if (o->n_inside == 0 || o->inside_hosts < 8 || o->inside_hosts > space / 2) {
		snprintf(err, errlen, "inside hosts: 8..%llu (half the inside prefixes)",
		         (unsigned long long)(space / 2));
		return -EINVAL;
	}
	if (o->outside_hosts < 16 || o->outside_hosts > SYNTH_MAX_OUTSIDE) {
		snprintf(err, errlen, "outside hosts: 16..%u", SYNTH_MAX_OUTSIDE);
		return -EINVAL;
	}
	if (o->start_s < 0 || o->start_s % 300) {
		snprintf(err, errlen, "start: a non-negative multiple of 300 s");
		return -EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->o = *o;
	g->rng = o->seed * 0x2545f4914f6cdd1dull + 0x1234567ull;
	g->key = (uint32_t)rng_next(&g->rng);
	g->inside_space = space;
	g->n_servers = o->inside_hosts / 200 > 4 ? o->inside_hosts / 200 : 4;
	g->inside_addr = malloc((size_t)o->inside_hosts * sizeof(*g->inside_addr));
	if (!g->inside_addr || alias_build(&g->in_alias, o->inside_hosts, 1.0) ||
	    alias_build(&g->out_alias, o->outside_hosts, 1.0)) {
		synth_destroy(g);
		return -ENOMEM;
	}
	/*
	 * Active hosts: an odd multiplier is a bijection modulo a power of two,
	 * so scattering j over the next power of two of the space and skipping
	 * what falls outside it gives distinct addresses spread over every prefix.
	 */
	uint64_t p2 = 1;
	unsigned bits = 0;
	while (p2 < space) {
		p2 <<= 1;
		bits++;
	}
	uint64_t mult = (rng_next(&g->rng) | 1) & (p2 - 1);
	uint64_t mult2 = (rng_next(&g->rng) | 1) & (p2 - 1);
	uint64_t off = rng_next(&g->rng) & (p2 - 1);
	uint32_t n = 0;
	for (uint64_t j = 0; n < o->inside_hosts && j < p2; j++) {
		/* xorshift and odd multiply are bijections too: no lattice. */
		uint64_t x = (j * mult + off) & (p2 - 1);
		x ^= x >> (bits / 2);
		x = (x * mult2) & (p2 - 1);
		x ^= x >> (bits / 2 + 1);
		if (x >= space)
			continue;
		uint32_t a = inside_nth(g, x);
		if ((a & 0xff) == 0 || (a & 0xff) == 0xff)
			continue; /* no .0 / .255 hosts: looks odd in documents */
		g->inside_addr[n++] = a;
	}
	if (n < o->inside_hosts) {
		snprintf(err, errlen, "inside prefixes too small for %u hosts", o->inside_hosts);
		synth_destroy(g);
		return -EINVAL;
	}
	*out = g;
	return 0;
}

void synth_destroy(struct synth *g)
{
	if (!g)
		return;
	alias_free(&g->in_alias);
	alias_free(&g->out_alias);
	free(g->inside_addr);
	free(g);
}

static void set_v4(struct flow_addr *a, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	flow_addr_from_v4(a, b);
}

/* Records in slot s: an even share, the remainder in the last slot. */
static uint64_t records_in_slot(const struct synth *g, uint32_t s)
{
	uint64_t per = g->o.records / g->o.slots;
	return s + 1 == g->o.slots ? g->o.records - per * (g->o.slots - 1) : per;
}

static uint16_t ephemeral(uint64_t *rng)
{
	return (uint16_t)(32768 + rng_below(rng, 28232));
}

/*
 * Fill a conversation's first record (*f) and, when answered, its answer
 * (*r). Returns true when there is an answer.
 */
static bool conversation(struct synth *g, struct flow *f, struct flow *r)
{
	uint64_t *rng = &g->rng;
	uint32_t src, dst;
	unsigned kind = (unsigned)rng_below(rng, 1000);
	bool answer;
	uint64_t pk, rpk;
	uint32_t avg, ravg;

	memset(f, 0, sizeof(*f));
	f->sampling = 1;
	if (kind < 700) {
		/* Inside client to outside server. */
		src = g->inside_addr[alias_draw(&g->in_alias, rng)];
		dst = outside_addr(g, alias_draw(&g->out_alias, rng));
		f->sport = ephemeral(rng);
		unsigned app = (unsigned)rng_below(rng, 100);
		if (app < 60) {
			f->proto = 6;
			f->dport = app < 50 ? 443 : (app < 57 ? 80 : 8080);
		} else if (app < 80) {
			f->proto = 17;
			f->dport = 443; /* QUIC */
		} else {
			f->proto = 17;
			f->dport = 53;
		}
		if (f->dport == 53) {
			pk = 1;
			avg = 60 + (uint32_t)rng_below(rng, 30);
			rpk = 1;
			ravg = 90 + (uint32_t)rng_below(rng, 400);
			answer = rng_below(rng, 100) < 97;
		} else {
			pk = rng_heavy(rng, 2, 7.0);
			avg = 52 + (uint32_t)rng_below(rng, 300);
			rpk = pk + pk / 2 + rng_below(rng, 4);
			ravg = 200 + (uint32_t)rng_below(rng, 1250);
			answer = rng_below(rng, 100) < 92;
		}
		f->tcp_flags = f->proto == 6 ? 0x1b : 0;
	} else if (kind < 850) {
		/* Outside client to one of the site's servers. */
		src = outside_addr(g, (uint32_t)rng_below(rng, g->o.outside_hosts));
		dst = g->inside_addr[rng_below(rng, g->n_servers)];
		f->proto = 6;
		f->sport = ephemeral(rng);
		static const uint16_t svc[] = {443, 443, 443, 80, 25, 22, 993, 53};
		f->dport = svc[rng_below(rng, sizeof(svc) / sizeof(svc[0]))];
		pk = rng_heavy(rng, 2, 5.0);
		avg = 60 + (uint32_t)rng_below(rng, 200);
		rpk = pk + pk / 3 + 1;
		ravg = 300 + (uint32_t)rng_below(rng, 1150);
		answer = rng_below(rng, 100) < 95;
		f->tcp_flags = 0x1b;
	} else if (kind < 900) {
		/* A scanner probing the inside prefixes: one-way SYNs. */
		src = outside_addr(g, g->o.outside_hosts + (uint32_t)rng_below(rng, SYNTH_SCANNERS));
		dst = inside_nth(g, rng_below(rng, g->inside_space));
		f->proto = 6;
		f->sport = ephemeral(rng);
		static const uint16_t probe[] = {22, 23, 80, 443, 445, 3389, 8080, 5900};
		f->dport = probe[rng_below(rng, sizeof(probe) / sizeof(probe[0]))];
		f->tcp_flags = 0x02;
		pk = 1 + rng_below(rng, 2);
		avg = 44;
		rpk = ravg = 0;
		answer = false;
	} else if (kind < 920) {
		/* Internal: inside to inside. */
		src = g->inside_addr[alias_draw(&g->in_alias, rng)];
		dst = g->inside_addr[rng_below(rng, g->n_servers)];
		f->proto = 6;
		f->sport = ephemeral(rng);
		f->dport = 445;
		f->tcp_flags = 0x1b;
		pk = rng_heavy(rng, 2, 6.0);
		avg = 400;
		rpk = ravg = 0;
		answer = false;
	} else if (kind < 960) {
		/* ICMP echo to outside; type << 8 | code in the destination port. */
		src = g->inside_addr[alias_draw(&g->in_alias, rng)];
		dst = outside_addr(g, alias_draw(&g->out_alias, rng));
		f->proto = 1;
		f->dport = 8 << 8;
		pk = 1 + rng_below(rng, 5);
		avg = 84;
		rpk = pk;
		ravg = 84;
		answer = rng_below(rng, 100) < 90;
	} else {
		/* NTP. */
		src = g->inside_addr[alias_draw(&g->in_alias, rng)];
		dst = outside_addr(g, alias_draw(&g->out_alias, rng));
		f->proto = 17;
		f->sport = 123;
		f->dport = 123;
		pk = 1;
		avg = 76;
		rpk = 1;
		ravg = 76;
		answer = rng_below(rng, 100) < 95;
	}
	set_v4(&f->src, src);
	set_v4(&f->dst, dst);
	f->packets = pk;
	f->octets = pk * avg;
	bool out = in_prefixes(g, src);
	f->in_if = out ? 1 : 2;
	f->out_if = out ? 2 : 1;
	if (!answer)
		return false;
	*r = *f;
	r->src = f->dst;
	r->dst = f->src;
	r->sport = f->dport;
	r->dport = f->sport;
	r->in_if = f->out_if;
	r->out_if = f->in_if;
	r->packets = rpk;
	r->octets = rpk * ravg;
	if (f->proto == 1)
		r->dport = 0; /* echo reply */
	return true;
}

bool synth_next(struct synth *g, struct flow *f, uint32_t *slot)
{
	if (g->emitted >= g->o.records)
		return false;
	uint64_t n = records_in_slot(g, g->slot);
	if (g->in_slot >= n) {
		g->slot++;
		g->in_slot = 0;
		n = records_in_slot(g, g->slot);
	}
	if (g->have_pending) {
		*f = g->pending;
		g->have_pending = false;
	} else {
		g->have_pending = conversation(g, f, &g->pending);
	}
	uint64_t export_ms = ((uint64_t)g->o.start_s + (uint64_t)g->slot * 300) * 1000 +
	                     g->in_slot * SLOT_MS / n;
	uint64_t ago = 1000 + rng_below(&g->rng, 30000);
	f->export_ms = export_ms;
	f->last_ms = export_ms - ago;
	f->first_ms = f->last_ms - rng_below(&g->rng, 120000);
	*slot = g->slot;
	g->in_slot++;
	g->emitted++;
	return true;
}

int synth_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || s[0] == '+' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int synth_opt_parse(int c, const char *arg, struct synth_opts *o)
{
	uint64_t v = 0;
	int rc;

	switch (c) {
	case 'n':
		return synth_parse_u64(arg, 1, SYNTH_MAX_RECORDS, &o->records);
	case 's':
		rc = synth_parse_u64(arg, 1, SYNTH_MAX_SLOTS, &v);
		o->slots = (uint32_t)v;
		return rc;
	case 'H':
		rc = synth_parse_u64(arg, 8, 1u << 24, &v);
		o->inside_hosts = (uint32_t)v;
		return rc;
	case 'O':
		rc = synth_parse_u64(arg, 16, SYNTH_MAX_OUTSIDE, &v);
		o->outside_hosts = (uint32_t)v;
		return rc;
	case 'i':
		if (!o->inside_set) {
			o->n_inside = 0;
			o->inside_set = true;
		}
		if (o->n_inside >= SYNTH_MAX_PREFIXES)
			return -EINVAL;
		return synth_prefix_parse(arg, &o->inside[o->n_inside++]);
	case 'x':
		return synth_parse_u64(arg, 0, UINT64_MAX, &o->seed);
	case 't':
		rc = synth_parse_u64(arg, 86400, 4000000000ull, &v);
		o->start_s = (int64_t)v;
		return rc;
	default:
		return 1;
	}
}
