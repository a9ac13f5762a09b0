/* etcdjson.c -- the JSON shapes of etcd's v2 keys API. */
#include "etcdjson.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "keypath.h"
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
	if (s == NULL)
		abort(); /* jansson fails only when out of memory */
	return s;
}

static json_t *
key_of(const char *token, const char *child)
{
	char key[sizeof(KEYPATH_KEY_PREFIX) + 2 * REGISTRY_NAME_MAX + 16];

	snprintf(key, sizeof(key), "%s%s%s%s", KEYPATH_KEY_PREFIX, token,
		 child ? "/" : "", child ? child : "");
	return json_string(key);
}

static json_t *
member_node(const char *token, const struct member *m)
{
	return json_pack("{s:o, s:s, s:I, s:I}", "key", key_of(token, m->id),
			 "value", m->value, "modifiedIndex",
			 (json_int_t)m->modified_index, "createdIndex",
			 (json_int_t)m->created_index);
}

char *
etcdjson_error(enum etcd_error code, const char *message, const char *cause,
	       uint64_t index)
{
	return dump(json_pack("{s:i, s:s, s:s, s:I}", "errorCode", (int)code,
			      "message", message, "cause", cause ? cause : "",
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
				      member_node(tok->name, &tok->members[i]));
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

char *
etcdjson_member(const char *action, const char *token, const struct member *m,
		const struct member *prev)
{
	json_t *o = json_pack("{s:s, s:o}", "action", action, "node",
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
