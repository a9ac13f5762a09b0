/* txn.c -- KV.Txn: compares on the committed state, then one branch of
 * puts, deletes and ranges, committed together.
 *
 * The compares are evaluated in the registry request's plan, which runs
 * against the committed state and waits while a compared token has a
 * change on its way to disk; the branch's writes go into the same
 * proposal. So "create if absent" (compare create_revision == 0, then
 * put) is atomic, as in etcd. Nested transactions are not served.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kv.h"

#define TXN_MAX_OPS 128 /* etcd's --max-txn-ops default */
#define REQUEST_TXN_FIELD 4 /* RequestOp.request_txn, left out of our proto */

struct txn_op {
	V3__RequestOp__RequestCase kind;
	struct kv_put put;
	struct kv_delete del;
	const V3__RangeRequest *range; /* in the unpacked request */
};

struct txn_write {
	struct grpc_write w;
	V3__TxnRequest *rq;
	struct txn_op *ops[2]; /* failure, success */
	size_t nops[2];
	int succeeded;
	int writes; /* puts or deletes among the operations */
};

/* ---- checking ---- */

static enum grpc_code
check_op(struct grpc_call *c, const V3__RequestOp *in, struct txn_op *op,
	 char *msg, size_t msglen)
{
	size_t i;

	for (i = 0; i < in->base.n_unknown_fields; i++)
		if (in->base.unknown_fields[i].tag == REQUEST_TXN_FIELD) {
			snprintf(msg, msglen, "srvgate: nested transactions "
				 "are not supported");
			return GRPC_UNIMPLEMENTED;
		}
	op->kind = in->request_case;
	switch (in->request_case) {
	case V3__REQUEST_OP__REQUEST_REQUEST_RANGE:
		op->range = in->request_range;
		return GRPC_OK;
	case V3__REQUEST_OP__REQUEST_REQUEST_PUT:
		return kv_put_check(c->conn->api, in->request_put, c->admin,
				    &op->put, msg, msglen);
	case V3__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
		return kv_delete_check(in->request_delete_range, c->admin,
				       c->conn->api->cfg, &op->del, msg,
				       msglen);
	default:
		break;
	}
	snprintf(msg, msglen, "srvgate: an empty request in the txn");
	return GRPC_INVALID_ARGUMENT;
}

/* etcd refuses a txn that writes one key twice in a branch. */
static int
duplicate_put(const struct txn_op *ops, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (ops[i].kind == V3__REQUEST_OP__REQUEST_REQUEST_PUT &&
			    ops[j].kind == V3__REQUEST_OP__REQUEST_REQUEST_PUT &&
			    strcmp(ops[i].put.key.token,
				   ops[j].put.key.token) == 0 &&
			    strcmp(ops[i].put.key.member,
				   ops[j].put.key.member) == 0 &&
			    ops[i].put.key.kind == ops[j].put.key.kind)
				return 1;
	return 0;
}

static enum grpc_code
check_branch(struct grpc_call *c, struct txn_write *tw, int which,
	     V3__RequestOp **in, size_t n, int *writes, char *msg,
	     size_t msglen)
{
	enum grpc_code code;
	size_t i;

	tw->ops[which] = xcalloc(n + 1, sizeof(struct txn_op));
	for (i = 0; i < n; i++) {
		code = check_op(c, in[i], &tw->ops[which][i], msg, msglen);
		tw->nops[which] = i + 1;
		if (code != GRPC_OK)
			return code;
		if (in[i]->request_case != V3__REQUEST_OP__REQUEST_REQUEST_RANGE)
			*writes = 1;
	}
	if (duplicate_put(tw->ops[which], n)) {
		snprintf(msg, msglen, "etcdserver: duplicate key given in txn "
			 "request");
		return GRPC_INVALID_ARGUMENT;
	}
	return GRPC_OK;
}

static enum grpc_code
check_txn(struct grpc_call *c, struct txn_write *tw, int *writes, char *msg,
	  size_t msglen)
{
	const V3__TxnRequest *rq = tw->rq;
	enum grpc_code code;
	size_t i;

	if (rq->n_compare > TXN_MAX_OPS || rq->n_success > TXN_MAX_OPS ||
	    rq->n_failure > TXN_MAX_OPS) {
		snprintf(msg, msglen, "etcdserver: too many operations in txn "
			 "request");
		return GRPC_INVALID_ARGUMENT;
	}
	for (i = 0; i < rq->n_compare; i++)
		if (rq->compare[i]->key.len == 0) {
			snprintf(msg, msglen, "etcdserver: key is not provided");
			return GRPC_INVALID_ARGUMENT;
		}
	code = check_branch(c, tw, 1, rq->success, rq->n_success, writes, msg,
			    msglen);
	if (code == GRPC_OK)
		code = check_branch(c, tw, 0, rq->failure, rq->n_failure,
				    writes, msg, msglen);
	return code;
}

/* ---- comparing ---- */

struct compare_scan {
	const V3__Compare *cmp;
	int seen, ok;
};

static int
bytes_cmp(const char *a, const ProtobufCBinaryData *b)
{
	size_t an = strlen(a), n = an < b->len ? an : b->len;
	int c = n ? memcmp(a, b->data, n) : 0;

	if (c != 0)
		return c;
	return an < b->len ? -1 : an > b->len ? 1 : 0;
}

/* The compare's value for its target; etcd takes a value set under
 * another target as none (0, or the empty string). */
static int64_t
wanted(const V3__Compare *cmp, V3__Compare__TargetUnionCase want)
{
	if (cmp->target_union_case != want)
		return 0;
	switch (want) {
	case V3__COMPARE__TARGET_UNION_VERSION: return cmp->version;
	case V3__COMPARE__TARGET_UNION_CREATE_REVISION:
		return cmp->create_revision;
	case V3__COMPARE__TARGET_UNION_MOD_REVISION: return cmp->mod_revision;
	case V3__COMPARE__TARGET_UNION_LEASE: return cmp->lease;
	default: return 0;
	}
}

/* The key's target against the compare's value: <0, 0, >0. A missing key
 * (ref NULL) has version, revisions and lease 0. */
static int
target_cmp(const V3__Compare *cmp, const struct v3ref *ref)
{
	static const ProtobufCBinaryData none = { 0, NULL };
	uint64_t created = 0, modified = 0;
	int64_t have = 0, want;
	char size[24];

	if (ref != NULL) {
		created = ref->m ? ref->m->created_index : ref->tok->created_index;
		modified = ref->m ? ref->m->modified_index :
				    ref->tok->modified_index;
	}
	switch (cmp->target) {
	case V3__COMPARE__COMPARE_TARGET__VALUE:
		snprintf(size, sizeof(size), "%u", ref->tok->size);
		return bytes_cmp(ref->m ? ref->m->value : size,
				 cmp->target_union_case ==
						 V3__COMPARE__TARGET_UNION_VALUE ?
					 &cmp->value : &none);
	case V3__COMPARE__COMPARE_TARGET__VERSION:
		have = ref ? kv_version(created, modified) : 0;
		want = wanted(cmp, V3__COMPARE__TARGET_UNION_VERSION);
		break;
	case V3__COMPARE__COMPARE_TARGET__CREATE:
		have = (int64_t)created;
		want = wanted(cmp, V3__COMPARE__TARGET_UNION_CREATE_REVISION);
		break;
	case V3__COMPARE__COMPARE_TARGET__MOD:
		have = (int64_t)modified;
		want = wanted(cmp, V3__COMPARE__TARGET_UNION_MOD_REVISION);
		break;
	default: /* LEASE: srvgate has none */
		want = wanted(cmp, V3__COMPARE__TARGET_UNION_LEASE);
		break;
	}
	return (have > want) - (have < want);
}

static int
result_holds(const V3__Compare *cmp, int c)
{
	switch (cmp->result) {
	case V3__COMPARE__COMPARE_RESULT__EQUAL: return c == 0;
	case V3__COMPARE__COMPARE_RESULT__GREATER: return c > 0;
	case V3__COMPARE__COMPARE_RESULT__LESS: return c < 0;
	case V3__COMPARE__COMPARE_RESULT__NOT_EQUAL: return c != 0;
	default: return 0;
	}
}

static int
compare_key(const struct v3ref *ref, void *arg)
{
	struct compare_scan *s = arg;

	s->seen = 1;
	if (!result_holds(s->cmp, target_cmp(s->cmp, ref)))
		s->ok = 0;
	return !s->ok;
}

/* As etcd: every key in the range must hold; with no key, a value
 * compare fails and the others compare zeros. */
static int
compare_holds(const struct registry *reg, const V3__Compare *cmp)
{
	struct v3range r = { cmp->key.data, cmp->key.len, cmp->range_end.data,
			     cmp->range_end.len };
	struct compare_scan s = { cmp, 0, 1 };

	v3scan(reg, &r, compare_key, &s);
	if (s.seen)
		return s.ok;
	if (cmp->target == V3__COMPARE__COMPARE_TARGET__VALUE)
		return 0;
	return result_holds(cmp, target_cmp(cmp, NULL));
}

/* A compared token with a change on its way: plan again once settled. */
static int
compares_busy(struct registry *reg, const V3__TxnRequest *rq)
{
	struct v3key k;
	size_t i;

	for (i = 0; i < rq->n_compare; i++)
		if (v3key_parse(rq->compare[i]->key.data,
				rq->compare[i]->key.len, &k) != V3KEY_OTHER &&
		    plan_claim_token(reg, k.token) == REG_BUSY)
			return 1;
	return 0;
}

/* ---- planning and answering ---- */

static enum registry_status
plan_txn(struct registry *reg, struct registry_request *rr,
	 struct proposal *p)
{
	struct txn_write *tw = rr->arg;
	enum registry_status rs = REG_OK;
	struct txn_op *op;
	size_t i;

	if (compares_busy(reg, tw->rq))
		return REG_BUSY;
	tw->succeeded = 1;
	for (i = 0; i < tw->rq->n_compare && tw->succeeded; i++)
		tw->succeeded = compare_holds(reg, tw->rq->compare[i]);
	for (i = 0; i < tw->nops[tw->succeeded] && rs == REG_OK; i++) {
		op = &tw->ops[tw->succeeded][i];
		if (op->kind == V3__REQUEST_OP__REQUEST_REQUEST_PUT)
			rs = kv_put_plan(reg, p, &op->put);
		else if (op->kind == V3__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE)
			rs = kv_delete_plan(reg, p, &op->del);
	}
	return rs;
}

static void
txn_free(struct txn_write *tw)
{
	size_t b, i;

	for (b = 0; b < 2; b++) {
		for (i = 0; i < tw->nops[b]; i++) {
			kv_put_clear(&tw->ops[b][i].put);
			kv_delete_clear(&tw->ops[b][i].del);
		}
		free(tw->ops[b]);
	}
	v3__txn_request__free_unpacked(tw->rq, NULL);
	free(tw);
}

/* One op's answer; returns GRPC_OK or why the txn fails. */
static enum grpc_code
answer_op(struct grpc_api *api, struct txn_op *op, V3__ResponseHeader *h,
	  V3__ResponseOp *out, char *msg, size_t msglen)
{
	v3__response_op__init(out);
	out->response_case = (V3__ResponseOp__ResponseCase)op->kind;
	if (op->kind == V3__REQUEST_OP__REQUEST_REQUEST_RANGE) {
		out->response_range = xmalloc(sizeof(*out->response_range));
		return kv_range(api, op->range, out->response_range, msg,
				msglen);
	}
	if (op->kind == V3__REQUEST_OP__REQUEST_REQUEST_PUT) {
		out->response_put = xmalloc(sizeof(*out->response_put));
		v3__put_response__init(out->response_put);
		out->response_put->header = h;
		out->response_put->prev_kv = op->put.prev;
		return GRPC_OK;
	}
	out->response_delete_range =
		xmalloc(sizeof(*out->response_delete_range));
	v3__delete_range_response__init(out->response_delete_range);
	out->response_delete_range->header = h;
	out->response_delete_range->deleted = op->del.deleted;
	out->response_delete_range->prev_kvs = op->del.prevs;
	out->response_delete_range->n_prev_kvs = op->del.nprevs;
	return GRPC_OK;
}

static void
clear_answers(V3__ResponseOp *ops, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ops[i].response_case ==
		    V3__RESPONSE_OP__RESPONSE_RESPONSE_RANGE)
			kv_range_clear(ops[i].response_range);
		free(ops[i].response_range); /* the union's one pointer */
	}
	free(ops);
}

/* The revision of the txn: its last change's, or the store's. */
static int64_t
txn_revision(const struct registry_result *res)
{
	return res->nchanges ? (int64_t)res->changes[res->nchanges - 1].index :
			       (int64_t)res->index;
}

static void
answer(struct grpc_call *c, struct txn_write *tw,
       const struct registry_result *res)
{
	size_t n = tw->nops[tw->succeeded], i;
	V3__ResponseOp *ops = xcalloc(n + 1, sizeof(*ops));
	V3__ResponseOp **ptrs = xcalloc(n + 1, sizeof(*ptrs));
	enum grpc_code code = GRPC_OK;
	V3__TxnResponse resp;
	V3__ResponseHeader h;
	char why[512];

	grpc_header(c->conn->api, &h);
	h.revision = txn_revision(res);
	for (i = 0; i < n && code == GRPC_OK; i++) {
		code = answer_op(c->conn->api, &tw->ops[tw->succeeded][i], &h,
				 &ops[i], why, sizeof(why));
		ptrs[i] = &ops[i];
	}
	v3__txn_response__init(&resp);
	resp.header = &h;
	resp.succeeded = tw->succeeded;
	resp.responses = ptrs;
	resp.n_responses = n;
	if (code != GRPC_OK)
		grpc_call_finish(c, code, "%s", why);
	else if (grpc_call_send(c, &resp.base) == 0)
		grpc_call_finish(c, GRPC_OK, NULL);
	clear_answers(ops, i);
	free(ptrs);
}

static void
txn_done(struct registry_request *rr, const struct registry_result *res)
{
	struct txn_write *tw = rr->arg;
	struct grpc_call *c = grpc_write_take_call(&tw->w);
	char why[512];

	if (tw->writes)
		grpc_write_log(&tw->w, "txn", NULL, NULL, res);
	if (c != NULL && res->status != REG_OK)
		grpc_call_finish(c, kv_write_error(c->conn->api, res->status,
						   res->error, "", why,
						   sizeof(why)), "%s", why);
	else if (c != NULL)
		answer(c, tw, res);
	txn_free(tw);
}

static void
on_txn(struct grpc_call *c, const uint8_t *msg, size_t len)
{
	struct txn_write *tw;
	enum grpc_code code;
	int writes = 0;
	char why[512];

	tw = xcalloc(1, sizeof(*tw));
	tw->rq = v3__txn_request__unpack(NULL, len, msg);
	if (tw->rq == NULL) {
		free(tw);
		grpc_call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling "
				 "request: a malformed TxnRequest");
		return;
	}
	code = check_txn(c, tw, &writes, why, sizeof(why));
	if (code != GRPC_OK)
		grpc_call_finish(c, code, "%s", why);
	else if (!writes || c->admin || grpc_call_rate_ok(c)) {
		tw->writes = writes;
		grpc_write_submit(c, &tw->w, plan_txn, txn_done);
		return;
	}
	txn_free(tw);
}

const struct grpc_method grpc_m_txn = {
	"/etcdserverpb.KV/Txn", M_TXN, 0, on_txn, NULL, NULL,
	grpc_write_on_close,
};
