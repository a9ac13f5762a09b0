/* conn.h -- accounting for evhttp's connections: a cap on how many are
 * open, per client network and in all; a deadline for each to send its
 * next whole request, which evhttp's per-read timeouts cannot give (a
 * client sending one byte every few seconds never trips them); and
 * backpressure, so that a client that does not read its answers stops
 * being read. */
#ifndef SRVGATE_HTTP_CONN_H
#define SRVGATE_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct evconnlistener;
struct evhttp;
struct evhttp_request;
struct event_base;
struct conn_table;
struct share;

struct conn_limits {
	unsigned max_connections;
	unsigned max_per_address; /* per IPv4 address or IPv6 /64 */
	uint64_t idle_timeout_ms; /* to send the next whole request */
};

struct conn_stats {
	size_t open;		  /* connections */
	size_t held;		  /* waiting for their output to drain */
	size_t addresses;	  /* client networks with a connection or watch */
	uint64_t holds;		  /* times a connection waited so */
	uint64_t cap_reached;	  /* times --max-connections paused accepting */
	uint64_t refused_address; /* an address at its maximum */
	uint64_t refused_reserve; /* the reserved last slots */
};

struct tls;
/* tls: the server's TLS context, or NULL for plain HTTP. */
struct conn_table *conn_table_new(struct event_base *base,
				  const struct conn_limits *lim,
				  struct tls *tls);
/* Makes evhttp create its connections through the table. */
void conn_table_attach(struct conn_table *ct, struct evhttp *http,
		       struct evconnlistener *listener);
/* A whole request arrived: its connection's deadline stops. -1 when the
 * connection was refused a place (answer 503 and close). */
int conn_request_started(struct conn_table *ct, struct evhttp_request *req);
/* The counts of the client network that sent req (watches are counted
 * there too), or NULL when not known. */
struct share *conn_share(struct conn_table *ct, struct evhttp_request *req);
/* Sends the answer, whose body the caller has put in the request's own
 * output buffer; the deadline for the next request starts. */
void conn_send_reply(struct conn_table *ct, struct evhttp_request *req,
		     int code, const char *reason);
/* Shutting down: closes idle connections, and the others once answered. */
void conn_table_drain(struct conn_table *ct);
/* Logs the connections that are still open (a slow drain). */
void conn_table_log_open(const struct conn_table *ct);
size_t conn_table_count(const struct conn_table *ct);
void conn_table_stats(const struct conn_table *ct, struct conn_stats *out);
void conn_table_free(struct conn_table *ct);

#endif
