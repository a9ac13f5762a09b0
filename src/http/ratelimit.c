/* ratelimit.c -- a token bucket per client address.
 *
 * Buckets live in a fixed table; a full table forgets buckets that have
 * refilled, since those carry no state worth keeping.
 */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RL_SLOTS 65536
#define RL_PROBES 16

struct bucket {
	char addr[48];
	double tokens;
	uint64_t last_ms;
};

struct ratelimit {
	unsigned rate, burst;
	struct bucket *slots;
};

struct ratelimit *
ratelimit_new(unsigned rate, unsigned burst)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));

	rl->rate = rate;
	rl->burst = burst ? burst : 1;
	if (rate > 0)
		rl->slots = xcalloc(RL_SLOTS, sizeof(*rl->slots));
	return rl;
}

static void
refill(const struct ratelimit *rl, struct bucket *b, uint64_t now_ms)
{
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * rl->rate / 1000.0;
		if (b->tokens > rl->burst)
			b->tokens = rl->burst;
		b->last_ms = now_ms;
	}
}

/* The slot for addr: its own, an empty one, or a refilled one to reuse. */
static struct bucket *
find_slot(struct ratelimit *rl, const char *addr, uint64_t now_ms)
{
	uint32_t h = hash_string(addr);
	struct bucket *reuse = NULL;
	int i;

	for (i = 0; i < RL_PROBES; i++) {
		struct bucket *b = &rl->slots[(h + (uint32_t)i) % RL_SLOTS];

		if (b->addr[0] == '\0' || strcmp(b->addr, addr) == 0)
			return b;
		refill(rl, b, now_ms);
		if (reuse == NULL && b->tokens >= rl->burst)
			reuse = b;
	}
	if (reuse != NULL)
		reuse->addr[0] = '\0';
	return reuse;
}

int
ratelimit_allow(struct ratelimit *rl, const char *addr, uint64_t now_ms)
{
	struct bucket *b;

	if (rl->rate == 0)
		return 1;
	b = find_slot(rl, addr, now_ms);
	if (b == NULL)
		return 0; /* every nearby slot is busy: a flood, so refuse */
	if (b->addr[0] == '\0') {
		snprintf(b->addr, sizeof(b->addr), "%s", addr);
		b->tokens = rl->burst;
		b->last_ms = now_ms;
	}
	refill(rl, b, now_ms);
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->slots);
	free(rl);
}
