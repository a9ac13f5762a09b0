/* test_registry.c -- tokens, members, the store-wide index, events, watch
 * history and restore. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "registry.h"

#define PEER "m=http://10.0.0.1:2380"

/* ---- helpers ---- */

/* What a listener saw; copied, since the token may be gone afterwards. */
struct seen {
	enum registry_event_type type;
	uint64_t index;
	char token[REGISTRY_NAME_MAX + 1];
	char member[REGISTRY_NAME_MAX + 1];
	char value[64];
	uint64_t created_index, modified_index;
	size_t token_members;
};

struct recorder {
	struct seen ev[16];
	size_t n;
};

static void
record(const struct registry_event *ev, void *arg)
{
	struct recorder *r = arg;
	struct seen *s;

	assert_true(r->n < sizeof(r->ev) / sizeof(r->ev[0]));
	s = &r->ev[r->n++];
	memset(s, 0, sizeof(*s));
	s->type = ev->type;
	s->index = ev->index;
	snprintf(s->token, sizeof(s->token), "%s", ev->token->name);
	s->token_members = ev->token->nmembers;
	if (ev->member != NULL) {
		snprintf(s->member, sizeof(s->member), "%s", ev->member->id);
		snprintf(s->value, sizeof(s->value), "%s", ev->member->value);
		s->created_index = ev->member->created_index;
		s->modified_index = ev->member->modified_index;
	}
}

static struct token *
make_token(struct registry *reg, const char *name, unsigned size)
{
	struct token *tok = NULL;

	assert_int_equal(registry_create_token(reg, name, size, 1000, &tok),
			 REG_OK);
	assert_non_null(tok);
	return tok;
}

static const struct member *
put(struct registry *reg, struct token *tok, const char *id,
    const char *value, enum put_mode mode)
{
	const struct member *m = NULL;

	assert_int_equal(registry_put_member(reg, tok, id, value, mode, &m),
			 REG_OK);
	assert_non_null(m);
	return m;
}

/* ---- names and tokens ---- */

static void
test_valid_name(void **state)
{
	char name[REGISTRY_NAME_MAX + 2];

	(void)state;
	assert_true(registry_valid_name("a"));
	assert_true(registry_valid_name("0"));
	assert_true(registry_valid_name("abc-123"));
	assert_false(registry_valid_name(""));
	assert_false(registry_valid_name("-a"));
	assert_false(registry_valid_name("a-"));
	assert_false(registry_valid_name("Abc"));
	assert_false(registry_valid_name("a_b"));
	assert_false(registry_valid_name("a.b"));
	assert_false(registry_valid_name(".."));
	memset(name, 'a', REGISTRY_NAME_MAX);
	name[REGISTRY_NAME_MAX] = '\0';
	assert_true(registry_valid_name(name));
	strcat(name, "a");
	assert_false(registry_valid_name(name));
}

static void
test_create_token(void **state)
{
	struct registry reg;
	struct token *tok = NULL;

	(void)state;
	registry_init(&reg, 10);
	assert_int_equal(registry_create_token(&reg, "abc", 3, 1234, &tok),
			 REG_OK);
	assert_non_null(tok);
	assert_string_equal(tok->name, "abc");
	assert_int_equal(tok->size, 3);
	assert_int_equal(tok->created_at, 1234);
	assert_int_equal(tok->created_index, 1);
	assert_int_equal(tok->nmembers, 0);
	assert_int_equal(reg.index, 1);
	assert_int_equal(reg.ntokens, 1);
	assert_ptr_equal(registry_find_token(&reg, "abc"), tok);
	assert_null(registry_find_token(&reg, "abd"));
	/* out may be NULL */
	assert_int_equal(registry_create_token(&reg, "def", 1, 0, NULL),
			 REG_OK);
	assert_int_equal(reg.ntokens, 2);
	registry_free(&reg);
}

static void
test_create_token_rejects(void **state)
{
	struct registry reg;
	struct token *tok = NULL;

	(void)state;
	registry_init(&reg, 10);
	make_token(&reg, "abc", 3);
	assert_int_equal(registry_create_token(&reg, "Bad", 3, 0, &tok),
			 REG_INVALID);
	assert_int_equal(registry_create_token(&reg, "", 3, 0, &tok),
			 REG_INVALID);
	assert_int_equal(registry_create_token(&reg, "a/b", 3, 0, &tok),
			 REG_INVALID);
	assert_int_equal(registry_create_token(&reg, "zero", 0, 0, &tok),
			 REG_INVALID);
	assert_int_equal(registry_create_token(&reg, "abc", 5, 0, &tok),
			 REG_EXISTS);
	assert_null(tok);
	/* Nothing failed changes the store or its index. */
	assert_int_equal(reg.index, 1);
	assert_int_equal(reg.ntokens, 1);
	assert_int_equal(registry_find_token(&reg, "abc")->size, 3);
	assert_null(registry_find_token(&reg, "zero"));
	registry_free(&reg);
}

/* ---- the store-wide index ---- */

static void
test_index_order(void **state)
{
	struct registry reg;
	struct token *a, *b;
	const struct member *m;

	(void)state;
	registry_init(&reg, 10);
	a = make_token(&reg, "a", 3);
	assert_int_equal(a->created_index, 1);
	m = put(&reg, a, "m1", PEER, PUT_CREATE);
	assert_int_equal(m->created_index, 2);
	assert_int_equal(m->modified_index, 2);
	/* A second token shares the one index. */
	b = make_token(&reg, "b", 3);
	assert_int_equal(b->created_index, 3);
	m = put(&reg, b, "m1", PEER, PUT_CREATE);
	assert_int_equal(m->created_index, 4);
	m = put(&reg, a, "m2", PEER, PUT_SET);
	assert_int_equal(m->created_index, 5);
	assert_int_equal(registry_delete_member(&reg, a, "m1"), REG_OK);
	assert_int_equal(reg.index, 6);
	assert_int_equal(registry_delete_token(&reg, "b"), REG_OK);
	assert_int_equal(reg.index, 7);
	m = put(&reg, a, "m2", PEER, PUT_UPDATE);
	assert_int_equal(m->created_index, 5);
	assert_int_equal(m->modified_index, 8);
	assert_int_equal(reg.index, 8);
	registry_free(&reg);
}

static void
test_members_ordered_by_created_index(void **state)
{
	struct registry reg;
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 5);
	/* Not alphabetical: etcd orders the cluster by creation. */
	put(&reg, tok, "c", PEER, PUT_CREATE);
	put(&reg, tok, "a", PEER, PUT_CREATE);
	put(&reg, tok, "b", PEER, PUT_CREATE);
	put(&reg, tok, "a", "m=http://10.0.0.9:2380", PUT_SET);
	assert_int_equal(tok->nmembers, 3);
	assert_string_equal(tok->members[0].id, "c");
	assert_string_equal(tok->members[1].id, "a");
	assert_string_equal(tok->members[2].id, "b");
	assert_true(tok->members[0].created_index <
		    tok->members[1].created_index);
	assert_true(tok->members[1].created_index <
		    tok->members[2].created_index);
	assert_int_equal(registry_delete_member(&reg, tok, "c"), REG_OK);
	assert_int_equal(tok->nmembers, 2);
	assert_string_equal(tok->members[0].id, "a");
	assert_string_equal(tok->members[1].id, "b");
	registry_free(&reg);
}

/* ---- put modes ---- */

static void
test_put_create_existing(void **state)
{
	struct registry reg;
	struct token *tok;
	const struct member *m = NULL;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 3);
	put(&reg, tok, "m1", PEER, PUT_CREATE);
	/* etcd answers 105 "Key already exists" for prevExist=false. */
	assert_int_equal(registry_put_member(&reg, tok, "m1",
					     "m=http://10.0.0.2:2380",
					     PUT_CREATE, &m),
			 REG_EXISTS);
	assert_null(m);
	assert_int_equal(reg.index, 2);
	assert_string_equal(token_find_member(tok, "m1")->value, PEER);
	assert_int_equal(token_find_member(tok, "m1")->action, ACTION_CREATE);
	registry_free(&reg);
}

static void
test_put_update_missing(void **state)
{
	struct registry reg;
	struct token *tok;
	const struct member *m = NULL;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 3);
	assert_int_equal(registry_put_member(&reg, tok, "m1", PEER,
					     PUT_UPDATE, &m),
			 REG_NOT_FOUND);
	assert_null(m);
	assert_int_equal(reg.index, 1);
	assert_int_equal(tok->nmembers, 0);
	assert_null(token_find_member(tok, "m1"));
	/* Once it exists, an update works and says so. */
	put(&reg, tok, "m1", PEER, PUT_CREATE);
	m = put(&reg, tok, "m1", "m=http://10.0.0.3:2380", PUT_UPDATE);
	assert_int_equal(m->action, ACTION_UPDATE);
	assert_string_equal(m->value, "m=http://10.0.0.3:2380");
	registry_free(&reg);
}

static void
test_put_set_overwrites(void **state)
{
	struct registry reg;
	struct token *tok;
	const struct member *m;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 3);
	m = put(&reg, tok, "m1", PEER, PUT_SET);
	assert_int_equal(m->action, ACTION_SET);
	assert_int_equal(m->created_index, 2);
	put(&reg, tok, "m2", PEER, PUT_SET);
	m = put(&reg, tok, "m1", "m=http://10.0.0.7:2380", PUT_SET);
	assert_int_equal(m->created_index, 2);
	assert_int_equal(m->modified_index, 4);
	assert_string_equal(m->value, "m=http://10.0.0.7:2380");
	assert_int_equal(m->action, ACTION_SET);
	assert_int_equal(tok->nmembers, 2);
	assert_int_equal(reg.nmembers, 2);
	registry_free(&reg);
}

static void
test_put_invalid_id(void **state)
{
	struct registry reg;
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 3);
	assert_int_equal(registry_put_member(&reg, tok, "M1", PEER, PUT_SET,
					     NULL),
			 REG_INVALID);
	assert_int_equal(registry_put_member(&reg, tok, "", PEER, PUT_SET,
					     NULL),
			 REG_INVALID);
	assert_int_equal(reg.index, 1);
	assert_int_equal(tok->nmembers, 0);
	registry_free(&reg);
}

static void
test_max_members_full(void **state)
{
	struct registry reg;
	struct token *tok;
	const struct member *m = NULL;

	(void)state;
	registry_init(&reg, 2);
	tok = make_token(&reg, "t", 5);
	put(&reg, tok, "m1", PEER, PUT_CREATE);
	put(&reg, tok, "m2", PEER, PUT_CREATE);
	assert_int_equal(registry_put_member(&reg, tok, "m3", PEER, PUT_SET,
					     &m),
			 REG_FULL);
	assert_null(m);
	assert_int_equal(reg.index, 3);
	assert_int_equal(tok->nmembers, 2);
	/* Rewriting a member adds nothing, so a full token allows it. */
	put(&reg, tok, "m2", "m=http://10.0.0.2:2380", PUT_SET);
	assert_int_equal(registry_delete_member(&reg, tok, "m1"), REG_OK);
	put(&reg, tok, "m3", PEER, PUT_CREATE);
	assert_int_equal(tok->nmembers, 2);
	registry_free(&reg);
}

static void
test_cluster_size_and_full(void **state)
{
	struct registry reg;
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 3);
	assert_int_equal(token_cluster_size(tok), 0);
	assert_false(token_is_full(tok));
	put(&reg, tok, "m1", PEER, PUT_CREATE);
	put(&reg, tok, "m2", PEER, PUT_CREATE);
	assert_int_equal(token_cluster_size(tok), 2);
	assert_false(token_is_full(tok));
	put(&reg, tok, "m3", PEER, PUT_CREATE);
	assert_int_equal(token_cluster_size(tok), 3);
	assert_true(token_is_full(tok));
	/* Members past size are proxies; the cluster stays at size. */
	put(&reg, tok, "m4", PEER, PUT_CREATE);
	assert_int_equal(tok->nmembers, 4);
	assert_int_equal(token_cluster_size(tok), 3);
	assert_true(token_is_full(tok));
	registry_free(&reg);
}

/* ---- deletion ---- */

static void
test_delete_member(void **state)
{
	struct registry reg;
	struct token *a, *b;

	(void)state;
	registry_init(&reg, 10);
	a = make_token(&reg, "a", 3);
	b = make_token(&reg, "b", 3);
	put(&reg, a, "m1", PEER, PUT_CREATE);
	put(&reg, a, "m2", PEER, PUT_CREATE);
	put(&reg, b, "m1", PEER, PUT_CREATE);
	assert_int_equal(reg.nmembers, 3);
	assert_int_equal(registry_delete_member(&reg, a, "m1"), REG_OK);
	assert_int_equal(reg.index, 6);
	assert_int_equal(a->nmembers, 1);
	assert_int_equal(reg.nmembers, 2);
	assert_null(token_find_member(a, "m1"));
	/* The same id in another token is untouched. */
	assert_non_null(token_find_member(b, "m1"));
	assert_int_equal(registry_delete_member(&reg, a, "m1"),
			 REG_NOT_FOUND);
	assert_int_equal(registry_delete_member(&reg, a, "nope"),
			 REG_NOT_FOUND);
	assert_int_equal(reg.index, 6);
	assert_int_equal(reg.nmembers, 2);
	registry_free(&reg);
}

static void
test_delete_token(void **state)
{
	struct registry reg;
	struct token *a, *b;

	(void)state;
	registry_init(&reg, 10);
	a = make_token(&reg, "a", 3);
	b = make_token(&reg, "b", 3);
	put(&reg, a, "m1", PEER, PUT_CREATE);
	put(&reg, a, "m2", PEER, PUT_CREATE);
	put(&reg, b, "m1", PEER, PUT_CREATE);
	/* Give the token a tombstone too, so freeing it frees that. */
	assert_int_equal(registry_delete_member(&reg, a, "m2"), REG_OK);
	assert_int_equal(registry_delete_token(&reg, "a"), REG_OK);
	assert_int_equal(reg.index, 7);
	assert_int_equal(reg.ntokens, 1);
	assert_int_equal(reg.nmembers, 1);
	assert_null(registry_find_token(&reg, "a"));
	assert_ptr_equal(registry_find_token(&reg, "b"), b);
	assert_int_equal(registry_delete_token(&reg, "a"), REG_NOT_FOUND);
	assert_int_equal(reg.index, 7);
	/* The name is free again, at a new index. */
	a = make_token(&reg, "a", 3);
	assert_int_equal(a->created_index, 8);
	assert_int_equal(a->nmembers, 0);
	registry_free(&reg);
}

/* ---- events ---- */

static void
test_events(void **state)
{
	struct registry reg;
	struct recorder r = { .n = 0 };
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	assert_int_equal(registry_subscribe(&reg, record, &r), 0);
	tok = make_token(&reg, "t", 3);
	put(&reg, tok, "m1", "m1=http://10.0.0.1:2380", PUT_CREATE);
	put(&reg, tok, "m1", "m1=http://10.0.0.9:2380", PUT_SET);
	assert_int_equal(registry_delete_member(&reg, tok, "m1"), REG_OK);
	put(&reg, tok, "m2", "m2=http://10.0.0.2:2380", PUT_CREATE);
	assert_int_equal(registry_delete_token(&reg, "t"), REG_OK);
	assert_int_equal(r.n, 6);

	assert_int_equal(r.ev[0].type, EV_TOKEN_CREATED);
	assert_int_equal(r.ev[0].index, 1);
	assert_string_equal(r.ev[0].token, "t");
	assert_string_equal(r.ev[0].member, "");

	assert_int_equal(r.ev[1].type, EV_MEMBER_SET);
	assert_int_equal(r.ev[1].index, 2);
	assert_string_equal(r.ev[1].member, "m1");
	assert_string_equal(r.ev[1].value, "m1=http://10.0.0.1:2380");
	assert_int_equal(r.ev[1].modified_index, 2);

	/* An overwrite reports the new state. */
	assert_int_equal(r.ev[2].type, EV_MEMBER_SET);
	assert_int_equal(r.ev[2].index, 3);
	assert_string_equal(r.ev[2].value, "m1=http://10.0.0.9:2380");
	assert_int_equal(r.ev[2].created_index, 2);
	assert_int_equal(r.ev[2].modified_index, 3);

	/* A deletion reports the member as it was. */
	assert_int_equal(r.ev[3].type, EV_MEMBER_DELETED);
	assert_int_equal(r.ev[3].index, 4);
	assert_string_equal(r.ev[3].member, "m1");
	assert_string_equal(r.ev[3].value, "m1=http://10.0.0.9:2380");
	assert_int_equal(r.ev[3].modified_index, 3);
	assert_int_equal(r.ev[3].token_members, 0);

	assert_int_equal(r.ev[4].type, EV_MEMBER_SET);
	assert_int_equal(r.ev[4].index, 5);

	/* Listeners see the token whole one last time. */
	assert_int_equal(r.ev[5].type, EV_TOKEN_DELETED);
	assert_int_equal(r.ev[5].index, 6);
	assert_string_equal(r.ev[5].token, "t");
	assert_int_equal(r.ev[5].token_members, 1);
	registry_free(&reg);
}

static void
test_failures_announce_nothing(void **state)
{
	struct registry reg;
	struct recorder r = { .n = 0 };
	struct token *tok;

	(void)state;
	registry_init(&reg, 1);
	tok = make_token(&reg, "t", 3);
	put(&reg, tok, "m1", PEER, PUT_CREATE);
	assert_int_equal(registry_subscribe(&reg, record, &r), 0);
	registry_create_token(&reg, "t", 3, 0, NULL);
	registry_create_token(&reg, "BAD", 3, 0, NULL);
	registry_put_member(&reg, tok, "m1", PEER, PUT_CREATE, NULL);
	registry_put_member(&reg, tok, "m2", PEER, PUT_UPDATE, NULL);
	registry_put_member(&reg, tok, "m2", PEER, PUT_SET, NULL); /* full */
	registry_delete_member(&reg, tok, "m2");
	registry_delete_token(&reg, "nope");
	assert_int_equal(r.n, 0);
	assert_int_equal(reg.index, 2);
	registry_free(&reg);
}

static void
test_subscribe_many(void **state)
{
	struct registry reg;
	struct recorder r[REGISTRY_MAX_LISTENERS];
	size_t i;

	(void)state;
	registry_init(&reg, 10);
	memset(r, 0, sizeof(r));
	for (i = 0; i < REGISTRY_MAX_LISTENERS; i++)
		assert_int_equal(registry_subscribe(&reg, record, &r[i]), 0);
	assert_int_equal(registry_subscribe(&reg, record, &r[0]), -1);
	make_token(&reg, "t", 3);
	for (i = 0; i < REGISTRY_MAX_LISTENERS; i++) {
		assert_int_equal(r[i].n, 1);
		assert_int_equal(r[i].ev[0].type, EV_TOKEN_CREATED);
	}
	registry_free(&reg);
}

/* ---- watch history ---- */

static void
test_watch_found_at_once(void **state)
{
	struct registry reg;
	struct watch_match wm;
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 3);
	put(&reg, tok, "a", PEER, PUT_CREATE); /* 2 */
	put(&reg, tok, "b", PEER, PUT_SET);    /* 3 */
	/* The earliest change at or after since answers. */
	assert_int_equal(registry_watch_history(tok, NULL, 1, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 2);
	assert_string_equal(wm.node->id, "a");
	assert_int_equal(wm.action, ACTION_CREATE);
	assert_false(wm.deleted);
	assert_int_equal(registry_watch_history(tok, NULL, 3, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 3);
	assert_string_equal(wm.node->id, "b");
	assert_int_equal(wm.action, ACTION_SET);
	/* A member watch sees that member only. */
	assert_int_equal(registry_watch_history(tok, "a", 2, &wm),
			 WATCH_FOUND);
	assert_string_equal(wm.node->id, "a");
	assert_int_equal(registry_watch_history(tok, "a", 3, &wm),
			 WATCH_WAIT);
	registry_free(&reg);
}

static void
test_watch_waits_for_future(void **state)
{
	struct registry reg;
	struct watch_match wm;
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 3);
	assert_int_equal(registry_watch_history(tok, NULL, reg.index + 1, &wm),
			 WATCH_WAIT);
	put(&reg, tok, "a", PEER, PUT_CREATE);
	assert_int_equal(registry_watch_history(tok, NULL, reg.index + 1, &wm),
			 WATCH_WAIT);
	assert_int_equal(registry_watch_history(tok, "b", 1, &wm), WATCH_WAIT);
	/* What was waited for arrives. */
	put(&reg, tok, "b", PEER, PUT_CREATE);
	assert_int_equal(registry_watch_history(tok, "b", 3, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 3);
	registry_free(&reg);
}

static void
test_watch_tombstone_answers(void **state)
{
	struct registry reg;
	struct watch_match wm;
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	tok = make_token(&reg, "t", 3);
	/* a at 2, rewritten at 3; b at 4; a deleted at 5 */
	put(&reg, tok, "a", PEER, PUT_CREATE);
	put(&reg, tok, "a", "a=http://10.0.0.5:2380", PUT_SET);
	put(&reg, tok, "b", PEER, PUT_CREATE);
	assert_int_equal(registry_delete_member(&reg, tok, "a"), REG_OK);
	assert_int_equal(registry_watch_history(tok, "a", 5, &wm),
			 WATCH_FOUND);
	assert_true(wm.deleted);
	assert_int_equal(wm.action, ACTION_DELETE);
	assert_int_equal(wm.index, 5);
	/* The node is the member as it was before its deletion. */
	assert_string_equal(wm.node->id, "a");
	assert_string_equal(wm.node->value, "a=http://10.0.0.5:2380");
	assert_int_equal(wm.node->created_index, 2);
	assert_int_equal(wm.node->modified_index, 3);
	/* A live member before the deletion comes first. */
	assert_int_equal(registry_watch_history(tok, NULL, 4, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 4);
	assert_false(wm.deleted);
	assert_int_equal(registry_watch_history(tok, NULL, 5, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 5);
	assert_true(wm.deleted);
	assert_int_equal(registry_watch_history(tok, NULL, 6, &wm), WATCH_WAIT);
	/* Re-created, the member's new life answers later watches. */
	put(&reg, tok, "a", PEER, PUT_CREATE); /* 6 */
	assert_int_equal(registry_watch_history(tok, "a", 6, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 6);
	assert_false(wm.deleted);
	assert_int_equal(registry_watch_history(tok, "a", 5, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 5);
	assert_true(wm.deleted);
	registry_free(&reg);
}

/* Deletes more members than the tombstone ring holds, leaving "keep" (2)
 * stored and "old" (created 3, deleted 4) forgotten. */
static struct token *
churn(struct registry *reg)
{
	struct token *tok = make_token(reg, "t", 3);
	int i;

	put(reg, tok, "keep", PEER, PUT_CREATE);
	put(reg, tok, "old", PEER, PUT_CREATE);
	assert_int_equal(registry_delete_member(reg, tok, "old"), REG_OK);
	for (i = 0; i < REGISTRY_TOMBSTONES; i++) {
		put(reg, tok, "x", PEER, PUT_CREATE);
		assert_int_equal(registry_delete_member(reg, tok, "x"),
				 REG_OK);
	}
	assert_int_equal(tok->ntombs, REGISTRY_TOMBSTONES);
	assert_int_equal(reg->index, 4 + 2 * REGISTRY_TOMBSTONES);
	return tok;
}

static void
test_watch_cleared(void **state)
{
	struct registry reg;
	struct watch_match wm;
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	tok = churn(&reg);
	/* "old"'s deletion (4) was forgotten: a watch from before it cannot
	 * be answered truthfully. */
	assert_int_equal(registry_watch_history(tok, "old", 3, &wm),
			 WATCH_CLEARED);
	assert_int_equal(registry_watch_history(tok, "old", 4, &wm),
			 WATCH_CLEARED);
	/* From after the forgotten deletion on, nothing was lost. */
	assert_int_equal(registry_watch_history(tok, "old", 5, &wm),
			 WATCH_WAIT);
	assert_int_equal(registry_watch_history(tok, "old", reg.index + 1, &wm),
			 WATCH_WAIT);
	registry_free(&reg);
}

static void
test_watch_stored_answer_never_cleared(void **state)
{
	struct registry reg;
	struct watch_match wm;
	struct token *tok;

	(void)state;
	registry_init(&reg, 10);
	tok = churn(&reg);
	assert_int_equal(registry_watch_history(tok, "keep", 1, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 2);
	assert_int_equal(registry_watch_history(tok, NULL, 2, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 2);
	assert_string_equal(wm.node->id, "keep");
	/* Rewritten now, "keep" still answers a since below the floor. */
	put(&reg, tok, "keep", "keep=http://10.0.0.8:2380", PUT_SET);
	assert_int_equal(registry_watch_history(tok, "keep", 3, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, reg.index);
	assert_string_equal(wm.node->value, "keep=http://10.0.0.8:2380");
	/* The newest tombstones are kept. */
	assert_int_equal(registry_watch_history(tok, "x", reg.index - 1, &wm),
			 WATCH_FOUND);
	assert_true(wm.deleted);
	assert_int_equal(wm.index, reg.index - 1);
	registry_free(&reg);
}

/* ---- restore ---- */

static void
test_restore(void **state)
{
	struct registry reg;
	struct recorder r = { .n = 0 };
	struct token *tok;
	struct member m;
	char value[32];
	const struct member *put_m;

	(void)state;
	registry_init(&reg, 10);
	assert_int_equal(registry_subscribe(&reg, record, &r), 0);
	tok = registry_restore_token(&reg, "t", 3, 10, 555);
	assert_non_null(tok);
	assert_int_equal(tok->size, 3);
	assert_int_equal(tok->created_index, 10);
	assert_int_equal(tok->created_at, 555);
	assert_int_equal(reg.index, 10);
	/* Storage yields members by id, not by creation. */
	memset(&m, 0, sizeof(m));
	strcpy(value, "c=http://10.0.0.3:2380");
	m.value = value;
	strcpy(m.id, "c");
	m.created_index = 15;
	m.modified_index = 20;
	assert_int_equal(registry_restore_member(&reg, tok, &m), 0);
	strcpy(m.id, "a");
	m.created_index = 12;
	m.modified_index = 30;
	assert_int_equal(registry_restore_member(&reg, tok, &m), 0);
	strcpy(m.id, "b");
	m.created_index = 14;
	m.modified_index = 14;
	assert_int_equal(registry_restore_member(&reg, tok, &m), 0);
	strcpy(m.id, "d");
	m.created_index = 11;
	m.modified_index = 11;
	assert_int_equal(registry_restore_member(&reg, tok, &m), 0);
	assert_int_equal(tok->nmembers, 4);
	assert_int_equal(reg.nmembers, 4);
	assert_string_equal(tok->members[0].id, "d");
	assert_string_equal(tok->members[1].id, "a");
	assert_string_equal(tok->members[2].id, "b");
	assert_string_equal(tok->members[3].id, "c");
	assert_int_equal(tok->members[1].modified_index, 30);
	/* The index follows the largest seen, never going back. */
	assert_int_equal(reg.index, 30);
	registry_restore_index(&reg, 25);
	assert_int_equal(reg.index, 30);
	registry_restore_index(&reg, 40);
	assert_int_equal(reg.index, 40);
	/* The registry keeps its own copy of each value. */
	value[0] = 'X';
	assert_string_equal(tok->members[3].value, "c=http://10.0.0.3:2380");
	assert_int_equal(r.n, 0);
	/* After restore, changes continue from the index. */
	put_m = put(&reg, tok, "e", PEER, PUT_CREATE);
	assert_int_equal(put_m->created_index, 41);
	assert_string_equal(tok->members[4].id, "e");
	assert_int_equal(r.n, 1);
	registry_free(&reg);
}

static void
test_restore_rejects(void **state)
{
	struct registry reg;
	struct token *tok;
	struct member m;
	char value[] = "m=http://10.0.0.1:2380";

	(void)state;
	registry_init(&reg, 10);
	tok = registry_restore_token(&reg, "t", 3, 5, 0);
	/* Restoring a token twice gives the one token. */
	assert_ptr_equal(registry_restore_token(&reg, "t", 3, 5, 0), tok);
	assert_int_equal(reg.ntokens, 1);
	memset(&m, 0, sizeof(m));
	m.value = value;
	m.created_index = m.modified_index = 6;
	strcpy(m.id, "m1");
	assert_int_equal(registry_restore_member(&reg, tok, &m), 0);
	assert_int_equal(registry_restore_member(&reg, tok, &m), -1);
	strcpy(m.id, "Bad");
	assert_int_equal(registry_restore_member(&reg, tok, &m), -1);
	assert_int_equal(tok->nmembers, 1);
	assert_int_equal(reg.nmembers, 1);
	registry_free(&reg);
}

/* ---- iteration ---- */

#define MANY_TOKENS 1500 /* more than the 1024 initial buckets */

static void
count_token(const struct token *tok, void *arg)
{
	unsigned char *seen = arg;
	unsigned n;

	assert_int_equal(sscanf(tok->name, "t%u", &n), 1);
	assert_true(n < MANY_TOKENS);
	seen[n]++;
}

static void
test_foreach_many_tokens(void **state)
{
	static unsigned char seen[MANY_TOKENS];
	struct registry reg;
	char name[16];
	unsigned i;

	(void)state;
	registry_init(&reg, 10);
	for (i = 0; i < MANY_TOKENS; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		make_token(&reg, name, 3);
	}
	assert_int_equal(reg.ntokens, MANY_TOKENS);
	assert_true(reg.nbuckets > 1024);
	memset(seen, 0, sizeof(seen));
	registry_foreach_token(&reg, count_token, seen);
	for (i = 0; i < MANY_TOKENS; i++) {
		assert_int_equal(seen[i], 1);
		snprintf(name, sizeof(name), "t%u", i);
		assert_non_null(registry_find_token(&reg, name));
	}
	/* Deletion still finds each token after the table grew. */
	for (i = 0; i < MANY_TOKENS; i += 2) {
		snprintf(name, sizeof(name), "t%u", i);
		assert_int_equal(registry_delete_token(&reg, name), REG_OK);
	}
	assert_int_equal(reg.ntokens, MANY_TOKENS / 2);
	memset(seen, 0, sizeof(seen));
	registry_foreach_token(&reg, count_token, seen);
	for (i = 0; i < MANY_TOKENS; i++)
		assert_int_equal(seen[i], i % 2);
	registry_free(&reg);
}

/* Big tokens find members through an id index; it must stay right while
 * members come and go in the middle and after a restore. */
static void
test_big_token_index(void **state)
{
	struct registry reg;
	struct token *tok;
	char id[16];
	int i;

	(void)state;
	registry_init(&reg, 1000);
	tok = make_token(&reg, "big", 1000);
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		put(&reg, tok, id, PEER, PUT_CREATE);
	}
	for (i = 0; i < 200; i += 3) {
		snprintf(id, sizeof(id), "m%d", i);
		assert_int_equal(registry_delete_member(&reg, tok, id), REG_OK);
	}
	for (i = 0; i < 200; i++) {
		const struct member *m;

		snprintf(id, sizeof(id), "m%d", i);
		m = token_find_member(tok, id);
		if (i % 3 == 0) {
			assert_null(m);
		} else {
			assert_non_null(m);
			assert_string_equal(m->id, id);
		}
	}
	/* A create of an existing one is still refused through the index. */
	assert_int_equal(registry_put_member(&reg, tok, "m1", PEER, PUT_CREATE,
					     NULL),
			 REG_EXISTS);
	assert_null(token_find_member(tok, "m200"));
	registry_free(&reg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_name),
		cmocka_unit_test(test_create_token),
		cmocka_unit_test(test_create_token_rejects),
		cmocka_unit_test(test_index_order),
		cmocka_unit_test(test_members_ordered_by_created_index),
		cmocka_unit_test(test_put_create_existing),
		cmocka_unit_test(test_put_update_missing),
		cmocka_unit_test(test_put_set_overwrites),
		cmocka_unit_test(test_put_invalid_id),
		cmocka_unit_test(test_max_members_full),
		cmocka_unit_test(test_cluster_size_and_full),
		cmocka_unit_test(test_delete_member),
		cmocka_unit_test(test_delete_token),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_failures_announce_nothing),
		cmocka_unit_test(test_subscribe_many),
		cmocka_unit_test(test_watch_found_at_once),
		cmocka_unit_test(test_watch_waits_for_future),
		cmocka_unit_test(test_watch_tombstone_answers),
		cmocka_unit_test(test_watch_cleared),
		cmocka_unit_test(test_watch_stored_answer_never_cleared),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_restore_rejects),
		cmocka_unit_test(test_foreach_many_tokens),
		cmocka_unit_test(test_big_token_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
