/* gc.c -- deleting tokens that never filled. A deletion is a write like
 * any other: planned, committed, then gone from every view. */
#include "gc.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "util.h"

struct gc {
	struct registry *reg;
	struct store *st;
	struct event *timer;
	uint64_t after_ms;
	unsigned in_flight; /* deletions not settled yet */
};

struct gc_delete {
	struct registry_request req;
	struct gc *g;
	char token[REGISTRY_NAME_MAX + 1];
};

static enum registry_status
plan_delete(struct registry *reg, struct registry_request *req,
	    struct proposal *p)
{
	struct gc_delete *d = req->arg;
	const struct token *tok = registry_find_token(reg, d->token);

	/* It may have filled while this waited for its turn. */
	if (tok == NULL || token_is_full(tok))
		return REG_NOT_FOUND;
	return plan_token_delete(reg, p, d->token);
}

static void
deleted(struct registry_request *req, const struct registry_result *res)
{
	struct gc_delete *d = req->arg;

	if (res->status != REG_NOT_FOUND)
		log_change("gc-delete", d->token, NULL, NULL,
			   res->status == REG_OK ? "ok" :
			   res->error ? res->error :
			   registry_status_name(res->status));
	d->g->in_flight--;
	free(d);
}

struct scan {
	struct gc *g;
	int64_t cutoff;
	char (*names)[REGISTRY_NAME_MAX + 1];
	size_t n;
};

static void
collect(const struct token *tok, void *arg)
{
	struct scan *s = arg;

	/* Strictly older: created_at has whole seconds, and a token made
	 * in this very second must get its full time. */
	if (token_is_full(tok) || tok->created_at >= s->cutoff)
		return;
	s->names = xrealloc(s->names, (s->n + 1) * sizeof(*s->names));
	strcpy(s->names[s->n++], tok->name);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gc *g = arg;
	struct scan s = { g, now_unix() - (int64_t)(g->after_ms / 1000),
			  NULL, 0 };
	size_t i;

	(void)fd;
	(void)what;
	if (g->in_flight > 0)
		return; /* the last round is still on its way to disk */
	/* Several gateways on one etcd: only the holder of the lock. */
	if (!store_exclusive(g->st))
		return;
	registry_foreach_token(g->reg, collect, &s);
	for (i = 0; i < s.n; i++) {
		struct gc_delete *d = xcalloc(1, sizeof(*d));

		d->req.plan = plan_delete;
		d->req.done = deleted;
		d->req.arg = d;
		d->g = g;
		strcpy(d->token, s.names[i]);
		g->in_flight++;
		registry_submit(g->reg, &d->req);
	}
	free(s.names);
}

struct gc *
gc_start(struct event_base *base, struct registry *reg, struct store *st,
	 uint64_t after_ms)
{
	uint64_t every = after_ms / 10;
	struct timeval tv;
	struct gc *g;

	if (after_ms == 0)
		return NULL;
	g = xcalloc(1, sizeof(*g));
	g->reg = reg;
	g->st = st;
	g->after_ms = after_ms;
	if (every > 60000)
		every = 60000;
	if (every < 100)
		every = 100;
	tv = timeval_from_ms(every);
	g->timer = event_new(base, -1, EV_PERSIST, on_timer, g);
	evtimer_add(g->timer, &tv);
	return g;
}

void
gc_free(struct gc *g)
{
	if (g == NULL)
		return;
	event_free(g->timer);
	free(g);
}
