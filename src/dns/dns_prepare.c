/* dns_prepare.c -- whole responses in wire form, made when data changes so
 * that answering a query is a copy and a few patches. */
#include "dns_data.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"
#include "util.h"

/* ---- preparing answers ---- */

static int
wire_of(ldns_pkt *p, uint8_t **wire, size_t *len)
{
	return ldns_pkt2wire(wire, p, len) == LDNS_STATUS_OK ? 0 : -1;
}

/* Appends the A and AAAA records of a target we serve to the additional
 * section, so that clients need no second query. */
static void
add_addresses(const struct dns_data *d, ldns_pkt *p, const ldns_rdf *target)
{
	uint8_t name[DNS_NAME_MAX];
	const struct dns_zone *z;
	const struct dns_node *n;
	size_t len, i;

	if (ldns_rdf_get_type(target) != LDNS_RDF_TYPE_DNAME ||
	    ldns_rdf_size(target) > DNS_NAME_MAX)
		return;
	dns_rdf_lower_wire(target, name, &len);
	z = dns_zone_of(d, name);
	n = z ? dns_find_node(d, z, name, len) : NULL;
	for (i = 0; n != NULL && i < ldns_rr_list_rr_count(n->rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(n->rrs, i);
		ldns_rr_type t = ldns_rr_get_type(rr);

		if (t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA)
			ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL,
					 ldns_rr_clone(rr));
	}
}

/* Which rdata field names a host that wants addresses in additional. */
static int
target_field(ldns_rr_type t)
{
	switch (t) {
	case LDNS_RR_TYPE_SRV: return 3;
	case LDNS_RR_TYPE_NS: return 0;
	case LDNS_RR_TYPE_MX: return 1;
	default: return -1;
	}
}

static int
rdf_order(const ldns_rdf *a, const ldns_rdf *b)
{
	size_t la = ldns_rdf_size(a), lb = ldns_rdf_size(b);
	int c = memcmp(ldns_rdf_data(a), ldns_rdf_data(b), la < lb ? la : lb);

	return c != 0 ? c : (la > lb) - (la < lb);
}

/* Address records by owner, type and address: far cheaper than
 * ldns_rr_compare, which writes both records out in wire form. */
static int
address_order(const void *a, const void *b)
{
	const ldns_rr *x = *(ldns_rr *const *)a, *y = *(ldns_rr *const *)b;
	int c = rdf_order(ldns_rr_owner(x), ldns_rr_owner(y));

	if (c == 0)
		c = (int)ldns_rr_get_type(x) - (int)ldns_rr_get_type(y);
	return c != 0 ? c : rdf_order(ldns_rr_rdf(x, 0), ldns_rr_rdf(y, 0));
}

/* Records sharing a target (one member's two peer URLs) gave its
 * addresses once each: the additional section keeps one of each. */
static void
unique_addresses(ldns_pkt *p)
{
	ldns_rr_list *l = ldns_pkt_additional(p);
	size_t n = ldns_rr_list_rr_count(l), i, kept = 0;
	ldns_rr **v = xmalloc((n ? n : 1) * sizeof(*v));

	for (i = 0; i < n; i++)
		v[i] = ldns_rr_list_rr(l, i);
	qsort(v, n, sizeof(*v), address_order);
	for (i = 0; i < n; i++) {
		if (kept > 0 && address_order(&v[kept - 1], &v[i]) == 0)
			ldns_rr_free(v[i]);
		else
			v[kept++] = v[i];
	}
	for (i = 0; i < kept; i++)
		ldns_rr_list_set_rr(l, v[i], i);
	ldns_rr_list_set_rr_count(l, kept);
	ldns_pkt_set_arcount(p, (uint16_t)kept);
	free(v);
}

static ldns_pkt *
new_response(const struct dns_node *n, uint16_t type)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *q = ldns_rr_new();

	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_aa(p, true);
	ldns_rr_set_owner(q, ldns_dname_new_frm_data((uint16_t)n->name_len,
						     n->name));
	ldns_rr_set_type(q, type);
	ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
	ldns_rr_set_question(q, true);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	return p;
}

static int
prepare_answer(const struct dns_data *d, const struct dns_node *n,
	       uint16_t type, struct dns_answer *out)
{
	ldns_pkt *p = new_response(n, type);
	int field = target_field(type), rc;
	uint8_t *wire = NULL;
	size_t i;

	for (i = 0; i < ldns_rr_list_rr_count(n->rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(n->rrs, i);

		if (ldns_rr_get_type(rr) == type)
			ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
					 ldns_rr_clone(rr));
	}
	/* The answer alone first: what is left when additional must go. */
	rc = wire_of(p, &wire, &out->noadd_len);
	free(wire);
	for (i = 0; rc == 0 && field >= 0 &&
		    i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++)
		add_addresses(d, p, ldns_rr_rdf(ldns_rr_list_rr(
					       ldns_pkt_answer(p), i),
					       (size_t)field));
	unique_addresses(p);
	out->arcount = ldns_pkt_arcount(p);
	out->type = type;
	if (rc == 0)
		rc = wire_of(p, &out->wire, &out->len);
	ldns_pkt_free(p);
	return rc;
}

/* Records as uncompressed wire, for chunks that follow any question. */
static void
append_rr(struct dns_chunk *c, const ldns_rr *rr, int section)
{
	uint8_t *w = NULL;
	size_t n = 0;

	if (ldns_rr2wire(&w, rr, section, &n) != LDNS_STATUS_OK)
		return;
	c->wire = xrealloc(c->wire, c->len + n);
	memcpy(c->wire + c->len, w, n);
	c->len += n;
	free(w);
}

static void
prepare_referral(const struct dns_data *d, struct dns_node *n)
{
	ldns_pkt *glue = ldns_pkt_new();
	size_t i;

	for (i = 0; i < ldns_rr_list_rr_count(n->rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(n->rrs, i);

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS)
			continue;
		append_rr(&n->referral, rr, LDNS_SECTION_AUTHORITY);
		n->referral.nscount++;
		add_addresses(d, glue, ldns_rr_rdf(rr, 0));
	}
	n->referral.noadd_len = n->referral.len;
	for (i = 0; i < ldns_pkt_arcount(glue); i++) {
		append_rr(&n->referral,
			  ldns_rr_list_rr(ldns_pkt_additional(glue), i),
			  LDNS_SECTION_ADDITIONAL);
		n->referral.arcount++;
	}
	ldns_pkt_free(glue);
}

void
dns_prepare_node(struct dns_data *d, struct dns_node *n)
{
	size_t i, j;

	dns_node_clear_answers(d, n);
	if (n->is_cut)
		prepare_referral(d, n);
	for (i = 0; i < ldns_rr_list_rr_count(n->rrs); i++) {
		uint16_t t = ldns_rr_get_type(ldns_rr_list_rr(n->rrs, i));

		/* At a cut only the DS is the parent's to answer. */
		if (n->is_cut && t != LDNS_RR_TYPE_DS)
			continue;
		for (j = 0; j < n->nanswers; j++)
			if (n->answers[j].type == t)
				break;
		if (j < n->nanswers)
			continue;
		n->answers = xrealloc(n->answers,
				      (n->nanswers + 1) * sizeof(*n->answers));
		memset(&n->answers[n->nanswers], 0, sizeof(*n->answers));
		if (prepare_answer(d, n, t, &n->answers[n->nanswers]) == 0) {
			n->nanswers++;
			d->nanswers++;
		}
	}
}

/* The SOA of negative answers, with the TTL RFC 2308 asks for. */
/* Appends a wire name; when it ends with the zone apex, that part becomes
 * a pointer filled in at answer time (see struct dns_chunk). */
static void
append_name(struct dns_chunk *c, const struct dns_zone *z, const ldns_rdf *r)
{
	uint8_t name[DNS_NAME_MAX];
	size_t len, keep;

	dns_rdf_lower_wire(r, name, &len);
	keep = len - z->apex_len;
	if (len < z->apex_len || !dns_name_is_under(name, z->apex) ||
	    c->napex_ptrs == 3) {
		keep = len; /* not below the apex: written whole */
	}
	c->wire = xrealloc(c->wire, c->len + keep + 2);
	memcpy(c->wire + c->len, ldns_rdf_data(r), keep);
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
dns_prepare_negative(struct dns_zone *z)
{
	struct dns_chunk *c = &z->negative;
	uint32_t ttl = ldns_rr_ttl(z->soa);
	uint32_t min = ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 6));
	size_t rdlen_at, i;

	dns_chunk_free(c);
	c->apex_len = (uint8_t)z->apex_len;
	append_name(c, z, ldns_rr_owner(z->soa));
	c->wire = xrealloc(c->wire, c->len + 10);
	dns_put16(c->wire + c->len, TYPE_SOA);
	dns_put16(c->wire + c->len + 2, CLASS_IN);
	dns_put16(c->wire + c->len + 4, (uint16_t)((ttl < min ? ttl : min) >> 16));
	dns_put16(c->wire + c->len + 6, (uint16_t)(ttl < min ? ttl : min));
	rdlen_at = c->len + 8;
	c->len += 10;
	append_name(c, z, ldns_rr_rdf(z->soa, 0));
	append_name(c, z, ldns_rr_rdf(z->soa, 1));
	c->wire = xrealloc(c->wire, c->len + 20);
	for (i = 2; i < 7; i++) {
		uint32_t v = ldns_rdf2native_int32(ldns_rr_rdf(z->soa, i));

		dns_put16(c->wire + c->len, (uint16_t)(v >> 16));
		dns_put16(c->wire + c->len + 2, (uint16_t)v);
		c->len += 4;
	}
	dns_put16(c->wire + rdlen_at, (uint16_t)(c->len - rdlen_at - 2));
	c->nscount = 1;
	c->noadd_len = c->len;
}

void
dns_prepare_all(struct dns_data *d)
{
	size_t i;

	for (i = 0; i < NODE_BUCKETS; i++) {
		struct dns_node *n = d->buckets[i];

		for (; n != NULL; n = n->hash_next)
			dns_prepare_node(d, n);
	}
	for (i = 0; i < d->nzones; i++)
		dns_prepare_negative(d->zones[i]);
}
