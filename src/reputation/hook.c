/*
 * reputation hook: one run of the operator's block/unblock program, with
 * its arguments, its environment and a hard time-out. The thread that
 * feeds it events is in reputation.c. See reputation.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nfsentry/clock.h"

extern char **environ;

/* How often a running hook is checked for its end. */
#define HOOK_POLL_MS 5

int reputation_hook_run(const char *program, const struct reputation_event *ev, uint64_t timeout_ms,
                        int *status)
{
	char dur[32], until[32], e_action[32], e_ip[64], e_reason[420], e_labels[160], e_sites[300],
	    e_dur[64], e_until[64];
	size_t n_env = 0;
	int rc;

	*status = 0;
	snprintf(dur, sizeof(dur), "%lld", (long long)ev->duration_s);
	rep_time_format(ev->until_s, until, sizeof(until));
	snprintf(e_action, sizeof(e_action), "NFSENTRY_ACTION=%s", ev->block ? "block" : "unblock");
	snprintf(e_ip, sizeof(e_ip), "NFSENTRY_IP=%s", ev->ip);
	snprintf(e_reason, sizeof(e_reason), "NFSENTRY_REASON=%s", ev->reason);
	snprintf(e_labels, sizeof(e_labels), "NFSENTRY_LABELS=%s", ev->labels);
	snprintf(e_sites, sizeof(e_sites), "NFSENTRY_SITES=%s", ev->sites);
	snprintf(e_dur, sizeof(e_dur), "NFSENTRY_DURATION_S=%s", dur);
	snprintf(e_until, sizeof(e_until), "NFSENTRY_UNTIL=%s", until);

	for (char **e = environ; e && *e; e++)
		n_env++;
	char **envp = calloc(n_env + 8, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	size_t k = 0;
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, "NFSENTRY_", 9) != 0)
			envp[k++] = *e;
	envp[k++] = e_action;
	envp[k++] = e_ip;
	envp[k++] = e_reason;
	envp[k++] = e_labels;
	envp[k++] = e_sites;
	envp[k++] = e_dur;
	envp[k++] = e_until;
	envp[k] = NULL;

	char *argv[] = {(char *)program,    ev->block ? "block" : "unblock",
	                (char *)ev->ip,     dur,
	                (char *)ev->reason, (char *)ev->labels,
	                (char *)ev->sites,  NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	pid_t pid;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* Its output goes to the collector's standard error (the journal). */
	posix_spawn_file_actions_adddup2(&fa, 2, 1);
	posix_spawnattr_init(&at);
	/* A process group of its own: a time-out kills whatever it started too. */
	posix_spawnattr_setpgroup(&at, 0);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                  POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&pid, program, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(envp);
	if (rc != 0)
		return -rc;

	uint64_t end = clock_ms(CLOCK_MONOTONIC) + timeout_ms;
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = -errno;
			kill(-pid, SIGKILL);
			return rc;
		}
		if (clock_ms(CLOCK_MONOTONIC) >= end) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return -ETIMEDOUT;
		}
		struct timespec ts = {0, HOOK_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
		return 0;
	/* posix_spawn reports exec failure through exit status 127. */
	return -ECHILD;
}
