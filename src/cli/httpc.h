/* httpc.h -- a small blocking HTTP client for the srvgate subcommands. */
#ifndef SRVGATE_HTTPC_H
#define SRVGATE_HTTPC_H

#include "util.h"

struct httpc_response {
	int status;
	char *body; /* NUL-terminated; the caller frees it */
	unsigned long long etcd_index;
	char etcd_cluster_id[24]; /* X-Etcd-Cluster-Id (etcd's v2 API), or "" */
};

/* Sends one request and waits up to timeout_ms for the whole answer.
 * body, auth_token and cacert may be NULL. https:// certificates are
 * checked against cacert, or the system's CA store when it is NULL.
 * Returns 0 when an answer came. */
int httpc_request(const char *method, const char *url, const char *body,
		  const char *auth_token, const char *cacert,
		  unsigned timeout_ms, struct httpc_response *resp, char *err);

#endif
