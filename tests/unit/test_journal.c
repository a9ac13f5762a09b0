/* test_journal.c -- the IXFR journal: record lists, entries in order, the
 * lookup by serial, and trimming to --ixfr-journal. */
/* util.h declares fail(), a cmocka macro: before cmocka.h. */
#include "journal.h"
#include "util.h"
#include "wire.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static const uint8_t owner[] = "\x02m1\x03tok\x07" "example";

/* An entry from serial `from` to from + 1 with `n` added A records. */
static void
make_entry(struct journal_entry *e, uint32_t from, unsigned n)
{
	uint8_t addr[4] = { 10, 0, 0, 0 };
	unsigned i;

	memset(e, 0, sizeof(*e));
	e->from = from;
	e->to = from + 1;
	for (i = 0; i < n; i++) {
		addr[3] = (uint8_t)i;
		rr_list_add(&e->added, owner, sizeof(owner), TYPE_A, 60, addr,
			    4);
	}
	rr_list_add(&e->deleted, owner, sizeof(owner), TYPE_A, 60,
		    (const uint8_t *)"\x0a\x00\x00\xff", 4);
}

static void
test_rr_list(void **state)
{
	struct journal_entry e;
	const uint8_t *rr;
	size_t off = 0, len, n = 0;

	(void)state;
	make_entry(&e, 1, 3);
	assert_int_equal(e.added.count, 3);
	while ((len = rr_list_next(&e.added, &off, &rr)) > 0) {
		const uint8_t *f = rr + dns_name_len(rr);

		assert_int_equal(len, sizeof(owner) + 10 + 4);
		assert_memory_equal(rr, owner, sizeof(owner));
		assert_int_equal(dns_get16(f), TYPE_A);
		assert_int_equal(dns_get16(f + 2), CLASS_IN);
		assert_int_equal(dns_get32(f + 4), 60);
		assert_int_equal(dns_get16(f + 8), 4);
		assert_int_equal(f[13], n);
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(off, e.added.len);
	journal_entry_clear(&e);
	assert_int_equal(e.added.count, 0);
}

static void
test_entries_in_order(void **state)
{
	struct journal j;
	struct journal_entry e;
	const struct journal_entry *got;
	size_t pos = 99;
	uint32_t s;

	(void)state;
	journal_init(&j, 10);
	for (s = 100; s < 105; s++) {
		make_entry(&e, s, 1);
		journal_add(&j, &e);
		assert_null(e.added.wire); /* taken over */
	}
	got = journal_find(&j, 102, &pos);
	assert_non_null(got);
	assert_int_equal(pos, 2);
	assert_int_equal(got->to, 103);
	assert_ptr_equal(journal_at(&j, pos), got);
	assert_int_equal(journal_at(&j, 4)->from, 104);
	assert_null(journal_at(&j, 5));
	/* A serial we never had, or the newest (nothing after it). */
	assert_null(journal_find(&j, 99, &pos));
	assert_null(journal_find(&j, 105, &pos));
	journal_clear(&j);
	assert_int_equal(j.count, 0);
	assert_int_equal(j.max, 10);
}

/* Full, the oldest goes: IXFR from before the journal falls back to the
 * whole zone. The order survives wrapping round. */
static void
test_trimmed_to_max(void **state)
{
	struct journal j;
	struct journal_entry e;
	size_t pos, i;
	uint32_t s;

	(void)state;
	journal_init(&j, 3);
	for (s = 1; s <= 7; s++) {
		make_entry(&e, s, s);
		journal_add(&j, &e);
		assert_true(j.count <= 3);
	}
	assert_int_equal(j.count, 3);
	assert_null(journal_find(&j, 4, &pos));
	assert_non_null(journal_find(&j, 5, &pos));
	assert_int_equal(pos, 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(journal_at(&j, i)->from, 5 + i);
		assert_int_equal(journal_at(&j, i)->added.count, 5 + i);
	}
	journal_clear(&j);
}

static void
test_max_zero_keeps_nothing(void **state)
{
	struct journal j;
	struct journal_entry e;
	size_t pos;

	(void)state;
	journal_init(&j, 0);
	make_entry(&e, 1, 2);
	journal_add(&j, &e);
	assert_int_equal(j.count, 0);
	assert_null(journal_find(&j, 1, &pos));
	assert_null(e.added.wire);
	journal_clear(&j);
}

/* A large --ixfr-journal costs only what is used. */
static void
test_grows_as_needed(void **state)
{
	struct journal j;
	struct journal_entry e;
	uint32_t s;

	(void)state;
	journal_init(&j, 1000000);
	for (s = 0; s < 40; s++) {
		make_entry(&e, s, 0);
		journal_add(&j, &e);
	}
	assert_int_equal(j.count, 40);
	assert_true(j.alloc < 100);
	assert_int_equal(journal_at(&j, 39)->from, 39);
	journal_clear(&j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rr_list),
		cmocka_unit_test(test_entries_in_order),
		cmocka_unit_test(test_trimmed_to_max),
		cmocka_unit_test(test_max_zero_keeps_nothing),
		cmocka_unit_test(test_grows_as_needed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
