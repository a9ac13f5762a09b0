/* dns_view.h -- the DNS view as the daemon sees it: made from the
 * registry and the zone files, reloaded on SIGHUP. The view's inside is
 * private to src/dns/. */
#ifndef SRVGATE_DNS_VIEW_H
#define SRVGATE_DNS_VIEW_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct registry;
struct dns_view;

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
};

/* Loads the static zones, synthesizes every token and follows the
 * registry's committed changes. */
struct dns_view *dns_view_new(const struct dns_view_config *cfg,
			      struct registry *reg, struct event_base *base,
			      char *err);
/* Reloads --zones-dir (SIGHUP). On error the old data keeps serving. */
int dns_view_reload(struct dns_view *view, char *err);
uint32_t dns_view_serial(const struct dns_view *view, const char *zone);
size_t dns_view_zone_count(const struct dns_view *view);
size_t dns_view_answer_count(const struct dns_view *view);
void dns_view_free(struct dns_view *view);

#endif
