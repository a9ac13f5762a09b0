/* test_dns_serial.c -- the token zone's serial base kept in --data-dir:
 * the zone's own serial at first, one more when its records change, never
 * back (RFC 1982 arithmetic, across the wrap too), and a damaged file
 * refused rather than guessed at. */
/* util.h declares fail(), a cmocka macro: before cmocka.h. */
#include "serial.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/srvgate-serial-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, SERIAL_FILE);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static uint32_t
settle(struct fx *f, uint64_t content, uint32_t natural)
{
	char err[256] = "";
	uint32_t base = 0;

	if (serial_base_settle(f->dir, content, natural, &base, err) != 0)
		fail_msg("serial_base_settle: %s", err);
	return base;
}

static void
test_no_dir(void **state)
{
	char err[256];
	uint32_t base = 0;

	(void)state;
	assert_int_equal(serial_base_settle(NULL, 1, 7, &base, err), 0);
	assert_int_equal(base, 7);
	assert_int_equal(serial_base_settle("", 2, 8, &base, err), 0);
	assert_int_equal(base, 8);
}

static void
test_rises_with_content(void **state)
{
	struct fx *f = *state;

	assert_int_equal(settle(f, 0xAAAA, 1), 1);	/* first start */
	assert_int_equal(settle(f, 0xAAAA, 1), 1);	/* restart, same */
	assert_int_equal(settle(f, 0xBBBB, 1), 2);	/* new glue */
	assert_int_equal(settle(f, 0xBBBB, 1), 2);
	assert_int_equal(settle(f, 0xAAAA, 1), 3);	/* old glue: still up */
	/* A zone file whose serial was bumped past us: its serial. */
	assert_int_equal(settle(f, 0xCCCC, 100), 100);
	assert_int_equal(settle(f, 0xCCCC, 100), 100);
	/* The file's serial bumped, its records not: its serial too. */
	assert_int_equal(settle(f, 0xCCCC, 150), 150);
	/* ... but a serial set back never takes ours back. */
	assert_int_equal(settle(f, 0xCCCC, 5), 150);
	assert_int_equal(settle(f, 0xDDDD, 5), 151);
}

/* RFC 1982: 0xFFFFFFFF + 1 wraps to 0, which is after it. */
static void
test_wraps(void **state)
{
	struct fx *f = *state;

	assert_int_equal(settle(f, 1, 0xFFFFFFFFu), 0xFFFFFFFFu);
	assert_int_equal(settle(f, 2, 0xFFFFFFFFu), 0);
	assert_int_equal(settle(f, 2, 0xFFFFFFF0u), 0);
}

static void
test_damaged_file(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	uint32_t base = 0;
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	fputs("garbage\n", fp);
	fclose(fp);
	assert_int_equal(serial_base_settle(f->dir, 1, 1, &base, err), -1);
	assert_non_null(strstr(err, SERIAL_FILE));
	assert_non_null(strstr(err, "remove it"));
}

/* What is written is what is read back, and no temporary file stays. */
static void
test_file_format(void **state)
{
	struct fx *f = *state;
	char text[128] = "", tmp[160];
	FILE *fp;

	settle(f, 0x0123456789abcdefull, 42);
	fp = fopen(f->path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(text, sizeof(text), fp));
	fclose(fp);
	assert_string_equal(text, "content 0123456789abcdef base 42\n");
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	assert_int_equal(access(tmp, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_dir),
		cmocka_unit_test_setup_teardown(test_rises_with_content, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_format, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
