/* wire.c -- bounds-checked reading of DNS queries and names. */
#include "wire.h"

#include <string.h>

int
dns_skip_name(const uint8_t *pkt, size_t len, size_t *off)
{
	size_t o = *off, total = 0;

	for (;;) {
		uint8_t l;

		if (o >= len)
			return -1;
		l = pkt[o];
		if ((l & 0xC0) == 0xC0) {
			if (o + 2 > len)
				return -1;
			*off = o + 2; /* a pointer ends the name */
			return 0;
		}
		if ((l & 0xC0) != 0)
			return -1; /* 0x40 and 0x80 label types are obsolete */
		o += 1u + l;
		total += 1u + l;
		if (total > DNS_NAME_MAX)
			return -1;
		if (l == 0) {
			*off = o;
			return 0;
		}
	}
}

size_t
dns_read_name(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out)
{
	size_t o = *off, n = 0, end = 0;
	unsigned hops = 0;

	for (;;) {
		uint8_t l;

		if (o >= len)
			return 0;
		l = pkt[o];
		if ((l & 0xC0) == 0xC0) {
			/* Pointers only go back: a message has 16k of them at
			 * most, so this bound also stops loops. */
			if (o + 2 > len || ++hops > 128)
				return 0;
			if (end == 0)
				end = o + 2;
			o = (size_t)(l & 0x3F) << 8 | pkt[o + 1];
			continue;
		}
		if ((l & 0xC0) != 0 || n + 1u + l > DNS_NAME_MAX ||
		    o + 1u + l > len)
			return 0;
		memcpy(out + n, pkt + o, 1u + l);
		n += 1u + l;
		o += 1u + l;
		if (l == 0)
			break;
	}
	*off = end != 0 ? end : o;
	dns_name_lower(out, n);
	return n;
}

size_t
dns_name_from_text(const char *text, uint8_t *out)
{
	size_t n = 0;

	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	while (*text != '\0') {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);

		if (l == 0 || l > DNS_LABEL_MAX || n + 1 + l + 1 > DNS_NAME_MAX)
			return 0;
		out[n++] = (uint8_t)l;
		memcpy(out + n, text, l);
		n += l;
		text += l + (dot != NULL);
	}
	if (n == 0)
		return 0;
	out[n++] = 0;
	dns_name_lower(out, n);
	return n;
}

/* Reads the question name: uncompressed (a query has nothing earlier to
 * point at), labels of at most 63, at most 255 in all. */
static int
read_qname(const uint8_t *pkt, size_t len, struct dns_query *q)
{
	size_t o = DNS_HEADER_SIZE, n = 0;

	for (;;) {
		uint8_t l;

		if (o >= len)
			return -1;
		l = pkt[o];
		if (l > DNS_LABEL_MAX || n + 1u + l > DNS_NAME_MAX ||
		    o + 1u + l > len)
			return -1;
		memcpy(q->qname + n, pkt + o, 1u + l);
		n += 1u + l;
		o += 1u + l;
		if (l == 0)
			break;
	}
	q->qname_off = DNS_HEADER_SIZE;
	q->qname_len = n;
	dns_name_lower(q->qname, n);
	return 0;
}

/* Reads the options of the OPT whose rdata is pkt[o, end): each must fit
 * (RFC 6891 6.1.2); a COOKIE is noted, and is malformed unless it holds
 * a client cookie (8 bytes) and maybe a server cookie (8 to 32 more),
 * once (RFC 7873 5.2.2). */
static int
read_options(const uint8_t *pkt, size_t o, size_t end, struct dns_query *q)
{
	while (o < end) {
		uint16_t code, olen;

		if (o + 4 > end)
			return -1;
		code = dns_get16(pkt + o);
		olen = dns_get16(pkt + o + 2);
		if (o + 4u + olen > end)
			return -1;
		if (code == EDNS_OPT_COOKIE) {
			if (q->cookie_off != 0 ||
			    (olen != 8 && (olen < 16 || olen > 40)))
				q->bad_cookie = 1;
			q->cookie_off = o + 4;
			q->cookie_len = olen;
		}
		o += 4u + olen;
	}
	return 0;
}

/* The OPT record whose name starts at start and fixed part at o: one, in
 * the additional section, owned by the root, with options that fit. */
static int
read_opt(const uint8_t *pkt, size_t start, size_t o, int in_additional,
	 struct dns_query *q)
{
	if (!in_additional || q->has_edns || start + 1 != o || pkt[start] != 0)
		return -1;
	q->edns_udp = dns_get16(pkt + o + 2);
	q->edns_version = pkt[o + 5];
	q->edns_do = (pkt[o + 6] & 0x80) != 0;
	if (read_options(pkt, o + 10, o + 10u + dns_get16(pkt + o + 8), q))
		return -1;
	q->has_edns = 1;
	return 0;
}

/* Walks the records from o on, noting OPT and TSIG. */
static int
read_records(const uint8_t *pkt, size_t len, size_t o, struct dns_query *q)
{
	unsigned total = (unsigned)q->ancount + q->nscount + q->arcount, i;

	for (i = 0; i < total; i++) {
		size_t start = o;
		uint16_t type, rdlen;
		int in_additional = i >= total - q->arcount;

		if (dns_skip_name(pkt, len, &o) != 0 || o + 10 > len)
			return -1;
		type = dns_get16(pkt + o);
		rdlen = dns_get16(pkt + o + 8);
		if (o + 10u + rdlen > len)
			return -1;
		if (type == TYPE_OPT) {
			if (read_opt(pkt, start, o, in_additional, q) != 0)
				return -1;
		} else if (type == TYPE_TSIG) {
			/* TSIG must be the very last record. */
			if (i != total - 1 || !in_additional)
				return -1;
			q->tsig_off = start;
		}
		o += 10u + rdlen;
	}
	return 0;
}

/* The question section: the one question of a query, or (for a FORMERR
 * or NOTIMP that still reads the OPT) as many as there are. Moves *o past
 * it. */
static int
read_questions(const uint8_t *pkt, size_t len, struct dns_query *q,
	       size_t *o)
{
	unsigned i;

	if (q->qdcount == 1) {
		if (read_qname(pkt, len, q) != 0 ||
		    DNS_HEADER_SIZE + q->qname_len + 4 > len)
			return -1;
		q->question_end = DNS_HEADER_SIZE + q->qname_len + 4;
		q->qtype = dns_get16(pkt + q->question_end - 4);
		q->qclass = dns_get16(pkt + q->question_end - 2);
		q->has_question = 1;
		*o = q->question_end;
		return 0;
	}
	for (i = 0; i < q->qdcount; i++)
		if (dns_skip_name(pkt, len, o) != 0 || (*o += 4) > len)
			return -1;
	return 0;
}

enum dns_parse
dns_parse_query(const uint8_t *pkt, size_t len, struct dns_query *q)
{
	size_t o = DNS_HEADER_SIZE;

	memset(q, 0, sizeof(*q));
	if (len < DNS_HEADER_SIZE)
		return PARSE_DROP;
	q->id = dns_get16(pkt);
	q->flags = dns_get16(pkt + 2);
	if (q->flags & FLAG_QR)
		return PARSE_DROP; /* never answer an answer: loops */
	q->opcode = (q->flags >> 11) & 0xF;
	q->qdcount = dns_get16(pkt + 4);
	q->ancount = dns_get16(pkt + 6);
	q->nscount = dns_get16(pkt + 8);
	q->arcount = dns_get16(pkt + 10);
	if (read_questions(pkt, len, q, &o) != 0 ||
	    read_records(pkt, len, o, q) != 0 || q->qdcount != 1 ||
	    q->bad_cookie)
		return PARSE_FORMERR;
	return PARSE_OK;
}

void
dns_name_lower(uint8_t *name, size_t len)
{
	size_t i = 0;

	while (i < len && name[i] != 0) {
		size_t l = name[i], j;

		for (j = i + 1; j <= i + l && j < len; j++)
			if (name[j] >= 'A' && name[j] <= 'Z')
				name[j] = (uint8_t)(name[j] + 32);
		i += l + 1;
	}
}

size_t
dns_name_len(const uint8_t *name)
{
	size_t n = 0;

	while (name[n] != 0)
		n += name[n] + 1u;
	return n + 1;
}

unsigned
dns_name_labels(const uint8_t *name)
{
	unsigned n = 0;

	for (; *name != 0; name += *name + 1)
		n++;
	return n;
}

const uint8_t *
dns_name_skip_labels(const uint8_t *name, unsigned n)
{
	while (n-- > 0 && *name != 0)
		name += *name + 1;
	return name;
}

int
dns_name_is_under(const uint8_t *name, const uint8_t *zone)
{
	unsigned nl = dns_name_labels(name), zl = dns_name_labels(zone);
	const uint8_t *tail;

	if (nl < zl)
		return 0;
	tail = dns_name_skip_labels(name, nl - zl);
	return memcmp(tail, zone, dns_name_len(zone)) == 0;
}

int
dns_add_opt_option(uint8_t *out, size_t *len, size_t cap, uint16_t payload,
		   unsigned rcode, int do_bit, uint16_t code,
		   const uint8_t *data, size_t optlen)
{
	size_t rdlen = data != NULL ? 4 + optlen : 0;
	uint8_t *p = out + *len;

	if (*len + 11 + rdlen > cap)
		return -1;
	p[0] = 0;			     /* root owner */
	dns_put16(p + 1, TYPE_OPT);
	dns_put16(p + 3, payload);
	p[5] = (uint8_t)(rcode >> 4);	     /* extended rcode, upper bits */
	p[6] = 0;			     /* version 0 */
	p[7] = do_bit ? 0x80 : 0;
	p[8] = 0;
	dns_put16(p + 9, (uint16_t)rdlen);
	if (data != NULL) {
		dns_put16(p + 11, code);
		dns_put16(p + 13, (uint16_t)optlen);
		memcpy(p + 15, data, optlen);
	}
	*len += 11 + rdlen;
	dns_put16(out + 10, (uint16_t)(dns_get16(out + 10) + 1));
	return 0;
}

int
dns_add_opt(uint8_t *out, size_t *len, size_t cap, uint16_t payload,
	    unsigned rcode, int do_bit)
{
	return dns_add_opt_option(out, len, cap, payload, rcode, do_bit, 0,
				  NULL, 0);
}

size_t
dns_write_reply_head(uint8_t *out, const uint8_t *pkt,
		     const struct dns_query *q, uint16_t flags, unsigned rcode)
{
	size_t n = DNS_HEADER_SIZE;

	dns_put16(out, q->id);
	/* Keep the opcode, RD and CD of the query; RA is never set. */
	flags |= FLAG_QR | (q->flags & (0x7800 | FLAG_RD | FLAG_CD));
	dns_put16(out + 2, (uint16_t)(flags | (rcode & 0xF)));
	dns_put16(out + 4, q->has_question ? 1 : 0);
	dns_put16(out + 6, 0);
	dns_put16(out + 8, 0);
	dns_put16(out + 10, 0);
	if (q->has_question) {
		memcpy(out + n, pkt + DNS_HEADER_SIZE,
		       q->question_end - DNS_HEADER_SIZE);
		n = q->question_end;
	}
	return n;
}
