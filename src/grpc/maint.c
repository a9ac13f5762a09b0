/* maint.c -- Maintenance.Status and Cluster.MemberList: enough for
 * `etcdctl endpoint status` and `etcdctl member list` to print sensible
 * answers about srvgate itself (one member, its own leader, the store's
 * index as raft index). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "grpc_internal.h"
#include "store.h"

/* The protocol level srvgate answers as: etcd 3.4's KV and Watch. */
#define ETCD_API_VERSION "3.4.0"

static int
unpacks(struct grpc_call *c, const ProtobufCMessageDescriptor *d,
	const uint8_t *msg, size_t len)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, msg);

	if (m == NULL) {
		grpc_call_finish(c, GRPC_INTERNAL, "grpc: error unmarshalling "
				 "request: a malformed %s", d->short_name);
		return 0;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 1;
}

static void
reply(struct grpc_call *c, const ProtobufCMessage *m)
{
	if (grpc_call_send(c, m) == 0)
		grpc_call_finish(c, GRPC_OK, NULL);
}

static void
on_status(struct grpc_call *c, const uint8_t *msg, size_t len)
{
	struct grpc_api *api = c->conn->api;
	V3__StatusResponse resp;
	V3__ResponseHeader h;
	struct store_stats st;
	char alarm[64], *errors[1];

	if (!unpacks(c, &v3__status_request__descriptor, msg, len))
		return;
	memset(&st, 0, sizeof(st));
	store_stats(api->st, &st);
	v3__status_response__init(&resp);
	grpc_header(api, &h);
	resp.header = &h;
	resp.version = (char *)ETCD_API_VERSION;
	resp.dbsize = (int64_t)st.map_bytes;
	resp.dbsizeinuse = (int64_t)st.used_bytes;
	resp.leader = api->member_id;
	resp.raftindex = api->reg->index;
	resp.raftappliedindex = api->reg->index;
	resp.raftterm = 1;
	if (st.full) {
		snprintf(alarm, sizeof(alarm), "memberID:%llu alarm:NOSPACE ",
			 (unsigned long long)api->member_id);
		errors[0] = alarm;
		resp.errors = errors;
		resp.n_errors = 1;
	}
	reply(c, &resp.base);
}

const struct grpc_method grpc_m_status = {
	"/etcdserverpb.Maintenance/Status", M_STATUS, 0, on_status, NULL,
	NULL, NULL,
};

/* srvgate's client URLs: its gRPC addresses, where they can be dialed. */
static size_t
client_urls(const struct config *cfg, char urls[][280], char **ptrs)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->grpc_listen.n; i++) {
		const char *a = cfg->grpc_listen.items[i];

		if (strncmp(a, "0.0.0.0:", 8) == 0 || strncmp(a, "[::]:", 5) == 0 ||
		    a[0] == ':')
			continue; /* every address: none to give */
		snprintf(urls[n], 280, "http://%s", a);
		ptrs[n] = urls[n];
		n++;
	}
	return n;
}

static void
on_member_list(struct grpc_call *c, const uint8_t *msg, size_t len)
{
	struct grpc_api *api = c->conn->api;
	char urls[CONFIG_LIST_MAX][280], *ptrs[CONFIG_LIST_MAX];
	V3__MemberListResponse resp;
	V3__Member me, *members[1] = { &me };
	V3__ResponseHeader h;

	if (!unpacks(c, &v3__member_list_request__descriptor, msg, len))
		return;
	v3__member_list_response__init(&resp);
	v3__member__init(&me);
	grpc_header(api, &h);
	me.id = api->member_id;
	me.name = (char *)"srvgate";
	me.clienturls = ptrs;
	me.n_clienturls = client_urls(api->cfg, urls, ptrs);
	resp.header = &h;
	resp.members = members;
	resp.n_members = 1;
	reply(c, &resp.base);
}

const struct grpc_method grpc_m_member_list = {
	"/etcdserverpb.Cluster/MemberList", M_MEMBER_LIST, 0, on_member_list,
	NULL, NULL, NULL,
};
