/*
 * exwatch: the exporter events of the log, from snapshots of the decoder's
 * exporter table (decoder_exporters_get()). `run` takes a snapshot once a
 * second on the loop thread and logs each event as one line; nothing here
 * runs per datagram or per record.
 *
 * Events, for an exporter (address, port, observation domain):
 *   EXWATCH_NEW       first seen
 *   EXWATCH_TEMPLATES holds more templates than at the last snapshot
 *   EXWATCH_SAMPLING  its sampling rate in force changed
 *   EXWATCH_QUIET     nothing received for EXWATCH_QUIET_MS
 *   EXWATCH_BACK      received again after being quiet
 *   EXWATCH_GONE      dropped from the decoder's table (its state expired)
 */
#ifndef NFSENTRY_EXWATCH_H
#define NFSENTRY_EXWATCH_H

#include <stddef.h>
#include <stdint.h>

#include "nfsentry/decoder.h"

/* An exporter silent this long is "quiet": a minute's worth of active timeouts, five times. */
#define EXWATCH_QUIET_MS 300000u

enum exwatch_event {
	EXWATCH_NEW,
	EXWATCH_TEMPLATES,
	EXWATCH_SAMPLING,
	EXWATCH_QUIET,
	EXWATCH_BACK,
	EXWATCH_GONE,
};

/*
 * Called once per event. e is the exporter now (for GONE: as last seen);
 * prev is its previous snapshot (NULL for NEW). Both valid during the call.
 */
typedef void (*exwatch_fn)(void *ud, enum exwatch_event ev, const struct decoder_exporter_info *e,
                           const struct decoder_exporter_info *prev);

struct exwatch;

/*
 * A watcher for up to max exporters (the decoder's limits.max_exporters);
 * beyond that the extra exporters are not watched. NULL when out of memory.
 */
struct exwatch *exwatch_create(size_t max);
void exwatch_destroy(struct exwatch *w); /* NULL is accepted */

/* The snapshot array of exwatch_create()'s max entries to fill, and its size. */
struct decoder_exporter_info *exwatch_buffer(struct exwatch *w, size_t *max);

/*
 * Compare the n entries just written into exwatch_buffer() (n may exceed
 * max: only max are read) with the previous snapshot at now_ms and call fn
 * per event. The first call reports every exporter as NEW.
 */
void exwatch_update(struct exwatch *w, size_t n, uint64_t now_ms, exwatch_fn fn, void *ud);

/* The event's name in the log ("exporter first seen", ...). */
const char *exwatch_event_name(enum exwatch_event ev);

#endif
