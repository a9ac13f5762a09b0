/* lmdb_internal.h -- the LMDB environment and its records, shared by the
 * store (store_lmdb.c) and the record code (lmdb_records.c). */
#ifndef SRVGATE_LMDB_INTERNAL_H
#define SRVGATE_LMDB_INTERNAL_H

#include <lmdb.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

/* The "v" record: the layout of the records. */
#define LMDB_FORMAT "srvgate-lmdb-1"

struct lmdb_env {
	MDB_env *env;
	MDB_dbi dbi;
	int lock_fd;
	char dir[1024];
	uint64_t map_bytes;  /* the map's size now */
	uint64_t used_bytes; /* pages in use, as of the last look */
	int has_version;     /* the format record is there */
};

/* Locks dir (one server per data dir) and opens LMDB with a map of at
 * least min_map, at most max_map bytes (more if the file is larger).
 * Writes nothing to data.mdb. */
int lmdb_env_open(struct lmdb_env *db, const char *dir, uint64_t min_map,
		  uint64_t max_map, char *err);
void lmdb_env_close(struct lmdb_env *db);
/* Refreshes map_bytes and used_bytes. */
void lmdb_env_refresh_size(struct lmdb_env *db);
/* mdb_txn_commit, with a write cut short by a full disk as ENOSPC. */
int lmdb_commit(struct lmdb_env *db, MDB_txn *txn);
/* Maps the file's pages in at once, before the load. */
void lmdb_env_populate(struct lmdb_env *db);
/* Drops the map from the resident set (the page cache keeps it). */
void lmdb_env_drop_resident(struct lmdb_env *db);

/* Checks every record and reports it to the sink as a committed change;
 * sets *index to the stored index. A damaged or foreign file is an error
 * that names the file and the problem, never an empty registry. */
int lmdb_load_all(struct lmdb_env *db, const struct store_sink *sink,
		  uint64_t *index, char *err);

int lmdb_write_change(struct lmdb_env *db, MDB_txn *txn,
		      const struct change *c);
int lmdb_write_index(struct lmdb_env *db, MDB_txn *txn, uint64_t index);
/* The health probe's record: a time stamp; padded to PROBE_BIG_BYTES
 * when space must be proven (after a write was refused for want of it):
 * a run of free pages that large means writes fit again. */
#define PROBE_BIG_BYTES (64 * 1024)
int lmdb_write_probe(struct lmdb_env *db, MDB_txn *txn, int big);
/* The stored index ("i"; 0 when there is none yet). */
int lmdb_read_index(struct lmdb_env *db, MDB_txn *txn, uint64_t *index);
/* The same, in a read-only transaction of its own. */
int lmdb_stored_index(struct lmdb_env *db, uint64_t *index);
/* Writes the changes of p above *index in one synced commit; *index
 * becomes the last one's. */
int lmdb_apply_changes(struct lmdb_env *db, const struct proposal *p,
		       uint64_t *index);

/* The write-ahead log (lmdb_wal.c): group commits are durable once their
 * record is synced here; data.mdb catches up at checkpoints. */
#define LMDB_WAL_FILE "data.wal"
struct lmdb_wal {
	int fd;
	uint64_t off;	 /* where the next record goes */
	uint64_t zeroed; /* the file's bytes written so far (zeros ahead) */
	unsigned char *buf; /* a record being encoded */
	size_t len, cap;
	char path[1100];
};
/* fsync of a file or directory by its path; 0 or an errno. */
int lmdb_sync_path(const char *path);
int lmdb_wal_open(struct lmdb_wal *w, const char *dir, char *err);
void lmdb_wal_close(struct lmdb_wal *w);
/* One record with the changes of every proposal from head on (indexes
 * first .. first + count - 1), synced; 0 or an errno. */
int lmdb_wal_append(struct lmdb_wal *w, const struct proposal *head,
		    uint64_t first, uint64_t count);
/* Takes the last record back (it must not replay). */
void lmdb_wal_undo(struct lmdb_wal *w);
/* After a checkpoint: the next record goes at the start again. */
void lmdb_wal_rewind(struct lmdb_wal *w);
/* After the last checkpoint, at close: no record of the log reads any
 * more, so a data.mdb restored from an older backup gets none replayed. */
int lmdb_wal_clear(struct lmdb_wal *w);
/* Appends to out copies of the logged changes that continue from index
 * `after`, in order (none when the log is absent or holds nothing newer).
 * A record with a good checksum that does not decode is an error. */
int lmdb_wal_read(const char *path, uint64_t after, struct proposal *out,
		  char *err);

#endif
