/*
 * l2ssh: one blocking SSH poll of one device with libssh (see l2ssh.h).
 *
 * Every blocking libssh call is bounded: before each one the session's
 * timeout (SSH_OPTIONS_TIMEOUT_USEC, which libssh applies to connect, key
 * exchange, authentication and channel requests) is set to what is left of
 * the device's budget, and output is read in slices of at most
 * L2SSH_SLICE_MS so the budget and the cancel flag are checked between
 * them. A device that accepts the TCP connection and never speaks fails
 * with L2SSH_E_TIMEOUT when the budget is spent.
 *
 * Not this file's job: what the output means (parse.c), when to poll and
 * what to do with the result (poll.c).
 */
#include "nfsentry/l2ssh.h"

#include <errno.h>
#include <stdarg.h>
#include <libssh/libssh.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfsentry/clock.h"
#include "nfsentry/grow.h"

#define L2SSH_SLICE_MS 200
#define L2SSH_READ_CHUNK 16384

struct poll_ctx {
	const struct site_device *dev;
	ssh_session s;
	int64_t deadline_ms;
	const volatile bool *cancel;
	char *err;
	size_t errlen;
};

const char *l2ssh_error_name(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case L2SSH_E_CONNECT:
		return "connect";
	case L2SSH_E_TIMEOUT:
		return "timeout";
	case L2SSH_E_HOSTKEY:
		return "hostkey";
	case L2SSH_E_AUTH:
		return "auth";
	case L2SSH_E_CREDENTIAL:
		return "credential";
	case L2SSH_E_CHANNEL:
		return "channel";
	case L2SSH_E_NOMEM:
		return "nomem";
	case L2SSH_E_CANCELLED:
		return "cancelled";
	default:
		return "error";
	}
}

__attribute__((format(printf, 3, 4))) static int fail(struct poll_ctx *c, int code, const char *fmt,
                                                      ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s:%u: %s", c->dev->host, (unsigned)c->dev->port, what);
	return code;
}

/* Remaining budget in ms (<= 0: spent). */
static int64_t left_ms(const struct poll_ctx *c)
{
	return c->deadline_ms - (int64_t)clock_ms(CLOCK_MONOTONIC);
}

/* Give libssh's next blocking call what is left of the budget (at least 1 ms). */
static void arm(struct poll_ctx *c)
{
	int64_t ms = left_ms(c);
	long sec, usec;

	if (ms < 1)
		ms = 1;
	sec = (long)(ms / 1000);
	usec = (long)(ms % 1000) * 1000;
	/* libssh adds TIMEOUT (s) and TIMEOUT_USEC (us) together. */
	ssh_options_set(c->s, SSH_OPTIONS_TIMEOUT, &sec);
	ssh_options_set(c->s, SSH_OPTIONS_TIMEOUT_USEC, &usec);
}

/* A libssh failure: a timeout when the budget is spent, else code. */
static int ssh_fail(struct poll_ctx *c, int code, const char *step)
{
	if (left_ms(c) <= 50)
		return fail(c, L2SSH_E_TIMEOUT, "%s: no answer within the timeout of %u s", step,
		            (unsigned)c->dev->timeout_s);
	return fail(c, code, "%s: %s", step, ssh_get_error(c->s));
}

static bool cancelled(const struct poll_ctx *c)
{
	return c->cancel && *c->cancel;
}

/*
 * TCP connect and SSH handshake, non-blocking so that the cancel flag is
 * seen while a device that accepted the connection says nothing (no banner,
 * a stalled key exchange): a shutdown does not wait for the timeout.
 */
static int do_connect(struct poll_ctx *c)
{
	int rc;

	ssh_set_blocking(c->s, 0);
	for (;;) {
		rc = ssh_connect(c->s);
		if (rc != SSH_AGAIN)
			break;
		if (cancelled(c)) {
			ssh_set_blocking(c->s, 1);
			return fail(c, L2SSH_E_CANCELLED, "cancelled while connecting");
		}
		int64_t left = left_ms(c);
		if (left <= 0) {
			ssh_set_blocking(c->s, 1);
			return fail(c, L2SSH_E_TIMEOUT,
			            "connect: no SSH answer within the timeout of %u s (the port "
			            "accepts connections but the handshake did not finish)",
			            (unsigned)c->dev->timeout_s);
		}
		struct pollfd pfd = {.fd = ssh_get_fd(c->s), .events = POLLIN};
		int wait = (int)(left < 50 ? left : 50);
		if (pfd.fd >= 0)
			poll(&pfd, 1, wait);
		else
			poll(NULL, 0, wait);
	}
	ssh_set_blocking(c->s, 1);
	if (rc != SSH_OK)
		return ssh_fail(c, L2SSH_E_CONNECT, "connect");
	return 0;
}

/* "ssh-ed25519 SHA256:..." of the server's key into buf; "unknown key" on failure. */
static void server_fingerprint(ssh_session s, char *buf, size_t len)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp;

	snprintf(buf, len, "unknown key");
	if (ssh_get_server_publickey(s, &key) != SSH_OK)
		return;
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
		if (fp) {
			snprintf(buf, len, "%s %s", ssh_key_type_to_char(ssh_key_type(key)), fp);
			ssh_string_free_char(fp);
		}
		ssh_clean_pubkey_hash(&hash);
	}
	ssh_key_free(key);
}

/*
 * The server's key against known_hosts. OpenSSH's StrictHostKeyChecking
 * semantics: a known key passes; a changed key (or a different key type
 * where one is known) always refuses; an unknown host refuses unless
 * accept_new, which appends the key to the file.
 */
static int check_host_key(struct poll_ctx *c)
{
	char fp[256];
	enum ssh_known_hosts_e st = ssh_session_is_known_server(c->s);

	server_fingerprint(c->s, fp, sizeof(fp));
	switch (st) {
	case SSH_KNOWN_HOSTS_OK:
		return 0;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		return fail(
		    c, L2SSH_E_HOSTKEY,
		    "host key CHANGED: the device now presents %s, which does not match %s; "
		    "refused (if the device was really replaced, remove its old line)",
		    fp, c->dev->known_hosts);
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		if (!c->dev->accept_new)
			return fail(c, L2SSH_E_HOSTKEY,
			            "host key unknown: %s is not in %s; refused (add it, or set "
			            "accept_new: true to trust it on first use)",
			            fp, c->dev->known_hosts);
		if (ssh_session_update_known_hosts(c->s) != SSH_OK)
			return fail(c, L2SSH_E_HOSTKEY, "cannot add host key %s to %s: %s", fp,
			            c->dev->known_hosts, ssh_get_error(c->s));
		return 0;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		return fail(c, L2SSH_E_HOSTKEY, "cannot check host key %s against %s: %s", fp,
		            c->dev->known_hosts, ssh_get_error(c->s));
	}
}

/* The first line of the password file into pw (wiped by the caller). */
static int read_password(struct poll_ctx *c, char *pw, size_t len)
{
	FILE *f = fopen(c->dev->password_file, "rb");
	size_t n;

	if (!f)
		return fail(c, L2SSH_E_CREDENTIAL, "cannot read password_file %s: %s",
		            c->dev->password_file, strerror(errno));
	n = fread(pw, 1, len - 1, f);
	bool more = fgetc(f) != EOF;
	fclose(f);
	pw[n] = '\0';
	if (more)
		return fail(c, L2SSH_E_CREDENTIAL, "password_file %s is larger than %u bytes",
		            c->dev->password_file, (unsigned)(len - 1));
	pw[strcspn(pw, "\r\n")] = '\0';
	if (!pw[0])
		return fail(c, L2SSH_E_CREDENTIAL, "password_file %s is empty",
		            c->dev->password_file);
	return 0;
}

static int authenticate(struct poll_ctx *c)
{
	int rc;

	if (c->dev->key[0]) {
		ssh_key key = NULL;
		if (ssh_pki_import_privkey_file(c->dev->key, NULL, NULL, NULL, &key) != SSH_OK)
			return fail(
			    c, L2SSH_E_CREDENTIAL,
			    "cannot read private key %s (missing, unreadable, or protected by "
			    "a passphrase)",
			    c->dev->key);
		arm(c);
		rc = ssh_userauth_publickey(c->s, NULL, key);
		ssh_key_free(key);
		if (rc == SSH_AUTH_ERROR)
			return ssh_fail(c, L2SSH_E_AUTH, "authentication");
		if (rc != SSH_AUTH_SUCCESS)
			return fail(c, L2SSH_E_AUTH, "user %s: key %s refused by the device",
			            c->dev->user, c->dev->key);
		return 0;
	}
	char pw[L2SSH_PASSWORD_MAX + 1];
	rc = read_password(c, pw, sizeof(pw));
	if (rc == 0) {
		arm(c);
		int arc = ssh_userauth_password(c->s, NULL, pw);
		if (arc == SSH_AUTH_ERROR)
			rc = ssh_fail(c, L2SSH_E_AUTH, "authentication");
		else if (arc != SSH_AUTH_SUCCESS)
			rc = fail(c, L2SSH_E_AUTH,
			          "user %s: password (from %s) refused by the device", c->dev->user,
			          c->dev->password_file);
	}
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* Append n bytes to o, up to L2SSH_OUTPUT_MAX; *cap is o->text's size. */
static int out_append(struct l2ssh_output *o, size_t *cap, const char *p, size_t n)
{
	/* len never exceeds the maximum; saying so lets GCC -O3 see n cannot wrap. */
	if (o->len >= L2SSH_OUTPUT_MAX) {
		o->truncated = o->truncated || n > 0;
		n = 0;
	} else if (n > L2SSH_OUTPUT_MAX - o->len) {
		o->truncated = true;
		n = L2SSH_OUTPUT_MAX - o->len;
	}
	if (grow_array((void **)&o->text, cap, o->len + n + 1, 1, 65536, L2SSH_OUTPUT_MAX + 1) != 0)
		return L2SSH_E_NOMEM;
	if (n)
		memcpy(o->text + o->len, p, n);
	o->len += n;
	o->text[o->len] = '\0';
	return 0;
}

static int run_command(struct poll_ctx *c, const char *cmd, struct l2ssh_output *o)
{
	ssh_channel ch = ssh_channel_new(c->s);
	char buf[L2SSH_READ_CHUNK];
	size_t cap = 0;
	int rc = 0;

	o->exit_status = -1;
	if (!ch)
		return fail(c, L2SSH_E_NOMEM, "out of memory for a channel");
	arm(c);
	if (ssh_channel_open_session(ch) != SSH_OK) {
		rc = ssh_fail(c, L2SSH_E_CHANNEL, "opening a session channel");
		goto out;
	}
	arm(c);
	if (ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		rc = ssh_fail(c, L2SSH_E_CHANNEL, "running the command");
		goto out;
	}
	rc = out_append(o, &cap, "", 0);
	while (rc == 0) {
		int64_t left = left_ms(c);
		if (cancelled(c)) {
			rc = fail(c, L2SSH_E_CANCELLED, "cancelled while reading \"%s\"", cmd);
			break;
		}
		if (left <= 0) {
			rc = fail(
			    c, L2SSH_E_TIMEOUT,
			    "\"%s\" did not finish within the timeout of %u s (%zu bytes read)",
			    cmd, (unsigned)c->dev->timeout_s, o->len);
			break;
		}
		int n = ssh_channel_read_timeout(
		    ch, buf, sizeof(buf), 0, (int)(left < L2SSH_SLICE_MS ? left : L2SSH_SLICE_MS));
		if (n == SSH_ERROR) {
			rc = fail(c, L2SSH_E_CHANNEL, "reading the output of \"%s\": %s", cmd,
			          ssh_get_error(c->s));
			break;
		}
		if (n > 0)
			rc = out_append(o, &cap, buf, (size_t)n);
		/* Standard error is read and dropped so its window never stalls stdout. */
		while (ssh_channel_read_nonblocking(ch, buf, sizeof(buf), 1) > 0)
			;
		if (n <= 0 && ssh_channel_is_eof(ch))
			break;
	}
	if (rc == 0) {
		arm(c);
		o->exit_status = ssh_channel_get_exit_status(ch);
	}
out:
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	return rc;
}

int l2ssh_poll(const struct site_device *dev, struct l2ssh_output *out, const volatile bool *cancel,
               char *err, size_t errlen)
{
	struct poll_ctx c = {.dev = dev,
	                     .deadline_ms = (int64_t)clock_ms(CLOCK_MONOTONIC) + (int64_t)dev->timeout_s * 1000,
	                     .cancel = cancel,
	                     .err = err,
	                     .errlen = errlen};
	int rc = 0, port = (int)dev->port, verbosity = SSH_LOG_NOLOG;
	bool no = false;

	snprintf(err, errlen, "ok");
	for (size_t i = 0; i < dev->n_commands; i++)
		out[i] = (struct l2ssh_output){.exit_status = -1};
	c.s = ssh_new();
	if (!c.s)
		return fail(&c, L2SSH_E_NOMEM, "out of memory for an SSH session");
	/*
	 * Only what the configuration says: no ~/.ssh/config, and the same file
	 * as user and global known_hosts, so /etc/ssh/ssh_known_hosts cannot
	 * vouch for a key the operator did not put in the configured file.
	 */
	if (ssh_options_set(c.s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) < 0 ||
	    ssh_options_set(c.s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_options_set(c.s, SSH_OPTIONS_HOST, dev->host) < 0 ||
	    ssh_options_set(c.s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(c.s, SSH_OPTIONS_USER, dev->user) < 0 ||
	    ssh_options_set(c.s, SSH_OPTIONS_KNOWNHOSTS, dev->known_hosts) < 0 ||
	    ssh_options_set(c.s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, dev->known_hosts) < 0) {
		rc = fail(&c, L2SSH_E_CONNECT, "bad SSH options: %s", ssh_get_error(c.s));
		goto out;
	}
	arm(&c);
	rc = do_connect(&c);
	if (rc != 0)
		goto out;
	rc = check_host_key(&c);
	if (rc == 0 && cancelled(&c))
		rc = fail(&c, L2SSH_E_CANCELLED, "cancelled");
	if (rc == 0)
		rc = authenticate(&c);
	for (size_t i = 0; rc == 0 && i < dev->n_commands; i++)
		rc = run_command(&c, dev->commands[i], &out[i]);
	ssh_disconnect(c.s);
out:
	ssh_free(c.s);
	return rc;
}

void l2ssh_output_free(struct l2ssh_output *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(out[i].text);
		out[i] = (struct l2ssh_output){.exit_status = -1};
	}
}
