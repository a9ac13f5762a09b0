/* kv.c -- KV.Range, KV.Put, KV.DeleteRange over the registry, and the
 * pieces Txn shares (kv.h).
 *
 * Reads answer from the registry at once: it holds only what is durable.
 * Writes become registry requests, answered once the store has settled
 * them, with the revisions the commit gave them. Who may write what:
 * - anyone: a member key of an existing token, once (a second put of the
 *   same value succeeds without a write, as a restarted etcd re-registers;
 *   another value is AlreadyExists), with a value etcd could use;
 * - the admin token (metadata `authorization: Bearer ...`): overwrites,
 *   size keys (making a token, or changing its size) and deletes;
 * - nobody: any other key (PermissionDenied).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kv.h"
#include "peers.h"

/* A KeyValue and the storage its key (and value) live in. */
struct kvbuf {
	V3__KeyValue kv;
	int own_value;
	char size[24];
	char key[V3_KEY_MAX];
};

int64_t
kv_version(uint64_t created, uint64_t modified)
{
	return created == modified ? 1 : 2;
}

V3__KeyValue *
kv_new(const struct v3ref *ref, int keys_only, int copy_value)
{
	struct kvbuf *b = xcalloc(1, sizeof(*b));
	const char *value;
	uint64_t created, modified;

	v3__key_value__init(&b->kv);
	b->kv.key.len = v3ref_key(ref, b->key);
	b->kv.key.data = (uint8_t *)b->key;
	if (ref->m != NULL) {
		value = ref->m->value ? ref->m->value : "";
		created = ref->m->created_index;
		modified = ref->m->modified_index;
	} else {
		snprintf(b->size, sizeof(b->size), "%u", ref->tok->size);
		value = b->size;
		created = ref->tok->created_index;
		modified = ref->tok->modified_index;
	}
	b->kv.create_revision = (int64_t)created;
	b->kv.mod_revision = (int64_t)modified;
	b->kv.version = kv_version(created, modified);
	if (!keys_only) {
		b->own_value = copy_value && ref->m != NULL;
		b->kv.value.data = (uint8_t *)(b->own_value ? xstrdup(value) :
							      value);
		b->kv.value.len = strlen(value);
	}
	return &b->kv;
}

void
kv_free(V3__KeyValue *kv)
{
	struct kvbuf *b = (struct kvbuf *)(void *)kv;

	if (kv == NULL)
		return;
	if (b->own_value)
		free(b->kv.value.data);
	free(b);
}

void
kv_free_all(V3__KeyValue **kvs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		kv_free(kvs[i]);
	free(kvs);
}

/* ---- Range ---- */

struct range_scan {
	const V3__RangeRequest *rq;
	uint64_t rev;	/* the revision asked for; 0: now */
	struct v3ref *refs;
	size_t n, cap;
	int64_t count;
	int compacted;
};

static void
ref_revisions(const struct v3ref *r, uint64_t *created, uint64_t *modified)
{
	*created = r->m ? r->m->created_index : r->tok->created_index;
	*modified = r->m ? r->m->modified_index : r->tok->modified_index;
}

static int
passes_filters(const V3__RangeRequest *rq, uint64_t created,
	       uint64_t modified)
{
	return (rq->min_mod_revision <= 0 ||
		modified >= (uint64_t)rq->min_mod_revision) &&
	       (rq->max_mod_revision <= 0 ||
		modified <= (uint64_t)rq->max_mod_revision) &&
	       (rq->min_create_revision <= 0 ||
		created >= (uint64_t)rq->min_create_revision) &&
	       (rq->max_create_revision <= 0 ||
		created <= (uint64_t)rq->max_create_revision);
}

static int
scan_one(const struct v3ref *ref, void *arg)
{
	struct range_scan *s = arg;
	uint64_t created, modified;

	ref_revisions(ref, &created, &modified);
	if (s->rev != 0 && created > s->rev)
		return 0; /* made after the revision asked for */
	if (s->rev != 0 && modified > s->rev) {
		s->compacted = 1; /* what it was then is not kept */
		return 1;
	}
	s->count++;
	if (!passes_filters(s->rq, created, modified))
		return 0;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->refs = xrealloc(s->refs, s->cap * sizeof(*s->refs));
	}
	s->refs[s->n++] = *ref;
	return 0;
}

struct history_check {
	const struct v3range *r;
	uint64_t rev;
	int lost;
};

/* A deletion after rev of a key in the range, or deletions forgotten past
 * rev, make the range at rev unknowable. */
static void
check_deletions(const struct token *tok, void *arg)
{
	struct history_check *h = arg;
	char key[V3_KEY_MAX];
	struct v3ref ref = { tok, NULL };
	size_t i, n;

	if (tok->history_floor > h->rev + 1)
		h->lost = 1;
	for (i = 0; i < tok->ntombs && !h->lost; i++) {
		if (tok->tombs[i].deleted_index <= h->rev)
			continue;
		ref.m = &tok->tombs[i].prev;
		n = v3ref_key(&ref, key);
		if (v3range_has(h->r, (const uint8_t *)key, n))
			h->lost = 1;
	}
}

static int
history_lost(const struct registry *reg, const struct v3range *r,
	     uint64_t rev)
{
	struct history_check h = { r, rev, 0 };
	char name[REGISTRY_NAME_MAX + 1];
	const struct token *tok;

	switch (v3range_scope(r, name)) {
	case V3SCOPE_NONE:
		return 0;
	case V3SCOPE_TOKEN:
		if ((tok = registry_find_token(reg, name)) != NULL)
			check_deletions(tok, &h);
		return h.lost;
	case V3SCOPE_WIDE:
		break;
	}
	registry_foreach_token(reg, check_deletions, &h);
	return h.lost;
}

/* ---- sorting ---- */

struct sort_ctx {
	const struct v3ref *refs;
	int target;
	int descend;
};

static int
compare_refs(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sorting = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct v3ref *x = &sorting->refs[i], *y = &sorting->refs[j];
	uint64_t xc, xm, yc, ym;
	int c = 0;

	ref_revisions(x, &xc, &xm);
	ref_revisions(y, &yc, &ym);
	switch (sorting->target) {
	case V3__RANGE_REQUEST__SORT_TARGET__VERSION:
		c = (kv_version(xc, xm) > kv_version(yc, ym)) -
		    (kv_version(xc, xm) < kv_version(yc, ym));
		break;
	case V3__RANGE_REQUEST__SORT_TARGET__CREATE:
		c = (xc > yc) - (xc < yc);
		break;
	case V3__RANGE_REQUEST__SORT_TARGET__MOD:
		c = (xm > ym) - (xm < ym);
		break;
	case V3__RANGE_REQUEST__SORT_TARGET__VALUE:
		if (x->m != NULL && y->m != NULL)
			c = strcmp(x->m->value, y->m->value);
		break;
	}
	if (c == 0) /* ties keep key order */
		c = (i > j) - (i < j);
	return sorting->descend ? -c : c;
}

/* The order etcd gives: keys ascending unless asked otherwise; another
 * target with no order means ascending. Returns the order as indexes. */
static size_t *
sort_refs(const struct range_scan *s)
{
	const V3__RangeRequest *rq = s->rq;
	struct sort_ctx ctx = { s->refs, rq->sort_target,
				rq->sort_order ==
					V3__RANGE_REQUEST__SORT_ORDER__DESCEND };
	size_t *order = xmalloc((s->n + 1) * sizeof(*order)), i;

	for (i = 0; i < s->n; i++)
		order[i] = i;
	if (rq->sort_target == V3__RANGE_REQUEST__SORT_TARGET__KEY &&
	    !ctx.descend)
		return order;
	qsort_r(order, s->n, sizeof(*order), compare_refs, &ctx);
	return order;
}

/* Bytes the answer will take, roughly, before it is built. */
static size_t
answer_size(const struct range_scan *s, const size_t *order, size_t n)
{
	size_t i, total = 0;

	for (i = 0; i < n; i++) {
		const struct v3ref *r = &s->refs[order[i]];

		total += V3_KEY_MAX / 2 + 40;
		if (!s->rq->keys_only && r->m != NULL && r->m->value != NULL)
			total += strlen(r->m->value);
	}
	return total;
}

enum grpc_code
kv_range(const struct grpc_api *api, const V3__RangeRequest *rq,
	 V3__RangeResponse *resp, char *msg, size_t msglen)
{
	struct v3range r = { rq->key.data, rq->key.len, rq->range_end.data,
			     rq->range_end.len };
	struct range_scan s = { rq, 0, NULL, 0, 0, 0, 0 };
	uint64_t now = api->reg->index, max = api->cfg->grpc_max_response_bytes;
	size_t *order, n, i;

	v3__range_response__init(resp);
	resp->header = xmalloc(sizeof(*resp->header));
	grpc_header(api, resp->header);
	if (rq->key.len == 0) {
		snprintf(msg, msglen, "etcdserver: key is not provided");
		return GRPC_INVALID_ARGUMENT;
	}
	if (rq->revision > 0 && (uint64_t)rq->revision > now) {
		snprintf(msg, msglen, "etcdserver: mvcc: required revision "
			 "is a future revision");
		return GRPC_OUT_OF_RANGE;
	}
	if (rq->revision > 0 && (uint64_t)rq->revision < now)
		s.rev = (uint64_t)rq->revision;
	v3scan(api->reg, &r, scan_one, &s);
	if (s.compacted || (s.rev != 0 && history_lost(api->reg, &r, s.rev))) {
		free(s.refs);
		snprintf(msg, msglen, "etcdserver: mvcc: required revision "
			 "has been compacted");
		return GRPC_OUT_OF_RANGE;
	}
	order = sort_refs(&s);
	n = rq->limit > 0 && (uint64_t)rq->limit < s.n ? (size_t)rq->limit :
							  s.n;
	resp->count = s.count;
	resp->more = n < s.n;
	if (!rq->count_only && answer_size(&s, order, n) > max) {
		snprintf(msg, msglen, "srvgate: the range holds %zu keys, "
			 "more than one response of --grpc-max-response-bytes "
			 "(%llu) takes; ask with a limit", s.n,
			 (unsigned long long)max);
		free(order);
		free(s.refs);
		return GRPC_RESOURCE_EXHAUSTED;
	}
	if (!rq->count_only && n > 0) {
		resp->kvs = xmalloc(n * sizeof(*resp->kvs));
		for (i = 0; i < n; i++)
			resp->kvs[i] = kv_new(&s.refs[order[i]], rq->keys_only,
					      0);
		resp->n_kvs = n;
	}
	free(order);
	free(s.refs);
	return GRPC_OK;
}

void
kv_range_clear(V3__RangeResponse *resp)
{
	free(resp->header);
	kv_free_all(resp->kvs, resp->n_kvs);
	resp->header = NULL;
	resp->kvs = NULL;
	resp->n_kvs = 0;
}

static void
on_range(struct grpc_call *c, const uint8_t *msg, size_t len)
{
	V3__RangeRequest *rq = v3__range_request__unpack(NULL, len, msg);
	V3__RangeResponse resp;
	enum grpc_code code;
	char why[256];

	if (rq == NULL) {
		grpc_call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling "
				 "request: a malformed RangeRequest");
		return;
	}
	code = kv_range(c->conn->api, rq, &resp, why, sizeof(why));
	if (code != GRPC_OK)
		grpc_call_finish(c, code, "%s", why);
	else if (grpc_call_send(c, &resp.base) == 0)
		grpc_call_finish(c, GRPC_OK, NULL);
	kv_range_clear(&resp);
	v3__range_request__free_unpacked(rq, NULL);
}

const struct grpc_method grpc_m_range = {
	"/etcdserverpb.KV/Range", M_RANGE, 0, on_range, NULL, NULL, NULL,
};
