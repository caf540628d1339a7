/*
 * daily: the long-range analysis of one site's day (METHOD §9).
 *
 * Reads a day's stored documents (inside, offender, slot, arpMac), or the
 * slots' digests of them (daily_digest_build() below), and finds
 * (1) inside IPs that over the whole day contacted only one or two outside
 * IPs, a few times, with few packets, or only received a few packets from
 * one (possible command-and-control contact), and (2) MACs that the site's
 * devices showed with several IPs. The result can be printed (text, JSON
 * lines), made into `daily` documents for the store and Elasticsearch, and
 * written as a report file for the site's administrator.
 *
 * Not this module's job: judging slots, keeping the offender database
 * (rule III, reputation.h: it is only read, to flag contacts whose outside
 * IP is in it), deciding when the collector runs it (daily_runner below
 * does that on a thread of its own).
 *
 * Memory: bounded by struct daily_config (max_inside, max_outside,
 * max_macs); what a cap left out is counted in struct daily_result.
 * Threads: one analysis uses one struct store (its own connection) and
 * nothing shared; daily_day_resolve() and daily_day_of() read the zone's
 * TZif file themselves (src/daily/tz.c, zones cached per name) and never
 * touch the TZ environment variable, so other threads may spawn processes
 * with environ meanwhile.
 *
 * Operator view: docs/daily.md.
 */
#ifndef NFSENTRY_DAILY_H
#define NFSENTRY_DAILY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nfsentry/flow.h"
#include "nfsentry/site.h"

struct store;
struct store_doc;

/* Limits of the configuration (config.c checks them). */
#define DAILY_PEERS_MAX 8     /* max_peers at most */
#define DAILY_PROBE_MAX 64    /* probe_targets at most */
#define DAILY_EXCLUDE_MAX 256 /* exclude_macs / exclude_prefixes entries */
#define DAILY_TZ_MAX 64       /* bytes of a time zone name, NUL included */
#define DAILY_PATH_MAX 512
#define DAILY_REPUTATION_PATH_MAX 4096 /* = REPUTATION_PATH_MAX */
#define DAILY_HOOK_ARGV_MAX 16
#define DAILY_HOOK_ARG_MAX 256
#define DAILY_MAC_IPS_MAX 256   /* IPs kept per MAC (more are counted) */
#define DAILY_MAC_PLACES_MAX 32 /* device:interface places kept per MAC */
#define DAILY_OFFENDERS_MAX 20  /* offenders listed in the report */

/* Defaults (docs/daily.md "Thresholds"). */
#define DAILY_DEFAULT_MAX_PEERS 2
#define DAILY_DEFAULT_MAX_FLOWS 48
#define DAILY_DEFAULT_MAX_PACKETS 500
#define DAILY_DEFAULT_PROBE_TARGETS 3
#define DAILY_DEFAULT_BEACON_MAX_CV 0.1
#define DAILY_DEFAULT_BEACON_MIN_CONTACTS 3
#define DAILY_DEFAULT_MAX_SUSPECTS 1000
#define DAILY_DEFAULT_MAX_INSIDE 1000000
#define DAILY_DEFAULT_MAX_OUTSIDE 1000000
#define DAILY_DEFAULT_MAX_MACS 1000000
#define DAILY_DEFAULT_MAC_MIN_IPS 2
#define DAILY_DEFAULT_RUN_HOUR 1
#define DAILY_DEFAULT_TIMEOUT_S 600
#define DAILY_DEFAULT_HOOK_TIMEOUT_S 60

/* The `daily:` section of the configuration (docs/configuration.md). */
struct daily_config {
	bool enabled;                 /* the collector runs it each day; default true */
	char tz[DAILY_TZ_MAX];        /* TZ database name of the day's clock; "UTC" */
	uint32_t run_hour;            /* hour (0..23, local) of the next day to run at */
	uint32_t max_peers;           /* outside IPs contacted over the day, at most */
	uint32_t max_flows;           /* flows of those contacts over the day, at most */
	uint64_t max_packets;         /* packets both ways, at most */
	uint32_t probe_targets;       /* an outside IP starting conversations with more
	                                 inside IPs than this in the day is probing */
	double beacon_max_cv;         /* gaps' coefficient of variation of a beacon */
	uint32_t beacon_min_contacts; /* contact slots needed to call it a beacon */
	uint32_t max_suspects;        /* reported at most (fewest flows first) */
	uint32_t max_inside, max_outside, max_macs; /* tracked at most (memory bound) */
	uint32_t mac_min_ips; /* a MAC with at least this many IPs is reported */
	uint8_t exclude_macs[DAILY_EXCLUDE_MAX][6];
	size_t n_exclude_macs;
	struct site_prefix exclude_prefixes[DAILY_EXCLUDE_MAX];
	size_t n_exclude_prefixes;
	char report_dir[DAILY_PATH_MAX];                    /* "" = no report files */
	char hook[DAILY_HOOK_ARGV_MAX][DAILY_HOOK_ARG_MAX]; /* argv; hook[0] absolute */
	size_t n_hook;
	uint32_t timeout_s;      /* one site's analysis, at most */
	uint32_t hook_timeout_s; /* the hook is killed past it */
	/*
	 * The offender database read for the contacts' offender flag: not a
	 * configuration key, set by the program from reputation.path
	 * (reputation_paths()) when reputation.enabled; "" = not read.
	 */
	char reputation_db[DAILY_REPUTATION_PATH_MAX];
	/*
	 * Not a configuration key either: true (nfsentry daily
	 * --from-documents) reads every slot's documents, never its digest.
	 */
	bool from_documents;
};

/* Fill *c with the defaults above (inline: the configuration sets them without this library). */
static inline void daily_config_defaults(struct daily_config *c)
{
	*c = (struct daily_config){
	    .enabled = true,
	    .tz = "UTC",
	    .run_hour = DAILY_DEFAULT_RUN_HOUR,
	    .max_peers = DAILY_DEFAULT_MAX_PEERS,
	    .max_flows = DAILY_DEFAULT_MAX_FLOWS,
	    .max_packets = DAILY_DEFAULT_MAX_PACKETS,
	    .probe_targets = DAILY_DEFAULT_PROBE_TARGETS,
	    .beacon_max_cv = DAILY_DEFAULT_BEACON_MAX_CV,
	    .beacon_min_contacts = DAILY_DEFAULT_BEACON_MIN_CONTACTS,
	    .max_suspects = DAILY_DEFAULT_MAX_SUSPECTS,
	    .max_inside = DAILY_DEFAULT_MAX_INSIDE,
	    .max_outside = DAILY_DEFAULT_MAX_OUTSIDE,
	    .max_macs = DAILY_DEFAULT_MAX_MACS,
	    .mac_min_ips = DAILY_DEFAULT_MAC_MIN_IPS,
	    .timeout_s = DAILY_DEFAULT_TIMEOUT_S,
	    .hook_timeout_s = DAILY_DEFAULT_HOOK_TIMEOUT_S,
	};
}

/*
 * One day in a time zone: the slots whose start lies in [start_s, end_s).
 * A day is 23, 24 or 25 hours long (DST), so n_slots is 276, 288 or 300.
 */
struct daily_day {
	char date[11];              /* "YYYY-MM-DD" */
	int64_t start_s, end_s;     /* local midnight to the next, Unix s */
	int64_t from_slot, to_slot; /* both included */
	uint32_t n_slots;
};

/*
 * The day date ("YYYY-MM-DD") in time zone tz (a TZ database name, "UTC"
 * or NULL for UTC). Returns 0, or -EINVAL (a bad date, a date the zone
 * skipped, or a tz that is not a readable, well-formed TZif file under
 * /usr/share/zoneinfo or $TZDIR). A midnight the clocks skipped starts
 * the day at the jump; one that happened twice, at the first.
 */
int daily_day_resolve(const char *date, const char *tz, struct daily_day *out);

/* The day in tz that holds Unix time t_s (years 1..9999, else -EINVAL). Same errors. */
int daily_day_of(int64_t t_s, const char *tz, struct daily_day *out);

/*
 * True when tz names a zone daily_day_resolve() accepts: "UTC", or a
 * regular file under $TZDIR or /usr/share/zoneinfo named with letters,
 * digits and _ + - / (no "..", not absolute). Inline: the configuration
 * checks it without linking this library. The C library would take an
 * unknown name as UTC without a word; this refuses it.
 */
static inline bool daily_tz_valid(const char *tz)
{
	char path[DAILY_PATH_MAX + DAILY_TZ_MAX];
	const char *dir = getenv("TZDIR");
	struct stat sb;

	if (!tz || !*tz || strcmp(tz, "UTC") == 0)
		return true;
	if (strlen(tz) >= DAILY_TZ_MAX || tz[0] == '/' || strstr(tz, "..") ||
	    strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") !=
	        strlen(tz))
		return false;
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* How an inside IP took part in a contact. */
enum daily_how {
	DAILY_STARTED,  /* it sent to the outside IP, which did not start it */
	DAILY_ANSWERED, /* it answered the outside IP (repliedTo), which probed nobody else */
	DAILY_RECEIVED, /* it only received (an offender document's ipList) */
};

struct daily_contact {
	struct flow_addr ip; /* the outside IP */
	enum daily_how how;
	bool offender;     /* offender_day or offender_db */
	bool offender_day; /* an offender document that day */
	bool offender_db;  /* in the offender database with a first offence by the day's end */
	uint32_t slots;    /* slots with this contact */
	int64_t first_slot, last_slot;
};

struct daily_suspect {
	struct flow_addr ip;
	struct daily_contact contacts[DAILY_PEERS_MAX];
	uint32_t n_contacts;
	uint64_t flows, packets, octets;          /* its egress in the contact slots */
	uint64_t in_flows, in_packets, in_octets; /* what it received in them */
	uint32_t contact_slots;                   /* slots with any contact */
	int64_t first_slot, last_slot;
	double mean_gap_slots; /* mean gap between contact slots (0 with < 2) */
	double gap_cv;         /* their coefficient of variation (-1 with < 3 slots) */
	bool beacon;           /* gap_cv <= beacon_max_cv with enough contacts */
	bool received_only;    /* never sent anything all day */
};

struct daily_mac_ip {
	struct flow_addr ip;
	int64_t first_slot, last_slot;
};

struct daily_mac {
	uint8_t mac[6];
	struct daily_mac_ip *ips; /* n_ips, by address; owned by the result */
	uint32_t n_ips;
	uint32_t ips_dropped; /* beyond DAILY_MAC_IPS_MAX */
	char (*places)[96];   /* "device interface", n_places; owned by the result */
	uint32_t n_places;
};

struct daily_offender {
	struct flow_addr ip;
	uint32_t slots;       /* slots with an offender document */
	uint64_t packets;     /* everything it sent into the site in them */
	uint32_t max_targets; /* largest touchPeers of one slot */
	char labels[96];      /* its labels over the day, comma-separated */
};

/* What one day of one site gave. Owned by the caller: daily_result_free(). */
struct daily_result {
	char site[64];
	struct daily_day day;
	char tz[DAILY_TZ_MAX];
	uint32_t slots_present;         /* slot documents found */
	uint32_t slots_partial;         /* of those, slots the collector did not see whole */
	bool partial;                   /* slots missing or partial: the day was not seen whole */
	struct daily_suspect *suspects; /* n_suspects, fewest flows first */
	size_t n_suspects;
	size_t suspects_dropped; /* beyond max_suspects */
	struct daily_mac *macs;  /* n_macs, by MAC */
	size_t n_macs;
	struct daily_offender offenders[DAILY_OFFENDERS_MAX]; /* most slots first */
	size_t n_offenders;                                   /* listed */
	uint64_t offenders_day;                               /* distinct offender IPs of the day */
	uint64_t labels[16]; /* sums of the slot documents' label counts, by name below */
	char label_names[16][24];
	size_t n_labels;
	/* What was read, and what the caps left out. */
	uint64_t docs_inside, docs_offender, docs_arp, docs_bad;
	uint64_t inside_ips, inside_dropped, outside_dropped, macs_dropped;
	bool reputation_read; /* cfg->reputation_db was read for the suspects' contacts */
	/*
	 * Slots read from their digest; digests found but not used: corrupt
	 * (checksum, structure) or made for a larger max_peers / probe_targets
	 * bound than they hold (both: the slot's documents were read instead).
	 */
	uint32_t slots_digest, digests_bad, digests_unfit;
	double elapsed_s;
};

/*
 * Analyse site's day from store s (borrowed, a connection of the caller's;
 * read only). cfg is borrowed. On success *out is a new result; on failure
 * *out is NULL and err says what failed ("daily SITE DATE: ..."). Errors:
 * -EINVAL, -ENOMEM, -ETIMEDOUT (cfg->timeout_s passed), or the store's.
 * With cfg->reputation_db set, the suspects' contacts are looked up in that
 * database (opened read-only for the call); a database that cannot be read
 * (not made yet) is no error: reputation_read stays false and the offender
 * flags come from the day's documents only.
 */
int daily_analyse(struct store *s, const char *site, const struct daily_day *day,
                  const struct daily_config *cfg, struct daily_result **out, char *err,
                  size_t errlen);

/* Free r and everything it holds (NULL ok). */
void daily_result_free(struct daily_result *r);

/*
 * The slot digest (docs/internals/digest.md): what the analysis reads of
 * one (site, slot), made by the closer from the slot's documents and
 * stored with them (store_slot_write_digest()), so a day is analysed
 * without reading its inside, offender and arpMac documents. Binary,
 * little-endian, versioned, CRC-32 checked.
 */
#define DAILY_DIGEST_VERSION 1
/*
 * Make the digest of time_slot from its n documents docs (borrowed; the
 * inside, offender and arpMac ones are read, the rest ignored), for an
 * analysis with max_peers <= max_peers (1..DAILY_PEERS_MAX) and
 * probe_targets <= probe_targets (0..DAILY_PROBE_MAX). On success *out is
 * a new buffer of *out_len bytes for free(); on failure *out is NULL.
 * Errors: -EINVAL, -ENOMEM, -E2BIG (over STORE_DIGEST_MAX_BYTES).
 */
int daily_digest_build(int64_t time_slot, const struct store_doc *docs, size_t n,
                       uint32_t max_peers, uint32_t probe_targets, void **out, size_t *out_len);

/*
 * One JSON object per finding per line: "kind" ccSuspect or macMultiIp,
 * then a line of kind "dailySummary". Returns 0 or -EIO / -ENOMEM.
 */
int daily_result_ndjson(const struct daily_result *r, FILE *out);

/* The report a site administrator reads (plain text). Returns 0 or -EIO. */
int daily_result_text(const struct daily_result *r, FILE *out);

/*
 * Store r as `daily` documents (docs/daily.md "Stored"): the pseudo-slot
 * (SITE@daily, the day's first slot), one document per finding plus a
 * summary, replacing an earlier analysis of the same day. Returns 0 or the
 * store's error (message in store_error_get()).
 */
int daily_store_write(struct store *s, const struct daily_result *r);

/* The store site name of site's daily documents ("SITE@daily") into buf. */
void daily_store_site(const char *site, char *buf, size_t len);

/*
 * The latest stored daily analysis of site (for the dashboard): calls fn
 * for each of its documents (JSON, kind "daily"), summary first is not
 * promised; *day_slot gets its day's first slot. -ENOENT when none.
 */
int daily_store_latest(struct store *s, const char *site, int64_t *day_slot,
                       int (*fn)(void *ud, const char *json, size_t len), void *ud);

/*
 * The collector's daily run (docs/daily.md "In the collector"): a thread
 * of its own that, after run_hour of each new day in cfg->tz, analyses the
 * day before for every site with its own read connection, stores the
 * result through its own write connection, writes the report file and runs
 * the hook. Failures are logged and counted; they never stop the
 * collector.
 */
struct daily_runner;

struct daily_stats {
	uint64_t runs;     /* site-days analysed and stored */
	uint64_t failures; /* analyses, stores or reports that failed */
	uint64_t hook_runs, hook_failures, hook_timeouts;
	uint64_t checks; /* schedule checks the runner finished */
};

/* Days before yesterday that a collector back from a downtime still analyses. */
#define DAILY_CATCHUP_DAYS 7

/*
 * The runner's schedule for one site: which day is due at now_s. Day D's
 * run time is run_hour hours after the local midnight that ends it (in
 * tz). done_start_s is the start of the latest day already analysed (run
 * or found stored), INT64_MIN when none. Returns 1 with *due set to the
 * oldest day that starts after done_start_s and whose run time has come,
 * going back at most DAILY_CATCHUP_DAYS days before the latest such day;
 * 0 when no day is due; -EINVAL for a bad tz. Pure: no store, no clock.
 */
int daily_schedule_due(const char *tz, uint32_t run_hour, int64_t now_s, int64_t done_start_s,
                       struct daily_day *due);

/*
 * Test hook of the runner's clock: when the environment variable
 * NFSENTRY_DAILY_NOW holds a Unix time at daily_runner_start(), the runner's
 * clock starts there and runs on with the real one (tests/integration
 * daily.sh). Not for production use.
 */
#define DAILY_NOW_ENV "NFSENTRY_DAILY_NOW"

/*
 * Start the runner. sites (n_sites names, copied), store_path and cfg are
 * copied. Each site's last analysed day is read from the store (its latest
 * daily documents) on the thread, which then checks at once and every
 * minute for due days (daily_schedule_due()). Returns 0, or -ENOMEM /
 * -EINVAL (a bad DAILY_NOW_ENV) / -errno of pthread_create.
 */
int daily_runner_start(const struct daily_config *cfg, const char *store_path,
                       const char *const *sites, size_t n_sites, struct daily_runner **out);

/*
 * The configuration reload of daily.hook and daily.hook_timeout_s (copied
 * from cfg; the rest of cfg is not looked at): the next site-day the
 * runner does runs the new hook (n_hook 0: none); one under way finishes
 * with the hook it started with. Any thread; NULL runner: 0, nothing done.
 * Returns 0, or -EINVAL (n_hook above DAILY_HOOK_ARGV_MAX) with the hook
 * in force kept.
 */
int daily_runner_hook_set(struct daily_runner *r, const struct daily_config *cfg);

/*
 * The configuration reload: the runner analyses sites (n_sites names,
 * copied) from its next check on. A site kept keeps its last analysed
 * day; an added one reads its own from the store (as at the start), so its
 * due days are analysed, a day on which it has nothing stored giving no
 * report (a site added mid-day: from that day on); a removed one is no
 * longer analysed by the runner (its stored days stay for `nfsentry
 * daily`). Returns 0, or -ENOMEM (the runner keeps its sites). Any thread.
 */
int daily_runner_sites_set(struct daily_runner *r, const char *const *sites, size_t n_sites);

/* Ask the runner to analyse every site's yesterday now, done or not (tests). */
void daily_runner_poke(struct daily_runner *r);

/* Stop the thread (an analysis under way finishes first) and free. NULL ok. */
void daily_runner_stop(struct daily_runner *r);

/* Copy the runner's counters. */
void daily_runner_stats(struct daily_runner *r, struct daily_stats *st);

/*
 * One site-day done the runner's way, on the calling thread: analyse with
 * rd, store with wr (NULL: not stored), write the report into
 * cfg->report_dir and run the hook. A day with no document of the site
 * stored is left alone (nothing stored, no report, no hook; returns 0).
 * Used by the runner and by replay. Returns 0 or a negative code (logged).
 */
int daily_run_one(struct store *rd, struct store *wr, const struct daily_config *cfg,
                  const char *site, const struct daily_day *day, struct daily_stats *st);

#endif
