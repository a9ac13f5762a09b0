/* admin.c -- /_admin/: what the migration tools need beyond etcd's
 * protocol. Tokens are read and written whole, as JSON:
 *   {"token":"t","size":3,"members":[{"id":"a","value":"n=url",
 *    "clients":"url,url"}],"aliases":["prod"]}
 * Every route, reads too, needs the --admin-token bearer token (without
 * one the API answers 403); writes also obey --max-size, --max-members and
 * the rate limit. What a write changes is decided in the core (import.h);
 * this file parses and answers.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_internal.h"
#include "import.h"
#include "peers.h"

#define TOKENS_PATH "/_admin/tokens/"
#define ALIASES_PATH "/_admin/aliases/"

struct alias_names {
	const char *token;
	json_t *names;
};

static void
add_alias_name(const struct alias *a, void *arg)
{
	struct alias_names *an = arg;

	if (strcmp(a->token, an->token) == 0)
		json_array_append_new(an->names, json_string(a->name));
}

static char *
token_json(const struct registry *reg, const struct token *tok, int changed)
{
	json_t *members = json_array(), *o;
	struct alias_names an = { tok->name, json_array() };
	char *s;
	size_t i;

	for (i = 0; i < tok->nmembers; i++) {
		const struct member *m = tok->members[i];

		o = json_pack("{s:s, s:s, s:I, s:I}", "id", m->id, "value",
			      m->value, "createdIndex",
			      (json_int_t)m->created_index, "modifiedIndex",
			      (json_int_t)m->modified_index);
		if (m->clients != NULL)
			json_object_set_new(o, "clients",
					    json_string(m->clients));
		json_array_append_new(members, o);
	}
	registry_foreach_alias(reg, add_alias_name, &an);
	o = json_pack("{s:s, s:i, s:I, s:o, s:o, s:b}", "token", tok->name,
		      "size", (int)tok->size, "createdIndex",
		      (json_int_t)tok->created_index, "members", members,
		      "aliases", an.names, "changed", changed);
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	return s;
}

static void
bad_request(struct http_api *api, struct evhttp_request *req, const char *why)
{
	http_send_error(api, req, R_ADMIN, 400, ETCD_INVALID_FIELD,
			"Invalid field", why);
}

static json_t *
read_body(struct evhttp_request *req, char *err)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *o;

	o = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)n), n, 0,
		       &jerr);
	if (o == NULL)
		fail(err, "body is not JSON: %s", jerr.text);
	return o;
}

static int
parse_member(json_t *m, size_t i, struct wanted_member *w, char *err)
{
	struct peer_url peers[PEERS_MAX];
	const char *id, *value, *clients = NULL;

	if (json_unpack(m, "{s:s, s:s, s?s}", "id", &id, "value", &value,
			"clients", &clients) != 0)
		return fail(err, "member %zu needs \"id\" and \"value\" "
			    "strings", i);
	if (!registry_valid_name(id))
		return fail(err, "member id '%s' is not [a-z0-9-]", id);
	if (peers_parse(value, peers, PEERS_MAX, err) < 0)
		return -1;
	strcpy(w->id, id);
	w->value = xstrdup(value);
	w->clients = clients ? xstrdup(clients) : NULL;
	return 0;
}

/* Reads the request's size and members into s, within the limits that
 * /new and registrations have too. */
static int
parse_spec(json_t *body, const struct config *cfg, struct token_spec *s,
	   char *err)
{
	json_t *members, *m;
	json_int_t sz = 0;
	size_t i;

	if (json_unpack(body, "{s?I, s:o}", "size", &sz, "members",
			&members) != 0 || !json_is_array(members))
		return fail(err, "want {\"size\":N,\"members\":[...]}");
	if (json_array_size(members) > cfg->max_members)
		return fail(err, "more than %u members (--max-members)",
			    cfg->max_members);
	s->members = xcalloc(json_array_size(members) + 1,
			     sizeof(*s->members));
	json_array_foreach(members, i, m) {
		if (parse_member(m, i, &s->members[i], err) != 0)
			return -1;
		s->n = i + 1;
	}
	if (sz < 0 || (sz == 0 && s->n == 0))
		return fail(err, "size must be at least 1");
	if ((sz > 0 ? (uint64_t)sz : s->n) > cfg->max_size)
		return fail(err, "size must be at most %u (--max-size)",
			    cfg->max_size);
	s->size = sz > 0 ? (unsigned)sz : (unsigned)s->n;
	return 0;
}

/* ---- PUT /_admin/tokens/<token>?mode=import|sync ---- */

struct admin_write {
	struct registry_request rr;
	struct http_api *api;
	struct evhttp_request *req;
	struct token_spec spec;
	int sync;
	char alias[REGISTRY_NAME_MAX + 1];
	int del;
	char client[64]; /* for the log */
};

static enum registry_status
plan_token(struct registry *reg, struct registry_request *rr,
	   struct proposal *p)
{
	struct admin_write *w = rr->arg;

	return w->sync ? plan_sync(reg, p, &w->spec) :
			 plan_import(reg, p, &w->spec);
}

static void
token_done(struct registry_request *rr, const struct registry_result *res)
{
	struct admin_write *w = rr->arg;
	const struct token *tok = registry_find_token(w->api->reg,
						      w->spec.token);

	http_log_change(w->sync ? "sync" :
			res->status == REG_OK && res->nchanges == 0 ?
				"import-unchanged" : "import",
			w->spec.token, NULL, w->client, res);
	if (res->status == REG_OK && tok != NULL)
		http_send(w->api, w->req, R_ADMIN, 200, HTTP_JSON,
			  token_json(w->api->reg, tok, res->nchanges > 0));
	else if (res->status == REG_CONFLICT)
		http_send_status(w->api, w->req, R_ADMIN, res,
				 "the token exists here with other members "
				 "or size; use --force to replace it");
	else
		http_send_status(w->api, w->req, R_ADMIN, res, w->spec.token);
	token_spec_free(&w->spec);
	free(w);
}

static struct admin_write *
admin_write_new(struct http_api *api, struct evhttp_request *req,
		registry_plan_fn plan, registry_done_fn done)
{
	struct admin_write *w = xcalloc(1, sizeof(*w));

	w->rr.plan = plan;
	w->rr.done = done;
	w->rr.arg = w;
	w->api = api;
	w->req = req;
	snprintf(w->client, sizeof(w->client), "%s", http_client_addr(req));
	return w;
}

static void
put_token(struct http_api *api, struct evhttp_request *req, const char *name)
{
	struct admin_write *w;
	const char *mode;
	struct params p;
	errbuf_t err;
	json_t *body;

	if (!registry_valid_name(name)) {
		bad_request(api, req, "token names are [a-z0-9-], at most 63");
		return;
	}
	if ((body = read_body(req, err)) == NULL) {
		bad_request(api, req, err);
		return;
	}
	http_params_read(req, &p);
	mode = http_param(&p, "mode");
	w = admin_write_new(api, req, plan_token, token_done);
	strcpy(w->spec.token, name);
	w->spec.force = http_param_true(&p, "force");
	w->sync = mode != NULL && strcmp(mode, "sync") == 0;
	if ((mode != NULL && !w->sync && strcmp(mode, "import") != 0 &&
	     fail(err, "mode must be import or sync")) ||
	    parse_spec(body, api->cfg, &w->spec, err) != 0) {
		bad_request(api, req, err);
		token_spec_free(&w->spec);
		free(w);
	} else {
		registry_submit(api->reg, &w->rr);
	}
	json_decref(body);
	http_params_clear(&p);
}

static void
handle_tokens(struct http_api *api, struct evhttp_request *req,
	      const char *name)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const struct token *tok = registry_find_token(api->reg, name);

	if (method == EVHTTP_REQ_GET && tok != NULL)
		http_send(api, req, R_ADMIN, 200, HTTP_JSON,
			  token_json(api->reg, tok, 0));
	else if (method == EVHTTP_REQ_GET)
		http_send_error(api, req, R_ADMIN, 404, ETCD_KEY_NOT_FOUND,
				"Key not found", name);
	else if (method == EVHTTP_REQ_PUT && http_rate_ok(api, req, R_ADMIN))
		put_token(api, req, name);
	else if (method != EVHTTP_REQ_PUT)
		http_send_error(api, req, R_ADMIN, 405, ETCD_INVALID_FORM,
				"Method Not Allowed", "use GET or PUT");
}

/* ---- /_admin/aliases/<name> ---- */

static enum registry_status
plan_alias(struct registry *reg, struct registry_request *rr,
	   struct proposal *p)
{
	struct admin_write *w = rr->arg;

	return w->del ? plan_alias_delete(reg, p, w->alias) :
			plan_alias_set(reg, p, w->alias, w->spec.token);
}

static void
alias_done(struct registry_request *rr, const struct registry_result *res)
{
	struct admin_write *w = rr->arg;

	http_log_change(w->del ? "alias-delete" : "alias-set", w->spec.token,
			w->alias, w->client, res);
	if (res->status == REG_OK)
		http_send(w->api, w->req, R_ADMIN, 200, HTTP_JSON,
			  xstrdup("{\"ok\":true}"));
	else if (res->status == REG_NOT_FOUND)
		http_send_status(w->api, w->req, R_ADMIN, res,
				 "no such token or alias");
	else if (res->status == REG_INVALID)
		http_send_status(w->api, w->req, R_ADMIN, res,
				 "alias names are [a-z0-9-], at most 63, and "
				 "not a token's name");
	else
		http_send_status(w->api, w->req, R_ADMIN, res, w->alias);
	free(w);
}

static void
handle_aliases(struct http_api *api, struct evhttp_request *req,
	       const char *name)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const char *token = NULL;
	struct admin_write *w;
	errbuf_t err;
	json_t *body = NULL;

	if (method != EVHTTP_REQ_DELETE && method != EVHTTP_REQ_PUT) {
		http_send_error(api, req, R_ADMIN, 405, ETCD_INVALID_FORM,
				"Method Not Allowed", "use PUT or DELETE");
		return;
	}
	if (!http_rate_ok(api, req, R_ADMIN))
		return;
	if (method == EVHTTP_REQ_PUT &&
	    ((body = read_body(req, err)) == NULL ||
	     json_unpack(body, "{s:s}", "token", &token) != 0 ||
	     strlen(token) > REGISTRY_NAME_MAX)) {
		json_decref(body);
		bad_request(api, req, "want {\"token\":\"<token>\"}");
		return;
	}
	if (strlen(name) > REGISTRY_NAME_MAX) {
		json_decref(body);
		bad_request(api, req, "alias names are at most 63 long");
		return;
	}
	w = admin_write_new(api, req, plan_alias, alias_done);
	strcpy(w->alias, name);
	w->del = method == EVHTTP_REQ_DELETE;
	if (token != NULL)
		strcpy(w->spec.token, token);
	json_decref(body);
	registry_submit(api->reg, &w->rr);
}

void
http_admin_handle(struct http_api *api, struct evhttp_request *req,
		  const char *path)
{
	if (!http_authorized(api, req, R_ADMIN))
		return;
	if (strncmp(path, TOKENS_PATH, strlen(TOKENS_PATH)) == 0)
		handle_tokens(api, req, path + strlen(TOKENS_PATH));
	else if (strncmp(path, ALIASES_PATH, strlen(ALIASES_PATH)) == 0)
		handle_aliases(api, req, path + strlen(ALIASES_PATH));
	else
		http_send_error(api, req, R_ADMIN, 404, ETCD_KEY_NOT_FOUND,
				"Key not found", path);
}
