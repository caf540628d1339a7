/*
 * fuzz_l2parse: libFuzzer target for the ARP / MAC-table parsers
 * (src/l2/parse.c). Device output is untrusted text from the network, like
 * an export datagram. The first byte picks the device kind and the command;
 * the rest is the output. The parser must never read past the input, never
 * crash, and must account for every line (parsed + skipped == lines).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/l2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum l2_kind kind = (enum l2_kind)(data[0] % L2_KIND__COUNT);
	enum l2_cmd cmd = (enum l2_cmd)((data[0] / L2_KIND__COUNT) % L2_CMD__COUNT);
	/* A copy of exactly the right size, so ASan sees any over-read. */
	size_t len = size - 1;
	char *text = malloc(len ? len : 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, len);

	struct l2_obs_list out;
	struct l2_parse_stats st;
	memset(&st, 0, sizeof(st));
	l2_obs_list_init(&out, 0);
	int rc = l2_parse(kind, cmd, text, len, &out, &st);
	if (rc >= 0) {
		uint64_t skipped = 0;
		for (int k = 0; k < L2_SKIP__COUNT; k++)
			skipped += st.skipped[k];
		if (st.parsed + skipped != st.lines || (size_t)rc > out.n)
			abort();
	}
	l2_obs_list_free(&out);
	free(text);
	return 0;
}
