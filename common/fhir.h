/*
 * fhir.h — canonical events (their projected record, avro_tree.h)
 * to FHIR R4 resources, for artery-ehr-out's targets (docs/ehr-out.md).
 *
 * One event in, a small set of resources out, each with a deterministic
 * logical id and a business identifier, rendered as compact JSON text for
 * one of two layouts (struct art_fhir_conf.layout):
 *   - ART_FHIR_BUNDLE: entries of a transaction Bundle (art_fhir_bundle())
 *     whose requests are conditional: `PUT Patient?identifier=system|value`
 *     (conditional update) for the resources the event is about, `POST`
 *     with `ifNoneExist` (conditional create) for the patient a result or
 *     an encounter merely refers to; resources carry no id (the server
 *     owns ids under conditional semantics) and refer to each other by
 *     fullUrl (`urn:uuid:<id>`); the Bundle carries the event id as its
 *     identifier and the idempotency key as a meta tag, so resending it is
 *     harmless;
 *   - ART_FHIR_NDJSON: FHIR Bulk Data lines, one resource a line, with its
 *     id, references as `Type/id`; the stub patient of a conditional
 *     create is an entry (its id is referred to) without JSON: it is never
 *     a line.
 *
 * The event is read from its decoded tree (avro_tree.h) and the resources
 * are written as text with json_writer.h: no JSON tree is built. Members
 * come in a fixed order (resourceType, id, meta first); JSON object order
 * carries no meaning, and every value is the same as the jansson-built
 * resources of earlier versions gave (ids included: they are derived
 * from the same keys).
 *
 * Domains: patient → Patient; result → DiagnosticReport + Observation per
 * report/observation; encounter → Encounter; order → ServiceRequest, or
 * MedicationRequest for medication orders (RDE, RXO); appointment →
 * Appointment; document → DocumentReference; immunization → Immunization.
 * Every resource validates against the FHIR R4 JSON Schema
 * (tests/integration/test_fhir_validate.c): strings are never empty, codes
 * are whitespace-normalised, times follow dateTime/instant patterns.
 *
 * Identifier systems (the URI scheme, docs/ehr-out.md): an assigning
 * authority that is an OID becomes `urn:oid:<oid>`, one that is already a
 * URI (has a scheme) is kept, anything else is `<identifier_base><name>`
 * (percent-encoded); identifiers without an authority are scoped by the
 * sending facility. Resources without a business number (an encounter
 * without a visit number, a report without order numbers) are keyed by
 * `urn:ietf:rfc:3986|urn:uuid:<event_id>`-style ids derived from the event.
 *
 * Sizes and rates (bench/bench_consumer.c's events, dev VM): ~3.2 resources
 * and ~2.2 KB of NDJSON an event, transformed in 5-9 us (~33k instructions
 * plus ~3 SHA-256 for the ids) where the jansson version took ~100 us with
 * its dumps; the set keeps its buffers across events, so steady state
 * allocates nothing. Pure functions of
 * their inputs; any thread; a struct art_fhir_set belongs to its caller.
 */
#ifndef ART_FHIR_H
#define ART_FHIR_H

#include <stddef.h>

#include "avro_tree.h"
#include "buf.h"
#include "json_writer.h"

#define ART_FHIR_DEFAULT_BASE "urn:artery:id:"  /* identifier_base when none is configured */
#define ART_FHIR_MAX_ENTRIES  512               /* resources from one event, at most */
#define ART_FHIR_MAX_TEXT     ((size_t)64 << 20) /* bytes of JSON one event may produce */

/* How resources are rendered (see above). */
enum art_fhir_layout {
	ART_FHIR_BUNDLE = 0, /* Bundle entries: no id, references by fullUrl */
	ART_FHIR_NDJSON = 1, /* NDJSON lines: id, references "Type/id" */
};

/* How identifiers are spelled and resources laid out; borrowed for the
 * call. NULL means the defaults (ART_FHIR_DEFAULT_BASE, ART_FHIR_BUNDLE). */
struct art_fhir_conf {
	const char *identifier_base; /* prefix for authorities that are neither OID nor URI;
	                                NULL: ART_FHIR_DEFAULT_BASE */
	enum art_fhir_layout layout;
};

/* One resource and how a transaction would write it. The strings point
 * into the set: valid until its next transform, clear or free. */
struct art_fhir_entry {
	char type[32];             /* resourceType, e.g. "Observation" */
	char id[37];               /* deterministic logical id (UUID form) */
	char full_url[48];         /* "urn:uuid:<id>" */
	const char *url;           /* PUT: "Patient?identifier=..."; POST: "Patient"
	                              (Bundle layout; NULL in the NDJSON layout) */
	const char *if_none_exist; /* POST only: "identifier=...", else NULL */
	int stub;                  /* 1: only there to be referenced (conditional create of the
	                              subject): not written to NDJSON */
	const char *json;          /* the resource, compact JSON, json_len bytes (no NUL, no
	                              newline); empty for a stub in the NDJSON layout */
	size_t json_len;
	/* private: offsets while the set is being filled */
	size_t json_off, url_off, ine_off;
};

/* The resources of one event and the buffers they live in. Zero it
 * before first use; free with art_fhir_set_free(). */
struct art_fhir_set {
	struct art_fhir_entry *entries;
	size_t cnt;
	size_t cap;
	enum art_fhir_layout layout; /* of the last transform */
	struct art_jw text;          /* the resources' JSON, back to back */
	struct art_buf strs;         /* urls, NUL-separated */
	void *md;                    /* private: a reused SHA-256 context (EVP_MD_CTX) */
};

/* Transforms one canonical event (ev: the record as projected onto the
 * reader schema) into FHIR resources in *out (cleared first), rendered
 * for conf->layout. The domain is taken from event_type's prefix
 * ("result.final" → result). Returns 0 (out->cnt may be 0: events that
 * have no FHIR form, such as blocked appointment slots, are documented in
 * docs/ehr-out.md), or -1 with a reason free of patient data in errstr
 * (not a canonical event, an unknown domain, an order or immunization
 * without a patient, out of memory); out is then empty. Any thread. */
int art_fhir_transform(const struct art_fhir_conf *conf, const struct art_tnode *ev,
                       struct art_fhir_set *out, char *errstr, size_t errstr_size);

/* Empties set, keeping its buffers for the next transform. */
void art_fhir_set_clear(struct art_fhir_set *set);

/* Frees what set holds (set itself is the caller's); it is then as if
 * zeroed. */
void art_fhir_set_free(struct art_fhir_set *set);

/* Writes the transaction Bundle of set (transformed with the
 * ART_FHIR_BUNDLE layout) into out, which is reset first: identifier =
 * the event id, meta tag = the idempotency key (none when NULL or ""),
 * entries with fullUrl, resource and request. Returns 0, or -1 when out
 * of memory or the set has another layout. */
int art_fhir_bundle(const struct art_fhir_set *set, const char *event_id,
                    const char *idempotency_key, struct art_jw *out);

/* Returns the identifier system for an assigning authority (OID →
 * "urn:oid:...", URI kept, else base + percent-encoded name) in buf.
 * Returns buf. */
char *art_fhir_system(const char *base, const char *authority, char *buf, size_t size);

/* Renders a canonical Timestamp record as a FHIR dateTime at the
 * precision the source gave (instant = 1: always to the second, as FHIR
 * instant requires). Returns 0, or -1 when ts is not a Timestamp. */
int art_fhir_datetime(const struct art_tnode *ts, int instant, char *buf, size_t size);

#endif
