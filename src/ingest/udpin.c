/*
 * udpin: live UDP listeners on the loop thread. See udpin.h.
 *
 * Responsible for: binding each configured address (IPv6 as V6ONLY),
 * sizing SO_RCVBUF, batched receive through libuv's recvmmsg mode, handing
 * each datagram on with the wall-clock time, counting partial datagrams and
 * errors, and reading the kernel's per-socket drop counter. Not responsible
 * for: what the payload contains, or which exporters are allowed (decode).
 *
 * Buffer ownership (libuv 1.44, src/unix/udp.c, docs/src/udp.rst): with
 * UV_UDP_RECVMMSG, alloc_cb is asked for one buffer per recvmmsg call;
 * libuv cuts it into 64 KiB slots (at most 20) and calls recv_cb once per
 * datagram with UV_UDP_MMSG_CHUNK set and buf pointing into a slot, then
 * once more with the whole buffer and UV_UDP_MMSG_FREE (or, when nothing
 * was read, nread 0 / addr NULL, or nread < 0) -- the call in which the
 * application may release it. Because alloc_cb is never called again before
 * that last callback, one buffer per handle, allocated at start and freed
 * with the handle, serves every batch: nothing is allocated per batch, and
 * recv_cb releases nothing.
 */
#include "nfsentry/udpin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <linux/sock_diag.h>

#include "nfsentry/clock.h"
#include "nfsentry/log.h"

struct udpin_sock {
	uv_udp_t h; /* h.data points back here */
	struct udpin *u;
	bool open;     /* uv_udp_init_ex succeeded: must be closed */
	bool skipped;  /* IPv6 listener left out at start: IPv6 unavailable here */
	char name[80]; /* "addr:port" as configured, for messages */
	struct flow_endpoint local;
	int rcvbuf_bytes;
	uint64_t inode;
	char *buf; /* UDPIN_MMSG_SLOTS * UDPIN_SLOT_BYTES, see the file comment */
	struct udpin_stats st;
	uint64_t err_log_ms; /* rate limiter for recv error lines */
	int fd;              /* the socket, for SO_MEMINFO; -1: not known or not looked at */
	uint16_t fill_pm;    /* receive buffer in use at the last look, per mille */
	uint64_t fill_ms;    /* monotonic time of that look */
};

struct udpin {
	uv_loop_t *loop;
	datagram_fn fn;
	void *ud;
	size_t n;
	size_t n_up;   /* listeners receiving (n minus the skipped ones) */
	size_t n_open; /* handles not yet through their close callback */
	struct udpin_sock s[];
};

/* On Unix a libuv error is -errno: say it the way strerror() does. */
static const char *errstr(int uv_err)
{
	return strerror(-uv_err);
}

static void udpin_free(struct udpin *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->s[i].buf);
	free(u);
}

static void on_close(uv_handle_t *h)
{
	struct udpin_sock *s = h->data;
	struct udpin *u = s->u;

	if (--u->n_open == 0)
		udpin_free(u);
}

/* Close every open handle; u goes away in the last close callback. */
static void close_all(struct udpin *u)
{
	size_t n_open = u->n_open;

	if (n_open == 0) {
		udpin_free(u);
		return;
	}
	/* on_close never runs inside uv_close, so u stays valid in this loop. */
	for (size_t i = 0; i < u->n; i++) {
		if (!u->s[i].open)
			continue;
		u->s[i].open = false;
		uv_udp_recv_stop(&u->s[i].h);
		uv_close((uv_handle_t *)&u->s[i].h, on_close);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct udpin_sock *s = h->data;

	(void)suggested;
	*buf = uv_buf_init(s->buf, UDPIN_MMSG_SLOTS * UDPIN_SLOT_BYTES);
}

/*
 * At the end of a batch, at most every millisecond: how much of the
 * socket's receive buffer the queued datagrams take (SO_MEMINFO, the
 * kernel's own accounting, the same units as SO_RCVBUF), given with the
 * following datagrams (struct datagram rx_fill_pm) to whoever may do less
 * when the reading thread falls behind (the attack detector's sampling).
 */
static void fill_look(struct udpin_sock *s)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);
	if (s->fd < 0)
		return;
	uint64_t now = clock_ms(CLOCK_MONOTONIC);
	if (now == s->fill_ms)
		return;
	s->fill_ms = now;
	if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) != 0 ||
	    len < (SK_MEMINFO_RCVBUF + 1) * sizeof(uint32_t) || !mi[SK_MEMINFO_RCVBUF])
		return;
	uint64_t pm = (uint64_t)mi[SK_MEMINFO_RMEM_ALLOC] * 1000 / mi[SK_MEMINFO_RCVBUF];
	s->fill_pm = (uint16_t)(pm > 1000 ? 1000 : pm);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
	struct udpin_sock *s = h->data;
	struct datagram dg;

	if (nread < 0) {
		uint64_t now = clock_ms(CLOCK_REALTIME);

		s->st.recv_errors++;
		if (log_ratelimit_ok(&s->err_log_ms, now, 10000))
			log_warn("listen %s: receive: %s (%llu errors so far)", s->name,
			         errstr((int)nread), (unsigned long long)s->st.recv_errors);
		return;
	}
	/* nread 0 with no address: end of a batch or nothing to read. */
	if (!addr) {
		fill_look(s);
		return;
	}
	if (flags & UV_UDP_PARTIAL) {
		s->st.partial++;
		return;
	}
	memset(&dg, 0, sizeof(dg));
	if (flow_endpoint_from_sockaddr(&dg.from, addr) < 0) {
		s->st.recv_errors++;
		return;
	}
	dg.to = s->local;
	dg.p = (const uint8_t *)buf->base;
	dg.len = (size_t)nread;
	dg.ts_ms = clock_ms(CLOCK_REALTIME);
	dg.rx_fill_pm = s->fill_pm;
	s->st.datagrams++;
	s->st.bytes += (uint64_t)nread;
	(void)s->u->fn(s->u->ud, &dg);
}

/*
 * Ask for rcvbuf bytes and report what the kernel gave. Linux doubles the
 * value it stores (half is bookkeeping, socket(7)) and silently caps the
 * request at net.core.rmem_max, so "granted" below 2 x asked means capped.
 */
static void size_rcvbuf(struct udpin_sock *s, int asked)
{
	int v = asked, got = 0, r;

	if (asked > 0) {
		r = uv_recv_buffer_size((uv_handle_t *)&s->h, &v);
		if (r < 0)
			log_warn("listen %s: SO_RCVBUF %d: %s", s->name, asked, errstr(r));
	}
	r = uv_recv_buffer_size((uv_handle_t *)&s->h, &got);
	if (r < 0)
		return;
	s->rcvbuf_bytes = got;
	if (asked <= 0) {
		log_info("listen %s: SO_RCVBUF kernel default %d bytes", s->name, got);
		return;
	}
	log_info("listen %s: SO_RCVBUF asked %d bytes, kernel granted %d "
	         "(Linux reports twice the usable size)",
	         s->name, asked, got);
	if ((int64_t)got < 2 * (int64_t)asked)
		log_warn("listen %s: receive buffer is smaller than asked (%d usable of %d); "
		         "raise net.core.rmem_max, e.g. sysctl -w net.core.rmem_max=%d",
		         s->name, got / 2, asked, asked);
}

static int sock_open(struct udpin *u, struct udpin_sock *s, const struct udpin_listen *l,
                     int rcvbuf, bool rx_fill, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int namelen = sizeof(ss);
	bool v6 = strchr(l->host, ':') != NULL;
	uv_os_fd_t fd;
	struct stat sb;
	int r;

	snprintf(s->name, sizeof(s->name), "%s%s%s:%u", v6 ? "[" : "", l->host, v6 ? "]" : "",
	         l->port);
	s->u = u;
	s->fd = -1;
	memset(&ss, 0, sizeof(ss));
	if (v6)
		r = uv_ip6_addr(l->host, l->port, (struct sockaddr_in6 *)&ss);
	else
		r = uv_ip4_addr(l->host, l->port, (struct sockaddr_in *)&ss);
	if (r < 0) {
		snprintf(err, errlen, "listen %s: not a literal IPv4 or IPv6 address", s->name);
		return -EINVAL;
	}
	s->buf = malloc(UDPIN_MMSG_SLOTS * UDPIN_SLOT_BYTES);
	if (!s->buf) {
		snprintf(err, errlen, "listen %s: out of memory for the receive buffer", s->name);
		return UV_ENOMEM;
	}
	r = uv_udp_init_ex(u->loop, &s->h, (v6 ? AF_INET6 : AF_INET) | UV_UDP_RECVMMSG);
	if (r < 0) {
		snprintf(err, errlen, "listen %s: socket: %s", s->name, errstr(r));
		return r;
	}
	s->open = true;
	u->n_open++;
	s->h.data = s;
	/* V6ONLY so that "::" does not take the IPv4 port "0.0.0.0" needs. */
	r = uv_udp_bind(&s->h, (const struct sockaddr *)&ss, v6 ? UV_UDP_IPV6ONLY : 0);
	if (r < 0) {
		snprintf(err, errlen, "listen %s: bind: %s", s->name, errstr(r));
		return r;
	}
	r = uv_udp_getsockname(&s->h, (struct sockaddr *)&ss, &namelen);
	if (r < 0 || flow_endpoint_from_sockaddr(&s->local, (struct sockaddr *)&ss) < 0) {
		snprintf(err, errlen, "listen %s: getsockname: %s", s->name,
		         errstr(r < 0 ? r : UV_EINVAL));
		return r < 0 ? r : UV_EINVAL;
	}
	if (l->port == 0)
		snprintf(s->name, sizeof(s->name), "%s%s%s:%u", v6 ? "[" : "", l->host,
		         v6 ? "]" : "", s->local.port);
	size_rcvbuf(s, rcvbuf);
	if (uv_fileno((uv_handle_t *)&s->h, &fd) == 0 && fstat(fd, &sb) == 0) {
		s->inode = (uint64_t)sb.st_ino;
		s->fd = rx_fill ? fd : -1;
	}
	r = uv_udp_recv_start(&s->h, on_alloc, on_recv);
	if (r < 0) {
		snprintf(err, errlen, "listen %s: receive: %s", s->name, errstr(r));
		return r;
	}
	log_info("listening on udp %s", s->name);
	return 0;
}

/*
 * True when IPv6 is switched off on this host: no IPv6 in the kernel
 * (ipv6.disable=1: no /proc/sys/net/ipv6) or net.ipv6.conf.all.disable_ipv6
 * set (then no interface, loopback included, holds an IPv6 address).
 */
static bool ipv6_disabled(void)
{
	FILE *f = fopen("/proc/sys/net/ipv6/conf/all/disable_ipv6", "re");
	int c;

	if (!f)
		return errno == ENOENT;
	c = fgetc(f);
	fclose(f);
	return c == '1';
}

/*
 * Whether a listener that failed to open with libuv error r is left out
 * rather than stopping the start: an IPv6 one, when the host has no IPv6
 * (the socket cannot be made, or its address cannot exist here). Any other
 * failure (port in use, an IPv4 address not on this host) is the
 * configuration's mistake and stops the start.
 */
static bool skippable(const struct udpin_listen *l, int r)
{
	if (!strchr(l->host, ':'))
		return false;
	if (r == UV_EAFNOSUPPORT || r == UV_EPROTONOSUPPORT)
		return true;
	return r == UV_EADDRNOTAVAIL && ipv6_disabled();
}

/* Leave listener s out: close what sock_open() opened, keep its slot (config order). */
static void sock_skip(struct udpin_sock *s, const char *why)
{
	log_warn("%s; IPv6 is unavailable on this host: this listener is left out, the others go "
	         "on",
	         why);
	s->skipped = true;
	free(s->buf);
	s->buf = NULL;
	if (s->open) {
		s->open = false;
		/* u stays valid: n_open counts this handle until its close callback. */
		uv_close((uv_handle_t *)&s->h, on_close);
	}
}

int udpin_start(uv_loop_t *loop, const struct udpin_config *cfg, datagram_fn fn, void *ud,
                struct udpin **out, char *err, size_t errlen)
{
	struct udpin *u;
	int r, last = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || cfg->n_listen == 0 || cfg->n_listen > UDPIN_MAX_LISTEN) {
		snprintf(err, errlen, "listen: between 1 and %d addresses needed, %zu given",
		         UDPIN_MAX_LISTEN, cfg ? cfg->n_listen : (size_t)0);
		return -EINVAL;
	}
	u = calloc(1, sizeof(*u) + cfg->n_listen * sizeof(u->s[0]));
	if (!u) {
		snprintf(err, errlen, "listen: out of memory");
		return UV_ENOMEM;
	}
	u->loop = loop;
	u->fn = fn;
	u->ud = ud;
	u->n = cfg->n_listen;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		r = sock_open(u, &u->s[i], &cfg->listen[i], cfg->rcvbuf_bytes, cfg->rx_fill, err,
		              errlen);
		if (r < 0 && skippable(&cfg->listen[i], r)) {
			sock_skip(&u->s[i], err);
			last = r;
			continue;
		}
		if (r < 0) {
			close_all(u);
			return r;
		}
		u->n_up++;
	}
	if (u->n_up == 0) {
		size_t len = strlen(err);
		snprintf(err + len, errlen - len, "; no listener left");
		close_all(u);
		return last;
	}
	err[0] = '\0';
	*out = u;
	return 0;
}

void udpin_stop(struct udpin *u)
{
	if (u)
		close_all(u);
}

/*
 * Add each socket's "drops" column from one /proc/net/udp* file, matching
 * by inode. Columns (net/ipv4/udp.c, udp4_format_sock): sl local rem st
 * tx:rx tr:when retrnsmt uid timeout inode ref pointer drops.
 */
static void read_proc_drops(const char *path, const struct udpin *u, uint64_t *drops)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *tok[13], *p = line;
		size_t nt = 0;
		unsigned long long ino, dr;
		char *end;

		while (nt < 13) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0' || *p == '\n')
				break;
			tok[nt++] = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\n')
				p++;
			if (*p)
				*p++ = '\0';
		}
		if (nt < 13)
			continue; /* the header line, or a format we do not know */
		errno = 0;
		ino = strtoull(tok[9], &end, 10);
		if (errno || *end)
			continue;
		dr = strtoull(tok[12], &end, 10);
		if (errno || *end)
			continue;
		for (size_t i = 0; i < u->n; i++)
			if (u->s[i].inode && u->s[i].inode == ino)
				drops[i] += dr;
	}
	fclose(f);
}

static void proc_drops(const struct udpin *u, uint64_t *drops)
{
	memset(drops, 0, u->n * sizeof(*drops));
	read_proc_drops("/proc/net/udp", u, drops);
	read_proc_drops("/proc/net/udp6", u, drops);
}

void udpin_stats_get(const struct udpin *u, struct udpin_stats *out)
{
	uint64_t drops[UDPIN_MAX_LISTEN];

	memset(out, 0, sizeof(*out));
	if (!u)
		return;
	proc_drops(u, drops);
	for (size_t i = 0; i < u->n; i++) {
		out->datagrams += u->s[i].st.datagrams;
		out->bytes += u->s[i].st.bytes;
		out->partial += u->s[i].st.partial;
		out->recv_errors += u->s[i].st.recv_errors;
		out->kernel_drops += drops[i];
	}
}

static const struct counter_def udpin_counter_defs[] = {
    COUNTER_DEF(udpin_stats, datagrams, "udpDatagrams", COUNTER_TOTAL,
                "UDP datagrams received on the listeners."),
    COUNTER_DEF(udpin_stats, bytes, "udpBytes", COUNTER_TOTAL, "Bytes of those datagrams."),
    COUNTER_DEF(udpin_stats, partial, "udpTruncated", COUNTER_TOTAL,
                "Datagrams truncated by the receive buffer, dropped."),
    COUNTER_DEF(udpin_stats, recv_errors, "udpRecvErrors", COUNTER_TOTAL,
                "Receive calls that failed."),
    COUNTER_DEF(udpin_stats, kernel_drops, "udpKernelDrops", COUNTER_TOTAL,
                "Datagrams the kernel dropped before they were read (/proc/net/udp)."),
};
_Static_assert(sizeof(udpin_counter_defs) / sizeof(udpin_counter_defs[0]) * sizeof(uint64_t) ==
                   sizeof(struct udpin_stats),
               "one counter per field of struct udpin_stats");

const struct counter_table udpin_counters = COUNTER_TABLE("udp", udpin_counter_defs, udpin_stats);

size_t udpin_listener_count(const struct udpin *u)
{
	return u ? u->n : 0;
}

size_t udpin_listener_up(const struct udpin *u)
{
	return u ? u->n_up : 0;
}

int udpin_listener_info(const struct udpin *u, size_t i, struct udpin_listener_info *out)
{
	uint64_t drops[UDPIN_MAX_LISTEN];

	if (!u || i >= u->n)
		return -EINVAL;
	if (u->s[i].skipped)
		return -ENOTCONN;
	memset(out, 0, sizeof(*out));
	out->local = u->s[i].local;
	out->rcvbuf_bytes = u->s[i].rcvbuf_bytes;
	out->inode = u->s[i].inode;
	out->st = u->s[i].st;
	proc_drops(u, drops);
	out->st.kernel_drops = drops[i];
	return 0;
}
