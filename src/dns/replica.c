/* replica.c -- published nodes and zones, and each worker's copy of them
 * (see replica.h for why). A published node is one allocation: the
 * header, one hash link per worker, its answers and the wire of its
 * referral, copied from the view's (which the main loop goes on rewriting
 * in place). The answers' bytes are not copied but held: the view
 * replaces an answer rather than rewriting it (dns_wire_new), so the copy
 * a worker holds stays as it was published. The name, which never
 * changes, is read from the view's node, held for it (dns_node_hold).
 */
#include "replica.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "view.h"

/* One allocation: this header, a hash link per worker, the answers, the
 * referral (a cut's only: its chunk, then its wire), found by their
 * counts rather than by pointers. The name is the view node's, held
 * (dns_node_hold) rather than copied: at eight nodes per token a copy
 * would be 50 MB at 100k tokens. */
struct pub_node {
	const struct dns_node *of; /* the view's node, for its name */
	/* 16 bytes up to here: a node with one answer and one worker is
	 * then 56, in malloc's 64-byte size (12 MB less at 100k tokens). */
	uint16_t refs;	    /* workers still holding it (at most 256) */
	uint16_t nlinks;    /* the workers' */
	uint16_t nanswers;
	uint8_t zone;	    /* index in the view's zone list (MAX_ZONES) */
	uint8_t gone : 1;   /* a removal: no answers */
	uint8_t is_cut : 1, has_referral : 1;
	struct hnode link[]; /* one per worker */
};

_Static_assert(MAX_ZONES <= 256, "pub_node.zone is 8 bits");

static struct dns_answer *
pub_answers(const struct pub_node *p)
{
	return (struct dns_answer *)(p->link + p->nlinks);
}

static const struct dns_chunk *
pub_referral(const struct pub_node *p)
{
	return p->has_referral ?
		       (const struct dns_chunk *)(pub_answers(p) + p->nanswers) :
		       NULL;
}

static const uint8_t *
pub_name(const struct pub_node *p)
{
	return p->of->name;
}

struct pub_zone {
	uint32_t refs;
	uint8_t apex[DNS_NAME_MAX];
	size_t apex_len;
	unsigned apex_labels;
	int has_cuts;
	struct dns_chunk negative;
	uint8_t wire[];
};

static void
node_free(struct pub_node *p)
{
	uint16_t i;

	for (i = 0; i < p->nanswers; i++)
		dns_wire_put(pub_answers(p)[i].wire);
	dns_node_unhold(p->of);
	free(p);
}

static void
unref_node(struct pub_node *p)
{
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		node_free(p);
}

static void
unref_zone(struct pub_zone *z)
{
	if (z != NULL && __atomic_sub_fetch(&z->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(z);
}

/* ---- publishing (the main loop) ---- */

struct pub_batch *
pub_batch_new(unsigned nworkers, int reset)
{
	struct pub_batch *b = xcalloc(1, sizeof(*b));

	b->refs = nworkers;
	b->nworkers = nworkers;
	b->reset = reset;
	return b;
}

/* Bytes of n's referral, and how many answers. */
static size_t
wire_size(const struct dns_node *n, size_t *nanswers)
{
	size_t i;

	*nanswers = 0;
	for (i = 0; i < n->nsets; i++)
		if (n->sets[i].answer.wire != NULL)
			(*nanswers)++;
	return n->referral ? n->referral->len : 0;
}

static struct pub_node *
node_copy(const struct dns_node *n, unsigned nworkers, int gone)
{
	size_t nans = 0, bytes = gone ? 0 : wire_size(n, &nans), i;
	size_t head = sizeof(struct pub_node) + nworkers * sizeof(struct hnode);
	struct dns_answer *answers;
	size_t chunk = !gone && n->referral != NULL ?
			       sizeof(struct dns_chunk) : 0;
	struct pub_node *p = xcalloc(1, head + nans * sizeof(struct dns_answer) +
					    chunk + bytes);
	uint8_t *w;

	p->of = n;
	dns_node_hold(n);
	p->refs = (uint16_t)nworkers;
	/* The name's hash as the view's table has it: a worker inserts the
	 * node without hashing the name again, or reading it. */
	for (i = 0; i < nworkers; i++)
		p->link[i].hash = n->hnode.hash;
	p->zone = (uint8_t)n->zone->index;
	p->gone = gone != 0;
	p->is_cut = n->is_cut != 0;
	p->nlinks = (uint16_t)nworkers;
	answers = pub_answers(p);
	w = (uint8_t *)(answers + nans);
	if (chunk > 0) { /* the answers keep it aligned */
		struct dns_chunk *c = (struct dns_chunk *)w;

		*c = *n->referral;
		c->wire = w + chunk;
		memcpy(c->wire, n->referral->wire, n->referral->len);
		p->has_referral = 1;
	}
	for (i = 0; nans > 0 && i < n->nsets; i++) {
		const struct dns_answer *a = &n->sets[i].answer;

		if (a->wire == NULL)
			continue;
		dns_wire_hold(a->wire);
		answers[p->nanswers++] = *a;
	}
	return p;
}

void
pub_batch_node(struct pub_batch *b, const struct dns_node *n, int gone)
{
	if (b->nnodes == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->nodes = xrealloc(b->nodes, b->cap * sizeof(*b->nodes));
	}
	b->nodes[b->nnodes++] = node_copy(n, b->nworkers, gone);
}

void
pub_batch_zone(struct pub_batch *b, const struct dns_zone *z)
{
	struct pub_zone *p = xcalloc(1, sizeof(*p) + z->negative.len);

	p->refs = b->nworkers;
	memcpy(p->apex, z->apex, z->apex_len);
	p->apex_len = z->apex_len;
	p->apex_labels = z->apex_labels;
	p->has_cuts = z->has_cuts;
	p->negative = z->negative;
	p->negative.wire = p->wire;
	memcpy(p->wire, z->negative.wire, z->negative.len);
	unref_zone(b->zones[z->index]); /* only ours: it was never sent */
	b->zones[z->index] = p;
	if (z->index >= b->nzones)
		b->nzones = z->index + 1;
}

void
pub_batch_snapshot(struct pub_batch *b, const struct dns_data *d)
{
	size_t i;

	if (b->cap < b->nnodes + d->nnodes) { /* one array, not 17 doublings */
		b->cap = b->nnodes + d->nnodes;
		b->nodes = xrealloc(b->nodes, b->cap * sizeof(*b->nodes));
	}
	b->nzones = d->nzones;
	for (i = 0; i < d->nzones; i++) {
		const struct dns_zone *z = d->zone_list[i];
		const struct dns_node *n;

		pub_batch_zone(b, z);
		for (n = z->first; n != NULL; n = n->next)
			if (!n->fresh)
				pub_batch_node(b, n, 0);
	}
}

int
pub_batch_empty(const struct pub_batch *b)
{
	size_t i;

	if (b->nnodes > 0 || b->reset || b->has_cookies)
		return 0;
	for (i = 0; i < b->nzones; i++)
		if (b->zones[i] != NULL)
			return 0;
	return 1;
}

static void
batch_free(struct pub_batch *b)
{
	free(b->nodes);
	free(b);
}

void
pub_batch_put(struct pub_batch *b)
{
	if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		batch_free(b);
}

void
pub_batch_discard(struct pub_batch *b)
{
	size_t i;

	for (i = 0; i < b->nnodes; i++)
		node_free(b->nodes[i]);
	for (i = 0; i < MAX_ZONES; i++)
		free(b->zones[i]);
	batch_free(b);
}

/* ---- a worker's copy ---- */

static struct pub_node *
node_of(const struct replica *r, const struct hnode *link)
{
	return container_of(link - r->id, struct pub_node, link);
}

/* h: hash_bytes(name, len), which the caller may need again. */
static struct pub_node *
node_find_hashed(const struct replica *r, const struct replica_zone *z,
		 const uint8_t *name, size_t len, uint64_t h)
{
	const struct hnode *e;

	for (e = htable_chain(&z->nodes, h); e != NULL; e = e->next) {
		struct pub_node *p = node_of(r, e);

		if (e->hash == h && p->of->name_len == len &&
		    memcmp(pub_name(p), name, len) == 0)
			return p;
	}
	return NULL;
}

static struct pub_node *
node_find(const struct replica *r, const struct replica_zone *z,
	  const uint8_t *name, size_t len)
{
	return node_find_hashed(r, z, name, len, hash_bytes(name, len));
}

void
replica_init(struct replica *r, unsigned id)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	htable_init(&r->zone_index);
}

static void
zone_clear(struct replica *r, struct replica_zone *z)
{
	struct hnode *e, *next;
	size_t pos;

	for (e = htable_first(&z->nodes, &pos); e != NULL; e = next) {
		next = htable_next(&z->nodes, e, &pos);
		unref_node(node_of(r, e));
	}
	htable_free(&z->nodes);
	unref_zone(z->pz);
	z->pz = NULL;
}

void
replica_clear(struct replica *r)
{
	size_t i;

	for (i = 0; i < r->nzones; i++)
		zone_clear(r, &r->zones[i]);
	htable_free(&r->zone_index);
	htable_init(&r->zone_index);
	r->nzones = 0;
	r->max_apex_labels = 0;
}

/* A whole new view: every zone again, indexed by apex. */
static void
reset(struct replica *r, const struct pub_batch *b)
{
	size_t i;

	replica_clear(r);
	r->nzones = b->nzones;
	for (i = 0; i < r->nzones; i++) {
		struct replica_zone *z = &r->zones[i];
		const struct pub_zone *pz = b->zones[i];

		htable_init(&z->nodes);
		htable_insert(&r->zone_index, &z->hnode,
			      hash_bytes(pz->apex, pz->apex_len));
		if (pz->apex_labels > r->max_apex_labels)
			r->max_apex_labels = pz->apex_labels;
	}
	/* Each table sized for its nodes once, rather than doubled as it
	 * fills (every node moved again each time). */
	for (i = 0; i < b->nnodes; i++)
		if (b->nodes[i]->zone < r->nzones)
			r->zones[b->nodes[i]->zone].nodes.count++;
	for (i = 0; i < r->nzones; i++) {
		struct htable *t = &r->zones[i].nodes;
		size_t n = t->count;

		t->count = 0;
		htable_reserve(t, n);
	}
}

static void
apply_node(struct replica *r, struct pub_node *p, int fresh)
{
	struct replica_zone *z = &r->zones[p->zone];
	uint64_t h = p->link[r->id].hash; /* node_copy's */
	struct pub_node *old;

	if (p->zone >= r->nzones) { /* cannot happen: a reset comes first */
		unref_node(p);
		return;
	}
	/* A reset batch lists each node of the view once, into tables just
	 * emptied: nothing to replace, so no lookup (at 100k tokens these
	 * were a tenth of a start's CPU). */
	old = fresh ? NULL :
		      node_find_hashed(r, z, pub_name(p), p->of->name_len, h);
	if (old != NULL) {
		htable_remove(&z->nodes, &old->link[r->id]);
		unref_node(old);
	}
	if (p->gone)
		unref_node(p);
	else
		htable_insert(&z->nodes, &p->link[r->id], h);
}

void
replica_apply(struct replica *r, const struct pub_batch *b,
	      struct cookie_secrets *cookies)
{
	size_t i;

	if (b->reset)
		reset(r, b);
	for (i = 0; i < b->nzones && i < r->nzones; i++)
		if (b->zones[i] != NULL) {
			unref_zone(r->zones[i].pz);
			r->zones[i].pz = b->zones[i];
		}
	for (i = 0; i < b->nnodes; i++)
		apply_node(r, b->nodes[i], b->reset);
	for (i = 0; b->nnodes > 0 && i < r->nzones; i++)
		htable_fit(&r->zones[i].nodes); /* after many removals */
	if (b->has_cookies)
		*cookies = b->cookies;
}

/* ---- reading (the query path) ---- */

static const struct replica_zone *
zone_find(const struct replica *r, const uint8_t *apex, size_t len)
{
	uint64_t h = hash_bytes(apex, len);
	const struct hnode *e;

	for (e = htable_chain(&r->zone_index, h); e != NULL; e = e->next) {
		const struct replica_zone *z =
			container_of(e, struct replica_zone, hnode);

		if (e->hash == h && z->pz->apex_len == len &&
		    memcmp(z->pz->apex, apex, len) == 0)
			return z;
	}
	return NULL;
}

int
replica_has_zone(const struct replica *r, const uint8_t *apex, size_t len)
{
	return zone_find(r, apex, len) != NULL;
}

/* dns_zone_of's search: the deepest apex the name ends with. */
static const struct replica_zone *
zone_of(const struct replica *r, const uint8_t *name)
{
	unsigned labels = dns_name_labels(name), skip = 0;
	const uint8_t *s;

	if (labels > r->max_apex_labels)
		skip = labels - r->max_apex_labels;
	for (s = dns_name_skip_labels(name, skip);; s += *s + 1) {
		const struct replica_zone *z = zone_find(r, s, dns_name_len(s));

		if (z != NULL)
			return z;
		if (*s == 0)
			return NULL;
	}
}

/* view.c's find_cut: the parent side answers for a cut's DS. */
static const struct pub_node *
find_cut(const struct replica *r, const struct replica_zone *z,
	 const uint8_t *qname, uint16_t qtype)
{
	const uint8_t *up = qtype == TYPE_DS ? dns_name_skip_labels(qname, 1) :
					       qname;

	for (; dns_name_len(up) > z->pz->apex_len;
	     up = dns_name_skip_labels(up, 1)) {
		const struct pub_node *n = node_find(r, z, up,
						     dns_name_len(up));

		if (n != NULL && n->is_cut && n->has_referral)
			return n;
	}
	return NULL;
}

/* ---- lookups begun ahead (replica.h) ---- */

void
replica_hint_begin(const struct replica *r, const uint8_t *qname,
		   struct replica_hint *h)
{
	const struct replica_zone *z = zone_of(r, qname);

	h->zone = z;
	h->node = NULL;
	h->stage = HINT_DONE;
	if (z == NULL)
		return;
	h->hash = hash_bytes(qname, dns_name_len(qname));
	if (z->nodes.nbuckets == 0)
		return;
	h->stage = HINT_BUCKET;
	__builtin_prefetch(&z->nodes.buckets[h->hash &
					     (z->nodes.nbuckets - 1)]);
}

/* The bytes of p's answer to qtype. */
static void
touch_answer(const struct pub_node *p, uint16_t qtype)
{
	size_t i;

	for (i = 0; i < p->nanswers; i++) {
		const struct dns_answer *a = &pub_answers(p)[i];

		if (a->type == qtype && a->wire != NULL) {
			__builtin_prefetch(a->wire);
			__builtin_prefetch(a->wire + 64);
			return;
		}
	}
}

void
replica_hint_step(const struct replica *r, struct replica_hint *h,
		  uint16_t qtype)
{
	switch (h->stage) {
	case HINT_BUCKET:
		h->node = htable_chain(&h->zone->nodes, h->hash);
		h->stage = HINT_CHAIN;
		break;
	case HINT_CHAIN:
		if (h->node != NULL && h->node->hash == h->hash) {
			const struct pub_node *p = node_of(r, h->node);

			__builtin_prefetch(&p->of->name_len);
			__builtin_prefetch(pub_answers(p));
			h->stage = HINT_ANSWER;
			return;
		}
		if (h->node != NULL)
			h->node = h->node->next;
		break;
	case HINT_ANSWER:
		touch_answer(node_of(r, h->node), qtype);
		h->stage = HINT_DONE;
		return;
	case HINT_NONE:
	case HINT_DONE:
		return;
	}
	if (h->node != NULL)
		__builtin_prefetch(h->node);
	else
		h->stage = HINT_DONE;
}

void
replica_lookup(const struct replica *r, const uint8_t *qname, uint16_t qtype,
	       const struct replica_hint *hint, struct dns_lookup *out)
{
	int hinted = hint != NULL && hint->stage != HINT_NONE;
	const struct replica_zone *z = hinted ? hint->zone : zone_of(r, qname);
	const struct pub_node *n;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->kind = LOOKUP_REFUSED;
	if (z == NULL)
		return;
	out->apex = z->pz->apex;
	out->apex_len = z->pz->apex_len;
	if (z->pz->has_cuts && (n = find_cut(r, z, qname, qtype)) != NULL) {
		out->kind = LOOKUP_REFERRAL;
		out->chunk = pub_referral(n);
		return;
	}
	n = hinted ? node_find_hashed(r, z, qname, dns_name_len(qname),
				      hint->hash) :
		     node_find(r, z, qname, dns_name_len(qname));
	out->chunk = &z->pz->negative;
	out->kind = n == NULL ? LOOKUP_NXDOMAIN : LOOKUP_NODATA;
	for (i = 0; n != NULL && i < n->nanswers; i++)
		if (dns_lookup_offer(out, &pub_answers(n)[i], qtype))
			return;
}
