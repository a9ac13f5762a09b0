/* prefault.h -- the heap: its new pages made on another CPU during a
 * start, and its free pages given back when writes pause.
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

/* Gives the free pages of every malloc arena back to the kernel
 * (malloc_trim), at most once every HEAP_TRIM_EVERY_S seconds: for when
 * writes pause. A burst of registrations leaves freed memory behind that
 * malloc keeps (16 MB in the LMDB writer's arena after 500k), and a trim
 * holds the arenas' locks for 10-20 ms at 100k tokens, so it is done
 * only then, and rarely. */
void heap_trim_idle(void);

#endif
