/* tsig.c -- TSIG (RFC 8945) over the wire bytes themselves: the MAC covers
 * exactly what is sent, so answers are signed as they are, with no
 * re-encoding. HMAC comes from OpenSSL's EVP_MAC. */
#include "tsig.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const struct {
	const char *name;   /* as --tsig-key names it */
	const char *wire;   /* the algorithm's domain name */
	const char *digest; /* OpenSSL's */
	size_t mac_len;
} algorithms[] = {
	{ "hmac-md5", "hmac-md5.sig-alg.reg.int", "MD5", 16 },
	{ "hmac-sha1", "hmac-sha1", "SHA1", 20 },
	{ "hmac-sha224", "hmac-sha224", "SHA224", 28 },
	{ "hmac-sha256", "hmac-sha256", "SHA256", 32 },
	{ "hmac-sha384", "hmac-sha384", "SHA384", 48 },
	{ "hmac-sha512", "hmac-sha512", "SHA512", 64 },
};

/* ---- keys ---- */

static int
decode_secret(struct tsig_key *k, const char *b64)
{
	size_t n = strlen(b64), pad = 0;
	int got;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(k->secret))
		return -1;
	while (pad < 2 && b64[n - 1 - pad] == '=')
		pad++;
	got = EVP_DecodeBlock(k->secret, (const unsigned char *)b64, (int)n);
	if (got < 0 || (size_t)got < pad)
		return -1;
	k->secret_len = (size_t)got - pad;
	return 0;
}

static int
set_algorithm(struct tsig_key *k, const char *alg)
{
	size_t i;

	for (i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
		if (strcasecmp(alg, algorithms[i].name) == 0) {
			k->alg_len = dns_name_from_text(algorithms[i].wire,
							k->alg);
			k->digest = algorithms[i].digest;
			k->mac_len = algorithms[i].mac_len;
			return 0;
		}
	return -1;
}

int
tsig_key_add(struct tsig_keyring *kr, const char *spec, char *err)
{
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : 0;
	struct tsig_key *k = &kr->keys[kr->n];
	char alg[32];

	if (kr->n == TSIG_MAX_KEYS)
		return fail(err, "--tsig-key: more than %d keys", TSIG_MAX_KEYS);
	memset(k, 0, sizeof(*k));
	if (c1 == NULL || c2 == NULL || c1 == spec || c2[1] == '\0' ||
	    (size_t)(c1 - spec) >= sizeof(k->name_text) ||
	    (size_t)(c2 - c1 - 1) >= sizeof(alg))
		return fail(err, "--tsig-key: '%s' is not "
			    "NAME:ALGORITHM:BASE64SECRET", spec);
	snprintf(k->name_text, sizeof(k->name_text), "%.*s", (int)(c1 - spec),
		 spec);
	snprintf(alg, sizeof(alg), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
	k->name_len = dns_name_from_text(k->name_text, k->name);
	if (k->name_len == 0)
		return fail(err, "--tsig-key: '%s' is not a domain name",
			    k->name_text);
	if (set_algorithm(k, alg) != 0)
		return fail(err, "--tsig-key %s: unknown algorithm '%s' (use "
			    "hmac-sha256, hmac-sha512, hmac-sha1 or hmac-md5)",
			    k->name_text, alg);
	if (decode_secret(k, c2 + 1) != 0)
		return fail(err, "--tsig-key %s: the secret is not base64",
			    k->name_text);
	kr->n++;
	return 0;
}

static const struct tsig_key *
find_wire(const struct tsig_keyring *kr, const uint8_t *name, size_t len)
{
	size_t i;

	for (i = 0; kr != NULL && i < kr->n; i++)
		if (kr->keys[i].name_len == len &&
		    memcmp(kr->keys[i].name, name, len) == 0)
			return &kr->keys[i];
	return NULL;
}

const struct tsig_key *
tsig_key_find(const struct tsig_keyring *kr, const char *name)
{
	uint8_t wire[DNS_NAME_MAX];
	size_t len = dns_name_from_text(name, wire);

	return len ? find_wire(kr, wire, len) : NULL;
}

/* ---- the MAC ---- */

struct hmac {
	EVP_MAC_CTX *ctx;
};

static int
hmac_begin(struct hmac *h, const struct tsig_key *k)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string("digest",
						     (char *)k->digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	h->ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (h->ctx != NULL &&
	    EVP_MAC_init(h->ctx, k->secret, k->secret_len, params) == 1)
		return 0;
	EVP_MAC_CTX_free(h->ctx);
	return -1;
}

static void
hmac_add(struct hmac *h, const void *p, size_t n)
{
	EVP_MAC_update(h->ctx, p, n);
}

static size_t
hmac_end(struct hmac *h, uint8_t *out)
{
	size_t n = 0;

	if (EVP_MAC_final(h->ctx, out, &n, TSIG_MAC_MAX) != 1)
		n = 0;
	EVP_MAC_CTX_free(h->ctx);
	return n;
}

/* The fields of a TSIG record other than the MAC and original ID. */
struct tsig_vars {
	uint64_t time;
	uint16_t fudge;
	uint16_t error;
	uint16_t other_len;
	const uint8_t *other;
};

/* Time signed (48 bits) and fudge, as they go on the wire. */
static void
put_timers(uint8_t *p, uint64_t time, uint16_t fudge)
{
	dns_put16(p, (uint16_t)(time >> 32));
	dns_put32(p + 2, (uint32_t)time);
	dns_put16(p + 6, fudge);
}

/* The TSIG variables (RFC 8945 4.3.3): name, class, TTL, algorithm,
 * timers, error and other data; or the timers alone. */
static void
hmac_vars(struct hmac *h, const struct tsig_state *st,
	  const struct tsig_vars *v, int timers_only)
{
	uint8_t buf[10];

	if (!timers_only) {
		hmac_add(h, st->name, st->name_len);
		dns_put16(buf, CLASS_ANY);
		dns_put32(buf + 2, 0);
		hmac_add(h, buf, 6);
		hmac_add(h, st->alg, st->alg_len);
	}
	put_timers(buf, v->time, v->fudge);
	hmac_add(h, buf, 8);
	if (timers_only)
		return;
	dns_put16(buf, v->error);
	dns_put16(buf + 2, v->other_len);
	hmac_add(h, buf, 4);
	hmac_add(h, v->other, v->other_len);
}

/* ---- verifying ---- */

/* Reads the TSIG record at off into st and v (which points into pkt). */
static int
parse_tsig(const uint8_t *pkt, size_t len, size_t off, struct tsig_state *st,
	   struct tsig_vars *v, const uint8_t **mac)
{
	size_t o = off, end;

	st->name_len = dns_read_name(pkt, len, &o, st->name);
	if (st->name_len == 0 || o + 10 > len)
		return -1;
	end = o + 10 + dns_get16(pkt + o + 8);
	o += 10;
	st->alg_len = end <= len ? dns_read_name(pkt, end, &o, st->alg) : 0;
	if (st->alg_len == 0 || o + 10 > end)
		return -1;
	v->time = (uint64_t)dns_get16(pkt + o) << 32 | dns_get32(pkt + o + 2);
	v->fudge = dns_get16(pkt + o + 6);
	st->mac_len = dns_get16(pkt + o + 8);
	o += 10;
	if (st->mac_len > TSIG_MAC_MAX || o + st->mac_len + 6 > end)
		return -1;
	*mac = pkt + o;
	o += st->mac_len;
	st->original_id = dns_get16(pkt + o);
	v->error = dns_get16(pkt + o + 2);
	v->other_len = dns_get16(pkt + o + 4);
	v->other = pkt + o + 6;
	return o + 6 + v->other_len == end ? 0 : -1;
}

/* The MAC of the request: its bytes before the TSIG, with the original ID
 * and one record less, then the variables as the request gave them. */
static size_t
request_mac(const struct tsig_state *st, const uint8_t *pkt, size_t tsig_off,
	    const struct tsig_vars *v, uint8_t *out)
{
	uint8_t head[DNS_HEADER_SIZE];
	struct hmac h;

	if (hmac_begin(&h, st->key) != 0)
		return 0;
	memcpy(head, pkt, DNS_HEADER_SIZE);
	dns_put16(head, st->original_id);
	dns_put16(head + 10, (uint16_t)(dns_get16(pkt + 10) - 1));
	hmac_add(&h, head, DNS_HEADER_SIZE);
	hmac_add(&h, pkt + DNS_HEADER_SIZE, tsig_off - DNS_HEADER_SIZE);
	hmac_vars(&h, st, v, 0);
	return hmac_end(&h, out);
}

static enum tsig_error
check(const struct tsig_keyring *kr, const uint8_t *pkt, size_t len,
      size_t tsig_off, uint64_t now, struct tsig_state *st)
{
	const struct tsig_key *k;
	struct tsig_vars v;
	const uint8_t *mac;
	uint8_t want[TSIG_MAC_MAX];

	if (parse_tsig(pkt, len, tsig_off, st, &v, &mac) != 0)
		return TSIG_MALFORMED;
	st->time_signed = v.time;
	st->fudge = v.fudge;
	k = find_wire(kr, st->name, st->name_len);
	/* A key is only good with its own algorithm. */
	if (k == NULL || k->alg_len != st->alg_len ||
	    memcmp(k->alg, st->alg, k->alg_len) != 0)
		return TSIG_BADKEY;
	st->key = k;
	if (st->mac_len != k->mac_len ||
	    request_mac(st, pkt, tsig_off, &v, want) != k->mac_len ||
	    CRYPTO_memcmp(want, mac, k->mac_len) != 0) {
		st->mac_len = 0; /* a MAC we cannot trust signs nothing */
		return TSIG_BADSIG;
	}
	memcpy(st->mac, mac, st->mac_len);
	/* Without this a recorded request could be replayed forever. */
	if (v.time > now + v.fudge || now > v.time + v.fudge)
		return TSIG_BADTIME;
	return TSIG_OK;
}

enum tsig_error
tsig_verify(struct tsig_keyring *kr, const uint8_t *pkt, size_t len,
	    size_t tsig_off, uint64_t now, struct tsig_state *st)
{
	memset(st, 0, sizeof(*st));
	st->error = check(kr, pkt, len, tsig_off, now, st);
	if (st->error != TSIG_OK) /* UDP workers verify from their threads */
		__atomic_add_fetch(&kr->rejected, 1, __ATOMIC_RELAXED);
	return st->error;
}

const char *
tsig_error_text(enum tsig_error e)
{
	switch (e) {
	case TSIG_OK: return "NOERROR";
	case TSIG_MALFORMED: return "malformed";
	case TSIG_BADSIG: return "BADSIG (wrong secret)";
	case TSIG_BADKEY: return "BADKEY (unknown key or algorithm)";
	case TSIG_BADTIME: return "BADTIME (clock skew or replay)";
	}
	return "unknown";
}

/* ---- signing ---- */

size_t
tsig_space(const struct tsig_state *st)
{
	size_t mac = st->key ? st->key->mac_len : 0;

	return st->name_len + 10 + st->alg_len + 16 + mac + 6;
}

/* Writes the TSIG record at p; returns its length. */
static size_t
put_record(const struct tsig_state *st, const struct tsig_vars *v,
	   const uint8_t *mac, size_t mac_len, uint8_t *p)
{
	size_t o = st->name_len, rd;

	memcpy(p, st->name, st->name_len);
	dns_put16(p + o, TYPE_TSIG);
	dns_put16(p + o + 2, CLASS_ANY);
	dns_put32(p + o + 4, 0);
	rd = o + 10;
	o = rd;
	memcpy(p + o, st->alg, st->alg_len);
	o += st->alg_len;
	put_timers(p + o, v->time, v->fudge);
	dns_put16(p + o + 8, (uint16_t)mac_len);
	if (mac_len > 0)
		memcpy(p + o + 10, mac, mac_len);
	o += 10 + mac_len;
	dns_put16(p + o, st->original_id);
	dns_put16(p + o + 2, v->error);
	dns_put16(p + o + 4, v->other_len);
	if (v->other_len > 0)
		memcpy(p + o + 6, v->other, v->other_len);
	o += 6 + v->other_len;
	dns_put16(p + rd - 2, (uint16_t)(o - rd));
	return o;
}

/* The variables an answer carries: BADTIME answers repeat the request's
 * time and give ours (RFC 8945 5.2.3). */
static void
answer_vars(const struct tsig_state *st, uint64_t now, uint8_t *other,
	    struct tsig_vars *v)
{
	v->time = st->error == TSIG_BADTIME ? st->time_signed : now;
	v->fudge = TSIG_FUDGE;
	v->error = st->error > 0 ? (uint16_t)st->error : 0;
	v->other_len = 0;
	v->other = other;
	if (st->error == TSIG_BADTIME) {
		put_timers(other, now, 0);
		v->other_len = 6;
	}
}

size_t
tsig_sign(struct tsig_state *st, uint8_t *msg, size_t len, size_t cap,
	  uint64_t now)
{
	uint8_t other[8], mac[TSIG_MAC_MAX], prior[2];
	struct tsig_vars v;
	struct hmac h;
	size_t mac_len;

	answer_vars(st, now, other, &v);
	if (st->key == NULL || len + tsig_space(st) > cap ||
	    hmac_begin(&h, st->key) != 0)
		return 0;
	if (st->mac_len > 0) {
		dns_put16(prior, (uint16_t)st->mac_len);
		hmac_add(&h, prior, 2);
		hmac_add(&h, st->mac, st->mac_len);
	}
	hmac_add(&h, msg, len);
	hmac_vars(&h, st, &v, st->nsigned > 0);
	mac_len = hmac_end(&h, mac);
	if (mac_len != st->key->mac_len)
		return 0;
	len += put_record(st, &v, mac, mac_len, msg + len);
	dns_put16(msg + 10, (uint16_t)(dns_get16(msg + 10) + 1));
	memcpy(st->mac, mac, mac_len);
	st->mac_len = mac_len;
	st->nsigned++;
	return len;
}

size_t
tsig_error_answer(struct tsig_state *st, const uint8_t *pkt,
		  const struct dns_query *q, uint8_t *out, size_t cap,
		  uint64_t now)
{
	size_t len = dns_write_reply_head(out, pkt, q, 0, RCODE_NOTAUTH);
	struct tsig_vars v;
	uint8_t other[8];

	if (st->error == TSIG_BADTIME)
		return tsig_sign(st, out, len, cap, now);
	if (len + tsig_space(st) > cap)
		return len;
	answer_vars(st, now, other, &v);
	v.time = st->time_signed;
	v.fudge = st->fudge;
	len += put_record(st, &v, NULL, 0, out + len);
	dns_put16(out + 10, (uint16_t)(dns_get16(out + 10) + 1));
	return len;
}

void
tsig_start(struct tsig_state *st, const struct tsig_key *key, uint16_t id)
{
	memset(st, 0, sizeof(*st));
	st->key = key;
	memcpy(st->name, key->name, key->name_len);
	st->name_len = key->name_len;
	memcpy(st->alg, key->alg, key->alg_len);
	st->alg_len = key->alg_len;
	st->original_id = id;
}
