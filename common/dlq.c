/*
 * dlq.c — builds consumer dead letters: the original record copied byte
 * for byte, original headers first (in their order), then the reason
 * headers of dlq.h. Nothing is decoded here: a record that could not be
 * decoded is dead-lettered exactly like one a target rejected.
 */
#include "dlq.h"

#include "art.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const art_dlq_headers[] = {
    ART_HDR_ERROR,           ART_HDR_ERROR_KIND,         ART_HDR_ATTEMPTS,
    ART_HDR_ORIGINAL_TOPIC,  ART_HDR_ORIGINAL_PARTITION, ART_HDR_ORIGINAL_OFFSET,
    ART_HDR_ORIGINAL_TIMESTAMP, ART_HDR_DEAD_LETTERED_AT, ART_HDR_CONSUMER,
};

#define ART_DLQ_OWN_HEADERS ART_ARRAY_SIZE(art_dlq_headers)

int art_dlq_is_dlq_header(const char *name)
{
	for (size_t i = 0; i < ART_DLQ_OWN_HEADERS; i++)
		if (!strcmp(name, art_dlq_headers[i]))
			return 1;
	return 0;
}

/* Copies rkm's headers (minus dead-letter ones) onto rec. */
static int art_dlq_copy_headers(struct art_record *rec, rd_kafka_message_t *rkm, char *errstr,
                                size_t errstr_size)
{
	rd_kafka_headers_t *hdrs = NULL;
	const char *name;
	const void *val;
	size_t size;

	if (rd_kafka_message_headers(rkm, &hdrs) || !hdrs)
		return 0;
	for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		if (art_dlq_is_dlq_header(name))
			continue;
		if (rec->header_cnt + ART_DLQ_OWN_HEADERS >= ART_RECORD_MAX_HEADERS)
			break; /* keep room for ours: further original headers are dropped */
		if (art_record_add_header(rec, name, val, val ? size : 0) == -1) {
			snprintf(errstr, errstr_size, "out of memory");
			return -1;
		}
	}
	return 0;
}

struct art_record *art_dlq_record(const char *dlq_topic, rd_kafka_message_t *rkm,
                                  const struct art_dlq_reason *why, char *errstr,
                                  size_t errstr_size)
{
	rd_kafka_timestamp_type_t tstype;
	int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
	struct art_record *rec;
	char num[32], error[ART_DLQ_ERROR_MAX];
	void *value = NULL;
	int rc = 0;

	if (rkm->payload) {
		value = malloc(rkm->len ? rkm->len : 1);
		if (!value) {
			snprintf(errstr, errstr_size, "out of memory");
			return NULL;
		}
		memcpy(value, rkm->payload, rkm->len);
	}
	rec = art_record_new(dlq_topic, rkm->key, rkm->key_len, value, rkm->len);
	value = NULL; /* owned by rec (freed by art_record_new on failure) */
	if (!rec) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	if (art_dlq_copy_headers(rec, rkm, errstr, errstr_size) == -1)
		goto fail;
	snprintf(error, sizeof(error), "%s", why->error && *why->error ? why->error : "(no reason)");
	rc |= art_record_add_header_str(rec, ART_HDR_ERROR, error);
	rc |= art_record_add_header_str(rec, ART_HDR_ERROR_KIND, why->kind);
	snprintf(num, sizeof(num), "%d", why->attempts);
	rc |= art_record_add_header_str(rec, ART_HDR_ATTEMPTS, num);
	rc |= art_record_add_header_str(rec, ART_HDR_ORIGINAL_TOPIC, rd_kafka_topic_name(rkm->rkt));
	snprintf(num, sizeof(num), "%" PRId32, rkm->partition);
	rc |= art_record_add_header_str(rec, ART_HDR_ORIGINAL_PARTITION, num);
	snprintf(num, sizeof(num), "%" PRId64, rkm->offset);
	rc |= art_record_add_header_str(rec, ART_HDR_ORIGINAL_OFFSET, num);
	if (ts >= 0) {
		snprintf(num, sizeof(num), "%" PRId64, ts);
		rc |= art_record_add_header_str(rec, ART_HDR_ORIGINAL_TIMESTAMP, num);
	}
	snprintf(num, sizeof(num), "%" PRId64, art_now_us());
	rc |= art_record_add_header_str(rec, ART_HDR_DEAD_LETTERED_AT, num);
	rc |= art_record_add_header_str(rec, ART_HDR_CONSUMER, why->consumer ? why->consumer : "");
	if (rc) {
		snprintf(errstr, errstr_size, "out of memory adding dead-letter headers");
		goto fail;
	}
	return rec;
fail:
	art_record_destroy(rec);
	return NULL;
}
