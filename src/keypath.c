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

static int
parse_url(const char *url, struct peer_url *pu, char *err)
{
	const char *rest = strstr(url, "://"), *hp, *slash;
	char hostport[300];
	size_t n;
	unsigned char buf[16];

	if (rest == NULL || (size_t)(rest - url) >= sizeof(pu->scheme))
		return fail(err, "'%s' is not a URL", url);
	memcpy(pu->scheme, url, (size_t)(rest - url));
	pu->scheme[rest - url] = '\0';
	if (strcmp(pu->scheme, "http") != 0 && strcmp(pu->scheme, "https") &&
	    strcmp(pu->scheme, "unix") && strcmp(pu->scheme, "unixs"))
		return fail(err, "URL scheme must be http, https, unix or "
			    "unixs in '%s'", url);
	hp = rest + 3;
	slash = strchr(hp, '/');
	if (slash != NULL) /* etcd refuses any path, even "/" */
		return fail(err, "URL must not have a path in '%s'", url);
	n = slash ? (size_t)(slash - hp) : strlen(hp);
	if (n == 0 || n >= sizeof(hostport) || memchr(hp, '?', n) ||
	    memchr(hp, '#', n) || memchr(hp, '@', n))
		return fail(err, "bad host in '%s'", url);
	memcpy(hostport, hp, n);
	hostport[n] = '\0';
	if (split_hostport(hostport, pu->host, sizeof(pu->host), &pu->port) ||
	    pu->host[0] == '\0')
		return fail(err, "URL address must be host:port in '%s'", url);
	pu->host_is_ip = inet_pton(AF_INET, pu->host, buf) == 1 ||
			 inet_pton(AF_INET6, pu->host, buf) == 1;
	return 0;
}

int
peers_parse(const char *value, struct peer_url *out, size_t max, char *err)
{
	char buf[4096], *save = NULL, *item;
	size_t n = 0;

	if (strlen(value) >= sizeof(buf))
		return fail(err, "value is longer than %zu bytes",
			    sizeof(buf) - 1);
	/* etcd's names and URLs are printable ASCII; anything else would
	 * not survive JSON or DNS. */
	for (n = 0; value[n] != '\0'; n++)
		if ((unsigned char)value[n] <= ' ' ||
		    (unsigned char)value[n] >= 0x7f)
			return fail(err, "value has a byte 0x%02x that is not "
				    "printable ASCII", (unsigned char)value[n]);
	n = 0;
	strcpy(buf, value);
	for (item = strtok_r(buf, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (n == max)
			return fail(err, "more than %zu peer URLs", max);
		if (eq == NULL || eq == item ||
		    (size_t)(eq - item) >= sizeof(out[n].name))
			return fail(err, "'%s' is not name=url", item);
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(out[n].name, item, (size_t)(eq - item));
		if (parse_url(eq + 1, &out[n], err) != 0)
			return -1;
		n++;
	}
	if (n == 0)
		return fail(err, "value holds no name=url");
	return (int)n;
}
