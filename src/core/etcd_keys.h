/* etcd_keys.h -- where the etcd store keeps what (see store_etcd.c).
 *
 * etcd's own v3 discovery layout, so that etcd 3.6+ members can use the
 * cluster directly:
 *   /_etcd/registry/<token>/_config/size   the cluster size, decimal
 *   /_etcd/registry/<token>/members/<id>   a member, its value as in v2
 * and ours, under --etcd-prefix (P, default /srvgate/):
 *   P tokens/<token>        {"created_at":N,"cluster_id":"hex"}: when it
 *                           was made, the etcd cluster `sync` follows
 *   P clients/<token>/<id>  client URLs from `sync`, comma separated
 *   P synced/<token>/<id>   "1": `sync` wrote the member (not registered)
 *   P aliases/<name>        the token an alias names
 */
#ifndef SRVGATE_ETCD_KEYS_H
#define SRVGATE_ETCD_KEYS_H

#include <stddef.h>

#include "store.h"
#include "v3key.h"

#define ETCD_PREFIX_MAX 200
#define ETCD_KEY_MAX (ETCD_PREFIX_MAX + 2 * STORE_NAME_MAX + 32)

enum etcd_key_kind {
	EK_OTHER,   /* not ours: skipped */
	EK_SIZE,
	EK_MEMBER,
	EK_META,    /* P tokens/<token> */
	EK_CLIENTS, /* P clients/<token>/<id> */
	EK_SYNCED,  /* P synced/<token>/<id> */
	EK_ALIAS,   /* P aliases/<name> */
};

/* What key (n bytes) is; token and name (member id, alias) filled. */
enum etcd_key_kind etcd_key_parse(const char *prefix, const char *key,
				  size_t n, char token[STORE_NAME_MAX + 1],
				  char name[STORE_NAME_MAX + 1]);
/* The key of kind for token and name (NULL where unused). */
void etcd_key_format(char *buf, size_t len, const char *prefix,
		     enum etcd_key_kind kind, const char *token,
		     const char *name);
/* The one range [lo, hi) a Range and the Watch cover: both prefixes and
 * what sorts between them (skipped as EK_OTHER). */
void etcd_key_span(const char *prefix, char *lo, char *hi, size_t len);
/* The first key after every key that starts with prefix. */
void etcd_prefix_end(const char *prefix, char *out, size_t len);

/* A size key's value: 1..1000000, or 0 when it is not a size. */
unsigned etcd_parse_size(const char *value);
/* created_at from a P tokens/ value; 0 when absent or bad. */
long long etcd_parse_meta(const char *value);
/* The cluster ID of a P tokens/ value into out; "" when none or bad. */
void etcd_parse_meta_cluster(const char *value,
			     char out[STORE_CLUSTER_ID_MAX + 1]);


/* ---- events to changes ---- */

/* One key as etcd reports it (in a Range, or a watch event's kv). */
struct etcd_kv {
	const char *key;
	size_t klen;
	const char *value; /* decoded; "" for deletions */
	uint64_t mod, create; /* a deletion's mod is its revision */
	int64_t version;
};

/* Looks a key up in the state as it is after the event (NULL: absent). */
typedef const char *(*etcd_get_fn)(void *arg, const char *key);

/* The changes (0 to 2, into out) that one event makes: a size key is a
 * token (made anew, size changed, or deleted with its members), a member
 * key a member (only when its token has a size key: a member of no token
 * is kept aside by the caller), an alias key an alias. Our metadata keys
 * make no change of their own: the size and member keys read them
 * (tokens/ for created_at and the cluster ID, clients/ for the client
 * URLs, synced/ for whether sync wrote the member), and the store
 * writes them before those in one Txn. prev_create is the size or member
 * key's create revision before the event (0: it was absent): a size key
 * made again under the same name is a new token. now: created_at for a
 * token made without our metadata (by etcdctl, say). */
size_t etcd_translate(const char *prefix, const struct etcd_kv *kv,
		      int deleted, uint64_t prev_create,
		      const char *prev_value, etcd_get_fn get, void *arg,
		      long long now, struct change out[2]);

#endif
