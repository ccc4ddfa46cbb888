/*
 * fhir.h — canonical events (their projected JSON, avro_codec.h mapping)
 * to FHIR R4 resources, for artery-ehr-out's targets (docs/ehr-out.md).
 *
 * One event in, a small set of resources out, each with a deterministic
 * logical id and a business identifier, ready for two layouts:
 *   - a transaction Bundle (art_fhir_bundle()) whose entries are
 *     conditional: `PUT Patient?identifier=system|value` (conditional
 *     update) for the resources the event is about, `POST` with
 *     `ifNoneExist` (conditional create) for the patient a result or an
 *     encounter merely refers to; the Bundle carries the event id as its
 *     identifier and the idempotency key as a meta tag, so resending it is
 *     harmless;
 *   - FHIR Bulk Data NDJSON lines (art_fhir_ndjson_line()), one resource a
 *     line, references rewritten to `Type/id`.
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
 * Sizes and rates: a result with five observations transforms in tens of
 * microseconds. Pure functions of their inputs; any thread; a struct
 * art_fhir_set belongs to its caller.
 */
#ifndef ART_FHIR_H
#define ART_FHIR_H

#include <jansson.h>
#include <stddef.h>

#define ART_FHIR_DEFAULT_BASE "urn:artery:id:" /* identifier_base when none is configured */
#define ART_FHIR_MAX_ENTRIES  512              /* resources from one event, at most */

/* How identifiers are spelled; borrowed for the call. */
struct art_fhir_conf {
	const char *identifier_base; /* prefix for authorities that are neither OID nor URI;
	                                NULL: ART_FHIR_DEFAULT_BASE */
};

/* One resource and how a transaction would write it. */
struct art_fhir_entry {
	json_t *resource;    /* owned; has resourceType and id; references are "urn:uuid:<id>" */
	char type[32];       /* resourceType, e.g. "Observation" */
	char id[37];         /* deterministic logical id (UUID form) */
	char full_url[48];   /* "urn:uuid:<id>" */
	char *url;           /* PUT: "Patient?identifier=..."; POST: "Patient" (owned) */
	char *if_none_exist; /* POST only: "identifier=..." (owned), else NULL */
	int stub;            /* 1: only there to be referenced (conditional create of the
	                        subject): not written to NDJSON */
};

/* The resources of one event. Zero it before first use. */
struct art_fhir_set {
	struct art_fhir_entry *entries;
	size_t cnt;
	size_t cap;
};

/* Transforms one canonical event (ev: the record's JSON as projected onto
 * the reader schema) into FHIR resources appended to *out (cleared first).
 * The domain is taken from event_type's prefix ("result.final" → result).
 * Returns 0 (out->cnt may be 0: events that have no FHIR form, such as
 * blocked appointment slots, are documented in docs/ehr-out.md), or -1
 * with a reason free of patient data in errstr (not a canonical event, an
 * unknown domain, an order or immunization without a patient). Caller
 * frees with art_fhir_set_clear(). Any thread. */
int art_fhir_transform(const struct art_fhir_conf *conf, const json_t *ev, struct art_fhir_set *out,
                       char *errstr, size_t errstr_size);

/* Frees the entries of set and empties it (set itself is the caller's). */
void art_fhir_set_clear(struct art_fhir_set *set);

/* Builds the transaction Bundle for set: identifier = the event id, meta
 * tag = the idempotency key, entries with fullUrl, resource (its id
 * removed: the server decides ids under conditional semantics) and
 * request. Takes the resources out of set (their pointers become NULL).
 * Returns a new reference, or NULL when out of memory. */
json_t *art_fhir_bundle(struct art_fhir_set *set, const char *event_id,
                        const char *idempotency_key);

/* Renders entry e of set as one NDJSON line ("...}\n"), with every
 * "urn:uuid:<id>" reference to an entry of set rewritten to "Type/id".
 * Returns a malloc'd NUL-terminated line (caller frees) with its length
 * in *lenp, or NULL when out of memory. Modifies e->resource. */
char *art_fhir_ndjson_line(struct art_fhir_set *set, size_t idx, size_t *lenp);

/* Returns the identifier system for an assigning authority (OID →
 * "urn:oid:...", URI kept, else base + percent-encoded name) in buf.
 * Returns buf. */
char *art_fhir_system(const char *base, const char *authority, char *buf, size_t size);

/* Renders a canonical Timestamp object as a FHIR dateTime at the
 * precision the source gave (instant = 1: always to the second, as FHIR
 * instant requires). Returns 0, or -1 when ts is not a Timestamp. */
int art_fhir_datetime(const json_t *ts, int instant, char *buf, size_t size);

#endif
