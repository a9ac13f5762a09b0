/* ratelimit.h -- a token bucket per client network: an IPv4 address (/32)
 * or an IPv6 /64 by default, since one IPv6 host holds a whole /64. */
#ifndef SRVGATE_RATELIMIT_H
#define SRVGATE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit_config {
	unsigned rate;	     /* tokens per second; 0 turns limiting off */
	unsigned burst;	     /* bucket size */
	unsigned v4_prefix;  /* bits of an IPv4 address that name a client */
	unsigned v6_prefix;  /* bits of an IPv6 address that name a client */
	size_t max_clients;  /* buckets kept; the least recently used goes */
};

struct ratelimit *ratelimit_new(const struct ratelimit_config *cfg);
/* Takes one token for the client at addr (text) at time now_ms; 1 when
 * allowed. An address that does not parse is its own client. */
int ratelimit_allow(struct ratelimit *rl, const char *addr, uint64_t now_ms);
size_t ratelimit_clients(const struct ratelimit *rl);
void ratelimit_free(struct ratelimit *rl);

#endif
