/* registry_internal.h -- what registry.c and registry_write.c share. */
#ifndef SRVGATE_REGISTRY_INTERNAL_H
#define SRVGATE_REGISTRY_INTERNAL_H

#include "registry.h"

/* Applies one committed change and tells the listeners. */
void registry_apply(struct registry *reg, const struct change *c);
/* One commit is applied whole: EV_BATCH_END, views publish. */
void registry_batch_end(struct registry *reg, uint64_t index);
void registry_pending_free(struct registry *reg);
/* The by-name skip list (token_page.c): how many levels a token of this
 * name hash gets, linking it in once it is allocated with them, and
 * unlinking it before it is freed. */
unsigned registry_name_levels(uint64_t hash);
void registry_link_token(struct registry *reg, struct token *tok);
void registry_unlink_token(struct registry *reg, struct token *tok);

#endif
