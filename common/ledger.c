/*
 * ledger.c — the delivered-keys ledger on SQLite.
 *
 * One table; rows are appended in delivery order, so the integer primary
 * key `seq` orders them by age and the max_rows bound is a range delete on
 * it. Statements are prepared once at open. Every put is its own
 * transaction (autocommit): the row must be durable before the consumer
 * stores the offset of the event, and batching would widen the
 * delivered-but-not-recorded window (docs/ledger.md).
 */
#include "ledger.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ART_LEDGER_SCHEMA_VERSION 1    /* PRAGMA user_version of a ledger file */
#define ART_LEDGER_BUSY_MS        5000 /* wait for another connection's lock */

struct art_ledger {
	sqlite3 *db;
	char *target;
	sqlite3_stmt *st_seen;  /* SELECT 1 ... WHERE target = ? AND event_id = ? */
	sqlite3_stmt *st_put;   /* INSERT OR IGNORE ... */
	sqlite3_stmt *st_age;   /* DELETE ... WHERE delivered_at < ? */
	sqlite3_stmt *st_rows;  /* DELETE ... beyond the newest ? rows */
	sqlite3_stmt *st_count; /* SELECT count(*) */
};

static const char art_ledger_schema[] =
    "CREATE TABLE IF NOT EXISTS delivered ("
    " seq INTEGER PRIMARY KEY," /* insertion order: oldest first */
    " target TEXT NOT NULL,"
    " event_id TEXT NOT NULL,"
    " idempotency_key TEXT,"
    " delivered_at INTEGER NOT NULL," /* epoch microseconds */
    " UNIQUE (target, event_id));"
    "CREATE INDEX IF NOT EXISTS delivered_by_time ON delivered (delivered_at);";

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

struct art_ledger *art_ledger_open(const char *path, const char *target, int synchronous_full,
                                   char *errstr, size_t errstr_size)
{
	struct art_ledger *l;
	long long version = 0;
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
	         "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
	         synchronous_full ? "FULL" : "NORMAL");
	if (sqlite3_exec(l->db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
	    art_ledger_int_query(l, "PRAGMA user_version", &version) == -1) {
		snprintf(errstr, errstr_size, "%s: %s", path, msg ? msg : sqlite3_errmsg(l->db));
		goto fail;
	}
	if (version > ART_LEDGER_SCHEMA_VERSION) {
		snprintf(errstr, errstr_size,
		         "%s: ledger format %lld is newer than this build understands (%d)", path,
		         version, ART_LEDGER_SCHEMA_VERSION);
		goto fail;
	}
	if (sqlite3_exec(l->db, art_ledger_schema, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(l->db, "PRAGMA user_version=1", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(errstr, errstr_size, "%s: %s", path, msg ? msg : sqlite3_errmsg(l->db));
		goto fail;
	}
	if (art_ledger_prepare(l, "SELECT 1 FROM delivered WHERE target = ?1 AND event_id = ?2",
	                       &l->st_seen, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l,
	                       "INSERT OR IGNORE INTO delivered (target, event_id, "
	                       "idempotency_key, delivered_at) VALUES (?1, ?2, ?3, ?4)",
	                       &l->st_put, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l, "DELETE FROM delivered WHERE delivered_at < ?1", &l->st_age,
	                       errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l,
	                       "DELETE FROM delivered WHERE seq <= (SELECT seq FROM delivered "
	                       "ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
	                       &l->st_rows, errstr, errstr_size) == -1 ||
	    art_ledger_prepare(l, "SELECT count(*) FROM delivered", &l->st_count, errstr,
	                       errstr_size) == -1)
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
	sqlite3_finalize(l->st_seen);
	sqlite3_finalize(l->st_put);
	sqlite3_finalize(l->st_age);
	sqlite3_finalize(l->st_rows);
	sqlite3_finalize(l->st_count);
	sqlite3_close(l->db);
	free(l->target);
	free(l);
}

int art_ledger_seen(struct art_ledger *l, const char *event_id, char *errstr, size_t errstr_size)
{
	int rc;

	sqlite3_bind_text(l->st_seen, 1, l->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(l->st_seen, 2, event_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(l->st_seen);
	sqlite3_reset(l->st_seen);
	sqlite3_clear_bindings(l->st_seen);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return art_ledger_dberr(l, "lookup", errstr, errstr_size);
}

int art_ledger_put(struct art_ledger *l, const char *event_id, const char *idempotency_key,
                   int64_t delivered_at_us, char *errstr, size_t errstr_size)
{
	int rc;

	sqlite3_bind_text(l->st_put, 1, l->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(l->st_put, 2, event_id, -1, SQLITE_STATIC);
	if (idempotency_key)
		sqlite3_bind_text(l->st_put, 3, idempotency_key, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(l->st_put, 3);
	sqlite3_bind_int64(l->st_put, 4, delivered_at_us);
	rc = sqlite3_step(l->st_put);
	sqlite3_reset(l->st_put);
	sqlite3_clear_bindings(l->st_put);
	if (rc != SQLITE_DONE)
		return art_ledger_dberr(l, "insert", errstr, errstr_size);
	return 0;
}

long long art_ledger_prune(struct art_ledger *l, int64_t now_us, int max_age_days,
                           long long max_rows, char *errstr, size_t errstr_size)
{
	long long removed = 0;

	if (max_age_days > 0) {
		sqlite3_bind_int64(l->st_age, 1, now_us - (int64_t)max_age_days * 86400000000LL);
		if (sqlite3_step(l->st_age) != SQLITE_DONE) {
			sqlite3_reset(l->st_age);
			return art_ledger_dberr(l, "prune", errstr, errstr_size);
		}
		sqlite3_reset(l->st_age);
		removed += sqlite3_changes(l->db);
	}
	if (max_rows > 0) {
		sqlite3_bind_int64(l->st_rows, 1, max_rows);
		if (sqlite3_step(l->st_rows) != SQLITE_DONE) {
			sqlite3_reset(l->st_rows);
			return art_ledger_dberr(l, "prune", errstr, errstr_size);
		}
		sqlite3_reset(l->st_rows);
		removed += sqlite3_changes(l->db);
	}
	return removed;
}

long long art_ledger_count(struct art_ledger *l)
{
	long long n = -1;

	if (sqlite3_step(l->st_count) == SQLITE_ROW)
		n = sqlite3_column_int64(l->st_count, 0);
	sqlite3_reset(l->st_count);
	return n;
}
