/* tls.h -- the server's TLS settings (--tls-cert, --tls-key,
 * --tls-client-ca) as one OpenSSL context that every listener shares and
 * SIGHUP reloads. A reload builds a new context from the files and swaps
 * it in only when all of them load; connections open keep the context
 * they started with (OpenSSL counts its users). */
#ifndef SRVGATE_TLS_H
#define SRVGATE_TLS_H

#include "util.h"

struct tls;
typedef struct ssl_st SSL;

/* NULL in *out (and 0) when no --tls-cert is given. */
int tls_new(struct tls **out, const char *cert, const char *key,
	    const char *client_ca, char *err);
/* Re-reads the files; on failure the old context stays and err says why. */
int tls_reload(struct tls *t, char *err);
/* A server-side SSL for a new connection, from the current context.
 * ALPN: the client must offer h2 when want_h2 (gRPC), else http/1.1 is
 * chosen when offered. */
SSL *tls_accept_ssl(struct tls *t, int want_h2);
int tls_client_certs(const struct tls *t); /* --tls-client-ca given */
void tls_free(struct tls *t);

#endif
