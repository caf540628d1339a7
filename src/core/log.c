/*
 * log: level filter and the two sinks (stderr, syslog). See log.h.
 *
 * Each line is formatted into a local buffer and written with one write(2)
 * so lines from the loop thread and workers never interleave.
 */
#include "nfsentry/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/fileio.h"

int log_level_cur = LOG_LVL_INFO;
static bool log_to_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_syslog[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void log_init(enum log_level level, bool use_syslog, const char *ident)
{
	log_level_cur = (int)level;
	if (use_syslog && !log_to_syslog)
		openlog(ident ? ident : "nfsentry", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!use_syslog && log_to_syslog)
		closelog();
	log_to_syslog = use_syslog;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	size_t off = 0;
	va_list ap;

	if (level < LOG_LVL_ERROR || level > LOG_LVL_DEBUG)
		level = LOG_LVL_ERROR;
	if (log_to_syslog) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		syslog(level_syslog[level], "%s", line);
		return;
	}

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(line + off, sizeof(line) - off, ".%03ldZ %s: ",
	                 ts.tv_nsec / 1000000L, level_names[level]);
	if (n > 0)
		off += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	off += (size_t)n;
	if (off >= sizeof(line) - 1) {
		/* Truncated: mark it rather than lose the newline. */
		off = sizeof(line) - 5;
		memcpy(line + off, "...", 3);
		off += 3;
	}
	line[off++] = '\n';

	/* Nowhere to report a failure of the log itself. */
	(void)fileio_write_all(STDERR_FILENO, line, off);
}

bool log_ratelimit_ok(uint64_t *last_ms, uint64_t now_ms, uint64_t interval_ms)
{
	if (*last_ms != 0 && now_ms < *last_ms) {
		/*
		 * The clock went back (a replayed capture whose pieces were
		 * recorded out of order, a wall clock stepped back): start the
		 * interval again from here rather than let every call through.
		 */
		*last_ms = now_ms ? now_ms : 1;
		return false;
	}
	if (*last_ms != 0 && now_ms - *last_ms < interval_ms)
		return false;
	*last_ms = now_ms ? now_ms : 1;
	return true;
}
