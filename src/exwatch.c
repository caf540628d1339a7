/*
 * exwatch: exporter events from two snapshots of the decoder's exporter
 * table. See exwatch.h. Both snapshots are sorted by (address, port,
 * domain) and merged, so one update is O(n log n) for n exporters.
 */
#include "nfsentry/exwatch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct exwatch {
	size_t max;
	struct decoder_exporter_info *cur, *prev; /* max entries each */
	size_t n_prev;
	uint64_t prev_ms; /* time of the previous snapshot; 0 before the first */
	bool started;
};

struct exwatch *exwatch_create(size_t max)
{
	struct exwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->max = max ? max : 1;
	w->cur = calloc(w->max, sizeof(*w->cur));
	w->prev = calloc(w->max, sizeof(*w->prev));
	if (!w->cur || !w->prev) {
		exwatch_destroy(w);
		return NULL;
	}
	return w;
}

void exwatch_destroy(struct exwatch *w)
{
	if (!w)
		return;
	free(w->cur);
	free(w->prev);
	free(w);
}

struct decoder_exporter_info *exwatch_buffer(struct exwatch *w, size_t *max)
{
	*max = w->max;
	return w->cur;
}

static int key_cmp(const struct decoder_exporter_info *a, const struct decoder_exporter_info *b)
{
	int c = memcmp(&a->from.addr, &b->from.addr, sizeof(a->from.addr));

	if (c)
		return c;
	if (a->from.port != b->from.port)
		return a->from.port < b->from.port ? -1 : 1;
	if (a->domain != b->domain)
		return a->domain < b->domain ? -1 : 1;
	return 0;
}

static int sort_cmp(const void *a, const void *b)
{
	return key_cmp(a, b);
}

/* Quiet at time t: nothing seen for EXWATCH_QUIET_MS. */
static bool quiet_at(const struct decoder_exporter_info *e, uint64_t t)
{
	return t >= e->last_seen_ms && t - e->last_seen_ms >= EXWATCH_QUIET_MS;
}

void exwatch_update(struct exwatch *w, size_t n, uint64_t now_ms, exwatch_fn fn, void *ud)
{
	size_t i = 0, j = 0;

	if (n > w->max)
		n = w->max;
	if (n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(w->cur, n, sizeof(*w->cur), sort_cmp);
	while (i < n || j < w->n_prev) {
		const struct decoder_exporter_info *c = i < n ? &w->cur[i] : NULL;
		const struct decoder_exporter_info *p = j < w->n_prev ? &w->prev[j] : NULL;
		int k = !c ? 1 : !p ? -1 : key_cmp(c, p);

		if (k < 0) {
			fn(ud, EXWATCH_NEW, c, NULL);
			i++;
		} else if (k > 0) {
			fn(ud, EXWATCH_GONE, p, p);
			j++;
		} else {
			if (c->templates > p->templates)
				fn(ud, EXWATCH_TEMPLATES, c, p);
			if (c->sampling != p->sampling)
				fn(ud, EXWATCH_SAMPLING, c, p);
			bool was = quiet_at(p, w->prev_ms), is = quiet_at(c, now_ms);
			if (!was && is)
				fn(ud, EXWATCH_QUIET, c, p);
			else if (was && c->last_seen_ms != p->last_seen_ms)
				fn(ud, EXWATCH_BACK, c, p);
			i++;
			j++;
		}
	}
	struct decoder_exporter_info *t = w->prev;
	w->prev = w->cur;
	w->cur = t;
	w->n_prev = n;
	w->prev_ms = now_ms;
}

const char *exwatch_event_name(enum exwatch_event ev)
{
	switch (ev) {
	case EXWATCH_NEW:
		return "exporter first seen";
	case EXWATCH_TEMPLATES:
		return "templates learned";
	case EXWATCH_SAMPLING:
		return "sampling rate changed";
	case EXWATCH_QUIET:
		return "exporter gone quiet";
	case EXWATCH_BACK:
		return "exporter back";
	case EXWATCH_GONE:
		return "exporter forgotten";
	}
	return "?";
}
