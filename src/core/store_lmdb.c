/* storage.c -- durable registry state in LMDB, written by group commit.
 *
 * Keys: "i" holds the store index, "t/<token>" a token's size and creation,
 * "m/<token>/<id>" one member. Values are small JSON objects so that
 * `mdb_dump -p` shows an operator what is stored.
 */
#include "storage.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <lmdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

#define MAP_SIZE (4ULL << 30) /* address space only; the file grows as used */
#define RETRY_MS 1000

const double storage_latency_bounds[STORAGE_LATENCY_BUCKETS] = {
	0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
	0.05,	0.1,   0.25,  0.5,   1.0,  2.5,
};

enum op_kind { OP_PUT, OP_DEL, OP_DEL_PREFIX };

struct op {
	enum op_kind kind;
	char *key;
	char *val;
};

struct waiter {
	storage_done_fn fn;
	void *arg;
};

struct batch {
	struct op *ops;
	size_t nops, ops_cap;
	struct waiter *waiters;
	size_t nwaiters, waiters_cap;
	uint64_t index; /* store index after the batch */
	int ok;		/* set by the writer */
	double seconds; /* commit time, set by the writer */
	char error[ERRBUF_SIZE];
};

struct storage {
	MDB_env *env;
	MDB_dbi dbi;
	int lock_fd;
	int wake_fd; /* writer -> loop */
	struct event *wake_ev, *kick_ev, *retry_ev;
	struct registry *reg;
	struct batch *pending;	/* gathering writes */
	struct batch *inflight; /* handed to the writer, not yet finished */
	pthread_t thread;
	pthread_mutex_t mu; /* guards the three fields below */
	pthread_cond_t cv;
	struct batch *to_write; /* the writer takes it from here */
	struct batch *written;	/* and puts it here when committed */
	int stopping;
	struct storage_stats stats;
};

static struct batch *
batch_new(void)
{
	return xcalloc(1, sizeof(struct batch));
}

static void
batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->nops; i++) {
		free(b->ops[i].key);
		free(b->ops[i].val);
	}
	free(b->ops);
	free(b->waiters);
	free(b);
}

static int
batch_empty(const struct batch *b)
{
	return b->nops == 0;
}

static void
batch_add_op(struct batch *b, enum op_kind kind, char *key, char *val)
{
	if (b->nops == b->ops_cap) {
		b->ops_cap = b->ops_cap ? b->ops_cap * 2 : 16;
		b->ops = xrealloc(b->ops, b->ops_cap * sizeof(*b->ops));
	}
	b->ops[b->nops].kind = kind;
	b->ops[b->nops].key = key;
	b->ops[b->nops].val = val;
	b->nops++;
}

static void
batch_add_waiter(struct batch *b, storage_done_fn fn, void *arg)
{
	if (b->nwaiters == b->waiters_cap) {
		b->waiters_cap = b->waiters_cap ? b->waiters_cap * 2 : 16;
		b->waiters = xrealloc(b->waiters,
				      b->waiters_cap * sizeof(*b->waiters));
	}
	b->waiters[b->nwaiters].fn = fn;
	b->waiters[b->nwaiters].arg = arg;
	b->nwaiters++;
}

/* ---- the writer thread ---- */

static int
apply_op(MDB_txn *txn, MDB_dbi dbi, const struct op *op)
{
	MDB_val k = { strlen(op->key), op->key }, v;
	MDB_cursor *cur;
	int rc;

	if (op->kind == OP_PUT) {
		v.mv_size = strlen(op->val);
		v.mv_data = op->val;
		return mdb_put(txn, dbi, &k, &v, 0);
	}
	if (op->kind == OP_DEL) {
		rc = mdb_del(txn, dbi, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= strlen(op->key) &&
	       memcmp(k.mv_data, op->key, strlen(op->key)) == 0) {
		rc = mdb_cursor_del(cur, 0);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
		if (rc == 0)
			continue;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static void
commit_batch(struct storage *st, struct batch *b)
{
	char index[24];
	MDB_val k = { 1, "i" }, v = { 0, index };
	struct timespec t0, t1;
	MDB_txn *txn;
	size_t i;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	for (i = 0; rc == 0 && i < b->nops; i++)
		rc = apply_op(txn, st->dbi, &b->ops[i]);
	if (rc == 0) {
		v.mv_size = (size_t)snprintf(index, sizeof(index), "%llu",
					     (unsigned long long)b->index);
		rc = mdb_put(txn, st->dbi, &k, &v, 0);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn); /* fsyncs: durable on return */
	else if (txn != NULL)
		mdb_txn_abort(txn);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	b->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	b->ok = rc == 0;
	if (rc != 0)
		snprintf(b->error, sizeof(b->error), "%s", mdb_strerror(rc));
}

static void *
writer_main(void *arg)
{
	struct storage *st = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		struct batch *b;

		while (!st->stopping && st->to_write == NULL)
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->to_write == NULL)
			break;
		b = st->to_write;
		st->to_write = NULL;
		pthread_mutex_unlock(&st->mu);
		commit_batch(st, b);
		pthread_mutex_lock(&st->mu);
		st->written = b;
		if (write(st->wake_fd, &one, sizeof(one)) < 0)
			log_error("storage: eventfd write: %s", strerror(errno));
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* ---- the event loop side ---- */

static void
submit(struct storage *st)
{
	if (st->inflight != NULL || batch_empty(st->pending))
		return;
	st->inflight = st->pending;
	st->inflight->index = st->reg != NULL ? st->reg->index : 0;
	st->pending = batch_new();
	pthread_mutex_lock(&st->mu);
	st->to_write = st->inflight;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	submit(arg);
}

/* A failed batch's writes go again with the next one: what the registry
 * holds must reach the disk, even though its waiters were told it failed. */
static void
requeue(struct storage *st, struct batch *b)
{
	struct batch *next = st->pending;
	size_t i;

	st->pending = batch_new();
	for (i = 0; i < b->nops; i++)
		batch_add_op(st->pending, b->ops[i].kind, b->ops[i].key,
			     b->ops[i].val);
	for (i = 0; i < next->nops; i++)
		batch_add_op(st->pending, next->ops[i].kind, next->ops[i].key,
			     next->ops[i].val);
	for (i = 0; i < next->nwaiters; i++)
		batch_add_waiter(st->pending, next->waiters[i].fn,
				 next->waiters[i].arg);
	b->nops = 0;
	next->nops = 0;
	batch_free(next);
}

static void
record_commit(struct storage *st, const struct batch *b)
{
	size_t i;

	st->stats.commits++;
	st->stats.ops += b->nops;
	st->stats.latency_sum += b->seconds;
	for (i = 0; i < STORAGE_LATENCY_BUCKETS; i++)
		if (b->seconds <= storage_latency_bounds[i])
			st->stats.latency_le[i]++;
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct storage *st = arg;
	struct batch *b;
	uint64_t n;
	size_t i;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&st->mu);
	b = st->written;
	st->written = NULL;
	pthread_mutex_unlock(&st->mu);
	if (b == NULL)
		return;
	st->inflight = NULL;
	record_commit(st, b);
	if (!b->ok) {
		struct timeval tv = timeval_from_ms(RETRY_MS);

		st->stats.failures++;
		log_error("storage: commit of %zu writes failed: %s; retrying",
			  b->nops, b->error);
		requeue(st, b);
		evtimer_add(st->retry_ev, &tv);
	}
	for (i = 0; i < b->nwaiters; i++)
		b->waiters[i].fn(b->ok, b->waiters[i].arg);
	batch_free(b);
	if (evtimer_pending(st->retry_ev, NULL) == 0)
		submit(st);
}

static void
queue_op(struct storage *st, enum op_kind kind, char *key, char *val)
{
	if (batch_empty(st->pending))
		event_active(st->kick_ev, 0, 0);
	batch_add_op(st->pending, kind, key, val);
}

void
storage_after_commit(struct storage *st, storage_done_fn fn, void *arg)
{
	if (!batch_empty(st->pending))
		batch_add_waiter(st->pending, fn, arg);
	else if (st->inflight != NULL)
		batch_add_waiter(st->inflight, fn, arg);
	else
		fn(1, arg);
}

void
storage_probe(struct storage *st, storage_done_fn fn, void *arg)
{
	char stamp[24];

	snprintf(stamp, sizeof(stamp), "%lld", (long long)now_unix());
	queue_op(st, OP_PUT, xstrdup("h"), xstrdup(stamp));
	batch_add_waiter(st->pending, fn, arg);
}

int
storage_busy(const struct storage *st)
{
	return st->inflight != NULL || !batch_empty(st->pending);
}

const struct storage_stats *
storage_stats(const struct storage *st)
{
	return &st->stats;
}

/* ---- records ---- */

static char *
key_printf(const char *fmt, const char *a, const char *b)
{
	size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0);
	char *k = xmalloc(n);

	snprintf(k, n, fmt, a, b);
	return k;
}

static const char *action_names[] = { "create", "set", "update", "delete" };

static char *
token_record(const struct token *tok)
{
	json_t *o = json_pack("{s:i, s:I, s:I}", "size", (int)tok->size,
			      "created", (json_int_t)tok->created_index,
			      "at", (json_int_t)tok->created_at);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static char *
alias_record(const char *token)
{
	json_t *o = json_pack("{s:s}", "token", token);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static char *
member_record(const struct member *m)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:s}", "value", m->value,
			      "created", (json_int_t)m->created_index,
			      "modified", (json_int_t)m->modified_index,
			      "action", action_names[m->action]);
	char *s;

	if (m->clients != NULL)
		json_object_set_new(o, "clients", json_string(m->clients));
	s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static void
on_registry_event(const struct registry_event *ev, void *arg)
{
	struct storage *st = arg;
	const char *tok = ev->token->name;

	switch (ev->type) {
	case EV_TOKEN_CREATED:
	case EV_TOKEN_UPDATED:
		queue_op(st, OP_PUT, key_printf("t/%s", tok, NULL),
			 token_record(ev->token));
		break;
	case EV_ALIAS_SET:
		queue_op(st, OP_PUT, key_printf("a/%s", ev->alias, NULL),
			 alias_record(tok));
		break;
	case EV_ALIAS_DELETED:
		queue_op(st, OP_DEL, key_printf("a/%s", ev->alias, NULL), NULL);
		break;
	case EV_TOKEN_DELETED:
		queue_op(st, OP_DEL, key_printf("t/%s", tok, NULL), NULL);
		queue_op(st, OP_DEL_PREFIX, key_printf("m/%s/", tok, NULL),
			 NULL);
		break;
	case EV_MEMBER_SET:
		queue_op(st, OP_PUT, key_printf("m/%s/%s", tok, ev->member->id),
			 member_record(ev->member));
		break;
	case EV_MEMBER_DELETED:
		queue_op(st, OP_DEL, key_printf("m/%s/%s", tok, ev->member->id),
			 NULL);
		break;
	}
}

int
storage_attach(struct storage *st, struct registry *reg)
{
	st->reg = reg;
	return registry_subscribe(reg, on_registry_event, st);
}

static int
parse_action(const char *s)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, action_names[i]) == 0)
			return i;
	return -1;
}

static int
load_token(struct registry *reg, const char *name, json_t *o, char *err)
{
	json_int_t size, created, at;

	if (json_unpack(o, "{s:I, s:I, s:I}", "size", &size, "created",
			&created, "at", &at) != 0 || size < 1 || size > 1000000 ||
	    created < 0 || !registry_valid_name(name))
		return fail(err, "bad token record for '%s'", name);
	registry_restore_token(reg, name, (unsigned)size, (uint64_t)created,
			       at);
	return 0;
}

static int
load_member(struct registry *reg, const char *path, json_t *o, char *err)
{
	char name[REGISTRY_NAME_MAX + 1];
	const char *slash = strchr(path, '/'), *value, *action, *clients = NULL;
	struct member m;
	struct token *tok;
	json_int_t created, modified;
	int act;

	if (slash == NULL || (size_t)(slash - path) > REGISTRY_NAME_MAX ||
	    strlen(slash + 1) > REGISTRY_NAME_MAX)
		return fail(err, "bad member key 'm/%s'", path);
	memcpy(name, path, (size_t)(slash - path));
	name[slash - path] = '\0';
	tok = registry_find_token(reg, name);
	if (json_unpack(o, "{s:s, s:I, s:I, s:s, s?s}", "value", &value,
			"created", &created, "modified", &modified, "action",
			&action, "clients", &clients) != 0 ||
	    (act = parse_action(action)) < 0 ||
	    created < 0 || modified < created)
		return fail(err, "bad member record 'm/%s'", path);
	if (tok == NULL)
		return fail(err, "member 'm/%s' has no token", path);
	memset(&m, 0, sizeof(m));
	strcpy(m.id, slash + 1);
	m.value = (char *)value;
	m.clients = (char *)clients;
	m.created_index = (uint64_t)created;
	m.modified_index = (uint64_t)modified;
	m.action = (enum member_action)act;
	if (registry_restore_member(reg, tok, &m) != 0)
		return fail(err, "bad member 'm/%s'", path);
	return 0;
}

static int
load_alias(struct registry *reg, const char *name, json_t *o, char *err)
{
	const char *token;

	if (json_unpack(o, "{s:s}", "token", &token) != 0 ||
	    registry_restore_alias(reg, name, token) != 0)
		return fail(err, "bad alias record 'a/%s'", name);
	return 0;
}

static int
load_record(struct registry *reg, const MDB_val *k, const MDB_val *v,
	    char *err)
{
	char key[2 * REGISTRY_NAME_MAX + 8];
	json_error_t jerr;
	json_t *o;
	int rc = 0;

	if (k->mv_size >= sizeof(key))
		return fail(err, "unknown key of %zu bytes", k->mv_size);
	memcpy(key, k->mv_data, k->mv_size);
	key[k->mv_size] = '\0';
	if (strcmp(key, "i") == 0 || strcmp(key, "h") == 0) {
		uint64_t index;
		char num[24];

		if (strcmp(key, "h") == 0)
			return 0;
		if (v->mv_size >= sizeof(num))
			return fail(err, "bad index record");
		memcpy(num, v->mv_data, v->mv_size);
		num[v->mv_size] = '\0';
		if (parse_uint(num, 0, UINT64_MAX / 2, &index) != 0)
			return fail(err, "bad index record '%s'", num);
		registry_restore_index(reg, index);
		return 0;
	}
	o = json_loadb(v->mv_data, v->mv_size, 0, &jerr);
	if (o == NULL)
		return fail(err, "record '%s': %s", key, jerr.text);
	if (strncmp(key, "t/", 2) == 0)
		rc = load_token(reg, key + 2, o, err);
	else if (strncmp(key, "a/", 2) == 0)
		rc = load_alias(reg, key + 2, o, err);
	else if (strncmp(key, "m/", 2) == 0)
		rc = load_member(reg, key + 2, o, err);
	else
		rc = fail(err, "unknown record '%s'", key);
	json_decref(o);
	return rc;
}

int
storage_load(struct storage *st, struct registry *reg, char *err)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return fail(err, "storage: %s", mdb_strerror(rc));
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return fail(err, "storage: %s", mdb_strerror(rc));
	}
	/* "a/" < "i" < "m/" < "t/" in key order: tokens come after their
	 * members, so read tokens first. */
	k.mv_size = 2;
	k.mv_data = "t/";
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (load_record(reg, &k, &v, err) != 0)
			goto corrupt;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size >= 2 && memcmp(k.mv_data, "t/", 2) == 0)
			break;
		if (load_record(reg, &k, &v, err) != 0)
			goto corrupt;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return 0;
corrupt:
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return -1;
}

/* ---- open and close ---- */

/* mkdir -p: a fresh --data-dir may be several levels deep. */
static int
make_dirs(const char *dir)
{
	char path[4096];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0750) != 0 && errno != EEXIST)
			return -1;
		path[i] = dir[i];
	}
	return 0;
}

static int
lock_dir(struct storage *st, const char *dir, char *err)
{
	char path[4096];

	if (make_dirs(dir) != 0)
		return fail(err, "cannot create data dir %s: %s", dir,
			    strerror(errno));
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (st->lock_fd < 0)
		return fail(err, "cannot open %s: %s", path, strerror(errno));
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return fail(err,
			    "data dir %s is in use by another srvgate "
			    "(lock %s is held)",
			    dir, path);
	return 0;
}

static int
open_env(struct storage *st, const char *dir, char *err)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_env_create(&st->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(st->env, MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0640);
	if (rc == 0)
		rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, NULL, 0, &st->dbi);
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (rc != 0)
		return fail(err, "cannot open LMDB in %s: %s", dir,
			    mdb_strerror(rc));
	return 0;
}

int
storage_open(struct storage **out, const char *dir, struct event_base *base,
	     char *err)
{
	struct storage *st = xcalloc(1, sizeof(*st));

	st->lock_fd = st->wake_fd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->pending = batch_new();
	if (lock_dir(st, dir, err) != 0 || open_env(st, dir, err) != 0)
		goto fail;
	st->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->wake_fd < 0) {
		fail(err, "eventfd: %s", strerror(errno));
		goto fail;
	}
	st->wake_ev = event_new(base, st->wake_fd, EV_READ | EV_PERSIST,
				wake_cb, st);
	st->kick_ev = event_new(base, -1, 0, kick_cb, st);
	st->retry_ev = evtimer_new(base, kick_cb, st);
	event_add(st->wake_ev, NULL);
	if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
		fail(err, "cannot start the storage writer thread");
		goto fail;
	}
	*out = st;
	return 0;
fail:
	st->thread = 0;
	storage_close(st);
	return -1;
}

/* Runs the outstanding commits to the end, without the event loop. */
static void
drain(struct storage *st)
{
	int rounds;

	for (rounds = 0; rounds < 100; rounds++) {
		struct pollfd p = { st->wake_fd, POLLIN, 0 };

		submit(st);
		if (st->inflight == NULL)
			return;
		if (poll(&p, 1, 10000) <= 0)
			return;
		wake_cb(st->wake_fd, EV_READ, st);
	}
}

void
storage_close(struct storage *st)
{
	if (st == NULL)
		return;
	if (st->thread) {
		drain(st);
		pthread_mutex_lock(&st->mu);
		st->stopping = 1;
		pthread_cond_signal(&st->cv);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->thread, NULL);
	}
	if (st->wake_ev)
		event_free(st->wake_ev);
	if (st->kick_ev)
		event_free(st->kick_ev);
	if (st->retry_ev)
		event_free(st->retry_ev);
	if (st->wake_fd >= 0)
		close(st->wake_fd);
	if (st->env)
		mdb_env_close(st->env);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	batch_free(st->pending);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st);
}
