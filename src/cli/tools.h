/* tools.h -- what the client subcommands share (tools.c): their flags and
 * their JSON calls to srvgate, other discovery services and etcd. */
#ifndef SRVGATE_TOOLS_H
#define SRVGATE_TOOLS_H

#include <jansson.h>

#include "registry.h"
#include "util.h"

#define EXIT_USAGE 2

/* Options every tool understands; each reads only those it needs. */
struct tool_opts {
	const char *gateway, *admin_token, *cacert, *format, *etcd, *token;
	const char *size, *interval, *limit;
	int force, del, dry_run, json;
};

/* Parses argv into o; returns the index of the first operand, -1 for
 * --help (usage printed) or -2 for a bad flag (message printed). */
int parse_opts(int argc, char **argv, struct tool_opts *o, const char *usage);
/* The exit code for parse_opts's non-operand answers. */
int opts_exit(int rc);
/* base (its trailing slashes dropped) then path; the caller frees it. */
char *join_url(const char *base, const char *path);

/* What came back besides the JSON: the status (0: no answer), etcd's
 * X-Etcd-Cluster-Id and an error answer's words. */
struct call_out {
	int status;
	char cluster_id[24];
	char words[ERRBUF_SIZE];
};

/* One call; answers other than want are errors with the body's words.
 * auth is the admin token for the gateway and NULL for every other
 * server: the discovery service a token comes from and the etcd members
 * sync reads must never see srvgate's admin token. */
json_t *call_json_ex(const char *method, const char *url, const char *body,
		     const struct tool_opts *o, const char *auth, int want,
		     struct call_out *out, char *err);
json_t *call_json(const char *method, const char *url, const char *body,
		  const struct tool_opts *o, const char *auth, int want,
		  char *err);

/* ---- what the tools read (shared with tests/fuzz/fuzz_etcdjson.c) ---- */

/* A token as another v2 discovery service lists it. */
struct src_member {
	char id[REGISTRY_NAME_MAX + 1];
	const char *value; /* points into the JSON it came from */
	json_int_t created;
};

struct src_token {
	char name[REGISTRY_NAME_MAX + 1];
	unsigned size;
	struct src_member *members;
	size_t n;
	json_t *listing; /* owns the values */
};

/* A size key's answer ({"node":{"value":"3"}}): 0 and *size, or -1. */
int src_size_of(json_t *j, unsigned *size);
/* The members of t->listing (a token's directory), oldest first; -1 with
 * err for an id that cannot be a DNS label. */
int src_members_of(struct src_token *t, char *err);
void src_token_free(struct src_token *t);
/* The body `import` sends: {"size":N,"members":[{"id","value"}...]}
 * (size left out unless with_size). */
char *members_body(const struct src_token *t, int with_size);

/* The members of an etcd member list (v3 from its JSON gateway; v2 with
 * header, its X-Etcd-Cluster-Id) as sync sends them, and the cluster's
 * ID (hex) into cluster_id. NULL when it lists none, or (err, naming
 * from) when it does not say which cluster it is. */
json_t *sync_members_of(json_t *answer, int v3, const char *header,
			char *cluster_id, const char *from, char *err);

#endif
