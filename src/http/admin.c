/* http_admin.c -- /_admin/: what the migration tools need beyond etcd's
 * protocol. Tokens are read and written whole, as JSON:
 *   {"token":"t","size":3,"members":[{"id":"a","value":"n=url",
 *    "clients":"url,url"}],"aliases":["prod"]}
 * Writes need --admin-token when the server has one.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_internal.h"
#include "keypath.h"
#include "peers.h"
#include "registry.h"

#define TOKENS_PATH "/_admin/tokens/"
#define ALIASES_PATH "/_admin/aliases/"

/* One member as a request describes it. */
struct wanted {
	const char *id, *value, *clients;
};

static char *
token_json(const struct registry *reg, const struct token *tok)
{
	json_t *members = json_array(), *aliases = json_array(), *o;
	char *s;
	size_t i;

	for (i = 0; i < tok->nmembers; i++) {
		const struct member *m = &tok->members[i];

		o = json_pack("{s:s, s:s, s:I, s:I}", "id", m->id, "value",
			      m->value, "createdIndex",
			      (json_int_t)m->created_index, "modifiedIndex",
			      (json_int_t)m->modified_index);
		if (m->clients != NULL)
			json_object_set_new(o, "clients",
					    json_string(m->clients));
		json_array_append_new(members, o);
	}
	for (i = 0; i < reg->naliases; i++)
		if (strcmp(reg->aliases[i].token, tok->name) == 0)
			json_array_append_new(aliases,
					      json_string(reg->aliases[i].name));
	o = json_pack("{s:s, s:i, s:I, s:o, s:o}", "token", tok->name, "size",
		      (int)tok->size, "createdIndex",
		      (json_int_t)tok->created_index, "members", members,
		      "aliases", aliases);
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	return s;
}

static void
bad_request(struct http_api *api, struct evhttp_request *req, const char *why)
{
	http_respond_error(api, req, R_ADMIN, 400, ETCD_INVALID_FIELD,
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

/* Checks the request's size and members; fills want (at most max). */
static int
parse_wanted(json_t *body, unsigned max_members, unsigned *size,
	     struct wanted *want, size_t *n, char *err)
{
	struct peer_url peers[PEERS_MAX];
	json_t *members, *m;
	json_int_t sz = 0;
	size_t i;

	if (json_unpack(body, "{s?I, s:o}", "size", &sz, "members",
			&members) != 0 || !json_is_array(members))
		return fail(err, "want {\"size\":N,\"members\":[...]}");
	if (json_array_size(members) > max_members)
		return fail(err, "more than %u members", max_members);
	json_array_foreach(members, i, m) {
		struct wanted *w = &want[i];

		w->clients = NULL;
		if (json_unpack(m, "{s:s, s:s, s?s}", "id", &w->id, "value",
				&w->value, "clients", &w->clients) != 0)
			return fail(err, "member %zu needs \"id\" and "
				    "\"value\" strings", i);
		if (!registry_valid_name(w->id))
			return fail(err, "member id '%s' is not [a-z0-9-]",
				    w->id);
		if (peers_parse(w->value, peers, PEERS_MAX, err) < 0)
			return -1;
	}
	*n = json_array_size(members);
	if (sz < 0 || sz > 1000000)
		return fail(err, "bad size");
	*size = sz > 0 ? (unsigned)sz : (unsigned)*n;
	if (*size == 0)
		return fail(err, "size must be at least 1");
	return 0;
}

static int
same_token(const struct token *tok, unsigned size, const struct wanted *w,
	   size_t n)
{
	size_t i;

	if (tok->size != size || tok->nmembers != n)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(tok->members[i].id, w[i].id) != 0 ||
		    strcmp(tok->members[i].value, w[i].value) != 0)
			return 0;
	return 1;
}

/* Copies of the aliases that point at token (the caller frees them). */
static struct alias *
aliases_of(const struct registry *reg, const char *token, size_t *n)
{
	struct alias *out = xcalloc(reg->naliases + 1, sizeof(*out));
	size_t i;

	*n = 0;
	for (i = 0; i < reg->naliases; i++)
		if (strcmp(reg->aliases[i].token, token) == 0)
			out[(*n)++] = reg->aliases[i];
	return out;
}

/* import: the token as it was elsewhere, members in their order. Deleting
 * the token drops its aliases; --force replaces what the token holds, not
 * the names an operator published it under, so they are set again. */
static int
import_token(struct http_api *api, const char *name, unsigned size,
	     const struct wanted *w, size_t n, int force, char *err)
{
	struct token *tok = registry_find_token(api->reg, name);
	struct alias *aliases;
	size_t i, naliases;

	if (tok != NULL && same_token(tok, size, w, n))
		return 0;
	if (tok != NULL && !force)
		return fail(err, "token %s exists here with other members or "
			    "size; use --force to replace it", name);
	aliases = aliases_of(api->reg, name, &naliases);
	if (tok != NULL)
		registry_delete_token(api->reg, name);
	if (registry_create_token(api->reg, name, size, now_unix(), &tok)) {
		free(aliases);
		return fail(err, "cannot create token %s", name);
	}
	for (i = 0; i < n; i++)
		registry_sync_member(api->reg, tok, w[i].id, w[i].value,
				     w[i].clients);
	for (i = 0; i < naliases; i++)
		registry_set_alias(api->reg, aliases[i].name, name);
	free(aliases);
	return 0;
}

static int
differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* sync: the running cluster's members, all of them published. */
static int
sync_token(struct http_api *api, const char *name, const struct wanted *w,
	   size_t n, char *err)
{
	struct token *tok = registry_find_token(api->reg, name);
	size_t i, j;

	if (tok == NULL)
		return fail(err, "no token %s", name);
	for (i = 0; i < n; i++) {
		const struct member *m = token_find_member(tok, w[i].id);

		if (m == NULL || differs(m->value, w[i].value) ||
		    differs(m->clients, w[i].clients))
			registry_sync_member(api->reg, tok, w[i].id,
					     w[i].value, w[i].clients);
	}
	for (i = 0; i < tok->nmembers;) {
		for (j = 0; j < n && strcmp(tok->members[i].id, w[j].id); j++)
			;
		if (j == n)
			registry_delete_member(api->reg, tok,
					       tok->members[i].id);
		else
			i++;
	}
	if (tok->size != (n > 0 ? n : 1))
		registry_set_size(api->reg, tok, n > 0 ? (unsigned)n : 1);
	return 0;
}

static void
put_token(struct http_api *api, struct evhttp_request *req, const char *name)
{
	const char *mode;
	struct wanted *want;
	struct params p;
	unsigned size;
	errbuf_t err;
	json_t *body;
	size_t n = 0;
	int rc;

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
	want = xcalloc(api->cfg->max_members + 1, sizeof(*want));
	rc = parse_wanted(body, api->cfg->max_members, &size, want, &n, err);
	if (rc == 0 && mode != NULL && strcmp(mode, "sync") == 0)
		rc = sync_token(api, name, want, n, err);
	else if (rc == 0 && (mode == NULL || strcmp(mode, "import") == 0))
		rc = import_token(api, name, size, want, n,
				  http_param_true(&p, "force"), err);
	else if (rc == 0)
		rc = fail(err, "mode must be import or sync");
	if (rc != 0)
		http_respond_error(api, req, R_ADMIN,
				   strstr(err, "exists here") ? 409 : 400,
				   ETCD_INVALID_FIELD, "Invalid field", err);
	else
		http_respond(api, req, R_ADMIN, 200, HTTP_JSON,
			     token_json(api->reg,
					registry_find_token(api->reg, name)));
	free(want);
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
		http_respond(api, req, R_ADMIN, 200, HTTP_JSON,
			     token_json(api->reg, tok));
	else if (method == EVHTTP_REQ_GET)
		http_respond_error(api, req, R_ADMIN, 404, ETCD_KEY_NOT_FOUND,
				   "Key not found", name);
	else if (method == EVHTTP_REQ_PUT && http_authorized(api, req, R_ADMIN))
		put_token(api, req, name);
	else if (method != EVHTTP_REQ_PUT)
		http_respond_error(api, req, R_ADMIN, 405, ETCD_INVALID_FORM,
				   "Method Not Allowed", "use GET or PUT");
}

static void
handle_aliases(struct http_api *api, struct evhttp_request *req,
	       const char *name)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	enum registry_status rs;
	const char *token = NULL;
	errbuf_t err;
	json_t *body;

	if (!http_authorized(api, req, R_ADMIN))
		return;
	if (method == EVHTTP_REQ_DELETE) {
		rs = registry_delete_alias(api->reg, name);
	} else if (method == EVHTTP_REQ_PUT) {
		if ((body = read_body(req, err)) == NULL ||
		    json_unpack(body, "{s:s}", "token", &token) != 0) {
			json_decref(body);
			bad_request(api, req, "want {\"token\":\"<token>\"}");
			return;
		}
		rs = registry_set_alias(api->reg, name, token);
		json_decref(body);
	} else {
		http_respond_error(api, req, R_ADMIN, 405, ETCD_INVALID_FORM,
				   "Method Not Allowed", "use PUT or DELETE");
		return;
	}
	if (rs == REG_OK)
		http_respond(api, req, R_ADMIN, 200, HTTP_JSON,
			     xstrdup("{\"ok\":true}"));
	else if (rs == REG_NOT_FOUND)
		http_respond_error(api, req, R_ADMIN, 404, ETCD_KEY_NOT_FOUND,
				   "Key not found", "no such token or alias");
	else
		bad_request(api, req, "alias names are [a-z0-9-], at most 63, "
			    "and not a token's name");
}

void
http_admin_handle(struct http_api *api, struct evhttp_request *req,
		  const char *path)
{
	if (strncmp(path, TOKENS_PATH, strlen(TOKENS_PATH)) == 0)
		handle_tokens(api, req, path + strlen(TOKENS_PATH));
	else if (strncmp(path, ALIASES_PATH, strlen(ALIASES_PATH)) == 0)
		handle_aliases(api, req, path + strlen(ALIASES_PATH));
	else
		http_respond_error(api, req, R_ADMIN, 404, ETCD_KEY_NOT_FOUND,
				   "Key not found", path);
}
