/* peers.c -- etcd's member values: `name=url[,name=url...]`. */
#include "peers.h"

#include <arpa/inet.h>
#include <string.h>

#include "util.h"

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
