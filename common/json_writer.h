/*
 * json_writer.h — a streaming JSON writer into one growable buffer: the
 * output side of the FHIR transform (fhir.h), which used to build a
 * jansson tree per resource only to dump it. Writing the text directly
 * costs a memcpy per token instead of a malloc per node.
 *
 * Values are written in document order; the writer puts the commas and
 * colons. Keys are the program's literals, written as they are. String
 * values are escaped per RFC 8259 (quote, backslash and every
 * control character; "\u00XX" for those without a short form) and kept
 * valid UTF-8: an invalid byte sequence is written as U+FFFD, so whatever
 * the input, the output parses. Doubles are written in the shortest form
 * that reads back to the same value, with ".0" when integral (what
 * jansson's real type prints); non-finite doubles, which JSON cannot
 * represent, are written as null.
 *
 * A mark taken before a member lets the caller drop it again: FHIR
 * forbids empty objects, arrays and strings, and often whether a
 * container gets members is only known after trying
 * (art_jw_end_nonempty()).
 *
 * Errors are sticky: out of memory or a document over `max` bytes sets
 * jw->err and later calls do nothing; check once with art_jw_failed().
 * Sizes: a FHIR resource is 0.5-3 KB; the buffer keeps its high-water
 * mark across resets, so steady state allocates nothing. Not thread-safe:
 * one writer, one owner.
 */
#ifndef ART_JSON_WRITER_H
#define ART_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ART_JW_MAX_DEPTH 64 /* nesting of objects and arrays */

/* One open container. */
struct art_jw_level {
	uint8_t first; /* nothing written in it yet: no comma before the next item */
	char close;    /* '}' or ']' */
};

struct art_jw {
	char *p;        /* the document so far (not NUL-terminated) */
	size_t len;     /* bytes used */
	size_t cap;     /* bytes allocated */
	size_t max;     /* hard limit on len */
	int err;        /* sticky: 1 after out of memory, overflow or bad nesting */
	int depth;      /* open containers; level[0] is the top */
	int after_key;  /* a key was written: the next value is its member value */
	struct art_jw_level level[ART_JW_MAX_DEPTH + 1];
};

/* Where the writer was: art_jw_rollback() returns there. */
struct art_jw_mark {
	size_t len;
	int depth;
	int after_key;
	uint8_t first;
};

/* Initialises an empty writer whose document may reach max bytes. */
void art_jw_init(struct art_jw *jw, size_t max);

/* Empties the document (keeps the allocation) and clears the error. */
void art_jw_reset(struct art_jw *jw);

/* Lets the next value start a new document right after the text so far
 * (no separator): for several documents back to back in one buffer.
 * Only between documents (nothing open). */
void art_jw_restart(struct art_jw *jw);

/* Frees the buffer; the writer may be initialised again. */
void art_jw_free(struct art_jw *jw);

/* 1 when a write failed since the last reset (out of memory, over max,
 * unbalanced nesting); the document is then incomplete. */
static inline int art_jw_failed(const struct art_jw *jw)
{
	return jw->err;
}

/* Internal: makes room for n more bytes (0, or -1 with err set). */
int art_jw_grow(struct art_jw *jw, size_t n);

static inline int art_jw_room(struct art_jw *jw, size_t n)
{
	if (jw->cap - jw->len >= n && !jw->err)
		return 0;
	return art_jw_grow(jw, n);
}

/* Internal: appends n bytes as they are. */
static inline void art_jw_put(struct art_jw *jw, const char *s, size_t n)
{
	if (art_jw_room(jw, n) == 0) {
		memcpy(jw->p + jw->len, s, n);
		jw->len += n;
	}
}

/* Internal: the comma before a value, unless it follows a key. */
static inline void art_jw_sep(struct art_jw *jw)
{
	struct art_jw_level *lv = &jw->level[jw->depth];

	if (jw->after_key) {
		jw->after_key = 0;
		return;
	}
	if (!lv->first)
		art_jw_put(jw, ",", 1);
	lv->first = 0;
}

/* Containers. */
void art_jw_obj(struct art_jw *jw);
void art_jw_arr(struct art_jw *jw);
void art_jw_end(struct art_jw *jw); /* closes the innermost container */

/* Writes `"key":`; the next value written is the member's value. Keys are
 * written as given, not escaped: they must be the program's own plain
 * ASCII names (no quote, backslash or control character). */
static inline void art_jw_key(struct art_jw *jw, const char *key)
{
	size_t n = strlen(key);

	art_jw_sep(jw);
	if (art_jw_room(jw, n + 3) == 0) {
		char *d = jw->p + jw->len;

		d[0] = '"';
		memcpy(d + 1, key, n);
		d[n + 1] = '"';
		d[n + 2] = ':';
		jw->len += n + 3;
	}
	jw->after_key = 1;
}

/* Scalars (an array item, a member value after art_jw_key, or the top). */
void art_jw_str(struct art_jw *jw, const char *s);
void art_jw_strn(struct art_jw *jw, const char *s, size_t n);
void art_jw_long(struct art_jw *jw, int64_t v);
void art_jw_double(struct art_jw *jw, double d);
void art_jw_bool(struct art_jw *jw, int v);
void art_jw_null(struct art_jw *jw);

/* A value already rendered as JSON (n bytes, copied verbatim). */
void art_jw_raw(struct art_jw *jw, const char *json, size_t n);

/* Continues a value begun with art_jw_raw(): n more bytes as they are,
 * without a separator. With art_jw_str_add() this writes static JSON
 * fragments around escaped strings in few calls. */
static inline void art_jw_raw_more(struct art_jw *jw, const char *s, size_t n)
{
	art_jw_put(jw, s, n);
}

/* art_jw_raw() / art_jw_raw_more() of a string literal. */
#define ART_JW_RAW(jw, lit)      art_jw_raw((jw), (lit), sizeof(lit) - 1)
#define ART_JW_RAW_MORE(jw, lit) art_jw_raw_more((jw), (lit), sizeof(lit) - 1)

/* A string written in pieces: begin, any number of adds (each escaped),
 * end. */
void art_jw_str_begin(struct art_jw *jw);
void art_jw_str_add(struct art_jw *jw, const char *s, size_t n);
void art_jw_str_end(struct art_jw *jw);

/* A string value the program knows to need no escaping (its own
 * literals, hex ids, percent-encoded text), written as it is. */
static inline void art_jw_lit(struct art_jw *jw, const char *s)
{
	size_t n = strlen(s);

	art_jw_sep(jw);
	if (art_jw_room(jw, n + 2) == 0) {
		char *d = jw->p + jw->len;

		d[0] = '"';
		memcpy(d + 1, s, n);
		d[n + 1] = '"';
		jw->len += n + 2;
	}
}

/* Key and value in one call. */
static inline void art_jw_klit(struct art_jw *jw, const char *key, const char *lit)
{
	art_jw_key(jw, key);
	art_jw_lit(jw, lit);
}

static inline void art_jw_kstr(struct art_jw *jw, const char *key, const char *s)
{
	art_jw_key(jw, key);
	art_jw_str(jw, s);
}

static inline void art_jw_kobj(struct art_jw *jw, const char *key)
{
	art_jw_key(jw, key);
	art_jw_obj(jw);
}

static inline void art_jw_karr(struct art_jw *jw, const char *key)
{
	art_jw_key(jw, key);
	art_jw_arr(jw);
}

/* Remembers the current position in *m (take it before a member's key or
 * an array item). */
void art_jw_mark(const struct art_jw *jw, struct art_jw_mark *m);

/* Forgets everything written since mark m (which must be at the current
 * depth or an enclosing one that is still open). */
void art_jw_rollback(struct art_jw *jw, const struct art_jw_mark *m);

/* Closes the innermost container if it got at least one item and returns
 * 1; otherwise removes it, and everything since m (its key), and returns
 * 0. */
int art_jw_end_nonempty(struct art_jw *jw, const struct art_jw_mark *m);

/* 1 when the innermost open container has no item yet. */
static inline int art_jw_empty(const struct art_jw *jw)
{
	return jw->level[jw->depth].first;
}

#endif
