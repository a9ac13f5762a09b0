/* watch.h -- long-poll watches (`?wait=true`) on tokens and members.
 *
 * A watch is an HTTP request held open until a registry change matches it.
 * The hub learns of changes from registry events, which announce only
 * committed changes, so no client sees what a crash could undo.
 */
#ifndef SRVGATE_WATCH_H
#define SRVGATE_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp_request;
struct registry;
struct share;
struct watch_hub;

/* How the hub answers a request; body is malloc'd and taken over. */
typedef void (*watch_send_fn)(void *arg, struct evhttp_request *req,
			      int code, char *body);

struct watch_hub *watch_hub_new(struct event_base *base, struct registry *reg,
				uint64_t timeout_ms, watch_send_fn send,
				void *send_arg);
/* Holds req until a change at or after `since`: to one member (member set),
 * to any member (recursive), or to the token itself (its deletion). The
 * caller has looked in the history already. The watch counts in owner's
 * watches (the client's network; may be NULL) while it is open. */
void watch_hub_add(struct watch_hub *hub, struct evhttp_request *req,
		   const char *token, const char *member, int recursive,
		   uint64_t since, struct share *owner);
/* Answers every open watch with an empty 200, which etcd polls again. */
void watch_hub_end_all(struct watch_hub *hub);
size_t watch_hub_count(const struct watch_hub *hub);
void watch_hub_free(struct watch_hub *hub);

#endif
