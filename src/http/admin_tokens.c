/* admin_tokens.c -- GET /_admin/tokens (a page of tokens, by name) and
 * DELETE /_admin/tokens/<token>.
 *
 * A listing is bounded: at most ADMIN_LIST_MAX tokens an answer, found by
 * a search of the registry's by-name list (registry_token_page), so a
 * page costs O(log n + page) however many tokens there are, and never
 * makes a huge answer. The page's aliases come from one pass over the
 * aliases, which are few. The cursor is the last name of a page
 * (?after=), valid however the registry changes between pages.
 */
#include <event2/http.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "admin_tokens.h"
#include "util.h"

/* ---- the listing ---- */

struct page_aliases {
	const struct token **page;
	size_t n;
	json_t **names; /* per token of the page */
};

static int
name_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct token *const *)elem)->name);
}

static void
add_to_page(const struct alias *a, void *arg)
{
	struct page_aliases *pa = arg;
	const struct token **t = bsearch(a->token, pa->page, pa->n,
					 sizeof(*pa->page), name_cmp);

	if (t != NULL)
		json_array_append_new(pa->names[t - pa->page],
				      json_string(a->name));
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* The aliases in name order: the listing reads the same each time. */
static json_t *
sorted(json_t *names)
{
	size_t i, n = json_array_size(names);
	json_t **v = xcalloc(n + 1, sizeof(*v)), *out = json_array();

	for (i = 0; i < n; i++)
		v[i] = json_array_get(names, i);
	qsort(v, n, sizeof(*v), str_cmp);
	for (i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(names);
	return out;
}

static json_t *
entry_json(const struct token *tok, json_t *aliases)
{
	return json_pack("{s:s, s:i, s:I, s:I, s:s, s:o}", "token", tok->name,
			 "size", (int)tok->size, "members",
			 (json_int_t)tok->nmembers, "created_at",
			 (json_int_t)tok->created_at, "cluster_id",
			 tok->cluster_id, "aliases", sorted(aliases));
}

static int
read_limit(const struct params *p, size_t *limit)
{
	const char *v = http_param(p, "limit");
	uint64_t n;

	*limit = ADMIN_LIST_DEFAULT;
	if (v == NULL)
		return 0;
	if (parse_uint(v, 1, ADMIN_LIST_MAX, &n) != 0)
		return -1;
	*limit = (size_t)n;
	return 0;
}

void
admin_list_tokens(struct http_api *api, struct evhttp_request *req)
{
	struct page_aliases pa;
	const char *after;
	struct params p;
	size_t limit, i;
	json_t *list, *o;
	int more;

	http_params_read(req, &p);
	after = http_param(&p, "after");
	if (read_limit(&p, &limit) != 0) {
		http_params_clear(&p);
		http_send_error(api, req, R_ADMIN, 400, ETCD_INVALID_FIELD,
				"Invalid field", "limit is a whole number "
				"from 1 to 1000");
		return;
	}
	pa.page = xcalloc(limit, sizeof(*pa.page));
	pa.n = registry_token_page(api->reg, after ? after : "", limit,
				   pa.page, &more);
	pa.names = xcalloc(pa.n + 1, sizeof(*pa.names));
	for (i = 0; i < pa.n; i++)
		pa.names[i] = json_array();
	registry_foreach_alias(api->reg, add_to_page, &pa);
	list = json_array();
	for (i = 0; i < pa.n; i++)
		json_array_append_new(list, entry_json(pa.page[i],
						       pa.names[i]));
	o = json_pack("{s:o, s:I, s:i, s:s?}", "tokens", list, "total",
		      (json_int_t)api->reg->ntokens, "limit", (int)limit,
		      "next", more && pa.n > 0 ? pa.page[pa.n - 1]->name :
						 NULL);
	http_send(api, req, R_ADMIN, 200, HTTP_JSON,
		  json_dumps(o, JSON_INDENT(2)));
	json_decref(o);
	free(pa.names);
	free(pa.page);
	http_params_clear(&p);
}

/* ---- deleting a token ---- */

struct token_delete {
	struct registry_request rr;
	struct http_api *api;
	struct evhttp_request *req;
	char token[REGISTRY_NAME_MAX + 1];
	size_t members; /* what it held, as planned */
	char client[64];
};

static enum registry_status
plan_delete(struct registry *reg, struct registry_request *rr,
	    struct proposal *p)
{
	struct token_delete *d = rr->arg;
	const struct token *tok = registry_find_token(reg, d->token);

	d->members = tok ? tok->nmembers : 0;
	return plan_token_delete(reg, p, d->token);
}

static void
delete_done(struct registry_request *rr, const struct registry_result *res)
{
	struct token_delete *d = rr->arg;
	json_t *aliases = json_array(), *o;
	size_t i;

	http_log_change("delete-token", d->token, NULL, d->client, res);
	if (res->status != REG_OK) {
		http_send_status(d->api, d->req, R_ADMIN, res, d->token);
		json_decref(aliases);
		free(d);
		return;
	}
	for (i = 0; i < res->nchanges; i++)
		if (res->changes[i].kind == CHANGE_ALIAS_DEL)
			json_array_append_new(aliases, json_string(
				res->changes[i].name));
	o = json_pack("{s:b, s:s, s:I, s:o}", "ok", 1, "token", d->token,
		      "members", (json_int_t)d->members, "aliases",
		      sorted(aliases));
	http_send(d->api, d->req, R_ADMIN, 200, HTTP_JSON,
		  json_dumps(o, JSON_COMPACT));
	json_decref(o);
	free(d);
}

void
admin_delete_token(struct http_api *api, struct evhttp_request *req,
		   const char *name)
{
	struct token_delete *d;

	if (!registry_valid_name(name)) {
		http_send_error(api, req, R_ADMIN, 400, ETCD_INVALID_FIELD,
				"Invalid field",
				"token names are [a-z0-9-], at most 63");
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->rr.plan = plan_delete;
	d->rr.done = delete_done;
	d->rr.arg = d;
	d->api = api;
	d->req = req;
	snprintf(d->token, sizeof(d->token), "%s", name);
	snprintf(d->client, sizeof(d->client), "%s", http_client_addr(req));
	registry_submit(api->reg, &d->rr);
}
