/* xfr.h -- zone transfers (AXFR, IXFR), NOTIFY to secondaries, and the
 * access rules and TSIG keys that guard them. Transfers are rare and large,
 * so this path builds messages with ldns, away from the query fast path. */
#ifndef SRVGATE_XFR_H
#define SRVGATE_XFR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util.h"

struct config;
struct dns_view;
struct evbuffer;
struct event_base;
struct xfr;

int xfr_new(struct xfr **out, struct event_base *base,
	    const struct config *cfg, struct dns_view *view, char *err);
/* Answers an AXFR or IXFR query that came over TCP; appends the
 * length-prefixed messages to out. */
struct dns_query;
void xfr_answer_tcp(void *xfr, const uint8_t *pkt, size_t len,
		    const struct dns_query *q, const struct sockaddr *peer,
		    struct evbuffer *out);
/* Answers a TSIG-signed query that is not a transfer (a secondary's SOA
 * check, say): verifies it, answers as usual, signs the answer. Returns
 * the answer's length in out, 0 for none. */
struct dns_answer_ctx;
size_t xfr_answer_signed(void *xfr, const struct dns_answer_ctx *ctx,
			 const uint8_t *pkt, size_t len,
			 const struct dns_query *q, uint8_t *out, size_t cap,
			 int over_tcp);

/* The view calls this after a zone changed: NOTIFY the secondaries. */
void xfr_zone_changed(const char *origin, void *xfr);
void xfr_metrics(struct evbuffer *out, void *xfr);
void xfr_free(struct xfr *x);

#endif
