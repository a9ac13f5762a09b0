/* shares.h -- what each client network holds of the HTTP server: open
 * connections and open watches, counted per IPv4 address and per IPv6
 * /64, so that one client cannot take every slot. An entry lives while
 * either count is above zero. */
#ifndef SRVGATE_HTTP_SHARES_H
#define SRVGATE_HTTP_SHARES_H

#include <stddef.h>
#include <stdint.h>

#include "htable.h"
#include "netkey.h"

#define SHARE_V4_BITS 32
#define SHARE_V6_BITS 64

struct share_table;

struct share {
	struct hnode node;
	struct share_table *table;
	uint8_t key[NETKEY_LEN];
	unsigned conns;	  /* open HTTP connections */
	unsigned watches; /* open watches */
};

struct share_table *share_table_new(void);
/* The entry of a client network, made with both counts at zero if it has
 * none; share_release must follow if the caller counts nothing in it. */
struct share *share_get(struct share_table *t, const uint8_t key[NETKEY_LEN]);
/* Frees the entry when both its counts are zero. */
void share_release(struct share *s);
/* Client networks holding a connection or a watch. */
size_t share_table_count(const struct share_table *t);
/* Frees the table and what entries are left. */
void share_table_free(struct share_table *t);

#endif
