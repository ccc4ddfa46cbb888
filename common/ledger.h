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
 * Durability: WAL journal; synchronous=NORMAL by default (a process crash
 * loses nothing committed; an OS crash or power cut may lose the last
 * transactions), FULL on request (one fsync per delivered event).
 * Retention: rows older than max_age_days and the oldest rows beyond
 * max_rows are removed by art_ledger_prune(), which the consumer runtime
 * calls periodically (about once a minute).
 *
 * Sizes and rates: ~150 bytes a row on disk; a check is one indexed
 * lookup, a put one small transaction (tens of microseconds with NORMAL).
 * Not thread-safe: one ledger belongs to one thread (the consumer loop).
 */
#ifndef ART_LEDGER_H
#define ART_LEDGER_H

#include <stddef.h>
#include <stdint.h>

struct art_ledger;

/* Opens (creating when absent, with its missing parent directories) the
 * ledger file at path for target (a name such as "ehr-out/fhir": rows of
 * other targets in the same file are not seen). synchronous_full selects
 * PRAGMA synchronous=FULL instead of NORMAL. Returns NULL with the reason
 * in errstr (cannot create, not a ledger, corrupt). Caller closes with
 * art_ledger_close(). */
struct art_ledger *art_ledger_open(const char *path, const char *target, int synchronous_full,
                                   char *errstr, size_t errstr_size);

/* Closes the ledger; NULL is a no-op. */
void art_ledger_close(struct art_ledger *l);

/* Returns 1 when event_id was recorded as delivered to the ledger's target
 * (and not pruned since), 0 when not, -1 on a database error (reason in
 * errstr). */
int art_ledger_seen(struct art_ledger *l, const char *event_id, char *errstr, size_t errstr_size);

/* Records that event_id (with its idempotency key, may be NULL) was
 * delivered at delivered_at_us (epoch microseconds), durably as configured
 * before returning. Recording an id already present keeps the first row.
 * Returns 0, or -1 on a database error (reason in errstr). */
int art_ledger_put(struct art_ledger *l, const char *event_id, const char *idempotency_key,
                   int64_t delivered_at_us, char *errstr, size_t errstr_size);

/* Removes rows (of every target in the file) delivered before
 * now_us - max_age_days, then the oldest rows beyond the newest max_rows
 * (max_age_days or max_rows <= 0: no bound of that kind). Returns the
 * number of rows removed, or -1 on a database error (reason in errstr). */
long long art_ledger_prune(struct art_ledger *l, int64_t now_us, int max_age_days,
                           long long max_rows, char *errstr, size_t errstr_size);

/* Returns the number of rows in the file (every target), or -1 on error.
 * For metrics and tests. */
long long art_ledger_count(struct art_ledger *l);

#endif
