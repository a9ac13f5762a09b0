/* watch.h -- what the Watch method's files share: watches, the streams
 * that hold them, the hub that feeds them, and events. watch.c feeds and
 * catches up, watch_stream.c serves the method, watch_events.c makes
 * events. Not for use outside src/grpc/. */
#ifndef SRVGATE_GRPC_WATCH_H
#define SRVGATE_GRPC_WATCH_H

#include "grpc_internal.h"
#include "keyspace.h"

/* One event, from a commit (owning its value) or from the registry's
 * state while catching up (pointing into it). */
struct wevent {
	int del;
	uint64_t rev;
	char key[V3_KEY_MAX];
	size_t klen;
	const char *value;
	int own; /* value and prev_value are copies */
	int64_t create, mod, version;
	int has_prev;
	const char *prev_value;
	int64_t prev_create, prev_mod, prev_version;
	char size[24], prev_size[24]; /* a size key's value */
};

struct wstream;

struct v3watch {
	struct wstream *ws;
	int64_t id;
	uint8_t *key, *end;
	size_t klen, elen;
	enum v3range_scope scope;
	char token[REGISTRY_NAME_MAX + 1]; /* V3SCOPE_TOKEN */
	int prev_kv, no_put, no_delete;
	uint64_t next_rev; /* every event below it is sent, or not wanted */
	int synced;
	/* this commit's events for it: indexes into hub->events */
	uint32_t *batch;
	size_t nbatch, batch_cap;
	int dirty;
	struct v3watch *dnext;
	struct wgroup *group;
	struct v3watch *gprev, *gnext; /* in its group */
	struct v3watch *sprev, *snext; /* in its stream */
	struct v3watch *uprev, *unext; /* behind: in hub->unsynced */
};

/* The watches of one token; hub->wide holds those of many. */
struct wgroup {
	struct hnode node;
	char token[REGISTRY_NAME_MAX + 1];
	struct v3watch *head;
};

/* One Watch call. */
struct wstream {
	struct grpc_call *call;
	struct v3watch_hub *hub;
	struct v3watch *watches;
	size_t n;
	int64_t next_id;
	struct wstream *prev, *next;
};

struct v3watch_hub {
	struct grpc_api *api;
	struct htable groups;
	struct wgroup wide;
	struct v3watch *unsynced;
	struct event *catchup_ev;
	struct wstream *streams;
	struct wevent *events; /* of the commit being announced */
	size_t nevents, events_cap;
	struct v3watch *dirty; /* watches with events in it */
	size_t count;
};

/* watch.c */
void watch_start(struct v3watch *w, uint64_t start_revision);
void watch_remove(struct v3watch *w);
void watch_stream_catch_up(struct wstream *ws);
/* A response that is no event: created, canceled, compacted, progress
 * (revision 0: the registry's). */
void watch_control(struct wstream *ws, int64_t id, int created,
		   int canceled, int64_t compact, const char *reason,
		   uint64_t revision);

/* watch_events.c */
/* An event of a member (or, m NULL, the size key) of tok at rev. A
 * deletion carries the key as it was, when with_prev. */
void wevent_fill(struct wevent *ev, int del, const struct token *tok,
		 const struct member *m, uint64_t rev, int with_prev,
		 int copy);
void wevent_clear(struct wevent *ev);
int wevent_wanted(const struct v3watch *w, const struct wevent *ev);
/* Into protobuf, pointing at ev's strings. */
void wevent_to_pb(const struct wevent *ev, int want_prev, V3__Event *e,
		  V3__KeyValue *kv, V3__KeyValue *prev);
/* The events w missed, from the registry's state, oldest first: at most
 * max, in *evs (malloc'd). */
size_t watch_collect(const struct v3watch *w, size_t max,
		     struct wevent **evs);
/* The oldest revision w's keys still have every deletion from. */
uint64_t watch_history_floor(const struct v3watch *w);

#endif
