/*
 * mllp.c — incremental MLLP framer and frame encoder.
 *
 * The framer is a small state machine over the bytes of the current chunk:
 *
 *   OUT      between frames: skip to the next 0x0B, counting junk
 *   IN       inside a frame: scan for 0x1C (end?) or 0x0B (restart)
 *   IN_FS    a chunk ended right after a 0x1C: the next byte decides
 *   SKIP     inside an oversize frame: discard up to its end block
 *   SKIP_FS  as IN_FS, for an oversize frame
 *
 * Payload bytes of the current frame that are still in the caller's chunk
 * are described by [seg, pos); they are copied into `buf` only when the
 * chunk ends before the frame does, so a frame that arrives whole in one
 * read is returned in place. `buf` never holds more than max_frame bytes.
 * Invariant (checked by tests/fuzz/fuzz_mllp.c): every consumed byte is in
 * exactly one of frame_bytes, junk_bytes, oversize_bytes or `cur`.
 */
#include "mllp.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* A buffer that grew past this is given back after its frame. */
#define ART_MLLP_KEEP_CAP (256u * 1024u)

enum art_mllp_state {
	ART_MLLP_S_OUT = 0, /* between frames */
	ART_MLLP_S_IN,      /* inside a frame */
	ART_MLLP_S_IN_FS,   /* inside a frame, a 0x1C ended the last chunk */
	ART_MLLP_S_SKIP,    /* inside an oversize frame, discarding */
	ART_MLLP_S_SKIP_FS, /* inside an oversize frame, a 0x1C ended the last chunk */
};

struct art_mllp {
	size_t max_frame;          /* payload cap */
	enum art_mllp_state state; /* where we are in the byte stream */
	const unsigned char *in;   /* current chunk (caller's memory) */
	size_t in_len;             /* its length */
	size_t pos;                /* next unconsumed byte of the chunk */
	size_t seg;                /* first payload byte of this frame not yet in buf */
	size_t cur;                /* bytes of the unfinished frame consumed so far */
	int release;               /* buf holds a returned frame: empty it on the next call */
	struct art_buf buf;        /* payload of a frame that straddles chunks */
	struct art_mllp_stats st;  /* counters */
};

struct art_mllp *art_mllp_new(size_t max_frame)
{
	struct art_mllp *fr;

	fr = calloc(1, sizeof(*fr));
	if (!fr)
		return NULL;
	fr->max_frame = max_frame ? max_frame : ART_MLLP_DEFAULT_MAX_FRAME;
	fr->state = ART_MLLP_S_OUT;
	art_buf_init(&fr->buf, fr->max_frame);
	return fr;
}

void art_mllp_destroy(struct art_mllp *fr)
{
	if (!fr)
		return;
	art_buf_free(&fr->buf);
	free(fr);
}

int art_mllp_feed(struct art_mllp *fr, const void *buf, size_t len)
{
	if (fr->pos < fr->in_len)
		return -1;
	fr->in = buf;
	fr->in_len = len;
	fr->pos = 0;
	fr->seg = 0;
	fr->st.bytes_in += len;
	return 0;
}

size_t art_mllp_pending(const struct art_mllp *fr)
{
	return fr->cur;
}

void art_mllp_stats(const struct art_mllp *fr, struct art_mllp_stats *st)
{
	*st = fr->st;
}

/* Empties the frame buffer, giving back a large allocation. */
static void art_mllp_buf_clear(struct art_mllp *fr)
{
	if (fr->buf.cap > ART_MLLP_KEEP_CAP) {
		art_buf_free(&fr->buf);
		art_buf_init(&fr->buf, fr->max_frame);
	} else {
		art_buf_reset(&fr->buf);
	}
	fr->release = 0;
}

void art_mllp_reset(struct art_mllp *fr)
{
	/* Unconsumed input is simply forgotten: it was never counted as
	 * consumed, so take it out of bytes_in to keep the invariant. */
	fr->st.bytes_in -= fr->in_len - fr->pos;
	if (fr->state == ART_MLLP_S_SKIP || fr->state == ART_MLLP_S_SKIP_FS)
		fr->st.oversize_bytes += fr->cur;
	else
		fr->st.junk_bytes += fr->cur;
	fr->cur = 0;
	fr->state = ART_MLLP_S_OUT;
	fr->in = NULL;
	fr->in_len = 0;
	fr->pos = 0;
	fr->seg = 0;
	art_mllp_buf_clear(fr);
}

/* Moves chunk bytes [seg, end) into buf. Returns 0 or -1 (out of memory). */
static int art_mllp_stash(struct art_mllp *fr, size_t end)
{
	assert(end >= fr->seg);
	if (art_buf_append(&fr->buf, fr->in + fr->seg, end - fr->seg) == -1)
		return -1;
	fr->seg = end;
	if (fr->buf.len > fr->st.peak_buffered)
		fr->st.peak_buffered = fr->buf.len;
	return 0;
}

/* Drops the partial frame after an allocation failure. */
static enum art_mllp_ev art_mllp_fail(struct art_mllp *fr, struct art_mllp_event *ev)
{
	fr->st.junk_bytes += fr->cur;
	fr->cur = 0;
	fr->state = ART_MLLP_S_OUT;
	art_mllp_buf_clear(fr);
	ev->type = ART_MLLP_ERROR;
	return ART_MLLP_ERROR;
}

/* The frame being read passed max_frame; `end` is where the scan stopped
 * (payload is buf + [seg, end)). Reports it with up to max_frame leading
 * bytes and switches to discarding. */
static enum art_mllp_ev art_mllp_oversize(struct art_mllp *fr, size_t end,
                                          struct art_mllp_event *ev)
{
	size_t total = fr->buf.len + (end - fr->seg);
	size_t room;

	assert(total > fr->max_frame);
	if (fr->buf.len == 0 && fr->in) {
		ev->data = (const char *)fr->in + fr->seg;
		ev->len = fr->max_frame;
	} else {
		room = fr->max_frame - fr->buf.len;
		if (room > end - fr->seg)
			room = end - fr->seg;
		if (art_mllp_stash(fr, fr->seg + room) == -1)
			return art_mllp_fail(fr, ev);
		ev->data = fr->buf.p ? fr->buf.p : "";
		ev->len = fr->buf.len;
	}
	ev->type = ART_MLLP_OVERSIZE;
	ev->total = total;
	fr->st.oversize++;
	fr->cur += end - fr->pos;
	fr->pos = end;
	fr->state = ART_MLLP_S_SKIP;
	fr->release = 1; /* ev->data may point into buf */
	return ART_MLLP_OVERSIZE;
}

/* Completes a frame whose payload is buf + chunk [seg, end); the end block
 * has been consumed into cur already. */
static enum art_mllp_ev art_mllp_frame(struct art_mllp *fr, size_t end, struct art_mllp_event *ev)
{
	if (fr->buf.len == 0) {
		ev->data = fr->in ? (const char *)fr->in + fr->seg : "";
		ev->len = fr->in ? end - fr->seg : 0;
	} else {
		if (art_mllp_stash(fr, end) == -1)
			return art_mllp_fail(fr, ev);
		ev->data = fr->buf.p;
		ev->len = fr->buf.len;
		fr->release = 1;
	}
	ev->type = ART_MLLP_FRAME;
	ev->total = ev->len;
	fr->st.frames++;
	fr->st.frame_bytes += fr->cur;
	fr->cur = 0;
	fr->state = ART_MLLP_S_OUT;
	return ART_MLLP_FRAME;
}

/* Starts a new frame whose 0x0B is at chunk offset i. */
static void art_mllp_start(struct art_mllp *fr, size_t i)
{
	if (fr->buf.len)
		art_mllp_buf_clear(fr);
	fr->cur = 1;
	fr->pos = i + 1;
	fr->seg = fr->pos;
	fr->state = ART_MLLP_S_IN;
}

/* One step inside a frame. Returns an event type, or -1 to keep looping. */
static int art_mllp_step_in(struct art_mllp *fr, struct art_mllp_event *ev)
{
	const unsigned char *in = fr->in;
	size_t n = fr->in_len, i = fr->pos;

	while (i < n && in[i] != ART_MLLP_EB && in[i] != ART_MLLP_SB)
		i++;
	if (fr->buf.len + (i - fr->seg) > fr->max_frame)
		return art_mllp_oversize(fr, i, ev);
	fr->cur += i - fr->pos;
	fr->pos = i;
	if (i == n) { /* chunk ended mid-frame */
		if (art_mllp_stash(fr, n) == -1)
			return art_mllp_fail(fr, ev);
		return -1;
	}
	if (in[i] == ART_MLLP_SB) { /* a new frame starts: abandon this one */
		fr->st.junk_bytes += fr->cur;
		fr->st.restarts++;
		art_mllp_start(fr, i);
		return -1;
	}
	/* in[i] is 0x1C */
	if (i + 1 == n) { /* the next chunk decides */
		if (art_mllp_stash(fr, i) == -1)
			return art_mllp_fail(fr, ev);
		fr->cur++;
		fr->pos = n;
		fr->seg = n;
		fr->state = ART_MLLP_S_IN_FS;
		return -1;
	}
	if (in[i + 1] == ART_MLLP_CR) {
		fr->cur += 2;
		fr->pos = i + 2;
		return art_mllp_frame(fr, i, ev);
	}
	/* a 0x1C not followed by 0x0D is payload: keep scanning past it */
	fr->cur++;
	fr->pos = i + 1;
	return -1;
}

/* The byte after a 0x1C that ended the previous chunk. */
static int art_mllp_step_in_fs(struct art_mllp *fr, struct art_mllp_event *ev)
{
	static const char eb = ART_MLLP_EB;

	if (fr->in[fr->pos] == ART_MLLP_CR) {
		fr->cur++;
		fr->pos++;
		fr->seg = fr->pos;
		return art_mllp_frame(fr, fr->pos, ev);
	}
	/* the held 0x1C was payload; the current byte is scanned normally */
	fr->state = ART_MLLP_S_IN;
	fr->seg = fr->pos;
	if (fr->buf.len + 1 > fr->max_frame) {
		ev->data = fr->buf.p ? fr->buf.p : "";
		ev->len = fr->buf.len;
		ev->total = fr->buf.len + 1;
		ev->type = ART_MLLP_OVERSIZE;
		fr->st.oversize++;
		fr->state = ART_MLLP_S_SKIP;
		fr->release = 1;
		return ART_MLLP_OVERSIZE;
	}
	if (art_buf_append(&fr->buf, &eb, 1) == -1)
		return art_mllp_fail(fr, ev);
	if (fr->buf.len > fr->st.peak_buffered)
		fr->st.peak_buffered = fr->buf.len;
	return -1;
}

/* One step inside an oversize frame being discarded. */
static void art_mllp_step_skip(struct art_mllp *fr)
{
	const unsigned char *in = fr->in;
	size_t n = fr->in_len, i = fr->pos;

	if (fr->state == ART_MLLP_S_SKIP_FS) {
		fr->state = ART_MLLP_S_SKIP;
		if (in[i] == ART_MLLP_CR) {
			fr->st.oversize_bytes += fr->cur + 1;
			fr->cur = 0;
			fr->pos = i + 1;
			fr->state = ART_MLLP_S_OUT;
		}
		return;
	}
	while (i < n && in[i] != ART_MLLP_EB && in[i] != ART_MLLP_SB)
		i++;
	fr->cur += i - fr->pos;
	fr->pos = i;
	if (i == n)
		return;
	if (in[i] == ART_MLLP_SB) { /* the sender gave up on it: new frame */
		fr->st.oversize_bytes += fr->cur;
		fr->st.restarts++;
		art_mllp_start(fr, i);
		return;
	}
	if (i + 1 == n) {
		fr->cur++;
		fr->pos = n;
		fr->state = ART_MLLP_S_SKIP_FS;
		return;
	}
	if (in[i + 1] == ART_MLLP_CR) {
		fr->st.oversize_bytes += fr->cur + 2;
		fr->cur = 0;
		fr->pos = i + 2;
		fr->state = ART_MLLP_S_OUT;
		return;
	}
	fr->cur++;
	fr->pos = i + 1;
}

enum art_mllp_ev art_mllp_next(struct art_mllp *fr, struct art_mllp_event *ev)
{
	const unsigned char *sb;
	int r;

	memset(ev, 0, sizeof(*ev));
	if (fr->release)
		art_mllp_buf_clear(fr);
	while (fr->pos < fr->in_len) {
		switch (fr->state) {
		case ART_MLLP_S_OUT:
			sb = memchr(fr->in + fr->pos, ART_MLLP_SB, fr->in_len - fr->pos);
			if (!sb) {
				fr->st.junk_bytes += fr->in_len - fr->pos;
				fr->pos = fr->in_len;
				break;
			}
			fr->st.junk_bytes += (size_t)(sb - (fr->in + fr->pos));
			art_mllp_start(fr, (size_t)(sb - fr->in));
			break;
		case ART_MLLP_S_IN:
			r = art_mllp_step_in(fr, ev);
			if (r != -1)
				return (enum art_mllp_ev)r;
			break;
		case ART_MLLP_S_IN_FS:
			r = art_mllp_step_in_fs(fr, ev);
			if (r != -1)
				return (enum art_mllp_ev)r;
			break;
		case ART_MLLP_S_SKIP:
		case ART_MLLP_S_SKIP_FS:
			art_mllp_step_skip(fr);
			break;
		}
	}
	ev->type = ART_MLLP_NEED_MORE;
	return ART_MLLP_NEED_MORE;
}

int art_mllp_encode(const void *payload, size_t len, struct art_buf *out)
{
	const unsigned char *p = payload;
	size_t old = out->len;

	for (size_t i = 0; i < len; i++)
		if (p[i] == ART_MLLP_SB || p[i] == ART_MLLP_EB)
			return -1;
	if (art_buf_putc(out, ART_MLLP_SB) == -1 || art_buf_append(out, payload, len) == -1 ||
	    art_buf_append(out, "\x1c\r", 2) == -1) {
		out->len = old;
		if (out->p)
			out->p[old] = '\0';
		return -1;
	}
	return 0;
}
