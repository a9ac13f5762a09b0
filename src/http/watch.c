/* watch.c -- long-poll watches on tokens and members. */
#include "watch.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "etcdjson.h"
#include "htable.h"
#include "registry.h"
#include "shares.h"
#include "util.h"

struct watch {
	struct watch_hub *hub;
	struct evhttp_request *req;
	char token[REGISTRY_NAME_MAX + 1];
	char member[REGISTRY_NAME_MAX + 1]; /* "": not one member */
	int recursive;			    /* every member of the token */
	uint64_t since;
	struct event *closed_ev; /* the client hung up */
	struct event *timer;
	struct watch_group *group;
	struct share *owner; /* the client's network, or NULL */
	struct watch *prev, *next;
};

/* The watches of one token. */
struct watch_group {
	struct hnode node;
	char token[REGISTRY_NAME_MAX + 1];
	struct watch *head;
};

struct watch_hub {
	struct event_base *base;
	uint64_t timeout_ms;
	watch_send_fn send;
	void *send_arg;
	struct htable groups;
	size_t count;
};

static struct watch_group *
find_group(const struct watch_hub *hub, const char *token)
{
	uint64_t h = hash_str(token);
	struct hnode *n;

	for (n = htable_chain(&hub->groups, h); n != NULL; n = n->next) {
		struct watch_group *g = container_of(n, struct watch_group,
						     node);

		if (n->hash == h && strcmp(g->token, token) == 0)
			return g;
	}
	return NULL;
}

static void
unlink_watch(struct watch *w)
{
	struct watch_hub *hub = w->hub;
	struct watch_group *g = w->group;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		g->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	if (g->head == NULL) {
		htable_remove(&hub->groups, &g->node);
		free(g);
	}
	event_free(w->closed_ev);
	event_free(w->timer);
	if (w->owner != NULL) {
		w->owner->watches--;
		share_release(w->owner);
	}
	hub->count--;
	free(w);
}

/* Answers w with body: what it reports is durable already, since the
 * registry announces only committed changes. */
static void
fire(struct watch *w, char *body)
{
	struct watch_hub *hub = w->hub;
	struct evhttp_request *req = w->req;

	unlink_watch(w);
	hub->send(hub->send_arg, req, 200, body);
}

static void
end_empty(struct watch *w)
{
	struct watch_hub *hub = w->hub;
	struct evhttp_request *req = w->req;

	unlink_watch(w);
	hub->send(hub->send_arg, req, 200, xstrdup(""));
}

/* The watch timed out, or its client hung up: an empty 200 (etcd polls
 * again), which on a closed connection makes libevent free it. */
static void
on_give_up(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	end_empty(arg);
}

void
watch_hub_add(struct watch_hub *hub, struct evhttp_request *req,
	      const char *token, const char *member, int recursive,
	      uint64_t since, struct share *owner)
{
	struct watch *w = xcalloc(1, sizeof(*w));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	evutil_socket_t fd = bufferevent_getfd(
		evhttp_connection_get_bufferevent(evcon));
	struct watch_group *g = find_group(hub, token);

	w->hub = hub;
	w->req = req;
	snprintf(w->token, sizeof(w->token), "%s", token);
	snprintf(w->member, sizeof(w->member), "%s", member ? member : "");
	w->recursive = member == NULL && recursive;
	w->since = since;
	w->owner = owner;
	if (owner != NULL)
		owner->watches++;
	w->closed_ev = event_new(hub->base, fd, EV_CLOSED, on_give_up, w);
	w->timer = evtimer_new(hub->base, on_give_up, w);
	event_add(w->closed_ev, NULL);
	if (hub->timeout_ms > 0) {
		struct timeval tv = timeval_from_ms(hub->timeout_ms);

		evtimer_add(w->timer, &tv);
	}
	if (g == NULL) {
		g = xcalloc(1, sizeof(*g));
		snprintf(g->token, sizeof(g->token), "%s", token);
		htable_insert(&hub->groups, &g->node, hash_str(token));
	}
	w->group = g;
	w->next = g->head;
	if (w->next != NULL)
		w->next->prev = w;
	g->head = w;
	hub->count++;
}

static int
watches_member(const struct watch *w, const char *id)
{
	return w->recursive || strcmp(w->member, id) == 0;
}

static void
on_registry_event(const struct registry_event *ev, void *arg)
{
	struct watch_hub *hub = arg;
	struct watch_group *g;
	struct watch *w, *next;
	const struct member *m = ev->member;

	if (ev->type == EV_BATCH_END ||
	    (g = find_group(hub, ev->token->name)) == NULL)
		return;
	/* A group goes with its last watch: stop before touching it then. */
	for (w = g->head; w != NULL; w = next) {
		next = w->next;
		if (ev->index < w->since)
			continue;
		switch (ev->type) {
		case EV_MEMBER_SET:
			if (watches_member(w, m->id))
				fire(w, etcdjson_member(
						etcdjson_action_name(m->action),
						w->token, m, NULL));
			break;
		case EV_MEMBER_DELETED:
			if (watches_member(w, m->id))
				fire(w, etcdjson_member_deleted(w->token, m,
								ev->index));
			break;
		case EV_TOKEN_DELETED:
			fire(w, etcdjson_token_deleted(ev->token, ev->index));
			break;
		case EV_TOKEN_CREATED:
		case EV_TOKEN_UPDATED: /* _config is hidden from watches */
		case EV_ALIAS_SET:
		case EV_ALIAS_DELETED:
		case EV_BATCH_END:
			break;
		}
	}
}

struct watch_hub *
watch_hub_new(struct event_base *base, struct registry *reg,
	      uint64_t timeout_ms, watch_send_fn send, void *send_arg)
{
	struct watch_hub *hub = xcalloc(1, sizeof(*hub));

	hub->base = base;
	htable_init(&hub->groups);
	hub->timeout_ms = timeout_ms;
	hub->send = send;
	hub->send_arg = send_arg;
	if (registry_subscribe(reg, on_registry_event, hub) != 0) {
		free(hub);
		return NULL;
	}
	return hub;
}

void
watch_hub_end_all(struct watch_hub *hub)
{
	struct hnode *n;
	size_t pos;

	while ((n = htable_first(&hub->groups, &pos)) != NULL)
		end_empty(container_of(n, struct watch_group, node)->head);
}

size_t
watch_hub_count(const struct watch_hub *hub)
{
	return hub->count;
}

void
watch_hub_free(struct watch_hub *hub)
{
	if (hub == NULL)
		return;
	watch_hub_end_all(hub);
	htable_free(&hub->groups);
	free(hub);
}
