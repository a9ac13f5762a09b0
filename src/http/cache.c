/* cache.c -- rendered token listings, kept until the token changes.
 * etcd's members poll the listing while they wait for each other, and
 * rendering JSON costs more than the rest of the request. */
#include <stdlib.h>
#include <string.h>

#include "htable.h"
#include "http_internal.h"
#include "registry.h"

struct listing {
	struct hnode node;
	char token[REGISTRY_NAME_MAX + 1];
	char *body;
};

struct listing_cache {
	struct htable listings;
};

static struct listing *
find(const struct listing_cache *c, const char *token)
{
	uint64_t h = hash_str(token);
	struct hnode *n;

	for (n = htable_chain(&c->listings, h); n != NULL; n = n->next) {
		struct listing *l = container_of(n, struct listing, node);

		if (n->hash == h && strcmp(l->token, token) == 0)
			return l;
	}
	return NULL;
}

static void
drop(struct listing_cache *c, struct listing *l)
{
	htable_remove(&c->listings, &l->node);
	free(l->body);
	free(l);
}

static void
on_registry_event(const struct registry_event *ev, void *arg)
{
	struct listing_cache *c = arg;
	struct listing *l;

	if (ev->token != NULL && (l = find(c, ev->token->name)) != NULL)
		drop(c, l);
}

struct listing_cache *
listing_cache_new(struct registry *reg)
{
	struct listing_cache *c = xcalloc(1, sizeof(*c));

	htable_init(&c->listings);
	if (registry_subscribe(reg, on_registry_event, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

char *
listing_cache_get(struct listing_cache *c, const struct token *tok)
{
	struct listing *l = find(c, tok->name);

	if (l == NULL) {
		l = xcalloc(1, sizeof(*l));
		strcpy(l->token, tok->name);
		l->body = etcdjson_token_dir(tok, 0);
		htable_insert(&c->listings, &l->node, hash_str(tok->name));
	}
	return xstrdup(l->body);
}

void
listing_cache_free(struct listing_cache *c)
{
	struct hnode *n;
	size_t pos;

	if (c == NULL)
		return;
	while ((n = htable_first(&c->listings, &pos)) != NULL)
		drop(c, container_of(n, struct listing, node));
	htable_free(&c->listings);
	free(c);
}
