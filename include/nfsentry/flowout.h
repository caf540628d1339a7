/*
 * flowout: the `--flows csv|json` contract -- one decoded record per line.
 *
 * CSV header (exactly):
 *   export_time,exporter,src,dst,sport,dport,proto,tcp_flags,packets,octets,
 *   first,last,in_if,out_if,sampling
 * Addresses in their normal text form, times in Unix milliseconds. JSON
 * lines carry the same keys, numbers as JSON numbers, addresses as strings.
 * Formatting is by hand (no printf per field): replay prints millions of
 * rows.
 */
#ifndef NFSENTRY_FLOWOUT_H
#define NFSENTRY_FLOWOUT_H

#include <stddef.h>

#include "nfsentry/flow.h"

enum flowout_format {
	FLOWOUT_NONE = 0,
	FLOWOUT_CSV,
	FLOWOUT_JSON,
};

/* Parse "csv" / "json". Returns 0 or -EINVAL. */
int flowout_format_parse(const char *s, enum flowout_format *out);

/* The CSV header line, with its newline. */
extern const char flowout_csv_header[];

/* Longest line either format can produce, newline included. */
#define FLOWOUT_LINE_MAX 512

/*
 * Format one record as a line (newline included, no NUL) into buf, which has
 * at least FLOWOUT_LINE_MAX bytes. Returns the line's length.
 */
size_t flowout_format_line(enum flowout_format fmt, const struct flow *f, char *buf);

#endif
