/* test_etcdjson.c -- the JSON etcd's discovery client decodes, parsed back
 * with jansson. Field names and types matter: Go's decoder drops a field
 * whose key is misspelt and fails on one whose type is wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "etcdjson.h"
#include "registry_internal.h"

#define BIG_INDEX 5000000000ULL /* past 32 bits */

/* ---- helpers ---- */

/* Parses and frees s, which must be one JSON object. */
static json_t *
parse(char *s)
{
	json_error_t jerr;
	json_t *o;

	assert_non_null(s);
	o = json_loads(s, 0, &jerr);
	if (o == NULL)
		fail_msg("not JSON (%s): %s", jerr.text, s);
	free(s);
	assert_true(json_is_object(o));
	return o;
}

static const char *
str(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(v);
}

static json_int_t
num(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", key);
	return json_integer_value(v);
}

static json_t *
obj(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_object(v))
		fail_msg("\"%s\" is not an object", key);
	return v;
}

static void
check_member_node(const json_t *n, const char *key, const char *value,
		  json_int_t created, json_int_t modified)
{
	assert_string_equal(str(n, "key"), key);
	assert_string_equal(str(n, "value"), value);
	assert_int_equal(num(n, "createdIndex"), created);
	assert_int_equal(num(n, "modifiedIndex"), modified);
	assert_null(json_object_get(n, "dir"));
}

static void
set_member(struct member *m, const char *id, char *value, uint64_t created,
	   uint64_t modified)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->value = value;
	m->created_index = created;
	m->modified_index = modified;
}

/* Applies a committed change, as a store would report it. */
static void
commit_change(struct registry *reg, enum change_kind kind, const char *name,
	      const char *value, uint64_t index)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.index = index;
	strcpy(c.token, "abc");
	strcpy(c.name, name);
	c.size = 3;
	c.value = (char *)value;
	c.action = ACTION_CREATE;
	registry_apply(reg, &c);
}

/* An empty token "abc" of size 3, made at index 1. */
static struct token *
make_empty_token(struct registry *reg)
{
	registry_init(reg, 10);
	commit_change(reg, CHANGE_TOKEN_PUT, "", NULL, 1);
	return registry_find_token(reg, "abc");
}

/* A token "abc" of size 3 holding m2 (created first) and m1. */
static struct token *
make_token(struct registry *reg)
{
	struct token *tok = make_empty_token(reg);

	commit_change(reg, CHANGE_MEMBER_PUT, "m2", "m2=http://10.0.0.2:2380",
		      2);
	commit_change(reg, CHANGE_MEMBER_PUT, "m1", "m1=http://10.0.0.1:2380",
		      3);
	return tok;
}

/* ---- tests ---- */

static void
check_token_dir(char *s)
{
	json_t *o = parse(s), *node, *nodes;

	assert_string_equal(str(o, "action"), "get");
	node = obj(o, "node");
	assert_string_equal(str(node, "key"), "/_etcd/registry/abc");
	assert_true(json_is_true(json_object_get(node, "dir")));
	assert_null(json_object_get(node, "value"));
	assert_int_equal(num(node, "createdIndex"), 1);
	nodes = json_object_get(node, "nodes");
	assert_true(json_is_array(nodes));
	assert_int_equal(json_array_size(nodes), 2);
	/* etcd forms its cluster from the first nodes, so order matters. */
	check_member_node(json_array_get(nodes, 0), "/_etcd/registry/abc/m2",
			  "m2=http://10.0.0.2:2380", 2, 2);
	check_member_node(json_array_get(nodes, 1), "/_etcd/registry/abc/m1",
			  "m1=http://10.0.0.1:2380", 3, 3);
	json_decref(o);
}

static void
test_token_dir(void **state)
{
	struct registry reg;
	struct token *tok = make_token(&reg);

	(void)state;
	check_token_dir(etcdjson_token_dir(tok, 0));
	check_token_dir(etcdjson_token_dir(tok, 1));
	registry_free(&reg);
}

static void
test_token_dir_empty(void **state)
{
	struct registry reg;
	struct token *tok = NULL;
	json_t *o, *nodes;

	(void)state;
	tok = make_empty_token(&reg);
	o = parse(etcdjson_token_dir(tok, 0));
	nodes = json_object_get(obj(o, "node"), "nodes");
	/* Absent or empty both decode to no nodes in Go. */
	assert_true(nodes == NULL || json_array_size(nodes) == 0);
	json_decref(o);
	registry_free(&reg);
}

static void
test_size(void **state)
{
	struct registry reg;
	struct token *tok = make_token(&reg);
	json_t *o, *node;

	(void)state;
	o = parse(etcdjson_size(tok));
	assert_string_equal(str(o, "action"), "get");
	node = obj(o, "node");
	assert_string_equal(str(node, "key"),
			    "/_etcd/registry/abc/_config/size");
	/* A string: etcd runs strconv.ParseInt on node.Value. */
	assert_string_equal(str(node, "value"), "3");
	assert_int_equal(num(node, "createdIndex"), 1);
	assert_int_equal(num(node, "modifiedIndex"), 1);
	json_decref(o);
	registry_free(&reg);
}

static void
test_config_dir(void **state)
{
	struct registry reg;
	struct token *tok = make_token(&reg);
	json_t *o, *node, *nodes;

	(void)state;
	o = parse(etcdjson_config_dir(tok));
	assert_string_equal(str(o, "action"), "get");
	node = obj(o, "node");
	assert_string_equal(str(node, "key"), "/_etcd/registry/abc/_config");
	assert_true(json_is_true(json_object_get(node, "dir")));
	nodes = json_object_get(node, "nodes");
	assert_int_equal(json_array_size(nodes), 1);
	assert_string_equal(str(json_array_get(nodes, 0), "key"),
			    "/_etcd/registry/abc/_config/size");
	assert_string_equal(str(json_array_get(nodes, 0), "value"), "3");
	json_decref(o);
	registry_free(&reg);
}

static void
test_member_created(void **state)
{
	struct member m;
	char v[] = "m1=http://10.0.0.1:2380";
	json_t *o;

	(void)state;
	set_member(&m, "m1", v, BIG_INDEX, BIG_INDEX);
	o = parse(etcdjson_member("create", "abc", &m, NULL));
	assert_string_equal(str(o, "action"), "create");
	check_member_node(obj(o, "node"), "/_etcd/registry/abc/m1", v,
			  (json_int_t)BIG_INDEX, (json_int_t)BIG_INDEX);
	assert_null(json_object_get(o, "prevNode"));
	json_decref(o);
}

static void
test_member_with_prev(void **state)
{
	struct member m, prev;
	char v[] = "m1=http://10.0.0.9:2380", pv[] = "m1=http://10.0.0.1:2380";
	json_t *o;

	(void)state;
	set_member(&m, "m1", v, 4, 9);
	set_member(&prev, "m1", pv, 4, 6);
	o = parse(etcdjson_member("set", "abc", &m, &prev));
	assert_string_equal(str(o, "action"), "set");
	check_member_node(obj(o, "node"), "/_etcd/registry/abc/m1", v, 4, 9);
	check_member_node(obj(o, "prevNode"), "/_etcd/registry/abc/m1", pv, 4,
			  6);
	json_decref(o);
}

/* jansson's compact dump of the member answer, as etcdjson built it
 * before it wrote the plain case itself. */
static char *
member_by_jansson(const char *action, const char *token,
		  const struct member *m, const struct member *prev)
{
	char key[300];
	json_t *o;
	char *s;

	snprintf(key, sizeof(key), "/_etcd/registry/%s/%s", token, m->id);
	o = json_pack("{s:s, s:{s:s, s:s, s:I, s:I}}", "action", action,
		      "node", "key", key, "value", m->value, "modifiedIndex",
		      (json_int_t)m->modified_index, "createdIndex",
		      (json_int_t)m->created_index);
	if (prev != NULL) {
		snprintf(key, sizeof(key), "/_etcd/registry/%s/%s", token,
			 prev->id);
		json_object_set_new(o, "prevNode", json_pack(
			"{s:s, s:s, s:I, s:I}", "key", key, "value",
			prev->value, "modifiedIndex",
			(json_int_t)prev->modified_index, "createdIndex",
			(json_int_t)prev->created_index));
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* The member answer is written without jansson when nothing needs
 * escaping: byte for byte what jansson writes, plain or not. */
static void
test_member_bytes(void **state)
{
	static const char *values[] = {
		"m1=http://10.0.0.1:2380", "m1=http://[::1]:2380,m2=x", "",
		"a\"b", "a\\b", "tab\there", "caf\xc3\xa9", "~ !#$%&'()*+/",
	};
	struct member m, prev;
	char v[64], pv[] = "m1=http://10.0.0.1:2380";
	char *got, *want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(v, sizeof(v), "%s", values[i]);
		set_member(&m, "node-1", v, BIG_INDEX, BIG_INDEX + 7);
		set_member(&prev, "node-1", pv, 3, 0);
		got = etcdjson_member("create", "0f3a", &m, NULL);
		want = member_by_jansson("create", "0f3a", &m, NULL);
		assert_string_equal(got, want);
		free(got);
		free(want);
		got = etcdjson_member("update", "0f3a", &m, &prev);
		want = member_by_jansson("update", "0f3a", &m, &prev);
		assert_string_equal(got, want);
		free(got);
		free(want);
	}
}

static void
test_member_deleted(void **state)
{
	struct member prev;
	char pv[] = "m1=http://10.0.0.1:2380";
	json_t *o, *node;

	(void)state;
	set_member(&prev, "m1", pv, 4, 6);
	o = parse(etcdjson_member_deleted("abc", &prev, 11));
	assert_string_equal(str(o, "action"), "delete");
	node = obj(o, "node");
	assert_string_equal(str(node, "key"), "/_etcd/registry/abc/m1");
	/* The node is the key after deletion: no value, modified then. */
	assert_null(json_object_get(node, "value"));
	assert_int_equal(num(node, "modifiedIndex"), 11);
	assert_int_equal(num(node, "createdIndex"), 4);
	check_member_node(obj(o, "prevNode"), "/_etcd/registry/abc/m1", pv, 4,
			  6);
	json_decref(o);
}

static void
test_token_deleted(void **state)
{
	struct registry reg;
	struct token *tok = make_token(&reg);
	json_t *o, *node, *prev;

	(void)state;
	o = parse(etcdjson_token_deleted(tok, 42));
	assert_string_equal(str(o, "action"), "delete");
	node = obj(o, "node");
	assert_string_equal(str(node, "key"), "/_etcd/registry/abc");
	assert_true(json_is_true(json_object_get(node, "dir")));
	assert_int_equal(num(node, "modifiedIndex"), 42);
	assert_int_equal(num(node, "createdIndex"), 1);
	prev = obj(o, "prevNode");
	assert_string_equal(str(prev, "key"), "/_etcd/registry/abc");
	assert_true(json_is_true(json_object_get(prev, "dir")));
	assert_int_equal(num(prev, "createdIndex"), 1);
	json_decref(o);
	registry_free(&reg);
}

static void
test_error(void **state)
{
	json_t *o;

	(void)state;
	o = parse(etcdjson_error(ETCD_NODE_EXIST, "Key already exists",
				 "/_etcd/registry/abc/m1", BIG_INDEX));
	/* An int, not "105": etcd's client switches on the number. */
	assert_int_equal(num(o, "errorCode"), 105);
	assert_string_equal(str(o, "message"), "Key already exists");
	assert_string_equal(str(o, "cause"), "/_etcd/registry/abc/m1");
	assert_int_equal(num(o, "index"), (json_int_t)BIG_INDEX);
	json_decref(o);
	o = parse(etcdjson_error(ETCD_KEY_NOT_FOUND, "Key not found", NULL, 7));
	assert_int_equal(num(o, "errorCode"), 100);
	assert_string_equal(str(o, "cause"), "");
	json_decref(o);
}

static void
test_escaping(void **state)
{
	json_t *o;

	(void)state;
	/* Causes echo client input; quotes must not break the JSON. */
	o = parse(etcdjson_error(ETCD_INVALID_FIELD, "Invalid field",
				 "'\"}\\\n' is not name=url", 1));
	assert_string_equal(str(o, "cause"), "'\"}\\\n' is not name=url");
	json_decref(o);
}

/* Runs fn in a child, so that an abort() in it cannot take this binary
 * down; true when fn returned true. */
static int
survives(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn() ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int
error_not_utf8(void)
{
	/* peers_parse quotes the value in its error, and an HTTP form may
	 * percent-encode any byte: value=%FF gives this cause. */
	char *s = etcdjson_error(ETCD_INVALID_FIELD, "Invalid field",
				 "'\xff' is not name=url", 3);
	json_t *o = s ? json_loads(s, 0, NULL) : NULL;
	int ok = o != NULL &&
		 json_integer_value(json_object_get(o, "errorCode")) == 209;

	json_decref(o);
	free(s);
	return ok;
}

static int
member_not_utf8(void)
{
	/* peers_parse does not look inside names. */
	struct member m;
	char v[] = "m\xc3=http://10.0.0.1:2380";
	char *s;
	json_t *o;
	int ok;

	set_member(&m, "m1", v, 2, 2);
	s = etcdjson_member("create", "abc", &m, NULL);
	o = s ? json_loads(s, 0, NULL) : NULL;
	ok = o != NULL && json_is_string(json_object_get(
				  json_object_get(o, "node"), "value"));
	json_decref(o);
	free(s);
	return ok;
}

/* jansson refuses strings that are not UTF-8; the answer must still be
 * JSON rather than abort() the server. */
static void
test_error_not_utf8(void **state)
{
	(void)state;
	assert_true(survives(error_not_utf8));
}

static void
test_member_not_utf8(void **state)
{
	(void)state;
	assert_true(survives(member_not_utf8));
}

static void
test_action_names(void **state)
{
	(void)state;
	assert_string_equal(etcdjson_action_name(ACTION_CREATE), "create");
	assert_string_equal(etcdjson_action_name(ACTION_SET), "set");
	assert_string_equal(etcdjson_action_name(ACTION_UPDATE), "update");
	assert_string_equal(etcdjson_action_name(ACTION_DELETE), "delete");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_dir),
		cmocka_unit_test(test_token_dir_empty),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_config_dir),
		cmocka_unit_test(test_member_created),
		cmocka_unit_test(test_member_with_prev),
		cmocka_unit_test(test_member_deleted),
		cmocka_unit_test(test_token_deleted),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_error_not_utf8),
		cmocka_unit_test(test_member_not_utf8),
		cmocka_unit_test(test_member_bytes),
		cmocka_unit_test(test_action_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
