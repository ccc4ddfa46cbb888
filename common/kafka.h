/*
 * kafka.h — how every Artery process finds and configures Kafka.
 *
 * Owns the rules of DESIGN §3: where the bootstrap string comes from
 * (ARTERY_KAFKA_BOOTSTRAP, else the file `artery broker` writes), the
 * producer/consumer defaults (idempotent lz4 producer with acks=all; manual
 * commits and manual offset store for consumers), and the environment
 * pass-through ARTERY_KAFKA_<PROPERTY> -> librdkafka property. Also small
 * helpers for record headers. Called at start-up; nothing here is on the
 * per-message hot path except art_kafka_header_get().
 */
#ifndef ART_KAFKA_H
#define ART_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Default bootstrap file, relative to the working directory. */
#define ART_KAFKA_BOOTSTRAP_FILE ".artery/bootstrap"

/* What a configuration is for; picks the defaults art_kafka_conf_new()
 * applies before the environment. */
enum art_kafka_role {
	ART_KAFKA_PRODUCER = 0, /* idempotence, acks=all, lz4, linger.ms=0 (a sender waits on it) */
	ART_KAFKA_CONSUMER = 1, /* no auto commit, no auto offset store */
	ART_KAFKA_ADMIN = 2,    /* metadata / admin API: no role defaults */
};

/* One librdkafka property (e.g. from topology.yaml's `kafka:` section). */
struct art_kafka_prop {
	char *key;   /* librdkafka property name, e.g. "linger.ms" */
	char *value; /* its value as text */
	int line;    /* 1-based line in the file it came from, 0 if none */
};

/* Returns the path of the bootstrap file: ARTERY_BOOTSTRAP_FILE when set and
 * non-empty, else ART_KAFKA_BOOTSTRAP_FILE. The string is static or from
 * the environment; do not free. Any thread. */
const char *art_kafka_bootstrap_path(void);

/* Returns the Kafka bootstrap string: ARTERY_KAFKA_BOOTSTRAP when set and
 * non-empty, else the first line of the bootstrap file (surrounding
 * whitespace trimmed). Returns NULL with a message saying how to set it when
 * neither is available. Caller frees. Any thread (reads the environment). */
char *art_kafka_bootstrap(char *errstr, size_t errstr_size);

/* Sets one property on conf. Returns 0, or -1 with "key=value: reason" in
 * errstr when librdkafka rejects the name or the value. */
int art_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                       size_t errstr_size);

/* Maps an environment variable name to a librdkafka property name:
 * "ARTERY_KAFKA_SECURITY_PROTOCOL" -> "security.protocol" (prefix removed,
 * '_' -> '.', lowercased). Returns 0, or -1 when name does not start with
 * ARTERY_KAFKA_, is ARTERY_KAFKA_BOOTSTRAP itself, has nothing after the
 * prefix, or the result does not fit in out. */
int art_kafka_env_property(const char *name, char *out, size_t out_size);

/* Returns a new configuration for role: bootstrap.servers from
 * art_kafka_bootstrap(), the role defaults, then props (may be NULL when
 * prop_cnt is 0; e.g. topology.yaml's `kafka:` section), then every
 * ARTERY_KAFKA_<PROPERTY> environment variable. Returns NULL with the reason
 * in errstr (no bootstrap, or a property librdkafka rejects — named in the
 * message). Caller owns the result (hand it to rd_kafka_new() or
 * rd_kafka_conf_destroy() it). Start-up, main thread (reads environ). */
rd_kafka_conf_t *art_kafka_conf_new_with(enum art_kafka_role role,
                                         const struct art_kafka_prop *props, size_t prop_cnt,
                                         char *errstr, size_t errstr_size);

/* art_kafka_conf_new_with() without extra properties. */
rd_kafka_conf_t *art_kafka_conf_new(enum art_kafka_role role, char *errstr, size_t errstr_size);

/* librdkafka log callback writing its lines into the JSON log (syslog
 * levels: <= 3 error, 4 warn, 5-6 info, 7 debug). art_kafka_conf_new_with()
 * installs it on every configuration; any thread (librdkafka's). */
void art_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Copies the value of the last header called name in rkm into buf as a
 * NUL-terminated string. Returns the value's length, -1 when rkm has no such
 * header (or no headers), -2 when the value (plus NUL) does not fit in
 * size bytes or contains a NUL byte. A header with a NULL value reads as
 * "". rkm is not const because librdkafka parses headers lazily. Any thread
 * that may read rkm. */
int art_kafka_header_get(rd_kafka_message_t *rkm, const char *name, char *buf, size_t size);

/* Builds a header list from a NULL-terminated array of name, value, name,
 * value, ... strings. Returns NULL only when allocation fails. Caller owns
 * the result (rd_kafka_headers_destroy(), or hand it to rd_kafka_producev()
 * with RD_KAFKA_V_HEADERS, which takes ownership on success). */
rd_kafka_headers_t *art_kafka_headers_new(const char *const *pairs);

#endif
