/*
 * alert: the warn line per labelled IP, the JSON summary and its rate limit
 * per (site, ip, label) in slot time, and the hook: its standard input, the
 * time-out (the process group killed, counted), failures counted, the
 * bounded queue, and a reload's hook and rate limit (alert_config_set).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nfsentry/alert.h"
#include "nfsentry/log.h"
#include "slot_helpers.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A finished slot of "campus" at time_slot: 10.0.0.1 labelled fanout
 * (12 >= 8) and scanOut (300 >= 250), 198.51.100.3 labelled flood (an
 * offender, 5000.5 >= 1000), 10.0.0.2 unlabelled.
 */
static struct slot *labelled_slot(const struct site_config *site, int64_t ts)
{
	struct slot *s = slot_create(site, 0, ts, 1);
	struct slot_view *v;
	struct flow f;
	long i1, o3;

	assert_non_null(s);
	f = mkflow("10.0.0.1", "198.51.100.1", TCP, 1000, 80, ACK, 3, 300, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	f = mkflow("10.0.0.2", "198.51.100.3", UDP, 53, 53, 0, 1, 50, T0_MS);
	slot_add(s, SLOT_EGRESS, &f);
	assert_non_null(slot_finish(s));
	v = slot_view_mut(s);
	v->labels = calloc(3, sizeof(*v->labels)); /* the slot frees it */
	assert_non_null(v->labels);
	v->n_labels = v->cap_labels = 3;
	v->labels[0] = (struct slot_label){JUDGE_FANOUT, 12, 8};
	v->labels[1] = (struct slot_label){JUDGE_SCANOUT, 300, 250};
	v->labels[2] = (struct slot_label){JUDGE_FLOOD, 5000.5, 1000};
	i1 = find_inside(v, "10.0.0.1");
	o3 = find_outside(v, "198.51.100.3");
	assert_true(i1 >= 0 && o3 >= 0);
	v->inside[i1].n_labels = 2;
	v->inside[i1].label_first = 0;
	v->outside[o3].n_labels = 1;
	v->outside[o3].label_first = 2;
	v->outside[o3].in_c = true;
	return s;
}

static void test_summary_and_rate_limit(void **state)
{
	(void)state;
	struct site_config site;
	struct alert_config c;
	struct alerter *a;
	struct alert_stats st;
	struct slot *s;
	char *sum;

	test_site(&site);
	alert_config_defaults(&c);
	c.rate_limit_s = 900; /* three slots */
	assert_int_equal(alert_start(&c, &a), 0);
	s = labelled_slot(&site, 5890752);
	assert_int_equal(alert_summary(a, slot_view_mut(s), &sum), 0);
	assert_non_null(sum);
	assert_string_equal(
	    sum,
	    "{\"site\":\"campus\",\"timeSlot\":5890752,\"@timestamp\":\"2026-01-01T00:00:00Z\","
	    "\"verdicts\":[\n"
	    "{\"ip\":\"10.0.0.1\",\"kind\":\"inside\",\"labels\":[\"fanout\",\"scanOut\"],"
	    "\"figures\":{\"fanout\":{\"value\":12,\"threshold\":8},"
	    "\"scanOut\":{\"value\":300,\"threshold\":250}}},\n"
	    "{\"ip\":\"198.51.100.3\",\"kind\":\"offender\",\"labels\":[\"flood\"],"
	    "\"figures\":{\"flood\":{\"value\":5000.5,\"threshold\":1000}}}\n"
	    "],\"omitted\":0}\n");
	free(sum);
	/* The same verdicts again within 900 s of slot time: nothing new. */
	assert_int_equal(alert_summary(a, slot_view_mut(s), &sum), 0);
	assert_null(sum);
	slot_destroy(s);
	s = labelled_slot(&site, 5890754);          /* 600 s later */
	slot_view_mut(s)->labels[1].id = JUDGE_P2P; /* a new label for 10.0.0.1 */
	assert_int_equal(alert_summary(a, slot_view_mut(s), &sum), 0);
	assert_non_null(sum);
	assert_non_null(strstr(sum, "\"labels\":[\"p2p\"],\"figures\":{\"p2p\":"));
	assert_null(strstr(sum, "fanout"));
	assert_null(strstr(sum, "flood"));
	free(sum);
	slot_destroy(s);
	s = labelled_slot(&site, 5890755); /* 900 s after the first: sent again */
	assert_int_equal(alert_summary(a, slot_view_mut(s), &sum), 0);
	assert_non_null(sum);
	assert_non_null(strstr(sum, "\"labels\":[\"fanout\",\"scanOut\"]"));
	assert_non_null(strstr(sum, "\"labels\":[\"flood\"]"));
	free(sum);
	slot_destroy(s);
	alert_stats_get(a, &st);
	assert_int_equal(st.verdicts, 3 + 1 + 3);
	assert_int_equal(st.rate_limited, 3 + 2);
	alert_stop(a);
}

/* Run f with standard error going to a file; returns what was written (caller frees). */
static char *capture_stderr(void (*f)(void *), void *arg)
{
	char path[] = "/tmp/nfsentry-alert-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *buf = calloc(1, 65536);

	assert_true(fd >= 0 && saved >= 0 && buf);
	fflush(stderr);
	dup2(fd, 2);
	f(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_true(pread(fd, buf, 65535, 0) >= 0);
	close(fd);
	unlink(path);
	return buf;
}

struct sink_call {
	struct alerter *a;
	struct slot *s;
};

static void call_sink(void *arg)
{
	struct sink_call *k = arg;
	struct judge_result jr = {0};

	alert_sink(k->a, slot_view_mut(k->s), &jr, NULL);
}

static void test_warn_lines(void **state)
{
	(void)state;
	struct site_config site;
	struct alert_config c;
	struct sink_call k;
	struct alert_stats st;
	char *log;

	test_site(&site);
	alert_config_defaults(&c);
	assert_int_equal(alert_start(&c, &k.a), 0);
	k.s = labelled_slot(&site, 5890752);
	log = capture_stderr(call_sink, &k);
	assert_non_null(strstr(log, "warn: alert: site=campus slot=5890752 kind=inside ip=10.0.0.1 "
	                            "labels=fanout,scanOut fanout.value=12 fanout.threshold=8 "
	                            "scanOut.value=300 scanOut.threshold=250\n"));
	assert_non_null(strstr(log, "warn: alert: site=campus slot=5890752 kind=offender "
	                            "ip=198.51.100.3 labels=flood flood.value=5000.5 "
	                            "flood.threshold=1000\n"));
	assert_null(strstr(log, "10.0.0.2"));
	free(log);
	alert_stats_get(k.a, &st);
	assert_int_equal(st.logged, 2);
	assert_int_equal(st.summaries, 0); /* no hook, no summary */
	slot_destroy(k.s);
	alert_stop(k.a);
}

static void hook_config(struct alert_config *c, const char *script, uint32_t timeout_s)
{
	alert_config_defaults(c);
	snprintf(c->hook[0], ALERT_ARG_MAX, "/bin/sh");
	snprintf(c->hook[1], ALERT_ARG_MAX, "-c");
	snprintf(c->hook[2], ALERT_ARG_MAX, "%s", script);
	c->n_hook = 3;
	c->timeout_s = timeout_s;
	c->rate_limit_s = 0;
}

static void test_hook_gets_the_summary(void **state)
{
	(void)state;
	struct site_config site;
	struct alert_config c;
	struct sink_call k;
	struct alert_stats st;
	char dir[] = "/tmp/nfsentry-alert-XXXXXX", script[256], path[128], got[4096] = {0};
	char *want;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/in.json", dir);
	snprintf(script, sizeof(script), "cat > %s", path);
	test_site(&site);
	hook_config(&c, script, 10);
	assert_int_equal(alert_start(&c, &k.a), 0);
	k.s = labelled_slot(&site, 5890752);
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_true(fread(got, 1, sizeof(got) - 1, fp) > 0);
	fclose(fp);
	assert_int_equal(alert_summary(k.a, slot_view_mut(k.s), &want), 0); /* limit 0: again */
	assert_string_equal(got, want);
	free(want);
	alert_stats_get(k.a, &st);
	assert_int_equal(st.summaries, 1);
	assert_int_equal(st.hook_runs, 1);
	assert_int_equal(st.hook_ok, 1);
	assert_int_equal(st.hook_failures + st.hook_timeouts, 0);
	slot_destroy(k.s);
	alert_stop(k.a);
	unlink(path);
	rmdir(dir);
}

/* Lines in path (0 when it does not exist). */
static int count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	int n = 0, ch;

	if (!fp)
		return 0;
	while ((ch = fgetc(fp)) != EOF)
		n += ch == '\n';
	fclose(fp);
	return n;
}

/*
 * A reload's alerts: a hook added to an alerter started without one runs
 * from the next slot; another hook replaces it; the rate limit set to 0
 * lets the same verdicts through again; without a hook again, no summary.
 * An invalid configuration changes nothing.
 */
static void test_config_set(void **state)
{
	(void)state;
	struct site_config site;
	struct alert_config c;
	struct sink_call k;
	struct alert_stats st;
	char dir[] = "/tmp/nfsentry-alert-XXXXXX", script[256], one[128], two[128];

	assert_non_null(mkdtemp(dir));
	snprintf(one, sizeof(one), "%s/one", dir);
	snprintf(two, sizeof(two), "%s/two", dir);
	test_site(&site);
	alert_config_defaults(&c);
	assert_int_equal(alert_start(&c, &k.a), 0);
	k.s = labelled_slot(&site, 5890752);
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	alert_stats_get(k.a, &st);
	assert_int_equal(st.summaries, 0);

	snprintf(script, sizeof(script), "cat >/dev/null; echo run >> %s", one);
	hook_config(&c, script, 10);
	c.rate_limit_s = 3600;
	assert_int_equal(alert_config_set(k.a, &c), 0);
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	assert_int_equal(count_lines(one), 1);
	/* The same verdicts again within the rate limit: nothing to send. */
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	alert_stats_get(k.a, &st);
	assert_int_equal(st.summaries, 1);
	assert_int_equal(st.rate_limited, 3);

	/* Another hook, and no rate limit: the next slot's verdicts go to it. */
	snprintf(script, sizeof(script), "cat >/dev/null; echo run >> %s", two);
	hook_config(&c, script, 10);
	c.rate_limit_s = 0;
	assert_int_equal(alert_config_set(k.a, &c), 0);
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	assert_int_equal(count_lines(one), 1);
	assert_int_equal(count_lines(two), 1);

	/* Invalid (a relative program): refused, the hook in force stays. */
	struct alert_config bad = c;
	snprintf(bad.hook[0], ALERT_ARG_MAX, "sh");
	assert_int_equal(alert_config_set(k.a, &bad), -EINVAL);
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	assert_int_equal(count_lines(two), 2);

	/* No hook: no summary any more. */
	alert_config_defaults(&c);
	assert_int_equal(alert_config_set(k.a, &c), 0);
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	alert_stats_get(k.a, &st);
	assert_int_equal(st.summaries, 3);
	assert_int_equal(st.hook_ok, 3);
	slot_destroy(k.s);
	alert_stop(k.a);
	unlink(one);
	unlink(two);
	rmdir(dir);
}

static void test_hook_timeout_and_failures(void **state)
{
	(void)state;
	struct site_config site;
	struct alert_config c;
	struct sink_call k;
	struct alert_stats st;
	char dir[] = "/tmp/nfsentry-alert-XXXXXX", script[256], path[128];
	uint64_t t0, dt;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/late", dir);
	test_site(&site);
	/* Sleeps past the time-out in a child of the shell: the whole group is killed. */
	snprintf(script, sizeof(script), "cat >/dev/null; (sleep 3; touch %s) & wait", path);
	hook_config(&c, script, 1);
	assert_int_equal(alert_start(&c, &k.a), 0);
	k.s = labelled_slot(&site, 5890752);
	t0 = mono_ms();
	free(capture_stderr(call_sink, &k));
	assert_true(mono_ms() - t0 < 500); /* the sink never waits for the hook */
	alert_flush(k.a);
	dt = mono_ms() - t0;
	assert_true(dt >= 900 && dt < 3000);
	alert_stats_get(k.a, &st);
	assert_int_equal(st.hook_runs, 1);
	assert_int_equal(st.hook_timeouts, 1);
	assert_int_equal(st.hook_ok + st.hook_failures, 0);
	alert_stop(k.a);
	sleep(4);
	assert_int_equal(access(path, F_OK), -1); /* the sleeping child died with the group */

	/* Exits non-zero; cannot start. */
	hook_config(&c, "exit 3", 5);
	assert_int_equal(alert_start(&c, &k.a), 0);
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	alert_stats_get(k.a, &st);
	assert_int_equal(st.hook_failures, 1);
	alert_stop(k.a);
	hook_config(&c, "", 5);
	snprintf(c.hook[0], ALERT_ARG_MAX, "/nonexistent/hook");
	c.n_hook = 1;
	assert_int_equal(alert_start(&c, &k.a), 0);
	free(capture_stderr(call_sink, &k));
	alert_flush(k.a);
	alert_stats_get(k.a, &st);
	assert_int_equal(st.hook_failures, 1);
	assert_int_equal(st.hook_ok, 0);
	alert_stop(k.a);

	/* A program that is not an absolute path is refused. */
	snprintf(c.hook[0], ALERT_ARG_MAX, "sh");
	assert_int_equal(alert_start(&c, &k.a), -EINVAL);
	slot_destroy(k.s);
	rmdir(dir);
}

static void test_queue_bounded(void **state)
{
	(void)state;
	struct site_config site;
	struct alert_config c;
	struct sink_call k;
	struct alert_stats st;

	test_site(&site);
	hook_config(&c, "cat >/dev/null; sleep 0.3", 5);
	assert_int_equal(alert_start(&c, &k.a), 0);
	k.s = labelled_slot(&site, 5890752);
	for (int i = 0; i < ALERT_QUEUE_MAX + 4; i++)
		free(capture_stderr(call_sink, &k));
	alert_stats_get(k.a, &st);
	/* One running, ALERT_QUEUE_MAX waiting, the rest dropped (at least 3). */
	assert_true(st.queue_dropped >= 3);
	assert_int_equal(st.summaries + st.queue_dropped, ALERT_QUEUE_MAX + 4);
	alert_stop(k.a); /* runs what is queued */
	slot_destroy(k.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_summary_and_rate_limit),
	    cmocka_unit_test(test_warn_lines),
	    cmocka_unit_test(test_hook_gets_the_summary),
	    cmocka_unit_test(test_hook_timeout_and_failures),
	    cmocka_unit_test(test_queue_bounded),
	    cmocka_unit_test(test_config_set),
	};

	log_init(LOG_LVL_INFO, false, "test");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
