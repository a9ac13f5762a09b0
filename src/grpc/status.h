/* status.h -- gRPC status codes, the grpc-message and grpc-timeout header
 * formats, and the one mapping of registry outcomes to codes. Pure
 * functions. */
#ifndef SRVGATE_GRPC_STATUS_H
#define SRVGATE_GRPC_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
	GRPC_CODES
};

/* "OK", "InvalidArgument", ... as grpc-go prints them. */
const char *grpc_code_name(enum grpc_code code);

/* grpc-message is percent-encoded: bytes outside 0x20-0x7E, and '%'.
 * Writes at most outlen bytes with the terminator; cuts whole escapes. */
void grpc_percent_encode(const char *in, char *out, size_t outlen);

/* grpc-timeout: 1 to 8 digits and a unit (H, M, S, m, u, n), as
 * milliseconds rounded up. Returns 0, or -1 when malformed. */
int grpc_parse_timeout(const char *v, size_t n, uint64_t *ms);

/* The code a registry error answers with; REG_OK is GRPC_OK. */
enum grpc_code grpc_code_of(enum registry_status rs);

#endif
