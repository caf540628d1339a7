/*
 * Unit tests for src/core/counter.c: values and periods read through a
 * table, the doc_counter list, the "name=value" line and the Prometheus
 * text, each against exact expected output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nfsentry/alert.h"
#include "nfsentry/attack.h"
#include "nfsentry/attacklive.h"
#include "nfsentry/closer.h"
#include "nfsentry/counter.h"
#include "nfsentry/decoder.h"
#include "nfsentry/doc.h"
#include "nfsentry/engine.h"
#include "nfsentry/es.h"
#include "nfsentry/l2.h"
#include "nfsentry/pcapin.h"
#include "nfsentry/pipeline.h"
#include "nfsentry/store.h"
#include "nfsentry/udpin.h"

struct demo_stats {
	uint32_t pad; /* offsets must be taken, not assumed */
	uint64_t datagrams;
	uint64_t queue_now;
	uint64_t drops[2];
	uint64_t demo_restarts;
};

static const struct counter_def demo_defs[] = {
    COUNTER_DEF(demo_stats, datagrams, "datagrams", COUNTER_TOTAL, "Datagrams received."),
    COUNTER_DEF(demo_stats, queue_now, "queueNow", COUNTER_GAUGE, "Slots queued now."),
    COUNTER_DEF(demo_stats, drops[0], "shortHeader", COUNTER_TOTAL, "Datagrams too short."),
    COUNTER_DEF(demo_stats, drops[1], "datagramsV5", COUNTER_TOTAL, "NetFlow v5 datagrams."),
    COUNTER_DEF(demo_stats, demo_restarts, "demoRestarts", COUNTER_TOTAL, "Restarts seen."),
};
static const struct counter_table demo_table = COUNTER_TABLE("demo", demo_defs, demo_stats);

static const struct demo_stats before = {7, 10, 3, {1, 0}, 2};
static const struct demo_stats after = {9, 25, 5, {1, 4}, 2};

static void test_table_shape(void **state)
{
	(void)state;
	assert_int_equal(demo_table.n, 5);
	assert_int_equal(demo_table.stats_bytes, sizeof(struct demo_stats));
	assert_int_equal(demo_defs[3].offset, offsetof(struct demo_stats, drops) + 8);
}

static void test_get_and_period(void **state)
{
	(void)state;
	assert_int_equal(counter_get(&demo_table, 0, &after), 25);
	assert_int_equal(counter_get(&demo_table, 3, &after), 4);
	/* A counter's period is the delta, a gauge's the current value. */
	assert_int_equal(counter_period(&demo_table, 0, &after, &before), 15);
	assert_int_equal(counter_period(&demo_table, 1, &after, &before), 5);
	assert_int_equal(counter_period(&demo_table, 3, &after, &before), 4);
	assert_int_equal(counter_period(&demo_table, 4, &after, &before), 0);
	/* No previous snapshot: the total since start. */
	assert_int_equal(counter_period(&demo_table, 0, &after, NULL), 25);
}

static void test_list(void **state)
{
	struct doc_counter out[8];

	(void)state;
	memset(out, 0, sizeof(out));
	assert_int_equal(counter_list(&demo_table, &after, &before, out, 8), 5);
	assert_string_equal(out[0].name, "datagrams");
	assert_int_equal(out[0].value, 15);
	assert_string_equal(out[1].name, "queueNow");
	assert_int_equal(out[1].value, 5);
	assert_string_equal(out[2].name, "shortHeader");
	assert_int_equal(out[2].value, 0);
	assert_string_equal(out[3].name, "datagramsV5");
	assert_int_equal(out[3].value, 4);
	assert_string_equal(out[4].name, "demoRestarts");
	assert_int_equal(out[4].value, 0);
	/* max cuts the list and nothing is written beyond it. */
	memset(out, 0, sizeof(out));
	assert_int_equal(counter_list(&demo_table, &after, NULL, out, 2), 2);
	assert_int_equal(out[0].value, 25);
	assert_null(out[2].name);
}

static void test_format(void **state)
{
	char buf[128];

	(void)state;
	size_t n = counter_format(&demo_table, &after, &before, 0, buf, sizeof(buf));
	assert_string_equal(buf,
	                    "datagrams=15 queueNow=5 shortHeader=0 datagramsV5=4 demoRestarts=0");
	assert_int_equal(n, strlen(buf));
	n = counter_format(&demo_table, &after, &before, COUNTER_NONZERO, buf, sizeof(buf));
	assert_string_equal(buf, "datagrams=15 queueNow=5 datagramsV5=4");
	n = counter_format(&demo_table, &after, NULL, COUNTER_NONZERO, buf, sizeof(buf));
	assert_string_equal(buf,
	                    "datagrams=25 queueNow=5 shortHeader=1 datagramsV5=4 demoRestarts=2");
	/* Cut: the length of the whole line, a terminated prefix in buf. */
	n = counter_format(&demo_table, &after, NULL, COUNTER_NONZERO, buf, 10);
	assert_int_equal(n, strlen("datagrams=25 queueNow=5 shortHeader=1 datagramsV5=4 "
	                           "demoRestarts=2"));
	assert_string_equal(buf, "datagrams");
	/* Nothing to say: an empty line. */
	struct demo_stats zero = {0};
	n = counter_format(&demo_table, &zero, NULL, COUNTER_NONZERO, buf, sizeof(buf));
	assert_int_equal(n, 0);
	assert_string_equal(buf, "");
}

static void test_prom_name(void **state)
{
	char buf[128];

	(void)state;
	counter_prom_name(&demo_table, 0, buf, sizeof(buf));
	assert_string_equal(buf, "nfsentry_demo_datagrams_total");
	counter_prom_name(&demo_table, 1, buf, sizeof(buf));
	assert_string_equal(buf, "nfsentry_demo_queue_now");
	counter_prom_name(&demo_table, 3, buf, sizeof(buf));
	assert_string_equal(buf, "nfsentry_demo_datagrams_v5_total");
	/* The module is not repeated. */
	size_t n = counter_prom_name(&demo_table, 4, buf, sizeof(buf));
	assert_string_equal(buf, "nfsentry_demo_restarts_total");
	assert_int_equal(n, strlen(buf));
	/* Only a whole word is the module: "demonstrations" keeps its name. */
	static const struct counter_def d[] = {
	    COUNTER_DEF(demo_stats, datagrams, "demonstrations", COUNTER_GAUGE, "x")};
	static const struct counter_table t = COUNTER_TABLE("demo", d, demo_stats);
	counter_prom_name(&t, 0, buf, sizeof(buf));
	assert_string_equal(buf, "nfsentry_demo_demonstrations");
}

static void test_prom_format(void **state)
{
	char buf[1024];
	static const char want[] = "# HELP nfsentry_demo_datagrams_total Datagrams received.\n"
	                           "# TYPE nfsentry_demo_datagrams_total counter\n"
	                           "nfsentry_demo_datagrams_total 25\n"
	                           "# HELP nfsentry_demo_queue_now Slots queued now.\n"
	                           "# TYPE nfsentry_demo_queue_now gauge\n"
	                           "nfsentry_demo_queue_now 5\n"
	                           "# HELP nfsentry_demo_short_header_total Datagrams too short.\n"
	                           "# TYPE nfsentry_demo_short_header_total counter\n"
	                           "nfsentry_demo_short_header_total 1\n"
	                           "# HELP nfsentry_demo_datagrams_v5_total NetFlow v5 datagrams.\n"
	                           "# TYPE nfsentry_demo_datagrams_v5_total counter\n"
	                           "nfsentry_demo_datagrams_v5_total 4\n"
	                           "# HELP nfsentry_demo_restarts_total Restarts seen.\n"
	                           "# TYPE nfsentry_demo_restarts_total counter\n"
	                           "nfsentry_demo_restarts_total 2\n";

	(void)state;
	size_t n = counter_prom_format(&demo_table, &after, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
	/* Too small: the needed length, a terminated prefix. */
	n = counter_prom_format(&demo_table, &after, buf, 20);
	assert_int_equal(n, strlen(want));
	assert_int_equal(strlen(buf), 19);
	assert_memory_equal(buf, want, 19);
	/* Sizing call. */
	assert_int_equal(counter_prom_format(&demo_table, &after, NULL, 0), strlen(want));
}

/*
 * Every module's table: names lower camelCase and unique over all tables
 * (they share the "collector" object and /metrics), offsets inside the
 * struct and distinct, help one line, Prometheus names distinct.
 */
static void test_module_tables(void **state)
{
	const struct counter_table *all[] = {
	    &decoder_counters,  &engine_counters, &udpin_counters,  &pcapin_counters,
	    &store_counters,    &es_counters,     &closer_counters, &l2_parse_counters,
	    &l2_merge_counters, &alert_counters,  &attack_counters, &attack_live_counters,
	};
	const size_t n_all = sizeof(all) / sizeof(all[0]);
	static char prom[256][128];
	size_t n_prom = 0;

	(void)state;
	for (size_t a = 0; a < n_all; a++) {
		const struct counter_table *t = all[a];
		assert_true(t->n > 0);
		for (const char *p = t->module; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'));
		for (size_t i = 0; i < t->n; i++) {
			const struct counter_def *d = &t->v[i];
			assert_true(d->name[0] >= 'a' && d->name[0] <= 'z');
			for (const char *p = d->name; *p; p++)
				assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				            (*p >= '0' && *p <= '9'));
			assert_true(d->offset + sizeof(uint64_t) <= t->stats_bytes);
			assert_true(d->help[0] != '\0');
			assert_null(strchr(d->help, '\n'));
			assert_null(strchr(d->help, '\\'));
			assert_true(d->kind == COUNTER_TOTAL || d->kind == COUNTER_GAUGE);
			for (size_t j = 0; j < i; j++)
				assert_int_not_equal(d->offset, t->v[j].offset);
			for (size_t b = 0; b <= a; b++)
				for (size_t j = 0; j < (b == a ? i : all[b]->n); j++)
					assert_string_not_equal(d->name, all[b]->v[j].name);
			assert_true(n_prom < 256);
			assert_true(counter_prom_name(t, i, prom[n_prom], sizeof(prom[0])) <
			            sizeof(prom[0]));
			for (size_t j = 0; j < n_prom; j++)
				assert_string_not_equal(prom[n_prom], prom[j]);
			n_prom++;
		}
	}
	/* A few names as the documents and /metrics spell them. */
	char buf[128];
	counter_prom_name(&udpin_counters, 4, buf, sizeof(buf));
	assert_string_equal(buf, "nfsentry_udp_kernel_drops_total");
	counter_prom_name(&es_counters, 6, buf, sizeof(buf));
	assert_string_equal(buf, "nfsentry_es_backlog_slots");
	counter_prom_name(&decoder_counters, 8, buf, sizeof(buf));
	assert_string_equal(buf, "nfsentry_decoder_exporters");
}

/*
 * The collector object of run's slot documents: the decoder's, the
 * engine's and the attack detector's counters (pipeline_create()), the UDP
 * listeners' and the shipper's (run) must fit PIPELINE_COUNTERS_MAX, or the
 * shipper's source is refused at start.
 */
static void test_collector_budget(void **state)
{
	(void)state;
	size_t n = decoder_counters.n + engine_counters.n + attack_counters.n + udpin_counters.n +
	           es_counters.n;
	assert_true(n <= PIPELINE_COUNTERS_MAX);
	assert_true(PIPELINE_COUNTERS_MAX <= CLOSER_HEALTH_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_shape),   cmocka_unit_test(test_get_and_period),
	    cmocka_unit_test(test_list),          cmocka_unit_test(test_format),
	    cmocka_unit_test(test_prom_name),     cmocka_unit_test(test_prom_format),
	    cmocka_unit_test(test_module_tables), cmocka_unit_test(test_collector_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
