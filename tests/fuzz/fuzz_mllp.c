/*
 * fuzz_mllp.c — libFuzzer target for the MLLP framer.
 *
 * Input: byte 0 picks max_frame (1..64, small so oversize paths run), byte 1
 * seeds the split sizes, the rest is the stream. The stream is framed twice
 * — in splits chosen from the data, and in one chunk — and both runs must
 * produce the same events. After every drain the byte accounting must hold
 * (bytes_in == frame + junk + oversize + pending), frames must respect
 * max_frame and the framing rules, and the buffer must never hold more than
 * max_frame bytes.
 */
#include "mllp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Records the events of one run as (type, len, data) into log. */
static void run(const uint8_t *in, size_t n, size_t max, unsigned seed, int split,
                struct art_buf *log)
{
	struct art_mllp *fr = art_mllp_new(max);
	struct art_mllp_event ev;
	struct art_mllp_stats st;
	size_t off = 0;

	if (!fr)
		abort();
	while (off < n) {
		size_t step = split ? 1 + ((size_t)in[off] * 31u + seed) % 17u : n - off;

		if (step > n - off)
			step = n - off;
		if (art_mllp_feed(fr, in + off, step) != 0)
			abort();
		while (art_mllp_next(fr, &ev) != ART_MLLP_NEED_MORE) {
			if (ev.type == ART_MLLP_ERROR)
				abort();
			if (ev.len > max)
				abort();
			if (ev.type == ART_MLLP_FRAME) {
				if (ev.len && memchr(ev.data, ART_MLLP_SB, ev.len))
					abort();
				for (size_t i = 0; i + 1 < ev.len; i++)
					if (ev.data[i] == ART_MLLP_EB &&
					    ev.data[i + 1] == ART_MLLP_CR)
						abort();
			} else if (ev.total <= max || ev.len != max) {
				abort(); /* OVERSIZE: the first max bytes, more seen */
			}
			art_buf_append(log, &ev.type, sizeof(ev.type));
			art_buf_append(log, &ev.len, sizeof(ev.len));
			/* not ev.total: for OVERSIZE it depends on where a chunk ended */
			if (ev.len)
				art_buf_append(log, ev.data, ev.len);
		}
		art_mllp_stats(fr, &st);
		if (st.bytes_in !=
		    st.frame_bytes + st.junk_bytes + st.oversize_bytes + art_mllp_pending(fr))
			abort();
		if (st.peak_buffered > max)
			abort();
		off += step;
	}
	art_mllp_destroy(fr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct art_buf a, b;
	size_t max;
	unsigned seed;

	if (size < 2)
		return 0;
	max = 1 + data[0] % 64;
	seed = data[1];
	art_buf_init(&a, 1u << 24);
	art_buf_init(&b, 1u << 24);
	run(data + 2, size - 2, max, seed, 1, &a);
	run(data + 2, size - 2, max, seed, 0, &b);
	/* Splitting must not change what is reported. */
	if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len) != 0))
		abort();
	art_buf_free(&a);
	art_buf_free(&b);
	return 0;
}
