/*
 * pipeline: what happens to a datagram after it is received, the same for
 * live UDP and capture replay: exporter check and decode, then the decoded
 * records go to the record printers (--flows) and, later, the site/slot
 * engine.
 *
 * One pipeline belongs to one thread (the loop thread live, the main thread
 * in replay). It does no I/O of its own except the optional record output.
 */
#ifndef NFSENTRY_PIPELINE_H
#define NFSENTRY_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include "nfsentry/config.h"
#include "nfsentry/decoder.h"
#include "nfsentry/flow.h"
#include "nfsentry/flowout.h"

struct pipeline;

struct pipeline_opts {
	enum flowout_format flows; /* FLOWOUT_NONE: print nothing */
	FILE *flows_out;           /* borrowed; where --flows rows go */
};

/*
 * Create a pipeline for cfg (borrowed: must outlive the pipeline). Returns
 * NULL on allocation failure.
 */
struct pipeline *pipeline_create(const struct config *cfg, const struct pipeline_opts *opts);

/* Flush the record output and free everything. NULL is accepted. */
void pipeline_destroy(struct pipeline *pl);

/*
 * datagram_fn: decode one datagram and route its records. Always returns 0
 * (a bad datagram is counted, not fatal); ud is the struct pipeline.
 */
int pipeline_datagram(void *ud, const struct datagram *dg);

/* Flush buffered record output. Returns 0 or -errno from the stream. */
int pipeline_flush(struct pipeline *pl);

/* The decoder, for statistics. */
const struct decoder *pipeline_decoder(const struct pipeline *pl);

/* Write a human summary of decoder totals, drops and exporters to out. */
void pipeline_report(const struct pipeline *pl, FILE *out);

#endif
