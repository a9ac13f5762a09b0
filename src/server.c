/* server.c -- `srvgate serve`: one event loop, signals, shutdown. */
#include "server.h"

#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns_server.h"
#include "dns_view.h"
#include "http_api.h"
#include "listener.h"
#include "xfr.h"
#include "registry.h"
#include "storage.h"

#define DRAIN_POLL_MS 50
#define DRAIN_MAX_MS 5000

struct server {
	const struct config *cfg;
	struct event_base *base;
	struct registry reg;
	struct storage *st;
	struct http_api *http;
	struct dns_view *view;
	struct dns_server *dns;
	struct xfr *xfr;
	struct event *sigterm, *sigint, *sighup, *gc_timer, *drain_timer;
	uint64_t drain_started;
	int draining;
};

static void
arm_ms(struct event *ev, uint64_t ms)
{
	struct timeval tv = timeval_from_ms(ms);

	evtimer_add(ev, &tv);
}

/* Ends the loop once the last commits are answered (or time is up). */
static void
on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	if (now_monotonic_ms() - s->drain_started > DRAIN_MAX_MS) {
		http_api_log_open(s->http);
		event_base_loopbreak(s->base);
		return;
	}
	if (!storage_busy(s->st) && http_api_connections(s->http) == 0 &&
	    s->draining++ > 2) {
		event_base_loopbreak(s->base);
		return;
	}
	arm_ms(s->drain_timer, DRAIN_POLL_MS);
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	if (s->drain_started != 0)
		return;
	log_info("signal %d: draining", (int)sig);
	s->drain_started = now_monotonic_ms();
	http_api_drain(s->http);
	arm_ms(s->drain_timer, DRAIN_POLL_MS);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	errbuf_t err;

	(void)sig;
	(void)what;
	if (dns_view_reload(s->view, err) != 0)
		log_error("SIGHUP: zones not reloaded, the old data keeps "
			  "serving: %s", err);
	else
		log_info("SIGHUP: reloaded %zu zones from %s (%zu answers)",
			 dns_view_zone_count(s->view), s->cfg->zones_dir,
			 dns_view_answer_count(s->view));
}

/* ---- garbage collection of tokens that never filled ---- */

struct gc_scan {
	int64_t cutoff;
	char (*names)[REGISTRY_NAME_MAX + 1];
	size_t n, cap;
};

static void
gc_collect(const struct token *tok, void *arg)
{
	struct gc_scan *g = arg;

	if (token_is_full(tok) || tok->created_at > g->cutoff)
		return;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->names = xrealloc(g->names, g->cap * sizeof(*g->names));
	}
	strcpy(g->names[g->n++], tok->name);
}

static void
on_gc(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct gc_scan g = { now_unix() -
				     (int64_t)(s->cfg->gc_unfilled_ms / 1000),
			     NULL, 0, 0 };
	size_t i;

	(void)fd;
	(void)what;
	registry_foreach_token(&s->reg, gc_collect, &g);
	for (i = 0; i < g.n; i++)
		registry_delete_token(&s->reg, g.names[i]);
	if (g.n > 0)
		log_info("gc: deleted %zu tokens that did not fill within "
			 "%llus", g.n,
			 (unsigned long long)(s->cfg->gc_unfilled_ms / 1000));
	free(g.names);
}

static void
start_gc(struct server *s)
{
	uint64_t every = s->cfg->gc_unfilled_ms / 10;
	struct timeval tv;

	if (s->cfg->gc_unfilled_ms == 0)
		return;
	if (every > 60000)
		every = 60000;
	if (every < 100)
		every = 100;
	tv = timeval_from_ms(every);
	s->gc_timer = event_new(s->base, -1, EV_PERSIST, on_gc, s);
	evtimer_add(s->gc_timer, &tv);
}

static void
free_event(struct event *ev)
{
	if (ev != NULL)
		event_free(ev);
}

static void
server_free(struct server *s)
{
	free_event(s->sigterm);
	free_event(s->sigint);
	free_event(s->sighup);
	free_event(s->gc_timer);
	free_event(s->drain_timer);
	http_api_free(s->http);
	dns_server_free(s->dns);
	xfr_free(s->xfr);
	dns_view_free(s->view);
	storage_close(s->st);
	registry_free(&s->reg);
	if (s->base != NULL)
		event_base_free(s->base);
}

static int
start_dns(struct server *s, char *err)
{
	const struct config *c = s->cfg;
	struct dns_view_config vc = {
		c->zone, c->zones_dir, c->ns_name, c->ns_address, c->soa_email,
		c->srv_name,
		c->record_ttl, c->negative_ttl, c->ixfr_journal,
	};
	struct dns_server_config dc = {
		c->dns_listen.items, c->dns_listen.n, (uint16_t)c->edns_buffer,
		c->dns_tcp_timeout_ms, c->dns_tcp_max_connections,
		xfr_answer_tcp, NULL, xfr_answer_signed,
	};

	s->view = dns_view_new(&vc, &s->reg, s->base, err);
	if (s->view == NULL ||
	    xfr_new(&s->xfr, s->base, c, s->view, err) != 0)
		return -1;
	dc.xfr_arg = s->xfr;
	return dns_server_start(&s->dns, s->base, &dc, s->view, err);
}

static int
server_setup(struct server *s, char *err)
{
	struct event_config *ec = event_config_new();

	/* Batch epoll_ctl calls: evhttp turns reading on and off per request. */
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	s->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (s->base == NULL)
		return fail(err, "cannot create the event loop");
	registry_init(&s->reg, s->cfg->max_members);
	if (storage_open(&s->st, s->cfg->data_dir, s->base, err) != 0 ||
	    storage_load(s->st, &s->reg, err) != 0 ||
	    storage_attach(s->st, &s->reg) != 0)
		return -1;
	if (start_dns(s, err) != 0)
		return -1;
	if (http_api_start(&s->http, s->base, s->cfg, &s->reg, s->st, err))
		return -1;
	http_api_add_metrics(s->http, dns_server_metrics, s->dns);
	http_api_add_metrics(s->http, xfr_metrics, s->xfr);
	s->sigterm = evsignal_new(s->base, SIGTERM, on_stop_signal, s);
	s->sigint = evsignal_new(s->base, SIGINT, on_stop_signal, s);
	s->sighup = evsignal_new(s->base, SIGHUP, on_hup, s);
	s->drain_timer = evtimer_new(s->base, on_drain_tick, s);
	event_add(s->sigterm, NULL);
	event_add(s->sigint, NULL);
	event_add(s->sighup, NULL);
	start_gc(s);
	return 0;
}

int
server_run(const struct config *cfg, char *err)
{
	struct server s;
	int rc = -1;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	log_threshold = (enum log_level)cfg->log_level;
	signal(SIGPIPE, SIG_IGN);
	listener_raise_fd_limit();
	if (server_setup(&s, err) == 0) {
		log_info("srvgate %s: HTTP on %s, DNS on %s%s for %s and %zu "
			 "zones, data in %s (%zu tokens, %zu members, index "
			 "%llu), URLs under %s",
			 SRVGATE_VERSION, cfg->http_listen, cfg->dns_listen.items[0],
			 cfg->dns_listen.n > 1 ? " and more" : "", cfg->zone,
			 dns_view_zone_count(s.view), cfg->data_dir,
			 s.reg.ntokens, s.reg.nmembers,
			 (unsigned long long)s.reg.index, cfg->public_url);
		event_base_dispatch(s.base);
		log_info("stopped");
		rc = 0;
	}
	server_free(&s);
	return rc;
}
