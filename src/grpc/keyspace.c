/* keyspace.c -- v3 keys over the registry (see keyspace.h). */
#include "keyspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Bytewise, a prefix before what extends it: etcd's key order. */
static int
keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

size_t
v3ref_key(const struct v3ref *ref, char *buf)
{
	return v3key_format(buf, V3_KEY_MAX, ref->tok->name,
			    ref->m ? ref->m->id : NULL);
}

static int
to_the_end(const struct v3range *r)
{
	return r->elen == 1 && r->end[0] == '\0';
}

int
v3range_has(const struct v3range *r, const uint8_t *k, size_t n)
{
	if (r->elen == 0)
		return keycmp(k, n, r->key, r->klen) == 0;
	if (keycmp(k, n, r->key, r->klen) < 0)
		return 0;
	return to_the_end(r) || keycmp(k, n, r->end, r->elen) < 0;
}

/* "/_etcd/registry/<name>" followed by c: where a token's keys begin
 * (c '/') and the first key past them (c '0', the byte after '/'). */
static size_t
token_bound(const char *name, char c, uint8_t *buf)
{
	size_t n = strlen(name);

	memcpy(buf, V3_REGISTRY, V3_PREFIX_LEN);
	memcpy(buf + V3_PREFIX_LEN, name, n);
	buf[V3_PREFIX_LEN + n] = (uint8_t)c;
	return V3_PREFIX_LEN + n + 1;
}

int
v3range_touches(const struct v3range *r, const char *name)
{
	uint8_t lo[V3_KEY_MAX], hi[V3_KEY_MAX];
	size_t lon = token_bound(name, '/', lo), hin = token_bound(name, '0', hi);

	if (r->elen == 0)
		return keycmp(r->key, r->klen, lo, lon) >= 0 &&
		       keycmp(r->key, r->klen, hi, hin) < 0;
	return keycmp(r->key, r->klen, hi, hin) < 0 &&
	       (to_the_end(r) || keycmp(r->end, r->elen, lo, lon) > 0);
}

enum v3range_scope
v3range_scope(const struct v3range *r, char token[REGISTRY_NAME_MAX + 1])
{
	static const uint8_t past[] = "/_etcd/registry0";
	uint8_t hi[V3_KEY_MAX];
	const uint8_t *name, *slash;

	if (keycmp(r->key, r->klen, past, sizeof(past) - 1) >= 0)
		return V3SCOPE_NONE;
	if (r->elen != 0 && !to_the_end(r) &&
	    keycmp(r->end, r->elen, (const uint8_t *)V3_REGISTRY,
		   V3_PREFIX_LEN) <= 0)
		return V3SCOPE_NONE;
	if (r->klen > V3_PREFIX_LEN &&
	    memcmp(r->key, V3_REGISTRY, V3_PREFIX_LEN) == 0) {
		name = r->key + V3_PREFIX_LEN;
		slash = memchr(name, '/', r->klen - V3_PREFIX_LEN);
		if (slash != NULL &&
		    v3key_take_name(name, (size_t)(slash - name), token) == 0 &&
		    (r->elen == 0 ||
		     (!to_the_end(r) &&
		      keycmp(r->end, r->elen, hi,
			     token_bound(token, '0', hi)) <= 0)))
			return V3SCOPE_TOKEN;
	}
	if (r->elen == 0)
		return V3SCOPE_NONE; /* one key, and not one of ours */
	return V3SCOPE_WIDE;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp((*(const struct member *const *)a)->id,
		      (*(const struct member *const *)b)->id);
}

/* The size key, then the members by id. Returns nonzero when fn stopped. */
static int
scan_token(const struct token *tok, const struct v3range *r, v3scan_fn fn,
	   void *arg)
{
	const struct member **sorted;
	struct v3ref ref = { tok, NULL };
	char key[V3_KEY_MAX];
	size_t i, n;
	int stop = 0;

	n = v3ref_key(&ref, key);
	if (v3range_has(r, (const uint8_t *)key, n) && fn(&ref, arg))
		return 1;
	if (tok->nmembers == 0)
		return 0;
	sorted = xmalloc(tok->nmembers * sizeof(*sorted));
	memcpy(sorted, tok->members, tok->nmembers * sizeof(*sorted));
	qsort(sorted, tok->nmembers, sizeof(*sorted), by_id);
	for (i = 0; i < tok->nmembers && !stop; i++) {
		ref.m = sorted[i];
		n = v3ref_key(&ref, key);
		if (v3range_has(r, (const uint8_t *)key, n))
			stop = fn(&ref, arg);
	}
	free(sorted);
	return stop;
}

/* One key: looked up, not scanned. */
static void
scan_one(const struct registry *reg, const struct v3range *r, v3scan_fn fn,
	 void *arg)
{
	struct v3key k;
	struct v3ref ref;

	if (v3key_parse(r->key, r->klen, &k) == V3KEY_OTHER ||
	    (ref.tok = registry_find_token(reg, k.token)) == NULL)
		return;
	ref.m = NULL;
	if (k.kind == V3KEY_MEMBER &&
	    (ref.m = token_find_member(ref.tok, k.member)) == NULL)
		return;
	fn(&ref, arg);
}

struct token_set {
	const struct v3range *r;
	const struct token **toks;
	size_t n, cap;
};

static void
collect_token(const struct token *tok, void *arg)
{
	struct token_set *s = arg;

	if (!v3range_touches(s->r, tok->name))
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->toks = xrealloc(s->toks, s->cap * sizeof(*s->toks));
	}
	s->toks[s->n++] = tok;
}

/* Token order is the order of "<name>/": "ab-c/" sorts before "ab/". */
static int
by_key(const void *a, const void *b)
{
	const char *x = (*(const struct token *const *)a)->name;
	const char *y = (*(const struct token *const *)b)->name;

	for (;; x++, y++) {
		unsigned char cx = *x ? (unsigned char)*x : '/';
		unsigned char cy = *y ? (unsigned char)*y : '/';

		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (*x == '\0' || *y == '\0')
			return 0;
	}
}

void
v3scan(const struct registry *reg, const struct v3range *r, v3scan_fn fn,
       void *arg)
{
	char name[REGISTRY_NAME_MAX + 1];
	struct token_set s = { r, NULL, 0, 0 };
	const struct token *tok;
	size_t i;

	switch (v3range_scope(r, name)) {
	case V3SCOPE_NONE:
		return;
	case V3SCOPE_TOKEN:
		if (r->elen == 0)
			scan_one(reg, r, fn, arg);
		else if ((tok = registry_find_token(reg, name)) != NULL)
			scan_token(tok, r, fn, arg);
		return;
	case V3SCOPE_WIDE:
		break;
	}
	registry_foreach_token(reg, collect_token, &s);
	if (s.n > 1)
		qsort(s.toks, s.n, sizeof(*s.toks), by_key);
	for (i = 0; i < s.n; i++)
		if (scan_token(s.toks[i], r, fn, arg))
			break;
	free(s.toks);
}
