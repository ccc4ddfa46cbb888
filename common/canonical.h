/*
 * canonical.h — HL7 v2 → canonical event mapping (docs/mapping.md,
 * docs/events.md).
 *
 * One parsed message in, zero or more canonical events out, each an Avro
 * record of a registry schema in the Confluent wire format, ready to be
 * produced. A table maps (message type, trigger) to a domain mapper and an
 * event type; each domain lives in its own file (canonical_patient.c,
 * canonical_result.c, canonical_encounter.c, canonical_order.c,
 * canonical_appointment.c, canonical_document.c, canonical_immunization.c).
 * A message may yield events of several domains (an ADT^A01: the patient
 * snapshot and the encounter event). Messages of types not in the table
 * are UNSUPPORTED: they stay raw only, which is not an error.
 *
 * Keys: every message, mapped or not, gets a partition key (the patient key,
 * or source + control id) and an idempotency key (SHA-256 of MSH-3, MSH-4,
 * MSH-10, MSH-7), so raw and canonical records of one message are keyed
 * alike; every event gets a deterministic event id derived from the
 * idempotency key and its index, so a resend yields identical events.
 *
 * Owns: nothing of the message (read-only access through hl7.h's decoding
 * accessors); the result owns its events. A struct art_canon_mapper owns one
 * reusable Avro value per domain and scratch buffers: one mapper per thread.
 *
 * Sizes and rates: runs on the MLLP ingest hot path (target 20,000
 * messages/s end to end on two cores including Kafka). Measured with a
 * reused mapper (release build, one core): an 8.5 KB ADT^A04 in ~16 us, a
 * 2.8 KB ORU^R01 with three OBX and fifteen NTE in ~32 us, of which the
 * Avro encode is 3-8 us; parsing the same messages takes 1-2 us. Most of
 * the rest is Avro C's generic values (per-string allocations); a direct
 * Avro binary writer is the next step if the end-to-end target needs it.
 * Each event costs its own envelope and encode: an encounter-centred ADT
 * (patient + encounter event) costs about twice a patient-only one.
 */
#ifndef ART_CANONICAL_H
#define ART_CANONICAL_H

#include <stddef.h>
#include <stdint.h>

#include "hl7.h"
#include "schema.h"

/* What art_canon_map() concluded. */
enum art_canon_status {
	ART_CANON_MAPPED = 0,      /* events produced (>= 1) */
	ART_CANON_UNSUPPORTED = 1, /* message type Artery does not map (yet): keep raw only, no error */
	ART_CANON_UNMAPPABLE = 2,  /* a supported type that cannot be mapped (e.g. ADT without PID, ORU without OBR, no patient identifier): errstr says why; the listener's on_error policy applies */
	ART_CANON_ERROR = 3,       /* internal failure (encode error, out of memory): errstr says why */
};

/* Where the message came from; read-only for the call. */
struct art_canon_ctx {
	const struct art_schema_registry *reg; /* writes with art_schema_latest(subject) */
	const char *channel;     /* listener / source channel name, e.g. "adt-feed" (NULL: "") */
	int64_t received_at_us;  /* when the bytes arrived (epoch micros) */
	const char *raw_topic;   /* where the raw message goes, e.g. "raw.hl7v2" (NULL: no raw_ref) */
	const char *raw_hash;    /* lowercase hex sha256 of the raw bytes (NULL: no raw_ref) */
};

/* One canonical event, ready to produce. */
struct art_canon_event {
	char *topic;                     /* "canonical.patient" (topic = subject name by default) */
	const struct art_schema *schema; /* writer schema (subject:version for the artery.schema header) */
	char *event_type;                /* from the taxonomy, e.g. "patient.registered" */
	char event_id[37];               /* deterministic UUID-formatted id: derived from idempotency key + event index, so a resend yields the same event ids */
	void *value;                     /* Confluent wire-format bytes, malloc'd */
	size_t value_len;
};

/* Everything art_canon_map() produced for one message. Zero it (or let
 * art_canon_keys()/art_canon_map() do it) before use. */
struct art_canon_result {
	struct art_canon_event *events;
	size_t cnt;
	char idempotency_key[65];  /* hex sha256 of sending app + facility + control id + message time (MSH-3, MSH-4, MSH-10, MSH-7): identical across resends */
	char *key;                 /* Kafka partition key: patient key (assigning authority + "|" + identifier of the MR-typed PID-3 repetition, fallbacks in docs/events.md) or, without patient, source + "|" + control id */
};

/* Computes key and idempotency_key for any parsed message (even unsupported
 * types), so raw records are keyed the same way. Zeroes *out first. Returns
 * 0, or -1 with the reason in errstr (out of memory). Caller frees out->key
 * with art_canon_result_free(), also after failure. Read-only on msg; any
 * thread. */
int art_canon_keys(const struct art_hl7_msg *msg, struct art_canon_result *out, char *errstr,
		   size_t errstr_size);

/* A reusable mapping context: one Avro value per canonical schema (created
 * on first use) and scratch buffers. reg must outlive the mapper. Returns
 * NULL when out of memory. Belongs to the thread that uses it; create one
 * per ingest worker. Free with art_canon_mapper_destroy(). */
struct art_canon_mapper *art_canon_mapper_new(const struct art_schema_registry *reg);

/* Frees the mapper; NULL is a no-op. */
void art_canon_mapper_destroy(struct art_canon_mapper *mapper);

/* Maps msg with mapper (whose registry is used; ctx->reg is ignored): fills
 * *out (zeroed first) with the keys and, on ART_CANON_MAPPED, the events.
 * On UNMAPPABLE and ERROR the reason is in errstr and out holds no events
 * (all or nothing: a message is never half mapped), but still its keys
 * when they could be computed. Caller frees *out with
 * art_canon_result_free() whatever the status. Only the mapper's thread. */
enum art_canon_status art_canon_map_with(struct art_canon_mapper *mapper,
					 const struct art_hl7_msg *msg,
					 const struct art_canon_ctx *ctx,
					 struct art_canon_result *out, char *errstr,
					 size_t errstr_size);

/* Convenience: as art_canon_map_with() with a mapper created for
 * ctx->reg for this call only (~5 us more per message: the hot path should
 * keep one mapper per worker thread). Any thread. */
enum art_canon_status art_canon_map(const struct art_hl7_msg *msg, const struct art_canon_ctx *ctx,
				    struct art_canon_result *out, char *errstr,
				    size_t errstr_size);

/* Frees the events and key of *out and zeroes it; NULL is a no-op. */
void art_canon_result_free(struct art_canon_result *out);

/* Name of a status ("mapped", "unsupported", "unmappable", "error"). */
const char *art_canon_status_name(enum art_canon_status st);

/* Looks up the table: the event type a message of type/trigger (e.g.
 * "ADT", "A04") maps to, the canonical subject it is written to in
 * *subject (may be NULL), or NULL when the pair is unsupported. When the
 * pair yields events of several domains this is the FIRST one (ADT^A01:
 * patient.updated on canonical.patient; see art_canon_route_at()). When
 * the mapper decides the event type from the content (results, orders,
 * immunizations) the answer is "<domain>.*", e.g. "result.*". Any thread. */
const char *art_canon_route(const char *type, const char *trigger, const char **subject);

/* As art_canon_route() for the index-th event kind (0-based) a pair
 * yields: ADT^A01 index 1 is "encounter.admitted" on canonical.encounter.
 * NULL past the last one. Any thread. */
const char *art_canon_route_at(const char *type, const char *trigger, size_t index,
			       const char **subject);

/* ---- HL7 date/time -------------------------------------------------------- */

/* How much of a time the source actually gave. */
enum art_canon_precision {
	ART_CANON_PREC_YEAR = 0,
	ART_CANON_PREC_MONTH = 1,
	ART_CANON_PREC_DAY = 2,
	ART_CANON_PREC_HOUR = 3,
	ART_CANON_PREC_MINUTE = 4,
	ART_CANON_PREC_SECOND = 5,
	ART_CANON_PREC_MILLI = 6, /* 1 to 3 fraction digits */
	ART_CANON_PREC_MICRO = 7, /* 4 to 6 fraction digits */
};

/* A parsed HL7 DTM/TS/DT value. */
struct art_canon_time {
	int64_t micros;           /* UTC microseconds since the epoch (offset applied; none stated: taken as UTC) */
	int has_offset;           /* 1 when the source stated +/-ZZZZ */
	int offset_minutes;       /* the stated offset, e.g. -300 for -0500; 0 without one */
	enum art_canon_precision precision;
	int year, month, day;     /* the local date as written (month/day 0 below that precision) */
};

/* Parses YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] (up to 6 fraction
 * digits; surrounding spaces ignored; calendar and offset ranges checked).
 * Returns 0 and fills *out, or -1 when s is not such a time. Any thread. */
int art_canon_parse_time(const char *s, size_t len, struct art_canon_time *out);

/* Name of a precision as the schemas spell it ("year" ... "microsecond"). */
const char *art_canon_precision_name(enum art_canon_precision p);

/* ---- domain mapper interface (common/canonical_*.c only) ------------------
 * Everything below is shared by canonical.c and the per-domain files; a
 * process never needs it. Define ART_CANON_INTERNAL before including. */
#ifdef ART_CANON_INTERNAL

#include <openssl/evp.h>

#include "avro_codec.h"
#include "buf.h"

/* The canonical subjects, one reusable value each in a mapper. */
enum art_canon_domain {
	ART_CANON_D_PATIENT = 0,      /* canonical.patient */
	ART_CANON_D_RESULT = 1,       /* canonical.result */
	ART_CANON_D_ENCOUNTER = 2,    /* canonical.encounter */
	ART_CANON_D_ORDER = 3,        /* canonical.order */
	ART_CANON_D_APPOINTMENT = 4,  /* canonical.appointment */
	ART_CANON_D_DOCUMENT = 5,     /* canonical.document */
	ART_CANON_D_IMMUNIZATION = 6, /* canonical.immunization */
	ART_CANON_D_MAX = 8,          /* one spare */
};

#define ART_CANON_MAX_VALUE (16u << 20) /* bytes of one decoded HL7 value / text */

struct art_canon_mapper {
	const struct art_schema_registry *reg;
	const struct art_schema *schemas[ART_CANON_D_MAX]; /* latest of each domain, looked up once */
	struct art_avro_value *vals[ART_CANON_D_MAX];      /* reused per domain, created on first use */
	struct art_buf tmp;                                /* one decoded value (see art_canon_val) */
	struct art_buf text;                               /* joined texts (OBX-5, NTE-3) */
	struct art_buf key;                                /* the partition key being built */
	EVP_MD *sha256;                                    /* fetched once: a per-call fetch costs more than the hash */
	EVP_MD_CTX *mdctx;
	/* where the last HL7 read was (canonical.c, art_canon_at): the next
	 * read of the same field resumes from there instead of rescanning;
	 * cleared for every message */
	struct {
		const struct art_hl7_msg *msg; /* NULL: nothing cached */
		size_t seg, field;
		int have_f, msh12;             /* field present; MSH-1/MSH-2 (never split) */
		struct art_hl7_span f;         /* the field */
		size_t rep;                    /* 0, or the repetition in r */
		struct art_hl7_span r;
		size_t comp;                   /* 0, or the component starting at cp */
		const char *cp;
	} cur;
};

struct art_canon_job;

/* A domain mapper: adds the events of job->msg with art_canon_emit().
 * Returns ART_CANON_MAPPED, or UNMAPPABLE / ERROR after art_canon_fail(). */
typedef enum art_canon_status (*art_canon_domain_fn)(struct art_canon_job *job);

/* Route flags. */
#define ART_CANON_RF_IF_VISIT 0x1 /* the row's event only when a PV1 describes a visit (class other than N, or a visit number); else the row adds nothing */

/* One row of the table: (type, trigger) -> (domain mapper, event type).
 * A (type, trigger) may have several ADJACENT rows: each adds its events,
 * in table order, to the same all-or-nothing result (e.g. ADT^A01: the
 * patient snapshot, then the encounter event). */
struct art_canon_route {
	const char *type;          /* MSH-9.1, e.g. "ADT" */
	const char *trigger;       /* MSH-9.2 (or EVN-1), e.g. "A04" */
	enum art_canon_domain domain;
	art_canon_domain_fn map;
	const char *event_type;    /* NULL when the mapper decides (results, orders, immunizations) */
	unsigned flags;            /* ART_CANON_RF_* */
};

/* The state of one art_canon_map_with() call. */
struct art_canon_job {
	struct art_canon_mapper *m;
	const struct art_hl7_msg *msg;
	const struct art_hl7_header *hdr;
	const struct art_canon_ctx *ctx;
	const struct art_canon_route *route;
	struct art_canon_result *out;
	char trigger[16];          /* "ADT^A08", for the envelope */
	char *errstr;
	size_t errstr_size;
	enum art_canon_status fail; /* first failure, MAPPED when none */
};

/*
 * Fast setters on the generic Avro values, for the hot path (the
 * art_avro_set_*() path setters of avro_codec.h cost several times more per
 * field). `at` is a record (NULL: av->root) and `name` one of its fields. An
 * optional field is a ["null", T] union — every canonical schema is checked
 * for that shape once, when a mapper first uses it — and is switched to T.
 * A record made present (or appended) starts with its optional fields null.
 * Failures are kept in av->err like the path setters' (first one wins), so
 * art_avro_value_encode() refuses the record; each returns 0 or -1.
 */

/* Sets a string field; s must be NUL-terminated at len (art_buf contents). */
int art_canon_put_str(struct art_avro_value *av, avro_value_t *at, const char *name, const char *s,
		      size_t len);
/* Sets a string field from a C string. */
int art_canon_put_cstr(struct art_avro_value *av, avro_value_t *at, const char *name, const char *s);
int art_canon_put_long(struct art_avro_value *av, avro_value_t *at, const char *name, int64_t v);
int art_canon_put_int(struct art_avro_value *av, avro_value_t *at, const char *name, int32_t v);
int art_canon_put_double(struct art_avro_value *av, avro_value_t *at, const char *name, double v);
int art_canon_put_bool(struct art_avro_value *av, avro_value_t *at, const char *name, int v);
/* Makes record field `name` present (if optional) and stores it in *out
 * (borrowed until the next append to an enclosing array or a reset). */
int art_canon_put_rec(struct art_avro_value *av, avro_value_t *at, const char *name,
		      avro_value_t *out);
/* Appends an element to the array field `name`, stored in *elem. */
int art_canon_put_append(struct art_avro_value *av, avro_value_t *at, const char *name,
			 avro_value_t *elem);
/* Appends string s (NUL-terminated at len) to the string array `name`. */
int art_canon_put_item(struct art_avro_value *av, avro_value_t *at, const char *name, const char *s,
		       size_t len);

/* Records the first failure (status and reason) and returns it. */
enum art_canon_status art_canon_fail(struct art_canon_job *job, enum art_canon_status st,
				     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Decodes the value at segment seg, field, rep, comp, sub (as art_hl7_at:
 * 0 = whole level) into the mapper's scratch buffer. Returns
 * ART_HL7_VALUE with *p and *len set (valid until the next call), ART_HL7_NULL
 * for an explicit "", ART_HL7_ABSENT, or ART_HL7_ERROR after recording an
 * UNMAPPABLE failure naming the field (undecodable charset). */
enum art_hl7_val art_canon_val(struct art_canon_job *job, size_t seg, size_t field, size_t rep,
			       size_t comp, size_t sub, const char **p, size_t *len);

/* Appends the decoded value at seg/field/rep/comp (0 = whole level),
 * untrimmed, to the mapper's text buffer (job->m->text): for free text
 * (TX, FT, NTE-3). Returns as art_canon_val(). */
enum art_hl7_val art_canon_text(struct art_canon_job *job, size_t seg, size_t field, size_t rep,
				size_t comp);

/* Whether field `field` of segment seg is exactly the HL7 null "". */
int art_canon_is_null(struct art_canon_job *job, size_t seg, size_t field);

/* Number of repetitions of a field (0 when absent or empty). */
size_t art_canon_reps(struct art_canon_job *job, size_t seg, size_t field);

/* Sets string field `path` (relative to at) from the decoded value at seg
 * /field/rep/comp/sub when it has one. Returns what art_canon_val found. */
enum art_hl7_val art_canon_set_str(struct art_canon_job *job, struct art_avro_value *av,
				   avro_value_t *at, const char *path, size_t seg, size_t field,
				   size_t rep, size_t comp, size_t sub);

/* Sets Coding field `path` (NULL: `at` is the Coding record itself) from a
 * CE/CWE/CNE at seg/field/rep, starting at
 * component comp (1 normally): code, display, system = comp, comp+1,
 * comp+2, or the alternate triplet when those are all empty. Leaves the
 * field null when there is nothing. Returns 1 when set, 0 when not. */
int art_canon_set_coding(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			 const char *path, size_t seg, size_t field, size_t rep, size_t comp);

/* Sets Timestamp field `path` from the TS/DTM at seg/field/rep (component
 * 1). Leaves it null when absent, null or not a valid time. Returns 1 when
 * set, 0 when not. */
int art_canon_set_time(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
		       const char *path, size_t seg, size_t field, size_t rep);

/* As art_canon_set_time() for a time already decoded to text (s
 * NUL-terminated at len). */
int art_canon_set_time_text(struct art_canon_job *job, struct art_avro_value *av,
			    avro_value_t *at, const char *path, const char *s, size_t len);

/* Appends the CX repetitions of seg/field to the Identifier array `path`
 * (repetitions without a value are skipped). Returns how many. */
size_t art_canon_add_identifiers(struct art_canon_job *job, struct art_avro_value *av,
				 avro_value_t *at, const char *path, size_t seg, size_t field);

/* Resets the domain's value and fills the envelope: event_type, ids,
 * occurred_at (EVN-2, else MSH-7), received_at, source, source_message_id,
 * patient (from PID segment pid, or null when pid < 0), raw_ref, trigger.
 * Returns the value to fill the domain payload into, or NULL after
 * recording an ERROR (schema missing, out of memory). */
struct art_avro_value *art_canon_begin(struct art_canon_job *job, enum art_canon_domain domain,
				       const char *event_type, long pid);

/* Encodes the value art_canon_begin() returned as the next event (its
 * event_type field may have been changed meanwhile: event_type is the
 * final one). Returns 0, or -1 after recording an ERROR. */
int art_canon_emit(struct art_canon_job *job, struct art_avro_value *av, const char *event_type);

/* ---- helpers for the domain files added with issue #4 ----------------------
 * Same conventions as above: `path` is a field of `at` (at NULL: the root);
 * a field left null when the source has nothing; failures kept in av->err
 * or recorded with art_canon_fail(). Only the mapper's thread. */

/* Parses an HL7 NM ([+-]digits[.digits], blanks around allowed). Returns 0
 * and sets *out, or -1 when s is not such a number. Any thread. */
int art_canon_parse_number(const char *s, size_t len, double *out);

/* Sets double field `path` from the NM at seg/field/rep/comp (comp 0: the
 * whole repetition). Returns 1 when set, 0 when absent or not a number. */
int art_canon_set_number(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			 const char *path, size_t seg, size_t field, size_t rep, size_t comp);

/* Sets int field `path` from the non-negative integer at seg/field/rep/comp.
 * Returns 1 when set, 0 when not. */
int art_canon_set_int(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
		      const char *path, size_t seg, size_t field, size_t rep, size_t comp);

/* As art_canon_set_coding() (component 1) and, when the source gave a
 * code but no coding system, sets system to `table` (e.g. "HL70004": the
 * HL7 table the field is bound to). Returns 1 when set, 0 when not. */
int art_canon_set_coding_in(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			    const char *path, size_t seg, size_t field, size_t rep,
			    const char *table);

/* Appends every repetition of the CE/CWE at seg/field that has a code or
 * text to the Coding array `path`. Returns how many. */
size_t art_canon_add_codings(struct art_canon_job *job, struct art_avro_value *av,
			     avro_value_t *at, const char *path, size_t seg, size_t field);

/* Appends component comp (subcomponent 1) of every repetition of
 * seg/field that has a value to the string array `path`. Returns how many. */
size_t art_canon_add_strings(struct art_canon_job *job, struct art_avro_value *av,
			     avro_value_t *at, const char *path, size_t seg, size_t field,
			     size_t comp);

/* Sets Identifier field `path` from the CX at seg/field/rep (value CX.1,
 * assigning_authority CX.4.1 else CX.4.2, type CX.5). Returns 1 when set
 * (CX.1 has a value), 0 when not. */
int art_canon_set_identifier(struct art_canon_job *job, struct art_avro_value *av,
			     avro_value_t *at, const char *path, size_t seg, size_t field,
			     size_t rep);

/* Fills a Provider record from the XCN at seg/field/rep: id XCN.1,
 * family XCN.2.1, given XCN.3 + XCN.4, suffix XCN.5, prefix XCN.6, degree
 * XCN.7, assigning_authority XCN.9.1 else XCN.9.2. path NULL: `at` is the
 * record itself (e.g. an appended array element). Returns 1 when the XCN
 * had an id or a name, 0 when not (nothing set). */
int art_canon_set_provider(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			   const char *path, size_t seg, size_t field, size_t rep);

/* Appends every repetition of the XCN at seg/field with an id or a name to
 * the Provider array `path`. Returns how many. */
size_t art_canon_add_providers(struct art_canon_job *job, struct art_avro_value *av,
			       avro_value_t *at, const char *path, size_t seg, size_t field);

/* Sets Location field `path` from the PL (or LA2) at seg/field/rep:
 * point_of_care .1, room .2, bed .3, facility .4.1 else .4.2, building .7,
 * floor .8, description .9. Returns 1 when any part was set, 0 when not. */
int art_canon_set_location(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			   const char *path, size_t seg, size_t field, size_t rep);

/* Appends the OBX at seg to the Observation array `path` of `at` (the
 * record of canonical.result's Observation: set_id, value_type, code,
 * sub_id, value_text and the typed value of OBX-2, units, reference range,
 * abnormal flags, status, observed_at) and stores the element in *obs (for
 * its NTEs). Returns 0, or -1 when the append failed. */
int art_canon_add_observation(struct art_canon_job *job, struct art_avro_value *av,
			      avro_value_t *at, const char *path, size_t seg, avro_value_t *obs);

/* Appends NTE-3 of the NTE at seg (repetitions joined with newlines) to the
 * string array "notes" of `at`, when it has text. */
void art_canon_add_note(struct art_canon_job *job, struct art_avro_value *av, avro_value_t *at,
			size_t seg);

/* The index of the segment that ends the patient group of PID pid: the
 * next PID, or the segment count. */
size_t art_canon_group_end(struct art_canon_job *job, size_t pid);

/* The first segment `id` at index >= from and < end, or -1. */
long art_canon_find_before(struct art_canon_job *job, const char *id, size_t from, size_t end);

/* Domain mappers (the table in canonical.c refers to them). */
enum art_canon_status art_canon_map_patient(struct art_canon_job *job);
enum art_canon_status art_canon_map_patient_merge(struct art_canon_job *job);
enum art_canon_status art_canon_map_result(struct art_canon_job *job);
enum art_canon_status art_canon_map_encounter(struct art_canon_job *job);
enum art_canon_status art_canon_map_order(struct art_canon_job *job);
enum art_canon_status art_canon_map_appointment(struct art_canon_job *job);
enum art_canon_status art_canon_map_document(struct art_canon_job *job);
enum art_canon_status art_canon_map_immunization(struct art_canon_job *job);

#endif /* ART_CANON_INTERNAL */

#endif
