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
 * The readers are admin.c's and tools.c's own (src/http/admin.h,
 * src/cli/tools.h); the plans the core's (plan_import, plan_sync). Every
 * listing and error srvgate then writes must parse as JSON with the
 * values it was given. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "dns.h"
#include "etcdjson.h"
#include "import.h"
#include "registry.h"
#include "store.h"
#include "tools.h"
#include "util.h"

#define MAX_MEMBERS 16 /* --max-members, small: each costs a plan */

static struct config admin_cfg;

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

/* ---- the admin API ---- */

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
	if (admin_parse_spec(body, &admin_cfg, &spec, err) != 0 ||
	    admin_parse_cluster_id(body, &spec, err) != 0) {
		token_spec_free(&spec);
		return;
	}
	p = proposal_new();
	rs = sync ? plan_sync(&w->reg, p, &spec, err) :
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

/* ---- the tools' reading (tools.h) ---- */

static void
tool_read_size(json_t *j)
{
	unsigned n;

	if (src_size_of(j, &n) == 0 && (n < 1 || n > 1000000))
		die("a size out of range");
}

/* A listing becomes the body `srvgate import` sends (its size, since
 * there is no size key here, the number of members). */
static char *
tool_import_body(json_t *listing)
{
	struct src_token t;
	errbuf_t err;
	char *body = NULL;

	memset(&t, 0, sizeof(t));
	t.listing = json_incref(listing);
	if (src_members_of(&t, err) == 0) {
		t.size = t.n ? (unsigned)t.n : 1;
		body = members_body(&t, 1);
	}
	src_token_free(&t);
	return body;
}

/* An etcd member list (v3; or v2, its cluster ID in a header) becomes the
 * body `srvgate sync` sends. */
static char *
tool_sync_body(json_t *j, int v3)
{
	char cluster[STORE_CLUSTER_ID_MAX + 1];
	json_t *members, *req;
	errbuf_t err;
	char *body;

	members = sync_members_of(j, v3, "C1", cluster, "fuzz", err);
	if (members == NULL)
		return NULL;
	req = json_pack("{s:o, s:s}", "members", members, "cluster_id",
			cluster);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return body;
}

/* What a tool sends goes through JSON text, as over HTTP. */
static void
send_to_admin(struct world *w, char *text, const char *token, int sync)
{
	json_t *again;

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
	if (admin_cfg.max_members == 0) {
		config_defaults(&admin_cfg);
		admin_cfg.max_members = MAX_MEMBERS;
	}
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
	send_to_admin(&w, tool_import_body(j), "imported", 0);
	send_to_admin(&w, tool_sync_body(j, 0), "abc123", 1);
	send_to_admin(&w, tool_sync_body(j, 1), "fresh", 1);
	json_decref(j);
	world_free(&w);
	return 0;
}
