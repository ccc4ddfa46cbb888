/*
 * ids.h — the digests and identifiers every ingest process derives from
 * what it received: SHA-256, lower-case hex, and deterministic UUID-shaped
 * event ids, so that a resend of the same input yields the same ids.
 * Stateless; any thread. A digest of a few hundred bytes costs about a
 * microsecond.
 */
#ifndef ART_IDS_H
#define ART_IDS_H

#include <stddef.h>
#include <stdint.h>

#define ART_SHA256_LEN 32

/* SHA-256 of len bytes at p. */
void art_sha256(const void *p, size_t len, uint8_t out[ART_SHA256_LEN]);

/* len bytes as lower-case hex into out (2 * len + 1 bytes, NUL-terminated). */
void art_hex(const uint8_t *p, size_t len, char *out);

/* A UUID-formatted id (version 5 and variant bits set) from the digest of
 * "<key>:<what>" into out (37 bytes): the same key and what always give
 * the same id. */
void art_derived_id(const char *key, const char *what, char out[37]);

#endif
