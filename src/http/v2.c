/* v2.c -- etcd's v2 discovery protocol (see the reference facts A1-A3):
 * /new, listings, the size key, member GET/PUT/DELETE and long polls.
 *
 * Reads answer from the registry at once: it holds only what is durable.
 * Writes become registry requests and are answered when the store has
 * settled them, with the indexes the commit gave them.
 */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "http_internal.h"
#include "keypath.h"
#include "peers.h"
#include "shares.h"
#include "watch.h"

#define NEW_TRIES 8 /* names drawn before /new gives up */

/* One write on its way through the registry. */
struct v2_write {
	struct registry_request rr;
	struct http_api *api;
	struct evhttp_request *req;
	enum route route;
	char client[64]; /* for the log, kept: the client may be gone */
	char token[REGISTRY_NAME_MAX + 1];
	char id[REGISTRY_NAME_MAX + 1];
	char *value;
	enum put_mode mode;
	unsigned size;	 /* /new */
	int tries;	 /* /new */
	int existed;	 /* the member was there when planned */
	struct member prev; /* as it was then (value is a copy) */
	uint64_t token_created; /* a deleted token's createdIndex */
};

static struct v2_write *
write_new(struct http_api *api, struct evhttp_request *req, enum route route,
	  registry_plan_fn plan, registry_done_fn done)
{
	struct v2_write *w = xcalloc(1, sizeof(*w));

	w->rr.plan = plan;
	w->rr.done = done;
	w->rr.arg = w;
	w->api = api;
	w->req = req;
	w->route = route;
	snprintf(w->client, sizeof(w->client), "%s", http_client_addr(req));
	return w;
}

static void
write_free(struct v2_write *w)
{
	free(w->value);
	free(w->prev.value);
	free(w);
}

/* Notes the member as it is before the change, for prevNode. */
static void
remember_prev(struct registry *reg, struct v2_write *w)
{
	const struct token *tok = registry_find_token(reg, w->token);
	const struct member *m = tok ? token_find_member(tok, w->id) : NULL;

	free(w->prev.value);
	memset(&w->prev, 0, sizeof(w->prev));
	w->existed = m != NULL;
	if (m == NULL)
		return;
	w->prev = *m;
	w->prev.id = w->id; /* the same name; m may go before the answer */
	w->prev.value = xstrdup(m->value);
	w->prev.clients = NULL;
}

/* The member a committed change describes, as etcd reports nodes. */
static struct member
member_of(const struct change *c)
{
	struct member m;

	memset(&m, 0, sizeof(m));
	m.id = c->name;
	m.value = c->value;
	m.created_index = c->created_index ? c->created_index : c->index;
	m.modified_index = c->index;
	m.action = c->action;
	return m;
}

/* ---- /new ---- */

static enum registry_status
plan_new(struct registry *reg, struct registry_request *rr,
	 struct proposal *p)
{
	struct v2_write *w = rr->arg;
	unsigned char raw[16];
	int i;

	if (random_bytes(raw, sizeof(raw)) != 0)
		return REG_STORE_FAILED;
	for (i = 0; i < 16; i++)
		snprintf(w->token + 2 * i, 3, "%02x", raw[i]);
	return plan_token_create(reg, p, w->token, w->size, now_unix());
}

static void
new_done(struct registry_request *rr, const struct registry_result *res)
{
	struct v2_write *w = rr->arg;
	struct http_api *api = w->api;
	char *url;

	if (res->status == REG_EXISTS && ++w->tries < NEW_TRIES) {
		registry_submit(api->reg, &w->rr); /* another name */
		return;
	}
	http_log_change("new", w->token, NULL, w->client, res);
	if (res->status != REG_OK) {
		http_send_status(api, w->req, R_NEW, res, "cannot make a token");
	} else {
		url = xmalloc(strlen(api->cfg->public_url) + 40);
		sprintf(url, "%s/%s", api->cfg->public_url, w->token);
		http_send(api, w->req, R_NEW, 200, HTTP_TEXT, url);
	}
	write_free(w);
}

void
http_v2_new(struct http_api *api, struct evhttp_request *req)
{
	struct params p;
	const char *sz;
	uint64_t size = 3;
	char msg[128];
	struct v2_write *w;

	http_params_read(req, &p);
	sz = http_param(&p, "size");
	if (sz != NULL && parse_uint(sz, 1, api->cfg->max_size, &size) != 0) {
		snprintf(msg, sizeof(msg),
			 "size must be a whole number from 1 to %u\n",
			 api->cfg->max_size);
		http_send(api, req, R_NEW, 400, HTTP_TEXT, xstrdup(msg));
	} else if (http_rate_ok(api, req, R_NEW)) {
		w = write_new(api, req, R_NEW, plan_new, new_done);
		w->size = (unsigned)size;
		registry_submit(api->reg, &w->rr);
	}
	http_params_clear(&p);
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

/* Holds the watch, unless its client's network holds its maximum: then
 * a 503, which etcd's client retries after a pause. */
static void
watch_hold(struct http_api *api, struct evhttp_request *req,
	   const struct token *tok, const char *member, int recursive,
	   uint64_t since)
{
	struct share *owner = conn_share(api->conns, req);

	if (owner != NULL &&
	    owner->watches >= api->cfg->max_watches_per_address) {
		api->watches_refused++;
		http_send_error(api, req, R_WATCH, 503, ETCD_RAFT_INTERNAL,
				"Raft Internal Error",
				"this address holds --max-watches-per-address "
				"open watches; retry later");
		return;
	}
	watch_hub_add(api->watches, req, tok->name, member, recursive, since,
		      owner);
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
		http_send_error(api, req, R_WATCH, 400, ETCD_INDEX_NAN,
				"The given index in POST form is not a number",
				"waitIndex");
		return;
	}
	if (since == 0)
		since = api->reg->index + 1;
	if (member != NULL || recursive) {
		switch (registry_watch_history(tok, member, since, &m)) {
		case WATCH_FOUND:
			http_send(api, req, R_WATCH, 200, HTTP_JSON,
				  history_event(tok, &m));
			return;
		case WATCH_CLEARED:
			/* etcd sends error 401 with HTTP status 400 */
			http_send_error(api, req, R_WATCH, 400,
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
	watch_hold(api, req, tok, member, recursive, since);
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
		http_send(api, req, R_TOKEN, 200, HTTP_JSON,
			  http_param_true(p, "pretty") ?
				  etcdjson_token_dir(tok, 1) :
				  listing_cache_get(api->listings, tok));
		return;
	case KEY_CONFIG_DIR:
		http_send(api, req, R_CONFIG, 200, HTTP_JSON,
			  etcdjson_config_dir(tok));
		return;
	case KEY_SIZE:
		http_send(api, req, R_CONFIG, 200, HTTP_JSON, etcdjson_size(tok));
		return;
	case KEY_MEMBER:
		m = token_find_member(tok, kp->member);
		if (m == NULL)
			http_send_error(api, req, R_MEMBER, 404,
					ETCD_KEY_NOT_FOUND, "Key not found",
					kp->member);
		else
			http_send(api, req, R_MEMBER, 200, HTTP_JSON,
				  etcdjson_member("get", tok->name, m, NULL));
		return;
	}
}

/* ---- PUT ---- */

static enum registry_status
plan_put(struct registry *reg, struct registry_request *rr,
	 struct proposal *p)
{
	struct v2_write *w = rr->arg;
	enum registry_status rs;

	rs = plan_member_put(reg, p, w->token, w->id, w->value, w->mode);
	if (rs == REG_OK)
		remember_prev(reg, w);
	return rs;
}

static void
put_done(struct registry_request *rr, const struct registry_result *res)
{
	struct v2_write *w = rr->arg;
	struct http_api *api = w->api;
	char cause[256];
	struct member m;

	http_log_change(w->existed ? "update" : "register", w->token, w->id,
			w->client, res);
	if (res->status == REG_OK) {
		m = member_of(&res->changes[0]);
		http_send(api, w->req, R_MEMBER, w->existed ? 200 : 201,
			  HTTP_JSON,
			  etcdjson_member(etcdjson_action_name(m.action),
					  w->token, &m,
					  w->existed ? &w->prev : NULL));
	} else {
		if (res->status == REG_EXISTS)
			snprintf(cause, sizeof(cause), "%s%s/%s",
				 KEYPATH_KEY_PREFIX, w->token, w->id);
		else if (res->status == REG_FULL)
			snprintf(cause, sizeof(cause), "token holds %u "
				 "members, the most allowed",
				 api->cfg->max_members);
		else if (res->status == REG_NOT_FOUND &&
			 registry_find_token(api->reg, w->token) == NULL)
			snprintf(cause, sizeof(cause),
				 "no such discovery token");
		else if (res->status == REG_INVALID)
			snprintf(cause, sizeof(cause), "bad member id");
		else
			snprintf(cause, sizeof(cause), "%s", w->id);
		http_send_status(api, w->req, R_MEMBER, res, cause);
	}
	write_free(w);
}

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
handle_put(struct http_api *api, struct evhttp_request *req,
	   const struct params *p, const struct keypath *kp)
{
	struct peer_url peers[PEERS_MAX];
	const char *value = http_param(p, "value");
	enum put_mode mode;
	struct v2_write *w;
	errbuf_t err;

	if (kp->kind != KEY_MEMBER) {
		http_send_error(api, req, R_CONFIG, 403, ETCD_ROOT_READ_ONLY,
				"Key is read only", "only member keys are "
				"written; /new makes tokens");
		return;
	}
	if (value == NULL) {
		http_send_error(api, req, R_MEMBER, 400, ETCD_VALUE_REQUIRED,
				"Value is Required in POST form", "value");
		return;
	}
	if (put_mode(p, &mode) != 0) {
		http_send_error(api, req, R_MEMBER, 400, ETCD_INVALID_FIELD,
				"Invalid field", "prevExist must be true or "
				"false");
		return;
	}
	if (peers_parse(value, peers, PEERS_MAX, err) < 0) {
		http_send_error(api, req, R_MEMBER, 400, ETCD_INVALID_FIELD,
				"Invalid field", err);
		return;
	}
	if (!http_rate_ok(api, req, R_MEMBER))
		return;
	w = write_new(api, req, R_MEMBER, plan_put, put_done);
	strcpy(w->token, kp->token);
	strcpy(w->id, kp->member);
	w->value = xstrdup(value);
	w->mode = mode;
	registry_submit(api->reg, &w->rr);
}

/* ---- DELETE ---- */

static enum registry_status
plan_delete(struct registry *reg, struct registry_request *rr,
	    struct proposal *p)
{
	struct v2_write *w = rr->arg;
	const struct token *tok = registry_find_token(reg, w->token);
	enum registry_status rs;

	if (w->id[0] == '\0') {
		rs = plan_token_delete(reg, p, w->token);
		if (rs == REG_OK)
			w->token_created = tok->created_index;
		return rs;
	}
	rs = plan_member_delete(reg, p, w->token, w->id);
	if (rs == REG_OK)
		remember_prev(reg, w);
	return rs;
}

static void
delete_done(struct registry_request *rr, const struct registry_result *res)
{
	struct v2_write *w = rr->arg;
	uint64_t index = res->nchanges ?
		res->changes[res->nchanges - 1].index : res->index;
	struct token gone;

	http_log_change(w->id[0] ? "delete-member" : "delete-token", w->token,
			w->id[0] ? w->id : NULL, w->client, res);
	if (res->status != REG_OK) {
		http_send_status(w->api, w->req, w->route, res,
				 w->id[0] ? w->id : "no such discovery token");
	} else if (w->id[0] == '\0') {
		memset(&gone, 0, sizeof(gone));
		strcpy(gone.name, w->token);
		gone.created_index = w->token_created;
		http_send(w->api, w->req, w->route, 200, HTTP_JSON,
			  etcdjson_token_deleted(&gone, index));
	} else {
		http_send(w->api, w->req, w->route, 200, HTTP_JSON,
			  etcdjson_member_deleted(w->token, &w->prev, index));
	}
	write_free(w);
}

static void
handle_delete(struct http_api *api, struct evhttp_request *req,
	      const struct keypath *kp)
{
	enum route route = kp->kind == KEY_MEMBER ? R_MEMBER : R_TOKEN;
	struct v2_write *w;

	if (!http_authorized(api, req, route) || !http_rate_ok(api, req, route))
		return;
	if (kp->kind != KEY_MEMBER && kp->kind != KEY_TOKEN) {
		http_send_error(api, req, R_CONFIG, 403, ETCD_ROOT_READ_ONLY,
				"Key is read only", "_config is kept with the "
				"token");
		return;
	}
	w = write_new(api, req, route, plan_delete, delete_done);
	strcpy(w->token, kp->token);
	if (kp->kind == KEY_MEMBER)
		strcpy(w->id, kp->member);
	registry_submit(api->reg, &w->rr);
}

/* ---- the key space ---- */

void
http_v2_key(struct http_api *api, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	enum route route;
	struct keypath kp;
	const struct token *tok;
	struct params p;
	errbuf_t err;

	if (keypath_parse(path, &kp, err) != 0) {
		http_send_error(api, req, R_OTHER, 404, ETCD_KEY_NOT_FOUND,
				"Key not found", err);
		return;
	}
	route = kp.kind == KEY_MEMBER ? R_MEMBER :
		kp.kind == KEY_TOKEN ? R_TOKEN : R_CONFIG;
	tok = registry_find_token(api->reg, kp.token);
	if (tok == NULL) {
		http_send_error(api, req, route, 404, ETCD_KEY_NOT_FOUND,
				"Key not found", "no such discovery token");
		return;
	}
	http_params_read(req, &p);
	if (method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD)
		handle_get(api, req, &p, &kp, tok);
	else if (method == EVHTTP_REQ_PUT)
		handle_put(api, req, &p, &kp);
	else if (method == EVHTTP_REQ_DELETE)
		handle_delete(api, req, &kp);
	else
		http_send_error(api, req, route, 405, ETCD_INVALID_FORM,
				"Method Not Allowed", "use GET, PUT or DELETE");
	http_params_clear(&p);
}
