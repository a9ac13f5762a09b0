/* dns_data.h -- the inside of the DNS view (dns_zone.h), shared by the files
 * that build it: dns_data.c, dns_prepare.c, dns_synth.c and dns_zone.c.
 * Not for use outside src/dns_*.c.
 */
#ifndef SRVGATE_DNS_DATA_H
#define SRVGATE_DNS_DATA_H

#include <ldns/ldns.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_zone.h"
#include "registry.h"

#define MAX_ZONES 64
#define NODE_BUCKETS 65536

struct dns_node {
	struct dns_zone *zone;
	uint8_t name[DNS_NAME_MAX];
	size_t name_len;
	ldns_rr_list *rrs;	    /* every record at this name */
	struct dns_answer *answers; /* one per type present */
	size_t nanswers;
	int is_cut;		    /* NS below the apex: a delegation */
	struct dns_chunk referral;
	char token[REGISTRY_NAME_MAX + 1]; /* "" unless synthesized */
	struct dns_node *token_next;	   /* the token's other nodes */
	struct dns_node *hash_next;
};

/* The nodes synthesized for one token, so a change can drop them. */
struct token_nodes {
	char token[REGISTRY_NAME_MAX + 1];
	struct dns_node *head;
	struct token_nodes *next;
};
#define TOKEN_BUCKETS 4096

struct dns_zone {
	char origin[DNS_NAME_MAX + 2]; /* text, with the final dot */
	uint8_t apex[DNS_NAME_MAX];
	size_t apex_len;
	ldns_rr *soa;		/* lives in the apex node's records */
	uint32_t serial_base;	/* token zone: serial = base + index */
	int is_token_zone;
	int has_cuts;
	struct dns_chunk negative;
	struct journal_entry *journal; /* oldest first, for IXFR */
	size_t njournal;
};

/* One change of the token zone: what went and what came, each list led
 * by the SOA it applies to, as IXFR sends them. */
struct journal_entry {
	uint32_t from, to;
	ldns_rr_list *deleted, *added;
};

/* The part of the view a reload replaces whole. */
struct dns_data {
	struct dns_zone *zones[MAX_ZONES];
	size_t nzones;
	struct dns_node **buckets;
	size_t nnodes, nanswers;
	struct dns_zone *token_zone;
	struct token_nodes *tokens[TOKEN_BUCKETS];
};

/* dns_data.c: the node table, static zone files, the SOA. */
uint32_t dns_node_hash(const struct dns_zone *z, const uint8_t *name,
	size_t len);
struct dns_node *dns_find_node(const struct dns_data *d,
	const struct dns_zone *z, const uint8_t *name,
	size_t len);
struct token_nodes **dns_token_slot(struct dns_data *d, const char *token);
struct dns_node *dns_ensure_node(struct dns_data *d, struct dns_zone *z,
	const uint8_t *name, const char *token);
void dns_chunk_free(struct dns_chunk *c);
void dns_node_clear_answers(struct dns_data *d, struct dns_node *n);
void dns_node_free(struct dns_data *d, struct dns_node *n);
struct dns_zone *dns_zone_of(const struct dns_data *d, const uint8_t *name);
void dns_rdf_lower_wire(const ldns_rdf *rdf, uint8_t *out, size_t *len);
int dns_load_zones_dir(struct dns_data *d, const char *dir, char *err);
ldns_rr *dns_rr_from_text(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
int dns_find_token_zone(struct dns_data *d, const struct dns_view_config *cfg,
	char *err);
void dns_update_serial(struct dns_data *d, const struct registry *reg);

/* dns_prepare.c: answers in wire form, made when data changes. */
void dns_prepare_node(struct dns_data *d, struct dns_node *n);
void dns_prepare_negative(struct dns_zone *z);
void dns_prepare_all(struct dns_data *d);

/* dns_synth.c: records made from the registry, and the IXFR journal. */
void dns_sort_rrs(ldns_rr_list *l);
void dns_synthesize_token(struct dns_data *d, const struct dns_view_config *cfg,
	const struct registry *reg, const struct token *tok);
void dns_drop_token_nodes(struct dns_data *d, const char *token);
void dns_unique_token_nodes(struct dns_data *d, const char *token);
void dns_prepare_token_nodes(struct dns_data *d, const char *token);
void dns_journal_clear(struct dns_zone *z);
ldns_rr_list *dns_token_records(struct dns_data *d, const char *token);
void dns_diff_sorted(const ldns_rr_list *a, const ldns_rr_list *b,
	ldns_rr_list *a_only, ldns_rr_list *b_only);
ldns_rr_list *dns_lead_with(ldns_rr *first, ldns_rr_list *rest);
void dns_journal_add(struct dns_zone *z, struct journal_entry *e, size_t max);

#endif
