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
	if (s->parts != NULL) {
		free(s->parts->aliases);
		s->parts->aliases = NULL;
		s->parts->naliases = 0;
	}
}

/* Keeps the first max changes of p (0: all); 1 when some were dropped. */
static int
keep_first(struct proposal *p, size_t max)
{
	size_t i;

	if (max == 0 || p->n <= max)
		return 0;
	for (i = max; i < p->n; i++)
		change_clear(&p->changes[i]);
	p->n = max;
	return 1;
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
	   const struct wanted_member *w, uint64_t created_index, int synced)
{
	struct change c = { 0 };

	c.value = w->value;
	c.clients = w->clients;
	c.action = ACTION_SET;
	c.synced = synced;
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

static void
add_aliases(struct proposal *p, const char *token,
	    char (*names)[REGISTRY_NAME_MAX + 1], size_t n)
{
	struct change c;
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&c, 0, sizeof(c));
		proposal_add_change(p, CHANGE_ALIAS_PUT, token, names[i], &c);
	}
}

/* A later part: the members the token this import made lacks, up to
 * max_changes, and the aliases with the last. */
static enum registry_status
plan_import_next(const struct token *tok, struct proposal *p,
		 const struct token_spec *s, struct import_parts *pt)
{
	size_t i;

	if (tok == NULL || tok->created_index != pt->made_at)
		return REG_CONFLICT; /* deleted or replaced meanwhile */
	for (i = 0; i < s->n; i++) {
		const struct member *m = token_find_member(tok,
							   s->members[i].id);

		if (m != NULL && strcmp(m->value, s->members[i].value) == 0)
			continue;
		if (m != NULL)
			return REG_CONFLICT; /* registered meanwhile */
		if (p->n == pt->max_changes) {
			pt->more = 1;
			return REG_OK;
		}
		add_member(p, s->token, &s->members[i], 0, 0);
	}
	if (p->n + pt->naliases > pt->max_changes && p->n > 0)
		pt->more = 1;
	else
		add_aliases(p, s->token, pt->aliases, pt->naliases);
	return REG_OK;
}

enum registry_status
plan_import(struct registry *reg, struct proposal *p,
	    const struct token_spec *s)
{
	const struct token *tok = registry_find_token(reg, s->token);
	struct alias_list aliases = { s->token, NULL, 0 };
	struct import_parts *pt = s->parts;
	struct change c = { 0 };
	enum registry_status rs;
	size_t i;

	if (pt != NULL)
		pt->more = 0;
	if (!registry_valid_name(s->token) || s->size == 0 ||
	    registry_find_alias(reg, s->token) != NULL)
		return REG_INVALID;
	if ((rs = plan_claim_token(reg, s->token)) != REG_OK)
		return rs;
	if (pt != NULL && pt->made_at != 0)
		return plan_import_next(tok, p, s, pt);
	if (tok != NULL && same_token(tok, s))
		return REG_OK;
	if (tok != NULL && !s->force)
		return REG_CONFLICT;
	if (tok != NULL) {
		/* Deleting drops the aliases; they name the token, not what
		 * it held, so they are set again (in parts: kept for the
		 * last part). */
		registry_foreach_alias(reg, collect, &aliases);
		if (pt != NULL) {
			free(pt->aliases);
			pt->aliases = aliases.names;
			pt->naliases = aliases.n;
			aliases.names = NULL;
			aliases.n = 0;
		}
		plan_token_delete(reg, p, s->token);
	}
	c.size = s->size;
	c.created_at = now_unix();
	proposal_add_change(p, CHANGE_TOKEN_PUT, s->token, NULL, &c);
	for (i = 0; i < s->n; i++)
		add_member(p, s->token, &s->members[i], 0, 0);
	add_aliases(p, s->token, aliases.names, aliases.n);
	free(aliases.names);
	if (pt == NULL)
		return REG_OK;
	add_aliases(p, s->token, pt->aliases, pt->naliases);
	/* In parts; the aliases come with the last. A replacement is
	 * deleted alone first: deleting and making a token in one Txn
	 * deletes every old key of it one by one (etcd refuses a put inside
	 * a range it deletes), so the old members count too. */
	if (pt->max_changes != 0 &&
	    p->n + (tok ? tok->nmembers : 0) > pt->max_changes) {
		if (tok != NULL) {
			for (i = 0; i < p->n; i++)
				change_clear(&p->changes[i]);
			p->n = 0;
			plan_token_delete(reg, p, s->token);
		}
		keep_first(p, pt->max_changes);
		pt->more = 1;
	}
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

/* Lists up to 3 of the token's members that the spec lacks and that
 * sync did not write (registered, imported); 0 when none. Members an
 * earlier sync wrote and the cluster no longer lists were removed from
 * it: sync removes them. */
static size_t
foreign_members(const struct token *tok, const struct token_spec *s,
		char *out, size_t len)
{
	size_t i, n = 0, at = 0;

	out[0] = '\0';
	for (i = 0; i < tok->nmembers; i++) {
		if (tok->members[i]->synced || wanted(s, tok->members[i]->id))
			continue;
		if (n++ < 3 && at < len)
			at += (size_t)snprintf(out + at, len - at, "%s%s",
					       n > 1 ? ", " : "",
					       tok->members[i]->id);
	}
	if (n > 3 && at < len)
		snprintf(out + at, len - at, " and %zu more", n - 3);
	return n;
}

/* Whether this sync may go ahead without --force. */
static enum registry_status
sync_allowed(const struct token *tok, const struct token_spec *s, char *why)
{
	char ids[200];
	errbuf_t scratch;

	if (why == NULL)
		why = scratch;
	if (s->force)
		return REG_OK;
	if (s->cluster_id[0] == '\0') {
		fail(why, "the sync does not say which etcd cluster it comes "
		     "from (cluster_id)");
		return REG_INVALID;
	}
	if (tok->cluster_id[0] != '\0' &&
	    strcmp(tok->cluster_id, s->cluster_id) != 0) {
		fail(why, "token %s follows etcd cluster %s (recorded at its "
		     "first sync), but these members come from cluster %s; "
		     "use --force to make it follow %s", tok->name,
		     tok->cluster_id, s->cluster_id, s->cluster_id);
		return REG_CONFLICT;
	}
	if (foreign_members(tok, s, ids, sizeof(ids)) > 0) {
		fail(why, "token %s %s members etcd cluster %s does not list; "
		     "use --force to replace them with the cluster's: %s",
		     tok->name, tok->cluster_id[0] ? "holds registered (not "
		     "synced)" : "was never synced and holds", s->cluster_id,
		     ids);
		return REG_CONFLICT;
	}
	return REG_OK;
}

enum registry_status
plan_sync(struct registry *reg, struct proposal *p, const struct token_spec *s,
	  char *why)
{
	const struct token *tok = registry_find_token(reg, s->token);
	unsigned size = s->n > 0 ? (unsigned)s->n : 1;
	const char *cluster;
	struct change c = { 0 };
	enum registry_status rs;
	size_t i;

	if ((rs = plan_claim_token(reg, s->token)) != REG_OK)
		return rs;
	if (tok == NULL)
		return REG_NOT_FOUND;
	if ((rs = sync_allowed(tok, s, why)) != REG_OK)
		return rs;
	cluster = s->cluster_id[0] ? s->cluster_id : tok->cluster_id;
	for (i = 0; i < s->n; i++) {
		const struct member *m = token_find_member(tok,
							   s->members[i].id);

		/* A registered member the cluster lists becomes the
		 * cluster's: written once more, as synced. */
		if (m == NULL || !m->synced ||
		    differs(m->value, s->members[i].value) ||
		    differs(m->clients, s->members[i].clients))
			add_member(p, s->token, &s->members[i],
				   m ? m->created_index : 0, 1);
	}
	for (i = 0; i < tok->nmembers; i++)
		if (!wanted(s, tok->members[i]->id))
			proposal_add_change(p, CHANGE_MEMBER_DEL, s->token,
			    tok->members[i]->id, &c);
	if (tok->size != size || strcmp(tok->cluster_id, cluster) != 0) {
		memset(&c, 0, sizeof(c));
		c.size = size;
		c.created_at = tok->created_at;
		c.created_index = tok->created_index;
		snprintf(c.cluster_id, sizeof(c.cluster_id), "%s", cluster);
		proposal_add_change(p, CHANGE_TOKEN_PUT, s->token, NULL, &c);
	}
	/* The token's own change comes last: the size and the cluster ID
	 * follow the members once they are all written. */
	if (s->parts != NULL)
		s->parts->more = keep_first(p, s->parts->max_changes);
	return REG_OK;
}

/* ---- dry runs ---- */

static int
by_id(const void *a, const void *b)
{
	return strcmp(((const struct member_diff *)a)->id,
		      ((const struct member_diff *)b)->id);
}

static struct member_diff *
diff_find(struct token_diff *d, const char *id)
{
	struct member_diff key;

	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, d->members, d->n, sizeof(key), by_id);
}

/* Every id the token or p names, sorted, once; each as it is now. */
static void
diff_collect(struct token_diff *d, const struct token *tok,
	     const struct proposal *p)
{
	size_t i, k, n = 0;

	d->members = xcalloc((tok ? tok->nmembers : 0) + p->n + 1,
			     sizeof(*d->members));
	for (i = 0; tok != NULL && i < tok->nmembers; i++) {
		struct member_diff *m = &d->members[n++];

		snprintf(m->id, sizeof(m->id), "%s", tok->members[i]->id);
		m->before.present = 1;
		m->before.value = tok->members[i]->value;
		m->before.clients = tok->members[i]->clients;
	}
	for (i = 0; i < p->n; i++)
		if (p->changes[i].kind == CHANGE_MEMBER_PUT ||
		    p->changes[i].kind == CHANGE_MEMBER_DEL)
			snprintf(d->members[n++].id, sizeof(d->members[0].id),
				 "%s", p->changes[i].name);
	/* Sorted with the token's own entries first among equals: they
	 * carry the before state. */
	qsort(d->members, n, sizeof(*d->members), by_id);
	for (i = 0, k = 0; i < n; i++) {
		if (k > 0 && strcmp(d->members[k - 1].id, d->members[i].id) == 0) {
			if (d->members[i].before.present)
				d->members[k - 1].before = d->members[i].before;
			continue;
		}
		d->members[k++] = d->members[i];
	}
	d->n = k;
	for (i = 0; i < d->n; i++)
		d->members[i].after = d->members[i].before;
}

/* Keeps only the members whose state changes. */
static void
diff_prune(struct token_diff *d)
{
	size_t i, k = 0;

	for (i = 0; i < d->n; i++) {
		const struct member_state *b = &d->members[i].before,
					  *a = &d->members[i].after;

		if (b->present != a->present ||
		    (b->present && (differs(b->value, a->value) ||
				    differs(b->clients, a->clients))))
			d->members[k++] = d->members[i];
	}
	d->n = k;
}

void
token_diff_of(const struct registry *reg, const char *token,
	      const struct proposal *p, struct token_diff *d)
{
	const struct token *tok = registry_find_token(reg, token);
	size_t i, k;

	memset(d, 0, sizeof(*d));
	d->exists = tok != NULL;
	d->size_before = d->size_after = tok ? tok->size : 0;
	if (tok != NULL)
		memcpy(d->cluster_before, tok->cluster_id,
		       sizeof(d->cluster_before));
	memcpy(d->cluster_after, d->cluster_before, sizeof(d->cluster_after));
	diff_collect(d, tok, p);
	for (i = 0; i < p->n; i++) {
		const struct change *c = &p->changes[i];
		struct member_diff *m;

		if (strcmp(c->token, token) != 0)
			continue;
		switch (c->kind) {
		case CHANGE_TOKEN_DEL:
			for (k = 0; k < d->n; k++)
				d->members[k].after.present = 0;
			d->size_after = 0;
			d->cluster_after[0] = '\0';
			break;
		case CHANGE_TOKEN_PUT:
			d->size_after = c->size;
			memcpy(d->cluster_after, c->cluster_id,
			       sizeof(d->cluster_after));
			break;
		case CHANGE_MEMBER_PUT:
		case CHANGE_MEMBER_DEL:
			m = diff_find(d, c->name);
			m->after.present = c->kind == CHANGE_MEMBER_PUT;
			m->after.value = c->value;
			m->after.clients = c->clients;
			break;
		default:
			break; /* aliases name the token, not its members */
		}
	}
	diff_prune(d);
}

void
token_diff_free(struct token_diff *d)
{
	free(d->members);
	d->members = NULL;
	d->n = 0;
}
