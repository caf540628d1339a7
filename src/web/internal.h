/*
 * web internals shared by web.c, feed.c, wbuf.c and the generated assets.c
 * (embed.py): the dashboard's files, embedded in the binary at build time,
 * and the bounded text buffer answers are built in.
 */
#ifndef NFSENTRY_WEB_INTERNAL_H
#define NFSENTRY_WEB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

struct web_asset {
	const char *path;  /* URL path: "/", "/app.js", "/vendor/chart.min.js" */
	const char *ctype; /* Content-Type */
	const char *etag;  /* strong validator of the content, quoted */
	const unsigned char *data;
	size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_n;

/*
 * A growing text buffer bounded by WEB_BODY_MAX_BYTES (wbuf.c). Zero it to
 * start; p is malloc'd and the caller's to free. Once over is set (the
 * limit, or oom: out of memory) every append does nothing and returns false.
 */
struct wbuf {
	char *p;
	size_t len, cap;
	bool over;
	bool oom;
};

bool wbuf_add(struct wbuf *b, const char *s, size_t n);
bool wbuf_str(struct wbuf *b, const char *s);
bool wbuf_fmt(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included; control bytes and non-ASCII escaped. */
bool wbuf_json_str(struct wbuf *b, const char *s);

#endif
