/*
 * jscan: the top-level member reader of jscan.h.
 */
#include "jscan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Nesting deeper than this is refused (our documents nest three levels). */
#define JSCAN_DEPTH_MAX 32

static size_t skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

/* End of the string starting at p[i] == '"' (index after the closing quote), or 0. */
static size_t skip_string(const char *p, size_t i, size_t n)
{
	for (i++; i < n; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '"')
			return i + 1;
	}
	return 0;
}

/* End of the value starting at p[i], or 0 when malformed. */
static size_t skip_value(const char *p, size_t i, size_t n)
{
	unsigned depth = 0;

	if (i >= n)
		return 0;
	if (p[i] != '{' && p[i] != '[' && p[i] != '"') {
		/* A number, true, false or null: up to the next delimiter. */
		size_t s = i;
		while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ' ' &&
		       p[i] != '\n' && p[i] != '\t' && p[i] != '\r')
			i++;
		return i > s ? i : 0;
	}
	while (i < n) {
		char c = p[i];
		if (c == '"') {
			i = skip_string(p, i, n);
			if (!i)
				return 0;
			if (depth == 0)
				return i;
			continue;
		}
		if (c == '{' || c == '[') {
			if (++depth > JSCAN_DEPTH_MAX)
				return 0;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return 0;
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return 0;
}

int jscan_member(const struct jval *obj, size_t *pos, struct jval *key, struct jval *val)
{
	const char *p = obj->p;
	size_t n = obj->n, i = *pos;

	if (i == 0) {
		i = skip_ws(p, 0, n);
		if (i >= n || p[i] != '{')
			return -1;
		i = skip_ws(p, i + 1, n);
		if (i < n && p[i] == '}') {
			*pos = n;
			return 0;
		}
	} else {
		i = skip_ws(p, i, n);
		if (i < n && p[i] == '}')
			return 0;
		if (i >= n || p[i] != ',')
			return -1;
		i = skip_ws(p, i + 1, n);
	}
	if (i >= n || p[i] != '"')
		return *pos >= n ? 0 : -1;
	size_t e = skip_string(p, i, n);
	if (!e)
		return -1;
	key->p = p + i;
	key->n = e - i;
	i = skip_ws(p, e, n);
	if (i >= n || p[i] != ':')
		return -1;
	i = skip_ws(p, i + 1, n);
	e = skip_value(p, i, n);
	if (!e)
		return -1;
	val->p = p + i;
	val->n = e - i;
	*pos = e;
	return 1;
}

bool jscan_get(const char *text, size_t len, const char *key, struct jval *v)
{
	struct jval obj = {text, len}, k, val;
	size_t pos = 0, kl = strlen(key);
	int rc;

	while ((rc = jscan_member(&obj, &pos, &k, &val)) == 1) {
		if (k.n == kl + 2 && memcmp(k.p + 1, key, kl) == 0) {
			*v = val;
			return true;
		}
	}
	return false;
}

size_t jscan_getv(const char *text, size_t len, const char *const *keys, size_t n_keys,
                  struct jval *vals)
{
	struct jval obj = {text, len}, k, val;
	size_t pos = 0, found = 0, kl[JSCAN_KEYS_MAX];

	if (n_keys > JSCAN_KEYS_MAX)
		n_keys = JSCAN_KEYS_MAX;
	for (size_t j = 0; j < n_keys; j++) {
		vals[j] = (struct jval){NULL, 0};
		kl[j] = strlen(keys[j]);
	}
	while (found < n_keys && jscan_member(&obj, &pos, &k, &val) == 1) {
		for (size_t j = 0; j < n_keys; j++) {
			if (!vals[j].p && k.n >= 2 && kl[j] == k.n - 2 &&
			    memcmp(k.p + 1, keys[j], k.n - 2) == 0) {
				vals[j] = val;
				found++;
				break;
			}
		}
	}
	return found;
}

bool jscan_i64(const struct jval *v, int64_t *out)
{
	char buf[32];
	char *end;

	if (v->n == 0 || v->n >= sizeof(buf))
		return false;
	memcpy(buf, v->p, v->n);
	buf[v->n] = '\0';
	errno = 0;
	long long x = strtoll(buf, &end, 10);
	if (errno || *end != '\0' || end == buf)
		return false;
	*out = x;
	return true;
}

bool jscan_true(const struct jval *v)
{
	return v->n == 4 && memcmp(v->p, "true", 4) == 0;
}

bool jscan_str(const struct jval *v, char *buf, size_t len)
{
	size_t o = 0;

	if (v->n < 2 || v->p[0] != '"' || v->p[v->n - 1] != '"' || len == 0)
		return false;
	for (size_t i = 1; i + 1 < v->n; i++) {
		char c = v->p[i];
		if (c == '\\' && i + 2 < v->n && (v->p[i + 1] == '"' || v->p[i + 1] == '\\'))
			c = v->p[++i];
		if (o + 1 >= len)
			return false;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return true;
}

int jscan_next(const struct jval *arr, size_t *pos, struct jval *e)
{
	const char *p = arr->p;
	size_t n = arr->n, i = *pos;

	if (i == 0) {
		i = skip_ws(p, 0, n);
		if (i >= n || p[i] != '[')
			return -1;
		i = skip_ws(p, i + 1, n);
		if (i < n && p[i] == ']') {
			*pos = n;
			return 0;
		}
	} else {
		if (i >= n)
			return 0;
		i = skip_ws(p, i, n);
		if (i < n && p[i] == ']') {
			*pos = n;
			return 0;
		}
		if (i >= n || p[i] != ',')
			return -1;
		i = skip_ws(p, i + 1, n);
	}
	size_t end = skip_value(p, i, n);
	if (!end)
		return -1;
	e->p = p + i;
	e->n = end - i;
	*pos = end;
	return 1;
}
