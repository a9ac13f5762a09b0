/* http_internal.h -- what the HTTP front end's files share: the server
 * state and the ways to answer. Not for use outside src/http/. */
#ifndef SRVGATE_HTTP_INTERNAL_H
#define SRVGATE_HTTP_INTERNAL_H

#include <event2/keyvalq_struct.h>
#include <stdint.h>

#include "etcdjson.h"
#include "http_api.h"
#include "registry.h"

struct evhttp_request;
struct store;

enum route {
	R_NEW, R_TOKEN, R_MEMBER, R_CONFIG, R_WATCH, R_HEALTH, R_METRICS,
	R_ADMIN, R_OTHER, R_COUNT
};

#define MAX_METRICS_HOOKS 4

struct http_api {
	struct event_base *base;
	const struct config *cfg;
	struct registry *reg;
	struct store *st;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct conn_table *conns;
	struct watch_hub *watches;
	struct ratelimit *limiter;
	struct listing_cache *listings;
	uint64_t requests[R_COUNT][600]; /* by route and status code */
	uint64_t rate_limited;
	uint64_t watches_refused; /* an address held its maximum */
	int draining; /* shutting down: new requests get 503 */
	struct { metrics_fn fn; void *arg; } hooks[MAX_METRICS_HOOKS];
	size_t nhooks;
};

extern const char *const HTTP_JSON;
extern const char *const HTTP_TEXT;

/* ---- reply.c: answering ---- */

/* Answers now; body is malloc'd and taken over. */
void http_send(struct http_api *api, struct evhttp_request *req,
	       enum route route, int code, const char *ctype, char *body);
void http_send_error(struct http_api *api, struct evhttp_request *req,
		     enum route route, int code, enum etcd_error ecode,
		     const char *message, const char *cause);
/* The answer to a registry error, chosen in this one place. cause says
 * what failed; a store error adds the store's own words. */
void http_send_status(struct http_api *api, struct evhttp_request *req,
		      enum route route, const struct registry_result *res,
		      const char *cause);
/* 1 when the request carries the admin token; otherwise it has been
 * answered 401, or 403 when the server has no --admin-token. */
int http_authorized(struct http_api *api, struct evhttp_request *req,
		    enum route route);
/* 1 when the client may write now; otherwise it has been answered 429. */
int http_rate_ok(struct http_api *api, struct evhttp_request *req,
		 enum route route);
const char *http_client_addr(struct evhttp_request *req);
/* The state-change log line of a write (log_change), its result taken
 * from res. */
void http_log_change(const char *event, const char *token,
		     const char *member, const char *client,
		     const struct registry_result *res);

/* Query and form parameters; a form field wins over the query. */
struct params {
	struct evkeyvalq query;
	struct evkeyvalq form;
};
void http_params_read(struct evhttp_request *req, struct params *p);
void http_params_clear(struct params *p);
const char *http_param(const struct params *p, const char *name);
int http_param_true(const struct params *p, const char *name);

/* ---- v2.c: etcd's v2 discovery protocol and /new ---- */
void http_v2_new(struct http_api *api, struct evhttp_request *req);
void http_v2_key(struct http_api *api, struct evhttp_request *req,
		 const char *path);

/* ---- admin.c: /_admin/, the migration tools' API ---- */
void http_admin_handle(struct http_api *api, struct evhttp_request *req,
		       const char *path);

/* ---- metrics.c: /health and /metrics ---- */
void http_health(struct http_api *api, struct evhttp_request *req);
void http_metrics(struct http_api *api, struct evhttp_request *req);

/* ---- cache.c: token listings as JSON, rendered once per change ---- */
struct listing_cache *listing_cache_new(struct registry *reg);
/* A malloc'd copy of the listing. */
char *listing_cache_get(struct listing_cache *c, const struct token *tok);
void listing_cache_free(struct listing_cache *c);

#endif
