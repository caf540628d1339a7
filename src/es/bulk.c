/*
 * es bulk: a slot's documents as a _bulk body, and the reading of a _bulk
 * response item by item. Pure functions over memory: no I/O, no threads,
 * so every rule here is unit-tested without a server. See internal.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "internal.h"
#include "nfsentry/grow.h"

void es_slotbuf_free(struct es_slotbuf *b)
{
	free(b->buf);
	free(b->meta);
	free(b->items);
	memset(b, 0, sizeof(*b));
}

int es_index_name(char *out, size_t outlen, const char *prefix, const char *kind, int64_t time_slot)
{
	time_t t = (time_t)(time_slot * 300);
	struct tm tm;
	char lower[64];
	size_t k = strlen(kind);
	int n;

	if (k >= sizeof(lower) || !gmtime_r(&t, &tm))
		return -ENAMETOOLONG;
	for (size_t i = 0; i <= k; i++)
		lower[i] = (char)tolower((unsigned char)kind[i]);
	n = snprintf(out, outlen, "%s-%s-%04d.%02d.%02d", prefix, lower, tm.tm_year + 1900,
	             tm.tm_mon + 1, tm.tm_mday);
	if (n < 0 || (size_t)n >= outlen || n >= ES_INDEX_MAX)
		return -ENAMETOOLONG;
	return n;
}

int es_doc_id(char *out, size_t outlen, const char *site, const char *kind, int64_t time_slot,
              const char *key)
{
	return es_doc_id_part(out, outlen, site, kind, time_slot, 0, key);
}

int es_doc_id_part(char *out, size_t outlen, const char *site, const char *kind,
                   int64_t time_slot, uint32_t part, const char *key)
{
	int n = part ? snprintf(out, outlen, "%s|%s|%lld|%s|p%u", site, kind, (long long)time_slot,
	                        key, part)
	             : snprintf(out, outlen, "%s|%s|%lld|%s", site, kind, (long long)time_slot, key);

	if (n < 0 || (size_t)n >= outlen || n >= ES_ID_MAX)
		return -ENAMETOOLONG;
	return n;
}

/* Make room for need more bytes in *p (len used, cap allocated). */
static int grow(char **p, size_t *cap, size_t len, size_t need)
{
	size_t want;

	if (__builtin_add_overflow(len, need, &want) ||
	    grow_array((void **)p, cap, want, 1, 65536, SIZE_MAX) != 0)
		return -ENOMEM;
	return 0;
}

/*
 * s as the inside of a JSON string (RFC 8259 7): quote, backslash and
 * control characters escaped; other bytes (UTF-8) as they are. Returns the
 * bytes written; out must hold 6 * strlen(s).
 */
static size_t json_escape(char *out, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20) {
			static const char hex[] = "0123456789abcdef";
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[ch >> 4];
			out[o + 5] = hex[ch & 15];
			o += 6;
		} else {
			out[o++] = (char)ch;
		}
	}
	return o;
}

int es_slotbuf_add(struct es_slotbuf *b, const char *prefix, const char *site, int64_t time_slot,
                   const char *kind, const char *key, const char *json, size_t json_len)
{
	static const char a1[] = "{\"index\":{\"_index\":\"", a2[] = "\",\"_id\":\"",
	                  a3[] = "\"}}\n";
	char index[ES_INDEX_MAX], id[ES_ID_MAX], esc[ES_ID_MAX * 6];
	int ilen = es_index_name(index, sizeof(index), prefix, kind, time_slot);
	int idlen = es_doc_id_part(id, sizeof(id), site, kind, time_slot, b->part, key);
	size_t elen, need, mneed;
	struct es_item *it;

	if (ilen < 0)
		return ilen;
	if (idlen < 0)
		return idlen;
	/* NDJSON: one document, one line. jansson's compact output never breaks lines. */
	if (json_len == 0 || memchr(json, '\n', json_len) || memchr(json, '\r', json_len))
		return -EINVAL;
	/*
	 * "writeSeq" and "writePart" go first: {"writeSeq":N,"writePart":P,REST
	 * (or no comma for "{}"). The part keeps the stale-document delete of one
	 * part of a slot away from the slot's other parts.
	 */
	char ws[80] = "";
	size_t wlen = 0;
	if (b->write_seq > 0) {
		if (json[0] != '{' || json_len < 2)
			return -EINVAL;
		wlen = (size_t)snprintf(ws, sizeof(ws), "{\"writeSeq\":%lld,\"writePart\":%u%s",
		                        (long long)b->write_seq, (unsigned)b->part,
		                        json[1] == '}' ? "" : ",");
		json++, json_len--;
	}
	elen = json_escape(esc, id, (size_t)idlen);
	/* Index names hold only [a-z0-9._-] (config checks the prefix): no escaping. */
	need = sizeof(a1) - 1 + (size_t)ilen + sizeof(a2) - 1 + elen + sizeof(a3) - 1 + wlen +
	       json_len + 1;
	mneed = (size_t)idlen + 1 + (size_t)ilen + 1;
	if (grow(&b->buf, &b->cap, b->len, need) ||
	    grow(&b->meta, &b->meta_cap, b->meta_len, mneed))
		return -ENOMEM;
	if (grow_array((void **)&b->items, &b->items_cap, b->n + 1, sizeof(*b->items), 1024,
	               SIZE_MAX / sizeof(*b->items)) != 0)
		return -ENOMEM;
	it = &b->items[b->n++];
	memset(it, 0, sizeof(*it));
	it->off = b->len;
	char *p = b->buf + b->len;
	memcpy(p, a1, sizeof(a1) - 1), p += sizeof(a1) - 1;
	memcpy(p, index, (size_t)ilen), p += ilen;
	memcpy(p, a2, sizeof(a2) - 1), p += sizeof(a2) - 1;
	memcpy(p, esc, elen), p += elen;
	memcpy(p, a3, sizeof(a3) - 1), p += sizeof(a3) - 1;
	it->doc_off = (size_t)(p - b->buf);
	it->doc_len = wlen + json_len;
	memcpy(p, ws, wlen), p += wlen;
	memcpy(p, json, json_len), p += json_len;
	*p++ = '\n';
	it->len = (size_t)(p - b->buf) - it->off;
	b->len += it->len;

	it->id_off = b->meta_len;
	it->id_len = (size_t)idlen;
	memcpy(b->meta + b->meta_len, id, (size_t)idlen + 1);
	b->meta_len += (size_t)idlen + 1;
	it->index_off = b->meta_len;
	it->index_len = (size_t)ilen;
	memcpy(b->meta + b->meta_len, index, (size_t)ilen + 1);
	b->meta_len += (size_t)ilen + 1;
	return 0;
}

enum es_status_class es_status_classify(long status)
{
	if (status >= 200 && status < 300)
		return ES_STATUS_OK;
	/*
	 * 409 answers "create" for an _id that exists: the document is already
	 * stored (this shipper sends "index", but a cluster may still answer 409
	 * under a concurrent writer with versioning; either way it is there).
	 */
	if (status == 409)
		return ES_STATUS_OK;
	if (status == 429 || status == 408 || status >= 500 || status <= 0)
		return ES_STATUS_RETRY;
	return ES_STATUS_DEAD;
}

int es_bulk_response_read(const char *body, size_t len, size_t n, const char *const *ids,
                          const size_t *id_lens,
                          int (*fn)(void *ud, size_t i, long status, const char *error), void *ud)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
	json_t *items;
	int rc = 0;

	if (!root)
		return -EBADMSG;
	items = json_object_get(root, "items");
	if (!json_is_object(root) || !json_is_array(items) || json_array_size(items) != n) {
		json_decref(root);
		return -EBADMSG;
	}
	/* Check every item before acting on any, so that a bad answer changes nothing. */
	for (size_t i = 0; i < n; i++) {
		json_t *it = json_array_get(items, i), *res, *id, *st;
		if (!json_is_object(it) || json_object_size(it) != 1) {
			rc = -EBADMSG;
			break;
		}
		res = json_object_iter_value(json_object_iter(it));
		id = json_object_get(res, "_id");
		st = json_object_get(res, "status");
		if (!json_is_object(res) || !json_is_string(id) || !json_is_integer(st) ||
		    json_string_length(id) != id_lens[i] ||
		    memcmp(json_string_value(id), ids[i], id_lens[i]) != 0) {
			rc = -EBADMSG;
			break;
		}
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		json_t *res = json_object_iter_value(json_object_iter(json_array_get(items, i)));
		long status = (long)json_integer_value(json_object_get(res, "status"));
		json_t *e = json_object_get(res, "error");
		char *etext = NULL;

		if (e) {
			etext = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
			if (!etext) {
				rc = -ENOMEM;
				break;
			}
		}
		rc = fn(ud, i, status, etext);
		free(etext);
	}
	json_decref(root);
	return rc;
}

uint64_t es_backoff_ms(unsigned attempt, uint64_t initial_ms, uint64_t max_ms, uint64_t rnd)
{
	uint64_t step = initial_ms ? initial_ms : 1;

	for (unsigned i = 1; i < attempt && step < max_ms; i++)
		step *= 2;
	if (step > max_ms)
		step = max_ms;
	/* step/2 + [0, step/2): half fixed, half random; 53 random bits as a fraction. */
	double frac = (double)(rnd >> 11) / 9007199254740992.0;
	return step / 2 + (uint64_t)((double)(step - step / 2) * frac);
}
