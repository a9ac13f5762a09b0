/* test_dns_wire.c -- query parsing, name helpers, OPT and reply heads on
 * hand-built packets. */
#include "wire.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* ---- building packets ---- */

struct buf {
	uint8_t b[2048];
	size_t n;
};

static void
put8(struct buf *p, unsigned v)
{
	assert_true(p->n < sizeof(p->b));
	p->b[p->n++] = (uint8_t)v;
}

static void
put16(struct buf *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xFF);
}

static void
put32(struct buf *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xFFFF);
}

/* "a.b.c" as a wire name; "" is the root. No length checks: tests make
 * bad names on purpose. */
static void
put_name(struct buf *p, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		put8(p, (unsigned)l);
		assert_true(p->n + l <= sizeof(p->b));
		memcpy(p->b + p->n, name, l);
		p->n += l;
		name += l + (dot != NULL);
	}
	put8(p, 0);
}

static void
put_header(struct buf *p, uint16_t id, uint16_t flags, unsigned qd,
	   unsigned an, unsigned ns, unsigned ar)
{
	p->n = 0;
	put16(p, id);
	put16(p, flags);
	put16(p, qd);
	put16(p, an);
	put16(p, ns);
	put16(p, ar);
}

static void
put_question(struct buf *p, const char *name, uint16_t type)
{
	put_name(p, name);
	put16(p, type);
	put16(p, CLASS_IN);
}

/* A record's fixed part; rdata follows from the caller. */
static void
put_rr_head(struct buf *p, uint16_t type, uint16_t cls, uint32_t ttl,
	    uint16_t rdlen)
{
	put16(p, type);
	put16(p, cls);
	put32(p, ttl);
	put16(p, rdlen);
}

static void
put_opt(struct buf *p, uint16_t udp, uint8_t version, int do_bit)
{
	put8(p, 0); /* root owner */
	put_rr_head(p, TYPE_OPT, udp,
		    ((uint32_t)version << 16) | (do_bit ? 0x8000u : 0), 0);
}

/* A one-question query for name/type with arcount records to come. */
static void
make_query(struct buf *p, const char *name, uint16_t type, unsigned ar)
{
	put_header(p, 0x1234, FLAG_RD, 1, 0, 0, ar);
	put_question(p, name, type);
}

static enum dns_parse
parse(const struct buf *p, struct dns_query *q)
{
	return dns_parse_query(p->b, p->n, q);
}

static void
assert_formerr(const struct buf *p)
{
	struct dns_query q;

	assert_int_equal(parse(p, &q), PARSE_FORMERR);
}

/* ---- dns_parse_query: good queries ---- */

static void
test_parse_normal(void **state)
{
	struct buf p;
	struct dns_query q;
	static const uint8_t want[] = "\x03www\x07" "example\x03" "com";

	(void)state;
	put_header(&p, 0xBEEF, FLAG_RD | FLAG_CD, 1, 0, 0, 0);
	put_question(&p, "WwW.ExAmple.COM", TYPE_SRV);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_int_equal(q.id, 0xBEEF);
	assert_int_equal(q.flags, FLAG_RD | FLAG_CD);
	assert_int_equal(q.opcode, OPCODE_QUERY);
	assert_int_equal(q.qdcount, 1);
	assert_int_equal(q.qname_off, DNS_HEADER_SIZE);
	assert_int_equal(q.qname_len, sizeof(want));
	assert_memory_equal(q.qname, want, sizeof(want));
	assert_int_equal(q.qtype, TYPE_SRV);
	assert_int_equal(q.qclass, CLASS_IN);
	assert_int_equal(q.question_end, p.n);
	assert_true(q.has_question);
	assert_false(q.has_edns);
	assert_int_equal(q.tsig_off, 0);
	/* The packet keeps the client's case; only the copy is lowered. */
	assert_memory_equal(p.b + 13, "WwW", 3);
}

static void
test_parse_opcode(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	put_header(&p, 1, 2u << 11, 1, 0, 0, 0);
	put_question(&p, "example.com", TYPE_A);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_int_equal(q.opcode, 2);
	put_header(&p, 1, OPCODE_NOTIFY << 11 | FLAG_AA, 1, 0, 0, 0);
	put_question(&p, "example.com", TYPE_SOA);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_int_equal(q.opcode, OPCODE_NOTIFY);
}

static void
test_parse_root_name(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	make_query(&p, "", TYPE_NS, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_int_equal(q.qname_len, 1);
	assert_int_equal(q.qname[0], 0);
	assert_int_equal(q.question_end, DNS_HEADER_SIZE + 5);
}

static void
test_parse_edns(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 1);
	put_opt(&p, 4096, 0, 1);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_udp, 4096);
	assert_int_equal(q.edns_version, 0);
	assert_true(q.edns_do);
	make_query(&p, "example.com", TYPE_A, 1);
	put_opt(&p, 1232, 1, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_int_equal(q.edns_udp, 1232);
	assert_int_equal(q.edns_version, 1);
	assert_false(q.edns_do);
}

/* An OPT with an option in its rdata still parses, and what follows it
 * is still walked. */
static void
test_parse_edns_with_option(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 1);
	put8(&p, 0);
	put_rr_head(&p, TYPE_OPT, 1400, 0, 8);
	put16(&p, 3);	/* NSID */
	put16(&p, 4);
	put32(&p, 0xDEADBEEF);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_udp, 1400);
	assert_int_equal(q.cookie_off, 0);
}

/* An OPT with one COOKIE option of optlen bytes (filled with 0xAB). */
static void
put_cookie_query(struct buf *p, size_t optlen)
{
	size_t i;

	make_query(p, "example.com", TYPE_A, 1);
	put8(p, 0);
	put_rr_head(p, TYPE_OPT, 1232, 0, (uint16_t)(4 + optlen));
	put16(p, EDNS_OPT_COOKIE);
	put16(p, (uint16_t)optlen);
	for (i = 0; i < optlen; i++)
		put8(p, 0xAB);
}

/* RFC 7873 5.2.2: a client cookie of 8 bytes, maybe a server cookie of
 * 8 to 32: anything else is FORMERR, with OPT (the OPT itself is fine). */
static void
test_parse_cookie_lengths(void **state)
{
	struct buf p;
	struct dns_query q;
	size_t len;

	(void)state;
	for (len = 0; len <= 48; len++) {
		int ok = len == 8 || (len >= 16 && len <= 40);

		put_cookie_query(&p, len);
		assert_int_equal(parse(&p, &q), ok ? PARSE_OK : PARSE_FORMERR);
		assert_true(q.has_edns);
		assert_true(q.has_question);
		assert_int_equal(q.bad_cookie, !ok);
		if (ok) {
			assert_int_equal(q.cookie_len, len);
			assert_int_equal(p.b[q.cookie_off], 0xAB);
			assert_int_equal(q.cookie_off + len, p.n);
		}
	}
}

/* Two COOKIE options are one too many. */
static void
test_parse_two_cookies(void **state)
{
	struct buf p;
	struct dns_query q;
	int i;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 1);
	put8(&p, 0);
	put_rr_head(&p, TYPE_OPT, 1232, 0, 24);
	for (i = 0; i < 2; i++) {
		put16(&p, EDNS_OPT_COOKIE);
		put16(&p, 8);
		put32(&p, 1);
		put32(&p, 2);
	}
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_true(q.bad_cookie);
}

/* An option whose header or data runs past the OPT's rdata: FORMERR, and
 * the OPT counts as not there (the answer has none), as NSD answers. */
static void
test_parse_truncated_option(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 1);
	put8(&p, 0);
	put_rr_head(&p, TYPE_OPT, 1232, 0, 6);
	put16(&p, 3);
	put16(&p, 4); /* says 4, has 2 */
	put16(&p, 0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_false(q.has_edns);
	assert_true(q.has_question);
	make_query(&p, "example.com", TYPE_A, 1);
	put8(&p, 0);
	put_rr_head(&p, TYPE_OPT, 1232, 0, 3);
	put16(&p, 3); /* half an option header */
	put8(&p, 0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_false(q.has_edns);
}

/* A FORMERR for the counts still reads a good OPT, so that the answer
 * carries one (RFC 6891 7). */
static void
test_parse_formerr_keeps_opt(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	put_header(&p, 5, 0, 0, 0, 0, 1);
	put_opt(&p, 4096, 0, 1);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_false(q.has_question);
	assert_true(q.has_edns);
	assert_true(q.edns_do);
	put_header(&p, 5, 0, 2, 0, 0, 1);
	put_question(&p, "example.com", TYPE_A);
	put_question(&p, "example.org", TYPE_A);
	put_opt(&p, 1232, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_udp, 1232);
}

static void
test_parse_two_opts(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 2);
	put_opt(&p, 4096, 0, 0);
	put_opt(&p, 1232, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_true(q.has_question); /* so the FORMERR echoes it */
}

static void
test_parse_opt_not_root(void **state)
{
	struct buf p;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 1);
	put_name(&p, "example.com");
	put_rr_head(&p, TYPE_OPT, 4096, 0, 0);
	assert_formerr(&p);
	/* A pointer to the question's name is not the root either. */
	make_query(&p, "example.com", TYPE_A, 1);
	put16(&p, 0xC000 | DNS_HEADER_SIZE);
	put_rr_head(&p, TYPE_OPT, 4096, 0, 0);
	assert_formerr(&p);
}

/* OPT outside the additional section: FORMERR (NSD answers so). */
static void
test_parse_opt_in_answer(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	put_header(&p, 1, 0, 1, 1, 0, 0);
	put_question(&p, "example.com", TYPE_A);
	put_opt(&p, 4096, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_false(q.has_edns);
	assert_true(q.has_question);
	put_header(&p, 1, 0, 1, 0, 1, 0);
	put_question(&p, "example.com", TYPE_A);
	put_opt(&p, 4096, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
}

/* ---- dns_parse_query: drops ---- */

static void
test_parse_too_short(void **state)
{
	uint8_t pkt[DNS_HEADER_SIZE] = { 0x12, 0x34, 0, 0, 0, 1 };
	struct dns_query q;
	size_t len;

	(void)state;
	for (len = 0; len < DNS_HEADER_SIZE; len++)
		assert_int_equal(dns_parse_query(pkt, len, &q), PARSE_DROP);
	/* A bare header is long enough to answer, but has no question. */
	assert_int_equal(dns_parse_query(pkt, sizeof(pkt), &q), PARSE_FORMERR);
	assert_false(q.has_question);
	assert_int_equal(q.id, 0x1234);
}

static void
test_parse_response_dropped(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	put_header(&p, 7, FLAG_QR | FLAG_AA, 1, 0, 0, 0);
	put_question(&p, "example.com", TYPE_A);
	assert_int_equal(parse(&p, &q), PARSE_DROP);
	/* QR wins over anything else wrong with it. */
	put_header(&p, 7, FLAG_QR, 0, 0, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_DROP);
}

/* ---- dns_parse_query: malformed questions ---- */

static void
test_parse_qdcount(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	put_header(&p, 9, 0, 0, 0, 0, 0);
	put_question(&p, "example.com", TYPE_A);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_false(q.has_question);
	assert_int_equal(q.id, 9);
	put_header(&p, 9, 0, 2, 0, 0, 0);
	put_question(&p, "example.com", TYPE_A);
	put_question(&p, "example.org", TYPE_A);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_false(q.has_question);
}

static void
test_parse_truncated_name(void **state)
{
	struct buf p;
	size_t full, cut;

	(void)state;
	make_query(&p, "www.example.com", TYPE_A, 0);
	full = p.n;
	/* Every cut inside the name or its type and class. */
	for (cut = DNS_HEADER_SIZE; cut < full; cut++) {
		struct dns_query q;

		assert_int_equal(dns_parse_query(p.b, cut, &q), PARSE_FORMERR);
		assert_false(q.has_question);
	}
}

static void
test_parse_label_runs_past_end(void **state)
{
	struct buf p;

	(void)state;
	put_header(&p, 1, 0, 1, 0, 0, 0);
	put8(&p, 40); /* a label of 40 with 3 bytes left */
	put8(&p, 'a');
	put8(&p, 'b');
	put8(&p, 'c');
	assert_formerr(&p);
}

static void
test_parse_compressed_question(void **state)
{
	struct buf p;

	(void)state;
	put_header(&p, 1, 0, 1, 0, 0, 0);
	put16(&p, 0xC000 | DNS_HEADER_SIZE); /* points at itself */
	put16(&p, TYPE_A);
	put16(&p, CLASS_IN);
	assert_formerr(&p);
	/* After a label, too. */
	put_header(&p, 1, 0, 1, 0, 0, 0);
	put8(&p, 1);
	put8(&p, 'a');
	put16(&p, 0xC000 | DNS_HEADER_SIZE);
	put16(&p, TYPE_A);
	put16(&p, CLASS_IN);
	assert_formerr(&p);
}

static void
test_parse_label_too_long(void **state)
{
	char name[80];
	struct buf p;
	struct dns_query q;

	(void)state;
	memset(name, 'a', 64);
	strcpy(name + 64, ".com");
	make_query(&p, name, TYPE_A, 0);
	assert_formerr(&p);
	/* 63 is allowed. */
	strcpy(name + 63, ".com");
	make_query(&p, name, TYPE_A, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_int_equal(q.qname_len, 1 + 63 + 1 + 3 + 1);
}

/* A text name of n labels of 'x', of the given lengths. */
static void
long_name(char *out, const unsigned *labels, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (i > 0)
			out[o++] = '.';
		memset(out + o, 'x', labels[i]);
		o += labels[i];
	}
	out[o] = '\0';
}

static void
test_parse_name_too_long(void **state)
{
	static const unsigned l255[] = { 63, 63, 63, 61 };
	static const unsigned l256[] = { 63, 63, 63, 62 };
	char name[300];
	struct buf p;
	struct dns_query q;

	(void)state;
	long_name(name, l255, 4);
	make_query(&p, name, TYPE_A, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_int_equal(q.qname_len, DNS_NAME_MAX);
	long_name(name, l256, 4);
	make_query(&p, name, TYPE_A, 0);
	assert_formerr(&p);
}

static void
test_parse_obsolete_label_types(void **state)
{
	struct buf p;

	(void)state;
	put_header(&p, 1, 0, 1, 0, 0, 0);
	put8(&p, 0x41); /* extended label type */
	put8(&p, 'a');
	put8(&p, 0);
	put16(&p, TYPE_A);
	put16(&p, CLASS_IN);
	assert_formerr(&p);
}

/* ---- dns_parse_query: the records after the question ---- */

/* An additional record owned by a pointer to itself: a decompressor would
 * loop for ever; skipping stops at the pointer. */
static void
test_parse_self_pointer_record(void **state)
{
	struct buf p;
	struct dns_query q;
	size_t at;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 2);
	at = p.n;
	put16(&p, 0xC000 | (unsigned)at);
	put_rr_head(&p, TYPE_A, CLASS_IN, 60, 4);
	put32(&p, 0x7F000001);
	put_opt(&p, 2048, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_udp, 2048);
}

/* Pointer loops between two records and a pointer with its second byte
 * missing. */
static void
test_parse_pointer_edge_cases(void **state)
{
	struct buf p;
	struct dns_query q;
	size_t at;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 2);
	at = p.n;
	put16(&p, 0xC000 | (unsigned)(at + 12));
	put_rr_head(&p, TYPE_A, CLASS_IN, 60, 0);
	put16(&p, 0xC000 | (unsigned)at);
	put_rr_head(&p, TYPE_A, CLASS_IN, 60, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	make_query(&p, "example.com", TYPE_A, 1);
	put8(&p, 0xC0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
}

static void
test_parse_rdlength_past_end(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 1);
	put8(&p, 0);
	put_rr_head(&p, TYPE_OPT, 4096, 0, 5);
	put16(&p, 3);
	put16(&p, 1); /* 4 of the 5 */
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_true(q.has_question);
	/* One byte more and it fits. */
	put8(&p, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
}

static void
test_parse_record_header_cut(void **state)
{
	struct buf p;
	size_t full, cut;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 1);
	put_opt(&p, 4096, 0, 0);
	full = p.n;
	for (cut = full - 11; cut < full; cut++) {
		struct dns_query q;

		assert_int_equal(dns_parse_query(p.b, cut, &q), PARSE_FORMERR);
	}
}

/* Counts promising more records than the packet holds. */
static void
test_parse_missing_records(void **state)
{
	struct buf p;

	(void)state;
	make_query(&p, "example.com", TYPE_A, 3);
	put_opt(&p, 4096, 0, 0);
	assert_formerr(&p);
	put_header(&p, 1, 0, 1, 0xFFFF, 0xFFFF, 0xFFFF);
	put_question(&p, "example.com", TYPE_A);
	assert_formerr(&p);
}

/* A query at the start of 64 KiB: what follows the counted records is
 * ignored, and nothing reads past the end (ASan and valgrind watch). */
static void
test_parse_oversized(void **state)
{
	size_t len = 65535, i;
	uint8_t *pkt = malloc(len);
	struct buf p;
	struct dns_query q;

	(void)state;
	assert_non_null(pkt);
	make_query(&p, "example.com", TYPE_A, 1);
	put_opt(&p, 4096, 0, 1);
	memcpy(pkt, p.b, p.n);
	for (i = p.n; i < len; i++)
		pkt[i] = (uint8_t)(i * 7 + 0xC1);
	assert_int_equal(dns_parse_query(pkt, len, &q), PARSE_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.question_end, DNS_HEADER_SIZE + 13 + 4);
	/* The garbage counted as records: a clean FORMERR. */
	dns_put16(pkt + 10, 0xFFFF);
	assert_int_equal(dns_parse_query(pkt, len, &q), PARSE_FORMERR);
	free(pkt);
}

/* ---- TSIG ---- */

static void
put_tsig(struct buf *p)
{
	put_name(p, "key");
	put_rr_head(p, TYPE_TSIG, CLASS_ANY, 0, 2);
	put16(p, 0);
}

static void
test_parse_tsig_last(void **state)
{
	struct buf p;
	struct dns_query q;
	size_t at;

	(void)state;
	make_query(&p, "example.com", TYPE_AXFR, 2);
	put_opt(&p, 4096, 0, 0);
	at = p.n;
	put_tsig(&p);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	assert_int_equal(q.tsig_off, at);
	assert_true(q.has_edns);
}

static void
test_parse_tsig_not_last(void **state)
{
	struct buf p;
	struct dns_query q;

	(void)state;
	make_query(&p, "example.com", TYPE_AXFR, 2);
	put_tsig(&p);
	put_opt(&p, 4096, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	/* Last, but in the answer section. */
	put_header(&p, 1, 0, 1, 1, 0, 0);
	put_question(&p, "example.com", TYPE_AXFR);
	put_tsig(&p);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_int_equal(q.tsig_off, 0);
}

/* ---- dns_skip_name ---- */

static void
test_skip_name(void **state)
{
	static const uint8_t plain[] = "\x01" "a\x02" "bc\x00" "XY";
	static const uint8_t ptr[] = "\x01" "a\xC0\x05" "Z";
	size_t off = 0;

	(void)state;
	assert_int_equal(dns_skip_name(plain, sizeof(plain) - 1, &off), 0);
	assert_int_equal(off, 6);
	off = 0;
	assert_int_equal(dns_skip_name(ptr, sizeof(ptr) - 1, &off), 0);
	assert_int_equal(off, 4); /* the pointer ends it, unfollowed */
	off = 0;
	assert_int_equal(dns_skip_name(ptr, 3, &off), -1); /* half pointer */
	assert_int_equal(off, 0);
	off = 0;
	assert_int_equal(dns_skip_name(plain, 5, &off), -1); /* no root */
	off = 6;
	assert_int_equal(dns_skip_name(plain, 6, &off), -1); /* at the end */
}

static void
test_skip_name_limits(void **state)
{
	uint8_t name[300];
	size_t i, off;

	(void)state;
	for (i = 0; i < 4; i++) {
		name[i * 64] = 63;
		memset(name + i * 64 + 1, 'x', 63);
	}
	name[256] = 0; /* 257 in all */
	off = 0;
	assert_int_equal(dns_skip_name(name, sizeof(name), &off), -1);
	name[3 * 64] = 61; /* 3 * 64 + 62 + 1 = 255 */
	name[3 * 64 + 62] = 0;
	off = 0;
	assert_int_equal(dns_skip_name(name, sizeof(name), &off), 0);
	assert_int_equal(off, DNS_NAME_MAX);
	name[0] = 0x80;
	off = 0;
	assert_int_equal(dns_skip_name(name, sizeof(name), &off), -1);
	name[0] = 0x40;
	assert_int_equal(dns_skip_name(name, sizeof(name), &off), -1);
}

/* ---- name helpers ---- */

static void
test_name_lower(void **state)
{
	uint8_t name[] = "\x03WwW\x05" "A@Z[z\x00";
	static const uint8_t want[] = "\x03www\x05" "a@z[z\x00";
	uint8_t part[] = "\x02" "AB\x02" "CD";

	(void)state;
	dns_name_lower(name, sizeof(name) - 1);
	assert_memory_equal(name, want, sizeof(want));
	/* Never beyond len, even inside a label. */
	dns_name_lower(part, 2);
	assert_memory_equal(part, "\x02" "aB\x02" "CD", 6);
}

static void
test_name_labels_and_len(void **state)
{
	static const uint8_t name[] = "\x03www\x07" "example\x03" "com";
	static const uint8_t root[] = "";

	(void)state;
	assert_int_equal(dns_name_labels(name), 3);
	assert_int_equal(dns_name_labels(root), 0);
	assert_int_equal(dns_name_len(name), sizeof(name));
	assert_int_equal(dns_name_len(root), 1);
	assert_ptr_equal(dns_name_skip_labels(name, 0), name);
	assert_ptr_equal(dns_name_skip_labels(name, 1), name + 4);
	assert_ptr_equal(dns_name_skip_labels(name, 3), name + 16);
	/* Past the root it stays at the root. */
	assert_ptr_equal(dns_name_skip_labels(name, 9), name + 16);
	assert_int_equal(*dns_name_skip_labels(name, 9), 0);
}

static void
test_name_is_under(void **state)
{
	static const uint8_t name[] = "\x03www\x07" "example\x03" "com";
	static const uint8_t zone[] = "\x07" "example\x03" "com";
	static const uint8_t com[] = "\x03" "com";
	static const uint8_t other[] = "\x03" "org";
	static const uint8_t mple[] = "\x04" "mple\x03" "com";
	static const uint8_t root[] = "";

	(void)state;
	assert_true(dns_name_is_under(name, zone));
	assert_true(dns_name_is_under(zone, zone));
	assert_true(dns_name_is_under(name, com));
	assert_true(dns_name_is_under(name, root));
	assert_false(dns_name_is_under(zone, name));
	assert_false(dns_name_is_under(name, other));
	/* Whole labels only: example.com is not under mple.com. */
	assert_false(dns_name_is_under(zone, mple));
	assert_false(dns_name_is_under(root, com));
}

/* ---- dns_add_opt ---- */

static void
test_add_opt(void **state)
{
	uint8_t out[64];
	size_t len = DNS_HEADER_SIZE;

	(void)state;
	memset(out, 0, sizeof(out));
	dns_put16(out + 10, 2);
	assert_int_equal(dns_add_opt(out, &len, sizeof(out), 1232,
				     RCODE_BADVERS, 1), 0);
	assert_int_equal(len, DNS_HEADER_SIZE + 11);
	assert_int_equal(dns_get16(out + 10), 3);
	assert_int_equal(out[12], 0);			  /* root */
	assert_int_equal(dns_get16(out + 13), TYPE_OPT);
	assert_int_equal(dns_get16(out + 15), 1232);	  /* payload */
	assert_int_equal(out[17], 1);			  /* 16 >> 4 */
	assert_int_equal(out[18], 0);			  /* version */
	assert_int_equal(out[19], 0x80);		  /* DO */
	assert_int_equal(dns_get16(out + 21), 0);	  /* rdlength */
}

static void
test_add_opt_plain(void **state)
{
	uint8_t out[DNS_HEADER_SIZE + 11];
	size_t len = DNS_HEADER_SIZE;

	(void)state;
	memset(out, 0xAA, sizeof(out));
	dns_put16(out + 10, 0);
	assert_int_equal(dns_add_opt(out, &len, sizeof(out), 4096,
				     RCODE_NXDOMAIN, 0), 0);
	assert_int_equal(len, sizeof(out)); /* exactly fits */
	assert_int_equal(out[17], 0);
	assert_int_equal(out[19], 0);
	assert_int_equal(dns_get16(out + 10), 1);
}

static void
test_add_opt_no_room(void **state)
{
	uint8_t out[DNS_HEADER_SIZE + 10];
	size_t len = DNS_HEADER_SIZE;

	(void)state;
	memset(out, 0x55, sizeof(out));
	dns_put16(out + 10, 4);
	assert_int_equal(dns_add_opt(out, &len, sizeof(out), 4096, 0, 0), -1);
	assert_int_equal(len, DNS_HEADER_SIZE);
	assert_int_equal(dns_get16(out + 10), 4);
	assert_int_equal(out[DNS_HEADER_SIZE], 0x55); /* nothing written */
}

/* ---- dns_write_reply_head ---- */

static void
test_reply_head(void **state)
{
	struct buf p;
	struct dns_query q;
	uint8_t out[512];
	size_t n;

	(void)state;
	put_header(&p, 0xABCD, FLAG_RD | FLAG_CD | FLAG_RA | FLAG_AD | FLAG_TC,
		   1, 0, 0, 1);
	put_question(&p, "Example.COM", TYPE_SRV);
	put_opt(&p, 4096, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	memset(out, 0xEE, sizeof(out));
	n = dns_write_reply_head(out, p.b, &q, FLAG_AA, RCODE_NXDOMAIN);
	assert_int_equal(n, q.question_end);
	assert_int_equal(dns_get16(out), 0xABCD);
	assert_int_equal(dns_get16(out + 2), FLAG_QR | FLAG_AA | FLAG_RD |
					     FLAG_CD | RCODE_NXDOMAIN);
	assert_int_equal(dns_get16(out + 4), 1);
	assert_int_equal(dns_get16(out + 6), 0);
	assert_int_equal(dns_get16(out + 8), 0);
	assert_int_equal(dns_get16(out + 10), 0);
	/* The question as the client wrote it, case and all. */
	assert_memory_equal(out + DNS_HEADER_SIZE, p.b + DNS_HEADER_SIZE,
			    n - DNS_HEADER_SIZE);
	assert_int_equal(out[n], 0xEE);
}

static void
test_reply_head_opcode_no_rd(void **state)
{
	struct buf p;
	struct dns_query q;
	uint8_t out[512];
	uint16_t flags;

	(void)state;
	put_header(&p, 3, 2u << 11, 1, 0, 0, 0);
	put_question(&p, "example.com", TYPE_A);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	dns_write_reply_head(out, p.b, &q, 0, RCODE_NOTIMP);
	flags = dns_get16(out + 2);
	assert_int_equal((flags >> 11) & 0xF, 2);
	assert_int_equal(flags & (FLAG_RD | FLAG_RA | FLAG_AA | FLAG_CD), 0);
	assert_int_equal(flags & 0xF, RCODE_NOTIMP);
	assert_true(flags & FLAG_QR);
}

/* Only the low four bits of an extended rcode go in the header. */
static void
test_reply_head_extended_rcode(void **state)
{
	struct buf p;
	struct dns_query q;
	uint8_t out[512];

	(void)state;
	make_query(&p, "example.com", TYPE_A, 0);
	assert_int_equal(parse(&p, &q), PARSE_OK);
	dns_write_reply_head(out, p.b, &q, 0, RCODE_BADVERS);
	assert_int_equal(dns_get16(out + 2), FLAG_QR | FLAG_RD);
}

static void
test_reply_head_no_question(void **state)
{
	struct buf p;
	struct dns_query q;
	uint8_t out[512];

	(void)state;
	put_header(&p, 0x4242, FLAG_RD, 0, 0, 0, 0);
	assert_int_equal(parse(&p, &q), PARSE_FORMERR);
	assert_int_equal(dns_write_reply_head(out, p.b, &q, 0, RCODE_FORMERR),
			 DNS_HEADER_SIZE);
	assert_int_equal(dns_get16(out), 0x4242);
	assert_int_equal(dns_get16(out + 2), FLAG_QR | FLAG_RD | RCODE_FORMERR);
	assert_int_equal(dns_get16(out + 4), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_normal),
		cmocka_unit_test(test_parse_opcode),
		cmocka_unit_test(test_parse_root_name),
		cmocka_unit_test(test_parse_edns),
		cmocka_unit_test(test_parse_edns_with_option),
		cmocka_unit_test(test_parse_cookie_lengths),
		cmocka_unit_test(test_parse_two_cookies),
		cmocka_unit_test(test_parse_truncated_option),
		cmocka_unit_test(test_parse_formerr_keeps_opt),
		cmocka_unit_test(test_parse_two_opts),
		cmocka_unit_test(test_parse_opt_not_root),
		cmocka_unit_test(test_parse_opt_in_answer),
		cmocka_unit_test(test_parse_too_short),
		cmocka_unit_test(test_parse_response_dropped),
		cmocka_unit_test(test_parse_qdcount),
		cmocka_unit_test(test_parse_truncated_name),
		cmocka_unit_test(test_parse_label_runs_past_end),
		cmocka_unit_test(test_parse_compressed_question),
		cmocka_unit_test(test_parse_label_too_long),
		cmocka_unit_test(test_parse_name_too_long),
		cmocka_unit_test(test_parse_obsolete_label_types),
		cmocka_unit_test(test_parse_self_pointer_record),
		cmocka_unit_test(test_parse_pointer_edge_cases),
		cmocka_unit_test(test_parse_rdlength_past_end),
		cmocka_unit_test(test_parse_record_header_cut),
		cmocka_unit_test(test_parse_missing_records),
		cmocka_unit_test(test_parse_oversized),
		cmocka_unit_test(test_parse_tsig_last),
		cmocka_unit_test(test_parse_tsig_not_last),
		cmocka_unit_test(test_skip_name),
		cmocka_unit_test(test_skip_name_limits),
		cmocka_unit_test(test_name_lower),
		cmocka_unit_test(test_name_labels_and_len),
		cmocka_unit_test(test_name_is_under),
		cmocka_unit_test(test_add_opt),
		cmocka_unit_test(test_add_opt_plain),
		cmocka_unit_test(test_add_opt_no_room),
		cmocka_unit_test(test_reply_head),
		cmocka_unit_test(test_reply_head_opcode_no_rd),
		cmocka_unit_test(test_reply_head_extended_rcode),
		cmocka_unit_test(test_reply_head_no_question),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
