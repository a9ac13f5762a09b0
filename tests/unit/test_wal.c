/* test_wal.c -- the LMDB store's write-ahead log (lmdb_wal.c) in a fresh
 * dir under /tmp: records read back field for field; reading takes the
 * log only when its first record continues the index it is given, and stops at a torn record,
 * an unwritten one, an earlier round's or a cleared log; a record whose
 * checksum holds but that does not decode is an error.
 */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "lmdb_internal.h"
#include "store.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	struct lmdb_wal w;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	errbuf_t err;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_wal.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(lmdb_wal_open(&f->w, f->dir, err), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	lmdb_wal_close(&f->w);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A proposal with one change of each kind, every field set somewhere. */
static struct proposal *
every_kind(const char *token)
{
	struct proposal *p = proposal_new();
	struct change c;

	memset(&c, 0, sizeof(c));
	c.size = 3;
	c.created_at = 1700000000;
	snprintf(c.cluster_id, sizeof(c.cluster_id), "cdf818194e3a8c32");
	proposal_add_change(p, CHANGE_TOKEN_PUT, token, NULL, &c);
	memset(&c, 0, sizeof(c));
	c.value = "m1=http://10.0.0.1:2380";
	c.clients = "http://10.0.0.1:2379";
	c.action = ACTION_SET;
	c.created_index = 7;
	c.synced = 1;
	proposal_add_change(p, CHANGE_MEMBER_PUT, token, "m1", &c);
	memset(&c, 0, sizeof(c));
	c.value = "m2=http://10.0.0.2:2380";
	proposal_add_change(p, CHANGE_MEMBER_PUT, token, "m2", &c);
	memset(&c, 0, sizeof(c));
	proposal_add_change(p, CHANGE_MEMBER_DEL, token, "m2", &c);
	memset(&c, 0, sizeof(c));
	proposal_add_change(p, CHANGE_ALIAS_PUT, token, "prod", &c);
	memset(&c, 0, sizeof(c));
	proposal_add_change(p, CHANGE_ALIAS_DEL, token, "prod", &c);
	memset(&c, 0, sizeof(c));
	proposal_add_change(p, CHANGE_TOKEN_DEL, token, NULL, &c);
	return p;
}

static void
same_change(const struct change *a, const struct change *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->token, b->token);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->created_at, b->created_at);
	assert_string_equal(a->cluster_id, b->cluster_id);
	assert_int_equal(a->created_index, b->created_index);
	if (a->value == NULL)
		assert_null(b->value);
	else
		assert_string_equal(a->value, b->value);
	if (a->clients == NULL)
		assert_null(b->clients);
	else
		assert_string_equal(a->clients, b->clients);
	assert_int_equal(a->action, b->action);
	assert_int_equal(a->synced, b->synced);
}

/* The changes logged after index `after`; asserts the read succeeded. */
static struct proposal *
read_after(struct fixture *f, uint64_t after)
{
	struct proposal *got = proposal_new();
	errbuf_t err;

	assert_int_equal(lmdb_wal_read(f->w.path, after, got, err), 0);
	return got;
}

static void
test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct proposal *a = every_kind("aaaa"), *b = every_kind("bbbb");
	struct proposal *got;
	size_t i;

	assert_int_equal(lmdb_wal_append(&f->w, a, 1, a->n), 0);
	assert_int_equal(lmdb_wal_append(&f->w, b, 1 + a->n, b->n), 0);
	got = read_after(f, 0);
	assert_int_equal(got->n, a->n + b->n);
	for (i = 0; i < got->n; i++) {
		same_change(i < a->n ? &a->changes[i] : &b->changes[i - a->n],
			    &got->changes[i]);
		assert_int_equal(got->changes[i].index, i + 1);
	}
	proposal_free(got);
	/* Only a log whose first record continues the index given reads:
	 * data.mdb's index is always where the log started over. */
	got = read_after(f, 1);
	assert_int_equal(got->n, 0);
	proposal_free(got);
	got = read_after(f, a->n);
	assert_int_equal(got->n, 0);
	proposal_free(got);
	proposal_free(a);
	proposal_free(b);
}

static void
test_torn_record(void **state)
{
	struct fixture *f = *state;
	struct proposal *a = every_kind("aaaa"), *got;
	uint64_t second;
	char byte = 'x';
	int fd;

	assert_int_equal(lmdb_wal_append(&f->w, a, 1, a->n), 0);
	second = f->w.off;
	assert_int_equal(lmdb_wal_append(&f->w, a, 1 + a->n, a->n), 0);
	/* One byte of the second record's payload changed: its checksum
	 * fails, so the log ends after the first. */
	fd = open(f->w.path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)(second + 40)), 1);
	close(fd);
	got = read_after(f, 0);
	assert_int_equal(got->n, a->n);
	proposal_free(got);
	proposal_free(a);
}

static void
test_rounds_undo_clear(void **state)
{
	struct fixture *f = *state;
	struct proposal *a = every_kind("aaaa"), *got;

	assert_int_equal(lmdb_wal_append(&f->w, a, 1, a->n), 0);
	assert_int_equal(lmdb_wal_append(&f->w, a, 1 + a->n, a->n), 0);
	/* A checkpoint at 2n: the next round starts at the beginning and
	 * overwrites the first record; the old second one stays in the
	 * file but has lower indexes and never reads. */
	lmdb_wal_rewind(&f->w);
	assert_int_equal(lmdb_wal_append(&f->w, a, 1 + 2 * a->n, a->n), 0);
	got = read_after(f, 2 * a->n);
	assert_int_equal(got->n, a->n);
	assert_int_equal(got->changes[0].index, 2 * a->n + 1);
	proposal_free(got);
	got = read_after(f, 0);
	assert_int_equal(got->n, 0);
	proposal_free(got);
	/* A record taken back does not read. */
	assert_int_equal(lmdb_wal_append(&f->w, a, 1 + 3 * a->n, a->n), 0);
	lmdb_wal_undo(&f->w);
	got = read_after(f, 2 * a->n);
	assert_int_equal(got->n, a->n);
	proposal_free(got);
	/* An empty record (a health probe) continues the index. */
	assert_int_equal(lmdb_wal_append(&f->w, NULL, 1 + 3 * a->n, 0), 0);
	assert_int_equal(lmdb_wal_append(&f->w, a, 1 + 3 * a->n, a->n), 0);
	got = read_after(f, 2 * a->n);
	assert_int_equal(got->n, 2 * a->n);
	proposal_free(got);
	/* Cleared at a clean stop: nothing reads. */
	assert_int_equal(lmdb_wal_clear(&f->w), 0);
	got = read_after(f, 2 * a->n);
	assert_int_equal(got->n, 0);
	proposal_free(got);
	proposal_free(a);
}

static void
test_bad_record(void **state)
{
	struct fixture *f = *state;
	struct proposal *p = proposal_new(), *got = proposal_new();
	struct change c;
	errbuf_t err;

	memset(&c, 0, sizeof(c));
	c.value = "x";
	proposal_add_change(p, CHANGE_MEMBER_PUT, "Not A Label!", "m1", &c);
	assert_int_equal(lmdb_wal_append(&f->w, p, 1, 1), 0);
	assert_int_equal(lmdb_wal_read(f->w.path, 0, got, err), -1);
	assert_non_null(strstr(err, "data.wal"));
	assert_non_null(strstr(err, "does not decode"));
	proposal_free(got);
	proposal_free(p);
}

static void
test_missing_log(void **state)
{
	struct fixture *f = *state;
	struct proposal *got = proposal_new();
	errbuf_t err;

	unlink(f->w.path);
	assert_int_equal(lmdb_wal_read(f->w.path, 0, got, err), 0);
	assert_int_equal(got->n, 0);
	proposal_free(got);
}

/* A member record is written without jansson when its strings are plain:
 * the bytes must be those json_dumps gives for the object, which every
 * srvgate before reads (and lmdb_load's flat parser expects); strings
 * that need escaping still go through jansson. */
static void
check_member_record(struct lmdb_env *db, const char *value,
		    const char *clients, int synced, enum member_action action)
{
	static const char *names[] = { "create", "set", "update", "delete" };
	struct change c;
	MDB_txn *txn;
	MDB_val k = { strlen("m/tok/m1"), "m/tok/m1" }, v;
	json_t *o;
	char *want;

	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_MEMBER_PUT;
	snprintf(c.token, sizeof(c.token), "tok");
	snprintf(c.name, sizeof(c.name), "m1");
	c.value = (char *)value;
	c.clients = (char *)clients;
	c.synced = synced;
	c.action = action;
	c.index = 1234567890123ULL;
	c.created_index = action == ACTION_CREATE ? 0 : 42;
	o = json_pack("{s:s, s:I, s:I, s:s}", "value", value ? value : "",
		      "created", (json_int_t)(c.created_index ? 42 : c.index),
		      "modified", (json_int_t)c.index, "action", names[action]);
	assert_non_null(o);
	if (clients != NULL)
		json_object_set_new(o, "clients", json_string(clients));
	if (synced)
		json_object_set_new(o, "synced", json_true());
	want = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	assert_int_equal(mdb_txn_begin(db->env, NULL, 0, &txn), 0);
	assert_int_equal(lmdb_write_change(db, txn, &c), 0);
	assert_int_equal(mdb_get(txn, db->dbi, &k, &v), 0);
	assert_int_equal(v.mv_size, strlen(want));
	assert_memory_equal(v.mv_data, want, v.mv_size);
	mdb_txn_abort(txn);
	free(want);
}

static void
test_member_record_bytes(void **state)
{
	struct fixture *f = *state;
	struct lmdb_env db;
	char big[3000];
	errbuf_t err;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "m1=http://", 10);
	assert_int_equal(lmdb_env_open(&db, f->dir, 1 << 20, 1 << 24, err), 0);
	check_member_record(&db, "m1=http://10.0.0.1:2380", NULL, 0,
			    ACTION_CREATE);
	check_member_record(&db, "m1=https://[fd00::1]:2380",
			    "https://[fd00::1]:2379", 1, ACTION_SET);
	check_member_record(&db, NULL, NULL, 0, ACTION_UPDATE);
	check_member_record(&db, big, NULL, 0, ACTION_CREATE); /* heap */
	/* escaped by jansson: a quote, a backslash, a control, non-ASCII */
	check_member_record(&db, "m1=\"x\"", NULL, 0, ACTION_SET);
	check_member_record(&db, "m1=http://a\\b", "c\td", 1, ACTION_SET);
	check_member_record(&db, "m1=http://h\xc3\xa9:2380", NULL, 0,
			    ACTION_CREATE);
	check_member_record(&db, "m1=http://h:2380", "\x7f", 0, ACTION_SET);
	lmdb_env_close(&db);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_roundtrip),	   T(test_torn_record),
		T(test_rounds_undo_clear), T(test_bad_record),
		T(test_missing_log),	   T(test_member_record_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
