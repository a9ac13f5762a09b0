/* store_lmdb.c -- the embedded store: LMDB in one data dir, written by a
 * writer thread in group commits.
 *
 * Proposals that arrive while a commit is on its way to disk gather into
 * the next batch, so many registrations share one fsync. The writer gives
 * every change its index, commits the batch in one transaction and hands
 * it back to the loop through an eventfd; the loop then reports the
 * committed changes to the sink, and only then are they visible anywhere.
 *
 * When the map is full it grows, up to --max-db-size. At the ceiling the
 * batch is retried one proposal at a time so that what fits still commits;
 * proposals that only delete may use a reserve above the ceiling, so space
 * can always be freed. Records: lmdb_records.c.
 */
#include "store.h"

#include <errno.h>
#include <event2/event.h>
#include <lmdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lmdb_internal.h"

#define MIN_MAP (64ull << 20)
enum { PROBE_NONE, PROBE_SMALL, PROBE_BIG };

struct batch {
	struct proposal *head, **tail;
	int probe;	   /* write the health record too */
	int probe_ok;	   /* set by the writer */
	char probe_why[ERRBUF_SIZE];
	uint64_t index;	   /* the store index after it */
	uint64_t map_bytes, used_bytes; /* the file after it */
	double seconds;	   /* commit time, set by the writer */
	size_t nchanges;
	int failed;	   /* some proposal failed */
	int any_ok;	   /* some proposal committed */
	int full;	   /* writes are refused for want of space */
};

struct lmdb_store {
	struct store base; /* first: the store functions get this */
	struct lmdb_env db;
	uint64_t max_bytes, reserve_bytes;
	uint64_t index; /* last committed; the writer's while a batch is out */
	/* The last write (other than a deletion) was refused for want of
	 * space; the writer's, copied into each batch for the loop. */
	int space_refused;
	int wake_fd;	/* writer -> loop */
	struct event *wake_ev, *kick_ev;
	struct batch *pending;	/* gathering proposals */
	struct batch *inflight; /* handed to the writer, not yet back */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu; /* guards the three fields below */
	pthread_cond_t cv;
	struct batch *to_write;
	struct batch *written;
	int stopping;
	struct store_stats stats;
};

static struct batch *
batch_new(void)
{
	struct batch *b = xcalloc(1, sizeof(*b));

	b->tail = &b->head;
	return b;
}

static int
batch_empty(const struct batch *b)
{
	return b->head == NULL && !b->probe;
}

/* ---- the writer thread ---- */

static int
space_error(int rc)
{
	return rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT;
}

/* One transaction for the proposals from..to (to excluded). Indexes are
 * given out from st->index on, and kept only if the commit succeeds. */
static int
commit_range(struct lmdb_store *st, struct proposal *from,
	     struct proposal *to, int probe)
{
	uint64_t index = st->index;
	struct proposal *p;
	MDB_txn *txn = NULL; /* mdb_txn_begin sets it only on success */
	size_t i;
	int rc;

	rc = mdb_txn_begin(st->db.env, NULL, 0, &txn);
	for (p = from; rc == 0 && p != to; p = p->next)
		for (i = 0; rc == 0 && i < p->n; i++) {
			p->changes[i].index = ++index;
			rc = lmdb_write_change(&st->db, txn, &p->changes[i]);
		}
	if (rc == 0 && probe)
		rc = lmdb_write_probe(&st->db, txn, probe == PROBE_BIG);
	if (rc == 0)
		rc = lmdb_write_index(&st->db, txn, index);
	if (rc == 0)
		rc = mdb_txn_commit(txn); /* fsyncs: durable on return */
	else if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc == 0)
		st->index = index;
	return rc;
}

/* Doubles the map toward the ceiling; 0 when it grew. */
static int
grow_map(struct lmdb_store *st, uint64_t ceiling)
{
	uint64_t size = st->db.map_bytes * 2;

	if (st->db.map_bytes >= ceiling)
		return -1;
	if (size > ceiling)
		size = ceiling;
	if (mdb_env_set_mapsize(st->db.env, size) != 0)
		return -1;
	st->db.map_bytes = size;
	log_info("storage: map grown to %llu MiB",
		 (unsigned long long)(size >> 20));
	return 0;
}

/* Notes whether writes fit: a refused write sets it, a committed write
 * (not a deletion, which may use the reserve) clears it. */
static void
note_space(struct lmdb_store *st, const struct proposal *p, int rc)
{
	if (rc != 0 && space_error(rc))
		st->space_refused = 1;
	else if (rc == 0 && !proposal_only_deletes(p))
		st->space_refused = 0;
}

static void
settle(struct proposal *p, int rc)
{
	p->status = rc == 0 ? STORE_OK :
		    space_error(rc) ? STORE_FULL : STORE_FAILED;
	if (rc == MDB_MAP_FULL)
		snprintf(p->error, sizeof(p->error), "the data file reached "
			 "--max-db-size; delete tokens or raise the limit");
	else if (rc != 0)
		snprintf(p->error, sizeof(p->error), "%s", mdb_strerror(rc));
}

/* A deletion at the ceiling gets the reserve, then the ceiling returns.
 * LMDB reuses freed pages only two transactions later, so one more small
 * commit follows; without it the next write would find no room yet. */
static int
commit_deletion(struct lmdb_store *st, struct proposal *p)
{
	int rc;

	if (mdb_env_set_mapsize(st->db.env,
				st->max_bytes + st->reserve_bytes) != 0)
		return MDB_MAP_FULL;
	rc = commit_range(st, p, p->next, 0);
	if (rc == 0)
		commit_range(st, NULL, NULL, 0);
	mdb_env_set_mapsize(st->db.env, st->max_bytes);
	lmdb_env_refresh_size(&st->db);
	return rc;
}

/* The batch would not commit whole: each proposal on its own. */
static void
commit_one_by_one(struct lmdb_store *st, struct batch *b)
{
	struct proposal *p;
	int rc;

	for (p = b->head; p != NULL; p = p->next) {
		rc = commit_range(st, p, p->next, 0);
		if (rc == MDB_MAP_FULL && grow_map(st, st->max_bytes) == 0)
			rc = commit_range(st, p, p->next, 0);
		if (rc == MDB_MAP_FULL && proposal_only_deletes(p))
			rc = commit_deletion(st, p);
		settle(p, rc);
		note_space(st, p, rc);
		b->failed |= rc != 0;
		b->any_ok |= rc == 0;
	}
}

static void
commit_probe(struct lmdb_store *st, struct batch *b)
{
	/* A small probe fits in freed pages where a member may not: after a
	 * write was refused for space, the probe is as big as a member can
	 * be, and health returns only when that fits. */
	int big = st->space_refused;
	int rc = commit_range(st, NULL, NULL, big ? PROBE_BIG : PROBE_SMALL);

	if (rc == 0 && big)
		st->space_refused = 0;
	b->probe_ok = rc == 0;
	if (rc == MDB_MAP_FULL)
		snprintf(b->probe_why, sizeof(b->probe_why),
			 "storage is full (--max-db-size %llu MiB): writes "
			 "get 507; delete tokens or raise the limit",
			 (unsigned long long)(st->max_bytes >> 20));
	else if (rc != 0)
		snprintf(b->probe_why, sizeof(b->probe_why),
			 "storage is not writable: %s", mdb_strerror(rc));
}

static void
commit_batch(struct lmdb_store *st, struct batch *b)
{
	struct timespec t0, t1;
	struct proposal *p;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (b->head != NULL) {
		do
			rc = commit_range(st, b->head, NULL, 0);
		while (rc == MDB_MAP_FULL && grow_map(st, st->max_bytes) == 0);
		if (rc == 0) {
			for (p = b->head; p != NULL; p = p->next) {
				settle(p, 0);
				note_space(st, p, 0);
			}
			b->any_ok = 1;
		} else {
			commit_one_by_one(st, b);
		}
	}
	if (b->probe)
		commit_probe(st, b);
	b->index = st->index;
	b->full = st->space_refused;
	lmdb_env_refresh_size(&st->db);
	b->map_bytes = st->db.map_bytes;
	b->used_bytes = st->db.used_bytes;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	b->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void *
writer_main(void *arg)
{
	struct lmdb_store *st = arg;
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
hand_to_writer(struct lmdb_store *st)
{
	if (st->inflight != NULL || batch_empty(st->pending))
		return;
	st->inflight = st->pending;
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
	hand_to_writer(arg);
}

static void
record_commit(struct lmdb_store *st, const struct batch *b)
{
	struct store_stats *s = &st->stats;
	const struct proposal *p;
	size_t i;

	s->commits++;
	s->failures += (uint64_t)b->failed;
	s->map_bytes = b->map_bytes;
	s->used_bytes = b->used_bytes;
	for (p = b->head; p != NULL; p = p->next)
		if (p->status == STORE_OK)
			s->changes += p->n;
	s->latency_sum += b->seconds;
	for (i = 0; i < STORE_LATENCY_BUCKETS; i++)
		if (b->seconds <= store_latency_bounds[i])
			s->latency_le[i]++;
}

/* A batch came back: its committed changes go to the sink in order, then
 * every proposal is settled. */
static void
deliver(struct lmdb_store *st, struct batch *b)
{
	const struct store_sink *sink = &st->base.sink;
	struct proposal *p, *next;
	size_t i;

	record_commit(st, b);
	for (p = b->head; p != NULL; p = p->next)
		for (i = 0; p->status == STORE_OK && i < p->n; i++)
			sink->apply(sink->arg, &p->changes[i]);
	if (b->any_ok)
		sink->batch_end(sink->arg, b->index);
	for (p = b->head; p != NULL; p = next) {
		next = p->next;
		if (p->status != STORE_OK)
			log_warn("storage: write refused: %s", p->error);
		sink->settled(sink->arg, p);
	}
	st->stats.full = b->full;
	if (b->probe)
		store_probe_done(&st->base, b->probe_ok, b->probe_why);
	free(b);
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lmdb_store *st = arg;
	struct batch *b;
	uint64_t n;

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
	deliver(st, b);
	hand_to_writer(st);
}

static void
lmdb_submit(struct store *base, struct proposal *p)
{
	struct lmdb_store *st = (struct lmdb_store *)base;

	if (batch_empty(st->pending))
		event_active(st->kick_ev, 0, 0);
	p->next = NULL;
	*st->pending->tail = p;
	st->pending->tail = &p->next;
}

static void
lmdb_probe(struct store *base)
{
	struct lmdb_store *st = (struct lmdb_store *)base;

	if (batch_empty(st->pending))
		event_active(st->kick_ev, 0, 0);
	st->pending->probe = 1;
}

static int
lmdb_busy(const struct store *base)
{
	const struct lmdb_store *st = (const struct lmdb_store *)base;

	return st->inflight != NULL || !batch_empty(st->pending);
}

static void
lmdb_stats(const struct store *base, struct store_stats *out)
{
	const struct lmdb_store *st = (const struct lmdb_store *)base;

	*out = st->stats;
	out->max_bytes = st->max_bytes;
}

static int
lmdb_load(struct store *base, char *err)
{
	struct lmdb_store *st = (struct lmdb_store *)base;

	if (lmdb_load_all(&st->db, &st->base.sink, &st->index, err) != 0)
		return -1;
	st->base.sink.batch_end(st->base.sink.arg, st->index);
	return 0;
}

/* ---- open and close ---- */

/* Runs the outstanding commits to the end, without the event loop. */
static void
drain(struct lmdb_store *st)
{
	int rounds;

	for (rounds = 0; rounds < 100; rounds++) {
		struct pollfd p = { st->wake_fd, POLLIN, 0 };

		hand_to_writer(st);
		if (st->inflight == NULL)
			return;
		if (poll(&p, 1, 10000) <= 0)
			return;
		wake_cb(st->wake_fd, EV_READ, st);
	}
}

static void lmdb_close(struct store *base);

static const struct store_ops lmdb_ops = {
	"lmdb", lmdb_load, lmdb_submit, lmdb_probe, lmdb_busy, lmdb_stats,
	lmdb_close, NULL,
};

static int
start_writer(struct lmdb_store *st, struct event_base *base, char *err)
{
	st->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->wake_fd < 0)
		return fail(err, "eventfd: %s", strerror(errno));
	st->wake_ev = event_new(base, st->wake_fd, EV_READ | EV_PERSIST,
				wake_cb, st);
	st->kick_ev = event_new(base, -1, 0, kick_cb, st);
	event_add(st->wake_ev, NULL);
	if (pthread_create(&st->thread, NULL, writer_main, st) != 0)
		return fail(err, "cannot start the storage writer thread");
	st->thread_started = 1;
	return 0;
}

int
store_lmdb_open(struct store **out, const struct store_lmdb_config *cfg,
		struct event_base *base, const struct store_sink *sink,
		char *err)
{
	struct lmdb_store *st = xcalloc(1, sizeof(*st));

	st->base.ops = &lmdb_ops;
	st->base.sink = *sink;
	st->wake_fd = -1;
	st->max_bytes = cfg->max_bytes;
	/* Room that only deletions may use: 1/64 of the limit, 1-64 MiB. */
	st->reserve_bytes = cfg->max_bytes / 64;
	if (st->reserve_bytes < (1u << 20))
		st->reserve_bytes = 1u << 20;
	if (st->reserve_bytes > (64u << 20))
		st->reserve_bytes = 64u << 20;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->pending = batch_new();
	if (lmdb_env_open(&st->db, cfg->dir,
			  cfg->min_bytes ? cfg->min_bytes : MIN_MAP,
			  cfg->max_bytes, err) ||
	    start_writer(st, base, err) != 0) {
		lmdb_close(&st->base);
		return -1;
	}
	st->stats.map_bytes = st->db.map_bytes;
	st->stats.used_bytes = st->db.used_bytes;
	if (st->db.used_bytes > st->max_bytes) {
		log_warn("storage: %s/data.mdb holds %llu MiB, more than "
			 "--max-db-size: writes get 507 until tokens are "
			 "deleted", cfg->dir,
			 (unsigned long long)(st->db.used_bytes >> 20));
	}
	*out = &st->base;
	return 0;
}

static void
lmdb_close(struct store *base)
{
	struct lmdb_store *st = (struct lmdb_store *)base;

	if (st->thread_started) {
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
	if (st->wake_fd >= 0)
		close(st->wake_fd);
	lmdb_env_close(&st->db);
	free(st->pending);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st);
}
