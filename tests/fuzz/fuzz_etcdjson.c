/* fuzz_etcdjson.c -- libFuzzer harness: the JSON srvgate reads, and the
 * JSON it writes back about what it read.
 *
 * The input is one JSON document, read by each consumer that takes one:
 * - the admin API's token body ({"size":N,"members":[{"id","value",
 *   "clients"}]}) and alias body ({"token":T}), then planned as import
 *   (with and without force, new and existing token), sync and alias set,
 *   and committed to a registry with a DNS view, as the server would;
 * - what the client tools read from another discovery service (a size
 *   key, a token listing) and from etcd (v2 and v3 member lists), turned
 *   into the admin body the tools send, and planned as above.
 * admin.c and tools.c keep their readers static, so their steps are
 * followed here with the same jansson calls and the same core functions
 * (peers_parse, registry_valid_name, plan_import, plan_sync). Every listing
 * and error srvgate then writes must parse as JSON with the values it was
 * given. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "etcdjson.h"
#include "import.h"
#include "peers.h"
#include "registry.h"
#include "store.h"
#include "util.h"

#define MAX_MEMBERS 16

struct world {
	struct registry reg;
	struct store_sink sink;
	uint64_t index;
	struct dns_view *view;
};

static void
die(const char *what)
{
	fprintf(stderr, "fuzz check failed: %s\n", what);
	abort();
}

/* ---- a registry and DNS view, fresh for every input ---- */

static void
commit(struct world *w, struct change *c)
{
	c->index = ++w->index;
	w->sink.apply(w->sink.arg, c);
}

static void
commit_proposal(struct world *w, struct proposal *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		commit(w, &p->changes[i]);
	w->sink.batch_end(w->sink.arg, w->index);
}

static void
world_init(struct world *w)
{
	struct dns_view_config vc = {
		.zone = "discovery.internal",
		.zones_dir = "/nonexistent/srvgate-fuzz",
		.ns_name = "ns1.discovery.internal.",
		.ns_address = "192.0.2.53",
		.soa_email = "hostmaster.discovery.internal.",
		.srv_name = "fz", .ttl = 60, .neg_ttl = 30, .journal_max = 8,
		.max_published = 64,
	};
	struct change c = { .kind = CHANGE_TOKEN_PUT, .size = 3,
			    .created_at = 1000 };
	errbuf_t err;

	memset(w, 0, sizeof(*w));
	registry_init(&w->reg, 1000);
	w->sink = registry_sink(&w->reg);
	w->view = dns_view_new(&vc, &w->reg, err);
	if (w->view == NULL)
		die(err);
	strcpy(c.token, "abc123");
	commit(w, &c);
	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_MEMBER_PUT;
	c.action = ACTION_SET;
	strcpy(c.token, "abc123");
	strcpy(c.name, "m1");
	c.value = "m1=https://10.0.0.1:2380";
	commit(w, &c);
	strcpy(c.name, "m2");
	c.value = "m2=http://m2.example:2380";
	commit(w, &c);
	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_ALIAS_PUT;
	strcpy(c.token, "abc123");
	strcpy(c.name, "prod");
	commit(w, &c);
	w->sink.batch_end(w->sink.arg, w->index);
}

static void
world_free(struct world *w)
{
	dns_view_free(w->view);
	registry_free(&w->reg);
}

/* ---- what srvgate writes must read back ---- */

static void
check_listing(const struct token *tok)
{
	char *s = etcdjson_token_dir(tok, 0);
	json_t *j = json_loads(s, 0, NULL), *nodes, *node;
	size_t i;

	if (j == NULL)
		die("etcdjson_token_dir wrote JSON that does not parse");
	nodes = json_object_get(json_object_get(j, "node"), "nodes");
	if (json_array_size(nodes) != tok->nmembers)
		die("the listing lost members");
	json_array_foreach(nodes, i, node) {
		const char *v = json_string_value(json_object_get(node,
								  "value"));

		if (v == NULL || strcmp(v, tok->members[i]->value) != 0)
			die("the listing changed a member's value");
	}
	json_decref(j);
	free(s);
	if (tok->nmembers > 0) {
		s = etcdjson_member("set", tok->name, tok->members[0],
				    tok->members[tok->nmembers - 1]);
		j = json_loads(s, 0, NULL);
		if (j == NULL)
			die("etcdjson_member wrote JSON that does not parse");
		json_decref(j);
		free(s);
	}
}

/* An error answer quotes what the client sent, bytes that are not UTF-8
 * included. */
static void
check_error(const uint8_t *data, size_t size)
{
	char *cause = malloc(size + 1), *s;
	json_t *j;

	if (cause == NULL)
		return;
	memcpy(cause, data, size);
	cause[size] = '\0';
	s = etcdjson_error(ETCD_INVALID_FIELD, "Invalid field", cause, 7);
	j = json_loads(s, 0, NULL);
	if (j == NULL || !json_is_string(json_object_get(j, "cause")))
		die("etcdjson_error wrote JSON that does not parse");
	json_decref(j);
	free(s);
	free(cause);
}

/* ---- the admin API's reading (admin.c parse_member, parse_spec) ---- */

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

static int
parse_spec(json_t *body, unsigned max_members, struct token_spec *s,
	   char *err)
{
	json_t *members, *m;
	json_int_t sz = 0;
	size_t i;

	if (json_unpack(body, "{s?I, s:o}", "size", &sz, "members",
			&members) != 0 || !json_is_array(members))
		return fail(err, "want {\"size\":N,\"members\":[...]}");
	if (json_array_size(members) > max_members)
		return fail(err, "more than %u members", max_members);
	s->members = xcalloc(json_array_size(members) + 1,
			     sizeof(*s->members));
	json_array_foreach(members, i, m) {
		if (parse_member(m, i, &s->members[i], err) != 0)
			return -1;
		s->n = i + 1;
	}
	if (sz < 0 || sz > 1000000)
		return fail(err, "bad size");
	s->size = sz > 0 ? (unsigned)sz : (unsigned)s->n;
	if (s->size == 0)
		return fail(err, "size must be at least 1");
	return 0;
}

/* PUT /_admin/tokens/<token>?mode=import|sync[&force=true]: planned and,
 * when the plan says so, committed. */
static void
admin_token(struct world *w, json_t *body, const char *token, int sync,
	    int force)
{
	struct token_spec spec;
	struct proposal *p;
	enum registry_status rs;
	const struct token *tok;
	errbuf_t err;

	memset(&spec, 0, sizeof(spec));
	snprintf(spec.token, sizeof(spec.token), "%s", token);
	spec.force = force;
	if (parse_spec(body, MAX_MEMBERS, &spec, err) != 0) {
		token_spec_free(&spec);
		return;
	}
	p = proposal_new();
	if (sync) /* as srvgate sync sends it */
		snprintf(spec.cluster_id, sizeof(spec.cluster_id), "c1");
	rs = sync ? plan_sync(&w->reg, p, &spec, NULL) :
		    plan_import(&w->reg, p, &spec);
	if (rs == REG_OK && p->n > 0)
		commit_proposal(w, p);
	proposal_free(p);
	tok = registry_find_token(&w->reg, token);
	if (rs == REG_OK && tok == NULL)
		die("an import or sync that succeeded left no token");
	if (tok != NULL)
		check_listing(tok);
	token_spec_free(&spec);
}

/* PUT /_admin/aliases/<name> {"token":T} */
static void
admin_alias(struct world *w, json_t *body, const char *name)
{
	const char *token = NULL;
	struct proposal *p;

	if (json_unpack(body, "{s:s}", "token", &token) != 0 ||
	    strlen(token) > REGISTRY_NAME_MAX)
		return;
	p = proposal_new();
	if (plan_alias_set(&w->reg, p, name, token, 1) == REG_OK)
		commit_proposal(w, p);
	proposal_free(p);
}

/* ---- the tools' reading (tools.c read_size, read_members, sync) ---- */

struct src_member {
	char id[REGISTRY_NAME_MAX + 1];
	const char *value;
	json_int_t created;
};

static int
by_created(const void *a, const void *b)
{
	const struct src_member *x = a, *y = b;

	return x->created < y->created ? -1 : x->created > y->created;
}

static void
tool_read_size(json_t *j)
{
	const char *v = NULL;
	uint64_t n;

	if (json_unpack(j, "{s:{s:s}}", "node", "value", &v) == 0 &&
	    parse_uint(v, 1, 1000000, &n) == 0 && (n < 1 || n > 1000000))
		die("a size out of range");
}

/* A listing becomes the members body `srvgate import` sends. */
static json_t *
tool_read_members(json_t *listing)
{
	json_t *nodes, *node, *members;
	struct src_member *ms;
	size_t i, n = 0;

	nodes = json_object_get(json_object_get(listing, "node"), "nodes");
	ms = xcalloc(json_array_size(nodes) + 1, sizeof(*ms));
	json_array_foreach(nodes, i, node) {
		const char *key = NULL, *value = NULL, *base;
		json_int_t created = 0;

		if (json_unpack(node, "{s:s, s?s, s?I}", "key", &key, "value",
				&value, "createdIndex", &created) != 0)
			continue;
		base = strrchr(key, '/') ? strrchr(key, '/') + 1 : key;
		if (base[0] == '_' || value == NULL)
			continue;
		if (!registry_valid_name(base)) {
			free(ms);
			return NULL;
		}
		snprintf(ms[n].id, sizeof(ms[0].id), "%s", base);
		ms[n].value = value;
		ms[n].created = created;
		n++;
	}
	qsort(ms, n, sizeof(*ms), by_created);
	members = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(members, json_pack("{s:s, s:s}", "id",
							 ms[i].id, "value",
							 ms[i].value));
	free(ms);
	return json_pack("{s:i, s:o}", "size", (int)(n ? n : 1), "members",
			 members);
}

static char *
join_strings(json_t *arr, const char *prefix)
{
	size_t i, n = 0;
	json_t *v;
	char *out = xmalloc(1);

	out[0] = '\0';
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL)
			continue;
		out = xrealloc(out, n + strlen(prefix) + strlen(s) + 3);
		n += (size_t)sprintf(out + n, "%s%s%s", n ? "," : "", prefix, s);
	}
	return out;
}

static json_t *
sync_member(json_t *m, int v3)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	json_t *idj = json_object_get(m, v3 ? "ID" : "id");
	char id[32], prefix[300], *value, *clients;
	json_t *out;

	if (v3 && json_is_string(idj))
		snprintf(id, sizeof(id), "%llx",
			 strtoull(json_string_value(idj), NULL, 10));
	else if (v3 && json_is_integer(idj))
		snprintf(id, sizeof(id), "%llx",
			 (unsigned long long)json_integer_value(idj));
	else if (json_is_string(idj))
		snprintf(id, sizeof(id), "%s", json_string_value(idj));
	else
		return NULL;
	snprintf(prefix, sizeof(prefix), "%s=",
		 name && name[0] ? name : id);
	value = join_strings(json_object_get(m, "peerURLs"), prefix);
	clients = join_strings(json_object_get(m, "clientURLs"), "");
	out = json_pack("{s:s, s:s}", "id", id, "value", value);
	if (clients[0] != '\0')
		json_object_set_new(out, "clients", json_string(clients));
	free(value);
	free(clients);
	return out;
}

/* An etcd member list becomes the body `srvgate sync` sends. */
static json_t *
tool_sync_body(json_t *j, int v3)
{
	json_t *ms = json_object_get(j, "members"), *m, *members;
	size_t i;

	if (!json_is_array(ms) || json_array_size(ms) == 0)
		return NULL;
	members = json_array();
	json_array_foreach(ms, i, m) {
		json_t *sm = sync_member(m, v3);

		if (sm != NULL)
			json_array_append_new(members, sm);
	}
	return json_pack("{s:o}", "members", members);
}

/* What a tool sends goes through JSON text, as over HTTP. */
static void
send_to_admin(struct world *w, json_t *body, const char *token, int sync)
{
	char *text;
	json_t *again;

	if (body == NULL)
		return;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return;
	again = json_loads(text, 0, NULL);
	free(text);
	if (again == NULL)
		die("a tool's body does not parse");
	admin_token(w, again, token, sync, 0);
	json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world w;
	json_t *j;

	log_threshold = LOG_ERROR;
	check_error(data, size);
	j = json_loadb((const char *)data, size, 0, NULL);
	if (j == NULL)
		return 0;
	world_init(&w);
	admin_token(&w, j, "abc123", 0, 0);
	admin_token(&w, j, "abc123", 1, 0);
	admin_token(&w, j, "abc123", 0, 1);
	admin_token(&w, j, "fresh", 0, 0);
	admin_alias(&w, j, "prod");
	admin_alias(&w, j, "staging");
	tool_read_size(j);
	send_to_admin(&w, tool_read_members(j), "imported", 0);
	send_to_admin(&w, tool_sync_body(j, 0), "abc123", 1);
	send_to_admin(&w, tool_sync_body(j, 1), "fresh", 1);
	json_decref(j);
	world_free(&w);
	return 0;
}
