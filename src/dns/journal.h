/* journal.h -- the differences IXFR sends (RFC 1995): for each change of a
 * zone's serial, the records that went and the records that came, in wire
 * form, oldest change first, at most `max` of them.
 */
#ifndef SRVGATE_DNS_JOURNAL_H
#define SRVGATE_DNS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

/* Whole records (owner, type, class, TTL, rdata; names uncompressed), one
 * after another, ready to copy into a message. */
struct rr_list {
	uint8_t *wire;
	size_t len, cap;
	size_t count;
};

/* One change: from serial `from` to `to`. The SOAs that lead each list in
 * an IXFR answer are not stored: they are the zone's SOA with these
 * serials. */
struct journal_entry {
	uint32_t from, to;
	struct rr_list deleted, added;
};

struct journal {
	struct journal_entry *ring; /* grows up to max, then wraps */
	size_t alloc, head, count, max;
};

void rr_list_add(struct rr_list *l, const uint8_t *owner, size_t owner_len,
		 uint16_t type, uint32_t ttl, const uint8_t *rdata,
		 uint16_t rdlen);
/* The record at *off (0 first) and its length; 0 at the end. */
size_t rr_list_next(const struct rr_list *l, size_t *off,
		    const uint8_t **rr);
void rr_list_free(struct rr_list *l);

void journal_entry_clear(struct journal_entry *e);

void journal_init(struct journal *j, size_t max);
/* Takes e over (and clears it); the oldest entry goes when full. With max
 * 0 nothing is kept. */
void journal_add(struct journal *j, struct journal_entry *e);
/* The entry that starts at serial `from`, and through *pos where it is
 * (for journal_at); NULL when the journal does not reach back so far. */
const struct journal_entry *journal_find(const struct journal *j,
					 uint32_t from, size_t *pos);
/* The pos-th entry, oldest 0; NULL past the newest. */
const struct journal_entry *journal_at(const struct journal *j, size_t pos);
void journal_clear(struct journal *j);

#endif
