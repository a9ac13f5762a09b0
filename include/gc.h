/* gc.h -- deleting tokens that never filled (--gc-unfilled-after). */
#ifndef SRVGATE_GC_H
#define SRVGATE_GC_H

#include <stdint.h>

struct event_base;
struct registry;
struct store;
struct gc;

/* Starts a timer that deletes tokens older than after_ms that still lack
 * members; NULL (and nothing runs) when after_ms is 0. A round runs only
 * while store_exclusive(st): one gateway at a time on a shared store. */
struct gc *gc_start(struct event_base *base, struct registry *reg,
		    struct store *st, uint64_t after_ms);
void gc_free(struct gc *g);

#endif
