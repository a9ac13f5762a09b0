/* grpc_internal.h -- what the gRPC front end's files share: the server,
 * its connections, the calls (HTTP/2 streams) on them, and the methods.
 * Not for use outside src/grpc/.
 *
 * Layers: server.c accepts and counts connections; conn.c runs one
 * nghttp2 session per connection; call.c turns a stream into a gRPC call
 * (head, framed request messages), reply.c answers it (messages,
 * trailers); kv.c, kv_write.c, txn.c, watch*.c, maint.c and auth.c are the
 * methods. */
#ifndef SRVGATE_GRPC_INTERNAL_H
#define SRVGATE_GRPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "etcd.pb-c.h"
#include "grpc.h"
#include "htable.h"
#include "registry.h"
#include "status.h"
#include "util.h"

struct evbuffer;
struct bufferevent;
struct grpc_auth;
struct event;
struct nghttp2_session;
struct ratelimit;
struct v3watch_hub;

enum grpc_method_id {
	M_RANGE, M_PUT, M_DELETE_RANGE, M_TXN, M_WATCH, M_STATUS,
	M_MEMBER_LIST, M_AUTHENTICATE, M_UNKNOWN, M_COUNT
};

struct grpc_call;

/* A method: its handlers see whole, decoded-size-checked messages. */
struct grpc_method {
	const char *path;
	enum grpc_method_id id;
	int streaming; /* many messages each way (Watch) */
	/* A request message; a unary method gets exactly one. */
	void (*on_message)(struct grpc_call *c, const uint8_t *msg, size_t n);
	/* The client has sent its last message (streaming only; NULL: end
	 * the call with OK). */
	void (*on_half_close)(struct grpc_call *c);
	/* The response queue has room again (streaming only). */
	void (*on_writable)(struct grpc_call *c);
	/* The stream is gone: drop c->ctx; c must not be used after. */
	void (*on_close)(struct grpc_call *c);
};

/* Per client address: what it holds open. */
struct grpc_peer {
	struct hnode node;
	char addr[64];
	unsigned conns;
	unsigned watches;
};

struct grpc_stats {
	uint64_t calls[M_COUNT][GRPC_CODES]; /* finished, by status */
	uint64_t conns_accepted, conns_refused, conns_closed_bad;
	uint64_t rate_limited;
	uint64_t watch_events, watch_catchups, watch_compacted;
};

struct grpc_api {
	struct event_base *base;
	const struct config *cfg;
	struct registry *reg;
	struct store *st;
	struct tls *tls; /* NULL: plain HTTP/2 */
	struct grpc_auth *auth; /* NULL: no --users-file */
	struct evconnlistener *listeners[16];
	size_t nlisteners;
	struct grpc_conn *conns; /* every open connection */
	size_t nconns;
	struct htable peers; /* struct grpc_peer by address */
	struct ratelimit *limiter;
	struct v3watch_hub *watches;
	uint64_t cluster_id, member_id;
	int draining;
	struct grpc_stats stats;
};

/* One HTTP/2 connection. */
struct grpc_conn {
	struct grpc_api *api;
	struct bufferevent *bev;
	struct nghttp2_session *session;
	struct grpc_peer *peer;
	struct grpc_call *calls; /* open streams */
	size_t ncalls;
	size_t out_bytes; /* responses queued, not yet taken by nghttp2 */
	unsigned nwatches;
	struct event *flush_ev; /* sends what calls queued, once per turn */
	struct event *idle_ev;	/* no stream for --idle-timeout: GOAWAY */
	int preface_seen;
	int goaway;		/* GOAWAY queued: close once it is out */
	int close_after_write;	/* not HTTP/2: told so, closing */
	int writable_due;	/* responses left: a full call may have room */
	unsigned nfull;		/* calls that wait for room */
	struct grpc_conn *prev, *next;
};

/* One call: an HTTP/2 stream. */
struct grpc_call {
	struct grpc_conn *conn;
	int32_t stream_id;
	const struct grpc_method *method;
	/* the request head */
	char path[128];
	int method_post, grpc_ctype, head_bytes;
	int admin;		/* authorization: Bearer <admin token> */
	char auth_token[33];	/* `token` metadata (Authenticate's) */
	uint64_t timeout_ms;	/* grpc-timeout; 0: none */
	/* the request body: messages not yet handled */
	struct evbuffer *in;
	unsigned nmsgs;
	int paused;	  /* input waits until the responses drain */
	int remote_done;  /* the client ended its side */
	/* the response */
	struct evbuffer *out; /* framed messages nghttp2 has not taken */
	int responded;	      /* the response head is submitted */
	int finished;	      /* the status is set: trailers follow */
	int deferred;	      /* nghttp2 waits for data (resume to send) */
	int trailers_sent;
	int full;	      /* on_writable is wanted when out drains */
	enum grpc_code status;
	char message[256];
	struct event *deadline;
	struct event *request_timer; /* the request is late; or lingers */
	/* the access log */
	uint64_t started_ns;
	uint64_t sent_bytes;  /* response bytes nghttp2 took */
	int http_status;      /* not gRPC: the plain HTTP answer */
	void *ctx; /* the method's state */
	struct grpc_call *prev, *next;
};

/* ---- server.c ---- */
struct grpc_peer *grpc_peer_get(struct grpc_api *api, const char *addr);
void grpc_peer_put(struct grpc_api *api, struct grpc_peer *p);

/* ---- conn.c ---- */
int grpc_conn_open(struct grpc_api *api, int fd, const char *addr);
/* Sends what is queued, later in this loop turn. */
void grpc_conn_flush_soon(struct grpc_conn *conn);
/* GOAWAY(NO_ERROR): streams under way finish, new ones are refused. */
void grpc_conn_goaway(struct grpc_conn *conn);
void grpc_conn_free(struct grpc_conn *conn);

/* ---- call.c and reply.c: the stream protocol ---- */
struct grpc_call *grpc_call_new(struct grpc_conn *conn, int32_t stream_id);
/* A request header; returns -1 to reset the stream (too much head). */
int grpc_call_header(struct grpc_call *c, const uint8_t *name, size_t nl,
		     const uint8_t *value, size_t vl);
/* The head is complete: find the method, check it, start. */
void grpc_call_start(struct grpc_call *c);
void grpc_call_data(struct grpc_call *c, const uint8_t *data, size_t n);
void grpc_call_remote_end(struct grpc_call *c);
/* nghttp2 asks for response bytes (its data source callback). */
ssize_t grpc_call_read(struct grpc_call *c, uint8_t *buf, size_t len,
		       uint32_t *flags);
/* The response has ended, the request has not: reset it soon. */
void grpc_call_linger(struct grpc_call *c);
/* Drops the request bytes not yet handled (the call is finished). */
void grpc_call_drop_input(struct grpc_call *c);
/* The stream is closed: tell the method, free the call. */
void grpc_call_free(struct grpc_call *c);

/* For methods. Every one of these is a no-op once the call is
 * finished, so a late completion needs no check of its own. */
/* Queues a response message. Returns 0, or -1 when the message is larger
 * than --grpc-max-response-bytes or the connection has too much unread
 * (the call is then finished with ResourceExhausted). */
int grpc_call_send(struct grpc_call *c, const ProtobufCMessage *msg);
/* Sets the status; the trailers go after the queued messages. */
void grpc_call_finish(struct grpc_call *c, enum grpc_code code,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Response bytes queued on the call and on its connection. */
size_t grpc_call_queued(const struct grpc_call *c);
/* 1 when more bytes of responses may be queued now; otherwise the
 * method's on_writable is called once they have drained. */
int grpc_call_has_room(struct grpc_call *c, size_t more);
/* For conn.c: a call that waited for room has it now (once). */
int grpc_call_drained(struct grpc_call *c);
/* Input waits (flow control closes the window) until grpc_call_resume. */
void grpc_call_pause(struct grpc_call *c);
void grpc_call_resume(struct grpc_call *c);
const char *grpc_call_addr(const struct grpc_call *c);
/* 1 when the write may go ahead; otherwise the call is finished with
 * ResourceExhausted (etcd's "too many requests"). */
int grpc_call_rate_ok(struct grpc_call *c);

/* ---- the methods: kv.c, txn.c, watch.c, maint.c ---- */
extern const struct grpc_method grpc_m_range, grpc_m_put,
	grpc_m_delete_range, grpc_m_txn, grpc_m_watch, grpc_m_status,
	grpc_m_member_list, grpc_m_authenticate;

/* The response header every answer carries (revision: the registry's). */
void grpc_header(const struct grpc_api *api, V3__ResponseHeader *h);

/* ---- auth.c ---- */
/* NULL in *out without a users file. */
int grpc_auth_new(struct grpc_auth **out, const char *file, char *err);
int grpc_auth_reload(struct grpc_auth *a, char *err);
/* Auth.Authenticate: the password checked, a new session's token into
 * token; -1 for a wrong user or password. */
int grpc_auth_login(struct grpc_auth *a, const char *user,
		    const char *password, char token[33]);
/* GRPC_OK, or why a call with this token is refused (msg). */
enum grpc_code grpc_auth_check(struct grpc_auth *a, const char *token,
			       char *msg, size_t msglen);
void grpc_auth_free(struct grpc_auth *a);

/* ---- watch.c ---- */
struct v3watch_hub *grpc_watch_hub_new(struct grpc_api *api);
/* Shutting down: ends every watch stream with Unavailable. */
void grpc_watch_hub_end_all(struct v3watch_hub *hub);
size_t grpc_watch_hub_count(const struct v3watch_hub *hub);
void grpc_watch_hub_free(struct v3watch_hub *hub);

#endif
