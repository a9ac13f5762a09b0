/* nodes.h -- the DNS data: zones, their nodes (one per owner name) and the
 * records at each node, in wire form, with the answers prepared for them.
 *
 * Records are reference counted: a static record is published once, a
 * synthesized one once per member URL that makes it (two members with one
 * host name make one SRV record, published twice). A record whose count
 * drops to zero stays in place until the end of the batch, so that a
 * change undone within the batch (a member re-registered with the same
 * URL) is no change at all, for answers and for the IXFR journal.
 *
 * Changes are collected in a struct dns_batch: the records whose liveness
 * may have changed (for the journal) and the nodes whose answers must be
 * prepared again. view.c settles the batch when the registry's commit ends.
 */
#ifndef SRVGATE_DNS_NODES_H
#define SRVGATE_DNS_NODES_H

#include <stddef.h>
#include <stdint.h>

#include "htable.h"
#include "journal.h"
#include "wire.h"

/* The records of a response for one name and type, as they follow the
 * question: the query path writes the header and the client's question
 * (the same length as the node's name), then copies these, whose owners
 * point at the question (offset 12). Kept at its real size, in a buffer
 * the workers' published nodes (replica.c) share rather than copy: see
 * dns_wire_new. */
struct dns_answer {
	uint8_t *wire;	    /* NULL: none prepared (an empty RRset) */
	uint32_t len;	    /* at most 64 KiB: 32 bits keep the struct */
	uint32_t noadd_len; /* at 24 bytes; length without the additional
			       section */
	uint16_t ancount, arcount;
	uint16_t type;	    /* also the RRset's type, in the view */
	uint8_t dirty;	    /* the view's: the RRset's answer to prepare
			       again (in the struct's padding, so that an
			       RRset is 40 bytes) */
};

/* Records that follow a copied question: the SOA of a negative answer, or
 * the NS and glue of a referral. */
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

/* One record. Its owner, type and class are the node's and the RRset's. */
struct dns_rr {
	struct dns_rr *next;
	uint32_t ttl;
	uint32_t refs;	   /* publishers; 0: goes when the batch settles */
	uint16_t rdlen;
	uint8_t touched;   /* listed in the batch's touched records */
	uint8_t was_live;  /* refs > 0 when first touched in the batch */
	uint8_t rdata[];
};

/* Its type and dirty flag are its answer's (answer.type, answer.dirty):
 * 40 bytes rather than 48 put a member's address node (its RRset in the
 * node's allocation) in malloc's 208-byte size, not its 224. */
struct dns_rrset {
	struct dns_rr *head, *tail; /* in the order they were published */
	struct dns_answer answer;
};

struct dns_zone;
struct dns_walk;

struct dns_node {
	struct hnode hnode;	      /* in the zone's node table */
	struct dns_node *prev, *next; /* the zone's list, for AXFR */
	uint64_t seq;		      /* the zone's count of nodes made: the
					 list is in this order */
	struct dns_zone *zone;
	struct dns_node *parent;      /* NULL at the apex */
	struct dns_rrset *sets;
	struct dns_chunk *referral;   /* is_cut: the NS and glue */
	uint32_t nchildren;	      /* nodes whose parent this is */
	uint32_t mark;		      /* prepare.c: added to this answer */
	/* 1 (the view) + the workers' published copies of the node, which
	 * borrow its name (replica.c): the node's own memory goes when the
	 * last lets go; what it points to goes with the view's. */
	uint32_t holders;
	/* Small fields last, next to the name: a node is made per owner
	 * name (eight per token), so its padding counts. */
	uint16_t nsets;
	/* One byte of flags: the name starts at 88, with the RRset slot a
	 * member's address node fits malloc's 208-byte size. */
	uint8_t is_cut : 1;	      /* NS below the apex: a delegation */
	uint8_t has_static : 1;	      /* from a zone file: synthesis keeps out */
	uint8_t dirty : 1;	      /* listed in the batch's dirty nodes */
	uint8_t fresh : 1;	      /* made in the batch under way: queries
					 do not see it before it settles */
	uint8_t has_slot : 1;	      /* room for one RRset after the name */
	uint8_t name_len;
	uint8_t name[];		      /* lower-case wire */
};

struct dns_zone {
	struct hnode hnode; /* in the data's zone table, by apex */
	unsigned index;	    /* in the data's zone_list */
	char origin[DNS_NAME_MAX + 2]; /* text, lower case, final dot */
	uint8_t apex[DNS_NAME_MAX];
	size_t apex_len;
	unsigned apex_labels;
	struct htable nodes;
	struct dns_node *first, *last; /* every node, apex first */
	struct dns_node *apex_node;
	struct dns_rr *soa;	/* in the apex node's SOA RRset */
	size_t serial_at;	/* offset of the serial in the SOA rdata */
	uint32_t serial_base;	/* token zone: serial = base + index */
	int is_token_zone;
	int has_cuts;
	struct dns_chunk negative;
	struct journal journal; /* token zone: differences for IXFR */
	uint64_t nodes_made;	/* the last node's seq */
	struct dns_walk *walks; /* AXFRs under way */
	/* The two nodes last published into or withdrawn from, newest
	 * first (NULL: none): a token's members go one after another into
	 * the same SRV node, their address nodes under the same token
	 * node, so these and their parents spare most table lookups of a
	 * build. A node is dropped from here when it is freed, and its
	 * parents stay while it does. */
	struct dns_node *recent[2];
};

#define MAX_ZONES 64

/* The part of the view a reload replaces whole. */
struct dns_data {
	struct htable zones; /* by apex */
	struct dns_zone *zone_list[MAX_ZONES];
	size_t nzones;
	unsigned max_apex_labels;
	struct dns_zone *token_zone;
	size_t nnodes, nanswers;
	uint32_t mark;	  /* prepare.c: one per answer being made */
	uint8_t *scratch; /* prepare.c: an answer while it is made */
};

/* A record whose liveness may have changed, and where it lives. */
struct dns_touch {
	struct dns_node *node;
	uint16_t type;
	struct dns_rr *rr;
};

/* The changes made since the last commit ended. */
struct dns_batch {
	struct dns_touch *touched; /* only when journaling */
	size_t ntouched, touched_cap;
	struct dns_node **dirty;
	size_t ndirty, dirty_cap;
	int journaling; /* 0 while a whole view is built */
};

/* ---- shared answer bytes ---- */

/* A buffer of len bytes with a count of holders (1: the caller), freed
 * by whichever thread lets go last. Answers are never changed in place:
 * a new one replaces the old, so a holder reads them without a lock. */
uint8_t *dns_wire_new(size_t len);
void dns_wire_hold(const uint8_t *wire);
void dns_wire_put(const uint8_t *wire); /* NULL: nothing */

/* A published copy of n (replica.c) holds it to read its name, from
 * another thread: n's memory stays until every holder has let go. */
void dns_node_hold(const struct dns_node *n);
void dns_node_unhold(const struct dns_node *n);

/* ---- zones ---- */

void dns_data_init(struct dns_data *d);
/* Frees every zone, node and record. */
void dns_data_clear(struct dns_data *d);
/* A new zone at apex (lower-case wire); NULL with err when there are too
 * many or it is defined twice. */
struct dns_zone *dns_zone_add(struct dns_data *d, const uint8_t *apex,
			      size_t len, char *err);
/* The zone with exactly this apex, or NULL. */
struct dns_zone *dns_zone_find(const struct dns_data *d, const uint8_t *apex,
			       size_t len);
/* The zone a name belongs to: the one with the longest matching apex. */
struct dns_zone *dns_zone_of(const struct dns_data *d, const uint8_t *name);
uint32_t dns_zone_serial(const struct dns_zone *z);
void dns_zone_set_serial(struct dns_zone *z, uint32_t serial);

/* ---- nodes and records ---- */

struct dns_node *dns_node_find(const struct dns_zone *z, const uint8_t *name,
			       size_t len);
struct dns_rrset *dns_node_rrset(const struct dns_node *n, uint16_t type);
/* Adds a record from a zone file (no sharing: every line counts). */
struct dns_rr *dns_add_static(struct dns_data *d, struct dns_batch *b,
			      struct dns_zone *z, const uint8_t *owner,
			      size_t len, uint16_t type, uint32_t ttl,
			      const uint8_t *rdata, uint16_t rdlen);
/* Publishes a synthesized record once more; never into a node that has
 * static records. Returns 0, or -1 when refused. */
int dns_publish(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
		const uint8_t *owner, size_t len, uint16_t type, uint32_t ttl,
		const uint8_t *rdata, uint16_t rdlen);
/* Undoes one dns_publish of the same record. */
void dns_withdraw(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
		  const uint8_t *owner, size_t len, uint16_t type,
		  const uint8_t *rdata, uint16_t rdlen);
/* Marks one RRset's answer for preparing again (the SOA after a serial
 * change). */
void dns_mark_dirty(struct dns_batch *b, struct dns_node *n,
		    struct dns_rrset *set);

/* ---- settling a batch ---- */

void dns_batch_free(struct dns_batch *b);
/* Drops records no one publishes any more, and RRsets left empty. */
void dns_node_prune(struct dns_data *d, struct dns_node *n);
/* Whether n has no records and no children and is not an apex: what
 * dns_node_release removes. */
int dns_node_unused(const struct dns_node *n);
/* Removes a node left with no records and no children (never an apex),
 * and lists its parent as dirty, which may now be empty too. */
void dns_node_release(struct dns_data *d, struct dns_batch *b,
		      struct dns_node *n);

/* Whether a record was published before the batch under way (or now,
 * when none is): what the journal, the answers and AXFR count as there. */
static inline int
dns_rr_was_live(const struct dns_rr *rr)
{
	return rr->touched ? rr->was_live : rr->refs > 0;
}

/* ---- AXFRs under way (xfr.c) ----
 *
 * An AXFR goes out a slice of nodes at a time, and the zone changes
 * between slices. It still sends the zone exactly as it was when it began:
 * nodes are only appended to the zone's list and unlinked from it, so the
 * list is in seq order and the transfer's nodes are those up to the last
 * one then (upto); those ahead of its cursor are sent as they are, and
 * one that a batch is about to change is first handed to the transfer
 * (before) with its records as they were (dns_rr_was_live), and skipped
 * when the cursor gets there. */
struct dns_walk {
	struct dns_walk *prev, *next; /* in the zone's walks */
	struct dns_zone *zone;	      /* NULL: the zone went (a reload) */
	struct dns_node *at;	      /* the next node to send; NULL: none */
	uint64_t upto;		      /* the seq of its last node */
	/* Seqs of the nodes ahead of the cursor already handed to before:
	 * sorted up to nsorted; pos: the first one not behind the cursor. */
	uint64_t *sent;
	size_t nsent, nsorted, pos, sent_cap;
	void (*before)(struct dns_walk *w, const struct dns_node *n);
	void (*gone)(struct dns_walk *w); /* the zone is being freed */
};

/* Starts w (its callbacks set) at the apex of z as z is now. */
void dns_walk_start(struct dns_walk *w, struct dns_zone *z);
/* The next node of the walk's snapshot to send; NULL at the end. */
const struct dns_node *dns_walk_next(struct dns_walk *w);
/* Ends a walk (it may be gone already). */
void dns_walk_stop(struct dns_walk *w);
/* Before a batch settles (while its records still tell what they were):
 * every walk gets the nodes the batch changed that it has not sent. */
void dns_walks_before_batch(const struct dns_batch *b);

#endif
