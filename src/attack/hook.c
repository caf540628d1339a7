/*
 * hook: runs the configured attack hook with each event's JSON on its
 * standard input, on a thread of its own. See attack.h (attack_hook_*).
 *
 * The command runs as `/bin/sh -c COMMAND` in a process group of its own,
 * so a time-out kills the shell and whatever it started. The queue is a
 * fixed ring of ATTACK_HOOK_QUEUE copies; a full queue drops the new event
 * (counted): the collector never waits for its hook.
 *
 * The command and time-out live in the struct, under its mutex
 * (attack_hook_set replaces them); each run copies them when it starts, so
 * a run in progress finishes with the command it started with. An empty
 * command is "no hook": the thread stays, submit does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/attack.h"
#include "nfsentry/clock.h"
#include "nfsentry/fault.h"
#include "nfsentry/log.h"

extern char **environ;

struct hook_job {
	char *json; /* owned */
	size_t len;
};

struct attack_hook {
	char command[ATTACK_HOOK_MAX]; /* "" = no hook; guarded by mu */
	uint32_t timeout_ms;           /* guarded by mu */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	struct hook_job ring[ATTACK_HOOK_QUEUE];
	size_t head, n;
	bool running; /* the job at head is being run */
	bool stopping;
	uint64_t runs, failures, timeouts, dropped;
};

/* Write all of p to fd; a hook that stops reading early is its own business. */
static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

/* One run of command (killed after timeout_ms). Returns 0, or 1 failed, 2 timed out. */
static int run_one(const char *command, uint32_t timeout_ms, const struct hook_job *j)
{
	int fds[2];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	pid_t pid;
	char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};

	if (pipe2(fds, O_CLOEXEC) != 0) {
		log_error("attack hook: pipe: %s", strerror(errno));
		return 1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawnattr_init(&at);
	/* Its own process group: a time-out kills everything the command started. */
	posix_spawnattr_setpgroup(&at, 0);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
	int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[0]);
	if (rc != 0) {
		close(fds[1]);
		log_error("attack hook: cannot start /bin/sh -c %s: %s", command, strerror(rc));
		return 1;
	}
	/* SIGPIPE is blocked on this thread: a hook that exits early gives EPIPE. */
	write_all(fds[1], j->json, j->len);
	close(fds[1]);

	uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + timeout_ms;
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			log_error("attack hook: waitpid: %s", strerror(errno));
			return 1;
		}
		if (clock_ms(CLOCK_MONOTONIC) >= deadline) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			log_warn("attack hook: %s: killed after %u ms", command, timeout_ms);
			return 2;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		log_warn("attack hook: %s: exit status %d", command, WEXITSTATUS(status));
	else
		log_warn("attack hook: %s: killed by signal %d", command,
		         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return 1;
}

static void *hook_main(void *arg)
{
	struct attack_hook *h = arg;
	sigset_t pipe_set;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	pthread_setname_np(pthread_self(), "nfs-attackhook");
	char command[ATTACK_HOOK_MAX]; /* the running command's copy */
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->n && !h->stopping)
			pthread_cond_wait(&h->cv_work, &h->mu);
		if (!h->n)
			break;
		struct hook_job j = h->ring[h->head];
		/* The command in force now; a set while it runs is for the next run. */
		bool on = h->command[0] != '\0';
		uint32_t timeout_ms = h->timeout_ms;
		if (on)
			memcpy(command, h->command, ATTACK_HOOK_MAX);
		h->running = true;
		pthread_mutex_unlock(&h->mu);
		/* Without a command (set to "" since it was queued) the event is let go. */
		int r = on ? run_one(command, timeout_ms, &j) : 0;
		free(j.json);
		pthread_mutex_lock(&h->mu);
		h->runs += on;
		h->failures += r != 0;
		h->timeouts += r == 2;
		h->head = (h->head + 1) % ATTACK_HOOK_QUEUE;
		h->n--;
		h->running = false;
		pthread_cond_broadcast(&h->cv_done);
	}
	pthread_mutex_unlock(&h->mu);
	/* A SIGPIPE left pending by a hook that closed its input early. */
	struct timespec zero = {0, 0};
	while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
		;
	return NULL;
}

int attack_hook_start(const char *command, uint32_t timeout_ms, struct attack_hook **out)
{
	*out = NULL;
	if (!command)
		command = "";
	size_t n = strlen(command);
	if (n >= ATTACK_HOOK_MAX)
		return -EINVAL;
	struct attack_hook *h = fault_calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	memcpy(h->command, command, n + 1);
	h->timeout_ms = timeout_ms ? timeout_ms : ATTACK_HOOK_TIMEOUT_MS;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv_work, NULL);
	pthread_cond_init(&h->cv_done, NULL);
	int rc = pthread_create(&h->thread, NULL, hook_main, h);
	if (rc != 0) {
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv_work);
		pthread_cond_destroy(&h->cv_done);
		free(h);
		return -rc;
	}
	*out = h;
	return 0;
}

int attack_hook_set(struct attack_hook *h, const char *command, uint32_t timeout_ms)
{
	if (!command)
		command = "";
	size_t n = strlen(command);
	if (n >= ATTACK_HOOK_MAX)
		return -EINVAL;
	pthread_mutex_lock(&h->mu);
	memcpy(h->command, command, n + 1);
	h->timeout_ms = timeout_ms ? timeout_ms : ATTACK_HOOK_TIMEOUT_MS;
	pthread_mutex_unlock(&h->mu);
	return 0;
}

int attack_hook_submit(struct attack_hook *h, const char *json, size_t len)
{
	if (!h)
		return 0;
	pthread_mutex_lock(&h->mu);
	bool on = h->command[0] != '\0';
	pthread_mutex_unlock(&h->mu);
	if (!on)
		return 0;
	char *copy = fault_malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, json, len);
	copy[len] = '\n';
	pthread_mutex_lock(&h->mu);
	if (h->n == ATTACK_HOOK_QUEUE) {
		h->dropped++;
		pthread_mutex_unlock(&h->mu);
		free(copy);
		log_warn("attack hook: %d events waiting: this one is not handed to the hook",
		         ATTACK_HOOK_QUEUE);
		return -ENOSPC;
	}
	h->ring[(h->head + h->n) % ATTACK_HOOK_QUEUE] = (struct hook_job){copy, len + 1};
	h->n++;
	pthread_cond_signal(&h->cv_work);
	pthread_mutex_unlock(&h->mu);
	return 0;
}

void attack_hook_drain(struct attack_hook *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	while (h->n)
		pthread_cond_wait(&h->cv_done, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

void attack_hook_stop(struct attack_hook *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_signal(&h->cv_work);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv_work);
	pthread_cond_destroy(&h->cv_done);
	free(h);
}

void attack_hook_stats_get(struct attack_hook *h, struct attack_stats *st)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	st->hook_runs = h->runs;
	st->hook_failures = h->failures;
	st->hook_timeouts = h->timeouts;
	st->hook_dropped = h->dropped;
	pthread_mutex_unlock(&h->mu);
}
