/* htable.c -- the one hash table, and the keyed hash it files entries by.
 *
 * SipHash-2-4 (Aumasson and Bernstein, 2012) is written out here rather
 * than called through OpenSSL's EVP_MAC: that API allocates a context per
 * call, and the DNS query path may not allocate.
 */
#include "htable.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MIN_BUCKETS 8

static uint64_t sip_k0 = 0x736f6d6570736575ull, sip_k1 = 0x646f72616e646f6dull;

void
hash_init(void)
{
	uint64_t k[2];

	if (random_bytes(k, sizeof(k)) == 0) {
		sip_k0 = k[0];
		sip_k1 = k[1];
	}
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                      \
	do {                                                          \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                    \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                    \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t
load64_le(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* SipHash-2-4 with the key k0 | k1 (each read little-endian). */
static uint64_t
siphash(uint64_t k0, uint64_t k1, const void *data, size_t n)
{
	const uint8_t *p = data, *end = p + (n & ~(size_t)7);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
	uint64_t v3 = k1 ^ 0x7465646279746573ull;
	uint64_t b = (uint64_t)n << 56, m;
	size_t left = n & 7;

	for (; p != end; p += 8) {
		m = load64_le(p);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	while (left-- > 0)
		b |= (uint64_t)p[left] << (8 * left);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
hash_bytes(const void *data, size_t n)
{
	return siphash(sip_k0, sip_k1, data, n);
}

uint64_t
siphash24(const uint8_t key[16], const void *data, size_t n)
{
	return siphash(load64_le(key), load64_le(key + 8), data, n);
}

uint64_t
hash_str(const char *s)
{
	return hash_bytes(s, strlen(s));
}

void
htable_init(struct htable *t)
{
	memset(t, 0, sizeof(*t));
}

void
htable_free(struct htable *t)
{
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

/* Moves every entry into a table of n buckets. */
static void
rehash(struct htable *t, size_t n)
{
	struct hnode **b = xcalloc(n, sizeof(*b));
	size_t i;

	for (i = 0; i < t->nbuckets; i++) {
		struct hnode *e = t->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

void
htable_insert(struct htable *t, struct hnode *n, uint64_t hash)
{
	struct hnode **head;

	if (t->count >= t->nbuckets)
		rehash(t, t->nbuckets ? t->nbuckets * 2 : MIN_BUCKETS);
	head = &t->buckets[hash & (t->nbuckets - 1)];
	n->hash = hash;
	n->next = *head;
	*head = n;
	t->count++;
}

void
htable_remove(struct htable *t, struct hnode *n)
{
	struct hnode **pp = &t->buckets[n->hash & (t->nbuckets - 1)];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	t->count--;
}

void
htable_fit(struct htable *t)
{
	size_t n = t->nbuckets;

	while (n > MIN_BUCKETS && t->count < n / 8)
		n /= 2;
	if (n != t->nbuckets)
		rehash(t, n);
}

struct hnode *
htable_find(const struct htable *t, uint64_t hash, htable_match_fn match,
	    const void *key)
{
	struct hnode *n;

	for (n = htable_chain(t, hash); n != NULL; n = n->next)
		if (n->hash == hash && match(n, key))
			return n;
	return NULL;
}

void
htable_reserve(struct htable *t, size_t n)
{
	size_t want = t->nbuckets ? t->nbuckets : MIN_BUCKETS;

	while (want < n)
		want *= 2;
	if (want != t->nbuckets)
		rehash(t, want);
}

static struct hnode *
from_bucket(const struct htable *t, size_t *pos)
{
	for (; *pos < t->nbuckets; (*pos)++)
		if (t->buckets[*pos] != NULL)
			return t->buckets[*pos];
	return NULL;
}

struct hnode *
htable_first(const struct htable *t, size_t *pos)
{
	*pos = 0;
	return from_bucket(t, pos);
}

struct hnode *
htable_next(const struct htable *t, const struct hnode *n, size_t *pos)
{
	if (n->next != NULL)
		return n->next;
	(*pos)++;
	return from_bucket(t, pos);
}
