/* registry_internal.h -- what registry.c and registry_write.c share. */
#ifndef SRVGATE_REGISTRY_INTERNAL_H
#define SRVGATE_REGISTRY_INTERNAL_H

#include "registry.h"

/* Applies one committed change and tells the listeners. */
void registry_apply(struct registry *reg, const struct change *c);
/* One commit is applied whole: EV_BATCH_END, views publish. */
void registry_batch_end(struct registry *reg, uint64_t index);
void registry_pending_free(struct registry *reg);

#endif
