/*
 * Unit tests for src/ingest/udpin.c: IPv4 and IPv6 listeners on loopback,
 * dual-stack on one port (V6ONLY), exact payloads/sources/counts, receive
 * buffer sizing, kernel drop accounting, bind errors, and a clean close
 * (every test ends with uv_loop_close() == 0).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <uv.h>
#include <cmocka.h>

#include "nfsentry/udpin.h"

#define MAX_GOT 512

struct got {
	size_t n;
	struct {
		uint8_t p[1500];
		size_t len;
		struct datagram dg;
	} d[MAX_GOT];
};

static struct got G;

static int collect(void *ud, const struct datagram *dg)
{
	struct got *g = ud;
	assert_true(g->n < MAX_GOT);
	assert_true(dg->len <= sizeof(g->d[0].p));
	g->d[g->n].dg = *dg;
	g->d[g->n].dg.p = NULL;
	g->d[g->n].len = dg->len;
	memcpy(g->d[g->n].p, dg->p, dg->len);
	g->n++;
	return 1; /* ignored by udpin */
}

/* A plain socket on loopback to send from; returns fd, *port its port. */
static int sender_sock(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = socket(family, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
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
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static void send_to(int fd, const char *host, uint16_t port, const void *p, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, host, &in6->sin6_addr), 1);
		sl = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, host, &in->sin_addr), 1);
		sl = sizeof(*in);
	}
	assert_int_equal(sendto(fd, p, n, 0, (struct sockaddr *)&ss, sl), (ssize_t)n);
}

/* Run the loop until want datagrams arrived or 3 s passed. */
static void run_until(uv_loop_t *loop, size_t want)
{
	for (int i = 0; i < 3000 && G.n < want; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		if (G.n < want)
			usleep(1000);
	}
}

static void close_loop(uv_loop_t *loop, struct udpin *u)
{
	udpin_stop(u);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void assert_from(size_t i, const char *addr, uint16_t port)
{
	char buf[64];
	flow_addr_format(&G.d[i].dg.from.addr, buf, sizeof(buf));
	assert_string_equal(buf, addr);
	assert_int_equal(G.d[i].dg.from.port, port);
}

static void test_v4_and_v6_loopback(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct udpin *u = NULL;
	char err[256];
	struct udpin_listen l[2] = {{"127.0.0.1", 0}, {"::1", 0}};
	struct udpin_config cfg = {l, 2, 0};
	struct udpin_listener_info li4, li6;
	struct udpin_stats st;
	uint16_t sp4, sp6;
	uint8_t msg[1400];

	memset(&G, 0, sizeof(G));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)), 0);
	assert_non_null(u);
	assert_int_equal(udpin_listener_count(u), 2);
	assert_int_equal(udpin_listener_info(u, 0, &li4), 0);
	assert_int_equal(udpin_listener_info(u, 1, &li6), 0);
	assert_int_equal(udpin_listener_info(u, 2, &li6), -EINVAL);
	assert_int_equal(udpin_listener_info(u, 1, &li6), 0);
	assert_true(li4.local.port != 0);
	assert_true(li6.local.port != 0);
	assert_true(li4.inode != 0);
	int s4 = sender_sock(AF_INET, &sp4);
	int s6 = sender_sock(AF_INET6, &sp6);
	/* 30 datagrams on each, sizes 1..1400, interleaved. */
	for (unsigned i = 0; i < 30; i++) {
		size_t n = 1 + i * 48;
		for (size_t j = 0; j < n; j++)
			msg[j] = (uint8_t)(i ^ j);
		send_to(s4, "127.0.0.1", li4.local.port, msg, n);
		msg[0] ^= 0xff;
		send_to(s6, "::1", li6.local.port, msg, n);
	}
	run_until(&loop, 60);
	assert_int_equal(G.n, 60);
	/* Per socket, order is kept; across sockets it may interleave. */
	size_t k4 = 0, k6 = 0;
	for (size_t i = 0; i < G.n; i++) {
		bool is4 = flow_addr_is_v4(&G.d[i].dg.from.addr);
		unsigned idx = (unsigned)(is4 ? k4++ : k6++);
		size_t n = 1 + idx * 48;
		for (size_t j = 0; j < n; j++)
			msg[j] = (uint8_t)(idx ^ j);
		if (!is4)
			msg[0] ^= 0xff;
		assert_int_equal(G.d[i].len, n);
		assert_memory_equal(G.d[i].p, msg, n);
		if (is4) {
			assert_from(i, "127.0.0.1", sp4);
			assert_int_equal(G.d[i].dg.to.port, li4.local.port);
		} else {
			assert_from(i, "::1", sp6);
			assert_int_equal(G.d[i].dg.to.port, li6.local.port);
		}
		assert_true(G.d[i].dg.ts_ms > 1600000000000ull);
	}
	assert_int_equal(k4, 30);
	assert_int_equal(k6, 30);
	udpin_stats_get(u, &st);
	assert_int_equal(st.datagrams, 60);
	assert_int_equal(st.bytes, 2 * (30 + 48 * 29 * 30 / 2));
	assert_int_equal(st.partial, 0);
	assert_int_equal(st.recv_errors, 0);
	assert_int_equal(st.kernel_drops, 0);
	assert_int_equal(udpin_listener_info(u, 1, &li6), 0);
	assert_int_equal(li6.st.datagrams, 30);
	close(s4);
	close(s6);
	close_loop(&loop, u);
}

/* "0.0.0.0" and "::" on the same port: only possible with V6ONLY. */
static void test_dual_stack_same_port(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct udpin *u = NULL;
	char err[256];
	uint16_t port, sp4, sp6;

	/* Find a port free on both families, then let it go. */
	int probe = sender_sock(AF_INET, &port);
	close(probe);
	struct udpin_listen l[2] = {{"0.0.0.0", port}, {"::", port}};
	struct udpin_config cfg = {l, 2, 0};
	memset(&G, 0, sizeof(G));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)), 0);
	int s4 = sender_sock(AF_INET, &sp4);
	int s6 = sender_sock(AF_INET6, &sp6);
	send_to(s4, "127.0.0.1", port, "four", 4);
	run_until(&loop, 1);
	send_to(s6, "::1", port, "six!!", 5);
	run_until(&loop, 2);
	assert_int_equal(G.n, 2);
	assert_int_equal(G.d[0].len, 4);
	assert_memory_equal(G.d[0].p, "four", 4);
	assert_from(0, "127.0.0.1", sp4);
	/* Delivered by the IPv4 listener, bound to 0.0.0.0. */
	char buf[64];
	flow_addr_format(&G.d[0].dg.to.addr, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0");
	assert_int_equal(G.d[1].len, 5);
	assert_memory_equal(G.d[1].p, "six!!", 5);
	assert_from(1, "::1", sp6);
	flow_addr_format(&G.d[1].dg.to.addr, buf, sizeof(buf));
	assert_string_equal(buf, "::");
	close(s4);
	close(s6);
	close_loop(&loop, u);
}

static void test_bind_errors(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct udpin *u = NULL;
	char err[256], want[64];
	uint16_t busy;

	int hold = sender_sock(AF_INET, &busy);
	struct udpin_listen l[3] = {{"127.0.0.1", 0}, {"::1", 0}, {"127.0.0.1", busy}};
	struct udpin_config cfg = {l, 3, 0};
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)),
	                 UV_EADDRINUSE);
	assert_null(u);
	snprintf(want, sizeof(want), "127.0.0.1:%u", busy);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, strerror(EADDRINUSE)));
	/* The two listeners opened first are closed: the loop empties. */
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);

	struct udpin_listen bad[1] = {{"collector.local", 2055}};
	cfg = (struct udpin_config){bad, 1, 0};
	assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "collector.local:2055"));
	assert_null(u);
	cfg = (struct udpin_config){bad, 0, 0};
	assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	close(hold);
}

/*
 * An IPv6 address that is not on this host fails the start while the host
 * has IPv6: only an IPv6-less host makes it a listener to leave out.
 */
static void test_v6_address_missing_is_an_error(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct udpin *u = NULL;
	char err[256];
	struct udpin_listen l[2] = {{"127.0.0.1", 0}, {"2001:db8::1", 0}};
	struct udpin_config cfg = {l, 2, 0};
	FILE *f = fopen("/proc/sys/net/ipv6/conf/all/disable_ipv6", "r");

	if (!f || fgetc(f) != '0') {
		if (f)
			fclose(f);
		skip(); /* this host has IPv6 off: the case below does not exist here */
	}
	fclose(f);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)),
	                 UV_EADDRNOTAVAIL);
	assert_null(u);
	assert_non_null(strstr(err, "[2001:db8::1]:0"));
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* In the child of test_ipv6_disabled: say which check failed and exit 1. */
#define CHILD_CHECK(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

static void ipv6_disabled_child(void)
{
	uv_loop_t loop;
	struct udpin *u = NULL;
	char err[256];
	struct udpin_listen l[3] = {{"0.0.0.0", 0}, {"::", 0}, {"::1", 0}};
	struct udpin_config cfg = {l, 3, 0};
	struct udpin_listener_info li;
	FILE *f = fopen("/proc/sys/net/ipv6/conf/all/disable_ipv6", "w");

	CHILD_CHECK(f && fputs("1\n", f) >= 0 && fclose(f) == 0);
	CHILD_CHECK(uv_loop_init(&loop) == 0);
	/* "::" still binds with IPv6 disabled; "::1" no longer exists: left out. */
	CHILD_CHECK(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)) == 0);
	CHILD_CHECK(u != NULL);
	CHILD_CHECK(udpin_listener_count(u) == 3);
	CHILD_CHECK(udpin_listener_up(u) == 2);
	CHILD_CHECK(udpin_listener_info(u, 0, &li) == 0 && li.local.port != 0);
	CHILD_CHECK(udpin_listener_info(u, 2, &li) == -ENOTCONN);
	udpin_stop(u);
	CHILD_CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
	/* Nothing left to listen on: the start fails and says so. */
	cfg = (struct udpin_config){l + 2, 1, 0};
	u = NULL;
	CHILD_CHECK(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)) ==
	            UV_EADDRNOTAVAIL);
	CHILD_CHECK(u == NULL && strstr(err, "[::1]:0") && strstr(err, "no listener left"));
	CHILD_CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
	CHILD_CHECK(uv_loop_close(&loop) == 0);
	_exit(0);
}

/*
 * A host with IPv6 disabled, made in a network namespace of a child
 * process (needs root; skipped otherwise).
 */
static void test_ipv6_disabled(void **state)
{
	(void)state;
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) != 0)
			_exit(200);
		ipv6_disabled_child();
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 200)
		skip();
	if (WEXITSTATUS(st) != 0)
		fail_msg("the child's check failed (its message is above)");
}

/*
 * A tiny receive buffer and a loop that does not run: the kernel drops what
 * does not fit, and /proc/net/udp accounts for every datagram not received.
 */
static void test_rcvbuf_and_kernel_drops(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct udpin *u = NULL;
	char err[256];
	struct udpin_listen l[1] = {{"127.0.0.1", 0}};
	struct udpin_config cfg = {l, 1, 4096};
	struct udpin_listener_info li;
	struct udpin_stats st;
	uint8_t msg[1000];
	uint16_t sp;
	const unsigned n = 200;

	memset(&G, 0, sizeof(G));
	memset(msg, 0x5a, sizeof(msg));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)), 0);
	assert_int_equal(udpin_listener_info(u, 0, &li), 0);
	/* Linux stores twice the asked size (socket(7)), above its minimum. */
	assert_int_equal(li.rcvbuf_bytes, 8192);
	int s = sender_sock(AF_INET, &sp);
	for (unsigned i = 0; i < n; i++)
		send_to(s, "127.0.0.1", li.local.port, msg, sizeof(msg));
	usleep(50000); /* let loopback's softirq finish delivering */
	udpin_stats_get(u, &st);
	assert_true(st.kernel_drops > 0);
	uint64_t drops = st.kernel_drops;
	run_until(&loop, n - drops);
	uv_run(&loop, UV_RUN_NOWAIT);
	udpin_stats_get(u, &st);
	assert_int_equal(st.kernel_drops, drops);
	assert_int_equal(st.datagrams + st.kernel_drops, n);
	assert_int_equal(G.n, n - drops);
	close(s);
	close_loop(&loop, u);
}

/*
 * Bigger than one recvmmsg batch (20 slots): every datagram, in order; the
 * first batch's say nothing of the receive buffer (not looked at yet), the
 * next ones how full it was at the end of the first: 280 still queued.
 * Without rx_fill nobody looks: every datagram says 0.
 */
static void test_many_batches(void **state)
{
	(void)state;
	struct udpin_listen l[1] = {{"::1", 0}};
	const unsigned n = 300;

	for (int look = 1; look >= 0; look--) {
		uv_loop_t loop;
		struct udpin *u = NULL;
		char err[256];
		struct udpin_config cfg = {l, 1, 1 << 20, look};
		struct udpin_listener_info li;
		uint16_t sp;

		memset(&G, 0, sizeof(G));
		assert_int_equal(uv_loop_init(&loop), 0);
		assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)), 0);
		assert_int_equal(udpin_listener_info(u, 0, &li), 0);
		int s = sender_sock(AF_INET6, &sp);
		for (unsigned i = 0; i < n; i++) {
			char m[32];
			int k = snprintf(m, sizeof(m), "datagram %u", i);
			send_to(s, "::1", li.local.port, m, (size_t)k);
		}
		run_until(&loop, n);
		assert_int_equal(G.n, n);
		for (unsigned i = 0; i < n; i++) {
			char m[32];
			int k = snprintf(m, sizeof(m), "datagram %u", i);
			assert_int_equal(G.d[i].len, (size_t)k);
			assert_memory_equal(G.d[i].p, m, (size_t)k);
			if (i < UDPIN_MMSG_SLOTS || !look)
				assert_int_equal(G.d[i].dg.rx_fill_pm, 0);
		}
		if (look) {
			assert_true(G.d[UDPIN_MMSG_SLOTS].dg.rx_fill_pm > 0);
			assert_true(G.d[UDPIN_MMSG_SLOTS].dg.rx_fill_pm < 1000);
		}
		close(s);
		close_loop(&loop, u);
	}
}

/* Asking above net.core.rmem_max: the kernel caps it, and we report the cap. */
static void test_rcvbuf_capped(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct udpin *u = NULL;
	char err[256], line[64], *end;
	struct udpin_listen l[1] = {{"127.0.0.1", 0}};
	struct udpin_config cfg = {l, 1, 256 << 20};
	struct udpin_listener_info li;
	FILE *f = fopen("/proc/sys/net/core/rmem_max", "r");

	if (!f)
		skip();
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	errno = 0;
	long rmem_max = strtol(line, &end, 10);
	assert_int_equal(errno, 0);
	if (rmem_max >= (256 << 20))
		skip(); /* nothing to cap on this machine */
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(udpin_start(&loop, &cfg, collect, &G, &u, err, sizeof(err)), 0);
	assert_int_equal(udpin_listener_info(u, 0, &li), 0);
	assert_int_equal(li.rcvbuf_bytes, 2 * rmem_max);
	close_loop(&loop, u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v4_and_v6_loopback),
	    cmocka_unit_test(test_dual_stack_same_port),
	    cmocka_unit_test(test_bind_errors),
	    cmocka_unit_test(test_v6_address_missing_is_an_error),
	    cmocka_unit_test(test_ipv6_disabled),
	    cmocka_unit_test(test_rcvbuf_and_kernel_drops),
	    cmocka_unit_test(test_rcvbuf_capped),
	    cmocka_unit_test(test_many_batches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
