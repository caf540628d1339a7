/*
 * counter: the one description of a module's statistics. Each statistics
 * struct (decoder_stats, udpin_stats, engine_stats, ...) has a table beside
 * its module, one entry per uint64_t field: the name documents and logs
 * spell (lower camelCase), the field's offset, whether it is a counter (a
 * total that only grows) or a gauge (a current value), and one line of help.
 *
 * Everything that shows counters iterates these tables: the slot document's
 * "collector" object (through a doc_counter list), replay's report and
 * run's log line ("name=value ..."), and the Prometheus text format.
 *
 * Not this module's job: taking the snapshots (each module's *_stats_get)
 * or keeping previous ones (the pipeline does, per site).
 */
#ifndef NFSENTRY_COUNTER_H
#define NFSENTRY_COUNTER_H

#include <stddef.h>
#include <stdint.h>

enum counter_kind {
	COUNTER_TOTAL, /* grows from 0 at start: a period reports the delta */
	COUNTER_GAUGE, /* a current value: a period reports it as it is */
};

struct counter_def {
	const char *name; /* static, lower camelCase, unique over every table */
	size_t offset;    /* of a uint64_t in the statistics struct */
	enum counter_kind kind;
	const char *help; /* static, one line, no newline or backslash */
};

struct counter_table {
	const char *module;          /* static, [a-z0-9]: nfsentry_<module>_... in Prometheus */
	const struct counter_def *v; /* static */
	size_t n;
	size_t stats_bytes; /* sizeof the statistics struct */
};

/* clang-format off */
/* One entry: the field `field` of struct `type`. */
#define COUNTER_DEF(type, field, name, kind, help) \
	{(name), offsetof(struct type, field), (kind), (help)}

/* A table over the array defs of entries for struct `type`. */
#define COUNTER_TABLE(module, defs, type) \
	{(module), (defs), sizeof(defs) / sizeof((defs)[0]), sizeof(struct type)}
/* clang-format on */

/* Fills *stats (a struct of the table's type) from ud: a module's *_stats_get. */
typedef void (*counter_snapshot_fn)(void *ud, void *stats);

/* The value of entry i in stats (borrowed). */
uint64_t counter_get(const struct counter_table *t, size_t i, const void *stats);

/*
 * The value of entry i over a period: for a counter now - prev (prev NULL:
 * now, the total since start), for a gauge now.
 */
uint64_t counter_period(const struct counter_table *t, size_t i, const void *now, const void *prev);

/*
 * Append the table's values over the period (prev may be NULL) to out as
 * name/value pairs, in table order; the names are the table's static
 * strings. Writes at most max; returns how many it wrote.
 */
struct doc_counter;
size_t counter_list(const struct counter_table *t, const void *now, const void *prev,
                    struct doc_counter *out, size_t max);

/* Leave out the entries whose value is 0 (counter_format). */
#define COUNTER_NONZERO 1u

/*
 * Format the table's values over the period (prev may be NULL) as
 * "name=value name=value ..." into buf (NUL-terminated when len > 0), in
 * table order; flags COUNTER_NONZERO leaves out zeros. Returns the length
 * of the whole line like snprintf: a result >= len means buf holds a cut
 * line.
 */
size_t counter_format(const struct counter_table *t, const void *now, const void *prev,
                      unsigned flags, char *buf, size_t len);

/*
 * The Prometheus name of entry i into buf (>= 128 bytes is always enough
 * for names below 64 characters): "nfsentry_<module>_<name in snake_case>",
 * without repeating the module when the name begins with it ("esShipped"
 * of module "es" is nfsentry_es_shipped), and "_total" after a counter's.
 * Returns the length like snprintf.
 */
size_t counter_prom_name(const struct counter_table *t, size_t i, char *buf, size_t len);

/*
 * Write the table as Prometheus text exposition format 0.0.4 into buf: per
 * entry "# HELP name help", "# TYPE name counter|gauge" and "name value"
 * lines, in table order, values from stats (totals, not deltas). Returns
 * the length of the whole text like snprintf (a result >= len: cut).
 */
size_t counter_prom_format(const struct counter_table *t, const void *stats, char *buf, size_t len);

#endif
