/* dns_data.c -- the DNS view's data: one node per owner name and zone in
 * one hash table, the zones that hold them (static files, the token zone)
 * and the token zone's SOA. */
#include "dns_data.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"
#include "util.h"

/* ---- names and nodes ---- */

uint32_t
dns_node_hash(const struct dns_zone *z, const uint8_t *name, size_t len)
{
	uint32_t h = 2166136261u ^ (uint32_t)(uintptr_t)z;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= name[i];
		h *= 16777619u;
	}
	return h % NODE_BUCKETS;
}

struct dns_node *
dns_find_node(const struct dns_data *d, const struct dns_zone *z,
	  const uint8_t *name, size_t len)
{
	struct dns_node *n = d->buckets[dns_node_hash(z, name, len)];

	for (; n != NULL; n = n->hash_next)
		if (n->zone == z && n->name_len == len &&
		    memcmp(n->name, name, len) == 0)
			return n;
	return NULL;
}

struct token_nodes **
dns_token_slot(struct dns_data *d, const char *token)
{
	struct token_nodes **tn = &d->tokens[hash_string(token) % TOKEN_BUCKETS];

	while (*tn != NULL && strcmp((*tn)->token, token) != 0)
		tn = &(*tn)->next;
	return tn;
}

static void
link_token_node(struct dns_data *d, struct dns_node *n, const char *token)
{
	struct token_nodes **slot = dns_token_slot(d, token);

	if (*slot == NULL) {
		*slot = xcalloc(1, sizeof(**slot));
		snprintf((*slot)->token, sizeof((*slot)->token), "%s", token);
	}
	snprintf(n->token, sizeof(n->token), "%s", token);
	n->token_next = (*slot)->head;
	(*slot)->head = n;
}

/* The node for name, made with every empty parent up to the apex. */
struct dns_node *
dns_ensure_node(struct dns_data *d, struct dns_zone *z, const uint8_t *name,
	    const char *token)
{
	size_t len = dns_name_len(name);
	struct dns_node *n = dns_find_node(d, z, name, len);
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
	h = dns_node_hash(z, name, len);
	n->hash_next = d->buckets[h];
	d->buckets[h] = n;
	d->nnodes++;
	if (len > z->apex_len)
		dns_ensure_node(d, z, dns_name_skip_labels(name, 1), token);
	return n;
}

void
dns_chunk_free(struct dns_chunk *c)
{
	free(c->wire);
	memset(c, 0, sizeof(*c));
}

void
dns_node_clear_answers(struct dns_data *d, struct dns_node *n)
{
	size_t i;

	for (i = 0; i < n->nanswers; i++)
		free(n->answers[i].wire);
	d->nanswers -= n->nanswers;
	free(n->answers);
	n->answers = NULL;
	n->nanswers = 0;
	dns_chunk_free(&n->referral);
}

void
dns_node_free(struct dns_data *d, struct dns_node *n)
{
	dns_node_clear_answers(d, n);
	ldns_rr_list_deep_free(n->rrs);
	free(n);
	d->nnodes--;
}

/* The zone a name belongs to: the one with the longest matching apex. */
struct dns_zone *
dns_zone_of(const struct dns_data *d, const uint8_t *name)
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

void
dns_rdf_lower_wire(const ldns_rdf *rdf, uint8_t *out, size_t *len)
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
	dns_rdf_lower_wire(ldns_rr_owner(rr), name, &len);
	if (!dns_name_is_under(name, z->apex))
		return -1;
	n = dns_ensure_node(d, z, name, token);
	ldns_rr_list_push_rr(n->rrs, rr);
	if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS && len != z->apex_len) {
		n->is_cut = 1;
		z->has_cuts = 1;
	}
	return 0;
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
	dns_rdf_lower_wire(origin, z->apex, &z->apex_len);
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

int
dns_load_zones_dir(struct dns_data *d, const char *dir, char *err)
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


ldns_rr *
dns_rr_from_text(const char *fmt, ...)
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
	dns_rdf_lower_wire(ns, name, &len);
	ldns_rdf_deep_free(ns);
	if (!dns_name_is_under(name, z->apex))
		return;
	if (cfg->ns_address == NULL || cfg->ns_address[0] == '\0') {
		log_warn("dns: %s is inside %s but has no address: set "
			 "--ns-address", cfg->ns_name, z->origin);
		return;
	}
	glue = dns_rr_from_text("%s %u IN %s %s", cfg->ns_name, cfg->ttl,
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
	soa = dns_rr_from_text("%s %u IN SOA %s %s 1 3600 600 86400 %u", z->origin,
			   cfg->ttl, cfg->ns_name, cfg->soa_email,
			   cfg->neg_ttl);
	ns = dns_rr_from_text("%s %u IN NS %s", z->origin, cfg->ttl, cfg->ns_name);
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

int
dns_find_token_zone(struct dns_data *d, const struct dns_view_config *cfg,
		char *err)
{
	ldns_rdf *org = ldns_dname_new_frm_str(cfg->zone);
	uint8_t apex[DNS_NAME_MAX];
	size_t len, i;

	if (org == NULL)
		return fail(err, "--zone: '%s' is not a domain name", cfg->zone);
	dns_rdf_lower_wire(org, apex, &len);
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
void
dns_update_serial(struct dns_data *d, const struct registry *reg)
{
	struct dns_zone *z = d->token_zone;

	set_serial(z, z->serial_base + (uint32_t)reg->index);
}
