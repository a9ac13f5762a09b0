/* kv_write.c -- KV.Put and KV.DeleteRange, and their checks and plans,
 * which Txn shares (kv.h). Who may write what is said at the top of
 * kv.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kv.h"
#include "peers.h"

/* ---- writes and their calls ---- */

void
grpc_write_submit(struct grpc_call *c, struct grpc_write *w,
		  registry_plan_fn plan, registry_done_fn done)
{
	w->rr.plan = plan;
	w->rr.done = done;
	w->rr.arg = w;
	w->call = c;
	snprintf(w->client, sizeof(w->client), "%s", grpc_call_addr(c));
	c->ctx = w;
	/* done may run before this returns */
	registry_submit(c->conn->api->reg, &w->rr);
}

struct grpc_call *
grpc_write_take_call(struct grpc_write *w)
{
	struct grpc_call *c = w->call;

	if (c != NULL)
		c->ctx = NULL;
	w->call = NULL;
	return c;
}

void
grpc_write_log(const struct grpc_write *w, const char *event,
	       const char *token, const char *member,
	       const struct registry_result *res)
{
	char result[300];

	if (token == NULL && res->nchanges > 0)
		token = res->changes[0].token;
	if (member == NULL && res->nchanges == 1 && res->changes[0].name[0])
		member = res->changes[0].name;
	if (res->status != REG_OK)
		snprintf(result, sizeof(result), "%s%s%s",
			 registry_status_name(res->status),
			 res->error ? ": " : "", res->error ? res->error : "");
	else if (res->nchanges > 1)
		snprintf(result, sizeof(result), "ok (%zu changes)",
			 res->nchanges);
	else
		snprintf(result, sizeof(result), "%s",
			 res->nchanges ? "ok" : "ok (unchanged)");
	log_change(event, token, member, w->client, result);
}

void
grpc_write_on_close(struct grpc_call *c)
{
	struct grpc_write *w = c->ctx;

	if (w != NULL)
		w->call = NULL;
	c->ctx = NULL;
}

int64_t
kv_change_revision(const struct registry_result *res, size_t change)
{
	if (change != (size_t)-1 && change < res->nchanges)
		return (int64_t)res->changes[change].index;
	return (int64_t)res->index;
}

enum grpc_code
kv_write_error(const struct grpc_api *api, enum registry_status rs,
	       const char *store_error, const char *token, char *msg,
	       size_t msglen)
{
	const char *why = store_error ? store_error : "";

	switch (rs) {
	case REG_NOT_FOUND:
		snprintf(msg, msglen, "srvgate: no discovery token %s: only "
			 "keys under %s<existing token>%s can be written (/new "
			 "makes tokens)", token, V3_REGISTRY, V3_MEMBERS);
		return GRPC_PERMISSION_DENIED;
	case REG_EXISTS:
		snprintf(msg, msglen, "srvgate: the key exists with another "
			 "value: members register once (the admin token may "
			 "overwrite)");
		break;
	case REG_FULL:
		snprintf(msg, msglen, "srvgate: token %s holds %u members, "
			 "the most allowed", token, api->cfg->max_members);
		break;
	case REG_INVALID:
		snprintf(msg, msglen, "srvgate: not a name srvgate keeps "
			 "(a-z, 0-9 and '-', at most %d)", REGISTRY_NAME_MAX);
		break;
	case REG_NO_SPACE:
		snprintf(msg, msglen, "etcdserver: mvcc: database space "
			 "exceeded");
		break;
	case REG_UNAVAILABLE:
		snprintf(msg, msglen, "srvgate: storage unavailable: %s", why);
		break;
	case REG_STORE_FAILED:
		snprintf(msg, msglen, "srvgate: storage failed: %s", why);
		break;
	case REG_CONFLICT:
	case REG_BUSY:
	case REG_OK:
		snprintf(msg, msglen, "srvgate: the write was not made");
		break;
	}
	return grpc_code_of(rs);
}

/* ---- puts ---- */

static enum grpc_code
refuse(char *msg, size_t msglen, enum grpc_code code, const char *text)
{
	snprintf(msg, msglen, "%s", text);
	return code;
}

static enum grpc_code
check_value(const struct grpc_api *api, struct kv_put *out, char *msg,
	    size_t msglen)
{
	struct peer_url peers[PEERS_MAX];
	uint64_t size;
	errbuf_t err;

	if (out->key.kind == V3KEY_SIZE) {
		if (!out->admin)
			return refuse(msg, msglen, GRPC_PERMISSION_DENIED,
				      "srvgate: a size key is read-only: /new "
				      "makes a token with its size (the admin "
				      "token may change it)");
		if (parse_uint(out->value, 1, api->cfg->max_size, &size)) {
			snprintf(msg, msglen, "srvgate: a size is a whole "
				 "number from 1 to %u", api->cfg->max_size);
			return GRPC_INVALID_ARGUMENT;
		}
		out->size = (unsigned)size;
		return GRPC_OK;
	}
	if (peers_parse(out->value, peers, PEERS_MAX, err) < 0) {
		snprintf(msg, msglen, "srvgate: a member's value is "
			 "name=url[,name=url...] as etcd registers it: %s",
			 err);
		return GRPC_INVALID_ARGUMENT;
	}
	return GRPC_OK;
}

enum grpc_code
kv_put_check(const struct grpc_api *api, const V3__PutRequest *rq, int admin,
	     struct kv_put *out, char *msg, size_t msglen)
{
	memset(out, 0, sizeof(*out));
	out->change = (size_t)-1;
	out->admin = admin;
	out->want_prev = rq->prev_kv;
	if (rq->key.len == 0)
		return refuse(msg, msglen, GRPC_INVALID_ARGUMENT,
			      "etcdserver: key is not provided");
	if (rq->lease != 0)
		return refuse(msg, msglen, GRPC_NOT_FOUND,
			      "etcdserver: requested lease not found");
	if (rq->ignore_value)
		return refuse(msg, msglen, GRPC_INVALID_ARGUMENT,
			      "srvgate: ignore_value is not supported");
	if (v3key_parse(rq->key.data, rq->key.len, &out->key) == V3KEY_OTHER)
		return refuse(msg, msglen, GRPC_PERMISSION_DENIED,
			      "srvgate: only keys under " V3_REGISTRY
			      "<token>" V3_MEMBERS " can be written");
	if (rq->value.len > 0 &&
	    memchr(rq->value.data, '\0', rq->value.len) != NULL)
		return refuse(msg, msglen, GRPC_INVALID_ARGUMENT,
			      "srvgate: the value holds a zero byte");
	out->value = xmalloc(rq->value.len + 1);
	if (rq->value.len > 0)
		memcpy(out->value, rq->value.data, rq->value.len);
	out->value[rq->value.len] = '\0';
	return check_value(api, out, msg, msglen);
}

enum registry_status
kv_put_plan(struct registry *reg, struct proposal *p, struct kv_put *kp)
{
	const struct token *tok = registry_find_token(reg, kp->key.token);
	const struct member *m = NULL;
	struct v3ref ref;
	size_t before = p->n;
	enum registry_status rs;

	kv_free(kp->prev);
	kp->prev = NULL;
	kp->change = (size_t)-1;
	if (kp->key.kind == V3KEY_SIZE) {
		rs = tok ? plan_token_size(reg, p, tok->name, kp->size) :
			   plan_token_create(reg, p, kp->key.token, kp->size,
					     now_unix());
	} else {
		m = tok ? token_find_member(tok, kp->key.member) : NULL;
		rs = plan_member_put(reg, p, kp->key.token, kp->key.member,
				     kp->value,
				     kp->admin ? PUT_SET : PUT_CREATE);
		/* The same registration again: done already, nothing to
		 * write (a restarted etcd registers anew). */
		if (rs == REG_EXISTS && m != NULL &&
		    strcmp(m->value, kp->value) == 0)
			rs = REG_OK;
	}
	if (rs != REG_OK)
		return rs;
	if (p->n > before)
		kp->change = before;
	if (kp->want_prev && tok != NULL &&
	    (kp->key.kind == V3KEY_SIZE || m != NULL)) {
		ref.tok = tok;
		ref.m = m;
		kp->prev = kv_new(&ref, 0, 1);
	}
	return REG_OK;
}

void
kv_put_clear(struct kv_put *kp)
{
	free(kp->value);
	kv_free(kp->prev);
	kp->value = NULL;
	kp->prev = NULL;
}

struct put_write {
	struct grpc_write w;
	struct kv_put put;
};

static enum registry_status
plan_put(struct registry *reg, struct registry_request *rr,
	 struct proposal *p)
{
	struct put_write *pw = rr->arg;

	return kv_put_plan(reg, p, &pw->put);
}

static void
put_done(struct registry_request *rr, const struct registry_result *res)
{
	struct put_write *pw = rr->arg;
	struct grpc_call *c = grpc_write_take_call(&pw->w);
	V3__ResponseHeader h;
	V3__PutResponse resp;
	char why[512];

	/* A size key of a token not there yet makes it (the admin's way). */
	grpc_write_log(&pw->w, pw->put.key.kind != V3KEY_SIZE ? "register" :
		       res->nchanges == 1 && res->changes[0].created_index == 0
		       ? "new" : "size", pw->put.key.token,
		       pw->put.key.kind == V3KEY_SIZE ? NULL :
		       pw->put.key.member, res);
	if (c != NULL && res->status != REG_OK) {
		grpc_call_finish(c, kv_write_error(c->conn->api, res->status,
						   res->error,
						   pw->put.key.token, why,
						   sizeof(why)), "%s", why);
	} else if (c != NULL) {
		v3__put_response__init(&resp);
		grpc_header(c->conn->api, &h);
		h.revision = kv_change_revision(res, pw->put.change);
		resp.header = &h;
		resp.prev_kv = pw->put.prev;
		if (grpc_call_send(c, &resp.base) == 0)
			grpc_call_finish(c, GRPC_OK, NULL);
	}
	kv_put_clear(&pw->put);
	free(pw);
}

static void
on_put(struct grpc_call *c, const uint8_t *msg, size_t len)
{
	V3__PutRequest *rq = v3__put_request__unpack(NULL, len, msg);
	struct put_write *pw = xcalloc(1, sizeof(*pw));
	enum grpc_code code;
	char why[512];

	if (rq == NULL) {
		free(pw);
		grpc_call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling "
				 "request: a malformed PutRequest");
		return;
	}
	code = kv_put_check(c->conn->api, rq, c->admin, &pw->put, why,
			    sizeof(why));
	v3__put_request__free_unpacked(rq, NULL);
	if (code != GRPC_OK) {
		grpc_call_finish(c, code, "%s", why);
	} else if (c->admin || grpc_call_rate_ok(c)) {
		grpc_write_submit(c, &pw->w, plan_put, put_done);
		return;
	}
	kv_put_clear(&pw->put);
	free(pw);
}

const struct grpc_method grpc_m_put = {
	"/etcdserverpb.KV/Put", M_PUT, 0, on_put, NULL, NULL,
	grpc_write_on_close,
};

/* ---- deletes ---- */

enum grpc_code
kv_delete_check(const V3__DeleteRangeRequest *rq, int admin,
		const struct config *cfg, struct kv_delete *out, char *msg,
		size_t msglen)
{
	memset(out, 0, sizeof(*out));
	if (!admin)
		return refuse(msg, msglen, GRPC_PERMISSION_DENIED,
			      cfg->admin_token[0] ?
				      "srvgate: deleting needs the admin token "
				      "(metadata authorization: Bearer ...)" :
				      "srvgate: deleting needs the admin token, "
				      "and none is set (--admin-token)");
	if (rq->key.len == 0)
		return refuse(msg, msglen, GRPC_INVALID_ARGUMENT,
			      "etcdserver: key is not provided");
	out->key = xmalloc(rq->key.len);
	memcpy(out->key, rq->key.data, rq->key.len);
	out->klen = rq->key.len;
	out->end = xmalloc(rq->range_end.len + 1);
	if (rq->range_end.len > 0)
		memcpy(out->end, rq->range_end.data, rq->range_end.len);
	out->elen = rq->range_end.len;
	out->want_prev = rq->prev_kv;
	return GRPC_OK;
}

struct delete_scan {
	struct registry *reg;
	struct proposal *p;
	struct kv_delete *d;
	const struct token *gone; /* deleted whole, members and all */
	enum registry_status rs;
};

static void
remember(struct kv_delete *d, const struct v3ref *ref)
{
	if (!d->want_prev)
		return;
	if (d->nprevs == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->prevs = xrealloc(d->prevs, d->cap * sizeof(*d->prevs));
	}
	d->prevs[d->nprevs++] = kv_new(ref, 0, 1);
}

static int
delete_one(const struct v3ref *ref, void *arg)
{
	struct delete_scan *s = arg;
	struct v3ref mref = { ref->tok, NULL };
	size_t i;

	if (ref->tok == s->gone)
		return 0;
	if (ref->m != NULL) {
		s->rs = plan_member_delete(s->reg, s->p, ref->tok->name,
					   ref->m->id);
		s->d->deleted++;
		remember(s->d, ref);
		return s->rs != REG_OK;
	}
	s->rs = plan_token_delete(s->reg, s->p, ref->tok->name);
	s->gone = ref->tok;
	s->d->deleted += 1 + (int64_t)ref->tok->nmembers;
	remember(s->d, ref);
	for (i = 0; i < ref->tok->nmembers; i++) {
		mref.m = ref->tok->members[i];
		remember(s->d, &mref);
	}
	return s->rs != REG_OK;
}

enum registry_status
kv_delete_plan(struct registry *reg, struct proposal *p, struct kv_delete *d)
{
	struct v3range r = { d->key, d->klen, d->end, d->elen };
	struct delete_scan s = { reg, p, d, NULL, REG_OK };

	kv_free_all(d->prevs, d->nprevs);
	d->prevs = NULL;
	d->nprevs = d->cap = 0;
	d->deleted = 0;
	d->first_change = p->n;
	v3scan(reg, &r, delete_one, &s);
	d->nchanges = p->n - d->first_change;
	return s.rs;
}

void
kv_delete_clear(struct kv_delete *d)
{
	free(d->key);
	free(d->end);
	kv_free_all(d->prevs, d->nprevs);
	memset(d, 0, sizeof(*d));
}

struct delete_write {
	struct grpc_write w;
	struct kv_delete del;
};

static enum registry_status
plan_delete(struct registry *reg, struct registry_request *rr,
	    struct proposal *p)
{
	struct delete_write *dw = rr->arg;

	return kv_delete_plan(reg, p, &dw->del);
}

static void
delete_done(struct registry_request *rr, const struct registry_result *res)
{
	struct delete_write *dw = rr->arg;
	struct grpc_call *c = grpc_write_take_call(&dw->w);
	struct kv_delete *d = &dw->del;
	V3__DeleteRangeResponse resp;
	V3__ResponseHeader h;
	char why[512];

	grpc_write_log(&dw->w, "delete", NULL, NULL, res);
	if (c != NULL && res->status != REG_OK) {
		grpc_call_finish(c, kv_write_error(c->conn->api, res->status,
						   res->error, "", why,
						   sizeof(why)), "%s", why);
	} else if (c != NULL) {
		v3__delete_range_response__init(&resp);
		grpc_header(c->conn->api, &h);
		h.revision = kv_change_revision(res, d->nchanges ?
					d->first_change + d->nchanges - 1 :
					(size_t)-1);
		resp.header = &h;
		resp.deleted = d->deleted;
		resp.prev_kvs = d->prevs;
		resp.n_prev_kvs = d->nprevs;
		if (grpc_call_send(c, &resp.base) == 0)
			grpc_call_finish(c, GRPC_OK, NULL);
	}
	kv_delete_clear(d);
	free(dw);
}

static void
on_delete(struct grpc_call *c, const uint8_t *msg, size_t len)
{
	V3__DeleteRangeRequest *rq =
		v3__delete_range_request__unpack(NULL, len, msg);
	struct delete_write *dw;
	enum grpc_code code;
	char why[512];

	if (rq == NULL) {
		grpc_call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling "
				 "request: a malformed DeleteRangeRequest");
		return;
	}
	dw = xcalloc(1, sizeof(*dw));
	code = kv_delete_check(rq, c->admin, c->conn->api->cfg, &dw->del, why,
			       sizeof(why));
	v3__delete_range_request__free_unpacked(rq, NULL);
	if (code != GRPC_OK) {
		grpc_call_finish(c, code, "%s", why);
		kv_delete_clear(&dw->del);
		free(dw);
		return;
	}
	grpc_write_submit(c, &dw->w, plan_delete, delete_done);
}

const struct grpc_method grpc_m_delete_range = {
	"/etcdserverpb.KV/DeleteRange", M_DELETE_RANGE, 0, on_delete, NULL,
	NULL, grpc_write_on_close,
};
