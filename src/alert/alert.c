/*
 * alert: warn lines per labelled IP, the rate-limited JSON summary of a
 * slot's new verdicts, and the hook thread that hands it to a command
 * (alert.h, docs/alerts.md).
 */
#include "nfsentry/alert.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/flow.h"
#include "nfsentry/log.h"

extern char **environ;

/* clang-format off */
static const struct counter_def alert_counter_defs[] = {
	COUNTER_DEF(alert_stats, logged, "alertsLogged", COUNTER_TOTAL,
	            "Warn lines written, one per labelled IP of a closed slot."),
	COUNTER_DEF(alert_stats, log_suppressed, "alertsLogSuppressed", COUNTER_TOTAL,
	            "Labelled IPs past the per-slot limit of warn lines."),
	COUNTER_DEF(alert_stats, verdicts, "alertVerdicts", COUNTER_TOTAL,
	            "Verdicts (IP and label) put in summaries for the hook."),
	COUNTER_DEF(alert_stats, rate_limited, "alertRateLimited", COUNTER_TOTAL,
	            "Verdicts left out: already sent within rate_limit_s."),
	COUNTER_DEF(alert_stats, rate_table_full, "alertRateTableFull", COUNTER_TOTAL,
	            "Verdicts sent but not remembered for the rate limit: its table was full."),
	COUNTER_DEF(alert_stats, summaries, "alertSummaries", COUNTER_TOTAL,
	            "Slot summaries queued for the hook."),
	COUNTER_DEF(alert_stats, queue_dropped, "alertQueueDropped", COUNTER_TOTAL,
	            "Slot summaries dropped because the hook's queue was full."),
	COUNTER_DEF(alert_stats, hook_runs, "alertHookRuns", COUNTER_TOTAL,
	            "Hook runs started."),
	COUNTER_DEF(alert_stats, hook_ok, "alertHookOk", COUNTER_TOTAL,
	            "Hook runs that exited 0 within the time-out."),
	COUNTER_DEF(alert_stats, hook_failures, "alertHookFailures", COUNTER_TOTAL,
	            "Hook runs that could not start or exited non-zero or by a signal."),
	COUNTER_DEF(alert_stats, hook_timeouts, "alertHookTimeouts", COUNTER_TOTAL,
	            "Hook runs killed at timeout_s."),
};
/* clang-format on */
_Static_assert(sizeof(alert_counter_defs) / sizeof(alert_counter_defs[0]) * sizeof(uint64_t) ==
                   sizeof(struct alert_stats),
               "one counter per field of struct alert_stats");

const struct counter_table alert_counters = COUNTER_TABLE("alert", alert_counter_defs, alert_stats);

void alert_config_defaults(struct alert_config *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout_s = 10;
	c->rate_limit_s = 3600;
}

/* One remembered verdict: when (slot time, s) it was last sent. */
struct rate_entry {
	struct flow_addr addr;
	uint32_t site;
	uint8_t label;
	bool used;
	int64_t sent_s;
};

struct alerter {
	struct alert_config cfg; /* under mu: a reload replaces it (alert_config_set) */
	uint32_t rate_limit_s;   /* cfg.rate_limit_s, atomic: the sink reads it without mu */
	pthread_mutex_t mu;      /* stats, queue, cfg */
	pthread_cond_t cv;
	struct alert_stats st;
	char *queue[ALERT_QUEUE_MAX]; /* summaries, ring */
	size_t q_head, q_len;
	bool running; /* a hook runs now */
	bool stopping;
	pthread_t th;
	bool th_started;
	/* The rate limit: touched by the sink's thread only (the closer's worker). */
	struct rate_entry *rate;
	size_t rate_used;
};

/* ---- the rate limit ------------------------------------------------------- */

static size_t rate_hash(uint32_t site, uint8_t label, const struct flow_addr *a)
{
	uint64_t h = 0xcbf29ce484222325ull ^ site ^ ((uint64_t)label << 32);

	for (size_t i = 0; i < 16; i++) {
		h ^= a->b[i];
		h *= 0x100000001b3ull;
	}
	return (size_t)(h ^ (h >> 29));
}

static struct rate_entry *rate_slot(struct rate_entry *t, uint32_t site, uint8_t label,
                                    const struct flow_addr *a)
{
	size_t i = rate_hash(site, label, a) & (ALERT_RATE_SLOTS - 1);

	for (;; i = (i + 1) & (ALERT_RATE_SLOTS - 1)) {
		struct rate_entry *e = &t[i];
		if (!e->used ||
		    (e->site == site && e->label == label && memcmp(e->addr.b, a->b, 16) == 0))
			return e;
	}
}

/* Forget what expired (by now_s) once the table is three quarters full. */
static uint32_t rate_limit(const struct alerter *a)
{
	return __atomic_load_n(&a->rate_limit_s, __ATOMIC_RELAXED);
}

static void rate_sweep(struct alerter *a, int64_t now_s)
{
	struct rate_entry *old = a->rate, *t;

	if (a->rate_used < ALERT_RATE_SLOTS / 4 * 3)
		return;
	t = calloc(ALERT_RATE_SLOTS, sizeof(*t));
	if (!t)
		return;
	a->rate_used = 0;
	for (size_t i = 0; i < ALERT_RATE_SLOTS; i++) {
		if (!old[i].used || now_s - old[i].sent_s >= (int64_t)rate_limit(a))
			continue;
		*rate_slot(t, old[i].site, old[i].label, &old[i].addr) = old[i];
		a->rate_used++;
	}
	free(old);
	a->rate = t;
}

/* True when the verdict may be sent now (and it is remembered as sent). */
static bool rate_allow(struct alerter *a, uint32_t site, uint8_t label, const struct flow_addr *ip,
                       int64_t now_s)
{
	struct rate_entry *e = rate_slot(a->rate, site, label, ip);

	if (e->used) {
		if (now_s - e->sent_s < (int64_t)rate_limit(a) && now_s >= e->sent_s)
			return false;
		e->sent_s = now_s;
		return true;
	}
	if (a->rate_used >= ALERT_RATE_SLOTS - 1) {
		a->st.rate_table_full++;
		return true;
	}
	*e = (struct rate_entry){
	    .addr = *ip, .site = site, .label = label, .used = true, .sent_s = now_s};
	a->rate_used++;
	return true;
}

/* ---- text ----------------------------------------------------------------- */

struct tbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void tb_add(struct tbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void tb_fmt(struct tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tb_fmt(struct tbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k > 0)
		tb_add(b, tmp, (size_t)k < sizeof(tmp) ? (size_t)k : sizeof(tmp) - 1);
}

/* A figure as documents write it: an integer without a fraction, else 6 digits. */
static void num(char *buf, size_t len, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.6g", v);
}

static const char *kind_of(bool inside, bool in_c)
{
	return inside ? "inside" : in_c ? "offender" : "outside";
}

/* One labelled IP's warn line. */
static void log_verdict(const struct slot_view *v, const char *kind, const struct flow_addr *ip,
                        const struct slot_label *l, size_t n)
{
	char a[64], line[1536], fv[32], ft[32];
	size_t k;

	flow_addr_format(ip, a, sizeof(a));
	k = (size_t)snprintf(line, sizeof(line),
	                     "alert: site=%s slot=%lld kind=%s ip=%s labels=", v->site->name,
	                     (long long)v->time_slot, kind, a);
	for (size_t i = 0; i < n && k < sizeof(line); i++)
		k += (size_t)snprintf(line + k, sizeof(line) - k, "%s%s", i ? "," : "",
		                      judge_label_name((enum judge_label)l[i].id));
	for (size_t i = 0; i < n && k < sizeof(line); i++) {
		num(fv, sizeof(fv), l[i].value);
		num(ft, sizeof(ft), l[i].threshold);
		k += (size_t)snprintf(line + k, sizeof(line) - k, " %s.value=%s %s.threshold=%s",
		                      judge_label_name((enum judge_label)l[i].id), fv,
		                      judge_label_name((enum judge_label)l[i].id), ft);
	}
	log_warn("%s", line);
}

/* Append one IP's verdicts that the rate limit lets through; returns how many. */
static size_t summary_ip(struct alerter *a, struct tbuf *b, const struct slot_view *v,
                         const char *kind, const struct flow_addr *ip, const struct slot_label *l,
                         size_t n, size_t *n_out, int64_t now_s)
{
	bool keep[SLOT_LABELS_MAX];
	size_t k = 0, j = 0;
	char addr[64], fv[32], ft[32];

	for (size_t i = 0; i < n && i < SLOT_LABELS_MAX; i++) {
		keep[i] = rate_allow(a, v->site_index, l[i].id, ip, now_s);
		k += keep[i];
		a->st.rate_limited += !keep[i];
	}
	if (!k)
		return 0;
	flow_addr_format(ip, addr, sizeof(addr));
	tb_fmt(b, "%s\n{\"ip\":\"%s\",\"kind\":\"%s\",\"labels\":[", *n_out ? "," : "", addr, kind);
	for (size_t i = 0; i < n && i < SLOT_LABELS_MAX; i++) {
		if (keep[i])
			tb_fmt(b, "%s\"%s\"", j++ ? "," : "",
			       judge_label_name((enum judge_label)l[i].id));
	}
	tb_add(b, "],\"figures\":{", 13);
	j = 0;
	for (size_t i = 0; i < n && i < SLOT_LABELS_MAX; i++) {
		if (!keep[i])
			continue;
		num(fv, sizeof(fv), l[i].value);
		num(ft, sizeof(ft), l[i].threshold);
		tb_fmt(b, "%s\"%s\":{\"value\":%s,\"threshold\":%s}", j++ ? "," : "",
		       judge_label_name((enum judge_label)l[i].id), fv, ft);
	}
	tb_add(b, "}}", 2);
	(*n_out)++;
	a->st.verdicts += k;
	return k;
}

int alert_summary(struct alerter *a, const struct slot_view *v, char **out)
{
	struct tbuf b = {0};
	int64_t now_s = v->time_slot * SLOT_SECONDS;
	size_t n_ip = 0, omitted = 0;
	char ts[32];
	time_t t = (time_t)now_s;
	struct tm tm;

	*out = NULL;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&a->mu);
	rate_sweep(a, now_s);
	tb_add(&b, "{\"site\":\"", 9);
	tb_add(&b, v->site->name, strlen(v->site->name));
	tb_fmt(&b, "\",\"timeSlot\":%lld,\"@timestamp\":\"%s\",\"verdicts\":[",
	       (long long)v->time_slot, ts);
	for (size_t i = 0; i < v->n_inside; i++) {
		const struct slot_inside *in = &v->inside[i];
		if (!in->n_labels)
			continue;
		if (n_ip >= ALERT_VERDICTS_MAX) {
			omitted++;
			continue;
		}
		summary_ip(a, &b, v, "inside", &in->addr, slot_labels_of(v, in->label_first),
		           in->n_labels, &n_ip, now_s);
	}
	for (size_t i = 0; i < v->n_outside; i++) {
		const struct slot_outside *o = &v->outside[i];
		if (!o->n_labels)
			continue;
		if (n_ip >= ALERT_VERDICTS_MAX) {
			omitted++;
			continue;
		}
		summary_ip(a, &b, v, kind_of(false, o->in_c), &o->addr,
		           slot_labels_of(v, o->label_first), o->n_labels, &n_ip, now_s);
	}
	pthread_mutex_unlock(&a->mu);
	tb_fmt(&b, "%s],\"omitted\":%zu}\n", n_ip ? "\n" : "", omitted);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	if (!n_ip) {
		free(b.p);
		return 0;
	}
	*out = b.p;
	return 0;
}

/* ---- the hook ------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Write the summary to the hook's standard input until done or the deadline. */
static void hook_feed(int fd, const char *s, size_t n, uint64_t deadline)
{
	size_t off = 0;

	while (off < n) {
		uint64_t now = mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (now >= deadline)
			return;
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t k = send(fd, s + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0)
			return; /* the hook closed its input: its exit status tells */
		off += (size_t)k;
	}
}

/*
 * Run the hook once with summary on its standard input; counts the
 * outcome. c: the configuration in force when the run began (a copy).
 */
static void hook_run(struct alerter *a, const struct alert_config *c, const char *summary)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	char *argv[ALERT_ARGV_MAX + 1];
	int sv[2], status = 0, rc;
	pid_t pid;
	uint64_t deadline;
	bool timed_out = false;

	for (size_t i = 0; i < c->n_hook; i++)
		argv[i] = (char *)c->hook[i];
	argv[c->n_hook] = NULL;
	/* A socket, not a pipe: send(MSG_NOSIGNAL) to a hook gone early raises no SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_warn("alert hook %s: cannot make its input: %s", argv[0], strerror(errno));
		pthread_mutex_lock(&a->mu);
		a->st.hook_failures++;
		pthread_mutex_unlock(&a->mu);
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0); /* its own group: killed whole at the time-out */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                  POSIX_SPAWN_SETSIGDEF);
	deadline = mono_ms() + (uint64_t)c->timeout_s * 1000;
	rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	pthread_mutex_lock(&a->mu);
	a->st.hook_runs++;
	if (rc != 0)
		a->st.hook_failures++;
	pthread_mutex_unlock(&a->mu);
	if (rc != 0) {
		close(sv[0]);
		log_warn("alert hook %s: cannot start: %s", argv[0], strerror(rc));
		return;
	}
	hook_feed(sv[0], summary, strlen(summary), deadline);
	close(sv[0]);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = -1;
			break;
		}
		if (mono_ms() >= deadline) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			timed_out = true;
			break;
		}
		usleep(10000);
	}
	pthread_mutex_lock(&a->mu);
	if (timed_out)
		a->st.hook_timeouts++;
	else if (status == 0)
		a->st.hook_ok++;
	else
		a->st.hook_failures++;
	pthread_mutex_unlock(&a->mu);
	if (timed_out)
		log_warn("alert hook %s: killed after the time-out of %u s", argv[0], c->timeout_s);
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_warn("alert hook %s: exited with status %d", argv[0], WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_warn("alert hook %s: killed by signal %d", argv[0], WTERMSIG(status));
}

static void *hook_thread(void *arg)
{
	struct alerter *a = arg;
	struct alert_config *c = malloc(sizeof(*c)); /* 16 KiB: not on the stack */

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->q_len && !a->stopping)
			pthread_cond_wait(&a->cv, &a->mu);
		if (!a->q_len)
			break; /* stopping, and nothing left */
		char *s = a->queue[a->q_head];
		a->q_head = (a->q_head + 1) % ALERT_QUEUE_MAX;
		a->q_len--;
		a->running = true;
		/* A reload since the summary was queued: it runs with the hook in force now. */
		bool run = c && a->cfg.n_hook;
		if (run)
			*c = a->cfg;
		else if (a->cfg.n_hook)
			a->st.hook_failures++; /* no memory for the copy */
		pthread_mutex_unlock(&a->mu);
		if (run)
			hook_run(a, c, s);
		free(s);
		pthread_mutex_lock(&a->mu);
		a->running = false;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	free(c);
	return NULL;
}

/* The checks of alert_start(): 0 or -EINVAL. */
static int config_check(const struct alert_config *c)
{
	if (c->n_hook > ALERT_ARGV_MAX || (c->n_hook && c->hook[0][0] != '/') || c->timeout_s == 0)
		return -EINVAL;
	return 0;
}

int alert_config_set(struct alerter *a, const struct alert_config *c)
{
	if (config_check(c) != 0)
		return -EINVAL;
	pthread_mutex_lock(&a->mu);
	a->cfg = *c;
	__atomic_store_n(&a->rate_limit_s, c->rate_limit_s, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int alert_start(const struct alert_config *c, struct alerter **out)
{
	struct alerter *a;
	int rc;

	*out = NULL;
	if (config_check(c) != 0)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = *c;
	a->rate_limit_s = c->rate_limit_s;
	a->rate = calloc(ALERT_RATE_SLOTS, sizeof(*a->rate));
	if (!a->rate) {
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	/* Also without a hook: a reload may configure one (alert_config_set). */
	rc = pthread_create(&a->th, NULL, hook_thread, a);
	if (rc) {
		alert_stop(a);
		return -rc;
	}
	a->th_started = true;
	*out = a;
	return 0;
}

void alert_flush(struct alerter *a)
{
	pthread_mutex_lock(&a->mu);
	while (a->th_started && (a->q_len || a->running))
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

void alert_stop(struct alerter *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->th_started)
		pthread_join(a->th, NULL);
	if (a->st.logged || a->st.hook_runs || a->st.queue_dropped) {
		char line[1024];
		counter_format(&alert_counters, &a->st, NULL, COUNTER_NONZERO, line, sizeof(line));
		log_info("alert: %s", line);
	}
	for (size_t i = 0; i < a->q_len; i++)
		free(a->queue[(a->q_head + i) % ALERT_QUEUE_MAX]);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->rate);
	free(a);
}

void alert_stats_get(const struct alerter *a, struct alert_stats *out)
{
	struct alerter *m = (struct alerter *)a;

	pthread_mutex_lock(&m->mu);
	*out = a->st;
	pthread_mutex_unlock(&m->mu);
}

void alert_sink(void *ud, const struct slot_view *v, const struct judge_result *jr,
                const struct doc_batch *docs)
{
	struct alerter *a = ud;
	uint64_t logged = 0, suppressed = 0;
	char *summary = NULL;

	(void)jr;
	(void)docs;
	for (size_t i = 0; i < v->n_inside; i++) {
		const struct slot_inside *in = &v->inside[i];
		if (!in->n_labels)
			continue;
		if (logged < ALERT_LOG_MAX) {
			log_verdict(v, "inside", &in->addr, slot_labels_of(v, in->label_first),
			            in->n_labels);
			logged++;
		} else {
			suppressed++;
		}
	}
	for (size_t i = 0; i < v->n_outside; i++) {
		const struct slot_outside *o = &v->outside[i];
		if (!o->n_labels)
			continue;
		if (logged < ALERT_LOG_MAX) {
			log_verdict(v, kind_of(false, o->in_c), &o->addr,
			            slot_labels_of(v, o->label_first), o->n_labels);
			logged++;
		} else {
			suppressed++;
		}
	}
	if (suppressed)
		log_warn("alert: site=%s slot=%lld: %llu more labelled IPs not logged (at most %d "
		         "lines a slot; the documents hold them all)",
		         v->site->name, (long long)v->time_slot, (unsigned long long)suppressed,
		         ALERT_LOG_MAX);
	pthread_mutex_lock(&a->mu);
	a->st.logged += logged;
	a->st.log_suppressed += suppressed;
	pthread_mutex_unlock(&a->mu);
	pthread_mutex_lock(&a->mu);
	bool hook = a->cfg.n_hook > 0;
	pthread_mutex_unlock(&a->mu);
	if (!hook || alert_summary(a, v, &summary) != 0 || !summary)
		return;
	pthread_mutex_lock(&a->mu);
	if (a->q_len == ALERT_QUEUE_MAX) {
		a->st.queue_dropped++;
		pthread_mutex_unlock(&a->mu);
		log_warn("alert: site=%s slot=%lld: the hook's queue is full (%d summaries); this "
		         "slot's summary is dropped",
		         v->site->name, (long long)v->time_slot, ALERT_QUEUE_MAX);
		free(summary);
		return;
	}
	a->queue[(a->q_head + a->q_len) % ALERT_QUEUE_MAX] = summary;
	a->q_len++;
	a->st.summaries++;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}
