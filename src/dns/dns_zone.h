/* dns_zone.h -- the DNS view: static zones from --zones-dir plus the
 * records synthesized from the registry, with every answer prepared in wire
 * form ahead of the queries that will want it.
 *
 * For a token T in zone Z, the cluster members (the first `size` by
 * createdIndex) are published as _etcd-server-ssl._tcp.T.Z (https peers)
 * and _etcd-server._tcp.T.Z (http peers), priority 0, weight 0. A peer given
 * by IP gets the target <member-id>.T.Z with an A or AAAA record.
 */
#ifndef SRVGATE_DNS_ZONE_H
#define SRVGATE_DNS_ZONE_H

#include <stddef.h>
#include <stdint.h>

#include "dns_wire.h"
#include "dns_view.h"
#include "util.h"

struct event_base;
struct registry;
struct dns_view;
struct dns_zone;


/* A whole response for one name and type; the query path copies it and
 * patches the ID, flags, question and OPT. */
struct dns_answer {
	uint8_t *wire;
	size_t len;
	size_t noadd_len; /* length without the additional section */
	uint16_t arcount;
	uint16_t type;
};

/* Records that follow a copied question: the SOA of a negative answer, or
 * the NS and glue of a referral. Names are not compressed. */
struct dns_chunk {
	uint8_t *wire;
	size_t len;
	size_t noadd_len;
	uint16_t ancount, nscount, arcount;
	/* Offsets in wire that get a compression pointer to the zone apex
	 * inside the question (which ends with it) when the chunk is sent. */
	uint16_t apex_ptr_at[3];
	uint8_t napex_ptrs;
	uint8_t apex_len;
};

enum dns_lookup_kind {
	LOOKUP_REFUSED,	 /* not a zone of ours */
	LOOKUP_ANSWER,
	LOOKUP_NODATA,
	LOOKUP_NXDOMAIN,
	LOOKUP_REFERRAL, /* below a delegation: not authoritative */
};

struct dns_lookup {
	enum dns_lookup_kind kind;
	const struct dns_answer *answer; /* LOOKUP_ANSWER */
	const struct dns_chunk *chunk;	 /* negative or referral records */
	const struct dns_zone *zone;
};

/* Loads the static zones, synthesizes every token and listens for changes.
 * Token changes are applied at the end of the loop iteration that made
 * them, before any HTTP answer about them goes out. */

/* Reloads --zones-dir (SIGHUP). On error the old data keeps serving. */

/* Classifies a question; qname is lower-case wire format. No allocation. */
void dns_view_lookup(const struct dns_view *view, const uint8_t *qname,
		     uint16_t qtype, struct dns_lookup *out);
/* ---- for zone transfers ---- */

/* The zone whose apex is exactly name (lower-case wire), or NULL. */
const struct dns_zone *dns_view_find_zone(const struct dns_view *view,
					  const uint8_t *apex);
const char *dns_zone_origin(const struct dns_zone *z);
uint32_t dns_zone_serial(const struct dns_zone *z);

/* Records for AXFR (RFC 5936): the SOA, every other record, the SOA again.
 * Returns a list of ldns_rr the caller frees with ldns_rr_list_deep_free. */
struct ldns_struct_rr_list *dns_view_axfr(const struct dns_view *view,
					   const struct dns_zone *z);
/* Records for IXFR (RFC 1995) from serial `from`: the difference sequence,
 * or NULL when the journal does not reach back that far. */
struct ldns_struct_rr_list *dns_view_ixfr(const struct dns_view *view,
					   const struct dns_zone *z,
					   uint32_t from);

/* Called after a zone's data changed (origin with the final dot). */
typedef void (*dns_change_fn)(const char *origin, void *arg);
void dns_view_on_change(struct dns_view *view, dns_change_fn fn, void *arg);






#endif
