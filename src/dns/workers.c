/* workers.c -- the DNS workers (--dns-workers N).
 *
 * Threading model: the main loop keeps the view (view.c) and everything
 * that writes it (registry, HTTP, gRPC, SIGHUP), and serves transfers
 * and NOTIFY itself. Each worker is a thread with an event loop of its
 * own (libevent) over its own SO_REUSEPORT UDP socket on every
 * --dns-listen address (the kernel spreads queries over the group by
 * source address and port) and an eventfd the main loop rings when it
 * has a batch for it. Worker 0 is also the TCP worker: it holds the TCP
 * listeners and connections and answers them from its replica, so that
 * neither a registration burst on the main loop nor a flood of TCP
 * clients slows the other down. A TCP client that asks for a transfer
 * (AXFR, IXFR) is handed over, socket and unread bytes, to the main loop,
 * which makes transfers from the view and its journal: through a queue
 * under a mutex and an eventfd the main loop listens on. A dedicated TCP
 * thread would need a replica of its own: one more link in every
 * published node and one more table, 24 bytes a name (about 19 MB at
 * 100k tokens x 5 members).
 *
 * Hand-over: view.c turns every settled batch into one immutable
 * pub_batch (replica.h) and calls workers_publish, which appends it to
 * each worker's queue under the worker's mutex. Once a worker has read a
 * batch of queries (recvmmsg) and before it answers any, it takes its
 * whole queue under the same mutex and applies it to its own replica: a
 * query that arrives after a commit was acknowledged is answered with it.
 * An idle worker is woken (eventfd) at most every WAKE_MS to apply what
 * waits, so that superseded nodes are freed. The mutex guards the
 * queue only: the query path reads the replica, which no other thread
 * touches, so it takes no lock and (the replica being applied outside
 * it) allocates nothing.
 *
 * Each worker has its own counters, cookie secrets (a copy; SIGHUP sends
 * new ones through the queue) and UDP buffers. Rate limiting
 * (--rrl-rate, off by default) keeps one table for all, under a mutex,
 * so that a source is limited as one whichever worker its queries reach.
 * After each batch of queries a worker publishes its counters with atomic
 * stores; /metrics sums them.
 */
#include "workers.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "replica.h"
#include "server_impl.h"
#include "util.h"
#include "view.h"

#define WAKE_MS 10	    /* an idle worker applies batches this late */
#define WAKE_QUEUE 64	    /* ... or when this many wait */
#define NSTATS (sizeof(struct dns_stats) / sizeof(uint64_t))
#define NTCP (sizeof(struct tcp_gauges) / sizeof(uint64_t))
#define COALESCE_BELOW (UDP_BATCH / 2) /* a batch this small: nap */
#define GAP_MAX_US 1000000 /* a longer gap between queries counts as this */
#define TCP_TURN_US 1000 /* while napping, TCP's turn comes this often */

struct dns_worker {
	unsigned id;
	pthread_t thread;
	int started;
	struct dns_server *srv; /* its own: counters, cookies, buffers */
	struct replica replica;
	struct event_base *base; /* its loop */
	int feed;		 /* eventfd */
	struct event *feed_ev;
	int fd[MAX_SOCKETS];
	struct event *udp_ev[MAX_SOCKETS];
	size_t nfd;
	int got; /* queries read in this turn of the loop */
	uint64_t loop_us; /* when the loop last looked at every socket */
	unsigned coalesce_us; /* nap after a small batch; 0: none */
	uint64_t last_batch_us;	/* when the last batch of queries came */
	uint64_t gap_us;	/* mean time between queries, about */
	uint64_t naps;		/* atomic: for /metrics */
	/* The queue, the only thing shared with the main loop. */
	pthread_mutex_t mu;
	struct pub_batch **queue;
	size_t nqueue, cap;
	int pending; /* atomic: the queue has something */
	int stop;    /* under mu */
	/* The thread's own: the array it hands back, and whether it was
	 * told to stop. */
	struct pub_batch **spare;
	size_t spare_cap;
	int stop_seen;
	/* Counters as last published (atomic stores), for /metrics. */
	uint64_t shown[NSTATS];
	uint64_t cookies_shown[COOKIE_VALID + 1];
	uint64_t tcp_shown[NTCP]; /* the TCP worker's */
};

struct dns_workers {
	unsigned n;
	struct dns_worker *w;
	struct dns_view *view; /* feeds us until we stop */
	struct dns_server *main;
	struct event *timer;   /* wakes idle workers (on the main loop) */
	int timer_armed;
	/* Connections the TCP worker hands over, for the main loop. */
	pthread_mutex_t handover_mu;
	struct tcp_handover *handovers;
	size_t nhandovers;
	int handover_fd; /* eventfd */
	struct event *handover_ev;
};

_Static_assert(sizeof(struct dns_stats) % sizeof(uint64_t) == 0,
	       "struct dns_stats holds only uint64_t counters");
_Static_assert(sizeof(struct tcp_gauges) == NTCP * sizeof(uint64_t),
	       "struct tcp_gauges holds only uint64_t counters");

/* ---- the worker's thread ---- */

/* Whether w is the TCP worker: it holds the TCP listeners. */
static int
serves_tcp(const struct dns_worker *w)
{
	return w->srv->nsockets > 0;
}

static void
publish_stats(struct dns_worker *w)
{
	const uint64_t *s = (const uint64_t *)&w->srv->stats;
	struct tcp_gauges tcp;
	size_t i;

	for (i = 0; i < NSTATS; i++)
		__atomic_store_n(&w->shown[i], s[i], __ATOMIC_RELAXED);
	for (i = 0; i <= COOKIE_VALID; i++)
		__atomic_store_n(&w->cookies_shown[i], w->srv->cookie_seen[i],
				 __ATOMIC_RELAXED);
	if (!serves_tcp(w))
		return;
	dns_tcp_gauges(w->srv, &tcp);
	s = (const uint64_t *)&tcp;
	for (i = 0; i < NTCP; i++)
		__atomic_store_n(&w->tcp_shown[i], s[i], __ATOMIC_RELAXED);
}

/* Applies every batch queued; returns 1 when told to stop. */
static int
apply_queue(struct dns_worker *w)
{
	struct pub_batch **q;
	size_t n, cap, i;
	uint64_t ticks;
	int stop;

	if (read(w->feed, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("dns worker %u: eventfd: %s", w->id, strerror(errno));
	pthread_mutex_lock(&w->mu);
	q = w->queue;
	n = w->nqueue;
	cap = w->cap;
	w->queue = w->spare; /* the main loop fills the other one meanwhile */
	w->cap = w->spare_cap;
	w->nqueue = 0;
	__atomic_store_n(&w->pending, 0, __ATOMIC_RELAXED);
	stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < n; i++) {
		replica_apply(&w->replica, q[i], &w->srv->cookies);
		pub_batch_put(q[i]);
	}
	w->spare = q;
	w->spare_cap = cap;
	return stop;
}

/* A batch of queries has been read: whatever the main loop published
 * before they came goes in before they are answered. A query sent after
 * its registration was acknowledged (the batch published before the ack)
 * therefore sees it, as on the single loop. */
static void
on_received(void *arg)
{
	struct dns_worker *w = arg;

	if (__atomic_load_n(&w->pending, __ATOMIC_ACQUIRE))
		w->stop_seen |= apply_queue(w);
}

/* Interrupt coalescing, as a NIC does it (ethtool's rx-usecs): after a
 * small batch the worker naps --dns-udp-coalesce-us before it asks for
 * more, so that the next batch is bigger. Its answers are already sent;
 * only a query that comes during the nap waits, for at most twice the
 * nap. Where wake-ups are dear (a VM: each one an inter-processor
 * interrupt through the hypervisor) a worker woken for every two or three
 * queries spends most of its time, and its clients' time, being woken:
 * in bench-dns (full load) a 50 us nap took CPU per query from 6.5 to
 * 3.1 us, and the mean latency from 0.6 to 0.23 ms.
 *
 * A nap is itself a sleep and a wake-up, so it pays only when queries
 * come often enough for one to be expected during it: the worker keeps
 * the mean time between queries (a moving average over batches) and naps
 * only when that is below the nap. At 5k queries/s it never naps. */
static int
coalesce(struct dns_worker *w, int got)
{
	uint64_t now = now_monotonic_ns() / 1000;
	uint64_t gap = (now - w->last_batch_us) / (unsigned)got;
	struct timespec nap = { 0, (long)w->coalesce_us * 1000 };

	w->last_batch_us = now;
	w->gap_us = (7 * w->gap_us + (gap < GAP_MAX_US ? gap : GAP_MAX_US)) / 8;
	if (w->coalesce_us > 0 && got < COALESCE_BELOW &&
	    w->gap_us < w->coalesce_us) {
		__atomic_add_fetch(&w->naps, 1, __ATOMIC_RELAXED);
		nanosleep(&nap, NULL);
		return 1;
	}
	return 0;
}

/* Reads one batch from every socket; returns how many queries came. */
static int
serve_sockets(struct dns_worker *w)
{
	size_t i;
	int got = 0;

	for (i = 0; i < w->nfd; i++)
		got += dns_udp_serve_batch(w->srv, w->fd[i]);
	return got;
}

static void
on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct dns_worker *w = arg;

	(void)what;
	w->got += dns_udp_serve_batch(w->srv, fd);
}

/* A ring of the eventfd: whole batches, between two batches of queries.
 * The ring is always read (apply_queue): a tick that came after the queue
 * was last taken would otherwise wake the loop forever. */
static void
on_feed(evutil_socket_t fd, short what, void *arg)
{
	struct dns_worker *w = arg;

	(void)fd;
	(void)what;
	w->stop_seen |= apply_queue(w);
	if (w->stop_seen)
		event_base_loopbreak(w->base);
}

/* One turn: after a nap the UDP sockets are read directly; else the
 * loop waits for queries, TCP or a batch of the view. While UDP keeps the
 * TCP worker napping, its TCP connections get a turn of the loop (without
 * waiting) every TCP_TURN_US: a turn is a system call, which every batch
 * of queries would pay for (0.4 us a query in bench-dns). Returns how
 * many UDP queries came, or -1 when the loop fails. */
static int
serve_turn(struct dns_worker *w, int napped)
{
	uint64_t now = now_monotonic_ns() / 1000;
	int rc = 0;

	w->got = 0;
	if (!napped) {
		rc = event_base_loop(w->base, EVLOOP_ONCE);
		w->loop_us = now;
	} else {
		w->got = serve_sockets(w);
		if (serves_tcp(w) && now - w->loop_us >= TCP_TURN_US) {
			rc = event_base_loop(w->base, EVLOOP_NONBLOCK);
			w->loop_us = now;
		}
	}
	if (rc < 0) {
		log_error("dns worker %u: its event loop failed", w->id);
		return -1;
	}
	return w->got;
}

static void *
worker_run(void *arg)
{
	struct dns_worker *w = arg;
	int napped = 0, got;

	w->stop_seen = apply_queue(w); /* the view */
	if (w->coalesce_us > 0) /* the nap lasts at most twice as long */
		prctl(PR_SET_TIMERSLACK, w->coalesce_us * 1000UL, 0, 0, 0);
	while (!w->stop_seen) {
		got = serve_turn(w, napped);
		if (got < 0)
			break;
		publish_stats(w);
		napped = got > 0 && coalesce(w, got);
	}
	return NULL;
}

/* ---- the main loop's side ---- */

static void
wake(struct dns_worker *w)
{
	uint64_t one = 1;

	if (write(w->feed, &one, sizeof(one)) < 0)
		log_debug("dns worker %u: eventfd: %s", w->id, strerror(errno));
}

/* Queues b for w; wakes w when asked to or when its queue is long. */
static void
queue_push(struct dns_worker *w, struct pub_batch *b, int now)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	if (w->nqueue == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->queue = xrealloc(w->queue, w->cap * sizeof(*w->queue));
	}
	w->queue[w->nqueue++] = b;
	n = w->nqueue;
	__atomic_store_n(&w->pending, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&w->mu);
	if (now || n >= WAKE_QUEUE)
		wake(w);
}

/* The idle workers' late wake-up: what they hold goes in, so that old
 * nodes are freed. */
static void
on_wake_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns_workers *ws = arg;
	unsigned i;

	(void)fd;
	(void)what;
	ws->timer_armed = 0;
	for (i = 0; i < ws->n; i++)
		if (__atomic_load_n(&ws->w[i].pending, __ATOMIC_ACQUIRE))
			wake(&ws->w[i]);
}

/* A worker busy with queries applies a batch before its next batch of
 * queries (on_received), so it needs no wake-up for that; an idle one is
 * woken at most every WAKE_MS, not once per commit: the wake-ups would
 * cost the commits' loop (and the CPUs) more than the batches do. */
void
workers_publish(struct dns_workers *ws, struct pub_batch *b)
{
	struct timeval tv = { 0, WAKE_MS * 1000 };
	unsigned i;

	if (pub_batch_empty(b)) {
		pub_batch_discard(b);
		return;
	}
	for (i = 0; i < ws->n; i++)
		queue_push(&ws->w[i], b, b->reset || b->has_cookies);
	if (!ws->timer_armed && ws->timer != NULL) {
		evtimer_add(ws->timer, &tv);
		ws->timer_armed = 1;
	}
}

static void
feed(struct pub_batch *b, void *arg)
{
	workers_publish(arg, b);
}

void
workers_cookies(struct dns_workers *ws, const struct cookie_secrets *s)
{
	struct pub_batch *b = pub_batch_new(ws->n, 0);

	b->has_cookies = 1;
	b->cookies = *s;
	workers_publish(ws, b);
}

unsigned
workers_count(const struct dns_workers *ws)
{
	return ws->n;
}

/* ---- transfers: the TCP worker hands connections to the main loop ---- */

/* On the TCP worker's thread. A handed-over connection no longer counts
 * on the worker, so while the main loop is slow to take them, at most
 * --dns-tcp-max-connections wait; one more is closed (its client may ask
 * again), not queued without bound. */
static void
hand_over(void *arg, struct tcp_handover *h)
{
	struct dns_workers *ws = arg;
	uint64_t one = 1;
	int full;

	pthread_mutex_lock(&ws->handover_mu);
	full = ws->nhandovers >= ws->main->cfg.tcp_max_connections;
	if (!full) {
		h->next = ws->handovers;
		ws->handovers = h;
		ws->nhandovers++;
	}
	pthread_mutex_unlock(&ws->handover_mu);
	if (full) {
		log_debug("dns: tcp: a transfer closed: the main loop has "
			  "%u waiting", ws->main->cfg.tcp_max_connections);
		dns_tcp_handover_free(h);
		return;
	}
	if (write(ws->handover_fd, &one, sizeof(one)) < 0)
		log_debug("dns: hand-over eventfd: %s", strerror(errno));
}

/* Takes every connection waiting; they are in the reverse order of
 * their coming, which between different clients does not matter. */
static void
on_handover(evutil_socket_t fd, short what, void *arg)
{
	struct dns_workers *ws = arg;
	struct tcp_handover *h, *next;
	uint64_t ticks;

	(void)what;
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("dns: hand-over eventfd: %s", strerror(errno));
	pthread_mutex_lock(&ws->handover_mu);
	h = ws->handovers;
	ws->handovers = NULL;
	ws->nhandovers = 0;
	pthread_mutex_unlock(&ws->handover_mu);
	for (; h != NULL; h = next) {
		next = h->next;
		dns_tcp_adopt(ws->main, h);
	}
}

static int
handover_init(struct dns_workers *ws, char *err)
{
	ws->handover_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ws->handover_fd < 0)
		return fail(err, "dns workers: eventfd: %s", strerror(errno));
	ws->handover_ev = event_new(ws->main->base, ws->handover_fd,
				    EV_READ | EV_PERSIST, on_handover, ws);
	event_add(ws->handover_ev, NULL);
	return 0;
}

/* After the TCP worker has stopped: whatever it handed over and the main
 * loop did not take is closed. */
static void
handover_free(struct dns_workers *ws)
{
	struct tcp_handover *h, *next;

	if (ws->handover_ev != NULL)
		event_free(ws->handover_ev);
	if (ws->handover_fd >= 0)
		close(ws->handover_fd);
	for (h = ws->handovers; h != NULL; h = next) {
		next = h->next;
		dns_tcp_handover_free(h);
	}
	pthread_mutex_destroy(&ws->handover_mu);
}

/* Worker w's sockets: one in each address's SO_REUSEPORT group. */
static int
open_sockets(struct dns_worker *w, const struct dns_server_config *cfg,
	     char *err)
{
	size_t i;

	for (i = 0; i < cfg->nlisten && i < MAX_SOCKETS; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		int fd;

		if (parse_sockaddr(cfg->listen[i], &ss, &len, err) != 0)
			return -1;
		fd = dns_udp_socket((struct sockaddr *)&ss, len,
				    cfg->listen[i], 1, err);
		if (fd < 0)
			return -1;
		w->fd[w->nfd] = fd;
		w->udp_ev[w->nfd] = event_new(w->base, fd,
					      EV_READ | EV_PERSIST, on_udp, w);
		event_add(w->udp_ev[w->nfd++], NULL);
	}
	return 0;
}

/* Worker 0 is the TCP worker. It listens first: a TCP port another
 * process holds fails here, where SO_REUSEPORT would let the UDP sockets
 * share it. */
static int
worker_init(struct dns_worker *w, unsigned id, struct dns_workers *ws,
	    char *err)
{
	struct dns_server *main = ws->main;

	w->id = id;
	w->feed = -1;
	w->coalesce_us = main->cfg.udp_coalesce_us;
	w->gap_us = GAP_MAX_US; /* no nap before queries come often */
	pthread_mutex_init(&w->mu, NULL);
	replica_init(&w->replica, id);
	w->srv = dns_server_for_worker(main, &w->replica);
	w->srv->received = on_received;
	w->srv->received_arg = w;
	w->base = event_base_new();
	w->feed = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->base == NULL || w->feed < 0)
		return fail(err, "dns worker: %s",
			    w->base ? strerror(errno) : "no event loop");
	w->feed_ev = event_new(w->base, w->feed, EV_READ | EV_PERSIST,
			       on_feed, w);
	event_add(w->feed_ev, NULL);
	if (id == 0) {
		w->srv->hand_over = hand_over;
		w->srv->hand_over_arg = ws;
		if (dns_server_serve_tcp(w->srv, w->base, err) != 0)
			return -1;
	}
	return open_sockets(w, &main->cfg, err);
}

/* Signals stay with the main loop's thread. */
static int
start_threads(struct dns_workers *ws, char *err)
{
	sigset_t all, old;
	unsigned i;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < ws->n && rc == 0; i++) {
		rc = pthread_create(&ws->w[i].thread, NULL, worker_run,
				    &ws->w[i]);
		if (rc == 0) {
			ws->w[i].started = 1;
			name_thread(ws->w[i].thread, "srvgate-dns", i);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return fail(err, "dns worker thread: %s", strerror(rc));
	return 0;
}

int
workers_start(struct dns_workers **out, struct dns_server *main,
	      struct dns_view *view, char *err)
{
	struct dns_workers *ws = xcalloc(1, sizeof(*ws));
	unsigned i;

	ws->n = main->cfg.workers;
	ws->w = xcalloc(ws->n, sizeof(*ws->w));
	ws->main = main;
	ws->handover_fd = -1;
	pthread_mutex_init(&ws->handover_mu, NULL);
	ws->timer = evtimer_new(main->base, on_wake_timer, ws);
	*out = ws;
	if (handover_init(ws, err) != 0) {
		ws->n = 0;
		return -1;
	}
	for (i = 0; i < ws->n; i++)
		if (worker_init(&ws->w[i], i, ws, err) != 0) {
			ws->n = i + 1; /* the ones workers_stop must free */
			return -1;
		}
	/* The whole view is queued before the threads run, so a worker
	 * answers its first query from it. */
	ws->view = view;
	dns_view_feed(view, ws->n, feed, ws);
	return start_threads(ws, err);
}

void
workers_add_stats(const struct dns_workers *ws, struct dns_stats *sum,
		  uint64_t cookies[COOKIE_VALID + 1], struct tcp_gauges *tcp)
{
	uint64_t *s = (uint64_t *)sum, *t = (uint64_t *)tcp;
	unsigned i;
	size_t k;

	for (i = 0; i < ws->n; i++) {
		const struct dns_worker *w = &ws->w[i];

		for (k = 0; k < NSTATS; k++)
			s[k] += __atomic_load_n(&w->shown[k], __ATOMIC_RELAXED);
		for (k = 0; k <= COOKIE_VALID; k++)
			cookies[k] += __atomic_load_n(&w->cookies_shown[k],
						      __ATOMIC_RELAXED);
		for (k = 0; k < NTCP; k++)
			t[k] += __atomic_load_n(&w->tcp_shown[k],
						__ATOMIC_RELAXED);
	}
}

/* CPU time a worker's thread has used, seconds. */
static double
thread_cpu(const struct dns_worker *w)
{
	clockid_t cid;
	struct timespec ts;

	if (!w->started || pthread_getcpuclockid(w->thread, &cid) != 0 ||
	    clock_gettime(cid, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
workers_metrics(struct evbuffer *out, const struct dns_workers *ws)
{
	size_t udp_at = offsetof(struct dns_stats, udp) / sizeof(uint64_t);
	unsigned i;

	evbuffer_add_printf(out,
		"# HELP srvgate_dns_workers UDP worker threads "
		"(--dns-workers).\n"
		"# TYPE srvgate_dns_workers gauge\n"
		"srvgate_dns_workers %u\n"
		"# HELP srvgate_dns_worker_queries_total UDP queries each "
		"worker received.\n"
		"# TYPE srvgate_dns_worker_queries_total counter\n", ws->n);
	for (i = 0; i < ws->n; i++)
		evbuffer_add_printf(out,
			"srvgate_dns_worker_queries_total{worker=\"%u\"} %llu\n",
			i, (unsigned long long)__atomic_load_n(
				   &ws->w[i].shown[udp_at], __ATOMIC_RELAXED));
	evbuffer_add_printf(out,
		"# HELP srvgate_dns_worker_cpu_seconds_total CPU time of "
		"each worker's thread.\n"
		"# TYPE srvgate_dns_worker_cpu_seconds_total counter\n");
	for (i = 0; i < ws->n; i++)
		evbuffer_add_printf(out,
			"srvgate_dns_worker_cpu_seconds_total{worker=\"%u\"} "
			"%.6f\n", i, thread_cpu(&ws->w[i]));
	evbuffer_add_printf(out,
		"# HELP srvgate_dns_worker_naps_total Naps each worker took "
		"after a small batch of queries (--dns-udp-coalesce-us).\n"
		"# TYPE srvgate_dns_worker_naps_total counter\n");
	for (i = 0; i < ws->n; i++)
		evbuffer_add_printf(out,
			"srvgate_dns_worker_naps_total{worker=\"%u\"} %llu\n",
			i, (unsigned long long)__atomic_load_n(
				   &ws->w[i].naps, __ATOMIC_RELAXED));
}

/* Replicas left to the process's exit: freeing 100k tokens' published
 * nodes one by one took seconds of a shutdown. Pointed at from here, they
 * are still reachable for a leak checker. */
static struct replica *volatile left_replicas; /* volatile: never read */
static size_t nleft_replicas;
static int leave_replicas;

void
dns_workers_leave_at_exit(void)
{
	leave_replicas = 1;
}

static void
replica_release(struct replica *r)
{
	if (!leave_replicas) {
		replica_clear(r);
		htable_free(&r->zone_index);
		return;
	}
	left_replicas = xrealloc(left_replicas,
				 (nleft_replicas + 1) * sizeof(*r));
	left_replicas[nleft_replicas++] = *r;
}

static void
worker_free(struct dns_worker *w)
{
	size_t i;

	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_mutex_unlock(&w->mu);
		queue_push(w, pub_batch_new(1, 0), 1); /* an empty one */
		pthread_join(w->thread, NULL);
	}
	/* Whatever was queued and never applied. */
	for (i = 0; i < w->nqueue; i++) {
		replica_apply(&w->replica, w->queue[i], &w->srv->cookies);
		pub_batch_put(w->queue[i]);
	}
	free(w->queue);
	free(w->spare);
	/* Its TCP connections and listeners first: they are on its loop. */
	dns_server_worker_free(w->srv);
	replica_release(&w->replica);
	for (i = 0; i < w->nfd; i++) {
		event_free(w->udp_ev[i]);
		close(w->fd[i]);
	}
	if (w->feed_ev != NULL)
		event_free(w->feed_ev);
	if (w->feed >= 0)
		close(w->feed);
	if (w->base != NULL)
		event_base_free(w->base);
	pthread_mutex_destroy(&w->mu);
}

void
workers_stop(struct dns_workers *ws)
{
	unsigned i;

	if (ws == NULL)
		return;
	if (ws->view != NULL)
		dns_view_feed(ws->view, 0, NULL, NULL);
	if (ws->timer != NULL)
		event_free(ws->timer);
	for (i = 0; i < ws->n; i++)
		worker_free(&ws->w[i]);
	handover_free(ws);
	free(ws->w);
	free(ws);
}
