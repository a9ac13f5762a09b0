/* test_synth.c -- incremental token records: a registry fed committed
 * changes through its store sink, the DNS view following it, and what a
 * change to a big token does to answers, the serial and the journal, and
 * what it costs. */
/* util.h (through registry.h) declares fail(), a cmocka macro: first. */
#include "answer.h"
#include "dns.h"
#include "registry.h"
#include "store.h"
#include "view.h"
#include "wire.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZONE "discovery.test"
#define BIG "big"
#define BIG_SIZE 1000
#define MAX_PUBLISHED 64
#define SRV(t) "_etcd-server-ssl._tcp." t "." ZONE

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1 /* sanitizers: time is not measured against targets */
#else
#define SLOW_BUILD 0
#endif

struct fx {
	struct registry reg;
	struct store_sink sink;
	uint64_t index;
	struct dns_view_config cfg;
	struct dns_view *view;
	struct dns_stats stats;
	struct dns_answer_ctx ctx;
	uint8_t out[65535];
};

/* ---- committing changes as a store would ---- */

static void
commit(struct fx *f, struct change *c)
{
	c->index = ++f->index;
	f->sink.apply(f->sink.arg, c);
	f->sink.batch_end(f->sink.arg, f->index);
}

static void
put_token(struct fx *f, const char *name, unsigned size)
{
	struct change c = { .kind = CHANGE_TOKEN_PUT, .size = size };

	snprintf(c.token, sizeof(c.token), "%s", name);
	commit(f, &c);
}

/* Member `id` at 10.a.b.c, port 2380. */
static void
put_member(struct fx *f, const char *token, unsigned id, unsigned addr)
{
	struct change c = { .kind = CHANGE_MEMBER_PUT, .action = ACTION_SET };
	char value[128];

	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "m%u", id);
	snprintf(value, sizeof(value), "m%u=https://10.%u.%u.%u:2380", id,
		 addr >> 16 & 0xFF, addr >> 8 & 0xFF, addr & 0xFF);
	c.value = value;
	commit(f, &c);
}

static void
delete_member(struct fx *f, const char *token, unsigned id)
{
	struct change c = { .kind = CHANGE_MEMBER_DEL };

	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "m%u", id);
	commit(f, &c);
}

static void
put_alias(struct fx *f, const char *name, const char *token)
{
	struct change c = { .kind = CHANGE_ALIAS_PUT };

	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", name);
	commit(f, &c);
}

static void
delete_alias(struct fx *f, const char *name)
{
	struct change c = { .kind = CHANGE_ALIAS_DEL };

	snprintf(c.name, sizeof(c.name), "%s", name);
	commit(f, &c);
}

/* ---- the fixture: a token of 1000 members ---- */

static void
fill(struct fx *f, const char *token, unsigned size, unsigned n)
{
	unsigned i;

	put_token(f, token, size);
	for (i = 0; i < n; i++)
		put_member(f, token, i, i + 1);
}

static int
setup_with(void **state, unsigned max_published)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256] = "";

	assert_non_null(f);
	registry_init(&f->reg, 100000);
	f->sink = registry_sink(&f->reg);
	f->cfg.zone = ZONE;
	f->cfg.zones_dir = "/nonexistent/srvgate-test";
	f->cfg.ns_name = "ns1.example.net.";
	f->cfg.soa_email = "hostmaster.example.net.";
	f->cfg.ttl = 60;
	f->cfg.neg_ttl = 30;
	f->cfg.journal_max = 100;
	f->cfg.max_published = max_published;
	f->view = dns_view_new(&f->cfg, &f->reg, err);
	if (f->view == NULL)
		fail_msg("dns_view_new: %s", err);
	f->ctx.view = f->view;
	f->ctx.edns_buffer = 1232;
	f->ctx.stats = &f->stats;
	fill(f, BIG, BIG_SIZE, BIG_SIZE);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_with(state, MAX_PUBLISHED);
}

static int
setup_all_published(void **state)
{
	return setup_with(state, BIG_SIZE);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	dns_view_free(f->view);
	registry_free(&f->reg);
	free(f);
	return 0;
}

/* ---- asking ---- */

/* Asks over TCP (no size limit); returns the answer's length. */
static size_t
ask(struct fx *f, const char *name, uint16_t type)
{
	uint8_t q[300];
	size_t n = DNS_HEADER_SIZE;

	memset(q, 0, DNS_HEADER_SIZE);
	dns_put16(q, 0x4242);
	dns_put16(q + 4, 1);
	n += dns_name_from_text(name, q + n);
	dns_put16(q + n, type);
	dns_put16(q + n + 2, CLASS_IN);
	n += 4;
	return dns_answer_query(&f->ctx, q, n, f->out, sizeof(f->out), 1);
}

static unsigned
rcode(const struct fx *f)
{
	return f->out[3] & 0xF;
}

/* The member ids the SRV answer for name targets, as a bitmap over
 * m0..m1023; returns how many records. */
static unsigned
srv_targets(struct fx *f, const char *name, uint8_t *seen)
{
	size_t len = ask(f, name, TYPE_SRV), o = DNS_HEADER_SIZE;
	unsigned an, i, id;

	memset(seen, 0, 1024);
	if (rcode(f) != RCODE_NOERROR)
		return 0;
	an = dns_get16(f->out + 6);
	assert_int_equal(dns_skip_name(f->out, len, &o), 0);
	o += 4;
	for (i = 0; i < an; i++) {
		assert_int_equal(dns_skip_name(f->out, len, &o), 0);
		assert_int_equal(dns_get16(f->out + o), TYPE_SRV);
		/* The target's first label: "m<id>". */
		assert_int_equal(sscanf((const char *)f->out + o + 17, "m%u",
					&id), 1);
		assert_true(id < 1024);
		seen[id]++;
		o += 10 + dns_get16(f->out + o + 8);
	}
	return an;
}

static const struct journal_entry *
journal_from(struct fx *f, uint32_t from)
{
	const struct dns_zone *z = dns_view_data(f->view)->token_zone;
	size_t pos;

	return journal_find(&z->journal, from, &pos);
}

static size_t
journal_count(struct fx *f)
{
	return dns_view_data(f->view)->token_zone->journal.count;
}

/* ---- what is published ---- */

static void
test_first_max_published(void **state)
{
	struct fx *f = *state;
	uint8_t seen[1024];
	unsigned i;

	assert_int_equal(srv_targets(f, SRV(BIG), seen), MAX_PUBLISHED);
	for (i = 0; i < MAX_PUBLISHED; i++)
		assert_int_equal(seen[i], 1);
	ask(f, "m63." BIG "." ZONE, TYPE_A);
	assert_int_equal(rcode(f), RCODE_NOERROR);
	assert_int_equal(dns_get16(f->out + 6), 1);
	ask(f, "m64." BIG "." ZONE, TYPE_A);
	assert_int_equal(rcode(f), RCODE_NXDOMAIN);
}

/* A member outside the published ones changes nothing: no answer, no
 * serial, no journal entry. */
static void
test_unpublished_changes_nothing(void **state)
{
	struct fx *f = *state;
	uint8_t before[65535];
	size_t len = ask(f, SRV(BIG), TYPE_SRV);
	uint32_t serial = dns_view_serial(f->view, NULL);
	size_t entries = journal_count(f);

	memcpy(before, f->out, len);
	put_member(f, BIG, 1000, 5000);	   /* a new one */
	put_member(f, BIG, 500, 7000);	   /* one moves */
	delete_member(f, BIG, 700);	   /* one goes */
	assert_int_equal(ask(f, SRV(BIG), TYPE_SRV), len);
	assert_memory_equal(f->out, before, len);
	assert_int_equal(dns_view_serial(f->view, NULL), serial);
	assert_int_equal(journal_count(f), entries);
	assert_true(f->reg.index > serial);
}

/* A published member goes: the next by created index moves up, and the
 * journal has exactly its records and the newcomer's. */
static void
test_delete_promotes_next(void **state)
{
	struct fx *f = *state;
	uint32_t serial = dns_view_serial(f->view, NULL);
	const struct journal_entry *e;
	uint8_t seen[1024];

	delete_member(f, BIG, 10);
	assert_int_equal(srv_targets(f, SRV(BIG), seen), MAX_PUBLISHED);
	assert_int_equal(seen[10], 0);
	assert_int_equal(seen[64], 1);
	ask(f, "m64." BIG "." ZONE, TYPE_A);
	assert_int_equal(rcode(f), RCODE_NOERROR);
	ask(f, "m10." BIG "." ZONE, TYPE_A);
	assert_int_equal(rcode(f), RCODE_NXDOMAIN);
	assert_int_equal(dns_view_serial(f->view, NULL), 1 + f->reg.index);
	e = journal_from(f, serial);
	assert_non_null(e);
	assert_int_equal(e->to, 1 + f->reg.index);
	assert_int_equal(e->deleted.count, 2); /* SRV and A of m10 */
	assert_int_equal(e->added.count, 2);   /* SRV and A of m64 */
}

/* A published member moves: its A record and the SRV answer's additional
 * section change, nothing else. */
static void
test_published_moves(void **state)
{
	struct fx *f = *state;
	uint32_t serial = dns_view_serial(f->view, NULL);
	const struct journal_entry *e;
	size_t len;

	put_member(f, BIG, 5, 0x0A0B0C);
	e = journal_from(f, serial);
	assert_non_null(e);
	assert_int_equal(e->deleted.count, 1);
	assert_int_equal(e->added.count, 1);
	len = ask(f, "m5." BIG "." ZONE, TYPE_A);
	assert_memory_equal(f->out + len - 4, "\x0A\x0A\x0B\x0C", 4);
	len = ask(f, SRV(BIG), TYPE_SRV);
	assert_int_equal(dns_get16(f->out + 10), MAX_PUBLISHED);
	assert_non_null(memmem(f->out, len, "\x0A\x0A\x0B\x0C", 4));
}

/* Fewer than --max-published: the token's size is the limit. */
static void
test_size_is_the_limit(void **state)
{
	struct fx *f = *state;
	uint32_t serial;
	const struct journal_entry *e;
	uint8_t seen[1024];

	fill(f, "small", 3, 5);
	assert_int_equal(srv_targets(f, SRV("small"), seen), 3);
	serial = dns_view_serial(f->view, NULL);
	put_token(f, "small", 5);
	assert_int_equal(srv_targets(f, SRV("small"), seen), 5);
	e = journal_from(f, serial);
	assert_non_null(e);
	assert_int_equal(e->deleted.count, 0);
	assert_int_equal(e->added.count, 4); /* SRV and A of m3 and m4 */
}

/* An alias publishes the same records under its name; a change reaches
 * both names. */
static void
test_alias_follows(void **state)
{
	struct fx *f = *state;
	const struct journal_entry *e;
	uint32_t serial;
	uint8_t seen[1024];

	put_alias(f, "prod", BIG);
	assert_int_equal(srv_targets(f, SRV("prod"), seen), MAX_PUBLISHED);
	serial = dns_view_serial(f->view, NULL);
	delete_member(f, BIG, 0);
	assert_int_equal(srv_targets(f, SRV("prod"), seen), MAX_PUBLISHED);
	assert_int_equal(seen[0], 0);
	assert_int_equal(seen[64], 1);
	e = journal_from(f, serial);
	assert_non_null(e);
	assert_int_equal(e->deleted.count, 4); /* under both names */
	assert_int_equal(e->added.count, 4);
	delete_alias(f, "prod");
	ask(f, SRV("prod"), TYPE_SRV);
	assert_int_equal(rcode(f), RCODE_NXDOMAIN);
	assert_int_equal(srv_targets(f, SRV(BIG), seen), MAX_PUBLISHED);
}

/* ---- what it costs ---- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define SAMPLES 200

struct cost {
	uint64_t ns[SAMPLES];
	unsigned n;
};

static void
note(struct cost *c, uint64_t t0)
{
	if (c->n < SAMPLES)
		c->ns[c->n++] = now_ns() - t0;
}

static int
by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* With the default --max-published a change must cost well under 1 ms
 * of loop time; with every member published the cost is only reported.
 * The median is the cost; the maximum also counts the scheduler's. */
static void
report(const struct fx *f, const char *what, struct cost *c)
{
	uint64_t p50, p99;

	qsort(c->ns, c->n, sizeof(c->ns[0]), by_value);
	p50 = c->ns[c->n / 2];
	p99 = c->ns[c->n * 99 / 100];
	print_message("    %-46s median %6.1f us, p99 %7.1f us, max %7.1f "
		      "us\n", what, p50 / 1e3, p99 / 1e3,
		      c->ns[c->n - 1] / 1e3);
	if (!SLOW_BUILD && f->cfg.max_published == MAX_PUBLISHED)
		assert_true(p50 < 1000000);
}

/* Loop time of one commit into the 1000-member token, from the store's
 * report to the view's answers, serial and journal: a registration past
 * the published ones, a published member moving, one going. */
static void
test_cost_of_a_change(void **state)
{
	struct fx *f = *state;
	static struct cost join, move, go;
	unsigned i;
	uint64_t t0;

	join.n = move.n = go.n = 0;
	for (i = 0; i < SAMPLES; i++) {
		t0 = now_ns();
		put_member(f, BIG, 1000 + i % 20, 9000 + i);
		note(&join, t0);
		t0 = now_ns();
		put_member(f, BIG, 5 + i % 20, 8000 + i); /* published */
		note(&move, t0);
	}
	for (i = 0; i < SAMPLES; i++) {
		t0 = now_ns();
		delete_member(f, BIG, 30 + i); /* published until it goes */
		note(&go, t0);
	}
	print_message("    --max-published %u, token of %u members:\n",
		      f->cfg.max_published, BIG_SIZE);
	report(f, "a registration past the published ones", &join);
	report(f, "a published member moving", &move);
	report(f, "a published member going (the next moves up)", &go);
}

/* ---- AXFR's walk: the zone as it was, whatever changes meanwhile ---- */

/* A record as one number (FNV-1a of owner, type and rdata). */
static uint64_t
rr_hash(const struct dns_node *n, uint16_t type, const struct dns_rr *rr)
{
	uint64_t h = 1469598103934665603u;
	size_t i;

	for (i = 0; i < n->name_len; i++)
		h = (h ^ n->name[i]) * 1099511628211u;
	h = (h ^ type) * 1099511628211u;
	for (i = 0; i < rr->rdlen; i++)
		h = (h ^ rr->rdata[i]) * 1099511628211u;
	return h;
}

struct walker {
	struct dns_walk w;
	uint64_t got[4096];
	size_t n;
	int gone;
};

/* What xfr.c's put_node sends of n. */
static void
take_node(struct walker *k, const struct dns_node *n)
{
	size_t i;

	for (i = 0; i < n->nsets; i++) {
		const struct dns_rr *rr;

		for (rr = n->sets[i].head; rr != NULL; rr = rr->next)
			if (rr != n->zone->soa && dns_rr_was_live(rr)) {
				assert_true(k->n < 4096);
				k->got[k->n++] = rr_hash(n, n->sets[i].answer.type,
							 rr);
			}
	}
}

static void
walker_before(struct dns_walk *w, const struct dns_node *n)
{
	take_node(container_of(w, struct walker, w), n);
}

static void
walker_gone(struct dns_walk *w)
{
	container_of(w, struct walker, w)->gone = 1;
}

static void
walker_start(struct fx *f, struct walker *k)
{
	memset(k, 0, sizeof(*k));
	k->w.before = walker_before;
	k->w.gone = walker_gone;
	dns_walk_start(&k->w,
		       (struct dns_zone *)dns_view_data(f->view)->token_zone);
}

/* Takes up to n nodes; returns 0 at the end. */
static int
walker_take(struct walker *k, unsigned n)
{
	const struct dns_node *node = NULL;

	while (n-- > 0 && (node = dns_walk_next(&k->w)) != NULL)
		take_node(k, node);
	return node != NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The whole zone now, sorted (no repeats). */
static void
snapshot(struct fx *f, struct walker *k)
{
	walker_start(f, k);
	while (walker_take(k, 1000))
		;
	dns_walk_stop(&k->w);
	qsort(k->got, k->n, sizeof(k->got[0]), cmp_u64);
}

/* One of a few changes to tokens t0..t19 (3 members of size 3 each): a
 * member goes or comes, a token goes or comes whole. */
static void
change_some(struct fx *f, unsigned r)
{
	char t[16];
	unsigned i = r % 20, m;

	snprintf(t, sizeof(t), "t%u", i);
	switch (r / 20 % 4) {
	case 0:
		delete_member(f, t, r / 80 % 3);
		break;
	case 1:
		put_token(f, t, 3);
		for (m = 0; m < 3; m++)
			put_member(f, t, m, 0x200000 + i * 16 + m);
		break;
	case 2: {
		struct change c = { .kind = CHANGE_TOKEN_DEL };

		snprintf(c.token, sizeof(c.token), "%s", t);
		commit(f, &c);
		break;
	}
	default:
		put_member(f, t, 5 + r % 3, 0x300000 + r);
	}
}

/* Walks interleaved with changes at every pace send the zone exactly as
 * it was when they began: later nodes left out, changed ones as before. */
static void
test_walk_is_a_snapshot(void **state)
{
	struct fx *f = *state;
	struct walker *before = malloc(sizeof(*before));
	struct walker *k = malloc(sizeof(*k));
	struct walker *after = malloc(sizeof(*after));
	unsigned pace, i, r = 7;

	assert_non_null(before);
	assert_non_null(k);
	assert_non_null(after);
	for (i = 0; i < 20; i++)
		change_some(f, 20 + i); /* t<i> with 3 members */
	for (pace = 1; pace <= 40; pace += 3) {
		snapshot(f, before);
		walker_start(f, k);
		while (walker_take(k, pace))
			for (i = 0; i < 3; i++)
				change_some(f, r = r * 1103515245u + 12345u);
		dns_walk_stop(&k->w);
		qsort(k->got, k->n, sizeof(k->got[0]), cmp_u64);
		assert_int_equal(k->n, before->n);
		assert_memory_equal(k->got, before->got,
				    k->n * sizeof(k->got[0]));
		snapshot(f, after);
		assert_true(after->n != before->n ||
			    memcmp(after->got, before->got,
				   after->n * sizeof(after->got[0])) != 0);
	}
	free(before);
	free(k);
	free(after);
}

/* A reload frees the zone: a walk under way hears of it, and stops. */
static void
test_walk_gone_at_reload(void **state)
{
	struct fx *f = *state;
	struct walker *k = malloc(sizeof(*k));
	char err[256] = "";

	assert_non_null(k);
	walker_start(f, k);
	assert_true(walker_take(k, 1));
	assert_int_equal(dns_view_reload(f->view, err), 0);
	assert_int_equal(k->gone, 1);
	assert_null(k->w.zone);
	assert_null(dns_walk_next(&k->w));
	dns_walk_stop(&k->w);
	free(k);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_first_max_published),
		T(test_unpublished_changes_nothing),
		T(test_delete_promotes_next),
		T(test_published_moves),
		T(test_size_is_the_limit),
		T(test_alias_follows),
		T(test_cost_of_a_change),
		T(test_walk_is_a_snapshot),
		T(test_walk_gone_at_reload),
		cmocka_unit_test_setup_teardown(test_cost_of_a_change,
						setup_all_published, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
