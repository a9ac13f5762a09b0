/* dns_server.h -- DNS over UDP and TCP (RFC 7766) on the event loop. */
#ifndef SRVGATE_DNS_SERVER_H
#define SRVGATE_DNS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util.h"

struct event_base;
struct evbuffer;
struct dns_view;
struct dns_server;
struct dns_answer_ctx;
struct dns_query;

/* Answers a zone transfer query that came over TCP (see xfr.h). */
typedef void (*dns_xfr_fn)(void *arg, const uint8_t *pkt, size_t len,
			   const struct dns_query *q,
			   const struct sockaddr *peer, struct evbuffer *out);

struct dns_server_config {
	const char (*listen)[256]; /* HOST:PORT each, UDP and TCP */
	size_t nlisten;
	uint16_t edns_buffer;
	uint64_t tcp_idle_ms;	   /* a TCP client must send within this */
	unsigned tcp_max_connections;
	dns_xfr_fn xfr;
	void *xfr_arg; /* also given to answer_signed */
	size_t (*answer_signed)(void *arg, const struct dns_answer_ctx *ctx,
				const uint8_t *pkt, size_t len,
				const struct dns_query *q, uint8_t *out,
				size_t cap, int over_tcp);
};

int dns_server_start(struct dns_server **out, struct event_base *base,
		     const struct dns_server_config *cfg,
		     const struct dns_view *view, char *err);
/* Prometheus text for /metrics. */
void dns_server_metrics(struct evbuffer *out, void *server);
/* Stops listening; open TCP connections are closed. */
void dns_server_free(struct dns_server *srv);

#endif
