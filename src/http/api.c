/* api.c -- the HTTP front end: routing and lifecycle. What each route
 * does is in v2.c (etcd's protocol), admin.c (/_admin/) and metrics.c
 * (/health, /metrics); reply.c answers. */
#include "http_api.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "http_internal.h"
#include "listener.h"
#include "ratelimit.h"
#include "watch.h"

static const char ROOT_TEXT[] =
	"srvgate: a self-hosted etcd discovery service.\n"
	"GET|POST /new?size=N   make a discovery URL\n"
	"GET /<token>           list its members\n"
	"GET /health, /metrics\n";

static void
send_text(struct http_api *api, struct evhttp_request *req, const char *text)
{
	http_send(api, req, R_OTHER, 200, HTTP_TEXT, xstrdup(text));
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http_api *api = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type method = evhttp_request_get_command(req);

	if (conn_request_started(api->conns, req) != 0) {
		/* Its address was refused a place; the socket is shut. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Connection", "close");
		http_send_error(api, req, R_OTHER, 503, ETCD_RAFT_INTERNAL,
				"Raft Internal Error",
				"too many connections from this address");
		return;
	}
	if (api->draining) {
		/* etcd retries a 5xx after a pause, by then on the new server;
		 * answering a watch would only make it poll again at once. */
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Connection", "close");
		http_send_error(api, req, R_OTHER, 503, ETCD_RAFT_INTERNAL,
				"Raft Internal Error",
				"srvgate is shutting down");
		return;
	}
	if (path == NULL || path[0] == '\0')
		path = "/";
	if (strcmp(path, "/new") == 0 || strcmp(path, "/new/") == 0)
		http_v2_new(api, req);
	else if (strcmp(path, "/health") == 0)
		http_health(api, req);
	else if (strcmp(path, "/metrics") == 0)
		http_metrics(api, req);
	else if (strncmp(path, "/_admin/", 8) == 0)
		http_admin_handle(api, req, path);
	else if (strcmp(path, "/") == 0)
		send_text(api, req, ROOT_TEXT);
	else if (strcmp(path, "/robots.txt") == 0)
		send_text(api, req, "User-agent: *\nDisallow: /\n");
	else if (method == EVHTTP_REQ_POST)
		http_send_error(api, req, R_OTHER, 405, ETCD_INVALID_FORM,
				"Method Not Allowed", "use GET, PUT or DELETE");
	else
		http_v2_key(api, req, path);
}

static int
is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *v4 = (const void *)ss;
	const struct sockaddr_in6 *v6 = (const void *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

/* Without a token the admin API is closed, but anyone who reaches a
 * public listener can still make tokens and register: say so. */
static void
warn_if_open(const struct http_api *api, const struct sockaddr_storage *ss)
{
	if (is_loopback(ss) || api->cfg->admin_token[0] != '\0')
		return;
	log_warn("http: listening on %s, which is not loopback, without "
		 "--admin-token: /_admin/ and DELETE answer 403, and anyone "
		 "who reaches it can make tokens and register members; set "
		 "--admin-token and keep the port behind a firewall",
		 api->cfg->http_listen);
}

static int
bind_http(struct http_api *api, char *err)
{
	struct sockaddr_storage ss;
	struct evconnlistener *l;
	socklen_t len;

	if (parse_sockaddr(api->cfg->http_listen, &ss, &len, err) != 0)
		return -1;
	warn_if_open(api, &ss);
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

static void
watch_send(void *arg, struct evhttp_request *req, int code, char *body)
{
	http_send(arg, req, R_WATCH, code, HTTP_JSON, body);
}

int
http_api_start(struct http_api **out, struct event_base *base,
	       const struct config *cfg, struct registry *reg,
	       struct store *st, struct tls *tls, char *err)
{
	struct http_api *api = xcalloc(1, sizeof(*api));
	struct timeval io = timeval_from_ms(cfg->io_timeout_ms);

	api->base = base;
	api->cfg = cfg;
	api->reg = reg;
	api->st = st;
	/* Here, not in store_etcd_config, as no write comes before the HTTP
	 * API (gRPC and GC start after it); server.c then need not change. */
	store_set_max_txn_ops(st, cfg->etcd_max_txn_ops);
	api->http = evhttp_new(base);
	api->conns = conn_table_new(base, &(struct conn_limits){
		cfg->max_connections, cfg->max_connections_per_address,
		cfg->idle_timeout_ms }, tls);
	api->limiter = ratelimit_new(&(struct ratelimit_config){
		cfg->rate_limit, cfg->rate_burst, cfg->rate_limit_ipv4_prefix,
		cfg->rate_limit_ipv6_prefix, 65536 });
	api->listings = listing_cache_new(reg);
	api->watches = watch_hub_new(base, reg, cfg->watch_timeout_ms,
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
