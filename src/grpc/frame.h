/* frame.h -- gRPC's message framing on an HTTP/2 stream: each message is
 * a 1-byte compressed flag, a 4-byte big-endian length, then the
 * protobuf bytes. Pure functions. */
#ifndef SRVGATE_GRPC_FRAME_H
#define SRVGATE_GRPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define GRPC_PREFIX_LEN 5

enum frame_result {
	FRAME_NEED_MORE,  /* not a whole message yet */
	FRAME_OK,	  /* a whole message: *len bytes after the prefix */
	FRAME_TOO_BIG,	  /* it announces more than max bytes (in *len) */
	FRAME_COMPRESSED, /* compressed: srvgate negotiates no encoding */
	FRAME_BAD_FLAG,	  /* a flag byte other than 0 or 1 */
};

/* Looks at the n bytes at the start of a stream's unread input. A prefix
 * that is wrong (too big, compressed, a bad flag) is reported as soon as
 * its 5 bytes are there, before any of the message arrives. */
enum frame_result grpc_frame_peek(const uint8_t *buf, size_t n, size_t max,
				  size_t *len);
/* The prefix of an uncompressed message of len bytes. */
void grpc_frame_prefix(uint8_t out[GRPC_PREFIX_LEN], size_t len);

#endif
