/* test_etcd_store.c -- the etcd store's pure parts: its keys, the span its
 * Range and Watch cover, the translation of etcd events into changes, and
 * the JSON gateway's encodings (base64 bytes, int64 as strings). */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "etcd_audit.h"
#include "etcd_client.h"
#include "etcd_keys.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define P "/srvgate/"
#define TOK "0123456789abcdef0123456789abcdef"

/* ---- keys ---- */

static enum etcd_key_kind
kind_of(const char *key, char *token, char *name)
{
	return etcd_key_parse(P, key, strlen(key), token, name);
}

static void
test_key_parse(void **state)
{
	char t[STORE_NAME_MAX + 1], n[STORE_NAME_MAX + 1];

	(void)state;
	assert_int_equal(kind_of("/_etcd/registry/" TOK "/_config/size", t, n),
			 EK_SIZE);
	assert_string_equal(t, TOK);
	assert_int_equal(kind_of("/_etcd/registry/" TOK "/members/m1", t, n),
			 EK_MEMBER);
	assert_string_equal(t, TOK);
	assert_string_equal(n, "m1");
	assert_int_equal(kind_of(P "tokens/" TOK, t, n), EK_META);
	assert_string_equal(t, TOK);
	assert_int_equal(kind_of(P "clients/" TOK "/m1", t, n), EK_CLIENTS);
	assert_string_equal(n, "m1");
	assert_int_equal(kind_of(P "synced/" TOK "/m1", t, n), EK_SYNCED);
	assert_string_equal(t, TOK);
	assert_string_equal(n, "m1");
	assert_int_equal(kind_of(P "aliases/web", t, n), EK_ALIAS);
	assert_string_equal(n, "web");
}

static void
test_key_parse_rejects(void **state)
{
	static const char *bad[] = {
		"/_etcd/registry/" TOK "/_config/size/x",
		"/_etcd/registry/" TOK "/members/",
		"/_etcd/registry/" TOK "/members/a/b",
		"/_etcd/registry/UPPER/_config/size",
		"/_etcd/registry//_config/size",
		"/_etcd/registry/" TOK,
		P "tokens/" TOK "/x",
		P "clients/" TOK,
		P "gc-lock",
		P "filler/1",
		"/other/tokens/" TOK,
		"/_etcd/registryx/" TOK "/_config/size",
	};
	char t[STORE_NAME_MAX + 1], n[STORE_NAME_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kind_of(bad[i], t, n) != EK_OTHER)
			fail_msg("'%s' taken for one of ours", bad[i]);
	/* a NUL inside the key's bytes is never a name */
	assert_int_equal(etcd_key_parse(P, "/_etcd/registry/a\0b/_config/size",
					32, t, n), EK_OTHER);
}

static void
test_key_format_round_trip(void **state)
{
	static const enum etcd_key_kind kinds[] = {
		EK_SIZE, EK_MEMBER, EK_META, EK_CLIENTS, EK_SYNCED, EK_ALIAS,
	};
	char key[ETCD_KEY_MAX], t[STORE_NAME_MAX + 1], n[STORE_NAME_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		etcd_key_format(key, sizeof(key), P, kinds[i], "tok", "m-1");
		assert_int_equal(kind_of(key, t, n), kinds[i]);
	}
}

static void
test_span(void **state)
{
	char lo[ETCD_KEY_MAX], hi[ETCD_KEY_MAX], end[ETCD_KEY_MAX];

	(void)state;
	etcd_prefix_end("/srvgate/", end, sizeof(end));
	assert_string_equal(end, "/srvgate0");
	etcd_key_span(P, lo, hi, sizeof(lo));
	assert_string_equal(lo, "/_etcd/registry/");
	assert_string_equal(hi, "/srvgate0");
	/* a prefix that sorts before /_etcd/registry/ */
	etcd_key_span("/A/", lo, hi, sizeof(lo));
	assert_string_equal(lo, "/A/");
	assert_string_equal(hi, "/_etcd/registry0");
}

static void
test_parse_size_and_meta(void **state)
{
	(void)state;
	assert_int_equal(etcd_parse_size("3"), 3);
	assert_int_equal(etcd_parse_size("1000000"), 1000000);
	assert_int_equal(etcd_parse_size("0"), 0);
	assert_int_equal(etcd_parse_size("-1"), 0);
	assert_int_equal(etcd_parse_size("3 "), 0);
	assert_int_equal(etcd_parse_size(""), 0);
	assert_int_equal(etcd_parse_size(NULL), 0);
	assert_int_equal(etcd_parse_meta("{\"created_at\":1700000000}"),
			 1700000000);
	assert_int_equal(etcd_parse_meta("not json"), 0);
	assert_int_equal(etcd_parse_meta(NULL), 0);
}

/* The etcd cluster `sync` follows rides in the token's metadata. */
static void
test_parse_meta_cluster(void **state)
{
	char id[STORE_CLUSTER_ID_MAX + 1];

	(void)state;
	etcd_parse_meta_cluster("{\"created_at\":1,\"cluster_id\":\"cdf8\"}",
				id);
	assert_string_equal(id, "cdf8");
	etcd_parse_meta_cluster("{\"created_at\":1}", id);
	assert_string_equal(id, "");
	etcd_parse_meta_cluster("{\"cluster_id\":\"NOT HEX\"}", id);
	assert_string_equal(id, "");
	etcd_parse_meta_cluster(NULL, id);
	assert_string_equal(id, "");
}

/* ---- events to changes ---- */

/* A tiny key -> value state for the lookups. */
static const char *state_keys[4], *state_vals[4];

static const char *
get(void *arg, const char *key)
{
	size_t i;

	(void)arg;
	for (i = 0; i < 4 && state_keys[i]; i++)
		if (strcmp(state_keys[i], key) == 0)
			return state_vals[i];
	return NULL;
}

static void
set_state(const char *k0, const char *v0, const char *k1, const char *v1)
{
	memset(state_keys, 0, sizeof(state_keys));
	state_keys[0] = k0;
	state_vals[0] = v0;
	state_keys[1] = k1;
	state_vals[1] = v1;
}

static size_t
translate(const char *key, const char *value, uint64_t mod, uint64_t create,
	  int64_t version, int deleted, uint64_t prev_create,
	  const char *prev_value, struct change out[2])
{
	struct etcd_kv kv = { key, strlen(key), value, mod, create, version };

	return etcd_translate(P, &kv, deleted, prev_create, prev_value, get,
			      NULL, 42, out);
}

static void
test_token_events(void **state)
{
	const char *size = "/_etcd/registry/" TOK "/_config/size";
	struct change c[2];

	(void)state;
	set_state(P "tokens/" TOK, "{\"created_at\":1700000000}", NULL, NULL);
	/* made */
	assert_int_equal(translate(size, "3", 7, 7, 1, 0, 0, NULL, c), 1);
	assert_string_equal(c[0].cluster_id, "");
	assert_int_equal(c[0].kind, CHANGE_TOKEN_PUT);
	assert_string_equal(c[0].token, TOK);
	assert_int_equal(c[0].size, 3);
	assert_int_equal(c[0].index, 7);
	assert_int_equal(c[0].created_index, 7);
	assert_int_equal(c[0].created_at, 1700000000);
	/* resized, and following a cluster since a sync */
	set_state(P "tokens/" TOK,
		  "{\"created_at\":1700000000,\"cluster_id\":\"d1cf\"}", NULL,
		  NULL);
	assert_int_equal(translate(size, "5", 9, 7, 2, 0, 7, NULL, c), 1);
	assert_int_equal(c[0].kind, CHANGE_TOKEN_PUT);
	assert_int_equal(c[0].size, 5);
	assert_string_equal(c[0].cluster_id, "d1cf");
	assert_int_equal(c[0].created_at, 1700000000);
	/* deleted */
	assert_int_equal(translate(size, "", 11, 7, 0, 1, 7, "5", c), 1);
	assert_int_equal(c[0].kind, CHANGE_TOKEN_DEL);
	assert_int_equal(c[0].index, 11);
	/* made again under the same name: the old one goes first */
	assert_int_equal(translate(size, "2", 12, 12, 1, 0, 7, NULL, c), 2);
	assert_int_equal(c[0].kind, CHANGE_TOKEN_DEL);
	assert_int_equal(c[1].kind, CHANGE_TOKEN_PUT);
	assert_int_equal(c[1].created_index, 12);
	/* no longer a size: the token goes */
	assert_int_equal(translate(size, "x", 13, 12, 2, 0, 12, NULL, c), 1);
	assert_int_equal(c[0].kind, CHANGE_TOKEN_DEL);
	/* made by etcdctl, without our metadata: created now */
	set_state(NULL, NULL, NULL, NULL);
	assert_int_equal(translate(size, "3", 14, 14, 1, 0, 0, NULL, c), 1);
	assert_int_equal(c[0].created_at, 42);
}

static void
test_member_events(void **state)
{
	const char *size = "/_etcd/registry/" TOK "/_config/size";
	const char *m1 = "/_etcd/registry/" TOK "/members/m1";
	struct change c[2];

	(void)state;
	/* no size key: kept aside, no change */
	set_state(NULL, NULL, NULL, NULL);
	assert_int_equal(translate(m1, "m1=http://a:2380", 5, 5, 1, 0, 0,
				   NULL, c), 0);
	set_state(size, "3", P "clients/" TOK "/m1", "http://a:2379");
	assert_int_equal(translate(m1, "m1=http://a:2380", 5, 5, 1, 0, 0,
				   NULL, c), 1);
	assert_int_equal(c[0].kind, CHANGE_MEMBER_PUT);
	assert_string_equal(c[0].name, "m1");
	assert_string_equal(c[0].value, "m1=http://a:2380");
	assert_string_equal(c[0].clients, "http://a:2379");
	assert_false(c[0].synced);
	assert_int_equal(c[0].action, ACTION_CREATE);
	assert_int_equal(c[0].created_index, 5);
	/* overwritten: a set, its creation kept */
	assert_int_equal(translate(m1, "m1=http://b:2380", 8, 5, 2, 0, 5,
				   NULL, c), 1);
	assert_int_equal(c[0].action, ACTION_SET);
	assert_int_equal(c[0].created_index, 5);
	assert_int_equal(c[0].index, 8);
	/* written by sync: its synced key is there */
	set_state(size, "3", P "synced/" TOK "/m1", "1");
	assert_int_equal(translate(m1, "m1=http://b:2380", 8, 5, 2, 0, 5,
				   NULL, c), 1);
	assert_true(c[0].synced);
	assert_null(c[0].clients);
	assert_int_equal(translate(m1, "", 9, 5, 0, 1, 5, "m1=x", c), 1);
	assert_int_equal(c[0].kind, CHANGE_MEMBER_DEL);
	assert_int_equal(c[0].index, 9);
}

static void
test_alias_and_meta_events(void **state)
{
	struct change c[2];

	(void)state;
	set_state(NULL, NULL, NULL, NULL);
	assert_int_equal(translate(P "aliases/web", TOK, 3, 3, 1, 0, 0, NULL,
				   c), 1);
	assert_int_equal(c[0].kind, CHANGE_ALIAS_PUT);
	assert_string_equal(c[0].name, "web");
	assert_string_equal(c[0].token, TOK);
	assert_int_equal(translate(P "aliases/web", "", 4, 3, 0, 1, 3, TOK,
				   c), 1);
	assert_int_equal(c[0].kind, CHANGE_ALIAS_DEL);
	assert_string_equal(c[0].token, TOK);
	/* an alias naming no valid token: nothing */
	assert_int_equal(translate(P "aliases/web", "Not A Token", 5, 5, 1, 0,
				   0, NULL, c), 0);
	/* metadata and foreign keys make no change of their own */
	assert_int_equal(translate(P "tokens/" TOK, "{}", 6, 6, 1, 0, 0, NULL,
				   c), 0);
	assert_int_equal(translate(P "clients/" TOK "/m1", "u", 6, 6, 1, 0, 0,
				   NULL, c), 0);
	assert_int_equal(translate(P "synced/" TOK "/m1", "1", 6, 6, 1, 0, 0,
				   NULL, c), 0);
	assert_int_equal(translate("/foo", "bar", 6, 6, 1, 0, 0, NULL, c), 0);
}

/* ---- the JSON gateway's encodings ---- */

static void
test_base64(void **state)
{
	static const char *cases[] = { "", "a", "ab", "abc", "abcd",
				       "/_etcd/registry/x/_config/size" };
	size_t i, n;
	char *enc, *dec;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enc = etcd_b64(cases[i], strlen(cases[i]));
		dec = etcd_unb64(enc, &n);
		assert_non_null(dec);
		assert_int_equal(n, strlen(cases[i]));
		assert_string_equal(dec, cases[i]);
		free(enc);
		free(dec);
	}
	enc = etcd_b64("k\0", 2); /* a key and a NUL: the next page */
	assert_string_equal(enc, "awA=");
	free(enc);
	assert_null(etcd_unb64("abc", NULL));
	assert_null(etcd_unb64("a?==", NULL));
}

static void
test_int64_fields(void **state)
{
	json_t *o = json_loads("{\"header\":{\"revision\":\"12345678901\"},"
			       "\"n\":7,\"neg\":-1}", 0, NULL);

	(void)state;
	assert_non_null(o);
	assert_int_equal(etcd_header_revision(o), 12345678901ull);
	assert_int_equal(etcd_u64(o, "n"), 7);
	assert_int_equal(etcd_u64(o, "neg"), 0);
	assert_int_equal(etcd_u64(o, "absent"), 0);
	json_decref(o);
}


/* ---- the watch audit ---- */

/* A busy span: etcd's count at 50 is compared when the watch passes 50. */
static void
test_audit_compares_at_the_revision(void **state)
{
	struct etcd_audit a;

	(void)state;
	audit_reset(&a);
	/* we are at 40 with 10 keys; etcd has 12 at 50: changes are owed */
	assert_int_equal(audit_counted(&a, 50, 12, 40, 10, 1000), AUDIT_WAIT);
	assert_false(audit_passes(&a, 50));
	assert_true(audit_passes(&a, 51));
	assert_int_equal(audit_reached(&a, 49, 11), AUDIT_WAIT);
	assert_int_equal(audit_reached(&a, 50, 12), AUDIT_OK);
	/* consumed: nothing held any more */
	assert_false(audit_passes(&a, 51));
	assert_int_equal(audit_reached(&a, 60, 99), AUDIT_WAIT);

	/* the same, but the watch skipped a creation before 50 */
	assert_int_equal(audit_counted(&a, 70, 14, 60, 12, 2000), AUDIT_WAIT);
	assert_int_equal(audit_reached(&a, 72, 13), AUDIT_LOST);
	assert_int_equal(a.lost_rev, 70);
	assert_int_equal(a.lost_theirs, 14);
	assert_int_equal(a.lost_ours, 13);
	assert_false(audit_passes(&a, 80));
}

/* Caught up when etcd answers: compared at once. */
static void
test_audit_caught_up(void **state)
{
	struct etcd_audit a;

	(void)state;
	audit_reset(&a);
	assert_int_equal(audit_counted(&a, 50, 12, 50, 12, 1000), AUDIT_OK);
	assert_int_equal(audit_counted(&a, 50, 12, 50, 11, 1000), AUDIT_LOST);
	/* the watch already past etcd's revision: not comparable */
	assert_int_equal(audit_counted(&a, 50, 12, 51, 99, 1000), AUDIT_WAIT);
	assert_false(audit_passes(&a, 52));
}

/* Changes owed and nothing delivered for the stall time: lost. */
static void
test_audit_stall(void **state)
{
	struct etcd_audit a;

	(void)state;
	audit_reset(&a);
	assert_false(audit_due(&a, 1000));
	assert_int_equal(audit_counted(&a, 90, 7, 80, 3, 1000), AUDIT_WAIT);
	assert_false(audit_due(&a, 1000 + AUDIT_STALL_MS - 1));
	assert_true(audit_due(&a, 1000 + AUDIT_STALL_MS));
	/* a second later: still held, nothing moved, not yet */
	assert_int_equal(audit_counted(&a, 91, 7, 80, 3, 2000), AUDIT_WAIT);
	assert_int_equal(audit_counted(&a, 91, 7, 80, 3,
				       1000 + AUDIT_STALL_MS - 1), AUDIT_WAIT);
	assert_int_equal(audit_counted(&a, 91, 7, 80, 3,
				       1000 + AUDIT_STALL_MS), AUDIT_LOST);
	assert_int_equal(a.lost_rev, 90);
	assert_int_equal(a.lost_theirs, 7);
	assert_int_equal(a.lost_ours, 3);
}

/* A quiet span (other keys move etcd's revision) and a watch that is
 * moving are never judged lost by time. */
static void
test_audit_no_false_loss(void **state)
{
	struct etcd_audit a;
	uint64_t t;

	(void)state;
	audit_reset(&a);
	for (t = 1000; t < 60000; t += 5000)
		assert_int_equal(audit_counted(&a, 100 + t, 5, 80, 5, t),
				 AUDIT_WAIT);
	/* counts differ but the watch delivers between the counts */
	audit_reset(&a);
	for (t = 1000; t < 60000; t += 5000)
		assert_int_equal(audit_counted(&a, 100 + t, 9, 80 + t, 5, t),
				 AUDIT_WAIT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_key_parse_rejects),
		cmocka_unit_test(test_key_format_round_trip),
		cmocka_unit_test(test_span),
		cmocka_unit_test(test_parse_size_and_meta),
		cmocka_unit_test(test_parse_meta_cluster),
		cmocka_unit_test(test_token_events),
		cmocka_unit_test(test_member_events),
		cmocka_unit_test(test_alias_and_meta_events),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_int64_fields),
		cmocka_unit_test(test_audit_compares_at_the_revision),
		cmocka_unit_test(test_audit_caught_up),
		cmocka_unit_test(test_audit_stall),
		cmocka_unit_test(test_audit_no_false_loss),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
