/* zonefile.h -- the static zones of --zones-dir, and the token zone: from
 * its file when there is one, else made from flags. */
#ifndef SRVGATE_DNS_ZONEFILE_H
#define SRVGATE_DNS_ZONEFILE_H

#include "nodes.h"

struct dns_view_config;

/* Loads every *.zone file of dir (a missing dir has none). */
int zonefile_load_dir(struct dns_data *d, struct dns_batch *b,
		      const char *dir, char *err);
/* Finds the token zone among the loaded ones, or makes it: SOA, NS and,
 * when the NS is inside it, the NS's address. Sets d->token_zone. */
int zonefile_token_zone(struct dns_data *d, struct dns_batch *b,
			const struct dns_view_config *cfg, char *err);

#endif
