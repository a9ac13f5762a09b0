/* status.c -- gRPC status codes and header formats (see status.h). */
#include "status.h"

#include <stdio.h>
#include <string.h>

static const char *const NAMES[GRPC_CODES] = {
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
	"Internal", "Unavailable", "DataLoss", "Unauthenticated",
};

const char *
grpc_code_name(enum grpc_code code)
{
	return (unsigned)code < GRPC_CODES ? NAMES[code] : "Unknown";
}

void
grpc_percent_encode(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (outlen == 0)
		return;
	for (; *in != '\0'; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch >= 0x20 && ch <= 0x7E && ch != '%') {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)ch;
			continue;
		}
		if (o + 3 >= outlen)
			break;
		out[o++] = '%';
		out[o++] = hex[ch >> 4];
		out[o++] = hex[ch & 15];
	}
	out[o] = '\0';
}

int
grpc_parse_timeout(const char *v, size_t n, uint64_t *ms)
{
	uint64_t x = 0;
	size_t i;

	if (n < 2 || n > 9)
		return -1;
	for (i = 0; i + 1 < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	switch (v[n - 1]) {
	case 'H': *ms = x * 3600000; return 0;
	case 'M': *ms = x * 60000; return 0;
	case 'S': *ms = x * 1000; return 0;
	case 'm': *ms = x; return 0;
	case 'u': *ms = (x + 999) / 1000; return 0;
	case 'n': *ms = (x + 999999) / 1000000; return 0;
	}
	return -1;
}

enum grpc_code
grpc_code_of(enum registry_status rs)
{
	switch (rs) {
	case REG_OK: return GRPC_OK;
	case REG_NOT_FOUND: return GRPC_NOT_FOUND;
	case REG_EXISTS: return GRPC_ALREADY_EXISTS;
	case REG_FULL: return GRPC_RESOURCE_EXHAUSTED;
	case REG_INVALID: return GRPC_INVALID_ARGUMENT;
	case REG_CONFLICT: return GRPC_FAILED_PRECONDITION;
	case REG_BUSY: return GRPC_UNAVAILABLE; /* never answered: re-planned */
	case REG_NO_SPACE: return GRPC_RESOURCE_EXHAUSTED;
	case REG_UNAVAILABLE: return GRPC_UNAVAILABLE;
	case REG_STORE_FAILED: return GRPC_INTERNAL;
	}
	return GRPC_UNKNOWN;
}
