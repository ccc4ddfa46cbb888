/*
 * test_ledger.c — the delivered-keys ledger on a real SQLite file: put and
 * seen, per-target separation, two events of one message (same
 * idempotency key, different event ids) both kept, persistence across
 * close/reopen, pruning by age and by row count, WAL mode on disk, a
 * missing parent directory created, and a file that is not a database
 * refused.
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
