/*
 * config: read and validate the YAML configuration file.
 *
 * config_load() reads the whole file, checks every key against the schema
 * and reports every problem it finds -- not just the first -- as
 * "FILE:LINE: key.path: what is wrong (value)". Unknown keys are errors
 * (a typo must not silently fall back to a default). Nothing is applied
 * until the whole file is valid, so a bad file never half-starts the
 * collector.
 *
 * Later issues add sections (sites, store, elasticsearch, devices); each
 * keeps the same error form.
 */
#ifndef NFSENTRY_CONFIG_H
#define NFSENTRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/decoder.h"
#include "nfsentry/log.h"
#include "nfsentry/udpin.h"

#define CONFIG_MAX_LISTEN 32

struct config {
	char *path; /* the file read, owned */

	/* log: */
	enum log_level log_level; /* log.level, default info */
	bool log_syslog;          /* log.syslog, default false */

	/* listen: list of "ADDR:PORT" / "[ADDR6]:PORT" */
	struct udpin_listen listen[CONFIG_MAX_LISTEN];
	size_t n_listen;
	int rcvbuf_bytes; /* receive_buffer_bytes, default 33554432 */

	/*
	 * Decoder settings: templates.lifetime_s, templates.max_per_exporter,
	 * limits.max_exporters, exporters.allow (prefix list),
	 * exporters.sampling (list of {exporter, rate}). The allow and sampling
	 * arrays point into memory owned by this struct.
	 */
	struct decoder_config decoder;
};

/* Fill *cfg with the defaults (no file). config_free() is still required. */
void config_defaults(struct config *cfg);

/*
 * One problem in a configuration file. Messages are complete lines in the
 * form "FILE:LINE: key: what is wrong".
 */
struct config_errors {
	char **msg; /* owned; n entries */
	size_t n;
};

/*
 * Load and validate path into *cfg (which is overwritten). Returns 0 when the
 * file is valid. Otherwise returns -EINVAL (or -errno if it could not be
 * read), fills errs with every problem found, and leaves *cfg holding only
 * defaults (still to be released with config_free()).
 */
int config_load(const char *path, struct config *cfg, struct config_errors *errs);

/* Release what config_load()/config_defaults() allocated. */
void config_free(struct config *cfg);
void config_errors_free(struct config_errors *errs);

#endif
