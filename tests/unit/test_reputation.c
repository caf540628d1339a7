/*
 * test_reputation: rule III -- the offender database and its escalation
 * over many slots and days on slot time, the allow-lists, restart and
 * replay, the block-list file's atomic rewrite, the hook (arguments,
 * environment, time-out, failure) and the footprints of watched IPs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nfsentry/fault.h"
#include "nfsentry/judge.h"
#include "nfsentry/reputation.h"
#include "nfsentry/slot.h"
#include "nfsentry/store.h"

#include "../../src/reputation/watch.h"

#define K0 5890752 /* 2026-01-01T00:00:00Z / 300 */
#define HOUR_SLOTS 12

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_reputation.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void path_in(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", tmpdir, name);
}

/* Two sites: campus 10.10.0.0/16 (10.10.0.5 allow-listed), lab 10.20.0.0/16. */
struct sites {
	struct site_config s[2];
	struct site_prefix in[2];
	struct flow_addr allow[1];
};

static void sites_init(struct sites *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < 2; i++) {
		site_config_defaults(&t->s[i]);
		snprintf(t->s[i].name, sizeof(t->s[i].name), "%s", i ? "lab" : "campus");
		assert_int_equal(flow_addr_parse(i ? "10.20.0.0" : "10.10.0.0", &t->in[i].addr), 0);
		t->in[i].len = 96 + 16;
		t->s[i].inside = &t->in[i];
		t->s[i].n_inside = 1;
	}
	assert_int_equal(flow_addr_parse("10.10.0.5", &t->allow[0]), 0);
	t->s[0].allow = t->allow;
	t->s[0].n_allow = 1;
}

/* A judged view with up to 8 offenders, built by hand. */
struct vb {
	struct slot_view v;
	struct slot_outside out[8];
	struct slot_label lab[32];
};

static void vb_init(struct vb *b, const struct sites *t, uint32_t site, int64_t k)
{
	memset(b, 0, sizeof(*b));
	b->v.site = &t->s[site];
	b->v.site_index = site;
	b->v.time_slot = k;
	b->v.outside = b->out;
	b->v.labels = b->lab;
	b->v.cap_labels = 32;
}

/* Add an offender in C with the given labels (JUDGE__COUNT ends the list). */
static void vb_add(struct vb *b, const char *ip, ...)
{
	struct slot_outside *o = &b->out[b->v.n_outside++];
	va_list ap;
	int l;

	assert_int_equal(flow_addr_parse(ip, &o->addr), 0);
	o->in_c = true;
	o->label_first = (uint32_t)b->v.n_labels;
	va_start(ap, ip);
	while ((l = va_arg(ap, int)) != JUDGE__COUNT) {
		b->lab[b->v.n_labels++] =
		    (struct slot_label){.id = (uint8_t)l, .value = 100, .threshold = 10};
		o->n_labels++;
	}
	va_end(ap);
}

static struct reputation_config rcfg;

static struct reputation *rep_open(const struct sites *t, const char *db, const char *bl,
                                   const char *store, bool hook)
{
	char err[512];
	struct reputation *r;
	struct reputation_opts o = {
	    .cfg = &rcfg,
	    .sites = t->s,
	    .n_sites = 2,
	    .db_path = db,
	    .blocklist_path = bl,
	    .store_path = store,
	    .run_hook = hook,
	    .grace_ms = 10000,
	};
	int rc = reputation_open(&o, &r, err, sizeof(err));
	if (rc != 0)
		fail_msg("reputation_open: %s", err);
	return r;
}

static void sink(struct reputation *r, struct vb *b)
{
	reputation_slot_sink(r, &b->v, NULL, NULL);
}

/* The entry of ip (copied) into *e; false when not in the database. */
struct got {
	bool found;
	struct reputation_entry e;
	char sites[512], labels[256];
};

static int got_fn(void *ud, const struct reputation_entry *e)
{
	struct got *g = ud;
	g->found = true;
	g->e = *e;
	snprintf(g->sites, sizeof(g->sites), "%s", e->sites_json);
	snprintf(g->labels, sizeof(g->labels), "%s", e->labels_json);
	g->e.sites_json = g->e.labels_json = g->e.history_json = g->e.reason = NULL;
	return 0;
}

static struct got lookup(const char *db, const char *ip)
{
	struct reputation_db *h;
	char err[256];
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(reputation_db_open(db, true, &h, err, sizeof(err)), 0);
	assert_int_equal(reputation_db_foreach(h, false, ip, got_fn, &g), 0);
	reputation_db_close(h);
	return g;
}

/* The whole database as JSON lines (for replay = live comparisons). */
static int dump_fn(void *ud, const struct reputation_entry *e)
{
	char line[8192];
	assert_int_equal(reputation_entry_json(e, line, sizeof(line)), 0);
	fprintf(ud, "%s\n", line);
	return 0;
}

static char *dump(const char *db)
{
	struct reputation_db *h;
	char err[256], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(reputation_db_open(db, true, &h, err, sizeof(err)), 0);
	assert_int_equal(reputation_db_foreach(h, false, NULL, dump_fn, f), 0);
	reputation_db_close(h);
	fclose(f);
	return buf;
}

static int64_t until_of(int64_t k, int64_t dur_s)
{
	return (k + 1) * SLOT_SECONDS + dur_s;
}

/*
 * Only a labelled entry of C is an offence: one in C by METHOD §4 example 2
 * alone (it touched a silent inside address, no rule I label) is not
 * recorded, not blocked and not watched (docs/offenders.md).
 */
static void test_unlabelled_not_recorded(void **state)
{
	struct sites t;
	struct vb b;
	char db[300];
	struct reputation_stats st;

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "unlabelled.db");
	struct reputation *r = rep_open(&t, db, NULL, NULL, false);

	vb_init(&b, &t, 0, K0);
	vb_add(&b, "198.51.100.7", JUDGE__COUNT);
	vb_add(&b, "203.0.113.9", JUDGE_NOPAYLOAD, JUDGE__COUNT);
	sink(r, &b);
	assert_false(lookup(db, "198.51.100.7").found);
	struct got g = lookup(db, "203.0.113.9");
	assert_true(g.found);
	assert_int_equal(g.e.offences, 1);
	assert_false(g.e.blocked); /* noPayload alone does not block */
	reputation_stats_get(r, &st);
	assert_int_equal(st.offences, 1);
	assert_int_equal(st.watched, 1);
	reputation_close(r);
}

/* First block, same-slot second site, expiry, repeat with a longer block, cap. */
static void test_escalation(void **state)
{
	struct sites t;
	struct vb b;
	char db[300];

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	rcfg.block_max_s = 4 * 3600 * 4; /* 1 h, 4 h, 16 h, then 16 h */
	path_in(db, sizeof(db), "esc.db");
	struct reputation *r = rep_open(&t, db, NULL, NULL, false);

	/* Slot K0: a scan at campus blocks for the base hour. */
	vb_init(&b, &t, 0, K0);
	vb_add(&b, "198.51.100.7", JUDGE_SCAN, JUDGE_NOPAYLOAD, JUDGE__COUNT);
	sink(r, &b);
	struct got g = lookup(db, "198.51.100.7");
	assert_true(g.found);
	assert_true(g.e.blocked);
	assert_int_equal(g.e.offences, 1);
	assert_int_equal(g.e.blocks, 1);
	assert_int_equal(g.e.strikes, 0);
	assert_int_equal(g.e.blocked_until_s, until_of(K0, 3600));

	/* The same slot at the lab: recorded, one offence, no second block. */
	vb_init(&b, &t, 1, K0);
	vb_add(&b, "198.51.100.7", JUDGE_FLOOD, JUDGE__COUNT);
	sink(r, &b);
	g = lookup(db, "198.51.100.7");
	assert_int_equal(g.e.offences, 1);
	assert_int_equal(g.e.blocks, 1);
	assert_int_equal(g.e.blocked_until_s, until_of(K0, 3600));
	assert_non_null(strstr(g.sites, "\"campus\""));
	assert_non_null(strstr(g.sites, "\"lab\""));
	assert_non_null(strstr(g.labels, "flood"));

	/* One slot short of the hour: still blocked; at the hour: lifted. */
	vb_init(&b, &t, 0, K0 + HOUR_SLOTS - 1);
	sink(r, &b);
	assert_true(lookup(db, "198.51.100.7").e.blocked);
	vb_init(&b, &t, 0, K0 + HOUR_SLOTS);
	sink(r, &b);
	g = lookup(db, "198.51.100.7");
	assert_false(g.e.blocked);

	/* Back a day later: a repeat, four hours. */
	int64_t k = K0 + 24 * HOUR_SLOTS;
	vb_init(&b, &t, 1, k);
	vb_add(&b, "198.51.100.7", JUDGE_PROBEUNUSED, JUDGE__COUNT);
	sink(r, &b);
	g = lookup(db, "198.51.100.7");
	assert_true(g.e.blocked);
	assert_int_equal(g.e.offences, 2);
	assert_int_equal(g.e.blocks, 2);
	assert_int_equal(g.e.strikes, 1);
	assert_int_equal(g.e.blocked_until_s, until_of(k, 4 * 3600));

	/* Offending again while blocked: the block runs on, not escalated. */
	vb_init(&b, &t, 0, k + 2);
	vb_add(&b, "198.51.100.7", JUDGE_SCAN, JUDGE__COUNT);
	sink(r, &b);
	g = lookup(db, "198.51.100.7");
	assert_int_equal(g.e.blocks, 2);
	assert_int_equal(g.e.blocked_until_s, until_of(k + 2, 4 * 3600));

	/* Expired, then the third and fourth blocks: 16 h, then capped at 16 h. */
	for (int rep = 0; rep < 2; rep++) {
		k += 2 * 24 * HOUR_SLOTS;
		vb_init(&b, &t, 0, k);
		vb_add(&b, "198.51.100.7", JUDGE_SCAN, JUDGE__COUNT);
		sink(r, &b);
		g = lookup(db, "198.51.100.7");
		assert_int_equal(g.e.strikes, 2 + rep);
		assert_int_equal(g.e.blocked_until_s, until_of(k, 16 * 3600));
	}

	/* Beyond the memory window (30 days): a first offence again. */
	k += 31 * 24 * HOUR_SLOTS;
	vb_init(&b, &t, 0, k);
	vb_add(&b, "198.51.100.7", JUDGE_SCAN, JUDGE__COUNT);
	sink(r, &b);
	g = lookup(db, "198.51.100.7");
	assert_int_equal(g.e.strikes, 0);
	assert_int_equal(g.e.blocked_until_s, until_of(k, 3600));

	struct reputation_stats st;
	reputation_stats_get(r, &st);
	assert_int_equal(st.blocks, 5);
	assert_int_equal(st.repeat_blocks, 3);
	assert_int_equal(st.unblocks, 4);
	assert_int_equal(st.offences, 7);
	reputation_close(r);
}

/* noPayload alone records; inside space, site allow and operator allow never block. */
static void test_never_blocked(void **state)
{
	struct sites t;
	struct vb b;
	char db[300];
	struct site_prefix allow;

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	assert_int_equal(flow_addr_parse("192.0.2.0", &allow.addr), 0);
	allow.len = 96 + 24;
	rcfg.allow = &allow;
	rcfg.n_allow = 1;
	path_in(db, sizeof(db), "allow.db");
	struct reputation *r = rep_open(&t, db, NULL, NULL, false);

	vb_init(&b, &t, 1, K0);
	vb_add(&b, "203.0.113.1", JUDGE_NOPAYLOAD, JUDGE__COUNT);
	vb_add(&b, "10.10.3.3", JUDGE_SCAN, JUDGE__COUNT);  /* campus inside, seen from lab */
	vb_add(&b, "10.10.0.5", JUDGE_FLOOD, JUDGE__COUNT); /* campus allow list */
	vb_add(&b, "192.0.2.77", JUDGE_SCAN, JUDGE__COUNT); /* operator allow prefix */
	vb_add(&b, "192.0.3.1", JUDGE_SCAN, JUDGE__COUNT);  /* just outside it */
	for (int i = 0; i < 3; i++) {
		b.v.time_slot = K0 + i;
		sink(r, &b);
	}
	struct got g = lookup(db, "203.0.113.1");
	assert_true(g.found);
	assert_int_equal(g.e.offences, 3);
	assert_false(g.e.blocked);
	assert_false(g.e.exempt);
	const char *never[] = {"10.10.3.3", "10.10.0.5", "192.0.2.77"};
	for (int i = 0; i < 3; i++) {
		g = lookup(db, never[i]);
		assert_true(g.found);
		assert_int_equal(g.e.offences, 3);
		assert_false(g.e.blocked);
		assert_true(g.e.exempt);
		assert_int_equal(g.e.blocks, 0);
	}
	assert_true(lookup(db, "192.0.3.1").e.blocked);
	reputation_close(r);
	rcfg.allow = NULL;
	rcfg.n_allow = 0;
}

/*
 * The configuration reload (reputation_exempt_set()): an address put on
 * reputation.allow is unblocked at the next slot (an unblock, counted) and
 * not blocked by its offences; taken off again, its next offence blocks it.
 * A site's allow address and inside prefixes follow too, and the slot of a
 * site added by the reload (an index past the sites opened with) is
 * recorded without being paired.
 */
static void test_exempt_reload(void **state)
{
	struct sites t, t2;
	struct vb b;
	char db[300];
	struct site_prefix allow;
	struct reputation_config c2;

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "reexempt.db");
	struct reputation *r = rep_open(&t, db, NULL, NULL, false);

	vb_init(&b, &t, 0, K0);
	vb_add(&b, "192.0.2.77", JUDGE_SCAN, JUDGE__COUNT);
	vb_add(&b, "10.10.0.5", JUDGE_SCAN, JUDGE__COUNT); /* campus allow, for now */
	sink(r, &b);
	assert_true(lookup(db, "192.0.2.77").e.blocked);
	assert_true(lookup(db, "10.10.0.5").e.exempt);

	/*
	 * Reload: 192.0.2.0/24 on reputation.allow; campus moves to 10.11.0.0/16
	 * without an allow list (a site's allow lies in its inside prefixes).
	 */
	reputation_config_defaults(&c2);
	assert_int_equal(flow_addr_parse("192.0.2.0", &allow.addr), 0);
	allow.len = 96 + 24;
	c2.allow = &allow;
	c2.n_allow = 1;
	memcpy(&t2, &t, sizeof(t2));
	t2.s[0].allow = NULL;
	t2.s[0].n_allow = 0;
	assert_int_equal(flow_addr_parse("10.11.0.0", &t2.in[0].addr), 0);
	t2.s[0].inside = &t2.in[0];
	t2.s[1].inside = &t2.in[1];
	assert_int_equal(reputation_exempt_set(r, t2.s, 2, &c2), 0);
	/* Nothing changes before the worker's next slot. */
	assert_true(lookup(db, "192.0.2.77").e.blocked);
	vb_init(&b, &t, 1, K0 + 1);
	sink(r, &b);
	struct got g = lookup(db, "192.0.2.77");
	assert_false(g.e.blocked);
	assert_true(g.e.exempt);
	assert_false(lookup(db, "10.10.0.5").e.exempt);
	struct reputation_stats st;
	reputation_stats_get(r, &st);
	assert_int_equal(st.unblocks, 1);
	/* Its offences no longer block it; 10.10.0.5 offends and is blocked now. */
	vb_init(&b, &t, 0, K0 + 2);
	vb_add(&b, "192.0.2.77", JUDGE_SCAN, JUDGE__COUNT);
	vb_add(&b, "10.10.0.5", JUDGE_SCAN, JUDGE__COUNT);
	sink(r, &b);
	assert_false(lookup(db, "192.0.2.77").e.blocked);
	assert_true(lookup(db, "10.10.0.5").e.blocked);

	/* Off the list again: the next offence blocks it (and a third site's slot is taken). */
	reputation_config_defaults(&c2);
	assert_int_equal(reputation_exempt_set(r, t.s, 2, &c2), 0);
	vb_init(&b, &t, 1, K0 + 3);
	b.v.site_index = 2; /* a site a reload added after the open */
	vb_add(&b, "192.0.2.77", JUDGE_SCAN, JUDGE__COUNT);
	sink(r, &b);
	g = lookup(db, "192.0.2.77");
	assert_true(g.e.blocked);
	assert_false(g.e.exempt);
	/* 10.10.0.5 is campus's again (inside and allow-listed): unblocked. */
	g = lookup(db, "10.10.0.5");
	assert_false(g.e.blocked);
	assert_true(g.e.exempt);
	reputation_close(r);
}

/* min_offences: blocked at the second offending slot within the window only. */
static void test_min_offences(void **state)
{
	struct sites t;
	struct vb b;
	char db[300];

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	rcfg.min_offences = 2;
	rcfg.memory_s = 86400;
	path_in(db, sizeof(db), "min.db");
	struct reputation *r = rep_open(&t, db, NULL, NULL, false);
	vb_init(&b, &t, 0, K0);
	vb_add(&b, "198.51.100.9", JUDGE_SCAN, JUDGE__COUNT);
	sink(r, &b);
	b.v.site = &t.s[1];
	b.v.site_index = 1;
	sink(r, &b); /* the same slot elsewhere is not a second offence */
	assert_false(lookup(db, "198.51.100.9").e.blocked);
	b.v.time_slot = K0 + 2 * 24 * HOUR_SLOTS; /* beyond memory: counts from 1 again */
	sink(r, &b);
	assert_false(lookup(db, "198.51.100.9").e.blocked);
	b.v.time_slot += 1;
	sink(r, &b);
	assert_true(lookup(db, "198.51.100.9").e.blocked);
	reputation_close(r);
}

/*
 * A scripted fortnight of offences: run straight through, run with a
 * restart every few slots, and run twice into the same database (a replay
 * of what was already recorded): the three databases are the same.
 */
static void feed(struct reputation **r, const struct sites *t, const char *db, int restart_every,
                 int passes)
{
	static const char *ips[] = {"198.51.100.1", "198.51.100.2", "2001:db8:ff::3", "10.20.9.9"};
	struct vb b;
	int n = 0;

	for (int pass = 0; pass < passes; pass++)
		for (int64_t k = K0; k < K0 + 14 * 24 * HOUR_SLOTS; k += 5) {
			for (uint32_t site = 0; site < 2; site++) {
				vb_init(&b, t, site, k);
				for (int i = 0; i < 4; i++)
					if ((k / 5 + i * 7 + site * 3) % 41 == 0)
						vb_add(&b, ips[i],
						       i % 2 ? JUDGE_SCAN : JUDGE_NOPAYLOAD,
						       JUDGE_FLOOD, JUDGE__COUNT);
				sink(*r, &b);
			}
			if (restart_every && ++n % restart_every == 0) {
				reputation_close(*r);
				*r = rep_open(t, db, NULL, NULL, false);
			}
		}
}

static void test_restart_and_replay(void **state)
{
	struct sites t;
	char db[3][300];

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	rcfg.memory_s = 7 * 86400;
	path_in(db[0], sizeof(db[0]), "live.db");
	path_in(db[1], sizeof(db[1]), "restart.db");
	path_in(db[2], sizeof(db[2]), "twice.db");
	for (int i = 0; i < 3; i++) {
		struct reputation *r = rep_open(&t, db[i], NULL, NULL, false);
		feed(&r, &t, db[i], i == 1 ? 7 : 0, i == 2 ? 2 : 1);
		if (i == 2) {
			struct reputation_stats st;
			reputation_stats_get(r, &st);
			assert_true(st.offences_repeated > 0);
			assert_int_equal(st.offences_repeated, st.offences);
		}
		reputation_close(r);
	}
	char *a = dump(db[0]), *b = dump(db[1]), *c = dump(db[2]);
	assert_true(strlen(a) > 100);
	assert_non_null(strstr(a, "\"blocks\":"));
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	free(a);
	free(b);
	free(c);
}

/* ---- block-list ---------------------------------------------------------- */

struct poller {
	const char *path;
	atomic_bool stop;
	unsigned long reads, bad;
	char last_bad[256];
};

/* A reader polling the file: every read must be a whole block-list. */
static void *poll_main(void *arg)
{
	struct poller *p = arg;
	char buf[65536];

	while (!atomic_load(&p->stop)) {
		FILE *f = fopen(p->path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		p->reads++;
		long blocked = -1, lines = 0;
		const char *c = strstr(buf, "\n# ");
		c = c ? strstr(c + 1, "\n# ") : NULL;
		if (c)
			blocked = strtol(c + 3, NULL, 10);
		for (const char *q = buf; *q; q++)
			lines += *q == '\n';
		if (strncmp(buf, "# nfsentry block-list", 21) != 0 || n == 0 ||
		    buf[n - 1] != '\n' || lines != blocked + 3) {
			p->bad++;
			snprintf(p->last_bad, sizeof(p->last_bad), "%.200s", buf);
		}
	}
	return NULL;
}

static void test_blocklist_atomic(void **state)
{
	struct sites t;
	struct vb b;
	char db[300], bl[300];
	pthread_t th;

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "bl.db");
	path_in(bl, sizeof(bl), "blocklist.txt");
	struct reputation *r = rep_open(&t, db, bl, NULL, false);
	/* A first file, so the reader starts on something. */
	vb_init(&b, &t, 0, K0);
	sink(r, &b);
	struct poller p = {.path = bl};
	atomic_init(&p.stop, false);
	assert_int_equal(pthread_create(&th, NULL, poll_main, &p), 0);
	for (int i = 1; i < 300; i++) {
		vb_init(&b, &t, 0, K0 + i);
		/* Blocks come and go: an hour each, eight new ones a slot. */
		for (int j = 0; j < 8; j++) {
			char ip[32];
			snprintf(ip, sizeof(ip), "198.%d.%d.%d", 18 + j, i / 256, i % 256);
			vb_add(&b, ip, JUDGE_SCAN, JUDGE__COUNT);
		}
		sink(r, &b);
	}
	atomic_store(&p.stop, true);
	pthread_join(th, NULL);
	if (p.bad)
		fail_msg("%lu of %lu reads saw a partial block-list: %s", p.bad, p.reads,
		         p.last_bad);
	assert_true(p.reads > 10);

	/* The final file: the header and the 96 blocked addresses of the last hour. */
	FILE *f = fopen(bl, "r");
	char line[256];
	int n = 0;
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "# generated 2026-01-02T01:00:00Z (slot time)\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "# 96 blocked addresses"));
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	assert_int_equal(n, 96);
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.tmp", bl);
	assert_int_equal(access(tmp, F_OK), -1);
	struct reputation_stats st;
	reputation_stats_get(r, &st);
	assert_int_equal(st.blocklist_writes, 300);
	assert_int_equal(st.blocklist_errors, 0);
	reputation_close(r);
}

/* ---- hook --------------------------------------------------------------- */

static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	if (f) {
		size_t n = fread(buf, 1, 65535, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static void test_hook_run(void **state)
{
	char hook[300], out[300], body[1024];
	struct reputation_event ev = {
	    .block = true,
	    .ip = "198.51.100.7",
	    .reason = "scan 100 >= 10 at campus",
	    .labels = "scan,noPayload",
	    .sites = "campus,lab",
	    .duration_s = 3600,
	    .until_s = 1767229200,
	};
	int status;

	(void)state;
	path_in(hook, sizeof(hook), "hook.sh");
	path_in(out, sizeof(out), "hook.out");
	snprintf(body, sizeof(body),
	         "for a in \"$@\"; do echo \"arg=$a\"; done > %s\n"
	         "env | grep ^NFSENTRY_ | sort >> %s\n"
	         "read x && echo stdin-not-empty >> %s\n"
	         "exit 0",
	         out, out, out);
	write_script(hook, body);
	assert_int_equal(reputation_hook_run(hook, &ev, 5000, &status), 0);
	char *got = slurp(out);
	assert_string_equal(got, "arg=block\n"
	                         "arg=198.51.100.7\n"
	                         "arg=3600\n"
	                         "arg=scan 100 >= 10 at campus\n"
	                         "arg=scan,noPayload\n"
	                         "arg=campus,lab\n"
	                         "NFSENTRY_ACTION=block\n"
	                         "NFSENTRY_DURATION_S=3600\n"
	                         "NFSENTRY_IP=198.51.100.7\n"
	                         "NFSENTRY_LABELS=scan,noPayload\n"
	                         "NFSENTRY_REASON=scan 100 >= 10 at campus\n"
	                         "NFSENTRY_SITES=campus,lab\n"
	                         "NFSENTRY_UNTIL=2026-01-01T01:00:00Z\n");
	free(got);

	/* A failing hook: -ECHILD with its status. */
	write_script(hook, "exit 3");
	assert_int_equal(reputation_hook_run(hook, &ev, 5000, &status), -ECHILD);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);

	/* A hanging hook and what it started are killed at the time-out. */
	path_in(out, sizeof(out), "hook.child");
	snprintf(body, sizeof(body), "sleep 30 & echo $! > %s\nsleep 30", out);
	write_script(hook, body);
	uint64_t t0 = (uint64_t)time(NULL);
	assert_int_equal(reputation_hook_run(hook, &ev, 300, &status), -ETIMEDOUT);
	assert_true((uint64_t)time(NULL) - t0 < 5);
	got = slurp(out);
	pid_t child = (pid_t)strtol(got, NULL, 10);
	free(got);
	assert_true(child > 0);
	usleep(100000);
	/* Its process group went with it: gone, or a zombie waiting for init. */
	char proc[64], *stat;
	snprintf(proc, sizeof(proc), "/proc/%d/stat", (int)child);
	stat = slurp(proc);
	const char *paren = strrchr(stat, ')');
	if (paren)
		assert_int_equal(paren[2], 'Z');
	free(stat);

	/* A hook that is not there. */
	path_in(hook, sizeof(hook), "no-such-hook");
	assert_int_equal(reputation_hook_run(hook, &ev, 1000, &status), -ENOENT);
}

/* Through the module: block and unblock run the hook off the caller's thread. */
static void test_hook_module(void **state)
{
	struct sites t;
	struct vb b;
	char db[300], hook[300], out[300], body[600];

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "hookmod.db");
	path_in(hook, sizeof(hook), "hookmod.sh");
	path_in(out, sizeof(out), "hookmod.out");
	snprintf(body, sizeof(body),
	         "echo \"$1 $2 $3 $NFSENTRY_SITES\" >> %s\n[ \"$1\" = block ] && exit 1\nexit 0",
	         out);
	write_script(hook, body);
	snprintf(rcfg.hook, sizeof(rcfg.hook), "%s", hook);
	rcfg.hook_timeout_s = 5;
	struct reputation *r = rep_open(&t, db, NULL, NULL, true);
	vb_init(&b, &t, 1, K0);
	vb_add(&b, "198.51.100.7", JUDGE_ARPUNUSED, JUDGE__COUNT);
	sink(r, &b);
	vb_init(&b, &t, 0, K0 + HOUR_SLOTS);
	sink(r, &b);
	reputation_close(r); /* waits for the queued runs */
	char *got = slurp(out);
	assert_string_equal(got, "block 198.51.100.7 3600 lab\nunblock 198.51.100.7 3600 lab\n");
	free(got);

	/* Replay: run_hook false, nothing runs. */
	unlink(out);
	path_in(db, sizeof(db), "hookmod2.db");
	r = rep_open(&t, db, NULL, NULL, false);
	vb_init(&b, &t, 1, K0);
	vb_add(&b, "198.51.100.7", JUDGE_ARPUNUSED, JUDGE__COUNT);
	sink(r, &b);
	struct reputation_stats st;
	reputation_stats_get(r, &st);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(st.hook_runs, 0);
	reputation_close(r);
	assert_int_equal(access(out, F_OK), -1);
	rcfg.hook[0] = '\0';
}

/* Wait (at most 5 s) until the hook has finished n runs; their count. */
static uint64_t wait_runs(struct reputation *r, uint64_t n)
{
	struct reputation_stats st;
	reputation_stats_get(r, &st);
	for (int i = 0; i < 500 && st.hook_runs < n; i++) {
		usleep(10000);
		reputation_stats_get(r, &st);
	}
	return st.hook_runs;
}

/*
 * reputation_hook_set: a hook added to a module opened without one runs;
 * the next run takes a new program while a run in progress ends with its
 * own; "" queues and counts nothing.
 */
static void test_hook_set(void **state)
{
	struct sites t;
	struct vb b;
	char db[300], ha[300], hb[300], out[300], body[600];
	struct reputation_config nc;

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "hookset.db");
	path_in(ha, sizeof(ha), "hookset-a.sh");
	path_in(hb, sizeof(hb), "hookset-b.sh");
	path_in(out, sizeof(out), "hookset.out");
	unlink(out);
	snprintf(body, sizeof(body), "sleep 0.3\necho \"a $1 $2\" >> %s", out);
	write_script(ha, body);
	snprintf(body, sizeof(body), "echo \"b $1 $2\" >> %s", out);
	write_script(hb, body);
	rcfg.hook[0] = '\0';
	struct reputation *r = rep_open(&t, db, NULL, NULL, true);
	struct reputation_stats st;

	/* No program: the block is made, nothing runs or is counted. */
	vb_init(&b, &t, 1, K0);
	vb_add(&b, "198.51.100.1", JUDGE_ARPUNUSED, JUDGE__COUNT);
	sink(r, &b);
	reputation_stats_get(r, &st);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(st.hook_runs + st.hook_dropped, 0);

	/* Added later: it runs. */
	nc = rcfg;
	snprintf(nc.hook, sizeof(nc.hook), "%s", ha);
	nc.hook_timeout_s = 5;
	assert_int_equal(reputation_hook_set(r, &nc), 0);
	vb_init(&b, &t, 1, K0 + 1);
	vb_add(&b, "198.51.100.2", JUDGE_ARPUNUSED, JUDGE__COUNT);
	sink(r, &b);
	/* While a runs (it sleeps), b is set: the next run is b's. */
	usleep(100000);
	snprintf(nc.hook, sizeof(nc.hook), "%s", hb);
	assert_int_equal(reputation_hook_set(r, &nc), 0);
	vb_init(&b, &t, 1, K0 + 2);
	vb_add(&b, "198.51.100.3", JUDGE_ARPUNUSED, JUDGE__COUNT);
	sink(r, &b);
	assert_int_equal(wait_runs(r, 2), 2);

	/* "": nothing more is queued, run or counted. */
	nc.hook[0] = '\0';
	assert_int_equal(reputation_hook_set(r, &nc), 0);
	vb_init(&b, &t, 1, K0 + 3);
	vb_add(&b, "198.51.100.4", JUDGE_ARPUNUSED, JUDGE__COUNT);
	sink(r, &b);
	reputation_stats_get(r, &st);
	assert_int_equal(st.blocks, 4);
	assert_int_equal(st.hook_dropped, 0);
	reputation_close(r); /* waits for the queued runs */
	char *got = slurp(out);
	assert_string_equal(got, "a block 198.51.100.2\nb block 198.51.100.3\n");
	free(got);
	unlink(out);
}

/*
 * The hook's queue is allocated with the first program only: opened
 * without one, the first reputation_hook_set() with a program allocates it
 * (an allocation failure there is -ENOMEM and leaves no program, so a block
 * runs nothing), a later set allocates nothing; opened with a program, no
 * set allocates. The queued event still runs.
 */
static void test_hook_queue_alloc(void **state)
{
	struct sites t;
	struct vb b;
	char db[300], hook[300], out[300], body[400];
	struct reputation_config nc;
	struct reputation_stats st;

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "hookq.db");
	path_in(hook, sizeof(hook), "hookq.sh");
	path_in(out, sizeof(out), "hookq.out");
	unlink(out);
	snprintf(body, sizeof(body), "echo \"$1 $2\" >> %s", out);
	write_script(hook, body);
	rcfg.hook[0] = '\0';
	struct reputation *r = rep_open(&t, db, NULL, NULL, true);
	nc = rcfg;
	snprintf(nc.hook, sizeof(nc.hook), "%s", hook);
	nc.hook_timeout_s = 5;

	fault_arm(0, FAULT_ONCE);
	assert_int_equal(reputation_hook_set(r, &nc), -ENOMEM);
	fault_disarm();
	vb_init(&b, &t, 1, K0);
	vb_add(&b, "198.51.100.1", JUDGE_ARPUNUSED, JUDGE__COUNT);
	sink(r, &b);
	reputation_stats_get(r, &st);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(st.hook_runs + st.hook_dropped, 0);

	fault_arm(1000, FAULT_ONCE); /* counts, fails none */
	assert_int_equal(reputation_hook_set(r, &nc), 0);
	assert_int_equal(fault_count(), 1);
	assert_int_equal(reputation_hook_set(r, &nc), 0);
	assert_int_equal(fault_count(), 1);
	fault_disarm();
	vb_init(&b, &t, 1, K0 + 1);
	vb_add(&b, "198.51.100.2", JUDGE_ARPUNUSED, JUDGE__COUNT);
	sink(r, &b);
	assert_int_equal(wait_runs(r, 1), 1);
	reputation_close(r);
	char *got = slurp(out);
	assert_string_equal(got, "block 198.51.100.2\n");
	free(got);
	unlink(out);

	/* Opened with a program: its queue is there, a set allocates nothing. */
	snprintf(rcfg.hook, sizeof(rcfg.hook), "%s", hook);
	rcfg.hook_timeout_s = 5;
	r = rep_open(&t, db, NULL, NULL, true);
	fault_arm(1000, FAULT_ONCE);
	assert_int_equal(reputation_hook_set(r, &nc), 0);
	assert_int_equal(fault_count(), 0);
	fault_disarm();
	reputation_close(r);
	unlink(db);
}

static void test_hook_counters(void **state)
{
	struct sites t;
	struct vb b;
	char db[300], hook[300];

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "hookcnt.db");
	path_in(hook, sizeof(hook), "hookcnt.sh");
	write_script(hook, "[ \"$2\" = 198.51.100.1 ] && exit 2\n[ \"$2\" = 198.51.100.2 ] && "
	                   "sleep 10\nexit 0");
	snprintf(rcfg.hook, sizeof(rcfg.hook), "%s", hook);
	rcfg.hook_timeout_s = 1;
	struct reputation *r = rep_open(&t, db, NULL, NULL, true);
	vb_init(&b, &t, 0, K0);
	vb_add(&b, "198.51.100.1", JUDGE_SCAN, JUDGE__COUNT);
	vb_add(&b, "198.51.100.2", JUDGE_SCAN, JUDGE__COUNT);
	vb_add(&b, "198.51.100.3", JUDGE_SCAN, JUDGE__COUNT);
	sink(r, &b); /* returns at once: the hook runs on its own thread */
	struct reputation_stats st;
	reputation_stats_get(r, &st);
	assert_true(st.hook_runs < 3);
	/* The three runs: one fails, one is killed at 1 s, one succeeds. */
	for (int i = 0; i < 500 && st.hook_runs < 3; i++) {
		usleep(10000);
		reputation_stats_get(r, &st);
	}
	assert_int_equal(st.hook_runs, 3);
	assert_int_equal(st.hook_failures, 1);
	assert_int_equal(st.hook_timeouts, 1);
	assert_int_equal(st.hook_dropped, 0);
	reputation_close(r);
	rcfg.hook[0] = '\0';
	/* Hook failures leave the database as it was. */
	assert_true(lookup(db, "198.51.100.1").e.blocked);
	assert_true(lookup(db, "198.51.100.2").e.blocked);
}

/* ---- footprints --------------------------------------------------------- */

struct fpdocs {
	int n;
	json_t *docs[16];
};

static int fp_fn(void *ud, const struct store_doc *d)
{
	struct fpdocs *f = ud;
	if (f->n < 16)
		f->docs[f->n++] = json_loads(d->json, 0, NULL);
	return 0;
}

static struct flow rec(const char *exp, const char *src, const char *dst, uint16_t dport,
                       uint64_t export_ms)
{
	struct flow f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(flow_addr_parse(exp, &f.exporter), 0);
	assert_int_equal(flow_addr_parse(src, &f.src), 0);
	assert_int_equal(flow_addr_parse(dst, &f.dst), 0);
	f.dport = dport;
	f.sport = 40000;
	f.proto = 6;
	f.packets = 1;
	f.octets = 40;
	f.export_ms = export_ms;
	return f;
}

/* Campus (site 0) finds 198.51.100.7 scanning in slot K0; the lab's slot K0 completes it. */
static void fp_offence(struct reputation *r, struct sites *t)
{
	struct vb b;

	vb_init(&b, t, 0, K0);
	vb_add(&b, "198.51.100.7", JUDGE_SCAN, JUDGE__COUNT);
	sink(r, &b);
	vb_init(&b, t, 1, K0);
	sink(r, &b);
}

/*
 * Slot K0 + 1 (t1 a time in it) past its end and grace, both sites' slots
 * judged, r closed: the one footprint document stored for K0 + 1 (the
 * caller's to json_decref), the store left open in *st (the caller closes).
 */
static json_t *fp_close_one(struct reputation *r, struct sites *t, uint64_t t1, const char *store,
                            struct store **st)
{
	struct vb b;
	char err[256];

	reputation_clock(r, t1 + 300000 + 11000);
	for (uint32_t s = 0; s < 2; s++) {
		vb_init(&b, t, s, K0 + 1);
		sink(r, &b);
	}
	reputation_close(r);
	assert_int_equal(store_open(store, NULL, st, err, sizeof(err)), 0);
	struct fpdocs f = {0};
	assert_int_equal(store_doc_foreach(*st, REPUTATION_SITE, K0 + 1, "footprint", fp_fn, &f),
	                 0);
	assert_int_equal(f.n, 1);
	return f.docs[0];
}

static void test_footprint(void **state)
{
	struct sites t;
	char db[300], store[300];
	const uint64_t t1 = (uint64_t)(K0 + 1) * 300000 + 1000; /* slot K0 + 1 */

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "fp.db");
	path_in(store, sizeof(store), "fp-store.db");
	struct reputation *r = rep_open(&t, db, NULL, store, false);

	/* Before any offence nothing is watched: records are not summed. */
	struct flow pre = rec("192.0.2.1", "198.51.100.7", "10.10.1.1", 22, t1 - 300000);
	reputation_clock(r, t1 - 300000);
	reputation_records(r, &pre, 1);

	/* Campus finds the scanner in slot K0. */
	fp_offence(r, &t);

	/* Slot K0 + 1: the scanner, through another exporter, scans space of no site. */
	reputation_clock(r, t1);
	struct flow v[6] = {
	    rec("192.0.2.2", "198.51.100.7", "203.0.113.5", 22, t1),
	    rec("192.0.2.2", "198.51.100.7", "203.0.113.6", 23, t1),
	    rec("192.0.2.2", "198.51.100.7", "203.0.114.9", 22, t1),
	    rec("192.0.2.1", "198.51.100.7", "10.20.4.4", 22, t1),   /* the lab */
	    rec("192.0.2.2", "203.0.113.5", "198.51.100.7", 0, t1),  /* an answer */
	    rec("192.0.2.2", "198.51.100.8", "203.0.113.5", 22, t1), /* not watched */
	};
	v[4].sport = 22;
	v[4].dport = 40000;
	reputation_records(r, v, 6);
	/* Past K0 + 1's end and grace: it is handed to the worker. */
	struct store *st;
	json_t *doc = fp_close_one(r, &t, t1, store, &st);
	char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(
	    s,
	    "{\"@timestamp\":\"2026-01-01T00:05:00Z\",\"kind\":\"footprint\",\"site\":\"_network\","
	    "\"timeSlot\":5890753,\"ip\":\"198.51.100.7\","
	    "\"exporters\":[\"192.0.2.2\",\"192.0.2.1\"],\"exportersMore\":0,"
	    "\"prefixes\":[\"203.0.113.0/24\",\"203.0.114.0/24\",\"10.20.4.0/24\"],"
	    "\"prefixesMore\":0,\"noSitePrefixes\":[\"203.0.113.0/24\",\"203.0.114.0/24\"],"
	    "\"noSiteRecords\":4,\"sites\":[\"lab\"],\"ports\":[22,23],\"portsMore\":0,"
	    "\"protocols\":[6],\"sent\":{\"flows\":4,\"packets\":4,\"octets\":160},"
	    "\"received\":{\"flows\":1,\"packets\":1,\"octets\":40}}");
	free(s);
	json_decref(doc);

	/* Slot K0's network slot: the reputation document, no footprint (not yet watched). */
	struct fpdocs f = {0};
	assert_int_equal(store_doc_foreach(st, REPUTATION_SITE, K0, NULL, fp_fn, &f), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(json_string_value(json_object_get(f.docs[0], "kind")), "reputation");
	assert_int_equal(json_integer_value(json_object_get(f.docs[0], "offences")), 1);
	assert_true(json_is_true(json_object_get(f.docs[0], "blocked")));
	json_decref(f.docs[0]);
	store_close(st);
}

/*
 * A scanner that reaches more prefixes and ports than an entry holds: the
 * document lists the first REPUTATION_FP_PREFIXES prefixes and
 * REPUTATION_FP_PORTS ports in the order first seen (a hashed index finds
 * members; a plain first-seen list here is the reference), and counts every
 * record whose prefix or port did not fit (IPv4 /24s and IPv6 /48s mixed).
 */
static void test_footprint_caps(void **state)
{
	struct sites t;
	char db[300], store[300];
	const uint64_t t1 = (uint64_t)(K0 + 1) * 300000 + 1000;
	enum { N = 600 };

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(db, sizeof(db), "fpcap.db");
	path_in(store, sizeof(store), "fpcap-store.db");
	struct reputation *r = rep_open(&t, db, NULL, store, false);
	fp_offence(r, &t);
	reputation_clock(r, t1);

	static struct flow v[N];
	char pfx[REPUTATION_FP_PREFIXES][48], dst[64];
	uint16_t ports[REPUTATION_FP_PORTS];
	unsigned n_pfx = 0, n_ports = 0, pfx_more = 0, ports_more = 0;
	for (unsigned i = 0; i < N; i++) {
		char net[48];
		if (i % 10 == 3) {
			unsigned h = (i * 17) % 40;
			snprintf(dst, sizeof(dst), "2001:db8:%x::%x", h, i);
			snprintf(net, sizeof(net), "2001:db8:%x::/48", h);
		} else {
			unsigned o = (i * 37) % 100;
			snprintf(dst, sizeof(dst), "100.64.%u.%u", o, i % 250 + 1);
			snprintf(net, sizeof(net), "100.64.%u.0/24", o);
		}
		uint16_t port = (uint16_t)(1000 + (i * 13) % 50);
		v[i] = rec("192.0.2.2", "198.51.100.7", dst, port, t1);
		/* The reference: first seen first, a miss past the cap counted. */
		bool have = false;
		for (unsigned k = 0; k < n_pfx; k++)
			have |= strcmp(pfx[k], net) == 0;
		if (!have && n_pfx < REPUTATION_FP_PREFIXES)
			snprintf(pfx[n_pfx++], sizeof(pfx[0]), "%s", net);
		else if (!have)
			pfx_more++;
		have = false;
		for (unsigned k = 0; k < n_ports; k++)
			have |= ports[k] == port;
		if (!have && n_ports < REPUTATION_FP_PORTS)
			ports[n_ports++] = port;
		else if (!have)
			ports_more++;
	}
	assert_int_equal(n_pfx, REPUTATION_FP_PREFIXES); /* the case fills both */
	assert_int_equal(n_ports, REPUTATION_FP_PORTS);
	assert_true(pfx_more > 0 && ports_more > 0);
	for (unsigned i = 0; i < N; i += 30)
		reputation_records(r, v + i, 30);
	struct store *st;
	json_t *d = fp_close_one(r, &t, t1, store, &st);
	json_t *a = json_object_get(d, "prefixes"), *p = json_object_get(d, "ports");
	assert_int_equal(json_array_size(a), REPUTATION_FP_PREFIXES);
	for (unsigned k = 0; k < REPUTATION_FP_PREFIXES; k++)
		assert_string_equal(json_string_value(json_array_get(a, k)), pfx[k]);
	assert_int_equal(json_integer_value(json_object_get(d, "prefixesMore")), pfx_more);
	assert_int_equal(json_array_size(p), REPUTATION_FP_PORTS);
	for (unsigned k = 0; k < REPUTATION_FP_PORTS; k++)
		assert_int_equal(json_integer_value(json_array_get(p, k)), ports[k]);
	assert_int_equal(json_integer_value(json_object_get(d, "portsMore")), ports_more);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "sent"), "flows")),
	                 N);
	json_decref(d);
	store_close(st);
}

/* The watch list is capped; the cap is counted. */
static void test_watch_cap(void **state)
{
	struct sites t;
	struct vb b;
	char db[300];

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	rcfg.watch_max = 3;
	path_in(db, sizeof(db), "cap.db");
	struct reputation *r = rep_open(&t, db, NULL, NULL, false);
	vb_init(&b, &t, 0, K0);
	for (int i = 0; i < 5; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		vb_add(&b, ip, JUDGE_NOPAYLOAD, JUDGE__COUNT);
	}
	sink(r, &b);
	struct reputation_stats st;
	reputation_stats_get(r, &st);
	assert_int_equal(st.watched, 3);
	assert_int_equal(st.watch_over_cap, 1);
	reputation_close(r);

	/* The database's cap: new records beyond max_offenders are refused, counted. */
	rcfg.max_offenders = 4;
	path_in(db, sizeof(db), "cap2.db");
	r = rep_open(&t, db, NULL, NULL, false);
	sink(r, &b);
	b.v.time_slot++;
	sink(r, &b); /* known ones are still updated */
	reputation_stats_get(r, &st);
	assert_int_equal(st.offenders, 4);
	assert_int_equal(st.offenders_refused, 2);
	reputation_close(r);
	assert_int_equal(lookup(db, "198.51.100.4").e.offences, 2);
	assert_false(lookup(db, "198.51.100.5").found);
}

/*
 * Each allocation of opening failing in turn: -ENOMEM and nothing left
 * (ASan checks), or an open without a watch list yet; then every
 * allocation of a slot failing in turn: the slot is lost or partly
 * recorded, never a crash, and the next slot goes through whole.
 */
static void test_alloc_fail(void **state)
{
	struct sites t;
	struct vb b;
	char db[300], hook[300];
	struct reputation *r = NULL;
	unsigned long after;

	(void)state;
	sites_init(&t);
	reputation_config_defaults(&rcfg);
	path_in(hook, sizeof(hook), "true.sh");
	write_script(hook, "exit 0");
	snprintf(rcfg.hook, sizeof(rcfg.hook), "%s", hook);
	path_in(db, sizeof(db), "fault.db");
	struct reputation_opts o = {
	    .cfg = &rcfg, .sites = t.s, .n_sites = 2, .db_path = db, .run_hook = true};
	int failed = 0;
	for (after = 0;; after++) {
		char err[256];
		assert_true(after < 1000);
		fault_arm(after, FAULT_ONCE);
		int rc = reputation_open(&o, &r, err, sizeof(err));
		unsigned long seen = fault_count();
		fault_disarm();
		if (rc == 0 && seen <= after)
			break;
		if (rc == 0) {
			reputation_close(r);
			continue;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_null(r);
		failed++;
	}
	assert_true(failed >= 2); /* the module, the hook ring */
	for (after = 0; after < 200; after++) {
		vb_init(&b, &t, 0, K0 + (int64_t)after);
		vb_add(&b, "198.51.100.1", JUDGE_SCAN, JUDGE__COUNT);
		vb_add(&b, "198.51.100.2", JUDGE_FLOOD, JUDGE__COUNT);
		fault_arm(after, FAULT_STICKY);
		sink(r, &b);
		unsigned long seen = fault_count();
		fault_disarm();
		if (seen <= after)
			break;
	}
	assert_true(after > 2);
	vb_init(&b, &t, 0, K0 + 1000);
	vb_add(&b, "198.51.100.3", JUDGE_SCAN, JUDGE__COUNT);
	sink(r, &b);
	reputation_close(r);
	assert_true(lookup(db, "198.51.100.3").e.blocked);
	rcfg.hook[0] = '\0';
}

/* ---- the watch set (src/reputation/watch.h) ----------------------------- */

/*
 * Address i (< 2^20) of series `salt` (< 4096): v4, or v6 when v6 is set;
 * distinct for distinct (salt, i), never ::.
 */
static void addr_nth(uint32_t salt, size_t i, struct flow_addr *a, bool v6)
{
	uint32_t x = ((uint32_t)i ^ (salt << 20)) * 2654435761u; /* a bijection */
	uint64_t st = x;
	uint8_t b[16];

	for (int j = 0; j < 12; j++) {
		st = st * 6364136223846793005ull + 1442695040888963407ull;
		b[j] = (uint8_t)(st >> 56);
	}
	b[0] |= 0x20;
	b[12] = (uint8_t)(x >> 24);
	b[13] = (uint8_t)(x >> 16);
	b[14] = (uint8_t)(x >> 8);
	b[15] = (uint8_t)x;
	if (v6)
		flow_addr_from_v6(a, b);
	else
		flow_addr_from_v4(a, b + 12);
}

/*
 * Sets of 1 to 70 000 v4 and v6 addresses (growing the table on the way):
 * every address added passes the filter and is found (no false negative),
 * the filter has at least WATCH_FILTER_BITS bits per address in a power of
 * two words (its index's shift matching), and of 200 000 other
 * addresses none is found and at most 4 % get through the filter.
 */
static void test_watch_set_filter(void **state)
{
	static const size_t sizes[] = {1, 7, 1000, 10000, 70000};

	(void)state;
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t n = sizes[z];
		struct watch_set *w = watch_set_new(16);
		struct flow_addr a;

		assert_non_null(w);
		for (size_t i = 0; i < n; i++) {
			addr_nth(1 + (uint32_t)z, i, &a, i % 2 == 0);
			w = watch_set_add(w, &a);
			assert_non_null(w);
		}
		assert_int_equal(w->n, n);
		assert_true(w->mask + 1 >= 2 * n);
		assert_int_equal(watch_set_seal(w), 0);
		/* The smallest power of two words with WATCH_FILTER_BITS per address. */
		size_t need = (n * WATCH_FILTER_BITS + 63) / 64;
		assert_true(w->words >= need && w->words >= WATCH_FILTER_MIN_WORDS);
		assert_true(w->words / 2 < need || w->words == WATCH_FILTER_MIN_WORDS);
		assert_int_equal(w->words & (w->words - 1), 0);
		assert_int_equal((uint64_t)w->words << w->f.shift, 0);
		assert_int_equal((uint64_t)w->words << (w->f.shift - 1), 1ull << 63);
		for (size_t i = 0; i < n; i++) {
			addr_nth(1 + (uint32_t)z, i, &a, i % 2 == 0);
			assert_true(watch_filter_maybe(&w->f, watch_hash(&a)));
			assert_true(watch_set_has(w, &a));
		}
		size_t pass = 0, others = 200000;
		for (size_t i = 0; i < others; i++) {
			addr_nth(1000 + (uint32_t)z, i, &a, i % 4 == 0);
			pass += watch_filter_maybe(&w->f, watch_hash(&a));
			assert_false(watch_set_has(w, &a));
		}
		if (n >= 1000)
			assert_true(pass * 100 <= others * 4);
		watch_set_free(w);
	}
}

/* Address i of a run: v4 BASE + i, or v6 2001:db8:BASE:i::1 (i < 2^16). */
static void addr_run(uint32_t base, uint32_t i, struct flow_addr *a, bool v6)
{
	uint8_t b[16] = {0};

	if (v6) {
		b[0] = 0x20;
		b[1] = 0x01;
		b[2] = 0x0d;
		b[3] = 0xb8;
		b[4] = (uint8_t)(base >> 8);
		b[5] = (uint8_t)base;
		b[6] = (uint8_t)(i >> 8);
		b[7] = (uint8_t)i;
		b[15] = 1;
		flow_addr_from_v6(a, b);
	} else {
		uint32_t x = base + i;
		b[0] = (uint8_t)(x >> 24);
		b[1] = (uint8_t)(x >> 16);
		b[2] = (uint8_t)(x >> 8);
		b[3] = (uint8_t)x;
		flow_addr_from_v4(a, b);
	}
}

/*
 * Watched addresses that are consecutive (9 000 of 198.18.0.0/15 as the
 * benchmark has, 9 000 v6 /64s of one /48) and unwatched neighbours just as
 * regular (the rest of those runs, another /16, other /48s): every watched
 * one passes, at most 3 % of the neighbours do. The filter's hash must mix
 * a run's few changing bits as well as it mixes random ones.
 */
static void test_watch_set_filter_runs(void **state)
{
	const uint32_t v4base = 198u << 24 | 18u << 16;

	(void)state;
	for (int v6 = 0; v6 <= 1; v6++) {
		struct watch_set *w = watch_set_new(16);
		struct flow_addr a;
		uint32_t base = v6 ? 7 : v4base;

		for (uint32_t i = 0; i < 9000; i++) {
			addr_run(base, i, &a, v6);
			w = watch_set_add(w, &a);
			assert_non_null(w);
		}
		assert_int_equal(watch_set_seal(w), 0);
		for (uint32_t i = 0; i < 9000; i++) {
			addr_run(base, i, &a, v6);
			assert_true(watch_filter_maybe(&w->f, watch_hash(&a)));
		}
		size_t pass = 0, others = 0;
		for (uint32_t i = 9000; i < 65536; i++, others++) {
			addr_run(base, i, &a, v6);
			pass += watch_filter_maybe(&w->f, watch_hash(&a));
			assert_false(watch_set_has(w, &a));
		}
		for (uint32_t i = 0; i < 65536; i++, others++) {
			addr_run(v6 ? 8 : v4base + (2u << 16), i, &a, v6);
			pass += watch_filter_maybe(&w->f, watch_hash(&a));
		}
		assert_true(pass * 100 <= others * 3);
		watch_set_free(w);
	}
}

/* :: and repeats are not counted; an empty sealed set lets nothing through. */
static void test_watch_set_edges(void **state)
{
	struct watch_set *w = watch_set_new(0);
	struct flow_addr zero, a;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(flow_addr_parse("198.51.100.7", &a), 0);
	assert_non_null(w);
	assert_int_equal(watch_set_seal(w), 0);
	assert_int_equal(w->words, WATCH_FILTER_MIN_WORDS);
	assert_false(watch_filter_maybe(&w->f, watch_hash(&a)));
	assert_false(watch_set_has(w, &a));
	watch_set_free(w);

	w = watch_set_new(4);
	w = watch_set_add(w, &zero);
	w = watch_set_add(w, &a);
	w = watch_set_add(w, &a);
	assert_non_null(w);
	assert_int_equal(w->n, 1);
	assert_false(watch_set_has(w, &zero));
	assert_int_equal(watch_set_seal(w), 0);
	assert_true(watch_filter_maybe(&w->f, watch_hash(&a)));
	watch_set_free(w);
}

/*
 * The tags: from 16 buckets grown to 32 768 for 10 000 v4 and v6
 * addresses, every bucket with a key has the tag of its key's hash and no
 * empty bucket has one, so a probe may stop at the first tag 0 and skip
 * every key whose tag differs. Tags are never 0, whatever the hash.
 */
static void test_watch_set_tags(void **state)
{
	static const uint64_t hs[] = {0, 1, 0xffffull << 48, 0xfffeull << 48, UINT64_MAX};
	struct watch_set *w = watch_set_new(0);
	struct flow_addr a;
	size_t used = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
		assert_int_not_equal(watch_tag(hs[i]), 0);
	assert_int_equal(watch_tag(0x1234ull << 48), 0x1235);
	assert_non_null(w);
	for (size_t i = 0; i < 10000; i++) {
		addr_nth(9, i, &a, i % 3 == 0);
		w = watch_set_add(w, &a);
		assert_non_null(w);
	}
	assert_int_equal(w->n, 10000);
	assert_int_equal(w->mask + 1, 32768);
	for (size_t i = 0; i <= w->mask; i++) {
		if (!w->tag[i]) {
			struct flow_addr zero;
			memset(&zero, 0, sizeof(zero));
			assert_memory_equal(&w->key[i], &zero, sizeof(zero));
			continue;
		}
		used++;
		assert_int_equal(w->tag[i], watch_tag(rep_addr_hash(&w->key[i])));
	}
	assert_int_equal(used, w->n);
	for (size_t i = 0; i < 10000; i++) {
		addr_nth(9, i, &a, i % 3 == 0);
		assert_true(watch_set_has(w, &a));
	}
	for (size_t i = 0; i < 10000; i++) {
		addr_nth(10, i, &a, i % 3 == 0);
		assert_false(watch_set_has(w, &a));
	}
	watch_set_free(w);
}

/*
 * Out of memory: growing frees the set and returns NULL (ASan: nothing
 * leaked); sealing returns -ENOMEM and leaves the set unsealed and whole,
 * and a second seal then works.
 */
static void test_watch_set_alloc_fail(void **state)
{
	struct watch_set *w = watch_set_new(8);
	struct flow_addr a;

	(void)state;
	assert_non_null(w);
	for (size_t i = 0; i < 8; i++) {
		addr_nth(7, i, &a, false);
		w = watch_set_add(w, &a);
	}
	assert_non_null(w);
	assert_int_equal(w->mask + 1, 16);
	fault_arm(0, FAULT_ONCE);
	assert_int_equal(watch_set_seal(w), -ENOMEM);
	fault_disarm();
	assert_null(w->mem);
	assert_int_equal(w->n, 8);
	assert_true(watch_set_has(w, &a));
	assert_int_equal(watch_set_seal(w), 0);
	assert_true(watch_filter_maybe(&w->f, watch_hash(&a)));
	watch_set_free(w);

	w = watch_set_new(8);
	for (size_t i = 0; i < 8; i++) {
		addr_nth(7, i, &a, false);
		w = watch_set_add(w, &a);
	}
	addr_nth(7, 8, &a, false);
	fault_arm(0, FAULT_STICKY); /* the ninth grows the table: 16 -> 32 buckets */
	w = watch_set_add(w, &a);
	fault_disarm();
	assert_null(w);

	/* A new set's second allocation (the keys after the tags) fails. */
	fault_arm(1, FAULT_ONCE);
	assert_null(watch_set_new(8));
	fault_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escalation),
	    cmocka_unit_test(test_never_blocked),
	    cmocka_unit_test(test_min_offences),
	    cmocka_unit_test(test_restart_and_replay),
	    cmocka_unit_test(test_blocklist_atomic),
	    cmocka_unit_test(test_hook_run),
	    cmocka_unit_test(test_hook_module),
	    cmocka_unit_test(test_hook_counters),
	    cmocka_unit_test(test_footprint),
	    cmocka_unit_test(test_footprint_caps),
	    cmocka_unit_test(test_watch_cap),
	    cmocka_unit_test(test_alloc_fail),
	    cmocka_unit_test(test_unlabelled_not_recorded),
	    cmocka_unit_test(test_exempt_reload),
	    cmocka_unit_test(test_watch_set_filter),
	    cmocka_unit_test(test_watch_set_edges),
	    cmocka_unit_test(test_watch_set_alloc_fail),
	    cmocka_unit_test(test_hook_set),
	    cmocka_unit_test(test_watch_set_filter_runs),
	    cmocka_unit_test(test_watch_set_tags),
	    cmocka_unit_test(test_hook_queue_alloc),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
