/* xfr.c -- zone transfers, NOTIFY, access rules and TSIG. */
#include "xfr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dns_answer.h"
#include "dns_wire.h"
#include "dns_zone.h"

#define MAX_RULES CONFIG_LIST_MAX
#define MSG_TARGET 16000 /* bytes of records per transfer message */
#define TSIG_FUDGE 300
#define NOTIFY_DELAY_MS 200 /* coalesces bursts of changes */
#define NOTIFY_TRIES 6
/* TSIG error codes (RFC 8945 section 4.3). */
#define TSIG_BADSIG 16
#define TSIG_BADKEY 17
#define TSIG_BADTIME 18

struct tsig_key {
	char name[256];
	char algorithm[64]; /* as ldns names it, with the final dot */
	char secret[256];   /* base64 */
};

struct acl_rule {
	struct sockaddr_storage net;
	unsigned prefix;
	const struct tsig_key *key; /* NULL: no key needed */
};

/* One secondary's NOTIFY for one zone, retried until answered. */
struct notify {
	struct xfr *x;
	int fd; /* connected UDP socket: replies come only from the target */
	struct event *read_ev, *timer;
	char zone[DNS_NAME_MAX + 2];
	char target[256];
	const struct tsig_key *key;
	uint16_t id;
	unsigned tries;
	struct notify *next;
};

struct xfr {
	struct event_base *base;
	struct dns_view *view;
	struct tsig_key keys[MAX_RULES];
	size_t nkeys;
	struct acl_rule rules[MAX_RULES];
	size_t nrules;
	const struct config_list *targets;
	struct notify *notifies;
	uint64_t axfr, ixfr, refused, notauth, notify_sent, notify_acked;
};

/* ---- keys and rules ---- */

static const struct tsig_key *
find_key(const struct xfr *x, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < x->nkeys; i++) {
		size_t k = strlen(x->keys[i].name);

		/* Compare without a final dot on either side. */
		if (n > 0 && name[n - 1] == '.')
			n--;
		if (k > 0 && x->keys[i].name[k - 1] == '.')
			k--;
		if (n == k && strncasecmp(x->keys[i].name, name, n) == 0)
			return &x->keys[i];
	}
	return NULL;
}

static int
parse_key(struct tsig_key *k, const char *spec, char *err)
{
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : 0;
	static const char *algs[] = { "hmac-md5", "hmac-sha1", "hmac-sha224",
				      "hmac-sha256", "hmac-sha384",
				      "hmac-sha512" };
	char alg[32];
	size_t i;

	if (c1 == NULL || c2 == NULL || c1 == spec || c2[1] == '\0' ||
	    (size_t)(c1 - spec) >= sizeof(k->name) ||
	    (size_t)(c2 - c1 - 1) >= sizeof(alg) ||
	    strlen(c2 + 1) >= sizeof(k->secret))
		return fail(err, "--tsig-key: '%s' is not "
			    "NAME:ALGORITHM:BASE64SECRET", spec);
	snprintf(k->name, sizeof(k->name), "%.*s", (int)(c1 - spec), spec);
	snprintf(alg, sizeof(alg), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
	snprintf(k->secret, sizeof(k->secret), "%s", c2 + 1);
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcasecmp(alg, algs[i]) == 0) {
			snprintf(k->algorithm, sizeof(k->algorithm), "%s.%s",
				 algs[i], i == 0 ? "sig-alg.reg.int." : "");
			return 0;
		}
	return fail(err, "--tsig-key %s: unknown algorithm '%s' (use "
		    "hmac-sha256, hmac-sha512, hmac-sha1 or hmac-md5)",
		    k->name, alg);
}

static int
parse_rule(struct xfr *x, struct acl_rule *r, const char *spec, char *err)
{
	char addr[128];
	const char *at = strchr(spec, '@'), *slash;
	size_t n = at ? (size_t)(at - spec) : strlen(spec);
	unsigned max;
	uint64_t prefix;
	void *dst;

	if (n >= sizeof(addr))
		return fail(err, "--allow-transfer: '%s' is too long", spec);
	snprintf(addr, sizeof(addr), "%.*s", (int)n, spec);
	slash = strchr(addr, '/');
	memset(&r->net, 0, sizeof(r->net));
	if (slash != NULL)
		addr[slash - addr] = '\0';
	r->net.ss_family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	max = r->net.ss_family == AF_INET6 ? 128 : 32;
	dst = r->net.ss_family == AF_INET6 ?
		(void *)&((struct sockaddr_in6 *)&r->net)->sin6_addr :
		(void *)&((struct sockaddr_in *)&r->net)->sin_addr;
	if (inet_pton(r->net.ss_family, addr, dst) != 1 ||
	    (slash && parse_uint(slash + 1, 0, max, &prefix) != 0))
		return fail(err, "--allow-transfer: '%s' is not an address or "
			    "CIDR", spec);
	r->prefix = slash ? (unsigned)prefix : max;
	r->key = NULL;
	if (at != NULL && (r->key = find_key(x, at + 1)) == NULL)
		return fail(err, "--allow-transfer %s: no --tsig-key named "
			    "'%s'", spec, at + 1);
	return 0;
}

static int
addr_in(const struct sockaddr *sa, const struct acl_rule *r)
{
	const uint8_t *a, *b;
	unsigned bits = r->prefix, i;

	if (sa->sa_family != r->net.ss_family)
		return 0;
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		b = (const uint8_t *)&((const struct sockaddr_in *)&r->net)->sin_addr;
	} else {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		b = (const uint8_t *)&((const struct sockaddr_in6 *)&r->net)->sin6_addr;
	}
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a[i] != b[i])
			return 0;
	return bits == 0 || ((a[i] ^ b[i]) & (0xFF00 >> bits)) == 0;
}

/* A client may transfer when a rule covers its address and the rule's key,
 * if it names one, is the key the query was signed with. */
static int
allowed(const struct xfr *x, const struct sockaddr *peer,
	const struct tsig_key *used)
{
	size_t i;

	for (i = 0; i < x->nrules; i++)
		if (addr_in(peer, &x->rules[i]) &&
		    (x->rules[i].key == NULL || x->rules[i].key == used))
			return 1;
	return 0;
}

/* ---- answering AXFR and IXFR ---- */

static void
append_msg(struct evbuffer *out, const uint8_t *wire, size_t len)
{
	uint8_t l[2];

	dns_put16(l, (uint16_t)len);
	evbuffer_add(out, l, 2);
	evbuffer_add(out, wire, len);
}

static void
reply_rcode(struct evbuffer *out, const uint8_t *pkt, size_t len,
	    unsigned rcode)
{
	uint8_t buf[DNS_HEADER_SIZE + DNS_NAME_MAX + 4];
	struct dns_query q;

	dns_parse_query(pkt, len, &q);
	append_msg(out, buf, dns_write_reply_head(buf, pkt, &q, 0, rcode));
}

/* 0 with *key set (NULL when unsigned), or the TSIG error to answer with
 * (RFC 8945 section 5.2), or -1 when the TSIG record is malformed. */
static int
check_tsig(const struct xfr *x, ldns_pkt *p, const uint8_t *wire, size_t len,
	   const struct tsig_key **key)
{
	ldns_rr *t = ldns_pkt_tsig(p);
	const struct tsig_key *k;
	ldns_rdf *alg, *when;
	uint64_t signed_at = 0, fudge, now = (uint64_t)time(NULL);
	char *name;
	size_t i;
	int same_alg;

	*key = NULL;
	if (t == NULL)
		return 0;
	if (ldns_rr_rd_count(t) < 7 ||
	    ldns_rdf_size(ldns_rr_rdf(t, 1)) != 6 ||
	    ldns_rdf_size(ldns_rr_rdf(t, 2)) != 2)
		return -1;
	name = ldns_rdf2str(ldns_rr_owner(t));
	k = find_key(x, name);
	free(name);
	if (k == NULL)
		return TSIG_BADKEY;
	/* ldns computes the MAC with whatever algorithm the query names: a
	 * key is only good with its own algorithm. */
	alg = ldns_dname_new_frm_str(k->algorithm);
	same_alg = alg != NULL && ldns_dname_compare(alg, ldns_rr_rdf(t, 0)) == 0;
	ldns_rdf_deep_free(alg);
	if (!same_alg)
		return TSIG_BADKEY;
	if (!ldns_pkt_tsig_verify(p, wire, len, k->name, k->secret, NULL))
		return TSIG_BADSIG;
	/* ldns does not look at the time: without this check a recorded
	 * query could be replayed for the zone forever. */
	when = ldns_rr_rdf(t, 1);
	for (i = 0; i < 6; i++)
		signed_at = signed_at << 8 | ldns_rdf_data(when)[i];
	fudge = ldns_rdf2native_int16(ldns_rr_rdf(t, 2));
	if (signed_at > now + fudge || now > signed_at + fudge)
		return TSIG_BADTIME;
	*key = k;
	return 0;
}

/* The answer to a query whose TSIG failed (RFC 8945 section 5.3.2):
 * NOTAUTH, unsigned, with a TSIG that carries the error and no MAC, so
 * the client can tell BADKEY from BADSIG from BADTIME. BADTIME also says
 * what time it is here. */
static void
reply_tsig_error(struct evbuffer *out, const ldns_pkt *query, uint16_t error)
{
	const ldns_rr *qt = ldns_pkt_tsig(query);
	ldns_pkt *m = ldns_pkt_new();
	ldns_rr *t = ldns_rr_new();
	uint8_t empty[2] = { 0, 0 }, other[8] = { 0, 0 };
	uint64_t now = (uint64_t)time(NULL);
	uint8_t *wire = NULL;
	size_t len = 0, i;

	ldns_pkt_set_id(m, ldns_pkt_id(query));
	ldns_pkt_set_qr(m, true);
	ldns_pkt_set_rcode(m, LDNS_RCODE_NOTAUTH);
	ldns_pkt_push_rr(m, LDNS_SECTION_QUESTION,
			 ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(query),
						       0)));
	if (error == TSIG_BADTIME) {
		other[1] = 6;
		for (i = 0; i < 6; i++)
			other[2 + i] = (uint8_t)(now >> (40 - 8 * i));
	}
	ldns_rr_set_owner(t, ldns_rdf_clone(ldns_rr_owner(qt)));
	ldns_rr_set_type(t, LDNS_RR_TYPE_TSIG);
	ldns_rr_set_class(t, LDNS_RR_CLASS_ANY);
	ldns_rr_set_ttl(t, 0);
	ldns_rr_push_rdf(t, ldns_rdf_clone(ldns_rr_rdf(qt, 0))); /* algorithm */
	ldns_rr_push_rdf(t, ldns_rdf_clone(ldns_rr_rdf(qt, 1))); /* time */
	ldns_rr_push_rdf(t, ldns_rdf_clone(ldns_rr_rdf(qt, 2))); /* fudge */
	ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA,
						  sizeof(empty), empty));
	ldns_rr_push_rdf(t, ldns_rdf_clone(ldns_rr_rdf(qt, 4))); /* orig. id */
	ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, error));
	ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA,
						  2u + other[1], other));
	ldns_pkt_set_tsig(m, t);
	if (ldns_pkt2wire(&wire, m, &len) == LDNS_STATUS_OK)
		append_msg(out, wire, len);
	free(wire);
	ldns_pkt_free(m);
}

static ldns_pkt *
new_message(const ldns_pkt *query, unsigned rcode)
{
	ldns_pkt *m = ldns_pkt_new();

	ldns_pkt_set_id(m, ldns_pkt_id(query));
	ldns_pkt_set_qr(m, true);
	ldns_pkt_set_aa(m, rcode == RCODE_NOERROR);
	ldns_pkt_set_rcode(m, (uint8_t)rcode);
	ldns_pkt_push_rr(m, LDNS_SECTION_QUESTION,
			 ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(query),
						       0)));
	return m;
}

/* Sends rrs in as many messages as they need, each signed when the query
 * was: the first over the query's MAC, the rest over the previous MAC.
 * With no records and an rcode it is an error answer, signed all the
 * same: a client that signed expects a signed answer (RFC 8945 5.3). */
static void
send_records(struct evbuffer *out, const ldns_pkt *query,
	     const ldns_rr_list *rrs, const struct tsig_key *key,
	     unsigned rcode)
{
	size_t i = 0, total = ldns_rr_list_rr_count(rrs);
	ldns_rdf *mac = NULL;
	int first = 1;

	if (key != NULL)
		mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(query), 3));
	while (i < total || first) {
		ldns_pkt *m = new_message(query, rcode);
		size_t bytes = 0, len = 0;
		uint8_t *wire = NULL;

		for (; i < total; i++) {
			ldns_rr *rr = ldns_rr_list_rr(rrs, i);
			size_t n = ldns_rr_uncompressed_size(rr);

			if (bytes > 0 && bytes + n > MSG_TARGET)
				break;
			ldns_pkt_push_rr(m, LDNS_SECTION_ANSWER,
					 ldns_rr_clone(rr));
			bytes += n;
		}
		if (key != NULL) {
			ldns_pkt_tsig_sign_next(m, key->name, key->secret,
						TSIG_FUDGE, key->algorithm,
						mac, !first);
			ldns_rdf_deep_free(mac);
			mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(m), 3));
		}
		if (ldns_pkt2wire(&wire, m, &len) == LDNS_STATUS_OK)
			append_msg(out, wire, len);
		free(wire);
		ldns_pkt_free(m);
		first = 0;
	}
	ldns_rdf_deep_free(mac);
}

/* An error answer to a query that parsed: signed if the query was. */
static void
reply_error(struct evbuffer *out, const ldns_pkt *query,
	    const struct tsig_key *key, unsigned rcode)
{
	ldns_rr_list *none = ldns_rr_list_new();

	send_records(out, query, none, key, rcode);
	ldns_rr_list_free(none);
}

/* The serial of the client's SOA in an IXFR query's authority section. */
static int
ixfr_serial(const ldns_pkt *p, uint32_t *serial)
{
	ldns_rr_list *auth = ldns_pkt_authority(p);
	ldns_rr *soa;

	if (ldns_rr_list_rr_count(auth) != 1)
		return -1;
	soa = ldns_rr_list_rr(auth, 0);
	if (ldns_rr_get_type(soa) != LDNS_RR_TYPE_SOA ||
	    ldns_rr_rd_count(soa) < 3)
		return -1;
	*serial = ldns_rdf2native_int32(ldns_rr_rdf(soa, 2));
	return 0;
}

static void
transfer(struct xfr *x, const struct dns_query *q, ldns_pkt *p,
	 const struct tsig_key *key, struct evbuffer *out)
{
	const struct dns_zone *z = dns_view_find_zone(x->view, q->qname);
	ldns_rr_list *rrs = NULL;
	uint32_t from;
	int incremental = 0;

	if (z == NULL) {
		x->notauth++;
		reply_error(out, p, key, RCODE_NOTAUTH); /* not our zone */
		return;
	}
	if (q->qtype == TYPE_IXFR) {
		if (ixfr_serial(p, &from) != 0) {
			reply_error(out, p, key, RCODE_FORMERR);
			return;
		}
		rrs = dns_view_ixfr(x->view, z, from);
		/* Counted as IXFR only when incremental: a fallback to the
		 * whole zone is an AXFR in all but name. */
		incremental = rrs != NULL;
		x->ixfr += (uint64_t)incremental;
	}
	if (rrs == NULL) {
		/* An AXFR, or an IXFR from before the journal: the zone. */
		rrs = dns_view_axfr(x->view, z);
		x->axfr++;
	}
	log_info("xfr: %s of %s (serial %u, %zu records)%s%s",
		 q->qtype != TYPE_IXFR ? "AXFR" :
		 incremental ? "IXFR" : "IXFR (whole zone)", dns_zone_origin(z),
		 dns_zone_serial(z), ldns_rr_list_rr_count(rrs),
		 key ? " signed with " : "", key ? key->name : "");
	send_records(out, p, rrs, key, RCODE_NOERROR);
	ldns_rr_list_deep_free(rrs);
}

void
xfr_answer_tcp(void *arg, const uint8_t *pkt, size_t len,
	       const struct dns_query *q, const struct sockaddr *peer,
	       struct evbuffer *out)
{
	struct xfr *x = arg;
	const struct tsig_key *key;
	ldns_pkt *p = NULL;
	char who[INET6_ADDRSTRLEN];
	int rc;

	if (ldns_wire2pkt(&p, pkt, len) != LDNS_STATUS_OK) {
		reply_rcode(out, pkt, len, RCODE_FORMERR);
		return;
	}
	format_addr(peer, who, sizeof(who));
	rc = check_tsig(x, p, pkt, len, &key);
	if (rc != 0) {
		log_warn("xfr: refused %s: TSIG %s", who,
			 rc == TSIG_BADKEY ? "BADKEY (unknown key or algorithm)" :
			 rc == TSIG_BADSIG ? "BADSIG (wrong secret)" :
			 rc == TSIG_BADTIME ? "BADTIME (clock skew or replay)" :
			 "malformed");
		x->notauth++;
		if (rc < 0)
			reply_rcode(out, pkt, len, RCODE_FORMERR);
		else
			reply_tsig_error(out, p, (uint16_t)rc);
	} else if (!allowed(x, peer, key)) {
		log_warn("xfr: refused %s%s%s: no --allow-transfer rule fits",
			 who, key ? " with key " : "", key ? key->name : "");
		x->refused++;
		reply_error(out, p, key, RCODE_REFUSED);
	} else {
		transfer(x, q, p, key, out);
	}
	ldns_pkt_free(p);
}

/* ---- other signed queries ---- */

/* Copies the one message in buf (after its length prefix) to out. */
static size_t
take_message(struct evbuffer *buf, uint8_t *out, size_t cap)
{
	size_t n = evbuffer_get_length(buf);

	if (n < 2 || n - 2 > cap)
		return 0;
	evbuffer_drain(buf, 2);
	evbuffer_remove(buf, out, n - 2);
	return n - 2;
}

/* The plain answer to the query without its TSIG, signed. */
static size_t
answer_and_sign(const struct dns_answer_ctx *ctx, const uint8_t *pkt,
		const struct dns_query *q, const ldns_pkt *query,
		const struct tsig_key *key, uint8_t *out, size_t cap,
		int over_tcp)
{
	uint8_t plain[65535], *wire = NULL;
	size_t n, len = 0;
	ldns_pkt *a = NULL;

	/* The TSIG is last: cut it off and count one record less. */
	memcpy(plain, pkt, q->tsig_off);
	dns_put16(plain + 10, (uint16_t)(q->arcount - 1));
	n = dns_answer_query(ctx, plain, q->tsig_off, out, cap, over_tcp);
	if (n == 0 || ldns_wire2pkt(&a, out, n) != LDNS_STATUS_OK)
		return 0;
	if (ldns_pkt_tsig_sign(a, key->name, key->secret, TSIG_FUDGE,
			       key->algorithm,
			       ldns_rr_rdf(ldns_pkt_tsig(query), 3)) ==
		    LDNS_STATUS_OK &&
	    ldns_pkt2wire(&wire, a, &len) == LDNS_STATUS_OK && len <= cap)
		memcpy(out, wire, len);
	else
		len = 0;
	free(wire);
	ldns_pkt_free(a);
	return len;
}

size_t
xfr_answer_signed(void *arg, const struct dns_answer_ctx *ctx,
		  const uint8_t *pkt, size_t len, const struct dns_query *q,
		  uint8_t *out, size_t cap, int over_tcp)
{
	struct xfr *x = arg;
	const struct tsig_key *key;
	struct evbuffer *buf;
	ldns_pkt *p = NULL;
	size_t n = 0;
	int rc;

	if (ldns_wire2pkt(&p, pkt, len) != LDNS_STATUS_OK)
		return 0;
	rc = check_tsig(x, p, pkt, len, &key);
	if (rc == 0 && key != NULL) {
		n = answer_and_sign(ctx, pkt, q, p, key, out, cap, over_tcp);
	} else if (rc > 0) {
		x->notauth++;
		buf = evbuffer_new();
		reply_tsig_error(buf, p, (uint16_t)rc);
		n = take_message(buf, out, cap);
		evbuffer_free(buf);
	}
	ldns_pkt_free(p);
	return n;
}

/* ---- NOTIFY ---- */

static void
notify_arm(struct notify *n, uint64_t ms)
{
	struct timeval tv = timeval_from_ms(ms);

	evtimer_add(n->timer, &tv);
}

static void
on_notify_timer(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	ldns_pkt *p;
	ldns_rr *q;
	uint8_t *wire = NULL;
	size_t len = 0;

	(void)fd;
	(void)what;
	if (n->tries == NOTIFY_TRIES) {
		log_warn("notify: %s did not answer for %s after %u tries",
			 n->target, n->zone, n->tries);
		return;
	}
	p = ldns_pkt_new();
	ldns_pkt_set_random_id(p);
	ldns_pkt_set_opcode(p, LDNS_PACKET_NOTIFY);
	ldns_pkt_set_aa(p, true);
	q = ldns_rr_new();
	ldns_rr_set_owner(q, ldns_dname_new_frm_str(n->zone));
	ldns_rr_set_type(q, LDNS_RR_TYPE_SOA);
	ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
	ldns_rr_set_question(q, true);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	if (n->key != NULL)
		ldns_pkt_tsig_sign(p, n->key->name, n->key->secret, TSIG_FUDGE,
				   n->key->algorithm, NULL);
	n->id = ldns_pkt_id(p);
	if (ldns_pkt2wire(&wire, p, &len) == LDNS_STATUS_OK &&
	    send(n->fd, wire, len, 0) >= 0)
		n->x->notify_sent++;
	free(wire);
	ldns_pkt_free(p);
	n->tries++;
	notify_arm(n, 1000ull << (n->tries - 1)); /* 1, 2, 4, ... seconds */
}

static void
on_notify_reply(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	uint8_t buf[512];
	ssize_t r = recv(fd, buf, sizeof(buf), 0);

	(void)what;
	if (r < DNS_HEADER_SIZE || dns_get16(buf) != n->id ||
	    !(dns_get16(buf + 2) & FLAG_QR) ||
	    ((dns_get16(buf + 2) >> 11) & 0xF) != OPCODE_NOTIFY)
		return;
	if ((buf[3] & 0xF) != RCODE_NOERROR)
		log_warn("notify: %s answered rcode %d for %s", n->target,
			 buf[3] & 0xF, n->zone);
	evtimer_del(n->timer);
	n->tries = 0;
	n->x->notify_acked++;
}

static struct notify *
notify_new(struct xfr *x, const char *spec, const char *zone)
{
	struct notify *n = xcalloc(1, sizeof(*n));
	const char *at = strchr(spec, '@');
	struct sockaddr_storage ss;
	socklen_t sl;
	char addr[256];
	errbuf_t err;

	snprintf(addr, sizeof(addr), "%.*s",
		 (int)(at ? (size_t)(at - spec) : strlen(spec)), spec);
	snprintf(n->target, sizeof(n->target), "%s", spec);
	snprintf(n->zone, sizeof(n->zone), "%s", zone);
	n->x = x;
	n->key = at ? find_key(x, at + 1) : NULL;
	parse_sockaddr(addr, &ss, &sl, err); /* checked in xfr_new */
	n->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (n->fd >= 0 && connect(n->fd, (struct sockaddr *)&ss, sl) != 0)
		log_warn("notify: %s: %s", spec, strerror(errno));
	n->read_ev = event_new(x->base, n->fd, EV_READ | EV_PERSIST,
			       on_notify_reply, n);
	n->timer = evtimer_new(x->base, on_notify_timer, n);
	event_add(n->read_ev, NULL);
	n->next = x->notifies;
	x->notifies = n;
	return n;
}

void
xfr_zone_changed(const char *origin, void *arg)
{
	struct xfr *x = arg;
	size_t i;

	for (i = 0; i < x->targets->n; i++) {
		const char *spec = x->targets->items[i];
		struct notify *n = x->notifies;

		while (n != NULL && (strcmp(n->target, spec) != 0 ||
				     strcmp(n->zone, origin) != 0))
			n = n->next;
		if (n == NULL)
			n = notify_new(x, spec, origin);
		/* A burst of changes sends one NOTIFY, for the newest serial. */
		if (n->tries > 0 || !evtimer_pending(n->timer, NULL)) {
			n->tries = 0;
			evtimer_del(n->timer);
			notify_arm(n, NOTIFY_DELAY_MS);
		}
	}
}

/* ---- lifecycle ---- */

static int
check_targets(const struct xfr *x, const struct config_list *l, char *err)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *at = strchr(l->items[i], '@');
		struct sockaddr_storage ss;
		socklen_t sl;
		char addr[256];
		errbuf_t why;

		snprintf(addr, sizeof(addr), "%.*s",
			 (int)(at ? (size_t)(at - l->items[i])
				  : strlen(l->items[i])),
			 l->items[i]);
		if (parse_sockaddr(addr, &ss, &sl, why) != 0)
			return fail(err, "--notify: %s", why);
		if (at != NULL && find_key(x, at + 1) == NULL)
			return fail(err, "--notify %s: no --tsig-key named '%s'",
				    l->items[i], at + 1);
	}
	return 0;
}

int
xfr_new(struct xfr **out, struct event_base *base, const struct config *cfg,
	struct dns_view *view, char *err)
{
	struct xfr *x = xcalloc(1, sizeof(*x));
	size_t i;

	x->base = base;
	x->view = view;
	x->targets = &cfg->notify;
	for (i = 0; i < cfg->tsig_keys.n; i++)
		if (parse_key(&x->keys[x->nkeys++], cfg->tsig_keys.items[i],
			      err) != 0)
			goto fail;
	for (i = 0; i < cfg->allow_transfer.n; i++)
		if (parse_rule(x, &x->rules[x->nrules++],
			       cfg->allow_transfer.items[i], err) != 0)
			goto fail;
	if (check_targets(x, &cfg->notify, err) != 0)
		goto fail;
	dns_view_on_change(view, xfr_zone_changed, x);
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
		(unsigned long long)x->refused, (unsigned long long)x->notauth,
		(unsigned long long)x->notify_sent,
		(unsigned long long)x->notify_acked);
}

void
xfr_free(struct xfr *x)
{
	struct notify *n, *next;

	if (x == NULL)
		return;
	for (n = x->notifies; n != NULL; n = next) {
		next = n->next;
		event_free(n->read_ev);
		event_free(n->timer);
		if (n->fd >= 0)
			close(n->fd);
		free(n);
	}
	free(x);
}
