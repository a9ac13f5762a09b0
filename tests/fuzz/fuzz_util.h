/* fuzz_util.h -- what every harness with checks of its own shares. */
#ifndef SRVGATE_FUZZ_UTIL_H
#define SRVGATE_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A failed check: says what and on which input (its first 512 bytes in
 * hex), then aborts, which the fuzzer reports as a crash. */
static void
fuzz_die(const char *what, const uint8_t *data, size_t len)
{
	size_t i;

	fprintf(stderr, "fuzz check failed: %s\ninput (%zu bytes):", what,
		len);
	for (i = 0; i < len && i < 512; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", data[i]);
	fprintf(stderr, "\n");
	abort();
}

#endif
