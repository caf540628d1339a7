/*
 * counter: tables of counters and the writers that iterate them. See
 * counter.h.
 */
#include "nfsentry/counter.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nfsentry/doc.h"

uint64_t counter_get(const struct counter_table *t, size_t i, const void *stats)
{
	uint64_t v;

	/* memcpy: the offset is the field's, but stats is only a void *. */
	memcpy(&v, (const unsigned char *)stats + t->v[i].offset, sizeof(v));
	return v;
}

uint64_t counter_period(const struct counter_table *t, size_t i, const void *now, const void *prev)
{
	uint64_t v = counter_get(t, i, now);

	if (t->v[i].kind == COUNTER_GAUGE || !prev)
		return v;
	return v - counter_get(t, i, prev);
}

size_t counter_list(const struct counter_table *t, const void *now, const void *prev,
                    struct doc_counter *out, size_t max)
{
	size_t n = t->n < max ? t->n : max;

	for (size_t i = 0; i < n; i++)
		out[i] = (struct doc_counter){t->v[i].name, counter_period(t, i, now, prev)};
	return n;
}

/* snprintf at buf + *at that keeps counting past the end of buf. */
__attribute__((format(printf, 4, 5))) static void put(char *buf, size_t len, size_t *at,
                                                      const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(*at < len ? buf + *at : NULL, *at < len ? len - *at : 0, fmt, ap);
	va_end(ap);
	if (r > 0)
		*at += (size_t)r;
}

size_t counter_format(const struct counter_table *t, const void *now, const void *prev,
                      unsigned flags, char *buf, size_t len)
{
	size_t at = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < t->n; i++) {
		uint64_t v = counter_period(t, i, now, prev);
		if (v == 0 && (flags & COUNTER_NONZERO))
			continue;
		put(buf, len, &at, "%s%s=%llu", at ? " " : "", t->v[i].name, (unsigned long long)v);
	}
	return at;
}

size_t counter_prom_name(const struct counter_table *t, size_t i, char *buf, size_t len)
{
	char snake[128];
	size_t n = 0, skip = 0, mlen = strlen(t->module);
	const char *p;

	for (p = t->v[i].name; *p && n + 2 < sizeof(snake); p++) {
		if (*p >= 'A' && *p <= 'Z') {
			snake[n++] = '_';
			snake[n++] = (char)(*p - 'A' + 'a');
		} else {
			snake[n++] = *p;
		}
	}
	snake[n] = '\0';
	if (strncmp(snake, t->module, mlen) == 0 && snake[mlen] == '_')
		skip = mlen + 1;
	size_t at = 0;
	if (len)
		buf[0] = '\0';
	put(buf, len, &at, "nfsentry_%s_%s%s", t->module, snake + skip,
	    t->v[i].kind == COUNTER_TOTAL ? "_total" : "");
	return at;
}

size_t counter_prom_format(const struct counter_table *t, const void *stats, char *buf, size_t len)
{
	size_t at = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < t->n; i++) {
		char name[160];
		counter_prom_name(t, i, name, sizeof(name));
		put(buf, len, &at, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, t->v[i].help,
		    name, t->v[i].kind == COUNTER_TOTAL ? "counter" : "gauge", name,
		    (unsigned long long)counter_get(t, i, stats));
	}
	return at;
}
