/*
 * tests/shim/slowsync.c -- an LD_PRELOAD shim that makes syncing a data
 * file slow, to widen the window between "written" and "durable" in tests.
 *
 * fsync, fdatasync, msync and sync_file_range sleep SLOWSYNC_MS
 * milliseconds (default 3000) and then call the real function, but only
 * when the file is one whose path contains SLOWSYNC_MATCH (default
 * "data.mdb"): sockets, logs and other files are synced at full speed.
 * The path of a descriptor comes from /proc/self/fd/N, the file behind an
 * msync'd address from /proc/self/maps. An empty SLOWSYNC_MATCH slows
 * every file. With SLOWSYNC_LOG=1 every slowed call is logged on stderr:
 *   slowsync: fdatasync(/path/data.mdb) +3000 ms
 * SLOWSYNC_FAIL_IF names a file: while it exists, fsync and fdatasync of
 * a matching file fail with EIO after the delay, without syncing, and so
 * do pwrite and writev to it, without writing (a disk that refuses
 * writes): a test can fail a running server's writes for a while, also to
 * files it never syncs.
 *
 * Built by `make $(BUILD)/slowsync.so`; used by start_srvgate with
 * SG_PRELOAD (tests/lib.sh). Under AddressSanitizer the preload needs
 * ASAN_OPTIONS=verify_asan_link_order=0 (lib.sh sets it).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MS 3000L
#define DEFAULT_MATCH "data.mdb"

/* real(name): the next definition of NAME after this library. */
static void *real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		static const char msg[] = "slowsync: dlsym failed\n";
		ssize_t r = write(2, msg, sizeof(msg) - 1);
		(void)r;
		abort();
	}
	return f;
}

static long delay_ms(void)
{
	const char *s = getenv("SLOWSYNC_MS");
	char *end;
	long v;

	if (!s || !*s)
		return DEFAULT_MS;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0)
		return DEFAULT_MS;
	return v;
}

static int path_matches(const char *path)
{
	const char *m = getenv("SLOWSYNC_MATCH");

	if (!m)
		m = DEFAULT_MATCH;
	return strstr(path, m) != NULL;
}

/* nap: sleeps the configured delay (whole, across signals) and logs it. */
static void nap(const char *fn, const char *path)
{
	long ms = delay_ms();
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	const char *log = getenv("SLOWSYNC_LOG");

	if (log && *log && strcmp(log, "0") != 0) {
		char line[600];
		int n = snprintf(line, sizeof(line), "slowsync: %s(%s) +%ld ms\n",
				 fn, path, ms);
		if (n > 0) {
			ssize_t r = write(2, line, (size_t)n < sizeof(line) ?
							(size_t)n : sizeof(line) - 1);
			(void)r;
		}
	}
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* fd_path: the file behind FD into BUF; 0 if it has none we can name. */
static int fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return buf[0] == '/'; /* "socket:[..]", "pipe:[..]", "anon_inode:.." */
}

/* addr_path: the file mapped at ADDR into BUF (from /proc/self/maps). */
static int addr_path(const void *addr, char *buf, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	char line[1024];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		int off = 0;
		char *p;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) < 2 ||
		    off == 0 || a < lo || a >= hi)
			continue;
		p = line + off;
		p[strcspn(p, "\n")] = '\0';
		if (*p == '/') {
			snprintf(buf, len, "%s", p);
			found = 1;
		} else {
			break; /* anonymous memory */
		}
	}
	fclose(f);
	return found;
}

/* maybe_nap_fd: the delay, for a matching file; 1 when the call must
 * then fail (SLOWSYNC_FAIL_IF exists). */
static int maybe_nap_fd(const char *fn, int fd)
{
	char path[512];
	const char *flag = getenv("SLOWSYNC_FAIL_IF");
	int saved = errno, failing = 0;

	if (fd_path(fd, path, sizeof(path)) && path_matches(path)) {
		nap(fn, path);
		failing = flag && *flag && access(flag, F_OK) == 0;
	}
	errno = saved;
	return failing;
}

int fsync(int fd)
{
	static int (*f)(int);

	if (!__atomic_load_n(&f, __ATOMIC_ACQUIRE))
		__atomic_store_n(&f, (int (*)(int))real("fsync"), __ATOMIC_RELEASE);
	if (maybe_nap_fd("fsync", fd)) {
		errno = EIO;
		return -1;
	}
	return f(fd);
}

int fdatasync(int fd)
{
	static int (*f)(int);

	if (!__atomic_load_n(&f, __ATOMIC_ACQUIRE))
		__atomic_store_n(&f, (int (*)(int))real("fdatasync"), __ATOMIC_RELEASE);
	if (maybe_nap_fd("fdatasync", fd)) {
		errno = EIO;
		return -1;
	}
	return f(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags)
{
	static int (*f)(int, off64_t, off64_t, unsigned int);

	if (!__atomic_load_n(&f, __ATOMIC_ACQUIRE))
		__atomic_store_n(&f, (int (*)(int, off64_t, off64_t, unsigned int))
				 real("sync_file_range"), __ATOMIC_RELEASE);
	(void)maybe_nap_fd("sync_file_range", fd);
	return f(fd, offset, nbytes, flags);
}

int msync(void *addr, size_t length, int flags)
{
	static int (*f)(void *, size_t, int);
	char path[512];
	int saved = errno;

	if (!__atomic_load_n(&f, __ATOMIC_ACQUIRE))
		__atomic_store_n(&f, (int (*)(void *, size_t, int))real("msync"),
				 __ATOMIC_RELEASE);
	if (addr_path(addr, path, sizeof(path)) && path_matches(path))
		nap("msync", path);
	errno = saved;
	return f(addr, length, flags);
}

/* failing_fd: 1 when writes to fd must fail now (SLOWSYNC_FAIL_IF exists
 * and fd is a matching file). The flag is looked at first: a socket's
 * write costs a readlink only while a test fails writes. */
static int failing_fd(int fd)
{
	const char *flag = getenv("SLOWSYNC_FAIL_IF");
	char path[512];
	int saved = errno, failing;

	failing = flag && *flag && access(flag, F_OK) == 0 &&
		  fd_path(fd, path, sizeof(path)) && path_matches(path);
	errno = saved;
	return failing;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*f)(int, const void *, size_t, off_t);

	if (!__atomic_load_n(&f, __ATOMIC_ACQUIRE))
		__atomic_store_n(&f, (ssize_t (*)(int, const void *, size_t, off_t))
				 real("pwrite"), __ATOMIC_RELEASE);
	if (failing_fd(fd)) {
		errno = EIO;
		return -1;
	}
	return f(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	static ssize_t (*f)(int, const void *, size_t, off64_t);

	if (!__atomic_load_n(&f, __ATOMIC_ACQUIRE))
		__atomic_store_n(&f, (ssize_t (*)(int, const void *, size_t, off64_t))
				 real("pwrite64"), __ATOMIC_RELEASE);
	if (failing_fd(fd)) {
		errno = EIO;
		return -1;
	}
	return f(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	static ssize_t (*f)(int, const struct iovec *, int);

	if (!__atomic_load_n(&f, __ATOMIC_ACQUIRE))
		__atomic_store_n(&f, (ssize_t (*)(int, const struct iovec *, int))
				 real("writev"), __ATOMIC_RELEASE);
	if (failing_fd(fd)) {
		errno = EIO;
		return -1;
	}
	return f(fd, iov, n);
}
