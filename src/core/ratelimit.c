/* ratelimit.c -- a token bucket per client network (HTTP and gRPC writes).
 *
 * Buckets live in the SipHash-keyed hash table, so no client can choose
 * addresses that pile into one chain; when the table holds max_clients the
 * least recently used bucket is forgotten. A flood of new addresses thus
 * costs the flooder its own buckets' history, never another client's
 * right to be answered.
 */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htable.h"
#include "lru.h"
#include "util.h"

struct bucket {
	struct hnode node;
	struct lru_node lru; /* the least recently used goes first */
	uint8_t key[17];	      /* family byte and masked address */
	double tokens;
	uint64_t last_ms;
};

struct ratelimit {
	struct ratelimit_config cfg;
	struct htable buckets;
	struct lru lru;
	size_t count;
};

struct ratelimit *
ratelimit_new(const struct ratelimit_config *cfg)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));

	rl->cfg = *cfg;
	if (rl->cfg.burst == 0)
		rl->cfg.burst = 1;
	if (rl->cfg.max_clients == 0)
		rl->cfg.max_clients = 65536;
	htable_init(&rl->buckets);
	return rl;
}

/* The client's network: the address with the bits past the prefix off. */
static void
client_key(const struct ratelimit *rl, const char *addr, uint8_t key[17])
{
	unsigned bits, i;

	memset(key, 0, 17);
	if (inet_pton(AF_INET, addr, key + 1) == 1) {
		key[0] = 4;
		bits = rl->cfg.v4_prefix;
	} else if (inet_pton(AF_INET6, addr, key + 1) == 1) {
		key[0] = 6;
		bits = rl->cfg.v6_prefix;
	} else {
		key[0] = 0; /* not an address: a hash of the text */
		snprintf((char *)key + 1, 16, "%s", addr);
		return;
	}
	for (i = 0; i < 16; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ?
			bits - 8 * i : 0;

		key[1 + i] &= (uint8_t)(0xFF00u >> keep);
	}
}


static struct bucket *
find(const struct ratelimit *rl, const uint8_t key[17], uint64_t h)
{
	struct hnode *n;

	for (n = htable_chain(&rl->buckets, h); n != NULL; n = n->next) {
		struct bucket *b = container_of(n, struct bucket, node);

		if (n->hash == h && memcmp(b->key, key, 17) == 0)
			return b;
	}
	return NULL;
}

static struct bucket *
bucket_for(struct ratelimit *rl, const uint8_t key[17], uint64_t now_ms)
{
	uint64_t h = hash_bytes(key, 17);
	struct bucket *b = find(rl, key, h);

	if (b != NULL) {
		lru_unlink(&rl->lru, &b->lru);
		lru_push(&rl->lru, &b->lru);
		return b;
	}
	if (rl->count == rl->cfg.max_clients) {
		b = container_of(rl->lru.oldest, struct bucket, lru);
		lru_unlink(&rl->lru, &b->lru);
		htable_remove(&rl->buckets, &b->node);
	} else {
		b = xmalloc(sizeof(*b));
		rl->count++;
	}
	memcpy(b->key, key, 17);
	b->tokens = rl->cfg.burst;
	b->last_ms = now_ms;
	htable_insert(&rl->buckets, &b->node, h);
	lru_push(&rl->lru, &b->lru);
	return b;
}

int
ratelimit_allow(struct ratelimit *rl, const char *addr, uint64_t now_ms)
{
	uint8_t key[17];
	struct bucket *b;

	if (rl->cfg.rate == 0)
		return 1;
	client_key(rl, addr, key);
	b = bucket_for(rl, key, now_ms);
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * rl->cfg.rate / 1000.0;
		if (b->tokens > rl->cfg.burst)
			b->tokens = rl->cfg.burst;
		b->last_ms = now_ms;
	}
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

size_t
ratelimit_clients(const struct ratelimit *rl)
{
	return rl->count;
}

void
ratelimit_free(struct ratelimit *rl)
{
	struct lru_node *n, *next;

	if (rl == NULL)
		return;
	for (n = rl->lru.newest; n != NULL; n = next) {
		next = n->older;
		free(container_of(n, struct bucket, lru));
	}
	htable_free(&rl->buckets);
	free(rl);
}
