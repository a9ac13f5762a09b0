/* lmdb_wal.c -- the LMDB store's write-ahead log, <data-dir>/data.wal.
 *
 * Why: an LMDB commit rewrites scattered B-tree pages and syncs twice (the
 * pages, then the meta page); a registration spread over many tokens pays
 * that for every group commit, and far more when another process keeps
 * the disk busy. The log turns each group commit into one sequential
 * write and one fdatasync; LMDB takes the same changes into a transaction
 * kept open in memory and commits it (a normal, synced LMDB commit) at a
 * checkpoint, after which the log starts again from its beginning.
 *
 * A record: a header (magic, payload length, the index of its first
 * change, the number of changes, a CRC-32 of header and payload) and the
 * changes, indexes implied (first, first + 1, ...): every field of struct
 * change (a field added there must be added here). The file is written
 * ahead with zeros in chunks, so that an append overwrites blocks that
 * exist and fdatasync has no file size to commit. Reading takes records
 * while each continues the index exactly (the first must follow the index
 * stored in data.mdb) and its CRC holds: zeros, a torn last record or the
 * records of an earlier round (always lower indexes) end it. Host byte
 * order, like data.mdb itself.
 */
#include "lmdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "registry.h"

#define WAL_MAGIC 0x31574753u /* "SGW1" */
#define WAL_CHUNK (4u << 20)  /* zeros written ahead at a time */
#define WAL_RECORD_MAX (256u << 20)
#define NO_STRING UINT32_MAX

struct wal_header {
	uint32_t magic;
	uint32_t len; /* payload bytes */
	uint64_t first;
	uint32_t count;
	uint32_t crc; /* over the header (this field 0) and the payload */
};

/* ---- CRC-32 (IEEE) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		for (c = i, j = 0; j < 8; j++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t
crc32_of(uint32_t crc, const void *data, size_t n)
{
	const unsigned char *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
record_crc(struct wal_header h, const void *payload)
{
	h.crc = 0;
	return crc32_of(crc32_of(0, &h, sizeof(h)), payload, h.len);
}

/* ---- encoding ---- */

static void
buf_put(struct lmdb_wal *w, const void *data, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2;
		w->buf = xrealloc(w->buf, w->cap);
	}
	memcpy(w->buf + w->len, data, n);
	w->len += n;
}

static void
put_string(struct lmdb_wal *w, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : NO_STRING;

	buf_put(w, &n, sizeof(n));
	if (s)
		buf_put(w, s, n);
}

static void
encode_change(struct lmdb_wal *w, const struct change *c)
{
	uint8_t kind = (uint8_t)c->kind, action = (uint8_t)c->action;
	uint8_t flags = c->synced ? 1 : 0;
	uint32_t size = c->size;
	int64_t at = c->created_at;
	uint64_t created = c->created_index;

	buf_put(w, &kind, 1);
	buf_put(w, &action, 1);
	buf_put(w, &flags, 1);
	buf_put(w, &size, sizeof(size));
	buf_put(w, &at, sizeof(at));
	buf_put(w, &created, sizeof(created));
	put_string(w, c->token);
	put_string(w, c->name);
	put_string(w, c->cluster_id);
	put_string(w, c->value);
	put_string(w, c->clients);
}

/* ---- decoding ---- */

struct reader {
	const unsigned char *p, *end;
	int bad;
};

static void
take(struct reader *r, void *out, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
}

/* A string into out (max bytes with its NUL), or a copy when out is
 * NULL; NULL when it was absent. */
static char *
take_string(struct reader *r, char *out, size_t max)
{
	uint32_t n;
	char *s;

	take(r, &n, sizeof(n));
	if (r->bad || n == NO_STRING)
		return NULL;
	if ((size_t)(r->end - r->p) < n || (out != NULL && n >= max) ||
	    memchr(r->p, '\0', n) != NULL) {
		r->bad = 1;
		return NULL;
	}
	s = out ? out : xmalloc((size_t)n + 1);
	memcpy(s, r->p, n);
	s[n] = '\0';
	r->p += n;
	return s;
}

static int
change_valid(const struct change *c)
{
	if (c->kind > CHANGE_ALIAS_DEL || c->action > ACTION_DELETE ||
	    !registry_valid_name(c->token))
		return 0;
	if (c->cluster_id[0] != '\0' && !registry_valid_cluster_id(c->cluster_id))
		return 0;
	switch (c->kind) {
	case CHANGE_TOKEN_PUT:
		return c->size >= 1 && c->size <= 1000000;
	case CHANGE_TOKEN_DEL:
		return 1;
	default:
		return registry_valid_name(c->name);
	}
}

/* One change into c (its strings allocated); 0 when it decodes whole. */
static int
decode_change(struct reader *r, struct change *c)
{
	uint8_t kind, action, flags;

	memset(c, 0, sizeof(*c));
	take(r, &kind, 1);
	take(r, &action, 1);
	take(r, &flags, 1);
	c->synced = flags & 1;
	take(r, &c->size, sizeof(c->size));
	take(r, &c->created_at, sizeof(c->created_at));
	take(r, &c->created_index, sizeof(c->created_index));
	c->kind = (enum change_kind)kind;
	c->action = (enum member_action)action;
	if (take_string(r, c->token, sizeof(c->token)) == NULL)
		r->bad = 1;
	take_string(r, c->name, sizeof(c->name));
	take_string(r, c->cluster_id, sizeof(c->cluster_id));
	c->value = take_string(r, NULL, 0);
	c->clients = take_string(r, NULL, 0);
	return r->bad || !change_valid(c) ? -1 : 0;
}

/* ---- the file ---- */

int
lmdb_sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0 || fsync(fd) != 0)
		rc = errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

int
lmdb_wal_open(struct lmdb_wal *w, const char *dir, char *err)
{
	struct stat sb;
	int rc;

	memset(w, 0, sizeof(*w));
	snprintf(w->path, sizeof(w->path), "%s/%s", dir, LMDB_WAL_FILE);
	w->fd = open(w->path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (w->fd < 0 || fstat(w->fd, &sb) != 0) {
		fail(err, "cannot open %s: %s", w->path, strerror(errno));
		lmdb_wal_close(w);
		return -1;
	}
	w->zeroed = (uint64_t)sb.st_size;
	/* A log made just now must still be there after a power loss: its
	 * name is in the directory, which is synced too. */
	if ((rc = lmdb_sync_path(dir)) != 0) {
		fail(err, "cannot sync %s: %s", dir, strerror(rc));
		lmdb_wal_close(w);
		return -1;
	}
	return 0;
}

void
lmdb_wal_close(struct lmdb_wal *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->buf);
	w->buf = NULL;
	w->cap = w->len = 0;
}

static int
write_all(int fd, const void *data, size_t n, uint64_t off)
{
	const char *p = data;

	while (n > 0) {
		ssize_t r = pwrite(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? errno : EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Zeros from w->zeroed up to at least `upto`: a chunk ahead when it fits,
 * else just what the record needs. */
static int
zero_ahead(struct lmdb_wal *w, uint64_t upto)
{
	static const char zeros[65536];
	uint64_t want = (upto + WAL_CHUNK - 1) / WAL_CHUNK * WAL_CHUNK;
	struct statvfs vfs;
	int rc = 0;

	/* On a nearly full disk the log takes no more than it needs: the
	 * room is data.mdb's. */
	if (want > upto && (fstatvfs(w->fd, &vfs) != 0 ||
			    (uint64_t)vfs.f_bavail * vfs.f_frsize <
				    4ull * WAL_CHUNK))
		want = upto;

	while (w->zeroed < upto) {
		uint64_t n = want - w->zeroed;

		if (n > sizeof(zeros))
			n = sizeof(zeros);
		rc = write_all(w->fd, zeros, (size_t)n, w->zeroed);
		if (rc == ENOSPC && want > upto) {
			want = upto; /* no room for a chunk: no more than needed */
			continue;
		}
		if (rc != 0)
			return rc;
		w->zeroed += n;
	}
	while (rc == 0 && w->zeroed < want) {
		uint64_t n = want - w->zeroed;

		if (n > sizeof(zeros))
			n = sizeof(zeros);
		if (write_all(w->fd, zeros, (size_t)n, w->zeroed) != 0)
			break; /* ahead is optional */
		w->zeroed += n;
	}
	return 0;
}

int
lmdb_wal_append(struct lmdb_wal *w, const struct proposal *head,
		uint64_t first, uint64_t count)
{
	struct wal_header h = { WAL_MAGIC, 0, first, (uint32_t)count, 0 };
	const struct proposal *p;
	size_t i;
	int rc;

	w->len = 0;
	buf_put(w, &h, sizeof(h));
	for (p = head; p != NULL; p = p->next)
		for (i = 0; i < p->n; i++)
			encode_change(w, &p->changes[i]);
	if (w->len - sizeof(h) > WAL_RECORD_MAX)
		return EFBIG;
	h.len = (uint32_t)(w->len - sizeof(h));
	h.crc = record_crc(h, w->buf + sizeof(h));
	memcpy(w->buf, &h, sizeof(h));
	rc = zero_ahead(w, w->off + w->len);
	if (rc == 0)
		rc = write_all(w->fd, w->buf, w->len, w->off);
	/* The acknowledgement waits for this: the record is durable. */
	if (rc == 0 && fdatasync(w->fd) != 0)
		rc = errno;
	if (rc != 0) {
		/* Whatever reached the file must not read as a record. */
		uint32_t none = 0;

		write_all(w->fd, &none, sizeof(none), w->off);
		return rc;
	}
	w->off += w->len;
	return 0;
}

void
lmdb_wal_undo(struct lmdb_wal *w)
{
	uint32_t none = 0;

	w->off -= w->len;
	if (write_all(w->fd, &none, sizeof(none), w->off) != 0 ||
	    fdatasync(w->fd) != 0)
		log_error("storage: cannot unwrite a record of %s: %s",
			  w->path, strerror(errno));
}

void
lmdb_wal_rewind(struct lmdb_wal *w)
{
	w->off = 0;
}

int
lmdb_wal_clear(struct lmdb_wal *w)
{
	uint32_t none = 0;
	int rc = write_all(w->fd, &none, sizeof(none), 0);

	if (rc == 0 && fdatasync(w->fd) != 0)
		rc = errno;
	w->off = 0;
	return rc;
}

/* ---- reading ---- */

static int
read_exact(int fd, void *buf, size_t n, uint64_t off)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* The changes of one record, appended to out; -1 when one is damaged. */
static int
decode_record(const unsigned char *payload, const struct wal_header *h,
	      struct proposal *out)
{
	struct reader r = { payload, payload + h->len, 0 };
	struct change c;
	uint32_t i;

	for (i = 0; i < h->count; i++) {
		int rc = decode_change(&r, &c);

		c.index = h->first + i;
		if (rc == 0)
			proposal_add(out, &c);
		change_clear(&c);
		if (rc != 0)
			return -1;
	}
	return r.p == r.end ? 0 : -1;
}

int
lmdb_wal_read(const char *path, uint64_t after, struct proposal *out,
	      char *err)
{
	uint64_t off = 0, next = after + 1;
	unsigned char *payload = NULL;
	struct wal_header h;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 :
		       fail(err, "cannot open %s: %s", path, strerror(errno));
	while (read_exact(fd, &h, sizeof(h), off) == 0 &&
	       h.magic == WAL_MAGIC && h.first == next &&
	       h.len <= WAL_RECORD_MAX) {
		payload = xrealloc(payload, h.len ? h.len : 1);
		if (read_exact(fd, payload, h.len, off + sizeof(h)) != 0 ||
		    record_crc(h, payload) != h.crc)
			break; /* torn: the end of the log */
		if (decode_record(payload, &h, out) != 0) {
			rc = fail(err, "%s: the record at byte %llu has a "
				  "good checksum but does not decode (damaged "
				  "or foreign; restore a backup)", path,
				  (unsigned long long)off);
			break;
		}
		next += h.count;
		off += sizeof(h) + h.len;
	}
	free(payload);
	close(fd);
	return rc;
}

/* ---- into LMDB ---- */

int
lmdb_read_index(struct lmdb_env *db, MDB_txn *txn, uint64_t *index)
{
	MDB_val k = { 1, (void *)"i" }, v;
	char num[24];
	int rc = mdb_get(txn, db->dbi, &k, &v);

	*index = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.mv_size == 0 || v.mv_size >= sizeof(num))
		return MDB_CORRUPTED;
	memcpy(num, v.mv_data, v.mv_size);
	num[v.mv_size] = '\0';
	return parse_uint(num, 0, UINT64_MAX / 2, index) ? MDB_CORRUPTED : 0;
}

int
lmdb_stored_index(struct lmdb_env *db, uint64_t *index)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return rc;
	rc = lmdb_read_index(db, txn, index);
	mdb_txn_abort(txn);
	return rc;
}

int
lmdb_apply_changes(struct lmdb_env *db, const struct proposal *p,
		   uint64_t *index)
{
	MDB_txn *txn = NULL;
	size_t i;
	int rc;

	rc = mdb_txn_begin(db->env, NULL, 0, &txn);
	for (i = 0; rc == 0 && i < p->n; i++)
		if (p->changes[i].index > *index)
			rc = lmdb_write_change(db, txn, &p->changes[i]);
	if (rc == 0 && p->n > 0 && p->changes[p->n - 1].index > *index)
		rc = lmdb_write_index(db, txn, p->changes[p->n - 1].index);
	if (rc == 0)
		rc = lmdb_commit(db, txn); /* synced */
	else if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc == 0 && p->n > 0 && p->changes[p->n - 1].index > *index)
		*index = p->changes[p->n - 1].index;
	return rc;
}
