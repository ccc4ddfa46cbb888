/*
 * record.h — an outgoing Kafka record (topic, key, value, headers): the
 * unit a producer hands to Kafka, and a list of them (everything derived
 * from one source message, which is acknowledged only when Kafka has
 * acknowledged every record in its list — DESIGN §3 commit-before-ACK).
 *
 * Also the header names of DESIGN §3. Header values are bytes (may be
 * binary); the ones Artery writes are short text.
 *
 * Sizes: a source message yields a handful of records (raw + canonical),
 * a batch file up to some thousands; a record has up to ART_RECORD_MAX_HEADERS
 * headers. Not thread-safe: a record belongs to one thread at a time.
 */
#ifndef ART_RECORD_H
#define ART_RECORD_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* Record header names (DESIGN §3). */
#define ART_HDR_EVENT_ID         "artery.event_id"        /* canonical event id */
#define ART_HDR_IDEMPOTENCY_KEY  "artery.idempotency_key" /* dedup key of the event */
#define ART_HDR_SOURCE           "artery.source"          /* channel/listener name */
#define ART_HDR_SCHEMA           "artery.schema"          /* subject:version of the value */
#define ART_HDR_TRACE_ID         "artery.trace_id"        /* shared by all records of one input */
#define ART_HDR_RECEIVED_AT      "artery.received_at"     /* receive time, decimal micros UTC */
#define ART_HDR_HL7_CONTROL_ID   "hl7.control_id"         /* MSH-10 */
#define ART_HDR_HL7_MESSAGE_TYPE "hl7.message_type"       /* MSH-9, e.g. ADT^A01 */
#define ART_HDR_REPLAYED_FROM    "artery.replayed_from" /* topic/partition/offset of the original */

#define ART_RECORD_MAX_HEADERS 64 /* headers per record */

/* One header; value may be binary and is not NUL-terminated in general
 * (the record keeps a NUL after it for convenience, not counted). Name
 * and value share one allocation that starts at name. */
struct art_record_header {
	char *name;
	void *value; /* NULL for a header without a value */
	size_t value_len;
};

struct art_record {
	char *topic;
	void *key; /* NULL: no key (round-robin partitioning) */
	size_t key_len;
	void *value; /* NULL: tombstone */
	size_t value_len;
	int32_t partition; /* RD_KAFKA_PARTITION_UA: the partitioner picks by key */
	struct art_record_header *headers;
	size_t header_cnt;
	size_t header_cap;
};

/* Returns a new record for topic with a copy of the key (key may be NULL)
 * and TAKING OWNERSHIP of value (malloc'd, e.g. from
 * art_avro_value_encode(); may be NULL). Returns NULL when out of memory —
 * value is then freed too, so the caller never frees it after this call.
 * Caller frees the record with art_record_destroy(). */
struct art_record *art_record_new(const char *topic, const void *key, size_t key_len, void *value,
                                  size_t value_len);

/* Returns a new record for topic with copies of rkm's key, value and
 * headers, leaving out the headers for which skip(name) returns 1 (skip may
 * be NULL) and any beyond the first max_headers kept (room the caller keeps
 * for its own). NULL when out of memory (reason in errstr). Caller frees
 * the record. Any thread that may read rkm (librdkafka parses headers
 * lazily, hence not const). */
struct art_record *art_record_from_message(const char *topic, rd_kafka_message_t *rkm,
                                           int (*skip)(const char *name), size_t max_headers,
                                           char *errstr, size_t errstr_size);

/* Frees the record, its value and headers; NULL is a no-op. */
void art_record_destroy(struct art_record *rec);

/* Appends a header with a copy of len bytes at value (value may be NULL for
 * an empty header). Names may repeat. Returns 0, or -1 when the record
 * already has ART_RECORD_MAX_HEADERS headers or memory ran out. */
int art_record_add_header(struct art_record *rec, const char *name, const void *value, size_t len);

/* art_record_add_header() with a NUL-terminated string value. */
int art_record_add_header_str(struct art_record *rec, const char *name, const char *value);

/* Returns the value of the last header called name (length in *lenp, may
 * be NULL), or NULL when there is none. Borrowed from rec. */
const void *art_record_header(const struct art_record *rec, const char *name, size_t *lenp);

/* Returns the headers as a new librdkafka header list (NULL when the
 * record has none or memory ran out). Caller owns it (see
 * art_record_produce(), which hands it to librdkafka). */
rd_kafka_headers_t *art_record_kafka_headers(const struct art_record *rec);

/* Produces rec with rd_kafka_producev() (topic, partition, key, value and
 * headers copied; rec stays the caller's), with msg_opaque for the delivery
 * report. Returns RD_KAFKA_RESP_ERR_NO_ERROR or librdkafka's error (e.g.
 * __QUEUE_FULL: poll and call again; __FAIL: out of memory building the
 * headers). Any thread that may produce on rk. */
rd_kafka_resp_err_t art_record_produce(rd_kafka_t *rk, const struct art_record *rec,
                                       void *msg_opaque);

/* An ordered list of records owned by the list. */
struct art_record_list {
	struct art_record **recs;
	size_t cnt;
	size_t cap;
	size_t max; /* most records the list accepts */
};

/* Initialises an empty list that accepts at most max records. */
void art_record_list_init(struct art_record_list *list, size_t max);

/* Appends rec and TAKES OWNERSHIP of it. Returns 0, or -1 when the list is
 * full or memory ran out (rec is then still the caller's). */
int art_record_list_add(struct art_record_list *list, struct art_record *rec);

/* Destroys every record and empties the list (keeps its allocation). */
void art_record_list_clear(struct art_record_list *list);

/* Destroys every record and frees the list's memory; the list may be
 * reused after art_record_list_init(). */
void art_record_list_free(struct art_record_list *list);

#endif
