/* store_lmdb.c -- the embedded store: LMDB in one data dir, written by a
 * writer thread in group commits through a write-ahead log.
 *
 * Proposals that arrive while a commit is on its way to disk gather into
 * the next batch, so many registrations share one sync. The writer gives
 * every change its index and writes the batch into an LMDB transaction
 * nested in one that stays open in memory (a child that fails leaves its
 * parent whole, so a refused proposal changes nothing), appends the
 * batch's changes to the log (lmdb_wal.c) and syncs it once: then the
 * batch is durable, and it goes back to the loop through an eventfd; the
 * loop reports the committed changes to the sink, and only then are they
 * visible anywhere. At a checkpoint (every CHECKPOINT_MS, when the log
 * passes CHECKPOINT_LOG_BYTES, when idle, at close) the open transaction
 * commits the usual LMDB way, synced, and the log starts over. data.mdb
 * itself is only ever changed by such synced commits, so a power loss
 * finds it as of a checkpoint and the log replays the rest (lmdb_load).
 *
 * When a batch does not fit, or data.mdb is near --max-db-size, or a
 * write was refused for space (logged_fits), the writer checkpoints and
 * goes the direct way, each commit synced into data.mdb: the map grows,
 * up to --max-db-size; at the ceiling the batch is retried one proposal
 * at a time so that what fits still commits; proposals that only delete
 * may use a reserve above the ceiling, so space can always be freed.
 * Records: lmdb_records.c.
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
#include <sys/timerfd.h>
#include <unistd.h>

#include "lmdb_internal.h"
#include "prefault.h"

#define MIN_MAP (64ull << 20)
#define CHECKPOINT_MS 2000
#define CHECKPOINT_IDLE_MS 200
#define CHECKPOINT_LOG_BYTES (16u << 20)
#define LOGGED_HEADROOM 8 /* see logged_fits */
enum { PROBE_NONE, PROBE_SMALL, PROBE_BIG };

struct batch {
	struct proposal *head, **tail;
	size_t count;	   /* proposals */
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
	struct lmdb_wal wal;
	/* The writer's: the transaction batches go into until the next
	 * checkpoint (NULL: none open), and when it began. */
	MDB_txn *open;
	uint64_t open_ms;
	/* A checkpoint failed and the log could not be replayed either (the
	 * disk is full): writes are refused, and each batch tries the replay
	 * again first. The error, an LMDB or errno code. */
	int broken;
	uint64_t max_bytes, reserve_bytes;
	uint64_t index; /* last committed; the writer's while a batch is out */
	/* The last write (other than a deletion) was refused for want of
	 * space; the writer's, copied into each batch for the loop. */
	int space_refused;
	int wake_fd;	/* writer -> loop */
	struct event *wake_ev, *kick_ev, *gather_ev;
	struct batch *pending;	/* gathering proposals */
	struct batch *inflight; /* handed to the writer, not yet back */
	/* After a batch came back, the next one waits until pending holds
	 * gather_target proposals or gather_us pass (gather_more), timed by
	 * gather_fd, a timerfd: the loop's own timers count whole
	 * milliseconds (epoll_wait), and a commit may take a fraction of
	 * one. */
	size_t gather_target;
	long gather_us;
	long gather_max_us; /* --commit-gather-us */
	int gather_fd;
	int gather_armed;
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

/* The changes of from..to (to excluded) and the probe into txn, each
 * change given the index after *index (which ends at the last one's). */
static int
write_range(struct lmdb_store *st, MDB_txn *txn, struct proposal *from,
	    struct proposal *to, int probe, uint64_t *index)
{
	struct proposal *p;
	size_t i;
	int rc = 0;

	for (p = from; rc == 0 && p != to; p = p->next)
		for (i = 0; rc == 0 && i < p->n; i++) {
			p->changes[i].index = ++*index;
			rc = lmdb_write_change(&st->db, txn, &p->changes[i]);
		}
	if (rc == 0 && probe)
		rc = lmdb_write_probe(&st->db, txn, probe == PROBE_BIG);
	return rc;
}

/* One transaction for the proposals from..to (to excluded). Indexes are
 * given out from st->index on, and kept only if the commit succeeds. */
static int
commit_range(struct lmdb_store *st, struct proposal *from,
	     struct proposal *to, int probe)
{
	uint64_t index = st->index;
	MDB_txn *txn = NULL; /* mdb_txn_begin sets it only on success */
	int rc;

	rc = mdb_txn_begin(st->db.env, NULL, 0, &txn);
	if (rc == 0)
		rc = write_range(st, txn, from, to, probe, &index);
	if (rc == 0)
		rc = lmdb_write_index(&st->db, txn, index);
	if (rc == 0)
		rc = lmdb_commit(&st->db, txn); /* fsyncs: durable on return */
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

/* ---- the log and checkpoints ---- */

/* p into data.mdb directly, in one synced commit, with the map as large as
 * the reserve allows: what the log holds was acknowledged, so it must go
 * in whatever the ceiling. */
static int
apply_with_reserve(struct lmdb_store *st, const struct proposal *p,
		   uint64_t *index)
{
	uint64_t map = st->db.map_bytes, room = st->max_bytes + st->reserve_bytes;
	int rc;

	if (room > map)
		mdb_env_set_mapsize(st->db.env, room);
	rc = lmdb_apply_changes(&st->db, p, index);
	if (room > map)
		mdb_env_set_mapsize(st->db.env, map);
	lmdb_env_refresh_size(&st->db);
	return rc;
}

/* A checkpoint's commit failed: the changes since the last one are in the
 * log only, and go into data.mdb from there. */
static int
replay_log(struct lmdb_store *st)
{
	struct proposal *p = proposal_new();
	uint64_t index = 0;
	errbuf_t err;
	int rc = lmdb_stored_index(&st->db, &index);

	if (rc == 0 && lmdb_wal_read(st->wal.path, index, p, err) != 0) {
		log_error("storage: %s", err);
		rc = MDB_CORRUPTED;
	}
	if (rc == 0)
		rc = apply_with_reserve(st, p, &index);
	if (rc == 0 && index != st->index)
		rc = MDB_CORRUPTED; /* the log does not reach the last commit */
	proposal_free(p);
	return rc;
}

/* rc 0: data.mdb holds all the log does, so the log starts over (and
 * writes resume if they were refused). Otherwise writes are refused until
 * a replay goes in. Returns rc. */
static int
log_in_data(struct lmdb_store *st, int rc)
{
	if (rc != 0) {
		if (!st->broken)
			log_error("storage: the log %s cannot be replayed into "
				  "data.mdb (%s): writes are refused until it "
				  "can", st->wal.path, mdb_strerror(rc));
		st->broken = rc;
		return rc;
	}
	if (st->broken)
		log_info("storage: the log is in data.mdb again; writes "
			 "resume");
	st->broken = 0;
	lmdb_wal_rewind(&st->wal);
	return 0;
}

/* Commits the open transaction (a normal LMDB commit, synced): data.mdb
 * then holds everything, and the log starts over. */
static int
checkpoint(struct lmdb_store *st)
{
	int rc;

	if (st->open == NULL)
		return 0;
	rc = lmdb_commit(&st->db, st->open);
	st->open = NULL;
	if (rc == MDB_MAP_FULL) {
		/* The commit's own bookkeeping did not fit: the map grows. */
		log_info("storage: the map filled at a checkpoint; the log "
			 "goes into a larger one");
		rc = replay_log(st);
		if (rc == 0)
			grow_map(st, st->max_bytes);
	} else if (rc != 0) {
		log_error("storage: checkpoint of %s/data.mdb failed: %s; "
			  "replaying the log into it", st->db.dir,
			  mdb_strerror(rc));
		rc = replay_log(st);
	}
	return log_in_data(st, rc);
}

static int
checkpoint_due(const struct lmdb_store *st)
{
	return st->open != NULL &&
	       (st->wal.off >= CHECKPOINT_LOG_BYTES ||
		now_monotonic_ms() - st->open_ms >= CHECKPOINT_MS);
}

static void
settle_logged(struct lmdb_store *st, struct batch *b, int big_probe)
{
	struct proposal *p;

	for (p = b->head; p != NULL; p = p->next) {
		settle(p, 0);
		note_space(st, p, 0);
	}
	b->any_ok = b->head != NULL;
	b->probe_ok = 1;
	if (b->probe && big_probe)
		st->space_refused = 0;
}

/* The whole batch into a child of the open transaction and one log
 * record, synced; 0 when done. Otherwise nothing of it stayed: the child
 * is aborted, the record unwritten. */
static int
commit_logged(struct lmdb_store *st, struct batch *b)
{
	uint64_t index = st->index;
	int had_version = st->db.has_version, big = st->space_refused;
	MDB_txn *txn = NULL;
	int rc;

	if (st->open == NULL) {
		rc = mdb_txn_begin(st->db.env, NULL, 0, &st->open);
		if (rc != 0) {
			st->open = NULL;
			return rc;
		}
		st->open_ms = now_monotonic_ms();
	}
	rc = mdb_txn_begin(st->db.env, st->open, 0, &txn);
	if (rc == 0)
		rc = write_range(st, txn, b->head, NULL, !b->probe ? PROBE_NONE :
				 big ? PROBE_BIG : PROBE_SMALL, &index);
	if (rc == 0 && b->head != NULL)
		rc = lmdb_write_index(&st->db, txn, index);
	/* The acknowledgement rests on this sync. */
	if (rc == 0)
		rc = lmdb_wal_append(&st->wal, b->head, st->index + 1,
				     index - st->index);
	if (rc == 0) {
		rc = mdb_txn_commit(txn); /* into the parent, in memory */
		if (rc != 0)
			lmdb_wal_undo(&st->wal);
	} else if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	if (rc != 0) {
		st->db.has_version = had_version;
		return rc;
	}
	st->index = index;
	settle_logged(st, b, big);
	return 0;
}

/* The log cannot go into data.mdb: every write is refused, 507 when it
 * is for want of space. */
static void
refuse_batch(struct lmdb_store *st, struct batch *b)
{
	struct proposal *p;
	int rc = st->broken;

	if (space_error(rc))
		st->space_refused = 1;
	for (p = b->head; p != NULL; p = p->next) {
		settle(p, rc);
		if (p->status == STORE_FAILED)
			p->status = STORE_UNAVAILABLE;
		b->failed = 1;
	}
	b->probe_ok = 0;
	snprintf(b->probe_why, sizeof(b->probe_why), "storage is %s: the "
		 "log cannot be checkpointed into data.mdb (%s)",
		 space_error(rc) ? "full" : "not writable", mdb_strerror(rc));
}

/* Without the log: each commit synced into data.mdb, the map grown, the
 * batch split, the reserve used, as space requires. */
static void
commit_direct(struct lmdb_store *st, struct batch *b)
{
	struct proposal *p;
	int rc;

	if (b->head != NULL) {		do
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
}

/* The logged way acknowledges a batch before data.mdb has it, and its
 * checkpoint then needs room for the batch and for its own bookkeeping:
 * a checkpoint that does not fit under --max-db-size could only go in
 * through the deletions' reserve. So near the ceiling (less than
 * 1/LOGGED_HEADROOM of it left) and after a write was refused for space,
 * batches go the direct way, where each commit is checked against the
 * ceiling before anything is acknowledged (the open transaction's pages
 * are counted as twice its log, a guess: LMDB does not tell them). A
 * retry of a refused write then gets 507 again until a deletion frees
 * room, and health returns only once data.mdb itself takes a commit of a
 * member's size. */
static int
logged_fits(const struct lmdb_store *st)
{
	uint64_t pending = st->open != NULL ? 2 * st->wal.off : 0;

	return !st->space_refused &&
	       st->db.used_bytes + pending + st->max_bytes / LOGGED_HEADROOM <=
		       st->max_bytes;
}

static void
commit_batch(struct lmdb_store *st, struct batch *b)
{
	struct timespec t0, t1;
	int direct = !logged_fits(st);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* After a failed checkpoint: the replay once more first. */
	if (st->broken && log_in_data(st, replay_log(st)) != 0)
		refuse_batch(st, b);
	else if ((direct || commit_logged(st, b) != 0) && checkpoint(st) == 0)
		commit_direct(st, b);
	else if (st->broken)
		refuse_batch(st, b);
	b->index = st->index;
	b->full = st->space_refused;
	lmdb_env_refresh_size(&st->db);
	b->map_bytes = st->db.map_bytes;
	b->used_bytes = st->db.used_bytes;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	b->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* Waits for work (st->mu held); 1 when a transaction is open and nothing
 * came for CHECKPOINT_IDLE_MS: time to checkpoint it. */
static int
wait_or_idle(struct lmdb_store *st)
{
	struct timespec until;

	if (st->open == NULL) {
		pthread_cond_wait(&st->cv, &st->mu);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += CHECKPOINT_IDLE_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	return pthread_cond_timedwait(&st->cv, &st->mu, &until) == ETIMEDOUT &&
	       st->to_write == NULL;
}

/* A checkpoint with st->mu released, so the loop can hand over the next
 * batch meanwhile. When writes have paused (idle), the map's pages that
 * the commits touched leave the resident set too, as after the load: a
 * burst of registrations into 100k tokens otherwise keeps 160 MB of
 * data.mdb resident that only the next writes' B-tree paths need; and
 * the heap gives back what the burst freed (heap_trim_idle). */
static void
idle_checkpoint(struct lmdb_store *st, int idle)
{
	pthread_mutex_unlock(&st->mu);
	if (checkpoint(st) == 0 && idle) {
		lmdb_env_drop_resident(&st->db);
		heap_trim_idle();
	}
	pthread_mutex_lock(&st->mu);
}

static void *
writer_main(void *arg)
{
	struct lmdb_store *st = arg;
	uint64_t one = 1;
	int rc;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		struct batch *b;

		while (!st->stopping && st->to_write == NULL)
			if (wait_or_idle(st))
				idle_checkpoint(st, 1);
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
		/* After the batch went back: its acks do not wait for this. */
		if (checkpoint_due(st))
			idle_checkpoint(st, 0);
	}
	pthread_mutex_unlock(&st->mu);
	/* Closing: data.mdb complete, the log spent. */
	if (checkpoint(st) == 0 && !st->broken &&
	    (rc = lmdb_wal_clear(&st->wal)) != 0)
		log_warn("storage: cannot clear %s: %s", st->wal.path,
			 strerror(rc));
	return NULL;
}

/* ---- the event loop side ---- */

/* Group commit gathers what arrives while the last commit is on its way
 * to disk; but the clients it just acknowledged send their next request a
 * moment after their answer, and a batch handed over at once goes without
 * them: they wait for its sync and then for their own, and a closed loop
 * of clients falls into two halves each waiting two syncs. So after a
 * batch comes back, the next waits for as many new proposals as that
 * batch had, for at most as long as its commit took (at worst a straggler
 * waits twice what a commit takes, as it did before) and
 * --commit-gather-us. With half the commit time, measured against the
 * whole, the wait often ended a few clients short: batches of 19-29 of 32
 * instead of 31, and no faster than not waiting. A lone client's next
 * request is the one awaited and goes at once. */
static void
gather_more(struct lmdb_store *st, const struct batch *done)
{
	long us = (long)(done->seconds * 1e6);

	if (us > st->gather_max_us)
		us = st->gather_max_us;
	st->gather_target = st->pending->count + done->count;
	st->gather_us = us;
}

static int
gathering(const struct lmdb_store *st)
{
	return st->pending->count < st->gather_target && st->gather_us > 0;
}

/* 0 when the wait is running (a timer that cannot be set: no wait). */
static int
gather_arm(struct lmdb_store *st)
{
	struct itimerspec t = { { 0, 0 }, { 0, st->gather_us * 1000 } };

	if (!st->gather_armed &&
	    timerfd_settime(st->gather_fd, 0, &t, NULL) == 0)
		st->gather_armed = 1;
	return st->gather_armed ? 0 : -1;
}

static void
gather_disarm(struct lmdb_store *st)
{
	struct itimerspec t = { { 0, 0 }, { 0, 0 } };

	if (st->gather_armed)
		(void)timerfd_settime(st->gather_fd, 0, &t, NULL);
	st->gather_armed = 0;
}

/* The pending batch to the writer when it is free, unless it is still
 * gathering (force: the wait is over). */
static void
hand_to_writer(struct lmdb_store *st, int force)
{
	if (st->inflight != NULL || batch_empty(st->pending))
		return;
	if (!force && gathering(st) && gather_arm(st) == 0)
		return;
	st->gather_target = 0;
	gather_disarm(st);
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
	hand_to_writer(arg, 0);
}

static void
gather_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lmdb_store *st = arg;
	uint64_t expirations;

	(void)what;
	if (read(fd, &expirations, sizeof(expirations)) < 0 ||
	    !st->gather_armed)
		return; /* disarmed after it had expired */
	st->gather_armed = 0;
	hand_to_writer(st, 1);
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
	/* Whether writes fit changed: a cached health answer is stale. */
	if (b->full != st->stats.full)
		st->base.probed_ms = 0;
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
	gather_more(st, b);
	deliver(st, b);
	hand_to_writer(st, 0);
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
	/* The last one awaited: no need to wait out the timer. */
	if (++st->pending->count == st->gather_target)
		event_active(st->kick_ev, 0, 0);
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

/* What the log holds beyond data.mdb (acknowledged, not yet
 * checkpointed when the server stopped) goes into data.mdb, then to the
 * sink like the rest of the data. */
static int
replay_at_start(struct lmdb_store *st, char *err)
{
	const struct store_sink *sink = &st->base.sink;
	struct proposal *p = proposal_new();
	uint64_t index = st->index;
	size_t i;
	int rc = 0;

	if (lmdb_wal_read(st->wal.path, st->index, p, err) != 0) {
		proposal_free(p);
		return -1;
	}
	if (p->n > 0)
		rc = apply_with_reserve(st, p, &index);
	if (rc != 0) {
		proposal_free(p);
		return fail(err, "%s: cannot replay %zu logged changes into "
			    "%s/data.mdb: %s", st->wal.path, p->n, st->db.dir,
			    mdb_strerror(rc));
	}
	for (i = 0; i < p->n; i++)
		sink->apply(sink->arg, &p->changes[i]);
	if (p->n > 0)
		log_info("storage: %zu changes replayed from %s (index %llu "
			 "to %llu)", p->n, st->wal.path,
			 (unsigned long long)st->index + 1,
			 (unsigned long long)index);
	st->index = index;
	proposal_free(p);
	return 0;
}

static int
lmdb_load(struct store *base, char *err)
{
	struct lmdb_store *st = (struct lmdb_store *)base;

	lmdb_env_populate(&st->db);
	if (lmdb_load_all(&st->db, &st->base.sink, &st->index, err) != 0 ||
	    replay_at_start(st, err) != 0)
		return -1;
	st->base.sink.batch_end(st->base.sink.arg, st->index);
	lmdb_env_drop_resident(&st->db);
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

		hand_to_writer(st, 1);
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
	st->gather_fd = timerfd_create(CLOCK_MONOTONIC,
				       TFD_NONBLOCK | TFD_CLOEXEC);
	if (st->gather_fd < 0)
		return fail(err, "timerfd_create: %s", strerror(errno));
	st->gather_ev = event_new(base, st->gather_fd, EV_READ | EV_PERSIST,
				  gather_cb, st);
	event_add(st->gather_ev, NULL);
	event_add(st->wake_ev, NULL);
	if (pthread_create(&st->thread, NULL, writer_main, st) != 0)
		return fail(err, "cannot start the storage writer thread");
	st->thread_started = 1;
	name_thread(st->thread, "srvgate-store", -1);
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
	st->gather_fd = -1;
	st->max_bytes = cfg->max_bytes;
	st->gather_max_us = cfg->gather_max_us;
	/* Room that only deletions may use: 1/64 of the limit, 1-64 MiB. */
	st->reserve_bytes = cfg->max_bytes / 64;
	if (st->reserve_bytes < (1u << 20))
		st->reserve_bytes = 1u << 20;
	if (st->reserve_bytes > (64u << 20))
		st->reserve_bytes = 64u << 20;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->pending = batch_new();
	st->wal.fd = -1;
	if (lmdb_env_open(&st->db, cfg->dir,
			  cfg->min_bytes ? cfg->min_bytes : MIN_MAP,
			  cfg->max_bytes, err) ||
	    lmdb_wal_open(&st->wal, cfg->dir, err) != 0 ||
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
	if (st->gather_ev)
		event_free(st->gather_ev);
	if (st->gather_fd >= 0)
		close(st->gather_fd);
	if (st->wake_fd >= 0)
		close(st->wake_fd);
	lmdb_wal_close(&st->wal);
	lmdb_env_close(&st->db);
	free(st->pending);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st);
}
