/* test_log.c -- log.c's lines: the three formats, logfmt quoting, the
 * access log's fields, and reopening a moved file. */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/srvgate-test-log.XXXXXX";
static char main_path[128], access_path[128];

/* The whole file (malloc'd), "" when there is none. */
static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *s = calloc(1, 65536);
	size_t n;

	assert_non_null(s);
	if (fp == NULL)
		return s;
	n = fread(s, 1, 65535, fp);
	s[n] = '\0';
	fclose(fp);
	return s;
}

static int
setup(void **state)
{
	errbuf_t err;

	(void)state;
	unlink(main_path);
	unlink(access_path);
	if (log_open(main_path, err) != 0 ||
	    log_open_access(access_path, err) != 0)
		fail_msg("%s", err);
	log_threshold = LOG_INFO;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_close();
	log_open("", (char[ERRBUF_SIZE]){ 0 });
	log_open_access("", (char[ERRBUF_SIZE]){ 0 });
	log_set_format(LOG_TEXT);
	return 0;
}

static const struct access_entry ENTRY = {
	"http", "192.0.2.7", "PUT", "/abc/m1?x=a b", 201, 154, 0.0009221,
};

static void
logfmt_quotes_what_is_not_one_word(void **state)
{
	char *s;

	(void)state;
	log_set_format(LOG_LOGFMT);
	log_change("register", "abc", "m1", "192.0.2.7", "ok");
	log_change("sync", "abc", NULL, "192.0.2.7",
		   "conflict: a \"quoted\" word\n");
	log_access(&ENTRY);
	s = slurp(main_path);
	/* a timestamp first, NULL fields left out, values quoted and escaped
	 * when not one plain word */
	assert_non_null(strstr(s, " level=info event=register token=abc "
				  "member=m1 client=192.0.2.7 result=ok\n"));
	assert_non_null(strstr(s, " level=info event=sync token=abc "
				  "client=192.0.2.7 result=\"conflict: a "
				  "\\\"quoted\\\" word\\x0a\"\n"));
	assert_true(strncmp(s, "ts=", 3) == 0 && strstr(s, "Z level=") != NULL);
	free(s);
	s = slurp(access_path);
	assert_non_null(strstr(s, " level=info proto=http client=192.0.2.7 "
				  "method=PUT path=\"/abc/m1?x=a b\" "
				  "status=201 bytes=154 ms=0.922\n"));
	free(s);
}

static void
text_has_a_timestamp_and_the_message_bare(void **state)
{
	char *s;

	(void)state;
	log_set_format(LOG_TEXT);
	log_info("hello %s", "there");
	log_debug("not shown at info");
	s = slurp(main_path);
	/* 2026-12-02T05:30:45.072Z info: hello there */
	assert_int_equal(strlen(s), strlen("2026-12-02T05:30:45.072Z info: "
					   "hello there\n"));
	assert_non_null(strstr(s, "Z info: hello there\n"));
	free(s);
}

static void
json_lines_parse(void **state)
{
	json_error_t jerr;
	json_t *o;
	char *s, *nl;

	(void)state;
	log_set_format(LOG_JSON);
	log_access(&ENTRY);
	s = slurp(access_path);
	nl = strchr(s, '\n');
	assert_non_null(nl);
	assert_string_equal(nl + 1, ""); /* one line */
	o = json_loads(s, 0, &jerr);
	if (o == NULL)
		fail_msg("not JSON: %s: %s", jerr.text, s);
	assert_string_equal(json_string_value(json_object_get(o, "path")),
			    "/abc/m1?x=a b");
	assert_string_equal(json_string_value(json_object_get(o, "status")),
			    "201");
	assert_non_null(json_object_get(o, "ts"));
	json_decref(o);
	free(s);
}

static void
no_access_log_writes_nothing(void **state)
{
	errbuf_t err;
	char *s;

	(void)state;
	assert_int_equal(log_open_access("", err), 0);
	log_access(&ENTRY);
	s = slurp(access_path);
	assert_string_equal(s, "");
	free(s);
}

/* logrotate: mv, then SIGHUP calls log_reopen; lines go to the new file. */
static void
reopen_after_a_move(void **state)
{
	char moved[160];
	char *s;

	(void)state;
	log_set_format(LOG_LOGFMT);
	log_access(&ENTRY);
	snprintf(moved, sizeof(moved), "%s.1", access_path);
	assert_int_equal(rename(access_path, moved), 0);
	log_reopen();
	log_change("new", "t2", NULL, "192.0.2.8", "ok");
	log_access(&(struct access_entry){ "grpc", "192.0.2.8", "POST",
					   "/etcdserverpb.KV/Put", 0, 31,
					   0.001 });
	s = slurp(access_path);
	assert_non_null(strstr(s, "proto=grpc"));
	assert_null(strstr(s, "proto=http"));
	free(s);
	s = slurp(moved);
	assert_non_null(strstr(s, "proto=http"));
	free(s);
	unlink(moved);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			logfmt_quotes_what_is_not_one_word, setup, teardown),
		cmocka_unit_test_setup_teardown(
			text_has_a_timestamp_and_the_message_bare, setup,
			teardown),
		cmocka_unit_test_setup_teardown(json_lines_parse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(no_access_log_writes_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(reopen_after_a_move, setup,
						teardown),
	};
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(main_path, sizeof(main_path), "%s/main.log", dir);
	snprintf(access_path, sizeof(access_path), "%s/access.log", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(main_path);
	unlink(access_path);
	rmdir(dir);
	return rc;
}
