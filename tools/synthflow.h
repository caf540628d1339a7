/*
 * synthflow: a deterministic model of a campus site's flow records, shared by
 * tools/genexport (which encodes them as IPFIX / NetFlow v9 in a capture) and
 * tools/bench_slot (which feeds them straight to the slot engine), so that
 * both benchmarks see the same address spread.
 *
 * The model, per conversation (each gives one or two records):
 * - 70 % an inside client talks to an outside server: the client is drawn
 *   from the inside hosts with Zipf-like activity (exponent 1), the server
 *   from a population of outside hosts with Zipf-like popularity (exponent 1:
 *   a few CDNs and resolvers get most of the traffic, a long tail is seen
 *   once or twice); TCP 443/80, QUIC, DNS. 92-97 % get an answer (ingress).
 * - 15 % an outside client (uniform over the outside population) talks to one
 *   of the site's servers (the first inside hosts); the server answers.
 * - 5 % one-way ingress from 64 scanners to uniformly random addresses of
 *   the inside prefixes, most of them unused (array C material).
 * - 2 % internal (inside to inside), 4 % ICMP echo, 4 % NTP.
 * Times: records are spread evenly over the slots; a record's flow ends 1 to
 * 31 s before its export time and lasted up to 2 minutes.
 *
 * IPv4 only. Not this file's job: any wire format.
 */
#ifndef NFSENTRY_TOOLS_SYNTHFLOW_H
#define NFSENTRY_TOOLS_SYNTHFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/flow.h"

#define SYNTH_MAX_PREFIXES 16
#define SYNTH_MAX_RECORDS (1000ull * 1000 * 1000) /* one billion */
#define SYNTH_MAX_SLOTS 10000u
#define SYNTH_MAX_OUTSIDE (64u * 1024 * 1024)
#define SYNTH_SCANNERS 64u

struct synth_prefix {
	uint32_t net; /* host order */
	uint8_t len;  /* 8..30 */
};

struct synth_opts {
	uint64_t records;      /* total, spread evenly over the slots */
	uint32_t slots;        /* 300-second slots, from start_s */
	uint32_t inside_hosts; /* active inside addresses */
	uint32_t outside_hosts; /* outside population (distinct addresses) */
	uint64_t seed;
	int64_t start_s; /* a multiple of 300 */
	struct synth_prefix inside[SYNTH_MAX_PREFIXES];
	size_t n_inside;
	bool inside_set; /* an --inside was given (synth_opt_parse) */
};

/* Defaults: 1 M records, 1 slot, 10.0.0.0/16 with 4000 hosts, 300 000 outside. */
void synth_opts_defaults(struct synth_opts *o);

/* Parse "A.B.C.D/LEN" (LEN 8..30, no host bits). Returns 0 or -EINVAL. */
int synth_prefix_parse(const char *s, struct synth_prefix *p);

struct synth;

/*
 * Check o (copied) and build the tables. Returns 0 with *out set, -EINVAL
 * with a message in err, or -ENOMEM.
 */
int synth_create(const struct synth_opts *o, struct synth **out, char *err, size_t errlen);

void synth_destroy(struct synth *g);

/*
 * The next record, in export-time order. Fills *f (exporter left zero) and
 * *slot (0-based slot index). Returns false when all records are out.
 */
bool synth_next(struct synth *g, struct flow *f, uint32_t *slot);

/* A command-line number: decimal digits only, min..max. Returns 0 or -EINVAL. */
int synth_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * The model's command-line options, shared by the tools that take them:
 * put SYNTH_LONG_OPTIONS in a getopt_long table and pass every option to
 * synth_opt_parse() first. It returns 1 when the option is not one of the
 * model's, 0 when it set o, -EINVAL for a bad value. The first --inside
 * replaces the default prefix.
 */
#define SYNTH_LONG_OPTIONS                                                                         \
	{"records", required_argument, NULL, 'n'}, {"slots", required_argument, NULL, 's'},        \
	    {"inside-hosts", required_argument, NULL, 'H'},                                        \
	    {"outside-hosts", required_argument, NULL, 'O'},                                       \
	    {"inside", required_argument, NULL, 'i'}, {"seed", required_argument, NULL, 'x'},      \
	    {"start", required_argument, NULL, 't'}
int synth_opt_parse(int c, const char *arg, struct synth_opts *o);

#endif
