/* tools.c -- client subcommands that talk to srvgate, to other discovery
 * services and to running etcd clusters over HTTP(S). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "peers.h"
#include "registry.h"
#include "tools.h"
#include "util.h"

#define TIMEOUT_MS 10000

enum { O_GATEWAY = 1000, O_ADMIN, O_CACERT, O_FORMAT, O_ETCD, O_TOKEN,
       O_SIZE, O_INTERVAL, O_FORCE, O_DELETE, O_DRY_RUN, O_JSON, O_LIMIT };

static const struct option long_opts[] = {
	{ "gateway", required_argument, NULL, O_GATEWAY },
	{ "admin-token", required_argument, NULL, O_ADMIN },
	{ "cacert", required_argument, NULL, O_CACERT },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "etcd", required_argument, NULL, O_ETCD },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "size", required_argument, NULL, O_SIZE },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "force", no_argument, NULL, O_FORCE },
	{ "delete", no_argument, NULL, O_DELETE },
	{ "dry-run", no_argument, NULL, O_DRY_RUN },
	{ "json", no_argument, NULL, O_JSON },
	{ "limit", required_argument, NULL, O_LIMIT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : dflt;
}

/* Parses argv into o; returns the index of the first operand, -1 for
 * --help (usage printed) or -2 for a bad flag (message printed). */
int
parse_opts(int argc, char **argv, struct tool_opts *o, const char *usage)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->gateway = env_or("SRVGATE_GATEWAY", "http://127.0.0.1:8087");
	o->admin_token = env_or("SRVGATE_ADMIN_TOKEN", NULL);
	o->format = "flag";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case O_GATEWAY: o->gateway = optarg; break;
		case O_ADMIN: o->admin_token = optarg; break;
		case O_CACERT: o->cacert = optarg; break;
		case O_FORMAT: o->format = optarg; break;
		case O_ETCD: o->etcd = optarg; break;
		case O_TOKEN: o->token = optarg; break;
		case O_SIZE: o->size = optarg; break;
		case O_INTERVAL: o->interval = optarg; break;
		case O_FORCE: o->force = 1; break;
		case O_DELETE: o->del = 1; break;
		case O_DRY_RUN: o->dry_run = 1; break;
		case O_JSON: o->json = 1; break;
		case O_LIMIT: o->limit = optarg; break;
		case 'h':
			printf("%s", usage);
			return -1;
		default:
			fprintf(stderr, "srvgate %s: bad flag '%s'\n%s",
				argv[0], argv[optind - 1], usage);
			return -2;
		}
	}
	return optind;
}

/* The exit code for parse_opts's non-operand answers. */
int
opts_exit(int rc)
{
	return rc == -1 ? 0 : EXIT_USAGE;
}

char *
join_url(const char *base, const char *path)
{
	size_t n = strlen(base);
	char *u = xmalloc(n + strlen(path) + 2);

	while (n > 0 && base[n - 1] == '/')
		n--;
	sprintf(u, "%.*s%s", (int)n, base, path);
	return u;
}

/* An error answer's words: the cause of srvgate's (and etcd's v2) JSON
 * errors, else the body as it came. */
static void
error_words(const char *body, char *out, size_t len)
{
	json_t *j = json_loads(body, 0, NULL);
	const char *cause = json_string_value(json_object_get(j, "cause"));

	snprintf(out, len, "%s", cause && cause[0] ? cause : body);
	json_decref(j);
}

json_t *
call_json_ex(const char *method, const char *url, const char *body,
	     const struct tool_opts *o, const char *auth, int want,
	     struct call_out *out, char *err)
{
	struct httpc_response r;
	json_error_t jerr;
	json_t *j;

	memset(out, 0, sizeof(*out));
	if (httpc_request(method, url, body, auth, o->cacert, TIMEOUT_MS,
			  &r, out->words) != 0) {
		fail(err, "%s %s: %s", method, url, out->words);
		return NULL;
	}
	out->status = r.status;
	strcpy(out->cluster_id, r.etcd_cluster_id);
	if (r.status != want) {
		error_words(r.body, out->words, sizeof(out->words));
		fail(err, "%s %s: HTTP %d: %.300s", method, url, r.status,
		     out->words);
		free(r.body);
		return NULL;
	}
	j = json_loads(r.body, 0, &jerr);
	if (j == NULL)
		fail(err, "%s %s: answer is not JSON: %s", method, url,
		     jerr.text);
	free(r.body);
	return j;
}

json_t *
call_json(const char *method, const char *url, const char *body,
	  const struct tool_opts *o, const char *auth, int want, char *err)
{
	struct call_out out;

	return call_json_ex(method, url, body, o, auth, want, &out, err);
}

/* ---- reading a token from any v2 discovery service ---- */

static int
by_created(const void *a, const void *b)
{
	const struct src_member *x = a, *y = b;

	return x->created < y->created ? -1 : x->created > y->created;
}

int
src_size_of(json_t *j, unsigned *size)
{
	const char *v = NULL;
	uint64_t n;

	if (json_unpack(j, "{s:{s:s}}", "node", "value", &v) != 0 ||
	    parse_uint(v, 1, 1000000, &n) != 0)
		return -1;
	*size = (unsigned)n;
	return 0;
}

static int
read_size(const char *url, const struct tool_opts *o, unsigned *size,
	  char *err)
{
	char *u = join_url(url, "/_config/size");
	json_t *j = call_json("GET", u, NULL, o, NULL, 200, err);
	int rc = -1;

	if (j != NULL && src_size_of(j, size) == 0)
		rc = 0;
	else if (j != NULL)
		fail(err, "%s: no usable size", u);
	json_decref(j);
	free(u);
	return rc;
}

int
src_members_of(struct src_token *t, char *err)
{
	json_t *nodes, *node;
	size_t i;

	nodes = json_object_get(json_object_get(t->listing, "node"), "nodes");
	t->members = xcalloc(json_array_size(nodes) + 1, sizeof(*t->members));
	json_array_foreach(nodes, i, node) {
		const char *key = NULL, *value = NULL, *base;
		json_int_t created = 0;

		if (json_unpack(node, "{s:s, s?s, s?I}", "key", &key, "value",
				&value, "createdIndex", &created) != 0)
			continue;
		base = strrchr(key, '/') ? strrchr(key, '/') + 1 : key;
		if (base[0] == '_' || value == NULL)
			continue; /* _config, as etcd's client skips it */
		if (!registry_valid_name(base))
			return fail(err, "member id '%s' cannot be a DNS label",
				    base);
		snprintf(t->members[t->n].id, sizeof(t->members[0].id), "%s",
			 base);
		t->members[t->n].value = value;
		t->members[t->n].created = created;
		t->n++;
	}
	qsort(t->members, t->n, sizeof(*t->members), by_created);
	return 0;
}

static int
read_members(const char *url, const struct tool_opts *o, struct src_token *t,
	     char *err)
{
	t->listing = call_json("GET", url, NULL, o, NULL, 200, err);
	if (t->listing == NULL)
		return -1;
	return src_members_of(t, err);
}

/* Reads DISCOVERY_URL: the token is its last path segment. */
static int
read_token(const char *url, const struct tool_opts *o, struct src_token *t,
	   char *err)
{
	const char *end = url + strlen(url), *start;

	memset(t, 0, sizeof(*t));
	while (end > url && end[-1] == '/')
		end--;
	start = end;
	while (start > url && start[-1] != '/')
		start--;
	if (end - start == 0 || end - start > REGISTRY_NAME_MAX)
		return fail(err, "'%s' does not end in a token", url);
	snprintf(t->name, sizeof(t->name), "%.*s", (int)(end - start), start);
	if (!registry_valid_name(t->name))
		return fail(err, "token '%s' is not [a-z0-9-] (a DNS label)",
			    t->name);
	if (read_size(url, o, &t->size, err) != 0)
		return -1;
	return read_members(url, o, t, err);
}

void
src_token_free(struct src_token *t)
{
	free(t->members);
	json_decref(t->listing);
}

/* ---- srvgate new ---- */

int
tool_new(int argc, char **argv)
{
	static const char usage[] =
		"usage: srvgate new [--gateway URL] [--size N]\n"
		"Prints a new discovery URL from a running srvgate.\n";
	struct tool_opts o;
	struct httpc_response r;
	errbuf_t err;
	uint64_t n = 3;
	char path[64], *url;
	int i = parse_opts(argc, argv, &o, usage);

	if (i < 0)
		return opts_exit(i);
	if (i < argc || (o.size && parse_uint(o.size, 1, 1000000, &n) != 0)) {
		fprintf(stderr, "srvgate new: --size takes a whole number "
				"from 1\n%s", usage);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/new?size=%llu", (unsigned long long)n);
	url = join_url(o.gateway, path);
	if (httpc_request("GET", url, NULL, NULL, o.cacert, TIMEOUT_MS, &r,
			  err) != 0 || r.status != 200) {
		fprintf(stderr, "srvgate new: %s: %s\n", url,
			r.body ? r.body : err);
		free(r.body);
		free(url);
		return 1;
	}
	printf("%s\n", r.body);
	free(r.body);
	free(url);
	return 0;
}

/* ---- dry runs: the plan the gateway answers with ---- */

static void
print_member(char sign, json_t *m)
{
	const char *clients = json_string_value(json_object_get(m, "clients"));

	printf("  %c %s  %s%s%s\n", sign,
	       json_string_value(json_object_get(m, "id")),
	       json_string_value(json_object_get(m, "value")),
	       clients ? "  clients " : "", clients ? clients : "");
}

static const char *
or_none(const char *s)
{
	return s && s[0] ? s : "none";
}

/* Prints what a dry run would change (the gateway's plan, see README's
 * HTTP API); 0 when it would go ahead, 1 when it would be refused. */
static int
print_plan(json_t *plan, const char *what, const char *token)
{
	const char *refused = json_string_value(json_object_get(plan,
								"refused"));
	json_t *size = json_object_get(plan, "size");
	json_t *cl = json_object_get(plan, "cluster_id");
	json_t *m, *ch = json_object_get(plan, "changed");
	json_int_t sb = json_integer_value(json_object_get(size, "before"));
	json_int_t sa = json_integer_value(json_object_get(size, "after"));
	const char *cb = json_string_value(json_object_get(cl, "before"));
	const char *ca = json_string_value(json_object_get(cl, "after"));
	size_t i;

	if (!json_is_true(json_object_get(plan, "dry_run"))) {
		/* A gateway from before dry runs ignores dry_run=true. */
		fprintf(stderr, "srvgate %s: the gateway did not answer with a "
			"plan (a srvgate without dry runs?): the %s of token %s "
			"may have been made\n", what, what, token);
		return 1;
	}
	printf("dry run: %s of token %s%s, nothing changed\n", what, token,
	       json_is_true(json_object_get(plan, "exists")) ? "" :
	       " (a new token)");
	if (sb != sa)
		printf("  size %lld -> %lld\n", (long long)sb, (long long)sa);
	if (strcmp(or_none(cb), or_none(ca)) != 0)
		printf("  etcd cluster %s -> %s\n", or_none(cb), or_none(ca));
	json_array_foreach(json_object_get(plan, "added"), i, m)
		print_member('+', m);
	json_array_foreach(json_object_get(plan, "removed"), i, m)
		print_member('-', m);
	json_array_foreach(ch, i, m) {
		print_member('~', json_object_get(m, "before"));
		print_member('>', json_object_get(m, "after"));
	}
	if (refused != NULL) {
		printf("would be refused: %s\n", refused);
		return 1;
	}
	printf("%lld change(s) would be made\n", (long long)
	       json_integer_value(json_object_get(plan, "changes")));
	return 0;
}

/* The gateway's PUT for sync and import: ?mode=M, and force and dry_run
 * as the flags say. */
static char *
token_put_url(const struct tool_opts *o, const char *token, const char *mode)
{
	char path[160];

	snprintf(path, sizeof(path), "/_admin/tokens/%s?mode=%s%s%s", token,
		 mode, o->force ? "&force=true" : "",
		 o->dry_run ? "&dry_run=true" : "");
	return join_url(o->gateway, path);
}

/* ---- srvgate import ---- */

char *
members_body(const struct src_token *t, int with_size)
{
	json_t *members = json_array(), *o;
	char *s;
	size_t i;

	for (i = 0; i < t->n; i++)
		json_array_append_new(members, json_pack(
			"{s:s, s:s}", "id", t->members[i].id, "value",
			t->members[i].value));
	o = with_size ? json_pack("{s:i, s:o}", "size", (int)t->size,
				  "members", members)
		      : json_pack("{s:o}", "members", members);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int
tool_import(int argc, char **argv)
{
	static const char usage[] =
		"usage: srvgate import DISCOVERY_URL --gateway URL [--force]\n"
		"       [--dry-run] [--cacert FILE] [--admin-token TOKEN]\n"
		"Copies a token from any v2 discovery service (the public "
		"service's /<token>,\nor etcd's /v2/keys/_etcd/registry/<token>) "
		"into srvgate, with the same\ntoken, size, member ids and "
		"values. Running it again changes nothing.\n"
		"A token that differs here is replaced only with --force. "
		"--dry-run prints\nwhat would change (members added, removed, "
		"changed; the size) and changes\nnothing; it exits 1 when the "
		"import would be refused.\n";
	struct tool_opts o;
	struct src_token t;
	char *url, *body;
	errbuf_t err;
	json_t *j;
	int i = parse_opts(argc, argv, &o, usage), rc;

	if (i < 0)
		return opts_exit(i);
	if (argc - i != 1) {
		fprintf(stderr, "srvgate import: give one DISCOVERY_URL\n%s",
			usage);
		return EXIT_USAGE;
	}
	if (read_token(argv[i], &o, &t, err) != 0) {
		fprintf(stderr, "srvgate import: %s\n", err);
		src_token_free(&t);
		return 1;
	}
	url = token_put_url(&o, t.name, "import");
	body = members_body(&t, 1);
	j = call_json("PUT", url, body, &o, o.admin_token, 200, err);
	rc = j != NULL ? 0 : 1;
	if (j == NULL)
		fprintf(stderr, "srvgate import: %s\n", err);
	else if (o.dry_run)
		rc = print_plan(j, "import", t.name);
	else /* the gateway says whether anything changed */
		printf("%s %s: size %u, %zu members\n",
		       json_is_false(json_object_get(j, "changed")) ?
			       "unchanged" : "imported", t.name, t.size, t.n);
	json_decref(j);
	free(body);
	free(url);
	src_token_free(&t);
	return rc;
}

/* ---- srvgate initial-cluster ---- */

int
tool_initial_cluster(int argc, char **argv)
{
	static const char usage[] =
		"usage: srvgate initial-cluster TOKEN --gateway URL "
		"[--format flag|env]\n"
		"Prints etcd's static --initial-cluster as etcd would assemble "
		"it from the\ntoken: the first `size` members by createdIndex, "
		"values joined with commas.\nTOKEN may also be a whole discovery "
		"URL.\n";
	struct tool_opts o;
	struct src_token t;
	errbuf_t err;
	char *url;
	size_t k, n;
	int i = parse_opts(argc, argv, &o, usage);

	if (i < 0)
		return opts_exit(i);
	if (argc - i != 1 || (strcmp(o.format, "flag") != 0 &&
			      strcmp(o.format, "env") != 0)) {
		fprintf(stderr, "srvgate initial-cluster: give one TOKEN; "
				"--format is flag or env\n%s", usage);
		return EXIT_USAGE;
	}
	url = strstr(argv[i], "://") ? xstrdup(argv[i]) : NULL;
	if (url == NULL) {
		char path[REGISTRY_NAME_MAX + 2];

		snprintf(path, sizeof(path), "/%s", argv[i]);
		url = join_url(o.gateway, path);
	}
	if (read_token(url, &o, &t, err) != 0) {
		fprintf(stderr, "srvgate initial-cluster: %s\n", err);
		src_token_free(&t);
		free(url);
		return 1;
	}
	n = t.n < t.size ? t.n : t.size;
	printf("%s", strcmp(o.format, "env") == 0 ? "ETCD_INITIAL_CLUSTER="
						  : "--initial-cluster=");
	for (k = 0; k < n; k++)
		printf("%s%s", k ? "," : "", t.members[k].value);
	printf("\n");
	if (n < t.size)
		fprintf(stderr, "srvgate initial-cluster: warning: only %zu of "
				"%u members registered\n", n, t.size);
	src_token_free(&t);
	free(url);
	return n > 0 ? 0 : 1;
}

/* ---- srvgate sync ---- */

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

/* One etcd member as srvgate's sync wants it. A member added but not yet
 * started has no name; its id stands in, as initial-cluster needs one. */
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

/* The cluster ID as srvgate stores it (hex, as etcd prints it): from the
 * v3 answer's header (a decimal uint64, as a string) or the v2 API's
 * X-Etcd-Cluster-Id header (hex already). */
static int
etcd_cluster_id(json_t *answer, int v3, const char *header, char *out)
{
	json_t *cid = json_object_get(json_object_get(answer, "header"),
				      "cluster_id");
	unsigned long long n;
	char *end;

	out[0] = '\0';
	if (v3 && json_is_string(cid)) {
		errno = 0;
		n = strtoull(json_string_value(cid), &end, 10);
		if (errno == 0 && *end == '\0' && end != json_string_value(cid))
			snprintf(out, STORE_CLUSTER_ID_MAX + 1, "%llx", n);
	} else if (v3 && json_is_integer(cid)) {
		snprintf(out, STORE_CLUSTER_ID_MAX + 1, "%llx",
			 (unsigned long long)json_integer_value(cid));
	} else if (!v3 && strlen(header) <= STORE_CLUSTER_ID_MAX) {
		for (n = 0; header[n] != '\0'; n++)
			out[n] = (char)tolower((unsigned char)header[n]);
		out[n] = '\0';
	}
	return registry_valid_cluster_id(out) ? 0 : -1;
}

json_t *
sync_members_of(json_t *answer, int v3, const char *header, char *cluster_id,
		const char *from, char *err)
{
	json_t *ms = json_object_get(answer, "members"), *m, *members;
	size_t i;

	if (!json_is_array(ms) || json_array_size(ms) == 0)
		return NULL;
	if (etcd_cluster_id(answer, v3, header, cluster_id) != 0) {
		fail(err, "%s did not say which cluster it is (no cluster ID "
		     "in its member list)", from);
		return NULL;
	}
	members = json_array();
	json_array_foreach(ms, i, m) {
		json_t *sm = sync_member(m, v3);

		if (sm != NULL)
			json_array_append_new(members, sm);
	}
	return members;
}

/* The member list from etcd's JSON gateway, or its v2 API, and the
 * cluster's ID; *from is the endpoint that answered. */
static json_t *
etcd_members(const char *endpoints, const struct tool_opts *o,
	     char *cluster_id, char *from, size_t fromlen, char *err)
{
	char list[2048], *save = NULL, *ep;
	struct call_out out = { 0 };
	json_t *members = NULL;

	snprintf(list, sizeof(list), "%s", endpoints);
	for (ep = strtok_r(list, ",", &save); ep && !members;
	     ep = strtok_r(NULL, ",", &save)) {
		char *u = join_url(ep, "/v3/cluster/member/list");
		json_t *j = call_json("POST", u, "{}", o, NULL, 200, err);
		int v3 = j != NULL;

		free(u);
		if (j == NULL) {
			u = join_url(ep, "/v2/members");
			j = call_json_ex("GET", u, NULL, o, NULL, 200, &out,
					 err);
			free(u);
		}
		members = sync_members_of(j, v3, out.cluster_id, cluster_id, ep,
					  err);
		if (members != NULL)
			snprintf(from, fromlen, "%s", ep);
		json_decref(j);
	}
	if (members == NULL && err[0] == '\0')
		fail(err, "no member list from %s", endpoints);
	return members;
}

/* With --interval, each line says when: sync runs for days under a
 * service manager that may not stamp them. */
static int sync_stamped;

static void
sync_stamp(FILE *f)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;

	if (!sync_stamped)
		return;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	fputs(ts, f);
}

static int
sync_once(const struct tool_opts *o)
{
	char *url, *body, cluster[STORE_CLUSTER_ID_MAX + 1], from[512];
	json_t *members, *req, *j;
	struct call_out out;
	errbuf_t err = "";
	int rc;

	members = etcd_members(o->etcd, o, cluster, from, sizeof(from), err);
	if (members == NULL) {
		sync_stamp(stderr);
		fprintf(stderr, "srvgate sync: %s\n", err);
		return 1;
	}
	req = json_pack("{s:o, s:s}", "members", members, "cluster_id",
			cluster);
	body = json_dumps(req, JSON_COMPACT);
	url = token_put_url(o, o->token, "sync");
	j = call_json_ex("PUT", url, body, o, o->admin_token, 200, &out, err);
	sync_stamp(j == NULL ? stderr : stdout);
	rc = j != NULL ? 0 : 1;
	if (j == NULL && out.status == 409)
		fprintf(stderr, "srvgate sync: refused, nothing changed: %s "
			"(etcd cluster %s answered at %s)\n", out.words,
			cluster, from);
	else if (j == NULL)
		fprintf(stderr, "srvgate sync: %s\n", err);
	else if (o->dry_run)
		rc = print_plan(j, "sync", o->token);
	else
		printf("synced %s: %zu members\n", o->token,
		       json_array_size(json_object_get(req, "members")));
	fflush(stdout);
	json_decref(j);
	json_decref(req);
	free(body);
	free(url);
	return rc;
}

/* 0 when every URL in a comma-separated list is http(s)://; else err
 * names the flag and the URL. */
static int
check_urls(const char *flag, const char *list, char *err)
{
	char buf[2048], *save = NULL, *u;

	snprintf(buf, sizeof(buf), "%s", list);
	for (u = strtok_r(buf, ",", &save); u != NULL;
	     u = strtok_r(NULL, ",", &save))
		if (strncmp(u, "http://", 7) != 0 &&
		    strncmp(u, "https://", 8) != 0)
			return fail(err, "%s: '%s' is not an http:// or "
				    "https:// URL (like http://%s)", flag, u,
				    u);
	if (list[0] == '\0' || list[strlen(list) - 1] == ',')
		return fail(err, "%s: '%s' is not a list of URLs", flag, list);
	return 0;
}

/* Says which flag is wrong, and how. */
static int
sync_check_opts(const struct tool_opts *o, const char *extra,
		uint64_t *every, char *err)
{
	if (extra != NULL)
		return fail(err, "unexpected argument '%s'", extra);
	if (o->etcd == NULL)
		return fail(err, "--etcd is required: the cluster's client "
			    "URLs");
	if (check_urls("--etcd", o->etcd, err) != 0)
		return -1;
	if (o->token == NULL)
		return fail(err, "--token is required: the token to update");
	if (!registry_valid_name(o->token))
		return fail(err, "--token: '%s' is not a token name "
			    "([a-z0-9-], at most %d)", o->token,
			    REGISTRY_NAME_MAX);
	if (check_urls("--gateway", o->gateway, err) != 0)
		return -1;
	if (o->interval != NULL &&
	    (parse_duration_ms(o->interval, every) != 0 || *every < 100))
		return fail(err, "--interval: '%s' is not a duration of at "
			    "least 100ms (like 30s, 5m)", o->interval);
	if (o->interval != NULL && o->dry_run)
		return fail(err, "--dry-run looks once: drop --interval");
	return 0;
}

int
tool_sync(int argc, char **argv)
{
	static const char usage[] =
		"usage: srvgate sync --etcd URL[,URL...] --token TOKEN "
		"--gateway URL\n       [--interval DURATION | --dry-run] "
		"[--force] [--cacert FILE]\n       [--admin-token TOKEN]\n"
		"Makes the token's members match a running cluster's member "
		"list (peer and\nclient URLs). With --interval it keeps doing "
		"so.\n"
		"The first sync records the cluster's ID on the token; a sync "
		"from another\ncluster is refused, and so is a first sync into "
		"a token holding members\nthe cluster does not list, unless "
		"--force. --dry-run prints what would\nchange and changes "
		"nothing; it exits 1 when the sync would be refused.\n";
	struct tool_opts o;
	uint64_t every = 0;
	errbuf_t err;
	int i = parse_opts(argc, argv, &o, usage), rc;

	if (i < 0)
		return opts_exit(i);
	if (sync_check_opts(&o, i < argc ? argv[i] : NULL, &every, err)) {
		fprintf(stderr, "srvgate sync: %s (see srvgate sync "
				"--help)\n", err);
		return EXIT_USAGE;
	}
	sync_stamped = every > 0;
	for (;;) {
		rc = sync_once(&o);
		if (every == 0)
			return rc;
		usleep((useconds_t)(every * 1000));
	}
}

/* ---- srvgate alias ---- */

int
tool_alias(int argc, char **argv)
{
	static const char usage[] =
		"usage: srvgate alias TOKEN NAME --gateway URL [--force | "
		"--delete]\n       [--admin-token TOKEN]\n"
		"Also publishes the token's records under NAME.<zone>. An "
		"alias that names\nanother token is moved only with --force. "
		"--delete removes NAME only if it\nnames TOKEN.\n";
	struct tool_opts o;
	struct call_out out;
	char path[256], body[128], *url;
	const char *from;
	errbuf_t err;
	json_t *j;
	int i = parse_opts(argc, argv, &o, usage);

	if (i < 0)
		return opts_exit(i);
	if (argc - i != 2 || !registry_valid_name(argv[i]) ||
	    !registry_valid_name(argv[i + 1])) {
		fprintf(stderr, "srvgate alias: give TOKEN and NAME, each "
				"[a-z0-9-]\n%s", usage);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/_admin/aliases/%s%s%s", argv[i + 1],
		 o.del ? "?token=" : o.force ? "?force=true" : "",
		 o.del ? argv[i] : "");
	snprintf(body, sizeof(body), "{\"token\":\"%s\"}", argv[i]);
	url = join_url(o.gateway, path);
	j = call_json_ex(o.del ? "DELETE" : "PUT", url, o.del ? NULL : body,
			 &o, o.admin_token, 200, &out, err);
	from = json_string_value(json_object_get(j, "moved_from"));
	if (j == NULL && out.status == 409)
		fprintf(stderr, "srvgate alias: refused, nothing changed: "
			"%s\n", out.words);
	else if (j == NULL)
		fprintf(stderr, "srvgate alias: %s\n", err);
	else if (o.del)
		printf("removed %s (it named %s)\n", argv[i + 1], argv[i]);
	else
		printf("alias %s -> %s%s%s%s\n", argv[i + 1], argv[i],
		       from ? " (moved from " : "", from ? from : "",
		       from ? ")" : "");
	json_decref(j);
	free(url);
	return j != NULL ? 0 : 1;
}
