/* registry.c -- the committed state: tokens, members, aliases, and the
 * changes that the store's stream applies to them (see registry.h).
 * Writing (requests, plans, unsettled keys) is in registry_write.c. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_internal.h"
#include "util.h"

void
registry_init(struct registry *reg, unsigned max_members)
{
	memset(reg, 0, sizeof(*reg));
	htable_init(&reg->tokens);
	htable_init(&reg->aliases);
	htable_init(&reg->pending);
	reg->waiting_tail = &reg->waiting;
	reg->max_members = max_members;
}

void
registry_set_store(struct registry *reg, struct store *st)
{
	reg->store = st;
}

static void
member_free(struct member *m)
{
	free(m->value);
	free(m->clients);
	free(m);
}

static void
token_free(struct token *tok)
{
	size_t i;

	for (i = 0; i < tok->nmembers; i++)
		member_free(tok->members[i]);
	for (i = 0; i < tok->ntombs; i++)
		free(tok->tombs[i].prev.value);
	free(tok->tombs);
	free(tok->members);
	htable_free(&tok->by_id);
	free(tok);
}

void
registry_free(struct registry *reg)
{
	struct hnode *n, *next;
	size_t pos;

	for (n = htable_first(&reg->tokens, &pos); n != NULL; n = next) {
		next = htable_next(&reg->tokens, n, &pos);
		token_free(container_of(n, struct token, node));
	}
	for (n = htable_first(&reg->aliases, &pos); n != NULL; n = next) {
		next = htable_next(&reg->aliases, n, &pos);
		free(container_of(n, struct alias, node));
	}
	registry_pending_free(reg);
	htable_free(&reg->tokens);
	htable_free(&reg->aliases);
	memset(reg, 0, sizeof(*reg));
}

int
registry_subscribe(struct registry *reg, registry_listener_fn fn, void *arg)
{
	if (reg->nlisteners == REGISTRY_MAX_LISTENERS)
		return -1;
	reg->listeners[reg->nlisteners].fn = fn;
	reg->listeners[reg->nlisteners].arg = arg;
	reg->nlisteners++;
	return 0;
}

static void
announce(struct registry *reg, enum registry_event_type type,
	 const struct token *tok, const struct member *m, const char *alias,
	 uint64_t index)
{
	struct registry_event ev = { type, tok, m, alias, index };
	size_t i;

	for (i = 0; i < reg->nlisteners; i++)
		reg->listeners[i].fn(&ev, reg->listeners[i].arg);
}

const char *
registry_status_name(enum registry_status st)
{
	static const char *names[] = {
		"ok", "not found", "exists", "full", "invalid", "conflict",
		"busy", "no space", "unavailable", "store failed",
	};

	return (size_t)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

int
registry_valid_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > REGISTRY_NAME_MAX || name[0] == '-' ||
	    name[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int
registry_valid_cluster_id(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= STORE_CLUSTER_ID_MAX &&
	       strspn(id, "0123456789abcdef") == n;
}

/* ---- finding ---- */

static int
is_token(const struct hnode *n, const void *name)
{
	return strcmp(container_of(n, struct token, node)->name, name) == 0;
}

static int
is_member(const struct hnode *n, const void *id)
{
	return strcmp(container_of(n, struct member, node)->id, id) == 0;
}

static int
is_alias(const struct hnode *n, const void *name)
{
	return strcmp(container_of(n, struct alias, node)->name, name) == 0;
}

struct token *
registry_find_token(const struct registry *reg, const char *name)
{
	struct hnode *n = htable_find(&reg->tokens, hash_str(name), is_token,
				      name);

	return n ? container_of(n, struct token, node) : NULL;
}

/* Up to this many members a token has no table by id, and is searched
 * along its members without hashing the id: most tokens hold 3 to 7, and
 * the tables' bucket arrays were 8 MB at 100k tokens. Past it, the table
 * is made and kept. */
#define MEMBERS_UNINDEXED 8

struct member *
token_find_member(const struct token *tok, const char *id)
{
	struct hnode *n;
	size_t i;

	if (tok->by_id.nbuckets == 0) {
		for (i = 0; i < tok->nmembers; i++)
			if (strcmp(tok->members[i]->id, id) == 0)
				return tok->members[i];
		return NULL;
	}
	n = htable_find(&tok->by_id, hash_str(id), is_member, id);
	return n ? container_of(n, struct member, node) : NULL;
}

/* m, just added to tok->members, into the table by id, which is made
 * (of every member) when the token grows past MEMBERS_UNINDEXED. */
static void
index_member(struct token *tok, struct member *m)
{
	size_t i;

	if (tok->by_id.nbuckets > 0) {
		htable_insert(&tok->by_id, &m->node, hash_str(m->id));
		return;
	}
	if (tok->nmembers <= MEMBERS_UNINDEXED)
		return;
	for (i = 0; i < tok->nmembers; i++)
		htable_insert(&tok->by_id, &tok->members[i]->node,
			      hash_str(tok->members[i]->id));
}

const struct alias *
registry_find_alias(const struct registry *reg, const char *name)
{
	struct hnode *n = htable_find(&reg->aliases, hash_str(name), is_alias,
				      name);

	return n ? container_of(n, struct alias, node) : NULL;
}

size_t
token_cluster_size(const struct token *tok)
{
	return tok->nmembers < tok->size ? tok->nmembers : tok->size;
}

int
token_is_full(const struct token *tok)
{
	return tok->nmembers >= tok->size;
}

void
registry_foreach_token(const struct registry *reg, registry_token_fn fn,
		       void *arg)
{
	const struct token *tok, *next;

	/* In name order, along the skip list's bottom level: the order the
	 * store loads tokens in, so the order they lie in memory after a
	 * start. In the table's order, at 100k tokens, each one would be a
	 * cache miss for the DNS build. */
	for (tok = reg->by_name[0]; tok != NULL; tok = next) {
		next = tok->by_name[0];
		fn(tok, arg);
	}
}

void
registry_foreach_alias(const struct registry *reg, registry_alias_fn fn,
		       void *arg)
{
	struct hnode *n;
	size_t pos;

	for (n = htable_first(&reg->aliases, &pos); n != NULL;
	     n = htable_next(&reg->aliases, n, &pos))
		fn(container_of(n, struct alias, node), arg);
}

/* ---- applying committed changes ---- */

static void
apply_token_put(struct registry *reg, const struct change *c)
{
	struct token *tok = registry_find_token(reg, c->token);
	uint64_t hash;
	unsigned levels;

	if (tok != NULL) {
		tok->size = c->size;
		tok->modified_index = c->index;
		memcpy(tok->cluster_id, c->cluster_id, sizeof(tok->cluster_id));
		announce(reg, EV_TOKEN_UPDATED, tok, NULL, NULL, c->index);
		return;
	}
	hash = hash_str(c->token);
	levels = registry_name_levels(hash);
	tok = xcalloc(1, sizeof(*tok) + levels * sizeof(tok->by_name[0]));
	tok->name_levels = levels;
	snprintf(tok->name, sizeof(tok->name), "%s", c->token);
	tok->size = c->size;
	tok->created_index = c->created_index ? c->created_index : c->index;
	tok->modified_index = c->index;
	tok->created_at = c->created_at;
	memcpy(tok->cluster_id, c->cluster_id, sizeof(tok->cluster_id));
	htable_init(&tok->by_id);
	htable_insert(&reg->tokens, &tok->node, hash);
	registry_link_token(reg, tok);
	reg->ntokens++;
	announce(reg, EV_TOKEN_CREATED, tok, NULL, NULL, c->index);
}

static void
apply_alias_del(struct registry *reg, const char *name, uint64_t index)
{
	struct alias *a = (struct alias *)registry_find_alias(reg, name);
	struct token *tok;

	if (a == NULL)
		return;
	htable_remove(&reg->aliases, &a->node);
	tok = registry_find_token(reg, a->token);
	if (tok != NULL)
		announce(reg, EV_ALIAS_DELETED, tok, NULL, a->name, index);
	free(a);
}

struct alias_scan {
	const char *token;
	char (*names)[REGISTRY_NAME_MAX + 1];
	size_t n;
};

static void
collect_alias(const struct alias *a, void *arg)
{
	struct alias_scan *s = arg;

	if (strcmp(a->token, s->token) == 0) {
		s->names = xrealloc(s->names, (s->n + 1) * sizeof(*s->names));
		snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", a->name);
	}
}

static void
apply_token_del(struct registry *reg, const struct change *c)
{
	struct token *tok = registry_find_token(reg, c->token);
	struct alias_scan s = { c->token, NULL, 0 };
	size_t i;

	if (tok == NULL)
		return;
	/* Aliases go with the token; a store that deleted them explicitly
	 * before has left none here. */
	registry_foreach_alias(reg, collect_alias, &s);
	for (i = 0; i < s.n; i++)
		apply_alias_del(reg, s.names[i], c->index);
	free(s.names);
	announce(reg, EV_TOKEN_DELETED, tok, NULL, NULL, c->index);
	htable_remove(&reg->tokens, &tok->node);
	registry_unlink_token(reg, tok);
	if (reg->last_applied == tok)
		reg->last_applied = NULL;
	reg->ntokens--;
	reg->nmembers -= tok->nmembers;
	token_free(tok);
}

/* Members stay ordered by created_index: appends are the rule, a store
 * that loads members in another order pays an insertion. */
static void
insert_member(struct token *tok, struct member *m)
{
	size_t at = tok->nmembers;

	if (tok->nmembers == tok->members_cap) {
		/* A small token's array is made at its size, not doubled
		 * past it (a token of 5 members: 40 bytes, not 64). */
		size_t first = tok->size > 4 && tok->size <= 64 ? tok->size : 4;

		tok->members_cap = tok->members_cap ? tok->members_cap * 2 :
						      first;
		tok->members = xrealloc(tok->members,
					tok->members_cap * sizeof(*tok->members));
	}
	while (at > 0 && tok->members[at - 1]->created_index > m->created_index)
		at--;
	memmove(&tok->members[at + 1], &tok->members[at],
		(tok->nmembers - at) * sizeof(*tok->members));
	tok->members[at] = m;
	tok->nmembers++;
	index_member(tok, m);
}

/* registry_find_token by way of the last token a member change went to. */
static struct token *
applied_token(struct registry *reg, const char *name)
{
	if (reg->last_applied == NULL ||
	    strcmp(reg->last_applied->name, name) != 0)
		reg->last_applied = registry_find_token(reg, name);
	return reg->last_applied;
}

static void
apply_member_put(struct registry *reg, const struct change *c)
{
	struct token *tok = applied_token(reg, c->token);
	struct member *m;

	if (tok == NULL) {
		log_debug("registry: member %s of unknown token %s ignored",
			  c->name, c->token);
		return;
	}
	m = token_find_member(tok, c->name);
	if (m == NULL) {
		size_t idlen = strnlen(c->name, REGISTRY_NAME_MAX);

		m = xcalloc(1, sizeof(*m) + idlen + 1);
		m->id = memcpy((char *)(m + 1), c->name, idlen);
		m->created_index = c->created_index ? c->created_index :
						      c->index;
		insert_member(tok, m);
		reg->nmembers++;
	} else {
		free(m->value);
		free(m->clients);
	}
	m->value = xstrdup(c->value ? c->value : "");
	m->clients = c->clients ? xstrdup(c->clients) : NULL;
	m->modified_index = c->index;
	m->action = c->action;
	m->synced = c->synced;
	announce(reg, EV_MEMBER_SET, tok, m, NULL, c->index);
}

/* Keeps the deleted member for watches, forgetting the oldest when full.
 * The ring is made on a token's first deletion: most tokens never have
 * one, and 64 tombstones each would cost more than the token. */
static struct tombstone *
remember_tombstone(struct token *tok, struct member *m, uint64_t index)
{
	struct tombstone *t;

	if (tok->tombs == NULL)
		tok->tombs = xcalloc(REGISTRY_TOMBSTONES, sizeof(*tok->tombs));
	t = &tok->tombs[tok->tomb_next];
	if (tok->ntombs == REGISTRY_TOMBSTONES) {
		tok->history_floor = t->deleted_index + 1;
		free(t->prev.value);
	} else {
		tok->ntombs++;
	}
	t->prev = *m;
	t->prev.id = strcpy(t->id, m->id);
	t->prev.value = m->value;
	t->prev.clients = NULL; /* tombstones keep what watches report */
	t->deleted_index = index;
	m->value = NULL;
	tok->tomb_next = (tok->tomb_next + 1) % REGISTRY_TOMBSTONES;
	return t;
}

static void
apply_member_del(struct registry *reg, const struct change *c)
{
	struct token *tok = applied_token(reg, c->token);
	struct member *m = tok ? token_find_member(tok, c->name) : NULL;
	struct tombstone *t;
	size_t at = 0;

	if (m == NULL)
		return;
	while (tok->members[at] != m)
		at++;
	memmove(&tok->members[at], &tok->members[at + 1],
		(tok->nmembers - at - 1) * sizeof(*tok->members));
	tok->nmembers--;
	reg->nmembers--;
	if (tok->by_id.nbuckets > 0)
		htable_remove(&tok->by_id, &m->node);
	t = remember_tombstone(tok, m, c->index);
	member_free(m);
	announce(reg, EV_MEMBER_DELETED, tok, &t->prev, NULL, c->index);
}

static void
apply_alias_put(struct registry *reg, const struct change *c)
{
	struct alias *a = (struct alias *)registry_find_alias(reg, c->name);
	struct token *tok = registry_find_token(reg, c->token);

	if (a != NULL && strcmp(a->token, c->token) == 0)
		return;
	if (a != NULL)
		apply_alias_del(reg, c->name, c->index);
	if (tok == NULL)
		return;
	a = xcalloc(1, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", c->name);
	snprintf(a->token, sizeof(a->token), "%s", c->token);
	htable_insert(&reg->aliases, &a->node, hash_str(a->name));
	announce(reg, EV_ALIAS_SET, tok, NULL, a->name, c->index);
}

void
registry_apply(struct registry *reg, const struct change *c)
{
	switch (c->kind) {
	case CHANGE_TOKEN_PUT: apply_token_put(reg, c); break;
	case CHANGE_TOKEN_DEL: apply_token_del(reg, c); break;
	case CHANGE_MEMBER_PUT: apply_member_put(reg, c); break;
	case CHANGE_MEMBER_DEL: apply_member_del(reg, c); break;
	case CHANGE_ALIAS_PUT: apply_alias_put(reg, c); break;
	case CHANGE_ALIAS_DEL: apply_alias_del(reg, c->name, c->index); break;
	}
	if (c->index > reg->index)
		reg->index = c->index;
}

void
registry_batch_end(struct registry *reg, uint64_t index)
{
	if (index > reg->index)
		reg->index = index;
	announce(reg, EV_BATCH_END, NULL, NULL, NULL, reg->index);
}

/* ---- watch history ---- */

static void
consider(struct watch_match *best, int *found, const struct member *node,
	 uint64_t index, enum member_action action, int deleted)
{
	if (*found && best->index <= index)
		return;
	*found = 1;
	best->node = node;
	best->index = index;
	best->action = action;
	best->deleted = deleted;
}

enum watch_result
registry_watch_history(const struct token *tok, const char *member_id,
		       uint64_t since, struct watch_match *out)
{
	int found = 0;
	size_t i;

	for (i = 0; i < tok->nmembers; i++) {
		const struct member *m = tok->members[i];

		if (member_id != NULL && strcmp(m->id, member_id) != 0)
			continue;
		if (m->modified_index >= since)
			consider(out, &found, m, m->modified_index, m->action,
				 0);
	}
	/* Below the floor a forgotten deletion may come first: a stored member
	 * still answers (etcd's client only needs the members), a tombstone
	 * must not, and without a member the history is gone. */
	if (since < tok->history_floor)
		return found ? WATCH_FOUND : WATCH_CLEARED;
	for (i = 0; i < tok->ntombs; i++) {
		const struct tombstone *t = &tok->tombs[i];

		if (member_id != NULL && strcmp(t->prev.id, member_id) != 0)
			continue;
		if (t->deleted_index >= since)
			consider(out, &found, &t->prev, t->deleted_index,
				 ACTION_DELETE, 1);
	}
	return found ? WATCH_FOUND : WATCH_WAIT;
}
