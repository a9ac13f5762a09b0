/* util.h -- time, errors and small parsers shared by every module (and
 * the logs, log.h). */
#ifndef SRVGATE_UTIL_H
#define SRVGATE_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "log.h"

#define SRVGATE_VERSION "0.1.0"

/* An error message buffer that functions fill in when they return failure. */
#define ERRBUF_SIZE 256
typedef char errbuf_t[ERRBUF_SIZE];


/* Formats into errbuf; always returns -1 so callers can `return fail(...)`. */
int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Names a thread for ps, top -H and /proc/PID/task/TID/comm: prefix,
 * then index unless it is negative (at most 15 bytes in all). */
void name_thread(pthread_t thread, const char *prefix, int index);

uint64_t now_monotonic_ms(void);
uint64_t now_monotonic_ns(void);
/* A duration in milliseconds as the struct timeval libevent timers take. */
struct timeval timeval_from_ms(uint64_t ms);
int64_t now_unix(void);

/* "90s", "5m", "12h", "7d", "1h30m", "250ms" or a bare number of seconds. */
int parse_duration_ms(const char *s, uint64_t *ms);
/* A whole number in [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "HOST:PORT", "[V6]:PORT" or ":PORT". Host and port are copied out. */
int split_hostport(const char *s, char *host, size_t hostlen, unsigned *port);
/* Resolves a numeric HOST:PORT into a socket address (no DNS lookups). */
int parse_sockaddr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		   char *err);
/* Prints an address as "1.2.3.4" or "::1" (no port). */
void format_addr(const struct sockaddr *sa, char *out, size_t outlen);


/* Fills buf with len random bytes from the kernel's CSPRNG. */
int random_bytes(void *buf, size_t len);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* The first len bytes of src (up to a NUL) into dst of size bytes, cut to
 * fit and NUL-terminated, as snprintf(dst, size, "%.*s", len, src) would,
 * without the format parser: a start copies millions of names. */
void copy_name(char *dst, size_t size, const char *src, size_t len);
/* parts[0..n) one after another into dst, cut and terminated as
 * snprintf(dst, size, "%s%s...") would: keys built on every request. */
void join_str(char *dst, size_t size, const char *const *parts, size_t n);

/* JSON written straight into a buffer with the bytes jansson's compact
 * dump gives, for records and answers made on every registration (building
 * a jansson object for them was a large share of their CPU). The caller
 * sizes the buffer: a string takes strlen + 2 bytes, an integer 20.
 * json_put_plain appends s quoted when it is plain printable ASCII with
 * nothing to escape (as member ids and peer URLs are) and returns 1; else
 * it returns 0 and the caller goes through jansson. */
int json_put_plain(char **at, const char *s);
void json_put_int(char **at, int64_t v);

#endif
