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

#include "admin.h"
#include "admin_tokens.h"
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
	o = json_pack("{s:s, s:i, s:I, s:I, s:s, s:o, s:o, s:b}", "token",
		      tok->name, "size", (int)tok->size, "createdIndex",
		      (json_int_t)tok->created_index, "created_at",
		      (json_int_t)tok->created_at, "cluster_id",
		      tok->cluster_id, "members", members, "aliases",
		      an.names, "changed", changed);
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

int
admin_parse_spec(json_t *body, const struct config *cfg,
		 struct token_spec *s, char *err)
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

int
admin_parse_cluster_id(json_t *body, struct token_spec *s, char *err)
{
	const char *id = NULL;

	if (json_unpack(body, "{s?s}", "cluster_id", &id) != 0 ||
	    (id != NULL && id[0] != '\0' && !registry_valid_cluster_id(id)))
		return fail(err, "cluster_id is an etcd cluster ID in "
			    "lower-case hex, at most %d digits",
			    STORE_CLUSTER_ID_MAX);
	snprintf(s->cluster_id, sizeof(s->cluster_id), "%s", id ? id : "");
	return 0;
}

/* ---- PUT /_admin/tokens/<token>?mode=import|sync[&force][&dry_run] ---- */

#define IMPORT_CONFLICT "the token exists here with other members or " \
			"size; use --force to replace it"

struct admin_write {
	struct registry_request rr;
	struct http_api *api;
	struct evhttp_request *req;
	struct token_spec spec;
	int sync;
	int dry_run; /* plan, answer with the plan, change nothing */
	char *plan;  /* the dry run's answer */
	errbuf_t why; /* the plan's reason for a refusal */
	char alias[REGISTRY_NAME_MAX + 1];
	char named[REGISTRY_NAME_MAX + 1]; /* the token the alias named */
	int del;
	char client[64]; /* for the log */
	struct import_parts in_parts; /* spec.parts when the store needs */
	unsigned parts;	 /* of an import or sync in parts, committed */
	unsigned max_parts;
	size_t changed;	 /* by those parts */
};

static enum registry_status
plan_spec(struct registry *reg, struct admin_write *w,
	  const struct token_spec *s, struct proposal *p)
{
	return w->sync ? plan_sync(reg, p, s, w->why) :
			 plan_import(reg, p, s);
}

static json_t *
state_json(const char *id, const struct member_state *st)
{
	json_t *o = json_pack("{s:s, s:s?}", "id", id, "value", st->value);

	if (st->clients != NULL)
		json_object_set_new(o, "clients", json_string(st->clients));
	return o;
}

/* A dry run's answer: what p would do to the token; refused says why
 * it would not be submitted (NULL: it would be). */
static char *
plan_json(const struct registry *reg, const struct admin_write *w,
	  const struct proposal *p, const char *refused)
{
	json_t *added = json_array(), *removed = json_array(),
	       *changed = json_array(), *o;
	struct token_diff d;
	size_t i;
	char *s;

	token_diff_of(reg, w->spec.token, p, &d);
	for (i = 0; i < d.n; i++) {
		const struct member_diff *m = &d.members[i];

		if (!m->before.present)
			json_array_append_new(added, state_json(m->id,
								&m->after));
		else if (!m->after.present)
			json_array_append_new(removed, state_json(m->id,
								  &m->before));
		else
			json_array_append_new(changed, json_pack(
				"{s:s, s:o, s:o}", "id", m->id, "before",
				state_json(m->id, &m->before), "after",
				state_json(m->id, &m->after)));
	}
	o = json_pack("{s:b, s:s, s:s, s:b, s:s?, s:i, s:{s:i, s:i}, "
		      "s:{s:s, s:s}, s:o, s:o, s:o}", "dry_run", 1, "token",
		      w->spec.token, "mode", w->sync ? "sync" : "import",
		      "exists", d.exists, "refused", refused, "changes",
		      (int)p->n, "size", "before", (int)d.size_before, "after",
		      (int)d.size_after, "cluster_id", "before",
		      d.cluster_before, "after", d.cluster_after, "added",
		      added, "removed", removed, "changed", changed);
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	token_diff_free(&d);
	return s;
}

static void
proposal_empty(struct proposal *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		change_clear(&p->changes[i]);
	p->n = 0;
}

/* A dry run plans as the write would, keeps the answer and submits
 * nothing. One that would be refused shows what --force would do. */
static enum registry_status
plan_dry_run(struct registry *reg, struct admin_write *w, struct proposal *p,
	     enum registry_status rs)
{
	struct token_spec forced = w->spec;
	struct proposal *scratch;
	errbuf_t refused;

	if (rs == REG_OK) {
		w->plan = plan_json(reg, w, p, NULL);
		proposal_empty(p);
		return REG_OK;
	}
	if (rs != REG_CONFLICT)
		return rs;
	snprintf(refused, sizeof(refused), "%s", w->sync ? w->why :
		 IMPORT_CONFLICT);
	forced.force = 1;
	scratch = proposal_new();
	rs = plan_spec(reg, w, &forced, scratch);
	if (rs == REG_OK)
		w->plan = plan_json(reg, w, scratch, refused);
	proposal_free(scratch);
	return rs;
}

static enum registry_status
plan_token(struct registry *reg, struct registry_request *rr,
	   struct proposal *p)
{
	struct admin_write *w = rr->arg;
	enum registry_status rs = plan_spec(reg, w, &w->spec, p);

	free(w->plan);
	w->plan = NULL;
	return w->dry_run ? plan_dry_run(reg, w, p, rs) : rs;
}

/* A part of an import or sync in parts committed: plans the next one;
 * 1 when it did. Each part moves the token on, so the count of parts is
 * bounded by that of the members before and after; the bound stops a
 * plan that would not (its answer is then an error, see token_done). */
static int
next_part(struct admin_write *w, const struct registry_result *res,
	  const struct token *tok)
{
	struct import_parts *pt = w->spec.parts;

	if (res->status != REG_OK || pt == NULL || !pt->more)
		return 0;
	if (w->parts == 0)
		w->max_parts = (unsigned)(2 * (w->spec.n + 8 +
					       (tok ? tok->nmembers : 0)) /
					  pt->max_changes + 4);
	if (w->parts == w->max_parts)
		return 0;
	w->changed += res->nchanges;
	w->parts++;
	if (!w->sync && pt->made_at == 0 && tok != NULL)
		pt->made_at = tok->created_index;
	registry_submit(w->api->reg, &w->rr);
	return 1;
}

static void
token_done(struct registry_request *rr, const struct registry_result *res)
{
	struct admin_write *w = rr->arg;
	const struct token *tok = registry_find_token(w->api->reg,
						      w->spec.token);
	char cause[200];

	if (next_part(w, res, tok))
		return;
	w->changed += res->nchanges;
	if (w->parts > 0 && res->status == REG_OK && w->spec.parts->more) {
		static const struct registry_result unfinished = {
			REG_STORE_FAILED, "the parts did not converge", NULL,
			0, 0 };

		res = &unfinished;
	}
	if (w->parts > 0 && res->status != REG_OK) {
		/* What the parts before wrote stays: the error says so. */
		snprintf(cause, sizeof(cause), "%s of token %s stopped after "
			 "%u committed parts (%zu changes)%s", w->sync ?
			 "sync" : "import", w->spec.token, w->parts,
			 w->changed, res->status == REG_CONFLICT && !w->sync ?
			 ": the token changed meanwhile; import it again "
			 "with --force" : "");
		http_log_change(w->sync ? "sync" : "import", w->spec.token,
				NULL, w->client, res);
		http_send_status(w->api, w->req, R_ADMIN, res, cause);
		token_spec_free(&w->spec);
		free(w->plan);
		free(w);
		return;
	}

	if (w->dry_run && res->status == REG_OK && w->plan != NULL) {
		http_send(w->api, w->req, R_ADMIN, 200, HTTP_JSON, w->plan);
		token_spec_free(&w->spec);
		free(w);
		return;
	}
	free(w->plan);
	http_log_change(w->sync ? "sync" :
			res->status == REG_OK && w->changed == 0 ?
				"import-unchanged" : "import",
			w->spec.token, NULL, w->client, res);
	if (res->status == REG_OK && tok != NULL)
		http_send(w->api, w->req, R_ADMIN, 200, HTTP_JSON,
			  token_json(w->api->reg, tok, w->changed > 0));
	else if (res->status == REG_CONFLICT || (w->sync && w->why[0] &&
						 res->status == REG_INVALID))
		http_send_status(w->api, w->req, R_ADMIN, res,
				 w->sync ? w->why : IMPORT_CONFLICT);
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
	w->dry_run = http_param_true(&p, "dry_run");
	/* A dry run shows the whole change, not its first part. */
	w->in_parts.max_changes = store_max_changes(api->st);
	if (!w->dry_run && w->in_parts.max_changes != 0)
		w->spec.parts = &w->in_parts;
	w->sync = mode != NULL && strcmp(mode, "sync") == 0;
	if ((mode != NULL && !w->sync && strcmp(mode, "import") != 0 &&
	     fail(err, "mode must be import or sync")) ||
	    admin_parse_spec(body, api->cfg, &w->spec, err) != 0 ||
	    admin_parse_cluster_id(body, &w->spec, err) != 0) {
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
	else if (method == EVHTTP_REQ_DELETE &&
		 http_rate_ok(api, req, R_ADMIN))
		admin_delete_token(api, req, name);
	else if (method != EVHTTP_REQ_PUT && method != EVHTTP_REQ_DELETE)
		http_send_error(api, req, R_ADMIN, 405, ETCD_INVALID_FORM,
				"Method Not Allowed", "use GET, PUT or DELETE");
}

/* ---- /_admin/aliases/<name> ---- */

static enum registry_status
plan_alias(struct registry *reg, struct registry_request *rr,
	   struct proposal *p)
{
	struct admin_write *w = rr->arg;
	const struct alias *a = registry_find_alias(reg, w->alias);

	snprintf(w->named, sizeof(w->named), "%s", a ? a->token : "");
	return w->del ? plan_alias_delete(reg, p, w->alias,
					  w->spec.token[0] ? w->spec.token :
							     NULL) :
			plan_alias_set(reg, p, w->alias, w->spec.token,
				       w->spec.force);
}

/* What an alias write did: the alias, the token it names (or named),
 * and for a move the token it named before. */
static char *
alias_json(const struct admin_write *w)
{
	int moved = !w->del && w->named[0] &&
		    strcmp(w->named, w->spec.token) != 0;
	json_t *o = json_pack("{s:b, s:s, s:s, s:s?}", "ok", 1, "alias",
			      w->alias, "token", w->del ? w->named :
			      w->spec.token, "moved_from",
			      moved ? w->named : NULL);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* Why an alias write was refused: it names another token. */
static void
alias_conflict(const struct admin_write *w, char *why, size_t len)
{
	if (w->del)
		snprintf(why, len, "alias %s names token %s, not %s; nothing "
			 "deleted", w->alias, w->named, w->spec.token);
	else
		snprintf(why, len, "alias %s names token %s; use --force "
			 "(force=true) to move it to %s", w->alias, w->named,
			 w->spec.token);
}

static void
alias_done(struct registry_request *rr, const struct registry_result *res)
{
	struct admin_write *w = rr->arg;
	char why[2 * REGISTRY_NAME_MAX + 200];

	http_log_change(w->del ? "alias-delete" : "alias-set",
			w->del ? w->named : w->spec.token, w->alias, w->client,
			res);
	if (res->status == REG_OK) {
		http_send(w->api, w->req, R_ADMIN, 200, HTTP_JSON,
			  alias_json(w));
	} else if (res->status == REG_CONFLICT) {
		alias_conflict(w, why, sizeof(why));
		http_send_status(w->api, w->req, R_ADMIN, res, why);
	} else if (res->status == REG_NOT_FOUND)
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
	struct params p;
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
	http_params_read(req, &p);
	if (method == EVHTTP_REQ_DELETE)
		token = http_param(&p, "token"); /* the one it must name */
	if (token != NULL && strlen(token) > REGISTRY_NAME_MAX)
		token = NULL;
	w = admin_write_new(api, req, plan_alias, alias_done);
	strcpy(w->alias, name);
	w->del = method == EVHTTP_REQ_DELETE;
	w->spec.force = http_param_true(&p, "force");
	if (token != NULL)
		strcpy(w->spec.token, token);
	json_decref(body);
	http_params_clear(&p);
	registry_submit(api->reg, &w->rr);
}

void
http_admin_handle(struct http_api *api, struct evhttp_request *req,
		  const char *path)
{
	if (!http_authorized(api, req, R_ADMIN))
		return;
	if (strcmp(path, "/_admin/tokens") == 0 ||
	    strcmp(path, TOKENS_PATH) == 0) {
		if (evhttp_request_get_command(req) == EVHTTP_REQ_GET)
			admin_list_tokens(api, req);
		else
			http_send_error(api, req, R_ADMIN, 405,
					ETCD_INVALID_FORM,
					"Method Not Allowed", "use GET");
	} else if (strncmp(path, TOKENS_PATH, strlen(TOKENS_PATH)) == 0)
		handle_tokens(api, req, path + strlen(TOKENS_PATH));
	else if (strncmp(path, ALIASES_PATH, strlen(ALIASES_PATH)) == 0)
		handle_aliases(api, req, path + strlen(ALIASES_PATH));
	else
		http_send_error(api, req, R_ADMIN, 404, ETCD_KEY_NOT_FOUND,
				"Key not found", path);
}
