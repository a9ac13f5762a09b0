/* etcdjson.h -- the JSON shapes of etcd's v2 keys API, built with jansson.
 * Every function returns a string the caller frees. */
#ifndef SRVGATE_ETCDJSON_H
#define SRVGATE_ETCDJSON_H

#include <stdint.h>

#include "registry.h"

/* etcd v2 error codes that the discovery protocol relies on. */
enum etcd_error {
	ETCD_KEY_NOT_FOUND = 100,
	ETCD_NOT_A_FILE = 102,
	ETCD_NODE_EXIST = 105,
	ETCD_ROOT_READ_ONLY = 107,
	ETCD_UNAUTHORIZED = 110,
	ETCD_VALUE_REQUIRED = 200,
	ETCD_INDEX_NAN = 203,
	ETCD_INVALID_FIELD = 209,
	ETCD_INVALID_FORM = 210,
	ETCD_RAFT_INTERNAL = 300,
	ETCD_EVENT_INDEX_CLEARED = 401,
};

char *etcdjson_error(enum etcd_error code, const char *message,
		     const char *cause, uint64_t index);
/* {"action":"get","node":{dir listing of the token's members}} */
char *etcdjson_token_dir(const struct token *tok, int pretty);
/* {"action":"get","node":{"key":".../_config","dir":true,"nodes":[size]}} */
char *etcdjson_config_dir(const struct token *tok);
/* {"action":"get","node":{"key":".../_config/size","value":"3",...}} */
char *etcdjson_size(const struct token *tok);
/* {"action":A,"node":{member}[,"prevNode":{...}]} */
char *etcdjson_member(const char *action, const char *token,
		      const struct member *m, const struct member *prev);
/* A delete event: node carries the deletion index, prevNode the member. */
char *etcdjson_member_deleted(const char *token, const struct member *prev,
			      uint64_t index);
char *etcdjson_token_deleted(const struct token *tok, uint64_t index);

const char *etcdjson_action_name(enum member_action action);

#endif
