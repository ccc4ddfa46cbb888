/*
 * ledger.h — the delivered-keys ledger of a consumer: a local SQLite file
 * that remembers which events each target has accepted, so that a replayed
 * or redelivered event is skipped instead of delivered twice
 * (docs/ledger.md explains the invariants and the crash window).
 *
 * Keyed by (target, event_id). The event id is unique per event and stable
 * across resends (derived from the source message's idempotency key and
 * the event's index in it), while the idempotency key is shared by every
 * event of one source message (an A40 merge or a multi-patient ORU yields
 * several): keying on the idempotency key alone would drop the second
 * event of a message. The idempotency key is stored beside it for people.
 *
 * Layout: rows are appended to the file (table `delivered`, ordered by
 * `seq`), and looked up in memory — a table of this target's rows (a
 * 64-bit fingerprint of the event id and the row's seq; a match is
 * confirmed against the row) loaded at open and topped up with rows other
 * connections append. The file has no index on the event id: with random
 * ids, one costs a dirty page per row (docs/ledger.md, "Layout").
 *
 * Durability: WAL journal; synchronous=NORMAL by default (a process crash
 * loses nothing committed; an OS crash or power cut may lose the last
 * transactions), FULL on request (one fsync per transaction). The
 * consumer runtime records the events it delivered in batches, one
 * transaction per batch (docs/ledger.md: the crash window is a batch).
 * Retention: rows older than max_age_days and the oldest rows beyond
 * max_rows are removed by art_ledger_prune(), which the consumer runtime
 * calls periodically (about once a minute).
 *
 * Sizes and rates (dev VM): ~146 bytes a row on disk; in memory 16 bytes a
 * slot of a table kept at most 70 % full (1,000,000 rows of this target:
 * 32 MB; the default max_rows of 5,000,000: 128 MB); opening loads ~1.3
 * million rows a second. A check is a probe of the in-memory table
 * (0.2-0.5 us; a hit adds a row read, 2-8 us); recording costs 1.5-3 us a
 * row in batches of hundreds (one per row in its own transaction: ~50 us).
 * Not thread-safe: one ledger belongs to one thread (the consumer loop).
 */
#ifndef ART_LEDGER_H
#define ART_LEDGER_H

#include <stddef.h>
#include <stdint.h>

struct art_ledger;

/* Opens (creating when absent, with its missing parent directories) the
 * ledger file at path for target (a name such as "ehr-out/fhir": rows of
 * other targets in the same file are not seen) and loads the target's
 * rows into memory; a file of the first format (version 1) is rebuilt in
 * the current one first. synchronous_full selects PRAGMA
 * synchronous=FULL instead of NORMAL. Returns NULL with the reason in
 * errstr (cannot create, not a ledger, corrupt, a newer format, out of
 * memory). Caller closes with art_ledger_close(). */
struct art_ledger *art_ledger_open(const char *path, const char *target, int synchronous_full,
                                   char *errstr, size_t errstr_size);

/* Closes the ledger; NULL is a no-op. */
void art_ledger_close(struct art_ledger *l);

/* Returns 1 when event_id was recorded as delivered to the ledger's target
 * (and not pruned since) by this connection, or by another one before the
 * last load of their rows (at open, at every art_ledger_put_batch(), and
 * at the first check after art_ledger_resync()); 0 when not; -1 on a
 * database error (reason in errstr). */
int art_ledger_seen(struct art_ledger *l, const char *event_id, char *errstr, size_t errstr_size);

/* Makes the next art_ledger_seen() first load the rows other connections
 * appended since the last load (the consumer calls it at every batch and
 * every rebalance, so that rows a previous owner of a partition recorded
 * are seen). Cheap when there are none. NULL is a no-op. */
void art_ledger_resync(struct art_ledger *l);

/* One delivered event to record. Strings are borrowed for the call. */
struct art_ledger_row {
	const char *event_id;
	const char *idempotency_key; /* may be NULL */
	int64_t delivered_at_us;     /* epoch microseconds */
};

/* Records the cnt rows in one transaction, durably as configured before
 * returning: all of them or, on error, none. Recording an id already
 * present keeps the first row. The write lock is held only for the
 * inserts (a few microseconds a row), never while a target is called.
 * Returns 0, or -1 on a database error (reason in errstr). */
int art_ledger_put_batch(struct art_ledger *l, const struct art_ledger_row *rows, size_t cnt,
                         char *errstr, size_t errstr_size);

/* Records one row (art_ledger_put_batch() of one). */
int art_ledger_put(struct art_ledger *l, const char *event_id, const char *idempotency_key,
                   int64_t delivered_at_us, char *errstr, size_t errstr_size);

/* Removes rows (of every target in the file) delivered before
 * now_us - max_age_days, then the oldest rows beyond the newest max_rows
 * (max_age_days or max_rows <= 0: no bound of that kind), and forgets them
 * (and rows other connections pruned) in memory. Rows go in insertion
 * order: the age bound is found by bisection over it, so with several
 * writers on one file it holds up to the differences of their clocks.
 * Returns the number of rows removed, or -1 on a database error (reason
 * in errstr). */
long long art_ledger_prune(struct art_ledger *l, int64_t now_us, int max_age_days,
                           long long max_rows, char *errstr, size_t errstr_size);

/* Returns the number of rows in the file (every target), or -1 on error.
 * For metrics and tests. */
long long art_ledger_count(struct art_ledger *l);

#endif
