/* keyspace.h -- the v3 key space srvgate serves, over the registry:
 *
 *   /_etcd/registry/<token>/_config/size    the token's size (decimal)
 *   /_etcd/registry/<token>/members/<id>    a member, as v2's /<token>/<id>
 *
 * Keys sort as etcd sorts them (bytewise), so a range visits tokens in the
 * order of "<token>/" and members in the order of their ids. Nothing else
 * exists; every other key is empty. */
#ifndef SRVGATE_GRPC_KEYSPACE_H
#define SRVGATE_GRPC_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"
#include "v3key.h"

/* [key, end) as etcd reads a request's key and range_end: no end is the
 * key alone, an end of one zero byte is every key from key on. */
struct v3range {
	const uint8_t *key;
	size_t klen;
	const uint8_t *end;
	size_t elen;
};

int v3range_has(const struct v3range *r, const uint8_t *k, size_t n);

/* Whether any key of the token can be in the range. */
int v3range_touches(const struct v3range *r, const char *token);

/* Which tokens a range can touch. */
enum v3range_scope {
	V3SCOPE_NONE,  /* no key srvgate could ever have */
	V3SCOPE_TOKEN, /* only keys of one token (named in token) */
	V3SCOPE_WIDE,  /* keys of any number of tokens */
};
enum v3range_scope v3range_scope(const struct v3range *r,
				 char token[REGISTRY_NAME_MAX + 1]);

/* One key: a member's, or (m NULL) the token's size key. */
struct v3ref {
	const struct token *tok;
	const struct member *m;
};

/* Called per key in key order; a nonzero return stops the walk. */
typedef int (*v3scan_fn)(const struct v3ref *ref, void *arg);

/* Visits every key of the range that the registry holds now. */
void v3scan(const struct registry *reg, const struct v3range *r,
	    v3scan_fn fn, void *arg);

/* A key's bytes (into buf, V3_KEY_MAX); returns the length. */
size_t v3ref_key(const struct v3ref *ref, char *buf);

#endif
