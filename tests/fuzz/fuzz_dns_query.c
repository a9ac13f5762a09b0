/* fuzz_dns_query.c -- libFuzzer harness: one DNS message through the
 * server's query path (parse, answer or transfer) with no TSIG keys
 * configured, against tokens with members, an alias, and a static zone
 * with a delegation; so answers, referrals, NXDOMAIN, NODATA, errors and
 * AXFR/IXFR are all reachable.
 *
 * The input is the message as it arrives. Bits of its ID pick how: bit 0
 * of the first byte TCP (else UDP); bit 0 of the second byte a client
 * outside --allow-transfer (else 127.0.0.1, which may transfer); bit 4 of
 * the second byte a UDP flood: the message comes three times, so that
 * response rate limiting drops or slips the repeats (unless the client
 * has a valid cookie). */
#include "dns_fixture.h"

static const char *const rules[] = { "127.0.0.0/8", "2001:db8::/32", NULL };

static struct fuzz_dns *fx;

static void
cleanup(void)
{
	fuzz_remove_dir(fx->dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int over_tcp = size > 0 && (data[0] & 1);
	int stranger = size > 1 && (data[1] & 1);
	int times = !over_tcp && size > 1 && (data[1] & 0x10) ? 3 : 1;

	if (fx == NULL) {
		fx = xcalloc(1, sizeof(*fx));
		fuzz_dns_init(fx, NULL, rules, fuzz_static_zone);
		atexit(cleanup);
	}
	fuzz_tick(fx);
	while (times-- > 0)
		fuzz_serve(fx, data, size, over_tcp,
			   (const struct sockaddr *)(stranger ? &fx->stranger :
								&fx->allowed));
	return 0;
}
