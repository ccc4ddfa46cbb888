/*
 * ledger.c — the delivered-keys ledger: rows appended to an SQLite file,
 * looked up in memory.
 *
 * The file is one table whose integer primary key `seq` orders rows by
 * insertion (and so, up to the clocks of the writers sharing a file, by
 * age). It has no index on the event id on purpose: event ids are random,
 * so a B-tree keyed by them dirties a page per row, and every row then
 * costs a 4 KB WAL write plus its share of a checkpoint — 10 to 30
 * microseconds, more than everything else a consumer does with an event.
 * Appends touch the last pages only (~2 microseconds a row in batches).
 *
 * Lookups go to an open-addressing table in memory of this target's rows:
 * a 64-bit fingerprint of the event id and the row's seq, 16 bytes a row.
 * A fingerprint match is confirmed against the row itself (one lookup by
 * seq), so a collision can never make an event look delivered; matches
 * only happen for real duplicates (replays), where the extra lookup is
 * cheap. The table is filled from the file at open, topped up with the
 * rows other connections appended (seq above the last one loaded) when
 * art_ledger_resync() asked for it, and trimmed when pruning removed rows.
 *
 * Schema version 1 (a UNIQUE (target, event_id) index and a time index)
 * is rebuilt into version 2 the first time a newer build opens the file.
 */
#include "ledger.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ART_LEDGER_SCHEMA_VERSION 2     /* PRAGMA user_version of a ledger file */
#define ART_LEDGER_BUSY_MS        5000  /* wait for another connection's lock */
#define ART_LEDGER_CACHE_KB       8192  /* SQLite page cache */
#define ART_LEDGER_CKPT_PAGES     10000 /* WAL pages between checkpoints (~40 MB): each
                                           checkpoint fsyncs, so not too often */
#define ART_LEDGER_MIN_SLOTS      1024  /* smallest in-memory table */
#define ART_LEDGER_ROWS_PER_INSERT 16   /* rows of one INSERT statement */

/* One row of this target in memory; fp 0 marks an empty slot. */
struct art_ledger_ent {
	uint64_t fp;  /* fingerprint of the event id (never 0) */
	int64_t seq;  /* its row */
};

struct art_ledger {
	sqlite3 *db;
	char *target;
	sqlite3_stmt *st_put;      /* INSERT a row */
	sqlite3_stmt *st_putn;     /* INSERT ART_LEDGER_ROWS_PER_INSERT rows */
	sqlite3_stmt *st_verify;   /* is row seq this target's event id? */
	sqlite3_stmt *st_load;     /* this target's rows above a seq */
	sqlite3_stmt *st_maxseq;   /* SELECT max(seq) */
	sqlite3_stmt *st_minseq;   /* SELECT min(seq) */
	sqlite3_stmt *st_at;       /* the first row at or above a seq, with its time */
	sqlite3_stmt *st_del;      /* DELETE rows below a seq */
	sqlite3_stmt *st_nth;      /* the seq of the n-th newest row */
	sqlite3_stmt *st_count;    /* SELECT count(*) */
	sqlite3_stmt *st_begin;    /* BEGIN IMMEDIATE */
	sqlite3_stmt *st_commit;
	sqlite3_stmt *st_rollback;

	struct art_ledger_ent *tab; /* the in-memory index */
	size_t cap;                 /* slots, a power of two */
	size_t cnt;                 /* rows in it */
	int64_t loaded_seq;         /* every row of the file up to this seq is in memory */
	int64_t trimmed_below;      /* rows below this seq were pruned from memory */
	int stale;                  /* load newer rows before the next check */

	/* scratch of art_ledger_put_batch() */
	size_t *sel;                /* indices of the rows to insert */
	uint64_t *fps;              /* their fingerprints */
	uint32_t *dup;              /* hash index of sel: position + 1, 0 empty */
	size_t scratch_cap;         /* rows sel and fps hold; dup has twice as many slots */
};

static const char art_ledger_schema[] =
    "CREATE TABLE IF NOT EXISTS delivered ("
    " seq INTEGER PRIMARY KEY," /* insertion order: oldest first */
    " target TEXT NOT NULL,"
    " event_id TEXT NOT NULL,"
    " idempotency_key TEXT,"
    " delivered_at INTEGER NOT NULL);"; /* epoch microseconds */

/* Version 1 had UNIQUE (target, event_id) and an index on delivered_at:
 * the same rows, copied in seq order into the version 2 table. */
static const char art_ledger_migrate_v1[] =
    "CREATE TABLE delivered_v2 ("
    " seq INTEGER PRIMARY KEY, target TEXT NOT NULL, event_id TEXT NOT NULL,"
    " idempotency_key TEXT, delivered_at INTEGER NOT NULL);"
    "INSERT INTO delivered_v2 SELECT seq, target, event_id, idempotency_key, delivered_at"
    " FROM delivered ORDER BY seq;"
    "DROP TABLE delivered;"
    "ALTER TABLE delivered_v2 RENAME TO delivered;";

/* Creates the parent directories of path (like mkdir -p of its dirname). */
static int art_ledger_mkdirs(const char *path, char *errstr, size_t errstr_size)
{
	char dir[4096];
	size_t n = strlen(path);

	if (n >= sizeof(dir)) {
		snprintf(errstr, errstr_size, "%s: path too long", path);
		return -1;
	}
	memcpy(dir, path, n + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
			snprintf(errstr, errstr_size, "%s: mkdir %s: %s", path, dir,
			         strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

static int art_ledger_dberr(struct art_ledger *l, const char *what, char *errstr,
                            size_t errstr_size)
{
	snprintf(errstr, errstr_size, "ledger %s: %s", what, sqlite3_errmsg(l->db));
	return -1;
}

static int art_ledger_prepare(struct art_ledger *l, const char *sql, sqlite3_stmt **st,
                              char *errstr, size_t errstr_size)
{
	if (sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return art_ledger_dberr(l, "prepare", errstr, errstr_size);
	return 0;
}

/* Runs a prepared statement without results. Returns its sqlite code. */
static int art_ledger_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc;
}

/* Runs a prepared statement that yields one integer (NULL: def) into
 * *out. Returns 0, or -1 on a database error. */
static int art_ledger_int(sqlite3_stmt *st, long long def, long long *out)
{
	int rc = sqlite3_step(st);

	*out = def;
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Runs sql that returns one integer row; stores it in *out. */
static int art_ledger_int_query(struct art_ledger *l, const char *sql, long long *out)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- the in-memory index ---------------------------------------------------- */

/* A 64-bit fingerprint of s (never 0): 8 bytes at a time, multiply-mixed,
 * then a final avalanche. Not cryptographic: a match is confirmed. */
static uint64_t art_ledger_fp(const char *s)
{
	size_t n = strlen(s);
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);

	while (n >= 8) {
		uint64_t k;

		memcpy(&k, s, 8);
		k *= 0x87c37b91114253d5ULL;
		k ^= k >> 31;
		h = (h ^ k) * 0x4cf5ad432745937fULL;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	if (n) {
		uint64_t k = 0;

		memcpy(&k, s, n);
		k *= 0x87c37b91114253d5ULL;
		k ^= k >> 31;
		h = (h ^ k) * 0x4cf5ad432745937fULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h ? h : 1;
}

/* Adds (fp, seq) to the table (which has room). */
static void art_ledger_tab_put(struct art_ledger_ent *tab, size_t cap, uint64_t fp, int64_t seq)
{
	size_t i = (size_t)fp & (cap - 1);

	while (tab[i].fp)
		i = (i + 1) & (cap - 1);
	tab[i].fp = fp;
	tab[i].seq = seq;
}

/* Rebuilds the table with room for `want` rows, keeping the rows whose seq
 * is in [min_seq, max_seq]. Returns 0, or -1 when out of memory (the
 * table is then unchanged). */
static int art_ledger_tab_rebuild(struct art_ledger *l, size_t want, int64_t min_seq,
                                  int64_t max_seq)
{
	size_t cap = ART_LEDGER_MIN_SLOTS, cnt = 0;
	struct art_ledger_ent *tab;

	while (cap / 10 * 7 < want) /* load at most 0.7 */
		cap *= 2;
	tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -1;
	for (size_t i = 0; i < l->cap; i++)
		if (l->tab[i].fp && l->tab[i].seq >= min_seq && l->tab[i].seq <= max_seq) {
			art_ledger_tab_put(tab, cap, l->tab[i].fp, l->tab[i].seq);
			cnt++;
		}
	free(l->tab);
	l->tab = tab;
	l->cap = cap;
	l->cnt = cnt;
	return 0;
}

/* Adds a row of this target. Returns 0, or -1 when out of memory. */
static int art_ledger_tab_add(struct art_ledger *l, uint64_t fp, int64_t seq)
{
	if (l->cnt + 1 > l->cap / 10 * 7 &&
	    art_ledger_tab_rebuild(l, (l->cnt + 1) * 2, INT64_MIN, INT64_MAX) == -1)
		return -1;
	art_ledger_tab_put(l->tab, l->cap, fp, seq);
	l->cnt++;
	return 0;
}

/* Loads this target's rows above l->loaded_seq (all of them at open, the
 * ones other connections appended later). Returns 0, or -1 with errstr. */
static int art_ledger_load(struct art_ledger *l, char *errstr, size_t errstr_size)
{
	long long max = 0;
	int rc;

	if (art_ledger_int(l->st_maxseq, 0, &max) == -1)
		return art_ledger_dberr(l, "load", errstr, errstr_size);
	if (max <= l->loaded_seq)
		return 0;
	sqlite3_bind_int64(l->st_load, 1, l->loaded_seq);
	sqlite3_bind_text(l->st_load, 2, l->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(l->st_load, 3, max);
	for (rc = sqlite3_step(l->st_load); rc == SQLITE_ROW; rc = sqlite3_step(l->st_load)) {
		const char *id = (const char *)sqlite3_column_text(l->st_load, 1);

		if (id && art_ledger_tab_add(l, art_ledger_fp(id),
		                             sqlite3_column_int64(l->st_load, 0)) == -1) {
			sqlite3_reset(l->st_load);
			snprintf(errstr, errstr_size, "ledger load: out of memory (%zu rows)", l->cnt);
			return -1;
		}
	}
	sqlite3_reset(l->st_load);
	if (rc != SQLITE_DONE)
		return art_ledger_dberr(l, "load", errstr, errstr_size);
	l->loaded_seq = max;
	return 0;
}

/* 1 when event_id (fingerprint fp) has a row of this target, 0 when not,
 * -1 on a database error. */
static int art_ledger_find(struct art_ledger *l, const char *event_id, uint64_t fp, char *errstr,
                           size_t errstr_size)
{
	size_t i = (size_t)fp & (l->cap - 1);

	if (!l->cap)
		return 0;
	for (; l->tab[i].fp; i = (i + 1) & (l->cap - 1)) {
		int rc;

		if (l->tab[i].fp != fp)
			continue;
		/* confirm: a fingerprint is not an id */
		sqlite3_bind_int64(l->st_verify, 1, l->tab[i].seq);
		sqlite3_bind_text(l->st_verify, 2, l->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(l->st_verify, 3, event_id, -1, SQLITE_STATIC);
		rc = art_ledger_step(l->st_verify);
		if (rc == SQLITE_ROW)
			return 1;
		if (rc != SQLITE_DONE)
			return art_ledger_dberr(l, "lookup", errstr, errstr_size);
	}
	return 0;
}

/* ---- opening ---------------------------------------------------------------- */

/* Creates the schema, or brings a version 1 file to version 2. */
static int art_ledger_schema_up(struct art_ledger *l, const char *path, char *errstr,
                                size_t errstr_size)
{
	long long version = 0;
	char *msg = NULL;
	char sql[64];

	if (art_ledger_int_query(l, "PRAGMA user_version", &version) == -1) {
		snprintf(errstr, errstr_size, "%s: %s", path, sqlite3_errmsg(l->db));
		return -1;
	}
	if (version == ART_LEDGER_SCHEMA_VERSION)
		return 0;
	if (version > ART_LEDGER_SCHEMA_VERSION) {
		snprintf(errstr, errstr_size,
		         "%s: ledger format %lld is newer than this build understands (%d)", path,
		         version, ART_LEDGER_SCHEMA_VERSION);
		return -1;
	}
	if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	/* another process may have done it meanwhile */
	if (art_ledger_int_query(l, "PRAGMA user_version", &version) == -1)
		goto fail;
	if (version == 1 && sqlite3_exec(l->db, art_ledger_migrate_v1, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", ART_LEDGER_SCHEMA_VERSION);
	if (sqlite3_exec(l->db, art_ledger_schema, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(l->db, sql, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(l->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	snprintf(errstr, errstr_size, "%s: %s", path, msg ? msg : sqlite3_errmsg(l->db));
	sqlite3_free(msg);
	if (!sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

struct art_ledger *art_ledger_open(const char *path, const char *target, int synchronous_full,
                                   char *errstr, size_t errstr_size)
{
	struct art_ledger *l;
	char *msg = NULL;
	char pragmas[256];

	if (art_ledger_mkdirs(path, errstr, errstr_size) == -1)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (l)
		l->target = strdup(target);
	if (!l || !l->target) {
		snprintf(errstr, errstr_size, "%s: out of memory", path);
		free(l);
		return NULL;
	}
	if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(errstr, errstr_size, "%s: %s", path,
		         l->db ? sqlite3_errmsg(l->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(l->db, ART_LEDGER_BUSY_MS);
	snprintf(pragmas, sizeof(pragmas),
	         "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA cache_size=-%d; "
	         "PRAGMA wal_autocheckpoint=%d;",
	         synchronous_full ? "FULL" : "NORMAL", ART_LEDGER_CACHE_KB, ART_LEDGER_CKPT_PAGES);
	if (sqlite3_exec(l->db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(errstr, errstr_size, "%s: %s", path, msg ? msg : sqlite3_errmsg(l->db));
		goto fail;
	}
	if (art_ledger_schema_up(l, path, errstr, errstr_size) == -1)
		goto fail;
	{
		char sql[128 + ART_LEDGER_ROWS_PER_INSERT * 12];
		size_t n = (size_t)snprintf(sql, sizeof(sql),
		                            "INSERT INTO delivered (target, event_id, "
		                            "idempotency_key, delivered_at) VALUES (?,?,?,?)");

		for (int i = 1; i < ART_LEDGER_ROWS_PER_INSERT && n < sizeof(sql); i++)
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, ",(?,?,?,?)");
		if (art_ledger_prepare(l, sql, &l->st_putn, errstr, errstr_size) == -1)
			goto fail;
	}
	if (art_ledger_prepare(l,
	                       "INSERT INTO delivered (target, event_id, idempotency_key, "
	                       "delivered_at) VALUES (?1, ?2, ?3, ?4)",
	                       &l->st_put, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l,
	                       "SELECT 1 FROM delivered WHERE seq = ?1 AND target = ?2 AND "
	                       "event_id = ?3",
	                       &l->st_verify, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l,
	                       "SELECT seq, event_id FROM delivered WHERE seq > ?1 AND seq <= ?3 "
	                       "AND target = ?2",
	                       &l->st_load, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l, "SELECT max(seq) FROM delivered", &l->st_maxseq, errstr,
	                       errstr_size) == -1 ||
	    art_ledger_prepare(l, "SELECT min(seq) FROM delivered", &l->st_minseq, errstr,
	                       errstr_size) == -1 ||
	    art_ledger_prepare(l,
	                       "SELECT seq, delivered_at FROM delivered WHERE seq >= ?1 ORDER BY "
	                       "seq LIMIT 1",
	                       &l->st_at, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l, "DELETE FROM delivered WHERE seq < ?1", &l->st_del, errstr,
	                       errstr_size) == -1 ||
	    art_ledger_prepare(l, "SELECT seq FROM delivered ORDER BY seq DESC LIMIT 1 OFFSET ?1",
	                       &l->st_nth, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l, "SELECT count(*) FROM delivered", &l->st_count, errstr,
	                       errstr_size) == -1 ||
	    art_ledger_prepare(l, "BEGIN IMMEDIATE", &l->st_begin, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l, "COMMIT", &l->st_commit, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l, "ROLLBACK", &l->st_rollback, errstr, errstr_size) == -1)
		goto fail;
	if (art_ledger_tab_rebuild(l, 0, INT64_MIN, INT64_MAX) == -1) {
		snprintf(errstr, errstr_size, "%s: out of memory", path);
		goto fail;
	}
	l->loaded_seq = 0;
	if (art_ledger_load(l, errstr, errstr_size) == -1)
		goto fail;
	return l;
fail:
	sqlite3_free(msg);
	art_ledger_close(l);
	return NULL;
}

void art_ledger_close(struct art_ledger *l)
{
	if (!l)
		return;
	sqlite3_finalize(l->st_put);
	sqlite3_finalize(l->st_putn);
	sqlite3_finalize(l->st_verify);
	sqlite3_finalize(l->st_load);
	sqlite3_finalize(l->st_maxseq);
	sqlite3_finalize(l->st_minseq);
	sqlite3_finalize(l->st_at);
	sqlite3_finalize(l->st_del);
	sqlite3_finalize(l->st_nth);
	sqlite3_finalize(l->st_count);
	sqlite3_finalize(l->st_begin);
	sqlite3_finalize(l->st_commit);
	sqlite3_finalize(l->st_rollback);
	sqlite3_close(l->db);
	free(l->tab);
	free(l->sel);
	free(l->fps);
	free(l->dup);
	free(l->target);
	free(l);
}

/* ---- checks and records ------------------------------------------------------- */

void art_ledger_resync(struct art_ledger *l)
{
	if (l)
		l->stale = 1;
}

int art_ledger_seen(struct art_ledger *l, const char *event_id, char *errstr, size_t errstr_size)
{
	if (l->stale) {
		if (art_ledger_load(l, errstr, errstr_size) == -1)
			return -1;
		l->stale = 0;
	}
	return art_ledger_find(l, event_id, art_ledger_fp(event_id), errstr, errstr_size);
}

/* Makes the put scratch hold cnt rows. Returns 0 or -1. */
static int art_ledger_scratch(struct art_ledger *l, size_t cnt)
{
	size_t cap = l->scratch_cap ? l->scratch_cap : 64;
	size_t *sel;
	uint64_t *fps;
	uint32_t *dup;

	if (cnt <= l->scratch_cap)
		return 0;
	while (cap < cnt)
		cap *= 2;
	sel = malloc(cap * sizeof(*sel));
	fps = malloc(cap * sizeof(*fps));
	dup = malloc(2 * cap * sizeof(*dup));
	if (!sel || !fps || !dup || cap > UINT32_MAX / 2) {
		free(sel);
		free(fps);
		free(dup);
		return -1;
	}
	free(l->sel);
	free(l->fps);
	free(l->dup);
	l->sel = sel;
	l->fps = fps;
	l->dup = dup;
	l->scratch_cap = cap;
	return 0;
}

/* 1 when rows[i]'s event id is among the rows selected so far (k of
 * them); else adds it as the k-th. */
static int art_ledger_batch_dup(struct art_ledger *l, const struct art_ledger_row *rows, size_t i,
                                uint64_t fp, size_t k)
{
	size_t mask = 2 * l->scratch_cap - 1, h = (size_t)fp & mask;

	for (; l->dup[h]; h = (h + 1) & mask) {
		size_t j = l->dup[h] - 1;

		if (l->fps[j] == fp && !strcmp(rows[l->sel[j]].event_id, rows[i].event_id))
			return 1;
	}
	l->dup[h] = (uint32_t)(k + 1);
	l->sel[k] = i;
	l->fps[k] = fp;
	return 0;
}

/* Binds row r as the row'th of an INSERT statement. */
static void art_ledger_bind_row(struct art_ledger *l, sqlite3_stmt *st, int row,
                                const struct art_ledger_row *r)
{
	int b = row * 4;

	sqlite3_bind_text(st, b + 1, l->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, b + 2, r->event_id, -1, SQLITE_STATIC);
	if (r->idempotency_key)
		sqlite3_bind_text(st, b + 3, r->idempotency_key, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, b + 3);
	sqlite3_bind_int64(st, b + 4, r->delivered_at_us);
}

int art_ledger_put_batch(struct art_ledger *l, const struct art_ledger_row *rows, size_t cnt,
                         char *errstr, size_t errstr_size)
{
	int64_t before;
	size_t k = 0, i;

	if (cnt == 0)
		return 0;
	if (art_ledger_scratch(l, cnt) == -1) {
		snprintf(errstr, errstr_size, "ledger insert: out of memory");
		return -1;
	}
	if (art_ledger_step(l->st_begin) != SQLITE_DONE)
		return art_ledger_dberr(l, "begin", errstr, errstr_size);
	/* under the write lock: every committed row is visible, and ours will
	 * follow them, numbered before + 1, before + 2... */
	if (art_ledger_load(l, errstr, errstr_size) == -1)
		goto rollback;
	before = l->loaded_seq;
	memset(l->dup, 0, 2 * l->scratch_cap * sizeof(*l->dup));
	for (i = 0; i < cnt; i++) {
		uint64_t fp = art_ledger_fp(rows[i].event_id);
		int seen = art_ledger_find(l, rows[i].event_id, fp, errstr, errstr_size);

		if (seen == -1)
			goto rollback;
		if (!seen && !art_ledger_batch_dup(l, rows, i, fp, k))
			k++; /* recorded already, in the file or earlier in the batch: the first stays */
	}
	for (i = 0; i < k;) {
		int many = k - i >= ART_LEDGER_ROWS_PER_INSERT;
		sqlite3_stmt *st = many ? l->st_putn : l->st_put;
		int n = many ? ART_LEDGER_ROWS_PER_INSERT : 1, rc;

		for (int j = 0; j < n; j++)
			art_ledger_bind_row(l, st, j, &rows[l->sel[i + (size_t)j]]);
		rc = art_ledger_step(st);
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_DONE) {
			art_ledger_dberr(l, "insert", errstr, errstr_size);
			goto rollback;
		}
		i += (size_t)n;
	}
	if (art_ledger_step(l->st_commit) != SQLITE_DONE) {
		art_ledger_dberr(l, "commit", errstr, errstr_size);
		goto rollback;
	}
	if (k && sqlite3_last_insert_rowid(l->db) != before + (int64_t)k) {
		/* not numbered as expected (cannot happen with the write lock
		 * held; a file edited by hand?): read this target's rows again */
		art_ledger_tab_rebuild(l, 0, INT64_MAX, INT64_MAX);
		l->loaded_seq = 0;
		l->stale = 1;
		return 0;
	}
	for (i = 0; i < k; i++)
		if (art_ledger_tab_add(l, l->fps[i], before + 1 + (int64_t)i) == -1) {
			l->loaded_seq = 0; /* reload them all at the next check */
			l->stale = 1;
			art_ledger_tab_rebuild(l, 0, INT64_MAX, INT64_MAX);
			return 0;
		}
	l->loaded_seq = before + (int64_t)k;
	return 0;
rollback:
	if (!sqlite3_get_autocommit(l->db))
		art_ledger_step(l->st_rollback);
	return -1;
}

int art_ledger_put(struct art_ledger *l, const char *event_id, const char *idempotency_key,
                   int64_t delivered_at_us, char *errstr, size_t errstr_size)
{
	struct art_ledger_row row = {event_id, idempotency_key, delivered_at_us};

	return art_ledger_put_batch(l, &row, 1, errstr, errstr_size);
}

/* ---- retention ---------------------------------------------------------------- */

/* The first seq whose row was delivered at or after cutoff_us, found by
 * bisection over seq (rows are appended in delivery order), in *out;
 * max + 1 when every row is older. Returns 0 or -1. */
static int art_ledger_first_after(struct art_ledger *l, int64_t cutoff_us, long long lo,
                                  long long hi, long long *out)
{
	/* invariant: rows below lo are older than the cutoff, rows at or
	 * above hi are not */
	while (lo < hi) {
		long long mid = lo + (hi - lo) / 2, seq;
		int rc;

		sqlite3_bind_int64(l->st_at, 1, mid);
		rc = sqlite3_step(l->st_at);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(l->st_at);
			if (rc != SQLITE_DONE)
				return -1;
			hi = mid; /* nothing at or above mid */
			continue;
		}
		seq = sqlite3_column_int64(l->st_at, 0);
		if (sqlite3_column_int64(l->st_at, 1) < cutoff_us)
			lo = seq + 1;
		else
			hi = mid;
		sqlite3_reset(l->st_at);
	}
	*out = lo;
	return 0;
}

/* Forgets in memory the rows below the file's lowest seq (pruned by this
 * connection or another one). Returns 0 or -1 (errstr set). */
static int art_ledger_trim(struct art_ledger *l, char *errstr, size_t errstr_size)
{
	long long min = 0;

	if (art_ledger_int(l->st_minseq, LLONG_MAX, &min) == -1)
		return art_ledger_dberr(l, "prune", errstr, errstr_size);
	if (min == LLONG_MAX) /* empty: every row is gone */
		min = l->loaded_seq + 1;
	if (min <= l->trimmed_below)
		return 0;
	if (art_ledger_tab_rebuild(l, l->cnt, min, INT64_MAX) == -1) {
		snprintf(errstr, errstr_size, "ledger prune: out of memory");
		return -1;
	}
	l->trimmed_below = min;
	return 0;
}

long long art_ledger_prune(struct art_ledger *l, int64_t now_us, int max_age_days,
                           long long max_rows, char *errstr, size_t errstr_size)
{
	long long min = 0, max = 0, keep_from = LLONG_MIN, cut = 0, removed = 0;

	if (max_age_days <= 0 && max_rows <= 0)
		return 0;
	if (art_ledger_int(l->st_minseq, 0, &min) == -1 ||
	    art_ledger_int(l->st_maxseq, 0, &max) == -1)
		return art_ledger_dberr(l, "prune", errstr, errstr_size);
	if (max > 0 && max_age_days > 0) {
		if (art_ledger_first_after(l, now_us - (int64_t)max_age_days * 86400000000LL, min,
		                           max + 1, &cut) == -1)
			return art_ledger_dberr(l, "prune", errstr, errstr_size);
		keep_from = cut;
	}
	/* seqs are dense unless rows were deleted by hand: max - min + 1 rows
	 * at most, so only a file over the bound needs counting */
	if (max > 0 && max_rows > 0 && max - min + 1 > max_rows) {
		sqlite3_bind_int64(l->st_nth, 1, max_rows - 1);
		if (art_ledger_int(l->st_nth, LLONG_MIN, &cut) == -1)
			return art_ledger_dberr(l, "prune", errstr, errstr_size);
		if (cut > keep_from)
			keep_from = cut;
	}
	if (max > 0 && keep_from > min) {
		sqlite3_bind_int64(l->st_del, 1, keep_from);
		if (art_ledger_step(l->st_del) != SQLITE_DONE)
			return art_ledger_dberr(l, "prune", errstr, errstr_size);
		removed = sqlite3_changes(l->db);
	}
	/* rows another connection pruned are gone too: keep what the file has */
	if (art_ledger_trim(l, errstr, errstr_size) == -1)
		return -1;
	return removed;
}

long long art_ledger_count(struct art_ledger *l)
{
	long long n = -1;

	if (art_ledger_int(l->st_count, -1, &n) == -1)
		return -1;
	return n;
}
