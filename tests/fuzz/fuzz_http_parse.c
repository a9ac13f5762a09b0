/* fuzz_http_parse.c -- libFuzzer harness: the parsers of what HTTP clients
 * and flags hand srvgate as text. The input (up to its first NUL) goes to
 * each of them: request paths (keypath_parse), member values
 * (peers_parse), durations, whole numbers, HOST:PORT and socket addresses
 * (util.c), names, and the --tsig-key and --allow-transfer values.
 * Whatever they accept is checked against what they promise. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "keypath.h"
#include "peers.h"
#include "registry.h"
#include "tsig.h"
#include "util.h"

static void
die(const char *what, const char *input)
{
	fprintf(stderr, "fuzz check failed: %s\ninput: '%s'\n", what, input);
	abort();
}

static void
check_keypath(const char *s)
{
	struct keypath kp;
	errbuf_t err;

	if (keypath_parse(s, &kp, err) != 0)
		return;
	if (!registry_valid_name(kp.token))
		die("keypath: token is not a valid name", s);
	if (kp.kind == KEY_MEMBER && !registry_valid_name(kp.member))
		die("keypath: member is not a valid name", s);
	if (kp.kind != KEY_MEMBER && kp.member[0] != '\0')
		die("keypath: a member where there is none", s);
}

static void
check_peers(const char *s, size_t max)
{
	struct peer_url peers[PEERS_MAX];
	errbuf_t err;
	int n, i;

	n = peers_parse(s, peers, max, err);
	if (n < 0)
		return;
	if (n == 0 || (size_t)n > max)
		die("peers: count out of range", s);
	for (i = 0; i < n; i++) {
		const struct peer_url *p = &peers[i];

		if (p->port > 65535 || p->host[0] == '\0' || p->name[0] == '\0')
			die("peers: bad port, host or name", s);
		if (strcmp(p->scheme, "http") && strcmp(p->scheme, "https") &&
		    strcmp(p->scheme, "unix") && strcmp(p->scheme, "unixs"))
			die("peers: scheme not allowed", s);
		if (strlen(p->host) >= sizeof(p->host) ||
		    strlen(p->name) >= sizeof(p->name))
			die("peers: unterminated field", s);
	}
}

static void
check_numbers(const char *s)
{
	uint64_t v;

	parse_duration_ms(s, &v);
	if (parse_uint(s, 0, UINT64_MAX, &v) == 0 && strlen(s) > 19)
		die("parse_uint: took more than 19 digits", s);
	if (parse_uint(s, 1, 1000000, &v) == 0 && (v < 1 || v > 1000000))
		die("parse_uint: out of [min, max]", s);
}

static void
check_hostport(const char *s)
{
	char host[256], small[8];
	unsigned port;

	if (split_hostport(s, host, sizeof(host), &port) == 0 &&
	    (port > 65535 || strlen(host) >= sizeof(host)))
		die("split_hostport: port or host out of range", s);
	if (split_hostport(s, small, sizeof(small), &port) == 0 &&
	    strlen(small) >= sizeof(small))
		die("split_hostport: host overflows a small buffer", s);
}

/* An address that parses prints as one that parses to the same. */
static void
check_sockaddr(const char *s)
{
	struct sockaddr_storage ss, again;
	socklen_t len, len2;
	char text[INET6_ADDRSTRLEN], hp[INET6_ADDRSTRLEN + 16];
	errbuf_t err;

	if (parse_sockaddr(s, &ss, &len, err) != 0)
		return;
	if (!(ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) &&
	    !(ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6)))
		die("parse_sockaddr: family and length disagree", s);
	format_addr((struct sockaddr *)&ss, text, sizeof(text));
	snprintf(hp, sizeof(hp), ss.ss_family == AF_INET6 ? "[%s]:%u" :
							    "%s:%u",
		 text, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	if (parse_sockaddr(hp, &again, &len2, err) != 0 || len2 != len ||
	    memcmp(&ss, &again, len) != 0)
		die("parse_sockaddr: does not survive format_addr", s);
}

/* --tsig-key and --allow-transfer values. */
static void
check_dns_flags(const char *s)
{
	static struct tsig_keyring kr;
	static struct acl acl;
	struct config_list rules;
	struct sockaddr_in sin;
	errbuf_t err;

	kr.n = 0;
	if (tsig_key_add(&kr, "known:hmac-sha256:c2VjcmV0", err) != 0)
		die("tsig_key_add: the fixed key failed", s);
	if (tsig_key_add(&kr, s, err) == 0) {
		const struct tsig_key *k = &kr.keys[1];

		if (k->name_len == 0 || k->mac_len == 0 ||
		    k->secret_len > sizeof(k->secret) ||
		    tsig_key_find(&kr, k->name_text) == NULL)
			die("tsig_key_add: a key it cannot find", s);
	}
	if (strlen(s) >= sizeof(rules.items[0]))
		return;
	memset(&rules, 0, sizeof(rules));
	snprintf(rules.items[0], sizeof(rules.items[0]), "%s", s);
	rules.n = 1;
	if (acl_parse(&acl, &rules, &kr, err) != 0)
		return;
	if (acl.n != 1 || acl.rules[0].prefix > 128)
		die("acl_parse: a rule out of range", s);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7F000001);
	acl_allows(&acl, (struct sockaddr *)&sin, NULL);
	acl_allows(&acl, (struct sockaddr *)&sin, &kr.keys[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly the string, so a read past its end is caught. */
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	registry_valid_name(s);
	check_keypath(s);
	check_peers(s, PEERS_MAX);
	check_peers(s, 1);
	check_numbers(s);
	check_hostport(s);
	check_sockaddr(s);
	check_dns_flags(s);
	free(s);
	return 0;
}
