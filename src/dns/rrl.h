/* rrl.h -- DNS response rate limiting, in the manner of NSD, Knot and
 * BIND: UDP responses per second per source prefix (--rrl-ipv4-prefix,
 * --rrl-ipv6-prefix) and per response class, so that a flood of one kind
 * (say NXDOMAIN for random names, which all count against the zone) does
 * not starve the same clients' answers of another.
 *
 * A limited response is dropped, except every --rrl-slip'th, which goes
 * out truncated (TC) so that a real client behind a spoofed flood retries
 * over TCP, which is never limited; nor are clients with a valid DNS
 * cookie or a TSIG signature (the server does not ask this module).
 *
 * Buckets live in the one hash table (keyed SipHash: no client can aim at
 * another's bucket), taken from a pool allocated at start: the query path
 * allocates nothing, and when the pool is used up the least recently used
 * bucket is forgotten.
 */
#ifndef SRVGATE_DNS_RRL_H
#define SRVGATE_DNS_RRL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RRL_BUCKETS 65536 /* about 6 MiB; NSD's rrl-size is 1000000 */

/* The classes responses are counted in, as NSD counts them. */
enum rrl_class {
	RRL_ANSWER,   /* records in the answer: per name and type */
	RRL_NXDOMAIN, /* per zone */
	RRL_NODATA,   /* NODATA and referrals: per zone */
	RRL_ERROR,    /* any other rcode: per zone, or none */
	RRL_NCLASSES
};

struct rrl_config {
	unsigned rate;	     /* responses per second per bucket; 0: off */
	unsigned slip;	     /* every slip'th limited one goes out with TC */
	unsigned v4_prefix;  /* bits of an IPv4 source that make a bucket */
	unsigned v6_prefix;
	size_t buckets;	     /* the pool; 0: RRL_BUCKETS */
};

enum rrl_verdict { RRL_PASS, RRL_DROP, RRL_SLIP };

struct rrl_stats {
	uint64_t limited; /* responses over the rate (dropped or slipped) */
	uint64_t slipped; /* of those, sent truncated */
	uint64_t evicted; /* buckets forgotten to make room */
};

struct rrl;

/* NULL when cfg->rate is 0 (rate limiting off). */
struct rrl *rrl_new(const struct rrl_config *cfg);
/* Counts one response of class cls to peer at now_ms (monotonic); name
 * (lower-case wire, or NULL) and qtype key answers and zones. */
enum rrl_verdict rrl_account(struct rrl *rl, const struct sockaddr *peer,
			     enum rrl_class cls, const uint8_t *name,
			     size_t name_len, uint16_t qtype, uint64_t now_ms);
const struct rrl_stats *rrl_stats(const struct rrl *rl);
/* Buckets in use. */
size_t rrl_size(const struct rrl *rl);
void rrl_free(struct rrl *rl);

#endif
