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
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "lookup.h"
#include "util.h"

/* Exit codes, so that scripts can tell what went wrong (README lists
 * them): 1 a target does not resolve (or another failure), 2 bad usage. */
#define EXIT_USAGE 2
#define EXIT_NXDOMAIN 3	 /* the SRV names do not exist */
#define EXIT_NODATA 4	 /* they exist but hold no SRV records */
#define EXIT_REFUSED 5	 /* the server refused: not authoritative for it */
#define EXIT_SERVFAIL 6
#define EXIT_NO_SERVER 7 /* no answer: timeout, or nothing listens */
#define MAX_PEERS 64
#define MAX_ROUNDS 200 /* select() rounds; c-ares's own timeouts end sooner */

struct lookup {
	struct peer peers[MAX_PEERS];
	size_t n;
	const char *scheme; /* of the SRV query under way */
	int status[2];	    /* c-ares's answer to each SRV query */
	int query;	    /* which one is under way */
};

struct lookup_opts {
	const char *dns, *srv_name, *domain, *gateway;
	int client;
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
	l->status[l->query] = status;
	if (status == ARES_SUCCESS &&
	    ares_parse_srv_reply(abuf, alen, &srv) != ARES_SUCCESS)
		l->status[l->query] = ARES_EBADRESP;
	if (l->status[l->query] != ARES_SUCCESS)
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
		l->query = i;
		ares_query(ch, name, ns_c_in, ns_t_srv, on_srv, l);
		wait_all(ch);
	}
}

/* The --initial-cluster line: names from the token's values where the
 * gateway told them (names_err says why not), else etcd's own stand-ins
 * 0, 1, ... which the note explains. */
static void
print_initial_cluster(const struct lookup *l, const char *gateway,
		      const char *names_err)
{
	size_t i, unnamed = 0;

	printf("--initial-cluster=");
	for (i = 0; i < l->n; i++) {
		const struct peer *p = &l->peers[i];

		if (p->name[0] != '\0')
			printf("%s%s=", i ? "," : "", p->name);
		else
			printf("%s%zu=", i ? "," : "", unnamed++);
		printf("%s://%s:%u", p->scheme, p->target, p->port);
	}
	printf("\n");
	if (unnamed == 0)
		return;
	fprintf(stderr, "srvgate lookup: note: DNS holds no member names; "
			"0, 1, ... stand in for %s, as in etcd's own "
			"--discovery-srv. Before pasting the line into "
			"--initial-cluster, replace each with that member's "
			"--name. ", unnamed == l->n ? "them" : "the unknown ones");
	if (names_err != NULL)
		fprintf(stderr, "The names come from the srvgate that holds "
				"the token (--gateway, now %s): %s\n",
			gateway, names_err);
	else
		fprintf(stderr, "The srvgate at %s holds no member with "
				"those URLs\n", gateway);
}

static int
print_result(const struct lookup *l, const struct lookup_opts *o,
	     const char *names_err)
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
	if (o->client) {
		printf("--endpoints=");
		for (i = 0; i < l->n; i++)
			printf("%s%s://%s:%u", i ? "," : "", l->peers[i].scheme,
			       l->peers[i].target, l->peers[i].port);
		printf("\n");
	} else
		print_initial_cluster(l, o->gateway, names_err);
	if (plain && !o->client)
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
	"[--client] [--gateway URL]\n"
	"Reads the SRV records etcd's --discovery-srv reads and resolves their "
	"targets.\n"
	"The member names of --initial-cluster come from the srvgate at "
	"--gateway\n(default $SRVGATE_GATEWAY or http://127.0.0.1:8087), "
	"which holds the token.\n";


/* Returns 0 to go on, or the exit code: 0 after --help, 2 for bad use. */
static int
parse_lookup_opts(int argc, char **argv, struct lookup_opts *o)
{
	static const struct option opts[] = {
		{ "dns", required_argument, NULL, 'd' },
		{ "srv-name", required_argument, NULL, 'n' },
		{ "client", no_argument, NULL, 'c' },
		{ "gateway", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->gateway = getenv("SRVGATE_GATEWAY");
	if (o->gateway == NULL || o->gateway[0] == '\0')
		o->gateway = "http://127.0.0.1:8087";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'd')
			o->dns = optarg;
		else if (c == 'n')
			o->srv_name = optarg;
		else if (c == 'c')
			o->client = 1;
		else if (c == 'g')
			o->gateway = optarg;
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

/* c-ares reports REFUSED and SERVFAIL from every server as "connection
 * refused", as if nothing listened: ask the first server once more, by
 * hand, to tell them apart. Returns the rcode, or -1 for no answer. */
static int
probe_rcode(ares_channel ch, const char *name)
{
	struct ares_addr_port_node *servers = NULL;
	struct sockaddr_storage ss;
	unsigned char *q = NULL, buf[512];
	struct timeval tv = { 2, 0 };
	socklen_t sl;
	int qlen = 0, fd, rcode = -1;
	ssize_t n;

	if (ares_get_servers_ports(ch, &servers) != ARES_SUCCESS ||
	    servers == NULL)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (servers->family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr = servers->addr.addr4;
		a->sin_port = htons(servers->udp_port ? servers->udp_port : 53);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, &servers->addr.addr6, sizeof(a->sin6_addr));
		a->sin6_port = htons(servers->udp_port ? servers->udp_port : 53);
		sl = sizeof(*a);
	}
	ares_free_data(servers);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ares_create_query(name, ns_c_in, ns_t_srv, 0x5347, 0, &q,
					&qlen, 0) != ARES_SUCCESS) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, q, (size_t)qlen, 0, (struct sockaddr *)&ss, sl) == qlen &&
	    (n = recv(fd, buf, sizeof(buf), 0)) >= 12 && buf[0] == 0x53 &&
	    buf[1] == 0x47)
		rcode = buf[3] & 0xF;
	ares_free_string(q);
	close(fd);
	return rcode;
}

/* Nothing found: says why, from the worse of the two SRV answers. A
 * server that did not answer, or refused, hides what the name holds. */
static int
report_none(const struct lookup *l, const struct lookup_opts *o)
{
	static const struct { int status, code; const char *why; } order[] = {
		{ ARES_ETIMEOUT, EXIT_NO_SERVER, "no DNS server answered "
		  "(timeout)" },
		{ ARES_ECONNREFUSED, EXIT_NO_SERVER, "no DNS server answered "
		  "(connection refused: nothing listens there)" },
		{ ARES_EREFUSED, EXIT_REFUSED, "the DNS server REFUSED the "
		  "query (it is not authoritative for the name, nor a "
		  "resolver for it)" },
		{ ARES_ESERVFAIL, EXIT_SERVFAIL, "the DNS server answered "
		  "SERVFAIL" },
		{ ARES_ENODATA, EXIT_NODATA, "the name exists but holds no SRV "
		  "records (NOERROR, no data)" },
		{ ARES_ENOTFOUND, EXIT_NXDOMAIN, "the name does not exist "
		  "(NXDOMAIN): check the token and the zone" },
	};
	const char *server = o->dns ? o->dns : "the servers of /etc/resolv.conf";
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (l->status[0] == order[i].status ||
		    l->status[1] == order[i].status)
			break;
	fprintf(stderr, "srvgate lookup: no SRV records for _etcd-%s[-ssl]%s%s"
		"._tcp.%s from %s: %s\n", o->client ? "client" : "server",
		o->srv_name ? "-" : "", o->srv_name ? o->srv_name : "",
		o->domain, server,
		i < sizeof(order) / sizeof(order[0]) ? order[i].why :
		ares_strerror(l->status[0] ? l->status[0] : l->status[1]));
	return i < sizeof(order) / sizeof(order[0]) ? order[i].code : 1;
}

int
tool_lookup(int argc, char **argv)
{
	struct ares_options ao = { .timeout = 2000, .tries = 2 };
	struct lookup_opts o;
	struct lookup l;
	ares_channel ch;
	errbuf_t names_err;
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
	if (l.n == 0 && (l.status[0] == ARES_ECONNREFUSED ||
			 l.status[1] == ARES_ECONNREFUSED)) {
		char name[512];
		int rcode;

		snprintf(name, sizeof(name), "_etcd-%s._tcp.%s",
			 o.client ? "client" : "server", o.domain);
		rcode = probe_rcode(ch, name);
		if (rcode == ns_r_refused)
			l.status[0] = l.status[1] = ARES_EREFUSED;
		else if (rcode == ns_r_servfail)
			l.status[0] = l.status[1] = ARES_ESERVFAIL;
	}
	ares_destroy(ch);
	ares_library_cleanup();
	if (l.n == 0)
		return report_none(&l, &o);
	if (!o.client &&
	    lookup_names(l.peers, l.n, o.gateway, o.domain, names_err) >= 0)
		return print_result(&l, &o, NULL);
	return print_result(&l, &o, names_err);
}
