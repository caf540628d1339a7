/*
 * daily runner: the collector's daily analysis (daily.h, docs/daily.md
 * "In the collector"). A thread of its own checks at start and then every
 * minute which day is due per site (daily_schedule_due(): once the local
 * time in daily.tz has passed run_hour of a new day, the day before, and
 * after a downtime the days missed, oldest first). It analyses a due day
 * through its own read connection to the store, stores the result through
 * its own write connection (SQLite serialises it with the closer's writes:
 * WAL, one writer at a time, busy timeout), writes the report file and runs
 * the hook. Never on the loop or the closer's thread; a failure is logged
 * and counted, and the next day is tried anyway (the failed one is not
 * retried). What was analysed before a restart is known from the stored
 * daily documents.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/clock.h"
#include "nfsentry/daily.h"
#include "nfsentry/fileio.h"
#include "nfsentry/log.h"
#include "nfsentry/store.h"

struct daily_runner {
	struct daily_config cfg; /* the runner thread's own (its hook taken from below per run) */
	/* The hook in force, under mu: replaced by daily_runner_hook_set(). */
	char hook[DAILY_HOOK_ARGV_MAX][DAILY_HOOK_ARG_MAX];
	size_t n_hook;
	uint32_t hook_timeout_s;
	char store_path[1024];
	char (*sites)[STORE_SITE_MAX]; /* runner thread's */
	size_t n_sites;
	/* daily_runner_sites_set()'s names, taken by the thread at its next check; under mu. */
	char (*next)[STORE_SITE_MAX];
	size_t n_next;
	bool has_next;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, poke;
	int64_t *done;          /* per site: start_s of the last day analysed */
	int64_t clock_base_s;   /* DAILY_NOW_ENV: the clock's start, or 0 */
	uint64_t clock_base_ms; /* CLOCK_MONOTONIC then */
	struct daily_stats st;
};

/* The runner's wall clock, Unix s (DAILY_NOW_ENV moves it for tests). */
static int64_t runner_now(const struct daily_runner *dr)
{
	if (dr->clock_base_s)
		return dr->clock_base_s +
		       (int64_t)((clock_ms(CLOCK_MONOTONIC) - dr->clock_base_ms) / 1000u);
	return (int64_t)time(NULL);
}

/* Run the hook: argv + the report path, bounded by hook_timeout_s. */
static void hook_run(const struct daily_config *cfg, const char *report, struct daily_stats *st)
{
	char *argv[DAILY_HOOK_ARGV_MAX + 2];
	posix_spawnattr_t at;
	pid_t pid;
	int status = 0;

	for (size_t i = 0; i < cfg->n_hook; i++)
		argv[i] = (char *)cfg->hook[i];
	argv[cfg->n_hook] = (char *)report;
	argv[cfg->n_hook + 1] = NULL;
	posix_spawnattr_init(&at);
	posix_spawnattr_setpgroup(&at, 0);
	st->hook_runs++;
	int rc = posix_spawn(&pid, argv[0], NULL, &at, argv, NULL);
	posix_spawnattr_destroy(&at);
	if (rc != 0) {
		log_warn("daily hook %s: cannot start: %s", argv[0], strerror(rc));
		st->hook_failures++;
		return;
	}
	uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + (uint64_t)cfg->hook_timeout_s * 1000u;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			st->hook_failures++;
			return;
		}
		if (clock_ms(CLOCK_MONOTONIC) > deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			log_warn("daily hook %s: killed after %u s", argv[0], cfg->hook_timeout_s);
			st->hook_timeouts++;
			return;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warn("daily hook %s: failed (status %d) on %s", argv[0], status, report);
		st->hook_failures++;
	}
}

/* Write the report to DIR/SITE-DATE.txt (replaced whole, fileio.h); 0 or -errno. */
static int report_write(const struct daily_config *cfg, const struct daily_result *r, char *path,
                        size_t len)
{
	struct fileio_replace fr;

	snprintf(path, len, "%s/%s-%s.txt", cfg->report_dir, r->site, r->day.date);
	int rc = fileio_replace_fopen(&fr, path, 0666);
	if (rc != 0)
		return rc;
	return fileio_replace_finish(&fr, daily_result_text(r, fr.f));
}

int daily_run_one(struct store *rd, struct store *wr, const struct daily_config *cfg,
                  const char *site, const struct daily_day *day, struct daily_stats *st)
{
	struct daily_result *r = NULL;
	char err[512], path[DAILY_PATH_MAX + 128];
	int rc = daily_analyse(rd, site, day, cfg, &r, err, sizeof(err));

	if (rc) {
		log_error("%s", err);
		st->failures++;
		return rc;
	}
	/* A day with nothing stored (before the store began, a downtime caught up): no report. */
	if (r->slots_present == 0 && r->docs_inside == 0 && r->docs_offender == 0 &&
	    r->docs_arp == 0) {
		log_info("daily %s %s: nothing stored for the day, no analysis", site, day->date);
		daily_result_free(r);
		return 0;
	}
	if (wr && (rc = daily_store_write(wr, r)) != 0) {
		log_error("daily %s %s: storing the result: %s", site, day->date,
		          store_error_get(wr));
		st->failures++;
	}
	if (cfg->report_dir[0]) {
		int wrc = report_write(cfg, r, path, sizeof(path));
		if (wrc) {
			log_error("daily %s %s: report %s: %s", site, day->date, path,
			          strerror(-wrc));
			st->failures++;
			rc = rc ? rc : wrc;
		} else if (cfg->n_hook) {
			hook_run(cfg, path, st);
		}
	}
	log_info("daily %s %s: %zu possible C&C contacts, %zu MACs with several IPs%s (%.2f s, "
	         "%u slots from digests, %u corrupt, %u unfit)",
	         site, day->date, r->n_suspects, r->n_macs, r->partial ? ", partial day" : "",
	         r->elapsed_s, r->slots_digest, r->digests_bad, r->digests_unfit);
	if (r->digests_bad)
		log_warn("daily %s %s: %u slot digests corrupt: their documents were read", site,
		         day->date, r->digests_bad);
	if (rc == 0)
		st->runs++;
	daily_result_free(r);
	return rc;
}

int daily_schedule_due(const char *tz, uint32_t run_hour, int64_t now_s, int64_t done_start_s,
                       struct daily_day *due)
{
	struct daily_day today, d;

	if (daily_day_of(now_s, tz, &today) != 0 || daily_day_of(today.start_s - 1, tz, &d) != 0)
		return -EINVAL;
	/* Yesterday's run time is today's run_hour; before it, the day before is the latest. */
	if (now_s < today.start_s + (int64_t)run_hour * 3600 &&
	    daily_day_of(d.start_s - 1, tz, &d) != 0)
		return -EINVAL;
	if (d.start_s <= done_start_s)
		return 0;
	/* Back to the oldest day not done, within the catch-up window. */
	for (int k = 0; k < DAILY_CATCHUP_DAYS; k++) {
		struct daily_day prev;
		if (daily_day_of(d.start_s - 1, tz, &prev) != 0)
			return -EINVAL;
		if (prev.start_s <= done_start_s)
			break;
		d = prev;
	}
	*due = d;
	return 1;
}

/* Open the runner's two connections; 0, or -1 (logged, counted). */
static int runner_open(struct daily_runner *dr, struct store **rd, struct store **wr,
                       struct daily_stats *st)
{
	struct store_opts ro, wo;
	char err[512];

	*rd = *wr = NULL;
	store_opts_defaults(&ro);
	ro.read_only = true;
	store_opts_defaults(&wo);
	wo.retention_days = 0;
	if (store_open(dr->store_path, &ro, rd, err, sizeof(err)) != 0 ||
	    store_open(dr->store_path, &wo, wr, err, sizeof(err)) != 0) {
		log_error("daily: %s", err);
		st->failures++;
		store_close(*rd);
		*rd = NULL;
		return -1;
	}
	return 0;
}

/*
 * Each site's (from index from on) latest stored daily analysis marks its day done, so a
 * restart neither repeats a day nor misses one; one written before its day
 * ended (a replay of a capture that reached into the day) marks only the
 * days before it. A store that cannot be read yet (a first start) leaves
 * every site at "none".
 */
static void runner_load_done(struct daily_runner *dr, size_t from)
{
	struct store_opts ro;
	struct store *s = NULL;
	char err[512], name[STORE_SITE_MAX + 8];

	store_opts_defaults(&ro);
	ro.read_only = true;
	if (from >= dr->n_sites || store_open(dr->store_path, &ro, &s, err, sizeof(err)) != 0)
		return;
	for (size_t k = from; k < dr->n_sites; k++) {
		int64_t ts;
		struct daily_day d;
		daily_store_site(dr->sites[k], name, sizeof(name));
		struct store_slot sl;
		if (store_slot_latest(s, name, &ts) == 0 &&
		    daily_day_of(ts * STORE_SLOT_SECONDS, dr->cfg.tz, &d) == 0 &&
		    store_slot_get(s, name, ts, &sl) == 0)
			dr->done[k] = sl.written_at_s >= d.end_s ? d.start_s : d.start_s - 1;
	}
	store_close(s);
}

/*
 * Take the names daily_runner_sites_set() left, if any: a site kept keeps
 * its last day done, the others (put after the kept ones) read theirs from
 * the store as at the start. Out of memory: the sites stay for the next
 * check. Runner thread.
 */
static void runner_take_sites(struct daily_runner *dr)
{
	char(*next)[STORE_SITE_MAX];
	size_t n, kept = 0, n_kept = 0;
	int64_t *done;

	pthread_mutex_lock(&dr->mu);
	if (!dr->has_next) {
		pthread_mutex_unlock(&dr->mu);
		return;
	}
	n = dr->n_next;
	done = malloc((n ? n : 1) * sizeof(*done));
	next = malloc((n ? n : 1) * sizeof(*next));
	if (!done || !next) {
		pthread_mutex_unlock(&dr->mu);
		free(done);
		free(next);
		return;
	}
	/* The kept sites first, with their day done; then the added ones. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			long old = -1;
			for (size_t k = 0; k < dr->n_sites && old < 0; k++)
				if (strcmp(dr->sites[k], dr->next[i]) == 0)
					old = (long)k;
			if ((old >= 0) != (pass == 0))
				continue;
			memcpy(next[kept], dr->next[i], sizeof(next[kept]));
			done[kept++] = old >= 0 ? dr->done[old] : INT64_MIN;
		}
		if (pass == 0)
			n_kept = kept;
	}
	free(dr->next);
	dr->next = NULL;
	dr->has_next = false;
	pthread_mutex_unlock(&dr->mu);
	free(dr->sites);
	free(dr->done);
	dr->sites = next;
	dr->done = done;
	dr->n_sites = n;
	runner_load_done(dr, n_kept);
}

/*
 * One check: every site's due days, oldest first, until none is due (a
 * stop request ends it between two site-days). poke: every site's
 * yesterday, done or not.
 */
static void runner_check(struct daily_runner *dr, bool poke)
{
	struct store *rd = NULL, *wr = NULL;
	struct daily_stats st;

	runner_take_sites(dr);
	pthread_mutex_lock(&dr->mu);
	st = dr->st;
	pthread_mutex_unlock(&dr->mu);
	for (size_t k = 0; k < dr->n_sites; k++) {
		for (;;) {
			struct daily_day day;
			int64_t now = runner_now(dr);
			if (poke) {
				struct daily_day today;
				if (daily_day_of(now, dr->cfg.tz, &today) != 0 ||
				    daily_day_of(today.start_s - 1, dr->cfg.tz, &day) != 0)
					break;
			} else if (daily_schedule_due(dr->cfg.tz, dr->cfg.run_hour, now,
			                              dr->done[k], &day) != 1) {
				break;
			}
			pthread_mutex_lock(&dr->mu);
			bool stop = dr->stop;
			pthread_mutex_unlock(&dr->mu);
			if (stop || (!rd && runner_open(dr, &rd, &wr, &st) != 0))
				break;
			/* The hook in force now; a set during the run is for the next one. */
			pthread_mutex_lock(&dr->mu);
			memcpy(dr->cfg.hook, dr->hook, sizeof(dr->cfg.hook));
			dr->cfg.n_hook = dr->n_hook;
			dr->cfg.hook_timeout_s = dr->hook_timeout_s;
			pthread_mutex_unlock(&dr->mu);
			daily_run_one(rd, wr, &dr->cfg, dr->sites[k], &day, &st);
			if (day.start_s > dr->done[k])
				dr->done[k] = day.start_s;
			pthread_mutex_lock(&dr->mu);
			dr->st = st;
			pthread_mutex_unlock(&dr->mu);
			if (poke)
				break;
		}
	}
	store_close(rd);
	store_close(wr);
	st.checks++;
	pthread_mutex_lock(&dr->mu);
	dr->st = st;
	pthread_mutex_unlock(&dr->mu);
}

static void *runner_main(void *arg)
{
	struct daily_runner *dr = arg;
	bool poke = false;

	runner_load_done(dr, 0);
	runner_check(dr, false);
	pthread_mutex_lock(&dr->mu);
	while (!dr->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 60;
		if (!dr->poke)
			pthread_cond_timedwait(&dr->cv, &dr->mu, &ts);
		if (dr->stop)
			break;
		poke = dr->poke;
		dr->poke = false;
		pthread_mutex_unlock(&dr->mu);
		runner_check(dr, poke);
		pthread_mutex_lock(&dr->mu);
	}
	pthread_mutex_unlock(&dr->mu);
	return NULL;
}

int daily_runner_hook_set(struct daily_runner *r, const struct daily_config *cfg)
{
	if (!r)
		return 0;
	if (cfg->n_hook > DAILY_HOOK_ARGV_MAX)
		return -EINVAL;
	pthread_mutex_lock(&r->mu);
	memcpy(r->hook, cfg->hook, sizeof(r->hook));
	r->n_hook = cfg->n_hook;
	r->hook_timeout_s = cfg->hook_timeout_s;
	pthread_mutex_unlock(&r->mu);
	return 0;
}

int daily_runner_start(const struct daily_config *cfg, const char *store_path,
                       const char *const *sites, size_t n_sites, struct daily_runner **out)
{
	struct daily_runner *dr = calloc(1, sizeof(*dr));
	const char *now_env = getenv(DAILY_NOW_ENV);
	int rc;

	*out = NULL;
	if (!dr)
		return -ENOMEM;
	if (now_env && *now_env) {
		char *end;
		errno = 0;
		long long v = strtoll(now_env, &end, 10);
		if (errno || *end || v <= 0) {
			free(dr);
			return -EINVAL;
		}
		dr->clock_base_s = (int64_t)v;
		dr->clock_base_ms = clock_ms(CLOCK_MONOTONIC);
		log_warn("daily: the runner's clock starts at %lld (%s, tests only)", v,
		         DAILY_NOW_ENV);
	}
	dr->cfg = *cfg;
	memcpy(dr->hook, cfg->hook, sizeof(dr->hook));
	dr->n_hook = cfg->n_hook;
	dr->hook_timeout_s = cfg->hook_timeout_s;
	snprintf(dr->store_path, sizeof(dr->store_path), "%s", store_path);
	dr->sites = calloc(n_sites ? n_sites : 1, sizeof(*dr->sites));
	dr->done = calloc(n_sites ? n_sites : 1, sizeof(*dr->done));
	if (!dr->sites || !dr->done) {
		free(dr->sites);
		free(dr->done);
		free(dr);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n_sites; k++) {
		snprintf(dr->sites[k], sizeof(dr->sites[k]), "%s", sites[k]);
		dr->done[k] = INT64_MIN;
	}
	dr->n_sites = n_sites;
	pthread_mutex_init(&dr->mu, NULL);
	pthread_cond_init(&dr->cv, NULL);
	if ((rc = pthread_create(&dr->th, NULL, runner_main, dr)) != 0) {
		pthread_mutex_destroy(&dr->mu);
		pthread_cond_destroy(&dr->cv);
		free(dr->sites);
		free(dr->done);
		free(dr);
		return -rc;
	}
	*out = dr;
	return 0;
}

int daily_runner_sites_set(struct daily_runner *dr, const char *const *sites, size_t n_sites)
{
	char(*v)[STORE_SITE_MAX] = calloc(n_sites ? n_sites : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t k = 0; k < n_sites; k++)
		snprintf(v[k], sizeof(v[k]), "%s", sites[k]);
	pthread_mutex_lock(&dr->mu);
	free(dr->next);
	dr->next = v;
	dr->n_next = n_sites;
	dr->has_next = true;
	pthread_mutex_unlock(&dr->mu);
	return 0;
}

void daily_runner_poke(struct daily_runner *dr)
{
	pthread_mutex_lock(&dr->mu);
	dr->poke = true;
	pthread_cond_signal(&dr->cv);
	pthread_mutex_unlock(&dr->mu);
}

void daily_runner_stats(struct daily_runner *dr, struct daily_stats *st)
{
	pthread_mutex_lock(&dr->mu);
	*st = dr->st;
	pthread_mutex_unlock(&dr->mu);
}

void daily_runner_stop(struct daily_runner *dr)
{
	if (!dr)
		return;
	pthread_mutex_lock(&dr->mu);
	dr->stop = true;
	pthread_cond_signal(&dr->cv);
	pthread_mutex_unlock(&dr->mu);
	pthread_join(dr->th, NULL);
	pthread_mutex_destroy(&dr->mu);
	pthread_cond_destroy(&dr->cv);
	free(dr->sites);
	free(dr->done);
	free(dr->next);
	free(dr);
}
