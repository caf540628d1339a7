/*
 * sender: `nfsentry send` -- replay the export payloads of a capture to a
 * live collector over UDP, with batched sends (sendmmsg).
 *
 * Order is kept (template-bearing datagrams stay ahead of their data).
 * Pacing is either a fixed rate in datagrams per second or a speed factor
 * applied to the capture's own timing; neither means "as fast as possible".
 * A datagram is never sent before its deadline; batches only gather
 * datagrams whose deadline has already passed, so at low rates a batch is
 * one datagram and at high rates it grows to SENDER_BATCH.
 */
#ifndef NFSENTRY_SENDER_H
#define NFSENTRY_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfsentry/flow.h"
#include "nfsentry/pcapin.h"

#define SENDER_BATCH 64                       /* datagrams per sendmmsg call */
#define SENDER_MAX_BYTES_DEFAULT (4ull << 30) /* payload bytes held in memory */
#define SENDER_SNDBUF_DEFAULT (4 << 20)       /* SO_SNDBUF asked when 0 is given */

struct sender_opts {
	const char *path;    /* capture to read (borrowed) */
	struct flow_endpoint to; /* destination (flow_endpoint_parse: "HOST:PORT", "[v6]:PORT") */
	double rate_dps; /* > 0: datagrams per second */
	double speed;    /* > 0: capture timing divided by this factor */
	uint64_t loops;  /* times to send the capture; 0 is taken as 1 */
	struct pcapin_opts filter;
	int sndbuf_bytes;   /* 0 = SENDER_SNDBUF_DEFAULT */
	uint64_t max_bytes; /* refuse captures holding more payload; 0 = default */
	bool no_gso;        /* never use UDP_SEGMENT (default: use it for runs of
	                     * equal-size datagrams, falling back when refused) */
};

struct sender_result {
	uint64_t datagrams_loaded; /* payloads read from the capture */
	uint64_t datagrams_sent;
	uint64_t bytes_sent;      /* UDP payload bytes */
	uint64_t send_errors;     /* datagrams the kernel refused (counted, not retried) */
	uint64_t retries;         /* sendmmsg calls repeated after ENOBUFS/EAGAIN */
	uint64_t batches;         /* sendmmsg calls that sent something */
	uint64_t gso_messages;    /* messages that carried several datagrams (UDP GSO) */
	double elapsed_s;         /* first send to last send, all loops */
	double cpu_s;             /* CPU time of the sending thread over elapsed_s */
	struct pcapin_stats load; /* how the capture read went */
};

/*
 * Load the capture's datagrams into memory, then send them as opts says.
 * Returns 0 (even if some datagrams were refused: see send_errors), or a
 * negative errno-style code with a message in err: -EINVAL for bad options
 * (both rate and speed, bad address), -EFBIG when the capture holds more
 * than max_bytes of payload, -ENODATA when it holds no datagram, pcapin's
 * codes for the capture, or the socket call's -errno. res may be NULL;
 * otherwise it is filled in, also on error.
 */
int sender_run(const struct sender_opts *opts, struct sender_result *res, char *err, size_t errlen);

#endif
