/* watch_events.c -- watch events: made from commits and from the
 * registry's state, matched against watches, put into protobuf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "watch.h"

/* A member's value; a size key's goes into the event itself, found by
 * the *_text functions below (the event may move before it is sent). */
static const char *
value_of(const struct token *tok, const struct member *m, char size[24],
	 int copy)
{
	if (m == NULL) {
		snprintf(size, 24, "%u", tok->size);
		return NULL;
	}
	return copy ? xstrdup(m->value ? m->value : "") :
		      m->value ? m->value : "";
}

static const char *
value_text(const struct wevent *ev)
{
	return ev->value ? ev->value : ev->size;
}

static const char *
prev_text(const struct wevent *ev)
{
	return ev->prev_value ? ev->prev_value : ev->prev_size;
}

void
wevent_fill(struct wevent *ev, int del, const struct token *tok,
	    const struct member *m, uint64_t rev, int with_prev, int copy)
{
	struct v3ref ref = { tok, m };
	uint64_t created = m ? m->created_index : tok->created_index;
	uint64_t modified = m ? m->modified_index : tok->modified_index;

	memset(ev, 0, sizeof(*ev));
	ev->del = del;
	ev->rev = rev;
	ev->klen = v3ref_key(&ref, ev->key);
	ev->own = copy;
	if (!del) {
		ev->value = value_of(tok, m, ev->size, copy);
		ev->create = (int64_t)created;
		ev->mod = (int64_t)modified;
		ev->version = kv_version(created, modified);
		return;
	}
	ev->mod = (int64_t)rev; /* etcd: the revision of the deletion */
	if (!with_prev)
		return;
	ev->has_prev = 1;
	ev->prev_value = value_of(tok, m, ev->prev_size, copy);
	ev->prev_create = (int64_t)created;
	ev->prev_mod = (int64_t)modified;
	ev->prev_version = kv_version(created, modified);
}

void
wevent_clear(struct wevent *ev)
{
	if (ev->own) {
		free((char *)ev->value);
		free((char *)ev->prev_value);
	}
	ev->value = ev->prev_value = NULL;
	ev->own = 0;
}

int
wevent_wanted(const struct v3watch *w, const struct wevent *ev)
{
	struct v3range r = { w->key, w->klen, w->end, w->elen };

	if ((ev->del && w->no_delete) || (!ev->del && w->no_put))
		return 0;
	return v3range_has(&r, (const uint8_t *)ev->key, ev->klen);
}

static void
bytes(ProtobufCBinaryData *b, const char *s, size_t n)
{
	b->data = (uint8_t *)s;
	b->len = n;
}

void
wevent_to_pb(const struct wevent *ev, int want_prev, V3__Event *e,
	     V3__KeyValue *kv, V3__KeyValue *prev)
{
	v3__event__init(e);
	v3__key_value__init(kv);
	e->type = ev->del ? V3__EVENT__EVENT_TYPE__DELETE :
			    V3__EVENT__EVENT_TYPE__PUT;
	e->kv = kv;
	bytes(&kv->key, ev->key, ev->klen);
	kv->mod_revision = ev->mod;
	if (!ev->del) {
		bytes(&kv->value, value_text(ev), strlen(value_text(ev)));
		kv->create_revision = ev->create;
		kv->version = ev->version;
	}
	if (!want_prev || !ev->has_prev)
		return;
	v3__key_value__init(prev);
	e->prev_kv = prev;
	bytes(&prev->key, ev->key, ev->klen);
	bytes(&prev->value, prev_text(ev), strlen(prev_text(ev)));
	prev->create_revision = ev->prev_create;
	prev->mod_revision = ev->prev_mod;
	prev->version = ev->prev_version;
}

/* ---- what a watch missed ---- */

/* A missed change, before it becomes an event. */
struct missed {
	uint64_t rev;
	const struct token *tok;
	const struct member *m;
	int del;
};

struct collect {
	const struct v3watch *w;
	struct v3range r;
	struct missed *refs;
	size_t n, cap;
};

static void
consider(struct collect *c, const struct token *tok, const struct member *m,
	 uint64_t rev, int del)
{
	struct v3ref ref = { tok, m };
	char key[V3_KEY_MAX];
	size_t klen;

	if (rev < c->w->next_rev || (del && c->w->no_delete) ||
	    (!del && c->w->no_put))
		return;
	klen = v3ref_key(&ref, key);
	if (!v3range_has(&c->r, (const uint8_t *)key, klen))
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->refs = xrealloc(c->refs, c->cap * sizeof(*c->refs));
	}
	c->refs[c->n++] = (struct missed){ rev, tok, m, del };
}

static void
collect_token(const struct token *tok, void *arg)
{
	struct collect *c = arg;
	size_t i;

	if (c->w->scope == V3SCOPE_WIDE && !v3range_touches(&c->r, tok->name))
		return;
	consider(c, tok, NULL, tok->modified_index, 0);
	for (i = 0; i < tok->nmembers; i++)
		consider(c, tok, tok->members[i],
			 tok->members[i]->modified_index, 0);
	for (i = 0; i < tok->ntombs; i++)
		consider(c, tok, &tok->tombs[i].prev,
			 tok->tombs[i].deleted_index, 1);
}

static int
by_revision(const void *a, const void *b)
{
	uint64_t x = ((const struct missed *)a)->rev;
	uint64_t y = ((const struct missed *)b)->rev;

	return (x > y) - (x < y);
}

size_t
watch_collect(const struct v3watch *w, size_t max, struct wevent **evs)
{
	const struct registry *reg = w->ws->hub->api->reg;
	struct collect c = { w, { w->key, w->klen, w->end, w->elen }, NULL,
			     0, 0 };
	const struct token *tok;
	size_t i;

	if (w->scope == V3SCOPE_TOKEN &&
	    (tok = registry_find_token(reg, w->token)) != NULL)
		collect_token(tok, &c);
	else if (w->scope == V3SCOPE_WIDE)
		registry_foreach_token(reg, collect_token, &c);
	/* Each change has a revision of its own: a chunk never splits one. */
	if (c.n > 1)
		qsort(c.refs, c.n, sizeof(*c.refs), by_revision);
	if (c.n > max)
		c.n = max;
	*evs = xcalloc(c.n + 1, sizeof(**evs));
	for (i = 0; i < c.n; i++)
		wevent_fill(&(*evs)[i], c.refs[i].del, c.refs[i].tok,
			    c.refs[i].m, c.refs[i].rev, 1, 0);
	free(c.refs);
	return c.n;
}

struct floor_scan {
	struct v3range r;
	uint64_t floor;
};

static void
floor_of(const struct token *tok, void *arg)
{
	struct floor_scan *f = arg;

	if (tok->history_floor > f->floor && v3range_touches(&f->r, tok->name))
		f->floor = tok->history_floor;
}

uint64_t
watch_history_floor(const struct v3watch *w)
{
	const struct registry *reg = w->ws->hub->api->reg;
	struct floor_scan f = { { w->key, w->klen, w->end, w->elen }, 0 };
	const struct token *tok;

	if (w->scope == V3SCOPE_TOKEN) {
		tok = registry_find_token(reg, w->token);
		return tok ? tok->history_floor : 0;
	}
	if (w->scope == V3SCOPE_WIDE)
		registry_foreach_token(reg, floor_of, &f);
	return f.floor;
}
