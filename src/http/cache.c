/* http_cache.c -- rendered token listings, kept until the token changes.
 * etcd's members poll the listing while they wait for each other, and
 * rendering JSON costs more than the rest of the request. */
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "registry.h"

#define CACHE_BUCKETS 4096

struct listing {
	char token[REGISTRY_NAME_MAX + 1];
	char *body;
	struct listing *next;
};

struct listing_cache {
	struct listing *buckets[CACHE_BUCKETS];
};

static struct listing **
slot(struct listing_cache *c, const char *token)
{
	struct listing **l = &c->buckets[hash_string(token) % CACHE_BUCKETS];

	while (*l != NULL && strcmp((*l)->token, token) != 0)
		l = &(*l)->next;
	return l;
}

static void
on_registry_event(const struct registry_event *ev, void *arg)
{
	struct listing **l = slot(arg, ev->token->name), *dead = *l;

	if (dead == NULL)
		return;
	*l = dead->next;
	free(dead->body);
	free(dead);
}

struct listing_cache *
listing_cache_new(struct registry *reg)
{
	struct listing_cache *c = xcalloc(1, sizeof(*c));

	if (registry_subscribe(reg, on_registry_event, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

char *
listing_cache_get(struct listing_cache *c, const struct token *tok)
{
	struct listing **l = slot(c, tok->name);

	if (*l == NULL) {
		*l = xcalloc(1, sizeof(**l));
		strcpy((*l)->token, tok->name);
		(*l)->body = etcdjson_token_dir(tok, 0);
	}
	return xstrdup((*l)->body);
}

void
listing_cache_free(struct listing_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < CACHE_BUCKETS; i++) {
		struct listing *l = c->buckets[i], *next;

		for (; l != NULL; l = next) {
			next = l->next;
			free(l->body);
			free(l);
		}
	}
	free(c);
}
