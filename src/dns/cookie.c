/* cookie.c -- DNS cookies (RFC 7873), server cookies as RFC 9018 makes
 * them, so that they interoperate with NSD, Knot and BIND. The hash is the
 * tree's one SipHash-2-4 (htable.c), under the cookie secret. */
#include "cookie.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "htable.h"
#include "util.h"
#include "wire.h"

#define COOKIE_VERSION 1

/* The hash of a server cookie whose first 8 bytes (version, reserved,
 * timestamp) are in server, for client cookie and peer, as 8 bytes: the
 * reference SipHash writes its result little-endian. */
static void
server_hash(const uint8_t secret[COOKIE_SECRET_LEN], const uint8_t *client,
	    const uint8_t *server, const struct sockaddr *peer, uint8_t out[8])
{
	uint8_t in[COOKIE_CLIENT_LEN + 8 + 16];
	size_t n = COOKIE_CLIENT_LEN + 8;
	uint64_t h;
	int i;

	memcpy(in, client, COOKIE_CLIENT_LEN);
	memcpy(in + COOKIE_CLIENT_LEN, server, 8);
	if (peer->sa_family == AF_INET6) {
		memcpy(in + n, &((const struct sockaddr_in6 *)peer)->sin6_addr,
		       16);
		n += 16;
	} else if (peer->sa_family == AF_INET) {
		memcpy(in + n, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		n += 4;
	}
	h = siphash24(secret, in, n);
	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(h >> (8 * i));
}

/* A fresh server cookie at time now, after the client cookie in answer. */
static void
make_server_cookie(const struct cookie_secrets *s, const struct sockaddr *peer,
		   uint32_t now, uint8_t answer[COOKIE_ANSWER_LEN])
{
	uint8_t *server = answer + COOKIE_CLIENT_LEN;

	server[0] = COOKIE_VERSION;
	server[1] = server[2] = server[3] = 0;
	dns_put32(server + 4, now);
	server_hash(s->current, answer, server, peer, server + 8);
}

/* 1 when the server cookie came from this secret. */
static int
made_with(const uint8_t secret[COOKIE_SECRET_LEN], const uint8_t *data,
	  const struct sockaddr *peer)
{
	uint8_t want[8];

	server_hash(secret, data, data + COOKIE_CLIENT_LEN, peer, want);
	return CRYPTO_memcmp(want, data + COOKIE_CLIENT_LEN + 8, 8) == 0;
}

/* Checks a server cookie of ours; *reuse when it may be sent back as is
 * (made with the current secret and young enough). */
static int
server_cookie_valid(const struct cookie_secrets *s, const uint8_t *data,
		    size_t len, const struct sockaddr *peer, uint32_t now,
		    int *reuse)
{
	const uint8_t *server = data + COOKIE_CLIENT_LEN;
	/* RFC 1982 serial arithmetic: the clock wraps in 2106. */
	int32_t age = (int32_t)(now - dns_get32(server + 4));

	*reuse = 0;
	if (len != COOKIE_ANSWER_LEN || server[0] != COOKIE_VERSION ||
	    age > COOKIE_PAST_MAX || age < -COOKIE_FUTURE_MAX)
		return 0;
	if (made_with(s->current, data, peer)) {
		*reuse = age >= 0 && age < COOKIE_REUSE_MAX;
		return 1;
	}
	return s->has_previous && made_with(s->previous, data, peer);
}

enum cookie_status
cookie_check(const struct cookie_secrets *s, const uint8_t *data, size_t len,
	     const struct sockaddr *peer, uint32_t now,
	     uint8_t answer[COOKIE_ANSWER_LEN])
{
	enum cookie_status st = COOKIE_CLIENT_ONLY;
	int reuse = 0;

	if (len < COOKIE_CLIENT_LEN)
		return COOKIE_NONE;
	if (len > COOKIE_CLIENT_LEN)
		st = server_cookie_valid(s, data, len, peer, now, &reuse) ?
			     COOKIE_VALID : COOKIE_INVALID;
	memcpy(answer, data, COOKIE_CLIENT_LEN);
	if (reuse)
		memcpy(answer + COOKIE_CLIENT_LEN, data + COOKIE_CLIENT_LEN,
		       COOKIE_SERVER_LEN);
	else
		make_server_cookie(s, peer, now, answer);
	return st;
}

/* ---- secrets ---- */

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
cookie_secret_read(const char *path, uint8_t out[COOKIE_SECRET_LEN],
		   char *err)
{
	char line[256], *p;
	size_t n = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return fail(err, "--cookie-secret-file %s: %s", path,
			    strerror(errno));
	p = fgets(line, sizeof(line), fp);
	fclose(fp);
	for (; p != NULL && *p != '\0' && !isspace((unsigned char)*p); p += 2) {
		int hi = hex_value((unsigned char)p[0]);
		int lo = hi < 0 ? -1 : hex_value((unsigned char)p[1]);

		if (lo < 0 || n == COOKIE_SECRET_LEN)
			break;
		out[n++] = (uint8_t)(hi << 4 | lo);
	}
	if (n != COOKIE_SECRET_LEN || p == NULL ||
	    (*p != '\0' && !isspace((unsigned char)*p)))
		return fail(err, "--cookie-secret-file %s: the first line must "
			    "be %d hex digits (e.g. from `head -c16 "
			    "/dev/urandom | xxd -p`)", path,
			    2 * COOKIE_SECRET_LEN);
	return 0;
}

int
cookie_secrets_load(struct cookie_secrets *s, const char *path, int reload,
		    char *err)
{
	uint8_t next[COOKIE_SECRET_LEN];

	if (path == NULL || path[0] == '\0') {
		if (reload)
			return 0; /* a random secret lives as long as we do */
		if (random_bytes(next, sizeof(next)) != 0)
			return fail(err, "cookie secret: no random bytes");
	} else if (cookie_secret_read(path, next, err) != 0) {
		return -1;
	}
	if (reload && memcmp(next, s->current, sizeof(next)) == 0)
		return 0;
	if (reload) {
		memcpy(s->previous, s->current, sizeof(s->previous));
		s->has_previous = 1;
	}
	memcpy(s->current, next, sizeof(next));
	return reload;
}
