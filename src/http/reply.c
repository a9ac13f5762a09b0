/* reply.c -- answering HTTP requests: status lines, etcd's error bodies,
 * registry errors turned into status codes (in this one place), the admin
 * token, the rate limit, and request parameters. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "config.h"
#include "conn.h"
#include "http_internal.h"
#include "ratelimit.h"

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
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default: return "Status";
	}
}

void
http_send(struct http_api *api, struct evhttp_request *req, enum route route,
	  int code, const char *ctype, char *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	/* The body goes into the request's own output buffer, which evhttp
	 * sends after the headers: no buffer of our own per answer. */
	struct evbuffer *buf = evhttp_request_get_output_buffer(req);
	char idx[24];

	/* The index of what this server holds, all of it durable. */
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)api->reg->index);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "X-Etcd-Index", idx);
	evbuffer_add(buf, body, strlen(body));
	free(body);
	if (code >= 100 && code < 600)
		api->requests[route][code]++;
	conn_send_reply(api->conns, req, code, reason(code));
}

void
http_send_error(struct http_api *api, struct evhttp_request *req,
		enum route route, int code, enum etcd_error ecode,
		const char *message, const char *cause)
{
	http_send(api, req, route, code, HTTP_JSON,
		  etcdjson_error(ecode, message, cause, api->reg->index));
}

void
http_send_status(struct http_api *api, struct evhttp_request *req,
		 enum route route, const struct registry_result *res,
		 const char *cause)
{
	char why[512];

	snprintf(why, sizeof(why), "%s%s%s", cause ? cause : "",
		 res->error && cause ? ": " : "", res->error ? res->error : "");
	switch (res->status) {
	case REG_NOT_FOUND:
		http_send_error(api, req, route, 404, ETCD_KEY_NOT_FOUND,
				"Key not found", why);
		return;
	case REG_EXISTS:
		http_send_error(api, req, route, 412, ETCD_NODE_EXIST,
				"Key already exists", why);
		return;
	case REG_FULL:
		http_send_error(api, req, route, 403, ETCD_INVALID_FIELD,
				"Invalid field", why);
		return;
	case REG_CONFLICT:
		http_send_error(api, req, route, 409, ETCD_INVALID_FIELD,
				"Invalid field", why);
		return;
	case REG_NO_SPACE:
		http_send_error(api, req, route, 507, ETCD_RAFT_INTERNAL,
				"Insufficient Storage", why);
		return;
	case REG_UNAVAILABLE:
		http_send_error(api, req, route, 503, ETCD_RAFT_INTERNAL,
				"Raft Internal Error", why);
		return;
	case REG_STORE_FAILED:
		http_send_error(api, req, route, 500, ETCD_RAFT_INTERNAL,
				"Raft Internal Error", why);
		return;
	case REG_INVALID:
	case REG_OK:
	case REG_BUSY:
		break;
	}
	http_send_error(api, req, route, 400, ETCD_INVALID_FIELD,
			"Invalid field", why);
}

int
http_authorized(struct http_api *api, struct evhttp_request *req,
		enum route route)
{
	const char *want = api->cfg->admin_token, *got;
	size_t n = strlen(want);

	/* Closed unless configured: a server without a token has no one
	 * who may replace or delete what others registered. */
	if (want[0] == '\0') {
		http_send_error(api, req, route, 403, ETCD_UNAUTHORIZED,
				"Forbidden: start srvgate with --admin-token "
				"to use DELETE and /_admin/",
				"the admin API is off");
		return 0;
	}
	got = evhttp_find_header(evhttp_request_get_input_headers(req),
				 "Authorization");
	/* Constant time: the comparison must not tell how much matched. */
	if (got != NULL && strncmp(got, "Bearer ", 7) == 0 &&
	    strlen(got + 7) == n && CRYPTO_memcmp(got + 7, want, n) == 0)
		return 1;
	http_send_error(api, req, route, 401, ETCD_UNAUTHORIZED,
			"The request requires user authentication",
			"send Authorization: Bearer <admin token>");
	return 0;
}

void
http_log_change(const char *event, const char *token, const char *member,
		const char *client, const struct registry_result *res)
{
	char result[300];

	if (res->status == REG_OK)
		snprintf(result, sizeof(result), "ok");
	else
		snprintf(result, sizeof(result), "%s%s%s",
			 registry_status_name(res->status),
			 res->error ? ": " : "", res->error ? res->error : "");
	log_change(event, token, member, client, result);
}

const char *
http_client_addr(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *addr = NULL;
	ev_uint16_t port;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	return addr ? addr : "?";
}

int
http_rate_ok(struct http_api *api, struct evhttp_request *req,
	     enum route route)
{
	if (ratelimit_allow(api->limiter, http_client_addr(req),
			    now_monotonic_ms()))
		return 1;
	api->rate_limited++;
	http_send_error(api, req, route, 429, ETCD_RAFT_INTERNAL,
			"Too many requests",
			"rate limit for this client address; retry later");
	return 0;
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
