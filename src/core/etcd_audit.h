/* etcd_audit.h -- does the watch deliver every change etcd has?
 *
 * etcd before 3.4.31 and 3.5.13 can drop a slow watcher's events when a
 * compaction runs while its channel is full (etcd issue 17529): the watch
 * then goes on from a later revision with no error and no cancel. A
 * gateway on such an etcd would serve stale members for good.
 *
 * The check is cheap for etcd: now and then the store asks etcd how many
 * keys its span holds (count_only, from the index), and compares that
 * with its own count of the span's keys, which the Range starts and every
 * watch event keeps (a PUT of version 1 adds a key, a DELETE removes one).
 * The counts are compared at the same revision: when the watch passes
 * etcd's revision, or when the watch has delivered nothing for a while
 * although etcd's count says changes are owed. A loss that leaves the
 * number of keys as it was (an overwrite) is not seen; registrations and
 * deletions, what discovery does, are.
 *
 * Pure logic: no I/O, no clock of its own (the caller passes now_ms).
 */
#ifndef SRVGATE_ETCD_AUDIT_H
#define SRVGATE_ETCD_AUDIT_H

#include <stdint.h>

/* The watch must deliver something within this long of etcd's count
 * showing changes it owes (as for our own commits: SEEN_DEADLINE_MS). */
#define AUDIT_STALL_MS 5000

struct etcd_audit {
	uint64_t rev;      /* etcd's revision of the count; 0: none held */
	uint64_t count;    /* keys in the span at rev, by etcd */
	uint64_t applied;  /* our revision when etcd's count came */
	uint64_t keys;     /* our count then */
	uint64_t since_ms; /* when etcd's count came */
	/* what the last AUDIT_LOST compared, for the log */
	uint64_t lost_rev, lost_theirs, lost_ours;
};

enum audit_verdict {
	AUDIT_WAIT, /* nothing to tell yet */
	AUDIT_OK,   /* the counts agreed */
	AUDIT_LOST  /* the watch missed changes: start over from a Range */
};

void audit_reset(struct etcd_audit *a);

/* etcd counted `count` keys in the span at revision `rev`; the store is
 * at revision `applied` with `keys` keys. */
enum audit_verdict audit_counted(struct etcd_audit *a, uint64_t rev,
				 uint64_t count, uint64_t applied,
				 uint64_t keys, uint64_t now_ms);

/* Whether the count held shows changes owed and the stall time has gone
 * by: a count now tells whether the watch stalled (the next regular
 * count may be much later). */
int audit_due(const struct etcd_audit *a, uint64_t now_ms);

/* Whether the watch, about to apply changes of revision `next_rev`,
 * passes the held count's revision: then `keys` (the count before those
 * changes) must equal etcd's. */
int audit_passes(const struct etcd_audit *a, uint64_t next_rev);

/* The watch has applied everything through `rev` and holds `keys` keys:
 * compares when rev reaches the held count's revision. */
enum audit_verdict audit_reached(struct etcd_audit *a, uint64_t rev,
				 uint64_t keys);

#endif
