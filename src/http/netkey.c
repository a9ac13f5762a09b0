/* netkey.c -- client networks as keys (see netkey.h). */
#include "netkey.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t V4_MAPPED[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
				       0xff };

/* Keeps the first `bits` bits of the 16 address bytes. */
static void
mask(uint8_t key[NETKEY_LEN], unsigned bits)
{
	unsigned i, keep;

	for (i = 0; i < 16; i++) {
		keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
		key[1 + i] &= (uint8_t)(0xFF00u >> keep);
	}
}

static void
from_v4(const void *a, unsigned bits, uint8_t key[NETKEY_LEN])
{
	memset(key, 0, NETKEY_LEN);
	key[0] = 4;
	memcpy(key + 1, a, 4);
	mask(key, bits);
}

static void
from_v6(const uint8_t a[16], unsigned v4_bits, unsigned v6_bits,
	uint8_t key[NETKEY_LEN])
{
	/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
	if (memcmp(a, V4_MAPPED, sizeof(V4_MAPPED)) == 0) {
		from_v4(a + 12, v4_bits, key);
		return;
	}
	key[0] = 6;
	memcpy(key + 1, a, 16);
	mask(key, v6_bits);
}

void
netkey_from_text(const char *addr, unsigned v4_bits, unsigned v6_bits,
		 uint8_t key[NETKEY_LEN])
{
	uint8_t a[16];

	if (inet_pton(AF_INET, addr, a) == 1) {
		from_v4(a, v4_bits, key);
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		from_v6(a, v4_bits, v6_bits, key);
	} else {
		memset(key, 0, NETKEY_LEN);
		snprintf((char *)key + 1, NETKEY_LEN - 1, "%s", addr);
	}
}

void
netkey_from_sockaddr(const struct sockaddr *sa, unsigned v4_bits,
		     unsigned v6_bits, uint8_t key[NETKEY_LEN])
{
	if (sa->sa_family == AF_INET)
		from_v4(&((const struct sockaddr_in *)(const void *)sa)
				 ->sin_addr, v4_bits, key);
	else if (sa->sa_family == AF_INET6)
		from_v6(((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr.s6_addr, v4_bits, v6_bits, key);
	else
		memset(key, 0, NETKEY_LEN);
}
