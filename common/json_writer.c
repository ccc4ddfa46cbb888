/*
 * json_writer.c — the streaming JSON writer (json_writer.h). One buffer
 * grown by doubling up to its max; a small stack of open containers says
 * where commas go. The string escaper copies runs of plain bytes at once
 * and validates UTF-8 sequences as it goes.
 */
#include "json_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ART_JW_MIN_CAP 4096 /* first allocation */

/* Per byte: 0 copied as is, 1 escaped (control, quote, backslash), 2 the
 * lead of a multi-byte UTF-8 sequence (validated), 3 never valid. */
static const uint8_t art_jw_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x80: continuation */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x90 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xa0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xb0 */
    3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0: c0, c1 overlong */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
    2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xf0: f5.. never */
};

void art_jw_init(struct art_jw *jw, size_t max)
{
	memset(jw, 0, sizeof(*jw));
	jw->max = max;
	jw->level[0].first = 1;
}

void art_jw_reset(struct art_jw *jw)
{
	jw->len = 0;
	jw->err = 0;
	jw->depth = 0;
	jw->after_key = 0;
	jw->level[0].first = 1;
	jw->level[0].close = 0;
}

void art_jw_restart(struct art_jw *jw)
{
	if (jw->depth != 0 || jw->after_key)
		jw->err = 1;
	jw->level[0].first = 1;
}

void art_jw_free(struct art_jw *jw)
{
	free(jw->p);
	art_jw_init(jw, jw->max);
}

int art_jw_grow(struct art_jw *jw, size_t n)
{
	size_t cap;
	char *p;

	if (jw->err)
		return -1;
	if (n > jw->max || jw->len > jw->max - n) {
		jw->err = 1;
		return -1;
	}
	cap = jw->cap ? jw->cap : ART_JW_MIN_CAP;
	while (cap < jw->len + n)
		cap *= 2;
	if (cap > jw->max)
		cap = jw->max;
	p = realloc(jw->p, cap);
	if (!p) {
		jw->err = 1;
		return -1;
	}
	jw->p = p;
	jw->cap = cap;
	return 0;
}

static inline void art_jw_putc(struct art_jw *jw, char c)
{
	if (art_jw_room(jw, 1) == 0)
		jw->p[jw->len++] = c;
}

static void art_jw_open(struct art_jw *jw, char open, char close)
{
	art_jw_sep(jw);
	if (jw->depth >= ART_JW_MAX_DEPTH) {
		jw->err = 1;
		return;
	}
	art_jw_putc(jw, open);
	jw->depth++;
	jw->level[jw->depth].first = 1;
	jw->level[jw->depth].close = close;
}

void art_jw_obj(struct art_jw *jw)
{
	art_jw_open(jw, '{', '}');
}

void art_jw_arr(struct art_jw *jw)
{
	art_jw_open(jw, '[', ']');
}

void art_jw_end(struct art_jw *jw)
{
	if (jw->depth == 0 || jw->after_key) {
		jw->err = 1;
		return;
	}
	art_jw_putc(jw, jw->level[jw->depth].close);
	jw->depth--;
}

/* Length of the valid UTF-8 sequence at s (lead byte class 2) within n
 * bytes, or 0 when it is not one (truncated, bad continuation, overlong,
 * surrogate, beyond U+10FFFF). */
static size_t art_jw_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0xe0) {
		if (n < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xf0) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
		return 0;
	if (c == 0xf0 && s[1] < 0x90)
		return 0; /* overlong */
	if (c == 0xf4 && s[1] >= 0x90)
		return 0; /* beyond U+10FFFF */
	return 4;
}

/* Appends s[0..n) escaped (without quotes). */
static void art_jw_escape(struct art_jw *jw, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str, *end = s + n;

	while (s < end) {
		const unsigned char *run = s;
		char esc[8];
		size_t k;

		/* eight plain bytes at a time: none below 0x20, no quote, no
		 * backslash, no byte >= 0x80 (the "has less / has zero byte"
		 * word tests; a false alarm only sends the bytes to the loop
		 * below) */
		while (end - s >= 8) {
			const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
			uint64_t w, q, b;

			memcpy(&w, s, 8);
			q = w ^ (ones * '"');
			b = w ^ (ones * '\\');
			if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & highs)
				break;
			s += 8;
		}
		while (s < end && art_jw_class[*s] == 0)
			s++;
		if (s > run)
			art_jw_put(jw, (const char *)run, (size_t)(s - run));
		if (s == end)
			break;
		switch (art_jw_class[*s]) {
		case 1:
			esc[0] = '\\';
			switch (*s) {
			case '"':
				esc[1] = '"';
				break;
			case '\\':
				esc[1] = '\\';
				break;
			case '\b':
				esc[1] = 'b';
				break;
			case '\f':
				esc[1] = 'f';
				break;
			case '\n':
				esc[1] = 'n';
				break;
			case '\r':
				esc[1] = 'r';
				break;
			case '\t':
				esc[1] = 't';
				break;
			default:
				memcpy(esc + 1, "u00", 3);
				esc[4] = hex[*s >> 4];
				esc[5] = hex[*s & 15];
				art_jw_put(jw, esc, 6);
				s++;
				continue;
			}
			art_jw_put(jw, esc, 2);
			s++;
			break;
		case 2:
			k = art_jw_utf8_len(s, (size_t)(end - s));
			if (k) {
				art_jw_put(jw, (const char *)s, k);
				s += k;
			} else {
				art_jw_put(jw, "\xef\xbf\xbd", 3); /* U+FFFD for one bad byte */
				s++;
			}
			break;
		default:
			art_jw_put(jw, "\xef\xbf\xbd", 3); /* U+FFFD for one bad byte */
			s++;
			break;
		}
	}
}

void art_jw_strn(struct art_jw *jw, const char *s, size_t n)
{
	art_jw_sep(jw);
	art_jw_putc(jw, '"');
	art_jw_escape(jw, s, n);
	art_jw_putc(jw, '"');
}

void art_jw_str(struct art_jw *jw, const char *s)
{
	art_jw_strn(jw, s, strlen(s));
}

void art_jw_long(struct art_jw *jw, int64_t v)
{
	char buf[24];
	size_t i = sizeof(buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		buf[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[--i] = '-';
	art_jw_sep(jw);
	art_jw_put(jw, buf + i, sizeof(buf) - i);
}

/* Writes the decimal digits of u into the end of buf (before *i). */
static void art_jw_digits(char *buf, size_t *i, uint64_t u)
{
	do {
		buf[--*i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
}

/* The shortest "digits.digits" form of d with 1-15 fractional digits
 * when one reads back exactly, into buf (size >= 40); its length, or 0.
 * Exact because r / 10^k for integers r < 2^53 and k <= 15 is the
 * correctly rounded value of the decimal r * 10^-k, which is what strtod
 * reads that text as. */
static int art_jw_fixed(double d, char *buf)
{
	static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
	                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
	double a = fabs(d);

	if (!(a < 1e15))
		return 0;
	for (int k = 0; k <= 15; k++) {
		double v = a * pow10[k], r = nearbyint(v);
		char tmp[40];
		size_t i = sizeof(tmp), n = 0;
		uint64_t u, ip, fp;

		if (r >= 9007199254740992.0) /* 2^53: no longer exact */
			return 0;
		if (r / pow10[k] != a)
			continue;
		u = (uint64_t)r;
		ip = u / (uint64_t)pow10[k];
		fp = u % (uint64_t)pow10[k];
		if (k == 0) {
			tmp[--i] = '0'; /* integral: "N.0" as jansson writes reals */
		} else {
			for (int j = 0; j < k; j++) {
				tmp[--i] = (char)('0' + fp % 10);
				fp /= 10;
			}
		}
		tmp[--i] = '.';
		art_jw_digits(tmp, &i, ip);
		if (signbit(d))
			tmp[--i] = '-';
		n = sizeof(tmp) - i;
		memcpy(buf, tmp + i, n);
		return (int)n;
	}
	return 0;
}

void art_jw_double(struct art_jw *jw, double d)
{
	char buf[40];
	int n = 0;

	if (!isfinite(d)) {
		art_jw_null(jw);
		return;
	}
	n = art_jw_fixed(d, buf);
	if (n == 0) {
		/* the shortest of 15..17 significant digits that reads back */
		for (int prec = 15; prec <= 17; prec++) {
			n = snprintf(buf, sizeof(buf) - 3, "%.*g", prec, d);
			if (n < 0 || (size_t)n >= sizeof(buf) - 3) {
				jw->err = 1;
				return;
			}
			if (strtod(buf, NULL) == d)
				break;
		}
		for (int i = 0; i < n; i++)
			if (buf[i] == ',')
				buf[i] = '.'; /* a locale's decimal comma */
		if (!strpbrk(buf, ".eE")) {
			buf[n++] = '.';
			buf[n++] = '0';
		}
	}
	art_jw_sep(jw);
	art_jw_put(jw, buf, (size_t)n);
}

void art_jw_bool(struct art_jw *jw, int v)
{
	art_jw_sep(jw);
	if (v)
		art_jw_put(jw, "true", 4);
	else
		art_jw_put(jw, "false", 5);
}

void art_jw_null(struct art_jw *jw)
{
	art_jw_sep(jw);
	art_jw_put(jw, "null", 4);
}

void art_jw_raw(struct art_jw *jw, const char *json, size_t n)
{
	art_jw_sep(jw);
	art_jw_put(jw, json, n);
}

void art_jw_str_begin(struct art_jw *jw)
{
	art_jw_sep(jw);
	art_jw_putc(jw, '"');
}

void art_jw_str_add(struct art_jw *jw, const char *s, size_t n)
{
	art_jw_escape(jw, s, n);
}

void art_jw_str_end(struct art_jw *jw)
{
	art_jw_putc(jw, '"');
}

void art_jw_mark(const struct art_jw *jw, struct art_jw_mark *m)
{
	m->len = jw->len;
	m->depth = jw->depth;
	m->after_key = jw->after_key;
	m->first = jw->level[jw->depth].first;
}

void art_jw_rollback(struct art_jw *jw, const struct art_jw_mark *m)
{
	if (m->depth > jw->depth || m->len > jw->len) {
		jw->err = 1;
		return;
	}
	jw->len = m->len;
	jw->depth = m->depth;
	jw->after_key = m->after_key;
	jw->level[jw->depth].first = m->first;
}

int art_jw_end_nonempty(struct art_jw *jw, const struct art_jw_mark *m)
{
	if (jw->depth > 0 && jw->level[jw->depth].first) {
		art_jw_rollback(jw, m);
		return 0;
	}
	art_jw_end(jw);
	return 1;
}
