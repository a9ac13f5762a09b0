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
	int force; /* import: replace a token that differs */
};

void token_spec_free(struct token_spec *s);

/* The token as the spec says, members in their order. Nothing to do when
 * it is so already (REG_OK, no changes); REG_CONFLICT when it differs and
 * force is not set. Replacing keeps the aliases that name the token. */
enum registry_status plan_import(struct registry *reg, struct proposal *p,
				 const struct token_spec *s);
/* The token's members become the spec's (peer and client URLs); members
 * it lacks are deleted; the size becomes their count. */
enum registry_status plan_sync(struct registry *reg, struct proposal *p,
			       const struct token_spec *s);

#endif
