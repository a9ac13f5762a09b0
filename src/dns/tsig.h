/* tsig.h -- TSIG (RFC 8945): the keys of --tsig-key, verifying a signed
 * request, signing its answers, and the answers to requests that fail.
 *
 * The server verifies before it answers and signs after (server.c); a
 * transfer signs each of its messages with the same state, the first over
 * the request's MAC, the rest over the previous MAC (RFC 8945 5.3.1).
 */
#ifndef SRVGATE_DNS_TSIG_H
#define SRVGATE_DNS_TSIG_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define TSIG_MAX_KEYS 16
#define TSIG_MAC_MAX 64 /* hmac-sha512 */
#define TSIG_FUDGE 300

/* TSIG errors (RFC 8945 section 3); 0 is none. */
enum tsig_error {
	TSIG_OK = 0,
	TSIG_MALFORMED = -1, /* no sense to be made of it: FORMERR */
	TSIG_BADSIG = 16,
	TSIG_BADKEY = 17,
	TSIG_BADTIME = 18,
};

struct tsig_key {
	char name_text[256];	    /* as given, for logs */
	uint8_t name[DNS_NAME_MAX]; /* lower-case wire */
	size_t name_len;
	uint8_t alg[DNS_NAME_MAX];  /* the algorithm's name, wire */
	size_t alg_len;
	const char *digest;	    /* OpenSSL's name: "SHA256" */
	size_t mac_len;
	uint8_t secret[192];
	size_t secret_len;
};

struct tsig_keyring {
	struct tsig_key keys[TSIG_MAX_KEYS];
	size_t n;
	uint64_t rejected; /* requests answered with a TSIG error */
};

/* Adds a key from "NAME:ALGORITHM:BASE64SECRET". */
int tsig_key_add(struct tsig_keyring *kr, const char *spec, char *err);
/* The key of that name (text, any case, final dot or not), or NULL. */
const struct tsig_key *tsig_key_find(const struct tsig_keyring *kr,
				     const char *name);

/* A signed exchange: what the request said, and the MAC the next answer
 * is signed over. */
struct tsig_state {
	const struct tsig_key *key; /* NULL while the key is unknown */
	uint8_t name[DNS_NAME_MAX]; /* the key name the request gave */
	size_t name_len;
	uint8_t alg[DNS_NAME_MAX];
	size_t alg_len;
	uint64_t time_signed; /* the request's */
	uint16_t fudge;	      /* the request's */
	uint16_t original_id;
	enum tsig_error error; /* what the answer says */
	uint8_t mac[TSIG_MAC_MAX]; /* the request's, then the last answer's */
	size_t mac_len;
	unsigned nsigned; /* answers signed so far */
};

/* Checks the TSIG record at tsig_off, the last of the message (the parser
 * found it). Fills st either way: a failed check is answered from it. */
enum tsig_error tsig_verify(struct tsig_keyring *kr, const uint8_t *pkt,
			    size_t len, size_t tsig_off, uint64_t now,
			    struct tsig_state *st);
/* What a verify error means, for logs. */
const char *tsig_error_text(enum tsig_error e);

/* Bytes the TSIG record of an answer takes. */
size_t tsig_space(const struct tsig_state *st);
/* Appends the TSIG record to the message msg[0..len) and counts it in
 * ARCOUNT. Returns the new length, or 0 when it does not fit in cap. */
size_t tsig_sign(struct tsig_state *st, uint8_t *msg, size_t len, size_t cap,
		 uint64_t now);
/* The answer to a request whose TSIG failed (RFC 8945 5.3.2): NOTAUTH,
 * with a TSIG that carries the error; BADKEY and BADSIG unsigned (no MAC),
 * BADTIME signed and with our time. Returns its length. */
size_t tsig_error_answer(struct tsig_state *st, const uint8_t *pkt,
			 const struct dns_query *q, uint8_t *out, size_t cap,
			 uint64_t now);
/* Starts signing a request of our own (NOTIFY) with key. */
void tsig_start(struct tsig_state *st, const struct tsig_key *key,
		uint16_t id);

#endif
