/* config.h -- `srvgate serve` settings from flags and SRVGATE_* variables. */
#ifndef SRVGATE_CONFIG_H
#define SRVGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define CONFIG_LIST_MAX 16
#define CONFIG_FLAGS_MAX 128

/* A repeatable flag's values. */
struct config_list {
	char items[CONFIG_LIST_MAX][256];
	size_t n;
};

struct config {
	char http_listen[128];
	struct config_list dns_listen;
	char zone[256];
	char data_dir[1024];
	uint64_t max_db_size;	   /* the LMDB map grows up to this */
	unsigned commit_gather_us; /* see store_lmdb_config */
	char zones_dir[1024];
	char public_url[512];
	char admin_token[256];
	unsigned max_size;	   /* largest ?size= that /new accepts */
	unsigned max_members;	   /* members one token may hold */
	uint64_t gc_unfilled_ms;   /* 0: tokens never expire */
	uint64_t max_body_bytes;
	uint64_t max_header_bytes;
	unsigned max_connections;
	unsigned max_connections_per_address; /* per IPv4 address, IPv6 /64 */
	unsigned max_watches_per_address;
	uint64_t idle_timeout_ms;  /* to send a whole request */
	uint64_t io_timeout_ms;	   /* between reads or writes */
	uint64_t watch_timeout_ms; /* a watch answers empty after this */
	unsigned rate_limit;	   /* writes per second per client address */
	unsigned rate_burst;
	unsigned rate_limit_ipv4_prefix; /* bits that name a rate-limited client */
	unsigned rate_limit_ipv6_prefix;
	int log_level;
	char log_format[16];	   /* text, logfmt or json */
	char log_file[1024];	   /* "": stderr */
	char access_log[1024];	   /* "": none; "-": stderr */
	/* DNS */
	char ns_name[256];
	char ns_address[128];
	char soa_email[256];
	char srv_name[64];
	unsigned max_published;	   /* peers one token publishes in DNS */
	unsigned record_ttl;
	unsigned negative_ttl;
	unsigned edns_buffer;
	uint64_t dns_tcp_timeout_ms;
	unsigned dns_tcp_max_connections;
	unsigned dns_tcp_max_per_address;
	uint64_t dns_tcp_message_ms; /* a whole TCP message, once begun */
	unsigned edns_buffer_nocookie; /* UDP ceiling without a valid cookie */
	char cookie_secret_file[1024];
	unsigned rrl_rate;	   /* DNS responses per second; 0: off */
	unsigned rrl_slip;
	unsigned rrl_ipv4_prefix, rrl_ipv6_prefix;
	unsigned dns_workers;	   /* UDP worker threads; 0: on the loop */
	unsigned dns_udp_coalesce_us; /* a worker's nap after a small batch */
	/* transfers and NOTIFY */
	struct config_list allow_transfer; /* CIDR[@KEYNAME] */
	struct config_list tsig_keys;	   /* NAME:ALGORITHM:BASE64SECRET */
	struct config_list notify;	   /* HOST:PORT[@KEYNAME] */
	unsigned ixfr_journal;
	/* gRPC: etcd's v3 API */
	struct config_list grpc_listen; /* "off": none */
	int grpc_listen_default;	/* not given: a busy port only warns */
	uint64_t grpc_max_request_bytes;  /* one request message */
	uint64_t grpc_max_response_bytes; /* one response message */
	unsigned grpc_max_streams;	  /* open streams per connection */
	unsigned grpc_max_connections;
	unsigned grpc_max_conns_per_address;
	unsigned grpc_max_watches;	  /* per connection */
	unsigned grpc_max_watches_per_address;
	/* TLS on the gRPC (and HTTP) listeners; reloaded on SIGHUP */
	char tls_cert[1024];
	char tls_key[1024];
	char tls_client_ca[1024]; /* client certificates required */
	char users_file[1024];	  /* gRPC logins; reloaded on SIGHUP */
	/* Several gateways: the etcd store when endpoints are set */
	char etcd_endpoints[2048]; /* URL[,URL...]; "": the LMDB store */
	char etcd_cacert[1024], etcd_cert[1024], etcd_key[1024];
	char etcd_user[128], etcd_password[128];
	char etcd_prefix[201];
	unsigned etcd_max_txn_ops; /* etcd's --max-txn-ops */
	/* Which flags took their value from SRVGATE_* (errors name it). */
	uint8_t set_by_env[CONFIG_FLAGS_MAX];
};

void config_defaults(struct config *cfg);
/* Applies SRVGATE_* variables, then argv (argv[0] is the subcommand).
 * Returns 0, 1 when help was asked for, or -1 with err filled in. */
int config_parse_serve(struct config *cfg, int argc, char **argv, char *err);
void config_usage_serve(FILE *out);
/* How the user set a flag: "--flag", or "SRVGATE_FLAG" when the value
 * came from the environment; for messages about its value. */
const char *config_origin(const struct config *cfg, const char *flag,
			  char *buf, size_t len);

#endif
