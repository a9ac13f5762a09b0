/* xfr.c -- zone transfers, and the service that owns the TSIG keys, the
 * access rules and NOTIFY.
 *
 * Transfers are written straight from the zone's nodes (AXFR) or the
 * journal (IXFR) into messages of about 16 KB, each signed when the
 * request was. Owner names point at the zone apex in the question.
 *
 * An IXFR answer is small and written at once. An AXFR (or an IXFR that
 * falls back to the whole zone) may be a million records: it is a struct
 * xfr_transfer that the connection runs a slice at a time (xfr_transfer_
 * run): nodes until XFR_SLICE_NS have passed or the connection holds
 * out_max unsent bytes, then the loop serves everyone else, and the
 * connection runs the next slice on its next turn or once the client has
 * read. The transfer keeps its message under way and its TSIG exchange,
 * so every message is signed in turn as if sent at once.
 *
 * Between slices commits change the zone in place; the transfer still
 * sends the zone exactly as it was at the serial of its first SOA. Its
 * cursor is a struct dns_walk (nodes.h): nodes made later are not in its
 * snapshot, and before a batch settles, each node it changes that the
 * transfer has not reached goes out as it was before the batch (the
 * records dns_rr_was_live counts, as the journal does) and is skipped
 * later. A reload frees the zone: the transfer is told (gone) and the
 * connection hangs up, the client taking the zone again from the new
 * data.
 */
#include "xfr.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "config.h"
#include "dns.h"
#include "notify.h"
#include "replica.h"
#include "util.h"
#include "view.h"

#define MSG_MAX 65535
#define MSG_TARGET 16000 /* bytes of records per transfer message */
#define QNAME_PTR 0xC00C
#define XFR_MAX_ACTIVE 16 /* whole-zone transfers under way at once */
#define XFR_SLICE_NS 2000000 /* loop time one slice may take */
#define QUESTION_MAX (DNS_NAME_MAX + 4)

struct xfr {
	struct dns_view *view;
	struct tsig_keyring keys;
	struct acl acl;
	struct notifier *notifier;
	uint64_t axfr, ixfr, refused, notauth, aborted;
	unsigned active; /* struct xfr_transfer alive */
	uint8_t *buf; /* one message at a time (answers written at once) */
};

/* One transfer answer on its way out, message by message. */
struct xmsg {
	uint16_t id;
	const uint8_t *question; /* the request's, copied as it came */
	size_t qlen;
	struct tsig_state *ts;
	struct evbuffer *out;
	uint8_t *b;
	size_t len;
	uint16_t count;	/* records in this message */
	size_t total;	/* records in all */
	unsigned rcode;
	const struct dns_zone *zone;
};

/* An AXFR under way (see the top). */
struct xfr_transfer {
	struct xfr *x;
	struct xmsg m;
	struct tsig_state ts;
	struct dns_walk walk;
	uint32_t serial; /* the zone's when it began: both SOAs say it */
	const char *what;
	char who[INET6_ADDRSTRLEN];
	char origin[DNS_NAME_MAX + 2]; /* for the log: the zone may go */
	uint64_t started_ns;
	unsigned slices;
	uint64_t slice_max_ns; /* the loop time of the longest */
	size_t befores; /* nodes sent as they were before a change */
	void (*wake)(void *arg);
	void *wake_arg;
	uint8_t question[QUESTION_MAX];
	uint8_t buf[MSG_MAX];
};

static void
msg_start(struct xmsg *m)
{
	memset(m->b, 0, DNS_HEADER_SIZE);
	dns_put16(m->b, m->id);
	dns_put16(m->b + 2, (uint16_t)(FLAG_QR | m->rcode |
				       (m->rcode == 0 ? FLAG_AA : 0)));
	dns_put16(m->b + 4, 1);
	memcpy(m->b + DNS_HEADER_SIZE, m->question, m->qlen);
	m->len = DNS_HEADER_SIZE + m->qlen;
	m->count = 0;
}

/* Sends the message, signed when the request was. */
static void
msg_flush(struct xmsg *m)
{
	uint8_t l[2];
	size_t len = m->len;

	dns_put16(m->b + 6, m->count);
	if (m->ts != NULL)
		len = tsig_sign(m->ts, m->b, len, MSG_MAX, (uint64_t)time(NULL));
	if (len == 0)
		return;
	dns_put16(l, (uint16_t)len);
	evbuffer_add(m->out, l, 2);
	evbuffer_add(m->out, m->b, len);
	msg_start(m);
}

/* Appends a record, starting a new message when this one is full. */
static void
msg_put(struct xmsg *m, const uint8_t *owner, size_t olen, uint16_t type,
	uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	const struct dns_zone *z = m->zone;
	size_t keep = olen;
	uint8_t *p;

	if (olen >= z->apex_len &&
	    memcmp(owner + olen - z->apex_len, z->apex, z->apex_len) == 0)
		keep = olen - z->apex_len; /* then a pointer to the apex */
	if (m->count > 0 && m->len + keep + 12 + rdlen > MSG_TARGET)
		msg_flush(m);
	if (m->len + keep + 12 + rdlen + 512 > MSG_MAX)
		return; /* no room even alone (a huge static record) */
	p = m->b + m->len;
	memcpy(p, owner, keep);
	p += keep;
	if (keep != olen) {
		dns_put16(p, QNAME_PTR);
		p += 2;
	}
	dns_put16(p, type);
	dns_put16(p + 2, CLASS_IN);
	dns_put32(p + 4, ttl);
	dns_put16(p + 8, rdlen);
	memcpy(p + 10, rdata, rdlen);
	m->len = (size_t)(p + 10 + rdlen - m->b);
	m->count++;
	m->total++;
}

/* The zone's SOA with a given serial (IXFR names the old ones). Only a
 * reload changes the rest of it, and a reload ends transfers. */
static void
put_soa(struct xmsg *m, uint32_t serial)
{
	const struct dns_zone *z = m->zone;
	uint8_t rdata[2 * DNS_NAME_MAX + 20];

	memcpy(rdata, z->soa->rdata, z->soa->rdlen);
	dns_put32(rdata + z->serial_at, serial);
	msg_put(m, z->apex, z->apex_len, TYPE_SOA, z->soa->ttl, rdata,
		z->soa->rdlen);
}

/* ---- AXFR, a slice at a time ---- */

/* A node's records but the SOA, as they were before the batch under way
 * (between batches: as they are). */
static void
put_node(struct xmsg *m, const struct dns_node *n)
{
	size_t i;

	for (i = 0; i < n->nsets; i++) {
		const struct dns_rr *rr = n->sets[i].head;

		for (; rr != NULL; rr = rr->next)
			if (rr != m->zone->soa && dns_rr_was_live(rr))
				msg_put(m, n->name, n->name_len,
					n->sets[i].answer.type, rr->ttl,
					rr->rdata, rr->rdlen);
	}
}

/* A batch is about to change n, which the transfer has not sent. */
static void
walk_before(struct dns_walk *w, const struct dns_node *n)
{
	struct xfr_transfer *t = container_of(w, struct xfr_transfer, walk);

	put_node(&t->m, n);
	t->befores++;
}

/* The zone is being freed: the connection hangs up on its next turn. */
static void
walk_gone(struct dns_walk *w)
{
	struct xfr_transfer *t = container_of(w, struct xfr_transfer, walk);

	t->wake(t->wake_arg);
}

/* Starts the whole zone: its SOA, then nodes from the apex. */
static struct xfr_transfer *
transfer_new(struct xfr *x, const struct xmsg *m, struct dns_zone *z,
	     const char *what, const char *who, void (*wake)(void *),
	     void *wake_arg)
{
	struct xfr_transfer *t = xcalloc(1, sizeof(*t));

	t->x = x;
	x->active++;
	t->m = *m;
	memcpy(t->question, m->question, m->qlen);
	t->m.question = t->question;
	t->m.b = t->buf;
	if (m->ts != NULL) {
		t->ts = *m->ts;
		t->m.ts = &t->ts;
	}
	t->what = what;
	snprintf(t->who, sizeof(t->who), "%s", who);
	snprintf(t->origin, sizeof(t->origin), "%s", m->zone->origin);
	t->wake = wake;
	t->wake_arg = wake_arg;
	t->started_ns = now_monotonic_ns();
	t->walk.before = walk_before;
	t->walk.gone = walk_gone;
	dns_walk_start(&t->walk, z);
	t->serial = dns_zone_serial(z);
	msg_start(&t->m);
	put_soa(&t->m, t->serial);
	return t;
}

static void
transfer_end(struct xfr_transfer *t)
{
	struct xmsg *m = &t->m;

	put_soa(m, t->serial);
	msg_flush(m);
	log_info("xfr: %s of %s to %s (serial %u, %zu records, %llu ms in "
		 "%u slices, the longest %.3f ms, %zu names as before a "
		 "change)%s%s", t->what, m->zone->origin, t->who, t->serial,
		 m->total,
		 (unsigned long long)((now_monotonic_ns() - t->started_ns) /
				      1000000), t->slices,
		 t->slice_max_ns / 1e6, t->befores,
		 m->ts ? " signed with " : "",
		 m->ts ? m->ts->key->name_text : "");
}

/* Notes the loop time a slice took. */
static void
slice_took(struct xfr_transfer *t, uint64_t start)
{
	uint64_t ns = now_monotonic_ns() - start;

	if (ns > t->slice_max_ns)
		t->slice_max_ns = ns;
}

enum xfr_state
xfr_transfer_run(struct xfr_transfer *t, size_t out_max, int whole)
{
	uint64_t start = now_monotonic_ns();
	const struct dns_node *n = NULL;
	unsigned i;

	if (t->walk.zone == NULL) {
		t->x->aborted++;
		log_warn("xfr: %s of %s to %s ended unfinished: the zones "
			 "were reloaded", t->what, t->origin, t->who);
		return XFR_ABORTED;
	}
	t->slices++;
	while (whole || evbuffer_get_length(t->m.out) < out_max) {
		for (i = 0; i < 32 && (n = dns_walk_next(&t->walk)); i++)
			put_node(&t->m, n);
		if (n == NULL) {
			slice_took(t, start);
			transfer_end(t);
			return XFR_DONE;
		}
		if (!whole && now_monotonic_ns() - start > XFR_SLICE_NS)
			break;
	}
	slice_took(t, start);
	return XFR_MORE;
}

void
xfr_transfer_free(struct xfr_transfer *t)
{
	if (t == NULL)
		return;
	dns_walk_stop(&t->walk);
	t->x->active--;
	free(t);
}

/* Each record of a journal list, taken apart to compress its owner. */
static void
put_list(struct xmsg *m, const struct rr_list *l)
{
	const uint8_t *rr;
	size_t off = 0, n;

	while ((n = rr_list_next(l, &off, &rr)) > 0) {
		size_t olen = dns_name_len(rr);
		const uint8_t *f = rr + olen;

		msg_put(m, rr, olen, dns_get16(f), dns_get32(f + 4), f + 10,
			dns_get16(f + 8));
	}
}

/* The differences from serial `from` on (RFC 1995 section 4); 0 when the
 * journal does not reach back so far. */
static int
put_ixfr(struct xmsg *m, uint32_t from)
{
	const struct dns_zone *z = m->zone;
	uint32_t now = dns_zone_serial(z);
	const struct journal_entry *e;
	size_t pos;

	/* Up to date, or newer than us in serial arithmetic (RFC 1982): the
	 * SOA alone says so (RFC 1995 section 2), as other servers answer;
	 * the whole zone would be an older copy the client ignores. */
	if ((int32_t)(from - now) >= 0) {
		put_soa(m, now);
		return 1;
	}
	if (journal_find(&z->journal, from, &pos) == NULL)
		return 0;
	put_soa(m, now);
	for (; (e = journal_at(&z->journal, pos)) != NULL; pos++) {
		put_soa(m, e->from);
		put_list(m, &e->deleted);
		put_soa(m, e->to);
		put_list(m, &e->added);
	}
	put_soa(m, now);
	return 1;
}

/* The serial of the client's SOA in an IXFR query's authority section. */
static int
ixfr_serial(const struct dns_request *r, uint32_t *serial)
{
	const struct dns_query *q = &r->q;
	size_t o = q->question_end;

	if (q->ancount != 0 || q->nscount != 1 ||
	    dns_skip_name(r->pkt, r->len, &o) != 0 || o + 10 > r->len ||
	    dns_get16(r->pkt + o) != TYPE_SOA)
		return -1;
	o += 10;
	if (dns_skip_name(r->pkt, r->len, &o) != 0 ||
	    dns_skip_name(r->pkt, r->len, &o) != 0 || o + 4 > r->len)
		return -1;
	*serial = dns_get32(r->pkt + o);
	return 0;
}

/* An answer with no records; signed if the request was. */
static void
send_error(struct xmsg *m, unsigned rcode)
{
	m->rcode = rcode;
	msg_start(m);
	msg_flush(m);
}

/* The answer, written now, or the transfer that writes it (NULL: none). */
static struct xfr_transfer *
transfer(struct xfr *x, struct xmsg *m, const struct dns_request *req,
	 const char *who, void (*wake)(void *), void *wake_arg)
{
	const struct dns_query *q = &req->q;
	struct dns_zone *z = dns_zone_find(dns_view_data(x->view), q->qname,
					   q->qname_len);
	uint32_t from = 0;

	m->zone = z;
	if (z == NULL) {
		__atomic_add_fetch(&x->notauth, 1, __ATOMIC_RELAXED);
		send_error(m, RCODE_NOTAUTH); /* not our zone */
		return NULL;
	}
	if (q->qtype == TYPE_IXFR && ixfr_serial(req, &from) != 0) {
		send_error(m, RCODE_FORMERR);
		return NULL;
	}
	msg_start(m);
	/* Counted as IXFR only when incremental: a fallback to the whole
	 * zone is an AXFR in all but name. */
	if (q->qtype == TYPE_IXFR && put_ixfr(m, from)) {
		msg_flush(m);
		x->ixfr++;
		log_info("xfr: IXFR of %s to %s (serial %u, %zu records)%s%s",
			 m->zone->origin, who, dns_zone_serial(m->zone),
			 m->total, m->ts ? " signed with " : "",
			 m->ts ? m->ts->key->name_text : "");
		return NULL;
	}
	if (x->active >= XFR_MAX_ACTIVE) {
		log_warn("xfr: refused %s of %s to %s: %d transfers under way",
			 q->qtype == TYPE_IXFR ? "IXFR" : "AXFR",
			 m->zone->origin, who, XFR_MAX_ACTIVE);
		__atomic_add_fetch(&x->refused, 1, __ATOMIC_RELAXED);
		send_error(m, RCODE_REFUSED);
		return NULL;
	}
	x->axfr++;
	return transfer_new(x, m, z,
			    q->qtype == TYPE_IXFR ? "IXFR (whole zone)" : "AXFR",
			    who, wake, wake_arg);
}

/* Why a transfer was refused: no rule for the address, or a rule that
 * wants a TSIG key the request was not signed with. */
static void
log_refusal(const struct xfr *x, const char *what, const char *who,
	    const struct sockaddr *peer, const struct tsig_state *ts)
{
	const struct tsig_key *want = acl_key_wanted(&x->acl, peer);

	if (want == NULL)
		log_warn("xfr: refused %s from %s%s%s: no --allow-transfer "
			 "rule covers this address", what, who,
			 ts ? " (signed with key " : "",
			 ts ? ts->key->name_text : "");
	else if (ts == NULL)
		log_warn("xfr: refused %s from %s: unsigned, and its "
			 "--allow-transfer rule requires TSIG key '%s'", what,
			 who, want->name_text);
	else
		log_warn("xfr: refused %s from %s: signed with key '%s', but "
			 "its --allow-transfer rule requires key '%s'", what,
			 who, ts->key->name_text, want->name_text);
}

int
xfr_refuses(struct xfr *x, const struct tsig_state *ts,
	    const struct sockaddr *peer, const char *what)
{
	char who[INET6_ADDRSTRLEN];

	if (acl_allows(&x->acl, peer, ts ? ts->key : NULL))
		return 0;
	format_addr(peer, who, sizeof(who));
	log_refusal(x, what, who, peer, ts);
	/* The TCP and UDP workers count from their threads too. */
	__atomic_add_fetch(&x->refused, 1, __ATOMIC_RELAXED);
	return 1;
}

struct xfr_transfer *
xfr_answer(struct xfr *x, const struct dns_request *req,
	   struct tsig_state *ts, const struct sockaddr *peer,
	   struct evbuffer *out, void (*wake)(void *arg), void *wake_arg)
{
	struct xmsg m;
	char who[INET6_ADDRSTRLEN];

	memset(&m, 0, sizeof(m));
	m.id = req->q.id;
	m.question = req->pkt + DNS_HEADER_SIZE;
	m.qlen = req->q.question_end - DNS_HEADER_SIZE;
	m.ts = ts;
	m.out = out;
	m.b = x->buf;
	format_addr(peer, who, sizeof(who));
	if (m.qlen > QUESTION_MAX) { /* the parser allows no longer */
		send_error(&m, RCODE_FORMERR);
		return NULL;
	}
	if (xfr_refuses(x, ts, peer,
			req->q.qtype == TYPE_IXFR ? "IXFR" : "AXFR")) {
		send_error(&m, RCODE_REFUSED);
		return NULL;
	}
	return transfer(x, &m, req, who, wake, wake_arg);
}

enum udp_ixfr
xfr_udp_ixfr(struct xfr *x, const struct dns_request *req,
	     const struct tsig_state *ts, const struct sockaddr *peer,
	     const struct replica *rep)
{
	const struct dns_query *q = &req->q;
	int known;

	if (xfr_refuses(x, ts, peer, "IXFR over UDP"))
		return UDP_IXFR_REFUSED;
	known = rep != NULL ?
			replica_has_zone(rep, q->qname, q->qname_len) :
			dns_zone_find(dns_view_data(x->view), q->qname,
				      q->qname_len) != NULL;
	if (!known) {
		__atomic_add_fetch(&x->notauth, 1, __ATOMIC_RELAXED);
		return UDP_IXFR_NOTAUTH;
	}
	return UDP_IXFR_ALLOWED;
}

/* ---- the service ---- */

struct tsig_keyring *
xfr_keys(struct xfr *x)
{
	return &x->keys;
}

static void
zone_changed(const char *origin, void *arg)
{
	struct xfr *x = arg;

	notifier_zone_changed(x->notifier, origin);
}

/* A message from acl.c, tsig.c or notify.c names "--flag"; the value may
 * have come from SRVGATE_FLAG instead. */
static int
name_origin(const struct config *cfg, const char *flag, char *err)
{
	char o[64], rest[ERRBUF_SIZE];
	size_t n = strlen(flag);

	if (strncmp(err, "--", 2) != 0 || strncmp(err + 2, flag, n) != 0)
		return -1;
	snprintf(rest, sizeof(rest), "%s", err + 2 + n);
	return fail(err, "%s%s", config_origin(cfg, flag, o, sizeof(o)),
		    rest);
}

int
xfr_check_config(const struct config *cfg, char *err)
{
	struct tsig_keyring *kr = xcalloc(1, sizeof(*kr));
	struct acl *acl = xcalloc(1, sizeof(*acl));
	struct notifier *nf = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < cfg->tsig_keys.n && rc == 0; i++)
		if (tsig_key_add(kr, cfg->tsig_keys.items[i], err) != 0)
			rc = name_origin(cfg, "tsig-key", err);
	if (rc == 0 && acl_parse(acl, &cfg->allow_transfer, kr, err) != 0)
		rc = name_origin(cfg, "allow-transfer", err);
	if (rc == 0 && notifier_new(&nf, NULL, &cfg->notify, kr, err) != 0)
		rc = name_origin(cfg, "notify", err);
	notifier_free(nf);
	free(acl);
	free(kr);
	return rc;
}

int
xfr_new(struct xfr **out, struct event_base *base, const struct config *cfg,
	struct dns_view *view, char *err)
{
	struct xfr *x = xcalloc(1, sizeof(*x));
	size_t i;

	x->view = view;
	for (i = 0; i < cfg->tsig_keys.n; i++)
		if (tsig_key_add(&x->keys, cfg->tsig_keys.items[i], err) != 0)
			goto fail;
	if (acl_parse(&x->acl, &cfg->allow_transfer, &x->keys, err) != 0 ||
	    notifier_new(&x->notifier, base, &cfg->notify, &x->keys, err))
		goto fail;
	x->buf = xmalloc(MSG_MAX);
	dns_view_on_change(view, zone_changed, x);
	*out = x;
	return 0;
fail:
	free(x);
	return -1;
}

void
xfr_metrics(struct evbuffer *out, void *arg)
{
	const struct xfr *x = arg;
	const struct notify_stats *ns = notifier_stats(x->notifier);

	/* NOTAUTH counts TSIG failures too: those answers are NOTAUTH. */
	evbuffer_add_printf(out,
		"# HELP srvgate_xfr_total Zone transfers served.\n"
		"# TYPE srvgate_xfr_total counter\n"
		"srvgate_xfr_total{type=\"axfr\"} %llu\n"
		"srvgate_xfr_total{type=\"ixfr\"} %llu\n"
		"# HELP srvgate_xfr_refused_total Transfers refused.\n"
		"# TYPE srvgate_xfr_refused_total counter\n"
		"srvgate_xfr_refused_total{rcode=\"REFUSED\"} %llu\n"
		"srvgate_xfr_refused_total{rcode=\"NOTAUTH\"} %llu\n"
		"# HELP srvgate_xfr_active Whole-zone transfers under way.\n"
		"# TYPE srvgate_xfr_active gauge\n"
		"srvgate_xfr_active %u\n"
		"# HELP srvgate_xfr_aborted_total Transfers ended unfinished "
		"by a reload of the zones.\n"
		"# TYPE srvgate_xfr_aborted_total counter\n"
		"srvgate_xfr_aborted_total %llu\n"
		"# HELP srvgate_notify_total NOTIFY messages.\n"
		"# TYPE srvgate_notify_total counter\n"
		"srvgate_notify_total{state=\"sent\"} %llu\n"
		"srvgate_notify_total{state=\"acked\"} %llu\n",
		(unsigned long long)x->axfr, (unsigned long long)x->ixfr,
		(unsigned long long)__atomic_load_n(&x->refused,
						    __ATOMIC_RELAXED),
		(unsigned long long)(__atomic_load_n(&x->notauth,
						     __ATOMIC_RELAXED) +
				     __atomic_load_n(&x->keys.rejected,
						     __ATOMIC_RELAXED)),
		x->active, (unsigned long long)x->aborted,
		(unsigned long long)ns->sent, (unsigned long long)ns->acked);
}

void
xfr_free(struct xfr *x)
{
	if (x == NULL)
		return;
	notifier_free(x->notifier);
	free(x->buf);
	free(x);
}
