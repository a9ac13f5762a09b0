/* fuzz_grpc.c -- libFuzzer harness: one gRPC call whose request body is
 * the input, through the server's own path: a connection (conn.c) on a
 * socketpair, the stream's 5-byte message framing (call.c, frame.c), the
 * method's protobuf-c unpack, checks and handling (kv.c, kv_write.c,
 * txn.c, watch*.c, maint.c, auth.c) and its answer (reply.c). The
 * registry holds tokens, members and a deletion; writes commit through a
 * store in memory, on the event loop as LMDB's commits come.
 *
 * The first input byte says how:
 *   bits 0-2  the method: Range, Put, DeleteRange, Txn, Watch, Status,
 *             MemberList, Authenticate;
 *   bit 3     the admin token in `authorization`;
 *   bit 4     a --users-file (user "fuzz", password "secret");
 *   bit 5     the rest is one message, framed by the harness; else it is
 *             the body as sent, prefixes and all, in DATA frames of 7
 *             bytes;
 *   bit 6     the store fails every write (a full disk);
 *   bit 7     the client hangs up as soon as it has sent.
 * A Watch stream sees commits made while it is open: a member put, an
 * overwrite, a deletion and a new token.
 *
 * The client is nghttp2's. Unless it hung up, every call must end with
 * :status 200 and one grpc-status, every response message must be whole
 * and unpack as the method's response, and a unary call answers with one
 * message when OK and none otherwise. A failed check aborts. */
#include <crypt.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "fuzz_util.h"
#include "grpc_internal.h"
#include "log.h"
#include "nv.h"
#include "registry.h"
#include "store.h"
#include "util.h"

#define ADMIN_TOKEN "fuzz-admin-token"
#define CHUNK 7		/* DATA frame size of a raw body */
#define MAX_TURNS 400	/* loop turns a call may take */

enum {
	F_METHOD = 0x07, F_ADMIN = 0x08, F_USERS = 0x10, F_FRAMED = 0x20,
	F_STORE_FAILS = 0x40, F_HANG_UP = 0x80,
};

struct method {
	const struct grpc_method *m;
	const ProtobufCMessageDescriptor *response;
};

static const struct method METHODS[8] = {
	{ &grpc_m_range, &v3__range_response__descriptor },
	{ &grpc_m_put, &v3__put_response__descriptor },
	{ &grpc_m_delete_range, &v3__delete_range_response__descriptor },
	{ &grpc_m_txn, &v3__txn_response__descriptor },
	{ &grpc_m_watch, &v3__watch_response__descriptor },
	{ &grpc_m_status, &v3__status_response__descriptor },
	{ &grpc_m_member_list, &v3__member_list_response__descriptor },
	{ &grpc_m_authenticate, &v3__authenticate_response__descriptor },
};

/* ---- a store in memory: commits on the next loop turn, in order ---- */

struct memstore {
	struct store base; /* first: the store calls get &base */
	struct event *ev;
	struct proposal *queue, **tail;
	uint64_t index;
	int failing;
};

static void
mem_commit_all(struct memstore *ms)
{
	const struct store_sink *sink = &ms->base.sink;
	struct proposal *p;
	size_t i;

	/* settled() may plan waiting requests: they queue behind */
	while ((p = ms->queue) != NULL) {
		ms->queue = p->next;
		if (ms->queue == NULL)
			ms->tail = &ms->queue;
		p->status = ms->failing ? STORE_FULL : STORE_OK;
		if (ms->failing)
			snprintf(p->error, sizeof(p->error), "fuzz: disk full");
		for (i = 0; i < p->n && !ms->failing; i++) {
			p->changes[i].index = ++ms->index;
			sink->apply(sink->arg, &p->changes[i]);
		}
		if (!ms->failing)
			sink->batch_end(sink->arg, ms->index);
		sink->settled(sink->arg, p);
	}
}

static void
mem_on_commit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mem_commit_all(arg);
}

static void
mem_submit(struct store *st, struct proposal *p)
{
	struct memstore *ms = (struct memstore *)st;

	p->next = NULL;
	*ms->tail = p;
	ms->tail = &p->next;
	event_active(ms->ev, EV_TIMEOUT, 0);
}

static int
mem_load(struct store *st, char *err)
{
	(void)st;
	(void)err;
	return 0;
}

static void
mem_probe(struct store *st)
{
	store_probe_done(st, 1, NULL);
}

static int
mem_busy(const struct store *st)
{
	return ((const struct memstore *)st)->queue != NULL;
}

static void
mem_stats(const struct store *st, struct store_stats *out)
{
	out->full = ((const struct memstore *)st)->failing;
}

static void
mem_close(struct store *st)
{
	mem_commit_all((struct memstore *)st);
}

static const struct store_ops mem_ops = {
	"fuzz-memory", mem_load, mem_submit, mem_probe, mem_busy, mem_stats,
	mem_close, NULL,
};

/* A change made elsewhere (another gateway): straight to the registry. */
static void
mem_external(struct memstore *ms, enum change_kind kind, const char *token,
	     const char *name, const char *value)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.action = ACTION_SET;
	c.size = 3;
	c.created_at = 1000;
	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", name ? name : "");
	c.value = (char *)value;
	c.index = ++ms->index;
	ms->base.sink.apply(ms->base.sink.arg, &c);
	ms->base.sink.batch_end(ms->base.sink.arg, ms->index);
}

/* ---- the server: a registry, its store, the gRPC front end ---- */

static struct event_base *base;
static struct config base_cfg;
static char users_file[64];

struct world {
	struct config cfg;
	struct registry reg;
	struct memstore ms;
	struct grpc_api *api;
};

/* abc123 (size 3): m1, m2 overwritten, m0 deleted; def456 (size 1) with
 * a member beyond its size; empty (size 2) with none. */
static void
fill_registry(struct memstore *ms)
{
	mem_external(ms, CHANGE_TOKEN_PUT, "abc123", NULL, NULL);
	mem_external(ms, CHANGE_MEMBER_PUT, "abc123", "m0",
		     "m0=http://10.0.0.9:2380");
	mem_external(ms, CHANGE_MEMBER_PUT, "abc123", "m1",
		     "m1=https://10.0.0.1:2380");
	mem_external(ms, CHANGE_MEMBER_PUT, "abc123", "m2",
		     "m2=https://[2001:db8::2]:2380");
	mem_external(ms, CHANGE_MEMBER_DEL, "abc123", "m0", NULL);
	mem_external(ms, CHANGE_MEMBER_PUT, "abc123", "m2",
		     "m2=https://[2001:db8::22]:2380");
	mem_external(ms, CHANGE_TOKEN_PUT, "def456", NULL, NULL);
	mem_external(ms, CHANGE_MEMBER_PUT, "def456", "n1",
		     "n1=http://n1.example:2380,n1=http://10.1.1.1:2381");
	mem_external(ms, CHANGE_MEMBER_PUT, "def456", "n2",
		     "n2=http://10.1.1.2:2380");
	mem_external(ms, CHANGE_TOKEN_PUT, "empty", NULL, NULL);
}

static void
world_open(struct world *w, unsigned flags)
{
	errbuf_t err = "";

	memset(w, 0, sizeof(*w));
	w->cfg = base_cfg;
	if (flags & F_USERS)
		snprintf(w->cfg.users_file, sizeof(w->cfg.users_file), "%s",
			 users_file);
	registry_init(&w->reg, w->cfg.max_members);
	w->ms.base.ops = &mem_ops;
	w->ms.base.sink = registry_sink(&w->reg);
	w->ms.tail = &w->ms.queue;
	w->ms.ev = event_new(base, -1, 0, mem_on_commit, &w->ms);
	registry_set_store(&w->reg, &w->ms.base);
	fill_registry(&w->ms);
	w->ms.failing = (flags & F_STORE_FAILS) != 0;
	if (grpc_api_start(&w->api, base, &w->cfg, &w->reg, &w->ms.base, NULL,
			   err) != 0) {
		fprintf(stderr, "fuzz_grpc: %s\n", err);
		abort();
	}
}

/* As the daemon stops: connections, then what the store holds, then the
 * front end (its watch hub listens to the registry until then). */
static void
world_close(struct world *w)
{
	while (w->api->conns != NULL)
		grpc_conn_free(w->api->conns);
	mem_commit_all(&w->ms);
	grpc_api_free(w->api);
	registry_free(&w->reg);
	event_free(w->ms.ev);
	/* libevent finalizes freed bufferevents on the next turn */
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/* ---- the client ---- */

struct client {
	nghttp2_session *s;
	int fd;
	int32_t stream;
	struct evbuffer *out; /* to the server, not yet written */
	const uint8_t *body;
	size_t len, sent, chunk;
	int may_end, ended, deferred;
	/* the answer */
	char status[8];
	char message[256]; /* grpc-message, for FUZZ_DEBUG */
	int grpc_status, nstatus;
	struct evbuffer *in; /* DATA of the response */
	int closed;
};

static ssize_t
cl_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
	void *arg)
{
	struct client *cl = arg;

	(void)s;
	(void)flags;
	evbuffer_add(cl->out, data, len);
	return (ssize_t)len;
}

static ssize_t
cl_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
	     uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct client *cl = arg;
	size_t n = cl->len - cl->sent;

	(void)s;
	(void)id;
	(void)src;
	if (n > len)
		n = len;
	if (n > cl->chunk)
		n = cl->chunk;
	if (n > 0)
		memcpy(buf, cl->body + cl->sent, n);
	cl->sent += n;
	if (cl->sent < cl->len)
		return (ssize_t)n;
	if (cl->may_end) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		cl->ended = 1;
	} else if (n == 0) {
		cl->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* "0" to "16"; -1 for anything else. */
static int
grpc_status_value(const uint8_t *v, size_t n)
{
	int code = 0;
	size_t i;

	if (n == 0 || n > 2 || (n == 2 && v[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		code = code * 10 + (v[i] - '0');
	}
	return code < GRPC_CODES ? code : -1;
}

static int
cl_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
	  size_t nl, const uint8_t *value, size_t vl, uint8_t flags,
	  void *arg)
{
	struct client *cl = arg;

	(void)s;
	(void)flags;
	if (f->hd.stream_id != cl->stream)
		return 0;
	if (nl == 7 && memcmp(name, ":status", 7) == 0 &&
	    vl < sizeof(cl->status)) {
		memcpy(cl->status, value, vl);
		cl->status[vl] = '\0';
	} else if (nl == 11 && memcmp(name, "grpc-status", 11) == 0) {
		cl->nstatus++;
		cl->grpc_status = grpc_status_value(value, vl);
	} else if (nl == 12 && memcmp(name, "grpc-message", 12) == 0) {
		snprintf(cl->message, sizeof(cl->message), "%.*s",
			 vl < sizeof(cl->message) ? (int)vl : 255, value);
	}
	return 0;
}

static int
cl_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
	size_t len, void *arg)
{
	struct client *cl = arg;

	(void)s;
	(void)flags;
	if (id == cl->stream)
		evbuffer_add(cl->in, data, len);
	return 0;
}

static int
cl_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct client *cl = arg;

	(void)s;
	(void)code;
	if (id == cl->stream)
		cl->closed = 1;
	return 0;
}

static void
client_open(struct client *cl, int fd)
{
	nghttp2_session_callbacks *cb;

	memset(cl, 0, sizeof(*cl));
	cl->fd = fd;
	cl->out = evbuffer_new();
	cl->in = evbuffer_new();
	cl->grpc_status = -1;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	nghttp2_session_callbacks_set_send_callback(cb, cl_send);
	nghttp2_session_callbacks_set_on_header_callback(cb, cl_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cl_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_close);
	if (nghttp2_session_client_new(&cl->s, cb, cl) != 0)
		abort();
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(cl->s, NGHTTP2_FLAG_NONE, NULL, 0);
}

/* The request head as clientv3 sends it, and the body after it. */
static void
client_call(struct client *cl, const char *path, unsigned flags)
{
	nghttp2_nv h[9] = {
		grpc_nv(":method", "POST"), grpc_nv(":scheme", "http"),
		grpc_nv(":path", path), grpc_nv(":authority", "127.0.0.1"),
		grpc_nv("content-type", "application/grpc"),
		grpc_nv("te", "trailers"), grpc_nv("grpc-timeout", "5S"),
	};
	size_t n = 7;
	nghttp2_data_provider dp = { .read_callback = cl_read_body };

	if (flags & F_ADMIN)
		h[n++] = grpc_nv("authorization", "Bearer " ADMIN_TOKEN);
	if (flags & F_USERS)
		h[n++] = grpc_nv("token", "00112233445566778899aabbccddeeff");
	cl->stream = nghttp2_submit_request(cl->s, NULL, h, n, &dp, NULL);
	if (cl->stream < 0)
		abort();
}

static void
client_end(struct client *cl)
{
	cl->may_end = 1;
	if (cl->deferred) {
		cl->deferred = 0;
		nghttp2_session_resume_data(cl->s, cl->stream);
	}
}

/* Sends what the session has, reads what came; -1 when the connection
 * is gone. */
static int
client_io(struct client *cl)
{
	uint8_t buf[16384];
	ssize_t n;

	if (nghttp2_session_send(cl->s) != 0)
		return -1;
	while (evbuffer_get_length(cl->out) > 0)
		if (evbuffer_write(cl->out, cl->fd) <= 0)
			break; /* the socket is full: next turn */
	while ((n = read(cl->fd, buf, sizeof(buf))) > 0)
		if (nghttp2_session_mem_recv(cl->s, buf, (size_t)n) < 0)
			return -1;
	return n == 0 ? -1 : 0;
}

static void
client_close(struct client *cl)
{
	nghttp2_session_del(cl->s);
	evbuffer_free(cl->out);
	evbuffer_free(cl->in);
	close(cl->fd);
}

/* Turns of the loop until the stream closes; 1 when it did. */
static int
run(struct client *cl, int turns)
{
	while (turns-- > 0 && !cl->closed) {
		if (client_io(cl) != 0)
			return 0;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	return cl->closed;
}

/* ---- checks on the answer ---- */

static void
check_answer(struct client *cl, const struct method *m, const uint8_t *data,
	     size_t size)
{
	uint8_t prefix[GRPC_PREFIX_LEN];
	size_t len, nmsgs = 0;
	ProtobufCMessage *msg;
	uint8_t *body;

	if (strcmp(cl->status, "200") != 0)
		fuzz_die("the answer is not :status 200", data, size);
	if (cl->nstatus != 1 || cl->grpc_status < 0 ||
	    cl->grpc_status >= GRPC_CODES)
		fuzz_die("the answer has no single valid grpc-status", data,
			 size);
	while (evbuffer_get_length(cl->in) > 0) {
		evbuffer_copyout(cl->in, prefix, sizeof(prefix));
		if (grpc_frame_peek(prefix, evbuffer_get_length(cl->in),
				    SIZE_MAX, &len) != FRAME_OK)
			fuzz_die("a response message is not whole", data, size);
		body = evbuffer_pullup(cl->in,
				       (ev_ssize_t)(GRPC_PREFIX_LEN + len));
		msg = protobuf_c_message_unpack(m->response, NULL, len,
						body + GRPC_PREFIX_LEN);
		if (msg == NULL)
			fuzz_die("a response message does not unpack", data,
				 size);
		protobuf_c_message_free_unpacked(msg, NULL);
		evbuffer_drain(cl->in, GRPC_PREFIX_LEN + len);
		nmsgs++;
	}
	/* FUZZ_DEBUG=1: what each input got, to see where seeds lead. */
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "%s: grpc-status %d, %zu messages: %s\n",
			m->m->path, cl->grpc_status, nmsgs, cl->message);
	if (!m->m->streaming && nmsgs != (cl->grpc_status == GRPC_OK))
		fuzz_die("a unary answer without its one message (or with one "
		    "on an error)", data, size);
}

/* ---- one call ---- */

/* Commits a Watch stream can see while it is open. */
static void
commit_for_watchers(struct world *w)
{
	mem_external(&w->ms, CHANGE_MEMBER_PUT, "abc123", "m3",
		     "m3=http://10.0.0.3:2380");
	mem_external(&w->ms, CHANGE_MEMBER_PUT, "abc123", "m1",
		     "m1=https://10.0.0.11:2380");
	mem_external(&w->ms, CHANGE_MEMBER_DEL, "abc123", "m2", NULL);
	mem_external(&w->ms, CHANGE_TOKEN_PUT, "ghi789", NULL, NULL);
}

static void
serve_one(const uint8_t *data, size_t size)
{
	unsigned flags = data[0];
	const struct method *m = &METHODS[flags & F_METHOD];
	static struct world w; /* a config is large */
	struct client cl;
	uint8_t *framed = NULL;
	int sv[2], closed;

	world_open(&w, flags);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0 ||
	    grpc_conn_open(w.api, sv[0], "127.0.0.1") != 0) {
		perror("fuzz_grpc: socketpair");
		abort();
	}
	client_open(&cl, sv[1]);
	cl.body = data + 1;
	cl.len = size - 1;
	cl.chunk = CHUNK;
	if (flags & F_FRAMED) {
		framed = xmalloc(GRPC_PREFIX_LEN + cl.len);
		grpc_frame_prefix(framed, cl.len);
		memcpy(framed + GRPC_PREFIX_LEN, data + 1, cl.len);
		cl.body = framed;
		cl.len += GRPC_PREFIX_LEN;
		cl.chunk = SIZE_MAX;
	}
	cl.may_end = !m->m->streaming;
	client_call(&cl, m->m->path, flags);
	if (flags & F_HANG_UP) {
		client_io(&cl);
		event_base_loop(base, EVLOOP_NONBLOCK);
	} else {
		if (m->m->streaming) {
			run(&cl, 20);
			commit_for_watchers(&w);
			run(&cl, 20);
			client_end(&cl);
		}
		closed = run(&cl, MAX_TURNS);
		if (!closed)
			fuzz_die("the call got no answer", data, size);
		check_answer(&cl, m, data, size);
	}
	client_close(&cl);
	free(framed);
	world_close(&w);
}

/* ---- set up once ---- */

static void
cleanup(void)
{
	unlink(users_file);
	event_base_free(base);
}

/* The users file: "fuzz" with password "secret", hashed cheaply. */
static void
write_users_file(void)
{
	struct crypt_data cd;
	const char *hash;
	FILE *fp;
	int fd;

	memset(&cd, 0, sizeof(cd));
	hash = crypt_r("secret", "$5$rounds=1000$fuzzsalt$", &cd);
	snprintf(users_file, sizeof(users_file),
		 "/tmp/srvgate-fuzz-users-XXXXXX");
	if (hash == NULL || hash[0] == '*' || (fd = mkstemp(users_file)) < 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		perror("fuzz_grpc: users file");
		abort();
	}
	fprintf(fp, "# fuzz_grpc\nfuzz:%s\n", hash);
	fclose(fp);
}

static void
init_once(void)
{
	log_threshold = LOG_ERROR;
	base = event_base_new();
	if (base == NULL)
		abort();
	config_defaults(&base_cfg);
	snprintf(base_cfg.grpc_listen.items[0], 256, "off");
	base_cfg.grpc_listen.n = 1;
	snprintf(base_cfg.admin_token, sizeof(base_cfg.admin_token), "%s",
		 ADMIN_TOKEN);
	write_users_file();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (base == NULL)
		init_once();
	if (size == 0)
		return 0;
	serve_one(data, size);
	return 0;
}
