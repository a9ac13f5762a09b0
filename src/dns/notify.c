/* notify.c -- NOTIFY to secondaries, one retrying sender per target and
 * zone. The message is built in wire form and signed with tsig.c. */
#include "notify.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "wire.h"

#define NOTIFY_DELAY_MS 200 /* coalesces bursts of changes */
#define NOTIFY_TRIES 6

/* One secondary's NOTIFY for one zone, retried until answered. */
struct notify {
	struct notifier *nf;
	int fd; /* connected UDP socket: replies come only from the target */
	struct event *read_ev, *timer;
	char zone[DNS_NAME_MAX + 2];
	char target[256];
	const struct tsig_key *key;
	uint16_t id;
	unsigned tries;
	struct notify *next;
};

struct notifier {
	struct event_base *base;
	const struct config_list *targets;
	const struct tsig_keyring *keys;
	struct notify *list;
	struct notify_stats stats;
};

static void
arm(struct notify *n, uint64_t ms)
{
	struct timeval tv = timeval_from_ms(ms);

	evtimer_add(n->timer, &tv);
}

/* NOTIFY for the zone's SOA, signed when the target has a key. */
static size_t
build_message(struct notify *n, uint8_t *out, size_t cap)
{
	size_t len = DNS_HEADER_SIZE, qlen;
	struct tsig_state st;

	if (random_bytes(&n->id, sizeof(n->id)) != 0)
		n->id = (uint16_t)time(NULL);
	memset(out, 0, DNS_HEADER_SIZE);
	dns_put16(out, n->id);
	dns_put16(out + 2, (uint16_t)(OPCODE_NOTIFY << 11 | FLAG_AA));
	dns_put16(out + 4, 1);
	qlen = dns_name_from_text(n->zone, out + len);
	if (qlen == 0)
		return 0;
	len += qlen;
	dns_put16(out + len, TYPE_SOA);
	dns_put16(out + len + 2, CLASS_IN);
	len += 4;
	if (n->key == NULL)
		return len;
	tsig_start(&st, n->key, n->id);
	return tsig_sign(&st, out, len, cap, (uint64_t)time(NULL));
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	uint8_t msg[512];
	size_t len;

	(void)fd;
	(void)what;
	if (n->tries == NOTIFY_TRIES) {
		log_warn("notify: %s did not answer for %s after %u tries",
			 n->target, n->zone, n->tries);
		return;
	}
	len = build_message(n, msg, sizeof(msg));
	if (len > 0 && send(n->fd, msg, len, 0) >= 0) {
		n->nf->stats.sent++;
		log_debug("notify: NOTIFY for %s sent to %s (try %u)",
			  n->zone, n->target, n->tries + 1);
	}
	n->tries++;
	arm(n, 1000ull << (n->tries - 1)); /* 1, 2, 4, ... seconds */
}

static void
on_reply(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	uint8_t buf[512];
	ssize_t r = recv(fd, buf, sizeof(buf), 0);

	(void)what;
	if (r < DNS_HEADER_SIZE || dns_get16(buf) != n->id ||
	    !(dns_get16(buf + 2) & FLAG_QR) ||
	    ((dns_get16(buf + 2) >> 11) & 0xF) != OPCODE_NOTIFY)
		return;
	if ((buf[3] & 0xF) != RCODE_NOERROR)
		log_warn("notify: %s answered rcode %d for %s", n->target,
			 buf[3] & 0xF, n->zone);
	else
		log_debug("notify: %s acknowledged the NOTIFY for %s",
			  n->target, n->zone);
	evtimer_del(n->timer);
	n->tries = 0;
	n->nf->stats.acked++;
}

/* HOST:PORT of "HOST:PORT[@KEYNAME]". */
static int
target_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *sl,
	    char *err)
{
	const char *at = strchr(spec, '@');
	char addr[256];

	snprintf(addr, sizeof(addr), "%.*s",
		 (int)(at ? (size_t)(at - spec) : strlen(spec)), spec);
	return parse_sockaddr(addr, ss, sl, err);
}

static struct notify *
notify_new(struct notifier *nf, const char *spec, const char *zone)
{
	struct notify *n = xcalloc(1, sizeof(*n));
	const char *at = strchr(spec, '@');
	struct sockaddr_storage ss;
	socklen_t sl;
	errbuf_t err;

	snprintf(n->target, sizeof(n->target), "%s", spec);
	snprintf(n->zone, sizeof(n->zone), "%s", zone);
	n->nf = nf;
	n->key = at ? tsig_key_find(nf->keys, at + 1) : NULL;
	target_addr(spec, &ss, &sl, err); /* checked in notifier_new */
	n->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (n->fd >= 0 && connect(n->fd, (struct sockaddr *)&ss, sl) != 0)
		log_warn("notify: %s: %s", spec, strerror(errno));
	n->read_ev = event_new(nf->base, n->fd, EV_READ | EV_PERSIST,
			       on_reply, n);
	n->timer = evtimer_new(nf->base, on_timer, n);
	event_add(n->read_ev, NULL);
	n->next = nf->list;
	nf->list = n;
	return n;
}

void
notifier_zone_changed(struct notifier *nf, const char *origin)
{
	size_t i;

	for (i = 0; i < nf->targets->n; i++) {
		const char *spec = nf->targets->items[i];
		struct notify *n = nf->list;

		while (n != NULL && (strcmp(n->target, spec) != 0 ||
				     strcmp(n->zone, origin) != 0))
			n = n->next;
		if (n == NULL)
			n = notify_new(nf, spec, origin);
		/* A burst of changes sends one NOTIFY, for the newest serial. */
		if (n->tries > 0 || !evtimer_pending(n->timer, NULL)) {
			n->tries = 0;
			evtimer_del(n->timer);
			arm(n, NOTIFY_DELAY_MS);
		}
	}
}

int
notifier_new(struct notifier **out, struct event_base *base,
	     const struct config_list *targets, const struct tsig_keyring *kr,
	     char *err)
{
	struct notifier *nf;
	size_t i;

	for (i = 0; i < targets->n; i++) {
		const char *at = strchr(targets->items[i], '@');
		struct sockaddr_storage ss;
		socklen_t sl;
		errbuf_t why;

		if (target_addr(targets->items[i], &ss, &sl, why) != 0)
			return fail(err, "--notify: %s (a secondary's address "
				    "and DNS port, like 192.0.2.1:53)", why);
		if (at != NULL && tsig_key_find(kr, at + 1) == NULL)
			return fail(err, "--notify %s: no --tsig-key named '%s'",
				    targets->items[i], at + 1);
	}
	nf = xcalloc(1, sizeof(*nf));
	nf->base = base;
	nf->targets = targets;
	nf->keys = kr;
	*out = nf;
	return 0;
}

const struct notify_stats *
notifier_stats(const struct notifier *nf)
{
	return &nf->stats;
}

void
notifier_free(struct notifier *nf)
{
	struct notify *n, *next;

	if (nf == NULL)
		return;
	for (n = nf->list; n != NULL; n = next) {
		next = n->next;
		event_free(n->read_ev);
		event_free(n->timer);
		if (n->fd >= 0)
			close(n->fd);
		free(n);
	}
	free(nf);
}
