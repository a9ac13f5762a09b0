/* view.h -- the DNS view as the rest of src/dns/ reads it: the answer
 * pipeline looks questions up, transfers read zones and the journal, and
 * NOTIFY hears of changes. See include/dns.h for the view's life. */
#ifndef SRVGATE_DNS_VIEW_H
#define SRVGATE_DNS_VIEW_H

#include <stdint.h>

#include "nodes.h"

struct dns_view;

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

/* Classifies a question; qname is lower-case wire format. No allocation. */
void dns_view_lookup(const struct dns_view *view, const uint8_t *qname,
		     uint16_t qtype, struct dns_lookup *out);

/* The data as it is now, for transfers (valid until the next change). */
const struct dns_data *dns_view_data(const struct dns_view *view);

/* Called after a zone's data changed (origin with the final dot). */
typedef void (*dns_change_fn)(const char *origin, void *arg);
void dns_view_on_change(struct dns_view *view, dns_change_fn fn, void *arg);

#endif
