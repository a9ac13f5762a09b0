/* lru.h -- an intrusive least-recently-used list, for the tables that
 * forget their oldest entry when full (the rate limits). An entry embeds
 * a struct lru_node and is found again with container_of (htable.h). */
#ifndef SRVGATE_LRU_H
#define SRVGATE_LRU_H

#include <stddef.h>

struct lru_node {
	struct lru_node *newer, *older;
};

struct lru {
	struct lru_node *newest, *oldest;
};

static inline void
lru_unlink(struct lru *l, struct lru_node *n)
{
	if (n->newer != NULL)
		n->newer->older = n->older;
	else
		l->newest = n->older;
	if (n->older != NULL)
		n->older->newer = n->newer;
	else
		l->oldest = n->newer;
}

/* Makes n the newest. */
static inline void
lru_push(struct lru *l, struct lru_node *n)
{
	n->newer = NULL;
	n->older = l->newest;
	if (l->newest != NULL)
		l->newest->newer = n;
	l->newest = n;
	if (l->oldest == NULL)
		l->oldest = n;
}

#endif
