/* listener.h -- keeps an accepting socket from spinning when the process
 * runs out of file descriptors. */
#ifndef SRVGATE_LISTENER_H
#define SRVGATE_LISTENER_H

struct evconnlistener;

/* On an accept error (EMFILE, ENFILE, ENOBUFS) the listener pauses for a
 * second instead of being woken again at once by the waiting connection. */
void listener_pause_on_error(struct evconnlistener *l);
/* Raises the open-file limit to the hard limit. */
void listener_raise_fd_limit(void);

#endif
