/* journal.c -- the differences IXFR sends, kept in a ring.
 *
 * The ring grows to `max` entries only as changes come: --ixfr-journal may
 * allow a million, and a quiet server should not pay for them up front.
 */
#include "journal.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "wire.h"

void
rr_list_add(struct rr_list *l, const uint8_t *owner, size_t owner_len,
	    uint16_t type, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	size_t need = owner_len + 10 + rdlen;
	uint8_t *p;

	if (l->len + need > l->cap) {
		l->cap = l->cap * 2 > l->len + need ? l->cap * 2 :
						      l->len + need + 256;
		l->wire = xrealloc(l->wire, l->cap);
	}
	p = l->wire + l->len;
	memcpy(p, owner, owner_len);
	p += owner_len;
	dns_put16(p, type);
	dns_put16(p + 2, CLASS_IN);
	dns_put32(p + 4, ttl);
	dns_put16(p + 8, rdlen);
	memcpy(p + 10, rdata, rdlen);
	l->len += need;
	l->count++;
}

size_t
rr_list_next(const struct rr_list *l, size_t *off, const uint8_t **rr)
{
	size_t o = *off, start = o;

	if (o >= l->len)
		return 0;
	/* Written by rr_list_add: well formed. */
	o += dns_name_len(l->wire + o);
	o += 10 + dns_get16(l->wire + o + 8);
	*rr = l->wire + start;
	*off = o;
	return o - start;
}

void
rr_list_free(struct rr_list *l)
{
	free(l->wire);
	memset(l, 0, sizeof(*l));
}

void
journal_init(struct journal *j, size_t max)
{
	memset(j, 0, sizeof(*j));
	j->max = max;
}

void
journal_entry_clear(struct journal_entry *e)
{
	rr_list_free(&e->deleted);
	rr_list_free(&e->added);
}

void
journal_add(struct journal *j, struct journal_entry *e)
{
	if (j->max == 0) {
		journal_entry_clear(e);
		return;
	}
	if (j->count == j->max) {
		/* Full: the newest takes the oldest's place. */
		journal_entry_clear(&j->ring[j->head]);
		j->ring[j->head] = *e;
		j->head = (j->head + 1) % j->max;
	} else {
		/* Not full yet, so not wrapped: head is 0. */
		if (j->count == j->alloc) {
			j->alloc = j->alloc ? j->alloc * 2 : 16;
			if (j->alloc > j->max)
				j->alloc = j->max;
			j->ring = xrealloc(j->ring,
					   j->alloc * sizeof(*j->ring));
		}
		j->ring[j->count++] = *e;
	}
	memset(e, 0, sizeof(*e));
}

const struct journal_entry *
journal_at(const struct journal *j, size_t pos)
{
	if (pos >= j->count)
		return NULL;
	return &j->ring[(j->head + pos) % j->alloc];
}

const struct journal_entry *
journal_find(const struct journal *j, uint32_t from, size_t *pos)
{
	size_t i;

	for (i = 0; i < j->count; i++) {
		const struct journal_entry *e = journal_at(j, i);

		if (e->from == from) {
			*pos = i;
			return e;
		}
	}
	return NULL;
}

void
journal_clear(struct journal *j)
{
	size_t i;

	for (i = 0; i < j->count; i++)
		journal_entry_clear(&j->ring[(j->head + i) % j->alloc]);
	free(j->ring);
	journal_init(j, j->max);
}
