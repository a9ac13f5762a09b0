/* httpc.h -- a small blocking HTTP client for the srvgate subcommands. */
#ifndef SRVGATE_HTTPC_H
#define SRVGATE_HTTPC_H

#include "util.h"

struct httpc_response {
	int status;
	char *body; /* NUL-terminated; the caller frees it */
	unsigned long long etcd_index;
};

/* Sends one request and waits up to timeout_ms for the whole answer.
 * body and auth may be NULL. Returns 0 when an answer came. */
int httpc_request(const char *method, const char *url, const char *body,
		  const char *auth_token, unsigned timeout_ms,
		  struct httpc_response *resp, char *err);

#endif
