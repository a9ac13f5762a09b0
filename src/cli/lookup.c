/* lookup.c -- `srvgate lookup`: asks DNS what etcd's --discovery-srv
 * would, with c-ares: the SRV names in etcd's order, then each target's
 * addresses. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "cli.h"
#include "util.h"

#define EXIT_USAGE 2
#define MAX_PEERS 64
#define MAX_ROUNDS 200 /* select() rounds; c-ares's own timeouts end sooner */

struct peer {
	char scheme[8];
	char target[256];
	unsigned port;
	char addrs[512];
	int resolved;
};

struct lookup {
	struct peer peers[MAX_PEERS];
	size_t n;
	const char *scheme; /* of the SRV query under way */
};

struct addr_query {
	struct peer *peer;
};

/* Runs c-ares until no query is left. */
static void
wait_all(ares_channel ch)
{
	int rounds;

	for (rounds = 0; rounds < MAX_ROUNDS; rounds++) {
		struct timeval tv, *tvp;
		fd_set r, w;
		int nfds;

		FD_ZERO(&r);
		FD_ZERO(&w);
		nfds = ares_fds(ch, &r, &w);
		if (nfds == 0)
			return;
		tvp = ares_timeout(ch, NULL, &tv);
		select(nfds, &r, &w, NULL, tvp);
		ares_process(ch, &r, &w);
	}
}

static void
on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct ares_srv_reply *srv = NULL, *s;

	(void)timeouts;
	if (status != ARES_SUCCESS ||
	    ares_parse_srv_reply(abuf, alen, &srv) != ARES_SUCCESS)
		return;
	for (s = srv; s != NULL && l->n < MAX_PEERS; s = s->next) {
		struct peer *p = &l->peers[l->n++];

		snprintf(p->scheme, sizeof(p->scheme), "%s", l->scheme);
		snprintf(p->target, sizeof(p->target), "%s", s->host);
		p->port = s->port;
	}
	ares_free_data(srv);
}

static void
on_addr(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct peer *p = arg;
	struct ares_addrinfo_node *n;
	size_t len = 0;

	(void)timeouts;
	if (status != ARES_SUCCESS || ai == NULL)
		return;
	for (n = ai->nodes; n != NULL; n = n->ai_next) {
		char a[INET6_ADDRSTRLEN];

		format_addr(n->ai_addr, a, sizeof(a));
		len += (size_t)snprintf(p->addrs + len, sizeof(p->addrs) - len,
					"%s%s", len ? " " : "", a);
		if (len >= sizeof(p->addrs))
			break;
		p->resolved = 1;
	}
	ares_freeaddrinfo(ai);
}

/* The SRV names etcd reads, https first as etcd does. */
static void
query_services(ares_channel ch, struct lookup *l, const char *domain,
	       const char *srv_name, int client)
{
	static const char *schemes[] = { "https", "http" };
	char name[512];
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "_etcd-%s%s%s%s._tcp.%s",
			 client ? "client" : "server", i == 0 ? "-ssl" : "",
			 srv_name ? "-" : "", srv_name ? srv_name : "", domain);
		l->scheme = schemes[i];
		ares_query(ch, name, ns_c_in, ns_t_srv, on_srv, l);
		wait_all(ch);
	}
}

static int
print_result(const struct lookup *l, int client)
{
	size_t i;
	int bad = 0, plain = 0;

	for (i = 0; i < l->n; i++) {
		const struct peer *p = &l->peers[i];

		printf("%s://%s:%u %s\n", p->scheme, p->target, p->port,
		       p->resolved ? p->addrs : "(does not resolve)");
		bad |= !p->resolved;
		plain |= strcmp(p->scheme, "http") == 0;
	}
	printf("%s", client ? "--endpoints=" : "--initial-cluster=");
	for (i = 0; i < l->n; i++) {
		if (client)
			printf("%s%s://%s:%u", i ? "," : "", l->peers[i].scheme,
			       l->peers[i].target, l->peers[i].port);
		else
			printf("%s%zu=%s://%s:%u", i ? "," : "", i,
			       l->peers[i].scheme, l->peers[i].target,
			       l->peers[i].port);
	}
	printf("\n");
	if (plain && !client)
		fprintf(stderr, "srvgate lookup: note: etcd 3.4 reads only "
				"_etcd-server-ssl records (etcd issue 11321); "
				"http peers need etcd 3.5 or later\n");
	if (bad)
		fprintf(stderr, "srvgate lookup: some targets do not "
				"resolve\n");
	return bad ? 1 : 0;
}

static const char usage[] =
	"usage: srvgate lookup DOMAIN [--dns HOST:PORT] [--srv-name NAME] "
	"[--client]\n"
	"Reads the SRV records etcd's --discovery-srv reads and resolves their "
	"targets.\n";

struct lookup_opts {
	const char *dns, *srv_name, *domain;
	int client;
};

/* Returns 0 to go on, or the exit code: 0 after --help, 2 for bad use. */
static int
parse_lookup_opts(int argc, char **argv, struct lookup_opts *o)
{
	static const struct option opts[] = {
		{ "dns", required_argument, NULL, 'd' },
		{ "srv-name", required_argument, NULL, 'n' },
		{ "client", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'd')
			o->dns = optarg;
		else if (c == 'n')
			o->srv_name = optarg;
		else if (c == 'c')
			o->client = 1;
		else if (c == 'h') {
			printf("%s", usage);
			return -1;
		} else {
			fprintf(stderr, "srvgate lookup: bad flag '%s'\n%s",
				argv[optind - 1], usage);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "srvgate lookup: give one DOMAIN\n%s", usage);
		return EXIT_USAGE;
	}
	o->domain = argv[optind];
	return 0;
}

int
tool_lookup(int argc, char **argv)
{
	struct ares_options ao = { .timeout = 2000, .tries = 2 };
	struct lookup_opts o;
	struct lookup l;
	ares_channel ch;
	size_t i;
	int rc = parse_lookup_opts(argc, argv, &o);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	memset(&l, 0, sizeof(l));
	ares_library_init(ARES_LIB_INIT_ALL);
	if (ares_init_options(&ch, &ao, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) !=
		    ARES_SUCCESS ||
	    (o.dns != NULL &&
	     ares_set_servers_ports_csv(ch, o.dns) != ARES_SUCCESS)) {
		fprintf(stderr, "srvgate lookup: cannot use DNS server '%s'\n",
			o.dns ? o.dns : "from /etc/resolv.conf");
		ares_library_cleanup();
		return o.dns ? EXIT_USAGE : 1;
	}
	query_services(ch, &l, o.domain, o.srv_name, o.client);
	for (i = 0; i < l.n; i++) {
		struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };

		ares_getaddrinfo(ch, l.peers[i].target, NULL, &hints, on_addr,
				 &l.peers[i]);
	}
	wait_all(ch);
	ares_destroy(ch);
	ares_library_cleanup();
	if (l.n == 0) {
		fprintf(stderr, "srvgate lookup: no SRV records for _etcd-%s"
				"[-ssl]%s%s._tcp.%s\n",
			o.client ? "client" : "server", o.srv_name ? "-" : "",
			o.srv_name ? o.srv_name : "", o.domain);
		return 1;
	}
	return print_result(&l, o.client);
}
