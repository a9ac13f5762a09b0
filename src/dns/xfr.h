/* xfr.h -- zone transfers (AXFR, RFC 5936; IXFR, RFC 1995) as the server
 * calls them: over TCP, after the server has checked the request's TSIG.
 * The service's life (keys, rules, NOTIFY) is in include/dns.h. */
#ifndef SRVGATE_DNS_XFR_H
#define SRVGATE_DNS_XFR_H

#include <sys/socket.h>

#include "answer.h"
#include "tsig.h"

struct evbuffer;
struct xfr;
struct replica;

/* Answers an AXFR or IXFR request; ts is its verified TSIG exchange (NULL
 * when unsigned), with which every message is signed. Appends the
 * length-prefixed messages to out: the whole answer, and NULL; or for a
 * whole zone the first SOA, and the transfer that writes the rest, a
 * slice a call, with xfr_transfer_run (out must stay until it is freed).
 * wake(wake_arg) asks for a call soon, from the next loop turn (the
 * zones were reloaded: the run says the transfer ended). */
struct xfr_transfer;
struct xfr_transfer *xfr_answer(struct xfr *x, const struct dns_request *req,
				struct tsig_state *ts,
				const struct sockaddr *peer,
				struct evbuffer *out, void (*wake)(void *arg),
				void *wake_arg);

enum xfr_state {
	XFR_MORE,    /* a slice went out; call again */
	XFR_DONE,    /* the last SOA went out */
	XFR_ABORTED, /* the zone went (a reload): hang up */
};
/* Writes the next slice of nodes: until about 2 ms have passed or out
 * holds out_max bytes, or (whole) to the end. */
enum xfr_state xfr_transfer_run(struct xfr_transfer *t, size_t out_max,
				int whole);
void xfr_transfer_free(struct xfr_transfer *t); /* NULL: nothing */

/* Whether --allow-transfer refuses peer a transfer (what: "AXFR", say,
 * for the log): 1, logged and counted, or 0. Any thread may call it. */
int xfr_refuses(struct xfr *x, const struct tsig_state *ts,
		const struct sockaddr *peer, const char *what);

/* Whether the client may have the SOA that answers an IXFR over UDP
 * (RFC 1995 2): the same rules as a transfer over TCP. A UDP worker asks
 * with its replica (the zones it knows); it may call from its thread. */
enum udp_ixfr xfr_udp_ixfr(struct xfr *x, const struct dns_request *req,
			   const struct tsig_state *ts,
			   const struct sockaddr *peer,
			   const struct replica *rep);
/* The TSIG keys requests are verified with. */
struct tsig_keyring *xfr_keys(struct xfr *x);

#endif
