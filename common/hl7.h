/*
 * hl7.h — the lossless HL7 v2 parser every ingest path uses.
 *
 * Two steps. art_hl7_split() cuts a buffer (a file, an MLLP frame payload,
 * an HTTP body) into messages: FHS/BHS/BTS/FTS envelopes and plain multi-MSH
 * streams, answering spans (offset/len into the input). art_hl7_parse() then
 * parses one message structurally in a single pass: segment boundaries and
 * field boundaries, stored as compact uint32 offsets into the caller's
 * buffer. Repetitions, components, subcomponents, escape sequences and
 * character sets are resolved lazily, on access.
 *
 * Zero-copy: a parsed message REFERENCES the caller's buffer; it owns only
 * its offset tables. The caller keeps the buffer alive and unchanged until
 * art_hl7_msg_destroy(). Every span handed out points into that buffer.
 *
 * Lossless: art_hl7_encode() reproduces the parsed input byte for byte, with
 * each segment terminator (CR, LF or CRLF) written as a single CR — that is
 * the only difference (see art_hl7_normalise() and docs/hl7.md).
 *
 * Bounded: message size, segment count and fields per segment are capped by
 * struct art_hl7_opts; nothing reads past the input; malformed input is an
 * error naming the message, segment (index and id), field and reason.
 *
 * Sizes and rates: messages are typically 1–30 KB (up to a few hundred KB
 * with embedded documents); the structural parse runs at about 2 GB/s per
 * core (bench/bench_parse). A parsed message and the split result are not thread-safe for
 * concurrent mutation, but read-only accessors may be called from several
 * threads at once; different messages are independent.
 */
#ifndef ART_HL7_H
#define ART_HL7_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Limits and switches. Obtain defaults from art_hl7_opts_default() and
 * change what you need. */
struct art_hl7_opts {
	size_t max_message_size;       /* bytes per message (default 16 MiB, at most 4 GiB - 2) */
	size_t max_segments;           /* segments per message (default 100000) */
	size_t max_fields_per_segment; /* fields per segment (default 10000) */
	size_t max_messages;           /* messages per split buffer (default 1000000) */
	int allow_incomplete_msh;      /* 1: empty/invalid MSH-9 or empty MSH-12 is a warning, not an error */
};

/* Returns the default limits. Thread-safe. */
struct art_hl7_opts art_hl7_opts_default(void);

/* A byte range inside the caller's buffer; not NUL-terminated. */
struct art_hl7_span {
	const char *p; /* start (never NULL when len > 0) */
	size_t len;    /* bytes */
};

/* Delimiters declared by MSH-1/MSH-2 (or FHS/BHS-1/-2). A delimiter the
 * header does not declare (short MSH-2) is 0. */
struct art_hl7_delims {
	char field; /* MSH-1, usually '|' */
	char comp;  /* component, usually '^' */
	char rep;   /* repetition, usually '~' */
	char esc;   /* escape, usually '\\' */
	char sub;   /* subcomponent, usually '&' */
	char trunc; /* truncation (v2.7+), usually '#'; 0 when not declared */
};

/* Character sets recognised in MSH-18 (first repetition). */
enum art_hl7_charset {
	ART_HL7_CS_ASCII = 0,   /* empty MSH-18 or "ASCII": bytes >= 0x80 are an error on access */
	ART_HL7_CS_UTF8 = 1,    /* "UNICODE UTF-8" (aliases "UTF-8", "UTF8") */
	ART_HL7_CS_LATIN1 = 2,  /* "8859/1" (aliases "ISO-8859-1", "ISO8859-1", "LATIN1", "ISO_IR 100") */
	ART_HL7_CS_LATIN9 = 3,  /* "8859/15" (aliases "ISO-8859-15", "LATIN9", "ISO_IR 203") */
};

/* Header fields of the MSH, filled at parse time. All spans are RAW (escape
 * sequences not decoded) and point into the caller's buffer; len 0 when the
 * field is empty or absent. Use art_hl7_get() for decoded values. */
struct art_hl7_header {
	struct art_hl7_delims delims;
	struct art_hl7_span sending_app;        /* MSH-3 (whole HD) */
	struct art_hl7_span sending_facility;   /* MSH-4 */
	struct art_hl7_span receiving_app;      /* MSH-5 */
	struct art_hl7_span receiving_facility; /* MSH-6 */
	struct art_hl7_span datetime;           /* MSH-7.1 */
	struct art_hl7_span msg_type;           /* MSH-9.1, e.g. "ADT" */
	struct art_hl7_span trigger;            /* MSH-9.2, e.g. "A01" */
	struct art_hl7_span structure;          /* MSH-9.3, e.g. "ADT_A01" */
	struct art_hl7_span control_id;         /* MSH-10 */
	struct art_hl7_span processing_id;      /* MSH-11.1 */
	struct art_hl7_span version;            /* MSH-12.1, e.g. "2.5.1" */
	struct art_hl7_span accept_ack;         /* MSH-15 (AL, NE, ER, SU) */
	struct art_hl7_span app_ack;            /* MSH-16 */
	struct art_hl7_span charset_name;       /* MSH-18, first repetition */
	enum art_hl7_charset charset;           /* parsed MSH-18 */
	int version_known;                      /* 1 if MSH-12.1 is 2.1 .. 2.8.x */
};

/* Where a parse or split error happened. Indices are 1-based; 0 = unknown /
 * not applicable. */
struct art_hl7_errpos {
	size_t message; /* message within the split buffer (1 when parsed alone) */
	size_t segment; /* segment within the message */
	char seg_id[4]; /* that segment's id, NUL-terminated ("" if unknown) */
	size_t field;   /* field number (MSH numbering: MSH-1 is the separator) */
	size_t offset;  /* byte offset within the buffer given to the call */
};

/* ---- splitting ----------------------------------------------------------- */

/* One message found by art_hl7_split(): a span of the input. */
struct art_hl7_msgspan {
	size_t off;   /* offset of its "MSH" */
	size_t len;   /* up to and including its last segment's terminator */
	long batch;   /* index into art_hl7_split.batches, or -1 outside a batch */
};

/* One BHS..BTS batch. Offsets are of the segment lines (without terminator);
 * len 0 when absent. */
struct art_hl7_batch {
	size_t bhs_off, bhs_len;
	size_t bts_off, bts_len;
	long declared;    /* BTS-1 message count, or -1 when absent/unparseable */
	size_t first_msg; /* index of its first message in art_hl7_split.msgs */
	size_t nmsgs;     /* messages found in it */
};

#define ART_HL7_MAX_WARNINGS 16 /* warnings kept per split / message; more are counted only */
#define ART_HL7_WARNING_SIZE 160

/* The result of art_hl7_split(). Owns its arrays; free with
 * art_hl7_split_free(). */
struct art_hl7_split {
	struct art_hl7_msgspan *msgs;
	size_t nmsgs;
	struct art_hl7_batch *batches;
	size_t nbatches;
	size_t fhs_off, fhs_len; /* FHS segment line; len 0 when absent */
	size_t fts_off, fts_len; /* FTS segment line; len 0 when absent */
	long fts_declared;       /* FTS-1 batch count, or -1 */
	size_t skipped_bytes;    /* non-blank text outside any message that was ignored */
	char warnings[ART_HL7_MAX_WARNINGS][ART_HL7_WARNING_SIZE];
	size_t nwarnings;        /* warnings kept (<= ART_HL7_MAX_WARNINGS) */
	size_t nwarnings_total;  /* warnings raised, including dropped ones */
};

/* Splits buf[0..len) into messages. Rules (docs/hl7.md): a message starts at
 * an MSH segment and runs to the next MSH/BHS/BTS/FHS/FTS or the end, blank
 * lines at its end excluded (any other text inside stays in it, for
 * art_hl7_parse() to judge); a UTF-8 BOM, blank lines and MLLP framing bytes
 * (0x0B, 0x1C) outside messages are skipped; free text outside any message
 * (comments before the first MSH, text after a BTS) is skipped with a
 * warning and counted in skipped_bytes; a segment outside any message (e.g.
 * after BHS without MSH) and a second FHS are errors. Missing BHS/BTS/FHS/FTS
 * and count mismatches are warnings. A buffer with neither an MSH nor a
 * batch envelope is an error (an empty batch, BHS + BTS|0, is not).
 * Returns 0 and fills *out (caller frees with art_hl7_split_free()), or -1
 * with the reason (and the position when pos != NULL) in errstr and *out
 * empty. Any thread. */
int art_hl7_split(const char *buf, size_t len, const struct art_hl7_opts *opts,
		  struct art_hl7_split *out, struct art_hl7_errpos *pos, char *errstr,
		  size_t errstr_size);

/* Frees the arrays of a split result and zeroes it; NULL-safe. */
void art_hl7_split_free(struct art_hl7_split *split);

/* Raw field number `field` of a header segment line (MSH, FHS or BHS — whose
 * separator is its 4th byte — or any other segment given its separator
 * `fs`; pass fs = 0 for header segments). MSH-style numbering: field 1 is the
 * separator itself. Returns 1 and fills *out, 0 when absent. */
int art_hl7_segment_field(const char *seg, size_t len, char fs, size_t field,
			  struct art_hl7_span *out);

/* ---- parsing ------------------------------------------------------------- */

struct art_hl7_msg; /* opaque */

/* Parses one message in buf[0..len): optional UTF-8 BOM and blank lines,
 * then MSH, then segments, separated by CR, LF or CRLF in any mixture. Blank
 * and whitespace-only lines are skipped (kept for art_hl7_encode); leading
 * and trailing spaces/tabs of a segment line are not part of the segment.
 * The message references buf (zero-copy): keep buf alive and unchanged until
 * art_hl7_msg_destroy(). opts may be NULL (defaults). Returns the message,
 * or NULL with "message M, segment S (ID), field F: reason" in errstr.
 * Any thread. */
struct art_hl7_msg *art_hl7_parse(const char *buf, size_t len, const struct art_hl7_opts *opts,
				  char *errstr, size_t errstr_size);

/* As art_hl7_parse(), naming the message `msg_index` (1-based, for errors
 * in a split buffer) and filling *pos (may be NULL) on failure. */
struct art_hl7_msg *art_hl7_parse_ex(const char *buf, size_t len, const struct art_hl7_opts *opts,
				     size_t msg_index, struct art_hl7_errpos *pos, char *errstr,
				     size_t errstr_size);

/* Frees the message's tables (never the caller's buffer). NULL-safe. */
void art_hl7_msg_destroy(struct art_hl7_msg *msg);

/* The MSH header fields and delimiters; valid while msg lives. */
const struct art_hl7_header *art_hl7_header(const struct art_hl7_msg *msg);

/* Warnings raised while parsing (unknown version, truncation char declared
 * before 2.7, ...). art_hl7_warning() returns NULL past the end; the string
 * lives as long as msg. */
size_t art_hl7_warning_count(const struct art_hl7_msg *msg);
const char *art_hl7_warning(const struct art_hl7_msg *msg, size_t i);

/* ---- programmatic access (0-based segment index, 1-based HL7 numbers) ---- */

/* Number of segments (MSH included). */
size_t art_hl7_seg_count(const struct art_hl7_msg *msg);

/* The 3-letter id of segment i, NUL-terminated; NULL when i is out of
 * range. */
const char *art_hl7_seg_id(const struct art_hl7_msg *msg, size_t i);

/* Index of the first segment with id `id` (3 letters) at index >= from, or
 * -1. Iterate all OBX with: for (i = find(msg,"OBX",0); i >= 0; i =
 * find(msg,"OBX",i+1)). */
long art_hl7_seg_find(const struct art_hl7_msg *msg, const char *id, size_t from);

/* The raw bytes of segment i (without terminator or surrounding blanks).
 * Returns 1, or 0 when i is out of range. */
int art_hl7_seg_raw(const struct art_hl7_msg *msg, size_t i, struct art_hl7_span *out);

/* Highest field number present in segment i (0 if the segment has only its
 * id; for MSH at least 2). 0 when i is out of range. */
size_t art_hl7_field_count(const struct art_hl7_msg *msg, size_t i);

/* Raw span of field `field` (1-based; MSH-1 is the separator character,
 * MSH-2 the encoding characters) of segment i, all repetitions included.
 * Returns 1 if the field exists (possibly empty), 0 if absent. */
int art_hl7_field(const struct art_hl7_msg *msg, size_t i, size_t field,
		  struct art_hl7_span *out);

/* Number of pieces of `in` separated by `delim` (an empty span counts 1;
 * delim 0 counts 1). Use with the delimiters of art_hl7_header(). */
size_t art_hl7_span_count(const struct art_hl7_span *in, char delim);

/* Piece n (1-based) of `in` separated by `delim`. Returns 1 and fills
 * *out, or 0 when there are fewer pieces. */
int art_hl7_span_piece(const struct art_hl7_span *in, char delim, size_t n,
		       struct art_hl7_span *out);

/* Raw span at segment i, field, repetition, component, subcomponent
 * (1-based; 0 for rep/comp/sub means "the whole level": rep 0 = all
 * repetitions, comp 0 = whole repetition, sub 0 = whole component).
 * MSH-1 and MSH-2 are never split. Returns 1 (found, possibly empty) or 0
 * (absent). */
int art_hl7_at(const struct art_hl7_msg *msg, size_t i, size_t field, size_t rep, size_t comp,
	       size_t sub, struct art_hl7_span *out);

/* ---- terser-style paths --------------------------------------------------- */

/* Path syntax: SEG[n]-F[r].C.S — SEG a 3-character segment id, [n] its
 * occurrence (default 1), F the field, [r] the repetition, C the component,
 * S the subcomponent; all 1-based. '-' may be used instead of '.'
 * ("PID-5-1"). Examples: "PID-5", "PID-5.1", "PID-3[2].4", "OBX[3]-5",
 * "PID-5.1.1", "MSH-9.2". */

/* What a getter found. */
enum art_hl7_val {
	ART_HL7_ERROR = -1, /* bad path, undecodable value (charset), too large: see errstr */
	ART_HL7_ABSENT = 0, /* segment/field/component missing or empty */
	ART_HL7_NULL = 1,   /* explicit null: the value is exactly "" */
	ART_HL7_VALUE = 2,  /* a non-empty value */
};

/* Flags reported by the decoding getters (bit set). */
#define ART_HL7_DEC_FORMATTING 0x1  /* \H\ \N\ \.br\ or another formatting escape was seen */
#define ART_HL7_DEC_UNKNOWN_ESC 0x2 /* an unknown escape was kept verbatim */
#define ART_HL7_DEC_TRUNCATED 0x4   /* the value ends with the truncation character (2.7+) */

/* Decoded value at `path`, written as UTF-8 into out (which is reset
 * first; out->max caps the size). A path that stops above the
 * subcomponent level addresses the FIRST repetition/component/subcomponent
 * below it, as HAPI's terser does ("PID-5" = "PID-5[1].1.1"); MSH-1 and
 * MSH-2 are returned as they are. Escapes are decoded (\F\ \S\ \T\ \R\ \E\,
 * \Xhh..\, \.br\ as "\n"; \H\ and \N\ are dropped and reported in *flags;
 * unknown escapes kept verbatim), then the MSH-18 charset is transcoded to
 * UTF-8. flags may be NULL. Returns ART_HL7_VALUE, _NULL, _ABSENT, or
 * ART_HL7_ERROR with the reason in errstr. Read-only on msg; any thread. */
enum art_hl7_val art_hl7_get(const struct art_hl7_msg *msg, const char *path,
			     struct art_buf *out, unsigned *flags, char *errstr,
			     size_t errstr_size);

/* Raw span at `path`, zero-copy, escapes NOT decoded. Unlike art_hl7_get(),
 * levels the path leaves out are NOT defaulted: "PID-5" is the whole field
 * (all repetitions), "PID-5[2]" one repetition, "PID-5.1" the first
 * component of the first repetition. Returns ART_HL7_VALUE/_NULL/_ABSENT
 * as art_hl7_get() (an empty span is _ABSENT), or ART_HL7_ERROR for a bad
 * path. */
enum art_hl7_val art_hl7_get_raw(const struct art_hl7_msg *msg, const char *path,
				 struct art_hl7_span *out, char *errstr, size_t errstr_size);

/* Decodes a raw span of msg (as returned by the accessors above) the way
 * art_hl7_get() decodes a leaf: escapes, then charset to UTF-8. Appends to
 * out (not reset). Returns 0, or -1 with the reason in errstr. */
int art_hl7_decode(const struct art_hl7_msg *msg, const struct art_hl7_span *raw,
		   struct art_buf *out, unsigned *flags, char *errstr, size_t errstr_size);

/* ---- re-encoding ------------------------------------------------------------ */

/* Appends the message exactly as parsed — BOM, blank lines, surrounding
 * blanks and all — with every segment terminator written as one CR; a
 * missing final terminator stays missing. Equals art_hl7_normalise() of the
 * parse input. Returns 0, or -1 when out->max is exceeded / out of memory. */
int art_hl7_encode(const struct art_hl7_msg *msg, struct art_buf *out);

/* Appends the message in canonical wire form: each segment's bytes followed
 * by one CR, no BOM, no blank lines — what to forward or frame in MLLP.
 * Returns 0 or -1 as art_hl7_encode(). */
int art_hl7_encode_canonical(const struct art_hl7_msg *msg, struct art_buf *out);

/* Appends buf with every terminator (CRLF, lone CR, lone LF) written as one
 * CR and nothing else changed: the reference for art_hl7_encode(). Returns
 * 0 or -1 as art_buf_append(). */
int art_hl7_normalise(const char *buf, size_t len, struct art_buf *out);

/* Name of a charset ("ASCII", "UNICODE UTF-8", "8859/1", "8859/15"). */
const char *art_hl7_charset_name(enum art_hl7_charset cs);

/* Looks up an MSH-18 value (HL7 name or common alias, case-insensitive;
 * empty = ASCII). Returns 0 and sets *cs, or -1 when unknown. */
int art_hl7_charset_lookup(const char *name, size_t len, enum art_hl7_charset *cs);

#endif
