/*
 * table: the labelled table's rows over a cached labelled answer, sorted
 * and filtered on the server (docs/api.md, labelled ?sort=&label=&kind=).
 *
 * A row is what the page shows on one line: an inside IP's document, or an
 * outside IP's outside and offender documents together (outside first).
 * web_rows_build() parses the answer's documents once (Jansson), keeps per
 * row what the sorts and filters need (kinds, labels as bits, severity,
 * how far past its threshold, the address) and the four orderings; a page
 * is then a walk of one ordering that copies the documents of the rows it
 * keeps from the answer's bytes. Built once per answer (cache.c keeps it
 * with the answer), never re-reading the store.
 *
 * Not responsible for: HTTP, the cache's bounds (cache.c counts what a
 * row set costs), reading the store.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"

#define WEB_ROWS_LABELS_MAX 64 /* distinct label names in one slot: one bit each */

struct web_row {
	uint32_t doc[2];  /* documents of the row, outside before offender */
	uint8_t n_doc;    /* 1 or 2 */
	uint8_t kinds;    /* WEB_ROWS_KIND_* bits */
	uint8_t sev;      /* 1 low .. 3 high, the highest of its labels */
	uint8_t n_labels; /* distinct labels of its documents */
	uint8_t fam;      /* 4, 6, or 0: "ip" is no address (sorted last, by text) */
	uint8_t addr[16]; /* the address in network order, for the ip sort */
	uint64_t labels;  /* bit i: names[i] */
	double ratio;     /* how far the furthest label went past its threshold */
	char ip[48];      /* "ip" as the documents spell it */
};

struct web_rows {
	struct web_row *v;
	size_t n;
	char *names[WEB_ROWS_LABELS_MAX];
	size_t n_names;
	uint32_t *order[WEB_ROWS_SORTS]; /* row indices, one array per sort */
	size_t bytes;                    /* what it holds, for the cache's budget */
};

/*
 * Severity per label, as the page colours them (src/web/www/app.js LABELS;
 * test_web.c checks that the two agree): 3 the floods and attacks, 2
 * probing and layer-2 faults, 1 the rest (noPayload, fanout, p2p, and any
 * label this table does not know).
 */
const struct web_label_sev web_label_sevs[] = {
    {"flood", 3},     {"floodOut", 3},    {"synFlood", 3},  {"underAttack", 3}, {"scan", 2},
    {"scanOut", 2},   {"probeUnused", 2}, {"arpUnused", 2}, {"arpMissing", 2},  {"zeroMac", 2},
    {"noPayload", 1}, {"fanout", 1},      {"p2p", 1},
};
const size_t web_label_sevs_n = sizeof(web_label_sevs) / sizeof(web_label_sevs[0]);

static uint8_t label_sev(const char *l)
{
	for (size_t i = 0; i < web_label_sevs_n; i++) {
		if (strcmp(web_label_sevs[i].name, l) == 0)
			return web_label_sevs[i].sev;
	}
	return 1;
}

int web_rows_sort_parse(const char *s)
{
	static const char *const names[WEB_ROWS_SORTS] = {"severity", "ip", "kind", "labels"};

	for (int i = 0; i < WEB_ROWS_SORTS; i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	return -1;
}

int web_rows_kind_parse(const char *s)
{
	if (strcmp(s, "inside") == 0)
		return WEB_ROWS_KIND_INSIDE;
	if (strcmp(s, "outside") == 0)
		return WEB_ROWS_KIND_OUTSIDE;
	if (strcmp(s, "offender") == 0)
		return WEB_ROWS_KIND_OFFENDER;
	return -1;
}

/* One document's facts, before rows are formed. */
struct doc_facts {
	uint32_t doc;
	uint8_t kind; /* WEB_ROWS_KIND_* */
	uint8_t sev;
	uint64_t labels;
	double ratio;
	char ip[48];
};

/* The bit of label l, adding it to the names; -E2BIG past WEB_ROWS_LABELS_MAX, -ENOMEM. */
static int label_bit(struct web_rows *r, const char *l, uint64_t *bit)
{
	size_t i;

	for (i = 0; i < r->n_names; i++) {
		if (strcmp(r->names[i], l) == 0)
			break;
	}
	if (i == r->n_names) {
		if (r->n_names == WEB_ROWS_LABELS_MAX)
			return -E2BIG;
		if (!(r->names[i] = strdup(l)))
			return -ENOMEM;
		r->n_names++;
		r->bytes += strlen(l) + 1;
	}
	*bit = (uint64_t)1 << i;
	return 0;
}

/* Facts of document i (a->b.p between its bounds); a document that is no JSON object has none. */
static int doc_facts_of(struct web_rows *r, const struct web_answer *a, size_t i,
                        struct doc_facts *f)
{
	size_t start = i == 0 ? 2 : a->doc_end[i - 1] + 2;
	json_t *o = json_loadb(a->b.p + start, a->doc_end[i] - start, 0, NULL);
	const char *kind = o ? json_string_value(json_object_get(o, "kind")) : NULL;
	const char *ip = o ? json_string_value(json_object_get(o, "ip")) : NULL;
	json_t *labels = o ? json_object_get(o, "labels") : NULL;
	json_t *reasons = o ? json_object_get(o, "reasons") : NULL;
	json_t *l;
	size_t k;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	f->doc = (uint32_t)i;
	rc = kind ? web_rows_kind_parse(kind) : -1;
	f->kind = rc > 0 ? (uint8_t)rc : 0;
	rc = 0;
	snprintf(f->ip, sizeof(f->ip), "%s", ip ? ip : "");
	json_array_foreach(labels, k, l)
	{
		const char *name = json_string_value(l);
		json_t *why = name ? json_object_get(reasons, name) : NULL;
		double v = json_number_value(json_object_get(why, "value"));
		double th = json_number_value(json_object_get(why, "threshold"));
		uint64_t bit;
		if (!name)
			continue;
		if ((rc = label_bit(r, name, &bit)))
			break;
		f->labels |= bit;
		if (label_sev(name) > f->sev)
			f->sev = label_sev(name);
		/* noPayload is a label for falling under its threshold: its distance is th / v. */
		if (th > 0 && v > 0) {
			double x = strcmp(name, "noPayload") == 0 ? th / v : v / th;
			if (x > f->ratio)
				f->ratio = x;
		}
	}
	json_decref(o);
	return rc;
}

/* inside IPs apart from outside ones; then by the address's text, then outside first. */
static int facts_cmp(const void *x, const void *y)
{
	const struct doc_facts *a = x, *b = y;
	int ia = a->kind == WEB_ROWS_KIND_INSIDE, ib = b->kind == WEB_ROWS_KIND_INSIDE;
	int c;

	if (ia != ib)
		return ia ? -1 : 1;
	if ((c = strcmp(a->ip, b->ip)))
		return c;
	if (a->kind != b->kind)
		return a->kind == WEB_ROWS_KIND_OUTSIDE   ? -1
		       : b->kind == WEB_ROWS_KIND_OUTSIDE ? 1
		                                          : 0;
	return a->doc < b->doc ? -1 : a->doc > b->doc;
}

/* The kind column's order: its text ("inside" < "offender" < "outside" < both). */
static int kind_rank(uint8_t kinds)
{
	switch (kinds) {
	case WEB_ROWS_KIND_INSIDE:
		return 0;
	case WEB_ROWS_KIND_OFFENDER:
		return 1;
	case WEB_ROWS_KIND_OUTSIDE:
		return 2;
	case WEB_ROWS_KIND_OUTSIDE | WEB_ROWS_KIND_OFFENDER:
		return 3;
	default:
		return 4;
	}
}

/* qsort has no context argument: the rows being sorted, set by the one thread that sorts. */
static __thread const struct web_rows *sort_rows;

static int cmp_addr(const struct web_row *a, const struct web_row *b)
{
	int c;

	if (a->fam != b->fam)
		return a->fam == 0 ? 1 : b->fam == 0 ? -1 : a->fam < b->fam ? -1 : 1;
	if (a->fam && (c = memcmp(a->addr, b->addr, a->fam == 4 ? 4 : 16)))
		return c;
	if ((c = strcmp(a->ip, b->ip)))
		return c;
	return kind_rank(a->kinds) - kind_rank(b->kinds);
}

static int cmp_sev(const struct web_row *a, const struct web_row *b)
{
	if (a->sev != b->sev)
		return a->sev > b->sev ? -1 : 1;
	if (a->ratio != b->ratio)
		return a->ratio > b->ratio ? -1 : 1;
	return cmp_addr(a, b);
}

#define ROW(p) (&sort_rows->v[*(const uint32_t *)(p)])

static int order_sev(const void *x, const void *y)
{
	return cmp_sev(ROW(x), ROW(y));
}

static int order_ip(const void *x, const void *y)
{
	return cmp_addr(ROW(x), ROW(y));
}

static int order_kind(const void *x, const void *y)
{
	int c = kind_rank(ROW(x)->kinds) - kind_rank(ROW(y)->kinds);

	return c ? c : cmp_sev(ROW(x), ROW(y));
}

static int order_labels(const void *x, const void *y)
{
	int c = (int)ROW(y)->n_labels - (int)ROW(x)->n_labels;

	return c ? c : cmp_sev(ROW(x), ROW(y));
}

void web_rows_free(struct web_rows *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_names; i++)
		free(r->names[i]);
	for (int s = 0; s < WEB_ROWS_SORTS; s++)
		free(r->order[s]);
	free(r->v);
	free(r);
}

int web_rows_build(const struct web_answer *a, struct web_rows **out)
{
	static int (*const cmps[WEB_ROWS_SORTS])(const void *, const void *) = {
	    order_sev, order_ip, order_kind, order_labels};
	struct web_rows *r = calloc(1, sizeof(*r));
	struct doc_facts *f = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	if (a->n_docs > UINT32_MAX) {
		rc = -E2BIG;
		goto fail;
	}
	if (a->n_docs && !(f = calloc(a->n_docs, sizeof(*f))))
		goto fail;
	for (size_t i = 0; i < a->n_docs; i++) {
		if ((rc = doc_facts_of(r, a, i, &f[i])))
			goto fail;
	}
	rc = -ENOMEM;
	/* qsort's pointer may not be NULL, even for no element: an empty slot has no array. */
	if (a->n_docs)
		qsort(f, a->n_docs, sizeof(*f), facts_cmp);
	if (a->n_docs && !(r->v = calloc(a->n_docs, sizeof(*r->v))))
		goto fail;
	for (size_t i = 0; i < a->n_docs; i++) {
		struct web_row *w = r->n ? &r->v[r->n - 1] : NULL;
		/* An outside IP's offender document joins its outside one (sorted next to it). */
		if (w && w->n_doc == 1 && f[i].kind != WEB_ROWS_KIND_INSIDE &&
		    !(w->kinds & (WEB_ROWS_KIND_INSIDE | f[i].kind)) &&
		    strcmp(w->ip, f[i].ip) == 0) {
			w->doc[w->n_doc++] = f[i].doc;
		} else {
			w = &r->v[r->n++];
			w->doc[0] = f[i].doc;
			w->n_doc = 1;
			memcpy(w->ip, f[i].ip, sizeof(w->ip));
			if (inet_pton(AF_INET, w->ip, w->addr) == 1)
				w->fam = 4;
			else if (inet_pton(AF_INET6, w->ip, w->addr) == 1)
				w->fam = 6;
		}
		w->kinds |= f[i].kind;
		w->labels |= f[i].labels;
		w->n_labels = (uint8_t)__builtin_popcountll(w->labels);
		if (f[i].sev > w->sev)
			w->sev = f[i].sev;
		if (f[i].ratio > w->ratio)
			w->ratio = f[i].ratio;
	}
	for (int s = 0; s < WEB_ROWS_SORTS; s++) {
		if (r->n && !(r->order[s] = malloc(r->n * sizeof(uint32_t))))
			goto fail;
		for (size_t i = 0; i < r->n; i++)
			r->order[s][i] = (uint32_t)i;
		sort_rows = r;
		if (r->n)
			qsort(r->order[s], r->n, sizeof(uint32_t), cmps[s]);
		sort_rows = NULL;
	}
	r->bytes += sizeof(*r) + r->n * (sizeof(*r->v) + WEB_ROWS_SORTS * sizeof(uint32_t));
	free(f);
	*out = r;
	return 0;
fail:
	free(f);
	web_rows_free(r);
	return rc;
}

size_t web_rows_bytes(const struct web_rows *r)
{
	return r ? r->bytes : 0;
}

int web_rows_page(const struct web_answer *a, const struct web_rows *r,
                  const struct web_rows_query *q, struct wbuf *b, size_t *total)
{
	uint64_t want = 0;
	size_t hit = 0, sent = 0;

	*total = 0;
	if (q->sort < 0 || q->sort >= WEB_ROWS_SORTS)
		return -EINVAL;
	if (q->label) {
		for (size_t i = 0; i < r->n_names; i++) {
			if (strcmp(r->names[i], q->label) == 0)
				want = (uint64_t)1 << i;
		}
		/* A label no row carries: no row matches. */
		if (!want) {
			wbuf_str(b, "[]\n");
			return b->oom ? -ENOMEM : 0;
		}
	}
	for (size_t k = 0; k < r->n; k++) {
		const struct web_row *w = &r->v[r->order[q->sort][k]];
		if ((want && !(w->labels & want)) || (q->kinds && !(w->kinds & q->kinds)))
			continue;
		/* Counted whether shown or not: the total is of every matching row. */
		if (hit++ < q->offset || hit - q->offset > q->limit)
			continue;
		for (uint8_t d = 0; d < w->n_doc; d++) {
			size_t i = w->doc[d];
			size_t start = i == 0 ? 2 : a->doc_end[i - 1] + 2;
			wbuf_add(b, sent++ ? ",\n" : "[\n", 2);
			wbuf_add(b, a->b.p + start, a->doc_end[i] - start);
		}
	}
	wbuf_str(b, sent ? "\n]\n" : "[]\n");
	*total = hit;
	if (b->oom)
		return -ENOMEM;
	return b->over ? -E2BIG : 0;
}
