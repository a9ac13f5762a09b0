/* listener.c -- pausing a listener when accept() fails. */
#include "listener.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util.h"

#define PAUSE_MS 1000

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct evconnlistener *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l);
}

/* The pending connection keeps the socket readable, so without a pause
 * the loop would call accept() again at once, forever. */
static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct timeval tv = timeval_from_ms(PAUSE_MS);
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	log_warn("accept: %s; pausing %d ms", strerror(err), PAUSE_MS);
	evconnlistener_disable(l);
	event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, on_resume,
			l, &tv);
}

void
listener_pause_on_error(struct evconnlistener *l)
{
	evconnlistener_set_error_cb(l, on_accept_error);
}

void
listener_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}
