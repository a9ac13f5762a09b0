/* workers.h -- DNS on threads of their own (--dns-workers): each worker
 * has a SO_REUSEPORT UDP socket on every --dns-listen address and answers
 * from its own replica of the view (replica.h), which the main loop feeds
 * one settled batch at a time; worker 0 also serves TCP. */
#ifndef SRVGATE_DNS_WORKERS_H
#define SRVGATE_DNS_WORKERS_H

#include <stdint.h>

#include "answer.h"
#include "cookie.h"

struct dns_server;
struct dns_view;
struct dns_workers;
struct evbuffer;
struct pub_batch;
struct tcp_gauges;

/* Opens main->cfg.workers workers' sockets, gives them the whole view and
 * starts their threads; the view feeds them from now on. */
int workers_start(struct dns_workers **out, struct dns_server *main,
		  struct dns_view *view, char *err);
unsigned workers_count(const struct dns_workers *w);
/* Hands a settled batch to every worker (it is theirs now). */
void workers_publish(struct dns_workers *w, struct pub_batch *b);
/* New cookie secrets (SIGHUP), to every worker. */
void workers_cookies(struct dns_workers *w, const struct cookie_secrets *s);
/* Adds the workers' counters (the TCP worker's TCP ones to tcp) as they
 * last published them. */
void workers_add_stats(const struct dns_workers *w, struct dns_stats *sum,
		       uint64_t cookies[COOKIE_VALID + 1],
		       struct tcp_gauges *tcp);
/* Per-worker lines for /metrics. */
void workers_metrics(struct evbuffer *out, const struct dns_workers *w);
/* Stops and joins the threads; closes their sockets; frees their replicas
 * unless dns_workers_leave_at_exit was called. NULL: nothing. */
void workers_stop(struct dns_workers *w);

#endif
