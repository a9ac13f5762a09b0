/* reply.c -- a gRPC call's response: the head, the framed response
 * messages nghttp2 takes as its flow-control windows allow, and the
 * status trailers (or, for an error before any message, a head that
 * carries the status and ends the stream). Responses are bounded: one
 * message is at most --grpc-max-response-bytes, a connection holds at most
 * two of them unread, and a streaming call that has STREAM_OUT_MAX unread
 * is told to wait (grpc_call_has_room) until it drains.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "frame.h"
#include "grpc_internal.h"
#include "nv.h"

#define STREAM_OUT_MAX (256 * 1024) /* a streaming call's unread responses */

static nghttp2_session *
session_of(const struct grpc_call *c)
{
	return c->conn->session;
}

static size_t
conn_out_max(const struct grpc_call *c)
{
	return 2 * (size_t)c->conn->api->cfg->grpc_max_response_bytes;
}

/* grpc-status and grpc-message into h; returns how many. */
static size_t
status_headers(const struct grpc_call *c, nghttp2_nv *h, char *code,
	       char *msg, size_t msglen)
{
	size_t n = 0;

	snprintf(code, 4, "%d", (int)c->status);
	h[n++] = grpc_nv("grpc-status", code);
	if (c->message[0] != '\0') {
		grpc_percent_encode(c->message, msg, msglen);
		h[n++] = grpc_nv("grpc-message", msg);
	}
	return n;
}

ssize_t
grpc_call_read(struct grpc_call *c, uint8_t *buf, size_t len,
	       uint32_t *flags)
{
	int got = evbuffer_remove(c->out, buf, len);
	size_t n = got > 0 ? (size_t)got : 0, left;
	nghttp2_nv h[2];
	char code[4], msg[3 * sizeof(c->message)];

	c->conn->out_bytes -= n;
	c->sent_bytes += n;
	left = evbuffer_get_length(c->out);
	if (n > 0 && c->conn->nfull > 0)
		c->conn->writable_due = 1; /* conn.c asks grpc_call_drained */
	if (left > 0)
		return (ssize_t)n;
	if (c->finished) {
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		c->trailers_sent = 1;
		nghttp2_submit_trailer(session_of(c), c->stream_id, h,
				       status_headers(c, h, code, msg,
						      sizeof(msg)));
		return (ssize_t)n;
	}
	if (n == 0) {
		c->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static ssize_t
read_source(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
	    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	(void)s;
	(void)stream_id;
	(void)arg;
	return grpc_call_read(src->ptr, buf, len, flags);
}

/* The response head, once: after it, DATA as messages come. */
static void
respond(struct grpc_call *c)
{
	nghttp2_nv h[] = { grpc_nv(":status", "200"),
			   grpc_nv("content-type", "application/grpc") };
	nghttp2_data_provider dp;

	if (c->responded) {
		if (c->deferred) {
			c->deferred = 0;
			nghttp2_session_resume_data(session_of(c), c->stream_id);
		}
		return;
	}
	c->responded = 1;
	dp.source.ptr = c;
	dp.read_callback = read_source;
	nghttp2_submit_response(session_of(c), c->stream_id, h, 2, &dp);
}

/* An error before any message: the head carries the status and ends the
 * stream (gRPC's Trailers-Only). */
static void
respond_status_only(struct grpc_call *c)
{
	nghttp2_nv h[4] = { grpc_nv(":status", "200"),
			    grpc_nv("content-type", "application/grpc") };
	char code[4], msg[3 * sizeof(c->message)];
	size_t n = 2 + status_headers(c, h + 2, code, msg, sizeof(msg));

	c->responded = c->trailers_sent = 1;
	nghttp2_submit_response(session_of(c), c->stream_id, h, n, NULL);
}

void
grpc_call_finish(struct grpc_call *c, enum grpc_code code, const char *fmt,
		 ...)
{
	int m = c->method ? (int)c->method->id : M_UNKNOWN;
	va_list ap;

	if (c->finished)
		return;
	c->finished = 1;
	c->status = code;
	c->message[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(c->message, sizeof(c->message), fmt, ap);
		va_end(ap);
	}
	c->conn->api->stats.calls[m][code]++;
	if (c->deadline != NULL)
		evtimer_del(c->deadline);
	if (c->request_timer != NULL)
		evtimer_del(c->request_timer);
	if (c->responded)
		respond(c); /* the trailers follow the queued messages */
	else
		respond_status_only(c);
	grpc_call_drop_input(c);
	grpc_conn_flush_soon(c->conn);
}

int
grpc_call_send(struct grpc_call *c, const ProtobufCMessage *msg)
{
	uint64_t max = c->conn->api->cfg->grpc_max_response_bytes;
	size_t size, total;
	uint8_t *buf;

	if (c->finished)
		return -1;
	size = protobuf_c_message_get_packed_size(msg);
	total = GRPC_PREFIX_LEN + size;
	if (size > max) {
		grpc_call_finish(c, GRPC_RESOURCE_EXHAUSTED, "srvgate: the "
				 "response needs %zu bytes, more than "
				 "--grpc-max-response-bytes (%llu); ask for "
				 "less (a limit)", size,
				 (unsigned long long)max);
		return -1;
	}
	if (c->conn->out_bytes + total > conn_out_max(c)) {
		grpc_call_finish(c, GRPC_RESOURCE_EXHAUSTED, "srvgate: %zu "
				 "bytes of responses are unread on this "
				 "connection; read them first",
				 c->conn->out_bytes);
		return -1;
	}
	buf = xmalloc(total);
	grpc_frame_prefix(buf, size);
	protobuf_c_message_pack(msg, buf + GRPC_PREFIX_LEN);
	evbuffer_add(c->out, buf, total);
	free(buf);
	c->conn->out_bytes += total;
	respond(c);
	grpc_conn_flush_soon(c->conn);
	return 0;
}

size_t
grpc_call_queued(const struct grpc_call *c)
{
	return evbuffer_get_length(c->out);
}

int
grpc_call_has_room(struct grpc_call *c, size_t more)
{
	size_t queued = evbuffer_get_length(c->out);

	if ((queued == 0 || queued + more <= STREAM_OUT_MAX) &&
	    c->conn->out_bytes + more <= conn_out_max(c))
		return 1;
	if (!c->full) {
		c->full = 1;
		c->conn->nfull++;
	}
	return 0;
}

int
grpc_call_drained(struct grpc_call *c)
{
	if (!c->full || evbuffer_get_length(c->out) >= STREAM_OUT_MAX / 2 ||
	    c->conn->out_bytes >= conn_out_max(c) / 2)
		return 0;
	c->full = 0;
	c->conn->nfull--;
	return 1;
}

