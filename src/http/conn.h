/* http_conn.h -- accounting for evhttp's connections: a cap on how many are
 * open, and a deadline for each to send its next whole request, which
 * evhttp's per-read timeouts cannot give (a client sending one byte every
 * few seconds never trips them). */
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

struct conn_table *conn_table_new(struct event_base *base,
				  unsigned max_connections,
				  uint64_t idle_timeout_ms);
/* Makes evhttp create its connections through the table. */
void conn_table_attach(struct conn_table *ct, struct evhttp *http,
		       struct evconnlistener *listener);
/* A whole request arrived: its connection's deadline stops. */
void conn_request_started(struct conn_table *ct, struct evhttp_request *req);
/* Sends the answer; the deadline for the next request starts. */
void conn_send_reply(struct conn_table *ct, struct evhttp_request *req,
		     int code, const char *reason, struct evbuffer *body);
/* Shutting down: closes idle connections, and the others once answered. */
void conn_table_drain(struct conn_table *ct);
/* Logs the connections that are still open (a slow drain). */
void conn_table_log_open(const struct conn_table *ct);
size_t conn_table_count(const struct conn_table *ct);
uint64_t conn_table_refused(const struct conn_table *ct);
void conn_table_free(struct conn_table *ct);

#endif
