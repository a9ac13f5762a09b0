/* etcd_audit.c -- does the watch deliver every change etcd has? (see
 * etcd_audit.h) */
#include "etcd_audit.h"

#include <string.h>

void
audit_reset(struct etcd_audit *a)
{
	memset(a, 0, sizeof(*a));
}

static enum audit_verdict
lost(struct etcd_audit *a, uint64_t rev, uint64_t theirs, uint64_t ours)
{
	a->lost_rev = rev;
	a->lost_theirs = theirs;
	a->lost_ours = ours;
	a->rev = 0;
	return AUDIT_LOST;
}

enum audit_verdict
audit_counted(struct etcd_audit *a, uint64_t rev, uint64_t count,
	      uint64_t applied, uint64_t keys, uint64_t now_ms)
{
	/* The count held says changes are owed, and for the whole stall
	 * time the watch has delivered nothing at all. */
	if (a->rev != 0 && a->count != a->keys && applied == a->applied &&
	    now_ms - a->since_ms >= AUDIT_STALL_MS)
		return lost(a, a->rev, a->count, a->keys);
	/* A count the watch has not passed yet is waited for, but not past
	 * the stall time: a span gone quiet is judged by the newer count. */
	if (a->rev != 0 && applied == a->applied &&
	    now_ms - a->since_ms < AUDIT_STALL_MS)
		return AUDIT_WAIT;
	a->rev = 0;
	/* The watch is past etcd's revision already: the count before it
	 * is gone. The next one is compared. */
	if (applied > rev)
		return AUDIT_WAIT;
	a->rev = rev;
	a->count = count;
	a->applied = applied;
	a->keys = keys;
	a->since_ms = now_ms;
	return audit_reached(a, applied, keys);
}

int
audit_due(const struct etcd_audit *a, uint64_t now_ms)
{
	return a->rev != 0 && a->count != a->keys &&
	       now_ms - a->since_ms >= AUDIT_STALL_MS;
}

int
audit_passes(const struct etcd_audit *a, uint64_t next_rev)
{
	return a->rev != 0 && next_rev > a->rev;
}

enum audit_verdict
audit_reached(struct etcd_audit *a, uint64_t rev, uint64_t keys)
{
	if (a->rev == 0 || rev < a->rev)
		return AUDIT_WAIT;
	if (keys != a->count)
		return lost(a, a->rev, a->count, keys);
	a->rev = 0;
	return AUDIT_OK;
}
