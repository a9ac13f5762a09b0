/* main.c -- the srvgate command: subcommands and their exit codes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "httpc.h"
#include "server.h"
#include "util.h"

#define EXIT_USAGE 2

static const char USAGE[] =
	"usage: srvgate <command> [flags]\n\n"
	"commands:\n"
	"  serve      run the discovery service (srvgate serve --help)\n"
	"  new        ask a running srvgate for a discovery URL\n"
	"  version    print the version\n";

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
	if (rc != 0) {
		fprintf(stderr, "srvgate serve: %s\n", err);
		return EXIT_USAGE;
	}
	if (server_run(&cfg, err) != 0) {
		fprintf(stderr, "srvgate serve: %s\n", err);
		return 1;
	}
	return 0;
}

static int
cmd_new(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gateway", required_argument, NULL, 'g' },
		{ "size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *gateway = getenv("SRVGATE_GATEWAY"), *size = "3";
	struct httpc_response resp;
	char url[2048];
	errbuf_t err;
	uint64_t n;
	int c;

	if (gateway == NULL)
		gateway = "http://127.0.0.1:8087";
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'g')
			gateway = optarg;
		else if (c == 's')
			size = optarg;
		else if (c == 'h') {
			printf("usage: srvgate new [--gateway URL] [--size N]\n"
			       "Prints a new discovery URL (gateway default "
			       "http://127.0.0.1:8087, env SRVGATE_GATEWAY).\n");
			return 0;
		} else {
			fprintf(stderr, "srvgate new: bad flag '%s'\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || parse_uint(size, 1, 1000000, &n) != 0) {
		fprintf(stderr, "srvgate new: --size must be a whole number "
				"from 1\n");
		return EXIT_USAGE;
	}
	snprintf(url, sizeof(url), "%s/new?size=%llu", gateway,
		 (unsigned long long)n);
	if (httpc_request("GET", url, NULL, NULL, 10000, &resp, err) != 0) {
		fprintf(stderr, "srvgate new: %s: %s\n", gateway, err);
		return 1;
	}
	if (resp.status != 200) {
		fprintf(stderr, "srvgate new: %s answered %d: %s\n", gateway,
			resp.status, resp.body);
		free(resp.body);
		return 1;
	}
	printf("%s\n", resp.body);
	free(resp.body);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "new") == 0)
		return cmd_new(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("srvgate %s\n", SRVGATE_VERSION);
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
