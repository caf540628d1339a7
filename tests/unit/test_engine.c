/*
 * Unit tests for src/slot/engine.c: site match by longest prefix, direction,
 * the slot clock with its grace period, late and future records, gaps, and
 * closing everything at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <unistd.h>

#include "nfsentry/engine.h"
#include "slot_helpers.h"

#define SLOT_MS 300000ull
#define K0 (T0_MS / SLOT_MS) /* the slot T0 starts */

struct closed {
	int n;
	int64_t k[64];
	uint32_t site[64];
	uint64_t records[64];
	uint64_t late[64], future[64];
	struct slot_summary sum[64];
	uint64_t min_packets[64]; /* the judge's threshold: v->site->th (judge.c) */
	char name[64][SITE_NAME_MAX];
	uint32_t index[64]; /* slot_view.site_index */
};

static void on_close(void *ud, struct slot *s, uint32_t site)
{
	struct closed *c = ud;
	const struct slot_view *v = slot_finish(s);

	assert_non_null(v);
	assert_true(c->n < 64);
	c->k[c->n] = v->time_slot;
	c->site[c->n] = site;
	c->records[c->n] = slot_records(s);
	c->late[c->n] = v->sum.late_records;
	c->future[c->n] = v->sum.future_records;
	c->sum[c->n] = v->sum;
	c->min_packets[c->n] = v->site->th.min_packets;
	snprintf(c->name[c->n], sizeof(c->name[c->n]), "%s", v->site->name);
	c->index[c->n] = v->site_index;
	c->n++;
	slot_destroy(s);
}

static struct site_prefix pfx(const char *a, unsigned len)
{
	struct site_prefix p;
	flow_addr_parse(a, &p.addr);
	p.len = (uint8_t)(flow_addr_is_v4(&p.addr) ? 96 + len : len);
	return p;
}

/* Two sites: "campus" 10.0.0.0/8 + 2001:db8::/32, "lab" 10.1.0.0/16 inside it. */
static struct site_config sites[2];
static struct site_prefix campus_p[2], lab_p[1];

static void make_sites(void)
{
	test_site(&sites[0]);
	test_site(&sites[1]);
	memcpy(sites[1].name, "lab", 4);
	campus_p[0] = pfx("10.0.0.0", 8);
	campus_p[1] = pfx("2001:db8::", 32);
	lab_p[0] = pfx("10.1.0.0", 16);
	sites[0].inside = campus_p;
	sites[0].n_inside = 2;
	sites[1].inside = lab_p;
	sites[1].n_inside = 1;
}

static struct flow at(const char *src, const char *dst, uint64_t export_ms)
{
	struct flow f = mkflow(src, dst, UDP, 40000, 53, 0, 1, 100, export_ms - 1000);
	f.export_ms = export_ms;
	return f;
}

static void test_direction_and_lpm(void **state)
{
	(void)state;
	struct closed c = {0};
	struct engine *e;
	char err[128];

	make_sites();
	assert_int_equal(engine_create(sites, 2, 10000, on_close, &c, &e, err, sizeof(err)), 0);
	engine_clock(e, T0_MS);
	struct flow v[] = {
		at("10.0.0.1", "8.8.8.8", T0_MS),       /* campus egress */
		at("8.8.8.8", "10.1.2.3", T0_MS),       /* lab ingress (longest match) */
		at("10.0.0.1", "10.1.2.3", T0_MS),      /* campus egress + lab ingress */
		at("10.0.0.1", "10.0.0.2", T0_MS),      /* campus internal */
		at("2001:db8::1", "2001:db9::1", T0_MS), /* campus egress, IPv6 */
		at("8.8.8.8", "9.9.9.9", T0_MS),        /* no site */
	};
	engine_flows(e, v, 6);
	engine_close_all(e);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.site[0], 0);
	assert_int_equal(c.sum[0].egress.flows, 3);
	assert_int_equal(c.sum[0].internal.flows, 1);
	assert_int_equal(c.sum[0].ingress.flows, 0);
	assert_int_equal(c.site[1], 1);
	assert_int_equal(c.sum[1].ingress.flows, 2);
	assert_int_equal(c.sum[1].egress.flows, 0);
	struct engine_stats st;
	engine_stats_get(e, &st);
	assert_int_equal(st.records, 6);
	assert_int_equal(st.unmatched, 1);
	assert_int_equal(st.slots_closed, 2);
	engine_destroy(e);
}

static void test_clock_grace_late_future(void **state)
{
	(void)state;
	struct closed c = {0};
	struct engine *e;
	char err[128];
	struct flow f;

	make_sites();
	assert_int_equal(engine_create(sites, 1, 10000, on_close, &c, &e, err, sizeof(err)), 0);
	uint64_t s0 = K0 * SLOT_MS; /* start of slot K0 */
	engine_clock(e, s0 + 1000);
	f = at("10.0.0.1", "8.8.8.8", s0 + 2000);
	engine_flows(e, &f, 1);
	/* Into the next slot: K0 stays open for the grace period. */
	engine_clock(e, s0 + SLOT_MS + 5000);
	assert_int_equal(c.n, 0);
	f = at("10.0.0.1", "8.8.8.8", s0 + SLOT_MS - 1); /* K0, in grace */
	engine_flows(e, &f, 1);
	f = at("10.0.0.1", "8.8.8.8", s0 + SLOT_MS + 1); /* K0 + 1 */
	engine_flows(e, &f, 1);
	engine_clock(e, s0 + SLOT_MS + 10000); /* grace over */
	assert_int_equal(c.n, 1);
	assert_int_equal(c.k[0], (int64_t)K0);
	assert_int_equal(c.records[0], 2);
	/* A record for K0 now is late; one for K0 + 5 is future: both go to K0 + 1. */
	f = at("10.0.0.1", "8.8.8.8", s0 + 100);
	engine_flows(e, &f, 1);
	f = at("10.0.0.1", "8.8.8.8", s0 + 5 * SLOT_MS);
	engine_flows(e, &f, 1);
	/* The clock never runs backwards. */
	engine_clock(e, s0);
	engine_close_all(e);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.k[1], (int64_t)K0 + 1);
	assert_int_equal(c.records[1], 3);
	assert_int_equal(c.late[1], 1);
	assert_int_equal(c.future[1], 1);
	engine_destroy(e);
}

static void test_gaps(void **state)
{
	(void)state;
	struct closed c = {0};
	struct engine *e;
	char err[128];

	make_sites();
	assert_int_equal(engine_create(sites, 1, 0, on_close, &c, &e, err, sizeof(err)), 0);
	uint64_t s0 = K0 * SLOT_MS;
	engine_clock(e, s0);
	/* Four slots later: K0 closes, K0+1..K0+3 are reported empty. */
	engine_clock(e, s0 + 4 * SLOT_MS + 1);
	assert_int_equal(c.n, 4);
	for (int k = 0; k < 4; k++) {
		assert_int_equal(c.k[k], (int64_t)K0 + k);
		assert_int_equal(c.records[k], 0);
	}
	/* A day later: the gap is skipped and counted. */
	engine_clock(e, s0 + 300 * SLOT_MS);
	struct engine_stats st;
	engine_stats_get(e, &st);
	assert_int_equal(c.n, 5); /* K0 + 4 */
	assert_int_equal(st.slots_skipped, 300 - 4 - 1);
	engine_close_all(e);
	assert_int_equal(c.n, 6);
	assert_int_equal(c.k[5], (int64_t)K0 + 300);
	engine_destroy(e);
}

static void test_bad_prefixes(void **state)
{
	(void)state;
	struct closed c = {0};
	struct engine *e = NULL;
	char err[128];

	make_sites();
	lab_p[0] = pfx("10.0.0.0", 8); /* the same prefix as campus */
	assert_int_equal(engine_create(sites, 2, 0, on_close, &c, &e, err, sizeof(err)), -EEXIST);
	assert_null(e);
	assert_string_equal(err, "site lab: inside prefix 10.0.0.0/8: already belongs to another site");
}

/* Feed records of 10.0.0.x -> 198.51.100.y at export time t_ms. */
static void feed_at(struct engine *e, uint64_t t_ms, int from, int to)
{
	for (int k = from; k < to; k++) {
		char a[32], b[32];
		snprintf(a, sizeof(a), "10.0.0.%d", k % 50);
		snprintf(b, sizeof(b), "198.51.100.%d", k % 37);
		struct flow f = at(a, b, t_ms);
		engine_flows(e, &f, 1);
	}
}

/*
 * A stop (docs/documents.md "Slots at a stop"): engine_state_save() cuts
 * every open slot's coverage at the stop; engine_close_all() then closes
 * the site that got records in its slot (partial) and the previous slot
 * (whole, even empty), and leaves out the slot that got no record, which a
 * load after the slot ended leaves out too. Without the cut (end of a
 * replay) an empty slot is closed as any other.
 */
static void test_stop_empty_partial(void **state)
{
	(void)state;
	struct engine *e;
	struct closed c = {0};
	char err[128];
	const uint64_t t = T0_MS + SLOT_MS + 3000, stop = T0_MS + SLOT_MS + 60000;

	make_sites();
	/* Campus gets records in slot K0 + 1, lab none; both have slot K0 in its grace. */
	assert_int_equal(engine_create(sites, 2, 10000, on_close, &c, &e, err, sizeof(err)), 0);
	engine_clock(e, T0_MS);
	feed_at(e, T0_MS, 0, 10);
	engine_clock(e, t);
	feed_at(e, t, 10, 30);
	FILE *tf = tmpfile();
	int fd = fileno(tf);
	size_t n = 0;
	assert_int_equal(engine_state_save(e, fd, stop, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(engine_close_all(e), 1);
	/* Campus K0 and K0 + 1, lab K0 (whole, empty); not lab K0 + 1. */
	assert_int_equal(c.n, 3);
	assert_int_equal(c.site[0], 0);
	assert_int_equal(c.k[0], (int64_t)K0);
	assert_int_equal(c.records[0], 10);
	assert_int_equal(c.site[1], 0);
	assert_int_equal(c.k[1], (int64_t)K0 + 1);
	assert_int_equal(c.records[1], 20);
	assert_int_equal(c.site[2], 1);
	assert_int_equal(c.k[2], (int64_t)K0);
	assert_int_equal(c.records[2], 0);
	engine_destroy(e);

	/* A start after those slots ended, the saved file not marked written:
	 * the three are handed on, the empty partial one is not. */
	struct closed c2 = {0};
	struct engine_restore res;
	assert_int_equal(engine_create(sites, 2, 10000, on_close, &c2, &e, err, sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(engine_state_load(e, fd, T0_MS + 3 * SLOT_MS, &res), 0);
	assert_int_equal(res.closed, 3);
	assert_int_equal(res.left_out, 1);
	assert_int_equal(res.restored + res.already + res.dropped, 0);
	assert_int_equal(c2.n, 3);
	engine_destroy(e);
	fclose(tf);

	/* No stop: an empty slot (lab) is closed at the end like any other. */
	struct closed c3 = {0};
	assert_int_equal(engine_create(sites, 2, 10000, on_close, &c3, &e, err, sizeof(err)), 0);
	engine_clock(e, T0_MS);
	feed_at(e, T0_MS, 0, 10);
	assert_int_equal(engine_close_all(e), 0);
	assert_int_equal(c3.n, 2);
	assert_int_equal(c3.site[1], 1);
	assert_int_equal(c3.records[1], 0);
	engine_destroy(e);
}

/*
 * Saved state: a start within the slot restores it and it closes with what
 * an uninterrupted engine counted; a start after it closed hands it on as
 * saved (partial, covered up to the stop); one that the stop stored is not
 * handed on again; a change of sites restores nothing.
 */
static void test_state_save_load(void **state)
{
	(void)state;
	struct engine *e, *r;
	struct closed c = {0}, u = {0}, c2 = {0};
	char err[128];
	const uint64_t t = T0_MS + 30000, stop = T0_MS + 100000, back = T0_MS + 120000;

	make_sites();
	/* Uninterrupted: started at t, records before and after the stop time. */
	assert_int_equal(engine_create(sites, 1, 10000, on_close, &u, &e, err, sizeof(err)), 0);
	engine_cover_from(e, t);
	engine_clock(e, t);
	feed_at(e, t, 0, 400);
	feed_at(e, back, 400, 700);
	engine_close_all(e);
	engine_destroy(e);
	assert_int_equal(u.n, 1);

	/* Stopped at stop, saved, started again within the slot. */
	FILE *tf = tmpfile();
	int fd = fileno(tf);
	size_t n = 0;
	assert_int_equal(engine_create(sites, 1, 10000, on_close, &c, &e, err, sizeof(err)), 0);
	engine_cover_from(e, t);
	engine_clock(e, t);
	feed_at(e, t, 0, 400);
	assert_int_equal(engine_state_save(e, fd, stop, &n), 0);
	assert_int_equal(n, 1);
	engine_destroy(e);
	assert_int_equal(c.n, 0);

	struct engine_restore res;
	assert_int_equal(engine_create(sites, 1, 10000, on_close, &c, &r, err, sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(engine_state_load(r, fd, back, &res), 0);
	assert_int_equal(res.restored, 1);
	assert_int_equal(res.closed + res.already + res.dropped, 0);
	assert_false(res.config_changed);
	assert_int_equal(res.saved_at_ms, stop);
	engine_cover_from(r, back);
	engine_clock(r, back);
	feed_at(r, back, 400, 700);
	engine_close_all(r);
	engine_destroy(r);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.k[0], u.k[0]);
	assert_int_equal(c.records[0], u.records[0]);
	assert_memory_equal(&c.sum[0], &u.sum[0], sizeof(u.sum[0]));

	/* Started after the slot and its grace ended: handed on as saved. */
	assert_int_equal(engine_create(sites, 1, 10000, on_close, &c2, &r, err, sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(engine_state_load(r, fd, T0_MS + SLOT_MS + 10000, &res), 0);
	assert_int_equal(res.restored, 0);
	assert_int_equal(res.closed, 1);
	assert_int_equal(c2.n, 1);
	assert_int_equal(c2.records[0], 400);
	engine_destroy(r);

	/* Within the grace period it is restored as the previous slot. */
	c2.n = 0;
	assert_int_equal(engine_create(sites, 1, 10000, on_close, &c2, &r, err, sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(engine_state_load(r, fd, T0_MS + SLOT_MS + 5000, &res), 0);
	assert_int_equal(res.restored, 1);
	engine_clock(r, T0_MS + SLOT_MS + 5000);
	assert_int_equal(c2.n, 0);
	engine_clock(r, T0_MS + SLOT_MS + 10000);
	assert_int_equal(c2.n, 1);
	assert_int_equal(c2.k[0], (int64_t)K0);
	engine_destroy(r);

	/* The sites changed: nothing restored, the slot written as saved. */
	c2.n = 0;
	struct site_config other = sites[0];
	other.n_inside = 1;
	assert_int_equal(engine_create(&other, 1, 10000, on_close, &c2, &r, err, sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(engine_state_load(r, fd, back, &res), 0);
	assert_true(res.config_changed);
	assert_int_equal(res.restored, 0);
	assert_int_equal(res.closed, 1);
	assert_int_equal(c2.n, 1);
	engine_destroy(r);

	/* The stop stored it: nothing handed on again. */
	c2.n = 0;
	static const uint8_t one = 1;
	assert_int_equal(pwrite(fd, &one, 1, ENGINE_STATE_WRITTEN_OFFSET), 1);
	assert_int_equal(engine_create(sites, 1, 10000, on_close, &c2, &r, err, sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(engine_state_load(r, fd, T0_MS + SLOT_MS + 10000, &res), 0);
	assert_int_equal(res.already, 1);
	assert_int_equal(c2.n, 0);
	engine_destroy(r);

	/* Not a state file. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(write(fd, "NFSSTATX", 8), 8);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(engine_create(sites, 1, 10000, on_close, &c2, &r, err, sizeof(err)), 0);
	assert_int_equal(engine_state_load(r, fd, back, &res), -EBADMSG);
	engine_destroy(r);
	fclose(tf);
}

/*
 * The configuration reload: engine_sites_set() between two records of an
 * open slot leaves that slot with the thresholds it was opened with (its
 * records all stay in it); the slot the engine opens next, live at the
 * boundary, has the new ones. A table of other sites is refused.
 */
static void test_sites_set(void **state)
{
	(void)state;
	struct closed c = {0};
	struct engine *e;
	char err[128];
	struct site_config next[2];

	make_sites();
	sites[0].th.min_packets = 10;
	sites[1].th.min_packets = 10;
	memcpy(next, sites, sizeof(next));
	next[0].th.min_packets = 2;
	next[1].th.min_packets = 3;
	assert_int_equal(engine_create(sites, 2, 10000, on_close, &c, &e, err, sizeof(err)), 0);
	engine_clock(e, T0_MS + 1000);
	feed_at(e, T0_MS + 1000, 0, 100);
	assert_false(engine_sites_in_use(e, next, 2));
	assert_int_equal(engine_sites_set(e, next, 2, err, sizeof(err)), 0);
	/* The open slots were opened with the old table: it is in use, the new one staged. */
	assert_true(engine_sites_in_use(e, sites, 2));
	assert_true(engine_sites_in_use(e, sites + 1, 1));
	assert_true(engine_sites_in_use(e, next, 2));
	feed_at(e, T0_MS + 2000, 100, 250);
	/* The next slot opens at the boundary; the old one closes after its grace. */
	engine_clock(e, T0_MS + SLOT_MS + 1000);
	feed_at(e, T0_MS + SLOT_MS + 1000, 0, 10);
	assert_true(engine_sites_in_use(e, sites, 2)); /* in its grace period */
	assert_true(engine_sites_in_use(e, next, 2));
	engine_clock(e, T0_MS + SLOT_MS + 10000);
	assert_int_equal(c.n, 2);
	assert_false(engine_sites_in_use(e, sites, 2));
	assert_true(engine_sites_in_use(e, next, 2));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(c.k[i], (int64_t)K0);
		assert_int_equal(c.min_packets[i], 10);
	}
	assert_int_equal(c.records[0] + c.records[1], 250);
	engine_close_all(e);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.k[2], (int64_t)K0 + 1);
	assert_int_equal(c.min_packets[2] + c.min_packets[3], 5);
	assert_int_equal(c.records[2] + c.records[3], 10);

	/* A prefix in two sites: refused, the table kept. */
	struct site_config bad[2];
	memcpy(bad, next, sizeof(bad));
	bad[1].inside = campus_p;
	assert_int_equal(engine_sites_set(e, bad, 2, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "already belongs to another site"));
	assert_false(engine_sites_in_use(e, bad, 2));
	engine_clock(e, T0_MS + 2 * SLOT_MS + 1000);
	feed_at(e, T0_MS + 2 * SLOT_MS + 1000, 0, 10);
	engine_close_all(e);
	assert_int_equal(c.min_packets[c.n - 1] + c.min_packets[c.n - 2], 5);
	engine_destroy(e);
}

/* n records from net.(k % 50) (net: "10.5.0") to an outside address, exported at t_ms. */
static void feed_from(struct engine *e, const char *net, uint64_t t_ms, int n)
{
	for (int k = 0; k < n; k++) {
		char a[32];
		snprintf(a, sizeof(a), "%s.%d", net, k % 50);
		struct flow f = at(a, "198.51.100.7", t_ms);
		engine_flows(e, &f, 1);
	}
}

/* The closed slot of site name and slot k, or -1. */
static int closed_of(const struct closed *c, const char *name, int64_t k)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->name[i], name) == 0 && c->k[i] == k)
			return i;
	return -1;
}

/* The record tap: the largest site id it was handed, and how many records. */
struct tap_seen {
	int64_t max_id;
	size_t records;
};

static void tap_fn(void *ud, const struct flow *v, size_t n, const int64_t *ss, const int64_t *sd)
{
	struct tap_seen *t = ud;

	(void)v;
	for (size_t i = 0; i < n; i++) {
		if (ss[i] > t->max_id)
			t->max_id = ss[i];
		if (sd[i] > t->max_id)
			t->max_id = sd[i];
	}
	t->records += n;
}

/*
 * A reload that changes the sites (engine_sites_set()): "lab" is kept with
 * one more prefix (and moves to the front), "campus" is kept as it is,
 * "old" is renamed "old2" (removed and added), "dorm" is added. Until the
 * boundary the open slots take the records with the old table; the swap at
 * the boundary gives kept sites their ids and new entries, and the new
 * ones the next ids; records of the slot before the boundary (in its
 * grace) are still matched with the old table, so the removed site's last
 * slot gets them and is closed whole at its end; then it is retired.
 */
static void test_sites_swap(void **state)
{
	(void)state;
	struct closed c = {0};
	struct engine *e;
	struct engine_stats st;
	struct tap_seen tap = {.max_id = -1};
	char err[128];
	struct site_config a[3], b[4];
	struct site_prefix pa[3], pb_lab[2], pb_campus[1], pb_dorm[1], pb_old2[1];
	const int64_t k0 = (int64_t)K0;

	for (int i = 0; i < 3; i++)
		test_site(&a[i]);
	for (int i = 0; i < 4; i++)
		test_site(&b[i]);
	memcpy(a[0].name, "campus", 7);
	memcpy(a[1].name, "lab", 4);
	memcpy(a[2].name, "old", 4);
	pa[0] = pfx("10.0.0.0", 16);
	pa[1] = pfx("10.1.0.0", 16);
	pa[2] = pfx("10.9.0.0", 16);
	for (int i = 0; i < 3; i++) {
		a[i].inside = &pa[i];
		a[i].n_inside = 1;
		a[i].th.min_packets = 10;
	}
	memcpy(b[0].name, "lab", 4);
	memcpy(b[1].name, "campus", 7);
	memcpy(b[2].name, "dorm", 5);
	memcpy(b[3].name, "old2", 5);
	pb_lab[0] = pfx("10.1.0.0", 16);
	pb_lab[1] = pfx("10.5.0.0", 16);
	pb_campus[0] = pfx("10.0.0.0", 16);
	pb_dorm[0] = pfx("10.2.0.0", 16);
	pb_old2[0] = pfx("10.9.0.0", 16);
	b[0].inside = pb_lab;
	b[0].n_inside = 2;
	b[1].inside = pb_campus;
	b[2].inside = pb_dorm;
	b[3].inside = pb_old2;
	for (int i = 0; i < 4; i++) {
		b[i].n_inside = b[i].n_inside ? b[i].n_inside : 1;
		b[i].th.min_packets = 3;
	}

	assert_int_equal(engine_create(a, 3, 10000, on_close, &c, &e, err, sizeof(err)), 0);
	engine_record_tap_set(e, tap_fn, NULL, &tap);
	engine_clock(e, T0_MS + 1000);
	feed_from(e, "10.0.0", T0_MS + 1000, 10);
	feed_from(e, "10.9.0", T0_MS + 1000, 7);
	assert_int_equal(engine_sites_set(e, b, 4, err, sizeof(err)), 0);
	assert_int_equal(engine_site_ids(e), 5);
	assert_int_equal(engine_site_id(e, "lab"), 1);
	assert_int_equal(engine_site_id(e, "campus"), 0);
	assert_int_equal(engine_site_id(e, "dorm"), 3);
	assert_int_equal(engine_site_id(e, "old2"), 4);
	assert_int_equal(engine_site_id(e, "old"), -1);
	assert_int_equal(engine_sites_in_force(e), 3);
	/* Staged, not in force: the open slot still matches with the table it was opened with. */
	feed_from(e, "10.5.0", T0_MS + 2000, 4); /* lab's new prefix: nobody's yet */
	feed_from(e, "10.2.0", T0_MS + 2000, 4); /* dorm: nobody's yet */
	feed_from(e, "10.9.0", T0_MS + 2000, 3); /* still old's */
	engine_stats_get(e, &st);
	assert_int_equal(st.unmatched, 8);

	/* The boundary: the new table is in force; the slots before it finish. */
	engine_clock(e, T0_MS + SLOT_MS + 1000);
	assert_int_equal(engine_sites_in_force(e), 4);
	assert_int_equal(c.n, 0);
	assert_true(engine_sites_in_use(e, a, 3)); /* slots opened with it are open */
	assert_true(engine_sites_in_use(e, b, 4));
	feed_from(e, "10.9.0", T0_MS + 299000, 5);         /* old's slot, in its grace */
	feed_from(e, "10.5.0", T0_MS + 299000, 2);         /* old table: unmatched */
	feed_from(e, "10.5.0", T0_MS + SLOT_MS + 2000, 6); /* lab's now */
	feed_from(e, "10.5.0", T0_MS - 1000, 1); /* late: folded into lab's open slot */
	feed_from(e, "10.2.0", T0_MS + SLOT_MS + 2000, 9); /* dorm's */
	feed_from(e, "10.9.0", T0_MS + SLOT_MS + 2000, 2); /* old2's */
	feed_from(e, "10.0.0", T0_MS + SLOT_MS + 2000, 1); /* campus's */
	engine_stats_get(e, &st);
	assert_int_equal(st.unmatched, 10);
	assert_int_equal(st.alloc_failures, 0);

	/* The grace ends: the slots of k0 close, old's with every record it was given. */
	engine_clock(e, T0_MS + SLOT_MS + 10000);
	assert_int_equal(c.n, 3);
	int i = closed_of(&c, "old", k0);
	assert_true(i >= 0);
	assert_int_equal(c.records[i], 7 + 3 + 5);
	assert_int_equal(c.index[i], 2);
	assert_int_equal(c.min_packets[i], 10);
	i = closed_of(&c, "campus", k0);
	assert_true(i >= 0);
	assert_int_equal(c.records[i], 10);
	assert_int_equal(c.site[i], 0);
	i = closed_of(&c, "lab", k0);
	assert_true(i >= 0);
	assert_int_equal(c.records[i], 0);
	/* Nothing holds the old table any more. */
	assert_false(engine_sites_in_use(e, a, 3));
	/* A record of k0 now: the old table is gone, so old2 takes it, late, in k0 + 1. */
	feed_from(e, "10.9.0", T0_MS + 299500, 1);
	engine_stats_get(e, &st);
	assert_int_equal(st.alloc_failures, 0);
	assert_int_equal(st.late, 2);

	engine_close_all(e);
	assert_int_equal(c.n, 7);
	static const char *const names[] = {"lab", "campus", "dorm", "old2"};
	static const uint64_t recs[] = {7, 1, 9, 3};
	static const uint32_t ids[] = {1, 0, 3, 4};
	for (int j = 0; j < 4; j++) {
		i = closed_of(&c, names[j], k0 + 1);
		assert_true(i >= 0);
		assert_int_equal(c.records[i], recs[j]);
		assert_int_equal(c.site[i], ids[j]);
		assert_int_equal(c.index[i], ids[j]);
		assert_int_equal(c.min_packets[i], 3);
	}
	assert_int_equal(closed_of(&c, "old", k0 + 1), -1);
	/* The tap was set with three sites: dorm and old2 are -1 to it. */
	assert_int_equal(tap.max_id, 2);
	engine_destroy(e);
}

/*
 * Two reloads within one slot: the second replaces the staged first, and
 * a site removed by the first and back in the second keeps its id. A
 * reload that would need more than ENGINE_MAX_SITE_IDS ids is refused.
 */
struct counted {
	int n;
	int64_t s3_records; /* the slot of site "s3", k0 + 1: its records, or -1 */
	uint32_t s3_id;
};

static void on_close_count(void *ud, struct slot *s, uint32_t site)
{
	struct counted *c = ud;
	const struct slot_view *v = slot_finish(s);

	assert_non_null(v);
	c->n++;
	if (strcmp(v->site->name, "s3") == 0 && v->time_slot == (int64_t)K0 + 1) {
		c->s3_records = (int64_t)slot_records(s);
		c->s3_id = site;
	}
	slot_destroy(s);
}

static void test_sites_restage_and_cap(void **state)
{
	(void)state;
	struct counted c = {.s3_records = -1};
	struct engine *e;
	char err[128];
	static struct site_config many[ENGINE_MAX_SITE_IDS];
	static struct site_prefix mp[ENGINE_MAX_SITE_IDS];

	make_sites();
	assert_int_equal(engine_create(sites, 2, 10000, on_close_count, &c, &e, err, sizeof(err)),
	                 0);
	engine_clock(e, T0_MS + 1000);
	assert_int_equal(engine_sites_set(e, sites, 1, err, sizeof(err)), 0); /* lab removed */
	assert_int_equal(engine_site_id(e, "lab"), -1);
	assert_int_equal(engine_sites_set(e, sites, 2, err, sizeof(err)), 0); /* and back */
	assert_int_equal(engine_site_id(e, "lab"), 1);
	assert_int_equal(engine_site_ids(e), 2);
	for (int i = 0; i < ENGINE_MAX_SITE_IDS; i++) {
		test_site(&many[i]);
		snprintf(many[i].name, sizeof(many[i].name), "s%d", i);
		char a[32];
		snprintf(a, sizeof(a), "10.%d.%d.0", 100 + i / 256, i % 256);
		mp[i] = pfx(a, 24);
		many[i].inside = &mp[i];
		many[i].n_inside = 1;
	}
	/* 2 ids given out: 510 more names fit, 511 do not. */
	assert_int_equal(engine_sites_set(e, many, ENGINE_MAX_SITE_IDS - 1, err, sizeof(err)),
	                 -ENOSPC);
	assert_non_null(strstr(err, "restart"));
	assert_int_equal(engine_site_id(e, "lab"), 1); /* the staged table stays */
	assert_int_equal(engine_sites_set(e, many, ENGINE_MAX_SITE_IDS - 2, err, sizeof(err)), 0);
	assert_int_equal(engine_site_ids(e), ENGINE_MAX_SITE_IDS);
	engine_clock(e, T0_MS + SLOT_MS + 1000);
	feed_from(e, "10.100.3", T0_MS + SLOT_MS + 2000, 4);
	engine_clock(e, T0_MS + SLOT_MS + 10000);
	assert_int_equal(c.n, 2); /* campus and lab, gone, closed at their end */
	engine_close_all(e);
	assert_int_equal(c.n, 2 + ENGINE_MAX_SITE_IDS - 2);
	assert_int_equal(c.s3_records, 4);
	assert_int_equal(c.s3_id, 5);
	engine_destroy(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_direction_and_lpm),
	    cmocka_unit_test(test_state_save_load),
	    cmocka_unit_test(test_stop_empty_partial),
	    cmocka_unit_test(test_clock_grace_late_future),
	    cmocka_unit_test(test_gaps),
	    cmocka_unit_test(test_bad_prefixes),
	    cmocka_unit_test(test_sites_swap),
	    cmocka_unit_test(test_sites_restage_and_cap),
	    cmocka_unit_test(test_sites_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
