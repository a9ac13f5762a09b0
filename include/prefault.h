/* prefault.h -- the heap's new pages made on another CPU during a start.
 *
 * A start builds hundreds of MB of small objects on the main thread, and
 * where page faults are slow (a VM), zeroing the pages is a third of it.
 * Between prefault_start and prefault_stop malloc grows the heap in large
 * steps, and a thread faults each step in from its bottom up, ahead of
 * the main thread filling it: the zeroing moves to the other CPU.
 * prefault_stop leaves malloc's mmap threshold set (4 MB): mallopt turns
 * glibc's own moving threshold off. */
#ifndef SRVGATE_PREFAULT_H
#define SRVGATE_PREFAULT_H

/* Nothing happens (and nothing fails) where the kernel cannot do it. */
void prefault_start(void);
/* Joins the thread and gives back the part of the heap never used. */
void prefault_stop(void);

#endif
