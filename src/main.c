/* main.c -- the srvgate command: subcommands and their exit codes. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "grpc.h"
#include "server.h"
#include "tls.h"
#include "cli.h"
#include "util.h"
#include "version.h"

#define EXIT_USAGE 2

static const char USAGE[] =
	"usage: srvgate <command> [flags]\n\n"
	"commands:\n"
	"  serve      run the discovery service (srvgate serve --help)\n"
	"  new        ask a running srvgate for a discovery URL\n"
	"  import     copy a token from another discovery service\n"
	"  initial-cluster  print a token's static --initial-cluster\n"
	"  lookup     read the SRV records etcd's --discovery-srv reads\n"
	"  sync       make a token follow a running cluster's members\n"
	"  alias      publish a token's records under another name\n"
	"  tokens     list, show or delete the tokens of a running srvgate\n"
	"  backup     copy the store, online, to a file\n"
	"  version    print the version\n";

/* What needs more than the flag parser: keys, rules and certificates are
 * read once here so that a bad one exits 2 before the data dir or any
 * socket is opened (a running srvgate holds them). */
static int
check_serve(const struct config *cfg, char *err)
{
	struct tls *t = NULL;

	if (dns_check_config(cfg, err) != 0 || grpc_check_config(cfg, err) ||
	    tls_new(&t, cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca,
		    err) != 0)
		return -1;
	tls_free(t);
	return 0;
}

/* A big registry is mostly small allocations made once, at start; on a
 * virtual machine each 4 KiB page fault can cost 20 us, a third of the
 * start of 100k tokens. glibc backs its heap with transparent huge pages
 * when GLIBC_TUNABLES says so, which it reads only at exec: so serve runs
 * itself again, once, with it. Not under valgrind (its exec would leave
 * the new image unchecked) nor sanitizers; SRVGATE_HUGE_PAGES=0 opts
 * out. When the exec fails, srvgate carries on as it is. */
static void
exec_with_huge_pages(char **argv)
{
	const char *tun = getenv("GLIBC_TUNABLES");
	const char *opt = "glibc.malloc.hugetlb=1";
	const char *pre = getenv("LD_PRELOAD");
	const char *off = getenv("SRVGATE_HUGE_PAGES");
	char thp[128] = "", *val;
	FILE *f;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return;
#endif
	if ((off != NULL && strcmp(off, "0") == 0) ||
	    (tun != NULL && strstr(tun, "glibc.malloc.hugetlb") != NULL) ||
	    (pre != NULL && strstr(pre, "vgpreload") != NULL))
		return;
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f == NULL)
		return;
	if (fgets(thp, sizeof(thp), f) == NULL || strstr(thp, "[never]"))
		thp[0] = '\0';
	fclose(f);
	if (thp[0] == '\0' || asprintf(&val, "%s%s%s", tun ? tun : "",
					 tun ? ":" : "", opt) < 0)
		return;
	setenv("GLIBC_TUNABLES", val, 1);
	free(val);
	execv("/proc/self/exe", argv);
}

static int
cmd_serve(int argc, char **argv)
{
	struct config cfg;
	errbuf_t err;
	int rc;

	config_defaults(&cfg);
	rc = config_parse_serve(&cfg, argc, argv, err);
	if (rc == 1) {
		config_usage_serve(stdout);
		return 0;
	}
	if (rc != 0 || check_serve(&cfg, err) != 0) {
		fprintf(stderr, "srvgate serve: %s\n", err);
		return EXIT_USAGE;
	}
	if (server_run(&cfg, err) != 0) {
		fprintf(stderr, "srvgate serve: %s\n", err);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "serve") == 0) {
		exec_with_huge_pages(argv);
		/* The exec of /proc/self/exe named the process "exe" (ps,
		 * top, killall read this name). */
		name_thread(pthread_self(), basename(argv[0]), -1);
		return cmd_serve(argc - 1, argv + 1);
	}
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} tools[] = {
		{ "new", tool_new }, { "import", tool_import },
		{ "initial-cluster", tool_initial_cluster },
		{ "lookup", tool_lookup }, { "sync", tool_sync },
		{ "alias", tool_alias }, { "backup", tool_backup },
		{ "tokens", tool_tokens },
	};
	size_t i;

	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (strcmp(cmd, tools[i].name) == 0)
			return tools[i].run(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("srvgate %s (commit %s)\n", SRVGATE_VERSION,
		       SRVGATE_COMMIT);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(USAGE, stdout);
		return 0;
	}
	fprintf(stderr, "srvgate: %s%s\n%s",
		cmd[0] ? "unknown command: " : "no command given", cmd, USAGE);
	return EXIT_USAGE;
}
