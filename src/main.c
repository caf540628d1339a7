/*
 * main: the command line. One subcommand per job:
 *
 *   run           receive export over UDP and process it (the service)
 *   replay FILE   process the export datagrams in a capture, capture time as clock
 *   send FILE     send the export payloads of a capture to a live collector
 *   ship          send the store's backlog to Elasticsearch, then exit
 *   poll          poll the configured devices' ARP / MAC tables once
 *   offenders     print the offender database (rule III, docs/offenders.md)
 *   daily         the long-range analysis of a day (docs/daily.md)
 *   check-config  validate a configuration file
 *   healthcheck   GET /healthz of a running collector (the container's HEALTHCHECK)
 *
 * This file parses arguments and wires modules together; the work is done in
 * the modules. Exit status: 0 success, 1 runtime failure, 2 bad usage or bad
 * configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "nfsentry/alert.h"
#include "nfsentry/cfgreload.h"
#include "nfsentry/clock.h"
#include "nfsentry/closer.h"
#include "nfsentry/config.h"
#include "nfsentry/daily.h"
#include "nfsentry/engine.h"
#include "nfsentry/es.h"
#include "nfsentry/exwatch.h"
#include "nfsentry/flowout.h"
#include "nfsentry/healthcheck.h"
#include "nfsentry/judge.h"
#include "nfsentry/l2poll.h"
#include "nfsentry/log.h"
#include "nfsentry/pcapin.h"
#include "nfsentry/pipeline.h"
#include "nfsentry/reputation.h"
#include "nfsentry/sender.h"
#include "nfsentry/store.h"
#include "nfsentry/udpin.h"
#include "nfsentry/web.h"
#include "nfsentry/webfeed.h"
#include "nfsentry_version.h"

#define EXIT_USAGE 2
/* How long the start waits for the Elasticsearch templates (es_open()). */
#define ES_START_WAIT_MS 2000

/* Where `run` looks for its configuration when -c is not given. */
static const char *const default_config_paths[] = {
	"config/nfsentry.yaml",
	"/etc/nfsentry/nfsentry.yaml",
};

static const char usage_text[] =
    "usage: nfsentry <command> [options]\n"
    "\n"
    "commands:\n"
    "  run [-c CONFIG] [--flows csv|json]\n"
    "        receive NetFlow v5/v9/IPFIX on the configured UDP listeners\n"
    "  replay FILE [-c CONFIG] [--port N]... [--flows csv|json] [--docs -|FILE]\n"
    "        [--no-store] [--quiet] [--arp DIR]\n"
    "        process the export datagrams in a pcap/pcapng capture; the slot\n"
    "        clock is the export time the routers wrote, so a replay gives the\n"
    "        slots a live run did; with sites configured, judge each slot, write\n"
    "        the store and print a report per slot (or, with --docs, every\n"
    "        document as JSON lines)\n"
    "  send FILE --to HOST:PORT [--rate DATAGRAMS_PER_S | --speed FACTOR]\n"
    "        [--loop N] [--port N]...\n"
    "        send the export payloads of a capture to a collector over UDP\n"
    "  ship [-c CONFIG]\n"
    "        send every stored slot not yet shipped to Elasticsearch, then exit\n"
    "        (after an outage, or to fill a new cluster); exit 1 with what is left\n"
    "        when elasticsearch.drain_timeout_s passes first\n"
    "  poll [-c CONFIG] [--site NAME] [--device NAME]\n"
    "        poll the configured devices over SSH once; print the merged arpIp and\n"
    "        arpMac documents as JSON lines and one result line per device on\n"
    "        standard error; exit 1 when a device failed\n"
    "  offenders [-c CONFIG] [--blocked] [--json] [IP]\n"
    "        print the offender database: every outside IP that was in array C\n"
    "        of any site, its offences, sites, labels and block; --json: one\n"
    "        JSON object per line\n"
    "  daily [-c CONFIG] [--date YYYY-MM-DD] [--site NAME] [--json] [--from-documents]\n"
    "        analyse a stored day (default: yesterday in daily.tz): possible\n"
    "        command-and-control contacts and MACs with several IPs, per site;\n"
    "        --from-documents: read every slot's documents, not its digest\n"
    "  check-config FILE\n"
    "        validate a configuration file; errors as FILE:LINE: key: problem\n"
    "  healthcheck [-c CONFIG]\n"
    "        GET /healthz on the first web.listen address (a wildcard as loopback);\n"
    "        exit 0 when it answers 200 within 5 s, 1 otherwise\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration (run: default config/nfsentry.yaml,\n"
    "                      then /etc/nfsentry/nfsentry.yaml)\n"
    "  --flows csv|json    print every decoded record on standard output\n"
    "  --port N            only UDP datagrams to port N (repeatable)\n"
    "  --docs -|FILE       print every document of every closed slot as JSON lines\n"
    "  --no-store          replay without writing the store\n"
    "  --arp DIR           replay: device outputs from DIR/DEVICE/COMMAND.txt\n"
    "                      (docs/l2.md), attached to every slot of the device's site\n"
    "  --site, --device    poll: only this site / device\n"
    "  --blocked           offenders: only the blocked ones\n"
    "  --json              offenders: JSON lines\n"
    "  -h, --help          this text\n"
    "  -V, --version       print the version\n";

static void usage(FILE *out)
{
	fputs(usage_text, out);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("nfsentry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(try nfsentry --help)\n", stderr);
	return EXIT_USAGE;
}

/* True when word is one of the space-separated words of list. */
static int word_in_list(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; *p;) {
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, word, n) == 0)
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/*
 * Load the configuration at path, or defaults when path is NULL. Prints every
 * error on stderr. Returns 0 or EXIT_USAGE.
 */
static int load_config(const char *path, struct config *cfg)
{
	struct config_errors errs = {0};

	if (!path) {
		config_defaults(cfg);
		return 0;
	}
	if (config_load(path, cfg, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.n == 0)
			fprintf(stderr, "%s: cannot load configuration\n", path);
		config_errors_free(&errs);
		config_free(cfg);
		return EXIT_USAGE;
	}
	config_errors_free(&errs);
	return 0;
}

static const char *find_default_config(void)
{
	const char *env = getenv("NFSENTRY_CONFIG");

	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof(default_config_paths) / sizeof(default_config_paths[0]); i++) {
		FILE *f = fopen(default_config_paths[i], "r");
		if (f) {
			fclose(f);
			return default_config_paths[i];
		}
	}
	return NULL;
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < 1 || v > 65535 || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int parse_positive_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v > 0) || v > 1e12)
		return -EINVAL;
	*out = v;
	return 0;
}

#define MAX_PORT_FILTER 32

enum {
	OPT_FLOWS = 256,
	OPT_PORT,
	OPT_TO,
	OPT_RATE,
	OPT_SPEED,
	OPT_LOOP,
	OPT_QUIET,
	OPT_DOCS,
	OPT_NO_STORE,
	OPT_ARP,
	OPT_SITE,
	OPT_DEVICE,
	OPT_BLOCKED,
	OPT_DATE,
	OPT_JSON,
	OPT_FROM_DOCUMENTS,
};

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"flows", required_argument, NULL, OPT_FLOWS},
	{"port", required_argument, NULL, OPT_PORT},
	{"to", required_argument, NULL, OPT_TO},
	{"rate", required_argument, NULL, OPT_RATE},
	{"speed", required_argument, NULL, OPT_SPEED},
	{"loop", required_argument, NULL, OPT_LOOP},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"docs", required_argument, NULL, OPT_DOCS},
	{"no-store", no_argument, NULL, OPT_NO_STORE},
	{"arp", required_argument, NULL, OPT_ARP},
	{"site", required_argument, NULL, OPT_SITE},
	{"device", required_argument, NULL, OPT_DEVICE},
	{"blocked", no_argument, NULL, OPT_BLOCKED},
	{"date", required_argument, NULL, OPT_DATE},
	{"json", no_argument, NULL, OPT_JSON},
	{"from-documents", no_argument, NULL, OPT_FROM_DOCUMENTS},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Options shared by the subcommands; each checks which ones it accepts. */
struct cli {
	const char *config;
	enum flowout_format flows;
	uint16_t ports[MAX_PORT_FILTER];
	size_t n_ports;
	const char *to;
	double rate, speed;
	uint64_t loops;
	int quiet;
	const char *docs;
	int no_store;
	const char *arp, *site, *device;
	const char *date;
	int blocked, json, from_documents;
	const char *file;
};

static int parse_cli(int argc, char **argv, struct cli *c, const char *accepted)
{
	int opt;

	memset(c, 0, sizeof(*c));
	c->loops = 1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", long_opts, NULL)) != -1) {
		const char *name = NULL;
		for (const struct option *o = long_opts; o->name; o++)
			if (o->val == opt)
				name = o->name;
		if (opt != '?' && opt != 'h' && name && !word_in_list(accepted, name))
			return usage_error("option --%s does not apply to this command", name);
		switch (opt) {
		case 'c':
			c->config = optarg;
			break;
		case OPT_FLOWS:
			if (flowout_format_parse(optarg, &c->flows) != 0)
				return usage_error("--flows takes csv or json, not \"%s\"", optarg);
			break;
		case OPT_PORT:
			if (c->n_ports == MAX_PORT_FILTER)
				return usage_error("too many --port options (at most %d)", MAX_PORT_FILTER);
			if (parse_port(optarg, &c->ports[c->n_ports]) != 0)
				return usage_error("--port: not a port number: \"%s\"", optarg);
			c->n_ports++;
			break;
		case OPT_TO:
			c->to = optarg;
			break;
		case OPT_RATE:
			if (parse_positive_double(optarg, &c->rate) != 0)
				return usage_error("--rate: not a positive number: \"%s\"", optarg);
			break;
		case OPT_SPEED:
			if (parse_positive_double(optarg, &c->speed) != 0)
				return usage_error("--speed: not a positive number: \"%s\"", optarg);
			break;
		case OPT_LOOP: {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || optarg[0] == '-')
				return usage_error("--loop: not a positive count: \"%s\"", optarg);
			c->loops = v;
			break;
		}
		case OPT_QUIET:
			c->quiet = 1;
			break;
		case OPT_DOCS:
			c->docs = optarg;
			break;
		case OPT_NO_STORE:
			c->no_store = 1;
			break;
		case OPT_ARP:
			c->arp = optarg;
			break;
		case OPT_SITE:
			c->site = optarg;
			break;
		case OPT_DEVICE:
			c->device = optarg;
			break;
		case OPT_BLOCKED:
			c->blocked = 1;
			break;
		case OPT_DATE:
			c->date = optarg;
			break;
		case OPT_JSON:
			c->json = 1;
			break;
		case OPT_FROM_DOCUMENTS:
			c->from_documents = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		c->file = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	return 0;
}

/* ---- elasticsearch ------------------------------------------------------ */

/*
 * Create the shipper for cfg (when configured) and install the templates.
 * A template the server refuses is a startup error; a server that cannot be
 * reached is not (the collector keeps collecting; the shipper installs them
 * before its first _bulk). Returns 0 with *out NULL when not configured.
 */
static int es_open(const struct config *cfg, struct es_shipper **out)
{
	char err[512];
	int rc;

	*out = NULL;
	if (!cfg->es.enabled)
		return 0;
	rc = es_shipper_create(&cfg->es, cfg->store_path, out, err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		return rc;
	}
	/*
	 * Bounded: a cluster that hangs must not hold up the start (the UDP
	 * sockets are not open yet). Retried for up to 2 s, a request in flight
	 * is cut at that time too.
	 */
	rc = es_templates_install(*out, ES_START_WAIT_MS, err, sizeof(err));
	if (rc == -EINVAL) {
		log_error("%s", err);
		es_shipper_destroy(*out);
		*out = NULL;
		return rc;
	}
	if (rc != 0)
		log_warn("elasticsearch: templates not installed yet (%s); will retry before "
		         "shipping",
		         err);
	return 0;
}

/* One line on what the shipper did, and on what is left. */
static void es_report(struct es_shipper *sh, FILE *out)
{
	struct es_stats st;
	char line[1024];

	es_stats_get(sh, &st);
	counter_format(&es_counters, &st, NULL, 0, line, sizeof(line));
	fprintf(out, "elasticsearch: %s%s%s\n", line, st.last_error[0] ? "; last error: " : "",
	        st.last_error);
}

/* Drain on this thread; on failure say what is left. Returns 0 or 1. */
static int es_drain_report(struct es_shipper *sh, const struct config *cfg, FILE *out)
{
	int rc = es_shipper_drain(sh, (uint64_t)cfg->es.drain_timeout_s * 1000u);
	struct es_stats st;

	es_report(sh, out);
	if (rc == 0)
		return 0;
	es_stats_get(sh, &st);
	log_error("elasticsearch: %llu slots (%llu documents) not shipped%s: %s",
	          (unsigned long long)st.backlog_slots, (unsigned long long)st.backlog_docs,
	          rc == -ETIMEDOUT ? " within elasticsearch.drain_timeout_s" : "",
	          st.last_error[0] ? st.last_error : strerror(-rc));
	return 1;
}

/*
 * The start of the commands that run on a configuration and take no file:
 * parse options, find and load the configuration (every error printed),
 * start logging. Returns 0 with *cfg loaded (config_free() is the caller's),
 * or an exit status.
 */
static int start_with_config(int argc, char **argv, const char *accepted, const char *name,
                             bool use_syslog, struct cli *c, struct config *cfg)
{
	int rc = parse_cli(argc, argv, c, accepted);

	if (rc)
		return rc;
	if (c->file)
		return usage_error("%s takes no file argument (got \"%s\")", name, c->file);
	if (!c->config)
		c->config = find_default_config();
	rc = load_config(c->config, cfg);
	if (rc)
		return rc;
	log_init(cfg->log_level, use_syslog && cfg->log_syslog, "nfsentry");
	return 0;
}

/* ---- reputation --------------------------------------------------------- */

/* The offender database of a pipeline: its sink, its record watcher, its files. */
struct rep_wiring {
	struct reputation *r; /* NULL when off (no sites, disabled, replay --no-store) */
	struct closer_sink sink;
	struct pipeline_watch watch;
	char db[REPUTATION_PATH_MAX], blocklist[REPUTATION_PATH_MAX];
};

/*
 * Open the offender database for cfg and hang its record watcher on po; its
 * closer sink is w->sink, for the caller to list with its other sinks.
 * replay: the hook is not run (a replayed week must not block addresses
 * again; docs/offenders.md). Without the store (replay --no-store) the
 * database lives in memory for the run and no file is written: the rule
 * still runs, footprints included, so that benchmarks count its cost.
 * Returns 0 or 1 after logging why.
 */
static int rep_open(const struct config *cfg, bool replay, bool use_store, struct rep_wiring *w,
                    struct pipeline_opts *po)
{
	char err[512];

	memset(w, 0, sizeof(*w));
	if (!cfg->n_sites || !cfg->reputation.enabled)
		return 0;
	if (use_store)
		reputation_paths(&cfg->reputation, cfg->store_path, w->db, sizeof(w->db),
		                 w->blocklist, sizeof(w->blocklist));
	else
		snprintf(w->db, sizeof(w->db), ":memory:");
	struct reputation_opts ro = {
	    .cfg = &cfg->reputation,
	    .sites = cfg->sites,
	    .n_sites = cfg->n_sites,
	    .db_path = w->db,
	    .blocklist_path = use_store ? w->blocklist : NULL,
	    .store_path = use_store ? cfg->store_path : NULL,
	    .run_hook = !replay,
	    .wait_for_watch = replay,
	    .grace_ms = (uint64_t)cfg->grace_s * 1000,
	};
	if (reputation_open(&ro, &w->r, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	w->sink =
	    (struct closer_sink){.name = "reputation", .fn = reputation_slot_sink, .ud = w->r};
	w->watch = (struct pipeline_watch){.records = reputation_records,
	                                   .clock = reputation_clock,
	                                   .flush = reputation_flush,
	                                   .ud = w->r};
	po->watch = &w->watch;
	return 0;
}

/* One line of what the offender database did. */
static void rep_report(struct rep_wiring *w, FILE *out)
{
	struct reputation_stats st;
	char line[2048];

	if (!w->r)
		return;
	reputation_stats_get(w->r, &st);
	counter_format(&reputation_counters, &st, NULL, 0, line, sizeof(line));
	fprintf(out, "reputation: %s\n", line);
}

/* ---- run ---------------------------------------------------------------- */

/*
 * A configuration a reload applied. It stays while it is in force or the
 * pipeline still reads it (slots opened with its sites are open, waiting
 * or being judged: pipeline_config_in_use()), and is freed by
 * run_reload_release() after that, so reloads are not limited in number.
 */
struct run_cfg {
	struct run_cfg *next;
	struct config cfg;
};

struct run_state {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm, sighup;
	uv_timer_t stats_timer;
	uv_timer_t tick_timer;
	struct udpin *udp;         /* NULL once stopped (freed by its close callbacks) */
	struct udpin_stats udp_final; /* the listeners' counters when they stopped */
	struct pipeline *pl;
	/* Borrowed, for reloads: the device pollers (NULL without sites), the web server (NULL
	 * when off), the alerts. */
	struct l2poll *l2;
	struct web *web;
	struct alerter *alerter;
	struct reputation *rep; /* the offender database (NULL when off), for its exemptions */
	struct daily_runner *daily; /* the daily analysis (NULL when off), for its hook and sites */
	struct web_feed *feed; /* what the web server shows; refreshed by the tick */
	struct exwatch *exw; /* exporter events for the log; NULL: not watched (no memory) */
	int stopping;
	/* SIGHUP (run_reload): the file, the start's configuration, the one in force. */
	const char *config_path; /* NULL: built-in defaults, nothing to reload */
	const struct config *start_cfg;
	const struct config *cur_cfg;
	struct run_cfg *kept; /* owned list: applied by reloads, newest first */
};

/* counter_snapshot_fn of the listeners: their final counters once stopped. */
static void run_udp_snapshot(void *ud, void *stats)
{
	struct run_state *rs = ud;

	if (rs->udp)
		udpin_stats_get(rs->udp, stats);
	else
		*(struct udpin_stats *)stats = rs->udp_final;
}

static void run_es_snapshot(void *ud, void *stats)
{
	es_stats_get(ud, stats);
}

/* The totals since start that are not 0: listeners, decoder, engine. */
static void run_log_stats(struct run_state *rs)
{
	struct udpin_stats us;
	struct decoder_stats ds;
	struct engine_stats es;
	char u[512], d[1536], e[512];

	run_udp_snapshot(rs, &us);
	decoder_stats_get(pipeline_decoder(rs->pl), &ds);
	counter_format(&udpin_counters, &us, NULL, COUNTER_NONZERO, u, sizeof(u));
	counter_format(&decoder_counters, &ds, NULL, COUNTER_NONZERO, d, sizeof(d));
	e[0] = '\0';
	if (pipeline_engine(rs->pl)) {
		engine_stats_get(pipeline_engine(rs->pl), &es);
		counter_format(&engine_counters, &es, NULL, COUNTER_NONZERO, e, sizeof(e));
	}
	log_info("udp: %s; decoder: %s; engine: %s", u, d, e);
}

static void run_stats_cb(uv_timer_t *t)
{
	struct run_state *rs = t->data;

	run_log_stats(rs);
	pipeline_flush(rs->pl);
	/* Templates for a restart, kept across a crash too (docs/manual.md "Restarts"). */
	pipeline_templates_save(rs->pl, clock_ms(CLOCK_REALTIME), false);
}

/* exwatch_fn of `run`: one log line per exporter event, key=value fields. */
static void run_log_exporter(void *ud, enum exwatch_event ev, const struct decoder_exporter_info *e,
                             const struct decoder_exporter_info *prev)
{
	uint64_t now = *(const uint64_t *)ud;
	char a[64], extra[160] = "";

	flow_addr_format(&e->from.addr, a, sizeof(a));
	if (ev == EXWATCH_TEMPLATES)
		snprintf(extra, sizeof(extra), " templates=%u was=%u", e->templates,
		         prev->templates);
	else if (ev == EXWATCH_SAMPLING)
		snprintf(extra, sizeof(extra), " sampling=%u was=%u", e->sampling, prev->sampling);
	else if (ev == EXWATCH_QUIET || ev == EXWATCH_GONE)
		snprintf(extra, sizeof(extra), " silentSeconds=%llu datagrams=%llu records=%llu",
		         (unsigned long long)(now > e->last_seen_ms ? (now - e->last_seen_ms) / 1000
		                                                    : 0),
		         (unsigned long long)e->datagrams, (unsigned long long)e->records);
	else if (ev == EXWATCH_NEW)
		snprintf(extra, sizeof(extra), " sampling=%u templates=%u", e->sampling,
		         e->templates);
	if (ev == EXWATCH_QUIET)
		log_warn("%s exporter=%s port=%u domain=%u version=%u%s", exwatch_event_name(ev), a,
		         e->from.port, e->domain, e->version, extra);
	else
		log_info("%s exporter=%s port=%u domain=%u version=%u%s", exwatch_event_name(ev), a,
		         e->from.port, e->domain, e->version, extra);
}

static void run_reload_release(struct run_state *rs);

static void run_tick_cb(uv_timer_t *t)
{
	struct run_state *rs = t->data;
	uint64_t now = clock_ms(CLOCK_REALTIME);

	pipeline_tick(rs->pl, now);
	run_reload_release(rs);
	if (rs->exw) {
		size_t max;
		struct decoder_exporter_info *buf = exwatch_buffer(rs->exw, &max);
		size_t n = decoder_exporters_get(pipeline_decoder(rs->pl), buf, max);
		exwatch_update(rs->exw, n, now, run_log_exporter, &now);
	}
	if (rs->feed)
		web_feed_refresh(rs->feed, clock_ms(CLOCK_MONOTONIC), false);
}

static void run_alert_snapshot(void *ud, void *stats)
{
	alert_stats_get(ud, stats);
}

static void run_decoder_snapshot(void *ud, void *stats)
{
	decoder_stats_get(pipeline_decoder(ud), stats);
}

static void run_engine_snapshot(void *ud, void *stats)
{
	if (pipeline_engine(ud))
		engine_stats_get(pipeline_engine(ud), stats);
	else
		memset(stats, 0, sizeof(struct engine_stats));
}

/*
 * The web server's feed (webfeed.h): every counter table the collector
 * has, published by the loop's tick; the closer hands it each judged slot
 * (sink). Returns 0 or a negative code.
 */
static int run_feed_sources(struct run_state *rs, struct es_shipper *es)
{
	struct web_feed *f = rs->feed;
	int rc = web_feed_source_add(f, &udpin_counters, run_udp_snapshot, rs);

	if (rc == 0)
		rc = web_feed_source_add(f, &decoder_counters, run_decoder_snapshot, rs->pl);
	if (rc == 0)
		rc = web_feed_source_add(f, &engine_counters, run_engine_snapshot, rs->pl);
	if (rc == 0)
		rc = web_feed_source_add(f, &closer_counters, pipeline_closer_stats, rs->pl);
	if (rc == 0 && es)
		rc = web_feed_source_add(f, &es_counters, run_es_snapshot, es);
	return rc;
}

/*
 * closer_sink of `run`: one log line per closed slot, its totals and label
 * counts as key=value fields (docs/manual.md, "Logs"). Runs on the closer
 * thread; log_write() is one write(2) per line.
 */
static void run_log_slot(void *ud, const struct slot_view *v, const struct judge_result *jr,
                         const struct doc_batch *docs)
{
	const struct slot_summary *s = &v->sum;
	char labels[512];
	size_t off = 0;
	time_t start = (time_t)(v->time_slot * SLOT_SECONDS);
	struct tm tm;
	char when[32];

	(void)ud;
	labels[0] = '\0';
	for (int l = 0; l < JUDGE__COUNT; l++) {
		if (!jr->labels[l] || off >= sizeof(labels))
			continue;
		int n = snprintf(labels + off, sizeof(labels) - off, " %s=%llu",
		                 judge_label_name((enum judge_label)l),
		                 (unsigned long long)jr->labels[l]);
		if (n > 0)
			off += (size_t)n;
	}
	gmtime_r(&start, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("slot closed site=%s slot=%lld start=%s records=%llu packetsOut=%llu "
	         "octetsOut=%llu packetsIn=%llu octetsIn=%llu lateRecords=%llu inside=%zu "
	         "active=%zu outside=%zu pairs=%zu offenders=%llu documents=%zu labelled=%s%s",
	         v->site->name, (long long)v->time_slot, when,
	         (unsigned long long)(s->egress.flows + s->ingress.flows + s->internal.flows),
	         (unsigned long long)s->egress.packets, (unsigned long long)s->egress.octets,
	         (unsigned long long)s->ingress.packets, (unsigned long long)s->ingress.octets,
	         (unsigned long long)s->late_records, v->n_inside, v->n_active, v->n_outside,
	         v->n_pairs, (unsigned long long)jr->offenders, docs ? docs->n : (size_t)0,
	         off ? "yes" : "no", labels);
}


static void run_stop(struct run_state *rs)
{
	if (rs->stopping)
		return;
	rs->stopping = 1;
	udpin_stats_get(rs->udp, &rs->udp_final);
	udpin_stop(rs->udp);
	rs->udp = NULL;
	uv_timer_stop(&rs->stats_timer);
	uv_timer_stop(&rs->tick_timer);
	uv_close((uv_handle_t *)&rs->stats_timer, NULL);
	uv_close((uv_handle_t *)&rs->tick_timer, NULL);
	uv_close((uv_handle_t *)&rs->sigint, NULL);
	uv_close((uv_handle_t *)&rs->sigterm, NULL);
	uv_close((uv_handle_t *)&rs->sighup, NULL);
}

static void run_signal_cb(uv_signal_t *s, int signum)
{
	struct run_state *rs = s->data;

	log_info("signal %d: stopping", signum);
	run_stop(rs);
}

/* Whether d lists key. */
static bool run_diff_has(const struct cfgreload_diff *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].key, key) == 0)
			return true;
	return false;
}

/*
 * Free every configuration a reload replaced that the pipeline no longer
 * reads. Loop thread: at each reload and each tick.
 */
static void run_reload_release(struct run_state *rs)
{
	struct run_cfg **pp = &rs->kept;

	while (*pp) {
		struct run_cfg *k = *pp;
		if (&k->cfg == rs->cur_cfg || pipeline_config_in_use(rs->pl, &k->cfg)) {
			pp = &k->next;
			continue;
		}
		*pp = k->next;
		config_free(&k->cfg);
		free(k);
	}
}

/* Append " (key, key, ...)" of the changes whose time is (or is not, when !is) w. */
static void run_reload_list(const struct cfgreload_diff *d, enum cfgreload_when w, bool is,
                            char *out, size_t len)
{
	size_t off = 0, n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < d->n && off < len; i++) {
		if ((d->v[i].when == w) != is)
			continue;
		int k = snprintf(out + off, len - off, "%s%s", n++ ? ", " : " (", d->v[i].key);
		if (k > 0)
			off += (size_t)k;
	}
	if (n && off < len)
		snprintf(out + off, len - off, ")");
}

/*
 * n's sites by their site ids (engine.h), for the device pollers
 * (l2poll_devices_set), which take sites by index and copy what they keep:
 * entry i is n's site whose id is i, or, for an id n no longer has (a
 * removed site), the start's entry (an empty one past the start's) without
 * devices (its pollers stop). *n_out gets the entries: the start's count,
 * or more when a reload added sites. Shallow copies; returns a malloc'd
 * array, or NULL (out of memory). Loop thread, after pipeline_reload().
 */
_Static_assert(L2POLL_SITES_MAX == ENGINE_MAX_SITE_IDS, "the pollers take every site id");
static struct site_config *run_sites_by_id(struct run_state *rs, const struct config *n,
                                           size_t *n_out)
{
	const struct config *s = rs->start_cfg;
	size_t count = s->n_sites;
	struct site_config *v;

	for (size_t k = 0; k < n->n_sites; k++) {
		int64_t id = pipeline_site_id(rs->pl, n->sites[k].name);
		if (id >= 0 && (size_t)id + 1 > count)
			count = (size_t)id + 1;
	}
	v = calloc(count, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < s->n_sites; i++) {
		v[i] = s->sites[i];
		v[i].devices = NULL;
		v[i].n_devices = 0;
	}
	for (size_t k = 0; k < n->n_sites; k++) {
		int64_t id = pipeline_site_id(rs->pl, n->sites[k].name);
		if (id >= 0 && (size_t)id < count)
			v[id] = n->sites[k];
	}
	*n_out = count;
	return v;
}

/*
 * The dashboard takes n's sites with their engine ids (web_feed_sites_set()).
 * Returns 0 or a negative code (-ENOMEM, -EINVAL). Loop thread, after
 * pipeline_reload().
 */
static int run_feed_sites_set(struct run_state *rs, const struct config *n)
{
	int64_t *ids = malloc((n->n_sites ? n->n_sites : 1) * sizeof(*ids));
	int rc;

	if (!ids)
		return -ENOMEM;
	for (size_t k = 0; k < n->n_sites; k++)
		ids[k] = pipeline_site_id(rs->pl, n->sites[k].name);
	rc = web_feed_sites_set(rs->feed, n->sites, n->n_sites, ids);
	free(ids);
	return rc;
}

/* The daily runner takes n's site names (daily_runner_sites_set()). Loop thread. */
static int run_daily_sites_set(struct run_state *rs, const struct config *n)
{
	const char *names[CONFIG_MAX_SITES];

	for (size_t k = 0; k < n->n_sites; k++)
		names[k] = n->sites[k].name;
	return daily_runner_sites_set(rs->daily, names, n->n_sites);
}

/*
 * What the modules made at start do with sites a reload added or removed
 * (docs/configuration.md "Reloading"), one warn line when any was.
 */
static void run_reload_sites_log(const struct run_state *rs, const struct cfgreload_diff *d)
{
	size_t added = 0, removed = 0;

	for (size_t i = 0; i < d->n; i++) {
		size_t len = strlen(d->v[i].key);
		added += len > 6 && strcmp(d->v[i].key + len - 6, " added") == 0;
		removed += len > 8 && strcmp(d->v[i].key + len - 8, " removed") == 0;
	}
	if (!added && !removed)
		return;
	log_warn("sites: %zu added, %zu removed, from the next slot; until a restart, an added "
	         "site has%s no network documents of the offender database",
	         added, removed, rs->start_cfg->attack.enabled ? " no attack detection and" : "");
}

/*
 * SIGHUP: load the configuration file again (docs/manual.md "Reloading the
 * configuration"). An invalid file changes nothing. A valid one: the keys
 * that need a restart are compared with the configuration everything
 * started with and keep their running value; the others, compared with the
 * configuration in force, apply now (cfgreload.h CFGRELOAD_AT_ONCE: the
 * decoder's allow-list and sampling, the devices, the web token, the
 * alerts, the advice, the attack thresholds) or from the next slot (the
 * sites added, removed or with other prefixes, their thresholds,
 * allow-lists, peer caps and caps, reputation.allow). The web token file
 * is read at every reload; one that cannot be read refuses the reload. A
 * key whose module cannot take it (out of memory) logs an error and keeps
 * its running value. Ends in exactly one line saying what happened, with
 * held=N configurations kept (run_reload_release). Runs on the loop
 * thread, between two datagrams.
 */
static void run_reload(struct run_state *rs)
{
	struct run_cfg *rc_node;
	struct config *n;
	struct config_errors errs = {0};
	struct cfgreload_diff *dr = NULL, *da = NULL;
	size_t n_apply = 0, n_restart = 0;
	bool sites = false, allow = false, level = false, devices = false, alerts = false;
	bool sampling = false, attack = false, exempt = false, attack_hook = false;
	bool rep_hook = false, daily_hook = false;
	char la[2048], lr[2048];
	int rc;

	if (!rs->config_path) {
		log_warn("configuration not reloaded: running on the built-in defaults (no file)");
		return;
	}
	rc_node = calloc(1, sizeof(*rc_node));
	n = rc_node ? &rc_node->cfg : NULL;
	dr = malloc(sizeof(*dr));
	da = malloc(sizeof(*da));
	if (!n || !dr || !da) {
		log_error("configuration not reloaded: out of memory; the running configuration is "
		          "unchanged");
		goto out;
	}
	rc = config_load(rs->config_path, n, &errs);
	if (rc != 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_error("%s", errs.msg[i]);
		log_error("configuration not reloaded: %zu errors in %s; the running configuration "
		          "is unchanged",
		          errs.n, rs->config_path);
		config_free(n);
		goto out;
	}
	/* Restart keys against what started; the rest against what is in force. */
	cfgreload_compare(rs->start_cfg, n, dr);
	cfgreload_compare(rs->cur_cfg, n, da);
	/*
	 * The token file is read at every reload, so that a token rewritten in
	 * the same file is taken too; one that cannot be read refuses the
	 * reload. First, since it is the step most likely to fail (only an
	 * allocation can fail after it).
	 */
	bool token = false;
	char terr[512];
	if (rs->web &&
	    (rc = web_token_reload(rs->web, n->web.token_file, &token, terr, sizeof(terr))) != 0) {
		log_error("%s", terr);
		log_error("configuration not reloaded from %s: the web token cannot be read; the "
		          "running configuration is unchanged",
		          rs->config_path);
		config_free(n);
		goto out;
	}
	if (token && !run_diff_has(da, "web.token_file") && da->n < CFGRELOAD_MAX_CHANGES) {
		snprintf(da->v[da->n].key, sizeof(da->v[da->n].key), "web.token_file");
		da->v[da->n++].when = CFGRELOAD_AT_ONCE;
	}
	for (size_t i = 0; i < dr->n; i++) {
		if (dr->v[i].when != CFGRELOAD_RESTART)
			continue;
		n_restart++;
		log_warn("%s changed: needs a restart; keeping the running value", dr->v[i].key);
	}
	for (size_t i = 0; i < da->n; i++) {
		if (da->v[i].when == CFGRELOAD_RESTART)
			continue;
		n_apply++;
		allow |= strcmp(da->v[i].key, "exporters.allow") == 0;
		/* An added site's pollers start, a removed one's stop (run_sites_by_id). */
		devices |= strstr(da->v[i].key, "].devices") != NULL ||
		           strstr(da->v[i].key, "] added") != NULL ||
		           strstr(da->v[i].key, "] removed") != NULL;
		exempt |= strstr(da->v[i].key, "].inside") || strstr(da->v[i].key, "].allow") ||
		          strstr(da->v[i].key, "] added") || strstr(da->v[i].key, "] removed") ||
		          strcmp(da->v[i].key, "reputation.allow") == 0;
		alerts |= strncmp(da->v[i].key, "alerts", 6) == 0;
		sampling |= strcmp(da->v[i].key, "exporters.sampling") == 0;
		attack |= strcmp(da->v[i].key, "attack.thresholds") == 0;
		attack_hook |= strcmp(da->v[i].key, "attack.hook") == 0;
		rep_hook |= strcmp(da->v[i].key, "reputation.hook") == 0;
		daily_hook |= strcmp(da->v[i].key, "daily.hook") == 0;
		level |= strcmp(da->v[i].key, "log.level") == 0;
	}
	/*
	 * The engine takes every applied configuration's sites (from the next
	 * slot), so that the configurations before it are freed once their
	 * slots are written. Without sites at the start (or in n) there is no
	 * engine to give them to ("sites", restart).
	 */
	sites = rs->start_cfg->n_sites && n->n_sites;
	char perr[256] = "";
	if (n_apply && (sites || allow) &&
	    (rc = pipeline_reload(rs->pl, n, sites, allow, perr, sizeof(perr))) != 0) {
		log_error("configuration not reloaded from %s: %s; the running configuration is "
		          "unchanged",
		          rs->config_path, perr);
		config_free(n);
		goto out;
	}
	/* The modules made at start with its sites take n's by their ids (engine.h). */
	struct site_config *by_id = NULL;
	size_t n_by_id = 0;
	if (n_apply && sites && devices && !(by_id = run_sites_by_id(rs, n, &n_by_id)))
		log_error("sites[].devices not applied: out of memory; the running ones stay until "
		          "a restart");
	run_reload_sites_log(rs, da);
	if (exempt && sites && rs->rep &&
	    (rc = reputation_exempt_set(rs->rep, n->sites, n->n_sites, &n->reputation)) != 0)
		log_error("the offender database's exemptions not applied: %s; the running ones "
		          "stay until a restart",
		          strerror(-rc));
	if (level)
		log_init(n->log_level, rs->start_cfg->log_syslog, "nfsentry");
	if (attack && (rc = pipeline_attack_set(rs->pl, n)) != 0)
		log_error("attack.thresholds not applied: %s; the running thresholds stay until a "
		          "restart",
		          strerror(-rc));
	if (attack_hook && (rc = pipeline_attack_hook_set(rs->pl, n)) != 0)
		log_error("attack.hook not applied: %s; the running hook stays until a restart",
		          strerror(-rc));
	if (rep_hook && rs->rep && (rc = reputation_hook_set(rs->rep, &n->reputation)) != 0)
		log_error("reputation.hook not applied: %s; the running hook stays until a restart",
		          strerror(-rc));
	if (daily_hook && (rc = daily_runner_hook_set(rs->daily, &n->daily)) != 0)
		log_error("daily.hook not applied: %s; the running hook stays until a restart",
		          strerror(-rc));
	if (sampling && (rc = pipeline_sampling_set(rs->pl, n)) != 0)
		log_error("exporters.sampling not applied: %s; the running overrides stay until a "
		          "restart",
		          strerror(-rc));
	if (n_apply && sites && rs->daily && (rc = run_daily_sites_set(rs, n)) != 0)
		log_error("sites not applied to the daily analysis: %s; it analyses the running "
		          "sites until a restart",
		          strerror(-rc));
	if (n_apply && sites && rs->feed && (rc = run_feed_sites_set(rs, n)) != 0)
		log_error("sites, advice not applied to the dashboard: %s; it keeps the running "
		          "sites and texts until a restart",
		          strerror(-rc));
	/* The loaded file passed the checks alert_start() makes: this cannot fail. */
	if (alerts && (rc = alert_config_set(rs->alerter, &n->alerts)) != 0)
		log_error("alerts not applied: %s; the running alerts stay until a restart",
		          strerror(-rc));
	/* Devices last: nothing after them can fail, and their old threads are not waited for. */
	size_t dev_sites = 0;
	if (devices && by_id &&
	    (rc = l2poll_devices_set(rs->l2, by_id, n_by_id, &dev_sites)))
		log_error(
		    "sites[].devices not applied: %s; the running devices stay until a restart",
		    rc == -ENOSPC ? "too many devices replaced since the start" : strerror(-rc));
	free(by_id);
	if (n_apply) {
		/* The previous one stays while slots opened under it are open or queued. */
		rc_node->next = rs->kept;
		rs->kept = rc_node;
		rs->cur_cfg = n;
		rc_node = NULL;
		run_reload_release(rs);
	} else {
		config_free(n);
	}
	size_t held = 0;
	for (const struct run_cfg *k = rs->kept; k; k = k->next)
		held++;
	run_reload_list(da, CFGRELOAD_RESTART, false, la, sizeof(la));
	run_reload_list(dr, CFGRELOAD_RESTART, true, lr, sizeof(lr));
	log_info("configuration reloaded from %s: %zu keys changed%s, %zu need a restart%s "
	         "held=%zu",
	         rs->config_path, n_apply, la, n_restart, lr, held);
out:
	config_errors_free(&errs);
	free(rc_node);
	free(dr);
	free(da);
}

static void run_sighup_cb(uv_signal_t *s, int signum)
{
	(void)signum;
	run_reload(s->data);
}

/*
 * cfg's daily section with the offender database to read (rule III: the
 * contacts' offender flag), when the reputation is on, into *out.
 */
static void daily_cfg_get(const struct config *cfg, struct daily_config *out)
{
	char bl[REPUTATION_PATH_MAX];

	*out = cfg->daily;
	out->reputation_db[0] = '\0';
	if (cfg->reputation.enabled && cfg->n_sites)
		reputation_paths(&cfg->reputation, cfg->store_path, out->reputation_db,
		                 sizeof(out->reputation_db), bl, sizeof(bl));
}

static int cmd_run(int argc, char **argv)
{
	struct cli c;
	struct config cfg;
	char err[256];
	int rc = start_with_config(argc, argv, "config flows", "run", true, &c, &cfg);

	if (rc)
		return rc;
	log_info("nfsentry %s starting, configuration %s", NFSENTRY_VERSION,
	         c.config ? c.config : "(built-in defaults)");

	struct run_state rs;
	memset(&rs, 0, sizeof(rs));
	/* Device polls run on their own threads, never on the loop (docs/l2.md). */
	struct l2poll *l2 = NULL;
	rc = l2poll_start(cfg.sites, cfg.n_sites, &l2);
	if (rc != 0) {
		log_error("cannot start the device pollers: %s", strerror(-rc));
		config_free(&cfg);
		return 1;
	}
	/* The decoder is set once the pipeline exists; nothing is published before. */
	struct web_feed_opts fo = {.sites = cfg.sites, .n_sites = cfg.n_sites, .l2 = l2};
	/* Attacks on the dashboard in seconds: every open event and as many recently ended. */
	if (cfg.attack.enabled && cfg.n_sites)
		fo.attack_live_entries = 2 * (size_t)cfg.attack.max_events;
	if (cfg.web.n_listen && web_feed_create(&fo, &rs.feed) != 0) {
		log_error("cannot start the web server's feed: out of memory");
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	/* Alerts: a warn line per labelled IP at each slot close, and the hook (docs/alerts.md). */
	struct alerter *alerter = NULL;
	rc = alert_start(&cfg.alerts, &alerter);
	if (rc != 0) {
		log_error("cannot start the alerts: %s", strerror(-rc));
		web_feed_destroy(rs.feed);
		alert_stop(alerter);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	struct closer_sink sinks[4];
	size_t n_sinks = 0;
	sinks[n_sinks++] = (struct closer_sink){"log", run_log_slot, NULL};
	sinks[n_sinks++] = (struct closer_sink){"alert", alert_sink, alerter};
	if (rs.feed)
		sinks[n_sinks++] = (struct closer_sink){"web", web_feed_sink, rs.feed};
	struct pipeline_opts po = {
		.flows = c.flows,
		.flows_out = stdout,
		.use_store = true,
		.l2 = l2,
		.restart_state = true,
		.sinks = sinks,
		.n_sinks = n_sinks,
		.attack_live = web_feed_attacks(rs.feed),
	};
	static struct rep_wiring rep; /* static: two paths of 4 KiB */
	if (rep_open(&cfg, false, true, &rep, &po) != 0) {
		alert_stop(alerter);
		web_feed_destroy(rs.feed);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	if (rep.r)
		sinks[po.n_sinks++] = rep.sink;
	rc = pipeline_create(&cfg, &po, &rs.pl, err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		alert_stop(alerter);
		web_feed_destroy(rs.feed);
		reputation_close(rep.r);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	struct es_shipper *es = NULL;
	if (es_open(&cfg, &es) != 0 || (es && es_shipper_start(es) != 0)) {
		es_shipper_destroy(es);
		pipeline_destroy(rs.pl);
		web_feed_destroy(rs.feed);
		alert_stop(alerter);
		reputation_close(rep.r);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	/* Every slot document carries what the listeners received (docs/documents.md). */
	rc = pipeline_counter_source_add(rs.pl, &udpin_counters, run_udp_snapshot, &rs);
	if (rc == 0 && es)
		rc = pipeline_counter_source_add(rs.pl, &es_counters, run_es_snapshot, es);
	if (rc == 0 && rs.feed) {
		web_feed_decoder_set(rs.feed, pipeline_decoder(rs.pl));
		rc = run_feed_sources(&rs, es);
		if (rc == 0)
			rc = web_feed_source_add(rs.feed, &alert_counters, run_alert_snapshot,
			                         alerter);
	}
	if (rc != 0) {
		log_error("cannot add the collector counters: %s", strerror(-rc));
		es_shipper_destroy(es);
		pipeline_destroy(rs.pl);
		web_feed_destroy(rs.feed);
		alert_stop(alerter);
		reputation_close(rep.r);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	/* The dashboard reads the store the pipeline just opened, through its own connection. */
	struct web *web = NULL;
	if (web_start_feed(&cfg.web, cfg.store_path, rs.feed, &web, err, sizeof(err)) != 0) {
		log_error("%s", err);
		es_shipper_destroy(es);
		pipeline_destroy(rs.pl);
		web_feed_destroy(rs.feed);
		alert_stop(alerter);
		reputation_close(rep.r);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	/* The offenders page reads the database the reputation module writes (none when off). */
	web_reputation_set(web, rep.r ? rep.db : NULL);
	rs.web = web;
	rs.alerter = alerter;
	if (uv_loop_init(&rs.loop) != 0) {
		log_error("cannot initialise the event loop");
		web_stop(web);
		es_shipper_destroy(es);
		pipeline_destroy(rs.pl);
		web_feed_destroy(rs.feed);
		alert_stop(alerter);
		reputation_close(rep.r);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	if (cfg.n_sites == 0)
		log_warn("no sites configured: records are decoded and counted, no slots are judged");
	struct udpin_config uc = {
		.listen = cfg.listen,
		.n_listen = cfg.n_listen,
		.rcvbuf_bytes = cfg.rcvbuf_bytes,
		.rx_fill = pipeline_uses_rx_fill(rs.pl),
	};
	rc = udpin_start(&rs.loop, &uc, pipeline_datagram, rs.pl, &rs.udp, err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		/* The sockets udpin_start() opened are freed by their close callbacks. */
		uv_run(&rs.loop, UV_RUN_DEFAULT);
		uv_loop_close(&rs.loop);
		web_stop(web);
		es_shipper_destroy(es);
		pipeline_destroy(rs.pl);
		web_feed_destroy(rs.feed);
		alert_stop(alerter);
		reputation_close(rep.r);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	uv_signal_init(&rs.loop, &rs.sigint);
	uv_signal_init(&rs.loop, &rs.sigterm);
	uv_signal_init(&rs.loop, &rs.sighup);
	uv_timer_init(&rs.loop, &rs.stats_timer);
	uv_timer_init(&rs.loop, &rs.tick_timer);
	rs.sigint.data = rs.sigterm.data = rs.stats_timer.data = rs.tick_timer.data = &rs;
	rs.sighup.data = &rs;
	rs.config_path = c.config;
	rs.l2 = l2;
	rs.start_cfg = rs.cur_cfg = &cfg;
	rs.rep = rep.r;
	uv_signal_start(&rs.sigint, run_signal_cb, SIGINT);
	uv_signal_start(&rs.sigterm, run_signal_cb, SIGTERM);
	uv_signal_start(&rs.sighup, run_sighup_cb, SIGHUP);
	uv_timer_start(&rs.stats_timer, run_stats_cb, 60000, 60000);
	pipeline_tick(rs.pl, clock_ms(CLOCK_REALTIME));
	rs.exw = exwatch_create(cfg.decoder.max_exporters);
	if (!rs.exw)
		log_warn(
		    "out of memory for the exporter watch: exporters are not logged as they come "
		    "and go");
	uv_timer_start(&rs.tick_timer, run_tick_cb, 1000, 1000);

	/* The daily analysis: a thread and store connections of its own (docs/daily.md). */
	struct daily_runner *daily = NULL;
	if (cfg.daily.enabled && cfg.n_sites) {
		const char *names[CONFIG_MAX_SITES];
		for (size_t k = 0; k < cfg.n_sites; k++)
			names[k] = cfg.sites[k].name;
		static struct daily_config dc; /* large; one collector per process */
		daily_cfg_get(&cfg, &dc);
		if ((rc = daily_runner_start(&dc, cfg.store_path, names, cfg.n_sites, &daily)) != 0)
			log_error("daily analysis not started: %s", strerror(-rc));
	}
	rs.daily = daily;

	uv_run(&rs.loop, UV_RUN_DEFAULT);
	exwatch_destroy(rs.exw);

	daily_runner_stop(daily);
	rs.daily = NULL;

	run_log_stats(&rs);
	/*
	 * SIGTERM/SIGINT: the open slots are saved for a restart, then closed
	 * and written before exit (docs/manual.md "Restarts").
	 */
	pipeline_stop(rs.pl);
	if (rep.r)
		reputation_pending_write(rep.r);
	if (es) {
		/* Up to drain_timeout_s to ship what is written; the rest waits in the store. */
		es_shipper_stop(es, (uint64_t)cfg.es.drain_timeout_s * 1000u);
		es_report(es, stderr);
	}
	rc = uv_loop_close(&rs.loop);
	if (rc != 0)
		log_error("event loop did not close cleanly: %s", uv_strerror(rc));
	web_stop(web);
	pipeline_report(rs.pl, stderr);
	pipeline_destroy(rs.pl);
	web_feed_destroy(rs.feed);
	/* The hook gets the summaries of the last slots (each bounded by alerts.timeout_s). */
	alert_stop(alerter);
	rep_report(&rep, stderr);
	reputation_close(rep.r);
	l2poll_stop(l2);
	es_shipper_destroy(es);
	while (rs.kept) {
		struct run_cfg *k = rs.kept;
		rs.kept = k->next;
		config_free(&k->cfg);
		free(k);
	}
	config_free(&cfg);
	return rc == 0 ? 0 : 1;
}

/* ---- daily -------------------------------------------------------------- */

/*
 * Replay: the daily analysis of every day (daily.tz) the slots this replay
 * wrote (seq > seq0) touch, for each site, stored as daily documents
 * (docs/daily.md). Returns 0 or 1 (logged).
 */
static int replay_daily(const struct config *cfg, int64_t seq0)
{
	struct store_opts wo;
	struct store *st = NULL;
	char err[512];
	struct store_slot batch[512];
	size_t n;
	int64_t after = seq0, lo[CONFIG_MAX_SITES], hi[CONFIG_MAX_SITES];
	int rc = 0;

	if (!cfg->daily.enabled || cfg->n_sites == 0)
		return 0;
	store_opts_defaults(&wo);
	wo.retention_days = 0;
	if (store_open(cfg->store_path, &wo, &st, err, sizeof(err)) != 0) {
		log_error("daily: %s", err);
		return 1;
	}
	for (size_t k = 0; k < cfg->n_sites; k++)
		lo[k] = INT64_MAX, hi[k] = -1;
	while (store_slot_list(st, after, batch, 512, &n) == 0 && n > 0) {
		for (size_t i = 0; i < n; i++) {
			after = batch[i].seq;
			for (size_t k = 0; k < cfg->n_sites; k++) {
				if (strcmp(batch[i].site, cfg->sites[k].name) != 0)
					continue;
				lo[k] = batch[i].time_slot < lo[k] ? batch[i].time_slot : lo[k];
				hi[k] = batch[i].time_slot > hi[k] ? batch[i].time_slot : hi[k];
			}
		}
	}
	struct daily_stats ds = {0};
	static struct daily_config dc; /* large; replay runs once per process */
	daily_cfg_get(cfg, &dc);
	for (size_t k = 0; k < cfg->n_sites; k++) {
		struct daily_day day;
		if (hi[k] < 0 ||
		    daily_day_of(lo[k] * STORE_SLOT_SECONDS, cfg->daily.tz, &day) != 0)
			continue;
		while (day.start_s <= hi[k] * STORE_SLOT_SECONDS) {
			if (daily_run_one(st, st, &dc, cfg->sites[k].name, &day, &ds) != 0)
				rc = 1;
			if (daily_day_of(day.end_s, cfg->daily.tz, &day) != 0)
				break;
		}
	}
	store_close(st);
	return rc;
}

/* The highest seq in the store at path, 0 when there is none (yet). */
static int64_t store_seq_now(const char *path)
{
	struct store_opts ro;
	struct store *st = NULL;
	char err[512];
	struct store_slot batch[512];
	size_t n;
	int64_t after = 0;

	store_opts_defaults(&ro);
	ro.read_only = true;
	if (store_open(path, &ro, &st, err, sizeof(err)) != 0)
		return 0;
	while (store_slot_list(st, after, batch, 512, &n) == 0 && n > 0)
		after = batch[n - 1].seq;
	store_close(st);
	return after;
}

/* ---- replay ------------------------------------------------------------- */

static int cmd_replay(int argc, char **argv)
{
	struct cli c;
	struct config cfg;
	int rc = parse_cli(argc, argv, &c, "config flows port quiet docs no-store arp");
	char err[512];
	FILE *docs_out = NULL;

	if (rc)
		return rc;
	if (!c.file)
		return usage_error("replay needs a capture file");
	if (c.docs && strcmp(c.docs, "-") == 0 && c.flows != FLOWOUT_NONE)
		return usage_error("--flows and --docs - both want standard output");
	rc = load_config(c.config, &cfg);
	if (rc)
		return rc;
	log_init(cfg.log_level, false, "nfsentry");
	if (c.docs && cfg.n_sites == 0) {
		config_free(&cfg);
		return usage_error("--docs needs a configuration with sites (-c FILE)");
	}
	/* Replay has no live devices: their tables come from files (docs/l2.md). */
	struct l2poll *l2 = NULL;
	if (c.arp && l2poll_load_dir(cfg.sites, cfg.n_sites, c.arp, &l2, err, sizeof(err)) != 0) {
		fprintf(stderr, "nfsentry: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (c.docs) {
		docs_out = strcmp(c.docs, "-") == 0 ? stdout : fopen(c.docs, "w");
		if (!docs_out) {
			fprintf(stderr, "nfsentry: %s: %s\n", c.docs, strerror(errno));
			l2poll_stop(l2);
			config_free(&cfg);
			return 1;
		}
	}

	struct pipeline_opts po = {
		.flows = c.flows,
		.flows_out = stdout,
		.docs_out = docs_out,
		/* The per-slot report goes where it does not mix with data. */
		.report_out = c.docs || c.quiet ? NULL : (c.flows != FLOWOUT_NONE ? stderr : stdout),
		.use_store = !c.no_store,
		.replay = true,
		.l2 = l2,
	};
	/* The daily analysis covers the days of the slots this replay writes. */
	int64_t seq0 = c.no_store ? 0 : store_seq_now(cfg.store_path);
	static struct rep_wiring rep; /* static: two paths of 4 KiB */
	if (rep_open(&cfg, true, !c.no_store, &rep, &po) != 0) {
		if (docs_out && docs_out != stdout)
			fclose(docs_out);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	if (rep.r) {
		po.sinks = &rep.sink;
		po.n_sinks = 1;
	}
	struct pipeline *pl;
	rc = pipeline_create(&cfg, &po, &pl, err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		reputation_close(rep.r);
		if (docs_out && docs_out != stdout)
			fclose(docs_out);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	/* With Elasticsearch configured, replay ships what it stored before it exits. */
	struct es_shipper *es = NULL;
	if (!c.no_store && cfg.n_sites && es_open(&cfg, &es) != 0) {
		pipeline_destroy(pl);
		reputation_close(rep.r);
		if (docs_out && docs_out != stdout)
			fclose(docs_out);
		l2poll_stop(l2);
		config_free(&cfg);
		return 1;
	}
	struct pcapin_opts popts = {.ports = c.ports, .n_ports = c.n_ports};
	struct pcapin_stats pst;
	rc = pcapin_read(c.file, &popts, pipeline_datagram, pl, &pst, err, sizeof(err));
	pipeline_close_slots(pl);
	/* The network slots still waiting go to the store before the shipper drains it. */
	if (rep.r)
		reputation_pending_write(rep.r);
	uint64_t lost = pipeline_slots_lost(pl);
	if (lost)
		log_error("%llu slots were not stored whole (store, spool, documents or a full "
		          "queue: the errors above; a slot waiting in the spool counts too); "
		          "exiting 1",
		          (unsigned long long)lost);
	/* The daily analysis of the capture's days, shipped with the slots. */
	int drc = c.no_store ? 0 : replay_daily(&cfg, seq0);
	int erc = es ? es_drain_report(es, &cfg, stderr) : 0;
	es_shipper_destroy(es);
	int frc = pipeline_flush(pl);
	if (rc < 0)
		log_error("%s", err);
	if (frc != 0)
		log_error("writing records to standard output: %s", strerror(-frc));
	if (!c.quiet) {
		char line[1024];
		counter_format(&pcapin_counters, &pst, NULL, 0, line, sizeof(line));
		fprintf(stderr, "capture %s: %s\n", c.file, line);
		pipeline_report(pl, stderr);
	}
	pipeline_destroy(pl);
	if (!c.quiet)
		rep_report(&rep, stderr);
	reputation_close(rep.r);
	l2poll_stop(l2);
	if (docs_out && docs_out != stdout && fclose(docs_out) != 0) {
		fprintf(stderr, "nfsentry: %s: %s\n", c.docs, strerror(errno));
		frc = -EIO;
	}
	config_free(&cfg);
	return (rc < 0 || frc != 0 || erc != 0 || drc != 0 || lost) ? 1 : 0;
}

/* ---- send --------------------------------------------------------------- */

static int cmd_send(int argc, char **argv)
{
	struct cli c;
	int rc = parse_cli(argc, argv, &c, "to rate speed loop port");
	char err[512];

	if (rc)
		return rc;
	if (!c.file)
		return usage_error("send needs a capture file");
	if (!c.to)
		return usage_error("send needs --to HOST:PORT");
	if (c.rate > 0 && c.speed > 0)
		return usage_error("--rate and --speed exclude each other");

	struct flow_endpoint ep;
	const char *why;
	if (flow_endpoint_parse(c.to, &ep, &why) != 0)
		return usage_error("--to: %s: \"%s\"", why, c.to);
	struct sender_opts so = {
		.path = c.file,
		.to = ep,
		.rate_dps = c.rate,
		.speed = c.speed,
		.loops = c.loops,
		.filter = {.ports = c.ports, .n_ports = c.n_ports},
	};
	struct sender_result res;
	memset(&res, 0, sizeof(res));
	rc = sender_run(&so, &res, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "nfsentry send: %s\n", err);
		return 1;
	}
	fprintf(stderr, "sent %llu datagrams (%llu bytes) in %.3f s: %.0f datagrams/s, %llu errors\n",
	        (unsigned long long)res.datagrams_sent, (unsigned long long)res.bytes_sent,
	        res.elapsed_s, res.elapsed_s > 0 ? (double)res.datagrams_sent / res.elapsed_s : 0.0,
	        (unsigned long long)res.send_errors);
	return res.send_errors ? 1 : 0;
}

/* ---- ship --------------------------------------------------------------- */

static int cmd_ship(int argc, char **argv)
{
	struct cli c;
	struct config cfg;
	struct es_shipper *es;
	int rc = start_with_config(argc, argv, "config", "ship", false, &c, &cfg);

	if (rc)
		return rc;
	if (!cfg.es.enabled) {
		fprintf(stderr, "nfsentry ship: %s has no elasticsearch section\n",
		        c.config ? c.config : "the built-in configuration");
		config_free(&cfg);
		return EXIT_USAGE;
	}
	if (es_open(&cfg, &es) != 0) {
		config_free(&cfg);
		return 1;
	}
	rc = es_drain_report(es, &cfg, stderr);
	es_shipper_destroy(es);
	config_free(&cfg);
	return rc;
}

/* ---- poll --------------------------------------------------------------- */

/*
 * Poll once, the way an operator checks a device entry: every selected
 * device in parallel; the merged documents of the current slot on standard
 * output, one result line per device on standard error. Exit 1 when any
 * device failed, 2 when nothing matched.
 */
static int cmd_poll(int argc, char **argv)
{
	struct cli c;
	struct config cfg;
	int rc = start_with_config(argc, argv, "config site device", "poll", false, &c, &cfg);

	if (rc)
		return rc;

	struct l2_merge **merges = calloc(cfg.n_sites ? cfg.n_sites : 1, sizeof(*merges));
	struct l2poll_result *res = NULL;
	size_t n_res = 0, failed = 0;
	int64_t time_slot = (int64_t)time(NULL) / SLOT_SECONDS;
	if (!merges || l2poll_once(cfg.sites, cfg.n_sites, c.site, c.device, time_slot, merges,
	                           &res, &n_res) != 0) {
		fprintf(stderr, "nfsentry poll: out of memory\n");
		free(merges);
		config_free(&cfg);
		return 1;
	}
	if (n_res == 0) {
		fprintf(stderr, "nfsentry poll: no device%s%s%s%s in %s\n", c.site ? " of site " : "",
		        c.site ? c.site : "", c.device ? " named " : "", c.device ? c.device : "",
		        c.config ? c.config : "the built-in configuration");
		free(merges);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < n_res; i++) {
		char line[1024];
		l2poll_result_format(&res[i], line, sizeof(line));
		fprintf(stderr, "poll: %s\n", line);
		failed += res[i].rc != 0;
	}
	for (size_t s = 0; s < cfg.n_sites; s++) {
		struct doc_batch b = {0};
		if (!merges[s])
			continue;
		if (l2_doc_build(merges[s], &b) != 0) {
			fprintf(stderr, "nfsentry poll: out of memory building documents\n");
			failed++;
		}
		for (size_t k = 0; k < b.n; k++) {
			fwrite(b.v[k].json, 1, b.v[k].len, stdout);
			fputc('\n', stdout);
		}
		doc_batch_free(&b);
		l2_merge_destroy(merges[s]);
	}
	fflush(stdout);
	free(res);
	free(merges);
	config_free(&cfg);
	return failed ? 1 : 0;
}

/* ---- offenders ---------------------------------------------------------- */

struct offenders_out {
	bool json;
	uint64_t n;
};

static int offenders_print(void *ud, const struct reputation_entry *e)
{
	struct offenders_out *o = ud;
	char line[65536];

	o->n++;
	if (o->json) {
		if (reputation_entry_json(e, line, sizeof(line)) != 0)
			return -ENOMEM;
		printf("%s\n", line);
		return 0;
	}
	char until[32] = "-";
	if (e->blocked_until_s) {
		time_t t = (time_t)e->blocked_until_s;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	printf("%-39s %8llu  %-7s %-20s  %s  %s\n", e->ip, (unsigned long long)e->offences,
	       e->blocked ? "blocked" : (e->exempt ? "exempt" : "-"), until, e->labels_json,
	       e->sites_json);
	return 0;
}

/*
 * Print the offender database (read-only: it may be in use by `run`).
 * Exit 1 when it cannot be read, 0 otherwise (also when IP is not in it,
 * which prints nothing: "not an offender" is an answer).
 */
static int cmd_offenders(int argc, char **argv)
{
	struct cli c;
	struct config cfg;
	char db[REPUTATION_PATH_MAX], bl[REPUTATION_PATH_MAX], err[512];
	struct reputation_db *h;
	int rc = parse_cli(argc, argv, &c, "config blocked json");

	if (rc)
		return rc;
	if (!c.config)
		c.config = find_default_config();
	rc = load_config(c.config, &cfg);
	if (rc)
		return rc;
	struct flow_addr a;
	if (c.file && flow_addr_parse(c.file, &a) != 0) {
		config_free(&cfg);
		return usage_error("offenders: not an IP address: \"%s\"", c.file);
	}
	char ip[64];
	if (c.file)
		flow_addr_format(&a, ip, sizeof(ip)); /* the database's spelling */
	reputation_paths(&cfg.reputation, cfg.store_path, db, sizeof(db), bl, sizeof(bl));
	config_free(&cfg);
	if (reputation_db_open(db, true, &h, err, sizeof(err)) != 0) {
		fprintf(stderr, "nfsentry offenders: %s\n", err);
		return 1;
	}
	struct offenders_out o = {.json = c.json};
	if (!c.json)
		printf("%-39s %8s  %-7s %-20s  %s  %s\n", "ip", "offences", "state", "blockedUntil",
		       "labels", "sites");
	rc = reputation_db_foreach(h, c.blocked, c.file ? ip : NULL, offenders_print, &o);
	reputation_db_close(h);
	if (rc != 0) {
		fprintf(stderr, "nfsentry offenders: %s: %s\n", db, strerror(rc < 0 ? -rc : EIO));
		return 1;
	}
	fflush(stdout);
	return 0;
}

/* ---- check-config ------------------------------------------------------- */

static int cmd_daily(int argc, char **argv)
{
	struct cli c;
	struct config cfg;
	struct daily_day day;
	char err[512];
	int rc = start_with_config(argc, argv, "config site date json from-documents", "daily",
	                           false, &c, &cfg);

	if (rc)
		return rc;
	if (c.date)
		rc = daily_day_resolve(c.date, cfg.daily.tz, &day);
	else if ((rc = daily_day_of((int64_t)time(NULL), cfg.daily.tz, &day)) == 0)
		rc = daily_day_of(day.start_s - 1, cfg.daily.tz, &day);
	if (rc) {
		config_free(&cfg);
		return usage_error("--date: not a day (YYYY-MM-DD): \"%s\"", c.date ? c.date : "");
	}
	bool found = false;
	for (size_t k = 0; k < cfg.n_sites; k++)
		found |= !c.site || strcmp(c.site, cfg.sites[k].name) == 0;
	if (!found) {
		config_free(&cfg);
		return usage_error("no site %s in the configuration", c.site ? c.site : "at all");
	}
	struct store_opts ro;
	struct store *st = NULL;
	store_opts_defaults(&ro);
	ro.read_only = true;
	ro.read_schema3 = true; /* a store from before the digests: every slot from documents */
	if (store_open(cfg.store_path, &ro, &st, err, sizeof(err)) != 0) {
		log_error("%s", err);
		config_free(&cfg);
		return 1;
	}
	rc = 0;
	static struct daily_config dc; /* large; one command per process */
	daily_cfg_get(&cfg, &dc);
	dc.from_documents = c.from_documents;
	for (size_t k = 0; k < cfg.n_sites; k++) {
		struct daily_result *r;
		if (c.site && strcmp(c.site, cfg.sites[k].name) != 0)
			continue;
		if (daily_analyse(st, cfg.sites[k].name, &day, &dc, &r, err, sizeof(err)) !=
		    0) {
			log_error("%s", err);
			rc = 1;
			continue;
		}
		log_info("daily %s %s: %.2f s, %u of %u slots from digests, %u corrupt, %u unfit",
		         cfg.sites[k].name, day.date, r->elapsed_s, r->slots_digest, day.n_slots,
		         r->digests_bad, r->digests_unfit);
		int orc = c.json ? daily_result_ndjson(r, stdout) : daily_result_text(r, stdout);
		if (!c.json && k + 1 < cfg.n_sites)
			fputs("\n", stdout);
		if (orc)
			rc = 1;
		daily_result_free(r);
	}
	store_close(st);
	config_free(&cfg);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}

static int cmd_check_config(int argc, char **argv)
{
	struct cli c;
	struct config cfg;
	int rc = parse_cli(argc, argv, &c, "config");

	if (rc)
		return rc;
	const char *path = c.file ? c.file : c.config;
	if (!path)
		return usage_error("check-config needs a file");
	rc = load_config(path, &cfg);
	if (rc)
		return rc;
	printf("%s: ok\n", path);
	config_free(&cfg);
	return 0;
}

/* ---- healthcheck -------------------------------------------------------- */

/* How long `nfsentry healthcheck` waits for /healthz. */
#define HEALTHCHECK_TIMEOUT_MS 5000

static int cmd_healthcheck(int argc, char **argv)
{
	struct cli c;
	struct config cfg;
	char url[256], err[512];
	int rc = start_with_config(argc, argv, "config", "healthcheck", false, &c, &cfg);

	if (rc)
		return rc;
	rc = healthcheck_url(&cfg.web, url, sizeof(url));
	config_free(&cfg);
	if (rc == -ENOENT) {
		fprintf(stderr,
		        "nfsentry healthcheck: the web server is off (web.listen is empty)\n");
		return EXIT_USAGE;
	}
	if (rc != 0) {
		fprintf(stderr, "nfsentry healthcheck: %s\n", strerror(-rc));
		return EXIT_USAGE;
	}
	if (healthcheck_get(url, HEALTHCHECK_TIMEOUT_MS, err, sizeof(err)) != 0) {
		fprintf(stderr, "nfsentry healthcheck: %s\n", err);
		return 1;
	}
	printf("%s: ok\n", url);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	    {"run", cmd_run},
	    {"replay", cmd_replay},
	    {"send", cmd_send},
	    {"ship", cmd_ship},
	    {"poll", cmd_poll},
	    {"offenders", cmd_offenders},
	    {"daily", cmd_daily},
	    {"check-config", cmd_check_config},
	    {"healthcheck", cmd_healthcheck},
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("nfsentry %s\n", NFSENTRY_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	return usage_error("unknown command \"%s\"", argv[1]);
}
