/* test_registry.c -- the registry as the store's stream of committed changes
 * feeds it: plans checked against the committed state, nothing visible
 * before a commit, failed commits that leave no trace, requests that wait
 * for a key, events in commit order, import and sync, watch history.
 *
 * The store is a fake: it queues proposals, and commit_all() commits them
 * the way store_lmdb.c's deliver() does (apply per change of each proposal
 * that committed, batch_end, then settled per proposal). */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "import.h"
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

#define PEER "m=http://10.0.0.1:2380"
#define PEER2 "m=http://10.0.0.2:2380"

/* ---- the fake store ---- */

struct fake_store {
	struct store base;
	struct proposal *head, **tail;
	size_t queued;	    /* proposals waiting for commit_all */
	uint64_t index;	    /* the last index given out */
	uint64_t submitted; /* proposals ever submitted */
};

static struct registry reg;
static struct fake_store fs;

static void
fake_submit(struct store *st, struct proposal *p)
{
	struct fake_store *f = (struct fake_store *)st;

	p->next = NULL;
	*f->tail = p;
	f->tail = &p->next;
	f->queued++;
	f->submitted++;
}

static int
fake_load(struct store *st, char *err)
{
	(void)st;
	(void)err;
	return 0;
}

static void
fake_probe(struct store *st)
{
	store_probe_done(st, 1, NULL);
}

static int
fake_busy(const struct store *st)
{
	return ((const struct fake_store *)st)->head != NULL;
}

static void
fake_stats(const struct store *st, struct store_stats *out)
{
	(void)st;
	(void)out;
}

static void
fake_close(struct store *st)
{
	(void)st;
}

static const struct store_ops fake_ops = {
	"fake", fake_load, fake_submit, fake_probe, fake_busy, fake_stats,
	fake_close, NULL,
};

static const char *
status_words(enum store_status status)
{
	switch (status) {
	case STORE_OK: return "";
	case STORE_FULL: return "the map is full";
	case STORE_UNAVAILABLE: return "cannot write now";
	case STORE_CONFLICT: return "another writer was first";
	case STORE_FAILED: break;
	}
	return "failed";
}

/* Commits every queued proposal in one batch, each with the given
 * outcome; returns how many were settled. Proposals submitted while
 * settling (requests planned again) wait for the next call, as they wait
 * for the next batch in the LMDB store. */
static size_t
commit_all(enum store_status status)
{
	const struct store_sink *sink = &fs.base.sink;
	struct proposal *batch = fs.head, *p, *next;
	size_t i, n = 0;

	fs.head = NULL;
	fs.tail = &fs.head;
	fs.queued = 0;
	if (batch == NULL)
		return 0;
	for (p = batch; p != NULL; p = p->next) {
		p->status = status;
		if (status != STORE_OK) {
			snprintf(p->error, sizeof(p->error), "%s",
				 status_words(status));
			continue;
		}
		for (i = 0; i < p->n; i++) {
			p->changes[i].index = ++fs.index;
			sink->apply(sink->arg, &p->changes[i]);
		}
	}
	sink->batch_end(sink->arg, fs.index);
	for (p = batch; p != NULL; p = next) {
		next = p->next;
		n++;
		sink->settled(sink->arg, p);
	}
	return n;
}

/* ---- what listeners see ---- */

/* Copied, since the token may be gone afterwards. */
struct seen {
	enum registry_event_type type;
	uint64_t index;
	char token[REGISTRY_NAME_MAX + 1];
	char member[REGISTRY_NAME_MAX + 1];
	char alias[REGISTRY_NAME_MAX + 1];
	char value[64];
	uint64_t created_index, modified_index;
	size_t token_members;
	unsigned token_size;
};

static struct {
	struct seen *ev;
	size_t n, cap;
} rec;

static void
record(const struct registry_event *ev, void *arg)
{
	struct seen *s;

	(void)arg;
	if (rec.n == rec.cap) {
		rec.cap = rec.cap ? rec.cap * 2 : 64;
		rec.ev = realloc(rec.ev, rec.cap * sizeof(*rec.ev));
		assert_non_null(rec.ev);
	}
	s = &rec.ev[rec.n++];
	memset(s, 0, sizeof(*s));
	s->type = ev->type;
	s->index = ev->index;
	if (ev->type == EV_BATCH_END) {
		assert_null(ev->token);
		return;
	}
	assert_non_null(ev->token);
	snprintf(s->token, sizeof(s->token), "%s", ev->token->name);
	s->token_members = ev->token->nmembers;
	s->token_size = ev->token->size;
	if (ev->alias != NULL)
		snprintf(s->alias, sizeof(s->alias), "%s", ev->alias);
	if (ev->member != NULL) {
		snprintf(s->member, sizeof(s->member), "%s", ev->member->id);
		snprintf(s->value, sizeof(s->value), "%s", ev->member->value);
		s->created_index = ev->member->created_index;
		s->modified_index = ev->member->modified_index;
	}
}

/* Events of one kind since the recorder was cleared. */
static size_t
count_events(enum registry_event_type type)
{
	size_t i, n = 0;

	for (i = 0; i < rec.n; i++)
		n += rec.ev[i].type == type;
	return n;
}

static int
setup(void **state)
{
	(void)state;
	registry_init(&reg, 100);
	memset(&fs, 0, sizeof(fs));
	fs.base.ops = &fake_ops;
	fs.base.sink = registry_sink(&reg);
	fs.tail = &fs.head;
	registry_set_store(&reg, &fs.base);
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(registry_subscribe(&reg, record, NULL), 0);
	return 0;
}

static int
teardown(void **state)
{
	struct proposal *p, *next;

	(void)state;
	for (p = fs.head; p != NULL; p = next) {
		next = p->next;
		proposal_free(p);
	}
	registry_free(&reg);
	free(rec.ev);
	memset(&rec, 0, sizeof(rec));
	return 0;
}

/* ---- requests ---- */

enum op {
	OP_CREATE, OP_DELETE, OP_SIZE, OP_PUT, OP_SYNC_MEMBER, OP_DEL_MEMBER,
	OP_ALIAS_SET, OP_ALIAS_DEL, OP_IMPORT, OP_SYNC,
};

struct req {
	struct registry_request rr;
	enum op op;
	const char *token, *name, *value, *clients;
	unsigned size;
	enum put_mode mode;
	int force; /* alias moves */
	const struct token_spec *spec;
	/* what happened */
	unsigned plans, busy;
	int done; /* times done() was called: 1 at most */
	enum registry_status status;
	char error[ERRBUF_SIZE];
	size_t nchanges;
	uint64_t first, last; /* indexes of its committed changes */
	uint64_t index;	      /* the registry's, as done() saw it */
};

static errbuf_t why_buf; /* the last plan's reason for a refusal */

static enum registry_status
plan_req(struct registry *r, struct registry_request *rr, struct proposal *p)
{
	struct req *q = rr->arg;
	enum registry_status rs = REG_INVALID;

	q->plans++;
	switch (q->op) {
	case OP_CREATE:
		rs = plan_token_create(r, p, q->token, q->size, 1234);
		break;
	case OP_DELETE: rs = plan_token_delete(r, p, q->token); break;
	case OP_SIZE: rs = plan_token_size(r, p, q->token, q->size); break;
	case OP_PUT:
		rs = plan_member_put(r, p, q->token, q->name, q->value,
				     q->mode);
		break;
	case OP_SYNC_MEMBER:
		rs = plan_member_sync(r, p, q->token, q->name, q->value,
				      q->clients);
		break;
	case OP_DEL_MEMBER:
		rs = plan_member_delete(r, p, q->token, q->name);
		break;
	case OP_ALIAS_SET:
		rs = plan_alias_set(r, p, q->name, q->token, q->force);
		break;
	case OP_ALIAS_DEL:
		rs = plan_alias_delete(r, p, q->name, q->token);
		break;
	case OP_IMPORT: rs = plan_import(r, p, q->spec); break;
	case OP_SYNC: rs = plan_sync(r, p, q->spec, why_buf); break;
	}
	q->busy += rs == REG_BUSY;
	return rs;
}

static void
req_done(struct registry_request *rr, const struct registry_result *res)
{
	struct req *q = rr->arg;

	q->done++;
	assert_int_equal(q->done, 1);
	q->status = res->status;
	snprintf(q->error, sizeof(q->error), "%s",
		 res->error ? res->error : "");
	q->nchanges = res->nchanges;
	q->index = res->index;
	if (res->nchanges > 0) {
		q->first = res->changes[0].index;
		q->last = res->changes[res->nchanges - 1].index;
	}
}

static struct req *
submit(struct req *q)
{
	q->done = 0;
	q->plans = q->busy = 0;
	q->nchanges = 0;
	q->first = q->last = 0;
	q->rr.plan = plan_req;
	q->rr.done = req_done;
	q->rr.arg = q;
	registry_submit(&reg, &q->rr);
	return q;
}

/* A request that is answered at once, with nothing sent to the store. */
static enum registry_status
at_once(struct req q)
{
	uint64_t submitted = fs.submitted;
	size_t events = rec.n;

	submit(&q);
	assert_int_equal(q.done, 1);
	assert_int_equal(fs.submitted, submitted);
	assert_int_equal(rec.n, events);
	assert_int_equal(q.nchanges, 0);
	return q.status;
}

/* A request that commits; returns the index of its first change. */
static uint64_t
commit_ok(struct req *q)
{
	submit(q);
	assert_int_equal(q->done, 0);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(q->done, 1);
	if (q->status != REG_OK)
		fail_msg("status %d", q->status);
	assert_int_equal(q->index, reg.index);
	return q->first;
}

static struct token *
make_token(const char *name, unsigned size)
{
	struct req q = { .op = OP_CREATE, .token = name, .size = size };

	commit_ok(&q);
	assert_non_null(registry_find_token(&reg, name));
	return registry_find_token(&reg, name);
}

static const struct member *
put(const char *token, const char *id, const char *value, enum put_mode mode)
{
	struct req q = { .op = OP_PUT, .token = token, .name = id,
			 .value = value, .mode = mode };
	const struct member *m;

	commit_ok(&q);
	m = token_find_member(registry_find_token(&reg, token), id);
	assert_non_null(m);
	assert_string_equal(m->value, value);
	return m;
}

static void
del_member(const char *token, const char *id)
{
	struct req q = { .op = OP_DEL_MEMBER, .token = token, .name = id };

	commit_ok(&q);
}

static void
del_token(const char *name)
{
	struct req q = { .op = OP_DELETE, .token = name };

	commit_ok(&q);
	assert_null(registry_find_token(&reg, name));
}

static void
set_alias(const char *name, const char *token)
{
	struct req q = { .op = OP_ALIAS_SET, .token = token, .name = name,
			 .force = 1 };

	commit_ok(&q);
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
	assert_true(registry_valid_name("a--b"));
	assert_false(registry_valid_name(""));
	assert_false(registry_valid_name("-a"));
	assert_false(registry_valid_name("a-"));
	assert_false(registry_valid_name("Abc"));
	assert_false(registry_valid_name("a_b"));
	assert_false(registry_valid_name("a.b"));
	assert_false(registry_valid_name("a/b"));
	assert_false(registry_valid_name(".."));
	assert_false(registry_valid_name("a b"));
	memset(name, 'a', REGISTRY_NAME_MAX);
	name[REGISTRY_NAME_MAX] = '\0';
	assert_true(registry_valid_name(name));
	strcat(name, "a");
	assert_false(registry_valid_name(name));
}

static void
test_token_create(void **state)
{
	struct req q = { .op = OP_CREATE, .token = "abc", .size = 3 };
	struct token *tok;

	(void)state;
	submit(&q);
	assert_int_equal(q.plans, 1);
	assert_int_equal(q.done, 0);
	assert_int_equal(fs.queued, 1);
	/* Not durable yet: nowhere to be seen. */
	assert_null(registry_find_token(&reg, "abc"));
	assert_int_equal(reg.ntokens, 0);
	assert_int_equal(reg.index, 0);
	assert_int_equal(rec.n, 0);

	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(q.done, 1);
	assert_int_equal(q.status, REG_OK);
	assert_int_equal(q.nchanges, 1);
	assert_int_equal(q.first, 1);
	assert_int_equal(q.index, 1);
	tok = registry_find_token(&reg, "abc");
	assert_non_null(tok);
	assert_string_equal(tok->name, "abc");
	assert_int_equal(tok->size, 3);
	assert_int_equal(tok->created_at, 1234);
	assert_int_equal(tok->created_index, 1);
	assert_int_equal(tok->modified_index, 1);
	assert_int_equal(tok->nmembers, 0);
	assert_int_equal(reg.index, 1);
	assert_int_equal(reg.ntokens, 1);
	assert_null(registry_find_token(&reg, "abd"));
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.ev[0].type, EV_TOKEN_CREATED);
	assert_int_equal(rec.ev[0].index, 1);
	assert_string_equal(rec.ev[0].token, "abc");
	assert_int_equal(rec.ev[0].token_size, 3);
	assert_int_equal(rec.ev[1].type, EV_BATCH_END);
	assert_int_equal(rec.ev[1].index, 1);
	/* Nothing is left pending. */
	assert_int_equal(reg.pending.count, 0);
	assert_int_equal(commit_all(STORE_OK), 0);
}

static void
test_token_create_rejects(void **state)
{
	struct req a = { .op = OP_CREATE, .token = "dup", .size = 3 };
	struct req b = a;
	char longname[REGISTRY_NAME_MAX + 2];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	make_token("abc", 3);
	rec.n = 0;
#define CREATE(n, s) \
	((struct req){ .op = OP_CREATE, .token = (n), .size = (s) })
	assert_int_equal(at_once(CREATE("Bad", 3)), REG_INVALID);
	assert_int_equal(at_once(CREATE("", 3)), REG_INVALID);
	assert_int_equal(at_once(CREATE("a/b", 3)), REG_INVALID);
	assert_int_equal(at_once(CREATE("-a", 3)), REG_INVALID);
	assert_int_equal(at_once(CREATE(longname, 3)), REG_INVALID);
	assert_int_equal(at_once(CREATE("zero", 0)), REG_INVALID);
	assert_int_equal(at_once(CREATE("abc", 5)), REG_EXISTS);
#undef CREATE
	assert_int_equal(reg.index, 1);
	assert_int_equal(reg.ntokens, 1);
	assert_int_equal(registry_find_token(&reg, "abc")->size, 3);
	assert_null(registry_find_token(&reg, "zero"));

	/* Two creates of one name: the second waits for the first, then
	 * finds it made. */
	submit(&a);
	submit(&b);
	assert_int_equal(fs.queued, 1);
	assert_int_equal(b.done, 0);
	assert_int_equal(b.busy, 1);
	assert_int_equal(reg.nwaiting, 1);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(a.status, REG_OK);
	assert_int_equal(b.done, 1);
	assert_int_equal(b.status, REG_EXISTS);
	assert_int_equal(b.plans, 2);
	assert_int_equal(reg.nwaiting, 0);
	assert_int_equal(fs.queued, 0);
}

static void
test_token_size(void **state)
{
	struct req q = { .op = OP_SIZE, .token = "t", .size = 5 };
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	rec.n = 0;
	submit(&q);
	assert_int_equal(tok->size, 3); /* not before the commit */
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(q.status, REG_OK);
	assert_ptr_equal(registry_find_token(&reg, "t"), tok);
	assert_int_equal(tok->size, 5);
	assert_int_equal(tok->created_index, 1);
	assert_int_equal(tok->modified_index, 2);
	assert_int_equal(tok->created_at, 1234);
	assert_int_equal(reg.ntokens, 1);
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.ev[0].type, EV_TOKEN_UPDATED);
	assert_int_equal(rec.ev[0].index, 2);
	assert_int_equal(rec.ev[0].token_size, 5);
	q.size = 0;
	assert_int_equal(at_once(q), REG_INVALID);
	q.size = 4;
	q.token = "nope";
	assert_int_equal(at_once(q), REG_NOT_FOUND);
}

/* ---- nothing before the commit ---- */

static void
test_nothing_visible_before_commit(void **state)
{
	struct req m1 = { .op = OP_PUT, .token = "t", .name = "m1",
			  .value = PEER, .mode = PUT_CREATE };
	struct req u = { .op = OP_CREATE, .token = "u", .size = 1 };
	struct req x = { .op = OP_ALIAS_SET, .token = "t", .name = "x" };
	struct watch_match wm;
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	rec.n = 0;
	submit(&m1);
	submit(&u);
	submit(&x);
	assert_int_equal(fs.queued, 3);
	assert_null(token_find_member(tok, "m1"));
	assert_int_equal(tok->nmembers, 0);
	assert_int_equal(reg.nmembers, 0);
	assert_null(registry_find_token(&reg, "u"));
	assert_null(registry_find_alias(&reg, "x"));
	assert_int_equal(reg.index, 1);
	assert_int_equal(registry_watch_history(tok, NULL, 2, &wm),
			 WATCH_WAIT);
	assert_int_equal(rec.n, 0);
	assert_int_equal(m1.done + u.done + x.done, 0);

	/* One commit, in the order proposed, then the batch's end. */
	assert_int_equal(commit_all(STORE_OK), 3);
	assert_int_equal(m1.status, REG_OK);
	assert_int_equal(u.status, REG_OK);
	assert_int_equal(x.status, REG_OK);
	assert_int_equal(m1.first, 2);
	assert_int_equal(u.first, 3);
	assert_int_equal(x.first, 4);
	/* Each learns the index after the whole commit. */
	assert_int_equal(m1.index, 4);
	assert_int_equal(x.index, 4);
	assert_non_null(token_find_member(tok, "m1"));
	assert_non_null(registry_find_token(&reg, "u"));
	assert_string_equal(registry_find_alias(&reg, "x")->token, "t");
	assert_int_equal(rec.n, 4);
	assert_int_equal(rec.ev[0].type, EV_MEMBER_SET);
	assert_int_equal(rec.ev[0].index, 2);
	assert_string_equal(rec.ev[0].member, "m1");
	assert_int_equal(rec.ev[0].token_members, 1);
	assert_int_equal(rec.ev[1].type, EV_TOKEN_CREATED);
	assert_int_equal(rec.ev[1].index, 3);
	assert_string_equal(rec.ev[1].token, "u");
	assert_int_equal(rec.ev[2].type, EV_ALIAS_SET);
	assert_int_equal(rec.ev[2].index, 4);
	assert_string_equal(rec.ev[2].alias, "x");
	assert_string_equal(rec.ev[2].token, "t");
	assert_int_equal(rec.ev[3].type, EV_BATCH_END);
	assert_int_equal(rec.ev[3].index, 4);
	assert_int_equal(registry_watch_history(tok, NULL, 2, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 2);
}

static void
test_events_in_commit_order(void **state)
{
	struct req am1 = { .op = OP_PUT, .token = "a", .name = "m1",
			   .value = PEER, .mode = PUT_CREATE };
	struct req bm1 = { .op = OP_PUT, .token = "b", .name = "m1",
			   .value = PEER2, .mode = PUT_CREATE };
	struct req asz = { .op = OP_SIZE, .token = "a", .size = 5 };
	struct req mkc = { .op = OP_CREATE, .token = "c", .size = 1 };
	struct req delm = { .op = OP_DEL_MEMBER, .token = "b", .name = "m1" };
	struct req dela = { .op = OP_DELETE, .token = "a" };

	(void)state;
	make_token("a", 3); /* 1 */
	make_token("b", 3); /* 2 */
	rec.n = 0;
	submit(&am1);
	submit(&bm1);
	submit(&asz);
	submit(&mkc);
	/* These touch keys of the batch above: they wait for it. */
	submit(&delm);
	submit(&dela);
	assert_int_equal(fs.queued, 4);
	assert_int_equal(reg.nwaiting, 2);
	assert_int_equal(delm.busy, 1);
	assert_int_equal(dela.busy, 1);
	assert_int_equal(commit_all(STORE_OK), 4);
	assert_int_equal(am1.first, 3);
	assert_int_equal(bm1.first, 4);
	assert_int_equal(asz.first, 5);
	assert_int_equal(mkc.first, 6);
	assert_int_equal(rec.n, 5);
	assert_int_equal(rec.ev[0].type, EV_MEMBER_SET);
	assert_string_equal(rec.ev[0].token, "a");
	assert_int_equal(rec.ev[0].index, 3);
	assert_int_equal(rec.ev[0].created_index, 3);
	assert_int_equal(rec.ev[0].modified_index, 3);
	assert_int_equal(rec.ev[1].type, EV_MEMBER_SET);
	assert_string_equal(rec.ev[1].token, "b");
	assert_string_equal(rec.ev[1].value, PEER2);
	assert_int_equal(rec.ev[1].index, 4);
	assert_int_equal(rec.ev[2].type, EV_TOKEN_UPDATED);
	assert_int_equal(rec.ev[2].index, 5);
	assert_int_equal(rec.ev[3].type, EV_TOKEN_CREATED);
	assert_string_equal(rec.ev[3].token, "c");
	assert_int_equal(rec.ev[3].index, 6);
	assert_int_equal(rec.ev[4].type, EV_BATCH_END);
	assert_int_equal(rec.ev[4].index, 6);

	/* The waiting ones were planned again as their keys settled: delm
	 * once bm1 was, dela once asz was. */
	assert_int_equal(reg.nwaiting, 0);
	assert_int_equal(fs.queued, 2);
	assert_int_equal(delm.done + dela.done, 0);
	rec.n = 0;
	assert_int_equal(commit_all(STORE_OK), 2);
	assert_int_equal(delm.status, REG_OK);
	assert_int_equal(dela.status, REG_OK);
	assert_int_equal(delm.first, 7);
	assert_int_equal(dela.first, 8);
	assert_int_equal(rec.n, 3);
	/* A deletion reports the member as it was. */
	assert_int_equal(rec.ev[0].type, EV_MEMBER_DELETED);
	assert_int_equal(rec.ev[0].index, 7);
	assert_string_equal(rec.ev[0].token, "b");
	assert_string_equal(rec.ev[0].member, "m1");
	assert_string_equal(rec.ev[0].value, PEER2);
	assert_int_equal(rec.ev[0].modified_index, 4);
	assert_int_equal(rec.ev[0].token_members, 0);
	/* Listeners see the token whole one last time. */
	assert_int_equal(rec.ev[1].type, EV_TOKEN_DELETED);
	assert_int_equal(rec.ev[1].index, 8);
	assert_string_equal(rec.ev[1].token, "a");
	assert_int_equal(rec.ev[1].token_members, 1);
	assert_int_equal(rec.ev[1].token_size, 5);
	assert_int_equal(rec.ev[2].type, EV_BATCH_END);
	assert_int_equal(rec.ev[2].index, 8);
	assert_int_equal(reg.index, 8);
}

static void
test_subscribe_many(void **state)
{
	size_t i;

	(void)state;
	/* setup subscribed one already */
	for (i = 1; i < REGISTRY_MAX_LISTENERS; i++)
		assert_int_equal(registry_subscribe(&reg, record, NULL), 0);
	assert_int_equal(registry_subscribe(&reg, record, NULL), -1);
	make_token("t", 3);
	/* every listener: a creation and a batch end */
	assert_int_equal(rec.n, 2 * REGISTRY_MAX_LISTENERS);
	assert_int_equal(count_events(EV_TOKEN_CREATED),
			 REGISTRY_MAX_LISTENERS);
}

/* ---- put modes ---- */

static void
test_put_create_existing(void **state)
{
	struct req q = { .op = OP_PUT, .token = "t", .name = "m1",
			 .value = PEER2, .mode = PUT_CREATE };
	const struct member *m;

	(void)state;
	make_token("t", 3);
	put("t", "m1", PEER, PUT_CREATE);
	rec.n = 0;
	/* etcd answers 105 "Key already exists" for prevExist=false. */
	assert_int_equal(at_once(q), REG_EXISTS);
	assert_int_equal(reg.index, 2);
	m = token_find_member(registry_find_token(&reg, "t"), "m1");
	assert_string_equal(m->value, PEER);
	assert_int_equal(m->action, ACTION_CREATE);
	assert_int_equal(m->modified_index, 2);
}

static void
test_put_update_missing(void **state)
{
	struct req q = { .op = OP_PUT, .token = "t", .name = "m1",
			 .value = PEER, .mode = PUT_UPDATE };
	const struct member *m;
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	assert_int_equal(at_once(q), REG_NOT_FOUND);
	assert_int_equal(reg.index, 1);
	assert_int_equal(tok->nmembers, 0);
	assert_null(token_find_member(tok, "m1"));
	/* Once it exists, an update works and says so. */
	put("t", "m1", PEER, PUT_CREATE);
	m = put("t", "m1", "m=http://10.0.0.3:2380", PUT_UPDATE);
	assert_int_equal(m->action, ACTION_UPDATE);
	assert_int_equal(m->created_index, 2);
	assert_int_equal(m->modified_index, 3);
}

static void
test_put_set_overwrites(void **state)
{
	const struct member *m;
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	m = put("t", "m1", PEER, PUT_SET);
	assert_int_equal(m->action, ACTION_SET);
	assert_int_equal(m->created_index, 2);
	put("t", "m2", PEER, PUT_SET);
	m = put("t", "m1", "m=http://10.0.0.7:2380", PUT_SET);
	assert_int_equal(m->created_index, 2);
	assert_int_equal(m->modified_index, 4);
	assert_int_equal(m->action, ACTION_SET);
	assert_int_equal(tok->nmembers, 2);
	assert_int_equal(reg.nmembers, 2);
	/* The order stays by creation, not by the last write. */
	assert_string_equal(tok->members[0]->id, "m1");
	assert_string_equal(tok->members[1]->id, "m2");
}

static void
test_put_invalid(void **state)
{
	struct req q = { .op = OP_PUT, .token = "t", .value = PEER,
			 .mode = PUT_SET };
	char longname[REGISTRY_NAME_MAX + 2];
	struct token *tok;

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	tok = make_token("t", 3);
	q.name = "M1";
	assert_int_equal(at_once(q), REG_INVALID);
	q.name = "";
	assert_int_equal(at_once(q), REG_INVALID);
	q.name = "a_b";
	assert_int_equal(at_once(q), REG_INVALID);
	q.name = "-x";
	assert_int_equal(at_once(q), REG_INVALID);
	q.name = longname;
	assert_int_equal(at_once(q), REG_INVALID);
	q.name = "m1";
	q.token = "nope";
	assert_int_equal(at_once(q), REG_NOT_FOUND);
	q.op = OP_DEL_MEMBER;
	q.token = "t";
	assert_int_equal(at_once(q), REG_NOT_FOUND);
	q.token = "nope";
	assert_int_equal(at_once(q), REG_NOT_FOUND);
	assert_int_equal(reg.index, 1);
	assert_int_equal(tok->nmembers, 0);
}

/* A token past 8 members gets a table by id, made of all its members:
 * each is found before and after, deletions leave it, and one re-added
 * is found again. */
static void
test_members_found_past_the_table(void **state)
{
	static const int deleted[] = { 0, 3, 8, 9, 19 };
	struct token *tok;
	char id[16];
	int i, k;

	(void)state;
	tok = make_token("big", 20);
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		put("big", id, id, PUT_CREATE);
	}
	assert_int_equal(tok->nmembers, 20);
	assert_true(tok->by_id.nbuckets > 0);
	for (k = 0; k < 5; k++) {
		snprintf(id, sizeof(id), "m%d", deleted[k]);
		del_member("big", id);
	}
	for (i = 0; i < 20; i++) {
		int gone = 0;

		for (k = 0; k < 5; k++)
			gone |= deleted[k] == i;
		snprintf(id, sizeof(id), "m%d", i);
		if (gone)
			assert_null(token_find_member(tok, id));
		else
			assert_string_equal(token_find_member(tok, id)->id,
					    id);
	}
	put("big", "m3", "again", PUT_CREATE);
	assert_int_equal(tok->nmembers, 16);
	/* A small token is searched along its members, without a table. */
	tok = make_token("small", 3);
	put("small", "a", "a", PUT_CREATE);
	put("small", "b", "b", PUT_CREATE);
	del_member("small", "a");
	assert_null(token_find_member(tok, "a"));
	assert_int_equal(tok->by_id.nbuckets, 0);
}

/* max_members counts the creations still on their way to disk. */
static void
test_max_members_counts_pending(void **state)
{
	struct req c1 = { .op = OP_PUT, .token = "t", .name = "m1",
			  .value = PEER, .mode = PUT_CREATE };
	struct req c2 = c1, c3 = c1, d1 = { .op = OP_DEL_MEMBER };
	struct token *tok;

	(void)state;
	reg.max_members = 2;
	tok = make_token("t", 5);
	c2.name = "m2";
	c3.name = "m3";
	submit(&c1);
	submit(&c2);
	assert_int_equal(tok->nmembers, 0);
	assert_int_equal(at_once(c3), REG_FULL);
	c3.mode = PUT_SET;
	assert_int_equal(at_once(c3), REG_FULL);
	assert_int_equal(commit_all(STORE_OK), 2);
	assert_int_equal(c1.status, REG_OK);
	assert_int_equal(c2.status, REG_OK);
	assert_int_equal(at_once(c3), REG_FULL);
	assert_int_equal(tok->nmembers, 2);
	/* Rewriting a member adds nothing, so a full token allows it. */
	put("t", "m2", PEER2, PUT_SET);
	/* A deletion frees a place once it is durable, not before. */
	d1.token = "t";
	d1.name = "m1";
	submit(&d1);
	assert_int_equal(at_once(c3), REG_FULL);
	assert_int_equal(commit_all(STORE_OK), 1);
	put("t", "m3", PEER, PUT_CREATE);
	assert_int_equal(tok->nmembers, 2);

	/* Creations that failed no longer count. */
	make_token("u", 5);
	c1.token = c2.token = c3.token = "u";
	submit(&c1);
	submit(&c2);
	assert_int_equal(at_once(c3), REG_FULL);
	assert_int_equal(commit_all(STORE_FULL), 2);
	assert_int_equal(c1.status, REG_NO_SPACE);
	assert_int_equal(c2.status, REG_NO_SPACE);
	assert_int_equal(reg.pending.count, 0);
	put("u", "m3", PEER, PUT_CREATE);
	put("u", "m1", PEER, PUT_CREATE);
	assert_int_equal(registry_find_token(&reg, "u")->nmembers, 2);
}

static void
test_cluster_size_and_full(void **state)
{
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	assert_int_equal(token_cluster_size(tok), 0);
	assert_false(token_is_full(tok));
	put("t", "m1", PEER, PUT_CREATE);
	put("t", "m2", PEER, PUT_CREATE);
	assert_int_equal(token_cluster_size(tok), 2);
	assert_false(token_is_full(tok));
	put("t", "m3", PEER, PUT_CREATE);
	assert_int_equal(token_cluster_size(tok), 3);
	assert_true(token_is_full(tok));
	/* Members past size are proxies; the cluster stays at size. */
	put("t", "m4", PEER, PUT_CREATE);
	assert_int_equal(tok->nmembers, 4);
	assert_int_equal(token_cluster_size(tok), 3);
	assert_true(token_is_full(tok));
}

/* ---- conflicts (the etcd store: another writer came first) ---- */

static void
test_conflict_plans_again(void **state)
{
	struct req q = { .op = OP_PUT, .token = "t", .name = "m1",
			 .value = PEER, .mode = PUT_CREATE };
	struct token *tok;
	unsigned i;

	(void)state;
	tok = make_token("t", 3);
	submit(&q);
	/* Each conflict plans the request again, answering nothing... */
	for (i = 0; i < REGISTRY_MAX_CONFLICTS; i++) {
		assert_int_equal(commit_all(STORE_CONFLICT), 1);
		assert_int_equal(q.done, 0);
		assert_int_equal(fs.queued, 1);
	}
	/* ...and then it commits, once. */
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(q.done, 1);
	assert_int_equal(q.status, REG_OK);
	assert_non_null(token_find_member(tok, "m1"));
	assert_int_equal(reg.pending.count, 0);
}

static void
test_conflict_never_loops(void **state)
{
	struct req q = { .op = OP_PUT, .token = "t", .name = "m1",
			 .value = PEER, .mode = PUT_CREATE };
	unsigned i;

	(void)state;
	make_token("t", 3);
	submit(&q);
	for (i = 0; i < REGISTRY_MAX_CONFLICTS; i++)
		assert_int_equal(commit_all(STORE_CONFLICT), 1);
	assert_int_equal(q.done, 0);
	assert_int_equal(commit_all(STORE_CONFLICT), 1);
	assert_int_equal(q.done, 1);
	assert_int_equal(q.status, REG_UNAVAILABLE);
	assert_int_equal(fs.queued, 0);
	assert_int_equal(reg.pending.count, 0);
}

/* ---- failed commits ---- */

static void
test_failed_commit_leaves_no_trace(void **state)
{
	struct req q = { .op = OP_PUT, .token = "t", .name = "m1",
			 .value = PEER, .mode = PUT_CREATE };
	struct req d = { .op = OP_DEL_MEMBER, .token = "t", .name = "m1" };
	struct watch_match wm;
	struct token *tok;
	size_t i;

	(void)state;
	tok = make_token("t", 3);
	rec.n = 0;
	submit(&q);
	assert_int_equal(commit_all(STORE_FULL), 1);
	assert_int_equal(q.done, 1);
	assert_int_equal(q.status, REG_NO_SPACE);
	assert_string_equal(q.error, "the map is full");
	assert_int_equal(q.nchanges, 0);
	assert_null(token_find_member(tok, "m1"));
	assert_int_equal(tok->nmembers, 0);
	assert_int_equal(reg.nmembers, 0);
	assert_int_equal(reg.index, 1);
	assert_int_equal(reg.pending.count, 0);
	assert_int_equal(reg.nwaiting, 0);
	assert_int_equal(registry_watch_history(tok, NULL, 2, &wm),
			 WATCH_WAIT);
	/* No listener hears of it; at most an empty batch end. */
	for (i = 0; i < rec.n; i++) {
		assert_int_equal(rec.ev[i].type, EV_BATCH_END);
		assert_int_equal(rec.ev[i].index, 1);
	}

	/* A retry is planned afresh: the store is still full (507 again,
	 * never 412 "exists"), then it has room. */
	submit(&q);
	assert_int_equal(q.done, 0);
	assert_int_equal(fs.queued, 1);
	assert_int_equal(commit_all(STORE_FULL), 1);
	assert_int_equal(q.status, REG_NO_SPACE);
	assert_null(token_find_member(tok, "m1"));
	submit(&q);
	assert_int_equal(q.done, 0);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(q.status, REG_OK);
	/* Failed commits took no index. */
	assert_int_equal(q.first, 2);
	assert_int_equal(token_find_member(tok, "m1")->created_index, 2);

	/* Other failures map to their own statuses; the member stays. */
	submit(&d);
	assert_int_equal(commit_all(STORE_UNAVAILABLE), 1);
	assert_int_equal(d.status, REG_UNAVAILABLE);
	assert_string_equal(d.error, "cannot write now");
	submit(&d);
	assert_int_equal(commit_all(STORE_FAILED), 1);
	assert_int_equal(d.status, REG_STORE_FAILED);
	assert_non_null(token_find_member(tok, "m1"));
	assert_int_equal(tok->nmembers, 1);
	assert_int_equal(tok->ntombs, 0);
	assert_int_equal(reg.index, 2);
	assert_int_equal(count_events(EV_MEMBER_DELETED), 0);
}

static void
test_failed_token_delete_keeps_all(void **state)
{
	struct req d = { .op = OP_DELETE, .token = "t" };
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	put("t", "m1", PEER, PUT_CREATE);
	set_alias("x", "t");
	rec.n = 0;
	submit(&d);
	assert_int_equal(commit_all(STORE_FULL), 1);
	assert_int_equal(d.status, REG_NO_SPACE);
	assert_ptr_equal(registry_find_token(&reg, "t"), tok);
	assert_non_null(token_find_member(tok, "m1"));
	assert_string_equal(registry_find_alias(&reg, "x")->token, "t");
	assert_int_equal(count_events(EV_ALIAS_DELETED), 0);
	assert_int_equal(count_events(EV_TOKEN_DELETED), 0);
	assert_int_equal(reg.pending.count, 0);
	submit(&d);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(d.status, REG_OK);
	assert_null(registry_find_token(&reg, "t"));
}

/* ---- requests that wait for a key ---- */

static void
test_concurrent_create_waits_then_exists(void **state)
{
	struct req a = { .op = OP_PUT, .token = "t", .name = "m1",
			 .value = PEER, .mode = PUT_CREATE };
	struct req b = a;

	(void)state;
	make_token("t", 3);
	b.value = PEER2;
	submit(&a);
	submit(&b);
	assert_int_equal(fs.queued, 1);
	assert_int_equal(b.done, 0);
	assert_int_equal(b.busy, 1);
	assert_int_equal(reg.nwaiting, 1);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(a.status, REG_OK);
	/* Planned again after a's commit: it exists now. */
	assert_int_equal(b.done, 1);
	assert_int_equal(b.plans, 2);
	assert_int_equal(b.status, REG_EXISTS);
	assert_int_equal(reg.nwaiting, 0);
	assert_int_equal(fs.queued, 0);
	assert_string_equal(
		token_find_member(registry_find_token(&reg, "t"), "m1")->value,
		PEER);
}

static void
test_concurrent_create_first_fails(void **state)
{
	struct req a = { .op = OP_PUT, .token = "t", .name = "m1",
			 .value = PEER, .mode = PUT_CREATE };
	struct req b = a;
	const struct member *m;

	(void)state;
	make_token("t", 3);
	b.value = PEER2;
	submit(&a);
	submit(&b);
	assert_int_equal(reg.nwaiting, 1);
	assert_int_equal(commit_all(STORE_FULL), 1);
	assert_int_equal(a.status, REG_NO_SPACE);
	/* a left nothing: b is planned again and goes to the store. */
	assert_int_equal(b.done, 0);
	assert_int_equal(reg.nwaiting, 0);
	assert_int_equal(fs.queued, 1);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(b.status, REG_OK);
	m = token_find_member(registry_find_token(&reg, "t"), "m1");
	assert_string_equal(m->value, PEER2);
	assert_int_equal(m->created_index, 2);
	assert_int_equal(m->action, ACTION_CREATE);
}

static void
test_waiting_in_arrival_order(void **state)
{
	struct req a = { .op = OP_PUT, .token = "t", .name = "m1",
			 .value = "v1", .mode = PUT_SET };
	struct req b = a, c = a;
	const struct member *m;

	(void)state;
	make_token("t", 3);
	b.value = "v2";
	c.value = "v3";
	submit(&a);
	submit(&b);
	submit(&c);
	assert_int_equal(reg.nwaiting, 2);
	assert_int_equal(commit_all(STORE_OK), 1);
	/* b went on; c waits again, behind b. */
	assert_int_equal(a.status, REG_OK);
	assert_int_equal(b.done, 0);
	assert_int_equal(c.done, 0);
	assert_int_equal(reg.nwaiting, 1);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(b.status, REG_OK);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(c.status, REG_OK);
	assert_int_equal(a.first, 2);
	assert_int_equal(b.first, 3);
	assert_int_equal(c.first, 4);
	assert_int_equal(c.busy, 2);
	m = token_find_member(registry_find_token(&reg, "t"), "m1");
	assert_string_equal(m->value, "v3");
	assert_int_equal(m->created_index, 2);
	assert_int_equal(m->modified_index, 4);
}

static void
test_token_delete_waits(void **state)
{
	struct req put1 = { .op = OP_PUT, .token = "t", .name = "m1",
			    .value = PEER, .mode = PUT_CREATE };
	struct req al = { .op = OP_ALIAS_SET, .token = "t", .name = "x" };
	struct req d = { .op = OP_DELETE, .token = "t" };
	struct req late = put1;

	(void)state;
	make_token("t", 3);
	submit(&put1);
	submit(&al);
	submit(&d);
	assert_int_equal(d.busy, 1);
	late.name = "m2";
	submit(&late);
	assert_int_equal(late.busy, 1); /* behind the alias on t */
	assert_int_equal(commit_all(STORE_OK), 2);
	assert_int_equal(put1.status, REG_OK);
	assert_int_equal(al.status, REG_OK);
	/* The deletion went on, with the new member and alias; what came
	 * after it waits for it. */
	assert_int_equal(d.done, 0);
	assert_int_equal(late.done, 0);
	assert_int_equal(fs.queued, 1);
	assert_int_equal(reg.nwaiting, 1);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(d.status, REG_OK);
	assert_int_equal(d.nchanges, 2); /* the alias and the token */
	assert_int_equal(late.done, 1);
	assert_int_equal(late.status, REG_NOT_FOUND);
	assert_null(registry_find_token(&reg, "t"));
	assert_null(registry_find_alias(&reg, "x"));
	assert_int_equal(reg.nmembers, 0);
	assert_int_equal(reg.nwaiting, 0);
	assert_int_equal(reg.pending.count, 0);
}

/* ---- ordering ---- */

static void
test_members_ordered_by_created_index(void **state)
{
	struct token *tok;

	(void)state;
	tok = make_token("t", 5);
	/* Not alphabetical: etcd orders the cluster by creation. */
	put("t", "c", PEER, PUT_CREATE);
	put("t", "a", PEER, PUT_CREATE);
	put("t", "b", PEER, PUT_CREATE);
	put("t", "a", PEER2, PUT_SET);
	assert_int_equal(tok->nmembers, 3);
	assert_string_equal(tok->members[0]->id, "c");
	assert_string_equal(tok->members[1]->id, "a");
	assert_string_equal(tok->members[2]->id, "b");
	assert_true(tok->members[0]->created_index <
		    tok->members[1]->created_index);
	assert_true(tok->members[1]->created_index <
		    tok->members[2]->created_index);
	del_member("t", "c");
	assert_int_equal(tok->nmembers, 2);
	assert_string_equal(tok->members[0]->id, "a");
	assert_string_equal(tok->members[1]->id, "b");
}

static void
apply_member(const struct store_sink *s, const char *token, const char *id,
	     char *value, uint64_t created, uint64_t modified)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_MEMBER_PUT;
	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", id);
	c.value = value;
	c.created_index = created;
	c.index = modified;
	c.action = ACTION_SET;
	s->apply(s->arg, &c);
}

/* The LMDB loader reports members by key (token, then id), not by
 * creation; a store reporting changes made elsewhere uses the same path. */
static void
test_members_ordered_when_loaded(void **state)
{
	struct store_sink s = registry_sink(&reg);
	struct change c;
	struct token *tok;
	char value[32];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_TOKEN_PUT;
	strcpy(c.token, "t");
	c.size = 3;
	c.created_index = 10;
	c.index = 13;
	c.created_at = 555;
	s.apply(s.arg, &c);
	strcpy(value, "c=http://10.0.0.3:2380");
	apply_member(&s, "t", "c", value, 15, 20);
	apply_member(&s, "t", "a", value, 12, 30);
	apply_member(&s, "t", "b", value, 14, 14);
	apply_member(&s, "t", "d", value, 11, 11);
	/* The batch ends at the stored index, which may be past them all. */
	s.batch_end(s.arg, 40);
	tok = registry_find_token(&reg, "t");
	assert_non_null(tok);
	assert_int_equal(tok->created_index, 10);
	assert_int_equal(tok->modified_index, 13);
	assert_int_equal(tok->created_at, 555);
	assert_int_equal(tok->nmembers, 4);
	assert_int_equal(reg.nmembers, 4);
	assert_string_equal(tok->members[0]->id, "d");
	assert_string_equal(tok->members[1]->id, "a");
	assert_string_equal(tok->members[2]->id, "b");
	assert_string_equal(tok->members[3]->id, "c");
	assert_int_equal(tok->members[1]->modified_index, 30);
	assert_int_equal(tok->members[1]->created_index, 12);
	assert_int_equal(reg.index, 40);
	/* The registry keeps its own copy of each value. */
	value[0] = 'X';
	assert_string_equal(tok->members[3]->value, "c=http://10.0.0.3:2380");
	assert_int_equal(count_events(EV_MEMBER_SET), 4);
	assert_int_equal(rec.ev[rec.n - 1].type, EV_BATCH_END);
	assert_int_equal(rec.ev[rec.n - 1].index, 40);
	/* A batch end never takes the index back. */
	s.batch_end(s.arg, 25);
	assert_int_equal(reg.index, 40);
	/* Later commits continue from the store's index and append. */
	fs.index = 40;
	put("t", "e", PEER, PUT_CREATE);
	assert_int_equal(tok->members[4]->created_index, 41);
	assert_string_equal(tok->members[4]->id, "e");
	/* And a member put between the loaded ones lands in its place. */
	apply_member(&s, "t", "f", value, 13, 42);
	assert_string_equal(tok->members[2]->id, "f");
	assert_string_equal(tok->members[3]->id, "b");
}

/* ---- deleting tokens ---- */

static void
test_token_delete_drops_aliases_and_members(void **state)
{
	struct req d = { .op = OP_DELETE, .token = "t" };
	struct token *u;
	size_t i, aliases = 0;

	(void)state;
	make_token("t", 3);
	put("t", "m1", PEER, PUT_CREATE);
	put("t", "m2", PEER, PUT_CREATE);
	del_member("t", "m2"); /* a tombstone to free with the token */
	set_alias("x", "t");
	set_alias("y", "t");
	u = make_token("u", 3);
	put("u", "m1", PEER, PUT_CREATE);
	set_alias("z", "u");
	assert_int_equal(reg.nmembers, 2);
	rec.n = 0;
	submit(&d);
	/* Until the commit, all of it stays. */
	assert_non_null(registry_find_token(&reg, "t"));
	assert_non_null(registry_find_alias(&reg, "x"));
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(d.status, REG_OK);
	assert_int_equal(d.nchanges, 3); /* two aliases and the token */
	assert_int_equal(rec.n, 4);
	for (i = 0; i < 2; i++) {
		assert_int_equal(rec.ev[i].type, EV_ALIAS_DELETED);
		assert_string_equal(rec.ev[i].token, "t");
		aliases += strcmp(rec.ev[i].alias, "x") == 0 ? 1 : 2;
	}
	assert_int_equal(aliases, 3); /* x and y */
	assert_int_equal(rec.ev[2].type, EV_TOKEN_DELETED);
	assert_int_equal(rec.ev[2].token_members, 1);
	assert_int_equal(rec.ev[2].index, d.last);
	assert_int_equal(rec.ev[3].type, EV_BATCH_END);
	assert_null(registry_find_token(&reg, "t"));
	assert_null(registry_find_alias(&reg, "x"));
	assert_null(registry_find_alias(&reg, "y"));
	assert_string_equal(registry_find_alias(&reg, "z")->token, "u");
	assert_int_equal(reg.ntokens, 1);
	assert_int_equal(reg.nmembers, 1);
	assert_ptr_equal(registry_find_token(&reg, "u"), u);
	assert_int_equal(at_once(d), REG_NOT_FOUND);
	/* The name is free again, at a new index, with no alias. */
	make_token("t", 3);
	assert_int_equal(registry_find_token(&reg, "t")->created_index,
			 reg.index);
	assert_int_equal(registry_find_token(&reg, "t")->nmembers, 0);

	/* A store that deletes only the token (as etcd would report it):
	 * its aliases still go, each announced. */
	{
		struct store_sink s = registry_sink(&reg);
		struct change c;

		rec.n = 0;
		memset(&c, 0, sizeof(c));
		c.kind = CHANGE_TOKEN_DEL;
		strcpy(c.token, "u");
		c.index = ++fs.index;
		s.apply(s.arg, &c);
		s.batch_end(s.arg, fs.index);
	}
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.ev[0].type, EV_ALIAS_DELETED);
	assert_string_equal(rec.ev[0].alias, "z");
	assert_int_equal(rec.ev[1].type, EV_TOKEN_DELETED);
	assert_null(registry_find_alias(&reg, "z"));
	assert_int_equal(reg.nmembers, 0);
	assert_int_equal(reg.ntokens, 1);
}

/* ---- aliases ---- */

static void
test_alias_set_move_delete(void **state)
{
	struct req q = { .op = OP_ALIAS_SET, .token = "t", .name = "x" };
	struct req del = { .op = OP_ALIAS_DEL, .name = "x" };

	(void)state;
	make_token("t", 3);
	make_token("u", 3);
	rec.n = 0;
	set_alias("x", "t");
	assert_string_equal(registry_find_alias(&reg, "x")->token, "t");
	assert_int_equal(rec.ev[0].type, EV_ALIAS_SET);
	assert_string_equal(rec.ev[0].alias, "x");
	assert_string_equal(rec.ev[0].token, "t");
	assert_int_equal(rec.ev[0].index, 3);
	/* Setting it again changes nothing and sends nothing. */
	assert_int_equal(at_once(q), REG_OK);
	q.name = "t";
	q.token = "u";
	assert_int_equal(at_once(q), REG_INVALID); /* a token's own name */
	q.name = "Bad";
	assert_int_equal(at_once(q), REG_INVALID);
	q.name = "y";
	q.token = "nope";
	assert_int_equal(at_once(q), REG_NOT_FOUND);

	/* Moving it needs force; without, nothing changes. */
	q.name = "x";
	q.token = "u";
	assert_int_equal(at_once(q), REG_CONFLICT);
	assert_string_equal(registry_find_alias(&reg, "x")->token, "t");
	/* Deleting it as u's: refused, it is t's. */
	del.token = "u";
	assert_int_equal(at_once(del), REG_CONFLICT);
	assert_string_equal(registry_find_alias(&reg, "x")->token, "t");
	del.token = NULL;

	/* Moved (forced): gone from t, then set on u, at one index. */
	rec.n = 0;
	set_alias("x", "u");
	assert_string_equal(registry_find_alias(&reg, "x")->token, "u");
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.ev[0].type, EV_ALIAS_DELETED);
	assert_string_equal(rec.ev[0].token, "t");
	assert_int_equal(rec.ev[1].type, EV_ALIAS_SET);
	assert_string_equal(rec.ev[1].token, "u");
	assert_int_equal(rec.ev[0].index, 4);
	assert_int_equal(rec.ev[1].index, 4);
	/* Deleting t now leaves the moved alias alone. */
	del_token("t");
	assert_string_equal(registry_find_alias(&reg, "x")->token, "u");

	rec.n = 0;
	del.token = "u"; /* as u's: it is */
	commit_ok(&del);
	assert_null(registry_find_alias(&reg, "x"));
	assert_int_equal(rec.ev[0].type, EV_ALIAS_DELETED);
	assert_string_equal(rec.ev[0].alias, "x");
	assert_string_equal(rec.ev[0].token, "u");
	assert_int_equal(at_once(del), REG_NOT_FOUND);
}

static void
test_alias_pending(void **state)
{
	struct req set = { .op = OP_ALIAS_SET, .token = "t", .name = "x" };
	struct req move = { .op = OP_ALIAS_SET, .token = "u", .name = "x",
			    .force = 1 };
	struct req del_t = { .op = OP_DELETE, .token = "t" };

	(void)state;
	make_token("t", 3);
	make_token("u", 3);
	submit(&set);
	submit(&move);
	assert_int_equal(move.busy, 1);
	assert_int_equal(commit_all(STORE_OK), 1);
	/* The move is on its way; deleting its old token waits for it. */
	submit(&del_t);
	assert_int_equal(del_t.busy, 1);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(move.status, REG_OK);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(del_t.status, REG_OK);
	assert_int_equal(del_t.nchanges, 1); /* x is u's now */
	assert_string_equal(registry_find_alias(&reg, "x")->token, "u");
}

/* ---- import and sync ---- */

static void
spec_add(struct token_spec *s, const char *id, const char *value,
	 const char *clients)
{
	struct wanted_member *w;

	s->members = realloc(s->members, (s->n + 1) * sizeof(*s->members));
	assert_non_null(s->members);
	w = &s->members[s->n++];
	memset(w, 0, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->value = xstrdup(value);
	w->clients = clients ? xstrdup(clients) : NULL;
}

static void
test_import(void **state)
{
	struct token_spec s;
	struct req q = { .op = OP_IMPORT, .spec = &s };
	struct token *tok;
	uint64_t old_created;
	size_t i;

	(void)state;
	memset(&s, 0, sizeof(s));
	strcpy(s.token, "imp");
	s.size = 3;
	spec_add(&s, "b", "b=http://10.0.0.2:2380", NULL);
	spec_add(&s, "a", "a=http://10.0.0.1:2380", NULL);
	rec.n = 0;
	commit_ok(&q);
	tok = registry_find_token(&reg, "imp");
	assert_non_null(tok);
	assert_int_equal(tok->size, 3);
	assert_int_equal(tok->nmembers, 2);
	/* The spec's order is the order of creation. */
	assert_string_equal(tok->members[0]->id, "b");
	assert_string_equal(tok->members[1]->id, "a");
	assert_int_equal(tok->members[0]->created_index, 2);
	assert_int_equal(tok->members[1]->created_index, 3);
	assert_int_equal(rec.n, 4);
	assert_int_equal(rec.ev[0].type, EV_TOKEN_CREATED);
	assert_int_equal(rec.ev[1].type, EV_MEMBER_SET);
	assert_int_equal(rec.ev[2].type, EV_MEMBER_SET);
	assert_int_equal(rec.ev[3].type, EV_BATCH_END);

	/* The same again: nothing to do. */
	assert_int_equal(at_once(q), REG_OK);

	/* Different, without force: a conflict, and nothing changes. */
	free(s.members[1].value);
	s.members[1].value = xstrdup("a=http://10.0.0.9:2380");
	assert_int_equal(at_once(q), REG_CONFLICT);
	s.size = 5;
	assert_int_equal(at_once(q), REG_CONFLICT);
	assert_int_equal(tok->size, 3);
	assert_string_equal(tok->members[1]->value, "a=http://10.0.0.1:2380");

	/* With force: replaced whole; its aliases name it still. */
	set_alias("x", "imp");
	old_created = tok->created_index;
	s.force = 1;
	rec.n = 0;
	commit_ok(&q);
	tok = registry_find_token(&reg, "imp");
	assert_int_equal(tok->size, 5);
	assert_true(tok->created_index > old_created);
	assert_int_equal(tok->nmembers, 2);
	assert_string_equal(tok->members[1]->value, "a=http://10.0.0.9:2380");
	assert_true(tok->members[0]->created_index > tok->created_index);
	assert_non_null(registry_find_alias(&reg, "x"));
	assert_string_equal(registry_find_alias(&reg, "x")->token, "imp");
	assert_int_equal(reg.ntokens, 1);
	assert_int_equal(reg.nmembers, 2);
	i = 0;
	assert_int_equal(rec.ev[i++].type, EV_ALIAS_DELETED);
	assert_int_equal(rec.ev[i++].type, EV_TOKEN_DELETED);
	assert_int_equal(rec.ev[i++].type, EV_TOKEN_CREATED);
	assert_int_equal(rec.ev[i++].type, EV_MEMBER_SET);
	assert_int_equal(rec.ev[i++].type, EV_MEMBER_SET);
	assert_int_equal(rec.ev[i].type, EV_ALIAS_SET);
	assert_string_equal(rec.ev[i++].alias, "x");
	assert_int_equal(rec.ev[i++].type, EV_BATCH_END);
	assert_int_equal(rec.n, i);
	/* With force and the same contents: still nothing to do. */
	assert_int_equal(at_once(q), REG_OK);

	/* Rejected names and sizes. */
	strcpy(s.token, "Bad");
	assert_int_equal(at_once(q), REG_INVALID);
	strcpy(s.token, "imp");
	s.size = 0;
	assert_int_equal(at_once(q), REG_INVALID);
	token_spec_free(&s);
}

static void
test_import_waits_for_token(void **state)
{
	struct token_spec s;
	struct req q = { .op = OP_IMPORT, .spec = &s };
	struct req p1 = { .op = OP_PUT, .token = "imp", .name = "c",
			  .value = PEER, .mode = PUT_CREATE };

	(void)state;
	memset(&s, 0, sizeof(s));
	strcpy(s.token, "imp");
	s.size = 1;
	spec_add(&s, "a", PEER, NULL);
	make_token("imp", 1);
	submit(&p1);
	submit(&q);
	assert_int_equal(q.busy, 1);
	assert_int_equal(commit_all(STORE_OK), 1);
	/* Planned again against the token with c: it differs now. */
	assert_int_equal(q.done, 1);
	assert_int_equal(q.status, REG_CONFLICT);
	token_spec_free(&s);
}

static void
test_sync(void **state)
{
	struct token_spec s;
	struct req q = { .op = OP_SYNC, .spec = &s };
	struct req ms = { .op = OP_SYNC_MEMBER, .token = "t", .name = "a",
			  .value = "a=http://10.0.0.1:2380" };
	const struct member *a;
	struct token *tok;
	uint64_t a_created;

	(void)state;
	tok = make_token("t", 5);
	put("t", "a", "a=http://10.0.0.1:2380", PUT_CREATE);
	put("t", "b", "b=http://10.0.0.2:2380", PUT_CREATE);
	put("t", "c", "c=http://10.0.0.3:2380", PUT_CREATE);
	a_created = token_find_member(tok, "a")->created_index;
	memset(&s, 0, sizeof(s));
	strcpy(s.token, "t");
	strcpy(s.cluster_id, "cdf818194e3a8c32");
	spec_add(&s, "a", "a=http://10.0.0.1:2380", "http://10.0.0.1:2379");
	spec_add(&s, "b", "b=http://10.0.0.22:2380", NULL);
	spec_add(&s, "d", "d=http://10.0.0.4:2380", NULL);
	/* c was registered, not synced: the first sync needs force. */
	assert_int_equal(at_once(q), REG_CONFLICT);
	assert_non_null(strstr(why_buf, "never synced"));
	assert_non_null(strstr(why_buf, ": c"));
	assert_string_equal(tok->cluster_id, "");
	s.force = 1;
	commit_ok(&q);
	s.force = 0;
	assert_string_equal(tok->cluster_id, "cdf818194e3a8c32");
	/* a gains client URLs, b a new value, d comes, c goes, size 3. */
	assert_int_equal(q.nchanges, 5);
	assert_int_equal(tok->size, 3);
	assert_int_equal(tok->nmembers, 3);
	a = token_find_member(tok, "a");
	assert_string_equal(a->clients, "http://10.0.0.1:2379");
	assert_int_equal(a->created_index, a_created);
	assert_string_equal(token_find_member(tok, "b")->value,
			    "b=http://10.0.0.22:2380");
	assert_null(token_find_member(tok, "b")->clients);
	assert_non_null(token_find_member(tok, "d"));
	assert_null(token_find_member(tok, "c"));
	assert_string_equal(tok->members[0]->id, "a");
	assert_string_equal(tok->members[1]->id, "b");
	assert_string_equal(tok->members[2]->id, "d");
	/* In step already: nothing to do. */
	assert_int_equal(at_once(q), REG_OK);

	/* etcd's PUT keeps the client URLs that sync stored... */
	a = put("t", "a", "a=http://10.0.0.11:2380", PUT_SET);
	assert_string_equal(a->clients, "http://10.0.0.1:2379");
	/* ...and a member sync replaces them. */
	commit_ok(&ms);
	a = token_find_member(tok, "a");
	assert_null(a->clients);
	assert_string_equal(a->value, "a=http://10.0.0.1:2380");

	/* A cluster with no members: all go, the size is 1. */
	token_spec_free(&s);
	commit_ok(&q);
	assert_int_equal(tok->nmembers, 0);
	assert_int_equal(tok->size, 1);
	strcpy(s.token, "nope");
	assert_int_equal(at_once(q), REG_NOT_FOUND);
}

/* The cluster a token follows: recorded at the first sync, kept through
 * size changes, and another cluster refused unless forced. */
static void
test_sync_cluster_id(void **state)
{
	struct token_spec s;
	struct req q = { .op = OP_SYNC, .spec = &s };
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	put("t", "a1", "a=http://10.0.0.1:2380", PUT_CREATE);
	memset(&s, 0, sizeof(s));
	strcpy(s.token, "t");
	spec_add(&s, "a1", "a=http://10.0.0.1:2380", NULL);
	spec_add(&s, "b2", "b=http://10.0.0.2:2380", NULL);
	/* No cluster ID: refused unless forced. */
	assert_int_equal(at_once(q), REG_INVALID);
	assert_non_null(strstr(why_buf, "cluster_id"));
	/* The first sync: every member of the token is the cluster's, and
	 * the registered a1 becomes the cluster's (synced) too. */
	assert_false(token_find_member(tok, "a1")->synced);
	strcpy(s.cluster_id, "aaaa");
	commit_ok(&q);
	assert_string_equal(tok->cluster_id, "aaaa");
	assert_int_equal(tok->nmembers, 2);
	assert_true(token_find_member(tok, "a1")->synced);
	assert_true(token_find_member(tok, "b2")->synced);
	/* A member registered through the v2 API since: refused, named. */
	put("t", "x9", "x=http://10.0.0.9:2380", PUT_CREATE);
	assert_false(token_find_member(tok, "x9")->synced);
	assert_int_equal(at_once(q), REG_CONFLICT);
	assert_non_null(strstr(why_buf, "token t holds registered (not synced) "
				       "members etcd cluster aaaa does not "
				       "list; use --force"));
	assert_non_null(strstr(why_buf, ": x9"));
	del_member("t", "x9");
	/* A synced member the cluster no longer lists goes, unasked. */
	spec_add(&s, "gone", "g=http://10.0.0.7:2380", NULL);
	commit_ok(&q);
	assert_true(token_find_member(tok, "gone")->synced);
	free(s.members[--s.n].value);
	commit_ok(&q);
	assert_null(token_find_member(tok, "gone"));
	/* etcd's PUT over a synced member makes it registered again. */
	put("t", "b2", "b=http://10.0.0.2:2380", PUT_SET);
	assert_false(token_find_member(tok, "b2")->synced);
	/* A size change keeps it. */
	{
		struct req sz = { .op = OP_SIZE, .token = "t", .size = 7 };

		commit_ok(&sz);
		assert_string_equal(tok->cluster_id, "aaaa");
		assert_int_equal(tok->size, 7);
	}
	/* In step again: only the size goes back to the count. */
	commit_ok(&q);
	assert_int_equal(tok->size, 2);
	assert_int_equal(at_once(q), REG_OK);
	/* Another cluster, even with the same member ids: refused, and the
	 * reason names the token and both clusters. */
	strcpy(s.cluster_id, "bbbb");
	assert_int_equal(at_once(q), REG_CONFLICT);
	assert_non_null(strstr(why_buf, "token t follows etcd cluster aaaa"));
	assert_non_null(strstr(why_buf, "from cluster bbbb"));
	assert_non_null(strstr(why_buf, "--force"));
	assert_string_equal(tok->cluster_id, "aaaa");
	/* Forced: it follows bbbb from now on, and one change says so. */
	s.force = 1;
	commit_ok(&q);
	assert_int_equal(q.nchanges, 1);
	assert_string_equal(tok->cluster_id, "bbbb");
	s.force = 0;
	assert_int_equal(at_once(q), REG_OK);
	strcpy(s.cluster_id, "aaaa");
	assert_int_equal(at_once(q), REG_CONFLICT);
	/* A forced sync without a cluster ID keeps the one recorded. */
	s.force = 1;
	s.cluster_id[0] = '\0';
	spec_add(&s, "c3", "c=http://10.0.0.3:2380", NULL);
	commit_ok(&q);
	assert_string_equal(tok->cluster_id, "bbbb");
	assert_int_equal(tok->nmembers, 3);
	token_spec_free(&s);
}

/* A dry run's diff: what a planned sync or import would do, member by
 * member, with nothing submitted. */
static void
test_token_diff(void **state)
{
	struct token_spec s;
	struct token_diff d;
	struct proposal *p;
	errbuf_t why;

	(void)state;
	make_token("t", 5);
	put("t", "a", "a=http://10.0.0.1:2380", PUT_CREATE);
	put("t", "b", "b=http://10.0.0.2:2380", PUT_CREATE);
	put("t", "c", "c=http://10.0.0.3:2380", PUT_CREATE);
	memset(&s, 0, sizeof(s));
	strcpy(s.token, "t");
	strcpy(s.cluster_id, "abc");
	s.force = 1;
	spec_add(&s, "a", "a=http://10.0.0.1:2380", NULL);
	spec_add(&s, "b", "b=http://10.0.0.22:2380", "http://10.0.0.22:2379");
	spec_add(&s, "d", "d=http://10.0.0.4:2380", NULL);
	p = proposal_new();
	assert_int_equal(plan_sync(&reg, p, &s, why), REG_OK);
	token_diff_of(&reg, "t", p, &d);
	assert_true(d.exists);
	assert_int_equal(d.size_before, 5);
	assert_int_equal(d.size_after, 3);
	assert_string_equal(d.cluster_before, "");
	assert_string_equal(d.cluster_after, "abc");
	/* a is the same: left out. By id: b changed, c removed, d added. */
	assert_int_equal(d.n, 3);
	assert_string_equal(d.members[0].id, "b");
	assert_true(d.members[0].before.present && d.members[0].after.present);
	assert_string_equal(d.members[0].before.value, "b=http://10.0.0.2:2380");
	assert_string_equal(d.members[0].after.value, "b=http://10.0.0.22:2380");
	assert_string_equal(d.members[0].after.clients, "http://10.0.0.22:2379");
	assert_string_equal(d.members[1].id, "c");
	assert_true(d.members[1].before.present);
	assert_false(d.members[1].after.present);
	assert_string_equal(d.members[2].id, "d");
	assert_false(d.members[2].before.present);
	assert_string_equal(d.members[2].after.value, "d=http://10.0.0.4:2380");
	token_diff_free(&d);
	proposal_free(p);
	/* Nothing was submitted: the token is as it was. */
	assert_int_equal(registry_find_token(&reg, "t")->nmembers, 3);
	assert_int_equal(registry_find_token(&reg, "t")->size, 5);

	/* An import --force that replaces the token whole: only what
	 * differs shows; a new token shows every member as added. */
	token_spec_free(&s);
	memset(&s, 0, sizeof(s));
	strcpy(s.token, "t");
	s.size = 5;
	s.force = 1;
	spec_add(&s, "a", "a=http://10.0.0.1:2380", NULL);
	spec_add(&s, "b", "b=http://10.0.0.2:2380", NULL);
	p = proposal_new();
	assert_int_equal(plan_import(&reg, p, &s), REG_OK);
	token_diff_of(&reg, "t", p, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.members[0].id, "c");
	assert_false(d.members[0].after.present);
	assert_int_equal(d.size_after, 5);
	token_diff_free(&d);
	proposal_free(p);
	strcpy(s.token, "new");
	p = proposal_new();
	assert_int_equal(plan_import(&reg, p, &s), REG_OK);
	token_diff_of(&reg, "new", p, &d);
	assert_false(d.exists);
	assert_int_equal(d.size_before, 0);
	assert_int_equal(d.n, 2);
	assert_false(d.members[0].before.present);
	assert_true(d.members[1].after.present);
	token_diff_free(&d);
	proposal_free(p);
	token_spec_free(&s);
}

static void
test_valid_cluster_id(void **state)
{
	(void)state;
	assert_true(registry_valid_cluster_id("cdf818194e3a8c32"));
	assert_true(registry_valid_cluster_id("0"));
	assert_false(registry_valid_cluster_id(""));
	assert_false(registry_valid_cluster_id("cdf818194e3a8c321"));
	assert_false(registry_valid_cluster_id("CDF8"));
	assert_false(registry_valid_cluster_id("xyz"));
}

/* ---- watch history ---- */

static void
test_watch_found_at_once(void **state)
{
	struct watch_match wm;
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	put("t", "a", PEER, PUT_CREATE); /* 2 */
	put("t", "b", PEER, PUT_SET);	 /* 3 */
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
}

static void
test_watch_waits_for_future(void **state)
{
	struct req b = { .op = OP_PUT, .token = "t", .name = "b",
			 .value = PEER, .mode = PUT_CREATE };
	struct watch_match wm;
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	assert_int_equal(registry_watch_history(tok, NULL, reg.index + 1, &wm),
			 WATCH_WAIT);
	put("t", "a", PEER, PUT_CREATE);
	assert_int_equal(registry_watch_history(tok, NULL, reg.index + 1, &wm),
			 WATCH_WAIT);
	assert_int_equal(registry_watch_history(tok, "b", 1, &wm), WATCH_WAIT);
	/* Proposed is not enough; committed is. */
	submit(&b);
	assert_int_equal(registry_watch_history(tok, "b", 3, &wm), WATCH_WAIT);
	assert_int_equal(commit_all(STORE_OK), 1);
	assert_int_equal(registry_watch_history(tok, "b", 3, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 3);
}

static void
test_watch_tombstone_answers(void **state)
{
	struct watch_match wm;
	struct token *tok;

	(void)state;
	tok = make_token("t", 3);
	/* a at 2, rewritten at 3; b at 4; a deleted at 5 */
	put("t", "a", PEER, PUT_CREATE);
	put("t", "a", "a=http://10.0.0.5:2380", PUT_SET);
	put("t", "b", PEER, PUT_CREATE);
	del_member("t", "a");
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
	put("t", "a", PEER, PUT_CREATE); /* 6 */
	assert_int_equal(registry_watch_history(tok, "a", 6, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 6);
	assert_false(wm.deleted);
	assert_int_equal(registry_watch_history(tok, "a", 5, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 5);
	assert_true(wm.deleted);
}

/* Deletes `deletions` members, leaving "keep" (2) stored and "old"
 * (created 3, deleted 4) the oldest deletion. */
static struct token *
churn(int deletions)
{
	struct token *tok = make_token("t", 3);
	int i;

	put("t", "keep", PEER, PUT_CREATE);
	put("t", "old", PEER, PUT_CREATE);
	del_member("t", "old");
	for (i = 1; i < deletions; i++) {
		put("t", "x", PEER, PUT_CREATE);
		del_member("t", "x");
	}
	assert_int_equal(reg.index, 2 + 2 * deletions);
	return tok;
}

static void
test_watch_history_kept_to_the_ring(void **state)
{
	struct watch_match wm;
	struct token *tok;

	(void)state;
	/* As many deletions as the ring holds: none forgotten. */
	tok = churn(REGISTRY_TOMBSTONES);
	assert_int_equal(tok->ntombs, REGISTRY_TOMBSTONES);
	assert_int_equal(tok->history_floor, 0);
	assert_int_equal(registry_watch_history(tok, "old", 3, &wm),
			 WATCH_FOUND);
	assert_true(wm.deleted);
	assert_int_equal(wm.index, 4);
}

static void
test_watch_cleared(void **state)
{
	struct watch_match wm;
	struct token *tok;

	(void)state;
	/* One deletion more than the ring holds: "old"'s (4) is gone. */
	tok = churn(REGISTRY_TOMBSTONES + 1);
	assert_int_equal(tok->ntombs, REGISTRY_TOMBSTONES);
	assert_int_equal(tok->history_floor, 5);
	/* A watch from before it cannot be answered truthfully. */
	assert_int_equal(registry_watch_history(tok, "old", 3, &wm),
			 WATCH_CLEARED);
	assert_int_equal(registry_watch_history(tok, "old", 4, &wm),
			 WATCH_CLEARED);
	/* From after the forgotten deletion on, nothing was lost. */
	assert_int_equal(registry_watch_history(tok, "old", 5, &wm),
			 WATCH_WAIT);
	assert_int_equal(registry_watch_history(tok, "old", reg.index + 1, &wm),
			 WATCH_WAIT);
	assert_int_equal(registry_watch_history(tok, "x", 5, &wm),
			 WATCH_FOUND);
	assert_true(wm.deleted);
	assert_int_equal(wm.index, 6);
}

static void
test_watch_stored_answer_never_cleared(void **state)
{
	struct watch_match wm;
	struct token *tok;

	(void)state;
	tok = churn(REGISTRY_TOMBSTONES + 1);
	assert_int_equal(registry_watch_history(tok, "keep", 1, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 2);
	assert_int_equal(registry_watch_history(tok, NULL, 2, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, 2);
	assert_string_equal(wm.node->id, "keep");
	/* Rewritten now, "keep" still answers a since below the floor. */
	put("t", "keep", "keep=http://10.0.0.8:2380", PUT_SET);
	assert_int_equal(registry_watch_history(tok, "keep", 3, &wm),
			 WATCH_FOUND);
	assert_int_equal(wm.index, reg.index);
	assert_string_equal(wm.node->value, "keep=http://10.0.0.8:2380");
	/* The newest tombstones are kept. */
	assert_int_equal(registry_watch_history(tok, "x", reg.index - 1, &wm),
			 WATCH_FOUND);
	assert_true(wm.deleted);
	assert_int_equal(wm.index, reg.index - 1);
}

/* ---- publish statistics ---- */

static void
test_stats(void **state)
{
	struct req a = { .op = OP_PUT, .token = "t", .name = "a",
			 .value = PEER, .mode = PUT_CREATE };
	struct req b = a, c = a;
	struct registry_stats s0;

	(void)state;
	make_token("t", 3);
	s0 = reg.stats;
	assert_int_equal(s0.batches, 1);
	assert_int_equal(s0.changes, 1);
	b.name = "b";
	c.name = "c";
	submit(&a);
	submit(&b);
	submit(&c);
	assert_int_equal(reg.stats.batches, s0.batches);
	assert_int_equal(commit_all(STORE_OK), 3);
	assert_int_equal(reg.stats.batches, s0.batches + 1);
	assert_int_equal(reg.stats.changes, s0.changes + 3);
	assert_true(reg.stats.publish_sum >= s0.publish_sum);
	assert_true(reg.stats.publish_max >= 0);
	assert_true(reg.stats.publish_max < 2.5);
	/* Every publish was under the largest bound: counted there. */
	assert_int_equal(reg.stats.publish_le[STORE_LATENCY_BUCKETS - 1],
			 reg.stats.batches);
	assert_true(reg.stats.publish_le[0] <= reg.stats.batches);
	assert_int_equal(reg.publish_started_ns, 0);
	/* A failed commit publishes no change. */
	a.name = "d";
	submit(&a);
	assert_int_equal(commit_all(STORE_FULL), 1);
	assert_int_equal(reg.stats.changes, s0.changes + 3);
}

/* ---- many tokens, big tokens ---- */

#define MANY_TOKENS 1500

static void
count_token(const struct token *tok, void *arg)
{
	unsigned char *seen = arg;
	unsigned n;

	assert_int_equal(sscanf(tok->name, "t%u", &n), 1);
	assert_true(n < MANY_TOKENS);
	seen[n]++;
}

/* Pages of tokens by name: each name once, in order, whatever the page
 * size; the cursor is the last name. */
static void
test_token_page(void **state)
{
	static char names[300][16];
	static struct req q[300];
	const struct token *page[64];
	char after[REGISTRY_NAME_MAX + 1], prev[REGISTRY_NAME_MAX + 1];
	size_t sizes[] = { 1, 7, 64 }, k, n, total;
	unsigned i;
	int more;

	(void)state;
	for (i = 0; i < 300; i++) {
		/* Made out of name order. */
		snprintf(names[i], sizeof(names[i]), "n%03u", (i * 7) % 300);
		q[i].op = OP_CREATE;
		q[i].token = names[i];
		q[i].size = 3;
		submit(&q[i]);
	}
	assert_int_equal(commit_all(STORE_OK), 300);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		after[0] = prev[0] = '\0';
		total = 0;
		do {
			n = registry_token_page(&reg, after, sizes[k], page,
						&more);
			assert_true(n <= sizes[k]);
			for (i = 0; i < n; i++) {
				assert_true(strcmp(page[i]->name, prev) > 0);
				snprintf(prev, sizeof(prev), "%s",
					 page[i]->name);
			}
			total += n;
			assert_true(n > 0 || !more);
			if (n > 0)
				snprintf(after, sizeof(after), "%s",
					 page[n - 1]->name);
		} while (more);
		assert_int_equal(total, 300);
		assert_string_equal(prev, "n299");
	}
	/* After the last name: nothing, and nothing more. */
	assert_int_equal(registry_token_page(&reg, "n299", 5, page, &more), 0);
	assert_false(more);
	n = registry_token_page(&reg, "n100", 3, page, &more);
	assert_int_equal(n, 3);
	assert_string_equal(page[0]->name, "n101");
	assert_string_equal(page[2]->name, "n103");
	assert_true(more);
	/* Deleted tokens leave the pages; a cursor that names one, or no
	 * token at all, still places the page; a token made again is back. */
	for (i = 0; i < 300; i += 3)
		del_token(names[i]);
	n = registry_token_page(&reg, "n100", 3, page, &more);
	assert_int_equal(n, 3);
	assert_string_equal(page[0]->name, "n101");
	assert_string_equal(page[1]->name, "n103");
	assert_string_equal(page[2]->name, "n104");
	n = registry_token_page(&reg, "n1025", 64, page, &more);
	assert_string_equal(page[0]->name, "n103");
	assert_int_equal(n, 64);
	assert_true(more);
	n = registry_token_page(&reg, "", 64, page, &more);
	assert_string_equal(page[0]->name, "n001");
	assert_string_equal(page[63]->name, "n095");
	n = registry_token_page(&reg, "n296", 64, page, &more);
	assert_int_equal(n, 2);
	assert_string_equal(page[0]->name, "n298");
	assert_string_equal(page[1]->name, "n299");
	assert_false(more);
	make_token("n099", 3);
	n = registry_token_page(&reg, "n098", 2, page, &more);
	assert_string_equal(page[0]->name, "n099");
	assert_string_equal(page[1]->name, "n100");
	for (total = 0, after[0] = '\0'; (n = registry_token_page(
		     &reg, after, 7, page, &more)) > 0;) {
		total += n;
		snprintf(after, sizeof(after), "%s", page[n - 1]->name);
	}
	assert_int_equal(total, 201);
	assert_int_equal(reg.ntokens, 201);
}

static void
test_foreach_many_tokens(void **state)
{
	static unsigned char seen[MANY_TOKENS];
	static char names[MANY_TOKENS][16];
	static struct req q[MANY_TOKENS];
	unsigned i;

	(void)state;
	memset(q, 0, sizeof(q));
	for (i = 0; i < MANY_TOKENS; i++) {
		snprintf(names[i], sizeof(names[i]), "t%u", i);
		q[i].op = OP_CREATE;
		q[i].token = names[i];
		q[i].size = 3;
		submit(&q[i]);
	}
	assert_int_equal(commit_all(STORE_OK), MANY_TOKENS);
	assert_int_equal(reg.ntokens, MANY_TOKENS);
	assert_int_equal(reg.tokens.count, MANY_TOKENS);
	assert_true(reg.tokens.nbuckets >= 1024);
	memset(seen, 0, sizeof(seen));
	registry_foreach_token(&reg, count_token, seen);
	for (i = 0; i < MANY_TOKENS; i++) {
		assert_int_equal(q[i].status, REG_OK);
		assert_int_equal(q[i].first, i + 1);
		assert_int_equal(seen[i], 1);
		assert_non_null(registry_find_token(&reg, names[i]));
	}
	/* Deletion still finds each token after the table grew. */
	memset(q, 0, sizeof(q));
	for (i = 0; i < MANY_TOKENS; i += 2) {
		q[i].op = OP_DELETE;
		q[i].token = names[i];
		submit(&q[i]);
	}
	assert_int_equal(commit_all(STORE_OK), MANY_TOKENS / 2);
	assert_int_equal(reg.ntokens, MANY_TOKENS / 2);
	memset(seen, 0, sizeof(seen));
	registry_foreach_token(&reg, count_token, seen);
	for (i = 0; i < MANY_TOKENS; i++)
		assert_int_equal(seen[i], i % 2);
}

#define BIG 1200

/* Big tokens find members through the id table; it must stay right while
 * members come and go in the middle. */
static void
test_big_token(void **state)
{
	static char ids[BIG][16];
	static struct req q[BIG];
	struct req again = { .op = OP_PUT, .token = "big", .name = "m1",
			     .value = PEER, .mode = PUT_CREATE };
	struct token *tok;
	int i;

	(void)state;
	reg.max_members = 2000;
	tok = make_token("big", 1000);
	memset(q, 0, sizeof(q));
	for (i = 0; i < BIG; i++) {
		snprintf(ids[i], sizeof(ids[i]), "m%d", i);
		q[i].op = OP_PUT;
		q[i].token = "big";
		q[i].name = ids[i];
		q[i].value = PEER;
		q[i].mode = PUT_CREATE;
		submit(&q[i]);
	}
	assert_int_equal(commit_all(STORE_OK), BIG);
	assert_int_equal(tok->nmembers, BIG);
	assert_int_equal(token_cluster_size(tok), 1000);
	assert_true(token_is_full(tok));
	for (i = 0; i < BIG; i++) {
		assert_int_equal(q[i].status, REG_OK);
		assert_string_equal(tok->members[i]->id, ids[i]);
	}
	memset(q, 0, sizeof(q));
	for (i = 0; i < BIG; i += 3) {
		q[i].op = OP_DEL_MEMBER;
		q[i].token = "big";
		q[i].name = ids[i];
		submit(&q[i]);
	}
	assert_int_equal(commit_all(STORE_OK), BIG / 3);
	assert_int_equal(tok->nmembers, BIG - BIG / 3);
	assert_int_equal(reg.nmembers, BIG - BIG / 3);
	for (i = 0; i < BIG; i++) {
		const struct member *m = token_find_member(tok, ids[i]);

		if (i % 3 == 0) {
			assert_null(m);
		} else {
			assert_non_null(m);
			assert_string_equal(m->id, ids[i]);
		}
	}
	/* Still in creation order after deletions in the middle. */
	for (i = 1; i < (int)tok->nmembers; i++)
		assert_true(tok->members[i - 1]->created_index <
			    tok->members[i]->created_index);
	/* A create of an existing one is still refused through the table. */
	assert_int_equal(at_once(again), REG_EXISTS);
	assert_null(token_find_member(tok, "m1200"));
	/* Deleting the big token frees it all. */
	del_token("big");
	assert_int_equal(reg.nmembers, 0);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_name),
		T(test_token_create),
		T(test_token_create_rejects),
		T(test_token_size),
		T(test_nothing_visible_before_commit),
		T(test_events_in_commit_order),
		T(test_subscribe_many),
		T(test_put_create_existing),
		T(test_put_update_missing),
		T(test_put_set_overwrites),
		T(test_put_invalid),
		T(test_members_found_past_the_table),
		T(test_max_members_counts_pending),
		T(test_cluster_size_and_full),
		T(test_conflict_plans_again),
		T(test_conflict_never_loops),
		T(test_failed_commit_leaves_no_trace),
		T(test_failed_token_delete_keeps_all),
		T(test_concurrent_create_waits_then_exists),
		T(test_concurrent_create_first_fails),
		T(test_waiting_in_arrival_order),
		T(test_token_delete_waits),
		T(test_members_ordered_by_created_index),
		T(test_members_ordered_when_loaded),
		T(test_token_delete_drops_aliases_and_members),
		T(test_alias_set_move_delete),
		T(test_alias_pending),
		T(test_import),
		T(test_import_waits_for_token),
		T(test_sync),
		T(test_sync_cluster_id),
		T(test_valid_cluster_id),
		T(test_token_diff),
		T(test_watch_found_at_once),
		T(test_watch_waits_for_future),
		T(test_watch_tombstone_answers),
		T(test_watch_history_kept_to_the_ring),
		T(test_watch_cleared),
		T(test_watch_stored_answer_never_cleared),
		T(test_stats),
		T(test_foreach_many_tokens),
		T(test_token_page),
		T(test_big_token),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
