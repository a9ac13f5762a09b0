/* test_tsig.c -- TSIG keys, verifying requests, signing answers and the
 * answers to requests that fail. ldns is the independent party: it signs
 * requests we verify and verifies answers we sign. */
/* util.h declares fail(), a cmocka macro: before cmocka.h. */
#include "tsig.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_NAME "xfr-key"
#define SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=" /* 32 bytes */
#define OTHER_SECRET "b3RoZXItb3RoZXItb3RoZXItb3RoZXItMTIzNDU2Nzg="

struct fx {
	struct tsig_keyring kr;
	uint8_t msg[4096];
	size_t len;
	uint64_t now;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	errbuf_t err = "";

	assert_non_null(f);
	if (tsig_key_add(&f->kr, KEY_NAME ":hmac-sha256:" SECRET, err) != 0)
		fail_msg("%s", err);
	f->now = (uint64_t)time(NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

/* "a.b" in wire form at p; returns the length. */
static size_t
put_name(uint8_t *p, const char *text)
{
	return dns_name_from_text(text, p);
}

/* A query for SRV records of name, unsigned, id 0x1234. */
static void
make_query(struct fx *f, const char *name)
{
	memset(f->msg, 0, DNS_HEADER_SIZE);
	dns_put16(f->msg, 0x1234);
	dns_put16(f->msg + 4, 1);
	f->len = DNS_HEADER_SIZE;
	f->len += put_name(f->msg + f->len, name);
	dns_put16(f->msg + f->len, TYPE_SRV);
	dns_put16(f->msg + f->len + 2, CLASS_IN);
	f->len += 4;
}

/* Signs the query as a client would, with our own signer. */
static void
sign_query(struct fx *f, const struct tsig_key *k, uint64_t when)
{
	struct tsig_state st;

	tsig_start(&st, k, dns_get16(f->msg));
	f->len = tsig_sign(&st, f->msg, f->len, sizeof(f->msg), when);
	assert_true(f->len > 0);
}

static size_t
tsig_off(const struct fx *f)
{
	struct dns_query q;

	assert_int_equal(dns_parse_query(f->msg, f->len, &q), PARSE_OK);
	assert_true(q.tsig_off > 0);
	return q.tsig_off;
}

/* ---- keys ---- */

static void
test_key_specs(void **state)
{
	struct fx *f = *state;
	errbuf_t err = "";

	assert_int_equal(f->kr.n, 1);
	assert_int_equal(f->kr.keys[0].secret_len, 32);
	assert_int_equal(f->kr.keys[0].mac_len, 32);
	assert_ptr_equal(tsig_key_find(&f->kr, "XFR-Key."), &f->kr.keys[0]);
	assert_null(tsig_key_find(&f->kr, "other"));
	assert_int_equal(tsig_key_add(&f->kr, "k2:hmac-sha999:" SECRET, err),
			 -1);
	assert_non_null(strstr(err, "unknown algorithm"));
	assert_int_equal(tsig_key_add(&f->kr, "k2:hmac-sha256:not base64!",
				      err), -1);
	assert_int_equal(tsig_key_add(&f->kr, "no-colons", err), -1);
	assert_int_equal(tsig_key_add(&f->kr, "k3:hmac-md5:" SECRET, err), 0);
	assert_int_equal(f->kr.keys[1].mac_len, 16);
	assert_int_equal(f->kr.n, 2);
}

/* ---- verifying ---- */

static void
test_round_trip(void **state)
{
	struct fx *f = *state;
	struct tsig_state st;

	make_query(f, "_etcd-server._tcp.t.example");
	sign_query(f, &f->kr.keys[0], f->now);
	assert_int_equal(dns_get16(f->msg + 10), 1);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_OK);
	assert_ptr_equal(st.key, &f->kr.keys[0]);
	assert_int_equal(st.original_id, 0x1234);
	assert_int_equal(st.mac_len, 32);
	assert_int_equal(f->kr.rejected, 0);
}

/* A request ldns signed verifies with us. */
static void
test_verify_ldns_request(void **state)
{
	struct fx *f = *state;
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	struct tsig_state st;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, "t.example.",
						    LDNS_RR_TYPE_SOA,
						    LDNS_RR_CLASS_IN, 0),
			 LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_tsig_sign(p, KEY_NAME ".", SECRET, 300,
					    "hmac-sha256.", NULL),
			 LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	memcpy(f->msg, wire, len);
	f->len = len;
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_OK);
	free(wire);
	ldns_pkt_free(p);
}

static void
test_bad_key(void **state)
{
	struct fx *f = *state;
	struct tsig_keyring other;
	struct tsig_state st;
	errbuf_t err = "";

	memset(&other, 0, sizeof(other));
	assert_int_equal(tsig_key_add(&other, "nobody:hmac-sha256:" SECRET,
				      err), 0);
	make_query(f, "t.example");
	sign_query(f, &other.keys[0], f->now);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_BADKEY);
	assert_null(st.key);
	/* Our key's name with another algorithm is no better. */
	memset(&other, 0, sizeof(other));
	assert_int_equal(tsig_key_add(&other, KEY_NAME ":hmac-sha512:" SECRET,
				      err), 0);
	make_query(f, "t.example");
	sign_query(f, &other.keys[0], f->now);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_BADKEY);
	assert_int_equal(f->kr.rejected, 2);
}

static void
test_bad_signature(void **state)
{
	struct fx *f = *state;
	struct tsig_keyring other;
	struct tsig_state st;
	errbuf_t err = "";

	memset(&other, 0, sizeof(other));
	assert_int_equal(tsig_key_add(&other, KEY_NAME ":hmac-sha256:"
				      OTHER_SECRET, err), 0);
	make_query(f, "t.example");
	sign_query(f, &other.keys[0], f->now);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_BADSIG);
	/* The right key, a message changed after signing. */
	make_query(f, "t.example");
	sign_query(f, &f->kr.keys[0], f->now);
	f->msg[DNS_HEADER_SIZE + 1] ^= 0x20; /* case of the question */
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_BADSIG);
	assert_int_equal(st.mac_len, 0);
}

static void
test_bad_time(void **state)
{
	struct fx *f = *state;
	struct tsig_state st;

	make_query(f, "t.example");
	sign_query(f, &f->kr.keys[0], f->now - 3600);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_BADTIME);
	/* Within the fudge either way is fine. */
	make_query(f, "t.example");
	sign_query(f, &f->kr.keys[0], f->now + TSIG_FUDGE);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_OK);
}

static void
test_malformed(void **state)
{
	struct fx *f = *state;
	struct tsig_state st;

	make_query(f, "t.example");
	sign_query(f, &f->kr.keys[0], f->now);
	/* The MAC size says more than there is. */
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len - 8, tsig_off(f),
				     f->now, &st), TSIG_MALFORMED);
}

/* ---- signing answers ---- */

/* An answer to the query in f: the question with QR set. */
static size_t
make_answer(const struct fx *f, uint8_t *out)
{
	struct dns_query q;

	assert_int_equal(dns_parse_query(f->msg, f->len, &q), PARSE_OK);
	return dns_write_reply_head(out, f->msg, &q, FLAG_AA, 0);
}

/* Our signed answers verify with ldns, the first over the request's MAC,
 * the next over the previous MAC with the timers only (a transfer). */
static void
test_answers_verify_with_ldns(void **state)
{
	struct fx *f = *state;
	struct tsig_state st;
	uint8_t out[2][512];
	size_t len[2];
	ldns_rdf *mac;
	ldns_pkt *p;
	int i;

	make_query(f, "t.example");
	sign_query(f, &f->kr.keys[0], f->now);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_OK);
	for (i = 0; i < 2; i++) {
		len[i] = make_answer(f, out[i]);
		len[i] = tsig_sign(&st, out[i], len[i], sizeof(out[i]), f->now);
		assert_true(len[i] > 0);
	}
	/* The request's MAC as ldns wants it: length, then the MAC. */
	{
		ldns_pkt *req = NULL;

		assert_int_equal(ldns_wire2pkt(&req, f->msg, f->len),
				 LDNS_STATUS_OK);
		mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(req), 3));
		ldns_pkt_free(req);
	}
	for (i = 0; i < 2; i++) {
		p = NULL;
		assert_int_equal(ldns_wire2pkt(&p, out[i], len[i]),
				 LDNS_STATUS_OK);
		assert_true(ldns_pkt_tsig_verify_next(p, out[i], len[i],
						      KEY_NAME ".", SECRET,
						      mac, i > 0));
		ldns_rdf_deep_free(mac);
		mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p), 3));
		ldns_pkt_free(p);
	}
	ldns_rdf_deep_free(mac);
}

static void
test_sign_needs_room(void **state)
{
	struct fx *f = *state;
	struct tsig_state st;
	uint8_t out[512];
	size_t len;

	make_query(f, "t.example");
	sign_query(f, &f->kr.keys[0], f->now);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_OK);
	len = make_answer(f, out);
	assert_int_equal(tsig_sign(&st, out, len, len + tsig_space(&st) - 1,
				   f->now), 0);
	assert_int_equal(tsig_sign(&st, out, len, len + tsig_space(&st),
				   f->now), len + tsig_space(&st) - 6);
}

/* ---- error answers ---- */

struct tsig_rr {
	uint16_t mac_len, error, other_len;
	uint64_t time;
	const uint8_t *other;
};

/* The TSIG record of a response (the last record). */
static void
read_tsig(const uint8_t *m, size_t len, struct tsig_rr *t)
{
	struct dns_query q;
	uint8_t copy[512];
	size_t o;

	/* dns_parse_query refuses responses: clear QR to walk it. */
	memcpy(copy, m, len);
	dns_put16(copy + 2, dns_get16(copy + 2) & ~FLAG_QR);
	assert_int_equal(dns_parse_query(copy, len, &q), PARSE_OK);
	assert_true(q.tsig_off > 0);
	o = q.tsig_off;
	assert_int_equal(dns_skip_name(m, len, &o), 0);
	o += 10;
	assert_int_equal(dns_skip_name(m, len, &o), 0);
	t->time = (uint64_t)dns_get16(m + o) << 32 | dns_get32(m + o + 2);
	t->mac_len = dns_get16(m + o + 8);
	o += 10 + t->mac_len;
	t->error = dns_get16(m + o + 2);
	t->other_len = dns_get16(m + o + 4);
	t->other = m + o + 6;
	assert_int_equal(o + 6 + t->other_len, len);
}

static void
test_error_answers(void **state)
{
	struct fx *f = *state;
	struct tsig_keyring other;
	struct tsig_state st;
	struct dns_query q;
	struct tsig_rr t;
	uint8_t out[512];
	size_t len;
	errbuf_t err = "";

	/* BADSIG: NOTAUTH, no MAC, the request's time. */
	memset(&other, 0, sizeof(other));
	assert_int_equal(tsig_key_add(&other, KEY_NAME ":hmac-sha256:"
				      OTHER_SECRET, err), 0);
	make_query(f, "t.example");
	sign_query(f, &other.keys[0], f->now - 10);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_BADSIG);
	dns_parse_query(f->msg, f->len, &q);
	len = tsig_error_answer(&st, f->msg, &q, out, sizeof(out), f->now);
	assert_int_equal(out[3] & 0xF, RCODE_NOTAUTH);
	read_tsig(out, len, &t);
	assert_int_equal(t.error, TSIG_BADSIG);
	assert_int_equal(t.mac_len, 0);
	assert_int_equal(t.time, f->now - 10);
	/* BADTIME: signed, with our time in the other data. */
	make_query(f, "t.example");
	sign_query(f, &f->kr.keys[0], f->now - 3600);
	assert_int_equal(tsig_verify(&f->kr, f->msg, f->len, tsig_off(f),
				     f->now, &st), TSIG_BADTIME);
	dns_parse_query(f->msg, f->len, &q);
	len = tsig_error_answer(&st, f->msg, &q, out, sizeof(out), f->now);
	read_tsig(out, len, &t);
	assert_int_equal(t.error, TSIG_BADTIME);
	assert_int_equal(t.mac_len, 32);
	assert_int_equal(t.time, f->now - 3600);
	assert_int_equal(t.other_len, 6);
	assert_int_equal((uint64_t)dns_get16(t.other) << 32 |
			 dns_get32(t.other + 2), f->now);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_key_specs),
		T(test_round_trip),
		T(test_verify_ldns_request),
		T(test_bad_key),
		T(test_bad_signature),
		T(test_bad_time),
		T(test_malformed),
		T(test_answers_verify_with_ldns),
		T(test_sign_needs_room),
		T(test_error_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
