/*
 * fuzz_common.h: the body shared by the decoder fuzz targets.
 *
 * Each target forces the version field so libFuzzer spends its time inside
 * one decoder, then feeds the input twice to a fresh decoder: the second
 * pass meets the templates and sequence state the first one left, which is
 * where a cache bug would show. Small caps make the cap paths reachable.
 */
#ifndef NFSENTRY_FUZZ_COMMON_H
#define NFSENTRY_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfsentry/decoder.h"
#include "nfsentry/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_records;

static void fuzz_sink(void *ud, const struct flow *v, size_t n)
{
	(void)ud;
	/* Touch every record so ASan sees any uninitialised or stale slot. */
	for (size_t i = 0; i < n; i++) {
		if (v[i].sampling == 0)
			abort();
		fuzz_records++;
	}
}

static int fuzz_one(uint16_t version, const uint8_t *data, size_t size)
{
	struct decoder_config cfg;
	struct flow_endpoint from;

	if (size > 65535)
		return 0;
	log_level_cur = LOG_LVL_ERROR; /* drop summaries would only slow the run */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (size >= 2) {
		buf[0] = (uint8_t)(version >> 8);
		buf[1] = (uint8_t)version;
	}
	decoder_config_defaults(&cfg);
	cfg.max_templates_per_exporter = 8;
	cfg.max_exporters = 4;
	cfg.template_lifetime_s = 1;
	memset(&from, 0, sizeof(from));
	from.addr.b[10] = from.addr.b[11] = 0xff;
	from.addr.b[12] = 192;
	from.port = 2055;
	struct decoder *d = decoder_create(&cfg);
	if (d) {
		for (int pass = 0; pass < 3; pass++) {
			fuzz_records = 0;
			int rc = decoder_feed(d, &from, buf, size, (uint64_t)pass * 600, fuzz_sink,
			                      NULL);
			if (rc >= 0 && (size_t)rc != fuzz_records)
				abort();
			if (rc < -DECODER_DROP__COUNT)
				abort();
		}
		decoder_destroy(d);
	}
	free(buf);
	return 0;
}

#endif
