/* lookup_names.c -- member names for `srvgate lookup`'s --initial-cluster.
 * DNS holds no names: etcd's own --discovery-srv calls every member but
 * itself 0, 1, ..., which cannot be pasted into --initial-cluster (each
 * member must find its own --name there). The names are in the values the
 * members registered (`name=url`), so they are read from the srvgate that
 * holds the token, when it answers. */
#include "lookup.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpc.h"
#include "registry.h"
#include "tools.h"
#include "util.h"

#define NAMES_TIMEOUT_MS 3000

/* DOMAIN's first label, the token (or an alias, which the v2 API does not
 * know: then no names). */
static int
token_of(const char *domain, char *token, size_t len, char *err)
{
	size_t n = strcspn(domain, ".");

	if (n == 0 || n >= len || n > REGISTRY_NAME_MAX)
		return fail(err, "'%s' does not begin with a token", domain);
	snprintf(token, len, "%.*s", (int)n, domain);
	for (n = 0; token[n] != '\0'; n++)
		if (token[n] >= 'A' && token[n] <= 'Z')
			token[n] = (char)(token[n] - 'A' + 'a');
	if (!registry_valid_name(token))
		return fail(err, "'%s' is not a token", token);
	return 0;
}

/* The target without its trailing dot equals host (DNS names ignore case). */
static int
same_host(const char *target, const char *host)
{
	size_t n = strlen(target);

	if (n > 0 && target[n - 1] == '.')
		n--;
	return strlen(host) == n && strncasecmp(target, host, n) == 0;
}

/* An IP peer's target: `<id>.<domain>.`. */
static int
is_id_target(const char *target, const char *id, const char *domain)
{
	size_t n = strlen(id), d = strlen(domain);

	if (d > 0 && domain[d - 1] == '.')
		d--;
	return strncasecmp(target, id, n) == 0 && target[n] == '.' &&
	       strncasecmp(target + n + 1, domain, d) == 0 &&
	       (target[n + 1 + d] == '\0' ||
		strcmp(target + n + 1 + d, ".") == 0);
}

/* Names the peers one member's value (key id) stands for. */
static int
match_member(struct peer *peers, size_t n, const char *id, const char *value,
	     const char *domain)
{
	struct peer_url urls[PEERS_MAX];
	errbuf_t err;
	int k, nurls = peers_parse(value, urls, PEERS_MAX, err), found = 0;
	size_t i;

	for (i = 0; i < n && nurls > 0; i++) {
		struct peer *p = &peers[i];
		int by_id = is_id_target(p->target, id, domain);

		for (k = 0; k < nurls && p->name[0] == '\0'; k++) {
			if (urls[k].port != p->port ||
			    strcmp(urls[k].scheme, p->scheme) != 0)
				continue;
			if (by_id ? urls[k].host_is_ip
				  : same_host(p->target, urls[k].host)) {
				snprintf(p->name, sizeof(p->name), "%s",
					 urls[k].name);
				found += p->name[0] != '\0';
			}
		}
	}
	return found;
}

int
lookup_names(struct peer *peers, size_t n, const char *gateway,
	     const char *domain, char *err)
{
	char token[REGISTRY_NAME_MAX + 1], path[REGISTRY_NAME_MAX + 2], *url;
	struct httpc_response r;
	json_t *j, *nodes, *node;
	errbuf_t why;
	size_t i;
	int found = 0;

	if (token_of(domain, token, sizeof(token), err) != 0)
		return -1;
	snprintf(path, sizeof(path), "/%s", token);
	url = join_url(gateway, path);
	if (httpc_request("GET", url, NULL, NULL, NULL, NAMES_TIMEOUT_MS, &r,
			  why) != 0) {
		fail(err, "GET %s: %s", url, why);
		free(url);
		return -1;
	}
	j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
	if (j == NULL)
		fail(err, "GET %s: %s", url, r.status == 200 ?
		     "the answer is not JSON" : "HTTP status is not 200");
	free(r.body);
	free(url);
	if (j == NULL)
		return -1;
	nodes = json_object_get(json_object_get(j, "node"), "nodes");
	json_array_foreach(nodes, i, node) {
		const char *key = json_string_value(json_object_get(node, "key"));
		const char *value =
			json_string_value(json_object_get(node, "value"));
		const char *id = key ? strrchr(key, '/') : NULL;

		if (id != NULL && value != NULL)
			found += match_member(peers, n, id + 1, value, domain);
	}
	json_decref(j);
	return found;
}
