/*
 * mllp.h — MLLP (Minimal Lower Layer Protocol) framing: an incremental
 * framer for the receiving side and an encoder for the sending side.
 *
 *   frame = 0x0B payload 0x1C 0x0D
 *
 * The framer owns at most one partial frame, capped at max_frame bytes
 * (memory per connection is bounded by max_frame whatever the peer sends).
 * Input may arrive in any split: one byte at a time, or several frames in
 * one read. Frames that lie whole inside one fed chunk are returned without
 * copying (a pointer into the caller's chunk); only frames that straddle
 * chunks are copied into the internal buffer. Expected use: one framer per
 * TCP connection in an event loop, thousands of frames per second each.
 *
 * Edge cases (see docs/mllp.md): bytes outside a frame are discarded and
 * counted as junk; a 0x0B inside a frame abandons the partial frame (counted
 * as junk) and starts a new one; a 0x1C not followed by 0x0D is payload
 * data; a frame longer than max_frame is reported once (ART_MLLP_OVERSIZE)
 * and the rest of it is discarded up to its end block.
 *
 * Not thread-safe: one framer belongs to one connection / one thread.
 */
#ifndef ART_MLLP_H
#define ART_MLLP_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

#define ART_MLLP_SB 0x0B /* start block (VT) */
#define ART_MLLP_EB 0x1C /* end block (FS) */
#define ART_MLLP_CR 0x0D /* carriage return that follows the end block */

/* Default cap on one frame's payload when art_mllp_new() gets 0. */
#define ART_MLLP_DEFAULT_MAX_FRAME (16u * 1024u * 1024u)

struct art_mllp;

/* What art_mllp_next() found. */
enum art_mllp_ev {
	ART_MLLP_NEED_MORE = 0, /* every fed byte is consumed: feed more input */
	ART_MLLP_FRAME = 1,     /* one complete frame: ev->data / ev->len is its payload */
	ART_MLLP_OVERSIZE = 2,  /* a frame passed max_frame: reported once, rest discarded */
	ART_MLLP_ERROR = 3,     /* out of memory buffering a frame: close the connection */
};

/* One result of art_mllp_next(). data stays valid until the next call to
 * art_mllp_next(), art_mllp_feed(), art_mllp_reset() or art_mllp_destroy()
 * — and, when it points into the caller's chunk, while that chunk lives. */
struct art_mllp_event {
	enum art_mllp_ev type;
	const char *data; /* FRAME: payload; OVERSIZE: the frame's first bytes
	                   * (at most max_frame, enough to read an MSH for the AR) */
	size_t len;       /* bytes at data */
	size_t total;     /* FRAME: == len; OVERSIZE: payload bytes seen so far (> max_frame) */
};

/* Counters since art_mllp_new(). Every byte fed and consumed ends up in
 * exactly one of frame_bytes, junk_bytes, oversize_bytes or (while a frame
 * is unfinished) art_mllp_pending():
 *   bytes_in == frame_bytes + junk_bytes + oversize_bytes + pending
 * once art_mllp_next() has answered ART_MLLP_NEED_MORE. */
struct art_mllp_stats {
	uint64_t bytes_in;       /* bytes handed to art_mllp_feed() */
	uint64_t frames;         /* ART_MLLP_FRAME events */
	uint64_t frame_bytes;    /* bytes of delivered frames, envelope (3 bytes) included */
	uint64_t junk_bytes;     /* bytes outside frames + bytes of abandoned frames */
	uint64_t restarts;       /* partial frames abandoned because a 0x0B arrived inside */
	uint64_t oversize;       /* frames rejected for exceeding max_frame */
	uint64_t oversize_bytes; /* bytes of rejected frames, once their end was seen */
	size_t peak_buffered;    /* most payload bytes ever held in the internal buffer */
};

/* Creates a framer whose frames may carry at most max_frame payload bytes
 * (0 = ART_MLLP_DEFAULT_MAX_FRAME). Returns NULL if memory ran out. Caller
 * destroys it with art_mllp_destroy(). Allocates nothing else up front. */
struct art_mllp *art_mllp_new(size_t max_frame);

/* Frees the framer and its buffer. NULL is a no-op. */
void art_mllp_destroy(struct art_mllp *fr);

/* Hands the framer the next chunk read from the peer. The framer does not
 * copy it up front: the chunk must stay valid and unchanged until
 * art_mllp_next() answered ART_MLLP_NEED_MORE. Returns 0, or -1 if the
 * previous chunk was not consumed yet (call art_mllp_next() first). */
int art_mllp_feed(struct art_mllp *fr, const void *buf, size_t len);

/* Advances through the fed input and fills *ev with the next event; also
 * returns its type. Call in a loop after each art_mllp_feed() until it
 * answers ART_MLLP_NEED_MORE. After ART_MLLP_ERROR the framer has dropped
 * its partial frame and the caller should close the connection. */
enum art_mllp_ev art_mllp_next(struct art_mllp *fr, struct art_mllp_event *ev);

/* Bytes of the unfinished frame seen so far (start block included; also
 * counts an oversize frame being discarded). 0 between frames: a peer that
 * disconnects while this is non-zero disconnected mid-frame. */
size_t art_mllp_pending(const struct art_mllp *fr);

/* Copies the counters into *st. */
void art_mllp_stats(const struct art_mllp *fr, struct art_mllp_stats *st);

/* Drops any partial frame (its bytes are counted as junk) and any
 * unconsumed input, keeping the counters; for reusing a framer on a new
 * connection. */
void art_mllp_reset(struct art_mllp *fr);

/* Appends one frame (0x0B payload 0x1C 0x0D) to out. Returns 0, or -1 if
 * the payload contains a 0x0B or 0x1C byte (it would break the framing) or
 * out would exceed its maximum (out unchanged in every failure case).
 * Thread-safe (touches only its arguments). */
int art_mllp_encode(const void *payload, size_t len, struct art_buf *out);

#endif
