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
	char *flat;	 /* a member record being parsed by parse_flat */
	size_t flat_cap;
	/* The token token_stored last found: members are read grouped by
	 * token, so one B-tree lookup serves all of a token's members. */
	char found_token[REGISTRY_NAME_MAX + 1];
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

	if (token[0] != '\0' && strcmp(token, ld->found_token) == 0)
		return 1;
	snprintf(key, sizeof(key), "t/%s", token);
	k.mv_size = strlen(key);
	k.mv_data = key;
	if (mdb_get(ld->txn, ld->db->dbi, &k, &v) != 0)
		return 0;
	snprintf(ld->found_token, sizeof(ld->found_token), "%s", token);
	return 1;
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

/* A member record's fields, from jansson or from parse_flat. */
struct member_fields {
	const char *value, *action, *clients;
	json_int_t created, modified;
	int synced;
	int ok; /* 0: a field is missing or of the wrong type */
};

static void
member_from_json(json_t *o, struct member_fields *f)
{
	f->clients = NULL;
	f->synced = 0;
	f->ok = json_unpack(o, "{s:s, s:I, s:I, s:s, s?s, s?b}", "value",
			    &f->value, "created", &f->created, "modified",
			    &f->modified, "action", &f->action, "clients",
			    &f->clients, "synced", &f->synced) == 0;
}

/* One field of a flat record: 's' string, 'i' integer, 'b' boolean. */
static int
flat_field(struct member_fields *f, const char *k, char kind, char *s,
	   long long i, int *got)
{
	if (strcmp(k, "value") == 0 || strcmp(k, "action") == 0 ||
	    strcmp(k, "clients") == 0) {
		if (kind != 's')
			return -1;
		*(k[0] == 'v' ? &f->value : k[0] == 'a' ? &f->action :
							   &f->clients) = s;
		*got |= k[0] == 'v' ? 1 : k[0] == 'a' ? 2 : 0;
	} else if (strcmp(k, "created") == 0 || strcmp(k, "modified") == 0) {
		if (kind != 'i')
			return -1;
		*(k[0] == 'c' ? &f->created : &f->modified) = i;
		*got |= k[0] == 'c' ? 4 : 8;
	} else if (strcmp(k, "synced") == 0) {
		if (kind != 'b')
			return -1;
		f->synced = (int)i;
	}
	return 0; /* other keys: ignored, as json_unpack does */
}

/* A string without escapes or non-ASCII bytes (which jansson would have
 * to decode or check), NUL-terminated in place; NULL when not one. */
static char *
flat_string(char **p)
{
	char *s = ++*p;

	for (; **p != '"'; ++*p)
		if (**p == '\\' || (unsigned char)**p < 0x20 ||
		    (unsigned char)**p >= 0x80)
			return NULL;
	*(*p)++ = '\0';
	return s;
}

/* A member record as the store writes it (json_dumps, compact: a flat
 * object of plain strings and integers) without building a jansson tree:
 * json_loadb of every record was a fifth of a start at 100k tokens. 0 and
 * the fields, or -1 for anything else (escapes, other types, spaces),
 * which then goes through jansson. */
static int
parse_flat(struct loader *ld, const MDB_val *v, struct member_fields *f)
{
	char *p, *key, *s;
	long long i;
	int got = 0, digits;
	char kind;

	if (v->mv_size + 1 > ld->flat_cap) {
		ld->flat_cap = 2 * v->mv_size + 64;
		ld->flat = xrealloc(ld->flat, ld->flat_cap);
	}
	memcpy(ld->flat, v->mv_data, v->mv_size);
	ld->flat[v->mv_size] = '\0';
	memset(f, 0, sizeof(*f));
	p = ld->flat;
	if (*p++ != '{')
		return -1;
	while (*p == '"') {
		if ((key = flat_string(&p)) == NULL || *p++ != ':')
			return -1;
		s = NULL;
		i = 0;
		if (*p == '"') {
			if ((s = flat_string(&p)) == NULL)
				return -1;
			kind = 's';
		} else if (strncmp(p, "true", 4) == 0 ||
			   strncmp(p, "false", 5) == 0) {
			i = *p == 't';
			p += i ? 4 : 5;
			kind = 'b';
		} else {
			for (digits = 0; *p >= '0' && *p <= '9'; p++, digits++)
				i = i * 10 + (*p - '0');
			if (digits == 0 || digits > 18 ||
			    (digits > 1 && p[-digits] == '0'))
				return -1; /* negative, huge, or not a number */
			kind = 'i';
		}
		if (flat_field(f, key, kind, s, i, &got) != 0)
			return -1;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return -1;
	}
	if (p[0] != '}' || p[1] != '\0' || p[-1] == ',')
		return -1;
	f->ok = got == 15;
	return 0;
}

static int
load_member(struct loader *ld, const char *key, struct member_fields *f,
	    char *err)
{
	const char *slash = strchr(key + 2, '/');
	const char *value = f->value, *action = f->action;
	const char *clients = f->clients;
	struct change c = { 0 };
	json_int_t created = f->created, modified = f->modified;
	int act, synced = f->synced;

	if (slash == NULL || (size_t)(slash - key - 2) > REGISTRY_NAME_MAX ||
	    !registry_valid_name(slash + 1))
		return bad(ld, err, key, "not a member key");
	copy_name(c.token, sizeof(c.token), key + 2, (size_t)(slash - key - 2));
	if (!f->ok || (act = parse_action(action)) < 0 || created <= 0 ||
	    modified < created)
		return bad(ld, err, key, "not a member");
	if (!token_stored(ld, c.token))
		return bad(ld, err, key, "its token is missing");
	c.kind = CHANGE_MEMBER_PUT;
	copy_name(c.name, sizeof(c.name), slash + 1, SIZE_MAX);
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
	struct member_fields f;
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
	if (key[0] == 'm' && parse_flat(ld, v, &f) == 0)
		return load_member(ld, key, &f, err);
	o = json_loadb(v->mv_data, v->mv_size, 0, &jerr);
	if (o == NULL)
		return bad(ld, err, key, "not JSON");
	if (key[0] == 'm')
		member_from_json(o, &f);
	rc = key[0] == 't' ? load_token(ld, key, o, err) :
	     key[0] == 'm' ? load_member(ld, key, &f, err) :
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

static sigjmp_buf fault_jmp;

/* LMDB trusts its pages: a damaged one makes it read past the end of a
 * truncated file (SIGBUS) or follow an offset or page number out of the
 * map (SIGSEGV). Either is damage to report, not a crash. */
static void
on_fault(int sig)
{
	siglongjmp(fault_jmp, sig);
}

int
lmdb_load_all(struct lmdb_env *db, const struct store_sink *sink,
	      uint64_t *index, char *err)
{
	struct loader ld;
	struct sigaction sa, old_bus, old_segv;
	int rc, sig;

	memset(&ld, 0, sizeof(ld));
	ld.db = db;
	ld.sink = sink;
	snprintf(ld.path, sizeof(ld.path), "%s/data.mdb", db->dir);
	rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &ld.txn);
	if (rc != 0)
		return fail(err, "%s: %s", ld.path, mdb_strerror(rc));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	if ((sig = sigsetjmp(fault_jmp, 1)) == 0) {
		rc = load_txn(&ld, err);
	} else {
		rc = fail(err, "%s: %s while reading: the file is "
			  "truncated or damaged (restore a backup or move the "
			  "dir away)", ld.path,
			  sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	/* After a fault these only free memory and release the reader
	 * slot; the map is not touched again. */
	if (ld.cur != NULL)
		mdb_cursor_close(ld.cur);
	mdb_txn_abort(ld.txn);
	free(ld.flat);
	*index = ld.index;
	return rc;
}
