/*
 * fuzz_pcapin: libFuzzer target for the capture reader (src/ingest/pcapin.c).
 * `replay` reads captures that operators pass around, so a capture file is
 * untrusted input like an export datagram. The input is the whole file: it
 * is written to a memory file (memfd) and read through pcapin_read()'s own
 * path, libpcap included. The reader must never crash or read outside a
 * frame, every datagram it delivers must lie inside [p, p + len) (each byte
 * is read here, so ASan sees an over-read), and its counters must account
 * for every datagram delivered.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nfsentry/pcapin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_seen {
	uint64_t datagrams;
	uint32_t sum;
};

static int fuzz_datagram(void *ud, const struct datagram *dg)
{
	struct fuzz_seen *s = ud;

	for (size_t i = 0; i < dg->len; i++)
		s->sum += dg->p[i];
	s->datagrams++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], err[256];

	if (fd < 0) {
		fd = memfd_create("fuzz_pcapin", 0);
		if (fd < 0)
			abort();
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	/* Twice: every port, then a port filter that drops most. */
	static const uint16_t ports[] = {2055, 4739};
	struct pcapin_opts opts = {.ports = ports, .n_ports = 2};
	for (int pass = 0; pass < 2; pass++) {
		struct fuzz_seen seen = {0};
		struct pcapin_stats st;
		pcapin_read(path, pass ? &opts : NULL, fuzz_datagram, &seen, &st, err, sizeof(err));
		/* Every datagram delivered is counted, and came from a frame. */
		if (st.datagrams != seen.datagrams ||
		    st.datagrams > st.packets + st.frag_reassembled)
			abort();
	}
	return 0;
}
