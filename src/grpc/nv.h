/* nv.h -- an HTTP/2 header field for nghttp2 from two C strings, which
 * must live until nghttp2 has copied them (the submit call). Used by
 * reply.c and by the fuzz harness's client (tests/fuzz/fuzz_grpc.c). */
#ifndef SRVGATE_GRPC_NV_H
#define SRVGATE_GRPC_NV_H

#include <nghttp2/nghttp2.h>
#include <string.h>

static inline nghttp2_nv
grpc_nv(const char *name, const char *value)
{
	nghttp2_nv h = { (uint8_t *)name, (uint8_t *)value, strlen(name),
			 strlen(value), NGHTTP2_NV_FLAG_NONE };

	return h;
}

#endif
