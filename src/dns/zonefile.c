/* zonefile.c -- zone files, read with ldns, kept as wire records. */
#include "zonefile.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "htable.h"
#include "serial.h"
#include "util.h"

/* A record's rdata fields, one after another, as they go on the wire. */
static size_t
rdata_of(const ldns_rr *rr, uint8_t *out, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);

		if (n + ldns_rdf_size(f) > cap)
			return SIZE_MAX;
		memcpy(out + n, ldns_rdf_data(f), ldns_rdf_size(f));
		n += ldns_rdf_size(f);
	}
	return n;
}

/* Files one record of zone z; the SOA becomes the zone's. */
static int
add_record(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
	   const ldns_rr *rr)
{
	const ldns_rdf *owner = ldns_rr_owner(rr);
	uint8_t name[DNS_NAME_MAX], rdata[65535];
	size_t len = ldns_rdf_size(owner), rdlen;
	struct dns_rr *added;

	if (len > DNS_NAME_MAX)
		return -1;
	memcpy(name, ldns_rdf_data(owner), len);
	dns_name_lower(name, len);
	rdlen = rdata_of(rr, rdata, sizeof(rdata));
	if (!dns_name_is_under(name, z->apex) || rdlen == SIZE_MAX)
		return -1;
	added = dns_add_static(d, b, z, name, len, ldns_rr_get_type(rr),
			       ldns_rr_ttl(rr), rdata, (uint16_t)rdlen);
	if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && z->soa == NULL &&
	    len == z->apex_len) {
		z->soa = added;
		z->serial_at = dns_name_len(rdata);
		z->serial_at += dns_name_len(rdata + z->serial_at);
	}
	return 0;
}

static int
load_records(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
	     ldns_zone *lz, const char *path, char *err)
{
	ldns_rr_list *rrs = ldns_zone_rrs(lz);
	size_t i;

	add_record(d, b, z, ldns_zone_soa(lz));
	for (i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(rrs, i);

		if (add_record(d, b, z, rr) != 0) {
			char *owner = ldns_rdf2str(ldns_rr_owner(rr));

			fail(err, "%s: %s is outside zone %s", path, owner,
			     z->origin);
			free(owner);
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

/* The pre-pass: parses fp record by record, freeing each, so that
 * nothing ldns_zone_new_frm_fp_l would choke on reaches it. Besides the
 * syntax that is a second SOA: ldns 1.8.3 frees it but keeps it as the
 * previous record, and reads it again for the next record without an
 * explicit TTL (a use-after-free that three SOAs show). Returns 0, or -1
 * with why and *line, ldns's newline count. */
static int
prepass(FILE *fp, const ldns_rdf *origin, int *line, const char **why)
{
	ldns_rdf *org = ldns_rdf_clone(origin), *prev = ldns_rdf_clone(origin);
	uint32_t ttl = 3600;
	ldns_status s = LDNS_STATUS_OK;
	unsigned soas = 0;

	*why = NULL;
	while (*why == NULL && !feof(fp)) {
		ldns_rr *rr = NULL;

		s = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &org, &prev, line);
		if (s == LDNS_STATUS_OK && rr != NULL &&
		    ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ++soas > 1)
			*why = "a second SOA record (a zone has one, at its "
			       "apex)";
		if (rr != NULL)
			ldns_rr_free(rr);
		if (s == LDNS_STATUS_SYNTAX_INCLUDE)
			s = LDNS_STATUS_SYNTAX_INCLUDE_ERR_NOTIMPL;
		if (s != LDNS_STATUS_OK && s != LDNS_STATUS_SYNTAX_EMPTY &&
		    s != LDNS_STATUS_SYNTAX_TTL && s != LDNS_STATUS_SYNTAX_ORIGIN)
			*why = ldns_get_errorstr_by_id(s);
	}
	ldns_rdf_deep_free(org);
	ldns_rdf_deep_free(prev);
	return *why != NULL ? -1 : 0;
}

/* ldns_zone_new_frm_fp_l frees only the list, not the records, of a file
 * it gives up on (every SIGHUP with a broken file would leak them), and
 * has the use-after-free above: only a file the pre-pass passed reaches
 * it. */
static int
read_zone(FILE *fp, const ldns_rdf *origin, ldns_zone **lz,
	  const char *path, char *err)
{
	const char *why;
	int line = 0;
	ldns_status s;

	if (prepass(fp, origin, &line, &why) != 0)
		return fail(err, "%s:%d: %s", path, error_line(fp, line), why);
	rewind(fp);
	line = 0;
	s = ldns_zone_new_frm_fp_l(lz, fp, origin, 3600, LDNS_RR_CLASS_IN,
				   &line);
	if (s != LDNS_STATUS_OK)
		return fail(err, "%s:%d: %s", path, error_line(fp, line),
			    ldns_get_errorstr_by_id(s));
	return 0;
}

/* Two names and five 32-bit fields: what every reader of the SOA (the
 * serial, negative answers) takes for granted. ldns also accepts an SOA
 * in RFC 3597 generic form, or with a stray \\#, which are neither. */
static int
soa_well_formed(const ldns_rr *soa)
{
	size_t i;

	if (ldns_rr_rd_count(soa) != 7 ||
	    ldns_rdf_get_type(ldns_rr_rdf(soa, 0)) != LDNS_RDF_TYPE_DNAME ||
	    ldns_rdf_get_type(ldns_rr_rdf(soa, 1)) != LDNS_RDF_TYPE_DNAME)
		return 0;
	for (i = 2; i < 7; i++)
		if (ldns_rdf_size(ldns_rr_rdf(soa, i)) != 4)
			return 0;
	return 1;
}

/* A parsed file becomes a zone, if its SOA is where it should be. */
static int
add_zone(struct dns_data *d, struct dns_batch *b, ldns_zone *lz,
	 const ldns_rdf *org, const char *path, char *err)
{
	uint8_t apex[DNS_NAME_MAX];
	size_t len = ldns_rdf_size(org);
	struct dns_zone *z;

	if (ldns_zone_soa(lz) == NULL)
		return fail(err, "%s: no SOA record", path);
	if (ldns_dname_compare(ldns_rr_owner(ldns_zone_soa(lz)), org) != 0)
		return fail(err, "%s: the SOA is not at the zone's apex", path);
	if (!soa_well_formed(ldns_zone_soa(lz)))
		return fail(err, "%s: the SOA is not two names and five "
			    "numbers (MNAME RNAME SERIAL REFRESH RETRY EXPIRE "
			    "MINIMUM)", path);
	if (len > DNS_NAME_MAX)
		return fail(err, "%s: the zone name is too long", path);
	memcpy(apex, ldns_rdf_data(org), len);
	dns_name_lower(apex, len);
	z = dns_zone_add(d, apex, len, err);
	if (z == NULL)
		return -1;
	return load_records(d, b, z, lz, path, err);
}

static int
load_zone_file(struct dns_data *d, struct dns_batch *b, const char *dir,
	       const char *file, char *err)
{
	char path[2048], origin[DNS_NAME_MAX + 2];
	size_t n = strlen(file) - strlen(".zone");
	ldns_rdf *org;
	ldns_zone *lz = NULL;
	int rc = -1;
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
	if (read_zone(fp, org, &lz, path, err) == 0)
		rc = add_zone(d, b, lz, org, path, err);
	fclose(fp);
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
zonefile_load_dir(struct dns_data *d, struct dns_batch *b, const char *dir,
		  char *err)
{
	struct dirent **list;
	int n, i, rc = 0;

	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : fail(err, "%s: %s", dir,
						  strerror(errno));
	for (i = 0; i < n; i++) {
		if (rc == 0 && ends_with_zone(list[i]->d_name))
			rc = load_zone_file(d, b, dir, list[i]->d_name, err);
		free(list[i]);
	}
	free(list);
	return rc;
}

/* ---- the token zone ---- */

/* An NS inside the zone needs an address record, or secondaries and
 * zone checkers reject the zone. */
static void
add_ns_glue(struct dns_data *d, struct dns_batch *b, struct dns_zone *z,
	    const struct dns_view_config *cfg, const uint8_t *ns, size_t len)
{
	uint8_t addr[16];
	int v6;

	if (!dns_name_is_under(ns, z->apex))
		return;
	if (cfg->ns_address == NULL || cfg->ns_address[0] == '\0') {
		log_warn("dns: %s is inside %s but has no address: set "
			 "--ns-address", cfg->ns_name, z->origin);
		return;
	}
	v6 = strchr(cfg->ns_address, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, cfg->ns_address, addr) != 1) {
		log_warn("dns: --ns-address '%s' is not an IP address",
			 cfg->ns_address);
		return;
	}
	dns_add_static(d, b, z, ns, len, v6 ? TYPE_AAAA : TYPE_A, cfg->ttl,
		       addr, v6 ? 16 : 4);
}

/* Without a zone file, the token zone gets an SOA and NS from flags. */
static int
generate_token_zone(struct dns_data *d, struct dns_batch *b,
		    const struct dns_view_config *cfg, const uint8_t *apex,
		    size_t len, char *err)
{
	uint8_t ns[DNS_NAME_MAX], soa[2 * DNS_NAME_MAX + 20];
	size_t ns_len = dns_name_from_text(cfg->ns_name, ns);
	size_t mail_len = dns_name_from_text(cfg->soa_email, soa + ns_len);
	static const uint32_t timers[] = { 1, 3600, 600, 86400 };
	struct dns_zone *z;
	size_t n, i;

	if (ns_len == 0 || mail_len == 0)
		return fail(err, "--ns-name '%s' or --soa-email '%s' is not a "
			    "domain name", cfg->ns_name, cfg->soa_email);
	z = dns_zone_add(d, apex, len, err);
	if (z == NULL)
		return -1;
	memcpy(soa, ns, ns_len);
	n = ns_len + mail_len;
	for (i = 0; i < 4; i++, n += 4)
		dns_put32(soa + n, timers[i]);
	dns_put32(soa + n, cfg->neg_ttl);
	z->soa = dns_add_static(d, b, z, apex, len, TYPE_SOA, cfg->ttl, soa,
				(uint16_t)(n + 4));
	z->serial_at = ns_len + mail_len;
	dns_add_static(d, b, z, apex, len, TYPE_NS, cfg->ttl, ns,
		       (uint16_t)ns_len);
	add_ns_glue(d, b, z, cfg, ns, ns_len);
	return 0;
}

/* A hash of the zone's own records (its file, or what the flags made),
 * the SOA serial left out: what the serial base follows. The key is fixed:
 * the hash is compared across restarts. */
static uint64_t
own_records_hash(const struct dns_zone *z)
{
	static const uint8_t key[16] = { 's', 'r', 'v', 'g' };
	uint8_t *buf = xmalloc(8 + DNS_NAME_MAX + 8 + 65535);
	const struct dns_node *n;
	const struct dns_rr *rr;
	uint64_t h = 0;
	size_t i, o;

	for (n = z->first; n != NULL; n = n->next)
		for (i = 0; i < n->nsets; i++)
			for (rr = n->sets[i].head; rr != NULL; rr = rr->next) {
				memcpy(buf, &h, 8); /* chained: order counts */
				memcpy(buf + 8, n->name, n->name_len);
				o = 8 + n->name_len;
				dns_put16(buf + o, n->sets[i].answer.type);
				dns_put32(buf + o + 2, rr->ttl);
				dns_put16(buf + o + 6, rr->rdlen);
				memcpy(buf + o + 8, rr->rdata, rr->rdlen);
				if (rr == z->soa)
					memset(buf + o + 8 + z->serial_at, 0, 4);
				h = siphash24(key, buf, o + 8 + rr->rdlen);
			}
	free(buf);
	return h;
}

int
zonefile_token_zone(struct dns_data *d, struct dns_batch *b,
		    const struct dns_view_config *cfg, char *err)
{
	uint8_t apex[DNS_NAME_MAX];
	size_t len = dns_name_from_text(cfg->zone, apex);
	struct dns_zone *z;
	uint32_t natural = 1; /* a zone made from flags */

	if (len == 0)
		return fail(err, "--zone: '%s' is not a domain name", cfg->zone);
	z = dns_zone_find(d, apex, len);
	if (z != NULL) {
		/* The file's serial is the base: bump it when editing the
		 * file (srvgate bumps it too, when the records changed). */
		natural = dns_zone_serial(z);
	} else if (generate_token_zone(d, b, cfg, apex, len, err) != 0) {
		return -1;
	} else {
		z = dns_zone_find(d, apex, len);
	}
	if (serial_base_settle(cfg->state_dir, own_records_hash(z), natural,
			       &z->serial_base, err) != 0)
		return -1;
	z->is_token_zone = 1;
	journal_init(&z->journal, cfg->journal_max);
	d->token_zone = z;
	return 0;
}
