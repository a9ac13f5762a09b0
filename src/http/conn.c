/* conn.c -- accounting for evhttp's connections.
 *
 * evhttp has no hook for a connection's birth or death, so each one gets a
 * pass-through filter bufferevent whose context is ours: the filter's free
 * callback tells us when libevent lets go of it. At the cap the listener is
 * paused, so further clients wait in the kernel's backlog.
 *
 * Fair shares: once evhttp has given a new connection its socket, admit()
 * counts it against the client's network (an IPv4 address, an IPv6 /64).
 * A network that holds --max-connections-per-address is refused, and the
 * last 5% of --max-connections go only to networks holding fewer than
 * RESERVE_FEW, so one client at its maximum (or many at theirs) still
 * leaves room for health checks and other members. A refused client gets
 * a short 503 and its socket shut, which evhttp reads as the end.
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
 *   handed over, before the socket bufferevent would have written it;
 * - backpressure: evhttp reads the next pipelined request as soon as its
 *   write callback runs, so that callback waits while more than OUTPUT_CAP
 *   bytes are unsent (while any are, for a closing answer: see above), and
 *   the socket is not read meanwhile. A client that sends and never reads
 *   thus costs one answer and the cap, and then waits in the kernel.
 */
#include "conn.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* the request's HTTP version */
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "etcdjson.h"
#include "shares.h"
#include "tls.h"
#include "util.h"

#define DRAIN_LINGER_MS 100
/* Unsent bytes past which a connection's next request waits; once held it
 * goes on at half of it, so it does not flip at every write. */
#define OUTPUT_CAP (256 * 1024)
/* In the reserved slots, networks holding fewer connections than this are
 * still let in (a health checker, a member polling its token). */
#define RESERVE_FEW 4
#define REFUSAL_LOG_MS 10000

struct conn {
	struct conn_table *ct;
	struct bufferevent *bev; /* the filter that evhttp holds */
	struct bufferevent *under;
	evutil_socket_t fd; /* known once admitted */
	struct event *deadline;
	struct event *admit; /* runs once evhttp has set the socket */
	struct share *share; /* the client's network, once admitted */
	struct evbuffer_cb_entry *sent_cb;
	int keep_open; /* the answer going out leaves the connection open */
	int held;      /* evhttp waits for its write callback: backpressure */
	int refused;
	/* the access log */
	char addr[64];	     /* the client's address, once admitted */
	uint64_t started_ns; /* the request in hand arrived whole */
	unsigned answers_due; /* ours, handed to evhttp, not yet seen going out */
	struct conn *prev, *next; /* every open connection, for draining */
};

struct conn_table {
	struct event_base *base;
	struct evconnlistener *listener;
	struct tls *tls; /* NULL: plain HTTP */
	struct conn_limits lim;
	unsigned reserve; /* the last slots, for networks holding few */
	struct conn_stats stats;
	size_t admitted; /* counted in a share; a refused one lingers a bit */
	uint64_t last_refusal_log;
	struct share_table *shares;
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
							      c->ct->lim.idle_timeout_ms);

	if (c->ct->draining || c->ct->lim.idle_timeout_ms > 0)
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

/* ---- admission: fair shares ---- */

static const char *
refusal(struct conn_table *ct, const struct share *s)
{
	if (s->conns >= ct->lim.max_per_address) {
		ct->stats.refused_address++;
		return "this address holds --max-connections-per-address "
		       "connections";
	}
	if (ct->admitted >= ct->lim.max_connections - ct->reserve &&
	    s->conns >= RESERVE_FEW) {
		ct->stats.refused_reserve++;
		return "the last connections are kept for addresses that "
		       "hold few";
	}
	return NULL;
}

/* A short 503, then the socket shut: evhttp reads EOF and lets go. */
static void
refuse(struct conn *c, const char *why)
{
	struct conn_table *ct = c->ct;
	char *body = etcdjson_error(ETCD_RAFT_INTERNAL, "Raft Internal Error",
				    why, 0);
	char head[160];
	uint64_t now = now_monotonic_ms();
	int n;

	c->refused = 1;
	/* With TLS there is no handshake yet to carry an answer: just close. */
	n = ct->tls != NULL ? 0 : snprintf(head, sizeof(head),
		     "HTTP/1.1 503 Service Unavailable\r\n"
		     "Content-Type: application/json\r\n"
		     "Connection: close\r\nContent-Length: %zu\r\n\r\n",
		     strlen(body));
	if (n > 0 &&
	    send(c->fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n)
		(void)send(c->fd, body, strlen(body),
			   MSG_NOSIGNAL | MSG_DONTWAIT);
	log_access(&(struct access_entry){ "http", c->addr, "-", "-", 503,
					   strlen(body), 0 });
	free(body);
	shutdown(c->fd, SHUT_RDWR);
	if (now - ct->last_refusal_log >= REFUSAL_LOG_MS) {
		ct->last_refusal_log = now;
		log_warn("http: refusing connections: %s (%llu for an address's "
			 "maximum, %llu for the reserve so far)", why,
			 (unsigned long long)ct->stats.refused_address,
			 (unsigned long long)ct->stats.refused_reserve);
	}
}

static void
on_admit(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint8_t key[NETKEY_LEN];
	const char *why;

	(void)fd;
	(void)what;
	remember_fd(c);
	if (c->fd < 0 ||
	    getpeername(c->fd, (struct sockaddr *)&ss, &len) != 0)
		return; /* gone already: evhttp will see it */
	if (log_access_enabled()) /* c->addr is only for the access log */
		format_addr((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
	netkey_from_sockaddr((struct sockaddr *)&ss, SHARE_V4_BITS,
			     SHARE_V6_BITS, key);
	c->share = share_get(c->ct->shares, key);
	why = refusal(c->ct, c->share);
	if (why == NULL) {
		c->share->conns++;
		c->ct->admitted++;
		return;
	}
	share_release(c->share);
	c->share = NULL;
	refuse(c, why);
}

/* ---- input and output ---- */

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

static size_t
unsent(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->under));
}

/* The unsent bytes with which evhttp may go on. A closing answer must be
 * in the kernel whole first: evhttp shuts the socket's write side when
 * told it is written. */
static size_t
unsent_allowed(const struct conn *c)
{
	if (!c->keep_open)
		return 0;
	return c->held ? OUTPUT_CAP / 2 : OUTPUT_CAP;
}

/* Tells evhttp (from a deferred callback) that the answer is written: it
 * goes on to the next request, or closes. */
static void
release_output(struct conn *c)
{
	if (c->held) {
		c->held = 0;
		c->ct->stats.held--;
		bufferevent_enable(c->under, EV_READ);
	}
	c->keep_open = 0;
	bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

static void
hold_output(struct conn *c)
{
	if (c->held)
		return;
	c->held = 1;
	c->ct->stats.held++;
	c->ct->stats.holds++;
	/* Nothing more is read either: a client that sends and never reads
	 * fills the kernel's buffers, not ours. */
	bufferevent_disable(c->under, EV_READ);
}

/* An answer that evhttp made itself (400 for a malformed request, 413
 * for a large one, 501 for an unknown method) passes no handler of ours:
 * its status line is spotted on the way out, for the access log. */
static void
log_evhttp_answer(struct conn *c, struct evbuffer *src)
{
	struct evbuffer_ptr end;
	char head[16];
	int code;

	if (evbuffer_copyout(src, head, sizeof(head) - 1) < 13)
		return;
	head[sizeof(head) - 1] = '\0';
	if (strncmp(head, "HTTP/1.", 7) != 0 || sscanf(head + 9, "%3d", &code)
	    != 1 || code == 100 || c->refused) /* refuse() wrote its line */
		return;
	if (c->answers_due > 0) {
		c->answers_due--;
		return;
	}
	end = evbuffer_search(src, "\r\n\r\n", 4, NULL);
	log_access(&(struct access_entry){
		"http", c->addr[0] ? c->addr : "?", "-", "-", code,
		end.pos < 0 ? 0 : evbuffer_get_length(src) - (size_t)end.pos - 4,
		0 });
}

static enum bufferevent_filter_result
pass_output(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	    enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;
	evutil_socket_t fd = bufferevent_getfd(c->under);

	(void)limit;
	(void)mode;
	if (log_access_enabled())
		log_evhttp_answer(c, src);
	/* Straight to the kernel unless older bytes still wait in dst (plain
	 * HTTP only: with TLS the bytes must go through OpenSSL). */
	if (fd >= 0 && c->ct->tls == NULL && evbuffer_get_length(dst) == 0)
		evbuffer_write(src, fd);
	evbuffer_add_buffer(dst, src);
	if (unsent(c) <= unsent_allowed(c))
		release_output(c);
	else
		hold_output(c);
	/* Not BEV_OK: that makes the filter call evhttp back at once. */
	return BEV_NEED_MORE;
}

/* evhttp lets go of the filter with bufferevent_free, which clears its
 * callbacks; until libevent finalizes it, it must not be touched (a
 * trigger or enable would take and drop a reference, freeing it twice). */
static int
filter_alive(const struct conn *c)
{
	bufferevent_event_cb eventcb;

	bufferevent_getcb(c->bev, NULL, NULL, &eventcb, NULL);
	return eventcb != NULL;
}

/* The socket took some of a held connection's output. */
static void
on_sent(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	(void)buf;
	if (!c->held || info->n_deleted == 0 || !filter_alive(c))
		return;
	/* Progress: evhttp's timeouts (--io-timeout) start again; its read
	 * timeout runs while it writes, for a client's silence. */
	bufferevent_enable(c->bev, bufferevent_get_enabled(c->bev) &
					   (EV_READ | EV_WRITE));
	if (unsent(c) <= unsent_allowed(c))
		release_output(c);
}

/* ---- birth and death ---- */

static void
table_release(struct conn_table *ct)
{
	share_table_free(ct->shares);
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
	if (c->share != NULL) {
		c->share->conns--;
		share_release(c->share);
		ct->admitted--;
	}
	if (c->held)
		ct->stats.held--;
	/* The socket bufferevent outlives the filter by a moment. */
	evbuffer_remove_cb_entry(bufferevent_get_output(c->under), c->sent_cb);
	event_free(c->deadline);
	event_free(c->admit);
	free(c);
	if (ct->stats.open-- == ct->lim.max_connections &&
	    ct->listener != NULL)
		evconnlistener_enable(ct->listener);
	if (ct->closing && ct->stats.open == 0)
		table_release(ct);
}

static void
count_in(struct conn_table *ct, struct conn *c)
{
	c->next = ct->all;
	if (ct->all != NULL)
		ct->all->prev = c;
	ct->all = c;
	if (++ct->stats.open == ct->lim.max_connections &&
	    ct->listener != NULL) {
		evconnlistener_disable(ct->listener);
		ct->stats.cap_reached++;
		log_warn("http: %u connections open; not accepting more until "
			 "one closes", ct->lim.max_connections);
	}
}

/* The bufferevent on the socket: TLS when --tls-cert is set (evhttp sets
 * the socket later, so the SSL starts out waiting to accept). */
static struct bufferevent *
socket_side(struct conn_table *ct, struct event_base *base)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (ct->tls == NULL)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = tls_accept_ssl(ct->tls, 0)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Clients that close without close_notify lose nothing of ours. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static struct bufferevent *
new_connection(struct event_base *base, void *arg)
{
	struct conn_table *ct = arg;
	struct conn *c = xcalloc(1, sizeof(*c));
	struct bufferevent *bev;

	c->ct = ct;
	c->fd = -1;
	c->under = socket_side(ct, base);
	if (c->under == NULL) { /* no memory for TLS: never serve plain text */
		c->under = bufferevent_socket_new(base, -1,
						  BEV_OPT_CLOSE_ON_FREE);
		c->refused = 1;
	}
	/* The filter only pauses and resumes; the socket side stays on. */
	bufferevent_enable(c->under, EV_READ | EV_WRITE);
	c->sent_cb = evbuffer_add_cb(bufferevent_get_output(c->under),
				     on_sent, c);
	bev = bufferevent_filter_new(c->under, pass_input, pass_output,
				     BEV_OPT_CLOSE_ON_FREE, conn_free, c);
	c->bev = bev;
	evbuffer_defer_callbacks(bufferevent_get_output(bev), base);
	c->deadline = evtimer_new(base, on_deadline, c);
	arm_deadline(c);
	/* evhttp sets the socket when this returns; admit() runs next. */
	c->admit = event_new(base, -1, 0, on_admit, c);
	event_active(c->admit, EV_TIMEOUT, 0);
	count_in(ct, c);
	return bev;
}

struct conn_table *
conn_table_new(struct event_base *base, const struct conn_limits *lim,
	       struct tls *tls)
{
	struct conn_table *ct = xcalloc(1, sizeof(*ct));

	ct->base = base;
	ct->tls = tls;
	ct->lim = *lim;
	ct->reserve = lim->max_connections / 20;
	ct->shares = share_table_new();
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

int
conn_request_started(struct conn_table *ct, struct evhttp_request *req)
{
	struct conn *c = conn_of(ct, req);

	if (c == NULL)
		return 0;
	c->started_ns = now_monotonic_ns();
	evtimer_del(c->deadline);
	return c->refused ? -1 : 0;
}

struct share *
conn_share(struct conn_table *ct, struct evhttp_request *req)
{
	struct conn *c = conn_of(ct, req);

	return c != NULL ? c->share : NULL;
}

/* What evhttp_send_done decides: will the connection close after this
 * answer? */
static int
answer_closes(struct evhttp_request *req)
{
	const char *in = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Connection");
	const char *out = evhttp_find_header(
		evhttp_request_get_output_headers(req), "Connection");

	if ((in != NULL && strcasecmp(in, "close") == 0) ||
	    (out != NULL && strcasecmp(out, "close") == 0))
		return 1;
	/* Before HTTP/1.1 a connection closes unless kept alive. */
	return (req->major < 1 || (req->major == 1 && req->minor < 1)) &&
	       !(in != NULL && strcasecmp(in, "keep-alive") == 0);
}

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "?";
}

/* One access log line per answer. The URI is logged whole: a token in it
 * is what etcd's discovery logs too; the admin token travels in a header
 * and never appears. A refused connection's line was written when it was
 * refused. */
static void
log_answer(const struct conn *c, struct evhttp_request *req, int code,
	   size_t bytes)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *addr = c != NULL && c->addr[0] ? c->addr : NULL;
	ev_uint16_t port;
	uint64_t now = now_monotonic_ns();

	if (c != NULL && c->refused)
		return;
	if (addr == NULL && evcon != NULL)
		evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	log_access(&(struct access_entry){
		"http", addr ? addr : "?",
		method_name(evhttp_request_get_command(req)),
		evhttp_request_get_uri(req), code, bytes,
		c != NULL && c->started_ns ? (double)(now - c->started_ns) / 1e9
					   : 0 });
}

/* The deferred output callback sends the answer (see the top): pushing it
 * here would let evhttp free the connection under this caller's feet. */
void
conn_send_reply(struct conn_table *ct, struct evhttp_request *req, int code,
		const char *reason)
{
	struct conn *c = conn_of(ct, req);

	/* answers_due pairs with log_evhttp_answer: both only with the log */
	if (log_access_enabled()) {
		log_answer(c, req, code, evbuffer_get_length(
			evhttp_request_get_output_buffer(req)));
		if (c != NULL)
			c->answers_due++;
	}
	if (c != NULL) {
		arm_deadline(c);
		c->keep_open = !answer_closes(req);
	}
	evhttp_send_reply(req, code, reason, NULL);
}

size_t
conn_table_count(const struct conn_table *ct)
{
	return ct->stats.open;
}

void
conn_table_stats(const struct conn_table *ct, struct conn_stats *out)
{
	*out = ct->stats;
	out->addresses = share_table_count(ct->shares);
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
	if (ct->stats.open == 0)
		table_release(ct);
}
