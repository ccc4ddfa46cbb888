/*
 * topic_reader.h — reading a topic outside any consumer group, for the
 * operator tools (`artery tail`, `artery dlq`): every partition (or one)
 * assigned at a start offset, partition EOF reported, nothing committed.
 * Also the JSON rendering of record headers those tools print.
 * Start-up and the tool's main thread only.
 */
#ifndef ART_TOPIC_READER_H
#define ART_TOPIC_READER_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

/* Returns a consumer handle (rd_kafka_consumer_poll() to read; close with
 * rd_kafka_consumer_close() + rd_kafka_destroy()) assigned to every
 * partition of topic (partition < 0) or to one, each at offset (an offset,
 * or RD_KAFKA_OFFSET_BEGINNING / _END / RD_KAFKA_OFFSET_TAIL(n)). Kafka
 * settings come from kafka.h; client_id names the tool. The partition
 * count is stored in *pcnt. Waits at most timeout_ms (capped at 30 s) for
 * metadata. Returns NULL with the reason in errstr (no such topic or
 * partition, Kafka unreachable). */
rd_kafka_t *art_topic_reader_open(const char *topic, int32_t partition, int64_t offset,
				  const char *client_id, int timeout_ms, int *pcnt, char *errstr,
				  size_t errstr_size);

/* The headers of rkm as a JSON object: name -> value (text when valid
 * UTF-8, else {"base64": ...}; null for a header without a value), an
 * array when a name repeats. Returns a new reference ({} when there are no
 * headers), NULL only when out of memory. */
json_t *art_topic_reader_headers_json(rd_kafka_message_t *rkm);

#endif
