/* acl.c -- --allow-transfer rules. */
#include "acl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static int
parse_rule(struct acl_rule *r, const char *spec,
	   const struct tsig_keyring *kr, char *err)
{
	char addr[128];
	const char *at = strchr(spec, '@'), *slash;
	size_t n = at ? (size_t)(at - spec) : strlen(spec);
	unsigned max;
	uint64_t prefix;
	void *dst;

	if (n >= sizeof(addr))
		return fail(err, "--allow-transfer: '%s' is too long", spec);
	snprintf(addr, sizeof(addr), "%.*s", (int)n, spec);
	slash = strchr(addr, '/');
	memset(r, 0, sizeof(*r));
	if (slash != NULL)
		addr[slash - addr] = '\0';
	r->net.ss_family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	max = r->net.ss_family == AF_INET6 ? 128 : 32;
	dst = r->net.ss_family == AF_INET6 ?
		(void *)&((struct sockaddr_in6 *)&r->net)->sin6_addr :
		(void *)&((struct sockaddr_in *)&r->net)->sin_addr;
	if (inet_pton(r->net.ss_family, addr, dst) != 1 ||
	    (slash && parse_uint(slash + 1, 0, max, &prefix) != 0))
		return fail(err, "--allow-transfer: '%s' is not an address or "
			    "CIDR", spec);
	r->prefix = slash ? (unsigned)prefix : max;
	if (at != NULL && (r->key = tsig_key_find(kr, at + 1)) == NULL)
		return fail(err, "--allow-transfer %s: no --tsig-key named "
			    "'%s'", spec, at + 1);
	return 0;
}

int
acl_parse(struct acl *a, const struct config_list *specs,
	  const struct tsig_keyring *kr, char *err)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < specs->n; i++)
		if (parse_rule(&a->rules[a->n++], specs->items[i], kr, err))
			return -1;
	return 0;
}

static const uint8_t *
addr_bytes(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)sa)
			->sin_addr;
	return (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
}

static int
addr_in(const struct sockaddr *sa, const struct acl_rule *r)
{
	const uint8_t *a, *b;
	unsigned bits = r->prefix, i;

	if (sa->sa_family != r->net.ss_family)
		return 0;
	a = addr_bytes(sa);
	b = addr_bytes((const struct sockaddr *)&r->net);
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a[i] != b[i])
			return 0;
	return bits == 0 || ((a[i] ^ b[i]) & (0xFF00 >> bits)) == 0;
}

const struct tsig_key *
acl_key_wanted(const struct acl *a, const struct sockaddr *peer)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (addr_in(peer, &a->rules[i]) && a->rules[i].key != NULL)
			return a->rules[i].key;
	return NULL;
}

int
acl_allows(const struct acl *a, const struct sockaddr *peer,
	   const struct tsig_key *used)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (addr_in(peer, &a->rules[i]) &&
		    (a->rules[i].key == NULL || a->rules[i].key == used))
			return 1;
	return 0;
}
