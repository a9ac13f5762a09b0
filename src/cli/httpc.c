/* httpc.c -- a small blocking HTTP client on evhttp. */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct call {
	struct httpc_response *resp;
	int done;
	char *err;
	struct event_base *base;
};

static void
on_response(struct evhttp_request *req, void *arg)
{
	struct call *c = arg;
	struct evbuffer *in;
	const char *idx;
	size_t n;

	c->done = 1;
	/* The answer is whole: stop now, not when the kept-alive
	 * connection times out. */
	event_base_loopexit(c->base, NULL);
	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		fail(c->err, "no answer (the connection closed or timed out "
		     "before an answer came)");
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	n = evbuffer_get_length(in);
	c->resp->status = evhttp_request_get_response_code(req);
	c->resp->body = xmalloc(n + 1);
	evbuffer_remove(in, c->resp->body, n);
	c->resp->body[n] = '\0';
	idx = evhttp_find_header(evhttp_request_get_input_headers(req),
				 "X-Etcd-Index");
	c->resp->etcd_index = idx ? strtoull(idx, NULL, 10) : 0;
	idx = evhttp_find_header(evhttp_request_get_input_headers(req),
				 "X-Etcd-Cluster-Id");
	snprintf(c->resp->etcd_cluster_id, sizeof(c->resp->etcd_cluster_id),
		 "%s", idx ? idx : "");
}

static int
method_of(const char *m, enum evhttp_cmd_type *out)
{
	static const struct { const char *name; enum evhttp_cmd_type t; } ms[] = {
		{ "GET", EVHTTP_REQ_GET }, { "PUT", EVHTTP_REQ_PUT },
		{ "POST", EVHTTP_REQ_POST }, { "DELETE", EVHTTP_REQ_DELETE },
	};
	size_t i;

	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (strcmp(m, ms[i].name) == 0) {
			*out = ms[i].t;
			return 0;
		}
	return -1;
}

/* A TLS connection that checks the server's certificate against the
 * system's CA store (or cacert) and the host name. */
static struct evhttp_connection *
tls_connection(struct event_base *base, SSL_CTX **ctxp, const char *host,
	       int port, const char *cacert, char *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct bufferevent *bev;
	unsigned char ip[16];
	SSL *ssl;

	*ctxp = ctx;
	if (ctx == NULL) {
		fail(err, "cannot set up TLS");
		return NULL;
	}
	if ((cacert ? SSL_CTX_load_verify_locations(ctx, cacert, NULL) :
		      SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		fail(err, "cannot load CA certificates%s%s", cacert ? " from " :
		     "", cacert ? cacert : "");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	if (inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), host, 0);
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
					     BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE |
						     BEV_OPT_DEFER_CALLBACKS);
	return evhttp_connection_base_bufferevent_new(base, NULL, bev, host,
						      (ev_uint16_t)port);
}

/* The request's headers and body: Host, the bearer token, a form body. */
static struct evhttp_request *
new_request(struct call *c, const char *host, int port, const char *auth,
	    const char *body)
{
	struct evhttp_request *req = evhttp_request_new(on_response, c);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char buf[512];

	snprintf(buf, sizeof(buf), "%s:%d", host, port);
	evhttp_add_header(h, "Host", buf);
	if (auth != NULL && auth[0] != '\0') {
		snprintf(buf, sizeof(buf), "Bearer %s", auth);
		evhttp_add_header(h, "Authorization", buf);
	}
	if (body != NULL) {
		evhttp_add_header(h, "Content-Type",
				  "application/x-www-form-urlencoded");
		evbuffer_add(evhttp_request_get_output_buffer(req), body,
			     strlen(body));
	}
	return req;
}

/* Says what stands between us and host:port, if anything: a name that
 * does not resolve, a refused or unreachable connection, a timeout. The
 * client's errors name the reason, not only "no answer". Called after a
 * request failed (with connect set), so that a working request costs no
 * second connection; before it only to resolve the name. */
static int
diagnose(const char *host, int port, unsigned timeout_ms, int connect_too,
	 char *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char svc[16], addr[INET6_ADDRSTRLEN + 8];
	struct pollfd p;
	int fd, rc, soerr = 0;
	socklen_t len = sizeof(soerr);

	snprintf(svc, sizeof(svc), "%d", port);
	rc = getaddrinfo(host, svc, &hints, &ai);
	if (rc != 0)
		return fail(err, "cannot resolve '%s': %s", host,
			    gai_strerror(rc));
	if (!connect_too) {
		freeaddrinfo(ai);
		return 0;
	}
	format_addr(ai->ai_addr, addr, sizeof(addr));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(ai);
		return fail(err, "socket: %s", strerror(errno));
	}
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc != 0 && errno == EINPROGRESS) {
		p.fd = fd;
		p.events = POLLOUT;
		rc = poll(&p, 1, (int)timeout_ms);
		if (rc == 0)
			soerr = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
			soerr = errno;
	} else if (rc != 0) {
		soerr = errno;
	}
	close(fd);
	if (soerr != 0)
		return fail(err, "cannot connect to %s port %d: %s", addr, port,
			    strerror(soerr));
	return 0;
}

/* Checks the URL; fills the scheme, port and request target. */
static int
parse_target(const struct evhttp_uri *uri, const char *url, int *tls,
	     int *port, char *target, size_t len, char *err)
{
	const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
	const char *path, *query;

	if (uri == NULL || evhttp_uri_get_host(uri) == NULL || scheme == NULL ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		return fail(err, "'%s' is not an http:// or https:// URL", url);
	*tls = strcmp(scheme, "https") == 0;
	*port = evhttp_uri_get_port(uri);
	if (*port < 0)
		*port = *tls ? 443 : 80;
	path = evhttp_uri_get_path(uri);
	query = evhttp_uri_get_query(uri);
	snprintf(target, len, "%s%s%s", path && *path ? path : "/",
		 query ? "?" : "", query ? query : "");
	return 0;
}

int
httpc_request(const char *method, const char *url, const char *body,
	      const char *auth_token, const char *cacert, unsigned timeout_ms,
	      struct httpc_response *resp, char *err)
{
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	struct evhttp_connection *evcon = NULL;
	struct call c = { resp, 0, err, NULL };
	enum evhttp_cmd_type type;
	SSL_CTX *ctx = NULL;
	char target[4096];
	const char *host;
	int port = 0, tls = 0, rc = -1;

	memset(resp, 0, sizeof(*resp));
	if (parse_target(uri, url, &tls, &port, target, sizeof(target), err))
		goto out;
	if (method_of(method, &type) != 0) {
		fail(err, "unknown method %s", method);
		goto out;
	}
	host = evhttp_uri_get_host(uri);
	if (diagnose(host, port, timeout_ms, 0, err) != 0)
		goto out;
	c.base = event_base_new();
	if (c.base != NULL && tls)
		evcon = tls_connection(c.base, &ctx, host, port, cacert, err);
	else if (c.base != NULL)
		evcon = evhttp_connection_base_new(c.base, NULL, host,
						   (ev_uint16_t)port);
	if (evcon == NULL) {
		if (!tls)
			fail(err, "cannot set up a connection to %s", url);
		goto out;
	}
	evhttp_connection_set_timeout(evcon, (int)((timeout_ms + 999) / 1000));
	if (evhttp_make_request(evcon, new_request(&c, host, port, auth_token,
						   body),
				type, target) != 0) {
		fail(err, "cannot send the request to %s", url);
		goto out;
	}
	event_base_dispatch(c.base);
	rc = c.done && resp->body != NULL ? 0 : -1;
	if (rc != 0 && !tls && diagnose(host, port, timeout_ms, 1, err) == 0 &&
	    !c.done)
		fail(err, "no answer from %s", url);
	else if (rc != 0 && tls && ERR_peek_error() != 0)
		fail(err, "TLS with %s failed: %s", host,
		     ERR_reason_error_string(ERR_get_error()));
out:
	if (evcon != NULL)
		evhttp_connection_free(evcon);
	if (c.base != NULL)
		event_base_free(c.base);
	if (uri != NULL)
		evhttp_uri_free(uri);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	return rc;
}
