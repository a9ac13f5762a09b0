/* registry.h -- discovery tokens and their members: pure data, no I/O.
 *
 * The registry is the one source of truth the HTTP API, the DNS view and
 * storage all work from. Every change bumps one store-wide index (as etcd's
 * v2 store does) and is announced to listeners through registry events, which
 * is the only way other modules learn of it.
 */
#ifndef SRVGATE_REGISTRY_H
#define SRVGATE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#define REGISTRY_NAME_MAX 63 /* tokens and member ids are DNS labels */
#define REGISTRY_TOMBSTONES 64 /* deletions kept per token for watches */

enum registry_status {
	REG_OK = 0,
	REG_NOT_FOUND,	/* no such token or member */
	REG_EXISTS,	/* create of something that exists */
	REG_FULL,	/* token holds max_members already */
	REG_INVALID,	/* a name or size that is not allowed */
};

/* How a member was last written; etcd reports it as the event's action. */
enum member_action { ACTION_CREATE, ACTION_SET, ACTION_UPDATE, ACTION_DELETE };

struct member {
	char id[REGISTRY_NAME_MAX + 1];
	char *value;
	char *clients; /* client URLs, comma separated, from `sync`; or NULL */
	uint64_t created_index;
	uint64_t modified_index;
	enum member_action action;
};

/* A deleted member as it was, plus the index of its deletion. */
struct tombstone {
	struct member prev;
	uint64_t deleted_index;
};

struct token {
	char name[REGISTRY_NAME_MAX + 1];
	unsigned size;
	uint64_t created_index; /* of the token and its _config/size key */
	int64_t created_at;	/* unix seconds, for garbage collection */
	struct member *members; /* ordered by created_index */
	size_t nmembers, members_cap;
	uint32_t *id_index;	/* big tokens: id hash -> position + 1 */
	size_t id_index_cap;
	struct tombstone tombs[REGISTRY_TOMBSTONES]; /* ring */
	size_t ntombs, tomb_next;
	uint64_t history_floor; /* deletions below this were forgotten */
	struct token *hash_next;
};

enum registry_event_type {
	EV_TOKEN_CREATED,
	EV_TOKEN_UPDATED, /* its size changed */
	EV_TOKEN_DELETED,
	EV_ALIAS_SET,	  /* alias names the token now */
	EV_ALIAS_DELETED,
	EV_MEMBER_SET,	   /* created or overwritten; member is the new state */
	EV_MEMBER_DELETED, /* member is the state before deletion */
};

struct registry_event {
	enum registry_event_type type;
	const struct token *token;
	const struct member *member; /* NULL for token events */
	const char *alias;	     /* for alias events */
	uint64_t index;
};

/* Another name the token's records are published under. */
struct alias {
	char name[REGISTRY_NAME_MAX + 1];
	char token[REGISTRY_NAME_MAX + 1];
};

typedef void (*registry_listener_fn)(const struct registry_event *ev,
				     void *arg);

struct registry_listener {
	registry_listener_fn fn;
	void *arg;
};

#define REGISTRY_MAX_LISTENERS 8

struct registry {
	struct token **buckets;
	size_t nbuckets;
	size_t ntokens;
	size_t nmembers; /* across all tokens */
	uint64_t index;	 /* the store-wide index, as X-Etcd-Index */
	unsigned max_members;
	struct registry_listener listeners[REGISTRY_MAX_LISTENERS];
	size_t nlisteners;
	struct alias *aliases;
	size_t naliases;
};

void registry_init(struct registry *reg, unsigned max_members);
void registry_free(struct registry *reg);
int registry_subscribe(struct registry *reg, registry_listener_fn fn,
		       void *arg);

/* Names: [a-z0-9] then up to 62 of [a-z0-9-], so each is a DNS label. */
int registry_valid_name(const char *name);

struct token *registry_find_token(const struct registry *reg,
				  const char *name);
struct member *token_find_member(const struct token *tok, const char *id);
/* The members etcd forms its cluster from: the first `size` by index. */
size_t token_cluster_size(const struct token *tok);
int token_is_full(const struct token *tok);

enum registry_status registry_create_token(struct registry *reg,
					   const char *name, unsigned size,
					   int64_t created_at,
					   struct token **out);
enum registry_status registry_delete_token(struct registry *reg,
					   const char *name);

enum put_mode { PUT_SET, PUT_CREATE, PUT_UPDATE };
enum registry_status registry_put_member(struct registry *reg,
					 struct token *tok, const char *id,
					 const char *value, enum put_mode mode,
					 const struct member **out);
enum registry_status registry_delete_member(struct registry *reg,
					    struct token *tok, const char *id);

/* For migration: a member with client URLs (either may be NULL: none). */
enum registry_status registry_sync_member(struct registry *reg,
					  struct token *tok, const char *id,
					  const char *value,
					  const char *clients);
enum registry_status registry_set_size(struct registry *reg,
				       struct token *tok, unsigned size);

/* Aliases: one name may point at one token; a token may have many. */
enum registry_status registry_set_alias(struct registry *reg,
					const char *name, const char *token);
enum registry_status registry_delete_alias(struct registry *reg,
					   const char *name);
const struct alias *registry_find_alias(const struct registry *reg,
					const char *name);

/* Restores stored state without events; the index follows the largest seen. */
struct token *registry_restore_token(struct registry *reg, const char *name,
				     unsigned size, uint64_t created_index,
				     int64_t created_at);
int registry_restore_member(struct registry *reg, struct token *tok,
			    const struct member *m);
void registry_restore_index(struct registry *reg, uint64_t index);
int registry_restore_alias(struct registry *reg, const char *name,
			   const char *token);

/* What a watch on a token (or one member of it) sees from `since` on. */
enum watch_result { WATCH_FOUND, WATCH_WAIT, WATCH_CLEARED };
struct watch_match {
	enum member_action action;
	const struct member *node;   /* the node the event reports */
	uint64_t index;
	int deleted;
};
enum watch_result registry_watch_history(const struct token *tok,
					 const char *member_id,
					 uint64_t since,
					 struct watch_match *out);

typedef void (*registry_token_fn)(const struct token *tok, void *arg);
void registry_foreach_token(const struct registry *reg, registry_token_fn fn,
			    void *arg);

#endif
