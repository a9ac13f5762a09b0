/* conn.c -- one HTTP/2 connection: a bufferevent and an nghttp2 server
 * session on the event loop (the shape of nghttp2's libevent example).
 *
 * Bounds, so that no client can make it hold more than it allows:
 * - input: flow control. srvgate consumes a stream's bytes only once its
 *   messages are handled, and the connection window is twice a stream's
 *   (one request message), so at most that much is ever buffered;
 * - output: nghttp2 writes while the socket buffer holds less than
 *   OUT_HIGH; responses wait in their calls, which bound them (call.c);
 * - streams: SETTINGS_MAX_CONCURRENT_STREAMS, nghttp2's own limits on
 *   resets, CONTINUATIONs, SETTINGS and unanswered PING/SETTINGS acks
 *   (each ends the connection with GOAWAY);
 * - time: a connection with no stream open for --idle-timeout gets
 *   GOAWAY; a write that makes no progress for --io-timeout ends it.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "grpc_internal.h"
#include "tls.h"

#define OUT_HIGH (64 * 1024)
#define OUT_LOW (16 * 1024)
#define MAX_HEADER_LIST 16384

static void conn_send(struct grpc_conn *conn);

static struct grpc_call *
call_of(nghttp2_session *s, int32_t stream_id)
{
	return nghttp2_session_get_stream_user_data(s, stream_id);
}

/* ---- nghttp2 callbacks ---- */

static ssize_t
on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
	void *arg)
{
	struct grpc_conn *conn = arg;
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	(void)s;
	(void)flags;
	if (evbuffer_get_length(out) >= OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(out, data, len) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct grpc_conn *conn = arg;
	struct grpc_call *c;

	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	c = grpc_call_new(conn, f->hd.stream_id);
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, c);
	evtimer_del(conn->idle_ev);
	return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
	  size_t nl, const uint8_t *value, size_t vl, uint8_t flags,
	  void *arg)
{
	struct grpc_call *c;

	(void)flags;
	(void)arg;
	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST ||
	    (c = call_of(s, f->hd.stream_id)) == NULL)
		return 0; /* trailers from the client say nothing we use */
	if (grpc_call_header(c, name, nl, value, vl) != 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets it */
	return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct grpc_conn *conn = arg;
	struct grpc_call *c;

	conn->preface_seen = 1;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	if ((c = call_of(s, f->hd.stream_id)) == NULL)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS &&
	    f->headers.cat == NGHTTP2_HCAT_REQUEST)
		grpc_call_start(c);
	/* The call may have been reset by now; look again. */
	if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    (c = call_of(s, f->hd.stream_id)) != NULL)
		grpc_call_remote_end(c);
	return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id,
	      const uint8_t *data, size_t len, void *arg)
{
	struct grpc_call *c = call_of(s, stream_id);

	(void)flags;
	(void)arg;
	if (c != NULL)
		grpc_call_data(c, data, len);
	else
		nghttp2_session_consume(s, stream_id, len);
	return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code,
		void *arg)
{
	struct grpc_conn *conn = arg;
	struct grpc_call *c = call_of(s, stream_id);
	struct timeval tv;

	(void)error_code;
	if (c == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(s, stream_id, NULL);
	grpc_call_free(c);
	if (conn->ncalls == 0 && conn->api->cfg->idle_timeout_ms > 0) {
		tv = timeval_from_ms(conn->api->cfg->idle_timeout_ms);
		evtimer_add(conn->idle_ev, &tv);
	}
	return 0;
}

/* A response that ended while the client still sends: the stream is
 * reset (see grpc_call_linger) so that neither side keeps it. */
static int
on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct grpc_call *c;

	struct grpc_conn *conn = arg;

	if (f->hd.type == NGHTTP2_GOAWAY &&
	    f->goaway.error_code != NGHTTP2_NO_ERROR) {
		conn->api->stats.conns_closed_bad++;
		log_debug("grpc: %s: GOAWAY %s", conn->peer->addr,
			  nghttp2_http2_strerror(f->goaway.error_code));
	}
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    (c = call_of(s, f->hd.stream_id)) != NULL &&
	    !nghttp2_session_get_stream_remote_close(s, f->hd.stream_id))
		grpc_call_linger(c);
	return 0;
}

static int
on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int err,
		 void *arg)
{
	struct grpc_conn *conn = arg;

	(void)s;
	log_debug("grpc: %s: invalid frame (type %d, stream %d): %s",
		  conn->peer->addr, f->hd.type, f->hd.stream_id,
		  nghttp2_strerror(err));
	return 0;
}

static nghttp2_session_callbacks *
make_callbacks(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return NULL;
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(
		cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
							     on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
		cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(
		cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb,
							     on_frame_send);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
		cb, on_invalid_frame);
	return cb;
}

/* ---- the session ---- */

/* A request message must fit a stream's window, and two of them the
 * connection's: input is bounded by these (see the top). */
static uint32_t
stream_window(const struct config *cfg)
{
	uint64_t w = cfg->grpc_max_request_bytes + 5;

	return w < 65535 ? 65535 : (uint32_t)w;
}

static int
session_new(struct grpc_conn *conn)
{
	const struct config *cfg = conn->api->cfg;
	nghttp2_session_callbacks *cb = make_callbacks();
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->grpc_max_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window(cfg) },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST },
	};
	int rv;

	if (cb == NULL || nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return -1;
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	rv = nghttp2_session_server_new2(&conn->session, cb, conn, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (rv != 0)
		return -1;
	if (nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, iv,
				    sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(conn->session,
						  NGHTTP2_FLAG_NONE, 0,
						  2 * (int32_t)stream_window(cfg)))
		return -1;
	return 0;
}

/* Frees the connection once nghttp2 has nothing more to say and every
 * byte it said is out. */
static int
maybe_close(struct grpc_conn *conn)
{
	if (nghttp2_session_want_read(conn->session) ||
	    nghttp2_session_want_write(conn->session) ||
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) > 0)
		return 0;
	grpc_conn_free(conn);
	return 1;
}

/* Calls whose responses drained below their limit may queue more now
 * (they were told so inside nghttp2, where they must not). */
static void
tell_writable(struct grpc_conn *conn)
{
	struct grpc_call *c, *next;

	conn->writable_due = 0;
	for (c = conn->calls; c != NULL; c = next) {
		next = c->next;
		if (grpc_call_drained(c) && c->method != NULL &&
		    c->method->on_writable != NULL)
			c->method->on_writable(c);
	}
}

static void
conn_send(struct grpc_conn *conn)
{
	int rv;

	if (conn->close_after_write)
		return;
	rv = nghttp2_session_send(conn->session);
	if (rv != 0) {
		log_debug("grpc: %s: %s", conn->peer->addr,
			  nghttp2_strerror(rv));
		grpc_conn_free(conn);
		return;
	}
	if (conn->writable_due)
		tell_writable(conn);
	maybe_close(conn);
}

/* Not HTTP/2 at all: an HTTP/1 client gets told where it is. */
static void
answer_http1(struct grpc_conn *conn)
{
	static const char reply[] =
		"HTTP/1.1 505 HTTP Version Not Supported\r\n"
		"Content-Type: text/plain\r\nConnection: close\r\n"
		"Content-Length: 95\r\n\r\n"
		"srvgate: this port speaks gRPC (HTTP/2 only); the v2 "
		"discovery API is on the --http-listen port.\n";
	struct evbuffer *in = bufferevent_get_input(conn->bev);

	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_write(conn->bev, reply, sizeof(reply) - 1);
	bufferevent_disable(conn->bev, EV_READ);
	conn->api->stats.conns_closed_bad++;
	conn->close_after_write = 1;
}

static int
looks_like_http1(const uint8_t *p, size_t n)
{
	static const char *const methods[] = { "GET ", "POST ", "PUT ",
					       "HEAD ", "DELETE ", "OPTIONS " };
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (n >= strlen(methods[i]) &&
		    memcmp(p, methods[i], strlen(methods[i])) == 0)
			return 1;
	return 0;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct grpc_conn *conn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	uint8_t *data = evbuffer_pullup(in, -1);
	ssize_t rv;

	if (!conn->preface_seen && looks_like_http1(data, len)) {
		answer_http1(conn);
		return;
	}
	rv = nghttp2_session_mem_recv(conn->session, data, len);
	if (rv < 0) {
		log_debug("grpc: %s: %s", conn->peer->addr,
			  nghttp2_strerror((int)rv));
		conn->api->stats.conns_closed_bad++;
		grpc_conn_free(conn);
		return;
	}
	evbuffer_drain(in, (size_t)rv);
	conn_send(conn);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct grpc_conn *conn = arg;

	if (conn->close_after_write) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			grpc_conn_free(conn);
		return;
	}
	if (!maybe_close(conn))
		conn_send(conn);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct grpc_conn *conn = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (what & BEV_EVENT_TIMEOUT)
			log_debug("grpc: %s: write timed out", conn->peer->addr);
		grpc_conn_free(conn);
	}
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_send(arg);
}

static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	grpc_conn_goaway(arg);
}

/* Plain, or TLS (the handshake happens as the first bytes come). */
static struct bufferevent *
new_bufferevent(struct grpc_api *api, int fd)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (api->tls == NULL)
		return bufferevent_socket_new(api->base, fd,
					      BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = tls_accept_ssl(api->tls, 1)) == NULL)
		return NULL;
	/* CLOSE_ON_FREE frees the SSL with the bufferevent. */
	bev = bufferevent_openssl_socket_new(api->base, fd, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE |
						     BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int
grpc_conn_open(struct grpc_api *api, int fd, const char *addr)
{
	struct grpc_conn *conn = xcalloc(1, sizeof(*conn));
	struct timeval io = timeval_from_ms(api->cfg->io_timeout_ms);
	int one = 1;

	conn->api = api;
	conn->peer = grpc_peer_get(api, addr);
	conn->peer->conns++;
	conn->next = api->conns;
	if (conn->next != NULL)
		conn->next->prev = conn;
	api->conns = conn;
	api->nconns++;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn->bev = new_bufferevent(api, fd);
	conn->flush_ev = event_new(api->base, -1, 0, on_flush, conn);
	conn->idle_ev = evtimer_new(api->base, on_idle, conn);
	if (conn->bev == NULL || session_new(conn) != 0) {
		if (conn->bev != NULL)
			bufferevent_setfd(conn->bev, -1); /* the caller closes */
		grpc_conn_free(conn);
		return -1;
	}
	bufferevent_setcb(conn->bev, on_read, on_write, on_event, conn);
	bufferevent_setwatermark(conn->bev, EV_WRITE, OUT_LOW, 0);
	if (api->cfg->io_timeout_ms > 0)
		bufferevent_set_timeouts(conn->bev, NULL, &io);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	if (api->cfg->idle_timeout_ms > 0) {
		struct timeval tv = timeval_from_ms(api->cfg->idle_timeout_ms);

		evtimer_add(conn->idle_ev, &tv);
	}
	/* Our SETTINGS go with the first answer: an HTTP/1 client must get
	 * its plain-text answer alone. */
	return 0;
}

void
grpc_conn_flush_soon(struct grpc_conn *conn)
{
	event_active(conn->flush_ev, EV_TIMEOUT, 0);
}

void
grpc_conn_goaway(struct grpc_conn *conn)
{
	if (conn->goaway)
		return;
	conn->goaway = 1;
	nghttp2_submit_goaway(conn->session, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(
				      conn->session),
			      NGHTTP2_NO_ERROR, NULL, 0);
	grpc_conn_flush_soon(conn);
}

void
grpc_conn_free(struct grpc_conn *conn)
{
	struct grpc_api *api = conn->api;

	/* The calls first: their methods may still look at the conn. */
	while (conn->calls != NULL) {
		if (conn->session != NULL)
			nghttp2_session_set_stream_user_data(
				conn->session, conn->calls->stream_id, NULL);
		grpc_call_free(conn->calls);
	}
	if (conn->session != NULL)
		nghttp2_session_del(conn->session);
	if (conn->bev != NULL)
		bufferevent_free(conn->bev);
	if (conn->flush_ev != NULL)
		event_free(conn->flush_ev);
	if (conn->idle_ev != NULL)
		event_free(conn->idle_ev);
	if (conn->prev != NULL)
		conn->prev->next = conn->next;
	else
		api->conns = conn->next;
	if (conn->next != NULL)
		conn->next->prev = conn->prev;
	api->nconns--;
	conn->peer->conns--;
	grpc_peer_put(api, conn->peer);
	free(conn);
}
