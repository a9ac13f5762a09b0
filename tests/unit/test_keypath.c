/* test_keypath.c -- request paths and member values (etcd URLsMaps). */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "keypath.h"
#include "peers.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* ---- helpers ---- */

static void
parses(const char *path, enum key_kind kind, const char *token,
       const char *member)
{
	struct keypath kp;
	errbuf_t err = "";

	if (keypath_parse(path, &kp, err) != 0)
		fail_msg("'%s' rejected: %s", path, err);
	assert_int_equal(kp.kind, kind);
	assert_string_equal(kp.token, token);
	assert_string_equal(kp.member, member);
}

static void
rejects_path(const char *path)
{
	struct keypath kp;
	errbuf_t err = "";

	if (keypath_parse(path, &kp, err) == 0)
		fail_msg("'%s' accepted", path);
	/* The caller sends err to the client as the error's cause. */
	assert_true(err[0] != '\0');
}

static void
rejects_peers(const char *value)
{
	struct peer_url peers[PEERS_MAX];
	errbuf_t err = "";

	if (peers_parse(value, peers, PEERS_MAX, err) >= 0)
		fail_msg("'%.60s' accepted", value);
	assert_true(err[0] != '\0');
}

static void
parses_one(const char *value, struct peer_url *pu)
{
	errbuf_t err = "";
	int n = peers_parse(value, pu, 1, err);

	if (n != 1)
		fail_msg("'%s' gave %d: %s", value, n, err);
}

/* ---- keypath_parse ---- */

static void
test_token_paths(void **state)
{
	(void)state;
	parses("/abc", KEY_TOKEN, "abc", "");
	parses("/abc/", KEY_TOKEN, "abc", "");
	parses("/6c007a14875d53d9bf0ef5a6fc0257c8", KEY_TOKEN,
	       "6c007a14875d53d9bf0ef5a6fc0257c8", "");
}

static void
test_member_paths(void **state)
{
	(void)state;
	parses("/abc/m1", KEY_MEMBER, "abc", "m1");
	parses("/abc/m1/", KEY_MEMBER, "abc", "m1");
	/* etcd names members by their hex id. */
	parses("/abc/8e9e05c52164694d", KEY_MEMBER, "abc", "8e9e05c52164694d");
}

static void
test_config_paths(void **state)
{
	(void)state;
	parses("/abc/_config", KEY_CONFIG_DIR, "abc", "");
	parses("/abc/_config/", KEY_CONFIG_DIR, "abc", "");
	parses("/abc/_config/size", KEY_SIZE, "abc", "");
	parses("/abc/_config/size/", KEY_SIZE, "abc", "");
}

static void
test_v2_prefix(void **state)
{
	(void)state;
	parses(KEYPATH_V2_PREFIX "/abc", KEY_TOKEN, "abc", "");
	parses(KEYPATH_V2_PREFIX "/abc/", KEY_TOKEN, "abc", "");
	parses(KEYPATH_V2_PREFIX "/abc/m1", KEY_MEMBER, "abc", "m1");
	parses(KEYPATH_V2_PREFIX "/abc/_config", KEY_CONFIG_DIR, "abc", "");
	parses(KEYPATH_V2_PREFIX "/abc/_config/size", KEY_SIZE, "abc", "");
	rejects_path(KEYPATH_V2_PREFIX);
	rejects_path(KEYPATH_V2_PREFIX "/");
	rejects_path(KEYPATH_V2_PREFIX "/abc/a/b");
	/* Only the whole prefix is one: this is token "v2" and more. */
	rejects_path("/v2/keys/_etcd/registryabc/m1");
}

static void
test_name_lengths(void **state)
{
	char path[2 * REGISTRY_NAME_MAX + 16], name[REGISTRY_NAME_MAX + 2];

	(void)state;
	memset(name, 'a', REGISTRY_NAME_MAX);
	name[REGISTRY_NAME_MAX] = '\0';
	snprintf(path, sizeof(path), "/%s/%s", name, name);
	parses(path, KEY_MEMBER, name, name);
	strcat(name, "b"); /* 64 characters: one too many for a DNS label */
	snprintf(path, sizeof(path), "/%s", name);
	rejects_path(path);
	snprintf(path, sizeof(path), "/abc/%s", name);
	rejects_path(path);
	snprintf(path, sizeof(path), "/%s/_config/size", name);
	rejects_path(path);
}

static void
test_bad_paths(void **state)
{
	(void)state;
	rejects_path("");
	rejects_path("/");
	rejects_path("abc");
	rejects_path("abc/m1");
	rejects_path("/ABC");
	rejects_path("/abc/M1");
	rejects_path("/a_b");
	rejects_path("/-abc");
	rejects_path("/..");
	rejects_path("/abc/..");
	rejects_path("/abc/../def");
	rejects_path("//abc");
	rejects_path("/abc//");
	rejects_path("/t/a/b");
	rejects_path("/t/_other");
	rejects_path("/t/_config/x");
	rejects_path("/t/_config/size/x");
	rejects_path("/t/_config/_config");
}

/* ---- peers_parse ---- */

static void
test_peer_single(void **state)
{
	struct peer_url pu;

	(void)state;
	parses_one("m1=http://10.0.0.1:2380", &pu);
	assert_string_equal(pu.name, "m1");
	assert_string_equal(pu.scheme, "http");
	assert_string_equal(pu.host, "10.0.0.1");
	assert_int_equal(pu.port, 2380);
	assert_true(pu.host_is_ip);
}

static void
test_peer_several(void **state)
{
	struct peer_url pu[PEERS_MAX];
	errbuf_t err = "";

	(void)state;
	assert_int_equal(peers_parse("infra0=http://10.0.0.1:2380,"
				     "infra0=https://10.0.0.2:2381,"
				     "infra1=http://etcd-1:2380",
				     pu, PEERS_MAX, err),
			 3);
	assert_string_equal(pu[0].name, "infra0");
	assert_string_equal(pu[0].host, "10.0.0.1");
	assert_string_equal(pu[1].name, "infra0");
	assert_string_equal(pu[1].scheme, "https");
	assert_int_equal(pu[1].port, 2381);
	assert_string_equal(pu[2].name, "infra1");
	assert_string_equal(pu[2].host, "etcd-1");
	assert_false(pu[2].host_is_ip);
}

static void
test_peer_https(void **state)
{
	struct peer_url pu;

	(void)state;
	parses_one("m1=https://10.1.2.3:12380", &pu);
	assert_string_equal(pu.scheme, "https");
	assert_string_equal(pu.host, "10.1.2.3");
	assert_int_equal(pu.port, 12380);
}

static void
test_peer_ipv6(void **state)
{
	struct peer_url pu;

	(void)state;
	parses_one("m1=http://[::1]:2380", &pu);
	assert_string_equal(pu.host, "::1");
	assert_int_equal(pu.port, 2380);
	assert_true(pu.host_is_ip);
	parses_one("m1=https://[fd00:1:2::3]:2380", &pu);
	assert_string_equal(pu.host, "fd00:1:2::3");
	assert_true(pu.host_is_ip);
}

static void
test_peer_hostname(void **state)
{
	struct peer_url pu;

	(void)state;
	parses_one("m1=http://etcd-0.example.com:2380", &pu);
	assert_string_equal(pu.host, "etcd-0.example.com");
	assert_int_equal(pu.port, 2380);
	assert_false(pu.host_is_ip);
	/* Looks like an address, is not one. */
	parses_one("m1=http://10.0.0.256:2380", &pu);
	assert_false(pu.host_is_ip);
}

static void
test_peer_rejects(void **state)
{
	(void)state;
	rejects_peers("");
	rejects_peers(",");
	rejects_peers("http://10.0.0.1:2380");
	rejects_peers("m1");
	rejects_peers("=http://10.0.0.1:2380");
	rejects_peers("m1=");
	rejects_peers("m1=10.0.0.1:2380");
	rejects_peers("m1=ftp://10.0.0.1:2380");
	rejects_peers("m1=http://10.0.0.1:2380/x");
	rejects_peers("m1=http://10.0.0.1");
	rejects_peers("m1=http://10.0.0.1:");
	rejects_peers("m1=http://:2380");
	rejects_peers("m1=http://10.0.0.1:65536");
	rejects_peers("m1=http://10.0.0.1:2380a");
	rejects_peers("m1=http://::1:2380");
	rejects_peers("m1=http://[::1]");
	rejects_peers("m1=http://user@10.0.0.1:2380");
	rejects_peers("m1=http://10.0.0.1:2380?x=1");
	/* One bad URL spoils the whole value. */
	rejects_peers("m1=http://10.0.0.1:2380,m2=ftp://10.0.0.2:2380");
}

static void
test_peer_port_bounds(void **state)
{
	struct peer_url pu;

	(void)state;
	parses_one("m1=http://10.0.0.1:65535", &pu);
	assert_int_equal(pu.port, 65535);
	rejects_peers("m1=http://10.0.0.1:65536");
	rejects_peers("m1=http://10.0.0.1:99999999999");
}

static void
test_peer_too_many(void **state)
{
	struct peer_url pu[PEERS_MAX];
	char value[PEERS_MAX * 40 + 64];
	errbuf_t err = "";
	size_t len = 0;
	int i;

	(void)state;
	for (i = 0; i < PEERS_MAX; i++)
		len += (size_t)snprintf(value + len, sizeof(value) - len,
					"%sm%d=http://10.0.0.%d:2380",
					i ? "," : "", i, i + 1);
	assert_int_equal(peers_parse(value, pu, PEERS_MAX, err), PEERS_MAX);
	assert_string_equal(pu[PEERS_MAX - 1].host, "10.0.0.16");
	snprintf(value + len, sizeof(value) - len, ",extra=http://10.0.0.99:1");
	rejects_peers(value);
	/* max is the caller's array size, whatever it is. */
	assert_int_equal(peers_parse("a=http://h:1,b=http://h:2", pu, 1, err),
			 -1);
}

static void
test_peer_overlong(void **state)
{
	static char value[8192];
	char name[REGISTRY_NAME_MAX * 4 + 2];

	(void)state;
	/* Longer than peers_parse's 4 KiB copy of the value. */
	memset(value, 'a', sizeof(value) - 1);
	memcpy(value, "m1=http://", 10);
	rejects_peers(value);
	/* An overlong name is refused rather than cut. */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(value, sizeof(value), "%s=http://10.0.0.1:2380", name);
	rejects_peers(value);
	/* An overlong host also. */
	memset(value, 'h', 600);
	memcpy(value, "m1=http://", 10);
	strcpy(value + 600, ":2380");
	rejects_peers(value);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_paths),
		cmocka_unit_test(test_member_paths),
		cmocka_unit_test(test_config_paths),
		cmocka_unit_test(test_v2_prefix),
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_peer_single),
		cmocka_unit_test(test_peer_several),
		cmocka_unit_test(test_peer_https),
		cmocka_unit_test(test_peer_ipv6),
		cmocka_unit_test(test_peer_hostname),
		cmocka_unit_test(test_peer_rejects),
		cmocka_unit_test(test_peer_port_bounds),
		cmocka_unit_test(test_peer_too_many),
		cmocka_unit_test(test_peer_overlong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
