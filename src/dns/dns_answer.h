/* dns_answer.h -- answering one DNS query: parse, EDNS, look up, classify,
 * encode, add OPT. Works on caller buffers; never allocates. */
#ifndef SRVGATE_DNS_ANSWER_H
#define SRVGATE_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "dns_wire.h"

struct dns_view;

struct dns_stats {
	uint64_t queries, udp, tcp;
	uint64_t rcodes[24];
	uint64_t dropped, truncated, referrals;
};

struct dns_answer_ctx;
struct dns_query;

/* Answers a TSIG-signed query: checks the signature and signs the answer
 * (the transfer module does this, with ldns, off the fast path). */
typedef size_t (*dns_signed_fn)(void *arg, const struct dns_answer_ctx *ctx,
				const uint8_t *pkt, size_t len,
				const struct dns_query *q, uint8_t *out,
				size_t cap, int over_tcp);

struct dns_answer_ctx {
	const struct dns_view *view;
	uint16_t edns_buffer; /* our UDP payload ceiling */
	struct dns_stats *stats;
	dns_signed_fn answer_signed; /* NULL: TSIG is ignored */
	void *answer_signed_arg;
};

/* Writes the response to pkt into out (cap bytes, at least 512) and returns
 * its length, or 0 when the query deserves no answer. */
size_t dns_answer_query(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
			size_t len, uint8_t *out, size_t cap, int over_tcp);

/* The same for a query the caller has parsed already (dns_parse_query). */
size_t dns_answer_parsed(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
			 size_t len, enum dns_parse parsed,
			 const struct dns_query *q, uint8_t *out, size_t cap,
			 int over_tcp);

#endif
