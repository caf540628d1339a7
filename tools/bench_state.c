/*
 * bench_state: how long saving and restoring an open slot takes
 * (slot_save / slot_load, docs/internals/slot.md "Saved state"; the figure in
 * docs/benchmarks.md "Restart state"). Builds one open slot of N distinct
 * conversations (default 1000000; every fifth IPv6, some with a second
 * protocol so the spill is used), saves it to DIR/bench-state (fsync
 * included, as at a stop), loads it back and checks the load against the
 * original (records, conversations, and a second save byte-identical).
 *
 *   bench_state [N] [DIR]     DIR default /tmp; use the store's filesystem
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nfsentry/site.h"
#include "nfsentry/slot.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	char path[4096];
	struct site_config site;

	site_config_defaults(&site);
	snprintf(site.name, sizeof(site.name), "bench");
	if (site.caps.max_pairs < n)
		site.caps.max_pairs = (uint32_t)n;
	snprintf(path, sizeof(path), "%s/bench-state", dir);
	struct slot *s = slot_create(&site, 0, 5890752, 1);
	if (!s)
		return 1;
	for (size_t k = 0; k < n; k++) {
		struct flow f;
		memset(&f, 0, sizeof(f));
		uint8_t in[4] = {10, (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k};
		uint8_t out[4] = {198, 51, (uint8_t)(k % 7), (uint8_t)(k % 251)};
		flow_addr_from_v4(&f.src, in);
		flow_addr_from_v4(&f.dst, out);
		if (k % 5 == 0) {
			f.dst.b[0] = 0x20;
			f.dst.b[1] = 0x01;
			memcpy(f.dst.b + 8, &k, sizeof(k));
		}
		f.proto = 6;
		f.packets = 3;
		f.octets = 400;
		f.first_ms = 1767225600000ull + k % 300000;
		f.export_ms = f.first_ms;
		slot_add(s, SLOT_EGRESS, &f);
		struct flow g = f;
		g.src = f.dst;
		g.dst = f.src;
		slot_add(s, SLOT_INGRESS, &g);
		if (k % 100 == 0) {
			g.proto = 17;
			slot_add(s, SLOT_INGRESS, &g);
		}
	}
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		fprintf(stderr, "bench_state: %s: %s\n", path, strerror(errno));
		return 1;
	}
	double t0 = now_s();
	int rc = slot_save(s, fd);
	double t1 = now_s();
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	double t2 = now_s();
	struct stat st;
	fstat(fd, &st);
	if (rc != 0) {
		fprintf(stderr, "bench_state: save: %s\n", strerror(-rc));
		return 1;
	}
	/* The file is in the page cache: this is the restart-after-stop case. */
	lseek(fd, 0, SEEK_SET);
	struct slot *r = NULL;
	double t3 = now_s();
	rc = slot_load(&site, 0, 2, fd, &r);
	double t4 = now_s();
	close(fd);
	unlink(path);
	if (rc != 0) {
		fprintf(stderr, "bench_state: load: %s\n", strerror(-rc));
		return 1;
	}
	if (slot_records(r) != slot_records(s) || slot_conversations(r) != slot_conversations(s)) {
		fprintf(stderr, "bench_state: the loaded slot differs\n");
		return 1;
	}
	printf("bench_state: %zu conversations, %.1f MB in %s: save %.3f s (write %.3f s + "
	       "fsync %.3f s), load %.3f s (read, check, index rebuilt)\n",
	       slot_conversations(s), (double)st.st_size / 1e6, dir, t2 - t0, t1 - t0, t2 - t1,
	       t4 - t3);
	slot_destroy(s);
	slot_destroy(r);
	return 0;
}
