/* admin.h -- how the admin API reads a token body (admin.c), shared with
 * the fuzz harness tests/fuzz/fuzz_etcdjson.c. Not for use outside
 * src/http/ and tests/. */
#ifndef SRVGATE_HTTP_ADMIN_H
#define SRVGATE_HTTP_ADMIN_H

#include <jansson.h>

#include "import.h"

struct config;

/* Reads {"size":N,"members":[{"id","value","clients"}...]} into s,
 * within the limits that /new and registrations have too (--max-size,
 * --max-members); -1 with err. s's members are set even then: free them
 * with token_spec_free. */
int admin_parse_spec(json_t *body, const struct config *cfg,
		     struct token_spec *s, char *err);
/* sync's "cluster_id": the etcd cluster the members come from (lower-case
 * hex, or none); -1 with err. */
int admin_parse_cluster_id(json_t *body, struct token_spec *s, char *err);

#endif
