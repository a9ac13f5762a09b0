/* netkey.h -- a client's network as a fixed-size key: the address with the
 * bits past a prefix length cleared, so that the rate limit and the
 * per-address shares can count an IPv6 host's whole /64 as one client. */
#ifndef SRVGATE_HTTP_NETKEY_H
#define SRVGATE_HTTP_NETKEY_H

#include <stdint.h>

struct sockaddr;

/* A family byte (4, 6, or 0 for text that is no address) and 16 bytes. */
#define NETKEY_LEN 17

/* The key of a printed address; an IPv4-mapped IPv6 address counts as
 * the IPv4 address. Text that is no address is its own key. */
void netkey_from_text(const char *addr, unsigned v4_bits, unsigned v6_bits,
		      uint8_t key[NETKEY_LEN]);
/* The same for a socket address; other families get the key of "". */
void netkey_from_sockaddr(const struct sockaddr *sa, unsigned v4_bits,
			  unsigned v6_bits, uint8_t key[NETKEY_LEN]);

#endif
