/*
 * tz: time zones read from TZif files (RFC 8536), with no process-wide
 * state: no TZ variable, no tzset(). daily.c uses it for local midnights
 * and the day that holds an instant (docs/daily.md "Days and time zones").
 *
 * A zone is its transitions (64-bit times of version 2+ files, 32-bit of
 * version 1), their local time types, and the footer's POSIX TZ rule for
 * instants after the last transition ("slim" files hold few transitions
 * and rely on it). Leap second records are read past, not applied.
 *
 * Threads: a loaded zone is immutable; tz_get() shares cached zones
 * between threads (one mutex of this module around the cache).
 */
#ifndef NFSENTRY_DAILY_TZ_H
#define NFSENTRY_DAILY_TZ_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a TZif file read at most (Debian's largest "fat" file is ~4 KiB). */
#define TZ_FILE_MAX (256 * 1024)
/* Zones kept by tz_get()'s cache; more names are loaded per call. */
#define TZ_CACHE_MAX 32

struct tz_zone;

/*
 * Parse the TZif image buf[0..len). On success *out is a new zone (free it
 * with tz_free()) and 0 is returned; -EINVAL when the image is malformed
 * (bad magic, a count that overruns the image, a type index out of range,
 * transitions out of order, an offset beyond +-26 h, a footer that is not
 * a POSIX TZ string), -ENOMEM.
 */
int tz_parse(const uint8_t *buf, size_t len, struct tz_zone **out);

/*
 * The zone called name ("UTC", NULL or "" is UTC without a file; else the
 * file name under $TZDIR or /usr/share/zoneinfo, which the caller checked
 * with daily_tz_valid()). On success *z is the zone and *owned is NULL (a
 * cached zone, valid for the life of the process) or the zone itself,
 * which the caller frees with tz_free() (the cache was full). Errors:
 * -ENOENT / -errno (the file), -EINVAL (malformed or over TZ_FILE_MAX),
 * -ENOMEM.
 */
int tz_get(const char *name, const struct tz_zone **z, struct tz_zone **owned);

void tz_free(struct tz_zone *z);

/* Seconds east of UTC in z at Unix time t (|t| below 2^60: the caller bounds it). */
int32_t tz_offset(const struct tz_zone *z, int64_t t);

/*
 * Local midnight of the civil date (y, m, d) in z as Unix time, the way
 * mktime() with tm_isdst = -1 gives it: m and d may lie outside their
 * range (day 32 is the next month's 1st); a midnight that does not exist
 * (a gap) gives the instant the clocks jumped at; a midnight that exists
 * twice gives the earlier one. *wy, *wm, *wd receive the local date of
 * the result (a later date than asked when the whole day was skipped).
 */
int64_t tz_local_midnight(const struct tz_zone *z, int y, int m, int d, int *wy, int *wm, int *wd);

/* The local civil date of Unix time t in z. */
void tz_local_date(const struct tz_zone *z, int64_t t, int *y, int *m, int *d);

#endif
