/*
 * Unit tests for src/ingest/sender.c: order, exact payloads, pacing, loops,
 * IPv4 and IPv6 destinations, option and size errors.
 *
 * A receiver thread drains a UDP socket on 127.0.0.1 or ::1 while
 * sender_run() blocks in the test thread. Captures are written by the test.
 *
 * With NFSENTRY_BENCH=N in the environment, test_throughput sends N
 * 1400-byte datagrams as fast as possible to a draining sink and prints the
 * rate (see docs/internals/ingest.md); otherwise it is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pcap/pcap.h>
#include <cmocka.h>

#include "nfsentry/sender.h"

static char tmp_dir[64];

/* A destination for sender_opts.to: a literal address and a port. */
static struct flow_endpoint ep_of(const char *addr, uint16_t port)
{
	struct flow_endpoint ep = {.port = port};

	assert_int_equal(flow_addr_parse(addr, &ep.addr), 0);
	return ep;
}

/* ---- capture writer: raw IPv4/UDP frames with payload "dg-<i>-..." ---- */

static size_t payload_of(unsigned i, uint8_t *out, size_t want)
{
	int n = snprintf((char *)out, want + 1, "dg-%05u-", i);
	assert_true(n > 0);
	for (size_t j = (size_t)n; j < want; j++)
		out[j] = (uint8_t)(i + j);
	return want;
}

/* With vary, every 8th datagram is half as long: GSO runs must break there. */
static bool vary;

static size_t plen_of(unsigned i, size_t plen)
{
	return vary && i % 8 == 7 ? plen / 2 : plen;
}

/* n datagrams of plen bytes, the i-th at capture time ts_ms[i] (or i ms). */
static void write_capture(const char *path, unsigned n, size_t plen, const uint64_t *ts_ms)
{
	pcap_t *pd = pcap_open_dead(DLT_RAW, 65535);
	pcap_dumper_t *d;
	static uint8_t f[1600];

	assert_true(plen + 28 <= sizeof(f));
	assert_non_null(pd);
	d = pcap_dump_open(pd, path);
	assert_non_null(d);
	for (unsigned i = 0; i < n; i++) {
		size_t pl = plen_of(i, plen), tot = 28 + pl;
		struct pcap_pkthdr h;
		uint64_t t = ts_ms ? ts_ms[i] : 1700000000000ull + i;

		memset(f, 0, 28);
		f[0] = 0x45;
		f[2] = (uint8_t)(tot >> 8);
		f[3] = (uint8_t)tot;
		f[8] = 64;
		f[9] = 17;
		memcpy(f + 12, "\xc0\x00\x02\x01\xc6\x33\x64\x07", 8);
		f[20] = 0x9c; /* sport 40000 */
		f[21] = 0x40;
		f[22] = 0x08; /* dport 2055 */
		f[23] = 0x07;
		f[24] = (uint8_t)((pl + 8) >> 8);
		f[25] = (uint8_t)(pl + 8);
		payload_of(i, f + 28, pl);
		h.ts.tv_sec = (time_t)(t / 1000);
		h.ts.tv_usec = (suseconds_t)(t % 1000) * 1000;
		h.caplen = h.len = (bpf_u_int32)tot;
		pcap_dump((u_char *)d, &h, f);
	}
	pcap_dump_close(d);
	pcap_close(pd);
}

/* ---- receiver thread ---- */

struct rx {
	int fd;
	uint16_t port;
	unsigned want; /* stop after this many */
	unsigned got;
	unsigned bad; /* payload mismatches vs. expected order */
	size_t plen;
	unsigned n_per_loop;
	uint64_t first_ns, last_ns;
	uint64_t bytes;
	bool check; /* compare payloads */
	bool spin;  /* poll by spinning: the sender never pays for a wakeup */
	pthread_t th;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *rx_main(void *arg)
{
	struct rx *r = arg;
	static uint8_t bufs[64][2048];
	struct mmsghdr m[64];
	struct iovec iov[64];
	uint8_t exp[2048];

	uint64_t idle_since = mono_ns();

	while (r->got < r->want) {
		struct pollfd p = {r->fd, POLLIN, 0};
		if (r->spin) {
			if (mono_ns() - idle_since > 3000000000ull)
				break;
		} else if (poll(&p, 1, 3000) <= 0) {
			break; /* 3 s of silence: the sender is done */
		}
		for (int i = 0; i < 64; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&m[i], 0, sizeof(m[i]));
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(r->fd, m, 64, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		uint64_t t = mono_ns();
		idle_since = t;
		if (r->got == 0)
			r->first_ns = t;
		r->last_ns = t;
		for (int i = 0; i < n; i++) {
			if (r->check) {
				unsigned idx = r->got % r->n_per_loop;
				size_t pl = plen_of(idx, r->plen);
				payload_of(idx, exp, pl);
				if (m[i].msg_len != pl || memcmp(bufs[i], exp, pl) != 0)
					r->bad++;
			}
			r->bytes += m[i].msg_len;
			r->got++;
		}
	}
	return NULL;
}

static void rx_start(struct rx *r, int family, unsigned want)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int big = 8 << 20;

	memset(&ss, 0, sizeof(ss));
	r->fd = socket(family, SOCK_DGRAM, 0);
	assert_true(r->fd >= 0);
	setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		sl = sizeof(*in6);
	}
	assert_int_equal(bind(r->fd, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(getsockname(r->fd, (struct sockaddr *)&ss, &sl), 0);
	r->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	r->want = want;
	assert_int_equal(pthread_create(&r->th, NULL, rx_main, r), 0);
}

static void rx_join(struct rx *r)
{
	assert_int_equal(pthread_join(r->th, NULL), 0);
	close(r->fd);
}

static char ERR[512];

static void test_rate_v4_order_and_pacing(void **state)
{
	(void)state;
	char path[128];
	struct rx r;
	struct sender_result res;
	const unsigned n = 60;
	const double rate = 400.0;

	snprintf(path, sizeof(path), "%s/rate.pcap", tmp_dir);
	write_capture(path, n, 100, NULL);
	memset(&r, 0, sizeof(r));
	r.check = true;
	r.plen = 100;
	r.n_per_loop = n;
	rx_start(&r, AF_INET, n);
	struct sender_opts o = {
	    .path = path, .to = ep_of("127.0.0.1", r.port), .rate_dps = rate, .loops = 1};
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), 0);
	rx_join(&r);
	assert_int_equal(res.datagrams_loaded, n);
	assert_int_equal(res.datagrams_sent, n);
	assert_int_equal(res.bytes_sent, n * 100);
	assert_int_equal(res.send_errors, 0);
	assert_int_equal(r.got, n);
	assert_int_equal(r.bad, 0);
	/* n datagrams at 400/s: the last is due (n-1)/rate = 147.5 ms after the first. */
	double min_s = (double)(n - 1) / rate;
	assert_true(res.elapsed_s >= min_s);
	assert_true((double)(r.last_ns - r.first_ns) / 1e9 >= min_s * 0.5);
	assert_true(res.elapsed_s < min_s * 4 + 0.5);
	/*
	 * At 400/s a datagram is its own batch unless a sleep overran its
	 * 2.5 ms gap (a loaded machine); then the late ones are caught up.
	 */
	assert_true(res.batches >= n / 2);
	unlink(path);
}

/* Unpaced, 3 loops, lengths that vary: with and without UDP GSO. */
static void fast_v6_loops(bool no_gso)
{
	char path[128];
	struct rx r;
	struct sender_result res;
	const unsigned n = 512; /* 8 batches of 64 = 8 runs of 7 + 1 each */

	snprintf(path, sizeof(path), "%s/fast.pcap", tmp_dir);
	vary = true;
	write_capture(path, n, 300, NULL);
	memset(&r, 0, sizeof(r));
	r.check = true;
	r.plen = 300;
	r.n_per_loop = n;
	rx_start(&r, AF_INET6, 3 * n);
	struct sender_opts o = {
	    .path = path, .to = ep_of("::1", r.port), .loops = 3, .no_gso = no_gso};
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), 0);
	rx_join(&r);
	vary = false;
	assert_int_equal(res.datagrams_sent, 3 * n);
	assert_int_equal(res.bytes_sent, 3 * (n / 8) * (7 * 300 + 150));
	/* Unpaced: full batches of 64 (the kernel may split one, rarely). */
	assert_true(res.batches <= 3 * ((n + 63) / 64) + 4);
	if (no_gso) {
		assert_int_equal(res.gso_messages, 0);
	} else {
		/* One message per run of 7 equal lengths; the short ones go alone. */
		assert_int_equal(res.gso_messages, 3 * (n / 8));
	}
	/*
	 * Loopback does not drop for a receiver this fast with an 8 MiB
	 * buffer and 1500 small datagrams.
	 */
	assert_int_equal(r.got, 3 * n);
	assert_int_equal(r.bad, 0);
	unlink(path);
}

static void test_fast_v6_loops_gso(void **state)
{
	(void)state;
	fast_v6_loops(false);
}

static void test_fast_v6_loops_no_gso(void **state)
{
	(void)state;
	fast_v6_loops(true);
}

static void test_speed_factor(void **state)
{
	(void)state;
	char path[128];
	struct rx r;
	struct sender_result res;
	/* 0, +200 ms, +200 ms, +400 ms => 400 ms at speed 2. */
	const uint64_t ts[4] = {1700000000000ull, 1700000000200ull, 1700000000200ull,
	                        1700000000800ull};

	snprintf(path, sizeof(path), "%s/speed.pcap", tmp_dir);
	write_capture(path, 4, 50, ts);
	memset(&r, 0, sizeof(r));
	r.check = true;
	r.plen = 50;
	r.n_per_loop = 4;
	rx_start(&r, AF_INET, 4);
	struct sender_opts o = {.path = path, .to = ep_of("127.0.0.1", r.port), .speed = 2.0};
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), 0);
	rx_join(&r);
	assert_int_equal(r.got, 4);
	assert_int_equal(r.bad, 0);
	assert_true(res.elapsed_s >= 0.4);
	assert_true(res.elapsed_s < 0.75); /* 0.8 s would mean the factor was ignored */
	/* The two datagrams with the same timestamp go in one batch. */
	assert_int_equal(res.batches, 3);
	unlink(path);
}

static void test_errors(void **state)
{
	(void)state;
	char path[128];
	struct sender_result res;

	snprintf(path, sizeof(path), "%s/err.pcap", tmp_dir);
	write_capture(path, 10, 100, NULL);
	struct sender_opts o = {
	    .path = path, .to = ep_of("127.0.0.1", 9), .rate_dps = 10, .speed = 2};
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), -EINVAL);
	assert_non_null(strstr(ERR, "not both"));
	o.speed = 0;
	o.to.port = 0;
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), -EINVAL);
	assert_non_null(strstr(ERR, "127.0.0.1:0 has no port"));
	/* 10 x 100 bytes of payload do not fit in 900. */
	o.to = ep_of("::1", 9);
	o.max_bytes = 900;
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), -EFBIG);
	assert_non_null(strstr(ERR, path));
	assert_non_null(strstr(ERR, "900"));
	assert_int_equal(res.datagrams_sent, 0);
	/* A port filter that keeps nothing. */
	static const uint16_t p53 = 53;
	o.max_bytes = 0;
	o.filter.ports = &p53;
	o.filter.n_ports = 1;
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), -ENODATA);
	assert_int_equal(res.load.port_filtered, 10);
	o.path = "/nonexistent.pcap";
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), -ENOENT);
	assert_non_null(strstr(ERR, "/nonexistent.pcap"));
	unlink(path);
}

static void test_throughput(void **state)
{
	(void)state;
	const char *env = getenv("NFSENTRY_BENCH");
	char path[128], *end;
	struct rx r;
	struct sender_result res;

	if (!env)
		skip();
	errno = 0;
	unsigned long n = strtoul(env, &end, 10);
	if (errno || *end || n == 0 || n > 2000000)
		n = 200000;
	snprintf(path, sizeof(path), "%s/bench.pcap", tmp_dir);
	write_capture(path, (unsigned)n, 1400, NULL);
	memset(&r, 0, sizeof(r));
	r.n_per_loop = (unsigned)n;
	r.spin = getenv("NFSENTRY_BENCH_SPIN") != NULL;
	rx_start(&r, AF_INET, (unsigned)n * 5);
	struct sender_opts o = {.path = path,
	                        .to = ep_of("127.0.0.1", r.port),
	                        .loops = 5,
	                        .no_gso = getenv("NFSENTRY_BENCH_NO_GSO") != NULL};
	assert_int_equal(sender_run(&o, &res, ERR, sizeof(ERR)), 0);
	rx_join(&r);
	printf("bench: sent %llu x 1400 B in %.3f s = %.0f datagrams/s (%.2f Gbit/s); "
	       "sender thread CPU %.3f s = %.0f datagrams per CPU-second; "
	       "sink received %u; %llu sendmmsg calls, %llu GSO messages, %llu retries\n",
	       (unsigned long long)res.datagrams_sent, res.elapsed_s,
	       (double)res.datagrams_sent / res.elapsed_s,
	       (double)res.bytes_sent * 8 / res.elapsed_s / 1e9, res.cpu_s,
	       (double)res.datagrams_sent / res.cpu_s, r.got, (unsigned long long)res.batches,
	       (unsigned long long)res.gso_messages, (unsigned long long)res.retries);
	unlink(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/nfs_sender_XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmp_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rate_v4_order_and_pacing),
	    cmocka_unit_test(test_fast_v6_loops_gso),
	    cmocka_unit_test(test_fast_v6_loops_no_gso),
	    cmocka_unit_test(test_speed_factor),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_throughput),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
