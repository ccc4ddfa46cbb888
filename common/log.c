/*
 * log.c — JSON-lines logger on stderr. Each line is formatted into a stack
 * buffer (capped at 4 KiB; longer messages are truncated and say so) and
 * written with a single write(2), so lines from threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ART_LOG_LINE_MAX 4096

static const char *art_log_proc = "artery";
static enum art_log_level art_log_min = ART_LOG_INFO;
static int art_log_phi_on;

static const char *const art_log_names[] = {"debug", "info", "warn", "error"};

void art_log_init(const char *proc)
{
	const char *lvl = getenv("ARTERY_LOG_LEVEL");
	const char *phi = getenv("ARTERY_LOG_PHI");

	art_log_proc = proc;
	if (lvl) {
		for (int i = 0; i < 4; i++)
			if (!strcmp(lvl, art_log_names[i]))
				art_log_min = (enum art_log_level)i;
	}
	art_log_phi_on = phi && !strcmp(phi, "1");
}

const char *art_log_phi(const char *s)
{
	return art_log_phi_on ? s : "[redacted]";
}

/* Appends s JSON-escaped to out[*pos..cap-1]; stops (keeping room for the
 * closing of the line) when the buffer is full. */
static void art_log_escape(char *out, size_t *pos, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t p = *pos;

	for (; *s && p + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[p++] = '\\';
			out[p++] = (char)c;
		} else if (c == '\n') {
			out[p++] = '\\';
			out[p++] = 'n';
		} else if (c == '\r') {
			out[p++] = '\\';
			out[p++] = 'r';
		} else if (c == '\t') {
			out[p++] = '\\';
			out[p++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			out[p++] = '\\';
			out[p++] = 'u';
			out[p++] = '0';
			out[p++] = '0';
			out[p++] = hex[c >> 4];
			out[p++] = hex[c & 15];
		} else {
			out[p++] = (char)c;
		}
	}
	*pos = p;
}

void art_log_emit(enum art_log_level level, const char *event, const char *fmt, ...)
{
	char msg[ART_LOG_LINE_MAX];
	char line[ART_LOG_LINE_MAX + 512];
	char ts[40];
	struct timespec now;
	struct tm tm;
	size_t pos = 0;
	va_list ap;
	int n;

	if (level < art_log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

	n = snprintf(line, sizeof(line), "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"proc\":\"", ts,
		     now.tv_nsec / 1000000, art_log_names[level]);
	pos = (size_t)n;
	art_log_escape(line, &pos, sizeof(line), art_log_proc);
	memcpy(line + pos, "\",\"event\":\"", 11);
	pos += 11;
	art_log_escape(line, &pos, sizeof(line), event);
	memcpy(line + pos, "\",\"msg\":\"", 9);
	pos += 9;
	art_log_escape(line, &pos, sizeof(line) - 4, msg);
	line[pos++] = '"';
	line[pos++] = '}';
	line[pos++] = '\n';
	if (write(STDERR_FILENO, line, pos) < 0) {
		/* Nowhere left to report a failing stderr. */
	}
}
