/*
 * hl7_ingest.h — what Artery does with one received HL7 v2 message,
 * independent of how it arrived (MLLP frame, HTTP POST /hl7v2, a message of
 * a dropped file): parse, key, map, and decide the records to produce and
 * the acknowledgement to give once Kafka has stored them.
 *
 *   parseable, mapped          -> raw + canonical events;   accept
 *   parseable, type unmapped   -> raw only (counted);       accept
 *   parseable, unmappable      -> on_error quarantine: raw + dead letter, accept
 *                                 on_error reject:     dead letter,       error (AE)
 *   unparseable / multi-message -> dead letter;                reject (AR)
 *   mapper internal failure    -> dead letter;                error (AE)
 *
 * Dead letters carry the exact bytes as a RawMessage record plus headers
 * artery.error (the reason) and artery.error.kind. The caller produces the
 * records with producer.h and acknowledges with the prepared outcome only
 * after Kafka acknowledged all of them (commit-before-ACK); if Kafka fails,
 * the answer is error (AE) whatever was prepared.
 *
 * One ingester per event loop thread (it reuses Avro values between
 * messages). Rates: tens of thousands of messages per second.
 */
#ifndef ART_HL7_INGEST_H
#define ART_HL7_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "dedup.h"
#include "hl7.h"
#include "hl7_ack.h"
#include "record.h"
#include "schema.h"
#include "topology.h"

/* How the message was handled (also a metric label). */
enum art_hl7_ingest_kind {
	ART_INGEST_MAPPED = 0,       /* canonical events produced */
	ART_INGEST_UNSUPPORTED = 1,  /* a type Artery does not map: raw kept */
	ART_INGEST_QUARANTINED = 2,  /* unmappable, accepted, raw + dead letter */
	ART_INGEST_UNMAPPABLE = 3,   /* unmappable, refused (AE) + dead letter */
	ART_INGEST_UNPARSEABLE = 4,  /* not HL7 we can read (AR) + dead letter */
	ART_INGEST_INTERNAL = 5,     /* mapping failed inside Artery (AE) + dead letter */
};

/* Fixed settings of one source channel. Strings are borrowed. */
struct art_hl7_ingest_conf {
	const struct art_schema_registry *reg;
	const char *channel;   /* listener name: the `source` of events */
	const char *raw_topic; /* e.g. "raw.hl7v2" */
	const char *dlq_topic; /* e.g. "dlq.mllp-in" */
	enum art_on_error on_error;
	struct art_hl7_opts hl7; /* parser limits */
};

/* What to produce and how to answer, for one message. */
struct art_hl7_ingest {
	enum art_hl7_ingest_kind kind;
	enum art_hl7_ack_code code; /* answer once the records are stored */
	int err_code;               /* HL7 table 0357 for code != ACCEPT */
	char reason[512];           /* why (ERR text / dead letter reason); "" when mapped */
	struct art_hl7_msg *msg;    /* the parse, referencing the caller's buffer; NULL if none */
	struct art_record_list recs; /* records to produce, in order */
	char idempotency_key[65];   /* hex; stable across resends */
	char control_id[128];       /* MSH-10 decoded, "" if unknown */
	char message_type[64];      /* MSH-9 as TYPE^TRIGGER, "" if unknown */
	uint8_t dedup_key[ART_DEDUP_DIGEST]; /* digest of MSH-3 + MSH-4 + MSH-10 */
	uint8_t content_hash[ART_DEDUP_DIGEST]; /* SHA-256 of the bytes */
	int dedupable;              /* 1 when dedup_key is meaningful (control id present) */
	size_t events;              /* canonical events among recs */
};

struct art_hl7_ingester;

/* Returns an ingester for conf (copied; the strings must outlive it), or
 * NULL with the reason in errstr (a schema missing from the registry). */
struct art_hl7_ingester *art_hl7_ingester_new(const struct art_hl7_ingest_conf *conf,
					      char *errstr, size_t errstr_size);

/* Frees the ingester; NULL is a no-op. */
void art_hl7_ingester_destroy(struct art_hl7_ingester *ing);

/* Handles buf[0..len) received from remote (host:port or NULL) at
 * received_at_us (epoch micros). Fills *out, which references buf (keep it
 * alive until art_hl7_ingest_clear()). Never fails: every outcome,
 * including out-of-memory, is expressed in out->kind/code/reason; when no
 * record could be built at all, out->recs is empty and out->code is ERROR.
 * Clear with art_hl7_ingest_clear(). */
void art_hl7_ingest_prepare(struct art_hl7_ingester *ing, const char *buf, size_t len,
			    const char *remote, int64_t received_at_us,
			    struct art_hl7_ingest *out);

/* Prepares the refusal of bytes that cannot be taken at all (a frame over
 * the size limit, of which buf holds only the first len bytes): kind
 * UNPARSEABLE, code REJECT, a dead letter with buf and reason. Same
 * contract as art_hl7_ingest_prepare(). */
void art_hl7_ingest_refuse(struct art_hl7_ingester *ing, const char *buf, size_t len,
			   const char *remote, int64_t received_at_us, const char *reason,
			   struct art_hl7_ingest *out);

/* Frees what *in holds (records, parse) and zeroes it. */
void art_hl7_ingest_clear(struct art_hl7_ingest *in);

/* The metric label / log word of a kind: "mapped", "unsupported", ... */
const char *art_hl7_ingest_kind_name(enum art_hl7_ingest_kind kind);

#endif
