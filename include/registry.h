/* registry.h -- discovery tokens and their members, as committed.
 *
 * The registry holds only what the store has made durable: it changes
 * through the store's stream of committed changes (registry_apply), and it
 * tells its listeners (the DNS view, watches, listings) of each change
 * after applying it. Writers never touch it directly: they submit a
 * request, whose plan turns it into a proposal of changes checked against
 * the committed state, and they learn the outcome once the store settles
 * it. A request that touches a key with a change still on its way to disk
 * waits and is planned again once that change is settled, so every check
 * sees the state its changes will apply to.
 *
 * The registry knows nothing of HTTP, gRPC or DNS.
 */
#ifndef SRVGATE_REGISTRY_H
#define SRVGATE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "htable.h"
#include "store.h"

#define REGISTRY_NAME_MAX STORE_NAME_MAX
/* Levels of the tokens' by-name skip list: a quarter of the tokens go a
 * level up, so 12 keep a search logarithmic up to 16 million tokens. */
#define REGISTRY_NAME_LEVELS 12
#define REGISTRY_TOMBSTONES 64 /* deletions kept per token for watches */
/* A request the store reports conflicting this often gets 503. */
#define REGISTRY_MAX_CONFLICTS 20

enum registry_status {
	REG_OK = 0,
	REG_NOT_FOUND,	 /* no such token, member or alias */
	REG_EXISTS,	 /* create of something that exists */
	REG_FULL,	 /* the token holds max_members already */
	REG_INVALID,	 /* a name, size or value that is not allowed */
	REG_CONFLICT,	 /* exists with other contents (import without force) */
	REG_BUSY,	 /* a key has an unsettled change: planned again later */
	REG_NO_SPACE,	 /* the store is full (507) */
	REG_UNAVAILABLE, /* the store cannot write now (503) */
	REG_STORE_FAILED /* the store failed otherwise (500) */
};

struct member {
	struct hnode node; /* in the token's by_id table */
	/* The registry's members keep it right after the struct, at its
	 * length (most ids are 16 characters, the limit 63: a buffer of the
	 * limit was 24 MB at 500k members); a copy points at its own. */
	const char *id;
	char *value;
	char *clients; /* client URLs, comma separated, from `sync`; or NULL */
	uint64_t created_index;
	uint64_t modified_index;
	enum member_action action;
	int synced; /* last written by `sync`: the cluster's, not registered */
};

/* A deleted member as it was, plus the index of its deletion. */
struct tombstone {
	struct member prev;
	uint64_t deleted_index;
	char id[REGISTRY_NAME_MAX + 1]; /* prev.id */
};

struct token {
	struct hnode node; /* in the registry's tokens table */
	char name[REGISTRY_NAME_MAX + 1];
	unsigned size;
	uint64_t created_index; /* of the token and its _config/size key */
	uint64_t modified_index; /* of _config/size */
	int64_t created_at;	/* unix seconds, for garbage collection */
	/* the etcd cluster `sync` follows, hex; "" before the first sync */
	char cluster_id[STORE_CLUSTER_ID_MAX + 1];
	struct member **members; /* ordered by created_index */
	size_t nmembers, members_cap;
	struct htable by_id;
	struct tombstone *tombs; /* ring of REGISTRY_TOMBSTONES, made on the
				    first deletion */
	size_t ntombs, tomb_next;
	uint64_t history_floor; /* deletions below this were forgotten */
	/* The next token by name on each of name_levels levels (the skip
	 * list from registry.by_name); allocated with the token. */
	unsigned name_levels;
	struct token *by_name[];
};

/* Another name the token's records are published under. */
struct alias {
	struct hnode node;
	char name[REGISTRY_NAME_MAX + 1];
	char token[REGISTRY_NAME_MAX + 1];
};

enum registry_event_type {
	EV_TOKEN_CREATED,
	EV_TOKEN_UPDATED, /* its size changed */
	EV_TOKEN_DELETED, /* the token whole, one last time */
	EV_ALIAS_SET,	  /* alias names the token now */
	EV_ALIAS_DELETED,
	EV_MEMBER_SET,	   /* created or overwritten; member is the new state */
	EV_MEMBER_DELETED, /* member is the state before deletion */
	EV_BATCH_END,	   /* the end of one commit: views publish now */
};

struct registry_event {
	enum registry_event_type type;
	const struct token *token;   /* NULL for EV_BATCH_END */
	const struct member *member; /* member events */
	const char *alias;	     /* alias events */
	uint64_t index;
};

typedef void (*registry_listener_fn)(const struct registry_event *ev,
				     void *arg);

#define REGISTRY_MAX_LISTENERS 8

struct registry;
struct registry_request;

/* The outcome of a request. */
struct registry_result {
	enum registry_status status;
	const char *error;	      /* the store's words, for store errors */
	const struct change *changes; /* as committed, with their indexes */
	size_t nchanges;
	uint64_t index; /* the registry's index after it */
};

/* Turns a request into changes (proposal_add or the plan_* helpers below)
 * against the committed state. Returns REG_OK to submit them, an error to
 * answer with, or REG_BUSY to be planned again later. */
typedef enum registry_status (*registry_plan_fn)(
	struct registry *reg, struct registry_request *req,
	struct proposal *p);
/* Called once, perhaps before registry_submit returns. */
typedef void (*registry_done_fn)(struct registry_request *req,
				 const struct registry_result *res);

struct registry_request {
	registry_plan_fn plan;
	registry_done_fn done;
	void *arg;
	struct registry_request *next; /* while waiting */
	unsigned conflicts; /* times another writer came first (etcd store) */
};

struct registry {
	struct htable tokens;
	struct token *by_name[REGISTRY_NAME_LEVELS]; /* the first, per level */
	struct htable aliases;
	size_t ntokens;
	size_t nmembers; /* across all tokens */
	uint64_t index;	 /* the store-wide index, as X-Etcd-Index */
	unsigned max_members;
	struct store *store;
	struct { registry_listener_fn fn; void *arg; }
		listeners[REGISTRY_MAX_LISTENERS];
	size_t nlisteners;
	/* The token the last member change went to: stores load members
	 * grouped by token, so most changes skip the table lookup. */
	struct token *last_applied;
	struct htable pending; /* keys with unsettled changes */
	struct registry_request *waiting, **waiting_tail;
	size_t nwaiting;
	/* How long each commit held the loop while it was applied and
	 * published (the registry, then every view). */
	struct registry_stats {
		uint64_t batches, changes;
		double publish_sum, publish_max; /* seconds */
		uint64_t publish_le[STORE_LATENCY_BUCKETS];
	} stats;
	uint64_t publish_started_ns; /* 0: no commit being applied */
};

void registry_init(struct registry *reg, unsigned max_members);
/* Where proposals go; set before the first registry_submit. */
void registry_set_store(struct registry *reg, struct store *st);
void registry_free(struct registry *reg);
int registry_subscribe(struct registry *reg, registry_listener_fn fn,
		       void *arg);
/* The sink a store reports committed changes to. */
struct store_sink registry_sink(struct registry *reg);

/* "ok", "exists", "no space"...: for logs. */
const char *registry_status_name(enum registry_status st);

/* Names: [a-z0-9] then up to 62 of [a-z0-9-], so each is a DNS label. */
int registry_valid_name(const char *name);
/* An etcd cluster ID as stored: 1 to 16 of [0-9a-f]. */
int registry_valid_cluster_id(const char *id);

struct token *registry_find_token(const struct registry *reg,
				  const char *name);
struct member *token_find_member(const struct token *tok, const char *id);
/* The members etcd forms its cluster from: the first `size` by index. */
size_t token_cluster_size(const struct token *tok);
int token_is_full(const struct token *tok);
const struct alias *registry_find_alias(const struct registry *reg,
					const char *name);

/* ---- writing ---- */

void registry_submit(struct registry *reg, struct registry_request *req);

/* Plan helpers: each checks against the committed state, returns REG_BUSY
 * when a key it touches has an unsettled change, and adds its changes. */
enum put_mode { PUT_SET, PUT_CREATE, PUT_UPDATE };
enum registry_status plan_token_create(struct registry *reg,
				       struct proposal *p, const char *name,
				       unsigned size, int64_t created_at);
/* Deletes the token, its members and the aliases that point at it. */
enum registry_status plan_token_delete(struct registry *reg,
				       struct proposal *p, const char *name);
enum registry_status plan_token_size(struct registry *reg, struct proposal *p,
				     const char *name, unsigned size);
/* etcd's PUT: keeps the client URLs that `sync` stored. */
enum registry_status plan_member_put(struct registry *reg, struct proposal *p,
				     const char *token, const char *id,
				     const char *value, enum put_mode mode);
/* `sync`: sets the value and the client URLs (NULL: none). */
enum registry_status plan_member_sync(struct registry *reg,
				      struct proposal *p, const char *token,
				      const char *id, const char *value,
				      const char *clients);
enum registry_status plan_member_delete(struct registry *reg,
					struct proposal *p, const char *token,
					const char *id);
/* An alias that names another token is moved only with force
 * (REG_CONFLICT without). */
enum registry_status plan_alias_set(struct registry *reg, struct proposal *p,
				    const char *name, const char *token,
				    int force);
/* Deletes the alias if it names token (NULL: whichever it names);
 * REG_CONFLICT when it names another. */
enum registry_status plan_alias_delete(struct registry *reg,
				       struct proposal *p, const char *name,
				       const char *token);
/* REG_BUSY when the token, or any member or alias of it, is unsettled. */
enum registry_status plan_claim_token(struct registry *reg, const char *name);

/* ---- reading ---- */

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
typedef void (*registry_alias_fn)(const struct alias *a, void *arg);
void registry_foreach_alias(const struct registry *reg, registry_alias_fn fn,
			    void *arg);

/* One page of tokens by name (strcmp order): up to limit of those whose
 * name sorts after `after` ("" for the first page), into out. Returns
 * how many; *more says whether any follow. A search of the by-name skip
 * list, then the page: O(log n + limit), however many tokens there are. */
size_t registry_token_page(const struct registry *reg, const char *after,
			   size_t limit, const struct token **out, int *more);

#endif
