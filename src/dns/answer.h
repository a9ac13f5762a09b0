/* answer.h -- answering one DNS query, as one pipeline: classify, look up,
 * encode, add OPT. Works on caller buffers; never allocates. TSIG is the
 * server's business: it verifies before and signs after (server.c). */
#ifndef SRVGATE_DNS_ANSWER_H
#define SRVGATE_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct dns_view;

struct dns_stats {
	uint64_t queries, udp, tcp;
	uint64_t rcodes[24];
	uint64_t dropped, truncated, referrals;
};

struct dns_answer_ctx {
	const struct dns_view *view;
	uint16_t edns_buffer; /* our UDP payload ceiling */
	struct dns_stats *stats;
};

/* A query as it came, and what is known of it. */
struct dns_request {
	const uint8_t *pkt;
	size_t len;
	enum dns_parse parsed;
	struct dns_query q;
	int over_tcp;
	size_t reserve; /* bytes kept free below the client's limit for a
			   TSIG the caller appends */
};

/* Writes the response into out (cap bytes, at least 512) and returns its
 * length, or 0 when the query deserves no answer. */
size_t dns_answer(const struct dns_answer_ctx *ctx,
		  const struct dns_request *req, uint8_t *out, size_t cap);

/* Parses and answers a query that has no TSIG to check (tests, tools). */
size_t dns_answer_query(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
			size_t len, uint8_t *out, size_t cap, int over_tcp);

#endif
