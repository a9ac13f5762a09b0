/* call.c -- a gRPC call on an HTTP/2 stream: the request head and the
 * framed request messages (the response is in reply.c).
 *
 * A method sees whole messages, one at a time, in order. A streaming
 * call whose responses pile up (its client does not read) is paused: its
 * input is not consumed, so HTTP/2 flow control stops the client, until
 * the responses drain. A response is one message of at most
 * --grpc-max-response-bytes; a connection holds at most two of them
 * unread, whatever its number of calls.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "frame.h"
#include "grpc_internal.h"
#include "nv.h"
#include "ratelimit.h"

#define MAX_HEAD_BYTES 16384

static const struct grpc_method *const METHODS[] = {
	&grpc_m_range, &grpc_m_put, &grpc_m_delete_range, &grpc_m_txn,
	&grpc_m_watch, &grpc_m_status, &grpc_m_member_list,
	&grpc_m_authenticate,
};

static nghttp2_session *
session_of(const struct grpc_call *c)
{
	return c->conn->session;
}

struct grpc_call *
grpc_call_new(struct grpc_conn *conn, int32_t stream_id)
{
	struct grpc_call *c = xcalloc(1, sizeof(*c));

	c->conn = conn;
	c->stream_id = stream_id;
	c->started_ns = now_monotonic_ns();
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->next = conn->calls;
	if (c->next != NULL)
		c->next->prev = c;
	conn->calls = c;
	conn->ncalls++;
	return c;
}

/* One access log line per call (stream): its status is the gRPC code
 * (0: OK; 1: CANCELLED when the stream closed before it finished), or the
 * HTTP status when the request was not gRPC at all. */
static void
log_call(const struct grpc_call *c)
{
	log_access(&(struct access_entry){
		"grpc", grpc_call_addr(c), "POST",
		c->path[0] ? c->path : "-",
		c->http_status ? c->http_status :
		c->finished ? (int)c->status : (int)GRPC_CANCELLED,
		c->sent_bytes,
		(double)(now_monotonic_ns() - c->started_ns) / 1e9 });
}

void
grpc_call_free(struct grpc_call *c)
{
	struct grpc_conn *conn = c->conn;
	int m = c->method ? (int)c->method->id : M_UNKNOWN;

	log_call(c);
	if (c->method != NULL && c->method->on_close != NULL)
		c->method->on_close(c);
	if (!c->finished && c->method != NULL)
		conn->api->stats.calls[m][GRPC_CANCELLED]++;
	conn->out_bytes -= evbuffer_get_length(c->out);
	if (c->full)
		conn->nfull--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conn->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	conn->ncalls--;
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->request_timer != NULL)
		event_free(c->request_timer);
	free(c);
}

/* ---- the request head ---- */

static int
header_is(const uint8_t *name, size_t nl, const char *want)
{
	return nl == strlen(want) && memcmp(name, want, nl) == 0;
}

/* "application/grpc", "application/grpc+proto", "application/grpc;..." */
static int
is_grpc_type(const uint8_t *v, size_t n)
{
	static const char t[] = "application/grpc";

	return n >= sizeof(t) - 1 && memcmp(v, t, sizeof(t) - 1) == 0 &&
	       (n == sizeof(t) - 1 || v[sizeof(t) - 1] == '+' ||
		v[sizeof(t) - 1] == ';');
}

/* Constant time: the comparison must not tell how much matched. */
static int
is_admin(const struct config *cfg, const uint8_t *v, size_t n)
{
	size_t want = strlen(cfg->admin_token);

	return want > 0 && n == 7 + want && memcmp(v, "Bearer ", 7) == 0 &&
	       CRYPTO_memcmp(v + 7, cfg->admin_token, want) == 0;
}

int
grpc_call_header(struct grpc_call *c, const uint8_t *name, size_t nl,
		 const uint8_t *value, size_t vl)
{
	c->head_bytes += (int)(nl + vl + 32);
	if (c->head_bytes > MAX_HEAD_BYTES)
		return -1;
	if (header_is(name, nl, ":method"))
		c->method_post = vl == 4 && memcmp(value, "POST", 4) == 0;
	else if (header_is(name, nl, ":path") && vl < sizeof(c->path)) {
		memcpy(c->path, value, vl);
		c->path[vl] = '\0';
	} else if (header_is(name, nl, "content-type"))
		c->grpc_ctype = is_grpc_type(value, vl);
	else if (header_is(name, nl, "grpc-timeout") &&
		 grpc_parse_timeout((const char *)value, vl, &c->timeout_ms))
		c->timeout_ms = 0;
	else if (header_is(name, nl, "authorization"))
		c->admin = is_admin(c->conn->api->cfg, value, vl);
	else if (header_is(name, nl, "token"))
		snprintf(c->auth_token, sizeof(c->auth_token), "%.*s",
			 vl < sizeof(c->auth_token) ? (int)vl : 0, value);
	return 0;
}

/* An answer that is plain HTTP: the request was not gRPC at all. */
static void
respond_http(struct grpc_call *c, const char *status)
{
	nghttp2_nv nv[] = { grpc_nv(":status", status) };

	c->finished = c->responded = c->trailers_sent = 1;
	c->http_status = atoi(status);
	nghttp2_submit_response(session_of(c), c->stream_id, nv, 1, NULL);
	grpc_conn_flush_soon(c->conn);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	grpc_call_finish(arg, GRPC_DEADLINE_EXCEEDED,
			 "context deadline exceeded");
}

/* A unary call whose request has not come whole in --idle-timeout: a
 * client may not hold a stream (and its memory) by never finishing. */
static void
on_request_late(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	grpc_call_finish(arg, GRPC_CANCELLED, "srvgate: the request did not "
			 "come whole within --idle-timeout");
}

/* With --users-file, the key space needs a login (or the admin token);
 * Status, MemberList and Authenticate itself do not. */
static int
logged_in(struct grpc_call *c)
{
	enum grpc_method_id m = c->method->id;
	enum grpc_code code;
	char why[128];

	if (c->admin || m == M_AUTHENTICATE || m == M_STATUS ||
	    m == M_MEMBER_LIST)
		return 1;
	code = grpc_auth_check(c->conn->api->auth, c->auth_token, why,
			       sizeof(why));
	if (code == GRPC_OK)
		return 1;
	grpc_call_finish(c, code, "%s", why);
	return 0;
}

void
grpc_call_start(struct grpc_call *c)
{
	struct grpc_api *api = c->conn->api;
	struct timeval tv;
	size_t i;

	if (!c->method_post) {
		respond_http(c, "405");
		return;
	}
	if (!c->grpc_ctype) {
		respond_http(c, "415");
		return;
	}
	for (i = 0; i < sizeof(METHODS) / sizeof(METHODS[0]); i++)
		if (strcmp(c->path, METHODS[i]->path) == 0)
			c->method = METHODS[i];
	if (c->method == NULL) {
		grpc_call_finish(c, GRPC_UNIMPLEMENTED,
				 "srvgate: unknown method %s", c->path);
		return;
	}
	if (api->draining) {
		grpc_call_finish(c, GRPC_UNAVAILABLE,
				 "srvgate is shutting down");
		return;
	}
	if (!logged_in(c))
		return;
	if (c->timeout_ms > 0) {
		c->deadline = evtimer_new(api->base, on_deadline, c);
		tv = timeval_from_ms(c->timeout_ms);
		evtimer_add(c->deadline, &tv);
	}
	if (!c->method->streaming && api->cfg->idle_timeout_ms > 0) {
		c->request_timer = evtimer_new(api->base, on_request_late, c);
		tv = timeval_from_ms(api->cfg->idle_timeout_ms);
		evtimer_add(c->request_timer, &tv);
	}
}

/* The response is out but the client still sends: it gets a moment to
 * finish (some clients drop an answer reset before they are done), then
 * the stream is reset with NO_ERROR, as gRPC servers do. */
#define LINGER_MS 1000

static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct grpc_call *c = arg;

	(void)fd;
	(void)what;
	nghttp2_submit_rst_stream(session_of(c), NGHTTP2_FLAG_NONE,
				  c->stream_id, NGHTTP2_NO_ERROR);
	grpc_conn_flush_soon(c->conn);
}

void
grpc_call_linger(struct grpc_call *c)
{
	struct timeval tv = timeval_from_ms(LINGER_MS);

	if (c->request_timer != NULL)
		event_free(c->request_timer);
	c->request_timer = evtimer_new(c->conn->api->base, on_linger, c);
	evtimer_add(c->request_timer, &tv);
}

/* ---- the request messages ---- */

/* Gives bytes back to the client's window. */
static void
consume(struct grpc_call *c, size_t n)
{
	if (n == 0)
		return;
	nghttp2_session_consume(session_of(c), c->stream_id, n);
	grpc_conn_flush_soon(c->conn);
}

void
grpc_call_drop_input(struct grpc_call *c)
{
	size_t n = evbuffer_get_length(c->in);

	evbuffer_drain(c->in, n);
	consume(c, n);
}

/* Checks the next message's prefix; 0 when a whole message is there. */
static int
next_message(struct grpc_call *c, size_t *len)
{
	uint64_t max = c->conn->api->cfg->grpc_max_request_bytes;
	size_t have = evbuffer_get_length(c->in);
	uint8_t prefix[GRPC_PREFIX_LEN];

	if (have < GRPC_PREFIX_LEN)
		return -1;
	evbuffer_copyout(c->in, prefix, GRPC_PREFIX_LEN);
	/* frame_peek reads only the prefix; have says how much follows. */
	switch (grpc_frame_peek(prefix, have, (size_t)max, len)) {
	case FRAME_OK:
		return 0;
	case FRAME_NEED_MORE:
		return -1;
	case FRAME_TOO_BIG:
		grpc_call_finish(c, GRPC_RESOURCE_EXHAUSTED,
				 "grpc: received message larger than max "
				 "(%zu vs. %llu)", *len,
				 (unsigned long long)max);
		return -1;
	case FRAME_COMPRESSED:
		grpc_call_finish(c, GRPC_UNIMPLEMENTED, "srvgate: compressed "
				 "messages are not supported");
		return -1;
	case FRAME_BAD_FLAG:
		break;
	}
	grpc_call_finish(c, GRPC_INTERNAL, "grpc: invalid compressed flag");
	return -1;
}

/* Hands whole messages to the method while it takes them. */
static void
pump(struct grpc_call *c)
{
	size_t len;
	uint8_t *msg;

	while (!c->paused && !c->finished && next_message(c, &len) == 0) {
		if (++c->nmsgs > 1 && !c->method->streaming) {
			grpc_call_finish(c, GRPC_INTERNAL, "srvgate: a unary "
					 "call takes one request message");
			break;
		}
		if (c->request_timer != NULL)
			evtimer_del(c->request_timer);
		msg = evbuffer_pullup(c->in, (ev_ssize_t)(GRPC_PREFIX_LEN + len));
		c->method->on_message(c, msg + GRPC_PREFIX_LEN, len);
		evbuffer_drain(c->in, GRPC_PREFIX_LEN + len);
		consume(c, GRPC_PREFIX_LEN + len);
	}
	if (c->finished)
		grpc_call_drop_input(c);
}

/* The client has ended its side and every message is handled. */
static void
end_of_input(struct grpc_call *c)
{
	if (c->finished || c->paused || !c->remote_done)
		return;
	if (evbuffer_get_length(c->in) > 0)
		grpc_call_finish(c, GRPC_INTERNAL, "srvgate: the request ended "
				 "inside a message");
	else if (!c->method->streaming && c->nmsgs == 0)
		grpc_call_finish(c, GRPC_INTERNAL, "srvgate: a unary call "
				 "takes one request message");
	else if (c->method->streaming && c->method->on_half_close != NULL)
		c->method->on_half_close(c);
	else if (c->method->streaming)
		grpc_call_finish(c, GRPC_OK, NULL);
	/* a unary call answers when its method is done */
}

void
grpc_call_data(struct grpc_call *c, const uint8_t *data, size_t n)
{
	if (c->finished || c->method == NULL) {
		consume(c, n);
		return;
	}
	evbuffer_add(c->in, data, n);
	pump(c);
}

void
grpc_call_remote_end(struct grpc_call *c)
{
	c->remote_done = 1;
	if (c->method != NULL)
		end_of_input(c);
}

void
grpc_call_pause(struct grpc_call *c)
{
	c->paused = 1;
}

void
grpc_call_resume(struct grpc_call *c)
{
	if (!c->paused)
		return;
	c->paused = 0;
	pump(c);
	end_of_input(c);
}

const char *
grpc_call_addr(const struct grpc_call *c)
{
	return c->conn->peer->addr;
}

int
grpc_call_rate_ok(struct grpc_call *c)
{
	struct grpc_api *api = c->conn->api;

	if (ratelimit_allow(api->limiter, grpc_call_addr(c),
			    now_monotonic_ms()))
		return 1;
	api->stats.rate_limited++;
	grpc_call_finish(c, GRPC_RESOURCE_EXHAUSTED,
			 "etcdserver: too many requests");
	return 0;
}
