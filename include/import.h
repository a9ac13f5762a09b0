/* import.h -- the migration tools' writes, planned in the core: a token
 * copied whole from another discovery service (import), and a token made
 * to follow a running cluster's member list (sync). The HTTP admin API
 * parses the request; these functions decide what changes. */
#ifndef SRVGATE_IMPORT_H
#define SRVGATE_IMPORT_H

#include <stddef.h>

#include "registry.h"

struct wanted_member {
	char id[REGISTRY_NAME_MAX + 1];
	char *value;
	char *clients; /* or NULL */
};

struct token_spec {
	char token[REGISTRY_NAME_MAX + 1];
	unsigned size;
	struct wanted_member *members;
	size_t n;
	/* sync: the etcd cluster the members come from (hex); "" unknown */
	char cluster_id[STORE_CLUSTER_ID_MAX + 1];
	int force; /* import: replace a token that differs; sync: follow
		      another cluster, or replace members not from this one */
	struct import_parts *parts; /* NULL: the whole in one proposal */
};

/* Work bigger than one proposal of the store may be (store_max_changes)
 * is planned a part at a time: the caller keeps this, and submits the
 * request again while a plan sets more. */
struct import_parts {
	size_t max_changes; /* per proposal; 0: no limit */
	int more;	    /* set by the plan: a part is left to do */
	uint64_t made_at;   /* import: the created index of the token its
			       first part made; 0 before */
	char (*aliases)[REGISTRY_NAME_MAX + 1]; /* import: to set again */
	size_t naliases;
};

/* Frees the members, and what s->parts holds (not s->parts itself). */
void token_spec_free(struct token_spec *s);

/* The token as the spec says, members in their order. Nothing to do when
 * it is so already (REG_OK, no changes); REG_CONFLICT when it differs and
 * force is not set. Replacing keeps the aliases that name the token.
 * In parts (more than max_changes): the token with its first members,
 * then the next members a part at a time (each part a token the registry
 * may show: discovery clients wait for the size anyway), the aliases with
 * the last; a replaced token is deleted in a part of its own first. A
 * later part finds the token changed by someone else: REG_CONFLICT. */
enum registry_status plan_import(struct registry *reg, struct proposal *p,
				 const struct token_spec *s);
/* The token's members become the spec's (peer and client URLs); members
 * it lacks are deleted; the size becomes their count; the token records
 * the spec's cluster ID, its members are marked synced. Without force
 * it refuses (REG_CONFLICT, the reason in why) a cluster other than the
 * one recorded at the first sync, and a token holding members this
 * cluster does not list that no sync wrote (registered through the v2
 * API, imported, or another cluster's).
 * A spec without a cluster ID is REG_INVALID unless forced. why may be
 * NULL. In parts: the first max_changes changes of the plan; planned again,
 * the rest (every part moves the token toward the cluster's list). */
enum registry_status plan_sync(struct registry *reg, struct proposal *p,
			       const struct token_spec *s, char *why);

/* ---- dry runs ---- */

struct member_state {
	int present;
	const char *value, *clients; /* NULL where none */
};

struct member_diff {
	char id[REGISTRY_NAME_MAX + 1];
	struct member_state before, after;
};

/* What a planned proposal would do to one token, member by member. */
struct token_diff {
	int exists; /* the token is there now */
	unsigned size_before, size_after; /* 0: no token */
	char cluster_before[STORE_CLUSTER_ID_MAX + 1];
	char cluster_after[STORE_CLUSTER_ID_MAX + 1];
	struct member_diff *members; /* those that differ, by id */
	size_t n;
};

/* Compares the token as committed with the token after p; strings point
 * into the registry and p, so d is read before either changes. */
void token_diff_of(const struct registry *reg, const char *token,
		   const struct proposal *p, struct token_diff *d);
void token_diff_free(struct token_diff *d);

#endif
