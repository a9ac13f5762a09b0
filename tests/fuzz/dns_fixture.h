/* dns_fixture.h -- what the DNS harnesses share: a view as the daemon has
 * it (a registry fed committed changes through its store sink, a static
 * zone with a delegation in a temporary --zones-dir, the token zone made
 * from flags), the transfer service with its TSIG keys and access rules,
 * cookies and response rate limiting, and the path a query takes in
 * src/dns/server.c: parse, check the cookie, verify the TSIG, answer or
 * transfer, sign, rate-limit. server.c keeps that path static, so it is
 * followed here step by step through the same public functions (keep
 * fuzz_serve in step with serve_udp and serve_tcp).
 *
 * Every answer is checked: it carries the query's ID with QR set, fits the
 * client's payload size, and parses as a DNS message (ldns). A failed
 * check aborts, which the fuzzer reports as a crash. */
#ifndef SRVGATE_FUZZ_DNS_FIXTURE_H
#define SRVGATE_FUZZ_DNS_FIXTURE_H

#include <dirent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answer.h"
#include "config.h"
#include "cookie.h"
#include "dns.h"
#include "registry.h"
#include "rrl.h"
#include "store.h"
#include "tsig.h"
#include "util.h"
#include "view.h"
#include "wire.h"
#include "xfr.h"

/* The clock every TSIG and cookie is checked against: seeds are signed
 * at it. The cookie secret is fixed so that seeds can carry valid server
 * cookies (tests/fuzz/make_seeds.py makes them). */
#define FUZZ_NOW 1700000000u
#define FUZZ_COOKIE_SECRET "srvgate-fuzz-cky" /* 16 bytes */
#define FUZZ_UDP_MAX 4096   /* server.c: larger datagrams are dropped */
#define FUZZ_TCP_MAX 65535

/* The static zone every DNS harness serves beside the token zone. */
static const char fuzz_static_zone[] =
	"$ORIGIN static.test.\n"
	"$TTL 20\n"
	"@       SOA   ns1.static.test. hostmaster.static.test. 7 3600 600 "
	"86400 300\n"
	"@       NS    ns1.static.test.\n"
	"@       MX    10 mail.static.test.\n"
	"@       TXT   \"v=fuzz\" \"two strings\"\n"
	"ns1     A     192.0.2.1\n"
	"ns1     AAAA  2001:db8::1\n"
	"www     A     192.0.2.80\n"
	"www     A     192.0.2.81\n"
	"mail    A     192.0.2.25\n"
	"alias   CNAME www\n"
	"a.b.c   A     192.0.2.9\n" /* b.c and c are empty non-terminals */
	"sub     NS    ns.sub.static.test.\n"
	"sub     NS    ns.elsewhere.example.\n"
	"ns.sub  A     192.0.2.7\n"
	"sub     DS    12345 13 2 "
	"3490A6806D47F17A34C29E2CE80E8A999FFBE4BE1C2F3D5E6F7A8B9C0D1E2F3A\n"
	"_etcd-server-ssl._tcp SRV 0 0 2380 www.static.test.\n";

struct fuzz_dns {
	char dir[64];
	struct config cfg;
	struct registry reg;
	struct store_sink sink;
	uint64_t index;
	struct dns_view *view;
	struct event_base *base;
	struct xfr *xfr;
	struct tsig_keyring *keys;
	struct cookie_secrets cookies;
	struct rrl *rrl;
	uint64_t now_ms; /* the monotonic clock RRL counts with */
	struct dns_stats stats;
	struct dns_answer_ctx ctx;
	struct evbuffer *xfr_out;
	struct sockaddr_in allowed, stranger; /* transfer clients */
	uint8_t out[FUZZ_TCP_MAX];
};

static void
fuzz_die(const char *what, const uint8_t *pkt, size_t len)
{
	size_t i;

	fprintf(stderr, "fuzz check failed: %s\nquery (%zu bytes):", what,
		len);
	for (i = 0; i < len && i < 512; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", pkt[i]);
	fprintf(stderr, "\n");
	abort();
}

static void
fuzz_write_file(const char *dir, const char *name, const uint8_t *data,
		size_t len)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
		perror(path);
		abort();
	}
}

static void
fuzz_remove_file(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

/* Removes the temporary --zones-dir and what is in it. */
static void
fuzz_remove_dir(const char *dir)
{
	struct dirent **list;
	int n, i;

	n = scandir(dir, &list, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") != 0 &&
		    strcmp(list[i]->d_name, "..") != 0)
			fuzz_remove_file(dir, list[i]->d_name);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	rmdir(dir);
}

/* ---- the registry, changed as the store would change it ---- */

static void
fuzz_commit(struct fuzz_dns *f, struct change *c)
{
	c->index = ++f->index;
	f->sink.apply(f->sink.arg, c);
	f->sink.batch_end(f->sink.arg, f->index);
}

static void
fuzz_token(struct fuzz_dns *f, const char *name, unsigned size)
{
	struct change c = { .kind = CHANGE_TOKEN_PUT, .size = size,
			    .created_at = 1000 };

	snprintf(c.token, sizeof(c.token), "%s", name);
	fuzz_commit(f, &c);
}

static void
fuzz_member(struct fuzz_dns *f, const char *token, const char *id,
	    const char *value, const char *clients)
{
	struct change c = { .kind = CHANGE_MEMBER_PUT, .action = ACTION_SET };

	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", id);
	c.value = (char *)value;
	c.clients = (char *)clients;
	fuzz_commit(f, &c);
}

static void
fuzz_alias(struct fuzz_dns *f, const char *name, const char *token)
{
	struct change c = { .kind = CHANGE_ALIAS_PUT };

	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", name);
	fuzz_commit(f, &c);
}

/* Tokens with https IP peers (A and AAAA targets), hostname peers, http
 * peers, client URLs, members beyond the size, and an alias. */
static void
fuzz_fill_registry(struct fuzz_dns *f)
{
	fuzz_token(f, "abc123", 3);
	fuzz_member(f, "abc123", "m1", "m1=https://10.0.0.1:2380",
		    "https://10.0.0.1:2379,https://[2001:db8::11]:2379");
	fuzz_member(f, "abc123", "m2", "m2=https://[2001:db8::2]:2380", NULL);
	fuzz_member(f, "abc123", "m3", "m3=https://m3.static.test:2380",
		    "http://m3.static.test:2379");
	fuzz_member(f, "abc123", "m4", "m4=https://10.0.0.4:2380", NULL);
	fuzz_token(f, "def456", 2);
	fuzz_member(f, "def456", "n1",
		    "n1=http://n1.example:2380,n1=http://10.1.1.1:2381", NULL);
	fuzz_member(f, "def456", "n2", "n2=http://10.1.1.2:2380", NULL);
	fuzz_token(f, "empty", 3);
	fuzz_alias(f, "prod", "abc123");
}

/* ---- the daemon's DNS, as src/server.c starts it ---- */

/* keys: --tsig-key values; rules: --allow-transfer values (NULL ends
 * both); zones_text: the static zone file, or NULL for none. */
static void
fuzz_dns_init(struct fuzz_dns *f, const char *const *keys,
	      const char *const *rules, const char *zones_text)
{
	struct dns_view_config vc;
	struct rrl_config rc;
	errbuf_t err = "";
	size_t i;

	memset(f, 0, sizeof(*f));
	log_threshold = LOG_ERROR;
	snprintf(f->dir, sizeof(f->dir), "/tmp/srvgate-fuzz-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	if (zones_text != NULL)
		fuzz_write_file(f->dir, "static.test.zone",
				(const uint8_t *)zones_text,
				strlen(zones_text));
	config_defaults(&f->cfg);
	snprintf(f->cfg.zones_dir, sizeof(f->cfg.zones_dir), "%s", f->dir);
	snprintf(f->cfg.ns_name, sizeof(f->cfg.ns_name),
		 "ns1.discovery.internal.");
	snprintf(f->cfg.ns_address, sizeof(f->cfg.ns_address), "192.0.2.53");
	snprintf(f->cfg.soa_email, sizeof(f->cfg.soa_email),
		 "hostmaster.discovery.internal.");
	snprintf(f->cfg.srv_name, sizeof(f->cfg.srv_name), "fz");
	f->cfg.ixfr_journal = 16;
	for (i = 0; keys != NULL && keys[i] != NULL; i++)
		snprintf(f->cfg.tsig_keys.items[f->cfg.tsig_keys.n++], 256,
			 "%s", keys[i]);
	for (i = 0; rules != NULL && rules[i] != NULL; i++)
		snprintf(f->cfg.allow_transfer.items[f->cfg.allow_transfer.n++],
			 256, "%s", rules[i]);

	registry_init(&f->reg, f->cfg.max_members);
	f->sink = registry_sink(&f->reg);
	fuzz_fill_registry(f);

	memset(&vc, 0, sizeof(vc));
	vc.zone = f->cfg.zone;
	vc.zones_dir = f->cfg.zones_dir;
	vc.ns_name = f->cfg.ns_name;
	vc.ns_address = f->cfg.ns_address;
	vc.soa_email = f->cfg.soa_email;
	vc.srv_name = f->cfg.srv_name;
	vc.ttl = f->cfg.record_ttl;
	vc.neg_ttl = f->cfg.negative_ttl;
	vc.journal_max = f->cfg.ixfr_journal;
	vc.max_published = f->cfg.max_published;
	f->view = dns_view_new(&vc, &f->reg, err);
	f->base = event_base_new();
	if (f->view == NULL || f->base == NULL ||
	    xfr_new(&f->xfr, f->base, &f->cfg, f->view, err) != 0) {
		fprintf(stderr, "fuzz fixture: %s\n", err);
		abort();
	}
	/* The registry changes after the view exists, so the IXFR journal
	 * has differences to serve. */
	fuzz_member(f, "def456", "n3", "n3=http://10.1.1.3:2380", NULL);
	fuzz_member(f, "abc123", "m2", "m2=https://[2001:db8::22]:2380", NULL);
	f->keys = xfr_keys(f->xfr);
	memcpy(f->cookies.current, FUZZ_COOKIE_SECRET, COOKIE_SECRET_LEN);
	rc = (struct rrl_config){ .rate = 1, .slip = 2, .v4_prefix = 24,
				  .v6_prefix = 56, .buckets = 256 };
	f->rrl = rrl_new(&rc);
	f->now_ms = 1000;
	f->ctx.view = f->view;
	/* Clients with a valid cookie may have more than the others. */
	f->ctx.edns_buffer = 4096;
	f->ctx.edns_buffer_nocookie = 1232;
	f->ctx.stats = &f->stats;
	f->xfr_out = evbuffer_new();
	f->allowed.sin_family = AF_INET;
	f->allowed.sin_addr.s_addr = htonl(0x7F000001); /* 127.0.0.1 */
	f->stranger.sin_family = AF_INET;
	f->stranger.sin_addr.s_addr = htonl(0xC0000263); /* 192.0.2.99 */
}

/* ---- checks on what goes back ---- */

static void
fuzz_check_message(const uint8_t *pkt, size_t plen, const uint8_t *msg,
		   size_t len)
{
	ldns_pkt *p = NULL;

	if (len < DNS_HEADER_SIZE)
		fuzz_die("answer shorter than a header", pkt, plen);
	if (dns_get16(msg) != dns_get16(pkt))
		fuzz_die("answer ID differs from the query's", pkt, plen);
	if (!(dns_get16(msg + 2) & FLAG_QR))
		fuzz_die("answer without QR", pkt, plen);
	if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK)
		fuzz_die("answer does not parse (ldns_wire2pkt)", pkt, plen);
	/* FUZZ_DEBUG=1: what each input got, to see where seeds lead. */
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "answer: %zu bytes, rcode %d, flags %04x, "
			"an %u ns %u ar %u%s\n", len, ldns_pkt_get_rcode(p),
			dns_get16(msg + 2), dns_get16(msg + 6),
			dns_get16(msg + 8), dns_get16(msg + 10),
			ldns_pkt_tsig(p) ? ", signed" : "");
	ldns_pkt_free(p);
}

/* What the client can take: 512 without EDNS, its buffer with it, never
 * more than ours, and without a valid cookie no more than we give those. */
static size_t
fuzz_client_limit(const struct fuzz_dns *f, const struct dns_request *r)
{
	const struct dns_query *q = &r->q;
	size_t limit = DNS_UDP_DEFAULT;

	if (r->over_tcp)
		return FUZZ_TCP_MAX;
	if (q->has_edns && q->edns_udp > DNS_UDP_DEFAULT)
		limit = q->edns_udp < f->ctx.edns_buffer ? q->edns_udp :
							   f->ctx.edns_buffer;
	if (r->cookie != COOKIE_VALID && limit > f->ctx.edns_buffer_nocookie)
		limit = f->ctx.edns_buffer_nocookie;
	return limit;
}

/* Every length-prefixed message a transfer wrote must parse. */
static void
fuzz_check_transfer(struct fuzz_dns *f, const uint8_t *pkt, size_t plen)
{
	uint8_t l[2];

	while (evbuffer_copyout(f->xfr_out, l, 2) == 2) {
		size_t n = dns_get16(l);

		if (evbuffer_get_length(f->xfr_out) < 2 + n)
			fuzz_die("transfer message cut short", pkt, plen);
		evbuffer_drain(f->xfr_out, 2);
		if (evbuffer_remove(f->xfr_out, f->out, n) != (int)n)
			fuzz_die("transfer message unreadable", pkt, plen);
		fuzz_check_message(pkt, plen, f->out, n);
	}
	if (evbuffer_get_length(f->xfr_out) != 0)
		fuzz_die("transfer output ends in half a length", pkt, plen);
}

/* ---- the query path (server.c: receive, respond, serve_udp, serve_tcp,
 * limit_rate) ---- */

/* Checks an answer of n bytes to r in f->out. */
static void
fuzz_check_answer(struct fuzz_dns *f, const struct dns_request *r, size_t n,
		  size_t cap)
{
	if (n > cap)
		fuzz_die("answer longer than the buffer", r->pkt, r->len);
	if (r->parsed == PARSE_OK && n > fuzz_client_limit(f, r))
		fuzz_die("answer exceeds the client's payload size", r->pkt,
			 r->len);
	fuzz_check_message(r->pkt, r->len, f->out, n);
}

/* Serves one message as the server would, from peer, over UDP or TCP;
 * returns the answer's length (0: none, or a transfer). */
static size_t
fuzz_serve(struct fuzz_dns *f, const uint8_t *pkt, size_t len, int over_tcp,
	   const struct sockaddr *peer)
{
	struct dns_request r;
	struct tsig_state ts, *signer = NULL;
	size_t cap = over_tcp ? FUZZ_TCP_MAX : FUZZ_UDP_MAX, n;
	int failed = 0;

	if (len > cap)
		return 0; /* not a message either transport delivers */
	memset(&r, 0, sizeof(r));
	r.pkt = pkt;
	r.len = len;
	r.over_tcp = over_tcp;
	/* receive: parse, cookie, TSIG */
	r.parsed = dns_parse_query(pkt, len, &r.q);
	if (r.q.has_edns && r.q.cookie_off != 0 && !r.q.bad_cookie) {
		r.cookie = cookie_check(&f->cookies, pkt + r.q.cookie_off,
					r.q.cookie_len, peer, FUZZ_NOW,
					r.cookie_answer);
		r.cookie_answer_len = COOKIE_ANSWER_LEN;
	}
	if (r.parsed == PARSE_OK && r.q.tsig_off != 0 && f->keys != NULL) {
		failed = tsig_verify(f->keys, pkt, len, r.q.tsig_off, FUZZ_NOW,
				     &ts) != TSIG_OK;
		signer = &ts;
	}
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "query: %s, parse %d, cookie %d, tsig %d\n",
			over_tcp ? "tcp" : "udp", r.parsed, r.cookie,
			signer ? ts.error : 0);
	if (over_tcp && !failed && r.parsed == PARSE_OK &&
	    dns_query_is_transfer(&r.q)) {
		f->stats.queries++;
		xfr_answer(f->xfr, &r, signer, peer, f->xfr_out);
		fuzz_check_transfer(f, pkt, len);
		return 0;
	}
	if (!over_tcp && !failed && r.parsed == PARSE_OK &&
	    r.q.opcode == OPCODE_QUERY && r.q.qtype == TYPE_IXFR)
		r.udp_ixfr = xfr_udp_ixfr(f->xfr, &r, signer, peer);
	/* respond */
	if (failed) {
		f->stats.queries++;
		if (ts.error == TSIG_MALFORMED)
			n = dns_write_reply_head(f->out, pkt, &r.q, 0,
						 RCODE_FORMERR);
		else
			n = tsig_error_answer(&ts, pkt, &r.q, f->out, cap,
					      FUZZ_NOW);
		fuzz_check_message(pkt, len, f->out, n);
		return n;
	}
	r.reserve = signer ? tsig_space(signer) : 0;
	n = dns_answer(&f->ctx, &r, f->out, cap);
	if (n > 0 && signer != NULL) {
		n = tsig_sign(signer, f->out, n, cap, FUZZ_NOW);
		if (n == 0)
			fuzz_die("a verified query's answer could not be signed",
				 pkt, len);
	}
	if (n == 0)
		return 0;
	fuzz_check_answer(f, &r, n, cap);
	/* limit_rate: UDP answers to unsigned clients without a cookie */
	if (over_tcp || f->rrl == NULL || signer != NULL ||
	    r.cookie == COOKIE_VALID)
		return n;
	switch (rrl_account(f->rrl, peer, r.rclass, r.rname, r.rname_len,
			    r.q.qtype, f->now_ms)) {
	case RRL_PASS:
		break;
	case RRL_DROP:
		return 0;
	case RRL_SLIP:
		n = dns_answer_slip(&f->ctx, &r, f->out, FUZZ_UDP_MAX);
		if (n > 0)
			fuzz_check_answer(f, &r, n, FUZZ_UDP_MAX);
		break;
	}
	return n;
}

/* The clock moves a second per input, so each starts with fresh rate
 * limits and repeats within one input are what gets limited. */
static void
fuzz_tick(struct fuzz_dns *f)
{
	f->now_ms += 1000;
}

/* A query for name/type, in wire form at out (room for 300 bytes). */
static inline size_t
fuzz_make_query(uint8_t *out, const char *name, uint16_t type, int edns)
{
	size_t n = DNS_HEADER_SIZE, l;

	memset(out, 0, DNS_HEADER_SIZE);
	dns_put16(out, 0x1234);
	dns_put16(out + 4, 1);
	l = dns_name_from_text(name, out + n);
	n += l;
	dns_put16(out + n, type);
	dns_put16(out + n + 2, CLASS_IN);
	n += 4;
	if (edns) {
		dns_put16(out + 10, 1);
		out[n++] = 0;
		dns_put16(out + n, TYPE_OPT);
		dns_put16(out + n + 2, 1232);
		memset(out + n + 4, 0, 6);
		n += 10;
	}
	return n;
}

#endif
