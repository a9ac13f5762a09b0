/* log.h -- the daemon's logs: messages, one structured line per state
 * change (the audit trail), and the access log.
 *
 * Lines go to stderr or to a file that SIGHUP reopens (for logrotate), in
 * one of three formats: text (a timestamp, the level, the message; a state
 * change's fields as key=value), logfmt, or JSON lines.
 */
#ifndef SRVGATE_LOG_H
#define SRVGATE_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_LOGFMT, LOG_JSON };

extern enum log_level log_threshold;

void log_set_format(enum log_format f);
/* Sends the log to path ("" or "-": stderr). 0, or -1 with err. */
int log_open(const char *path, char *err);
/* The access log's file ("": none, "-": stderr). */
int log_open_access(const char *path, char *err);
/* Reopens both files under their names (SIGHUP, after logrotate). */
void log_reopen(void);
void log_close(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* One state change: what happened (event), to what (token, member; NULL
 * when not), who asked (client address; NULL for the server itself) and
 * how it ended (result: "ok", or the error). Written at level info. */
void log_change(const char *event, const char *token, const char *member,
		const char *client, const char *result);

/* One answered request. */
struct access_entry {
	const char *proto;  /* "http", "grpc" */
	const char *client;
	const char *method;
	const char *path;
	int status;
	uint64_t bytes;
	double seconds;
};
void log_access(const struct access_entry *e);
/* Whether there is an access log (set once, at start): callers skip the
 * work of an entry that would not be written. */
int log_access_enabled(void);

#endif
