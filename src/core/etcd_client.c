/* etcd_client.c -- etcd's JSON gateway over libevent's HTTP client (see
 * etcd_client.h).
 *
 * A unary call takes an idle connection of the current endpoint or opens
 * one; a stream has a connection of its own. A TLS connection is kept for
 * reuse too (a handshake per call was most of etcd's cost per Txn), but
 * taken again only while it is still connected: evhttp cannot connect a
 * TLS bufferevent anew once the server has closed it. evhttp frees a connection's
 * requests without calling them back, and a connection may not be freed
 * from inside its own callback: so every call is on a list, a dropped
 * endpoint fails its calls from a deferred event, and connections are
 * freed from that event too (the graveyard).
 */
#include "etcd_client.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define IDLE_MAX 64 /* idle connections kept for reuse */
/* An idle connection older than this is closed, not used: a proxy or
 * load balancer between us and etcd may have dropped it, and a call on
 * it would fail (etcd itself keeps idle connections). */
#define IDLE_MAX_MS 20000
#define GRAVE_MAX 512 /* freed each loop turn; bounds one turn's drops */

struct endpoint {
	char url[256];
	char host[256];
	int port;
	int tls;
};

struct call {
	struct etcd_client *c;
	struct evhttp_connection *conn;
	etcd_reply_fn fn;
	void *arg;
	unsigned epoch;
	char err[200]; /* set when failed from the flush event */
	struct call *prev, *next;
};

struct etcd_stream {
	struct etcd_client *c;
	struct evhttp_connection *conn;
	struct evbuffer *line;
	etcd_msg_fn on_msg;
	etcd_end_fn on_end;
	void *arg;
	int closed;
};

struct etcd_client {
	struct event_base *base;
	struct endpoint eps[ETCD_MAX_ENDPOINTS];
	size_t neps, cur;
	unsigned epoch;
	SSL_CTX *ssl;
	char user[128], password[128];
	char token[512]; /* from Authenticate; "" when none */
	struct call *calls;  /* outstanding */
	struct call *failed; /* to be told from the flush event */
	struct evhttp_connection *idle[IDLE_MAX];
	uint64_t idle_since_ms[IDLE_MAX];
	size_t nidle;
	struct evhttp_connection *grave[GRAVE_MAX];
	size_t ngrave;
	struct etcd_stream *dead_streams[GRAVE_MAX];
	size_t ndead;
	struct event *flush_ev;
	int answer_code; /* of the reply being delivered; 0: none */
	uint64_t opened; /* connections opened (etcd_client_opened) */
};

/* ---- JSON helpers ---- */

char *
etcd_b64(const void *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

char *
etcd_unb64(const char *s, size_t *len)
{
	size_t n = strlen(s), pad = 0;
	char *out;
	int got;

	if (n % 4 != 0)
		return NULL;
	while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
		pad++;
	out = xmalloc(n / 4 * 3 + 1);
	got = n ? EVP_DecodeBlock((unsigned char *)out,
				  (const unsigned char *)s, (int)n) : 0;
	if (got < 0 || (size_t)got < pad) {
		free(out);
		return NULL;
	}
	got -= (int)pad;
	out[got] = '\0';
	if (len != NULL)
		*len = (size_t)got;
	return out;
}

uint64_t
etcd_u64(const json_t *o, const char *field)
{
	json_t *v = json_object_get(o, field);

	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	if (json_is_integer(v) && json_integer_value(v) > 0)
		return (uint64_t)json_integer_value(v);
	return 0;
}

uint64_t
etcd_header_revision(const json_t *reply)
{
	return etcd_u64(json_object_get(reply, "header"), "revision");
}

/* ---- connections ---- */

static void flush_cb(evutil_socket_t fd, short what, void *arg);

static void
bury(struct etcd_client *c, struct evhttp_connection *conn)
{
	if (conn == NULL)
		return;
	if (c->ngrave == GRAVE_MAX) {
		/* Never reached in practice: the flush runs every turn. */
		log_warn("etcd: connection graveyard full");
		return;
	}
	c->grave[c->ngrave++] = conn;
	event_active(c->flush_ev, 0, 0);
}

static struct evhttp_connection *
conn_new(struct etcd_client *c)
{
	const struct endpoint *ep = &c->eps[c->cur];
	struct bufferevent *bev = NULL;
	struct evhttp_connection *conn;

	if (ep->tls) {
		SSL *ssl = SSL_new(c->ssl);

		if (ssl == NULL)
			return NULL;
		SSL_set_tlsext_host_name(ssl, ep->host);
		bev = bufferevent_openssl_socket_new(
			c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
			BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (bev == NULL)
			return NULL;
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	conn = evhttp_connection_base_bufferevent_new(c->base, NULL, bev,
						      ep->host,
						      (unsigned short)ep->port);
	if (conn == NULL)
		return NULL;
	evhttp_connection_set_retries(conn, 0);
	c->opened++;
	return conn;
}

/* An idle connection to use again, or NULL. A closed TLS one goes, and
 * so does one idle for longer than IDLE_MAX_MS. */
static struct evhttp_connection *
conn_idle(struct etcd_client *c)
{
	uint64_t now = now_monotonic_ms();

	while (c->nidle > 0) {
		struct evhttp_connection *conn = c->idle[--c->nidle];

		if (now - c->idle_since_ms[c->nidle] <= IDLE_MAX_MS &&
		    (!c->eps[c->cur].tls ||
		     bufferevent_getfd(evhttp_connection_get_bufferevent(conn))
			     >= 0))
			return conn;
		bury(c, conn);
	}
	return NULL;
}

uint64_t
etcd_client_opened(const struct etcd_client *c)
{
	return c->opened;
}

static struct evhttp_request *
request_new(struct etcd_client *c, void (*cb)(struct evhttp_request *, void *),
	    void *arg, json_t *body)
{
	struct evhttp_request *req = evhttp_request_new(cb, arg);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char *text = json_dumps(body, JSON_COMPACT);

	evhttp_add_header(h, "Host", c->eps[c->cur].host);
	evhttp_add_header(h, "Content-Type", "application/json");
	/* No answers from a member cut off from the leader: stale data. */
	evhttp_add_header(h, "Grpc-Metadata-hasleader", "true");
	if (c->token[0] != '\0')
		evhttp_add_header(h, "Authorization", c->token);
	evbuffer_add(evhttp_request_get_output_buffer(req), text,
		     strlen(text));
	free(text);
	json_decref(body);
	return req;
}

/* ---- unary calls ---- */

static void
unlink_call(struct call **head, struct call *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		*head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	k->prev = k->next = NULL;
}

static void
push_call(struct call **head, struct call *k)
{
	k->prev = NULL;
	k->next = *head;
	if (*head)
		(*head)->prev = k;
	*head = k;
}

/* etcd's error, or the HTTP status, for a reply that is not a result. */
static void
reply_error(struct evhttp_request *req, json_t *body, char *err, size_t len)
{
	const char *msg = json_string_value(json_object_get(body, "error"));

	if (msg == NULL)
		msg = json_string_value(json_object_get(body, "message"));
	if (msg != NULL)
		snprintf(err, len, "%s", msg);
	else
		snprintf(err, len, "HTTP %d %s",
			 evhttp_request_get_response_code(req),
			 evhttp_request_get_response_code_line(req) ?
				 evhttp_request_get_response_code_line(req) :
				 "");
}

static void
call_done(struct evhttp_request *req, void *arg)
{
	struct call *k = arg;
	struct etcd_client *c = k->c;
	json_t *body = NULL;
	char err[256] = "";
	int code = req ? evhttp_request_get_response_code(req) : 0;
	int reuse = 0;

	unlink_call(&c->calls, k);
	if (code == 0) {
		snprintf(err, sizeof(err), "%s: no answer (connection "
			 "refused, reset or timed out)", c->eps[c->cur].url);
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);

		body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0,
				  NULL);
		if (code != 200 || body == NULL) {
			reply_error(req, body, err, sizeof(err));
			json_decref(body);
			body = NULL;
		}
		reuse = code == 200;
	}
	c->answer_code = code;
	k->fn(k->arg, body, body ? NULL : err);
	c->answer_code = 0;
	json_decref(body);
	if (reuse && k->epoch == c->epoch && c->nidle < IDLE_MAX) {
		c->idle_since_ms[c->nidle] = now_monotonic_ms();
		c->idle[c->nidle++] = k->conn;
	}
	else
		bury(c, k->conn);
	free(k);
}

void
etcd_call(struct etcd_client *c, const char *path, json_t *req,
	  unsigned timeout_ms, etcd_reply_fn fn, void *arg)
{
	struct call *k = xcalloc(1, sizeof(*k));
	struct evhttp_request *r;

	k->c = c;
	k->fn = fn;
	k->arg = arg;
	k->epoch = c->epoch;
	k->conn = conn_idle(c);
	if (k->conn == NULL)
		k->conn = conn_new(c);
	if (k->conn == NULL) {
		json_decref(req);
		snprintf(k->err, sizeof(k->err), "%s: cannot open a "
			 "connection", c->eps[c->cur].url);
		push_call(&c->failed, k);
		event_active(c->flush_ev, 0, 0);
		return;
	}
	evhttp_connection_set_timeout(k->conn,
				      (int)((timeout_ms + 999) / 1000));
	push_call(&c->calls, k);
	r = request_new(c, call_done, k, req);
	if (evhttp_make_request(k->conn, r, EVHTTP_REQ_POST, path) != 0) {
		/* evhttp freed r; the call fails from the flush event. */
		unlink_call(&c->calls, k);
		snprintf(k->err, sizeof(k->err), "%s: request not sent",
			 c->eps[c->cur].url);
		push_call(&c->failed, k);
		event_active(c->flush_ev, 0, 0);
	}
}

/* ---- streams ---- */

static void
stream_chunk(struct evhttp_request *req, void *arg)
{
	struct etcd_stream *s = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	char *line;
	size_t n;

	evbuffer_add_buffer(s->line, in);
	while (!s->closed &&
	       (line = evbuffer_readln(s->line, &n, EVBUFFER_EOL_LF))) {
		json_t *msg = json_loadb(line, n, 0, NULL);

		free(line);
		if (msg != NULL) {
			s->on_msg(s->arg, msg);
			json_decref(msg);
		}
	}
}

static void
stream_done(struct evhttp_request *req, void *arg)
{
	struct etcd_stream *s = arg;
	char err[256] = "closed by the server";
	int code = req ? evhttp_request_get_response_code(req) : 0;

	if (s->closed)
		return;
	if (code == 0)
		snprintf(err, sizeof(err), "%s: stream broken",
			 s->c->eps[s->c->cur].url);
	else if (code != 200)
		reply_error(req, NULL, err, sizeof(err));
	else if (req != NULL)
		stream_chunk(req, s); /* what came with the end */
	if (s->closed)
		return;
	s->closed = 1;
	s->on_end(s->arg, err);
	etcd_stream_close(s);
}

struct etcd_stream *
etcd_stream_open(struct etcd_client *c, const char *path, json_t *req,
		 etcd_msg_fn on_msg, etcd_end_fn on_end, void *arg)
{
	struct etcd_stream *s = xcalloc(1, sizeof(*s));
	struct evhttp_request *r;

	s->c = c;
	s->on_msg = on_msg;
	s->on_end = on_end;
	s->arg = arg;
	s->line = evbuffer_new();
	s->conn = conn_new(c);
	if (s->conn == NULL) {
		json_decref(req);
		evbuffer_free(s->line);
		free(s);
		return NULL;
	}
	/* A watch may be quiet for hours: no read timeout (the store's
	 * pings notice a dead endpoint). */
	evhttp_connection_set_timeout(s->conn, 24 * 3600);
	r = request_new(c, stream_done, s, req);
	evhttp_request_set_chunked_cb(r, stream_chunk);
	if (evhttp_make_request(s->conn, r, EVHTTP_REQ_POST, path) != 0) {
		evhttp_connection_free(s->conn);
		evbuffer_free(s->line);
		free(s);
		return NULL;
	}
	return s;
}

void
etcd_stream_close(struct etcd_stream *s)
{
	struct etcd_client *c;

	if (s == NULL)
		return;
	c = s->c;
	s->closed = 1;
	if (c->ndead < GRAVE_MAX) {
		c->dead_streams[c->ndead++] = s;
		event_active(c->flush_ev, 0, 0);
	}
}

static void
stream_free(struct etcd_stream *s)
{
	evhttp_connection_free(s->conn);
	evbuffer_free(s->line);
	free(s);
}

/* ---- the flush event: failed calls, dead connections ---- */

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_client *c = arg;
	struct call *k;

	(void)fd;
	(void)what;
	while (c->ndead > 0)
		stream_free(c->dead_streams[--c->ndead]);
	while (c->ngrave > 0)
		evhttp_connection_free(c->grave[--c->ngrave]);
	while ((k = c->failed) != NULL) {
		unlink_call(&c->failed, k);
		k->fn(k->arg, NULL, k->err);
		if (k->conn)
			bury(c, k->conn);
		free(k);
	}
}

void
etcd_client_next(struct etcd_client *c)
{
	struct call *k;

	while ((k = c->calls) != NULL) {
		unlink_call(&c->calls, k);
		snprintf(k->err, sizeof(k->err), "%s: dropped",
			 c->eps[c->cur].url);
		/* Freed now: evhttp frees its request without a callback. */
		evhttp_connection_free(k->conn);
		k->conn = NULL;
		push_call(&c->failed, k);
	}
	while (c->nidle > 0)
		bury(c, c->idle[--c->nidle]);
	c->epoch++;
	c->cur = (c->cur + 1) % c->neps;
	event_active(c->flush_ev, 0, 0);
}

int
etcd_call_status(const struct etcd_client *c)
{
	return c->answer_code;
}

const char *
etcd_client_endpoint(const struct etcd_client *c)
{
	return c->eps[c->cur].url;
}

/* ---- login ---- */

struct login {
	struct etcd_client *c;
	etcd_reply_fn fn;
	void *arg;
};

static void
login_done(void *arg, json_t *body, const char *err)
{
	struct login *l = arg;
	const char *tok = json_string_value(json_object_get(body, "token"));

	if (body != NULL && tok == NULL)
		err = "authenticate: no token in the answer";
	if (tok != NULL)
		snprintf(l->c->token, sizeof(l->c->token), "%s", tok);
	l->fn(l->arg, tok ? body : NULL, tok ? NULL : err);
	free(l);
}

void
etcd_client_login(struct etcd_client *c, etcd_reply_fn fn, void *arg)
{
	struct login *l;

	if (c->user[0] == '\0' || c->token[0] != '\0') {
		fn(arg, NULL, NULL);
		return;
	}
	l = xmalloc(sizeof(*l));
	l->c = c;
	l->fn = fn;
	l->arg = arg;
	etcd_call(c, "/v3/auth/authenticate",
		  json_pack("{s:s, s:s}", "name", c->user, "password",
			    c->password),
		  5000, login_done, l);
}

void
etcd_client_logout(struct etcd_client *c)
{
	c->token[0] = '\0';
}

/* ---- setup ---- */

static int
parse_endpoint(struct endpoint *ep, const char *url, char *err)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
	const char *host = u ? evhttp_uri_get_host(u) : NULL;
	int rc = 0;

	if (u == NULL || scheme == NULL || host == NULL ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		rc = fail(err, "--etcd-endpoints: '%s' is not an http:// or "
			  "https:// URL", url);
	else {
		snprintf(ep->url, sizeof(ep->url), "%s", url);
		snprintf(ep->host, sizeof(ep->host), "%s", host);
		ep->tls = strcmp(scheme, "https") == 0;
		ep->port = evhttp_uri_get_port(u);
		if (ep->port <= 0)
			ep->port = 2379;
	}
	if (u)
		evhttp_uri_free(u);
	return rc;
}

static int
parse_endpoints(struct etcd_client *c, const char *list, char *err)
{
	char buf[4096], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (c->neps == ETCD_MAX_ENDPOINTS)
			return fail(err, "--etcd-endpoints: at most %d URLs",
				    ETCD_MAX_ENDPOINTS);
		if (parse_endpoint(&c->eps[c->neps], tok, err) != 0)
			return -1;
		c->neps++;
	}
	if (c->neps == 0)
		return fail(err, "--etcd-endpoints: no URL");
	return 0;
}

static int
tls_setup(struct etcd_client *c, const struct etcd_client_config *cfg,
	  char *err)
{
	c->ssl = SSL_CTX_new(TLS_client_method());
	if (c->ssl == NULL)
		return fail(err, "etcd: cannot make a TLS context");
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	if (cfg->cacert && cfg->cacert[0]) {
		if (SSL_CTX_load_verify_locations(c->ssl, cfg->cacert,
						  NULL) != 1)
			return fail(err, "--etcd-cacert %s: cannot load",
				    cfg->cacert);
	} else {
		SSL_CTX_set_default_verify_paths(c->ssl);
	}
	if (cfg->cert && cfg->cert[0] &&
	    (SSL_CTX_use_certificate_chain_file(c->ssl, cfg->cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(c->ssl, cfg->key && cfg->key[0] ?
					 cfg->key : cfg->cert,
					 SSL_FILETYPE_PEM) != 1))
		return fail(err, "--etcd-cert %s / --etcd-key: cannot load",
			    cfg->cert);
	return 0;
}

int
etcd_client_new(struct etcd_client **out, struct event_base *base,
		const struct etcd_client_config *cfg, char *err)
{
	struct etcd_client *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->flush_ev = event_new(base, -1, 0, flush_cb, c);
	snprintf(c->user, sizeof(c->user), "%s", cfg->user ? cfg->user : "");
	snprintf(c->password, sizeof(c->password), "%s",
		 cfg->password ? cfg->password : "");
	if (parse_endpoints(c, cfg->endpoints, err) != 0 ||
	    tls_setup(c, cfg, err) != 0) {
		etcd_client_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void
etcd_client_free(struct etcd_client *c)
{
	struct call *k;

	if (c == NULL)
		return;
	while ((k = c->calls) != NULL) {
		unlink_call(&c->calls, k);
		evhttp_connection_free(k->conn);
		k->conn = NULL;
		snprintf(k->err, sizeof(k->err), "shutting down");
		push_call(&c->failed, k);
	}
	while (c->nidle > 0)
		bury(c, c->idle[--c->nidle]);
	flush_cb(-1, 0, c);
	event_free(c->flush_ev);
	if (c->ssl)
		SSL_CTX_free(c->ssl);
	free(c);
}
