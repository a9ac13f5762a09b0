/* keypath.c -- parsers for request paths and member values. */
#include "keypath.h"

#include <arpa/inet.h>
#include <string.h>

#include "util.h"

/* Copies the next path segment; returns its length, -1 if too long. */
static int
next_segment(const char **p, char *out, size_t outlen)
{
	const char *s = *p, *end = strchr(s, '/');
	size_t n = end ? (size_t)(end - s) : strlen(s);

	if (n >= outlen)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	*p = s + n + (end != NULL);
	return (int)n;
}

int
keypath_parse(const char *path, struct keypath *kp, char *err)
{
	char seg[REGISTRY_NAME_MAX + 1];
	const char *p = path;
	size_t plen = strlen(KEYPATH_V2_PREFIX);

	memset(kp, 0, sizeof(*kp));
	if (strncmp(p, KEYPATH_V2_PREFIX, plen) == 0 &&
	    (p[plen] == '/' || p[plen] == '\0'))
		p += plen;
	if (*p++ != '/')
		return fail(err, "path must start with /");
	if (next_segment(&p, kp->token, sizeof(kp->token)) <= 0 ||
	    !registry_valid_name(kp->token))
		return fail(err, "'%s' is not a token name", path);
	kp->kind = KEY_TOKEN;
	if (*p == '\0')
		return 0;
	if (next_segment(&p, seg, sizeof(seg)) <= 0)
		return fail(err, "bad key '%s'", path);
	if (strcmp(seg, "_config") == 0) {
		kp->kind = KEY_CONFIG_DIR;
		if (*p == '\0')
			return 0;
		if (next_segment(&p, seg, sizeof(seg)) <= 0 ||
		    strcmp(seg, "size") != 0 || *p != '\0')
			return fail(err, "no such key '%s'", path);
		kp->kind = KEY_SIZE;
		return 0;
	}
	if (!registry_valid_name(seg) || *p != '\0')
		return fail(err, "'%s' is not a member key", path);
	strcpy(kp->member, seg);
	kp->kind = KEY_MEMBER;
	return 0;
}
