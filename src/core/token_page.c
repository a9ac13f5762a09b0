/* token_page.c -- listing tokens a page at a time (registry.h), for the
 * admin API's GET /_admin/tokens: a cursor (the last name) that stays
 * valid while tokens come and go, and work for one page however many
 * tokens there are.
 *
 * The tokens are kept in name order in a skip list (Pugh, 1990) linked
 * through the tokens themselves: a page is a search for the cursor,
 * O(log n), then a walk along the bottom level. A token's level comes
 * from the keyed hash of its name (two bits a level), so no one who
 * chooses names can make the list tall; creating or deleting a token
 * costs a search, and nothing on the DNS path reads the list.
 */
#include <string.h>

#include "registry.h"
#include "registry_internal.h"

unsigned
registry_name_levels(uint64_t hash)
{
	uint64_t bits = hash >> 32; /* the table's buckets use the low bits */
	unsigned levels = 1;

	while (levels < REGISTRY_NAME_LEVELS && (bits & 3) == 0) {
		levels++;
		bits >>= 2;
	}
	return levels;
}

/* The links, one a level, that lead to the first token whose name is not
 * below name. */
static void
find_links(struct registry *reg, const char *name,
	   struct token **slot[REGISTRY_NAME_LEVELS])
{
	struct token **links = reg->by_name;
	int lv;

	for (lv = REGISTRY_NAME_LEVELS - 1; lv >= 0; lv--) {
		while (links[lv] != NULL && strcmp(links[lv]->name, name) < 0)
			links = links[lv]->by_name;
		slot[lv] = &links[lv];
	}
}

void
registry_link_token(struct registry *reg, struct token *tok)
{
	struct token **slot[REGISTRY_NAME_LEVELS];
	unsigned lv;

	find_links(reg, tok->name, slot);
	for (lv = 0; lv < tok->name_levels; lv++) {
		tok->by_name[lv] = *slot[lv];
		*slot[lv] = tok;
	}
}

void
registry_unlink_token(struct registry *reg, struct token *tok)
{
	struct token **slot[REGISTRY_NAME_LEVELS];
	unsigned lv;

	find_links(reg, tok->name, slot);
	for (lv = 0; lv < tok->name_levels; lv++)
		*slot[lv] = tok->by_name[lv];
}

size_t
registry_token_page(const struct registry *reg, const char *after,
		    size_t limit, const struct token **out, int *more)
{
	struct token *const *links = reg->by_name;
	const struct token *tok;
	size_t n = 0;
	int lv;

	if (after == NULL)
		after = "";
	for (lv = REGISTRY_NAME_LEVELS - 1; lv >= 0; lv--)
		while (links[lv] != NULL && strcmp(links[lv]->name, after) <= 0)
			links = links[lv]->by_name;
	for (tok = links[0]; tok != NULL && n < limit; tok = tok->by_name[0])
		out[n++] = tok;
	*more = tok != NULL;
	return n;
}
