/* dns.h -- srvgate's authoritative DNS, as the daemon sees it.
 *
 * Three parts, started in this order:
 * - the view: the static zones of --zones-dir plus, in the token zone, the
 *   SRV, A and AAAA records of every token's published members, kept up to
 *   date from the registry's committed changes and reloaded on SIGHUP;
 * - the transfer service: AXFR and IXFR to secondaries, NOTIFY when a zone
 *   changes, and the TSIG keys and access rules that guard them;
 * - the server: UDP and TCP sockets (RFC 7766) on the event loop, or on
 *   --dns-workers threads that answer from their own copy of the view
 *   (src/dns/workers.c: UDP on each, TCP on the first; transfers are
 *   handed to the event loop).
 *
 * For a token T in zone Z, its published members (the first min(size,
 * --max-published) by created index) appear as _etcd-server-ssl._tcp.T.Z
 * (https peers) and _etcd-server._tcp.T.Z (http peers), priority 0,
 * weight 0; a peer given by IP gets the target <member-id>.T.Z with an A
 * or AAAA record. Aliases publish the same records under their own names.
 * Everything else is private to src/dns/.
 */
#ifndef SRVGATE_DNS_H
#define SRVGATE_DNS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct evbuffer;
struct registry;
struct dns_view;
struct dns_server;
struct xfr;

/* ---- the view ---- */

struct dns_view_config {
	const char *zone;	/* the token zone */
	const char *zones_dir;	/* static *.zone files */
	const char *ns_name;	/* NS of a generated token zone */
	const char *ns_address;	/* its glue when inside the zone; or "" */
	const char *soa_email;	/* SOA RNAME of a generated token zone */
	const char *srv_name;	/* also publish _etcd-server[-ssl]-NAME */
	uint32_t ttl;		/* of synthesized records */
	uint32_t neg_ttl;	/* SOA minimum of a generated token zone */
	size_t journal_max;	/* differences kept for IXFR */
	unsigned max_published;	/* members one token publishes, at most */
	/* --data-dir: where the token zone's serial base is kept, so that
	 * the serial never goes back across restarts; NULL: not kept */
	const char *state_dir;
};

/* Loads the static zones, publishes every token and follows the
 * registry's committed changes: what a commit changed is in every answer,
 * transfer and serial, and NOTIFY is on its way, before the commit's
 * requests are answered. */
struct dns_view *dns_view_new(const struct dns_view_config *cfg,
			      struct registry *reg, char *err);
/* Reloads --zones-dir (SIGHUP). On error the old data keeps serving. */
int dns_view_reload(struct dns_view *view, char *err);
/* The serial of a zone ("name." as in its origin), or of the token zone
 * for NULL; 0 for no such zone. */
uint32_t dns_view_serial(const struct dns_view *view, const char *zone);
size_t dns_view_zone_count(const struct dns_view *view);
size_t dns_view_answer_count(const struct dns_view *view);
/* Prometheus text for /metrics: how long publishing commits took. */
void dns_view_metrics(struct evbuffer *out, void *view);
void dns_view_free(struct dns_view *view);

/* ---- transfers and NOTIFY ---- */

/* Reads --tsig-key, --allow-transfer and --notify, and sends NOTIFY to the
 * --notify targets whenever a zone of the view changes. */
int xfr_new(struct xfr **out, struct event_base *base,
	    const struct config *cfg, struct dns_view *view, char *err);
/* Checks those three flags' values alone, before anything is opened; the
 * message names the flag or its SRVGATE_ variable. */
int xfr_check_config(const struct config *cfg, char *err);
/* Those and --cookie-secret-file (check.c). */
int dns_check_config(const struct config *cfg, char *err);
void xfr_metrics(struct evbuffer *out, void *xfr);
void xfr_free(struct xfr *x);

/* ---- the server ---- */

struct dns_server_config {
	const char (*listen)[256]; /* HOST:PORT each, UDP and TCP */
	size_t nlisten;
	uint16_t edns_buffer;
	uint64_t tcp_idle_ms;	   /* a TCP client must send within this */
	unsigned tcp_max_connections;
	struct xfr *xfr; /* transfers and TSIG keys; NULL: neither */
	/* hostile clients */
	uint64_t tcp_message_ms;   /* to send a whole message, once begun */
	unsigned tcp_max_per_address; /* an IPv4 address or IPv6 /64 */
	uint16_t edns_buffer_nocookie; /* UDP ceiling without a cookie */
	const char *cookie_secret_file; /* "" or NULL: a random secret */
	unsigned rrl_rate;	   /* responses per second; 0: no RRL */
	unsigned rrl_slip;
	unsigned rrl_ipv4_prefix, rrl_ipv6_prefix;
	/* UDP worker threads, each with its own SO_REUSEPORT socket on
	 * every address; 0: UDP on the event loop */
	unsigned workers;
	/* a worker's nap after a small batch of queries (workers.c); 0: none */
	unsigned udp_coalesce_us;
};

int dns_server_start(struct dns_server **out, struct event_base *base,
		     const struct dns_server_config *cfg,
		     struct dns_view *view, char *err);
/* Reads --cookie-secret-file again (SIGHUP): a new secret makes cookies
 * from now on and the one before still verifies. 1 when the secret
 * changed, 0 when not, -1 with err (the secrets stay as they were). */
int dns_server_reload_cookie_secret(struct dns_server *srv, char *err);
/* Prometheus text for /metrics. */
void dns_server_metrics(struct evbuffer *out, void *server);
/* Stops listening; open TCP connections are closed. */
void dns_server_free(struct dns_server *srv);
/* From now on dns_server_free leaves each UDP worker's copy of the answers
 * to the process's exit instead of freeing it (kept reachable). */
void dns_workers_leave_at_exit(void);

#endif
