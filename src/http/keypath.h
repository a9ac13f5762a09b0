/* keypath.h -- parsers for what etcd's discovery client sends: request paths
 * and member values. Pure functions, no I/O. */
#ifndef SRVGATE_KEYPATH_H
#define SRVGATE_KEYPATH_H

#include <stddef.h>

#include "registry.h"

/* The v2 keys prefix under which etcd itself keeps discovery tokens. */
#define KEYPATH_V2_PREFIX "/v2/keys/_etcd/registry"
/* The key prefix the JSON answers use, as etcd's v2 store would. */
#define KEYPATH_KEY_PREFIX "/_etcd/registry/"

enum key_kind {
	KEY_TOKEN,	/* /<token> */
	KEY_MEMBER,	/* /<token>/<member-id> */
	KEY_CONFIG_DIR, /* /<token>/_config */
	KEY_SIZE,	/* /<token>/_config/size */
};

struct keypath {
	enum key_kind kind;
	char token[REGISTRY_NAME_MAX + 1];
	char member[REGISTRY_NAME_MAX + 1];
};

/* Parses a request path ("/<token>/<id>", optionally under the v2 keys
 * prefix, a trailing slash allowed). Returns 0 or -1 with err filled in. */
int keypath_parse(const char *path, struct keypath *kp, char *err);

#endif
