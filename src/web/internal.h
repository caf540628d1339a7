/*
 * web internals shared by web.c and the generated assets.c (embed.py):
 * the dashboard's files, embedded in the binary at build time.
 */
#ifndef NFSENTRY_WEB_INTERNAL_H
#define NFSENTRY_WEB_INTERNAL_H

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

#endif
