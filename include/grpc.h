/* grpc.h -- etcd's v3 API over gRPC (HTTP/2 with nghttp2), as much of it
 * as etcd 3.6+'s v3 discovery and etcdctl use: KV, Watch, and enough of
 * Maintenance and Cluster for `etcdctl endpoint status` and `member list`.
 * The keys are the registry's tokens and members (src/grpc/keyspace.h). */
#ifndef SRVGATE_GRPC_H
#define SRVGATE_GRPC_H

#include <stddef.h>

struct config;
struct evbuffer;
struct event_base;
struct grpc_api;
struct registry;
struct store;
struct tls;

/* Listens on every --grpc-listen address; with tls (NULL: none) every
 * connection is TLS with ALPN h2. */
int grpc_api_start(struct grpc_api **out, struct event_base *base,
		   const struct config *cfg, struct registry *reg,
		   struct store *st, struct tls *tls, char *err);
/* Stops accepting, sends GOAWAY on every connection and ends the watch
 * streams; calls under way finish, then the connections close. */
void grpc_api_drain(struct grpc_api *api);
size_t grpc_api_connections(const struct grpc_api *api);
/* SIGHUP: re-reads --users-file (logins end). */
void grpc_api_reload(struct grpc_api *api);
/* Prometheus text (a metrics_fn for http_api_add_metrics). */
void grpc_api_metrics(struct evbuffer *out, void *arg);
void grpc_api_free(struct grpc_api *api);
/* Reads --users-file once, before anything is opened (a bad file exits 2). */
int grpc_check_config(const struct config *cfg, char *err);

#endif
