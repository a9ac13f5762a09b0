/* lookup.h -- what `srvgate lookup` found, shared by lookup.c (DNS) and
 * lookup_names.c (the member names, which DNS does not carry). */
#ifndef SRVGATE_LOOKUP_H
#define SRVGATE_LOOKUP_H

#include <stddef.h>

#include "peers.h"

struct peer {
	char scheme[8];
	char target[256];
	unsigned port;
	char addrs[512];
	int resolved;
	char name[sizeof(((struct peer_url *)0)->name)]; /* "" when unknown */
};

/* Fills in peers[i].name from the member values (`name=url`) of the token
 * that DOMAIN's first label names, as the srvgate at gateway holds it: a
 * hostname target matches the URL with that host, port and scheme; an
 * `<member-id>.DOMAIN` target (an IP peer) the member of that id. Returns
 * how many peers got a name, or -1 with err saying why none could. */
int lookup_names(struct peer *peers, size_t n, const char *gateway,
		 const char *domain, char *err);

#endif
