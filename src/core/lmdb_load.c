/* lmdb_load.c -- reading the LMDB store back at start, checking every
 * record (see lmdb_records.c for the layout).
 *
 * A damaged or foreign data dir must stop the server with one line that
 * names the file and the problem: starting with an empty or partial
 * registry would hand out, or publish, less than was acknowledged.
 */
#include "lmdb_internal.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define KEY_MAX (2 * REGISTRY_NAME_MAX + 8)

struct loader {
	struct lmdb_env *db;
	MDB_txn *txn;
	const struct store_sink *sink;
	MDB_cursor *cur;
	uint64_t index;	/* from "i" */
	int has_index;
	uint64_t max_seen; /* the highest index of any record */
	size_t records;
	char path[1100]; /* the data file, for messages */
};

static int
bad(struct loader *ld, char *err, const char *key, const char *why)
{
	return fail(err, "%s: record '%s': %s (damaged or foreign data dir; "
		    "restore a backup or move the dir away)", ld->path, key,
		    why);
}

static void
seen(struct loader *ld, uint64_t index)
{
	ld->records++;
	if (index > ld->max_seen)
		ld->max_seen = index;
}

static int
token_stored(struct loader *ld, const char *token)
{
	char key[KEY_MAX];
	MDB_val k, v;

	snprintf(key, sizeof(key), "t/%s", token);
	k.mv_size = strlen(key);
	k.mv_data = key;
	return mdb_get(ld->txn, ld->db->dbi, &k, &v) == 0;
}

static int
load_token(struct loader *ld, const char *key, json_t *o, char *err)
{
	struct change c = { 0 };
	json_int_t size, created, at, modified = 0;
	const char *cluster = ""; /* absent in data dirs before sync's */

	if (json_unpack(o, "{s:I, s:I, s:I, s?I, s?s}", "size", &size,
			"created", &created, "at", &at, "modified", &modified,
			"cluster", &cluster) != 0 ||
	    size < 1 || size > 1000000 || created < 0 || modified < 0 ||
	    !registry_valid_name(key + 2) ||
	    (cluster[0] != '\0' && !registry_valid_cluster_id(cluster)))
		return bad(ld, err, key, "not a token");
	memcpy(c.cluster_id, cluster, strlen(cluster) + 1);
	c.kind = CHANGE_TOKEN_PUT;
	memcpy(c.token, key + 2, strlen(key + 2) + 1);
	c.size = (unsigned)size;
	c.created_index = (uint64_t)created;
	c.index = modified > created ? (uint64_t)modified : (uint64_t)created;
	c.created_at = at;
	seen(ld, c.index);
	ld->sink->apply(ld->sink->arg, &c);
	return 0;
}

static int
parse_action(const char *s)
{
	static const char *names[] = { "create", "set", "update", "delete" };
	int i;

	for (i = 0; i < 3; i++) /* a stored member is never a deletion */
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static int
load_member(struct loader *ld, const char *key, json_t *o, char *err)
{
	const char *slash = strchr(key + 2, '/'), *value, *action;
	const char *clients = NULL;
	struct change c = { 0 };
	json_int_t created, modified;
	int act, synced = 0;

	if (slash == NULL || (size_t)(slash - key - 2) > REGISTRY_NAME_MAX ||
	    !registry_valid_name(slash + 1))
		return bad(ld, err, key, "not a member key");
	snprintf(c.token, sizeof(c.token), "%.*s", (int)(slash - key - 2),
		 key + 2);
	if (json_unpack(o, "{s:s, s:I, s:I, s:s, s?s, s?b}", "value", &value,
			"created", &created, "modified", &modified, "action",
			&action, "clients", &clients, "synced", &synced) != 0 ||
	    (act = parse_action(action)) < 0 || created <= 0 ||
	    modified < created)
		return bad(ld, err, key, "not a member");
	if (!token_stored(ld, c.token))
		return bad(ld, err, key, "its token is missing");
	c.kind = CHANGE_MEMBER_PUT;
	snprintf(c.name, sizeof(c.name), "%s", slash + 1);
	c.value = (char *)value;
	c.clients = (char *)clients;
	c.created_index = (uint64_t)created;
	c.index = (uint64_t)modified;
	c.action = (enum member_action)act;
	c.synced = synced;
	seen(ld, c.index);
	ld->sink->apply(ld->sink->arg, &c);
	return 0;
}

static int
load_alias(struct loader *ld, const char *key, json_t *o, char *err)
{
	struct change c = { 0 };
	const char *token;

	if (!registry_valid_name(key + 2) ||
	    json_unpack(o, "{s:s}", "token", &token) != 0 ||
	    !registry_valid_name(token))
		return bad(ld, err, key, "not an alias");
	if (!token_stored(ld, token))
		return bad(ld, err, key, "its token is missing");
	c.kind = CHANGE_ALIAS_PUT;
	memcpy(c.name, key + 2, strlen(key + 2) + 1);
	memcpy(c.token, token, strlen(token) + 1);
	ld->sink->apply(ld->sink->arg, &c);
	return 0;
}

/* The small records: format, index, health stamp. */
static int
load_scalar(struct loader *ld, const char *key, const MDB_val *v, char *err)
{
	char text[64];

	if (strcmp(key, "h") == 0)
		return 0; /* the probe's stamp: any content */
	if (v->mv_size >= sizeof(text))
		return bad(ld, err, key, "too long");
	memcpy(text, v->mv_data, v->mv_size);
	text[v->mv_size] = '\0';
	if (strcmp(key, "v") == 0) {
		if (strcmp(text, LMDB_FORMAT) != 0)
			return bad(ld, err, key, "another format");
		ld->db->has_version = 1;
	} else if (strcmp(key, "i") == 0) {
		if (parse_uint(text, 0, UINT64_MAX / 2, &ld->index) != 0)
			return bad(ld, err, key, "not an index");
		ld->has_index = 1;
	}
	return 0;
}

static int
load_record(struct loader *ld, const MDB_val *k, const MDB_val *v, char *err)
{
	char key[KEY_MAX];
	json_error_t jerr;
	json_t *o;
	int rc;

	if (k->mv_size == 0 || k->mv_size >= sizeof(key) ||
	    memchr(k->mv_data, '\0', k->mv_size) != NULL)
		return bad(ld, err, "?", "unknown key");
	memcpy(key, k->mv_data, k->mv_size);
	key[k->mv_size] = '\0';
	if (strcmp(key, "v") == 0 || strcmp(key, "i") == 0 ||
	    strcmp(key, "h") == 0)
		return load_scalar(ld, key, v, err);
	if (strncmp(key, "t/", 2) && strncmp(key, "m/", 2) &&
	    strncmp(key, "a/", 2))
		return bad(ld, err, key, "unknown key");
	o = json_loadb(v->mv_data, v->mv_size, 0, &jerr);
	if (o == NULL)
		return bad(ld, err, key, "not JSON");
	rc = key[0] == 't' ? load_token(ld, key, o, err) :
	     key[0] == 'm' ? load_member(ld, key, o, err) :
			     load_alias(ld, key, o, err);
	json_decref(o);
	return rc;
}

/* Records from `from` (NULL: the first) up to `stop` (NULL: the end). */
static int
load_range(struct loader *ld, MDB_cursor *cur, const char *from,
	   const char *stop, char *err)
{
	MDB_val k = { from ? strlen(from) : 0, (void *)from }, v;
	int rc;

	rc = mdb_cursor_get(cur, &k, &v, from ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (stop != NULL && k.mv_size >= strlen(stop) &&
		    memcmp(k.mv_data, stop, strlen(stop)) == 0)
			return 0;
		if (load_record(ld, &k, &v, err) != 0)
			return -1;
	}
	if (rc != MDB_NOTFOUND)
		return fail(err, "%s: %s while reading (damaged data file; "
			    "restore a backup or move the dir away)", ld->path,
			    mdb_strerror(rc));
	return 0;
}

/* Keys sort "a/" < "h" < "i" < "m/" < "t/" < "v": tokens are read first,
 * since members and aliases need theirs. */
static int
load_txn(struct loader *ld, char *err)
{
	int rc = mdb_cursor_open(ld->txn, ld->db->dbi, &ld->cur);

	if (rc != 0)
		return fail(err, "%s: %s", ld->path, mdb_strerror(rc));
	rc = load_range(ld, ld->cur, "t/", NULL, err);
	if (rc == 0)
		rc = load_range(ld, ld->cur, NULL, "t/", err);
	/* Indexes go on from the stored one: below a record's, the next
	 * change would repeat an index that record has. */
	if (rc == 0 && ld->records > 0 &&
	    (!ld->has_index || ld->index < ld->max_seen))
		rc = bad(ld, err, "i", "the stored index is behind the records");
	return rc;
}

static sigjmp_buf sigbus_jmp;

static void
on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(sigbus_jmp, 1);
}

int
lmdb_load_all(struct lmdb_env *db, const struct store_sink *sink,
	      uint64_t *index, char *err)
{
	struct loader ld;
	struct sigaction sa, old;
	int rc;

	memset(&ld, 0, sizeof(ld));
	ld.db = db;
	ld.sink = sink;
	snprintf(ld.path, sizeof(ld.path), "%s/data.mdb", db->dir);
	rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &ld.txn);
	if (rc != 0)
		return fail(err, "%s: %s", ld.path, mdb_strerror(rc));
	/* A page past the end of a truncated file faults in the map. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(sigbus_jmp, 1) == 0) {
		rc = load_txn(&ld, err);
	} else {
		rc = fail(err, "%s: SIGBUS while reading: the file is "
			  "truncated or damaged (restore a backup or move the "
			  "dir away)", ld.path);
	}
	sigaction(SIGBUS, &old, NULL);
	/* After a SIGBUS these only free memory and release the reader
	 * slot; the map is not touched again. */
	if (ld.cur != NULL)
		mdb_cursor_close(ld.cur);
	mdb_txn_abort(ld.txn);
	*index = ld.index;
	return rc;
}
