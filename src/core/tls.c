/* tls.c -- one reloadable OpenSSL server context for every listener (see
 * tls.h). */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls {
	SSL_CTX *ctx;
	char cert[1024], key[1024], ca[1024];
};

/* Per SSL: whether its listener speaks HTTP/2 (gRPC). */
static int want_h2_index = -1;

static int
tls_fail(char *err, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char why[160];

	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	return fail(err, "%s %s: %s", what, file, e ? why : "failed");
}

/* ALPN: gRPC needs h2; an HTTP/1.1 listener takes http/1.1 when offered
 * and otherwise says nothing (the client goes on with HTTP/1.1). */
static int
select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
	    const unsigned char *in, unsigned int inlen, void *arg)
{
	int want_h2 = (int)(intptr_t)SSL_get_ex_data(ssl, want_h2_index);
	const char *proto = want_h2 ? "h2" : "http/1.1";
	size_t plen = strlen(proto);
	unsigned int i;

	(void)arg;
	for (i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == plen && i + 1 + plen <= inlen &&
		    memcmp(in + i + 1, proto, plen) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)plen;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return want_h2 ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

static int
load_client_ca(SSL_CTX *ctx, const char *ca, char *err)
{
	STACK_OF(X509_NAME) *names;

	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		return tls_fail(err, "cannot load --tls-client-ca", ca);
	names = SSL_load_client_CA_file(ca);
	if (names == NULL)
		return tls_fail(err, "no CA certificate in --tls-client-ca", ca);
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
				       SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

static SSL_CTX *
load(const struct tls *t, char *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		fail(err, "cannot make a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
					 SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* An idle connection keeps no read or write buffer: thousands of
	 * open ones cost no 34 KB each. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1)
		tls_fail(err, "cannot load --tls-cert", t->cert);
	else if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1)
		tls_fail(err, "cannot load --tls-key", t->key);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		tls_fail(err, "--tls-key does not match --tls-cert", t->key);
	else if (t->ca[0] == '\0' || load_client_ca(ctx, t->ca, err) == 0) {
		SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
		return ctx;
	}
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_new(struct tls **out, const char *cert, const char *key,
	const char *client_ca, char *err)
{
	struct tls *t;

	*out = NULL;
	if (cert == NULL || cert[0] == '\0')
		return 0;
	if (want_h2_index < 0)
		want_h2_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	t = xcalloc(1, sizeof(*t));
	snprintf(t->cert, sizeof(t->cert), "%s", cert);
	snprintf(t->key, sizeof(t->key), "%s", key ? key : "");
	snprintf(t->ca, sizeof(t->ca), "%s", client_ca ? client_ca : "");
	t->ctx = load(t, err);
	if (t->ctx == NULL) {
		free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int
tls_reload(struct tls *t, char *err)
{
	SSL_CTX *ctx;

	if (t == NULL)
		return 0;
	ctx = load(t, err);
	if (ctx == NULL)
		return -1;
	SSL_CTX_free(t->ctx); /* connections open hold their own reference */
	t->ctx = ctx;
	return 0;
}

SSL *
tls_accept_ssl(struct tls *t, int want_h2)
{
	SSL *ssl = SSL_new(t->ctx);

	if (ssl != NULL)
		SSL_set_ex_data(ssl, want_h2_index, (void *)(intptr_t)want_h2);
	return ssl;
}

int
tls_client_certs(const struct tls *t)
{
	return t != NULL && t->ca[0] != '\0';
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}
