/* etcd_client.h -- a small client of etcd's JSON gateway (grpc-gateway on
 * the client port, /v3/...), over libevent's HTTP client: unary calls
 * (range, txn, auth, lease) and streams (watch, lease keepalive) whose
 * messages arrive one JSON object a line. The store (store_etcd.c) is its
 * only user; see there for why the JSON gateway.
 *
 * Endpoints are tried in turn: the client talks to one at a time and the
 * caller moves it on (etcd_client_next) when that one fails.
 */
#ifndef SRVGATE_ETCD_CLIENT_H
#define SRVGATE_ETCD_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_MAX_ENDPOINTS 16

struct event_base;
struct etcd_client;
struct etcd_stream;

struct etcd_client_config {
	const char *endpoints; /* URL[,URL...]: http:// or https:// */
	const char *cacert, *cert, *key; /* PEM files; "" for none */
	const char *user, *password;	 /* "" for no login */
};

/* A unary call's answer: body is the decoded JSON reply (the caller's
 * only during the call), or NULL with err saying why (transport, HTTP
 * status, or etcd's own error message). */
typedef void (*etcd_reply_fn)(void *arg, json_t *body, const char *err);
/* One message of a stream; at its end (err NULL: the server closed it). */
typedef void (*etcd_msg_fn)(void *arg, json_t *msg);
typedef void (*etcd_end_fn)(void *arg, const char *err);

int etcd_client_new(struct etcd_client **out, struct event_base *base,
		    const struct etcd_client_config *cfg, char *err);
void etcd_client_free(struct etcd_client *c);
/* Connections opened so far (unary calls reuse idle ones). */
uint64_t etcd_client_opened(const struct etcd_client *c);
/* The endpoint in use, as given. */
const char *etcd_client_endpoint(const struct etcd_client *c);
/* Drops every connection (open calls fail) and moves to the next one. */
void etcd_client_next(struct etcd_client *c);
/* Forgets the login token (etcd said it is invalid): the next login()
 * asks for a fresh one. */
void etcd_client_logout(struct etcd_client *c);
/* Logs in when a user is set (fn gets body NULL, err NULL otherwise). */
void etcd_client_login(struct etcd_client *c, etcd_reply_fn fn, void *arg);

/* POSTs req (consumed) to path. */
void etcd_call(struct etcd_client *c, const char *path, json_t *req,
	       unsigned timeout_ms, etcd_reply_fn fn, void *arg);
/* Inside a reply callback: the HTTP status etcd answered with (an error
 * body gives 400 for a request etcd refuses, 5xx when it cannot serve);
 * 0 when nothing answered (refused, reset, timed out, dropped). */
int etcd_call_status(const struct etcd_client *c);
struct etcd_stream *etcd_stream_open(struct etcd_client *c, const char *path,
				     json_t *req, etcd_msg_fn on_msg,
				     etcd_end_fn on_end, void *arg);
/* Closes a stream; its end callback is not called. */
void etcd_stream_close(struct etcd_stream *s);

/* ---- JSON helpers (grpc-gateway's encoding) ---- */

/* base64 of n bytes, malloc'd. */
char *etcd_b64(const void *p, size_t n);
/* Decodes base64 into a malloc'd NUL-terminated buffer; NULL if bad. */
char *etcd_unb64(const char *s, size_t *len);
/* An int64 field (grpc-gateway writes them as strings); 0 if absent. */
uint64_t etcd_u64(const json_t *o, const char *field);
/* The header.revision of a reply; 0 if absent. */
uint64_t etcd_header_revision(const json_t *reply);

#endif
