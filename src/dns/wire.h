/* wire.h -- DNS wire format: bounds-checked reading of queries, names, and
 * the small writes the answer path needs. No allocation: everything works
 * on caller buffers.
 */
#ifndef SRVGATE_DNS_WIRE_H
#define SRVGATE_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_SIZE 12
#define DNS_NAME_MAX 255
#define DNS_LABEL_MAX 63
#define DNS_UDP_DEFAULT 512

enum dns_rcode {
	RCODE_NOERROR = 0, RCODE_FORMERR = 1, RCODE_SERVFAIL = 2,
	RCODE_NXDOMAIN = 3, RCODE_NOTIMP = 4, RCODE_REFUSED = 5,
	RCODE_NOTAUTH = 9, RCODE_BADVERS = 16, /* extended: needs OPT */
	RCODE_BADCOOKIE = 23,
};

enum dns_opcode { OPCODE_QUERY = 0, OPCODE_NOTIFY = 4 };

#define EDNS_OPT_COOKIE 10 /* RFC 7873 */

enum dns_type {
	TYPE_A = 1, TYPE_NS = 2, TYPE_CNAME = 5, TYPE_SOA = 6, TYPE_MX = 15,
	TYPE_AAAA = 28, TYPE_SRV = 33, TYPE_OPT = 41, TYPE_DS = 43,
	TYPE_TSIG = 250, TYPE_IXFR = 251, TYPE_AXFR = 252, TYPE_ANY = 255,
};
#define CLASS_IN 1
#define CLASS_ANY 255

/* Header flag bits, in the 16-bit flags word. */
#define FLAG_QR 0x8000
#define FLAG_AA 0x0400
#define FLAG_TC 0x0200
#define FLAG_RD 0x0100
#define FLAG_RA 0x0080
#define FLAG_AD 0x0020
#define FLAG_CD 0x0010

enum dns_parse {
	PARSE_OK,
	PARSE_DROP,    /* not worth an answer: too short, or a response */
	PARSE_FORMERR, /* answer FORMERR (question echoed when it parsed) */
};

struct dns_query {
	uint16_t id;
	uint16_t flags;
	unsigned opcode;
	uint16_t qdcount, ancount, nscount, arcount;
	size_t qname_off, qname_len; /* the question's name in the packet */
	uint8_t qname[DNS_NAME_MAX]; /* lower-cased copy, wire format */
	uint16_t qtype, qclass;
	size_t question_end; /* offset just past the question */
	int has_question;
	int has_edns; /* a well-formed OPT: every answer carries one */
	uint16_t edns_udp; /* requestor's payload size */
	uint8_t edns_version;
	int edns_do;
	size_t cookie_off;  /* a COOKIE option's data in the packet, 0: none */
	uint16_t cookie_len; /* 8 (client cookie only) or 16 to 40 */
	int bad_cookie;	    /* a COOKIE option of another length: FORMERR */
	size_t tsig_off; /* offset of a TSIG record, 0 if none */
};

/* Parses the header, question and OPT of a query; never reads past len.
 * The OPT is read whatever else is wrong, so that a FORMERR carries one
 * when the query's OPT was well-formed (RFC 6891 7). An OPT outside the
 * additional section, two of them, or options that run past its end are
 * FORMERR without one, as NSD answers. */
enum dns_parse dns_parse_query(const uint8_t *pkt, size_t len,
			       struct dns_query *q);

/* AXFR or IXFR: answered by the transfer module, over TCP only. */
static inline int
dns_query_is_transfer(const struct dns_query *q)
{
	return q->opcode == OPCODE_QUERY &&
	       (q->qtype == TYPE_AXFR || q->qtype == TYPE_IXFR);
}

/* Skips a possibly compressed name at *off; 0 ok, -1 malformed. */
int dns_skip_name(const uint8_t *pkt, size_t len, size_t *off);
/* Reads the possibly compressed name at *off into out (lower-cased, at
 * least DNS_NAME_MAX bytes) and moves *off past it. Returns its length, or
 * 0 when it is malformed or loops. */
size_t dns_read_name(const uint8_t *pkt, size_t len, size_t *off,
		     uint8_t *out);
/* "a.b.c" or "a.b.c." (the final dot is optional: names are absolute) into
 * lower-case wire format. Returns the length, 0 for a bad name. */
size_t dns_name_from_text(const char *text, uint8_t *out);

/* Name helpers over wire-format names. */
void dns_name_lower(uint8_t *name, size_t len);
/* Number of labels of a wire name, not counting the root. */
unsigned dns_name_labels(const uint8_t *name);
/* The wire name left after dropping n leading labels. */
const uint8_t *dns_name_skip_labels(const uint8_t *name, unsigned n);
size_t dns_name_len(const uint8_t *name);
/* 1 when name equals or is below zone (both lower-case wire). */
int dns_name_is_under(const uint8_t *name, const uint8_t *zone);

static inline uint16_t
dns_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void
dns_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t
dns_get32(const uint8_t *p)
{
	return (uint32_t)dns_get16(p) << 16 | dns_get16(p + 2);
}

static inline void
dns_put32(uint8_t *p, uint32_t v)
{
	dns_put16(p, (uint16_t)(v >> 16));
	dns_put16(p + 2, (uint16_t)v);
}

/* Appends an OPT record (payload size, extended rcode bits, DO) at *len.
 * Returns 0, or -1 when it does not fit in cap. */
int dns_add_opt(uint8_t *out, size_t *len, size_t cap, uint16_t payload,
		unsigned rcode, int do_bit);
/* The same with one option (code, data of optlen bytes) in its rdata. */
int dns_add_opt_option(uint8_t *out, size_t *len, size_t cap,
		       uint16_t payload, unsigned rcode, int do_bit,
		       uint16_t code, const uint8_t *data, size_t optlen);

/* Writes a header-and-question-only answer (errors, truncation, negative
 * answers start with it). Returns its length. */
size_t dns_write_reply_head(uint8_t *out, const uint8_t *pkt,
			    const struct dns_query *q, uint16_t flags,
			    unsigned rcode);

#endif
