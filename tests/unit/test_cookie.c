/* test_cookie.c -- DNS cookies: the RFC 9018 appendix A test vectors (the
 * same that NSD's tpkg/dns-cookies checks, so our server cookies are the
 * ones NSD, Knot and BIND make), the time window, reuse and renewal, a
 * rotated secret, and the secret file. */
/* util.h declares fail(), a cmocka macro: before cmocka.h. */
#include "cookie.h"
#include "htable.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

static size_t
unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		unsigned v;

		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void
tohex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &a->sin_addr), 1);
	}
	return ss;
}

static void
secrets(struct cookie_secrets *s, const char *current, const char *previous)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(unhex(current, s->current), COOKIE_SECRET_LEN);
	if (previous != NULL) {
		assert_int_equal(unhex(previous, s->previous),
				 COOKIE_SECRET_LEN);
		s->has_previous = 1;
	}
}

/* Checks the COOKIE option data `sent` from peer at now; the status and
 * the answer's option data in hex. */
static enum cookie_status
ask(const struct cookie_secrets *s, const char *sent, const char *peer,
    uint32_t now, char *answer_hex)
{
	uint8_t data[40], answer[COOKIE_ANSWER_LEN];
	struct sockaddr_storage ss = addr(peer);
	size_t n = unhex(sent, data);
	enum cookie_status st;

	st = cookie_check(s, data, n, (struct sockaddr *)&ss, now, answer);
	tohex(answer, sizeof(answer), answer_hex);
	return st;
}

/* Unix times of the RFC's examples (2019-06-05, UTC). */
#define T_10_53_05 1559731985u
#define T_11_33_05 1559734385u
#define T_11_38_20 1559734700u
#define T_13_39_21 1559741961u

#define SECRET_A "e5e973e5a6b2a43f48e7dc849e37bfcf"

/* ---- RFC 9018 appendix A ---- */

/* A.1: a resolver learns a new server cookie. */
static void
test_rfc9018_a1(void **state)
{
	struct cookie_secrets s;
	char got[2 * COOKIE_ANSWER_LEN + 1];

	(void)state;
	secrets(&s, SECRET_A, NULL);
	assert_int_equal(ask(&s, "2464c4abcf10c957", "198.51.100.100",
			     T_10_53_05, got),
			 COOKIE_CLIENT_ONLY);
	assert_string_equal(got, "2464c4abcf10c957"
				 "010000005cf79f111f8130c3eee29480");
}

/* A.2: 40 minutes later the same cookie is still valid, but old enough to
 * be renewed. */
static void
test_rfc9018_a2(void **state)
{
	struct cookie_secrets s;
	char got[2 * COOKIE_ANSWER_LEN + 1];

	(void)state;
	secrets(&s, SECRET_A, NULL);
	assert_int_equal(ask(&s, "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
			     "198.51.100.100", T_11_33_05, got),
			 COOKIE_VALID);
	assert_string_equal(got, "2464c4abcf10c957"
				 "010000005cf7a871d4a564a1442aca77");
}

/* A.3: another resolver sends a server cookie we did not make (another
 * vendor's format): a fresh one comes back. */
static void
test_rfc9018_a3(void **state)
{
	struct cookie_secrets s;
	char got[2 * COOKIE_ANSWER_LEN + 1];

	(void)state;
	secrets(&s, SECRET_A, NULL);
	assert_int_equal(ask(&s, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
			     "203.0.113.203", T_11_38_20, got),
			 COOKIE_INVALID);
	assert_string_equal(got, "fc93fc62807ddb86"
				 "010000005cf7a9acf73a7810aca2381e");
}

/* A.4: IPv6, and a secret rolled over: the old secret still verifies and
 * the new one makes the next cookie. */
static void
test_rfc9018_a4(void **state)
{
	struct cookie_secrets s;
	char got[2 * COOKIE_ANSWER_LEN + 1];
	const char *sent = "22681ab97d52c298010000005cf7c57926556bd0934c72f8";
	const char *peer = "2001:db8:220:1:59de:d0f4:8769:82b8";

	(void)state;
	secrets(&s, "dd3bdf9344b678b185a6f5cb60fca715", NULL);
	assert_int_equal(ask(&s, sent, peer, T_13_39_21, got), COOKIE_VALID);
	assert_string_equal(got, sent); /* young: sent back as it came */
	secrets(&s, "445536bcd2513298075a5d379663c962",
		"dd3bdf9344b678b185a6f5cb60fca715");
	assert_int_equal(ask(&s, sent, peer, T_13_39_21, got), COOKIE_VALID);
	assert_string_equal(got, "22681ab97d52c298"
				 "010000005cf7c609a6bb79d16625507a");
	/* Without the old secret the same cookie is no longer ours. */
	s.has_previous = 0;
	assert_int_equal(ask(&s, sent, peer, T_13_39_21, got), COOKIE_INVALID);
}

/* ---- the rules around the vectors ---- */

/* Valid from 5 minutes ahead to an hour old (RFC 9018 4.3); another
 * address, client cookie or version is not ours. */
static void
test_window_and_binding(void **state)
{
	const char *sent = "2464c4abcf10c957010000005cf79f111f8130c3eee29480";
	struct cookie_secrets s;
	char got[2 * COOKIE_ANSWER_LEN + 1];

	(void)state;
	secrets(&s, SECRET_A, NULL);
	assert_int_equal(ask(&s, sent, "198.51.100.100", T_10_53_05 + 3600,
			     got), COOKIE_VALID);
	assert_int_equal(ask(&s, sent, "198.51.100.100", T_10_53_05 + 3601,
			     got), COOKIE_INVALID);
	assert_int_equal(ask(&s, sent, "198.51.100.100", T_10_53_05 - 300,
			     got), COOKIE_VALID);
	assert_int_equal(ask(&s, sent, "198.51.100.100", T_10_53_05 - 301,
			     got), COOKIE_INVALID);
	assert_int_equal(ask(&s, sent, "198.51.100.101", T_10_53_05, got),
			 COOKIE_INVALID);
	assert_int_equal(ask(&s, "2464c4abcf10c958010000005cf79f111f8130c3"
				 "eee29480", "198.51.100.100", T_10_53_05, got),
			 COOKIE_INVALID);
	assert_int_equal(ask(&s, "2464c4abcf10c957020000005cf79f111f8130c3"
				 "eee29480", "198.51.100.100", T_10_53_05, got),
			 COOKIE_INVALID);
	/* Another length of server cookie (8 to 32 bytes): not one of ours,
	 * answered with one that is. */
	assert_int_equal(ask(&s, "2464c4abcf10c9570102030405060708",
			     "198.51.100.100", T_10_53_05, got),
			 COOKIE_INVALID);
	assert_string_equal(got, "2464c4abcf10c957"
				 "010000005cf79f111f8130c3eee29480");
}

/* Half an hour old with the current secret: renewed; younger: reused. */
static void
test_reuse_and_renewal(void **state)
{
	const char *sent = "2464c4abcf10c957010000005cf79f111f8130c3eee29480";
	struct cookie_secrets s;
	char got[2 * COOKIE_ANSWER_LEN + 1];

	(void)state;
	secrets(&s, SECRET_A, NULL);
	ask(&s, sent, "198.51.100.100", T_10_53_05 + 1799, got);
	assert_string_equal(got, sent);
	ask(&s, sent, "198.51.100.100", T_10_53_05 + 1800, got);
	assert_string_not_equal(got, sent);
	assert_memory_equal(got, sent, 2 * COOKIE_CLIENT_LEN + 8);
}

/* ---- the secret file ---- */

static void
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void
test_secret_file(void **state)
{
	char path[] = "/tmp/srvgate-cookie-XXXXXX", err[256];
	uint8_t want[COOKIE_SECRET_LEN];
	struct cookie_secrets s;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unhex(SECRET_A, want);
	write_text(path, "E5E973E5A6B2A43F48E7DC849E37BFCF\n# a comment\n");
	memset(&s, 0, sizeof(s));
	assert_int_equal(cookie_secrets_load(&s, path, 0, err), 0);
	assert_memory_equal(s.current, want, sizeof(want));
	assert_false(s.has_previous);
	/* A reload of the same secret changes nothing. */
	assert_int_equal(cookie_secrets_load(&s, path, 1, err), 0);
	assert_false(s.has_previous);
	/* A new one rotates: the old one keeps verifying. */
	write_text(path, "445536bcd2513298075a5d379663c962");
	assert_int_equal(cookie_secrets_load(&s, path, 1, err), 1);
	assert_memory_equal(s.previous, want, sizeof(want));
	assert_true(s.has_previous);
	/* Broken files are refused and change nothing. */
	write_text(path, "445536bcd2513298075a5d379663c9\n"); /* 30 digits */
	assert_int_equal(cookie_secrets_load(&s, path, 1, err), -1);
	assert_non_null(strstr(err, "32 hex digits"));
	write_text(path, "445536bcd2513298075a5d379663c962aa\n");
	assert_int_equal(cookie_secrets_load(&s, path, 1, err), -1);
	write_text(path, "445536bcd2513298075a5d379663c96g\n");
	assert_int_equal(cookie_secrets_load(&s, path, 1, err), -1);
	assert_memory_equal(s.previous, want, sizeof(want));
	unlink(path);
	assert_int_equal(cookie_secrets_load(&s, path, 1, err), -1);
	assert_non_null(strstr(err, path));
}

/* No file: a random secret, kept over reloads. */
static void
test_random_secret(void **state)
{
	struct cookie_secrets a, b;
	char err[256];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(cookie_secrets_load(&a, "", 0, err), 0);
	assert_int_equal(cookie_secrets_load(&b, NULL, 0, err), 0);
	assert_memory_not_equal(a.current, b.current, COOKIE_SECRET_LEN);
	memcpy(&b, &a, sizeof(a));
	assert_int_equal(cookie_secrets_load(&a, "", 1, err), 0);
	assert_memory_equal(a.current, b.current, COOKIE_SECRET_LEN);
}

/* siphash24 is the reference SipHash-2-4: the paper's test vector
 * (key 00..0f, message 00..0e, 15 bytes). */
static void
test_siphash_vector(void **state)
{
	uint8_t key[16], msg[15];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	assert_true(siphash24(key, msg, sizeof(msg)) == 0xa129ca6149be45e5ull);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_rfc9018_a1),
		cmocka_unit_test(test_rfc9018_a2),
		cmocka_unit_test(test_rfc9018_a3),
		cmocka_unit_test(test_rfc9018_a4),
		cmocka_unit_test(test_window_and_binding),
		cmocka_unit_test(test_reuse_and_renewal),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_random_secret),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
