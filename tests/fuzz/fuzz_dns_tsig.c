/* fuzz_dns_tsig.c -- libFuzzer harness: the server's query path with TSIG
 * keys configured (three algorithms) and transfers that need a key, so
 * signed queries are parsed, verified, answered and signed, and failures
 * get their NOTAUTH/FORMERR answers.
 *
 * Each input is served twice. First as it is (a mutated signature is
 * BADSIG or malformed). Then, when it parses and carries no TSIG, signed
 * here with one of the keys (as NOTIFY signs its own queries) and served
 * again: that reaches the signed answers and transfers with any question.
 * ID bits pick the way: bit 0 of byte 0 TCP; bit 0 of byte 1 a client
 * outside the transfer rules; bits 1-3 of byte 1 the key, or when all set
 * a signature 1000 s old (BADTIME). */
#include "dns_fixture.h"

/* The secrets are those tests/fuzz/make_seeds.py signs the seeds with. */
static const char *const keys[] = {
	/* "srvgate-fuzz-key-one-32-bytes!!!" */
	"key1.fuzz.test:hmac-sha256:c3J2Z2F0ZS1mdXp6LWtleS1vbmUtMzItYnl0ZXMhISE=",
	/* "srvgate-fuzz-md5" */
	"key2:hmac-md5:c3J2Z2F0ZS1mdXp6LW1kNQ==",
	/* "srvgate-fuzz-key-three-sha512" */
	"key3:hmac-sha512:c3J2Z2F0ZS1mdXp6LWtleS10aHJlZS1zaGE1MTI=",
	NULL,
};
static const char *const rules[] = {
	"127.0.0.1@key1.fuzz.test", "127.0.0.0/8@key3", "10.0.0.0/8", NULL,
};

static struct fuzz_dns *fx;
static uint8_t signed_msg[FUZZ_TCP_MAX];

static void
cleanup(void)
{
	fuzz_remove_dir(fx->dir);
}

/* The input signed with a key of ours, if it is a query without TSIG. */
static size_t
sign_input(const uint8_t *data, size_t size)
{
	struct dns_query q;
	struct tsig_state st;
	uint64_t when = FUZZ_NOW;
	unsigned pick;

	if (size > FUZZ_UDP_MAX || dns_parse_query(data, size, &q) != PARSE_OK ||
	    q.tsig_off != 0)
		return 0;
	pick = (data[1] >> 1) & 7;
	if (pick == 7)
		when -= 1000;
	memcpy(signed_msg, data, size);
	tsig_start(&st, &fx->keys->keys[pick % fx->keys->n], q.id);
	return tsig_sign(&st, signed_msg, size, sizeof(signed_msg), when);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int over_tcp = size > 0 && (data[0] & 1);
	int stranger = size > 1 && (data[1] & 1);
	const struct sockaddr *peer;
	size_t n;

	if (fx == NULL) {
		fx = xcalloc(1, sizeof(*fx));
		fuzz_dns_init(fx, keys, rules, fuzz_static_zone);
		atexit(cleanup);
	}
	peer = (const struct sockaddr *)(stranger ? &fx->stranger :
						    &fx->allowed);
	fuzz_tick(fx);
	fuzz_serve(fx, data, size, over_tcp, peer);
	n = sign_input(data, size);
	if (n > 0)
		fuzz_serve(fx, signed_msg, n, over_tcp, peer);
	return 0;
}
