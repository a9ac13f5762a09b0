/* frame.c -- gRPC message framing (see frame.h). */
#include "frame.h"

enum frame_result
grpc_frame_peek(const uint8_t *buf, size_t n, size_t max, size_t *len)
{
	uint32_t l;

	if (n < GRPC_PREFIX_LEN)
		return FRAME_NEED_MORE;
	l = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 |
	    (uint32_t)buf[3] << 8 | buf[4];
	*len = l;
	if (buf[0] > 1)
		return FRAME_BAD_FLAG;
	if (buf[0] == 1)
		return FRAME_COMPRESSED;
	if (l > max)
		return FRAME_TOO_BIG;
	return n - GRPC_PREFIX_LEN >= l ? FRAME_OK : FRAME_NEED_MORE;
}

void
grpc_frame_prefix(uint8_t out[GRPC_PREFIX_LEN], size_t len)
{
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}
