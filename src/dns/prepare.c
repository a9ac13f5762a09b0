/* prepare.c -- whole responses in wire form, made when data changes.
 *
 * The encoding is ours and needs no compression table: every answer owner
 * is a pointer to the question name at offset 12 (so the client's letter
 * case comes back, as NSD and Knot do), and an address in the additional
 * section points at the target name inside the record that asked for it.
 * Names inside rdata are written whole: RFC 2782 forbids compressing SRV
 * targets, and for the rest compression would only save bytes.
 */
#include "prepare.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MSG_MAX 65535
#define QNAME_PTR 0xC00C
#define PTR_MAX 0x3FFF /* the largest offset a pointer can hold */

/* An answer being written into the data's scratch buffer. */
struct msg {
	uint8_t *b;
	size_t len;
	uint16_t count;
	int full; /* a record did not fit: the rest are left out */
};

/* Appends a record whose owner is a pointer to `ptr`, or the whole
 * owner name when ptr is 0. */
static int
put_rr(struct msg *m, size_t ptr, const uint8_t *owner, size_t owner_len,
       uint16_t type, const struct dns_rr *rr)
{
	size_t need = (ptr ? 2 : owner_len) + 10 + rr->rdlen;
	uint8_t *p = m->b + m->len;

	if (m->full || m->len + need > MSG_MAX) {
		m->full = 1;
		return -1;
	}
	if (ptr != 0) {
		dns_put16(p, (uint16_t)(0xC000 | ptr));
		p += 2;
	} else {
		memcpy(p, owner, owner_len);
		p += owner_len;
	}
	dns_put16(p, type);
	dns_put16(p + 2, CLASS_IN);
	dns_put32(p + 4, rr->ttl);
	dns_put16(p + 8, rr->rdlen);
	memcpy(p + 10, rr->rdata, rr->rdlen);
	m->len += need;
	m->count++;
	return 0;
}

/* Where a type's rdata names a host whose addresses belong in the
 * additional section, or -1. */
static int
target_at(uint16_t type)
{
	switch (type) {
	case TYPE_SRV: return 6;
	case TYPE_NS: return 0;
	case TYPE_MX: return 2;
	default: return -1;
	}
}

/* The node of a name we serve, or NULL. */
static const struct dns_node *
find_name(const struct dns_data *d, const uint8_t *name, size_t len)
{
	const struct dns_zone *z = dns_zone_of(d, name);

	return z ? dns_node_find(z, name, len) : NULL;
}

/* Appends the A and AAAA records of node n, owned by a pointer to `ptr`
 * (or n's whole name when ptr is 0), once per message: two SRV records of
 * one member share its target. */
static void
put_addresses(struct dns_data *d, struct msg *m, struct dns_node *n,
	      size_t ptr)
{
	static const uint16_t types[] = { TYPE_A, TYPE_AAAA };
	size_t i;

	if (n == NULL || n->mark == d->mark)
		return;
	n->mark = d->mark;
	for (i = 0; i < 2; i++) {
		const struct dns_rrset *set = dns_node_rrset(n, types[i]);
		const struct dns_rr *rr;

		for (rr = set ? set->head : NULL; rr != NULL; rr = rr->next)
			if (rr->refs > 0)
				put_rr(m, ptr, n->name, n->name_len, types[i],
				       rr);
	}
}

/* The addresses of the name at `at` in the message (uncompressed, within
 * limit), pointing at it. */
static void
add_addresses(struct dns_data *d, struct msg *m, size_t at, size_t limit)
{
	uint8_t name[DNS_NAME_MAX];
	size_t len = 0;

	while (at + len < limit && m->b[at + len] != 0 &&
	       len + m->b[at + len] + 2u <= DNS_NAME_MAX)
		len += m->b[at + len] + 1u;
	if (at + len >= limit || m->b[at + len] != 0)
		return; /* not a whole name inside the rdata */
	memcpy(name, m->b + at, ++len);
	dns_name_lower(name, len);
	put_addresses(d, m, (struct dns_node *)find_name(d, name, len),
		      at <= PTR_MAX ? at : 0);
}

/* Walks the answer records (each owned by a 2-byte pointer) and adds the
 * addresses of the hosts they name. */
static void
add_additional(struct dns_data *d, struct msg *m, size_t start,
	       uint16_t type)
{
	int at = target_at(type);
	size_t o = start, end = m->len;

	m->count = 0; /* from here on, the additional records */
	if (at < 0)
		return;
	while (o < end) {
		size_t rdata = o + 12, rdlen = dns_get16(m->b + o + 10);

		if ((size_t)at < rdlen)
			add_addresses(d, m, rdata + (size_t)at, rdata + rdlen);
		o = rdata + rdlen;
	}
}

/* Keeps the records of the message in scratch, without its header and
 * question (the query path writes the client's): for an address answer
 * they are two thirds of it. */
static void
set_answer(struct dns_data *d, struct dns_rrset *set, const struct msg *m,
	   size_t start, size_t noadd_len, uint16_t ancount)
{
	struct dns_answer *a = &set->answer;

	if (a->wire == NULL)
		d->nanswers++;
	dns_wire_put(a->wire); /* workers may still hold the old one */
	a->wire = dns_wire_new(m->len - start); /* its real size */
	memcpy(a->wire, m->b + start, m->len - start);
	a->len = (uint32_t)(m->len - start);
	a->noadd_len = (uint32_t)(noadd_len - start);
	a->ancount = ancount;
	a->arcount = m->count;
}

static void
prepare_rrset(struct dns_data *d, const struct dns_node *n,
	      struct dns_rrset *set)
{
	/* The records go where they will lie in the message, after a header
	 * and this name's question, so that the additional records' pointers
	 * into them hold their final offsets; set_answer keeps them only. */
	struct msg m = { d->scratch, DNS_HEADER_SIZE + n->name_len + 4, 0, 0 };
	const struct dns_rr *rr;
	size_t start = m.len, noadd_len;
	uint16_t ancount;

	for (rr = set->head; rr != NULL; rr = rr->next)
		if (rr->refs > 0)
			put_rr(&m, DNS_HEADER_SIZE, NULL, 0, set->answer.type,
			       rr);
	if (m.full)
		log_warn("dns: the answer for %u records of type %u is over "
			 "64 KiB: some are left out", (unsigned)m.count,
			 set->answer.type);
	ancount = m.count;
	noadd_len = m.len;
	d->mark++;
	add_additional(d, &m, start, set->answer.type);
	set_answer(d, set, &m, start, noadd_len, ancount);
}

/* ---- referrals ---- */

/* The NS records of a cut with their glue, uncompressed: they follow any
 * question, so nothing in them can point at it. */
static void
prepare_referral(struct dns_data *d, struct dns_node *n)
{
	const struct dns_rrset *ns = dns_node_rrset(n, TYPE_NS);
	struct msg m = { d->scratch, 0, 0, 0 };
	struct dns_chunk *c;
	const struct dns_rr *rr;

	if (n->referral == NULL)
		n->referral = xcalloc(1, sizeof(*n->referral));
	c = n->referral;
	for (rr = ns->head; rr != NULL; rr = rr->next)
		put_rr(&m, 0, n->name, n->name_len, TYPE_NS, rr);
	c->nscount = m.count;
	c->noadd_len = m.len;
	d->mark++;
	m.count = 0;
	for (rr = ns->head; rr != NULL; rr = rr->next) {
		uint8_t name[DNS_NAME_MAX];
		size_t o = 0, len = dns_read_name(rr->rdata, rr->rdlen, &o,
						  name);

		if (len > 0)
			put_addresses(d, &m, (struct dns_node *)find_name(
						     d, name, len), 0);
	}
	c->arcount = m.count;
	free(c->wire);
	c->wire = xmalloc(m.len ? m.len : 1);
	memcpy(c->wire, m.b, m.len);
	c->len = m.len;
}

void
prepare_node(struct dns_data *d, struct dns_node *n)
{
	const struct dns_rrset *ns = dns_node_rrset(n, TYPE_NS);
	size_t i;

	if (n->is_cut && ns != NULL && ns->answer.dirty)
		prepare_referral(d, n);
	for (i = 0; i < n->nsets; i++) {
		struct dns_rrset *set = &n->sets[i];

		if (!set->answer.dirty)
			continue;
		set->answer.dirty = 0;
		/* At a cut only the DS is the parent's to answer. */
		if (n->is_cut && set->answer.type != TYPE_DS)
			continue;
		prepare_rrset(d, n, set);
	}
}

/* ---- negative answers ---- */

/* Appends a wire name; when it ends with the zone apex, that part becomes
 * a pointer filled in at answer time (see struct dns_chunk). */
static void
append_name(struct dns_chunk *c, const struct dns_zone *z,
	    const uint8_t *name, size_t len)
{
	uint8_t lower[DNS_NAME_MAX];
	size_t keep = len;

	memcpy(lower, name, len);
	dns_name_lower(lower, len);
	if (len >= z->apex_len && dns_name_is_under(lower, z->apex) &&
	    c->napex_ptrs < 3)
		keep = len - z->apex_len;
	c->wire = xrealloc(c->wire, c->len + keep + 2);
	memcpy(c->wire + c->len, name, keep);
	c->len += keep;
	if (keep == len)
		return;
	c->apex_ptr_at[c->napex_ptrs++] = (uint16_t)c->len;
	c->wire[c->len++] = 0xC0;
	c->wire[c->len++] = 0;
}

/* The SOA of negative answers, with the TTL RFC 2308 asks for, its names
 * compressed against the question as NSD's and Knot's are. */
void
prepare_negative(struct dns_zone *z)
{
	struct dns_chunk *c = &z->negative;
	const uint8_t *rdata = z->soa->rdata;
	size_t mname = dns_name_len(rdata);
	size_t rname = dns_name_len(rdata + mname);
	uint32_t ttl = z->soa->ttl;
	uint32_t min = dns_get32(rdata + mname + rname + 16);
	size_t rdlen_at;

	free(c->wire);
	memset(c, 0, sizeof(*c));
	c->apex_len = (uint8_t)z->apex_len;
	append_name(c, z, z->apex, z->apex_len);
	c->wire = xrealloc(c->wire, c->len + 10);
	dns_put16(c->wire + c->len, TYPE_SOA);
	dns_put16(c->wire + c->len + 2, CLASS_IN);
	dns_put32(c->wire + c->len + 4, ttl < min ? ttl : min);
	rdlen_at = c->len + 8;
	c->len += 10;
	append_name(c, z, rdata, mname);
	append_name(c, z, rdata + mname, rname);
	c->wire = xrealloc(c->wire, c->len + 20);
	memcpy(c->wire + c->len, rdata + mname + rname, 20);
	c->len += 20;
	dns_put16(c->wire + rdlen_at, (uint16_t)(c->len - rdlen_at - 2));
	c->nscount = 1;
	c->noadd_len = c->len;
}
