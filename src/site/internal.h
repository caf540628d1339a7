/*
 * Private to src/site/: hooks the unit tests use. Not part of any public API.
 */
#ifndef NFSENTRY_SITE_INTERNAL_H
#define NFSENTRY_SITE_INTERNAL_H

/*
 * Fault simulation for prefix.c (after SQLite's sqlite3FaultSim): the
 * allocation made after n further successful ones fails (n = 0: the next
 * one), and every allocation after it succeeds again. n < 0 disarms. Not
 * thread-safe; for tests only.
 */
void prefix_fault_after(long n);

#endif
