/* test_rrl.c -- response rate limiting: the rate per second and its
 * refill, slip, source prefixes for IPv4 and IPv6, response classes and
 * names counted apart, and a pool that never grows (least recently used
 * buckets forgotten, the hash table never resized). */
/* util.h declares fail(), a cmocka macro: before cmocka.h. */
#include "htable.h"
#include "rrl.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t name_a[] = "\x03www\x07" "example\x00";
static const uint8_t name_b[] = "\x04mail\x07" "example\x00";
static const uint8_t zone[] = "\x07" "example\x00";

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

static struct rrl *
make(unsigned rate, unsigned slip, size_t buckets)
{
	struct rrl_config c = { rate, slip, 24, 56, buckets };
	struct rrl *rl = rrl_new(&c);

	assert_non_null(rl);
	return rl;
}

/* The length of a wire name, 0 for none. */
static size_t
wire_len(const uint8_t *name)
{
	size_t n = 0;

	if (name == NULL)
		return 0;
	while (name[n] != 0)
		n += name[n] + 1u;
	return n + 1;
}

/* n answers for name to peer at now; how many of each verdict. */
static void
send_n(struct rrl *rl, const char *peer, enum rrl_class cls,
       const uint8_t *name, unsigned n, uint64_t now, unsigned out[3])
{
	struct sockaddr_storage ss = addr(peer);
	unsigned i;

	memset(out, 0, 3 * sizeof(*out));
	for (i = 0; i < n; i++)
		out[rrl_account(rl, (struct sockaddr *)&ss, cls, name,
				wire_len(name), 1, now)]++;
}

static void
test_off(void **state)
{
	struct rrl_config c = { 0, 2, 24, 56, 0 };

	(void)state;
	assert_null(rrl_new(&c));
	assert_int_equal(rrl_stats(NULL)->limited, 0);
}

/* A burst of a second's worth, then nothing until time refills it; the
 * limited ones slip every second time with slip 2. */
static void
test_rate_and_slip(void **state)
{
	struct rrl *rl = make(10, 2, 64);
	unsigned v[3];

	(void)state;
	send_n(rl, "192.0.2.1", RRL_ANSWER, name_a, 30, 1000, v);
	assert_int_equal(v[RRL_PASS], 10);
	assert_int_equal(v[RRL_SLIP], 10);
	assert_int_equal(v[RRL_DROP], 10);
	assert_int_equal(rrl_stats(rl)->limited, 20);
	assert_int_equal(rrl_stats(rl)->slipped, 10);
	/* 100 ms later: one more. */
	send_n(rl, "192.0.2.1", RRL_ANSWER, name_a, 5, 1100, v);
	assert_int_equal(v[RRL_PASS], 1);
	/* Half a second: five. */
	send_n(rl, "192.0.2.1", RRL_ANSWER, name_a, 20, 1600, v);
	assert_int_equal(v[RRL_PASS], 5);
	/* A long pause refills no more than a second's worth. */
	send_n(rl, "192.0.2.1", RRL_ANSWER, name_a, 100, 100000, v);
	assert_int_equal(v[RRL_PASS], 10);
	rrl_free(rl);
}

/* Sustained: over 10 s at 1000 queries a second, rate 50 passes about
 * 50 a second. */
static void
test_sustained(void **state)
{
	struct rrl *rl = make(50, 0, 64);
	unsigned v[3], passed = 0, t;

	(void)state;
	for (t = 0; t < 10000; t++) {
		send_n(rl, "192.0.2.1", RRL_ANSWER, name_a, 1, 5000 + t, v);
		passed += v[RRL_PASS];
		assert_int_equal(v[RRL_SLIP], 0); /* slip 0: never */
	}
	assert_in_range(passed, 50 * 10, 50 * 10 + 50);
	rrl_free(rl);
}

static void
test_slip_one(void **state)
{
	struct rrl *rl = make(1, 1, 64);
	unsigned v[3];

	(void)state;
	send_n(rl, "192.0.2.1", RRL_NXDOMAIN, zone, 9, 0, v);
	assert_int_equal(v[RRL_PASS], 1);
	assert_int_equal(v[RRL_SLIP], 8);
	assert_int_equal(v[RRL_DROP], 0);
	rrl_free(rl);
}

/* Addresses in one /24 (IPv4) or /56 (IPv6) share a bucket; others do
 * not. */
static void
test_prefixes(void **state)
{
	struct rrl *rl = make(5, 0, 64);
	unsigned v[3];

	(void)state;
	send_n(rl, "192.0.2.1", RRL_ANSWER, name_a, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	send_n(rl, "192.0.2.200", RRL_ANSWER, name_a, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 0);
	send_n(rl, "192.0.3.1", RRL_ANSWER, name_a, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	send_n(rl, "2001:db8:0:ff::1", RRL_ANSWER, name_a, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	send_n(rl, "2001:db8:0:1::2", RRL_ANSWER, name_a, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 0); /* same /56 */
	send_n(rl, "2001:db8:0:100::1", RRL_ANSWER, name_a, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 5); /* the next /56 */
	rrl_free(rl);
}

/* The prefix flags: /32 makes every IPv4 address its own. */
static void
test_prefix_32(void **state)
{
	struct rrl_config c = { 5, 0, 32, 128, 64 };
	struct rrl *rl = rrl_new(&c);
	unsigned v[3];

	(void)state;
	send_n(rl, "192.0.2.1", RRL_ANSWER, name_a, 5, 0, v);
	send_n(rl, "192.0.2.2", RRL_ANSWER, name_a, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	rrl_free(rl);
}

/* Classes and names are counted apart: an NXDOMAIN flood leaves the same
 * client's answers alone; answers count per name, the rest per zone. */
static void
test_classes_and_names(void **state)
{
	struct rrl *rl = make(5, 0, 64);
	unsigned v[3];

	(void)state;
	send_n(rl, "192.0.2.1", RRL_NXDOMAIN, zone, 50, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	send_n(rl, "192.0.2.1", RRL_ANSWER, name_a, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	send_n(rl, "192.0.2.1", RRL_ANSWER, name_b, 5, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	send_n(rl, "192.0.2.1", RRL_NODATA, zone, 6, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	send_n(rl, "192.0.2.1", RRL_ERROR, NULL, 6, 0, v);
	assert_int_equal(v[RRL_PASS], 5);
	assert_int_equal(rrl_size(rl), 5);
	rrl_free(rl);
}

/* More sources than buckets: the pool stays as it is, the least recently
 * used bucket goes (and comes back full), and the table never grows. */
static void
test_pool_bounded(void **state)
{
	struct rrl *rl = make(2, 0, 16);
	char a[32];
	unsigned v[3], i;

	(void)state;
	send_n(rl, "10.0.0.1", RRL_ANSWER, name_a, 2, 0, v);
	send_n(rl, "10.0.0.1", RRL_ANSWER, name_a, 1, 0, v);
	assert_int_equal(v[RRL_DROP], 1);
	for (i = 1; i <= 1000; i++) {
		snprintf(a, sizeof(a), "10.%u.%u.1", i / 256, i % 256);
		send_n(rl, a, RRL_ANSWER, name_a, 1, 0, v);
		assert_int_equal(v[RRL_PASS], 1);
		assert_true(rrl_size(rl) <= 16);
	}
	assert_int_equal(rrl_size(rl), 16);
	assert_int_equal(rrl_stats(rl)->evicted, 1000 - 15);
	/* 10.0.0.1 was forgotten: a full bucket again. */
	send_n(rl, "10.0.0.1", RRL_ANSWER, name_a, 2, 0, v);
	assert_int_equal(v[RRL_PASS], 2);
	rrl_free(rl);
}

/* A busy bucket is recently used: a stream of new sources does not push
 * it out while it keeps being used. */
static void
test_lru_keeps_the_busy(void **state)
{
	struct rrl *rl = make(3, 0, 8);
	char a[32];
	unsigned v[3], i;

	(void)state;
	send_n(rl, "10.0.0.1", RRL_ANSWER, name_a, 3, 0, v);
	for (i = 1; i <= 100; i++) {
		snprintf(a, sizeof(a), "10.1.%u.1", i);
		send_n(rl, a, RRL_ANSWER, name_a, 1, 0, v);
		send_n(rl, "10.0.0.1", RRL_ANSWER, name_a, 1, 0, v);
		assert_int_equal(v[RRL_DROP], 1); /* still limited */
	}
	rrl_free(rl);
}

/* htable_reserve: inserting up to the reserved count never resizes (the
 * query path may not allocate). */
static void
test_reserve(void **state)
{
	struct htable t;
	struct hnode nodes[100];
	size_t i, nb;

	(void)state;
	htable_init(&t);
	htable_reserve(&t, 100);
	nb = t.nbuckets;
	assert_true(nb >= 100);
	for (i = 0; i < 100; i++)
		htable_insert(&t, &nodes[i], hash_bytes(&i, sizeof(i)));
	assert_int_equal(t.nbuckets, nb);
	htable_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_rate_and_slip),
		cmocka_unit_test(test_sustained),
		cmocka_unit_test(test_slip_one),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_prefix_32),
		cmocka_unit_test(test_classes_and_names),
		cmocka_unit_test(test_pool_bounded),
		cmocka_unit_test(test_lru_keeps_the_busy),
		cmocka_unit_test(test_reserve),
	};

	hash_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
