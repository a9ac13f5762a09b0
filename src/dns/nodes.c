/* nodes.c -- zones, nodes and records, and the batch of changes to them.
 *
 * Each zone keeps its nodes in its own hash table (lookups) and in a list
 * (AXFR walks only the zone's nodes, apex first). A node exists while it
 * has records or children: the empty nodes above a record are the empty
 * non-terminals that answer NODATA rather than NXDOMAIN.
 */
#include "nodes.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- zones ---- */

void
dns_data_init(struct dns_data *d)
{
	memset(d, 0, sizeof(*d));
	htable_init(&d->zones);
	d->scratch = xmalloc(65535);
}

struct wire_blob {
	uint32_t refs;
	uint32_t pad; /* keeps the bytes 8-aligned */
	uint8_t bytes[];
};

uint8_t *
dns_wire_new(size_t len)
{
	struct wire_blob *w = xmalloc(sizeof(*w) + len);

	w->refs = 1;
	return w->bytes;
}

void
dns_wire_hold(const uint8_t *wire)
{
	struct wire_blob *w = container_of(wire, struct wire_blob, bytes);

	__atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
}

void
dns_wire_put(const uint8_t *wire)
{
	struct wire_blob *w;

	if (wire == NULL)
		return;
	w = container_of(wire, struct wire_blob, bytes);
	if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(w);
}

static void
rrset_free(struct dns_rrset *set)
{
	struct dns_rr *rr, *next;

	for (rr = set->head; rr != NULL; rr = next) {
		next = rr->next;
		free(rr);
	}
	dns_wire_put(set->answer.wire);
}

/* A node made for an owner name has room for one RRset after its name:
 * most nodes have exactly one (an SRV owner, a member's address), and an
 * array of their own cost 600k allocations (8 MB) at 100k tokens. */
static uintptr_t
slot_at(uintptr_t name_end)
{
	const uintptr_t align = _Alignof(struct dns_rrset);

	return (name_end + align - 1) & ~(align - 1);
}

static struct dns_rrset *
node_slot(const struct dns_node *n)
{
	return (struct dns_rrset *)slot_at((uintptr_t)(n->name + n->name_len));
}

static int
sets_on_heap(const struct dns_node *n)
{
	return n->sets != NULL && (!n->has_slot || n->sets != node_slot(n));
}

/* The holders count is not part of the node's value: a const node may
 * be held. */
void
dns_node_hold(const struct dns_node *n)
{
	__atomic_add_fetch(&((struct dns_node *)n)->holders, 1,
			   __ATOMIC_RELAXED);
}

void
dns_node_unhold(const struct dns_node *n)
{
	if (__atomic_sub_fetch(&((struct dns_node *)n)->holders, 1,
			       __ATOMIC_ACQ_REL) == 0)
		free((struct dns_node *)n);
}

/* Everything the node points to goes now; the node itself (its name)
 * when its published copies have let go too. */
static void
node_free(struct dns_node *n)
{
	size_t i;

	for (i = 0; i < n->nsets; i++)
		rrset_free(&n->sets[i]);
	if (sets_on_heap(n))
		free(n->sets);
	if (n->referral != NULL)
		free(n->referral->wire);
	free(n->referral);
	n->sets = NULL;
	n->nsets = 0;
	n->referral = NULL;
	dns_node_unhold(n);
}

static void
zone_free(struct dns_zone *z)
{
	struct dns_node *n, *next;
	struct dns_walk *w;

	while ((w = z->walks) != NULL) {
		z->walks = w->next;
		w->prev = w->next = NULL;
		w->zone = NULL;
		w->at = NULL;
		w->gone(w); /* never reads the zone again */
	}

	for (n = z->first; n != NULL; n = next) {
		next = n->next;
		node_free(n);
	}
	htable_free(&z->nodes);
	journal_clear(&z->journal);
	free(z->negative.wire);
	free(z);
}

void
dns_data_clear(struct dns_data *d)
{
	size_t i;

	for (i = 0; i < d->nzones; i++)
		zone_free(d->zone_list[i]);
	htable_free(&d->zones);
	free(d->scratch);
	memset(d, 0, sizeof(*d));
}

static void
origin_text(const uint8_t *apex, char *out, size_t cap)
{
	size_t n = 0, i = 0;

	while (apex[i] != 0 && n + apex[i] + 2 < cap) {
		memcpy(out + n, apex + i + 1, apex[i]);
		n += apex[i];
		out[n++] = '.';
		i += apex[i] + 1u;
	}
	if (n == 0)
		out[n++] = '.';
	out[n] = '\0';
}

struct dns_zone *
dns_zone_add(struct dns_data *d, const uint8_t *apex, size_t len, char *err)
{
	struct dns_zone *z;

	if (d->nzones == MAX_ZONES) {
		fail(err, "more than %d zones", MAX_ZONES);
		return NULL;
	}
	z = xcalloc(1, sizeof(*z));
	memcpy(z->apex, apex, len);
	z->apex_len = len;
	z->apex_labels = dns_name_labels(apex);
	origin_text(apex, z->origin, sizeof(z->origin));
	if (dns_zone_find(d, apex, len) != NULL) {
		fail(err, "zone %s is defined twice", z->origin);
		free(z);
		return NULL;
	}
	htable_init(&z->nodes);
	journal_init(&z->journal, 0);
	htable_insert(&d->zones, &z->hnode, hash_bytes(apex, len));
	z->index = (unsigned)d->nzones;
	d->zone_list[d->nzones++] = z;
	if (z->apex_labels > d->max_apex_labels)
		d->max_apex_labels = z->apex_labels;
	return z;
}

struct dns_zone *
dns_zone_find(const struct dns_data *d, const uint8_t *apex, size_t len)
{
	uint64_t h = hash_bytes(apex, len);
	struct hnode *e;

	for (e = htable_chain(&d->zones, h); e != NULL; e = e->next) {
		struct dns_zone *z = container_of(e, struct dns_zone, hnode);

		if (e->hash == h && z->apex_len == len &&
		    memcmp(z->apex, apex, len) == 0)
			return z;
	}
	return NULL;
}

/* Tries the name's suffixes from the longest an apex can be: the first
 * found is the deepest zone. No allocation (the query path). */
struct dns_zone *
dns_zone_of(const struct dns_data *d, const uint8_t *name)
{
	unsigned labels = dns_name_labels(name), skip = 0;
	const uint8_t *s;

	if (labels > d->max_apex_labels)
		skip = labels - d->max_apex_labels;
	for (s = dns_name_skip_labels(name, skip);; s += *s + 1) {
		struct dns_zone *z = dns_zone_find(d, s, dns_name_len(s));

		if (z != NULL)
			return z;
		if (*s == 0)
			return NULL;
	}
}

uint32_t
dns_zone_serial(const struct dns_zone *z)
{
	return dns_get32(z->soa->rdata + z->serial_at);
}

void
dns_zone_set_serial(struct dns_zone *z, uint32_t serial)
{
	dns_put32(z->soa->rdata + z->serial_at, serial);
}

/* ---- nodes ---- */

/* h: hash_bytes(name, len), which a caller that makes the node on a miss
 * needs again. */
static struct dns_node *
node_find_hashed(const struct dns_zone *z, const uint8_t *name, size_t len,
		 uint64_t h)
{
	struct hnode *e;

	for (e = htable_chain(&z->nodes, h); e != NULL; e = e->next) {
		struct dns_node *n = container_of(e, struct dns_node, hnode);

		if (e->hash == h && n->name_len == len &&
		    memcmp(n->name, name, len) == 0)
			return n;
	}
	return NULL;
}

struct dns_node *
dns_node_find(const struct dns_zone *z, const uint8_t *name, size_t len)
{
	return node_find_hashed(z, name, len, hash_bytes(name, len));
}

/* name, if it is one of the recent nodes or a parent of one: no hash, and
 * nodes the cache still holds. */
static struct dns_node *
recent_find(const struct dns_zone *z, const uint8_t *name, size_t len)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		struct dns_node *n = z->recent[i];

		for (; n != NULL && n->name_len >= len; n = n->parent)
			if (n->name_len == len &&
			    memcmp(n->name, name, len) == 0)
				return n;
	}
	return NULL;
}

/* dns_node_find by way of the recent nodes first. *h is set to the name's
 * hash when it was computed (a miss: node_make needs it). */
static struct dns_node *
node_find_near(const struct dns_zone *z, const uint8_t *name, size_t len,
	       uint64_t *h)
{
	struct dns_node *n = recent_find(z, name, len);

	if (n != NULL)
		return n;
	*h = hash_bytes(name, len);
	return node_find_hashed(z, name, len, *h);
}

static void
note_recent(struct dns_zone *z, struct dns_node *n)
{
	if (z->recent[0] == n)
		return;
	z->recent[1] = z->recent[0];
	z->recent[0] = n;
}

static void
list_dirty(struct dns_batch *b, struct dns_node *n)
{
	if (n->dirty)
		return;
	if (b->ndirty == b->dirty_cap) {
		b->dirty_cap = b->dirty_cap ? b->dirty_cap * 2 : 64;
		b->dirty = xrealloc(b->dirty, b->dirty_cap * sizeof(*b->dirty));
	}
	b->dirty[b->ndirty++] = n;
	n->dirty = 1;
}

static struct dns_node *node_ensure(struct dns_data *d, struct dns_batch *b,
				    struct dns_zone *z, const uint8_t *name,
				    size_t len, int slot);

/* A node for name (under z's apex), known not to be there yet, with every
 * missing parent; h is the name's hash. slot: it is made for records (not
 * as a parent), so it gets room for its first RRset. */
static struct dns_node *
node_make(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
	  const uint8_t *name, size_t len, uint64_t h, int slot)
{
	size_t size = offsetof(struct dns_node, name) + len;
	struct dns_node *n;

	if (slot) /* the node's start is aligned as malloc aligns */
		size = slot_at(size) + sizeof(struct dns_rrset);
	n = xcalloc(1, size > sizeof(*n) ? size : sizeof(*n));
	n->has_slot = slot != 0;
	n->holders = 1;
	n->zone = z;
	n->seq = ++z->nodes_made;
	n->fresh = 1;
	n->name_len = (uint8_t)len;
	memcpy(n->name, name, len);
	htable_insert(&z->nodes, &n->hnode, h);
	n->prev = z->last;
	if (z->last != NULL)
		z->last->next = n;
	else
		z->first = n;
	z->last = n;
	d->nnodes++;
	if (len > z->apex_len) {
		const uint8_t *up = dns_name_skip_labels(name, 1);

		n->parent = node_ensure(d, b, z, up, dns_name_len(up), 0);
		n->parent->nchildren++;
	} else {
		z->apex_node = n;
	}
	list_dirty(b, n); /* a new node with no records may go again */
	return n;
}

/* The node for name (under z's apex), made with every missing parent. */
static struct dns_node *
node_ensure(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
	    const uint8_t *name, size_t len, int slot)
{
	uint64_t h = 0;
	struct dns_node *n = node_find_near(z, name, len, &h);

	return n != NULL ? n : node_make(d, b, z, name, len, h, slot);
}

struct dns_rrset *
dns_node_rrset(const struct dns_node *n, uint16_t type)
{
	size_t i;

	for (i = 0; i < n->nsets; i++)
		if (n->sets[i].answer.type == type)
			return &n->sets[i];
	return NULL;
}

static struct dns_rrset *
rrset_ensure(struct dns_node *n, uint16_t type)
{
	struct dns_rrset *set = dns_node_rrset(n, type);

	if (set != NULL)
		return set;
	if (n->nsets == 0 && n->has_slot) {
		if (sets_on_heap(n))
			free(n->sets);
		n->sets = node_slot(n);
	} else if (n->sets == NULL || sets_on_heap(n)) {
		n->sets = xrealloc(n->sets, (n->nsets + 1) * sizeof(*n->sets));
	} else { /* a second RRset: out of the slot */
		struct dns_rrset *heap = xmalloc((n->nsets + 1) *
						 sizeof(*heap));

		memcpy(heap, n->sets, n->nsets * sizeof(*heap));
		n->sets = heap;
	}
	set = &n->sets[n->nsets++];
	memset(set, 0, sizeof(*set));
	set->answer.type = type;
	return set;
}

static struct dns_rr *
rr_append(struct dns_rrset *set, uint32_t ttl, const uint8_t *rdata,
	  uint16_t rdlen)
{
	/* From where rdata starts, not sizeof: an address's 4 bytes then fit
	 * in malloc's 32-byte size, not its 48 (8 MB at 500k members). */
	struct dns_rr *rr = xcalloc(1, offsetof(struct dns_rr, rdata) + rdlen);

	rr->ttl = ttl;
	rr->rdlen = rdlen;
	memcpy(rr->rdata, rdata, rdlen);
	if (set->tail != NULL)
		set->tail->next = rr;
	else
		set->head = rr;
	set->tail = rr;
	return rr;
}

void
dns_mark_dirty(struct dns_batch *b, struct dns_node *n, struct dns_rrset *set)
{
	set->answer.dirty = 1;
	list_dirty(b, n);
}

struct dns_rr *
dns_add_static(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
	       const uint8_t *owner, size_t len, uint16_t type, uint32_t ttl,
	       const uint8_t *rdata, uint16_t rdlen)
{
	struct dns_node *n = node_ensure(d, b, z, owner, len, 1);
	struct dns_rrset *set = rrset_ensure(n, type);
	struct dns_rr *rr = rr_append(set, ttl, rdata, rdlen);

	rr->refs = 1;
	n->has_static = 1;
	if (type == TYPE_NS && len != z->apex_len) {
		n->is_cut = 1;
		z->has_cuts = 1;
	}
	dns_mark_dirty(b, n, set);
	return rr;
}

/* Notes how a record was before the batch first changed it. */
static void
touch(struct dns_batch *b, struct dns_node *n, uint16_t type,
      struct dns_rr *rr)
{
	if (!b->journaling || rr->touched)
		return;
	if (b->ntouched == b->touched_cap) {
		b->touched_cap = b->touched_cap ? b->touched_cap * 2 : 64;
		b->touched = xrealloc(b->touched,
				      b->touched_cap * sizeof(*b->touched));
	}
	b->touched[b->ntouched].node = n;
	b->touched[b->ntouched].type = type;
	b->touched[b->ntouched].rr = rr;
	b->ntouched++;
	rr->touched = 1;
	rr->was_live = rr->refs > 0;
}

static struct dns_rr *
rr_find(const struct dns_rrset *set, const uint8_t *rdata, uint16_t rdlen)
{
	struct dns_rr *rr;

	for (rr = set ? set->head : NULL; rr != NULL; rr = rr->next)
		if (rr->rdlen == rdlen && memcmp(rr->rdata, rdata, rdlen) == 0)
			return rr;
	return NULL;
}

int
dns_publish(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
	    const uint8_t *owner, size_t len, uint16_t type, uint32_t ttl,
	    const uint8_t *rdata, uint16_t rdlen)
{
	uint64_t h = 0;
	struct dns_node *n = node_find_near(z, owner, len, &h);
	struct dns_rrset *set;
	struct dns_rr *rr;

	if (n != NULL && n->has_static)
		return -1;
	if (n == NULL) /* not node_ensure: one lookup less per new name */
		n = node_make(d, b, z, owner, len, h, 1);
	note_recent(z, n);
	set = rrset_ensure(n, type);
	rr = rr_find(set, rdata, rdlen);
	if (rr == NULL)
		rr = rr_append(set, ttl, rdata, rdlen); /* refs 0: not live */
	touch(b, n, type, rr);
	rr->refs++;
	dns_mark_dirty(b, n, set);
	return 0;
}

void
dns_withdraw(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
	     const uint8_t *owner, size_t len, uint16_t type,
	     const uint8_t *rdata, uint16_t rdlen)
{
	uint64_t h;
	struct dns_node *n = node_find_near(z, owner, len, &h);
	struct dns_rrset *set = n ? dns_node_rrset(n, type) : NULL;
	struct dns_rr *rr = rr_find(set, rdata, rdlen);

	(void)d;
	if (rr == NULL || rr->refs == 0 || n->has_static)
		return; /* refused when published: nothing to undo */
	note_recent(z, n);
	touch(b, n, type, rr);
	rr->refs--;
	dns_mark_dirty(b, n, set);
}

/* ---- settling ---- */

void
dns_batch_free(struct dns_batch *b)
{
	free(b->touched);
	free(b->dirty);
	memset(b, 0, sizeof(*b));
}

static void
rrset_prune(struct dns_rrset *set)
{
	struct dns_rr **pp = &set->head, *rr;

	set->tail = NULL;
	while ((rr = *pp) != NULL) {
		if (rr->refs == 0) {
			*pp = rr->next;
			free(rr);
		} else {
			set->tail = rr;
			pp = &rr->next;
		}
	}
}

void
dns_node_prune(struct dns_data *d, struct dns_node *n)
{
	size_t i, kept = 0;

	for (i = 0; i < n->nsets; i++) {
		struct dns_rrset *set = &n->sets[i];

		if (set->answer.dirty)
			rrset_prune(set);
		if (set->head != NULL) {
			n->sets[kept++] = *set;
			continue;
		}
		if (set->answer.wire != NULL)
			d->nanswers--;
		rrset_free(set);
	}
	n->nsets = kept;
}

int
dns_node_unused(const struct dns_node *n)
{
	return n->nsets == 0 && n->nchildren == 0 && n->parent != NULL;
}

void
dns_node_release(struct dns_data *d, struct dns_batch *b, struct dns_node *n)
{
	struct dns_zone *z = n->zone;
	struct dns_walk *w;

	if (!dns_node_unused(n))
		return;
	for (w = z->walks; w != NULL; w = w->next)
		if (w->at == n)
			w->at = n->next;
	if (z->recent[1] == n)
		z->recent[1] = NULL;
	if (z->recent[0] == n) {
		z->recent[0] = z->recent[1];
		z->recent[1] = NULL;
	}
	htable_remove(&z->nodes, &n->hnode);
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		z->first = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		z->last = n->prev;
	n->parent->nchildren--;
	list_dirty(b, n->parent);
	d->nnodes--;
	node_free(n);
}

/* ---- AXFRs under way ---- */

void
dns_walk_start(struct dns_walk *w, struct dns_zone *z)
{
	w->zone = z;
	w->at = z->first;
	w->upto = z->nodes_made;
	w->sent = NULL;
	w->nsent = w->nsorted = w->pos = w->sent_cap = 0;
	w->prev = NULL;
	w->next = z->walks;
	if (z->walks != NULL)
		z->walks->prev = w;
	z->walks = w;
}

void
dns_walk_stop(struct dns_walk *w)
{
	if (w->zone != NULL) {
		if (w->prev != NULL)
			w->prev->next = w->next;
		else
			w->zone->walks = w->next;
		if (w->next != NULL)
			w->next->prev = w->prev;
	}
	free(w->sent);
	memset(w, 0, sizeof(*w));
}

static int
seq_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Sorts what the last batches added, dropping the seqs the cursor has
 * passed (their nodes are sent or gone). */
static void
sent_sort(struct dns_walk *w)
{
	uint64_t at = w->at != NULL ? w->at->seq : UINT64_MAX;
	size_t i, kept = 0;

	if (w->nsorted == w->nsent)
		return;
	for (i = w->pos; i < w->nsent; i++)
		if (w->sent[i] >= at)
			w->sent[kept++] = w->sent[i];
	qsort(w->sent, kept, sizeof(*w->sent), seq_cmp);
	w->nsent = w->nsorted = kept;
	w->pos = 0;
}

/* Whether the node at seq went to before already (sorted seqs only: a
 * batch lists a node once). */
static int
sent_has(const struct dns_walk *w, uint64_t seq)
{
	size_t lo = w->pos, hi = w->nsorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->sent[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->nsorted && w->sent[lo] == seq;
}

const struct dns_node *
dns_walk_next(struct dns_walk *w)
{
	struct dns_node *n;

	sent_sort(w);
	while ((n = w->at) != NULL) {
		if (n->seq > w->upto) { /* and so is every one after */
			w->at = NULL;
			return NULL;
		}
		w->at = n->next;
		while (w->pos < w->nsent && w->sent[w->pos] < n->seq)
			w->pos++;
		if (w->pos < w->nsent && w->sent[w->pos] == n->seq) {
			w->pos++;
			continue;
		}
		return n;
	}
	return NULL;
}

static void
walk_before(struct dns_walk *w, const struct dns_node *n)
{
	if (w->at == NULL || n->seq > w->upto || n->seq < w->at->seq ||
	    sent_has(w, n->seq))
		return; /* sent, or not in its snapshot */
	w->before(w, n);
	if (w->nsent == w->sent_cap) {
		w->sent_cap = w->sent_cap ? w->sent_cap * 2 : 64;
		w->sent = xrealloc(w->sent, w->sent_cap * sizeof(*w->sent));
	}
	w->sent[w->nsent++] = n->seq;
}

void
dns_walks_before_batch(const struct dns_batch *b)
{
	size_t i;
	struct dns_walk *w;

	for (i = 0; i < b->ndirty; i++)
		for (w = b->dirty[i]->zone->walks; w != NULL; w = w->next)
			walk_before(w, b->dirty[i]);
	for (i = 0; i < b->ndirty; i++)
		for (w = b->dirty[i]->zone->walks; w != NULL; w = w->next)
			sent_sort(w);
}
