/*
 * log.h — structured logging: one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-22T10:00:00.123Z","level":"info","proc":"artery-mllp-in",
 *    "event":"listener.start","msg":"listening on 0.0.0.0:2575"}
 *
 * `event` is a short stable name operators can grep and alert on; `msg` is
 * free text. Never log patient names, identifiers or payloads: pass them
 * through art_log_phi() which yields "[redacted]" unless ARTERY_LOG_PHI=1.
 * Control ids and event ids are not PHI and may be logged.
 * Thread-safe (one write(2) per line).
 */
#ifndef ART_LOG_H
#define ART_LOG_H

enum art_log_level {
	ART_LOG_DEBUG = 0,
	ART_LOG_INFO = 1,
	ART_LOG_WARN = 2,
	ART_LOG_ERROR = 3,
};

/* Sets the process name in every line and reads ARTERY_LOG_LEVEL
 * (debug|info|warn|error, default info) and ARTERY_LOG_PHI. Call once from
 * main() before any other thread starts. */
void art_log_init(const char *proc);

/* Emits one line if level passes the threshold. fmt is printf-style; the
 * result is JSON-escaped. */
void art_log_emit(enum art_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Returns s when ARTERY_LOG_PHI=1, otherwise "[redacted]". */
const char *art_log_phi(const char *s);

#define art_debug(event, ...) art_log_emit(ART_LOG_DEBUG, event, __VA_ARGS__)
#define art_info(event, ...) art_log_emit(ART_LOG_INFO, event, __VA_ARGS__)
#define art_warn(event, ...) art_log_emit(ART_LOG_WARN, event, __VA_ARGS__)
#define art_error(event, ...) art_log_emit(ART_LOG_ERROR, event, __VA_ARGS__)

#endif
