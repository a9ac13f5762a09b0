/* replica.h -- what the UDP workers (workers.c) answer from: each its own
 * index of immutable published nodes (which hold, not copy, the view's
 * answer bytes), fed whole batches at a time.
 *
 * The main loop keeps the view (view.c) and is its only writer. When a
 * commit's batch settles, every node whose answers were prepared again
 * becomes one immutable "published node" (its answers per type, its
 * referral, whether it is a cut), and the zone whose negative answer
 * changed a published zone; the batch of them goes to every worker. A
 * worker applies a whole batch between two recvmmsg calls to its own
 * hash table of published nodes, and answers from that table alone: no
 * lock and no allocation on the query path, never half a batch, and
 * nothing before the main loop itself serves it (after the commit).
 *
 * A published node carries one hash-table link per worker, so no worker
 * allocates to hold it; it is reference counted (one reference per
 * worker that holds it) and freed by whichever thread lets go last.
 */
#ifndef SRVGATE_DNS_REPLICA_H
#define SRVGATE_DNS_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "cookie.h"
#include "htable.h"
#include "nodes.h"

struct dns_lookup;
struct pub_node;
struct pub_zone;

/* What one settled batch changed, for every worker; or, when reset, the
 * whole view (start, SIGHUP). Cookie secrets ride along after a SIGHUP. */
struct pub_batch {
	uint32_t refs; /* workers that have not applied it yet */
	unsigned nworkers;
	int reset;
	size_t nzones; /* reset: how many zones the view has */
	struct pub_zone *zones[MAX_ZONES]; /* NULL: unchanged */
	struct pub_node **nodes;	   /* in order; a later one wins */
	size_t nnodes, cap;
	int has_cookies;
	struct cookie_secrets cookies;
};

struct pub_batch *pub_batch_new(unsigned nworkers, int reset);
/* Publishes node n as it is now, or its removal when gone. */
void pub_batch_node(struct pub_batch *b, const struct dns_node *n, int gone);
/* Publishes z's apex, cuts and negative answer as they are now. */
void pub_batch_zone(struct pub_batch *b, const struct dns_zone *z);
/* A reset batch: every zone and every node of d. */
void pub_batch_snapshot(struct pub_batch *b, const struct dns_data *d);
int pub_batch_empty(const struct pub_batch *b);
/* A worker is done with it (or it was never sent, refs still at
 * nworkers: pub_batch_discard). */
void pub_batch_put(struct pub_batch *b);
void pub_batch_discard(struct pub_batch *b);

struct replica_zone {
	struct hnode hnode; /* in the replica's zone table, by apex */
	struct pub_zone *pz;
	struct htable nodes; /* the published nodes' links number `id` */
};

/* One worker's copy. */
struct replica {
	unsigned id; /* which link of a published node is ours */
	struct replica_zone zones[MAX_ZONES];
	size_t nzones;
	struct htable zone_index;
	unsigned max_apex_labels;
};

void replica_init(struct replica *r, unsigned id);
/* Applies a whole batch; its cookie secrets, if any, go to *cookies. */
void replica_apply(struct replica *r, const struct pub_batch *b,
		   struct cookie_secrets *cookies);
void replica_clear(struct replica *r);
/* A lookup begun ahead, for a whole batch of queries at once. At 100k
 * tokens the lookup's bucket, chain nodes, name and answer are each a
 * cache miss, paid one after another; server.c takes its recvmmsg batch
 * through replica_hint_step one level at a time, each step touching
 * (prefetching) what the next one reads, so that the misses of the
 * batch's queries overlap. The hint stays good until the replica changes
 * (the next batch); replica_lookup then finds everything in the cache. */
enum replica_hint_stage {
	HINT_NONE,   /* not begun: replica_lookup starts from scratch */
	HINT_BUCKET, /* the bucket touched */
	HINT_CHAIN,  /* node touched: qname's, or on to its next */
	HINT_ANSWER, /* qname's node found: its answer's bytes next */
	HINT_DONE,
};

struct replica_hint {
	enum replica_hint_stage stage;
	const struct replica_zone *zone; /* NULL: no zone of ours */
	uint64_t hash;			 /* of the qname */
	const struct hnode *node;	 /* HINT_CHAIN, HINT_ANSWER */
};

/* The steps after replica_hint_begin that reach the answer's bytes when
 * qname's node is the first or second of its chain. */
#define REPLICA_HINT_STEPS 4

/* Finds the zone, hashes qname, touches its bucket. */
void replica_hint_begin(const struct replica *r, const uint8_t *qname,
			struct replica_hint *h);
/* Touches the next level (nothing once done). */
void replica_hint_step(const struct replica *r, struct replica_hint *h,
		       uint16_t qtype);

/* dns_view_lookup's twin, on the replica. No allocation, no lock. hint:
 * NULL, or begun for this qname since the replica last changed. */
void replica_lookup(const struct replica *r, const uint8_t *qname,
		    uint16_t qtype, const struct replica_hint *hint,
		    struct dns_lookup *out);
/* Whether a zone has exactly this apex (IXFR over UDP). */
int replica_has_zone(const struct replica *r, const uint8_t *apex,
		     size_t len);

#endif
