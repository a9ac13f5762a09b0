/* server_impl.h -- the DNS server's state, shared by server.c (the main
 * loop's sockets and the query path) and workers.c (the UDP workers, each
 * a struct dns_server of its own that answers from a replica). Private to
 * src/dns/. */
#ifndef SRVGATE_DNS_SERVER_IMPL_H
#define SRVGATE_DNS_SERVER_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "answer.h"
#include "cookie.h"
#include "dns.h"
#include "htable.h"
#include "serve.h"
#include "tsig.h"

#define UDP_BATCH 32
#define TCP_MSG_MAX 65535
#define TCP_OUT_MAX (256 * 1024) /* unread answers before we stop reading */
#define MAX_SOCKETS 16
#define UDP_SOCKET_BUF (4 * 1024 * 1024)

/* A UDP query between its reading and its answer. */
struct udp_query {
	struct dns_request r;
	struct tsig_state ts, *signer; /* signer: &ts when signed */
	int failed;		       /* a TSIG that did not verify */
};

struct udp_batch {
	struct udp_query q[UDP_BATCH];
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
	struct sockaddr_storage addr[UDP_BATCH];
	uint8_t qbuf[UDP_BATCH][DNS_UDP_MAX];
	uint8_t abuf[UDP_BATCH][DNS_UDP_MAX];
};

struct tcp_stats {
	uint64_t refused_address;  /* over the address's share */
	uint64_t message_timeouts; /* a message begun and not finished */
	uint64_t idle_timeouts;	   /* no message between messages */
};

/* What /metrics shows of TCP: the counters and the two gauges. */
struct tcp_gauges {
	struct tcp_stats stats;
	uint64_t conns, addresses;
};

/* A TCP connection whose client asked for a transfer, on its way from
 * the TCP worker (which answers from a replica) to the main loop (which
 * keeps the view and the journal a transfer is made from): its socket,
 * its peer and every byte it sent that was not answered yet, the
 * transfer's request first. */
struct tcp_handover {
	int fd;
	struct sockaddr_storage peer;
	uint8_t *unread;
	size_t nunread;
	struct tcp_handover *next;
};

struct dns_workers;
struct tcp_conn;

struct dns_server {
	struct event_base *base;   /* NULL: a worker's */
	struct dns_server_config cfg;
	struct dns_answer_ctx ctx;
	struct dns_stats stats;
	struct tsig_keyring *keys; /* NULL: TSIG records are ignored */
	struct cookie_secrets cookies;
	uint64_t cookie_seen[COOKIE_VALID + 1]; /* by status */
	struct rrl *rrl;	   /* NULL: no response rate limiting */
	/* With workers the one rate limiting table is theirs to share: it
	 * is taken under this lock (only when --rrl-rate is on). */
	pthread_mutex_t *rrl_lock;
	pthread_mutex_t rrl_mu;
	struct event *udp_ev[MAX_SOCKETS];
	int udp_fd[MAX_SOCKETS];
	struct evconnlistener *tcp[MAX_SOCKETS];
	size_t nsockets;
	struct udp_batch *batch;
	uint8_t *tcp_out; /* one answer at a time: the loop is single threaded */
	size_t tcp_conns;
	size_t tcp_shared_max; /* beyond this, only addresses holding none */
	struct htable tcp_peers; /* struct tcp_peer, by address */
	struct tcp_stats tcp_stats;
	struct tcp_conn *conns;	 /* every open one, to close at the end */
	struct dns_workers *workers; /* the main loop's: NULL when none */
	/* A worker's: called when a batch of queries has been read, before
	 * any is answered. */
	void (*received)(void *arg);
	void *received_arg;
	/* The TCP worker's: takes a connection that asked for a transfer
	 * (its answers so far all sent) to the main loop. */
	void (*hand_over)(void *arg, struct tcp_handover *h);
	void *hand_over_arg;
};

/* A UDP socket bound to sa; with reuseport, one of a SO_REUSEPORT group
 * (a worker's). Returns the descriptor, or -1 with err. */
int dns_udp_socket(const struct sockaddr *sa, socklen_t len, const char *name,
		   int reuseport, char *err);
/* Reads one batch of queries from fd and sends their answers; returns
 * how many queries came (0: none waited). */
int dns_udp_serve_batch(struct dns_server *srv, int fd);
/* A worker's server: main's settings, keys and rate limiting table, its
 * own counters, cookie secrets (a copy) and buffers, answering from rep. */
struct dns_server *dns_server_for_worker(struct dns_server *main,
					 const struct replica *rep);
/* Makes a worker's server the TCP worker: it listens on every
 * --dns-listen address on base, its worker's loop. */
int dns_server_serve_tcp(struct dns_server *srv, struct event_base *base,
			 char *err);
/* The main loop takes over a connection the TCP worker handed over and
 * answers what it sent (the transfer first). Frees h. */
void dns_tcp_adopt(struct dns_server *srv, struct tcp_handover *h);
void dns_tcp_handover_free(struct tcp_handover *h);
/* The TCP counters and gauges as they are now (the caller's thread must
 * be the one that serves srv's TCP). */
void dns_tcp_gauges(const struct dns_server *srv, struct tcp_gauges *g);
void dns_server_worker_free(struct dns_server *srv);

#endif
