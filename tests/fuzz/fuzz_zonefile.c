/* fuzz_zonefile.c -- libFuzzer harness: the input as a zone file in
 * --zones-dir, loaded as SIGHUP loads it (dns_view_reload), under three
 * names in turn: a static zone (fuzz.test), a parent of the token zone
 * (internal) and the token zone itself (discovery.internal), into which
 * the registry's tokens are then published. A file that loads is queried
 * and transferred; one that does not must say why and keep the old data.
 * Neither may leak or crash (libFuzzer checks leaks per input). */
#include "dns_fixture.h"

static const char *const rules[] = { "127.0.0.0/8", NULL };
static const char *const names[] = {
	"fuzz.test", "internal", "discovery.internal",
};
static const char *const hosts[] = {
	"", "www.", "ns1.", "sub.", "a.b.", "nothere.", "_etcd-server-ssl._tcp.abc123.",
};
static const uint16_t types[] = {
	TYPE_SOA, TYPE_NS, TYPE_A, TYPE_ANY, TYPE_SRV, TYPE_AAAA,
};

static struct fuzz_dns *fx;

static void
cleanup(void)
{
	fuzz_remove_dir(fx->dir);
}

/* A few questions about what was loaded, and its transfers. Each comes
 * a second after the last, so that rate limiting lets every answer out
 * to be checked. */
static void
ask_about(const char *origin)
{
	uint8_t q[300];
	char name[300];
	size_t i, n;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", hosts[i], origin);
		n = fuzz_make_query(q, name, types[i % 6], (int)(i & 1));
		fuzz_tick(fx);
		fuzz_serve(fx, q, n, 0, (const struct sockaddr *)&fx->allowed);
	}
	n = fuzz_make_query(q, origin, TYPE_AXFR, 0);
	fuzz_serve(fx, q, n, 1, (const struct sockaddr *)&fx->allowed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char file[64];
	errbuf_t err;
	size_t i;
	int rc;

	if (fx == NULL) {
		fx = xcalloc(1, sizeof(*fx));
		fuzz_dns_init(fx, NULL, rules, NULL);
		atexit(cleanup);
	}
	fuzz_tick(fx);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(file, sizeof(file), "%s.zone", names[i]);
		fuzz_write_file(fx->dir, file, data, size);
		err[0] = '\0';
		rc = dns_view_reload(fx->view, err);
		if (getenv("FUZZ_DEBUG") != NULL)
			fprintf(stderr, "load as %s: %s\n", file,
				rc == 0 ? "ok" : err);
		if (rc == 0)
			ask_about(names[i]);
		else if (err[0] == '\0')
			fuzz_die("a zone file failed without a reason", data,
				 size);
		fuzz_remove_file(fx->dir, file);
	}
	return 0;
}
