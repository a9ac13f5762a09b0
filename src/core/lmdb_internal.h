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

#endif
