/* acl.h -- who may transfer a zone: --allow-transfer rules, each an
 * address or CIDR with an optional TSIG key the request must be signed
 * with (NSD's provide-xfr, Knot's acl with action transfer). */
#ifndef SRVGATE_DNS_ACL_H
#define SRVGATE_DNS_ACL_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "tsig.h"

struct acl_rule {
	struct sockaddr_storage net;
	unsigned prefix;
	const struct tsig_key *key; /* NULL: no key needed */
};

struct acl {
	struct acl_rule rules[CONFIG_LIST_MAX];
	size_t n;
};

/* Reads "CIDR[@KEYNAME]" rules; keys are looked up in kr. */
int acl_parse(struct acl *a, const struct config_list *specs,
	      const struct tsig_keyring *kr, char *err);
/* 1 when a rule covers peer and its key, if it names one, is the key the
 * request was signed with (used; NULL for unsigned). */
int acl_allows(const struct acl *a, const struct sockaddr *peer,
	       const struct tsig_key *used);
/* For a refusal's log line: the key of a rule that covers peer but wants
 * a key (other than used), or NULL when no rule covers peer at all. */
const struct tsig_key *acl_key_wanted(const struct acl *a,
				      const struct sockaddr *peer);

#endif
