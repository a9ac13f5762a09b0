/* v3key.c -- etcd's v3 discovery keys (see v3key.h). */
#include "v3key.h"

#include <stdio.h>
#include <string.h>

int
v3key_take_name(const uint8_t *p, size_t n, char out[REGISTRY_NAME_MAX + 1])
{
	if (n == 0 || n > REGISTRY_NAME_MAX || memchr(p, '\0', n) != NULL)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return registry_valid_name(out) ? 0 : -1;
}

enum v3key_kind
v3key_parse(const uint8_t *k, size_t n, struct v3key *out)
{
	const uint8_t *name, *slash, *rest;
	size_t left;

	memset(out, 0, sizeof(*out));
	if (n <= V3_PREFIX_LEN || memcmp(k, V3_REGISTRY, V3_PREFIX_LEN) != 0)
		return V3KEY_OTHER;
	name = k + V3_PREFIX_LEN;
	slash = memchr(name, '/', n - V3_PREFIX_LEN);
	if (slash == NULL ||
	    v3key_take_name(name, (size_t)(slash - name), out->token) != 0)
		return V3KEY_OTHER;
	left = n - (size_t)(slash - k);
	if (left == sizeof(V3_SIZE_SUFFIX) - 1 &&
	    memcmp(slash, V3_SIZE_SUFFIX, left) == 0)
		return out->kind = V3KEY_SIZE;
	if (left <= sizeof(V3_MEMBERS) - 1 ||
	    memcmp(slash, V3_MEMBERS, sizeof(V3_MEMBERS) - 1) != 0)
		return V3KEY_OTHER;
	rest = slash + sizeof(V3_MEMBERS) - 1;
	if (v3key_take_name(rest, left - (sizeof(V3_MEMBERS) - 1),
			    out->member) != 0)
		return V3KEY_OTHER;
	return out->kind = V3KEY_MEMBER;
}

size_t
v3key_format(char *buf, size_t len, const char *token, const char *member)
{
	int n;

	if (member == NULL)
		n = snprintf(buf, len, "%s%s%s", V3_REGISTRY, token,
			     V3_SIZE_SUFFIX);
	else
		n = snprintf(buf, len, "%s%s%s%s", V3_REGISTRY, token,
			     V3_MEMBERS, member);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}
