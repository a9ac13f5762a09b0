/* answer.h -- answering one DNS query, as one pipeline: classify, look up,
 * encode, add OPT. Works on caller buffers; never allocates. TSIG, cookies
 * and rate limiting are the server's business: it verifies before and
 * signs after (server.c), and tells the pipeline what it found. */
#ifndef SRVGATE_DNS_ANSWER_H
#define SRVGATE_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "cookie.h"
#include "replica.h"
#include "rrl.h"
#include "wire.h"

struct dns_view;

struct dns_stats {
	uint64_t queries, udp, tcp;
	uint64_t rcodes[24];
	uint64_t dropped, truncated, referrals;
};

struct dns_answer_ctx {
	const struct dns_view *view;
	/* A UDP worker's copy (replica.h), read instead of the view. */
	const struct replica *replica;
	uint16_t edns_buffer; /* our UDP payload ceiling */
	/* ... for clients without a valid cookie; 0: edns_buffer */
	uint16_t edns_buffer_nocookie;
	struct dns_stats *stats;
};

enum udp_ixfr {
	UDP_IXFR_REFUSED = 0, /* no --allow-transfer rule covers the client */
	UDP_IXFR_ALLOWED,
	UDP_IXFR_NOTAUTH,     /* not a zone of ours */
};

/* A query as it came, what the server learnt of it, and what the answer
 * turned out to be. */
struct dns_request {
	const uint8_t *pkt;
	size_t len;
	enum dns_parse parsed;
	struct dns_query q;
	int over_tcp;
	size_t reserve; /* bytes kept free below the client's limit for a
			   TSIG the caller appends */
	/* Cookies (the server checks them): the COOKIE option data answers
	 * carry (0 bytes: none), and what the client's server cookie was. */
	enum cookie_status cookie;
	uint8_t cookie_answer[COOKIE_ANSWER_LEN];
	size_t cookie_answer_len;
	/* An IXFR over UDP: whether the transfer rules let the client have
	 * the SOA (RFC 1995 2); refused unless the server says so. */
	enum udp_ixfr udp_ixfr;
	/* The answer, for rate limiting: its class, and the name it counts
	 * against (lower-case wire, or NULL). */
	enum rrl_class rclass;
	const uint8_t *rname;
	size_t rname_len;
	unsigned rcode;
	/* The replica lookup, begun ahead for the whole batch (server.c);
	 * HINT_NONE (zeroed): not begun. */
	struct replica_hint hint;
};

/* Writes the response into out (cap bytes, at least 512) and returns its
 * length, or 0 when the query deserves no answer. */
size_t dns_answer(const struct dns_answer_ctx *ctx, struct dns_request *req,
		  uint8_t *out, size_t cap);

/* The answer rate limiting sends instead of a limited one that slips:
 * header and question with TC, so that a real client asks again over
 * TCP; or, to a client that sent a cookie without a valid server cookie,
 * BADCOOKIE with a fresh one, so that it asks again with it (and is then
 * no longer limited). */
size_t dns_answer_slip(const struct dns_answer_ctx *ctx,
		       const struct dns_request *req, uint8_t *out,
		       size_t cap);

/* Parses and answers a query that has no TSIG to check (tests, tools). */
size_t dns_answer_query(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
			size_t len, uint8_t *out, size_t cap, int over_tcp);

#endif
