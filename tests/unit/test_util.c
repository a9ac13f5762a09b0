/* test_util.c -- the small parsers in util.c and the rate limiter. */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "prefault.h"
#include "ratelimit.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* ---- parse_duration_ms ---- */

static void
duration_is(const char *s, uint64_t want)
{
	uint64_t ms = 12345;

	if (parse_duration_ms(s, &ms) != 0)
		fail_msg("'%s' rejected", s);
	assert_int_equal(ms, want);
}

static void
duration_rejected(const char *s)
{
	uint64_t ms = 12345;

	if (parse_duration_ms(s, &ms) == 0)
		fail_msg("'%s' accepted as %llu ms", s, (unsigned long long)ms);
	assert_int_equal(ms, 12345); /* untouched on failure */
}

static void
test_duration(void **state)
{
	(void)state;
	duration_is("90s", 90000);
	duration_is("5m", 300000);
	duration_is("12h", 43200000);
	duration_is("7d", 604800000);
	duration_is("1h30m", 5400000);
	duration_is("250ms", 250);
	duration_is("10", 10000); /* a bare number is seconds */
	duration_is("0", 0);
	duration_is("1m30s", 90000);
	/* "m" then "s" is minutes then seconds, not milliseconds. */
	duration_is("2m5s", 125000);
	duration_is("1d1h1m1s1ms", 90061001);
}

static void
test_duration_rejects(void **state)
{
	(void)state;
	duration_rejected("");
	duration_rejected("5x");
	duration_rejected("m");
	duration_rejected("ms");
	duration_rejected("s5");
	duration_rejected("-5s");
	duration_rejected("5 m");
	duration_rejected(" 5m");
	duration_rejected("1.5h");
	duration_rejected("5mm");
	duration_rejected("99999999999999999999999s");
	duration_rejected("999999999999d");
}

static void
test_duration_sum_overflow(void **state)
{
	(void)state;
	/* Each part is under the per-part limit, but together they are
	 * 2^64 ms + 90 s, which must not wrap round to "90s". */
	duration_rejected("106751991167d106751991167d51951616ms90s");
	duration_rejected("100000000000d100000000000d100000000000d");
}

/* ---- parse_uint ---- */

static void
test_parse_uint(void **state)
{
	uint64_t n = 99;

	(void)state;
	assert_int_equal(parse_uint("0", 0, 10, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(parse_uint("1", 1, 10, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(parse_uint("10", 1, 10, &n), 0);
	assert_int_equal(n, 10);
	assert_int_equal(parse_uint("007", 0, 10, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(parse_uint("9999999999999999999", 0, UINT64_MAX, &n),
			 0);
	assert_true(n == 9999999999999999999ULL);
}

static void
test_parse_uint_rejects(void **state)
{
	uint64_t n = 99;

	(void)state;
	assert_int_equal(parse_uint("0", 1, 10, &n), -1);
	assert_int_equal(parse_uint("11", 1, 10, &n), -1);
	assert_int_equal(parse_uint("65536", 0, 65535, &n), -1);
	assert_int_equal(parse_uint("", 0, 10, &n), -1);
	assert_int_equal(parse_uint(NULL, 0, 10, &n), -1);
	assert_int_equal(parse_uint("-1", 0, 10, &n), -1);
	assert_int_equal(parse_uint("+1", 0, 10, &n), -1);
	assert_int_equal(parse_uint(" 1", 0, 10, &n), -1);
	assert_int_equal(parse_uint("1 ", 0, 10, &n), -1);
	assert_int_equal(parse_uint("0x10", 0, 100, &n), -1);
	/* Too many digits to fit is refused, not wrapped. */
	assert_int_equal(parse_uint("99999999999999999999", 0, UINT64_MAX, &n),
			 -1);
	assert_int_equal(parse_uint("100000000000000000000000000000001", 0,
				    UINT64_MAX, &n),
			 -1);
	assert_int_equal(n, 99);
}

/* ---- split_hostport ---- */

static void
hostport_is(const char *s, const char *host, unsigned port)
{
	char h[64];
	unsigned p = 0;

	if (split_hostport(s, h, sizeof(h), &p) != 0)
		fail_msg("'%s' rejected", s);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void
hostport_rejected(const char *s)
{
	char h[64];
	unsigned p = 0;

	if (split_hostport(s, h, sizeof(h), &p) == 0)
		fail_msg("'%s' accepted", s);
}

static void
test_split_hostport(void **state)
{
	(void)state;
	hostport_is("10.0.0.1:53", "10.0.0.1", 53);
	hostport_is("[::1]:5300", "::1", 5300);
	hostport_is("[fd00::1]:0", "fd00::1", 0);
	hostport_is(":53", "", 53);
	hostport_is("example.com:65535", "example.com", 65535);
}

static void
test_split_hostport_rejects(void **state)
{
	char h[8];
	unsigned p;

	(void)state;
	hostport_rejected("::1:53"); /* a bare IPv6 address needs brackets */
	hostport_rejected("fd00::1");
	hostport_rejected("10.0.0.1");
	hostport_rejected("10.0.0.1:");
	hostport_rejected("10.0.0.1:70000");
	hostport_rejected("10.0.0.1:-1");
	hostport_rejected("10.0.0.1:http");
	hostport_rejected("[::1]");
	hostport_rejected("[::1]53");
	hostport_rejected("[::1:53");
	hostport_rejected("");
	/* A host longer than the caller's buffer is refused, not cut. */
	assert_int_equal(split_hostport("example.com:53", h, sizeof(h), &p),
			 -1);
	assert_int_equal(split_hostport("[fd00::1234]:53", h, sizeof(h), &p),
			 -1);
}

/* ---- parse_sockaddr ---- */

static void
test_parse_sockaddr_v4(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	socklen_t len = 0;
	errbuf_t err = "";
	char text[64];

	(void)state;
	assert_int_equal(parse_sockaddr("127.0.0.1:8087", &ss, &len, err), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 8087);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	format_addr((struct sockaddr *)&ss, text, sizeof(text));
	assert_string_equal(text, "127.0.0.1");
	/* No host, or "*", is every address. */
	assert_int_equal(parse_sockaddr(":53", &ss, &len, err), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(ntohs(sin->sin_port), 53);
	assert_int_equal(parse_sockaddr("*:53", &ss, &len, err), 0);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(parse_sockaddr("localhost:53", &ss, &len, err), 0);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
}

static void
test_parse_sockaddr_v6(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = 0;
	errbuf_t err = "";
	char text[64];

	(void)state;
	assert_int_equal(parse_sockaddr("[::1]:5300", &ss, &len, err), 0);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 5300);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	format_addr((struct sockaddr *)&ss, text, sizeof(text));
	assert_string_equal(text, "::1");
}

static void
test_parse_sockaddr_rejects(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	errbuf_t err = "";

	(void)state;
	/* Names are not looked up. */
	assert_int_equal(parse_sockaddr("example.com:53", &ss, &len, err), -1);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(parse_sockaddr("127.0.0.1", &ss, &len, err), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(parse_sockaddr("127.0.0.1:65536", &ss, &len, err), -1);
	assert_int_equal(parse_sockaddr("::1:53", &ss, &len, err), -1);
	assert_int_equal(parse_sockaddr("256.0.0.1:53", &ss, &len, NULL), -1);
}

/* ---- ratelimit ---- */

static struct ratelimit *
limiter(unsigned rate, unsigned burst)
{
	struct ratelimit_config c = { rate, burst, 32, 64, 1000 };

	return ratelimit_new(&c);
}

static void
test_ratelimit_burst(void **state)
{
	struct ratelimit *rl = limiter(1, 3);

	(void)state;
	assert_true(ratelimit_allow(rl, "10.0.0.1", 1000));
	assert_true(ratelimit_allow(rl, "10.0.0.1", 1000));
	assert_true(ratelimit_allow(rl, "10.0.0.1", 1000));
	assert_false(ratelimit_allow(rl, "10.0.0.1", 1000));
	assert_false(ratelimit_allow(rl, "10.0.0.1", 1000));
	/* Each address has its own bucket. */
	assert_true(ratelimit_allow(rl, "10.0.0.2", 1000));
	assert_true(ratelimit_allow(rl, "2001:db8::1", 1000));
	ratelimit_free(rl);
}

static void
test_ratelimit_refill(void **state)
{
	struct ratelimit *rl = limiter(2, 2);
	int i;

	(void)state;
	assert_true(ratelimit_allow(rl, "10.0.0.1", 1000));
	assert_true(ratelimit_allow(rl, "10.0.0.1", 1000));
	assert_false(ratelimit_allow(rl, "10.0.0.1", 1000));
	/* Two a second: a quarter second makes half a token. */
	assert_false(ratelimit_allow(rl, "10.0.0.1", 1250));
	assert_true(ratelimit_allow(rl, "10.0.0.1", 1500));
	assert_false(ratelimit_allow(rl, "10.0.0.1", 1500));
	/* Time going back gives nothing. */
	assert_false(ratelimit_allow(rl, "10.0.0.1", 500));
	/* A long pause refills to the burst and no further. */
	for (i = 0; i < 2; i++)
		assert_true(ratelimit_allow(rl, "10.0.0.1", 60000));
	assert_false(ratelimit_allow(rl, "10.0.0.1", 60000));
	ratelimit_free(rl);
}

static void
test_ratelimit_off(void **state)
{
	struct ratelimit *rl = limiter(0, 1);
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_true(ratelimit_allow(rl, "10.0.0.1", 1000));
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

static void
test_ratelimit_burst_zero(void **state)
{
	/* A burst of 0 would refuse everyone; it means 1. */
	struct ratelimit *rl = limiter(1, 0);

	(void)state;
	assert_true(ratelimit_allow(rl, "10.0.0.1", 0));
	assert_false(ratelimit_allow(rl, "10.0.0.1", 0));
	assert_true(ratelimit_allow(rl, "10.0.0.1", 1000));
	ratelimit_free(rl);
}

/* Many addresses never lock out another: the oldest bucket is forgotten
 * when the table is full, it never refuses a newcomer. */
static void
test_ratelimit_no_lockout(void **state)
{
	struct ratelimit *rl = limiter(1, 2);
	char addr[32];
	int i;

	(void)state;
	assert_true(ratelimit_allow(rl, "127.0.0.1", 1000));
	for (i = 0; i < 5000; i++) {
		snprintf(addr, sizeof(addr), "127.%d.%d.%d", i >> 16 & 255,
			 i >> 8 & 255, i & 255);
		assert_true(ratelimit_allow(rl, addr, 1000));
	}
	assert_true(ratelimit_clients(rl) <= 1000);
	assert_true(ratelimit_allow(rl, "127.0.0.1", 1000));
	ratelimit_free(rl);
}

/* One IPv6 host holds a whole /64: it is one client. */
static void
test_ratelimit_ipv6_prefix(void **state)
{
	struct ratelimit *rl = limiter(1, 2);

	(void)state;
	assert_true(ratelimit_allow(rl, "2001:db8:1:2::1", 1000));
	assert_true(ratelimit_allow(rl, "2001:db8:1:2::ffff", 1000));
	assert_false(ratelimit_allow(rl, "2001:db8:1:2:aaaa::7", 1000));
	assert_true(ratelimit_allow(rl, "2001:db8:1:3::1", 1000));
	/* IPv4 is per address. */
	assert_true(ratelimit_allow(rl, "192.0.2.1", 1000));
	assert_true(ratelimit_allow(rl, "192.0.2.1", 1000));
	assert_false(ratelimit_allow(rl, "192.0.2.1", 1000));
	assert_true(ratelimit_allow(rl, "192.0.2.2", 1000));
	ratelimit_free(rl);
}

/* copy_name cuts as snprintf("%.*s") does: at len, at a NUL, to fit. */
static void
test_copy_name(void **state)
{
	char out[6];

	(void)state;
	copy_name(out, sizeof(out), "abcdefgh", 3);
	assert_string_equal(out, "abc");
	copy_name(out, sizeof(out), "ab\0cd", 5);
	assert_string_equal(out, "ab");
	copy_name(out, sizeof(out), "abcdefgh", SIZE_MAX);
	assert_string_equal(out, "abcde");
	copy_name(out, sizeof(out), "", 4);
	assert_string_equal(out, "");
}

/* join_str cuts as snprintf("%s%s...") does. */
static void
test_join_str(void **state)
{
	const char *parts[] = { "ab", "/", "cdef" };
	char out[6];

	(void)state;
	join_str(out, sizeof(out), parts, 3);
	assert_string_equal(out, "ab/cd");
	join_str(out, sizeof(out), parts, 2);
	assert_string_equal(out, "ab/");
	join_str(out, sizeof(out), parts, 0);
	assert_string_equal(out, "");
}

/* After the load's prefault, an allocation of LMDB's child-transaction
 * size (3 MB, one per group commit) comes from the heap: mapped chunks
 * (hblks) would be mapped, faulted in and unmapped on every commit. */
static void
test_prefault_leaves_big_allocations_on_the_heap(void **state)
{
	void *p;

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip(); /* ASan's allocator has no glibc heap to look at */
#endif
	prefault_start();
	prefault_stop();
	p = malloc(3 << 20);
	assert_non_null(p);
	memset(p, 1, 4096);
	assert_int_equal(mallinfo2().hblks, 0);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_duration_rejects),
		cmocka_unit_test(test_duration_sum_overflow),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_parse_uint_rejects),
		cmocka_unit_test(test_split_hostport),
		cmocka_unit_test(test_split_hostport_rejects),
		cmocka_unit_test(test_parse_sockaddr_v4),
		cmocka_unit_test(test_parse_sockaddr_v6),
		cmocka_unit_test(test_parse_sockaddr_rejects),
		cmocka_unit_test(test_ratelimit_burst),
		cmocka_unit_test(test_ratelimit_refill),
		cmocka_unit_test(test_ratelimit_off),
		cmocka_unit_test(test_ratelimit_burst_zero),
		cmocka_unit_test(test_ratelimit_no_lockout),
		cmocka_unit_test(test_ratelimit_ipv6_prefix),
		cmocka_unit_test(test_prefault_leaves_big_allocations_on_the_heap),
		cmocka_unit_test(test_copy_name),
		cmocka_unit_test(test_join_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
