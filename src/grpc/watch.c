/* watch.c -- Watch.Watch: etcd's v3 watches over the registry.
 *
 * Every watch knows the revision it needs next (next_rev). A watch that
 * is in sync gets each commit's events as the registry announces them
 * (only committed changes are announced, so nothing is sent before it is
 * durable), one response per watch per commit. A watch that is behind --
 * created with an older start_revision, or whose client stopped reading
 * so that its stream filled up -- catches up from the registry's state in
 * revision order, a bounded chunk per loop turn and only while its stream
 * has room, then is in sync again (etcd's synced and unsynced watchers).
 * So a watch never holds more than one response of unsent events.
 *
 * What the registry keeps decides what a watch catching up can see: the
 * newest state of each key (an overwritten key shows its last put only),
 * and each token's last deletions (REGISTRY_TOMBSTONES). A watch from
 * before deletions that were forgotten is canceled with compact_revision,
 * as etcd cancels a watch from a compacted revision. Deletions of whole
 * tokens reach the watches in sync; one catching up finds the keys gone.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "keyspace.h"
#include "kv.h"
#include "watch.h"

#define CATCHUP_EVENTS 1000    /* events per response while catching up */
#define CATCHUP_WATCHES 32     /* watches caught up per loop turn */

/* ---- finding watches ---- */

static struct wgroup *
find_group(const struct v3watch_hub *hub, const char *token)
{
	uint64_t h = hash_str(token);
	struct hnode *n;

	for (n = htable_chain(&hub->groups, h); n != NULL; n = n->next) {
		struct wgroup *g = container_of(n, struct wgroup, node);

		if (n->hash == h && strcmp(g->token, token) == 0)
			return g;
	}
	return NULL;
}

static void
group_add(struct v3watch_hub *hub, struct v3watch *w)
{
	struct wgroup *g = &hub->wide;

	if (w->scope == V3SCOPE_NONE)
		return;
	if (w->scope == V3SCOPE_TOKEN && (g = find_group(hub, w->token)) == NULL) {
		g = xcalloc(1, sizeof(*g));
		snprintf(g->token, sizeof(g->token), "%s", w->token);
		htable_insert(&hub->groups, &g->node, hash_str(g->token));
	}
	w->group = g;
	w->gnext = g->head;
	if (w->gnext != NULL)
		w->gnext->gprev = w;
	g->head = w;
}

static void
group_remove(struct v3watch_hub *hub, struct v3watch *w)
{
	struct wgroup *g = w->group;

	if (g == NULL)
		return;
	if (w->gprev != NULL)
		w->gprev->gnext = w->gnext;
	else
		g->head = w->gnext;
	if (w->gnext != NULL)
		w->gnext->gprev = w->gprev;
	if (g->head == NULL && g != &hub->wide) {
		htable_remove(&hub->groups, &g->node);
		free(g);
	}
	w->group = NULL;
}

/* ---- behind and in sync ---- */

static void
catch_up_soon(struct v3watch_hub *hub)
{
	event_active(hub->catchup_ev, EV_TIMEOUT, 0);
}

static void
fall_behind(struct v3watch *w, uint64_t next_rev)
{
	struct v3watch_hub *hub = w->ws->hub;

	w->next_rev = next_rev;
	if (!w->synced)
		return;
	w->synced = 0;
	w->unext = hub->unsynced;
	if (w->unext != NULL)
		w->unext->uprev = w;
	w->uprev = NULL;
	hub->unsynced = w;
	hub->api->stats.watch_catchups++;
	catch_up_soon(hub);
}

static void
come_in_sync(struct v3watch *w)
{
	struct v3watch_hub *hub = w->ws->hub;

	if (w->synced)
		return;
	w->synced = 1;
	if (w->uprev != NULL)
		w->uprev->unext = w->unext;
	else
		hub->unsynced = w->unext;
	if (w->unext != NULL)
		w->unext->uprev = w->uprev;
	w->uprev = w->unext = NULL;
}

void
watch_remove(struct v3watch *w)
{
	struct wstream *ws = w->ws;
	struct v3watch_hub *hub = ws->hub;
	struct grpc_conn *conn = ws->call->conn;

	come_in_sync(w); /* off the catch-up list */
	group_remove(hub, w);
	if (w->sprev != NULL)
		w->sprev->snext = w->snext;
	else
		ws->watches = w->snext;
	if (w->snext != NULL)
		w->snext->sprev = w->sprev;
	ws->n--;
	hub->count--;
	conn->nwatches--;
	conn->peer->watches--;
	free(w->batch);
	free(w->key);
	free(w->end);
	free(w);
}

/* ---- responses ---- */

/* A WatchResponse of the events for w; -1 when its stream has no room. */
static int
send_events(struct v3watch *w, struct wevent *const *evs, size_t n)
{
	struct grpc_api *api = w->ws->hub->api;
	V3__Event *events = xcalloc(n + 1, sizeof(*events));
	V3__Event **ptrs = xcalloc(n + 1, sizeof(*ptrs));
	V3__KeyValue *kvs = xcalloc(2 * n + 1, sizeof(*kvs));
	V3__WatchResponse resp;
	V3__ResponseHeader h;
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		wevent_to_pb(evs[i], w->prev_kv, &events[i], &kvs[2 * i],
			     &kvs[2 * i + 1]);
		ptrs[i] = &events[i];
	}
	v3__watch_response__init(&resp);
	grpc_header(api, &h);
	resp.header = &h;
	resp.watch_id = w->id;
	resp.events = ptrs;
	resp.n_events = n;
	if (grpc_call_has_room(w->ws->call,
			       protobuf_c_message_get_packed_size(&resp.base)) &&
	    grpc_call_send(w->ws->call, &resp.base) == 0) {
		api->stats.watch_events += n;
		rc = 0;
	}
	free(kvs);
	free(ptrs);
	free(events);
	return rc;
}

/* A response that is no event: created, canceled, progress. */
void
watch_control(struct wstream *ws, int64_t id, int created, int canceled,
	     int64_t compact, const char *reason, uint64_t revision)
{
	V3__WatchResponse resp;
	V3__ResponseHeader h;

	v3__watch_response__init(&resp);
	grpc_header(ws->hub->api, &h);
	if (revision != 0)
		h.revision = (int64_t)revision;
	resp.header = &h;
	resp.watch_id = id;
	resp.created = created;
	resp.canceled = canceled;
	resp.compact_revision = compact;
	resp.cancel_reason = (char *)(reason ? reason : "");
	grpc_call_send(ws->call, &resp.base);
}

/* ---- live events ---- */

/* The watches that see ev: in sync, from its revision, its key. */
static void
match(struct v3watch_hub *hub, struct wgroup *g, size_t idx)
{
	const struct wevent *ev = &hub->events[idx];
	struct v3watch *w;

	for (w = g ? g->head : NULL; w != NULL; w = w->gnext) {
		if (!w->synced || ev->rev < w->next_rev ||
		    !wevent_wanted(w, ev))
			continue;
		if (w->nbatch == w->batch_cap) {
			w->batch_cap = w->batch_cap ? 2 * w->batch_cap : 4;
			w->batch = xrealloc(w->batch,
					    w->batch_cap * sizeof(*w->batch));
		}
		w->batch[w->nbatch++] = (uint32_t)idx;
		if (!w->dirty) {
			w->dirty = 1;
			w->dnext = hub->dirty;
			hub->dirty = w;
		}
	}
}

static void
add_event(struct v3watch_hub *hub, struct wgroup *g, int del,
	  const struct token *tok, const struct member *m, uint64_t rev,
	  int with_prev)
{
	struct wevent *ev;

	if (hub->nevents == hub->events_cap) {
		hub->events_cap = hub->events_cap ? 2 * hub->events_cap : 16;
		hub->events = xrealloc(hub->events,
				       hub->events_cap * sizeof(*hub->events));
	}
	ev = &hub->events[hub->nevents++];
	wevent_fill(ev, del, tok, m, rev, with_prev, 1);
	match(hub, g, hub->nevents - 1);
	match(hub, &hub->wide, hub->nevents - 1);
}

static void
token_deleted(struct v3watch_hub *hub, struct wgroup *g,
	      const struct token *tok, uint64_t rev)
{
	size_t i;

	add_event(hub, g, 1, tok, NULL, rev, 1);
	for (i = 0; i < tok->nmembers; i++)
		add_event(hub, g, 1, tok, tok->members[i], rev, 1);
}

/* The commit is whole: each watch that saw events gets them. */
static void
flush_batch(struct v3watch_hub *hub)
{
	struct wevent **evs = NULL;
	struct v3watch *w, *next;
	size_t i, cap = 0;

	for (w = hub->dirty; w != NULL; w = next) {
		next = w->dnext;
		if (w->nbatch > cap) {
			cap = w->nbatch;
			evs = xrealloc(evs, cap * sizeof(*evs));
		}
		for (i = 0; i < w->nbatch; i++)
			evs[i] = &hub->events[w->batch[i]];
		if (send_events(w, evs, w->nbatch) == 0)
			w->next_rev = evs[w->nbatch - 1]->rev + 1;
		else
			fall_behind(w, evs[0]->rev);
		w->nbatch = 0;
		w->dirty = 0;
	}
	hub->dirty = NULL;
	free(evs);
	for (i = 0; i < hub->nevents; i++)
		wevent_clear(&hub->events[i]);
	hub->nevents = 0;
}

static void
on_registry_event(const struct registry_event *ev, void *arg)
{
	struct v3watch_hub *hub = arg;
	struct wgroup *g;

	if (ev->type == EV_BATCH_END) {
		if (hub->dirty != NULL || hub->nevents > 0)
			flush_batch(hub);
		return;
	}
	g = find_group(hub, ev->token->name);
	if (g == NULL && hub->wide.head == NULL)
		return; /* nobody watches it */
	switch (ev->type) {
	case EV_MEMBER_SET:
		add_event(hub, g, 0, ev->token, ev->member, ev->index, 0);
		break;
	case EV_MEMBER_DELETED:
		add_event(hub, g, 1, ev->token, ev->member, ev->index, 1);
		break;
	case EV_TOKEN_CREATED:
	case EV_TOKEN_UPDATED:
		add_event(hub, g, 0, ev->token, NULL, ev->index, 0);
		break;
	case EV_TOKEN_DELETED:
		token_deleted(hub, g, ev->token, ev->index);
		break;
	default:
		break;
	}
}

/* ---- catching up ---- */

/* Cancels w when what it needs next is forgotten; returns 1 then. */
static int
cancel_if_compacted(struct v3watch *w)
{
	uint64_t floor = watch_history_floor(w);
	struct wstream *ws = w->ws;

	if (floor <= w->next_rev)
		return 0;
	ws->hub->api->stats.watch_compacted++;
	watch_control(ws, w->id, 0, 1, (int64_t)floor,
		     "etcdserver: mvcc: required revision has been compacted",
		     0);
	watch_remove(w);
	return 1;
}

/* Sends w the next chunk of what it missed; in sync once there is none.
 * Returns 0, 1 when w was canceled (and is gone), or -1 when its stream
 * has no room. */
static int
catch_up(struct v3watch *w)
{
	struct v3watch_hub *hub = w->ws->hub;
	struct wevent *evs, **ptrs;
	size_t n, i;
	int rc = 0;

	if (cancel_if_compacted(w))
		return 1;
	n = watch_collect(w, CATCHUP_EVENTS, &evs);
	if (n == 0) {
		if (w->next_rev <= hub->api->reg->index)
			w->next_rev = hub->api->reg->index + 1;
		come_in_sync(w);
		free(evs);
		return 0;
	}
	ptrs = xmalloc(n * sizeof(*ptrs));
	for (i = 0; i < n; i++)
		ptrs[i] = &evs[i];
	if (send_events(w, ptrs, n) == 0)
		w->next_rev = evs[n - 1].rev + 1;
	else
		rc = -1;
	for (i = 0; i < n; i++)
		wevent_clear(&evs[i]);
	free(ptrs);
	free(evs);
	return rc;
}

static void
on_catch_up(evutil_socket_t fd, short what, void *arg)
{
	struct v3watch_hub *hub = arg;
	struct v3watch *w, *next;
	int done = 0, more = 0, rc;

	(void)fd;
	(void)what;
	for (w = hub->unsynced; w != NULL && done < CATCHUP_WATCHES; w = next) {
		next = w->unext;
		if (w->ws->call->finished)
			continue;
		if (!grpc_call_has_room(w->ws->call, 1))
			continue; /* on_writable brings it back */
		done++;
		rc = catch_up(w);
		if (rc == 0 && !w->synced)
			more = 1;
	}
	if (more || (w != NULL && done == CATCHUP_WATCHES))
		catch_up_soon(hub);
}

/* ---- the hub ---- */

struct v3watch_hub *
grpc_watch_hub_new(struct grpc_api *api)
{
	struct v3watch_hub *hub = xcalloc(1, sizeof(*hub));

	hub->api = api;
	htable_init(&hub->groups);
	hub->catchup_ev = event_new(api->base, -1, 0, on_catch_up, hub);
	if (registry_subscribe(api->reg, on_registry_event, hub) != 0) {
		event_free(hub->catchup_ev);
		free(hub);
		return NULL;
	}
	return hub;
}

void
grpc_watch_hub_end_all(struct v3watch_hub *hub)
{
	struct wstream *ws;

	for (ws = hub->streams; ws != NULL; ws = ws->next) {
		while (ws->watches != NULL)
			watch_remove(ws->watches);
		grpc_call_finish(ws->call, GRPC_UNAVAILABLE,
				 "srvgate is shutting down");
	}
}

size_t
grpc_watch_hub_count(const struct v3watch_hub *hub)
{
	return hub ? hub->count : 0;
}

void
grpc_watch_hub_free(struct v3watch_hub *hub)
{
	if (hub == NULL)
		return;
	/* the streams went with their connections */
	htable_free(&hub->groups);
	free(hub->events);
	event_free(hub->catchup_ev);
	free(hub);
}

/* For watch_stream.c: a new watch catches up or is in sync. */
void
watch_start(struct v3watch *w, uint64_t start)
{
	struct v3watch_hub *hub = w->ws->hub;
	uint64_t now = hub->api->reg->index;

	group_add(hub, w);
	w->synced = 1;
	w->next_rev = start != 0 && start > now ? start : now + 1;
	if (start != 0 && start <= now)
		fall_behind(w, start);
}

void
watch_stream_catch_up(struct wstream *ws)
{
	if (ws->hub->unsynced != NULL)
		catch_up_soon(ws->hub);
}
