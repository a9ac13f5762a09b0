/* etcd_keys.c -- the etcd store's keys (see etcd_keys.h). */
#include "etcd_keys.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "v3key.h"

static int
take(const char *p, size_t n, char out[STORE_NAME_MAX + 1])
{
	return v3key_take_name((const uint8_t *)p, n, out);
}

static int
starts(const char *key, size_t n, const char *with)
{
	size_t w = strlen(with);

	return n >= w && memcmp(key, with, w) == 0;
}

/* rest = "<a>/<b>" (two names) or "<a>" (one). */
static int
names(const char *rest, size_t n, int two, char a[STORE_NAME_MAX + 1],
      char b[STORE_NAME_MAX + 1])
{
	const char *slash = memchr(rest, '/', n);

	if (!two)
		return slash ? -1 : take(rest, n, a);
	if (slash == NULL || take(rest, (size_t)(slash - rest), a) != 0)
		return -1;
	return take(slash + 1, n - (size_t)(slash + 1 - rest), b);
}

/* One of etcd's v3 discovery keys (v3key.c parses them for the gRPC API
 * too). */
static enum etcd_key_kind
parse_registry(const char *key, size_t n, char *token, char *name)
{
	struct v3key k;

	switch (v3key_parse((const uint8_t *)key, n, &k)) {
	case V3KEY_SIZE:
		strcpy(token, k.token);
		return EK_SIZE;
	case V3KEY_MEMBER:
		strcpy(token, k.token);
		strcpy(name, k.member);
		return EK_MEMBER;
	default:
		return EK_OTHER;
	}
}

enum etcd_key_kind
etcd_key_parse(const char *prefix, const char *key, size_t n,
	       char token[STORE_NAME_MAX + 1], char name[STORE_NAME_MAX + 1])
{
	static const struct { const char *sub; enum etcd_key_kind kind; int two; }
	ours[] = {
		{ "tokens/", EK_META, 0 },
		{ "clients/", EK_CLIENTS, 1 },
		{ "synced/", EK_SYNCED, 1 },
		{ "aliases/", EK_ALIAS, 0 },
	};
	size_t plen = strlen(prefix), i;

	token[0] = name[0] = '\0';
	if (starts(key, n, V3_REGISTRY))
		return parse_registry(key, n, token, name);
	if (!starts(key, n, prefix))
		return EK_OTHER;
	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		size_t sl = strlen(ours[i].sub);
		const char *rest = key + plen;

		if (!starts(rest, n - plen, ours[i].sub))
			continue;
		if (names(rest + sl, n - plen - sl, ours[i].two,
			  ours[i].kind == EK_ALIAS ? name : token, name) != 0)
			return EK_OTHER;
		return ours[i].kind;
	}
	return EK_OTHER;
}

void
etcd_key_format(char *buf, size_t len, const char *prefix,
		enum etcd_key_kind kind, const char *token, const char *name)
{
	switch (kind) {
	case EK_SIZE:
		v3key_format(buf, len, token, NULL);
		return;
	case EK_MEMBER:
		v3key_format(buf, len, token, name);
		return;
	case EK_META:
		snprintf(buf, len, "%stokens/%s", prefix, token);
		return;
	case EK_CLIENTS:
		snprintf(buf, len, "%sclients/%s/%s", prefix, token, name);
		return;
	case EK_SYNCED:
		snprintf(buf, len, "%ssynced/%s/%s", prefix, token, name);
		return;
	case EK_ALIAS:
		snprintf(buf, len, "%saliases/%s", prefix, name);
		return;
	case EK_OTHER:
		break;
	}
	snprintf(buf, len, "%s", "");
}

void
etcd_prefix_end(const char *prefix, char *out, size_t len)
{
	size_t n = strlen(prefix);

	snprintf(out, len, "%s", prefix);
	/* Prefixes end in '/': the byte after it ends the range. */
	while (n > 0 && (unsigned char)out[n - 1] == 0xff)
		out[--n] = '\0';
	if (n > 0)
		out[n - 1]++;
}

void
etcd_key_span(const char *prefix, char *lo, char *hi, size_t len)
{
	char end1[ETCD_KEY_MAX], end2[ETCD_KEY_MAX];

	etcd_prefix_end(V3_REGISTRY, end1, sizeof(end1));
	etcd_prefix_end(prefix, end2, sizeof(end2));
	snprintf(lo, len, "%s", strcmp(prefix, V3_REGISTRY) < 0 ?
					prefix : V3_REGISTRY);
	snprintf(hi, len, "%s", strcmp(end1, end2) > 0 ? end1 : end2);
}

unsigned
etcd_parse_size(const char *value)
{
	char *end;
	unsigned long n;

	if (value == NULL || value[0] < '0' || value[0] > '9')
		return 0;
	n = strtoul(value, &end, 10);
	if (*end != '\0' || n == 0 || n > 1000000)
		return 0;
	return (unsigned)n;
}

long long
etcd_parse_meta(const char *value)
{
	json_t *o = value ? json_loads(value, 0, NULL) : NULL;
	json_int_t at = 0;

	if (o != NULL)
		json_unpack(o, "{s?I}", "created_at", &at);
	json_decref(o);
	return at > 0 ? (long long)at : 0;
}

void
etcd_parse_meta_cluster(const char *value, char out[STORE_CLUSTER_ID_MAX + 1])
{
	json_t *o = value ? json_loads(value, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(o, "cluster_id"));

	snprintf(out, STORE_CLUSTER_ID_MAX + 1, "%s",
		 id && registry_valid_cluster_id(id) ? id : "");
	json_decref(o);
}

/* ---- events to changes ---- */

static void
set_names(struct change *c, enum change_kind kind, const char *token,
	  const char *name)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	snprintf(c->token, sizeof(c->token), "%s", token);
	snprintf(c->name, sizeof(c->name), "%s", name);
}

static size_t
token_event(const char *prefix, const struct etcd_kv *kv, int deleted,
	    uint64_t prev_create, const char *token, etcd_get_fn get,
	    void *arg, long long now, struct change *out)
{
	char key[ETCD_KEY_MAX];
	size_t n = 0;
	unsigned size = deleted ? 0 : etcd_parse_size(kv->value);
	long long at;

	/* Gone, made again, or no longer a size: the old token goes. */
	if (prev_create != 0 &&
	    (deleted || size == 0 || prev_create != kv->create)) {
		set_names(&out[n], CHANGE_TOKEN_DEL, token, "");
		out[n++].index = kv->mod;
	}
	if (deleted || size == 0)
		return n;
	etcd_key_format(key, sizeof(key), prefix, EK_META, token, NULL);
	at = etcd_parse_meta(get(arg, key));
	set_names(&out[n], CHANGE_TOKEN_PUT, token, "");
	etcd_parse_meta_cluster(get(arg, key), out[n].cluster_id);
	out[n].size = size;
	out[n].created_at = at ? at : now;
	out[n].created_index = kv->create;
	out[n++].index = kv->mod;
	return n;
}

static size_t
member_event(const char *prefix, const struct etcd_kv *kv, int deleted,
	     const char *token, const char *id, etcd_get_fn get, void *arg,
	     struct change *out)
{
	char key[ETCD_KEY_MAX];

	if (deleted) {
		set_names(out, CHANGE_MEMBER_DEL, token, id);
		out->index = kv->mod;
		return 1;
	}
	etcd_key_format(key, sizeof(key), prefix, EK_SIZE, token, NULL);
	if (etcd_parse_size(get(arg, key)) == 0)
		return 0; /* no token (yet): the caller keeps it aside */
	set_names(out, CHANGE_MEMBER_PUT, token, id);
	out->value = (char *)kv->value;
	etcd_key_format(key, sizeof(key), prefix, EK_CLIENTS, token, id);
	out->clients = (char *)get(arg, key);
	etcd_key_format(key, sizeof(key), prefix, EK_SYNCED, token, id);
	out->synced = get(arg, key) != NULL;
	out->created_index = kv->create;
	out->index = kv->mod;
	out->action = kv->version == 1 ? ACTION_CREATE : ACTION_SET;
	return 1;
}

size_t
etcd_translate(const char *prefix, const struct etcd_kv *kv, int deleted,
	       uint64_t prev_create, const char *prev_value, etcd_get_fn get,
	       void *arg, long long now, struct change out[2])
{
	char token[STORE_NAME_MAX + 1], name[STORE_NAME_MAX + 1];

	switch (etcd_key_parse(prefix, kv->key, kv->klen, token, name)) {
	case EK_SIZE:
		return token_event(prefix, kv, deleted, prev_create, token,
				   get, arg, now, out);
	case EK_MEMBER:
		return member_event(prefix, kv, deleted, token, name, get, arg,
				    out);
	case EK_ALIAS:
		if (deleted) {
			set_names(out, CHANGE_ALIAS_DEL, "", name);
			if (prev_value && registry_valid_name(prev_value))
				snprintf(out->token, sizeof(out->token), "%s",
					 prev_value);
		} else {
			if (!registry_valid_name(kv->value))
				return 0;
			set_names(out, CHANGE_ALIAS_PUT, kv->value, name);
		}
		out->index = kv->mod;
		return 1;
	case EK_META:
	case EK_CLIENTS:
	case EK_SYNCED:
	case EK_OTHER:
		break;
	}
	return 0;
}
