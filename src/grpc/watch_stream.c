/* watch_stream.c -- the Watch method: one stream of WatchRequests
 * (create, cancel, progress) and WatchResponses, holding any number of
 * watches up to --grpc-max-watches per connection and
 * --grpc-max-watches-per-address per client address.
 *
 * As etcd: watch IDs are given from 0 up unless the client names one; a
 * create is answered `created` before any event of it; a cancel is
 * answered `canceled`; a progress request is answered with watch_id -1
 * and the revision every watch of the stream has reached. A stream whose
 * responses pile up stops reading requests until they drain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "watch.h"

static struct v3watch *
find_watch(const struct wstream *ws, int64_t id)
{
	struct v3watch *w;

	for (w = ws->watches; w != NULL; w = w->snext)
		if (w->id == id)
			return w;
	return NULL;
}

/* Why a create is refused, or NULL. */
static const char *
refusal(const struct wstream *ws, const V3__WatchCreateRequest *cr)
{
	const struct grpc_conn *conn = ws->call->conn;
	const struct config *cfg = conn->api->cfg;

	if (cr->key.len == 0)
		return "etcdserver: key is not provided";
	if (conn->nwatches >= cfg->grpc_max_watches)
		return "srvgate: too many watches on this connection "
		       "(--grpc-max-watches)";
	if (conn->peer->watches >= cfg->grpc_max_watches_per_address)
		return "srvgate: too many watches from this address "
		       "(--grpc-max-watches-per-address)";
	if (cr->watch_id != 0 && find_watch(ws, cr->watch_id) != NULL)
		return "mvcc: duplicate watch ID provided on the WatchStream";
	return NULL;
}

static int64_t
next_id(struct wstream *ws)
{
	while (find_watch(ws, ws->next_id) != NULL)
		ws->next_id++;
	return ws->next_id++;
}

static uint8_t *
copy_bytes(const ProtobufCBinaryData *b)
{
	uint8_t *p = xmalloc(b->len + 1);

	if (b->len > 0) /* an empty field has no data */
		memcpy(p, b->data, b->len);
	return p;
}

static void
read_filters(struct v3watch *w, const V3__WatchCreateRequest *cr)
{
	size_t i;

	for (i = 0; i < cr->n_filters; i++) {
		if (cr->filters[i] == V3__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT)
			w->no_put = 1;
		else if (cr->filters[i] ==
			 V3__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE)
			w->no_delete = 1;
	}
}

static void
on_create(struct wstream *ws, const V3__WatchCreateRequest *cr)
{
	const char *why = refusal(ws, cr);
	struct grpc_conn *conn = ws->call->conn;
	struct v3range r = { cr->key.data, cr->key.len, cr->range_end.data,
			     cr->range_end.len };
	struct v3watch *w;

	if (why != NULL) {
		watch_control(ws, cr->watch_id ? cr->watch_id : -1, 1, 1, 0, why,
			      0);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->ws = ws;
	w->id = cr->watch_id != 0 ? cr->watch_id : next_id(ws);
	w->key = copy_bytes(&cr->key);
	w->klen = cr->key.len;
	w->end = copy_bytes(&cr->range_end);
	w->elen = cr->range_end.len;
	w->scope = v3range_scope(&r, w->token);
	w->prev_kv = cr->prev_kv;
	read_filters(w, cr);
	w->snext = ws->watches;
	if (w->snext != NULL)
		w->snext->sprev = w;
	ws->watches = w;
	ws->n++;
	ws->hub->count++;
	conn->nwatches++;
	conn->peer->watches++;
	/* created first: events follow it */
	watch_control(ws, w->id, 1, 0, 0, NULL, 0);
	watch_start(w, cr->start_revision > 0 ?
			       (uint64_t)cr->start_revision : 0);
}

static void
on_cancel(struct wstream *ws, int64_t id)
{
	struct v3watch *w = find_watch(ws, id);

	if (w == NULL)
		return; /* etcd answers an unknown ID with nothing */
	watch_remove(w);
	watch_control(ws, id, 0, 1, 0, NULL, 0);
}

/* Every future event of the stream comes after this revision. */
static void
on_progress(struct wstream *ws)
{
	uint64_t rev = ws->hub->api->reg->index;
	struct v3watch *w;

	for (w = ws->watches; w != NULL; w = w->snext)
		if (!w->synced && w->next_rev - 1 < rev)
			rev = w->next_rev - 1;
	watch_control(ws, -1, 0, 0, 0, NULL, rev);
}

static void
on_message(struct grpc_call *c, const uint8_t *msg, size_t len)
{
	struct wstream *ws = c->ctx;
	V3__WatchRequest *rq = v3__watch_request__unpack(NULL, len, msg);

	if (rq == NULL) {
		grpc_call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling "
				 "request: a malformed WatchRequest");
		return;
	}
	if (ws == NULL) {
		ws = xcalloc(1, sizeof(*ws));
		ws->call = c;
		ws->hub = c->conn->api->watches;
		ws->next = ws->hub->streams;
		if (ws->next != NULL)
			ws->next->prev = ws;
		ws->hub->streams = ws;
		c->ctx = ws;
	}
	switch (rq->request_union_case) {
	case V3__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST:
		on_create(ws, rq->create_request);
		break;
	case V3__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST:
		on_cancel(ws, rq->cancel_request->watch_id);
		break;
	case V3__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST:
		on_progress(ws);
		break;
	default:
		break;
	}
	v3__watch_request__free_unpacked(rq, NULL);
	if (!grpc_call_has_room(c, 1))
		grpc_call_pause(c);
}

static void
on_writable(struct grpc_call *c)
{
	struct wstream *ws = c->ctx;

	grpc_call_resume(c);
	if (ws != NULL)
		watch_stream_catch_up(ws);
}

static void
on_close(struct grpc_call *c)
{
	struct wstream *ws = c->ctx;
	struct v3watch_hub *hub;

	if (ws == NULL)
		return;
	hub = ws->hub;
	while (ws->watches != NULL)
		watch_remove(ws->watches);
	if (ws->prev != NULL)
		ws->prev->next = ws->next;
	else
		hub->streams = ws->next;
	if (ws->next != NULL)
		ws->next->prev = ws->prev;
	free(ws);
	c->ctx = NULL;
}

const struct grpc_method grpc_m_watch = {
	"/etcdserverpb.Watch/Watch", M_WATCH, 1, on_message, NULL, on_writable,
	on_close,
};
