/* rrl.c -- response rate limiting: a token bucket per (source prefix,
 * response class, name), in the one hash table, from a pool allocated at
 * start with the least recently used bucket forgotten when it runs out.
 *
 * A bucket holds one second of responses and refills at the rate, in
 * thousandths of a response per millisecond: exact integer arithmetic,
 * and a burst of at most `rate` after a quiet second, as NSD allows.
 */
#include "rrl.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "htable.h"
#include "lru.h"
#include "util.h"

struct rrl_key {
	uint64_t name_hash; /* 0: no name */
	uint8_t addr[16];   /* the source with the bits past the prefix off */
	uint16_t qtype;	    /* answers only */
	uint8_t family;
	uint8_t cls;
	uint8_t pad[4];	    /* zero: keys are hashed and compared whole */
};

struct bucket {
	struct hnode node;
	struct lru_node lru; /* the least recently used goes first */
	struct rrl_key key;
	uint64_t last_ms;
	uint64_t credit;  /* thousandths of a response */
	uint32_t limited; /* over the rate so far, for the slip count */
};

struct rrl {
	struct rrl_config cfg;
	struct htable table;
	struct bucket *pool;
	size_t used;
	struct lru lru;
	struct rrl_stats stats;
};

struct rrl *
rrl_new(const struct rrl_config *cfg)
{
	struct rrl *rl;

	if (cfg->rate == 0)
		return NULL;
	rl = xcalloc(1, sizeof(*rl));
	rl->cfg = *cfg;
	if (rl->cfg.buckets == 0)
		rl->cfg.buckets = RRL_BUCKETS;
	rl->pool = xcalloc(rl->cfg.buckets, sizeof(*rl->pool));
	htable_init(&rl->table);
	htable_reserve(&rl->table, rl->cfg.buckets);
	return rl;
}

/* Keeps the first `bits` bits of n bytes. */
static void
mask_bits(uint8_t *p, size_t n, unsigned bits)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 :
				bits > 8 * i	    ? bits - 8 * (unsigned)i :
						      0;

		p[i] &= (uint8_t)(0xFF00u >> keep);
	}
}

static void
make_key(const struct rrl *rl, const struct sockaddr *peer,
	 enum rrl_class cls, const uint8_t *name, size_t name_len,
	 uint16_t qtype, struct rrl_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)peer->sa_family;
	k->cls = (uint8_t)cls;
	if (peer->sa_family == AF_INET) {
		memcpy(k->addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		mask_bits(k->addr, 4, rl->cfg.v4_prefix);
	} else if (peer->sa_family == AF_INET6) {
		memcpy(k->addr, &((const struct sockaddr_in6 *)peer)->sin6_addr,
		       16);
		mask_bits(k->addr, 16, rl->cfg.v6_prefix);
	}
	if (cls == RRL_ANSWER)
		k->qtype = qtype;
	if (name != NULL && name_len > 0)
		k->name_hash = hash_bytes(name, name_len) | 1;
}


static int
key_matches(const struct hnode *n, const void *key)
{
	const struct bucket *b = container_of(n, struct bucket, node);

	return memcmp(&b->key, key, sizeof(b->key)) == 0;
}

/* The key's bucket, made full when new: from the pool while it lasts,
 * then the least recently used one. */
static struct bucket *
bucket_for(struct rrl *rl, const struct rrl_key *k, uint64_t now_ms)
{
	uint64_t h = hash_bytes(k, sizeof(*k));
	struct hnode *n = htable_find(&rl->table, h, key_matches, k);
	struct bucket *b;

	if (n != NULL) {
		b = container_of(n, struct bucket, node);
		lru_unlink(&rl->lru, &b->lru);
		lru_push(&rl->lru, &b->lru);
		return b;
	}
	if (rl->used < rl->cfg.buckets) {
		b = &rl->pool[rl->used++];
	} else {
		b = container_of(rl->lru.oldest, struct bucket, lru);
		lru_unlink(&rl->lru, &b->lru);
		htable_remove(&rl->table, &b->node);
		rl->stats.evicted++;
	}
	b->key = *k;
	b->last_ms = now_ms;
	b->credit = (uint64_t)rl->cfg.rate * 1000;
	b->limited = 0;
	htable_insert(&rl->table, &b->node, h); /* reserved: no allocation */
	lru_push(&rl->lru, &b->lru);
	return b;
}

/* Adds what the time since the last response earned, up to a second's
 * worth. */
static void
refill(const struct rrl *rl, struct bucket *b, uint64_t now_ms)
{
	uint64_t full = (uint64_t)rl->cfg.rate * 1000;
	uint64_t elapsed = now_ms > b->last_ms ? now_ms - b->last_ms : 0;

	if (elapsed >= 1000)
		b->credit = full;
	else if (b->credit + elapsed * rl->cfg.rate > full)
		b->credit = full;
	else
		b->credit += elapsed * rl->cfg.rate;
	if (now_ms > b->last_ms)
		b->last_ms = now_ms;
}

enum rrl_verdict
rrl_account(struct rrl *rl, const struct sockaddr *peer, enum rrl_class cls,
	    const uint8_t *name, size_t name_len, uint16_t qtype,
	    uint64_t now_ms)
{
	struct rrl_key k;
	struct bucket *b;

	if (rl == NULL)
		return RRL_PASS;
	make_key(rl, peer, cls, name, name_len, qtype, &k);
	b = bucket_for(rl, &k, now_ms);
	refill(rl, b, now_ms);
	if (b->credit >= 1000) {
		b->credit -= 1000;
		return RRL_PASS;
	}
	rl->stats.limited++;
	b->limited++;
	if (rl->cfg.slip > 0 && b->limited % rl->cfg.slip == 0) {
		rl->stats.slipped++;
		return RRL_SLIP;
	}
	return RRL_DROP;
}

const struct rrl_stats *
rrl_stats(const struct rrl *rl)
{
	static const struct rrl_stats none;

	return rl ? &rl->stats : &none;
}

size_t
rrl_size(const struct rrl *rl)
{
	return rl ? rl->table.count : 0;
}

void
rrl_free(struct rrl *rl)
{
	if (rl == NULL)
		return;
	htable_free(&rl->table);
	free(rl->pool);
	free(rl);
}
