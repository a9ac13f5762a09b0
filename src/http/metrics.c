/* metrics.c -- /health and /metrics: every figure the HTTP side exports,
 * in Prometheus text format, written here and nowhere else (other
 * subsystems add theirs through http_api_add_metrics). */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "http_internal.h"
#include "store.h"
#include "version.h"
#include "watch.h"

static const char *route_names[R_COUNT] = {
	"new", "token", "member", "config", "watch", "health", "metrics",
	"admin", "other",
};

/* ---- /health ---- */

struct probe {
	struct http_api *api;
	struct evhttp_request *req;
};

static void
on_probe(void *arg, int ok, const char *why)
{
	struct probe *pr = arg;
	char *body = xmalloc(strlen(why) + 3);

	if (ok)
		strcpy(body, "OK");
	else
		sprintf(body, "%s\n", why);
	http_send(pr->api, pr->req, R_HEALTH, ok ? 200 : 503, HTTP_TEXT, body);
	free(pr);
}

/* Answers whether a write would reach the disk now: one probe a second
 * at most, shared by every caller. */
void
http_health(struct http_api *api, struct evhttp_request *req)
{
	struct probe *pr = xmalloc(sizeof(*pr));

	pr->api = api;
	pr->req = req;
	store_health(api->st, on_probe, pr);
}

/* ---- /metrics ---- */

static void
histogram(struct evbuffer *out, const char *name, const uint64_t *le,
	  uint64_t count, double sum)
{
	size_t i;

	for (i = 0; i < STORE_LATENCY_BUCKETS; i++)
		evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
				    store_latency_bounds[i],
				    (unsigned long long)le[i]);
	evbuffer_add_printf(out,
			    "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
			    "%s_count %llu\n",
			    name, (unsigned long long)count, name, sum, name,
			    (unsigned long long)count);
}

static void
metrics_store(struct evbuffer *out, const struct store *st)
{
	struct store_stats s;

	store_stats(st, &s);
	evbuffer_add_printf(out,
		"# HELP srvgate_storage_commits_total Commits.\n"
		"# TYPE srvgate_storage_commits_total counter\n"
		"srvgate_storage_commits_total %llu\n"
		"# HELP srvgate_storage_commit_failures_total Commits in "
		"which some write was refused.\n"
		"# TYPE srvgate_storage_commit_failures_total counter\n"
		"srvgate_storage_commit_failures_total %llu\n"
		"# HELP srvgate_storage_writes_total Changes committed.\n"
		"# TYPE srvgate_storage_writes_total counter\n"
		"srvgate_storage_writes_total %llu\n"
		"# HELP srvgate_storage_bytes Data file: map, used, limit.\n"
		"# TYPE srvgate_storage_bytes gauge\n"
		"srvgate_storage_bytes{kind=\"map\"} %llu\n"
		"srvgate_storage_bytes{kind=\"used\"} %llu\n"
		"srvgate_storage_bytes{kind=\"max\"} %llu\n"
		"# HELP srvgate_storage_full 1 when the last commit lacked "
		"space.\n"
		"# TYPE srvgate_storage_full gauge\nsrvgate_storage_full %d\n"
		"# HELP srvgate_storage_commit_seconds Commit latency.\n"
		"# TYPE srvgate_storage_commit_seconds histogram\n",
		(unsigned long long)s.commits, (unsigned long long)s.failures,
		(unsigned long long)s.changes,
		(unsigned long long)s.map_bytes,
		(unsigned long long)s.used_bytes,
		(unsigned long long)s.max_bytes, s.full);
	histogram(out, "srvgate_storage_commit_seconds", s.latency_le,
		  s.commits, s.latency_sum);
}

/* How long applying and publishing each commit held the event loop. */
static void
metrics_publish(struct evbuffer *out, const struct registry_stats *s)
{
	evbuffer_add_printf(out,
		"# HELP srvgate_publish_seconds Event loop time to apply one "
		"commit to the registry and every view.\n"
		"# TYPE srvgate_publish_seconds histogram\n");
	histogram(out, "srvgate_publish_seconds", s->publish_le, s->batches,
		  s->publish_sum);
	evbuffer_add_printf(out,
		"# HELP srvgate_publish_max_seconds The longest so far.\n"
		"# TYPE srvgate_publish_max_seconds gauge\n"
		"srvgate_publish_max_seconds %.6f\n", s->publish_max);
}

static void
metrics_requests(struct evbuffer *out, const struct http_api *api)
{
	int r, code;

	evbuffer_add_printf(out,
		"# HELP srvgate_http_requests_total Answered requests.\n"
		"# TYPE srvgate_http_requests_total counter\n");
	for (r = 0; r < R_COUNT; r++)
		for (code = 100; code < 600; code++)
			if (api->requests[r][code] > 0)
				evbuffer_add_printf(out,
					"srvgate_http_requests_total{route=\"%s\","
					"code=\"%d\"} %llu\n",
					route_names[r], code,
					(unsigned long long)api->requests[r][code]);
}

static void
metrics_registry(struct evbuffer *out, const struct http_api *api)
{
	evbuffer_add_printf(out,
		"# HELP srvgate_tokens Discovery tokens.\n"
		"# TYPE srvgate_tokens gauge\nsrvgate_tokens %zu\n"
		"# HELP srvgate_members Registered members.\n"
		"# TYPE srvgate_members gauge\nsrvgate_members %zu\n"
		"# HELP srvgate_index The store-wide etcd index.\n"
		"# TYPE srvgate_index gauge\nsrvgate_index %llu\n"
		"# HELP srvgate_writes_waiting Writes waiting for an earlier "
		"change of the same key.\n"
		"# TYPE srvgate_writes_waiting gauge\n"
		"srvgate_writes_waiting %zu\n",
		api->reg->ntokens, api->reg->nmembers,
		(unsigned long long)api->reg->index, api->reg->nwaiting);
}

/* What the limits on hostile clients did (conn.c, watch caps). */
static void
metrics_shares(struct evbuffer *out, const struct http_api *api)
{
	struct conn_stats s;

	conn_table_stats(api->conns, &s);
	evbuffer_add_printf(out,
		"# HELP srvgate_http_client_addresses Client addresses (IPv6: "
		"/64) holding a connection or a watch.\n"
		"# TYPE srvgate_http_client_addresses gauge\n"
		"srvgate_http_client_addresses %zu\n"
		"# HELP srvgate_http_connections_refused_total Connections "
		"refused for an address at --max-connections-per-address, or "
		"in the slots kept for addresses holding few.\n"
		"# TYPE srvgate_http_connections_refused_total counter\n"
		"srvgate_http_connections_refused_total{reason=\"address\"} "
		"%llu\n"
		"srvgate_http_connections_refused_total{reason=\"reserve\"} "
		"%llu\n"
		"# HELP srvgate_http_watches_refused_total Watches refused for "
		"an address at --max-watches-per-address.\n"
		"# TYPE srvgate_http_watches_refused_total counter\n"
		"srvgate_http_watches_refused_total %llu\n"
		"# HELP srvgate_http_output_held Connections not read while "
		"their unsent answers exceed the cap.\n"
		"# TYPE srvgate_http_output_held gauge\n"
		"srvgate_http_output_held %zu\n"
		"# HELP srvgate_http_output_held_total Times a connection was "
		"held so.\n"
		"# TYPE srvgate_http_output_held_total counter\n"
		"srvgate_http_output_held_total %llu\n",
		s.addresses, (unsigned long long)s.refused_address,
		(unsigned long long)s.refused_reserve,
		(unsigned long long)api->watches_refused, s.held,
		(unsigned long long)s.holds);
}

static void
metrics_http(struct evbuffer *out, const struct http_api *api)
{
	struct conn_stats s;

	conn_table_stats(api->conns, &s);
	evbuffer_add_printf(out,
		"# HELP srvgate_watches_open Watches waiting for a change.\n"
		"# TYPE srvgate_watches_open gauge\nsrvgate_watches_open %zu\n"
		"# HELP srvgate_http_connections Open HTTP connections.\n"
		"# TYPE srvgate_http_connections gauge\n"
		"srvgate_http_connections %zu\n"
		"# HELP srvgate_http_connection_cap_reached_total Times the "
		"connection cap paused accepting.\n"
		"# TYPE srvgate_http_connection_cap_reached_total counter\n"
		"srvgate_http_connection_cap_reached_total %llu\n"
		"# HELP srvgate_http_rate_limited_total Requests refused by "
		"the rate limit.\n"
		"# TYPE srvgate_http_rate_limited_total counter\n"
		"srvgate_http_rate_limited_total %llu\n",
		watch_hub_count(api->watches), s.open,
		(unsigned long long)s.cap_reached,
		(unsigned long long)api->rate_limited);
	metrics_shares(out, api);
}

/* Which build answers: a constant 1 with the version and commit as labels,
 * as Prometheus's own *_build_info. */
static void
metrics_build(struct evbuffer *out)
{
	evbuffer_add_printf(out,
		"# HELP srvgate_build_info The version and git commit srvgate "
		"was built from.\n"
		"# TYPE srvgate_build_info gauge\n"
		"srvgate_build_info{version=\"%s\",commit=\"%s\"} 1\n",
		SRVGATE_VERSION, SRVGATE_COMMIT);
}

void
http_metrics(struct http_api *api, struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();
	size_t i, n;
	char *body;

	metrics_build(out);
	metrics_registry(out, api);
	metrics_http(out, api);
	metrics_requests(out, api);
	metrics_store(out, api->st);
	metrics_publish(out, &api->reg->stats);
	for (i = 0; i < api->nhooks; i++)
		api->hooks[i].fn(out, api->hooks[i].arg);
	n = evbuffer_get_length(out);
	body = xmalloc(n + 1);
	evbuffer_remove(out, body, n);
	body[n] = '\0';
	evbuffer_free(out);
	http_send(api, req, R_METRICS, 200, "text/plain; version=0.0.4", body);
}

void
http_api_add_metrics(struct http_api *api, metrics_fn fn, void *arg)
{
	if (api->nhooks < MAX_METRICS_HOOKS) {
		api->hooks[api->nhooks].fn = fn;
		api->hooks[api->nhooks].arg = arg;
		api->nhooks++;
	}
}
