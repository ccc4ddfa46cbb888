/*
 * test_ledger.c — the delivered-keys ledger on a real SQLite file: put and
 * seen, per-target separation, two events of one message (same
 * idempotency key, different event ids) both kept, persistence across
 * close/reopen, pruning by age and by row count, WAL mode on disk, a
 * missing parent directory created, a file that is not a database
 * refused; batches (duplicates kept once), two connections sharing a file
 * (each sees what the other recorded after a resync, and what it pruned),
 * and a file of the first format (version 1) brought to the current one
 * with its rows.
 */
#include "ledger.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/art-ledger-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

static void path_in(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

TestSuite(ledger, .init = setup, .fini = teardown);

Test(ledger, put_then_seen_per_target)
{
	char path[128], err[256] = "";
	struct art_ledger *a, *b;

	path_in(path, sizeof(path), "l.db");
	a = art_ledger_open(path, "ehr-out/fhir", 0, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	b = art_ledger_open(path, "ehr-out/mllp", 0, err, sizeof(err));
	cr_assert_not_null(b, "%s", err);
	cr_expect_eq(art_ledger_seen(a, "ev-1", err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_put(a, "ev-1", "idem-1", 1000, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(art_ledger_seen(a, "ev-1", err, sizeof(err)), 1);
	cr_expect_eq(art_ledger_seen(b, "ev-1", err, sizeof(err)), 0, "other target");
	/* putting again is harmless */
	cr_expect_eq(art_ledger_put(a, "ev-1", "idem-1", 2000, err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_count(a), 1);
	art_ledger_close(a);
	art_ledger_close(b);
	art_ledger_close(NULL);
}

Test(ledger, events_of_one_message_are_distinct)
{
	char path[128], err[256] = "";
	struct art_ledger *l;

	path_in(path, sizeof(path), "l.db");
	l = art_ledger_open(path, "t", 0, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	/* An A40 merge yields two events sharing the idempotency key. */
	cr_expect_eq(art_ledger_put(l, "ev-a40-0", "same-idem", 1, err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_seen(l, "ev-a40-1", err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_put(l, "ev-a40-1", "same-idem", 2, err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_seen(l, "ev-a40-1", err, sizeof(err)), 1);
	cr_expect_eq(art_ledger_count(l), 2);
	/* no idempotency key at all is fine too */
	cr_expect_eq(art_ledger_put(l, "ev-x", NULL, 3, err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_seen(l, "ev-x", err, sizeof(err)), 1);
	art_ledger_close(l);
}

Test(ledger, survives_restart_and_uses_wal)
{
	char path[128], err[256] = "";
	struct art_ledger *l;
	sqlite3 *db;
	sqlite3_stmt *st;

	path_in(path, sizeof(path), "sub/dir/l.db"); /* parents created */
	l = art_ledger_open(path, "t", 1, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	for (int i = 0; i < 100; i++) {
		char id[32];

		snprintf(id, sizeof(id), "ev-%d", i);
		cr_assert_eq(art_ledger_put(l, id, "k", i, err, sizeof(err)), 0, "%s", err);
	}
	art_ledger_close(l);

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM delivered WHERE target = 't'",
	                                -1, &st, NULL),
	             SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), 100);
	sqlite3_finalize(st);
	sqlite3_close(db);

	l = art_ledger_open(path, "t", 0, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	cr_expect_eq(art_ledger_seen(l, "ev-0", err, sizeof(err)), 1);
	cr_expect_eq(art_ledger_seen(l, "ev-99", err, sizeof(err)), 1);
	cr_expect_eq(art_ledger_seen(l, "ev-100", err, sizeof(err)), 0);
	art_ledger_close(l);
}

Test(ledger, prune_by_age_and_rows)
{
	char path[128], err[256] = "";
	const int64_t day = 86400000000LL;
	const int64_t now = 100 * day;
	struct art_ledger *l;

	path_in(path, sizeof(path), "l.db");
	l = art_ledger_open(path, "t", 0, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	/* 10 rows 40..31 days old, then 20 rows 1 day old */
	for (int i = 0; i < 30; i++) {
		char id[32];
		int64_t at = i < 10 ? now - (40 - i) * day : now - day;

		snprintf(id, sizeof(id), "ev-%02d", i);
		cr_assert_eq(art_ledger_put(l, id, NULL, at, err, sizeof(err)), 0);
	}
	cr_expect_eq(art_ledger_prune(l, now, 0, 0, err, sizeof(err)), 0, "no bounds: nothing");
	cr_expect_eq(art_ledger_prune(l, now, 30, 0, err, sizeof(err)), 10);
	cr_expect_eq(art_ledger_count(l), 20);
	cr_expect_eq(art_ledger_seen(l, "ev-09", err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_seen(l, "ev-10", err, sizeof(err)), 1);
	/* keep the newest 5 rows */
	cr_expect_eq(art_ledger_prune(l, now, 30, 5, err, sizeof(err)), 15);
	cr_expect_eq(art_ledger_count(l), 5);
	cr_expect_eq(art_ledger_seen(l, "ev-24", err, sizeof(err)), 0);
	for (int i = 25; i < 30; i++) {
		char id[32];

		snprintf(id, sizeof(id), "ev-%02d", i);
		cr_expect_eq(art_ledger_seen(l, id, err, sizeof(err)), 1, "%s", id);
	}
	cr_expect_eq(art_ledger_prune(l, now, 30, 5, err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_prune(l, now, 0, 100, err, sizeof(err)), 0, "under the bound");
	art_ledger_close(l);
}

Test(ledger, not_a_database_is_refused)
{
	char path[128], err[256] = "";
	FILE *fp;

	path_in(path, sizeof(path), "junk.db");
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs("this is not an SQLite database, it is a text file of some length\n", fp);
	fclose(fp);
	cr_expect_null(art_ledger_open(path, "t", 0, err, sizeof(err)));
	cr_expect(strstr(err, path) != NULL, "%s", err);
}

Test(ledger, a_batch_records_each_id_once)
{
	char path[128], err[256] = "";
	struct art_ledger *l;
	struct art_ledger_row rows[40];
	char ids[40][16];

	path_in(path, sizeof(path), "l.db");
	l = art_ledger_open(path, "t", 0, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	cr_assert_eq(art_ledger_put(l, "ev-3", "k", 1, err, sizeof(err)), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(ids[i], sizeof(ids[i]), "ev-%d", i % 30); /* 10 repeated within the batch */
		rows[i].event_id = ids[i];
		rows[i].idempotency_key = i % 2 ? "k" : NULL;
		rows[i].delivered_at_us = 100 + i;
	}
	cr_assert_eq(art_ledger_put_batch(l, rows, 40, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(art_ledger_count(l), 30, "ev-3 was there already, ev-0..9 came twice");
	for (int i = 0; i < 30; i++) {
		char id[16];

		snprintf(id, sizeof(id), "ev-%d", i);
		cr_expect_eq(art_ledger_seen(l, id, err, sizeof(err)), 1, "%s", id);
	}
	cr_expect_eq(art_ledger_seen(l, "ev-30", err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_put_batch(l, rows, 0, err, sizeof(err)), 0, "an empty batch");
	art_ledger_close(l);
	/* and after a restart, from the file */
	l = art_ledger_open(path, "t", 0, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	cr_expect_eq(art_ledger_seen(l, "ev-29", err, sizeof(err)), 1);
	cr_expect_eq(art_ledger_seen(l, "ev-30", err, sizeof(err)), 0);
	art_ledger_close(l);
}

Test(ledger, two_connections_share_a_file)
{
	char path[128], err[256] = "";
	struct art_ledger *a, *b;

	path_in(path, sizeof(path), "l.db");
	a = art_ledger_open(path, "ehr-out/mllp", 0, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
	b = art_ledger_open(path, "ehr-out/mllp", 0, err, sizeof(err));
	cr_assert_not_null(b, "%s", err);
	/* a records; b sees it once it resyncs (as the consumer does at every
	 * batch and rebalance), and at its own next write anyway */
	cr_assert_eq(art_ledger_put(a, "ev-a", NULL, 1, err, sizeof(err)), 0);
	art_ledger_resync(b);
	cr_expect_eq(art_ledger_seen(b, "ev-a", err, sizeof(err)), 1);
	cr_assert_eq(art_ledger_put(a, "ev-a2", NULL, 2, err, sizeof(err)), 0);
	cr_assert_eq(art_ledger_put(b, "ev-a2", NULL, 3, err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_count(a), 2, "b's copy of ev-a2 was not written");
	cr_assert_eq(art_ledger_put(b, "ev-b", NULL, 4, err, sizeof(err)), 0);
	art_ledger_resync(a);
	cr_expect_eq(art_ledger_seen(a, "ev-b", err, sizeof(err)), 1);
	/* b prunes everything but the newest row; a forgets the pruned rows at
	 * its own next prune */
	cr_expect_eq(art_ledger_prune(b, 0, 0, 1, err, sizeof(err)), 2);
	cr_expect_eq(art_ledger_seen(b, "ev-a", err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_seen(a, "ev-a", err, sizeof(err)), 0,
	             "a row another connection pruned is not seen, even before a prunes");
	cr_expect_eq(art_ledger_prune(a, 0, 0, 1, err, sizeof(err)), 0, "nothing left to remove");
	cr_expect_eq(art_ledger_seen(a, "ev-a", err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_seen(a, "ev-b", err, sizeof(err)), 1);
	art_ledger_close(a);
	art_ledger_close(b);
}

Test(ledger, a_version_1_file_is_brought_up_to_date)
{
	static const char v1[] =
	    "PRAGMA journal_mode=WAL;"
	    "CREATE TABLE delivered (seq INTEGER PRIMARY KEY, target TEXT NOT NULL,"
	    " event_id TEXT NOT NULL, idempotency_key TEXT, delivered_at INTEGER NOT NULL,"
	    " UNIQUE (target, event_id));"
	    "CREATE INDEX delivered_by_time ON delivered (delivered_at);"
	    "INSERT INTO delivered (target, event_id, idempotency_key, delivered_at) VALUES"
	    " ('t', 'old-1', 'k', 10), ('other', 'old-2', NULL, 20), ('t', 'old-3', NULL, 30);"
	    "PRAGMA user_version=1;";
	char path[128], err[256] = "";
	struct art_ledger *l;
	sqlite3 *db;
	sqlite3_stmt *st;

	path_in(path, sizeof(path), "v1.db");
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	l = art_ledger_open(path, "t", 0, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	cr_expect_eq(art_ledger_count(l), 3, "every row kept");
	cr_expect_eq(art_ledger_seen(l, "old-1", err, sizeof(err)), 1);
	cr_expect_eq(art_ledger_seen(l, "old-3", err, sizeof(err)), 1);
	cr_expect_eq(art_ledger_seen(l, "old-2", err, sizeof(err)), 0, "another target's");
	cr_assert_eq(art_ledger_put(l, "new-1", NULL, 40, err, sizeof(err)), 0, "%s", err);
	art_ledger_close(l);

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_prepare_v2(db,
	                                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
	                                "tbl_name = 'delivered'",
	                                -1, &st, NULL),
	             SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), 0, "no index on random ids any more");
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT max(seq) FROM delivered", -1, &st, NULL),
	             SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), 4, "seq keeps counting");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

Test(ledger, a_newer_format_is_refused)
{
	char path[128], err[256] = "";
	sqlite3 *db;

	path_in(path, sizeof(path), "v9.db");
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version=9", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	cr_expect_null(art_ledger_open(path, "t", 0, err, sizeof(err)));
	cr_expect(strstr(err, "newer than this build") != NULL, "%s", err);
}

Test(ledger, thousands_of_rows_grow_the_index)
{
	char path[128], err[256] = "";
	struct art_ledger *l;
	static struct art_ledger_row rows[512];
	static char ids[5000][24];
	const int n = 5000;

	path_in(path, sizeof(path), "l.db");
	l = art_ledger_open(path, "t", 0, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	for (int i = 0; i < n; i++)
		snprintf(ids[i], sizeof(ids[i]), "%08x-e", (unsigned)i * 2654435761u);
	for (int i = 0; i < n; i += 512) {
		int k = 0;

		for (int j = i; j < n && j < i + 512; j++, k++) {
			rows[k].event_id = ids[j];
			rows[k].idempotency_key = NULL;
			rows[k].delivered_at_us = j;
		}
		cr_assert_eq(art_ledger_put_batch(l, rows, (size_t)k, err, sizeof(err)), 0, "%s", err);
	}
	cr_expect_eq(art_ledger_count(l), n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(art_ledger_seen(l, ids[i], err, sizeof(err)), 1, "%s", ids[i]);
	cr_expect_eq(art_ledger_seen(l, "not-there", err, sizeof(err)), 0);
	/* keep the newest 1000: the oldest go from the file and from memory */
	cr_expect_eq(art_ledger_prune(l, 0, 0, 1000, err, sizeof(err)), n - 1000);
	cr_expect_eq(art_ledger_seen(l, ids[0], err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_seen(l, ids[n - 1000 - 1], err, sizeof(err)), 0);
	cr_expect_eq(art_ledger_seen(l, ids[n - 1000], err, sizeof(err)), 1);
	cr_expect_eq(art_ledger_seen(l, ids[n - 1], err, sizeof(err)), 1);
	art_ledger_close(l);
}
