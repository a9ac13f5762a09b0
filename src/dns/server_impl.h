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

#define UDP_BATCH 32
#define TCP_MSG_MAX 65535
#define TCP_OUT_MAX (256 * 1024) /* unread answers before we stop reading */
#define MAX_SOCKETS 16
#define UDP_SOCKET_BUF (4 * 1024 * 1024)

struct udp_batch {
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

struct dns_workers;

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
	struct dns_workers *workers; /* the main loop's: NULL when none */
	/* A worker's: called when a batch of queries has been read, before
	 * any is answered. */
	void (*received)(void *arg);
	void *received_arg;
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
void dns_server_worker_free(struct dns_server *srv);

#endif
