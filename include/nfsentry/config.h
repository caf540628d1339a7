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
 * Sections: log, listen, receive_buffer_bytes, exporters, templates,
 * limits (the decoder's), sites, slots, store, documents (the slot
 * engine's), elasticsearch (the shipper's), sites[].devices (the SSH
 * poller's, docs/l2.md), web (the dashboard's, docs/api.md), reputation
 * (the offender database's, docs/offenders.md) and attack (the flood
 * detector's, docs/attacks.md).
 */
#ifndef NFSENTRY_CONFIG_H
#define NFSENTRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/alert.h"
#include "nfsentry/attack.h"
#include "nfsentry/daily.h"
#include "nfsentry/decoder.h"
#include "nfsentry/es.h"
#include "nfsentry/log.h"
#include "nfsentry/reputation.h"
#include "nfsentry/site.h"
#include "nfsentry/udpin.h"
#include "nfsentry/web.h"

/*
 * Limits on what one configuration may hold. Each keeps a hostile or
 * mistaken file from growing memory without bound.
 */
#define CONFIG_MAX_LISTEN 32          /* listen entries: one socket each */
#define CONFIG_MAX_ALLOW 4096         /* exporters.allow prefixes */
#define CONFIG_MAX_SAMPLING 4096      /* exporters.sampling overrides */
#define CONFIG_MAX_FILE_BYTES 1048576 /* a bigger file is refused unread */
#define CONFIG_MAX_ERRORS 100         /* then one "too many errors" line */
/*
 * Sites and their lists. 256 sites x 4096 inside prefixes is exactly
 * PREFIX_TABLE_MAX_PREFIXES (2^20), so a valid file always fits the prefix
 * table; a campus or research centre has tens of prefixes, not thousands.
 */
#define CONFIG_MAX_SITES 256
#define CONFIG_MAX_SITE_PREFIXES 4096 /* sites[].inside */
#define CONFIG_MAX_SITE_ALLOW 4096    /* sites[].allow */
#define CONFIG_MAX_SITE_DEVICES 256   /* sites[].devices: SSH polls of one site */
/* store.path, including its NUL: PATH_MAX on Linux. */
#define CONFIG_STORE_PATH_MAX 4096
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
	 * templates.scope, limits.max_exporters, exporters.allow (prefix list),
	 * exporters.sampling (list of {exporter, rate}). decoder.allow and
	 * decoder.sampling point at allow_owned and sampling_owned below.
	 */
	struct decoder_config decoder;

	/* Owned (freed by config_free()); NULL when empty. */
	struct decoder_prefix *allow_owned;
	struct decoder_sampling_override *sampling_owned;

	/*
	 * sites: owned array of n_sites (NULL/0 when none: decode only), in
	 * file order. Each site's inside[] and allow[] arrays are owned too;
	 * config_free() frees all of it. Fields not in the file hold
	 * site_config_defaults(). IPv4 inside prefixes are stored mapped
	 * (::ffff:a.b.c.d, len 96 + n). No two sites hold the same prefix and
	 * no two share a name; different prefixes may overlap (the longest
	 * match wins). Every allow[] address lies inside the site's prefixes.
	 */
	struct site_config *sites;
	size_t n_sites;

	uint32_t grace_s; /* slots.grace_s, 0..290, default 10 */

	/*
	 * store.path, default "data/nfsentry.db"; a relative path is taken from
	 * the working directory. Held inline, so config_defaults() still
	 * allocates nothing and a struct copy stays valid.
	 */
	char store_path[CONFIG_STORE_PATH_MAX];
	uint32_t retention_days; /* store.retention_days, 1..3650, default 30 */
	/*
	 * store.spool_path: directory for slots the store cannot write
	 * (spool.h); "" (default) = store_path with ".spool" appended.
	 */
	char spool_path[CONFIG_STORE_PATH_MAX];
	uint32_t spool_max_mib; /* store.spool_max_mib, 1..1048576, default 1024 */
	uint32_t write_retry_s; /* store.write_retry_s, 0..290, default 30 */

	/*
	 * documents.outside: "all" (docs_outside_all true) writes a document
	 * for every outside IP; "top" (default) writes the labelled ones plus
	 * the docs_outside_top (documents.outside_top, default 1000) with the
	 * most octets.
	 */
	bool docs_outside_all;
	uint32_t docs_outside_top;
	/* documents.outside_max (2000), documents.offender_max (1000): caps on
	 * outside and offender documents per slot (doc.h, doc_opts). */
	uint32_t docs_outside_max;
	uint32_t docs_offender_max;

	struct es_config es; /* elasticsearch: (es.h) */

	/*
	 * web: listen (default 127.0.0.1:8080; an empty list turns the server
	 * off), token_file, cert_file + key_file, max_connections, timeout_s.
	 */
	struct web_config web;

	/*
	 * attack: the fast path for floods (attack.h, docs/attacks.md). The
	 * per-site overrides (attack.sites) and their groups are owned and
	 * freed by config_free().
	 */
	struct attack_config attack;

	/* advice: the handling advice per label for every site (sites[].advice overrides). */
	char advice[SITE_ADVICE_LABELS][SITE_ADVICE_MAX];

	/* alerts: hook (argv list), timeout_s, rate_limit_s (alert.h, docs/alerts.md). */
	struct alert_config alerts;
	/*
	 * reputation: the offender database, block-list, hook and footprints
	 * (reputation.h, docs/offenders.md). reputation.allow is owned (freed by
	 * config_free()); NULL when empty.
	 */
	struct reputation_config reputation;

	/* daily: the long-range analysis (daily.h, docs/daily.md). */
	struct daily_config daily;
};

/*
 * Fill *cfg with the defaults (no file); *cfg is overwritten, not freed.
 * Allocates nothing, but config_free() is still the way to release it.
 */
void config_defaults(struct config *cfg);

/*
 * Every problem found in a configuration file, in file order. Each message
 * is a complete line without a newline:
 *   FILE:LINE: key.path: what is wrong (got "value")
 *   FILE:LINE:COL: YAML syntax error: libyaml's problem
 *   FILE: cannot read: strerror text
 * List items are counted from 0 (listen[0] is the first entry).
 */
struct config_errors {
	char **msg; /* owned; n entries */
	size_t n;
};

/*
 * Load and validate path into *cfg (which is overwritten, not freed). path
 * is borrowed; cfg->path gets a copy. errs is overwritten too and must be
 * released with config_errors_free() whatever the result. Returns 0 when
 * the file is valid (errs->n == 0). Otherwise returns -EINVAL, -ENOMEM, or
 * -errno if it could not be read (-EFBIG beyond CONFIG_MAX_FILE_BYTES),
 * fills errs with every problem found (at least one line, unless memory ran
 * out), and leaves *cfg holding only defaults (cfg->path NULL), still to be
 * released with config_free().
 */
int config_load(const char *path, struct config *cfg, struct config_errors *errs);

/*
 * Release what config_load()/config_defaults() allocated and reset *cfg to
 * the defaults, so a second call is harmless.
 */
void config_free(struct config *cfg);
/* Release the messages and zero *errs. */
void config_errors_free(struct config_errors *errs);

/*
 * Call fn once per key of the schema, in table order, with its path:
 * "log.level", "sites[].thresholds.min_packets" (a list of mappings adds
 * "[]"). The refused secret keys (password, api_key) are not listed. For
 * the documentation checks (tools/configkeys); path is valid during the call.
 */
void config_keys_list(void (*fn)(const char *path, void *ud), void *ud);

/*
 * Call fn once per environment override (docs/configuration.md): the
 * variable and the key path it sets.
 */
void config_env_list(void (*fn)(const char *var, const char *path, void *ud), void *ud);

#endif
