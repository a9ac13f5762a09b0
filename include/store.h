/* store.h -- where the registry's state is kept, and the one way changes
 * come back from it.
 *
 * The registry hands the store proposals: groups of changes that commit
 * together or not at all. The store makes them durable, gives each change
 * its index (LMDB's counter; later etcd's revision) and reports them to its
 * sink on the event loop, in commit order: apply() per committed change,
 * batch_end() after each commit, then settled() per proposal, ok or not.
 * Nothing reaches memory, DNS, watches or listings before apply(), so
 * nothing is visible before it is durable. A store that learns of changes
 * made elsewhere (another gateway, etcd members writing directly) reports
 * them through the same apply(), with no proposal.
 *
 * A second store plugs in by filling a struct store_ops (see store_lmdb.c)
 * and a constructor that server.c calls instead of store_lmdb_open.
 */
#ifndef SRVGATE_STORE_H
#define SRVGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_NAME_MAX 63 /* tokens, member ids and aliases are DNS labels */
#define STORE_CLUSTER_ID_MAX 16 /* an etcd cluster ID: a uint64 in hex */

enum change_kind {
	CHANGE_TOKEN_PUT,  /* a token made, or its size changed */
	CHANGE_TOKEN_DEL,  /* the token and every member of it */
	CHANGE_MEMBER_PUT, /* a member made or overwritten */
	CHANGE_MEMBER_DEL,
	CHANGE_ALIAS_PUT,  /* name -> token */
	CHANGE_ALIAS_DEL,
};

/* How a member was written; etcd's v2 API reports it as the action. */
enum member_action { ACTION_CREATE, ACTION_SET, ACTION_UPDATE, ACTION_DELETE };

struct change {
	enum change_kind kind;
	uint64_t index; /* the store's, set when committed */
	char token[STORE_NAME_MAX + 1];
	char name[STORE_NAME_MAX + 1]; /* member id, or the alias */
	/* CHANGE_TOKEN_PUT */
	unsigned size;
	int64_t created_at; /* unix seconds, for garbage collection */
	/* the etcd cluster `sync` follows (hex), "" before the first sync;
	 * every CHANGE_TOKEN_PUT carries it, as it rewrites the token whole */
	char cluster_id[STORE_CLUSTER_ID_MAX + 1];
	/* CHANGE_TOKEN_PUT and CHANGE_MEMBER_PUT: the index it was made at;
	 * 0 when this change makes it (it is then `index`). */
	uint64_t created_index;
	/* CHANGE_MEMBER_PUT */
	char *value;
	char *clients; /* client URLs from `sync`, comma separated; or NULL */
	enum member_action action;
	int synced; /* written by `sync` (from the token's cluster), not by
		       a registration or an import */
};

/* The outcome of a proposal, as the client will be told it. */
enum store_status {
	STORE_OK,
	STORE_FULL,	   /* the map or the disk is full: HTTP 507 */
	STORE_UNAVAILABLE, /* the store cannot write now: HTTP 503 */
	STORE_FAILED,	   /* any other failure: HTTP 500 */
	/* Another writer changed a key first (etcd: a Txn compare failed);
	 * settled once that change has been applied, so the registry plans
	 * the request again against it (a duplicate then gets 412). */
	STORE_CONFLICT,
};

struct proposal {
	struct change *changes;
	size_t n, cap;
	enum store_status status; /* set when settled */
	char error[256];	  /* why, when not STORE_OK */
	void *owner;		  /* the registry's request */
	struct proposal *next;	  /* the store's queue */
};

struct proposal *proposal_new(void);
/* Appends a copy of c (its strings copied too). */
void proposal_add(struct proposal *p, const struct change *c);
/* The same, with c's kind, token and name (NULL: none) set first. */
void proposal_add_change(struct proposal *p, enum change_kind kind,
			 const char *token, const char *name,
			 struct change *c);
/* 1 when it only removes data: such proposals may use the space kept
 * back for deletions when the store is full. */
int proposal_only_deletes(const struct proposal *p);
void proposal_free(struct proposal *p);
void change_clear(struct change *c);

struct store_sink {
	void (*apply)(void *arg, const struct change *c);
	void (*batch_end)(void *arg, uint64_t index);
	void (*settled)(void *arg, struct proposal *p);
	void *arg;
};

#define STORE_LATENCY_BUCKETS 12
extern const double store_latency_bounds[STORE_LATENCY_BUCKETS];

struct store_stats {
	uint64_t commits, failures, changes;
	double latency_sum; /* seconds */
	uint64_t latency_le[STORE_LATENCY_BUCKETS]; /* cumulative */
	uint64_t map_bytes, used_bytes, max_bytes;  /* 0 where unknown */
	int full; /* the last write failed for want of space */
};

/* Answers a health probe: ok, or why not. */
typedef void (*store_probe_fn)(void *arg, int ok, const char *why);

struct store;

struct store_ops {
	const char *name;
	/* Reports every stored change to the sink, in index order, then a
	 * batch_end with the stored index. */
	int (*load)(struct store *st, char *err);
	void (*submit)(struct store *st, struct proposal *p);
	/* Checks that a write would reach the disk now. */
	void (*probe)(struct store *st);
	int (*busy)(const struct store *st);
	void (*stats)(const struct store *st, struct store_stats *out);
	/* Waits for outstanding commits, then closes. */
	void (*close)(struct store *st);
	/* See store_exclusive; NULL: always. */
	int (*exclusive)(struct store *st);
};

/* What every store shares; a store's own state follows it. */
struct store {
	const struct store_ops *ops;
	struct store_sink sink;
	/* /health probes: at most one in flight, its answer kept a second */
	struct probe_waiter *waiters;
	int probing;
	uint64_t probed_ms;
	int probe_ok;
	char probe_why[256];
	/* operations one atomic write may hold (etcd's --max-txn-ops);
	 * 0: no such limit (LMDB) */
	unsigned max_txn_ops;
};

int store_load(struct store *st, char *err);
void store_submit(struct store *st, struct proposal *p);
/* Calls fn once with whether the store can write: one probe per second
 * at most, shared by every caller. */
void store_health(struct store *st, store_probe_fn fn, void *arg);
/* A store's probe finished (for the store implementations). */
void store_probe_done(struct store *st, int ok, const char *why);
int store_busy(const struct store *st);
void store_stats(const struct store *st, struct store_stats *out);
void store_close(struct store *st);
/* How many member changes one proposal may hold and still be one atomic
 * write of the store (0: no limit). Work bigger than that (import, sync)
 * is planned as several proposals of at most this many changes. */
size_t store_max_changes(const struct store *st);
/* The etcd store's Txn limit (--etcd-max-txn-ops, etcd's --max-txn-ops);
 * set before the first write. A store without one ignores it. */
void store_set_max_txn_ops(struct store *st, unsigned n);

/* The LMDB store: one data dir, one writer thread, group commit. */
struct event_base;
struct store_lmdb_config {
	const char *dir;
	uint64_t max_bytes; /* --max-db-size */
	uint64_t min_bytes; /* the map's first size; 0: 64 MiB */
	/* The longest the next batch waits for the clients the last one
	 * answered (--commit-gather-us); 0: none. */
	unsigned gather_max_us;
};
int store_lmdb_open(struct store **out, const struct store_lmdb_config *cfg,
		    struct event_base *base, const struct store_sink *sink,
		    char *err);
/* A consistent, compacted copy of the LMDB store in dir (data.mdb and the
 * log's changes beyond it) written to path as one data.mdb, while a server
 * may be writing (lmdb_backup.c). */
int store_lmdb_backup(const char *dir, const char *path, char *err);


/* The etcd store (store_etcd.c): an etcd v3 cluster is the truth, a local
 * LMDB in dir/etcd-copy its last known copy. */
struct store_etcd_config {
	const char *endpoints; /* URL[,URL...] */
	const char *cacert, *cert, *key, *user, *password; /* "" for none */
	const char *prefix;    /* our own keys: --etcd-prefix */
	const char *dir;       /* --data-dir */
};
int store_etcd_open(struct store **out, const struct store_etcd_config *cfg,
		    struct event_base *base, const struct store_sink *sink,
		    char *err);
/* /metrics lines of an etcd store (a metrics_fn of http_api.h). */
struct evbuffer;
void store_etcd_metrics(struct evbuffer *out, void *st);
/* 1 when this gateway may run work that one gateway at a time must do
 * (garbage collection): always for LMDB; for etcd, while it holds the
 * lease-backed lock. */
int store_exclusive(struct store *st);

#endif
