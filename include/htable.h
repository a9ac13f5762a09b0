/* htable.h -- the one hash table of srvgate: chained, growable, intrusive.
 *
 * An entry embeds a struct hnode and is found again with container_of. The
 * table never allocates per entry, so a lookup allocates nothing (the DNS
 * query path relies on it). Hashes come from hash_bytes, a SipHash keyed
 * with random bytes at start, so no client can choose names that collide.
 */
#ifndef SRVGATE_HTABLE_H
#define SRVGATE_HTABLE_H

#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htable {
	struct hnode **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
};

/* Keys the hash with random bytes; called once, before any table is
 * filled (hash_bytes works unkeyed before it, for unit tests). */
void hash_init(void);
/* SipHash-2-4 of the bytes under the process key. */
uint64_t hash_bytes(const void *p, size_t n);
uint64_t hash_str(const char *s);
/* SipHash-2-4 under an explicit 16-byte key (the key's two halves read
 * little-endian, as the reference code does): DNS cookies (RFC 9018). */
uint64_t siphash24(const uint8_t key[16], const void *data, size_t n);

void htable_init(struct htable *t);
/* Frees the bucket array; the entries are the caller's. */
void htable_free(struct htable *t);

void htable_insert(struct htable *t, struct hnode *n, uint64_t hash);
void htable_remove(struct htable *t, struct hnode *n);
/* Shrinks a table that deletions left mostly empty (never during a walk). */
void htable_fit(struct htable *t);
/* Sizes the bucket array for n entries, so that inserting up to n never
 * allocates (a preallocated pool on a path that may not allocate). */
void htable_reserve(struct htable *t, size_t n);

/* The first entry of hash's chain; walk on with htable_next. Entries of
 * other hashes share chains: compare n->hash, then the key. */
static inline struct hnode *
htable_chain(const struct htable *t, uint64_t hash)
{
	if (t->nbuckets == 0)
		return NULL;
	return t->buckets[hash & (t->nbuckets - 1)];
}

/* The entry of hash that match() says is key's, or NULL. */
typedef int (*htable_match_fn)(const struct hnode *n, const void *key);
struct hnode *htable_find(const struct htable *t, uint64_t hash,
			  htable_match_fn match, const void *key);

/* Every entry, in no order: `for (n = htable_first(t, &i); n; n =
 * htable_next(t, n, &i))`. Removing the current entry is allowed if the
 * next one was taken before. */
struct hnode *htable_first(const struct htable *t, size_t *pos);
struct hnode *htable_next(const struct htable *t, const struct hnode *n,
			  size_t *pos);

#endif
