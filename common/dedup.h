/*
 * dedup.h — the recently-committed table behind "a resend of the same
 * message is acknowledged again but not re-emitted".
 *
 * Keys are a digest of who sent what (e.g. MSH-3 + MSH-4 + MSH-10); each
 * remembers the digest of the exact bytes committed under it and when.
 * Entries older than the window are ignored and recycled; the table holds
 * at most max_entries (the oldest is evicted first), so memory is bounded
 * (~100 bytes an entry) whatever the senders do. In memory only: after a
 * restart a resend is emitted again, and the idempotency key makes that
 * harmless downstream (docs/commit-before-ack.md).
 * Not thread-safe: one owner (the ingest event loop).
 */
#ifndef ART_DEDUP_H
#define ART_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#define ART_DEDUP_DIGEST 32 /* bytes in a key or content digest (SHA-256) */

struct art_dedup;

/* Returns a table remembering entries for window_s seconds, at most
 * max_entries at once; NULL when out of memory. */
struct art_dedup *art_dedup_new(int window_s, size_t max_entries);

/* Frees the table; NULL is a no-op. */
void art_dedup_destroy(struct art_dedup *d);

/* 1 when key was committed within the window with exactly content, 0
 * otherwise (never seen, expired, or committed with other bytes). now_s:
 * the caller's clock in seconds (monotonic). */
int art_dedup_seen(struct art_dedup *d, const uint8_t key[ART_DEDUP_DIGEST],
		   const uint8_t content[ART_DEDUP_DIGEST], int64_t now_s);

/* Records that key was committed with content at now_s (replacing an older
 * entry for key). */
void art_dedup_put(struct art_dedup *d, const uint8_t key[ART_DEDUP_DIGEST],
		   const uint8_t content[ART_DEDUP_DIGEST], int64_t now_s);

/* Entries currently held (including expired ones not yet recycled). */
size_t art_dedup_count(const struct art_dedup *d);

#endif
