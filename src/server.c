/* server.c -- `srvgate serve`: one event loop, signals, shutdown. */
#include "server.h"

#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "gc.h"
#include "grpc.h"
#include "htable.h"
#include "http_api.h"
#include "listener.h"
#include "prefault.h"
#include "registry.h"
#include "store.h"
#include "tls.h"

#define DRAIN_POLL_MS 50
#define DRAIN_MAX_MS 5000

struct server {
	const struct config *cfg;
	struct event_base *base;
	struct registry reg;
	struct store *st;
	struct gc *gc;
	struct http_api *http;
	struct grpc_api *grpc;
	struct tls *tls; /* NULL: no --tls-cert */
	struct dns_view *view;
	struct dns_server *dns;
	struct xfr *xfr;
	struct event *sigterm, *sigint, *sighup, *drain_timer;
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
	if (!store_busy(s->st) && http_api_connections(s->http) == 0 &&
	    grpc_api_connections(s->grpc) == 0 &&
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
	grpc_api_drain(s->grpc);
	arm_ms(s->drain_timer, DRAIN_POLL_MS);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	errbuf_t err;

	(void)sig;
	(void)what;
	log_reopen(); /* after logrotate moved the files away */
	if (tls_reload(s->tls, err) != 0)
		log_error("SIGHUP: TLS not reloaded, the old certificate keeps "
			  "serving: %s", err);
	else if (s->tls != NULL)
		log_info("SIGHUP: reloaded %s", s->cfg->tls_cert);
	grpc_api_reload(s->grpc);
	if (dns_view_reload(s->view, err) != 0)
		log_error("SIGHUP: zones not reloaded, the old data keeps "
			  "serving: %s", err);
	else
		log_info("SIGHUP: reloaded %zu zones from %s (%zu answers)",
			 dns_view_zone_count(s->view), s->cfg->zones_dir,
			 dns_view_answer_count(s->view));
	switch (dns_server_reload_cookie_secret(s->dns, err)) {
	case -1:
		log_error("SIGHUP: DNS cookie secret not changed: %s", err);
		break;
	case 1:
		log_info("SIGHUP: new DNS cookie secret from %s (the previous "
			 "one still verifies)", s->cfg->cookie_secret_file);
		break;
	}
}

static void
free_event(struct event *ev)
{
	if (ev != NULL)
		event_free(ev);
}

/* The registry and the DNS data a stopping server leaves to the exit: at
 * 100k tokens, freeing their millions of small blocks one by one took 7
 * to 18 s of a shutdown, and the kernel takes the memory back at once.
 * Pointed at from here they stay reachable (no leak for valgrind or
 * LeakSanitizer). SRVGATE_FREE_AT_EXIT=1 frees everything, as the tests
 * do (tests/lib.sh), so that the freeing code stays checked. */
static struct registry *volatile left_registry; /* volatile: never read, */
static struct dns_view *volatile left_view;	/* yet must be kept */

static int
free_at_exit(void)
{
	const char *v = getenv("SRVGATE_FREE_AT_EXIT");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

static void
server_free(struct server *s)
{
	int free_all = free_at_exit();

	/* The store first: its last commits settle into modules that are
	 * still there. */
	store_close(s->st);
	free_event(s->sigterm);
	free_event(s->sigint);
	free_event(s->sighup);
	free_event(s->drain_timer);
	gc_free(s->gc);
	http_api_free(s->http);
	grpc_api_free(s->grpc);
	tls_free(s->tls);
	if (!free_all)
		dns_workers_leave_at_exit();
	dns_server_free(s->dns);
	xfr_free(s->xfr);
	if (free_all) {
		dns_view_free(s->view);
		registry_free(&s->reg);
	} else {
		left_view = s->view;
		left_registry = xmalloc(sizeof(s->reg));
		*left_registry = s->reg;
	}
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
		c->max_published, c->data_dir,
	};
	struct dns_server_config dc = {
		.listen = c->dns_listen.items, .nlisten = c->dns_listen.n,
		.edns_buffer = (uint16_t)c->edns_buffer,
		.tcp_idle_ms = c->dns_tcp_timeout_ms,
		.tcp_max_connections = c->dns_tcp_max_connections,
		.tcp_message_ms = c->dns_tcp_message_ms,
		.tcp_max_per_address = c->dns_tcp_max_per_address,
		.edns_buffer_nocookie = (uint16_t)c->edns_buffer_nocookie,
		.cookie_secret_file = c->cookie_secret_file,
		.rrl_rate = c->rrl_rate, .rrl_slip = c->rrl_slip,
		.rrl_ipv4_prefix = c->rrl_ipv4_prefix,
		.rrl_ipv6_prefix = c->rrl_ipv6_prefix,
		.workers = c->dns_workers,
		.udp_coalesce_us = c->dns_udp_coalesce_us,
	};

	s->view = dns_view_new(&vc, &s->reg, err);
	if (s->view == NULL ||
	    xfr_new(&s->xfr, s->base, c, s->view, err) != 0)
		return -1;
	dc.xfr = s->xfr;
	return dns_server_start(&s->dns, s->base, &dc, s->view, err);
}

/* The registry is filled from the store before any view is made, so
 * every view starts from the durable state. */
static int
open_store(struct server *s, char *err)
{
	struct store_lmdb_config lc = { s->cfg->data_dir, s->cfg->max_db_size,
					0, s->cfg->commit_gather_us };
	struct store_sink sink;

	const struct config *c = s->cfg;
	struct store_etcd_config ec = { c->etcd_endpoints, c->etcd_cacert,
					c->etcd_cert, c->etcd_key,
					c->etcd_user, c->etcd_password,
					c->etcd_prefix, c->data_dir };

	registry_init(&s->reg, s->cfg->max_members);
	sink = registry_sink(&s->reg);
	if (c->etcd_endpoints[0] != '\0' ?
	    store_etcd_open(&s->st, &ec, s->base, &sink, err) != 0 :
	    store_lmdb_open(&s->st, &lc, s->base, &sink, err) != 0)
		return -1;
	registry_set_store(&s->reg, s->st);
	return store_load(s->st, err);
}

static int
server_setup(struct server *s, char *err)
{
	struct event_config *ec = event_config_new();
	uint64_t t0, t1;
	int rc;

	/* Batch epoll_ctl calls: evhttp turns reading on and off per request. */
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	s->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (s->base == NULL)
		return fail(err, "cannot create the event loop");
	prefault_start();
	t0 = now_monotonic_ns();
	rc = open_store(s, err);
	t1 = now_monotonic_ns();
	if (rc == 0)
		rc = start_dns(s, err);
	prefault_stop();
	if (rc != 0)
		return -1;
	/* What a restart costs, for an operator sizing one. */
	log_info("startup: store loaded in %.2f s, DNS answers prepared in "
		 "%.2f s", (double)(t1 - t0) / 1e9,
		 (double)(now_monotonic_ns() - t1) / 1e9);
	if (tls_new(&s->tls, s->cfg->tls_cert, s->cfg->tls_key,
		    s->cfg->tls_client_ca, err) != 0 ||
	    http_api_start(&s->http, s->base, s->cfg, &s->reg, s->st, s->tls,
			   err))
		return -1;
	http_api_add_metrics(s->http, dns_server_metrics, s->dns);
	http_api_add_metrics(s->http, xfr_metrics, s->xfr);
	http_api_add_metrics(s->http, dns_view_metrics, s->view);
	if (s->cfg->etcd_endpoints[0] != '\0')
		http_api_add_metrics(s->http, store_etcd_metrics, s->st);
	if (grpc_api_start(&s->grpc, s->base, s->cfg, &s->reg, s->st, s->tls,
			   err))
		return -1;
	http_api_add_metrics(s->http, grpc_api_metrics, s->grpc);
	s->sigterm = evsignal_new(s->base, SIGTERM, on_stop_signal, s);
	s->sigint = evsignal_new(s->base, SIGINT, on_stop_signal, s);
	s->sighup = evsignal_new(s->base, SIGHUP, on_hup, s);
	s->drain_timer = evtimer_new(s->base, on_drain_tick, s);
	event_add(s->sigterm, NULL);
	event_add(s->sigint, NULL);
	event_add(s->sighup, NULL);
	s->gc = gc_start(s->base, &s->reg, s->st, s->cfg->gc_unfilled_ms);
	return 0;
}

static int
open_logs(const struct config *cfg, char *err)
{
	log_threshold = (enum log_level)cfg->log_level;
	log_set_format(strcmp(cfg->log_format, "json") == 0 ? LOG_JSON :
		       strcmp(cfg->log_format, "logfmt") == 0 ? LOG_LOGFMT :
								 LOG_TEXT);
	if (log_open(cfg->log_file, err) != 0 ||
	    log_open_access(cfg->access_log, err) != 0)
		return -1;
	return 0;
}

/* A relative path as the absolute one it means here: starting in another
 * directory silently gives another (empty) registry. */
static const char *
absolute(const char *path, char *buf, size_t len)
{
	const char *rel = strncmp(path, "./", 2) == 0 ? path + 2 : path;
	char cwd[PATH_MAX];

	if (realpath(path, buf) != NULL)
		return buf;
	/* Not there (yet): still say where it is looked for. */
	snprintf(buf, len, "%s", path);
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL &&
	    strlen(cwd) + strlen(rel) + 2 <= len) {
		strcpy(buf, cwd);
		strcat(buf, "/");
		strcat(buf, rel);
	}
	return buf;
}

static void
log_started(const struct server *s)
{
	const struct config *c = s->cfg;
	char dns[CONFIG_LIST_MAX * 260] = "", data[4096], zones[4096];
	size_t i, n = 0, static_zones = dns_view_zone_count(s->view) - 1;

	for (i = 0; i < c->dns_listen.n && n < sizeof(dns); i++)
		n += (size_t)snprintf(dns + n, sizeof(dns) - n, "%s%s",
				      i ? ", " : "", c->dns_listen.items[i]);
	log_info("srvgate %s: HTTP on %s, DNS on %s for %s%s, data in %s "
		 "(%zu tokens, %zu members, index %llu), zone files from %s "
		 "(%zu other zones), URLs under %s",
		 SRVGATE_VERSION, c->http_listen, dns, c->zone,
		 static_zones ? "" : " only", absolute(c->data_dir, data,
							sizeof(data)),
		 s->reg.ntokens, s->reg.nmembers,
		 (unsigned long long)s->reg.index,
		 absolute(c->zones_dir, zones, sizeof(zones)), static_zones,
		 c->public_url);
}

int
server_run(const struct config *cfg, char *err)
{
	struct server s;
	int rc = -1;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	if (open_logs(cfg, err) != 0)
		return -1;
	hash_init();
	signal(SIGPIPE, SIG_IGN);
	listener_raise_fd_limit();
	if (server_setup(&s, err) == 0) {
		log_started(&s);
		event_base_dispatch(s.base);
		log_info("stopped");
		rc = 0;
	}
	server_free(&s);
	log_close();
	return rc;
}
