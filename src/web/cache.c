/*
 * cache: the slot-wide answers of the API (labelled, top), built once per
 * (site, slot, variant) and kept, and the gzip helper the server uses.
 *
 * An answer is a JSON array of stored documents ("[\n" d0 ",\n" d1 ...
 * "\n]\n") with the offset where each document ends, so a page of it
 * (?offset=&limit=) is one contiguous slice. Entries are shared: a reader
 * holds a reference while MHD sends the bytes, and eviction only drops the
 * cache's own reference. The cache is bounded in entries and bytes (least
 * recently used goes first) and follows the store's write order (seq): a
 * slot written again, or given another part, drops its entries. See
 * docs/internals/web.md.
 *
 * Not responsible for: reading the store (the caller builds an answer with
 * web_answer_add() from its own connection), HTTP.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "internal.h"
#include "nfsentry/store.h"
#include "nfsentry/web.h"

#define WEB_CACHE_SYNC_BATCH 64 /* slot rows read per store_slot_list() call */

struct web_cache {
	pthread_mutex_t mu; /* guards everything below */
	struct web_answer **v;
	size_t n, max_entries;
	size_t bytes, max_bytes;
	int64_t seen_seq; /* highest store seq the entries are known to be current with */
	uint64_t tick;    /* use counter for least-recently-used eviction */
	struct web_cache_stats st;
};

/* FNV-1a 64 of p[0..n): a strong validator for If-None-Match, quoted, with suffix. */
void web_etag_make(const char *p, size_t n, const char *suffix, char out[WEB_ETAG_MAX])
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ull;
	}
	snprintf(out, WEB_ETAG_MAX, "\"%016llx%s\"", (unsigned long long)h, suffix ? suffix : "");
}

int web_gzip(const char *p, size_t n, int level, unsigned char **out, size_t *out_len)
{
	z_stream z;
	unsigned char *buf;
	uLong cap;
	int rc;

	*out = NULL;
	*out_len = 0;
	memset(&z, 0, sizeof(z));
	/* 15 + 16: a gzip wrapper (RFC 1952), which every browser takes as "gzip". */
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, (uLong)n);
	buf = malloc(cap ? cap : 1);
	if (!buf) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*out_len = (size_t)z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		*out_len = 0;
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

/* ---- answers ------------------------------------------------------------ */

struct web_answer *web_answer_new(const char *key, const char *site, int64_t time_slot)
{
	struct web_answer *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->refs = 1;
	snprintf(a->key, sizeof(a->key), "%s", key);
	snprintf(a->site, sizeof(a->site), "%s", site);
	a->time_slot = time_slot;
	return a;
}

int web_answer_add(void *ud, const struct store_doc *d)
{
	struct web_answer *a = ud;

	if (a->n_docs == a->cap_docs) {
		size_t cap = a->cap_docs ? a->cap_docs * 2 : 64;
		size_t *p = realloc(a->doc_end, cap * sizeof(*p));
		if (!p) {
			a->b.over = a->b.oom = true;
			return 1;
		}
		a->doc_end = p;
		a->cap_docs = cap;
	}
	if (!wbuf_add(&a->b, a->n_docs ? ",\n" : "[\n", 2) ||
	    !wbuf_add(&a->b, d->json, d->json_len))
		return 1;
	a->doc_end[a->n_docs++] = a->b.len;
	return 0;
}

int web_answer_end(struct web_answer *a)
{
	wbuf_str(&a->b, a->n_docs ? "\n]\n" : "[]\n");
	if (a->b.oom)
		return -ENOMEM;
	if (a->b.over)
		return -E2BIG;
	/* Kept for long: give back what the doubling left unused (up to half). */
	char *p = realloc(a->b.p, a->b.len);
	if (p) {
		a->b.p = p;
		a->b.cap = a->b.len;
	}
	if (a->n_docs) {
		size_t *e = realloc(a->doc_end, a->n_docs * sizeof(*e));
		if (e) {
			a->doc_end = e;
			a->cap_docs = a->n_docs;
		}
	}
	web_etag_make(a->b.p, a->b.len, NULL, a->etag);
	return 0;
}

int web_answer_slice(const struct web_answer *a, size_t offset, size_t limit, const char **p,
                     size_t *len)
{
	size_t end, start;

	if (offset >= a->n_docs || limit == 0)
		return -ENOENT;
	end = limit > a->n_docs - offset ? a->n_docs : offset + limit;
	/* Document i starts two bytes (",\n" or "[\n") after the end of the one before. */
	start = offset == 0 ? 2 : a->doc_end[offset - 1] + 2;
	*p = a->b.p + start;
	*len = a->doc_end[end - 1] - start;
	return 0;
}

void web_answer_put(void *ud)
{
	struct web_answer *a = ud;

	if (!a || __atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(a->b.p);
	free(a->doc_end);
	free(a->gz);
	web_rows_free(a->rows);
	free(a);
}

struct web_answer *web_answer_ref(struct web_answer *a)
{
	__atomic_add_fetch(&a->refs, 1, __ATOMIC_ACQ_REL);
	return a;
}

/* What an entry costs the cache's byte budget. */
static size_t answer_bytes(const struct web_answer *a)
{
	return a->b.cap + a->cap_docs * sizeof(size_t) + a->gz_len + web_rows_bytes(a->rows) +
	       sizeof(*a);
}

/* ---- the cache ---------------------------------------------------------- */

int web_cache_create(size_t max_entries, size_t max_bytes, struct web_cache **out)
{
	struct web_cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || max_entries == 0)
		goto fail;
	c->v = calloc(max_entries, sizeof(*c->v));
	if (!c->v)
		goto fail;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
fail:
	if (c)
		free(c->v);
	free(c);
	return max_entries == 0 ? -EINVAL : -ENOMEM;
}

void web_cache_destroy(struct web_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		web_answer_put(c->v[i]);
	free(c->v);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Drop entry i (under mu). */
static void cache_drop(struct web_cache *c, size_t i)
{
	c->bytes -= answer_bytes(c->v[i]);
	web_answer_put(c->v[i]);
	c->v[i] = c->v[--c->n];
}

struct web_answer *web_cache_get(struct web_cache *c, const char *key)
{
	struct web_answer *a = NULL;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i]->key, key) == 0) {
			a = web_answer_ref(c->v[i]);
			a->used = ++c->tick;
			break;
		}
	}
	if (a)
		c->st.hits++;
	else
		c->st.misses++;
	pthread_mutex_unlock(&c->mu);
	return a;
}

int web_cache_sync(struct web_cache *c, struct store *s, int64_t *gen)
{
	struct store_slot rows[WEB_CACHE_SYNC_BATCH];
	size_t n;
	int rc = 0;

	/* Under mu throughout: the caller's connection is its own, and the list is short. */
	pthread_mutex_lock(&c->mu);
	do {
		rc = store_slot_list(s, c->seen_seq, rows, WEB_CACHE_SYNC_BATCH, &n);
		if (rc)
			break;
		for (size_t r = 0; r < n; r++) {
			for (size_t i = 0; i < c->n;) {
				if (c->v[i]->time_slot == rows[r].time_slot &&
				    strcmp(c->v[i]->site, rows[r].site) == 0) {
					cache_drop(c, i);
					c->st.invalidated++;
				} else {
					i++;
				}
			}
			if (rows[r].seq > c->seen_seq)
				c->seen_seq = rows[r].seq;
		}
	} while (n == WEB_CACHE_SYNC_BATCH);
	*gen = c->seen_seq;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

bool web_cache_put(struct web_cache *c, struct web_answer *a, int64_t gen)
{
	size_t cost;
	bool kept = false;

	pthread_mutex_lock(&c->mu);
	cost = answer_bytes(a);
	/*
	 * Built from what the store held at gen: when a write has been seen since,
	 * the answer may predate it and the sync that saw it could not drop it.
	 */
	if (gen != c->seen_seq || cost > c->max_bytes / 4)
		goto out;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i]->key, a->key) == 0)
			goto out; /* another thread built it meanwhile */
	}
	while (c->n > 0 && (c->n == c->max_entries || c->bytes + cost > c->max_bytes)) {
		size_t old = 0;
		for (size_t i = 1; i < c->n; i++)
			if (c->v[i]->used < c->v[old]->used)
				old = i;
		cache_drop(c, old);
		c->st.evicted++;
	}
	a->used = ++c->tick;
	c->v[c->n++] = web_answer_ref(a);
	c->bytes += cost;
	c->st.stored++;
	kept = true;
out:
	pthread_mutex_unlock(&c->mu);
	return kept;
}

/* Is a one of the cache's entries? (under mu) */
static bool cache_holds(const struct web_cache *c, const struct web_answer *a)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i] == a)
			return true;
	}
	return false;
}

int web_answer_gzip(struct web_cache *c, struct web_answer *a, const unsigned char **gz,
                    size_t *gz_len)
{
	unsigned char *z;
	size_t zl;
	bool cached;
	int rc;

	pthread_mutex_lock(&c->mu);
	if (a->gz) {
		*gz = a->gz;
		*gz_len = a->gz_len;
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	cached = cache_holds(c, a);
	pthread_mutex_unlock(&c->mu);
	/*
	 * A kept answer is compressed once and sent many times: the better ratio is
	 * worth the time. One the cache could not keep is compressed for each request:
	 * the fastest level. Outside mu: it takes a while.
	 */
	if ((rc = web_gzip(a->b.p, a->b.len, cached ? 6 : 1, &z, &zl)))
		return rc;
	pthread_mutex_lock(&c->mu);
	if (!a->gz) {
		cached = cache_holds(c, a);
		a->gz = z;
		a->gz_len = zl;
		/* The identity's validator with a 'g' before the closing quote. */
		snprintf(a->gz_etag, sizeof(a->gz_etag), "%.*sg\"", (int)strlen(a->etag) - 1,
		         a->etag);
		if (cached)
			c->bytes += zl;
		z = NULL;
	}
	*gz = a->gz;
	*gz_len = a->gz_len;
	pthread_mutex_unlock(&c->mu);
	free(z);
	return 0;
}

int web_answer_rows(struct web_cache *c, struct web_answer *a, const struct web_rows **rows)
{
	struct web_rows *r;
	int rc;

	pthread_mutex_lock(&c->mu);
	r = a->rows;
	pthread_mutex_unlock(&c->mu);
	if (r) {
		*rows = r;
		return 0;
	}
	/* Outside mu: it parses every document. Two threads may both build; one is kept. */
	if ((rc = web_rows_build(a, &r)))
		return rc;
	pthread_mutex_lock(&c->mu);
	if (!a->rows) {
		a->rows = r;
		if (cache_holds(c, a))
			c->bytes += web_rows_bytes(r);
		r = NULL;
	}
	*rows = a->rows;
	pthread_mutex_unlock(&c->mu);
	web_rows_free(r);
	return 0;
}

void web_cache_stats_get(struct web_cache *c, struct web_cache_stats *st)
{
	pthread_mutex_lock(&c->mu);
	*st = c->st;
	st->entries = c->n;
	st->bytes = c->bytes;
	pthread_mutex_unlock(&c->mu);
}
