/* etcdjson.c -- the JSON shapes of etcd's v2 keys API. */
#include "etcdjson.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keypath.h"
#include "peers.h"
#include "util.h"

const char *
etcdjson_action_name(enum member_action action)
{
	static const char *names[] = { "create", "set", "update", "delete" };

	return names[action];
}

static char *
dump(json_t *o, int pretty)
{
	char *s = json_dumps(o, pretty ? JSON_INDENT(2) : JSON_COMPACT);

	json_decref(o);
	if (s == NULL) /* only when out of memory: inputs pass through text() */
		abort();
	return s;
}

/* A JSON string of s, with bytes that are not UTF-8 as U+FFFD; error
 * causes quote what clients sent, and jansson takes only UTF-8. */
static json_t *
text(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *clean;
	size_t i, n;

	if (j != NULL)
		return j;
	n = strlen(s);
	clean = xmalloc(n * 3 + 1);
	for (i = 0, n = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] < 0x80) {
			clean[n++] = s[i];
		} else {
			memcpy(clean + n, "\xef\xbf\xbd", 3);
			n += 3;
		}
	}
	clean[n] = '\0';
	j = json_string(clean);
	free(clean);
	return j;
}

#define KEY_SIZE (sizeof(KEYPATH_KEY_PREFIX) + 2 * REGISTRY_NAME_MAX + 16)

/* The etcd key of token (and child): "<prefix><token>[/<child>]". */
static void
key_path(char key[KEY_SIZE], const char *token, const char *child)
{
	const char *parts[] = { KEYPATH_KEY_PREFIX, token, child ? "/" : "",
				child ? child : "" };

	join_str(key, KEY_SIZE, parts, 4);
}

static json_t *
key_of(const char *token, const char *child)
{
	char key[KEY_SIZE];

	key_path(key, token, child);
	return text(key);
}

static json_t *
member_node(const char *token, const struct member *m)
{
	return json_pack("{s:o, s:o, s:I, s:I}", "key", key_of(token, m->id),
			 "value", text(m->value), "modifiedIndex",
			 (json_int_t)m->modified_index, "createdIndex",
			 (json_int_t)m->created_index);
}

char *
etcdjson_error(enum etcd_error code, const char *message, const char *cause,
	       uint64_t index)
{
	return dump(json_pack("{s:i, s:o, s:o, s:I}", "errorCode", (int)code,
			      "message", text(message), "cause", text(cause),
			      "index", (json_int_t)index),
		    0);
}

char *
etcdjson_token_dir(const struct token *tok, int pretty)
{
	json_t *nodes = json_array();
	size_t i;

	for (i = 0; i < tok->nmembers; i++)
		json_array_append_new(nodes,
				      member_node(tok->name, tok->members[i]));
	return dump(json_pack("{s:s, s:{s:o, s:b, s:o, s:I, s:I}}", "action",
			      "get", "node", "key", key_of(tok->name, NULL),
			      "dir", 1, "nodes", nodes, "modifiedIndex",
			      (json_int_t)tok->created_index, "createdIndex",
			      (json_int_t)tok->created_index),
		    pretty);
}

static json_t *
size_node(const struct token *tok)
{
	char size[16];

	snprintf(size, sizeof(size), "%u", tok->size);
	return json_pack("{s:o, s:s, s:I, s:I}", "key",
			 key_of(tok->name, "_config/size"), "value", size,
			 "modifiedIndex", (json_int_t)tok->created_index,
			 "createdIndex", (json_int_t)tok->created_index);
}

char *
etcdjson_config_dir(const struct token *tok)
{
	return dump(json_pack("{s:s, s:{s:o, s:b, s:[o], s:I, s:I}}", "action",
			      "get", "node", "key",
			      key_of(tok->name, "_config"), "dir", 1, "nodes",
			      size_node(tok), "modifiedIndex",
			      (json_int_t)tok->created_index, "createdIndex",
			      (json_int_t)tok->created_index),
		    0);
}

char *
etcdjson_size(const struct token *tok)
{
	return dump(json_pack("{s:s, s:o}", "action", "get", "node",
			      size_node(tok)),
		    0);
}

/* member_node's JSON, written straight; 0 when a string needs jansson. */
static int
put_member_node(char **at, const char *token, const struct member *m)
{
	char key[KEY_SIZE];

	key_path(key, token, m->id);
	*at = stpcpy(*at, "{\"key\":");
	if (!json_put_plain(at, key))
		return 0;
	*at = stpcpy(*at, ",\"value\":");
	if (!json_put_plain(at, m->value))
		return 0;
	*at = stpcpy(*at, ",\"modifiedIndex\":");
	json_put_int(at, (int64_t)m->modified_index);
	*at = stpcpy(*at, ",\"createdIndex\":");
	json_put_int(at, (int64_t)m->created_index);
	*(*at)++ = '}';
	return 1;
}

/* The member answer of every registration: the bytes jansson's compact
 * dump gives, written without building the object (its allocations and
 * formatting were a large share of the event loop's time per request). */
static char *
member_plain(const char *action, const char *token, const struct member *m,
	     const struct member *prev)
{
	/* per node: the key (prefix, token, id), value, two indexes, names */
	size_t node = sizeof(KEYPATH_KEY_PREFIX) + 2 * REGISTRY_NAME_MAX + 128;
	size_t n = strlen(action) + 64 + node + strlen(m->value) +
		   (prev ? node + strlen(prev->value) : 0);
	char *s = xmalloc(n), *at = s;

	at = stpcpy(at, "{\"action\":");
	if (!json_put_plain(&at, action))
		goto slow;
	at = stpcpy(at, ",\"node\":");
	if (!put_member_node(&at, token, m))
		goto slow;
	if (prev != NULL) {
		at = stpcpy(at, ",\"prevNode\":");
		if (!put_member_node(&at, token, prev))
			goto slow;
	}
	strcpy(at, "}");
	return s;
slow:
	free(s);
	return NULL;
}

char *
etcdjson_member(const char *action, const char *token, const struct member *m,
		const struct member *prev)
{
	char *s = member_plain(action, token, m, prev);
	json_t *o;

	if (s != NULL)
		return s;
	o = json_pack("{s:s, s:o}", "action", action, "node",
		      member_node(token, m));
	if (prev != NULL)
		json_object_set_new(o, "prevNode", member_node(token, prev));
	return dump(o, 0);
}

char *
etcdjson_member_deleted(const char *token, const struct member *prev,
			uint64_t index)
{
	return dump(json_pack("{s:s, s:{s:o, s:I, s:I}, s:o}", "action",
			      "delete", "node", "key", key_of(token, prev->id),
			      "modifiedIndex", (json_int_t)index,
			      "createdIndex", (json_int_t)prev->created_index,
			      "prevNode", member_node(token, prev)),
		    0);
}

char *
etcdjson_token_deleted(const struct token *tok, uint64_t index)
{
	return dump(json_pack("{s:s, s:{s:o, s:b, s:I, s:I}, s:{s:o, s:b, "
			      "s:I, s:I}}",
			      "action", "delete", "node", "key",
			      key_of(tok->name, NULL), "dir", 1,
			      "modifiedIndex", (json_int_t)index,
			      "createdIndex", (json_int_t)tok->created_index,
			      "prevNode", "key", key_of(tok->name, NULL), "dir",
			      1, "modifiedIndex",
			      (json_int_t)tok->created_index, "createdIndex",
			      (json_int_t)tok->created_index),
		    0);
}
