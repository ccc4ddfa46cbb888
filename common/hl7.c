/*
 * hl7.c — the lossless HL7 v2 parser (see hl7.h for the contract and
 * docs/hl7.md for the model).
 *
 * Owns: per message, one struct art_hl7_msg with two growable uint32 tables
 * (segments and field-separator positions); per split, the span arrays. It
 * never copies or modifies the caller's bytes.
 *
 * The structural parse is one pass over the message: 16 bytes at a time
 * (SSE2 on x86-64, a byte loop elsewhere) it finds field separators and
 * segment terminators and records their offsets. Everything finer —
 * repetitions, components, subcomponents, escapes, charsets — is resolved
 * on access, from those offsets. Typical messages are 1–30 KB; the
 * structural pass runs near memory speed (about 1 GB/s per core).
 */
#include "hl7.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#define ART_HL7_SSE2 1
#endif

/* One segment. Offsets are into the message buffer. A line is
 * [line, eol); the segment proper (blanks trimmed) is [off, end); the
 * terminator (if any) occupies [eol, next). */
struct art_hl7_seg {
	uint32_t line; /* first byte of the line (after the previous terminator) */
	uint32_t off;  /* first byte of the segment id */
	uint32_t end;  /* end of the segment, trailing blanks excluded */
	uint32_t eol;  /* end of the line: terminator position or buffer end */
	uint32_t next; /* first byte after the terminator (== eol when none) */
	uint32_t fld;  /* index in msg->seps of its first field separator */
	uint32_t nsep; /* field separators in the segment */
	char id[4];    /* segment id, NUL-terminated */
};

struct art_hl7_msg {
	const char *buf; /* the caller's bytes (not owned) */
	size_t len;
	struct art_hl7_seg *segs;
	size_t nsegs, segs_cap;
	uint32_t *seps; /* positions of field separators, in order */
	size_t nseps, seps_cap;
	int segs_own, seps_own; /* 1: the array was grown into its own allocation */
	struct art_hl7_header hdr;
	size_t nwarn, nwarn_total;
	char warn[ART_HL7_MAX_WARNINGS][ART_HL7_WARNING_SIZE];
};

struct art_hl7_opts art_hl7_opts_default(void)
{
	struct art_hl7_opts o = {
		.max_message_size = 16u << 20,
		.max_segments = 100000,
		.max_fields_per_segment = 10000,
		.max_messages = 1000000,
		.allow_incomplete_msh = 0,
	};
	return o;
}

/* ---- small helpers ---------------------------------------------------------- */

/* Blank bytes around segments and between them: whitespace and the MLLP
 * framing bytes (0x0B is \v; 0x1C ends a frame; 0x1A is a DOS EOF). */
static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == 0x1C || c == 0x1A;
}

static int is_upper_or_digit(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_alnum(unsigned char c)
{
	return is_upper_or_digit(c) || (c >= 'a' && c <= 'z');
}

/* A printable ASCII punctuation character: what a delimiter may be. */
static int is_punct(unsigned char c)
{
	return c > 0x20 && c < 0x7F && !is_alnum(c);
}

/* A valid segment id: an upper-case letter then two upper-case letters or
 * digits. */
static int is_seg_id(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return u[0] >= 'A' && u[0] <= 'Z' && is_upper_or_digit(u[1]) && is_upper_or_digit(u[2]);
}

static int is_header_id(const char *p)
{
	return memcmp(p, "MSH", 3) == 0 || memcmp(p, "FHS", 3) == 0 || memcmp(p, "BHS", 3) == 0;
}

static int is_envelope_id(const char *p)
{
	if (p[0] != 'M' && p[0] != 'F' && p[0] != 'B')
		return 0;
	return is_header_id(p) || memcmp(p, "BTS", 3) == 0 || memcmp(p, "FTS", 3) == 0;
}

/* Copies up to n bytes of p into out (size >= 4 * n + 1 is not needed:
 * bytes that are not printable ASCII become '?'), NUL-terminated. */
static void printable(char *out, size_t out_size, const char *p, size_t n)
{
	size_t i, k = 0;
	for (i = 0; i < n && k + 1 < out_size; i++) {
		unsigned char c = (unsigned char)p[i];
		out[k++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
	}
	out[k] = '\0';
}

/* Checks UTF-8 (no overlongs, no surrogates, <= U+10FFFF). Returns 1, or
 * 0 with the offset of the first bad byte in *bad. */
static int utf8_valid(const unsigned char *p, size_t n, size_t *bad)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		size_t need;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
			cp = c & 0x1F;
			min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			cp = c & 0x0F;
			min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			*bad = i;
			return 0;
		}
		if (n - i - 1 < need) {
			*bad = i;
			return 0;
		}
		for (size_t k = 1; k <= need; k++) {
			unsigned char cc = p[i + k];
			if ((cc & 0xC0) != 0x80) {
				*bad = i;
				return 0;
			}
			cp = (cp << 6) | (cc & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
			*bad = i;
			return 0;
		}
		i += need + 1;
	}
	return 1;
}

/* Parses a short unsigned decimal span (at most 9 digits). Returns the
 * value or -1. */
static long span_to_long(const char *p, size_t n)
{
	long v = 0;
	size_t i;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0 || n > 9)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* ---- spans -------------------------------------------------------------------- */

size_t art_hl7_span_count(const struct art_hl7_span *in, char delim)
{
	size_t n = 1;
	const char *p = in->p, *e = in->p + in->len;
	const char *q;
	if (delim == 0 || in->len == 0)
		return 1;
	for (;;) {
		q = memchr(p, delim, (size_t)(e - p));
		if (!q)
			break;
		n++;
		p = q + 1;
	}
	return n;
}

int art_hl7_span_piece(const struct art_hl7_span *in, char delim, size_t n,
		       struct art_hl7_span *out)
{
	const char *p = in->p, *e = in->p + in->len;
	const char *q;
	if (n == 0)
		return 0;
	if (delim == 0) {
		if (n != 1)
			return 0;
		*out = *in;
		return 1;
	}
	while (n > 1) {
		q = in->len ? memchr(p, delim, (size_t)(e - p)) : NULL;
		if (!q)
			return 0;
		p = q + 1;
		n--;
	}
	q = in->len ? memchr(p, delim, (size_t)(e - p)) : NULL;
	out->p = p;
	out->len = (size_t)((q ? q : e) - p);
	return 1;
}

/* ---- header segment fields (no parsed message needed) ---------------------- */

int art_hl7_segment_field(const char *seg, size_t len, char fs, size_t field,
			  struct art_hl7_span *out)
{
	int header = len >= 3 && is_header_id(seg);
	size_t token;
	struct art_hl7_span whole;
	if (len < 3)
		return 0;
	if (field == 0) {
		out->p = seg;
		out->len = 3;
		return 1;
	}
	if (fs == 0) {
		if (len < 4)
			return 0;
		fs = seg[3];
	}
	if (len < 4 || seg[3] != fs)
		return 0;
	if (header) {
		if (field == 1) {
			out->p = seg + 3;
			out->len = 1;
			return 1;
		}
		token = field - 1;
	} else {
		token = field;
	}
	whole.p = seg + 4;
	whole.len = len - 4;
	return art_hl7_span_piece(&whole, fs, token, out);
}

/* ---- charsets ------------------------------------------------------------------- */

static const struct {
	const char *name;
	enum art_hl7_charset cs;
} charset_names[] = {
	{"ASCII", ART_HL7_CS_ASCII},
	{"US-ASCII", ART_HL7_CS_ASCII},
	{"UNICODE UTF-8", ART_HL7_CS_UTF8},
	{"UTF-8", ART_HL7_CS_UTF8},
	{"UTF8", ART_HL7_CS_UTF8},
	{"UNICODE_UTF-8", ART_HL7_CS_UTF8},
	{"8859/1", ART_HL7_CS_LATIN1},
	{"ISO-8859-1", ART_HL7_CS_LATIN1},
	{"ISO8859-1", ART_HL7_CS_LATIN1},
	{"ISO_8859-1", ART_HL7_CS_LATIN1},
	{"ISO 8859-1", ART_HL7_CS_LATIN1},
	{"LATIN1", ART_HL7_CS_LATIN1},
	{"LATIN-1", ART_HL7_CS_LATIN1},
	{"ISO_IR 100", ART_HL7_CS_LATIN1},
	{"ISO IR100", ART_HL7_CS_LATIN1},
	{"8859/15", ART_HL7_CS_LATIN9},
	{"ISO-8859-15", ART_HL7_CS_LATIN9},
	{"ISO8859-15", ART_HL7_CS_LATIN9},
	{"ISO_8859-15", ART_HL7_CS_LATIN9},
	{"LATIN9", ART_HL7_CS_LATIN9},
	{"LATIN-9", ART_HL7_CS_LATIN9},
	{"ISO_IR 203", ART_HL7_CS_LATIN9},
};

const char *art_hl7_charset_name(enum art_hl7_charset cs)
{
	switch (cs) {
	case ART_HL7_CS_UTF8:
		return "UNICODE UTF-8";
	case ART_HL7_CS_LATIN1:
		return "8859/1";
	case ART_HL7_CS_LATIN9:
		return "8859/15";
	case ART_HL7_CS_ASCII:
	default:
		return "ASCII";
	}
}

int art_hl7_charset_lookup(const char *name, size_t len, enum art_hl7_charset *cs)
{
	size_t i, k;
	while (len > 0 && (*name == ' ' || *name == '\t')) {
		name++;
		len--;
	}
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	if (len == 0) {
		*cs = ART_HL7_CS_ASCII;
		return 0;
	}
	for (i = 0; i < ART_ARRAY_SIZE(charset_names); i++) {
		const char *n = charset_names[i].name;
		if (strlen(n) != len)
			continue;
		for (k = 0; k < len; k++) {
			char a = name[k], b = n[k];
			if (a >= 'a' && a <= 'z')
				a = (char)(a - 'a' + 'A');
			if (a != b)
				break;
		}
		if (k == len) {
			*cs = charset_names[i].cs;
			return 0;
		}
	}
	return -1;
}

/* ---- parsing ---------------------------------------------------------------------- */

static void msg_warn(struct art_hl7_msg *msg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void msg_warn(struct art_hl7_msg *msg, const char *fmt, ...)
{
	va_list ap;
	msg->nwarn_total++;
	if (msg->nwarn >= ART_HL7_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg->warn[msg->nwarn], ART_HL7_WARNING_SIZE, fmt, ap);
	va_end(ap);
	msg->nwarn++;
}

/* Parser state while scanning one message. */
struct parser {
	struct art_hl7_msg *msg;
	const struct art_hl7_opts *opts;
	size_t msg_index;
	struct art_hl7_errpos *pos;
	char *errstr;
	size_t errstr_size;
	size_t line;     /* start of the current line */
	size_t line_sep; /* index in msg->seps of the current line's first separator */
	size_t msh_off;  /* offset of "MSH" in the first line */
};

/* Fills the error position and message. seg is 0-based (or (size_t)-1 for
 * unknown), field the HL7 field number (0 = not applicable). */
static void perr(struct parser *ps, size_t seg, const char *id, size_t field, size_t offset,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void perr(struct parser *ps, size_t seg, const char *id, size_t field, size_t offset,
		 const char *fmt, ...)
{
	char reason[256], where[96];
	va_list ap;
	size_t n;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	n = (size_t)snprintf(where, sizeof(where), "message %zu", ps->msg_index);
	if (seg != (size_t)-1 && n < sizeof(where))
		n += (size_t)snprintf(where + n, sizeof(where) - n, ", segment %zu (%s)", seg + 1,
				      id ? id : "?");
	if (field && n < sizeof(where))
		snprintf(where + n, sizeof(where) - n, ", field %zu", field);
	snprintf(ps->errstr, ps->errstr_size, "%s: %s", where, reason);
	if (ps->pos) {
		memset(ps->pos, 0, sizeof(*ps->pos));
		ps->pos->message = ps->msg_index;
		ps->pos->segment = seg == (size_t)-1 ? 0 : seg + 1;
		if (id)
			snprintf(ps->pos->seg_id, sizeof(ps->pos->seg_id), "%s", id);
		ps->pos->field = field;
		ps->pos->offset = offset;
	}
}

/* Grows an array that may still live inside the message's own block. */
static void *grow_array(void *arr, int *own, size_t n, size_t cap, size_t elem)
{
	void *p;
	if (*own)
		return realloc(arr, cap * elem);
	p = malloc(cap * elem);
	if (p) {
		memcpy(p, arr, n * elem);
		*own = 1;
	}
	return p;
}

static int grow_seps_slow(struct parser *ps, size_t need)
{
	struct art_hl7_msg *msg = ps->msg;
	size_t cap = msg->seps_cap * 2;
	uint32_t *p;
	if (cap < msg->nseps + need)
		cap = msg->nseps + need;
	p = grow_array(msg->seps, &msg->seps_own, msg->nseps, cap, sizeof(*p));
	if (!p) {
		perr(ps, (size_t)-1, NULL, 0, 0, "out of memory");
		return -1;
	}
	msg->seps = p;
	msg->seps_cap = cap;
	return 0;
}

/* Makes room for `need` more separator positions. */
static inline int grow_seps(struct parser *ps, size_t need)
{
	if (ps->msg->nseps + need <= ps->msg->seps_cap)
		return 0;
	return grow_seps_slow(ps, need);
}

/* Ends the current line at eol (terminator at eol, next line at next);
 * its field separators are seps[line_sep .. sep_end). Either a blank line
 * (skipped, kept for encode) or a segment. */
static int end_line(struct parser *ps, size_t eol, size_t next, size_t sep_end)
{
	struct art_hl7_msg *msg = ps->msg;
	const char *buf = msg->buf;
	size_t off, end, nsep = sep_end - ps->line_sep, id_end;
	struct art_hl7_seg *seg;
	char id[4];

	if (msg->nsegs == 0) {
		off = ps->msh_off;
	} else {
		off = ps->line;
		while (off < eol && is_blank((unsigned char)buf[off]))
			off++;
	}
	if (off == eol) { /* blank line: no separators can be in it */
		ps->line = next;
		ps->line_sep = sep_end;
		return 0;
	}
	end = eol;
	while (end > off && is_blank((unsigned char)buf[end - 1]))
		end--;
	id_end = nsep ? msg->seps[ps->line_sep] : end;
	if (id_end - off != 3 || !is_seg_id(buf + off)) {
		char shown[24];
		printable(shown, sizeof(shown), buf + off, ART_MIN(id_end - off, (size_t)20));
		perr(ps, msg->nsegs, "?", 0, off, "invalid segment id \"%s\"", shown);
		return -1;
	}
	memcpy(id, buf + off, 3);
	id[3] = '\0';
	if (msg->nsegs > 0 && is_envelope_id(id)) {
		perr(ps, msg->nsegs, id, 0, off,
		     "%s inside a message (a stream or batch: split it with art_hl7_split)", id);
		return -1;
	}
	if (nsep + (msg->nsegs == 0) > ps->opts->max_fields_per_segment) {
		perr(ps, msg->nsegs, id, 0, off, "more than %zu fields (limit)",
		     ps->opts->max_fields_per_segment);
		return -1;
	}
	if (msg->nsegs >= ps->opts->max_segments) {
		perr(ps, msg->nsegs, id, 0, off, "more than %zu segments (limit)",
		     ps->opts->max_segments);
		return -1;
	}
	if (msg->nsegs == msg->segs_cap) {
		size_t cap = msg->segs_cap * 2;
		struct art_hl7_seg *p =
			grow_array(msg->segs, &msg->segs_own, msg->nsegs, cap, sizeof(*p));
		if (!p) {
			perr(ps, msg->nsegs, id, 0, off, "out of memory");
			return -1;
		}
		msg->segs = p;
		msg->segs_cap = cap;
	}
	seg = &msg->segs[msg->nsegs++];
	seg->line = (uint32_t)ps->line;
	seg->off = (uint32_t)off;
	seg->end = (uint32_t)end;
	seg->eol = (uint32_t)eol;
	seg->next = (uint32_t)next;
	seg->fld = (uint32_t)ps->line_sep;
	seg->nsep = (uint32_t)nsep;
	memcpy(seg->id, id, 4);
	ps->line = next;
	ps->line_sep = sep_end;
	return 0;
}

/* Masks of one 64-byte block at p: bit i of *fsm is set when p[i] is the
 * field separator, of *term when it is CR or LF; *high collects bit 7. */
static inline void block_masks(const char *p, char fs, uint64_t *fsm, uint64_t *term,
			       unsigned *high)
{
#ifdef ART_HL7_SSE2
	const __m128i vfs = _mm_set1_epi8(fs), vcr = _mm_set1_epi8('\r'),
		      vlf = _mm_set1_epi8('\n');
	__m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
	__m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
	__m128i v3 = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
	uint64_t f, t;
	f = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, vfs)) |
	    (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v1, vfs)) << 16 |
	    (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v2, vfs)) << 32 |
	    (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v3, vfs)) << 48;
	t = (uint64_t)(unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v0, vcr), _mm_cmpeq_epi8(v0, vlf))) |
	    (uint64_t)(unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v1, vcr), _mm_cmpeq_epi8(v1, vlf)))
		    << 16 |
	    (uint64_t)(unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v2, vcr), _mm_cmpeq_epi8(v2, vlf)))
		    << 32 |
	    (uint64_t)(unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v3, vcr), _mm_cmpeq_epi8(v3, vlf)))
		    << 48;
	*high |= (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(v0, v1), _mm_or_si128(v2, v3)));
	*fsm = f;
	*term = t;
#else
	uint64_t f = 0, t = 0;
	unsigned h = 0;
	int i;
	for (i = 0; i < 64; i++) {
		unsigned char c = (unsigned char)p[i];
		f |= (uint64_t)(c == (unsigned char)fs) << i;
		t |= (uint64_t)(c == '\r' || c == '\n') << i;
		h |= c;
	}
	*high |= h & 0x80;
	*fsm = f;
	*term = t;
#endif
}

/* Population count without needing -mpopcnt (libgcc's is a call). */
static inline unsigned popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
	return (unsigned)((x * 0x0101010101010101ULL) >> 56);
}

/* Appends base + the index of every set bit of `bits`, in order, writing
 * in groups of 8 (seps must have room for popcount + 8). */
static inline void flatten(uint32_t *out, uint32_t base, uint64_t bits)
{
	int cnt = (int)popcount64(bits), i = 0;
	const uint64_t top = 1ULL << 63; /* keeps ctz defined once bits runs out */
	while (i < cnt) {
		out[i + 0] = base + (uint32_t)__builtin_ctzll(bits | top);
		bits &= bits - 1;
		out[i + 1] = base + (uint32_t)__builtin_ctzll(bits | top);
		bits &= bits - 1;
		out[i + 2] = base + (uint32_t)__builtin_ctzll(bits | top);
		bits &= bits - 1;
		out[i + 3] = base + (uint32_t)__builtin_ctzll(bits | top);
		bits &= bits - 1;
		out[i + 4] = base + (uint32_t)__builtin_ctzll(bits | top);
		bits &= bits - 1;
		out[i + 5] = base + (uint32_t)__builtin_ctzll(bits | top);
		bits &= bits - 1;
		out[i + 6] = base + (uint32_t)__builtin_ctzll(bits | top);
		bits &= bits - 1;
		out[i + 7] = base + (uint32_t)__builtin_ctzll(bits | top);
		bits &= bits - 1;
		i += 8;
	}
}

/* The single structural pass from `from` to the end, 64 bytes at a time
 * (the last partial block is copied into a zero-padded buffer, so nothing
 * past len is read). Sets *high when any byte >= 0x80 was seen. */
static int scan(struct parser *ps, size_t from, char fs, int *high)
{
	struct art_hl7_msg *msg = ps->msg;
	const char *buf = msg->buf;
	size_t len = msg->len, p = from, skip = (size_t)-1;
	unsigned hi = 0;
	char tail[64];

	while (p < len) {
		const char *blk = buf + p;
		uint64_t fsm, term;
		size_t base_sep;
		if (len - p < 64) {
			memset(tail, 0, sizeof(tail));
			memcpy(tail, buf + p, len - p);
			blk = tail;
		}
		block_masks(blk, fs, &fsm, &term, &hi);
		if (len - p < 64) {
			uint64_t valid = (1ULL << (len - p)) - 1;
			fsm &= valid;
			term &= valid;
		}
		if (grow_seps(ps, 64 + 8) < 0)
			return -1;
		base_sep = msg->nseps;
		flatten(msg->seps + base_sep, (uint32_t)p, fsm);
		msg->nseps += popcount64(fsm);
		while (term) {
			unsigned b = (unsigned)__builtin_ctzll(term);
			size_t at = p + b, next = at + 1;
			term &= term - 1;
			if (at == skip)
				continue;
			if (buf[at] == '\r' && next < len && buf[next] == '\n') {
				skip = next;
				next++;
			}
			if (end_line(ps, at, next,
				     base_sep + popcount64(fsm & ((1ULL << b) - 1))) < 0)
				return -1;
		}
		p += 64;
	}
	/* the last line, unterminated */
	if (ps->line < len && end_line(ps, len, len, msg->nseps) < 0)
		return -1;
	*high = hi != 0;
	return 0;
}

/* Field `field` of segment s as a raw span (see art_hl7_field). */
static int seg_field(const struct art_hl7_msg *msg, const struct art_hl7_seg *s, size_t field,
		     struct art_hl7_span *out)
{
	size_t token, start, stop;
	int msh = s->id[0] == 'M' && s->id[1] == 'S' && s->id[2] == 'H';
	if (field == 0) {
		out->p = msg->buf + s->off;
		out->len = 3;
		return 1;
	}
	if (msh) {
		if (field == 1) {
			out->p = msg->buf + s->off + 3;
			out->len = 1;
			return 1;
		}
		token = field - 1;
	} else {
		token = field;
	}
	if (token > s->nsep)
		return 0;
	start = msg->seps[s->fld + token - 1] + 1;
	stop = token < s->nsep ? msg->seps[s->fld + token] : s->end;
	out->p = msg->buf + start;
	out->len = stop - start;
	return 1;
}

/* Locates byte offset o: 0-based segment (or (size_t)-1) and field. */
static void locate(const struct art_hl7_msg *msg, size_t o, size_t *segi, size_t *field)
{
	size_t lo = 0, hi = msg->nsegs, k;
	const struct art_hl7_seg *s;
	*segi = (size_t)-1;
	*field = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (msg->segs[mid].line <= o)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return;
	*segi = lo - 1;
	s = &msg->segs[lo - 1];
	for (k = 0; k < s->nsep && msg->seps[s->fld + k] <= o; k++)
		;
	*field = (memcmp(s->id, "MSH", 3) == 0) ? k + 1 : k;
}

/* A message type code (MSH-9.1): an upper-case letter, then upper-case
 * letters, digits or '_' (table 0076 codes are 3 letters; Z codes and
 * site-specific codes such as "CUSTOM" exist). */
static int is_msg_code(const struct art_hl7_span *c)
{
	size_t i;
	if (c->len == 0 || c->len > 20 || c->p[0] < 'A' || c->p[0] > 'Z')
		return 0;
	for (i = 1; i < c->len; i++)
		if (!is_upper_or_digit((unsigned char)c->p[i]) && c->p[i] != '_')
			return 0;
	return 1;
}

static int version_known(const struct art_hl7_span *v)
{
	size_t i;
	if (v->len < 3 || v->p[0] != '2' || v->p[1] != '.' || v->p[2] < '1' || v->p[2] > '8')
		return 0;
	if (v->len == 3)
		return 1;
	if (v->len < 5 || v->p[3] != '.')
		return 0;
	for (i = 4; i < v->len; i++)
		if (v->p[i] < '0' || v->p[i] > '9')
			return 0;
	return 1;
}

/* The part of sp before the first a or b (b may be 0); short spans, so a
 * byte loop. */
static struct art_hl7_span prefix_until(const struct art_hl7_span *sp, char a, char b)
{
	struct art_hl7_span r = {sp->p, 0};
	while (r.len < sp->len && sp->p[r.len] != a && (b == 0 || sp->p[r.len] != b))
		r.len++;
	return r;
}

/* Validates MSH-2 and fills the delimiters. */
static int parse_delims(struct parser *ps)
{
	struct art_hl7_msg *msg = ps->msg;
	const struct art_hl7_seg *s = &msg->segs[0];
	struct art_hl7_delims *d = &msg->hdr.delims;
	struct art_hl7_span enc;
	char shown[24];
	size_t i, k;

	memset(d, 0, sizeof(*d));
	d->field = msg->buf[s->off + 3];
	if (!seg_field(msg, s, 2, &enc) || enc.len == 0) {
		perr(ps, 0, "MSH", 2, s->off + 4, "MSH-2 (encoding characters) is empty");
		return -1;
	}
	printable(shown, sizeof(shown), enc.p, ART_MIN(enc.len, (size_t)20));
	if (enc.len < 4 || enc.len > 5) {
		perr(ps, 0, "MSH", 2, (size_t)(enc.p - msg->buf),
		     "MSH-2 must hold 4 or 5 encoding characters, got %zu (\"%s\")", enc.len,
		     shown);
		return -1;
	}
	for (i = 0; i < enc.len; i++) {
		unsigned char c = (unsigned char)enc.p[i];
		if (!is_punct(c)) {
			perr(ps, 0, "MSH", 2, (size_t)(enc.p - msg->buf) + i,
			     "MSH-2 encoding character %zu is not printable punctuation (\"%s\")",
			     i + 1, shown);
			return -1;
		}
		for (k = 0; k < i; k++) {
			if (enc.p[k] == enc.p[i]) {
				perr(ps, 0, "MSH", 2, (size_t)(enc.p - msg->buf) + i,
				     "MSH-2 repeats the encoding character '%c' (\"%s\")", c,
				     shown);
				return -1;
			}
		}
	}
	d->comp = enc.p[0];
	d->rep = enc.p[1];
	d->esc = enc.p[2];
	d->sub = enc.p[3];
	d->trunc = enc.len == 5 ? enc.p[4] : 0;
	return 0;
}

/* Fills msg->hdr from the MSH and checks what must hold: MSH-9, MSH-12,
 * MSH-18 and the bytes under that charset. */
static int parse_header(struct parser *ps, int high)
{
	struct art_hl7_msg *msg = ps->msg;
	struct art_hl7_header *h = &msg->hdr;
	const struct art_hl7_seg *s = &msg->segs[0];
	char shown[40];
	size_t bad;

	if (parse_delims(ps) < 0)
		return -1;
	{
		const char rep = h->delims.rep, comp = h->delims.comp;
		struct art_hl7_span f;
		seg_field(msg, s, 3, &h->sending_app);
		seg_field(msg, s, 4, &h->sending_facility);
		seg_field(msg, s, 5, &h->receiving_app);
		seg_field(msg, s, 6, &h->receiving_facility);
		if (seg_field(msg, s, 7, &f))
			h->datetime = prefix_until(&f, rep, comp);
		if (seg_field(msg, s, 9, &f)) {
			struct art_hl7_span r = prefix_until(&f, rep, 0), rest;
			h->msg_type = prefix_until(&r, comp, 0);
			if (h->msg_type.len < r.len) {
				rest.p = h->msg_type.p + h->msg_type.len + 1;
				rest.len = r.len - h->msg_type.len - 1;
				h->trigger = prefix_until(&rest, comp, 0);
				if (h->trigger.len < rest.len) {
					rest.p = h->trigger.p + h->trigger.len + 1;
					rest.len -= h->trigger.len + 1;
					h->structure = prefix_until(&rest, comp, 0);
				}
			}
		}
		seg_field(msg, s, 10, &h->control_id);
		if (seg_field(msg, s, 11, &f))
			h->processing_id = prefix_until(&f, rep, comp);
		if (seg_field(msg, s, 12, &f))
			h->version = prefix_until(&f, rep, comp);
		seg_field(msg, s, 15, &h->accept_ack);
		seg_field(msg, s, 16, &h->app_ack);
		if (seg_field(msg, s, 18, &f))
			h->charset_name = prefix_until(&f, rep, 0);
	}

	if (!is_msg_code(&h->msg_type)) {
		printable(shown, sizeof(shown), h->msg_type.p, ART_MIN(h->msg_type.len, (size_t)30));
		if (!ps->opts->allow_incomplete_msh) {
			if (h->msg_type.len)
				perr(ps, 0, "MSH", 9, s->off,
				     "MSH-9.1 \"%s\" is not a message type code", shown);
			else
				perr(ps, 0, "MSH", 9, s->off, "MSH-9 (message type) is empty");
			return -1;
		}
		msg_warn(msg, "MSH-9.1 \"%s\" is not a message type code", shown);
	}
	if (h->version.len == 0) {
		if (!ps->opts->allow_incomplete_msh) {
			perr(ps, 0, "MSH", 12, s->off, "MSH-12 (version) is empty");
			return -1;
		}
		msg_warn(msg, "MSH-12 (version) is empty");
	} else {
		h->version_known = version_known(&h->version);
		if (!h->version_known) {
			printable(shown, sizeof(shown), h->version.p,
				  ART_MIN(h->version.len, (size_t)30));
			msg_warn(msg, "unknown HL7 version \"%s%s\" accepted", shown,
				 h->version.len > 30 ? "..." : "");
		}
	}
	if (h->delims.trunc && h->version_known && h->version.p[2] < '7')
		msg_warn(msg, "truncation character declared in MSH-2 before v2.7");

	if (art_hl7_charset_lookup(h->charset_name.p, h->charset_name.len, &h->charset) < 0) {
		printable(shown, sizeof(shown), h->charset_name.p,
			  ART_MIN(h->charset_name.len, (size_t)30));
		perr(ps, 0, "MSH", 18, (size_t)(h->charset_name.p - msg->buf),
		     "unknown or unsupported character set \"%s\"", shown);
		return -1;
	}
	if (!high)
		return 0;
	switch (h->charset) {
	case ART_HL7_CS_LATIN1:
	case ART_HL7_CS_LATIN9:
		return 0;
	case ART_HL7_CS_ASCII:
		if (h->charset_name.len) { /* declared ASCII: the bytes must be */
			size_t i, segi, field;
			for (i = 0; i < msg->len && !((unsigned char)msg->buf[i] & 0x80); i++)
				;
			locate(msg, i, &segi, &field);
			perr(ps, segi, segi == (size_t)-1 ? NULL : msg->segs[segi].id, field, i,
			     "byte 0x%02X is not ASCII (MSH-18 declares ASCII)",
			     (unsigned char)msg->buf[i]);
			return -1;
		}
		if (utf8_valid((const unsigned char *)msg->buf, msg->len, &bad)) {
			h->charset = ART_HL7_CS_UTF8;
			msg_warn(msg, "non-ASCII bytes without MSH-18: read as UTF-8");
		} else {
			h->charset = ART_HL7_CS_LATIN1;
			msg_warn(msg, "non-ASCII bytes without MSH-18, not UTF-8: read as 8859/1");
		}
		return 0;
	case ART_HL7_CS_UTF8:
		if (!utf8_valid((const unsigned char *)msg->buf, msg->len, &bad)) {
			size_t segi, field;
			locate(msg, bad, &segi, &field);
			perr(ps, segi, segi == (size_t)-1 ? NULL : msg->segs[segi].id, field, bad,
			     "invalid UTF-8 at byte %zu (MSH-18 declares UTF-8)", bad);
			return -1;
		}
		return 0;
	}
	return 0;
}

struct art_hl7_msg *art_hl7_parse(const char *buf, size_t len, const struct art_hl7_opts *opts,
				  char *errstr, size_t errstr_size)
{
	return art_hl7_parse_ex(buf, len, opts, 1, NULL, errstr, errstr_size);
}

struct art_hl7_msg *art_hl7_parse_ex(const char *buf, size_t len, const struct art_hl7_opts *opts,
				     size_t msg_index, struct art_hl7_errpos *pos, char *errstr,
				     size_t errstr_size)
{
	struct art_hl7_opts defaults = art_hl7_opts_default();
	struct art_hl7_msg *msg;
	struct parser ps;
	size_t p = 0, line = 0, max;
	int high = 0;
	char fs;

	if (!opts)
		opts = &defaults;
	memset(&ps, 0, sizeof(ps));
	ps.opts = opts;
	ps.msg_index = msg_index;
	ps.pos = pos;
	ps.errstr = errstr;
	ps.errstr_size = errstr_size;
	if (pos)
		memset(pos, 0, sizeof(*pos));

	max = ART_MIN(opts->max_message_size, (size_t)UINT32_MAX - 1);
	if (len > max) {
		perr(&ps, (size_t)-1, NULL, 0, 0, "%zu bytes exceed the maximum message size %zu",
		     len, max);
		return NULL;
	}
	/* BOM, then blank lines, then MSH and its field separator */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		p = 3;
	for (; p < len; p++) {
		unsigned char c = (unsigned char)buf[p];
		if (c == '\r' || c == '\n')
			line = p + 1;
		else if (!is_blank(c))
			break;
	}
	if (len - p < 4 || memcmp(buf + p, "MSH", 3) != 0) {
		char shown[24];
		printable(shown, sizeof(shown), buf + p, ART_MIN(len - p, (size_t)8));
		if (p == len)
			perr(&ps, (size_t)-1, NULL, 0, p, "no segments (empty message)");
		else if (len - p >= 3 && is_envelope_id(buf + p))
			perr(&ps, 0, NULL, 0, p,
			     "starts with a batch envelope \"%s\": split it with art_hl7_split",
			     shown);
		else
			perr(&ps, 0, NULL, 0, p, "does not start with an MSH segment (\"%s\")", shown);
		return NULL;
	}
	fs = buf[p + 3];
	if (!is_punct((unsigned char)fs)) {
		perr(&ps, 0, "MSH", 1, p + 3,
		     "MSH-1 field separator 0x%02X is not printable punctuation",
		     (unsigned char)fs);
		return NULL;
	}

	/* one block: the message, then its first segment and separator arrays
	 * (grown into their own allocations only for unusual messages) */
	{
		size_t segs_cap = ART_MIN(len / 48 + 8, opts->max_segments + 1);
		size_t seps_cap = len / 5 + 96;
		size_t head = (sizeof(*msg) + 15) & ~(size_t)15;
		char *block = malloc(head + segs_cap * sizeof(struct art_hl7_seg) +
				     seps_cap * sizeof(uint32_t));
		if (!block) {
			perr(&ps, (size_t)-1, NULL, 0, 0, "out of memory");
			return NULL;
		}
		msg = (struct art_hl7_msg *)(void *)block;
		memset(msg, 0, offsetof(struct art_hl7_msg, warn));
		msg->segs = (struct art_hl7_seg *)(void *)(block + head);
		msg->seps = (uint32_t *)(void *)(block + head + segs_cap * sizeof(struct art_hl7_seg));
		msg->segs_cap = segs_cap;
		msg->seps_cap = seps_cap;
	}
	msg->buf = buf;
	msg->len = len;
	ps.msg = msg;
	ps.line = line;
	ps.msh_off = p;
	if (scan(&ps, p + 3, fs, &high) < 0)
		goto fail;
	if (parse_header(&ps, high) < 0)
		goto fail;
	return msg;
fail:
	art_hl7_msg_destroy(msg);
	return NULL;
}

void art_hl7_msg_destroy(struct art_hl7_msg *msg)
{
	if (!msg)
		return;
	if (msg->segs_own)
		free(msg->segs);
	if (msg->seps_own)
		free(msg->seps);
	free(msg);
}

const struct art_hl7_header *art_hl7_header(const struct art_hl7_msg *msg)
{
	return &msg->hdr;
}

size_t art_hl7_warning_count(const struct art_hl7_msg *msg)
{
	return msg->nwarn;
}

const char *art_hl7_warning(const struct art_hl7_msg *msg, size_t i)
{
	return i < msg->nwarn ? msg->warn[i] : NULL;
}

/* ---- programmatic access -------------------------------------------------------- */

size_t art_hl7_seg_count(const struct art_hl7_msg *msg)
{
	return msg->nsegs;
}

const char *art_hl7_seg_id(const struct art_hl7_msg *msg, size_t i)
{
	return i < msg->nsegs ? msg->segs[i].id : NULL;
}

long art_hl7_seg_find(const struct art_hl7_msg *msg, const char *id, size_t from)
{
	size_t i;
	if (strlen(id) != 3)
		return -1;
	for (i = from; i < msg->nsegs; i++)
		if (memcmp(msg->segs[i].id, id, 3) == 0)
			return (long)i;
	return -1;
}

int art_hl7_seg_raw(const struct art_hl7_msg *msg, size_t i, struct art_hl7_span *out)
{
	if (i >= msg->nsegs)
		return 0;
	out->p = msg->buf + msg->segs[i].off;
	out->len = msg->segs[i].end - msg->segs[i].off;
	return 1;
}

size_t art_hl7_field_count(const struct art_hl7_msg *msg, size_t i)
{
	const struct art_hl7_seg *s;
	if (i >= msg->nsegs)
		return 0;
	s = &msg->segs[i];
	return memcmp(s->id, "MSH", 3) == 0 ? (size_t)s->nsep + 1 : s->nsep;
}

int art_hl7_field(const struct art_hl7_msg *msg, size_t i, size_t field, struct art_hl7_span *out)
{
	if (i >= msg->nsegs || field == 0)
		return 0;
	return seg_field(msg, &msg->segs[i], field, out);
}

int art_hl7_at(const struct art_hl7_msg *msg, size_t i, size_t field, size_t rep, size_t comp,
	       size_t sub, struct art_hl7_span *out)
{
	const struct art_hl7_delims *d = &msg->hdr.delims;
	struct art_hl7_span f, r, c;
	if (!art_hl7_field(msg, i, field, &f))
		return 0;
	if (field <= 2 && i < msg->nsegs && memcmp(msg->segs[i].id, "MSH", 3) == 0) {
		if (rep > 1 || comp > 1 || sub > 1)
			return 0;
		*out = f;
		return 1;
	}
	if (rep == 0 && comp == 0 && sub == 0) {
		*out = f;
		return 1;
	}
	if (!art_hl7_span_piece(&f, d->rep, rep ? rep : 1, &r))
		return 0;
	if (comp == 0 && sub == 0) {
		*out = r;
		return 1;
	}
	if (!art_hl7_span_piece(&r, d->comp, comp ? comp : 1, &c))
		return 0;
	if (sub == 0) {
		*out = c;
		return 1;
	}
	return art_hl7_span_piece(&c, d->sub, sub, out);
}

/* ---- paths ----------------------------------------------------------------------- */

struct path {
	char id[4];
	size_t occ, field, rep, comp, sub; /* 0 = not given */
};

/* Reads a 1-based decimal number (1..999999). */
static int path_num(const char **s, size_t *out)
{
	size_t v = 0, n = 0;
	while (**s >= '0' && **s <= '9') {
		v = v * 10 + (size_t)(**s - '0');
		(*s)++;
		if (++n > 6)
			return -1;
	}
	if (n == 0 || v == 0)
		return -1;
	*out = v;
	return 0;
}

static int path_bracket(const char **s, size_t *out)
{
	if (**s != '[')
		return 0;
	(*s)++;
	if (path_num(s, out) < 0 || **s != ']')
		return -1;
	(*s)++;
	return 0;
}

static int parse_path(const char *text, struct path *pp, char *errstr, size_t errstr_size)
{
	const char *s = text;
	memset(pp, 0, sizeof(*pp));
	if (strlen(text) < 5 || !is_seg_id(text))
		goto bad;
	memcpy(pp->id, text, 3);
	s += 3;
	if (path_bracket(&s, &pp->occ) < 0)
		goto bad;
	if (*s != '-')
		goto bad;
	s++;
	if (path_num(&s, &pp->field) < 0 || path_bracket(&s, &pp->rep) < 0)
		goto bad;
	if (*s == '.' || *s == '-') {
		s++;
		if (path_num(&s, &pp->comp) < 0)
			goto bad;
		if (*s == '.' || *s == '-') {
			s++;
			if (path_num(&s, &pp->sub) < 0)
				goto bad;
		}
	}
	if (*s != '\0')
		goto bad;
	return 0;
bad:
	snprintf(errstr, errstr_size,
		 "bad path \"%.40s\": expected SEG[n]-F[r].C.S, e.g. PID-3[2].4", text);
	return -1;
}

/* Resolves the segment of a path; returns its index or -1 (absent). */
static long path_seg(const struct art_hl7_msg *msg, const struct path *pp)
{
	size_t want = pp->occ ? pp->occ : 1;
	long i = -1;
	while (want-- > 0) {
		i = art_hl7_seg_find(msg, pp->id, (size_t)(i + 1));
		if (i < 0)
			return -1;
	}
	return i;
}

static enum art_hl7_val classify(const struct art_hl7_span *sp)
{
	if (sp->len == 0)
		return ART_HL7_ABSENT;
	if (sp->len == 2 && sp->p[0] == '"' && sp->p[1] == '"')
		return ART_HL7_NULL;
	return ART_HL7_VALUE;
}

enum art_hl7_val art_hl7_get_raw(const struct art_hl7_msg *msg, const char *path,
				 struct art_hl7_span *out, char *errstr, size_t errstr_size)
{
	struct path pp;
	long i;
	out->p = msg->buf;
	out->len = 0;
	if (parse_path(path, &pp, errstr, errstr_size) < 0)
		return ART_HL7_ERROR;
	i = path_seg(msg, &pp);
	if (i < 0 || !art_hl7_at(msg, (size_t)i, pp.field, pp.rep, pp.comp, pp.sub, out))
		return ART_HL7_ABSENT;
	return classify(out);
}

enum art_hl7_val art_hl7_get(const struct art_hl7_msg *msg, const char *path,
			     struct art_buf *out, unsigned *flags, char *errstr,
			     size_t errstr_size)
{
	struct path pp;
	struct art_hl7_span sp;
	enum art_hl7_val v;
	long i;
	art_buf_reset(out);
	if (flags)
		*flags = 0;
	if (parse_path(path, &pp, errstr, errstr_size) < 0)
		return ART_HL7_ERROR;
	i = path_seg(msg, &pp);
	if (i < 0 || !art_hl7_at(msg, (size_t)i, pp.field, pp.rep ? pp.rep : 1,
				 pp.comp ? pp.comp : 1, pp.sub ? pp.sub : 1, &sp))
		return ART_HL7_ABSENT;
	v = classify(&sp);
	if (v != ART_HL7_VALUE)
		return v;
	if (pp.field <= 2 && memcmp(pp.id, "MSH", 3) == 0) {
		if (art_buf_append(out, sp.p, sp.len) < 0) {
			snprintf(errstr, errstr_size, "%s: value exceeds %zu bytes", path, out->max);
			return ART_HL7_ERROR;
		}
		return ART_HL7_VALUE;
	}
	if (art_hl7_decode(msg, &sp, out, flags, errstr, errstr_size) < 0)
		return ART_HL7_ERROR;
	return ART_HL7_VALUE;
}

/* ---- decoding ---------------------------------------------------------------------- */

/* Appends bytes in the message charset, transcoded to UTF-8. */
static int put_text(const struct art_hl7_msg *msg, struct art_buf *out, const char *p, size_t n)
{
	static const uint16_t latin9[8][2] = {
		{0xA4, 0x20AC}, {0xA6, 0x0160}, {0xA8, 0x0161}, {0xB4, 0x017D},
		{0xB8, 0x017E}, {0xBC, 0x0152}, {0xBD, 0x0153}, {0xBE, 0x0178},
	};
	enum art_hl7_charset cs = msg->hdr.charset;
	size_t i, run = 0;
	if (cs != ART_HL7_CS_LATIN1 && cs != ART_HL7_CS_LATIN9)
		return art_buf_append(out, p, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		uint32_t cp = c;
		char u[3];
		size_t k;
		if (c < 0x80)
			continue;
		if (art_buf_append(out, p + run, i - run) < 0)
			return -1;
		run = i + 1;
		if (cs == ART_HL7_CS_LATIN9)
			for (k = 0; k < ART_ARRAY_SIZE(latin9); k++)
				if (latin9[k][0] == c)
					cp = latin9[k][1];
		if (cp < 0x800) {
			u[0] = (char)(0xC0 | (cp >> 6));
			u[1] = (char)(0x80 | (cp & 0x3F));
			k = 2;
		} else {
			u[0] = (char)(0xE0 | (cp >> 12));
			u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
			u[2] = (char)(0x80 | (cp & 0x3F));
			k = 3;
		}
		if (art_buf_append(out, u, k) < 0)
			return -1;
	}
	return art_buf_append(out, p + run, n - run);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int art_hl7_decode(const struct art_hl7_msg *msg, const struct art_hl7_span *raw,
		   struct art_buf *out, unsigned *flags, char *errstr, size_t errstr_size)
{
	const struct art_hl7_delims *d = &msg->hdr.delims;
	const char *p = raw->p, *e = raw->p + raw->len;
	size_t start = out->len;
	unsigned fl = 0;
	int hex_high = 0;

	if (d->trunc && raw->len > 0 && e[-1] == d->trunc) {
		fl |= ART_HL7_DEC_TRUNCATED;
		e--;
	}
	while (p < e) {
		const char *q = d->esc ? memchr(p, d->esc, (size_t)(e - p)) : NULL;
		const char *b, *close;
		size_t blen;
		char one = 0;
		if (!q) {
			if (put_text(msg, out, p, (size_t)(e - p)) < 0)
				goto full;
			break;
		}
		if (put_text(msg, out, p, (size_t)(q - p)) < 0)
			goto full;
		b = q + 1;
		close = memchr(b, d->esc, (size_t)(e - b));
		if (!close) { /* unterminated: keep the rest verbatim */
			fl |= ART_HL7_DEC_UNKNOWN_ESC;
			if (put_text(msg, out, q, (size_t)(e - q)) < 0)
				goto full;
			break;
		}
		blen = (size_t)(close - b);
		p = close + 1;
		if (blen == 1) {
			switch (b[0]) {
			case 'F': one = d->field; break;
			case 'S': one = d->comp; break;
			case 'T': one = d->sub; break;
			case 'R': one = d->rep; break;
			case 'E': one = d->esc; break;
			case 'P': one = d->trunc; break;
			case 'H':
			case 'N':
				fl |= ART_HL7_DEC_FORMATTING;
				continue;
			default: break;
			}
			if (one) {
				if (art_buf_putc(out, one) < 0)
					goto full;
				continue;
			}
		} else if (blen == 3 && memcmp(b, ".br", 3) == 0) {
			fl |= ART_HL7_DEC_FORMATTING;
			if (art_buf_putc(out, '\n') < 0)
				goto full;
			continue;
		} else if (blen >= 3 && b[0] == 'X' && (blen - 1) % 2 == 0) {
			size_t k;
			for (k = 1; k < blen && hexval(b[k]) >= 0; k++)
				;
			if (k == blen) {
				char bytes[64];
				size_t nb = 0;
				for (k = 1; k < blen; k += 2) {
					bytes[nb++] = (char)(hexval(b[k]) * 16 + hexval(b[k + 1]));
					if ((unsigned char)bytes[nb - 1] & 0x80)
						hex_high = 1;
					if (nb == sizeof(bytes) || k + 2 >= blen) {
						if (put_text(msg, out, bytes, nb) < 0)
							goto full;
						nb = 0;
					}
				}
				continue;
			}
		} else if (blen >= 2 && b[0] == '.') {
			fl |= ART_HL7_DEC_FORMATTING; /* .sp .in .ti .sk .ce .fi .nf: kept */
			if (put_text(msg, out, q, blen + 2) < 0)
				goto full;
			continue;
		}
		fl |= ART_HL7_DEC_UNKNOWN_ESC;
		if (put_text(msg, out, q, blen + 2) < 0)
			goto full;
	}
	if (hex_high && (msg->hdr.charset == ART_HL7_CS_UTF8 || msg->hdr.charset == ART_HL7_CS_ASCII)) {
		size_t bad;
		if (!utf8_valid((const unsigned char *)out->p + start, out->len - start, &bad)) {
			snprintf(errstr, errstr_size,
				 "\\X escape yields invalid UTF-8 under charset %s",
				 art_hl7_charset_name(msg->hdr.charset));
			out->len = start;
			if (out->p)
				out->p[start] = '\0';
			return -1;
		}
	}
	if (flags)
		*flags |= fl;
	return 0;
full:
	snprintf(errstr, errstr_size, "decoded value exceeds %zu bytes", out->max);
	return -1;
}

/* ---- re-encoding -------------------------------------------------------------------- */

int art_hl7_normalise(const char *buf, size_t len, struct art_buf *out)
{
	size_t p = 0, run = 0;
	while (p < len) {
		char c = buf[p];
		if (c != '\r' && c != '\n') {
			p++;
			continue;
		}
		if (art_buf_append(out, buf + run, p - run) < 0 || art_buf_putc(out, '\r') < 0)
			return -1;
		p += (c == '\r' && p + 1 < len && buf[p + 1] == '\n') ? 2 : 1;
		run = p;
	}
	return art_buf_append(out, buf + run, len - run);
}

int art_hl7_encode(const struct art_hl7_msg *msg, struct art_buf *out)
{
	size_t i, gap = 0;
	for (i = 0; i < msg->nsegs; i++) {
		const struct art_hl7_seg *s = &msg->segs[i];
		if (art_hl7_normalise(msg->buf + gap, s->line - gap, out) < 0)
			return -1;
		if (art_buf_append(out, msg->buf + s->line, s->eol - s->line) < 0)
			return -1;
		if (s->next > s->eol && art_buf_putc(out, '\r') < 0)
			return -1;
		gap = s->next;
	}
	return art_hl7_normalise(msg->buf + gap, msg->len - gap, out);
}

int art_hl7_encode_canonical(const struct art_hl7_msg *msg, struct art_buf *out)
{
	size_t i;
	for (i = 0; i < msg->nsegs; i++) {
		const struct art_hl7_seg *s = &msg->segs[i];
		if (art_buf_append(out, msg->buf + s->off, s->end - s->off) < 0 ||
		    art_buf_putc(out, '\r') < 0)
			return -1;
	}
	return 0;
}

/* ---- splitting ------------------------------------------------------------------------ */

struct splitter {
	const char *buf;
	size_t len;
	const struct art_hl7_opts *opts;
	struct art_hl7_split *out;
	size_t msgs_cap, batches_cap;
	int in_msg;            /* a message is open */
	size_t msg_off;        /* its "MSH" */
	size_t msg_last;       /* end of its last segment line, terminator included */
	long batch;            /* open batch, or -1 */
	size_t unbatched;      /* first message not yet in any batch */
	int fhs, fts;          /* FHS / FTS seen */
};

static void split_warn(struct art_hl7_split *sp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void split_warn(struct art_hl7_split *sp, const char *fmt, ...)
{
	va_list ap;
	sp->nwarnings_total++;
	if (sp->nwarnings >= ART_HL7_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(sp->warnings[sp->nwarnings], ART_HL7_WARNING_SIZE, fmt, ap);
	va_end(ap);
	sp->nwarnings++;
}

static int close_msg(struct splitter *st, char *errstr, size_t errstr_size)
{
	struct art_hl7_split *sp = st->out;
	struct art_hl7_msgspan *m;
	if (!st->in_msg)
		return 0;
	st->in_msg = 0;
	if (sp->nmsgs >= st->opts->max_messages) {
		snprintf(errstr, errstr_size, "more than %zu messages (limit)",
			 st->opts->max_messages);
		return -1;
	}
	if (sp->nmsgs == st->msgs_cap) {
		size_t cap = st->msgs_cap ? st->msgs_cap * 2 : 8;
		m = realloc(sp->msgs, cap * sizeof(*m));
		if (!m) {
			snprintf(errstr, errstr_size, "out of memory");
			return -1;
		}
		sp->msgs = m;
		st->msgs_cap = cap;
	}
	m = &sp->msgs[sp->nmsgs++];
	m->off = st->msg_off;
	m->len = st->msg_last - st->msg_off;
	m->batch = st->batch;
	if (st->batch >= 0)
		sp->batches[st->batch].nmsgs++;
	return 0;
}

static long new_batch(struct splitter *st, char *errstr, size_t errstr_size)
{
	struct art_hl7_split *sp = st->out;
	struct art_hl7_batch *b;
	if (sp->nbatches == st->batches_cap) {
		size_t cap = st->batches_cap ? st->batches_cap * 2 : 4;
		if (cap > st->opts->max_messages + 1) {
			snprintf(errstr, errstr_size, "too many batches (limit)");
			return -1;
		}
		b = realloc(sp->batches, cap * sizeof(*b));
		if (!b) {
			snprintf(errstr, errstr_size, "out of memory");
			return -1;
		}
		sp->batches = b;
		st->batches_cap = cap;
	}
	b = &sp->batches[sp->nbatches];
	memset(b, 0, sizeof(*b));
	b->declared = -1;
	b->first_msg = sp->nmsgs;
	return (long)sp->nbatches++;
}

/* Closes the open batch (or, for a BTS without BHS, the messages since
 * the last batch) with its trailer line (bts_len 0 when there is none). */
static int close_batch(struct splitter *st, size_t bts_off, size_t bts_len, char *errstr,
		       size_t errstr_size)
{
	struct art_hl7_split *sp = st->out;
	struct art_hl7_batch *b;
	struct art_hl7_span f;
	size_t k;
	if (st->batch < 0) {
		long nb;
		if (!bts_len)
			return 0;
		split_warn(sp, "BTS at byte %zu without BHS: closes the %zu message(s) before it",
			   bts_off, sp->nmsgs - st->unbatched);
		nb = new_batch(st, errstr, errstr_size);
		if (nb < 0)
			return -1;
		b = &sp->batches[nb];
		b->first_msg = st->unbatched;
		b->nmsgs = sp->nmsgs - st->unbatched;
		for (k = b->first_msg; k < sp->nmsgs; k++)
			sp->msgs[k].batch = nb;
	} else {
		b = &sp->batches[st->batch];
	}
	b->bts_off = bts_off;
	b->bts_len = bts_len;
	if (bts_len && art_hl7_segment_field(st->buf + bts_off, bts_len, 0, 1, &f))
		b->declared = span_to_long(f.p, f.len);
	if (!bts_len)
		split_warn(sp, "batch %zu has no BTS trailer", (size_t)(b - sp->batches) + 1);
	else if (b->declared >= 0 && (size_t)b->declared != b->nmsgs)
		split_warn(sp, "batch %zu: BTS-1 declares %ld messages, found %zu",
			   (size_t)(b - sp->batches) + 1, b->declared, b->nmsgs);
	st->batch = -1;
	st->unbatched = sp->nmsgs;
	return 0;
}

/* What a trimmed line is. */
enum line_kind { LK_TEXT, LK_SEGMENT, LK_MSH, LK_BHS, LK_BTS, LK_FHS, LK_FTS };

static enum line_kind classify_line(const char *p, size_t n)
{
	if (n < 3 || !is_seg_id(p) || (n > 3 && !is_punct((unsigned char)p[3])))
		return LK_TEXT;
	if (memcmp(p, "MSH", 3) == 0)
		return LK_MSH;
	if (memcmp(p, "BHS", 3) == 0)
		return LK_BHS;
	if (memcmp(p, "BTS", 3) == 0)
		return LK_BTS;
	if (memcmp(p, "FHS", 3) == 0)
		return LK_FHS;
	if (memcmp(p, "FTS", 3) == 0)
		return LK_FTS;
	return LK_SEGMENT;
}

int art_hl7_split(const char *buf, size_t len, const struct art_hl7_opts *opts,
		  struct art_hl7_split *out, struct art_hl7_errpos *pos, char *errstr,
		  size_t errstr_size)
{
	struct art_hl7_opts defaults = art_hl7_opts_default();
	struct splitter st;
	size_t i = 0, next_cr = 0, next_lf = 0;
	int have_cr = 0, have_lf = 0;
	struct art_hl7_span f;

	if (!opts)
		opts = &defaults;
	memset(out, 0, sizeof(*out));
	out->fts_declared = -1;
	if (pos)
		memset(pos, 0, sizeof(*pos));
	memset(&st, 0, sizeof(st));
	st.buf = buf;
	st.len = len;
	st.opts = opts;
	st.out = out;
	st.batch = -1;

	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len) {
		size_t eol, nxt, t, e;
		const char *q;
		enum line_kind kind;
		/* next terminator, with cached memchr results */
		if (!have_cr || next_cr < i) {
			q = memchr(buf + i, '\r', len - i);
			next_cr = q ? (size_t)(q - buf) : len;
			have_cr = 1;
		}
		if (!have_lf || next_lf < i) {
			q = memchr(buf + i, '\n', len - i);
			next_lf = q ? (size_t)(q - buf) : len;
			have_lf = 1;
		}
		eol = ART_MIN(next_cr, next_lf);
		nxt = eol < len ? eol + 1 : len;
		if (eol < len && buf[eol] == '\r' && nxt < len && buf[nxt] == '\n')
			nxt++;
		t = i;
		e = eol;
		while (t < e && is_blank((unsigned char)buf[t]))
			t++;
		while (e > t && is_blank((unsigned char)buf[e - 1]))
			e--;
		i = nxt;
		if (t == e)
			continue;
		kind = classify_line(buf + t, e - t);
		if (kind != LK_SEGMENT && kind != LK_TEXT) {
			if (close_msg(&st, errstr, errstr_size) < 0)
				goto fail_at;
		}
		switch (kind) {
		case LK_MSH:
			if (st.fts)
				split_warn(out, "MSH at byte %zu after FTS", t);
			st.in_msg = 1;
			st.msg_off = t;
			st.msg_last = nxt;
			break;
		case LK_BHS:
			if (st.batch >= 0) {
				split_warn(out, "BHS at byte %zu opens a batch while batch %ld is open",
					   t, st.batch + 1);
				if (close_batch(&st, 0, 0, errstr, errstr_size) < 0)
					goto fail_at;
			}
			st.batch = new_batch(&st, errstr, errstr_size);
			if (st.batch < 0)
				goto fail_at;
			out->batches[st.batch].bhs_off = t;
			out->batches[st.batch].bhs_len = e - t;
			break;
		case LK_BTS:
			if (close_batch(&st, t, e - t, errstr, errstr_size) < 0)
				goto fail_at;
			break;
		case LK_FHS:
			if (st.fhs) {
				snprintf(errstr, errstr_size,
					 "second FHS at byte %zu: one file header per buffer", t);
				goto fail_at;
			}
			if (out->nmsgs || out->nbatches)
				split_warn(out, "FHS at byte %zu after the first message", t);
			st.fhs = 1;
			out->fhs_off = t;
			out->fhs_len = e - t;
			break;
		case LK_FTS:
			if (st.batch >= 0 && close_batch(&st, 0, 0, errstr, errstr_size) < 0)
				goto fail_at;
			if (!st.fhs)
				split_warn(out, "FTS at byte %zu without FHS", t);
			if (st.fts)
				split_warn(out, "second FTS at byte %zu", t);
			st.fts = 1;
			out->fts_off = t;
			out->fts_len = e - t;
			if (art_hl7_segment_field(buf + t, e - t, 0, 1, &f))
				out->fts_declared = span_to_long(f.p, f.len);
			break;
		case LK_SEGMENT:
			if (!st.in_msg) {
				char id[4];
				memcpy(id, buf + t, 3);
				id[3] = '\0';
				snprintf(errstr, errstr_size,
					 "segment %s at byte %zu is outside any message (no MSH before it)",
					 id, t);
				if (pos)
					memcpy(pos->seg_id, id, 4);
				goto fail_at_t;
			}
			st.msg_last = nxt;
			break;
		case LK_TEXT:
			if (st.in_msg) {
				/* stays in the message: art_hl7_parse() names it */
				st.msg_last = nxt;
			} else {
				split_warn(out, "ignored %zu bytes of non-segment text at byte %zu",
					   e - t, t);
				out->skipped_bytes += e - t;
			}
			break;
		}
		continue;
	fail_at_t:
		if (pos) {
			pos->message = out->nmsgs + 1;
			pos->offset = t;
		}
		art_hl7_split_free(out);
		return -1;
	}
	if (close_msg(&st, errstr, errstr_size) < 0)
		goto fail_at;
	if (st.batch >= 0 && close_batch(&st, 0, 0, errstr, errstr_size) < 0)
		goto fail_at;
	if (st.fhs && !st.fts)
		split_warn(out, "FHS without FTS trailer");
	if (out->fts_declared >= 0 && (size_t)out->fts_declared != out->nbatches)
		split_warn(out, "FTS-1 declares %ld batches, found %zu", out->fts_declared,
			   out->nbatches);
	if (out->nmsgs == 0 && !st.fhs && !st.fts && out->nbatches == 0) {
		snprintf(errstr, errstr_size, "no MSH segment found (%zu bytes)", len);
		goto fail_at;
	}
	return 0;
fail_at:
	if (pos) {
		pos->message = out->nmsgs + 1;
		pos->offset = i;
	}
	art_hl7_split_free(out);
	return -1;
}

void art_hl7_split_free(struct art_hl7_split *split)
{
	if (!split)
		return;
	free(split->msgs);
	free(split->batches);
	memset(split, 0, sizeof(*split));
	split->fts_declared = -1;
}
