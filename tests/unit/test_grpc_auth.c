/* test_grpc_auth.c -- gRPC logins (src/grpc/auth.c): passwords against a
 * users file, and the sessions that calls find by token: many of them,
 * the oldest evicted at the limit, all ended by a reload. */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpc_internal.h"

#define SESSIONS_MAX 4096 /* auth.c's MAX_TOKENS */

struct fixture {
	char file[64];
	struct grpc_auth *auth;
	char (*tokens)[33]; /* 2 * SESSIONS_MAX */
};

/* A cheap hash (1000 rounds): thousands of logins in a second. */
static void
write_users(const char *file, const char *password)
{
	struct crypt_data cd;
	const char *hash;
	FILE *f = fopen(file, "w");

	memset(&cd, 0, sizeof(cd));
	hash = crypt_r(password, "$5$rounds=1000$srvgatetest$", &cd);
	assert_non_null(f);
	assert_non_null(hash);
	assert_int_equal(hash[0], '$');
	fprintf(f, "# test users\nalice:%s\nbob:%s\n", hash, hash);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256] = "";
	int fd;

	snprintf(fx->file, sizeof(fx->file), "/tmp/srvgate-auth-XXXXXX");
	fd = mkstemp(fx->file);
	assert_true(fd >= 0);
	close(fd);
	write_users(fx->file, "secret");
	assert_int_equal(grpc_auth_new(&fx->auth, fx->file, err), 0);
	assert_non_null(fx->auth);
	fx->tokens = calloc(2 * SESSIONS_MAX, sizeof(*fx->tokens));
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	grpc_auth_free(fx->auth);
	unlink(fx->file);
	free(fx->tokens);
	free(fx);
	return 0;
}

static enum grpc_code
check(struct fixture *fx, const char *token)
{
	char msg[128];

	return grpc_auth_check(fx->auth, token, msg, sizeof(msg));
}

static void
test_login(void **state)
{
	struct fixture *fx = *state;
	char token[33], msg[128], last;

	assert_int_equal(grpc_auth_login(fx->auth, "alice", "wrong", token),
			 -1);
	assert_int_equal(grpc_auth_login(fx->auth, "carol", "secret", token),
			 -1);
	assert_int_equal(grpc_auth_login(fx->auth, "alice", "secret", token),
			 0);
	assert_int_equal(strlen(token), 32);
	assert_int_equal(strspn(token, "0123456789abcdef"), 32);
	assert_int_equal(check(fx, token), GRPC_OK);
	assert_int_equal(check(fx, ""), GRPC_INVALID_ARGUMENT);
	/* a prefix, one character off, a stranger: refused */
	last = token[31];
	token[31] = '\0';
	assert_int_equal(check(fx, token), GRPC_UNAUTHENTICATED);
	token[31] = last == '0' ? '1' : '0';
	assert_int_equal(check(fx, token), GRPC_UNAUTHENTICATED);
	assert_int_equal(check(fx, "0123456789abcdef0123456789abcdef"),
			 GRPC_UNAUTHENTICATED);
	token[31] = last;
	assert_int_equal(check(fx, token), GRPC_OK);
	/* without a users file every token passes, none is checked */
	assert_int_equal(grpc_auth_check(NULL, "", msg, sizeof(msg)), GRPC_OK);
}

/* Every session of a full table is found by its token. One more login
 * evicts the session closest to expiry, and only it: a table that
 * forgot where an evicted session was filed would lose others. */
static void
test_many_sessions(void **state)
{
	struct fixture *fx = *state;
	char (*next)[33] = fx->tokens + SESSIONS_MAX, wrong[33];
	size_t i;

	for (i = 0; i < SESSIONS_MAX; i++)
		assert_int_equal(grpc_auth_login(fx->auth, i % 2 ? "bob" :
						 "alice", "secret",
						 fx->tokens[i]), 0);
	for (i = 0; i < SESSIONS_MAX; i++)
		if (check(fx, fx->tokens[i]) != GRPC_OK)
			fail_msg("session %zu of %d not found", i,
				 SESSIONS_MAX);
	for (i = 0; i < SESSIONS_MAX; i++) {
		memcpy(wrong, fx->tokens[i], sizeof(wrong));
		wrong[i % 32] = wrong[i % 32] == '0' ? '1' : '0';
		if (check(fx, wrong) != GRPC_UNAUTHENTICATED)
			fail_msg("a token one character off %zu's passed", i);
	}
	/* The checks renewed the sessions in order, the first is the closest
	 * to expiry; logins a clock tick later expire after them all. */
	usleep(2000);
	assert_int_equal(grpc_auth_login(fx->auth, "alice", "secret",
					 next[0]), 0);
	assert_int_equal(check(fx, fx->tokens[0]), GRPC_UNAUTHENTICATED);
	assert_int_equal(check(fx, next[0]), GRPC_OK);
	for (i = 1; i < SESSIONS_MAX; i++)
		assert_int_equal(grpc_auth_login(fx->auth, "bob", "secret",
						 next[i]), 0);
	for (i = 0; i < SESSIONS_MAX; i++) {
		if (check(fx, fx->tokens[i]) != GRPC_UNAUTHENTICATED)
			fail_msg("evicted session %zu still valid", i);
		if (check(fx, next[i]) != GRPC_OK)
			fail_msg("new session %zu not found", i);
	}
}

/* A reload ends every session; logins start over. */
static void
test_reload(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "";
	size_t i;

	for (i = 0; i < 100; i++)
		assert_int_equal(grpc_auth_login(fx->auth, "alice", "secret",
						 fx->tokens[i]), 0);
	write_users(fx->file, "changed");
	assert_int_equal(grpc_auth_reload(fx->auth, err), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(check(fx, fx->tokens[i]),
				 GRPC_UNAUTHENTICATED);
	assert_int_equal(grpc_auth_login(fx->auth, "alice", "secret",
					 fx->tokens[0]), -1);
	for (i = 0; i < 100; i++)
		assert_int_equal(grpc_auth_login(fx->auth, "bob", "changed",
						 fx->tokens[i]), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(check(fx, fx->tokens[i]), GRPC_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_sessions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	};

	hash_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
