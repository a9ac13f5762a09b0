/* cookie.h -- DNS cookies (RFC 7873) with the interoperable server cookies
 * of RFC 9018: version 1, three reserved bytes, a 32-bit timestamp and
 * SipHash-2-4 over client cookie | version | reserved | timestamp | client
 * IP under a 16-byte secret. Every server that shares the secret (NSD,
 * Knot, BIND, another srvgate) makes and accepts the same cookies.
 *
 * srvgate never requires cookies (RFC 7873 5.2.3, 5.2.4): a query without
 * a valid server cookie is answered as usual, with a fresh server cookie.
 * A valid one marks the client as verified: it is exempt from response
 * rate limiting and may get UDP answers up to --edns-buffer.
 */
#ifndef SRVGATE_DNS_COOKIE_H
#define SRVGATE_DNS_COOKIE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define COOKIE_CLIENT_LEN 8
#define COOKIE_SERVER_LEN 16   /* RFC 9018's: what we make */
#define COOKIE_ANSWER_LEN (COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN)
#define COOKIE_SECRET_LEN 16
#define COOKIE_PAST_MAX 3600   /* a server cookie older than this is stale */
#define COOKIE_FUTURE_MAX 300  /* clocks of an anycast set may differ */
#define COOKIE_REUSE_MAX 1800  /* younger than this: sent back as it came */

struct cookie_secrets {
	uint8_t current[COOKIE_SECRET_LEN];  /* makes and checks cookies */
	uint8_t previous[COOKIE_SECRET_LEN]; /* checks only, after a rotation */
	int has_previous;
};

enum cookie_status {
	COOKIE_NONE,	     /* no COOKIE option */
	COOKIE_CLIENT_ONLY,  /* a client cookie alone */
	COOKIE_INVALID,	     /* a server cookie we did not make, or stale */
	COOKIE_VALID,	     /* ours, within the time window */
};

/* Checks the data of a COOKIE option (8, or 16 to 40 bytes: the parser
 * refuses other lengths) from peer at unix time now, and writes the option
 * data the answer carries (the client cookie and our server cookie) into
 * answer. */
enum cookie_status cookie_check(const struct cookie_secrets *s,
				const uint8_t *data, size_t len,
				const struct sockaddr *peer, uint32_t now,
				uint8_t answer[COOKIE_ANSWER_LEN]);

/* Reads a secret of 32 hex digits from the first line of path. */
int cookie_secret_read(const char *path, uint8_t out[COOKIE_SECRET_LEN],
		       char *err);
/* Sets the secrets from --cookie-secret-file, or random ones when path
 * is empty. On a reload (SIGHUP) a changed secret becomes the current one
 * and the old one keeps verifying. Returns 1 when the secret changed, 0
 * when it did not, -1 with err (the old secrets stay). */
int cookie_secrets_load(struct cookie_secrets *s, const char *path,
			int reload, char *err);

#endif
