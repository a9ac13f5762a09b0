/* store.c -- what every store shares: proposals, and the /health probe
 * that many callers share. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PROBE_FRESH_MS 1000

const double store_latency_bounds[STORE_LATENCY_BUCKETS] = {
	0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
	0.05,	0.1,   0.25,  0.5,   1.0,  2.5,
};

struct probe_waiter {
	store_probe_fn fn;
	void *arg;
	struct probe_waiter *next;
};

/* ---- proposals ---- */

struct proposal *
proposal_new(void)
{
	return xcalloc(1, sizeof(struct proposal));
}

void
proposal_add(struct proposal *p, const struct change *c)
{
	struct change *to;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 4;
		p->changes = xrealloc(p->changes, p->cap * sizeof(*p->changes));
	}
	to = &p->changes[p->n++];
	*to = *c;
	to->value = c->value ? xstrdup(c->value) : NULL;
	to->clients = c->clients ? xstrdup(c->clients) : NULL;
}

void
proposal_add_change(struct proposal *p, enum change_kind kind,
		    const char *token, const char *name, struct change *c)
{
	c->kind = kind;
	snprintf(c->token, sizeof(c->token), "%s", token);
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	proposal_add(p, c);
}

int
proposal_only_deletes(const struct proposal *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		enum change_kind k = p->changes[i].kind;

		if (k != CHANGE_TOKEN_DEL && k != CHANGE_MEMBER_DEL &&
		    k != CHANGE_ALIAS_DEL)
			return 0;
	}
	return 1;
}

void
change_clear(struct change *c)
{
	free(c->value);
	free(c->clients);
	c->value = c->clients = NULL;
}

void
proposal_free(struct proposal *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		change_clear(&p->changes[i]);
	free(p->changes);
	free(p);
}

/* ---- dispatch ---- */

int
store_load(struct store *st, char *err)
{
	return st->ops->load(st, err);
}

void
store_submit(struct store *st, struct proposal *p)
{
	st->ops->submit(st, p);
}

int
store_exclusive(struct store *st)
{
	return st->ops->exclusive == NULL || st->ops->exclusive(st);
}

int
store_busy(const struct store *st)
{
	return st->ops->busy(st);
}

void
store_stats(const struct store *st, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	st->ops->stats(st, out);
}

void
store_close(struct store *st)
{
	struct probe_waiter *w, *next;

	if (st == NULL)
		return;
	for (w = st->waiters; w != NULL; w = next) {
		next = w->next;
		w->fn(w->arg, 0, "shutting down");
		free(w);
	}
	st->waiters = NULL;
	st->ops->close(st);
}

/* ---- health ---- */

void
store_health(struct store *st, store_probe_fn fn, void *arg)
{
	struct probe_waiter *w;

	/* A fresh answer serves everyone: /health must not cost a commit. */
	if (!st->probing && st->probed_ms != 0 &&
	    now_monotonic_ms() - st->probed_ms < PROBE_FRESH_MS) {
		fn(arg, st->probe_ok, st->probe_why);
		return;
	}
	w = xmalloc(sizeof(*w));
	w->fn = fn;
	w->arg = arg;
	w->next = st->waiters;
	st->waiters = w;
	if (!st->probing) {
		st->probing = 1;
		st->ops->probe(st);
	}
}

void
store_probe_done(struct store *st, int ok, const char *why)
{
	struct probe_waiter *w = st->waiters, *next;

	st->probing = 0;
	st->probed_ms = now_monotonic_ms();
	st->probe_ok = ok;
	snprintf(st->probe_why, sizeof(st->probe_why), "%s", why ? why : "");
	st->waiters = NULL;
	for (; w != NULL; w = next) {
		next = w->next;
		w->fn(w->arg, ok, st->probe_why);
		free(w);
	}
}

/* A member change costs the etcd store at most 3 operations (the member
 * key, its client URLs, its synced mark) and one compare; the token's own
 * change 2 more, the size compare 1 (see txn_change in store_etcd.c). */
size_t
store_max_changes(const struct store *st)
{
	if (st == NULL || st->max_txn_ops == 0)
		return 0;
	return st->max_txn_ops > 6 ? (st->max_txn_ops - 3) / 3 : 1;
}

void
store_set_max_txn_ops(struct store *st, unsigned n)
{
	if (st != NULL && st->max_txn_ops != 0 && n != 0)
		st->max_txn_ops = n;
}
