/* dns_fixture.h -- what the DNS harnesses share: a view as the daemon has
 * it (a registry fed committed changes through its store sink, a static
 * zone with a delegation in a temporary --zones-dir, the token zone made
 * from flags), the transfer service with its TSIG keys and access rules,
 * and a DNS server with cookies and response rate limiting that listens
 * nowhere: messages go through the server's own query path
 * (src/dns/serve.h: parse, check the cookie, verify the TSIG, answer or
 * transfer, sign, rate-limit), at a fixed clock.
 *
 * Every answer is checked: it carries the query's ID with QR set, fits the
 * client's payload size, parses as a DNS message (ldns), and is signed
 * when the query's TSIG verified. A failed check aborts, which the fuzzer
 * reports as a crash. */
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
#include "fuzz_util.h"
#include "registry.h"
#include "rrl.h"
#include "serve.h"
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
#define FUZZ_UDP_MAX DNS_UDP_MAX /* larger datagrams are dropped */
#define FUZZ_TCP_MAX 65535
#define FUZZ_EDNS_BUFFER 4096	      /* --edns-buffer */
#define FUZZ_EDNS_BUFFER_NOCOOKIE 1232 /* for clients without a cookie */

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
	struct dns_server *srv;
	struct cookie_secrets cookies; /* the server's, for the checks */
	uint64_t now_ms; /* the monotonic clock RRL counts with */
	struct evbuffer *xfr_out; /* what TCP answers and transfers wrote */
	struct sockaddr_in allowed, stranger; /* transfer clients */
	uint8_t out[FUZZ_TCP_MAX];
};

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

/* A server on no address, its cookie secret fixed (a --cookie-secret-file
 * beside the zones, which loads only *.zone), rate limiting strict: 1
 * answer a second, every second one slipped. Clients with a valid cookie
 * may have more than the others. */
static void
fuzz_server_start(struct fuzz_dns *f)
{
	struct dns_server_config sc;
	char path[96], hex[2 * COOKIE_SECRET_LEN + 2];
	errbuf_t err = "";
	size_t i;

	memcpy(f->cookies.current, FUZZ_COOKIE_SECRET, COOKIE_SECRET_LEN);
	for (i = 0; i < COOKIE_SECRET_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", f->cookies.current[i]);
	strcat(hex, "\n");
	fuzz_write_file(f->dir, "cookie.secret", (const uint8_t *)hex,
			strlen(hex));
	snprintf(path, sizeof(path), "%s/cookie.secret", f->dir);
	memset(&sc, 0, sizeof(sc));
	sc.edns_buffer = FUZZ_EDNS_BUFFER;
	sc.edns_buffer_nocookie = FUZZ_EDNS_BUFFER_NOCOOKIE;
	sc.tcp_idle_ms = f->cfg.dns_tcp_timeout_ms;
	sc.tcp_max_connections = f->cfg.dns_tcp_max_connections;
	sc.xfr = f->xfr;
	sc.cookie_secret_file = path;
	sc.rrl_rate = 1;
	sc.rrl_slip = 2;
	sc.rrl_ipv4_prefix = 24;
	sc.rrl_ipv6_prefix = 56;
	if (dns_server_start(&f->srv, f->base, &sc, f->view, err) != 0) {
		fprintf(stderr, "fuzz fixture: %s\n", err);
		abort();
	}
	fuzz_remove_file(f->dir, "cookie.secret");
}

/* keys: --tsig-key values; rules: --allow-transfer values (NULL ends
 * both); zones_text: the static zone file, or NULL for none. */
static void
fuzz_dns_init(struct fuzz_dns *f, const char *const *keys,
	      const char *const *rules, const char *zones_text)
{
	struct dns_view_config vc;
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
	fuzz_server_start(f);
	f->now_ms = 1000;
	f->xfr_out = evbuffer_new();
	f->allowed.sin_family = AF_INET;
	f->allowed.sin_addr.s_addr = htonl(0x7F000001); /* 127.0.0.1 */
	f->stranger.sin_family = AF_INET;
	f->stranger.sin_addr.s_addr = htonl(0xC0000263); /* 192.0.2.99 */
}

/* ---- checks on what goes back ---- */

/* Returns 1 when the answer carries a TSIG. */
static int
fuzz_check_message(const uint8_t *pkt, size_t plen, const uint8_t *msg,
		   size_t len)
{
	ldns_pkt *p = NULL;
	int tsig;

	if (len < DNS_HEADER_SIZE)
		fuzz_die("answer shorter than a header", pkt, plen);
	if (dns_get16(msg) != dns_get16(pkt))
		fuzz_die("answer ID differs from the query's", pkt, plen);
	if (!(dns_get16(msg + 2) & FLAG_QR))
		fuzz_die("answer without QR", pkt, plen);
	if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK)
		fuzz_die("answer does not parse (ldns_wire2pkt)", pkt, plen);
	tsig = ldns_pkt_tsig(p) != NULL;
	/* FUZZ_DEBUG=1: what each input got, to see where seeds lead. */
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "answer: %zu bytes, rcode %d, flags %04x, "
			"an %u ns %u ar %u%s\n", len, ldns_pkt_get_rcode(p),
			dns_get16(msg + 2), dns_get16(msg + 6),
			dns_get16(msg + 8), dns_get16(msg + 10),
			tsig ? ", signed" : "");
	ldns_pkt_free(p);
	return tsig;
}

/* What the query is, as the checks need it: its parse, whether its
 * cookie is valid, and whether its TSIG verifies (at the fixture's
 * clock, with the server's keys). */
struct fuzz_seen {
	enum dns_parse parsed;
	struct dns_query q;
	int valid_cookie, verified;
};

static void
fuzz_look(struct fuzz_dns *f, const uint8_t *pkt, size_t len,
	  const struct sockaddr *peer, struct fuzz_seen *s)
{
	uint8_t answer[COOKIE_ANSWER_LEN];
	struct tsig_state ts;

	memset(s, 0, sizeof(*s));
	s->parsed = dns_parse_query(pkt, len, &s->q);
	if (s->q.has_edns && s->q.cookie_off != 0 && !s->q.bad_cookie)
		s->valid_cookie = cookie_check(&f->cookies,
					       pkt + s->q.cookie_off,
					       s->q.cookie_len, peer, FUZZ_NOW,
					       answer) == COOKIE_VALID;
	if (s->parsed == PARSE_OK && s->q.tsig_off != 0 && f->keys != NULL)
		s->verified = tsig_verify(f->keys, pkt, len, s->q.tsig_off,
					  FUZZ_NOW, &ts) == TSIG_OK;
}

/* What a UDP client can take: 512 without EDNS, its buffer with it, never
 * more than ours, and without a valid cookie no more than we give those. */
static size_t
fuzz_client_limit(const struct fuzz_seen *s)
{
	size_t limit = DNS_UDP_DEFAULT;

	if (s->q.has_edns && s->q.edns_udp > DNS_UDP_DEFAULT)
		limit = s->q.edns_udp < FUZZ_EDNS_BUFFER ? s->q.edns_udp :
							   FUZZ_EDNS_BUFFER;
	if (!s->valid_cookie && limit > FUZZ_EDNS_BUFFER_NOCOOKIE)
		limit = FUZZ_EDNS_BUFFER_NOCOOKIE;
	return limit;
}

/* Every length-prefixed message a TCP query got (an answer, or a
 * transfer's) must parse, the first signed when the query's TSIG
 * verified; returns their bytes. */
static size_t
fuzz_check_tcp(struct fuzz_dns *f, const uint8_t *pkt, size_t plen,
	       const struct fuzz_seen *s)
{
	size_t total = 0;
	uint8_t l[2];

	while (evbuffer_copyout(f->xfr_out, l, 2) == 2) {
		size_t n = dns_get16(l);

		if (evbuffer_get_length(f->xfr_out) < 2 + n)
			fuzz_die("TCP message cut short", pkt, plen);
		evbuffer_drain(f->xfr_out, 2);
		if (evbuffer_remove(f->xfr_out, f->out, n) != (int)n)
			fuzz_die("TCP message unreadable", pkt, plen);
		if (!fuzz_check_message(pkt, plen, f->out, n) && total == 0 &&
		    s->verified)
			fuzz_die("a verified query's answer is not signed",
				 pkt, plen);
		total += 2 + n;
	}
	if (evbuffer_get_length(f->xfr_out) != 0)
		fuzz_die("TCP output ends in half a length", pkt, plen);
	return total;
}

/* ---- the query path: the server's (serve.h) ---- */

/* Serves one message as the server would, from peer, over UDP or TCP,
 * and checks what goes back; returns its bytes (0: nothing). */
static size_t
fuzz_serve(struct fuzz_dns *f, const uint8_t *pkt, size_t len, int over_tcp,
	   const struct sockaddr *peer)
{
	struct fuzz_seen s;
	size_t n;

	if (len > (over_tcp ? FUZZ_TCP_MAX : FUZZ_UDP_MAX))
		return 0; /* not a message either transport delivers */
	fuzz_look(f, pkt, len, peer, &s);
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "query: %s, parse %d, valid cookie %d, "
			"verified %d\n", over_tcp ? "tcp" : "udp", s.parsed,
			s.valid_cookie, s.verified);
	if (over_tcp) {
		dns_serve_tcp(f->srv, pkt, len, peer, FUZZ_NOW, f->xfr_out);
		return fuzz_check_tcp(f, pkt, len, &s);
	}
	n = dns_serve_udp(f->srv, pkt, len, peer, FUZZ_NOW, f->now_ms, f->out);
	if (n == 0)
		return 0;
	if (n > FUZZ_UDP_MAX)
		fuzz_die("answer longer than the buffer", pkt, len);
	if (s.parsed == PARSE_OK && n > fuzz_client_limit(&s))
		fuzz_die("answer exceeds the client's payload size", pkt, len);
	if (!fuzz_check_message(pkt, len, f->out, n) && s.verified)
		fuzz_die("a verified query's answer is not signed", pkt, len);
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
