/* test_dns_answer.c -- whole queries against a real view: a registry fed
 * committed changes through its store sink, a static zone in a temporary
 * --zones-dir, and the answers dns_answer_query writes, read back section
 * by section. */

/* util.h (through registry.h) declares fail(), a cmocka macro: first. */
#include "answer.h"
#include "dns.h"
#include "registry.h"
#include "replica.h"
#include "store.h"
#include "view.h"
#include "wire.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZONE "discovery.internal"
#define TOKEN "abc123"
#define SRV_SSL "_etcd-server-ssl._tcp." TOKEN "." ZONE
#define STATIC_ZONE "static.test.zone"
#define MAX_RECS 160

static const char static_zone[] =
	"$ORIGIN static.test.\n"
	"$TTL 20\n"
	"@      SOA ns1.static.test. hostmaster.static.test. 7 3600 600 "
	"86400 300\n"
	"@      NS  ns1.static.test.\n"
	"ns1    A   192.0.2.1\n"
	"www    A   192.0.2.80\n"
	"sub    NS  ns.sub.static.test.\n"
	"ns.sub A   192.0.2.7\n"
	"alias  CNAME www\n";

/* ---- the fixture: registry, event base and view ---- */

struct fx {
	struct registry reg;
	struct store_sink sink;
	uint64_t index; /* the store's, as it commits */
	struct dns_view_config cfg;
	struct dns_view *view;
	struct dns_stats stats;
	struct dns_answer_ctx ctx;
	struct token *tok;
	char dir[64];
	uint8_t out[65535];
};

static void
write_file(const struct fx *f, const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Commits one change as the store would: an index, then the end of the
 * commit, when the view publishes. */
static void
commit(struct fx *f, struct change *c)
{
	c->index = ++f->index;
	f->sink.apply(f->sink.arg, c);
	f->sink.batch_end(f->sink.arg, f->index);
}

static struct token *
make_token(struct fx *f, const char *name, unsigned size)
{
	struct change c = { .kind = CHANGE_TOKEN_PUT, .size = size,
			    .created_at = 1000 };
	struct token *tok;

	snprintf(c.token, sizeof(c.token), "%s", name);
	commit(f, &c);
	tok = registry_find_token(&f->reg, name);
	assert_non_null(tok);
	return tok;
}

static void
set_size(struct fx *f, struct token *tok, unsigned size)
{
	struct change c = { .kind = CHANGE_TOKEN_PUT, .size = size };

	snprintf(c.token, sizeof(c.token), "%s", tok->name);
	commit(f, &c);
}

static void
delete_token(struct fx *f, const char *name)
{
	struct change c = { .kind = CHANGE_TOKEN_DEL };

	snprintf(c.token, sizeof(c.token), "%s", name);
	commit(f, &c);
}

static void
put_member_clients(struct fx *f, struct token *tok, const char *id,
		   const char *value, const char *clients)
{
	struct change c = { .kind = CHANGE_MEMBER_PUT, .action = ACTION_SET };

	snprintf(c.token, sizeof(c.token), "%s", tok->name);
	snprintf(c.name, sizeof(c.name), "%s", id);
	c.value = (char *)value;
	c.clients = (char *)clients;
	commit(f, &c);
}

static void
put_member(struct fx *f, struct token *tok, const char *id,
	   const char *value)
{
	put_member_clients(f, tok, id, value, NULL);
}

static void
delete_member(struct fx *f, struct token *tok, const char *id)
{
	struct change c = { .kind = CHANGE_MEMBER_DEL };

	snprintf(c.token, sizeof(c.token), "%s", tok->name);
	snprintf(c.name, sizeof(c.name), "%s", id);
	commit(f, &c);
}

static void
set_alias(struct fx *f, const char *name, const char *token)
{
	struct change c = { .kind = CHANGE_ALIAS_PUT };

	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", name);
	commit(f, &c);
}

static void
delete_alias(struct fx *f, const char *name)
{
	struct change c = { .kind = CHANGE_ALIAS_DEL };

	snprintf(c.name, sizeof(c.name), "%s", name);
	commit(f, &c);
}

static void
new_view(struct fx *f)
{
	char err[256] = "";

	f->view = dns_view_new(&f->cfg, &f->reg, err);
	if (f->view == NULL)
		fail_msg("dns_view_new: %s", err);
	f->ctx.view = f->view;
}

static void
fx_config(struct fx *f)
{
	f->cfg.zone = ZONE;
	f->cfg.zones_dir = f->dir;
	f->cfg.ns_name = "ns1." ZONE ".";
	f->cfg.ns_address = "192.0.2.53";
	f->cfg.soa_email = "hostmaster." ZONE ".";
	f->cfg.ttl = 60;
	f->cfg.neg_ttl = 30;
	f->cfg.journal_max = 16;
	f->cfg.max_published = 64;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/srvgate-dns-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	write_file(f, STATIC_ZONE, static_zone);
	registry_init(&f->reg, 1000);
	f->sink = registry_sink(&f->reg);
	f->tok = make_token(f, TOKEN, 3);
	put_member(f, f->tok, "m1", "m1=https://10.0.0.1:2380");
	put_member(f, f->tok, "m2", "m2=https://10.0.0.2:2380");
	fx_config(f);
	new_view(f);
	f->ctx.edns_buffer = 1232;
	f->ctx.stats = &f->stats;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char path[256];

	dns_view_free(f->view);
	registry_free(&f->reg);
	snprintf(path, sizeof(path), "%s/%s", f->dir, STATIC_ZONE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s.zone", f->dir, ZONE);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- queries ---- */

struct query {
	uint8_t b[512];
	size_t n;
	uint16_t flags;	 /* header flags and opcode */
	uint16_t qdcount;
	uint16_t qclass;
	int edns;	 /* add an OPT */
	uint16_t udp;
	uint8_t version;
	int do_bit;
};

static void
put8(struct query *q, unsigned v)
{
	assert_true(q->n < sizeof(q->b));
	q->b[q->n++] = (uint8_t)v;
}

static void
put16(struct query *q, unsigned v)
{
	put8(q, v >> 8);
	put8(q, v & 0xFF);
}

/* "a.b.c" in wire form; returns its length. */
static size_t
wire_name(const char *text, uint8_t *out)
{
	size_t n = 0;

	while (*text != '\0') {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);

		out[n++] = (uint8_t)l;
		memcpy(out + n, text, l);
		n += l;
		text += l + (dot != NULL);
	}
	out[n++] = 0;
	return n;
}

static void
query_init(struct query *q)
{
	memset(q, 0, sizeof(*q));
	q->flags = FLAG_RD;
	q->qdcount = 1;
	q->qclass = CLASS_IN;
}

static void
query_build(struct query *q, const char *name, uint16_t type)
{
	q->n = 0;
	put16(q, 0x5A5A);
	put16(q, q->flags);
	put16(q, q->qdcount);
	put16(q, 0);
	put16(q, 0);
	put16(q, q->edns ? 1 : 0);
	q->n += wire_name(name, q->b + q->n);
	put16(q, type);
	put16(q, q->qclass);
	if (!q->edns)
		return;
	put8(q, 0);
	put16(q, TYPE_OPT);
	put16(q, q->udp);
	put8(q, 0);
	put8(q, q->version);
	put16(q, q->do_bit ? 0x8000 : 0);
	put16(q, 0);
}

static size_t
ask_with(struct fx *f, struct query *q, const char *name, uint16_t type,
	 int over_tcp)
{
	size_t cap = over_tcp ? sizeof(f->out) : 4096;

	query_build(q, name, type);
	memset(f->out, 0xEE, sizeof(f->out));
	return dns_answer_query(&f->ctx, q->b, q->n, f->out, cap, over_tcp);
}

/* A plain UDP query without EDNS. */
static size_t
ask(struct fx *f, const char *name, uint16_t type)
{
	struct query q;

	query_init(&q);
	return ask_with(f, &q, name, type, 0);
}

static size_t
ask_tcp(struct fx *f, const char *name, uint16_t type)
{
	struct query q;

	query_init(&q);
	return ask_with(f, &q, name, type, 1);
}

/* ---- reading responses ---- */

struct rec {
	uint16_t type, cls;
	uint32_t ttl;
	size_t owner, rdata;
	uint16_t rdlen;
};

struct resp {
	const uint8_t *m;
	size_t len;
	uint16_t id, flags, qd, an, ns, ar;
	size_t nrec;
	struct rec rec[MAX_RECS];
};

static size_t
read_rec(const struct resp *r, size_t o, struct rec *rec)
{
	rec->owner = o;
	assert_int_equal(dns_skip_name(r->m, r->len, &o), 0);
	assert_true(o + 10 <= r->len);
	rec->type = dns_get16(r->m + o);
	rec->cls = dns_get16(r->m + o + 2);
	rec->ttl = ((uint32_t)dns_get16(r->m + o + 4) << 16) |
		   dns_get16(r->m + o + 6);
	rec->rdlen = dns_get16(r->m + o + 8);
	rec->rdata = o + 10;
	assert_true(rec->rdata + rec->rdlen <= r->len);
	return rec->rdata + rec->rdlen;
}

/* Splits a response into records; fails unless it is well formed and
 * nothing follows its last record. */
static void
read_resp(const uint8_t *m, size_t len, struct resp *r)
{
	size_t o = DNS_HEADER_SIZE, i;

	assert_true(len >= DNS_HEADER_SIZE);
	memset(r, 0, sizeof(*r));
	r->m = m;
	r->len = len;
	r->id = dns_get16(m);
	r->flags = dns_get16(m + 2);
	r->qd = dns_get16(m + 4);
	r->an = dns_get16(m + 6);
	r->ns = dns_get16(m + 8);
	r->ar = dns_get16(m + 10);
	for (i = 0; i < r->qd; i++) {
		assert_int_equal(dns_skip_name(m, len, &o), 0);
		o += 4;
	}
	r->nrec = (size_t)r->an + r->ns + r->ar;
	assert_true(r->nrec <= MAX_RECS);
	for (i = 0; i < r->nrec; i++)
		o = read_rec(r, o, &r->rec[i]);
	assert_int_equal(o, len);
}

/* The name at off with pointers followed, lower-cased, into out. */
static size_t
expand_name(const struct resp *r, size_t off, uint8_t *out)
{
	size_t n = 0;
	int hops = 0;

	for (;;) {
		uint8_t l;

		assert_true(off < r->len);
		l = r->m[off];
		if ((l & 0xC0) == 0xC0) {
			assert_true(++hops < 64 && off + 1 < r->len);
			off = ((size_t)(l & 0x3F) << 8) | r->m[off + 1];
			continue;
		}
		assert_true(n + 1u + l <= DNS_NAME_MAX);
		memcpy(out + n, r->m + off, 1u + l);
		n += 1u + l;
		off += 1u + l;
		if (l == 0)
			break;
	}
	dns_name_lower(out, n);
	return n;
}

static void
assert_name_at(const struct resp *r, size_t off, const char *text)
{
	uint8_t want[DNS_NAME_MAX + 1], got[DNS_NAME_MAX];
	size_t wl = wire_name(text, want), gl = expand_name(r, off, got);

	assert_int_equal(gl, wl);
	assert_memory_equal(got, want, wl);
}

static unsigned
rcode_of(const struct resp *r)
{
	return r->flags & 0xF;
}

/* The OPT record of a response: it must be the last one. */
static const struct rec *
opt_of(const struct resp *r)
{
	const struct rec *opt;

	assert_true(r->nrec > 0);
	opt = &r->rec[r->nrec - 1];
	assert_int_equal(opt->type, TYPE_OPT);
	assert_int_equal(r->m[opt->owner], 0);
	return opt;
}

/* The SOA serial of a record (MNAME and RNAME come first). */
static uint32_t
soa_serial(const struct resp *r, const struct rec *soa)
{
	size_t o = soa->rdata;

	assert_int_equal(soa->type, TYPE_SOA);
	assert_int_equal(dns_skip_name(r->m, r->len, &o), 0);
	assert_int_equal(dns_skip_name(r->m, r->len, &o), 0);
	return ((uint32_t)dns_get16(r->m + o) << 16) | dns_get16(r->m + o + 2);
}

static uint32_t
soa_minimum(const struct resp *r, const struct rec *soa)
{
	size_t o = soa->rdata + soa->rdlen - 4;

	return ((uint32_t)dns_get16(r->m + o) << 16) | dns_get16(r->m + o + 2);
}

/* Asks for the zone's SOA and returns its serial. */
static uint32_t
zone_serial(struct fx *f, const char *zone)
{
	struct resp r;
	size_t len = ask(f, zone, TYPE_SOA);

	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	return soa_serial(&r, &r.rec[0]);
}

/* A negative answer: rcode, AA, no answers, the zone's SOA alone in
 * authority with the TTL RFC 2308 asks for. */
static void
assert_negative(struct fx *f, size_t len, unsigned rcode, uint32_t ttl)
{
	struct resp r;

	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), rcode);
	assert_true(r.flags & FLAG_AA);
	assert_int_equal(r.qd, 1);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);
	assert_int_equal(r.ar, 0);
	assert_int_equal(r.rec[0].type, TYPE_SOA);
	assert_int_equal(r.rec[0].ttl, ttl);
}

/* ---- positive answers ---- */

static void
assert_srv_target(const struct resp *r, const struct rec *srv,
		  const char *target)
{
	uint8_t want[DNS_NAME_MAX + 1];
	size_t wl = wire_name(target, want);

	assert_int_equal(srv->type, TYPE_SRV);
	assert_int_equal(dns_get16(r->m + srv->rdata), 0); /* priority */
	assert_int_equal(dns_get16(r->m + srv->rdata + 2), 0); /* weight */
	assert_int_equal(dns_get16(r->m + srv->rdata + 4), 2380);
	/* RFC 2782: the target is never compressed. */
	assert_int_equal(srv->rdlen, 6 + wl);
	assert_memory_equal(r->m + srv->rdata + 6, want, wl);
}

static void
test_srv_answer(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	query_init(&q);
	len = ask_with(f, &q, "_ETCD-Server-SSL._tcp.ABC123.Discovery.Internal",
		       TYPE_SRV, 0);
	read_resp(f->out, len, &r);
	assert_int_equal(r.id, 0x5A5A);
	assert_true(r.flags & FLAG_QR);
	assert_true(r.flags & FLAG_AA);
	assert_true(r.flags & FLAG_RD);
	assert_false(r.flags & (FLAG_RA | FLAG_TC));
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	/* The client's question, in its own letter case. */
	assert_int_equal(r.qd, 1);
	assert_memory_equal(f->out + DNS_HEADER_SIZE, q.b + DNS_HEADER_SIZE,
			    q.n - DNS_HEADER_SIZE);
	assert_int_equal(r.an, 2);
	assert_int_equal(r.ns, 0);
	assert_int_equal(r.ar, 2);
	assert_int_equal(r.rec[0].ttl, 60);
	assert_srv_target(&r, &r.rec[0], "m1." TOKEN "." ZONE);
	assert_srv_target(&r, &r.rec[1], "m2." TOKEN "." ZONE);
}

static void
test_srv_additional(void **state)
{
	struct fx *f = *state;
	struct resp r;
	size_t len = ask(f, SRV_SSL, TYPE_SRV);

	read_resp(f->out, len, &r);
	assert_int_equal(r.ar, 2);
	assert_int_equal(r.rec[2].type, TYPE_A);
	assert_int_equal(r.rec[2].rdlen, 4);
	assert_name_at(&r, r.rec[2].owner, "m1." TOKEN "." ZONE);
	assert_memory_equal(f->out + r.rec[2].rdata, "\x0A\x00\x00\x01", 4);
	assert_name_at(&r, r.rec[3].owner, "m2." TOKEN "." ZONE);
	assert_memory_equal(f->out + r.rec[3].rdata, "\x0A\x00\x00\x02", 4);
}

/* No RD in the query, none in the answer. */
static void
test_rd_not_invented(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	query_init(&q);
	q.flags = FLAG_CD;
	len = ask_with(f, &q, SRV_SSL, TYPE_SRV, 0);
	read_resp(f->out, len, &r);
	assert_false(r.flags & (FLAG_RD | FLAG_RA));
	assert_true(r.flags & FLAG_CD);
	assert_true(r.flags & FLAG_AA);
}

static void
test_a_record(void **state)
{
	struct fx *f = *state;
	struct resp r;
	size_t len = ask(f, "M2." TOKEN "." ZONE, TYPE_A);

	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rec[0].type, TYPE_A);
	assert_memory_equal(f->out + r.rec[0].rdata, "\x0A\x00\x00\x02", 4);
}

/* EDNS: our OPT goes last, with our buffer size and the client's DO. */
static void
test_edns_answer(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	const struct rec *opt;
	size_t len;

	query_init(&q);
	q.edns = 1;
	q.udp = 4096;
	q.do_bit = 1;
	len = ask_with(f, &q, SRV_SSL, TYPE_SRV, 0);
	read_resp(f->out, len, &r);
	assert_int_equal(r.an, 2);
	assert_int_equal(r.ar, 3);
	opt = opt_of(&r);
	assert_int_equal(opt->cls, 1232);
	assert_int_equal(opt->ttl, 0x8000); /* rcode 0, version 0, DO */
}

/* ---- negative answers ---- */

static void
test_nxdomain(void **state)
{
	struct fx *f = *state;
	struct resp r;
	size_t len = ask(f, "nope." TOKEN "." ZONE, TYPE_SRV);

	/* The SOA's TTL is 60 and its minimum 30: 30. */
	assert_negative(f, len, RCODE_NXDOMAIN, 30);
	read_resp(f->out, len, &r);
	assert_name_at(&r, r.rec[0].owner, ZONE);
	assert_int_equal(soa_minimum(&r, &r.rec[0]), 30);
	assert_int_equal(f->stats.rcodes[RCODE_NXDOMAIN], 1);
}

/* A SOA TTL below the minimum: the TTL. */
static void
test_nxdomain_static_ttl(void **state)
{
	struct fx *f = *state;
	struct resp r;
	size_t len = ask(f, "nope.static.test", TYPE_A);

	assert_negative(f, len, RCODE_NXDOMAIN, 20);
	read_resp(f->out, len, &r);
	assert_int_equal(soa_minimum(&r, &r.rec[0]), 300);
	assert_int_equal(soa_serial(&r, &r.rec[0]), 7);
}

static void
test_nodata_empty_non_terminal(void **state)
{
	struct fx *f = *state;

	assert_negative(f, ask(f, "_tcp." TOKEN "." ZONE, TYPE_SRV),
			RCODE_NOERROR, 30);
	assert_negative(f, ask(f, TOKEN "." ZONE, TYPE_A), RCODE_NOERROR, 30);
}

static void
test_nodata_missing_type(void **state)
{
	struct fx *f = *state;

	assert_negative(f, ask(f, SRV_SSL, TYPE_AAAA), RCODE_NOERROR, 30);
	assert_negative(f, ask(f, "m1." TOKEN "." ZONE, TYPE_SRV),
			RCODE_NOERROR, 30);
	/* http peers would be under _etcd-server: there are none. */
	assert_negative(f, ask(f, "_etcd-server._tcp." TOKEN "." ZONE,
			       TYPE_SRV), RCODE_NXDOMAIN, 30);
}

/* With EDNS the negative answer ends with OPT. */
static void
test_nxdomain_edns(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	query_init(&q);
	q.edns = 1;
	q.udp = 1232;
	len = ask_with(f, &q, "nope." ZONE, TYPE_A, 0);
	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), RCODE_NXDOMAIN);
	assert_int_equal(r.ns, 1);
	assert_int_equal(r.ar, 1);
	assert_int_equal(opt_of(&r)->ttl, 0);
}

/* ---- errors ---- */

/* An error answer: header and echoed question only (plus OPT). */
static void
assert_error(struct fx *f, size_t len, unsigned rcode, uint16_t qd)
{
	struct resp r;

	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), rcode);
	assert_true(r.flags & FLAG_QR);
	assert_false(r.flags & (FLAG_AA | FLAG_RA | FLAG_TC));
	assert_int_equal(r.qd, qd);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 0);
}

static void
test_refused_outside(void **state)
{
	struct fx *f = *state;
	struct query q;
	size_t len;

	query_init(&q);
	len = ask_with(f, &q, "www.Example.com", TYPE_A, 0);
	assert_error(f, len, RCODE_REFUSED, 1);
	assert_int_equal(len, q.n);
	assert_memory_equal(f->out + DNS_HEADER_SIZE, q.b + DNS_HEADER_SIZE,
			    q.n - DNS_HEADER_SIZE);
	/* A name that only ends like the zone is outside it too. */
	assert_error(f, ask(f, "xdiscovery.internal", TYPE_A), RCODE_REFUSED,
		     1);
	assert_int_equal(f->stats.rcodes[RCODE_REFUSED], 2);
}

static void
test_refused_class_and_axfr(void **state)
{
	struct fx *f = *state;
	struct query q;

	query_init(&q);
	q.qclass = 3; /* CH */
	assert_error(f, ask_with(f, &q, SRV_SSL, TYPE_SRV, 0), RCODE_REFUSED,
		     1);
	/* Transfers are not answered here, not even over TCP. */
	assert_error(f, ask(f, ZONE, TYPE_AXFR), RCODE_REFUSED, 1);
	assert_error(f, ask(f, ZONE, TYPE_IXFR), RCODE_REFUSED, 1);
}

static void
test_badvers(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	const struct rec *opt;
	size_t len;

	query_init(&q);
	q.edns = 1;
	q.udp = 4096;
	q.version = 1;
	len = ask_with(f, &q, SRV_SSL, TYPE_SRV, 0);
	assert_error(f, len, RCODE_BADVERS & 0xF, 1);
	read_resp(f->out, len, &r);
	assert_int_equal(r.ar, 1);
	opt = opt_of(&r);
	/* BADVERS is 16: the upper bits in the OPT, version 0 (ours). */
	assert_int_equal(opt->ttl >> 24, RCODE_BADVERS >> 4);
	assert_int_equal((opt->ttl >> 16) & 0xFF, 0);
	assert_int_equal(f->stats.rcodes[RCODE_BADVERS], 1);
}

static void
test_notimp(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	query_init(&q);
	q.flags = 2u << 11; /* STATUS */
	len = ask_with(f, &q, SRV_SSL, TYPE_SRV, 0);
	assert_error(f, len, RCODE_NOTIMP, 1);
	read_resp(f->out, len, &r);
	assert_int_equal((r.flags >> 11) & 0xF, 2);
}

static void
test_formerr_no_question(void **state)
{
	struct fx *f = *state;
	struct query q;
	size_t len;

	query_init(&q);
	q.qdcount = 0;
	q.edns = 0;
	query_build(&q, SRV_SSL, TYPE_SRV);
	q.n = DNS_HEADER_SIZE; /* the header alone */
	len = dns_answer_query(&f->ctx, q.b, q.n, f->out, 512, 0);
	assert_int_equal(len, DNS_HEADER_SIZE);
	assert_error(f, len, RCODE_FORMERR, 0);
	assert_int_equal(dns_get16(f->out), 0x5A5A);
	/* qdcount 0 with a question after it is no better. */
	assert_error(f, ask_with(f, &q, SRV_SSL, TYPE_SRV, 0), RCODE_FORMERR,
		     0);
}

static void
test_response_not_answered(void **state)
{
	struct fx *f = *state;
	struct query q;

	query_init(&q);
	q.flags = FLAG_QR | FLAG_AA;
	assert_int_equal(ask_with(f, &q, SRV_SSL, TYPE_SRV, 0), 0);
	assert_int_equal(f->stats.dropped, 1);
	/* Too short to be anything. */
	assert_int_equal(dns_answer_query(&f->ctx, q.b, 11, f->out, 512, 0), 0);
	assert_int_equal(f->stats.dropped, 2);
	assert_int_equal(f->stats.queries, 2);
}

/* ---- TSIG ---- */

/* A query for name with a (fake) TSIG as its last record. */
static void
tsig_query(struct query *q, const char *name)
{
	query_init(q);
	query_build(q, name, TYPE_SRV);
	dns_put16(q->b + 10, 1);
	q->n += wire_name("key", q->b + q->n);
	put16(q, TYPE_TSIG);
	put16(q, CLASS_ANY);
	put16(q, 0);
	put16(q, 0);
	put16(q, 2);
	put16(q, 0);
}

/* The answer pipeline leaves TSIG to the server (test_tsig.c): it answers
 * the question and leaves the TSIG record out of the answer. */
static void
test_tsig_left_to_server(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	tsig_query(&q, SRV_SSL);
	len = dns_answer_query(&f->ctx, q.b, q.n, f->out, 4096, 0);
	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_int_equal(r.an, 2);
	assert_int_equal(r.ar, 2);
}

/* Room kept for a TSIG the server appends: the limit shrinks by it. */
static void
test_reserve_for_tsig(void **state)
{
	struct fx *f = *state;
	struct dns_request req;
	struct query q;
	size_t full;

	query_init(&q);
	query_build(&q, SRV_SSL, TYPE_SRV);
	memset(&req, 0, sizeof(req));
	req.pkt = q.b;
	req.len = q.n;
	req.parsed = dns_parse_query(q.b, q.n, &req.q);
	full = dns_answer(&f->ctx, &req, f->out, 4096);
	assert_false(dns_get16(f->out + 2) & FLAG_TC);
	req.reserve = 512 - full + 1;
	assert_true(dns_answer(&f->ctx, &req, f->out, 4096) < full);
	assert_int_equal(dns_get16(f->out + 10), 0); /* additional went */
}

/* ---- sizes ---- */

/* A token of n members with IP peers, applied to the view. */
static void
big_token(struct fx *f, const char *name, unsigned n)
{
	struct token *tok = make_token(f, name, n);
	char id[16], value[64];
	unsigned i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "m%u", i);
		snprintf(value, sizeof(value), "m%u=https://10.1.%u.%u:2380", i,
			 i / 200, i % 200 + 1);
		put_member(f, tok, id, value);
	}
}

#define BIG_SRV "_etcd-server-ssl._tcp.big." ZONE

static void
test_large_udp_no_edns(void **state)
{
	struct fx *f = *state;
	struct resp r;
	size_t len;

	big_token(f, "big", 60);
	len = ask(f, BIG_SRV, TYPE_SRV);
	assert_true(len <= 512);
	read_resp(f->out, len, &r);
	assert_true(r.flags & FLAG_TC);
	assert_true(r.flags & FLAG_AA);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_int_equal(r.qd, 1);
	assert_int_equal(r.an, 0);
	assert_int_equal(f->stats.truncated, 1);
}

static void
test_large_edns_our_buffer(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	big_token(f, "big", 60);
	query_init(&q);
	q.edns = 1;
	q.udp = 4096;
	len = ask_with(f, &q, BIG_SRV, TYPE_SRV, 0);
	assert_true(len <= 1232);
	read_resp(f->out, len, &r);
	assert_true(r.flags & FLAG_TC);
	assert_int_equal(r.an, 0);
	assert_int_equal(opt_of(&r)->cls, 1232);
}

/* A client buffer below ours is the limit; below 512 counts as 512. */
static void
test_large_edns_client_buffer(void **state)
{
	struct fx *f = *state;
	struct query q;
	size_t len;

	big_token(f, "big", 60);
	query_init(&q);
	q.edns = 1;
	q.udp = 700;
	len = ask_with(f, &q, BIG_SRV, TYPE_SRV, 0);
	assert_true(len <= 700);
	assert_true(dns_get16(f->out + 2) & FLAG_TC);
	q.udp = 100;
	len = ask_with(f, &q, BIG_SRV, TYPE_SRV, 0);
	assert_true(len <= 512);
	assert_true(dns_get16(f->out + 2) & FLAG_TC);
}

static void
test_large_tcp(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	big_token(f, "big", 60);
	query_init(&q);
	len = ask_with(f, &q, BIG_SRV, TYPE_SRV, 1);
	assert_true(len > 1232);
	read_resp(f->out, len, &r);
	assert_false(r.flags & FLAG_TC);
	assert_int_equal(r.an, 60);
	assert_int_equal(r.ar, 60);
	assert_int_equal(r.rec[60].type, TYPE_A);
	assert_srv_target(&r, &r.rec[0], "m0.big." ZONE);
}

/* Additional records go before the answer is truncated. */
static void
test_additional_dropped(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t full, len;

	big_token(f, "mid", 8);
	query_init(&q);
	full = ask_with(f, &q, "_etcd-server-ssl._tcp.mid." ZONE, TYPE_SRV, 1);
	read_resp(f->out, full, &r);
	assert_int_equal(r.ar, 8);
	assert_true(full > 512);
	len = ask(f, "_etcd-server-ssl._tcp.mid." ZONE, TYPE_SRV);
	assert_true(len <= 512);
	read_resp(f->out, len, &r);
	assert_false(r.flags & FLAG_TC);
	assert_int_equal(r.an, 8);
	assert_int_equal(r.ar, 0);
}

/* ---- registry changes ---- */

/* The serial of the SOA in the negative answer for name. */
static uint32_t
negative_serial(struct fx *f, const char *name)
{
	struct resp r;
	size_t len = ask(f, name, TYPE_A);

	read_resp(f->out, len, &r);
	assert_int_equal(r.ns, 1);
	return soa_serial(&r, &r.rec[0]);
}

static void
test_serial_follows_registry(void **state)
{
	struct fx *f = *state;
	uint32_t before = zone_serial(f, ZONE), after;

	assert_int_equal(before, 1 + f->reg.index);
	/* Applied but the commit not ended: nothing is published yet. */
	{
		struct change c = { .kind = CHANGE_MEMBER_PUT,
				    .action = ACTION_SET, .token = TOKEN,
				    .name = "m3",
				    .value = "m3=https://10.0.0.3:2380" };
		c.index = ++f->index;
		f->sink.apply(f->sink.arg, &c);
		assert_int_equal(zone_serial(f, ZONE), before);
		assert_negative(f, ask(f, "m3." TOKEN "." ZONE, TYPE_A),
				RCODE_NXDOMAIN, 30);
		f->sink.batch_end(f->sink.arg, f->index);
	}
	after = zone_serial(f, ZONE);
	assert_true(after > before);
	assert_int_equal(after, 1 + f->reg.index);
	assert_int_equal(dns_view_serial(f->view, NULL), after);
	/* The negative answers carry the new SOA too. */
	assert_int_equal(negative_serial(f, "nope." ZONE), after);
}

static void
test_new_member_published(void **state)
{
	struct fx *f = *state;
	struct resp r;
	size_t len;

	put_member(f, f->tok, "m3", "m3=https://10.0.0.3:2380");
	len = ask(f, SRV_SSL, TYPE_SRV);
	read_resp(f->out, len, &r);
	assert_int_equal(r.an, 3);
	assert_int_equal(r.ar, 3);
	len = ask(f, "m3." TOKEN "." ZONE, TYPE_A);
	read_resp(f->out, len, &r);
	assert_int_equal(r.an, 1);
}

static void
test_only_first_size_published(void **state)
{
	struct fx *f = *state;
	uint32_t serial;
	struct resp r;

	put_member(f, f->tok, "m3", "m3=https://10.0.0.3:2380");
	serial = zone_serial(f, ZONE);
	/* A fourth member in a cluster of 3 is a proxy: not in DNS. */
	put_member(f, f->tok, "m4", "m4=https://10.0.0.4:2380");
	read_resp(f->out, ask(f, SRV_SSL, TYPE_SRV), &r);
	assert_int_equal(r.an, 3);
	assert_negative(f, ask(f, "m4." TOKEN "." ZONE, TYPE_A),
			RCODE_NXDOMAIN, 30);
	assert_int_equal(zone_serial(f, ZONE), serial);
	/* When a published member goes, the fourth moves up. */
	delete_member(f, f->tok, "m1");
	read_resp(f->out, ask(f, "m4." TOKEN "." ZONE, TYPE_A), &r);
	assert_int_equal(r.an, 1);
	assert_negative(f, ask(f, "m1." TOKEN "." ZONE, TYPE_A),
			RCODE_NXDOMAIN, 30);
}

/* A smaller size publishes fewer members. */
static void
test_size_shrinks(void **state)
{
	struct fx *f = *state;
	struct resp r;

	set_size(f, f->tok, 1);
	read_resp(f->out, ask(f, SRV_SSL, TYPE_SRV), &r);
	assert_int_equal(r.an, 1);
	assert_srv_target(&r, &r.rec[0], "m1." TOKEN "." ZONE);
	assert_negative(f, ask(f, "m2." TOKEN "." ZONE, TYPE_A),
			RCODE_NXDOMAIN, 30);
}

static void
test_token_deleted(void **state)
{
	struct fx *f = *state;

	delete_token(f, TOKEN);
	f->tok = NULL;
	assert_negative(f, ask(f, SRV_SSL, TYPE_SRV), RCODE_NXDOMAIN, 30);
	assert_negative(f, ask(f, TOKEN "." ZONE, TYPE_A), RCODE_NXDOMAIN, 30);
}

/* Two members with one host name give one SRV record, whether the view
 * was built with them or learnt of them later. */
static void
test_duplicate_urls_at_build(void **state)
{
	struct fx *f = *state;
	struct token *tok = make_token(f, "dup", 3);
	char err[256] = "";
	struct resp r;

	put_member(f, tok, "a", "a=https://etcd.example.com:2380");
	put_member(f, tok, "b", "b=https://etcd.example.com:2380");
	assert_int_equal(dns_view_reload(f->view, err), 0);
	read_resp(f->out, ask(f, "_etcd-server-ssl._tcp.dup." ZONE, TYPE_SRV),
		  &r);
	assert_int_equal(r.an, 1);
	assert_srv_target(&r, &r.rec[0], "etcd.example.com");
	assert_int_equal(r.ar, 0); /* not ours to give addresses for */
}

static void
test_duplicate_urls_applied(void **state)
{
	struct fx *f = *state;
	struct token *tok = make_token(f, "dup", 3);
	struct resp r;

	put_member(f, tok, "a", "a=https://etcd.example.com:2380");
	put_member(f, tok, "b", "b=https://etcd.example.com:2380");
	read_resp(f->out, ask(f, "_etcd-server-ssl._tcp.dup." ZONE, TYPE_SRV),
		  &r);
	assert_int_equal(r.an, 1);
}

/* An alias publishes the token's records under its own name too. */
static void
test_alias(void **state)
{
	struct fx *f = *state;
	struct resp r;

	set_alias(f, "prod", TOKEN);
	read_resp(f->out, ask(f, "_etcd-server-ssl._tcp.prod." ZONE, TYPE_SRV),
		  &r);
	assert_int_equal(r.an, 2);
	assert_srv_target(&r, &r.rec[0], "m1.prod." ZONE);
	assert_int_equal(r.ar, 2);
	delete_alias(f, "prod");
	assert_negative(f, ask(f, "_etcd-server-ssl._tcp.prod." ZONE,
			       TYPE_SRV), RCODE_NXDOMAIN, 30);
}

/* Client URLs from a sync are published as _etcd-client-ssl. */
static void
test_client_urls(void **state)
{
	struct fx *f = *state;
	struct resp r;

	put_member_clients(f, f->tok, "m1", "m1=https://10.0.0.1:2380",
			   "https://10.0.0.1:2379");
	read_resp(f->out, ask(f, "_etcd-client-ssl._tcp." TOKEN "." ZONE,
			      TYPE_SRV), &r);
	assert_int_equal(r.an, 1);
	assert_int_equal(dns_get16(f->out + r.rec[0].rdata + 4), 2379);
	assert_int_equal(r.ar, 1);
}

/* Two peer URLs of one member share its target: its address goes into
 * the additional section once. */
static void
test_shared_target_additional(void **state)
{
	struct fx *f = *state;
	struct resp r;

	put_member(f, f->tok, "m1",
		   "m1=https://10.0.0.1:2380,m1=https://10.0.0.1:2381");
	read_resp(f->out, ask(f, SRV_SSL, TYPE_SRV), &r);
	assert_int_equal(r.an, 3);
	assert_int_equal(r.ar, 2);
	assert_name_at(&r, r.rec[3].owner, "m1." TOKEN "." ZONE);
	assert_name_at(&r, r.rec[4].owner, "m2." TOKEN "." ZONE);
}

/* Every member with two URLs: runs of repeats, one after another. */
static void
test_shared_targets_many(void **state)
{
	struct fx *f = *state;
	struct token *tok = make_token(f, "two", 5);
	char id[8], value[96];
	unsigned i;
	struct resp r;

	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "t%u", i);
		snprintf(value, sizeof(value), "%s=https://10.2.0.%u:2380,"
			 "%s=https://10.2.0.%u:2381,%s=http://10.2.0.%u:2382",
			 id, i + 1, id, i + 1, id, i + 1);
		put_member(f, tok, id, value);
	}
	read_resp(f->out, ask_tcp(f, "_etcd-server-ssl._tcp.two." ZONE,
				  TYPE_SRV), &r);
	assert_int_equal(r.an, 10);
	assert_int_equal(r.ar, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(f->out[r.rec[10 + i].rdata + 3], i + 1);
	read_resp(f->out, ask_tcp(f, "_etcd-server._tcp.two." ZONE, TYPE_SRV),
		  &r);
	assert_int_equal(r.an, 5);
	assert_int_equal(r.ar, 5);
}

/* A zone file for the token zone gives its SOA, and its serial is the
 * base the registry index is added to. */
static void
test_token_zone_file(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	struct resp r;

	write_file(f, ZONE ".zone",
		   "$ORIGIN " ZONE ".\n"
		   "$TTL 300\n"
		   "@   SOA ns1 hostmaster 1000 3600 600 86400 10\n"
		   "@   NS  ns1\n"
		   "ns1 A   192.0.2.53\n");
	if (dns_view_reload(f->view, err) != 0)
		fail_msg("reload: %s", err);
	assert_int_equal(zone_serial(f, ZONE), 1000 + f->reg.index);
	assert_negative(f, ask(f, "nope." ZONE, TYPE_A), RCODE_NXDOMAIN, 10);
	read_resp(f->out, ask(f, SRV_SSL, TYPE_SRV), &r);
	assert_int_equal(r.an, 2);
	put_member(f, f->tok, "m3", "m3=https://10.0.0.3:2380");
	assert_int_equal(zone_serial(f, ZONE), 1000 + f->reg.index);
}

/* Records of a type in a journal list. */
static size_t
count_type(const struct rr_list *l, uint16_t type)
{
	const uint8_t *rr;
	size_t off = 0, n = 0;

	while (rr_list_next(l, &off, &rr) > 0)
		n += dns_get16(rr + dns_name_len(rr)) == type;
	return n;
}

/* The journal entry that starts at serial `from`. */
static const struct journal_entry *
journal_from(struct fx *f, uint32_t from)
{
	const struct dns_zone *z = dns_view_data(f->view)->token_zone;
	size_t pos;

	return journal_find(&z->journal, from, &pos);
}

/* After a build with duplicates, the next change must not journal the
 * surviving record as deleted: IXFR clients would drop it. */
static void
test_duplicate_urls_journal(void **state)
{
	struct fx *f = *state;
	struct token *tok = make_token(f, "dup", 3);
	const struct journal_entry *e;
	char err[256] = "";
	uint32_t from;

	put_member(f, tok, "a", "a=https://etcd.example.com:2380");
	put_member(f, tok, "b", "b=https://etcd.example.com:2380");
	assert_int_equal(dns_view_reload(f->view, err), 0);
	from = dns_view_serial(f->view, NULL);
	put_member(f, tok, "c", "c=http://etcd.example.com:2379");
	e = journal_from(f, from);
	assert_non_null(e);
	assert_int_equal(e->to, dns_view_serial(f->view, NULL));
	/* The one new SRV, nothing deleted. */
	assert_int_equal(e->deleted.count, 0);
	assert_int_equal(e->added.count, 1);
	assert_int_equal(count_type(&e->added, TYPE_SRV), 1);
}

/* A member written again with its value unchanged changes nothing: no
 * serial, no journal entry. */
static void
test_same_value_no_change(void **state)
{
	struct fx *f = *state;
	uint32_t serial = zone_serial(f, ZONE);

	put_member(f, f->tok, "m1", "m1=https://10.0.0.1:2380");
	assert_int_equal(zone_serial(f, ZONE), serial);
	assert_null(journal_from(f, serial));
}

/* A member that moves: its address goes and comes, its SRV record (same
 * target, same port) stays out of the journal. */
static void
test_moved_member_journal(void **state)
{
	struct fx *f = *state;
	uint32_t serial = zone_serial(f, ZONE);
	const struct journal_entry *e;
	struct resp r;

	put_member(f, f->tok, "m1", "m1=https://10.0.9.1:2380");
	e = journal_from(f, serial);
	assert_non_null(e);
	assert_int_equal(e->deleted.count, 1);
	assert_int_equal(count_type(&e->deleted, TYPE_A), 1);
	assert_int_equal(e->added.count, 1);
	assert_int_equal(count_type(&e->added, TYPE_A), 1);
	/* The SRV answer's additional section has the new address. */
	read_resp(f->out, ask(f, SRV_SSL, TYPE_SRV), &r);
	assert_int_equal(r.ar, 2);
	assert_memory_equal(f->out + r.rec[2].rdata, "\x0A\x00\x09\x01", 4);
}

/* ---- static zones ---- */

static void
test_static_zone(void **state)
{
	struct fx *f = *state;
	struct resp r;

	read_resp(f->out, ask(f, "WWW.static.test", TYPE_A), &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_true(r.flags & FLAG_AA);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rec[0].ttl, 20);
	assert_memory_equal(f->out + r.rec[0].rdata, "\xC0\x00\x02\x50", 4);
	assert_int_equal(zone_serial(f, "static.test"), 7);
	assert_int_equal(dns_view_zone_count(f->view), 2);
}

/* A CNAME answers any type; the question keeps the type asked. */
static void
test_static_cname(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	query_init(&q);
	len = ask_with(f, &q, "alias.static.test", TYPE_AAAA, 0);
	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rec[0].type, TYPE_CNAME);
	assert_name_at(&r, r.rec[0].rdata, "www.static.test");
	assert_memory_equal(f->out + DNS_HEADER_SIZE, q.b + DNS_HEADER_SIZE,
			    q.n - DNS_HEADER_SIZE);
}

/* The generated apex: NS with its glue from --ns-address. */
static void
test_apex_ns_glue(void **state)
{
	struct fx *f = *state;
	struct resp r;

	read_resp(f->out, ask(f, ZONE, TYPE_NS), &r);
	assert_int_equal(r.an, 1);
	assert_name_at(&r, r.rec[0].rdata, "ns1." ZONE);
	assert_int_equal(r.ar, 1);
	assert_int_equal(r.rec[1].type, TYPE_A);
	assert_memory_equal(f->out + r.rec[1].rdata, "\xC0\x00\x02\x35", 4);
}

/* ANY gets one type's records (RFC 8482 allows a subset); the question
 * still says ANY. */
static void
test_any(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;
	size_t len;

	query_init(&q);
	len = ask_with(f, &q, SRV_SSL, TYPE_ANY, 0);
	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_int_equal(r.an, 2);
	assert_int_equal(r.rec[0].type, TYPE_SRV);
	assert_int_equal(dns_get16(f->out + q.n - 4), TYPE_ANY);
}

static void
assert_referral(struct fx *f, size_t len)
{
	struct resp r;

	read_resp(f->out, len, &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_false(r.flags & FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);
	assert_int_equal(r.rec[0].type, TYPE_NS);
	assert_name_at(&r, r.rec[0].owner, "sub.static.test");
	assert_name_at(&r, r.rec[0].rdata, "ns.sub.static.test");
	assert_int_equal(r.ar, 1); /* the glue */
	assert_int_equal(r.rec[1].type, TYPE_A);
	assert_name_at(&r, r.rec[1].owner, "ns.sub.static.test");
	assert_memory_equal(f->out + r.rec[1].rdata, "\xC0\x00\x02\x07", 4);
}

static void
test_referral(void **state)
{
	struct fx *f = *state;

	assert_referral(f, ask(f, "host.sub.static.test", TYPE_A));
	assert_referral(f, ask(f, "sub.static.test", TYPE_NS));
	/* Glue is the child's data too. */
	assert_referral(f, ask(f, "ns.sub.static.test", TYPE_A));
	assert_int_equal(f->stats.referrals, 3);
}

static void
test_reload_broken_keeps_old(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	struct resp r;

	write_file(f, STATIC_ZONE,
		   "$ORIGIN static.test.\n"
		   "$TTL 20\n"
		   "@   SOA ns1 hostmaster 8 3600 600 86400 300\n"
		   "www A   192.0.2.300\n"
		   "ns1 A   192.0.2.1\n");
	assert_int_equal(dns_view_reload(f->view, err), -1);
	if (strstr(err, STATIC_ZONE ":4:") == NULL)
		fail_msg("error without file:line: %s", err);
	read_resp(f->out, ask(f, "www.static.test", TYPE_A), &r);
	assert_int_equal(r.an, 1);
	assert_memory_equal(f->out + r.rec[0].rdata, "\xC0\x00\x02\x50", 4);
	assert_int_equal(zone_serial(f, "static.test"), 7);
}

static void
test_reload_good(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	struct resp r;

	write_file(f, STATIC_ZONE,
		   "$ORIGIN static.test.\n"
		   "@   20 SOA ns1 hostmaster 8 3600 600 86400 300\n"
		   "@   20 NS  ns1\n"
		   "ns1 20 A   192.0.2.1\n"
		   "www 20 A   192.0.2.81\n");
	if (dns_view_reload(f->view, err) != 0)
		fail_msg("reload: %s", err);
	read_resp(f->out, ask(f, "www.static.test", TYPE_A), &r);
	assert_memory_equal(f->out + r.rec[0].rdata, "\xC0\x00\x02\x51", 4);
	assert_int_equal(zone_serial(f, "static.test"), 8);
	/* The delegation went with the old file. */
	assert_negative(f, ask(f, "host.sub.static.test", TYPE_A),
			RCODE_NXDOMAIN, 20);
	/* The tokens are rebuilt with it. */
	read_resp(f->out, ask(f, SRV_SSL, TYPE_SRV), &r);
	assert_int_equal(r.an, 2);
}

/* A file whose records are outside its zone is refused, naming it. */
static void
test_reload_outside_zone(void **state)
{
	struct fx *f = *state;
	char err[256] = "";

	write_file(f, STATIC_ZONE,
		   "$ORIGIN static.test.\n"
		   "@   20 SOA ns1 hostmaster 8 3600 600 86400 300\n"
		   "www.other.test. 20 A 192.0.2.81\n");
	assert_int_equal(dns_view_reload(f->view, err), -1);
	assert_non_null(strstr(err, STATIC_ZONE));
	assert_int_equal(zone_serial(f, "static.test"), 7);
}

/* ---- hostile clients (issue 9) ---- */

/* A request as the server hands it over, parsed. */
static void
request_of(struct dns_request *req, const struct query *q)
{
	memset(req, 0, sizeof(*req));
	req->pkt = q->b;
	req->len = q->n;
	req->parsed = dns_parse_query(q->b, q->n, &req->q);
}

/* An opcode we do not serve is NOTIMP, whatever the counts say. */
static void
test_notimp_whatever_counts(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;

	query_init(&q);
	q.flags = 2 << 11;
	q.qdcount = 0;
	read_resp(f->out, ask_with(f, &q, ZONE, TYPE_SOA, 0), &r);
	assert_int_equal(rcode_of(&r), RCODE_NOTIMP);
	assert_int_equal(r.qd, 0);
}

/* QCLASS ANY: answered, but not authoritatively (RFC 1034 3.7.1). */
static void
test_class_any_not_authoritative(void **state)
{
	struct fx *f = *state;
	struct query q;
	struct resp r;

	query_init(&q);
	q.qclass = CLASS_ANY;
	read_resp(f->out, ask_with(f, &q, ZONE, TYPE_SOA, 0), &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_false(r.flags & FLAG_AA);
	read_resp(f->out, ask_with(f, &q, "nope." ZONE, TYPE_A, 0), &r);
	assert_int_equal(rcode_of(&r), RCODE_NXDOMAIN);
	assert_false(r.flags & FLAG_AA);
	query_init(&q);
	read_resp(f->out, ask_with(f, &q, ZONE, TYPE_SOA, 0), &r);
	assert_true(r.flags & FLAG_AA);
}

/* FORMERR to a query whose OPT was good carries an OPT (RFC 6891 7). */
static void
test_formerr_with_opt(void **state)
{
	struct fx *f = *state;
	/* No question, an OPT: header, then root, type, payload, TTL, 0. */
	static const uint8_t pkt[] = { 0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0,
				       0, 0, 0, 1, 0, 0, 41, 0x04, 0xD0,
				       0, 0, 0, 0, 0, 0 };
	static const uint8_t bare[] = { 0x12, 0x34, 0x01, 0x00, 0, 0,
					0, 0, 0, 0, 0, 0 };
	struct resp r;

	read_resp(f->out, dns_answer_query(&f->ctx, pkt, sizeof(pkt), f->out,
					   4096, 0), &r);
	assert_int_equal(rcode_of(&r), RCODE_FORMERR);
	assert_int_equal(r.qd, 0);
	assert_int_equal(r.ar, 1);
	opt_of(&r);
	/* The same without the OPT: an answer without one. */
	read_resp(f->out, dns_answer_query(&f->ctx, bare, sizeof(bare), f->out,
					   4096, 0), &r);
	assert_int_equal(rcode_of(&r), RCODE_FORMERR);
	assert_int_equal(r.ar, 0);
}

/* Without a valid cookie no UDP answer passes --edns-buffer-nocookie;
 * with one, --edns-buffer. The answer carries the server's cookie. */
static void
test_nocookie_ceiling(void **state)
{
	struct fx *f = *state;
	struct dns_request req;
	struct query q;
	struct resp r;
	size_t len;

	big_token(f, "big", 40);
	f->ctx.edns_buffer = 4096;
	f->ctx.edns_buffer_nocookie = 1232;
	query_init(&q);
	q.edns = 1;
	q.udp = 4096;
	query_build(&q, "_etcd-server-ssl._tcp.big." ZONE, TYPE_SRV);
	request_of(&req, &q);
	req.cookie = COOKIE_CLIENT_ONLY;
	memset(req.cookie_answer, 0xC0, sizeof(req.cookie_answer));
	req.cookie_answer_len = COOKIE_ANSWER_LEN;
	len = dns_answer(&f->ctx, &req, f->out, 4096);
	assert_true(len <= 1232);
	read_resp(f->out, len, &r);
	assert_true(r.flags & FLAG_TC);
	/* The OPT has the COOKIE option: code, length, 24 bytes. */
	assert_int_equal(r.rec[r.nrec - 1].rdlen, 4 + COOKIE_ANSWER_LEN);
	assert_int_equal(dns_get16(f->out + r.rec[r.nrec - 1].rdata),
			 EDNS_OPT_COOKIE);
	req.cookie = COOKIE_VALID;
	len = dns_answer(&f->ctx, &req, f->out, 4096);
	assert_true(len > 1232 && len <= 4096);
	read_resp(f->out, len, &r);
	assert_false(r.flags & FLAG_TC);
	assert_int_equal(r.an, 40);
	/* And what rate limiting counts it as: an answer, for its name. */
	assert_int_equal(req.rclass, RRL_ANSWER);
	assert_int_equal(req.rname_len, req.q.qname_len);
}

/* What goes out when rate limiting slips an answer: TC and no records,
 * or BADCOOKIE with our cookie to a client that sent one. */
static void
test_slip_answers(void **state)
{
	struct fx *f = *state;
	struct dns_request req;
	struct query q;
	struct resp r;

	query_init(&q);
	q.edns = 1;
	q.udp = 1232;
	query_build(&q, "nope." ZONE, TYPE_A);
	request_of(&req, &q);
	dns_answer(&f->ctx, &req, f->out, 4096);
	assert_int_equal(req.rclass, RRL_NXDOMAIN);
	read_resp(f->out, dns_answer_slip(&f->ctx, &req, f->out, 4096), &r);
	assert_true(r.flags & FLAG_TC);
	assert_int_equal(rcode_of(&r), RCODE_NXDOMAIN);
	assert_int_equal(r.an + r.ns, 0);
	req.cookie = COOKIE_INVALID;
	req.cookie_answer_len = COOKIE_ANSWER_LEN;
	read_resp(f->out, dns_answer_slip(&f->ctx, &req, f->out, 4096), &r);
	assert_false(r.flags & FLAG_TC);
	/* 23: 7 in the header, 1 in the OPT's extended rcode. */
	assert_int_equal(rcode_of(&r), RCODE_BADCOOKIE & 0xF);
	assert_int_equal(f->out[opt_of(&r)->owner + 5], RCODE_BADCOOKIE >> 4);
}

/* IXFR over UDP: the SOA to a client the rules allow, else REFUSED. */
static void
test_udp_ixfr(void **state)
{
	struct fx *f = *state;
	struct dns_request req;
	struct query q;
	struct resp r;

	query_init(&q);
	query_build(&q, ZONE, TYPE_IXFR);
	request_of(&req, &q);
	read_resp(f->out, dns_answer(&f->ctx, &req, f->out, 4096), &r);
	assert_int_equal(rcode_of(&r), RCODE_REFUSED);
	req.udp_ixfr = UDP_IXFR_ALLOWED;
	read_resp(f->out, dns_answer(&f->ctx, &req, f->out, 4096), &r);
	assert_int_equal(rcode_of(&r), RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rec[0].type, TYPE_SOA);
	req.over_tcp = 1; /* over TCP transfers are xfr.c's */
	read_resp(f->out, dns_answer(&f->ctx, &req, f->out, 4096), &r);
	assert_int_equal(rcode_of(&r), RCODE_REFUSED);
}

/* ---- a UDP worker's replica (replica.h) ---- */

struct replica_fx {
	struct replica rep;
	size_t batches;
};

static void
feed_replica(struct pub_batch *b, void *arg)
{
	struct replica_fx *rf = arg;
	struct cookie_secrets unused;

	rf->batches++;
	replica_apply(&rf->rep, b, &unused);
	pub_batch_put(b);
}

/* A lookup begun ahead (replica_hint_begin, then any number of steps,
 * as server.c does for a batch) answers with the same bytes as one that
 * was not: expect (len bytes). */
static void
same_hinted_answer(const struct dns_answer_ctx *rctx, const struct query *q,
		   const uint8_t *expect, size_t len, uint8_t *out)
{
	struct dns_request r;
	int steps, i;
	size_t got;

	for (steps = 0; steps <= REPLICA_HINT_STEPS + 1; steps++) {
		memset(&r, 0, sizeof(r));
		r.pkt = q->b;
		r.len = q->n;
		r.parsed = dns_parse_query(q->b, q->n, &r.q);
		if (r.parsed == PARSE_OK)
			replica_hint_begin(rctx->replica, r.q.qname, &r.hint);
		for (i = 0; i < steps; i++)
			replica_hint_step(rctx->replica, &r.hint, r.q.qtype);
		got = dns_answer(rctx, &r, out, 4096);
		if (got != len || memcmp(expect, out, len) != 0)
			fail_msg("after %d hint steps the replica answers "
				 "%zu bytes, without a hint %zu", steps, got,
				 len);
	}
}

/* The same bytes from the replica as from the view, over UDP and with
 * EDNS (for the truncation limits), with and without a hint. */
static void
same_answer(struct fx *f, struct replica_fx *rf, const char *name,
	    uint16_t type)
{
	static uint8_t from_view[4096];
	struct dns_answer_ctx rctx = f->ctx;
	struct query q;
	size_t a, b;
	int edns;

	rctx.replica = &rf->rep;
	for (edns = 0; edns < 2; edns++) {
		query_init(&q);
		q.edns = edns;
		q.udp = 4096;
		query_build(&q, name, type);
		a = dns_answer_query(&f->ctx, q.b, q.n, from_view,
				     sizeof(from_view), 0);
		b = dns_answer_query(&rctx, q.b, q.n, f->out, 4096, 0);
		if (a != b || memcmp(from_view, f->out, a) != 0)
			fail_msg("%s type %u (edns %d): the replica answers "
				 "%zu bytes, the view %zu", name, type, edns, b,
				 a);
		same_hinted_answer(&rctx, &q, from_view, a, f->out);
	}
}

static void
same_answers(struct fx *f, struct replica_fx *rf)
{
	static const char *names[] = {
		ZONE, "ns1." ZONE, "nx." ZONE, TOKEN "." ZONE,
		"_tcp." TOKEN "." ZONE, SRV_SSL,
		"_etcd-server._tcp." TOKEN "." ZONE,
		"_etcd-server-ssl._tcp.prod." ZONE,
		"_etcd-server-ssl._tcp.t2." ZONE,
		"m1." TOKEN "." ZONE, "m3." TOKEN "." ZONE,
		"m4." TOKEN "." ZONE, "static.test", "www.static.test",
		"WwW.Static.Test", "alias.static.test", "sub.static.test",
		"x.sub.static.test", "ns.sub.static.test", "new.static.test",
		"nx.static.test", "example.com", "",
	};
	static const uint16_t types[] = { TYPE_A, TYPE_AAAA, TYPE_SRV,
					  TYPE_SOA, TYPE_NS, TYPE_CNAME,
					  TYPE_DS, TYPE_ANY, 16 /* TXT */ };
	size_t i, j;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (j = 0; j < sizeof(types) / sizeof(types[0]); j++)
			same_answer(f, rf, names[i], types[j]);
}

/* A replica fed by the view answers every question as the view does, at
 * start and after each change: members in and out, past the size, an
 * alias, a token gone (its nodes removed), a reload. */
static void
test_replica_follows_view(void **state)
{
	struct fx *f = *state;
	struct replica_fx rf;
	struct token *t2;
	char err[256] = "";

	replica_init(&rf.rep, 0);
	rf.batches = 0;
	dns_view_feed(f->view, 1, feed_replica, &rf);
	assert_int_equal(rf.batches, 1); /* the whole view */
	same_answers(f, &rf);
	put_member(f, f->tok, "m3", "m3=https://10.0.0.3:2380");
	put_member(f, f->tok, "m4", "m4=https://[fd00::4]:2380");
	assert_true(rf.batches >= 2);
	same_answers(f, &rf);
	set_alias(f, "prod", TOKEN);
	t2 = make_token(f, "t2", 1);
	put_member(f, t2, "x1", "x1=https://10.0.9.1:2380");
	same_answers(f, &rf);
	delete_member(f, f->tok, "m1");
	same_answers(f, &rf);
	delete_token(f, "t2");
	delete_alias(f, "prod");
	same_answers(f, &rf);
	write_file(f, STATIC_ZONE, "$ORIGIN static.test.\n$TTL 20\n"
		   "@ SOA ns1.static.test. h.static.test. 8 3600 600 86400 300\n"
		   "@ NS ns1.static.test.\nns1 A 192.0.2.1\n"
		   "new A 192.0.2.9\n");
	assert_int_equal(dns_view_reload(f->view, err), 0);
	same_answers(f, &rf);
	dns_view_feed(f->view, 0, NULL, NULL);
	replica_clear(&rf.rep);
	htable_free(&rf.rep.zone_index);
}

/* Hints over many nodes, so that chains hold several (the table is
 * between half full and full): a name that is second in its chain, and
 * names absent from a chain that has others, answer as without a hint. */
static void
test_replica_hints(void **state)
{
	struct fx *f = *state;
	struct replica_fx rf;
	struct dns_answer_ctx rctx = f->ctx;
	char name[128], value[64];
	struct token *t;
	struct query q;
	struct resp r;
	unsigned i;

	rctx.replica = &rf.rep;
	for (i = 0; i < 120; i++) {
		snprintf(name, sizeof(name), "h%u", i);
		t = make_token(f, name, 1);
		snprintf(value, sizeof(value), "m1=https://10.2.%u.1:2380", i);
		put_member(f, t, "m1", value);
	}
	replica_init(&rf.rep, 0);
	rf.batches = 0;
	dns_view_feed(f->view, 1, feed_replica, &rf);
	for (i = 0; i < 130; i++) {
		snprintf(name, sizeof(name), "_etcd-server-ssl._tcp.h%u." ZONE,
			 i);
		same_answer(f, &rf, name, TYPE_SRV);
		/* Not two empty answers: the replica has the 120 tokens. */
		query_init(&q);
		query_build(&q, name, TYPE_SRV);
		read_resp(f->out, dns_answer_query(&rctx, q.b, q.n, f->out,
						   4096, 0), &r);
		assert_int_equal(rcode_of(&r),
				 i < 120 ? RCODE_NOERROR : RCODE_NXDOMAIN);
		assert_int_equal(r.an, i < 120 ? 1 : 0);
		snprintf(name, sizeof(name), "m1.h%u." ZONE, i);
		same_answer(f, &rf, name, TYPE_A);
		same_answer(f, &rf, name, TYPE_AAAA);
	}
	dns_view_feed(f->view, 0, NULL, NULL);
	replica_clear(&rf.rep);
	htable_free(&rf.rep.zone_index);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_srv_answer),
		T(test_replica_follows_view),
		T(test_replica_hints),
		T(test_srv_additional),
		T(test_rd_not_invented),
		T(test_a_record),
		T(test_edns_answer),
		T(test_nxdomain),
		T(test_nxdomain_static_ttl),
		T(test_nodata_empty_non_terminal),
		T(test_nodata_missing_type),
		T(test_nxdomain_edns),
		T(test_refused_outside),
		T(test_refused_class_and_axfr),
		T(test_badvers),
		T(test_notimp),
		T(test_formerr_no_question),
		T(test_response_not_answered),
		T(test_tsig_left_to_server),
		T(test_reserve_for_tsig),
		T(test_large_udp_no_edns),
		T(test_large_edns_our_buffer),
		T(test_large_edns_client_buffer),
		T(test_large_tcp),
		T(test_additional_dropped),
		T(test_serial_follows_registry),
		T(test_new_member_published),
		T(test_only_first_size_published),
		T(test_size_shrinks),
		T(test_token_deleted),
		T(test_duplicate_urls_at_build),
		T(test_duplicate_urls_applied),
		T(test_duplicate_urls_journal),
		T(test_same_value_no_change),
		T(test_moved_member_journal),
		T(test_alias),
		T(test_client_urls),
		T(test_token_zone_file),
		T(test_shared_target_additional),
		T(test_shared_targets_many),
		T(test_static_zone),
		T(test_static_cname),
		T(test_apex_ns_glue),
		T(test_any),
		T(test_referral),
		T(test_reload_broken_keeps_old),
		T(test_reload_good),
		T(test_reload_outside_zone),
		T(test_notimp_whatever_counts),
		T(test_class_any_not_authoritative),
		T(test_formerr_with_opt),
		T(test_nocookie_ceiling),
		T(test_slip_answers),
		T(test_udp_ixfr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
