/* auth.c -- users for gRPC clients that log in (etcd's --discovery-user
 * and --discovery-password): Auth.Authenticate against --users-file, and
 * the `token` metadata clientv3 then sends on every call.
 *
 * The file has one `name:hash` a line (`#` comments), the hash in crypt(3)
 * form: `openssl passwd -6`, `mkpasswd -m yescrypt`, bcrypt `$2b$`. With a
 * users file, KV and Watch calls need a valid token (or the admin token);
 * without one, Authenticate is FailedPrecondition and tokens are ignored.
 * Tokens are 128 random bits, live TOKEN_TTL_S from their last use, and at
 * most MAX_TOKENS are kept (the one closest to expiry goes first). Every
 * Authenticate counts against the address's write rate, since each costs
 * a hash on the event loop. Calls find their token's session in a hash
 * table (keyed SipHash, so no client picks the chains), then compare the
 * token in constant time: it is the secret.
 */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "grpc_internal.h"
#include "htable.h"

#define MAX_USERS 1024
#define MAX_TOKENS 4096
#define TOKEN_TTL_S 300
#define NAME_MAX_LEN 128

struct user {
	char name[NAME_MAX_LEN];
	char *hash;
};

struct session {
	struct hnode node; /* in by_token while token[0] != 0 */
	char token[33];
	char user[NAME_MAX_LEN];
	uint64_t expires_ms;
};

struct grpc_auth {
	struct user *users;
	size_t nusers;
	struct session *sessions; /* MAX_TOKENS, token[0] == 0: free */
	size_t used; /* sessions[used...] were never taken: no scan goes there */
	struct htable by_token; /* the taken sessions, sized for MAX_TOKENS */
	char file[1024];
};

static void
users_free(struct user *u, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(u[i].hash);
	free(u);
}

static int
parse_line(char *line, struct user *u, char *err, const char *file,
	   int lineno)
{
	char *colon = strchr(line, ':');
	size_t n;

	line[strcspn(line, "\r\n")] = '\0';
	if (colon == NULL || colon == line ||
	    (size_t)(colon - line) >= NAME_MAX_LEN || colon[1] != '$')
		return fail(err, "%s:%d: not name:$crypt-hash", file, lineno);
	n = (size_t)(colon - line);
	memcpy(u->name, line, n);
	u->name[n] = '\0';
	u->hash = xstrdup(colon + 1);
	return 0;
}

static int
load_users(const char *file, struct user **out, size_t *nout, char *err)
{
	FILE *f = fopen(file, "r");
	struct user *u = xcalloc(MAX_USERS, sizeof(*u));
	char line[1024];
	size_t n = 0;
	int lineno = 0, rc = 0;

	if (f == NULL) {
		free(u);
		return fail(err, "--users-file %s: %s", file, strerror(errno));
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (n == MAX_USERS)
			rc = fail(err, "%s: more than %d users", file, MAX_USERS);
		else if ((rc = parse_line(line, &u[n], err, file, lineno)) == 0)
			n++;
	}
	fclose(f);
	if (rc != 0) {
		users_free(u, n);
		return -1;
	}
	*out = u;
	*nout = n;
	return 0;
}

int
grpc_auth_new(struct grpc_auth **out, const char *file, char *err)
{
	struct grpc_auth *a;

	*out = NULL;
	if (file == NULL || file[0] == '\0')
		return 0;
	a = xcalloc(1, sizeof(*a));
	snprintf(a->file, sizeof(a->file), "%s", file);
	if (load_users(file, &a->users, &a->nusers, err) != 0) {
		free(a);
		return -1;
	}
	a->sessions = xcalloc(MAX_TOKENS, sizeof(*a->sessions));
	htable_init(&a->by_token);
	htable_reserve(&a->by_token, MAX_TOKENS);
	*out = a;
	return 0;
}

static void
forget_sessions(struct grpc_auth *a)
{
	size_t i;

	for (i = 0; i < a->used; i++)
		if (a->sessions[i].token[0] != '\0')
			htable_remove(&a->by_token, &a->sessions[i].node);
	memset(a->sessions, 0, MAX_TOKENS * sizeof(*a->sessions));
	a->used = 0;
}

int
grpc_auth_reload(struct grpc_auth *a, char *err)
{
	struct user *u;
	size_t n;

	if (a == NULL)
		return 0;
	if (load_users(a->file, &u, &n, err) != 0)
		return -1;
	users_free(a->users, a->nusers);
	a->users = u;
	a->nusers = n;
	/* Sessions of users that are gone or changed end with them. */
	forget_sessions(a);
	return 0;
}

void
grpc_auth_free(struct grpc_auth *a)
{
	if (a == NULL)
		return;
	users_free(a->users, a->nusers);
	htable_free(&a->by_token);
	free(a->sessions);
	free(a);
}

/* ---- checking passwords ---- */

static const struct user *
find_user(const struct grpc_auth *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nusers; i++)
		if (strcmp(a->users[i].name, name) == 0)
			return &a->users[i];
	return NULL;
}

/* An unknown user costs the same hash as a known one. */
static int
password_ok(const struct user *u, const char *password)
{
	static const char dummy[] =
		"$6$srvgatedummysalt$Il31FI1Eg6hHEgrvuZDRbjsu5sknyfwab10MgRmi"
		"4QaV3wBmsL4dm68oxy/v/2qd7h31h/OtIDw1hTI0YM5OW1";
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *hash = u ? u->hash : dummy;
	const char *got = crypt_r(password, hash, cd);
	int ok = got != NULL && got[0] != '*' && u != NULL &&
		 strlen(got) == strlen(hash) &&
		 CRYPTO_memcmp(got, hash, strlen(hash)) == 0;

	free(cd);
	return ok;
}

/* ---- tokens ---- */

static int
is_session_of(const struct hnode *n, const void *token)
{
	return CRYPTO_memcmp(container_of(n, struct session, node)->token,
			     token, 33) == 0;
}

/* token: 32 characters. */
static struct session *
find_session(struct grpc_auth *a, const char *token)
{
	struct hnode *n = htable_find(&a->by_token, hash_bytes(token, 32),
				      is_session_of, token);

	return n ? container_of(n, struct session, node) : NULL;
}

static struct session *
free_slot(struct grpc_auth *a, uint64_t now)
{
	struct session *oldest = &a->sessions[0];
	size_t i;

	for (i = 0; i < a->used; i++) {
		struct session *s = &a->sessions[i];

		if (s->token[0] == '\0' || s->expires_ms <= now)
			return s;
		if (s->expires_ms < oldest->expires_ms)
			oldest = s;
	}
	return a->used < MAX_TOKENS ? &a->sessions[a->used++] : oldest;
}

static int
new_token(struct grpc_auth *a, const char *user, char out[33])
{
	uint64_t now = now_monotonic_ms();
	unsigned char raw[16];
	struct session *s;
	int i;

	if (random_bytes(raw, sizeof(raw)) != 0)
		return -1;
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	s = free_slot(a, now);
	if (s->token[0] != '\0')
		htable_remove(&a->by_token, &s->node);
	snprintf(s->token, sizeof(s->token), "%s", out);
	htable_insert(&a->by_token, &s->node, hash_bytes(s->token, 32));
	snprintf(s->user, sizeof(s->user), "%s", user);
	s->expires_ms = now + TOKEN_TTL_S * 1000ull;
	return 0;
}

int
grpc_auth_login(struct grpc_auth *a, const char *user, const char *password,
		char token[33])
{
	if (!password_ok(find_user(a, user), password))
		return -1;
	return new_token(a, user, token);
}

enum grpc_code
grpc_auth_check(struct grpc_auth *a, const char *token, char *msg,
		size_t msglen)
{
	uint64_t now = now_monotonic_ms();
	struct session *s;

	if (a == NULL)
		return GRPC_OK;
	if (token[0] == '\0') {
		snprintf(msg, msglen, "etcdserver: user name is empty");
		return GRPC_INVALID_ARGUMENT;
	}
	s = strlen(token) == 32 ? find_session(a, token) : NULL;
	if (s == NULL || s->expires_ms <= now) {
		snprintf(msg, msglen, "etcdserver: invalid auth token");
		return GRPC_UNAUTHENTICATED;
	}
	s->expires_ms = now + TOKEN_TTL_S * 1000ull;
	return GRPC_OK;
}

/* ---- the method ---- */

static void
on_authenticate(struct grpc_call *c, const uint8_t *msg, size_t len)
{
	struct grpc_auth *a = c->conn->api->auth;
	V3__AuthenticateRequest *rq;
	V3__AuthenticateResponse resp;
	V3__ResponseHeader h;
	char token[33];

	if (a == NULL) {
		grpc_call_finish(c, GRPC_FAILED_PRECONDITION, "etcdserver: "
				 "authentication is not enabled (srvgate has no "
				 "--users-file)");
		return;
	}
	rq = v3__authenticate_request__unpack(NULL, len, msg);
	if (rq == NULL) {
		grpc_call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling "
				 "request: a malformed AuthenticateRequest");
		return;
	}
	if (!grpc_call_rate_ok(c)) {
		v3__authenticate_request__free_unpacked(rq, NULL);
		return;
	}
	if (grpc_auth_login(a, rq->name, rq->password, token) != 0) {
		grpc_call_finish(c, GRPC_INVALID_ARGUMENT, "etcdserver: "
				 "authentication failed, invalid user ID or "
				 "password");
	} else {
		v3__authenticate_response__init(&resp);
		grpc_header(c->conn->api, &h);
		resp.header = &h;
		resp.token = token;
		if (grpc_call_send(c, &resp.base) == 0)
			grpc_call_finish(c, GRPC_OK, NULL);
	}
	v3__authenticate_request__free_unpacked(rq, NULL);
}

const struct grpc_method grpc_m_authenticate = {
	"/etcdserverpb.Auth/Authenticate", M_AUTHENTICATE, 0, on_authenticate,
	NULL, NULL, NULL,
};
