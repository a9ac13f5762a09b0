/* dns_zone.c -- the DNS view: static zones plus synthesized token records,
 * with answers prepared in wire form when the data changes.
 *
 * Data lives in nodes, one per owner name and zone, in one hash table. Each
 * node keeps its records (ldns) and, per type, a prepared response. A token
 * change rebuilds only that token's nodes and the zone's SOA; a SIGHUP
 * builds a whole new view and swaps it in.
 */
#include "dns_zone.h"

#include "dns_data.h"

#include <event2/event.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"
#include "registry.h"

struct dns_view {
	struct dns_view_config cfg;
	struct registry *reg;
	struct event *apply_ev;
	struct dns_data *data;
	char (*dirty)[REGISTRY_NAME_MAX + 1]; /* tokens changed this round */
	size_t ndirty, dirty_cap;
	dns_change_fn on_change;
	void *on_change_arg;
};

/* ---- whole views ---- */

static void
data_free(struct dns_data *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < NODE_BUCKETS; i++) {
		struct dns_node *n = d->buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->hash_next;
			dns_node_free(d, n);
		}
	}
	for (i = 0; i < TOKEN_BUCKETS; i++) {
		struct token_nodes *tn = d->tokens[i], *next;

		for (; tn != NULL; tn = next) {
			next = tn->next;
			free(tn);
		}
	}
	for (i = 0; i < d->nzones; i++) {
		dns_journal_clear(d->zones[i]);
		dns_chunk_free(&d->zones[i]->negative);
		free(d->zones[i]);
	}
	free(d->buckets);
	free(d);
}

struct synth_all {
	struct dns_data *d;
	const struct dns_view_config *cfg;
	const struct registry *reg;
};

/* Unique, as a rebuild leaves them: otherwise repeats are served until
 * the next change, whose journal entry then deletes the one that stays. */
static void
synthesize_one(const struct token *tok, void *arg)
{
	struct synth_all *s = arg;

	dns_synthesize_token(s->d, s->cfg, s->reg, tok);
	dns_unique_token_nodes(s->d, tok->name);
}

static struct dns_data *
data_build(const struct dns_view_config *cfg, const struct registry *reg,
	   char *err)
{
	struct dns_data *d = xcalloc(1, sizeof(*d));
	struct synth_all s = { d, cfg, reg };

	d->buckets = xcalloc(NODE_BUCKETS, sizeof(*d->buckets));
	if (dns_load_zones_dir(d, cfg->zones_dir, err) != 0 ||
	    dns_find_token_zone(d, cfg, err) != 0) {
		data_free(d);
		return NULL;
	}
	registry_foreach_token(reg, synthesize_one, &s);
	dns_update_serial(d, reg);
	dns_prepare_all(d);
	return d;
}

/* ---- the view ---- */

static void
mark_dirty(struct dns_view *v, const char *token)
{
	size_t i;

	for (i = 0; i < v->ndirty; i++)
		if (strcmp(v->dirty[i], token) == 0)
			return;
	if (v->ndirty == v->dirty_cap) {
		v->dirty_cap = v->dirty_cap ? v->dirty_cap * 2 : 16;
		v->dirty = xrealloc(v->dirty, v->dirty_cap * sizeof(*v->dirty));
	}
	snprintf(v->dirty[v->ndirty++], sizeof(v->dirty[0]), "%s", token);
	if (v->ndirty == 1)
		event_active(v->apply_ev, 0, 0);
}

/* Whether a member at created_index is among the published first `size`:
 * changes to the others (etcd's proxies, late joiners) leave DNS alone. */
static int
published(const struct token *tok, uint64_t created_index)
{
	return tok->nmembers < tok->size ||
	       created_index <= tok->members[tok->size - 1].created_index;
}

static void
on_registry_event(const struct registry_event *ev, void *arg)
{
	const struct token *tok = ev->token;

	if (ev->type == EV_TOKEN_CREATED)
		return; /* no members yet: nothing to publish */
	if ((ev->type == EV_MEMBER_SET || ev->type == EV_MEMBER_DELETED) &&
	    !published(tok, ev->member->created_index))
		return;
	mark_dirty(arg, tok->name);
}

/* Rebuilds one token's nodes, noting the difference in the journal entry. */
static void
rebuild_token(struct dns_view *v, const char *name, struct journal_entry *e)
{
	struct dns_data *d = v->data;
	const struct token *tok = registry_find_token(v->reg, name);
	ldns_rr_list *before = dns_token_records(d, name), *after;

	dns_drop_token_nodes(d, name);
	if (tok != NULL) {
		dns_synthesize_token(d, &v->cfg, v->reg, tok);
		dns_prepare_token_nodes(d, name);
	}
	after = dns_token_records(d, name);
	dns_sort_rrs(before);
	dns_sort_rrs(after);
	dns_diff_sorted(before, after, e->deleted, e->added);
	ldns_rr_list_deep_free(before);
	ldns_rr_list_deep_free(after);
}

/* Rebuilds the tokens changed in this loop iteration, and the SOA. */
static void
apply_changes(evutil_socket_t fd, short what, void *arg)
{
	struct dns_view *v = arg;
	struct dns_data *d = v->data;
	struct dns_zone *z = d->token_zone;
	struct journal_entry e;
	size_t i;

	(void)fd;
	(void)what;
	e.from = ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
	e.deleted = dns_lead_with(ldns_rr_clone(z->soa), ldns_rr_list_new());
	e.added = ldns_rr_list_new();
	for (i = 0; i < v->ndirty; i++)
		rebuild_token(v, v->dirty[i], &e);
	v->ndirty = 0;
	dns_update_serial(d, v->reg);
	e.to = ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
	e.added = dns_lead_with(ldns_rr_clone(z->soa), e.added);
	dns_journal_add(z, &e, v->cfg.journal_max);
	dns_prepare_node(d, dns_find_node(d, z, z->apex, z->apex_len));
	dns_prepare_negative(z);
	if (v->on_change != NULL)
		v->on_change(z->origin, v->on_change_arg);
}

struct dns_view *
dns_view_new(const struct dns_view_config *cfg, struct registry *reg,
	     struct event_base *base, char *err)
{
	struct dns_view *v = xcalloc(1, sizeof(*v));

	v->cfg = *cfg;
	v->reg = reg;
	v->data = data_build(cfg, reg, err);
	if (v->data == NULL) {
		free(v);
		return NULL;
	}
	v->apply_ev = event_new(base, -1, 0, apply_changes, v);
	if (registry_subscribe(reg, on_registry_event, v) != 0) {
		dns_view_free(v);
		fail(err, "too many registry listeners");
		return NULL;
	}
	return v;
}

static void
notify_all(struct dns_view *v)
{
	size_t i;

	for (i = 0; v->on_change != NULL && i < v->data->nzones; i++)
		v->on_change(v->data->zones[i]->origin, v->on_change_arg);
}

int
dns_view_reload(struct dns_view *v, char *err)
{
	struct dns_data *d = data_build(&v->cfg, v->reg, err);

	if (d == NULL)
		return -1;
	data_free(v->data);
	v->data = d;
	v->ndirty = 0; /* the new build has every token as it is now */
	notify_all(v);
	return 0;
}

void
dns_view_lookup(const struct dns_view *v, const uint8_t *qname,
		uint16_t qtype, struct dns_lookup *out)
{
	const struct dns_data *d = v->data;
	const struct dns_zone *z = dns_zone_of(d, qname);
	const struct dns_node *n;
	size_t len = dns_name_len(qname), i;

	memset(out, 0, sizeof(*out));
	out->kind = LOOKUP_REFUSED;
	if (z == NULL)
		return;
	out->zone = z;
	if (z->has_cuts) {
		/* The parent side of a cut answers for its DS (RFC 4035
		 * 3.1.4.1): the search for cuts starts above such a name. */
		const uint8_t *up = qtype == LDNS_RR_TYPE_DS ?
			dns_name_skip_labels(qname, 1) : qname;

		for (; dns_name_len(up) > z->apex_len;
		     up = dns_name_skip_labels(up, 1)) {
			n = dns_find_node(d, z, up, dns_name_len(up));
			if (n != NULL && n->is_cut) {
				out->kind = LOOKUP_REFERRAL;
				out->chunk = &n->referral;
				return;
			}
		}
	}
	n = dns_find_node(d, z, qname, len);
	out->chunk = &z->negative;
	if (n == NULL) {
		out->kind = LOOKUP_NXDOMAIN;
		return;
	}
	out->kind = LOOKUP_NODATA;
	for (i = 0; i < n->nanswers; i++)
		if (n->answers[i].type == qtype ||
		    n->answers[i].type == TYPE_CNAME ||
		    (qtype == TYPE_ANY && i == 0)) {
			out->kind = LOOKUP_ANSWER;
			out->answer = &n->answers[i];
			if (n->answers[i].type == qtype)
				return;
		}
}

uint32_t
dns_view_serial(const struct dns_view *v, const char *zone)
{
	size_t i;

	for (i = 0; i < v->data->nzones; i++) {
		const struct dns_zone *z = v->data->zones[i];

		if ((zone == NULL && z->is_token_zone) ||
		    (zone != NULL && strcmp(z->origin, zone) == 0))
			return ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
	}
	return 0;
}

size_t
dns_view_zone_count(const struct dns_view *v)
{
	return v->data->nzones;
}

size_t
dns_view_answer_count(const struct dns_view *v)
{
	return v->data->nanswers;
}

void
dns_view_free(struct dns_view *v)
{
	if (v == NULL)
		return;
	if (v->apply_ev != NULL)
		event_free(v->apply_ev);
	data_free(v->data);
	free(v->dirty);
	free(v);
}

/* ---- zone transfers ---- */

const struct dns_zone *
dns_view_find_zone(const struct dns_view *v, const uint8_t *apex)
{
	size_t i, len = dns_name_len(apex);

	for (i = 0; i < v->data->nzones; i++) {
		const struct dns_zone *z = v->data->zones[i];

		if (z->apex_len == len && memcmp(z->apex, apex, len) == 0)
			return z;
	}
	return NULL;
}

const char *
dns_zone_origin(const struct dns_zone *z)
{
	return z->origin;
}

uint32_t
dns_zone_serial(const struct dns_zone *z)
{
	return ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
}

ldns_rr_list *
dns_view_axfr(const struct dns_view *v, const struct dns_zone *z)
{
	ldns_rr_list *out = ldns_rr_list_new();
	size_t i, j;

	ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
	for (i = 0; i < NODE_BUCKETS; i++) {
		const struct dns_node *n = v->data->buckets[i];

		for (; n != NULL; n = n->hash_next) {
			if (n->zone != z)
				continue;
			for (j = 0; j < ldns_rr_list_rr_count(n->rrs); j++) {
				ldns_rr *rr = ldns_rr_list_rr(n->rrs, j);

				if (rr != z->soa)
					ldns_rr_list_push_rr(out,
							     ldns_rr_clone(rr));
			}
		}
	}
	ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
	return out;
}

static void
append_clones(ldns_rr_list *to, const ldns_rr_list *from)
{
	size_t i;

	for (i = 0; i < ldns_rr_list_rr_count(from); i++)
		ldns_rr_list_push_rr(to, ldns_rr_clone(ldns_rr_list_rr(from,
									  i)));
}

ldns_rr_list *
dns_view_ixfr(const struct dns_view *v, const struct dns_zone *z,
	      uint32_t from)
{
	ldns_rr_list *out;
	size_t i;

	(void)v;
	/* Up to date, or newer than us in serial arithmetic (RFC 1982): the
	 * SOA alone says so (RFC 1995 section 2), as other servers answer;
	 * the whole zone would be an older copy the client ignores. */
	if ((int32_t)(from - dns_zone_serial(z)) >= 0) {
		out = ldns_rr_list_new();
		ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
		return out;
	}
	for (i = 0; i < z->njournal && z->journal[i].from != from; i++)
		;
	if (i == z->njournal)
		return NULL;
	out = ldns_rr_list_new();
	ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
	for (; i < z->njournal; i++) {
		append_clones(out, z->journal[i].deleted);
		append_clones(out, z->journal[i].added);
	}
	ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
	return out;
}

void
dns_view_on_change(struct dns_view *v, dns_change_fn fn, void *arg)
{
	v->on_change = fn;
	v->on_change_arg = arg;
}
