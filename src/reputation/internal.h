/*
 * Shared inside src/reputation/: the database handle and small helpers.
 */
#ifndef NFSENTRY_REPUTATION_INTERNAL_H
#define NFSENTRY_REPUTATION_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "nfsentry/reputation.h"

struct reputation_db {
	sqlite3 *h; /* one connection, one thread at a time */
};

/* t_s as "YYYY-MM-DDTHH:MM:SSZ" (>= 21 bytes). */
void rep_time_format(int64_t t_s, char *buf, size_t len);

/* An SQLite result code as a negative errno. */
int rep_db_err(sqlite3 *h, int rc);

#endif
