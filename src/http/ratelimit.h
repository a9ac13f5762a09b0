/* ratelimit.h -- a token bucket per client address. */
#ifndef SRVGATE_RATELIMIT_H
#define SRVGATE_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

/* rate: tokens per second (0 turns limiting off); burst: bucket size. */
struct ratelimit *ratelimit_new(unsigned rate, unsigned burst);
/* Takes one token for addr at time now_ms; 1 when allowed. */
int ratelimit_allow(struct ratelimit *rl, const char *addr, uint64_t now_ms);
void ratelimit_free(struct ratelimit *rl);

#endif
