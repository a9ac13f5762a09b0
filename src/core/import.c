/* import.c -- planning import and sync (see import.h). Both touch a whole
 * token, so both first claim it: nothing of it may be unsettled. */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void
token_spec_free(struct token_spec *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->members[i].value);
		free(s->members[i].clients);
	}
	free(s->members);
	s->members = NULL;
	s->n = 0;
}

static int
differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static int
same_token(const struct token *tok, const struct token_spec *s)
{
	size_t i;

	if (tok->size != s->size || tok->nmembers != s->n)
		return 0;
	for (i = 0; i < s->n; i++)
		if (strcmp(tok->members[i]->id, s->members[i].id) != 0 ||
		    strcmp(tok->members[i]->value, s->members[i].value) != 0)
			return 0;
	return 1;
}

static void
add_member(struct proposal *p, const char *token,
	   const struct wanted_member *w, uint64_t created_index)
{
	struct change c = { 0 };

	c.value = w->value;
	c.clients = w->clients;
	c.action = ACTION_SET;
	c.created_index = created_index;
	proposal_add_change(p, CHANGE_MEMBER_PUT, token, w->id, &c);
}

struct alias_list {
	const char *token;
	char (*names)[REGISTRY_NAME_MAX + 1];
	size_t n;
};

static void
collect(const struct alias *a, void *arg)
{
	struct alias_list *l = arg;

	if (strcmp(a->token, l->token) != 0)
		return;
	l->names = xrealloc(l->names, (l->n + 1) * sizeof(*l->names));
	snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", a->name);
}

enum registry_status
plan_import(struct registry *reg, struct proposal *p,
	    const struct token_spec *s)
{
	const struct token *tok = registry_find_token(reg, s->token);
	struct alias_list aliases = { s->token, NULL, 0 };
	struct change c = { 0 };
	enum registry_status rs;
	size_t i;

	if (!registry_valid_name(s->token) || s->size == 0 ||
	    registry_find_alias(reg, s->token) != NULL)
		return REG_INVALID;
	if ((rs = plan_claim_token(reg, s->token)) != REG_OK)
		return rs;
	if (tok != NULL && same_token(tok, s))
		return REG_OK;
	if (tok != NULL && !s->force)
		return REG_CONFLICT;
	if (tok != NULL) {
		/* Deleting drops the aliases; they name the token, not what
		 * it held, so they are set again. */
		registry_foreach_alias(reg, collect, &aliases);
		plan_token_delete(reg, p, s->token);
	}
	c.size = s->size;
	c.created_at = now_unix();
	proposal_add_change(p, CHANGE_TOKEN_PUT, s->token, NULL, &c);
	for (i = 0; i < s->n; i++)
		add_member(p, s->token, &s->members[i], 0);
	for (i = 0; i < aliases.n; i++) {
		memset(&c, 0, sizeof(c));
		proposal_add_change(p, CHANGE_ALIAS_PUT, s->token, aliases.names[i], &c);
	}
	free(aliases.names);
	return REG_OK;
}

static int
wanted(const struct token_spec *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->members[i].id, id) == 0)
			return 1;
	return 0;
}

enum registry_status
plan_sync(struct registry *reg, struct proposal *p, const struct token_spec *s)
{
	const struct token *tok = registry_find_token(reg, s->token);
	unsigned size = s->n > 0 ? (unsigned)s->n : 1;
	struct change c = { 0 };
	enum registry_status rs;
	size_t i;

	if ((rs = plan_claim_token(reg, s->token)) != REG_OK)
		return rs;
	if (tok == NULL)
		return REG_NOT_FOUND;
	for (i = 0; i < s->n; i++) {
		const struct member *m = token_find_member(tok,
							   s->members[i].id);

		if (m == NULL || differs(m->value, s->members[i].value) ||
		    differs(m->clients, s->members[i].clients))
			add_member(p, s->token, &s->members[i],
				   m ? m->created_index : 0);
	}
	for (i = 0; i < tok->nmembers; i++)
		if (!wanted(s, tok->members[i]->id))
			proposal_add_change(p, CHANGE_MEMBER_DEL, s->token,
			    tok->members[i]->id, &c);
	if (tok->size != size) {
		memset(&c, 0, sizeof(c));
		c.size = size;
		c.created_at = tok->created_at;
		c.created_index = tok->created_index;
		proposal_add_change(p, CHANGE_TOKEN_PUT, s->token, NULL, &c);
	}
	return REG_OK;
}
