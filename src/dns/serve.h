/* serve.h -- the path one DNS message takes through the server
 * (server.c): parse, cookie, TSIG, answer or transfer, sign, and over UDP
 * response rate limiting. The sockets call it; so do the fuzz harnesses
 * (tests/fuzz/dns_fixture.h), with a server that listens nowhere and a
 * clock of their own. Not for use outside src/dns/ and tests/. */
#ifndef SRVGATE_DNS_SERVE_H
#define SRVGATE_DNS_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct dns_server;
struct evbuffer;

#define DNS_UDP_MAX 4096 /* larger datagrams are not DNS queries we serve */

/* The answer to a UDP query from peer in out (DNS_UDP_MAX bytes), after
 * rate limiting; 0 for none. now_s: the wall clock TSIG and cookies are
 * checked against; now_ms: the monotonic clock rate limiting counts. */
size_t dns_serve_udp(struct dns_server *srv, const uint8_t *pkt, size_t len,
		     const struct sockaddr *peer, uint64_t now_s,
		     uint64_t now_ms, uint8_t *out);

/* One message of a TCP client: its answer, or a transfer's messages, each
 * after its 2-byte length, added to out. Returns 0 when there is nothing
 * sane to say (the server then hangs up). */
int dns_serve_tcp(struct dns_server *srv, const uint8_t *msg, size_t len,
		  const struct sockaddr *peer, uint64_t now_s,
		  struct evbuffer *out);

#endif
