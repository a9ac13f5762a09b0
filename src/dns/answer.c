/* answer.c -- answering one DNS query, as one pipeline (NSD's query.c and
 * answer.c are the model): classify the query, look the name up, copy the
 * prepared answer or records, patch in the client's ID, flags and
 * question, and end with OPT. */
#include "answer.h"

#include <string.h>

#include "view.h"

#define TCP_MAX 65535

/* The most the client can take: 512 without EDNS, its buffer with it, and
 * never more than ours. TCP takes a whole message. */
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
	if (limit > cap)
		limit = cap;
	return limit > r->reserve ? limit - r->reserve : 0;
}

/* Room for the OPT record we append to EDNS queries. */
static size_t
opt_room(const struct dns_query *q)
{
	return q->has_edns ? 11 : 0;
}

static size_t
finish(const struct dns_answer_ctx *ctx, const struct dns_query *q,
       uint8_t *out, size_t len, size_t cap, unsigned rcode)
{
	ctx->stats->rcodes[rcode < 24 ? rcode : 23]++;
	if (q->has_edns)
		dns_add_opt(out, &len, cap, ctx->edns_buffer, rcode, q->edns_do);
	return len;
}

static size_t
reply_error(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
	    const struct dns_query *q, uint8_t *out, size_t cap,
	    unsigned rcode)
{
	size_t len = dns_write_reply_head(out, pkt, q, 0, rcode);

	return finish(ctx, q, out, len, cap, rcode);
}

/* Too big for the client's buffer: header and question with TC. */
static size_t
reply_truncated(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
		const struct dns_query *q, uint8_t *out, size_t cap)
{
	size_t len = dns_write_reply_head(out, pkt, q, FLAG_AA | FLAG_TC, 0);

	ctx->stats->truncated++;
	return finish(ctx, q, out, len, cap, RCODE_NOERROR);
}

static size_t
encode_answer(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
	      const struct dns_query *q, const struct dns_answer *a,
	      uint8_t *out, size_t cap, size_t limit)
{
	size_t len = a->len;

	if (len + opt_room(q) > limit) {
		/* Additional data is optional: drop it before truncating. */
		if (a->noadd_len + opt_room(q) > limit)
			return reply_truncated(ctx, pkt, q, out, cap);
		len = a->noadd_len;
	}
	memcpy(out, a->wire, len);
	dns_put16(out, q->id);
	dns_put16(out + 2, (uint16_t)(FLAG_QR | FLAG_AA |
				      (q->flags & (0x7800 | FLAG_RD | FLAG_CD))));
	if (len == a->noadd_len)
		dns_put16(out + 10, 0);
	/* The client's question, so its letter case and type come back. */
	memcpy(out + DNS_HEADER_SIZE, pkt + DNS_HEADER_SIZE,
	       q->question_end - DNS_HEADER_SIZE);
	return finish(ctx, q, out, len, cap, RCODE_NOERROR);
}

/* Where the zone apex starts in the question: the name ends with it. */
static size_t
apex_in_question(const struct dns_query *q, const struct dns_chunk *c)
{
	return DNS_HEADER_SIZE + q->qname_len - c->apex_len;
}

/* Negative answers and referrals: question, then the prepared records. */
static size_t
encode_chunk(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
	     const struct dns_query *q, const struct dns_chunk *c,
	     uint16_t flags, unsigned rcode, uint8_t *out, size_t cap,
	     size_t limit)
{
	size_t len = dns_write_reply_head(out, pkt, q, flags, rcode);
	size_t take = c->len, i;
	uint16_t ar = c->arcount;

	if (len + take + opt_room(q) > limit) {
		take = c->noadd_len;
		ar = 0;
		if (len + take + opt_room(q) > limit)
			return reply_truncated(ctx, pkt, q, out, cap);
	}
	memcpy(out + len, c->wire, take);
	for (i = 0; i < c->napex_ptrs; i++)
		if (c->apex_ptr_at[i] < take)
			dns_put16(out + len + c->apex_ptr_at[i],
				  (uint16_t)(0xC000 | apex_in_question(q, c)));
	dns_put16(out + 6, c->ancount);
	dns_put16(out + 8, c->nscount);
	dns_put16(out + 10, ar);
	return finish(ctx, q, out, len + take, cap, rcode);
}

/* A query we answer from the view: what the lookup found, encoded. */
static size_t
answer_lookup(const struct dns_answer_ctx *ctx, const struct dns_request *r,
	      uint8_t *out, size_t cap)
{
	const struct dns_query *q = &r->q;
	size_t limit = payload_limit(ctx, r, cap);
	struct dns_lookup res;

	dns_view_lookup(ctx->view, q->qname, q->qtype, &res);
	switch (res.kind) {
	case LOOKUP_ANSWER:
		return encode_answer(ctx, r->pkt, q, res.answer, out, cap,
				     limit);
	case LOOKUP_NODATA:
		return encode_chunk(ctx, r->pkt, q, res.chunk, FLAG_AA,
				    RCODE_NOERROR, out, cap, limit);
	case LOOKUP_NXDOMAIN:
		return encode_chunk(ctx, r->pkt, q, res.chunk, FLAG_AA,
				    RCODE_NXDOMAIN, out, cap, limit);
	case LOOKUP_REFERRAL:
		ctx->stats->referrals++;
		return encode_chunk(ctx, r->pkt, q, res.chunk, 0,
				    RCODE_NOERROR, out, cap, limit);
	case LOOKUP_REFUSED:
		break;
	}
	return reply_error(ctx, r->pkt, q, out, cap, RCODE_REFUSED);
}

size_t
dns_answer(const struct dns_answer_ctx *ctx, const struct dns_request *r,
	   uint8_t *out, size_t cap)
{
	const struct dns_query *q = &r->q;

	ctx->stats->queries++;
	switch (r->parsed) {
	case PARSE_DROP:
		ctx->stats->dropped++;
		return 0;
	case PARSE_FORMERR:
		return reply_error(ctx, r->pkt, q, out, cap, RCODE_FORMERR);
	case PARSE_OK:
		break;
	}
	if (q->opcode != OPCODE_QUERY)
		return reply_error(ctx, r->pkt, q, out, cap, RCODE_NOTIMP);
	if (q->has_edns && q->edns_version > 0)
		return reply_error(ctx, r->pkt, q, out, cap, RCODE_BADVERS);
	if (q->qclass != CLASS_IN && q->qclass != CLASS_ANY)
		return reply_error(ctx, r->pkt, q, out, cap, RCODE_REFUSED);
	/* Transfers are answered by xfr.c, over TCP, or not at all. */
	if (dns_query_is_transfer(q))
		return reply_error(ctx, r->pkt, q, out, cap, RCODE_REFUSED);
	return answer_lookup(ctx, r, out, cap);
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
