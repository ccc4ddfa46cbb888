/*
 * helper_kafka.h — reading what landed on a topic, for integration tests:
 * every record from the beginning of every partition up to the end as it
 * stands (partition EOF), with key, value and headers copied out.
 */
#ifndef ART_HELPER_KAFKA_H
#define ART_HELPER_KAFKA_H

#include <stddef.h>
#include <stdint.h>

struct art_test_record {
	int32_t partition;
	int64_t offset;
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	size_t header_cnt;
	char *header_names[32];
	char *header_values[32]; /* NUL-terminated copies */
};

struct art_test_records {
	struct art_test_record *recs;
	size_t cnt;
};

/* Reads topic on bootstrap from the beginning to the current end of every
 * partition (waiting at most timeout_ms). Returns 0 and fills *out, or -1
 * (message on stderr). Free with art_test_records_free(). */
int art_test_consume_all(const char *bootstrap, const char *topic, int timeout_ms,
			 struct art_test_records *out);

void art_test_records_free(struct art_test_records *rs);

/* The value of header name in r, or NULL. */
const char *art_test_record_header(const struct art_test_record *r, const char *name);

/* Produces one record value to topic and waits for the delivery report.
 * Returns 0 or -1. */
int art_test_produce(const char *bootstrap, const char *topic, const void *key, size_t key_len,
		     const void *value, size_t value_len);

#endif
