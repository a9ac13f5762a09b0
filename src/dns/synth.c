/* synth.c -- the records made from the registry, built in wire form from
 * parsed peer URLs (no zone-file text) and changed member by member. */
#include "synth.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "peers.h"
#include "util.h"

/* One URL of a published member, as DNS needs it. */
struct synth_url {
	uint8_t client; /* a client URL (from `sync`), else a peer URL */
	uint8_t ssl;	/* https */
	uint8_t family;	/* AF_INET or AF_INET6 when the host is an IP, else 0 */
	uint8_t host_len;
	uint16_t port;
	uint8_t addr[16];
	uint8_t *host;	/* the host name in wire form, when not an IP */
};

/* A member's URLs as parsed, before they are kept: a peer list and a
 * client list of at most PEERS_MAX each. */
#define URLS_MAX (2 * PEERS_MAX)
struct url_list {
	struct synth_url urls[URLS_MAX];
	size_t n;
};

/* The registered text is not kept: the parsed URLs are what DNS shows,
 * and what an update is compared with. One allocation: the struct, its
 * URLs, its id. A token's published members are found by created index
 * (synth_token.pub is in that order), so they need no table by id. */
struct synth_member {
	uint64_t created_index;
	uint32_t nurls;
	struct synth_url urls[]; /* then the id: see member_id */
};

/* The id follows the URLs: a pointer to it would take a member of 73
 * bytes into malloc's next size (8 MB at 500k members). */
static const char *
member_id(const struct synth_member *sm)
{
	return (const char *)(sm->urls + sm->nurls);
}

struct synth_token {
	struct hnode hnode;
	char name[REGISTRY_NAME_MAX + 1];
	int live; /* the registry has it (it may be here only for aliases) */
	struct synth_member **pub; /* the published members, by index */
	size_t npub;
	char (*aliases)[REGISTRY_NAME_MAX + 1]; /* names publishing it too */
	size_t naliases;
};

struct synth_alias {
	struct hnode hnode;
	char name[REGISTRY_NAME_MAX + 1];
	char token[REGISTRY_NAME_MAX + 1];
};

void
synth_init(struct synth *s, struct dns_data *d,
	   const struct dns_view_config *cfg)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	htable_init(&s->tokens);
	htable_init(&s->aliases);
	s->d = d;
	s->zone = d->token_zone;
	s->ttl = cfg->ttl;
	s->max_published = cfg->max_published;
	for (i = 0; cfg->srv_name != NULL && cfg->srv_name[i] != '\0' &&
		    i + 1 < sizeof(s->srv_name); i++)
		s->srv_name[i] = (char)(cfg->srv_name[i] >= 'A' &&
						cfg->srv_name[i] <= 'Z' ?
					cfg->srv_name[i] + 32 : cfg->srv_name[i]);
}

void
synth_reserve(struct synth *s, size_t ntokens)
{
	htable_reserve(&s->tokens, ntokens);
}

/* ---- the records of one URL ---- */

/* label.name in wire form; 0 when it would be too long. */
static size_t
name_under(uint8_t *out, const char *label, const uint8_t *name, size_t len)
{
	size_t l = strlen(label);

	if (l == 0 || l > DNS_LABEL_MAX || 1 + l + len > DNS_NAME_MAX)
		return 0;
	out[0] = (uint8_t)l;
	memcpy(out + 1, label, l);
	memcpy(out + 1 + l, name, len);
	return 1 + l + len;
}

static void
record(struct synth *s, struct dns_batch *b, int add, const uint8_t *owner,
       size_t len, uint16_t type, const uint8_t *rdata, size_t rdlen)
{
	if (len == 0)
		return;
	if (add)
		dns_publish(s->d, b, s->zone, owner, len, type, s->ttl, rdata,
			    (uint16_t)rdlen);
	else
		dns_withdraw(s->d, b, s->zone, owner, len, type, rdata,
			     (uint16_t)rdlen);
}

/* The SRV target: the host, or for an IP a name of the member's own
 * (client and peer addresses may differ, so clients get theirs). */
static size_t
target_of(const struct synth_member *m, const struct synth_url *u,
	  const uint8_t *base, size_t blen, uint8_t *out)
{
	uint8_t client[DNS_NAME_MAX];
	size_t n;

	if (u->family == 0) {
		memcpy(out, u->host, u->host_len);
		return u->host_len;
	}
	if (!u->client)
		return name_under(out, member_id(m), base, blen);
	n = name_under(client, "client", base, blen);
	return n ? name_under(out, member_id(m), client, n) : 0;
}

/* The SRV service label of a URL, by [client][ssl]. */
static const char *const services[2][2] = {
	{ "_etcd-server", "_etcd-server-ssl" },
	{ "_etcd-client", "_etcd-client-ssl" },
};

/* Publishes (or withdraws) what one URL makes under one base name: the
 * SRV record, the named-server one with --srv-name, and the address. */
static void
url_records(struct synth *s, struct dns_batch *b, int add,
	    const struct synth_member *m, const struct synth_url *u,
	    const uint8_t *base, size_t blen)
{
	uint8_t tcp[DNS_NAME_MAX], owner[DNS_NAME_MAX], rdata[6 + DNS_NAME_MAX];
	size_t tcp_len = name_under(tcp, "_tcp", base, blen);
	size_t tlen = target_of(m, u, base, blen, rdata + 6);
	char service[2 * DNS_LABEL_MAX]; /* too long a label is refused */

	if (tcp_len == 0 || tlen == 0)
		return;
	memset(rdata, 0, 4); /* priority 0, weight 0 */
	dns_put16(rdata + 4, u->port);
	record(s, b, add, owner,
	       name_under(owner, services[u->client][u->ssl], tcp, tcp_len),
	       TYPE_SRV, rdata, 6 + tlen);
	if (!u->client && s->srv_name[0] != '\0') {
		snprintf(service, sizeof(service), "_etcd-server%s-%s",
			 u->ssl ? "-ssl" : "", s->srv_name);
		record(s, b, add, owner,
		       name_under(owner, service, tcp, tcp_len), TYPE_SRV,
		       rdata, 6 + tlen);
	}
	if (u->family != 0)
		record(s, b, add, rdata + 6, tlen,
		       u->family == AF_INET ? TYPE_A : TYPE_AAAA, u->addr,
		       u->family == AF_INET ? 4 : 16);
}

/* Every record of a member under one base name (the token or an alias). */
static void
member_records(struct synth *s, struct dns_batch *b, int add,
	       const struct synth_member *m, const char *base)
{
	uint8_t name[DNS_NAME_MAX];
	size_t len = name_under(name, base, s->zone->apex, s->zone->apex_len);
	size_t i;

	for (i = 0; len > 0 && i < m->nurls; i++)
		url_records(s, b, add, m, &m->urls[i], name, len);
}

/* ... under the token's name and every alias of it. */
static void
member_everywhere(struct synth *s, struct dns_batch *b, int add,
		  const struct synth_token *st, const struct synth_member *m)
{
	size_t i;

	member_records(s, b, add, m, st->name);
	for (i = 0; i < st->naliases; i++)
		member_records(s, b, add, m, st->aliases[i]);
}

/* ---- members ---- */

/* The URLs of an etcd value DNS can publish: http and https, with a host
 * that is an IP or a valid name. Unix sockets have no place in DNS. */
static void
add_urls(struct url_list *l, const char *value, int client)
{
	struct peer_url pu[PEERS_MAX];
	int i, n = peers_parse(value, pu, PEERS_MAX, NULL);

	for (i = 0; i < n && l->n < URLS_MAX; i++) {
		struct synth_url *u = &l->urls[l->n];
		uint8_t host[DNS_NAME_MAX];

		memset(u, 0, sizeof(*u));
		u->client = (uint8_t)client;
		u->ssl = strcmp(pu[i].scheme, "https") == 0;
		u->port = (uint16_t)pu[i].port;
		if (!u->ssl && strcmp(pu[i].scheme, "http") != 0)
			continue;
		if (inet_pton(AF_INET, pu[i].host, u->addr) == 1)
			u->family = AF_INET;
		else if (inet_pton(AF_INET6, pu[i].host, u->addr) == 1)
			u->family = AF_INET6;
		else if ((u->host_len = (uint8_t)dns_name_from_text(pu[i].host,
								    host)))
			u->host = xmalloc(u->host_len);
		else
			continue;
		if (u->host != NULL)
			memcpy(u->host, host, u->host_len);
		l->n++;
	}
}

/* Client URLs are bare URLs; the peer parser wants name=url. */
static void
add_client_urls(struct url_list *l, const char *clients)
{
	char buf[4096];
	size_t n = 0;
	const char *p = clients;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (n + len + 4 >= sizeof(buf))
			return;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sc=%.*s",
				      n ? "," : "", (int)len, p);
		p += len + (comma != NULL);
	}
	if (n > 0)
		add_urls(l, buf, 1);
}

static void
parse_member(struct url_list *l, const struct member *m)
{
	l->n = 0;
	add_urls(l, m->value ? m->value : "", 0);
	if (m->clients != NULL)
		add_client_urls(l, m->clients);
}

static void
free_hosts(struct synth_url *urls, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(urls[i].host);
}

/* m with the URLs of l, which it takes over. */
static struct synth_member *
member_new(const struct member *m, const struct url_list *l)
{
	size_t idlen = strlen(m->id), urls = l->n * sizeof(l->urls[0]);
	struct synth_member *sm = xmalloc(sizeof(*sm) + urls + idlen + 1);
	char *id = (char *)sm->urls + urls;

	memcpy(id, m->id, idlen + 1);
	sm->created_index = m->created_index;
	sm->nurls = (uint32_t)l->n;
	memcpy(sm->urls, l->urls, urls);
	return sm;
}

static void
free_member(struct synth_member *sm)
{
	free_hosts(sm->urls, sm->nurls);
	free(sm);
}

static struct synth_member *
publish_member(struct synth *s, struct dns_batch *b, struct synth_token *st,
	       const struct member *m)
{
	struct url_list l;
	struct synth_member *sm;

	parse_member(&l, m);
	sm = member_new(m, &l);
	member_everywhere(s, b, 1, st, sm);
	return sm;
}

static void
withdraw_member(struct synth *s, struct dns_batch *b, struct synth_token *st,
		struct synth_member *sm)
{
	member_everywhere(s, b, 0, st, sm);
	free_member(sm);
}

static int
same_url(const struct synth_url *a, const struct synth_url *b)
{
	return a->client == b->client && a->ssl == b->ssl &&
	       a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0 &&
	       a->host_len == b->host_len &&
	       (a->host_len == 0 || memcmp(a->host, b->host, a->host_len) == 0);
}

/* The published member st->pub[at] written again: its records change
 * only if its URLs did. */
static void
update_member(struct synth *s, struct dns_batch *b, struct synth_token *st,
	      size_t at, const struct member *m)
{
	struct synth_member *sm = st->pub[at];
	struct url_list now;
	size_t i;

	parse_member(&now, m);
	for (i = 0; now.n == sm->nurls && i < now.n; i++)
		if (!same_url(&now.urls[i], &sm->urls[i]))
			break;
	if (now.n == sm->nurls && i == now.n) {
		free_hosts(now.urls, now.n);
		return;
	}
	member_everywhere(s, b, 0, st, sm);
	free_member(sm);
	st->pub[at] = sm = member_new(m, &now);
	member_everywhere(s, b, 1, st, sm);
}

/* ---- tokens ---- */

static struct synth_token *
find_token(const struct synth *s, const char *name)
{
	uint64_t h = hash_str(name);
	struct hnode *e;

	for (e = htable_chain(&s->tokens, h); e != NULL; e = e->next) {
		struct synth_token *st =
			container_of(e, struct synth_token, hnode);

		if (e->hash == h && strcmp(st->name, name) == 0)
			return st;
	}
	return NULL;
}

static struct synth_token *
ensure_token(struct synth *s, const char *name)
{
	struct synth_token *st = find_token(s, name);

	if (st != NULL)
		return st;
	st = xcalloc(1, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", name);
	htable_insert(&s->tokens, &st->hnode, hash_str(st->name));
	return st;
}

static void
free_token(struct synth *s, struct synth_token *st)
{
	htable_remove(&s->tokens, &st->hnode);
	free(st->pub);
	free(st->aliases);
	free(st);
}

/* Where m is in st->pub, or st->npub when it is not published. A member
 * keeps its created index while it exists (an overwrite keeps it; one
 * made again comes after its deletion), so that index finds it. */
static size_t
find_published(const struct synth_token *st, const struct member *m)
{
	size_t lo = 0, hi = st->npub;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->pub[mid]->created_index < m->created_index)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < st->npub && st->pub[lo]->created_index == m->created_index &&
	    strcmp(member_id(st->pub[lo]), m->id) == 0)
		return lo;
	return st->npub;
}

/* How many members the token publishes: etcd's first `size`, capped. */
static size_t
published_limit(const struct synth *s, const struct token *tok)
{
	size_t n = tok->nmembers;

	if (n > tok->size)
		n = tok->size;
	if (n > s->max_published)
		n = s->max_published;
	return n;
}

/* Both lists are in created-index order: one pass pairs them up. */
void
synth_token(struct synth *s, struct dns_batch *b, const struct token *tok)
{
	struct synth_token *st = ensure_token(s, tok->name);
	size_t limit = published_limit(s, tok), i = 0, j = 0, k = 0;
	struct synth_member **next = xmalloc((limit + 1) * sizeof(*next));

	st->live = 1;
	while (i < limit || j < st->npub) {
		const struct member *m = i < limit ? tok->members[i] : NULL;
		struct synth_member *sm = j < st->npub ? st->pub[j] : NULL;

		if (sm != NULL &&
		    (m == NULL || sm->created_index < m->created_index)) {
			withdraw_member(s, b, st, sm);
			j++;
		} else if (sm == NULL || m->created_index < sm->created_index) {
			next[k++] = publish_member(s, b, st, m);
			i++;
		} else if (strcmp(member_id(sm), m->id) == 0) {
			update_member(s, b, st, j, m);
			next[k++] = st->pub[j];
			i++, j++;
		} else {
			withdraw_member(s, b, st, sm);
			next[k++] = publish_member(s, b, st, m);
			i++, j++;
		}
	}
	free(st->pub);
	st->pub = next;
	st->npub = k;
}

void
synth_token_deleted(struct synth *s, struct dns_batch *b, const char *name)
{
	struct synth_token *st = find_token(s, name);
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->npub; i++)
		withdraw_member(s, b, st, st->pub[i]);
	st->npub = 0;
	st->live = 0;
	if (st->naliases == 0)
		free_token(s, st);
}

void
synth_member_set(struct synth *s, struct dns_batch *b,
		 const struct token *tok, const struct member *m)
{
	struct synth_token *st = find_token(s, tok->name);
	size_t at = st ? find_published(st, m) : 0;

	if (st != NULL && at < st->npub)
		update_member(s, b, st, at, m);
	else if (st == NULL || st->npub < published_limit(s, tok))
		synth_token(s, b, tok);
	/* Else it is not among the published: DNS has nothing to do. */
}

void
synth_member_deleted(struct synth *s, struct dns_batch *b,
		     const struct token *tok, const struct member *m)
{
	struct synth_token *st = find_token(s, tok->name);

	/* A published member went: the next one moves up. */
	if (st != NULL && find_published(st, m) < st->npub)
		synth_token(s, b, tok);
}

/* ---- aliases ---- */

static struct synth_alias *
find_alias(const struct synth *s, const char *name)
{
	uint64_t h = hash_str(name);
	struct hnode *e;

	for (e = htable_chain(&s->aliases, h); e != NULL; e = e->next) {
		struct synth_alias *a =
			container_of(e, struct synth_alias, hnode);

		if (e->hash == h && strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

/* Takes the alias's records away from the token it named. */
static void
detach_alias(struct synth *s, struct dns_batch *b, struct synth_alias *a)
{
	struct synth_token *st = find_token(s, a->token);
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->npub; i++)
		member_records(s, b, 0, st->pub[i], a->name);
	for (i = 0; i < st->naliases; i++)
		if (strcmp(st->aliases[i], a->name) == 0) {
			memmove(st->aliases[i], st->aliases[i + 1],
				(st->naliases - i - 1) * sizeof(*st->aliases));
			st->naliases--;
			break;
		}
	if (!st->live && st->naliases == 0)
		free_token(s, st);
}

void
synth_alias_set(struct synth *s, struct dns_batch *b, const char *alias,
		const char *token)
{
	struct synth_alias *a = find_alias(s, alias);
	struct synth_token *st;
	size_t i;

	if (a != NULL && strcmp(a->token, token) == 0)
		return;
	if (a != NULL) {
		detach_alias(s, b, a);
	} else {
		a = xcalloc(1, sizeof(*a));
		snprintf(a->name, sizeof(a->name), "%s", alias);
		htable_insert(&s->aliases, &a->hnode, hash_str(a->name));
	}
	snprintf(a->token, sizeof(a->token), "%s", token);
	st = ensure_token(s, token);
	st->aliases = xrealloc(st->aliases,
			       (st->naliases + 1) * sizeof(*st->aliases));
	snprintf(st->aliases[st->naliases++], sizeof(*st->aliases), "%s",
		 alias);
	for (i = 0; i < st->npub; i++)
		member_records(s, b, 1, st->pub[i], alias);
}

void
synth_alias_deleted(struct synth *s, struct dns_batch *b, const char *alias)
{
	struct synth_alias *a = find_alias(s, alias);

	if (a == NULL)
		return;
	detach_alias(s, b, a);
	htable_remove(&s->aliases, &a->hnode);
	free(a);
}

void
synth_free(struct synth *s)
{
	struct hnode *e, *next;
	size_t pos, i;

	for (e = htable_first(&s->tokens, &pos); e != NULL; e = next) {
		struct synth_token *st =
			container_of(e, struct synth_token, hnode);

		next = htable_next(&s->tokens, e, &pos);
		for (i = 0; i < st->npub; i++)
			free_member(st->pub[i]);
		free(st->pub);
		free(st->aliases);
		free(st);
	}
	for (e = htable_first(&s->aliases, &pos); e != NULL; e = next) {
		next = htable_next(&s->aliases, e, &pos);
		free(container_of(e, struct synth_alias, hnode));
	}
	htable_free(&s->tokens);
	htable_free(&s->aliases);
}
