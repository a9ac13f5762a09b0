/* admin_tokens.h -- the admin API's listing and deletion of tokens
 * (admin_tokens.c); admin.c routes to them. */
#ifndef SRVGATE_ADMIN_TOKENS_H
#define SRVGATE_ADMIN_TOKENS_H

#include "http_internal.h"

#define ADMIN_LIST_DEFAULT 100 /* tokens per page without ?limit */
#define ADMIN_LIST_MAX 1000    /* the most ?limit may ask for */

/* GET /_admin/tokens?limit=N&after=NAME */
void admin_list_tokens(struct http_api *api, struct evhttp_request *req);
/* DELETE /_admin/tokens/<token>: the token, its members and aliases. */
void admin_delete_token(struct http_api *api, struct evhttp_request *req,
			const char *name);

#endif
