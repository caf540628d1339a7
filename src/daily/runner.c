/*
 * daily runner: the collector's daily analysis (daily.h, docs/daily.md
 * "In the collector"). A thread of its own wakes every minute; once the
 * local time in daily.tz has passed run_hour of a new day, it analyses the
 * day before for every site through its own read connection to the store,
 * stores the result through its own write connection (SQLite serialises it
 * with the closer's writes: WAL, one writer at a time, busy timeout), writes
 * the report file and runs the hook. Never on the loop or the closer's
 * thread; a failure is logged and counted, and the next day is tried anyway.
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
#include "nfsentry/log.h"
#include "nfsentry/store.h"

struct daily_runner {
	struct daily_config cfg;
	char store_path[1024];
	char (*sites)[STORE_SITE_MAX];
	size_t n_sites;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, poke;
	int64_t done_day; /* start_s of the last day analysed */
	struct daily_stats st;
};

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

/* Write the report to DIR/SITE-DATE.txt (through a temporary name); 0 or -errno. */
static int report_write(const struct daily_config *cfg, const struct daily_result *r, char *path,
                        size_t len)
{
	char tmp[DAILY_PATH_MAX + 256];

	snprintf(path, len, "%s/%s-%s.txt", cfg->report_dir, r->site, r->day.date);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	int rc = daily_result_text(r, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
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
	log_info("daily %s %s: %zu possible C&C contacts, %zu MACs with several IPs%s (%.2f s)",
	         site, day->date, r->n_suspects, r->n_macs, r->partial ? ", partial day" : "",
	         r->elapsed_s);
	if (rc == 0)
		st->runs++;
	daily_result_free(r);
	return rc;
}

/* Analyse day for every site with fresh connections. */
static void run_day(struct daily_runner *dr, const struct daily_day *day)
{
	struct store_opts ro, wo;
	struct store *rd = NULL, *wr = NULL;
	char err[512];
	struct daily_stats st;

	pthread_mutex_lock(&dr->mu);
	st = dr->st;
	pthread_mutex_unlock(&dr->mu);
	store_opts_defaults(&ro);
	ro.read_only = true;
	store_opts_defaults(&wo);
	wo.retention_days = 0;
	if (store_open(dr->store_path, &ro, &rd, err, sizeof(err)) != 0 ||
	    store_open(dr->store_path, &wo, &wr, err, sizeof(err)) != 0) {
		log_error("daily %s: %s", day->date, err);
		st.failures++;
	} else {
		for (size_t k = 0; k < dr->n_sites; k++)
			daily_run_one(rd, wr, &dr->cfg, dr->sites[k], day, &st);
	}
	store_close(rd);
	store_close(wr);
	pthread_mutex_lock(&dr->mu);
	dr->st = st;
	pthread_mutex_unlock(&dr->mu);
}

static void *runner_main(void *arg)
{
	struct daily_runner *dr = arg;

	pthread_mutex_lock(&dr->mu);
	while (!dr->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 60;
		if (!dr->poke)
			pthread_cond_timedwait(&dr->cv, &dr->mu, &ts);
		if (dr->stop)
			break;
		bool poke = dr->poke;
		dr->poke = false;
		pthread_mutex_unlock(&dr->mu);

		struct daily_day today, yday;
		int64_t now = (int64_t)time(NULL);
		if (daily_day_of(now, dr->cfg.tz, &today) == 0 &&
		    daily_day_of(today.start_s - 1, dr->cfg.tz, &yday) == 0 &&
		    (poke || (now >= today.start_s + (int64_t)dr->cfg.run_hour * 3600 &&
		              dr->done_day != yday.start_s))) {
			run_day(dr, &yday);
			dr->done_day = yday.start_s;
		}
		pthread_mutex_lock(&dr->mu);
	}
	pthread_mutex_unlock(&dr->mu);
	return NULL;
}

int daily_runner_start(const struct daily_config *cfg, const char *store_path,
                       const char *const *sites, size_t n_sites, struct daily_runner **out)
{
	struct daily_runner *dr = calloc(1, sizeof(*dr));
	int rc;

	*out = NULL;
	if (!dr)
		return -ENOMEM;
	dr->cfg = *cfg;
	snprintf(dr->store_path, sizeof(dr->store_path), "%s", store_path);
	dr->sites = calloc(n_sites ? n_sites : 1, sizeof(*dr->sites));
	if (!dr->sites) {
		free(dr);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n_sites; k++)
		snprintf(dr->sites[k], sizeof(dr->sites[k]), "%s", sites[k]);
	dr->n_sites = n_sites;
	/* A start after run_hour does not analyse yesterday again: the last run did. */
	struct daily_day today, yday;
	int64_t now = (int64_t)time(NULL);
	if (daily_day_of(now, cfg->tz, &today) == 0 &&
	    daily_day_of(today.start_s - 1, cfg->tz, &yday) == 0 &&
	    now >= today.start_s + (int64_t)cfg->run_hour * 3600 + 3600)
		dr->done_day = yday.start_s;
	pthread_mutex_init(&dr->mu, NULL);
	pthread_cond_init(&dr->cv, NULL);
	if ((rc = pthread_create(&dr->th, NULL, runner_main, dr)) != 0) {
		pthread_mutex_destroy(&dr->mu);
		pthread_cond_destroy(&dr->cv);
		free(dr->sites);
		free(dr);
		return -rc;
	}
	*out = dr;
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
	free(dr);
}
