/* shares.c -- per-client-network counts of connections and watches. */
#include "shares.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct share_table {
	struct htable entries;
};

struct share_table *
share_table_new(void)
{
	struct share_table *t = xcalloc(1, sizeof(*t));

	htable_init(&t->entries);
	return t;
}

static int
same_key(const struct hnode *n, const void *key)
{
	return memcmp(container_of(n, struct share, node)->key, key,
		      NETKEY_LEN) == 0;
}

struct share *
share_get(struct share_table *t, const uint8_t key[NETKEY_LEN])
{
	uint64_t h = hash_bytes(key, NETKEY_LEN);
	struct hnode *n = htable_find(&t->entries, h, same_key, key);
	struct share *s;

	if (n != NULL)
		return container_of(n, struct share, node);
	s = xcalloc(1, sizeof(*s));
	s->table = t;
	memcpy(s->key, key, NETKEY_LEN);
	htable_insert(&t->entries, &s->node, h);
	return s;
}

void
share_release(struct share *s)
{
	if (s == NULL || s->conns > 0 || s->watches > 0)
		return;
	htable_remove(&s->table->entries, &s->node);
	htable_fit(&s->table->entries); /* after a flood of addresses */
	free(s);
}

size_t
share_table_count(const struct share_table *t)
{
	return t->entries.count;
}

void
share_table_free(struct share_table *t)
{
	struct hnode *n, *next;
	size_t pos;

	if (t == NULL)
		return;
	for (n = htable_first(&t->entries, &pos); n != NULL; n = next) {
		next = htable_next(&t->entries, n, &pos);
		free(container_of(n, struct share, node));
	}
	htable_free(&t->entries);
	free(t);
}
