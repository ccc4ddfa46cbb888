/*
 * test_consumer_backoff.c — the retry delay of consumers: exponential
 * growth from initial_backoff_ms, capped at max_backoff_ms, "equal jitter"
 * bounds [base/2, base] over many draws (and actually jittered), the
 * Retry-After hint honoured up to the cap.
 */
#include "consumer.h"

#include <criterion/criterion.h>

static const struct art_retry_conf rc = {
    .max_attempts = 10,
    .initial_backoff_ms = 100,
    .max_backoff_ms = 5000,
    .max_elapsed_ms = 60000,
};

Test(consumer_backoff, exponential_with_equal_jitter_bounds)
{
	/* attempt -> base: 100, 200, 400, ..., capped at 5000 from attempt 7 */
	static const int64_t base[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000};
	uint64_t rng = 42;

	for (int attempt = 1; attempt <= 10; attempt++) {
		int64_t lo = INT64_MAX, hi = 0;

		for (int i = 0; i < 2000; i++) {
			int64_t d = art_consumer_backoff_ms(&rc, attempt, 0, &rng);

			cr_assert_geq(d, base[attempt - 1] / 2, "attempt %d: %lld < %lld", attempt,
			              (long long)d, (long long)base[attempt - 1] / 2);
			cr_assert_leq(d, base[attempt - 1], "attempt %d: %lld > %lld", attempt,
			              (long long)d, (long long)base[attempt - 1]);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		/* jittered: over 2000 draws the spread covers most of the range */
		cr_expect_lt(lo, base[attempt - 1] / 2 + base[attempt - 1] / 10, "attempt %d",
		             attempt);
		cr_expect_gt(hi, base[attempt - 1] - base[attempt - 1] / 10, "attempt %d", attempt);
	}
}

Test(consumer_backoff, huge_attempt_numbers_stay_capped)
{
	uint64_t rng = 7;

	for (int attempt = 30; attempt < 100000; attempt *= 3) {
		int64_t d = art_consumer_backoff_ms(&rc, attempt, 0, &rng);

		cr_expect_geq(d, 2500);
		cr_expect_leq(d, 5000);
	}
	cr_expect_leq(art_consumer_backoff_ms(&rc, 0, 0, &rng), 100); /* treated as 1 */
}

Test(consumer_backoff, retry_after_hint_up_to_the_cap)
{
	uint64_t rng = 1;

	/* hint above the jittered delay wins */
	cr_expect_eq(art_consumer_backoff_ms(&rc, 1, 3000, &rng), 3000);
	/* but never beyond max_backoff_ms */
	cr_expect_eq(art_consumer_backoff_ms(&rc, 1, 120000, &rng), 5000);
	/* a hint below the jittered delay changes nothing */
	for (int i = 0; i < 100; i++) {
		int64_t d = art_consumer_backoff_ms(&rc, 5, 10, &rng);

		cr_expect_geq(d, 800);
		cr_expect_leq(d, 1600);
	}
}

Test(consumer_backoff, different_seeds_differ)
{
	uint64_t a = 1, b = 2;
	int same = 0;

	for (int i = 0; i < 50; i++)
		same += art_consumer_backoff_ms(&rc, 6, 0, &a) == art_consumer_backoff_ms(&rc, 6, 0, &b);
	cr_expect_lt(same, 10);
}
