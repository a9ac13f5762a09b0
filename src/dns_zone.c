/* dns_zone.c -- the DNS view: static zones plus synthesized token records,
 * with answers prepared in wire form when the data changes.
 *
 * Data lives in nodes, one per owner name and zone, in one hash table. Each
 * node keeps its records (ldns) and, per type, a prepared response. A token
 * change rebuilds only that token's nodes and the zone's SOA; a SIGHUP
 * builds a whole new view and swaps it in.
 */
#include "dns_zone.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keypath.h"
#include "registry.h"

#define MAX_ZONES 64
#define NODE_BUCKETS 65536

struct dns_node {
	struct dns_zone *zone;
	uint8_t name[DNS_NAME_MAX];
	size_t name_len;
	ldns_rr_list *rrs;	    /* every record at this name */
	struct dns_answer *answers; /* one per type present */
	size_t nanswers;
	int is_cut;		    /* NS below the apex: a delegation */
	struct dns_chunk referral;
	char token[REGISTRY_NAME_MAX + 1]; /* "" unless synthesized */
	struct dns_node *token_next;	   /* the token's other nodes */
	struct dns_node *hash_next;
};

/* The nodes synthesized for one token, so a change can drop them. */
struct token_nodes {
	char token[REGISTRY_NAME_MAX + 1];
	struct dns_node *head;
	struct token_nodes *next;
};
#define TOKEN_BUCKETS 4096

struct dns_zone {
	char origin[DNS_NAME_MAX + 2]; /* text, with the final dot */
	uint8_t apex[DNS_NAME_MAX];
	size_t apex_len;
	ldns_rr *soa;		/* lives in the apex node's records */
	uint32_t serial_base;	/* token zone: serial = base + index */
	int is_token_zone;
	int has_cuts;
	struct dns_chunk negative;
	struct journal_entry *journal; /* oldest first, for IXFR */
	size_t njournal;
};

/* One change of the token zone: what went and what came, each list led
 * by the SOA it applies to, as IXFR sends them. */
struct journal_entry {
	uint32_t from, to;
	ldns_rr_list *deleted, *added;
};

/* The part of the view a reload replaces whole. */
struct dns_data {
	struct dns_zone *zones[MAX_ZONES];
	size_t nzones;
	struct dns_node **buckets;
	size_t nnodes, nanswers;
	struct dns_zone *token_zone;
	struct token_nodes *tokens[TOKEN_BUCKETS];
};

struct dns_view {
	struct dns_view_config cfg;
	struct registry *reg;
	struct event *apply_ev;
	struct dns_data *data;
	char (*dirty)[REGISTRY_NAME_MAX + 1]; /* tokens changed this round */
	size_t ndirty, dirty_cap;
	dns_change_fn on_change;
	void *on_change_arg;
};

/* ---- names and nodes ---- */

static uint32_t
hash_name(const struct dns_zone *z, const uint8_t *name, size_t len)
{
	uint32_t h = 2166136261u ^ (uint32_t)(uintptr_t)z;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= name[i];
		h *= 16777619u;
	}
	return h % NODE_BUCKETS;
}

static struct dns_node *
find_node(const struct dns_data *d, const struct dns_zone *z,
	  const uint8_t *name, size_t len)
{
	struct dns_node *n = d->buckets[hash_name(z, name, len)];

	for (; n != NULL; n = n->hash_next)
		if (n->zone == z && n->name_len == len &&
		    memcmp(n->name, name, len) == 0)
			return n;
	return NULL;
}

static struct token_nodes **
token_slot(struct dns_data *d, const char *token)
{
	struct token_nodes **tn = &d->tokens[hash_string(token) % TOKEN_BUCKETS];

	while (*tn != NULL && strcmp((*tn)->token, token) != 0)
		tn = &(*tn)->next;
	return tn;
}

static void
link_token_node(struct dns_data *d, struct dns_node *n, const char *token)
{
	struct token_nodes **slot = token_slot(d, token);

	if (*slot == NULL) {
		*slot = xcalloc(1, sizeof(**slot));
		snprintf((*slot)->token, sizeof((*slot)->token), "%s", token);
	}
	snprintf(n->token, sizeof(n->token), "%s", token);
	n->token_next = (*slot)->head;
	(*slot)->head = n;
}

/* The node for name, made with every empty parent up to the apex. */
static struct dns_node *
ensure_node(struct dns_data *d, struct dns_zone *z, const uint8_t *name,
	    const char *token)
{
	size_t len = dns_name_len(name);
	struct dns_node *n = find_node(d, z, name, len);
	uint32_t h;

	if (n != NULL)
		return n;
	n = xcalloc(1, sizeof(*n));
	n->zone = z;
	memcpy(n->name, name, len);
	n->name_len = len;
	n->rrs = ldns_rr_list_new();
	if (token != NULL)
		link_token_node(d, n, token);
	h = hash_name(z, name, len);
	n->hash_next = d->buckets[h];
	d->buckets[h] = n;
	d->nnodes++;
	if (len > z->apex_len)
		ensure_node(d, z, dns_name_skip_labels(name, 1), token);
	return n;
}

static void
chunk_free(struct dns_chunk *c)
{
	free(c->wire);
	memset(c, 0, sizeof(*c));
}

static void
node_clear_answers(struct dns_data *d, struct dns_node *n)
{
	size_t i;

	for (i = 0; i < n->nanswers; i++)
		free(n->answers[i].wire);
	d->nanswers -= n->nanswers;
	free(n->answers);
	n->answers = NULL;
	n->nanswers = 0;
	chunk_free(&n->referral);
}

static void
node_free(struct dns_data *d, struct dns_node *n)
{
	node_clear_answers(d, n);
	ldns_rr_list_deep_free(n->rrs);
	free(n);
	d->nnodes--;
}

/* The zone a name belongs to: the one with the longest matching apex. */
static struct dns_zone *
zone_of(const struct dns_data *d, const uint8_t *name)
{
	struct dns_zone *best = NULL;
	size_t i;

	for (i = 0; i < d->nzones; i++) {
		struct dns_zone *z = d->zones[i];

		if (dns_name_is_under(name, z->apex) &&
		    (best == NULL || z->apex_len > best->apex_len))
			best = z;
	}
	return best;
}

static void
rdf_to_lower_wire(const ldns_rdf *rdf, uint8_t *out, size_t *len)
{
	*len = ldns_rdf_size(rdf);
	memcpy(out, ldns_rdf_data(rdf), *len);
	dns_name_lower(out, *len);
}

/* Files a record under its owner's node; the zone is the one it came in. */
static int
add_rr(struct dns_data *d, struct dns_zone *z, ldns_rr *rr, const char *token)
{
	uint8_t name[DNS_NAME_MAX];
	size_t len;
	struct dns_node *n;

	if (ldns_rdf_size(ldns_rr_owner(rr)) > DNS_NAME_MAX)
		return -1;
	rdf_to_lower_wire(ldns_rr_owner(rr), name, &len);
	if (!dns_name_is_under(name, z->apex))
		return -1;
	n = ensure_node(d, z, name, token);
	ldns_rr_list_push_rr(n->rrs, rr);
	if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS && len != z->apex_len) {
		n->is_cut = 1;
		z->has_cuts = 1;
	}
	return 0;
}

/* ---- preparing answers ---- */

static int
wire_of(ldns_pkt *p, uint8_t **wire, size_t *len)
{
	return ldns_pkt2wire(wire, p, len) == LDNS_STATUS_OK ? 0 : -1;
}

/* Appends the A and AAAA records of a target we serve to the additional
 * section, so that clients need no second query. */
static void
add_addresses(const struct dns_data *d, ldns_pkt *p, const ldns_rdf *target)
{
	uint8_t name[DNS_NAME_MAX];
	const struct dns_zone *z;
	const struct dns_node *n;
	size_t len, i;

	if (ldns_rdf_get_type(target) != LDNS_RDF_TYPE_DNAME ||
	    ldns_rdf_size(target) > DNS_NAME_MAX)
		return;
	rdf_to_lower_wire(target, name, &len);
	z = zone_of(d, name);
	n = z ? find_node(d, z, name, len) : NULL;
	for (i = 0; n != NULL && i < ldns_rr_list_rr_count(n->rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(n->rrs, i);
		ldns_rr_type t = ldns_rr_get_type(rr);

		if (t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA)
			ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL,
					 ldns_rr_clone(rr));
	}
}

/* Which rdata field names a host that wants addresses in additional. */
static int
target_field(ldns_rr_type t)
{
	switch (t) {
	case LDNS_RR_TYPE_SRV: return 3;
	case LDNS_RR_TYPE_NS: return 0;
	case LDNS_RR_TYPE_MX: return 1;
	default: return -1;
	}
}

static int
rdf_order(const ldns_rdf *a, const ldns_rdf *b)
{
	size_t la = ldns_rdf_size(a), lb = ldns_rdf_size(b);
	int c = memcmp(ldns_rdf_data(a), ldns_rdf_data(b), la < lb ? la : lb);

	return c != 0 ? c : (la > lb) - (la < lb);
}

/* Address records by owner, type and address: far cheaper than
 * ldns_rr_compare, which writes both records out in wire form. */
static int
address_order(const void *a, const void *b)
{
	const ldns_rr *x = *(ldns_rr *const *)a, *y = *(ldns_rr *const *)b;
	int c = rdf_order(ldns_rr_owner(x), ldns_rr_owner(y));

	if (c == 0)
		c = (int)ldns_rr_get_type(x) - (int)ldns_rr_get_type(y);
	return c != 0 ? c : rdf_order(ldns_rr_rdf(x, 0), ldns_rr_rdf(y, 0));
}

/* Records sharing a target (one member's two peer URLs) gave its
 * addresses once each: the additional section keeps one of each. */
static void
unique_addresses(ldns_pkt *p)
{
	ldns_rr_list *l = ldns_pkt_additional(p);
	size_t n = ldns_rr_list_rr_count(l), i, kept = 0;
	ldns_rr **v = xmalloc((n ? n : 1) * sizeof(*v));

	for (i = 0; i < n; i++)
		v[i] = ldns_rr_list_rr(l, i);
	qsort(v, n, sizeof(*v), address_order);
	for (i = 0; i < n; i++) {
		if (kept > 0 && address_order(&v[kept - 1], &v[i]) == 0)
			ldns_rr_free(v[i]);
		else
			v[kept++] = v[i];
	}
	for (i = 0; i < kept; i++)
		ldns_rr_list_set_rr(l, v[i], i);
	ldns_rr_list_set_rr_count(l, kept);
	ldns_pkt_set_arcount(p, (uint16_t)kept);
	free(v);
}

static ldns_pkt *
new_response(const struct dns_node *n, uint16_t type)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *q = ldns_rr_new();

	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_aa(p, true);
	ldns_rr_set_owner(q, ldns_dname_new_frm_data((uint16_t)n->name_len,
						     n->name));
	ldns_rr_set_type(q, type);
	ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
	ldns_rr_set_question(q, true);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	return p;
}

static int
prepare_answer(const struct dns_data *d, const struct dns_node *n,
	       uint16_t type, struct dns_answer *out)
{
	ldns_pkt *p = new_response(n, type);
	int field = target_field(type), rc;
	uint8_t *wire = NULL;
	size_t i;

	for (i = 0; i < ldns_rr_list_rr_count(n->rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(n->rrs, i);

		if (ldns_rr_get_type(rr) == type)
			ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
					 ldns_rr_clone(rr));
	}
	/* The answer alone first: what is left when additional must go. */
	rc = wire_of(p, &wire, &out->noadd_len);
	free(wire);
	for (i = 0; rc == 0 && field >= 0 &&
		    i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++)
		add_addresses(d, p, ldns_rr_rdf(ldns_rr_list_rr(
					       ldns_pkt_answer(p), i),
					       (size_t)field));
	unique_addresses(p);
	out->arcount = ldns_pkt_arcount(p);
	out->type = type;
	if (rc == 0)
		rc = wire_of(p, &out->wire, &out->len);
	ldns_pkt_free(p);
	return rc;
}

/* Records as uncompressed wire, for chunks that follow any question. */
static void
append_rr(struct dns_chunk *c, const ldns_rr *rr, int section)
{
	uint8_t *w = NULL;
	size_t n = 0;

	if (ldns_rr2wire(&w, rr, section, &n) != LDNS_STATUS_OK)
		return;
	c->wire = xrealloc(c->wire, c->len + n);
	memcpy(c->wire + c->len, w, n);
	c->len += n;
	free(w);
}

static void
prepare_referral(const struct dns_data *d, struct dns_node *n)
{
	ldns_pkt *glue = ldns_pkt_new();
	size_t i;

	for (i = 0; i < ldns_rr_list_rr_count(n->rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(n->rrs, i);

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS)
			continue;
		append_rr(&n->referral, rr, LDNS_SECTION_AUTHORITY);
		n->referral.nscount++;
		add_addresses(d, glue, ldns_rr_rdf(rr, 0));
	}
	n->referral.noadd_len = n->referral.len;
	for (i = 0; i < ldns_pkt_arcount(glue); i++) {
		append_rr(&n->referral,
			  ldns_rr_list_rr(ldns_pkt_additional(glue), i),
			  LDNS_SECTION_ADDITIONAL);
		n->referral.arcount++;
	}
	ldns_pkt_free(glue);
}

static void
prepare_node(struct dns_data *d, struct dns_node *n)
{
	size_t i, j;

	node_clear_answers(d, n);
	if (n->is_cut)
		prepare_referral(d, n);
	for (i = 0; i < ldns_rr_list_rr_count(n->rrs); i++) {
		uint16_t t = ldns_rr_get_type(ldns_rr_list_rr(n->rrs, i));

		/* At a cut only the DS is the parent's to answer. */
		if (n->is_cut && t != LDNS_RR_TYPE_DS)
			continue;
		for (j = 0; j < n->nanswers; j++)
			if (n->answers[j].type == t)
				break;
		if (j < n->nanswers)
			continue;
		n->answers = xrealloc(n->answers,
				      (n->nanswers + 1) * sizeof(*n->answers));
		memset(&n->answers[n->nanswers], 0, sizeof(*n->answers));
		if (prepare_answer(d, n, t, &n->answers[n->nanswers]) == 0) {
			n->nanswers++;
			d->nanswers++;
		}
	}
}

/* The SOA of negative answers, with the TTL RFC 2308 asks for. */
static void
prepare_negative(struct dns_zone *z)
{
	ldns_rr *soa = ldns_rr_clone(z->soa);
	uint32_t min = ldns_rdf2native_int32(ldns_rr_rdf(soa, 6));

	if (ldns_rr_ttl(soa) < min)
		min = ldns_rr_ttl(soa);
	ldns_rr_set_ttl(soa, min);
	chunk_free(&z->negative);
	append_rr(&z->negative, soa, LDNS_SECTION_AUTHORITY);
	z->negative.nscount = 1;
	z->negative.noadd_len = z->negative.len;
	ldns_rr_free(soa);
}

static void
prepare_all(struct dns_data *d)
{
	size_t i;

	for (i = 0; i < NODE_BUCKETS; i++) {
		struct dns_node *n = d->buckets[i];

		for (; n != NULL; n = n->hash_next)
			prepare_node(d, n);
	}
	for (i = 0; i < d->nzones; i++)
		prepare_negative(d->zones[i]);
}

/* ---- zones ---- */

static struct dns_zone *
zone_new(struct dns_data *d, const ldns_rdf *origin, char *err)
{
	struct dns_zone *z;
	char *text;
	size_t i;

	if (d->nzones == MAX_ZONES) {
		fail(err, "more than %d zones", MAX_ZONES);
		return NULL;
	}
	z = xcalloc(1, sizeof(*z));
	rdf_to_lower_wire(origin, z->apex, &z->apex_len);
	text = ldns_rdf2str(origin);
	for (i = 0; text[i] != '\0' && i + 1 < sizeof(z->origin); i++)
		z->origin[i] = (char)tolower((unsigned char)text[i]);
	free(text);
	for (i = 0; i < d->nzones; i++)
		if (d->zones[i]->apex_len == z->apex_len &&
		    memcmp(d->zones[i]->apex, z->apex, z->apex_len) == 0) {
			fail(err, "zone %s is defined twice", z->origin);
			free(z);
			return NULL;
		}
	d->zones[d->nzones++] = z;
	return z;
}

static int
load_zone_records(struct dns_data *d, struct dns_zone *z, ldns_zone *lz,
		  const char *path, char *err)
{
	ldns_rr_list *rrs = ldns_zone_rrs(lz);
	ldns_rr *soa = ldns_rr_clone(ldns_zone_soa(lz));
	size_t i;

	add_rr(d, z, soa, NULL);
	z->soa = soa;
	for (i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(rrs, i));

		if (add_rr(d, z, rr, NULL) != 0) {
			char *owner = ldns_rdf2str(ldns_rr_owner(rr));

			fail(err, "%s: %s is outside zone %s", path, owner,
			     z->origin);
			free(owner);
			ldns_rr_free(rr);
			return -1;
		}
	}
	return 0;
}

/* ldns counts the newlines it consumes, and by the time it parses an
 * entry it has read the entry's newline and the blank lines after it:
 * step back over those to the entry's own (last) line. */
static int
error_line(FILE *fp, int newlines)
{
	long pos = ftell(fp);

	while (pos > 0 && fseek(fp, pos - 1, SEEK_SET) == 0) {
		int c = fgetc(fp);

		if (c != '\n' && c != '\r' && c != '\f' && c != '\v')
			break;
		newlines -= c == '\n';
		pos--;
	}
	return newlines + 1;
}

/* Parses fp record by record, freeing each: only the syntax is checked.
 * Returns the ldns status; *line is ldns's newline count. */
static ldns_status
check_zone_syntax(FILE *fp, const ldns_rdf *origin, int *line)
{
	ldns_rdf *org = ldns_rdf_clone(origin), *prev = ldns_rdf_clone(origin);
	uint32_t ttl = 3600;
	ldns_status s = LDNS_STATUS_OK;

	while (s == LDNS_STATUS_OK && !feof(fp)) {
		ldns_rr *rr = NULL;

		s = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &org, &prev, line);
		if (rr != NULL)
			ldns_rr_free(rr);
		if (s == LDNS_STATUS_SYNTAX_EMPTY || s == LDNS_STATUS_SYNTAX_TTL ||
		    s == LDNS_STATUS_SYNTAX_ORIGIN)
			s = LDNS_STATUS_OK;
	}
	ldns_rdf_deep_free(org);
	ldns_rdf_deep_free(prev);
	return s == LDNS_STATUS_SYNTAX_INCLUDE ?
		       LDNS_STATUS_SYNTAX_INCLUDE_ERR_NOTIMPL : s;
}

/* ldns_zone_new_frm_fp_l frees only the list, not the records, of a file
 * it gives up on: every SIGHUP with a broken file would leak them. So
 * the syntax is checked first, and only a file that passed is loaded. */
static ldns_status
read_zone(FILE *fp, const ldns_rdf *origin, ldns_zone **lz, int *line)
{
	ldns_status s = check_zone_syntax(fp, origin, line);

	if (s != LDNS_STATUS_OK) {
		*line = error_line(fp, *line);
		return s;
	}
	rewind(fp);
	return ldns_zone_new_frm_fp_l(lz, fp, origin, 3600, LDNS_RR_CLASS_IN,
				      NULL);
}

static int
load_zone_file(struct dns_data *d, const char *dir, const char *file,
	       char *err)
{
	char path[2048], origin[DNS_NAME_MAX + 2];
	size_t n = strlen(file) - strlen(".zone");
	ldns_rdf *org;
	ldns_zone *lz = NULL;
	ldns_status s;
	struct dns_zone *z;
	int line = 0, rc = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	snprintf(origin, sizeof(origin), "%.*s.", (int)n, file);
	org = ldns_dname_new_frm_str(origin);
	if (org == NULL)
		return fail(err, "%s: '%s' is not a zone name", path, origin);
	fp = fopen(path, "r");
	if (fp == NULL) {
		ldns_rdf_deep_free(org);
		return fail(err, "%s: %s", path, strerror(errno));
	}
	s = read_zone(fp, org, &lz, &line);
	fclose(fp);
	if (s != LDNS_STATUS_OK)
		fail(err, "%s:%d: %s", path, line, ldns_get_errorstr_by_id(s));
	else if (ldns_zone_soa(lz) == NULL)
		fail(err, "%s: no SOA record", path);
	else if (ldns_dname_compare(ldns_rr_owner(ldns_zone_soa(lz)), org))
		fail(err, "%s: the SOA is not at %s", path, origin);
	else if ((z = zone_new(d, org, err)) != NULL)
		rc = load_zone_records(d, z, lz, path, err);
	if (lz != NULL)
		ldns_zone_deep_free(lz);
	ldns_rdf_deep_free(org);
	return rc;
}

static int
ends_with_zone(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && strcmp(name + n - 5, ".zone") == 0 && name[0] != '.';
}

static int
load_zones_dir(struct dns_data *d, const char *dir, char *err)
{
	struct dirent **list;
	int n, i, rc = 0;

	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : fail(err, "%s: %s", dir,
						  strerror(errno));
	for (i = 0; i < n; i++) {
		if (rc == 0 && ends_with_zone(list[i]->d_name))
			rc = load_zone_file(d, dir, list[i]->d_name, err);
		free(list[i]);
	}
	free(list);
	return rc;
}

static ldns_rr *
rr_from_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static ldns_rr *
rr_from_text(const char *fmt, ...)
{
	char text[1024];
	ldns_rr *rr = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (ldns_rr_new_frm_str(&rr, text, 3600, NULL, NULL) != LDNS_STATUS_OK)
		return NULL;
	return rr;
}

/* An NS inside the zone needs an address record, or secondaries and
 * zone checkers reject the zone. */
static void
add_ns_glue(struct dns_data *d, struct dns_zone *z,
	    const struct dns_view_config *cfg)
{
	ldns_rdf *ns = ldns_dname_new_frm_str(cfg->ns_name);
	uint8_t name[DNS_NAME_MAX];
	size_t len;
	ldns_rr *glue;

	if (ns == NULL)
		return;
	rdf_to_lower_wire(ns, name, &len);
	ldns_rdf_deep_free(ns);
	if (!dns_name_is_under(name, z->apex))
		return;
	if (cfg->ns_address == NULL || cfg->ns_address[0] == '\0') {
		log_warn("dns: %s is inside %s but has no address: set "
			 "--ns-address", cfg->ns_name, z->origin);
		return;
	}
	glue = rr_from_text("%s %u IN %s %s", cfg->ns_name, cfg->ttl,
			    strchr(cfg->ns_address, ':') ? "AAAA" : "A",
			    cfg->ns_address);
	if (glue != NULL)
		add_rr(d, z, glue, NULL);
	else
		log_warn("dns: --ns-address '%s' is not an IP address",
			 cfg->ns_address);
}

/* Without a zone file, the token zone gets an SOA and NS from flags. */
static int
generate_token_zone(struct dns_data *d, const struct dns_view_config *cfg,
		    char *err)
{
	ldns_rdf *org = ldns_dname_new_frm_str(cfg->zone);
	struct dns_zone *z;
	ldns_rr *soa, *ns;

	if (org == NULL)
		return fail(err, "--zone: '%s' is not a domain name", cfg->zone);
	z = zone_new(d, org, err);
	ldns_rdf_deep_free(org);
	if (z == NULL)
		return -1;
	soa = rr_from_text("%s %u IN SOA %s %s 1 3600 600 86400 %u", z->origin,
			   cfg->ttl, cfg->ns_name, cfg->soa_email,
			   cfg->neg_ttl);
	ns = rr_from_text("%s %u IN NS %s", z->origin, cfg->ttl, cfg->ns_name);
	if (soa == NULL || ns == NULL) {
		ldns_rr_free(soa);
		ldns_rr_free(ns);
		return fail(err, "--ns-name '%s' or --soa-email '%s' is not a "
			    "domain name", cfg->ns_name, cfg->soa_email);
	}
	add_rr(d, z, soa, NULL);
	add_rr(d, z, ns, NULL);
	add_ns_glue(d, z, cfg);
	z->soa = soa;
	z->serial_base = 1;
	z->is_token_zone = 1;
	d->token_zone = z;
	return 0;
}

static int
find_token_zone(struct dns_data *d, const struct dns_view_config *cfg,
		char *err)
{
	ldns_rdf *org = ldns_dname_new_frm_str(cfg->zone);
	uint8_t apex[DNS_NAME_MAX];
	size_t len, i;

	if (org == NULL)
		return fail(err, "--zone: '%s' is not a domain name", cfg->zone);
	rdf_to_lower_wire(org, apex, &len);
	ldns_rdf_deep_free(org);
	for (i = 0; i < d->nzones; i++)
		if (d->zones[i]->apex_len == len &&
		    memcmp(d->zones[i]->apex, apex, len) == 0)
			d->token_zone = d->zones[i];
	if (d->token_zone == NULL)
		return generate_token_zone(d, cfg, err);
	/* The file's serial is the base: bump it when editing the file. */
	d->token_zone->is_token_zone = 1;
	d->token_zone->serial_base =
		ldns_rdf2native_int32(ldns_rr_rdf(d->token_zone->soa, 2));
	return 0;
}

static void
set_serial(struct dns_zone *z, uint32_t serial)
{
	ldns_rdf *old = ldns_rr_set_rdf(
		z->soa, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, serial), 2);

	ldns_rdf_deep_free(old);
}

/* The token zone's serial follows the registry's durable index, so it
 * grows with every change and across restarts. */
static void
update_serial(struct dns_data *d, const struct registry *reg)
{
	struct dns_zone *z = d->token_zone;

	set_serial(z, z->serial_base + (uint32_t)reg->index);
}

/* ---- records synthesized from the registry ---- */

/* Adds rr to a node the token owns; never into static data. Duplicates
 * (two members with one URL) go when the token is finished. */
static void
add_token_rr(struct dns_data *d, const char *token, ldns_rr *rr)
{
	struct dns_zone *z = d->token_zone;
	uint8_t name[DNS_NAME_MAX];
	struct dns_node *n;
	size_t len;

	if (rr == NULL)
		return;
	rdf_to_lower_wire(ldns_rr_owner(rr), name, &len);
	n = find_node(d, z, name, len);
	if (n != NULL && strcmp(n->token, token) != 0) {
		ldns_rr_free(rr);
		return;
	}
	n = ensure_node(d, z, name, token);
	ldns_rr_list_push_rr(n->rrs, rr);
}

static int
rr_order(const void *a, const void *b)
{
	return ldns_rr_compare(*(ldns_rr *const *)a, *(ldns_rr *const *)b);
}

/* Sorts a list in ldns_rr_compare order; sorted lists diff in one pass. */
static void
sort_rrs(ldns_rr_list *l)
{
	size_t n = ldns_rr_list_rr_count(l);
	ldns_rr **v = xmalloc((n ? n : 1) * sizeof(*v));
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = ldns_rr_list_rr(l, i);
	qsort(v, n, sizeof(*v), rr_order);
	for (i = 0; i < n; i++)
		ldns_rr_list_set_rr(l, v[i], i);
	free(v);
}

/* Sorts a node's records and drops repeats. */
static void
sort_unique(ldns_rr_list *l)
{
	size_t n = ldns_rr_list_rr_count(l), i, kept = 0;

	sort_rrs(l);
	for (i = 0; i < n; i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);

		if (kept > 0 &&
		    ldns_rr_compare(ldns_rr_list_rr(l, kept - 1), rr) == 0) {
			ldns_rr_free(rr);
			continue;
		}
		ldns_rr_list_set_rr(l, rr, kept++);
	}
	ldns_rr_list_set_rr_count(l, kept);
}

/* The SRV (and, for IP peers, A or AAAA) records of one URL, under
 * `base`: the token's name or one of its aliases. */
static void
publish_url(struct dns_data *d, const struct dns_view_config *cfg,
	    const char *token, const char *base, const char *service,
	    const char *member_id, const struct peer_url *pu)
{
	const char *origin = d->token_zone->origin;
	const char *ssl = strcmp(pu->scheme, "https") == 0 ? "-ssl" : "";
	char target[2 * DNS_NAME_MAX + 2 * REGISTRY_NAME_MAX + 4];

	if (strcmp(pu->scheme, "http") != 0 && strcmp(pu->scheme, "https"))
		return; /* unix sockets have no place in DNS */
	if (pu->host_is_ip) {
		snprintf(target, sizeof(target), "%s.%s.%s", member_id, base,
			 origin);
		add_token_rr(d, token,
			     rr_from_text("%s %u IN %s %s", target, cfg->ttl,
					  strchr(pu->host, ':') ? "AAAA" : "A",
					  pu->host));
	} else {
		size_t n = strlen(pu->host);

		snprintf(target, sizeof(target), "%s%s", pu->host,
			 n > 0 && pu->host[n - 1] == '.' ? "" : ".");
	}
	add_token_rr(d, token,
		     rr_from_text("_etcd-%s%s._tcp.%s.%s %u IN SRV 0 0 %u %s",
				  service, ssl, base, origin, cfg->ttl,
				  pu->port, target));
	if (strcmp(service, "server") == 0 && cfg->srv_name != NULL &&
	    cfg->srv_name[0] != '\0')
		add_token_rr(d, token,
			     rr_from_text("_etcd-server%s-%s._tcp.%s.%s %u IN "
					  "SRV 0 0 %u %s",
					  ssl, cfg->srv_name, base, origin,
					  cfg->ttl, pu->port, target));
}

/* Client URLs are bare URLs; the peer parser wants name=url. */
static int
parse_clients(const char *clients, struct peer_url *out, size_t max)
{
	char buf[4096];
	size_t n = 0;
	const char *p = clients;

	while (*p != '\0' && n + 3 < sizeof(buf)) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (n + len + 4 >= sizeof(buf))
			return -1;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sc=%.*s",
				      n ? "," : "", (int)len, p);
		p += len + (comma != NULL);
	}
	buf[n] = '\0';
	return peers_parse(buf, out, max, NULL);
}

static void
publish_member(struct dns_data *d, const struct dns_view_config *cfg,
	       const char *token, const char *base, const struct member *m)
{
	struct peer_url urls[PEERS_MAX];
	int j, n = peers_parse(m->value, urls, PEERS_MAX, NULL);

	for (j = 0; j < n; j++)
		publish_url(d, cfg, token, base, "server", m->id, &urls[j]);
	n = m->clients ? parse_clients(m->clients, urls, PEERS_MAX) : 0;
	for (j = 0; j < n; j++)
		publish_url(d, cfg, token, base, "client", m->id, &urls[j]);
}

static void
synthesize_under(struct dns_data *d, const struct dns_view_config *cfg,
		 const struct token *tok, const char *base)
{
	size_t i, n = token_cluster_size(tok);

	for (i = 0; i < n; i++)
		publish_member(d, cfg, tok->name, base, &tok->members[i]);
}

/* The token's records under its own name and under each alias. */
static void
synthesize_token(struct dns_data *d, const struct dns_view_config *cfg,
		 const struct registry *reg, const struct token *tok)
{
	size_t i;

	synthesize_under(d, cfg, tok, tok->name);
	for (i = 0; i < reg->naliases; i++)
		if (strcmp(reg->aliases[i].token, tok->name) == 0)
			synthesize_under(d, cfg, tok, reg->aliases[i].name);
}

static void
unlink_node(struct dns_data *d, struct dns_node *n)
{
	struct dns_node **pp =
		&d->buckets[hash_name(n->zone, n->name, n->name_len)];

	while (*pp != n)
		pp = &(*pp)->hash_next;
	*pp = n->hash_next;
}

static void
drop_token_nodes(struct dns_data *d, const char *token)
{
	struct token_nodes **slot = token_slot(d, token), *tn = *slot;
	struct dns_node *n, *next;

	if (tn == NULL)
		return;
	for (n = tn->head; n != NULL; n = next) {
		next = n->token_next;
		unlink_node(d, n);
		node_free(d, n);
	}
	*slot = tn->next;
	free(tn);
}

/* Sorts a token's nodes and drops repeats: two members with one URL, or
 * one IP in a peer and a client URL. */
static void
unique_token_nodes(struct dns_data *d, const char *token)
{
	struct token_nodes *tn = *token_slot(d, token);
	struct dns_node *n;

	for (n = tn ? tn->head : NULL; n != NULL; n = n->token_next)
		sort_unique(n->rrs);
}

/* Every node is unique before any is prepared: an answer's additional
 * section copies the address records of other nodes. */
static void
prepare_token_nodes(struct dns_data *d, const char *token)
{
	struct token_nodes *tn = *token_slot(d, token);
	struct dns_node *n;

	unique_token_nodes(d, token);
	for (n = tn ? tn->head : NULL; n != NULL; n = n->token_next)
		prepare_node(d, n);
}

/* ---- the journal of differences, for IXFR ---- */

static void
journal_clear(struct dns_zone *z)
{
	size_t i;

	for (i = 0; i < z->njournal; i++) {
		ldns_rr_list_deep_free(z->journal[i].deleted);
		ldns_rr_list_deep_free(z->journal[i].added);
	}
	free(z->journal);
	z->journal = NULL;
	z->njournal = 0;
}

/* Clones of every record synthesized for a token. */
static ldns_rr_list *
token_records(struct dns_data *d, const char *token)
{
	struct token_nodes *tn = *token_slot(d, token);
	ldns_rr_list *out = ldns_rr_list_new();
	struct dns_node *n;
	size_t i;

	for (n = tn ? tn->head : NULL; n != NULL; n = n->token_next)
		for (i = 0; i < ldns_rr_list_rr_count(n->rrs); i++)
			ldns_rr_list_push_rr(out, ldns_rr_clone(
						  ldns_rr_list_rr(n->rrs, i)));
	return out;
}

/* Both lists sorted: clones of what only `a` has go onto a_only, of what
 * only `b` has onto b_only. */
static void
diff_sorted(const ldns_rr_list *a, const ldns_rr_list *b,
	    ldns_rr_list *a_only, ldns_rr_list *b_only)
{
	size_t i = 0, j = 0, na = ldns_rr_list_rr_count(a),
	       nb = ldns_rr_list_rr_count(b);

	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 :
			ldns_rr_compare(ldns_rr_list_rr(a, i),
					ldns_rr_list_rr(b, j));

		if (c < 0)
			ldns_rr_list_push_rr(a_only, ldns_rr_clone(
						     ldns_rr_list_rr(a, i++)));
		else if (c > 0)
			ldns_rr_list_push_rr(b_only, ldns_rr_clone(
						     ldns_rr_list_rr(b, j++)));
		else
			i++, j++;
	}
}

/* A new list of first followed by rest's records; rest is used up. */
static ldns_rr_list *
lead_with(ldns_rr *first, ldns_rr_list *rest)
{
	ldns_rr_list *l = ldns_rr_list_new();

	ldns_rr_list_push_rr(l, first);
	ldns_rr_list_cat(l, rest);
	ldns_rr_list_free(rest);
	return l;
}

static void
journal_add(struct dns_zone *z, struct journal_entry *e, size_t max)
{
	if (max == 0) {
		ldns_rr_list_deep_free(e->deleted);
		ldns_rr_list_deep_free(e->added);
		return;
	}
	if (z->njournal == max) {
		ldns_rr_list_deep_free(z->journal[0].deleted);
		ldns_rr_list_deep_free(z->journal[0].added);
		memmove(z->journal, z->journal + 1,
			(max - 1) * sizeof(*z->journal));
		z->njournal--;
	}
	z->journal = xrealloc(z->journal,
			      (z->njournal + 1) * sizeof(*z->journal));
	z->journal[z->njournal++] = *e;
}

/* ---- whole views ---- */

static void
data_free(struct dns_data *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < NODE_BUCKETS; i++) {
		struct dns_node *n = d->buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->hash_next;
			node_free(d, n);
		}
	}
	for (i = 0; i < TOKEN_BUCKETS; i++) {
		struct token_nodes *tn = d->tokens[i], *next;

		for (; tn != NULL; tn = next) {
			next = tn->next;
			free(tn);
		}
	}
	for (i = 0; i < d->nzones; i++) {
		journal_clear(d->zones[i]);
		chunk_free(&d->zones[i]->negative);
		free(d->zones[i]);
	}
	free(d->buckets);
	free(d);
}

struct synth_all {
	struct dns_data *d;
	const struct dns_view_config *cfg;
	const struct registry *reg;
};

/* Unique, as a rebuild leaves them: otherwise repeats are served until
 * the next change, whose journal entry then deletes the one that stays. */
static void
synthesize_one(const struct token *tok, void *arg)
{
	struct synth_all *s = arg;

	synthesize_token(s->d, s->cfg, s->reg, tok);
	unique_token_nodes(s->d, tok->name);
}

static struct dns_data *
data_build(const struct dns_view_config *cfg, const struct registry *reg,
	   char *err)
{
	struct dns_data *d = xcalloc(1, sizeof(*d));
	struct synth_all s = { d, cfg, reg };

	d->buckets = xcalloc(NODE_BUCKETS, sizeof(*d->buckets));
	if (load_zones_dir(d, cfg->zones_dir, err) != 0 ||
	    find_token_zone(d, cfg, err) != 0) {
		data_free(d);
		return NULL;
	}
	registry_foreach_token(reg, synthesize_one, &s);
	update_serial(d, reg);
	prepare_all(d);
	return d;
}

/* ---- the view ---- */

static void
mark_dirty(struct dns_view *v, const char *token)
{
	size_t i;

	for (i = 0; i < v->ndirty; i++)
		if (strcmp(v->dirty[i], token) == 0)
			return;
	if (v->ndirty == v->dirty_cap) {
		v->dirty_cap = v->dirty_cap ? v->dirty_cap * 2 : 16;
		v->dirty = xrealloc(v->dirty, v->dirty_cap * sizeof(*v->dirty));
	}
	snprintf(v->dirty[v->ndirty++], sizeof(v->dirty[0]), "%s", token);
	if (v->ndirty == 1)
		event_active(v->apply_ev, 0, 0);
}

/* Whether a member at created_index is among the published first `size`:
 * changes to the others (etcd's proxies, late joiners) leave DNS alone. */
static int
published(const struct token *tok, uint64_t created_index)
{
	return tok->nmembers < tok->size ||
	       created_index <= tok->members[tok->size - 1].created_index;
}

static void
on_registry_event(const struct registry_event *ev, void *arg)
{
	const struct token *tok = ev->token;

	if (ev->type == EV_TOKEN_CREATED)
		return; /* no members yet: nothing to publish */
	if ((ev->type == EV_MEMBER_SET || ev->type == EV_MEMBER_DELETED) &&
	    !published(tok, ev->member->created_index))
		return;
	mark_dirty(arg, tok->name);
}

/* Rebuilds one token's nodes, noting the difference in the journal entry. */
static void
rebuild_token(struct dns_view *v, const char *name, struct journal_entry *e)
{
	struct dns_data *d = v->data;
	const struct token *tok = registry_find_token(v->reg, name);
	ldns_rr_list *before = token_records(d, name), *after;

	drop_token_nodes(d, name);
	if (tok != NULL) {
		synthesize_token(d, &v->cfg, v->reg, tok);
		prepare_token_nodes(d, name);
	}
	after = token_records(d, name);
	sort_rrs(before);
	sort_rrs(after);
	diff_sorted(before, after, e->deleted, e->added);
	ldns_rr_list_deep_free(before);
	ldns_rr_list_deep_free(after);
}

/* Rebuilds the tokens changed in this loop iteration, and the SOA. */
static void
apply_changes(evutil_socket_t fd, short what, void *arg)
{
	struct dns_view *v = arg;
	struct dns_data *d = v->data;
	struct dns_zone *z = d->token_zone;
	struct journal_entry e;
	size_t i;

	(void)fd;
	(void)what;
	e.from = ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
	e.deleted = lead_with(ldns_rr_clone(z->soa), ldns_rr_list_new());
	e.added = ldns_rr_list_new();
	for (i = 0; i < v->ndirty; i++)
		rebuild_token(v, v->dirty[i], &e);
	v->ndirty = 0;
	update_serial(d, v->reg);
	e.to = ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
	e.added = lead_with(ldns_rr_clone(z->soa), e.added);
	journal_add(z, &e, v->cfg.journal_max);
	prepare_node(d, find_node(d, z, z->apex, z->apex_len));
	prepare_negative(z);
	if (v->on_change != NULL)
		v->on_change(z->origin, v->on_change_arg);
}

struct dns_view *
dns_view_new(const struct dns_view_config *cfg, struct registry *reg,
	     struct event_base *base, char *err)
{
	struct dns_view *v = xcalloc(1, sizeof(*v));

	v->cfg = *cfg;
	v->reg = reg;
	v->data = data_build(cfg, reg, err);
	if (v->data == NULL) {
		free(v);
		return NULL;
	}
	v->apply_ev = event_new(base, -1, 0, apply_changes, v);
	if (registry_subscribe(reg, on_registry_event, v) != 0) {
		dns_view_free(v);
		fail(err, "too many registry listeners");
		return NULL;
	}
	return v;
}

static void
notify_all(struct dns_view *v)
{
	size_t i;

	for (i = 0; v->on_change != NULL && i < v->data->nzones; i++)
		v->on_change(v->data->zones[i]->origin, v->on_change_arg);
}

int
dns_view_reload(struct dns_view *v, char *err)
{
	struct dns_data *d = data_build(&v->cfg, v->reg, err);

	if (d == NULL)
		return -1;
	data_free(v->data);
	v->data = d;
	v->ndirty = 0; /* the new build has every token as it is now */
	notify_all(v);
	return 0;
}

void
dns_view_lookup(const struct dns_view *v, const uint8_t *qname,
		uint16_t qtype, struct dns_lookup *out)
{
	const struct dns_data *d = v->data;
	const struct dns_zone *z = zone_of(d, qname);
	const struct dns_node *n;
	size_t len = dns_name_len(qname), i;

	memset(out, 0, sizeof(*out));
	out->kind = LOOKUP_REFUSED;
	if (z == NULL)
		return;
	out->zone = z;
	if (z->has_cuts) {
		/* The parent side of a cut answers for its DS (RFC 4035
		 * 3.1.4.1): the search for cuts starts above such a name. */
		const uint8_t *up = qtype == LDNS_RR_TYPE_DS ?
			dns_name_skip_labels(qname, 1) : qname;

		for (; dns_name_len(up) > z->apex_len;
		     up = dns_name_skip_labels(up, 1)) {
			n = find_node(d, z, up, dns_name_len(up));
			if (n != NULL && n->is_cut) {
				out->kind = LOOKUP_REFERRAL;
				out->chunk = &n->referral;
				return;
			}
		}
	}
	n = find_node(d, z, qname, len);
	out->chunk = &z->negative;
	if (n == NULL) {
		out->kind = LOOKUP_NXDOMAIN;
		return;
	}
	out->kind = LOOKUP_NODATA;
	for (i = 0; i < n->nanswers; i++)
		if (n->answers[i].type == qtype ||
		    n->answers[i].type == TYPE_CNAME ||
		    (qtype == TYPE_ANY && i == 0)) {
			out->kind = LOOKUP_ANSWER;
			out->answer = &n->answers[i];
			if (n->answers[i].type == qtype)
				return;
		}
}

uint32_t
dns_view_serial(const struct dns_view *v, const char *zone)
{
	size_t i;

	for (i = 0; i < v->data->nzones; i++) {
		const struct dns_zone *z = v->data->zones[i];

		if ((zone == NULL && z->is_token_zone) ||
		    (zone != NULL && strcmp(z->origin, zone) == 0))
			return ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
	}
	return 0;
}

size_t
dns_view_zone_count(const struct dns_view *v)
{
	return v->data->nzones;
}

size_t
dns_view_answer_count(const struct dns_view *v)
{
	return v->data->nanswers;
}

void
dns_view_free(struct dns_view *v)
{
	if (v == NULL)
		return;
	if (v->apply_ev != NULL)
		event_free(v->apply_ev);
	data_free(v->data);
	free(v->dirty);
	free(v);
}

/* ---- zone transfers ---- */

const struct dns_zone *
dns_view_find_zone(const struct dns_view *v, const uint8_t *apex)
{
	size_t i, len = dns_name_len(apex);

	for (i = 0; i < v->data->nzones; i++) {
		const struct dns_zone *z = v->data->zones[i];

		if (z->apex_len == len && memcmp(z->apex, apex, len) == 0)
			return z;
	}
	return NULL;
}

const char *
dns_zone_origin(const struct dns_zone *z)
{
	return z->origin;
}

uint32_t
dns_zone_serial(const struct dns_zone *z)
{
	return ldns_rdf2native_int32(ldns_rr_rdf(z->soa, 2));
}

ldns_rr_list *
dns_view_axfr(const struct dns_view *v, const struct dns_zone *z)
{
	ldns_rr_list *out = ldns_rr_list_new();
	size_t i, j;

	ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
	for (i = 0; i < NODE_BUCKETS; i++) {
		const struct dns_node *n = v->data->buckets[i];

		for (; n != NULL; n = n->hash_next) {
			if (n->zone != z)
				continue;
			for (j = 0; j < ldns_rr_list_rr_count(n->rrs); j++) {
				ldns_rr *rr = ldns_rr_list_rr(n->rrs, j);

				if (rr != z->soa)
					ldns_rr_list_push_rr(out,
							     ldns_rr_clone(rr));
			}
		}
	}
	ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
	return out;
}

static void
append_clones(ldns_rr_list *to, const ldns_rr_list *from)
{
	size_t i;

	for (i = 0; i < ldns_rr_list_rr_count(from); i++)
		ldns_rr_list_push_rr(to, ldns_rr_clone(ldns_rr_list_rr(from,
									  i)));
}

ldns_rr_list *
dns_view_ixfr(const struct dns_view *v, const struct dns_zone *z,
	      uint32_t from)
{
	ldns_rr_list *out;
	size_t i;

	(void)v;
	/* Up to date, or newer than us in serial arithmetic (RFC 1982): the
	 * SOA alone says so (RFC 1995 section 2), as other servers answer;
	 * the whole zone would be an older copy the client ignores. */
	if ((int32_t)(from - dns_zone_serial(z)) >= 0) {
		out = ldns_rr_list_new();
		ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
		return out;
	}
	for (i = 0; i < z->njournal && z->journal[i].from != from; i++)
		;
	if (i == z->njournal)
		return NULL;
	out = ldns_rr_list_new();
	ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
	for (; i < z->njournal; i++) {
		append_clones(out, z->journal[i].deleted);
		append_clones(out, z->journal[i].added);
	}
	ldns_rr_list_push_rr(out, ldns_rr_clone(z->soa));
	return out;
}

void
dns_view_on_change(struct dns_view *v, dns_change_fn fn, void *arg)
{
	v->on_change = fn;
	v->on_change_arg = arg;
}
