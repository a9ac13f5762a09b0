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
	const uint8_t *apex;		 /* of the zone; NULL: refused */
	size_t apex_len;
};

/* One of a node's answers, offered in order, for a question of qtype:
 * the type asked wins (returns 1: stop), else a CNAME, else (ANY) the
 * first. The view and the workers' replicas (replica.c) pick alike. */
static inline int
dns_lookup_offer(struct dns_lookup *out, const struct dns_answer *a,
		 uint16_t qtype)
{
	if (a->type != qtype && a->type != TYPE_CNAME &&
	    !(qtype == TYPE_ANY && out->answer == NULL))
		return 0;
	out->kind = LOOKUP_ANSWER;
	out->answer = a;
	return a->type == qtype;
}

/* Classifies a question; qname is lower-case wire format. No allocation. */
void dns_view_lookup(const struct dns_view *view, const uint8_t *qname,
		     uint16_t qtype, struct dns_lookup *out);

/* Feeds nreaders replicas (replica.h; the UDP workers) from now on: fn
 * gets every settled batch, and the whole view now and after each
 * reload, and owns it. fn NULL: no more. */
struct pub_batch;
typedef void (*dns_feed_fn)(struct pub_batch *b, void *arg);
void dns_view_feed(struct dns_view *view, unsigned nreaders, dns_feed_fn fn,
		   void *arg);

/* The data as it is now, for transfers (valid until the next change). */
const struct dns_data *dns_view_data(const struct dns_view *view);

/* Called after a zone's data changed (origin with the final dot). */
typedef void (*dns_change_fn)(const char *origin, void *arg);
void dns_view_on_change(struct dns_view *view, dns_change_fn fn, void *arg);

#endif
