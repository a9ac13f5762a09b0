/* synth.h -- the records made from the registry, member by member.
 *
 * A token publishes its first min(size, --max-published) members by
 * created index (etcd forms its cluster from the first `size`; the cap
 * keeps one token from making one answer unbounded). Each published member
 * is kept here with its parsed URLs, so that a change touches only the
 * records that member makes: its SRV records under the token's name and
 * each alias, and the A or AAAA record of each IP target. A member outside
 * the published ones costs nothing; when a published one goes, the next
 * one by created index takes its place.
 */
#ifndef SRVGATE_DNS_SYNTH_H
#define SRVGATE_DNS_SYNTH_H

#include "htable.h"
#include "nodes.h"
#include "registry.h"

struct dns_view_config;

struct synth {
	struct htable tokens;  /* struct synth_token, by name */
	struct htable aliases; /* struct synth_alias, by name */
	struct dns_data *d;
	struct dns_zone *zone; /* the token zone */
	uint32_t ttl;
	unsigned max_published;
	char srv_name[DNS_LABEL_MAX + 1]; /* lower case; "" for none */
};

void synth_init(struct synth *s, struct dns_data *d,
		const struct dns_view_config *cfg);
/* Sizes the token table for ntokens before a build adds them. */
void synth_reserve(struct synth *s, size_t ntokens);
/* Forgets every token (the records stay with the data). */
void synth_free(struct synth *s);

/* The token as the registry has it now: publishes the members that joined
 * the published ones and withdraws those that left. */
void synth_token(struct synth *s, struct dns_batch *b,
		 const struct token *tok);
void synth_token_deleted(struct synth *s, struct dns_batch *b,
			 const char *name);
/* A member was made or overwritten (m is its new state). */
void synth_member_set(struct synth *s, struct dns_batch *b,
		      const struct token *tok, const struct member *m);
/* A member went (m as it was; tok no longer has it). */
void synth_member_deleted(struct synth *s, struct dns_batch *b,
			  const struct token *tok, const struct member *m);
void synth_alias_set(struct synth *s, struct dns_batch *b, const char *alias,
		     const char *token);
void synth_alias_deleted(struct synth *s, struct dns_batch *b,
			 const char *alias);

#endif
