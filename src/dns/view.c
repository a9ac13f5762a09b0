/* view.c -- the DNS view: static zones plus the records made from the
 * registry, with answers prepared in wire form when the data changes.
 *
 * The registry tells the view of each committed change, then of the end of
 * the commit (EV_BATCH_END). Changes go to synth.c, which publishes and
 * withdraws records into a batch; at the end of the commit the batch is
 * settled here, before the registry answers the commit's requests: the
 * answers of the changed nodes are prepared again, the token zone's serial
 * moves to the registry's durable index, the journal gets exactly the
 * records that went and came, and NOTIFY is told. A commit that changes
 * nothing in DNS (a member outside the published ones) moves nothing.
 *
 * A SIGHUP builds a whole new view and swaps it in; transfers of the old
 * one end (nodes.c calls their gone).
 *
 * With UDP workers (workers.c), each settled node is also published to
 * them (replica.h) and the batch handed over once it has settled: the
 * workers see a commit whole, after the main loop does.
 */
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "dns.h"
#include "prepare.h"
#include "registry.h"
#include "replica.h"
#include "synth.h"
#include "util.h"
#include "zonefile.h"

/* What a reload replaces whole. */
struct view_data {
	struct dns_data data;
	struct synth synth;
};

struct dns_view {
	struct dns_view_config cfg;
	struct registry *reg;
	struct view_data *vd;
	struct dns_batch batch; /* changes of the commit under way */
	int in_batch;
	uint64_t batch_started; /* ns */
	uint64_t publishes, publish_ns, publish_max_ns;
	dns_change_fn on_change;
	void *on_change_arg;
	dns_feed_fn feed; /* NULL: no replicas to feed */
	void *feed_arg;
	unsigned nreaders;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- settling changes ---- */

/* Prunes, prepares and, when left empty, removes every changed node. A
 * removed node lists its parent, which may be empty now too. Each goes
 * into pb, when there are workers to feed, as it is then (or as gone). */
static void
settle_nodes(struct dns_data *d, struct dns_batch *b, struct pub_batch *pb)
{
	size_t i;

	for (i = 0; i < b->ndirty; i++) {
		struct dns_node *n = b->dirty[i];

		n->dirty = 0;
		n->fresh = 0;
		dns_node_prune(d, n);
		prepare_node(d, n);
		if (pb != NULL)
			pub_batch_node(pb, n, dns_node_unused(n));
		dns_node_release(d, b, n);
	}
	b->ndirty = 0;
}

/* The whole view to every worker (start, reload). */
static void
feed_snapshot(struct dns_view *v)
{
	struct pub_batch *pb;

	if (v->feed == NULL)
		return;
	pb = pub_batch_new(v->nreaders, 1);
	pub_batch_snapshot(pb, &v->vd->data);
	v->feed(pb, v->feed_arg);
}

void
dns_view_feed(struct dns_view *v, unsigned nreaders, dns_feed_fn fn,
	      void *arg)
{
	v->feed = fn;
	v->feed_arg = arg;
	v->nreaders = nreaders;
	feed_snapshot(v);
}

/* The records whose liveness the batch changed, as a journal entry. */
static void
collect_changes(struct dns_batch *b, struct journal_entry *e)
{
	size_t i;

	for (i = 0; i < b->ntouched; i++) {
		const struct dns_touch *t = &b->touched[i];
		const struct dns_rr *rr = t->rr;
		struct rr_list *l = NULL;

		t->rr->touched = 0;
		if (rr->was_live && rr->refs == 0)
			l = &e->deleted;
		else if (!rr->was_live && rr->refs > 0)
			l = &e->added;
		if (l != NULL)
			rr_list_add(l, t->node->name, t->node->name_len,
				    t->type, rr->ttl, rr->rdata, rr->rdlen);
	}
	b->ntouched = 0;
}

static void
set_token_serial(struct dns_data *d, struct dns_batch *b, uint64_t index)
{
	struct dns_zone *z = d->token_zone;

	dns_zone_set_serial(z, z->serial_base + (uint32_t)index);
	dns_mark_dirty(b, z->apex_node, dns_node_rrset(z->apex_node, TYPE_SOA));
}

static void
note_time(struct dns_view *v)
{
	uint64_t ns = now_ns() - v->batch_started;

	v->in_batch = 0;
	v->publishes++;
	v->publish_ns += ns;
	if (ns > v->publish_max_ns)
		v->publish_max_ns = ns;
}

/* The end of a commit: everything it changed goes out now, the serial
 * following the durable index. */
static void
publish(struct dns_view *v, uint64_t index)
{
	struct dns_data *d = &v->vd->data;
	struct dns_zone *z = d->token_zone;
	struct journal_entry e;
	struct pub_batch *pb = NULL;

	/* Transfers under way take what they have not sent of the changed
	 * nodes now, while their records still say what they were. */
	dns_walks_before_batch(&v->batch);
	if (v->feed != NULL)
		pb = pub_batch_new(v->nreaders, 0);
	memset(&e, 0, sizeof(e));
	collect_changes(&v->batch, &e);
	if (e.deleted.count + e.added.count > 0) {
		e.from = dns_zone_serial(z);
		set_token_serial(d, &v->batch, index);
		e.to = dns_zone_serial(z);
	}
	settle_nodes(d, &v->batch, pb);
	htable_fit(&z->nodes);
	if (e.deleted.count + e.added.count == 0) {
		journal_entry_clear(&e);
		if (pb != NULL)
			v->feed(pb, v->feed_arg);
		return;
	}
	prepare_negative(z);
	if (pb != NULL) {
		pub_batch_zone(pb, z);
		v->feed(pb, v->feed_arg);
	}
	journal_add(&z->journal, &e);
	if (v->on_change != NULL)
		v->on_change(z->origin, v->on_change_arg);
}

static void
alias_set(struct dns_view *v, const struct registry_event *ev)
{
	const char *token = ev->token ? ev->token->name : NULL;
	const struct alias *a;

	if (token == NULL && (a = registry_find_alias(v->reg, ev->alias)))
		token = a->token;
	if (token != NULL)
		synth_alias_set(&v->vd->synth, &v->batch, ev->alias, token);
}

static void
on_registry_event(const struct registry_event *ev, void *arg)
{
	struct dns_view *v = arg;
	struct synth *s = &v->vd->synth;
	struct dns_batch *b = &v->batch;

	if (!v->in_batch) {
		v->in_batch = 1;
		v->batch_started = now_ns();
	}
	switch (ev->type) {
	case EV_TOKEN_CREATED:
	case EV_TOKEN_UPDATED:
		synth_token(s, b, ev->token);
		break;
	case EV_TOKEN_DELETED:
		synth_token_deleted(s, b, ev->token->name);
		break;
	case EV_ALIAS_SET:
		alias_set(v, ev);
		break;
	case EV_ALIAS_DELETED:
		synth_alias_deleted(s, b, ev->alias);
		break;
	case EV_MEMBER_SET:
		synth_member_set(s, b, ev->token, ev->member);
		break;
	case EV_MEMBER_DELETED:
		synth_member_deleted(s, b, ev->token, ev->member);
		break;
	case EV_BATCH_END:
		publish(v, ev->index);
		note_time(v);
		break;
	}
}

/* ---- whole views ---- */

static void
view_data_free(struct view_data *vd)
{
	if (vd == NULL)
		return;
	synth_free(&vd->synth);
	dns_data_clear(&vd->data);
	free(vd);
}

struct build {
	struct synth *s;
	struct dns_batch *b;
	struct dns_data *d;
};

/* Each token's nodes are settled while they are still in the cache: its
 * SRV answers look up its members' addresses, which at 100k tokens cost
 * a cache miss each when settled after the whole build. */
static void
build_token(const struct token *tok, void *arg)
{
	struct build *bl = arg;

	synth_token(bl->s, bl->b, tok);
	settle_nodes(bl->d, bl->b, NULL);
}

static void
build_alias(const struct alias *a, void *arg)
{
	struct build *bl = arg;

	synth_alias_set(bl->s, bl->b, a->name, a->token);
}

/* Tables sized once for what the build is about to put in them: at 100k
 * tokens, doubling the node table as it fills moved every node eight
 * times more. Each token makes three names (the token, _tcp and the SRV
 * owner) and each member about one (its address name). */
static void
reserve_tables(struct view_data *vd, const struct registry *reg)
{
	struct dns_zone *z = vd->data.token_zone;

	if (z != NULL)
		htable_reserve(&z->nodes, z->nodes.count + 3 * reg->ntokens +
						  reg->nmembers);
	synth_reserve(&vd->synth, reg->ntokens);
}

static struct view_data *
view_data_build(const struct dns_view_config *cfg, const struct registry *reg,
		char *err)
{
	struct view_data *vd = xcalloc(1, sizeof(*vd));
	struct dns_batch b;
	struct build bl = { &vd->synth, &b, &vd->data };
	size_t i;

	memset(&b, 0, sizeof(b)); /* not journaling: nothing was before */
	dns_data_init(&vd->data);
	if (zonefile_load_dir(&vd->data, &b, cfg->zones_dir, err) != 0 ||
	    zonefile_token_zone(&vd->data, &b, cfg, err) != 0) {
		dns_batch_free(&b);
		dns_data_clear(&vd->data);
		free(vd);
		return NULL;
	}
	synth_init(&vd->synth, &vd->data, cfg);
	reserve_tables(vd, reg);
	registry_foreach_token(reg, build_token, &bl);
	registry_foreach_alias(reg, build_alias, &bl);
	set_token_serial(&vd->data, &b, reg->index);
	settle_nodes(&vd->data, &b, NULL);
	for (i = 0; i < vd->data.nzones; i++)
		prepare_negative(vd->data.zone_list[i]);
	dns_batch_free(&b);
	return vd;
}

struct dns_view *
dns_view_new(const struct dns_view_config *cfg, struct registry *reg,
	     char *err)
{
	struct dns_view *v = xcalloc(1, sizeof(*v));

	v->cfg = *cfg;
	v->reg = reg;
	v->batch.journaling = 1;
	v->vd = view_data_build(cfg, reg, err);
	if (v->vd == NULL) {
		free(v);
		return NULL;
	}
	if (registry_subscribe(reg, on_registry_event, v) != 0) {
		dns_view_free(v);
		fail(err, "too many registry listeners");
		return NULL;
	}
	return v;
}

int
dns_view_reload(struct dns_view *v, char *err)
{
	struct view_data *vd = view_data_build(&v->cfg, v->reg, err);
	size_t i;

	if (vd == NULL)
		return -1;
	/* Commits end before the loop turns, so no batch is open here; if
	 * one were, its records go with the old data and the new build has
	 * the registry as it is. */
	v->batch.ntouched = v->batch.ndirty = 0;
	view_data_free(v->vd);
	v->vd = vd;
	feed_snapshot(v);
	for (i = 0; v->on_change != NULL && i < vd->data.nzones; i++)
		v->on_change(vd->data.zone_list[i]->origin, v->on_change_arg);
	return 0;
}

void
dns_view_free(struct dns_view *v)
{
	if (v == NULL)
		return;
	view_data_free(v->vd);
	dns_batch_free(&v->batch);
	free(v);
}

/* ---- reading ---- */

/* The parent side of a cut answers for its DS (RFC 4035 3.1.4.1): the
 * search for cuts starts above such a name. */
static const struct dns_node *
find_cut(const struct dns_zone *z, const uint8_t *qname, uint16_t qtype)
{
	const uint8_t *up = qtype == TYPE_DS ? dns_name_skip_labels(qname, 1) :
					       qname;

	for (; dns_name_len(up) > z->apex_len;
	     up = dns_name_skip_labels(up, 1)) {
		const struct dns_node *n = dns_node_find(z, up,
							 dns_name_len(up));

		if (n != NULL && n->is_cut && n->referral != NULL)
			return n;
	}
	return NULL;
}

void
dns_view_lookup(const struct dns_view *v, const uint8_t *qname,
		uint16_t qtype, struct dns_lookup *out)
{
	const struct dns_zone *z = dns_zone_of(&v->vd->data, qname);
	const struct dns_node *n;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->kind = LOOKUP_REFUSED;
	if (z == NULL)
		return;
	out->apex = z->apex;
	out->apex_len = z->apex_len;
	if (z->has_cuts && (n = find_cut(z, qname, qtype)) != NULL) {
		out->kind = LOOKUP_REFERRAL;
		out->chunk = n->referral;
		return;
	}
	n = dns_node_find(z, qname, dns_name_len(qname));
	if (n != NULL && n->fresh)
		n = NULL; /* made by a commit that has not ended */
	out->chunk = &z->negative;
	out->kind = n == NULL ? LOOKUP_NXDOMAIN : LOOKUP_NODATA;
	for (i = 0; n != NULL && i < n->nsets; i++)
		if (n->sets[i].answer.wire != NULL &&
		    dns_lookup_offer(out, &n->sets[i].answer, qtype))
			return;
}

const struct dns_data *
dns_view_data(const struct dns_view *v)
{
	return &v->vd->data;
}

void
dns_view_on_change(struct dns_view *v, dns_change_fn fn, void *arg)
{
	v->on_change = fn;
	v->on_change_arg = arg;
}

uint32_t
dns_view_serial(const struct dns_view *v, const char *zone)
{
	const struct dns_data *d = &v->vd->data;
	size_t i;

	for (i = 0; i < d->nzones; i++) {
		const struct dns_zone *z = d->zone_list[i];

		if ((zone == NULL && z->is_token_zone) ||
		    (zone != NULL && strcmp(z->origin, zone) == 0))
			return dns_zone_serial(z);
	}
	return 0;
}

size_t
dns_view_zone_count(const struct dns_view *v)
{
	return v->vd->data.nzones;
}

size_t
dns_view_answer_count(const struct dns_view *v)
{
	return v->vd->data.nanswers;
}

void
dns_view_metrics(struct evbuffer *out, void *arg)
{
	const struct dns_view *v = arg;

	evbuffer_add_printf(out,
		"# HELP srvgate_dns_publish_total Commits the DNS view "
		"published.\n"
		"# TYPE srvgate_dns_publish_total counter\n"
		"srvgate_dns_publish_total %llu\n"
		"# HELP srvgate_dns_publish_seconds_total Loop time spent "
		"publishing commits in DNS.\n"
		"# TYPE srvgate_dns_publish_seconds_total counter\n"
		"srvgate_dns_publish_seconds_total %.6f\n"
		"# HELP srvgate_dns_publish_max_seconds The longest one commit "
		"took to publish.\n"
		"# TYPE srvgate_dns_publish_max_seconds gauge\n"
		"srvgate_dns_publish_max_seconds %.6f\n"
		"# HELP srvgate_dns_nodes Names the DNS view holds.\n"
		"# TYPE srvgate_dns_nodes gauge\n"
		"srvgate_dns_nodes %zu\n",
		(unsigned long long)v->publishes, v->publish_ns / 1e9,
		v->publish_max_ns / 1e9, v->vd->data.nnodes);
}
