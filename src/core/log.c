/* log.c -- messages, the audit trail of state changes and the access log,
 * as text, logfmt or JSON lines, to stderr or files that SIGHUP reopens.
 * A mutex keeps lines whole: the storage writer thread logs too. */
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

enum log_level log_threshold = LOG_INFO;

struct sink {
	FILE *fp;	/* NULL: stderr */
	char path[1024]; /* "": stderr */
};

static struct sink main_log, access_log;
static int access_on;
static enum log_format format = LOG_TEXT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *level_names[] = { "error", "warn", "info", "debug" };

void
log_set_format(enum log_format f)
{
	format = f;
}

static FILE *
out_of(const struct sink *s)
{
	return s->fp ? s->fp : stderr;
}

static int
sink_open(struct sink *s, const char *path, char *err)
{
	FILE *fp = NULL;

	if (path[0] != '\0' && strcmp(path, "-") != 0) {
		fp = fopen(path, "a");
		if (fp == NULL)
			return fail(err, "%s: %s", path, strerror(errno));
		setvbuf(fp, NULL, _IOLBF, 0);
	}
	pthread_mutex_lock(&mu);
	if (s->fp != NULL)
		fclose(s->fp);
	s->fp = fp;
	snprintf(s->path, sizeof(s->path), "%s",
		 strcmp(path, "-") == 0 ? "" : path);
	pthread_mutex_unlock(&mu);
	return 0;
}

int
log_open(const char *path, char *err)
{
	return sink_open(&main_log, path, err);
}

int
log_open_access(const char *path, char *err)
{
	access_on = path[0] != '\0';
	return access_on ? sink_open(&access_log, path, err) : 0;
}

static void
sink_reopen(struct sink *s)
{
	char path[sizeof(s->path)];
	errbuf_t err;

	if (s->path[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s", s->path);
	if (sink_open(s, path, err) != 0)
		log_error("log: cannot reopen %s", err);
}

void
log_reopen(void)
{
	sink_reopen(&main_log);
	if (access_on)
		sink_reopen(&access_log);
}

void
log_close(void)
{
	pthread_mutex_lock(&mu);
	if (main_log.fp != NULL)
		fclose(main_log.fp);
	if (access_log.fp != NULL)
		fclose(access_log.fp);
	main_log.fp = access_log.fp = NULL;
	pthread_mutex_unlock(&mu);
}

static void
stamp(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;
	char sec[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "%s.%03ldZ", sec, ts.tv_nsec / 1000000);
}

/* A logfmt value: bare when it is one plain word, else quoted. */
static void
put_value(FILE *fp, const char *v)
{
	const char *p;

	if (v[0] != '\0' && strcspn(v, " =\"\\\t\r\n") == strlen(v)) {
		fputs(v, fp);
		return;
	}
	fputc('"', fp);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', fp);
		if ((unsigned char)*p < ' ')
			fprintf(fp, "\\x%02x", (unsigned char)*p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

/* Writes one line of key/value pairs (NULL values are left out). */
static void
write_line(struct sink *s, enum log_level level, const char *const *kv,
	   size_t n)
{
	char ts[48];
	json_t *o;
	char *j;
	size_t i;

	stamp(ts, sizeof(ts));
	pthread_mutex_lock(&mu);
	if (format == LOG_JSON) {
		o = json_pack("{s:s, s:s}", "ts", ts, "level", level_names[level]);
		for (i = 0; i + 1 < n; i += 2)
			if (kv[i + 1] != NULL)
				json_object_set_new(o, kv[i],
						    json_string(kv[i + 1]));
		j = json_dumps(o, JSON_COMPACT);
		fprintf(out_of(s), "%s\n", j ? j : "{}");
		free(j);
		json_decref(o);
	} else {
		if (format == LOG_TEXT)
			fprintf(out_of(s), "%s %s:", ts, level_names[level]);
		else
			fprintf(out_of(s), "ts=%s level=%s", ts,
				level_names[level]);
		for (i = 0; i + 1 < n; i += 2) {
			if (kv[i + 1] == NULL)
				continue;
			if (format == LOG_TEXT && strcmp(kv[i], "msg") == 0) {
				fprintf(out_of(s), " %s", kv[i + 1]);
				continue;
			}
			fprintf(out_of(s), " %s=", kv[i]);
			put_value(out_of(s), kv[i + 1]);
		}
		fputc('\n', out_of(s));
	}
	pthread_mutex_unlock(&mu);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048];
	const char *kv[2];
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kv[0] = "msg";
	kv[1] = msg;
	write_line(&main_log, level, kv, 2);
}

void
log_change(const char *event, const char *token, const char *member,
	   const char *client, const char *result)
{
	const char *kv[] = { "event", event, "token", token, "member", member,
			     "client", client, "result", result };

	if (LOG_INFO > log_threshold)
		return;
	write_line(&main_log, LOG_INFO, kv, sizeof(kv) / sizeof(kv[0]));
}

int
log_access_enabled(void)
{
	return access_on;
}

void
log_access(const struct access_entry *e)
{
	char status[16], bytes[24], ms[32];
	const char *kv[] = { "proto", e->proto, "client", e->client,
			     "method", e->method, "path", e->path,
			     "status", status, "bytes", bytes, "ms", ms };

	if (!access_on)
		return;
	snprintf(status, sizeof(status), "%d", e->status);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)e->bytes);
	snprintf(ms, sizeof(ms), "%.3f", e->seconds * 1000);
	write_line(&access_log, LOG_INFO, kv, sizeof(kv) / sizeof(kv[0]));
}
