/*
 * test_dedup.c — the recently-committed table: a resend is recognised only
 * with the same key and the same bytes, within the window; memory stays
 * bounded by evicting the oldest entries.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dedup.h"

static void digest(uint8_t out[ART_DEDUP_DIGEST], unsigned v, unsigned salt)
{
	/* Spread v over the first bytes (the hash) like a real digest would. */
	uint64_t h = (uint64_t)v * 0x9E3779B97F4A7C15ull ^ salt;
	memset(out, 0, ART_DEDUP_DIGEST);
	memcpy(out, &h, sizeof(h));
	memcpy(out + 8, &v, sizeof(v));
	out[31] = (uint8_t)salt;
}

Test(dedup, same_key_same_bytes_within_window)
{
	struct art_dedup *d = art_dedup_new(600, 100);
	uint8_t k[32], c[32], c2[32];

	digest(k, 1, 0);
	digest(c, 1, 7);
	digest(c2, 2, 7);
	cr_assert_eq(art_dedup_seen(d, k, c, 1000), 0, "nothing committed yet");
	art_dedup_put(d, k, c, 1000);
	cr_assert_eq(art_dedup_seen(d, k, c, 1000), 1);
	cr_assert_eq(art_dedup_seen(d, k, c, 1600), 1, "still inside the window");
	cr_assert_eq(art_dedup_seen(d, k, c2, 1001), 0, "same control id, other bytes");
	cr_assert_eq(art_dedup_seen(d, k, c, 1601), 0, "window passed");
	art_dedup_destroy(d);
}

Test(dedup, replacing_an_entry_keeps_the_newest_bytes)
{
	struct art_dedup *d = art_dedup_new(600, 100);
	uint8_t k[32], c1[32], c2[32];

	digest(k, 5, 0);
	digest(c1, 1, 1);
	digest(c2, 2, 2);
	art_dedup_put(d, k, c1, 10);
	art_dedup_put(d, k, c2, 11);
	cr_assert_eq(art_dedup_seen(d, k, c2, 12), 1);
	cr_assert_eq(art_dedup_seen(d, k, c1, 12), 0);
	art_dedup_destroy(d);
}

Test(dedup, bounded_oldest_evicted_first)
{
	enum { MAX = 1000, N = 5000 };
	struct art_dedup *d = art_dedup_new(1000000, MAX);
	uint8_t k[32], c[32];

	for (unsigned i = 0; i < N; i++) {
		digest(k, i, 0);
		digest(c, i, 1);
		art_dedup_put(d, k, c, i);
		cr_assert(art_dedup_count(d) <= MAX);
	}
	for (unsigned i = 0; i < N; i++) {
		digest(k, i, 0);
		digest(c, i, 1);
		cr_assert_eq(art_dedup_seen(d, k, c, N), i >= N - MAX, "entry %u", i);
	}
	art_dedup_destroy(d);
}

Test(dedup, expired_entries_are_recycled)
{
	struct art_dedup *d = art_dedup_new(10, 100000);
	uint8_t k[32], c[32];

	for (unsigned i = 0; i < 50000; i++) {
		digest(k, i, 0);
		digest(c, i, 1);
		art_dedup_put(d, k, c, i / 100); /* 100 commits per second */
	}
	/* Only the last ~11 seconds of commits can still be held. */
	cr_assert(art_dedup_count(d) <= 1200, "%zu entries held", art_dedup_count(d));
	art_dedup_destroy(d);
}
