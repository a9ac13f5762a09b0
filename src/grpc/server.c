/* server.c -- the gRPC front end's life: listening, admitting connections
 * (at most --grpc-max-connections, and --grpc-max-connections-per-address
 * from one client address), draining, metrics. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "grpc_internal.h"
#include "listener.h"
#include "ratelimit.h"
#include "store.h"

/* A stable 64-bit name (FNV-1a) for the IDs etcdctl prints. */
static uint64_t
fnv64(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void
grpc_header(const struct grpc_api *api, V3__ResponseHeader *h)
{
	v3__response_header__init(h);
	h->cluster_id = api->cluster_id;
	h->member_id = api->member_id;
	h->revision = (int64_t)api->reg->index;
	h->raft_term = 1;
}

/* ---- client addresses ---- */

struct grpc_peer *
grpc_peer_get(struct grpc_api *api, const char *addr)
{
	uint64_t h = hash_str(addr);
	struct hnode *n;
	struct grpc_peer *p;

	for (n = htable_chain(&api->peers, h); n != NULL; n = n->next) {
		p = container_of(n, struct grpc_peer, node);
		if (n->hash == h && strcmp(p->addr, addr) == 0)
			return p;
	}
	p = xcalloc(1, sizeof(*p));
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	htable_insert(&api->peers, &p->node, h);
	return p;
}

/* Forgets an address that holds nothing open any more. */
void
grpc_peer_put(struct grpc_api *api, struct grpc_peer *p)
{
	if (p == NULL || p->conns > 0 || p->watches > 0)
		return;
	htable_remove(&api->peers, &p->node);
	free(p);
}

/* ---- accepting ---- */

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	struct grpc_api *api = arg;
	const struct config *cfg = api->cfg;
	struct grpc_peer *peer;
	char addr[64];

	(void)l;
	(void)salen;
	format_addr(sa, addr, sizeof(addr));
	peer = grpc_peer_get(api, addr);
	if (api->draining || api->nconns >= cfg->grpc_max_connections ||
	    peer->conns >= cfg->grpc_max_conns_per_address) {
		/* Closed at once: an HTTP/2 client sees the connection fail
		 * and tries again later, as after any refused dial. */
		log_debug("grpc: %s refused (%zu open, %u from it)", addr,
			  api->nconns, peer->conns);
		api->stats.conns_refused++;
		/* no call was read: one access line for the connection */
		log_access(&(struct access_entry){ "grpc", addr, "-", "-",
						   GRPC_UNAVAILABLE, 0, 0 });
		close(fd);
		grpc_peer_put(api, peer);
		return;
	}
	api->stats.conns_accepted++;
	if (grpc_conn_open(api, fd, addr) != 0)
		close(fd); /* the peer went with the connection */
}

static int
listen_on(struct grpc_api *api, const char *hostport, char *err)
{
	struct sockaddr_storage ss;
	struct evconnlistener *l;
	socklen_t len;
	errbuf_t why;

	if (api->nlisteners == sizeof(api->listeners) / sizeof(api->listeners[0]))
		return fail(err, "--grpc-listen: too many addresses");
	if (parse_sockaddr(hostport, &ss, &len, why) != 0)
		return fail(err, "--grpc-listen: %s", why);
	l = evconnlistener_new_bind(api->base, on_accept, api,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					    LEV_OPT_CLOSE_ON_EXEC,
				    1024, (struct sockaddr *)&ss, (int)len);
	if (l == NULL)
		return fail(err, "cannot listen for gRPC on %s", hostport);
	listener_pause_on_error(l);
	api->listeners[api->nlisteners++] = l;
	return 0;
}

int
grpc_api_start(struct grpc_api **out, struct event_base *base,
	       const struct config *cfg, struct registry *reg,
	       struct store *st, struct tls *tls, char *err)
{
	struct grpc_api *api = xcalloc(1, sizeof(*api));
	char id[600];
	size_t i;

	*out = api;
	api->base = base;
	api->cfg = cfg;
	api->reg = reg;
	api->st = st;
	api->tls = tls;
	htable_init(&api->peers);
	snprintf(id, sizeof(id), "srvgate %s", cfg->public_url);
	api->member_id = fnv64(id);
	snprintf(id, sizeof(id), "srvgate zone %s", cfg->zone);
	api->cluster_id = fnv64(id);
	api->limiter = ratelimit_new(&(struct ratelimit_config){
		.rate = cfg->rate_limit, .burst = cfg->rate_burst,
		.v4_prefix = 32, .v6_prefix = 64, .max_clients = 65536 });
	if (grpc_auth_new(&api->auth, cfg->users_file, err) != 0)
		return -1;
	api->watches = grpc_watch_hub_new(api);
	if (api->watches == NULL)
		return fail(err, "gRPC: the registry takes no more listeners");
	for (i = 0; i < cfg->grpc_listen.n; i++) {
		if (strcmp(cfg->grpc_listen.items[i], "off") == 0)
			continue;
		if (listen_on(api, cfg->grpc_listen.items[i], err) == 0) {
			log_info("gRPC (etcd v3 API) on %s%s",
				 cfg->grpc_listen.items[i],
				 tls ? " with TLS" : "");
			continue;
		}
		if (!cfg->grpc_listen_default)
			return -1;
		/* Not asked for: another srvgate may hold the default. */
		log_warn("gRPC (etcd v3 API) not served: %s; give "
			 "--grpc-listen to serve it elsewhere", err);
	}
	return 0;
}

void
grpc_api_drain(struct grpc_api *api)
{
	struct grpc_conn *c, *next;
	size_t i;

	if (api == NULL || api->draining)
		return;
	api->draining = 1;
	for (i = 0; i < api->nlisteners; i++)
		evconnlistener_disable(api->listeners[i]);
	/* Watches end with Unavailable: etcd's client then reconnects,
	 * by then to the next server. */
	grpc_watch_hub_end_all(api->watches);
	for (c = api->conns; c != NULL; c = next) {
		next = c->next;
		grpc_conn_goaway(c);
	}
}

void
grpc_api_reload(struct grpc_api *api)
{
	errbuf_t err;

	if (api == NULL || api->auth == NULL)
		return;
	if (grpc_auth_reload(api->auth, err) != 0)
		log_error("SIGHUP: users not reloaded, the old ones stay: %s",
			  err);
	else
		log_info("SIGHUP: reloaded %s", api->cfg->users_file);
}

size_t
grpc_api_connections(const struct grpc_api *api)
{
	return api ? api->nconns : 0;
}

void
grpc_api_free(struct grpc_api *api)
{
	size_t i;

	if (api == NULL)
		return;
	while (api->conns != NULL)
		grpc_conn_free(api->conns);
	for (i = 0; i < api->nlisteners; i++)
		evconnlistener_free(api->listeners[i]);
	grpc_watch_hub_free(api->watches);
	grpc_auth_free(api->auth);
	ratelimit_free(api->limiter);
	htable_free(&api->peers);
	free(api);
}

/* ---- metrics ---- */

static const char *const METHOD_NAMES[M_COUNT] = {
	"Range", "Put", "DeleteRange", "Txn", "Watch", "Status",
	"MemberList", "Authenticate", "unknown",
};

void
grpc_api_metrics(struct evbuffer *out, void *arg)
{
	const struct grpc_api *api = arg;
	const struct grpc_stats *s = &api->stats;
	int m, code;

	evbuffer_add_printf(out,
		"# HELP srvgate_grpc_calls_total gRPC calls by method and "
		"status.\n# TYPE srvgate_grpc_calls_total counter\n");
	for (m = 0; m < M_COUNT; m++)
		for (code = 0; code < GRPC_CODES; code++)
			if (s->calls[m][code] != 0)
				evbuffer_add_printf(out,
					"srvgate_grpc_calls_total{method=\"%s\","
					"code=\"%s\"} %llu\n", METHOD_NAMES[m],
					grpc_code_name((enum grpc_code)code),
					(unsigned long long)s->calls[m][code]);
	evbuffer_add_printf(out,
		"# TYPE srvgate_grpc_connections gauge\n"
		"srvgate_grpc_connections %zu\n"
		"# TYPE srvgate_grpc_connections_total counter\n"
		"srvgate_grpc_connections_total{result=\"accepted\"} %llu\n"
		"srvgate_grpc_connections_total{result=\"refused\"} %llu\n"
		"srvgate_grpc_connections_total{result=\"protocol_error\"} %llu\n"
		"# TYPE srvgate_grpc_watches gauge\n"
		"srvgate_grpc_watches %zu\n"
		"# TYPE srvgate_grpc_watch_events_total counter\n"
		"srvgate_grpc_watch_events_total %llu\n"
		"# TYPE srvgate_grpc_watch_catchups_total counter\n"
		"srvgate_grpc_watch_catchups_total %llu\n"
		"# TYPE srvgate_grpc_watch_compacted_total counter\n"
		"srvgate_grpc_watch_compacted_total %llu\n"
		"# TYPE srvgate_grpc_rate_limited_total counter\n"
		"srvgate_grpc_rate_limited_total %llu\n",
		api->nconns, (unsigned long long)s->conns_accepted,
		(unsigned long long)s->conns_refused,
		(unsigned long long)s->conns_closed_bad,
		grpc_watch_hub_count(api->watches),
		(unsigned long long)s->watch_events,
		(unsigned long long)s->watch_catchups,
		(unsigned long long)s->watch_compacted,
		(unsigned long long)s->rate_limited);
}

int
grpc_check_config(const struct config *cfg, char *err)
{
	struct grpc_auth *a = NULL;
	char o[64], why[ERRBUF_SIZE];
	const char *flag = "--users-file ", *rest = why;

	if (grpc_auth_new(&a, cfg->users_file, err) == 0) {
		grpc_auth_free(a);
		return 0;
	}
	/* Named as the user set it: the flag or SRVGATE_USERS_FILE. */
	snprintf(why, sizeof(why), "%s", err);
	if (strncmp(why, flag, strlen(flag)) == 0)
		rest += strlen(flag);
	return fail(err, "%s: %s", config_origin(cfg, "users-file", o,
						  sizeof(o)), rest);
}
