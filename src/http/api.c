/* http_api.c -- etcd's v2 discovery protocol over evhttp.
 *
 * Each request goes one way: route it, check it, change or read the
 * registry, then answer once storage says every change so far is on disk.
 * Answering reads behind the commit barrier too means nobody sees a
 * registration that a crash could take back.
 */
#include "http_api.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "etcdjson.h"
#include "conn.h"
#include "http_internal.h"
#include "keypath.h"
#include "peers.h"
#include "listener.h"
#include "ratelimit.h"
#include "registry.h"
#include "storage.h"
#include "watch.h"

static const char *route_names[R_COUNT] = {
	"new", "token", "member", "config", "watch", "health", "metrics",
	"admin", "other",
};

/* An answer waiting for the commit barrier. */
struct reply {
	struct http_api *api;
	struct evhttp_request *req;
	enum route route;
	int code;
	const char *ctype;
	char *body;
	uint64_t index; /* X-Etcd-Index as of when the body was made */
};

const char *const HTTP_JSON = "application/json";
const char *const HTTP_TEXT = "text/plain; charset=utf-8";

static const char *
reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 412: return "Precondition Failed";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

void
http_send_now(struct http_api *api, struct evhttp_request *req,
	      enum route route, int code, const char *ctype, char *body,
	      uint64_t index)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();
	char idx[24];

	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)index);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "X-Etcd-Index", idx);
	evbuffer_add(buf, body, strlen(body));
	free(body);
	if (code >= 100 && code < 600)
		api->requests[route][code]++;
	conn_send_reply(api->conns, req, code, reason(code), buf);
	evbuffer_free(buf);
}

static void
on_commit(int ok, void *arg)
{
	struct reply *r = arg;

	if (!ok) {
		free(r->body);
		r->code = 500;
		r->ctype = HTTP_JSON;
		r->body = etcdjson_error(ETCD_RAFT_INTERNAL,
					 "Raft Internal Error",
					 "storage commit failed", r->index);
	}
	http_send_now(r->api, r->req, r->route, r->code, r->ctype, r->body,
		      r->index);
	free(r);
}

/* Answers once everything done so far is durable. */
void
http_respond(struct http_api *api, struct evhttp_request *req, enum route route,
	     int code, const char *ctype, char *body)
{
	struct reply *r = xmalloc(sizeof(*r));

	*r = (struct reply){ api, req, route, code, ctype, body,
			     api->reg->index };
	storage_after_commit(api->st, on_commit, r);
}

void
http_respond_error(struct http_api *api, struct evhttp_request *req,
		   enum route route, int code, enum etcd_error ecode,
		   const char *message, const char *cause)
{
	http_send_now(api, req, route, code, HTTP_JSON,
		      etcdjson_error(ecode, message, cause, api->reg->index),
		      api->reg->index);
}

static void
watch_send(void *arg, struct evhttp_request *req, int code, char *body)
{
	struct http_api *api = arg;

	http_send_now(api, req, R_WATCH, code, HTTP_JSON, body, api->reg->index);
}

/* ---- request parameters ---- */


void
http_params_read(struct evhttp_request *req, struct params *p)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);

	TAILQ_INIT(&p->query);
	TAILQ_INIT(&p->form);
	if (q != NULL)
		evhttp_parse_query_str(q, &p->query);
	if (n > 0) {
		char *body = xmalloc(n + 1);

		evbuffer_copyout(in, body, n);
		body[n] = '\0';
		evhttp_parse_query_str(body, &p->form);
		free(body);
	}
}

void
http_params_clear(struct params *p)
{
	evhttp_clear_headers(&p->query);
	evhttp_clear_headers(&p->form);
}

/* A form field wins over the same query parameter, as in etcd. */
const char *
http_param(const struct params *p, const char *name)
{
	const char *v = evhttp_find_header(&p->form, name);

	return v ? v : evhttp_find_header(&p->query, name);
}

int
http_param_true(const struct params *p, const char *name)
{
	const char *v = http_param(p, name);

	return v != NULL && strcmp(v, "true") == 0;
}

static const char *
client_addr(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *addr = NULL;
	ev_uint16_t port;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	return addr ? addr : "?";
}

static int
rate_limited(struct http_api *api, struct evhttp_request *req,
	     enum route route)
{
	if (ratelimit_allow(api->limiter, client_addr(req),
			    now_monotonic_ms()))
		return 0;
	api->rate_limited++;
	http_respond_error(api, req, route, 429, ETCD_RAFT_INTERNAL,
			   "Too many requests",
			   "rate limit for this client address; retry later");
	return 1;
}

/* ---- /new ---- */

static void
handle_new(struct http_api *api, struct evhttp_request *req,
	   const struct params *p)
{
	const char *sz = http_param(p, "size");
	uint64_t size = 3;
	unsigned char raw[16];
	char name[33], msg[128];
	int i, tries;

	if (sz != NULL && parse_uint(sz, 1, api->cfg->max_size, &size) != 0) {
		snprintf(msg, sizeof(msg),
			 "size must be a whole number from 1 to %u\n",
			 api->cfg->max_size);
		http_send_now(api, req, R_NEW, 400, HTTP_TEXT, xstrdup(msg),
			      api->reg->index);
		return;
	}
	if (rate_limited(api, req, R_NEW))
		return;
	for (tries = 0; tries < 8; tries++) {
		if (random_bytes(raw, sizeof(raw)) != 0)
			break;
		for (i = 0; i < 16; i++)
			snprintf(name + 2 * i, 3, "%02x", raw[i]);
		if (registry_create_token(api->reg, name, (unsigned)size,
					  now_unix(), NULL) == REG_OK) {
			char *url = xmalloc(strlen(api->cfg->public_url) + 40);

			sprintf(url, "%s/%s", api->cfg->public_url, name);
			http_respond(api, req, R_NEW, 200, HTTP_TEXT, url);
			return;
		}
	}
	http_send_now(api, req, R_NEW, 500, HTTP_TEXT,
		      xstrdup("cannot make a token: no randomness\n"),
		      api->reg->index);
}

/* ---- GET ---- */

/* The event a watch gets from what the registry still holds. */
static char *
history_event(const struct token *tok, const struct watch_match *m)
{
	if (m->deleted)
		return etcdjson_member_deleted(tok->name, m->node, m->index);
	return etcdjson_member(etcdjson_action_name(m->action), tok->name,
			       m->node, NULL);
}

static void
handle_watch(struct http_api *api, struct evhttp_request *req,
	     const struct params *p, const struct keypath *kp,
	     const struct token *tok)
{
	const char *wi = http_param(p, "waitIndex");
	const char *member = kp->kind == KEY_MEMBER ? kp->member : NULL;
	int recursive = kp->kind == KEY_TOKEN && http_param_true(p, "recursive");
	struct watch_match m;
	uint64_t since = 0;

	if (wi != NULL && parse_uint(wi, 0, UINT64_MAX / 2, &since) != 0) {
		http_respond_error(api, req, R_WATCH, 400, ETCD_INDEX_NAN,
				   "The given index in POST form is not a number",
				   "waitIndex");
		return;
	}
	if (since == 0)
		since = api->reg->index + 1;
	if (member != NULL || recursive) {
		switch (registry_watch_history(tok, member, since, &m)) {
		case WATCH_FOUND:
			http_respond(api, req, R_WATCH, 200, HTTP_JSON,
				     history_event(tok, &m));
			return;
		case WATCH_CLEARED:
			/* etcd sends error 401 with HTTP status 400 */
			http_respond_error(api, req, R_WATCH, 400,
					   ETCD_EVENT_INDEX_CLEARED,
					   "The event in requested index is "
					   "outdated and cleared",
					   "the requested history has been "
					   "cleared");
			return;
		case WATCH_WAIT:
			break;
		}
	}
	watch_hub_add(api->watches, req, tok->name, member, recursive, since);
}

static void
handle_get(struct http_api *api, struct evhttp_request *req,
	   const struct params *p, const struct keypath *kp,
	   const struct token *tok)
{
	const struct member *m;

	if (http_param_true(p, "wait")) {
		handle_watch(api, req, p, kp, tok);
		return;
	}
	switch (kp->kind) {
	case KEY_TOKEN:
		http_respond(api, req, R_TOKEN, 200, HTTP_JSON,
			     http_param_true(p, "pretty") ?
			     etcdjson_token_dir(tok, 1) :
			     listing_cache_get(api->listings, tok));
		return;
	case KEY_CONFIG_DIR:
		http_respond(api, req, R_CONFIG, 200, HTTP_JSON,
			     etcdjson_config_dir(tok));
		return;
	case KEY_SIZE:
		http_respond(api, req, R_CONFIG, 200, HTTP_JSON, etcdjson_size(tok));
		return;
	case KEY_MEMBER:
		m = token_find_member(tok, kp->member);
		if (m == NULL)
			http_respond_error(api, req, R_MEMBER, 404,
					   ETCD_KEY_NOT_FOUND, "Key not found",
					   kp->member);
		else
			http_respond(api, req, R_MEMBER, 200, HTTP_JSON,
				     etcdjson_member("get", tok->name, m, NULL));
		return;
	}
}

/* ---- PUT ---- */

static int
put_mode(const struct params *p, enum put_mode *mode)
{
	const char *pe = http_param(p, "prevExist");

	if (pe == NULL)
		*mode = PUT_SET;
	else if (strcmp(pe, "false") == 0)
		*mode = PUT_CREATE;
	else if (strcmp(pe, "true") == 0)
		*mode = PUT_UPDATE;
	else
		return -1;
	return 0;
}

static void
put_failed(struct http_api *api, struct evhttp_request *req,
	   enum registry_status rs, const struct keypath *kp)
{
	char cause[256];

	switch (rs) {
	case REG_EXISTS:
		snprintf(cause, sizeof(cause), "%s%s/%s", KEYPATH_KEY_PREFIX,
			 kp->token, kp->member);
		http_respond_error(api, req, R_MEMBER, 412, ETCD_NODE_EXIST,
				   "Key already exists", cause);
		return;
	case REG_NOT_FOUND:
		http_respond_error(api, req, R_MEMBER, 404, ETCD_KEY_NOT_FOUND,
				   "Key not found", kp->member);
		return;
	case REG_FULL:
		snprintf(cause, sizeof(cause),
			 "token holds %u members, the most allowed",
			 api->cfg->max_members);
		http_respond_error(api, req, R_MEMBER, 403, ETCD_INVALID_FIELD,
				   "Invalid field", cause);
		return;
	default:
		http_respond_error(api, req, R_MEMBER, 400, ETCD_INVALID_FIELD,
				   "Invalid field", "bad member id");
		return;
	}
}

static void
handle_put(struct http_api *api, struct evhttp_request *req,
	   const struct params *p, const struct keypath *kp,
	   struct token *tok)
{
	struct peer_url peers[PEERS_MAX];
	const char *value = http_param(p, "value");
	const struct member *m, *old;
	struct member prev;
	enum registry_status rs;
	enum put_mode mode;
	errbuf_t err;
	int existed;

	if (kp->kind != KEY_MEMBER) {
		http_respond_error(api, req, R_CONFIG, 403, ETCD_ROOT_READ_ONLY,
				   "Key is read only", "only member keys are "
				   "written; /new makes tokens");
		return;
	}
	if (value == NULL) {
		http_respond_error(api, req, R_MEMBER, 400, ETCD_VALUE_REQUIRED,
				   "Value is Required in POST form", "value");
		return;
	}
	if (put_mode(p, &mode) != 0) {
		http_respond_error(api, req, R_MEMBER, 400, ETCD_INVALID_FIELD,
				   "Invalid field", "prevExist must be true or "
				   "false");
		return;
	}
	if (peers_parse(value, peers, PEERS_MAX, err) < 0) {
		http_respond_error(api, req, R_MEMBER, 400, ETCD_INVALID_FIELD,
				   "Invalid field", err);
		return;
	}
	if (rate_limited(api, req, R_MEMBER))
		return;
	old = token_find_member(tok, kp->member);
	existed = old != NULL;
	if (existed) {
		prev = *old;
		prev.value = xstrdup(old->value);
	}
	rs = registry_put_member(api->reg, tok, kp->member, value, mode, &m);
	if (rs != REG_OK)
		put_failed(api, req, rs, kp);
	else
		http_respond(api, req, R_MEMBER, existed ? 200 : 201, HTTP_JSON,
			     etcdjson_member(etcdjson_action_name(m->action),
					tok->name, m, existed ? &prev : NULL));
	if (existed)
		free(prev.value);
}

/* ---- DELETE ---- */

int
http_authorized(struct http_api *api, struct evhttp_request *req,
		enum route route)
{
	const char *want = api->cfg->admin_token, *got;

	if (want[0] == '\0')
		return 1;
	got = evhttp_find_header(evhttp_request_get_input_headers(req),
				 "Authorization");
	if (got != NULL && strncmp(got, "Bearer ", 7) == 0 &&
	    strcmp(got + 7, want) == 0)
		return 1;
	http_respond_error(api, req, route, 401, ETCD_UNAUTHORIZED,
			   "The request requires user authentication",
			   "send Authorization: Bearer <admin token>");
	return 0;
}

static void
handle_delete(struct http_api *api, struct evhttp_request *req,
	      const struct keypath *kp, struct token *tok)
{
	enum route route = kp->kind == KEY_MEMBER ? R_MEMBER : R_TOKEN;
	struct member prev;
	const struct member *m;

	if (!http_authorized(api, req, route))
		return;
	if (kp->kind == KEY_TOKEN) {
		char *body = etcdjson_token_deleted(tok, api->reg->index + 1);

		registry_delete_token(api->reg, kp->token);
		http_respond(api, req, route, 200, HTTP_JSON, body);
		return;
	}
	if (kp->kind != KEY_MEMBER) {
		http_respond_error(api, req, R_CONFIG, 403, ETCD_ROOT_READ_ONLY,
				   "Key is read only", "_config is kept with the "
				   "token");
		return;
	}
	m = token_find_member(tok, kp->member);
	if (m == NULL) {
		http_respond_error(api, req, route, 404, ETCD_KEY_NOT_FOUND,
				   "Key not found", kp->member);
		return;
	}
	prev = *m;
	prev.value = xstrdup(m->value);
	registry_delete_member(api->reg, tok, kp->member);
	http_respond(api, req, route, 200, HTTP_JSON,
		     etcdjson_member_deleted(tok->name, &prev, api->reg->index));
	free(prev.value);
}

/* ---- the key space ---- */

static void
handle_key(struct http_api *api, struct evhttp_request *req,
	   const char *path)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	enum route route;
	struct keypath kp;
	struct token *tok;
	struct params p;
	errbuf_t err;

	if (keypath_parse(path, &kp, err) != 0) {
		http_respond_error(api, req, R_OTHER, 404, ETCD_KEY_NOT_FOUND,
				   "Key not found", err);
		return;
	}
	route = kp.kind == KEY_MEMBER ? R_MEMBER :
		kp.kind == KEY_TOKEN ? R_TOKEN : R_CONFIG;
	tok = registry_find_token(api->reg, kp.token);
	if (tok == NULL) {
		http_respond_error(api, req, route, 404, ETCD_KEY_NOT_FOUND,
				   "Key not found", "no such discovery token");
		return;
	}
	http_params_read(req, &p);
	if (method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD)
		handle_get(api, req, &p, &kp, tok);
	else if (method == EVHTTP_REQ_PUT)
		handle_put(api, req, &p, &kp, tok);
	else if (method == EVHTTP_REQ_DELETE)
		handle_delete(api, req, &kp, tok);
	else
		http_respond_error(api, req, route, 405, ETCD_INVALID_FORM,
				   "Method Not Allowed", "use GET, PUT or DELETE");
	http_params_clear(&p);
}

/* ---- /health and /metrics ---- */

struct probe {
	struct http_api *api;
	struct evhttp_request *req;
};

static void
on_probe(int ok, void *arg)
{
	struct probe *pr = arg;

	http_send_now(pr->api, pr->req, R_HEALTH, ok ? 200 : 503, HTTP_TEXT,
		      xstrdup(ok ? "OK" : "storage is not writable\n"),
		      pr->api->reg->index);
	free(pr);
}

static void
handle_health(struct http_api *api, struct evhttp_request *req)
{
	struct probe *pr = xmalloc(sizeof(*pr));

	pr->api = api;
	pr->req = req;
	storage_probe(api->st, on_probe, pr);
}

static void
metrics_storage(struct evbuffer *out, const struct storage_stats *s)
{
	size_t i;

	evbuffer_add_printf(out,
		"# HELP srvgate_storage_commits_total LMDB commits.\n"
		"# TYPE srvgate_storage_commits_total counter\n"
		"srvgate_storage_commits_total %llu\n"
		"# HELP srvgate_storage_commit_failures_total Failed commits.\n"
		"# TYPE srvgate_storage_commit_failures_total counter\n"
		"srvgate_storage_commit_failures_total %llu\n"
		"# HELP srvgate_storage_writes_total Records written.\n"
		"# TYPE srvgate_storage_writes_total counter\n"
		"srvgate_storage_writes_total %llu\n"
		"# HELP srvgate_storage_commit_seconds Commit latency.\n"
		"# TYPE srvgate_storage_commit_seconds histogram\n",
		(unsigned long long)s->commits,
		(unsigned long long)s->failures,
		(unsigned long long)s->ops);
	for (i = 0; i < STORAGE_LATENCY_BUCKETS; i++)
		evbuffer_add_printf(out,
			"srvgate_storage_commit_seconds_bucket{le=\"%g\"} %llu\n",
			storage_latency_bounds[i],
			(unsigned long long)s->latency_le[i]);
	evbuffer_add_printf(out,
		"srvgate_storage_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
		"srvgate_storage_commit_seconds_sum %.6f\n"
		"srvgate_storage_commit_seconds_count %llu\n",
		(unsigned long long)s->commits, s->latency_sum,
		(unsigned long long)s->commits);
}

static void
metrics_requests(struct evbuffer *out, const struct http_api *api)
{
	int r, code;

	evbuffer_add_printf(out,
		"# HELP srvgate_http_requests_total Answered requests.\n"
		"# TYPE srvgate_http_requests_total counter\n");
	for (r = 0; r < R_COUNT; r++)
		for (code = 100; code < 600; code++)
			if (api->requests[r][code] > 0)
				evbuffer_add_printf(out,
					"srvgate_http_requests_total{route=\"%s\","
					"code=\"%d\"} %llu\n",
					route_names[r], code,
					(unsigned long long)api->requests[r][code]);
}

static void
handle_metrics(struct http_api *api, struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();
	size_t i, n;
	char *body;

	evbuffer_add_printf(out,
		"# HELP srvgate_tokens Discovery tokens.\n"
		"# TYPE srvgate_tokens gauge\nsrvgate_tokens %zu\n"
		"# HELP srvgate_members Registered members.\n"
		"# TYPE srvgate_members gauge\nsrvgate_members %zu\n"
		"# HELP srvgate_index The store-wide etcd index.\n"
		"# TYPE srvgate_index gauge\nsrvgate_index %llu\n"
		"# HELP srvgate_watches_open Watches waiting for a change.\n"
		"# TYPE srvgate_watches_open gauge\nsrvgate_watches_open %zu\n"
		"# HELP srvgate_http_connections Open HTTP connections.\n"
		"# TYPE srvgate_http_connections gauge\n"
		"srvgate_http_connections %zu\n"
		"# HELP srvgate_http_connection_cap_reached_total Times the "
		"connection cap paused accepting.\n"
		"# TYPE srvgate_http_connection_cap_reached_total counter\n"
		"srvgate_http_connection_cap_reached_total %llu\n"
		"# HELP srvgate_http_rate_limited_total Requests refused by "
		"the rate limit.\n"
		"# TYPE srvgate_http_rate_limited_total counter\n"
		"srvgate_http_rate_limited_total %llu\n",
		api->reg->ntokens, api->reg->nmembers,
		(unsigned long long)api->reg->index,
		watch_hub_count(api->watches), conn_table_count(api->conns),
		(unsigned long long)conn_table_refused(api->conns),
		(unsigned long long)api->rate_limited);
	metrics_requests(out, api);
	metrics_storage(out, storage_stats(api->st));
	for (i = 0; i < api->nhooks; i++)
		api->hooks[i].fn(out, api->hooks[i].arg);
	n = evbuffer_get_length(out);
	body = xmalloc(n + 1);
	evbuffer_remove(out, body, n);
	body[n] = '\0';
	evbuffer_free(out);
	http_send_now(api, req, R_METRICS, 200, "text/plain; version=0.0.4", body,
		      api->reg->index);
}

void
http_api_add_metrics(struct http_api *api, metrics_fn fn, void *arg)
{
	if (api->nhooks < MAX_METRICS_HOOKS) {
		api->hooks[api->nhooks].fn = fn;
		api->hooks[api->nhooks].arg = arg;
		api->nhooks++;
	}
}

/* ---- dispatch ---- */

static const char ROOT_TEXT[] =
	"srvgate: a self-hosted etcd discovery service.\n"
	"GET|POST /new?size=N   make a discovery URL\n"
	"GET /<token>           list its members\n"
	"GET /health, /metrics\n";

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http_api *api = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct params p;

	conn_request_started(api->conns, req);
	if (api->draining) {
		/* etcd retries a 5xx after a pause, by then on the new server;
		 * answering a watch would only make it poll again at once. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Connection", "close");
		http_respond_error(api, req, R_OTHER, 503, ETCD_RAFT_INTERNAL,
				   "Raft Internal Error",
				   "srvgate is shutting down");
		return;
	}
	if (path == NULL || path[0] == '\0')
		path = "/";
	if (strcmp(path, "/new") == 0 || strcmp(path, "/new/") == 0) {
		http_params_read(req, &p);
		handle_new(api, req, &p);
		http_params_clear(&p);
	} else if (strcmp(path, "/health") == 0) {
		handle_health(api, req);
	} else if (strcmp(path, "/metrics") == 0) {
		handle_metrics(api, req);
	} else if (strncmp(path, "/_admin/", 8) == 0) {
		http_admin_handle(api, req, path);
	} else if (strcmp(path, "/") == 0) {
		http_send_now(api, req, R_OTHER, 200, HTTP_TEXT, xstrdup(ROOT_TEXT),
			      api->reg->index);
	} else if (strcmp(path, "/robots.txt") == 0) {
		http_send_now(api, req, R_OTHER, 200, HTTP_TEXT,
			      xstrdup("User-agent: *\nDisallow: /\n"),
			      api->reg->index);
	} else if (method == EVHTTP_REQ_POST) {
		http_respond_error(api, req, R_OTHER, 405, ETCD_INVALID_FORM,
				   "Method Not Allowed", "use GET, PUT or DELETE");
	} else {
		handle_key(api, req, path);
	}
}

static int
bind_http(struct http_api *api, char *err)
{
	struct sockaddr_storage ss;
	struct evconnlistener *l;
	socklen_t len;

	if (parse_sockaddr(api->cfg->http_listen, &ss, &len, err) != 0)
		return -1;
	l = evconnlistener_new_bind(api->base, NULL, NULL,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					    LEV_OPT_CLOSE_ON_EXEC,
				    1024, (struct sockaddr *)&ss, (int)len);
	if (l == NULL)
		return fail(err, "cannot listen on %s: %s",
			    api->cfg->http_listen,
			    evutil_socket_error_to_string(
				    EVUTIL_SOCKET_ERROR()));
	listener_pause_on_error(l);
	api->bound = evhttp_bind_listener(api->http, l);
	conn_table_attach(api->conns, api->http, l);
	return 0;
}

int
http_api_start(struct http_api **out, struct event_base *base,
	       const struct config *cfg, struct registry *reg,
	       struct storage *st, char *err)
{
	struct http_api *api = xcalloc(1, sizeof(*api));
	struct timeval io = timeval_from_ms(cfg->io_timeout_ms);

	api->base = base;
	api->cfg = cfg;
	api->reg = reg;
	api->st = st;
	api->http = evhttp_new(base);
	api->conns = conn_table_new(base, cfg->max_connections,
				    cfg->idle_timeout_ms);
	api->limiter = ratelimit_new(cfg->rate_limit, cfg->rate_burst);
	api->listings = listing_cache_new(reg);
	api->watches = watch_hub_new(base, reg, st, cfg->watch_timeout_ms,
				     watch_send, api);
	if (api->http == NULL || api->watches == NULL ||
	    api->listings == NULL) {
		http_api_free(api);
		return fail(err, "cannot set up the HTTP server");
	}
	evhttp_set_max_body_size(api->http, (ev_ssize_t)cfg->max_body_bytes);
	evhttp_set_max_headers_size(api->http,
				    (ev_ssize_t)cfg->max_header_bytes);
	if (cfg->io_timeout_ms > 0)
		evhttp_set_timeout_tv(api->http, &io);
	evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
				   EVHTTP_REQ_HEAD);
	evhttp_set_gencb(api->http, on_request, api);
	if (bind_http(api, err) != 0) {
		http_api_free(api);
		return -1;
	}
	*out = api;
	return 0;
}

void
http_api_drain(struct http_api *api)
{
	if (api->bound != NULL) {
		evhttp_del_accept_socket(api->http, api->bound);
		api->bound = NULL;
	}
	api->draining = 1;
	watch_hub_end_all(api->watches);
	conn_table_drain(api->conns);
}

void
http_api_log_open(const struct http_api *api)
{
	conn_table_log_open(api->conns);
}

size_t
http_api_connections(const struct http_api *api)
{
	return conn_table_count(api->conns);
}

void
http_api_free(struct http_api *api)
{
	if (api == NULL)
		return;
	if (api->watches != NULL)
		watch_hub_end_all(api->watches);
	if (api->http != NULL)
		evhttp_free(api->http);
	watch_hub_free(api->watches);
	listing_cache_free(api->listings);
	conn_table_free(api->conns);
	ratelimit_free(api->limiter);
	free(api);
}
