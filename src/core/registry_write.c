/* registry_write.c -- writing to the registry: requests are planned into
 * proposals, proposals go to the store, and their outcome comes back once
 * the store has settled them (see registry.h).
 *
 * While a proposal is on its way to disk its keys are unsettled. A plan
 * that touches an unsettled key answers REG_BUSY and its request waits to
 * be planned again, so a check like prevExist=false always sees the state
 * its change will apply to, and a failed commit leaves nothing behind.
 */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_internal.h"
#include "util.h"

/* "t/<token>": a change of the token itself (or an alias naming it);
 * "T/<token>": changes of its members, counting creations;
 * "m/<token>/<id>", "a/<alias>": one member, one alias. */
struct pending {
	struct hnode node;
	char key[2 * REGISTRY_NAME_MAX + 4];
	unsigned count;
	unsigned creates;
};

static int
is_pending(const struct hnode *n, const void *key)
{
	return strcmp(container_of(n, struct pending, node)->key, key) == 0;
}

static struct pending *
pending_find(const struct registry *reg, const char *key)
{
	struct hnode *n = htable_find(&reg->pending, hash_str(key), is_pending,
				      key);

	return n ? container_of(n, struct pending, node) : NULL;
}

#define PENDING_KEY_SIZE sizeof(((struct pending *)0)->key)

/* key = "kind/a[/b]", cut to PENDING_KEY_SIZE: every write builds
 * several (formatting them showed up in the event loop's profile). */
static void
pending_key(char *key, const char *kind, const char *a, const char *b)
{
	const char *parts[] = { kind, "/", a, b ? "/" : "", b ? b : "" };

	join_str(key, PENDING_KEY_SIZE, parts, 5);
}

static int
pending_has(const struct registry *reg, const char *kind, const char *a,
	    const char *b)
{
	char key[PENDING_KEY_SIZE];

	pending_key(key, kind, a, b);
	return pending_find(reg, key) != NULL;
}

static unsigned
pending_creates(const struct registry *reg, const char *token)
{
	char key[PENDING_KEY_SIZE];
	const struct pending *e;

	pending_key(key, "T", token, NULL);
	e = pending_find(reg, key);
	return e ? e->creates : 0;
}

/* Adds (delta 1) or takes back (delta -1) one mark on a key. */
static void
pending_mark(struct registry *reg, const char *kind, const char *a,
	     const char *b, int delta, int create)
{
	char key[PENDING_KEY_SIZE];
	struct pending *e;

	pending_key(key, kind, a, b);
	e = pending_find(reg, key);
	if (delta > 0) {
		if (e == NULL) {
			e = xcalloc(1, sizeof(*e));
			memcpy(e->key, key, sizeof(e->key));
			htable_insert(&reg->pending, &e->node, hash_str(key));
		}
		e->count++;
		e->creates += (unsigned)create;
		return;
	}
	e->count--;
	e->creates -= (unsigned)create;
	if (e->count == 0) {
		htable_remove(&reg->pending, &e->node);
		free(e);
	}
}

static void
mark_change(struct registry *reg, const struct change *c, int delta)
{
	switch (c->kind) {
	case CHANGE_TOKEN_PUT:
	case CHANGE_TOKEN_DEL:
		pending_mark(reg, "t", c->token, NULL, delta, 0);
		break;
	case CHANGE_MEMBER_PUT:
	case CHANGE_MEMBER_DEL:
		pending_mark(reg, "m", c->token, c->name, delta, 0);
		pending_mark(reg, "T", c->token, NULL, delta,
			     c->kind == CHANGE_MEMBER_PUT &&
				     c->created_index == 0);
		break;
	case CHANGE_ALIAS_PUT:
	case CHANGE_ALIAS_DEL:
		pending_mark(reg, "a", c->name, NULL, delta, 0);
		pending_mark(reg, "t", c->token, NULL, delta, 0);
		break;
	}
}

static void
mark_proposal(struct registry *reg, const struct proposal *p, int delta)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		mark_change(reg, &p->changes[i], delta);
}

void
registry_pending_free(struct registry *reg)
{
	struct hnode *n, *next;
	size_t pos;

	for (n = htable_first(&reg->pending, &pos); n != NULL; n = next) {
		next = htable_next(&reg->pending, n, &pos);
		free(container_of(n, struct pending, node));
	}
	htable_free(&reg->pending);
}

/* ---- requests ---- */

static void
finish(struct registry *reg, struct registry_request *req,
       enum registry_status status)
{
	struct registry_result res = { status, NULL, NULL, 0, reg->index };

	req->done(req, &res);
}

void
registry_submit(struct registry *reg, struct registry_request *req)
{
	struct proposal *p = proposal_new();
	enum registry_status rs;

	p->owner = req;
	rs = req->plan(reg, req, p);
	if (rs == REG_BUSY) {
		req->next = NULL;
		*reg->waiting_tail = req;
		reg->waiting_tail = &req->next;
		reg->nwaiting++;
		proposal_free(p);
		return;
	}
	if (rs != REG_OK || p->n == 0) {
		proposal_free(p);
		finish(reg, req, rs);
		return;
	}
	mark_proposal(reg, p, 1);
	store_submit(reg->store, p);
}

/* Requests that waited for a key are planned again, in arrival order. */
static void
plan_waiting(struct registry *reg)
{
	struct registry_request *req = reg->waiting, *next;

	if (req == NULL)
		return;
	reg->waiting = NULL;
	reg->waiting_tail = &reg->waiting;
	reg->nwaiting = 0;
	for (; req != NULL; req = next) {
		next = req->next;
		registry_submit(reg, req);
	}
}

static enum registry_status
status_of(enum store_status st)
{
	switch (st) {
	case STORE_OK: return REG_OK;
	case STORE_FULL: return REG_NO_SPACE;
	case STORE_UNAVAILABLE: return REG_UNAVAILABLE;
	case STORE_CONFLICT: return REG_UNAVAILABLE; /* see sink_settled */
	case STORE_FAILED: break;
	}
	return REG_STORE_FAILED;
}

/* ---- the sink the store reports to ---- */

static void
sink_apply(void *arg, const struct change *c)
{
	struct registry *reg = arg;

	if (reg->publish_started_ns == 0)
		reg->publish_started_ns = now_monotonic_ns();
	registry_apply(reg, c);
	reg->stats.changes++;
}

static void
record_publish(struct registry_stats *s, double secs)
{
	size_t i;

	s->batches++;
	s->publish_sum += secs;
	if (secs > s->publish_max)
		s->publish_max = secs;
	for (i = 0; i < STORE_LATENCY_BUCKETS; i++)
		if (secs <= store_latency_bounds[i])
			s->publish_le[i]++;
}

static void
sink_batch_end(void *arg, uint64_t index)
{
	struct registry *reg = arg;
	uint64_t started = reg->publish_started_ns;

	if (started == 0)
		started = now_monotonic_ns();
	registry_batch_end(reg, index);
	record_publish(&reg->stats,
		       (double)(now_monotonic_ns() - started) / 1e9);
	reg->publish_started_ns = 0;
}

static void
sink_settled(void *arg, struct proposal *p)
{
	struct registry *reg = arg;
	struct registry_request *req = p->owner;
	struct registry_result res = { status_of(p->status), p->error,
				       p->changes, p->n, reg->index };

	mark_proposal(reg, p, -1);
	if (p->status == STORE_CONFLICT && req != NULL &&
	    ++req->conflicts <= REGISTRY_MAX_CONFLICTS) {
		/* Another gateway came first: memory has its change now. */
		proposal_free(p);
		registry_submit(reg, req);
		plan_waiting(reg);
		return;
	}
	if (p->status == STORE_CONFLICT) {
		/* Never a loop: a plan that keeps losing gets a 503. */
		res.status = REG_UNAVAILABLE;
		res.error = "the store kept reporting conflicting writes; "
			    "retry";
	}
	if (res.status != REG_OK)
		res.nchanges = 0;
	if (req != NULL)
		req->done(req, &res);
	proposal_free(p);
	plan_waiting(reg);
}

struct store_sink
registry_sink(struct registry *reg)
{
	struct store_sink s = { sink_apply, sink_batch_end, sink_settled, reg };

	return s;
}

/* ---- plans ---- */

enum registry_status
plan_token_create(struct registry *reg, struct proposal *p, const char *name,
		  unsigned size, int64_t created_at)
{
	struct change c = { 0 };

	if (!registry_valid_name(name) || size == 0)
		return REG_INVALID;
	if (pending_has(reg, "t", name, NULL) ||
	    pending_has(reg, "T", name, NULL) ||
	    pending_has(reg, "a", name, NULL))
		return REG_BUSY;
	/* An alias is a name in the same zone: a token may not take it. */
	if (registry_find_token(reg, name) != NULL ||
	    registry_find_alias(reg, name) != NULL)
		return REG_EXISTS;
	c.size = size;
	c.created_at = created_at;
	proposal_add_change(p, CHANGE_TOKEN_PUT, name, NULL, &c);
	return REG_OK;
}

struct alias_check {
	const struct registry *reg;
	const char *token;
	struct proposal *p; /* NULL: only check */
	int busy;
};

static void
delete_alias_of(const struct alias *a, void *arg)
{
	struct alias_check *ac = arg;
	struct change c = { 0 };

	if (strcmp(a->token, ac->token) != 0)
		return;
	if (pending_has(ac->reg, "a", a->name, NULL))
		ac->busy = 1;
	else if (ac->p != NULL)
		proposal_add_change(ac->p, CHANGE_ALIAS_DEL, a->token, a->name, &c);
}

enum registry_status
plan_claim_token(struct registry *reg, const char *name)
{
	struct alias_check ac = { reg, name, NULL, 0 };

	if (pending_has(reg, "t", name, NULL) ||
	    pending_has(reg, "T", name, NULL))
		return REG_BUSY;
	registry_foreach_alias(reg, delete_alias_of, &ac);
	return ac.busy ? REG_BUSY : REG_OK;
}

enum registry_status
plan_token_delete(struct registry *reg, struct proposal *p, const char *name)
{
	struct alias_check ac = { reg, name, p, 0 };
	struct change c = { 0 };

	if (plan_claim_token(reg, name) == REG_BUSY)
		return REG_BUSY;
	if (registry_find_token(reg, name) == NULL)
		return REG_NOT_FOUND;
	registry_foreach_alias(reg, delete_alias_of, &ac);
	proposal_add_change(p, CHANGE_TOKEN_DEL, name, NULL, &c);
	return REG_OK;
}

enum registry_status
plan_token_size(struct registry *reg, struct proposal *p, const char *name,
		unsigned size)
{
	const struct token *tok;
	struct change c = { 0 };

	if (size == 0)
		return REG_INVALID;
	if (pending_has(reg, "t", name, NULL))
		return REG_BUSY;
	if ((tok = registry_find_token(reg, name)) == NULL)
		return REG_NOT_FOUND;
	c.size = size;
	c.created_at = tok->created_at;
	c.created_index = tok->created_index;
	memcpy(c.cluster_id, tok->cluster_id, sizeof(c.cluster_id));
	proposal_add_change(p, CHANGE_TOKEN_PUT, name, NULL, &c);
	return REG_OK;
}

static enum member_action
action_of(enum put_mode mode)
{
	return mode == PUT_CREATE ? ACTION_CREATE :
	       mode == PUT_UPDATE ? ACTION_UPDATE : ACTION_SET;
}

static enum registry_status
plan_member(struct registry *reg, struct proposal *p, const char *token,
	    const char *id, const char *value, const char *clients,
	    int keep_clients, enum put_mode mode)
{
	const struct token *tok;
	const struct member *m;
	struct change c = { 0 };

	if (!registry_valid_name(id))
		return REG_INVALID;
	if (pending_has(reg, "t", token, NULL) ||
	    pending_has(reg, "m", token, id))
		return REG_BUSY;
	if ((tok = registry_find_token(reg, token)) == NULL)
		return REG_NOT_FOUND;
	m = token_find_member(tok, id);
	if (m != NULL && mode == PUT_CREATE)
		return REG_EXISTS;
	if (m == NULL && mode == PUT_UPDATE)
		return REG_NOT_FOUND;
	if (m == NULL &&
	    tok->nmembers + pending_creates(reg, token) >= reg->max_members)
		return REG_FULL;
	c.value = (char *)value;
	c.clients = (char *)(keep_clients ? (m ? m->clients : NULL) : clients);
	c.action = action_of(mode);
	c.synced = !keep_clients; /* plan_member_sync's, not etcd's PUT */
	c.created_index = m ? m->created_index : 0;
	proposal_add_change(p, CHANGE_MEMBER_PUT, token, id, &c);
	return REG_OK;
}

enum registry_status
plan_member_put(struct registry *reg, struct proposal *p, const char *token,
		const char *id, const char *value, enum put_mode mode)
{
	return plan_member(reg, p, token, id, value, NULL, 1, mode);
}

enum registry_status
plan_member_sync(struct registry *reg, struct proposal *p, const char *token,
		 const char *id, const char *value, const char *clients)
{
	return plan_member(reg, p, token, id, value, clients, 0, PUT_SET);
}

enum registry_status
plan_member_delete(struct registry *reg, struct proposal *p,
		   const char *token, const char *id)
{
	const struct token *tok;
	struct change c = { 0 };

	if (pending_has(reg, "t", token, NULL) ||
	    pending_has(reg, "m", token, id))
		return REG_BUSY;
	if ((tok = registry_find_token(reg, token)) == NULL ||
	    token_find_member(tok, id) == NULL)
		return REG_NOT_FOUND;
	proposal_add_change(p, CHANGE_MEMBER_DEL, token, id, &c);
	return REG_OK;
}

enum registry_status
plan_alias_set(struct registry *reg, struct proposal *p, const char *name,
	       const char *token, int force)
{
	const struct alias *a;
	struct change c = { 0 };

	if (!registry_valid_name(name) || registry_find_token(reg, name))
		return REG_INVALID; /* a token's own name cannot be an alias */
	if (pending_has(reg, "a", name, NULL) ||
	    pending_has(reg, "t", name, NULL) ||
	    pending_has(reg, "t", token, NULL))
		return REG_BUSY;
	if (registry_find_token(reg, token) == NULL)
		return REG_NOT_FOUND;
	a = registry_find_alias(reg, name);
	if (a != NULL && strcmp(a->token, token) == 0)
		return REG_OK; /* nothing to change */
	if (a != NULL && pending_has(reg, "t", a->token, NULL))
		return REG_BUSY;
	if (a != NULL && !force)
		return REG_CONFLICT; /* it names another token */
	proposal_add_change(p, CHANGE_ALIAS_PUT, token, name, &c);
	return REG_OK;
}

enum registry_status
plan_alias_delete(struct registry *reg, struct proposal *p, const char *name,
		  const char *token)
{
	const struct alias *a;
	struct change c = { 0 };

	if (pending_has(reg, "a", name, NULL))
		return REG_BUSY;
	if ((a = registry_find_alias(reg, name)) == NULL)
		return REG_NOT_FOUND;
	if (pending_has(reg, "t", a->token, NULL))
		return REG_BUSY;
	if (token != NULL && strcmp(a->token, token) != 0)
		return REG_CONFLICT; /* it names another token */
	proposal_add_change(p, CHANGE_ALIAS_DEL, a->token, name, &c);
	return REG_OK;
}
