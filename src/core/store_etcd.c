/* store_etcd.c -- the store of several gateways: an etcd v3 cluster is the
 * truth, memory is fed from one Watch, a local LMDB keeps the last known
 * copy.
 *
 * Why etcd's JSON gateway (/v3/... on the client port, etcd 3.4+) and not
 * gRPC: libevent's HTTP client is already in the build, so there is no
 * HTTP/2 client to write; and it sits behind the store interface, so a
 * gRPC client could replace it without the registry noticing.
 *
 * Reading: at (re)connection one paged Range over our keys at one
 * revision R, reconciled with what memory holds (keys gone meanwhile are
 * applied as deletions), then ONE Watch from R+1 over a key span that
 * covers both prefixes (keys between them are skipped). Each watch
 * response is applied and ends a batch. A compacted or canceled watch, or
 * a broken stream, starts over with a Range.
 *
 * Writing: each proposal is one Txn whose compares make it apply to the
 * state it was planned against (create_revision == 0 for creations, the
 * known create_revision for overwrites). A proposal is settled only when
 * the Txn committed AND the watch has applied its revision: so memory
 * changes only through the watch, for our writes, other gateways' and
 * etcd members' alike. A failed compare settles as STORE_CONFLICT once the
 * watch has caught up: the registry plans the request again.
 *
 * A proposal is never split into several Txns: the registry counts on it
 * committing whole (a registration's create_revision compare and its put;
 * an import that deletes and makes a token again; the keys a plan marked
 * unsettled), and a split one could leave half of it behind for every
 * gateway to serve. A Txn etcd would refuse (more compares or operations
 * than --max-txn-ops, more bytes than --max-request-bytes) is refused here
 * before it is sent (STORE_FAILED, the reason and the limit in its
 * error: the client's 500 says them); the work that can be big (import,
 * sync) is planned as several proposals of store_max_changes() changes
 * each, where each part is a state the registry may show. A request error
 * etcd answers anyway (an operator's etcd with lower limits) fails that
 * proposal alone: the connection is fine, so no reconnect and no reload.
 *
 * The shadow (kv table) holds every key of ours etcd has, with its value
 * and revisions: the Range is reconciled against it, the translation of
 * events looks metadata up in it, and it is what the local copy stores
 * (records "e<key>", and "r" the revision), written without fsync: it is
 * a cache, etcd is the truth.
 */
#include "store.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_audit.h"
#include "etcd_client.h"
#include "etcd_keys.h"
#include "htable.h"
#include "lmdb_internal.h"

#define RANGE_PAGE 10000 /* etcd counts the rest of the span for every page */
#define CALL_TIMEOUT_MS 5000
#define PING_MS 1000
/* The watch audit (etcd_audit.h) counts the span every 5 s, or less
 * often where a count costs etcd more than 2% of its time (a count of
 * 600k keys takes etcd 0.2 s). */
#define AUDIT_EVERY_MS 5000
#define AUDIT_COST_SHARE 50
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define START_WAIT_MS 3000 /* load() waits this long for etcd */
#define SEEN_DEADLINE_MS 5000 /* a committed Txn the watch does not show */
#define CONFLICT_WAIT_MS 300
#define LOCK_TTL_S 10
/* the local copy's map: it starts here, is sized for a Range's keys
 * (a key takes about 200 bytes there) and doubles when full */
#define COPY_MAP_MIN (4ull << 20)
#define COPY_MAP_MAX (1ull << 36)
#define COPY_KEY_BYTES 512
#define DEFAULT_MAX_TXN_OPS 128 /* etcd's --max-txn-ops default */
/* etcd's --max-request-bytes default: a Txn's protobuf may not be more */
#define MAX_REQUEST_BYTES (1536u * 1024)

enum conn_state { CS_DOWN, CS_SYNCING, CS_LIVE };

struct kv {
	struct hnode node;
	char *key;
	char *value;
	uint64_t mod, create;
	int64_t version;
	int seen; /* during a reconcile */
};

/* A Txn sent, or committed and waiting for the watch. */
struct txn {
	struct etcd_store *st;
	struct proposal *p;
	uint64_t rev; /* 0 until etcd answered */
	uint64_t since_ms; /* sent, then committed */
	uint64_t sent_ms;
	int committed;
	struct txn *next;
};

struct etcd_store {
	struct store base;
	struct event_base *evb;
	struct etcd_client *cli;
	char prefix[ETCD_PREFIX_MAX + 1];
	char lo[ETCD_KEY_MAX], hi[ETCD_KEY_MAX]; /* the span */
	enum conn_state state;
	unsigned gen; /* a new one per connection attempt */
	char why[256]; /* why not live */
	uint64_t applied;     /* watch (or Range) revision applied */
	uint64_t last_change; /* revision of the last change applied */
	uint64_t seen_rev;    /* the newest revision etcd told of */
	uint64_t behind_ms;   /* since when seen_rev > applied; 0: not */
	uint64_t backoff_ms;
	/* the watch audit (etcd_audit.h) */
	uint64_t span_keys; /* every key in the span, foreign ones too */
	uint64_t delivered; /* the watch has shown every change through */
	struct etcd_audit audit;
	uint64_t next_audit_ms;
	uint64_t ping_sent_ms;
	int ping_audit; /* the ping out counts the span */
	uint64_t audits, audit_losses;
	/* resuming the watch where memory stands, without a Range */
	int resumable;       /* memory is etcd's span at `applied`, exactly,
				and span_keys its count of keys */
	int resumed;         /* this connection resumed (for the log) */
	uint64_t range_count; /* keys in the span at range_rev */
	uint64_t ranges, resumes;
	json_t *range_kvs;    /* pages of the Range under way */
	uint64_t range_rev;
	/* the end of what the Range's pages read now: the span's, or a
	 * slice's once it is read in slices (range_slice) */
	char range_end[ETCD_KEY_MAX + 1];
	size_t range_end_len;
	int range_sliced;
	struct etcd_stream *watch;
	struct htable kvs;
	size_t norphans; /* member keys without a size key */
	struct txn *txns; /* sent or waiting */
	struct proposal *refused, **refused_tail; /* settled by settle_ev */
	struct event *retry_ev, *ping_ev, *settle_ev;
	int ping_out, closing;
	int dirty; /* changes applied since the last batch_end */
	struct lmdb_env copy;
	int copy_open;
	MDB_txn *copy_txn; /* the batch being written */
	int copy_failed;   /* LMDB's error in that batch; 0: none */
	int copy_stale;    /* a batch was lost: the copy is no revision of
			      etcd's until written whole (copy_rewrite) */
	uint64_t reconnects, conflicts;
	/* the GC lock */
	uint64_t lease;
	int lock_held, lock_out;
	unsigned lock_tries;
	struct store_stats stats;
};

static void conn_lost(struct etcd_store *st, const char *why);
static void settle_seen(struct etcd_store *st);

/* ---- the shadow ---- */

static int
is_kv(const struct hnode *n, const void *key)
{
	return strcmp(container_of(n, struct kv, node)->key, key) == 0;
}

static struct kv *
kv_find(const struct etcd_store *st, const char *key)
{
	struct hnode *n = htable_find(&st->kvs, hash_str(key), is_kv, key);

	return n ? container_of(n, struct kv, node) : NULL;
}

static const char *
kv_get(void *arg, const char *key)
{
	struct kv *e = kv_find(arg, key);

	return e ? e->value : NULL;
}

static void
kv_free(struct kv *e)
{
	free(e->key);
	free(e->value);
	free(e);
}

static struct kv *
kv_set(struct etcd_store *st, const struct etcd_kv *in)
{
	struct kv *e = kv_find(st, in->key);

	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->key = xstrdup(in->key);
		htable_insert(&st->kvs, &e->node, hash_str(e->key));
	}
	free(e->value);
	e->value = xstrdup(in->value);
	e->mod = in->mod;
	e->create = in->create;
	e->version = in->version;
	return e;
}

/* Notes a revision etcd reported, and whether memory is behind it. */
static void
note_rev(struct etcd_store *st, uint64_t rev)
{
	if (rev > st->seen_rev)
		st->seen_rev = rev;
	if (st->seen_rev <= st->applied)
		st->behind_ms = 0;
	else if (st->behind_ms == 0)
		st->behind_ms = now_monotonic_ms();
}

/* ---- the local copy ---- */

static void
copy_begin(struct etcd_store *st)
{
	if (st->copy_open && st->copy_txn == NULL &&
	    mdb_txn_begin(st->copy.env, NULL, 0, &st->copy_txn) != 0)
		st->copy_txn = NULL;
}

static void
copy_key(struct etcd_store *st, const char *key, const struct kv *e)
{
	char rk[ETCD_KEY_MAX + 2];
	MDB_val k, v;
	json_t *o;
	char *text;
	int rc;

	/* After a failed write the transaction is dead: copy_commit writes
	 * the copy anew. */
	if (st->copy_txn == NULL || st->copy_failed)
		return;
	snprintf(rk, sizeof(rk), "e%s", key);
	k.mv_size = strlen(rk);
	k.mv_data = rk;
	if (e == NULL) {
		rc = mdb_del(st->copy_txn, st->copy.dbi, &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			st->copy_failed = rc;
		return;
	}
	o = json_pack("{s:s, s:I, s:I, s:I}", "v", e->value, "m",
		      (json_int_t)e->mod, "c", (json_int_t)e->create, "n",
		      (json_int_t)e->version);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	v.mv_size = strlen(text);
	v.mv_data = text;
	if ((rc = mdb_put(st->copy_txn, st->copy.dbi, &k, &v, 0)) != 0)
		st->copy_failed = rc;
	free(text);
}

/* The revisions the copy stands at; 0 or LMDB's error. */
static int
copy_put_revisions(struct etcd_store *st)
{
	char rev[32];
	MDB_val k = { 1, "r" }, v;
	int rc;

	v.mv_size = (size_t)snprintf(rev, sizeof(rev), "%llu",
				     (unsigned long long)st->applied);
	v.mv_data = rev;
	if ((rc = mdb_put(st->copy_txn, st->copy.dbi, &k, &v, 0)) != 0)
		return rc;
	/* The DNS serial's revision: deletions may have raised it past
	 * every key's mod_revision, and it must not go back at restart. */
	k.mv_data = "l";
	v.mv_size = (size_t)snprintf(rev, sizeof(rev), "%llu",
				     (unsigned long long)st->last_change);
	v.mv_data = rev;
	if ((rc = mdb_put(st->copy_txn, st->copy.dbi, &k, &v, 0)) != 0)
		return rc;
	/* The span's count at that revision: a restart resumes the watch
	 * when etcd counts the same (resume_count); none when the copy is
	 * no revision of etcd's. */
	k.mv_data = "k";
	if (!st->resumable || st->copy_stale) {
		rc = mdb_del(st->copy_txn, st->copy.dbi, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	v.mv_size = (size_t)snprintf(rev, sizeof(rev), "%llu",
				     (unsigned long long)st->span_keys);
	v.mv_data = rev;
	return mdb_put(st->copy_txn, st->copy.dbi, &k, &v, 0);
}

/* Ends the transaction under way: committed when every write went in;
 * 0 or LMDB's error. */
static int
copy_end(struct etcd_store *st)
{
	int rc = st->copy_failed ? st->copy_failed : copy_put_revisions(st);

	if (rc == 0)
		rc = mdb_txn_commit(st->copy_txn);
	else
		mdb_txn_abort(st->copy_txn);
	st->copy_txn = NULL;
	st->copy_failed = 0;
	return rc;
}

/* The whole copy from the shadow, in one transaction. */
static int
copy_write_all(struct etcd_store *st)
{
	struct hnode *n;
	size_t pos;
	int rc;

	if ((rc = mdb_txn_begin(st->copy.env, NULL, 0, &st->copy_txn)) != 0) {
		st->copy_txn = NULL;
		return rc;
	}
	if ((rc = mdb_drop(st->copy_txn, st->copy.dbi, 0)) != 0)
		st->copy_failed = rc;
	for (n = htable_first(&st->kvs, &pos); n != NULL;
	     n = htable_next(&st->kvs, n, &pos)) {
		struct kv *e = container_of(n, struct kv, node);

		copy_key(st, e->key, e);
	}
	return copy_end(st);
}

/* The copy written anew from the shadow, which holds any batch that was
 * lost; when the map is full (or `full` says it was) it grows, doubling
 * up to COPY_MAP_MAX. 0, or LMDB's error and the copy stays stale. */
static int
copy_rewrite(struct etcd_store *st, int full)
{
	int rc;

	st->copy_stale = 0;
	rc = full ? MDB_MAP_FULL : copy_write_all(st);
	while (rc == MDB_MAP_FULL && st->copy.map_bytes < COPY_MAP_MAX) {
		uint64_t size = st->copy.map_bytes * 2;

		if (size > COPY_MAP_MAX)
			size = COPY_MAP_MAX;
		if ((rc = mdb_env_set_mapsize(st->copy.env, size)) != 0)
			break;
		st->copy.map_bytes = size;
		log_info("etcd: the local copy's map grown to %llu MiB",
			 (unsigned long long)(size >> 20));
		rc = copy_write_all(st);
	}
	st->copy_stale = rc != 0;
	return rc;
}

/* Room for a Range of `keys` keys before it is written: no rewrite. */
static void
copy_reserve(struct etcd_store *st, uint64_t keys)
{
	uint64_t size = st->copy.map_bytes;

	while (size < keys * COPY_KEY_BYTES && size < COPY_MAP_MAX)
		size *= 2;
	if (size > COPY_MAP_MAX)
		size = COPY_MAP_MAX;
	if (size > st->copy.map_bytes && st->copy_txn == NULL &&
	    mdb_env_set_mapsize(st->copy.env, size) == 0)
		st->copy.map_bytes = size;
}

static void
copy_commit(struct etcd_store *st)
{
	int rc;

	if (st->copy_txn == NULL)
		return;
	rc = copy_end(st);
	if (rc == MDB_MAP_FULL)
		rc = copy_rewrite(st, 1);
	/* Later batches go on top of the lost one: without the count, a
	 * restart Ranges rather than resumes; the next Range rewrites it. */
	st->copy_stale |= rc != 0;
	if (rc != 0)
		log_warn("etcd: the local copy was not written: %s",
			 mdb_strerror(rc));
}

/* ---- applying ---- */

static void
emit(struct etcd_store *st, const struct change *c, size_t n)
{
	const struct store_sink *sink = &st->base.sink;
	size_t i;

	for (i = 0; i < n; i++) {
		sink->apply(sink->arg, &c[i]);
		st->dirty = 1;
		if (c[i].index > st->last_change)
			st->last_change = c[i].index;
		st->stats.changes++;
	}
}

/* A token appeared: members written before its size key count now. */
static void
adopt_orphans(struct etcd_store *st, const char *token)
{
	char want[ETCD_KEY_MAX];
	struct hnode *n;
	size_t pos, wl, found = 0;

	snprintf(want, sizeof(want), "%s%s" V3_MEMBERS, V3_REGISTRY, token);
	wl = strlen(want);
	for (n = htable_first(&st->kvs, &pos); n != NULL;
	     n = htable_next(&st->kvs, n, &pos)) {
		struct kv *e = container_of(n, struct kv, node);
		struct etcd_kv kv = { e->key, strlen(e->key), e->value,
				      e->mod, e->create, e->version };
		struct change c[2];

		if (strncmp(e->key, want, wl) != 0)
			continue;
		emit(st, c, etcd_translate(st->prefix, &kv, 0, e->create,
					   NULL, kv_get, st, now_unix(), c));
		found++;
	}
	st->norphans = found > st->norphans ? 0 : st->norphans - found;
}

/* One event: the shadow, the local copy, then memory. */
static void
apply_event(struct etcd_store *st, const struct etcd_kv *kv, int deleted,
	    const char *prev_value)
{
	char token[STORE_NAME_MAX + 1], name[STORE_NAME_MAX + 1];
	enum etcd_key_kind kind = etcd_key_parse(st->prefix, kv->key,
						 kv->klen, token, name);
	struct kv *e = kind == EK_OTHER ? NULL : kv_find(st, kv->key);
	uint64_t prev_create = e ? e->create : 0;
	char *old = e && prev_value == NULL ? xstrdup(e->value) : NULL;
	struct change c[2];
	size_t n;

	if (kind == EK_OTHER || strlen(kv->key) != kv->klen)
		return;
	if (deleted && e != NULL) {
		htable_remove(&st->kvs, &e->node);
		kv_free(e);
		e = NULL;
	} else if (!deleted) {
		e = kv_set(st, kv);
	}
	copy_key(st, kv->key, e);
	n = etcd_translate(st->prefix, kv, deleted, prev_create,
			   prev_value ? prev_value : old, kv_get, st,
			   now_unix(), c);
	free(old);
	emit(st, c, n);
	if (kind == EK_MEMBER && !deleted && n == 0)
		st->norphans++;
	if (kind == EK_SIZE && !deleted && prev_create != kv->create &&
	    st->norphans > 0)
		adopt_orphans(st, token);
	if (kind == EK_SIZE && deleted)
		st->norphans++; /* its members may stay behind */
}

static void
end_batch(struct etcd_store *st, uint64_t rev)
{
	if (rev > st->applied)
		st->applied = rev;
	note_rev(st, rev);
	copy_commit(st);
	/* The serial follows the last change, the same on every gateway. */
	if (st->dirty)
		st->base.sink.batch_end(st->base.sink.arg, st->last_change);
	st->dirty = 0;
	settle_seen(st);
}

/* A kv of a Range or an event, decoded; 0 or -1 when it is not usable. */
static int
decode_kv(const json_t *j, struct etcd_kv *out, char **kbuf, char **vbuf)
{
	const char *k = json_string_value(json_object_get(j, "key"));
	const char *v = json_string_value(json_object_get(j, "value"));

	*kbuf = k ? etcd_unb64(k, &out->klen) : NULL;
	*vbuf = v ? etcd_unb64(v, NULL) : xstrdup("");
	if (*kbuf == NULL || *vbuf == NULL) {
		free(*kbuf);
		free(*vbuf);
		return -1;
	}
	out->key = *kbuf;
	out->value = *vbuf;
	out->mod = etcd_u64(j, "mod_revision");
	out->create = etcd_u64(j, "create_revision");
	out->version = (int64_t)etcd_u64(j, "version");
	return 0;
}

/* ---- settling ---- */

static void
record_latency(struct etcd_store *st, uint64_t since_ms)
{
	double secs = (double)(now_monotonic_ms() - since_ms) / 1000.0;
	size_t i;

	st->stats.commits++;
	st->stats.latency_sum += secs;
	for (i = 0; i < STORE_LATENCY_BUCKETS; i++)
		if (secs <= store_latency_bounds[i])
			st->stats.latency_le[i]++;
}

static void
settle(struct etcd_store *st, struct proposal *p, enum store_status s,
       const char *why)
{
	p->status = s;
	if (s != STORE_OK && s != STORE_CONFLICT) {
		if (why != p->error)
			snprintf(p->error, sizeof(p->error), "%s", why);
		st->stats.failures++;
	}
	st->base.sink.settled(st->base.sink.arg, p);
}

/* Txns the watch has caught up with, or waited for too long. */
static void
settle_seen(struct etcd_store *st)
{
	struct txn **tp = &st->txns, *t;
	uint64_t now = now_monotonic_ms();
	int stale = 0;

	while ((t = *tp) != NULL) {
		int seen = t->committed && st->applied >= t->rev;
		int late = t->committed &&
			   now - t->since_ms > (t->p->status == STORE_CONFLICT ?
						CONFLICT_WAIT_MS :
						SEEN_DEADLINE_MS);

		if (!seen && !late) {
			tp = &t->next;
			continue;
		}
		*tp = t->next;
		if (t->p->status == STORE_CONFLICT)
			settle(st, t->p, STORE_CONFLICT, NULL);
		else if (seen) {
			record_latency(st, t->sent_ms);
			settle(st, t->p, STORE_OK, NULL);
		}
		else {
			stale = st->state == CS_LIVE;
			settle(st, t->p, STORE_UNAVAILABLE,
			       "etcd committed the write but this gateway has "
			       "not seen it yet: retry");
		}
		/* Settling may submit more: etcd_submit puts new Txns at
		 * the head, uncommitted, and takes none out; tp stays
		 * valid and the walk goes on (one pass, not one a
		 * settle). */
		free(t);
	}
	/* A watch that does not deliver our own commit is broken in a way
	 * no error told (a connection dropped silently): start over. */
	if (stale) {
		st->resumable = 0;
		conn_lost(st, "the watch did not deliver a committed write "
			  "within 5 s");
	}
}

static void
settle_refused(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_store *st = arg;
	struct proposal *p;

	(void)fd;
	(void)what;
	while ((p = st->refused) != NULL) {
		st->refused = p->next;
		if (st->refused == NULL)
			st->refused_tail = &st->refused;
		settle(st, p, p->status, p->error);
	}
	settle_seen(st);
}

/* Settled from the event loop, never from inside submit. */
static void
refuse(struct etcd_store *st, struct proposal *p, enum store_status s,
       const char *why)
{
	p->status = s;
	snprintf(p->error, sizeof(p->error), "%s", why);
	p->next = NULL;
	*st->refused_tail = p;
	st->refused_tail = &p->next;
	event_active(st->settle_ev, 0, 0);
}

/* ---- the Txn of a proposal ---- */

static json_t *
b64s(const char *s)
{
	char *b = etcd_b64(s, strlen(s));
	json_t *j = json_string(b);

	free(b);
	return j;
}

/* A Txn being built from a proposal's changes, in their order. The
 * changes of one proposal may touch a key twice (an import replaces a
 * token: it deletes it, then makes it again with its members), which one
 * Txn cannot say as such: its compares all run before its operations, and
 * etcd refuses a put inside a deleted range. So a compare about a key that
 * an earlier change of the proposal deletes or makes is left out (that
 * change's own compare covers it), and a deletion of a key the Txn puts
 * is left out too (the put replaces it). */
struct tb_op {
	int del, range;
	char key[ETCD_KEY_MAX];
	char *value;
};

struct tb {
	json_t *cmps;
	struct tb_op *ops;
	size_t nops, cap;
	char (*made)[ETCD_KEY_MAX]; /* compared absent: made by this Txn */
	size_t nmade;
};

static int
tb_deleted(const struct tb *b, const char *key)
{
	size_t i;

	for (i = 0; i < b->nops; i++)
		if (b->ops[i].del &&
		    (b->ops[i].range ? strncmp(key, b->ops[i].key,
					       strlen(b->ops[i].key)) == 0 :
				       strcmp(key, b->ops[i].key) == 0))
			return 1;
	return 0;
}

static int
tb_made(const struct tb *b, const char *key)
{
	size_t i;

	for (i = 0; i < b->nmade; i++)
		if (strcmp(b->made[i], key) == 0)
			return 1;
	return 0;
}

/* The same compare once: each member of a token compares the size key. */
static int
cmp_known(const struct tb *b, const char *b64key, uint64_t rev, int equal)
{
	size_t i;

	for (i = 0; i < json_array_size(b->cmps); i++) {
		const json_t *c = json_array_get(b->cmps, i);

		if (strcmp(json_string_value(json_object_get(c, "key")),
			   b64key) == 0 &&
		    strcmp(json_string_value(json_object_get(c, "result")),
			   equal ? "EQUAL" : "NOT_EQUAL") == 0 &&
		    etcd_u64(c, "create_revision") == rev)
			return 1;
	}
	return 0;
}

static void
cmp_create(struct tb *b, const char *key, uint64_t rev, int equal)
{
	char *k;
	int known;

	if (tb_deleted(b, key) || tb_made(b, key))
		return;
	k = etcd_b64(key, strlen(key));
	known = cmp_known(b, k, rev, equal);
	free(k);
	if (known)
		return;
	if (equal && rev == 0) {
		b->made = xrealloc(b->made, (b->nmade + 1) * sizeof(*b->made));
		snprintf(b->made[b->nmade++], ETCD_KEY_MAX, "%s", key);
	}
	json_array_append_new(b->cmps, json_pack(
		"{s:o, s:s, s:s, s:I}", "key", b64s(key), "target", "CREATE",
		"result", equal ? "EQUAL" : "NOT_EQUAL", "create_revision",
		(json_int_t)rev));
}

static void
tb_add(struct tb *b, int del, int range, const char *key, const char *value)
{
	struct tb_op *o;

	if (b->nops == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 8;
		b->ops = xrealloc(b->ops, b->cap * sizeof(*b->ops));
	}
	o = &b->ops[b->nops++];
	o->del = del;
	o->range = range;
	snprintf(o->key, sizeof(o->key), "%s", key);
	o->value = value ? xstrdup(value) : NULL;
}

static void
op_put(struct tb *b, const char *key, const char *value)
{
	tb_add(b, 0, 0, key, value);
}

static void
op_del(struct tb *b, const char *key, int prefix)
{
	tb_add(b, 1, prefix, key, NULL);
}

static int
tb_puts(const struct tb *b, const char *key, int prefix)
{
	size_t i;

	for (i = 0; i < b->nops; i++)
		if (!b->ops[i].del &&
		    (prefix ? strncmp(b->ops[i].key, key, strlen(key)) == 0 :
			      strcmp(b->ops[i].key, key) == 0))
			return 1;
	return 0;
}

static json_t *
json_del(const char *key, int prefix)
{
	char end[ETCD_KEY_MAX];
	json_t *r = json_pack("{s:o}", "key", b64s(key));

	if (prefix) {
		etcd_prefix_end(key, end, sizeof(end));
		json_object_set_new(r, "range_end", b64s(end));
	}
	return json_pack("{s:o}", "request_delete_range", r);
}

/* A range deletion that would cover a put: the keys etcd has there
 * (the shadow), one by one, but those the Txn puts. */
static void
del_each(const struct etcd_store *st, const struct tb *b, const char *prefix,
	 json_t *ops)
{
	struct hnode *n;
	size_t pos, pl = strlen(prefix);

	for (n = htable_first(&st->kvs, &pos); n != NULL;
	     n = htable_next(&st->kvs, n, &pos)) {
		const struct kv *e = container_of(n, struct kv, node);

		if (strncmp(e->key, prefix, pl) == 0 && !tb_puts(b, e->key, 0))
			json_array_append_new(ops, json_del(e->key, 0));
	}
}

/* The success operations; frees the builder's operations. */
static json_t *
tb_ops(const struct etcd_store *st, struct tb *b)
{
	json_t *ops = json_array();
	size_t i;

	for (i = 0; i < b->nops; i++) {
		struct tb_op *o = &b->ops[i];

		if (!o->del)
			json_array_append_new(ops, json_pack(
				"{s:{s:o, s:o}}", "request_put", "key",
				b64s(o->key), "value", b64s(o->value)));
		else if (!tb_puts(b, o->key, o->range))
			json_array_append_new(ops, json_del(o->key, o->range));
		else if (o->range)
			del_each(st, b, o->key, ops);
	}
	for (i = 0; i < b->nops; i++)
		free(b->ops[i].value);
	free(b->ops);
	free(b->made);
	return ops;
}

static void
txn_change(const struct etcd_store *st, const struct change *c, struct tb *b)
{
	char size[ETCD_KEY_MAX], key[ETCD_KEY_MAX], val[128];
	const char *P = st->prefix;

	etcd_key_format(size, sizeof(size), P, EK_SIZE, c->token, NULL);
	switch (c->kind) {
	case CHANGE_TOKEN_PUT:
		cmp_create(b, size, c->created_index, 1);
		/* Each time: a sync may change the cluster ID alone. */
		etcd_key_format(key, sizeof(key), P, EK_META, c->token, NULL);
		snprintf(val, sizeof(val), "{\"created_at\":%lld%s%s%s}",
			 (long long)c->created_at,
			 c->cluster_id[0] ? ",\"cluster_id\":\"" : "",
			 c->cluster_id, c->cluster_id[0] ? "\"" : "");
		op_put(b, key, val); /* before the size: it reads it */
		snprintf(val, sizeof(val), "%u", c->size);
		op_put(b, size, val);
		return;
	case CHANGE_TOKEN_DEL:
		cmp_create(b, size, 0, 0);
		snprintf(key, sizeof(key), "%s%s/", V3_REGISTRY, c->token);
		op_del(b, key, 1);
		snprintf(key, sizeof(key), "%sclients/%s/", P, c->token);
		op_del(b, key, 1);
		snprintf(key, sizeof(key), "%ssynced/%s/", P, c->token);
		op_del(b, key, 1);
		etcd_key_format(key, sizeof(key), P, EK_META, c->token, NULL);
		op_del(b, key, 0);
		return;
	case CHANGE_MEMBER_PUT:
		etcd_key_format(key, sizeof(key), P, EK_MEMBER, c->token,
				c->name);
		cmp_create(b, size, 0, 0);
		cmp_create(b, key, c->created_index, 1);
		{
			char ck[ETCD_KEY_MAX];

			etcd_key_format(ck, sizeof(ck), P, EK_CLIENTS,
					c->token, c->name);
			if (c->clients)
				op_put(b, ck, c->clients);
			else
				op_del(b, ck, 0);
			etcd_key_format(ck, sizeof(ck), P, EK_SYNCED,
					c->token, c->name);
			if (c->synced)
				op_put(b, ck, "1");
			else
				op_del(b, ck, 0);
		}
		op_put(b, key, c->value ? c->value : "");
		return;
	case CHANGE_MEMBER_DEL:
		etcd_key_format(key, sizeof(key), P, EK_MEMBER, c->token,
				c->name);
		cmp_create(b, key, 0, 0);
		op_del(b, key, 0);
		etcd_key_format(key, sizeof(key), P, EK_CLIENTS, c->token,
				c->name);
		op_del(b, key, 0);
		etcd_key_format(key, sizeof(key), P, EK_SYNCED, c->token,
				c->name);
		op_del(b, key, 0);
		return;
	case CHANGE_ALIAS_PUT:
		cmp_create(b, size, 0, 0);
		etcd_key_format(key, sizeof(key), P, EK_ALIAS, NULL, c->name);
		op_put(b, key, c->token);
		return;
	case CHANGE_ALIAS_DEL:
		etcd_key_format(key, sizeof(key), P, EK_ALIAS, NULL, c->name);
		cmp_create(b, key, 0, 0);
		op_del(b, key, 0);
		return;
	}
}

/* etcd answered, refusing this request as such (grpc-gateway gives 400
 * for InvalidArgument: too many operations, request too large, duplicate
 * key; 403 for a permission): the Txn did not happen and the connection
 * is fine. A bad auth token (401) or any 5xx is the connection's. */
static int
request_refused(int code, const char *err)
{
	return (code == 400 || code == 403 || code == 404 || code == 413) &&
	       strstr(err, "auth token") == NULL;
}

static void
txn_done(void *arg, json_t *body, const char *err)
{
	struct txn *t = arg;
	struct etcd_store *st = t->st;
	int code = etcd_call_status(st->cli);
	size_t i;

	if (body == NULL) {
		struct txn **tp = &st->txns;
		int refused = request_refused(code, err);
		char why[256];

		while (*tp != t)
			tp = &(*tp)->next;
		*tp = t->next;
		snprintf(why, sizeof(why), "etcd refused the write: %s", err);
		if (refused)
			log_warn("etcd: a write of %zu changes refused (HTTP "
				 "%d): %s", t->p->n, code, err);
		/* Refused: nothing written. Else the outcome is unknown:
		 * never an acknowledgement. */
		settle(st, t->p, refused ? STORE_FAILED : STORE_UNAVAILABLE,
		       refused ? why : err);
		free(t);
		if (!st->closing && !refused)
			conn_lost(st, err);
		return;
	}
	t->rev = etcd_header_revision(body);
	t->committed = 1;
	note_rev(st, t->rev);
	if (json_is_true(json_object_get(body, "succeeded"))) {
		for (i = 0; i < t->p->n; i++)
			t->p->changes[i].index = t->rev;
	} else {
		t->p->status = STORE_CONFLICT;
		st->conflicts++;
	}
	t->since_ms = now_monotonic_ms();
	settle_seen(st);
}

/* The bytes of a Txn's protobuf, about: its keys and values, decoded. */
static size_t
txn_bytes(const json_t *list)
{
	static const char *const fields[] = { "key", "value", "range_end" };
	size_t i, f, n = 0;

	for (i = 0; i < json_array_size(list); i++) {
		const json_t *o = json_array_get(list, i), *in;
		const char *k;

		/* an operation wraps its request: {"request_put": {...}} */
		in = json_object_size(o) == 1 ?
			     json_object_iter_value(json_object_iter(
				     (json_t *)o)) : o;
		if (!json_is_object(in))
			in = o;
		for (f = 0; f < 3; f++)
			if ((k = json_string_value(json_object_get(in,
								   fields[f]))))
				n += strlen(k) / 4 * 3;
		n += 16;
	}
	return n;
}

/* Refuses (settles later) a Txn etcd would refuse; 1 when it did. */
static int
txn_too_large(struct etcd_store *st, const json_t *cmps, const json_t *ops,
	      struct proposal *p)
{
	size_t max = st->base.max_txn_ops, n = json_array_size(ops),
	       bytes = txn_bytes(cmps) + txn_bytes(ops);
	char why[256];

	if (json_array_size(cmps) > n)
		n = json_array_size(cmps);
	if (n <= max && bytes <= MAX_REQUEST_BYTES)
		return 0;
	if (n > max)
		snprintf(why, sizeof(why), "too many operations for one etcd "
			 "Txn: this write of %zu changes needs %zu, etcd takes "
			 "%zu (--etcd-max-txn-ops, etcd's --max-txn-ops)",
			 p->n, n, max);
	else
		snprintf(why, sizeof(why), "request too large for etcd: this "
			 "write of %zu changes is about %zu bytes, etcd takes "
			 "%u (its --max-request-bytes default)", p->n, bytes,
			 MAX_REQUEST_BYTES);
	log_warn("etcd: a write refused before it was sent: %s", why);
	refuse(st, p, STORE_FAILED, why);
	return 1;
}

static void
etcd_submit(struct store *base, struct proposal *p)
{
	struct etcd_store *st = (struct etcd_store *)base;
	struct tb b = { 0 };
	json_t *ops;
	struct txn *t;
	size_t i;

	if (st->closing) {
		settle(st, p, STORE_UNAVAILABLE, "shutting down");
		return;
	}
	if (st->state != CS_LIVE) {
		refuse(st, p, STORE_UNAVAILABLE, st->why);
		return;
	}
	b.cmps = json_array();
	for (i = 0; i < p->n; i++)
		txn_change(st, &p->changes[i], &b);
	ops = tb_ops(st, &b);
	if (txn_too_large(st, b.cmps, ops, p)) {
		json_decref(b.cmps);
		json_decref(ops);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->st = st;
	t->p = p;
	t->since_ms = t->sent_ms = now_monotonic_ms();
	t->next = st->txns;
	st->txns = t;
	etcd_call(st->cli, "/v3/kv/txn",
		  json_pack("{s:o, s:o, s:[]}", "compare", b.cmps, "success",
			    ops, "failure"),
		  CALL_TIMEOUT_MS, txn_done, t);
}

/* ---- connecting: login, Range, reconcile, Watch ---- */

struct step {
	struct etcd_store *st;
	unsigned gen;
};

static struct step *
step_new(struct etcd_store *st)
{
	struct step *s = xmalloc(sizeof(*s));

	s->st = st;
	s->gen = st->gen;
	return s;
}

/* Frees s; the store when the step is still current, else NULL. */
static struct etcd_store *
step_take(struct step *s)
{
	struct etcd_store *st = s->st;
	int current = s->gen == st->gen && !st->closing;

	free(s);
	return current ? st : NULL;
}

static void range_page(struct etcd_store *st, const char *from, size_t n);
static void range_slice(struct etcd_store *st, const char *from, size_t n);
static int span_cmp(const char *a, size_t an, const char *b, size_t bn);

static void
reconcile(struct etcd_store *st)
{
	size_t i, nk = json_array_size(st->range_kvs);
	struct hnode *n, *next;
	size_t pos;

	copy_begin(st);
	for (n = htable_first(&st->kvs, &pos); n; n = htable_next(&st->kvs, n,
								  &pos))
		container_of(n, struct kv, node)->seen = 0;
	for (i = 0; i < nk; i++) {
		struct etcd_kv kv;
		char *kb, *vb;
		struct kv *e;

		if (decode_kv(json_array_get(st->range_kvs, i), &kv, &kb, &vb))
			continue;
		if ((e = kv_find(st, kv.key)) != NULL)
			e->seen = 1;
		free(kb);
		free(vb);
	}
	/* Gone while we were away: deletions, at the Range's revision. */
	for (n = htable_first(&st->kvs, &pos); n != NULL; n = next) {
		struct kv *e = container_of(n, struct kv, node);
		struct etcd_kv kv = { e->key, strlen(e->key), "", st->range_rev,
				      e->create, 0 };

		next = htable_next(&st->kvs, n, &pos);
		if (e->seen || kv_find(st, e->key) == NULL)
			continue;
		/* A deletion takes out e alone (htable_remove keeps the
		 * buckets): next, taken before, stays valid. */
		kv.key = xstrdup(e->key);
		apply_event(st, &kv, 1, NULL);
		free((char *)kv.key);
	}
	/* New or changed: our metadata first (the size and member keys
	 * read it: created_at, the cluster ID, client URLs, synced), then in
	 * key order (a size key before its members). */
	for (i = 0; i < 2 * nk; i++) {
		char token[STORE_NAME_MAX + 1], name[STORE_NAME_MAX + 1];
		enum etcd_key_kind kind;
		struct etcd_kv kv;
		char *kb, *vb;
		struct kv *e;

		if (decode_kv(json_array_get(st->range_kvs, i % nk), &kv, &kb,
			      &vb))
			continue;
		kind = etcd_key_parse(st->prefix, kv.key, kv.klen, token, name);
		if ((kind == EK_META || kind == EK_CLIENTS ||
		     kind == EK_SYNCED) != (i < nk)) {
			free(kb);
			free(vb);
			continue;
		}
		e = kv_find(st, kv.key);
		/* The value too: an etcd restored from a snapshot gives
		 * out revisions it gave out before. */
		if (e == NULL || e->mod != kv.mod || e->create != kv.create ||
		    strcmp(e->value, kv.value) != 0)
			apply_event(st, &kv, 0, NULL);
		if ((e = kv_find(st, kv.key)) != NULL)
			e->seen = 1;
		free(kb);
		free(vb);
	}
	json_decref(st->range_kvs);
	st->range_kvs = NULL;
	if (st->range_rev < st->applied) {
		/* Watching from our revision would wait for etcd to reach
		 * it again, showing nothing meanwhile. */
		log_warn("etcd: its revision went back from %llu to %llu "
			 "(restored from a snapshot?): following it from "
			 "there", (unsigned long long)st->applied,
			 (unsigned long long)st->range_rev);
		st->applied = st->seen_rev = st->range_rev;
		st->behind_ms = 0;
	}
	st->delivered = st->range_rev;
	st->span_keys = st->range_count;
	audit_reset(&st->audit);
	/* the Range has just read the span */
	st->next_audit_ms = now_monotonic_ms() + AUDIT_EVERY_MS;
	st->resumable = 1;
	end_batch(st, st->range_rev);
	if (st->copy_stale && st->copy_open && copy_rewrite(st, 0) != 0)
		log_warn("etcd: the local copy was not written anew");
}

static void watch_msg(void *arg, json_t *msg);
static void watch_end(void *arg, const char *err);

static void
watch_open(struct etcd_store *st)
{
	char *lo = etcd_b64(st->lo, strlen(st->lo));
	char *hi = etcd_b64(st->hi, strlen(st->hi));
	json_t *req = json_pack("{s:{s:s, s:s, s:I, s:b, s:b}}",
				"create_request", "key", lo, "range_end", hi,
				"start_revision", (json_int_t)(st->applied + 1),
				"prev_kv", 1, "progress_notify", 1);

	free(lo);
	free(hi);
	st->watch = etcd_stream_open(st->cli, "/v3/watch", req, watch_msg,
				     watch_end, st);
	if (st->watch == NULL)
		conn_lost(st, "cannot open the watch");
}

/* A Range kv under our prefixes: what sorts between them is not kept
 * (the span may hold another application's whole key space). */
static int
range_kv_ours(const struct etcd_store *st, const json_t *j)
{
	char token[STORE_NAME_MAX + 1], name[STORE_NAME_MAX + 1];
	const char *k = json_string_value(json_object_get(j, "key"));
	size_t kl;
	char *key = k ? etcd_unb64(k, &kl) : NULL;
	int ours = key != NULL &&
		   etcd_key_parse(st->prefix, key, kl, token, name) != EK_OTHER;

	free(key);
	return ours;
}

static void
range_done(void *arg, json_t *body, const char *err)
{
	struct etcd_store *st = step_take(arg);
	json_t *kvs, *last;
	size_t i;

	if (st == NULL)
		return;
	if (body == NULL) {
		conn_lost(st, err);
		return;
	}
	if (st->range_rev == 0) {
		st->range_rev = etcd_header_revision(body);
		/* the first page's count is the whole span's */
		st->range_count = etcd_u64(body, "count");
		copy_reserve(st, st->range_count);
	}
	kvs = json_object_get(body, "kvs");
	for (i = 0; i < json_array_size(kvs); i++)
		if (range_kv_ours(st, json_array_get(kvs, i)))
			json_array_append(st->range_kvs,
					  json_array_get(kvs, i));
	last = json_array_get(kvs, json_array_size(kvs) - 1);
	if (json_is_true(json_object_get(body, "more")) && last != NULL) {
		size_t kl;
		char *k = etcd_unb64(json_string_value(json_object_get(last,
						"key")), &kl);

		if (k == NULL) {
			conn_lost(st, "range: a key that is not base64");
			return;
		}
		/* the key and a NUL: just after */
		if (st->range_sliced)
			range_page(st, k, kl + 1);
		else
			range_slice(st, k, kl + 1);
		free(k);
		return;
	}
	/* The slice is read: the next one starts where it ended. */
	if (span_cmp(st->range_end, st->range_end_len, st->hi,
		     strlen(st->hi)) < 0) {
		char from[sizeof(st->range_end)];
		size_t n = st->range_end_len;

		memcpy(from, st->range_end, n);
		range_slice(st, from, n);
		return;
	}
	reconcile(st);
	watch_open(st);
}

/* Byte order, as etcd sorts keys. */
static int
span_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c != 0 ? c : (an > bn) - (an < bn);
}

/* A span of more than one page is read in slices: etcd 3.4 walks its
 * index from a page's key to the range's end to count the rest, for
 * every page, so paging the whole span cost the square of its size (a
 * first Range of 600,000 keys of random token names took 29-43 s, most
 * of it etcd's CPU). Under the registry prefix (lo) a slice is the names
 * that start with one digit or one letter (a sixteenth of them for hex
 * token names), or the bytes between those; beyond it, the rest of the
 * span (srvgate's own prefix, and anything between) is one slice. So a
 * large span takes about 40 requests more (a small one is one page as
 * before); the slices are read in order at the first page's revision, so
 * together they are the span at that revision, as one Range would be. */
static void
range_slice(struct etcd_store *st, const char *from, size_t n)
{
	size_t lo = strlen(st->lo), keep = lo + 1, hi = strlen(st->hi);
	char *end = st->range_end;
	unsigned char b = n > lo ? (unsigned char)from[lo] : 0;

	st->range_sliced = 1;
	memcpy(end, st->lo, lo);
	if (n < lo || memcmp(from, st->lo, lo) != 0)
		keep = 0; /* the rest */
	else if (n == lo || b < '0')
		end[lo] = '0';
	else if (b <= '9' || (b >= 'a' && b <= 'z'))
		end[lo] = (char)(b + 1);
	else if (b < 'a')
		end[lo] = 'a';
	else /* past 'z': to the end of the prefix (it ends in '/') */
		end[(keep = lo) - 1]++;
	if (keep == 0 || span_cmp(end, keep, st->hi, hi) > 0) {
		keep = hi;
		memcpy(end, st->hi, hi);
	}
	st->range_end_len = keep;
	range_page(st, from, n);
}

static void
range_page(struct etcd_store *st, const char *from, size_t n)
{
	char *k = etcd_b64(from, n);
	char *e = etcd_b64(st->range_end, st->range_end_len);
	json_t *req = json_pack("{s:s, s:s, s:i}", "key", k, "range_end", e,
				"limit", RANGE_PAGE);

	if (st->range_rev)
		json_object_set_new(req, "revision",
				    json_integer((json_int_t)st->range_rev));
	free(k);
	free(e);
	etcd_call(st->cli, "/v3/kv/range", req, CALL_TIMEOUT_MS, range_done,
		  step_new(st));
}

static void
range_start(struct etcd_store *st)
{
	json_decref(st->range_kvs);
	st->range_kvs = json_array();
	st->range_rev = 0;
	st->resumed = 0;
	st->ranges++;
	st->range_sliced = 0;
	st->range_end_len = strlen(st->hi);
	memcpy(st->range_end, st->hi, st->range_end_len);
	range_page(st, st->lo, strlen(st->lo));
}

/* ---- resuming: the watch from where memory stands, without a Range ----
 *
 * After a lost connection (a member stopped, a restart on the local copy)
 * memory is etcd's span at revision `applied`, exactly, unless the watch
 * was found short (a compaction, the audit). Then a count of the span at
 * that revision (from etcd's index: no values read) stands in for the
 * Range: it must be the count memory keeps (span_keys, the audit's). A
 * revision compacted away, one etcd has not reached (restored from an
 * older snapshot) or a different count: a Range, as before. */
static void resume_done(void *arg, json_t *body, const char *err);

static void
resume_count(struct etcd_store *st)
{
	char *k = etcd_b64(st->lo, strlen(st->lo));
	char *e = etcd_b64(st->hi, strlen(st->hi));

	etcd_call(st->cli, "/v3/kv/range",
		  json_pack("{s:s, s:s, s:b, s:I}", "key", k, "range_end", e,
			    "count_only", 1, "revision",
			    (json_int_t)st->applied),
		  CALL_TIMEOUT_MS, resume_done, step_new(st));
	free(k);
	free(e);
}

static void
resume_done(void *arg, json_t *body, const char *err)
{
	struct etcd_store *st = step_take(arg);
	uint64_t n;

	if (st == NULL)
		return;
	/* etcd's "required revision has been compacted" or "... is a future
	 * revision" (gRPC's OutOfRange) calls for a Range; no answer, or
	 * any other error, is a connection to try again. */
	if (body == NULL && strstr(err, "required revision") == NULL) {
		conn_lost(st, err);
		return;
	}
	if (body == NULL) {
		log_info("etcd: the watch cannot resume at revision %llu (%s): "
			 "a Range follows", (unsigned long long)st->applied,
			 err);
		range_start(st);
		return;
	}
	n = etcd_u64(body, "count");
	if (n != st->span_keys) {
		log_info("etcd: at revision %llu etcd counts %llu keys in the "
			 "span, memory %llu: a Range follows",
			 (unsigned long long)st->applied,
			 (unsigned long long)n,
			 (unsigned long long)st->span_keys);
		range_start(st);
		return;
	}
	st->resumed = 1;
	st->resumes++;
	st->delivered = st->applied;
	audit_reset(&st->audit);
	st->next_audit_ms = now_monotonic_ms() + AUDIT_EVERY_MS;
	watch_open(st);
}

static void
login_done(void *arg, json_t *body, const char *err)
{
	struct etcd_store *st = step_take(arg);

	(void)body;
	if (st == NULL)
		return;
	if (err != NULL) {
		conn_lost(st, err);
		return;
	}
	if (st->resumable && st->applied > 0) {
		resume_count(st);
		return;
	}
	range_start(st);
}

static void
connect_now(struct etcd_store *st)
{
	st->gen++;
	st->state = CS_SYNCING;
	/* A fresh login each time: a restarted or restored etcd may stall
	 * on an old token rather than refuse it. */
	etcd_client_logout(st->cli);
	etcd_client_login(st->cli, login_done, step_new(st));
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_now(arg);
}

static void
conn_lost(struct etcd_store *st, const char *why)
{
	uint32_t jitter;
	uint64_t wait;
	struct timeval tv;

	if (st->closing)
		return;
	if (strstr(why, "auth") != NULL || strstr(why, "token") != NULL)
		etcd_client_logout(st->cli);
	if (st->state == CS_LIVE)
		log_warn("etcd: lost %s: %s; degraded: writes get 503, DNS "
			 "serves revision %llu", etcd_client_endpoint(st->cli),
			 why, (unsigned long long)st->applied);
	else if (st->backoff_ms == BACKOFF_MIN_MS || st->backoff_ms == 0 ||
		 st->backoff_ms >= BACKOFF_MAX_MS)
		log_warn("etcd: cannot use %s: %s",
			 etcd_client_endpoint(st->cli), why);
	snprintf(st->why, sizeof(st->why), "etcd unavailable (%s: %s); DNS "
		 "serves the last known records (revision %llu)",
		 etcd_client_endpoint(st->cli), why,
		 (unsigned long long)st->applied);
	st->gen++;
	st->state = CS_DOWN;
	st->lock_held = 0;
	st->lease = 0;
	audit_reset(&st->audit);
	etcd_stream_close(st->watch);
	st->watch = NULL;
	etcd_client_next(st->cli);
	st->reconnects++;
	st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (st->backoff_ms > BACKOFF_MAX_MS)
		st->backoff_ms = BACKOFF_MAX_MS;
	random_bytes(&jitter, sizeof(jitter));
	/* Between half and all of the backoff: gateways spread out. */
	wait = st->backoff_ms / 2 + jitter % (st->backoff_ms / 2 + 1);
	tv = timeval_from_ms(wait);
	evtimer_add(st->retry_ev, &tv);
}

/* ---- the watch ---- */

/* The span's key count, as etcd's count_only gives it: a PUT of version 1
 * made a key, a DELETE (sent only for a key that was there) took one. */
static void
count_key(struct etcd_store *st, const struct etcd_kv *kv, int deleted)
{
	if (deleted && st->span_keys > 0)
		st->span_keys--;
	else if (!deleted && kv->version == 1)
		st->span_keys++;
}

/* The watch skipped changes etcd has (etcd_audit.h): start over from a
 * Range, at once, as after a compaction. */
static void
watch_lost(struct etcd_store *st)
{
	char why[200];

	snprintf(why, sizeof(why), "the watch missed changes (etcd counted "
		 "%llu keys in the span at revision %llu, this gateway %llu): "
		 "a fresh Range follows",
		 (unsigned long long)st->audit.lost_theirs,
		 (unsigned long long)st->audit.lost_rev,
		 (unsigned long long)st->audit.lost_ours);
	st->audit_losses++;
	st->backoff_ms = 0;
	st->resumable = 0;
	conn_lost(st, why);
}

/* One event; -1 when the audit finds the watch lost changes before it. */
static int
watch_event(struct etcd_store *st, const json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	int deleted = type != NULL && strcmp(type, "DELETE") == 0;
	const char *pv = json_string_value(json_object_get(
		json_object_get(ev, "prev_kv"), "value"));
	struct etcd_kv kv;
	char *kb, *vb, *prev_value;

	if (decode_kv(json_object_get(ev, "kv"), &kv, &kb, &vb) != 0)
		return 0;
	if (audit_passes(&st->audit, kv.mod) &&
	    audit_reached(&st->audit, st->audit.rev, st->span_keys) ==
	    AUDIT_LOST) {
		free(kb);
		free(vb);
		return -1;
	}
	count_key(st, &kv, deleted);
	if (kv.mod > st->delivered)
		st->delivered = kv.mod;
	prev_value = pv ? etcd_unb64(pv, NULL) : NULL;
	apply_event(st, &kv, deleted, prev_value);
	free(prev_value);
	free(kb);
	free(vb);
	return 0;
}

static void
watch_events(struct etcd_store *st, const json_t *res)
{
	const json_t *evs = json_object_get(res, "events");
	uint64_t rev = etcd_header_revision(res);
	size_t i;

	copy_begin(st);
	for (i = 0; i < json_array_size(evs); i++)
		if (watch_event(st, json_array_get(evs, i)) != 0) {
			/* what came before is kept, but memory and the copy
			 * are no revision of etcd's now: no resumption */
			st->resumable = 0;
			end_batch(st, st->applied);
			if (st->state == CS_LIVE) /* settling may have lost it */
				watch_lost(st);
			return;
		}
	/* A reply without events (progress) shows everything through its
	 * revision; one with events only through its last: etcd catching
	 * a watcher up sends at most 1000 revisions under the newest. */
	if (json_array_size(evs) == 0 && rev > st->delivered)
		st->delivered = rev;
	end_batch(st, rev);
	if (st->state == CS_LIVE &&
	    audit_reached(&st->audit, st->delivered, st->span_keys) ==
	    AUDIT_LOST)
		watch_lost(st);
}

static void
watch_msg(void *arg, json_t *msg)
{
	struct etcd_store *st = arg;
	json_t *res = json_object_get(msg, "result");
	uint64_t compacted;

	if (res == NULL) {
		json_t *e = json_object_get(msg, "error");
		const char *m = json_string_value(json_object_get(e,
								  "message"));

		conn_lost(st, m ? m : "the watch failed");
		return;
	}
	compacted = etcd_u64(res, "compact_revision");
	if (compacted != 0 || json_is_true(json_object_get(res, "canceled"))) {
		char why[128];

		snprintf(why, sizeof(why), "watch canceled%s (compacted at "
			 "%llu): a fresh Range follows",
			 compacted ? "" : " by etcd",
			 (unsigned long long)compacted);
		log_info("etcd: %s", why);
		/* Start over at once, from a Range: nothing is lost. */
		st->backoff_ms = 0;
		st->resumable = 0;
		conn_lost(st, why);
		return;
	}
	if (json_is_true(json_object_get(res, "created"))) {
		st->state = CS_LIVE;
		st->backoff_ms = 0;
		st->why[0] = '\0';
		log_info("etcd: connected to %s at revision %llu (%s)",
			 etcd_client_endpoint(st->cli),
			 (unsigned long long)st->applied,
			 st->resumed ? "watch resumed, no Range" :
				       "after a Range");
		return;
	}
	watch_events(st, res);
}

static void
watch_end(void *arg, const char *err)
{
	struct etcd_store *st = arg;

	st->watch = NULL;
	conn_lost(st, err ? err : "the watch ended");
}

/* ---- pings, the GC lock ---- */

static void lock_step(struct etcd_store *st);

static void
ping_done(void *arg, json_t *body, const char *err)
{
	struct etcd_store *st = step_take(arg);
	uint64_t rev;

	if (st == NULL)
		return;
	st->ping_out = 0;
	if (body == NULL) {
		conn_lost(st, err);
		return;
	}
	rev = etcd_header_revision(body);
	note_rev(st, rev);
	if (st->ping_audit) {
		uint64_t now = now_monotonic_ms(), cost = now - st->ping_sent_ms;

		st->audits++;
		st->next_audit_ms = now + (AUDIT_COST_SHARE * cost >
					   AUDIT_EVERY_MS ?
					   AUDIT_COST_SHARE * cost :
					   AUDIT_EVERY_MS);
		if (audit_counted(&st->audit, rev, etcd_u64(body, "count"),
				  st->delivered, st->span_keys, now) ==
		    AUDIT_LOST) {
			watch_lost(st);
			return;
		}
	}
	lock_step(st);
}

static void
ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_store *st = arg;
	json_t *req;
	char *k;

	(void)fd;
	(void)what;
	settle_seen(st); /* the deadlines */
	if (st->state != CS_LIVE || st->ping_out)
		return;
	st->ping_out = 1;
	/* Linearizable: answered only with a leader and a quorum. One key,
	 * or now and then the span's count for the watch audit (from
	 * etcd's index: no values read). */
	k = etcd_b64(st->lo, strlen(st->lo));
	req = json_pack("{s:s, s:b}", "key", k, "count_only", 1);
	free(k);
	st->ping_sent_ms = now_monotonic_ms();
	st->ping_audit = st->ping_sent_ms >= st->next_audit_ms ||
			 audit_due(&st->audit, st->ping_sent_ms);
	if (st->ping_audit) {
		k = etcd_b64(st->hi, strlen(st->hi));
		json_object_set_new(req, "range_end", json_string(k));
		free(k);
	}
	/* A count of a big span takes longer than one key's read. */
	etcd_call(st->cli, "/v3/kv/range", req,
		  st->ping_audit ? CALL_TIMEOUT_MS : 2000, ping_done,
		  step_new(st));
}

static void
set_lock(struct etcd_store *st, int held)
{
	if (held != st->lock_held)
		log_info("etcd: %s the GC lock", held ? "holding" :
			 "no longer holding");
	st->lock_held = held;
}

/* A lease granted or kept alive (the keepalive answers as a stream). */
static void
lease_done(void *arg, json_t *body, const char *err)
{
	struct etcd_store *st = step_take(arg);
	json_t *r = json_object_get(body, "result");

	if (st == NULL)
		return;
	st->lock_out = 0;
	if (r != NULL)
		body = r;
	if (body == NULL || etcd_u64(body, "TTL") == 0) {
		if (err)
			log_debug("etcd: GC lock lease: %s", err);
		st->lease = 0;
		set_lock(st, 0);
		return;
	}
	st->lease = etcd_u64(body, "ID");
}

static void
take_done(void *arg, json_t *body, const char *err)
{
	struct etcd_store *st = step_take(arg);

	if (st == NULL)
		return;
	st->lock_out = 0;
	if (body == NULL)
		log_debug("etcd: GC lock: %s", err);
	set_lock(st, json_is_true(json_object_get(body, "succeeded")));
}

/* One step each ping: get a lease, take the lock key with it (a Txn
 * that creates it only if absent), then keep the lease alive. The lock
 * goes with the lease: TTL seconds after its holder stops. */
static void
lock_step(struct etcd_store *st)
{
	char key[ETCD_KEY_MAX], *k;

	if (st->lock_out)
		return;
	st->lock_out = 1;
	if (st->lease == 0) {
		etcd_call(st->cli, "/v3/lease/grant",
			  json_pack("{s:i}", "TTL", LOCK_TTL_S), 2000,
			  lease_done, step_new(st));
		return;
	}
	if (st->lock_held || st->lock_tries++ % 3 != 0) {
		etcd_call(st->cli, "/v3/lease/keepalive",
			  json_pack("{s:I}", "ID", (json_int_t)st->lease),
			  2000, lease_done, step_new(st));
		return;
	}
	snprintf(key, sizeof(key), "%sgc-lock", st->prefix);
	k = etcd_b64(key, strlen(key));
	etcd_call(st->cli, "/v3/kv/txn", json_pack(
		"{s:[{s:s, s:s, s:s, s:i}], s:[{s:{s:s, s:s, s:I}}]}",
		"compare", "key", k, "target", "CREATE", "result", "EQUAL",
		"create_revision", 0, "success", "request_put", "key", k,
		"value", "", "lease", (json_int_t)st->lease),
		2000, take_done, step_new(st));
	free(k);
}

static int
etcd_exclusive(struct store *base)
{
	return ((struct etcd_store *)base)->lock_held;
}

/* ---- the store functions ---- */

static void
etcd_probe(struct store *base)
{
	struct etcd_store *st = (struct etcd_store *)base;

	if (st->state == CS_LIVE)
		store_probe_done(base, 1, "");
	else
		store_probe_done(base, 0, st->why[0] ? st->why :
				 "etcd: connecting");
}

static int
etcd_busy(const struct store *base)
{
	const struct etcd_store *st = (const struct etcd_store *)base;

	return st->txns != NULL || st->refused != NULL;
}

static void
etcd_stats(const struct store *base, struct store_stats *out)
{
	*out = ((const struct etcd_store *)base)->stats;
}

void
store_etcd_metrics(struct evbuffer *out, void *arg)
{
	struct etcd_store *st = arg;

	if (st == NULL || st->base.ops->exclusive != etcd_exclusive)
		return;
	evbuffer_add_printf(out,
		"# HELP srvgate_etcd_connected 1 while the etcd watch is live.\n"
		"# TYPE srvgate_etcd_connected gauge\n"
		"srvgate_etcd_connected %d\n"
		"# HELP srvgate_etcd_revision_applied The etcd revision memory "
		"and DNS reflect.\n"
		"# TYPE srvgate_etcd_revision_applied gauge\n"
		"srvgate_etcd_revision_applied %llu\n"
		"# HELP srvgate_etcd_revision_seen The newest etcd revision "
		"etcd reported.\n"
		"# TYPE srvgate_etcd_revision_seen gauge\n"
		"srvgate_etcd_revision_seen %llu\n"
		"# HELP srvgate_etcd_lag_revisions Revisions etcd has that "
		"are not applied yet.\n"
		"# TYPE srvgate_etcd_lag_revisions gauge\n"
		"srvgate_etcd_lag_revisions %llu\n"
		"# HELP srvgate_etcd_lag_seconds How long memory has been "
		"behind the newest revision etcd reported.\n"
		"# TYPE srvgate_etcd_lag_seconds gauge\n"
		"srvgate_etcd_lag_seconds %.3f\n"
		"# HELP srvgate_etcd_reconnects_total Connections lost or "
		"started over.\n"
		"# TYPE srvgate_etcd_reconnects_total counter\n"
		"srvgate_etcd_reconnects_total %llu\n"
		"# HELP srvgate_etcd_conflicts_total Txns another writer won "
		"(planned again).\n"
		"# TYPE srvgate_etcd_conflicts_total counter\n"
		"srvgate_etcd_conflicts_total %llu\n"
		"# HELP srvgate_etcd_gc_lock 1 while this gateway holds the "
		"GC lock.\n"
		"# TYPE srvgate_etcd_gc_lock gauge\n"
		"srvgate_etcd_gc_lock %d\n"
		"# HELP srvgate_etcd_watch_audits_total Counts of the span "
		"etcd gave, to compare with what the watch delivered.\n"
		"# TYPE srvgate_etcd_watch_audits_total counter\n"
		"srvgate_etcd_watch_audits_total %llu\n"
		"# HELP srvgate_etcd_watch_losses_total Times the watch had "
		"missed changes etcd has (a fresh Range followed).\n"
		"# TYPE srvgate_etcd_watch_losses_total counter\n"
		"srvgate_etcd_watch_losses_total %llu\n"
		"# HELP srvgate_etcd_ranges_total Ranges of the whole span "
		"(at connection, unless the watch resumed).\n"
		"# TYPE srvgate_etcd_ranges_total counter\n"
		"srvgate_etcd_ranges_total %llu\n"
		"# HELP srvgate_etcd_resumes_total Connections that resumed "
		"the watch where memory stood, without a Range.\n"
		"# TYPE srvgate_etcd_resumes_total counter\n"
		"srvgate_etcd_resumes_total %llu\n"
		"# HELP srvgate_etcd_connections_opened_total Connections "
		"opened to etcd (idle ones are used again).\n"
		"# TYPE srvgate_etcd_connections_opened_total counter\n"
		"srvgate_etcd_connections_opened_total %llu\n",
		st->state == CS_LIVE, (unsigned long long)st->applied,
		(unsigned long long)st->seen_rev,
		(unsigned long long)(st->seen_rev > st->applied ?
				     st->seen_rev - st->applied : 0),
		st->behind_ms ? (double)(now_monotonic_ms() - st->behind_ms) /
					1000.0 : 0.0,
		(unsigned long long)st->reconnects,
		(unsigned long long)st->conflicts, st->lock_held,
		(unsigned long long)st->audits,
		(unsigned long long)st->audit_losses,
		(unsigned long long)st->ranges,
		(unsigned long long)st->resumes,
		(unsigned long long)etcd_client_opened(st->cli));
}

/* The copy's revision records ("r", "l", "k"); whether "k", the span's
 * count, is there. */
static int
load_copy_revisions(struct etcd_store *st, MDB_txn *txn)
{
	static const char names[] = "rlk";
	uint64_t *to[] = { &st->applied, &st->last_change, &st->range_count };
	int counted = 0;
	size_t i;

	for (i = 0; i < 3; i++) {
		MDB_val k = { 1, (void *)&names[i] }, v;
		char num[32];

		if (mdb_get(txn, st->copy.dbi, &k, &v) != 0)
			continue;
		snprintf(num, sizeof(num), "%.*s", (int)v.mv_size,
			 (char *)v.mv_data);
		*to[i] = strtoull(num, NULL, 10);
		counted |= names[i] == 'k';
	}
	return counted;
}

/* One pass over the copy's keys into memory: our metadata (meta = 1) or
 * the rest, in key order, as a Range's reconcile applies them (the size
 * and member keys read the metadata). Memory is empty: nothing to
 * compare, nothing to delete, and no Range's JSON to build. */
static void
load_copy_pass(struct etcd_store *st, MDB_cursor *cur, int meta)
{
	MDB_cursor_op op = MDB_FIRST;
	MDB_val k, v;

	for (; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		char key[ETCD_KEY_MAX], token[STORE_NAME_MAX + 1];
		char name[STORE_NAME_MAX + 1];
		enum etcd_key_kind kind;
		struct etcd_kv kv;
		json_t *o;

		if (k.mv_size < 2 || k.mv_size > sizeof(key) ||
		    *(char *)k.mv_data != 'e')
			continue;
		kv.klen = k.mv_size - 1;
		memcpy(key, (char *)k.mv_data + 1, kv.klen);
		key[kv.klen] = '\0';
		kind = etcd_key_parse(st->prefix, key, kv.klen, token, name);
		if ((kind == EK_META || kind == EK_CLIENTS ||
		     kind == EK_SYNCED) != meta ||
		    (o = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
			continue;
		kv.key = key;
		kv.value = json_string_value(json_object_get(o, "v"));
		if (kv.value == NULL)
			kv.value = "";
		kv.mod = etcd_u64(o, "m");
		kv.create = etcd_u64(o, "c");
		kv.version = (int64_t)etcd_u64(o, "n");
		apply_event(st, &kv, 0, NULL);
		json_decref(o);
	}
}

/* The local copy into memory: the same translation as a Range. */
static int
load_copy(struct etcd_store *st, char *err)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc, counted;

	rc = mdb_txn_begin(st->copy.env, NULL, MDB_RDONLY, &txn);
	if (rc == 0 && (rc = mdb_cursor_open(txn, st->copy.dbi, &cur)) != 0)
		mdb_txn_abort(txn);
	if (rc != 0)
		return fail(err, "%s: %s", st->copy.dir, mdb_strerror(rc));
	counted = load_copy_revisions(st, txn);
	st->copy_open = 0; /* nothing to write back: it is the copy */
	load_copy_pass(st, cur, 1);
	load_copy_pass(st, cur, 0);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	st->range_rev = st->delivered = st->applied;
	st->span_keys = st->range_count;
	st->resumable = counted; /* a copy from before the count: a Range */
	end_batch(st, st->applied);
	st->copy_open = 1;
	return 0;
}

static int
etcd_load(struct store *base, char *err)
{
	struct etcd_store *st = (struct etcd_store *)base;
	uint64_t until = now_monotonic_ms() + START_WAIT_MS;
	int had_copy;

	if (load_copy(st, err) != 0)
		return -1;
	had_copy = st->applied != 0;
	if (st->applied)
		log_info("etcd: local copy at revision %llu loaded (%zu keys)",
			 (unsigned long long)st->applied, st->kvs.count);
	connect_now(st);
	/* A local copy answers at once (etcd's news follows in moments);
	 * with none, etcd gets a few seconds to fill memory first. */
	while (!had_copy && st->state != CS_LIVE && now_monotonic_ms() < until)
		event_base_loop(st->evb, EVLOOP_ONCE);
	if (st->state != CS_LIVE)
		log_warn("etcd: not reached yet: serving the local copy "
			 "(revision %llu) until it is",
			 (unsigned long long)st->applied);
	return 0;
}

static void
revoked(void *arg, json_t *body, const char *err)
{
	(void)body;
	(void)err;
	*(int *)arg = 1;
}

/* Gives the GC lock back at once (else it frees when the lease ends):
 * the loop runs a little longer, for that call only. */
static void
release_lock(struct etcd_store *st)
{
	uint64_t until = now_monotonic_ms() + 1000;
	int done = 0;

	if (st->lease == 0 || st->state != CS_LIVE)
		return;
	etcd_call(st->cli, "/v3/lease/revoke",
		  json_pack("{s:I}", "ID", (json_int_t)st->lease), 1000,
		  revoked, &done);
	while (!done && now_monotonic_ms() < until)
		event_base_loop(st->evb, EVLOOP_ONCE);
	if (done && st->lock_held)
		log_info("etcd: GC lock released");
}

static void
etcd_close(struct store *base)
{
	struct etcd_store *st = (struct etcd_store *)base;
	struct hnode *n, *next;
	struct txn *t;
	size_t pos;

	release_lock(st);
	st->closing = 1;
	st->gen++;
	etcd_stream_close(st->watch);
	etcd_client_free(st->cli); /* fails what is under way */
	while ((t = st->txns) != NULL) {
		st->txns = t->next;
		settle(st, t->p, STORE_UNAVAILABLE, "shutting down");
		free(t);
	}
	settle_refused(-1, 0, st);
	if (st->retry_ev)
		event_free(st->retry_ev);
	if (st->ping_ev)
		event_free(st->ping_ev);
	if (st->settle_ev)
		event_free(st->settle_ev);
	for (n = htable_first(&st->kvs, &pos); n != NULL; n = next) {
		next = htable_next(&st->kvs, n, &pos);
		kv_free(container_of(n, struct kv, node));
	}
	htable_free(&st->kvs);
	json_decref(st->range_kvs);
	if (st->copy_txn)
		mdb_txn_abort(st->copy_txn);
	if (st->copy.env)
		mdb_env_sync(st->copy.env, 1);
	lmdb_env_close(&st->copy);
	free(st);
}

static const struct store_ops etcd_ops = {
	"etcd", etcd_load, etcd_submit, etcd_probe, etcd_busy, etcd_stats,
	etcd_close, etcd_exclusive,
};

int
store_etcd_open(struct store **out, const struct store_etcd_config *cfg,
		struct event_base *base, const struct store_sink *sink,
		char *err)
{
	struct etcd_store *st = xcalloc(1, sizeof(*st));
	struct etcd_client_config cc = { cfg->endpoints, cfg->cacert,
					 cfg->cert, cfg->key, cfg->user,
					 cfg->password };
	struct timeval ping = timeval_from_ms(PING_MS);
	char dir[1100];

	st->base.ops = &etcd_ops;
	st->base.sink = *sink;
	st->evb = base;
	st->copy.lock_fd = -1;
	st->refused_tail = &st->refused;
	st->base.max_txn_ops = DEFAULT_MAX_TXN_OPS;
	htable_init(&st->kvs);
	snprintf(st->why, sizeof(st->why), "etcd: connecting");
	if (strlen(cfg->prefix) > ETCD_PREFIX_MAX || cfg->prefix[0] != '/' ||
	    cfg->prefix[strlen(cfg->prefix) - 1] != '/' ||
	    strncmp(cfg->prefix, V3_REGISTRY, strlen(V3_REGISTRY)) == 0 ||
	    strncmp(V3_REGISTRY, cfg->prefix, strlen(cfg->prefix)) == 0) {
		free(st);
		return fail(err, "--etcd-prefix '%s': a key prefix that "
			    "starts and ends with '/', outside %s", cfg->prefix,
			    V3_REGISTRY);
	}
	snprintf(st->prefix, sizeof(st->prefix), "%s", cfg->prefix);
	etcd_key_span(st->prefix, st->lo, st->hi, sizeof(st->lo));
	st->retry_ev = evtimer_new(base, retry_cb, st);
	st->settle_ev = event_new(base, -1, 0, settle_refused, st);
	st->ping_ev = event_new(base, -1, EV_PERSIST, ping_cb, st);
	snprintf(dir, sizeof(dir), "%s/etcd-copy", cfg->dir);
	if (etcd_client_new(&st->cli, base, &cc, err) != 0 ||
	    lmdb_env_open(&st->copy, dir, COPY_MAP_MIN, COPY_MAP_MAX,
			  err) != 0) {
		etcd_close(&st->base);
		return -1;
	}
	mdb_env_set_flags(st->copy.env, MDB_NOSYNC, 1);
	st->copy_open = 1;
	evtimer_add(st->ping_ev, &ping);
	*out = &st->base;
	return 0;
}
