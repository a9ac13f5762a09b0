/* tokens.c -- srvgate tokens list|show|delete: the gateway's tokens
 * through its admin API (GET /_admin/tokens, GET and DELETE
 * /_admin/tokens/<token>), for people (a table) or scripts (--json). */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry.h"
#include "tools.h"

#define PAGE 500 /* tokens asked for per request (the gateway's most: 1000) */

static const char usage[] =
	"usage: srvgate tokens list [--limit N] [--json] [--gateway URL] "
	"[--admin-token TOKEN]\n"
	"       srvgate tokens show TOKEN [--json] [--gateway URL] "
	"[--admin-token TOKEN]\n"
	"       srvgate tokens delete TOKEN [--gateway URL] "
	"[--admin-token TOKEN]\n"
	"Lists the gateway's tokens by name (size, members, creation, the "
	"etcd cluster\nsync follows, aliases), shows one whole, or deletes "
	"one with its members and\naliases. --json prints the admin API's "
	"JSON; --limit stops after N tokens.\n";

static void
print_time(json_int_t at, char *out, size_t len)
{
	time_t t = (time_t)at;
	struct tm tm;

	if (at <= 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(out, len, "-");
	else
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *
joined(json_t *arr)
{
	size_t i, n = 1;
	char *out;
	json_t *v;

	json_array_foreach(arr, i, v)
		n += strlen(json_string_value(v)) + 1;
	out = xcalloc(1, n + 1);
	json_array_foreach(arr, i, v) {
		if (i > 0)
			strcat(out, ",");
		strcat(out, json_string_value(v));
	}
	if (out[0] == '\0')
		strcpy(out, "-");
	return out;
}

static void
print_row(json_t *t)
{
	const char *cl = json_string_value(json_object_get(t, "cluster_id"));
	char at[32], *al = joined(json_object_get(t, "aliases"));

	print_time(json_integer_value(json_object_get(t, "created_at")), at,
		   sizeof(at));
	printf("%-32s %5lld %7lld  %-20s  %-16s  %s\n",
	       json_string_value(json_object_get(t, "token")),
	       (long long)json_integer_value(json_object_get(t, "size")),
	       (long long)json_integer_value(json_object_get(t, "members")),
	       at, cl && cl[0] ? cl : "-", al);
	free(al);
}

/* Pages through GET /_admin/tokens until the end or --limit. */
static int
tokens_list(const struct tool_opts *o)
{
	uint64_t max = UINT64_MAX, shown = 0;
	char after[REGISTRY_NAME_MAX + 1] = "", path[160], *url;
	json_t *all = json_array(), *j, *t;
	const char *next;
	errbuf_t err;
	size_t i;

	if (o->limit && parse_uint(o->limit, 1, UINT64_MAX, &max) != 0) {
		fprintf(stderr, "srvgate tokens: --limit: '%s' is not a whole "
				"number from 1\n", o->limit);
		json_decref(all);
		return EXIT_USAGE;
	}
	if (!o->json)
		printf("%-32s %5s %7s  %-20s  %-16s  %s\n", "TOKEN", "SIZE",
		       "MEMBERS", "CREATED", "ETCD CLUSTER", "ALIASES");
	do {
		snprintf(path, sizeof(path), "/_admin/tokens?limit=%llu%s%s",
			 (unsigned long long)(max - shown < PAGE ?
					      max - shown : PAGE),
			 after[0] ? "&after=" : "", after);
		url = join_url(o->gateway, path);
		j = call_json("GET", url, NULL, o, o->admin_token, 200, err);
		free(url);
		if (j == NULL) {
			fprintf(stderr, "srvgate tokens: %s\n", err);
			json_decref(all);
			return 1;
		}
		json_array_foreach(json_object_get(j, "tokens"), i, t) {
			if (o->json)
				json_array_append(all, t);
			else
				print_row(t);
			shown++;
		}
		next = json_string_value(json_object_get(j, "next"));
		snprintf(after, sizeof(after), "%s", next ? next : "");
		json_decref(j);
	} while (after[0] != '\0' && shown < max);
	if (o->json)
		json_dumpf(all, stdout, JSON_INDENT(2));
	if (o->json)
		printf("\n");
	json_decref(all);
	return 0;
}

static void
print_token(json_t *t)
{
	const char *cl = json_string_value(json_object_get(t, "cluster_id"));
	char at[32], *al = joined(json_object_get(t, "aliases"));
	json_t *m;
	size_t i;

	print_time(json_integer_value(json_object_get(t, "created_at")), at,
		   sizeof(at));
	printf("token         %s\nsize          %lld\ncreated       %s\n"
	       "etcd cluster  %s\naliases       %s\nmembers       %zu\n",
	       json_string_value(json_object_get(t, "token")),
	       (long long)json_integer_value(json_object_get(t, "size")), at,
	       cl && cl[0] ? cl : "- (never synced)", al,
	       json_array_size(json_object_get(t, "members")));
	json_array_foreach(json_object_get(t, "members"), i, m) {
		const char *c = json_string_value(json_object_get(m, "clients"));

		printf("  %s  %s%s%s\n",
		       json_string_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "value")),
		       c ? "  clients " : "", c ? c : "");
	}
	free(al);
}

static int
tokens_one(const struct tool_opts *o, const char *token, int del)
{
	char path[REGISTRY_NAME_MAX + 32], *url, *al;
	struct call_out out;
	errbuf_t err;
	json_t *j;

	snprintf(path, sizeof(path), "/_admin/tokens/%s", token);
	url = join_url(o->gateway, path);
	j = call_json_ex(del ? "DELETE" : "GET", url, NULL, o, o->admin_token,
			 200, &out, err);
	if (j == NULL && out.status == 404)
		fprintf(stderr, "srvgate tokens: no token %s at %s\n", token,
			o->gateway);
	else if (j == NULL)
		fprintf(stderr, "srvgate tokens: %s\n", err);
	free(url);
	if (j == NULL)
		return 1;
	if (o->json) {
		json_dumpf(j, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (del) {
		al = joined(json_object_get(j, "aliases"));
		printf("deleted %s: %lld members; aliases removed: %s\n", token,
		       (long long)json_integer_value(json_object_get(
			       j, "members")), al);
		free(al);
	} else {
		print_token(j);
	}
	json_decref(j);
	return 0;
}

int
tool_tokens(int argc, char **argv)
{
	struct tool_opts o;
	const char *verb;
	int i;

	i = parse_opts(argc, argv, &o, usage);
	if (i < 0)
		return opts_exit(i);
	verb = i < argc ? argv[i] : "";
	if (strcmp(verb, "list") == 0 && argc - i == 1)
		return tokens_list(&o);
	if ((strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0) &&
	    argc - i == 2 && registry_valid_name(argv[i + 1]))
		return tokens_one(&o, argv[i + 1], verb[0] == 'd');
	fprintf(stderr, "srvgate tokens: give list, show TOKEN or delete "
			"TOKEN (a name of [a-z0-9-])\n%s", usage);
	return EXIT_USAGE;
}
