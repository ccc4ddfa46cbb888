/*
 * sink.h — the delivery-target interface of Artery's consumers.
 *
 * A target (FHIR REST, an NDJSON outbox, MLLP to a legacy EHR, a webhook,
 * a SQL table...) is one small ops struct, registered the way a Fluent Bit
 * output plugin is: a name, init, deliver, close, and optionally flush (a
 * target that batches its writes). The consumer runtime
 * (consumer.h) owns everything around it — the consumer group, decoding and
 * projection onto the pinned reader schema, route filters, the
 * delivered-keys ledger, retries with backoff and partition pause, dead
 * letters, offsets — and calls deliver() once per event that passed the
 * route and is not in the ledger. A sink never commits, sleeps to back off
 * or writes dead letters: it answers, and only the process loop acts on the
 * answer (docs/consumer.md).
 *
 * Answers of deliver():
 *   ART_OK     the target accepted the event (durably, as far as the
 *              target's protocol can tell — or into the batch that the
 *              sink's flush() makes durable): the runtime records it in
 *              the ledger and stores the offset, with its batch.
 *   ART_RETRY  transient: timeout, connection refused/reset, HTTP 5xx, 408,
 *              429, an MLLP AE/CE. The same event is delivered again after
 *              a backoff (or after *retry_after_ms when the sink sets it,
 *              e.g. from Retry-After), its partition paused meanwhile.
 *   ART_FAIL   permanent: HTTP 4xx other than 408/429, an MLLP AR/CR, a
 *              transform error (the event cannot be expressed for this
 *              target). The event goes to the dead-letter topic with errstr.
 * errstr must say why for RETRY and FAIL; it ends up in logs and in the
 * artery.error header of a dead letter, so it must not contain patient
 * data (names, identifiers, payload excerpts).
 *
 * Threading: init, deliver, flush and close are called from the consumer
 * loop's thread only, one event at a time, in partition order. deliver() may
 * block (network I/O) but must bound every wait with its own timeouts:
 * while it runs, no other partition makes progress, and a call longer
 * than max.poll.interval.ms (default 300 s) makes the consumer leave its
 * group.
 */
#ifndef ART_SINK_H
#define ART_SINK_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "art.h"
#include "avro_tree.h"

struct art_schema;
struct art_schema_registry;
struct art_metrics;
struct art_kv;

/* One decoded record handed to a sink. Everything is borrowed and valid
 * only during the deliver() call; copy what must outlive it. */
struct art_event {
	const char *topic; /* where it was consumed from */
	int32_t partition;
	int64_t offset;
	const void *key; /* the Kafka key (patient key), may be NULL */
	size_t key_len;
	const void *value; /* the wire-format bytes as consumed */
	size_t value_len;
	const struct art_schema *writer; /* schema of the value's id */
	const struct art_schema *reader; /* the consumer's pinned version of that subject */
	const struct art_tnode *doc; /* the value projected onto reader, as a read-only tree
	                                (avro_tree.h: avro_codec.h's JSON mapping;
	                                art_tree_to_json() when a jansson copy is needed) */
	const char *event_id;        /* unique per event, stable across resends (never NULL): the
	                                value's event_id, else the artery.event_id header, else
	                                "topic/partition/offset" */
	const char *idempotency_key; /* shared by all events of one source message: the value's,
	                                else the artery.idempotency_key header ("" if none) */
	const char *event_type;      /* e.g. "result.final" ("" if none) */
	const char *source;          /* source.channel, else the artery.source header ("" if none) */
	const char *message_type;    /* hl7.message_type header, e.g. "ORU^R01", when the
	                                consumer's route filters on message types; "" otherwise
	                                (read headers with art_kafka_header_get(ev->rkm, ...)) */
	int attempt;                 /* 1 for the first delivery of this event, 2 for the first retry... */
	rd_kafka_message_t *rkm;     /* the record itself, for headers (art_kafka_header_get) */
};

/* What a sink gets at init: the consumer's `target:` section of
 * topology.yaml and a few shared services. Borrowed: valid until close(). */
struct art_sink_conf {
	const char *name;                      /* consumer name, e.g. "ehr-out" */
	const char *type;                      /* target.type, e.g. "fhir" */
	const char *target_url;                /* target.url, NULL when absent */
	const struct art_kv *params;           /* every other target.<key>, in file order */
	size_t param_cnt;
	const char *topology_path;             /* for "file:line: message" errors */
	const struct art_schema_registry *reg; /* the loaded schema registry */
	struct art_metrics *metrics;           /* may be NULL; sinks may register
	                                          artery_sink_<type>_* metrics in it */
};

/* A delivery target. A sink is a static const instance of this struct. */
struct art_sink_ops {
	const char *name; /* target.type that selects it: "fhir", "ndjson", "mllp", "null"... */

	/* Validates conf (unknown target keys are errors: use
	 * art_sink_conf_check()) and prepares the sink, storing its context
	 * in *ctxp. Returns 0, or -1 with "file:line: message" or a plain
	 * reason in errstr: the process then exits 2 without consuming. */
	int (*init)(void **ctxp, const struct art_sink_conf *conf, char *errstr,
	            size_t errstr_size);

	/* Delivers one event: ART_OK, ART_RETRY or ART_FAIL (above). On
	 * ART_RETRY, *retry_after_ms may be set to the delay the target asked
	 * for (it starts at 0 = no hint); the runtime honours it up to the
	 * consumer's max_backoff_ms. */
	enum art_res (*deliver)(void *ctx, const struct art_event *ev, int *retry_after_ms,
	                        char *errstr, size_t errstr_size);

	/* Optional (NULL: every ART_OK is final). Makes durable, as the
	 * sink's settings promise, everything deliver() answered ART_OK for
	 * since the last flush — e.g. writes buffered lines and fsyncs them.
	 * The runtime calls it before it records a batch of delivered events
	 * in the ledger and stores their offsets (every few hundred events or
	 * ART_CONSUMER_BATCH_MS, on revocation and at shutdown), so a sink
	 * with a flush may answer ART_OK once an event is in its batch.
	 * Returns 0, or -1 with the reason in errstr: the runtime then records
	 * and stores nothing of the batch and stops the process (fatal); after
	 * a restart the batch is delivered again. */
	int (*flush)(void *ctx, char *errstr, size_t errstr_size);

	/* Releases the context (may be NULL when init failed before setting
	 * it). Called once, after the last deliver() and flush(). */
	void (*close)(void *ctx);

	/* 1: the target deduplicates by key itself (FHIR conditional create
	 * keyed by the event's identifiers / idempotency key, an SQL upsert
	 * by event id), so a repeated delivery has no second side effect.
	 * 0: it cannot (MLLP to a legacy EHR, a webhook without idempotency).
	 * Either way the runtime checks the ledger before delivering and
	 * records the event after ART_OK (it saves a round trip on replay);
	 * the difference: only a dedups_itself sink may run with the ledger
	 * disabled (`ledger: {enabled: false}`), and for it the crash window
	 * of docs/ledger.md is harmless. */
	int dedups_itself;
};

/* Returns the value of target key `key` in conf ("url" and "type" are
 * answered too), or NULL when absent. */
const char *art_sink_conf_get(const struct art_sink_conf *conf, const char *key);

/* Checks that every target key in conf is one of allowed (NULL-terminated;
 * "type" and "url" are always allowed). Returns 0, or -1 with
 * "file:line: unknown key 'k' in target (expected one of: ...)" in errstr. */
int art_sink_conf_check(const struct art_sink_conf *conf, const char *const *allowed,
                        char *errstr, size_t errstr_size);

/* Reads target key `key` as an integer in [min, max]: 0 with *out set
 * (def when the key is absent), or -1 with "file:line: ..." in errstr. */
int art_sink_conf_int(const struct art_sink_conf *conf, const char *key, long long min,
                      long long max, long long def, long long *out, char *errstr,
                      size_t errstr_size);

/* A sink's own metrics (artery_sink_<type>_*): registered in conf->metrics
 * at init (NULL, and every update a no-op, when conf has no registry or
 * the registration fails), updated from deliver() and flush(). */
struct art_metric *art_sink_counter(const struct art_sink_conf *conf, const char *name,
                                    const char *help, const char *label);
struct art_metric *art_sink_histogram(const struct art_sink_conf *conf, const char *name,
                                      const char *help);
void art_sink_count(struct art_metric *m, const char *label_value, double v);
void art_sink_observe(struct art_metric *m, double seconds);

/* Returns the sink called type among the cnt sinks, or NULL. */
const struct art_sink_ops *art_sink_find(const struct art_sink_ops *const *sinks, size_t cnt,
                                         const char *type);

#endif
