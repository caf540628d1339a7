/*
 * sender: capture -> UDP, paced. See sender.h.
 *
 * Responsible for: loading every UDP payload of a capture into one bounded
 * buffer (via pcapin), then sending them in file order from one connected
 * UDP socket with sendmmsg, at a fixed rate, at a multiple of the capture's
 * own timing, or as fast as the kernel takes them. Not responsible for:
 * parsing HOST:PORT (src/main.c hands us a literal address), or looking at
 * what the payloads contain.
 *
 * Pacing uses absolute CLOCK_MONOTONIC deadlines, one per datagram, and
 * clock_nanosleep(TIMER_ABSTIME), so an oversleep is caught up by the next
 * batch instead of accumulating as drift.
 */
#include "nfsentry/sender.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/grow.h"
#include "nfsentry/log.h"

/* One GSO message: at most this many datagrams and bytes (IP length is 16 bits). */
#define SENDER_GSO_MAX_SEGS 64
#define SENDER_GSO_MAX_BYTES 60000

/* Wait after ENOBUFS/EAGAIN before the same batch is tried again. */
#define SENDER_RETRY_WAIT_NS 50000u

struct sender_item {
	uint64_t off; /* into sender_load.data */
	uint32_t len;
	uint64_t ts_ms; /* capture time */
};

struct sender_load {
	uint8_t *data;
	size_t used, cap;
	struct sender_item *items;
	size_t n, ncap;
	uint64_t max_bytes;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* pcapin callback: copy the payload in. Returns -EFBIG/-ENOMEM to stop. */
static int load_one(void *ud, const struct datagram *dg)
{
	struct sender_load *l = ud;
	size_t need;

	/* Payload bytes plus the index entry count against the limit. */
	if (__builtin_add_overflow(l->used, dg->len + sizeof(struct sender_item), &need) ||
	    (uint64_t)need + l->n * sizeof(struct sender_item) > l->max_bytes)
		return -EFBIG;
	/* Within max_bytes, checked above: only -ENOMEM can come back. */
	if (grow_array((void **)&l->data, &l->cap, l->used + dg->len, 1, (size_t)1 << 20,
	               (size_t)l->max_bytes) != 0 ||
	    grow_array((void **)&l->items, &l->ncap, l->n + 1, sizeof(*l->items), 4096,
	               (size_t)(l->max_bytes / sizeof(*l->items))) != 0)
		return -ENOMEM;
	memcpy(l->data + l->used, dg->p, dg->len);
	l->items[l->n].off = l->used;
	l->items[l->n].len = (uint32_t)dg->len;
	l->items[l->n].ts_ms = dg->ts_ms;
	l->used += dg->len;
	l->n++;
	return 0;
}

struct sender_run_state {
	const struct sender_opts *o;
	const struct sender_load *l;
	struct sender_result *res;
	int fd;
	bool gso;         /* UDP_SEGMENT in use; cleared on the first refusal */
	const char *dest; /* "host:port" for messages */
	struct mmsghdr msgs[SENDER_BATCH];
	struct iovec iov[SENDER_BATCH];
	size_t segs[SENDER_BATCH]; /* datagrams carried by each message */
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} cmsg[SENDER_BATCH];
};

/*
 * Lay items [i, i+b) out as messages. With GSO, a run of datagrams of the
 * same length becomes one message with a UDP_SEGMENT control message: the
 * kernel cuts it back into those same datagrams, in order, after one trip
 * through the socket layer instead of one per datagram (udp(7)). Returns
 * the number of messages.
 */
static size_t build_msgs(struct sender_run_state *s, size_t i, size_t b)
{
	size_t m = 0;

	for (size_t j = 0; j < b; j++) {
		const struct sender_item *it = &s->l->items[i + j];

		s->iov[j].iov_base = s->l->data + it->off;
		s->iov[j].iov_len = it->len;
	}
	for (size_t j = 0; j < b;) {
		size_t len = s->iov[j].iov_len, n = 1;
		struct msghdr *h = &s->msgs[m].msg_hdr;

		if (s->gso && len > 0)
			while (j + n < b && s->iov[j + n].iov_len == len &&
			       (n + 1) * len <= SENDER_GSO_MAX_BYTES && n < SENDER_GSO_MAX_SEGS)
				n++;
		memset(&s->msgs[m], 0, sizeof(s->msgs[m]));
		h->msg_iov = &s->iov[j];
		h->msg_iovlen = n;
		if (n > 1) {
			struct cmsghdr *c = &s->cmsg[m].align;
			uint16_t seg = (uint16_t)len;

			memset(s->cmsg[m].buf, 0, sizeof(s->cmsg[m].buf));
			h->msg_control = s->cmsg[m].buf;
			h->msg_controllen = sizeof(s->cmsg[m].buf);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		}
		s->segs[m] = n;
		m++;
		j += n;
	}
	return m;
}

/* Send items [i, i+b) in order; a refused datagram is counted and skipped. */
static void send_batch(struct sender_run_state *s, size_t i, size_t b)
{
	size_t done = 0; /* items sent or skipped */

	while (done < b) {
		size_t m = build_msgs(s, i + done, b - done);
		int r = sendmmsg(s->fd, s->msgs, (unsigned)m, 0);

		if (r > 0) {
			size_t k = 0;

			for (size_t j = 0; j < (size_t)r; j++) {
				k += s->segs[j];
				if (s->segs[j] > 1)
					s->res->gso_messages++;
			}
			for (size_t j = 0; j < k; j++)
				s->res->bytes_sent += s->iov[j].iov_len;
			s->res->datagrams_sent += k;
			s->res->batches++;
			done += k;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Our socket buffer or the device queue is full: wait, retry. */
			s->res->retries++;
			sleep_until_ns(now_ns() + SENDER_RETRY_WAIT_NS);
			continue;
		}
		if (r < 0 && s->gso && s->segs[0] > 1 &&
		    (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP ||
		     errno == ENOPROTOOPT)) {
			/* No UDP GSO on this path (old kernel, no checksum offload,
			 * segment above the MTU): send datagram by datagram. */
			log_info("send to %s: UDP GSO refused (%s); sending one by one", s->dest,
			         strerror(errno));
			s->gso = false;
			continue;
		}
		/* ECONNREFUSED (ICMP from a previous send), EMSGSIZE, ...: skip one. */
		if (s->res->send_errors == 0)
			log_warn("send to %s: %s (further errors only counted)", s->dest,
			         strerror(r < 0 ? errno : EIO));
		s->res->send_errors++;
		done++;
	}
}

/* Deadline of item i of the current loop, in CLOCK_MONOTONIC ns; 0 = now. */
static uint64_t deadline_ns(const struct sender_opts *o, const struct sender_load *l, uint64_t t0,
                            uint64_t loop, size_t i)
{
	if (o->rate_dps > 0) {
		double k = (double)loop * (double)l->n + (double)i;
		return t0 + (uint64_t)(k * 1e9 / o->rate_dps);
	}
	if (o->speed > 0) {
		/* Capture time may step back (merged files): never wait for that. */
		uint64_t base = l->items[0].ts_ms, ts = l->items[i].ts_ms;
		uint64_t rel = ts > base ? ts - base : 0;
		return t0 + (uint64_t)((double)rel * 1e6 / o->speed);
	}
	return 0;
}

static int send_all(struct sender_run_state *s)
{
	const struct sender_opts *o = s->o;
	const struct sender_load *l = s->l;
	uint64_t loops = o->loops ? o->loops : 1;
	uint64_t start = now_ns(), t0 = start;
	double cpu0 = thread_cpu_s();

	for (uint64_t loop = 0; loop < loops; loop++) {
		/* With --speed each pass restarts the capture's clock. */
		if (o->speed > 0 && loop > 0)
			t0 = now_ns();
		for (size_t i = 0; i < l->n;) {
			uint64_t dl = deadline_ns(o, l, t0, loop, i), t = 0;
			size_t b = 1;

			if (dl) {
				t = now_ns();
				if (t < dl) {
					sleep_until_ns(dl);
					t = now_ns();
				}
			}
			/* Gather only datagrams that are already due. */
			while (b < SENDER_BATCH && i + b < l->n &&
			       (!dl || deadline_ns(o, l, t0, loop, i + b) <= t))
				b++;
			send_batch(s, i, b);
			i += b;
		}
	}
	s->res->elapsed_s = (double)(now_ns() - start) / 1e9;
	s->res->cpu_s = thread_cpu_s() - cpu0;
	return 0;
}

int sender_run(const struct sender_opts *o, struct sender_result *res_out, char *err, size_t errlen)
{
	struct sender_result res_local, *res = res_out ? res_out : &res_local;
	struct sender_load l;
	struct sender_run_state *s = NULL;
	struct sockaddr_storage ss;
	socklen_t sl;
	char dest[128];
	int rc, fd = -1, sndbuf, got;
	socklen_t gl = sizeof(got);

	memset(res, 0, sizeof(*res));
	memset(&l, 0, sizeof(l));
	if (err && errlen)
		err[0] = '\0';
	char host[64];
	flow_addr_format(&o->to.addr, host, sizeof(host));
	snprintf(dest, sizeof(dest), "%s%s%s:%u", strchr(host, ':') ? "[" : "", host,
	         strchr(host, ':') ? "]" : "", o->to.port);
	if (o->rate_dps > 0 && o->speed > 0) {
		snprintf(err, errlen, "send: give --rate or --speed, not both");
		return -EINVAL;
	}
	if (o->rate_dps < 0 || o->speed < 0) {
		snprintf(err, errlen, "send: --rate and --speed must be positive");
		return -EINVAL;
	}
	if (o->to.port == 0) {
		snprintf(err, errlen, "send: destination %s has no port", dest);
		return -EINVAL;
	}
	sl = flow_endpoint_to_sockaddr(&o->to, (struct sockaddr *)&ss);

	l.max_bytes = o->max_bytes ? o->max_bytes : SENDER_MAX_BYTES_DEFAULT;
	rc = pcapin_read(o->path, &o->filter, load_one, &l, &res->load, err, errlen);
	if (rc == -EFBIG) {
		snprintf(err, errlen,
		         "%s: holds more than %llu bytes of UDP payload; refusing to load it",
		         o->path, (unsigned long long)l.max_bytes);
		goto out;
	}
	if (rc == -ENOMEM) {
		snprintf(err, errlen, "%s: out of memory after %zu datagrams", o->path, l.n);
		goto out;
	}
	if (rc < 0)
		goto out;
	res->datagrams_loaded = l.n;
	if (l.n == 0) {
		snprintf(err, errlen, "%s: no UDP datagram to send (%llu frames read)", o->path,
		         (unsigned long long)res->load.packets);
		rc = -ENODATA;
		goto out;
	}
	log_info("loaded %zu datagrams, %zu bytes of payload, from %s", l.n, l.used, o->path);

	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "send: socket for %s: %s", dest, strerror(errno));
		goto out;
	}
	sndbuf = o->sndbuf_bytes > 0 ? o->sndbuf_bytes : SENDER_SNDBUF_DEFAULT;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
		log_warn("send: SO_SNDBUF %d for %s: %s", sndbuf, dest, strerror(errno));
	else if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &gl) == 0)
		log_info("send: SO_SNDBUF asked %d bytes, kernel granted %d "
		         "(Linux reports twice the usable size; see net.core.wmem_max)",
		         sndbuf, got);
	/* Connected: the route is looked up once, not per datagram. */
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		rc = -errno;
		snprintf(err, errlen, "send: connect to %s: %s", dest, strerror(errno));
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = -ENOMEM;
		snprintf(err, errlen, "send: out of memory");
		goto out;
	}
	s->o = o;
	s->l = &l;
	s->res = res;
	s->fd = fd;
	s->gso = !o->no_gso;
	s->dest = dest;
	rc = send_all(s);
	log_info("sent %llu datagrams (%llu bytes) to %s in %.3f s, %llu refused, %llu retries",
	         (unsigned long long)res->datagrams_sent, (unsigned long long)res->bytes_sent, dest,
	         res->elapsed_s, (unsigned long long)res->send_errors,
	         (unsigned long long)res->retries);
out:
	free(s);
	if (fd >= 0)
		close(fd);
	free(l.data);
	free(l.items);
	return rc;
}
