/* peers.h -- parsing etcd's member values (`name=url[,name=url...]`), which
 * the registry checks, DNS publishes and the tools read. Pure functions. */
#ifndef SRVGATE_PEERS_H
#define SRVGATE_PEERS_H

#include <stddef.h>

#include "registry.h"

/* One `name=url` of a member value; pointers into caller-owned storage. */
struct peer_url {
	char name[REGISTRY_NAME_MAX * 4 + 1];
	char scheme[8];	  /* http, https, unix or unixs */
	char host[256];	  /* without brackets for IPv6 */
	unsigned port;
	int host_is_ip;	  /* an IPv4 or IPv6 literal */
};

#define PEERS_MAX 16

/* Parses an etcd URLsMap string: `name=url[,name=url...]`, the format a
 * member registers. Checks each URL as etcd does: http/https/unix/unixs,
 * host:port, no path. Returns how many, or -1 with err filled in. */
int peers_parse(const char *value, struct peer_url *out, size_t max,
		char *err);

#endif
