/* lmdb_records.c -- the LMDB store's data dir and records.
 *
 * Keys: "v" the format, "i" the store index, "h" the health probe's time,
 * "t/<token>" a token's size, creation and the etcd cluster `sync` follows
 * ("cluster", only once it has one), "m/<token>/<id>" one member,
 * "a/<alias>" an alias. Values are small JSON objects so that
 * `mdb_dump -p data/` shows an operator what is stored.
 *
 * Loading trusts nothing: every record is checked, a cursor error is an
 * error (never the end of the data), and a SIGBUS from a truncated or
 * damaged map is caught and reported like any other damage.
 */
#include "lmdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "registry.h"
#include "util.h"


/* ---- the data dir ---- */

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
lock_dir(struct lmdb_env *db, const char *dir, char *err)
{
	char path[4096];

	if (make_dirs(dir) != 0)
		return fail(err, "cannot create data dir %s: %s", dir,
			    strerror(errno));
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	db->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (db->lock_fd < 0)
		return fail(err, "cannot open %s: %s", path, strerror(errno));
	if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return fail(err, "data dir %s is in use by another srvgate "
			    "(lock %s is held)", dir, path);
	return 0;
}

/* Twice the file, at least min_map; at most max_map unless the file is
 * larger already (then writes get 507 until something is deleted). */
static uint64_t
initial_map(const char *dir, uint64_t min_map, uint64_t max_map)
{
	char path[4096];
	struct stat sb;
	uint64_t file = 0, map;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &sb) == 0)
		file = (uint64_t)sb.st_size;
	map = file * 2 > min_map ? file * 2 : min_map;
	if (map > max_map)
		map = file > max_map ? file : max_map;
	return (map + 4095) & ~4095ull;
}

void
lmdb_env_refresh_size(struct lmdb_env *db)
{
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(db->env, &info) != 0 || mdb_env_stat(db->env, &st))
		return;
	db->map_bytes = info.me_mapsize;
	db->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
}

int
lmdb_env_open(struct lmdb_env *db, const char *dir, uint64_t min_map,
	      uint64_t max_map, char *err)
{
	MDB_txn *txn;
	int rc;

	memset(db, 0, sizeof(*db));
	db->lock_fd = -1;
	snprintf(db->dir, sizeof(db->dir), "%s", dir);
	if (lock_dir(db, dir, err) != 0)
		return -1;
	rc = mdb_env_create(&db->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(db->env,
					 initial_map(dir, min_map, max_map));
	if (rc == 0)
		rc = mdb_env_open(db->env, dir, MDB_NOTLS, 0640);
	/* The main database opens in a read transaction: nothing is
	 * written before the data has been loaded and checked. */
	if (rc == 0)
		rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, NULL, 0, &db->dbi);
		mdb_txn_abort(txn);
	}
	if (rc != 0)
		return fail(err, "%s/data.mdb: cannot open: %s (damaged, or "
			    "not a srvgate data dir)", dir, mdb_strerror(rc));
	lmdb_env_refresh_size(db);
	return 0;
}

/* madvise(advice) on the map's first `limit` bytes. LMDB does not tell
 * where its map is (me_mapaddr is MDB_FIXEDMAP's address), so it is found
 * by its file in /proc/self/maps. */
static void
advise_map(struct lmdb_env *db, int advice, uint64_t limit)
{
	char path[PATH_MAX + 16], line[PATH_MAX + 128];
	FILE *maps = fopen("/proc/self/maps", "r");
	size_t plen;

	if (maps == NULL || realpath(db->dir, path) == NULL) {
		if (maps != NULL)
			fclose(maps);
		return;
	}
	strcat(path, "/data.mdb");
	plen = strlen(path);
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long start, end;
		size_t len = strcspn(line, "\n");

		if (len >= plen && memcmp(line + len - plen, path, plen) == 0 &&
		    sscanf(line, "%lx-%lx", &start, &end) == 2)
			(void)madvise((void *)start,
				      end - start < limit ? end - start : limit,
				      advice);
	}
	fclose(maps);
}

/* Before the load: the file's pages mapped in one call, rather than a
 * fault (and 16 pages around it) at a time as the cursor walks. */
void
lmdb_env_populate(struct lmdb_env *db)
{
#ifdef MADV_POPULATE_READ
	advise_map(db, MADV_POPULATE_READ, db->used_bytes);
#else
	(void)db;
#endif
}

/* After the load, the map's pages are read again only by the writer's
 * few B-tree paths: drop them from our resident set. They stay in the
 * page cache (the map is shared and read-only), so this costs no I/O. */
void
lmdb_env_drop_resident(struct lmdb_env *db)
{
	advise_map(db, MADV_DONTNEED, UINT64_MAX);
}

/* LMDB reports a page write the disk cut short as EIO (mdb_page_flush),
 * which is what a filesystem that fills up mid-commit gives: with less
 * than 1 MiB left there, it is ENOSPC, so the client gets 507, not 503. */
int
lmdb_commit(struct lmdb_env *db, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);
	struct statvfs fs;

	if (rc == EIO && statvfs(db->dir, &fs) == 0 &&
	    (uint64_t)fs.f_bavail * fs.f_frsize < (1u << 20))
		rc = ENOSPC;
	return rc;
}

void
lmdb_env_close(struct lmdb_env *db)
{
	if (db->env)
		mdb_env_close(db->env);
	if (db->lock_fd >= 0)
		close(db->lock_fd);
	db->env = NULL;
	db->lock_fd = -1;
}

/* ---- writing ---- */

static int
put(struct lmdb_env *db, MDB_txn *txn, const char *key, const char *val)
{
	MDB_val k = { strlen(key), (void *)key }, v = { strlen(val),
						       (void *)val };

	return mdb_put(txn, db->dbi, &k, &v, 0);
}

static int
put_json(struct lmdb_env *db, MDB_txn *txn, const char *key, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	int rc = s ? put(db, txn, key, s) : ENOMEM;

	free(s);
	json_decref(o);
	return rc;
}

static int
del(struct lmdb_env *db, MDB_txn *txn, const char *key)
{
	MDB_val k = { strlen(key), (void *)key };
	int rc = mdb_del(txn, db->dbi, &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
del_prefix(struct lmdb_env *db, MDB_txn *txn, const char *prefix)
{
	size_t n = strlen(prefix);
	MDB_val k = { n, (void *)prefix }, v;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, db->dbi, &cur);

	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= n && memcmp(k.mv_data, prefix, n) == 0) {
		rc = mdb_cursor_del(cur, 0);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static const char *action_names[] = { "create", "set", "update", "delete" };


static uint64_t
created_of(const struct change *c)
{
	return c->created_index ? c->created_index : c->index;
}

/* A member record, the bytes json_dumps gives for the object that
 * lmdb_write_change packs, written straight into buf (or a heap copy when
 * it does not fit: free it if it is not buf): one is written on every
 * registration, and packing and dumping it was a third of the writer
 * thread's time. NULL when a string needs jansson's escaping. */
static char *
member_record_plain(const struct change *c, char *buf, size_t size)
{
	const char *value = c->value ? c->value : "";
	size_t n = strlen(value) + (c->clients ? strlen(c->clients) : 0) + 160;
	char *s = n <= size ? buf : xmalloc(n), *at = s;

	at = stpcpy(at, "{\"value\":");
	if (!json_put_plain(&at, value))
		goto slow;
	at = stpcpy(at, ",\"created\":");
	json_put_int(&at, (int64_t)created_of(c));
	at = stpcpy(at, ",\"modified\":");
	json_put_int(&at, (int64_t)c->index);
	at = stpcpy(at, ",\"action\":\"");
	at = stpcpy(at, action_names[c->action]);
	*at++ = '"';
	if (c->clients != NULL) {
		at = stpcpy(at, ",\"clients\":");
		if (!json_put_plain(&at, c->clients))
			goto slow;
	}
	if (c->synced)
		at = stpcpy(at, ",\"synced\":true");
	strcpy(at, "}");
	return s;
slow:
	if (s != buf)
		free(s);
	return NULL;
}

static int
put_member(struct lmdb_env *db, MDB_txn *txn, const char *key,
	   const struct change *c)
{
	char buf[1024], *s = member_record_plain(c, buf, sizeof(buf));
	json_t *o;
	int rc;

	if (s != NULL) {
		rc = put(db, txn, key, s);
		if (s != buf)
			free(s);
		return rc;
	}
	o = json_pack("{s:s, s:I, s:I, s:s}", "value", c->value ? c->value : "",
		      "created", (json_int_t)created_of(c), "modified",
		      (json_int_t)c->index, "action", action_names[c->action]);
	if (o != NULL && c->clients != NULL)
		json_object_set_new(o, "clients", json_string(c->clients));
	if (o != NULL && c->synced) /* absent: registered */
		json_object_set_new(o, "synced", json_true());
	return o ? put_json(db, txn, key, o) : EINVAL;
}

int
lmdb_write_change(struct lmdb_env *db, MDB_txn *txn, const struct change *c)
{
	char key[2 * REGISTRY_NAME_MAX + 8];
	json_t *o;
	int rc;

	switch (c->kind) {
	case CHANGE_TOKEN_PUT:
		snprintf(key, sizeof(key), "t/%s", c->token);
		o = json_pack("{s:i, s:I, s:I, s:I}", "size", (int)c->size,
			      "created", (json_int_t)created_of(c), "modified",
			      (json_int_t)c->index, "at",
			      (json_int_t)c->created_at);
		/* Absent until the first sync: older data dirs read the same. */
		if (o != NULL && c->cluster_id[0] != '\0')
			json_object_set_new(o, "cluster",
					    json_string(c->cluster_id));
		return o ? put_json(db, txn, key, o) : EINVAL;
	case CHANGE_TOKEN_DEL:
		snprintf(key, sizeof(key), "t/%s", c->token);
		rc = del(db, txn, key);
		snprintf(key, sizeof(key), "m/%s/", c->token);
		return rc ? rc : del_prefix(db, txn, key);
	case CHANGE_MEMBER_PUT:
		snprintf(key, sizeof(key), "m/%s/%s", c->token, c->name);
		return put_member(db, txn, key, c);
	case CHANGE_MEMBER_DEL:
		snprintf(key, sizeof(key), "m/%s/%s", c->token, c->name);
		return del(db, txn, key);
	case CHANGE_ALIAS_PUT:
		snprintf(key, sizeof(key), "a/%s", c->name);
		return put_json(db, txn, key,
				json_pack("{s:s}", "token", c->token));
	case CHANGE_ALIAS_DEL:
		snprintf(key, sizeof(key), "a/%s", c->name);
		return del(db, txn, key);
	}
	return EINVAL;
}

int
lmdb_write_index(struct lmdb_env *db, MDB_txn *txn, uint64_t index)
{
	char num[24];
	int rc = 0;

	if (!db->has_version) {
		rc = put(db, txn, "v", LMDB_FORMAT);
		db->has_version = rc == 0;
	}
	snprintf(num, sizeof(num), "%llu", (unsigned long long)index);
	return rc ? rc : put(db, txn, "i", num);
}

int
lmdb_write_probe(struct lmdb_env *db, MDB_txn *txn, int big)
{
	static char padded[PROBE_BIG_BYTES]; /* the writer thread's alone */
	char stamp[24];
	size_t n;

	n = (size_t)snprintf(stamp, sizeof(stamp), "%lld",
			     (long long)now_unix());
	if (!big)
		return put(db, txn, "h", stamp);
	memset(padded, ' ', sizeof(padded) - 1);
	memcpy(padded, stamp, n);
	padded[sizeof(padded) - 1] = '\0';
	return put(db, txn, "h", padded);
}
