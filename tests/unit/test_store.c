/* test_store.c -- the LMDB store with a real event loop, in a fresh data
 * dir under /tmp: commits come back in order and load again as they were;
 * proposals share commits; a full map refuses writes, lets deletions
 * through and recovers; /health probes are shared; a damaged or foreign
 * data.mdb refuses to load with one line naming it, and is left as it was.
 */

/* util.h declares fail(), which cmocka.h defines as a macro: first. */
#include "registry.h"
#include "registry_internal.h"
#include "store.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define MiB (1024ull * 1024)

/* ---- a sink that builds a registry and counts outcomes ---- */

struct sink_log {
	struct registry reg; /* what the applied changes built */
	size_t applied, batches, settled;
	size_t ok, full, other;
	uint64_t last_applied;	  /* index of the last change applied */
	uint64_t batch_index;	  /* of the last batch_end */
	int out_of_order;	  /* an index not above the one before */
	enum store_status last_status;
	char last_error[ERRBUF_SIZE];
};

static void
log_apply(void *arg, const struct change *c)
{
	struct sink_log *l = arg;

	/* A load reports by key; commits after it come in index order. */
	if (l->batches > 0 && c->index <= l->last_applied)
		l->out_of_order = 1;
	l->last_applied = c->index;
	l->applied++;
	registry_apply(&l->reg, c);
}

static void
log_batch_end(void *arg, uint64_t index)
{
	struct sink_log *l = arg;

	l->batches++;
	l->batch_index = index;
	registry_batch_end(&l->reg, index);
}

static void
log_settled(void *arg, struct proposal *p)
{
	struct sink_log *l = arg;

	l->settled++;
	l->last_status = p->status;
	snprintf(l->last_error, sizeof(l->last_error), "%s", p->error);
	if (p->status == STORE_OK)
		l->ok++;
	else if (p->status == STORE_FULL)
		l->full++;
	else
		l->other++;
	proposal_free(p);
}

static void
log_init(struct sink_log *l)
{
	memset(l, 0, sizeof(*l));
	registry_init(&l->reg, 100000);
}

static struct store_sink
log_sink(struct sink_log *l)
{
	struct store_sink s = { log_apply, log_batch_end, log_settled, l };

	return s;
}

/* ---- the test's loop and data dir ---- */

struct fixture {
	char dir[64];
	struct event_base *base;
	struct event *tick; /* wakes the loop, so that it never blocks */
	struct store *st;
	struct sink_log log;
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct timeval tv = { 0, 100000 };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/srvgate-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->base = event_base_new();
	assert_non_null(f->base);
	f->tick = event_new(f->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(f->tick, &tv);
	log_init(&f->log);
	*state = f;
	return 0;
}

static void
remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat sb;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->st != NULL)
		store_close(f->st);
	registry_free(&f->log.reg);
	event_free(f->tick);
	event_base_free(f->base);
	remove_tree(f->dir);
	free(f);
	return 0;
}

/* Runs the loop until *counter reaches want; 30 s at most. */
static void
run_until(struct fixture *f, const size_t *counter, size_t want)
{
	uint64_t until = now_monotonic_ms() + 30000;

	while (*counter < want && now_monotonic_ms() < until)
		event_base_loop(f->base, EVLOOP_ONCE);
	if (*counter < want)
		fail_msg("only %zu of %zu after 30 s", *counter, want);
}

static int
open_store(struct fixture *f, const char *dir, uint64_t max_bytes,
	   struct sink_log *l, char *err)
{
	/* The map starts at 1 MiB here, so that tests see it grow. */
	struct store_lmdb_config cfg = { dir, max_bytes, 1u << 20, 0 };
	struct store_sink sink = log_sink(l);

	return store_lmdb_open(&f->st, &cfg, f->base, &sink, err);
}

/* Opens and loads; on failure nothing stays open. */
static int
open_and_load(struct fixture *f, const char *dir, uint64_t max_bytes,
	      struct sink_log *l, char *err)
{
	if (open_store(f, dir, max_bytes, l, err) != 0) {
		f->st = NULL;
		return -1;
	}
	if (store_load(f->st, err) != 0) {
		store_close(f->st);
		f->st = NULL;
		return -1;
	}
	return 0;
}

/* ---- proposals ---- */

static void
add_token(struct proposal *p, const char *token, unsigned size,
	  int64_t at, uint64_t created_index)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_TOKEN_PUT;
	snprintf(c.token, sizeof(c.token), "%s", token);
	c.size = size;
	c.created_at = at;
	c.created_index = created_index;
	proposal_add(p, &c);
}

static void
add_member(struct proposal *p, const char *token, const char *id,
	   const char *value, const char *clients, uint64_t created_index,
	   enum member_action action)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_MEMBER_PUT;
	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", id);
	c.value = (char *)value;
	c.clients = (char *)clients;
	c.created_index = created_index;
	c.action = action;
	proposal_add(p, &c);
}

static void
add_del(struct proposal *p, enum change_kind kind, const char *token,
	const char *name)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", name ? name : "");
	proposal_add(p, &c);
}

static void
add_alias(struct proposal *p, const char *name, const char *token)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = CHANGE_ALIAS_PUT;
	snprintf(c.token, sizeof(c.token), "%s", token);
	snprintf(c.name, sizeof(c.name), "%s", name);
	proposal_add(p, &c);
}

/* Submits p and runs the loop until it is settled; returns its status. */
static enum store_status
commit(struct fixture *f, struct proposal *p)
{
	size_t want = f->log.settled + 1;

	store_submit(f->st, p);
	run_until(f, &f->log.settled, want);
	return f->log.last_status;
}

/* ---- comparing what two registries hold ---- */

struct cmp {
	const struct registry *other;
	size_t tokens, members, aliases;
};

static void
same_token(const struct token *a, void *arg)
{
	struct cmp *c = arg;
	const struct token *b = registry_find_token(c->other, a->name);
	size_t i;

	if (b == NULL)
		fail_msg("token %s not loaded", a->name);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->created_index, b->created_index);
	assert_int_equal(a->modified_index, b->modified_index);
	assert_int_equal(a->created_at, b->created_at);
	assert_string_equal(a->cluster_id, b->cluster_id);
	assert_int_equal(a->nmembers, b->nmembers);
	for (i = 0; i < a->nmembers; i++) {
		const struct member *ma = a->members[i], *mb = b->members[i];

		assert_string_equal(ma->id, mb->id);
		assert_string_equal(ma->value, mb->value);
		if (ma->clients == NULL)
			assert_null(mb->clients);
		else
			assert_string_equal(ma->clients, mb->clients);
		assert_int_equal(ma->created_index, mb->created_index);
		assert_int_equal(ma->modified_index, mb->modified_index);
		assert_int_equal(ma->action, mb->action);
		assert_int_equal(ma->synced, mb->synced);
	}
	c->tokens++;
	c->members += a->nmembers;
}

static void
same_alias(const struct alias *a, void *arg)
{
	struct cmp *c = arg;
	const struct alias *b = registry_find_alias(c->other, a->name);

	if (b == NULL)
		fail_msg("alias %s not loaded", a->name);
	assert_string_equal(a->token, b->token);
	c->aliases++;
}

static void
assert_same_registry(const struct registry *a, const struct registry *b)
{
	struct cmp c = { b, 0, 0, 0 };

	assert_int_equal(a->ntokens, b->ntokens);
	assert_int_equal(a->nmembers, b->nmembers);
	assert_int_equal(a->aliases.count, b->aliases.count);
	assert_int_equal(a->index, b->index);
	registry_foreach_token(a, same_token, &c);
	registry_foreach_alias(a, same_alias, &c);
	assert_int_equal(c.tokens, a->ntokens);
	assert_int_equal(c.members, a->nmembers);
}

/* ---- commit and reload ---- */

static void
test_commit_and_reload(void **state)
{
	struct fixture *f = *state;
	struct sink_log again;
	struct proposal *p;
	struct store_stats ss;
	errbuf_t err;
	uint64_t index;
	char id[16];
	int i;

	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &f->log, err), 0);
	/* An empty dir loads as nothing, at index 0. */
	assert_int_equal(f->log.applied, 0);
	assert_int_equal(f->log.batches, 1);
	assert_int_equal(f->log.batch_index, 0);

	p = proposal_new();
	add_token(p, "t", 3, 1234, 0);
	assert_int_equal(commit(f, p), STORE_OK);
	p = proposal_new();
	add_member(p, "t", "m2", "m2=http://10.0.0.2:2380", NULL, 0,
		   ACTION_CREATE);
	add_member(p, "t", "m1", "m1=http://10.0.0.1:2380",
		   "http://10.0.0.1:2379", 0, ACTION_SET);
	assert_int_equal(commit(f, p), STORE_OK);
	assert_int_equal(f->log.last_applied, 3);
	p = proposal_new();
	add_alias(p, "x", "t");
	add_token(p, "t", 5, 1234, 1); /* resized: made at 1 */
	add_member(p, "t", "m2", "m2=http://10.0.0.22:2380", NULL, 2,
		   ACTION_UPDATE);
	assert_int_equal(commit(f, p), STORE_OK);
	/* A big token, gone again: its members span many pages. */
	p = proposal_new();
	add_token(p, "u", 3, 99, 0);
	for (i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		add_member(p, "u", id, "u=http://10.0.1.1:2380", NULL, 0,
			   ACTION_CREATE);
	}
	add_alias(p, "y", "u");
	assert_int_equal(commit(f, p), STORE_OK);
	assert_int_equal(f->log.reg.nmembers, 302);
	p = proposal_new();
	add_del(p, CHANGE_ALIAS_DEL, "u", "y");
	add_del(p, CHANGE_TOKEN_DEL, "u", NULL);
	add_member(p, "t", "m3", "m3=http://10.0.0.3:2380", NULL, 0,
		   ACTION_CREATE);
	add_member(p, "t", "m4", "m4=http://10.0.0.4:2380", NULL, 0,
		   ACTION_CREATE);
	assert_int_equal(commit(f, p), STORE_OK);
	p = proposal_new();
	add_del(p, CHANGE_MEMBER_DEL, "t", "m3");
	add_token(p, "v", 1, 77, 0);
	add_alias(p, "z", "v");
	assert_int_equal(commit(f, p), STORE_OK);
	index = f->log.reg.index;
	/* Each change got the next index; each batch ended at its last. */
	assert_int_equal(index, 1 + 2 + 3 + 302 + 4 + 3);
	assert_int_equal(f->log.last_applied, index);
	assert_int_equal(f->log.batch_index, index);
	assert_false(f->log.out_of_order);
	assert_int_equal(f->log.reg.ntokens, 2);
	assert_int_equal(f->log.reg.nmembers, 3);
	store_stats(f->st, &ss);
	assert_int_equal(ss.changes, index);
	assert_int_equal(ss.failures, 0);
	assert_false(ss.full);
	assert_true(ss.used_bytes > 0);
	assert_true(ss.map_bytes >= ss.used_bytes);
	store_close(f->st);
	f->st = NULL;

	/* A new store on the dir reports the same. */
	log_init(&again);
	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &again, err), 0);
	assert_int_equal(again.batches, 1);
	assert_int_equal(again.batch_index, index);
	assert_int_equal(again.settled, 0);
	/* tokens, members, aliases */
	assert_int_equal(again.applied, 2 + 3 + 2);
	assert_same_registry(&f->log.reg, &again.reg);
	assert_same_registry(&again.reg, &f->log.reg);
	/* Spot checks, in case both sides were wrong alike. */
	{
		const struct token *t = registry_find_token(&again.reg, "t");

		assert_non_null(t);
		assert_int_equal(t->size, 5);
		assert_int_equal(t->created_index, 1);
		assert_int_equal(t->modified_index, 5);
		assert_int_equal(t->created_at, 1234);
		assert_int_equal(t->nmembers, 3);
		assert_string_equal(t->members[0]->id, "m2");
		assert_int_equal(t->members[0]->created_index, 2);
		assert_int_equal(t->members[0]->modified_index, 6);
		assert_string_equal(t->members[0]->value,
				    "m2=http://10.0.0.22:2380");
		assert_int_equal(t->members[0]->action, ACTION_UPDATE);
		assert_string_equal(t->members[1]->id, "m1");
		assert_string_equal(t->members[1]->clients,
				    "http://10.0.0.1:2379");
		assert_string_equal(t->members[2]->id, "m4");
		assert_null(registry_find_token(&again.reg, "u"));
		assert_null(registry_find_alias(&again.reg, "y"));
		assert_string_equal(registry_find_alias(&again.reg, "z")->token,
				    "v");
	}
	/* And goes on from the stored index. */
	p = proposal_new();
	add_member(p, "v", "a", "a=http://10.0.0.9:2380", NULL, 0,
		   ACTION_CREATE);
	store_submit(f->st, p);
	run_until(f, &again.settled, 1);
	assert_int_equal(again.last_status, STORE_OK);
	assert_int_equal(again.last_applied, index + 1);
	store_close(f->st);
	f->st = NULL;
	registry_free(&again.reg);
}

/* Member records load without jansson when they are plain (parse_flat in
 * lmdb_load.c); values that jansson escapes or that are not ASCII, and a
 * long one, go through jansson and must come back the same. */
static void
test_member_values_reload(void **state)
{
	static const char *values[] = {
		"p=http://10.0.0.1:2380",
		"q=\"quoted\"\\back,slash:{}",
		"r=http://caf\xc3\xa9.example:2380",
		"s=tab\there",
		"",
	};
	struct fixture *f = *state;
	struct sink_log again;
	struct proposal *p;
	char id[16], big[3000];
	errbuf_t err;
	const struct token *t;
	size_t i;

	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &f->log, err), 0);
	p = proposal_new();
	add_token(p, "t", 9, 1, 0);
	assert_int_equal(commit(f, p), STORE_OK);
	p = proposal_new();
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(id, sizeof(id), "m%zu", i);
		add_member(p, "t", id, values[i], i == 1 ? "c=\"x\"" : NULL,
			   0, ACTION_CREATE);
	}
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	add_member(p, "t", "big", big, NULL, 0, ACTION_SET);
	assert_int_equal(commit(f, p), STORE_OK);
	store_close(f->st);
	f->st = NULL;

	log_init(&again);
	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &again, err), 0);
	assert_same_registry(&f->log.reg, &again.reg);
	assert_same_registry(&again.reg, &f->log.reg);
	t = registry_find_token(&again.reg, "t");
	assert_non_null(t);
	assert_int_equal(t->nmembers, 6);
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		assert_string_equal(t->members[i]->value, values[i]);
	assert_string_equal(t->members[1]->clients, "c=\"x\"");
	assert_string_equal(t->members[5]->value, big);
	assert_int_equal(t->members[5]->action, ACTION_SET);
	store_close(f->st);
	f->st = NULL;
	registry_free(&again.reg);
}

/* ---- group commit ---- */

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct store_stats before, after;
	struct proposal *p;
	errbuf_t err;
	char id[16];
	int i;

	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &f->log, err), 0);
	p = proposal_new();
	add_token(p, "t", 3, 0, 0);
	assert_int_equal(commit(f, p), STORE_OK);
	store_stats(f->st, &before);
	for (i = 0; i < 100; i++) {
		p = proposal_new();
		snprintf(id, sizeof(id), "m%d", i);
		add_member(p, "t", id, "m=http://10.0.0.1:2380", NULL, 0,
			   ACTION_CREATE);
		store_submit(f->st, p);
	}
	assert_true(store_busy(f->st));
	run_until(f, &f->log.settled, 101);
	store_stats(f->st, &after);
	assert_int_equal(f->log.ok, 101);
	assert_int_equal(after.changes - before.changes, 100);
	/* Submitted before the loop ran: they share one commit. */
	assert_int_equal(after.commits - before.commits, 1);
	assert_false(f->log.out_of_order);
	assert_int_equal(f->log.last_applied, 101);
	/* In the order submitted. */
	for (i = 0; i < 100; i++) {
		const struct token *t = registry_find_token(&f->log.reg, "t");

		snprintf(id, sizeof(id), "m%d", i);
		assert_string_equal(t->members[i]->id, id);
		assert_int_equal(t->members[i]->created_index, 2 + i);
	}
}

/* ---- a full map ---- */

struct health {
	size_t calls, ok;
	char why[ERRBUF_SIZE];
};

static void
health_cb(void *arg, int ok, const char *why)
{
	struct health *h = arg;

	h->calls++;
	h->ok += ok != 0;
	snprintf(h->why, sizeof(h->why), "%s", why ? why : "");
}

static struct proposal *
big_member(int i)
{
	static char value[1025];
	struct proposal *p = proposal_new();
	char id[16];

	memset(value, 'v', sizeof(value) - 1);
	memcpy(value, "m=http://10.0.0.1:2380?", 23);
	snprintf(id, sizeof(id), "m%d", i);
	add_member(p, "big", id, value, NULL, 0, ACTION_CREATE);
	return p;
}

/* The map starts small and doubles as data comes, up to the limit. */
static void
test_map_grows(void **state)
{
	struct fixture *f = *state;
	struct store_stats ss;
	struct proposal *p;
	errbuf_t err;
	int i;

	if (open_and_load(f, f->dir, 16u << 20, &f->log, err) != 0)
		fail_msg("open: %s", err);
	store_stats(f->st, &ss);
	assert_int_equal(ss.map_bytes, 1u << 20);
	p = proposal_new();
	add_token(p, "big", 5000, 0, 0);
	assert_int_equal(commit(f, p), STORE_OK);
	for (i = 0; i < 3000; i++)
		if (commit(f, big_member(i)) != STORE_OK)
			fail_msg("member %d refused below the limit", i);
	store_stats(f->st, &ss);
	assert_true(ss.map_bytes >= (4u << 20));
	assert_true(ss.map_bytes <= (16u << 20));
	assert_true(ss.used_bytes > (3u << 20));
	assert_false(ss.full);
}

/* Adds 1 KiB members to a new token "big" until the 1 MiB map is full;
 * returns how many fit. */
static int
fill_to_full(struct fixture *f)
{
	struct store_stats ss;
	struct proposal *p;
	errbuf_t err;
	int i;

	assert_int_equal(open_and_load(f, f->dir, MiB, &f->log, err), 0);
	p = proposal_new();
	add_token(p, "big", 1000, 0, 0);
	assert_int_equal(commit(f, p), STORE_OK);
	for (i = 0; i < 5000; i++)
		if (commit(f, big_member(i)) != STORE_OK)
			break;
	if (i == 5000)
		fail_msg("5000 members of 1 KiB fit in a 1 MiB map");
	assert_true(i > 100);
	assert_int_equal(f->log.last_status, STORE_FULL);
	assert_non_null(strstr(f->log.last_error, "--max-db-size"));
	store_stats(f->st, &ss);
	assert_true(ss.full);
	assert_true(ss.failures >= 1);
	assert_true(ss.map_bytes <= MiB);
	assert_int_equal(ss.max_bytes, MiB);
	/* Nothing of the refused write reached the sink. */
	assert_int_equal(f->log.reg.nmembers, i);
	assert_int_equal(f->log.reg.index, 1 + i);
	return i;
}

static void
test_map_full(void **state)
{
	struct fixture *f = *state;
	struct health h = { 0, 0, "" };
	struct store_stats ss;
	struct proposal *p;
	size_t ok, full;
	int i, stored, tiny;
	char id[16];

	stored = fill_to_full(f);

	/* A retry is refused the same way. */
	assert_int_equal(commit(f, big_member(stored)), STORE_FULL);
	assert_int_equal(f->log.reg.nmembers, stored);
	assert_int_equal(f->log.reg.index, 1 + stored);

	/* Small writes fit a while longer, in the pages commits free; then
	 * the map is full for any write. */
	for (tiny = 0; tiny < 100000; tiny++) {
		p = proposal_new();
		snprintf(id, sizeof(id), "t%d", tiny);
		add_member(p, "big", id, "x", NULL, 0, ACTION_CREATE);
		if (commit(f, p) != STORE_OK)
			break;
	}
	assert_true(tiny < 100000);
	assert_int_equal(f->log.reg.nmembers, stored + tiny);

	/* A deletion in the same batch as a refused write still commits. */
	ok = f->log.ok;
	full = f->log.full;
	store_submit(f->st, big_member(stored));
	p = proposal_new();
	add_del(p, CHANGE_MEMBER_DEL, "big", "m0");
	assert_true(proposal_only_deletes(p));
	store_submit(f->st, p);
	run_until(f, &f->log.settled, f->log.settled + 2);
	assert_int_equal(f->log.full, full + 1);
	assert_int_equal(f->log.ok, ok + 1);
	assert_null(token_find_member(registry_find_token(&f->log.reg, "big"),
				      "m0"));
	snprintf(id, sizeof(id), "m%d", stored);
	assert_null(token_find_member(registry_find_token(&f->log.reg, "big"),
				      id));
	/* And deletions go on committing, one after another. */
	for (i = 1; i <= 3; i++) {
		p = proposal_new();
		snprintf(id, sizeof(id), "m%d", i);
		add_del(p, CHANGE_MEMBER_DEL, "big", id);
		if (commit(f, p) != STORE_OK)
			fail_msg("deleting %s at the ceiling: %s", id,
				 f->log.last_error);
	}
	assert_int_equal(f->log.reg.nmembers, stored + tiny - 4);
	assert_int_equal(f->log.reg.index, 1 + stored + tiny + 4);

	/* Deleting the whole token commits, and frees the space. */
	p = proposal_new();
	add_del(p, CHANGE_TOKEN_DEL, "big", NULL);
	assert_int_equal(commit(f, p), STORE_OK);
	assert_null(registry_find_token(&f->log.reg, "big"));
	assert_int_equal(f->log.reg.nmembers, 0);
	assert_int_equal(f->log.reg.index, 1 + stored + tiny + 5);

	/* Then a write succeeds again, and the store is no longer full. */
	p = proposal_new();
	add_token(p, "small", 3, 0, 0);
	add_member(p, "small", "a", "a=http://10.0.0.1:2380", NULL, 0,
		   ACTION_CREATE);
	assert_int_equal(commit(f, p), STORE_OK);
	assert_non_null(registry_find_token(&f->log.reg, "small"));
	store_stats(f->st, &ss);
	assert_false(ss.full);
	store_health(f->st, health_cb, &h);
	run_until(f, &h.calls, 1);
	assert_int_equal(h.ok, 1);
	assert_string_equal(h.why, "");
	/* The space is free again: the token and most of its members fit. */
	p = proposal_new();
	add_token(p, "big", 1000, 0, 0);
	assert_int_equal(commit(f, p), STORE_OK);
	for (i = 0; i < stored * 3 / 4; i++)
		if (commit(f, big_member(i)) != STORE_OK)
			fail_msg("member %d of %d refused after the deletion",
				 i, stored);
}

/* While writes are refused for want of space, /health says so, and why;
 * the stats keep saying full after the probe. (The probe's own write is
 * a few bytes, and fits in the pages the last commit freed where a 1 KiB
 * member does not: a probe that only writes would answer ok here.) */
static void
test_health_while_full(void **state)
{
	struct fixture *f = *state;
	struct health h = { 0, 0, "" };
	struct store_stats ss;

	fill_to_full(f);
	store_health(f->st, health_cb, &h);
	run_until(f, &h.calls, 1);
	if (h.ok != 0)
		fail_msg("/health ok right after a write got STORE_FULL");
	assert_non_null(strstr(h.why, "full"));
	store_stats(f->st, &ss);
	if (!ss.full)
		fail_msg("stats say not full after a probe-only commit");
}

/* ---- /health probes are shared ---- */

static void
test_health_shared(void **state)
{
	struct fixture *f = *state;
	struct health h = { 0, 0, "" };
	struct store_stats before, after;
	errbuf_t err;
	int i;

	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &f->log, err), 0);
	store_stats(f->st, &before);
	for (i = 0; i < 100; i++)
		store_health(f->st, health_cb, &h);
	run_until(f, &h.calls, 100);
	/* A second hundred within the second is answered at once. */
	for (i = 0; i < 100; i++)
		store_health(f->st, health_cb, &h);
	assert_int_equal(h.calls, 200);
	store_stats(f->st, &after);
	assert_int_equal(h.ok, 200);
	assert_int_equal(after.commits - before.commits, 1);
	assert_int_equal(after.changes, before.changes);
	/* The probe wrote no change the sink hears of. */
	assert_int_equal(f->log.applied, 0);
}

/* ---- damaged and foreign data dirs ---- */

/* 30 tokens of 10 members, in one commit: every page is in use. */
static void
build_data(struct fixture *f, const char *dir)
{
	struct sink_log l;
	struct proposal *p;
	errbuf_t err;
	char name[16], id[16];
	int t, m;

	log_init(&l);
	assert_int_equal(open_and_load(f, dir, 64 * MiB, &l, err), 0);
	for (t = 0; t < 30; t++) {
		p = proposal_new();
		snprintf(name, sizeof(name), "token%d", t);
		add_token(p, name, 3, 1000 + t, 0);
		for (m = 0; m < 10; m++) {
			snprintf(id, sizeof(id), "m%d", m);
			add_member(p, name, id, "m=http://10.0.0.1:2380", NULL,
				   0, ACTION_CREATE);
		}
		store_submit(f->st, p);
	}
	run_until(f, &l.settled, 30);
	assert_int_equal(l.ok, 30);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(l.reg.ntokens, 30);
	registry_free(&l.reg);
}

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void
write_at(const char *path, long off, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, n, off), (ssize_t)n);
	close(fd);
}

/* Opens and loads the damaged dir: it must refuse with one line that
 * names data.mdb and contains `says`, and leave the file as it was. */
static void
refuses(struct fixture *f, const char *says)
{
	char path[128];
	unsigned char *before, *after;
	size_t nbefore, nafter;
	struct sink_log l;
	errbuf_t err;

	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	before = read_file(path, &nbefore);
	log_init(&l);
	err[0] = '\0';
	if (open_and_load(f, f->dir, 64 * MiB, &l, err) == 0)
		fail_msg("a damaged data dir loaded: %zu tokens",
			 l.reg.ntokens);
	if (strstr(err, path) == NULL)
		fail_msg("the message does not name %s: %s", path, err);
	if (says != NULL && strstr(err, says) == NULL)
		fail_msg("the message does not say '%s': %s", says, err);
	assert_null(strchr(err, '\n'));
	after = read_file(path, &nafter);
	assert_int_equal(nafter, nbefore);
	if (memcmp(before, after, nbefore) != 0)
		fail_msg("a failed open changed %s", path);
	free(before);
	free(after);
	registry_free(&l.reg);
}

/* The undamaged file loads: the damage is what the tests find. */
static void
test_undamaged_loads(void **state)
{
	struct fixture *f = *state;
	errbuf_t err;

	build_data(f, f->dir);
	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &f->log, err), 0);
	assert_int_equal(f->log.reg.ntokens, 30);
	assert_int_equal(f->log.reg.nmembers, 300);
}

/* LMDB's meta pages (0 and 1): a 16-byte page header, then the meta:
 * magic, version, address, map size, the free DB, then the main DB,
 * whose root page number is its last field. */
#define META_MAGIC_OFF 16
#define META_MAIN_ROOT_OFF (16 + 4 + 4 + 8 + 8 + 48 + 40)

static void
test_damaged_root(void **state)
{
	struct fixture *f = *state;
	char path[128];
	unsigned char *data;
	uint32_t magic;
	uint64_t root, bad_root = 0x7fffffffull;
	size_t n;
	int meta, roots = 0;

	build_data(f, f->dir);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	data = read_file(path, &n);
	/* Check the layout before relying on it: the newer meta has the
	 * root, the older may have none yet (all ones). */
	for (meta = 0; meta < 2; meta++) {
		memcpy(&magic, data + meta * PAGE + META_MAGIC_OFF, 4);
		assert_int_equal(magic, 0xBEEFC0DE);
		memcpy(&root, data + meta * PAGE + META_MAIN_ROOT_OFF, 8);
		if (root >= 2 && root < n / PAGE)
			roots++;
		else
			assert_true(root == UINT64_MAX);
	}
	assert_true(roots >= 1);
	free(data);
	/* Both metas point the main DB at a page past the end. */
	write_at(path, META_MAIN_ROOT_OFF, &bad_root, 8);
	write_at(path, PAGE + META_MAIN_ROOT_OFF, &bad_root, 8);
	refuses(f, "MDB_PAGE_NOTFOUND");
}

static void
test_damaged_meta(void **state)
{
	struct fixture *f = *state;
	char path[128], junk[PAGE];

	build_data(f, f->dir);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	memset(junk, 0x5a, sizeof(junk));
	write_at(path, 0, junk, sizeof(junk));
	write_at(path, PAGE, junk, sizeof(junk));
	refuses(f, "cannot open");
}

static void
test_garbage_page(void **state)
{
	struct fixture *f = *state;
	char path[128], junk[64];
	unsigned char *data;
	uint16_t flags;
	size_t n;

	build_data(f, f->dir);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	data = read_file(path, &n);
	/* Page 2 holds records (a branch or leaf page of the tree). */
	memcpy(&flags, data + 2 * PAGE + 10, 2);
	assert_true(flags & 0x03);
	free(data);
	memset(junk, 0xff, sizeof(junk));
	write_at(path, 2 * PAGE, junk, sizeof(junk));
	refuses(f, NULL);
}

static void
test_truncated(void **state)
{
	struct fixture *f = *state;
	char path[128];
	struct stat sb;

	build_data(f, f->dir);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size >= 8 * PAGE);
	assert_int_equal(truncate(path, sb.st_size / 2), 0);
	refuses(f, "SIGBUS");
}

static void
write_raw(const char *dir, const char *key, const char *val)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)key }, v = { strlen(val),
						       (void *)val };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_foreign(void **state)
{
	struct fixture *f = *state;

	write_raw(f->dir, "hello", "world");
	refuses(f, "unknown key");
}

static void
test_bad_records(void **state)
{
	struct fixture *f = *state;

	/* A member whose token is not stored. */
	build_data(f, f->dir);
	write_raw(f->dir, "m/nope/m1",
		  "{\"value\":\"v\",\"created\":1,\"modified\":1,"
		  "\"action\":\"create\"}");
	refuses(f, "its token is missing");
	remove_tree(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	/* A token record that is not JSON. */
	build_data(f, f->dir);
	write_raw(f->dir, "t/token3", "{size:3");
	refuses(f, "not JSON");
	remove_tree(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	/* A format this build does not know. */
	build_data(f, f->dir);
	write_raw(f->dir, "v", "srvgate-lmdb-99");
	refuses(f, "another format");
}


/* The etcd cluster a token follows is stored with it; a data dir from
 * before sync recorded one (no "cluster") loads as "none yet". */
static void
test_cluster_id_record(void **state)
{
	struct fixture *f = *state;
	struct sink_log again;
	struct proposal *p;
	struct change c;
	errbuf_t err;

	write_raw(f->dir, "v", "srvgate-lmdb-1");
	write_raw(f->dir, "i", "1");
	write_raw(f->dir, "t/old", "{\"size\":3,\"created\":1,"
		  "\"modified\":1,\"at\":5}");
	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &f->log, err), 0);
	assert_string_equal(registry_find_token(&f->log.reg, "old")->cluster_id,
			    "");
	p = proposal_new();
	memset(&c, 0, sizeof(c));
	c.size = 2;
	c.created_at = 5;
	c.created_index = 1;
	strcpy(c.cluster_id, "cdf818194e3a8c32");
	proposal_add_change(p, CHANGE_TOKEN_PUT, "old", NULL, &c);
	/* A member sync wrote, one registered. */
	add_member(p, "old", "s1", "s=http://10.0.0.1:2380", NULL, 0,
		   ACTION_SET);
	p->changes[p->n - 1].synced = 1;
	add_member(p, "old", "r1", "r=http://10.0.0.2:2380", NULL, 0,
		   ACTION_CREATE);
	assert_int_equal(commit(f, p), STORE_OK);
	store_close(f->st);
	f->st = NULL;
	log_init(&again);
	assert_int_equal(open_and_load(f, f->dir, 64 * MiB, &again, err), 0);
	assert_string_equal(registry_find_token(&again.reg, "old")->cluster_id,
			    "cdf818194e3a8c32");
	assert_int_equal(registry_find_token(&again.reg, "old")->size, 2);
	assert_true(token_find_member(registry_find_token(&again.reg, "old"),
				      "s1")->synced);
	assert_false(token_find_member(registry_find_token(&again.reg, "old"),
				       "r1")->synced);
	assert_same_registry(&f->log.reg, &again.reg);
	store_close(f->st);
	f->st = NULL;
	registry_free(&again.reg);
	/* A cluster ID that is not hex is damage, not a token. */
	write_raw(f->dir, "t/bad", "{\"size\":3,\"created\":1,"
		  "\"modified\":1,\"at\":5,\"cluster\":\"XYZ\"}");
	refuses(f, "not a token");
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_commit_and_reload),
		T(test_member_values_reload),
		T(test_group_commit),
		T(test_map_grows),
		T(test_map_full),
		T(test_health_while_full),
		T(test_health_shared),
		T(test_undamaged_loads),
		T(test_damaged_root),
		T(test_damaged_meta),
		T(test_garbage_page),
		T(test_truncated),
		T(test_foreign),
		T(test_bad_records),
		T(test_cluster_id_record),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
