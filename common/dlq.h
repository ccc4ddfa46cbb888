/*
 * dlq.h — dead letters written by consumers (DESIGN §3, `dlq.<process>`).
 *
 * A dead letter is the consumed record as it was — the same key, value
 * bytes and headers — plus headers saying why and from where, so that
 * `artery dlq list|show` can explain it and `artery replay` can put it back
 * on its original topic unchanged:
 *
 *   artery.error              the reason (sink's errstr, decode error, ...)
 *   artery.error.kind         rejected | retries_exhausted | undecodable
 *   artery.attempts           deliveries tried (decimal)
 *   artery.original.topic     where it was consumed from
 *   artery.original.partition
 *   artery.original.offset
 *   artery.original.timestamp record timestamp in ms (when the record has one)
 *   artery.dead_lettered_at   epoch microseconds
 *   artery.consumer           the consumer (process) that gave up, e.g. ehr-out
 *
 * Headers of an earlier dead-lettering (these names) are replaced, not
 * repeated, when a redriven record fails again. The record keeps the
 * original key, so a DLQ's partitioning follows the patient.
 * Stateless; any thread.
 */
#ifndef ART_DLQ_H
#define ART_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "record.h"

#define ART_HDR_ERROR              "artery.error"
#define ART_HDR_ERROR_KIND         "artery.error.kind"
#define ART_HDR_ATTEMPTS           "artery.attempts"
#define ART_HDR_ORIGINAL_TOPIC     "artery.original.topic"
#define ART_HDR_ORIGINAL_PARTITION "artery.original.partition"
#define ART_HDR_ORIGINAL_OFFSET    "artery.original.offset"
#define ART_HDR_ORIGINAL_TIMESTAMP "artery.original.timestamp"
#define ART_HDR_DEAD_LETTERED_AT   "artery.dead_lettered_at"
#define ART_HDR_CONSUMER           "artery.consumer"

#define ART_DLQ_ERROR_MAX 1024 /* bytes of artery.error kept */

/* Why a record is dead-lettered. */
struct art_dlq_reason {
	const char *kind;     /* "rejected", "retries_exhausted", "undecodable" */
	const char *error;    /* human-readable, no patient data */
	int attempts;         /* deliveries tried (0 when never delivered) */
	const char *consumer; /* process name */
};

/* Builds the dead letter of rkm for dlq_topic: a new record with copies of
 * rkm's key, value and headers (minus earlier dead-letter headers) plus the
 * headers above. Original headers beyond ART_RECORD_MAX_HEADERS minus the
 * nine above are dropped. Returns NULL when out of memory (reason in
 * errstr). Caller owns the record. Any thread that may read rkm. */
struct art_record *art_dlq_record(const char *dlq_topic, rd_kafka_message_t *rkm,
                                  const struct art_dlq_reason *why, char *errstr,
                                  size_t errstr_size);

/* Returns 1 when header name is one art_dlq_record() writes (and replaces). */
int art_dlq_is_dlq_header(const char *name);

#endif
