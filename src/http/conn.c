/* http_conn.c -- accounting for evhttp's connections.
 *
 * evhttp has no hook for a connection's birth or death, so each one gets a
 * pass-through filter bufferevent whose context is ours: the filter's free
 * callback tells us when libevent lets go of it. At the cap the listener is
 * paused, so further clients wait in the kernel's backlog.
 *
 * libevent 2.1's filter does not suit evhttp as it is, so output takes its
 * own way (see pass_output):
 * - the filter's output callbacks are deferred: evhttp queues an answer
 *   (its own error pages too) before it enables writing, and the filter
 *   moves nothing that is queued while writing is off;
 * - evhttp's write callback is deferred: the filter would call it while
 *   evhttp is still queuing a "100 Continue" (evhttp then ends the request
 *   it is reading), or from the socket's write callback without holding a
 *   reference, and when evhttp frees the connection in it the filter re-arms
 *   its write timer on freed memory;
 * - bytes go to the socket at once: evhttp shuts the socket's write side as
 *   soon as a closing answer ("Connection: close", HTTP/1.0, errors) is
 *   handed over, before the socket bufferevent would have written it.
 */
#include "conn.h"

#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "util.h"

#define DRAIN_LINGER_MS 100

struct conn {
	struct conn_table *ct;
	struct bufferevent *bev; /* the filter that evhttp holds */
	struct bufferevent *under;
	evutil_socket_t fd; /* known from its first bytes on */
	struct event *deadline;
	struct conn *prev, *next; /* every open connection, for draining */
};

struct conn_table {
	struct event_base *base;
	struct evconnlistener *listener;
	unsigned max;
	uint64_t idle_ms;
	size_t count;
	uint64_t refused; /* times the cap paused accepting */
	struct conn **by_fd;
	size_t by_fd_len;
	int closing; /* conn_table_free was called: the last conn frees it */
	int draining; /* shutting down: idle connections close at once */
	struct conn *all;
};

static void
arm_deadline(struct conn *c)
{
	/* Draining, an idle connection only waits for its last answer to
	 * leave; then it closes. */
	struct timeval tv = timeval_from_ms(c->ct->draining ? DRAIN_LINGER_MS :
							      c->ct->idle_ms);

	if (c->ct->draining || c->ct->idle_ms > 0)
		evtimer_add(c->deadline, &tv);
}

/* Shutting the socket makes evhttp see EOF and free the connection. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	fd = bufferevent_getfd(c->under);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static void
remember_fd(struct conn *c)
{
	struct conn_table *ct = c->ct;
	size_t fd;

	c->fd = bufferevent_getfd(c->under);
	if (c->fd < 0)
		return;
	fd = (size_t)c->fd;
	if (fd >= ct->by_fd_len) {
		size_t n = fd * 2 + 64, i;

		ct->by_fd = xrealloc(ct->by_fd, n * sizeof(*ct->by_fd));
		for (i = ct->by_fd_len; i < n; i++)
			ct->by_fd[i] = NULL;
		ct->by_fd_len = n;
	}
	ct->by_fd[fd] = c;
}

static enum bufferevent_filter_result
pass_input(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	   enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;

	(void)mode;
	if (c->fd < 0)
		remember_fd(c);
	if (limit < 0)
		evbuffer_add_buffer(dst, src);
	else
		evbuffer_remove_buffer(src, dst, (size_t)limit);
	return BEV_OK;
}

static enum bufferevent_filter_result
pass_output(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;
	evutil_socket_t fd = bufferevent_getfd(c->under);

	(void)limit;
	(void)mode;
	/* Straight to the kernel unless older bytes still wait in dst. */
	if (fd >= 0 && evbuffer_get_length(dst) == 0)
		evbuffer_write(src, fd);
	evbuffer_add_buffer(dst, src);
	bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
	/* Not BEV_OK: that makes the filter call evhttp back at once. */
	return BEV_NEED_MORE;
}

static void
table_release(struct conn_table *ct)
{
	free(ct->by_fd);
	free(ct);
}

static void
conn_free(void *arg)
{
	struct conn *c = arg;
	struct conn_table *ct = c->ct;

	if (c->fd >= 0 && (size_t)c->fd < ct->by_fd_len &&
	    ct->by_fd[c->fd] == c)
		ct->by_fd[c->fd] = NULL;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ct->all = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->deadline);
	free(c);
	if (ct->count-- == ct->max && ct->listener != NULL)
		evconnlistener_enable(ct->listener);
	if (ct->closing && ct->count == 0)
		table_release(ct);
}

static struct bufferevent *
new_connection(struct event_base *base, void *arg)
{
	struct conn_table *ct = arg;
	struct conn *c = xcalloc(1, sizeof(*c));
	struct bufferevent *bev;

	c->ct = ct;
	c->fd = -1;
	c->under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	/* The filter only pauses and resumes; the socket side stays on. */
	bufferevent_enable(c->under, EV_READ | EV_WRITE);
	bev = bufferevent_filter_new(c->under, pass_input, pass_output,
				     BEV_OPT_CLOSE_ON_FREE, conn_free, c);
	c->bev = bev;
	evbuffer_defer_callbacks(bufferevent_get_output(bev), base);
	c->deadline = evtimer_new(base, on_deadline, c);
	arm_deadline(c);
	c->next = ct->all;
	if (ct->all != NULL)
		ct->all->prev = c;
	ct->all = c;
	if (++ct->count == ct->max && ct->listener != NULL) {
		evconnlistener_disable(ct->listener);
		ct->refused++;
		log_warn("http: %u connections open; not accepting more until "
			 "one closes", ct->max);
	}
	return bev;
}

struct conn_table *
conn_table_new(struct event_base *base, unsigned max_connections,
	       uint64_t idle_timeout_ms)
{
	struct conn_table *ct = xcalloc(1, sizeof(*ct));

	ct->base = base;
	ct->max = max_connections;
	ct->idle_ms = idle_timeout_ms;
	return ct;
}

void
conn_table_attach(struct conn_table *ct, struct evhttp *http,
		  struct evconnlistener *listener)
{
	ct->listener = listener;
	evhttp_set_bevcb(http, new_connection, ct);
}

static struct conn *
conn_of(struct conn_table *ct, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	evutil_socket_t fd;

	if (evcon == NULL)
		return NULL;
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd < 0 || (size_t)fd >= ct->by_fd_len)
		return NULL;
	return ct->by_fd[fd];
}

void
conn_request_started(struct conn_table *ct, struct evhttp_request *req)
{
	struct conn *c = conn_of(ct, req);

	if (c != NULL)
		evtimer_del(c->deadline);
}

/* The deferred output callback sends the answer (see the top): pushing it
 * here would let evhttp free the connection under this caller's feet. */
void
conn_send_reply(struct conn_table *ct, struct evhttp_request *req, int code,
		const char *reason, struct evbuffer *body)
{
	struct conn *c = conn_of(ct, req);

	if (c != NULL)
		arm_deadline(c);
	evhttp_send_reply(req, code, reason, body);
}

size_t
conn_table_count(const struct conn_table *ct)
{
	return ct->count;
}

uint64_t
conn_table_refused(const struct conn_table *ct)
{
	return ct->refused;
}

void
conn_table_drain(struct conn_table *ct)
{
	struct conn *c;

	ct->draining = 1;
	/* Idle ones (their deadline is running) close now; the others when
	 * their answer has gone out. */
	for (c = ct->all; c != NULL; c = c->next)
		if (evtimer_pending(c->deadline, NULL))
			arm_deadline(c);
}

void
conn_table_log_open(const struct conn_table *ct)
{
	const struct conn *c;

	for (c = ct->all; c != NULL; c = c->next)
		log_warn("http: connection fd %d still open at shutdown "
			 "(%s)", (int)bufferevent_getfd(c->under),
			 evtimer_pending(c->deadline, NULL) ? "idle" :
							      "answering");
}

/* evhttp_free has freed the listener, but the connections it let go of are
 * finalized later (by event_base_free at the latest), and each still counts
 * itself out of the table: the last one frees it. */
void
conn_table_free(struct conn_table *ct)
{
	if (ct == NULL)
		return;
	ct->listener = NULL;
	ct->closing = 1;
	if (ct->count == 0)
		table_release(ct);
}
