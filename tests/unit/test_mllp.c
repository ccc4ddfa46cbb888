/*
 * test_mllp.c — the MLLP framer and encoder: any input split, junk, oversize
 * frames with bounded memory, 0x1C without 0x0D, 0x0B inside a frame, empty
 * frames, and the byte accounting invariant.
 */
#include "art.h"
#include "mllp.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Frames collected from a framer, copied (event data is short-lived). */
struct got {
	char frames[64][256];
	size_t lens[64];
	size_t nframes;
	size_t noversize;
	size_t last_oversize_len;
	size_t last_oversize_total;
};

/* Runs the framer until it needs more input, recording every event. */
static void drain(struct art_mllp *fr, struct got *g)
{
	struct art_mllp_event ev;

	for (;;) {
		enum art_mllp_ev t = art_mllp_next(fr, &ev);

		cr_assert_eq(t, ev.type);
		if (t == ART_MLLP_NEED_MORE)
			return;
		cr_assert_neq(t, ART_MLLP_ERROR);
		if (t == ART_MLLP_FRAME) {
			cr_assert_lt(g->nframes, 64);
			cr_assert_lt(ev.len, 256);
			memcpy(g->frames[g->nframes], ev.data, ev.len);
			g->lens[g->nframes++] = ev.len;
		} else {
			g->noversize++;
			g->last_oversize_len = ev.len;
			g->last_oversize_total = ev.total;
		}
	}
}

/* Feeds data in chunks of `step` bytes (0 = all at once). */
static void feed_steps(struct art_mllp *fr, const char *data, size_t len, size_t step,
                       struct got *g)
{
	size_t off = 0;

	if (step == 0)
		step = len ? len : 1;
	while (off < len) {
		size_t n = ART_MIN(step, len - off);

		cr_assert_eq(art_mllp_feed(fr, data + off, n), 0);
		drain(fr, g);
		off += n;
	}
}

/* The accounting invariant, valid after every drain. */
static void check_invariant(struct art_mllp *fr)
{
	struct art_mllp_stats st;

	art_mllp_stats(fr, &st);
	cr_assert_eq(
	    st.bytes_in, st.frame_bytes + st.junk_bytes + st.oversize_bytes + art_mllp_pending(fr),
	    "in=%llu frames=%llu junk=%llu over=%llu pending=%zu", (unsigned long long)st.bytes_in,
	    (unsigned long long)st.frame_bytes, (unsigned long long)st.junk_bytes,
	    (unsigned long long)st.oversize_bytes, art_mllp_pending(fr));
}

#define S(lit) lit, sizeof(lit) - 1

Test(mllp, byte_by_byte)
{
	static const char in[] = "\x0bMSH|^~\\&|A\r\x1c\r\x0bMSH|B\r\x1c\r\x0b\x1c\r";
	struct art_mllp *fr = art_mllp_new(1024);
	struct got g = {0};

	feed_steps(fr, S(in), 1, &g);
	cr_assert_eq(g.nframes, 3);
	cr_assert_eq(g.lens[0], 11);
	cr_assert_arr_eq(g.frames[0], "MSH|^~\\&|A\r", 11);
	cr_assert_eq(g.lens[1], 6);
	cr_assert_arr_eq(g.frames[1], "MSH|B\r", 6);
	cr_assert_eq(g.lens[2], 0);
	cr_assert_eq(art_mllp_pending(fr), 0);
	check_invariant(fr);
	art_mllp_destroy(fr);
}

Test(mllp, several_frames_in_one_read_are_zero_copy)
{
	static const char in[] = "\x0b"
	                         "AAA\x1c\r\x0b"
	                         "BB\x1c\r\x0b"
	                         "C\x1c\r";
	struct art_mllp *fr = art_mllp_new(1024);
	struct art_mllp_event ev;

	cr_assert_eq(art_mllp_feed(fr, S(in)), 0);
	cr_assert_eq(art_mllp_next(fr, &ev), ART_MLLP_FRAME);
	cr_assert_eq(ev.data, in + 1, "a frame whole in the chunk points into it");
	cr_assert_eq(ev.len, 3);
	cr_assert_eq(art_mllp_next(fr, &ev), ART_MLLP_FRAME);
	cr_assert_eq(ev.len, 2);
	cr_assert_arr_eq(ev.data, "BB", 2);
	cr_assert_eq(art_mllp_next(fr, &ev), ART_MLLP_FRAME);
	cr_assert_arr_eq(ev.data, "C", 1);
	cr_assert_eq(art_mllp_next(fr, &ev), ART_MLLP_NEED_MORE);
	check_invariant(fr);
	art_mllp_destroy(fr);
}

Test(mllp, feed_refused_until_drained)
{
	static const char in[] = "\x0bX\x1c\r\x0bY\x1c\r";
	struct art_mllp *fr = art_mllp_new(64);
	struct art_mllp_event ev;

	cr_assert_eq(art_mllp_feed(fr, S(in)), 0);
	cr_assert_eq(art_mllp_next(fr, &ev), ART_MLLP_FRAME);
	cr_assert_eq(art_mllp_feed(fr, S(in)), -1);
	cr_assert_eq(art_mllp_next(fr, &ev), ART_MLLP_FRAME);
	cr_assert_eq(art_mllp_next(fr, &ev), ART_MLLP_NEED_MORE);
	cr_assert_eq(art_mllp_feed(fr, S(in)), 0);
	art_mllp_destroy(fr);
}

Test(mllp, junk_before_between_and_after_frames_is_counted)
{
	static const char in[] = "hello\r\n\x0b"
	                         "A\x1c\r--\x1c\r\x0b"
	                         "B\x1c\r\n\n";
	struct art_mllp *fr = art_mllp_new(64);
	struct art_mllp_stats st;
	struct got g = {0};

	feed_steps(fr, S(in), 0, &g);
	cr_assert_eq(g.nframes, 2);
	art_mllp_stats(fr, &st);
	cr_assert_eq(st.junk_bytes, 7 + 4 + 2);
	cr_assert_eq(st.frames, 2);
	cr_assert_eq(st.frame_bytes, 8);
	check_invariant(fr);
	art_mllp_destroy(fr);
}

Test(mllp, end_block_without_cr_is_payload)
{
	static const char in[] = "\x0b"
	                         "AB\x1c"
	                         "C\x1c\x1c\r";
	size_t steps[] = {0, 1, 2, 3, 4};

	for (size_t s = 0; s < ART_ARRAY_SIZE(steps); s++) {
		struct art_mllp *fr = art_mllp_new(64);
		struct got g = {0};

		feed_steps(fr, S(in), steps[s], &g);
		cr_assert_eq(g.nframes, 1, "step %zu", steps[s]);
		cr_assert_eq(g.lens[0], 5, "step %zu", steps[s]);
		cr_assert_arr_eq(g.frames[0],
		                 "AB\x1c"
		                 "C\x1c",
		                 5);
		check_invariant(fr);
		art_mllp_destroy(fr);
	}
}

Test(mllp, start_block_inside_frame_restarts_it)
{
	static const char in[] = "\x0b"
	                         "ABC\x0b"
	                         "DEF\x1c\r";
	size_t steps[] = {0, 1, 3};

	for (size_t s = 0; s < ART_ARRAY_SIZE(steps); s++) {
		struct art_mllp *fr = art_mllp_new(64);
		struct art_mllp_stats st;
		struct got g = {0};

		feed_steps(fr, S(in), steps[s], &g);
		cr_assert_eq(g.nframes, 1);
		cr_assert_arr_eq(g.frames[0], "DEF", 3);
		art_mllp_stats(fr, &st);
		cr_assert_eq(st.restarts, 1);
		cr_assert_eq(st.junk_bytes, 4, "the abandoned frame, start block included");
		check_invariant(fr);
		art_mllp_destroy(fr);
	}
}

Test(mllp, empty_frame)
{
	static const char in[] = "\x0b\x1c\r";
	size_t steps[] = {0, 1, 2};

	for (size_t s = 0; s < ART_ARRAY_SIZE(steps); s++) {
		struct art_mllp *fr = art_mllp_new(64);
		struct got g = {0};

		feed_steps(fr, S(in), steps[s], &g);
		cr_assert_eq(g.nframes, 1);
		cr_assert_eq(g.lens[0], 0);
		art_mllp_destroy(fr);
	}
}

Test(mllp, pending_tells_a_disconnect_mid_frame)
{
	struct art_mllp *fr = art_mllp_new(64);
	struct got g = {0};

	feed_steps(fr, S("junk\x0bMSH|"), 0, &g);
	cr_assert_eq(art_mllp_pending(fr), 5);
	feed_steps(fr, S("x\x1c"), 0, &g);
	cr_assert_eq(art_mllp_pending(fr), 7);
	feed_steps(fr, S("\r"), 0, &g);
	cr_assert_eq(art_mllp_pending(fr), 0);
	cr_assert_eq(g.nframes, 1);
	cr_assert_arr_eq(g.frames[0], "MSH|x", 5);
	check_invariant(fr);
	feed_steps(fr,
	           S("\x0b"
	             "ABC"),
	           0, &g);
	art_mllp_reset(fr);
	cr_assert_eq(art_mllp_pending(fr), 0);
	check_invariant(fr);
	art_mllp_destroy(fr);
}

/* An oversize frame is reported once, the memory held stays <= max, and
 * the frame after it is delivered. */
Test(mllp, oversize_frame_rejected_with_bounded_memory)
{
	size_t steps[] = {0, 1, 7, 100, 999};
	size_t big = 100000;
	char *in = malloc(big + 20);
	size_t n = 0;

	in[n++] = 0x0b;
	memset(in + n, 'Z', big);
	n += big;
	memcpy(in + n, "\x1c\r\x0bOK\x1c\r", 7);
	n += 7;
	for (size_t s = 0; s < ART_ARRAY_SIZE(steps); s++) {
		struct art_mllp *fr = art_mllp_new(16);
		struct art_mllp_stats st;
		struct got g = {0};

		feed_steps(fr, in, n, steps[s], &g);
		cr_assert_eq(g.noversize, 1, "step %zu", steps[s]);
		cr_assert_leq(g.last_oversize_len, 16);
		cr_assert_gt(g.last_oversize_total, 16);
		cr_assert_eq(g.nframes, 1);
		cr_assert_arr_eq(g.frames[0], "OK", 2);
		art_mllp_stats(fr, &st);
		cr_assert_leq(st.peak_buffered, 16, "step %zu: held %zu", steps[s],
		              st.peak_buffered);
		cr_assert_eq(st.oversize, 1);
		cr_assert_eq(st.oversize_bytes, big + 3);
		check_invariant(fr);
		art_mllp_destroy(fr);
	}
	free(in);
}

Test(mllp, frame_of_exactly_max_is_accepted)
{
	static const char in[] = "\x0b"
	                         "12345678\x1c\r\x0b"
	                         "123456789\x1c\r";
	size_t steps[] = {0, 1, 5};

	for (size_t s = 0; s < ART_ARRAY_SIZE(steps); s++) {
		struct art_mllp *fr = art_mllp_new(8);
		struct got g = {0};

		feed_steps(fr, S(in), steps[s], &g);
		cr_assert_eq(g.nframes, 1);
		cr_assert_eq(g.lens[0], 8);
		cr_assert_eq(g.noversize, 1);
		cr_assert_eq(g.last_oversize_len, 8, "the first max bytes, to read the MSH");
		cr_assert_arr_eq(g.frames[0], "12345678", 8);
		check_invariant(fr);
		art_mllp_destroy(fr);
	}
}

/* xorshift64: deterministic across platforms. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random streams of junk, frames (some with 0x1C inside, some oversize),
 * fed in random splits, compared with what was generated. */
Test(mllp, random_splits_match_the_generated_stream)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	const size_t max = 64;

	for (int iter = 0; iter < 2000; iter++) {
		char stream[8192], expect[32][128];
		size_t elen[32], nexp = 0, n = 0, junk = 0, over = 0, over_bytes = 0;
		struct art_mllp *fr = art_mllp_new(max);
		struct art_mllp_stats st;
		struct got g = {0};
		int parts = 1 + (int)(rnd(&seed) % 12);

		for (int p = 0; p < parts; p++) {
			if (rnd(&seed) % 3 == 0) { /* junk: anything but 0x0B */
				size_t jl = rnd(&seed) % 10;

				for (size_t k = 0; k < jl; k++) {
					char c =
					    (char)(rnd(&seed) % 3 ? 'j'
					                          : "\r\n\x1c"[rnd(&seed) % 3]);

					stream[n++] = c;
				}
				junk += jl;
				continue;
			}
			size_t pl = rnd(&seed) % 100;
			char *pay = stream + n + 1;

			stream[n] = 0x0b;
			for (size_t k = 0; k < pl; k++) {
				uint64_t r = rnd(&seed) % 20;

				pay[k] = (char)(r == 0 ? 0x1c : r == 1 ? '\r' : 'A' + (char)r);
				if (k > 0 && pay[k] == '\r' && pay[k - 1] == 0x1c)
					pay[k] = 'x';
			}
			n += 1 + pl;
			stream[n++] = 0x1c;
			stream[n++] = '\r';
			if (pl > max) {
				over++;
				over_bytes += pl + 3;
			} else {
				memcpy(expect[nexp], pay, pl);
				elen[nexp++] = pl;
			}
		}
		for (size_t off = 0; off < n;) {
			size_t step = 1 + rnd(&seed) % 40;

			step = ART_MIN(step, n - off);
			cr_assert_eq(art_mllp_feed(fr, stream + off, step), 0);
			drain(fr, &g);
			check_invariant(fr);
			off += step;
		}
		cr_assert_eq(g.nframes, nexp, "iter %d", iter);
		for (size_t k = 0; k < nexp; k++) {
			cr_assert_eq(g.lens[k], elen[k], "iter %d frame %zu", iter, k);
			cr_assert_arr_eq(g.frames[k], expect[k], elen[k]);
		}
		cr_assert_eq(g.noversize, over);
		art_mllp_stats(fr, &st);
		cr_assert_eq(st.junk_bytes, junk, "iter %d", iter);
		cr_assert_eq(st.oversize_bytes, over_bytes);
		cr_assert_leq(st.peak_buffered, max);
		cr_assert_eq(art_mllp_pending(fr), 0);
		art_mllp_destroy(fr);
	}
}

Test(mllp, encode_round_trips)
{
	struct art_buf out;
	struct art_mllp *fr = art_mllp_new(0);
	struct got g = {0};

	art_buf_init(&out, 1024);
	cr_assert_eq(art_mllp_encode(S("MSH|^~\\&|X\r"), &out), 0);
	cr_assert_eq(art_mllp_encode(S("MSH|^~\\&|Y\r"), &out), 0);
	cr_assert_eq(out.len, 2 * (11 + 3));
	cr_assert_eq(out.p[0], 0x0b);
	cr_assert_arr_eq(out.p + 12, "\x1c\r", 2);
	feed_steps(fr, out.p, out.len, 0, &g);
	cr_assert_eq(g.nframes, 2);
	cr_assert_arr_eq(g.frames[1], "MSH|^~\\&|Y\r", 11);
	cr_assert_eq(art_mllp_encode(S("bad\x1c"), &out), -1, "a block byte would break framing");
	cr_assert_eq(art_mllp_encode(S("bad\x0b"), &out), -1);
	cr_assert_eq(out.len, 28, "unchanged after a refusal");
	art_buf_free(&out);
	art_mllp_destroy(fr);
}

Test(mllp, encode_respects_the_buffer_cap)
{
	struct art_buf out;

	art_buf_init(&out, 5);
	cr_assert_eq(art_mllp_encode(S("12"), &out), 0);
	cr_assert_eq(art_mllp_encode(S("1"), &out), -1);
	cr_assert_eq(out.len, 5);
	art_buf_free(&out);
}

Test(mllp, destroy_null_is_a_noop)
{
	art_mllp_destroy(NULL);
}
