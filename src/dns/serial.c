/* serial.c -- the token zone's serial base, kept in --data-dir so that
 * the serial rises with every change of the zone's own records and never
 * goes back across restarts. */
#include "serial.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* RFC 1982: a is after b. */
static int
serial_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* What the file holds; 0 when there is none, -1 when it is damaged. */
static int
read_state(const char *path, uint64_t *content, uint32_t *base, char *err)
{
	unsigned long long c;
	unsigned b;
	FILE *fp = fopen(path, "r");
	int n;

	if (fp == NULL) {
		if (errno == ENOENT)
			return 0;
		return fail(err, "%s: %s", path, strerror(errno));
	}
	n = fscanf(fp, "content %llx base %u", &c, &b);
	fclose(fp);
	if (n != 2)
		return fail(err, "%s: not a serial state file (remove it to "
			    "start again from the zone's own serial)", path);
	*content = c;
	*base = b;
	return 1;
}

/* Writes the file whole or not at all: a temporary file, fsync, rename,
 * and fsync of the directory, so that the rename itself is durable. */
static int
write_state(const char *dir, const char *path, uint64_t content,
	    uint32_t base, char *err)
{
	char tmp[1100], text[64];
	int fd, len, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	len = snprintf(text, sizeof(text), "content %016llx base %u\n",
		       (unsigned long long)content, base);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(err, "%s: %s", tmp, strerror(errno));
	ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
	if (close(fd) != 0 || !ok || rename(tmp, path) != 0) {
		fail(err, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

int
serial_base_settle(const char *dir, uint64_t content, uint32_t natural,
		   uint32_t *base, char *err)
{
	char path[1024];
	uint64_t old_content = 0;
	uint32_t old_base = 0, next = natural;
	int have;

	*base = natural;
	if (dir == NULL || dir[0] == '\0')
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, SERIAL_FILE);
	have = read_state(path, &old_content, &old_base, err);
	if (have < 0)
		return -1;
	if (have && old_content != content &&
	    !serial_after(next, old_base + 1))
		next = old_base + 1;
	else if (have && old_content == content && serial_after(old_base, next))
		next = old_base;
	if (!have || next != old_base || content != old_content) {
		if (write_state(dir, path, content, next, err) != 0)
			return -1;
		if (have && content != old_content)
			log_info("dns: the token zone's own records changed: "
				 "serial base %u -> %u", old_base, next);
	}
	*base = next;
	return 0;
}
