/* dns_synth.c -- the records made from the registry: for each token the
 * SRV records of its published members (under the token and its aliases),
 * the targets' addresses, and the journal of differences IXFR needs. */
#include "dns_data.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"
#include "util.h"

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
	dns_rdf_lower_wire(ldns_rr_owner(rr), name, &len);
	n = dns_find_node(d, z, name, len);
	if (n != NULL && strcmp(n->token, token) != 0) {
		ldns_rr_free(rr);
		return;
	}
	n = dns_ensure_node(d, z, name, token);
	ldns_rr_list_push_rr(n->rrs, rr);
}

static int
rr_order(const void *a, const void *b)
{
	return ldns_rr_compare(*(ldns_rr *const *)a, *(ldns_rr *const *)b);
}

/* Sorts a list in ldns_rr_compare order; sorted lists diff in one pass. */
void
dns_sort_rrs(ldns_rr_list *l)
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

	dns_sort_rrs(l);
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
		/* Client and peer addresses may differ: each gets its own
		 * name, or a peer target would resolve to a client address. */
		snprintf(target, sizeof(target), "%s.%s%s.%s", member_id,
			 strcmp(service, "client") == 0 ? "client." : "", base,
			 origin);
		add_token_rr(d, token,
			     dns_rr_from_text("%s %u IN %s %s", target, cfg->ttl,
					  strchr(pu->host, ':') ? "AAAA" : "A",
					  pu->host));
	} else {
		size_t n = strlen(pu->host);

		snprintf(target, sizeof(target), "%s%s", pu->host,
			 n > 0 && pu->host[n - 1] == '.' ? "" : ".");
	}
	add_token_rr(d, token,
		     dns_rr_from_text("_etcd-%s%s._tcp.%s.%s %u IN SRV 0 0 %u %s",
				  service, ssl, base, origin, cfg->ttl,
				  pu->port, target));
	if (strcmp(service, "server") == 0 && cfg->srv_name != NULL &&
	    cfg->srv_name[0] != '\0')
		add_token_rr(d, token,
			     dns_rr_from_text("_etcd-server%s-%s._tcp.%s.%s %u IN "
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
void
dns_synthesize_token(struct dns_data *d, const struct dns_view_config *cfg,
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
		&d->buckets[dns_node_hash(n->zone, n->name, n->name_len)];

	while (*pp != n)
		pp = &(*pp)->hash_next;
	*pp = n->hash_next;
}

void
dns_drop_token_nodes(struct dns_data *d, const char *token)
{
	struct token_nodes **slot = dns_token_slot(d, token), *tn = *slot;
	struct dns_node *n, *next;

	if (tn == NULL)
		return;
	for (n = tn->head; n != NULL; n = next) {
		next = n->token_next;
		unlink_node(d, n);
		dns_node_free(d, n);
	}
	*slot = tn->next;
	free(tn);
}

/* Sorts a token's nodes and drops repeats: two members with one URL, or
 * one IP in a peer and a client URL. */
void
dns_unique_token_nodes(struct dns_data *d, const char *token)
{
	struct token_nodes *tn = *dns_token_slot(d, token);
	struct dns_node *n;

	for (n = tn ? tn->head : NULL; n != NULL; n = n->token_next)
		sort_unique(n->rrs);
}

/* Every node is unique before any is prepared: an answer's additional
 * section copies the address records of other nodes. */
void
dns_prepare_token_nodes(struct dns_data *d, const char *token)
{
	struct token_nodes *tn = *dns_token_slot(d, token);
	struct dns_node *n;

	dns_unique_token_nodes(d, token);
	for (n = tn ? tn->head : NULL; n != NULL; n = n->token_next)
		dns_prepare_node(d, n);
}

/* ---- the journal of differences, for IXFR ---- */

void
dns_journal_clear(struct dns_zone *z)
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
ldns_rr_list *
dns_token_records(struct dns_data *d, const char *token)
{
	struct token_nodes *tn = *dns_token_slot(d, token);
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
void
dns_diff_sorted(const ldns_rr_list *a, const ldns_rr_list *b,
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
ldns_rr_list *
dns_lead_with(ldns_rr *first, ldns_rr_list *rest)
{
	ldns_rr_list *l = ldns_rr_list_new();

	ldns_rr_list_push_rr(l, first);
	ldns_rr_list_cat(l, rest);
	ldns_rr_list_free(rest);
	return l;
}

void
dns_journal_add(struct dns_zone *z, struct journal_entry *e, size_t max)
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
