/* server.c -- DNS over UDP and TCP on an event loop, and the path every
 * query takes: parse, verify its TSIG if it has one, check its cookie,
 * answer (answer.c, or xfr.c for a transfer), sign the answer if the query
 * was signed, and over UDP let rate limiting drop or slip it.
 *
 * UDP reads and writes go in batches with recvmmsg/sendmmsg, as Knot's
 * udp-handler does; the buffers are allocated once. With --dns-workers
 * the sockets are the workers' (workers.c: each a struct dns_server of
 * its own that answers from a replica of the view): UDP on every worker,
 * TCP on worker 0, which hands a connection that asks for a transfer to
 * the main loop (dns_tcp_adopt). TCP connections are libevent
 * bufferevents that take pipelined, length-prefixed queries.
 *
 * Hostile clients: a TCP client gets --dns-tcp-message-timeout for each
 * whole message once it has begun (a byte now and then does not keep a
 * connection), --dns-tcp-timeout between messages, and an address (IPv6:
 * a /64) holds at most --dns-tcp-max-per-address connections; the last
 * quarter of --dns-tcp-max-connections goes only to addresses that hold
 * none, so that a few addresses at their maximum leave room for the rest.
 */
#include "dns.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "cookie.h"
#include "htable.h"
#include "listener.h"
#include "rrl.h"
#include "serve.h"
#include "server_impl.h"
#include "tsig.h"
#include "util.h"
#include "workers.h"
#include "wire.h"
#include "xfr.h"

/* ---- the query path (serve.h) ----
 * now_s is the wall clock TSIG and cookies are checked against, read once
 * per UDP batch or TCP message. */

/* A query whose TSIG failed: NOTAUTH with the TSIG error, or FORMERR for
 * a TSIG record that makes no sense. */
static size_t
refuse_tsig(struct dns_server *srv, const struct dns_request *r,
	    struct tsig_state *ts, const struct sockaddr *peer, uint64_t now_s,
	    uint8_t *out, size_t cap)
{
	char who[64] = "?";

	if (peer != NULL)
		format_addr(peer, who, sizeof(who));
	log_warn("dns: refused %s: TSIG %s", who, tsig_error_text(ts->error));
	if (ts->error == TSIG_MALFORMED) {
		srv->stats.rcodes[RCODE_FORMERR]++;
		return dns_write_reply_head(out, r->pkt, &r->q, 0,
					    RCODE_FORMERR);
	}
	srv->stats.rcodes[RCODE_NOTAUTH]++;
	return tsig_error_answer(ts, r->pkt, &r->q, out, cap, now_s);
}

/* Verifies the request's TSIG, if it has one and we have keys. Returns
 * the exchange to sign answers with, or NULL for an unsigned request;
 * *failed when the TSIG did not check out. */
static struct tsig_state *
check_tsig(struct dns_server *srv, const struct dns_request *r,
	   uint64_t now_s, struct tsig_state *ts, int *failed)
{
	*failed = 0;
	if (r->parsed != PARSE_OK || r->q.tsig_off == 0 || srv->keys == NULL)
		return NULL;
	*failed = tsig_verify(srv->keys, r->pkt, r->len, r->q.tsig_off,
			      now_s, ts) != TSIG_OK;
	return ts;
}

/* A COOKIE option (RFC 7873): what the client's server cookie is worth,
 * and the cookies the answer carries. A malformed one is the parser's
 * FORMERR. */
static void
check_cookie(struct dns_server *srv, struct dns_request *r,
	     const struct sockaddr *peer, uint64_t now_s)
{
	const struct dns_query *q = &r->q;

	if (!q->has_edns || q->cookie_off == 0 || q->bad_cookie)
		return;
	r->cookie = cookie_check(&srv->cookies, r->pkt + q->cookie_off,
				 q->cookie_len, peer, (uint32_t)now_s,
				 r->cookie_answer);
	r->cookie_answer_len = COOKIE_ANSWER_LEN;
	srv->cookie_seen[r->cookie]++;
}

/* Parses a request and checks its TSIG and cookie: the exchange to sign
 * the answer with, or NULL when unsigned. */
static struct tsig_state *
receive(struct dns_server *srv, struct dns_request *r,
	const struct sockaddr *peer, uint64_t now_s, struct tsig_state *ts,
	int *failed)
{
	r->parsed = dns_parse_query(r->pkt, r->len, &r->q);
	check_cookie(srv, r, peer, now_s);
	return check_tsig(srv, r, now_s, ts, failed);
}

/* The answer to a received request in out, signed when the request was;
 * 0 for none. */
static size_t
respond(struct dns_server *srv, struct dns_request *r,
	struct tsig_state *signer, int failed, const struct sockaddr *peer,
	uint64_t now_s, uint8_t *out, size_t cap)
{
	size_t len;

	if (failed) {
		srv->stats.queries++;
		return refuse_tsig(srv, r, signer, peer, now_s, out, cap);
	}
	r->reserve = signer ? tsig_space(signer) : 0;
	len = dns_answer(&srv->ctx, r, out, cap);
	if (len > 0 && signer != NULL)
		len = tsig_sign(signer, out, len, cap, now_s);
	return len;
}

/* ---- UDP ---- */

/* Response rate limiting (rrl.c) of an answer of len bytes in out: what
 * goes out instead, 0 for nothing. Signed requests and clients with a
 * valid cookie have shown they are who they say: never limited. */
static size_t
limit_rate(struct dns_server *srv, const struct dns_request *r,
	   const struct tsig_state *signer, const struct sockaddr *peer,
	   uint64_t now_ms, uint8_t *out, size_t len)
{
	enum rrl_verdict v;

	if (srv->rrl == NULL || signer != NULL || r->cookie == COOKIE_VALID)
		return len;
	if (srv->rrl_lock != NULL)
		pthread_mutex_lock(srv->rrl_lock);
	v = rrl_account(srv->rrl, peer, r->rclass, r->rname, r->rname_len,
			r->q.qtype, now_ms);
	if (srv->rrl_lock != NULL)
		pthread_mutex_unlock(srv->rrl_lock);
	switch (v) {
	case RRL_PASS:
		break;
	case RRL_DROP:
		return 0;
	case RRL_SLIP:
		return dns_answer_slip(&srv->ctx, r, out, DNS_UDP_MAX);
	}
	return len;
}

/* Reads a UDP query: parsed, its cookie and TSIG checked. */
static void
udp_receive(struct dns_server *srv, struct udp_query *u, const uint8_t *pkt,
	    size_t len, const struct sockaddr *peer, uint64_t now_s)
{
	struct dns_request *r = &u->r;

	memset(r, 0, sizeof(*r));
	r->pkt = pkt;
	r->len = len;
	u->signer = receive(srv, r, peer, now_s, &u->ts, &u->failed);
	if (!u->failed && r->parsed == PARSE_OK &&
	    r->q.opcode == OPCODE_QUERY && r->q.qtype == TYPE_IXFR &&
	    srv->cfg.xfr != NULL)
		r->udp_ixfr = xfr_udp_ixfr(srv->cfg.xfr, r, u->signer, peer,
					   srv->ctx.replica);
}

/* The answer to a UDP query read by udp_receive, rate limited; 0: none. */
static size_t
udp_respond(struct dns_server *srv, struct udp_query *u,
	    const struct sockaddr *peer, uint64_t now_s, uint64_t now_ms,
	    uint8_t *out)
{
	size_t len = respond(srv, &u->r, u->signer, u->failed, peer, now_s,
			     out, DNS_UDP_MAX);

	if (len == 0 || u->failed)
		return len;
	return limit_rate(srv, &u->r, u->signer, peer, now_ms, out, len);
}

size_t
dns_serve_udp(struct dns_server *srv, const uint8_t *pkt, size_t len,
	      const struct sockaddr *peer, uint64_t now_s, uint64_t now_ms,
	      uint8_t *out)
{
	struct udp_query u;

	udp_receive(srv, &u, pkt, len, peer, now_s);
	return udp_respond(srv, &u, peer, now_s, now_ms, out);
}

/* Datagram i of the batch was longer than DNS_UDP_MAX: not read. */
static int
truncated(const struct udp_batch *b, int i)
{
	return (b->in[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}

/* Begins the replica lookups of a batch one level at a time (replica.h):
 * each level's cache misses overlap, for all the batch's queries. */
static void
begin_lookups(const struct dns_server *srv, struct udp_batch *b, int n)
{
	const struct replica *rep = srv->ctx.replica;
	int i, step;

	if (rep == NULL)
		return;
	for (i = 0; i < n; i++) {
		struct dns_request *r = &b->q[i].r;

		if (!truncated(b, i) && r->parsed == PARSE_OK &&
		    r->q.opcode == OPCODE_QUERY && !b->q[i].failed)
			replica_hint_begin(rep, r->q.qname, &r->hint);
	}
	for (step = 0; step < REPLICA_HINT_STEPS; step++)
		for (i = 0; i < n; i++)
			replica_hint_step(rep, &b->q[i].r.hint,
					  b->q[i].r.q.qtype);
}

/* One datagram's header: len bytes at buf, to or from name. */
static void
set_message(struct mmsghdr *m, struct iovec *iov, void *buf, size_t len,
	    struct sockaddr_storage *name, socklen_t namelen)
{
	iov->iov_base = buf;
	iov->iov_len = len;
	memset(&m->msg_hdr, 0, sizeof(m->msg_hdr));
	m->msg_hdr.msg_iov = iov;
	m->msg_hdr.msg_iovlen = 1;
	m->msg_hdr.msg_name = name;
	m->msg_hdr.msg_namelen = namelen;
}

/* Queues the answer to query i (len bytes in abuf[nout]); the new count. */
static int
queue_answer(struct udp_batch *b, int i, int nout, size_t len)
{
	set_message(&b->out[nout], &b->out_iov[nout], b->abuf[nout], len,
		    &b->addr[i], b->in[i].msg_hdr.msg_namelen);
	return nout + 1;
}

static void
prepare_reads(struct udp_batch *b)
{
	int i;

	for (i = 0; i < UDP_BATCH; i++)
		set_message(&b->in[i], &b->in_iov[i], b->qbuf[i], DNS_UDP_MAX,
			    &b->addr[i], sizeof(b->addr[i]));
}

/* One recvmmsg batch: every query read, the lookups begun together, then
 * each answered in turn, and the answers sent in one sendmmsg. */
int
dns_udp_serve_batch(struct dns_server *srv, int fd)
{
	struct udp_batch *b = srv->batch;
	uint64_t now_ms = now_monotonic_ms(), now_s = (uint64_t)time(NULL);
	int n, i, nout = 0;

	prepare_reads(b);
	n = recvmmsg(fd, b->in, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n > 0 && srv->received != NULL)
		srv->received(srv->received_arg); /* may change the replica */
	for (i = 0; i < n; i++) {
		if (truncated(b, i)) {
			b->q[i].r.hint.stage = HINT_NONE; /* no lookup */
			continue;
		}
		srv->stats.udp++;
		udp_receive(srv, &b->q[i], b->qbuf[i], b->in[i].msg_len,
			    (struct sockaddr *)&b->addr[i], now_s);
	}
	begin_lookups(srv, b, n);
	for (i = 0; i < n; i++) {
		size_t len;

		if (truncated(b, i))
			continue;
		len = udp_respond(srv, &b->q[i], (struct sockaddr *)&b->addr[i],
				  now_s, now_ms, b->abuf[nout]);
		if (len > 0)
			nout = queue_answer(b, i, nout, len);
	}
	/* A full send buffer drops answers, as it would drop queries. */
	if (nout > 0 && sendmmsg(fd, b->out, (unsigned)nout, MSG_DONTWAIT) < 0)
		log_debug("dns: sendmmsg: %s", strerror(errno));
	return n > 0 ? n : 0; /* -1: nothing to read (EAGAIN) */
}

static void
on_udp(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)dns_udp_serve_batch(arg, fd);
}

/* Bursts of queries outrun one loop turn; the kernel's default 208 KiB
 * buffer then drops them. NSD sets large buffers the same way. */
static void
set_buffers(int fd)
{
	int size = UDP_SOCKET_BUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int
dns_udp_socket(const struct sockaddr *sa, socklen_t len, const char *name,
	       int reuseport, char *err)
{
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	int one = 1;

	if (fd < 0)
		return fail(err, "udp %s: %s", name, strerror(errno));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
		close(fd);
		return fail(err, "udp %s: SO_REUSEPORT: %s", name,
			    strerror(errno));
	}
	set_buffers(fd);
	if (bind(fd, sa, len) != 0) {
		close(fd);
		return fail(err, "cannot listen on udp %s: %s", name,
			    strerror(errno));
	}
	return fd;
}

/* The main loop's own UDP socket (no workers). */
static int
open_udp(struct dns_server *srv, const struct sockaddr *sa, socklen_t len,
	 const char *name, char *err)
{
	int fd = dns_udp_socket(sa, len, name, 0, err);
	size_t i = srv->nsockets;

	if (fd < 0)
		return -1;
	srv->udp_fd[i] = fd;
	srv->udp_ev[i] = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_udp,
				   srv);
	event_add(srv->udp_ev[i], NULL);
	return 0;
}

/* ---- TCP: who holds the connections ---- */

/* The connections of one address (an IPv6 /64: one host holds one). */
struct tcp_peer {
	struct hnode node;
	uint8_t key[17]; /* family, then the address */
	unsigned conns;
};

static void
peer_key(const struct sockaddr *sa, uint8_t key[17])
{
	memset(key, 0, 17);
	key[0] = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(key + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		       8);
}

static int
peer_matches(const struct hnode *n, const void *key)
{
	return memcmp(container_of(n, struct tcp_peer, node)->key, key, 17) ==
	       0;
}

static struct tcp_peer *
peer_get(struct dns_server *srv, const struct sockaddr *sa)
{
	uint8_t key[17];
	uint64_t h;
	struct hnode *n;
	struct tcp_peer *p;

	peer_key(sa, key);
	h = hash_bytes(key, sizeof(key));
	n = htable_find(&srv->tcp_peers, h, peer_matches, key);
	if (n != NULL)
		return container_of(n, struct tcp_peer, node);
	p = xcalloc(1, sizeof(*p));
	memcpy(p->key, key, sizeof(key));
	htable_insert(&srv->tcp_peers, &p->node, h);
	return p;
}

static void
peer_put(struct dns_server *srv, struct tcp_peer *p)
{
	if (p->conns > 0)
		return;
	htable_remove(&srv->tcp_peers, &p->node);
	free(p);
}

/* Whether p may open one more: its own share, and past the shared part
 * of the slots only a first connection. */
static int
peer_may_connect(const struct dns_server *srv, const struct tcp_peer *p)
{
	if (p->conns >= srv->cfg.tcp_max_per_address)
		return 0;
	return p->conns == 0 || srv->tcp_conns < srv->tcp_shared_max;
}

/* ---- TCP: connections ---- */

struct tcp_conn {
	struct dns_server *srv;
	struct tcp_conn *prev, *next; /* in srv->conns */
	struct bufferevent *bev;
	struct sockaddr_storage peer; /* for transfer access rules */
	struct tcp_peer *owner;
	struct event *deadline;
	int in_message; /* the deadline is the message's, not the idle one */
	/* It asked the TCP worker for a transfer: it goes to the main loop
	 * once its answers so far are sent. */
	int handing_over;
	/* A whole-zone transfer under way (xfr.c): queries behind it wait. */
	struct xfr_transfer *xfer;
	struct event *resume; /* its next slice, on the next loop turn */
};

static void
tcp_close(struct tcp_conn *c)
{
	struct dns_server *srv = c->srv;
	size_t i;

	xfr_transfer_free(c->xfer);
	event_free(c->resume);
	event_free(c->deadline);
	bufferevent_free(c->bev);
	c->owner->conns--;
	peer_put(srv, c->owner);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	if (srv->tcp_conns-- == srv->cfg.tcp_max_connections)
		for (i = 0; i < srv->nsockets; i++)
			evconnlistener_enable(srv->tcp[i]);
}

/* Starts the idle clock (no message under way) or a message's clock.
 * Neither moves while bytes of a message trickle in. */
static void
arm_deadline(struct tcp_conn *c, int in_message)
{
	const struct dns_server_config *cfg = &c->srv->cfg;
	struct timeval tv = timeval_from_ms(in_message ? cfg->tcp_message_ms :
							 cfg->tcp_idle_ms);

	c->in_message = in_message;
	evtimer_add(c->deadline, &tv);
}

static void
on_tcp_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_conn *c = arg;
	struct dns_server *srv = c->srv;
	char who[64];

	(void)fd;
	(void)what;
	/* Answers (a transfer, say) still on their way out: the write
	 * timeout watches those. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0 ||
	    c->xfer != NULL) {
		arm_deadline(c, 0);
		return;
	}
	if (c->in_message)
		srv->tcp_stats.message_timeouts++;
	else
		srv->tcp_stats.idle_timeouts++;
	format_addr((struct sockaddr *)&c->peer, who, sizeof(who));
	log_debug("dns: tcp %s: closed, %s", who,
		  c->in_message ? "a message took too long" : "idle");
	tcp_close(c);
}

enum tcp_served {
	TCP_HANG_UP,   /* nothing sane to say */
	TCP_ANSWERED,
	TCP_HAND_OVER, /* a transfer, asked of the TCP worker */
};

/* One message of a TCP client: a transfer goes to xfr.c, which writes
 * its own messages (a whole zone in *xfer, for the caller to run on), or
 * on the TCP worker to the main loop; anything else is answered as over
 * UDP. */
static enum tcp_served
serve_tcp(struct dns_server *srv, const uint8_t *msg, size_t mlen,
	  const struct sockaddr *peer, uint64_t now_s, struct evbuffer *out,
	  struct xfr_transfer **xfer, void (*wake)(void *), void *wake_arg)
{
	struct dns_request r;
	struct tsig_state ts, *signer;
	int failed;
	size_t len;

	memset(&r, 0, sizeof(r));
	r.pkt = msg;
	r.len = mlen;
	r.over_tcp = 1;
	signer = receive(srv, &r, peer, now_s, &ts, &failed);
	if (!failed && r.parsed == PARSE_OK && dns_query_is_transfer(&r.q) &&
	    srv->cfg.xfr != NULL) {
		if (srv->hand_over == NULL) {
			srv->stats.queries++;
			*xfer = xfr_answer(srv->cfg.xfr, &r, signer, peer, out,
					   wake, wake_arg);
			return TCP_ANSWERED;
		}
		/* The TCP worker refuses by itself (answer.c's REFUSED):
		 * only a client that may transfer costs the main loop. */
		if (!xfr_refuses(srv->cfg.xfr, signer, peer,
				 r.q.qtype == TYPE_IXFR ? "IXFR" : "AXFR"))
			return TCP_HAND_OVER;
	}
	len = respond(srv, &r, signer, failed, peer, now_s, srv->tcp_out + 2,
		      TCP_MSG_MAX);
	if (len == 0)
		return TCP_HANG_UP;
	dns_put16(srv->tcp_out, (uint16_t)len);
	evbuffer_add(out, srv->tcp_out, len + 2);
	return TCP_ANSWERED;
}

static void
wake_none(void *arg)
{
	(void)arg;
}

/* Without a connection (the fuzz harnesses) a transfer is written whole;
 * nothing changes the zone meanwhile. */
int
dns_serve_tcp(struct dns_server *srv, const uint8_t *msg, size_t mlen,
	      const struct sockaddr *peer, uint64_t now_s, struct evbuffer *out)
{
	struct xfr_transfer *t = NULL;
	int ok = serve_tcp(srv, msg, mlen, peer, now_s, out, &t, wake_none,
			   NULL) != TCP_HANG_UP;

	if (t != NULL)
		xfr_transfer_run(t, 0, 1);
	xfr_transfer_free(t);
	return ok;
}

/* ---- TCP: a transfer asked of the TCP worker goes to the main loop ---- */

void
dns_tcp_handover_free(struct tcp_handover *h)
{
	if (h == NULL)
		return;
	if (h->fd >= 0)
		close(h->fd);
	free(h->unread);
	free(h);
}

/* Its answers so far are sent: c leaves this loop (closed here, its
 * socket kept open) with what it sent that is not answered yet. */
static void
hand_over(struct tcp_conn *c)
{
	struct dns_server *srv = c->srv;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct tcp_handover *h = xcalloc(1, sizeof(*h));

	h->fd = bufferevent_getfd(c->bev);
	h->peer = c->peer;
	h->nunread = evbuffer_get_length(in);
	h->unread = xmalloc(h->nunread);
	evbuffer_remove(in, h->unread, h->nunread);
	/* The bufferevent lets go of the socket without closing it (and
	 * takes it out of this loop's epoll first). */
	bufferevent_setfd(c->bev, -1);
	tcp_close(c);
	srv->hand_over(srv->hand_over_arg, h);
}

/* ---- TCP: transfers a slice at a time ---- */

static void on_tcp_read(struct bufferevent *bev, void *arg);

static void
xfer_wake(void *arg)
{
	struct tcp_conn *c = arg;
	struct timeval now = { 0, 0 };

	evtimer_add(c->resume, &now);
}

/* The transfer's next slice. It waits for the next loop turn when its
 * time ran out, for the client to read (on_tcp_drained) when the output
 * holds TCP_OUT_MAX. At its end the queries behind it get their turn.
 * May close c. */
static void
xfer_step(struct tcp_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	switch (xfr_transfer_run(c->xfer, TCP_OUT_MAX, 0)) {
	case XFR_MORE:
		if (evbuffer_get_length(out) < TCP_OUT_MAX)
			xfer_wake(c);
		return;
	case XFR_ABORTED:
		tcp_close(c);
		return;
	case XFR_DONE:
		break;
	}
	xfr_transfer_free(c->xfer);
	c->xfer = NULL;
	evtimer_del(c->resume);
	bufferevent_enable(c->bev, EV_READ);
	on_tcp_read(c->bev, c);
}

static void
on_xfer_resume(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->xfer != NULL)
		xfer_step(c);
}

/* Answers every whole message in the input: clients may pipeline. Returns
 * -1 when the connection was closed, else how many it answered. */
static int
answer_messages(struct tcp_conn *c, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t lenbuf[2];
	int n = 0;

	while (c->xfer == NULL && !c->handing_over &&
	       evbuffer_copyout(in, lenbuf, 2) == 2) {
		size_t mlen = dns_get16(lenbuf);
		uint8_t *msg;
		enum tcp_served served;

		/* A client that pipelines but never reads must not make us
		 * buffer without end: wait until it reads. */
		if (evbuffer_get_length(bufferevent_get_output(bev)) >
		    TCP_OUT_MAX) {
			bufferevent_disable(bev, EV_READ);
			break;
		}
		if (evbuffer_get_length(in) < 2 + mlen)
			break;
		msg = evbuffer_pullup(in, (ev_ssize_t)(2 + mlen)) + 2;
		served = serve_tcp(c->srv, msg, mlen,
				   (struct sockaddr *)&c->peer,
				   (uint64_t)time(NULL),
				   bufferevent_get_output(bev), &c->xfer,
				   xfer_wake, c);
		if (served == TCP_HAND_OVER) {
			/* The main loop counts and answers it. */
			bufferevent_disable(bev, EV_READ);
			c->handing_over = 1;
			if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
				break; /* on_tcp_drained hands it over */
			hand_over(c);
			return -1;
		}
		c->srv->stats.tcp++;
		evbuffer_drain(in, 2 + mlen);
		if (served == TCP_HANG_UP) {
			tcp_close(c);
			return -1;
		}
		n++;
	}
	if (c->xfer != NULL)
		xfer_wake(c); /* its first slice after this turn's others */
	return n;
}

static void
on_tcp_read(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	int answered = answer_messages(c, bev);
	size_t left;

	if (answered < 0)
		return;
	left = evbuffer_get_length(bufferevent_get_input(bev));
	/* The idle clock starts after each answer; a message's clock at its
	 * first byte, and nothing but its end stops it. */
	if (left == 0 && (answered > 0 || c->in_message))
		arm_deadline(c, 0);
	else if (left > 0 && (answered > 0 || !c->in_message))
		arm_deadline(c, 1);
}

/* The client read its answers: the transfer's next slice, or its next
 * queries. */
static void
on_tcp_drained(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	if (c->xfer != NULL) {
		xfer_step(c);
		return;
	}
	if (c->handing_over) {
		hand_over(c);
		return;
	}
	if (!(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);
		on_tcp_read(bev, arg);
	}
}

static void
on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		tcp_close(arg);
}

/* Over its address's share: closed at once, so that it does not wait in
 * the accept queue ahead of others. */
static int
refuse_over_share(struct dns_server *srv, evutil_socket_t fd,
		  struct tcp_peer *owner)
{
	if (peer_may_connect(srv, owner))
		return 0;
	srv->tcp_stats.refused_address++;
	evutil_closesocket(fd);
	peer_put(srv, owner);
	return 1;
}

/* A connection of owner's on fd, on srv's loop. */
static struct tcp_conn *
tcp_conn_new(struct dns_server *srv, evutil_socket_t fd,
	     const struct sockaddr *sa, size_t salen, struct tcp_peer *owner)
{
	struct timeval tv = timeval_from_ms(srv->cfg.tcp_idle_ms);
	struct tcp_conn *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	c->owner = owner;
	owner->conns++;
	c->next = srv->conns;
	if (c->next != NULL)
		c->next->prev = c;
	srv->conns = c;
	if (salen > 0 && salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, salen);
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(srv->base, on_tcp_deadline, c);
	c->resume = evtimer_new(srv->base, on_xfer_resume, c);
	bufferevent_setcb(c->bev, on_tcp_read, on_tcp_drained, on_tcp_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 + TCP_MSG_MAX);
	/* Reads are timed by the deadline; a write that stalls this long
	 * ends the connection. */
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	arm_deadline(c, 0);
	srv->tcp_conns++;
	return c;
}

static void
on_tcp_accept(struct evconnlistener *l, evutil_socket_t fd,
	      struct sockaddr *sa, int salen, void *arg)
{
	struct dns_server *srv = arg;
	struct tcp_peer *owner = peer_get(srv, sa);
	size_t i;

	(void)l;
	if (refuse_over_share(srv, fd, owner))
		return;
	tcp_conn_new(srv, fd, sa, salen > 0 ? (size_t)salen : 0, owner);
	if (srv->tcp_conns == srv->cfg.tcp_max_connections)
		for (i = 0; i < srv->nsockets; i++)
			evconnlistener_disable(srv->tcp[i]);
}

/* The main loop's side of a hand-over. It has no listeners of its own
 * then: over its address's share or the maximum, the connection is
 * closed. */
void
dns_tcp_adopt(struct dns_server *srv, struct tcp_handover *h)
{
	const struct sockaddr *sa = (const struct sockaddr *)&h->peer;
	struct tcp_peer *owner = peer_get(srv, sa);
	struct tcp_conn *c;

	if (srv->tcp_conns >= srv->cfg.tcp_max_connections) {
		log_debug("dns: tcp: a transfer over --dns-tcp-max-connections");
		peer_put(srv, owner);
		dns_tcp_handover_free(h);
		return;
	}
	if (refuse_over_share(srv, h->fd, owner)) {
		h->fd = -1; /* closed */
		dns_tcp_handover_free(h);
		return;
	}
	c = tcp_conn_new(srv, h->fd, sa, sizeof(h->peer), owner);
	h->fd = -1; /* c's now */
	/* A bufferevent's input takes bytes from its socket only (libevent
	 * freezes its end): thawed for the bytes that came before. */
	evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
	evbuffer_add(bufferevent_get_input(c->bev), h->unread, h->nunread);
	evbuffer_freeze(bufferevent_get_input(c->bev), 0);
	dns_tcp_handover_free(h);
	on_tcp_read(c->bev, c);
}

static int
open_tcp(struct dns_server *srv, const struct sockaddr *sa, socklen_t len,
	 const char *name, char *err)
{
	struct evconnlistener *l;

	l = evconnlistener_new_bind(srv->base, on_tcp_accept, srv,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					    LEV_OPT_CLOSE_ON_EXEC |
					    (sa->sa_family == AF_INET6 ?
						     LEV_OPT_BIND_IPV6ONLY : 0),
				    256, sa, (int)len);
	if (l == NULL)
		return fail(err, "cannot listen on tcp %s: %s", name,
			    strerror(errno));
	listener_pause_on_error(l);
	srv->tcp[srv->nsockets] = l;
	return 0;
}

/* ---- lifecycle ---- */

/* Cookies, rate limiting and the TCP shares, from the config. */
static int
setup_defences(struct dns_server *srv, const struct dns_server_config *cfg,
	       char *err)
{
	struct rrl_config rc = { cfg->rrl_rate, cfg->rrl_slip,
				 cfg->rrl_ipv4_prefix, cfg->rrl_ipv6_prefix,
				 0 };

	if (srv->cfg.tcp_max_per_address == 0)
		srv->cfg.tcp_max_per_address = cfg->tcp_max_connections;
	if (srv->cfg.tcp_message_ms == 0)
		srv->cfg.tcp_message_ms = cfg->tcp_idle_ms;
	srv->tcp_shared_max = cfg->tcp_max_connections -
			      cfg->tcp_max_connections / 4;
	htable_init(&srv->tcp_peers);
	srv->rrl = rrl_new(&rc);
	return cookie_secrets_load(&srv->cookies, cfg->cookie_secret_file, 0,
				   err) < 0 ? -1 : 0;
}

/* srv's sockets on every --dns-listen address, on srv->base: TCP first
 * (a port another process holds fails there, where SO_REUSEPORT would
 * let UDP share it), then with_udp UDP. */
static int
listen_all(struct dns_server *srv, int with_udp, char *err)
{
	const struct dns_server_config *cfg = &srv->cfg;
	size_t i;

	for (i = 0; i < cfg->nlisten && i < MAX_SOCKETS; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		int rc;

		srv->udp_fd[i] = -1;
		rc = parse_sockaddr(cfg->listen[i], &ss, &len, err) != 0 ||
		     open_tcp(srv, (struct sockaddr *)&ss, len, cfg->listen[i],
			      err) != 0 ||
		     (with_udp && open_udp(srv, (struct sockaddr *)&ss, len,
					   cfg->listen[i], err) != 0);
		srv->nsockets = i + 1;
		if (rc)
			return -1;
	}
	return 0;
}

int
dns_server_start(struct dns_server **out, struct event_base *base,
		 const struct dns_server_config *cfg, struct dns_view *view,
		 char *err)
{
	struct dns_server *srv = xcalloc(1, sizeof(*srv));

	srv->base = base;
	srv->cfg = *cfg;
	srv->ctx.view = view;
	srv->ctx.edns_buffer = cfg->edns_buffer;
	srv->ctx.edns_buffer_nocookie = cfg->edns_buffer_nocookie;
	srv->ctx.stats = &srv->stats;
	srv->keys = cfg->xfr ? xfr_keys(cfg->xfr) : NULL;
	if (cfg->workers == 0) /* else UDP is the workers' (their own) */
		srv->batch = xcalloc(1, sizeof(*srv->batch));
	srv->tcp_out = xmalloc(TCP_MSG_MAX + 2);
	if (setup_defences(srv, cfg, err) != 0) {
		dns_server_free(srv);
		return -1;
	}
	/* With workers, the sockets are all theirs (workers.c). */
	if (cfg->workers == 0 && listen_all(srv, 1, err) != 0) {
		dns_server_free(srv);
		return -1;
	}
	if (cfg->workers > 0) {
		if (srv->rrl != NULL) {
			pthread_mutex_init(&srv->rrl_mu, NULL);
			srv->rrl_lock = &srv->rrl_mu;
		}
		if (workers_start(&srv->workers, srv, view, err) != 0) {
			dns_server_free(srv);
			return -1;
		}
	}
	*out = srv;
	return 0;
}

struct dns_server *
dns_server_for_worker(struct dns_server *main, const struct replica *rep)
{
	struct dns_server *w = xcalloc(1, sizeof(*w));

	w->cfg = main->cfg;
	w->ctx = main->ctx;
	w->ctx.replica = rep;
	w->ctx.stats = &w->stats;
	w->keys = main->keys;
	w->cookies = main->cookies;
	w->rrl = main->rrl;
	w->rrl_lock = main->rrl_lock;
	w->tcp_shared_max = main->tcp_shared_max;
	htable_init(&w->tcp_peers);
	w->batch = xcalloc(1, sizeof(*w->batch));
	return w;
}

int
dns_server_serve_tcp(struct dns_server *srv, struct event_base *base,
		     char *err)
{
	srv->base = base;
	srv->tcp_out = xmalloc(TCP_MSG_MAX + 2);
	return listen_all(srv, 0, err);
}

/* Closes the connections, the listeners and the TCP state. */
static void
close_tcp(struct dns_server *srv)
{
	struct hnode *n, *next;
	size_t i;

	while (srv->conns != NULL)
		tcp_close(srv->conns);
	for (i = 0; i < srv->nsockets; i++)
		if (srv->tcp[i] != NULL) {
			evconnlistener_free(srv->tcp[i]);
			srv->tcp[i] = NULL;
		}
	for (n = htable_first(&srv->tcp_peers, &i); n != NULL; n = next) {
		next = htable_next(&srv->tcp_peers, n, &i);
		free(container_of(n, struct tcp_peer, node));
	}
	htable_free(&srv->tcp_peers);
	free(srv->tcp_out);
	srv->tcp_out = NULL;
}

void
dns_server_worker_free(struct dns_server *w)
{
	if (w == NULL)
		return;
	close_tcp(w);
	free(w->batch);
	free(w);
}

int
dns_server_reload_cookie_secret(struct dns_server *srv, char *err)
{
	int rc = cookie_secrets_load(&srv->cookies,
				     srv->cfg.cookie_secret_file, 1, err);

	if (rc == 1 && srv->workers != NULL)
		workers_cookies(srv->workers, &srv->cookies);
	return rc;
}

static void
metrics_traffic(struct evbuffer *out, const struct dns_stats *s)
{
	static const struct {
		unsigned rcode;
		const char *name;
	} rcodes[] = { { 0, "NOERROR" }, { 1, "FORMERR" }, { 2, "SERVFAIL" },
		       { 3, "NXDOMAIN" }, { 4, "NOTIMP" }, { 5, "REFUSED" },
		       { 9, "NOTAUTH" }, { 16, "BADVERS" },
		       { 23, "BADCOOKIE" } };
	size_t i;

	evbuffer_add_printf(out,
		"# HELP srvgate_dns_queries_total DNS queries received.\n"
		"# TYPE srvgate_dns_queries_total counter\n"
		"srvgate_dns_queries_total{transport=\"udp\"} %llu\n"
		"srvgate_dns_queries_total{transport=\"tcp\"} %llu\n"
		"# HELP srvgate_dns_dropped_total Queries dropped unanswered.\n"
		"# TYPE srvgate_dns_dropped_total counter\n"
		"srvgate_dns_dropped_total %llu\n"
		"# HELP srvgate_dns_truncated_total Answers sent with TC.\n"
		"# TYPE srvgate_dns_truncated_total counter\n"
		"srvgate_dns_truncated_total %llu\n"
		"# HELP srvgate_dns_responses_total Answers by rcode.\n"
		"# TYPE srvgate_dns_responses_total counter\n",
		(unsigned long long)s->udp, (unsigned long long)s->tcp,
		(unsigned long long)s->dropped,
		(unsigned long long)s->truncated);
	for (i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++)
		evbuffer_add_printf(out,
			"srvgate_dns_responses_total{rcode=\"%s\"} %llu\n",
			rcodes[i].name,
			(unsigned long long)s->rcodes[rcodes[i].rcode]);
}

void
dns_tcp_gauges(const struct dns_server *srv, struct tcp_gauges *g)
{
	g->stats = srv->tcp_stats;
	g->conns = srv->tcp_conns;
	g->addresses = srv->tcp_peers.count;
}

static void
metrics_tcp(struct evbuffer *out, const struct tcp_gauges *g)
{
	const struct tcp_stats *t = &g->stats;

	evbuffer_add_printf(out,
		"# HELP srvgate_dns_tcp_connections Open DNS TCP connections.\n"
		"# TYPE srvgate_dns_tcp_connections gauge\n"
		"srvgate_dns_tcp_connections %zu\n"
		"# HELP srvgate_dns_tcp_addresses Addresses holding DNS TCP "
		"connections.\n"
		"# TYPE srvgate_dns_tcp_addresses gauge\n"
		"srvgate_dns_tcp_addresses %zu\n"
		"# HELP srvgate_dns_tcp_refused_total Connections closed at "
		"once: their address held its share.\n"
		"# TYPE srvgate_dns_tcp_refused_total counter\n"
		"srvgate_dns_tcp_refused_total %llu\n"
		"# HELP srvgate_dns_tcp_timeouts_total Connections closed by "
		"a deadline: a message not finished in "
		"--dns-tcp-message-timeout, or no message in "
		"--dns-tcp-timeout.\n"
		"# TYPE srvgate_dns_tcp_timeouts_total counter\n"
		"srvgate_dns_tcp_timeouts_total{deadline=\"message\"} %llu\n"
		"srvgate_dns_tcp_timeouts_total{deadline=\"idle\"} %llu\n",
		(size_t)g->conns, (size_t)g->addresses,
		(unsigned long long)t->refused_address,
		(unsigned long long)t->message_timeouts,
		(unsigned long long)t->idle_timeouts);
}

static void
metrics_defences(struct evbuffer *out, struct dns_server *srv,
		 const uint64_t *cookie_seen)
{
	struct rrl_stats r = { 0, 0, 0 };
	size_t buckets = 0;

	if (srv->rrl_lock != NULL)
		pthread_mutex_lock(srv->rrl_lock);
	if (srv->rrl != NULL) {
		r = *rrl_stats(srv->rrl);
		buckets = rrl_size(srv->rrl);
	}
	if (srv->rrl_lock != NULL)
		pthread_mutex_unlock(srv->rrl_lock);

	evbuffer_add_printf(out,
		"# HELP srvgate_dns_rrl_limited_total UDP responses over "
		"--rrl-rate (dropped or slipped).\n"
		"# TYPE srvgate_dns_rrl_limited_total counter\n"
		"srvgate_dns_rrl_limited_total %llu\n"
		"# HELP srvgate_dns_rrl_slipped_total Limited responses sent "
		"truncated (or BADCOOKIE) instead.\n"
		"# TYPE srvgate_dns_rrl_slipped_total counter\n"
		"srvgate_dns_rrl_slipped_total %llu\n"
		"# HELP srvgate_dns_rrl_buckets Rate limiting buckets in use.\n"
		"# TYPE srvgate_dns_rrl_buckets gauge\n"
		"srvgate_dns_rrl_buckets %zu\n"
		"# HELP srvgate_dns_cookies_total Queries with a DNS cookie, by "
		"what their server cookie was.\n"
		"# TYPE srvgate_dns_cookies_total counter\n"
		"srvgate_dns_cookies_total{server_cookie=\"none\"} %llu\n"
		"srvgate_dns_cookies_total{server_cookie=\"invalid\"} %llu\n"
		"srvgate_dns_cookies_total{server_cookie=\"valid\"} %llu\n",
		(unsigned long long)r.limited, (unsigned long long)r.slipped,
		buckets, (unsigned long long)cookie_seen[COOKIE_CLIENT_ONLY],
		(unsigned long long)cookie_seen[COOKIE_INVALID],
		(unsigned long long)cookie_seen[COOKIE_VALID]);
}

void
dns_server_metrics(struct evbuffer *out, void *arg)
{
	struct dns_server *srv = arg;
	struct dns_stats total = srv->stats;
	uint64_t cookies[COOKIE_VALID + 1];
	struct tcp_gauges tcp;

	memcpy(cookies, srv->cookie_seen, sizeof(cookies));
	dns_tcp_gauges(srv, &tcp);
	if (srv->workers != NULL)
		workers_add_stats(srv->workers, &total, cookies, &tcp);
	metrics_traffic(out, &total);
	metrics_tcp(out, &tcp);
	metrics_defences(out, srv, cookies);
	if (srv->workers != NULL)
		workers_metrics(out, srv->workers);
}

void
dns_server_free(struct dns_server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	workers_stop(srv->workers);
	close_tcp(srv);
	for (i = 0; i < srv->nsockets; i++) {
		if (srv->udp_ev[i] != NULL)
			event_free(srv->udp_ev[i]);
		if (srv->udp_fd[i] >= 0)
			close(srv->udp_fd[i]);
	}
	rrl_free(srv->rrl);
	if (srv->rrl_lock != NULL)
		pthread_mutex_destroy(srv->rrl_lock);
	free(srv->batch);
	free(srv);
}
