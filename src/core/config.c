/* config.c -- `srvgate serve` settings from flags and SRVGATE_* variables.
 *
 * One table describes every flag: its name, how to parse it and where it
 * goes. The environment variable is the flag name in upper case with '_'
 * for '-', behind SRVGATE_, as etcd does with ETCD_*.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

enum kind { K_STRING, K_LIST, K_UINT, K_DURATION, K_SIZE, K_LOGLEVEL };

struct flag {
	const char *name;
	enum kind kind;
	size_t offset;
	size_t len;	   /* K_STRING: buffer size */
	uint64_t min, max; /* K_UINT, K_SIZE */
	const char *help;
};

/* Where a flag's value goes, and (for strings) how much room it has. */
#define F(field) \
	offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define U(field) offsetof(struct config, field), 0

static const struct flag flags[] = {
	{ "http-listen", K_STRING, F(http_listen), 0, 0,
	  "HOST:PORT of the discovery API [127.0.0.1:8087]" },
	{ "dns-listen", K_LIST, U(dns_listen), 0, 0,
	  "HOST:PORT for DNS over UDP and TCP; repeatable [127.0.0.1:5300]" },
	{ "zone", K_STRING, F(zone), 0, 0,
	  "zone that tokens are published under [discovery.internal]" },
	{ "data-dir", K_STRING, F(data_dir), 0, 0,
	  "directory of the durable state [./data]" },
	{ "max-db-size", K_SIZE, U(max_db_size), 1 << 20, 1ull << 40,
	  "largest the data file may grow; when full, writes get 507 and "
	  "deletions still work [16G]" },
	{ "commit-gather-us", K_UINT, U(commit_gather_us), 0, 100000,
	  "microseconds at most that a group commit waits for the next "
	  "requests of the clients the last one answered, and never more "
	  "than the last commit took, so that they share its sync "
	  "instead of waiting for two; 0: no wait (local store) [2000]" },
	{ "zones-dir", K_STRING, F(zones_dir), 0, 0,
	  "directory of static zone files [./zones]" },
	{ "public-url", K_STRING, F(public_url), 0, 0,
	  "base of the URLs /new hands out [http://<http-listen>]" },
	{ "admin-token", K_STRING, F(admin_token), 0, 0,
	  "bearer token that DELETE and /_admin/ need; empty: both answer "
	  "403 [empty]" },
	{ "max-size", K_UINT, U(max_size), 1, 100000,
	  "largest cluster size /new accepts [1000]" },
	{ "max-members", K_UINT, U(max_members), 1, 100000,
	  "members one token may hold [1000]" },
	{ "gc-unfilled-after", K_DURATION, U(gc_unfilled_ms), 0, 0,
	  "delete tokens that have not reached their size after this; "
	  "0: never [0]" },
	{ "max-body-bytes", K_SIZE, U(max_body_bytes), 64, 1 << 24,
	  "largest request body [65536]" },
	{ "max-header-bytes", K_SIZE, U(max_header_bytes), 256, 1 << 20,
	  "largest request head [8192]" },
	{ "max-connections", K_UINT, U(max_connections), 1, 1000000,
	  "open HTTP connections at most; the last 5% only for addresses "
	  "holding fewer than 4 [4096]" },
	{ "max-connections-per-address", K_UINT,
	  U(max_connections_per_address), 1, 1000000,
	  "open HTTP connections per IPv4 address or IPv6 /64 [64]" },
	{ "max-watches-per-address", K_UINT, U(max_watches_per_address), 1,
	  1000000, "open watches per IPv4 address or IPv6 /64; more get 503 "
	  "[1000]" },
	{ "idle-timeout", K_DURATION, U(idle_timeout_ms), 0, 0,
	  "time a connection has to send its next whole request [60s]" },
	{ "io-timeout", K_DURATION, U(io_timeout_ms), 0, 0,
	  "time a client may stall a read or write [10s]" },
	{ "watch-timeout", K_DURATION, U(watch_timeout_ms), 0, 0,
	  "a watch with no event answers empty (etcd polls again); "
	  "0: never [5m]" },
	{ "rate-limit", K_UINT, U(rate_limit), 0, 1000000,
	  "/new and registrations per second per client address; 0: off [50]" },
	{ "rate-burst", K_UINT, U(rate_burst), 1, 1000000,
	  "requests a client address may make at once [100]" },
	{ "rate-limit-ipv4-prefix", K_UINT, U(rate_limit_ipv4_prefix), 1, 32,
	  "IPv4 prefix length that the rate limit counts as one client [32]" },
	{ "rate-limit-ipv6-prefix", K_UINT, U(rate_limit_ipv6_prefix), 1, 128,
	  "IPv6 prefix length that the rate limit counts as one client [64]" },
	{ "log-level", K_LOGLEVEL, U(log_level), 0, 0,
	  "error, warn, info or debug [info]" },
	{ "log-format", K_STRING, F(log_format), 0, 0,
	  "text, logfmt or json: how log lines (and the state-change and "
	  "access lines) are written [text]" },
	{ "log-file", K_STRING, F(log_file), 0, 0,
	  "write the log here, reopened on SIGHUP; empty or -: stderr [empty]" },
	{ "access-log", K_STRING, F(access_log), 0, 0,
	  "one line per request here, reopened on SIGHUP; -: stderr; "
	  "empty: none [empty]" },
	{ "ns-name", K_STRING, F(ns_name), 0, 0,
	  "NS of the token zone when it has no zone file [ns1.<zone>]" },
	{ "ns-address", K_STRING, F(ns_address), 0, 0,
	  "address of --ns-name when it is inside the zone (glue) "
	  "[the first --dns-listen address unless it is a wildcard]" },
	{ "soa-email", K_STRING, F(soa_email), 0, 0,
	  "SOA mailbox of the token zone when it has no zone file "
	  "[hostmaster.<zone>]" },
	{ "srv-name", K_STRING, F(srv_name), 0, 0,
	  "also publish _etcd-server[-ssl]-NAME._tcp (etcd's "
	  "--discovery-srv-name) [empty]" },
	{ "max-published", K_UINT, U(max_published), 1, 1000,
	  "peers (the first by registration) one token publishes in DNS; "
	  "bounds an answer and a rebuild [64]" },
	{ "record-ttl", K_UINT, U(record_ttl), 0, 604800,
	  "TTL of the records made from registrations, seconds [60]" },
	{ "negative-ttl", K_UINT, U(negative_ttl), 0, 86400,
	  "SOA minimum (negative TTL) of a generated token zone [30]" },
	{ "edns-buffer", K_UINT, U(edns_buffer), 512, 4096,
	  "largest UDP answer with EDNS, bytes [1232]" },
	{ "dns-tcp-timeout", K_DURATION, U(dns_tcp_timeout_ms), 0, 0,
	  "idle time before a DNS TCP connection is closed [10s]" },
	{ "dns-tcp-max-connections", K_UINT, U(dns_tcp_max_connections), 1,
	  1000000, "open DNS TCP connections at most [100]" },
	{ "dns-tcp-max-per-address", K_UINT, U(dns_tcp_max_per_address), 1,
	  1000000, "DNS TCP connections one address (IPv6: /64) may hold; "
	  "the last quarter of the slots go to addresses holding none [8]" },
	{ "dns-tcp-message-timeout", K_DURATION, U(dns_tcp_message_ms), 0, 0,
	  "time a DNS TCP client has to send a whole message once begun, "
	  "however it trickles [2s]" },
	{ "edns-buffer-nocookie", K_UINT, U(edns_buffer_nocookie), 512, 4096,
	  "largest UDP answer to a client without a valid DNS cookie, "
	  "bytes [1232]" },
	{ "cookie-secret-file", K_STRING, F(cookie_secret_file), 0, 0,
	  "file with the DNS cookie secret (32 hex digits), re-read on "
	  "SIGHUP; empty: random at start [empty]" },
	{ "rrl-rate", K_UINT, U(rrl_rate), 0, 1000000,
	  "DNS UDP responses per second per source prefix and response "
	  "class; 0: no rate limiting (production: 200) [0]" },
	{ "rrl-slip", K_UINT, U(rrl_slip), 0, 100,
	  "every Nth rate-limited response goes out truncated; 0: none [2]" },
	{ "rrl-ipv4-prefix", K_UINT, U(rrl_ipv4_prefix), 8, 32,
	  "IPv4 prefix length that rate limiting groups sources by [24]" },
	{ "rrl-ipv6-prefix", K_UINT, U(rrl_ipv6_prefix), 16, 128,
	  "IPv6 prefix length that rate limiting groups sources by [56]" },
	{ "dns-workers", K_UINT, U(dns_workers), 0, 256,
	  "DNS worker threads, each with its own SO_REUSEPORT UDP socket "
	  "on every --dns-listen address, the first also serving TCP "
	  "(transfers stay on the main loop); 0: UDP and TCP on the main "
	  "event loop [the CPUs srvgate may run on]" },
	{ "dns-udp-coalesce-us", K_UINT, U(dns_udp_coalesce_us), 0, 1000,
	  "microseconds a UDP worker waits after a batch of fewer than 16 "
	  "queries before it reads again, so that fewer wake-ups serve more "
	  "queries (interrupt coalescing; a query waits at most twice "
	  "this); 0: none [50]" },
	{ "allow-transfer", K_LIST, U(allow_transfer), 0, 0,
	  "CIDR[@KEYNAME] allowed AXFR/IXFR, with that TSIG key if named; "
	  "repeatable [none]" },
	{ "tsig-key", K_LIST, U(tsig_keys), 0, 0,
	  "NAME:ALGORITHM:BASE64SECRET, e.g. xfr:hmac-sha256:...; "
	  "repeatable [none]" },
	{ "notify", K_LIST, U(notify), 0, 0,
	  "HOST:PORT[@KEYNAME] sent a NOTIFY after each change; "
	  "repeatable [none]" },
	{ "ixfr-journal", K_UINT, U(ixfr_journal), 0, 1000000,
	  "changes kept for IXFR; older serials get the whole zone [1000]" },
	{ "grpc-listen", K_LIST, U(grpc_listen), 0, 0,
	  "HOST:PORT for etcd's v3 gRPC API (v3 discovery, etcdctl); "
	  "repeatable; off: none [127.0.0.1:8089, skipped when busy]" },
	{ "grpc-max-request-bytes", K_SIZE, U(grpc_max_request_bytes), 1024,
	  1 << 24, "largest gRPC request message [256K]" },
	{ "grpc-max-response-bytes", K_SIZE, U(grpc_max_response_bytes), 65536,
	  1 << 30, "largest gRPC response message; a larger range needs a "
	  "limit [4M]" },
	{ "grpc-max-streams", K_UINT, U(grpc_max_streams), 1, 10000,
	  "concurrent gRPC calls per connection [100]" },
	{ "grpc-max-connections", K_UINT, U(grpc_max_connections), 1, 1000000,
	  "open gRPC connections at most [4096]" },
	{ "grpc-max-connections-per-address", K_UINT,
	  U(grpc_max_conns_per_address), 1, 1000000,
	  "open gRPC connections per client address [32]" },
	{ "grpc-max-watches", K_UINT, U(grpc_max_watches), 1, 1000000,
	  "v3 watches per gRPC connection [100]" },
	{ "grpc-max-watches-per-address", K_UINT,
	  U(grpc_max_watches_per_address), 1, 1000000,
	  "v3 watches per client address [1000]" },
	{ "tls-cert", K_STRING, F(tls_cert), 0, 0,
	  "PEM certificate chain: the HTTP port speaks HTTPS and the gRPC "
	  "port TLS (ALPN h2); SIGHUP reloads it [empty: no TLS]" },
	{ "tls-key", K_STRING, F(tls_key), 0, 0,
	  "PEM private key of --tls-cert [empty]" },
	{ "tls-client-ca", K_STRING, F(tls_client_ca), 0, 0,
	  "PEM CA certificates: clients must show a certificate they "
	  "signed [empty: none asked]" },
	{ "users-file", K_STRING, F(users_file), 0, 0,
	  "name:crypt-hash lines: gRPC clients log in (etcd's "
	  "--discovery-user) to use the key space; SIGHUP reloads it "
	  "[empty: no logins]" },
	{ "etcd-endpoints", K_STRING, F(etcd_endpoints), 0, 0,
	  "URL[,URL...] of an etcd v3 cluster that holds the state, shared "
	  "by every gateway using it [empty: the local LMDB store]" },
	{ "etcd-cacert", K_STRING, F(etcd_cacert), 0, 0,
	  "PEM CA certificates that sign etcd's (https:// endpoints) "
	  "[the system's]" },
	{ "etcd-cert", K_STRING, F(etcd_cert), 0, 0,
	  "PEM client certificate for etcd [empty]" },
	{ "etcd-key", K_STRING, F(etcd_key), 0, 0,
	  "PEM private key of --etcd-cert [empty]" },
	{ "etcd-user", K_STRING, F(etcd_user), 0, 0,
	  "etcd user to log in as (RBAC) [empty: no login]" },
	{ "etcd-password", K_STRING, F(etcd_password), 0, 0,
	  "password of --etcd-user [empty]" },
	{ "etcd-prefix", K_STRING, F(etcd_prefix), 0, 0,
	  "etcd key prefix of srvgate's own data (beside /_etcd/registry/) "
	  "[/srvgate/]" },
	{ "etcd-max-txn-ops", K_UINT, U(etcd_max_txn_ops), 8, 1000000,
	  "operations etcd takes in one Txn: its own --max-txn-ops, set the "
	  "same; bigger imports and syncs are written in parts that fit, "
	  "each registration stays one Txn [128]" },
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))
_Static_assert(NFLAGS <= CONFIG_FLAGS_MAX, "raise CONFIG_FLAGS_MAX");

/* One UDP worker per CPU this process may run on (taskset counts). */
static unsigned
cpus_usable(void)
{
	cpu_set_t set;
	int n = 1;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->http_listen, "127.0.0.1:8087");
	strcpy(cfg->dns_listen.items[0], "127.0.0.1:5300");
	cfg->dns_listen.n = 1;
	strcpy(cfg->zone, "discovery.internal");
	strcpy(cfg->data_dir, "./data");
	strcpy(cfg->zones_dir, "./zones");
	cfg->max_db_size = 16ull << 30;
	cfg->commit_gather_us = 2000;
	cfg->max_published = 64;
	cfg->max_size = 1000;
	cfg->max_members = 1000;
	cfg->max_body_bytes = 65536;
	cfg->max_header_bytes = 8192;
	cfg->max_connections = 4096;
	cfg->max_connections_per_address = 64;
	cfg->max_watches_per_address = 1000;
	cfg->idle_timeout_ms = 60000;
	cfg->io_timeout_ms = 10000;
	cfg->watch_timeout_ms = 300000;
	cfg->rate_limit = 50;
	cfg->rate_burst = 100;
	cfg->rate_limit_ipv4_prefix = 32;
	cfg->rate_limit_ipv6_prefix = 64;
	cfg->log_level = LOG_INFO;
	strcpy(cfg->log_format, "text");
	cfg->record_ttl = 60;
	cfg->negative_ttl = 30;
	cfg->edns_buffer = 1232;
	cfg->dns_tcp_timeout_ms = 10000;
	cfg->dns_tcp_max_connections = 100;
	cfg->dns_tcp_max_per_address = 8;
	cfg->dns_tcp_message_ms = 2000;
	cfg->edns_buffer_nocookie = 1232;
	cfg->rrl_slip = 2;
	cfg->rrl_ipv4_prefix = 24;
	cfg->rrl_ipv6_prefix = 56;
	cfg->dns_workers = cpus_usable();
	cfg->dns_udp_coalesce_us = 50;
	cfg->ixfr_journal = 1000;
	cfg->grpc_max_request_bytes = 256 * 1024;
	cfg->grpc_max_response_bytes = 4 * 1024 * 1024;
	cfg->grpc_max_streams = 100;
	cfg->grpc_max_connections = 4096;
	cfg->grpc_max_conns_per_address = 32;
	cfg->grpc_max_watches = 100;
	cfg->grpc_max_watches_per_address = 1000;
	strcpy(cfg->etcd_prefix, "/srvgate/");
	cfg->etcd_max_txn_ops = 128;
}

static int
parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t mult = 1;

	if (n == 0 || n >= sizeof(num))
		return -1;
	strcpy(num, s);
	switch (toupper((unsigned char)num[n - 1])) {
	case 'K': mult = 1024; break;
	case 'M': mult = 1024 * 1024; break;
	case 'G': mult = 1024 * 1024 * 1024; break;
	}
	if (mult != 1)
		num[n - 1] = '\0';
	if (parse_uint(num, 0, UINT64_MAX / mult, out) != 0)
		return -1;
	*out *= mult;
	return 0;
}

/* How a parse goes: where values come from (named in errors), and which
 * list flags have had their default replaced. */
struct parse_state {
	char origin[64]; /* "--flag" or "SRVGATE_FLAG" */
	uint8_t list_reset[CONFIG_FLAGS_MAX];
};

static int
set_flag(struct config *cfg, const struct flag *f, const char *v,
	 struct parse_state *ps, char *err)
{
	const char *o = ps->origin;
	char *base = (char *)cfg + f->offset;
	uint64_t n;
	static const char *levels[] = { "error", "warn", "info", "debug" };
	int i;

	switch (f->kind) {
	case K_STRING:
		if (strlen(v) >= f->len)
			return fail(err, "%s: value is too long", o);
		strcpy(base, v);
		return 0;
	case K_LIST: {
		struct config_list *l = (struct config_list *)base;
		size_t at = (size_t)(f - flags);

		/* The first use of a list flag replaces its default. */
		if (!ps->list_reset[at]) {
			l->n = 0;
			ps->list_reset[at] = 1;
		}
		if (l->n == CONFIG_LIST_MAX || strlen(v) >= sizeof(l->items[0]))
			return fail(err, "%s: at most %d values of %zu bytes",
				    o, CONFIG_LIST_MAX,
				    sizeof(l->items[0]) - 1);
		strcpy(l->items[l->n++], v);
		return 0;
	}
	case K_UINT:
		if (parse_uint(v, f->min, f->max, &n) != 0)
			return fail(err, "%s: '%s' is not a whole number "
				    "from %llu to %llu", o, v,
				    (unsigned long long)f->min,
				    (unsigned long long)f->max);
		*(unsigned *)base = (unsigned)n;
		return 0;
	case K_SIZE:
		if (parse_size(v, &n) != 0 || n < f->min || n > f->max)
			return fail(err, "%s: '%s' is not a size from %llu "
				    "to %llu bytes", o, v,
				    (unsigned long long)f->min,
				    (unsigned long long)f->max);
		*(uint64_t *)base = n;
		return 0;
	case K_DURATION:
		if (parse_duration_ms(v, &n) != 0)
			return fail(err, "%s: '%s' is not a duration "
				    "(like 90s, 5m, 12h, 7d)", o, v);
		*(uint64_t *)base = n;
		return 0;
	case K_LOGLEVEL:
		for (i = 0; i < 4; i++)
			if (strcmp(v, levels[i]) == 0) {
				*(int *)base = i;
				return 0;
			}
		return fail(err, "%s: '%s' is not error, warn, info or debug",
			    o, v);
	}
	return fail(err, "%s: unknown kind", o);
}

static void
env_name(const char *flag, char *out, size_t outlen)
{
	size_t i = (size_t)snprintf(out, outlen, "SRVGATE_");

	for (; *flag != '\0' && i + 1 < outlen; flag++)
		out[i++] = *flag == '-' ? '_' : (char)toupper((unsigned char)*flag);
	out[i] = '\0';
}

const char *
config_origin(const struct config *cfg, const char *flag, char *buf,
	      size_t len)
{
	size_t i;

	for (i = 0; i < NFLAGS; i++)
		if (strcmp(flags[i].name, flag) == 0 && cfg->set_by_env[i]) {
			env_name(flag, buf, len);
			return buf;
		}
	snprintf(buf, len, "--%s", flag);
	return buf;
}

static int
apply_env(struct config *cfg, char *err)
{
	char name[64];
	size_t i;

	for (i = 0; i < NFLAGS; i++) {
		struct parse_state ps;
		const char *v;

		env_name(flags[i].name, name, sizeof(name));
		v = getenv(name);
		if (v == NULL)
			continue;
		memset(&ps, 0, sizeof(ps));
		snprintf(ps.origin, sizeof(ps.origin), "%s", name);
		cfg->set_by_env[i] = 1;
		if (flags[i].kind == K_LIST) {
			/* A list: comma separated. */
			char buf[1024], *save = NULL, *tok;

			snprintf(buf, sizeof(buf), "%s", v);
			for (tok = strtok_r(buf, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save))
				if (set_flag(cfg, &flags[i], tok, &ps, err))
					return -1;
			continue;
		}
		if (set_flag(cfg, &flags[i], v, &ps, err) != 0)
			return -1;
	}
	return 0;
}

/* The NS's glue defaults to where DNS listens, when that is one address. */
static void
default_ns_address(struct config *cfg)
{
	char host[128];
	unsigned port;

	if (cfg->dns_listen.n == 0 ||
	    split_hostport(cfg->dns_listen.items[0], host, sizeof(host),
			   &port) != 0 ||
	    host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0 || strcmp(host, "*") == 0)
		return;
	snprintf(cfg->ns_address, sizeof(cfg->ns_address), "%s", host);
}

/* The flag (or SRVGATE_ variable) a value came from, for messages;
 * o is the caller's buffer. */
#define ORIGIN(flag) config_origin(cfg, flag, o, sizeof(o))

/* Fills the DNS names that default from --zone; "a@b.c" becomes "a.b.c". */
static int
check_dns(struct config *cfg, char *err)
{
	size_t n = strlen(cfg->zone);
	char o[64], *at;

	if (n == 0 || n > 200 || strspn(cfg->zone, "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
				     != n)
		return fail(err, "%s: '%s' is not a domain name",
			    ORIGIN("zone"), cfg->zone);
	if (cfg->ns_name[0] == '\0')
		snprintf(cfg->ns_name, sizeof(cfg->ns_name), "ns1.%s.",
			 cfg->zone);
	if (cfg->soa_email[0] == '\0')
		snprintf(cfg->soa_email, sizeof(cfg->soa_email),
			 "hostmaster.%s.", cfg->zone);
	if (cfg->ns_address[0] == '\0')
		default_ns_address(cfg);
	at = strchr(cfg->soa_email, '@');
	if (at != NULL)
		*at = '.';
	if (cfg->srv_name[0] != '\0' && !registry_valid_name(cfg->srv_name))
		return fail(err, "%s: '%s' must be lower-case letters, digits "
			    "and '-'", ORIGIN("srv-name"), cfg->srv_name);
	return 0;
}

/* 0.0.0.0, [::] or no host: every address, so no name for URLs. */
static int
is_wildcard(const char *hostport)
{
	char host[128];
	unsigned port;

	return split_hostport(hostport, host, sizeof(host), &port) == 0 &&
	       (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
		strcmp(host, "::") == 0 || strcmp(host, "*") == 0);
}

static int
check_logs(struct config *cfg, char *err)
{
	char o[64];

	if (strcmp(cfg->log_format, "text") != 0 &&
	    strcmp(cfg->log_format, "logfmt") != 0 &&
	    strcmp(cfg->log_format, "json") != 0)
		return fail(err, "%s: '%s' is not text, logfmt or json",
			    ORIGIN("log-format"), cfg->log_format);
	return 0;
}

/* What follows an http:// or https:// scheme; NULL: neither. */
static const char *
after_http_scheme(const char *url)
{
	return strncmp(url, "http://", 7) == 0	  ? url + 7 :
	       strncmp(url, "https://", 8) == 0 ? url + 8 :
						    NULL;
}

/* --etcd-*: checked here, so a typo exits 2 before anything is opened. */
static int
check_etcd(const struct config *cfg, char *err)
{
	char list[sizeof(cfg->etcd_endpoints)], *save = NULL, *url, o[64];
	size_t n = strlen(cfg->etcd_prefix);

	snprintf(list, sizeof(list), "%s", cfg->etcd_endpoints);
	for (url = strtok_r(list, ",", &save); url != NULL;
	     url = strtok_r(NULL, ",", &save)) {
		const char *host = after_http_scheme(url);

		if (host == NULL || *host == '\0' || *host == '/' ||
		    *host == ':')
			return fail(err, "%s: '%s' is not an http:// or "
				    "https:// URL", ORIGIN("etcd-endpoints"),
				    url);
	}
	if (n < 2 || cfg->etcd_prefix[0] != '/' ||
	    cfg->etcd_prefix[n - 1] != '/' ||
	    strncmp(cfg->etcd_prefix, "/_etcd/registry/", n) == 0 ||
	    strncmp(cfg->etcd_prefix, "/_etcd/registry/", 16) == 0)
		return fail(err, "%s: '%s' must start and end with '/' and "
			    "lie outside /_etcd/registry/",
			    ORIGIN("etcd-prefix"), cfg->etcd_prefix);
	if (cfg->etcd_key[0] != '\0' && cfg->etcd_cert[0] == '\0')
		return fail(err, "--etcd-key needs --etcd-cert");
	if ((cfg->etcd_user[0] == '\0') != (cfg->etcd_password[0] == '\0'))
		return fail(err, "--etcd-user and --etcd-password go together");
	return 0;
}

static int
check_config(struct config *cfg, char *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	errbuf_t why;
	size_t i;

	char o[64];

	if (parse_sockaddr(cfg->http_listen, &ss, &len, why) != 0)
		return fail(err, "%s: %s", ORIGIN("http-listen"), why);
	for (i = 0; i < cfg->dns_listen.n; i++)
		if (parse_sockaddr(cfg->dns_listen.items[i], &ss, &len, why))
			return fail(err, "%s: %s", ORIGIN("dns-listen"), why);
	if (cfg->grpc_listen.n == 0) {
		strcpy(cfg->grpc_listen.items[0], "127.0.0.1:8089");
		cfg->grpc_listen.n = 1;
		cfg->grpc_listen_default = 1;
	}
	for (i = 0; i < cfg->grpc_listen.n; i++)
		if (strcmp(cfg->grpc_listen.items[i], "off") != 0 &&
		    parse_sockaddr(cfg->grpc_listen.items[i], &ss, &len, why))
			return fail(err, "%s: %s", ORIGIN("grpc-listen"), why);
	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0'))
		return fail(err, "--tls-cert and --tls-key go together");
	if (cfg->tls_client_ca[0] != '\0' && cfg->tls_cert[0] == '\0')
		return fail(err, "--tls-client-ca needs --tls-cert and --tls-key");
	if (cfg->max_size > cfg->max_members)
		return fail(err, "--max-size (%u) exceeds --max-members (%u)",
			    cfg->max_size, cfg->max_members);
	if (check_dns(cfg, err) != 0 || check_logs(cfg, err) != 0 ||
	    check_etcd(cfg, err) != 0)
		return -1;
	if (cfg->public_url[0] == '\0' && is_wildcard(cfg->http_listen))
		return fail(err, "%s: required when the HTTP listener %s is a "
			    "wildcard address (else /new would hand out "
			    "http://%s/<token>)", ORIGIN("public-url"),
			    cfg->http_listen, cfg->http_listen);
	if (cfg->public_url[0] == '\0')
		snprintf(cfg->public_url, sizeof(cfg->public_url), "%s://%s",
			 cfg->tls_cert[0] != '\0' ? "https" : "http",
			 cfg->http_listen);
	i = strlen(cfg->public_url);
	while (i > 0 && cfg->public_url[i - 1] == '/')
		cfg->public_url[--i] = '\0';
	if (after_http_scheme(cfg->public_url) == NULL)
		return fail(err, "%s: '%s' is not an http(s) URL",
			    ORIGIN("public-url"), cfg->public_url);
	return 0;
}

int
config_parse_serve(struct config *cfg, int argc, char **argv, char *err)
{
	struct option opts[NFLAGS + 2];
	struct parse_state ps;
	int c, idx;
	size_t i;

	memset(&ps, 0, sizeof(ps));
	if (apply_env(cfg, err) != 0)
		return -1;
	for (i = 0; i < NFLAGS; i++) {
		opts[i].name = flags[i].name;
		opts[i].has_arg = required_argument;
		opts[i].flag = NULL;
		opts[i].val = 0;
	}
	opts[NFLAGS] = (struct option){ "help", no_argument, NULL, 'h' };
	memset(&opts[NFLAGS + 1], 0, sizeof(opts[0]));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
		if (c == 'h')
			return 1;
		if (c == '?')
			return fail(err, "unknown flag '%s' (see srvgate serve "
				    "--help)", argv[optind - 1]);
		if (c == ':')
			return fail(err, "flag '%s' needs a value",
				    argv[optind - 1]);
		snprintf(ps.origin, sizeof(ps.origin), "--%s", flags[idx].name);
		cfg->set_by_env[idx] = 0;
		if (set_flag(cfg, &flags[idx], optarg, &ps, err))
			return -1;
	}
	if (optind < argc)
		return fail(err, "unexpected argument '%s'", argv[optind]);
	return check_config(cfg, err);
}

void
config_usage_serve(FILE *out)
{
	char env[64];
	size_t i;

	fprintf(out, "usage: srvgate serve [flags]\n\n"
		     "Every flag can also come from the environment variable "
		     "named on its right.\n\n");
	for (i = 0; i < NFLAGS; i++) {
		env_name(flags[i].name, env, sizeof(env));
		fprintf(out, "  --%-20s %s\n  %-22s (%s)\n", flags[i].name,
			flags[i].help, "", env);
	}
}
