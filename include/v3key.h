/* v3key.h -- etcd's v3 discovery keys, as the gRPC API serves them and the
 * etcd store keeps them:
 *
 *   /_etcd/registry/<token>/_config/size    the token's size (decimal)
 *   /_etcd/registry/<token>/members/<id>    a member, as v2's /<token>/<id>
 *
 * One parser and one formatter for both, so the two cannot drift. */
#ifndef SRVGATE_V3KEY_H
#define SRVGATE_V3KEY_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define V3_REGISTRY "/_etcd/registry/"
#define V3_SIZE_SUFFIX "/_config/size"
#define V3_MEMBERS "/members/"
#define V3_PREFIX_LEN (sizeof(V3_REGISTRY) - 1)
/* The longest such key, with its terminator. */
#define V3_KEY_MAX (sizeof(V3_REGISTRY) + 2 * REGISTRY_NAME_MAX + 16)

enum v3key_kind { V3KEY_OTHER, V3KEY_SIZE, V3KEY_MEMBER };

struct v3key {
	enum v3key_kind kind;
	char token[REGISTRY_NAME_MAX + 1];
	char member[REGISTRY_NAME_MAX + 1]; /* V3KEY_MEMBER */
};

/* What a key (n bytes) names. Names that the registry could never hold
 * (upper case, too long, ...) make it V3KEY_OTHER. */
enum v3key_kind v3key_parse(const uint8_t *k, size_t n, struct v3key *out);
/* Copies [p, p+n) into out if it can be a registry name; else -1. */
int v3key_take_name(const uint8_t *p, size_t n,
		    char out[REGISTRY_NAME_MAX + 1]);
/* The size key (member NULL) or a member's key; returns its length. */
size_t v3key_format(char *buf, size_t len, const char *token,
		    const char *member);

#endif
