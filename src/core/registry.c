/* registry.c -- discovery tokens and their members: pure data, no I/O. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void
registry_init(struct registry *reg, unsigned max_members)
{
	memset(reg, 0, sizeof(*reg));
	reg->nbuckets = 1024;
	reg->buckets = xcalloc(reg->nbuckets, sizeof(*reg->buckets));
	reg->max_members = max_members;
}

static void
token_free(struct token *tok)
{
	size_t i;

	for (i = 0; i < tok->nmembers; i++) {
		free(tok->members[i].value);
		free(tok->members[i].clients);
	}
	for (i = 0; i < tok->ntombs; i++) {
		free(tok->tombs[i].prev.value);
		free(tok->tombs[i].prev.clients);
	}
	free(tok->members);
	free(tok->id_index);
	free(tok);
}

void
registry_free(struct registry *reg)
{
	size_t i;

	for (i = 0; i < reg->nbuckets; i++) {
		struct token *tok = reg->buckets[i], *next;

		for (; tok != NULL; tok = next) {
			next = tok->hash_next;
			token_free(tok);
		}
	}
	free(reg->buckets);
	free(reg->aliases);
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
announce_alias(struct registry *reg, enum registry_event_type type,
	       const struct token *tok, const struct member *m,
	       const char *alias)
{
	struct registry_event ev = { type, tok, m, alias, reg->index };
	size_t i;

	for (i = 0; i < reg->nlisteners; i++)
		reg->listeners[i].fn(&ev, reg->listeners[i].arg);
}

static void
announce(struct registry *reg, enum registry_event_type type,
	 const struct token *tok, const struct member *m)
{
	announce_alias(reg, type, tok, m, NULL);
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

struct token *
registry_find_token(const struct registry *reg, const char *name)
{
	struct token *tok = reg->buckets[hash_string(name) % reg->nbuckets];

	for (; tok != NULL; tok = tok->hash_next)
		if (strcmp(tok->name, name) == 0)
			return tok;
	return NULL;
}

/* Small tokens (etcd's usual 3 to 9) are scanned; big ones get a hash
 * from member id to position, so a registration stays O(1). */
#define INDEX_FROM 16

struct member *
token_find_member(const struct token *tok, const char *id)
{
	size_t i, mask = tok->id_index_cap - 1;

	if (tok->id_index == NULL) {
		for (i = 0; i < tok->nmembers; i++)
			if (strcmp(tok->members[i].id, id) == 0)
				return &tok->members[i];
		return NULL;
	}
	for (i = hash_string(id) & mask; tok->id_index[i] != 0;
	     i = (i + 1) & mask) {
		struct member *m = &tok->members[tok->id_index[i] - 1];

		if (strcmp(m->id, id) == 0)
			return m;
	}
	return NULL;
}

static void
index_insert(struct token *tok, size_t pos)
{
	size_t mask = tok->id_index_cap - 1,
	       i = hash_string(tok->members[pos].id) & mask;

	while (tok->id_index[i] != 0)
		i = (i + 1) & mask;
	tok->id_index[i] = (uint32_t)pos + 1;
}

/* Positions move when members come and go in the middle: start afresh. */
static void
index_rebuild(struct token *tok)
{
	size_t i;

	if (tok->nmembers < INDEX_FROM) {
		free(tok->id_index);
		tok->id_index = NULL;
		tok->id_index_cap = 0;
		return;
	}
	if (tok->id_index_cap < 2 * tok->nmembers) {
		tok->id_index_cap = 64;
		while (tok->id_index_cap < 4 * tok->nmembers)
			tok->id_index_cap *= 2;
		free(tok->id_index);
		tok->id_index = xmalloc(tok->id_index_cap * sizeof(uint32_t));
	}
	memset(tok->id_index, 0, tok->id_index_cap * sizeof(uint32_t));
	for (i = 0; i < tok->nmembers; i++)
		index_insert(tok, i);
}

/* After an append: one more entry, unless the table is getting full. */
static void
index_appended(struct token *tok)
{
	if (tok->id_index != NULL && tok->id_index_cap >= 2 * tok->nmembers)
		index_insert(tok, tok->nmembers - 1);
	else if (tok->nmembers >= INDEX_FROM)
		index_rebuild(tok);
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

static void
grow_buckets(struct registry *reg)
{
	size_t n = reg->nbuckets * 2, i;
	struct token **b = xcalloc(n, sizeof(*b));

	for (i = 0; i < reg->nbuckets; i++) {
		struct token *tok = reg->buckets[i], *next;

		for (; tok != NULL; tok = next) {
			size_t h = hash_string(tok->name) % n;

			next = tok->hash_next;
			tok->hash_next = b[h];
			b[h] = tok;
		}
	}
	free(reg->buckets);
	reg->buckets = b;
	reg->nbuckets = n;
}

static struct token *
insert_token(struct registry *reg, const char *name, unsigned size,
	     uint64_t created_index, int64_t created_at)
{
	struct token *tok = xcalloc(1, sizeof(*tok));
	size_t h;

	if (reg->ntokens >= reg->nbuckets)
		grow_buckets(reg);
	strcpy(tok->name, name);
	tok->size = size;
	tok->created_index = created_index;
	tok->created_at = created_at;
	h = hash_string(name) % reg->nbuckets;
	tok->hash_next = reg->buckets[h];
	reg->buckets[h] = tok;
	reg->ntokens++;
	return tok;
}

enum registry_status
registry_create_token(struct registry *reg, const char *name, unsigned size,
		      int64_t created_at, struct token **out)
{
	struct token *tok;

	if (!registry_valid_name(name) || size == 0)
		return REG_INVALID;
	if (registry_find_token(reg, name) != NULL)
		return REG_EXISTS;
	reg->index++;
	tok = insert_token(reg, name, size, reg->index, created_at);
	announce(reg, EV_TOKEN_CREATED, tok, NULL);
	if (out != NULL)
		*out = tok;
	return REG_OK;
}

static void drop_aliases_of(struct registry *reg, const char *token);

enum registry_status
registry_delete_token(struct registry *reg, const char *name)
{
	struct token **pp = &reg->buckets[hash_string(name) % reg->nbuckets];

	for (; *pp != NULL; pp = &(*pp)->hash_next) {
		struct token *tok = *pp;

		if (strcmp(tok->name, name) != 0)
			continue;
		drop_aliases_of(reg, name);
		reg->index++;
		/* Listeners see the token whole one last time. */
		announce(reg, EV_TOKEN_DELETED, tok, NULL);
		*pp = tok->hash_next;
		reg->ntokens--;
		reg->nmembers -= tok->nmembers;
		token_free(tok);
		return REG_OK;
	}
	return REG_NOT_FOUND;
}

static struct member *
append_member(struct token *tok, const char *id)
{
	struct member *m;

	if (tok->nmembers == tok->members_cap) {
		tok->members_cap = tok->members_cap ? tok->members_cap * 2 : 4;
		tok->members = xrealloc(tok->members,
					tok->members_cap * sizeof(*m));
	}
	m = &tok->members[tok->nmembers++];
	memset(m, 0, sizeof(*m));
	strcpy(m->id, id);
	return m;
}

static enum registry_status
put_member(struct registry *reg, struct token *tok, const char *id,
	   const char *value, const char *clients, enum put_mode mode,
	   const struct member **out)
{
	struct member *m = token_find_member(tok, id);

	if (!registry_valid_name(id))
		return REG_INVALID;
	if (m != NULL && mode == PUT_CREATE)
		return REG_EXISTS;
	if (m == NULL && mode == PUT_UPDATE)
		return REG_NOT_FOUND;
	if (m == NULL && tok->nmembers >= reg->max_members)
		return REG_FULL;
	reg->index++;
	if (m == NULL) {
		m = append_member(tok, id);
		m->created_index = reg->index;
		reg->nmembers++;
		index_appended(tok);
	} else {
		free(m->value);
		free(m->clients);
	}
	m->value = xstrdup(value);
	m->clients = clients ? xstrdup(clients) : NULL;
	m->modified_index = reg->index;
	m->action = mode == PUT_CREATE ? ACTION_CREATE :
		    mode == PUT_UPDATE ? ACTION_UPDATE : ACTION_SET;
	announce(reg, EV_MEMBER_SET, tok, m);
	if (out != NULL)
		*out = m;
	return REG_OK;
}

enum registry_status
registry_put_member(struct registry *reg, struct token *tok, const char *id,
		    const char *value, enum put_mode mode,
		    const struct member **out)
{
	struct member *m = token_find_member(tok, id);

	/* etcd's PUT does not know client URLs: keep what sync stored. */
	return put_member(reg, tok, id, value, m ? m->clients : NULL, mode,
			  out);
}

enum registry_status
registry_sync_member(struct registry *reg, struct token *tok, const char *id,
		     const char *value, const char *clients)
{
	return put_member(reg, tok, id, value, clients, PUT_SET, NULL);
}

enum registry_status
registry_set_size(struct registry *reg, struct token *tok, unsigned size)
{
	if (size == 0)
		return REG_INVALID;
	reg->index++;
	tok->size = size;
	announce(reg, EV_TOKEN_UPDATED, tok, NULL);
	return REG_OK;
}

/* Keeps the deleted member for watches, forgetting the oldest when full. */
static void
remember_tombstone(struct token *tok, struct member *m, uint64_t index)
{
	struct tombstone *t = &tok->tombs[tok->tomb_next];

	if (tok->ntombs == REGISTRY_TOMBSTONES) {
		tok->history_floor = t->deleted_index + 1;
		free(t->prev.value);
	} else {
		tok->ntombs++;
	}
	free(t->prev.clients);
	t->prev = *m;
	t->prev.clients = NULL; /* tombstones keep what watches report */
	t->deleted_index = index;
	free(m->clients);
	tok->tomb_next = (tok->tomb_next + 1) % REGISTRY_TOMBSTONES;
}

enum registry_status
registry_delete_member(struct registry *reg, struct token *tok, const char *id)
{
	struct member *m = token_find_member(tok, id);
	struct tombstone *t;
	size_t at;

	if (m == NULL)
		return REG_NOT_FOUND;
	reg->index++;
	remember_tombstone(tok, m, reg->index);
	at = (size_t)(m - tok->members);
	memmove(m, m + 1, (tok->nmembers - at - 1) * sizeof(*m));
	tok->nmembers--;
	reg->nmembers--;
	if (tok->id_index != NULL)
		index_rebuild(tok);
	t = &tok->tombs[(tok->tomb_next + REGISTRY_TOMBSTONES - 1) %
			REGISTRY_TOMBSTONES];
	announce(reg, EV_MEMBER_DELETED, tok, &t->prev);
	return REG_OK;
}

struct token *
registry_restore_token(struct registry *reg, const char *name, unsigned size,
		       uint64_t created_index, int64_t created_at)
{
	struct token *tok = registry_find_token(reg, name);

	if (tok == NULL)
		tok = insert_token(reg, name, size, created_index, created_at);
	registry_restore_index(reg, created_index);
	return tok;
}

int
registry_restore_member(struct registry *reg, struct token *tok,
			const struct member *src)
{
	struct member *m;
	size_t at;

	if (!registry_valid_name(src->id) || token_find_member(tok, src->id))
		return -1;
	append_member(tok, src->id);
	/* Storage yields members by id; etcd's order is by creation. */
	at = tok->nmembers - 1;
	while (at > 0 && tok->members[at - 1].created_index > src->created_index)
		at--;
	m = &tok->members[at];
	memmove(m + 1, m, (tok->nmembers - 1 - at) * sizeof(*m));
	*m = *src;
	m->value = xstrdup(src->value);
	m->clients = src->clients ? xstrdup(src->clients) : NULL;
	reg->nmembers++;
	if (at + 1 == tok->nmembers)
		index_appended(tok);
	else if (tok->nmembers >= INDEX_FROM)
		index_rebuild(tok);
	registry_restore_index(reg, m->modified_index);
	return 0;
}

void
registry_restore_index(struct registry *reg, uint64_t index)
{
	if (index > reg->index)
		reg->index = index;
}

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
		const struct member *m = &tok->members[i];

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

/* ---- aliases ---- */

const struct alias *
registry_find_alias(const struct registry *reg, const char *name)
{
	size_t i;

	for (i = 0; i < reg->naliases; i++)
		if (strcmp(reg->aliases[i].name, name) == 0)
			return &reg->aliases[i];
	return NULL;
}

static void
add_alias(struct registry *reg, const char *name, const char *token)
{
	struct alias *a;

	reg->aliases = xrealloc(reg->aliases,
				(reg->naliases + 1) * sizeof(*a));
	a = &reg->aliases[reg->naliases++];
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->token, sizeof(a->token), "%s", token);
}

static void
remove_alias(struct registry *reg, const struct alias *a)
{
	size_t at = (size_t)(a - reg->aliases);

	memmove(&reg->aliases[at], &reg->aliases[at + 1],
		(reg->naliases - at - 1) * sizeof(*a));
	reg->naliases--;
}

enum registry_status
registry_delete_alias(struct registry *reg, const char *name)
{
	const struct alias *a = registry_find_alias(reg, name);
	struct token *tok;
	char alias[REGISTRY_NAME_MAX + 1];

	if (a == NULL)
		return REG_NOT_FOUND;
	tok = registry_find_token(reg, a->token);
	snprintf(alias, sizeof(alias), "%s", name);
	remove_alias(reg, a);
	reg->index++;
	if (tok != NULL)
		announce_alias(reg, EV_ALIAS_DELETED, tok, NULL, alias);
	return REG_OK;
}

enum registry_status
registry_set_alias(struct registry *reg, const char *name, const char *token)
{
	struct token *tok = registry_find_token(reg, token);
	const struct alias *a = registry_find_alias(reg, name);

	if (!registry_valid_name(name) || registry_find_token(reg, name))
		return REG_INVALID; /* a token's own name cannot be an alias */
	if (tok == NULL)
		return REG_NOT_FOUND;
	if (a != NULL && strcmp(a->token, token) == 0)
		return REG_OK;
	if (a != NULL)
		registry_delete_alias(reg, name);
	add_alias(reg, name, token);
	reg->index++;
	announce_alias(reg, EV_ALIAS_SET, tok, NULL, name);
	return REG_OK;
}

static void
drop_aliases_of(struct registry *reg, const char *token)
{
	size_t i = 0;

	while (i < reg->naliases)
		if (strcmp(reg->aliases[i].token, token) == 0)
			registry_delete_alias(reg, reg->aliases[i].name);
		else
			i++;
}

int
registry_restore_alias(struct registry *reg, const char *name,
		       const char *token)
{
	if (!registry_valid_name(name) || !registry_valid_name(token) ||
	    registry_find_alias(reg, name) != NULL)
		return -1;
	add_alias(reg, name, token);
	return 0;
}

void
registry_foreach_token(const struct registry *reg, registry_token_fn fn,
		       void *arg)
{
	size_t i;

	for (i = 0; i < reg->nbuckets; i++) {
		const struct token *tok = reg->buckets[i];

		for (; tok != NULL; tok = tok->hash_next)
			fn(tok, arg);
	}
}
