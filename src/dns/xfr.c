/* xfr.c -- zone transfers, and the service that owns the TSIG keys, the
 * access rules and NOTIFY.
 *
 * Transfers are written straight from the zone's nodes (AXFR) or the
 * journal (IXFR) into messages of about 16 KB, each signed when the
 * request was. Owner names point at the zone apex in the question.
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

struct xfr {
	struct dns_view *view;
	struct tsig_keyring keys;
	struct acl acl;
	struct notifier *notifier;
	uint64_t axfr, ixfr, refused, notauth;
	uint8_t *buf; /* one message at a time */
};

/* One transfer answer on its way out, message by message. */
struct xmsg {
	const struct dns_request *req;
	struct tsig_state *ts;
	struct evbuffer *out;
	uint8_t *b;
	size_t len;
	uint16_t count;	/* records in this message */
	size_t total;	/* records in all */
	unsigned rcode;
	const struct dns_zone *zone;
};

static void
msg_start(struct xmsg *m)
{
	const struct dns_query *q = &m->req->q;
	size_t qlen = q->question_end - DNS_HEADER_SIZE;

	memset(m->b, 0, DNS_HEADER_SIZE);
	dns_put16(m->b, q->id);
	dns_put16(m->b + 2, (uint16_t)(FLAG_QR | m->rcode |
				       (m->rcode == 0 ? FLAG_AA : 0)));
	dns_put16(m->b + 4, 1);
	memcpy(m->b + DNS_HEADER_SIZE, m->req->pkt + DNS_HEADER_SIZE, qlen);
	m->len = DNS_HEADER_SIZE + qlen;
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

/* The zone's SOA with a given serial (IXFR names the old ones). */
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

/* ---- AXFR and IXFR ---- */

/* The SOA, every other record of the zone, the SOA again. */
static void
put_zone(struct xmsg *m)
{
	const struct dns_zone *z = m->zone;
	const struct dns_node *n;
	size_t i;

	put_soa(m, dns_zone_serial(z));
	for (n = z->first; n != NULL; n = n->next)
		for (i = 0; i < n->nsets; i++) {
			const struct dns_rr *rr = n->sets[i].head;

			for (; rr != NULL; rr = rr->next)
				if (rr != z->soa && rr->refs > 0)
					msg_put(m, n->name, n->name_len,
						n->sets[i].type, rr->ttl,
						rr->rdata, rr->rdlen);
		}
	put_soa(m, dns_zone_serial(z));
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

static void
transfer(struct xfr *x, struct xmsg *m, const char *who)
{
	const struct dns_query *q = &m->req->q;
	uint32_t from = 0;
	int incremental = 0;

	m->zone = dns_zone_find(dns_view_data(x->view), q->qname,
				q->qname_len);
	if (m->zone == NULL) {
		__atomic_add_fetch(&x->notauth, 1, __ATOMIC_RELAXED);
		send_error(m, RCODE_NOTAUTH); /* not our zone */
		return;
	}
	if (q->qtype == TYPE_IXFR && ixfr_serial(m->req, &from) != 0) {
		send_error(m, RCODE_FORMERR);
		return;
	}
	msg_start(m);
	/* Counted as IXFR only when incremental: a fallback to the whole
	 * zone is an AXFR in all but name. */
	incremental = q->qtype == TYPE_IXFR && put_ixfr(m, from);
	if (!incremental)
		put_zone(m);
	msg_flush(m);
	x->ixfr += (uint64_t)incremental;
	x->axfr += (uint64_t)!incremental;
	log_info("xfr: %s of %s to %s (serial %u, %zu records)%s%s",
		 q->qtype != TYPE_IXFR ? "AXFR" :
		 incremental ? "IXFR" : "IXFR (whole zone)", m->zone->origin,
		 who, dns_zone_serial(m->zone), m->total,
		 m->ts ? " signed with " : "",
		 m->ts ? m->ts->key->name_text : "");
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

void
xfr_answer(struct xfr *x, const struct dns_request *req,
	   struct tsig_state *ts, const struct sockaddr *peer,
	   struct evbuffer *out)
{
	struct xmsg m;
	char who[INET6_ADDRSTRLEN];

	memset(&m, 0, sizeof(m));
	m.req = req;
	m.ts = ts;
	m.out = out;
	m.b = x->buf;
	format_addr(peer, who, sizeof(who));
	if (acl_allows(&x->acl, peer, ts ? ts->key : NULL)) {
		transfer(x, &m, who);
		return;
	}
	log_refusal(x, req->q.qtype == TYPE_IXFR ? "IXFR" : "AXFR", who, peer,
		    ts);
	__atomic_add_fetch(&x->refused, 1, __ATOMIC_RELAXED);
	send_error(&m, RCODE_REFUSED);
}

enum udp_ixfr
xfr_udp_ixfr(struct xfr *x, const struct dns_request *req,
	     const struct tsig_state *ts, const struct sockaddr *peer,
	     const struct replica *rep)
{
	const struct dns_query *q = &req->q;
	char who[INET6_ADDRSTRLEN];
	int known;

	/* Workers count from their threads: the counters are atomic. */
	if (!acl_allows(&x->acl, peer, ts ? ts->key : NULL)) {
		format_addr(peer, who, sizeof(who));
		log_refusal(x, "IXFR over UDP", who, peer, ts);
		__atomic_add_fetch(&x->refused, 1, __ATOMIC_RELAXED);
		return UDP_IXFR_REFUSED;
	}
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
