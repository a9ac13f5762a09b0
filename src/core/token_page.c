/* token_page.c -- listing tokens a page at a time (registry.h), for the
 * admin API's GET /_admin/tokens: bounded work and memory per page, and a
 * cursor (the last name) that stays valid while tokens come and go. */
#include <stdlib.h>
#include <string.h>

#include "registry.h"

struct page {
	const char *after;
	size_t limit, n, seen;
	const struct token **heap; /* a max-heap by name: the page so far */
};

static int
above(const struct token *a, const struct token *b)
{
	return strcmp(a->name, b->name) > 0;
}

static void
sift_down(struct page *pg, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, top = i;
		const struct token *t;

		if (l < pg->n && above(pg->heap[l], pg->heap[top]))
			top = l;
		if (r < pg->n && above(pg->heap[r], pg->heap[top]))
			top = r;
		if (top == i)
			return;
		t = pg->heap[i];
		pg->heap[i] = pg->heap[top];
		pg->heap[top] = t;
		i = top;
	}
}

static void
sift_up(struct page *pg, size_t i)
{
	while (i > 0 && above(pg->heap[i], pg->heap[(i - 1) / 2])) {
		const struct token *t = pg->heap[i];

		pg->heap[i] = pg->heap[(i - 1) / 2];
		pg->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

/* Keeps the limit smallest names after the cursor. */
static void
consider(const struct token *tok, void *arg)
{
	struct page *pg = arg;

	if (strcmp(tok->name, pg->after) <= 0)
		return;
	pg->seen++;
	if (pg->n < pg->limit) {
		pg->heap[pg->n++] = tok;
		sift_up(pg, pg->n - 1);
	} else if (pg->limit > 0 && above(pg->heap[0], tok)) {
		pg->heap[0] = tok;
		sift_down(pg, 0);
	}
}

static int
by_name(const void *a, const void *b)
{
	return strcmp((*(const struct token *const *)a)->name,
		      (*(const struct token *const *)b)->name);
}

size_t
registry_token_page(const struct registry *reg, const char *after,
		    size_t limit, const struct token **out, int *more)
{
	struct page pg = { after ? after : "", limit, 0, 0, out };

	registry_foreach_token(reg, consider, &pg);
	qsort(out, pg.n, sizeof(*out), by_name);
	*more = pg.seen > pg.n;
	return pg.n;
}
