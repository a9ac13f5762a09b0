/* lmdb_backup.c -- a consistent copy of an LMDB store's data dir, taken
 * while the server writes (for `srvgate backup`).
 *
 * Acknowledged changes live in data.mdb up to its last checkpoint and in
 * the log (data.wal) after it, so the copy is both: the log's records
 * after the index data.mdb holds are read into memory, data.mdb's
 * snapshot is streamed compacted into FILE.tmp, and the records beyond
 * that snapshot's index are written into the copy. The log is read only
 * while data.mdb's index stays the same (a checkpoint starts the log
 * over); the snapshot, taken after, is as new or newer, and the records
 * read reach from the old index to past every change acknowledged before
 * the backup began, so together nothing is missing.
 */
#include "lmdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_TRIES 20

/* The log's records beyond data.mdb's index, read while that index held
 * still. */
static int
read_log(struct lmdb_env *live, struct proposal **out, char *err)
{
	char path[1100];
	uint64_t before, after;
	int i, rc;

	snprintf(path, sizeof(path), "%s/%s", live->dir, LMDB_WAL_FILE);
	for (i = 0; i < LOG_TRIES; i++) {
		struct proposal *p = proposal_new();

		if ((rc = lmdb_stored_index(live, &before)) != 0 ||
		    lmdb_wal_read(path, before, p, err) != 0 ||
		    (rc = lmdb_stored_index(live, &after)) != 0) {
			proposal_free(p);
			return rc ? fail(err, "%s/data.mdb: %s", live->dir,
					 mdb_strerror(rc)) : -1;
		}
		if (before == after) {
			*out = p;
			return 0;
		}
		proposal_free(p);
	}
	return fail(err, "%s: the server checkpointed during each of %d reads "
		    "of its log; try again", path, LOG_TRIES);
}

/* The records of log beyond the copy's own index into the copy at path. */
static int
complete_copy(const char *path, const struct proposal *log, char *err)
{
	struct lmdb_env copy;
	struct stat sb;
	MDB_txn *txn;
	uint64_t index = 0;
	int rc;

	memset(&copy, 0, sizeof(copy));
	copy.lock_fd = -1;
	if (snprintf(copy.dir, sizeof(copy.dir), "%s", path) >=
	    (int)sizeof(copy.dir))
		return fail(err, "%s: path too long", path);
	if (stat(path, &sb) != 0)
		return fail(err, "%s: %s", path, strerror(errno));
	rc = mdb_env_create(&copy.env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(copy.env, (size_t)sb.st_size * 2 +
					 (64u << 20) + log->n * 8192);
	if (rc == 0)
		rc = mdb_env_open(copy.env, path, MDB_NOSUBDIR | MDB_NOLOCK,
				  0640);
	if (rc == 0)
		rc = mdb_txn_begin(copy.env, NULL, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, NULL, 0, &copy.dbi);
		if (rc == 0)
			rc = lmdb_read_index(&copy, txn, &index);
		mdb_txn_abort(txn);
	}
	copy.has_version = 1;
	if (rc == 0)
		rc = lmdb_apply_changes(&copy, log, &index);
	if (copy.env)
		mdb_env_close(copy.env);
	return rc ? fail(err, "%s: %s", path, mdb_strerror(rc)) : 0;
}

int
store_lmdb_backup(const char *dir, const char *path, char *err)
{
	char tmp[4096], data[4096];
	struct proposal *log = NULL;
	struct lmdb_env live;
	struct stat sb;
	int rc, fd;

	memset(&live, 0, sizeof(live));
	if (snprintf(live.dir, sizeof(live.dir), "%s", dir) >=
	    (int)sizeof(live.dir))
		return fail(err, "%s: path too long", dir);
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	if (stat(data, &sb) != 0)
		return fail(err, "%s: %s", data, strerror(errno));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return fail(err, "%s: path too long", path);
	rc = mdb_env_create(&live.env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(live.env, (size_t)sb.st_size);
	if (rc == 0)
		rc = mdb_env_open(live.env, dir, MDB_RDONLY | MDB_NOTLS, 0);
	if (rc == 0) {
		MDB_txn *txn;

		rc = mdb_txn_begin(live.env, NULL, MDB_RDONLY, &txn);
		if (rc == 0) {
			rc = mdb_dbi_open(txn, NULL, 0, &live.dbi);
			mdb_txn_abort(txn);
		}
	}
	if (rc != 0) {
		mdb_env_close(live.env);
		return fail(err, "%s: %s", data, mdb_strerror(rc));
	}
	if (read_log(&live, &log, err) != 0) {
		mdb_env_close(live.env);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = errno;
	} else {
		rc = mdb_env_copyfd2(live.env, fd, MDB_CP_COMPACT);
		close(fd);
	}
	mdb_env_close(live.env);
	if (rc != 0) {
		proposal_free(log);
		unlink(tmp);
		return fail(err, "copying %s to %s: %s", data, tmp,
			    mdb_strerror(rc));
	}
	rc = complete_copy(tmp, log, err);
	proposal_free(log);
	if (rc == 0 && (rc = lmdb_sync_path(tmp)) == 0 && rename(tmp, path) != 0)
		rc = errno;
	if (rc == 0) {
		/* The new name is durable, too, before the backup is done. */
		char parent[4096], *slash;

		snprintf(parent, sizeof(parent), "%s", path);
		slash = strrchr(parent, '/');
		if (slash == NULL)
			snprintf(parent, sizeof(parent), ".");
		else
			slash[slash == parent] = '\0';
		rc = lmdb_sync_path(parent);
	}
	if (rc != 0) {
		unlink(tmp);
		return rc > 0 ? fail(err, "%s: %s", path, strerror(rc)) : -1;
	}
	return 0;
}
