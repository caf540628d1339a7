/*
 * l2ssh: one SSH poll of one device -- connect, check the host key against
 * the configured known_hosts file, authenticate with a key or a password
 * read from a file, run each command on an exec channel and return what it
 * printed. Blocking, for a worker thread; bounded by the device's timeout
 * (connect + host key + authentication + every command together).
 *
 * Not this module's job: parsing (l2.h), scheduling and merging (l2poll.h).
 * Credentials are never logged or put into error messages; the password is
 * wiped from memory after use. docs/internals/l2ssh.md is the contract in
 * prose.
 */
#ifndef NFSENTRY_L2SSH_H
#define NFSENTRY_L2SSH_H

#include <stdbool.h>
#include <stddef.h>

#include "nfsentry/site.h"

/* What one command's output may make us hold; the rest is dropped and flagged. */
#define L2SSH_OUTPUT_MAX (16u * 1024u * 1024u)
/* A password file larger than this is refused (it is not a password). */
#define L2SSH_PASSWORD_MAX 1024

/* Why a poll failed (negative return values of l2ssh_poll). */
enum l2ssh_error {
	L2SSH_E_CONNECT = -1001,    /* TCP connection or SSH handshake failed */
	L2SSH_E_TIMEOUT = -1002,    /* the device's timeout passed */
	L2SSH_E_HOSTKEY = -1003,    /* host key unknown, changed or not checkable */
	L2SSH_E_AUTH = -1004,       /* the device refused the key / password */
	L2SSH_E_CREDENTIAL = -1005, /* key or password file unreadable */
	L2SSH_E_CHANNEL = -1006,    /* the command could not be started */
	L2SSH_E_NOMEM = -1007,
	L2SSH_E_CANCELLED = -1008, /* *cancel became true */
};

/* Stable short name of an error: "connect", "timeout", "hostkey", ... */
const char *l2ssh_error_name(int err);

/* One command's result. */
struct l2ssh_output {
	char *text; /* owned (malloc); NUL-terminated; len bytes before the NUL */
	size_t len;
	bool truncated;  /* more than L2SSH_OUTPUT_MAX bytes were printed */
	int exit_status; /* the command's exit status, -1 if the device sent none */
};

/*
 * Poll dev: run dev->commands[0 .. dev->n_commands) in order on one
 * session. out must have dev->n_commands entries; they are overwritten.
 * cancel (may be NULL) is read between steps and while waiting for output.
 *
 * Returns 0 when every command ran (each out[i] filled), or a negative
 * enum l2ssh_error with err (errlen bytes) saying why in one line -- the
 * host, port, and for host keys the key type and SHA256 fingerprint, never a
 * secret. On failure the outputs already read stay in out (the others hold
 * text NULL); free them with l2ssh_output_free either way.
 */
int l2ssh_poll(const struct site_device *dev, struct l2ssh_output *out, const volatile bool *cancel,
               char *err, size_t errlen);

/* Free the n outputs' text and reset them. */
void l2ssh_output_free(struct l2ssh_output *out, size_t n);

#endif
