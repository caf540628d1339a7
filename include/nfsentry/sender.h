/*
 * sender: `nfsentry send` -- replay the export payloads of a capture to a
 * live collector over UDP, with batched sends (sendmmsg).
 *
 * Order is kept (template-bearing datagrams stay ahead of their data).
 * Pacing is either a fixed rate in datagrams per second or a speed factor
 * applied to the capture's own timing; neither means "as fast as possible".
 */
#ifndef NFSENTRY_SENDER_H
#define NFSENTRY_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "nfsentry/pcapin.h"

struct sender_opts {
	const char *path;    /* capture to read */
	const char *to_host; /* literal address */
	uint16_t to_port;
	double rate_dps;     /* > 0: datagrams per second */
	double speed;        /* > 0: capture timing divided by this factor */
	uint64_t loops;      /* times to send the capture; >= 1 */
	struct pcapin_opts filter;
	int sndbuf_bytes;    /* 0 = kernel default */
};

struct sender_result {
	uint64_t datagrams_sent;
	uint64_t bytes_sent;
	uint64_t send_errors;  /* datagrams the kernel refused (counted, not retried) */
	double elapsed_s;
};

/*
 * Load the capture's datagrams into memory, then send them as opts says.
 * Returns 0, or a negative errno-style code with a message in err.
 */
int sender_run(const struct sender_opts *opts, struct sender_result *res,
               char *err, size_t errlen);

#endif
