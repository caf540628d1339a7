/*
 * wbuf: the bounded, growing text buffer every answer of the web module is
 * built in (web.c, feed.c). Appends after the limit or after an allocation
 * failure do nothing and return false; the caller checks over/oom once at
 * the end. The buffer (p) is malloc'd and the caller's to free.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nfsentry/web.h"

bool wbuf_add(struct wbuf *b, const char *s, size_t n)
{
	size_t need;

	if (b->over)
		return false;
	if (__builtin_add_overflow(b->len, n, &need) || need > WEB_BODY_MAX_BYTES) {
		b->over = true;
		return false;
	}
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < need)
			cap *= 2;
		if (cap > WEB_BODY_MAX_BYTES)
			cap = WEB_BODY_MAX_BYTES;
		p = realloc(b->p, cap);
		if (!p) {
			b->over = b->oom = true;
			return false;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len = need;
	return true;
}

bool wbuf_str(struct wbuf *b, const char *s)
{
	return wbuf_add(b, s, strlen(s));
}

bool wbuf_fmt(struct wbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(tmp)) {
		b->over = true;
		return false;
	}
	return wbuf_add(b, tmp, (size_t)k);
}

/* s as a JSON string, quotes included; control bytes and non-ASCII escaped. */
bool wbuf_json_str(struct wbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	wbuf_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			char e[2] = {'\\', (char)*p};
			wbuf_add(b, e, 2);
		} else if (*p < 0x20 || *p >= 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
			wbuf_add(b, e, 6);
		} else {
			wbuf_add(b, (const char *)p, 1);
		}
	}
	return wbuf_add(b, "\"", 1);
}
