/* watch.c -- long-poll watches on tokens and members. */
#include "watch.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "etcdjson.h"
#include "registry.h"
#include "storage.h"
#include "util.h"

#define HUB_BUCKETS 4096

struct watch {
	struct watch_hub *hub;
	struct evhttp_request *req;
	char token[REGISTRY_NAME_MAX + 1];
	char member[REGISTRY_NAME_MAX + 1]; /* "": not one member */
	int recursive;			    /* every member of the token */
	uint64_t since;
	struct event *closed_ev; /* the client hung up */
	struct event *timer;
	struct watch *prev, *next;
};

/* A watch that matched, waiting for its change to be durable. */
struct fired {
	struct watch_hub *hub;
	struct evhttp_request *req;
	char *body;
};

struct watch_hub {
	struct event_base *base;
	struct storage *st;
	uint64_t timeout_ms;
	watch_send_fn send;
	void *send_arg;
	struct watch *buckets[HUB_BUCKETS];
	size_t count;
};

static size_t
bucket_of(const char *token)
{
	return hash_string(token) % HUB_BUCKETS;
}

static void
unlink_watch(struct watch *w)
{
	struct watch_hub *hub = w->hub;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		hub->buckets[bucket_of(w->token)] = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	event_free(w->closed_ev);
	event_free(w->timer);
	hub->count--;
	free(w);
}

static void
on_durable(int ok, void *arg)
{
	struct fired *f = arg;

	if (ok) {
		f->hub->send(f->hub->send_arg, f->req, 200, f->body);
	} else {
		free(f->body);
		f->hub->send(f->hub->send_arg, f->req, 500,
			     etcdjson_error(ETCD_RAFT_INTERNAL,
					    "Raft Internal Error",
					    "storage commit failed", 0));
	}
	free(f);
}

/* Answers w with body once what it reports is on disk. */
static void
fire(struct watch *w, char *body)
{
	struct fired *f = xmalloc(sizeof(*f));

	f->hub = w->hub;
	f->req = w->req;
	f->body = body;
	unlink_watch(w);
	storage_after_commit(f->hub->st, on_durable, f);
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
	      uint64_t since)
{
	struct watch *w = xcalloc(1, sizeof(*w));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	evutil_socket_t fd = bufferevent_getfd(
		evhttp_connection_get_bufferevent(evcon));
	size_t b = bucket_of(token);

	w->hub = hub;
	w->req = req;
	snprintf(w->token, sizeof(w->token), "%s", token);
	snprintf(w->member, sizeof(w->member), "%s", member ? member : "");
	w->recursive = member == NULL && recursive;
	w->since = since;
	w->closed_ev = event_new(hub->base, fd, EV_CLOSED, on_give_up, w);
	w->timer = evtimer_new(hub->base, on_give_up, w);
	event_add(w->closed_ev, NULL);
	if (hub->timeout_ms > 0) {
		struct timeval tv = timeval_from_ms(hub->timeout_ms);

		evtimer_add(w->timer, &tv);
	}
	w->next = hub->buckets[b];
	if (w->next != NULL)
		w->next->prev = w;
	hub->buckets[b] = w;
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
	struct watch *w = hub->buckets[bucket_of(ev->token->name)], *next;
	const struct member *m = ev->member;

	for (; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->token, ev->token->name) != 0 ||
		    ev->index < w->since)
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
			break;
		}
	}
}

struct watch_hub *
watch_hub_new(struct event_base *base, struct registry *reg,
	      struct storage *st, uint64_t timeout_ms, watch_send_fn send,
	      void *send_arg)
{
	struct watch_hub *hub = xcalloc(1, sizeof(*hub));

	hub->base = base;
	hub->st = st;
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
	size_t i;

	for (i = 0; i < HUB_BUCKETS; i++)
		while (hub->buckets[i] != NULL)
			end_empty(hub->buckets[i]);
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
	free(hub);
}
