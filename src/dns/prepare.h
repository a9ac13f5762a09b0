/* prepare.h -- whole responses in wire form, made when data changes so
 * that answering a query is a copy and a few patches. */
#ifndef SRVGATE_DNS_PREPARE_H
#define SRVGATE_DNS_PREPARE_H

#include "nodes.h"

/* Prepares the answers of a node's changed RRsets again, and its referral
 * when it is a cut whose NS records changed. */
void prepare_node(struct dns_data *d, struct dns_node *n);
/* The SOA of negative answers, after the SOA changed. */
void prepare_negative(struct dns_zone *z);

#endif
