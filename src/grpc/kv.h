/* kv.h -- etcd's KV requests over the registry, shared by the KV methods
 * (kv.c) and Txn (txn.c): building KeyValues, answering a range, and
 * checking and planning puts and deletes. Not for use outside src/grpc/. */
#ifndef SRVGATE_GRPC_KV_H
#define SRVGATE_GRPC_KV_H

#include "grpc_internal.h"
#include "keyspace.h"

/* A KeyValue with its own key (and, when copied, value). */
V3__KeyValue *kv_new(const struct v3ref *ref, int keys_only, int copy_value);
void kv_free(V3__KeyValue *kv);
void kv_free_all(V3__KeyValue **kvs, size_t n);
/* The version srvgate reports: 1 for a key never overwritten, 2 after
 * (the registry keeps no count; only the admin token overwrites). */
int64_t kv_version(uint64_t created, uint64_t modified);

/* Answers a range from the registry as it is now (see kv.c for which
 * older revisions it can serve). Fills resp (free with kv_range_clear);
 * returns GRPC_OK or the code, with msg. */
enum grpc_code kv_range(const struct grpc_api *api,
			const V3__RangeRequest *rq, V3__RangeResponse *resp,
			char *msg, size_t msglen);
void kv_range_clear(V3__RangeResponse *resp);

/* One put: checked before it is planned, remembered while it waits. */
struct kv_put {
	struct v3key key;
	char *value;	 /* copied */
	unsigned size;	 /* a size key's value */
	int admin;
	int want_prev;
	/* set by kv_put_plan */
	V3__KeyValue *prev; /* the key as it was, when want_prev */
	size_t change;	    /* its change in the proposal; (size_t)-1: none */
};

/* Who may write what (see README, v3 discovery); returns GRPC_OK or the
 * code, with msg. */
enum grpc_code kv_put_check(const struct grpc_api *api,
			    const V3__PutRequest *rq, int admin,
			    struct kv_put *out, char *msg, size_t msglen);
enum registry_status kv_put_plan(struct registry *reg, struct proposal *p,
				 struct kv_put *kp);
void kv_put_clear(struct kv_put *kp);

/* One delete (admin only). The size key takes its whole token along. */
struct kv_delete {
	uint8_t *key, *end; /* the range, copied */
	size_t klen, elen;
	int want_prev;
	/* set by kv_delete_plan */
	int64_t deleted;
	V3__KeyValue **prevs;
	size_t nprevs, cap;
	size_t first_change, nchanges;
};

enum grpc_code kv_delete_check(const V3__DeleteRangeRequest *rq, int admin,
			       const struct config *cfg, struct kv_delete *out,
			       char *msg, size_t msglen);
enum registry_status kv_delete_plan(struct registry *reg, struct proposal *p,
				    struct kv_delete *d);
void kv_delete_clear(struct kv_delete *d);

/* Why a write failed, for the client: code and message. */
enum grpc_code kv_write_error(const struct grpc_api *api,
			      enum registry_status rs, const char *store_error,
			      const char *token, char *msg, size_t msglen);

/* The revision a committed change got; res->index when it made none. */
int64_t kv_change_revision(const struct registry_result *res, size_t change);

/* A write on its way through the registry, tied to its call until the
 * call goes (its client hung up or the deadline passed): the outcome then
 * has nobody to tell, but the write still happens, as in etcd. */
struct grpc_write {
	struct registry_request rr;
	struct grpc_call *call;
	char client[64]; /* for the state-change log: the call may be gone */
};
void grpc_write_submit(struct grpc_call *c, struct grpc_write *w,
		       registry_plan_fn plan, registry_done_fn done);
/* In a done callback: the call to answer, or NULL; unties them. */
struct grpc_call *grpc_write_take_call(struct grpc_write *w);
/* A method's on_close for calls that may have a write under way. */
void grpc_write_on_close(struct grpc_call *c);
/* The write's state-change log line (log_change). token and member NULL:
 * taken from the changes made, when there was one. */
void grpc_write_log(const struct grpc_write *w, const char *event,
		    const char *token, const char *member,
		    const struct registry_result *res);

#endif
