/*
 * log: the one place nfsentry writes diagnostics.
 *
 * Messages go to standard error (default) or to syslog/journald. The level
 * is tested before anything is formatted, so a disabled debug line costs one
 * comparison. This module never writes to standard output: that stream
 * belongs to data contracts such as `replay --flows csv`.
 *
 * Not for per-packet errors: those are counters in their module; at most a
 * rate-limited summary line reaches the log (see log_ratelimit_ok()).
 */
#ifndef NFSENTRY_LOG_H
#define NFSENTRY_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

/* Current threshold; read by the macros below. Set with log_init(). */
extern int log_level_cur;

/*
 * Set the threshold and the destination. ident names the program in syslog.
 * Safe to call again (e.g. after the configuration is read).
 */
void log_init(enum log_level level, bool use_syslog, const char *ident);

/* Parse "error", "warn", "info", "debug". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Write one line (a newline is added). Thread-safe: one write per line. */
void log_write(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Rate limiter for summaries of per-packet problems: returns true at most
 * once per interval_ms for a given *last_ms slot, updating it. A clock that
 * goes back restarts the interval from the earlier time (no line then).
 */
bool log_ratelimit_ok(uint64_t *last_ms, uint64_t now_ms, uint64_t interval_ms);

#define log_at(lvl, ...)                                                       \
	do {                                                                   \
		if ((lvl) <= log_level_cur)                                    \
			log_write((lvl), __VA_ARGS__);                         \
	} while (0)
#define log_error(...) log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
