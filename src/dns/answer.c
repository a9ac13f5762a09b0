/* answer.c -- answering one DNS query, as one pipeline (NSD's query.c and
 * answer.c are the model): classify the query, look the name up, copy the
 * prepared answer or records, patch in the client's ID, flags and
 * question, and end with OPT (and our cookie, when the client sent one). */
#include "answer.h"

#include <string.h>

#include "replica.h"
#include "view.h"

#define TCP_MAX 65535

/* The most the client can take: 512 without EDNS, its buffer with it, and
 * never more than ours; without a valid cookie no more than what we give
 * an address that may be spoofed (amplification). TCP takes a whole
 * message. */
static size_t
payload_limit(const struct dns_answer_ctx *ctx, const struct dns_request *r,
	      size_t cap)
{
	const struct dns_query *q = &r->q;
	size_t limit = DNS_UDP_DEFAULT;

	if (r->over_tcp)
		limit = TCP_MAX;
	else if (q->has_edns && q->edns_udp > DNS_UDP_DEFAULT)
		limit = q->edns_udp < ctx->edns_buffer ? q->edns_udp :
							  ctx->edns_buffer;
	if (!r->over_tcp && r->cookie != COOKIE_VALID &&
	    ctx->edns_buffer_nocookie >= DNS_UDP_DEFAULT &&
	    limit > ctx->edns_buffer_nocookie)
		limit = ctx->edns_buffer_nocookie;
	if (limit > cap)
		limit = cap;
	return limit > r->reserve ? limit - r->reserve : 0;
}

/* Room for the OPT record (and its COOKIE) we append to EDNS queries. */
static size_t
opt_room(const struct dns_request *r)
{
	if (!r->q.has_edns)
		return 0;
	return 11 + (r->cookie_answer_len ? 4 + r->cookie_answer_len : 0);
}

/* RFC 1034 3.7.1: an answer to QCLASS ANY cannot be authoritative (we
 * might not know every class). */
static uint16_t
aa_flag(const struct dns_query *q)
{
	return q->qclass == CLASS_ANY ? 0 : FLAG_AA;
}

/* Appends OPT, with the requestor's cookie and ours when it sent one. */
static size_t
add_opt(const struct dns_answer_ctx *ctx, const struct dns_request *r,
	uint8_t *out, size_t len, size_t cap, unsigned rcode)
{
	if (r->q.has_edns)
		dns_add_opt_option(out, &len, cap, ctx->edns_buffer, rcode,
				   r->q.edns_do, EDNS_OPT_COOKIE,
				   r->cookie_answer_len ? r->cookie_answer :
							  NULL,
				   r->cookie_answer_len);
	return len;
}

static size_t
finish(const struct dns_answer_ctx *ctx, struct dns_request *r, uint8_t *out,
       size_t len, size_t cap, unsigned rcode)
{
	ctx->stats->rcodes[rcode < 24 ? rcode : 23]++;
	r->rcode = rcode;
	return add_opt(ctx, r, out, len, cap, rcode);
}

static size_t
reply_error(const struct dns_answer_ctx *ctx, struct dns_request *r,
	    uint8_t *out, size_t cap, unsigned rcode)
{
	size_t len = dns_write_reply_head(out, r->pkt, &r->q, 0, rcode);

	return finish(ctx, r, out, len, cap, rcode);
}

/* Too big for the client's buffer: header and question with TC. */
static size_t
reply_truncated(const struct dns_answer_ctx *ctx, struct dns_request *r,
		uint8_t *out, size_t cap, unsigned rcode)
{
	size_t len = dns_write_reply_head(out, r->pkt, &r->q,
					  aa_flag(&r->q) | FLAG_TC, rcode);

	ctx->stats->truncated++;
	return finish(ctx, r, out, len, cap, rcode);
}

/* A prepared answer holds its records only: the header and the client's
 * question (so its letter case and type come back) are written here, and
 * the records' owners point at offset 12 as before. */
static size_t
encode_answer(const struct dns_answer_ctx *ctx, struct dns_request *r,
	      const struct dns_answer *a, uint8_t *out, size_t cap,
	      size_t limit)
{
	const struct dns_query *q = &r->q;
	size_t head = dns_write_reply_head(out, r->pkt, q, aa_flag(q),
					   RCODE_NOERROR);
	size_t take = a->len;
	uint16_t ar = a->arcount;

	if (head + take + opt_room(r) > limit) {
		/* Additional data is optional: drop it before truncating. */
		take = a->noadd_len;
		ar = 0;
		if (head + take + opt_room(r) > limit)
			return reply_truncated(ctx, r, out, cap, RCODE_NOERROR);
	}
	memcpy(out + head, a->wire, take);
	dns_put16(out + 6, a->ancount);
	dns_put16(out + 10, ar);
	return finish(ctx, r, out, head + take, cap, RCODE_NOERROR);
}

/* Where the zone apex starts in the question: the name ends with it. */
static size_t
apex_in_question(const struct dns_query *q, const struct dns_chunk *c)
{
	return DNS_HEADER_SIZE + q->qname_len - c->apex_len;
}

/* Negative answers and referrals: question, then the prepared records. */
static size_t
encode_chunk(const struct dns_answer_ctx *ctx, struct dns_request *r,
	     const struct dns_chunk *c, uint16_t flags, unsigned rcode,
	     uint8_t *out, size_t cap, size_t limit)
{
	const struct dns_query *q = &r->q;
	size_t len = dns_write_reply_head(out, r->pkt, q, flags, rcode);
	size_t take = c->len, i;
	uint16_t ar = c->arcount;

	if (len + take + opt_room(r) > limit) {
		take = c->noadd_len;
		ar = 0;
		if (len + take + opt_room(r) > limit)
			return reply_truncated(ctx, r, out, cap, rcode);
	}
	memcpy(out + len, c->wire, take);
	for (i = 0; i < c->napex_ptrs; i++)
		if (c->apex_ptr_at[i] < take)
			dns_put16(out + len + c->apex_ptr_at[i],
				  (uint16_t)(0xC000 | apex_in_question(q, c)));
	dns_put16(out + 6, c->ancount);
	dns_put16(out + 8, c->nscount);
	dns_put16(out + 10, ar);
	return finish(ctx, r, out, len + take, cap, rcode);
}

/* What rate limiting counts the answer against: the name and type for
 * records, the zone for the rest (random names all count as one). */
static void
classify(struct dns_request *r, const struct dns_lookup *res)
{
	r->rclass = RRL_ERROR;
	r->rname = res->apex;
	r->rname_len = res->apex_len;
	switch (res->kind) {
	case LOOKUP_ANSWER:
		r->rclass = RRL_ANSWER;
		r->rname = r->q.qname;
		r->rname_len = r->q.qname_len;
		break;
	case LOOKUP_NXDOMAIN:
		r->rclass = RRL_NXDOMAIN;
		break;
	case LOOKUP_NODATA:
	case LOOKUP_REFERRAL:
		r->rclass = RRL_NODATA;
		break;
	case LOOKUP_REFUSED:
		break;
	}
}

/* A query we answer from the view: what the lookup found, encoded. */
static size_t
answer_lookup(const struct dns_answer_ctx *ctx, struct dns_request *r,
	      uint16_t qtype, uint8_t *out, size_t cap)
{
	const struct dns_query *q = &r->q;
	size_t limit = payload_limit(ctx, r, cap);
	struct dns_lookup res;

	if (ctx->replica != NULL)
		replica_lookup(ctx->replica, q->qname, qtype, &r->hint,
			       &res);
	else
		dns_view_lookup(ctx->view, q->qname, qtype, &res);
	classify(r, &res);
	switch (res.kind) {
	case LOOKUP_ANSWER:
		return encode_answer(ctx, r, res.answer, out, cap, limit);
	case LOOKUP_NODATA:
		return encode_chunk(ctx, r, res.chunk, aa_flag(q),
				    RCODE_NOERROR, out, cap, limit);
	case LOOKUP_NXDOMAIN:
		return encode_chunk(ctx, r, res.chunk, aa_flag(q),
				    RCODE_NXDOMAIN, out, cap, limit);
	case LOOKUP_REFERRAL:
		ctx->stats->referrals++;
		return encode_chunk(ctx, r, res.chunk, 0, RCODE_NOERROR, out,
				    cap, limit);
	case LOOKUP_REFUSED:
		break;
	}
	return reply_error(ctx, r, out, cap, RCODE_REFUSED);
}

/* IXFR over UDP (RFC 1995 2): the current SOA alone, which tells the
 * client whether to transfer over TCP. AXFR has no UDP form. */
static size_t
answer_transfer(const struct dns_answer_ctx *ctx, struct dns_request *r,
		uint8_t *out, size_t cap)
{
	const struct dns_query *q = &r->q;

	if (r->over_tcp || q->qtype != TYPE_IXFR)
		return reply_error(ctx, r, out, cap, RCODE_REFUSED);
	switch (r->udp_ixfr) {
	case UDP_IXFR_ALLOWED:
		return answer_lookup(ctx, r, TYPE_SOA, out, cap);
	case UDP_IXFR_NOTAUTH:
		return reply_error(ctx, r, out, cap, RCODE_NOTAUTH);
	case UDP_IXFR_REFUSED:
		break;
	}
	return reply_error(ctx, r, out, cap, RCODE_REFUSED);
}

size_t
dns_answer(const struct dns_answer_ctx *ctx, struct dns_request *r,
	   uint8_t *out, size_t cap)
{
	const struct dns_query *q = &r->q;

	ctx->stats->queries++;
	r->rclass = RRL_ERROR;
	r->rname = NULL;
	r->rname_len = 0;
	if (r->parsed == PARSE_DROP) {
		ctx->stats->dropped++;
		return 0;
	}
	/* Whatever the counts say: the opcode comes first (NSD, BIND). */
	if (q->opcode != OPCODE_QUERY)
		return reply_error(ctx, r, out, cap, RCODE_NOTIMP);
	if (r->parsed == PARSE_FORMERR)
		return reply_error(ctx, r, out, cap, RCODE_FORMERR);
	if (q->has_edns && q->edns_version > 0)
		return reply_error(ctx, r, out, cap, RCODE_BADVERS);
	if (q->qclass != CLASS_IN && q->qclass != CLASS_ANY)
		return reply_error(ctx, r, out, cap, RCODE_REFUSED);
	/* Transfers over TCP are answered by xfr.c. */
	if (dns_query_is_transfer(q))
		return answer_transfer(ctx, r, out, cap);
	return answer_lookup(ctx, r, q->qtype, out, cap);
}

size_t
dns_answer_slip(const struct dns_answer_ctx *ctx,
		const struct dns_request *r, uint8_t *out, size_t cap)
{
	unsigned rcode = r->rcode;
	uint16_t flags = FLAG_TC;
	size_t len;

	if (r->cookie_answer_len > 0 && r->cookie != COOKIE_VALID) {
		rcode = RCODE_BADCOOKIE;
		flags = 0;
	}
	len = dns_write_reply_head(out, r->pkt, &r->q, flags, rcode);
	return add_opt(ctx, r, out, len, cap, rcode);
}

size_t
dns_answer_query(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
		 size_t len, uint8_t *out, size_t cap, int over_tcp)
{
	struct dns_request r;

	memset(&r, 0, sizeof(r));
	r.pkt = pkt;
	r.len = len;
	r.over_tcp = over_tcp;
	r.parsed = dns_parse_query(pkt, len, &r.q);
	return dns_answer(ctx, &r, out, cap);
}
