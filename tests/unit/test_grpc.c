/* test_grpc.c -- the gRPC front end's pure parts: status codes and header
 * formats, message framing, and the v3 key space over a registry fed
 * through its store sink (no store, no network). */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "registry.h"
#include "store.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "keyspace.h"
#include "status.h"

/* ---- status.c ---- */

static void
test_percent_encode(void **state)
{
	char out[64];

	(void)state;
	grpc_percent_encode("plain text", out, sizeof(out));
	assert_string_equal(out, "plain text");
	grpc_percent_encode("50% done\n", out, sizeof(out));
	assert_string_equal(out, "50%25 done%0A");
	grpc_percent_encode("caf\xc3\xa9", out, sizeof(out));
	assert_string_equal(out, "caf%C3%A9");
	/* an escape that does not fit is left out whole */
	grpc_percent_encode("ab%", out, 5);
	assert_string_equal(out, "ab");
}

static void
test_timeout(void **state)
{
	uint64_t ms = 0;

	(void)state;
	assert_int_equal(grpc_parse_timeout("1S", 2, &ms), 0);
	assert_int_equal(ms, 1000);
	assert_int_equal(grpc_parse_timeout("250m", 4, &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(grpc_parse_timeout("1500u", 5, &ms), 0);
	assert_int_equal(ms, 2); /* rounded up */
	assert_int_equal(grpc_parse_timeout("2H", 2, &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(grpc_parse_timeout("1n", 2, &ms), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(grpc_parse_timeout("S", 1, &ms), -1);
	assert_int_equal(grpc_parse_timeout("12x", 3, &ms), -1);
	assert_int_equal(grpc_parse_timeout("1a2S", 4, &ms), -1);
	assert_int_equal(grpc_parse_timeout("123456789S", 10, &ms), -1);
}

static void
test_codes(void **state)
{
	(void)state;
	assert_string_equal(grpc_code_name(GRPC_PERMISSION_DENIED),
			    "PermissionDenied");
	assert_string_equal(grpc_code_name((enum grpc_code)99), "Unknown");
	assert_int_equal(grpc_code_of(REG_EXISTS), GRPC_ALREADY_EXISTS);
	assert_int_equal(grpc_code_of(REG_NO_SPACE), GRPC_RESOURCE_EXHAUSTED);
	assert_int_equal(grpc_code_of(REG_UNAVAILABLE), GRPC_UNAVAILABLE);
}

/* ---- frame.c ---- */

static void
test_frame(void **state)
{
	uint8_t buf[16];
	size_t len = 0;

	(void)state;
	grpc_frame_prefix(buf, 3);
	assert_memory_equal(buf, "\0\0\0\0\3", 5);
	assert_int_equal(grpc_frame_peek(buf, 4, 100, &len), FRAME_NEED_MORE);
	assert_int_equal(grpc_frame_peek(buf, 7, 100, &len), FRAME_NEED_MORE);
	assert_int_equal(grpc_frame_peek(buf, 8, 100, &len), FRAME_OK);
	assert_int_equal(len, 3);
	/* a wrong prefix is known from its 5 bytes */
	assert_int_equal(grpc_frame_peek(buf, 5, 2, &len), FRAME_TOO_BIG);
	buf[0] = 1;
	assert_int_equal(grpc_frame_peek(buf, 5, 100, &len), FRAME_COMPRESSED);
	buf[0] = 'P';
	assert_int_equal(grpc_frame_peek(buf, 5, 100, &len), FRAME_BAD_FLAG);
	grpc_frame_prefix(buf, 0x01020304);
	assert_memory_equal(buf, "\0\1\2\3\4", 5);
}

/* ---- keyspace.c ---- */

static struct registry reg;
static uint64_t next_index;

static void
apply(struct change *c)
{
	struct store_sink sink = registry_sink(&reg);

	c->index = ++next_index;
	sink.apply(sink.arg, c);
	sink.batch_end(sink.arg, c->index);
}

static void
add_token(const char *name, unsigned size)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_TOKEN_PUT;
	snprintf(c.token, sizeof(c.token), "%s", name);
	c.size = size;
	apply(&c);
}

static void
add_member(const char *token, const char *id)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_MEMBER_PUT;
	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", id);
	c.value = (char *)"m=http://10.0.0.1:2380";
	apply(&c);
}

static int
setup_registry(void **state)
{
	(void)state;
	registry_init(&reg, 1000);
	next_index = 0;
	add_token("ab", 3);
	add_token("ab-c", 3);
	add_token("b", 1);
	add_member("ab", "ff");
	add_member("ab", "1");
	add_member("ab", "10");
	add_member("ab-c", "9");
	return 0;
}

static int
teardown_registry(void **state)
{
	(void)state;
	registry_free(&reg);
	return 0;
}

struct seen {
	char keys[16][V3_KEY_MAX];
	size_t n;
};

static int
collect(const struct v3ref *ref, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16)
		v3ref_key(ref, s->keys[s->n++]);
	return 0;
}

static size_t
scan(const char *key, const char *end, size_t elen, struct seen *s)
{
	struct v3range r = { (const uint8_t *)key, strlen(key),
			     (const uint8_t *)end, elen };

	memset(s, 0, sizeof(*s));
	v3scan(&reg, &r, collect, s);
	return s->n;
}

static void
test_key_parse(void **state)
{
	struct v3key k;
	const char *m = "/_etcd/registry/ab/members/ff";
	const char *z = "/_etcd/registry/ab/_config/size";

	(void)state;
	assert_int_equal(v3key_parse((const uint8_t *)m, strlen(m), &k),
			 V3KEY_MEMBER);
	assert_string_equal(k.token, "ab");
	assert_string_equal(k.member, "ff");
	assert_int_equal(v3key_parse((const uint8_t *)z, strlen(z), &k),
			 V3KEY_SIZE);
	assert_int_equal(v3key_parse((const uint8_t *)"/foo", 4, &k),
			 V3KEY_OTHER);
	m = "/_etcd/registry/AB/members/ff"; /* not a name the registry has */
	assert_int_equal(v3key_parse((const uint8_t *)m, strlen(m), &k),
			 V3KEY_OTHER);
	m = "/_etcd/registry/ab/members/";
	assert_int_equal(v3key_parse((const uint8_t *)m, strlen(m), &k),
			 V3KEY_OTHER);
	m = "/_etcd/registry/ab/members/ff/x";
	assert_int_equal(v3key_parse((const uint8_t *)m, strlen(m), &k),
			 V3KEY_OTHER);
	/* a zero byte inside is not a name */
	assert_int_equal(v3key_parse((const uint8_t *)"/_etcd/registry/a\0/_config/size",
				     31, &k), V3KEY_OTHER);
}

static void
test_scan_order(void **state)
{
	struct seen s;

	(void)state;
	/* every key: "ab-c/" sorts before "ab/", members by id */
	assert_int_equal(scan("\0", "\0", 1, &s), 7);
	assert_string_equal(s.keys[0], "/_etcd/registry/ab-c/_config/size");
	assert_string_equal(s.keys[1], "/_etcd/registry/ab-c/members/9");
	assert_string_equal(s.keys[2], "/_etcd/registry/ab/_config/size");
	assert_string_equal(s.keys[3], "/_etcd/registry/ab/members/1");
	assert_string_equal(s.keys[4], "/_etcd/registry/ab/members/10");
	assert_string_equal(s.keys[5], "/_etcd/registry/ab/members/ff");
	assert_string_equal(s.keys[6], "/_etcd/registry/b/_config/size");
}

static void
test_scan_ranges(void **state)
{
	struct seen s;

	(void)state;
	/* v3 discovery's members prefix: range_end is prefix + 1 */
	assert_int_equal(scan("/_etcd/registry/ab/members",
			      "/_etcd/registry/ab/membert", 26, &s), 3);
	assert_string_equal(s.keys[0], "/_etcd/registry/ab/members/1");
	/* one key */
	assert_int_equal(scan("/_etcd/registry/ab/_config/size", "", 0, &s), 1);
	assert_int_equal(scan("/_etcd/registry/ab/members/2", "", 0, &s), 0);
	/* the prefix "/_etcd/registry/ab" covers "ab-c" too */
	assert_int_equal(scan("/_etcd/registry/ab", "/_etcd/registry/ac", 18,
			      &s), 6);
	/* [members/10, members/ff) */
	assert_int_equal(scan("/_etcd/registry/ab/members/10",
			      "/_etcd/registry/ab/members/ff", 29, &s), 1);
	/* from a key to the end */
	assert_int_equal(scan("/_etcd/registry/b", "\0", 1, &s), 1);
	/* outside */
	assert_int_equal(scan("/foo", "/fop", 4, &s), 0);
	assert_int_equal(scan("/a", "/b", 2, &s), 0);
}

static void
test_scope(void **state)
{
	char tok[REGISTRY_NAME_MAX + 1];
	struct v3range r;

	(void)state;
	r = (struct v3range){ (const uint8_t *)"/_etcd/registry/ab/members", 26,
			      (const uint8_t *)"/_etcd/registry/ab/membert", 26 };
	assert_int_equal(v3range_scope(&r, tok), V3SCOPE_TOKEN);
	assert_string_equal(tok, "ab");
	r = (struct v3range){ (const uint8_t *)"/_etcd/registry/ab", 18,
			      (const uint8_t *)"/_etcd/registry/ac", 18 };
	assert_int_equal(v3range_scope(&r, tok), V3SCOPE_WIDE);
	r = (struct v3range){ (const uint8_t *)"/foo", 4, NULL, 0 };
	assert_int_equal(v3range_scope(&r, tok), V3SCOPE_NONE);
	r = (struct v3range){ (const uint8_t *)"/_etcd/registry0", 16,
			      (const uint8_t *)"\0", 1 };
	assert_int_equal(v3range_scope(&r, tok), V3SCOPE_NONE);
	assert_int_equal(v3range_touches(&r, "ab"), 0);
	r = (struct v3range){ (const uint8_t *)"\0", 1, (const uint8_t *)"\0",
			      1 };
	assert_int_equal(v3range_touches(&r, "ab"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percent_encode),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_frame),
		cmocka_unit_test_setup_teardown(test_key_parse,
						setup_registry,
						teardown_registry),
		cmocka_unit_test_setup_teardown(test_scan_order,
						setup_registry,
						teardown_registry),
		cmocka_unit_test_setup_teardown(test_scan_ranges,
						setup_registry,
						teardown_registry),
		cmocka_unit_test_setup_teardown(test_scope, setup_registry,
						teardown_registry),
	};

	hash_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
