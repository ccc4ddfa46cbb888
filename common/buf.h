/*
 * buf.h — a growable byte buffer with a hard maximum (curl's dynbuf habit):
 * every buffer that grows with outside input has a cap, and going over it
 * is an error, never an allocation without bound. Always NUL-terminated
 * (the NUL is not counted in len) so text can be handed to C string APIs.
 * Not thread-safe; one owner at a time.
 */
#ifndef ART_BUF_H
#define ART_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct art_buf {
	char *p;    /* data, NUL-terminated; NULL until the first append */
	size_t len; /* bytes used, excluding the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* hard limit on len */
};

/* Initialises an empty buffer that may hold at most max bytes. */
void art_buf_init(struct art_buf *b, size_t max);

/* Appends n bytes. Returns 0, or -1 (buffer unchanged) when the result
 * would exceed max or memory ran out. */
int art_buf_append(struct art_buf *b, const void *data, size_t n);

/* Appends a NUL-terminated string; as art_buf_append. */
int art_buf_puts(struct art_buf *b, const char *s);

/* Appends one byte; as art_buf_append. */
int art_buf_putc(struct art_buf *b, char c);

/* Appends printf-formatted text; as art_buf_append. */
int art_buf_printf(struct art_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its allocation. */
void art_buf_reset(struct art_buf *b);

/* Takes the data out (caller frees; may be NULL if nothing was appended)
 * and leaves the buffer empty. */
char *art_buf_steal(struct art_buf *b, size_t *lenp);

/* Frees the data. The buffer may be reused after art_buf_init. */
void art_buf_free(struct art_buf *b);

#endif
