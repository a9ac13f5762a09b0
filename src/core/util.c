/* util.c -- logging, time and small parsers shared by every module. */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int
fail(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, ERRBUF_SIZE, fmt, ap);
	va_end(ap);
	return -1;
}

void
name_thread(pthread_t thread, const char *prefix, int index)
{
	char name[16]; /* the kernel keeps 15 bytes */

	if (index < 0)
		snprintf(name, sizeof(name), "%s", prefix);
	else
		snprintf(name, sizeof(name), "%s%d", prefix, index);
	pthread_setname_np(thread, name);
}

uint64_t
now_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
now_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct timeval
timeval_from_ms(uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
			      (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

int64_t
now_unix(void)
{
	return (int64_t)time(NULL);
}

int
parse_duration_ms(const char *s, uint64_t *ms)
{
	uint64_t total = 0;
	const char *p = s;

	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		uint64_t n = 0, unit;
		const char *start = p;

		while (*p >= '0' && *p <= '9') {
			if (n > UINT64_MAX / 10 - 10)
				return -1;
			n = n * 10 + (uint64_t)(*p++ - '0');
		}
		if (p == start)
			return -1;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (*p == 's' || *p == '\0') {
			unit = 1000;
			p += *p != '\0';
		} else if (*p == 'm') {
			unit = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			unit = 3600 * 1000;
			p++;
		} else if (*p == 'd') {
			unit = 86400 * 1000;
			p++;
		} else {
			return -1;
		}
		if (n > UINT64_MAX / unit / 2 || n * unit > UINT64_MAX / 2 - total)
			return -1;
		total += n * unit;
	}
	*ms = total;
	return 0;
}

int
parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 19)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

int
split_hostport(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *colon, *h = s;
	size_t n;
	uint64_t p;

	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':')
			return -1;
		h = s + 1;
		n = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		n = (size_t)(colon - s);
		if (memchr(s, ':', n) != NULL)
			return -1; /* bare IPv6 needs brackets */
	}
	if (n >= hostlen || parse_uint(colon + 1, 0, 65535, &p) != 0)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (unsigned)p;
	return 0;
}

int
parse_sockaddr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
	       char *err)
{
	char host[128];
	unsigned port;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (split_hostport(s, host, sizeof(host), &port) != 0)
		return fail(err, "'%s' is not HOST:PORT", s);
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		strcpy(host, "0.0.0.0");
	else if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	return fail(err, "'%s': host must be an IP address", s);
}

void
format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
	const void *a = sa->sa_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (inet_ntop(sa->sa_family, a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
}

int
random_bytes(void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom((char *)buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static void *
check_alloc(void *p)
{
	if (p == NULL) {
		/* Running out of memory leaves no safe way to continue. */
		log_error("out of memory");
		abort();
	}
	return p;
}

void *
xmalloc(size_t n)
{
	return check_alloc(malloc(n ? n : 1));
}

void *
xcalloc(size_t n, size_t size)
{
	return check_alloc(calloc(n ? n : 1, size ? size : 1));
}

void *
xrealloc(void *p, size_t n)
{
	return check_alloc(realloc(p, n ? n : 1));
}

char *
xstrdup(const char *s)
{
	return check_alloc(strdup(s));
}

void
join_str(char *dst, size_t size, const char *const *parts, size_t n)
{
	size_t at = 0, i, len;

	if (size == 0)
		return;
	for (i = 0; i < n; i++) {
		len = strlen(parts[i]);
		if (len > size - 1 - at)
			len = size - 1 - at;
		memcpy(dst + at, parts[i], len);
		at += len;
	}
	dst[at] = '\0';
}

void
copy_name(char *dst, size_t size, const char *src, size_t len)
{
	len = strnlen(src, len);
	if (size == 0)
		return;
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

int
json_put_plain(char **at, const char *s)
{
	char *o = *at;

	*o++ = '"';
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e ||
		    *s == '"' || *s == '\\')
			return 0;
		*o++ = *s;
	}
	*o++ = '"';
	*at = o;
	return 1;
}

/* As jansson writes a json_int_t (%lld), without printf's machinery. */
void
json_put_int(char **at, int64_t v)
{
	unsigned long long u;
	char digits[24];
	int n = 0;

	if (v < 0)
		*(*at)++ = '-';
	u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do
		digits[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	while (n > 0)
		*(*at)++ = digits[--n];
}
