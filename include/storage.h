/* storage.h -- durable registry state in LMDB, written by group commit.
 *
 * Storage listens to registry events and turns each change into LMDB writes.
 * Writes made while a commit is on its way to disk gather into the next
 * batch, so many registrations share one fsync. A writer thread does the
 * commit; the event loop is told through an eventfd and then runs the
 * callbacks that waited for it. Nothing is acknowledged before it is on disk.
 */
#ifndef SRVGATE_STORAGE_H
#define SRVGATE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct event_base;
struct registry;
struct storage;

/* ok is 1 when everything queued before the call is on disk. */
typedef void (*storage_done_fn)(int ok, void *arg);

#define STORAGE_LATENCY_BUCKETS 12
struct storage_stats {
	uint64_t commits, failures, ops;
	double latency_sum; /* seconds */
	/* cumulative counts per bound of storage_latency_bounds */
	uint64_t latency_le[STORAGE_LATENCY_BUCKETS];
};
extern const double storage_latency_bounds[STORAGE_LATENCY_BUCKETS];

/* Locks DIR (one server per data dir), opens LMDB, starts the writer. */
int storage_open(struct storage **out, const char *dir,
		 struct event_base *base, char *err);
/* Reads every stored token and member into an empty registry. */
int storage_load(struct storage *st, struct registry *reg, char *err);
/* From now on every registry change is written. */
int storage_attach(struct storage *st, struct registry *reg);
/* Calls fn once everything queued so far is durable (or has failed). */
void storage_after_commit(struct storage *st, storage_done_fn fn, void *arg);
/* Writes a probe record; fn learns whether the disk took it. */
void storage_probe(struct storage *st, storage_done_fn fn, void *arg);
/* 1 while writes are queued or on their way to disk. */
int storage_busy(const struct storage *st);
const struct storage_stats *storage_stats(const struct storage *st);
/* Waits for outstanding commits, stops the writer and closes. */
void storage_close(struct storage *st);

#endif
