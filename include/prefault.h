/* prefault.h -- the heap's new pages made on another CPU during a start.
 *
 * A start builds hundreds of MB of small objects on the main thread, and
 * where page faults are slow (a VM), zeroing the pages is a third of it.
 * Between prefault_start and prefault_stop malloc grows the heap in large
 * steps, and a thread faults each step in from its top down while the
 * main thread fills it from the bottom up: the two share the zeroing. */
#ifndef SRVGATE_PREFAULT_H
#define SRVGATE_PREFAULT_H

/* Nothing happens (and nothing fails) where the kernel cannot do it. */
void prefault_start(void);
/* Joins the thread and gives back the part of the heap never used. */
void prefault_stop(void);

#endif
