/* prefault.c -- see prefault.h. The thread only asks the kernel to fault
 * pages of the heap in (MADV_POPULATE_WRITE leaves their contents as they
 * are), so it shares nothing with malloc but the heap's end, which it
 * reads from the kernel (brk(0)), never from glibc's variables. */
#include "prefault.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define STEP ((size_t)64 << 20)	     /* how far malloc grows the heap */
#define DEFAULT_TOP_PAD (128 * 1024) /* glibc's */
#define CHUNK ((uintptr_t)2 << 20)   /* one huge page */
/* LMDB allocates 3 MB of page lists for each child transaction, one per
 * group commit of the writer; under this they come from the heap and are
 * reused, instead of being mapped, faulted in and unmapped each time. */
#define MMAP_THRESHOLD (4 << 20)

#define HEAP_TRIM_EVERY_S 10

static pthread_t thread;
static int running, stopping;

static uintptr_t
heap_end(void)
{
	return (uintptr_t)syscall(SYS_brk, 0);
}

/* Faults [from, to) in, its lowest chunk first, just ahead of the main
 * thread, which fills the heap up from from: zeroing a huge page takes a
 * fraction of the time the main thread takes to fill one, so after the
 * first chunk it finds every page faulted in. */
static void
populate_up(uintptr_t from, uintptr_t to)
{
	uintptr_t at = from;

	/* The heap is grown in huge-page steps with glibc.malloc.hugetlb=1,
	 * which glibc marks after growing it: mark it first. */
	madvise((void *)from, to - from, MADV_HUGEPAGE);
	while (at < to && !__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
		uintptr_t hi = (at + CHUNK) & ~(CHUNK - 1);

		if (hi > to)
			hi = to;
		/* Fails harmlessly on a part malloc gave back meanwhile. */
		madvise((void *)at, hi - at, MADV_POPULATE_WRITE);
		at = hi;
	}
}

static void *
run(void *arg)
{
	uintptr_t seen = heap_end();
	struct timespec nap = { 0, 200 * 1000 };

	(void)arg;
	while (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
		uintptr_t end = heap_end();

		if (end > seen)
			populate_up(seen, end);
		else
			nanosleep(&nap, NULL);
		seen = end;
	}
	return NULL;
}

/* The top pad back to glibc's. Any mallopt() also turns glibc's dynamic
 * mmap threshold off for good, leaving it at 128 KB: so it is set here. */
static void
restore_malloc(void)
{
	mallopt(M_TOP_PAD, DEFAULT_TOP_PAD);
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
}

void
prefault_start(void)
{
#ifdef MADV_POPULATE_WRITE
	if (running)
		return;
	stopping = 0;
	mallopt(M_TOP_PAD, (int)STEP);
	if (pthread_create(&thread, NULL, run, NULL) == 0) {
		running = 1;
		name_thread(thread, "srvgate-fault", -1);
	} else {
		restore_malloc();
	}
#endif
}

void
prefault_stop(void)
{
	if (!running)
		return;
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	running = 0;
	restore_malloc();
	malloc_trim(DEFAULT_TOP_PAD); /* the last step's unused part */
}

void
heap_trim_idle(void)
{
	static time_t last; /* 0: never; a store calls from one thread */
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (last != 0 && now.tv_sec - last < HEAP_TRIM_EVERY_S)
		return;
	last = now.tv_sec;
	malloc_trim(DEFAULT_TOP_PAD);
}
