/*
 * fuzz_v9: libFuzzer target for the decoder with the version field forced
 * to 9. See fuzz_common.h.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_one(9, data, size);
}
