/* http_api.h -- etcd's v2 discovery protocol over evhttp, plus /new,
 * /health and /metrics. */
#ifndef SRVGATE_HTTP_API_H
#define SRVGATE_HTTP_API_H

#include <stddef.h>

#include "util.h"

struct config;
struct evbuffer;
struct event_base;
struct http_api;
struct registry;
struct store;
struct tls;

/* Extra Prometheus text from other modules (the DNS server, say). */
typedef void (*metrics_fn)(struct evbuffer *out, void *arg);

/* tls: serve HTTPS with it (--tls-cert), or NULL for plain HTTP. */
int http_api_start(struct http_api **out, struct event_base *base,
		   const struct config *cfg, struct registry *reg,
		   struct store *st, struct tls *tls, char *err);
void http_api_add_metrics(struct http_api *api, metrics_fn fn, void *arg);
/* Stops accepting and answers open watches; requests under way finish. */
void http_api_drain(struct http_api *api);
size_t http_api_connections(const struct http_api *api);
void http_api_log_open(const struct http_api *api);
void http_api_free(struct http_api *api);

#endif
