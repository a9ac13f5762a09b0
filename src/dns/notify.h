/* notify.h -- NOTIFY (RFC 1996) to the --notify targets when a zone
 * changes, retried until each answers. */
#ifndef SRVGATE_DNS_NOTIFY_H
#define SRVGATE_DNS_NOTIFY_H

#include <stdint.h>

#include "config.h"
#include "tsig.h"

struct event_base;
struct notifier;

struct notify_stats {
	uint64_t sent, acked;
};

/* Checks every "HOST:PORT[@KEYNAME]" target; keys come from kr, which
 * must outlive the notifier. */
int notifier_new(struct notifier **out, struct event_base *base,
		 const struct config_list *targets,
		 const struct tsig_keyring *kr, char *err);
/* A zone changed (origin with the final dot): each target hears of it
 * soon, once for a burst of changes. */
void notifier_zone_changed(struct notifier *nf, const char *origin);
const struct notify_stats *notifier_stats(const struct notifier *nf);
void notifier_free(struct notifier *nf);

#endif
