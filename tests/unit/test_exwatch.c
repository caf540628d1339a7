/*
 * Unit tests for src/exwatch.c: the exporter events `run` logs, from
 * successive snapshots of the decoder's exporter table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/exwatch.h"

#define MAX_EV 32

struct events {
	size_t n;
	enum exwatch_event ev[MAX_EV];
	uint16_t port[MAX_EV];
	uint32_t templates[MAX_EV], prev_templates[MAX_EV];
};

static void collect(void *ud, enum exwatch_event ev, const struct decoder_exporter_info *e,
                    const struct decoder_exporter_info *prev)
{
	struct events *g = ud;

	assert_true(g->n < MAX_EV);
	g->ev[g->n] = ev;
	g->port[g->n] = e->from.port;
	g->templates[g->n] = e->templates;
	g->prev_templates[g->n] = prev ? prev->templates : 0;
	g->n++;
}

static struct decoder_exporter_info exporter(const char *addr, uint16_t port, uint32_t templates,
                                             uint64_t last_seen_ms)
{
	struct decoder_exporter_info e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(flow_addr_parse(addr, &e.from.addr), 0);
	e.from.port = port;
	e.version = 10;
	e.sampling = 1;
	e.templates = templates;
	e.last_seen_ms = last_seen_ms;
	return e;
}

/* Write the snapshot into the watcher's buffer and update at now. */
static void snap(struct exwatch *w, const struct decoder_exporter_info *v, size_t n, uint64_t now,
                 struct events *g)
{
	size_t max;
	struct decoder_exporter_info *buf = exwatch_buffer(w, &max);

	assert_true(n <= max);
	memcpy(buf, v, n * sizeof(*v));
	memset(g, 0, sizeof(*g));
	exwatch_update(w, n, now, collect, g);
}

static void test_events(void **state)
{
	(void)state;
	struct exwatch *w = exwatch_create(8);
	struct events g;
	uint64_t t = 1700000000000ull;

	assert_non_null(w);
	/* Two exporters appear (given out of order): two "first seen", nothing else. */
	struct decoder_exporter_info a[2] = {exporter("192.0.2.2", 2000, 0, t),
	                                     exporter("192.0.2.1", 1000, 2, t)};
	snap(w, a, 2, t, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ev[0], EXWATCH_NEW);
	assert_int_equal(g.port[0], 1000); /* sorted: 192.0.2.1 first */
	assert_int_equal(g.ev[1], EXWATCH_NEW);
	/* The same again: no event. */
	snap(w, a, 2, t + 1000, &g);
	assert_int_equal(g.n, 0);
	/* One learns templates, the other changes its sampling. */
	a[0].templates = 3;
	a[1].sampling = 1000;
	snap(w, a, 2, t + 2000, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ev[0], EXWATCH_SAMPLING);
	assert_int_equal(g.port[0], 1000);
	assert_int_equal(g.ev[1], EXWATCH_TEMPLATES);
	assert_int_equal(g.templates[1], 3);
	assert_int_equal(g.prev_templates[1], 0);
	/* Templates expiring (fewer) is not "learned". */
	a[0].templates = 1;
	snap(w, a, 2, t + 3000, &g);
	assert_int_equal(g.n, 0);
	/* 192.0.2.2 keeps sending; 192.0.2.1 falls silent: quiet once, not every second. */
	a[0].last_seen_ms = t + EXWATCH_QUIET_MS;
	snap(w, a, 2, t + EXWATCH_QUIET_MS, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0], EXWATCH_QUIET);
	assert_int_equal(g.port[0], 1000);
	snap(w, a, 2, t + EXWATCH_QUIET_MS + 1000, &g);
	assert_int_equal(g.n, 0);
	/* It sends again: back. */
	a[1].last_seen_ms = t + EXWATCH_QUIET_MS + 2000;
	snap(w, a, 2, t + EXWATCH_QUIET_MS + 2000, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0], EXWATCH_BACK);
	/* The decoder forgets 192.0.2.2: gone. */
	snap(w, &a[1], 1, t + EXWATCH_QUIET_MS + 3000, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0], EXWATCH_GONE);
	assert_int_equal(g.port[0], 2000);
	assert_string_equal(exwatch_event_name(EXWATCH_NEW), "exporter first seen");
	assert_string_equal(exwatch_event_name(EXWATCH_QUIET), "exporter gone quiet");
	exwatch_destroy(w);
}

/* More exporters than the watcher holds: the extra ones are not read. */
static void test_cap(void **state)
{
	(void)state;
	struct exwatch *w = exwatch_create(2);
	struct events g;
	size_t max;
	struct decoder_exporter_info *buf = exwatch_buffer(w, &max);

	assert_int_equal(max, 2);
	buf[0] = exporter("192.0.2.1", 1, 0, 1);
	buf[1] = exporter("192.0.2.2", 1, 0, 1);
	memset(&g, 0, sizeof(g));
	exwatch_update(w, 5, 1, collect, &g);
	assert_int_equal(g.n, 2);
	exwatch_destroy(w);
	exwatch_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
