/*
 * buf.c — capped growable buffer. Growth doubles, bounded by max + 1 (the
 * terminating NUL).
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void art_buf_init(struct art_buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static int art_buf_reserve(struct art_buf *b, size_t n)
{
	size_t need, ncap;
	char *np;

	if (n > b->max || b->len > b->max - n)
		return -1;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	np = realloc(b->p, ncap);
	if (!np)
		return -1;
	b->p = np;
	b->cap = ncap;
	return 0;
}

int art_buf_append(struct art_buf *b, const void *data, size_t n)
{
	if (art_buf_reserve(b, n) == -1)
		return -1;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int art_buf_puts(struct art_buf *b, const char *s)
{
	return art_buf_append(b, s, strlen(s));
}

int art_buf_putc(struct art_buf *b, char c)
{
	return art_buf_append(b, &c, 1);
}

int art_buf_printf(struct art_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || art_buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void art_buf_reset(struct art_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

char *art_buf_steal(struct art_buf *b, size_t *lenp)
{
	char *p = b->p;

	if (lenp)
		*lenp = b->len;
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void art_buf_free(struct art_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}
